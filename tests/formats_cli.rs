//! ORC and Avro through the real binary: written by CTAS with every codec, read back identical to the source,
//! crawled (schema from metadata, Hive partitions, exact counts), partition columns selected and pruned, and the
//! bytes each query scans checked against the files' own metadata.

mod common;

use common::*;
use prost::Message;
use serde_json::Value;
use std::path::Path;

fn rows_of(f: &Fixture, flags: &[&str], sql: &str) -> Vec<u8> {
    let mut args = vec!["query", "-f", "csv"];
    args.extend_from_slice(flags);
    args.push(sql);
    f.run_ok(&args)
}

/// `owl crawl PATH --catalog CATALOG` in the fixture, expected to succeed: its JSON report.
fn crawl_into(f: &Fixture, path: &str, catalog: &str) -> Value {
    let stdout = succeed(
        f.owl()
            .args(["crawl", path, "--catalog", catalog, "--format", "json"]),
    );
    serde_json::from_slice(&stdout).unwrap()
}

fn files_under(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect()
}

/// The bytes owl must read from the uncompressed ORC files under `dir` for a query naming file columns `ids`
/// (ORC column ids: 1 is the first column): the file's tail (the last 4 KiB, or the postscript + footer +
/// metadata when longer), then each stripe's footer and the streams of those columns, a byte never twice.
/// Worked out from each file's own postscript, footer and stripe footers.
fn orc_bytes(dir: &Path, ids: &[u32]) -> u64 {
    use orc_rust::proto::{Footer, PostScript, StripeFooter};
    let mut total = 0;
    for p in files_under(dir, ".orc") {
        let b = std::fs::read(&p).unwrap();
        let size = b.len() as u64;
        let ps_len = u64::from(b[b.len() - 1]);
        let ps = PostScript::decode(&b[b.len() - 1 - ps_len as usize..b.len() - 1]).unwrap();
        assert_eq!(ps.compression(), orc_rust::proto::CompressionKind::None);
        let footer_at = size - 1 - ps_len - ps.footer_length();
        let footer =
            Footer::decode(&b[footer_at as usize..(footer_at + ps.footer_length()) as usize])
                .unwrap();
        let needed = 1 + ps_len + ps.footer_length() + ps.metadata_length();
        let tail_start = size - needed.max(4096.min(size));
        total += size - tail_start;
        let mut add = |start: u64, len: u64| {
            let end = (start + len).min(tail_start);
            total += end.saturating_sub(start);
        };
        for s in &footer.stripes {
            let footer_at = s.offset() + s.index_length() + s.data_length();
            add(footer_at, s.footer_length());
            let sf = StripeFooter::decode(
                &b[footer_at as usize..(footer_at + s.footer_length()) as usize],
            )
            .unwrap();
            let mut at = s.offset();
            for stream in &sf.streams {
                if stream.column() == 0 || ids.contains(&stream.column()) {
                    add(at, stream.length());
                }
                at += stream.length();
            }
        }
    }
    total
}

#[test]
fn orc_and_avro_round_trip_through_ctas_with_every_codec() {
    let f = Fixture::new();
    let all = "SELECT * FROM {t} ORDER BY request_id";
    let source = rows_of(&f, &[], &all.replace("{t}", "weblogs_csv"));
    for (i, spec) in [
        "format = 'ORC'",
        "format = 'ORC', write_compression = 'SNAPPY'",
        "format = 'ORC', write_compression = 'ZSTD'",
        "format = 'ORC', write_compression = 'LZ4'",
        "format = 'ORC', write_compression = 'NONE'",
        "format = 'AVRO'",
        "format = 'AVRO', write_compression = 'SNAPPY'",
        "format = 'AVRO', write_compression = 'ZSTD'",
        "format = 'AVRO', write_compression = 'NONE'",
    ]
    .iter()
    .enumerate()
    {
        let t = format!("copy_{i}");
        let doc = f.json(&format!(
            "CREATE TABLE {t} WITH ({spec}, external_location = 'out/{t}/') AS SELECT * FROM weblogs_csv"
        ));
        assert_eq!(doc["rows"][0][0], 5836, "{spec}");
        assert_eq!(
            stat(&doc, "bytes_scanned"),
            size_of_files(&f.data("weblogs_csv"), ".csv")
        );
        assert_eq!(rows_of(&f, &[], &all.replace("{t}", &t)), source, "{spec}");
        let dir = f.path().join(format!("out/{t}"));
        let files = walk(&dir);
        let on_disk = size_of_files(&dir, "");
        let reg = f.registry_json("default", &t);
        assert_eq!(reg["stats"]["record_count"], 5836, "{spec}");
        assert_eq!(reg["stats"]["size_bytes"], on_disk, "{spec}");
        // Every column of every file: an ORC file all but its 3-byte `ORC` magic, an Avro file whole.
        let doc = f.json(&format!("SELECT * FROM {t}"));
        let orc = spec.contains("ORC");
        let magic = if orc { 3 * files.len() as u64 } else { 0 };
        assert_eq!(stat(&doc, "bytes_scanned"), on_disk - magic, "{spec}");
        assert!(files.iter().all(|p| p.to_string_lossy().ends_with(if orc {
            ".orc"
        } else {
            ".avro"
        })));
    }
}

