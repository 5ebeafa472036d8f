//! Where a cluster's bytes are counted: per task on the executors, added up for the client.
//!
//! Every task an executor runs gets a fresh [`Meter`] and reads through owl's metered store around the
//! executor's own stores ([`MeteringEngine`]), exactly as a local query's scans do. When the task ends, its
//! reading rides along with the task's metrics, as named counters on the stage's first operator (Ballista
//! keeps one metrics set per operator, so they join an existing one). The scheduler keeps the latest
//! report of each task's partitions; [`job_reading`] asks it for the job's metrics and adds the counters up.
//!
//! A task that is retried after its executor was lost reports again from the executor that reruns it: a
//! lost executor's reads are billed only as far as its tasks reported them.

use crate::storage::meter::{Meter, MeterReading, MeteredRegistry, Requests};
use ballista_core::JobId;
use ballista_core::serde::protobuf::ShuffleWritePartition;
use ballista_executor::execution_engine::{ExecutionEngine, QueryStageExecutor};
use datafusion::common::Result;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{Count, Metric, MetricValue, MetricsSet};
use datafusion::prelude::SessionConfig;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// The counters a task reports, by the names they carry in the job's metrics.
const BYTES: &str = "owl_bytes_scanned";
const FILES: &str = "owl_files_read";
const GETS: &str = "owl_get_requests";
const HEADS: &str = "owl_head_requests";
const LISTS: &str = "owl_list_requests";

/// An executor's execution engine: Ballista's, with each task reading through a meter of its own and
/// reporting it with its metrics.
///
/// Ballista decodes a stage's plan once for all the tasks an executor gets of it (push-staged scheduling,
/// its default), with one runtime; so the meter is made here, per task, and put where the task's reads go:
/// the Parquet scans' reader factories (bound to a store when the plan is decoded) are rebound to the task's
/// metered stores, and the task runs with a runtime whose stores are those same metered stores (every other
/// scan takes its store from the runtime as it opens a file).
pub(crate) struct MeteringEngine {
    pub(crate) inner: Arc<dyn ExecutionEngine>,
    /// The executor's stores, never metered themselves.
    pub(crate) stores: Arc<dyn ObjectStoreRegistry>,
}

/// `plan`'s Parquet scans reading through `runtime`'s stores as `owl query` reads them: DataFusion's caching
/// reader factory (a file's footer and page index read once a task) and the session's footer hint, which the
/// scan's format sets as it plans and a decoded plan lacks or binds to the decoding runtime's stores.
fn reading_through(
    plan: Arc<dyn ExecutionPlan>,
    runtime: &Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
    use datafusion::datasource::physical_plan::{
        FileScanConfig, FileScanConfigBuilder, ParquetSource,
    };
    use datafusion::datasource::source::DataSourceExec;
    plan.transform_up(|p| {
        let Some(exec) = p.downcast_ref::<DataSourceExec>() else {
            return Ok(Transformed::no(p));
        };
        let Some(conf) = exec.data_source().downcast_ref::<FileScanConfig>() else {
            return Ok(Transformed::no(p));
        };
        let Some(source) = conf.file_source().downcast_ref::<ParquetSource>() else {
            return Ok(Transformed::no(p));
        };
        let store = runtime.object_store(conf.object_store_url.clone())?;
        let factory = CachedParquetFileReaderFactory::new(
            store,
            runtime.cache_manager.get_file_metadata_cache(),
        );
        let mut source = source
            .clone()
            .with_parquet_file_reader_factory(Arc::new(factory));
        // The session's footer hint (a file's own, `owl.footer_hints`, does not travel: its footer then takes
        // two reads).
        if let Some(hint) = source.table_parquet_options().global.metadata_size_hint {
            source = source.with_metadata_size_hint(hint);
        }
        let conf = FileScanConfigBuilder::from(conf.clone())
            .with_source(Arc::new(source))
            .build();
        Ok(Transformed::yes(
            DataSourceExec::from_data_source(conf) as Arc<dyn ExecutionPlan>
        ))
    })
    .map(|t| t.data)
}

/// `plan` with every operator's input giving way to the task every few milliseconds
/// ([`crate::exec::give_way`]), so a cancelled task stops: an executor cancels a task by aborting its future,
/// which lands only where the future yields, and an operator that loops over its input without returning (a
/// join whose rows all fail its filter) yielded only where its input did. Each input also ends its stream once
/// `stop` is set (the task's future was dropped): Ballista reads a task's partitions in tokio tasks of their
/// own, which an abort of the task's future leaves running. The node has no metrics, so the task's metrics
/// keep the stage plan's shape.
fn yielding(
    plan: Arc<dyn ExecutionPlan>,
    stop: &Arc<std::sync::atomic::AtomicBool>,
) -> Result<Arc<dyn ExecutionPlan>> {
    use crate::exec::give_way::{GIVE_WAY_EVERY, GiveWayExec};
    use datafusion::common::tree_node::{Transformed, TreeNode};
    plan.transform_up(|p| {
        if p.children().is_empty() || p.downcast_ref::<GiveWayExec>().is_some() {
            return Ok(Transformed::no(p));
        }
        let children = p
            .children()
            .into_iter()
            .map(|c| match c.downcast_ref::<GiveWayExec>() {
                Some(_) => Arc::clone(c),
                None => Arc::new(GiveWayExec::new(
                    Arc::clone(c),
                    GIVE_WAY_EVERY,
                    Arc::clone(stop),
                )) as Arc<dyn ExecutionPlan>,
            })
            .collect();
        Ok(Transformed::yes(
            datafusion::physical_plan::replace_children_if_necessary(p, children)?,
        ))
    })
    .map(|t| t.data)
}

