//! Which byte ranges each scan thread reads, and in what order.
//!
//! 1. No Parquet file is opened for a sliver of it ([`MergeSlivers`]). DataFusion splits a scan's files into
//!    byte ranges of equal size, one group a thread: with TPC-H's `lineitem` in two files of 116 MB, the first
//!    thread reads `lineitem.2.parquet` up to byte 115,936,497 and the second its last 22 KB, then
//!    `lineitem.1.parquet`. A range reads the row groups that start in it, so the 22 KB read none; but opening
//!    the file for it reads the footer, and the page index where a filter needs it, a second time when the first
//!    thread has not cached them yet (q5 read 45 KB more in some runs than others, and more than DuckDB's count).
//!    A range under 1 MiB is given to the thread that reads the range before or after it in the same file, as one
//!    range: the same row groups are read, by one opening. The thread it leaves may end up with no file (an
//!    empty partition).
//! 2. A top-k reads the files likeliest to hold its rows first ([`BestFilesFirst`]): `ORDER BY x DESC LIMIT
//!    10` over a year of daily files reads, in each thread, the files whose maximum of `x` is highest first, by
//!    the bounds the registry gives each file (`catalog::provider`). The top-k's threshold is then its final
//!    one after a few files, and its run-time filter skips, unopened, every file whose bounds cannot beat it.
//!    DataFusion orders files by bounds only when it has them for every sort key (`ORDER BY latency_ms DESC,
//!    request_id`: strings have none); the first key is what skips files.
//!
//! `SET owl.merge_slivers = false` and `SET owl.best_files_first = false` turn them off.
//!
//! The invariant: only which thread reads a range, and when, changes; every range is read once, so answers
//! cannot change (a top-k sorts whatever order its rows come in).

use super::passthrough;
use arrow::compute::SortOptions;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};
use std::cmp::Ordering;
use std::sync::Arc;

/// Ranges of files smaller than this are merged into their neighbour's.
const SLIVER: i64 = 1 << 20;

#[derive(Debug, Default)]
pub struct MergeSlivers;

