//! The meter: what one query really read from storage.
//!
//! [`MeteredStore`] wraps any `ObjectStore` and charges every request and every byte received to one [`Meter`].
//! Each query gets its own `Meter` (and its own store registry, see `engine`), so two concurrent queries never
//! mix their counts. Bytes are counted as the response body is consumed, not when a request is made: a LIMIT
//! query that stops early pays only for what it pulled, and a cancelled query pays for what it read.
//!
//! Not here: turning bytes into dollars (`cost`), deciding which store serves a URL (`storage::stores`).

mod store;

pub use store::{MeteredRegistry, MeteredStore, RangeReads};

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The running counts of one query. Cheap to update from many tasks at once.
#[derive(Debug, Default)]
pub struct Meter {
    bytes: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    list: AtomicU64,
    put: AtomicU64,
    delete: AtomicU64,
    /// Distinct objects that had at least one GET, as `store-url/path`.
    files: Mutex<BTreeSet<String>>,
    /// Files the tasks of a cluster reported (each task's distinct files; [`Meter::add_reading`]).
    remote_files: AtomicU64,
    /// Remote requests still receiving: they finish (and are counted) even when the query no longer wants
    /// them, so the bill is what the store sent. [`Meter::settle`] waits for them.
    in_flight: tokio::sync::watch::Sender<usize>,
    /// What the query's scans will read, once planned: for progress lines and comparisons.
    planned: Mutex<Option<ScanPlan>>,
    /// Parquet row groups read of those the opened files hold, once the query has run.
    row_groups: Mutex<Option<RowGroups>>,
    /// Files the scans skipped by their statistics without reading them, once the query has run.
    files_skipped: Mutex<Option<u64>>,
    /// Each partitioned scan's partitions in words (`logs: 1 of 8 partitions`), once planned.
    partitions: Mutex<Vec<String>>,
    /// A scan budget (`--max-bytes-per-query`): crossing it flips `over`.
    limit: Option<u64>,
    over: tokio::sync::watch::Sender<bool>,
}

/// What a planned query's file scans will read (from the physical plan, before any data is read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanPlan {
    /// File scans in the plan.
    pub scans: u64,
    /// Distinct files the scans open.
    pub files: u64,
    /// File columns the scans read (projection and pushed-down filters) and the files' columns; partition
    /// columns live in paths and are neither. A scan of a row format reads every column of its files.
    pub columns_read: u64,
    pub columns_total: u64,
    /// Whether a scan reads a row format (CSV, JSON, Avro): it parses every column of every row it reads.
    pub row_format: bool,
}

/// Parquet row groups a run read, of those its opened files hold: the rest were pruned by min/max statistics
/// or bloom filters (DataFusion's scan metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowGroups {
    pub read: u64,
    pub total: u64,
}

/// What a query read of what its tables hold, and what it skipped: kept with every run that scanned files
/// (its stats, the history, the console's "Why it cost that"), from the plan and the scans' own metrics, so
/// nothing is run again to explain a bill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBreakdown {
    /// Files the scans were planned to open (what partition pruning and the listing left).
    pub files_planned: u64,
    /// Of those, files skipped by their statistics before a byte of data was read (DataFusion's file pruning).
    pub files_skipped: u64,
    /// Distinct files a byte was read from (the meter's own count).
    pub files_read: u64,
    /// File columns the scans read (the projection and filters), of the files' columns. A row format parses
    /// every column however few it keeps (`row_format`).
    pub columns_read: u64,
    pub columns_total: u64,
    pub row_format: bool,
    /// Parquet row groups read, of those the opened files hold (the rest skipped by statistics or bloom
    /// filters); absent without a Parquet scan that opened a row group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_groups: Option<RowGroups>,
    /// Each partitioned scan's partitions in words (`logs: 1 of 8 partitions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitions: Vec<String>,
}

/// One remote request in flight (see [`Meter::begin`]).
pub(crate) struct InFlight(Arc<Meter>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Requests by kind, as S3 would bill them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub get: u64,
    pub head: u64,
    pub list: u64,
    pub put: u64,
    pub delete: u64,
}

/// A snapshot of a [`Meter`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MeterReading {
    pub bytes_scanned: u64,
    pub files_read: u64,
    pub requests: Requests,
}

impl Meter {
    pub fn new() -> Self {
        Self::default()
    }

