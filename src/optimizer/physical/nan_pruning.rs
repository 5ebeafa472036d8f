//! `owl_nan_safe_pruning`, a correction (always on, no switch): a Parquet scan prunes nothing by a condition on
//! a floating-point column.
//!
//! Parquet leaves NaN out of a float column's min/max (row groups, pages, and so the registry's bounds read from
//! footers), while DataFusion compares floats in their total order: NaN is above every number (and a NaN with its
//! sign bit set, which hardware gives for `0.0 / 0.0`, below every number), and NaN = NaN. So `x > 2.25`, `x <> 3`
//! or `x < 0` can hold for rows of a row group, page or file whose bounds say none can: DataFusion skipped them
//! and lost the NaN rows (apache/datafusion#15812; found by the differential tester's NaN values, the Parquet copy
//! answering fewer rows than the CSV copy, with every owl switch off too).
//!
//! Each conjunct of a Parquet scan's predicate that reads a float column (a struct's float field too) is written
//! `CASE WHEN p THEN true ELSE false END`: row by row it passes the rows `p` passes (a filter drops NULL and false
//! alike), and DataFusion's pruning does not look inside a `CASE`, so it keeps every row group, page and file for
//! it. The other conjuncts prune as before. Dynamic filters (a join's keys, a top-k's bound) on float columns are
//! conjuncts too, so they are wrapped before owl's rules hint them (`join_key_pruning` wraps inside the `CASE`).

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::physical_plan::FileSource;
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CaseExpr, lit};
use datafusion::physical_expr::utils::{collect_columns, conjunction, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// The rule; see the module.
#[derive(Debug, Default)]
pub struct NanSafePruning;

impl PhysicalOptimizerRule for NanSafePruning {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(nan_safe_scan).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "owl_nan_safe_pruning"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether a value of `dt` is, or holds, a float.
fn holds_float(dt: &DataType) -> bool {
    match dt {
        DataType::Float16 | DataType::Float32 | DataType::Float64 => true,
        DataType::Struct(fields) => fields.iter().any(|f| holds_float(f.data_type())),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => holds_float(f.data_type()),
        DataType::Dictionary(_, v) => holds_float(v),
        _ => false,
    }
}

/// Whether `e` reads a column of `schema` that is, or holds, a float.
fn reads_float(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> bool {
    collect_columns(e).iter().any(|c| {
        schema
            .field_with_name(c.name())
            .is_ok_and(|f| holds_float(f.data_type()))
    })
}

/// Already written as this rule writes it.
fn is_wrapped(e: &Arc<dyn PhysicalExpr>) -> bool {
    crate::exec::expr::key_hint::nan_safe_inner(e).is_some()
}

/// The Parquet scan `node` with its float conjuncts out of pruning's sight; unchanged when it has none.
fn nan_safe_scan(node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some((config, parquet, predicate)) = super::filtered_parquet_scan(&node) else {
        return Ok(Transformed::no(node));
    };
    let schema = FileSource::table_schema(parquet).table_schema();
    let conjuncts = split_conjunction(&predicate);
    if !conjuncts
        .iter()
        .any(|c| reads_float(c, schema) && !is_wrapped(c))
    {
        return Ok(Transformed::no(node));
    }
    let wrapped = conjuncts
        .into_iter()
        .map(|c| {
            if reads_float(c, schema) && !is_wrapped(c) {
                let yes = lit(ScalarValue::Boolean(Some(true)));
                let no = lit(ScalarValue::Boolean(Some(false)));
                Ok(Arc::new(CaseExpr::try_new(
                    None,
                    vec![(Arc::clone(c), yes)],
                    Some(no),
                )?) as Arc<dyn PhysicalExpr>)
            } else {
                Ok(Arc::clone(c))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Transformed::yes(super::with_parquet_filter(
        config,
        parquet,
        conjunction(wrapped),
    )))
}
