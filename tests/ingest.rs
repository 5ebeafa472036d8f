//! Firehose-style delivery into tables: `owl ingest` from the command line, and boto3's Firehose client against a
//! real `owl serve` that is killed (-9) in the middle of the puts. Every count is checked against the records
//! the test made itself: each acknowledged record is read back exactly once, each one that does not fit is in
//! the error prefix with its bytes, and nothing else is there.

mod common;
#[path = "common/serve.rs"]
mod serve;

use common::{Fixture, json_rows, walk};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Create a table in the fixture's registry with owl's own DDL.
fn ddl(f: &Fixture, sql: &str) {
    f.run_ok(&["query", sql]);
}

fn table_dir(f: &Fixture, name: &str) -> PathBuf {
    f.path().join("lake").join(name)
}

fn create_tables(f: &Fixture) {
    let at = |n: &str| table_dir(f, n).display().to_string();
    ddl(
        f,
        &format!(
            "CREATE EXTERNAL TABLE ev (id bigint, name string, amount double, ts timestamp) STORED AS PARQUET \
             LOCATION '{}/'",
            at("ev")
        ),
    );
    ddl(
        f,
        &format!(
            "CREATE EXTERNAL TABLE evp (id bigint, name string) PARTITIONED BY (region string) STORED AS \
             PARQUET LOCATION '{}/'",
            at("evp")
        ),
    );
    ddl(
        f,
        &format!(
            "CREATE EXTERNAL TABLE evt (id bigint) PARTITIONED BY (year string, month string) STORED AS PARQUET \
             LOCATION '{}/'",
            at("evt")
        ),
    );
    ddl(
        f,
        &format!(
            "CREATE EXTERNAL TABLE evo (id bigint, name string) STORED AS ORC LOCATION '{}/'",
            at("evo")
        ),
    );
    ddl(
        f,
        &format!(
            "CREATE EXTERNAL TABLE csv_table (id bigint) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' \
             LOCATION '{}/'",
            at("csv_table")
        ),
    );
}

/// `owl ingest ARGS` with `input` as its records; the JSON summary.
fn ingest(f: &Fixture, args: &[&str], input: &str) -> Value {
    let path = f.path().join("records.ndjson");
    std::fs::write(&path, input).unwrap();
    let mut all = vec!["ingest", "-f", "json", "--input"];
    let p = path.display().to_string();
    all.push(&p);
    all.extend(args);
    serde_json::from_slice(&f.run_ok(&all)).unwrap()
}

/// `owl ingest ARGS` expected to fail with one line naming `says`.
fn ingest_fails(f: &Fixture, args: &[&str], says: &str) {
    let out = f
        .owl()
        .arg("ingest")
        .args(args)
        .write_stdin("{\"id\": 1}\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(first.contains(says), "{args:?}: {err}");
    // One line, and at most owl's `hint:` line after it.
    assert!(
        err.trim().lines().skip(1).all(|l| l.starts_with("hint: ")),
        "{args:?}: {err}"
    );
}

fn files_under(dir: &Path, hidden: bool) -> Vec<PathBuf> {
    if !dir.exists() {
        return vec![];
    }
    walk(dir)
        .into_iter()
        .filter(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            rel.starts_with('_') == hidden
        })
        .collect()
}

/// Every error document under `dir`'s `_processing-failed/`: (its raw record, its code).
fn error_docs(dir: &Path) -> Vec<(String, String)> {
    let mut out = vec![];
    for file in files_under(dir, true) {
        for line in std::fs::read_to_string(&file).unwrap().lines() {
            let doc: Value = serde_json::from_str(line).unwrap();
            let raw = base64_decode(doc["rawData"].as_str().unwrap());
            assert!(!doc["ErrorMessage"].as_str().unwrap().is_empty(), "{doc}");
            assert_eq!(doc["attemptsMade"], 1);
            out.push((raw, doc["ErrorCode"].as_str().unwrap().to_string()));
        }
    }
    out
}

