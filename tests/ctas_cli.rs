//! Athena's CTAS through the real binary: files written, the table registered, results identical to the source,
//! partition pruning on the new table, the bill, and an occupied location refused with nothing written.

mod common;

use common::*;

/// `SELECT ... ORDER BY request_id` of `table`, as CSV.
fn rows_of(f: &Fixture, table: &str) -> Vec<u8> {
    f.run_ok(&[
        "query",
        "-f",
        "csv",
        &format!("SELECT * FROM {table} ORDER BY request_id"),
    ])
}

#[test]
fn every_format_round_trips_and_is_billed_as_its_select() {
    let f = Fixture::new();
    let source = rows_of(&f, "weblogs_csv");
    let csv_bytes = size_of_files(&f.data("weblogs_csv"), ".csv");
    for (i, spec) in [
        "format = 'PARQUET'",
        "format = 'PARQUET', write_compression = 'SNAPPY'",
        "format = 'JSON'",
        "format = 'JSON', write_compression = 'NONE'",
        "format = 'TEXTFILE'",
        "format = 'TEXTFILE', field_delimiter = '|', write_compression = 'ZSTD'",
    ]
    .iter()
    .enumerate()
    {
        let table = format!("copy_{i}");
        let doc = f.json(&format!(
            "CREATE TABLE {table} WITH ({spec}, external_location = 'out/{table}/') AS SELECT * FROM weblogs_csv"
        ));
        assert_eq!(doc["rows"][0][0], 5836, "{spec}");
        assert_eq!(stat(&doc, "bytes_scanned"), csv_bytes, "{spec}");
        assert_eq!(stat(&doc, "billed_bytes"), 10_000_000, "{spec}");
        assert_eq!(rows_of(&f, &table), source, "{spec}: rows differ");
        let reg = f.registry_json("default", &table);
        assert_eq!(reg["stats"]["record_count"], 5836);
        assert_eq!(
            reg["stats"]["size_bytes"],
            size_of_files(&f.path().join(format!("out/{table}")), ""),
            "{spec}"
        );
    }
}

#[test]
fn a_partitioned_ctas_is_pruned_by_its_partitions() {
    let f = Fixture::new();
    let doc = f.json(
        "CREATE TABLE by_day WITH (format = 'JSON', write_compression = 'NONE', \
         partitioned_by = ARRAY['day']) AS SELECT day, status, path, bytes FROM weblogs_parquet",
    );
    assert_eq!(doc["rows"][0][0], 5836);
    // Default location: warehouse/<db>/<table>/ beside the registry.
    let dir = f.path().join("warehouse/default/by_day");
    let reg = f.registry_json("default", "by_day");
    assert_eq!(reg["partition_keys"][0]["name"], "day");
    assert_eq!(reg["partitions"].as_array().unwrap().len(), 5);
    let cols: Vec<&str> = reg["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        ["status", "path", "bytes"],
        "partition column moved out"
    );
    let day2 = size_of_files(&dir.join("day=2"), "");
    assert!(day2 > 0);
    let q = f.json("SELECT count(*) AS n, sum(bytes) AS b FROM by_day WHERE day = 2");
    let want = f.json("SELECT count(*) AS n, sum(bytes) AS b FROM weblogs_parquet WHERE day = 2");
    assert_eq!(q["rows"], want["rows"]);
    assert_eq!(stat(&q, "bytes_scanned"), day2, "only day=2 is read");
}

