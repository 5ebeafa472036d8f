//! Column statistics (Glue's column statistics): a column's minimum, maximum, null count and, when known, its
//! number of distinct values. The crawler reads them from Parquet footers at no extra cost; the planner gets them
//! for every scan, so it can estimate how many rows a join or filter yields and put the small side of a join
//! where it belongs.
//!
//! The invariant: statistics only ever steer plans and skip files, never answer a query. A table's reach
//! DataFusion as *inexact* (files may have changed since the crawl), so no query is answered from them, and a
//! column whose bounds are not known for every file gets none at all (a bound that holds for some files only
//! would mislead the planner). A partition's own bounds also go to each of its files,
//! where they let a scan skip a file unopened, only while a listing shows the very files they were read from
//! (`TableStats::last_modified`): a changed file is always read.
//!
//! Minimum and maximum are kept for number, decimal, date, timestamp and boolean columns, written as text the
//! way a cast to string writes them (`1992-01-02`, `12.50`) and read back with the column's type. Strings get a
//! null count only: Parquet may truncate string bounds, and a range of strings tells the planner nothing about
//! how many distinct values there are (Glue keeps lengths instead, which DataFusion has no use for).

use super::model::{Column, ColumnStats, TableDef};
use super::types::to_arrow;
use arrow::array::{Array, ArrayRef};
use arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::stats::Precision;
use datafusion::physical_plan::ColumnStatistics;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::file::metadata::ParquetMetaData;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What one file (or a set of files) says about one column, typed, while a crawl gathers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    pub min: Option<ScalarValue>,
    pub max: Option<ScalarValue>,
    pub nulls: Option<u64>,
    /// How many adjacent pairs of row groups (in order of their minimum) hold the column's values in order,
    /// the one's maximum at most the next's minimum, of how many pairs; None when unknown.
    pub order: Option<(u64, u64)>,
}

/// Per column of one file. A column the file lacks is absent (all its rows are NULL there).
pub type FileBounds = BTreeMap<String, Bounds>;

/// Whether a column of this type keeps a minimum and maximum.
pub(crate) fn keeps_range(dt: &DataType) -> bool {
    dt.is_integer()
        || dt.is_floating()
        || matches!(
            dt,
            DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
                | DataType::Boolean
        )
}

/// The bounds of every top-level column of a Parquet file, from its footer's row-group statistics. A bound
/// is left out when a row group holding values has none (writers may skip statistics).
pub(crate) fn from_parquet(md: &ParquetMetaData, schema: &Schema) -> FileBounds {
    let groups = md.row_groups();
    let mut out = FileBounds::new();
    for field in schema.fields() {
        let Ok(conv) =
            StatisticsConverter::try_new(field.name(), schema, md.file_metadata().schema_descr())
        else {
            continue;
        };
        let conv = conv.with_missing_null_counts_as_zero(false);
        let nulls = conv.row_group_null_counts(groups.iter()).ok();
        let null_total = nulls.as_ref().and_then(|n| {
            (n.null_count() == 0 && n.len() == groups.len()).then(|| n.values().iter().sum::<u64>())
        });
        let (mut min, mut max) = (None, None);
        // A row group whose every value is NULL has no bounds and needs none.
        let all_null: Vec<bool> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                nulls
                    .as_ref()
                    .is_some_and(|n| n.is_valid(i) && n.value(i) == g.num_rows().max(0) as u64)
            })
            .collect();
        if keeps_range(field.data_type()) {
            min = conv
                .row_group_mins(groups.iter())
                .ok()
                .and_then(|a| fold(&a, &all_null, Ordering::Less));
            max = conv
                .row_group_maxes(groups.iter())
                .ok()
                .and_then(|a| fold(&a, &all_null, Ordering::Greater));
        }
        out.insert(
            field.name().clone(),
            Bounds {
                min,
                max,
                nulls: null_total,
                order: row_group_order(&conv, md, &all_null),
            },
        );
    }
    out
}

