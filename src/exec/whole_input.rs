//! A computation that needs its whole input before it can answer (Glue's FindMatches, a forecast): one logical
//! node, [`WholeInputNode`], and one physical node, [`WholeInputExec`], for every such [`WholeInput`]. The
//! physical node reads its input as one partition, under a reservation of the memory pool (a query over the
//! pool's limit fails with DataFusion's "resources exhausted" naming it), then emits what the computation makes.
//!
//! The invariant: the computation sees every input row once and nothing else; its output's schema is the one
//! the logical node announced.

use arrow::array::RecordBatch;
use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef, DataFusionError, Result, TableReference};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What a whole-input node computes.
pub trait WholeInput: fmt::Debug + Send + Sync {
    /// The node's name in plans (`FindMatches`); the physical node's is this with `Exec` after it.
    fn name(&self) -> &'static str;
    /// Its parameters, for `EXPLAIN` and for telling two nodes apart, with the input's columns named.
    fn describe(&self, input: &Schema) -> String;
    /// The output's columns, with their qualifiers, from the input's.
    fn output(&self, input: &DFSchema) -> Result<Vec<(Option<TableReference>, FieldRef)>>;
    /// The output rows from every input row (`schema` is the output's).
    fn compute(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>>;
}

/// The logical node.
#[derive(Debug, Clone)]
pub struct WholeInputNode {
    pub input: LogicalPlan,
    pub op: Arc<dyn WholeInput>,
    pub schema: DFSchemaRef,
}

impl WholeInputNode {
    pub fn try_new(input: LogicalPlan, op: Arc<dyn WholeInput>) -> Result<Self> {
        let fields = op.output(input.schema())?;
        let schema = Arc::new(DFSchema::new_with_metadata(fields, HashMap::new())?);
        Ok(WholeInputNode { input, op, schema })
    }

    /// The node as a plan.
    pub fn plan(input: LogicalPlan, op: Arc<dyn WholeInput>) -> Result<LogicalPlan> {
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(WholeInputNode::try_new(input, op)?),
        }))
    }

    fn key(&self) -> String {
        format!(
            "{}: {}",
            self.op.name(),
            self.op.describe(self.input.schema().as_arrow())
        )
    }
}

impl PartialEq for WholeInputNode {
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input && self.key() == other.key()
    }
}
impl Eq for WholeInputNode {}
impl Hash for WholeInputNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.input.hash(state);
        self.key().hash(state);
    }
}
impl PartialOrd for WholeInputNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        (self == other).then_some(std::cmp::Ordering::Equal)
    }
}

impl UserDefinedLogicalNodeCore for WholeInputNode {
    fn name(&self) -> &str {
        self.op.name()
    }
    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }
    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }
    fn expressions(&self) -> Vec<Expr> {
        vec![]
    }
    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.key())
    }
    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> Result<Self> {
        let input = inputs.pop().ok_or_else(|| {
            DataFusionError::Internal(format!("{} takes one input", self.op.name()))
        })?;
        WholeInputNode::try_new(input, Arc::clone(&self.op))
    }
    fn necessary_children_exprs(&self, _output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        // The computation may read any input column: none is pruned below.
        None
    }
}

/// Plans [`WholeInputNode`] as [`WholeInputExec`].
#[derive(Debug)]
pub struct Planner;

#[async_trait::async_trait]
impl datafusion::physical_planner::ExtensionPlanner for Planner {
    async fn plan_extension(
        &self,
        _planner: &dyn datafusion::physical_planner::PhysicalPlanner,
        node: &dyn datafusion::logical_expr::UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn datafusion::catalog::Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<WholeInputNode>() else {
            return Ok(None);
        };
        let [input] = physical_inputs else {
            return Err(DataFusionError::Internal(format!(
                "{} takes one input",
                node.op.name()
            )));
        };
        Ok(Some(Arc::new(WholeInputExec::new(
            Arc::clone(input),
            Arc::clone(&node.op),
            Arc::clone(node.schema.inner()),
        ))))
    }
}

/// The physical node: reads its whole input (one partition), then emits what the computation makes of it.
#[derive(Debug)]
pub struct WholeInputExec {
    input: Arc<dyn ExecutionPlan>,
    op: Arc<dyn WholeInput>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    name: String,
}

impl WholeInputExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, op: Arc<dyn WholeInput>, schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        let name = format!("{}Exec", op.name());
        WholeInputExec {
            input,
            op,
            schema,
            properties,
            name,
        }
    }
}

impl DisplayAs for WholeInputExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.name,
            self.op.describe(&self.input.schema())
        )
    }
}

impl ExecutionPlan for WholeInputExec {
    fn name(&self) -> &str {
        &self.name
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal(format!("{} takes one child", self.name)))?;
        Ok(Arc::new(WholeInputExec::new(
            input,
            Arc::clone(&self.op),
            Arc::clone(&self.schema),
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "{} has one partition, not {partition}",
                self.name
            )));
        }
        let input = self.input.execute(0, Arc::clone(&context))?;
        let op = Arc::clone(&self.op);
        let schema = Arc::clone(&self.schema);
        let reservation = MemoryConsumer::new(op.name()).register(context.memory_pool());
        let out = futures::stream::once(async move {
            let batches: Vec<RecordBatch> = input
                .and_then(|b| {
                    let grown = reservation.try_grow(b.get_array_memory_size());
                    futures::future::ready(grown.map(|_| b))
                })
                .try_collect()
                .await?;
            let out = op.compute(batches, &schema)?;
            drop(reservation);
            Ok::<_, DataFusionError>(futures::stream::iter(out.into_iter().map(Ok)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            out.boxed(),
        )))
    }
}
