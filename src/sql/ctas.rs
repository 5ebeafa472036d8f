//! Athena's CTAS: `CREATE TABLE t WITH (format = 'PARQUET', external_location = '...', partitioned_by =
//! ARRAY['col'], write_compression = 'ZSTD', field_delimiter = ',') AS SELECT ...` writes the query's result as
//! files and registers them as a table.
//!
//! Rules, in order:
//! 1. The table must not exist (`IF NOT EXISTS` makes that a no-op), and the location must hold no file: Athena
//!    writes only to an empty location, so a CTAS never mixes its files with others.
//! 2. Formats: PARQUET (default), JSON (NDJSON), TEXTFILE (CSV with a header line; Athena writes none and uses
//!    `\001` by default: **owl** writes `,` and a header, so the files read back anywhere), ORC and AVRO
//!    (see `formats::write` for the types ORC takes).
//! 3. Compression: Athena's default, GZIP, for every format; SNAPPY/ZSTD/GZIP/LZ4/NONE for Parquet,
//!    GZIP/ZSTD/BZIP2/XZ/NONE for text, ZLIB/SNAPPY/ZSTD/LZ4/NONE for ORC (GZIP = ZLIB, Athena's ORC default),
//!    DEFLATE/SNAPPY/ZSTD/NONE for Avro (GZIP = DEFLATE).
//! 4. Location: `external_location`, else `warehouse/<db>/<table>/` beside the registry folder (Athena uses the
//!    workgroup's result location).
//! 5. `partitioned_by` columns become `key=value/` folders and the table's partition keys. Athena requires them
//!    last in the SELECT; **owl** moves them there. Athena caps a statement at 100 partitions; owl does not.
//! 6. Billed as the query it runs (bytes its SELECT scanned). A write that fails removes what it wrote (the
//!    location was empty) and registers nothing.
//! 7. Files are written under `<location>/_temporary/<run>/` (hidden from every reader and the crawler, as in
//!    Hadoop's committers), then moved into place and the table registered, under the registry's lock with a
//!    journal ([`Staging`]). A CTAS killed at any moment leaves the registry and the location as before it or
//!    after it: never a table with part of its files, never visible files without their table once the next
//!    CTAS there has looked. Hidden leftovers do not make the location "not empty" for the next try.
//! 8. Column names are Athena's: a column of the SELECT keeps its name, an alias is the name, and any other
//!    expression is `_col<N>` by its position from 0 (`SELECT id, count(*)` makes `id` and `_col1`), never
//!    DataFusion's text of the expression.

use super::Scope;
use super::discover::discover;
use super::names::table_name;
use crate::catalog::location::{for_registry, is_hidden, prefix_of, resolve_dir, segments_below};
use crate::catalog::model::{Column, Compression, CsvOptions, FormatSpec, TableDef};
use crate::catalog::store::{Registry, validate_name};
use crate::catalog::types::column_of;
use crate::error::{Error, Result};
use crate::formats::write::{Encoding, file_schema, write_files};
use arrow::array::{Array, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::config::{JsonOptions, TableParquetOptions};
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    CreateTable, CreateTableOptions, Expr, SqlOption, Statement as Sql, Value, ValueWithSpan,
};
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Parquet,
    Orc,
    Avro,
    Json,
    Text,
}

/// What a CTAS's `WITH (...)` asks for.
#[derive(Debug)]
struct Options {
    format: Written,
    location: Option<String>,
    partitioned_by: Vec<String>,
    compression: String,
    delimiter: String,
}

fn string_of(key: &str, e: &Expr) -> Result<String> {
    match e {
        Expr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s),
            ..
        }) => Ok(s.clone()),
        _ => Err(Error::Query(format!(
            "CTAS option `{key}` takes a string ('...'), not `{e}`"
        ))),
    }
}

