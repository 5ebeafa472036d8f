//! `owl compare` through the real binary on the sample web logs: each format's bytes checked against the copies'
//! own files (sizes, Parquet footers), identical results, reuse of unchanged copies, the SVG chart.

mod common;

use common::*;
use serde_json::Value;

const QUERY: &str =
    "SELECT status, count(*) AS n, sum(bytes) AS b FROM weblogs_csv GROUP BY status";

fn compare(f: &Fixture, extra: &[&str]) -> Value {
    let mut args = vec!["compare", "weblogs_csv", "-f", "json", "-q", QUERY];
    args.extend_from_slice(extra);
    serde_json::from_slice(&f.run_ok(&args)).unwrap()
}

fn run_of<'a>(doc: &'a Value, query: usize, format: &str) -> &'a Value {
    doc["queries"][query]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["format"] == format)
        .unwrap_or_else(|| panic!("{format} not in {doc}"))
}

#[test]
fn parquet_scans_less_than_csv_by_what_its_files_say() {
    let f = Fixture::new();
    let doc = compare(&f, &["--chart", "chart.svg"]);
    let data = f.path().join(".owl/compare/default.weblogs_csv/data");
    let q = &doc["queries"][0];
    assert_eq!(q["identical"], true, "{q}");
    assert_eq!(q["runs"].as_array().unwrap().len(), 8);
    // Row-format copies: their whole files.
    for (format, dir) in [
        ("csv", "csv"),
        ("csv.gz", "csv_gz"),
        ("ndjson.gz", "ndjson_gz"),
        ("avro", "avro"),
    ] {
        assert_eq!(
            run_of(&doc, 0, format)["bytes_scanned"],
            size_of_files(&data.join(dir), ""),
            "{format}"
        );
    }
    // Parquet: footers and the two columns' chunks.
    for (format, dir) in [("parquet", "parquet"), ("parquet.zstd", "parquet_zstd")] {
        assert_eq!(
            run_of(&doc, 0, format)["bytes_scanned"],
            parquet_bytes(&data.join(dir), &["status", "bytes"]),
            "{format}"
        );
    }
    // Why: Parquet reads the two named columns of the 11 in its files; a row format reads all of them.
    let pq_run = run_of(&doc, 0, "parquet");
    assert_eq!(
        (
            pq_run["columns_read"].as_u64(),
            pq_run["columns_total"].as_u64()
        ),
        (Some(2), Some(11))
    );
    assert_eq!(pq_run["why"], "2/11 columns, 8/8 files");
    // ORC (exact bytes: tests/formats_cli.rs): the two columns, less than its files hold.
    let orc = run_of(&doc, 0, "orc");
    assert_eq!(orc["why"], "2/11 columns, 8/8 files");
    let orc_scanned = orc["bytes_scanned"].as_u64().unwrap();
    assert!(
        orc_scanned < size_of_files(&data.join("orc"), "") / 2,
        "{orc}"
    );
    assert_eq!(
        run_of(&doc, 0, "avro")["why"],
        "all 11 columns (row format), 8/8 files"
    );
    assert_eq!(
        run_of(&doc, 0, "csv")["why"],
        "all 11 columns (row format), 8/8 files"
    );
    let csv = run_of(&doc, 0, "csv")["bytes_scanned"].as_f64().unwrap();
    let pq = run_of(&doc, 0, "parquet")["bytes_scanned"]
        .as_f64()
        .unwrap();
    assert!(pq < csv / 2.0, "parquet {pq} vs csv {csv}");
    let savings = run_of(&doc, 0, "parquet")["savings_vs_csv_pct"]
        .as_f64()
        .unwrap();
    assert!((savings - 100.0 * (1.0 - pq / csv)).abs() < 1e-9);
    // Copy sizes are the files on disk.
    for c in doc["copies"].as_array().unwrap() {
        let dir = c["format"].as_str().unwrap().replace('.', "_");
        assert_eq!(c["size_bytes"], size_of_files(&data.join(&dir), ""), "{c}");
        assert_eq!(c["cached"], false);
    }
    // The chart: an SVG document with a bar per format.
    let svg = std::fs::read_to_string(f.path().join("chart.svg")).unwrap();
    assert!(
        svg.starts_with("<svg ") && svg.contains("xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect ").count(), 8);
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
}

