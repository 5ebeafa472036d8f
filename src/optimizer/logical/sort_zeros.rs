//! `ORDER BY x` of a floating-point `x` sorted by `CASE WHEN x = 0 THEN 0 ELSE x END`: one zero for every
//! comparator of the sort.
//!
//! DataFusion sorts floats in their total order (`-0.0 < 0.0`, arrow's row format and sort kernels) but
//! compares them as IEEE 754 and SQL do (`-0.0 = 0.0`). A top-k mixes the two: it orders its heap in the total
//! order and skips a batch's rows with a filter built from the heap's last row (`x > threshold`, `x =
//! threshold`) that compares the IEEE way, so with `-0.0` at the threshold it skipped the `0.0` rows that the
//! total order puts before it. `ORDER BY k, c0 DESC, c1 LIMIT 3` over two Parquet files answered rows that no
//! order gives (the differential tester found it, `tests/found_by_difftest.rs`).
//!
//! SQL calls the zeros equal (PostgreSQL, DuckDB, Trino), so the next key decides between them; sorting by the
//! value with `-0.0` read as `0.0` makes every comparator agree with that, in a full sort, a top-k and the
//! merge of sorted partitions alike. The values shown are untouched (a sort key is not an output column), NaN
//! stays NaN and NULL stays NULL. Not an optimisation but a correction: it always runs, with the other
//! corrections, before anything simplifies an expression.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::Transformed;
use datafusion::error::Result;
use datafusion::logical_expr::expr::Case;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan, Operator, Sort};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, CaseExpr, Column, Literal};

#[derive(Debug, Default)]
pub struct SortZeros;

impl OptimizerRule for SortZeros {
    fn name(&self) -> &str {
        "owl_sort_zeros"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Sort(Sort { expr, input, fetch }) = plan else {
            return Ok(Transformed::no(plan));
        };
        let mut changed = false;
        let mut keys = Vec::with_capacity(expr.len());
        for mut key in expr {
            if let Some(zero) = zero_of(&key.expr.get_type(input.schema())?)
                && !is_one_zero(&key.expr)
            {
                key.expr = one_zero(key.expr, zero);
                changed = true;
            }
            keys.push(key);
        }
        let sort = LogicalPlan::Sort(Sort {
            expr: keys,
            input,
            fetch,
        });
        Ok(if changed {
            Transformed::yes(sort)
        } else {
            Transformed::no(sort)
        })
    }
}

/// The positive zero of a floating-point type; None for any other type.
fn zero_of(ty: &DataType) -> Option<ScalarValue> {
    ty.is_floating()
        .then(|| ScalarValue::new_zero(ty).ok())
        .flatten()
}

/// `CASE WHEN x = 0 THEN 0 ELSE x END`: `x` with `-0.0` read as `0.0`.
fn one_zero(x: Expr, zero: ScalarValue) -> Expr {
    let zero = Expr::Literal(zero, None);
    Expr::Case(Case {
        expr: None,
        when_then_expr: vec![(Box::new(x.clone().eq(zero.clone())), Box::new(zero))],
        else_expr: Some(Box::new(x)),
    })
}

/// Whether `e` is already [`one_zero`]'s form (the optimizer runs its rules more than once).
fn is_one_zero(e: &Expr) -> bool {
    let Expr::Case(Case {
        expr: None,
        when_then_expr,
        else_expr: Some(x),
    }) = e
    else {
        return false;
    };
    let [(when, then)] = when_then_expr.as_slice() else {
        return false;
    };
    let Expr::BinaryExpr(b) = when.as_ref() else {
        return false;
    };
    b.op == Operator::Eq
        && b.left == *x
        && matches!(b.right.as_ref(), Expr::Literal(v, _) if is_zero(v))
        && matches!(then.as_ref(), Expr::Literal(v, _) if is_zero(v))
}

/// Whether `v` is the positive zero of a floating-point type ([`zero_of`]'s).
fn is_zero(v: &ScalarValue) -> bool {
    zero_of(&v.data_type()).is_some_and(|z| *v == z)
}

/// The column a physical sort key reads when the key is that column, or that column with its zeros made one
/// (this rule's `CASE`, as planned): both order a file's rows alike, which is what the rules that order files
/// by a sort key's statistics need (`optimizer::physical::file_ranges`).
pub fn sorted_column(key: &Arc<dyn PhysicalExpr>) -> Option<&Column> {
    if let Some(column) = key.downcast_ref::<Column>() {
        return Some(column);
    }
    let case = key.downcast_ref::<CaseExpr>()?;
    if case.expr().is_some() {
        return None;
    }
    let [(when, then)] = case.when_then_expr() else {
        return None;
    };
    let column = case.else_expr()?.downcast_ref::<Column>()?;
    let when = when.downcast_ref::<BinaryExpr>()?;
    let zero = |e: &Arc<dyn PhysicalExpr>| {
        e.downcast_ref::<Literal>()
            .is_some_and(|l| is_zero(l.value()))
    };
    let same = when
        .left()
        .downcast_ref::<Column>()
        .is_some_and(|c| c == column);
    (*when.op() == Operator::Eq && same && zero(when.right()) && zero(then)).then_some(column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{SessionContext, col};

    #[test]
    fn wraps_once() {
        let key = one_zero(col("x"), ScalarValue::Float64(Some(0.0)));
        assert!(is_one_zero(&key));
        assert!(!is_one_zero(&col("x")));
        assert_eq!(
            key.to_string(),
            "CASE WHEN x = Float64(0) THEN Float64(0) ELSE x END"
        );
    }

    /// Two partitions whose top-k heaps end at different zeros: DataFusion alone answers a row with -0.0
    /// before rows the total order and SQL both put first.
    #[tokio::test]
    async fn a_top_k_over_both_zeros_answers_sqls_order() {
        let ctx = SessionContext::new_with_config(
            datafusion::prelude::SessionConfig::new().with_target_partitions(2),
        );
        let state = ctx.state();
        let mut rules = state.optimizers().to_vec();
        rules.insert(0, Arc::new(SortZeros));
        let ctx = SessionContext::new_with_state(
            datafusion::execution::SessionStateBuilder::new_from_existing(state)
                .with_optimizer_rules(rules)
                .build(),
        );
        let sql = "SELECT x, y FROM (SELECT * FROM (VALUES (0.0, 4), (0.0, 11), (-0.0, 1), (-0.0, 3)) \
                   UNION ALL SELECT * FROM (VALUES (0.0, 8), (0.0, 9), (-0.0, 2))) t(x, y) \
                   ORDER BY x DESC, y LIMIT 3";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let ys: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .map(|l| l.split('|').nth(2).unwrap().trim())
            .collect();
        assert_eq!(ys, ["1", "2", "3"], "{text}");
        // The values shown keep their sign.
        assert!(text.contains("-0.0"), "{text}");
    }
}
