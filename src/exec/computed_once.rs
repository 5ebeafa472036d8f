//! `ComputedOnceExec`: where a statement reads a shared subquery's result (see `optimizer::computed_once`). As
//! planned for an estimate or EXPLAIN, the subquery is not run: [`Pending`] is a table of its schema and
//! estimated size, and its scan cannot be executed.

use arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use std::sync::Arc;

/// A shared subquery that is planned but not run (estimates and EXPLAIN): a table of its schema and estimated
/// size whose scan cannot be executed.
#[derive(Debug)]
pub struct Pending {
    pub alias: String,
    pub schema: SchemaRef,
    pub stats: Arc<Statistics>,
}

#[async_trait::async_trait]
impl TableProvider for Pending {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        let stats = self.stats.as_ref().clone().project(projection);
        Ok(Arc::new(ComputedOnceExec {
            alias: self.alias.clone(),
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema),
                Partitioning::UnknownPartitioning(1),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
            stats: Arc::new(stats),
        }))
    }
}

/// The scan of a [`Pending`] subquery: shown by EXPLAIN as where its computed result is read.
#[derive(Debug)]
struct ComputedOnceExec {
    alias: String,
    properties: Arc<PlanProperties>,
    stats: Arc<Statistics>,
}

impl DisplayAs for ComputedOnceExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "ComputedOnceExec: {} (its result, from memory)",
            self.alias
        )
    }
}

impl ExecutionPlan for ComputedOnceExec {
    fn name(&self) -> &str {
        "ComputedOnceExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&self.stats))
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(format!(
            "the shared subquery `{}` was planned for an estimate, not run",
            self.alias
        )))
    }
}
