//! One run of the differential tester: cases of two random tables (each written in every format and
//! registered), random queries over them, and each query's answer on the Parquet copy with owl's rules on
//! checked against its oracles:
//!
//! 1. the same query with every `owl.*` switch off (DataFusion's plans and readers);
//! 2. the same query on every other copy of the tables (CSV, gzipped CSV, NDJSON);
//! 3. ternary logic partitioning: a filter's rows are the union of those with `p`, `NOT p` and `p IS NULL`.
//!
//! Answers are compared as multisets (in order where an `ORDER BY` fixes it), floats within a relative 1e-9
//! (`owl::rows::difference`); a query that fails must fail on every side. Each difference is kept with the
//! seed of its case, so that `--seed S --cases 1` replays it. With `--record DIR`, each is also shrunk to the
//! fewest rows that still show it ([`shrink`]) and written as `DIR/<seed>-<n>.json`, a [`Case`] that
//! `tests/difftest.rs` replays from `tests/difftest_cases/` for good.

use super::queries::{Query, query};
use super::tables::{Rng, table};
use owl::config::Settings;
use owl::engine::{Engine, Outcome};
use owl::storage::meter::Meter;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub seed: u64,
    pub cases: usize,
    /// Queries a case.
    pub queries: usize,
    /// Stop starting cases after this long.
    pub time: Option<Duration>,
    /// Where the cases' files and registries go (a temporary folder when None).
    pub dir: Option<PathBuf>,
    /// Shrink each difference and write it here as a regression case (`tests/difftest_cases/`).
    pub record: Option<PathBuf>,
}

/// What an answer is checked against.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Oracle {
    /// The same query with every `owl.*` switch off.
    SwitchesOff,
    /// The same query on another copy of the tables (`csv`, `csv.gz`, `ndjson`).
    Copy(String),
    /// `select` is the union of itself filtered by `predicate`, by its negation and by it being NULL.
    Partitioning { select: String, predicate: String },
    /// What a run on a copy read against its dry run (`owl estimate`): never more than estimated, and files
    /// read whole read whole or not at all ([`metered`]).
    Metered(String),
}

impl std::fmt::Display for Oracle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Oracle::SwitchesOff => write!(f, "every owl.* switch off"),
            Oracle::Copy(format) => write!(f, "the {format} copy"),
            Oracle::Partitioning { .. } => write!(f, "ternary logic partitioning"),
            Oracle::Metered(format) => write!(f, "the estimate of the {format} copy"),
        }
    }
}

/// A difference, replayable on its own: the two tables, how their Parquet copies are laid out, the query and
/// its oracle. Written by `--record`, replayed by `tests/difftest.rs`.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Case {
    /// The seed of the run's case it was found in.
    pub seed: u64,
    /// What differed when it was recorded.
    pub what: String,
    pub oracle: Oracle,
    /// The query, `{t}` and `{u}` for the tables.
    pub sql: String,
    pub ordered: bool,
    /// Whether the Parquet copies had `ANALYZE` run on them.
    pub analyze: bool,
    /// The seed of the Parquet copies' layout (files, row groups, pages, statistics).
    pub layout: u64,
    pub t: super::tables::Table,
    pub u: super::tables::Table,
}

/// One disagreement between owl and an oracle.
#[derive(Debug)]
pub struct Difference {
    /// Where `--record` wrote it, shrunk.
    pub recorded: Option<PathBuf>,
    /// The case's seed: `--seed <seed> --cases 1` makes the same tables and queries.
    pub seed: u64,
    pub oracle: String,
    pub sql: String,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub cases: usize,
    pub queries: usize,
    /// Comparisons made (a query against one oracle).
    pub checks: usize,
    /// Queries that failed on every side (an overflow, a division by zero): compared as failures.
    pub failed_everywhere: usize,
    /// Answers one side gave where the other failed evaluating a row it never needed (`order_dependent`).
    pub order_dependent: usize,
    /// Why they failed: the start of each error, how often, and the first query that did.
    pub failures: BTreeMap<String, (usize, String)>,
    /// How many queries' plans each of owl's rules put its mark in (`EXPLAIN`, rules on).
    pub rules: BTreeMap<&'static str, usize>,
    pub differences: Vec<Difference>,
}

