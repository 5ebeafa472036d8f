//! owl against DuckDB and DataFusion, side by side: `cargo bench --bench peers`.
//!
//! Builds the release `owl`, installs the peers (PyPI: duckdb 2.0.0, datafusion 55.0.0, tpchgen-cli 4.0.0,
//! duckdb-cli) into `target/bench-venv` and, for the cold-start suite, datafusion-cli 55.2.0 from crates.io into
//! `target/bench-datafusion-cli`, and runs `benches/peers/peers.py` (the suites, the timing rules and
//! the report are described there). Settings, from the environment:
//! - `OWL_PEERS_SUITES` (default `tpch,weblogs,cold`; `s3`: S3 through a shaped network, below),
//!   `OWL_PEERS_FORMATS` (default `parquet,csv,ndjson`),
//!   `OWL_PEERS_QUERIES` (e.g. `1,6,17`; default all 22), `OWL_PEERS_SF` (default 1), `OWL_PEERS_RUNS`
//!   (default 3), `OWL_PEERS_THREADS` (default: the cores), `OWL_PEERS_WEBLOG_ROWS` (default 4000000),
//!   `OWL_PEERS_WEBLOG_QUERIES` (e.g. `3,7`; default all),
//!   `OWL_PEERS_OWL_SET` (`owl.x=false,...`: settings for owl's queries, for an A/B without a rebuild),
//!   `OWL_PEERS_CRAWL_ONLY=1` (owl's TPC-H tables as `owl crawl` leaves them, no `ANALYZE TABLE`);
//! - `OWL_PEERS_WRITE=1` rewrites the generated section of BENCHMARKS.md from the results; `OWL_PEERS_MERGE=1`
//!   keeps the formats, queries and suites this run skips from the last results (rerun one format, or one query);
//! - the `s3` suite starts the in-process S3 server (s3s-fs, SigV4) and a latency-shaping proxy in front of it
//!   (`OWL_S3_LATENCY_MS`, default 20 ms to first byte; `OWL_S3_MBPS`, default 100 MB/s per connection), and
//!   reads the TPC-H Parquet tables and the web logs through it: owl against DuckDB's httpfs (in
//!   `target/bench-venv-httpfs`), with the server's own request and byte counts per query.
//!
//! Data is generated once into `target/peers/tpch-sf<SF>/` and `target/peers/weblogs/` and reused; results go to `target/peers/results.json`.

#[path = "common/latency_proxy.rs"]
mod latency_proxy;
#[path = "../tests/common/s3.rs"]
mod s3server;
#[path = "common/venv.rs"]
mod venv;

use std::path::PathBuf;
use std::process::Command;

fn main() {
    // `cargo bench` passes harness flags (`--bench`); this runner takes its settings from the environment.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = venv::venv_bin();
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let sf = env("OWL_PEERS_SF", "1");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(root.join("benches/peers/peers.py"))
        .args(["--owl", env!("CARGO_BIN_EXE_owl")])
        .arg("--venv-bin")
        .arg(&bin)
        .arg("--data")
        .arg(root.join(format!("target/peers/tpch-sf{sf}")))
        .arg("--out")
        .arg(root.join("target/peers/results.json"))
        .args(["--suites", &env("OWL_PEERS_SUITES", "tpch,weblogs,cold")])
        .args(["--formats", &env("OWL_PEERS_FORMATS", "parquet,csv,ndjson")])
        .args(["--queries", &env("OWL_PEERS_QUERIES", "")])
        .args(["--sf", &sf])
        .args(["--runs", &env("OWL_PEERS_RUNS", "3")])
        .args(["--weblog-rows", &env("OWL_PEERS_WEBLOG_ROWS", "4000000")])
        .args(["--weblog-queries", &env("OWL_PEERS_WEBLOG_QUERIES", "")]);
    if std::env::var("OWL_PEERS_CRAWL_ONLY").is_ok_and(|v| v == "1") {
        cmd.arg("--crawl-only");
    }
    if let Ok(t) = std::env::var("OWL_PEERS_THREADS") {
        cmd.args(["--threads", &t]);
    }
    // `OWL_PEERS_OWL_SET=owl.remote_streams=false,...`: settings for owl's queries (an A/B without a rebuild).
    for kv in env("OWL_PEERS_OWL_SET", "")
        .split(',')
        .filter(|kv| !kv.is_empty())
    {
        cmd.args(["--owl-set", kv]);
    }
    if std::env::var("OWL_PEERS_WRITE").is_ok_and(|v| v == "1") {
        cmd.arg("--write");
    }
    if std::env::var("OWL_PEERS_MERGE").is_ok_and(|v| v == "1") {
        cmd.arg("--merge");
    }
    let suites = env("OWL_PEERS_SUITES", "tpch,weblogs,cold");
    if suites.split(',').any(|s| s == "cold") {
        cmd.arg("--datafusion-cli").arg(venv::datafusion_cli());
    }
    // S3 through a shaped network: the server, the proxy in front, and the server's counts for the runner.
    let _s3 = suites.split(',').any(|s| s == "s3").then(|| {
        let server = s3server::S3Server::start(&["bench"]);
        let shape = latency_proxy::Shape::from_env();
        let upstream = server.endpoint.trim_start_matches("http://").to_string();
        let proxy = latency_proxy::LatencyProxy::start(&upstream, shape);
        let stats = std::sync::Arc::clone(&server.stats);
        let counts = latency_proxy::serve_json(move |path| {
            use std::sync::atomic::Ordering::SeqCst;
            let all = [
                &stats.body_bytes,
                &stats.get,
                &stats.head,
                &stats.list,
                &stats.other,
            ];
            if path == "/reset" {
                all.iter().for_each(|c| c.store(0, SeqCst));
            }
            let [body, get, head, list, other] = all.map(|c| c.load(SeqCst));
            format!(
                r#"{{"body_bytes":{body},"get":{get},"head":{head},"list":{list},"other":{other},"requests":{}}}"#,
                get + head + list + other
            )
        });
        cmd.args(["--s3-endpoint", &proxy.endpoint])
            .args(["--s3-stats", &counts])
            .arg("--s3-bucket-dir")
            .arg(server.bucket_dir("bench"))
            .args([
                "--s3-shape",
                &format!(
                    r#"{{"latency_ms":{},"mbps":{}}}"#,
                    shape.first_byte.as_millis(),
                    shape.bandwidth / 1_000_000
                ),
            ])
            .arg("--httpfs-python")
            .arg(venv::httpfs_python());
        // The bucket's keys, and nothing of this machine's own AWS set-up.
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("AWS_")) {
            cmd.env_remove(k);
        }
        cmd.env("AWS_CONFIG_FILE", "/nonexistent/owl-bench/config")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/owl-bench/credentials")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ACCESS_KEY_ID", s3server::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", s3server::SECRET_KEY);
        (server, proxy)
    });
    let status = cmd.status().expect("running benches/peers/peers.py");
    assert!(status.success(), "the peer runner failed");
}
