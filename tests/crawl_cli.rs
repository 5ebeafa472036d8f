//! `owl crawl` through the real binary, on layouts built at test time.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::Path;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, bytes).unwrap();
}

/// Crawl `args` in `dir` with a JSON report; return (exit code, report, stderr).
fn crawl(f: &Fixture, args: &[&str]) -> (i32, Value, String) {
    let out = f
        .owl()
        .arg("crawl")
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code().unwrap(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The same CSV with one more column, `country`, set to `NL` on every row (schema drift).
fn with_country_column(csv: &str) -> String {
    csv.lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                format!("{l},country\n")
            } else {
                format!("{l},NL\n")
            }
        })
        .collect()
}

fn changes(report: &Value) -> Vec<(String, String)> {
    report["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["change"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn recrawl_changes_nothing_then_sees_new_partitions_and_drift() {
    let f = Fixture::new(); // generated and crawled once
    let before: Vec<Vec<u8>> = walk(&f.path().join("catalog"))
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    let (code, report, _) = crawl(&f, &["sample-data"]);
    assert_eq!(code, 0);
    assert!(
        changes(&report).iter().all(|(_, c)| c == "unchanged"),
        "{report}"
    );
    let after: Vec<Vec<u8>> = walk(&f.path().join("catalog"))
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert_eq!(
        before, after,
        "a recrawl of the same data must not touch the registry"
    );

    // A new day: one partition added, same schema, no new version.
    let src = f.data("weblogs_csv/year=2024/month=02/day=03/part-00000.csv");
    let day = fs::read(&src).unwrap();
    write(
        f.path(),
        "sample-data/weblogs_csv/year=2024/month=02/day=04/part-00000.csv",
        &day,
    );
    let (code, report, _) = crawl(&f, &["sample-data"]);
    assert_eq!(code, 0);
    let t = table_in(&report, "default.weblogs_csv");
    assert_eq!(t["change"], "updated");
    assert_eq!(t["partitions_added"], 1);
    let doc = f.json("SELECT count(*) FROM weblogs_csv WHERE month = 2 AND day = 4");
    assert_eq!(
        doc["rows"][0][0].as_u64().unwrap() + 1,
        day.iter().filter(|b| **b == b'\n').count() as u64
    );

    // Schema drift: a day with an extra column makes a new table version, and old days read it as NULL.
    let text = with_country_column(&String::from_utf8(day).unwrap());
    write(
        f.path(),
        "sample-data/weblogs_csv/year=2024/month=02/day=05/part-00000.csv",
        text.as_bytes(),
    );
    let (_, report, _) = crawl(&f, &["sample-data"]);
    let t = table_in(&report, "default.weblogs_csv");
    assert_eq!(t["change"], "new_version", "{report}");
    let def: Value = f.registry_json("default", "weblogs_csv");
    assert_eq!(def["version_id"], "1");
    assert_eq!(
        def["columns"].as_array().unwrap().last().unwrap()["name"],
        "country"
    );
    assert_eq!(def["versions"][0]["columns"].as_array().unwrap().len(), 11);
    let out = f
        .owl()
        .args(["versions", "weblogs_csv", "-f", "json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["versions"][0]["changes"], serde_json::json!(["created"]));
    assert_eq!(
        v["versions"][1]["changes"],
        serde_json::json!(["added country string"])
    );
    let out = f.owl().args(["versions", "weblogs_csv"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("added country string"));
}

#[test]
fn tables_and_describe_read_the_registry() {
    let f = Fixture::new();
    let out = f.owl().args(["tables", "-f", "json"]).output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables = doc["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 10);
    let pq = tables
        .iter()
        .find(|t| t["table"] == "weblogs_parquet")
        .unwrap();
    assert_eq!(pq["partitions"], 8);
    assert_eq!(
        pq["size_bytes"].as_u64().unwrap(),
        size_of_files(&f.data("weblogs_parquet"), ".parquet")
    );
    // A broken table file is listed with its error; the others still are.
    fs::write(f.path().join("catalog/default/orders.json"), "{").unwrap();
    let out = f.owl().args(["tables", "-f", "json"]).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let orders = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "orders")
        .unwrap()
        .clone();
    assert!(orders["error"].as_str().unwrap().contains("orders.json"));
    let out = f
        .owl()
        .args(["describe", "weblogs_csv_gz"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("csv (gzip)")
            && text.contains("day bigint")
            && text.contains("compressionType=gzip"),
        "{text}"
    );
    let out = f.owl().args(["describe", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("table `default.nope` does not exist"));
}

#[test]
fn junk_is_skipped_with_reasons_and_strict_fails() {
    let f = Fixture::new();
    let root = f.path();
    write(
        root,
        "lake/good/part-0.csv",
        b"id,name,score\n1,a,2.5\n2,b,3.5\n",
    );
    write(root, "lake/good/empty.csv", b"");
    write(
        root,
        "lake/good/junk.csv",
        &[0u8, 159, 146, 150, 0, 1, 2, 3],
    );
    write(root, "lake/good/_SUCCESS", b"");
    write(root, "lake/good/.part-0.csv.crc", b"crc");
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut e, b"id,name,score\n1,a,2.5\n").unwrap();
        e.finish().unwrap()
    };
    write(root, "lake/gz/part-0.csv.gz", &gz[..gz.len() - 5]);
    write(root, "lake/pq/part-0.parquet", b"PAR1 not really PAR1");
    // JSON records without a key (found by fuzzing the classifier): no columns, no table.
    write(root, "lake/keys/part-0.json", b"{}\n{ }\n");
    let (code, report, stderr) = crawl(&f, &["lake"]);
    assert_eq!(code, 0, "skips are warnings: {stderr}");
    let skipped: Vec<(String, String)> = report["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let reason = |name: &str| {
        skipped
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"))
    };
    assert!(reason("empty.csv").contains("empty"));
    assert!(reason("junk.csv").contains("binary") || reason("junk.csv").contains("UTF-8"));
    assert!(reason("part-0.csv.gz").contains("gzip"));
    assert!(reason("part-0.parquet").contains("Parquet"));
    assert!(reason("keys/part-0.json").contains("no key"));
    assert!(
        !skipped
            .iter()
            .any(|(p, _)| p.contains("_SUCCESS") || p.contains(".crc")),
        "hidden files are ignored"
    );
    // Only `good/` holds usable files: one table at `lake/`, partitioned by that folder.
    assert_eq!(
        changes(&report),
        vec![("default.lake".to_string(), "created".to_string())]
    );
    assert!(stderr.contains("skipped 5 files"), "{stderr}");
    let def: Value = f.registry_json("default", "lake");
    assert_eq!(
        def["partition_keys"],
        serde_json::json!([{"name": "partition_0", "type": "string"}])
    );
    assert_eq!(
        def["excluded_files"],
        serde_json::json!([
            "good/empty.csv",
            "good/junk.csv",
            "gz/part-0.csv.gz",
            "keys/part-0.json",
            "pq/part-0.parquet"
        ])
    );
    // The junk next to the good file is not read by queries (Athena would read it and fail).
    let doc = f.json("SELECT sum(score), count(*) FROM lake WHERE partition_0 = 'good'");
    assert_eq!(doc["rows"][0][0].as_f64().unwrap(), 6.0);
    assert_eq!(stat(&doc, "files_read"), 1);

    let (code, _, _) = crawl(&f, &["lake", "--strict"]);
    assert_eq!(code, 1);
}

#[test]
fn headers_quotes_excludes_and_two_datasets() {
    let f = Fixture::new();
    let root = f.path();
    // No header (all strings): Glue's col0.. names.
    write(root, "mix/plain/a.csv", b"x,y\nz,w\n");
    // Quoted fields with commas and newlines.
    write(
        root,
        "mix/quoted/a.csv",
        b"id,comment\n1,\"hello, world\"\n2,\"two\nlines\"\n3,plain\n",
    );
    write(
        root,
        "mix/quoted/skip_me.tmp.csv",
        b"id,comment\n9,excluded\n",
    );
    let (code, report, stderr) = crawl(&f, &["mix", "--exclude", "**/*.tmp.csv"]);
    assert_eq!(code, 0, "{stderr}");
    let mut c = changes(&report);
    c.sort();
    assert_eq!(
        c,
        vec![
            ("default.plain".into(), "created".into()),
            ("default.quoted".into(), "created".into())
        ]
    );
    let plain: Value = f.registry_json("default", "plain");
    assert_eq!(plain["columns"][0]["name"], "col0");
    assert_eq!(plain["format"]["csv"]["has_header"], false);
    let doc = f.json("SELECT count(*), max(comment) FROM quoted");
    assert_eq!(
        doc["rows"][0][0], 3,
        "the excluded file is not read, quoted newlines stay in one row"
    );
    assert_eq!(doc["rows"][0][1], "two\nlines");
}

#[test]
fn dry_run_and_max_tables_write_nothing() {
    let f = Fixture::new();
    write(f.path(), "more/a/x.csv", b"id,v\n1,2\n3,4\n");
    write(f.path(), "more/b/y.json", b"{\"k\": 1}\n{\"k\": 2}\n");
    let before = walk(&f.path().join("catalog"));
    let (code, report, _) = crawl(&f, &["more", "--dry-run"]);
    assert_eq!(code, 0);
    assert_eq!(report["dry_run"], true);
    assert_eq!(changes(&report).len(), 2);
    assert_eq!(walk(&f.path().join("catalog")), before);
    let (code, _, stderr) = crawl(&f, &["more", "--max-tables", "1"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("--max-tables 1") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(walk(&f.path().join("catalog")), before);
    let (code, _, stderr) = crawl(&f, &["no/such/folder"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no/such/folder"), "{stderr}");
}

#[test]
fn on_change_log_leaves_the_table_as_it_is() {
    let f = Fixture::new();
    let day =
        fs::read_to_string(f.data("weblogs_csv/year=2024/month=02/day=03/part-00000.csv")).unwrap();
    let text = with_country_column(&day);
    write(
        f.path(),
        "sample-data/weblogs_csv/year=2024/month=03/day=01/part-00000.csv",
        text.as_bytes(),
    );
    let (code, report, stderr) = crawl(&f, &["sample-data", "--on-change", "log"]);
    assert_eq!(code, 0);
    let t = table_in(&report, "default.weblogs_csv");
    assert_eq!(t["change"], "unchanged");
    assert_eq!(t["schema_change_logged"], true);
    assert!(stderr.contains("schema change logged"), "{stderr}");
    let def: Value = f.registry_json("default", "weblogs_csv");
    assert_eq!(def["version_id"], "0");
    assert_eq!(def["columns"].as_array().unwrap().len(), 11);
    assert_eq!(def["partitions"].as_array().unwrap().len(), 8);
    // The table still reads: the new folder did not become one of its partitions.
    let doc = f.json("SELECT count(*) FROM weblogs_csv");
    assert_eq!(
        doc["rows"][0][0].as_u64().unwrap(),
        owl::sample::weblogs().len() as u64
    );
}

#[test]
fn vanished_tables_and_partitions_follow_on_delete() {
    // deprecate (the default): the table stays, marked; its vanished partition is removed.
    let f = Fixture::new();
    fs::remove_dir_all(f.data("weblogs_ndjson")).unwrap();
    fs::remove_dir_all(f.data("weblogs_csv/year=2024/month=01/day=01")).unwrap();
    let (code, report, _) = crawl(&f, &["sample-data"]);
    assert_eq!(code, 0);
    let c = changes(&report);
    assert!(
        c.contains(&("default.weblogs_ndjson".into(), "deprecated".into())),
        "{c:?}"
    );
    let t = table_in(&report, "default.weblogs_csv");
    assert_eq!(t["partitions_removed"], 1);
    let def: Value = f.registry_json("default", "weblogs_ndjson");
    assert_eq!(def["properties"]["DEPRECATED_BY_CRAWLER"], "true");
    // Deprecated once is reported once.
    let (_, report, _) = crawl(&f, &["sample-data"]);
    assert!(
        changes(&report).iter().all(|(_, c)| c == "unchanged"),
        "{report}"
    );

    // delete: the table goes.
    let f = Fixture::new();
    fs::remove_dir_all(f.data("weblogs_ndjson")).unwrap();
    let (_, report, _) = crawl(&f, &["sample-data", "--on-delete", "delete"]);
    assert!(changes(&report).contains(&("default.weblogs_ndjson".into(), "deleted".into())));
    assert!(
        !f.path()
            .join("catalog/default/weblogs_ndjson.json")
            .exists()
    );

    // log: nothing is removed.
    let f = Fixture::new();
    fs::remove_dir_all(f.data("weblogs_csv/year=2024/month=01/day=01")).unwrap();
    let (_, report, _) = crawl(&f, &["sample-data", "--on-delete", "log"]);
    let t = table_in(&report, "default.weblogs_csv");
    assert_eq!(t["partitions"], 8, "log keeps the vanished partition");
    assert_eq!(t["partitions_removed"], 0);
}

#[test]
fn crawl_reads_bounded_bytes_per_file() {
    // Text samples are whole files here (each is under the 1 MB sample); a Parquet file costs a 16-byte magic
    // probe and its footer read, never its data.
    let f = Fixture::new();
    let (code, report, _) = crawl(&f, &["sample-data", "--dry-run"]);
    assert_eq!(code, 0);
    let mut expect = 0;
    let mut files = 0;
    for p in walk(&f.path().join("sample-data")) {
        let size = fs::metadata(&p).unwrap().len();
        files += 1;
        expect += if p.to_string_lossy().ends_with(".parquet") {
            16 + size.min(owl::config::PARQUET_FOOTER_HINT as u64)
        } else {
            size
        };
    }
    assert_eq!(report["files_seen"], files);
    assert_eq!(report["files_read"], files);
    assert_eq!(report["bytes_read"].as_u64().unwrap(), expect);
}

#[test]
fn killing_a_crawl_leaves_every_registry_file_whole() {
    let f = Fixture::new();
    // Many small datasets with different columns: many tables, many registry writes to interrupt.
    for i in 0..400 {
        write(
            f.path(),
            &format!("many/t{i:03}/part.csv"),
            format!("id,c{i}\n1,2\n3,4\n").as_bytes(),
        );
    }
    let mut child = f.spawn(&["crawl", "many"]);
    // Wait until some tables are written, then kill without warning.
    let dir = f.path().join("catalog/default");
    let started = std::time::Instant::now();
    while fs::read_dir(&dir).unwrap().count() < 20
        && started.elapsed() < std::time::Duration::from_secs(20)
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let written = walk(&dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .count();
    assert!(
        written < 406,
        "the crawl finished before it was killed: the test proved nothing"
    );
    // Every table file that exists parses: written whole or not at all.
    for p in walk(&dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue; // an interrupted temp file: never read
        }
        let text = fs::read_to_string(&p).unwrap();
        serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{name} is torn: {e}"));
    }
    // Every table still reads, and a new crawl finishes the job.
    let doc = f.json("SELECT count(*) FROM weblogs_csv");
    assert_eq!(
        doc["rows"][0][0].as_u64().unwrap(),
        owl::sample::weblogs().len() as u64
    );
    let (code, report, _) = crawl(&f, &["many"]);
    assert_eq!(code, 0);
    assert_eq!(report["tables"].as_array().unwrap().len(), 400);
    let doc = f.json("SHOW TABLES LIKE 't%'");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 400);
}

#[test]
fn bzip2_xz_and_zstd_files_are_crawled_and_queried() {
    use std::io::Write;
    let f = Fixture::new();
    let day = "weblogs_csv/year=2024/month=01/day=02/part-00000.csv";
    let csv = fs::read(f.data(day)).unwrap();
    let json =
        fs::read(f.data("weblogs_ndjson/year=2024/month=01/day=02/part-00000.json")).unwrap();
    let rows = csv.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
    let bz2 = |data: &[u8]| {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let xz = |data: &[u8]| {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let zst = |data: &[u8]| zstd::encode_all(data, 3).unwrap();
    let files = [
        ("lake/csv_bz2/part.csv.bz2", bz2(&csv)),
        ("lake/csv_xz/part.csv.xz", xz(&csv)),
        ("lake/json_zst/part.json.zst", zst(&json)),
    ];
    for (rel, bytes) in &files {
        write(f.path(), rel, bytes);
    }
    let (code, report, stderr) = crawl(&f, &["lake"]);
    assert_eq!(code, 0, "{stderr}");
    for (table, compression) in [("csv_bz2", "bzip2"), ("csv_xz", "xz"), ("json_zst", "zstd")] {
        let t = table_in(&report, &format!("default.{table}"));
        assert_eq!(t["change"], "created", "{t}");
        let reg = f.registry_json("default", table);
        assert_eq!(reg["format"]["compression"], compression, "{reg}");
    }
    for ((rel, bytes), table) in files.iter().zip(["csv_bz2", "csv_xz", "json_zst"]) {
        let doc = f.json(&format!(
            "SELECT count(*), count(DISTINCT request_id) FROM {table}"
        ));
        assert_eq!(doc["rows"][0][0], rows, "{rel}");
        assert_eq!(doc["rows"][0][1], rows, "{rel}");
        // Billed at the stored (compressed) size.
        assert_eq!(stat(&doc, "bytes_scanned"), bytes.len() as u64, "{rel}");
    }
}

#[test]
fn json_array_files_are_crawled_and_queried() {
    let f = Fixture::new();
    let doc = |from: i64, n: i64| {
        let items: Vec<Value> = (from..from + n)
            .map(|i| serde_json::json!({"id": i, "name": format!("item {i}"), "tags": ["a", "b"], "dim": {"w": i * 2}}))
            .collect();
        serde_json::to_vec_pretty(&Value::Array(items)).unwrap()
    };
    let (a, b) = (doc(0, 40), doc(40, 25));
    write(f.path(), "lake/items/a.json", &a);
    write(f.path(), "lake/items/b.json", &b);
    let (code, report, stderr) = crawl(&f, &["lake/items"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(table_in(&report, "default.items")["change"], "created");
    let reg = f.registry_json("default", "items");
    assert_eq!(reg["format"]["classification"], "json");
    assert_eq!(reg["format"]["json_array"], true);
    let q = f.json("SELECT count(*), sum(id), sum(dim.w), max(name) FROM items");
    assert_eq!(q["rows"][0][0], 65);
    assert_eq!(q["rows"][0][1], (0..65).sum::<i64>());
    assert_eq!(q["rows"][0][2], (0..65).map(|i| i * 2).sum::<i64>());
    assert_eq!(q["rows"][0][3], "item 9");
    assert_eq!(stat(&q, "bytes_scanned"), (a.len() + b.len()) as u64);
    // NDJSON beside arrays is another dataset, not a mix.
    let ndjson = b"{\"id\": 1, \"name\": \"x\"}\n{\"id\": 2, \"name\": \"y\"}\n";
    write(f.path(), "lake2/arrays/a.json", &a);
    write(f.path(), "lake2/lines/a.json", ndjson);
    let (code, report, stderr) = crawl(&f, &["lake2"]);
    assert_eq!(code, 0, "{stderr}");
    table_in(&report, "default.arrays");
    table_in(&report, "default.lines");
}

#[test]
fn new_folders_only_reads_just_the_new_folders() {
    let f = Fixture::new();
    let copy = |table: &str, ext: &str| {
        let src = f.data(&format!(
            "{table}/year=2024/month=01/day=02/part-00000.{ext}"
        ));
        let dst = format!("sample-data/{table}/year=2024/month=03/day=01/part-00000.{ext}");
        write(f.path(), &dst, &fs::read(&src).unwrap());
        fs::metadata(src).unwrap().len()
    };
    let csv_size = copy("weblogs_csv", "csv");
    let pq_size = copy("weblogs_parquet", "parquet");
    let rows_day2 =
        f.json("SELECT count(*) FROM weblogs_parquet WHERE month = 1 AND day = 2")["rows"][0][0]
            .as_u64()
            .unwrap();
    let before = f.registry_json("default", "weblogs_parquet")["stats"]["record_count"]
        .as_u64()
        .unwrap();
    let stats_before = f.registry_json("default", "weblogs_parquet")["stats"]["columns"].clone();
    let parts_before = f.registry_json("default", "weblogs_parquet")["partitions"].clone();
    let no_referrer_day2 = f.json(
        "SELECT count(*) FROM weblogs_parquet WHERE month = 1 AND day = 2 AND referrer IS NULL",
    )["rows"][0][0]
        .as_u64()
        .unwrap();

    let (code, report, stderr) = crawl(&f, &["sample-data", "--new-folders-only"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["files_read"], 2, "{report}");
    // The new CSV is read up to the 1 MB sample (all of it), the new Parquet file's footer only.
    let bytes = report["bytes_read"].as_u64().unwrap();
    assert!(bytes >= csv_size && bytes <= csv_size + pq_size, "{bytes}");
    for t in ["weblogs_csv", "weblogs_parquet"] {
        let c = table_in(&report, &format!("default.{t}"));
        assert_eq!(c["change"], "updated", "{c}");
        assert_eq!(c["partitions_added"], 1, "{c}");
    }
    for t in [
        "weblogs_ndjson",
        "weblogs_csv_gz",
        "orders",
        "cloudtrail",
        "alb_logs",
        "vpc_flow_logs",
        "cloudtrail_logs",
    ] {
        assert_eq!(
            table_in(&report, &format!("default.{t}"))["change"],
            "unchanged"
        );
    }
    let reg = f.registry_json("default", "weblogs_parquet");
    assert_eq!(reg["stats"]["record_count"], before + rows_day2);
    // Column statistics: the old ones merged with the new file's footer (a copy of day 2: same bounds).
    let cols = &reg["stats"]["columns"];
    assert_eq!(cols["user_id"], stats_before["user_id"]);
    assert_eq!(
        cols["referrer"]["nulls"].as_u64().unwrap(),
        stats_before["referrer"]["nulls"].as_u64().unwrap() + no_referrer_day2
    );
    // Partition statistics: the known days keep theirs (not read again); the new day's are its file's.
    let parts = reg["partitions"].as_array().unwrap();
    for p in parts_before.as_array().unwrap() {
        let now = parts
            .iter()
            .find(|q| q["location"] == p["location"])
            .unwrap();
        assert_eq!(now["stats"], p["stats"], "{}", p["location"]);
    }
    let new_day = parts
        .iter()
        .find(|q| q["location"] == "year=2024/month=03/day=01/")
        .unwrap();
    let day2 = parts
        .iter()
        .find(|q| q["location"] == "year=2024/month=01/day=02/")
        .unwrap();
    assert_eq!(new_day["stats"]["record_count"], rows_day2);
    assert_eq!(new_day["stats"]["size_bytes"], pq_size);
    assert_eq!(new_day["stats"]["columns"], day2["stats"]["columns"]);
    let march = f.json("SELECT count(*) FROM weblogs_csv WHERE month = 3");
    assert_eq!(march["rows"][0][0], rows_day2);

    // Again: nothing new, nothing read, nothing changed.
    let (code, report, _) = crawl(&f, &["sample-data", "--new-folders-only"]);
    assert_eq!(code, 0);
    assert_eq!(report["files_read"], 0, "{report}");
    assert_eq!(report["bytes_read"], 0);
    assert!(
        report["tables"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["change"] == "unchanged"),
        "{report}"
    );
}

#[test]
fn a_small_parquet_file_is_read_once_whole() {
    let f = Fixture::new();
    // A 2-row Parquet file, far below the 8 KiB footer read.
    f.run_ok(&[
        "query",
        "COPY (SELECT status, path FROM weblogs_parquet LIMIT 2) TO 'small/x.parquet' STORED AS PARQUET",
    ]);
    let small = f.path().join("small/x.parquet");
    let size = fs::metadata(&small).unwrap().len();
    assert!(size < 8192, "{size}");
    let (code, report, stderr) = crawl(&f, &["small"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["files_read"], 1);
    assert_eq!(report["bytes_read"], size, "{report}");
    assert_eq!(table_in(&report, "default.small")["columns"], 2);
}

#[test]
fn text_record_counts_are_exact_or_absent() {
    let f = Fixture::new();
    // The committed sample tables: every text file fits its sample, so the counts are exact (= count(*)).
    for table in [
        "orders",
        "weblogs_csv",
        "weblogs_csv_gz",
        "weblogs_ndjson",
        "cloudtrail",
    ] {
        let doc = f.json(&format!("SELECT count(*) AS n FROM {table}"));
        let n = doc["rows"][0][0].as_u64().unwrap();
        assert_eq!(
            f.registry_json("default", table)["stats"]["record_count"],
            n,
            "{table}"
        );
    }
    // A file longer than the record sample: no guess.
    let mut big = String::from("id,name\n");
    for i in 0..1500 {
        big.push_str(&format!("{i},n{i}\n"));
    }
    write(f.path(), "big/data.csv", big.as_bytes());
    write(f.path(), "small/data.csv", b"id,name\n1,a\n2,b\n");
    let (code, _, stderr) = crawl(&f, &["big", "small"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        f.registry_json("default", "big")["stats"]["record_count"],
        Value::Null
    );
    assert_eq!(
        f.registry_json("default", "small")["stats"]["record_count"],
        2
    );
}