    /// A meter with a scan budget: [`Meter::over_limit`] resolves once more than `limit` bytes were read.
    pub fn with_limit(limit: Option<u64>) -> Self {
        Meter {
            limit,
            ..Self::default()
        }
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// Resolves when the budget is exceeded; never, without a budget.
    pub async fn over_limit(&self) {
        if self.limit.is_none() {
            return std::future::pending().await;
        }
        let mut rx = self.over.subscribe();
        if rx.wait_for(|over| *over).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether more than the budget has been read (false without a budget).
    pub fn is_over_limit(&self) -> bool {
        self.limit.is_some_and(|l| self.bytes_scanned() > l)
    }

    pub fn reading(&self) -> MeterReading {
        MeterReading {
            bytes_scanned: self.bytes.load(Ordering::Relaxed),
            files_read: self.files_read(),
            requests: Requests {
                get: self.get.load(Ordering::Relaxed),
                head: self.head.load(Ordering::Relaxed),
                list: self.list.load(Ordering::Relaxed),
                put: self.put.load(Ordering::Relaxed),
                delete: self.delete.load(Ordering::Relaxed),
            },
        }
    }

    /// Mark a remote request as in flight until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.send_modify(|n| *n += 1);
        InFlight(Arc::clone(self))
    }

    /// Wait (at most `limit`) until no request is in flight, so a reading includes every byte received.
    pub async fn settle(&self, limit: Duration) {
        let mut rx = self.in_flight.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|n| *n == 0)).await;
    }

    /// Bytes received so far (for progress lines).
    pub fn bytes_scanned(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Distinct files read from so far (for progress lines).
    pub fn files_read(&self) -> u64 {
        self.files.lock().map(|f| f.len() as u64).unwrap_or(0)
            + self.remote_files.load(Ordering::Relaxed)
    }

    /// Charge what other processes read for this query (a cluster's tasks, each through its own meter): its
    /// bytes and requests are added; its files count as the tasks reported them (a file two tasks read from
    /// counts twice).
    pub fn add_reading(&self, r: &MeterReading) {
        self.bytes.fetch_add(r.bytes_scanned, Ordering::Relaxed);
        self.get.fetch_add(r.requests.get, Ordering::Relaxed);
        self.head.fetch_add(r.requests.head, Ordering::Relaxed);
        self.list.fetch_add(r.requests.list, Ordering::Relaxed);
        self.put.fetch_add(r.requests.put, Ordering::Relaxed);
        self.delete.fetch_add(r.requests.delete, Ordering::Relaxed);
        self.remote_files.fetch_add(r.files_read, Ordering::Relaxed);
        if let Some(limit) = self.limit
            && self.bytes_scanned() > limit
        {
            self.over.send_replace(true);
        }
    }

    /// Record what the planned scans will read.
    pub fn set_plan(&self, plan: ScanPlan) {
        if let Ok(mut p) = self.planned.lock() {
            *p = Some(plan);
        }
    }

    /// Record the Parquet row groups a run read (see [`RowGroups`]).
    pub fn set_row_groups(&self, rg: RowGroups) {
        if let Ok(mut r) = self.row_groups.lock() {
            *r = Some(rg);
        }
    }

    /// The Parquet row groups the run read, once run; None without Parquet scans.
    pub fn row_groups(&self) -> Option<RowGroups> {
        self.row_groups.lock().ok().and_then(|r| *r)
    }

    /// What the planned scans will read, once the query is planned.
    pub fn plan(&self) -> Option<ScanPlan> {
        self.planned.lock().ok().and_then(|p| *p)
    }

    /// Record the files the scans skipped by statistics (after the run).
    pub fn set_files_skipped(&self, n: u64) {
        if let Ok(mut f) = self.files_skipped.lock() {
            *f = Some(n);
        }
    }

    /// Record each partitioned scan's choice of partitions, in words.
    pub fn set_partitions(&self, scans: Vec<String>) {
        if let Ok(mut p) = self.partitions.lock() {
            *p = scans;
        }
    }

    /// What the query read of what its tables hold; None when it planned no file scan.
    pub fn breakdown(&self) -> Option<ReadBreakdown> {
        let plan = self.plan().filter(|p| p.scans > 0)?;
        Some(ReadBreakdown {
            files_planned: plan.files,
            // DataFusion counts skipped file ranges: a large file split across threads is one file.
            files_skipped: self
                .files_skipped
                .lock()
                .ok()
                .and_then(|f| *f)
                .unwrap_or(0)
                .min(plan.files),
            files_read: self.files_read(),
            columns_read: plan.columns_read,
            columns_total: plan.columns_total,
            row_format: plan.row_format,
            row_groups: self.row_groups(),
            partitions: self
                .partitions
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default(),
        })
    }

    fn add_bytes(&self, n: u64) {
        let total = self.bytes.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(limit) = self.limit
            && total > limit
        {
            self.over
                .send_if_modified(|over| !std::mem::replace(over, true));
        }
    }

    fn add_get(&self, object: String, requests: u64) {
        self.get.fetch_add(requests, Ordering::Relaxed);
        if let Ok(mut files) = self.files.lock() {
            files.insert(object);
        }
    }

    fn add_head(&self) {
        self.head.fetch_add(1, Ordering::Relaxed);
    }

    fn add_list(&self, n: u64) {
        self.list.fetch_add(n, Ordering::Relaxed);
    }

    fn add_put(&self) {
        self.put.fetch_add(1, Ordering::Relaxed);
    }

    fn add_delete(&self, n: u64) {
        self.delete.fetch_add(n, Ordering::Relaxed);
    }
}

/// S3 returns at most 1,000 keys per LIST page; a listing of `n` entries costs this many requests.
pub(crate) fn list_pages(entries: u64) -> u64 {
    entries.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_pages_like_s3() {
        assert_eq!(list_pages(0), 1);
        assert_eq!(list_pages(1), 1);
        assert_eq!(list_pages(1000), 1);
        assert_eq!(list_pages(1001), 2);
    }
}
