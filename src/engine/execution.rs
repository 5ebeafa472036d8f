//! The query lifecycle: **where a query's state changes**. Every entry point (`owl query`, `owl run`, the
//! shell, CTAS/convert, and next the server and the cluster) turns a [`QueryRequest`] into a [`QueryExecution`]:
//! QUEUED when queued, RUNNING once it is driven, then SUCCEEDED, FAILED or CANCELLED when [`Engine::run`] has
//! its [`Outcome`]. The CLI drives a query on its own task ([`Engine::queue`], [`QueryExecution::drive`]: one
//! statement at a time, on the thread that waits for it); a server submits it to a thread of its own
//! ([`Engine::submit`]). The handle polls ([`QueryExecution::status`]: state, timings, bytes so far), cancels,
//! and waits for the outcome (the rows, the statistics, the bill). A request made [`QueryRequest::streamed`]
//! hands its rows out as they are computed instead ([`QueryExecution::results`], a [`ResultStream`]), for the
//! servers that send rows while a query runs; its outcome then has the statistics and the bill, not the rows.
//!
//! The invariant: a query leaves RUNNING exactly once, with its bill computed from what the meter counted
//! after the reads still in flight have settled; a failed query always carries its error ([`Ending::Failed`]),
//! a cancelled one is billed for what it read.

use super::Engine;
use crate::cost::{Bill, QueryState, StatementType};
use crate::error::Error;
use crate::sql::Statement;
use crate::storage::meter::{Meter, Requests};
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::sql::parser::Statement as DFStatement;
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};

pub use crate::config::DEFAULT_WORKGROUP;

/// The reason a query stopped by its scan budget carries (Athena's words).
pub const BYTES_LIMIT_REASON: &str = "Bytes scanned limit was exceeded";

/// The reason a streamed query ends with when its reader stopped reading (dropped its [`ResultStream`]).
pub const RESULTS_DROPPED_REASON: &str = "the client stopped reading the results";

/// How many batches a streamed query computes ahead of its reader.
const STREAM_AHEAD: usize = 8;

/// How a statement ended.
#[derive(Debug)]
pub enum Ending {
    Succeeded,
    /// It failed: planning, reading or computing, with the error that says where.
    Failed(Error),
    /// It was cancelled, and is billed for what it read: by the user (no reason) or by owl (its scan budget:
    /// [`BYTES_LIMIT_REASON`]).
    Cancelled {
        reason: Option<String>,
    },
}

impl Ending {
    pub fn state(&self) -> QueryState {
        match self {
            Ending::Succeeded => QueryState::Succeeded,
            Ending::Failed(_) => QueryState::Failed,
            Ending::Cancelled { .. } => QueryState::Cancelled,
        }
    }

    /// Why owl cancelled the statement, when it did.
    pub fn cancel_reason(&self) -> Option<&str> {
        match self {
            Ending::Cancelled { reason } => reason.as_deref(),
            _ => None,
        }
    }
}

/// The statistics of one statement, as scripts read them (`--format json`, reports).
#[derive(Debug, Clone, Serialize)]
pub struct QueryStats {
    pub query_id: String,
    pub statement_type: StatementType,
    pub state: QueryState,
    pub rows: u64,
    pub elapsed_ms: u64,
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
    pub files_read: u64,
    pub requests: Requests,
    /// What it read of what its tables hold, and what it skipped; absent when it scanned no file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::storage::meter::ReadBreakdown>,
    /// Why a statement was cancelled or failed, when owl decided it (`Bytes scanned limit was exceeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
}

/// What running one statement produced: its rows when it succeeded, its statistics and bill always.
#[derive(Debug)]
pub struct Outcome {
    pub sql: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub stats: QueryStats,
    pub ending: Ending,
    /// Why its query history entry could not be written, when it could not (the query's own ending stands).
    pub history_error: Option<String>,
}

impl Outcome {
    /// The error of a failed statement.
    pub fn error(&self) -> Option<&Error> {
        match &self.ending {
            Ending::Failed(e) => Some(e),
            _ => None,
        }
    }
}

