//! The web console's speed in Chromium: first contentful paint of the page (fresh loads), the bytes it
//! transfers, and the time from Ctrl+Enter to the first rows in the grid for a one-day query (the page's own
//! performance clock: key press to the grid's first row of the new result). Debian's Chromium driven by
//! playwright-core (`tests/console/measure.mjs`) against a real `owl serve` over the web-log sample.
//!
//! `cargo bench --bench console` (the release `owl` binary; `--profile dev` measures the dev build)

#[path = "common/serve.rs"]
mod serve;

use serve::{KEY, SECRET};
use std::path::Path;
use std::process::Command;

const SQL: &str = "SELECT status, count(*) AS hits, sum(bytes) AS total FROM weblogs_parquet \
                   WHERE month = 1 AND day = 2 GROUP BY status ORDER BY status";

fn main() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && e2e.join("node_modules/playwright-core").exists(),
        "run `cargo test --test console` first: it installs chromium and playwright-core"
    );
    let work = tempfile::tempdir().unwrap();
    owl::sample::generate(work.path()).unwrap();
    let crawl = Command::new(env!("CARGO_BIN_EXE_owl"))
        .current_dir(work.path())
        .args(["crawl", "sample-data"])
        .output()
        .unwrap();
    assert!(crawl.status.success());
    let server = serve::Server::start(work.path(), &["--no-pg"]);
    let config = serde_json::json!({
        "url": format!("http://{}/", server.addr("http://")),
        "key": KEY,
        "secret": SECRET,
        "sql": SQL,
        "loads": 9,
        "warmup": 5,
        "runs": 50,
    });
    let out = Command::new("node")
        .arg(e2e.join("measure.mjs"))
        .env("OWL_MEASURE", config.to_string())
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(out.stdout.trim_ascii()).unwrap_or_else(|_| {
            panic!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert_eq!(report["ok"], true, "{report}");
    let ms = |k: &str| report[k].as_f64().unwrap();
    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| first contentful paint (median of {}) | {:.0} ms |",
        config["loads"],
        ms("paintMedian")
    );
    println!(
        "| bytes transferred by a first load | {:.0} KB |",
        ms("transferred") / 1000.0
    );
    println!(
        "| Ctrl+Enter to first rows (median of {}) | {:.1} ms |",
        config["runs"],
        ms("runToRowsMedian")
    );
    println!(
        "| Ctrl+Enter to first rows (slowest) | {:.1} ms |",
        ms("runToRowsMax")
    );
}