fn options(ct: &CreateTable) -> Result<Options> {
    let list: &[SqlOption] = match &ct.table_options {
        CreateTableOptions::None => &[],
        CreateTableOptions::With(v) => v,
        other => {
            return Err(Error::Unsupported(format!(
                "CTAS options as `{other}`: write them as WITH (format = 'PARQUET', ...)"
            )));
        }
    };
    let mut o = Options {
        format: Written::Parquet,
        location: None,
        partitioned_by: vec![],
        compression: "GZIP".into(),
        delimiter: ",".into(),
    };
    for opt in list {
        let SqlOption::KeyValue { key, value } = opt else {
            return Err(Error::Unsupported(format!("CTAS option `{opt}`")));
        };
        let k = key.value.to_ascii_lowercase();
        match k.as_str() {
            "format" => {
                o.format = match string_of(&k, value)?.to_ascii_uppercase().as_str() {
                    "PARQUET" => Written::Parquet,
                    "JSON" => Written::Json,
                    "TEXTFILE" | "CSV" => Written::Text,
                    "ORC" => Written::Orc,
                    "AVRO" => Written::Avro,
                    f => {
                        return Err(Error::Query(format!(
                            "unknown CTAS format '{f}': use PARQUET, ORC, AVRO, JSON or TEXTFILE"
                        )));
                    }
                }
            }
            "external_location" => o.location = Some(string_of(&k, value)?),
            "partitioned_by" => {
                let Expr::Array(a) = value else {
                    return Err(Error::Query(
                        "CTAS option `partitioned_by` takes ARRAY['col', ...]".into(),
                    ));
                };
                o.partitioned_by = a
                    .elem
                    .iter()
                    .map(|e| string_of(&k, e))
                    .collect::<Result<_>>()?;
            }
            "write_compression" | "parquet_compression" => {
                o.compression = string_of(&k, value)?.to_ascii_uppercase();
            }
            "field_delimiter" => o.delimiter = string_of(&k, value)?,
            other => {
                return Err(Error::Unsupported(format!(
                    "CTAS option `{other}` (owl takes format, external_location, partitioned_by, \
                     write_compression, field_delimiter)"
                )));
            }
        }
    }
    Ok(o)
}

/// Run a CTAS: returns the rows written (one row, `rows_written`).
pub(crate) async fn create_table_as(
    scope: &dyn Scope,
    ctx: &SessionContext,
    ct: &CreateTable,
) -> Result<Option<RecordBatch>> {
    let Some(query) = &ct.query else {
        return Err(Error::Unsupported(
            "CREATE TABLE without AS SELECT: use CREATE EXTERNAL TABLE over files, or CTAS".into(),
        ));
    };
    if ct.or_replace {
        return Err(Error::Unsupported(
            "CREATE OR REPLACE TABLE ... AS: drop the table (and its files) first, as in Athena"
                .into(),
        ));
    }
    let o = options(ct)?;
    let Some(target) = Target::of(scope, ct, &o)? else {
        return Ok(None); // IF NOT EXISTS, and it exists.
    };
    let registry = scope.registry();
    let (store, prefix) = target.empty_location(ctx, registry).await?;
    let query = Query::plan(ctx, query, &o).await?;
    let mut staging = Staging::new(&target.url, &prefix)?;
    let written = write(
        query.df,
        &query.fields,
        &o,
        &staging.url,
        &store,
        &staging.prefix,
    )
    .await;
    let (format, rows) = match written {
        Ok(written) => written,
        Err(e) => {
            staging.discard(&store).await;
            return Err(e);
        }
    };

    // Step 4: under the registry's lock, move the files into place and register the table.
    let mut def = TableDef::new(&target.name, &target.db, target.stored.clone(), format);
    def.columns = query.columns;
    def.partition_keys = query.partition_keys;
    def.stats.record_count = Some(rows);
    def.properties
        .insert("write_compression".into(), o.compression.clone());
    let lock = registry.lock_async().await?;
    let committed = async {
        if registry.table_exists(&target.db, &target.name) {
            return Err(Error::TableExists {
                database: target.db.clone(),
                table: target.name.clone(),
            });
        }
        target.check_empty(&store, &prefix).await?;
        staging
            .commit(&store, &prefix, &target, &o.partitioned_by)
            .await?;
        discover(ctx, registry.root(), &mut def).await?;
        def.stats.record_count = Some(rows);
        registry.create_table_locked(&lock, def, false)?;
        Ok(())
    }
    .await;
    match committed {
        Ok(()) => staging.finish(&store).await,
        Err(e) => {
            staging.discard(&store).await;
            return Err(e);
        }
    }
    drop(lock);
    let schema = Arc::new(Schema::new(vec![Field::new(
        "rows_written",
        DataType::UInt64,
        false,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![rows]))])
        .map_err(|e| Error::internal("building the result batch", e))?;
    Ok(Some(batch))
}

