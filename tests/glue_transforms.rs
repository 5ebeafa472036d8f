//! Glue's ETL transforms as SQL through the real `owl` binary: `drop_null_fields` on generated nulls, checked
//! against the generator's own record of which columns got a value; in a query, a CTAS (the Glue job's
//! "transform, then write"), an estimate, and with bad arguments. Bytes are checked against the files' sizes.

mod common;

use common::{Fixture, column_names as names, stat};
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
        (
            "SELECT * FROM drop_null_fields(TABLE docs, body)",
            "`body` is not an argument it takes",
        ),
        (
            "SELECT * FROM tf_idf(TABLE docs, body)",
            "`body` is not an argument it takes",
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

/// People with duplicates as a CRM export has them: each of `n` persons once, some twice or three times more with
/// typos, case, spacing, punctuation and missing values. Returns the NDJSON and each row's person.
fn people(n: usize, seed: u64) -> (String, Vec<usize>) {
    let first = [
        "James",
        "Mary",
        "Robert",
        "Patricia",
        "John",
        "Jennifer",
        "Michael",
        "Linda",
        "David",
        "Elizabeth",
        "William",
        "Barbara",
        "Richard",
        "Susan",
        "Joseph",
        "Jessica",
        "Thomas",
        "Sarah",
        "Charles",
        "Karen",
        "Christopher",
        "Lisa",
        "Daniel",
        "Nancy",
        "Matthew",
        "Betty",
        "Anthony",
        "Sandra",
        "Mark",
        "Margaret",
    ];
    let last = [
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "Hernandez",
        "Lopez",
        "Gonzalez",
        "Wilson",
        "Anderson",
        "Thomas",
        "Taylor",
        "Moore",
        "Jackson",
        "Martin",
        "Lee",
        "Perez",
        "Thompson",
        "White",
        "Harris",
        "Sanchez",
        "Clark",
        "Ramirez",
        "Lewis",
        "Robinson",
    ];
    let cities = [
        "Seattle", "Austin", "Boston", "Denver", "Chicago", "Portland", "Atlanta", "Phoenix",
    ];
    let mut s = seed;
    let mut next = move |m: usize| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as usize) % m
    };
    let typo = |v: &str, k: usize| -> String {
        let mut c: Vec<char> = v.chars().collect();
        if c.len() > 3 {
            let i = 1 + k % (c.len() - 2);
            match k % 3 {
                0 => c.swap(i, i + 1),
                1 => {
                    c.remove(i);
                }
                _ => c.insert(i, c[i]),
            }
        }
        c.into_iter().collect()
    };
    let mut rows = vec![];
    // Distinct persons have distinct names (two people of one name in one city, one without an email, cannot be
    // told apart by anyone).
    let mut names: Vec<(usize, usize)> = (0..first.len())
        .flat_map(|a| (0..last.len()).map(move |b| (a, b)))
        .collect();
    let domains = [
        "example.com",
        "mail.example.org",
        "corp.example.net",
        "example.co.uk",
    ];
    for p in 0..n {
        let (a, b) = names.swap_remove(next(names.len()));
        let (f, l) = (first[a], last[b]);
        let name = format!("{f} {l}");
        let email = match next(3) {
            0 => format!(
                "{}.{}@{}",
                f.to_lowercase(),
                l.to_lowercase(),
                domains[next(4)]
            ),
            1 => format!(
                "{}{}{}@{}",
                &f[..1].to_lowercase(),
                l.to_lowercase(),
                next(10000),
                domains[next(4)]
            ),
            _ => format!(
                "{}_{}@{}",
                l.to_lowercase(),
                f.to_lowercase(),
                domains[next(4)]
            ),
        };
        let city = cities[next(cities.len())];
        rows.push((p, name.clone(), Some(email.clone()), city.to_string()));
        let copies = [0, 0, 1, 1, 2][next(5)];
        for _ in 0..copies {
            let name = match next(4) {
                0 => name.to_uppercase(),
                1 => format!("{}, {f}", l),
                2 => format!("  {name}. "),
                _ => typo(&name, next(100)),
            };
            let email = match next(3) {
                0 => None,
                1 => Some(typo(&email, next(100))),
                _ => Some(email.clone()),
            };
            rows.push((p, name, email, city.to_lowercase()));
        }
    }
    // Shuffled, so duplicates are not side by side.
    for i in (1..rows.len()).rev() {
        rows.swap(i, next(i + 1));
    }
    let text = rows
        .iter()
        .enumerate()
        .map(|(i, (_, name, email, city))| {
            json!({"row_id": i + 1, "name": name, "email": email, "city": city}).to_string() + "\n"
        })
        .collect();
    (text, rows.iter().map(|r| r.0).collect())
}

