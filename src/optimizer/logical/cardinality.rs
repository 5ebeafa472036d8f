//! Row estimates of logical plans, from the registry's statistics: what join ordering compares orders by
//! (`join_order`), and what `bitmap_count_distinct` reads to know an aggregation's groups are few.
//!
//! A scan's rows are its table's record count times the selectivity of its filters: `=` 1/distinct values,
//! ranges and `BETWEEN` the share of the column's bounds they keep (ranges on one column intersected), `IN` n
//! equalities, `LIKE` 0.1, the rest 0.2. Estimates steer plans only; no answer depends on them.

use datafusion::common::stats::Precision;
use datafusion::common::{Column, ScalarValue, Statistics};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::expr::{Between, InList};
use datafusion::logical_expr::logical_plan::JoinType;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator, TableScan};
use std::collections::HashMap;

/// Selectivity of a filter owl cannot estimate (DataFusion's `default_filter_selectivity`).
pub(crate) const DEFAULT_SELECTIVITY: f64 = 0.2;
/// Selectivity of `=` on a column whose distinct values are unknown, and of `LIKE`.
pub(crate) const EQ_UNKNOWN: f64 = 0.1;

/// What is known of one column of a plan's output.
#[derive(Debug, Clone, Default)]
pub(crate) struct ColumnEstimate {
    pub(crate) distinct: Option<f64>,
    /// Distinct values in the whole table, before any filter, where `ANALYZE` counted them (a key's domain).
    pub(crate) counted: Option<f64>,
    /// Bounds as numbers (integers, decimals, floats, dates, timestamps).
    pub(crate) min: Option<f64>,
    pub(crate) max: Option<f64>,
    pub(crate) null_fraction: Option<f64>,
}

/// Estimated rows of a plan and what is known of its columns.
#[derive(Debug, Clone)]
pub(crate) struct Cardinality {
    pub(crate) rows: f64,
    pub(crate) columns: HashMap<Column, ColumnEstimate>,
    /// Whether a filter's selectivity is a guess: an equality or `IN` on a column with no distinct count.
    pub(crate) guessed: bool,
}

impl Cardinality {
    pub(crate) fn column(&self, e: &Expr) -> Option<&ColumnEstimate> {
        match strip(e) {
            Expr::Column(c) => self.columns.get(c),
            _ => None,
        }
    }

    /// Distinct values of a key: known, else the bounds' span for integers, else the rows; at most the rows.
    pub(crate) fn distinct(&self, key: &Expr) -> f64 {
        let rows = self.rows.max(1.0);
        self.column(key)
            .and_then(|c| c.distinct)
            .unwrap_or(rows)
            .clamp(1.0, rows)
    }

    /// A key's distinct values in its whole table, where `ANALYZE` counted them (see [`Class::domain`]).
    pub(crate) fn counted_distinct(&self, key: &Expr) -> Option<f64> {
        self.column(key).and_then(|c| c.counted).map(|d| d.max(1.0))
    }

    pub(crate) fn with_rows(mut self, rows: f64) -> Cardinality {
        self.rows = rows.max(0.0);
        self
    }
}

/// A number for a bound or a literal, where its type has a meaningful distance.
pub(crate) fn numeric(v: &ScalarValue) -> Option<f64> {
    use ScalarValue::*;
    Some(match v {
        Int8(Some(x)) => *x as f64,
        Int16(Some(x)) => *x as f64,
        Int32(Some(x)) => *x as f64,
        Int64(Some(x)) => *x as f64,
        UInt8(Some(x)) => *x as f64,
        UInt16(Some(x)) => *x as f64,
        UInt32(Some(x)) => *x as f64,
        UInt64(Some(x)) => *x as f64,
        Float32(Some(x)) => *x as f64,
        Float64(Some(x)) => *x,
        Decimal128(Some(x), _, s) => *x as f64 / 10f64.powi(*s as i32),
        Date32(Some(x)) => *x as f64,
        Date64(Some(x)) => *x as f64 / 86_400_000.0,
        TimestampSecond(Some(x), _) => *x as f64,
        TimestampMillisecond(Some(x), _) => *x as f64 / 1e3,
        TimestampMicrosecond(Some(x), _) => *x as f64 / 1e6,
        TimestampNanosecond(Some(x), _) => *x as f64 / 1e9,
        _ => return None,
    })
}

