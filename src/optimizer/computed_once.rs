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
//! equal in every detail, in the statement's plan, its subqueries included. The rule ([`ComputedOnce`]) runs
//! first of all logical rules, while the references are still equal: each reference's input becomes a
//! `ComputedOnce` leaf, and the statement goes under a `ComputeShared` node whose first inputs are the shared
//! subqueries' plans (innermost first: a shared subquery inside another is computed before it). [`Planner`]
//! makes them `ComputeSharedExec` and `ComputedOnceExec` (`crate::exec::computed_once`), and the physical half
//! ([`SharedBeforeSubqueries`], first of the physical rules) moves DataFusion's `ScalarSubqueryExec` under
//! `ComputeSharedExec` when its subqueries read a shared result. So `EXPLAIN` shows
//! each shared plan once and where it is read, `EXPLAIN ANALYZE` counts it once, and an estimate prices it
//! once, all from the one plan.

use crate::exec::computed_once::{ComputeSharedExec, ComputedOnceExec, SharedResult};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchemaRef, HashMap};
use datafusion::error::Result;
use datafusion::execution::context::QueryPlanner;
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, SubqueryAlias, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::scalar_subquery::ScalarSubqueryExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The rule: shared subqueries become `ComputedOnce` leaves under one `ComputeShared` node.
#[derive(Debug)]
pub struct ComputedOnce;

impl OptimizerRule for ComputedOnce {
    fn name(&self) -> &str {
        "owl_computed_once"
    }

    // Applied to the whole statement at once (references are counted across its subqueries).
    fn apply_order(&self) -> Option<datafusion::optimizer::ApplyOrder> {
        None
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        // Once per statement: a later pass sees the leaves, not the references.
        if has_compute_shared(&plan)? {
            return Ok(Transformed::no(plan));
        }
        share(plan)
    }
}

/// Whether `plan` already went through the rule.
fn has_compute_shared(plan: &LogicalPlan) -> Result<bool> {
    plan.exists(|n| {
        Ok(matches!(n, LogicalPlan::Extension(e)
            if e.node.as_any().downcast_ref::<ComputeShared>().is_some()))
    })
}

/// `plan` with its shared subqueries computed once. A statement that runs a query (EXPLAIN ANALYZE, INSERT,
/// COPY) has its query rewritten; DDL (a view keeps its query as written) and other statements are left alone.
fn share(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    match plan {
        LogicalPlan::Analyze(_)
        | LogicalPlan::Explain(_)
        | LogicalPlan::Dml(_)
        | LogicalPlan::Copy(_) => plan.map_children(share),
        LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::DescribeTable(_) => {
            Ok(Transformed::no(plan))
        }
        query => share_query(query),
    }
}

fn share_query(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let original = plan.clone();
    let mut plan = plan;
    let mut shared: Vec<Arc<SharedResult>> = Vec::new();
    let mut inputs: Vec<LogicalPlan> = Vec::new();
    // Each round takes the shared subqueries that hold no other; replacing them makes the ones around them
    // equal again (they now read the same leaves), so they are found in a later round.
    loop {
        let candidates = innermost(&shared_subqueries(&plan)?)?;
        if candidates.is_empty() {
            break;
        }
        for candidate in candidates {
            let LogicalPlan::SubqueryAlias(alias) = &candidate else {
                continue;
            };
            let input = alias.input.as_ref();
            let result = Arc::new(SharedResult::new(
                alias.alias.to_string(),
                Arc::new(input.schema().as_arrow().clone()),
            ));
            let leaf = LogicalPlan::Extension(Extension {
                node: Arc::new(ComputedOnceNode {
                    shared: Arc::clone(&result),
                    schema: Arc::clone(input.schema()),
                }),
            });
            let replacement = SubqueryAlias::try_new(Arc::new(leaf), alias.alias.clone())?;
            inputs.push(input.clone());
            shared.push(result);
            plan = replace(plan, &candidate, &LogicalPlan::SubqueryAlias(replacement))?;
        }
    }
    if shared.is_empty() {
        return Ok(Transformed::no(plan));
    }
    // DataFusion runs a statement's uncorrelated scalar subqueries before the statement (`ScalarSubqueryExec`);
    // the planner moves that node under `ComputeSharedExec` when its subqueries read a shared result. A shared
    // subquery that needs a scalar subquery's value itself would then run too early: such a statement stays
    // inline.
    let subqueries_read_shared = scalar_subqueries(&plan)?
        .iter()
        .map(|sq| reads_shared(&sq.subquery))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .any(|r| r);
    let shared_need_subqueries = inputs
        .iter()
        .map(|i| scalar_subqueries(i).map(|s| !s.is_empty()))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .any(|r| r);
    if subqueries_read_shared && shared_need_subqueries {
        return Ok(Transformed::no(original));
    }
    let schema = Arc::clone(plan.schema());
    inputs.push(plan);
    Ok(Transformed::yes(LogicalPlan::Extension(Extension {
        node: Arc::new(ComputeShared {
            shared,
            inputs,
            schema,
        }),
    })))
}

