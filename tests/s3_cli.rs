//! S3 end to end through the real binary and a real S3 protocol server on 127.0.0.1 (SigV4 on): crawl an S3
//! prefix, query it, and check owl's meter against the server's own count of bytes and requests; retries,
//! failures and credentials errors over real HTTP.

mod common;
#[path = "common/s3.rs"]
mod s3server;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::*;
use owl::sample::weblogs;
use s3server::{S3Server, SECRET_KEY, upload};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The fixture's sample-data, uploaded to `s3://lake/sample-data/` and crawled into database `s3lake`.
fn lake() -> (Fixture, S3Server) {
    let f = Fixture::new();
    let s = S3Server::start(&["lake"]);
    upload(
        &f.path().join("sample-data"),
        &s.bucket_dir("lake").join("sample-data"),
    );
    f.run_ok(&["query", "CREATE DATABASE s3lake"]);
    s.reset();
    let report = crawl_lake(&f, &s);
    // The crawler's own meter agrees with the server too.
    assert_eq!(report["bytes_read"].as_u64(), Some(s.counts().body_bytes));
    assert!(s.counts().list >= 1);
    (f, s)
}

/// `owl -d s3lake crawl s3://lake/sample-data`, expected to succeed; its JSON report.
fn crawl_lake(f: &Fixture, s: &S3Server) -> Value {
    let stdout = succeed(s3(f, s).args([
        "-d",
        "s3lake",
        "crawl",
        "s3://lake/sample-data",
        "-f",
        "json",
    ]));
    serde_json::from_slice(&stdout).unwrap()
}

/// `owl` in the fixture, with the server's endpoint and keys.
fn s3(f: &Fixture, s: &S3Server) -> assert_cmd::Command {
    let mut c = f.owl();
    s.env(&mut c);
    c
}

fn query(f: &Fixture, s: &S3Server, db: &str, sql: &str) -> Value {
    let stdout = succeed(s3(f, s).args(["-d", db, "query", "-f", "json", sql]));
    serde_json::from_slice(&stdout).unwrap()
}

/// Equal result rows, or a panic naming the first row that differs (not both whole results).
fn same_rows(a: &Value, b: &Value, what: &str) {
    let (a, b) = (a["rows"].as_array().unwrap(), b["rows"].as_array().unwrap());
    assert_eq!(a.len(), b.len(), "{what}: row counts differ");
    if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
        panic!("{what}: row {i} differs:\n{}\n{}", a[i], b[i]);
    }
}

#[test]
fn bytes_and_requests_equal_what_the_server_sent() {
    let (f, s) = lake();
    let mut queries = Vec::new();
    for t in [
        "weblogs_csv",
        "weblogs_csv_gz",
        "weblogs_ndjson",
        "weblogs_parquet",
    ] {
        queries.push(format!("SELECT * FROM {t} ORDER BY request_id"));
        queries.push(format!(
            "SELECT status, count(*) FROM {t} GROUP BY status ORDER BY status"
        ));
        queries.push(format!(
            "SELECT count(*), sum(bytes) FROM {t} WHERE month = 1 AND day = 2"
        ));
        queries.push(format!("SELECT * FROM {t} LIMIT 5"));
    }
    queries.push("SELECT count(*) FROM orders".into());
    queries.push("SELECT count(*) FROM cloudtrail".into());
    for sql in &queries {
        s.reset();
        let doc = query(&f, &s, "s3lake", sql);
        let server = s.counts();
        assert_eq!(stat(&doc, "bytes_scanned"), server.body_bytes, "{sql}");
        assert_eq!(req(&doc, "get"), server.get, "{sql}");
        assert_eq!(req(&doc, "list"), server.list, "{sql}");
        assert_eq!(req(&doc, "head"), server.head, "{sql}");
        assert!(server.body_bytes > 0, "{sql}");
        // The same answer as the local copy (LIMIT without ORDER BY may pick any rows: count them only).
        let local = f.json(sql);
        if sql.contains("LIMIT") {
            assert_eq!(doc["rows"].as_array().unwrap().len(), 5, "{sql}");
        } else {
            same_rows(&doc, &local, sql);
        }
    }
}

