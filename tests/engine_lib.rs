//! The engine as a library: concurrent queries keep separate meters; the committed sample data and registry
//! are exactly what the generator writes.

mod common;

use common::*;
use owl::config::Settings;
use owl::engine::Engine;
use owl::storage::meter::Meter;
use std::sync::Arc;

fn engine(f: &Fixture) -> Engine {
    Engine::new(Settings {
        catalog_dir: f.path().join("catalog"),
        ..Settings::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_never_mix_counts() {
    let f = Fixture::new();
    let e = engine(&f);
    let a = &e
        .parse("SELECT count(*), max(user_agent) FROM weblogs_csv")
        .unwrap()[0];
    let b = &e
        .parse("SELECT sum(bytes) FROM weblogs_ndjson WHERE day = 1")
        .unwrap()[0];
    let solo_a = e
        .execute(a, Arc::new(Meter::new()), std::future::pending())
        .await;
    let solo_b = e
        .execute(b, Arc::new(Meter::new()), std::future::pending())
        .await;
    for _ in 0..3 {
        let (x, y) = tokio::join!(
            e.execute(a, Arc::new(Meter::new()), std::future::pending()),
            e.execute(b, Arc::new(Meter::new()), std::future::pending())
        );
        assert_eq!(x.stats.bytes_scanned, solo_a.stats.bytes_scanned);
        assert_eq!(y.stats.bytes_scanned, solo_b.stats.bytes_scanned);
        assert_eq!(x.stats.files_read, 8);
        assert_eq!(y.stats.files_read, 2);
    }
    assert_eq!(
        solo_a.stats.bytes_scanned,
        size_of_files(&f.data("weblogs_csv"), ".csv")
    );
}

#[tokio::test]
async fn cancelled_query_pays_for_what_it_read() {
    let f = Fixture::new();
    let e = engine(&f);
    let stmt = &e.parse("SELECT count(*) FROM weblogs_csv").unwrap()[0];
    let o = e.execute(stmt, Arc::new(Meter::new()), async {}).await;
    assert_eq!(o.stats.state, owl::cost::QueryState::Cancelled);
    assert!(o.batches.is_empty());
    let expect = e.cost_model().bill(
        o.stats.bytes_scanned,
        owl::cost::QueryState::Cancelled,
        owl::cost::StatementType::Dml,
    );
    assert_eq!(o.stats.billed_bytes, expect.billed_bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_budget_is_cancelled_even_when_it_finished_first() {
    // A query that reads past its budget is CANCELLED, whether the budget's watch or the last batch comes first.
    let f = Fixture::new();
    let e = engine(&f);
    let stmt = &e.parse("SELECT count(*) FROM orders").unwrap()[0];
    for _ in 0..20 {
        let meter = Arc::new(Meter::with_limit(Some(1)));
        let o = e.execute(stmt, meter, std::future::pending()).await;
        assert_eq!(o.stats.state, owl::cost::QueryState::Cancelled);
        assert_eq!(
            o.stats.state_reason.as_deref(),
            Some(owl::engine::BYTES_LIMIT_REASON)
        );
        assert!(o.batches.is_empty() && o.stats.bytes_scanned > 1);
        assert_eq!(o.stats.billed_bytes, 10_000_000);
    }
}

#[tokio::test]
async fn new_files_are_seen_by_the_next_query() {
    // No list or metadata cache may survive a query: a file that appears is read by the next one.
    let f = Fixture::new();
    let e = engine(&f);
    let count = || async {
        let stmt = &e
            .parse("SELECT count(*) FROM weblogs_csv WHERE day = 1 AND month = 1")
            .unwrap()[0];
        let o = e
            .execute(stmt, Arc::new(Meter::new()), std::future::pending())
            .await;
        assert!(o.error().is_none(), "{:?}", o.error());
        let col = o.batches[0].column(0);
        let n = col
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        (n as u64, o.stats.bytes_scanned)
    };
    let (before, bytes_before) = count().await;
    let day = f.data("weblogs_csv/year=2024/month=01/day=01");
    std::fs::copy(day.join("part-00000.csv"), day.join("part-00001.csv")).unwrap();
    let (after, bytes_after) = count().await;
    assert_eq!(after, 2 * before);
    assert_eq!(bytes_after, 2 * bytes_before);
}

#[test]
fn committed_sample_data_and_catalog_are_what_the_generator_and_crawler_write() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let f = Fixture::new();
    // Hidden files and folders are the registry's own (its lock, the query history), not its contents.
    let visible = |base: &std::path::Path| {
        walk(base)
            .into_iter()
            .filter(|p| {
                !p.strip_prefix(base)
                    .unwrap()
                    .components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            })
            .collect::<Vec<_>>()
    };
    for sub in ["sample-data", "catalog"] {
        let fresh = visible(&f.path().join(sub));
        let committed = visible(&root.join(sub));
        let rel = |v: &[std::path::PathBuf], base: &std::path::Path| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(base).unwrap().to_string_lossy().into_owned())
                .collect()
        };
        assert_eq!(
            rel(&fresh, &f.path().join(sub)),
            rel(&committed, &root.join(sub)),
            "{sub}: file lists differ"
        );
        for (a, b) in fresh.iter().zip(&committed) {
            assert!(
                std::fs::read(a).unwrap() == std::fs::read(b).unwrap(),
                "{} differs: run `cargo run --example gen_sample_data && cargo run -- crawl sample-data`",
                b.display()
            );
        }
    }
}

/// `sql` submitted to a new engine over the fixture, with what it may read at most.
fn submit(f: &Fixture, sql: &str, max_bytes: Option<u64>) -> owl::engine::QueryExecution {
    let e = engine(f);
    let stmt = e.parse(sql).unwrap().remove(0);
    e.submit(owl::engine::QueryRequest::new(stmt).with_max_bytes(max_bytes))
}

#[tokio::test]
async fn a_submitted_query_is_queued_then_runs_then_succeeds() {
    use owl::cost::QueryState;
    use owl::engine::Ending;
    let f = Fixture::new();
    let exec = submit(&f, "SELECT count(*) FROM weblogs_csv", None);
    // Polled at once: queued or running (its thread may have started it), and ended only with its outcome.
    let early = exec.status();
    assert_eq!(
        early.state.is_terminal(),
        early.completed_at.is_some(),
        "{early:?}"
    );
    assert_eq!(early.state.is_terminal(), exec.outcome().is_some());
    assert_eq!(early.database, "default");
    assert_eq!(early.workgroup, owl::engine::DEFAULT_WORKGROUP);
    let outcome = exec.clone().wait().await;
    assert!(matches!(outcome.ending, Ending::Succeeded));
    let done = exec.status();
    assert_eq!(done.id, exec.id());
    assert_eq!(outcome.stats.query_id, exec.id());
    assert_eq!(done.state, QueryState::Succeeded);
    assert_eq!(done.state_reason, None);
    assert!(done.completed_at.is_some_and(|at| at >= done.submitted_at));
    // The bytes the status reports are the bill's, and the files' own size.
    let csv = size_of_files(&f.data("weblogs_csv"), ".csv");
    assert_eq!(
        (done.bytes_scanned, outcome.stats.bytes_scanned),
        (csv, csv)
    );
    // Queued, then running: the two spans make up the whole (each rounded down to a millisecond).
    assert!(
        done.queue_ms + done.engine_ms <= done.total_ms
            && done.total_ms <= done.queue_ms + done.engine_ms + 1,
        "{done:?}"
    );
}

#[tokio::test]
async fn a_query_cancelled_at_once_is_billed_for_what_it_read() {
    use owl::cost::{QueryState, StatementType};
    use owl::engine::Ending;
    let f = Fixture::new();
    let exec = submit(&f, "SELECT count(*) FROM weblogs_csv", None);
    exec.cancel();
    let outcome = exec.wait().await;
    assert!(matches!(outcome.ending, Ending::Cancelled { reason: None }));
    assert!(outcome.batches.is_empty());
    // Its thread may have started reading before the cancel: whatever it read, and no more than the table.
    let read = outcome.stats.bytes_scanned;
    assert!(read <= size_of_files(&f.data("weblogs_csv"), ".csv"));
    let bill = engine(&f)
        .cost_model()
        .bill(read, QueryState::Cancelled, StatementType::Dml);
    assert_eq!(outcome.stats.billed_bytes, bill.billed_bytes);
    let status = exec.status();
    assert_eq!(
        (status.state, status.state_reason, status.bytes_scanned),
        (QueryState::Cancelled, None, read)
    );
    // Cancelling a query that has ended changes nothing.
    exec.cancel();
    assert_eq!(exec.status().state, QueryState::Cancelled);
}

#[tokio::test]
async fn a_failed_query_carries_its_error_and_costs_nothing() {
    use owl::cost::QueryState;
    use owl::engine::Ending;
    use owl::error::Error;
    let f = Fixture::new();
    let exec = submit(&f, "SELECT nope FROM weblogs_csv", None);
    let outcome = exec.wait().await;
    let Ending::Failed(Error::Located {
        error,
        line: 1,
        column: 8,
    }) = &outcome.ending
    else {
        panic!("{:?}", outcome.ending);
    };
    assert!(matches!(error.as_ref(), Error::ColumnNotFound { column, .. } if column == "nope"));
    assert_eq!(outcome.stats.billed_bytes, 0);
    let status = exec.status();
    assert_eq!(status.state, QueryState::Failed);
    assert_eq!(
        status.state_reason.as_deref(),
        Some(outcome.error().unwrap().to_string().as_str())
    );
}

#[tokio::test]
async fn a_scan_budget_cancels_a_submitted_query_with_its_reason() {
    use owl::cost::QueryState;
    let f = Fixture::new();
    let exec = submit(&f, "SELECT count(*) FROM orders", Some(1));
    let outcome = exec.wait().await;
    let status = exec.status();
    assert_eq!(status.state, QueryState::Cancelled);
    assert_eq!(
        status.state_reason.as_deref(),
        Some(owl::engine::BYTES_LIMIT_REASON)
    );
    assert_eq!(outcome.stats.billed_bytes, 10_000_000);
}

#[tokio::test]
async fn a_queued_query_waits_until_it_is_driven_here() {
    use owl::cost::QueryState;
    use owl::engine::QueryRequest;
    let f = Fixture::new();
    let e = engine(&f);
    let stmt = e.parse("SELECT count(*) FROM orders").unwrap().remove(0);
    let exec = e.queue(QueryRequest::new(stmt));
    let queued = exec.status();
    assert_eq!(
        (queued.state, queued.bytes_scanned),
        (QueryState::Queued, 0)
    );
    assert!(queued.completed_at.is_none() && exec.outcome().is_none());
    // Driven twice (a second caller), it runs once: both get the same outcome.
    let (a, b) = tokio::join!(exec.drive(), exec.drive());
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    assert_eq!(exec.status().state, QueryState::Succeeded);
    assert_eq!(exec.status().bytes_scanned, a.stats.bytes_scanned);
}

/// A streamed query hands its rows out as they are computed: the schema first, every row once, the outcome with
/// the count and the bill but not the rows. Checked against the generator's rows of the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_query_hands_out_its_rows_as_they_come() {
    use owl::cost::QueryState;
    use owl::engine::QueryRequest;
    let f = Fixture::new();
    let e = engine(&f);
    let stmt = e
        .parse("SELECT user_id, status FROM weblogs_csv")
        .unwrap()
        .remove(0);
    let exec = e.submit(QueryRequest::new(stmt).streamed());
    let mut rows = exec
        .results()
        .expect("a streamed query has results to take");
    assert!(exec.results().is_none(), "taken once");
    let schema = rows.schema().await.expect("planned");
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["user_id", "status"]);
    let mut streamed = 0u64;
    while let Some(batch) = rows.next().await {
        assert_eq!(batch.schema(), schema);
        streamed += batch.num_rows() as u64;
    }
    let outcome = exec.wait().await;
    assert_eq!(outcome.stats.state, QueryState::Succeeded);
    assert_eq!(streamed, owl::sample::weblogs().len() as u64);
    assert_eq!(outcome.stats.rows, streamed);
    assert!(outcome.batches.is_empty(), "streamed rows are not kept");
    assert_eq!(
        outcome.stats.bytes_scanned,
        size_of_files(&f.data("weblogs_csv"), ".csv")
    );
    // A query that keeps its rows has no stream.
    let kept = submit(&f, "SELECT 1", None);
    assert!(kept.results().is_none());
    assert_eq!(kept.wait().await.batches.len(), 1);
    // One of owl's own statements streams too.
    let stmt = e.parse("SHOW TABLES").unwrap().remove(0);
    let exec = e.submit(QueryRequest::new(stmt).streamed());
    let mut rows = exec.results().unwrap();
    let mut n = 0;
    while let Some(b) = rows.next().await {
        n += b.num_rows();
    }
    assert!(n > 0);
    assert_eq!(exec.wait().await.stats.rows, n as u64);
}