/// The uncorrelated scalar subqueries in `plan`'s expressions (those DataFusion runs before the statement).
fn scalar_subqueries(plan: &LogicalPlan) -> Result<Vec<datafusion::logical_expr::Subquery>> {
    let mut out = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarSubquery(sq) = e
                    && sq.outer_ref_columns.is_empty()
                {
                    out.push(sq.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(out)
}

/// Whether `plan` reads a shared result.
fn reads_shared(plan: &LogicalPlan) -> Result<bool> {
    let mut found = false;
    plan.apply_with_subqueries(|n| {
        if matches!(n, LogicalPlan::Extension(e)
            if e.node.as_any().downcast_ref::<ComputedOnceNode>().is_some())
        {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

/// The statement (its last input) after its shared subqueries (the inputs before it), each computed once.
#[derive(Debug)]
struct ComputeShared {
    shared: Vec<Arc<SharedResult>>,
    inputs: Vec<LogicalPlan>,
    schema: DFSchemaRef,
}

/// Where a shared subquery is read.
#[derive(Debug)]
struct ComputedOnceNode {
    shared: Arc<SharedResult>,
    schema: DFSchemaRef,
}

fn same_results(a: &[Arc<SharedResult>], b: &[Arc<SharedResult>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

fn hash_results<H: Hasher>(results: &[Arc<SharedResult>], state: &mut H) {
    for r in results {
        r.alias.hash(state);
        (Arc::as_ptr(r) as usize).hash(state);
    }
}

impl PartialEq for ComputeShared {
    fn eq(&self, other: &Self) -> bool {
        same_results(&self.shared, &other.shared) && self.inputs == other.inputs
    }
}
impl Eq for ComputeShared {}
impl Hash for ComputeShared {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_results(&self.shared, state);
        self.inputs.hash(state);
    }
}
impl PartialOrd for ComputeShared {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}

impl PartialEq for ComputedOnceNode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}
impl Eq for ComputedOnceNode {}
impl Hash for ComputedOnceNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_results(std::slice::from_ref(&self.shared), state);
    }
}
impl PartialOrd for ComputedOnceNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for ComputeShared {
    fn name(&self) -> &str {
        "ComputeShared"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        self.inputs.iter().collect()
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let names: Vec<&str> = self.shared.iter().map(|s| s.alias.as_str()).collect();
        write!(
            f,
            "ComputeShared: {} once each, then the statement",
            names.join(", ")
        )
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, inputs: Vec<LogicalPlan>) -> Result<Self> {
        let schema = match inputs.last() {
            Some(main) => Arc::clone(main.schema()),
            None => Arc::clone(&self.schema),
        };
        Ok(ComputeShared {
            shared: self.shared.clone(),
            inputs,
            schema,
        })
    }
}

impl UserDefinedLogicalNodeCore for ComputedOnceNode {
    fn name(&self) -> &str {
        "ComputedOnce"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }

    fn fmt_for_explain(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ComputedOnce: {}", self.shared.alias)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, _inputs: Vec<LogicalPlan>) -> Result<Self> {
        Ok(ComputedOnceNode {
            shared: Arc::clone(&self.shared),
            schema: Arc::clone(&self.schema),
        })
    }
}

/// Plans `ComputeShared` and `ComputedOnce` nodes.
#[derive(Debug)]
pub struct Planner;

#[async_trait::async_trait]
impl ExtensionPlanner for Planner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        session: &dyn datafusion::catalog::Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        if let Some(leaf) = node.as_any().downcast_ref::<ComputedOnceNode>() {
            let partitions = session.config().target_partitions();
            return Ok(Some(Arc::new(ComputedOnceExec::new(
                Arc::clone(&leaf.shared),
                partitions,
            ))));
        }
        let Some(top) = node.as_any().downcast_ref::<ComputeShared>() else {
            return Ok(None);
        };
        // The readers, planned already, are sized by each subquery's estimate from here on.
        for (result, input) in top.shared.iter().zip(physical_inputs) {
            let stats = StatisticsContext::new().compute(input.as_ref(), &StatisticsArgs::new())?;
            result.set_estimate(stats.as_ref().clone());
        }
        Ok(Some(Arc::new(ComputeSharedExec::try_new(
            top.shared.clone(),
            physical_inputs.to_vec(),
        )?)))
    }
}

/// DataFusion's physical planner with owl's nodes.
#[derive(Debug)]
pub struct OwlQueryPlanner;

#[async_trait::async_trait]
impl QueryPlanner for OwlQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![
            Arc::new(Planner),
            Arc::new(crate::exec::whole_input::Planner),
        ])
        .create_physical_plan(logical_plan, session)
        .await
    }
}

