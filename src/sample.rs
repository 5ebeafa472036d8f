//! `sample-data/`: small datasets that exercise the product, generated bit-for-bit by this code. Their registry
//! entries in `catalog/` are what `owl crawl sample-data` writes (a test checks both).
//!
//! - `weblogs_{csv,csv_gz,ndjson,parquet}`: the same access-log rows, Hive-partitioned `year=/month=/day=`.
//! - `orders`: CSV in plain dated folders `YYYY/MM/` (partitions `partition_0`, `partition_1`, as Glue names them).
//! - `cloudtrail`: CloudTrail-like nested NDJSON (structs, arrays).
//! - `aws/AWSLogs/123456789012/{elasticloadbalancing,vpcflowlogs,CloudTrail}/us-east-1/2024/06/DD/`: load
//!   balancer access logs, VPC flow logs and CloudTrail events as AWS delivers them (gzip), three days; the crawler
//!   registers them as `alb_logs`, `vpc_flow_logs` and `cloudtrail_logs` with projected days.
//!
//! The rows are also available as Rust values ([`weblogs`], [`orders`]) so tests can compute expected answers
//! without owl.

use crate::error::{Error, Result};
use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use chrono::{NaiveDate, NaiveDateTime};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression as PqCompression;
use parquet::file::properties::WriterProperties;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// The days of web logs: (year, month, day).
pub const WEBLOG_DAYS: [(i32, u32, u32); 8] = [
    (2024, 1, 1),
    (2024, 1, 2),
    (2024, 1, 3),
    (2024, 1, 4),
    (2024, 1, 5),
    (2024, 2, 1),
    (2024, 2, 2),
    (2024, 2, 3),
];

/// The days of AWS service logs: 2024-06-01..03.
pub const AWS_LOG_DAYS: [u32; 3] = [1, 2, 3];

/// One load balancer request, as written to its ALB log line.
#[derive(Debug, Clone, PartialEq)]
pub struct AlbRequest {
    pub day: u32,
    pub time: String,
    pub client_ip: String,
    pub elb_status_code: i64,
    pub received_bytes: i64,
    pub sent_bytes: i64,
    pub request_url: String,
    pub user_agent: String,
}

/// One VPC flow log record (version 2's fields). `None`s are a NODATA record's `-`.
#[derive(Debug, Clone, PartialEq)]
pub struct VpcFlow {
    pub day: u32,
    pub interface_id: String,
    pub srcaddr: Option<String>,
    pub dstaddr: Option<String>,
    pub srcport: Option<i64>,
    pub dstport: Option<i64>,
    pub protocol: Option<i64>,
    pub packets: Option<i64>,
    pub bytes: Option<i64>,
    pub start: i64,
    pub end: i64,
    pub action: Option<String>,
    pub log_status: String,
}

/// One CloudTrail event, as written to its day's `{"Records": [...]}` file.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailEvent {
    pub day: u32,
    pub time: String,
    pub name: String,
    pub source: String,
    pub user: String,
    pub source_ip: String,
    pub bucket: String,
    pub error_code: Option<String>,
}

/// The CloudTrail events of every day, in file order (every 8th an `AccessDenied`).
pub fn trail_events() -> Vec<TrailEvent> {
    let mut rng = Rng(23);
    let mut out = Vec::new();
    for day in AWS_LOG_DAYS {
        for i in 0..120u64 {
            let name = rng.pick(&[
                "GetObject",
                "GetObject",
                "PutObject",
                "ListBuckets",
                "AssumeRole",
                "ConsoleLogin",
            ]);
            let source = match name {
                "AssumeRole" => "sts.amazonaws.com",
                "ConsoleLogin" => "signin.amazonaws.com",
                _ => "s3.amazonaws.com",
            };
            out.push(TrailEvent {
                day,
                time: format!(
                    "2024-06-{day:02}T{:02}:{:02}:{:02}Z",
                    i / 5,
                    rng.below(60),
                    rng.below(60)
                ),
                name: name.into(),
                source: source.into(),
                user: rng.pick(&["alice", "bob", "carol", "deploy-bot"]).into(),
                source_ip: format!("203.0.113.{}", rng.below(20)),
                bucket: rng
                    .pick(&["shop-assets", "shop-logs", "shop-backups"])
                    .into(),
                error_code: (i % 8 == 5).then(|| "AccessDenied".into()),
            });
        }
    }
    out
}

