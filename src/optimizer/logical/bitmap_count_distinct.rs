//! `count(DISTINCT x)` over an integer column, with each group's values kept in a bitmap.
//!
//! DataFusion rewrites `SELECT month, count(DISTINCT user_id) FROM weblogs GROUP BY month` into two group-bys:
//! first by `(month, user_id)`, every distinct pair a group of a hash table, then by `month`, counting them.
//! On the 4M-row web-log year that is a hash aggregation of 1.95M groups, repartitioned between threads
//! (`EXPLAIN ANALYZE`: 294 ms of its 2 threads' time), to answer 12 numbers. Distinct users per day or month
//! is what a log table is asked most, and its ids are integers in a range.
//!
//! owl counts such a column the way bitmap-index engines do: each group keeps the values it has seen as bits
//! over the range they span (a `user_id` of 0..199,999 is a 25 KB bitmap), set and counted as rows arrive; the
//! threads' partial bitmaps are OR-ed together. A group whose values are too sparse for bits (a bitmap would
//! take more than 16 bytes a distinct value, past the first 8 KiB) turns into a hash set of them (and back
//! into bits once the set has grown dense), so memory follows the distinct values whatever the data holds;
//! the bounds in the registry are never trusted for the answer, only for the choice.
//!
//! A logical rule, before DataFusion's own rewrite, replaces `count(DISTINCT col)` in an aggregation when:
//! - the column is an integer or a date (compared by value), and the aggregation's other `DISTINCT`
//!   aggregates are such counts too;
//! - statistics say the aggregation makes few groups (at most `MAX_GROUPS`; none is one) and its bitmaps
//!   would be small: groups x span / 8 bytes at most `MAX_BITMAP_BYTES` (the column's registry bounds).
//!
//! Elsewhere (many groups, strings, no statistics) DataFusion's two-level plan stays: it is parallel in its
//! second step and can spill. `SET owl.bitmap_count_distinct = false` keeps it everywhere.

use super::cardinality::groups_and_bounds;
use crate::exec::aggregate::count_distinct::{CountDistinct, Key};
use datafusion::common::Result;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::logical_plan::Aggregate;
use datafusion::logical_expr::{AggregateUDF, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use std::sync::Arc;
/// An aggregation estimated to make more groups than this keeps DataFusion's plan.
pub const MAX_GROUPS: f64 = 4096.0;
/// ... and so does one whose bitmaps, from the column's bounds, would take more than this in all.
pub const MAX_BITMAP_BYTES: f64 = 64.0 * 1024.0 * 1024.0;

/// The logical rule: see the module's documentation.
#[derive(Debug, Default)]
pub(crate) struct BitmapCountDistinct;

impl OptimizerRule for BitmapCountDistinct {
    fn name(&self) -> &str {
        "owl_bitmap_count_distinct"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = plan else {
            return Ok(Transformed::no(plan));
        };
        let calls: Vec<&AggregateFunction> =
            agg.aggr_expr.iter().filter_map(distinct_call).collect();
        if calls.is_empty() || !calls.iter().all(|f| countable(&agg, f)) || !fits(&agg, &calls) {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        let udaf = Arc::new(AggregateUDF::from(CountDistinct::new()));
        let mut aggr_expr = Vec::with_capacity(agg.aggr_expr.len());
        for e in &agg.aggr_expr {
            aggr_expr.push(match distinct_call(e) {
                Some(f) => {
                    let name = e.schema_name().to_string();
                    Expr::AggregateFunction(AggregateFunction::new_udf(
                        udaf.clone(),
                        f.params.args.clone(),
                        false,
                        f.params.filter.clone(),
                        vec![],
                        None,
                    ))
                    .alias(name)
                }
                None => e.clone(),
            });
        }
        let new = Aggregate::try_new(agg.input.clone(), agg.group_expr.clone(), aggr_expr)?;
        if new.schema.fields() != agg.schema.fields() {
            // Names and types must be the aggregation's own; otherwise leave it be.
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        Ok(Transformed::yes(LogicalPlan::Aggregate(new)))
    }
}

/// The aggregate call under `e` (through an alias) when it is `DISTINCT`.
fn distinct_call(e: &Expr) -> Option<&AggregateFunction> {
    match e {
        Expr::Alias(a) => distinct_call(&a.expr),
        Expr::AggregateFunction(f) if f.params.distinct => Some(f),
        _ => None,
    }
}

/// Whether `f`, a `DISTINCT` aggregate of `agg`, is a count of one integer or date column.
fn countable(agg: &Aggregate, f: &AggregateFunction) -> bool {
    f.func.name() == "count"
        && f.params.order_by.is_empty()
        && f.params.null_treatment.is_none()
        && matches!(f.params.args.as_slice(), [arg @ Expr::Column(_)]
            if arg.get_type(agg.input.schema()).is_ok_and(|t| Key::of(&t).is_some()))
}

/// Whether statistics say `agg` makes few groups and the counted columns' bitmaps would be small.
fn fits(agg: &Aggregate, calls: &[&AggregateFunction]) -> bool {
    let columns: Vec<&Expr> = calls.iter().map(|f| &f.params.args[0]).collect();
    let Some((groups, bounds)) = groups_and_bounds(&agg.input, &agg.group_expr, &columns) else {
        return false;
    };
    groups <= MAX_GROUPS
        && bounds.iter().all(|(min, max)| {
            let span = (max - min + 1.0).max(1.0);
            groups * span / 8.0 <= MAX_BITMAP_BYTES
        })
}

// ------------------------------------------------------------------------------------------------ the function
