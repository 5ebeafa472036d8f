//! Common subqueries computed once: a `WITH` query (or a subquery written out twice) that a statement
//! references more than once is run a single time and every reference reads its result.
//!
//! DataFusion inlines each reference to a common table expression, so TPC-H q15, which reads its `revenue0`
//! CTE twice, scans `lineitem` twice — and Athena (Trino) does the same, billing both scans. owl does what
//! DuckDB and PostgreSQL do instead: a CTE referenced more than once whose query aggregates, joins or
//! deduplicates is materialized, once, and the query reads it from memory. Fewer bytes scanned (billed once),
//! the same answers. A CTE referenced once, or one that only filters and projects a table, stays inline: each
//! reference then pushes its own filters into the scan, which is cheaper than sharing. `SET
//! owl.materialize_ctes = false` turns this off for the session.
//!
//! A shared subquery is a `SubqueryAlias` node (what a CTE reference plans to) that occurs at least twice,
//! equal in every detail, in the statement's plan, its subqueries included. Shared subqueries inside other
//! shared subqueries are computed first, so each is run once. `EXPLAIN` shows each shared subquery's plan,
//! then the statement's reading it (`ComputedOnceExec`); estimates price it once; `EXPLAIN ANALYZE` is
//! DataFusion's own run of the inline plan.

use datafusion::catalog::MemTable;
use datafusion::catalog::TableProvider;
use datafusion::common::HashMap;
use datafusion::common::tree_node::{Transformed, TreeNodeRecursion};
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use std::sync::Arc;

/// Whether this session materializes shared subqueries.
pub fn enabled(state: &SessionState) -> bool {
    crate::config::options::of(state).materialize_ctes
}

/// One shared subquery, computed (or planned): its name, its own plan, and the physical plan that computed it
/// (for the meter's plan and row-group counts, and estimates).
pub struct Computed {
    pub alias: String,
    /// The subquery's own (unoptimized) plan.
    pub input: LogicalPlan,
    pub physical: Arc<dyn ExecutionPlan>,
}

/// How a shared subquery is turned into a table.
pub enum Mode {
    /// Run it and keep its result in memory.
    Execute,
    /// Plan it, and stand in a table of its schema and estimated size that cannot be scanned (estimates and
    /// EXPLAIN: nothing is read).
    PlanOnly,
}

