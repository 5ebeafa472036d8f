//! Kinesis Data Firehose's delivery into a registry table: records (one JSON object each) are buffered by size
//! and time, converted to the table's format (Parquet or ORC) with its schema, and written under its location,
//! by arrival hour (`yyyy/MM/dd/HH/`) or by the table's Hive partition keys, each new partition registered as it
//! appears. A record that does not fit the schema goes, with the reason, to an error prefix that queries skip.
//!
//! - `mod.rs`: a delivery stream's settings ([`StreamConfig`]) and their checks, the prefix templates.
//! - `wal`: the write-ahead log: a record is on disk (fsynced) before it is acknowledged.
//! - `deliver`: a buffer of records -> the files and partitions it makes; written so that doing it twice
//!   makes the same files (a crash between writing and forgetting the log redoes it, and loses or doubles
//!   nothing).
//! - `stream`: a live stream: puts, the buffer, flushes by size and time, recovery at start.
//!
//! `owl serve` answers Firehose's API over it (`server::firehose`); `owl ingest TABLE < records.ndjson` runs one
//! stream for its input.

pub(crate) mod deliver;
pub mod stream;
pub(crate) mod wal;

use crate::catalog::model::{Classification, TableDef};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Firehose's bounds on `BufferingHints`.
pub const SIZE_MB: std::ops::RangeInclusive<u64> = 1..=128;
pub const INTERVAL_S: std::ops::RangeInclusive<u64> = 60..=900;
/// Firehose's defaults with format conversion on: 128 MiB, 300 s.
pub const DEFAULT_SIZE_MB: u64 = 128;
pub const DEFAULT_INTERVAL_S: u64 = 300;
/// PutRecord/PutRecordBatch limits: 1,000 KiB a record, 500 records and 4 MiB a call.
pub const MAX_RECORD: usize = 1000 * 1024;
pub const MAX_BATCH_RECORDS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 4 << 20;

/// The data prefix of a table without partition keys: the arrival hour in UTC, as Firehose writes by default.
pub const TIME_PREFIX: &str = "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/";
/// Where records that do not fit go by default, under the table's location: `_` keeps them out of every
/// query (Athena skips `_` and `.` names), and the folder is named for Firehose's `processing-failed/`.
pub const ERROR_PREFIX: &str =
    "_processing-failed/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/";

