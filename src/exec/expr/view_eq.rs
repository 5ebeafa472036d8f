//! `column = 'text'` and `column IN ('a', 'b')` over string views, one 16-byte compare a row.
//!
//! Parquet strings reach DataFusion as `Utf8View`: each row a 16-byte view holding its length and, up to 12
//! bytes, the string itself (zero-padded), else its first 4 bytes and where the rest lies. arrow-ord compares
//! such a column with a literal row by row through its general view comparison (both sides' lengths, prefixes
//! and buffers, the literal re-read each time): 14.8% of TPC-H q12's CPU (`l_shipmode = 'MAIL' OR l_shipmode =
//! 'SHIP'`, 6M rows), and the same shape filters q10, q19 and q21. With the literal's view made once, a row
//! equals a literal of at most 12 bytes exactly when its view equals the literal's view (a longer row's
//! length differs; arrow-rs itself relies on the zero padding); against a longer literal, the length and
//! prefix (the view's low 8 bytes) decide most rows and only a match reads the row's bytes.
//!
//! A physical rule (`optimizer::physical::fast_expressions`) rewrites those comparisons in filters and projections into
//! [`ViewEquals`] (the scan's own predicate, used for pruning, keeps DataFusion's expressions). The answers are the
//! same (tested against arrow-ord, nulls included); `SET owl.string_view_equality = false` keeps DataFusion's.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::builder::make_view;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, StringViewArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, Literal};

/// `expr` as a [`ViewEquals`] where it is a string-view column compared for (in)equality with literals.
pub(crate) fn rewrite(
    expr: Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> Transformed<Arc<dyn PhysicalExpr>> {
    let found = if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
        let negated = match b.op() {
            Operator::Eq => Some(false),
            Operator::NotEq => Some(true),
            _ => None,
        };
        let (column, literal) = match (text(b.left()), text(b.right())) {
            (None, Some(s)) => (b.left(), s),
            (Some(s), None) => (b.right(), s),
            _ => return Transformed::no(expr),
        };
        negated.map(|negated| (column, vec![literal], negated))
    } else if let Some(list) = expr.downcast_ref::<InListExpr>() {
        list.list()
            .iter()
            .map(text)
            .collect::<Option<Vec<_>>>()
            .map(|literals| (list.expr(), literals, list.negated()))
    } else {
        None
    };
    let Some((column, literals, negated)) = found else {
        return Transformed::no(expr);
    };
    let is_view = column.downcast_ref::<Column>().is_some()
        && column.data_type(schema).ok() == Some(DataType::Utf8View);
    if !is_view || literals.is_empty() {
        return Transformed::no(expr);
    }
    Transformed::yes(Arc::new(ViewEquals::new(
        Arc::clone(column),
        literals,
        negated,
    )))
}

/// The text of a non-null string literal.
fn text(expr: &Arc<dyn PhysicalExpr>) -> Option<String> {
    match expr.downcast_ref::<Literal>()?.value() {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

/// `column = literal` (one literal), `column IN (literals)`, or their negations, over a `Utf8View` column: null
/// where the row is null, as SQL's comparison.
#[derive(Debug, Eq)]
pub(crate) struct ViewEquals {
    column: Arc<dyn PhysicalExpr>,
    literals: Vec<String>,
    negated: bool,
    /// Each literal's view (its length and prefix only, where it is longer than 12 bytes).
    views: Vec<u128>,
}

impl PartialEq for ViewEquals {
    fn eq(&self, other: &Self) -> bool {
        self.column.eq(&other.column)
            && self.literals == other.literals
            && self.negated == other.negated
    }
}

impl Hash for ViewEquals {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.column.hash(state);
        self.literals.hash(state);
        self.negated.hash(state);
    }
}

/// Its name when it travels to a cluster (`super::travelling`).
pub(crate) const KIND: &str = "view_equals";

/// What a [`ViewEquals`] is besides its column.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Settings {
    literals: Vec<String>,
    negated: bool,
}

impl ViewEquals {
    pub(crate) fn settings(&self) -> serde_json::Value {
        serde_json::json!(Settings {
            literals: self.literals.clone(),
            negated: self.negated,
        })
    }

