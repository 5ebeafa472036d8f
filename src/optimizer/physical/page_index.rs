//! Page indexes read where they can skip pages.
//!
//! DataFusion reads a Parquet file's page index (the min/max of every page of every column, written after the
//! data) whenever a scan has a filter on a column that has one: 0.2 MB more per TPC-H `lineitem` query, and its
//! decoded form held in memory (48 MB more for q10). It pays when the filter's column is clustered, each page
//! holding a narrow range of it (a table sorted by it), and buys nothing when every page spans the column's
//! range, as `l_shipdate` does in `lineitem` (sorted by `l_orderkey`): no page can be skipped.
//!
//! The crawler records, from each file's row-group statistics, whether a column is clustered (adjacent row groups'
//! ranges do not overlap; `clustered` in the registry's column statistics). A Parquet scan that filters only on columns
//! the registry finds not clustered, or on partition keys, reads no page index. Row filters
//! (`optimizer::physical::dynamic_row_filters`) keep it: they skip the other columns' pages around the rows that pass,
//! with the page index's offsets. A scan whose run-time filters (a join's keys, a top-k's bound) are on clustered
//! columns decides when it starts: it reads the page index if a filter narrows its column (the join lists its keys, or
//! their bounds span at most half of the column's range), else not (`page_index=on|off (why)` in `EXPLAIN ANALYZE`).
//! `SET owl.clustered_page_index = false` reads it as DataFusion does.

use crate::catalog::provider::unclustered_columns;
use datafusion::common::tree_node::Transformed;
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// The Parquet scan `node` without its page index when its filters are all on columns whose pages it cannot
/// skip; unchanged otherwise.
pub fn drop_useless_page_index(
    node: Arc<dyn ExecutionPlan>,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(source) = useless_for(&node) else {
        return Ok(Transformed::no(node));
    };
    Ok(Transformed::yes(DataSourceExec::from_data_source(source)))
}

fn useless_for(node: &Arc<dyn ExecutionPlan>) -> Option<FileScanConfig> {
    let exec = node.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let parquet = config.file_source().downcast_ref::<ParquetSource>()?;
    let options = &parquet.table_parquet_options().global;
    if !options.enable_page_index || options.pushdown_filters {
        return None;
    }
    let predicate = FileSource::filter(parquet)?;
    let unclustered_columns = unclustered_columns(config)?;
    if !collect_columns(&predicate)
        .iter()
        .all(|c| unclustered_columns.contains(c.name()))
    {
        return None;
    }
    let source = Arc::new(parquet.clone().with_enable_page_index(false));
    Some(
        FileScanConfigBuilder::from(config.clone())
            .with_source(source)
            .build(),
    )
}