/// A reader that stops reading a streamed query cancels it (with the reason), and it is billed what it read;
/// a failed query's stream ends without a schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_query_whose_reader_goes_away_is_cancelled() {
    use owl::cost::QueryState;
    use owl::engine::QueryRequest;
    let f = Fixture::new();
    let e = engine(&f);
    // Far more batches than are computed ahead of the reader.
    let stmt = e
        .parse("SELECT value FROM generate_series(1, 5000000)")
        .unwrap()
        .remove(0);
    let exec = e.submit(QueryRequest::new(stmt).streamed());
    let mut rows = exec.results().unwrap();
    let first = rows.next().await.expect("a first batch");
    assert!(first.num_rows() > 0);
    drop(rows);
    let outcome = exec.wait().await;
    let status = exec.status();
    assert_eq!(status.state, QueryState::Cancelled);
    assert_eq!(
        status.state_reason.as_deref(),
        Some(owl::engine::RESULTS_DROPPED_REASON)
    );
    assert!(outcome.stats.rows < 5_000_000, "{}", outcome.stats.rows);

    let stmt = e.parse("SELECT nope FROM weblogs_csv").unwrap().remove(0);
    let exec = e.submit(QueryRequest::new(stmt).streamed());
    let mut rows = exec.results().unwrap();
    assert!(rows.schema().await.is_none());
    assert!(rows.next().await.is_none());
    assert_eq!(exec.wait().await.stats.state, QueryState::Failed);
}
