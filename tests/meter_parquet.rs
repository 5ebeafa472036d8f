//! Parquet bytes against the files' own metadata: the footer read plus exactly the column chunks of the
//! projected columns.

mod common;

use common::*;
use owl::config::PARQUET_FOOTER_HINT;
use parquet::file::reader::{FileReader, SerializedFileReader};
use std::path::Path;

/// What reading `columns` of every row group of `file` must cost: the footer prefetch (the last
/// PARQUET_FOOTER_HINT bytes, and the whole footer again when it is longer: the parquet crate fetches it anew)
/// plus each projected column chunk.
fn expected_bytes(file: &Path, columns: &[&str]) -> u64 {
    let len = std::fs::metadata(file).unwrap().len();
    let bytes = std::fs::read(file).unwrap();
    let metadata =
        u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as u64;
    let hint = (PARQUET_FOOTER_HINT as u64).min(len);
    let prefetch = if metadata + 8 <= hint {
        hint
    } else {
        hint + metadata
    };
    let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
    let mut chunks = 0;
    for rg in reader.metadata().row_groups() {
        for c in rg.columns() {
            if columns.contains(&c.column_path().string().as_str()) {
                chunks += c.byte_range().1;
            }
        }
    }
    prefetch + chunks
}

#[test]
fn projection_reads_footer_plus_projected_chunks() {
    let f = Fixture::new();
    let files: Vec<_> = walk(&f.data("weblogs_parquet"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("month=01"))
        .collect();
    assert_eq!(files.len(), 5);

    let doc = f.json("SELECT sum(bytes), max(path) FROM weblogs_parquet WHERE month = 1");
    let expect: u64 = files
        .iter()
        .map(|p| expected_bytes(p, &["bytes", "path"]))
        .sum();
    assert_eq!(stat(&doc, "bytes_scanned"), expect);
    assert_eq!(stat(&doc, "files_read"), 5);

    // count(*) needs the footers only.
    let doc = f.json("SELECT count(*) FROM weblogs_parquet WHERE month = 1");
    let expect: u64 = files.iter().map(|p| expected_bytes(p, &[])).sum();
    assert_eq!(stat(&doc, "bytes_scanned"), expect);

    // Every column: every chunk.
    let all = owl::sample::WEBLOG_COLUMNS;
    let doc = f.json("SELECT * FROM weblogs_parquet WHERE month = 1");
    let expect: u64 = files.iter().map(|p| expected_bytes(p, &all)).sum();
    assert_eq!(stat(&doc, "bytes_scanned"), expect);
    // Columnar pays off: a 2-column read is well under a full read.
    let two = f.json("SELECT sum(bytes), max(path) FROM weblogs_parquet WHERE month = 1");
    assert!(stat(&two, "bytes_scanned") * 2 < expect);
}

#[test]
fn corrupt_parquet_fails_clearly_and_bills_nothing() {
    let f = Fixture::new();
    let victim = f.data("weblogs_parquet/year=2024/month=02/day=03/part-00000.parquet");
    std::fs::write(&victim, b"PAR1 this is not a parquet file").unwrap();
    let out = f
        .owl()
        .args([
            "query",
            "--format",
            "json",
            "SELECT sum(bytes) FROM weblogs_parquet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.lines().count() <= 2, "one line (plus a hint): {err}");
    assert!(!err.contains("panicked"), "{err}");
    // The other days still work.
    let doc = f.json("SELECT count(*) FROM weblogs_parquet WHERE month = 1");
    assert!(doc["rows"][0][0].as_u64().unwrap() > 0);
}

#[test]
fn page_indexes_are_read_only_where_they_can_skip_pages() {
    let f = Fixture::new();
    let files: Vec<_> = walk(&f.data("weblogs_parquet"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("month=01"))
        .collect();
    // The crawler found each file's row groups in `ts` order, while each spans the range of `status`.
    let stats = &f.registry_json("default", "weblogs_parquet")["stats"]["columns"];
    assert_eq!(stats["ts"]["clustered"], true);
    assert_eq!(stats["status"]["clustered"], false);

    // A filter on `status` alone skips no page (nor row group, here): the scan reads the footers and the two
    // columns' chunks, no page index.
    let sql = "SELECT count(*), sum(bytes) FROM weblogs_parquet WHERE month = 1 AND status <> 404";
    let doc = f.json(sql);
    let expect: u64 = files
        .iter()
        .map(|p| expected_bytes(p, &["status", "bytes"]))
        .sum();
    assert_eq!(stat(&doc, "bytes_scanned"), expect);

    // As DataFusion does: the page index too, for the same answer.
    let always = f.json_last(&[], &format!("SET owl.clustered_page_index = false; {sql}"));
    assert_eq!(always["rows"], doc["rows"]);
    assert!(stat(&always, "bytes_scanned") > expect, "{always}");

    // A filter on `ts` reads the page index and skips pages with it.
    let pages = |sql: &str| -> u64 {
        let plan =
            String::from_utf8(f.run_ok(&["query", "-f", "csv", &format!("EXPLAIN ANALYZE {sql}")]))
                .unwrap();
        let at = plan
            .find("page_index_pages_pruned=")
            .expect("a Parquet scan's metrics");
        plan[at + "page_index_pages_pruned=".len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(pages(sql), 0);
    assert!(
        pages(
            "SELECT count(*) FROM weblogs_parquet WHERE month = 1 AND ts < TIMESTAMP '2024-01-02 12:00:00'"
        ) > 0
    );
}

/// The README's first command, run as a new user runs it (the committed registry and sample data, from the
/// repository's root), prints the stats line the README shows, and its bytes are the files' own count.
#[test]
fn the_readmes_first_example_prints_what_the_readme_shows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let command = readme
        .lines()
        .find_map(|l| l.strip_prefix("cargo run -- query \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the README starts with `cargo run -- query \"...\"`");
    let shown = readme
        .lines()
        .find(|l| l.starts_with("5 rows in "))
        .expect("the README shows the first example's stats line");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"))
        .args(["query", command])
        .current_dir(root)
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_DATABASE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let printed = stderr.lines().last().unwrap();
    let without_time = |l: &str| {
        let (rows, rest) = l.split_once(" in ").unwrap();
        format!("{rows}{}", &rest[rest.find(" s · ").unwrap() + 2..])
    };
    assert_eq!(without_time(printed), without_time(shown));
    // The bytes: month 1's five files, each its footer read and its `bytes` column chunks.
    let files: Vec<_> = walk(&root.join("sample-data/weblogs_parquet"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("month=01"))
        .collect();
    assert_eq!(files.len(), 5);
    let expect: u64 = files.iter().map(|p| expected_bytes(p, &["bytes"])).sum();
    let human = owl::output::human_bytes(expect, owl::cost::Units::Decimal);
    assert!(
        printed.contains(&format!("scanned {human} ·")),
        "{printed} (the files say {expect} bytes: {human})"
    );
}

/// A file of many row groups (a footer longer than the prefetch), with page indexes: what a run reads is the
/// prefetch, the footer again, the projected chunks and, with a filter, the page index; `owl estimate` stays an
/// upper bound of it. Found by the differential tester's meter oracle: the estimate counted a long footer
/// once and no page index, and promised less than runs read.
#[test]
fn long_footers_and_page_indexes_are_in_the_estimate() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    let f = Fixture::new();
    let path = f.path().join("lake/many/part-0.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..400)),
            Arc::new(StringArray::from_iter_values(
                (0..400).map(|k| format!("row-{k}")),
            )),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(4))
        .build();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let metadata = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap());
    assert!(metadata as usize > PARQUET_FOOTER_HINT, "{metadata}");

    let location = path.parent().unwrap().display().to_string();
    f.run_ok(&[
        "query",
        &format!(
            "CREATE EXTERNAL TABLE many (k bigint, label string) STORED AS PARQUET LOCATION '{location}'"
        ),
    ]);
    let estimate = |sql: &str| -> u64 {
        let doc: serde_json::Value =
            serde_json::from_slice(&f.run_ok(&["estimate", "-f", "json", sql])).unwrap();
        doc["statements"][0]["bytes_scanned"].as_u64().unwrap()
    };
    let sql = "SELECT sum(k), max(label) FROM many";
    let read = stat(&f.json(sql), "bytes_scanned");
    assert_eq!(read, expected_bytes(&path, &["k", "label"]));
    assert_eq!(estimate(sql), read);
    // A filter that prunes by the page index reads it too (and may skip chunks by statistics).
    let sql = "SELECT sum(k), max(label) FROM many WHERE k BETWEEN 10 AND 13 OR k = 399";
    let doc = f.json(sql);
    assert_eq!(doc["rows"][0][0].as_i64(), Some(10 + 11 + 12 + 13 + 399));
    let read = stat(&doc, "bytes_scanned");
    assert!(estimate(sql) >= read, "{} < {read}", estimate(sql));
}

/// Every run keeps what it read of what its tables hold (`stats.read`, and the history entry): the files of the
/// partitions it chose, the file columns it read, and the row groups it read of those its files hold. Each
/// number against the files themselves: the folders on disk, and the Parquet footers' own row group
/// statistics.
#[test]
fn every_run_keeps_what_it_read_of_what_its_tables_hold() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet::file::statistics::Statistics;
    use std::sync::Arc;

    let f = Fixture::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
    ]));
    // Three partitions; `a` has two files of 4 row groups each, with k in 0..400 and 1000..1400.
    let files = [
        ("a", "part-0", 0i64),
        ("a", "part-1", 1000),
        ("b", "part-0", 0),
        ("c", "part-0", 0),
    ];
    for (region, name, from) in files {
        let dir = f.path().join(format!("lake/events/region={region}"));
        std::fs::create_dir_all(&dir).unwrap();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(from..from + 400)),
                Arc::new(StringArray::from_iter_values(
                    (0..400).map(|k| format!("row-{k}")),
                )),
                Arc::new(Int64Array::from_iter_values((0..400).map(|k| k % 7))),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let file = std::fs::File::create(dir.join(format!("{name}.parquet"))).unwrap();
        let mut w = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    f.run_ok(&["crawl", "lake/events"]);

    let (lo, hi) = (150, 160);
    let sql = format!("SELECT sum(v) FROM events WHERE region = 'a' AND k BETWEEN {lo} AND {hi}");
    let doc = f.json(&sql);
    let read = &doc["stats"]["read"];
    // The files of the one partition chosen, as the folder holds them.
    let partition = f.path().join("lake/events/region=a");
    let on_disk = walk(&partition);
    assert_eq!(read["files_planned"], on_disk.len() as u64, "{read}");
    assert_eq!(
        read["partitions"],
        serde_json::json!(["events: 1 of 3 partitions"])
    );
    // Every planned file is read or skipped by statistics, and the meter saw the ones read.
    let skipped = read["files_skipped"].as_u64().unwrap();
    let files_read = read["files_read"].as_u64().unwrap();
    assert_eq!(files_read + skipped, on_disk.len() as u64, "{read}");
    assert_eq!(files_read, stat(&doc, "files_read"));
    // k and v of the files' three columns (region lives in the folder names).
    assert_eq!(read["columns_read"], 2, "{read}");
    assert_eq!(read["columns_total"], 3, "{read}");
    assert_eq!(read["row_format"], false);
    // Row groups: those whose k statistics meet [lo, hi], of those the opened files hold.
    let mut meeting = 0;
    let mut per_file = Vec::new();
    for p in &on_disk {
        let reader = SerializedFileReader::new(std::fs::File::open(p).unwrap()).unwrap();
        per_file.push(reader.metadata().num_row_groups() as u64);
        for rg in reader.metadata().row_groups() {
            let Some(Statistics::Int64(s)) = rg.column(0).statistics() else {
                panic!("no k statistics in {}", p.display());
            };
            if *s.min_opt().unwrap() <= hi && *s.max_opt().unwrap() >= lo {
                meeting += 1;
            }
        }
    }
    assert_eq!(read["row_groups"]["read"], meeting, "{read}");
    assert_eq!(meeting, 1);
    assert!(per_file.iter().all(|n| *n == per_file[0]));
    assert_eq!(
        read["row_groups"]["total"].as_u64().unwrap(),
        per_file[0] * files_read,
        "{read}"
    );
    // The history keeps it with the query.
    let history: Vec<serde_json::Value> =
        serde_json::from_slice(&f.run_ok(&["history", "-n", "0", "-f", "json"])).unwrap();
    let entry = history
        .iter()
        .find(|e| e["query_id"] == doc["stats"]["query_id"])
        .expect("the query's history entry");
    assert_eq!(&entry["read"], read);

    // A row format parses every column, whatever the query keeps.
    let doc = f.json("SELECT count(*) FROM weblogs_csv");
    let read = &doc["stats"]["read"];
    assert_eq!(read["row_format"], true, "{read}");
    assert_eq!(read["columns_read"], read["columns_total"], "{read}");
    assert!(read.get("row_groups").is_none(), "{read}");
    // A statement that reads no file has nothing to break down.
    let doc = f.json("SELECT 1");
    assert!(doc["stats"].get("read").is_none(), "{}", doc["stats"]);
}
