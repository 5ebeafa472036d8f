//! A hash join's build-side keys, gathered as the build side streams into the join, as a bitmap that run-time
//! filters test with one bit a row.
//!
//! A join's dynamic filter (see `optimizer::physical::dynamic_row_filters`) lists its keys when there are at most 4,096
//! of them (`config::JOIN_LISTED_KEYS`); past that, DataFusion gives it as a lookup into the join's hash table, which
//! hashes each row and probes the table: what the join's own probe costs, so owl evaluates such a filter before the
//! join only where it spares an aggregation. (Raising DataFusion's limit is no way out: it makes a literal a key, and
//! TPC-H SF1 q9 then takes 25 times as long.) Yet many joins with thousands of keys pass few of the probe side's rows:
//! TPC-H q3 joins 3.24M `lineitem` rows of March 1995 on with 147K orders, and 0.94% of them match; q4, q12, q21 and
//! q22 probe millions of rows of which 2-13% match.
//!
//! So owl puts a `CollectKeysExec` over the build side of each hash join whose filter a Parquet scan holds,
//! with a single-column integer or date key (of a multi-column key, its first such column): it passes the
//! batches through and keeps each one's keys; when every partition of the build side has ended, the keys
//! become one bit a value from the smallest to the largest (`KeySet`), if their span is at most 2^23 values
//! (1 MiB) or 64 a key. The scan's filter (its `KeyHint`) then tests a row with one bit, once the join has
//! completed its filter: the join's filter is what says the rows it drops cannot match (DataFusion decides per
//! join type and NULL handling whether to compute one). The bitmap holds the keys of every partition; a
//! partitioned join's filter passes a row when its own partition holds the key, the same rows, since a key is
//! routed to one partition on both sides. Rows with a NULL key pass neither.
//!
//! Not for joins whose NULL keys match each other (`IS NOT DISTINCT FROM`), nor once the join's state is reset
//! (a recursive query's next round: the scans' filters no longer follow the new join). At most 8M keys are
//! gathered (64 MiB, outside the memory pool's accounting, beside the join's own table of those rows); a larger
//! build side gets no bitmap. `SET owl.join_key_bitmaps = false` turns it off.

