//! `owl scheduler`, `owl executor`, `owl cluster up`: a Ballista cluster of `owl` processes.
//!
//! The scheduler plans with this process's registry (`--catalog`) and rules; executors read with their own
//! machine's object stores and credentials. `owl cluster up` starts a scheduler here and N executors as child
//! processes of this binary, for trying a cluster on one machine (and for tests); Ctrl-C stops them all.

use super::{ExitStatus, Interrupts, print_error};
use crate::Error;
use crate::cluster::process::{ExecutorOptions, ExecutorParts, SchedulerParts};
use crate::engine::Engine;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Where the scheduler listens for clients and executors (loopback by default).
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    bind: String,
    /// Seconds without a heartbeat after which an executor is lost and its running tasks run again on the
    /// others (executors send one every quarter of this; see `owl executor --heartbeat`).
    #[arg(long, default_value_t = DEFAULT_EXECUTOR_TIMEOUT, value_name = "SECS", value_parser = clap::value_parser!(u64).range(2..))]
    executor_timeout: u64,
}

/// Ballista waits 180 s for an executor's heartbeat (60 s apart); owl notices a lost executor sooner.
const DEFAULT_EXECUTOR_TIMEOUT: u64 = 20;

#[derive(Debug, Args)]
pub struct ExecutorArgs {
    /// The scheduler to serve (`host:port` or `df://host:port`).
    #[arg(long, value_name = "HOST:PORT")]
    scheduler: String,
    /// Where the executor serves its tasks' output (Arrow Flight) and how others reach it.
    #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
    bind: String,
    /// Its gRPC port (tasks pushed by the scheduler); default: the Flight port + 1.
    #[arg(long)]
    grpc_port: Option<u16>,
    /// Tasks it runs at once (0: one per core).
    #[arg(long, default_value_t = 0)]
    concurrent_tasks: usize,
    /// Where its shuffle files go; default: a new folder under the system's temporary folder.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seconds between its heartbeats to the scheduler: well under the scheduler's `--executor-timeout`.
    #[arg(long, default_value_t = DEFAULT_EXECUTOR_TIMEOUT / 4, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat: u64,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Start a scheduler here and executors as child processes, until Ctrl-C.
    Up {
        /// Executors to start.
        #[arg(long, default_value_t = 2)]
        executors: usize,
        /// Where the scheduler listens.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: String,
        /// Tasks each executor runs at once.
        #[arg(long, default_value_t = 1)]
        concurrent_tasks: usize,
        /// Seconds without a heartbeat after which an executor is lost (its tasks run again on the others).
        #[arg(long, default_value_t = DEFAULT_EXECUTOR_TIMEOUT, value_name = "SECS", value_parser = clap::value_parser!(u64).range(2..))]
        executor_timeout: u64,
    },
    /// The cluster's executors and its jobs (running first), from the scheduler at `--cluster` (or
    /// `OWL_CLUSTER`; default `df://127.0.0.1:50050`).
    Status {
        /// Finished jobs too (the scheduler keeps them for a while).
        #[arg(long)]
        all: bool,
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: super::tables::ListFormat,
    },
}

fn host_port(text: &str, what: &str) -> crate::Result<(String, u16)> {
    crate::cluster::host_port(text)
        .ok_or_else(|| Error::Query(format!("{what} `{text}` is not `host:port`")))
}

async fn scheduler(engine: &Engine, bind: &str, executor_timeout: u64) -> crate::Result<()> {
    cluster_log();
    let (host, port) = host_port(bind, "--bind")?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| Error::Query(format!("the scheduler cannot listen on `{bind}`: {e}")))?;
    let config = engine.cluster_config()?;
    let sessions = engine.clone();
    let parts = SchedulerParts {
        registry_root: engine.registry().root().to_path_buf(),
        config: Arc::new(move || config.clone()),
        session: Arc::new(move |config| {
            sessions
                .cluster_session(config)
                .map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
        }),
        executor_timeout_secs: executor_timeout,
    };
    eprintln!(
        "owl scheduler: listening on df://{}; catalog `{}`",
        listener
            .local_addr()
            .map_or_else(|_| bind.to_string(), |a| a.to_string()),
        engine.registry().root().display()
    );
    crate::cluster::process::run_scheduler(listener, parts).await
}

