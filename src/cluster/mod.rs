//! Scale-out on Apache DataFusion Ballista: the same registry, SQL and bill on a cluster of executors.
//!
//! - `codec`: how owl's plans travel. A registry table goes as its whole definition (`TableDef`: columns,
//!   partitions, statistics, excluded files), so the scheduler plans its scan as `owl query` would; every other
//!   node goes through Ballista's own codecs. A node of owl's that cannot travel yet fails the job with one line
//!   naming it and the `owl.*` switch that leaves it out.
//! - `metering`: **where a cluster's bytes are counted**. Each task an executor runs reads through its own
//!   [`crate::storage::meter::Meter`] (owl's metered store around the executor's stores, per task, never a
//!   process-wide counter) and reports what it read with the task's metrics; [`job_reading`] adds them up from
//!   the scheduler's `GetJobMetrics` for the client's bill.
//! - `process`: the scheduler and executor processes inside the `owl` binary (`owl scheduler`, `owl executor`,
//!   `owl cluster up`), started with owl's codecs, object stores, functions and physical rules.
//! - `status`: the scheduler's executors and jobs (`owl cluster status`), served beside its gRPC service.
//!
//! Not here: which session a cluster query runs in (`engine`), the commands' flags (`cli::cluster`).
//!
//! The invariant: a query's bytes on a cluster are the sum of what its tasks' metered stores received, as
//! they received it; nothing is estimated or counted twice.

pub(crate) mod codec;
pub(crate) mod metering;
pub mod process;
pub mod status;

pub(crate) use codec::{OwlLogicalCodec, OwlPhysicalCodec};
pub(crate) use metering::job_reading;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use std::path::PathBuf;
use std::sync::Arc;

type DistributedQuery = ballista_core::execution_plans::DistributedQueryExec<
    datafusion_proto::protobuf::LogicalPlanNode,
>;

/// A session's settings as a cluster's processes and clients share them: Ballista's (its adaptive planner
/// off: it replans stages without the session's physical rules; hash joins preferred, as owl's own), owl's
/// codecs, and the switches of [`LOCAL_ONLY_SWITCHES`] off.
pub fn cluster_config(
    config: SessionConfig,
    registry_root: PathBuf,
) -> crate::Result<SessionConfig> {
    let mut config = config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(OwlLogicalCodec::new(registry_root)))
        .with_ballista_physical_extension_codec(Arc::new(OwlPhysicalCodec::default()));
    let options = config.options_mut();
    let set = |options: &mut datafusion::config::ConfigOptions, key: &str, value: &str| {
        options
            .set(key, value)
            .map_err(|e| crate::Error::internal("a cluster session's settings", e))
    };
    set(
        options,
        ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED,
        "false",
    )?;
    // Hash joins, as owl plans them here (Ballista defaults to sort-merge joins, which spill; owl's hash joins'
    // build sides fail with one line naming the memory limit instead). Measured in BENCHMARKS.md: TPC-H SF1 on
    // two executors, 3.87x owl here with sort-merge joins, 1.98x with hash joins.
    set(options, "datafusion.optimizer.prefer_hash_join", "true")?;
    for switch in LOCAL_ONLY_SWITCHES {
        set(options, &format!("owl.{switch}"), "false")?;
    }
    Ok(config)
}

/// `state`, planning on the cluster at `cluster` (`df://host:port`): its queries' plans go to the scheduler.
pub(crate) fn client_state(state: SessionState, cluster: &str) -> crate::Result<SessionState> {
    let url = scheduler_url(cluster)?;
    let state = SessionStateBuilder::new_from_existing(state).build();
    state
        .upgrade_for_ballista(url)
        .map_err(|e| crate::Error::internal("a cluster session", e))
}