/// Where a CTAS writes, and the table it registers.
struct Target {
    db: String,
    name: String,
    /// The location as the registry stores it, ending in `/`.
    stored: String,
    /// As the user gave it (or the warehouse default), for messages.
    shown: String,
    url: url::Url,
}

impl Target {
    /// The table to create (None: it exists and the statement said IF NOT EXISTS) and its location.
    fn of(scope: &dyn Scope, ct: &CreateTable, o: &Options) -> Result<Option<Target>> {
        let registry = scope.registry();
        let (db, name) = table_name(scope, &ct.name)?;
        validate_name("database", &db)?;
        validate_name("table", &name)?;
        if !registry.database_exists(&db) {
            return Err(Error::DatabaseNotFound(db));
        }
        if registry.table_exists(&db, &name) {
            return if ct.if_not_exists {
                Ok(None)
            } else {
                Err(Error::TableExists {
                    database: db,
                    table: name,
                })
            };
        }
        let shown = o.location.clone().unwrap_or_else(|| {
            let base = registry
                .root()
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map(|p| p.join("warehouse"))
                .unwrap_or_else(|| "warehouse".into());
            format!("{}/", base.join(&db).join(&name).display())
        });
        let stored = for_registry(&shown, registry.root())?;
        let stored = if stored.ends_with('/') {
            stored
        } else {
            format!("{stored}/")
        };
        let url = resolve_dir(&stored, registry.root())?;
        crate::catalog::location::check_allowed(&url, registry.allowed_roots())?;
        Ok(Some(Target {
            db,
            name,
            stored,
            shown,
            url,
        }))
    }

    /// Step 1: the location's store and prefix, if it holds no file. First, under the registry's lock, what
    /// a CTAS killed while committing left here is settled ([`Staging::recover`]).
    async fn empty_location(
        &self,
        ctx: &SessionContext,
        registry: &Registry,
    ) -> Result<(Arc<dyn ObjectStore>, object_store::path::Path)> {
        let url = &self.url;
        let store_url = datafusion::execution::object_store::ObjectStoreUrl::parse(format!(
            "{}://{}",
            url.scheme(),
            url.authority()
        ))
        .map_err(Error::from)?;
        let store = ctx
            .runtime_env()
            .object_store(store_url)
            .map_err(Error::from)?;
        let prefix = {
            let _lock = registry.lock_async().await?;
            let prefix = prefix_of(url, &self.shown)?;
            Staging::recover(&store, &prefix, registry).await?;
            self.check_empty(&store, &prefix).await?;
            prefix
        };
        Ok((store, prefix))
    }

    /// Fails when the location holds a file that is not hidden. Hidden files (`_SUCCESS`, another statement's
    /// `_temporary/`) are never read as the table's.
    async fn check_empty(
        &self,
        store: &Arc<dyn ObjectStore>,
        prefix: &object_store::path::Path,
    ) -> Result<()> {
        let existing: Vec<object_store::ObjectMeta> = store
            .list(Some(prefix))
            .try_collect()
            .await
            .map_err(|e| Error::from_store(e, &format!("listing `{}`", self.shown)))?;
        let depth = prefix.parts().count();
        let existing = existing
            .iter()
            .filter(|m| !is_hidden(&segments_below(&m.location, depth)))
            .count();
        if existing > 0 {
            return Err(Error::Query(format!(
                "CTAS location `{}` is not empty ({existing} files): a CTAS writes only to an empty \
                 location; choose another external_location or remove the files",
                self.shown,
            )));
        }
        Ok(())
    }
}