use crate::exec::collect_keys::CollectKeysExec;
use crate::exec::expr::key_hint::dynamic_filter;
use crate::exec::expr::keys::{BuildKeys, GatheredKeys};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinType, NullEquality};
use datafusion::error::Result;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
/// A key gatherer for each hash join with an integer or date key (not matching NULLs with NULLs) whose keys a
/// run-time filter will test, by the id of the join's dynamic filter: a Parquet scan holds that filter, or the
/// join's probe side aggregates by the key where DataFusion's filter did not reach (see
/// [`filter_below_aggregation`]).
pub fn collectors(plan: &Arc<dyn ExecutionPlan>) -> Result<Collectors> {
    let held = held_filters(plan)?;
    let mut collectors = Collectors::default();
    plan.apply(|node| {
        if let Some(join) = node.downcast_ref::<HashJoinExec>()
            && join.null_equality() == NullEquality::NullEqualsNothing
            && let Some(id) = filter_id(join)
            && let Some(index) = integer_key(join)
            && !small(join.left())
        {
            let keys = Arc::new(BuildKeys::new(index));
            let below = !held_filters(join.right())?.contains(&id)
                && probe_aggregates(join, &keys)?.is_some();
            if below {
                collectors.below_aggregation.insert(id);
            }
            if held.contains(&id) || below {
                collectors.keys.insert(id, keys);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(collectors)
}

/// The plan's key gatherers, by the id of their join's dynamic filter.
#[derive(Debug, Default)]
pub struct Collectors {
    pub keys: HashMap<u64, Arc<BuildKeys>>,
    /// The joins whose probe side gets a filter by the keys below an aggregation.
    below_aggregation: HashSet<u64>,
}

/// The ids of the dynamic filters the Parquet scans of `plan` hold.
fn held_filters(plan: &Arc<dyn ExecutionPlan>) -> Result<HashSet<u64>> {
    let mut held = HashSet::new();
    plan.apply(|node| {
        if let Some(predicate) = super::passthrough::parquet_predicate(node) {
            for c in split_conjunction(&predicate) {
                held.extend(dynamic_filter(c).and_then(|d| d.expression_id()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(held)
}

/// Whether a build side has, for certain, no more rows than a join's filter lists keys (a table read whole
/// whose row count the registry knows): the filter lists them, nothing to gather.
fn small(build: &Arc<dyn ExecutionPlan>) -> bool {
    StatisticsContext::new()
        .compute(build.as_ref(), &StatisticsArgs::new())
        .is_ok_and(
            |s| matches!(s.num_rows, Precision::Exact(n) if n <= crate::config::JOIN_LISTED_KEYS),
        )
}

/// The join's probe side with a filter by its gathered keys below an aggregation, when it has one to put there.
fn probe_aggregates(
    join: &HashJoinExec,
    keys: &Arc<BuildKeys>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    // Joins whose probe rows without a match are not in the answer; NULL-aware anti joins (`NOT IN`) are
    // answered by whether the probe side has NULLs.
    if join.null_aware
        || !matches!(
            join.join_type(),
            JoinType::Inner
                | JoinType::Left
                | JoinType::LeftSemi
                | JoinType::RightSemi
                | JoinType::LeftAnti
        )
    {
        return Ok(None);
    }
    let Some(key) = join
        .on()
        .get(keys.index())
        .and_then(|(_, probe)| probe.downcast_ref::<Column>())
    else {
        return Ok(None);
    };
    filter_below_aggregation(join.right(), key.index(), keys)
}

/// `node` with a filter by the gathered keys on its column `column` put over the input of the aggregation
/// that groups by it, when `node` reaches one through projections, filters, repartitions and final aggregations
/// by it.
///
/// A join whose key is two columns, one of them an aggregate (TPC-H q2 joins parts with the cheapest supply
/// cost of each part: `p_partkey = ps_partkey AND ps_supplycost = min(ps_supplycost)`), gets no run-time filter
/// below the aggregation from DataFusion (its filter tests both columns), so the aggregation groups every
/// row (q2: 159K supply rows into 117K parts, for the 642 rows of the other side). The gathered keys of the
/// grouping column drop, before grouping, the groups the join would drop after.
pub fn filter_below_aggregation(
    node: &Arc<dyn ExecutionPlan>,
    column: usize,
    keys: &Arc<BuildKeys>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    // Projections, filters (a condition on the aggregates: `HAVING`, or one DataFusion derived from the join's)
    // and repartitions pass the column on; a final aggregation groups by it.
    let below = if let Some(c) = super::passthrough::column_in_input(node, column) {
        c
    } else if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
        let group = aggregate.group_expr();
        let Some(c) = group
            .expr()
            .get(column)
            .filter(|_| group.is_single())
            .and_then(|(e, _)| e.downcast_ref::<Column>())
        else {
            return Ok(None);
        };
        if !matches!(
            aggregate.mode(),
            AggregateMode::Final | AggregateMode::FinalPartitioned
        ) {
            // Its input is the rows themselves.
            let input = Arc::clone(aggregate.input());
            let test = Arc::new(GatheredKeys::new(Arc::new(c.clone()), Arc::clone(keys)));
            let filter = Arc::new(FilterExec::try_new(test, input)?);
            return replace_children_if_necessary(Arc::clone(node), vec![filter]).map(Some);
        }
        c.index()
    } else {
        return Ok(None);
    };
    super::passthrough::rewrite_child(node, |child| filter_below_aggregation(child, below, keys))
}

/// `node` with its build side gathered into its keys' collector, when it is a hash join that has one.
pub fn collect_keys(
    node: &Arc<dyn ExecutionPlan>,
    collectors: &Collectors,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else {
        return Ok(None);
    };
    let Some(id) = filter_id(join) else {
        return Ok(None);
    };
    let Some(keys) = collectors.keys.get(&id) else {
        return Ok(None);
    };
    if join.left().is::<CollectKeysExec>() {
        return Ok(None);
    }
    let Some((key, _)) = join.on().get(keys.index()) else {
        return Ok(None);
    };
    let left = Arc::new(CollectKeysExec::new(
        Arc::clone(join.left()),
        Arc::clone(key),
        Arc::clone(keys),
    ));
    // A probe side that DataFusion's filter does not reach, but that aggregates by the key, is filtered below
    // the aggregation.
    let right = match collectors.below_aggregation.contains(&id) {
        true => probe_aggregates(join, keys)?,
        false => None,
    }
    .unwrap_or_else(|| Arc::clone(join.right()));
    replace_children_if_necessary(Arc::clone(node), vec![left, right]).map(Some)
}

/// The id of the dynamic filter a join produces.
fn filter_id(join: &HashJoinExec) -> Option<u64> {
    join.dynamic_expressions_produced()
        .first()
        .and_then(|e| e.expression_id())
}

/// The first of a join's keys that is an integer or a date on both sides.
fn integer_key(join: &HashJoinExec) -> Option<usize> {
    let (left, right) = (join.left().schema(), join.right().schema());
    let keyable = |t: DataType| t.is_integer() || t == DataType::Date32;
    join.on().iter().position(|(l, r)| {
        l.data_type(&left).is_ok_and(keyable) && r.data_type(&right).is_ok_and(keyable)
    })
}
