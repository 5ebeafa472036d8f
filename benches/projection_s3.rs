//! Projected against listed partitions over S3: ten years of hourly folders (`yyyy/MM/dd/HH/`, 87,672 of them,
//! one small NDJSON file each) on a real S3 protocol server on 127.0.0.1 (s3s-fs, SigV4 on), read by the real
//! `owl` binary two ways: a table with partition projection on `dt` (nothing registered, nothing listed to find
//! partitions), and the table the crawler registers from a listing of the whole tree (`partition_0..3`). Prints
//! Markdown for BENCHMARKS.md: the crawl's requests and time, then each query's requests, rows and time.
//!
//! `cargo bench --bench projection_s3` (`OWL_PROJECTION_YEARS=N` for fewer years).

#[path = "../tests/common/s3.rs"]
mod s3server;

use s3server::S3Server;
use serde_json::Value;
use std::time::Instant;

fn main() {
    let years: i32 = std::env::var("OWL_PROJECTION_YEARS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(work.path().join("catalog/default")).unwrap();
    let server = S3Server::start(&["lake"]);
    let root = server.bucket_dir("lake").join("hourly");
    let first = chrono::NaiveDate::from_ymd_opt(2025 - years, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2024, 12, 31)
        .unwrap()
        .and_hms_opt(23, 0, 0)
        .unwrap();
    let mut t = first;
    let mut hours = 0u64;
    while t <= last {
        let dir = root.join(t.format("%Y/%m/%d/%H").to_string());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("part-0.json"),
            format!("{{\"h\": {hours}, \"v\": {}}}\n", hours % 7),
        )
        .unwrap();
        hours += 1;
        t += chrono::Duration::hours(1);
    }
    let owl = |args: &[&str]| -> (Value, u128) {
        let mut c = assert_cmd::Command::new(env!("CARGO_BIN_EXE_owl"));
        server.env(&mut c);
        let start = Instant::now();
        let out = c
            .current_dir(work.path())
            .env_remove("OWL_CATALOG")
            .env_remove("OWL_DATABASE")
            .args(args)
            .output()
            .unwrap();
        let ms = start.elapsed().as_millis();
        assert!(
            out.status.success(),
            "owl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            ms,
        )
    };
    let range = format!(
        "{},{}",
        first.format("%Y/%m/%d/%H"),
        last.format("%Y/%m/%d/%H")
    );
    owl(&[
        "query",
        &format!(
            "CREATE EXTERNAL TABLE projected (h bigint, v bigint) PARTITIONED BY (dt string) \
             ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://lake/hourly/' \
             TBLPROPERTIES ('projection.enabled'='true', 'projection.dt.type'='date', \
             'projection.dt.format'='yyyy/MM/dd/HH', 'projection.dt.range'='{range}', \
             'projection.dt.interval'='1', 'projection.dt.interval.unit'='HOURS', \
             'storage.location.template'='s3://lake/hourly/${{dt}}/')"
        ),
    ]);
    server.reset();
    let (crawl, ms) = owl(&["crawl", "s3://lake/hourly", "-f", "json"]);
    let c = server.counts();
    println!(
        "{hours} hourly folders ({years} years). Crawl of s3://lake/hourly (the listed table `hourly`, {} partitions): \
         {} files read, server LIST {}, GET {}; {ms} ms.\n",
        crawl["tables"][0]["partitions"], crawl["files_read"], c.list, c.get
    );
    let queries: [(&str, &str, &str); 4] = [
        (
            "one hour",
            "dt = '2024/06/01/10'",
            "partition_0 = 2024 AND partition_1 = 6 AND partition_2 = 1 AND partition_3 = 10",
        ),
        (
            "one day (a range)",
            "dt BETWEEN '2024/06/01/00' AND '2024/06/01/23'",
            "partition_0 = 2024 AND partition_1 = 6 AND partition_2 = 1",
        ),
        (
            "one month (a range)",
            "dt >= '2024/06/01/00' AND dt < '2024/07/01/00'",
            "partition_0 = 2024 AND partition_1 = 6",
        ),
        (
            "one hour of every day of a year (a LIKE)",
            "dt LIKE '2024/%/10'",
            "partition_0 = 2024 AND partition_3 = 10",
        ),
    ];
    println!("| query | table | rows | sum(h) | LIST | GET | elapsed (owl) | wall (process) |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, projected, listed) in queries {
        let mut sums = Vec::new();
        for (table, filter) in [("projected", projected), ("hourly", listed)] {
            server.reset();
            let (doc, ms) = owl(&[
                "query",
                "-f",
                "json",
                &format!("SELECT count(*), sum(h) FROM {table} WHERE {filter}"),
            ]);
            let c = server.counts();
            let row = &doc["rows"][0];
            sums.push(row.clone());
            println!(
                "| {name} | {table} | {} | {} | {} | {} | {} ms | {ms} ms |",
                row[0], row[1], c.list, c.get, doc["stats"]["elapsed_ms"]
            );
        }
        assert_eq!(sums[0], sums[1], "{name}: the two tables disagree");
    }
}
