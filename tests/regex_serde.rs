//! RegexSerDe through the real binary: a table declared with the DDL AWS documents for load balancer logs
//! (`ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe' WITH SERDEPROPERTIES ('input.regex' = ...)`), over
//! gzip files the test writes. Every number is checked against what the generator wrote: rows, the NULL rows of
//! malformed lines, sums, the top clients, and bytes scanned against the files' sizes.

mod common;

use common::{Fixture, stat, write_gz};
use std::collections::BTreeMap;

/// AWS's regex for ALB logs, cut to the fields written here, as its DDL spells it (`\"` inside the literal).
const REGEX: &str = r#"([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*):([0-9]*) ([^ ]*)[:-]([0-9]*) ([-.0-9]*) ([-.0-9]*) ([-.0-9]*) (|[-0-9]*) (-|[-0-9]*) ([-0-9]*) ([-0-9]*) \"([^ ]*) (.*) (- |[^ ]*)\" \"([^\"]*)\""#;

struct Written {
    lines: u64,
    good: u64,
    sent: i64,
    by_status: BTreeMap<i64, u64>,
    by_client: BTreeMap<String, u64>,
    file_bytes: u64,
}

fn write_logs(dir: &std::path::Path) -> Written {
    let mut w = Written {
        lines: 0,
        good: 0,
        sent: 0,
        by_status: BTreeMap::new(),
        by_client: BTreeMap::new(),
        file_bytes: 0,
    };
    std::fs::create_dir_all(dir).unwrap();
    for file in 0..3u64 {
        let mut text = String::new();
        for i in 0..400u64 {
            let n = file * 1000 + i;
            w.lines += 1;
            if n % 97 == 13 {
                // A line the pattern does not match: a row of NULLs.
                text.push_str("this is not a load balancer log line\n");
                continue;
            }
            let client = format!("10.0.{}.{}", n % 3, n % 7);
            let status = [200, 200, 200, 404, 500, 301][(n % 6) as usize];
            let sent = (n * 37 % 5000) as i64;
            let agent = if n % 5 == 0 {
                "curl/8.0 \"quoted\""
            } else {
                "Mozilla/5.0 (X11; Linux)"
            };
            let agent = agent.replace('"', "'");
            text.push_str(&format!(
                "https 2024-06-01T10:{:02}:{:02}.123456Z app/my-lb/50dc6c495c0c9188 {client}:{} 10.1.0.{}:80 0.001 0.{:03} 0.000 {status} {status} 120 {sent} \"GET https://example.com:443/p/{} HTTP/1.1\" \"{agent}\"\n",
                n % 60,
                i % 60,
                40000 + n,
                n % 9,
                n % 1000,
                n % 11,
            ));
            w.good += 1;
            w.sent += sent;
            *w.by_status.entry(status).or_default() += 1;
            *w.by_client.entry(client).or_default() += 1;
        }
        w.file_bytes += write_gz(&dir.join(format!("log-{file}.log.gz")), &text);
    }
    w
}

fn ddl(name: &str, location: &str) -> String {
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {name} (
            type string, time string, elb string, client_ip string, client_port int,
            target_ip string, target_port int,
            request_processing_time double, target_processing_time double, response_processing_time double,
            elb_status_code int, target_status_code string, received_bytes bigint, sent_bytes bigint,
            request_verb string, request_url string, request_proto string, user_agent string)
        ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe'
        WITH SERDEPROPERTIES ('serialization.format' = '1', 'input.regex' = '{REGEX}')
        LOCATION '{location}'"
    )
}

