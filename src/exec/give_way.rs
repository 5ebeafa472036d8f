//! An operator's input that gives way to its task every few milliseconds, so a cancelled task stops.
//!
//! A task is cancelled by dropping (aborting) its future, which takes effect only when the future returns
//! `Pending`. An operator that loops over its input inside one poll (a nested-loop join whose rows all fail
//! its filter, an aggregation) returns `Pending` only when its input does; an input that is always ready (a
//! cross join's output, a local shuffle file) never does. tokio's cooperative budget (DataFusion's
//! `CooperativeExec`) counts batches, 128 before it yields: with batches that each take half a second of a
//! join's work, a minute. [`GiveWayExec`] counts time instead: once its stream has run `every` since it last
//! gave way, the next poll returns `Pending` (waking the task at once, as `tokio::task::yield_now` does), then
//! passes the batch on at the next poll. The rows, their order and the plan's properties are its input's.
//!
//! A cluster's executors put one above every operator's input of each task's plan (`cluster::metering`),
//! where a task must stop when its job is cancelled; they also set its `stop` flag when the task is
//! cancelled, because Ballista runs a task's partitions as tokio tasks of their own, which go on when the
//! task's future is aborted: each then ends at its next read of an input. It has no metrics, so the task's metrics keep the
//! stage plan's shape.

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long a task runs at most between two chances to be cancelled, on top of the batch at hand.
pub const GIVE_WAY_EVERY: Duration = Duration::from_millis(10);

/// See the module's documentation.
#[derive(Debug)]
pub struct GiveWayExec {
    input: Arc<dyn ExecutionPlan>,
    every: Duration,
    /// Set when the task is cancelled: the stream then ends with an error at its next poll (an operator's
    /// input may be read by a tokio task of its own, which aborting the task's future does not stop).
    stop: Arc<AtomicBool>,
}

impl GiveWayExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, every: Duration, stop: Arc<AtomicBool>) -> Self {
        GiveWayExec { input, every, stop }
    }
}

impl DisplayAs for GiveWayExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "GiveWayExec: every={:?}", self.every)
    }
}

impl ExecutionPlan for GiveWayExec {
    fn name(&self) -> &str {
        "GiveWayExec"
    }
    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }
    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
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
            .filter(|_| children.is_empty())
            .ok_or_else(|| DataFusionError::Internal("GiveWayExec takes one child".into()))?;
        Ok(Arc::new(GiveWayExec::new(
            input,
            self.every,
            Arc::clone(&self.stop),
        )))
    }
    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        Ok(give_way(input, self.every, Arc::clone(&self.stop)))
    }
}

/// `input`, returning `Pending` once (the task woken at once) whenever it has run `every` since it last did,
/// and ending with an error once `stop` is set.
pub fn give_way(
    mut input: SendableRecordBatchStream,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> SendableRecordBatchStream {
    let schema = input.schema();
    let mut since = Instant::now();
    // Right after giving way, the next poll always reads on.
    let mut gave_way = false;
    let stream = futures::stream::poll_fn(move |cx| {
        if stop.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(DataFusionError::Execution(
                "the task was cancelled".into(),
            ))));
        }
        if !gave_way && since.elapsed() >= every {
            gave_way = true;
            since = Instant::now();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        gave_way = false;
        input.poll_next_unpin(cx)
    });
    Box::pin(RecordBatchStreamAdapter::new(schema, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::catalog::memory::MemorySourceConfig;
    use datafusion::prelude::SessionContext;

    fn batches(n: i64) -> Arc<dyn ExecutionPlan> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batches: Vec<RecordBatch> = (0..n)
            .map(|i| {
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(Int64Array::from(vec![i, i + 1]))],
                )
                .unwrap()
            })
            .collect();
        MemorySourceConfig::try_new_exec(&[batches], schema, None).unwrap()
    }

    #[tokio::test]
    async fn the_rows_are_its_inputs() {
        let input = batches(50);
        let plan = Arc::new(GiveWayExec::new(
            Arc::clone(&input),
            Duration::ZERO,
            Arc::default(),
        ));
        let ctx = SessionContext::new().task_ctx();
        let want = datafusion::physical_plan::collect(input, Arc::clone(&ctx))
            .await
            .unwrap();
        let got = datafusion::physical_plan::collect(plan, ctx).await.unwrap();
        assert_eq!(got, want);
    }

    /// A consumer that loops over an always-ready input in one poll, as a join that finds no rows does: only
    /// with the input giving way does its task yield, so that an abort lands before it ends on its own.
    #[tokio::test(flavor = "current_thread")]
    async fn a_looping_consumer_yields_and_can_be_aborted() {
        let run = |every: Option<Duration>| {
            let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(vec![1, 2]))],
            )
            .unwrap();
            // Never pending, and outside tokio's budget.
            let ready = futures::stream::iter((0..400).map(move |_| Ok(batch.clone())));
            let input: SendableRecordBatchStream =
                Box::pin(RecordBatchStreamAdapter::new(schema, ready));
            let mut stream = match every {
                Some(every) => give_way(input, every, Arc::default()),
                None => input,
            };
            // Each batch takes a millisecond of work.
            tokio::spawn(async move {
                while let Some(b) = stream.next().await {
                    let _ = b.unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        // The single thread gets back to this test only when the loop yields.
        let without = run(None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        without.abort();
        assert!(without.await.is_ok(), "it ran to its end unaborted");
        let with = run(Some(Duration::from_millis(5)));
        tokio::time::sleep(Duration::from_millis(20)).await;
        with.abort();
        assert!(with.await.unwrap_err().is_cancelled());
    }

    #[tokio::test]
    async fn a_stopped_stream_ends_with_an_error() {
        let stop = Arc::new(AtomicBool::new(false));
        let plan = GiveWayExec::new(batches(10), Duration::from_secs(60), Arc::clone(&stop));
        let mut stream = plan.execute(0, SessionContext::new().task_ctx()).unwrap();
        assert!(stream.next().await.unwrap().is_ok());
        stop.store(true, Ordering::Relaxed);
        let e = stream.next().await.unwrap().unwrap_err();
        assert!(e.to_string().contains("the task was cancelled"), "{e}");
    }
}
