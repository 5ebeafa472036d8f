//! What the planner may assume about a scan, from the registry: a partition's bounds for each of its files
//! while the listing shows the very files the crawl read (`TableStats::files`), the table's
//! row count and column statistics, and the columns whose page index can skip nothing ([`UnclusteredColumns`]).

use super::{Distinct, Listed, RegistryTable};
use crate::catalog::colstats;
use crate::catalog::model::{Classification, TableStats};
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::listing::PartitionedFile;
use std::collections::BTreeSet;
use std::sync::Arc;
impl RegistryTable {
    /// The statistics each file of `listed` gets from the registry: those of its partition, when the listing
    /// shows the very files the crawl described, each with the same name, size, modification time and (on an
    /// object store) ETag (`TableStats::files`). DataFusion then skips, before opening it, a file whose bounds
    /// no row can pass (a WHERE, a join's or a top-k's run-time filter). None when the files changed, nothing
    /// is known, or `owl.partition_bounds` is off: every file is then opened, as without statistics.
    pub(super) fn file_statistics(
        &self,
        listed: &Listed,
        stats: Option<&TableStats>,
    ) -> Option<Arc<Statistics>> {
        let stats = stats?;
        let metas = &listed.files;
        let etags = self.store_url.as_str() != "file:///";
        let named = !stats.columns.is_empty()
            && stats.object_count == Some(metas.len() as u64)
            && stats
                .files
                .as_ref()
                .is_some_and(|d| *d == colstats::files_digest(metas, etags));
        if !named {
            return None;
        }
        let one = metas.len() == 1;
        let mut out = Statistics::new_unknown(&self.file_schema);
        if one {
            out.num_rows = stats
                .record_count
                .map_or(Precision::Absent, |n| Precision::Exact(n as usize));
            out.total_byte_size = Precision::Exact(metas[0].size as usize);
        }
        for (field, col) in self
            .file_schema
            .fields()
            .iter()
            .zip(&mut out.column_statistics)
        {
            if let Some(s) = stats.columns.get(field.name()) {
                *col = colstats::file_bounds(s, field.data_type(), one);
            }
        }
        Some(Arc::new(out))
    }

    /// The registry's statistics of the partition `listed` holds (parsed here: they are kept as text until a
    /// query scans the partition); None for a table without partitions, or a partition without statistics.
    pub(super) fn partition_stats(&self, listed: &Listed) -> Option<TableStats> {
        self.def
            .partitions
            .get(listed.partition.index?)?
            .stats
            .as_ref()?
            .get()
    }

    /// The bytes to read first from the end of each Parquet file of a partition, where the crawl's footers say
    /// one read takes each whole footer (`TableStats::footer_hint`): the partition's statistics, or for a
    /// table without partitions the table's, while the listing shows as many files (`files`) as the crawl
    /// read: a file added since may have a shorter footer. A partition without statistics (added after the
    /// crawl) gets none. None: DataFusion's first read (`config::PARQUET_FOOTER_HINT`).
    pub(super) fn footer_hint(
        &self,
        partition: Option<&TableStats>,
        files: usize,
    ) -> Option<usize> {
        let unpartitioned = self.def.partition_keys.is_empty();
        let stats = partition.or(unpartitioned.then_some(&self.def.stats))?;
        let parquet = self.def.format.classification == Classification::Parquet;
        (parquet && stats.object_count == Some(files as u64))
            .then(|| stats.footer_hint())
            .flatten()
    }
}

/// The columns of a Parquet table whose page index skips no pages: those the registry's statistics say every row
/// group spans (not clustered), and the partition keys (one value per file). Each file of a scan carries them;
/// the engine reads no page index for a scan that filters on these columns only (`optimizer::physical::page_index`).
#[derive(Debug, Clone)]
pub struct UnclusteredColumns(pub Arc<BTreeSet<String>>);

