//! The nodes of a statement whose common subqueries are computed once (the rule: `optimizer::computed_once`).
//!
//! - [`ComputeSharedExec`] sits on top of the statement. Its children are each shared subquery's plan, then the
//!   statement's; each of its partitions first makes sure every shared subquery has been run (the first
//!   partition to get there runs it, the others wait for its result), then streams the statement.
//! - [`ComputedOnceExec`] is where the statement reads a shared subquery: a leaf that streams the kept result.
//!
//! They meet in a [`SharedResult`]: the subquery's name, the schema its readers show, the planner's estimate of
//! its size (for joins planned over it), and once run, its batches.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::Statistics;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use futures::TryStreamExt;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// A shared subquery's result, as its readers and the node that computes it share it.
#[derive(Debug)]
pub struct SharedResult {
    /// The subquery's name (a CTE's).
    pub alias: String,
    /// The schema its readers show (the subquery's, as the statement was planned against it).
    pub schema: SchemaRef,
    /// The planner's estimate of its size, set when the statement is planned.
    stats: Mutex<Option<Arc<Statistics>>>,
    /// Its batches, per partition of the plan that ran it; an error is kept too, so that it runs once either way.
    batches: OnceCell<Kept>,
    /// The memory its batches hold, reserved from the query's pool while they are kept (a result that does not
    /// fit fails the query with the pool's error, not the machine).
    reservations: Mutex<Vec<MemoryReservation>>,
}

/// A shared subquery's batches per partition, or the error that stopped it.
type Kept = std::result::Result<Arc<Vec<Vec<RecordBatch>>>, Arc<DataFusionError>>;

impl SharedResult {
    pub fn new(alias: String, schema: SchemaRef) -> Self {
        SharedResult {
            alias,
            schema,
            stats: Mutex::new(None),
            batches: OnceCell::new(),
            reservations: Mutex::new(vec![]),
        }
    }

    /// Keep the planner's estimate of the result's size.
    pub fn set_estimate(&self, stats: Statistics) {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(stats.to_inexact()));
    }

    fn estimate(&self) -> Arc<Statistics> {
        self.stats
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| Arc::new(Statistics::new_unknown(&self.schema)))
    }

    /// Run `plan` (the subquery) unless it has run (or is running: then wait for it), and keep its batches, each
    /// reserved from the query's memory pool as it arrives. Partitions run on tasks of their own.
    async fn compute(&self, plan: Arc<dyn ExecutionPlan>, context: Arc<TaskContext>) -> Result<()> {
        let schema = Arc::clone(&self.schema);
        let consumer = format!("ComputedOnceExec({})", self.alias);
        let kept = self
            .batches
            .get_or_init(|| async move {
                let partitions = plan.properties().partitioning.partition_count();
                let tasks: Vec<_> = (0..partitions)
                    .map(|i| {
                        let (plan, context) = (Arc::clone(&plan), Arc::clone(&context));
                        let schema = Arc::clone(&schema);
                        let reservation = MemoryConsumer::new(format!("{consumer}[{i}]"))
                            .register(context.memory_pool());
                        SpawnedTask::spawn(async move {
                            let mut stream = plan.execute(i, context)?;
                            let mut batches = vec![];
                            while let Some(batch) = stream.try_next().await? {
                                let batch = conform(&schema, batch)?;
                                reservation.try_grow(batch.get_array_memory_size())?;
                                batches.push(batch);
                            }
                            Ok::<_, DataFusionError>((batches, reservation))
                        })
                    })
                    .collect();
                let mut parts = Vec::with_capacity(tasks.len());
                let mut reservations = Vec::with_capacity(tasks.len());
                for task in tasks {
                    let (batches, reservation) = task.join_unwind().await.map_err(|e| {
                        DataFusionError::Execution(format!("a shared subquery's task: {e}"))
                    })??;
                    parts.push(batches);
                    reservations.push(reservation);
                }
                *self.reservations.lock().unwrap_or_else(|p| p.into_inner()) = reservations;
                Ok(Arc::new(parts))
            })
            .await;
        match kept {
            Ok(_) => Ok(()),
            Err(e) => Err(DataFusionError::Shared(Arc::clone(e))),
        }
    }
}