#[test]
fn orc_reads_its_footer_and_the_named_columns_only_of_the_surviving_partitions() {
    let f = Fixture::new();
    let doc = f.json(
        "CREATE TABLE logs_orc WITH (format = 'ORC', write_compression = 'NONE', \
         external_location = 'out/logs_orc/', partitioned_by = ARRAY['day']) \
         AS SELECT * FROM weblogs_parquet",
    );
    assert_eq!(doc["rows"][0][0], 5836);
    let dir = f.path().join("out/logs_orc");
    let reg = f.registry_json("default", "logs_orc");
    let names: Vec<&str> = reg["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let id = |c: &str| names.iter().position(|n| *n == c).unwrap() as u32 + 1;
    assert_eq!(reg["partitions"].as_array().unwrap().len(), 5);

    // The partition column is selectable and prunes: only day=2's files are read, and of them the `path`
    // column and the footers.
    let q =
        "SELECT day, path, count(*) AS n FROM {t} WHERE day = 2 GROUP BY day, path ORDER BY path";
    let doc = f.json(&q.replace("{t}", "logs_orc"));
    let want = f.json(&q.replace("{t}", "weblogs_parquet"));
    assert_eq!(doc["rows"], want["rows"]);
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        orc_bytes(&dir.join("day=2"), &[id("path")])
    );
    assert_eq!(stat(&doc, "files_read"), 1);
    // count(*): footers only.
    let doc = f.json("SELECT count(*) FROM logs_orc");
    assert_eq!(doc["rows"][0][0], 5836);
    assert_eq!(stat(&doc, "bytes_scanned"), orc_bytes(&dir, &[]));
    // Two columns, every partition.
    let doc = f.json("SELECT sum(bytes), max(latency_ms) FROM logs_orc");
    let want = f.json("SELECT sum(bytes), max(latency_ms) FROM weblogs_parquet");
    assert_eq!(doc["rows"], want["rows"]);
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        orc_bytes(&dir, &[id("bytes"), id("latency_ms")])
    );
    // Estimates price ORC from its footers as a run reads it: the same bytes, without reading the data.
    for (sql, ids) in [
        ("SELECT count(*) FROM logs_orc", vec![]),
        ("SELECT path FROM logs_orc WHERE day = 2", vec![id("path")]),
        ("SELECT * FROM logs_orc", (1..=names.len() as u32).collect()),
    ] {
        let est: Value =
            serde_json::from_slice(&f.run_ok(&["estimate", "-f", "json", sql])).unwrap();
        let e = &est["statements"][0];
        let subdir = if sql.contains("day = 2") {
            dir.join("day=2")
        } else {
            dir.clone()
        };
        assert_eq!(e["bytes_scanned"], orc_bytes(&subdir, &ids), "{sql}");
        assert_eq!(
            e["bytes_scanned"],
            stat(&f.json(sql), "bytes_scanned"),
            "{sql}"
        );
        assert!(
            e["read_to_estimate"].as_u64().unwrap() <= orc_bytes(&subdir, &[]),
            "{sql}"
        );
    }
}