/// Of the adjacent pairs of a file's row groups, taken in order of their minimum, how many hold the column's
/// values in order (the one's maximum at most the next's minimum): all of them in a file sorted by the column,
/// none when every row group spans its range. None when a row group holding values lacks bounds.
fn row_group_order(
    conv: &StatisticsConverter,
    md: &ParquetMetaData,
    all_null: &[bool],
) -> Option<(u64, u64)> {
    let groups = md.row_groups();
    let mins = conv.row_group_mins(groups.iter()).ok()?;
    let maxes = conv.row_group_maxes(groups.iter()).ok()?;
    let mut ranges = Vec::with_capacity(groups.len());
    for (i, &skip) in all_null.iter().enumerate() {
        if skip {
            continue;
        }
        if mins.is_null(i) || maxes.is_null(i) {
            return None;
        }
        let lo = ScalarValue::try_from_array(&mins, i).ok()?;
        let hi = ScalarValue::try_from_array(&maxes, i).ok()?;
        ranges.push((lo, hi));
    }
    let mut comparable = true;
    ranges.sort_by(|a, b| {
        a.0.partial_cmp(&b.0).unwrap_or_else(|| {
            comparable = false;
            Ordering::Equal
        })
    });
    if !comparable {
        return None;
    }
    let pairs = ranges.len().saturating_sub(1) as u64;
    let mut ordered = 0;
    for w in ranges.windows(2) {
        match w[0].1.partial_cmp(&w[1].0)? {
            Ordering::Greater => {}
            _ => ordered += 1,
        }
    }
    Some((ordered, pairs))
}

/// Whether a table's files hold the column in row groups of their own ranges (see [`ColumnStats::clustered`]):
/// at least half of the adjacent pairs in order; None without a file of two or more row groups.
fn clustered(order: (u64, u64)) -> Option<bool> {
    let (ordered, pairs) = order;
    (pairs > 0).then_some(ordered * 2 >= pairs)
}

/// The smallest (`keep = Less`) or largest value of `values`, skipping entries marked `skip`; None when another
/// entry is missing.
fn fold(values: &ArrayRef, skip: &[bool], keep: Ordering) -> Option<ScalarValue> {
    let mut best: Option<ScalarValue> = None;
    for i in 0..values.len() {
        if skip.get(i).copied().unwrap_or(false) {
            continue;
        }
        if values.is_null(i) {
            return None;
        }
        let v = ScalarValue::try_from_array(values, i).ok()?;
        best = match best {
            None => Some(v),
            Some(b) => Some(pick(b, v, keep)?),
        };
    }
    best
}

fn pick(a: ScalarValue, b: ScalarValue, keep: Ordering) -> Option<ScalarValue> {
    match b.partial_cmp(&a)? {
        o if o == keep => Some(b),
        _ => Some(a),
    }
}

/// A table's statistics from its files' bounds, for the table's columns and types: `files` holds each file's
/// bounds and row count, or None for a file nothing is known about (then the table gets none). Values are
/// cast to the table's (possibly wider) type before they are compared.
pub fn merge_files(
    columns: &[(String, DataType)],
    files: &[(Option<&FileBounds>, Option<u64>)],
) -> BTreeMap<String, ColumnStats> {
    let mut out = BTreeMap::new();
    if files.is_empty() || files.iter().any(|(b, _)| b.is_none()) {
        return out;
    }
    for (name, dt) in columns {
        // `None`: no file has the column yet; `Some(None)`: a file has it without this bound.
        let (mut min, mut max): (Option<Option<ScalarValue>>, Option<Option<ScalarValue>>) =
            (None, None);
        let mut nulls = Some(0u64);
        let mut order = (0u64, 0u64);
        for (bounds, rows) in files {
            let Some(b) = bounds.and_then(|b| b.get(name)) else {
                // The file lacks the column: every row of it reads as NULL, and it adds no bound.
                nulls = nulls.zip(*rows).map(|(x, y)| x + y);
                continue;
            };
            nulls = nulls.zip(b.nulls).map(|(x, y)| x + y);
            if let Some((ordered, pairs)) = b.order {
                order = (order.0 + ordered, order.1 + pairs);
            }
            let cast = |v: &Option<ScalarValue>| v.as_ref().and_then(|v| v.cast_to(dt).ok());
            min = Some(match min {
                None => cast(&b.min),
                Some(m) => m
                    .zip(cast(&b.min))
                    .and_then(|(m, v)| pick(m, v, Ordering::Less)),
            });
            max = Some(match max {
                None => cast(&b.max),
                Some(m) => m
                    .zip(cast(&b.max))
                    .and_then(|(m, v)| pick(m, v, Ordering::Greater)),
            });
        }
        let ranges = keeps_range(dt);
        let text = |v: Option<Option<ScalarValue>>| {
            v.flatten().filter(|_| ranges).and_then(|v| to_text(&v))
        };
        let stats = ColumnStats {
            min: text(min),
            max: text(max),
            nulls,
            distinct: None,
            clustered: clustered(order),
        };
        if stats != ColumnStats::default() {
            out.insert(name.clone(), stats);
        }
    }
    out
}

