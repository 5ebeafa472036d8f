//! `owl serve` end to end, as an Athena client sees it: StartQueryExecution, GetQueryExecution polled until
//! SUCCEEDED (every 1 ms), GetQueryResults read, through the official AWS SDK for Rust (requests signed,
//! SigV4 checked). A one-day partition-pruned query over the web-log sample; 1 and 8 clients at once.
//! Prints p50/p99 latency and the queries per second the server sustained, for BENCHMARKS.md.
//!
//! `cargo bench --bench serve_latency` (the release `owl` binary)

#[path = "common/serve.rs"]
mod serve;

use serve::{KEY, SECRET};
use std::process::Command;
use std::time::{Duration, Instant};

const SQL: &str = "SELECT status, count(*) AS hits FROM weblogs_parquet WHERE month = 1 AND day = 2 GROUP BY status";
const PER_CLIENT: usize = 200;

fn client(endpoint: &str) -> aws_sdk_athena::Client {
    let config = aws_sdk_athena::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_athena::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            KEY, SECRET, None, None, "bench",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_athena::Client::from_conf(config)
}

/// One query's life, as a polling client sees it.
async fn one(c: &aws_sdk_athena::Client) -> Duration {
    use aws_sdk_athena::types::QueryExecutionState as S;
    let t = Instant::now();
    let id = c
        .start_query_execution()
        .query_string(SQL)
        .send()
        .await
        .unwrap()
        .query_execution_id
        .unwrap();
    loop {
        let e = c
            .get_query_execution()
            .query_execution_id(&id)
            .send()
            .await
            .unwrap();
        match e
            .query_execution()
            .and_then(|q| q.status())
            .and_then(|s| s.state())
        {
            Some(S::Succeeded) => break,
            Some(S::Queued | S::Running) => tokio::time::sleep(Duration::from_millis(1)).await,
            other => panic!("query {id} ended {other:?}"),
        }
    }
    let r = c
        .get_query_results()
        .query_execution_id(&id)
        .send()
        .await
        .unwrap();
    assert!(r.result_set().unwrap().rows().len() > 1);
    t.elapsed()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    owl::sample::generate(work.path()).unwrap();
    let owl = env!("CARGO_BIN_EXE_owl");
    let crawl = Command::new(owl)
        .current_dir(work.path())
        .args(["crawl", "sample-data"])
        .output()
        .unwrap();
    assert!(crawl.status.success());
    let server = serve::Server::start(work.path(), &["--no-pg"]);
    let addr = server.addr("http://");
    let endpoint = format!("http://{addr}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!("| clients | queries | p50 | p99 | queries/s |");
    println!("|---:|---:|---:|---:|---:|");
    rt.block_on(async {
        // Warm up: connections, the OS page cache.
        let c = client(&endpoint);
        for _ in 0..20 {
            one(&c).await;
        }
        for clients in [1usize, 8] {
            let started = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let c = client(&endpoint);
                tasks.push(tokio::spawn(async move {
                    let mut times = Vec::with_capacity(PER_CLIENT);
                    for _ in 0..PER_CLIENT {
                        times.push(one(&c).await);
                    }
                    times
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            let wall = started.elapsed().as_secs_f64();
            all.sort();
            println!(
                "| {clients} | {} | {:.1} ms | {:.1} ms | {:.0} |",
                all.len(),
                pct(&all, 0.5),
                pct(&all, 0.99),
                all.len() as f64 / wall
            );
        }
    });
    drop(server);
}