/// Rewrite `plan` so that each shared subquery is computed once. Returns the rewritten plan and what was
/// computed, in the order it was (innermost first). Statements that are not plain queries come back as they
/// are.
pub async fn materialize(
    state: &SessionState,
    plan: LogicalPlan,
    mode: Mode,
) -> Result<(LogicalPlan, Vec<Computed>)> {
    let mut plan = plan;
    let mut computed = Vec::new();
    let mut declined: Vec<LogicalPlan> = Vec::new();
    if !enabled(state) || !is_query(&plan) {
        return Ok((plan, computed));
    }
    // Each round computes the shared subqueries that hold no other; replacing them makes the ones around them
    // equal again (they now read the same table), so they are found in a later round.
    loop {
        let mut candidates = shared(&plan)?;
        candidates.retain(|c| !declined.contains(c));
        let candidates = innermost(&candidates)?;
        if candidates.is_empty() {
            break;
        }
        for candidate in candidates {
            let LogicalPlan::SubqueryAlias(alias) = &candidate else {
                continue;
            };
            let input = alias.input.as_ref();
            let physical = state.create_physical_plan(input).await?;
            // The table must carry exactly the types the plan above expects; if planning changed one, leave
            // this subquery inline rather than risk a wrong type (nothing has been read yet).
            let logical = Arc::new(input.schema().as_arrow().clone());
            let same_types = physical.schema().fields().len() == logical.fields().len()
                && physical
                    .schema()
                    .fields()
                    .iter()
                    .zip(logical.fields())
                    .all(|(a, b)| a.data_type() == b.data_type());
            if !same_types {
                declined.push(candidate);
                continue;
            }
            let table: Arc<dyn TableProvider> = match mode {
                Mode::Execute => {
                    let parts = datafusion::physical_plan::collect_partitioned(
                        Arc::clone(&physical),
                        state.task_ctx(),
                    )
                    .await?;
                    let mut partitions = parts
                        .into_iter()
                        .map(|batches| {
                            batches
                                .into_iter()
                                .map(|b| {
                                    arrow::array::RecordBatch::try_new(
                                        Arc::clone(&logical),
                                        b.columns().to_vec(),
                                    )
                                    .map_err(DataFusionError::from)
                                })
                                .collect::<Result<Vec<_>>>()
                        })
                        .collect::<Result<Vec<_>>>()?;
                    if partitions.is_empty() {
                        partitions.push(vec![]);
                    }
                    Arc::new(MemTable::try_new(Arc::clone(&logical), partitions)?)
                }
                // Not run: the statement above is planned against the subquery's estimated size (an empty
                // table would let the planner fold its aggregates away and plan joins for zero rows).
                Mode::PlanOnly => {
                    let stats = StatisticsContext::new()
                        .compute(physical.as_ref(), &StatisticsArgs::new())?;
                    Arc::new(crate::exec::computed_once::Pending {
                        alias: alias.alias.to_string(),
                        schema: Arc::clone(&logical),
                        stats: Arc::new(stats.as_ref().clone().to_inexact()),
                    })
                }
            };
            let name = format!(
                "{}__computed_once_{}",
                alias.alias.table(),
                computed.len() + 1
            );
            let scan = LogicalPlanBuilder::scan(name.as_str(), provider_as_source(table), None)?
                .build()?;
            let mut replacement = alias.clone();
            replacement.input = Arc::new(scan);
            computed.push(Computed {
                alias: alias.alias.to_string(),
                input: input.clone(),
                physical,
            });
            plan = replace(plan, &candidate, &LogicalPlan::SubqueryAlias(replacement))?;
        }
    }
    Ok((plan, computed))
}