/// A delivery stream's settings, as the registry keeps them (`.firehose/<name>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamConfig {
    pub name: String,
    pub database: String,
    pub table: String,
    /// The data prefix template, relative to the table's location (None: by hour, or the Hive keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The error prefix template, relative to the table's location (None: [`ERROR_PREFIX`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_prefix: Option<String>,
    pub size_mb: u64,
    pub interval_s: u64,
    /// The codec, by Firehose's names: Parquet UNCOMPRESSED, SNAPPY, GZIP (and ZSTD); ORC NONE, ZLIB, SNAPPY
    /// (and ZSTD).
    pub compression: String,
    /// RFC 3339.
    pub created: String,
    /// What the client gave for `BucketARN` and `RoleARN`, shown back by DescribeDeliveryStream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl StreamConfig {
    /// The data prefix template in use.
    pub fn prefix_template(&self, def: &TableDef) -> String {
        match &self.prefix {
            Some(p) => p.clone(),
            None if def.partition_keys.is_empty() => TIME_PREFIX.into(),
            None => def
                .partition_keys
                .iter()
                .map(|k| format!("{}=!{{partitionKeyFromQuery:{}}}/", k.name, k.name))
                .collect(),
        }
    }

    pub fn error_template(&self) -> &str {
        self.error_prefix.as_deref().unwrap_or(ERROR_PREFIX)
    }

    /// Checks the settings against the table: its format, the codec, the buffering, the prefixes. The table
    /// is read again at each delivery, so a later change to it is used (or refused then, the records kept).
    pub fn check(&self, def: &TableDef) -> Result<()> {
        check_stream_name(&self.name)?;
        if !SIZE_MB.contains(&self.size_mb) {
            return Err(Error::Query(format!(
                "the buffer size {} MB is outside Firehose's 1 to 128",
                self.size_mb
            )));
        }
        if !INTERVAL_S.contains(&self.interval_s) && !test_interval(self.interval_s) {
            return Err(Error::Query(format!(
                "the buffer interval {} s is outside Firehose's 60 to 900",
                self.interval_s
            )));
        }
        codec(def, &self.compression)?;
        let data = Template::parse(&self.prefix_template(def), "Prefix")?;
        if data.hidden() {
            return Err(Error::Query(format!(
                "the Prefix `{}` would hide the records from every query (a folder named `_...` or `.../`)",
                data.text
            )));
        }
        if !def.partition_keys.is_empty() {
            let segments = data.segments();
            if segments != def.partition_keys.len() {
                return Err(Error::Query(format!(
                    "the Prefix `{}` has {segments} folder(s) but table {}.{} has {} partition key(s) ({}): \
                     give one folder per key, such as `{}`",
                    data.text,
                    def.database,
                    def.name,
                    def.partition_keys.len(),
                    names(def),
                    StreamConfig {
                        prefix: None,
                        ..self.clone()
                    }
                    .prefix_template(def)
                )));
            }
        }
        let errors = Template::parse(self.error_template(), "ErrorOutputPrefix")?;
        if !errors.hidden() {
            return Err(Error::Query(format!(
                "the ErrorOutputPrefix `{}` would put failed records among the table's files: start it with \
                 `_` (the default is `_processing-failed/`)",
                errors.text
            )));
        }
        if errors.parts.iter().any(|p| matches!(p, Part::Field(_))) {
            return Err(Error::Query(
                "the ErrorOutputPrefix cannot use partitionKeyFromQuery: a failed record may have no such field"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Intervals below Firehose's minute, for tests only (`OWL_FIREHOSE_MIN_INTERVAL_S`).
fn test_interval(s: u64) -> bool {
    std::env::var("OWL_FIREHOSE_MIN_INTERVAL_S")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|min| s >= min.max(1))
}

fn bad_stream_name(name: &str) -> Error {
    Error::Query(format!(
        "the delivery stream name `{name}` must be 1 to 64 letters, digits, `_`, `-` or `.`"
    ))
}

/// Firehose's stream names: 1-64 of `[a-zA-Z0-9_.-]`.
pub fn check_stream_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(bad_stream_name(name))
    }
}

fn names(def: &TableDef) -> String {
    def.partition_keys
        .iter()
        .map(|k| k.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The written format and its codec for `def`'s format and a Firehose compression name.
pub(crate) fn codec(def: &TableDef, compression: &str) -> Result<deliver::Codec> {
    let c = compression.to_ascii_uppercase();
    match def.format.classification {
        Classification::Parquet => {
            use parquet::basic::{Compression as P, GzipLevel, ZstdLevel};
            Ok(deliver::Codec::Parquet(match c.as_str() {
                "SNAPPY" => P::SNAPPY,
                "GZIP" => P::GZIP(GzipLevel::default()),
                "ZSTD" => P::ZSTD(ZstdLevel::default()),
                "UNCOMPRESSED" | "NONE" => P::UNCOMPRESSED,
                _ => {
                    return Err(Error::Query(format!(
                        "compression `{compression}` is not one for Parquet: use SNAPPY, GZIP, ZSTD or UNCOMPRESSED"
                    )));
                }
            }))
        }
        Classification::Orc => {
            let name = if c == "UNCOMPRESSED" {
                "NONE"
            } else {
                c.as_str()
            };
            match crate::formats::write::Encoding::orc(name) {
                Some(e) if name != "GZIP" && name != "DEFLATE" && name != "LZ4" => {
                    Ok(deliver::Codec::Orc(e))
                }
                _ => Err(Error::Query(format!(
                    "compression `{compression}` is not one for ORC: use SNAPPY, ZLIB, ZSTD or NONE"
                ))),
            }
        }
        other => Err(Error::Query(format!(
            "table {}.{} is {}: a delivery stream converts records to Parquet or ORC; create the table STORED AS \
             PARQUET (or ORC)",
            def.database,
            def.name,
            other.as_str()
        ))),
    }
}

/// A prefix template: text with Firehose's `!{timestamp:FORMAT}` (the arrival time, UTC),
/// `!{partitionKeyFromQuery:field}` (a field of the record) and `!{firehose:error-output-type}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    pub text: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    Text(String),
    /// A chrono format.
    Time(String),
    Field(String),
    ErrorType,
}

impl Template {
    pub fn parse(text: &str, member: &str) -> Result<Template> {
        let bad = |why: String| Error::Query(format!("{member} `{text}`: {why}"));
        if text.contains("..") || text.starts_with('/') || text.contains("//") {
            return Err(bad(
                "it must be a relative prefix without `..` or empty folders".into(),
            ));
        }
        if text.len() > 1024 {
            return Err(bad("longer than 1,024 characters".into()));
        }
        let mut parts = vec![];
        let mut rest = text;
        while let Some(at) = rest.find("!{") {
            if at > 0 {
                parts.push(Part::Text(rest[..at].to_string()));
            }
            let Some(end) = rest[at..].find('}') else {
                return Err(bad("a `!{` is not closed".into()));
            };
            let inner = &rest[at + 2..at + end];
            let (ns, arg) = inner.split_once(':').unwrap_or((inner, ""));
            parts.push(match ns {
                "timestamp" => Part::Time(java_time(arg).map_err(bad)?),
                "partitionKeyFromQuery" if !arg.is_empty() => Part::Field(arg.to_string()),
                "firehose" if arg == "error-output-type" => Part::ErrorType,
                _ => {
                    return Err(bad(format!(
                        "`!{{{inner}}}` is not one of !{{timestamp:...}}, !{{partitionKeyFromQuery:...}}, \
                         !{{firehose:error-output-type}}"
                    )));
                }
            });
            rest = &rest[at + end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let t = Template {
            text: text.to_string(),
            parts,
        };
        Ok(t)
    }

    /// The folders it makes (a last part after the final `/` names the start of the file names: Firehose
    /// prefixes need not end in `/`; owl counts it as a folder only when it ends in one).
    pub fn segments(&self) -> usize {
        self.literal_skeleton().matches('/').count()
    }

    /// Whether some folder it makes starts with `_` or `.` (so that queries skip what is under it).
    pub fn hidden(&self) -> bool {
        self.literal_skeleton()
            .split('/')
            .any(|s| s.starts_with('_') || s.starts_with('.'))
    }

    /// The text with each substitution as `x`.
    fn literal_skeleton(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.as_str(),
                _ => "x",
            })
            .collect()
    }

    /// The prefix for a record that arrived at `arrival_ms`, with `field` giving its fields' values as a Hive
    /// path segment; Err names what is missing.
    pub fn eval(
        &self,
        arrival_ms: i64,
        mut field: impl FnMut(&str) -> std::result::Result<String, String>,
    ) -> std::result::Result<String, String> {
        let time = chrono::DateTime::from_timestamp_millis(arrival_ms).unwrap_or_default();
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Time(f) => out.push_str(&time.format(f).to_string()),
                Part::Field(name) => out.push_str(&field(name)?),
                Part::ErrorType => out.push_str("format-conversion-failed"),
            }
        }
        Ok(out)
    }
}

