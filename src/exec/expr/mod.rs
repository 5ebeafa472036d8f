//! Physical expressions owl's rules put in plans.
//!
//! - `keys`: the shared key-set types: [`keys::KeySet`] and [`keys::KeyBits`] (a join's keys as a bitmap or a
//!   hash set), [`keys::BuildKeys`] (a join's build-side keys as they are gathered), [`keys::GatheredKeys`].
//! - `key_hint`: [`key_hint::KeyHint`], a join's run-time filter in a form Parquet pruning reads.
//! - `conjunction`: a filter's ANDed conditions evaluated in turn over one bitmap.
//! - `decimal`: decimal `+ - *` checked for overflow once a batch.
//! - `view_eq`: `column = 'text'` and `IN` over string views, one 16-byte compare a row.
//! - `json`: Athena's JSON functions over JSON text (`json_extract_scalar`, `json_extract`, `json_array_length`),
//!   registered in every session.

pub mod conjunction;
pub mod decimal;
pub mod json;
pub mod key_hint;
pub mod keys;
pub mod view_eq;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, internal_err};
use datafusion::error::Result;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use std::sync::Arc;

/// The only child given to an expression that takes one (its `with_new_children`); an internal error that says
/// what `expr` takes otherwise.
pub(crate) fn one_child(
    children: Vec<Arc<dyn PhysicalExpr>>,
    expr: &str,
) -> Result<Arc<dyn PhysicalExpr>> {
    match <[_; 1]>::try_from(children) {
        Ok([child]) => Ok(child),
        Err(children) => internal_err!("{expr} takes one child, not {}", children.len()),
    }
}

/// Where a condition's answer (of `rows` rows) is true: NULL and false alike are not.
pub(crate) fn truth(value: ColumnarValue, rows: usize) -> Result<BooleanBuffer> {
    match value {
        ColumnarValue::Scalar(ScalarValue::Boolean(Some(b))) => Ok(if b {
            BooleanBuffer::new_set(rows)
        } else {
            BooleanBuffer::new_unset(rows)
        }),
        ColumnarValue::Scalar(s) if s.is_null() => Ok(BooleanBuffer::new_unset(rows)),
        ColumnarValue::Scalar(s) => internal_err!("a filter's condition answered {s:?}"),
        ColumnarValue::Array(a) => {
            if a.len() != rows {
                return internal_err!("a filter's condition answered {} rows of {rows}", a.len());
            }
            if a.data_type() == &DataType::Null {
                return Ok(BooleanBuffer::new_unset(rows));
            }
            let Some(b) = a.as_boolean_opt() else {
                return internal_err!("a filter's condition answered {}", a.data_type());
            };
            Ok(match b.nulls() {
                Some(nulls) if nulls.null_count() > 0 => b.values() & nulls.inner(),
                _ => b.values().clone(),
            })
        }
    }
}

/// How owl's expressions travel to a cluster's executors (`cluster::codec`): the expression's kind and its own
/// settings (JSON); its children travel as DataFusion encodes expressions. None for an expression that does
/// not travel (the run-time key filters, which point at a join's state in the same process).
pub(crate) fn travelling(expr: &dyn PhysicalExpr) -> Option<(&'static str, serde_json::Value)> {
    if let Some(e) = expr.downcast_ref::<view_eq::ViewEquals>() {
        Some((view_eq::KIND, e.settings()))
    } else if let Some(e) = expr.downcast_ref::<decimal::DecimalArith>() {
        Some((decimal::KIND, e.settings()?))
    } else {
        let e = expr.downcast_ref::<conjunction::Conjunction>()?;
        Some((conjunction::KIND, e.settings()))
    }
}

/// The expression [`travelling`] described, over its decoded `children`.
pub(crate) fn arrived(
    kind: &str,
    settings: serde_json::Value,
    children: Vec<Arc<dyn PhysicalExpr>>,
) -> Result<Arc<dyn PhysicalExpr>> {
    let bad = |e: serde_json::Error| {
        datafusion::error::DataFusionError::Internal(format!(
            "an expression `{kind}` from the cluster: {e}"
        ))
    };
    match kind {
        view_eq::KIND => {
            view_eq::ViewEquals::arrived(serde_json::from_value(settings).map_err(bad)?, children)
        }
        decimal::KIND => {
            decimal::DecimalArith::arrived(serde_json::from_value(settings).map_err(bad)?, children)
        }
        conjunction::KIND => conjunction::Conjunction::arrived(
            serde_json::from_value(settings).map_err(bad)?,
            children,
        ),
        _ => internal_err!(
            "an expression `{kind}` from the cluster: is every process the same `owl` version?"
        ),
    }
}
