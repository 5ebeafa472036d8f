//! The registry's data model: what one table file holds. Serde types only; no I/O here.
//!
//! The invariant: serialising a [`TableDef`] is deterministic (struct field order, `BTreeMap`s, no clocks), so
//! the same table always writes the same bytes and a registry diff shows only real changes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::formats::HIVE_NULL_PARTITION;
pub use crate::formats::json_serde::JsonOptions;

/// One table: where its files are, how to read them, its schema, partitions and history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub name: String,
    pub database: String,
    /// A folder: an `s3://` or `file://` URL, or a local path relative to the registry folder.
    pub location: String,
    pub format: FormatSpec,
    /// The data columns, in file order. Types are Hive type strings (`bigint`, `array<string>`).
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<Column>,
    /// Known partitions, sorted by location.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<Partition>,
    /// Files under the location that queries skip, relative to it: those the crawler could not read or was
    /// told to exclude (**owl**: Athena would read them, and fail on the unreadable ones). Sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_files: Vec<String>,
    #[serde(default)]
    pub stats: TableStats,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// The current version id (Glue's: "0", "1", ...).
    #[serde(default)]
    pub version_id: String,
    /// Every schema this table has had, oldest first; the last is the current one.
    #[serde(default)]
    pub versions: Vec<TableVersion>,
}

/// A column and its Hive type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
}

impl Column {
    pub fn new(name: impl Into<String>, ty: impl Into<String>) -> Self {
        Column {
            name: name.into(),
            ty: ty.into(),
        }
    }
}

/// One partition: a value per partition key, and where its files are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// As written in the path (`01`, not `1`); `__HIVE_DEFAULT_PARTITION__` is NULL.
    pub values: Vec<String>,
    /// Relative to the table location, or an absolute URL/path.
    pub location: String,
    /// What the crawl saw in this partition (Glue's partition statistics): its files' count, bytes, newest
    /// modification time, rows and column bounds. Written where the files' formats keep column bounds (Parquet
    /// footers); see [`TableStats::last_modified`] for when queries use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<PartitionStats>,
}

/// A partition's [`TableStats`] as its registry file holds them, one line each: kept as their JSON text when a
/// table is loaded and parsed only for the partitions a query scans. Every query loads its table's file, and
/// parsing every partition's statistics would cost a table of 10,080 partitions ~45 ms a query
/// (`cargo bench --bench micro -- registry`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PartitionStats(Box<serde_json::value::RawValue>);

impl PartitionStats {
    /// None only if `stats` cannot be written as JSON (it always can: numbers, strings and maps of strings).
    pub fn new(stats: &TableStats) -> Option<Self> {
        serde_json::value::to_raw_value(stats).ok().map(Self)
    }

    /// The statistics, or None when the registry file holds something else there (edited by hand): a
    /// missing statistic, never an error.
    pub(crate) fn get(&self) -> Option<TableStats> {
        serde_json::from_str(self.0.get()).ok()
    }
}

/// The same text: the crawler writes statistics one way only (fields in order, `BTreeMap`s), so equal
/// statistics read back from a file compare equal to new ones.
impl PartialEq for PartitionStats {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Eq for PartitionStats {}

/// What the crawler (or a user) knows about the data, as Glue's table parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_count: Option<u64>,
    /// Column statistics by column name (see `catalog::colstats`): only for columns where they are known.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, ColumnStats>,
    /// A partition's: the newest modification time of its files (RFC 3339, milliseconds, UTC). Not written for
    /// a whole table (its files share its bounds, which skip none of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// A partition's: what names the very files the statistics describe, each one by its name, size and
    /// modification time, and on an object store its ETag (`colstats::files_digest`: SHA-256, 16 bytes in
    /// hex). A query whose listing of the partition gives the same digest lets the column bounds skip its files
    /// unopened (**owl**; Glue's statistics only steer plans, `owl.partition_bounds`). Any file added,
    /// removed, or rewritten (a new time, size or ETag: even at the same size with an older time kept, as
    /// `cp -p` and `rsync -t` do) changes it, and the partition's files are then all opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// The shortest and the longest Parquet footer of the files the crawl read (with the footer's 8-byte
    /// length and magic), bytes. Where every footer is longer than the first read from a file's end
    /// (`config::PARQUET_FOOTER_HINT`) and they differ by less than it, a scan reads the longest from each
    /// file's end in one request, where it would take two: that read followed by the footer's metadata whole
    /// (**owl**, `owl.footer_hints`), never more bytes than those two for the files the crawl read. Only
    /// while a listing shows as many files as the crawl read (`object_count`); a file rewritten in place with
    /// a shorter footer reads the longest all the same, until the next crawl. The footer decoded is always
    /// the file's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer_bytes: Option<[u64; 2]>,
}

