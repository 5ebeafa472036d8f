//! The scheduler and executor processes, inside the `owl` binary.
//!
//! Both are Ballista's own (`ballista-scheduler`, `ballista-executor`), started with owl's pieces:
//! - the codecs (`cluster::codec`), so registry tables and owl's scans travel;
//! - on the scheduler, owl's session (its catalog, functions, logical and physical rules), built by the caller
//!   from the client's settings, because the scheduler is where physical plans are made;
//! - on an executor, owl's object stores (local files and S3 with the AWS credential chain, resolved on that
//!   machine), owl's functions, and the metering execution engine (`cluster::metering`).
//!
//! Ballista's adaptive planner is left off (a client's session turns it off): it replans stages without the
//! session's physical rules.

use super::codec::{OwlLogicalCodec, OwlPhysicalCodec};
use super::metering::MeteringEngine;
use ballista_core::ConfigProducer;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpcServer;
use ballista_executor::execution_engine::DefaultExecutionEngine;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::create_scheduler;
use ballista_scheduler::scheduler_server::SessionBuilder;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use std::path::PathBuf;
use std::sync::Arc;

fn failed(what: &str, e: impl std::fmt::Display) -> crate::Error {
    crate::Error::Query(format!("{what}: {e}"))
}

/// What a scheduler is started with.
pub struct SchedulerParts {
    /// The registry folder tables' relative locations resolve against.
    pub registry_root: PathBuf,
    /// A session's settings before the client's are applied (owl's options registered).
    pub config: ConfigProducer,
    /// owl's session over the registry, with the client's settings.
    pub session: SessionBuilder,
    /// An executor not heard from for this long is lost: its running tasks run again on the others.
    pub executor_timeout_secs: u64,
}

/// Run a scheduler on `listener` until the process ends.
pub async fn run_scheduler(
    listener: tokio::net::TcpListener,
    parts: SchedulerParts,
) -> crate::Result<()> {
    let address = listener
        .local_addr()
        .map_err(|e| failed("the scheduler's address", e))?;
    let config = SchedulerConfig {
        bind_host: address.ip().to_string(),
        external_host: address.ip().to_string(),
        bind_port: address.port(),
        override_config_producer: Some(parts.config),
        override_session_builder: Some(parts.session),
        override_logical_codec: Some(Arc::new(OwlLogicalCodec::new(parts.registry_root))),
        override_physical_codec: Some(Arc::new(OwlPhysicalCodec::default())),
        executor_timeout_seconds: parts.executor_timeout_secs,
        // Checked a few times within the timeout (Ballista checks every 15 s for its 180 s).
        expire_dead_executor_interval_seconds: (parts.executor_timeout_secs / 4).max(1),
        // With every executor lost, running jobs fail after the same wait (one may come back).
        no_executors_grace_period_seconds: parts.executor_timeout_secs,
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| failed("the scheduler", e))?;
    let config = Arc::new(config);
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::clone(&config))
            .await
            .map_err(|e| failed("the scheduler", e))?;
    // Ballista's gRPC service, and owl's status route beside it on the same port (`cluster::status`).
    let grpc = SchedulerGrpcServer::new(scheduler.clone())
        .max_encoding_message_size(config.grpc_server_max_encoding_message_size as usize)
        .max_decoding_message_size(config.grpc_server_max_decoding_message_size as usize);
    let mut routes = tonic::service::RoutesBuilder::default();
    routes.add_service(grpc);
    let app = routes
        .routes()
        .into_axum_router()
        .merge(super::status::routes(Arc::new(scheduler)));
    // The executors' registrations read the address they came from.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
    .map_err(|e| failed("the scheduler", e))
}

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The host it listens on and tells the scheduler (and the other executors) to reach it at.
    pub host: String,
    /// Arrow Flight, where other executors and clients fetch its tasks' output.
    pub flight_port: u16,
    /// Its gRPC service (tasks pushed by the scheduler).
    pub grpc_port: u16,
    pub scheduler_host: String,
    pub scheduler_port: u16,
    /// Tasks it runs at once.
    pub concurrent_tasks: usize,
    /// Where shuffle files go (a temporary folder when None).
    pub work_dir: Option<PathBuf>,
    /// Seconds between its heartbeats to the scheduler (shorter than the scheduler's executor timeout).
    pub heartbeat_secs: u64,
}

/// What an executor is started with, besides its options.
pub struct ExecutorParts {
    /// A session's settings before a task's are applied (owl's options registered).
    pub config: ConfigProducer,
    /// owl's functions (DataFusion's, the text and JSON functions, owl's corrected aggregates).
    pub functions: BallistaFunctionRegistry,
    /// The process's object stores (each task's reads are metered around them).
    pub stores: Arc<dyn ObjectStoreRegistry>,
}

/// Run an executor until the process is stopped (SIGTERM, Ctrl-C) or the scheduler stops it.
pub async fn run_executor(options: ExecutorOptions, parts: ExecutorParts) -> crate::Result<()> {
    let work_dir = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                failed(
                    &format!("the executor's work folder `{}`", dir.display()),
                    e,
                )
            })?;
            dir.clone()
        }
        None => std::env::temp_dir().join(format!("owl-executor-{}", uuid::Uuid::new_v4())),
    };
    let temp = work_dir.to_string_lossy().to_string();
    let stores = parts.stores;
    let engine_stores = Arc::clone(&stores);
    // The process's stores; each task reads through a meter of its own around them (`MeteringEngine`).
    let runtime: ballista_core::RuntimeProducer = Arc::new(move |_| {
        RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(&stores))
            .with_temp_file_path(temp.clone())
            .build_arc()
    });
    let config = ExecutorProcessConfig {
        bind_host: options.host.clone(),
        external_host: Some(options.host.clone()),
        port: options.flight_port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        vcores: options.concurrent_tasks,
        executor_heartbeat_interval_seconds: options.heartbeat_secs.max(1),
        work_dir: Some(work_dir.to_string_lossy().to_string()),
        override_config_producer: Some(parts.config),
        override_runtime_producer: Some(runtime),
        override_function_registry: Some(Arc::new(parts.functions)),
        override_logical_codec: Some(Arc::new(OwlLogicalCodec::new(PathBuf::new()))),
        override_physical_codec: Some(Arc::new(OwlPhysicalCodec::default())),
        override_execution_engine: Some(Arc::new(MeteringEngine {
            inner: Arc::new(DefaultExecutionEngine::new()),
            stores: engine_stores,
        })),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config)).await.map_err(|e| {
        failed(
            &format!(
                "the executor (scheduler `{}:{}`)",
                options.scheduler_host, options.scheduler_port
            ),
            e,
        )
    })
}