/// The pairs of rows a `(row_id, match_id)` result puts together (same match_id) against the true ones (same
/// person): (precision, recall, each row's group).
fn precision_recall(
    doc: &Value,
    person: &[usize],
) -> (f64, f64, std::collections::HashMap<u64, i64>) {
    let group: std::collections::HashMap<u64, i64> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_u64().unwrap(), r[1].as_i64().unwrap()))
        .collect();
    assert_eq!(group.len(), person.len());
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for i in 0..person.len() {
        for j in i + 1..person.len() {
            let found = group[&(i as u64 + 1)] == group[&(j as u64 + 1)];
            let truth = person[i] == person[j];
            match (found, truth) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                _ => {}
            }
        }
    }
    let precision = tp as f64 / (tp + fp) as f64;
    let recall = tp as f64 / (tp + fn_) as f64;
    eprintln!(
        "find_matches on {} rows: precision {precision:.3}, recall {recall:.3} ({tp} pairs found right, {fp} wrong, \
         {fn_} missed)",
        person.len()
    );
    (precision, recall, group)
}

#[test]
fn labeled_pairs_tune_the_threshold_toward_precision_or_recall() {
    let f = Fixture::new();
    let (text, person) = people(400, 8);
    std::fs::create_dir_all(f.path().join("lake/people")).unwrap();
    std::fs::write(f.path().join("lake/people/people.json"), &text).unwrap();
    f.run_ok(&["crawl", "lake/people"]);
    // Glue's labeling file: 4 labeling sets, each every row of 50 people, labeled by person: each set holds
    // the matching pairs of those people (their copies) and every pair of strangers among them, as the whole
    // table does.
    let mut labels = String::new();
    for (i, &p) in person.iter().enumerate() {
        if p < 200 {
            labels.push_str(
                &json!({"labeling_set_id": format!("set{}", p / 50), "label": format!("p{p}"), "row_id": i + 1})
                    .to_string(),
            );
            labels.push('\n');
        }
    }
    std::fs::create_dir_all(f.path().join("lake/labels")).unwrap();
    std::fs::write(f.path().join("lake/labels/labels.json"), &labels).unwrap();
    f.run_ok(&["crawl", "lake/labels"]);
    std::fs::create_dir_all(f.path().join("lake/apart")).unwrap();
    std::fs::write(
        f.path().join("lake/apart/apart.json"),
        (1..=20)
            .map(|i| {
                json!({"labeling_set_id": "s", "label": format!("r{i}"), "row_id": i}).to_string()
                    + "\n"
            })
            .collect::<String>(),
    )
    .unwrap();
    let run = |tradeoff: f64| {
        let doc = f.json(&format!(
            "SELECT row_id, match_id FROM find_matches(TABLE people, columns => ARRAY['name', 'email', 'city'], \
             id => 'row_id', labels => 'labels', precision_recall_tradeoff => {tradeoff})"
        ));
        // The people and the labels, each read once.
        assert_eq!(
            stat(&doc, "bytes_scanned"),
            (text.len() + labels.len()) as u64
        );
        let (p, r, _) = precision_recall(&doc, &person);
        (p, r)
    };
    let (p_balanced, r_balanced) = run(0.5);
    assert!(
        p_balanced >= 0.9 && r_balanced >= 0.9,
        "{p_balanced} {r_balanced}"
    );
    let (p_precise, r_precise) = run(0.95);
    let (p_recall, r_recall) = run(0.05);
    assert!(
        p_precise >= p_balanced && p_balanced >= p_recall,
        "{p_precise} {p_balanced} {p_recall}"
    );
    assert!(
        r_precise <= r_balanced && r_balanced <= r_recall,
        "{r_precise} {r_balanced} {r_recall}"
    );
    assert!(
        p_precise > p_recall || r_recall > r_precise,
        "the tradeoff changed nothing"
    );
    // The labels' columns stay out of the result.
    let doc = f.json(
        "SELECT * FROM find_matches(TABLE people, columns => 'name, email', id => 'row_id', labels => 'labels') \
         LIMIT 1",
    );
    assert_eq!(
        names(&doc),
        [
            "row_id",
            "name",
            "email",
            "city",
            "match_id",
            "match_confidence"
        ]
    );
    for (sql, says) in [
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', labels => 'labels')",
            "add `id => 'column'`",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', id => 'row_id', labels => 'labels', \
             threshold => 0.8)",
            "give `labels` or `threshold`, not both",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', id => 'row_id', labels => 'people')",
            "the labels table has no column `labeling_set_id`",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', precision_recall_tradeoff => 0.3)",
            "add `labels => 'table'`",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', id => 'row_id', labels => 'labels', \
             precision_recall_tradeoff => 1)",
            "between 0 and 1",
        ),
        (
            // Every labeled record its own label: no pair to learn a match from.
            "SELECT * FROM find_matches(TABLE people, columns => 'name', id => 'row_id', labels => 'lake/apart/')",
            "the labels hold no matching pair",
        ),
    ] {
        f.fails_naming(sql, says);
    }
}

