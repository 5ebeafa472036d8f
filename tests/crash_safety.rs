//! Crash safety: `owl crawl`, CTAS, `owl convert` and the history writer killed with SIGKILL at random
//! moments, 100 runs each. Afterwards the registry and the history parse and equal a state before or after the
//! operation, and no partial output is ever read as a table.
//!
//! The moments are drawn from a seeded generator (`OWL_CRASH_SEED` picks another run; the seed is printed),
//! uniformly over the time the whole operation takes on this machine, so that kills land in start-up, reading,
//! writing and committing alike.

mod common;

use common::{Fixture, walk};
use owl::catalog::store::Registry;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

const RUNS: usize = 100;

/// xorshift64*: enough to spread kill moments, and reproducible from its seed.
struct Moments(u64);

impl Moments {
    fn new(name: &str) -> Self {
        let seed = std::env::var("OWL_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20261206u64);
        eprintln!("{name}: OWL_CRASH_SEED={seed}");
        Moments(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A moment in `[0, 1.1 × whole)`.
    fn next(&mut self, whole: Duration) -> Duration {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
        whole.mul_f64(1.1 * r)
    }
}

/// Start `owl args`, wait `after`, kill it with SIGKILL (if it is still running), reap it. True when the kill
/// landed before it ended.
fn kill_after(f: &Fixture, args: &[&str], after: Duration) -> bool {
    let mut child = f.spawn(args);
    std::thread::sleep(after);
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    child.wait().unwrap();
    killed
}

/// How long `owl args` takes to run to its end here.
fn whole(f: &Fixture, args: &[&str]) -> Duration {
    let start = Instant::now();
    f.run_ok(args);
    start.elapsed()
}

/// Every table file of the registry at `catalog`, parsed (a file that does not parse fails the test), by its
/// path below the registry. Hidden names (`.lock`, `.history/`, a killed writer's `.name.tmp`) are not tables.
fn tables(catalog: &Path) -> BTreeMap<String, Value> {
    let registry = Registry::open(catalog);
    let mut out = BTreeMap::new();
    for p in walk(catalog) {
        let rel = p
            .strip_prefix(catalog)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel.split('/').any(|s| s.starts_with('.')) || !rel.ends_with(".json") {
            continue;
        }
        let text = std::fs::read(&p).unwrap();
        let value: Value = serde_json::from_slice(&text)
            .unwrap_or_else(|e| panic!("`{rel}` does not parse after a kill: {e}"));
        // And owl loads it as a table.
        let (db, file) = rel.split_once('/').unwrap();
        let table = file.strip_suffix(".json").unwrap();
        registry
            .load_table(db, table)
            .unwrap_or_else(|e| panic!("`{rel}` does not load after a kill: {e}"));
        out.insert(rel, value);
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    for p in walk(from) {
        let dst = to.join(p.strip_prefix(from).unwrap());
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&p, &dst).unwrap();
    }
}

#[test]
fn a_killed_crawl_leaves_each_table_as_it_was_before_or_after() {
    let f = Fixture::new();
    let catalog = f.path().join("catalog");
    let before_dir = f.path().join("before");
    copy_tree(&catalog, &before_dir);
    let before = tables(&catalog);

    // The lake changes: a new partition, a new column (a new table version), a new table.
    let day = f.data("weblogs_csv/year=2024/month=01/day=05/part-00000.csv");
    let new_day = f.data("weblogs_csv/year=2024/month=01/day=09");
    std::fs::create_dir_all(&new_day).unwrap();
    std::fs::copy(&day, new_day.join("part-00000.csv")).unwrap();
    let orders = f.data("orders/2024/04");
    std::fs::create_dir_all(&orders).unwrap();
    std::fs::write(
        orders.join("orders.csv"),
        "order_id,customer,product,quantity,unit_price,order_date,channel\n\
         9001,ann,tea,2,3.5,2024-04-02,web\n",
    )
    .unwrap();
    std::fs::create_dir_all(f.data("extra")).unwrap();
    std::fs::write(f.data("extra/a.csv"), "id,name\n1,x\n2,y\n").unwrap();

    let crawl = ["crawl", "sample-data"];
    let took = whole(&f, &crawl);
    let after = tables(&catalog);
    assert_ne!(before, after, "the crawl must change the registry");
    let names: Vec<&String> = before.keys().chain(after.keys()).collect();

    let mut moments = Moments::new("crawl");
    let (mut interrupted, mut mixed) = (0, 0);
    for run in 0..RUNS {
        copy_tree(&before_dir, &catalog);
        interrupted += kill_after(&f, &crawl, moments.next(took)) as usize;
        let now = tables(&catalog);
        for name in &names {
            let (b, a, n) = (before.get(*name), after.get(*name), now.get(*name));
            assert!(
                n == b || n == a,
                "run {run}: `{name}` is neither as before the crawl nor as after it: {n:?}"
            );
        }
        assert!(
            now.keys()
                .all(|k| before.contains_key(k) || after.contains_key(k)),
            "run {run}: a table file no crawl writes: {:?}",
            now.keys().collect::<Vec<_>>()
        );
        mixed += (now != before && now != after) as usize;
        // What a kill left, the next crawl finishes.
        if run % 10 == 0 {
            f.run_ok(&crawl);
            assert_eq!(tables(&catalog), after, "run {run}: the crawl after a kill");
        }
    }
    eprintln!(
        "crawl: {interrupted} of {RUNS} runs killed before their end, {mixed} with some tables updated"
    );
    assert!(interrupted >= RUNS / 4, "the kills must interrupt crawls");
}

/// The rows of `table`, through the real binary.
fn count(f: &Fixture, table: &str) -> u64 {
    let doc = f.json(&format!("SELECT count(*) AS n FROM {table}"));
    doc["rows"][0][0].as_u64().unwrap()
}

/// The files under `dir`, none when it is not there.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    if dir.exists() { walk(dir) } else { vec![] }
}

/// The files under `dir` that a query or a crawl would read (no path segment starting with `_` or `.`).
fn visible_files(dir: &Path) -> Vec<String> {
    files(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .filter(|rel| {
            !rel.split('/')
                .any(|s| s.starts_with('_') || s.starts_with('.'))
        })
        .collect()
}

/// Kill a statement that writes `table`'s files at `location` and registers it, `RUNS` times; after each kill,
/// the table is registered with every row or absent, and then running the statement again succeeds.
fn killed_writes(f: &Fixture, name: &str, args: &[&str], table: &str, location: &Path) {
    let catalog = f.path().join("catalog");
    let table_file = catalog.join("default").join(format!("{table}.json"));
    let rows = count(f, "weblogs_csv");
    let reset = || {
        let _ = std::fs::remove_file(&table_file);
        let _ = std::fs::remove_dir_all(location);
    };
    let took = whole(f, args);
    assert_eq!(count(f, table), rows);

    let mut moments = Moments::new(name);
    let (mut interrupted, mut registered, mut settled) = (0, 0, 0);
    for run in 0..RUNS {
        reset();
        interrupted += kill_after(f, args, moments.next(took)) as usize;
        let now = tables(&catalog);
        if now.contains_key(&format!("default/{table}.json")) {
            // Registered: with every row, and only its own files visible.
            registered += 1;
            assert_eq!(count(f, table), rows, "run {run}: a registered {name} copy");
            continue;
        }
        // Not registered: its visible files, if any, are a commit the kill cut short, named by a journal that
        // the next statement at this location settles.
        let visible = visible_files(location);
        let journals = files(location)
            .iter()
            .filter(|p| p.to_string_lossy().ends_with(".commit"))
            .count();
        assert!(
            visible.is_empty() || journals == 1,
            "run {run}: files without a table and without a journal: {visible:?}"
        );
        settled += (!visible.is_empty()) as usize;
        if run % 5 == 0 || !visible.is_empty() {
            f.run_ok(args);
            assert_eq!(
                count(f, table),
                rows,
                "run {run}: {name} again after a kill"
            );
            let journals = files(location)
                .iter()
                .filter(|p| p.to_string_lossy().ends_with(".commit"))
                .count();
            assert_eq!(journals, 0, "run {run}: a journal outlived its commit");
        }
    }
    eprintln!(
        "{name}: {interrupted} of {RUNS} runs killed before their end; {registered} registered, \
         {settled} cut short while committing and settled by the next run"
    );
    assert!(interrupted >= RUNS / 4, "the kills must interrupt {name}");
}

#[test]
fn a_killed_ctas_leaves_no_table_or_a_whole_one() {
    let f = Fixture::new();
    let out = f.path().join("out").join("copy");
    let sql = format!(
        "CREATE TABLE copy WITH (format = 'PARQUET', external_location = '{}/', \
         partitioned_by = ARRAY['day']) AS SELECT * FROM weblogs_csv",
        out.display()
    );
    killed_writes(&f, "CTAS", &["query", &sql], "copy", &out);
}

#[test]
fn a_killed_convert_leaves_no_table_or_a_whole_one() {
    let f = Fixture::new();
    let out = f.path().join("out").join("orc");
    let location = out.display().to_string();
    let args = [
        "convert",
        "weblogs_csv",
        "--to",
        "orc",
        "--name",
        "weblogs_orc",
        "--location",
        &location,
    ];
    killed_writes(&f, "convert", &args, "weblogs_orc", &out);
}

#[test]
fn a_killed_history_writer_leaves_whole_entries_in_order() {
    let f = Fixture::new();
    let history = owl::history::History::new(&f.path().join("catalog"), 45);
    const STATEMENTS: usize = 30;
    let script = |run: usize| {
        (0..STATEMENTS)
            .map(|i| format!("SELECT count(*) AS r{run}_{i} FROM weblogs_csv WHERE status > {i}"))
            .collect::<Vec<_>>()
            .join(";\n")
    };
    let took = whole(&f, &["query", &script(RUNS)]);
    let mut moments = Moments::new("history");
    let (mut interrupted, mut partial) = (0, 0);
    for run in 0..RUNS {
        interrupted += kill_after(&f, &["query", &script(run)], moments.next(took)) as usize;
        let read = history.read().expect("the history reads after a kill");
        // This run's entries: a prefix of its statements, each whole.
        let mut ran: Vec<usize> = read
            .entries
            .iter()
            .filter_map(|e| {
                let tag = format!("AS r{run}_");
                let at = e.sql.find(&tag)? + tag.len();
                let i: usize = e.sql[at..].split(' ').next()?.parse().ok()?;
                assert_eq!(e.sql, script(run).split(";\n").nth(i).unwrap());
                Some(i)
            })
            .collect();
        ran.sort();
        assert_eq!(
            ran,
            (0..ran.len()).collect::<Vec<_>>(),
            "run {run}: the history holds statements that did not run before others that did"
        );
        partial += (!ran.is_empty() && ran.len() < STATEMENTS) as usize;
        // The CLI reads it too.
        f.run_ok(&["history"]);
    }
    eprintln!("history: {interrupted} of {RUNS} runs killed before their end, {partial} part-way");
    assert!(
        interrupted >= RUNS / 4,
        "the kills must interrupt the statements"
    );
    assert!(partial > 0, "some kills must land between statements");
}