/// An event as CloudTrail writes it (a few of its many fields).
fn trail_record(e: &TrailEvent, i: usize) -> serde_json::Value {
    let bot = e.user == "deploy-bot";
    json!({
        "eventVersion": "1.09",
        "userIdentity": {
            "type": if bot { "AssumedRole" } else { "IAMUser" },
            "principalId": format!("AIDA{:012X}", i * 7919),
            "arn": format!("arn:aws:iam::123456789012:user/{}", e.user),
            "accountId": "123456789012",
            "accessKeyId": format!("AKIA{:012X}", i * 104729),
            "userName": e.user,
        },
        "eventTime": e.time,
        "eventSource": e.source,
        "eventName": e.name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": e.source_ip,
        "userAgent": "aws-cli/2.15.0",
        "errorCode": e.error_code,
        "errorMessage": e.error_code.as_ref().map(|_| "Access Denied"),
        "requestParameters": {"bucketName": e.bucket, "key": format!("k/{i}.json")},
        "responseElements": null,
        "requestID": format!("{:016X}", i * 31337),
        "eventID": format!("{:08x}-0000-4000-8000-{:012x}", e.day, i),
        "readOnly": e.name.starts_with("Get") || e.name.starts_with("List"),
        "resources": [{"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{}", e.bucket)}],
        "eventType": "AwsApiCall",
        "managementEvent": false,
        "recipientAccountId": "123456789012",
        "eventCategory": "Data",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": "s3.amazonaws.com"},
    })
}

/// The ALB requests of every day, in file order.
pub fn alb_requests() -> Vec<AlbRequest> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    for day in AWS_LOG_DAYS {
        for i in 0..(300 + 50 * day as usize) {
            // A few busy clients and a long tail.
            let client_ip = if rng.below(3) == 0 {
                format!("198.51.100.{}", rng.below(4))
            } else {
                format!("203.0.113.{}", rng.below(200))
            };
            let status = [200, 200, 200, 200, 304, 404, 500, 502][rng.below(8) as usize];
            let secs = i as u64 * 86_000 / (300 + 50 * day as u64);
            out.push(AlbRequest {
                day,
                time: format!(
                    "2024-06-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60,
                    rng.below(1_000_000)
                ),
                client_ip,
                elb_status_code: status,
                received_bytes: 100 + rng.below(900) as i64,
                sent_bytes: if status == 304 {
                    0
                } else {
                    200 + rng.below(20_000) as i64
                },
                request_url: format!("https://shop.example.com:443{}", rng.pick(&PATHS)),
                user_agent: rng.pick(&AGENTS).to_string(),
            });
        }
    }
    out
}

fn alb_line(r: &AlbRequest, i: usize) -> String {
    format!(
        "https {} app/shop-lb/50dc6c495c0c9188 {}:{} 10.0.1.{}:8080 0.000 0.{:03} 0.000 {} {} {} {} \"GET {} HTTP/1.1\" \"{}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop/73e2d6bc24d8a067 \"Root=1-66{:06x}-{:024x}\" \"shop.example.com\" \"arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012\" 0 {} \"forward\" \"-\" \"-\" \"10.0.1.{}:8080\" \"{}\" \"-\" \"-\" TID_{:08x}\n",
        r.time,
        r.client_ip,
        30000 + i % 30000,
        i % 4,
        i % 1000,
        r.elb_status_code,
        r.elb_status_code,
        r.received_bytes,
        r.sent_bytes,
        r.request_url,
        r.user_agent,
        i,
        i,
        r.time,
        i % 4,
        r.elb_status_code,
        i
    )
}

