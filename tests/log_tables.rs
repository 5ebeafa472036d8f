//! Logs as Athena users query them, through the real binary: Grok SerDe tables declared with the DDL in
//! Athena's documentation, custom grok classifiers (`owl crawl --grok ... --classification`), and the crawler
//! recognising AWS's service logs (ALB, classic ELB, CloudFront, VPC flow logs, S3 access logs) and the
//! combined log format by content. Every number is checked against what the test's generator wrote.

mod common;

use common::{Fixture, json_rows as rows, stat, table_in, write_gz};
use std::collections::BTreeMap;
use std::path::Path;

/// A result of (text, count) rows.
fn counts(doc: &serde_json::Value) -> Vec<(String, u64)> {
    rows(doc)
        .iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_u64().unwrap()))
        .collect()
}

/// Postfix mail log lines (Athena's Grok example), every 50th malformed; per queue id prefix, the count.
fn postfix(dir: &Path) -> (u64, u64, BTreeMap<String, u64>, u64) {
    let (mut lines, mut good, mut by_program) = (0, 0, BTreeMap::new());
    let mut text = String::new();
    for i in 0..600u64 {
        lines += 1;
        if i % 50 == 7 {
            text.push_str("-- MARK --\n");
            continue;
        }
        let program = ["postfix/smtpd", "postfix/cleanup", "postfix/qmgr"][(i % 3) as usize];
        text.push_str(&format!(
            "Feb {:>2} 07:{:02}:{:02} m4eastmail {program}[{}]: B{:010X}: message {i} from unknown[192.168.55.{}]\n",
            1 + i % 9,
            i % 60,
            (i * 7) % 60,
            1000 + i,
            0x88C4120838u64 + i,
            i % 250
        ));
        good += 1;
        *by_program.entry(program.to_string()).or_default() += 1;
    }
    let bytes = write_gz(&dir.join("maillog-1.gz"), &text);
    (lines, good, by_program, bytes)
}

#[test]
fn grok_serde_tables_as_athenas_documentation_declares_them() {
    let f = Fixture::new();
    let (lines, good, by_program, bytes) = postfix(&f.path().join("lake/groksample"));
    // Athena's documented example, as written there.
    f.run_ok(&[
        "query",
        r#"CREATE EXTERNAL TABLE `mygroktable`(
   syslogbase string,
   queue_id string,
   syslog_message string,
   program string,
   pid int
   )
ROW FORMAT SERDE
   'com.amazonaws.glue.serde.GrokSerDe'
WITH SERDEPROPERTIES (
   'input.grokCustomPatterns' = 'POSTFIX_QUEUEID [0-9A-F]{7,12}',
   'input.format'='%{SYSLOGBASE} %{POSTFIX_QUEUEID:queue_id}: %{GREEDYDATA:syslog_message}'
   )
STORED AS INPUTFORMAT
   'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT
   'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 'lake/groksample/'"#,
    ]);
    let doc = f.json(
        "SELECT count(*), count(queue_id), count(syslogbase), sum(pid), min(syslog_message) FROM mygroktable",
    );
    let row = &rows(&doc)[0];
    assert_eq!(row[0].as_u64(), Some(lines));
    assert_eq!(row[1].as_u64(), Some(good), "unmatched lines are NULL rows");
    assert_eq!(row[2].as_u64(), Some(good));
    let pids: u64 = (0..600u64).filter(|i| i % 50 != 7).map(|i| 1000 + i).sum();
    assert_eq!(row[3].as_u64(), Some(pids));
    assert_eq!(row[4], "message 0 from unknown[192.168.55.0]");
    assert_eq!(stat(&doc, "bytes_scanned"), bytes, "the gzip file, whole");

    let doc = f.json(
        "SELECT program, count(*) FROM mygroktable WHERE program IS NOT NULL GROUP BY 1 ORDER BY 1",
    );
    let got: BTreeMap<String, u64> = counts(&doc).into_iter().collect();
    assert_eq!(got, by_program);
    let doc = f.json("SELECT queue_id, syslogbase FROM mygroktable WHERE pid = 1000");
    assert_eq!(
        rows(&doc),
        vec![vec![
            serde_json::json!("B88C4120838"),
            serde_json::json!("Feb  1 07:00:00 m4eastmail postfix/smtpd[1000]:")
        ]]
    );

    // SHOW CREATE TABLE gives the SerDe properties back; run again, the table reads the same.
    let ddl = f.show_create_rerun("mygroktable");
    assert!(ddl.contains("com.amazonaws.glue.serde.GrokSerDe"), "{ddl}");
    let doc = f.json("SELECT count(queue_id), sum(pid) FROM again.mygroktable");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(good));
    assert_eq!(rows(&doc)[0][1].as_u64(), Some(pids));
}