/// A statement to run, and how.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub statement: Statement,
    /// Values for named placeholders (`$name`), bound into the plan as typed values.
    pub params: Vec<(String, String)>,
    /// The scan budget: past it the query is CANCELLED and billed exactly this many bytes.
    pub max_bytes: Option<u64>,
    pub workgroup: String,
    /// Hand the rows out as they are computed ([`QueryExecution::results`]) rather than keep them.
    pub stream_results: bool,
    /// Who runs it, for the history (default: this process's account, `$USER`).
    pub user: String,
    /// The database its unqualified names resolve in (default: the engine's current one).
    pub database: Option<String>,
    /// The statement as its client wrote it, for its status and the history (default: the parsed statement).
    pub text: Option<String>,
    /// Values for its positional parameters (`?`, or an `EXECUTE` without `USING`), as SQL literals
    /// (Athena's `ExecutionParameters`: `'a'`, `5`, `DATE '2024-01-01'`).
    pub execution_parameters: Vec<String>,
    /// Where its rows are written when it succeeds (`<location>/<query id>.csv`, see `engine::results`): a
    /// local folder or an `s3://` prefix.
    pub output_location: Option<String>,
    /// Why it cannot run at all (its text did not parse): it ends FAILED with this reason, free.
    pub rejected: Option<String>,
    /// How its text was read and which catalog it sees (Postgres clients: `pg_catalog` too).
    pub dialect: super::Dialect,
    /// Typed values for its positional parameters (`$1`, `$2`, ...), as a Postgres client binds them.
    pub positional: Vec<datafusion::common::ScalarValue>,
}

impl QueryRequest {
    pub fn new(statement: Statement) -> Self {
        QueryRequest {
            statement,
            params: Vec::new(),
            max_bytes: None,
            workgroup: DEFAULT_WORKGROUP.into(),
            stream_results: false,
            user: local_user(),
            database: None,
            text: None,
            execution_parameters: Vec::new(),
            output_location: None,
            rejected: None,
            dialect: super::Dialect::Athena,
            positional: Vec::new(),
        }
    }

    /// A statement whose text could not be parsed: queued, it ends FAILED with `reason`, free, and leaves its
    /// history entry as every statement does.
    pub fn rejected(text: &str, reason: String) -> Self {
        let placeholder = Statement::Sql(DFStatement::Statement(Box::new(
            datafusion::sql::sqlparser::ast::Statement::Commit {
                chain: false,
                end: false,
                modifier: None,
            },
        )));
        QueryRequest {
            text: Some(text.to_string()),
            rejected: Some(reason),
            ..QueryRequest::new(placeholder)
        }
    }

    /// Stream the rows ([`QueryExecution::results`]) instead of keeping them in the outcome.
    pub fn streamed(mut self) -> Self {
        self.stream_results = true;
        self
    }

    pub fn with_params(mut self, params: &[(String, String)]) -> Self {
        self.params = params.to_vec();
        self
    }

    pub fn with_workgroup(mut self, workgroup: &str) -> Self {
        self.workgroup = workgroup.to_string();
        self
    }

    pub fn with_max_bytes(mut self, max_bytes: Option<u64>) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// The rows of a streamed query ([`QueryRequest::streamed`]): its schema once it is planned, then its batches as
/// they are computed (a few ahead of the reader; a slow reader slows the query, it does not fill memory). The
/// stream's end does not say how the query ended: [`QueryExecution::wait`] does, and rows of a query that failed
/// or was cancelled stop short. Dropping the stream before its end cancels the query
/// ([`RESULTS_DROPPED_REASON`]).
#[derive(Debug)]
pub struct ResultStream {
    schema_rx: Option<oneshot::Receiver<SchemaRef>>,
    schema: Option<SchemaRef>,
    batches: mpsc::Receiver<RecordBatch>,
}

impl ResultStream {
    /// The rows' schema, once the statement is planned; None when it ended before that (it failed to plan, or
    /// was cancelled).
    pub async fn schema(&mut self) -> Option<SchemaRef> {
        if let Some(rx) = self.schema_rx.take() {
            self.schema = rx.await.ok();
        }
        self.schema.clone()
    }

