//! `x [NOT] IN (..., NULL, ...)` with the NULLs taken out of its list, before DataFusion simplifies it.
//!
//! DataFusion's expression simplifier merges two lists on the same column as sets: `x IN (16, 0, NULL) AND x
//! NOT IN (0, 10, NULL)` becomes `x IN (16)`, `x NOT IN (1, 2, NULL) OR x NOT IN (2, 3)` becomes `x NOT IN
//! (2)`. With a NULL in a list that is wrong: `16 NOT IN (0, 10, NULL)` is NULL, not true, so the first keeps
//! a row SQL drops (and `NOT (...)` of it answers true where SQL answers NULL). The differential tester found
//! it (`tests/found_by_difftest.rs`).
//!
//! The NULLs' meaning does not need the list: `x IN (a, NULL)` is `x IN (a) OR NULL` (true where `x` is `a`,
//! else NULL), and `x NOT IN (a, NULL)` is `x NOT IN (a) AND NULL` (false where `x` is `a`, else NULL); a list
//! of NULLs alone is NULL. Lists so written hold no NULL for the simplifier to lose, and answer the same.
//! Not an optimisation but a correction: it always runs, first of the logical rules. It also gives a list
//! holding a floating-point zero the other zero: DataFusion's set of the values compares floats by their bits
//! (`-0.0 IN (0.0, 5.0, 6.0, 7.0)` was false, though `-0.0 = 0.0`), which the differential tester found too.

use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct InListNulls;

impl OptimizerRule for InListNulls {
    fn name(&self) -> &str {
        "owl_in_list_nulls"
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
        let names = NamePreserver::new(&plan);
        plan.map_expressions(|e| {
            let name = names.save(&e);
            Ok(e.transform_up(without_nulls)?
                .update_data(|e| name.restore(e)))
        })
    }
}

/// Whether `e` is a NULL literal (of any type, or cast to one).
fn is_null(e: &Expr) -> bool {
    match e {
        Expr::Literal(v, _) => v.is_null(),
        Expr::Cast(c) => is_null(&c.expr),
        Expr::TryCast(c) => is_null(&c.expr),
        _ => false,
    }
}

/// The other zero of a floating-point zero literal: DataFusion's set of an `IN` list's values compares floats
/// by their bits, so `-0.0 IN (0.0, 5.0, 6.0, 7.0)` was false, where `-0.0 = 0.0` is true (SQL, IEEE 754).
fn other_zero(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Literal(ScalarValue::Float64(Some(z)), m) if *z == 0.0 => {
            Some(Expr::Literal(ScalarValue::Float64(Some(-z)), m.clone()))
        }
        Expr::Literal(ScalarValue::Float32(Some(z)), m) if *z == 0.0 => {
            Some(Expr::Literal(ScalarValue::Float32(Some(-z)), m.clone()))
        }
        _ => None,
    }
}

fn without_nulls(e: Expr) -> Result<Transformed<Expr>> {
    let Expr::InList(InList {
        expr,
        mut list,
        negated,
    }) = e
    else {
        return Ok(Transformed::no(e));
    };
    let zeros: Vec<Expr> = list
        .iter()
        .filter_map(other_zero)
        .filter(|z| !list.iter().any(|e| e == z))
        .collect();
    let added = !zeros.is_empty();
    list.extend(zeros);
    if !list.iter().any(is_null) {
        if added {
            return Ok(Transformed::yes(Expr::InList(InList {
                expr,
                list,
                negated,
            })));
        }
        return Ok(Transformed::no(Expr::InList(InList {
            expr,
            list,
            negated,
        })));
    }
    let null = Expr::Literal(ScalarValue::Boolean(None), None);
    let values: Vec<Expr> = list.into_iter().filter(|v| !is_null(v)).collect();
    if values.is_empty() {
        return Ok(Transformed::yes(null));
    }
    let kept = Expr::InList(InList {
        expr,
        list: values,
        negated,
    });
    Ok(Transformed::yes(if negated {
        kept.and(null)
    } else {
        kept.or(null)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{SessionContext, col, lit};

    #[test]
    fn nulls_leave_the_list_and_keep_their_meaning() {
        let x = || col("x");
        let null = || Expr::Literal(ScalarValue::Int64(None), None);
        let fixed = |e: Expr| without_nulls(e).unwrap().data.to_string();
        assert_eq!(
            fixed(x().in_list(vec![lit(1i64), null()], false)),
            "x IN ([Int64(1)]) OR Boolean(NULL)"
        );
        assert_eq!(
            fixed(x().in_list(vec![lit(1i64), null()], true)),
            "x NOT IN ([Int64(1)]) AND Boolean(NULL)"
        );
        assert_eq!(fixed(x().in_list(vec![null()], true)), "Boolean(NULL)");
        assert_eq!(
            fixed(x().in_list(vec![lit(1i64)], false)),
            "x IN ([Int64(1)])"
        );
    }

    #[tokio::test]
    async fn answers_are_sqls_where_the_simplifier_merged_lists_with_nulls() {
        let ctx = SessionContext::new();
        let state = ctx.state();
        let mut rules = state.optimizers().to_vec();
        rules.insert(0, std::sync::Arc::new(InListNulls));
        let ctx = SessionContext::new_with_state(
            datafusion::execution::SessionStateBuilder::new_from_existing(state)
                .with_optimizer_rules(rules)
                .build(),
        );
        let sql = "SELECT x, x IN (16, 0, NULL) AND x NOT IN (0, 10, NULL) AS a, \
                   NOT (x NOT IN (16, 0, NULL) OR x IN (0, 10, NULL)) AS b \
                   FROM (VALUES (16), (5), (0)) t(x) ORDER BY x";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("| "))
            .skip(1)
            .collect();
        assert_eq!(
            rows,
            [
                "| 0  | false | false |",
                "| 5  |       |       |",
                "| 16 |       |       |"
            ],
            "{text}"
        );
    }
}
