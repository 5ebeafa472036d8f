//! `owl run` through the real binary: .sql files as CI runs them — order, stops, exit codes, budgets, checks,
//! parameters, reports — with every number checked against the generator or the files' own sizes.

mod common;

use common::*;
use owl::sample::{WEBLOG_DAYS, weblogs};
use serde_json::Value;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn csv_total(f: &Fixture) -> u64 {
    size_of_files(&f.data("weblogs_csv"), ".csv")
}

fn report(f: &Fixture, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(f.path().join(name)).unwrap()).unwrap()
}

#[test]
fn a_folder_runs_in_name_order_with_checks_and_a_report() {
    let f = Fixture::new();
    let logs = weblogs();
    let n = logs.len();
    let dir = f.path().join("checks");
    write(
        &dir,
        "02_second.sql",
        "-- owl:expect rows = 1\n-- owl:expect file = expected/statuses.csv\nSELECT count(DISTINCT status) AS statuses FROM weblogs_csv;\n",
    );
    let statuses = {
        let mut s: Vec<i64> = logs.iter().map(|r| r.status).collect();
        s.sort();
        s.dedup();
        s.len()
    };
    write(
        &dir.join("expected"),
        "statuses.csv",
        &format!("statuses\n{statuses}\n"),
    );
    write(
        &dir,
        "01_first.sql",
        "/* counts; all of them */\nSELECT count(*) AS n\nFROM weblogs_csv; -- trailing; comment\n\n-- owl:expect rows >= 1\nSELECT 'a;b' AS \"x;y\";",
    );
    write(&dir, "notes.txt", "not sql");
    let out = f
        .owl()
        .args([
            "run",
            "checks",
            "-f",
            "csv",
            "--report",
            "report.json",
            "--junit",
            "junit.xml",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("n\n{n}\nx;y\na;b\nstatuses\n{statuses}\n")
    );
    assert!(
        stderr.contains("checks/01_first.sql:2: 1 row in"),
        "{stderr}"
    );
    assert!(
        stderr.contains("checks/02_second.sql:3: 1 row in"),
        "{stderr}"
    );
    let scanned = owl::output::human_bytes(2 * csv_total(&f), owl::cost::Units::Decimal);
    assert!(
        stderr.contains(&format!(
            "run: 3 statements: 3 succeeded, 0 failed, 0 cancelled, 0 not run · scanned {scanned} · billed 20 MB · $0.0001"
        )),
        "{stderr}"
    );

    let r = report(&f, "report.json");
    let st = r["statements"].as_array().unwrap();
    assert_eq!(st.len(), 3);
    let csv_bytes = size_of_files(&f.data("weblogs_csv"), ".csv");
    let first = &st[0];
    assert_eq!(first["file"], "checks/01_first.sql");
    assert_eq!(first["line"], 2);
    assert_eq!(
        first["sql"],
        "/* counts; all of them */\nSELECT count(*) AS n\nFROM weblogs_csv"
    );
    assert_eq!(first["state"], "SUCCEEDED");
    assert_eq!(first["rows"], 1);
    assert_eq!(first["bytes_scanned"], csv_bytes);
    assert_eq!(first["billed_bytes"], 10_000_000);
    assert_eq!(first["cost_usd"], 0.00005);
    assert_eq!(first["query_id"].as_str().unwrap().len(), 36);
    assert_eq!(first["error"], Value::Null);
    assert_eq!(st[1]["line"], 6);
    assert_eq!(st[1]["checks"][0]["check"], "rows >= 1");
    assert_eq!(st[1]["checks"][0]["passed"], true);
    assert_eq!(st[1]["bytes_scanned"], 0);
    // What each statement read of its tables: every CSV file of the table, all its columns (a row format);
    // `owl query -f json`'s own breakdown; none for a statement that scans no file.
    let csv_files = walk(&f.data("weblogs_csv")).len() as u64;
    assert_eq!(first["read"]["files_read"], csv_files, "{first}");
    assert_eq!(first["read"]["files_planned"], csv_files, "{first}");
    assert_eq!(first["read"]["row_format"], true, "{first}");
    assert_eq!(
        first["read"],
        f.json("SELECT count(*) AS n FROM weblogs_csv")["stats"]["read"]
    );
    assert!(st[1].get("read").is_none(), "{}", st[1]);
    assert_eq!(st[2]["file"], "checks/02_second.sql");
    assert_eq!(st[2]["checks"].as_array().unwrap().len(), 2);
    let t = &r["totals"];
    assert_eq!(t["statements"], 3);
    assert_eq!(t["succeeded"], 3);
    assert_eq!(t["bytes_scanned"], 2 * csv_bytes);
    assert_eq!(t["billed_bytes"], 20_000_000);
    assert_eq!(r["exit_code"], 0);

    let junit = std::fs::read_to_string(f.path().join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testsuites name=\"owl run\" tests=\"3\" failures=\"0\""),
        "{junit}"
    );
    assert!(
        junit.contains("<testcase name=\"checks/01_first.sql:2\""),
        "{junit}"
    );
    assert!(junit.contains(&format!(
        "<property name=\"bytes_scanned\" value=\"{csv_bytes}\"/>"
    )));
    assert!(junit.contains("<property name=\"cost_usd\" value=\"0.00005\"/>"));
}