/// What each rule leaves in a plan it changed, as `EXPLAIN` shows it (`tests/optimizer_switches.rs` checks
/// these marks come and go with their switches).
const MARKS: [(&str, &str); 8] = [
    ("materialize_ctes", "ComputedOnceExec"),
    ("bitmap_count_distinct", "owl_count_distinct"),
    ("streamed_not_in", "NotInExec"),
    ("string_view_equality", "(by view)"),
    ("decimal_batch_checks", "(batch-checked)"),
    ("filter_conjunctions", "(in turn)"),
    ("dynamic_row_filters", "row_filter=at run time"),
    ("join_key_bitmaps", "CollectKeysExec"),
];

/// The copies of each table: written by `tables.rs`, or (ORC, Avro, and Parquet partitioned by a column of few
/// values) by owl's CTAS from the Parquet copy.
const FORMATS: [&str; 7] = [
    "parquet",
    "csv",
    "csv.gz",
    "ndjson",
    "orc",
    "avro",
    "partitioned",
];

/// How what `got` (the run of `sql` on the `format` copy, whose tables' folders are in `dir`) read differs from
/// `sql`'s estimate, if it does: never more than estimated; and files a run reads whole (text, Avro) are read
/// whole or not at all (a join whose one side is empty does not read the other), so what it read is the size of
/// some of the copies' files.
async fn metered(
    engine: &Engine,
    sql: &str,
    format: &str,
    dir: &Path,
    got: &Outcome,
) -> Option<String> {
    if got.error().is_some() {
        return None;
    }
    let stmt = engine.parse(sql).ok()?.remove(0);
    let estimate = match engine.estimate(&stmt, &[]).await {
        Ok(e) => e.bytes_scanned,
        Err(e) => return Some(format!("the estimate failed where the run did not: {e}")),
    };
    let read = got.stats.bytes_scanned;
    if read > estimate {
        return Some(format!("read {read} bytes, estimated at most {estimate}"));
    }
    if !matches!(format, "csv" | "csv.gz" | "ndjson" | "avro") {
        return None;
    }
    let suffix = format.replace('.', "_");
    let mut sizes = vec![];
    for table in ["t", "u"] {
        for file in walk_files(&dir.join(format!("{table}_{suffix}"))) {
            sizes.push(std::fs::metadata(&file).map_or(0, |m| m.len()));
        }
    }
    if sizes.len() > 16 {
        return None;
    }
    let mut sums = (0u32..1 << sizes.len()).map(|set| {
        (0..sizes.len())
            .filter(|i| set & (1 << i) != 0)
            .map(|i| sizes[i])
            .sum::<u64>()
    });
    if sums.any(|s| s == read) {
        None
    } else {
        Some(format!(
            "read {read} bytes of files read whole, which is no sum of their sizes {sizes:?}"
        ))
    }
}

/// The visible files under `dir` (names starting with `_` or `.` are not the table's).
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

async fn run_one(engine: &Engine, sql: &str) -> Outcome {
    match engine.parse(sql) {
        Ok(stmts) if stmts.len() == 1 => {
            engine
                .execute(&stmts[0], Arc::new(Meter::new()), std::future::pending())
                .await
        }
        Ok(_) => panic!("one statement expected: {sql}"),
        Err(e) => panic!("the generator wrote SQL owl does not parse: {e}: {sql}"),
    }
}

/// Whether `e` is an error of evaluating an expression on some row (division by zero, an overflow): SQL
/// leaves the order conditions are evaluated in to the engine, so one plan may never evaluate the row
/// another fails on (owl's filters evaluate an AND's conditions in turn, on the rows the ones before kept;
/// DataFusion's evaluate every condition on every row). Trino and PostgreSQL, too, answer `x <> 0 AND 1 / x >
/// 0` where a plan that divides first fails.
fn order_dependent(e: &owl::error::Error) -> bool {
    let text = e.to_string();
    ["Divide by zero", "overflow", "Overflow"]
        .iter()
        .any(|w| text.contains(w))
}

