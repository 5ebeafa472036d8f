//! `IS [NOT] DISTINCT FROM` bound as SQL binds it. sqlparser reads its right side as a whole expression, so
//! `a IS NOT DISTINCT FROM b AND c` parses as `a IS NOT DISTINCT FROM (b AND c)`; Trino (Athena) and
//! PostgreSQL bind `IS` tighter than `AND` and `OR`: `(a IS NOT DISTINCT FROM b) AND c`. On booleans the two
//! readings give different answers (`false IS NOT DISTINCT FROM false AND false` is false, not true), on other
//! types the misreading fails to plan. A right side that is an unparenthesized `AND` or `OR` (parentheses the
//! user wrote stay: `Expr::Nested`) is taken apart again, its first operand the comparison's.

use datafusion::sql::parser::{CopyToSource, Statement};
use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, visit_expressions_mut};
use std::ops::ControlFlow;

/// Every `IS [NOT] DISTINCT FROM` of `statement` bound as SQL binds it.
pub(crate) fn rebind(statement: &mut Statement) {
    match statement {
        Statement::Statement(s) => {
            let _ = visit_expressions_mut(s.as_mut(), fix);
        }
        Statement::CopyTo(copy) => {
            if let CopyToSource::Query(q) = &mut copy.source {
                let _ = visit_expressions_mut(q.as_mut(), fix);
            }
        }
        Statement::Explain(explain) => rebind(&mut explain.statement),
        Statement::CreateExternalTable(_) | Statement::Reset(_) => {}
    }
}

fn fix(expr: &mut Expr) -> ControlFlow<()> {
    let taken = std::mem::replace(
        expr,
        Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()),
    );
    *expr = match taken {
        Expr::IsDistinctFrom(a, b) => rotate(a, *b, Expr::IsDistinctFrom),
        Expr::IsNotDistinctFrom(a, b) => rotate(a, *b, Expr::IsNotDistinctFrom),
        other => other,
    };
    ControlFlow::Continue(())
}

/// `a <make> b` where `b` may be `x AND y` (or OR, nested to the left): `(a <make> x) AND y`.
fn rotate(a: Box<Expr>, b: Expr, make: fn(Box<Expr>, Box<Expr>) -> Expr) -> Expr {
    match b {
        Expr::BinaryOp {
            left,
            op: op @ (BinaryOperator::And | BinaryOperator::Or),
            right,
        } => Expr::BinaryOp {
            left: Box::new(rotate(a, *left, make)),
            op,
            right,
        },
        b => make(a, Box::new(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::parser::DFParser;
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    fn bound(sql: &str) -> String {
        let mut s = DFParser::parse_sql_with_dialect(sql, &GenericDialect {})
            .unwrap()
            .pop_front()
            .unwrap();
        rebind(&mut s);
        s.to_string()
    }

    #[test]
    fn is_distinct_from_binds_tighter_than_and_and_or() {
        assert_eq!(
            bound("SELECT a IS NOT DISTINCT FROM b AND c FROM t"),
            "SELECT a IS NOT DISTINCT FROM b AND c FROM t"
        );
        let mut s = DFParser::parse_sql_with_dialect(
            "SELECT * FROM t WHERE a IS DISTINCT FROM b AND c OR d AND e IS NOT DISTINCT FROM f OR g",
            &GenericDialect {},
        )
        .unwrap()
        .pop_front()
        .unwrap();
        rebind(&mut s);
        let Statement::Statement(stmt) = s else {
            panic!()
        };
        let mut shapes = Vec::new();
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(stmt.as_ref(), |e| {
            if let Expr::IsDistinctFrom(_, r) | Expr::IsNotDistinctFrom(_, r) = e {
                shapes.push(r.to_string());
            }
            ControlFlow::<()>::Continue(())
        });
        // Each comparison's right side is one operand, not the rest of the condition.
        assert_eq!(shapes, ["b", "f"]);
        // Parentheses the user wrote stay.
        assert!(bound("SELECT a IS DISTINCT FROM (b AND c) FROM t").contains("(b AND c)"));
        // Inside a join's condition, an EXPLAIN and a COPY's query.
        let on =
            bound("EXPLAIN SELECT 1 FROM t JOIN u ON t.k IS NOT DISTINCT FROM u.k AND t.x = u.x");
        assert!(
            on.contains("ON t.k IS NOT DISTINCT FROM u.k AND t.x = u.x"),
            "{on}"
        );
    }
}