/// Whether values of this bound are whole steps (integers, dates): the span counts the distinct values.
pub(crate) fn discrete(v: &ScalarValue) -> bool {
    use ScalarValue::*;
    matches!(
        v,
        Int8(_)
            | Int16(_)
            | Int32(_)
            | Int64(_)
            | UInt8(_)
            | UInt16(_)
            | UInt32(_)
            | UInt64(_)
            | Date32(_)
    )
}

pub(crate) fn exact_or_inexact<T: std::fmt::Debug + Clone + PartialEq + Eq + PartialOrd>(
    p: &Precision<T>,
) -> Option<T> {
    p.get_value().cloned()
}

/// A table's columns as the planner knows them from `stats`, under `qualifier`.
pub(crate) fn from_statistics(
    scan: &TableScan,
    schema: &arrow::datatypes::Schema,
    stats: &Statistics,
) -> Option<Cardinality> {
    let rows = exact_or_inexact(&stats.num_rows)? as f64;
    let mut columns = HashMap::new();
    for (field, s) in schema.fields().iter().zip(&stats.column_statistics) {
        let min = exact_or_inexact(&s.min_value);
        let max = exact_or_inexact(&s.max_value);
        let span = match (&min, &max) {
            (Some(lo), Some(hi)) if discrete(lo) => numeric(lo)
                .zip(numeric(hi))
                .map(|(lo, hi)| hi - lo + 1.0)
                .filter(|s| *s >= 1.0),
            _ => None,
        };
        let counted = exact_or_inexact(&s.distinct_count).map(|d| d as f64);
        let distinct = counted.or(span).map(|d| d.min(rows));
        let null_fraction = exact_or_inexact(&s.null_count)
            .filter(|_| rows > 0.0)
            .map(|n| (n as f64 / rows).min(1.0));
        columns.insert(
            Column::new(Some(scan.table_name.clone()), field.name()),
            ColumnEstimate {
                distinct,
                counted: counted.map(|d| d.min(rows)),
                min: min.as_ref().and_then(numeric),
                max: max.as_ref().and_then(numeric),
                null_fraction,
            },
        );
    }
    Some(Cardinality {
        rows,
        columns,
        guessed: false,
    })
}

/// For other rules: the groups an aggregation of `input` by `group_expr` is estimated to make (1 without
/// grouping) and the numeric bounds of each of `columns` (columns of `input`), from the registry's statistics,
/// estimated once; `None` when a grouping key's distinct values or a column's bounds are unknown.
pub(crate) fn groups_and_bounds(
    input: &LogicalPlan,
    group_expr: &[Expr],
    columns: &[&Expr],
) -> Option<(f64, Vec<(f64, f64)>)> {
    let est = estimate(input)?;
    let groups: f64 = group_expr
        .iter()
        .map(|g| est.column(g).and_then(|c| c.distinct))
        .product::<Option<f64>>()?;
    let bounds = columns
        .iter()
        .map(|e| est.column(e).and_then(|c| c.min.zip(c.max)))
        .collect::<Option<Vec<_>>>()?;
    Some((groups.max(1.0), bounds))
}