/// NULL partition values go to Hive's `__HIVE_DEFAULT_PARTITION__` folder and read back as NULL, in every
/// format. DataFusion's writers (Parquet, JSON, text) named them by the type's zero (`d=1970-01-01`, `n=0`),
/// so NULLs read back as values: found by the differential tester's partitioned copies.
#[test]
fn null_partition_values_read_back_as_null_in_every_format() {
    let f = Fixture::new();
    for format in ["PARQUET", "JSON", "TEXTFILE", "ORC", "AVRO"] {
        let t = format!("p_{}", format.to_lowercase());
        f.run_ok(&[
            "query",
            &format!(
                "CREATE TABLE {t} WITH (format = '{format}', partitioned_by = ARRAY['d', 'n']) AS \
                 SELECT * FROM (VALUES (1, DATE '2024-01-02', 5), (2, NULL, 0), (3, DATE '1970-01-01', NULL), \
                 (4, NULL, NULL)) AS v(x, d, n)"
            ),
        ]);
        let rows = f.csv_in(
            "default",
            &format!("SELECT x, d, n, d IS NULL, n IS NULL FROM {t} ORDER BY x"),
        );
        let rows: Vec<&str> = rows.lines().skip(1).collect();
        assert_eq!(
            rows,
            [
                "1,2024-01-02,5,false,false",
                "2,,0,true,false",
                "3,1970-01-01,,false,true",
                "4,,,true,true"
            ],
            "{format}"
        );
        let dir = f.path().join(format!("warehouse/default/{t}"));
        assert!(
            dir.join("d=__HIVE_DEFAULT_PARTITION__/n=0").is_dir(),
            "{format}: {:?}",
            walk(&dir)
        );
    }
}

/// String partition values that a path cannot hold as they are: `/`, `=`, `%`, `:`, `#`, `?`, `*`, non-ASCII,
/// `..`, and a value that looks escaped already. Every row, and its value, whatever the format.
const AWKWARD: &str = "SELECT * FROM (VALUES (1, 'a/b'), (2, 'x=y'), (3, ''), (4, NULL), (5, 'ü %'), \
     (6, 'c:d#e'), (7, '..'), (8, 'a%2Fb'), (9, 'x y?*'), (10, 'a/b')) AS v(x, s)";

const AWKWARD_ROWS: [&str; 10] = [
    "1,a/b,false",
    "2,x=y,false",
    // An empty string is NULL's folder, as Hive, Spark and Athena write it.
    "3,,true",
    "4,,true",
    "5,ü %,false",
    "6,c:d#e,false",
    "7,..,false",
    "8,a%2Fb,false",
    "9,x y?*,false",
    "10,a/b,false",
];

