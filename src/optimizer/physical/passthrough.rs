//! Following a column down a plan through the nodes that pass rows on unchanged; a Parquet scan's predicate.
//!
//! Rules that act on the node a column comes from (a filter below an aggregation, a scan's file order) walk down
//! from where they start through projections of plain columns, filters, repartitions, partition merges and
//! cooperative yields. The invariant: `column_in_input` names a node's input column only where each output row
//! of that column is an input row's value, unchanged; anything else stops the walk.

use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};
use std::sync::Arc;

/// Which column of its one input `node`'s output `column` is, for a node that passes rows on unchanged; None for
/// any other node, or where the column is computed.
pub(crate) fn column_in_input(node: &Arc<dyn ExecutionPlan>, column: usize) -> Option<usize> {
    if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
        projection
            .expr()
            .get(column)
            .and_then(|e| e.expr.downcast_ref::<Column>())
            .map(Column::index)
    } else if let Some(filter) = node.downcast_ref::<FilterExec>() {
        match filter.projection() {
            Some(projection) => projection.get(column).copied(),
            None => Some(column),
        }
    } else if node.is::<RepartitionExec>()
        || node.is::<CoalescePartitionsExec>()
        || node.is::<CooperativeExec>()
    {
        Some(column)
    } else {
        None
    }
}

/// `node` with its one child replaced by what `rewrite` makes of it; None when `node` has not exactly one child
/// or `rewrite` makes nothing.
pub(crate) fn rewrite_child(
    node: &Arc<dyn ExecutionPlan>,
    rewrite: impl FnOnce(&Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let [child] = node.children()[..] else {
        return Ok(None);
    };
    match rewrite(child)? {
        Some(child) => replace_children_if_necessary(Arc::clone(node), vec![child]).map(Some),
        None => Ok(None),
    }
}

/// The predicate pushed into `node` when it is a Parquet scan: its static filters and its run-time ones.
pub(crate) fn parquet_predicate(
    node: &Arc<dyn ExecutionPlan>,
) -> Option<Arc<dyn datafusion::physical_expr::PhysicalExpr>> {
    use datafusion::datasource::physical_plan::{FileScanConfig, FileSource, ParquetSource};
    use datafusion::datasource::source::DataSourceExec;
    node.downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
        .and_then(|config| config.file_source().downcast_ref::<ParquetSource>())
        .and_then(FileSource::filter)
}