/// A table's statistics after files were added to it (`new`: the table as the crawl now sees it, its statistics
/// those of the `new_rows` rows of the added files): the old table's merged with the new files'.
pub(crate) fn merge_tables(
    old: &TableDef,
    new: &TableDef,
    new_rows: Option<u64>,
) -> BTreeMap<String, ColumnStats> {
    let columns = typed(&new.columns);
    let old_names: Vec<String> = old.columns.iter().map(|c| c.name.clone()).collect();
    let all: Vec<String> = columns.iter().map(|c| c.0.clone()).collect();
    let old_bounds = as_bounds(&old.stats.columns, &old_names, &columns);
    let new_bounds = as_bounds(&new.stats.columns, &all, &columns);
    merge_files(
        &columns,
        &[
            (Some(&old_bounds), old.stats.record_count),
            (Some(&new_bounds), new_rows),
        ],
    )
}

/// Columns with their Arrow types (a column whose type owl cannot map is left out: it gets no statistics).
pub fn typed(columns: &[Column]) -> Vec<(String, DataType)> {
    columns
        .iter()
        .filter_map(|c| to_arrow(&c.ty, &c.name).ok().map(|t| (c.name.clone(), t)))
        .collect()
}

/// Registry statistics back as bounds, to merge with more files: `names` are the columns those statistics
/// cover (a column among them without statistics is unknown; one not among them is absent, all NULL).
fn as_bounds(
    stats: &BTreeMap<String, ColumnStats>,
    names: &[String],
    columns: &[(String, DataType)],
) -> FileBounds {
    columns
        .iter()
        .filter(|(n, _)| names.contains(n))
        .map(|(n, dt)| {
            let s = stats.get(n);
            let bound = |v: Option<&String>| v.and_then(|v| from_text(v, dt));
            let b = Bounds {
                min: bound(s.and_then(|s| s.min.as_ref())),
                max: bound(s.and_then(|s| s.max.as_ref())),
                nulls: s.and_then(|s| s.nulls),
                // The table's verdict as one pair, to weigh against the added files' pairs.
                order: s.and_then(|s| s.clustered).map(|c| (u64::from(c), 1)),
            };
            (n.clone(), b)
        })
        .collect()
}