/// The folders under `dir`, by name.
fn folders(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn string_partition_values_are_folders_named_as_hive_names_them_and_read_back_whole() {
    let f = Fixture::new();
    // Hive's `escapePathName`, what Athena, Spark and Hive write and read.
    let hive = [
        "s=..",
        "s=__HIVE_DEFAULT_PARTITION__",
        "s=a%252Fb",
        "s=a%2Fb",
        "s=c%3Ad%23e",
        "s=x y%3F%2A",
        "s=x%3Dy",
        "s=ü %25",
    ];
    for format in ["PARQUET", "JSON", "TEXTFILE", "ORC", "AVRO"] {
        let t = format!("s_{}", format.to_lowercase());
        f.run_ok(&[
            "query",
            &format!("CREATE TABLE {t} WITH (format = '{format}', partitioned_by = ARRAY['s']) AS {AWKWARD}"),
        ]);
        let rows = f.csv_in(
            "default",
            &format!("SELECT x, s, s IS NULL FROM {t} ORDER BY x"),
        );
        let rows: Vec<&str> = rows.lines().skip(1).collect();
        assert_eq!(rows, AWKWARD_ROWS, "{format}");
        let dir = f.path().join(format!("warehouse/default/{t}"));
        assert_eq!(folders(&dir), hive, "{format}");
        // A partition is pruned by its value.
        let doc = f.json(&format!("SELECT count(*) FROM {t} WHERE s = 'a/b'"));
        assert_eq!(doc["rows"][0][0], 2, "{format}");
        assert_eq!(
            stat(&doc, "bytes_scanned"),
            size_of_files(&dir.join("s=a%2Fb"), ""),
            "{format}: one folder read"
        );
    }
    let shown = f.csv_in("default", "SHOW PARTITIONS s_parquet");
    let shown: Vec<&str> = shown.lines().skip(1).collect();
    assert_eq!(shown, hive, "SHOW PARTITIONS as Hive's makePartName");

    // The written folders, crawled, declared and repaired, or read by path, give the same values.
    f.run_ok(&["query", "CREATE DATABASE again"]);
    f.run_ok(&["-d", "again", "crawl", "warehouse/default/s_orc"]);
    let crawled = f.csv_in("again", "SELECT x, s, s IS NULL FROM s_orc ORDER BY x");
    assert_eq!(
        crawled.lines().skip(1).collect::<Vec<_>>(),
        AWKWARD_ROWS,
        "crawled"
    );
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE declared (x int) PARTITIONED BY (s string) STORED AS PARQUET \
         LOCATION 'warehouse/default/s_parquet/'",
    ]);
    let declared = f.csv_in("default", "SELECT x, s, s IS NULL FROM declared ORDER BY x");
    assert_eq!(
        declared.lines().skip(1).collect::<Vec<_>>(),
        AWKWARD_ROWS,
        "declared"
    );
    let by_path = f.csv_in(
        "default",
        "SELECT x, s, s IS NULL FROM 'warehouse/default/s_avro/' ORDER BY x",
    );
    assert_eq!(
        by_path.lines().skip(1).collect::<Vec<_>>(),
        AWKWARD_ROWS,
        "by path"
    );

    // A partition added by its value lives in Hive's folder for it.
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE added (x int) PARTITIONED BY (s string) STORED AS PARQUET \
         LOCATION 'warehouse/default/s_parquet/'",
    ]);
    f.run_ok(&["query", "ALTER TABLE added DROP PARTITION (s = 'x=y')"]);
    f.run_ok(&["query", "ALTER TABLE added ADD PARTITION (s = 'x=y')"]);
    let reg = f.registry_json("default", "added");
    let locations: Vec<&str> = reg["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["values"][0] == "x=y")
        .map(|p| p["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["s=x%3Dy/"]);
    let doc = f.json("SELECT x FROM added WHERE s = 'x=y'");
    assert_eq!(doc["rows"], serde_json::json!([[2]]));
}

#[test]
fn orc_refuses_a_timestamp_it_cannot_hold_naming_it_and_leaves_nothing() {
    let f = Fixture::new();
    let (code, stderr) = f.fails(
        "CREATE TABLE early WITH (format = 'ORC') AS SELECT * FROM (VALUES \
         (1, TIMESTAMP '1969-12-31 23:59:58.999'), (2, TIMESTAMP '1969-12-31 23:59:59.250')) AS v(x, t)",
    );
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(
            "error: column `t`: ORC cannot hold the timestamp 1969-12-31 23:59:59.250"
        ) && stderr.trim_end().lines().count() == 1,
        "{stderr}"
    );
    assert!(!f.path().join("catalog/default/early.json").exists());
    let left = f.path().join("warehouse/default/early");
    assert!(
        !left.exists() || walk(&left).is_empty(),
        "{:?}",
        walk(&left)
    );
    // The times around it are held, and read back as written; Parquet holds that one too.
    f.run_ok(&[
        "query",
        "CREATE TABLE around WITH (format = 'ORC') AS SELECT * FROM (VALUES \
         (1, TIMESTAMP '1969-12-31 23:59:58.999'), (2, TIMESTAMP '1969-12-31 23:59:59.000'), \
         (3, TIMESTAMP '1970-01-01 00:00:00.001'), (4, TIMESTAMP '1900-01-01 00:00:00.5')) AS v(x, t)",
    ]);
    let rows = f.csv_in(
        "default",
        "SELECT x, CAST(t AS VARCHAR) FROM around ORDER BY x",
    );
    assert_eq!(
        rows.lines().skip(1).collect::<Vec<_>>(),
        [
            "1,1969-12-31T23:59:58.999",
            "2,1969-12-31T23:59:59",
            "3,1970-01-01T00:00:00.001",
            "4,1900-01-01T00:00:00.500"
        ]
    );
    f.run_ok(&[
        "query",
        "CREATE TABLE early_parquet AS SELECT TIMESTAMP '1969-12-31 23:59:59.250' AS t",
    ]);
    let rows = f.csv_in("default", "SELECT CAST(t AS VARCHAR) FROM early_parquet");
    assert_eq!(rows.lines().nth(1), Some("1969-12-31T23:59:59.250"));
}

/// A timestamp column that orc-rust 0.9's integer encoder panics on (found by the differential tester): times
/// of 2024 and around 1970 between NULLs.
#[test]
fn an_orc_encoder_panic_is_one_line_and_leaves_nothing() {
    let f = Fixture::new();
    let ms: [Option<i64>; 40] = [
        None,
        None,
        Some(1704067200000),
        None,
        None,
        None,
        None,
        Some(1704078000250),
        None,
        None,
        None,
        Some(1704067200000),
        Some(1704070800250),
        Some(1704067200500),
        Some(1704067200250),
        Some(1704070800500),
        Some(-86399500),
        None,
        Some(1704067200000),
        Some(1704070800000),
        Some(1704081600250),
        None,
        Some(1704070800000),
        Some(1704153600000),
        None,
        Some(1704067200000),
        None,
        Some(1704067200000),
        Some(1704412800000),
        None,
        Some(1704081600250),
        None,
        Some(0),
        None,
        None,
        Some(1704067200000),
        None,
        Some(1704067200500),
        None,
        None,
    ];
    let rows: Vec<String> = ms
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(t) => format!("({i}, to_timestamp_millis({t}))"),
            None => format!("({i}, CAST(NULL AS TIMESTAMP))"),
        })
        .collect();
    let values = format!("SELECT * FROM (VALUES {}) AS v(i, t)", rows.join(", "));
    let sql = format!("CREATE TABLE times WITH (format = 'ORC') AS {values}");
    let out = f.owl().args(["query", &sql]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let written = f.path().join("warehouse/default/times");
    let want = f.csv_in(
        "default",
        &format!("SELECT i, CAST(t AS VARCHAR) AS t FROM ({values}) ORDER BY i"),
    );
    if out.status.success() {
        // An orc-rust that encodes them: every value read back.
        let got = f.csv_in(
            "default",
            "SELECT i, CAST(t AS VARCHAR) AS t FROM times ORDER BY i",
        );
        assert_eq!(got, want);
    } else {
        assert_eq!(out.status.code(), Some(1));
        assert!(
            stderr.starts_with("error: the ORC encoder (orc-rust) failed on these values (")
                && stderr.contains("write them as PARQUET or AVRO")
                && stderr.trim_end().lines().count() == 1,
            "{stderr}"
        );
        assert!(!f.path().join("catalog/default/times.json").exists());
        assert!(
            !written.exists() || walk(&written).is_empty(),
            "{:?}",
            walk(&written)
        );
    }
    // As Parquet, every value.
    f.run_ok(&["query", &format!("CREATE TABLE times_parquet AS {values}")]);
    let got = f.csv_in(
        "default",
        "SELECT i, CAST(t AS VARCHAR) AS t FROM times_parquet ORDER BY i",
    );
    assert_eq!(got, want);
}

