//! owl against DuckDB and DataFusion, side by side: `cargo bench --bench peers`.
//!
//! Builds the release `owl`, installs the peers (PyPI: duckdb 2.0.0, datafusion 55.0.0, tpchgen-cli 4.0.0,
//! duckdb-cli) into `target/bench-venv`, and runs `benches/peers/peers.py` (the suites, the timing rules and
//! the report are described there). Settings, from the environment:
//! - `OWL_PEERS_SUITES` (default `tpch,weblogs,cold`), `OWL_PEERS_FORMATS` (default `parquet,csv,ndjson`),
//!   `OWL_PEERS_QUERIES` (e.g. `1,6,17`; default all 22), `OWL_PEERS_SF` (default 1), `OWL_PEERS_RUNS`
//!   (default 3), `OWL_PEERS_THREADS` (default: the cores), `OWL_PEERS_WEBLOG_ROWS` (default 4000000);
//! - `OWL_PEERS_WRITE=1` rewrites the generated section of BENCHMARKS.md from the results; `OWL_PEERS_MERGE=1`
//!   keeps the formats, queries and suites this run skips from the last results (rerun one format, or one query).
//!
//! Data is generated once into `target/peers/tpch-sf<SF>/` and `target/peers/weblogs/` and reused; results go to `target/peers/results.json`.

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
        .args(["--weblog-rows", &env("OWL_PEERS_WEBLOG_ROWS", "4000000")]);
    if let Ok(t) = std::env::var("OWL_PEERS_THREADS") {
        cmd.args(["--threads", &t]);
    }
    if std::env::var("OWL_PEERS_WRITE").is_ok_and(|v| v == "1") {
        cmd.arg("--write");
    }
    if std::env::var("OWL_PEERS_MERGE").is_ok_and(|v| v == "1") {
        cmd.arg("--merge");
    }
    let status = cmd.status().expect("running benches/peers/peers.py");
    assert!(status.success(), "the peer runner failed");
}
