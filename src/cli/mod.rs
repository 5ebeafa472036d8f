//! The command line: argument parsing, one file per subcommand, and the one place errors are printed.

mod cluster;
mod compare;
mod convert;
mod crawl;
mod estimate;
pub(crate) mod history;
mod ingest;
mod query;
mod repl;
mod run;
mod serve;
mod tables;
mod workgroup;

use crate::config::Settings;
use crate::cost::{CostModel, Units};
use crate::engine::{Engine, Outcome, QueryExecution};
use crate::error::Error;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Exit codes: a tested contract for scripts and CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Everything succeeded.
    Ok = 0,
    /// A statement failed or the input was wrong (bad SQL, unknown table, unreadable file) or was cancelled.
    UserError = 1,
    /// owl itself failed.
    Internal = 2,
    /// A scan budget was exceeded.
    BudgetExceeded = 3,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "owl",
    version,
    about = "SQL over your files, with the bill: a Glue-like registry, DataFusion, Athena pricing"
)]
pub struct Cli {
    /// The registry folder.
    #[arg(long, global = true, env = "OWL_CATALOG", default_value = crate::config::DEFAULT_CATALOG_DIR)]
    catalog: PathBuf,
    /// The database unqualified table names resolve in.
    #[arg(long, short = 'd', global = true, env = "OWL_DATABASE", default_value = crate::catalog::DEFAULT_DATABASE)]
    database: String,
    /// Price per TB scanned, in USD.
    #[arg(long, global = true, env = "OWL_PRICE_PER_TB", default_value_t = CostModel::default().price_per_tb_usd)]
    price_per_tb: f64,
    /// How MB and TB are counted for the bill.
    #[arg(
        long,
        global = true,
        env = "OWL_UNITS",
        value_enum,
        default_value_t = CostModel::default().units
    )]
    units: Units,
    /// Worker threads (0: one per core).
    #[arg(long, global = true, env = "OWL_THREADS", default_value_t = crate::config::DEFAULT_THREADS)]
    threads: usize,
    /// S3-compatible endpoint (MinIO, Ceph, R2, a local server); default: `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else AWS.
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// AWS region; default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's region, else us-east-1.
    #[arg(long, global = true)]
    region: Option<String>,
    /// AWS profile from ~/.aws/config and ~/.aws/credentials; default: `AWS_PROFILE`, else `default`.
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Send S3 requests unsigned (public buckets): no credentials are looked up.
    #[arg(long, global = true)]
    no_sign_request: bool,
    /// The work group queries run in (its scan cutoff applies; `owl workgroup list`); default `primary`.
    /// For `owl history`: only this work group's statements (default: every work group's).
    #[arg(long, global = true, env = "OWL_WORKGROUP")]
    workgroup: Option<String>,
    /// The memory queries may hold at once (`256MB`, `4GB`, `512MiB`, `none`); sorts, aggregations and joins
    /// spill to disk to stay under it. Default: 80% of this machine's (or container's) memory.
    #[arg(long, global = true, env = "OWL_MEMORY_LIMIT", value_name = "SIZE", value_parser = memory_limit)]
    memory_limit: Option<MemoryLimit>,
    /// Days of query history kept beside the registry (`owl history`); 0 writes none.
    #[arg(long, global = true, env = "OWL_HISTORY_DAYS", default_value_t = crate::config::DEFAULT_HISTORY_DAYS)]
    history_days: u32,
    /// Run queries on a Ballista cluster (`owl scheduler`, `owl cluster up`): its scheduler's address.
    #[arg(
        long,
        global = true,
        env = "OWL_CLUSTER",
        value_name = "df://HOST:PORT"
    )]
    cluster: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
    /// With no command, `owl` opens the shell; its flags may then be given without `repl`.
    #[command(flatten)]
    repl: repl::ReplArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The interactive SQL shell (also `owl` with no command); with stdin not a terminal, runs it as a batch.
    Repl(repl::ReplArgs),
    /// Run SQL and print the result, with what it scanned and cost.
    Query(query::QueryArgs),
    /// What SQL would scan and cost, without reading its data (Parquet footers only).
    Estimate(estimate::EstimateArgs),
    /// Run .sql files for CI: stop at the first failure (file:line), budgets, data checks, reports.
    Run(run::RunArgs),
    /// Run a Glue-style ETL job: a .sql file of CTAS statements over transforms (`drop_null_fields`,
    /// `find_matches`, `tf_idf`, `forecast`), run as `owl run` runs it (stops at the first failure, metered and
    /// billed, `--report`).
    Etl(run::RunArgs),
    /// Find tables in files (local folders or S3 prefixes) and write them into the registry.
    Crawl(crawl::CrawlArgs),
    /// Copy a table into another format as a new table (a CTAS), keeping its partitions.
    Convert(convert::ConvertArgs),
    /// Deliver records (NDJSON, a line each) into a Parquet or ORC table as Kinesis Data Firehose does:
    /// buffered, converted, written by hour or partition key, new partitions registered, misfits set aside.
    Ingest(ingest::IngestArgs),
    /// The same queries on a table in CSV, NDJSON, Parquet...: bytes scanned and cost per format, side by side.
    Compare(compare::CompareArgs),
    /// List the tables of a database.
    Tables(tables::TablesArgs),
    /// Show a table: columns, partition keys, partitions, location, format, properties, version.
    Describe(tables::TableArgs),
    /// Show a table's schema history and what changed in each version.
    Versions(tables::TableArgs),
    /// The statements run over this registry, most recent first: state, bytes scanned, cost, time.
    History(history::HistoryArgs),
    /// Work groups: create, list, show, update, delete (each query runs in one: `--workgroup`).
    Workgroup(workgroup::WorkgroupArgs),
    /// Serve the registry over Athena's, Glue's and Firehose's APIs (AWS JSON 1.1, SigV4), Postgres and Flight SQL:
    /// boto3, PyAthena, the AWS SDKs, psql and ADBC connect.
    Serve(serve::ServeArgs),
    /// A Ballista scheduler inside `owl`: clients send it queries (`--cluster df://host:port`), it plans them
    /// over this registry and hands their tasks to executors.
    Scheduler(cluster::SchedulerArgs),
    /// A Ballista executor inside `owl`: runs a scheduler's tasks, reading with this machine's credentials.
    Executor(cluster::ExecutorArgs),
    /// A cluster on this machine: `owl cluster up --executors N`.
    Cluster(cluster::ClusterArgs),
}

