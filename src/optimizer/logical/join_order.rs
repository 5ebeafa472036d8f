//! Cost-based join ordering: a tree of inner joins is re-planned in the order that keeps the rows flowing
//! between its joins fewest, estimated from the registry's statistics.
//!
//! DataFusion joins tables in the order the FROM clause lists them (it only swaps each join's two sides), so
//! `FROM customer, orders, lineitem, supplier, nation, region ... AND r_name = 'ASIA'` (TPC-H q5) joins a
//! whole year of orders with `lineitem` before the region narrows anything. DuckDB reorders joins, and so does
//! Athena's engine when Glue holds table statistics. owl does it as a logical optimizer rule that runs right
//! after DataFusion's filter pushdown, so each table's filters are known:
//!
//! 1. A *region* is a tree of inner equi-joins (`ON` conditions, NULL keys never equal) with at least three
//!    inputs, seen through projections that only select columns. Its *leaves* are the inputs that are not such
//!    joins (scans, aggregates, outer joins...), each ordered again inside, recursively.
//! 2. A leaf's rows are estimated (`cardinality`) from its table's statistics (`TableProvider::statistics`:
//!    the registry's record count, column bounds, null counts and distinct counts) times the selectivity of its
//!    filters: `=` 1/distinct values, ranges and `BETWEEN` the share of the column's bounds they keep (ranges on
//!    one column intersected), `IN` n equalities, `LIKE` 0.1, the rest 0.2.
//! 3. Key equalities make classes of equal keys (`c_nationkey = s_nationkey AND s_nationkey = n_nationkey`
//!    also joins `customer` to `nation`). A class's domain is the largest distinct count of its members.
//!    Joining two sets of leaves keeps 1 / domain of their pairs, for the most selective class that connects
//!    them (the columns of a composite key are not independent).
//! 4. The tree with the fewest rows produced by its joins in all (C_out) is found by dynamic programming over
//!    the connected subsets of leaves, bushy trees included (no cross products; at most 12 leaves). Each join's
//!    smaller side goes left, where DataFusion builds its hash table (its `JoinSelection` still decides). It is
//!    planned only when its estimated cost is at most 0.7 of DataFusion's order's.
//! 5. Each join gets one key pair for each class on both of its sides (each side's members are equal
//!    already); other conditions go on the lowest join that has all their columns; a projection on top
//!    restores the region's columns in their order.
//!
//! Like Athena's cost-based optimizer, which reorders joins only for tables with Glue column statistics, owl
//! orders a region only where the statistics are counts: every key class and every column an equality or `IN`
//! filters on needs a distinct count, which `ANALYZE TABLE t COMPUTE STATISTICS` records (a crawl records
//! none). Bounds alone mislead: a string equality's selectivity is unknown (TPC-H q8's `p_type = '...'` keeps
//! 1/150 of `part`; a guess of 1/10 chose an order 1.2x slower), and a foreign key's bounds overstate its
//! distinct values (`l_orderkey` spans 6M, holds 1.5M).
//!
//! A region is also left in DataFusion's order when a leaf cannot be estimated (no statistics), a key spans
//! several leaves, a class has two keys of one leaf or keys of different types, or the leaves are not all
//! connected by key equalities. Estimates steer the plan only: every order gives the same answers. `SET
//! owl.join_reordering = false` keeps DataFusion's order everywhere.

use datafusion::common::NullEquality;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::logical_plan::{Join, JoinConstraint, JoinType, Projection};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use std::sync::Arc;

use super::cardinality::{Cardinality, estimate};

/// More leaves than this are left in DataFusion's order (the search is 3^n).
const MAX_LEAVES: usize = 12;
/// A new order is planned only when its estimated cost is at most this share of DataFusion's order's.
const GAIN: f64 = 0.7;

/// The optimizer rule.
#[derive(Debug, Default)]
pub struct JoinOrder;

impl OptimizerRule for JoinOrder {
    fn name(&self) -> &str {
        "owl_join_order"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        visit(plan)
    }
}