/// Step 3's folder, `<location>/_temporary/<run>/`, named for this statement alone; and step 4's journal,
/// `<location>/_temporary/<run>.commit`.
///
/// The files are written into the folder, hidden from every reader. Committing happens under the registry's
/// lock: the journal (the table and the files' final names) is written, the files are moved into place, the
/// table is registered, the journal is deleted. A process killed while committing dies holding the lock, and
/// the lock is released with it; so the next CTAS at that location, taking the lock, knows any journal it
/// finds is a dead statement's, and settles it ([`Staging::recover`]): the table was registered (keep the
/// files) or it was not (delete them). The registry and the location end as before the statement or after it.
struct Staging {
    url: url::Url,
    prefix: object_store::path::Path,
    journal: object_store::path::Path,
    /// Files moved into place so far.
    moved: Vec<object_store::path::Path>,
}

/// A written file's final path: `parts` (below the staging folder) under `dest`, each of the first
/// `keys.len()` (its partition folders, `key=value`) named as Hive, Spark and Athena name them. DataFusion's
/// writers name them as object_store escapes a path part (`s=%C3%BC`, `s=x=y`), owl's own writers as Hive
/// (`s=ü`, `s=x%3Dy`); both read back to the value ([`crate::formats::hive_unescape`]), so one name for both.
fn hive_named(
    dest: &object_store::path::Path,
    parts: &[String],
    keys: &[String],
) -> Result<object_store::path::Path> {
    let mut named: Vec<String> = dest.parts().map(|p| p.as_ref().to_string()).collect();
    for (i, part) in parts.iter().enumerate() {
        let hive = keys.get(i).and_then(|key| {
            // `key=value` unescaped whole: the key may hold what either escapes, `=` included.
            let text = crate::formats::hive_unescape(part);
            let value = text.strip_prefix(key.as_str())?.strip_prefix('=')?;
            let value = (value != crate::formats::HIVE_NULL_PARTITION).then_some(value);
            Some(crate::formats::hive_folder(key, value))
        });
        named.push(hive.unwrap_or_else(|| part.clone()));
    }
    object_store::path::Path::parse(named.join("/"))
        .map_err(|e| Error::internal("naming a written file", e))
}

/// What a journal holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct Journal {
    database: String,
    table: String,
    /// The location as the registry stores it.
    location: String,
    /// The files' final paths in the store.
    files: Vec<String>,
}

impl Staging {
    fn new(location: &url::Url, prefix: &object_store::path::Path) -> Result<Staging> {
        let run = uuid::Uuid::new_v4().simple().to_string();
        let url = location
            .join(&format!("_temporary/{run}/"))
            .map_err(|e| Error::internal("naming the CTAS staging folder", e))?;
        let temporary = prefix.clone().join("_temporary");
        Ok(Staging {
            url,
            prefix: temporary.clone().join(run.as_str()),
            journal: temporary.join(format!("{run}.commit").as_str()),
            moved: vec![],
        })
    }

    /// Move every staged file to the same place under `dest` (its partition folders, the first `keys.len()`,
    /// named as Hive names them), journal first. Call holding the lock.
    async fn commit(
        &mut self,
        store: &Arc<dyn ObjectStore>,
        dest: &object_store::path::Path,
        target: &Target,
        keys: &[String],
    ) -> Result<()> {
        let staged: Vec<object_store::ObjectMeta> = store
            .list(Some(&self.prefix))
            .try_collect()
            .await
            .map_err(|e| Error::from_store(e, "listing the CTAS's written files"))?;
        let mut moves = vec![];
        let mut destinations = std::collections::HashSet::new();
        for m in staged {
            let Some(rest) = m.location.prefix_match(&self.prefix) else {
                continue;
            };
            let parts: Vec<String> = rest.map(|p| p.as_ref().to_string()).collect();
            let to = hive_named(dest, &parts, keys)?;
            if !destinations.insert(to.clone()) {
                return Err(Error::Internal(format!(
                    "two written files would both be `{to}`"
                )));
            }
            moves.push((m.location, to));
        }
        let journal = Journal {
            database: target.db.clone(),
            table: target.name.clone(),
            location: target.stored.clone(),
            files: moves.iter().map(|(_, to)| to.to_string()).collect(),
        };
        let bytes = serde_json::to_vec(&journal)
            .map_err(|e| Error::internal("writing the CTAS journal", e))?;
        store
            .put(&self.journal, bytes.into())
            .await
            .map_err(|e| Error::from_store(e, "writing the CTAS journal"))?;
        for (from, to) in moves {
            store
                .rename(&from, &to)
                .await
                .map_err(|e| Error::from_store(e, &format!("moving `{from}` into place")))?;
            self.moved.push(to);
        }
        Ok(())
    }