/// A Java `DateTimeFormatter` pattern (Firehose's) as a chrono format: `yyyy`, `yy`, `MM`, `dd`, `HH`, `mm`,
/// `ss` and literal punctuation.
fn java_time(pattern: &str) -> std::result::Result<String, String> {
    let mut out = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let piece = match (c, n) {
            ('y', 4) => "%Y",
            ('y', 2) => "%y",
            ('M', 2) => "%m",
            ('d', 2) => "%d",
            ('H', 2) => "%H",
            ('m', 2) => "%M",
            ('s', 2) => "%S",
            (c, _) if c.is_ascii_alphabetic() => {
                return Err(format!(
                    "the timestamp pattern `{pattern}` uses `{}`: owl knows yyyy, yy, MM, dd, HH, mm and ss",
                    c.to_string().repeat(n)
                ));
            }
            ('%', _) => {
                return Err(format!("`%` in the timestamp pattern `{pattern}`"));
            }
            _ => {
                out.extend(std::iter::repeat_n(c, n));
                i += n;
                continue;
            }
        };
        out.push_str(piece);
        i += n;
    }
    if out.is_empty() {
        return Err("an empty timestamp pattern".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_read_firehose_namespaces() {
        let t = Template::parse(TIME_PREFIX, "Prefix").unwrap();
        assert_eq!(t.segments(), 4);
        assert!(!t.hidden());
        // 2026-12-06T22:05:07.123Z
        let ms = 1_796_594_707_123;
        assert_eq!(t.eval(ms, |_| unreachable!()).unwrap(), "2026/12/06/22/");
        let t = Template::parse(
            "dt=!{timestamp:yyyy-MM-dd}/k=!{partitionKeyFromQuery:k}/",
            "P",
        )
        .unwrap();
        assert_eq!(t.segments(), 2);
        assert_eq!(
            t.eval(ms, |f| Ok(format!("<{f}>"))).unwrap(),
            "dt=2026-12-06/k=<k>/"
        );
        assert!(Template::parse(ERROR_PREFIX, "E").unwrap().hidden());
        let e = Template::parse("_e/!{firehose:error-output-type}/", "E").unwrap();
        assert_eq!(
            e.eval(ms, |_| unreachable!()).unwrap(),
            "_e/format-conversion-failed/"
        );
        for bad in [
            "../x/",
            "/abs/",
            "a//b/",
            "!{timestamp:YYYY}/",
            "!{nope:x}/",
            "!{timestamp:yyyy",
            "!{timestamp:%Y}/",
        ] {
            assert!(Template::parse(bad, "Prefix").is_err(), "{bad}");
        }
    }

    #[test]
    fn stream_names_are_firehose_names() {
        assert!(check_stream_name("web-events_1.v2").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(65)] {
            assert!(check_stream_name(bad).is_err(), "{bad}");
        }
    }
}