/// What names a partition's files (`TableStats::files`): each file's name (its path's last segment), size,
/// modification time (milliseconds) and, where `etags` (an object store's, not the local one's, which holds an
/// inode and changes with every copy of a folder), its ETag; in any order. SHA-256, 16 bytes in hex.
pub(crate) fn files_digest(files: &[object_store::ObjectMeta], etags: bool) -> String {
    use sha2::Digest;
    let mut lines: Vec<String> = files
        .iter()
        .map(|m| {
            format!(
                "{}\t{}\t{}\t{}",
                m.location.filename().unwrap_or_default(),
                m.size,
                m.last_modified.timestamp_millis(),
                if etags {
                    m.e_tag.as_deref().unwrap_or("")
                } else {
                    ""
                }
            )
        })
        .collect();
    lines.sort_unstable();
    let mut hash = sha2::Sha256::new();
    for l in &lines {
        hash.update(l.as_bytes());
        hash.update(b"\n");
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A file time as the registry writes it (`TableStats::last_modified`): RFC 3339, milliseconds, UTC.
pub(crate) fn stamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What one file gets from its partition's statistics (`one`: the partition is that one file). The bounds are
/// the partition's, which hold for each of its files; marked exact, as DataFusion prunes by exact bounds only
/// (a bound that holds is all pruning needs; no answer is taken from file statistics). A null count is the
/// file's when the partition is the file, or when the partition has none.
pub(crate) fn file_bounds(stats: &ColumnStats, dt: &DataType, one: bool) -> ColumnStatistics {
    let mut c = ColumnStatistics::new_unknown();
    if let Some((lo, hi)) = range(stats, dt) {
        c.min_value = Precision::Exact(lo);
        c.max_value = Precision::Exact(hi);
    }
    c.null_count = match stats.nulls {
        Some(n) if one || n == 0 => Precision::Exact(n as usize),
        _ => Precision::Absent,
    };
    c
}

/// A column's minimum and maximum read back as `dt`: both or neither (a one-sided range makes DataFusion's
/// interval arithmetic guess wildly, and prunes nothing a two-sided one would not).
fn range(stats: &ColumnStats, dt: &DataType) -> Option<(ScalarValue, ScalarValue)> {
    let min = from_text(stats.min.as_deref()?, dt)?;
    let max = from_text(stats.max.as_deref()?, dt)?;
    Some((min, max))
}

/// A value as the registry writes it: the text a cast to string gives.
pub(crate) fn to_text(v: &ScalarValue) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let s = v.cast_to(&DataType::Utf8).ok()?;
    match s {
        ScalarValue::Utf8(Some(s)) => Some(s),
        _ => None,
    }
}

/// A registry value read back as `dt`; None when it does not parse (the registry was edited by hand, or the
/// column's type changed): a missing statistic, never an error.
pub(crate) fn from_text(s: &str, dt: &DataType) -> Option<ScalarValue> {
    if !keeps_range(dt) {
        return None;
    }
    ScalarValue::try_from_string(s.to_string(), dt)
        .ok()
        .filter(|v| !v.is_null())
}

/// What DataFusion gets for a column: everything inexact; the null count scaled by `share`, the part of the
/// table's bytes the scan keeps.
pub(crate) fn to_datafusion(stats: &ColumnStats, dt: &DataType, share: f64) -> ColumnStatistics {
    let mut c = ColumnStatistics::new_unknown();
    if let Some((lo, hi)) = range(stats, dt) {
        c.min_value = Precision::Inexact(lo);
        c.max_value = Precision::Inexact(hi);
    }
    if let Some(n) = stats.nulls {
        c.null_count = Precision::Inexact((n as f64 * share).round() as usize);
    }
    if let Some(d) = stats.distinct {
        c.distinct_count = Precision::Inexact(d as usize);
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(min: i64, max: i64, nulls: u64) -> Bounds {
        Bounds {
            min: Some(ScalarValue::Int32(Some(min as i32))),
            max: Some(ScalarValue::Int32(Some(max as i32))),
            nulls: Some(nulls),
            order: None,
        }
    }

    #[test]
    fn files_merge_into_the_widest_bounds_in_the_table_type() {
        let one = FileBounds::from([("k".to_string(), b(5, 10, 1))]);
        let two = FileBounds::from([("k".to_string(), b(-3, 7, 2))]);
        let cols = [("k".to_string(), DataType::Int64)];
        let got = merge_files(&cols, &[(Some(&one), Some(10)), (Some(&two), Some(10))]);
        assert_eq!(
            got["k"],
            ColumnStats {
                min: Some("-3".into()),
                max: Some("10".into()),
                nulls: Some(3),
                distinct: None,
                clustered: None,
            }
        );
    }

    #[test]
    fn a_file_without_the_column_adds_nulls_and_an_unknown_bound_is_unknown_for_the_table() {
        let one = FileBounds::from([("k".to_string(), b(5, 10, 0))]);
        let lacks = FileBounds::new();
        let cols = [("k".to_string(), DataType::Int64)];
        let got = merge_files(&cols, &[(Some(&one), Some(4)), (Some(&lacks), Some(6))]);
        assert_eq!(got["k"].min.as_deref(), Some("5"));
        assert_eq!(got["k"].nulls, Some(6));

        let unknown = FileBounds::from([(
            "k".to_string(),
            Bounds {
                min: None,
                max: Some(ScalarValue::Int32(Some(99))),
                nulls: None,
                order: None,
            },
        )]);
        // A file without a minimum or a null count: the table has neither; its maximum still holds.
        let got = merge_files(&cols, &[(Some(&one), Some(4)), (Some(&unknown), Some(6))]);
        assert_eq!(
            got["k"],
            ColumnStats {
                max: Some("99".into()),
                ..ColumnStats::default()
            }
        );

        // One file nothing is known about: no statistics for the table.
        assert!(merge_files(&cols, &[(Some(&one), Some(4)), (None, None)]).is_empty());
    }

    #[test]
    fn row_groups_in_a_columns_order_make_it_clustered() {
        use arrow::array::{Int64Array, RecordBatch, StringArray};
        use arrow::datatypes::Field;
        use parquet::arrow::ArrowWriter;
        use parquet::file::metadata::ParquetMetaDataReader;
        use parquet::file::properties::WriterProperties;
        use std::sync::Arc;

        // 10 row groups of 100 rows: `k` sorted (0..999), `v` cycling 0..7 in each, `s` all NULL but one
        // row group's, `d` sorted descending.
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, false),
            Field::new("v", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
            Field::new("d", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from_iter_values(0..1000)),
                Arc::new(Int64Array::from_iter_values((0..1000).map(|i| i % 7))),
                Arc::new(StringArray::from_iter(
                    (0..1000).map(|i| (i < 100).then(|| format!("s{i:03}"))),
                )),
                Arc::new(Int64Array::from_iter_values((0..1000).rev())),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(100))
            .build();
        let mut buf = Vec::new();
        let mut w = ArrowWriter::try_new(&mut buf, Arc::clone(&schema), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let md = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(buf))
            .unwrap();
        assert_eq!(md.num_row_groups(), 10);

        let bounds = from_parquet(&md, &schema);
        assert_eq!(bounds["k"].order, Some((9, 9)));
        assert_eq!(bounds["v"].order, Some((0, 9)));
        // One row group with values: no pair to judge by.
        assert_eq!(bounds["s"].order, Some((0, 0)));
        // Row groups are taken in order of their minimum, whatever order the file has them in.
        assert_eq!(bounds["d"].order, Some((9, 9)));

        let cols = typed_of(&schema);
        let got = merge_files(&cols, &[(Some(&bounds), Some(1000))]);
        assert_eq!(got["k"].clustered, Some(true));
        assert_eq!(got["d"].clustered, Some(true));
        assert_eq!(got["v"].clustered, Some(false));
        assert_eq!(got["s"].clustered, None);

        // Two files: their pairs add up (9 in order + 0 of 9: half, clustered; one pair fewer: not).
        let mut mixed = bounds.clone();
        mixed.get_mut("k").unwrap().order = Some((0, 9));
        let got = merge_files(
            &cols,
            &[(Some(&bounds), Some(1000)), (Some(&mixed), Some(1000))],
        );
        assert_eq!(got["k"].clustered, Some(true));
        mixed.get_mut("k").unwrap().order = Some((0, 10));
        let got = merge_files(
            &cols,
            &[(Some(&bounds), Some(1000)), (Some(&mixed), Some(1000))],
        );
        assert_eq!(got["k"].clustered, Some(false));
    }

    fn typed_of(schema: &Schema) -> Vec<(String, DataType)> {
        schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect()
    }

    #[test]
    fn values_round_trip_through_text_by_type() {
        for (v, dt) in [
            (ScalarValue::Date32(Some(8036)), DataType::Date32),
            (
                ScalarValue::Decimal128(Some(1250), 15, 2),
                DataType::Decimal128(15, 2),
            ),
            (ScalarValue::Int64(Some(-7)), DataType::Int64),
            (ScalarValue::Float64(Some(0.5)), DataType::Float64),
            (ScalarValue::Boolean(Some(true)), DataType::Boolean),
            (
                ScalarValue::TimestampMicrosecond(Some(1_600_000_000_000_001), None),
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            ),
        ] {
            let text = to_text(&v).unwrap();
            assert_eq!(from_text(&text, &dt), Some(v), "{text}");
        }
        assert_eq!(
            to_text(&ScalarValue::Date32(Some(8036))).unwrap(),
            "1992-01-02"
        );
        assert_eq!(from_text("not a date", &DataType::Date32), None);
        assert_eq!(from_text("abc", &DataType::Utf8), None);
    }
}
