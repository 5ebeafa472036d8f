//! Statements the registry owns: they change or read the registry rather than data, and are free.
//!
//! - `CREATE EXTERNAL TABLE` (planned by DataFusion, persisted here), CTAS (`ctas`, billed as its query),
//!   `DROP TABLE`, `CREATE DATABASE|SCHEMA`,
//!   `DROP DATABASE|SCHEMA`;
//! - `SHOW DATABASES|SCHEMAS`, `SHOW TABLES [IN db] [LIKE 'pat']`, `DESCRIBE table`, `USE db`;
//! - `ANALYZE TABLE t COMPUTE STATISTICS` (`analyze`, billed as the scan it runs).

use super::Scope;
use super::names::{one_name, table_name};
use crate::catalog::model::{Compression, CsvOptions, FormatSpec};
use crate::cost::StatementType;
use crate::error::{Error, Result};
use crate::sql::Statement;
use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::CreateExternalTable;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    ObjectType, SchemaName, ShowStatementFilter, ShowStatementFilterPosition, Statement as Sql, Use,
};
use std::sync::Arc;

type Done =
    std::result::Result<(StatementType, SchemaRef, Vec<RecordBatch>), (StatementType, Error)>;

/// Run `stmt` if the registry owns it; `None` hands it to DataFusion.
pub(crate) async fn try_execute(
    scope: &dyn Scope,
    ctx: &SessionContext,
    stmt: &Statement,
) -> Option<Done> {
    let sql = match stmt {
        Statement::Hive(p) => {
            let kind = p.statement_type();
            return Some(match super::hive_ddl::execute(scope, ctx, p).await {
                Ok(Some(b)) => Ok((kind, b.schema(), vec![b])),
                Ok(None) => Ok((kind, Arc::new(Schema::empty()), vec![])),
                Err(e) => Err((kind, e)),
            });
        }
        _ => stmt.sql()?,
    };
    let registry = scope.registry();
    let ddl = |r: Result<()>| -> Done {
        r.map(|()| (StatementType::Ddl, Arc::new(Schema::empty()), vec![]))
            .map_err(|e| (StatementType::Ddl, e))
    };
    let utility = |r: Result<RecordBatch>| -> Done {
        r.map(|b| (StatementType::Utility, b.schema(), vec![b]))
            .map_err(|e| (StatementType::Utility, e))
    };
    Some(match sql {
        // CTAS is billed as the query it runs.
        Sql::CreateTable(ct) if ct.query.is_some() => {
            match super::ctas::create_table_as(scope, ctx, ct).await {
                Ok(Some(b)) => Ok((StatementType::Dml, b.schema(), vec![b])),
                Ok(None) => Ok((StatementType::Ddl, Arc::new(Schema::empty()), vec![])),
                Err(e) => Err((StatementType::Dml, e)),
            }
        }
        Sql::CreateDatabase {
            db_name,
            if_not_exists,
            ..
        } => ddl(one_name(db_name).and_then(|db| registry.create_database(&db, *if_not_exists))),
        Sql::CreateSchema {
            schema_name: SchemaName::Simple(name),
            if_not_exists,
            ..
        } => ddl(one_name(name).and_then(|db| registry.create_database(&db, *if_not_exists))),
        Sql::Drop {
            object_type: ObjectType::Table,
            if_exists,
            names,
            ..
        } => ddl((|| {
            for n in names {
                let (db, table) = table_name(scope, n)?;
                registry.drop_table(&db, &table, *if_exists)?;
            }
            Ok(())
        })()),
        Sql::Drop {
            object_type: ObjectType::Schema | ObjectType::Database,
            if_exists,
            names,
            cascade,
            ..
        } => ddl((|| {
            for n in names {
                let db = one_name(n)?;
                registry.drop_database(&db, *if_exists, *cascade)?;
            }
            Ok(())
        })()),
        Sql::ShowDatabases { .. } | Sql::ShowSchemas { .. } => {
            utility(registry.databases().and_then(|dbs| {
                strings_batch(
                    &["database_name"],
                    dbs.into_iter().map(|d| vec![d]).collect(),
                )
            }))
        }
        Sql::ShowTables { show_options, .. } => utility((|| {
            let db = match show_options
                .show_in
                .as_ref()
                .and_then(|s| s.parent_name.as_ref())
            {
                Some(n) => one_name(n)?,
                None => scope.database(),
            };
            if !registry.database_exists(&db) {
                return Err(Error::DatabaseNotFound(db));
            }
            let pattern = match &show_options.filter_position {
                Some(
                    ShowStatementFilterPosition::Infix(ShowStatementFilter::Like(p))
                    | ShowStatementFilterPosition::Suffix(ShowStatementFilter::Like(p))
                    | ShowStatementFilterPosition::Infix(ShowStatementFilter::NoKeyword(p))
                    | ShowStatementFilterPosition::Suffix(ShowStatementFilter::NoKeyword(p)),
                ) => Some(p.clone()),
                _ => None,
            };
            let names = registry
                .table_names(&db)?
                .into_iter()
                .filter(|t| pattern.as_deref().is_none_or(|p| like(p, t)))
                .map(|t| vec![t])
                .collect();
            strings_batch(&["tab_name"], names)
        })()),
        Sql::Use(Use::Database(n) | Use::Schema(n) | Use::Object(n)) => {
            return Some(
                one_name(n)
                    .and_then(|db| scope.set_database(&db))
                    .map(|()| (StatementType::Utility, Arc::new(Schema::empty()), vec![]))
                    .map_err(|e| (StatementType::Utility, e)),
            );
        }
        // Billed as the scan it runs.
        Sql::Analyze(a) => match super::analyze::analyze(scope, ctx, a).await {
            Ok(b) => Ok((StatementType::Dml, b.schema(), vec![b])),
            Err(e) => Err((StatementType::Dml, e)),
        },
        Sql::ExplainTable { table_name: n, .. } => {
            let Ok((db, table)) = table_name(scope, n) else {
                return None; // DESCRIBE 'path/file.parquet' and the like: DataFusion's.
            };
            if !registry.table_exists(&db, &table) {
                return None;
            }
            utility(describe(scope, &db, &table))
        }
        _ => return None,
    })
}