#[test]
fn parquet_row_groups_pruned_by_statistics_are_in_the_why() {
    let f = Fixture::new();
    let early = "ts < TIMESTAMP '2024-01-01 12:00:00'";
    let doc = compare(
        &f,
        &[
            "--formats",
            "csv,parquet",
            "-q",
            &format!("SELECT count(*) AS n FROM weblogs_csv WHERE {early}"),
        ],
    );
    // The rows before noon on the first day live in one daily file (asked of the CSV source).
    let days = f.json(&format!(
        "SELECT year, month, day FROM weblogs_csv WHERE {early} GROUP BY year, month, day"
    ));
    assert_eq!(days["rows"].as_array().unwrap().len(), 1, "{days}");
    let data = f
        .path()
        .join(".owl/compare/default.weblogs_csv/data/parquet");
    let groups: usize = walk(&data)
        .iter()
        .map(|p| {
            let r =
                parquet::file::reader::SerializedFileReader::new(std::fs::File::open(p).unwrap())
                    .unwrap();
            parquet::file::reader::FileReader::metadata(&r).num_row_groups()
        })
        .sum();
    assert_eq!(groups, 8, "one row group per daily file");
    let pq = run_of(&doc, 1, "parquet");
    assert_eq!(pq["row_groups"]["total"], 8, "{pq}");
    assert_eq!(pq["row_groups"]["read"], 1, "{pq}");
    assert_eq!(pq["why"], "1/11 columns, 1/8 row groups, 8/8 files");
    assert_eq!(doc["queries"][1]["identical"], true);
    // Nothing pruned: no row-group words.
    assert_eq!(run_of(&doc, 0, "parquet")["why"], "2/11 columns, 8/8 files");
    assert!(run_of(&doc, 0, "csv").get("row_groups").is_none());
}

#[test]
fn formats_that_cannot_hold_the_table_are_left_out_by_default_and_refused_when_asked_for() {
    let f = Fixture::new();
    let q = "SELECT count(*) AS n FROM cloudtrail";
    let out = f
        .owl()
        .args(["compare", "cloudtrail", "-f", "json", "-q", q])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let skipped: Vec<&str> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["format"].as_str().unwrap())
        .collect();
    // cloudtrail has struct and array columns: CSV and ORC cannot hold them; JSON, Parquet and Avro can.
    assert_eq!(skipped, ["csv", "csv.gz", "orc"]);
    assert!(stderr.contains("note: left out orc: column `"), "{stderr}");
    let ran: Vec<&str> = doc["queries"][0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["format"].as_str().unwrap())
        .collect();
    assert_eq!(
        ran,
        ["ndjson", "ndjson.gz", "parquet", "parquet.zstd", "avro"]
    );
    assert_eq!(doc["queries"][0]["identical"], true);
    // Asked for by name: a failure.
    let out = f
        .owl()
        .args(["compare", "cloudtrail", "--formats", "parquet,orc", "-q", q])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("writing the orc copy: column `"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unchanged_copies_are_reused_and_a_changed_source_is_rewritten() {
    let f = Fixture::new();
    let formats = ["--formats", "csv,parquet"];
    let first = compare(&f, &formats);
    let again = compare(&f, &formats);
    for c in again["copies"].as_array().unwrap() {
        assert_eq!(c["cached"], true, "{c}");
    }
    assert_eq!(first["queries"][0]["runs"], {
        let mut r = again["queries"][0]["runs"].clone();
        for (a, b) in r
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(first["queries"][0]["runs"].as_array().unwrap())
        {
            a["elapsed_ms"] = b["elapsed_ms"].clone();
        }
        r
    });
    // A new file in the source: the copies are written again and count it.
    let day = f.data("weblogs_csv/year=2024/month=01/day=01");
    std::fs::copy(day.join("part-00000.csv"), day.join("part-00001.csv")).unwrap();
    let changed = compare(&f, &formats);
    for c in changed["copies"].as_array().unwrap() {
        assert_eq!(c["cached"], false, "{c}");
    }
    let csv_size = |doc: &Value| doc["copies"][0]["size_bytes"].as_u64().unwrap();
    assert!(csv_size(&changed) > csv_size(&first));
}

#[test]
fn bad_formats_and_missing_queries_fail_clearly() {
    let f = Fixture::new();
    let out = f
        .owl()
        .args([
            "compare",
            "weblogs_csv",
            "-q",
            QUERY,
            "--formats",
            "csv,xml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "unknown format `xml`: use csv, csv.gz, ndjson, ndjson.gz, parquet, parquet.zstd, orc, avro"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A query naming the table as the user's registry has it: the copies answer only to the bare name.
    let out = f
        .owl()
        .args([
            "compare",
            "weblogs_csv",
            "--formats",
            "csv",
            "-q",
            "SELECT count(*) FROM default.weblogs_csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "a compare query sees only the compared table, by its bare name (`FROM weblogs_csv`)"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = f.owl().args(["compare", "weblogs_csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to compare"));
    let out = f
        .owl()
        .args(["compare", "nope", "-q", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`default.nope`"));
}