impl ExecutionEngine for MeteringEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        let meter = Arc::new(Meter::new());
        let stores: Arc<dyn ObjectStoreRegistry> = Arc::new(MeteredRegistry::new(
            Arc::clone(&self.stores),
            Arc::clone(&meter),
            crate::config::options::of_config(config.options()).remote_exact_ranges,
        ));
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&stores))
            .build_arc()?;
        let stop = Arc::default();
        let plan = yielding(reading_through(plan, &runtime)?, &stop)?;
        let inner = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(MeteredStage {
            inner,
            meter,
            stores,
            stop,
        }))
    }
}

/// One task's stage and the meter its reads go through.
#[derive(Debug)]
struct MeteredStage {
    inner: Arc<dyn QueryStageExecutor>,
    meter: Arc<Meter>,
    /// The executor's stores, metered by `meter`.
    stores: Arc<dyn ObjectStoreRegistry>,
    /// Set once the task has ended or was cancelled (its future dropped): its plan's inputs stop reading.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Sets the task's stop flag when its future ends or is dropped (an executor aborts a cancelled task's future).
struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Display for MeteredStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for MeteredStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        let _stop = StopOnDrop(Arc::clone(&self.stop));
        // The task's runtime (its memory pool, its spill folder), reading through the task's meter.
        let runtime = RuntimeEnvBuilder::from_runtime_env(&context.runtime_env())
            .with_object_store_registry(Arc::clone(&self.stores))
            .build_arc()?;
        let context = Arc::new(TaskContext::new(
            context.task_id(),
            context.session_id(),
            context.session_config().clone(),
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            runtime,
        ));
        let written = self.inner.execute_query_stage(task_id, context).await;
        // Requests still receiving finish and are counted: the bill is what the store sent.
        self.meter.settle(Duration::from_secs(30)).await;
        written
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        let mut sets = self.inner.collect_plan_metrics();
        if let Some(first) = sets.first_mut() {
            let r = self.meter.reading();
            for (name, value) in [
                (BYTES, r.bytes_scanned),
                (FILES, r.files_read),
                (GETS, r.requests.get),
                (HEADS, r.requests.head),
                (LISTS, r.requests.list),
            ] {
                let count = Count::new();
                count.add(value as usize);
                first.push(Arc::new(Metric::new(
                    MetricValue::Count {
                        name: Cow::Borrowed(name),
                        count,
                    },
                    None,
                )));
            }
        }
        sets
    }

    fn collect_runtime_stats_reports(
        &self,
    ) -> Vec<ballista_core::serde::protobuf::RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(
        &self,
    ) -> Result<Vec<ballista_core::serde::protobuf::WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<ballista_core::serde::protobuf::TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}

/// What the tasks of `job_id` read, from the scheduler at `scheduler_url` (`http://host:port`): the sum of
/// every successful stage's reports.
pub(crate) async fn job_reading(scheduler_url: &str, job_id: &str) -> crate::Result<MeterReading> {
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    use ballista_core::serde::protobuf::{GetJobMetricsParams, OperatorMetricsSet};
    let failed =
        |e: String| crate::Error::Query(format!("the cluster's metrics of job `{job_id}`: {e}"));
    let mut client = SchedulerGrpcClient::connect(scheduler_url.to_string())
        .await
        .map_err(|e| failed(e.to_string()))?
        .max_decoding_message_size(256 << 20);
    let metrics = client
        .get_job_metrics(GetJobMetricsParams {
            job_id: job_id.to_string(),
        })
        .await
        .map_err(|e| failed(e.message().to_string()))?
        .into_inner();
    let mut r = MeterReading::default();
    let mut requests = Requests::default();
    for stage in &metrics.stages {
        for operator in &stage.operators {
            let set: MetricsSet = OperatorMetricsSet {
                metrics: operator.metrics.clone(),
            }
            .try_into()
            .map_err(|e| failed(format!("{e:?}")))?;
            let sum = |name: &str| set.sum_by_name(name).map_or(0, |v| v.as_usize() as u64);
            r.bytes_scanned += sum(BYTES);
            r.files_read += sum(FILES);
            requests.get += sum(GETS);
            requests.head += sum(HEADS);
            requests.list += sum(LISTS);
        }
    }
    r.requests = requests;
    Ok(r)
}