fn base64_decode(text: &str) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = vec![];
    for c in text.bytes().filter(|&c| c != b'=') {
        bits = (bits << 6) | alphabet.iter().position(|&a| a == c).unwrap() as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn count(f: &Fixture, sql: &str) -> Vec<Vec<Value>> {
    json_rows(&f.json(sql))
}

fn as_u64(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn owl_ingest_delivers_by_hour_and_sets_misfits_aside() {
    let f = Fixture::new();
    create_tables(&f);
    // 3,000 records: every 97th has an id that is not a number, and two lines are not objects.
    let mut lines = vec![];
    let (mut good, mut good_sum, mut bad) = (0u64, 0u64, BTreeSet::new());
    for i in 0..3000u64 {
        if i % 97 == 0 {
            let l = format!(r#"{{"id": "x{i}", "name": "bad"}}"#);
            bad.insert(l.clone());
            lines.push(l);
        } else {
            // Keys in another case, an unknown field, a missing one: the OpenX SerDe's reading.
            lines.push(format!(
                r#"{{"ID": {i}, "Name": "r{i}", "amount": {}, "ts": "2026-12-06 10:00:{:02}", "extra": [1]}}"#,
                i as f64 / 4.0,
                i % 60
            ));
            good += 1;
            good_sum += i;
        }
    }
    for l in ["not json", "[1, 2]"] {
        bad.insert(l.to_string());
        lines.push(l.to_string());
    }
    let input = lines.join("\n") + "\n\n";
    let received_bytes: usize = lines.iter().map(String::len).sum();
    let before = chrono::Utc::now();
    let s = ingest(&f, &["ev"], &input);
    let after = chrono::Utc::now();
    assert_eq!(as_u64(&s["records"]), lines.len() as u64, "{s}");
    assert_eq!(as_u64(&s["bytes"]), received_bytes as u64, "{s}");
    assert_eq!(as_u64(&s["delivered"]), good, "{s}");
    assert_eq!(as_u64(&s["failed"]), bad.len() as u64, "{s}");
    let dir = table_dir(&f, "ev");
    let data = files_under(&dir, false);
    assert_eq!(as_u64(&s["files"]), data.len() as u64, "{s}: {data:?}");
    let written: u64 = walk(&dir)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!(as_u64(&s["bytes_written"]), written, "{s}");
    // By arrival hour in UTC, as Firehose writes.
    for p in &data {
        let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        let hours = [before, after].map(|t| t.format("%Y/%m/%d/%H/").to_string());
        assert!(hours.iter().any(|h| rel.starts_with(h)), "{rel}");
        assert!(
            rel.ends_with(".parquet") && rel.contains("/owl-ingest-1-"),
            "{rel}"
        );
    }
    let rows = count(
        &f,
        "SELECT count(*), sum(id), count(name), sum(amount), count(ts) FROM ev",
    );
    assert_eq!(as_u64(&rows[0][0]), good);
    assert_eq!(as_u64(&rows[0][1]), good_sum);
    assert_eq!(as_u64(&rows[0][2]), good);
    assert_eq!(rows[0][3].as_f64().unwrap(), good_sum as f64 / 4.0);
    assert_eq!(as_u64(&rows[0][4]), good);
    // The misfits: each one once, with its bytes, out of every query's way.
    assert_eq!(
        as_u64(&s["error_files"]),
        files_under(&dir, true).len() as u64,
        "{s}"
    );
    let errors = error_docs(&dir);
    let raw: BTreeSet<String> = errors.iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(errors.len(), bad.len());
    assert_eq!(raw, bad);
    assert!(
        errors
            .iter()
            .all(|(_, c)| c == "DataFormatConversion.MalformedData")
    );
    assert!(
        s["error_prefix"]
            .as_str()
            .unwrap()
            .ends_with("/_processing-failed/"),
        "{s}"
    );

    // A second run appends; buffers of 1 MiB deliver as they fill.
    let big: String = (0..40_000u64)
        .map(|i| format!("{{\"id\": {i}, \"name\": \"{}\"}}\n", "n".repeat(40)))
        .collect();
    let s2 = ingest(&f, &["default.ev", "--buffer-size", "1"], &big);
    assert_eq!(as_u64(&s2["delivered"]), 40_000, "{s2}");
    assert!(as_u64(&s2["files"]) >= 2, "{s2}");
    let rows = count(&f, "SELECT count(*), count(DISTINCT id) FROM ev");
    assert_eq!(as_u64(&rows[0][0]), good + 40_000);

    // Hive keys from the records' fields: partitions registered as they appear, values escaped in paths.
    let recs: String = (0..600u64)
        .map(|i| {
            let region = ["eu", "us", "a/b"][(i % 3) as usize];
            format!("{{\"id\": {i}, \"name\": \"r{i}\", \"region\": \"{region}\"}}\n")
        })
        .chain(["{\"id\": 9999}\n".to_string()])
        .collect();
    let s = ingest(&f, &["evp", "--compression", "GZIP"], &recs);
    assert_eq!(as_u64(&s["delivered"]), 600, "{s}");
    assert_eq!(as_u64(&s["failed"]), 1, "{s}");
    let def = f.registry_json("default", "evp");
    let parts: BTreeMap<String, String> = def["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["values"][0].as_str().unwrap().to_string(),
                p["location"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        parts,
        BTreeMap::from([
            ("a/b".to_string(), "region=a%2Fb/".to_string()),
            ("eu".into(), "region=eu/".into()),
            ("us".into(), "region=us/".into()),
        ])
    );
    let rows = count(
        &f,
        "SELECT region, count(*) FROM evp GROUP BY region ORDER BY region",
    );
    let got: Vec<(String, u64)> = rows
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), as_u64(&r[1])))
        .collect();
    assert_eq!(
        got,
        vec![("a/b".into(), 200), ("eu".into(), 200), ("us".into(), 200)]
    );
    let errors = error_docs(&table_dir(&f, "evp"));
    assert_eq!(
        errors,
        vec![(
            "{\"id\": 9999}".to_string(),
            "DynamicPartitioning.MetadataExtractionFailed".to_string()
        )]
    );

    // A field's value names the folder itself: one that would leave the table's folder, or hide its file
    // from queries, sets the record aside.
    let s = ingest(
        &f,
        &["evp", "--prefix", "!{partitionKeyFromQuery:region}/"],
        "{\"id\": 1, \"region\": \"..\"}\n{\"id\": 2, \"region\": \"_x\"}\n{\"id\": 3, \"region\": \"asia\"}\n",
    );
    assert_eq!(as_u64(&s["delivered"]), 1, "{s}");
    assert_eq!(as_u64(&s["failed"]), 2, "{s}");
    assert_eq!(s["partitions_added"], serde_json::json!(["asia/"]), "{s}");
    assert!(table_dir(&f, "evp").join("asia").is_dir());
    let rows = count(&f, "SELECT id FROM evp WHERE region = 'asia'");
    assert_eq!(rows, vec![vec![Value::from(3)]]);

    // Partition keys from the arrival time, by a Firehose prefix.
    let s = ingest(
        &f,
        &[
            "evt",
            "--prefix",
            "year=!{timestamp:yyyy}/month=!{timestamp:MM}/",
        ],
        "{\"id\": 1}\n{\"id\": 2}\n",
    );
    let now = chrono::Utc::now();
    assert_eq!(
        s["partitions_added"],
        serde_json::json!([now.format("year=%Y/month=%m/").to_string()]),
        "{s}"
    );
    let rows = count(&f, "SELECT year, month, sum(id) FROM evt GROUP BY 1, 2");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], now.format("%Y").to_string());
    assert_eq!(as_u64(&rows[0][2]), 3);

    // ORC.
    let s = ingest(
        &f,
        &["evo", "--compression", "ZLIB"],
        "{\"id\": 5, \"name\": \"x\"}\n",
    );
    assert_eq!(as_u64(&s["delivered"]), 1, "{s}");
    let rows = count(&f, "SELECT id, name FROM evo");
    assert_eq!(rows, vec![vec![Value::from(5), Value::from("x")]]);

    // Refusals: one line each, and nothing written.
    ingest_fails(&f, &["csv_table"], "Parquet or ORC");
    ingest_fails(&f, &["ev", "--prefix", "../../etc/"], "`..`");
    ingest_fails(&f, &["ev", "--prefix", "_hidden/"], "hide");
    ingest_fails(
        &f,
        &["ev", "--error-prefix", "errors/"],
        "start it with `_`",
    );
    ingest_fails(&f, &["ev", "--buffer-size", "0"], "1 to 128");
    ingest_fails(&f, &["ev", "--buffer-interval", "5"], "60 to 900");
    ingest_fails(&f, &["ev", "--compression", "LZMA"], "SNAPPY");
    ingest_fails(
        &f,
        &["evp", "--prefix", "!{timestamp:yyyy}/!{timestamp:MM}/"],
        "partition key",
    );
    ingest_fails(&f, &["nope"], "nope");
    assert!(!table_dir(&f, "csv_table").exists());
}