#[test]
fn a_custom_grok_classifier_names_the_columns_and_types() {
    let f = Fixture::new();
    let mut text = String::new();
    let (mut total_ms, mut warns) = (0u64, 0u64);
    for i in 0..300u64 {
        let level = ["INFO", "WARN", "ERROR"][(i % 3) as usize];
        warns += u64::from(level == "WARN");
        total_ms += i * 3;
        text.push_str(&format!(
            "2024-06-{:02} 10:{:02}:{:02} {level} {} took {}ms\n",
            1 + i % 28,
            i % 60,
            i % 60,
            ["api", "db", "cache"][(i % 3) as usize],
            i * 3
        ));
    }
    let bytes = write_gz(&f.path().join("lake/app/app.log.gz"), &text);
    let report: serde_json::Value = serde_json::from_slice(&f.run_ok(&[
        "crawl",
        "lake/app",
        "-f",
        "json",
        "--grok",
        "%{TIMESTAMP_ISO8601:ts:timestamp} %{LOGLEVEL:level} %{WORD:component} took %{INT:ms:int}ms",
        "--classification",
        "applog",
    ]))
    .unwrap();
    table_in(&report, "default.app");
    let t = f.registry_json("default", "app");
    assert_eq!(t["properties"]["classification"], "applog");
    assert_eq!(t["format"]["classification"], "grok");
    let cols: Vec<(String, String)> = t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("ts", "timestamp"),
            ("level", "string"),
            ("component", "string"),
            ("ms", "int")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let doc = f.json(
        "SELECT sum(ms), sum(CASE WHEN level = 'WARN' THEN 1 ELSE 0 END), max(ts), count(*) FROM app WHERE component IS NOT NULL",
    );
    let row = &rows(&doc)[0];
    assert_eq!(row[0].as_u64(), Some(total_ms));
    assert_eq!(row[1].as_u64(), Some(warns));
    assert_eq!(row[3].as_u64(), Some(300));
    assert_eq!(stat(&doc, "bytes_scanned"), bytes);

    // A classifier that cannot work is refused before anything is read or written.
    let out = f
        .owl()
        .args([
            "crawl",
            "lake",
            "--grok",
            "%{NOSUCH:x}",
            "--classification",
            "bad",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("%{NOSUCH}"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// One day of each log kind, written as AWS writes them (gzip), with the numbers a query should give.
struct Logs {
    alb_requests: u64,
    alb_by_client: BTreeMap<String, u64>,
    elb_sent: u64,
    cf_rows: u64,
    cf_bytes: u64,
    vpc_rows: u64,
    vpc_rejected_by_hour: BTreeMap<u64, u64>,
    s3_rows: u64,
    s3_bytes: u64,
    apache_rows: u64,
    apache_404: u64,
}

fn write_aws_logs(root: &Path) -> Logs {
    let mut l = Logs {
        alb_requests: 0,
        alb_by_client: BTreeMap::new(),
        elb_sent: 0,
        cf_rows: 0,
        cf_bytes: 0,
        vpc_rows: 0,
        vpc_rejected_by_hour: BTreeMap::new(),
        s3_rows: 0,
        s3_bytes: 0,
        apache_rows: 0,
        apache_404: 0,
    };
    let mut alb = String::new();
    for i in 0..200u64 {
        let client = format!("198.51.100.{}", i % 5);
        *l.alb_by_client.entry(client.clone()).or_default() += 1;
        l.alb_requests += 1;
        alb.push_str(&format!(
            "https 2024-06-01T{:02}:00:{:02}.123456Z app/my-lb/50dc6c495c0c9188 {client}:{} 10.1.0.{}:80 0.001 0.002 0.000 200 200 120 {} \"GET https://example.com:443/p/{} HTTP/1.1\" \"curl/8.0\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/73e2d6bc24d8a067 \"Root=1-58337262-{i:024x}\" \"example.com\" \"-\" 0 2024-06-01T10:00:00.120000Z \"forward\" \"-\" \"-\" \"10.1.0.1:80\" \"200\" \"-\" \"-\" TID_{i}\n",
            i % 24,
            i % 60,
            40000 + i,
            i % 9,
            100 + i,
            i % 7
        ));
    }
    write_gz(
        &root.join("alb/123456789012_elasticloadbalancing_us-east-1_app.my-lb_20240601T0000Z_10.0.0.1_x.log.gz"),
        &alb,
    );
    let mut elb = String::new();
    for i in 0..50u64 {
        l.elb_sent += 57 + i;
        elb.push_str(&format!(
            "2015-05-13T23:{:02}:43.945958Z my-loadbalancer 192.168.131.{}:2817 10.0.0.1:80 0.000086 0.001048 0.001337 200 200 0 {} \"GET https://www.example.com:443/ HTTP/1.1\" \"curl/7.38.0\" DHE-RSA-AES128-SHA TLSv1.2\n",
            i % 60,
            i % 200,
            57 + i
        ));
    }
    write_gz(&root.join("elb/elb.log.gz"), &elb);
    let mut cf = String::from(
        "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end\n",
    );
    for i in 0..80u64 {
        l.cf_rows += 1;
        l.cf_bytes += 1000 + i;
        cf.push_str(&format!(
            "2019-12-04\t21:02:{:02}\tLAX1\t{}\t192.0.2.{}\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\t-\tMozilla/5.0\t-\t-\tHit\tSOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-\n",
            i % 60,
            1000 + i,
            i % 250
        ));
    }
    write_gz(
        &root.join("cloudfront/E2EXAMPLE.2019-12-04-21.d111111a.gz"),
        &cf,
    );
    let mut vpc = String::from(
        "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
    );
    let day = 1717200000u64; // 2024-06-01T00:00:00Z
    for i in 0..240u64 {
        l.vpc_rows += 1;
        if i % 40 == 39 {
            vpc.push_str(&format!(
                "2 123456789010 eni-1235b8ca123456789 - - - - - - - {} {} - NODATA\n",
                day + i * 300,
                day + i * 300 + 60
            ));
            continue;
        }
        let action = if i % 4 == 0 { "REJECT" } else { "ACCEPT" };
        let start = day + i * 300;
        if action == "REJECT" {
            *l.vpc_rejected_by_hour.entry(i * 300 / 3600).or_default() += 1;
        }
        vpc.push_str(&format!(
            "2 123456789010 eni-1235b8ca123456789 172.31.16.{} 172.31.16.21 {} 22 6 20 4249 {start} {} {action} OK\n",
            i % 200,
            20000 + i,
            start + 60
        ));
    }
    write_gz(
        &root.join("vpc/123456789010_vpcflowlogs_us-east-1_fl-1234abcd_20240601T0000Z_hash.log.gz"),
        &vpc,
    );
    let mut s3 = String::new();
    for i in 0..60u64 {
        l.s3_rows += 1;
        l.s3_bytes += 100 * i;
        s3.push_str(&format!(
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be amzn-s3-demo-bucket1 [06/Feb/2019:00:00:{:02} +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.OBJECT photos/{i}.jpg \"GET /amzn-s3-demo-bucket1/photos/{i}.jpg HTTP/1.1\" 200 - {} {} 7 - \"-\" \"S3Console/0.4\" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-s3-demo-bucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -\n",
            i % 60,
            100 * i,
            100 * i + 5
        ));
    }
    write_gz(&root.join("s3/2019-02-06-00-00-38-5A3EXAMPLE"), &s3);
    let mut apache = String::new();
    for i in 0..120u64 {
        l.apache_rows += 1;
        let status = if i % 6 == 0 { 404 } else { 200 };
        l.apache_404 += u64::from(status == 404);
        apache.push_str(&format!(
            "203.0.113.{} - - [10/Oct/2024:13:{:02}:36 -0700] \"GET /page/{i} HTTP/1.1\" {status} {} \"https://example.com/\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n",
            i % 10,
            i % 60,
            500 + i
        ));
    }
    write_gz(&root.join("apache/access.log.gz"), &apache);
    l
}

#[test]
fn the_crawler_knows_aws_logs_and_the_combined_log_format() {
    let f = Fixture::new();
    let l = write_aws_logs(&f.path().join("logs"));
    let report: serde_json::Value =
        serde_json::from_slice(&f.run_ok(&["crawl", "logs", "-f", "json"])).unwrap();
    for (table, classification, records) in [
        ("alb", "alb", l.alb_requests),
        ("elb", "elb", 50),
        ("cloudfront", "cloudfront", l.cf_rows),
        ("vpc", "vpc_flow", l.vpc_rows),
        ("s3", "s3_access", l.s3_rows),
        ("apache", "combined_apache", l.apache_rows),
    ] {
        table_in(&report, &format!("default.{table}"));
        let t = f.registry_json("default", table);
        assert_eq!(
            t["properties"]["classification"], classification,
            "{table}: {t}"
        );
        assert_eq!(
            t["stats"]["record_count"].as_u64(),
            Some(records),
            "{table}"
        );
        let doc = f.json(&format!("SELECT count(*) FROM {table}"));
        assert_eq!(
            rows(&doc)[0][0].as_u64(),
            Some(records),
            "{table}: header lines are no rows"
        );
    }

    // Athena's example queries, as its documentation writes them, on its column names.
    let doc = f.json(
        "SELECT client_ip, count(*) AS requests FROM alb GROUP BY client_ip ORDER BY requests DESC, client_ip LIMIT 2",
    );
    let mut top: Vec<(String, u64)> = l.alb_by_client.clone().into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let got: Vec<(String, u64)> = counts(&doc).into_iter().collect();
    assert_eq!(got, top[..2].to_vec());
    let doc = f.json("SELECT sum(sent_bytes), min(elb_response_code) FROM elb");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(l.elb_sent));
    assert_eq!(rows(&doc)[0][1], "200");
    let doc = f.json("SELECT sum(sc_bytes), min(date), count(DISTINCT c_ip) FROM cloudfront");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(l.cf_bytes));
    assert_eq!(rows(&doc)[0][1], "2019-12-04");
    // Rejected flows per hour (a NODATA record's numbers are NULL, not a failure).
    let doc = f.json(
        "SELECT from_unixtime(start - start % 3600) AS hour, count(*) FROM vpc WHERE action = 'REJECT' \
         GROUP BY 1 ORDER BY 1",
    );
    let got: Vec<u64> = rows(&doc).iter().map(|r| r[1].as_u64().unwrap()).collect();
    let want: Vec<u64> = l.vpc_rejected_by_hour.values().copied().collect();
    assert_eq!(got, want);
    let doc = f.json("SELECT count(*) FROM vpc WHERE log_status = 'NODATA' AND srcport IS NULL AND bytes IS NULL");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(6));
    let doc = f.json("SELECT sum(bytessent), count(DISTINCT key), min(requestdatetime) FROM s3");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(l.s3_bytes));
    assert_eq!(rows(&doc)[0][1].as_u64(), Some(60));
    assert_eq!(rows(&doc)[0][2], "06/Feb/2019:00:00:00 +0000");
    let doc = f.json(
        "SELECT count(*), count(DISTINCT clientip), sum(CAST(bytes AS bigint)) FROM apache WHERE response = '404'",
    );
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(l.apache_404));
    assert_eq!(rows(&doc)[0][1].as_u64(), Some(5));
    let bytes: u64 = (0..120u64).filter(|i| i % 6 == 0).map(|i| 500 + i).sum();
    assert_eq!(rows(&doc)[0][2].as_u64(), Some(bytes));
}

