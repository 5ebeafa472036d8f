//! What a new user met trying owl on a data lake it had not seen: quoted empty CSV fields, Spark's hidden
//! files, a column widened between Parquet files, text files with another extension, a truncated Parquet
//! file, and floating-point sums compared across formats. Each through the real binary, each answer against
//! a count made here.

mod common;

use common::*;
use std::path::Path;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The Parquet file a CTAS wrote under `folder`.
fn parquet_in(f: &Fixture, folder: &str) -> Vec<u8> {
    let file = walk(&f.path().join(folder))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    std::fs::read(file).unwrap()
}

fn rows(f: &Fixture, sql: &str) -> Vec<String> {
    f.csv_in("default", sql)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn a_quoted_empty_csv_field_is_an_empty_string_and_an_unquoted_one_null() {
    let f = Fixture::new();
    // Rows 1-3 read by the fast path; row 4's quoted line break hands the rest of the file to arrow-csv,
    // where rows 5 and 6 repeat rows 1 and 2.
    let csv = "id,name,city\n1,\"\",x\n2,,y\n3,\"z\",\n4,\"two\nlines\",\"\"\n5,\"\",x\n6,,y\n";
    write(&f.path().join("quoted/people.csv"), csv.as_bytes());
    f.run_ok(&["crawl", "quoted"]);
    // The crawled table, and the file named in FROM (read as DataFusion reads a file, through owl's reader).
    for (table, switch) in [
        ("quoted", "true"),
        ("quoted", "false"),
        ("'quoted/people.csv'", "true"),
        ("'quoted/people.csv'", "false"),
    ] {
        let set = format!("SET owl.csv_fast_path = {switch}; ");
        let q = |sql: &str| rows(&f, &format!("{set}{}", sql.replace("quoted", table)));
        // name: "", NULL, z, two lines, "", NULL; city: x, y, NULL, "", x, y.
        assert_eq!(
            q("SELECT count(*), count(name), count(city) FROM quoted"),
            ["6,4,5"],
            "{table}, fast path {switch}"
        );
        assert_eq!(
            q("SELECT id FROM quoted WHERE name = '' ORDER BY id"),
            ["1", "5"]
        );
        assert_eq!(
            q("SELECT id FROM quoted WHERE name IS NULL ORDER BY id"),
            ["2", "6"]
        );
        assert_eq!(q("SELECT count(*) FROM quoted WHERE city = ''"), ["1"]);
        // The empty string is a group of its own, apart from NULL's.
        assert_eq!(
            q("SELECT count(DISTINCT name), count(DISTINCT coalesce(name, 'null')) FROM quoted"),
            ["3,4"]
        );
    }
    // A table of plain lines (no line break in quotes) reads the same: the fast path alone.
    let plain = "id,name\n1,\"\"\n2,\n";
    write(&f.path().join("plain/names.csv"), plain.as_bytes());
    f.run_ok(&["crawl", "plain"]);
    assert_eq!(rows(&f, "SELECT count(name) FROM plain"), ["1"]);
}

#[test]
fn hidden_files_are_skipped_by_tables_made_with_ddl_and_by_path_queries() {
    let f = Fixture::new();
    f.run_ok(&[
        "query",
        "CREATE TABLE src WITH (format = 'PARQUET', external_location = 'src/') AS \
         SELECT CAST(value AS INT) AS qty FROM generate_series(1, 3)",
    ]);
    let parquet = parquet_in(&f, "src");
    // A Spark job's output: the data, its checksum, its success marker, a temporary folder.
    write(&f.path().join("spark/k=1/part-00000.parquet"), &parquet);
    write(
        &f.path().join("spark/k=1/.part-00000.parquet.crc"),
        b"crc!!",
    );
    write(&f.path().join("spark/_SUCCESS"), b"");
    write(&f.path().join("spark/_temporary/0/part-9.parquet"), b"half");
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE spark STORED AS PARQUET PARTITIONED BY (k) LOCATION 'spark/'",
    ]);
    assert_eq!(
        rows(&f, "SELECT count(*), sum(qty), min(k) FROM spark"),
        ["3,6,1"]
    );
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE spark_hive (qty int) PARTITIONED BY (k int) STORED AS PARQUET \
         LOCATION 'spark/'",
    ]);
    f.run_ok(&["query", "MSCK REPAIR TABLE spark_hive"]);
    assert_eq!(
        rows(&f, "SELECT count(*), sum(qty) FROM spark_hive"),
        ["3,6"]
    );
    // The folder queried by its path: its `k=1` folder a partition column, as the crawler makes it.
    assert_eq!(
        rows(&f, "SELECT count(*), sum(qty), max(k) FROM 'spark/'"),
        ["3,6,1"]
    );
    // A folder of hidden files only holds nothing to read.
    write(&f.path().join("only_hidden/_SUCCESS"), b"");
    let (_, err) = f.fails("SELECT * FROM 'only_hidden/'");
    assert!(
        err.starts_with("error: no file or folder at `only_hidden/`"),
        "{err}"
    );
}

