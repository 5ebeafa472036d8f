//! `owl compare`: one table materialized in several formats, the same queries run on each copy, and what each
//! scanned and cost, side by side. The lesson Athena teaches with a bill ("columnar saves 30-90%"), on the
//! user's own data and queries.
//!
//! The copies live in a work folder of their own (a registry with one database per format, and the files),
//! never in the user's registry. A copy is reused while the source is unchanged: same table definition and the
//! same listing (paths, sizes, modification times), recorded as a fingerprint beside the copies. Every query runs
//! with a fresh meter (as every owl query does), so each copy pays its own cold reads.
//!
//! The invariant: every format answers every query with the same rows (compared as multisets, floating-point
//! values within a relative 1e-9: `rows`); a difference is reported per query, with what differed, never
//! hidden.

use crate::catalog::Registry;
use crate::catalog::location::{list_under, resolve_dir};
use crate::catalog::model::TableDef;
use crate::config::Settings;
use crate::cost::QueryState;
use crate::engine::{Ending, Engine};
use crate::error::{Error, Result};
use crate::storage::meter::{Meter, RowGroups};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How far apart two floating-point answers may be, relative to the larger: the last digits of a sum depend on
/// the order its values were added in, which differs between formats' plans.
const FLOAT_TOLERANCE: f64 = 1e-9;

/// The formats `owl compare` can write: (name on the command line, database in the work registry, CTAS options).
pub const FORMATS: &[(&str, &str, &str)] = &[
    (
        "csv",
        "csv",
        "format = 'TEXTFILE', write_compression = 'NONE'",
    ),
    (
        "csv.gz",
        "csv_gz",
        "format = 'TEXTFILE', write_compression = 'GZIP'",
    ),
    (
        "ndjson",
        "ndjson",
        "format = 'JSON', write_compression = 'NONE'",
    ),
    (
        "ndjson.gz",
        "ndjson_gz",
        "format = 'JSON', write_compression = 'GZIP'",
    ),
    (
        "parquet",
        "parquet",
        "format = 'PARQUET', write_compression = 'SNAPPY'",
    ),
    (
        "parquet.zstd",
        "parquet_zstd",
        "format = 'PARQUET', write_compression = 'ZSTD'",
    ),
    ("orc", "orc", "format = 'ORC', write_compression = 'ZLIB'"),
    (
        "avro",
        "avro",
        "format = 'AVRO', write_compression = 'SNAPPY'",
    ),
];

/// Whether a format stores columns apart, so a query reads only the columns it names.
fn is_columnar(format: &str) -> bool {
    format.starts_with("parquet") || format.starts_with("orc")
}

/// One format's copy of the table.
#[derive(Debug, Clone, Serialize)]
pub struct FormatCopy {
    pub format: String,
    pub size_bytes: u64,
    pub files: u64,
    /// Reused from an earlier run (the source had not changed).
    pub cached: bool,
}

/// One query on one copy.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub format: String,
    pub state: QueryState,
    pub rows: u64,
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
    pub elapsed_ms: u64,
    pub files_read: u64,
    /// Files the copy has.
    pub files_total: u64,
    /// File columns the query reads (projection and filters) and the copy's file columns (partition keys live in
    /// paths). A row format parses every column of every row it reads, whatever the query names.
    pub columns_read: u64,
    pub columns_total: u64,
    /// Parquet row groups read, of those the opened files hold (the rest pruned by min/max statistics).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_groups: Option<RowGroups>,
    /// Why it scanned what it did, in words: `2/11 columns, 3/8 row groups, 2/8 files` (row groups when some
    /// were pruned).
    pub why: String,
    /// Bytes scanned saved against the `csv` copy, in percent (None without a csv copy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savings_vs_csv_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One query on every copy.
