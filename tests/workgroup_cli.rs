//! Work groups: `primary` always there, others created, updated and deleted; every query runs in one; a
//! disabled one runs nothing; its per-query cutoff cancels a query that reads more, billed the cutoff (as
//! Athena bills it); prepared statements and history entries belong to the work group they ran in.

mod common;

use common::*;
use serde_json::Value;

fn groups(f: &Fixture) -> Vec<Value> {
    let doc: Value =
        serde_json::from_slice(&f.run_ok(&["workgroup", "list", "-f", "json"])).unwrap();
    doc.as_array().unwrap().clone()
}

fn fails_with(f: &Fixture, args: &[&str]) -> String {
    let out = f.owl().args(args).output().unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

#[test]
fn work_groups_are_managed_and_queries_run_in_one() {
    let f = Fixture::new();
    let names = |g: &[Value]| -> Vec<String> {
        g.iter()
            .map(|w| w["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&groups(&f)), ["primary"]);
    f.run_ok(&[
        "workgroup",
        "create",
        "etl",
        "--description",
        "nightly jobs",
    ]);
    assert_eq!(names(&groups(&f)), ["etl", "primary"]);
    let err = fails_with(&f, &["workgroup", "create", "etl"]);
    assert!(err.contains("already exists"), "{err}");
    let err = fails_with(&f, &["workgroup", "create", "../x"]);
    assert!(err.contains("is not a work group name"), "{err}");
    let err = fails_with(
        &f,
        &[
            "workgroup",
            "create",
            "tiny",
            "--bytes-scanned-cutoff",
            "1MB",
        ],
    );
    assert!(err.contains("at least 10000000 bytes"), "{err}");
    let err = fails_with(&f, &["workgroup", "delete", "primary"]);
    assert!(err.contains("cannot be deleted"), "{err}");

    // A query in etl: its history entry says so, and the filter finds it.
    let out = f.run_ok(&[
        "--workgroup",
        "etl",
        "query",
        "-f",
        "json",
        "SELECT count(*) FROM orders",
    ]);
    let doc: Value = serde_json::from_slice(&out).unwrap();
    let history: Value =
        serde_json::from_slice(&f.run_ok(&["history", "-f", "json", "--workgroup", "etl"]))
            .unwrap();
    assert_eq!(history[0]["query_id"], doc["stats"]["query_id"]);
    assert_eq!(history.as_array().unwrap().len(), 1);

    // Prepared statements belong to their work group.
    f.run_ok(&["--workgroup", "etl", "query", "PREPARE n FROM SELECT ? * 2"]);
    let doc: Value = serde_json::from_slice(&f.run_ok(&[
        "--workgroup",
        "etl",
        "query",
        "-f",
        "json",
        "EXECUTE n USING 21",
    ]))
    .unwrap();
    assert_eq!(doc["rows"][0][0], 42);
    let err = fails_with(&f, &["query", "EXECUTE n USING 21"]);
    assert!(
        err.contains("does not exist in work group `primary`"),
        "{err}"
    );

    // Disabled: nothing runs, the failure is in the history, free.
    f.run_ok(&["workgroup", "update", "etl", "--state", "disabled"]);
    let err = fails_with(&f, &["--workgroup", "etl", "query", "SELECT 1"]);
    assert!(err.contains("work group `etl` is disabled"), "{err}");
    let history: Value =
        serde_json::from_slice(&f.run_ok(&["history", "-f", "json", "--workgroup", "etl"]))
            .unwrap();
    assert_eq!(history[0]["state"], "FAILED");
    assert_eq!(history[0]["billed_bytes"], 0);
    let err = fails_with(&f, &["--workgroup", "nope", "query", "SELECT 1"]);
    assert!(err.contains("work group `nope` is not found"), "{err}");

    f.run_ok(&["workgroup", "delete", "etl"]);
    assert_eq!(names(&groups(&f)), ["primary"]);
}

#[test]
fn a_work_groups_cutoff_cancels_a_query_billed_the_cutoff() {
    let f = Fixture::new();
    // A table of about 12 MB: more than Athena's smallest cutoff, 10 MB.
    let dir = f.path().join("lines");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::from("id,payload\n");
    let mut i = 0;
    while text.len() < 12_000_000 {
        text.push_str(&format!("{i},{}\n", "x".repeat(90)));
        i += 1;
    }
    std::fs::write(dir.join("part-0.csv"), &text).unwrap();
    f.run_ok(&["crawl", "lines"]);
    f.run_ok(&[
        "workgroup",
        "create",
        "capped",
        "--bytes-scanned-cutoff",
        "10MB",
    ]);
    // Under its cutoff (primary has none) the whole file is read.
    let whole = f.json_with(&["--threads", "1"], "SELECT count(*) FROM lines");
    assert_eq!(whole["rows"][0][0], i);
    assert_eq!(stat(&whole, "bytes_scanned"), text.len() as u64);

    std::fs::write(f.path().join("q.sql"), "SELECT count(*) FROM lines;\n").unwrap();
    let out = f
        .owl()
        .args([
            "--threads",
            "1",
            "--workgroup",
            "capped",
            "run",
            "q.sql",
            "--report",
            "r.json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("work group `capped`'s cutoff of 10000000 bytes"),
        "{err}"
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(f.path().join("r.json")).unwrap()).unwrap();
    let s = &report["statements"][0];
    assert_eq!(s["state"], "CANCELLED");
    assert_eq!(s["billed_bytes"], 10_000_000, "billed exactly the cutoff");
}