/// The VPC flow records of every day, in file order (every 50th a NODATA record).
pub fn vpc_flows() -> Vec<VpcFlow> {
    let mut rng = Rng(11);
    let mut out = Vec::new();
    for day in AWS_LOG_DAYS {
        let midnight = chrono::NaiveDate::from_ymd_opt(2024, 6, day)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_default();
        for i in 0..400i64 {
            let start = midnight + i * 216 + rng.below(60) as i64;
            let interface_id = format!("eni-0a1b2c3d4e5f6{:04}", rng.below(3));
            if i % 50 == 49 {
                out.push(VpcFlow {
                    day,
                    interface_id,
                    srcaddr: None,
                    dstaddr: None,
                    srcport: None,
                    dstport: None,
                    protocol: None,
                    packets: None,
                    bytes: None,
                    start,
                    end: start + 60,
                    action: None,
                    log_status: "NODATA".into(),
                });
                continue;
            }
            // Scans from outside are rejected; traffic inside the VPC is accepted.
            let outside = rng.below(4) == 0;
            let dstport = *[22i64, 443, 3389, 5432, 80]
                .get(rng.below(5) as usize)
                .unwrap_or(&443);
            out.push(VpcFlow {
                day,
                interface_id,
                srcaddr: Some(if outside {
                    format!("192.0.2.{}", rng.below(50))
                } else {
                    format!("10.0.{}.{}", rng.below(4), rng.below(250))
                }),
                dstaddr: Some(format!("10.0.1.{}", rng.below(8))),
                srcport: Some(1024 + rng.below(60000) as i64),
                dstport: Some(dstport),
                protocol: Some(6),
                packets: Some(1 + rng.below(40) as i64),
                bytes: Some(40 + rng.below(60_000) as i64),
                start,
                end: start + 60,
                action: Some(if outside { "REJECT" } else { "ACCEPT" }.into()),
                log_status: "OK".into(),
            });
        }
    }
    out
}

fn vpc_line(f: &VpcFlow) -> String {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let num = |v: Option<i64>| v.map_or_else(|| "-".into(), |n| n.to_string());
    format!(
        "2 123456789012 {} {} {} {} {} {} {} {} {} {} {} {}\n",
        f.interface_id,
        dash(&f.srcaddr),
        dash(&f.dstaddr),
        num(f.srcport),
        num(f.dstport),
        num(f.protocol),
        num(f.packets),
        num(f.bytes),
        f.start,
        f.end,
        dash(&f.action),
        f.log_status
    )
}

/// A deterministic generator (SplitMix64): the same seed gives the same data on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// One access-log row.
#[derive(Debug, Clone, PartialEq)]
pub struct WebLog {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub ts: NaiveDateTime,
    pub request_id: String,
    pub user_id: i64,
    pub client_ip: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub bytes: i64,
    pub latency_ms: f64,
    pub user_agent: String,
    pub referrer: Option<String>,
}

const PATHS: [&str; 12] = [
    "/",
    "/index.html",
    "/products",
    "/products/42",
    "/products/7",
    "/cart",
    "/checkout",
    "/api/v1/search",
    "/api/v1/items",
    "/login",
    "/static/app.js",
    "/static/style.css",
];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "Mozilla/5.0 (Macintosh) Safari/605.1.15",
    "curl/8.5.0",
    "Googlebot/2.1",
];
const REFERRERS: [&str; 3] = [
    "https://www.google.com/",
    "https://news.ycombinator.com/",
    "https://example.com/",
];

/// Rows per day: varied, so a wrong partition shows up as a wrong count.
pub fn weblog_rows_per_day(i: usize) -> usize {
    600 + (i * 137) % 400
}

