//! Glue's ETL transforms as SQL through the real `owl` binary: `drop_null_fields` on generated nulls, checked
//! against the generator's own record of which columns got a value; in a query, a CTAS (the Glue job's
//! "transform, then write"), an estimate, and with bad arguments. Bytes are checked against the files' sizes.

mod common;

use common::{Fixture, stat};
use serde_json::{Value, json};

/// An NDJSON table `wide` of `rows` rows and columns c0..c9, where column i holds a value with probability p[i]
/// (0 = never); a missing value is a JSON null or a missing key, in turn. Returns (the file, which columns got a
/// value, which got a value other than '' and 'null').
fn wide(f: &Fixture, rows: usize, p: [u32; 10]) -> (String, Vec<bool>, Vec<bool>) {
    let mut seed = 11u64;
    let mut next = move |m: u32| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % m as u64) as u32
    };
    let mut text = String::new();
    let mut valued = vec![false; 10];
    let mut real = vec![false; 10];
    for r in 0..rows {
        let mut row = serde_json::Map::new();
        for (i, &pi) in p.iter().enumerate() {
            let v = if next(100) < pi {
                valued[i] = true;
                // Even columns are numbers, odd ones text; columns 7 and 9 hold only '' or 'null' text.
                match i {
                    7 => json!(""),
                    9 => json!("null"),
                    _ if i % 2 == 0 => {
                        real[i] = true;
                        json!(r * 10 + i)
                    }
                    _ => {
                        real[i] = true;
                        json!(format!("v{r}"))
                    }
                }
            } else if r % 2 == 0 {
                continue;
            } else {
                Value::Null
            };
            row.insert(format!("c{i}"), v);
        }
        text.push_str(&Value::Object(row).to_string());
        text.push('\n');
    }
    std::fs::create_dir_all(f.path().join("lake/wide")).unwrap();
    std::fs::write(f.path().join("lake/wide/wide.json"), &text).unwrap();
    // Every column typed as the generator meant (a crawler cannot type a column with no value).
    let cols = (0..10)
        .map(|i| format!("c{i} {}", if i % 2 == 0 { "bigint" } else { "string" }))
        .collect::<Vec<_>>()
        .join(", ");
    f.run_ok(&[
        "query",
        &format!("CREATE EXTERNAL TABLE wide ({cols}) STORED AS JSONFILE LOCATION 'lake/wide/'"),
    ]);
    (text, valued, real)
}