async fn executor(engine: &Engine, args: &ExecutorArgs) -> crate::Result<()> {
    cluster_log();
    let (scheduler_host, scheduler_port) = host_port(&args.scheduler, "--scheduler")?;
    let (host, flight_port) = host_port(&args.bind, "--bind")?;
    let options = ExecutorOptions {
        host,
        flight_port,
        grpc_port: args.grpc_port.unwrap_or(flight_port.wrapping_add(1)),
        scheduler_host,
        scheduler_port,
        concurrent_tasks: args.concurrent_tasks,
        work_dir: args.work_dir.clone(),
        heartbeat_secs: args.heartbeat,
    };
    let config = engine.cluster_config()?;
    let parts = ExecutorParts {
        config: Arc::new(move || config.clone()),
        functions: engine.cluster_functions(),
        stores: engine.object_stores(),
    };
    eprintln!(
        "owl executor: serving df://{}:{} from {}",
        options.scheduler_host, options.scheduler_port, args.bind
    );
    crate::cluster::process::run_executor(options, parts).await
}

/// Ballista's own log lines on stderr, at the level `OWL_CLUSTER_LOG` names (`error`, `warn`, `info`, `debug`);
/// none without it.
struct StderrLog(log::LevelFilter);

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= self.0
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

fn cluster_log() {
    let Some(level) = std::env::var("OWL_CLUSTER_LOG")
        .ok()
        .and_then(|l| l.parse::<log::LevelFilter>().ok())
    else {
        return;
    };
    // Once a process, for its whole life.
    if log::set_logger(Box::leak(Box::new(StderrLog(level)))).is_ok() {
        log::set_max_level(level);
    }
}

/// Run until the process is done or Ctrl-C; then exit 0 (a stop) or report the error.
async fn until_stopped(
    run: impl std::future::Future<Output = crate::Result<()>>,
    interrupts: &Interrupts,
) -> ExitStatus {
    tokio::select! {
        r = run => match r {
            Ok(()) => ExitStatus::Ok,
            Err(e) => {
                print_error(&e);
                super::status_of(&e)
            }
        },
        () = interrupts.next() => ExitStatus::Ok,
    }
}

pub(crate) async fn run_scheduler(
    engine: &Engine,
    args: SchedulerArgs,
    interrupts: &Interrupts,
) -> ExitStatus {
    until_stopped(
        scheduler(engine, &args.bind, args.executor_timeout),
        interrupts,
    )
    .await
}

pub(crate) async fn run_executor(
    engine: &Engine,
    args: ExecutorArgs,
    interrupts: &Interrupts,
) -> ExitStatus {
    until_stopped(executor(engine, &args), interrupts).await
}

/// A free TCP port on `host` (bound and released; the executor binds it a moment later).
fn free_port(host: &str) -> crate::Result<u16> {
    std::net::TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::Query(format!("no free port on `{host}`: {e}")))
}

/// Kills the executors when `owl cluster up` ends, however it ends.
struct Children(Vec<std::process::Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn up(
    engine: &Engine,
    executors: usize,
    bind: &str,
    concurrent_tasks: usize,
    executor_timeout: u64,
    interrupts: &Interrupts,
) -> crate::Result<()> {
    let (host, _) = host_port(bind, "--bind")?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::internal("the path of this `owl` executable", e))?;
    let settings = engine.settings();
    let listener_addr = bind.to_string();
    let scheduler = scheduler(engine, &listener_addr, executor_timeout);
    tokio::pin!(scheduler);
    // The scheduler listens before any executor starts: poll it once so it binds.
    let mut children = Children(Vec::new());
    tokio::select! {
        r = &mut scheduler => return r,
        () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
    }
    for _ in 0..executors {
        let flight = free_port(&host)?;
        let grpc = free_port(&host)?;
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("--catalog")
            .arg(&settings.catalog_dir)
            .arg("--threads")
            .arg(concurrent_tasks.max(1).to_string());
        if let Some(url) = &settings.s3.endpoint_url {
            cmd.arg("--endpoint-url").arg(url);
        }
        if let Some(region) = &settings.s3.region {
            cmd.arg("--region").arg(region);
        }
        if let Some(profile) = &settings.s3.profile {
            cmd.arg("--profile").arg(profile);
        }
        if settings.s3.no_sign_request {
            cmd.arg("--no-sign-request");
        }
        cmd.args(["executor", "--scheduler", bind])
            .arg("--bind")
            .arg(format!("{host}:{flight}"))
            .arg("--grpc-port")
            .arg(grpc.to_string())
            .arg("--concurrent-tasks")
            .arg(concurrent_tasks.to_string())
            .arg("--heartbeat")
            .arg((executor_timeout / 4).max(1).to_string())
            .env_remove("OWL_CLUSTER");
        // An executor ends with this process, even one killed outright.
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec the closure only makes one system call (prctl), which is
            // async-signal-safe, and allocates nothing.
            unsafe {
                cmd.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                        .map_err(std::io::Error::from)
                });
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::internal("starting an executor", e))?;
        children.0.push(child);
    }
    eprintln!("owl cluster: {executors} executors; Ctrl-C stops the cluster");
    tokio::select! {
        r = &mut scheduler => r,
        () = interrupts.next() => Ok(()),
    }
}