/// `batch` with the readers' schema: its names and nullability, and its types where planning chose another
/// representation of the same values.
fn conform(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                arrow::compute::cast(c, f.data_type()).map_err(DataFusionError::from)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Runs each shared subquery (its first children) once, then the statement (its last child).
#[derive(Debug)]
pub struct ComputeSharedExec {
    shared: Vec<Arc<SharedResult>>,
    children: Vec<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
}

impl ComputeSharedExec {
    /// `inputs`: one plan per entry of `shared`, in the order they are to run (a subquery that reads another
    /// after it), then the statement.
    pub fn try_new(
        shared: Vec<Arc<SharedResult>>,
        inputs: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Self> {
        let Some(main) = inputs.last() else {
            return Err(DataFusionError::Internal(
                "ComputeSharedExec without a statement".into(),
            ));
        };
        if inputs.len() != shared.len() + 1 {
            return Err(DataFusionError::Internal(format!(
                "ComputeSharedExec: {} shared subqueries, {} plans",
                shared.len(),
                inputs.len()
            )));
        }
        Ok(ComputeSharedExec {
            properties: Arc::clone(main.properties()),
            shared,
            children: inputs,
        })
    }
}

impl DisplayAs for ComputeSharedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let names: Vec<&str> = self.shared.iter().map(|s| s.alias.as_str()).collect();
        write!(
            f,
            "ComputeSharedExec: {} once each, then the statement",
            names.join(", ")
        )
    }
}

impl ExecutionPlan for ComputeSharedExec {
    fn name(&self) -> &str {
        "ComputeSharedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        self.children.iter().collect()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    // The statement's rows pass through unchanged and in order; nothing may be put between this node and its
    // children (a repartition of the statement would undo its ORDER BY; a sort removed from a subquery under
    // its LIMIT would change what it keeps).
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true; self.children.len()]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false; self.children.len()]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ComputeSharedExec::try_new(
            self.shared.clone(),
            children,
        )?))
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(input_stats
            .last()
            .cloned()
            .unwrap_or_else(|| Arc::new(Statistics::new_unknown(&self.schema()))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let shared = self.shared.clone();
        let mut inputs = self.children.clone();
        let Some(main) = inputs.pop() else {
            return Err(DataFusionError::Internal(
                "ComputeSharedExec without a statement".into(),
            ));
        };
        let run = async move {
            for (result, input) in shared.iter().zip(inputs) {
                result.compute(input, Arc::clone(&context)).await?;
            }
            main.execute(partition, context)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            futures::stream::once(run).try_flatten(),
        )))
    }
}

/// Where the statement reads a shared subquery's result: a leaf that streams what [`ComputeSharedExec`] kept.
#[derive(Debug)]
pub struct ComputedOnceExec {
    shared: Arc<SharedResult>,
    properties: Arc<PlanProperties>,
}

impl ComputedOnceExec {
    /// A reader of `shared` in `partitions` partitions (the kept partitions are dealt out among them).
    pub fn new(shared: Arc<SharedResult>, partitions: usize) -> Self {
        ComputedOnceExec {
            properties: Arc::new(PlanProperties::new(
                EquivalenceProperties::new(Arc::clone(&shared.schema)),
                Partitioning::UnknownPartitioning(partitions.max(1)),
                EmissionType::Incremental,
                Boundedness::Bounded,
            )),
            shared,
        }
    }
}

impl DisplayAs for ComputedOnceExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "ComputedOnceExec: {} (its result, from memory)",
            self.shared.alias
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
        Ok(self.shared.estimate())
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let partitions = self.properties.partitioning.partition_count();
        let batches: Vec<RecordBatch> = match self.shared.batches.get() {
            Some(Ok(parts)) => parts
                .iter()
                .enumerate()
                .filter(|(i, _)| i % partitions == partition)
                .flat_map(|(_, p)| p.iter().cloned())
                .collect(),
            Some(Err(e)) => return Err(DataFusionError::Shared(Arc::clone(e))),
            None => {
                return Err(DataFusionError::Internal(format!(
                    "the shared subquery `{}` is read before it was computed (a plan without its \
                     ComputeSharedExec above)",
                    self.shared.alias
                )));
            }
        };
        Ok(Box::pin(MemoryStream::try_new(
            batches,
            Arc::clone(&self.shared.schema),
            None,
        )?))
    }
}
