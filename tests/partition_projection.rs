//! Partition projection through the real binary: tables created with Athena's DDL (`ROW FORMAT`,
//! `TBLPROPERTIES`), their partitions computed from the properties. The test writes the files (gzip CSV, as AWS
//! writes logs) and keeps its own counts; each query's LIST requests show which prefixes it read: one per
//! projected prefix, none to find partitions.

mod common;

use common::{Fixture, req, write_gz};
use std::path::Path;

/// Hourly logs under `yyyy/MM/dd/HH/`: a few hours of 2024-06-01 and 2024-06-02, `n` rows in an hour, each row
/// `ip,bytes`. Returns (hour path, rows, sum of bytes) per hour written.
fn hourly_logs(root: &Path) -> Vec<(String, u64, u64)> {
    let mut out = vec![];
    for (day, hours) in [(1u32, [0u32, 9, 10, 11, 23]), (2, [0, 1, 5, 10, 12])] {
        for h in hours {
            let path = format!("2024/06/{day:02}/{h:02}");
            let n = u64::from(day * 7 + h + 1);
            let mut text = String::new();
            let mut sum = 0;
            for i in 0..n {
                let bytes = i * 10 + u64::from(h);
                sum += bytes;
                text.push_str(&format!("10.0.{day}.{},{bytes}\n", i % 5));
            }
            write_gz(&root.join(&path).join("part-0.csv.gz"), &text);
            out.push((path, n, sum));
        }
    }
    out
}

/// A query's rows, each as `a|b|c` (no value here holds `,`, `[` or a quote), and the LIST requests it sent
/// listing each projected prefix (`owl.projection_list_common = false`). With the listing of their common
/// folder (the default) the rows are the same and the LISTs no more.
fn query(f: &Fixture, sql: &str) -> (Vec<String>, u64) {
    let (rows, each) = run(f, &format!("SET owl.projection_list_common = false; {sql}"));
    let (common_rows, common) = run(f, sql);
    assert_eq!(rows, common_rows, "{sql}");
    assert!(
        common <= each,
        "{sql}: {common} LISTs through the common folder, {each} one by one"
    );
    (rows, each)
}

/// The rows and LIST requests of the last statement of `script`.
fn run(f: &Fixture, script: &str) -> (Vec<String>, u64) {
    let doc = f.json_last(&[], script);
    let rows = doc["rows"].as_array().unwrap().iter();
    let rows = rows
        .map(|r| r.to_string().replace(['[', ']', '"'], "").replace(',', "|"))
        .collect();
    (rows, req(&doc, "list"))
}