#[derive(Debug, Clone, Serialize)]
pub struct QueryComparison {
    pub sql: String,
    /// Every copy returned the same rows.
    pub identical: bool,
    /// Formats whose rows differ from the first format's.
    pub differing: Vec<String>,
    /// How each of them differs, in words: `parquet: 1 rows differ, first (...) where (...) was expected (on
    /// csv)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub table: String,
    pub source_size_bytes: u64,
    pub copies: Vec<FormatCopy>,
    /// Formats left out because the table cannot be written in them (only with [`Unwritable::Skip`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedFormat>,
    pub queries: Vec<QueryComparison>,
}

/// A format the table could not be copied into, and why.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFormat {
    pub format: String,
    pub reason: String,
}

/// What to do when the table cannot be copied into a format (ORC holds no lists, CSV no structs, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unwritable {
    /// Leave the format out and say so (the formats were not chosen by the user).
    Skip,
    /// Fail the comparison (the user asked for that format).
    Fail,
}

impl Comparison {
    /// The most bytes any query scanned on any copy (at least 1): the full length of a bar.
    pub fn max_bytes_scanned(&self) -> u64 {
        self.queries
            .iter()
            .flat_map(|q| q.runs.iter().map(|r| r.bytes_scanned))
            .max()
            .unwrap_or(0)
            .max(1)
    }
}

/// FNV-1a: a fingerprint that is the same in every build (std's hasher is not).
fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// What the source is now: its definition and its files.
async fn fingerprint(engine: &Engine, def: &TableDef) -> Result<String> {
    let url = resolve_dir(&def.location, engine.registry().root())?;
    let store = engine.stores().get_store(&url).map_err(Error::from)?;
    let (_, metas) = list_under(store.as_ref(), &url, &def.location).await?;
    let mut listing: Vec<String> = metas
        .iter()
        .map(|m| {
            format!(
                "{} {} {}",
                m.location,
                m.size,
                m.last_modified.timestamp_millis()
            )
        })
        .collect();
    listing.sort();
    let mut snapshot = def.clone();
    snapshot.versions.clear();
    let text =
        serde_json::to_string(&snapshot).map_err(|e| Error::internal("the snapshot as JSON", e))?;
    Ok(fnv(&format!("{text}\n{}", listing.join("\n"))))
}

/// Materialize `table` (of `engine`'s current database) in `formats` under `work`, run `queries` on each copy.
pub async fn compare(
    engine: &Engine,
    table: &str,
    formats: &[String],
    queries: &[String],
    work: &Path,
    unwritable: Unwritable,
) -> Result<Comparison> {
    let db = engine.database();
    let source = engine.registry().load_table(&db, table)?;
    let mut chosen = Vec::new();
    for f in formats {
        match FORMATS.iter().find(|(name, _, _)| name == f) {
            Some(x) => chosen.push(*x),
            None => {
                let names: Vec<&str> = FORMATS.iter().map(|(n, _, _)| *n).collect();
                return Err(Error::Query(format!(
                    "unknown format `{f}`: use {}",
                    names.join(", ")
                )));
            }
        }
    }
    let dir = work.join(format!("{db}.{table}"));
    let catalog = dir.join("catalog");
    std::fs::create_dir_all(&catalog).map_err(|e| Error::Io {
        context: format!("creating `{}`", catalog.display()),
        source: e,
    })?;
    let registry = Registry::open(&catalog);
    registry.create_database("source", true)?;
    // The source, as the work registry sees it: the same definition at an absolute location.
    let mut in_work = source.clone();
    in_work.database = "source".into();
    in_work.location = resolve_dir(&source.location, engine.registry().root())?.to_string();
    registry.put_table(in_work)?;
    let print = fingerprint(engine, &source).await?;
    let marker = dir.join("source.fingerprint");
    let unchanged = std::fs::read_to_string(&marker).is_ok_and(|m| m.trim() == print);

    let mut settings: Settings = engine.settings().clone();
    settings.catalog_dir = catalog.clone();
    settings.database = "source".into();
    let work_engine = Engine::new(settings)?;
    let copies = write_copies(
        &work_engine,
        &registry,
        &source,
        &chosen,
        &dir,
        unchanged,
        unwritable,
    )
    .await?;
    std::fs::write(&marker, &print).map_err(|e| Error::Io {
        context: format!("writing `{}`", marker.display()),
        source: e,
    })?;

    let mut out = Vec::new();
    for sql in queries {
        out.push(compare_query(&work_engine, sql, &copies, table).await?);
    }
    Ok(Comparison {
        table: format!("{db}.{table}"),
        source_size_bytes: source.stats.size_bytes.unwrap_or(0),
        copies: copies.copies,
        skipped: copies.skipped,
        queries: out,
    })
}

