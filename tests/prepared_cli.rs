//! Athena's prepared statements: `PREPARE name FROM ...` kept in the work group beside the registry (seen by
//! every later process), `EXECUTE name USING ...` binding the `?`s in order, `DEALLOCATE PREPARE name`; answers
//! and bytes checked against the generator and the files' own sizes.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn prepared_statements_persist_and_bind_their_values_in_order() {
    let f = Fixture::new();
    f.run_ok(&[
        "query",
        "PREPARE hits FROM SELECT count(*) AS n FROM weblogs_csv \
         WHERE month = ? AND day = ? AND status = ?",
    ]);
    let stored = f.path().join("catalog/.prepared/primary/hits.json");
    let doc: Value = serde_json::from_slice(&std::fs::read(&stored).unwrap()).unwrap();
    assert_eq!(doc["statement_name"], "hits");
    assert_eq!(doc["work_group_name"], "primary");

    // Another process runs it: the values bind in the order of the `?`s.
    for (month, day, status) in [(1, 1, 200), (2, 3, 404)] {
        let out = f.json(&format!("EXECUTE hits USING {month}, {day}, {status}"));
        let want = owl::sample::weblogs()
            .iter()
            .filter(|r| r.month == month && r.day == day && r.status == status)
            .count();
        assert_eq!(out["rows"][0][0], want, "{month}/{day}/{status}");
        // Partition pruning works on bound values: one day's file is read.
        let day_dir = f.data(&format!(
            "weblogs_csv/year=2024/month={month:02}/day={day:02}"
        ));
        assert_eq!(stat(&out, "bytes_scanned"), size_of_files(&day_dir, ".csv"));
    }

    // Wrong counts, values that are not literals, unknown names: one line each, nothing run.
    for (sql, says) in [
        ("EXECUTE hits USING 1, 1", "parameter 3"),
        (
            "EXECUTE hits USING 1, 1, 200, 4",
            "4 values given for a statement with 3 parameters",
        ),
        (
            "EXECUTE hits USING 1, day, 200",
            "`day` is not a literal value",
        ),
        ("EXECUTE hits USING 'x', 1, 200", "`x` is not a valid"),
        (
            "EXECUTE nope USING 1",
            "prepared statement `nope` does not exist in work group `primary`",
        ),
        (
            "SELECT count(*) FROM weblogs_csv WHERE day = ?",
            "parameter 1",
        ),
    ] {
        let (_, err) = f.fails(sql);
        assert!(err.contains(says), "{sql}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{sql}: {err}");
    }

    // A name that would leave the folder is refused.
    let (_, err) = f.fails("PREPARE \"../escape\" FROM SELECT 1");
    assert!(err.contains("is not a prepared statement name"), "{err}");
    assert!(!f.path().join("catalog/.prepared/escape.json").exists());

    // PREPARE again replaces it; DEALLOCATE removes it, once.
    f.run_ok(&["query", "PREPARE hits FROM SELECT ? + 1 AS x"]);
    assert_eq!(f.json("EXECUTE hits USING 41")["rows"][0][0], 42);
    f.run_ok(&["query", "DEALLOCATE PREPARE hits"]);
    assert!(!stored.exists());
    let (_, err) = f.fails("DEALLOCATE PREPARE hits");
    assert!(err.contains("does not exist"), "{err}");

    // The history has what was run, as written.
    let history: Value = serde_json::from_slice(&f.run_ok(&["history", "-f", "json"])).unwrap();
    let sql: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sql"].as_str().unwrap())
        .collect();
    assert!(sql.contains(&"EXECUTE hits USING 41"), "{sql:?}");
}

#[test]
fn a_batch_prepares_and_executes_in_order() {
    let f = Fixture::new();
    std::fs::write(
        f.path().join("p.sql"),
        "PREPARE big FROM SELECT count(*) FROM weblogs_csv WHERE bytes > ?;\n\
         EXECUTE big USING 1000;\n\
         EXECUTE big USING 2000;\n\
         DEALLOCATE PREPARE big;\n",
    )
    .unwrap();
    f.run_ok(&["run", "p.sql", "--output", "out", "--report", "r.json"]);
    let report: Value =
        serde_json::from_slice(&std::fs::read(f.path().join("r.json")).unwrap()).unwrap();
    let statements = report["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 4);
    let logs = owl::sample::weblogs();
    for (i, limit) in [(1, 1000), (2, 2000)] {
        let id = statements[i]["query_id"].as_str().unwrap();
        let csv = std::fs::read_to_string(f.path().join(format!("out/{id}.csv"))).unwrap();
        let want = logs.iter().filter(|r| r.bytes > limit).count();
        assert_eq!(csv.lines().nth(1), Some(want.to_string().as_str()), "{csv}");
    }
    assert!(!f.path().join("catalog/.prepared/primary/big.json").exists());
}