    /// The next batch; None when there are no more.
    pub async fn next(&mut self) -> Option<RecordBatch> {
        self.batches.recv().await
    }
}

/// The engine's end of a [`ResultStream`].
#[derive(Debug)]
pub(crate) struct ResultSink {
    schema: Option<oneshot::Sender<SchemaRef>>,
    batches: mpsc::Sender<RecordBatch>,
}

impl ResultSink {
    fn pair() -> (ResultSink, ResultStream) {
        let (schema_tx, schema_rx) = oneshot::channel();
        let (tx, rx) = mpsc::channel(STREAM_AHEAD);
        (
            ResultSink {
                schema: Some(schema_tx),
                batches: tx,
            },
            ResultStream {
                schema_rx: Some(schema_rx),
                schema: None,
                batches: rx,
            },
        )
    }

    /// The rows' schema, sent once.
    pub(crate) fn schema(&mut self, schema: &SchemaRef) {
        if let Some(tx) = self.schema.take() {
            let _ = tx.send(Arc::clone(schema));
        }
    }

    /// Send a batch, waiting while the reader is behind; false when the reader has gone.
    pub(crate) async fn send(&self, batch: RecordBatch) -> bool {
        self.batches.send(batch).await.is_ok()
    }
}

/// What a statement produced, kept or streamed.
#[derive(Debug)]
pub(crate) struct Produced {
    pub kind: StatementType,
    pub schema: SchemaRef,
    /// The rows, unless they were streamed.
    pub batches: Vec<RecordBatch>,
    pub rows: u64,
    /// The reader of a streamed result went away before its end.
    pub abandoned: bool,
}

impl Produced {
    pub(crate) fn new(kind: StatementType, schema: SchemaRef) -> Self {
        Produced {
            kind,
            schema,
            batches: Vec::new(),
            rows: 0,
            abandoned: false,
        }
    }

    /// Keep `batch`, or send it down `sink`; false when the reader of `sink` has gone (stop computing).
    pub(crate) async fn push(&mut self, batch: RecordBatch, sink: Option<&ResultSink>) -> bool {
        self.rows += batch.num_rows() as u64;
        match sink {
            Some(sink) => {
                if !sink.send(batch).await {
                    self.abandoned = true;
                }
            }
            None => self.batches.push(batch),
        }
        !self.abandoned
    }
}

/// Where a query is, as [`QueryExecution::status`] reads it (Athena's `GetQueryExecution`).
#[derive(Debug, Clone)]
pub struct QueryStatus {
    pub id: String,
    pub sql: String,
    pub database: String,
    pub workgroup: String,
    pub state: QueryState,
    /// Why it failed or was cancelled, when it did.
    pub state_reason: Option<String>,
    pub submitted_at: SystemTime,
    pub completed_at: Option<SystemTime>,
    /// Time spent QUEUED, then RUNNING (so far, or in all), and in all.
    pub queue_ms: u64,
    pub engine_ms: u64,
    pub total_ms: u64,
    /// Bytes read so far (the bill's, once it has ended).
    pub bytes_scanned: u64,
}

/// A submitted query: a cheap handle to poll, cancel and wait for it from any task.
#[derive(Debug, Clone)]
pub struct QueryExecution {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    id: String,
    sql: String,
    database: String,
    workgroup: String,
    meter: Arc<Meter>,
    submitted_at: SystemTime,
    submitted: Instant,
    times: Mutex<Times>,
    cancel: watch::Sender<bool>,
    outcome: watch::Sender<Option<Arc<Outcome>>>,
    /// What it needs to run, until it is driven.
    pending: Mutex<Option<Pending>>,
    /// The reader's end of a streamed query, until [`QueryExecution::results`] takes it.
    results: Mutex<Option<ResultStream>>,
}

#[derive(Debug)]
struct Pending {
    engine: Engine,
    request: QueryRequest,
    /// Where its rows go when streamed.
    sink: Option<ResultSink>,
    /// Why it runs nothing (its text did not parse; its work group or database is unknown, its work group
    /// disabled), found when it was queued.
    refused: Option<Error>,
}

#[derive(Debug, Default)]
struct Times {
    started: Option<Instant>,
    completed: Option<(Instant, SystemTime)>,
}

impl QueryExecution {
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The meter its reads charge (progress: bytes and files so far).
    pub fn meter(&self) -> &Arc<Meter> {
        &self.shared.meter
    }