#[test]
fn a_path_query_reads_a_folder_as_the_crawler_would_register_it() {
    let f = Fixture::new();
    // A column written as int32 by an older job, as int64 by a newer one.
    f.run_ok(&[
        "query",
        "CREATE TABLE narrow WITH (format = 'PARQUET', external_location = 'narrow/') AS \
         SELECT CAST(value AS INT) AS qty, 'old' AS job FROM generate_series(1, 3)",
    ]);
    f.run_ok(&[
        "query",
        "CREATE TABLE wide WITH (format = 'PARQUET', external_location = 'wide/') AS \
         SELECT CAST(value AS BIGINT) * 10000000000 AS qty, 'new' AS job FROM generate_series(1, 2)",
    ]);
    write(
        &f.path().join("orders/2023.parquet"),
        &parquet_in(&f, "narrow"),
    );
    write(
        &f.path().join("orders/2024.parquet"),
        &parquet_in(&f, "wide"),
    );
    assert_eq!(
        rows(
            &f,
            "SELECT job, count(*), sum(qty) FROM 'orders/' GROUP BY job ORDER BY job"
        ),
        ["new,2,30000000000", "old,3,6"]
    );
    assert_eq!(
        rows(&f, "SELECT DISTINCT arrow_typeof(qty) FROM 'orders/'"),
        ["Int64"]
    );

    // Pipe-delimited lines in `.txt` files, no header: CSV by their content, as the crawler finds them.
    write(&f.path().join("pipes/a.txt"), b"1|alpha|2.5\n2|beta|3.5\n");
    write(&f.path().join("pipes/b.txt"), b"3|gamma|4.0\n4|delta|5.0\n");
    assert_eq!(
        rows(&f, "SELECT count(*), sum(col0), sum(col2) FROM 'pipes/'"),
        ["4,10,15.0"]
    );
    f.run_ok(&["crawl", "pipes"]);
    assert_eq!(rows(&f, "SELECT count(*), sum(col0) FROM pipes"), ["4,10"]);
    // A file the crawl would leave out fails the path query, named: its rows would be missing.
    write(&f.path().join("pipes/notes.md"), b"just some words\n");
    f.fails_naming(
        "SELECT count(*) FROM 'pipes/'",
        "notes.md` cannot be read with the folder's other files",
    );

    // What a path query read is billed: the crawl's samples (here each whole file) and the scan's reads.
    std::fs::remove_file(f.path().join("pipes/notes.md")).unwrap();
    let doc = f.json("SELECT count(*) FROM 'pipes/'");
    let sizes: u64 = ["a.txt", "b.txt"]
        .iter()
        .map(|n| {
            std::fs::metadata(f.path().join("pipes").join(n))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(stat(&doc, "bytes_scanned"), 2 * sizes, "{doc}");

    // A single file still reads by its extension.
    assert_eq!(
        rows(&f, "SELECT sum(qty) FROM 'orders/2023.parquet'"),
        ["6"]
    );
}

#[test]
fn a_truncated_parquet_file_fails_the_query_naming_it() {
    let f = Fixture::new();
    f.run_ok(&[
        "query",
        "CREATE TABLE cut WITH (format = 'PARQUET', external_location = 'cut/') AS \
         SELECT value AS v FROM generate_series(1, 100)",
    ]);
    assert_eq!(rows(&f, "SELECT count(*) FROM cut"), ["100"]);
    let file = walk(&f.path().join("cut"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap().to_string();
    let (_, err) = f.fails("SELECT sum(v) FROM cut");
    assert!(err.contains(&name) && err.contains("Parquet"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Queried by its folder's path, the crawl of it says which file it could not read.
    let (_, err) = f.fails("SELECT sum(v) FROM 'cut/'");
    assert!(err.contains(&name), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn compare_finds_float_averages_the_same_across_formats() {
    let f = Fixture::new();
    let q = "SELECT path, avg(latency_ms) FROM weblogs_csv WHERE day = 2 GROUP BY path";
    let out = f.run_ok(&["compare", "weblogs_csv", "-f", "json", "-q", q]);
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["queries"][0]["identical"], true, "{doc}");
}

/// A partition's bounds skip its files only while its listing shows the very files the crawl read, each by
/// its name, size and time: a file replaced by another of the same size with an older time kept (`cp -p`,
/// `rsync -t`) leaves the partition's count, bytes and newest time as they were, and must still be read.
#[test]
fn a_file_replaced_at_the_same_size_with_an_older_time_is_read_not_skipped_by_stale_bounds() {
    let f = Fixture::new();
    let at = |secs: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    for (name, first) in [("a", 1), ("b", 1001), ("c", 5001)] {
        f.run_ok(&[
            "query",
            &format!(
                "CREATE TABLE src_{name} WITH (format = 'PARQUET', write_compression = 'NONE', \
                 external_location = 'src_{name}/') AS \
                 SELECT CAST(value AS BIGINT) AS v FROM generate_series({first}, {})",
                first + 99
            ),
        ]);
    }
    let dir = f.path().join("kept/p=1");
    for (name, secs) in [("a", 1_704_067_200), ("b", 1_717_200_000)] {
        let path = dir.join(format!("{name}.parquet"));
        write(&path, &parquet_in(&f, &format!("src_{name}")));
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(at(secs)).unwrap();
    }
    f.run_ok(&["crawl", "kept"]);
    let reg = f.registry_json("default", "kept");
    let stats = &reg["partitions"][0]["stats"];
    assert_eq!(stats["columns"]["v"]["max"], "1100", "{reg}");
    assert_eq!(stats["files"].as_str().map(str::len), Some(32), "{reg}");
    let q = "SELECT count(*) FROM kept WHERE v > 5000";
    assert_eq!(rows(&f, q), ["0"]);
    // `cp -p` of another file of the same size over `a.parquet`: an older time than `b.parquet`'s.
    let replacement = parquet_in(&f, "src_c");
    assert_eq!(
        replacement.len() as u64,
        std::fs::metadata(dir.join("a.parquet")).unwrap().len()
    );
    let path = dir.join("a.parquet");
    std::fs::write(&path, &replacement).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(at(1_672_531_200)).unwrap();
    assert_eq!(rows(&f, q), ["100"]);
    assert_eq!(
        rows(&f, &format!("SET owl.partition_bounds = false; {q}")),
        ["100"]
    );
    // Crawled again, the bounds describe the files again and skip them.
    f.run_ok(&["crawl", "kept"]);
    assert_eq!(rows(&f, "SELECT count(*) FROM kept WHERE v > 6000"), ["0"]);
    let plan = f.csv_in(
        "default",
        "EXPLAIN ANALYZE SELECT count(*) FROM kept WHERE v > 6000",
    );
    assert!(
        plan.contains("files_ranges_pruned_statistics=2 total → 0 matched"),
        "{plan}"
    );
}