#[test]
fn crawled_orc_and_avro_folders_become_partitioned_tables_with_exact_counts() {
    let f = Fixture::new();
    for (t, fmt) in [("orc_logs", "ORC"), ("avro_logs", "AVRO")] {
        f.json(&format!(
            "CREATE TABLE {t} WITH (format = '{fmt}', external_location = 'lake/{t}/', \
             partitioned_by = ARRAY['day']) AS SELECT * FROM weblogs_parquet"
        ));
    }
    let report = crawl_into(&f, "lake", "lake_catalog");
    for (t, fmt) in [("orc_logs", "orc"), ("avro_logs", "avro")] {
        let entry = table_in(&report, &format!("default.{t}"));
        assert_eq!(entry["format"], fmt);
        assert_eq!(entry["partitions"], 5);
        let path = f.path().join(format!("lake_catalog/default/{t}.json"));
        let reg: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(reg["format"]["classification"], fmt);
        assert_eq!(reg["partition_keys"][0]["name"], "day");
        assert_eq!(reg["partition_keys"][0]["type"], "bigint");
        // ORC footers and (small) whole Avro files hold exact counts.
        assert_eq!(reg["stats"]["record_count"], 5836, "{t}");
        assert_eq!(
            reg["stats"]["size_bytes"],
            size_of_files(&f.path().join(format!("lake/{t}")), "")
        );
        let same_as_ctas = f.registry_json("default", t);
        assert_eq!(
            reg["columns"], same_as_ctas["columns"],
            "{t}: schema from metadata"
        );

        let q = "SELECT day, count(*) AS n, sum(bytes) AS b, min(ts) AS first FROM {t} \
                 WHERE day IN (2, 4) GROUP BY day ORDER BY day";
        let doc = f.json_with(&["--catalog", "lake_catalog"], &q.replace("{t}", t));
        let want = f.json(&q.replace("{t}", "weblogs_parquet"));
        assert_eq!(doc["rows"], want["rows"], "{t}");
        assert_eq!(stat(&doc, "files_read"), 2, "{t}: two partitions read");
        if fmt == "avro" {
            let dir = f.path().join("lake/avro_logs");
            let days =
                size_of_files(&dir.join("day=2"), "") + size_of_files(&dir.join("day=4"), "");
            assert_eq!(
                stat(&doc, "bytes_scanned"),
                days,
                "a row format reads its files whole"
            );
        }
    }
}

#[test]
fn corrupt_orc_and_avro_files_are_named_at_crawl_and_at_query() {
    let f = Fixture::new();
    let write = |rel: &str, bytes: &[u8]| {
        let p = f.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    write(
        "junk/a/part-0.orc",
        b"ORC and then nothing an ORC reader wants\x05",
    );
    write("junk/b/part-0.avro", b"Obj\x01 and nothing else");
    write("junk/c/part-0.csv", b"id,name\n1,a\n2,b\n");
    let report = crawl_into(&f, "junk", "junk_catalog");
    let reasons: Vec<String> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{}: {}", s["path"], s["reason"]))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("part-0.orc") && r.contains("corrupt ORC"))
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("part-0.avro") && r.contains("corrupt Avro"))
    );

    // A registered ORC table whose file is then damaged: the query fails naming the file, and is free.
    f.json(
        "CREATE TABLE o WITH (format = 'ORC', external_location = 'out/o/') AS SELECT * FROM orders",
    );
    let file = files_under(&f.path().join("out/o"), ".orc").remove(0);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(150);
    bytes[149] = 200; // a postscript length past the file's start
    std::fs::write(&file, &bytes).unwrap();
    let (code, stderr) = f.fails("SELECT count(*) FROM o");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("part-00000"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
}