#[test]
fn logs_in_aws_layout_are_registered_with_projected_days() {
    let f = Fixture::new();
    let base = f
        .path()
        .join("lake/AWSLogs/123456789012/elasticloadbalancing/us-east-1");
    let line = |i: u64, day: u32| {
        format!(
            "https 2024-06-{day:02}T10:00:{:02}.000000Z app/my-lb/50dc6c495c0c9188 198.51.100.{}:4000 10.1.0.1:80 0.001 0.002 0.000 200 200 120 {} \"GET https://example.com:443/ HTTP/1.1\" \"curl/8.0\" - - arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/73e2d6bc24d8a067 \"Root=1-5\" \"-\" \"-\" 0 2024-06-{day:02}T10:00:00.000000Z \"forward\" \"-\" \"-\" \"10.1.0.1:80\" \"200\" \"-\" \"-\" TID_{i}\n",
            i % 60,
            i % 7,
            10 + i
        )
    };
    let mut sizes = BTreeMap::new();
    for day in [1u32, 2, 3] {
        let text: String = (0..40u64).map(|i| line(i, day)).collect();
        let size = write_gz(
            &base.join(format!("2024/06/{day:02}/123456789012_elasticloadbalancing_us-east-1_app.my-lb_202406{day:02}T1000Z_x.log.gz")),
            &text,
        );
        sizes.insert(day, size);
    }
    let report: serde_json::Value =
        serde_json::from_slice(&f.run_ok(&["crawl", "lake", "-f", "json"])).unwrap();
    assert_eq!(
        table_in(&report, "default.alb_logs")["format"],
        "alb: regex (gzip)"
    );
    let t = f.registry_json("default", "alb_logs");
    assert!(
        t["location"]
            .as_str()
            .unwrap()
            .ends_with("lake/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"),
        "{t}"
    );
    assert_eq!(t["partition_keys"][0]["name"], "day");
    assert_eq!(t["properties"]["projection.enabled"], "true");
    assert_eq!(t["properties"]["projection.day.range"], "2024/06/01,NOW");
    assert_eq!(t["partitions"].as_array().map_or(0, |p| p.len()), 0);

    // One day reads that day's file only.
    let doc = f.json("SELECT count(*), sum(sent_bytes) FROM alb_logs WHERE day = '2024/06/02'");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(40));
    assert_eq!(rows(&doc)[0][1].as_u64(), Some((10..50).sum()));
    assert_eq!(stat(&doc, "bytes_scanned"), sizes[&2]);
    // EXPLAIN says how many prefixes the query projects to.
    let plan = f.csv_in(
        "default",
        "EXPLAIN SELECT count(*) FROM alb_logs WHERE day IN ('2024/06/02', '2024/06/03')",
    );
    assert!(
        plan.contains("owl_partitions,alb_logs: 2 partitions projected (day: date `yyyy/MM/dd`)"),
        "{plan}"
    );
    // A day delivered after the crawl is there with no crawl or MSCK REPAIR.
    let text: String = (0..5u64).map(|i| line(i, 4)).collect();
    let size = write_gz(&base.join("2024/06/04/late.log.gz"), &text);
    let doc = f.json("SELECT count(*) FROM alb_logs WHERE day >= '2024/06/03'");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(45));
    assert_eq!(stat(&doc, "bytes_scanned"), sizes[&3] + size);
    let doc = f.json("SELECT day, count(*) FROM alb_logs GROUP BY day ORDER BY day");
    let got: Vec<(String, u64)> = counts(&doc).into_iter().collect();
    assert_eq!(
        got,
        [
            ("2024/06/01", 40),
            ("2024/06/02", 40),
            ("2024/06/03", 40),
            ("2024/06/04", 5)
        ]
        .map(|(d, n)| (d.to_string(), n))
    );
}