#[test]
fn a_date_projection_reads_only_the_prefixes_its_filters_name() {
    let f = Fixture::new();
    let root = f.path().join("lake/logs");
    let hours = hourly_logs(&root);
    // Ten years and more of hours, up to now: ~95,000 projected values, none registered or listed.
    let ddl = format!(
        "CREATE EXTERNAL TABLE logs (ip string, bytes bigint)
         PARTITIONED BY (dt string)
         ROW FORMAT DELIMITED FIELDS TERMINATED BY ','
         LOCATION '{root}/'
         TBLPROPERTIES (
           'projection.enabled' = 'true',
           'projection.dt.type' = 'date',
           'projection.dt.format' = 'yyyy/MM/dd/HH',
           'projection.dt.range' = '2016/01/01/00,NOW',
           'projection.dt.interval' = '1',
           'projection.dt.interval.unit' = 'HOURS',
           'storage.location.template' = '{root}/${{dt}}/'
         )",
        root = root.display()
    );
    f.run_ok(&["query", &ddl]);
    let def = f.registry_json("default", "logs");
    assert!(def.get("partitions").is_none(), "{def}");

    // One hour: one prefix listed.
    let (path, n, sum) = &hours[2];
    let dt = path.as_str();
    let (rows, lists) = query(
        &f,
        &format!("SELECT count(*), sum(bytes), min(dt) FROM logs WHERE dt = '{dt}'"),
    );
    assert_eq!(rows, vec![format!("{n}|{sum}|{dt}")]);
    assert_eq!(lists, 1);

    // Two hours by IN, one of them missing: two prefixes, the missing one no rows.
    let (rows, lists) = query(
        &f,
        &format!("SELECT count(*) FROM logs WHERE dt IN ('{dt}', '2024/06/01/12')"),
    );
    assert_eq!(rows, vec![n.to_string()]);
    assert_eq!(lists, 2);

    // A day by range: every hour of the range projected (24 prefixes), filtered, listed.
    let (expected_rows, expected_sum) = hours
        .iter()
        .filter(|(p, _, _)| p.starts_with("2024/06/02"))
        .fold((0, 0), |(r, s), (_, n, sum)| (r + n, s + sum));
    let (rows, lists) = query(
        &f,
        "SELECT count(*), sum(bytes) FROM logs WHERE dt >= '2024/06/02/00' AND dt < '2024/06/03/00'",
    );
    assert_eq!(rows, vec![format!("{expected_rows}|{expected_sum}")]);
    assert_eq!(lists, 24);
    // By default, one listing of the day's folder finds the same files.
    let (_, common) = run(
        &f,
        "SELECT count(*), sum(bytes) FROM logs WHERE dt >= '2024/06/02/00' AND dt < '2024/06/03/00'",
    );
    assert_eq!(common, 1);
    // Prefixes outside the table's folder (a template elsewhere) are each listed: owl lists no folder above the
    // table's own.
    f.run_ok(&[
        "query",
        &ddl.replace("TABLE logs", "TABLE elsewhere").replace(
            &format!("LOCATION '{}/'", root.display()),
            &format!("LOCATION '{}/meta/'", root.display()),
        ),
    ]);
    let (_, lists) = run(
        &f,
        "SELECT count(*) FROM elsewhere WHERE dt >= '2024/06/02/00' AND dt < '2024/06/03/00'",
    );
    assert_eq!(lists, 24);
    // A common folder holding more keys than the prefixes' own LISTs would return: the listing stops at that
    // budget and each prefix is listed (one request more than those alone).
    let crowded = root.join("2024/06/03/02");
    std::fs::create_dir_all(&crowded).unwrap();
    for i in 0..1100 {
        std::fs::write(crowded.join(format!("part-{i}.csv")), "10.0.0.1,1\n").unwrap();
    }
    write_gz(&root.join("2024/06/03/00/part-0.csv.gz"), "10.0.0.1,5\n");
    write_gz(&root.join("2024/06/03/01/part-0.csv.gz"), "10.0.0.2,7\n");
    let sql =
        "SELECT count(*), sum(bytes) FROM logs WHERE dt IN ('2024/06/03/00', '2024/06/03/01')";
    let (rows, each) = run(
        &f,
        &format!("SET owl.projection_list_common = false; {sql}"),
    );
    let (common_rows, common) = run(&f, sql);
    assert_eq!((rows.clone(), each), (vec!["2|12".to_string()], 2));
    assert_eq!((common_rows, common), (rows, 3));
    let (rows, _) = run(&f, "SELECT count(*) FROM logs WHERE dt = '2024/06/03/02'");
    assert_eq!(rows, vec!["1100".to_string()]);

    // The estimate says how many prefixes the query projects to, and lists only those.
    let est: serde_json::Value = serde_json::from_slice(&f.run_ok(&[
        "estimate",
        "-f",
        "json",
        "SELECT sum(bytes) FROM logs WHERE dt BETWEEN '2024/06/01/10' AND '2024/06/01/13'",
    ]))
    .unwrap();
    let est = &est["statements"][0];
    assert_eq!(
        (est["partitions"].as_u64(), est["projected"].as_u64()),
        (Some(4), Some(4)),
        "{est}"
    );
    // Two of the four hours have files.
    assert_eq!(est["files"].as_u64(), Some(2), "{est}");
    let line = String::from_utf8(f.run_ok(&[
        "estimate",
        "SELECT sum(bytes) FROM logs WHERE dt BETWEEN '2024/06/01/10' AND '2024/06/01/13'",
    ]))
    .unwrap();
    assert!(
        line.contains("2 files in 4 partitions (projected)"),
        "{line}"
    );

    // Outside the range, or not a value the format writes: nothing read, no error.
    for missing in ["2015/06/01/10", "2024/6/1/10", "2099/01/01/00"] {
        let (rows, lists) = query(
            &f,
            &format!("SELECT count(*) FROM logs WHERE dt = '{missing}'"),
        );
        assert_eq!((rows, lists), (vec!["0".to_string()], 0), "{missing}");
    }

    // Registered partitions are ignored: the projection decides.
    f.run_ok(&[
        "query",
        "ALTER TABLE logs ADD PARTITION (dt = '2024/06/01/09') LOCATION 'lake/logs/2024/06/02/12/'",
    ]);
    let (path, n, _) = &hours[1];
    let (rows, _) = query(
        &f,
        &format!("SELECT count(*) FROM logs WHERE dt = '{path}'"),
    );
    assert_eq!(rows, vec![n.to_string()]);

    // Turned off, the table is an ordinary one again: its registered partition is read.
    f.run_ok(&[
        "query",
        "ALTER TABLE logs SET TBLPROPERTIES ('projection.enabled' = 'false')",
    ]);
    let (path, n, _) = &hours[9];
    assert!(path.ends_with("02/12"));
    let (rows, lists) = query(&f, "SELECT count(*) FROM logs");
    assert_eq!(rows, vec![n.to_string()]);
    assert_eq!(lists, 1);
}