    /// The table is registered: the journal and the staging folder go.
    async fn finish(&self, store: &Arc<dyn ObjectStore>) {
        let _ = store.delete(&self.journal).await;
        self.remove_local_folders();
    }

    /// Remove what this statement wrote: its staged files, the files it moved, its journal. Best effort: what
    /// a failure here leaves is hidden (no query reads it) or named by the journal (the next CTAS here removes
    /// it).
    async fn discard(&self, store: &Arc<dyn ObjectStore>) {
        if let Ok(left) = store
            .list(Some(&self.prefix))
            .try_collect::<Vec<object_store::ObjectMeta>>()
            .await
        {
            for m in left {
                let _ = store.delete(&m.location).await;
            }
        }
        for p in &self.moved {
            let _ = store.delete(p).await;
        }
        let _ = store.delete(&self.journal).await;
        self.remove_local_folders();
    }

    /// A local store keeps empty folders after its files have moved: remove the staging folder, and
    /// `_temporary/` when no other statement is using it.
    fn remove_local_folders(&self) {
        if let Ok(dir) = self.url.to_file_path() {
            let _ = std::fs::remove_dir_all(&dir);
            if let Some(parent) = dir.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }

    /// Settle the journals that CTAS statements killed while committing left under `prefix` (the location).
    /// Call holding the registry's lock: a live statement commits under it, so every journal seen is a dead
    /// one's. Its table registered at this location: the files are the table's, the journal goes. Not
    /// registered: its files, its staged files and the journal go.
    async fn recover(
        store: &Arc<dyn ObjectStore>,
        prefix: &object_store::path::Path,
        registry: &Registry,
    ) -> Result<()> {
        let temporary = prefix.clone().join("_temporary");
        let listed: Vec<object_store::ObjectMeta> = store
            .list(Some(&temporary))
            .try_collect()
            .await
            .map_err(|e| Error::from_store(e, "listing an earlier CTAS's journals"))?;
        let depth = temporary.parts().count();
        for m in listed {
            let below = segments_below(&m.location, depth);
            let [name] = below.as_slice() else { continue };
            let Some(run) = name.strip_suffix(".commit") else {
                continue;
            };
            let bytes = store
                .get(&m.location)
                .await
                .map_err(|e| Error::from_store(e, &format!("reading `{}`", m.location)))?
                .bytes()
                .await
                .map_err(|e| Error::from_store(e, &format!("reading `{}`", m.location)))?;
            // A journal that does not parse was torn before any file moved (it is written before the moves).
            if let Ok(journal) = serde_json::from_slice::<Journal>(&bytes) {
                // Only a table that is surely not there lets the files go: a registry file that does not
                // read stops the statement instead.
                let registered = match registry.load_table(&journal.database, &journal.table) {
                    Ok(t) => t.location == journal.location,
                    Err(Error::TableNotFound { .. } | Error::DatabaseNotFound(_)) => false,
                    Err(e) => return Err(e),
                };
                if !registered {
                    // The paths as the store names them (`s=a%2Fb/...`): parsed, not escaped again.
                    for f in &journal.files {
                        if let Ok(path) = object_store::path::Path::parse(f) {
                            let _ = store.delete(&path).await;
                        }
                    }
                }
            }
            let staged = temporary.clone().join(run);
            if let Ok(left) = store
                .list(Some(&staged))
                .try_collect::<Vec<object_store::ObjectMeta>>()
                .await
            {
                for s in left {
                    let _ = store.delete(&s.location).await;
                }
            }
            let _ = store.delete(&m.location).await;
        }
        Ok(())
    }
}

/// Step 2: the query, planned, its partition columns last.
struct Query {
    df: DataFrame,
    fields: Vec<Field>,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
}

impl Query {
    async fn plan(
        ctx: &SessionContext,
        query: &datafusion::sql::sqlparser::ast::Query,
        o: &Options,
    ) -> Result<Query> {
        let mut select = Statement::Statement(Box::new(Sql::Query(Box::new(query.clone()))));
        crate::sql::table_functions::resolve(ctx, &mut select).await?;
        let state = ctx.state();
        let plan = state.statement_to_plan(select).await.map_err(Error::from)?;
        let mut df = ctx.execute_logical_plan(plan).await.map_err(Error::from)?;
        df = athena_names(df, query)?;
        let names: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        for key in &o.partitioned_by {
            if !names.contains(key) {
                return Err(Error::ColumnNotFound {
                    column: key.clone(),
                    suggestion: None,
                });
            }
        }
        if !o.partitioned_by.is_empty() {
            let ordered: Vec<&str> = names
                .iter()
                .filter(|n| !o.partitioned_by.contains(n))
                .chain(o.partitioned_by.iter())
                .map(String::as_str)
                .collect();
            df = df.select_columns(&ordered).map_err(Error::from)?;
        }
        let fields: Vec<Field> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let columns = fields
            .iter()
            .filter(|f| !o.partitioned_by.contains(f.name()))
            .map(column_of)
            .collect::<Result<Vec<_>>>()?;
        let partition_keys = o
            .partitioned_by
            .iter()
            .map(|k| {
                fields
                    .iter()
                    .find(|f| f.name() == k)
                    .map(column_of)
                    .unwrap_or_else(|| Err(Error::Internal(format!("partition column `{k}` lost"))))
            })
            .collect::<Result<Vec<_>>>()?;
        if columns.is_empty() {
            return Err(Error::Query(
                "a CTAS needs at least one column that is not a partition column".into(),
            ));
        }
        Ok(Query {
            df,
            fields,
            columns,
            partition_keys,
        })
    }
}

/// `df` with Athena's names for its columns: those the query's (first) SELECT lists as expressions without an
/// alias are `_col<N>`, N their position from 0. A `*` before such an expression is counted as the columns it
/// gave; after two of them the positions are not known from the text, and the names stay.
fn athena_names(
    df: DataFrame,
    query: &datafusion::sql::sqlparser::ast::Query,
) -> Result<DataFrame> {
    use datafusion::sql::sqlparser::ast::{SelectItem, SetExpr};
    let mut body = query.body.as_ref();
    let select = loop {
        match body {
            SetExpr::Select(select) => break select,
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(q) => body = q.body.as_ref(),
            _ => return Ok(df),
        }
    };
    let width = df.schema().fields().len();
    let items = &select.projection;
    let stars = items
        .iter()
        .filter(|i| {
            matches!(
                i,
                SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
            )
        })
        .count();
    let mut renamed: Vec<Option<String>> = vec![None; width];
    let mut star_seen = false;
    for (i, item) in items.iter().enumerate() {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => star_seen = true,
            SelectItem::UnnamedExpr(Expr::Identifier(_) | Expr::CompoundIdentifier(_))
            | SelectItem::ExprWithAlias { .. }
            | SelectItem::ExprWithAliases { .. } => {}
            SelectItem::UnnamedExpr(_) => {
                // Before any `*`, its place in the list; after the only one, counted from the end.
                let position = match (star_seen, stars) {
                    (false, _) => Some(i),
                    (true, 1) => (width + i).checked_sub(items.len()),
                    (true, _) => None,
                };
                if let Some(p) = position.filter(|p| *p < width) {
                    renamed[p] = Some(format!("_col{p}"));
                }
            }
        }
    }
    if renamed.iter().all(Option::is_none) {
        return Ok(df);
    }
    let exprs: Vec<datafusion::logical_expr::Expr> = df
        .schema()
        .columns()
        .into_iter()
        .zip(renamed)
        .map(|(c, name)| {
            let e = datafusion::logical_expr::Expr::Column(c);
            match name {
                Some(n) => e.alias(n),
                None => e,
            }
        })
        .collect();
    df.select(exprs).map_err(Error::from)
}

