//! [`NotInExec`]: `x NOT IN (subquery)` with the subquery's values collected into a set once and the outer rows
//! streamed through it, partition by partition (SQL's NULL rules: one NULL among the values and no row passes;
//! no values and every row does). Where it is planned, and why: `optimizer::physical::streamed_not_in`.

use arrow::array::{Array, ArrayRef, BooleanArray, BooleanBufferBuilder, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, HashSet, Result, Statistics};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, SendableRecordBatchStream,
};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt, TryStreamExt};
use std::fmt;
use std::sync::{Arc, Mutex};
/// What the subquery's side held.
struct SubqueryValues {
    /// Its rows, NULL keys included (0: every outer row passes).
    rows: usize,
    /// A NULL among its keys (then no outer row passes).
    has_null: bool,
    /// Its distinct non-NULL keys, in arrow's row encoding.
    keys: HashSet<Box<[u8]>>,
    converter: RowConverter,
    /// The set's memory, held from the session's pool while it lives.
    reservation: MemoryReservation,
}

impl SubqueryValues {
    /// Read every partition of `sub`, its keys into the set; stops at the first NULL key (the answer is then
    /// known).
    async fn build(
        sub: Arc<dyn ExecutionPlan>,
        key: Arc<dyn PhysicalExpr>,
        key_type: DataType,
        context: Arc<TaskContext>,
        build_rows: Count,
    ) -> Result<SubqueryValues> {
        let mut set = SubqueryValues {
            rows: 0,
            has_null: false,
            keys: HashSet::default(),
            converter: RowConverter::new(vec![SortField::new(key_type)])?,
            reservation: MemoryConsumer::new("NotInExec (subquery's values)")
                .register(context.memory_pool()),
        };
        'partitions: for partition in 0..sub.output_partitioning().partition_count() {
            let mut stream = sub.execute(partition, Arc::clone(&context))?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                let keys = key.evaluate(&batch)?.into_array(batch.num_rows())?;
                set.rows += batch.num_rows();
                build_rows.add(batch.num_rows());
                if keys.null_count() > 0 {
                    set.has_null = true;
                    break 'partitions;
                }
                let rows = set.converter.convert_columns(&[keys])?;
                for row in rows.iter() {
                    let bytes = row.as_ref();
                    if !set.keys.contains(bytes) {
                        // The key's bytes, its box and the table's slot for it.
                        set.reservation
                            .try_grow(bytes.len() + 2 * size_of::<usize>() + 8)?;
                        set.keys.insert(bytes.into());
                    }
                }
            }
        }
        Ok(set)
    }

    /// The rows of an outer batch that pass `key NOT IN (subquery)`, when the subquery held rows and no NULL.
    fn keep(&self, keys: &ArrayRef) -> Result<BooleanArray> {
        let rows = self.converter.convert_columns(std::slice::from_ref(keys))?;
        let mut mask = BooleanBufferBuilder::new(keys.len());
        for (i, row) in rows.iter().enumerate() {
            mask.append(keys.is_valid(i) && !self.keys.contains(row.as_ref()));
        }
        Ok(BooleanArray::new(mask.finish(), None))
    }
}

type SharedSet = Shared<BoxFuture<'static, Result<Arc<SubqueryValues>, Arc<DataFusionError>>>>;

/// `outer_key NOT IN (sub's sub_key)`: the outer side's rows that pass, in their partitions and order.
pub struct NotInExec {
    outer: Arc<dyn ExecutionPlan>,
    sub: Arc<dyn ExecutionPlan>,
    outer_key: Arc<dyn PhysicalExpr>,
    sub_key: Arc<dyn PhysicalExpr>,
    key_type: DataType,
    properties: Arc<PlanProperties>,
    /// The set, built by the first partition that runs and shared by the others.
    set: Arc<Mutex<Option<SharedSet>>>,
    metrics: ExecutionPlanMetricsSet,
}

impl fmt::Debug for NotInExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.debug_struct("NotInExec")
            .field("outer", &self.outer)
            .field("sub", &self.sub)
            .field("outer_key", &self.outer_key)
            .field("sub_key", &self.sub_key)
            .finish_non_exhaustive()
    }
}