/// Plans whose reads can be shared: queries, not DDL, DML, EXPLAIN or statements.
fn is_query(plan: &LogicalPlan) -> bool {
    !matches!(
        plan,
        LogicalPlan::Ddl(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::DescribeTable(_)
    )
}

/// The `SubqueryAlias` nodes that occur at least twice and are worth computing once, each listed once, in
/// the order first met.
fn shared(plan: &LogicalPlan) -> Result<Vec<LogicalPlan>> {
    let mut counts: HashMap<LogicalPlan, usize> = HashMap::new();
    let mut order: Vec<LogicalPlan> = Vec::new();
    plan.apply_with_subqueries(|node| {
        match node {
            // A recursive CTE's terms read its work table, which changes between iterations: never shared.
            LogicalPlan::RecursiveQuery(_) => return Ok(TreeNodeRecursion::Jump),
            LogicalPlan::SubqueryAlias(_) => {
                let n = counts.entry(node.clone()).or_insert(0);
                if *n == 0 {
                    order.push(node.clone());
                }
                *n += 1;
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    let mut out = Vec::new();
    for node in order {
        if counts[&node] >= 2 && worth_sharing(&node)? {
            out.push(node);
        }
    }
    Ok(out)
}

/// A subquery is worth computing once when it does real work (aggregates, joins, deduplicates, windows or
/// sorts: a plain filter and projection of a table is cheaper inline, each reference pushing its own filters
/// into the scan), gives the same answer each time (no volatile function such as `random()`), and depends on
/// nothing outside itself (no reference to an outer query's columns).
fn worth_sharing(node: &LogicalPlan) -> Result<bool> {
    let mut work = false;
    let mut unsafe_to_share = false;
    node.apply_with_subqueries(|n| {
        match n {
            LogicalPlan::Aggregate(_)
            | LogicalPlan::Join(_)
            | LogicalPlan::Distinct(_)
            | LogicalPlan::Window(_)
            | LogicalPlan::Sort(_) => work = true,
            LogicalPlan::RecursiveQuery(_) => unsafe_to_share = true,
            _ => {}
        }
        if n.contains_outer_reference() {
            unsafe_to_share = true;
        }
        n.apply_expressions(|e| {
            if e.is_volatile() {
                unsafe_to_share = true;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(if unsafe_to_share {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    })?;
    Ok(work && !unsafe_to_share)
}

/// Of `candidates`, those that contain no other candidate (computed first).
fn innermost(candidates: &[LogicalPlan]) -> Result<Vec<LogicalPlan>> {
    let mut out = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let LogicalPlan::SubqueryAlias(alias) = c else {
            continue;
        };
        let mut holds_other = false;
        alias.input.apply_with_subqueries(|n| {
            if candidates
                .iter()
                .enumerate()
                .any(|(j, other)| j != i && n == other)
            {
                holds_other = true;
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        if !holds_other {
            out.push(c.clone());
        }
    }
    Ok(out)
}

/// Replace every occurrence of `target` in `plan` (subqueries included) by `with`.
fn replace(plan: LogicalPlan, target: &LogicalPlan, with: &LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_down_with_subqueries(|node| {
        if &node == target {
            Ok(Transformed::new(
                with.clone(),
                true,
                TreeNodeRecursion::Jump,
            ))
        } else {
            Ok(Transformed::no(node))
        }
    })
    .map(|t| t.data)
}

/// `EXPLAIN` of a query with shared subqueries: the plans that run, not DataFusion's inline one. Returns the
/// EXPLAIN of the rewritten statement and, first, one EXPLAIN per subquery computed once, whose rows are shown
/// as `<alias> (computed once): <plan type>`. None when nothing is shared. (EXPLAIN ANALYZE is an `Analyze`
/// plan, not this: DataFusion's own run of the inline plan.) Each shared subquery is planned twice here, once
/// to plan the statement around it and once for its own EXPLAIN rows; EXPLAIN is not a hot path.
pub async fn explain(
    state: &SessionState,
    explain: &datafusion::logical_expr::Explain,
) -> Result<Option<(LogicalPlan, Vec<(String, LogicalPlan)>)>> {
    let (inner, computed) =
        materialize(state, explain.plan.as_ref().clone(), Mode::PlanOnly).await?;
    if computed.is_empty() {
        return Ok(None);
    }
    let options = datafusion::logical_expr::ExplainOption::default()
        .with_verbose(explain.verbose)
        .with_format(explain.explain_format.clone())
        .with_show_statistics(explain.show_statistics);
    let main = LogicalPlanBuilder::from(inner)
        .explain_option_format(options.clone())?
        .build()?;
    let mut parts = Vec::new();
    for c in computed {
        let plan = LogicalPlanBuilder::from(c.input)
            .explain_option_format(options.clone())?
            .build()?;
        parts.push((c.alias, plan));
    }
    Ok(Some((main, parts)))
}

/// The rows of a computed subquery's EXPLAIN, each plan type prefixed with the subquery's name.
pub fn label_explain(
    alias: &str,
    batches: Vec<arrow::array::RecordBatch>,
) -> Result<Vec<arrow::array::RecordBatch>> {
    use arrow::array::{Array, StringArray};
    batches
        .into_iter()
        .map(|b| {
            let Some(types) = b.column(0).as_any().downcast_ref::<StringArray>() else {
                return Ok(b);
            };
            let labelled: StringArray = (0..types.len())
                .map(|i| {
                    (!types.is_null(i))
                        .then(|| format!("{alias} (computed once): {}", types.value(i)))
                })
                .collect();
            let mut columns = b.columns().to_vec();
            columns[0] = Arc::new(labelled);
            Ok(arrow::array::RecordBatch::try_new(b.schema(), columns)?)
        })
        .collect()
}