/// Order every region of `plan`, outermost first. A region is decided as a whole (reordered or kept); its inner
/// joins are not regions of their own, so each is collected and estimated once.
fn visit(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if joinable(&plan).is_none() {
        return plan
            .map_children(visit)?
            .transform_data(|p| p.map_subqueries(visit));
    }
    if let Some(region) = Region::collect(&plan)
        && let Some(tree) = region.best_tree()
        && !tree.same_shape(&region.shape)
    {
        let leaves = region
            .leaves
            .iter()
            .map(|l| visit(l.clone()).map(|t| t.data))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Transformed::yes(region.build(&tree, leaves, &plan)?));
    }
    visit_leaves(plan)
}

/// Visit the leaves of a region kept as it is.
fn visit_leaves(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    if joinable(&plan).is_some() || transparent(&plan).is_some() {
        plan.map_children(visit_leaves)?
            .transform_data(|p| p.map_subqueries(visit))
    } else {
        visit(plan)
    }
}

/// A join tree over leaf indices.
#[derive(Debug, Clone, PartialEq)]
enum Tree {
    Leaf(usize),
    Join(Box<Tree>, Box<Tree>),
}

impl Tree {
    fn mask(&self) -> u32 {
        match self {
            Tree::Leaf(i) => 1 << i,
            Tree::Join(a, b) => a.mask() | b.mask(),
        }
    }

    /// The same joins of the same sets, whichever side each input is on.
    fn same_shape(&self, other: &Tree) -> bool {
        match (self, other) {
            (Tree::Leaf(a), Tree::Leaf(b)) => a == b,
            (Tree::Join(a1, b1), Tree::Join(a2, b2)) => {
                (a1.same_shape(a2) && b1.same_shape(b2)) || (a1.same_shape(b2) && b1.same_shape(a2))
            }
            _ => false,
        }
    }
}

/// Key columns that the region's equalities make equal (transitively): one member per leaf at most.
#[derive(Debug)]
struct Class {
    /// (leaf, key expression), by leaf.
    members: Vec<(usize, Expr)>,
    /// The most distinct values any member's table holds: a join on this class keeps 1 / `domain` of the pairs.
    domain: f64,
}

impl Class {
    fn leaves(&self) -> u32 {
        self.members.iter().fold(0, |m, (l, _)| m | 1 << l)
    }

    /// The first member among `mask`'s leaves.
    fn member_in(&self, mask: u32) -> Option<&Expr> {
        self.members
            .iter()
            .find(|(l, _)| mask & (1 << l) != 0)
            .map(|(_, e)| e)
    }
}

/// A condition that is not a key equality, and the leaves whose columns it reads.
#[derive(Debug)]
struct Condition {
    mask: u32,
    expr: Expr,
}

/// A region of inner joins (see the module's rules), its leaves in a stable order.
#[derive(Debug)]
struct Region {
    leaves: Vec<LogicalPlan>,
    rows: Vec<f64>,
    classes: Vec<Class>,
    conditions: Vec<Condition>,
    /// The region's tree as DataFusion planned it.
    shape: Tree,
}

/// Whether a join belongs to a region: inner, `ON`, keys never equal on NULL.
fn joinable(plan: &LogicalPlan) -> Option<&Join> {
    match plan {
        LogicalPlan::Join(j)
            if j.join_type == JoinType::Inner
                && j.join_constraint == JoinConstraint::On
                && j.null_equality == NullEquality::NullEqualsNothing
                && !j.null_aware =>
        {
            Some(j)
        }
        _ => None,
    }
}

/// The input of a projection that only selects columns (no renames) above a region's join: seen through.
fn transparent(plan: &LogicalPlan) -> Option<&LogicalPlan> {
    match plan {
        LogicalPlan::Projection(p)
            if p.expr.iter().all(|e| matches!(e, Expr::Column(_)))
                && joinable(&p.input).is_some() =>
        {
            Some(&p.input)
        }
        _ => None,
    }
}

/// The cheapest tree of each connected subset: its cost (rows produced by its joins) and rows.
#[derive(Debug, Clone)]
struct Best {
    cost: f64,
    rows: f64,
    tree: Tree,
}

