//! The benches' Python environment: the peers, pinned, from PyPI, installed once into `target/bench-venv`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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

/// `target/<name>/bin`, the venv made and `packages` installed unless `ready` (given that folder) says they are.
fn venv(name: &str, packages: &[&str], ready: impl Fn(&Path) -> bool) -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(name);
    let bin = venv.join("bin");
    if !ready(&bin) {
        eprintln!("installing {} into {}", packages.join(" "), venv.display());
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "python3 -m venv {} failed", venv.display());
        let installed = Command::new(bin.join("pip"))
            .args(["install", "--quiet"])
            .args(packages)
            .status()
            .is_ok_and(|s| s.success());
        assert!(installed, "pip install of {} failed", packages.join(" "));
    }
    bin
}

/// Whether `bin`'s python runs `check` without error.
fn python_ok(bin: &Path, check: &str) -> bool {
    Command::new(bin.join("python"))
        .args(["-c", check])
        .status()
        .is_ok_and(|s| s.success())
}

/// The venv's `bin/` folder, with every peer installed.
pub fn venv_bin() -> PathBuf {
    venv("bench-venv", PEERS, |bin| {
        python_ok(
            bin,
            "import duckdb, datafusion, sklearn; assert duckdb.__version__ == '2.0.0'; \
             assert datafusion.__version__ == '55.0.0'",
        ) && bin.join("tpchgen-cli").exists()
            && bin.join("duckdb").exists()
    })
}

/// DuckDB's httpfs is an extension DuckDB downloads from extensions.duckdb.org (unreachable here); PyPI has it
/// only up to DuckDB 1.5.5 (`duckdb-extension-httpfs`). The S3 suite's DuckDB is that pair, in a venv of its own.
pub const HTTPFS_PEERS: &[&str] = &["duckdb==1.5.5", "duckdb-extension-httpfs==1.5.5"];

/// The python of `target/bench-venv-httpfs`, with [`HTTPFS_PEERS`] installed.
pub fn httpfs_python() -> PathBuf {
    let check = "import duckdb, duckdb_extension_httpfs; assert duckdb.__version__ == '1.5.5'";
    venv("bench-venv-httpfs", HTTPFS_PEERS, |bin| {
        python_ok(bin, check)
    })
    .join("python")
}

/// datafusion-cli's version, the cold-start peer (the DataFusion owl builds on; not on PyPI).
pub const DATAFUSION_CLI: &str = "55.2.0";

/// `target/bench-datafusion-cli/bin/datafusion-cli`, built once from crates.io (`cargo install --locked`, its own
/// target folder: owl's build is left as it is). A cold build takes about 40 minutes on two cores.
pub fn datafusion_cli() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-datafusion-cli");
    let exe = root.join("bin/datafusion-cli");
    let ready = Command::new(&exe).arg("--version").output().is_ok_and(|o| {
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains(DATAFUSION_CLI)
    });
    if !ready {
        eprintln!(
            "building datafusion-cli {DATAFUSION_CLI} into {}",
            root.display()
        );
        let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["install", "datafusion-cli", "--locked", "--version"])
            .arg(DATAFUSION_CLI)
            .arg("--root")
            .arg(&root)
            .arg("--target-dir")
            .arg(root.join("build"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            built,
            "cargo install datafusion-cli {DATAFUSION_CLI} failed"
        );
    }
    exe
}