/// All web-log rows, in file order (by day, then time).
pub fn weblogs() -> Vec<WebLog> {
    let mut rng = Rng(42);
    let mut out = Vec::new();
    for (i, &(y, m, d)) in WEBLOG_DAYS.iter().enumerate() {
        let n = weblog_rows_per_day(i);
        let mut secs: Vec<u32> = (0..n).map(|_| rng.below(86_400) as u32).collect();
        secs.sort_unstable();
        let date = NaiveDate::from_ymd_opt(y, m, d).expect("WEBLOG_DAYS are valid dates");
        for (j, s) in secs.into_iter().enumerate() {
            let status = match rng.below(100) {
                0..=84 => 200,
                85..=89 => 304,
                90..=96 => 404,
                _ => 500,
            };
            let method = match rng.below(10) {
                0..=6 => "GET",
                7..=8 => "POST",
                _ => rng.pick(&["PUT", "DELETE"]),
            };
            let referrer = (rng.below(3) == 0).then(|| rng.pick(&REFERRERS).to_string());
            out.push(WebLog {
                year: y,
                month: m,
                day: d,
                ts: date
                    .and_hms_opt(s / 3600, (s / 60) % 60, s % 60)
                    .expect("seconds below 86400 make a valid time"),
                request_id: format!("{:08x}-{:04x}", rng.next() as u32, j),
                user_id: 1 + rng.below(500) as i64,
                client_ip: format!(
                    "10.{}.{}.{}",
                    rng.below(4),
                    rng.below(256),
                    1 + rng.below(254)
                ),
                method: method.into(),
                path: rng.pick(&PATHS).into(),
                status,
                bytes: if status == 304 {
                    0
                } else {
                    200 + rng.below(50_000) as i64
                },
                latency_ms: (5 + rng.below(2_000)) as f64 / 10.0,
                user_agent: rng.pick(&AGENTS).into(),
                referrer,
            });
        }
    }
    out
}

/// One order row.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub order_id: i64,
    pub customer: String,
    pub product: String,
    pub quantity: i64,
    pub unit_price: f64,
    pub order_date: NaiveDate,
}

/// Orders, three months, in file order.
pub fn orders() -> Vec<Order> {
    let mut rng = Rng(7);
    let customers = ["acme", "globex", "initech", "umbrella", "hooli", "stark"];
    let products = ["widget", "gadget", "gizmo", "doohickey"];
    let mut out = Vec::new();
    let mut id = 1000;
    for m in 1..=3u32 {
        for _ in 0..(150 + 25 * m) {
            id += 1;
            out.push(Order {
                order_id: id,
                customer: rng.pick(&customers).into(),
                product: rng.pick(&products).into(),
                quantity: 1 + rng.below(20) as i64,
                unit_price: (100 + rng.below(9_900)) as f64 / 100.0,
                order_date: NaiveDate::from_ymd_opt(2024, m, 1 + rng.below(28) as u32)
                    .expect("day 1..=28 exists in every month"),
            });
        }
    }
    out
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        context: format!("writing `{}`", path.display()),
        source: e,
    }
}

/// The modification time of every sample file (2024-12-31T00:00:00Z): a partition's statistics name its files
/// by their newest time (`TableStats::last_modified`), so a fixed one makes the registry a crawl writes of them
/// the same on every machine (the committed `catalog/`).
pub const SAMPLE_MTIME_SECS: u64 = 1_735_603_200;

fn write_file(path: &Path, bytes: &[u8]) -> Result<u64> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, bytes).map_err(io(path))?;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(SAMPLE_MTIME_SECS);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(at))
        .map_err(io(path))?;
    Ok(bytes.len() as u64)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    // mtime 0 and a fixed level: the same input always compresses to the same bytes.
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    enc.write_all(bytes).expect("write to Vec");
    enc.finish().expect("finish to Vec")
}