impl NotInExec {
    pub(crate) fn new(
        outer: Arc<dyn ExecutionPlan>,
        sub: Arc<dyn ExecutionPlan>,
        outer_key: Arc<dyn PhysicalExpr>,
        sub_key: Arc<dyn PhysicalExpr>,
        key_type: DataType,
    ) -> Self {
        let properties = Arc::new(PlanProperties::new(
            outer.equivalence_properties().clone(),
            outer.output_partitioning().clone(),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        NotInExec {
            outer,
            sub,
            outer_key,
            sub_key,
            key_type,
            properties,
            set: Arc::new(Mutex::new(None)),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The set's future: started by the first caller, shared by the rest.
    fn shared_set(&self, context: &Arc<TaskContext>, partition: usize) -> SharedSet {
        // A poisoned lock only means another partition panicked; the slot itself is whole.
        let mut slot = self.set.lock().unwrap_or_else(|e| e.into_inner());
        slot.get_or_insert_with(|| {
            let build_rows =
                MetricBuilder::new(&self.metrics).counter("build_input_rows", partition);
            SubqueryValues::build(
                Arc::clone(&self.sub),
                Arc::clone(&self.sub_key),
                self.key_type.clone(),
                Arc::clone(context),
                build_rows,
            )
            .map(|r| r.map(Arc::new).map_err(Arc::new))
            .boxed()
            .shared()
        })
        .clone()
    }
}

impl DisplayAs for NotInExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "NotInExec: {} NOT IN ({}), the subquery's values in a set, the outer rows streamed",
            self.outer_key, self.sub_key
        )
    }
}

impl ExecutionPlan for NotInExec {
    fn name(&self) -> &str {
        "NotInExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.outer, &self.sub]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![
            Distribution::UnspecifiedDistribution,
            Distribution::SinglePartition,
        ]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true, false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![true, false]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.outer_key)?.visit_sibling(|| f(&self.sub_key))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [outer, sub] = <[_; 2]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("NotInExec takes 2 inputs, not {}", c.len()))
        })?;
        Ok(Arc::new(NotInExec::new(
            outer,
            sub,
            Arc::clone(&self.outer_key),
            Arc::clone(&self.sub_key),
            self.key_type.clone(),
        )))
    }

    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(NotInExec::new(
            Arc::clone(&self.outer).reset_state()?,
            Arc::clone(&self.sub).reset_state()?,
            Arc::clone(&self.outer_key),
            Arc::clone(&self.sub_key),
            self.key_type.clone(),
        )))
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition), ChildStats::Skip]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        // At most the outer side's rows.
        Ok(Arc::new(input_stats[0].as_ref().clone().to_inexact()))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let set = self.shared_set(&context, partition);
        // As DataFusion's joins do, the outer stream is made now; it reads nothing until polled.
        let outer = self.outer.execute(partition, context)?;
        let key = Arc::clone(&self.outer_key);
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let stream = futures::stream::once(async move {
            let set = set.await.map_err(DataFusionError::Shared)?;
            // `None`: every row passes (the subquery had no rows).
            let set = match (set.rows, set.has_null) {
                (0, _) => None,
                (_, true) => {
                    drop(outer);
                    return Ok(futures::stream::empty().boxed());
                }
                _ => Some(set),
            };
            let rows = outer
                .map(move |batch| {
                    let batch = batch?;
                    let timer = baseline.elapsed_compute().timer();
                    let kept = match &set {
                        None => batch,
                        Some(set) => {
                            let keys = key.evaluate(&batch)?.into_array(batch.num_rows())?;
                            filter_record_batch(&batch, &set.keep(&keys)?)?
                        }
                    };
                    timer.done();
                    baseline.record_output(kept.num_rows());
                    Ok(kept)
                })
                .try_filter(|b| futures::future::ready(b.num_rows() > 0))
                .boxed();
            Ok::<futures::stream::BoxStream<'static, Result<RecordBatch>>, DataFusionError>(rows)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }
}