/// A buffer is delivered when it is as old as the interval, while the input is still open: `tail -F | owl
/// ingest` makes its records queryable as it goes.
#[test]
fn a_buffer_is_delivered_when_its_interval_passes() {
    use std::io::Write;
    let f = Fixture::new();
    create_tables(&f);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"))
        .current_dir(f.path())
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_DATABASE")
        .env("OWL_FIREHOSE_MIN_INTERVAL_S", "1")
        .args(["ingest", "ev", "--buffer-interval", "1", "-f", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"id\": 1}\n{\"id\": 2}\n{\"id\": 3}\n")
        .unwrap();
    stdin.flush().unwrap();
    let start = Instant::now();
    loop {
        let n = as_u64(&count(&f, "SELECT count(*) FROM ev")[0][0]);
        if n == 3 {
            break;
        }
        assert_eq!(n, 0, "a part of the buffer was delivered");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the buffer was not delivered by its interval"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stdin.write_all(b"{\"id\": 4}\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(as_u64(&s["delivered"]), 4, "{s}");
    assert_eq!(as_u64(&s["files"]), 2, "{s}");
    let rows = count(&f, "SELECT sum(id) FROM ev");
    assert_eq!(as_u64(&rows[0][0]), 10);
}

/// boto3's Firehose client puts 100,000 records (every 997th does not fit) while the server is killed with
/// SIGKILL after 30,000 are acknowledged; a new server on the same registry delivers the log, takes the rest,
/// and delivers its buffer when the stream is deleted. Every acknowledged record is then read exactly once, and
/// every acknowledged misfit is in the error prefix once.
/// `tests/python/firehose_clients.py ARGS` (boto3) against `server`, with the server's credentials only.
fn client(f: &Fixture, server: &serve::Served, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(serve::python_venv());
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/firehose_clients.py"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", f.path())
        .env("OWL_ENDPOINT", &server.endpoint)
        .env("OWL_KEY", serve::KEY)
        .env("OWL_SECRET", serve::SECRET)
        .env("OWL_NARROW_KEY", serve::NARROW_KEY)
        .env("OWL_NARROW_SECRET", serve::NARROW_SECRET)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// `client`, which must succeed: its output.
fn run_client(f: &Fixture, server: &serve::Served, args: &[&str]) -> String {
    let out = client(f, server, args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {stdout}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    stdout
}

#[test]
fn boto3_firehose_puts_survive_a_kill_9() {
    let f = Fixture::new();
    create_tables(&f);
    let python = |server: &serve::Served, args: &[&str]| client(&f, server, args);
    let run = |server: &serve::Served, args: &[&str]| run_client(&f, server, args);
    let acked_path = f.path().join("acked.txt");
    let acked_file = acked_path.display().to_string();
    let acked = || -> Vec<u64> {
        std::fs::read_to_string(&acked_path)
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };

    // The server writes only under the folders it is given.
    let lake = f.path().join("lake").display().to_string();
    let mut server = serve::Served::start(&f, &[], &["--allow-root", &lake]);
    assert!(run(&server, &["create", "events", "default", "ev"]).contains("create: ok"));
    let mut putter = python(&server, &["put", "events", "0", "60000", &acked_file])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while acked().len() < 30_000 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {} acknowledged; server: {}",
            acked().len(),
            server.log_text()
        );
        if let Ok(Some(status)) = putter.try_wait() {
            panic!("the putter ended ({status}) before 30,000 were acknowledged");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let out = putter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let first_part = acked().len();
    assert!(first_part >= 30_000);
    // Acknowledged records that only the log held at the kill: what the restart must deliver.
    let log = f.path().join("catalog/.firehose/events");
    let logged: u64 = walk(&log)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(logged > 0, "the kill left nothing in the log to recover");
    // The rest of the records to a new server on the same registry: it delivers what the log kept first.
    let server = serve::Served::start(&f, &[], &["--allow-root", &lake]);
    let attempted_first = 60_000;
    run(
        &server,
        &[
            "put",
            "events",
            &attempted_first.to_string(),
            "40000",
            &acked_file,
        ],
    );
    assert!(run(&server, &["delete", "events"]).contains("delete: ok"));

    let acked: BTreeSet<u64> = acked().into_iter().collect();
    assert!(acked.len() >= first_part + 40_000);
    let doc = f.json("SELECT id FROM ev");
    let ids: Vec<u64> = json_rows(&doc).iter().map(|r| as_u64(&r[0])).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a record was delivered twice");
    let acked_good: BTreeSet<u64> = acked.iter().copied().filter(|n| n % 997 != 0).collect();
    let missing: Vec<&u64> = acked_good.difference(&unique).take(5).collect();
    assert!(
        missing.is_empty(),
        "acknowledged records lost: {missing:?} ({} of {})",
        acked_good.difference(&unique).count(),
        acked_good.len()
    );
    // Only records that were sent: the acknowledged ones, and at most the batch in flight at the kill.
    let extra: Vec<u64> = unique.difference(&acked_good).copied().collect();
    assert!(
        extra.len() <= 500,
        "{} records never acknowledged",
        extra.len()
    );
    assert!(extra.iter().all(|n| *n < attempted_first && n % 997 != 0));
    // The misfits: each acknowledged one in the error prefix once.
    let errors = error_docs(&table_dir(&f, "ev"));
    let error_ids: Vec<u64> = errors
        .iter()
        .map(|(raw, _)| {
            let doc: Value = serde_json::from_str(raw).unwrap();
            doc["id"].as_str().unwrap()[1..].parse().unwrap()
        })
        .collect();
    let error_set: BTreeSet<u64> = error_ids.iter().copied().collect();
    assert_eq!(
        error_ids.len(),
        error_set.len(),
        "a misfit was written twice"
    );
    let acked_bad: BTreeSet<u64> = acked.iter().copied().filter(|n| n % 997 == 0).collect();
    assert!(acked_bad.is_subset(&error_set));
    // The count a query bills agrees.
    let rows = count(&f, "SELECT count(*) FROM ev");
    assert_eq!(as_u64(&rows[0][0]), unique.len() as u64);
    // The log is gone with the stream.
    assert!(!f.path().join("catalog/.firehose/events").exists());
    assert!(!f.path().join("catalog/.firehose/events.json").exists());
}

#[test]
fn a_delete_that_cannot_deliver_keeps_the_stream_and_its_records() {
    let f = Fixture::new();
    create_tables(&f);
    let lake = f.path().join("lake").display().to_string();
    let server = serve::Served::start(&f, &[], &["--allow-root", &lake]);
    let run = |args: &[&str]| run_client(&f, &server, args);
    let acked_path = f.path().join("acked.txt");
    let acked_file = acked_path.display().to_string();
    assert!(run(&["create", "events", "default", "ev"]).contains("create: ok"));
    run(&["put", "events", "1", "1000", &acked_file]);
    // The table goes away under the stream: the buffer (1 MB, 60 s: not due yet) cannot be delivered.
    let ev_ddl = format!(
        "CREATE EXTERNAL TABLE ev (id bigint, name string, amount double, ts timestamp) STORED AS PARQUET \
         LOCATION '{}/'",
        table_dir(&f, "ev").display()
    );
    ddl(&f, "DROP TABLE ev");
    assert!(run(&["delete_refused", "events"]).contains("delete refused: ok"));
    // Still taking records, and its log still holds the first ones.
    run(&["put", "events", "1001", "500", &acked_file]);
    let logged = walk(&f.path().join("catalog/.firehose/events"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .count();
    assert!(logged >= 1, "the undelivered records are not in the log");
    // The table is back: the retries deliver, and the delete goes through.
    ddl(&f, &ev_ddl);
    assert!(run(&["delete_eventually", "events", "90"]).contains("delete: ok"));
    assert!(!f.path().join("catalog/.firehose/events").exists());

    let acked: BTreeSet<u64> = std::fs::read_to_string(&acked_path)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(acked.len(), 1500);
    let doc = f.json("SELECT id FROM ev");
    let ids: Vec<u64> = json_rows(&doc).iter().map(|r| as_u64(&r[0])).collect();
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "a record was delivered twice");
    let good: BTreeSet<u64> = acked.iter().copied().filter(|n| n % 997 != 0).collect();
    assert_eq!(unique, good);
    assert_eq!(
        error_docs(&table_dir(&f, "ev")).len(),
        1,
        "record 997 is a misfit"
    );
}

#[test]
fn a_stream_has_one_server_on_a_registry() {
    let f = Fixture::new();
    create_tables(&f);
    let lake = f.path().join("lake").display().to_string();
    let first = serve::Served::start(&f, &[], &["--allow-root", &lake]);
    let acked_file = f.path().join("acked.txt").display().to_string();
    run_client(&f, &first, &["create", "events", "default", "ev"]);
    run_client(&f, &first, &["put", "events", "1", "300", &acked_file]);
    // A second server on the same registry leaves the stream, and the log the first is writing, alone: it
    // neither replays nor deletes it, and says why.
    let second = serve::Served::start(&f, &[], &["--allow-root", &lake]);
    let says = "run by another owl process";
    let out = run_client(
        &f,
        &second,
        &["refused", "events", "ServiceUnavailableException", says],
    );
    assert!(out.contains("refused: ok"), "{out}");
    assert!(second.log_text().contains(says), "{}", second.log_text());
    drop(second);
    assert!(run_client(&f, &first, &["delete", "events"]).contains("delete: ok"));
    let doc = f.json("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM ev");
    let row: Vec<u64> = json_rows(&doc)[0].iter().map(as_u64).collect();
    assert_eq!(row, vec![300, 300, 1, 300]);
}