    pub(crate) fn arrived(
        settings: Settings,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let column = super::one_child(children, "a view comparison")?;
        Ok(Arc::new(ViewEquals::new(
            column,
            settings.literals,
            settings.negated,
        )))
    }

    pub(crate) fn new(column: Arc<dyn PhysicalExpr>, literals: Vec<String>, negated: bool) -> Self {
        let views = literals
            .iter()
            .map(|s| make_view(s.as_bytes(), 0, 0))
            .collect();
        ViewEquals {
            column,
            literals,
            negated,
            views,
        }
    }

    fn matches(&self, array: &StringViewArray) -> BooleanBuffer {
        let views = array.views();
        let short = self.literals.iter().all(|s| s.len() <= 12);
        let hit = |i: usize| -> bool {
            let view = views[i];
            self.views
                .iter()
                .zip(&self.literals)
                .any(|(&want, literal)| {
                    if literal.len() <= 12 {
                        view == want
                    } else {
                        // Length and prefix first; the bytes only where both agree (a null row's view
                        // need not point anywhere: not read).
                        view as u64 == want as u64
                            && array.is_valid(i)
                            && array.value(i).as_bytes() == literal.as_bytes()
                    }
                })
        };
        match (short, self.views.as_slice()) {
            (true, &[want]) => {
                BooleanBuffer::collect_bool(views.len(), |i| (views[i] == want) != self.negated)
            }
            (true, &[a, b]) => BooleanBuffer::collect_bool(views.len(), |i| {
                (views[i] == a || views[i] == b) != self.negated
            }),
            (true, wanted) => BooleanBuffer::collect_bool(views.len(), |i| {
                wanted.contains(&views[i]) != self.negated
            }),
            (false, _) => BooleanBuffer::collect_bool(views.len(), |i| hit(i) != self.negated),
        }
    }
}

/// As DataFusion shows the comparison, marked `(by view)` in plans.
impl fmt::Display for ViewEquals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.literals.as_slice(), self.negated) {
            ([one], false) => write!(f, "{} = {one}", self.column)?,
            ([one], true) => write!(f, "{} != {one}", self.column)?,
            (all, negated) => write!(
                f,
                "{}{} IN ({})",
                self.column,
                if negated { " NOT" } else { "" },
                all.join(", ")
            )?,
        }
        write!(f, " (by view)")
    }
}