#[test]
fn the_sample_logs_answer_the_readmes_questions() {
    let f = Fixture::new(); // sample-data generated and crawled
    let requests = owl::sample::alb_requests();
    let flows = owl::sample::vpc_flows();
    for (table, classification) in [("alb_logs", "alb"), ("vpc_flow_logs", "vpc_flow")] {
        let t = f.registry_json("default", table);
        assert_eq!(t["properties"]["classification"], classification);
        assert_eq!(t["properties"]["projection.day.range"], "2024/06/01,NOW");
    }
    // Top client IPs.
    let mut by_client: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &requests {
        *by_client.entry(&r.client_ip).or_default() += 1;
    }
    let mut top: Vec<(String, u64)> = by_client
        .into_iter()
        .map(|(c, n)| (c.to_string(), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let doc = f.json(
        "SELECT client_ip, count(*) AS requests FROM alb_logs GROUP BY client_ip ORDER BY requests DESC, client_ip LIMIT 5",
    );
    let got: Vec<(String, u64)> = counts(&doc).into_iter().collect();
    assert_eq!(got, top[..5].to_vec());
    let sizes = |dir: &str| -> u64 {
        common::walk(&f.path().join(dir))
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum()
    };
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        sizes("sample-data/aws/AWSLogs/123456789012/elasticloadbalancing")
    );
    // 5xx per day, one day's prefix read.
    let want = requests
        .iter()
        .filter(|r| r.day == 2 && r.elb_status_code >= 500)
        .count() as u64;
    let doc = f.json(
        "SELECT count(*), sum(sent_bytes) FROM alb_logs WHERE day = '2024/06/02' AND elb_status_code >= 500",
    );
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(want));
    let sent: i64 = requests
        .iter()
        .filter(|r| r.day == 2 && r.elb_status_code >= 500)
        .map(|r| r.sent_bytes)
        .sum();
    assert_eq!(rows(&doc)[0][1].as_i64(), Some(sent));
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        sizes("sample-data/aws/AWSLogs/123456789012/elasticloadbalancing/us-east-1/2024/06/02")
    );
    // Rejected flows per hour.
    let mut per_hour: BTreeMap<i64, u64> = BTreeMap::new();
    for fl in flows
        .iter()
        .filter(|fl| fl.action.as_deref() == Some("REJECT"))
    {
        *per_hour.entry(fl.start - fl.start % 3600).or_default() += 1;
    }
    let doc = f.json(
        "SELECT start - start % 3600 AS hour, count(*) AS rejected FROM vpc_flow_logs \
         WHERE action = 'REJECT' GROUP BY 1 ORDER BY 1",
    );
    let got: BTreeMap<i64, u64> = rows(&doc)
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_u64().unwrap()))
        .collect();
    assert_eq!(got, per_hour);
    let nodata = flows.iter().filter(|fl| fl.log_status == "NODATA").count() as u64;
    let doc = f.json(
        "SELECT count(*), count(bytes), sum(bytes) FROM vpc_flow_logs WHERE log_status = 'NODATA' OR bytes > 0",
    );
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(flows.len() as u64));
    assert_eq!(rows(&doc)[0][1].as_u64(), Some(flows.len() as u64 - nodata));
    let bytes: i64 = flows.iter().filter_map(|fl| fl.bytes).sum();
    assert_eq!(rows(&doc)[0][2].as_i64(), Some(bytes));

    // Who was denied, and on which bucket (CloudTrail; `requestparameters` is JSON text).
    let events = owl::sample::trail_events();
    let t = f.registry_json("default", "cloudtrail_logs");
    assert_eq!(t["properties"]["classification"], "cloudtrail");
    let mut denied: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in events.iter().filter(|e| e.error_code.is_some()) {
        let who = (e.user.clone(), e.bucket.clone());
        *denied.entry(who).or_default() += 1;
    }
    let doc = f.json(
        "SELECT useridentity.username, json_extract_scalar(requestparameters, '$.bucketName'), count(*) \
         FROM cloudtrail_logs WHERE errorcode = 'AccessDenied' GROUP BY 1, 2 ORDER BY 1, 2",
    );
    let got: BTreeMap<(String, String), u64> = rows(&doc)
        .iter()
        .map(|r| {
            let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
            ((s(&r[0]), s(&r[1])), r[2].as_u64().unwrap())
        })
        .collect();
    assert_eq!(got, denied);
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        sizes("sample-data/aws/AWSLogs/123456789012/CloudTrail")
    );
    let day3 = events.iter().filter(|e| e.day == 3).count() as u64;
    let doc = f.json("SELECT count(*) FROM cloudtrail_logs WHERE day = '2024/06/03'");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(day3));
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        sizes("sample-data/aws/AWSLogs/123456789012/CloudTrail/us-east-1/2024/06/03")
    );
}