#[test]
fn an_occupied_location_or_existing_table_is_refused_and_nothing_is_written() {
    let f = Fixture::new();
    let out = f.path().join("out/taken");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.csv"), "a,b\n1,2\n").unwrap();
    let (code, stderr) = f.fails(
        "CREATE TABLE t WITH (external_location = 'out/taken/') AS SELECT * FROM weblogs_csv",
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: CTAS location `out/taken/` is not empty (1 files)"),
        "{stderr}"
    );
    assert_eq!(walk(&out), [out.join("keep.csv")], "nothing written there");
    assert!(!f.path().join("catalog/default/t.json").exists());

    let (code, stderr) = f.fails("CREATE TABLE orders AS SELECT 1 AS x");
    assert_eq!(code, 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(!f.path().join("warehouse").exists());

    // IF NOT EXISTS on an existing table: nothing, free.
    let doc = f.json("CREATE TABLE IF NOT EXISTS orders AS SELECT 1 AS x");
    assert_eq!(stat(&doc, "billed_bytes"), 0);

    // A partition column the query lacks; a format nobody writes; a type ORC cannot hold.
    let (_, stderr) = f.fails(
        "CREATE TABLE t WITH (partitioned_by = ARRAY['nope']) AS SELECT status FROM weblogs_csv",
    );
    assert!(stderr.contains("column `nope` does not exist"), "{stderr}");
    let (_, stderr) = f.fails("CREATE TABLE t WITH (format = 'XML') AS SELECT 1 AS x");
    assert!(
        stderr.contains("use PARQUET, ORC, AVRO, JSON or TEXTFILE"),
        "{stderr}"
    );
    let (_, stderr) =
        f.fails("CREATE TABLE t WITH (format = 'ORC') AS SELECT make_array(1, 2) AS arr");
    assert!(
        stderr.contains("column `arr` of type List") && stderr.contains("cannot be written as ORC"),
        "{stderr}"
    );
    let (_, stderr) = f
        .fails("CREATE TABLE t WITH (format = 'AVRO', write_compression = 'LZ4') AS SELECT 1 AS x");
    assert!(
        stderr.contains("write_compression 'LZ4' is not available for this format"),
        "{stderr}"
    );
    assert!(!f.path().join("warehouse").exists());
}

#[test]
fn an_estimate_of_a_ctas_prices_its_select() {
    let f = Fixture::new();
    let csv_bytes = size_of_files(&f.data("weblogs_csv"), ".csv");
    let out = f.run_ok(&[
        "estimate",
        "-f",
        "json",
        "CREATE TABLE t AS SELECT * FROM weblogs_csv",
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["statements"][0]["bytes_scanned"], csv_bytes);
    assert_eq!(doc["statements"][0]["statement_type"], "DML");
    assert!(
        !f.path().join("warehouse").exists(),
        "an estimate writes nothing"
    );
}

#[test]
fn convert_copies_a_table_into_parquet_keeping_its_partitions() {
    let f = Fixture::new();
    let out = f.owl().args(["convert", "weblogs_csv"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "converted `default.weblogs_csv` to `default.weblogs_csv_parquet` (parquet): 5836 rows"
        ),
        "{stderr}"
    );
    let source = f.registry_json("default", "weblogs_csv");
    let copy = f.registry_json("default", "weblogs_csv_parquet");
    assert_eq!(copy["partition_keys"], source["partition_keys"]);
    assert_eq!(copy["partitions"].as_array().unwrap().len(), 8);
    assert_eq!(copy["format"]["classification"], "parquet");
    let on_disk = size_of_files(&f.path().join("warehouse/default/weblogs_csv_parquet"), "");
    assert_eq!(copy["stats"]["size_bytes"], on_disk);
    let units = owl::cost::Units::Decimal;
    let csv = size_of_files(&f.data("weblogs_csv"), ".csv");
    let printed = format!(
        "5836 rows, 8 files, {} ({:.0}% of the source's {}), 8 partitions",
        owl::output::human_bytes(on_disk, units),
        100.0 * on_disk as f64 / csv as f64,
        owl::output::human_bytes(csv, units)
    );
    assert!(stderr.contains(&printed), "{stderr}\nwanted: {printed}");
    assert!(on_disk < size_of_files(&f.data("weblogs_csv"), ".csv"));
    assert_eq!(
        rows_of(&f, "weblogs_csv_parquet"),
        rows_of(&f, "weblogs_csv")
    );
    // To ORC, unpartitioned: one file, the same rows.
    let out = f
        .owl()
        .args(["convert", "weblogs_csv", "--to", "orc", "--no-partitions"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let orc = f.registry_json("default", "weblogs_csv_orc");
    assert_eq!(orc["format"]["classification"], "orc");
    assert_eq!(orc["stats"]["object_count"], 1);
    assert_eq!(rows_of(&f, "weblogs_csv_orc"), rows_of(&f, "weblogs_csv"));
    // Again: the name is taken.
    let out = f.owl().args(["convert", "weblogs_csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn a_textfile_ctas_keeps_empty_strings_apart_from_nulls() {
    let f = Fixture::new();
    f.run_ok(&[
        "query",
        "CREATE TABLE texts WITH (format = 'TEXTFILE', write_compression = 'NONE') AS \
         SELECT * FROM (VALUES (1, '', 1.5), (2, NULL, NULL), (3, 'x', 2.0)) AS v(id, s, d)",
    ]);
    // NULL is written `\N`, as Athena's LazySimpleSerDe writes it; the empty string as an empty field.
    let dir = f.path().join("warehouse/default/texts");
    let files: Vec<_> = common::walk(&dir);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text, "id,s,d\n1,,1.5\n2,\\N,\\N\n3,x,2.0\n");
    for fast in ["true", "false"] {
        let out = f.csv_in(
            "default",
            &format!(
                "SET owl.csv_fast_path = {fast}; \
                 SELECT id, s IS NULL AS null_s, length(s) AS len, d FROM texts ORDER BY id"
            ),
        );
        assert!(
            out.ends_with("id,null_s,len,d\n1,false,0,1.5\n2,true,,\n3,false,1,2.0\n"),
            "{fast}: {out}"
        );
    }
}

#[test]
fn unnamed_expressions_are_named_as_athena_names_them() {
    let f = Fixture::new();
    let names = |table: &str| -> Vec<String> {
        f.registry_json("default", table)["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    f.json(
        "CREATE TABLE by_status WITH (format = 'PARQUET', external_location = 'out/by_status/') AS \
         SELECT status, count(*), sum(bytes) AS total, upper(method) FROM weblogs_parquet \
         GROUP BY status, upper(method)",
    );
    assert_eq!(names("by_status"), ["status", "_col1", "total", "_col3"]);
    // The names are the table's: queried as such, with the counts of the source.
    let doc = f.json("SELECT sum(_col1), count(DISTINCT _col3) FROM by_status");
    let want = f.json("SELECT count(*), count(DISTINCT upper(method)) FROM weblogs_parquet");
    assert_eq!(json_rows(&doc), json_rows(&want));

    // A set operation takes its first SELECT's names; after a `*`, a position counts the columns it gave.
    f.json(
        "CREATE TABLE both_ends WITH (format = 'JSON', external_location = 'out/both_ends/') AS \
         SELECT status, bytes + 1 FROM weblogs_parquet WHERE status = 404 \
         UNION ALL SELECT status, bytes AS b FROM weblogs_parquet WHERE status = 500",
    );
    assert_eq!(names("both_ends"), ["status", "_col1"]);
    f.json(
        "CREATE TABLE starred WITH (format = 'PARQUET', external_location = 'out/starred/') AS \
         SELECT *, bytes * 2 FROM weblogs_parquet WHERE status = 500",
    );
    let starred = names("starred");
    let width = names("weblogs_parquet").len()
        + f.registry_json("default", "weblogs_parquet")["partition_keys"]
            .as_array()
            .unwrap()
            .len();
    assert_eq!(starred.last().unwrap(), &format!("_col{width}"));
    assert_eq!(starred.len(), width + 1);
}