/// How `got` differs from `want`: both failed (no difference), one failed (no difference where that is an
/// error of evaluation order: counted), or their rows.
fn compare(want: &Outcome, got: &Outcome, ordered: bool, report: &mut Report) -> Option<String> {
    match (want.error(), got.error()) {
        (Some(_), Some(_)) => None,
        (Some(e), None) | (None, Some(e)) if order_dependent(e) => {
            report.order_dependent += 1;
            None
        }
        (None, Some(e)) => Some(format!("failed where the reference answered: {e}")),
        (Some(e), None) => Some(format!("answered where the reference failed with: {e}")),
        (None, None) => owl::rows::difference(&want.batches, &got.batches, ordered, 1e-9)
            .unwrap_or_else(|e| Some(format!("could not compare: {e}"))),
    }
}

fn named(sql: &str, format: &str) -> String {
    let suffix = format.replace('.', "_");
    sql.replace("{t}", &format!("t_{suffix}"))
        .replace("{u}", &format!("u_{suffix}"))
}

/// Write `t` and `u` in every format under `dir` and register each copy in `engine`; the Parquet copies laid out
/// by `rng`.
async fn register(
    engine: &Engine,
    rng: &mut Rng,
    dir: &Path,
    t: &super::tables::Table,
    u: &super::tables::Table,
) -> Vec<&'static str> {
    let mut missing = vec![];
    for (name, tab) in [("t", t), ("u", u)] {
        for format in FORMATS {
            let suffix = format.replace('.', "_");
            let at = dir.join(format!("{name}_{suffix}"));
            let ddl = match format {
                "csv" | "csv.gz" if tab.has_nested() => {
                    missing.push(format);
                    continue;
                }
                "partitioned" => {
                    let Some(by) = tab.partition_column() else {
                        missing.push(format);
                        continue;
                    };
                    let rest: Vec<&str> = tab
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .filter(|c| *c != by)
                        .collect();
                    let rest: String = rest.iter().map(|c| format!("{c}, ")).collect();
                    format!(
                        "CREATE TABLE {name}_{suffix} WITH (format = 'PARQUET', external_location = '{}', \
                         partitioned_by = ARRAY['{by}']) AS SELECT {rest}{by} FROM {name}_parquet",
                        at.display()
                    )
                }
                "orc" | "avro" => format!(
                    "CREATE TABLE {name}_{suffix} WITH (format = '{}', external_location = '{}') \
                     AS SELECT * FROM {name}_parquet",
                    format.to_uppercase(),
                    at.display()
                ),
                _ => {
                    match format {
                        "parquet" => tab.write_parquet(rng, &at),
                        "csv" => tab.write_csv(&at, false),
                        "csv.gz" => tab.write_csv(&at, true),
                        _ => tab.write_ndjson(&at),
                    }
                    tab.ddl(&format!("{name}_{suffix}"), format, &at)
                }
            };
            let done = engine.run_sql(&ddl).await;
            match done {
                Ok(o) if o.iter().all(|o| o.error().is_none()) => {}
                // owl's ORC writer has no decimals, ORC cannot hold a time in the second before the epoch
                // (ORC-763), and orc-rust's encoder fails on some runs of integers: such a table has no ORC
                // copy.
                Ok(o)
                    if format == "orc"
                        && o.iter().any(|o| {
                            o.error().is_some_and(|e| {
                                let e = e.to_string();
                                e.contains("cannot be written as ORC")
                                    || e.contains("ORC cannot hold the timestamp")
                                    || e.contains("the ORC encoder (orc-rust) failed")
                            })
                        }) =>
                {
                    missing.push(format)
                }
                Ok(o) => panic!(
                    "{ddl}: {:?}",
                    o.iter().find_map(|o| o.error().map(|e| e.to_string()))
                ),
                Err(e) => panic!("{ddl}: {e}"),
            }
        }
    }
    FORMATS
        .into_iter()
        .filter(|f| !missing.contains(f))
        .collect()
}

/// Glue's column statistics on the Parquet copies: what join ordering and distinct counts decide by.
async fn analyze(engine: &Engine) {
    for name in ["t_parquet", "u_parquet"] {
        let sql = format!("ANALYZE TABLE {name} COMPUTE STATISTICS");
        let done = engine.run_sql(&sql).await.unwrap();
        assert!(done.iter().all(|o| o.error().is_none()), "{sql}");
    }
}

