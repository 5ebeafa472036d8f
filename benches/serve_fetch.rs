//! Fetching results from `owl serve`, by each protocol, for BENCHMARKS.md.
//!
//! A 1M-row result (`SELECT * FROM lineitem LIMIT 1000000` over TPC-H SF0.2 Parquet from tpchgen-cli: 16
//! columns of integers, decimals, dates and strings) fetched through the Postgres wire protocol in text (the
//! simple query protocol, as psql asks) and in binary (the extended protocol, as tokio-postgres, JDBC and
//! asyncpg ask), through Arrow Flight SQL (Arrow batches), and by psql; against the same query collected by the
//! engine in-process (the floor: no protocol), `owl query -f csv` to /dev/null, and DuckDB's Python fetch of the
//! same Parquet files (`con.sql(q).to_arrow_table()` and `fetchall()`). Every client reads every value: the Postgres
//! clients split each row into its values, the Flight client decodes each batch. Then one-row round trips
//! (p50/p99 of 200) of a query that reads a table, by each protocol.
//!
//! `cargo bench --bench serve_fetch` (the release `owl`; the server and the clients share the machine's cores).
//! Data is generated once into `target/serve-fetch/`.

#[path = "common/serve.rs"]
mod serve;
#[path = "common/venv.rs"]
mod venv;

use futures::StreamExt;
use serve::{KEY, SECRET};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROWS: usize = 1_000_000;
const FETCH: &str = "SELECT * FROM lineitem LIMIT 1000000";
const ONE_ROW: &str = "SELECT n_name FROM nation WHERE n_nationkey = 7";
/// Each fetch: one run to warm up, then the best of these.
const RUNS: usize = 3;
const TRIPS: usize = 200;

/// TPC-H SF0.2's `lineitem` (1.2M rows) and `nation` as Parquet, generated once.
fn data(root: &Path) -> PathBuf {
    let data = root.join("tpch-sf0.2");
    if !data.join("lineitem").is_dir() {
        let bin = venv::venv_bin();
        let ok = Command::new(bin.join("tpchgen-cli"))
            .args([
                "parquet",
                "-s",
                "0.2",
                "--parts",
                "2",
                "--tables",
                "lineitem,nation",
            ])
            .arg("--output-dir")
            .arg(&data)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tpchgen-cli failed");
    }
    data
}

/// The best of `RUNS` runs of `$fetch` (after one to warm up), which must give `ROWS` rows.
macro_rules! best {
    ($what:expr, $fetch:expr) => {{
        let mut times = vec![];
        for run in 0..=RUNS {
            let t = Instant::now();
            let rows: usize = $fetch;
            let elapsed = t.elapsed();
            assert_eq!(rows, ROWS, "{} fetched {rows} rows", $what);
            if run > 0 {
                times.push(elapsed);
            }
        }
        times.into_iter().min().unwrap()
    }};
}

/// Any Postgres value in binary, its bytes only: the client splits the row into values and goes no further.
struct Raw(usize);

impl<'a> tokio_postgres::types::FromSql<'a> for Raw {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.len()))
    }

    fn from_sql_null(
        _: &tokio_postgres::types::Type,
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(0))
    }

    fn accepts(_: &tokio_postgres::types::Type) -> bool {
        true
    }
}