/// The web-log columns, in file order.
pub const WEBLOG_COLUMNS: [&str; 11] = [
    "ts",
    "request_id",
    "user_id",
    "client_ip",
    "method",
    "path",
    "status",
    "bytes",
    "latency_ms",
    "user_agent",
    "referrer",
];

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn weblog_csv(rows: &[&WebLog]) -> Vec<u8> {
    let mut s = WEBLOG_COLUMNS.join(",");
    s.push('\n');
    for r in rows {
        let fields = [
            r.ts.format("%Y-%m-%d %H:%M:%S").to_string(),
            r.request_id.clone(),
            r.user_id.to_string(),
            r.client_ip.clone(),
            r.method.clone(),
            r.path.clone(),
            r.status.to_string(),
            r.bytes.to_string(),
            format!("{:.1}", r.latency_ms),
            csv_field(&r.user_agent),
            r.referrer.clone().unwrap_or_default(),
        ];
        s.push_str(&fields.join(","));
        s.push('\n');
    }
    s.into_bytes()
}

fn weblog_ndjson(rows: &[&WebLog]) -> Vec<u8> {
    let mut s = String::new();
    for r in rows {
        let v = json!({
            "ts": r.ts.format("%Y-%m-%d %H:%M:%S").to_string(),
            "request_id": r.request_id,
            "user_id": r.user_id,
            "client_ip": r.client_ip,
            "method": r.method,
            "path": r.path,
            "status": r.status,
            "bytes": r.bytes,
            "latency_ms": r.latency_ms,
            "user_agent": r.user_agent,
            "referrer": r.referrer,
        });
        s.push_str(&v.to_string());
        s.push('\n');
    }
    s.into_bytes()
}

fn weblog_parquet(rows: &[&WebLog]) -> Result<Vec<u8>> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("request_id", DataType::Utf8, true),
        Field::new("user_id", DataType::Int64, true),
        Field::new("client_ip", DataType::Utf8, true),
        Field::new("method", DataType::Utf8, true),
        Field::new("path", DataType::Utf8, true),
        Field::new("status", DataType::Int64, true),
        Field::new("bytes", DataType::Int64, true),
        Field::new("latency_ms", DataType::Float64, true),
        Field::new("user_agent", DataType::Utf8, true),
        Field::new("referrer", DataType::Utf8, true),
    ]));
    let s = |f: fn(&WebLog) -> String| {
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r)))) as ArrayRef
    };
    let i = |f: fn(&WebLog) -> i64| {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| f(r)))) as ArrayRef
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from_iter_values(
            rows.iter().map(|r| r.ts.and_utc().timestamp_micros()),
        )),
        s(|r| r.request_id.clone()),
        i(|r| r.user_id),
        s(|r| r.client_ip.clone()),
        s(|r| r.method.clone()),
        s(|r| r.path.clone()),
        i(|r| r.status),
        i(|r| r.bytes),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.latency_ms),
        )),
        s(|r| r.user_agent.clone()),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.referrer.clone()),
        )),
    ];
    let batch = RecordBatch::try_new(Arc::clone(&schema), cols)
        .map_err(|e| Error::internal("a sample batch", e))?;
    let props = WriterProperties::builder()
        .set_compression(PqCompression::SNAPPY)
        .set_max_row_group_row_count(Some(500))
        .set_created_by("owl sample-data".into())
        .build();
    let mut buf = Vec::new();
    let pq = |e: parquet::errors::ParquetError| Error::internal("writing a sample Parquet file", e);
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(pq)?;
    w.write(&batch).map_err(pq)?;
    w.close().map_err(pq)?;
    Ok(buf)
}

/// What [`generate`] wrote.
#[derive(Debug, Default)]
pub struct Summary {
    pub files: u64,
    pub bytes: u64,
}