#[test]
fn a_failing_statement_stops_the_run_and_names_its_line() {
    let f = Fixture::new();
    write(
        f.path(),
        "bad.sql",
        "SELECT count(*) FROM weblogs_parquet;\n\nSELECT\n  nope FROM weblogs_parquet;\nSELECT 42;\n",
    );
    let out = f
        .owl()
        .args([
            "run", "bad.sql", "-f", "csv", "--report", "r.json", "--junit", "j.xml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.sql:4:3: error: column `nope` does not exist\n"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("42"));
    let r = report(&f, "r.json");
    let states: Vec<&str> = r["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["SUCCEEDED", "FAILED", "NOT_RUN"]);
    assert_eq!(r["statements"][1]["error"], "column `nope` does not exist");
    assert_eq!(r["statements"][1]["billed_bytes"], 0);
    assert_eq!(r["exit_code"], 1);
    let junit = std::fs::read_to_string(f.path().join("j.xml")).unwrap();
    assert!(junit.contains("failures=\"1\""), "{junit}");
    assert!(junit.contains("<failure message=\"column `nope` does not exist\">"));
    assert!(junit.contains("<skipped"));

    // --continue-on-error runs the rest and still exits 1.
    let out = f
        .owl()
        .args(["run", "bad.sql", "-f", "csv", "--continue-on-error"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("42"));

    // A missing input is named.
    let out = f.owl().args(["run", "nope.sql"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: `nope.sql`: no such .sql file or folder"),
        "{stderr}"
    );

    // A file that does not parse fails before anything runs.
    write(f.path(), "typo.sql", "SELECT 1;\nSELEC 2;\n");
    let out = f.owl().args(["run", "typo.sql"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("typo.sql:2: error:"));
}

#[test]
fn a_scan_budget_cancels_the_query_and_bills_the_cutoff() {
    let f = Fixture::new();
    write(
        f.path(),
        "big.sql",
        "SELECT count(*) FROM weblogs_csv;\nSELECT 1;\n",
    );
    let csv_bytes = size_of_files(&f.data("weblogs_csv"), ".csv");
    let out = f
        .owl()
        .args([
            "--threads",
            "2",
            "run",
            "big.sql",
            "--max-bytes-per-query",
            "100KB",
            "--report",
            "r.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("big.sql:1: CANCELLED (Bytes scanned limit was exceeded)"),
        "{stderr}"
    );
    let r = report(&f, "r.json");
    let s = &r["statements"][0];
    assert_eq!(s["state"], "CANCELLED");
    assert_eq!(s["state_reason"], "Bytes scanned limit was exceeded");
    let scanned = s["bytes_scanned"].as_u64().unwrap();
    // Reads run on their own tasks: on a busy machine the table may be read to its end before the cancel lands;
    // the state and the bill do not depend on it.
    assert!(scanned > 100_000 && scanned <= csv_bytes, "{scanned}");
    // Billed the cutoff (100 KB), which the 10 MB minimum rounds up.
    assert_eq!(s["billed_bytes"], 10_000_000);
    assert_eq!(r["statements"][1]["state"], "NOT_RUN");
    assert_eq!(r["exit_code"], 3);

    // A whole-run cost limit: the first statement costs $0.00005, more than $0.00001.
    let out = f
        .owl()
        .args(["run", "big.sql", "--max-total-cost", "0.00001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than --max-total-cost $0.00001"));
}

#[test]
fn failed_checks_fail_the_run_with_a_diff() {
    let f = Fixture::new();
    write(
        f.path(),
        "checks.sql",
        "-- owl:expect rows = 0\nSELECT DISTINCT method FROM weblogs_parquet;\n-- owl:expect file = want.csv\nSELECT one FROM (VALUES (1), (3)) AS t(one) ORDER BY one;\n",
    );
    write(f.path(), "want.csv", "one\n1\n2\n");
    let methods = {
        let logs = weblogs();
        let mut m: Vec<&str> = logs.iter().map(|r| r.method.as_str()).collect();
        m.sort();
        m.dedup();
        m.len()
    };
    let out = f
        .owl()
        .args([
            "run",
            "checks.sql",
            "--continue-on-error",
            "--report",
            "r.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "checks.sql:2: check failed: rows = 0: expected rows = 0, got {methods}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("line 3: - 2"), "{stderr}");
    assert!(stderr.contains("line 3: + 3"), "{stderr}");
    let r = report(&f, "r.json");
    assert_eq!(r["totals"]["checks_failed"], 2);
    assert_eq!(r["statements"][0]["state"], "SUCCEEDED");
    assert_eq!(r["statements"][0]["checks"][0]["passed"], false);
}

#[test]
fn parameters_are_bound_not_spliced() {
    let f = Fixture::new();
    let logs = weblogs();
    write(
        f.path(),
        "params.sql",
        "SELECT count(*) FROM weblogs_parquet WHERE day = $day AND path = $path;\n",
    );
    let path = "/products";
    let want = logs.iter().filter(|r| r.day == 2 && r.path == path).count();
    let run = |p: &str| {
        let stdout = succeed(
            f.owl()
                .args([
                    "run",
                    "params.sql",
                    "-f",
                    "csv",
                    "--param",
                    "day=2",
                    "--param",
                ])
                .arg(format!("path={p}")),
        );
        String::from_utf8_lossy(&stdout).into_owned()
    };
    assert_eq!(run(path), format!("count(*)\n{want}\n"));
    // Quotes in a value are data: no injection, no syntax error.
    assert_eq!(run("x' OR '1'='1"), "count(*)\n0\n");
    assert_eq!(run("it's \"quoted\"; --"), "count(*)\n0\n");

    // A missing or mistyped value is a clear error.
    let out = f.owl().args(["run", "params.sql"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --param"));
    let out = f
        .owl()
        .args([
            "run",
            "params.sql",
            "--param",
            "day=two",
            "--param",
            "path=/",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--param day=two: not a valid"));
}

#[test]
fn output_dir_saves_results_as_athena_does() {
    let f = Fixture::new();
    let sql = "SELECT status, count(*) AS n FROM weblogs_csv_gz GROUP BY status ORDER BY status";
    write(f.path(), "q.sql", &format!("{sql};\n"));
    let stdout = succeed(
        f.owl()
            .args(["run", "q.sql", "--output", "results", "--report", "r.json"]),
    );
    assert!(stdout.is_empty());
    let r = report(&f, "r.json");
    let id = r["statements"][0]["query_id"].as_str().unwrap();
    let csv = std::fs::read_to_string(f.path().join(format!("results/{id}.csv"))).unwrap();
    let direct = f.run_ok(&["query", "-f", "csv", sql]);
    assert_eq!(csv, String::from_utf8(direct).unwrap());
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(f.path().join(format!("results/{id}.csv.metadata.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta["columns"][1],
        serde_json::json!({"name": "n", "type": "bigint"})
    );
    assert_eq!(
        meta["stats"]["bytes_scanned"],
        r["statements"][0]["bytes_scanned"]
    );
    assert_eq!(
        meta["stats"]["bytes_scanned"].as_u64().unwrap(),
        size_of_files(&f.data("weblogs_csv_gz"), ".csv.gz")
    );
}

#[test]
fn estimates_equal_actuals_without_reading_data() {
    let f = Fixture::new();
    let csv_bytes = size_of_files(&f.data("weblogs_csv"), ".csv");
    let gz_bytes = size_of_files(&f.data("weblogs_csv_gz"), ".csv.gz");
    let day_bytes = size_of_files(&f.data("weblogs_csv/year=2024/month=01/day=02"), ".csv");
    let cases: [(&str, Option<u64>); 6] = [
        ("SELECT * FROM weblogs_parquet", None),
        ("SELECT status, bytes FROM weblogs_parquet", None),
        ("SELECT count(*) FROM weblogs_parquet", None),
        ("SELECT count(*) FROM weblogs_csv", Some(csv_bytes)),
        ("SELECT max(ts) FROM weblogs_csv_gz", Some(gz_bytes)),
        (
            "SELECT count(*) FROM weblogs_csv WHERE month = 1 AND day = 2",
            Some(day_bytes),
        ),
    ];
    for (sql, files_size) in cases {
        let stdout = succeed(f.owl().args(["estimate", "-f", "json", sql]));
        let est: Value = serde_json::from_slice(&stdout).unwrap();
        let e = &est["statements"][0];
        let actual = f.json(sql);
        assert_eq!(
            e["bytes_scanned"], actual["stats"]["bytes_scanned"],
            "{sql}"
        );
        assert_eq!(e["billed_bytes"], actual["stats"]["billed_bytes"], "{sql}");
        if let Some(n) = files_size {
            assert_eq!(e["bytes_scanned"], n, "{sql}");
            assert_eq!(e["read_to_estimate"], 0, "{sql}: text files are not read");
        }
    }
    // Parquet: the estimate read the footers only, far less than the data.
    let out = f
        .owl()
        .args(["estimate", "-f", "json", "SELECT * FROM weblogs_parquet"])
        .output()
        .unwrap();
    let est: Value = serde_json::from_slice(&out.stdout).unwrap();
    // One footer read per file: the last 8 KiB (these footers are smaller than that), or the file if smaller.
    let footers: u64 = walk(&f.data("weblogs_parquet"))
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len().min(8192))
        .sum();
    assert_eq!(est["statements"][0]["read_to_estimate"], footers);
}

#[test]
fn a_dry_run_reads_no_data_runs_no_ddl_and_gates_on_the_estimate() {
    let f = Fixture::new();
    write(
        f.path(),
        "ci.sql",
        "CREATE DATABASE scratch;\nSELECT count(*) FROM weblogs_csv WHERE day = $day;\nSELECT * FROM weblogs_ndjson;\n",
    );
    let json_bytes = size_of_files(&f.data("weblogs_ndjson"), ".json");
    let out = f
        .owl()
        .args([
            "run",
            "ci.sql",
            "--dry-run",
            "--param",
            "day=2",
            "--max-bytes-per-query",
            "1MB",
            "--continue-on-error",
            "--report",
            "r.json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty(), "a dry run printed results");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ci.sql:1: estimate: free (DDL"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "ci.sql:3: error: the estimate, {json_bytes} bytes, exceeds --max-bytes-per-query 1000000"
        )),
        "{stderr}"
    );
    assert!(
        !f.path().join("catalog/scratch").exists(),
        "DDL ran in a dry run"
    );
    let r = report(&f, "r.json");
    let st = r["statements"].as_array().unwrap();
    assert!(st.iter().all(|s| s["state"] == "ESTIMATED"));
    let days: u64 = WEBLOG_DAYS
        .iter()
        .filter(|d| d.2 == 2)
        .map(|&(y, m, d)| {
            size_of_files(
                &f.data(&format!("weblogs_csv/year={y}/month={m:02}/day={d:02}")),
                ".csv",
            )
        })
        .sum();
    assert_eq!(st[1]["estimated_bytes"], days);
    assert_eq!(st[2]["estimated_bytes"], json_bytes);
    assert_eq!(st[1]["bytes_scanned"], 0);
    assert_eq!(r["totals"]["estimated_bytes"], days + json_bytes);

    // A real run with a report shows the estimate next to the actual.
    write(
        f.path(),
        "pq.sql",
        "SELECT path, latency_ms FROM weblogs_parquet;\n",
    );
    let out = f
        .owl()
        .args(["run", "pq.sql", "--report", "r2.json", "-f", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = &report(&f, "r2.json")["statements"][0];
    assert_eq!(s["estimated_bytes"], s["bytes_scanned"]);
}
