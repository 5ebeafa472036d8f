//! The benches' Python environment: the peers, pinned, from PyPI, installed once into `target/bench-venv`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The pinned peers (what the issue measured against).
pub const PEERS: &[&str] = &[
    "duckdb==2.0.0",
    "datafusion==55.0.0",
    "tpchgen-cli==4.0.0",
    "duckdb-cli",
    // The TF-IDF bench's peer (benches/text/tf_idf.py).
    "scikit-learn==1.9.1",
];

/// The venv's `bin/` folder, with every peer installed.
pub fn venv_bin() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let bin = venv.join("bin");
    let check = "import duckdb, datafusion, sklearn; assert duckdb.__version__ == '2.0.0'; \
                 assert datafusion.__version__ == '55.0.0'";
    let ok = Command::new(bin.join("python"))
        .args(["-c", check])
        .status()
        .is_ok_and(|s| s.success())
        && bin.join("tpchgen-cli").exists()
        && bin.join("duckdb").exists();
    if !ok {
        eprintln!("installing {} into {}", PEERS.join(" "), venv.display());
        let venv_made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(venv_made, "python3 -m venv failed");
        let installed = Command::new(bin.join("pip"))
            .args(["install", "--quiet"])
            .args(PEERS)
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "pip install of the peers failed");
    }
    bin
}

/// DuckDB's httpfs is an extension DuckDB downloads from extensions.duckdb.org (unreachable here); PyPI has it
/// only up to DuckDB 1.5.5 (`duckdb-extension-httpfs`). The S3 suite's DuckDB is that pair, in a venv of its own.
pub const HTTPFS_PEERS: &[&str] = &["duckdb==1.5.5", "duckdb-extension-httpfs==1.5.5"];

/// The python of `target/bench-venv-httpfs`, with [`HTTPFS_PEERS`] installed.
pub fn httpfs_python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv-httpfs");
    let python = venv.join("bin/python");
    let check = "import duckdb, duckdb_extension_httpfs; assert duckdb.__version__ == '1.5.5'";
    let ok = Command::new(&python)
        .args(["-c", check])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "installing {} into {}",
            HTTPFS_PEERS.join(" "),
            venv.display()
        );
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "python3 -m venv failed");
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(HTTPFS_PEERS)
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "pip install of DuckDB's httpfs failed");
    }
    python
}
