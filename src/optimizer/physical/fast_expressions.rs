//! Faster forms of some of DataFusion's expressions, put in the plan after every other physical rule: string
//! views compared with literals (`view_eq`) and decimal arithmetic checked once a batch (`decimal`). They
//! replace expressions in filters (`FilterExec`), projections (`ProjectionExec`) and aggregate arguments
//! (`sum(l_extendedprice * (1 - l_discount))`); a scan's own predicate (used for pruning) and the expressions
//! DataFusion moves into a scan's projection keep DataFusion's forms.
//! Each gives DataFusion's answers; `SET owl.string_view_equality = false` and `SET owl.decimal_batch_checks =
//! false` turn them off.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateInputMode};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

use crate::config::options;
use crate::exec::expr::{conjunction, decimal, view_eq};

/// The rule: see the module's documentation.
#[derive(Debug)]
pub(crate) struct FastExpressions;

impl PhysicalOptimizerRule for FastExpressions {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // Runs when one of its three switches is on (`optimizer::RULES`); each part checks its own.
        let options = options::of_config(config);
        let faster =
            |expr: &Arc<dyn PhysicalExpr>, schema: &Schema| -> Result<Arc<dyn PhysicalExpr>> {
                Arc::clone(expr)
                    .transform_up(|e| {
                        if options.decimal_batch_checks
                            && let Some(d) = decimal::rewrite(&e, schema)
                        {
                            return Ok(Transformed::yes(d));
                        }
                        if options.string_view_equality {
                            return Ok(view_eq::rewrite(e, schema));
                        }
                        Ok(Transformed::no(e))
                    })
                    .data()
            };
        plan.transform_up(|node| {
            let schema = match node.children().first() {
                Some(input) => input.schema(),
                None => return Ok(Transformed::no(node)),
            };
            let rebuilt: Option<Arc<dyn ExecutionPlan>> = if let Some(filter) =
                node.downcast_ref::<FilterExec>()
            {
                let mut predicate = faster(filter.predicate(), &schema)?;
                if options.filter_conjunctions
                    && let Some(c) = conjunction::rewrite(&predicate)
                {
                    predicate = c;
                }
                (!Arc::ptr_eq(&predicate, filter.predicate()))
                    .then(|| {
                        FilterExecBuilder::from(filter)
                            .with_predicate(predicate)
                            .build()
                            .map(|f| Arc::new(f) as Arc<dyn ExecutionPlan>)
                    })
                    .transpose()?
            } else if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
                let mut changed = false;
                let exprs = projection
                    .expr()
                    .iter()
                    .map(|p| {
                        let expr = faster(&p.expr, &schema)?;
                        changed |= !Arc::ptr_eq(&expr, &p.expr);
                        Ok(ProjectionExpr {
                            expr,
                            alias: p.alias.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                changed
                    .then(|| {
                        ProjectionExec::try_new_with_schema_metadata(
                            exprs,
                            Arc::clone(projection.input()),
                            &projection.schema(),
                        )
                        .map(|p| Arc::new(p) as Arc<dyn ExecutionPlan>)
                    })
                    .transpose()?
            } else if let Some(aggregate) = node.downcast_ref::<AggregateExec>()
                // Only where the arguments are evaluated: a final aggregate merges states.
                && aggregate.mode().input_mode() == AggregateInputMode::Raw
            {
                let mut changed = false;
                let aggregates = aggregate
                    .aggr_expr()
                    .iter()
                    .map(|a| {
                        let args = a.expressions();
                        let new_args = args
                            .iter()
                            .map(|e| faster(e, &schema))
                            .collect::<Result<Vec<_>>>()?;
                        if args.iter().zip(&new_args).all(|(x, y)| Arc::ptr_eq(x, y)) {
                            return Ok(Arc::clone(a));
                        }
                        let order_by = a.order_bys().iter().map(|s| Arc::clone(&s.expr)).collect();
                        match a.with_new_expressions(new_args, order_by) {
                            Some(new) => {
                                changed = true;
                                Ok(Arc::new(new))
                            }
                            None => Ok(Arc::clone(a)),
                        }
                    })
                    .collect::<Result<Vec<_>, DataFusionError>>()?;
                changed.then(|| {
                    Arc::new(aggregate.with_new_aggr_exprs(aggregates)) as Arc<dyn ExecutionPlan>
                })
            } else {
                None
            };
            Ok(match rebuilt {
                Some(plan) => Transformed::yes(plan),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "owl_fast_expressions"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