    /// Ask it to stop: a query still running ends CANCELLED, billed for what it read; one that has ended
    /// keeps its state.
    pub fn cancel(&self) {
        self.shared.cancel.send_replace(true);
    }

    /// Resolves once it has been asked to stop ([`QueryExecution::cancel`]).
    pub fn cancelled(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.shared.cancel.subscribe();
        async move {
            if rx.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The rows of a streamed query ([`QueryRequest::streamed`]), to the first caller; None for a query that
    /// keeps its rows, or when taken already.
    pub fn results(&self) -> Option<ResultStream> {
        self.shared
            .results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Its outcome, once it has ended.
    pub fn outcome(&self) -> Option<Arc<Outcome>> {
        self.shared.outcome.borrow().clone()
    }

    /// Run it here, on the caller's task, to its end (RUNNING, then its outcome); a query that another caller
    /// drives already is waited for. Poll the future to completion: dropped half-way, the query stays RUNNING
    /// and its waiters wait for good (to stop it early, `cancel` and keep polling: it ends CANCELLED, billed).
    pub async fn drive(&self) -> Arc<Outcome> {
        let pending = self
            .shared
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(Pending {
            engine,
            request,
            sink,
            refused,
        }) = pending
        else {
            return self.wait().await;
        };
        let s = &self.shared;
        s.times.lock().unwrap_or_else(|p| p.into_inner()).started = Some(Instant::now());
        let mut cancel = s.cancel.subscribe();
        let cancelled = async move {
            if cancel.wait_for(|c| *c).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let outcome = engine
            .run(
                &request,
                &s.id,
                Arc::clone(&s.meter),
                cancelled,
                sink,
                refused,
            )
            .await;
        // Its rows are written where it was asked, before it is seen to succeed: a query whose results could
        // not be written failed (as Athena's does).
        let mut outcome = outcome;
        if let (Some(location), Ending::Succeeded) = (&request.output_location, &outcome.ending)
            && let Err(e) = super::results::write(
                &engine,
                location,
                &s.id,
                &outcome.schema,
                &outcome.batches,
                outcome.stats.statement_type,
            )
            .await
        {
            outcome.batches.clear();
            outcome.stats.state = QueryState::Failed;
            outcome.ending = Ending::Failed(e);
        }
        s.times.lock().unwrap_or_else(|p| p.into_inner()).completed =
            Some((Instant::now(), SystemTime::now()));
        // Its history entry is written before anyone sees it end.
        let status = self.status_with(Some(&outcome));
        let record = entry(
            &status,
            &outcome,
            &request.user,
            request.output_location.as_deref(),
        );
        if let Err(e) = engine.history().record(&record) {
            outcome.history_error = Some(e.to_string());
        }
        let outcome = Arc::new(outcome);
        s.outcome.send_replace(Some(Arc::clone(&outcome)));
        outcome
    }

    /// Wait for it to end.
    pub async fn wait(&self) -> Arc<Outcome> {
        let mut rx = self.shared.outcome.subscribe();
        loop {
            if let Some(o) = rx.borrow_and_update().clone() {
                return o;
            }
            if rx.changed().await.is_err() {
                // The sender lives in `shared`, which this handle holds: it cannot be dropped before us.
                unreachable!("a query's outcome channel outlives its handles");
            }
        }
    }

    /// Where it is now.
    pub fn status(&self) -> QueryStatus {
        self.status_with(self.outcome().as_deref())
    }

    /// Its status, given its outcome (known to the driver before the waiters).
    fn status_with(&self, outcome: Option<&Outcome>) -> QueryStatus {
        let s = &self.shared;
        let times = s.times.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let end = times.completed.map_or(now, |(at, _)| at);
        let ms = |d: Duration| d.as_millis() as u64;
        let (state, state_reason, bytes_scanned) = match outcome {
            Some(o) => (
                o.ending.state(),
                match &o.ending {
                    Ending::Failed(e) => Some(e.to_string()),
                    Ending::Cancelled { reason } => reason.clone(),
                    Ending::Succeeded => None,
                },
                o.stats.bytes_scanned,
            ),
            None if times.started.is_some() => (QueryState::Running, None, s.meter.bytes_scanned()),
            None => (QueryState::Queued, None, 0),
        };
        QueryStatus {
            id: s.id.clone(),
            sql: s.sql.clone(),
            database: s.database.clone(),
            workgroup: s.workgroup.clone(),
            state,
            state_reason,
            submitted_at: s.submitted_at,
            completed_at: times.completed.map(|(_, at)| at),
            queue_ms: ms(times.started.unwrap_or(end).duration_since(s.submitted)),
            engine_ms: times.started.map_or(0, |t| ms(end.duration_since(t))),
            total_ms: ms(end.duration_since(s.submitted)),
            bytes_scanned,
        }
    }
}

impl Engine {
    /// A statement, QUEUED: it runs when its handle is driven ([`QueryExecution::drive`], on the caller's task,
    /// as the CLI does) or on a thread of its own ([`Engine::submit`]).
    pub fn queue(&self, request: QueryRequest) -> QueryExecution {
        // Its work group, read once: a query runs only in one that exists and is enabled, and scans at most
        // the smaller of its own budget and the work group's per-query cutoff.
        let workgroup = crate::catalog::workgroups::WorkGroups::new(self.registry().root())
            .for_query(&request.workgroup);
        let cutoff = workgroup
            .as_ref()
            .ok()
            .and_then(|wg| wg.configuration.bytes_scanned_cutoff_per_query);
        let limit = match (request.max_bytes, cutoff) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let database = request.database.clone().unwrap_or_else(|| self.database());
        let refused = match &request.rejected {
            Some(reason) => Some(Error::Query(reason.clone())),
            None => workgroup.err().or_else(|| {
                (!self.registry().database_exists(&database))
                    .then(|| Error::DatabaseNotFound(database.clone()))
            }),
        };
        let (sink, results) = match request.stream_results {
            true => {
                let (sink, stream) = ResultSink::pair();
                (Some(sink), Some(stream))
            }
            false => (None, None),
        };
        QueryExecution {
            shared: Arc::new(Shared {
                id: uuid::Uuid::new_v4().to_string(),
                sql: request
                    .text
                    .clone()
                    .unwrap_or_else(|| request.statement.to_string()),
                database,
                workgroup: request.workgroup.clone(),
                meter: Arc::new(Meter::with_limit(limit)),
                submitted_at: SystemTime::now(),
                submitted: Instant::now(),
                times: Mutex::new(Times::default()),
                cancel: watch::channel(false).0,
                outcome: watch::channel(None).0,
                pending: Mutex::new(Some(Pending {
                    engine: self.clone(),
                    request,
                    sink,
                    refused,
                })),
                results: Mutex::new(results),
            }),
        }
    }

    /// A request for `statement` in this engine's work group (`Settings::workgroup`).
    pub fn request(&self, statement: Statement) -> QueryRequest {
        QueryRequest::new(statement).with_workgroup(&self.settings().workgroup)
    }

    /// Submit a statement: it is QUEUED now and runs on a thread of the current Tokio runtime's blocking pool
    /// (call it inside one); the handle follows it. A statement's future need not be `Send` there (CTAS holds
    /// ORC's encoders across its writes), and DataFusion's tasks still run on the runtime's workers.
    pub fn submit(&self, request: QueryRequest) -> QueryExecution {
        let exec = self.queue(request);
        let driver = exec.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || runtime.block_on(driver.drive()));
        exec
    }

    /// Run one statement here, to its end: what every [`QueryExecution`] runs. `cancel` resolving cancels it
    /// (CANCELLED, billed for what it read), as does `meter` passing its limit, or the reader of `sink` going
    /// away. With a `sink` the rows go there, as they are computed, not into the outcome. A `refused` query (its
    /// work group runs nothing) fails at once, free.
    pub(crate) async fn run(
        &self,
        request: &QueryRequest,
        query_id: &str,
        meter: Arc<Meter>,
        cancel: impl Future<Output = ()>,
        sink: Option<ResultSink>,
        refused: Option<Error>,
    ) -> Outcome {
        let started = Instant::now();
        let sql = request.statement.to_string();
        let mut sink = sink;
        let run = async {
            match refused {
                Some(e) => Err((StatementType::Dml, e)),
                None => {
                    self.plan_and_collect(
                        &request.statement,
                        Arc::clone(&meter),
                        request,
                        sink.as_mut(),
                    )
                    .await
                }
            }
        };
        let over_budget = || Ending::Cancelled {
            reason: Some(BYTES_LIMIT_REASON.to_string()),
        };
        // Biased: a cancel or an exceeded budget wins over a run that is also ready.
        let nothing = |kind| Produced::new(kind, empty_schema());
        let (ending, produced) = tokio::select! {
            biased;
            () = cancel => (Ending::Cancelled { reason: None }, nothing(StatementType::Dml)),
            () = meter.over_limit() => (over_budget(), nothing(StatementType::Dml)),
            r = run => match r {
                // Reads run on tasks of their own: a query can finish in the same instant it crosses its
                // budget. Over budget is cancelled, whichever came first (as an Athena workgroup limit).
                Ok(_) if meter.is_over_limit() => (over_budget(), nothing(StatementType::Dml)),
                Ok(p) if p.abandoned => (
                    Ending::Cancelled { reason: Some(RESULTS_DROPPED_REASON.to_string()) },
                    Produced { batches: vec![], ..p },
                ),
                Ok(p) => (Ending::Succeeded, p),
                Err((kind, e)) => (Ending::Failed(self.naming_limit(e)), nothing(kind)),
            },
        };
        // The reader's stream ends here, before the outcome is known to waiters.
        drop(sink);
        let Produced {
            kind,
            schema,
            batches,
            rows,
            ..
        } = produced;
        let state = ending.state();
        // Remote responses still arriving (a LIMIT that stopped early, a cancel) are what the store sent: wait for
        // them, briefly when the user cancelled, so the bill includes them.
        let grace = if state == QueryState::Cancelled {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(30)
        };
        meter.settle(grace).await;
        let reading = meter.reading();
        let reason = ending.cancel_reason().map(str::to_string);
        // A query stopped by its budget is billed exactly the cutoff, as Athena does.
        let billable = match (&reason, meter.limit()) {
            (Some(_), Some(limit)) => reading.bytes_scanned.min(limit),
            _ => reading.bytes_scanned,
        };
        let Bill {
            billed_bytes,
            cost_usd,
            ..
        } = self.settings().cost.bill(billable, state, kind);
        Outcome {
            sql,
            schema,
            batches,
            ending,
            history_error: None,
            stats: QueryStats {
                query_id: query_id.to_string(),
                statement_type: kind,
                state,
                rows,
                elapsed_ms: started.elapsed().as_millis() as u64,
                bytes_scanned: reading.bytes_scanned,
                billed_bytes,
                cost_usd,
                files_read: reading.files_read,
                requests: reading.requests,
                read: meter.breakdown(),
                state_reason: reason,
            },
        }
    }
}

/// This process's account name (`$USER`, `$USERNAME`), or `unknown`.
fn local_user() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

/// The history entry of a query that has ended.
fn entry(
    status: &QueryStatus,
    outcome: &Outcome,
    user: &str,
    output_location: Option<&str>,
) -> crate::history::Entry {
    let at = |t: SystemTime| chrono::DateTime::<chrono::Utc>::from(t);
    crate::history::Entry {
        query_id: status.id.clone(),
        workgroup: status.workgroup.clone(),
        database: status.database.clone(),
        sql: status.sql.clone(),
        statement_type: outcome.stats.statement_type,
        state: status.state,
        state_reason: status.state_reason.clone(),
        submitted_at: at(status.submitted_at),
        completed_at: at(status.completed_at.unwrap_or_else(SystemTime::now)),
        queue_ms: status.queue_ms,
        engine_ms: status.engine_ms,
        total_ms: status.total_ms,
        bytes_scanned: outcome.stats.bytes_scanned,
        billed_bytes: outcome.stats.billed_bytes,
        cost_usd: outcome.stats.cost_usd,
        rows: outcome.stats.rows,
        files_read: outcome.stats.files_read,
        read: outcome.stats.read.clone(),
        user: user.to_string(),
        output_location: match outcome.ending {
            Ending::Succeeded => output_location.map(str::to_string),
            _ => None,
        },
        reused_from: None,
    }
}

fn empty_schema() -> SchemaRef {
    Arc::new(Schema::empty())
}