/// Write `root/sample-data/`.
/// The sample documents: (title, body), about the services owl stands in for.
const DOCS: [(&str, &str); 12] = [
    (
        "Querying logs in S3",
        "Athena runs SQL over log files in S3. You pay for the bytes each query scans, so partition the logs by day and store them as Parquet.",
    ),
    (
        "Crawling a data lake",
        "A Glue crawler walks the folders of a data lake, infers each table's columns and partitions, and writes them into the Data Catalog.",
    ),
    (
        "Columnar formats",
        "Parquet and ORC store each column apart and keep statistics per row group, so a query reads only the columns and row groups it needs.",
    ),
    (
        "Partition projection",
        "Partition projection computes a table's partitions from its properties instead of listing them, which makes queries over many days of logs fast.",
    ),
    (
        "Streaming into the lake",
        "Kinesis Data Firehose buffers records by size and time, converts them to Parquet and delivers them to S3 under dated prefixes.",
    ),
    (
        "Anomaly detection on streams",
        "Random cut forest gives each record of a stream an anomaly score; a high score marks a point that does not fit the recent data.",
    ),
    (
        "Forecasting business metrics",
        "A forecast fits the history of a metric, its trend and its seasonality, and predicts the next days with an interval around each value.",
    ),
    (
        "Cleaning data with Glue",
        "Glue ETL jobs drop null fields, find matching records without a common key and write the cleaned table back to S3 as Parquet.",
    ),
    (
        "Controlling query cost",
        "Work groups set a limit on the bytes a query may scan; a query over the limit is cancelled and billed for what it read.",
    ),
    (
        "Compressing text logs",
        "Gzip shrinks CSV and JSON logs in S3 but a gzip file cannot be split, so one reader scans each file from start to end.",
    ),
    (
        "Searching documents",
        "TF-IDF weighs a term by how often it appears in a document and how rare it is across all documents; search ranks documents by the weights of the query's terms.",
    ),
    (
        "Access logs of a load balancer",
        "An application load balancer writes one line per request: the client, the target, the status code and the time each step took.",
    ),
];

