//! The server's queries. Each goes through the engine's lifecycle: queued here (`Engine::queue`), it waits for
//! one of `max_concurrent` slots in submission order, then runs on a thread of its own, and its history entry is
//! written before it is seen to end. Each has its own meter (bills never mix). While it is queued or running the
//! server holds its handle; once it ends only its summary stays (a [`Record`]: no rows, which are in its result
//! file), and queries of earlier runs of the server, or of the CLI, are read back from the query history.

use super::ApiError;
use crate::cost::{QueryState, StatementType};
use crate::engine::results::ResultFile;
use crate::engine::{Engine, QueryExecution, QueryRequest};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Result files kept parsed in memory, for clients paging through them.
const CACHED_RESULTS: usize = 32;

/// Ended queries whose summaries stay in memory (older ones are read back from the history).
const REMEMBERED: usize = 10_000;

/// What the server knows of one query, live or ended (Athena's `QueryExecution`).
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub sql: String,
    pub database: String,
    pub workgroup: String,
    pub statement_type: StatementType,
    pub state: QueryState,
    pub state_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub queue_ms: u64,
    pub engine_ms: u64,
    pub total_ms: u64,
    pub bytes_scanned: u64,
    pub rows: u64,
    pub output_location: Option<String>,
    pub reused_from: Option<String>,
    pub execution_parameters: Vec<String>,
    pub user: String,
    /// What it read of what its tables hold, and what it skipped (so far, while it runs).
    pub read: Option<crate::storage::meter::ReadBreakdown>,
}

impl Record {
    pub fn from_entry(e: &crate::history::Entry) -> Self {
        Record {
            id: e.query_id.clone(),
            sql: e.sql.clone(),
            database: e.database.clone(),
            workgroup: e.workgroup.clone(),
            statement_type: e.statement_type,
            state: e.state,
            state_reason: e.state_reason.clone(),
            submitted_at: e.submitted_at,
            completed_at: Some(e.completed_at),
            queue_ms: e.queue_ms,
            engine_ms: e.engine_ms,
            total_ms: e.total_ms,
            bytes_scanned: e.bytes_scanned,
            rows: e.rows,
            output_location: e.output_location.clone(),
            reused_from: e.reused_from.clone(),
            execution_parameters: vec![],
            user: e.user.clone(),
            read: e.read.clone(),
        }
    }

    fn from_live(exec: &QueryExecution, extra: &Extra) -> Self {
        let status = exec.status();
        let outcome = exec.outcome();
        let at = |t: std::time::SystemTime| DateTime::<Utc>::from(t);
        Record {
            id: status.id,
            sql: status.sql,
            database: status.database,
            workgroup: status.workgroup,
            statement_type: outcome
                .as_ref()
                .map_or(extra.statement_type, |o| o.stats.statement_type),
            state: status.state,
            state_reason: status.state_reason,
            submitted_at: at(status.submitted_at),
            completed_at: status.completed_at.map(at),
            queue_ms: status.queue_ms,
            engine_ms: status.engine_ms,
            total_ms: status.total_ms,
            bytes_scanned: status.bytes_scanned,
            rows: outcome.as_ref().map_or(0, |o| o.stats.rows),
            output_location: match status.state {
                QueryState::Failed | QueryState::Cancelled => None,
                _ => extra.output_location.clone(),
            },
            reused_from: None,
            execution_parameters: extra.execution_parameters.clone(),
            user: extra.user.clone(),
            read: exec.meter().breakdown(),
        }
    }
}

/// What the server keeps beside a live query's handle.
#[derive(Debug, Clone)]
pub struct Extra {
    /// Its type as read from its text, until its plan says.
    pub statement_type: StatementType,
    pub output_location: Option<String>,
    pub execution_parameters: Vec<String>,
    pub user: String,
}

#[derive(Debug)]
enum Known {
    Live(QueryExecution, Extra),
    Done(Box<Record>),
}

#[derive(Debug, Default)]
struct Table {
    by_id: HashMap<String, Known>,
    /// `ClientRequestToken` -> (query id, what was asked), for idempotent retries.
    tokens: HashMap<String, (String, String)>,
    results: VecDeque<(String, Arc<ResultFile>)>,
    /// Ended queries, oldest first, to forget the oldest past [`REMEMBERED`].
    ended: VecDeque<String>,
}

