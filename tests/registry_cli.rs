//! The registry through SQL and the binary: DDL persists, names are validated, broken files are reported
//! without breaking the rest.

mod common;

use common::*;
use owl::sample::weblogs;

#[test]
fn create_describe_show_drop_persist() {
    let f = Fixture::new();
    let n = weblogs().len() as u64;
    f.json("CREATE DATABASE lake");
    f.json(
        "CREATE EXTERNAL TABLE lake.logs STORED AS PARQUET PARTITIONED BY (year, month, day) LOCATION 'sample-data/weblogs_parquet/'",
    );
    // A new process sees it: it is in the registry, not in memory.
    let doc = f.json("SHOW TABLES IN lake");
    assert_eq!(doc["rows"], serde_json::json!([["logs"]]));
    let doc = f.json("SHOW DATABASES");
    assert_eq!(doc["rows"], serde_json::json!([["default"], ["lake"]]));
    let text = std::fs::read_to_string(f.path().join("catalog/lake/logs.json")).unwrap();
    let def: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(def["location"], "../sample-data/weblogs_parquet/");
    assert_eq!(def["partitions"].as_array().unwrap().len(), 8);
    assert_eq!(def["version_id"], "0");
    assert_eq!(def["stats"]["object_count"], 8);

    let doc = f.json("DESCRIBE lake.logs");
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows[0], serde_json::json!(["ts", "timestamp", ""]));
    assert_eq!(
        rows.last().unwrap(),
        &serde_json::json!(["day", "bigint", "partition key"])
    );
    assert_eq!(doc["stats"]["cost_usd"], 0.0);

    let doc = f.json("SELECT count(*) FROM lake.logs WHERE day = 2 AND month = 2");
    let expect = weblogs()
        .iter()
        .filter(|r| (r.month, r.day) == (2, 2))
        .count() as u64;
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), expect);
    assert_eq!(stat(&doc, "files_read"), 1);
    let doc = f.json("SELECT count(*) FROM lake.logs");
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), n);

    let doc =
        f.json("SELECT table_name FROM information_schema.tables WHERE table_schema = 'lake'");
    assert_eq!(doc["rows"], serde_json::json!([["logs"]]));

    let doc = f.json("DROP TABLE lake.logs");
    assert_eq!(doc["stats"]["statement_type"], "DDL");
    assert!(!f.path().join("catalog/lake/logs.json").exists());
    let (code, err) = f.fails("SELECT * FROM lake.logs");
    assert_eq!(code, 1);
    assert!(err.contains("logs"), "{err}");
}

#[test]
fn create_csv_table_with_columns_and_options() {
    let f = Fixture::new();
    f.json(
        "CREATE EXTERNAL TABLE gz (ts TIMESTAMP, request_id VARCHAR, user_id BIGINT, client_ip VARCHAR, method VARCHAR, \
         path VARCHAR, status BIGINT, bytes BIGINT, latency_ms DOUBLE, user_agent VARCHAR, referrer VARCHAR, \
         year BIGINT, month BIGINT, day BIGINT) \
         STORED AS CSV PARTITIONED BY (year, month, day) LOCATION 'sample-data/weblogs_csv_gz/' \
         OPTIONS ('format.has_header' 'true', 'format.compression' 'gzip')",
    );
    let def: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(f.path().join("catalog/default/gz.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(def["format"]["compression"], "gzip");
    // The table properties are Glue's, written as the crawler writes them for the same files.
    assert_eq!(
        def["properties"],
        f.registry_json("default", "weblogs_csv_gz")["properties"]
    );
    assert_eq!(
        def["partition_keys"][2],
        serde_json::json!({"name": "day", "type": "bigint"})
    );
    let doc = f.json("SELECT count(*), sum(bytes) FROM gz WHERE status = 200");
    let logs = weblogs();
    let ok: Vec<_> = logs.iter().filter(|r| r.status == 200).collect();
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), ok.len() as u64);
    assert_eq!(
        doc["rows"][0][1].as_i64().unwrap(),
        ok.iter().map(|r| r.bytes).sum::<i64>()
    );
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        size_of_files(&f.data("weblogs_csv_gz"), ".csv.gz")
    );

    let (code, err) = f.fails(
        "CREATE EXTERNAL TABLE gz STORED AS PARQUET LOCATION 'sample-data/weblogs_parquet/'",
    );
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
    f.json("CREATE EXTERNAL TABLE IF NOT EXISTS gz STORED AS PARQUET LOCATION 'sample-data/weblogs_parquet/'");
}