#[test]
fn lazy_simple_serde_null_format_reads_its_marker_as_null() {
    let f = Fixture::new();
    std::fs::create_dir_all(f.path().join("lake/n")).unwrap();
    // `say "hi"` (a quote inside an unquoted field) sends owl's decoder to arrow-csv for the rest of the file:
    // both read the marker.
    std::fs::write(
        f.path().join("lake/n/part-0.csv"),
        "1,alice,2.5\n2,NA,NA\n3,,1.0\n4,say \"hi\",NA\n5,NA,4.0\n6,bob,NA\n",
    )
    .unwrap();
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE n (id int, name string, score double) \
         ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' NULL DEFINED AS 'NA' LOCATION 'lake/n/'",
    ]);
    let sql = "SELECT count(*), count(name), count(score), sum(score), sum(CASE WHEN name IS NULL THEN id END) FROM n";
    for flags in ["true", "false"] {
        let doc = f.json_last(
            &[],
            &format!("SET owl.csv_fast_path = {flags}; EXPLAIN ANALYZE {sql}"),
        );
        let plan = doc.to_string();
        let (fast, slow) = (
            common::count_metric(&plan, "csv_rows_fast_path"),
            common::count_metric(&plan, "csv_rows_arrow_csv"),
        );
        assert_eq!(
            (fast > 0, slow > 0),
            (flags == "true", true),
            "{flags}: {plan}"
        );
        let doc = f.json_last(&[], &format!("SET owl.csv_fast_path = {flags}; {sql}"));
        let row = &rows(&doc)[0];
        assert_eq!(row[0].as_u64(), Some(6), "{flags:?}");
        assert_eq!(
            row[1].as_u64(),
            Some(4),
            "{flags:?}: NA is NULL; the empty field is an empty string, as in Hive"
        );
        assert_eq!(row[2].as_u64(), Some(3), "{flags:?}");
        assert_eq!(row[3].as_f64(), Some(7.5), "{flags:?}");
        assert_eq!(row[4].as_u64(), Some(2 + 5), "{flags:?}");
    }
    let out = String::from_utf8(f.run_ok(&["query", "-f", "csv", "SHOW CREATE TABLE n"])).unwrap();
    assert!(out.contains("NULL DEFINED AS 'NA'"), "{out}");
    f.fails_naming(
        "CREATE EXTERNAL TABLE m (a string) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' ESCAPED BY '\\\\' \
         NULL DEFINED AS '' LOCATION 'lake/n/'",
        "serialization.null.format",
    );
}