/// The physical half of the rule: scalar subqueries that read a shared result run after it is computed.
#[derive(Debug)]
pub struct SharedBeforeSubqueries;

impl PhysicalOptimizerRule for SharedBeforeSubqueries {
    fn name(&self) -> &str {
        "owl_computed_once_first"
    }

    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Wherever DataFusion put one (on top of the statement, or of EXPLAIN ANALYZE's).
        plan.transform_down(|node| {
            if node.is::<ScalarSubqueryExec>() {
                let sunk = sink_scalar_subqueries(Arc::clone(&node))?;
                if !Arc::ptr_eq(&sunk, &node) {
                    return Ok(Transformed::yes(sunk));
                }
            }
            Ok(Transformed::no(node))
        })
        .map(|t| t.data)
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// DataFusion puts the statement's uncorrelated scalar subqueries in a `ScalarSubqueryExec` on top of the whole
/// plan, run before it. When they read a shared result, that node goes right above the statement under
/// `ComputeSharedExec` instead (through the one-input nodes between: EXPLAIN ANALYZE's, an INSERT's), so the
/// shared results exist when they run. (The rule left inline any statement whose shared subqueries need the
/// scalar subqueries' values.)
fn sink_scalar_subqueries(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let Some(scalar) = plan.downcast_ref::<ScalarSubqueryExec>() else {
        return Ok(plan);
    };
    let reads_shared = scalar.subqueries().iter().any(|sq| {
        sq.plan
            .exists(|n| Ok(n.is::<ComputedOnceExec>()))
            .unwrap_or(false)
    });
    if !reads_shared {
        return Ok(plan);
    }
    let subqueries: Vec<Arc<dyn ExecutionPlan>> = scalar
        .subqueries()
        .iter()
        .map(|sq| Arc::clone(&sq.plan))
        .collect();
    let wrap = |main: Arc<dyn ExecutionPlan>| {
        let mut children = vec![main];
        children.extend(subqueries.iter().cloned());
        replace_children_if_necessary(Arc::clone(&plan), children)
    };
    match sink(scalar.input(), &wrap)? {
        Some(sunk) => Ok(sunk),
        None => Ok(plan),
    }
}

/// `node` with the statement under its `ComputeSharedExec` wrapped by `wrap`; None when there is no such node
/// below a chain of one-input nodes.
fn sink(
    node: &Arc<dyn ExecutionPlan>,
    wrap: &dyn Fn(Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let mut children: Vec<Arc<dyn ExecutionPlan>> = node.children().into_iter().cloned().collect();
    if node.is::<ComputeSharedExec>() {
        let Some(main) = children.pop() else {
            return Ok(None);
        };
        children.push(wrap(main)?);
        return replace_children_if_necessary(Arc::clone(node), children).map(Some);
    }
    let [child] = &children[..] else {
        return Ok(None);
    };
    match sink(child, wrap)? {
        Some(child) => replace_children_if_necessary(Arc::clone(node), vec![child]).map(Some),
        None => Ok(None),
    }
}

/// The `SubqueryAlias` nodes that occur at least twice and are worth computing once, each listed once, in
/// the order first met.
fn shared_subqueries(plan: &LogicalPlan) -> Result<Vec<LogicalPlan>> {
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
