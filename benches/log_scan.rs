//! RegexSerDe against `grep -E -c` and DuckDB on ~1 GB of load balancer log lines: `cargo bench --bench log_scan`.
//!
//! Builds the release `owl`, uses the peers' venv (`target/bench-venv`, DuckDB from PyPI) and runs
//! `benches/logs/log_scan.py` (what it measures and how is described there). Data goes to `target/logs/`.
//! Settings: `OWL_LOGS_MB` (default 1000), `OWL_LOGS_RUNS` (default 3), `OWL_LOGS_WRITE=1` rewrites the table in
//! BENCHMARKS.md.

#[path = "common/venv.rs"]
mod venv;

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = venv::venv_bin();
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let data = root.join("target/logs");
    std::fs::create_dir_all(&data).expect("target/logs");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(root.join("benches/logs/log_scan.py"))
        .args(["--owl", env!("CARGO_BIN_EXE_owl")])
        .arg("--data")
        .arg(&data)
        .args(["--mb", &env("OWL_LOGS_MB", "1000")])
        .args(["--runs", &env("OWL_LOGS_RUNS", "3")]);
    if std::env::var("OWL_LOGS_WRITE").is_ok_and(|v| v == "1") {
        cmd.arg("--write");
    }
    let status = cmd.status().expect("running benches/logs/log_scan.py");
    assert!(status.success(), "the log scan bench failed");
}
