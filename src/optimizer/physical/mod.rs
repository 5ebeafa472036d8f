//! owl's physical rules (their places and switches: `crate::optimizer`'s list), and the plan walks they share.
//!
//! - `streamed_not_in`: a null-aware anti join becomes `exec::not_in::NotInExec`.
//! - `file_ranges`: `MergeSlivers` (no file opened for a sliver of it) and `BestFilesFirst` (a top-k's files in
//!   the order of their bounds).
//! - `fast_expressions`: string-view equality, batch-checked decimals and in-turn conjunctions
//!   (`exec::expr`) in filters, projections and aggregate arguments.
//! - `dynamic_row_filters`: run-time filters row by row where they pay (`exec::row_filter_choice`), with
//!   `join_key_pruning` (joins' keys to Parquet pruning, `exec::expr::key_hint`), `join_key_bitmaps` (build
//!   sides gathered into bitmaps, `exec::collect_keys`) and `page_index` (page indexes read where they skip).
//! - `nan_pruning`: a correction, always on: no Parquet pruning by conditions on float columns (NaN is outside
//!   Parquet's min/max).
//! - `passthrough`: following a column down through nodes that pass rows on unchanged.

pub mod dynamic_row_filters;
pub mod fast_expressions;
pub mod file_ranges;
pub mod join_key_bitmaps;
pub mod join_key_pruning;
pub mod nan_pruning;
pub mod page_index;
pub mod passthrough;
pub mod streamed_not_in;

use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// `node` as a Parquet scan with a filter: its file scan, its source and the filter. None for any other node.
pub(crate) fn filtered_parquet_scan(
    node: &Arc<dyn ExecutionPlan>,
) -> Option<(&FileScanConfig, &ParquetSource, Arc<dyn PhysicalExpr>)> {
    let exec = node.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let parquet = config.file_source().downcast_ref::<ParquetSource>()?;
    let predicate = FileSource::filter(parquet)?;
    Some((config, parquet, predicate))
}

/// The scan of `config` with `parquet`'s filter replaced by `predicate`.
pub(crate) fn with_parquet_filter(
    config: &FileScanConfig,
    parquet: &ParquetSource,
    predicate: Arc<dyn PhysicalExpr>,
) -> Arc<dyn ExecutionPlan> {
    let source = Arc::new(parquet.with_predicate(predicate));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(source)
        .build();
    DataSourceExec::from_data_source(config)
}