/// JSON events with keys spelled otherwise than their columns, a nested object for a string column, and (every
/// 10th line) a line that is no JSON object. Returns (lines, good lines, sum of good user ids).
fn openx_events(dir: &Path) -> (u64, u64, u64) {
    std::fs::create_dir_all(dir).unwrap();
    let (mut text, mut good, mut sum) = (String::new(), 0, 0);
    for i in 0..200u64 {
        if i % 10 == 3 {
            text.push_str(if i % 20 == 3 {
                "{\"UserId\": 5,\n"
            } else {
                "-- not json --\n"
            });
            continue;
        }
        // An unprojected nested value sends owl's fast path to arrow-json for the rest of the file.
        let extra = if i == 150 {
            ", \"deep\": {\"a\": [1, {\"b\": 2}]}"
        } else {
            ""
        };
        text.push_str(&format!(
            "{{\"UserId\": {i}, \"eventTime\": \"2024-06-01T00:00:{:02}Z\", \"Detail\": {{\"bucketName\": \"b{}\", \"n\": {i}}}{extra}}}\n",
            i % 60,
            i % 3
        ));
        good += 1;
        sum += i;
    }
    std::fs::write(dir.join("part-0.json"), text).unwrap();
    (200, good, sum)
}

#[test]
fn openx_json_serde_options_name_keys_and_forgive_malformed_lines() {
    let f = Fixture::new();
    let (lines, good, sum) = openx_events(&f.path().join("lake/events"));
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE events (userid bigint, ts string, detail string) \
         ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' \
         WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true', 'mapping.ts' = 'eventTime') \
         LOCATION 'lake/events/'",
    ]);
    let sql = "SELECT count(*), count(userid), sum(userid), count(ts), \
               sum(CASE WHEN detail LIKE '{\"bucketName\": \"b1\"%' THEN 1 ELSE 0 END), min(ts) FROM events";
    for fast in ["true", "false"] {
        let doc = f.json_last(&[], &format!("SET owl.ndjson_fast_path = {fast}; {sql}"));
        let row = &rows(&doc)[0];
        assert_eq!(
            row[0].as_u64(),
            Some(lines),
            "{fast}: a malformed line is a row"
        );
        assert_eq!(
            row[1].as_u64(),
            Some(good),
            "{fast}: `UserId` fills `userid`"
        );
        assert_eq!(row[2].as_u64(), Some(sum), "{fast}");
        assert_eq!(
            row[3].as_u64(),
            Some(good),
            "{fast}: `eventTime` fills `ts`"
        );
        let b1 = (0..200u64).filter(|i| i % 10 != 3 && i % 3 == 1).count() as u64;
        assert_eq!(
            row[4].as_u64(),
            Some(b1),
            "{fast}: the nested object as its JSON text"
        );
        assert_eq!(row[5].as_str(), Some("2024-06-01T00:00:00Z"), "{fast}");
        let size = std::fs::metadata(f.path().join("lake/events/part-0.json"))
            .unwrap()
            .len();
        assert_eq!(stat(&doc, "bytes_scanned"), size, "{fast}");
    }
    let ddl = f.show_create_rerun("events");
    assert!(ddl.contains("'ignore.malformed.json'='true'"), "{ddl}");
    assert!(ddl.contains("'mapping.ts'='eventTime'"), "{ddl}");

    // Without the option a malformed line fails the query, naming the file; case-sensitive keys miss `UserId`.
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE strict (userid bigint) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' \
         LOCATION 'lake/events/'",
    ]);
    f.fails_naming("SELECT count(userid) FROM strict", "part-0.json");
    f.run_ok(&[
        "query",
        "CREATE EXTERNAL TABLE exact (userid bigint) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' \
         WITH SERDEPROPERTIES ('case.insensitive' = 'false', 'ignore.malformed.json' = 'true') \
         LOCATION 'lake/events/'",
    ]);
    let doc = f.json("SELECT count(*), count(userid) FROM exact");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(lines));
    assert_eq!(rows(&doc)[0][1].as_u64(), Some(0));
    f.fails_naming(
        "CREATE EXTERNAL TABLE bad (a int) ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' \
         WITH SERDEPROPERTIES ('ignore.malformed.json' = 'yes') LOCATION 'lake/events/'",
        "ignore.malformed.json",
    );
}