/// `--memory-limit`'s value: bytes, or None for no limit.
#[derive(Debug, Clone, Copy)]
struct MemoryLimit(Option<usize>);

fn memory_limit(text: &str) -> std::result::Result<MemoryLimit, String> {
    crate::config::parse_memory_limit(text).map(MemoryLimit)
}

impl Cli {
    fn settings(&self) -> Settings {
        Settings {
            catalog_dir: self.catalog.clone(),
            database: self.database.clone(),
            cost: CostModel {
                price_per_tb_usd: self.price_per_tb,
                units: self.units,
                ..CostModel::default()
            },
            threads: self.threads,
            s3: crate::config::S3Options {
                endpoint_url: self.endpoint_url.clone(),
                region: self.region.clone(),
                profile: self.profile.clone(),
                no_sign_request: self.no_sign_request,
            },
            history_days: self.history_days,
            cluster: match &self.command {
                // The cluster's own processes run their tasks here, never on another cluster.
                Some(Command::Scheduler(_) | Command::Executor(_) | Command::Cluster(_)) => None,
                _ => self.cluster.clone(),
            },
            memory_limit: match self.memory_limit {
                Some(MemoryLimit(limit)) => limit,
                None => crate::config::default_memory_limit(),
            },
            workgroup: self
                .workgroup
                .clone()
                .unwrap_or_else(|| crate::config::DEFAULT_WORKGROUP.into()),
            // The server's statements name local folders only under its --allow-roots; the CLI's any.
            allowed_roots: match &self.command {
                Some(Command::Serve(args)) => Some(args.allowed_roots()),
                _ => None,
            },
        }
    }
}

/// Ctrl-C, heard on a thread of its own: a query that keeps every worker thread busy cannot delay it (tokio's
/// signal driver is otherwise polled by those same workers).
#[derive(Debug, Clone)]
pub(crate) struct Interrupts {
    rx: tokio::sync::watch::Receiver<u64>,
}