/// Estimated rows of a leaf, or `None` where owl cannot tell (the region then keeps DataFusion's order).
pub(crate) fn estimate(plan: &LogicalPlan) -> Option<Cardinality> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source).ok()?;
            let stats = provider.statistics()?;
            let schema = provider.schema();
            let base = from_statistics(scan, &schema, &stats)?;
            let filter = conjunction(scan.filters.iter().cloned());
            let mut rows = base.rows * filter.as_ref().map_or(1.0, |f| selectivity(f, &base));
            if let Some(fetch) = scan.fetch {
                rows = rows.min(fetch as f64);
            }
            let guessed = filter.as_ref().is_some_and(|f| !grounded(f, &base));
            let mut est = capped(base.with_rows(rows));
            est.guessed = guessed;
            Some(est)
        }
        LogicalPlan::Filter(f) => {
            let input = estimate(&f.input)?;
            // Filters a scan below also holds (pushed down inexactly) are counted once, at the scan.
            let pushed: &[Expr] = match f.input.as_ref() {
                LogicalPlan::TableScan(s) => &s.filters,
                _ => &[],
            };
            let own: Vec<&Expr> = split_conjunction(&f.predicate)
                .into_iter()
                .filter(|c| !pushed.contains(c))
                .collect();
            let sel: f64 = own.iter().map(|c| selectivity(c, &input)).product();
            let guessed = input.guessed || own.iter().any(|c| !grounded(c, &input));
            let rows = input.rows * sel;
            let mut est = capped(input.with_rows(rows));
            est.guessed = guessed;
            Some(est)
        }
        LogicalPlan::Projection(p) => {
            let input = estimate(&p.input)?;
            let mut columns = HashMap::new();
            for (e, (q, f)) in p.expr.iter().zip(p.schema.iter()) {
                let inner = match e {
                    Expr::Alias(a) => a.expr.as_ref(),
                    e => e,
                };
                if let Some(c) = input.column(inner) {
                    columns.insert(Column::new(q.cloned(), f.name()), c.clone());
                }
            }
            Some(Cardinality { columns, ..input })
        }
        LogicalPlan::SubqueryAlias(a) => {
            let input = estimate(&a.input)?;
            let columns = a
                .input
                .schema()
                .columns()
                .into_iter()
                .zip(a.schema.columns())
                .filter_map(|(from, to)| input.columns.get(&from).map(|c| (to, c.clone())))
                .collect();
            Some(Cardinality { columns, ..input })
        }
        LogicalPlan::Aggregate(a) => {
            let input = estimate(&a.input)?;
            let groups: Option<f64> = a
                .group_expr
                .iter()
                .map(|g| input.column(g).and_then(|c| c.distinct))
                .product();
            let rows = if a.group_expr.is_empty() {
                1.0
            } else {
                groups.unwrap_or(input.rows).min(input.rows)
            };
            let mut columns = HashMap::new();
            for (g, col) in a.group_expr.iter().zip(a.schema.columns()) {
                if let Some(c) = input.column(g) {
                    columns.insert(col, c.clone());
                }
            }
            Some(capped(Cardinality {
                rows,
                columns,
                guessed: input.guessed,
            }))
        }
        LogicalPlan::Sort(s) => {
            let input = estimate(&s.input)?;
            let rows = s.fetch.map_or(input.rows, |f| input.rows.min(f as f64));
            Some(input.with_rows(rows))
        }
        LogicalPlan::Join(j) => {
            let left = estimate(&j.left)?;
            let right = estimate(&j.right)?;
            let inner = j.on.iter().fold(left.rows * right.rows, |rows, (l, r)| {
                rows / left.distinct(l).max(right.distinct(r)).max(1.0)
            });
            let rows = match j.join_type {
                JoinType::Inner => inner,
                JoinType::Left => inner.max(left.rows),
                JoinType::Right => inner.max(right.rows),
                JoinType::Full => inner.max(left.rows + right.rows),
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => left.rows,
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => right.rows,
            };
            let guessed = left.guessed || right.guessed;
            let mut columns = left.columns;
            columns.extend(right.columns);
            Some(capped(Cardinality {
                rows,
                columns,
                guessed,
            }))
        }
        _ => None,
    }
}

/// Whether `pred`'s selectivity rests on counts: every equality or `IN` with a literal is on a column with a
/// distinct count (ranges use bounds; other conditions' defaults are accepted).
pub(crate) fn grounded(pred: &Expr, est: &Cardinality) -> bool {
    let counted = |e: &Expr| est.column(e).is_some_and(|c| c.counted.is_some());
    match pred {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And | Operator::Or,
            right,
        }) => grounded(left, est) && grounded(right, est),
        Expr::Not(e) => grounded(e, est),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq | Operator::NotEq,
            right,
        }) => match (literal(left), literal(right)) {
            (None, Some(_)) => counted(left),
            (Some(_), None) => counted(right),
            _ => true,
        },
        Expr::InList(InList { expr, .. }) => counted(expr),
        _ => true,
    }
}

/// No column has more distinct values than its plan has rows.
pub(crate) fn capped(mut e: Cardinality) -> Cardinality {
    let rows = e.rows.max(1.0);
    for c in e.columns.values_mut() {
        c.distinct = c.distinct.map(|d| d.min(rows));
    }
    e
}

pub(crate) fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => strip(&c.expr),
        Expr::TryCast(c) => strip(&c.expr),
        Expr::Alias(a) => strip(&a.expr),
        e => e,
    }
}

