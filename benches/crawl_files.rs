//! Crawl speed: many small Parquet files and as many NDJSON files in a Hive layout (100 `dt=` folders), crawled
//! by the release `owl` binary into a fresh registry; DuckDB's `count(*)` over the same files with
//! `hive_partitioning=true`, measured in the same run, alternating, best of 3. Prints a Markdown table for
//! BENCHMARKS.md: files/s for each, the ratio, and owl's bytes read per file.
//!
//! `cargo bench --bench crawl_files` (10,000 files per format; `OWL_BENCH_FILES=N` for another count). DuckDB
//! 2.0.0 comes from PyPI into `target/bench-venv` on first use.

#[path = "common/venv.rs"]
mod venv;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

const FOLDERS: usize = 100;
const ROWS: usize = 20;

fn batch(seed: usize) -> RecordBatch {
    let ids: Vec<i64> = (0..ROWS).map(|r| (seed * ROWS + r) as i64).collect();
    let users: Vec<String> = (0..ROWS)
        .map(|r| format!("user-{}", (seed + r) % 97))
        .collect();
    let amounts: Vec<f64> = (0..ROWS)
        .map(|r| ((seed * 31 + r * 7) % 1000) as f64 / 10.0)
        .collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("user", Arc::new(StringArray::from(users)) as ArrayRef),
        ("amount", Arc::new(Float64Array::from(amounts)) as ArrayRef),
    ])
    .unwrap()
}

fn file_path(root: &Path, i: usize, ext: &str) -> PathBuf {
    let dir = root.join(format!(
        "dt=2024-{:02}-{:02}",
        1 + (i % FOLDERS) / 28,
        1 + (i % FOLDERS) % 28
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("part-{i:05}.{ext}"))
}

fn generate(root: &Path, n: usize) -> (PathBuf, PathBuf) {
    let pq = root.join("events_parquet");
    let js = root.join("events_ndjson");
    for i in 0..n {
        let b = batch(i);
        let f = std::fs::File::create(file_path(&pq, i, "parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
        let mut out = Vec::new();
        let mut jw = arrow::json::LineDelimitedWriter::new(&mut out);
        jw.write(&b).unwrap();
        jw.finish().unwrap();
        std::fs::write(file_path(&js, i, "json"), out).unwrap();
    }
    (pq, js)
}

fn duckdb_python() -> PathBuf {
    venv::venv_bin().join("python")
}

/// Seconds DuckDB takes for `count(*)` over the files (in-process time: Python's start-up is not counted).
fn duckdb(py: &Path, sql: &str) -> (f64, u64) {
    let script = format!(
        "import duckdb, time\nc = duckdb.connect()\nt = time.perf_counter()\nn = c.sql(\"{sql}\").fetchall()[0][0]\nprint(time.perf_counter() - t, n)"
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    let secs = parts.next().unwrap().parse().unwrap();
    let rows = parts.next().unwrap().parse().unwrap();
    (secs, rows)
}

/// Seconds a fresh `owl crawl` takes (the whole process), and its JSON report.
fn owl_crawl(work: &Path, data: &Path) -> (f64, serde_json::Value) {
    let catalog = work.join("catalog");
    let _ = std::fs::remove_dir_all(&catalog);
    std::fs::create_dir_all(catalog.join("default")).unwrap();
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_owl"))
        .arg("--catalog")
        .arg(&catalog)
        .arg("crawl")
        .arg(data)
        .args(["-f", "json"])
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (secs, serde_json::from_slice(&out.stdout).unwrap())
}

fn main() {
    let n: usize = std::env::var("OWL_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let work = tempfile::tempdir().unwrap();
    eprintln!("generating {n} Parquet and {n} NDJSON files...");
    let (pq, js) = generate(work.path(), n);
    let py = duckdb_python();
    let cases = [
        (
            "Parquet",
            pq.clone(),
            format!(
                "SELECT count(*) FROM read_parquet('{}/**/*.parquet', hive_partitioning=true)",
                pq.display()
            ),
        ),
        (
            "NDJSON",
            js.clone(),
            format!(
                "SELECT count(*) FROM read_json_auto('{}/**/*.json', hive_partitioning=true)",
                js.display()
            ),
        ),
    ];
    println!(
        "| format | files | owl crawl | owl files/s | DuckDB count(*) | DuckDB files/s | owl / DuckDB files/s | owl bytes read per file |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, dir, sql) in cases {
        let (mut best_owl, mut best_duck) = (f64::MAX, f64::MAX);
        let mut report = serde_json::Value::Null;
        for _ in 0..3 {
            let (secs, r) = owl_crawl(work.path(), &dir);
            best_owl = best_owl.min(secs);
            report = r;
            let (secs, rows) = duckdb(&py, &sql);
            assert_eq!(rows, (n * ROWS) as u64, "DuckDB counted the wrong rows");
            best_duck = best_duck.min(secs);
        }
        assert_eq!(report["files_read"].as_u64(), Some(n as u64), "{report}");
        let partitions = report["tables"][0]["partitions"].as_u64().unwrap_or(0);
        assert_eq!(partitions, FOLDERS.min(n) as u64, "{report}");
        let per_file = report["bytes_read"].as_u64().unwrap_or(0) as f64 / n as f64;
        let (owl_fps, duck_fps) = (n as f64 / best_owl, n as f64 / best_duck);
        println!(
            "| {name} | {n} | {best_owl:.2} s | {owl_fps:.0} | {best_duck:.2} s | {duck_fps:.0} | {:.2}x | {per_file:.0} B |",
            owl_fps / duck_fps
        );
        std::io::stdout().flush().unwrap();
    }
}