impl PhysicalExpr for ViewEquals {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.column.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let array = self.column.evaluate(batch)?.into_array(batch.num_rows())?;
        let views = array.as_string_view();
        let values = self.matches(views);
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
            values,
            views.logical_nulls(),
        ))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.column]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let column = super::one_child(children, "a view comparison")?;
        Ok(Arc::new(ViewEquals::new(
            column,
            self.literals.clone(),
            self.negated,
        )))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self
            .literals
            .iter()
            .map(|s| format!("'{}'", s.replace('\'', "''")))
            .collect();
        self.column.fmt_sql(f)?;
        match (quoted.as_slice(), self.negated) {
            ([one], false) => write!(f, " = {one}"),
            ([one], true) => write!(f, " != {one}"),
            (all, negated) => write!(
                f,
                "{} IN ({})",
                if negated { " NOT" } else { "" },
                all.join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::ArrayRef;
    use datafusion::arrow::compute::kernels::cmp;
    use datafusion::arrow::datatypes::Field;
    use proptest::prelude::*;

    fn batch(rows: &[Option<&str>]) -> RecordBatch {
        let array: ArrayRef = Arc::new(StringViewArray::from(rows.to_vec()));
        let schema = Schema::new(vec![Field::new("s", DataType::Utf8View, true)]);
        RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap()
    }

    /// What arrow-ord answers: `s = l1 OR s = l2 ...`, negated as a whole.
    fn reference(rows: &[Option<&str>], literals: &[String], negated: bool) -> BooleanArray {
        let array = StringViewArray::from(rows.to_vec());
        let mut any: Option<BooleanArray> = None;
        for l in literals {
            let eq = cmp::eq(&array, &StringViewArray::new_scalar(l)).unwrap();
            any = Some(match any {
                None => eq,
                Some(a) => datafusion::arrow::compute::or_kleene(&a, &eq).unwrap(),
            });
        }
        let any = any.unwrap();
        if negated {
            datafusion::arrow::compute::not(&any).unwrap()
        } else {
            any
        }
    }

    fn evaluated(rows: &[Option<&str>], literals: &[String], negated: bool) -> BooleanArray {
        let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new("s", 0));
        let expr = ViewEquals::new(column, literals.to_vec(), negated);
        let out = expr
            .evaluate(&batch(rows))
            .unwrap()
            .into_array(rows.len())
            .unwrap();
        out.as_boolean().clone()
    }

    #[test]
    fn short_and_long_literals_answer_as_arrow_ord() {
        let rows = [
            Some("MAIL"),
            Some("SHIP"),
            None,
            Some(""),
            Some("MAI"),
            Some("MAIL "),
            Some("twelve bytes"),
            Some("twelve bytes!"),
            Some("DELIVER IN PERSON"),
            Some("DELIVER IN PERSONS"),
            Some("DELIVERY IN PERSON"),
        ];
        for literals in [
            vec!["MAIL"],
            vec!["MAIL", "SHIP"],
            vec![""],
            vec!["twelve bytes"],
            vec!["twelve bytes!"],
            vec!["DELIVER IN PERSON"],
            vec!["MAIL", "SHIP", "AIR", "DELIVER IN PERSON"],
            vec!["nowhere"],
        ] {
            let literals: Vec<String> = literals.into_iter().map(String::from).collect();
            for negated in [false, true] {
                assert_eq!(
                    evaluated(&rows, &literals, negated),
                    reference(&rows, &literals, negated),
                    "{literals:?} negated={negated}"
                );
            }
        }
    }

    #[test]
    fn the_rule_rewrites_string_view_comparisons_and_nothing_else() {
        let schema = Schema::new(vec![
            Field::new("v", DataType::Utf8View, true),
            Field::new("u", DataType::Utf8, true),
        ]);
        let v: Arc<dyn PhysicalExpr> = Arc::new(Column::new("v", 0));
        let u: Arc<dyn PhysicalExpr> = Arc::new(Column::new("u", 1));
        let lit = |s: &str| -> Arc<dyn PhysicalExpr> {
            Arc::new(Literal::new(ScalarValue::Utf8View(Some(s.into()))))
        };
        let rewritten = |e: Arc<dyn PhysicalExpr>| rewrite(e, &schema).transformed;
        let eq = |l, op, r| -> Arc<dyn PhysicalExpr> { Arc::new(BinaryExpr::new(l, op, r)) };
        assert!(rewritten(eq(Arc::clone(&v), Operator::Eq, lit("MAIL"))));
        assert!(rewritten(eq(lit("MAIL"), Operator::NotEq, Arc::clone(&v))));
        assert!(!rewritten(eq(Arc::clone(&v), Operator::Lt, lit("MAIL"))));
        assert!(!rewritten(eq(Arc::clone(&u), Operator::Eq, lit("MAIL"))));
        assert!(!rewritten(eq(Arc::clone(&v), Operator::Eq, Arc::clone(&v))));
        let null: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::Utf8View(None)));
        assert!(!rewritten(eq(Arc::clone(&v), Operator::Eq, null)));
        let list = |items: Vec<Arc<dyn PhysicalExpr>>, negated| -> Arc<dyn PhysicalExpr> {
            Arc::new(InListExpr::try_new(Arc::clone(&v), items, negated, &schema).unwrap())
        };
        assert!(rewritten(list(vec![lit("a"), lit("b"), lit("c")], true)));
        assert!(!rewritten(list(vec![lit("a"), Arc::clone(&v)], false)));
    }

    proptest! {
        #[test]
        fn any_strings_answer_as_arrow_ord(
            rows in prop::collection::vec(prop::option::of("[ab]{0,14}"), 0..40),
            literals in prop::collection::vec("[ab]{0,14}", 1..4),
            negated in any::<bool>(),
        ) {
            let rows: Vec<Option<&str>> = rows.iter().map(|r| r.as_deref()).collect();
            prop_assert_eq!(evaluated(&rows, &literals, negated), reference(&rows, &literals, negated));
        }
    }
}