#[test]
fn integer_enum_and_injected_keys_project_hive_folders() {
    let f = Fixture::new();
    let root = f.path().join("lake/metrics");
    let mut expected = std::collections::BTreeMap::new();
    for region in ["eu", "us"] {
        for shard in [1u32, 3, 4] {
            for customer in ["acme", "globex"] {
                let n = shard as usize + region.len() + customer.len();
                let text: String = (0..n)
                    .map(|i| format!("{i}\t{}\n", i * shard as usize))
                    .collect();
                write_gz(
                    &root
                        .join(format!(
                            "region={region}/shard={shard:02}/customer={customer}"
                        ))
                        .join("m.tsv.gz"),
                    &text,
                );
                expected.insert((region, shard, customer), n as u64);
            }
        }
    }
    f.run_ok(&[
        "query",
        &format!(
            "CREATE EXTERNAL TABLE metrics (`seq` int, `value` bigint COMMENT 'units')
             PARTITIONED BY (region string, shard int, customer string)
             ROW FORMAT DELIMITED FIELDS TERMINATED BY '\\t'
             STORED AS TEXTFILE
             LOCATION '{}'
             TBLPROPERTIES ('projection.enabled'='true',
               'projection.region.type'='enum', 'projection.region.values'='eu,us,ap',
               'projection.shard.type'='integer', 'projection.shard.range'='1,4', 'projection.shard.digits'='2',
               'projection.customer.type'='injected')",
            root.display()
        ),
    ]);
    let acme: u64 = expected
        .iter()
        .filter(|(k, _)| k.2 == "acme")
        .map(|(_, n)| n)
        .sum();
    // Every region and shard of one customer: 3 x 4 prefixes, four of them missing.
    let (rows, lists) = query(&f, "SELECT count(*) FROM metrics WHERE customer = 'acme'");
    assert_eq!((rows, lists), (vec![acme.to_string()], 12));
    // The twelve share only the table's folder, which holds few files: listed once.
    let (_, common) = run(&f, "SELECT count(*) FROM metrics WHERE customer = 'acme'");
    assert_eq!(common, 1);
    // Typed equality (`shard = 3` is the folder `shard=03`): one prefix.
    let (rows, lists) = query(
        &f,
        "SELECT count(*), max(shard) FROM metrics WHERE customer = 'globex' AND region = 'us' AND shard = 3",
    );
    assert_eq!(
        (rows, lists),
        (vec![format!("{}|3", expected[&("us", 3, "globex")])], 1)
    );
    // Two customers, a shard range.
    let want: u64 = expected
        .iter()
        .filter(|(k, _)| k.1 >= 3)
        .map(|(_, n)| n)
        .sum();
    let (rows, lists) = query(
        &f,
        "SELECT count(*) FROM metrics WHERE customer IN ('acme', 'globex') AND shard >= 3",
    );
    assert_eq!((rows, lists), (vec![want.to_string()], 12));

    // An injected key must be given by equality; a value may not climb out of its folder.
    let (_, err) = f.fails("SELECT count(*) FROM metrics WHERE region = 'eu'");
    assert!(
        err.contains("injected") && err.contains("customer"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (_, err) = f.fails("SELECT count(*) FROM metrics WHERE customer = '../../etc'");
    assert!(err.contains("../../etc"), "{err}");

    // Bad projection properties are refused when written, and the table is unchanged.
    let before = f.registry_json("default", "metrics");
    for bad in [
        "('projection.shard.range' = '1')",
        "('projection.region.type' = 'list')",
        "('projection.shard.type' = 'date', 'projection.shard.format' = 'EEE', 'projection.shard.range' = 'NOW,NOW')",
        "('storage.location.template' = 's3://elsewhere/${region}/${shard}/${customer}/')",
    ] {
        let (_, err) = f.fails(&format!("ALTER TABLE metrics SET TBLPROPERTIES {bad}"));
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert_eq!(f.registry_json("default", "metrics"), before, "{bad}");
    }
}

#[test]
fn show_create_table_prints_ddl_that_creates_the_same_table() {
    let f = Fixture::new();
    let lake = f.path().join("lake");
    std::fs::create_dir_all(&lake).unwrap();
    // A crawled Parquet table (partitioned) and a CSV table made with Hive's DDL.
    for file in common::walk(&f.data("weblogs_parquet")) {
        let rel = file.strip_prefix(f.data("weblogs_parquet")).unwrap();
        let to = lake.join("web").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, to).unwrap();
    }
    f.run_ok(&["crawl", "lake/web"]);
    write_gz(
        &lake.join("people/p.csv.gz"),
        "name|age\nann|41\nbo 'b'|7\n",
    );
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE people (name string, age int) ROW FORMAT DELIMITED FIELDS TERMINATED BY '|' \
         ESCAPED BY '\\\\' LOCATION 'lake/people/' TBLPROPERTIES ('skip.header.line.count'='1', 'owner'='it''s me')",
    ]);
    let people = |db: &str| {
        String::from_utf8(f.run_ok(&[
            "-d",
            db,
            "query",
            "-f",
            "csv",
            "SELECT * FROM people ORDER BY age",
        ]))
        .unwrap()
    };
    assert_eq!(people("default"), "name,age\nbo 'b',7\nann,41\n");
    f.run_ok(&["query", "CREATE DATABASE again"]);
    for table in ["web", "people"] {
        let out = String::from_utf8(f.run_ok(&[
            "query",
            "-f",
            "csv",
            &format!("SHOW CREATE TABLE {table}"),
        ]))
        .unwrap();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some("createtab_stmt"));
        let ddl: Vec<String> = lines
            .map(|l| l.trim_matches('"').replace("\"\"", "\""))
            .collect();
        assert_eq!(ddl[0], format!("CREATE EXTERNAL TABLE `{table}`("));
        assert!(ddl.iter().any(|l| l == "LOCATION"), "{ddl:?}");
        f.run_ok(&["-d", "again", "query", &ddl.join("\n")]);
        let (a, b) = (
            f.registry_json("default", table),
            f.registry_json("again", table),
        );
        for key in [
            "columns",
            "partition_keys",
            "format",
            "properties",
            "location",
        ] {
            assert_eq!(a[key], b[key], "{table}: {key}\n{}", ddl.join("\n"));
        }
        let values = |d: &serde_json::Value| {
            d["partitions"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| (p["values"].clone(), p["location"].clone()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        assert_eq!(values(&a), values(&b), "{table}");
    }
    assert_eq!(people("again"), people("default"));
}

#[test]
fn hive_create_statements_that_owl_cannot_read_fail_in_one_line() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.path().join("lake/x")).unwrap();
    for (sql, says) in [
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'com.example.MySerDe' LOCATION 'lake/x/'",
            "com.example.MySerDe",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) STORED AS SEQUENCEFILE LOCATION 'lake/x/'",
            "SEQUENCEFILE",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY '||' LOCATION 'lake/x/'",
            "one byte",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ','",
            "LOCATION",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) PARTITIONED BY (d string) STORED AS PARQUET LOCATION 'lake/x/' \
             TBLPROPERTIES ('projection.enabled'='true', 'projection.d.type'='date', 'projection.d.format'='yyyy', \
             'projection.d.range'='2020,LATER')",
            "LATER",
        ),
    ] {
        f.fails_naming(sql, says);
    }
    assert!(!f.path().join("catalog/default/t.json").exists());
}