/// NDJSON is read by owl's flat-object decoder with arrow-json behind it (src/formats/ndjson.rs): lines the decoder
/// does not take mid-file (a key twice, an escaped key, an object over two lines, a number where a integer where a
/// float is declared) give the rows arrow-json alone gives, counted here independently with serde_json, and a malformed
/// line fails the query naming the file, both ways.
#[test]
fn ndjson_reads_the_same_rows_with_and_without_its_fast_path() {
    let f = Fixture::new();
    let write = |rel: &str, text: &str| {
        let p = f.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    let mut text = String::new();
    for i in 0..5000u32 {
        let line = match i {
            1000 => r#"{"id": 1000, "id": 1000, "name": "a key twice", "score": 250.0}"#.into(),
            2000 => r#"{"id": 2000, "n\u0061me": "an escaped key", "score": 500.0}"#.into(),
            3000 => "{\"id\": 3000,\n  \"name\": \"over two lines\", \"score\": 750.0}".into(),
            4000 => r#"{"id": 4000, "name": "4000", "score": 1000}"#.into(),
            _ => format!(
                r#"{{ "id":{i}, "name": "n\u00e9 \"{i}\"", "score": {}, "tags": {{"k": [{i}, null]}}, "ok": {} }}"#,
                f64::from(i) / 4.0,
                i % 3 == 0
            ),
        };
        text.push_str(&line);
        text.push_str(if i % 7 == 0 { " \r\n" } else { "\n" });
    }
    write("lake/events/part-0.json", &text);
    write("lake/bad_events/part-0.json", &text);
    crawl_into(&f, "lake/events", "catalog");
    crawl_into(&f, "lake/bad_events", "catalog");
    // Damaged after the crawl (the crawler reads every line and would skip the file), size unchanged.
    let at = text.find(r#""ok": false"#).unwrap();
    let bad = format!("{}\"ok\": fa1se{}", &text[..at], &text[at + 11..]);
    assert_eq!(bad.len(), text.len());
    write("lake/bad_events/part-0.json", &bad);

    // The independent count: serde_json over the whole file.
    let rows: Vec<Value> = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect();
    let (mut ids, mut names, mut oks, mut score) = (0u64, 0u64, 0u64, 0f64);
    for r in &rows {
        ids += r["id"].as_u64().unwrap();
        names += u64::from(!r["name"].is_null());
        oks += u64::from(r["ok"].as_bool() == Some(true));
        score += r["score"].as_f64().unwrap();
    }
    let sql = "SELECT count(*), sum(id), count(name), count(*) FILTER (WHERE ok), sum(score), \
               max(name), min(name) FROM events";
    let fast = f.json_last(&[], &format!("SET owl.ndjson_fast_path = true; {sql}"));
    let slow = f.json_last(&[], &format!("SET owl.ndjson_fast_path = false; {sql}"));
    assert_eq!(fast["rows"], slow["rows"]);
    let row = &fast["rows"][0];
    assert_eq!(row[0].as_u64(), Some(rows.len() as u64), "{row}");
    assert_eq!(row[1].as_u64(), Some(ids), "{row}");
    assert_eq!(row[2].as_u64(), Some(names), "{row}");
    assert_eq!(row[3].as_u64(), Some(oks), "{row}");
    assert_eq!(row[4].as_f64(), Some(score), "{row}");
    assert_eq!(row[5], "over two lines", "{row}");
    assert_eq!(row[6], "4000", "{row}");
    let each = "SELECT id, name, score, ok FROM events ORDER BY id";
    assert_eq!(
        f.json_last(&[], &format!("SET owl.ndjson_fast_path = true; {each}"))["rows"],
        f.json_last(&[], &format!("SET owl.ndjson_fast_path = false; {each}"))["rows"],
    );

    // Which decoder read which rows: the fast path up to the first line it leaves (the key given twice, where
    // that key is read; else the escaped key), arrow-json from there to the end of the range; a sample table
    // the fast path reads whole.
    let scan = |sql: &str| {
        let plan = f.csv_in("default", &format!("EXPLAIN ANALYZE {sql}"));
        let line = plan
            .lines()
            .find(|l| l.contains("json_rows_fast_path"))
            .unwrap_or_else(|| panic!("no NDJSON scan in {plan}"))
            .to_string();
        (
            count_metric(&line, "json_rows_fast_path"),
            count_metric(&line, "json_rows_arrow_json"),
        )
    };
    assert_eq!(scan("SELECT count(id) FROM events"), (1000, 4000));
    assert_eq!(scan("SELECT count(name) FROM events"), (2000, 3000));
    let weblogs = f.json("SELECT count(*) FROM weblogs_ndjson")["rows"][0][0]
        .as_u64()
        .unwrap();
    // DataFusion prints counts to three digits (`5.84 K`).
    let (fast, slow) = scan("SELECT max(user_agent) FROM weblogs_ndjson");
    assert!(
        fast.abs_diff(weblogs) * 200 <= weblogs && slow == 0,
        "{fast} {slow} of {weblogs}"
    );

    for on in ["true", "false"] {
        let (code, stderr) = f.fails(&format!(
            "SET owl.ndjson_fast_path = {on}; SELECT count(name) FROM bad_events"
        ));
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("'1' whilst parsing literal"), "{stderr}");
        assert!(stderr.contains("bad_events/part-0.json"), "{stderr}");
    }
}

/// A field that holds numbers in one file and text in another is crawled as a string (as Glue merges them),
/// and reads back as Athena's JSON SerDe reads it: each number and boolean as its text as written, with the
/// fast path and without (DataFusion's own JSON reader fails on them: "expected string got 42").
#[test]
fn ndjson_numbers_in_a_column_crawled_as_string_read_as_their_text() {
    let f = Fixture::new();
    let dir = f.path().join("lake/codes");
    std::fs::create_dir_all(&dir).unwrap();
    let numbers =
        "{\"id\": 1, \"code\": 42}\n{\"id\": 2, \"code\": -0.50}\n{\"id\": 3, \"code\": true}\n";
    let texts =
        "{\"id\": 4, \"code\": \"x7\"}\n{\"id\": 5, \"code\": null}\n{\"id\": 6, \"code\": 1E+3}\n";
    std::fs::write(dir.join("a.json"), numbers).unwrap();
    std::fs::write(dir.join("b.json"), texts).unwrap();
    let report = crawl_into(&f, "lake/codes", "catalog");
    assert!(report.to_string().contains("codes"), "{report}");
    let types = f.csv_in("default", "DESCRIBE codes");
    assert!(types.contains("code,string"), "{types}");
    // The independent answer: each value's JSON text, strings unquoted.
    let want: Vec<Value> = format!("{numbers}{texts}")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            match &v["code"] {
                Value::Null => Value::Null,
                Value::String(s) => Value::String(s.clone()),
                _ => Value::String(
                    l.split("\"code\": ")
                        .nth(1)
                        .unwrap()
                        .trim_end_matches('}')
                        .to_string(),
                ),
            }
        })
        .collect();
    assert_eq!(want[1], "-0.50");
    for on in ["true", "false"] {
        let doc = f.json_last(
            &[],
            &format!("SET owl.ndjson_fast_path = {on}; SELECT code FROM codes ORDER BY id"),
        );
        let got: Vec<Value> = doc["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(got, want, "fast path {on}");
    }
}