#[test]
fn pruned_queries_list_and_read_only_surviving_partitions() {
    let (f, s) = lake();
    let day = f.data("weblogs_csv/year=2024/month=01/day=02");
    let day_bytes = size_of_files(&day, ".csv");
    s.reset();
    let doc = query(
        &f,
        &s,
        "s3lake",
        "SELECT count(*) FROM weblogs_csv WHERE month = 1 AND day = 2",
    );
    assert_eq!(stat(&doc, "bytes_scanned"), day_bytes);
    assert_eq!(s.counts().body_bytes, day_bytes);
    // One LIST of the one surviving prefix.
    assert_eq!(s.counts().list, 1);
    assert_eq!(req(&doc, "list"), 1);

    // Two days of eight: one LIST of the table's folder (one page) instead of two; still only their files read.
    let day2 = f.data("weblogs_csv/year=2024/month=02/day=02");
    let two_days = day_bytes + size_of_files(&day2, ".csv");
    s.reset();
    let doc = query(
        &f,
        &s,
        "s3lake",
        "SELECT count(*) FROM weblogs_csv WHERE day = 2",
    );
    let truth = weblogs().iter().filter(|r| r.day == 2).count();
    assert_eq!(doc["rows"][0][0], truth);
    assert_eq!(stat(&doc, "bytes_scanned"), two_days);
    assert_eq!(s.counts().body_bytes, two_days);
    assert_eq!(s.counts().list, 1);

    // A time window with no partition filter: the days' statistics in the registry rule out six of the eight
    // Parquet files, which get no request at all, so it reads what the same window over its two days does.
    let window = "ts >= TIMESTAMP '2024-02-02 00:00:00'";
    let first = chrono::NaiveDate::from_ymd_opt(2024, 2, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let truth = weblogs().iter().filter(|r| r.ts >= first).count();
    let mut read = Vec::new();
    for sql in [
        format!("SELECT count(*) FROM weblogs_parquet WHERE {window}"),
        format!(
            "SELECT count(*) FROM weblogs_parquet WHERE month = 2 AND day IN (2, 3) AND {window}"
        ),
    ] {
        s.reset();
        let doc = query(&f, &s, "s3lake", &sql);
        assert_eq!(doc["rows"][0][0], truth, "{sql}");
        assert_eq!(req(&doc, "get"), s.counts().get, "{sql}");
        read.push((s.counts().get, s.counts().body_bytes));
    }
    assert_eq!(read[0], read[1], "{read:?}");
}

#[test]
fn crawl_s3_then_recrawl_after_a_new_partition() {
    let (f, s) = lake();
    let reg = f.registry_json("s3lake", "weblogs_parquet");
    assert_eq!(reg["location"], "s3://lake/sample-data/weblogs_parquet/");
    assert_eq!(reg["partitions"].as_array().unwrap().len(), 8);
    let before = query(&f, &s, "s3lake", "SELECT count(*) FROM weblogs_parquet");
    let n_before = before["rows"][0][0].as_u64().unwrap();

    // A new day arrives: a copy of an existing one under a new key.
    let src = f.data("weblogs_parquet/year=2024/month=01/day=02");
    let dst = s
        .bucket_dir("lake")
        .join("sample-data/weblogs_parquet/year=2024/month=03/day=01");
    upload(&src, &dst);
    let copied = common::walk(&src).len();
    assert!(copied > 0);
    let report = crawl_lake(&f, &s);
    let t = table_in(&report, "s3lake.weblogs_parquet");
    assert_eq!(t["partitions_added"], 1, "{t}");
    let day2 = query(
        &f,
        &s,
        "s3lake",
        "SELECT count(*) FROM weblogs_parquet WHERE month = 1 AND day = 2",
    );
    let after = query(&f, &s, "s3lake", "SELECT count(*) FROM weblogs_parquet");
    assert_eq!(
        after["rows"][0][0].as_u64().unwrap(),
        n_before + day2["rows"][0][0].as_u64().unwrap()
    );
    let march = query(
        &f,
        &s,
        "s3lake",
        "SELECT count(*) FROM weblogs_parquet WHERE month = 3",
    );
    assert_eq!(march["rows"], day2["rows"]);
}

#[test]
fn transient_server_errors_are_retried() {
    let (f, s) = lake();
    let local = f.json("SELECT count(*), sum(bytes) FROM weblogs_csv");
    s.reset();
    s.stats.fail_next.store(2, Ordering::SeqCst);
    let doc = query(
        &f,
        &s,
        "s3lake",
        "SELECT count(*), sum(bytes) FROM weblogs_csv",
    );
    assert_eq!(s.stats.injected.load(Ordering::SeqCst), 2);
    assert_eq!(doc["rows"], local["rows"]);
    // Failed attempts sent no object bytes; the bill is still exactly what was received.
    assert_eq!(stat(&doc, "bytes_scanned"), s.counts().body_bytes);
}

#[test]
fn a_store_that_keeps_failing_is_one_clear_error() {
    let (f, s) = lake();
    s.stats.fail_always.store(true, Ordering::SeqCst);
    let out = s3(&f, &s)
        .env("AWS_MAX_ATTEMPTS", "2")
        .args(["-d", "s3lake", "query", "SELECT count(*) FROM weblogs_csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "partial output: {:?}", out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with("error: s3://lake/sample-data/weblogs_csv"),
        "{err}"
    );
    assert!(
        first.contains("HTTP 503 SlowDown after 2 attempts"),
        "{err}"
    );
    assert!(first.contains(&format!("endpoint {}", s.endpoint)), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn a_wrong_secret_is_access_denied_naming_the_bucket() {
    let (f, s) = lake();
    let out = s3(&f, &s)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-0000")
        .args(["-d", "s3lake", "query", "SELECT count(*) FROM weblogs_csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: access denied to s3://lake/"),
        "{err}"
    );
    assert!(err.contains("SignatureDoesNotMatch"), "{err}");
    assert!(err.contains("profile default, region us-east-1"), "{err}");
    assert!(
        !err.contains("not-the-secret") && !err.contains(SECRET_KEY),
        "{err}"
    );
}

#[test]
fn a_missing_bucket_and_missing_credentials_say_so() {
    let f = Fixture::new();
    let s = S3Server::start(&["lake"]);
    let out = s3(&f, &s)
        .args(["query", "SELECT * FROM 's3://nope/data/'"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: s3://nope: the bucket does not exist"),
        "{err}"
    );

    let mut c = f.owl();
    s3server::clean_aws_env(&mut c);
    let out = c
        .env("AWS_ENDPOINT_URL", &s.endpoint)
        .args(["query", "SELECT * FROM 's3://lake/data/'"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: s3://lake: no AWS credentials (profile default)"),
        "{err}"
    );
    assert!(err.contains("--no-sign-request"), "{err}");
}

#[test]
fn public_buckets_need_no_credentials() {
    let f = Fixture::new();
    let s = S3Server::start_public(&["open"]);
    upload(
        &f.data("weblogs_parquet"),
        &s.bucket_dir("open").join("weblogs"),
    );
    let mut c = f.owl();
    s3server::clean_aws_env(&mut c);
    let stdout = succeed(c.args([
        "--endpoint-url",
        &s.endpoint,
        "--no-sign-request",
        "query",
        "-f",
        "json",
        "SELECT count(*) FROM 's3://open/weblogs/'",
    ]));
    let doc: Value = serde_json::from_slice(&stdout).unwrap();
    let local = f.json("SELECT count(*) FROM weblogs_parquet");
    assert_eq!(doc["rows"], local["rows"]);
    assert_eq!(stat(&doc, "bytes_scanned"), s.counts().body_bytes);
}

#[test]
fn ctas_writes_to_s3_and_the_new_table_is_queried_there() {
    let (f, s) = lake();
    let source = query(
        &f,
        &s,
        "s3lake",
        "SELECT * FROM weblogs_csv ORDER BY request_id",
    );
    let doc = query(
        &f,
        &s,
        "s3lake",
        "CREATE TABLE daily WITH (format = 'PARQUET', external_location = 's3://lake/out/daily/', \
         partitioned_by = ARRAY['day']) AS SELECT * FROM weblogs_csv",
    );
    assert_eq!(doc["rows"][0][0], 5836);
    assert!(req(&doc, "put") >= 1, "{doc}");
    let written = s.bucket_dir("lake").join("out/daily");
    assert!(
        written.join("day=2").is_dir(),
        "partition folders in the bucket"
    );
    let reg = f.registry_json("s3lake", "daily");
    assert_eq!(reg["location"], "s3://lake/out/daily/");
    assert_eq!(
        reg["stats"]["size_bytes"],
        size_of_files(&written, ".parquet")
    );
    // Read back from S3: the same rows (partition column last, as the table now has it).
    let copy = query(
        &f,
        &s,
        "s3lake",
        "SELECT ts, request_id, user_id, client_ip, method, path, status, bytes, latency_ms, user_agent, \
         referrer, year, month, day FROM daily ORDER BY request_id",
    );
    let original = query(
        &f,
        &s,
        "s3lake",
        "SELECT ts, request_id, user_id, client_ip, method, path, status, bytes, latency_ms, user_agent, \
         referrer, year, month, day FROM weblogs_csv ORDER BY request_id",
    );
    same_rows(&copy, &original, "CTAS copy on S3");
    assert_eq!(source["rows"].as_array().unwrap().len(), 5836);
    // The location is taken now.
    let out = s3(&f, &s)
        .args([
            "-d",
            "s3lake",
            "query",
            "CREATE TABLE again WITH (external_location = 's3://lake/out/daily/') AS SELECT 1 AS x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("CTAS location `s3://lake/out/daily/` is not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn string_partition_values_are_one_folder_each_on_s3() {
    let (f, s) = lake();
    let values = "SELECT * FROM (VALUES (1, 'a/b'), (2, 'x=y'), (3, 'ü %'), (4, 'c:d#e?'), (5, NULL)) AS v(x, s)";
    for (t, fmt) in [("s_parquet", "PARQUET"), ("s_orc", "ORC")] {
        query(
            &f,
            &s,
            "s3lake",
            &format!(
                "CREATE TABLE {t} WITH (format = '{fmt}', external_location = 's3://lake/out/{t}/', \
                 partitioned_by = ARRAY['s']) AS {values}"
            ),
        );
        // The keys as Hive writes them: `s=a%2Fb/...` is one folder's name in the bucket.
        let written = s.bucket_dir("lake").join(format!("out/{t}"));
        let mut folders: Vec<String> = std::fs::read_dir(&written)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        folders.sort();
        // The server keeps a folder for the staged files' keys; they are gone.
        if folders[0] == "_temporary" {
            assert_eq!(
                walk(&written.join("_temporary")),
                Vec::<std::path::PathBuf>::new()
            );
            folders.remove(0);
        }
        assert_eq!(
            folders,
            [
                "s=__HIVE_DEFAULT_PARTITION__",
                "s=a%2Fb",
                "s=c%3Ad%23e%3F",
                "s=x%3Dy",
                "s=ü %25"
            ],
            "{t}"
        );
        let doc = query(
            &f,
            &s,
            "s3lake",
            &format!("SELECT x, s FROM {t} ORDER BY x"),
        );
        assert_eq!(
            doc["rows"],
            serde_json::json!([[1, "a/b"], [2, "x=y"], [3, "ü %"], [4, "c:d#e?"], [5, null]]),
            "{t}"
        );
        s.reset();
        let doc = query(
            &f,
            &s,
            "s3lake",
            &format!("SELECT x FROM {t} WHERE s = 'a/b'"),
        );
        assert_eq!(doc["rows"], serde_json::json!([[1]]), "{t}");
        assert_eq!(
            stat(&doc, "bytes_scanned"),
            s.counts().body_bytes,
            "{t}: the meter is the server's count"
        );
    }
}

#[test]
fn a_text_file_named_in_from_on_s3_is_read_and_billed_as_the_server_counts() {
    let (f, s) = lake();
    for (file, table) in [
        (
            "sample-data/weblogs_csv_gz/year=2024/month=01/day=05/part-00000.csv.gz",
            "weblogs_csv",
        ),
        (
            "sample-data/weblogs_ndjson/year=2024/month=01/day=05/part-00000.json",
            "weblogs_ndjson",
        ),
    ] {
        let size = std::fs::metadata(f.path().join(file)).unwrap().len();
        s.reset();
        let doc = query(
            &f,
            &s,
            "s3lake",
            &format!("SELECT count(*), sum(bytes) FROM 's3://lake/{file}'"),
        );
        let want = f.json(&format!(
            "SELECT count(*), sum(bytes) FROM {table} WHERE month = 1 AND day = 5"
        ));
        assert_eq!(doc["rows"], want["rows"], "{file}");
        // Its first lines for the columns, in ranges; then the file, whole: what the server sent.
        assert_eq!(stat(&doc, "bytes_scanned"), s.counts().body_bytes, "{file}");
        assert!(stat(&doc, "bytes_scanned") <= 2 * size, "{file}: {doc}");
    }
}

#[test]
fn orc_and_avro_written_to_s3_read_back_with_bounded_requests() {
    let (f, s) = lake();
    for (t, fmt) in [("orc_daily", "ORC"), ("avro_daily", "AVRO")] {
        let doc = query(
            &f,
            &s,
            "s3lake",
            &format!(
                "CREATE TABLE {t} WITH (format = '{fmt}', external_location = 's3://lake/out/{t}/', \
                 partitioned_by = ARRAY['day']) AS SELECT * FROM weblogs_csv"
            ),
        );
        assert_eq!(doc["rows"][0][0], 5836);
        let written = s.bucket_dir("lake").join(format!("out/{t}"));
        let reg = f.registry_json("s3lake", t);
        assert_eq!(reg["stats"]["size_bytes"], size_of_files(&written, ""));
        let q = "SELECT day, count(*) AS n, sum(bytes) AS b FROM {t} GROUP BY day ORDER BY day";
        let got = query(&f, &s, "s3lake", &q.replace("{t}", t));
        let want = query(&f, &s, "s3lake", &q.replace("{t}", "weblogs_csv"));
        assert_eq!(got["rows"], want["rows"], "{t}");
    }
    // ORC: count(*) is one GET per file (the 4 KiB tail holds these footers); every column reads each file's
    // bytes once, all but its 3-byte magic.
    let orc = s.bucket_dir("lake").join("out/orc_daily");
    let files = walk(&orc).len() as u64;
    let doc = query(&f, &s, "s3lake", "SELECT count(*) FROM orc_daily");
    assert_eq!(doc["rows"][0][0], 5836);
    assert_eq!(req(&doc, "get"), files, "{doc}");
    let doc = query(&f, &s, "s3lake", "SELECT * FROM orc_daily");
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        size_of_files(&orc, "") - 3 * files
    );
    // Avro: one day's files, whole.
    let avro = s.bucket_dir("lake").join("out/avro_daily");
    let doc = query(
        &f,
        &s,
        "s3lake",
        "SELECT count(*) FROM avro_daily WHERE day = 2",
    );
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        size_of_files(&avro.join("day=2"), "")
    );
    assert_eq!(req(&doc, "get"), walk(&avro.join("day=2")).len() as u64);
}

/// `batch` written to `path` as one Parquet file, `rows` rows a row group.
fn write_parquet(path: &std::path::Path, batch: &RecordBatch, rows: usize) {
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

/// `sql` in database `s3lake` on 2 threads with `SET owl.<switch> = <on>` before it: the query's JSON document
/// and what the server counted for it.
fn with_switch(
    f: &Fixture,
    s: &S3Server,
    switch: &str,
    on: bool,
    sql: &str,
) -> (Value, s3server::Counts) {
    s.reset();
    let out = succeed(s3(f, s).env("OWL_THREADS", "2").args([
        "-d",
        "s3lake",
        "query",
        "-f",
        "json",
        &format!("SET owl.{switch} = {on}; {sql}"),
    ]));
    let last = out.split(|&b| b == b'\n').rfind(|l| !l.is_empty()).unwrap();
    (serde_json::from_slice(last).unwrap(), s.counts())
}

/// `owl.remote_streams`: a scan of an object store's files through more streams than threads (so that their
/// requests overlap) gives the rows the one-stream-a-thread scan gives, reads the same bytes with the same
/// requests as the server counts them, and the plan shows the streams. The sample's web logs: one file a day,
/// eight days, in every format.
#[test]
fn more_streams_than_threads_on_s3_answer_and_bill_the_same() {
    let (f, s) = lake();
    let run = |on: bool, sql: &str| with_switch(&f, &s, "remote_streams", on, sql);
    for t in ["weblogs_parquet", "weblogs_csv", "weblogs_ndjson"] {
        // The plan: eight streams (a file each) with the switch on, one a thread without.
        let plan = |on: bool| {
            let (doc, _) = run(on, &format!("EXPLAIN SELECT count(*) FROM {t}"));
            doc["rows"].to_string()
        };
        assert!(
            plan(true).contains("file_groups={8 groups"),
            "{}",
            plan(true)
        );
        assert!(
            plan(false).contains("file_groups={2 groups"),
            "{}",
            plan(false)
        );
        for sql in [
            format!("SELECT status, count(*), sum(bytes) FROM {t} GROUP BY status ORDER BY status"),
            format!(
                "SELECT day, count(DISTINCT user_id), max(latency_ms) FROM {t} WHERE month = 1 \
                 GROUP BY day ORDER BY day"
            ),
            format!(
                "SELECT w.method, count(*) FROM {t} w JOIN (SELECT DISTINCT path FROM {t} WHERE status = 404) p \
                 ON w.path = p.path GROUP BY w.method ORDER BY w.method"
            ),
            format!("SELECT * FROM {t} ORDER BY request_id"),
        ] {
            let (on, on_counts) = run(true, &sql);
            let (off, off_counts) = run(false, &sql);
            same_rows(&on, &off, &sql);
            assert!(!json_rows(&on).is_empty(), "{sql}");
            assert_eq!(stat(&on, "bytes_scanned"), on_counts.body_bytes, "{sql}");
            assert_eq!(stat(&off, "bytes_scanned"), off_counts.body_bytes, "{sql}");
            if t == "weblogs_parquet" {
                assert_eq!(on_counts, off_counts, "{sql}");
            } else {
                // A text file is read whole by its stream; split across threads by byte ranges (the one
                // stream a thread), its second range reads on to the end of the line it starts in.
                assert!(
                    on_counts.get <= off_counts.get,
                    "{sql}: {on_counts:?} {off_counts:?}"
                );
                assert!(
                    on_counts.body_bytes <= off_counts.body_bytes,
                    "{sql}: {on_counts:?} {off_counts:?}"
                );
            }
        }
        // A top-k reads what its run-time filter lets it: the same rows either way.
        let sql =
            format!("SELECT request_id, bytes FROM {t} ORDER BY bytes DESC, request_id LIMIT 5");
        same_rows(&run(true, &sql).0, &run(false, &sql).0, &sql);
    }
}

/// `owl.remote_exact_ranges`: a Parquet scan on S3 fetches the column chunks it projects and nothing between
/// them, so that it is billed what a local scan is; with the switch off, ranges up to 1 MiB apart are merged
/// into one GET and the column between them is read and billed. A table of three columns, the middle one wide
/// (each of its chunks far more than 16 KiB): a query of the outer two.
#[test]
fn s3_scans_fetch_the_chunks_they_project_and_not_the_gaps() {
    let (f, s) = lake();
    let dir = s.bucket_dir("lake").join("gaps");
    std::fs::create_dir_all(&dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, false),
        Field::new("pad", DataType::Utf8, false),
        Field::new("b", DataType::Int64, false),
    ]));
    let rows = 20_000i64;
    // Distinct, hash-like strings: neither a dictionary nor snappy makes them small.
    let pad = |k: i64| {
        let h = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        format!("{h:016x}{:016x}{:016x}", h.rotate_left(17), h ^ 0xdead_beef)
    };
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..rows)),
            Arc::new(StringArray::from_iter_values((0..rows).map(pad))),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|k| k * 3))),
        ],
    )
    .unwrap();
    for part in 0..2 {
        write_parquet(&dir.join(format!("part-{part}.parquet")), &batch, 5_000);
    }
    // Each middle chunk is a gap object_store's default would read; ours would not.
    for p in walk(&dir) {
        let reader =
            parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&p).unwrap())
                .unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        assert_eq!(meta.num_row_groups(), 4);
        for rg in meta.row_groups() {
            let gap = rg.column(1).byte_range().1;
            assert!(gap > 16 * 1024 && gap < 1024 * 1024, "{gap}");
        }
    }
    succeed(s3(&f, &s).args([
        "-d",
        "s3lake",
        "query",
        "CREATE EXTERNAL TABLE gaps (a bigint, pad string, b bigint) STORED AS PARQUET \
         LOCATION 's3://lake/gaps/'",
    ]));
    let run = |on: bool, sql: &str| with_switch(&f, &s, "remote_exact_ranges", on, sql);
    let sql = "SELECT count(*), sum(a), sum(b) FROM gaps";
    let (on, on_counts) = run(true, sql);
    let (off, off_counts) = run(false, sql);
    same_rows(&on, &off, sql);
    let n = rows as u64;
    assert_eq!(
        on["rows"][0],
        serde_json::json!([2 * n, n * (n - 1), 3 * n * (n - 1)])
    );
    // On: each file's footer read, then its `a` and `b` chunks, one GET each, sent together.
    assert_eq!(on_counts.body_bytes, parquet_bytes(&dir, &["a", "b"]));
    assert_eq!(on_counts.get, 2 * (1 + 2 * 4));
    // Off: one GET a row group, from `a` through `b`: the `pad` between them read and billed.
    assert_eq!(
        off_counts.body_bytes,
        parquet_bytes(&dir, &["a", "pad", "b"])
    );
    assert_eq!(off_counts.get, 2 * (1 + 4));
    for (doc, counts) in [(&on, on_counts), (&off, off_counts)] {
        assert_eq!(stat(doc, "bytes_scanned"), counts.body_bytes);
        assert_eq!(req(doc, "get"), counts.get);
    }
    // A filter and a top-k: the same rows either way, the meter equal to the server's count.
    for sql in [
        "SELECT count(*), min(a) FROM gaps WHERE b % 7 = 0 AND a > 1234",
        "SELECT a, b FROM gaps ORDER BY b DESC, a LIMIT 3",
        "SELECT a, length(pad) FROM gaps WHERE a BETWEEN 4990 AND 5010 ORDER BY a",
    ] {
        let (on, on_counts) = run(true, sql);
        let (off, off_counts) = run(false, sql);
        same_rows(&on, &off, sql);
        assert!(!json_rows(&on).is_empty(), "{sql}");
        assert_eq!(stat(&on, "bytes_scanned"), on_counts.body_bytes, "{sql}");
        assert_eq!(stat(&off, "bytes_scanned"), off_counts.body_bytes, "{sql}");
        assert!(
            on_counts.body_bytes <= off_counts.body_bytes,
            "{sql}: {on_counts:?} {off_counts:?}"
        );
    }
}