/// CloudTrail's files for `days`: `{"Records": [...]}` objects, gzip, in AWS's layout. Returns each day's
/// (events, bytes) and the count of `GetObject` events.
fn write_cloudtrail(root: &Path, days: &[u32]) -> (BTreeMap<u32, (u64, u64)>, u64) {
    let base = root.join("AWSLogs/123456789012/CloudTrail/us-east-1");
    let (mut per_day, mut gets) = (BTreeMap::new(), 0);
    for &day in days {
        let (mut events, mut bytes) = (0, 0);
        for file in 0..2u32 {
            let mut records = Vec::new();
            for i in 0..(10 + day * 3 + file) {
                let name = ["GetObject", "PutObject", "AssumeRole"][(i % 3) as usize];
                if name == "GetObject" {
                    gets += 1;
                }
                records.push(serde_json::json!({
                    "eventVersion": "1.09",
                    "userIdentity": {"type": "IAMUser", "principalId": "AID", "arn": "arn:aws:iam::123456789012:user/u", "accountId": "123456789012", "userName": format!("user{}", i % 4)},
                    "eventTime": format!("2024-06-{day:02}T10:{:02}:00Z", i % 60),
                    "eventSource": if name == "AssumeRole" { "sts.amazonaws.com" } else { "s3.amazonaws.com" },
                    "eventName": name,
                    "awsRegion": "us-east-1",
                    "sourceIPAddress": format!("198.51.100.{}", i % 5),
                    "userAgent": "aws-cli/2",
                    "requestParameters": {"bucketName": "logs", "key": format!("k{i}")},
                    "responseElements": null,
                    "requestID": format!("R{day}{file}{i}"),
                    "eventID": format!("E{day}{file}{i}"),
                    "readOnly": name == "GetObject",
                    "resources": [{"ARN": "arn:aws:s3:::logs", "accountId": "123456789012", "type": "AWS::S3::Bucket"}],
                    "eventType": "AwsApiCall",
                    "recipientAccountId": "123456789012",
                    "eventCategory": "Data",
                    "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "logs.s3.amazonaws.com"}
                }));
                events += 1;
            }
            let text = serde_json::to_string(&serde_json::json!({ "Records": records })).unwrap();
            bytes += write_gz(
                &base.join(format!(
                    "2024/06/{day:02}/123456789012_CloudTrail_us-east-1_202406{day:02}T10{file}0Z_x.json.gz"
                )),
                &text,
            );
        }
        per_day.insert(day, (events, bytes));
    }
    (per_day, gets)
}

