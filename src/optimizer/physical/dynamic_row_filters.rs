//! Run-time filters applied row by row in the Parquet reader, where they pay.
//!
//! A hash join learns, once its build side is read, which keys can match (DataFusion's dynamic filters: the keys'
//! bounds, plus the keys themselves when there are at most 4,096 of them (owl's setting; DataFusion's is 150), or a
//! lookup into the join's hash table); an `ORDER BY ... LIMIT k` learns the k-th value so far. Both are pushed into the
//! scans below them, but with DataFusion's default (`parquet.pushdown_filters = false`) a scan uses them only to skip
//! whole files and row groups by their statistics: every row of every column is still decoded, then dropped by the join
//! or the sort.
//!
//! Applying a filter row by row (the reader decodes the filter's columns first, then the other columns only
//! for the rows that pass) pays when few rows pass, and costs when most do: with `pushdown_filters` on for
//! every scan, TPC-H SF1 q17 and q18 ran 30-35% faster and q4, q5, q9, q12, q21, q22 15-65% slower. So owl
//! decides per scan, and for a join's filter at run time, once the join has read its build side (the scan
//! waits for it when asked for rows earlier, by an operator reading ahead):
//! - only a Parquet scan whose filters are all dynamic (no `WHERE` on that table: static filters stay where
//!   DataFusion evaluates them, after decoding) is considered;
//! - a top-k's filter (`ORDER BY ... LIMIT`) is always applied row by row: past the first batches, few rows
//!   beat the k-th;
//! - a join's filter is applied row by row when the build side's keys (the filter lists them when there are at
//!   most 4,096; else the join's build-side rows bound them) are at most 1% of the probe column's range of values
//!   (its minimum and maximum in the registry's statistics, and no more than the table's rows), or at most a
//!   quarter of them in a scan of at most 262,144 rows (a dimension table such as `supplier` or `customer`
//!   filtered by a join with a few nations: the joins above then carry a fraction of the rows). A join whose
//!   keys cover more of the range, or a column whose range is unknown, keeps DataFusion's default.
//!
//! Measured (BENCHMARKS.md, `SET owl.dynamic_row_filters = true|false`): q7 30%, q17 28%, q18 32% (peak memory
//! 681 -> 416 MB) and q21 20% faster; the web logs' `SELECT * ... ORDER BY latency_ms DESC LIMIT 10` 15%
//! faster reading 52 MB instead of 70; no other TPC-H query changed beyond the noise.
//!
//! A scan with a `WHERE` of its own keeps DataFusion's reading (its static conditions run after decoding, in the
//! `FilterExec` above it); there the scan's run-time filters join that filter's conditions, last (see
//! `exec::expr::conjunction`): evaluated once complete, on the rows the static conditions kept, and dropped once
//! they pass most rows they are tried on. Only a filter that lists its keys (a bitmap or a hash set a row), or
//! whose join gathered its keys into a bitmap as it built (`exec::collect_keys`), is evaluated, or one the join
//! pushed through an aggregation to reach the scan: a lookup into the join's hash
//! table costs about what the join's probe does, so it pays only where it spares more (TPC-H q20 aggregates
//! `lineitem`'s 909K rows of 1994 for 8.5K part-supplier pairs; evaluated as lookups on every partitioned join's
//! probe side, q4 and q10 ran 20-60% slower).
//!
//! A scan with no `WHERE` whose join filters do not pay row by row tests the ones that list or gather their keys
//! (a bitmap or a hash set a row) on its decoded batches instead, sparing the repartition and the join's probe
//! above the rows no key matches (TPC-H q7: 121K of `orders`' 1.5M rows join 12K customers), and leaves them out
//! once they pass most of the rows they are tried on.
//!
//! The same rule gives joins' listed keys to Parquet pruning (`optimizer::physical::join_key_pruning`) and reads page
//! indexes only where they can skip pages (`page_index.rs`); the run-time half of that choice (read a scan's page index
//! for a join's filter only if it narrows a clustered column) is made here, with the row-filter choice.
//!
//! Answers are the same either way: a dynamic filter only drops rows that cannot join or cannot be among the
//! first k. `SET owl.dynamic_row_filters = false` turns this off; `SET datafusion.execution.parquet.
//! pushdown_filters = true` applies every filter row by row, as DataFusion does.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::physical_expr::utils::reassign_expr_columns;
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use super::join_key_bitmaps;
use super::passthrough::parquet_predicate;
use crate::exec::expr::key_hint::dynamic_filter;
use crate::exec::row_filter_choice::{Producer, RowFilterChoiceExec};
/// The physical optimizer rule (runs after DataFusion's own, once dynamic filters have been pushed).
#[derive(Debug, Default)]
pub struct DynamicRowFilters;