/// `owl.footer_hints`: a crawled table whose Parquet footers are all longer than the 8 KiB first read (many
/// row groups) has each footer read in one GET, where DataFusion's reader takes two (8 KiB from the end, then
/// the footer whole). The crawl keeps the shortest and longest footer of the table's files; the bytes are
/// exactly each file's footer and projected chunks with the switch on, the 8 KiB more per file without, the
/// meter equal to the server's count both ways, and `owl estimate` equal to the run.
#[test]
fn crawled_long_footers_are_read_in_one_request() {
    let (f, s) = lake();
    let dir = s.bucket_dir("lake").join("events");
    std::fs::create_dir_all(&dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    // Two files of 200 row groups each (4 rows a group): footers of ~30 KB, a few bytes apart.
    let mut footers = Vec::new();
    for part in 0..2i64 {
        let from = part * 800;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(from..from + 800)),
                Arc::new(StringArray::from_iter_values(
                    (from..from + 800).map(|k| format!("event-{k}")),
                )),
            ],
        )
        .unwrap();
        let path = dir.join(format!("part-{part}.parquet"));
        write_parquet(&path, &batch, 4);
        let bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        let metadata = u32::from_le_bytes(bytes[n - 8..n - 4].try_into().unwrap()) as u64;
        assert!(metadata > 8192, "{metadata}: the test needs long footers");
        footers.push(metadata + 8);
    }
    succeed(s3(&f, &s).args(["-d", "s3lake", "crawl", "s3://lake/events/", "-f", "json"]));
    let table = f.path().join("catalog/s3lake/events.json");
    let def: Value = serde_json::from_slice(&std::fs::read(&table).unwrap_or_else(|e| {
        let listed: Vec<_> = walk(&f.path().join("catalog/s3lake"));
        panic!("{}: {e}; the registry holds {listed:?}", table.display())
    }))
    .unwrap();
    let (shortest, longest) = (
        *footers.iter().min().unwrap(),
        *footers.iter().max().unwrap(),
    );
    assert_eq!(
        def["stats"]["footer_bytes"],
        serde_json::json!([shortest, longest]),
        "{def}"
    );
    // The projected chunks of both files, from their own footers.
    let chunks = |columns: &[&str]| -> u64 {
        walk(&dir)
            .iter()
            .map(|p| {
                let reader = parquet::file::reader::SerializedFileReader::new(
                    std::fs::File::open(p).unwrap(),
                )
                .unwrap();
                let meta = parquet::file::reader::FileReader::metadata(&reader);
                meta.row_groups()
                    .iter()
                    .flat_map(|rg| rg.columns())
                    .filter(|c| columns.contains(&c.column_path().string().as_str()))
                    .map(|c| c.byte_range().1)
                    .sum::<u64>()
            })
            .sum()
    };
    let run = |on: bool, sql: &str| with_switch(&f, &s, "footer_hints", on, sql);
    let sql = "SELECT count(*), sum(k), max(label) FROM events";
    let (on, on_counts) = run(true, sql);
    let (off, off_counts) = run(false, sql);
    same_rows(&on, &off, sql);
    assert_eq!(
        on["rows"][0],
        serde_json::json!([1600, 1600 * 1599 / 2, "event-999"])
    );
    // On: the longest footer from each file's end, one GET a file; off: 8 KiB, then the footer whole.
    assert_eq!(
        on_counts.body_bytes,
        2 * longest + chunks(&["k", "label"]),
        "{on_counts:?}"
    );
    let metadata: u64 = footers.iter().map(|f| f - 8).sum();
    assert_eq!(
        off_counts.body_bytes,
        2 * 8192 + metadata + chunks(&["k", "label"]),
        "{off_counts:?}"
    );
    assert_eq!(
        off_counts.get,
        on_counts.get + 2,
        "{on_counts:?} {off_counts:?}"
    );
    for (doc, counts) in [(&on, on_counts), (&off, off_counts)] {
        assert_eq!(stat(doc, "bytes_scanned"), counts.body_bytes);
        assert_eq!(req(doc, "get"), counts.get);
    }
    // The estimate prices the run as it reads.
    let est: Value = serde_json::from_slice(&succeed(
        s3(&f, &s).args(["-d", "s3lake", "estimate", "-f", "json", sql]),
    ))
    .unwrap();
    assert_eq!(
        est["statements"][0]["bytes_scanned"].as_u64(),
        Some(on_counts.body_bytes),
        "{est}"
    );
    // A filter: the same rows either way, never more bytes with the hint.
    let sql = "SELECT k, label FROM events WHERE k BETWEEN 798 AND 803 ORDER BY k";
    let (on, on_counts) = run(true, sql);
    let (off, off_counts) = run(false, sql);
    same_rows(&on, &off, sql);
    assert_eq!(json_rows(&on).len(), 6);
    assert_eq!(stat(&on, "bytes_scanned"), on_counts.body_bytes);
    assert!(
        on_counts.body_bytes < off_counts.body_bytes,
        "{on_counts:?} {off_counts:?}"
    );
    assert!(
        on_counts.get < off_counts.get,
        "{on_counts:?} {off_counts:?}"
    );
    // A file written since the crawl (one row group of 20,000 rows: a short footer in a file far longer than
    // the hint) makes the listing disagree with the crawl's count, and no file gets the hint: the same reads
    // as with the switch off, not the longest footer's bytes from the new file.
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(5000..25_000)),
            Arc::new(StringArray::from_iter_values(
                (5000..25_000).map(|k| format!("late-{k}")),
            )),
        ],
    )
    .unwrap();
    write_parquet(&dir.join("part-2.parquet"), &batch, 20_000);
    assert!(std::fs::metadata(dir.join("part-2.parquet")).unwrap().len() > 2 * longest);
    let sql = "SELECT count(*), sum(k), min(label) FROM events";
    let (on, on_counts) = run(true, sql);
    let (off, off_counts) = run(false, sql);
    same_rows(&on, &off, sql);
    assert_eq!(
        on["rows"][0],
        serde_json::json!([21_600, 1600 * 1599 / 2 + 299_990_000, "event-0"])
    );
    assert_eq!(on_counts, off_counts);
    assert_eq!(stat(&on, "bytes_scanned"), on_counts.body_bytes);
}