impl PhysicalOptimizerRule for MergeSlivers {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            // Parquet only: a text file's range has no footer to read again, and reads past its end to the
            // next line break.
            let Some(config) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
                .filter(|config| {
                    config
                        .file_source()
                        .downcast_ref::<ParquetSource>()
                        .is_some()
                })
            else {
                return Ok(Transformed::no(node));
            };
            let Some(groups) = merge_slivers(&config.file_groups) else {
                return Ok(Transformed::no(node));
            };
            let config = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
            ))
        })
        .data()
    }

    fn name(&self) -> &str {
        "owl_merge_slivers"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `groups` with each file range under [`SLIVER`] joined to the adjacent range of the same file in another
/// group; None when there is none to join.
fn merge_slivers(groups: &[FileGroup]) -> Option<Vec<FileGroup>> {
    let mut files: Vec<Vec<_>> = groups.iter().map(|g| g.files().to_vec()).collect();
    let mut changed = false;
    for g in 0..files.len() {
        let mut i = 0;
        while i < files[g].len() {
            let sliver = &files[g][i];
            let Some(range) = sliver.range.clone().filter(|r| r.end - r.start < SLIVER) else {
                i += 1;
                continue;
            };
            let path = sliver.path().clone();
            // The same file's range that ends where this one starts, or starts where it ends, in another group.
            let neighbour = (0..files.len()).filter(|h| *h != g).find_map(|h| {
                files[h]
                    .iter()
                    .position(|f| {
                        f.path() == &path
                            && f.range
                                .as_ref()
                                .is_some_and(|r| r.end == range.start || r.start == range.end)
                    })
                    .map(|j| (h, j))
            });
            let Some((h, j)) = neighbour else {
                i += 1;
                continue;
            };
            let Some(other) = files[h][j].range.as_mut() else {
                i += 1;
                continue;
            };
            other.start = other.start.min(range.start);
            other.end = other.end.max(range.end);
            files[g].remove(i);
            changed = true;
        }
    }
    changed.then(|| files.into_iter().map(FileGroup::new).collect())
}

/// Orders each thread's files so that a top-k reads first those whose bounds hold its best rows (see the
/// module's second point).
#[derive(Debug, Default)]
pub struct BestFilesFirst;

impl PhysicalOptimizerRule for BestFilesFirst {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(sort) = node
                .downcast_ref::<SortExec>()
                .filter(|s| s.fetch().is_some())
            else {
                return Ok(Transformed::no(node));
            };
            let first = sort.expr().first();
            let Some(column) = crate::optimizer::logical::sort_zeros::sorted_column(&first.expr)
            else {
                return Ok(Transformed::no(node));
            };
            let Some(input) = reorder_below(sort.input(), column.index(), first.options)? else {
                return Ok(Transformed::no(node));
            };
            Ok(Transformed::yes(replace_children_if_necessary(
                Arc::clone(&node),
                vec![input],
            )?))
        })
        .data()
    }

    fn name(&self) -> &str {
        "owl_best_files_first"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `node` with the Parquet scan below it (through nodes that pass rows on unchanged in their order within a
/// file) reading its files best first for `column` (of `node`'s output) sorted by `options`; None when there is
/// no such scan, or its files are in that order already.
fn reorder_below(
    node: &Arc<dyn ExecutionPlan>,
    column: usize,
    options: SortOptions,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if let Some(config) = node
        .downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
    {
        return Ok(reorder_scan(config, column, options)
            .map(|config| DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>));
    }
    let Some(below) = passthrough::column_in_input(node, column) else {
        return Ok(None);
    };
    passthrough::rewrite_child(node, |child| reorder_below(child, below, options))
}

/// A Parquet scan's config with each group's files best first for its output `column`; None when the scan
/// declares an order of its own (its files' order is then part of it), the column is not a table column, or no
/// file moves.
fn reorder_scan(
    config: &FileScanConfig,
    column: usize,
    options: SortOptions,
) -> Option<FileScanConfig> {
    config.file_source().downcast_ref::<ParquetSource>()?;
    if !config.output_ordering.is_empty() {
        return None;
    }
    // The scan's output column as a column of the table (file columns, then partition columns).
    let index = match config.file_source().projection() {
        Some(projection) => projection
            .expr_iter()
            .nth(column)?
            .downcast_ref::<Column>()?
            .index(),
        None => column,
    };
    let columns = config.file_schema().fields().len();
    let mut changed = false;
    let groups = config
        .file_groups
        .iter()
        .map(
            |group| match best_first(group.files(), index, columns, options) {
                Some(files) => {
                    changed = true;
                    FileGroup::new(files)
                }
                None => group.clone(),
            },
        )
        .collect();
    changed.then(|| {
        FileScanConfigBuilder::from(config.clone())
            .with_file_groups(groups)
            .build()
    })
}

/// What a file's bounds say about its best value of table column `index` (its `columns` file columns, then
/// partition columns) for a sort by `options`.
#[derive(Debug, PartialEq)]
enum Best {
    /// Unknown, or NULL where NULLs sort first: it may hold the very first rows (and cannot be skipped).
    Any,
    /// Its best value: the maximum for a descending sort, the minimum for an ascending one.
    Value(ScalarValue),
}

fn best_of(file: &PartitionedFile, index: usize, columns: usize, options: SortOptions) -> Best {
    if index >= columns {
        // A partition column: one value a file.
        return match file.partition_values.get(index - columns) {
            Some(v) if !v.is_null() => Best::Value(v.clone()),
            _ => Best::Any,
        };
    }
    let Some(col) = file
        .statistics
        .as_ref()
        .and_then(|s| s.column_statistics.get(index))
    else {
        return Best::Any;
    };
    if options.nulls_first && col.null_count != Precision::Exact(0) {
        return Best::Any;
    }
    let bound = if options.descending {
        &col.max_value
    } else {
        &col.min_value
    };
    match bound {
        Precision::Exact(v) | Precision::Inexact(v) if !v.is_null() => Best::Value(v.clone()),
        _ => Best::Any,
    }
}

/// `files` in the order a top-k should read them: those that may hold its first rows, then by best value
/// (highest first when descending); ties keep their order (a file's ranges stay in order). None when they are
/// in that order already.
fn best_first(
    files: &[PartitionedFile],
    index: usize,
    columns: usize,
    options: SortOptions,
) -> Option<Vec<PartitionedFile>> {
    let best: Vec<Best> = files
        .iter()
        .map(|f| best_of(f, index, columns, options))
        .collect();
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| match (&best[a], &best[b]) {
        (Best::Any, Best::Any) => Ordering::Equal,
        (Best::Any, Best::Value(_)) => Ordering::Less,
        (Best::Value(_), Best::Any) => Ordering::Greater,
        (Best::Value(x), Best::Value(y)) => {
            let order = x.partial_cmp(y).unwrap_or(Ordering::Equal);
            if options.descending {
                order.reverse()
            } else {
                order
            }
        }
    });
    let moved = order.iter().enumerate().any(|(i, &j)| i != j);
    moved.then(|| order.iter().map(|&i| files[i].clone()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::datasource::listing::PartitionedFile;

    fn range(path: &str, size: u64, start: i64, end: i64) -> PartitionedFile {
        PartitionedFile::new(path.to_string(), size).with_range(start, end)
    }

    fn ranges(groups: &[FileGroup]) -> Vec<Vec<(String, i64, i64)>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| {
                        let r = f.range.clone().unwrap();
                        (f.path().to_string(), r.start, r.end)
                    })
                    .collect()
            })
            .collect()
    }

    /// A file whose one column has `bounds` (min, max) and `nulls`, in partition `part`.
    fn bounded(path: &str, bounds: Option<(i64, i64)>, nulls: usize, part: i64) -> PartitionedFile {
        use datafusion::common::{ColumnStatistics, Statistics};
        let mut col = ColumnStatistics::new_unknown();
        if let Some((lo, hi)) = bounds {
            col.min_value = Precision::Exact(ScalarValue::Int64(Some(lo)));
            col.max_value = Precision::Exact(ScalarValue::Int64(Some(hi)));
        }
        col.null_count = Precision::Exact(nulls);
        let mut f = PartitionedFile::new(path.to_string(), 100)
            .with_partition_values(vec![ScalarValue::Int64(Some(part))]);
        f.statistics = Some(Arc::new(Statistics {
            num_rows: Precision::Absent,
            total_byte_size: Precision::Absent,
            column_statistics: vec![col],
        }));
        f
    }

    /// The paths of `files` in the order a top-k sorting table column `index` by `options` reads them (one
    /// file column, then a partition column).
    fn order(
        files: &[PartitionedFile],
        index: usize,
        descending: bool,
        nulls_first: bool,
    ) -> Vec<String> {
        let options = SortOptions {
            descending,
            nulls_first,
        };
        best_first(files, index, 1, options)
            .unwrap_or_else(|| files.to_vec())
            .iter()
            .map(|f| f.path().to_string())
            .collect()
    }

    #[test]
    fn a_top_k_reads_the_files_that_may_hold_its_first_rows_first() {
        let unknown = PartitionedFile::new("unknown".to_string(), 100)
            .with_partition_values(vec![ScalarValue::Int64(None)]);
        let files = vec![
            bounded("low", Some((0, 10)), 0, 3),
            unknown,
            bounded("high", Some((5, 90)), 0, 1),
            bounded("nulls", Some((20, 30)), 4, 2),
            bounded("mid", Some((-5, 50)), 0, 4),
        ];
        // (column, descending, NULLs first, order): files that may hold the first rows (NULLs where they sort
        // first, or nothing known) come first, in their order; then by maximum (descending) or minimum. A
        // partition column sorts by its value, and a NULL one may hold anything first.
        for (index, descending, nulls_first, want) in [
            (0, true, true, ["unknown", "nulls", "high", "mid", "low"]),
            (0, true, false, ["unknown", "high", "mid", "nulls", "low"]),
            (0, false, false, ["unknown", "mid", "low", "high", "nulls"]),
            (1, false, false, ["unknown", "high", "nulls", "low", "mid"]),
        ] {
            assert_eq!(
                order(&files, index, descending, nulls_first),
                want,
                "column {index}, descending {descending}, nulls first {nulls_first}"
            );
        }
        // A partition value needs no statistics.
        let known = PartitionedFile::new("known".to_string(), 100)
            .with_partition_values(vec![ScalarValue::Int64(Some(0))]);
        assert_eq!(
            order(&[files[2].clone(), known], 1, false, false),
            ["known", "high"]
        );
        // Files already in order: nothing to change.
        assert!(best_first(&files[2..3], 0, 1, SortOptions::default()).is_none());
    }

    #[test]
    fn a_sliver_joins_the_adjacent_range_of_its_file() {
        // TPC-H's lineitem as DataFusion splits it for two threads.
        let groups = vec![
            FileGroup::new(vec![range("l2", 115_958_442, 0, 115_936_497)]),
            FileGroup::new(vec![
                range("l2", 115_958_442, 115_936_497, 115_958_442),
                range("l1", 115_914_552, 0, 115_914_552),
            ]),
        ];
        let merged = merge_slivers(&groups).unwrap();
        assert_eq!(
            ranges(&merged),
            vec![
                vec![("l2".to_string(), 0, 115_958_442)],
                vec![("l1".to_string(), 0, 115_914_552)]
            ]
        );
        // A sliver at a file's start joins the range after it; a group left without files stays (an empty
        // partition).
        let groups = vec![
            FileGroup::new(vec![range("a", 50_000_000, 0, 1000)]),
            FileGroup::new(vec![range("a", 50_000_000, 1000, 50_000_000)]),
        ];
        let merged = merge_slivers(&groups).unwrap();
        assert_eq!(
            ranges(&merged),
            vec![vec![], vec![("a".to_string(), 0, 50_000_000)]]
        );
        // Ranges of 1 MiB and more, and small ranges of another file or not adjacent, stay.
        let groups = vec![
            FileGroup::new(vec![range("a", 4 << 20, 0, 2 << 20)]),
            FileGroup::new(vec![
                range("a", 4 << 20, 2 << 20, 4 << 20),
                range("b", 300, 0, 300),
                range("c", 3 << 20, 10, 20),
            ]),
            FileGroup::new(vec![range("c", 3 << 20, 30, 3 << 20)]),
        ];
        assert!(merge_slivers(&groups).is_none());
    }
}