async fn pg_client(pg: &str) -> tokio_postgres::Client {
    let (host, port) = pg.split_once(':').unwrap();
    let (client, connection) = tokio_postgres::connect(
        &format!("host={host} port={port} user={KEY} password={SECRET} dbname=default"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    client
}

async fn flight_client(
    addr: &str,
) -> arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::new(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = arrow_flight::sql::client::FlightSqlServiceClient::new(channel);
    c.handshake(KEY, SECRET).await.unwrap();
    c
}

/// A Flight SQL statement's rows, decoded.
async fn flight_rows(
    c: &mut arrow_flight::sql::client::FlightSqlServiceClient<tonic::transport::Channel>,
    sql: &str,
) -> usize {
    let info = c.execute(sql.to_string(), None).await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = c.do_get(ticket).await.unwrap().into_inner();
    let mut rows = 0;
    while let Some(d) = stream.next().await {
        if let arrow_flight::decode::DecodedPayload::RecordBatch(b) = d.unwrap().payload {
            rows += b.num_rows();
        }
    }
    rows
}

/// The text protocol's rows, each split into its values.
async fn pg_text_rows(c: &tokio_postgres::Client, sql: &str) -> usize {
    let stream = c.simple_query_raw(sql).await.unwrap();
    futures::pin_mut!(stream);
    let mut rows = 0;
    while let Some(m) = stream.next().await {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m.unwrap() {
            let mut bytes = 0;
            for i in 0..r.len() {
                bytes += r.get(i).map_or(0, str::len);
            }
            std::hint::black_box(bytes);
            rows += 1;
        }
    }
    rows
}

/// The binary protocol's rows, each split into its values.
async fn pg_binary_rows(
    c: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
) -> usize {
    let stream = c
        .query_raw(statement, std::iter::empty::<i64>())
        .await
        .unwrap();
    futures::pin_mut!(stream);
    let mut rows = 0;
    while let Some(r) = stream.next().await {
        let r = r.unwrap();
        let mut bytes = 0;
        for i in 0..r.len() {
            bytes += r.get::<_, Raw>(i).0;
        }
        std::hint::black_box(bytes);
        rows += 1;
    }
    rows
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn pct(sorted: &[Duration], p: f64) -> String {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    format!("{:.2} ms", sorted[i].as_secs_f64() * 1000.0)
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/serve-fetch");
    let data = data(&root);
    let owl = env!("CARGO_BIN_EXE_owl");
    let work = tempfile::tempdir().unwrap();
    let crawl = Command::new(owl)
        .current_dir(work.path())
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_DATABASE")
        .arg("crawl")
        .arg(&data)
        .output()
        .unwrap();
    assert!(crawl.status.success(), "{crawl:?}");
    let server = serve::Server::start(
        work.path(),
        &["--pg", "127.0.0.1:0", "--flight", "127.0.0.1:0"],
    );
    let (pg, flight) = (server.addr("postgres://"), server.addr("grpc://"));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut table: Vec<(&str, Duration)> = vec![];
    rt.block_on(async {
        // The floor: the engine collecting the result in-process, no protocol.
        let engine = owl::engine::Engine::new(owl::config::Settings {
            catalog_dir: work.path().join("catalog"),
            ..owl::config::Settings::default()
        })
        .unwrap();
        let statement = engine.parse(FETCH).unwrap().remove(0);
        let t = best!("in-process", {
            let o = engine
                .execute(
                    &statement,
                    Arc::new(owl::storage::meter::Meter::new()),
                    std::future::pending(),
                )
                .await;
            o.batches.iter().map(|b| b.num_rows()).sum()
        });
        table.push(("owl engine in-process (Arrow batches, no protocol)", t));
        eprintln!("{:?}", table.last());

        let mut f = flight_client(&flight).await;
        let t = best!("Flight SQL", flight_rows(&mut f, FETCH).await);
        table.push(("Flight SQL (arrow-flight client, Arrow batches)", t));
        eprintln!("{:?}", table.last());

        let c = pg_client(&pg).await;
        let t = best!("pgwire binary", {
            let s = c.prepare(FETCH).await.unwrap();
            pg_binary_rows(&c, &s).await
        });
        table.push(("pgwire binary (tokio-postgres, extended protocol)", t));
        eprintln!("{:?}", table.last());
        let t = best!("pgwire text", pg_text_rows(&c, FETCH).await);
        table.push(("pgwire text (tokio-postgres, simple query)", t));
        eprintln!("{:?}", table.last());

        let (host, port) = pg.split_once(':').unwrap();
        if Command::new("psql").arg("--version").output().is_ok() {
            let t = best!("psql", {
                let out = Command::new("psql")
                    .args([
                        "-X", "-A", "-t", "-h", host, "-p", port, "-U", KEY, "-d", "default",
                    ])
                    .args(["-c", FETCH])
                    .env("PGPASSWORD", SECRET)
                    .stderr(Stdio::null())
                    .output()
                    .unwrap();
                assert!(out.status.success());
                out.stdout.iter().filter(|b| **b == b'\n').count()
            });
            table.push(("psql -A -t (text, to a pipe)", t));
            eprintln!("{:?}", table.last());
        }

        let t = best!("owl query", {
            let out = Command::new(owl)
                .current_dir(work.path())
                .env_remove("OWL_CATALOG")
                .env_remove("OWL_DATABASE")
                .args(["query", "-f", "csv", FETCH])
                .stderr(Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success());
            // Lines less the header.
            out.stdout.iter().filter(|b| **b == b'\n').count() - 1
        });
        table.push(("`owl query -f csv` (a process, CSV to a pipe)", t));
        eprintln!("{:?}", table.last());
    });

    // DuckDB in Python, on the same files.
    let python = venv::venv_bin().join("python");
    let script = format!(
        r#"
import duckdb, time
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
q = "SELECT * FROM read_parquet('{}/lineitem/*.parquet') LIMIT {ROWS}"
for kind in ("arrow", "fetchall"):
    best = None
    for run in range({runs} + 1):
        t = time.perf_counter()
        if kind == "arrow":
            n = con.sql(q).to_arrow_table().num_rows
        else:
            n = len(con.execute(q).fetchall())
        e = time.perf_counter() - t
        assert n == {ROWS}, n
        if run > 0:
            best = e if best is None else min(best, e)
    print("RESULT", kind, best)
"#,
        data.display(),
        runs = RUNS
    );
    let out = Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for l in stdout.lines().filter_map(|l| l.strip_prefix("RESULT ")) {
        let (kind, secs) = l
            .split_once(' ')
            .unwrap_or_else(|| panic!("DuckDB's line `{l}`"));
        let d = Duration::from_secs_f64(
            secs.trim()
                .parse()
                .unwrap_or_else(|_| panic!("DuckDB's line `{l}` in {stdout}")),
        );
        table.push(match kind {
            "arrow" => (
                "DuckDB Python `con.sql(q).to_arrow_table()` (in-process)",
                d,
            ),
            _ => ("DuckDB Python `fetchall()` (in-process, Python tuples)", d),
        });
    }

    let floor = table[0].1.as_secs_f64();
    println!("\n| 1M rows of lineitem by | time (best of {RUNS}) | rows/s | × in-process |");
    println!("|---|---:|---:|---:|");
    for (what, d) in &table {
        println!(
            "| {what} | {} | {:.2} M | {:.2}× |",
            ms(*d),
            ROWS as f64 / d.as_secs_f64() / 1e6,
            d.as_secs_f64() / floor
        );
    }

    // One-row round trips.
    println!("\n| one-row query by | queries | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    rt.block_on(async {
        let c = pg_client(&pg).await;
        let prepared = c.prepare(ONE_ROW).await.unwrap();
        let mut f = flight_client(&flight).await;
        for kind in [
            "pgwire simple query",
            "pgwire prepared statement",
            "Flight SQL",
        ] {
            let mut times = vec![];
            for trip in 0..TRIPS + 20 {
                let t = Instant::now();
                let rows = match kind {
                    "pgwire simple query" => c
                        .simple_query(ONE_ROW)
                        .await
                        .unwrap()
                        .iter()
                        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
                        .count(),
                    "pgwire prepared statement" => c.query(&prepared, &[]).await.unwrap().len(),
                    _ => flight_rows(&mut f, ONE_ROW).await,
                };
                assert_eq!(rows, 1);
                if trip >= 20 {
                    times.push(t.elapsed());
                }
            }
            times.sort();
            println!(
                "| {kind} | {TRIPS} | {} | {} |",
                pct(&times, 0.5),
                pct(&times, 0.99)
            );
        }
    });
    drop(server);
}
