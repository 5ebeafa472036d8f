//! Shared test fixtures: a generated copy of sample-data + registry in a temp folder, and the real binary.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// sample-data/ generated into a fresh temp folder, and crawled into its catalog/ by the real binary.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        owl::sample::generate(dir.path()).unwrap();
        let f = Fixture { dir };
        let out = f.owl().args(["crawl", "sample-data"]).output().unwrap();
        assert!(
            out.status.success(),
            "crawl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self, rel: &str) -> PathBuf {
        self.dir.path().join("sample-data").join(rel)
    }

    /// `owl` run in the fixture folder (so `./catalog` is its registry).
    pub fn owl(&self) -> Command {
        let mut c = Command::cargo_bin("owl").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("OWL_CATALOG")
            .env_remove("OWL_DATABASE");
        c
    }

    /// Run `owl args...`, expect success, return stdout.
    pub fn run_ok(&self, args: &[&str]) -> Vec<u8> {
        succeed(self.owl().args(args))
    }

    /// Start `owl args...` in the fixture folder as a child process (for signals, kills, concurrency).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"))
            .current_dir(self.dir.path())
            .env_remove("OWL_CATALOG")
            .env_remove("OWL_DATABASE")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Run one query with `--format json`, expect success, return the parsed document.
    pub fn json(&self, sql: &str) -> Value {
        self.json_with(&[], sql)
    }

    /// As [`Fixture::json`], with global flags before the subcommand.
    pub fn json_with(&self, flags: &[&str], sql: &str) -> Value {
        let out = self
            .owl()
            .args(flags)
            .args(["query", "--format", "json", sql])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "query failed: {sql}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Run a script of statements with `--format json` (one document a statement), expect success, return the
    /// last statement's document.
    pub fn json_last(&self, flags: &[&str], script: &str) -> Value {
        let out = succeed(
            self.owl()
                .args(flags)
                .args(["query", "--format", "json", script]),
        );
        let last = out
            .split(|&b| b == b'\n')
            .rfind(|l| !l.is_empty())
            .expect("a document");
        serde_json::from_slice(last).unwrap()
    }

    /// Run a script in database `db` with `--format csv`, expect success, return its output (an `EXPLAIN`'s plan).
    pub fn csv_in(&self, db: &str, script: &str) -> String {
        String::from_utf8(self.run_ok(&["-d", db, "query", "-f", "csv", script])).unwrap()
    }

    /// Run SQL expected to fail with a one-line error that names `says`.
    pub fn fails_naming(&self, sql: &str, says: &str) {
        let (_, err) = self.fails(sql);
        assert!(err.contains(says), "{sql}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{sql}: {err}");
    }

    /// Run SQL expected to fail; return (exit code, stderr).
    pub fn fails(&self, sql: &str) -> (i32, String) {
        let out = self.owl().args(["query", sql]).output().unwrap();
        assert!(!out.status.success(), "expected failure: {sql}");
        assert!(
            out.stdout.is_empty(),
            "a failed query printed results: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A `--format json` document's rows, each an array of JSON values in column order.
pub fn json_rows(doc: &Value) -> Vec<Vec<Value>> {
    doc["rows"]
        .as_array()
        .expect("a document's rows")
        .iter()
        .map(|r| r.as_array().expect("a row").clone())
        .collect()
}

/// A `--format json` document's column names, in order.
pub fn column_names(doc: &Value) -> Vec<String> {
    doc["columns"]
        .as_array()
        .expect("a document's columns")
        .iter()
        .map(|c| c["name"].as_str().expect("a column's name").to_string())
        .collect()
}

/// Write `text` gzip-compressed to `path` (folders made); its size.
pub fn write_gz(path: &Path, text: &str) -> u64 {
    use std::io::Write;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    std::fs::metadata(path).unwrap().len()
}

impl Fixture {
    /// `SHOW CREATE TABLE table`, run again in a new database `again`: the two registry formats are equal.
    /// Returns the DDL.
    pub fn show_create_rerun(&self, table: &str) -> String {
        let out = String::from_utf8(self.run_ok(&[
            "query",
            "-f",
            "csv",
            &format!("SHOW CREATE TABLE {table}"),
        ]))
        .unwrap();
        let ddl: Vec<String> = out
            .lines()
            .skip(1)
            .map(|l| l.trim_matches('"').replace("\"\"", "\""))
            .collect();
        let ddl = ddl.join("\n");
        self.run_ok(&["query", "CREATE DATABASE again"]);
        self.run_ok(&["-d", "again", "query", &ddl]);
        assert_eq!(
            self.registry_json("again", table)["format"],
            self.registry_json("default", table)["format"]
        );
        ddl
    }
}

/// Run `cmd`, expect success (else fail with its stderr), return its stdout.
pub fn succeed(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "owl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Sum of the sizes of files under `dir` whose names end with `ext`.
pub fn size_of_files(dir: &Path, ext: &str) -> u64 {
    let mut total = 0;
    for e in walk(dir) {
        if e.to_string_lossy().ends_with(ext) {
            total += std::fs::metadata(&e).unwrap().len();
        }
    }
    total
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn stat(doc: &Value, key: &str) -> u64 {
    doc["stats"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("stats.{key} missing in {doc}"))
}

/// The entry of `report` (an `owl crawl --format json` report) for `table` (`db.table`).
pub fn table_in<'a>(report: &'a Value, table: &str) -> &'a Value {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == table)
        .unwrap_or_else(|| panic!("{table} not in {report}"))
}

impl Fixture {
    /// A registry table file, parsed.
    pub fn registry_json(&self, db: &str, table: &str) -> Value {
        let p = self
            .dir
            .path()
            .join("catalog")
            .join(db)
            .join(format!("{table}.json"));
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    }
}

pub fn req(doc: &Value, key: &str) -> u64 {
    doc["stats"]["requests"][key].as_u64().unwrap()
}

/// What a query reading `columns` of every Parquet file under `dir` must read: the 8 KiB footer read (the whole
/// file when smaller) plus those columns' chunks, from each file's own footer.
pub fn parquet_bytes(dir: &Path, columns: &[&str]) -> u64 {
    let mut total = 0;
    for p in walk(dir) {
        let size = std::fs::metadata(&p).unwrap().len();
        let file = std::fs::File::open(&p).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        let footer = u64::from(u32::from_le_bytes({
            let bytes = std::fs::read(&p).unwrap();
            let n = bytes.len();
            [bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]
        })) + 8;
        assert!(footer <= 8192, "a footer larger than the hint");
        total += size.min(8192);
        for rg in meta.row_groups() {
            for c in rg.columns() {
                if columns.contains(&c.column_path().string().as_str()) {
                    total += c.byte_range().1;
                }
            }
        }
    }
    total
}

/// `(total, matched)` of a pruning metric in a scan's `EXPLAIN ANALYZE` line: `<metric>=<total> total → <matched>
/// matched`.
pub fn pruned(scan: &str, metric: &str) -> (u64, u64) {
    let at = scan
        .find(&format!("{metric}="))
        .unwrap_or_else(|| panic!("no {metric} in {scan}"));
    let words: Vec<&str> = scan[at + metric.len() + 1..]
        .split_whitespace()
        .take(4)
        .collect();
    (words[0].parse().unwrap(), words[3].parse().unwrap())
}

/// A count metric in an `EXPLAIN ANALYZE` line, as DataFusion writes it: `output_rows=20` or `output_rows=4.00 K`.
pub fn count_metric(line: &str, metric: &str) -> u64 {
    let at = line
        .find(&format!("{metric}="))
        .unwrap_or_else(|| panic!("no {metric} in {line}"))
        + metric.len()
        + 1;
    let rest = &line[at..];
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let scale = match rest[number.len()..].trim_start().chars().next() {
        Some('K') => 1e3,
        Some('M') => 1e6,
        Some('B') => 1e9,
        _ => 1.0,
    };
    (number.parse::<f64>().unwrap() * scale).round() as u64
}

/// A star schema in database `star` (CTAS, then crawled): 20,000 `facts` (`fk_a` over 1,000 `products`,
/// `fk_b` over 100 `stores`), `stores` in 5 `regions`. Not analyzed: join ordering needs `ANALYZE`.
pub fn star_schema(f: &Fixture) {
    f.run_ok(&["query", "CREATE DATABASE star"]);
    let ctas = [
        // 20,000 facts: fk_a over 1,000 products, fk_b over 100 stores.
        "CREATE TABLE facts WITH (format = 'PARQUET', external_location = 'star/facts/') AS \
         SELECT value % 1000 AS fk_a, (value * 7) % 100 AS fk_b, value % 13 AS amount \
         FROM generate_series(0, 19999)",
        "CREATE TABLE products WITH (format = 'PARQUET', external_location = 'star/products/') AS \
         SELECT value AS a_id, value % 10 AS a_group FROM generate_series(0, 999)",
        "CREATE TABLE stores WITH (format = 'PARQUET', external_location = 'star/stores/') AS \
         SELECT value AS b_id, value % 5 AS b_region FROM generate_series(0, 99)",
        "CREATE TABLE regions WITH (format = 'PARQUET', external_location = 'star/regions/') AS \
         SELECT value AS r_id, concat('r', CAST(value AS VARCHAR)) AS r_name FROM generate_series(0, 4)",
    ];
    for sql in ctas {
        f.run_ok(&["-d", "star", "query", sql]);
    }
    f.run_ok(&["-d", "star", "crawl", "star"]);
}

/// `ANALYZE` every table of [`star_schema`]: the distinct counts join ordering needs.
pub fn analyze_star(f: &Fixture) {
    for t in ["facts", "products", "stores", "regions"] {
        let sql = format!("ANALYZE TABLE {t} COMPUTE STATISTICS");
        f.run_ok(&["-d", "star", "query", &sql]);
    }
}