#[test]
fn cloudtrail_logs_are_crawled_and_declared_as_athena_documents_them() {
    let f = Fixture::new();
    let (per_day, gets) = write_cloudtrail(&f.path().join("lake"), &[1, 2, 3]);
    let report: serde_json::Value =
        serde_json::from_slice(&f.run_ok(&["crawl", "lake", "-f", "json"])).unwrap();
    let t = table_in(&report, "default.cloudtrail_logs");
    assert_eq!(t["format"], "cloudtrail: json (gzip)", "{report}");
    let def = f.registry_json("default", "cloudtrail_logs");
    assert_eq!(def["properties"]["projection.day.range"], "2024/06/01,NOW");
    assert_eq!(def["properties"]["classification"], "cloudtrail");

    let total: u64 = per_day.values().map(|(n, _)| n).sum();
    let doc = f.json(
        "SELECT count(*), sum(CASE WHEN eventname = 'GetObject' THEN 1 ELSE 0 END), \
         count(DISTINCT useridentity.username), min(requestparameters), max(resources[1]['accountid']), \
         max(tlsdetails.tlsversion) FROM cloudtrail_logs",
    );
    let row = &rows(&doc)[0];
    assert_eq!(row[0].as_u64(), Some(total));
    assert_eq!(row[1].as_u64(), Some(gets));
    assert_eq!(row[2].as_u64(), Some(4));
    assert_eq!(
        row[3].as_str(),
        Some("{\"bucketName\":\"logs\",\"key\":\"k0\"}")
    );
    assert_eq!(row[4].as_str(), Some("123456789012"));
    assert_eq!(row[5].as_str(), Some("TLSv1.3"));
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        per_day.values().map(|(_, b)| b).sum::<u64>()
    );
    // One day reads that day's files.
    let doc = f.json("SELECT count(*) FROM cloudtrail_logs WHERE day = '2024/06/02'");
    assert_eq!(rows(&doc)[0][0].as_u64(), Some(per_day[&2].0));
    assert_eq!(stat(&doc, "bytes_scanned"), per_day[&2].1);

    // The DDL in Athena's documentation, over the same files.
    f.run_ok(&[
        "query",
        r#"CREATE EXTERNAL TABLE cloudtrail_ddl (
eventVersion STRING,
userIdentity STRUCT<
    type: STRING,
    principalId: STRING,
    arn: STRING,
    accountId: STRING,
    invokedBy: STRING,
    accessKeyId: STRING,
    userName: STRING,
    sessionContext: STRUCT<
        attributes: STRUCT<
            mfaAuthenticated: STRING,
            creationDate: STRING>,
        sessionIssuer: STRUCT<
            type: STRING,
            principalId: STRING,
            arn: STRING,
            accountId: STRING,
            userName: STRING>,
        ec2RoleDelivery:string,
        webIdFederationData:map<string,string>
    >
>,
eventTime STRING,
eventSource STRING,
eventName STRING,
awsRegion STRING,
sourceIpAddress STRING,
userAgent STRING,
errorCode STRING,
errorMessage STRING,
requestParameters STRING,
responseElements STRING,
additionalEventData STRING,
requestId STRING,
eventId STRING,
resources ARRAY<STRUCT<
    arn: STRING,
    accountId: STRING,
    type: STRING>>,
eventType STRING,
apiVersion STRING,
readOnly STRING,
recipientAccountId STRING,
serviceEventDetails STRING,
sharedEventID STRING,
vpcEndpointId STRING,
tlsDetails struct<
    tlsVersion:string,
    cipherSuite:string,
    clientProvidedHostHeader:string>
  )
COMMENT 'CloudTrail table for logs bucket'
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 'lake/AWSLogs/123456789012/CloudTrail/'
TBLPROPERTIES ('classification'='cloudtrail')"#,
    ]);
    let doc = f.json(
        "SELECT count(*), count(DISTINCT sourceipaddress), sum(CASE WHEN readonly = 'true' THEN 1 ELSE 0 END) \
         FROM cloudtrail_ddl",
    );
    let row = &rows(&doc)[0];
    assert_eq!(row[0].as_u64(), Some(total));
    assert_eq!(row[1].as_u64(), Some(5));
    assert_eq!(
        row[2].as_u64(),
        Some(gets),
        "a boolean read into a string column"
    );
    f.show_create_rerun("cloudtrail_ddl");

    // A file that is no CloudTrail file fails the query, naming it.
    write_gz(
        &f.path()
            .join("lake/AWSLogs/123456789012/CloudTrail/us-east-1/2024/06/03/digest.json.gz"),
        "{\"digestStartTime\": \"x\"}",
    );
    f.fails_naming("SELECT count(*) FROM cloudtrail_ddl", "digest.json.gz");
}
