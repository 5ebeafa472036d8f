//! What a cluster is doing: its executors and its jobs, as the scheduler knows them (`owl cluster status`).
//!
//! Ballista's gRPC service has no call that lists executors or jobs (its REST API does, behind a feature that
//! brings a web UI and a history server along). So an owl scheduler serves one more route beside its gRPC
//! service, on the same port: `GET /owl/status`, the JSON of [`ClusterStatus`], read from the scheduler's own
//! state (the executors that registered and their last heartbeats, the jobs it holds).

use ballista_core::serde::protobuf::{executor_status, job_status};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The route's path.
pub const STATUS_PATH: &str = "/owl/status";

type Scheduler = SchedulerServer<LogicalPlanNode, PhysicalPlanNode>;

/// A cluster's executors and jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterStatus {
    pub executors: Vec<ExecutorStatus>,
    /// Every job the scheduler holds, most recent first: running and queued ones, and the finished ones it
    /// still keeps.
    pub jobs: Vec<JobStatus>,
}

/// One executor that registered with the scheduler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecutorStatus {
    pub id: String,
    pub host: String,
    /// Where its tasks' output is fetched (Arrow Flight).
    pub flight_port: u16,
    /// Where the scheduler pushes it tasks.
    pub grpc_port: u16,
    /// Tasks it runs at once.
    pub task_slots: u32,
    /// `active`, `terminating`, `dead` or `unknown` (no heartbeat yet).
    pub state: String,
    /// Seconds since its last heartbeat (None before the first).
    pub last_heartbeat_secs: Option<u64>,
}

/// One job: a query's plan, run in stages.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobStatus {
    pub job_id: String,
    /// The query's text, as the client named the job (cut to 200 characters).
    pub name: String,
    /// `QUEUED`, `RUNNING`, `SUCCEEDED`, `FAILED` or `CANCELLED`, as Athena names a query's states.
    pub state: String,
    /// Why it failed.
    pub reason: Option<String>,
    pub stages: usize,
    pub completed_stages: usize,
    /// When it was submitted, in milliseconds since 1970.
    pub submitted_ms: u64,
    /// When it ended (None while it runs).
    pub ended_ms: Option<u64>,
}

/// The route, served with the scheduler's gRPC service.
pub(crate) fn routes(scheduler: Arc<Scheduler>) -> axum::Router {
    axum::Router::new()
        .route(STATUS_PATH, axum::routing::get(status))
        .with_state(scheduler)
}

async fn status(
    axum::extract::State(scheduler): axum::extract::State<Arc<Scheduler>>,
) -> Result<axum::Json<ClusterStatus>, (axum::http::StatusCode, String)> {
    let failed = |e: ballista_core::error::BallistaError| {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the scheduler's state: {e}"),
        )
    };
    let state = &scheduler.state;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut executors = vec![];
    for (metadata, _, _) in state
        .executor_manager
        .get_executors_state()
        .await
        .map_err(failed)?
    {
        let heartbeat = state.executor_manager.get_executor_hearbeat(&metadata.id);
        let executor_state = heartbeat
            .as_ref()
            .and_then(|h| h.status.as_ref()?.status.as_ref())
            .map_or("unknown", |s| match s {
                executor_status::Status::Active(_) => "active",
                executor_status::Status::Terminating(_) => "terminating",
                executor_status::Status::Dead(_) => "dead",
                executor_status::Status::Unknown(_) => "unknown",
            });
        executors.push(ExecutorStatus {
            id: metadata.id.clone(),
            host: metadata.host.clone(),
            flight_port: metadata.port,
            grpc_port: metadata.grpc_port,
            task_slots: metadata.specification.vcores,
            state: executor_state.to_string(),
            last_heartbeat_secs: heartbeat.map(|h| now.saturating_sub(h.timestamp)),
        });
    }
    executors.sort_by(|a, b| (&a.host, a.flight_port).cmp(&(&b.host, b.flight_port)));
    let mut jobs: Vec<JobStatus> = state
        .task_manager
        .get_all_jobs()
        .await
        .map_err(failed)?
        .into_iter()
        .map(|job| {
            let (job_state, reason, submitted, ended) = match &job.status.status {
                Some(job_status::Status::Queued(q)) => ("QUEUED", None, q.queued_at, None),
                Some(job_status::Status::Running(r)) => ("RUNNING", None, r.queued_at, None),
                Some(job_status::Status::Successful(s)) => {
                    ("SUCCEEDED", None, s.queued_at, Some(s.ended_at))
                }
                // Ballista fails a cancelled job with this reason (`CancelJob`).
                Some(job_status::Status::Failed(f)) if f.error == "Cancelled" => {
                    ("CANCELLED", None, f.queued_at, Some(f.ended_at))
                }
                Some(job_status::Status::Failed(f)) => (
                    "FAILED",
                    Some(f.error.clone()),
                    f.queued_at,
                    Some(f.ended_at),
                ),
                None => ("QUEUED", None, job.start_time, None),
            };
            JobStatus {
                job_id: job.job_id.to_string(),
                name: job.job_name.clone(),
                state: job_state.to_string(),
                reason,
                stages: job.num_stages,
                completed_stages: job.completed_stages,
                submitted_ms: submitted,
                ended_ms: ended,
            }
        })
        .collect();
    jobs.sort_by(|a, b| (b.submitted_ms, &b.job_id).cmp(&(a.submitted_ms, &a.job_id)));
    Ok(axum::Json(ClusterStatus { executors, jobs }))
}

/// The status of the cluster at `cluster` (`df://host:port`), from its scheduler.
pub async fn fetch(cluster: &str) -> crate::Result<ClusterStatus> {
    let base = super::scheduler_url(cluster)?;
    let unreachable = || {
        crate::Error::Query(format!(
            "cannot reach the cluster's scheduler at `{cluster}`: is `owl scheduler` or `owl cluster up` running there?"
        ))
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| crate::Error::internal("an HTTP client", e))?;
    let response = client
        .get(format!("{base}{STATUS_PATH}"))
        .send()
        .await
        .map_err(|_| unreachable())?;
    let code = response.status();
    let body = response.text().await.map_err(|_| unreachable())?;
    if !code.is_success() {
        // Not an owl scheduler (a Ballista one has no such route), or its state could not be read.
        let why = if code == reqwest::StatusCode::NOT_FOUND {
            "it has no status route: is it an `owl scheduler` (or `owl cluster up`) of this version?".to_string()
        } else {
            body.lines().next().unwrap_or("").trim().to_string()
        };
        return Err(crate::Error::Query(format!(
            "the scheduler at `{cluster}` gave no status (HTTP {}): {why}",
            code.as_u16()
        )));
    }
    serde_json::from_str(&body).map_err(|e| {
        crate::Error::Query(format!(
            "the scheduler at `{cluster}` answered with no owl status: {e}"
        ))
    })
}