/// CSV is read by owl's record decoder with arrow-csv behind it (src/formats/csv.rs): quoted fields with
/// doubled quotes and delimiters, CRLF endings and blank lines on the fast path; a quoted line break mid-file
/// goes to arrow-csv with the rest; the rows equal arrow-csv's alone and an independent count; a bad value
/// fails naming the file and the line.
#[test]
fn csv_reads_the_same_rows_with_and_without_its_fast_path() {
    let f = Fixture::new();
    let mut text = String::from("id,name,score,day\n");
    let (mut ids, mut names) = (0u64, 0u64);
    for i in 0..5000u64 {
        ids += i;
        let name = match i {
            3000 => "\"over\ntwo lines\"".to_string(),
            _ if i % 5 == 0 => String::new(),
            _ => format!("\"n{i}, \"\"q\"\"\""),
        };
        names += u64::from(!name.is_empty());
        text.push_str(&format!(
            "{i},{name},{},2024-01-{:02}",
            i as f64 / 4.0,
            i % 28 + 1
        ));
        text.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
        if i == 10 {
            text.push('\n');
        }
    }
    let p = f.path().join("lake/people/part-0.csv");
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, &text).unwrap();
    crawl_into(&f, "lake/people", "catalog");

    let sql = "SELECT count(*), sum(id), count(name), max(name), sum(score), min(day) FROM people";
    let fast = f.json_last(&[], &format!("SET owl.csv_fast_path = true; {sql}"));
    let slow = f.json_last(&[], &format!("SET owl.csv_fast_path = false; {sql}"));
    assert_eq!(fast["rows"], slow["rows"]);
    let row = &fast["rows"][0];
    assert_eq!(row[0].as_u64(), Some(5000), "{row}");
    assert_eq!(row[1].as_u64(), Some(ids), "{row}");
    assert_eq!(row[2].as_u64(), Some(names), "{row}");
    assert_eq!(row[3], "over\ntwo lines", "{row}");
    let each = "SELECT * FROM people ORDER BY id";
    assert_eq!(
        f.json_last(&[], &format!("SET owl.csv_fast_path = true; {each}"))["rows"],
        f.json_last(&[], &format!("SET owl.csv_fast_path = false; {each}"))["rows"],
    );
    let plan = f.csv_in("default", "EXPLAIN ANALYZE SELECT count(name) FROM people");
    let line = plan
        .lines()
        .find(|l| l.contains("csv_rows_fast_path"))
        .unwrap_or_else(|| panic!("no CSV scan in {plan}"));
    assert_eq!(
        (
            count_metric(line, "csv_rows_fast_path"),
            count_metric(line, "csv_rows_arrow_csv")
        ),
        (3000, 2000)
    );

    // A value that does not parse, past the fast rows: the file and arrow-csv's line number.
    let at = text.find("\n4100,").unwrap() + 1;
    let bad = format!("{}x{}", &text[..at], &text[at + 1..]);
    std::fs::write(&p, &bad).unwrap();
    let mut lines = Vec::new();
    for on in ["true", "false"] {
        let (code, stderr) = f.fails(&format!(
            "SET owl.csv_fast_path = {on}; SELECT sum(id) FROM people"
        ));
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains("'x100'"), "{stderr}");
        if on == "true" {
            assert!(stderr.contains("people/part-0.csv"), "{stderr}");
        }
        let at = stderr.find("at line ").expect("a line number") + 8;
        lines.push(stderr[at..].split('.').next().unwrap().to_string());
    }
    assert_eq!(lines[0], lines[1]);
}