/// An error from a cluster, as one line: Ballista reports a plan it could not send, or a scheduler it could
/// not reach, with the debug text of the error; the part a user needs is taken out of it.
pub(crate) fn plain_error(e: crate::Error, cluster: &str) -> crate::Error {
    let text = e.to_string();
    if text.contains("ConnectError") || text.contains("Connection refused") {
        return crate::Error::Query(format!(
            "cannot reach the cluster's scheduler at `{cluster}`: is `owl scheduler` or `owl cluster up` running there?"
        ));
    }
    let ours = regex_lite::Regex::new(r#"NotImplemented\("([^"]*)"\)"#)
        .ok()
        .and_then(|re| re.captures(&text)?.get(1).map(|m| m.as_str().to_string()));
    match ours {
        Some(message) => crate::Error::Query(message),
        None => e,
    }
}

/// A query's job on a cluster: cancelled on every executor when dropped before [`Job::finish`] (Ctrl-C, a
/// client's StopQueryExecution, a failed read of its results).
pub(crate) struct Job {
    plan: Arc<dyn ExecutionPlan>,
    scheduler: String,
    /// The query's meter: a job cancelled before its end is charged what its finished stages read.
    meter: Arc<crate::storage::meter::Meter>,
    finished: bool,
}

impl Job {
    pub(crate) fn new(
        plan: &Arc<dyn ExecutionPlan>,
        cluster: &str,
        meter: &Arc<crate::storage::meter::Meter>,
    ) -> crate::Result<Self> {
        Ok(Job {
            plan: Arc::clone(plan),
            scheduler: scheduler_url(cluster)?,
            meter: Arc::clone(meter),
            finished: false,
        })
    }

    /// The job's id once submitted: the plan's own, or its child's (`EXPLAIN ANALYZE` runs the query below it).
    fn id(&self) -> Option<String> {
        let query = |p: &Arc<dyn ExecutionPlan>| {
            p.downcast_ref::<DistributedQuery>()
                .and_then(|q| q.job_id())
                .map(|id| id.to_string())
        };
        query(&self.plan).or_else(|| self.plan.children().into_iter().find_map(query))
    }

    /// The job ran to its end: what its tasks read (nothing for a plan that ran here, such as a query of
    /// `information_schema`).
    pub(crate) async fn finish(mut self) -> crate::Result<crate::storage::meter::MeterReading> {
        self.finished = true;
        match self.id() {
            Some(id) => job_reading(&self.scheduler, &id).await,
            None => Ok(Default::default()),
        }
    }
}

impl Drop for Job {
    /// Cancels the job on the scheduler (which stops its running tasks on every executor), waiting for the
    /// scheduler's answer (a few seconds at most): a process that ends right after (`owl query` and Ctrl-C)
    /// must not leave its job running. Then charges the query what the job's finished stages read (the
    /// scheduler keeps no metrics of a stage cut short).
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Some(id) = self.id() else {
            return;
        };
        let scheduler = self.scheduler.clone();
        let meter = Arc::clone(&self.meter);
        let cancel = move || {
            use ballista_core::serde::protobuf::CancelJobParams;
            use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async move {
                    if let Ok(mut client) = SchedulerGrpcClient::connect(scheduler.clone()).await {
                        let _ = client
                            .cancel_job(CancelJobParams { job_id: id.clone() })
                            .await;
                    }
                    if let Ok(reading) = job_reading(&scheduler, &id).await {
                        meter.add_reading(&reading);
                    }
                })
                .await;
            });
        };
        // On a thread of its own: this may run inside the runtime that drives the query.
        let _ = std::thread::spawn(cancel).join();
    }
}

/// The `owl.*` switches whose nodes and expressions do not travel to executors yet: off in a cluster session
/// (their queries still run, as DataFusion plans them). Turning one on there fails the query with one line
/// naming the node.
pub const LOCAL_ONLY_SWITCHES: [&str; 7] = [
    "materialize_ctes",
    "bitmap_count_distinct",
    "streamed_not_in",
    "dynamic_row_filters",
    "join_key_pruning",
    "join_key_bitmaps",
    "clustered_page_index",
];

/// `host:port` (or `df://host:port`, `http://host:port`) split, or None when it is not that.
pub fn host_port(text: &str) -> Option<(String, u16)> {
    let rest = text
        .strip_prefix("df://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text)
        .trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':')?;
    (!host.is_empty() && !host.contains('/')).then_some(())?;
    Some((host.to_string(), port.parse().ok()?))
}

/// The scheduler's address from a cluster URL (`df://host:port`, `http://host:port` or `host:port`), as gRPC
/// reaches it: `http://host:port`.
pub fn scheduler_url(cluster: &str) -> crate::Result<String> {
    let (host, port) = host_port(cluster).ok_or_else(|| {
        crate::Error::Query(format!(
            "cluster `{cluster}` is not `df://host:port` (the scheduler's address)"
        ))
    })?;
    Ok(format!("http://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls() {
        assert_eq!(
            scheduler_url("df://127.0.0.1:50050").unwrap(),
            "http://127.0.0.1:50050"
        );
        assert_eq!(scheduler_url("localhost:7").unwrap(), "http://localhost:7");
        for bad in ["df://host", "df://:50050", "df://h:port", "s3://b/k:1"] {
            let e = scheduler_url(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("df://host:port"), "{e}");
        }
    }
}