#[test]
fn find_matches_finds_the_generated_duplicates_with_high_precision_and_recall() {
    let f = Fixture::new();
    let (text, person) = people(400, 5);
    std::fs::create_dir_all(f.path().join("lake/people")).unwrap();
    std::fs::write(f.path().join("lake/people/people.json"), &text).unwrap();
    f.run_ok(&["crawl", "lake/people"]);
    let doc = f.json(
        "SELECT row_id, match_id FROM find_matches(TABLE people, columns => ARRAY['name', 'email', 'city'], \
         id => 'row_id')",
    );
    // One read of the file.
    assert_eq!(stat(&doc, "bytes_scanned"), text.len() as u64);
    let (precision, recall, group) = precision_recall(&doc, &person);
    assert!(precision >= 0.93, "precision {precision}");
    assert!(recall >= 0.9, "recall {recall}");
    // A match_id is its group's smallest row_id; a row alone has no confidence.
    let doc = f.json(
        "SELECT count(*) FROM find_matches(TABLE people, columns => 'name, email, city', id => 'row_id') \
         WHERE match_id > row_id OR (match_confidence IS NULL AND match_id <> row_id)",
    );
    assert_eq!(doc["rows"][0][0], 0);
    // Another order of the same rows (a query sorting them) gives the same groups.
    let again = f.json(
        "SELECT row_id, match_id FROM find_matches(TABLE (SELECT * FROM people ORDER BY name DESC), \
         columns => ARRAY['name', 'email', 'city'], id => 'row_id')",
    );
    for r in again["rows"].as_array().unwrap() {
        assert_eq!(group[&r[0].as_u64().unwrap()], r[1].as_i64().unwrap());
    }
    for (sql, says) in [
        (
            "SELECT * FROM find_matches(TABLE people)",
            "find_matches compares the columns named by `columns",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'nme')",
            "no column `nme` for `columns`",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', threshold => 2)",
            "`threshold` is 0 to 1",
        ),
        (
            "SELECT * FROM find_matches(TABLE people, columns => 'name', id => 'email')",
            "must be an integer column",
        ),
    ] {
        f.fails_naming(sql, says);
    }
}