/// `df` with its `partition_by` columns as the text of their folders' values (`__HIVE_DEFAULT_PARTITION__` for
/// NULL and the empty string), for DataFusion's writers, which read a NULL as the type's zero: a CTAS partitioned by a date column
/// holding NULLs wrote them as `1970-01-01` (found by the differential tester's partitioned copies). The
/// table's partition keys keep their types (taken before this); the registry reads the marker back as NULL.
fn partition_values_as_text(df: DataFrame, partition_by: &[String]) -> Result<DataFrame> {
    use datafusion::common::Column as DfColumn;
    use datafusion::logical_expr::{Expr, cast, lit, when};
    if partition_by.is_empty() {
        return Ok(df);
    }
    let exprs = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let column = Expr::Column(DfColumn::from_name(f.name()));
            if !partition_by.contains(f.name()) {
                return Ok(column);
            }
            // An empty string is NULL's folder too, as Hive writes it (one folder for both).
            let text = cast(column, DataType::Utf8);
            Ok(when(
                text.clone().is_null().or(text.clone().eq(lit(""))),
                lit(crate::formats::HIVE_NULL_PARTITION),
            )
            .otherwise(text)?
            .alias(f.name()))
        })
        .collect::<datafusion::error::Result<Vec<Expr>>>()
        .map_err(Error::from)?;
    df.select(exprs).map_err(Error::from)
}