impl Interrupts {
    /// Returns once the handler is in place (or could not be), so that no Ctrl-C after this call takes the
    /// default action, killing the process: a shell must survive a Ctrl-C however early it comes.
    pub(crate) fn install() -> Self {
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                // Registering the listener installs the process's SIGINT handler (it stays for good).
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    let Ok(mut sigint) = signal(SignalKind::interrupt()) else {
                        return;
                    };
                    let _ = ready_tx.send(());
                    while sigint.recv().await.is_some() {
                        tx.send_modify(|n| *n += 1);
                    }
                }
                #[cfg(not(unix))]
                {
                    let _ = ready_tx.send(());
                    while tokio::signal::ctrl_c().await.is_ok() {
                        tx.send_modify(|n| *n += 1);
                    }
                }
            });
        });
        // A send, or the thread gone (the sender dropped): either way, go on.
        let _ = ready_rx.recv();
        Interrupts { rx }
    }

    /// Resolves at the first Ctrl-C after this call; never, if no handler could be installed.
    pub(crate) fn next(&self) -> impl std::future::Future<Output = ()> + 'static {
        let mut rx = self.rx.clone();
        let seen = *rx.borrow_and_update();
        async move {
            if rx.wait_for(|n| *n > seen).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Run a queued statement here to its end; the first Ctrl-C after the call cancels it (CANCELLED, billed for
/// what it read).
pub(crate) async fn finish(exec: &QueryExecution, interrupts: &Interrupts) -> Arc<Outcome> {
    let drive = exec.drive();
    tokio::pin!(drive);
    let outcome = tokio::select! {
        outcome = &mut drive => outcome,
        () = interrupts.next() => {
            exec.cancel();
            drive.await
        }
    };
    if let Some(e) = &outcome.history_error {
        eprintln!("warning: not in the query history: {e}");
    }
    outcome
}

/// Print an error once, as one line, plus a hint line when there is a likely fix: the one way the CLI prints
/// an error.
pub(crate) fn print_error(e: &Error) {
    print_error_at("", e);
}

/// [`print_error`] prefixed with where it happened (`file.sql:3`, `file.sql:3:7`).
pub(crate) fn print_error_at(at: &str, e: &Error) {
    let at = if at.is_empty() {
        String::new()
    } else {
        format!("{at}: ")
    };
    eprintln!("{at}error: {e}");
    if let Some(h) = e.hint() {
        eprintln!("hint: {h}");
    }
}

pub(crate) fn status_of(e: &Error) -> ExitStatus {
    if e.is_user_error() {
        ExitStatus::UserError
    } else {
        ExitStatus::Internal
    }
}

/// Parse arguments, run, and return the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = cli.settings();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if settings.threads > 0 {
        rt.worker_threads(settings.threads);
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            print_error(&Error::internal("cannot start the runtime", e));
            return ExitStatus::Internal.into();
        }
    };
    let interrupts = Interrupts::install();
    let status = rt.block_on(async {
        let engine = match Engine::new(settings) {
            Ok(e) => e,
            Err(e) => {
                print_error(&e);
                return status_of(&e);
            }
        };
        let Some(command) = cli.command else {
            return repl::run(&engine, cli.repl, &interrupts).await;
        };
        if let Some(flag) = cli.repl.given_flag() {
            eprintln!(
                "error: `{flag}` is a flag of the shell (`owl` or `owl repl`), not of this command"
            );
            return ExitStatus::UserError;
        }
        let workgroup = cli.workgroup.clone();
        let cluster = cli.cluster.clone();
        match command {
            Command::Repl(args) => repl::run(&engine, args, &interrupts).await,
            Command::Query(args) => query::run(&engine, args, &interrupts).await,
            Command::Estimate(args) => estimate::run(&engine, args).await,
            Command::Run(args) | Command::Etl(args) => run::run(&engine, args, &interrupts).await,
            Command::Crawl(args) => crawl::run(&engine, args).await,
            Command::Convert(args) => convert::run(&engine, args, &interrupts).await,
            Command::Ingest(args) => ingest::run(&engine, args).await,
            Command::Compare(args) => compare::run(&engine, args).await,
            Command::Tables(args) => tables::tables(&engine, args),
            Command::Describe(args) => tables::describe(&engine, args),
            Command::Versions(args) => tables::versions(&engine, args),
            Command::History(args) => history::history(&engine, args, workgroup),
            Command::Workgroup(args) => workgroup::workgroup(&engine, args),
            Command::Serve(args) => serve::run(&engine, args, &interrupts).await,
            Command::Scheduler(args) => cluster::run_scheduler(&engine, args, &interrupts).await,
            Command::Executor(args) => cluster::run_executor(&engine, args, &interrupts).await,
            Command::Cluster(args) => cluster::run(&engine, args, cluster, &interrupts).await,
        }
    });
    // A cancelled query may still hold a worker in a long computation: do not wait for it.
    rt.shutdown_background();
    status.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_contract() {
        assert_eq!(ExitStatus::Ok as u8, 0);
        assert_eq!(ExitStatus::UserError as u8, 1);
        assert_eq!(ExitStatus::Internal as u8, 2);
        assert_eq!(ExitStatus::BudgetExceeded as u8, 3);
        assert_eq!(
            status_of(&Error::Internal("x".into())),
            ExitStatus::Internal
        );
        assert_eq!(status_of(&Error::Query("x".into())), ExitStatus::UserError);
    }
}
