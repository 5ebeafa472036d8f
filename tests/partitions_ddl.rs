//! Athena's partition DDL through the real binary: `SHOW PARTITIONS`, `MSCK REPAIR TABLE`,
//! `ALTER TABLE ... ADD|DROP PARTITION`, `ALTER TABLE ... PARTITION (...) SET LOCATION`, on a copy of the sample
//! web logs (Parquet, `year=/month=/day=` folders). Row counts are checked against the generator's files read
//! through the sample's own table; bad statements fail with one line and leave the registry as it was.

mod common;

use common::Fixture;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The one value of a one-row, one-column CSV result.
fn one(f: &Fixture, sql: &str) -> String {
    let out = String::from_utf8(f.run_ok(&["query", "-f", "csv", sql])).unwrap();
    out.lines().nth(1).unwrap_or_default().to_string()
}

fn lines(f: &Fixture, sql: &str) -> Vec<String> {
    let out = String::from_utf8(f.run_ok(&["query", "-f", "csv", sql])).unwrap();
    out.lines().skip(1).map(str::to_string).collect()
}

fn registry(f: &Fixture) -> String {
    std::fs::read_to_string(f.path().join("catalog/default/logs.json")).unwrap()
}

#[test]
fn partitions_are_listed_dropped_repaired_added_and_moved() {
    let f = Fixture::new();
    let lake = f.path().join("lake");
    copy_dir(&f.data("weblogs_parquet"), &lake.join("logs"));
    // Two days kept aside, as files a later ADD PARTITION points at.
    copy_dir(
        &f.data("weblogs_parquet/year=2024/month=01/day=02"),
        &lake.join("extra/a"),
    );
    copy_dir(
        &f.data("weblogs_parquet/year=2024/month=02/day=01"),
        &lake.join("extra/b"),
    );
    f.run_ok(&["crawl", "lake/logs"]);
    let count = |sql: &str| one(&f, sql).parse::<u64>().unwrap();
    let total = count("SELECT count(*) FROM weblogs_parquet");
    let day = |m: u32, d: u32| {
        count(&format!(
            "SELECT count(*) FROM weblogs_parquet WHERE month = {m} AND day = {d}"
        ))
    };
    assert_eq!(count("SELECT count(*) FROM logs"), total);
    let all = lines(&f, "SHOW PARTITIONS logs");
    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(all[0], "year=2024/month=01/day=01");

    // DROP: typed values name the folder (`month = 1` is `month=01`); two at once.
    f.run_ok(&[
        "query",
        "ALTER TABLE logs DROP PARTITION (year = 2024, month = 1, day = 1), PARTITION (year=2024, month='01', day='02')",
    ]);
    let shown = lines(&f, "SHOW PARTITIONS logs");
    assert_eq!(shown.len(), 6);
    assert!(!shown.contains(&"year=2024/month=01/day=01".to_string()));
    assert_eq!(
        count("SELECT count(*) FROM logs"),
        total - day(1, 1) - day(1, 2)
    );
    // The files are still there: dropping a partition forgets it, as Athena's does.
    assert!(lake.join("logs/year=2024/month=01/day=01").is_dir());

    // MSCK adds back what the folders hold, says what it added, and adds nothing the second time.
    let repaired = lines(&f, "MSCK REPAIR TABLE logs");
    assert_eq!(
        repaired,
        [
            "Partitions not in metastore:",
            "\tlogs:year=2024/month=01/day=01",
            "\tlogs:year=2024/month=01/day=02",
            "Repair: Added partition to metastore logs:year=2024/month=01/day=01",
            "Repair: Added partition to metastore logs:year=2024/month=01/day=02",
        ]
    );
    assert_eq!(count("SELECT count(*) FROM logs"), total);
    assert!(lines(&f, "MSCK REPAIR TABLE logs").is_empty());
    assert_eq!(lines(&f, "SHOW PARTITIONS logs"), all);

    // ADD with a location outside the table's folder; the query reads it, and only it for its year.
    let extra_a = lake.join("extra/a");
    f.run_ok(&[
        "query",
        &format!(
            "ALTER TABLE logs ADD PARTITION (year = 2025, month = 1, day = 2) LOCATION '{}' \
             PARTITION (year = 2025, month = 3, day = 1)",
            extra_a.display()
        ),
    ]);
    assert_eq!(count("SELECT count(*) FROM logs"), total + day(1, 2));
    assert_eq!(
        count("SELECT count(*) FROM logs WHERE year = 2025"),
        day(1, 2)
    );
    // The second has Hive's folder under the table, which holds nothing yet: zero rows, not an error.
    assert_eq!(
        count("SELECT count(*) FROM logs WHERE year = 2025 AND month = 3"),
        0
    );
    assert!(
        lines(&f, "SHOW PARTITIONS logs").contains(&"year=2025/month=03/day=01".to_string())
            || lines(&f, "SHOW PARTITIONS logs").contains(&"year=2025/month=3/day=1".to_string())
    );
    let (_, e) = f.fails("ALTER TABLE logs ADD PARTITION (year = 2025, month = 1, day = 2)");
    assert!(e.contains("already exists"), "{e}");
    f.run_ok(&[
        "query",
        "ALTER TABLE logs ADD IF NOT EXISTS PARTITION (year = 2025, month = 1, day = 2)",
    ]);

    // SET LOCATION moves one partition to other files.
    f.run_ok(&[
        "query",
        &format!(
            "ALTER TABLE logs PARTITION (year = 2025, month = 1, day = 2) SET LOCATION '{}'",
            lake.join("extra/b").display()
        ),
    ]);
    assert_eq!(
        count("SELECT count(*) FROM logs WHERE year = 2025"),
        day(2, 1)
    );

    // Mistakes: one line naming what is wrong, and the registry as it was.
    f.run_ok(&["crawl", "lake/extra/a"]);
    let before = registry(&f);
    for (sql, says) in [
        (
            "ALTER TABLE logs ADD PARTITION (year = 2026, month = 1)",
            "`day` is missing",
        ),
        (
            "ALTER TABLE logs ADD PARTITION (year = 2026, month = 1, day = 1, hour = 3)",
            "`hour` is not a partition key",
        ),
        (
            "ALTER TABLE logs ADD PARTITION (year = 'twenty', month = 1, day = 1)",
            "`twenty`",
        ),
        (
            "ALTER TABLE logs ADD PARTITION (year = 2026, month = 1, day = 1) LOCATION 's3://bucket/x/'",
            "its table's store",
        ),
        (
            "ALTER TABLE logs DROP PARTITION (year = 2030, month = 1, day = 1)",
            "does not exist",
        ),
        (
            "ALTER TABLE logs PARTITION (year = 2030, month = 1, day = 1) SET LOCATION 'lake/'",
            "does not exist",
        ),
        ("SHOW PARTITIONS a", "not partitioned"),
        ("MSCK REPAIR TABLE nope", "does not exist"),
        ("ALTER TABLE logs ADD PARTITION year = 1", "Expected"),
    ] {
        let (code, e) = f.fails(sql);
        assert_eq!(code, 1, "{sql}: {e}");
        assert!(e.contains(says), "{sql}: {e}");
        assert!(
            e.starts_with("error: ") && !e.contains("panicked"),
            "{sql}: {e}"
        );
    }
    assert_eq!(registry(&f), before);
    f.run_ok(&[
        "query",
        "ALTER TABLE logs DROP IF EXISTS PARTITION (year = 2030, month = 1, day = 1)",
    ]);
    assert_eq!(registry(&f), before);
}