async fn set_up(
    engine: &Engine,
    rng: &mut Rng,
    dir: &Path,
) -> (
    super::tables::Table,
    super::tables::Table,
    bool,
    Vec<&'static str>,
) {
    let t = table(rng, "c");
    let u = table(rng, "d");
    let formats = register(engine, rng, dir, &t, &u).await;
    // Half the cases with statistics.
    let analyzed = rng.chance(0.5);
    if analyzed {
        analyze(engine).await;
    }
    (t, u, analyzed, formats)
}

/// Engines over a fresh registry in `dir`: rules on, and the same registry with every switch off.
async fn engines(dir: &Path) -> (Engine, Engine) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let settings = Settings {
        catalog_dir: dir.join("catalog"),
        history_days: 0,
        ..Settings::default()
    };
    let on = Engine::new(settings.clone()).unwrap();
    let off = Engine::new(settings).unwrap();
    for name in owl::config::options::names() {
        off.run_sql(&format!("SET owl.{name} = false"))
            .await
            .unwrap();
    }
    (on, off)
}

/// The query of `case` against its oracle, on tables written afresh under `dir`: what differs, if anything.
pub async fn replay(case: &Case, dir: &Path) -> Option<String> {
    let (on, off) = engines(dir).await;
    register(&on, &mut Rng::new(case.layout), dir, &case.t, &case.u).await;
    if case.analyze {
        analyze(&on).await;
    }
    let sql = named(&case.sql, "parquet");
    let (want, got) = match &case.oracle {
        Oracle::SwitchesOff => (run_one(&on, &sql).await, run_one(&off, &sql).await),
        Oracle::Copy(format) => (
            run_one(&on, &sql).await,
            run_one(&on, &named(&case.sql, format)).await,
        ),
        Oracle::Partitioning { select, predicate } => (
            run_one(&on, &named(select, "parquet")).await,
            run_one(&on, &named(&partitioned(select, predicate), "parquet")).await,
        ),
        Oracle::Metered(format) => {
            let sql = named(&case.sql, format);
            let got = run_one(&on, &sql).await;
            return metered(&on, &sql, format, dir, &got).await;
        }
    };
    compare(&want, &got, case.ordered, &mut Report::default())
}

fn partitioned(select: &str, p: &str) -> String {
    format!(
        "{select} WHERE {p} UNION ALL {select} WHERE NOT ({p}) UNION ALL {select} WHERE ({p}) IS NULL"
    )
}