#[test]
fn alb_logs_read_through_regex_serde_give_the_generators_numbers() {
    let f = Fixture::new();
    let w = write_logs(&f.path().join("lake/alb"));
    f.run_ok(&["query", &ddl("my_alb_logs", "lake/alb/")]);

    let doc = f.json("SELECT count(*), count(client_ip), sum(sent_bytes), count(DISTINCT request_url) FROM my_alb_logs");
    let row = &doc["rows"][0];
    assert_eq!(row[0].as_u64(), Some(w.lines));
    assert_eq!(
        row[1].as_u64(),
        Some(w.good),
        "malformed lines are rows of NULLs"
    );
    assert_eq!(row[2].as_i64(), Some(w.sent));
    // Metered like other text: the gzip files, whole.
    assert_eq!(stat(&doc, "bytes_scanned"), w.file_bytes);
    // No column read: every line is still a row (the pattern is not run).
    let doc = f.json("SELECT count(*) FROM my_alb_logs");
    assert_eq!(doc["rows"][0][0].as_u64(), Some(w.lines));
    assert_eq!(stat(&doc, "bytes_scanned"), w.file_bytes);

    let doc = f.json(
        "SELECT elb_status_code, count(*) FROM my_alb_logs WHERE elb_status_code IS NOT NULL GROUP BY 1 ORDER BY 1",
    );
    let got: BTreeMap<i64, u64> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, w.by_status);

    // The README's example: top client IPs.
    let doc = f.json(
        "SELECT client_ip, count(*) AS requests FROM my_alb_logs WHERE client_ip IS NOT NULL \
         GROUP BY client_ip ORDER BY requests DESC, client_ip LIMIT 3",
    );
    let mut top: Vec<(String, u64)> = w.by_client.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let got: Vec<(String, u64)> = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, top[..3].to_vec());

    // A quoted group keeps its text; every column of a malformed line is NULL.
    let doc = f.json(
        "SELECT request_verb, request_proto, user_agent, client_port, request_processing_time FROM my_alb_logs \
         WHERE client_ip = '10.0.0.0' ORDER BY client_port LIMIT 1",
    );
    let row = &doc["rows"][0];
    assert_eq!(row[0], "GET");
    assert_eq!(row[1], "HTTP/1.1");
    assert_eq!(row[2], "curl/8.0 'quoted'");
    assert_eq!(row[3].as_u64(), Some(40000));
    assert_eq!(row[4].as_f64(), Some(0.001));
    let doc = f.json("SELECT count(*) FROM my_alb_logs WHERE type IS NULL AND time IS NULL AND user_agent IS NULL AND sent_bytes IS NULL");
    assert_eq!(doc["rows"][0][0].as_u64(), Some(w.lines - w.good));

    // SHOW CREATE TABLE gives the pattern back; run again, it reads the same rows.
    f.show_create_rerun("my_alb_logs");
    let again = f.json("SELECT sum(sent_bytes), count(client_ip) FROM again.my_alb_logs");
    assert_eq!(again["rows"][0][0].as_i64(), Some(w.sent));
    assert_eq!(again["rows"][0][1].as_u64(), Some(w.good));
}

#[test]
fn a_regex_table_that_cannot_be_read_is_refused_when_created() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.path().join("lake/x")).unwrap();
    for (sql, says) in [
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe' LOCATION 'lake/x/'",
            "input.regex",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe' \
             WITH SERDEPROPERTIES ('input.regex' = '([a-z]+') LOCATION 'lake/x/'",
            "does not compile",
        ),
        (
            "CREATE EXTERNAL TABLE t (a array<string>) ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.RegexSerDe' \
             WITH SERDEPROPERTIES ('input.regex' = '(.*)') LOCATION 'lake/x/'",
            "column `a`",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'com.amazonaws.glue.serde.GrokSerDe' \
             WITH SERDEPROPERTIES ('input.format' = '%{COMMONAPACHELOG} %{NOPE:x}') LOCATION 'lake/x/'",
            "%{NOPE} is not defined",
        ),
        (
            "CREATE EXTERNAL TABLE t (a string) ROW FORMAT SERDE 'com.amazonaws.glue.serde.GrokSerDe'              LOCATION 'lake/x/'",
            "input.format",
        ),
        (
            "CREATE EXTERNAL TABLE t (a map<string,string>) ROW FORMAT SERDE 'com.amazonaws.glue.serde.GrokSerDe'              WITH SERDEPROPERTIES ('input.format' = '%{WORD:a}') LOCATION 'lake/x/'",
            "column `a`",
        ),
    ] {
        f.fails_naming(sql, says);
    }
    assert!(!f.path().join("catalog/default/t.json").exists());
}