/// `owl cluster ...`; `cluster` is the global `--cluster` (`OWL_CLUSTER`), which `status` asks.
pub(crate) async fn run(
    engine: &Engine,
    args: ClusterArgs,
    cluster: Option<String>,
    interrupts: &Interrupts,
) -> ExitStatus {
    match args.command {
        ClusterCommand::Up {
            executors,
            bind,
            concurrent_tasks,
            executor_timeout,
        } => match up(
            engine,
            executors,
            &bind,
            concurrent_tasks,
            executor_timeout,
            interrupts,
        )
        .await
        {
            Ok(()) => ExitStatus::Ok,
            Err(e) => {
                print_error(&e);
                super::status_of(&e)
            }
        },
        ClusterCommand::Status { all, format } => {
            let cluster = cluster.unwrap_or_else(|| "df://127.0.0.1:50050".to_string());
            match crate::cluster::status::fetch(&cluster).await {
                Ok(status) => {
                    print_status(status, all, format);
                    ExitStatus::Ok
                }
                Err(e) => {
                    print_error(&e);
                    super::status_of(&e)
                }
            }
        }
    }
}

/// Executors, then jobs: running and queued ones (with `all`, the finished ones too).
fn print_status(
    mut status: crate::cluster::status::ClusterStatus,
    all: bool,
    format: super::tables::ListFormat,
) {
    use comfy_table::Table;
    use comfy_table::presets::UTF8_FULL_CONDENSED;
    if !all {
        status
            .jobs
            .retain(|j| j.state == "RUNNING" || j.state == "QUEUED");
    }
    if let super::tables::ListFormat::Json = format {
        match serde_json::to_string_pretty(&status) {
            Ok(text) => println!("{text}"),
            Err(e) => print_error(&Error::internal("the cluster's status as JSON", e)),
        }
        return;
    }
    let slots: u64 = status
        .executors
        .iter()
        .map(|e| u64::from(e.task_slots))
        .sum();
    println!("{} executors, {slots} task slots", status.executors.len());
    if !status.executors.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "executor",
            "address",
            "task slots",
            "state",
            "last heartbeat",
        ]);
        for e in &status.executors {
            t.add_row(vec![
                e.id.clone(),
                format!("{}:{}", e.host, e.flight_port),
                e.task_slots.to_string(),
                e.state.clone(),
                e.last_heartbeat_secs
                    .map_or_else(|| "none yet".to_string(), |s| format!("{s} s ago")),
            ]);
        }
        println!("{t}");
    }
    println!(
        "{} {}",
        status.jobs.len(),
        if all { "jobs" } else { "running jobs" }
    );
    if !status.jobs.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "job",
            "state",
            "stages done",
            "submitted (UTC)",
            "time",
            "query",
        ]);
        let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
        for j in &status.jobs {
            let submitted = chrono::DateTime::from_timestamp_millis(j.submitted_ms as i64)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
            let state = match &j.reason {
                Some(r) => format!("{} ({})", j.state, super::history::cut(r, 40)),
                None => j.state.clone(),
            };
            let took = j.ended_ms.unwrap_or(now).saturating_sub(j.submitted_ms);
            t.add_row(vec![
                j.job_id.clone(),
                state,
                format!("{}/{}", j.completed_stages, j.stages),
                submitted,
                format!("{:.3} s", took as f64 / 1000.0),
                super::history::cut(&j.name, 60),
            ]);
        }
        println!("{t}");
    }
}