fn names(doc: &Value) -> Vec<String> {
    doc["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn drop_null_fields_keeps_exactly_the_columns_that_hold_a_value() {
    let f = Fixture::new();
    // c1, c4 and c8 never get a value; c7 only '' and c9 only 'null' text; the rest some or all.
    let (text, valued, real) = wide(&f, 500, [100, 0, 50, 3, 0, 97, 1, 40, 0, 60]);
    let kept = |which: &[bool]| -> Vec<String> {
        (0..10)
            .filter(|&i| which[i])
            .map(|i| format!("c{i}"))
            .collect()
    };
    let doc = f.json("SELECT * FROM drop_null_fields(TABLE wide)");
    assert_eq!(names(&doc), kept(&valued));
    // The rows are the table's rows in those columns.
    let all = f.json(&format!("SELECT {} FROM wide", kept(&valued).join(", ")));
    assert_eq!(doc["rows"], all["rows"]);
    // Two reads of the file: the counts, then the rows.
    assert_eq!(stat(&doc, "bytes_scanned"), 2 * text.len() as u64);
    // '' and 'null' text counted as NULL (Glue Studio's choices) drop c7 and c9 too.
    let doc = f.json(
        "SELECT * FROM drop_null_fields(TABLE wide, empty_strings => true, null_strings => true) LIMIT 1",
    );
    assert_eq!(names(&doc), kept(&real));
    let doc = f.json("SELECT * FROM drop_null_fields(TABLE wide, empty_strings => true) LIMIT 1");
    let mut only_empty = valued.clone();
    only_empty[7] = false;
    assert_eq!(names(&doc), kept(&only_empty));
    // Over a query: the columns with a value among its rows (c6 has one value in 500 rows, none in the first
    // ten), joined and aliased like any table.
    let doc =
        f.json("SELECT t.* FROM drop_null_fields(TABLE (SELECT * FROM wide WHERE c0 < 100)) AS t");
    let first_ten: Vec<String> = f.json("SELECT * FROM wide WHERE c0 < 100")["rows"]
        .as_array()
        .unwrap()
        .iter()
        .fold(vec![false; 10], |mut seen, r| {
            for (i, v) in r.as_array().unwrap().iter().enumerate() {
                seen[i] |= !v.is_null();
            }
            seen
        })
        .iter()
        .enumerate()
        .filter(|(_, s)| **s)
        .map(|(i, _)| format!("c{i}"))
        .collect();
    assert_eq!(names(&doc), first_ten);
    // A table with no rows keeps its columns (nothing says they are empty).
    let doc = f.json("SELECT * FROM drop_null_fields(TABLE (SELECT * FROM wide WHERE c0 < 0))");
    assert_eq!(names(&doc).len(), 10);
}

#[test]
fn a_glue_job_as_ctas_writes_the_table_without_its_empty_columns() {
    let f = Fixture::new();
    let (text, valued, _) = wide(&f, 200, [100, 0, 50, 3, 0, 97, 1, 40, 0, 60]);
    // The estimate prices both reads without running either.
    let out = f.run_ok(&[
        "estimate",
        "-f",
        "json",
        "SELECT * FROM drop_null_fields(TABLE wide)",
    ]);
    let est: Value = serde_json::from_slice(&out).unwrap();
    let est = &est["statements"][0];
    assert_eq!(
        est["bytes_scanned"].as_u64(),
        Some(2 * text.len() as u64),
        "{est}"
    );
    assert_eq!(est["files"], 2, "{est}");
    f.run_ok(&[
        "query",
        "CREATE TABLE clean WITH (format = 'PARQUET', external_location = 'lake/clean/') AS \
         SELECT * FROM drop_null_fields(TABLE wide)",
    ]);
    let doc = f.json("SELECT * FROM clean LIMIT 1");
    let want: Vec<String> = (0..10)
        .filter(|&i| valued[i])
        .map(|i| format!("c{i}"))
        .collect();
    assert_eq!(names(&doc), want);
    let doc = f.json("SELECT count(*) FROM clean");
    assert_eq!(doc["rows"][0][0], 200);
}

#[test]
fn bad_drop_null_fields_calls_are_named() {
    let f = Fixture::new();
    for (sql, says) in [
        (
            "SELECT * FROM drop_null_fields(TABLE (SELECT CAST(NULL AS INT) AS x))",
            "every column of its table is NULL in every row",
        ),
        (
            "SELECT * FROM drop_null_fields(TABLE docs, colour => 'red')",
            "unknown option `colour`",
        ),
        (
            "SELECT * FROM drop_null_fields(TABLE docs, empty_strings => 'maybe')",
            "`empty_strings` is true or false",
        ),
        (
            "SELECT * FROM drop_null_fields(42)",
            "its first argument is a table",
        ),
    ] {
        f.fails_naming(sql, says);
    }
}

#[test]
fn owl_etl_runs_a_glue_job_file_and_reports_its_bill() {
    let f = Fixture::new();
    let (text, valued, _) = wide(&f, 300, [100, 0, 50, 3, 0, 97, 1, 40, 0, 60]);
    std::fs::write(
        f.path().join("job.sql"),
        "-- A Glue job: clean a table, then write it as Parquet.\n\
         CREATE TABLE clean WITH (format = 'PARQUET', external_location = 'lake/clean/') AS\n\
         SELECT * FROM drop_null_fields(TABLE wide);\n\
         -- owl:expect rows = 1\n\
         SELECT count(*) FROM clean;\n",
    )
    .unwrap();
    f.run_ok(&["etl", "job.sql", "--report", "report.json"]);
    let report: Value =
        serde_json::from_slice(&std::fs::read(f.path().join("report.json")).unwrap()).unwrap();
    let statements = report["statements"].as_array().unwrap();
    assert_eq!(statements.len(), 2, "{report}");
    assert!(
        statements.iter().all(|s| s["state"] == "SUCCEEDED"),
        "{report}"
    );
    // The CTAS read the file twice: the counts, then the rows it wrote.
    assert_eq!(
        statements[0]["bytes_scanned"].as_u64(),
        Some(2 * text.len() as u64)
    );
    let kept = valued.iter().filter(|v| **v).count();
    assert_eq!(names(&f.json("SELECT * FROM clean LIMIT 1")).len(), kept);
    // A failing job stops at its statement, as a Glue job run fails.
    std::fs::write(
        f.path().join("bad.sql"),
        "SELECT * FROM drop_null_fields(TABLE nope);\nSELECT 1;\n",
    )
    .unwrap();
    let out = f.owl().args(["etl", "bad.sql"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.sql:1:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