/// The fewest of `items` (removing runs of them, halving the run when none can go: delta debugging) for which
/// `fails` still holds; at most `tries` calls of it.
pub async fn ddmin<T: Clone>(
    items: Vec<T>,
    tries: usize,
    mut fails: impl AsyncFnMut(&[T]) -> bool,
) -> Vec<T> {
    let mut items = items;
    let mut chunk = items.len().div_ceil(2).max(1);
    let mut tried = 0;
    while !items.is_empty() && tried < tries {
        let mut progressed = false;
        let mut at = 0;
        while at < items.len() && tried < tries {
            let mut fewer = items.clone();
            fewer.drain(at..(at + chunk).min(items.len()));
            tried += 1;
            if fails(&fewer).await {
                items = fewer;
                progressed = true;
            } else {
                at += chunk;
            }
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    items
}

/// `case` with as few rows in each table as still show a difference against its oracle. The layout its
/// Parquet copies had is not known (it came from the run's generator): the first of a few layouts that shows
/// the difference is kept. None when none does.
pub async fn shrink(mut case: Case, dir: &Path) -> Option<Case> {
    let mut shown = false;
    for layout in 0..16 {
        case.layout = case.seed.wrapping_mul(31).wrapping_add(layout);
        if replay(&case, dir).await.is_some() {
            shown = true;
            break;
        }
    }
    if !shown {
        return None;
    }
    for side in [0, 1, 0] {
        let rows = if side == 0 {
            &case.t.rows
        } else {
            &case.u.rows
        };
        let kept = ddmin(
            rows.clone(),
            200,
            async |rows: &[Vec<super::tables::Value>]| {
                let mut fewer = case.clone();
                if side == 0 {
                    fewer.t.rows = rows.to_vec();
                } else {
                    fewer.u.rows = rows.to_vec();
                }
                replay(&fewer, dir).await.is_some()
            },
        )
        .await;
        if side == 0 {
            case.t.rows = kept;
        } else {
            case.u.rows = kept;
        }
    }
    case.what = replay(&case, dir).await?;
    Some(case)
}

pub async fn run(options: &Options) -> Report {
    let temp = tempfile::tempdir().unwrap();
    let root = options
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let started = Instant::now();
    let mut report = Report::default();
    for case in 0..options.cases {
        if options.time.is_some_and(|t| started.elapsed() > t) {
            break;
        }
        let seed = options.seed.wrapping_add(case as u64);
        let dir = root.join(format!("case-{seed}"));
        let (on, off) = engines(&dir).await;
        let mut rng = Rng::new(seed);
        let (t, u, analyzed, formats) = set_up(&on, &mut rng, &dir).await;
        report.cases += 1;
        for _ in 0..options.queries {
            let q: Query = query(&mut rng, &t, &u);
            report.queries += 1;
            let sql = named(&q.sql, "parquet");
            let want = run_one(&on, &sql).await;
            let mut found: Vec<Oracle> = vec![];
            let mut check = |report: &mut Report, oracle: Oracle, want: &Outcome, got: &Outcome| {
                report.checks += 1;
                if let Some(what) = compare(want, got, q.ordered, report) {
                    report.differences.push(Difference {
                        recorded: None,
                        seed,
                        oracle: oracle.to_string(),
                        sql: sql.clone(),
                        what,
                    });
                    found.push(oracle);
                }
            };
            let got = run_one(&off, &sql).await;
            check(&mut report, Oracle::SwitchesOff, &want, &got);
            let meter = |report: &mut Report, format: &str, what: Option<String>| {
                report.checks += 1;
                if let Some(what) = what {
                    let oracle = Oracle::Metered(format.to_string());
                    report.differences.push(Difference {
                        recorded: None,
                        seed,
                        oracle: oracle.to_string(),
                        sql: named(&q.sql, format),
                        what,
                    });
                }
            };
            meter(
                &mut report,
                "parquet",
                metered(&on, &sql, "parquet", &dir, &want).await,
            );
            for format in &formats[1..] {
                let copy = named(&q.sql, format);
                let other = run_one(&on, &copy).await;
                check(&mut report, Oracle::Copy(format.to_string()), &want, &other);
                meter(
                    &mut report,
                    format,
                    metered(&on, &copy, format, &dir, &other).await,
                );
            }
            if let Some((select, p)) = &q.partition
                && want.error().is_none()
            {
                let all = run_one(&on, &named(select, "parquet")).await;
                let parts = run_one(&on, &named(&partitioned(select, p), "parquet")).await;
                let oracle = Oracle::Partitioning {
                    select: select.clone(),
                    predicate: p.clone(),
                };
                check(&mut report, oracle, &all, &parts);
            }
            if let Some(to) = &options.record {
                let first = report.differences.len() - found.len();
                for (i, oracle) in found.into_iter().enumerate() {
                    let case = Case {
                        seed,
                        what: String::new(),
                        oracle,
                        sql: q.sql.clone(),
                        ordered: q.ordered,
                        analyze: analyzed,
                        layout: 0,
                        t: t.clone(),
                        u: u.clone(),
                    };
                    let Some(small) = shrink(case, &dir.join("shrink")).await else {
                        continue;
                    };
                    std::fs::create_dir_all(to).unwrap();
                    let n = std::fs::read_dir(to).map_or(0, |d| d.count());
                    let path = to.join(format!("{seed}-{n}.json"));
                    let text = serde_json::to_string_pretty(&small).unwrap();
                    std::fs::write(&path, text + "\n").unwrap();
                    report.differences[first + i].recorded = Some(path);
                }
            }
            match (want.error(), got.error()) {
                (Some(e), Some(_)) => {
                    report.failed_everywhere += 1;
                    let text = e.to_string();
                    let start: String = text.chars().take(60).collect();
                    report.failures.entry(start).or_insert((0, sql.clone())).0 += 1;
                }
                _ => {
                    let plan = run_one(&on, &format!("EXPLAIN {sql}")).await;
                    let text = owl::rows::text(&plan.batches);
                    for (rule, mark) in MARKS {
                        if text.contains(mark) {
                            *report.rules.entry(rule).or_default() += 1;
                        }
                    }
                }
            }
        }
    }
    report
}