#[test]
fn partition_statements_run_in_scripts_and_are_free() {
    let f = Fixture::new();
    // Several statements in one text, partition DDL among them; its JSON stats bill nothing.
    let doc = f.json_last(
        &[],
        "ALTER TABLE weblogs_parquet DROP PARTITION (year = 2024, month = 1, day = 1); \
         SELECT count(*) AS n FROM weblogs_parquet; \
         MSCK REPAIR TABLE weblogs_parquet",
    );
    assert_eq!(doc["stats"]["bytes_scanned"], 0, "{doc}");
    assert_eq!(doc["stats"]["cost_usd"], 0.0, "{doc}");
    assert_eq!(
        one(&f, "SELECT count(*) FROM weblogs_parquet"),
        one(
            &f,
            "SELECT sum(n) FROM (SELECT count(*) AS n FROM weblogs_csv)"
        )
    );
}

#[test]
fn columns_and_properties_change_as_athena_changes_them() {
    let f = Fixture::new();
    copy_dir(&f.data("weblogs_parquet"), &f.path().join("lake/logs"));
    f.run_ok(&["crawl", "lake/logs"]);
    let total = one(&f, "SELECT count(*) FROM weblogs_parquet");
    f.run_ok(&[
        "query",
        "ALTER TABLE logs ADD COLUMNS (campaign string COMMENT 'added later', score decimal(10,2))",
    ]);
    // The files written before hold neither: NULL in every row.
    assert_eq!(
        one(
            &f,
            "SELECT count(*) FROM logs WHERE campaign IS NULL AND score IS NULL AND status IS NOT NULL"
        ),
        total
    );
    let def: serde_json::Value = serde_json::from_str(&registry(&f)).unwrap();
    let columns: Vec<(String, String)> = def["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        columns[columns.len() - 2..],
        [
            ("campaign".to_string(), "string".to_string()),
            ("score".to_string(), "decimal(10,2)".to_string())
        ]
    );
    // A schema change archives a version, as Glue's UpdateTable does.
    assert_eq!(def["version_id"], "1");
    assert_eq!(def["versions"].as_array().unwrap().len(), 2);

    f.run_ok(&[
        "query",
        "ALTER TABLE logs SET TBLPROPERTIES ('comment' = 'web logs', 'has_encrypted_data' = 'false')",
    ]);
    assert_eq!(
        lines(&f, "SHOW TBLPROPERTIES logs ('comment')"),
        ["comment,web logs"]
    );
    let all = lines(&f, "SHOW TBLPROPERTIES logs");
    assert!(
        all.contains(&"classification,parquet".to_string()),
        "{all:?}"
    );
    assert!(
        all.contains(&"has_encrypted_data,false".to_string()),
        "{all:?}"
    );

    let before = registry(&f);
    for (sql, says) in [
        (
            "ALTER TABLE logs ADD COLUMNS (status bigint)",
            "`status` already exists",
        ),
        (
            "ALTER TABLE logs ADD COLUMNS (fresh bigint, year string)",
            "`year` already exists",
        ),
        ("ALTER TABLE logs ADD COLUMNS (x notatype)", "notatype"),
        (
            "SHOW TBLPROPERTIES logs ('nope')",
            "does not have property `nope`",
        ),
    ] {
        let (code, e) = f.fails(sql);
        assert_eq!(code, 1, "{sql}: {e}");
        assert!(e.contains(says), "{sql}: {e}");
    }
    assert_eq!(registry(&f), before);
}