impl TableStats {
    /// The bytes a scan should read first from the end of each file these statistics describe, when the
    /// crawl's footers make one read enough for every file at no more bytes than two reads would take.
    pub fn footer_hint(&self) -> Option<usize> {
        let hint = crate::config::PARQUET_FOOTER_HINT as u64;
        let [shortest, longest] = self.footer_bytes?;
        (shortest > hint && longest >= shortest && longest - shortest + 8 <= hint)
            .then(|| usize::try_from(longest).ok())
            .flatten()
    }
}

/// The shortest and the longest of some footers' lengths; None when any is unknown (or there are none).
pub fn footer_range(footers: impl IntoIterator<Item = Option<u64>>) -> Option<[u64; 2]> {
    let mut out: Option<[u64; 2]> = None;
    for f in footers {
        let f = f?;
        out = Some(match out {
            None => [f, f],
            Some([lo, hi]) => [lo.min(f), hi.max(f)],
        });
    }
    out
}

/// One column's statistics, as Glue's `ColumnStatisticsData` (`MinimumValue`, `MaximumValue`,
/// `NumberOfNulls`, `NumberOfDistinctValues`). Bounds are text in the column's type (`1992-01-02`, `12.50`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nulls: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Parquet: whether the files keep the column's values together, row group by row group (sorted, or nearly:
    /// adjacent row groups' ranges do not overlap), so pages can be skipped by it; false when each row group
    /// spans the column's range (owl then reads no page index to filter on it alone). Unknown without a file of
    /// two or more row groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustered: Option<bool>,
}

/// One archived schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableVersion {
    pub version_id: String,
    pub location: String,
    pub format: FormatSpec,
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition_keys: Vec<Column>,
}

/// File format and its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatSpec {
    pub classification: Classification,
    #[serde(default)]
    pub compression: Compression,
    /// Present for `csv` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<CsvOptions>,
    /// JSON only: each file is one JSON array of objects rather than one object per line.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub json_array: bool,
    /// JSON only: the JSON SerDe's options (OpenX's `case.insensitive`, `ignore.malformed.json`, `mapping.*`)
    /// and CloudTrail's file layout.
    #[serde(default, skip_serializing_if = "JsonOptions::is_default")]
    pub json: JsonOptions,
    /// `regex` only: RegexSerDe's `input.regex`. A line the whole pattern matches is a row, its groups the
    /// columns in order; any other line is a row of NULLs (Hive's rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `grok` only: Grok SerDe's `input.format` and `input.grokCustomPatterns` (`formats::grok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grok: Option<GrokSpec>,
    /// The `classification` Glue writes when a classifier other than the format's own named the files: a custom
    /// grok classifier's (`owl crawl --grok ... --classification mylog`), or a log type owl recognises
    /// (`combined_apache`, `alb`, `vpc_flow`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `regex` and `grok`: the lines at the start of each file that are no rows (`skip.header.line.count`:
    /// CloudFront's `#Version` and `#Fields`, a VPC flow log's field names).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub header_lines: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A Grok SerDe table's pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrokSpec {
    /// `input.format`: the grok pattern a line is searched for.
    pub format: String,
    /// `input.grokCustomPatterns`: `NAME pattern` lines the format may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_patterns: Option<String>,
}

impl FormatSpec {
    /// The table properties Glue writes for this format, the one place owl writes them (crawler, DDL, CTAS):
    /// `classification`; `compressionType` for row formats (columnar files compress inside, never as a whole
    /// file); for CSV, `delimiter` and `skip.header.line.count`.
    pub(crate) fn glue_properties(&self) -> BTreeMap<String, String> {
        let mut properties = BTreeMap::new();
        properties.insert(
            "classification".into(),
            self.label
                .clone()
                .unwrap_or_else(|| self.classification.as_str().into()),
        );
        if !matches!(
            self.classification,
            Classification::Parquet | Classification::Orc | Classification::Avro
        ) {
            properties.insert("compressionType".into(), self.compression.as_str().into());
        }
        if self.header_lines > 0 {
            properties.insert(
                "skip.header.line.count".into(),
                self.header_lines.to_string(),
            );
        }
        if let Some(csv) = &self.csv {
            properties.insert("delimiter".into(), csv.delimiter.clone());
            properties.insert(
                "skip.header.line.count".into(),
                if csv.has_header { "1" } else { "0" }.into(),
            );
        }
        properties
    }