impl Table {
    fn ended(&mut self, id: &str) {
        self.ended.push_back(id.to_string());
        while self.ended.len() > REMEMBERED {
            if let Some(old) = self.ended.pop_front() {
                self.by_id.remove(&old);
                self.tokens.retain(|_, (id, _)| *id != old);
            }
        }
    }
}

/// A queued query and where its slot is sent when its turn comes.
type Turn = (QueryExecution, oneshot::Sender<OwnedSemaphorePermit>);

/// The server's queries.
#[derive(Debug)]
pub struct Queries {
    engine: Engine,
    table: Mutex<Table>,
    /// The queue, in submission order: one task hands out the slots, first come first served.
    queue: mpsc::UnboundedSender<Turn>,
    max_queued: usize,
    waiting: Arc<AtomicUsize>,
    closing: AtomicBool,
}

impl Queries {
    /// The queries of a server (call inside a Tokio runtime: the queue's task starts here).
    pub fn new(engine: Engine, max_concurrent: usize, max_queued: usize) -> Self {
        let slots = Arc::new(Semaphore::new(max_concurrent));
        let (queue, mut turns) = mpsc::unbounded_channel::<Turn>();
        tokio::spawn(async move {
            while let Some((exec, turn)) = turns.recv().await {
                // A query stopped while it waited gives up its place.
                let permit = tokio::select! {
                    p = Arc::clone(&slots).acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    () = exec.cancelled() => continue,
                };
                // Refused (the query was stopped meanwhile): the slot goes back with the permit.
                let _ = turn.send(permit);
            }
        });
        Queries {
            engine,
            table: Mutex::new(Table::default()),
            queue,
            max_queued,
            waiting: Arc::new(AtomicUsize::new(0)),
            closing: AtomicBool::new(false),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `request`; it runs when a slot is free. A `token` already used for the same `fingerprint` gives the
    /// query it started (a retry); for another, InvalidRequestException.
    pub fn start(
        self: &Arc<Self>,
        request: QueryRequest,
        extra: Extra,
        token: Option<(String, String)>,
    ) -> Result<String, ApiError> {
        Ok(match self.queue(request, extra, token)? {
            Ok(exec) => exec.id().to_string(),
            Err(retried) => retried,
        })
    }

    /// Queue `request` as [`Queries::start`] does, returning the query's handle (to read a streamed query's rows,
    /// wait for its end).
    pub fn submit(
        self: &Arc<Self>,
        request: QueryRequest,
        extra: Extra,
    ) -> Result<QueryExecution, ApiError> {
        match self.queue(request, extra, None)? {
            Ok(exec) => Ok(exec),
            // Without a token nothing is a retry.
            Err(id) => Err(ApiError::internal(format!(
                "query {id} was not queued again"
            ))),
        }
    }

    /// Queue a query: its handle, or the id of the query an earlier request with the same token started.
    fn queue(
        self: &Arc<Self>,
        request: QueryRequest,
        extra: Extra,
        token: Option<(String, String)>,
    ) -> Result<Result<QueryExecution, String>, ApiError> {
        if self.closing.load(Ordering::SeqCst) {
            return Err(ApiError::new(
                "TooManyRequestsException",
                "the server is shutting down",
            ));
        }
        let mut table = self.table();
        if let Some((token, fingerprint)) = &token
            && let Some((id, asked)) = table.tokens.get(token)
        {
            if asked == fingerprint {
                return Ok(Err(id.clone()));
            }
            return Err(ApiError::invalid(format!(
                "Idempotent parameters do not match: ClientRequestToken `{token}` started query {id} with \
                 other parameters"
            )));
        }
        if self.waiting.load(Ordering::SeqCst) >= self.max_queued {
            return Err(ApiError::new(
                "TooManyRequestsException",
                format!(
                    "{} queries are queued already: retry later (--max-queued-queries)",
                    self.max_queued
                ),
            ));
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let exec = self.engine.queue(request);
        let id = exec.id().to_string();
        table
            .by_id
            .insert(id.clone(), Known::Live(exec.clone(), extra));
        if let Some((token, fingerprint)) = token {
            table.tokens.insert(token, (id.clone(), fingerprint));
        }
        let (turn, my_turn) = oneshot::channel();
        // In the queue while the table is still locked: queries take their turns in submission order.
        let _ = self.queue.send((exec.clone(), turn));
        drop(table);
        let this = Arc::clone(self);
        let handle = exec.clone();
        tokio::spawn(async move {
            // A query stopped while it waits leaves the queue at once (it then ends CANCELLED, free).
            let permit = tokio::select! {
                p = my_turn => p.ok(),
                () = exec.cancelled() => None,
            };
            this.waiting.fetch_sub(1, Ordering::SeqCst);
            let driver = exec.clone();
            let runtime = tokio::runtime::Handle::current();
            let _ = tokio::task::spawn_blocking(move || runtime.block_on(driver.drive())).await;
            drop(permit);
            this.settle(&exec);
        });
        Ok(Ok(handle))
    }

    /// Keep only the summary of an ended query (its rows go with its handle).
    fn settle(&self, exec: &QueryExecution) {
        let mut table = self.table();
        if let Some(Known::Live(e, extra)) = table.by_id.get(exec.id()) {
            let record = Record::from_live(e, extra);
            table
                .by_id
                .insert(exec.id().to_string(), Known::Done(Box::new(record)));
            table.ended(exec.id());
        }
    }

    /// A query of this server, or of the history.
    pub fn get(&self, id: &str) -> Option<Record> {
        if let Some(known) = self.table().by_id.get(id) {
            return Some(match known {
                Known::Live(e, extra) => Record::from_live(e, extra),
                Known::Done(r) => (**r).clone(),
            });
        }
        let read = self.engine.history().read().ok()?;
        read.entries
            .iter()
            .find(|e| e.query_id == id)
            .map(Record::from_entry)
    }

    /// Every query known, newest first: this server's, then the history's (the CLI's, earlier runs').
    pub fn list(&self) -> Vec<Record> {
        self.list_since(None)
    }

    /// [`Queries::list`], reading only the history's days from `since`'s on.
    pub fn list_since(&self, since: Option<DateTime<Utc>>) -> Vec<Record> {
        let mut records: Vec<Record> = self
            .table()
            .by_id
            .values()
            .map(|k| match k {
                Known::Live(e, extra) => Record::from_live(e, extra),
                Known::Done(r) => (**r).clone(),
            })
            .collect();
        let seen: std::collections::HashSet<String> =
            records.iter().map(|r| r.id.clone()).collect();
        if let Ok(read) = self.engine.history().read_since(since) {
            records.extend(
                read.entries
                    .iter()
                    .filter(|e| !seen.contains(&e.query_id))
                    .map(Record::from_entry),
            );
        }
        records.sort_by(|a, b| b.submitted_at.cmp(&a.submitted_at).then(b.id.cmp(&a.id)));
        records
    }

    /// Stop a query of this server that is queued or running; false when it is not one.
    pub fn stop(&self, id: &str) -> bool {
        match self.table().by_id.get(id) {
            Some(Known::Live(e, _)) => {
                e.cancel();
                true
            }
            _ => false,
        }
    }

    /// Remember a query that reused another's results: it ran nothing.
    pub fn remember(&self, record: Record) {
        let mut table = self.table();
        let id = record.id.clone();
        table
            .by_id
            .insert(id.clone(), Known::Done(Box::new(record)));
        table.ended(&id);
    }

    /// The result file of query `id` written to `location`, parsed (kept for the next pages).
    pub async fn results(&self, id: &str, location: &str) -> crate::error::Result<Arc<ResultFile>> {
        if let Some((_, r)) = self.table().results.iter().find(|(k, _)| k == id) {
            return Ok(Arc::clone(r));
        }
        let file = Arc::new(crate::engine::results::read(&self.engine, location, id).await?);
        let mut table = self.table();
        table.results.push_back((id.to_string(), Arc::clone(&file)));
        while table.results.len() > CACHED_RESULTS {
            table.results.pop_front();
        }
        Ok(file)
    }

    /// Wait up to `patience` for query `id` to end, when it is one of this server's that is queued or running.
    pub async fn wait_for(&self, id: &str, patience: std::time::Duration) {
        let live = match self.table().by_id.get(id) {
            Some(Known::Live(e, _)) => e.clone(),
            _ => return,
        };
        let _ = tokio::time::timeout(patience, live.wait()).await;
    }

    /// Queries queued or running now.
    pub fn live(&self) -> Vec<QueryExecution> {
        self.table()
            .by_id
            .values()
            .filter_map(|k| match k {
                Known::Live(e, _) => Some(e.clone()),
                Known::Done(_) => None,
            })
            .collect()
    }

    /// Take no more queries; cancel those queued or running and wait until each has ended (billed, with its
    /// history entry).
    pub async fn shut_down(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let live = self.live();
        for e in &live {
            e.cancel();
        }
        for e in &live {
            e.wait().await;
        }
    }
}