impl PhysicalOptimizerRule for DynamicRowFilters {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let options = crate::config::options::of_config(config);
        let row_filters = options.dynamic_row_filters && !config.execution.parquet.pushdown_filters;
        if !row_filters && !options.join_key_pruning && !options.clustered_page_index {
            return Ok(plan);
        }
        let page_index = config.execution.parquet.enable_page_index;
        let producers = Arc::new(OnceLock::new());
        // The bitmaps are tested where run-time filters apply row by row: owl's choice, or DataFusion's
        // `pushdown_filters` (every filter in every scan).
        let collectors = if options.join_key_pruning
            && options.join_key_bitmaps
            && (row_filters || config.execution.parquet.pushdown_filters)
        {
            join_key_bitmaps::collectors(&plan)?
        } else {
            join_key_bitmaps::Collectors::default()
        };
        let beyond_aggregations = if row_filters {
            filters_beyond_aggregations(&plan)?
        } else {
            HashSet::new()
        };
        let plan = plan
            .transform_up(|node| {
                if row_filters && node.is::<FilterExec>() {
                    return filter_above_scan(node, &beyond_aggregations);
                }
                if let Some(join) = join_key_bitmaps::collect_keys(&node, &collectors)? {
                    return Ok(Transformed::yes(join));
                }
                let mut node = if options.join_key_pruning {
                    super::join_key_pruning::hint_scan(node, &collectors.keys)?
                } else {
                    Transformed::no(node)
                };
                if options.clustered_page_index {
                    node = node.transform_data(super::page_index::drop_useless_page_index)?;
                }
                Ok(
                    match RowFilterChoiceExec::try_new(
                        &node.data,
                        &producers,
                        row_filters,
                        page_index,
                        options.clustered_page_index,
                    ) {
                        Some(choice) => {
                            Transformed::yes(Arc::new(choice) as Arc<dyn ExecutionPlan>)
                        }
                        None => node,
                    },
                )
            })
            .data()?;
        // The producers as they stand in the final plan (rewriting a scan rebuilt the nodes above it), whose
        // metrics the query's run fills.
        let _ = producers.set(dynamic_filter_producers(&plan)?);
        Ok(plan)
    }

    fn name(&self) -> &str {
        "owl_dynamic_row_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `filter` (a `FilterExec` over a Parquet scan) with the scan's run-time filters ANDed after its own conditions
/// (see `exec::expr::conjunction`): a scan with a `WHERE` of its own does not apply them row by row (its static
/// conditions are evaluated after decoding, in this filter), so a join's keys would otherwise reach only the
/// join — through repartitions and aggregations that a few of them survive (TPC-H q20 aggregates 909K
/// `lineitem` rows of 1994 for the 8.5K part-supplier pairs that join). A filter the scan's output lacks a
/// column of is left to the scan.
fn filter_above_scan(
    node: Arc<dyn ExecutionPlan>,
    beyond_aggregations: &HashSet<u64>,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(filter) = node.downcast_ref::<FilterExec>() else {
        return Ok(Transformed::no(node));
    };
    let input = filter.input();
    let Some(predicate) = parquet_predicate(input) else {
        return Ok(Transformed::no(node));
    };
    let schema = input.schema();
    let filters: Vec<(Arc<dyn PhysicalExpr>, bool)> = split_conjunction(&predicate)
        .into_iter()
        .filter_map(|c| {
            let id = dynamic_filter(c)?.expression_id();
            let any_form = id.is_some_and(|id| beyond_aggregations.contains(&id));
            Some((
                reassign_expr_columns(Arc::clone(c), &schema).ok()?,
                any_form,
            ))
        })
        .collect();
    if filters.is_empty() {
        return Ok(Transformed::no(node));
    }
    let predicate =
        crate::exec::expr::conjunction::with_run_time_filters(filter.predicate(), filters)?;
    let rebuilt = FilterExecBuilder::from(filter)
        .with_predicate(predicate)
        .build()?;
    Ok(Transformed::yes(Arc::new(rebuilt)))
}

/// The run-time filters that a join pushed through an aggregation to reach a scan (the aggregation sits
/// between the join that produces the filter and the scan that holds it): rows they drop spare the
/// aggregation, so they pay even as lookups into the join's hash table.
fn filters_beyond_aggregations(plan: &Arc<dyn ExecutionPlan>) -> Result<HashSet<u64>> {
    let mut ids = HashSet::new();
    plan.apply(|node| {
        if node.is::<AggregateExec>() {
            let mut held = HashSet::new();
            let mut produced = HashSet::new();
            node.apply(|below| {
                for e in below.dynamic_expressions_produced() {
                    produced.extend(e.expression_id());
                }
                if let Some(predicate) = parquet_predicate(below) {
                    for c in split_conjunction(&predicate) {
                        held.extend(dynamic_filter(c).and_then(|d| d.expression_id()));
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
            ids.extend(held.difference(&produced));
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(ids)
}

/// The plan's top-k sorts and hash joins, by the id of the dynamic filter each produces.
fn dynamic_filter_producers(plan: &Arc<dyn ExecutionPlan>) -> Result<HashMap<u64, Producer>> {
    let mut producers = HashMap::new();
    plan.apply(|node| {
        let producer = if node.is::<SortExec>() {
            Some(Producer::TopK)
        } else if node.is::<HashJoinExec>() {
            Some(Producer::Join(Arc::downgrade(node)))
        } else {
            None
        };
        if let Some(producer) = producer {
            for e in node.dynamic_expressions_produced() {
                if let Some(id) = e.expression_id() {
                    producers.insert(id, producer.clone());
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(producers)
}
