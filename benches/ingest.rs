//! Ingest speed: NDJSON records into a Parquet table.
//!
//! 1. `owl ingest events -i records.ndjson` (the whole process, best of 3) against DuckDB converting the same
//!    file with the same schema (`COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet, COMPRESSION
//!    snappy)`, in-process time, best of 3): records/s and MB/s of input.
//! 2. `owl serve`'s Firehose API from boto3 (PutRecordBatch of 500, 4 threads): acknowledged records/s and MB/s
//!    (each call synced to the stream's log before its answer), then the latency from the first put of a 1 MiB
//!    buffer until Athena's API counts every record of it.
//!
//! `cargo bench --bench ingest` (1,000,000 records; `OWL_BENCH_RECORDS=N` for another count). DuckDB comes from
//! the benches' venv (`target/bench-venv`), boto3 (the tests' pin) is added to it on first use.

#[path = "common/venv.rs"]
mod venv;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const COLUMNS: &str = "id bigint, ts timestamp, user_id string, url string, status int, bytes bigint, latency_ms double";

fn generate(path: &Path, n: usize) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut bytes = 0u64;
    for i in 0..n {
        let line = format!(
            "{{\"id\":{i},\"ts\":\"2026-12-06 {:02}:{:02}:{:02}\",\"user_id\":\"user-{}\",\"url\":\"/p/{}/item?q={}\",\"status\":{},\"bytes\":{},\"latency_ms\":{}}}\n",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60,
            i % 9973,
            i % 512,
            i % 7,
            [200, 200, 200, 304, 404, 500][i % 6],
            (i * 7919) % 100_000,
            (i % 1000) as f64 / 8.0
        );
        bytes += line.len() as u64;
        out.write_all(line.as_bytes()).unwrap();
    }
    out.flush().unwrap();
    bytes
}

fn owl(catalog: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_owl"));
    c.arg("--catalog").arg(catalog);
    c
}

/// A fresh registry with the `events` table at `lake/events/`.
fn fresh(work: &Path, name: &str) -> PathBuf {
    let root = work.join(name);
    let _ = std::fs::remove_dir_all(&root);
    let catalog = root.join("catalog");
    std::fs::create_dir_all(&catalog).unwrap();
    let out = owl(&catalog)
        .args(["query"])
        .arg(format!(
            "CREATE EXTERNAL TABLE events ({COLUMNS}) STORED AS PARQUET LOCATION '{}/lake/events/'",
            root.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    catalog
}

fn count(catalog: &Path) -> u64 {
    let out = owl(catalog)
        .args(["query", "-f", "csv", "SELECT count(*) FROM events"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn python() -> PathBuf {
    let bin = venv::venv_bin();
    let py = bin.join("python");
    // The tests' pin (tests/python/requirements.txt): later botocore speaks REST-JSON to Athena.
    let has_boto3 = Command::new(&py)
        .args([
            "-c",
            "import boto3, botocore; assert botocore.__version__ == '1.44.8'",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !has_boto3 {
        let ok = Command::new(bin.join("pip"))
            .args(["install", "--quiet", "boto3==1.44.8", "botocore==1.44.8"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "pip install boto3 failed");
    }
    py
}

fn duckdb(py: &Path, input: &Path, output: &Path) -> (f64, u64) {
    let columns = "{'id': 'BIGINT', 'ts': 'TIMESTAMP', 'user_id': 'VARCHAR', 'url': 'VARCHAR', 'status': 'INTEGER', 'bytes': 'BIGINT', 'latency_ms': 'DOUBLE'}";
    let script = format!(
        "import duckdb, time\nc = duckdb.connect()\nc.sql('SET threads = 2')\nt = time.perf_counter()\n\
         c.sql(\"COPY (SELECT * FROM read_json('{}', format='newline_delimited', columns={columns})) TO '{}' (FORMAT parquet, COMPRESSION snappy)\")\n\
         s = time.perf_counter() - t\nprint(s, c.sql(\"SELECT count(*) FROM '{}'\").fetchall()[0][0])",
        input.display(),
        output.display(),
        output.display()
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace();
    (
        parts.next().unwrap().parse().unwrap(),
        parts.next().unwrap().parse().unwrap(),
    )
}

fn main() {
    let n: usize = std::env::var("OWL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("records.ndjson");
    let bytes = generate(&input, n);
    let mb = bytes as f64 / 1e6;
    eprintln!("{n} records, {mb:.1} MB");
    let py = python();

    let (mut owl_best, mut duck_best) = (f64::MAX, f64::MAX);
    for round in 0..3 {
        let catalog = fresh(work.path(), "cli");
        let t = Instant::now();
        let out = owl(&catalog)
            .args(["--threads", "2", "ingest", "events", "-f", "json", "-i"])
            .arg(&input)
            .output()
            .unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["delivered"], n as u64, "{summary}");
        assert_eq!(count(&catalog), n as u64);
        owl_best = owl_best.min(secs);
        let parquet = work.path().join(format!("duck-{round}.parquet"));
        let (dsecs, rows) = duckdb(&py, &input, &parquet);
        assert_eq!(rows, n as u64);
        duck_best = duck_best.min(dsecs);
        eprintln!("round {round}: owl {secs:.2}s, duckdb {dsecs:.2}s");
    }

    // The server: boto3 puts, then the latency of one 1 MiB buffer.
    let catalog = fresh(work.path(), "serve");
    let mut server = owl(&catalog)
        .args([
            "--threads",
            "2",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-pg",
            "--allow-root",
        ])
        .arg(work.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("owl serve started").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/ingest/firehose_put.py");
    let out = Command::new(&py)
        .arg(script)
        .arg(format!("http://{addr}"))
        .arg(&input)
        .arg("4")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let put_secs = r["seconds"].as_f64().unwrap();
    let latency = r["latency_s"].as_f64().unwrap();

    println!("| path | seconds | records/s | MB/s (input) |");
    println!("|---|---:|---:|---:|");
    for (name, secs) in [
        ("`owl ingest` (whole process)", owl_best),
        ("DuckDB `COPY ... TO parquet` (in-process)", duck_best),
        (
            "`owl serve` Firehose API, boto3 PutRecordBatch ×4 threads (acknowledged)",
            put_secs,
        ),
    ] {
        println!(
            "| {name} | {secs:.2} | {:.0} | {:.1} |",
            n as f64 / secs,
            mb / secs
        );
    }
    println!(
        "\nowl ingest / DuckDB: {:.2}×. PutRecordBatch to queryable for a 1 MiB buffer ({} records): {:.3} s.",
        owl_best / duck_best,
        r["latency_records"],
        latency
    );
}