pub(crate) fn literal(e: &Expr) -> Option<&ScalarValue> {
    match strip(e) {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

/// The share of rows `pred` keeps (see the module's rule 2).
pub(crate) fn selectivity(pred: &Expr, est: &Cardinality) -> f64 {
    let s = match pred {
        Expr::BinaryExpr(BinaryExpr {
            op: Operator::And, ..
        }) => conjunction_selectivity(&split_conjunction(pred), est),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let (a, b) = (selectivity(left, est), selectivity(right, est));
            a + b - a * b
        }
        Expr::Not(e) => 1.0 - selectivity(e, est),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            // Column on the left, literal on the right.
            let (col, op, lit) = match (literal(left), literal(right)) {
                (None, Some(v)) => (left.as_ref(), *op, v),
                (Some(v), None) => match op.swap() {
                    Some(op) => (right.as_ref(), op, v),
                    None => return DEFAULT_SELECTIVITY,
                },
                _ => return DEFAULT_SELECTIVITY,
            };
            let column = est.column(col);
            match op {
                Operator::Eq => equality(column),
                Operator::NotEq => 1.0 - equality(column),
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                    let (lo, hi) = match op {
                        Operator::Lt | Operator::LtEq => (None, numeric(lit)),
                        _ => (numeric(lit), None),
                    };
                    range(column, lo, hi)
                }
                Operator::LikeMatch | Operator::ILikeMatch => EQ_UNKNOWN,
                Operator::NotLikeMatch | Operator::NotILikeMatch => 1.0 - EQ_UNKNOWN,
                _ => DEFAULT_SELECTIVITY,
            }
        }
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let s = range(
                est.column(expr),
                literal(low).and_then(numeric),
                literal(high).and_then(numeric),
            );
            if *negated { 1.0 - s } else { s }
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let s = (list.len() as f64 * equality(est.column(expr))).min(1.0);
            if *negated { 1.0 - s } else { s }
        }
        Expr::Like(l) => {
            if l.negated {
                1.0 - EQ_UNKNOWN
            } else {
                EQ_UNKNOWN
            }
        }
        Expr::IsNull(e) => est.column(e).and_then(|c| c.null_fraction).unwrap_or(0.05),
        Expr::IsNotNull(e) => 1.0 - est.column(e).and_then(|c| c.null_fraction).unwrap_or(0.0),
        Expr::Literal(ScalarValue::Boolean(Some(true)), _) => 1.0,
        Expr::Literal(_, _) => 0.0,
        _ => DEFAULT_SELECTIVITY,
    };
    s.clamp(0.0, 1.0)
}

/// `AND`ed conditions: ranges on one column are intersected (`x >= a AND x < b` keeps what lies between),
/// the rest multiply.
pub(crate) fn conjunction_selectivity(parts: &[&Expr], est: &Cardinality) -> f64 {
    let mut bounds: Vec<(Column, Option<f64>, Option<f64>)> = Vec::new();
    let mut s = 1.0;
    for p in parts {
        let ranged = match p {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                match (strip(left), literal(right).and_then(numeric)) {
                    (Expr::Column(c), Some(v)) => match op {
                        Operator::Lt | Operator::LtEq => Some((c.clone(), None, Some(v))),
                        Operator::Gt | Operator::GtEq => Some((c.clone(), Some(v), None)),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        };
        match ranged {
            Some((c, lo, hi)) => match bounds.iter_mut().find(|(b, _, _)| *b == c) {
                Some((_, l, h)) => {
                    *l = tighter(*l, lo, f64::max);
                    *h = tighter(*h, hi, f64::min);
                }
                None => bounds.push((c, lo, hi)),
            },
            None => s *= selectivity(p, est),
        }
    }
    for (c, lo, hi) in bounds {
        s *= range(est.columns.get(&c), lo, hi);
    }
    s
}

/// Two optional bounds of one side combined: the tighter of the two where both are known.
pub(crate) fn tighter(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn equality(column: Option<&ColumnEstimate>) -> f64 {
    column
        .and_then(|c| c.distinct)
        .map_or(EQ_UNKNOWN, |d| 1.0 / d.max(1.0))
}

/// The share of a column's bounds that `[lo, hi]` keeps (a third where the bounds are unknown).
pub(crate) fn range(column: Option<&ColumnEstimate>, lo: Option<f64>, hi: Option<f64>) -> f64 {
    let Some((min, max)) = column.and_then(|c| Some((c.min?, c.max?))) else {
        return 1.0 / 3.0;
    };
    if max <= min {
        let inside = lo.is_none_or(|l| l <= min) && hi.is_none_or(|h| h >= max);
        return if inside { 1.0 } else { 0.0 };
    }
    let lo = lo.unwrap_or(min).max(min);
    let hi = hi.unwrap_or(max).min(max);
    ((hi - lo) / (max - min)).clamp(0.0, 1.0)
}
