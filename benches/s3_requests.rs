//! Requests and bytes per query over S3: the web-log sample uploaded to a real S3 protocol server on 127.0.0.1
//! (s3s-fs, SigV4 on), crawled, and queried by the real `owl` binary. Prints a Markdown table for
//! BENCHMARKS.md with owl's meter next to the server's own counts.
//!
//! `cargo bench --bench s3_requests`

#[path = "../tests/common/s3.rs"]
mod s3server;

use s3server::{S3Server, upload};
use serde_json::Value;

const QUERIES: [(&str, &str); 5] = [
    (
        "one day, count",
        "SELECT count(*) FROM {t} WHERE month = 1 AND day = 2",
    ),
    (
        "status histogram",
        "SELECT status, count(*) FROM {t} GROUP BY status",
    ),
    (
        "top paths",
        "SELECT path, count(*) AS n FROM {t} GROUP BY path ORDER BY n DESC LIMIT 10",
    ),
    (
        "p95 latency",
        "SELECT approx_percentile_cont(latency_ms, 0.95) FROM {t}",
    ),
    ("first rows", "SELECT * FROM {t} LIMIT 10"),
];

const TABLES: [&str; 4] = [
    "weblogs_csv",
    "weblogs_csv_gz",
    "weblogs_ndjson",
    "weblogs_parquet",
];

fn main() {
    let work = tempfile::tempdir().unwrap();
    owl::sample::generate(work.path()).unwrap();
    std::fs::create_dir_all(work.path().join("catalog/default")).unwrap();
    let server = S3Server::start(&["lake"]);
    upload(
        &work.path().join("sample-data"),
        &server.bucket_dir("lake").join("sample-data"),
    );
    let owl = |args: &[&str]| -> Value {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_owl"));
        server.env(&mut c);
        let out = c
            .current_dir(work.path())
            .env_remove("OWL_CATALOG")
            .env_remove("OWL_DATABASE")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "owl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    server.reset();
    let crawl = owl(&["crawl", "s3://lake/sample-data", "-f", "json"]);
    let c = server.counts();
    println!(
        "crawl of s3://lake/sample-data: {} files seen, {} read, {} tables; bytes read {} (server sent {}); \
         server GET {}, LIST {}\n",
        crawl["files_seen"],
        crawl["files_read"],
        crawl["tables"].as_array().map_or(0, Vec::len),
        crawl["bytes_read"],
        c.body_bytes,
        c.get,
        c.list,
    );
    println!(
        "| query | table | rows | bytes scanned | server bytes | GET | LIST | HEAD | billed | cost | elapsed |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, sql) in QUERIES {
        for t in TABLES {
            let sql = sql.replace("{t}", t);
            server.reset();
            let doc = owl(&["query", "-f", "json", &sql]);
            let s = &doc["stats"];
            let c = server.counts();
            let mark = if s["bytes_scanned"].as_u64() == Some(c.body_bytes) {
                ""
            } else {
                " (MISMATCH)"
            };
            println!(
                "| {name} | {t} | {} | {} | {}{mark} | {} | {} | {} | {} | ${:.6} | {} ms |",
                s["rows"],
                s["bytes_scanned"],
                c.body_bytes,
                s["requests"]["get"],
                s["requests"]["list"],
                s["requests"]["head"],
                s["billed_bytes"],
                s["cost_usd"].as_f64().unwrap_or(0.0),
                s["elapsed_ms"],
            );
        }
    }
}