/// The columns of a scan whose pages its page index cannot skip (the registry's, carried by every file of the
/// scan); None when a file does not say.
pub(crate) fn unclustered_columns(
    config: &datafusion::datasource::physical_plan::FileScanConfig,
) -> Option<Arc<BTreeSet<String>>> {
    let mut files = config.file_groups.iter().flat_map(|g| g.files());
    let first = Arc::clone(&files.next()?.extension::<UnclusteredColumns>()?.0);
    for file in files {
        if file.extension::<UnclusteredColumns>()?.0 != first {
            return None;
        }
    }
    Some(first)
}

impl RegistryTable {
    pub(super) fn unclustered_columns(&self) -> Option<UnclusteredColumns> {
        if self.def.format.classification != Classification::Parquet {
            return None;
        }
        let columns: BTreeSet<String> = self
            .def
            .stats
            .columns
            .iter()
            .filter(|(_, s)| s.clustered == Some(false))
            .map(|(name, _)| name.clone())
            .chain(self.partition_fields.iter().map(|f| f.name().clone()))
            .collect();
        (!columns.is_empty()).then(|| UnclusteredColumns(Arc::new(columns)))
    }

    /// What the planner may assume about a scan of `files`, from the registry: their bytes, and the table's
    /// record count in proportion to them (the crawler's count is exact for what it saw; a scan of some
    /// partitions holds about their share). Always inexact: files may have changed since the crawl, and an
    /// exact count would let DataFusion answer `count(*)` without reading.
    ///
    /// Column statistics come from the registry (the whole table's bounds hold for any part of it; null counts are
    /// scaled like the row count); partition columns get the range and number of values of the files kept. A Parquet
    /// table's distinct counts (`ANALYZE`) are left out: they steer owl's join ordering
    /// (`optimizer::logical::join_order`), while DataFusion's own join sizing, which has the footers' bounds, planned
    /// TPC-H q17's semi join on the 200,000-group side with them (1.8x slower; BENCHMARKS.md, step 11). Text tables
    /// keep them: without, q18's semi join on CSV builds on 6M rows (step 10).
    pub(super) fn statistics_of(&self, files: &[PartitionedFile]) -> Statistics {
        let bytes: u64 = files.iter().map(|f| f.object_meta.size).sum();
        let distinct = if self.def.format.classification == Classification::Parquet {
            Distinct::Drop
        } else {
            Distinct::Keep
        };
        self.statistics_with(bytes, files.iter().map(|f| &f.partition_values), distinct)
    }

    /// [`Self::statistics_of`] files of `bytes` in all, whose partitions have `partition_values`.
    pub(super) fn statistics_with<'a>(
        &self,
        bytes: u64,
        partition_values: impl Iterator<Item = &'a Vec<ScalarValue>> + Clone,
        distinct: Distinct,
    ) -> Statistics {
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.total_byte_size = Precision::Inexact(bytes as usize);
        let share = match self.def.stats.size_bytes {
            Some(size) if size > 0 => (bytes as f64 / size as f64).min(1.0),
            _ => 1.0,
        };
        if let Some(rows) = self.def.stats.record_count
            && self.def.stats.size_bytes.is_some_and(|s| s > 0)
        {
            stats.num_rows = Precision::Inexact((rows as f64 * share).round() as usize);
        }
        for (field, col) in self
            .file_schema
            .fields()
            .iter()
            .zip(&mut stats.column_statistics)
        {
            if let Some(s) = self.def.stats.columns.get(field.name()) {
                *col = colstats::to_datafusion(s, field.data_type(), share);
                if distinct == Distinct::Drop {
                    col.distinct_count = Precision::Absent;
                }
            }
        }
        let n = self.file_schema.fields().len();
        for (i, col) in stats.column_statistics.iter_mut().skip(n).enumerate() {
            let mut values: Vec<&ScalarValue> = partition_values
                .clone()
                .filter_map(|v| v.get(i))
                .filter(|v| !v.is_null())
                .collect();
            values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            values.dedup();
            if let (Some(lo), Some(hi)) = (values.first(), values.last()) {
                col.min_value = Precision::Inexact((*lo).clone());
                col.max_value = Precision::Inexact((*hi).clone());
                col.distinct_count = Precision::Inexact(values.len());
            }
        }
        stats
    }
}
