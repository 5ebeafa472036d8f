//! TF-IDF of 100,000 documents: owl's `tf_idf` against scikit-learn's `TfidfVectorizer`:
//! `cargo bench --bench text_features`.
//!
//! Builds the release `owl`, uses the peers' venv (`target/bench-venv`, scikit-learn from PyPI) and runs
//! `benches/text/tf_idf.py` (what it measures and how is described there). Data goes to `target/text/`.
//! Settings: `OWL_TEXT_DOCS` (default 100000), `OWL_TEXT_RUNS` (default 3), `OWL_TEXT_WRITE=1` rewrites the
//! table in BENCHMARKS.md.

#[path = "common/venv.rs"]
mod venv;

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = venv::venv_bin();
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let data = root.join("target/text");
    std::fs::create_dir_all(&data).expect("target/text");
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(root.join("benches/text/tf_idf.py"))
        .args(["--owl", env!("CARGO_BIN_EXE_owl")])
        .arg("--data")
        .arg(&data)
        .args(["--docs", &env("OWL_TEXT_DOCS", "100000")])
        .args(["--runs", &env("OWL_TEXT_RUNS", "3")]);
    if std::env::var("OWL_TEXT_WRITE").is_ok_and(|v| v == "1") {
        cmd.arg("--write");
    }
    let status = cmd.status().expect("running benches/text/tf_idf.py");
    assert!(status.success(), "the TF-IDF bench failed");
}