#[test]
fn names_are_validated_and_nothing_is_written() {
    let f = Fixture::new();
    for sql in [
        "CREATE EXTERNAL TABLE \"Bad-Name\" STORED AS PARQUET LOCATION 'sample-data/weblogs_parquet/'",
        "CREATE DATABASE \"../escape\"",
    ] {
        let (code, err) = f.fails(sql);
        assert_eq!(code, 1);
        assert!(err.contains("invalid") && err.contains("name"), "{err}");
    }
    assert!(!f.path().join("escape").exists());
    let files = walk(&f.path().join("catalog"));
    assert!(
        files.iter().all(|p| !p.to_string_lossy().contains("Bad")),
        "{files:?}"
    );
}

#[test]
fn corrupt_registry_file_is_named_and_the_rest_still_works() {
    let f = Fixture::new();
    std::fs::write(
        f.path().join("catalog/default/weblogs_csv.json"),
        "{\"name\": \"weblogs_csv\", oops",
    )
    .unwrap();
    let (code, err) = f.fails("SELECT count(*) FROM weblogs_csv");
    assert_eq!(code, 1);
    assert!(err.contains("weblogs_csv.json"), "names the file: {err}");
    assert!(err.contains("hint:"), "{err}");
    let doc = f.json("SELECT count(*) FROM weblogs_parquet");
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), weblogs().len() as u64);
    let doc = f.json("SHOW TABLES");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 10);
}

#[test]
fn unknown_tables_bad_sql_and_missing_files() {
    let f = Fixture::new();
    let (code, err) = f.fails("SELECT * FROM no_such_table");
    assert_eq!(code, 1);
    assert!(
        err.contains("no_such_table") && err.lines().count() <= 2,
        "{err}"
    );
    let (code, err) = f.fails("SELEC 1");
    assert_eq!(code, 1);
    assert!(err.starts_with("error: ") && err.contains("SELEC"), "{err}");
    let (code, err) = f.fails("SELECT nope FROM weblogs_csv");
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
    let (code, err) = f.fails("SELECT * FROM 'sample-data/missing.parquet'");
    assert_eq!(code, 1);
    assert!(
        err.contains("no file or folder at `sample-data/missing.parquet`"),
        "{err}"
    );
    let (code, _) = f.fails("");
    assert_eq!(code, 1);
}

#[test]
fn catalog_flag_and_env_pick_the_registry() {
    let f = Fixture::new();
    std::fs::rename(f.path().join("catalog"), f.path().join("reg")).unwrap();
    f.run_ok(&["--catalog", "reg", "query", "SELECT count(*) FROM orders"]);
    let out = f
        .owl()
        .env("OWL_CATALOG", "reg")
        .args(["query", "SHOW TABLES"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("orders"));
    let out = f
        .owl()
        .args(["--database", "nope", "query", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("database `nope` does not exist"));
}

#[test]
fn two_processes_creating_tables_at_once_lose_nothing() {
    let f = Fixture::new();
    let children: Vec<_> = (0..6)
        .map(|i| {
            f.spawn(&[
                "query",
                &format!("CREATE EXTERNAL TABLE t{i} STORED AS PARQUET LOCATION 'sample-data/weblogs_parquet/'"),
            ])
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
    let doc = f.json("SHOW TABLES LIKE 't%'");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 6, "{doc}");
    // No temp files left behind.
    assert!(
        walk(&f.path().join("catalog"))
            .iter()
            .all(|p| !p.to_string_lossy().ends_with(".tmp"))
    );
}

#[test]
fn athena_typed_partition_keys() {
    let f = Fixture::new();
    f.json(
        "CREATE EXTERNAL TABLE p PARTITIONED BY (year int, month int, day int) STORED AS PARQUET \
         LOCATION 'sample-data/weblogs_parquet/'",
    );
    let doc = f.json("DESCRIBE p");
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 14, "11 columns from the files + 3 keys: {doc}");
    assert_eq!(rows[13], serde_json::json!(["day", "int", "partition key"]));
    let doc = f.json("SELECT count(*), sum(bytes) FROM p WHERE month = 2 AND day = 2");
    let day: Vec<_> = weblogs()
        .into_iter()
        .filter(|r| (r.month, r.day) == (2, 2))
        .collect();
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), day.len() as u64);
    assert_eq!(
        doc["rows"][0][1].as_i64().unwrap(),
        day.iter().map(|r| r.bytes).sum::<i64>()
    );
    assert_eq!(stat(&doc, "files_read"), 1);
    // Bad SQL still reports the original parse error, not the rewrite's.
    let (_, err) =
        f.fails("CREATE EXTERNAL TABLE q PARTITIONED BY (year int STORED AS PARQUET LOCATION 'x/'");
    assert!(err.starts_with("error: "), "{err}");
}
