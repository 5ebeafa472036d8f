//! A new table registered: the one path of DataFusion's `CREATE EXTERNAL TABLE` (`commands`) and Athena's Hive
//! DDL (`hive_ddl`). Its location is checked against the server's roots before anything there is listed.

use super::Scope;
use super::discover::{dir_url, discover};
use crate::catalog::location::{for_registry, is_hidden, list_under, segments_below};
use crate::catalog::model::{Column, FormatSpec, TableDef};
use crate::catalog::provider::RegistryTable;
use crate::catalog::store::validate_name;
use crate::catalog::types::{column_of, infer_partition_type, to_hive};
use crate::error::{Error, Result};
use arrow::datatypes::Field;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;

/// A new table as a statement declares it: DataFusion's `CREATE EXTERNAL TABLE`, or Athena's Hive DDL
/// (`hive_ddl`).
pub(crate) struct NewTable {
    /// None: the session's database.
    pub(crate) database: Option<String>,
    pub(crate) name: String,
    pub(crate) if_not_exists: bool,
    pub(crate) or_replace: bool,
    /// As the user wrote it: a URL, or a local path from the working folder.
    pub(crate) location: String,
    pub(crate) format: FormatSpec,
    /// The declared columns, partition keys among them (typed where the statement typed them).
    pub(crate) fields: Vec<Field>,
    pub(crate) partition_cols: Vec<String>,
    /// `TBLPROPERTIES`.
    pub(crate) properties: std::collections::BTreeMap<String, String>,
}

/// Register a new table: its location listed once (size, `key=value` partitions) unless it is projected
/// (`projection.enabled`: its partitions come from its properties, and nothing is listed), its data columns
/// read from the files when none were declared.
pub(crate) async fn create_table(
    scope: &dyn Scope,
    ctx: &SessionContext,
    new: NewTable,
) -> Result<()> {
    let registry = scope.registry();
    let db = new.database.clone().unwrap_or_else(|| scope.database());
    let name = new.name.clone();
    validate_name("database", &db)?;
    validate_name("table", &name)?;
    if !registry.database_exists(&db) {
        return Err(Error::DatabaseNotFound(db));
    }
    if registry.table_exists(&db, &name) && !new.or_replace {
        return if new.if_not_exists {
            Ok(())
        } else {
            Err(Error::TableExists {
                database: db,
                table: name,
            })
        };
    }
    let stored = for_registry(&new.location, registry.root())?;
    let location = if stored.ends_with('/') {
        stored
    } else {
        format!("{stored}/")
    };
    // Under the server's roots before anything there is listed or read.
    registry.check_location(&location)?;
    let mut def = TableDef::new(&name, &db, location, new.format);
    def.properties = new.properties;
    let projected = crate::catalog::projection::enabled(&def);
    let keys_declared = &new.partition_cols;
    // Columns: as declared, or inferred from the files when no data column was.
    let mut fields = new.fields;
    let declared_data = fields.iter().any(|f| !keys_declared.contains(f.name()));
    if !declared_data {
        if projected {
            return Err(Error::Query(format!(
                "table `{db}.{name}` is projected (`projection.enabled`): declare its columns (owl lists no files to read them from)"
            )));
        }
        // No data columns declared (none at all, or only Athena-style typed partition keys): read them from
        // the files, keeping the declared key types.
        let keys = std::mem::take(&mut fields);
        let probe = RegistryTable::try_new(def.clone(), registry.root().to_path_buf())?;
        let format = probe.file_format(&ctx.state()).map_err(Error::from)?;
        // From the files a query reads: hidden names (`_SUCCESS`, `.x.crc`) and empty objects skipped.
        let url = dir_url(&def, registry.root())?;
        let store = ctx
            .runtime_env()
            .object_store(
                ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.authority()))
                    .map_err(Error::from)?,
            )
            .map_err(Error::from)?;
        let (prefix, listed) = list_under(store.as_ref(), &url, &def.location).await?;
        let depth = prefix.parts().count();
        let files: Vec<_> = listed
            .into_iter()
            .filter(|m| m.size > 0 && !is_hidden(&segments_below(&m.location, depth)))
            .collect();
        if files.is_empty() {
            return Err(Error::Query(format!(
                "table `{db}.{name}` declares no columns and `{}` holds no files to read them from",
                new.location
            )));
        }
        let schema = format
            .infer_schema(&ctx.state(), &store, &files)
            .await
            .map_err(Error::from)?;
        fields = schema
            .fields()
            .iter()
            .filter(|f| !keys_declared.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(keys);
    }
    // Partition keys: typed as declared among the columns, or from their values once they are listed.
    let mut untyped = Vec::new();
    for key in keys_declared {
        let ty = match fields.iter().position(|f| f.name() == key) {
            Some(i) => to_hive(fields.remove(i).data_type())?,
            None => {
                untyped.push(def.partition_keys.len());
                "string".into()
            }
        };
        def.partition_keys.push(Column::new(key, ty));
    }
    def.columns = fields.iter().map(column_of).collect::<Result<_>>()?;
    if projected {
        if !untyped.is_empty() {
            return Err(Error::Query(format!(
                "table `{db}.{name}` is projected (`projection.enabled`): give its partition keys types"
            )));
        }
        def.properties.extend(def.format.glue_properties());
        crate::catalog::projection::Projection::of(&def)?;
    } else {
        discover(ctx, registry.root(), &mut def).await?;
    }
    for i in untyped {
        let ty = infer_partition_type(def.partitions.iter().map(|p| p.values[i].as_str()));
        def.partition_keys[i].ty = ty.into();
    }
    // Partition values must parse as their keys' types: fail now, not at query time.
    RegistryTable::try_new(def.clone(), registry.root().to_path_buf())?;
    if new.or_replace {
        registry.put_table(def)?;
    } else {
        registry.create_table(def, new.if_not_exists)?;
    }
    Ok(())
}