pub fn generate(root: &Path) -> Result<Summary> {
    let data = root.join("sample-data");
    let mut summary = Summary::default();
    let mut put = |path: std::path::PathBuf, bytes: &[u8]| -> Result<()> {
        summary.bytes += write_file(&path, bytes)?;
        summary.files += 1;
        Ok(())
    };
    let logs = weblogs();

    // Web logs, four formats, one file per day.
    type Encode = fn(&[&WebLog]) -> Result<Vec<u8>>;
    let formats: [(&str, &str, Encode); 4] = [
        ("weblogs_csv", "csv", |r| Ok(weblog_csv(r))),
        ("weblogs_csv_gz", "csv.gz", |r| Ok(gzip(&weblog_csv(r)))),
        ("weblogs_ndjson", "json", |r| Ok(weblog_ndjson(r))),
        ("weblogs_parquet", "parquet", weblog_parquet),
    ];
    for (name, ext, encode) in formats {
        for &(y, m, d) in &WEBLOG_DAYS {
            let rows: Vec<&WebLog> = logs
                .iter()
                .filter(|r| (r.year, r.month, r.day) == (y, m, d))
                .collect();
            let file = format!("year={y}/month={m:02}/day={d:02}/part-00000.{ext}");
            put(data.join(name).join(file), &encode(&rows)?)?;
        }
    }

    // Orders: plain dated folders.
    let all = orders();
    for m in 1..=3u32 {
        let mut s = String::from("order_id,customer,product,quantity,unit_price,order_date\n");
        for o in all
            .iter()
            .filter(|o| chrono::Datelike::month(&o.order_date) == m)
        {
            s.push_str(&format!(
                "{},{},{},{},{:.2},{}\n",
                o.order_id, o.customer, o.product, o.quantity, o.unit_price, o.order_date
            ));
        }
        put(
            data.join(format!("orders/2024/{m:02}/orders.csv")),
            s.as_bytes(),
        )?;
    }

    // CloudTrail-like nested events.
    let mut rng = Rng(2024);
    for part in 1..=2 {
        let mut s = String::new();
        for i in 0..150 {
            let user = rng.pick(&["alice", "bob", "deploy-bot", "carol"]);
            let bucket = rng.pick(&["logs-bucket", "data-lake", "backups"]);
            let name = rng.pick(&[
                "GetObject",
                "PutObject",
                "ListBuckets",
                "AssumeRole",
                "ConsoleLogin",
            ]);
            let denied = rng.below(10) == 0;
            let source = match name {
                "AssumeRole" => "sts.amazonaws.com",
                "ConsoleLogin" => "signin.amazonaws.com",
                _ => "s3.amazonaws.com",
            };
            let v = json!({
                "event_time": format!("2024-01-{:02} {:02}:{:02}:{:02}", part * 10 + i % 10, rng.below(24), rng.below(60), rng.below(60)),
                "event_name": name,
                "event_source": source,
                "aws_region": rng.pick(&["us-east-1", "eu-west-1"]),
                "source_ip": format!("203.0.113.{}", rng.below(255)),
                "user_identity": {
                    "type": if user == "deploy-bot" { "AssumedRole" } else { "IAMUser" },
                    "principal_id": format!("AIDA{:012X}", rng.below(1 << 40)),
                    "arn": format!("arn:aws:iam::123456789012:user/{user}"),
                    "account_id": "123456789012",
                },
                "request_parameters": {"bucket_name": bucket, "key": format!("path/{}.json", rng.below(1000))},
                "resources": [{"type": "AWS::S3::Bucket", "arn": format!("arn:aws:s3:::{bucket}")}],
                "error_code": if denied { Some("AccessDenied") } else { None },
            });
            s.push_str(&v.to_string());
            s.push('\n');
        }
        put(
            data.join(format!("cloudtrail/events-{part:04}.json")),
            s.as_bytes(),
        )?;
    }

    // Documents for text search (`tokenize`, `tf_idf`): one NDJSON file.
    let mut s = String::new();
    for (id, (title, body)) in DOCS.iter().enumerate() {
        s.push_str(&json!({"doc_id": id + 1, "title": title, "body": body}).to_string());
        s.push('\n');
    }
    put(data.join("docs/docs.json"), s.as_bytes())?;

    // AWS service logs, where and as AWS delivers them.
    let aws = data.join("aws/AWSLogs/123456789012");
    let requests = alb_requests();
    let flows = vpc_flows();
    let events = trail_events();
    for day in AWS_LOG_DAYS {
        let records: Vec<serde_json::Value> = events
            .iter()
            .filter(|e| e.day == day)
            .enumerate()
            .map(|(i, e)| trail_record(e, i))
            .collect();
        put(
            aws.join(format!(
                "CloudTrail/us-east-1/2024/06/{day:02}/123456789012_CloudTrail_us-east-1_202406{day:02}T2355Z_Xk3mQ9pL2vB7wR1e.json.gz"
            )),
            &gzip(json!({ "Records": records }).to_string().as_bytes()),
        )?;
        let lines: String = requests
            .iter()
            .filter(|r| r.day == day)
            .enumerate()
            .map(|(i, r)| alb_line(r, i))
            .collect();
        put(
            aws.join(format!(
                "elasticloadbalancing/us-east-1/2024/06/{day:02}/123456789012_elasticloadbalancing_us-east-1_app.shop-lb.50dc6c495c0c9188_202406{day:02}T0000Z_198.51.100.7_2x4k9d1e.log.gz"
            )),
            &gzip(lines.as_bytes()),
        )?;
        let mut text = String::from(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n",
        );
        text.extend(flows.iter().filter(|f| f.day == day).map(vpc_line));
        put(
            aws.join(format!(
                "vpcflowlogs/us-east-1/2024/06/{day:02}/123456789012_vpcflowlogs_us-east-1_fl-0a1b2c3d4e5f67890_202406{day:02}T0000Z_5f3c2a1b.log.gz"
            )),
            &gzip(text.as_bytes()),
        )?;
    }
    Ok(summary)
}