/// Step 3: write the query's rows in the asked format; the format as the registry records it, and the rows
/// written. A failed write may leave files behind: the caller removes them.
async fn write(
    df: DataFrame,
    fields: &[Field],
    o: &Options,
    url: &url::Url,
    store: &Arc<dyn ObjectStore>,
    prefix: &object_store::path::Path,
) -> Result<(FormatSpec, u64)> {
    let write = DataFrameWriteOptions::new().with_partition_by(o.partitioned_by.clone());
    let path = url.as_str().to_string();
    // DataFusion's writers name a partition by its value with NULL read as the type's zero (`day=1970-01-01`):
    // they get the values as text, NULL as Hive's marker. owl's own (ORC, Avro) take the values as they are.
    let df = match o.format {
        Written::Orc | Written::Avro => df,
        _ => partition_values_as_text(df, &o.partitioned_by)?,
    };
    let bad_compression = |allowed: &str| {
        Error::Query(format!(
            "write_compression '{}' is not available for this format: use {allowed}",
            o.compression
        ))
    };
    let (format, written) = match o.format {
        Written::Parquet => {
            let codec = match o.compression.as_str() {
                "SNAPPY" => "snappy",
                "GZIP" => "gzip(6)",
                "ZSTD" => "zstd(3)",
                "LZ4" => "lz4_raw",
                "NONE" | "UNCOMPRESSED" => "uncompressed",
                _ => return Err(bad_compression("SNAPPY, GZIP, ZSTD, LZ4 or NONE")),
            };
            let mut opts = TableParquetOptions::default();
            opts.global.compression = Some(codec.into());
            (
                FormatSpec::parquet(),
                df.write_parquet(&path, write, Some(opts))
                    .await
                    .map(|b| rows_in(&b))
                    .map_err(Error::from),
            )
        }
        Written::Orc | Written::Avro => {
            let (enc, spec) = if o.format == Written::Orc {
                let enc = Encoding::orc(&o.compression)
                    .ok_or_else(|| bad_compression("ZLIB (or GZIP), SNAPPY, ZSTD, LZ4 or NONE"))?;
                (enc, FormatSpec::orc())
            } else {
                let enc = Encoding::avro(&o.compression)
                    .ok_or_else(|| bad_compression("DEFLATE (or GZIP), SNAPPY, ZSTD or NONE"))?;
                (enc, FormatSpec::avro())
            };
            // Refuse a type the format cannot hold before anything is written.
            let n_data = fields.len() - o.partitioned_by.len();
            file_schema(&Schema::new(fields[..n_data].to_vec()), enc)?;
            let written = match df.execute_stream().await {
                Ok(stream) => {
                    write_files(stream, Arc::clone(store), prefix, &o.partitioned_by, enc).await
                }
                Err(e) => Err(Error::from(e)),
            };
            (spec, written)
        }
        Written::Json | Written::Text => {
            let (variant, compression) = match o.compression.as_str() {
                "GZIP" => (CompressionTypeVariant::GZIP, Compression::Gzip),
                "ZSTD" => (CompressionTypeVariant::ZSTD, Compression::Zstd),
                "BZIP2" => (CompressionTypeVariant::BZIP2, Compression::Bzip2),
                "XZ" => (CompressionTypeVariant::XZ, Compression::Xz),
                "NONE" | "UNCOMPRESSED" => {
                    (CompressionTypeVariant::UNCOMPRESSED, Compression::None)
                }
                _ => return Err(bad_compression("GZIP, ZSTD, BZIP2, XZ or NONE")),
            };
            if o.format == Written::Json {
                let opts = JsonOptions {
                    compression: variant,
                    ..JsonOptions::default()
                };
                (
                    FormatSpec::json(compression),
                    df.write_json(&path, write, Some(opts))
                        .await
                        .map(|b| rows_in(&b))
                        .map_err(Error::from),
                )
            } else {
                let [delimiter] = o.delimiter.as_bytes() else {
                    return Err(Error::Query(format!(
                        "field_delimiter '{}' must be one byte",
                        o.delimiter
                    )));
                };
                // NULL written `\N` (Hive's and Athena's LazySimpleSerDe NULL text), so that an empty string,
                // an empty field, stays apart from it when the table is read.
                let opts = datafusion::config::CsvOptions {
                    has_header: Some(true),
                    delimiter: *delimiter,
                    compression: variant,
                    null_value: Some(HIVE_NULL.into()),
                    ..Default::default()
                };
                let spec = FormatSpec::csv(
                    compression,
                    CsvOptions {
                        delimiter: o.delimiter.clone(),
                        has_header: true,
                        quote: "\"".into(),
                        escape: None,
                        // Values may hold newlines (quoted): read files whole.
                        newlines_in_values: true,
                        null_format: Some(HIVE_NULL.into()),
                    },
                );
                (
                    spec,
                    df.write_csv(&path, write, Some(opts))
                        .await
                        .map(|b| rows_in(&b))
                        .map_err(Error::from),
                )
            }
        }
    };
    Ok((format, written?))
}