/// `DESCRIBE t`: columns then partition keys, with Hive types, as Athena shows them.
fn describe(scope: &dyn Scope, db: &str, table: &str) -> Result<RecordBatch> {
    let def = scope.registry().load_table(db, table)?;
    let mut rows: Vec<Vec<String>> = def
        .columns
        .iter()
        .map(|c| vec![c.name.clone(), c.ty.clone(), String::new()])
        .collect();
    rows.extend(
        def.partition_keys
            .iter()
            .map(|c| vec![c.name.clone(), c.ty.clone(), "partition key".into()]),
    );
    strings_batch(&["col_name", "data_type", "comment"], rows)
}

fn strings_batch(names: &[&str], rows: Vec<Vec<String>>) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let cols = (0..names.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as _
        })
        .collect();
    RecordBatch::try_new(schema, cols).map_err(|e| Error::internal("building the result batch", e))
}

/// SQL LIKE with `%` and `_` (also Hive's `*`), case-insensitive.
fn like(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'%' | b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => {
                s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && go(rest, &s[1..])
            }
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

/// `CREATE EXTERNAL TABLE`: DataFusion parsed and typed it; here it becomes a registry entry.
///
/// Differences from Athena, on purpose: a table with no columns gets its schema from the files (as
/// DataFusion does), and a partitioned table's existing `key=value` folders are registered at once (Athena
/// needs `MSCK REPAIR TABLE` for that).
pub(crate) async fn create_external_table(
    scope: &dyn Scope,
    ctx: &SessionContext,
    cmd: &CreateExternalTable,
) -> Done {
    let kind = StatementType::Ddl;
    create(scope, ctx, cmd)
        .await
        .map(|()| (kind, Arc::new(Schema::empty()) as SchemaRef, vec![]))
        .map_err(|e| (kind, e))
}

async fn create(scope: &dyn Scope, ctx: &SessionContext, cmd: &CreateExternalTable) -> Result<()> {
    let [location] = cmd.locations.as_slice() else {
        return Err(Error::Unsupported(
            "CREATE EXTERNAL TABLE takes exactly one LOCATION".into(),
        ));
    };
    let opt = |k: &str| {
        cmd.options
            .get(&format!("format.{k}"))
            .or_else(|| cmd.options.get(k))
            .map(|s| s.to_ascii_lowercase())
    };
    let compression = match opt("compression").as_deref() {
        None | Some("" | "uncompressed" | "none") => Compression::of_name(location),
        Some("gzip") => Compression::Gzip,
        Some("bzip2") => Compression::Bzip2,
        Some("xz") => Compression::Xz,
        Some("zstd") => Compression::Zstd,
        Some(other) => {
            return Err(Error::Unsupported(format!(
                "compression `{other}` is not supported"
            )));
        }
    };
    let file_type = cmd.file_type.to_ascii_uppercase();
    let format = match file_type.as_str() {
        "PARQUET" => FormatSpec::parquet(),
        "JSON" | "NDJSON" => FormatSpec::json(compression),
        "CSV" | "TEXTFILE" | "TSV" => {
            let default_delim = if file_type == "TSV" { "\t" } else { "," };
            FormatSpec::csv(
                compression,
                CsvOptions {
                    delimiter: cmd
                        .options
                        .get("format.delimiter")
                        .cloned()
                        .unwrap_or_else(|| default_delim.into()),
                    has_header: opt("has_header").is_none_or(|v| v == "true"),
                    quote: cmd
                        .options
                        .get("format.quote")
                        .cloned()
                        .unwrap_or_else(|| "\"".into()),
                    escape: cmd.options.get("format.escape").cloned(),
                    newlines_in_values: opt("newlines_in_values").is_some_and(|v| v == "true"),
                    null_format: cmd.options.get("format.null_value").cloned(),
                },
            )
        }
        other => {
            return Err(Error::Unsupported(format!(
                "STORED AS {other} is not supported yet (owl reads PARQUET, CSV/TEXTFILE/TSV and JSON)"
            )));
        }
    };
    super::create::create_table(
        scope,
        ctx,
        super::create::NewTable {
            database: cmd.name.schema().map(str::to_string),
            name: cmd.name.table().to_string(),
            if_not_exists: cmd.if_not_exists,
            or_replace: cmd.or_replace,
            location: location.clone(),
            format,
            fields: cmd
                .schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect(),
            partition_cols: cmd.table_partition_cols.clone(),
            properties: Default::default(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("web%", "weblogs_csv"));
        assert!(like("%csv", "weblogs_csv"));
        assert!(like("w_blogs*", "weblogs_csv"));
        assert!(!like("web", "weblogs"));
    }
}