    /// The Hive input/output formats and SerDe Glue writes for a format.
    pub(crate) fn hive_formats(&self) -> (&'static str, &'static str, &'static str) {
        match self.classification {
            Classification::Parquet => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            ),
            Classification::Orc => (
                "org.apache.hadoop.hive.ql.io.orc.OrcInputFormat",
                "org.apache.hadoop.hive.ql.io.orc.OrcOutputFormat",
                "org.apache.hadoop.hive.ql.io.orc.OrcSerde",
            ),
            Classification::Avro => (
                "org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat",
                "org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat",
                "org.apache.hadoop.hive.serde2.avro.AvroSerDe",
            ),
            Classification::Json if self.json.records => (
                "com.amazon.emr.cloudtrail.CloudTrailInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.apache.hive.hcatalog.data.JsonSerDe",
            ),
            Classification::Json => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.openx.data.jsonserde.JsonSerDe",
            ),
            Classification::Csv => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
            ),
            Classification::Regex => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "org.apache.hadoop.hive.serde2.RegexSerDe",
            ),
            Classification::Grok => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                "com.amazonaws.glue.serde.GrokSerDe",
            ),
        }
    }

    pub fn parquet() -> Self {
        FormatSpec {
            classification: Classification::Parquet,
            compression: Compression::None,
            csv: None,
            json_array: false,
            json: JsonOptions::default(),
            regex: None,
            grok: None,
            label: None,
            header_lines: 0,
        }
    }
    pub(crate) fn orc() -> Self {
        FormatSpec {
            classification: Classification::Orc,
            ..FormatSpec::parquet()
        }
    }
    pub(crate) fn avro() -> Self {
        FormatSpec {
            classification: Classification::Avro,
            ..FormatSpec::parquet()
        }
    }
    pub(crate) fn json(compression: Compression) -> Self {
        FormatSpec {
            classification: Classification::Json,
            compression,
            csv: None,
            json_array: false,
            json: JsonOptions::default(),
            regex: None,
            grok: None,
            label: None,
            header_lines: 0,
        }
    }
    pub(crate) fn csv(compression: Compression, csv: CsvOptions) -> Self {
        FormatSpec {
            classification: Classification::Csv,
            compression,
            csv: Some(csv),
            json_array: false,
            json: JsonOptions::default(),
            regex: None,
            grok: None,
            label: None,
            header_lines: 0,
        }
    }

    /// Lines read through RegexSerDe's `input.regex`.
    pub(crate) fn regex(compression: Compression, regex: String) -> Self {
        FormatSpec {
            classification: Classification::Regex,
            compression,
            csv: None,
            json_array: false,
            json: JsonOptions::default(),
            regex: Some(regex),
            grok: None,
            label: None,
            header_lines: 0,
        }
    }

    /// Lines read through a grok pattern (Grok SerDe).
    pub(crate) fn grok(compression: Compression, grok: GrokSpec) -> Self {
        FormatSpec {
            classification: Classification::Grok,
            compression,
            csv: None,
            json_array: false,
            json: JsonOptions::default(),
            regex: None,
            grok: Some(grok),
            label: None,
            header_lines: 0,
        }
    }
}

/// Glue's `classification` values that owl reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Classification {
    Csv,
    /// Newline-delimited JSON.
    Json,
    Parquet,
    Orc,
    Avro,
    /// Text lines read through a regular expression (Hive's RegexSerDe).
    Regex,
    /// Text lines read through a grok pattern (Glue's Grok SerDe).
    Grok,
}

impl Classification {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Classification::Csv => "csv",
            Classification::Json => "json",
            Classification::Parquet => "parquet",
            Classification::Orc => "orc",
            Classification::Avro => "avro",
            Classification::Regex => "regex",
            Classification::Grok => "grok",
        }
    }
}

/// Whole-file compression (Glue's `compressionType`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    /// The compression a file's name says (`.gz`, `.bz2`, `.xz`, `.zst`), as Athena tells a text file's.
    pub(crate) fn of_name(name: &str) -> Compression {
        let n = name.to_ascii_lowercase();
        if n.ends_with(".gz") || n.ends_with(".gzip") {
            Compression::Gzip
        } else if n.ends_with(".bz2") {
            Compression::Bzip2
        } else if n.ends_with(".xz") {
            Compression::Xz
        } else if n.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
        }
    }
}