/// The text a TEXTFILE CTAS writes for NULL (LazySimpleSerDe's default `serialization.null.format`).
const HIVE_NULL: &str = "\\N";

/// The row count DataFusion's writers return.
fn rows_in(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
        .flat_map(|a| a.iter().flatten())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> CreateTable {
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        let stmts = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).unwrap();
        match stmts.into_iter().next().unwrap() {
            Sql::CreateTable(ct) => ct,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn athena_options_are_read_and_others_refused() {
        let o = options(&parse(
            "CREATE TABLE t WITH (format = 'JSON', external_location = 'out/t/', \
             partitioned_by = ARRAY['day', 'hour'], write_compression = 'zstd') AS SELECT 1",
        ))
        .unwrap();
        assert_eq!(o.format, Written::Json);
        assert_eq!(o.location.as_deref(), Some("out/t/"));
        assert_eq!(o.partitioned_by, ["day", "hour"]);
        assert_eq!(o.compression, "ZSTD");
        let d = options(&parse("CREATE TABLE t AS SELECT 1")).unwrap();
        assert_eq!(
            (d.format, d.compression.as_str()),
            (Written::Parquet, "GZIP")
        );
        for (sql, msg) in [
            (
                "CREATE TABLE t WITH (format = 'XML') AS SELECT 1",
                "use PARQUET, ORC, AVRO, JSON or TEXTFILE",
            ),
            (
                "CREATE TABLE t WITH (bucket_count = 4) AS SELECT 1",
                "CTAS option `bucket_count`",
            ),
            (
                "CREATE TABLE t WITH (partitioned_by = 'day') AS SELECT 1",
                "takes ARRAY['col', ...]",
            ),
        ] {
            let e = options(&parse(sql)).unwrap_err().to_string();
            assert!(e.contains(msg), "{sql}: {e}");
        }
    }
}
