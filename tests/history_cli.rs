//! The query history: every statement `owl query`, `owl run` and the shell run leaves one entry beside the
//! registry, read back by `owl history` (and `\history`) with numbers equal to what the query itself reported
//! and to the files' own sizes; torn writes are skipped, concurrent writers never mix entries.

mod common;

use common::*;
use serde_json::Value;
use std::io::Write;

fn history(f: &Fixture, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["history", "-f", "json"];
    all.extend_from_slice(args);
    let doc: Value = serde_json::from_slice(&f.run_ok(&all)).unwrap();
    doc.as_array().expect("an array of entries").clone()
}

fn ids(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["query_id"].as_str().unwrap())
        .collect()
}

#[test]
fn every_statement_leaves_an_entry_with_its_numbers() {
    let f = Fixture::new();
    assert!(history(&f, &[]).is_empty(), "a new registry has no history");
    let csv = size_of_files(&f.data("weblogs_csv"), ".csv");
    let ok = f.json("SELECT count(*) AS n FROM weblogs_csv");
    let (_, err) = f.fails("SELECT nope FROM weblogs_csv");
    assert!(err.contains("nope"), "{err}");
    std::fs::write(
        f.path().join("two.sql"),
        "SELECT 1 AS a;\nSELECT status FROM weblogs_csv WHERE day = 1;\n",
    )
    .unwrap();
    f.run_ok(&["run", "two.sql"]);

    let entries = history(&f, &[]);
    assert_eq!(entries.len(), 4, "{entries:?}");
    // Most recent first: the batch's two, the failure, the first query.
    let first = &entries[3];
    assert_eq!(first["query_id"], ok["stats"]["query_id"]);
    assert_eq!(first["state"], "SUCCEEDED");
    assert_eq!(first["sql"], "SELECT count(*) AS n FROM weblogs_csv");
    assert_eq!(first["database"], "default");
    assert_eq!(first["workgroup"], "primary");
    assert_eq!(first["statement_type"], "DML");
    assert_eq!(first["bytes_scanned"], csv, "the files' own size");
    assert_eq!(first["bytes_scanned"], ok["stats"]["bytes_scanned"]);
    assert_eq!(first["billed_bytes"], ok["stats"]["billed_bytes"]);
    assert_eq!(first["cost_usd"], ok["stats"]["cost_usd"]);
    assert_eq!(first["rows"], 1);
    assert_eq!(first["files_read"], ok["stats"]["files_read"]);
    let total = first["total_ms"].as_u64().unwrap();
    assert!(first["queue_ms"].as_u64().unwrap() + first["engine_ms"].as_u64().unwrap() <= total);
    assert!(first["submitted_at"].as_str().unwrap() <= first["completed_at"].as_str().unwrap());

    let failed = &entries[2];
    assert_eq!(failed["state"], "FAILED");
    assert!(
        failed["state_reason"].as_str().unwrap().contains("nope"),
        "{failed}"
    );
    assert_eq!(failed["billed_bytes"], 0);

    // The batch's second statement: its rows are the generator's.
    let day1 = owl::sample::weblogs().iter().filter(|r| r.day == 1).count();
    assert_eq!(
        entries[0]["sql"],
        "SELECT status FROM weblogs_csv WHERE day = 1"
    );
    assert_eq!(entries[0]["rows"], day1);
    assert_eq!(entries[1]["sql"], "SELECT 1 AS a");

    // Filters.
    let failures = history(&f, &["--state", "failed"]);
    assert_eq!(ids(&failures), [failed["query_id"].as_str().unwrap()]);
    assert!(history(&f, &["--workgroup", "etl"]).is_empty());
    // Without --workgroup, every work group's statements; with it, that one's.
    f.run_ok(&["workgroup", "create", "etl"]);
    f.run_ok(&["--workgroup", "etl", "query", "SELECT 2 AS b"]);
    let all = history(&f, &[]);
    assert_eq!(all.len(), 5);
    assert_eq!(all[0]["workgroup"], "etl");
    assert_eq!(history(&f, &["--workgroup", "etl"]).len(), 1);
    assert_eq!(history(&f, &["--workgroup", "primary"]).len(), 4);
    assert_eq!(history(&f, &["--since", "1d"]).len(), 5);
    assert!(history(&f, &["--since", "2099-01-01"]).is_empty());
    assert_eq!(ids(&history(&f, &["-n", "1"])), ids(&all[..1]));
    let out = f
        .owl()
        .args(["history", "--state", "maybe"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("succeeded, failed or cancelled"));
    let out = f
        .owl()
        .args(["history", "--since", "yesterday"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // The table, for people.
    let table = String::from_utf8(f.run_ok(&["history"])).unwrap();
    assert!(table.contains("SELECT nope FROM weblogs_csv"), "{table}");
    assert!(table.contains("FAILED"), "{table}");

    // A retention of 0 days writes nothing.
    f.run_ok(&["--history-days", "0", "query", "SELECT 2"]);
    assert_eq!(history(&f, &[]).len(), 5);
}

#[test]
fn a_torn_entry_is_skipped_and_the_next_one_is_whole() {
    let f = Fixture::new();
    f.run_ok(&["query", "SELECT 1"]);
    let dir = f.path().join("catalog/.history");
    let day = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // A writer killed in the middle of its entry: no newline at the end.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&day)
        .unwrap()
        .write_all(b"\n{\"query_id\":\"torn\",\"state\":\"SUCC")
        .unwrap();
    f.run_ok(&["query", "SELECT 2"]);
    let out = f.owl().args(["history", "-f", "json"]).output().unwrap();
    assert!(out.status.success());
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let sql: Vec<&str> = entries.iter().map(|e| e["sql"].as_str().unwrap()).collect();
    assert_eq!(sql, ["SELECT 2", "SELECT 1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1 torn history line(s) skipped"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn concurrent_writers_never_mix_entries() {
    let f = Fixture::new();
    let per = 5;
    let children: Vec<_> = (0..8)
        .map(|i| {
            let sql: Vec<String> = (0..per)
                .map(|j| format!("SELECT {i} AS w, {j} AS q"))
                .collect();
            f.spawn(&["query", &sql.join("; ")])
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entries = history(&f, &["-n", "0"]);
    assert_eq!(entries.len(), 8 * per);
    let mut seen: Vec<&str> = entries.iter().map(|e| e["sql"].as_str().unwrap()).collect();
    seen.sort();
    let mut want: Vec<String> = (0..8)
        .flat_map(|i| (0..per).map(move |j| format!("SELECT {i} AS w, {j} AS q")))
        .collect();
    want.sort();
    assert_eq!(seen, want);
    let mut unique = ids(&entries);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8 * per);
}

#[test]
fn the_shell_shows_its_history() {
    let f = Fixture::new();
    let out = f
        .owl()
        .write_stdin("SELECT 41 + 1 AS answer;\n\\history 5\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SELECT 41 + 1 AS answer"), "{text}");
    assert!(text.contains("SUCCEEDED"), "{text}");
    // And `owl history` sees the shell's statement.
    let entries = history(&f, &[]);
    assert_eq!(entries[0]["sql"], "SELECT 41 + 1 AS answer");
}