/// How a delimited text file is laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvOptions {
    /// One character: `,` `|` `\t` `;`.
    pub delimiter: String,
    pub has_header: bool,
    #[serde(default = "default_quote")]
    pub quote: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escape: Option<String>,
    /// Quoted fields may hold line breaks (slower: files cannot be split).
    #[serde(default)]
    pub newlines_in_values: bool,
    /// LazySimpleSerDe's `serialization.null.format` (`NULL DEFINED AS`): a field of this text is NULL (an
    /// empty one is too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_format: Option<String>,
}

fn default_quote() -> String {
    "\"".into()
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            delimiter: ",".into(),
            has_header: true,
            quote: default_quote(),
            escape: None,
            newlines_in_values: false,
            null_format: None,
        }
    }
}

impl TableDef {
    /// A table with no columns, partitions, statistics or history yet: callers fill in what they know.
    pub fn new(name: &str, database: &str, location: String, format: FormatSpec) -> Self {
        TableDef {
            name: name.into(),
            database: database.into(),
            location,
            format,
            columns: vec![],
            partition_keys: vec![],
            partitions: vec![],
            excluded_files: vec![],
            stats: TableStats::default(),
            properties: BTreeMap::new(),
            version_id: String::new(),
            versions: vec![],
        }
    }

    /// The schema-defining part of the table: a change here makes a new version.
    /// Make the table as it is now its newest version: the id after the highest archived (Glue's ids are integer
    /// strings), archived and current.
    pub(crate) fn archive_new_version(&mut self) {
        let next = self
            .versions
            .iter()
            .filter_map(|v| v.version_id.parse::<u64>().ok())
            .max()
            .map_or(0, |m| m + 1)
            .to_string();
        self.versions.push(self.snapshot(next.clone()));
        self.version_id = next;
    }

    pub(crate) fn snapshot(&self, version_id: String) -> TableVersion {
        TableVersion {
            version_id,
            location: self.location.clone(),
            format: self.format.clone(),
            columns: self.columns.clone(),
            partition_keys: self.partition_keys.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_footer_hint_only_where_one_read_costs_no_more_than_two() {
        let hint = crate::config::PARQUET_FOOTER_HINT as u64;
        let with = |range: Option<[u64; 2]>| TableStats {
            footer_bytes: range,
            ..TableStats::default()
        };
        assert_eq!(
            footer_range([Some(9000), Some(12000), Some(10000)]),
            Some([9000, 12000])
        );
        assert_eq!(footer_range([Some(9000), None]), None);
        assert_eq!(footer_range(std::iter::empty()), None);
        assert_eq!(with(Some([20_000, 20_100])).footer_hint(), Some(20_100));
        // The longest may exceed a file's footer by the 8 KiB first read less the 8-byte tail, no more.
        assert_eq!(
            with(Some([20_000, 20_000 + hint - 8])).footer_hint(),
            Some((20_000 + hint - 8) as usize)
        );
        assert_eq!(with(Some([20_000, 20_000 + hint - 7])).footer_hint(), None);
        // A footer the first read holds: one read already.
        assert_eq!(with(Some([hint, 20_000])).footer_hint(), None);
        assert_eq!(with(Some([30_000, 20_000])).footer_hint(), None);
        assert_eq!(with(None).footer_hint(), None);
    }

    #[test]
    fn partition_statistics_are_kept_as_text_until_read() {
        let stats = TableStats {
            object_count: Some(2),
            size_bytes: Some(2048),
            record_count: Some(10),
            columns: BTreeMap::from([(
                "k".to_string(),
                ColumnStats {
                    min: Some("1".into()),
                    max: Some("9".into()),
                    nulls: Some(0),
                    ..ColumnStats::default()
                },
            )]),
            last_modified: Some("2024-12-31T00:00:00.000Z".into()),
            files: Some("00112233445566778899aabbccddeeff".into()),
            footer_bytes: None,
        };
        let p = Partition {
            values: vec!["1".into()],
            location: "k=1/".into(),
            stats: PartitionStats::new(&stats),
        };
        // Pretty-printed as the registry writes tables: the statistics stay on one line, and read back equal.
        let text = serde_json::to_string_pretty(&p).unwrap();
        assert!(
            text.contains(r#""stats": {"object_count":2,"size_bytes":2048,"record_count":10,"#),
            "{text}"
        );
        let back: Partition = serde_json::from_str(&text).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.stats.unwrap().get(), Some(stats));
        // Something else there (a hand edit) is no statistics, not a broken table.
        let edited = text.replace(r#""object_count":2"#, r#""object_count":"two""#);
        let back: Partition = serde_json::from_str(&edited).unwrap();
        assert_eq!(back.stats.unwrap().get(), None);
    }
}