impl Region {
    /// The region rooted at `plan`, when it is one that can be ordered and every leaf estimated.
    fn collect(plan: &LogicalPlan) -> Option<Region> {
        joinable(plan)?;
        let mut leaves = Vec::new();
        let mut on = Vec::new();
        let mut filters = Vec::new();
        let shape = gather(plan, &mut leaves, &mut on, &mut filters);
        let n = leaves.len();
        if !(3..=MAX_LEAVES).contains(&n) {
            return None;
        }
        // A stable order (by the tables a leaf reads under which names), so that ordering the plan again, after
        // other rules have run, finds the same tree.
        let mut order: Vec<usize> = (0..n).collect();
        let keys: Vec<String> = leaves.iter().map(leaf_key).collect();
        order.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then(a.cmp(&b)));
        let mut rank = vec![0; n];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new;
        }
        let leaves: Vec<LogicalPlan> = order.iter().map(|&i| leaves[i].clone()).collect();
        let shape = renumber(&shape, &rank);

        let estimates: Vec<Cardinality> = leaves.iter().map(estimate).collect::<Option<_>>()?;
        if estimates.iter().any(|e| e.guessed) {
            return None;
        }
        let owner = |e: &Expr| -> Option<u32> {
            let mut mask = 0;
            for c in e.column_refs() {
                let mut holders = (0..n).filter(|&i| leaves[i].schema().has_column(c));
                match (holders.next(), holders.next()) {
                    (Some(i), None) => mask |= 1 << i,
                    _ => return None,
                }
            }
            Some(mask)
        };
        // Key classes: union-find over the key expressions.
        let mut keys: Vec<(usize, Expr)> = Vec::new();
        let mut parent: Vec<usize> = Vec::new();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for (l, r) in on {
            let mut ids = [0; 2];
            for (slot, e) in ids.iter_mut().zip([l, r]) {
                let m = owner(&e)?;
                if m.count_ones() != 1 {
                    return None;
                }
                let leaf = m.trailing_zeros() as usize;
                *slot = match keys.iter().position(|(_, k)| *k == e) {
                    Some(i) => i,
                    None => {
                        keys.push((leaf, e));
                        parent.push(parent.len());
                        keys.len() - 1
                    }
                };
            }
            let (a, b) = (find(&mut parent, ids[0]), find(&mut parent, ids[1]));
            parent[a] = b;
        }
        let mut classes: Vec<Class> = Vec::new();
        let mut root_of: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let root = find(&mut parent, i);
            let at = match root_of.iter().position(|&r| r == root) {
                Some(at) => at,
                None => {
                    root_of.push(root);
                    classes.push(Class {
                        members: vec![],
                        domain: 1.0,
                    });
                    classes.len() - 1
                }
            };
            classes[at].members.push(key.clone());
        }
        for class in &mut classes {
            class.members.sort_by_key(|(leaf, _)| *leaf);
            // One member a leaf, all of one type: any two members can then be a join's key pair.
            if class.members.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            let types = class
                .members
                .iter()
                .map(|(leaf, e)| e.get_type(leaves[*leaf].schema()).ok())
                .collect::<Option<Vec<_>>>()?;
            if types.windows(2).any(|w| w[0] != w[1]) {
                return None;
            }
            // Distinct counts (ANALYZE) are what the join formula wants: the largest. Without them a key's
            // domain is only bounded (lineitem's 6M rows hold 1.5M order keys: bounds overstate a foreign key)
            // and the class is not estimated.
            class.domain = class
                .members
                .iter()
                .filter_map(|(leaf, e)| estimates[*leaf].counted_distinct(e))
                .reduce(f64::max)?;
        }
        let conditions = filters
            .into_iter()
            .map(|expr| {
                Some(Condition {
                    mask: owner(&expr)?,
                    expr,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let region = Region {
            rows: estimates.iter().map(|e| e.rows.max(1.0)).collect(),
            leaves,
            classes,
            conditions,
            shape,
        };
        region.connected(region.full()).then_some(region)
    }

    fn full(&self) -> u32 {
        (1u32 << self.leaves.len()) - 1
    }

    /// Leaves that share a key class with a leaf of `mask`.
    fn neighbours(&self, mask: u32) -> u32 {
        self.classes
            .iter()
            .map(Class::leaves)
            .filter(|l| l & mask != 0)
            .fold(0, |acc, l| acc | l)
    }

    fn connected(&self, mask: u32) -> bool {
        let mut seen = mask & mask.wrapping_neg();
        loop {
            let next = (seen | self.neighbours(seen)) & mask;
            if next == seen {
                return seen == mask;
            }
            seen = next;
        }
    }

    /// What joining `a` with `b` keeps of their pairs: 1 / the largest domain of the classes that connect them
    /// (a join on several classes counts its most selective one: the columns of a composite key are not
    /// independent), or `None` where no class connects them.
    fn selectivity(&self, a: u32, b: u32) -> Option<f64> {
        self.classes
            .iter()
            .filter(|c| c.leaves() & a != 0 && c.leaves() & b != 0)
            .map(|c| c.domain)
            .reduce(f64::max)
            .map(|d| 1.0 / d.max(1.0))
    }

    /// The cheapest tree of every connected subset, by dynamic programming over subsets (see rule 4).
    fn search(&self) -> Vec<Option<Best>> {
        let n = self.leaves.len();
        let size = 1usize << n;
        let mut best: Vec<Option<Best>> = vec![None; size];
        for i in 0..n {
            best[1 << i] = Some(Best {
                cost: 0.0,
                rows: self.rows[i],
                tree: Tree::Leaf(i),
            });
        }
        for mask in 1..size {
            if mask.count_ones() < 2 || !self.connected(mask as u32) {
                continue;
            }
            let low = mask & mask.wrapping_neg();
            let mut rows = None;
            let mut choice: Option<Best> = None;
            // Each split once: the part holding the lowest leaf, and the rest.
            let mut sub = (mask - 1) & mask;
            while sub > 0 {
                let other = mask ^ sub;
                if sub & low != 0
                    && let (Some(a), Some(b)) = (&best[sub], &best[other])
                    && let Some(sel) = self.selectivity(sub as u32, other as u32)
                {
                    // The subset's rows from its first split, so that every tree of it is costed alike.
                    let r = *rows.get_or_insert(a.rows * b.rows * sel);
                    let cost = a.cost + b.cost + r;
                    if choice.as_ref().is_none_or(|c| cost < c.cost * (1.0 - 1e-9)) {
                        // The smaller input on the left: the side a hash join builds on.
                        let (l, r2) = if b.rows < a.rows { (b, a) } else { (a, b) };
                        choice = Some(Best {
                            cost,
                            rows: r,
                            tree: Tree::Join(Box::new(l.tree.clone()), Box::new(r2.tree.clone())),
                        });
                    }
                }
                sub = (sub - 1) & mask;
            }
            best[mask] = choice;
        }
        best
    }

    /// The tree to plan, when it is clearly cheaper than DataFusion's: at most [`GAIN`] of its cost (estimates
    /// are rough; a near tie is not worth a different plan).
    fn best_tree(&self) -> Option<Tree> {
        let best = self.search();
        let chosen = best[self.full() as usize].clone()?;
        let current = self.cost_of(&self.shape, &best).unwrap_or(f64::INFINITY);
        (chosen.cost <= current * GAIN).then_some(chosen.tree)
    }

    /// The cost of `tree` (rows its joins produce), with the subsets' rows the search estimated.
    fn cost_of(&self, tree: &Tree, best: &[Option<Best>]) -> Option<f64> {
        match tree {
            Tree::Leaf(_) => Some(0.0),
            Tree::Join(a, b) => {
                let rows = best[tree.mask() as usize].as_ref()?.rows;
                Some(self.cost_of(a, best)? + self.cost_of(b, best)? + rows)
            }
        }
    }

    /// The plan of `tree` over `leaves`, with the region's columns in the order `original` has them.
    fn build(
        &self,
        tree: &Tree,
        leaves: Vec<LogicalPlan>,
        original: &LogicalPlan,
    ) -> Result<LogicalPlan> {
        let mut placed = vec![false; self.conditions.len()];
        let joined = self.build_tree(tree, &leaves, &mut placed)?;
        let columns = original
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect();
        Ok(LogicalPlan::Projection(Projection::try_new(
            columns,
            Arc::new(joined),
        )?))
    }

    fn build_tree(
        &self,
        tree: &Tree,
        leaves: &[LogicalPlan],
        placed: &mut [bool],
    ) -> Result<LogicalPlan> {
        let (l, r) = match tree {
            Tree::Leaf(i) => return Ok(leaves[*i].clone()),
            Tree::Join(l, r) => (l, r),
        };
        let left = self.build_tree(l, leaves, placed)?;
        let right = self.build_tree(r, leaves, placed)?;
        let (lm, rm) = (l.mask(), r.mask());
        // One key pair a class present on both sides: each side's members are equal already (its own joins
        // made them so), so one equality makes all of them equal.
        let on = self
            .classes
            .iter()
            .filter_map(|c| Some((c.member_in(lm)?.clone(), c.member_in(rm)?.clone())))
            .collect();
        let both = lm | rm;
        let mut here = Vec::new();
        for (c, done) in self.conditions.iter().zip(placed.iter_mut()) {
            if !*done && c.mask & !both == 0 {
                *done = true;
                here.push(c.expr.clone());
            }
        }
        Ok(LogicalPlan::Join(Join::try_new(
            Arc::new(left),
            Arc::new(right),
            on,
            conjunction(here),
            JoinType::Inner,
            JoinConstraint::On,
            NullEquality::NullEqualsNothing,
            false,
        )?))
    }
}

/// Walk a region: its leaves, key pairs and other conditions, and its shape (leaves numbered as found).
fn gather(
    plan: &LogicalPlan,
    leaves: &mut Vec<LogicalPlan>,
    on: &mut Vec<(Expr, Expr)>,
    filters: &mut Vec<Expr>,
) -> Tree {
    let mut plan = plan;
    while let Some(input) = transparent(plan) {
        plan = input;
    }
    match joinable(plan) {
        Some(j) => {
            on.extend(j.on.iter().cloned());
            if let Some(f) = &j.filter {
                filters.extend(split_conjunction(f).into_iter().cloned());
            }
            let l = gather(&j.left, leaves, on, filters);
            let r = gather(&j.right, leaves, on, filters);
            Tree::Join(Box::new(l), Box::new(r))
        }
        None => {
            leaves.push(plan.clone());
            Tree::Leaf(leaves.len() - 1)
        }
    }
}

fn renumber(tree: &Tree, rank: &[usize]) -> Tree {
    match tree {
        Tree::Leaf(i) => Tree::Leaf(rank[*i]),
        Tree::Join(a, b) => Tree::Join(Box::new(renumber(a, rank)), Box::new(renumber(b, rank))),
    }
}

/// What orders leaves stably: the names its columns are qualified by, else its columns' names.
fn leaf_key(plan: &LogicalPlan) -> String {
    let schema = plan.schema();
    let mut names: Vec<String> = schema
        .iter()
        .filter_map(|(q, _)| q.map(|q| q.to_string()))
        .collect();
    if names.is_empty() {
        names = schema.fields().iter().map(|f| f.name().clone()).collect();
    }
    names.sort();
    names.dedup();
    names.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimizer::logical::cardinality::{ColumnEstimate, EQ_UNKNOWN, selectivity};
    use datafusion::common::Column;
    use datafusion::common::DFSchema;
    use datafusion::logical_expr::{EmptyRelation, col, lit};
    use std::collections::HashMap;

    /// A region of `rows.len()` leaves whose key classes join the given leaves with the given domain.
    fn region(rows: &[f64], classes: &[(&[usize], f64)], shape: Tree) -> Region {
        let empty = LogicalPlan::EmptyRelation(EmptyRelation {
            produce_one_row: false,
            schema: Arc::new(DFSchema::empty()),
        });
        Region {
            leaves: vec![empty; rows.len()],
            rows: rows.to_vec(),
            classes: classes
                .iter()
                .enumerate()
                .map(|(c, (leaves, domain))| Class {
                    members: leaves
                        .iter()
                        .map(|&l| (l, col(format!("k{c}_{l}"))))
                        .collect(),
                    domain: *domain,
                })
                .collect(),
            conditions: vec![],
            shape,
        }
    }

    fn leaf(i: usize) -> Box<Tree> {
        Box::new(Tree::Leaf(i))
    }

    fn join(a: Box<Tree>, b: Box<Tree>) -> Box<Tree> {
        Box::new(Tree::Join(a, b))
    }

    #[test]
    fn the_selective_dimension_is_joined_first() {
        // TPC-H q5: 0 customer, 1 orders (a year), 2 lineitem, 3 nation, 4 region (ASIA), 5 supplier, joined
        // in the FROM clause's order.
        let from = join(
            join(
                join(join(join(leaf(0), leaf(1)), leaf(2)), leaf(5)),
                leaf(3),
            ),
            leaf(4),
        );
        let r = region(
            &[150_000.0, 228_000.0, 6_000_000.0, 25.0, 1.0, 10_000.0],
            &[
                (&[0, 1], 150_000.0),   // custkey
                (&[1, 2], 6_000_000.0), // orderkey
                (&[2, 5], 10_000.0),    // suppkey
                (&[0, 3, 5], 25.0),     // nationkey: c_nationkey = s_nationkey = n_nationkey
                (&[3, 4], 5.0),         // regionkey
            ],
            *from.clone(),
        );
        // region-nation (5 rows), customer (30k), orders (46k), lineitem, supplier.
        let expected = join(
            join(
                join(join(join(leaf(4), leaf(3)), leaf(0)), leaf(1)),
                leaf(2),
            ),
            leaf(5),
        );
        let best = r.best_tree().expect("a cheaper order");
        assert!(best.same_shape(&expected), "{best:?}");
        // Its two sides swapped is the same shape; DataFusion's is not.
        let Tree::Join(a, b) = *expected.clone() else {
            unreachable!()
        };
        assert!(Tree::Join(b, a).same_shape(&expected));
        assert!(!from.same_shape(&expected));
        // Planned again, the chosen tree is kept (the rule reaches a fixed point).
        let again = region(
            &r.rows,
            &[
                (&[0, 1], 150_000.0),
                (&[1, 2], 6_000_000.0),
                (&[2, 5], 10_000.0),
                (&[0, 3, 5], 25.0),
                (&[3, 4], 5.0),
            ],
            best,
        );
        assert!(again.best_tree().is_none());
    }

    #[test]
    fn a_composite_key_counts_its_most_selective_column_once() {
        // partsupp (800k) and lineitem (6M) on (partkey, suppkey): 1/200k, not 1/(200k * 10k).
        let r = region(
            &[800_000.0, 6_000_000.0, 10.0],
            &[(&[0, 1], 200_000.0), (&[0, 1], 10_000.0), (&[1, 2], 10.0)],
            *join(join(leaf(0), leaf(1)), leaf(2)),
        );
        let sel = r.selectivity(0b01, 0b10).unwrap();
        assert!((sel - 1.0 / 200_000.0).abs() < 1e-15, "{sel}");
        assert_eq!(r.selectivity(0b01, 0b100), None);
    }

    #[test]
    fn leaves_not_connected_by_keys_are_not_ordered() {
        let r = region(&[10.0, 20.0, 30.0], &[(&[0, 1], 10.0)], Tree::Leaf(0));
        assert!(!r.connected(r.full()));
        let r = region(
            &[10.0, 20.0, 30.0],
            &[(&[0, 1], 10.0), (&[1, 2], 10.0)],
            Tree::Leaf(0),
        );
        assert!(r.connected(r.full()));
        assert!(!r.connected(0b101));
    }

    #[test]
    fn ranges_on_one_column_are_intersected() {
        let mut columns = HashMap::new();
        columns.insert(
            Column::from_name("d"),
            ColumnEstimate {
                distinct: Some(100.0),
                counted: Some(100.0),
                min: Some(0.0),
                max: Some(100.0),
                null_fraction: Some(0.0),
            },
        );
        let est = Cardinality {
            rows: 1_000.0,
            columns,
            guessed: false,
        };
        let within = col("d").gt_eq(lit(20i64)).and(col("d").lt(lit(30i64)));
        assert!((selectivity(&within, &est) - 0.1).abs() < 1e-9);
        let eq = col("d").eq(lit(5i64));
        assert!((selectivity(&eq, &est) - 0.01).abs() < 1e-9);
        let either = eq.clone().or(col("d").eq(lit(6i64)));
        assert!((selectivity(&either, &est) - (0.02 - 0.0001)).abs() < 1e-9);
        let list = col("d").in_list(vec![lit(1i64), lit(2i64), lit(3i64)], false);
        assert!((selectivity(&list, &est) - 0.03).abs() < 1e-9);
        // Unknown columns: the defaults.
        assert!((selectivity(&col("x").eq(lit(1i64)), &est) - EQ_UNKNOWN).abs() < 1e-9);
        assert!((selectivity(&col("x").lt(lit(1i64)), &est) - 1.0 / 3.0).abs() < 1e-9);
    }
}