/// The copies of a comparison: what was written (format, database), and the formats skipped.
struct Copies {
    copies: Vec<FormatCopy>,
    skipped: Vec<SkippedFormat>,
    /// (format, work database) of each copy that exists.
    written: Vec<(&'static str, &'static str)>,
}

/// The source copied into each chosen format by a CTAS in the work registry (kept when the source is unchanged).
async fn write_copies(
    engine: &Engine,
    registry: &Registry,
    source: &TableDef,
    chosen: &[(&'static str, &'static str, &'static str)],
    dir: &Path,
    unchanged: bool,
    unwritable: Unwritable,
) -> Result<Copies> {
    let table = source.name.as_str();
    let mut copies = Vec::new();
    let mut skipped = Vec::new();
    let mut written = Vec::new();
    for (name, cdb, with) in chosen {
        registry.create_database(cdb, true)?;
        let data = dir.join("data").join(cdb);
        let cached = unchanged && registry.table_exists(cdb, table);
        if !cached {
            registry.drop_table(cdb, table, true)?;
            if data.exists() {
                std::fs::remove_dir_all(&data).map_err(|e| Error::Io {
                    context: format!("clearing `{}`", data.display()),
                    source: e,
                })?;
            }
            let keys: Vec<String> = source
                .partition_keys
                .iter()
                .map(|k| format!("'{}'", k.name.replace('\'', "''")))
                .collect();
            let partitioned = if keys.is_empty() {
                String::new()
            } else {
                format!(", partitioned_by = ARRAY[{}]", keys.join(", "))
            };
            let location = format!("{}/", data.display()).replace('\'', "''");
            let sql = format!(
                "CREATE TABLE \"{cdb}\".\"{table}\" WITH ({with}{partitioned}, external_location = '{location}') \
                 AS SELECT * FROM \"source\".\"{table}\""
            );
            let failed = engine
                .run_sql(&sql)
                .await?
                .into_iter()
                .find_map(|o| match o.ending {
                    Ending::Failed(e) => Some(e),
                    _ => None,
                });
            match (failed, unwritable) {
                (None, _) => {}
                (Some(e), Unwritable::Skip) => {
                    skipped.push(SkippedFormat {
                        format: (*name).to_string(),
                        reason: e.to_string(),
                    });
                    continue;
                }
                (Some(e), Unwritable::Fail) => {
                    return Err(Error::Query(format!("writing the {name} copy: {e}")));
                }
            }
        }
        written.push((*name, *cdb));
        let def = registry.load_table(cdb, table)?;
        copies.push(FormatCopy {
            format: (*name).to_string(),
            size_bytes: def.stats.size_bytes.unwrap_or(0),
            files: def.stats.object_count.unwrap_or(0),
            cached,
        });
    }
    Ok(Copies {
        copies,
        skipped,
        written,
    })
}

/// One query on every copy, with why each read what it read and whether their answers agree.
async fn compare_query(
    engine: &Engine,
    sql: &str,
    copies: &Copies,
    table: &str,
) -> Result<QueryComparison> {
    let stmts = engine.parse(sql)?;
    let [stmt] = stmts.as_slice() else {
        return Err(Error::Query(format!(
            "compare one statement per query, not {}: `{sql}`",
            stmts.len()
        )));
    };
    let mut runs = Vec::new();
    let mut answers: Vec<(String, Vec<arrow::array::RecordBatch>)> = Vec::new();
    for (name, cdb) in &copies.written {
        engine.set_database(cdb)?;
        let meter = Arc::new(Meter::new());
        let o = engine
            .execute(stmt, Arc::clone(&meter), std::future::pending())
            .await;
        if o.stats.state == QueryState::Succeeded {
            answers.push(((*name).to_string(), o.batches.clone()));
        }
        let files_total = copies
            .copies
            .iter()
            .find(|c| c.format == *name)
            .map_or(0, |c| c.files);
        let plan = meter.plan().unwrap_or_default();
        let columnar = is_columnar(name);
        let row_groups = meter.row_groups();
        let pruned = row_groups
            .filter(|rg| rg.read < rg.total)
            .map(|rg| format!("{}/{} row groups, ", rg.read, rg.total))
            .unwrap_or_default();
        let why = match o.stats.state {
            QueryState::Succeeded if columnar => format!(
                "{}/{} columns, {pruned}{}/{files_total} files",
                plan.columns_read, plan.columns_total, o.stats.files_read
            ),
            QueryState::Succeeded => format!(
                "all {} columns (row format), {}/{files_total} files",
                plan.columns_total, o.stats.files_read
            ),
            _ => String::new(),
        };
        runs.push(Run {
            files_total,
            columns_read: if columnar {
                plan.columns_read
            } else {
                plan.columns_total
            },
            columns_total: plan.columns_total,
            row_groups,
            why,
            format: (*name).to_string(),
            state: o.stats.state,
            rows: o.stats.rows,
            bytes_scanned: o.stats.bytes_scanned,
            billed_bytes: o.stats.billed_bytes,
            cost_usd: o.stats.cost_usd,
            elapsed_ms: o.stats.elapsed_ms,
            files_read: o.stats.files_read,
            savings_vs_csv_pct: None,
            error: match o.ending {
                Ending::Failed(e) => Some(explain(e, table)),
                _ => None,
            },
        });
    }
    if let Some(csv) = runs
        .iter()
        .find(|r| r.format == "csv")
        .map(|r| r.bytes_scanned)
        && csv > 0
    {
        for r in &mut runs {
            r.savings_vs_csv_pct = Some(100.0 * (1.0 - r.bytes_scanned as f64 / csv as f64));
        }
    }
    // As multisets of rows, floats within a tolerance: a sum's last digits depend on the order it added in.
    let mut differing = Vec::new();
    let mut differences = Vec::new();
    if let Some((first, want)) = answers.first() {
        for (name, got) in &answers[1..] {
            let d = crate::rows::difference(want, got, false, FLOAT_TOLERANCE)
                .map_err(|e| Error::Internal(format!("comparing the answers: {e}")))?;
            if let Some(d) = d {
                differences.push(format!("{name}: {d} (on {first})"));
                differing.push(name.clone());
            }
        }
    }
    let all_ran = answers.len() == runs.len();
    Ok(QueryComparison {
        sql: sql.to_string(),
        identical: all_ran && differing.is_empty(),
        differing,
        differences,
        runs,
    })
}

/// A failed query's error; a name the copies do not have is explained (they hold one table, by its bare name).
fn explain(e: Error, table: &str) -> String {
    let inner = match &e {
        Error::Located { error, .. } => error.as_ref(),
        other => other,
    };
    match inner {
        Error::TableNotFound { .. } | Error::DatabaseNotFound(_) => format!(
            "{e}: a compare query sees only the compared table, by its bare name (`FROM {table}`)"
        ),
        _ => e.to_string(),
    }
}

/// Where copies are kept unless told: `.owl/compare/` beside the registry folder.
pub fn default_work_dir(catalog_dir: &Path) -> PathBuf {
    catalog_dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from(".owl"), |p| p.join(".owl"))
        .join("compare")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_stable_and_sensitive() {
        assert_eq!(fnv("a"), "af63dc4c8601ec8c");
        assert_ne!(fnv("a b 1"), fnv("a b 2"));
    }
}
