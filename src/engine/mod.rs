//! The engine: the session over the registry, and the query lifecycle.
//!
//! - `mod.rs`: [`Engine`], a cheap handle to one registry, its object stores and the base session state
//!   (settings changed by `SET`, the current database); parsing; planning and collecting one statement.
//! - `execution`: the lifecycle every entry point uses: [`Engine::submit`] -> [`QueryExecution`] (poll, cancel,
//!   wait), [`Outcome`] and its [`Ending`], the bill.
//! - `estimate`: dry runs, what a statement would scan and cost without reading its data.
//! - `paths`: names that are paths (`FROM 'folder/'`), read as the crawler would register the folder.
//! - `postgres`: the Postgres dialect (`owl serve --pg`): its parser, and `pg_catalog` beside the registry.
//! - `results`: result files as Athena writes them (`<location>/<id>.csv` and its `.csv.metadata`), written by
//!   the lifecycle for a request with an output location, read back by the server's `GetQueryResults`.
//!
//! Every statement runs in a fresh `SessionContext` cloned from the base state, with its own `RuntimeEnv`: its
//! own meter-charging store registry and its own (empty) list, statistics and footer caches. So a query's
//! bytes never depend on what ran before it (Athena has no cross-query cache), and two concurrent queries never
//! share counts. Statements the registry owns are `crate::sql`'s; everything else is DataFusion's, planned with
//! owl's rules and nodes (`crate::optimizer::query_planner`).

pub(crate) mod estimate;
mod execution;
mod paths;
pub mod postgres;
pub mod results;

pub use execution::{
    BYTES_LIMIT_REASON, DEFAULT_WORKGROUP, Ending, Outcome, QueryExecution, QueryRequest,
    QueryStats, QueryStatus, RESULTS_DROPPED_REASON, ResultStream,
};
pub use postgres::Dialect;

use execution::{Produced, ResultSink};

use crate::catalog::Registry;
use crate::catalog::provider::RegistryCatalog;
use crate::config::{PARQUET_FOOTER_HINT, Settings};
use crate::cost::{CostModel, QueryState, StatementType};
use crate::error::{Error, Result};
pub use crate::sql::Statement;
use crate::storage::meter::{Meter, MeteredRegistry};
use crate::storage::stores::StoreRegistry;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::catalog::{CatalogProviderList, DynamicFileCatalog, UrlTableFactory};
use datafusion::common::ScalarValue;
use datafusion::common::SchemaError;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryPool, TrackConsumersPool, UnboundedMemoryPool,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use futures::StreamExt;
use std::future::Future;
use std::sync::{Arc, Mutex};

pub use crate::config::CATALOG_NAME;

/// The query engine over one registry: a cheap handle (clones share one engine), so that a submitted query's
/// task can hold it.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    settings: Settings,
    registry: Arc<Registry>,
    stores: Arc<StoreRegistry>,
    catalogs: Arc<dyn CatalogProviderList>,
    /// Config (SET statements, current database) and functions; each query clones it.
    base: Mutex<SessionState>,
    /// The base of Postgres-dialect sessions (`postgres::Dialect`), made from `base` on first use.
    postgres: std::sync::OnceLock<SessionState>,
    history: crate::history::History,
    /// The memory every query of this engine draws from (`Settings::memory_limit`).
    memory: Arc<dyn MemoryPool>,
}

impl Engine {
    pub fn new(settings: Settings) -> Result<Self> {
        let registry = Arc::new(
            Registry::open(settings.catalog_dir.clone())
                .with_allowed_roots(settings.allowed_roots.clone()),
        );
        if !registry.database_exists(&settings.database) {
            return Err(Error::DatabaseNotFound(settings.database.clone()));
        }
        let history = crate::history::History::new(&settings.catalog_dir, settings.history_days);
        // Days past the retention go when an engine opens; a history that cannot be pruned (a read-only
        // registry) keeps them, and says so when an entry cannot be written either.
        let _ = history.prune(chrono::Utc::now());
        let catalogs: Arc<dyn CatalogProviderList> = Arc::new(MemoryCatalogProviderList::new());
        catalogs.register_catalog(
            CATALOG_NAME.into(),
            Arc::new(RegistryCatalog::new(Arc::clone(&registry))),
        );
        let mut config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, &settings.database)
            .with_information_schema(true);
        config = config.with_option_extension(crate::config::options::OwlOptions::default());
        if settings.threads > 0 {
            config = config.with_target_partitions(settings.threads);
        }
        let opts = config.options_mut();
        opts.execution.parquet.metadata_size_hint = Some(PARQUET_FOOTER_HINT);
        opts.optimizer.hash_join_inlist_pushdown_max_distinct_values =
            crate::config::JOIN_LISTED_KEYS;
        // Positions of names in the statement, so an unknown column's error can say where it is.
        opts.sql_parser.collect_spans = true;
        // Athena reads every file in a location whatever its name; so does owl.
        opts.execution.listing_table_ignore_subdirectory = false;
        // On a cluster: Ballista's settings, owl's codecs, and the switches whose nodes do not travel off.
        if settings.cluster.is_some() {
            config = crate::cluster::cluster_config(config, registry.root().to_path_buf())?;
        }
        let stores = Arc::new(StoreRegistry::new(settings.s3.clone()));
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(stores.clone())
            .build_arc()
            .map_err(|e| Error::internal("a query's runtime", e))?;
        let base = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(crate::optimizer::logical_rules())
            .with_physical_optimizer_rules(crate::optimizer::physical_rules())
            .with_query_planner(crate::optimizer::query_planner())
            .with_catalog_list(Arc::clone(&catalogs))
            .build();
        let mut base = base;
        for udf in crate::exec::expr::json::udfs()
            .into_iter()
            .chain(crate::exec::text::udfs())
        {
            datafusion::execution::FunctionRegistry::register_udf(&mut base, Arc::new(udf))
                .map_err(|e| Error::internal("a query's functions", e))?;
        }
        // Anomaly scores and dense regions over ordered streams (`random_cut_forest(v) OVER (ORDER BY ts)`,
        // `hotspots(x, y, 100, 0.5, 10) OVER (ORDER BY ts)`).
        for udwf in crate::exec::anomaly::udwfs()
            .into_iter()
            .chain([crate::exec::hotspots::udwf()])
        {
            datafusion::execution::FunctionRegistry::register_udwf(&mut base, Arc::new(udwf))
                .map_err(|e| Error::internal("a query's window functions", e))?;
        }
        // Table functions over tables (`tf_idf(TABLE docs)`), planned as SQL over their input.
        base.register_relation_planner(Arc::new(crate::sql::table_functions::TableFunctions))
            .map_err(|e| Error::internal("a query's table functions", e))?;
        // A correction, always: min and max of floats in total order in every group.
        for udaf in [
            datafusion::functions_aggregate::min_max::min_udaf(),
            datafusion::functions_aggregate::min_max::max_udaf(),
        ] {
            let corrected = crate::exec::aggregate::total_order::TotalOrder::udaf(udaf);
            datafusion::execution::FunctionRegistry::register_udaf(&mut base, Arc::new(corrected))
                .map_err(|e| Error::internal("a query's functions", e))?;
        }
        // One pool for every query of the engine (a server's concurrent queries share the machine). Fair: each
        // sort or aggregation that can spill gets an equal share of what joins' build sides (which cannot)
        // leave; the five biggest holders are named when an allocation fails.
        let memory: Arc<dyn MemoryPool> = match settings.memory_limit {
            Some(limit) => Arc::new(TrackConsumersPool::new(
                FairSpillPool::new(limit),
                std::num::NonZeroUsize::new(5).expect("five"),
            )),
            None => Arc::new(UnboundedMemoryPool::default()),
        };
        Ok(Engine {
            shared: Arc::new(Shared {
                settings,
                registry,
                stores,
                catalogs,
                base: Mutex::new(base),
                postgres: std::sync::OnceLock::new(),
                history,
                memory,
            }),
        })
    }

    /// `e`, with the memory limit named when it is what the query ran out of.
    pub(crate) fn naming_limit(&self, e: Error) -> Error {
        match e {
            Error::ResourcesExhausted {
                detail,
                limit: None,
            } => Error::ResourcesExhausted {
                detail,
                limit: self
                    .shared
                    .settings
                    .memory_limit
                    .map(crate::config::show_memory_size),
            },
            Error::Located {
                error,
                line,
                column,
            } => Error::Located {
                error: Box::new(self.naming_limit(*error)),
                line,
                column,
            },
            other => other,
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    /// The query history beside the registry.
    pub fn history(&self) -> &crate::history::History {
        &self.shared.history
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    pub fn cost_model(&self) -> CostModel {
        self.shared.settings.cost
    }

    fn base_state(&self) -> SessionState {
        // A poisoned lock only means another thread panicked mid-update; the state itself is still whole.
        self.shared
            .base
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The database unqualified names resolve in.
    pub fn database(&self) -> String {
        let base = self.shared.base.lock().unwrap_or_else(|p| p.into_inner());
        base.config().options().catalog.default_schema.clone()
    }

    pub fn set_database(&self, db: &str) -> Result<()> {
        if !self.shared.registry.database_exists(db) {
            return Err(Error::DatabaseNotFound(db.into()));
        }
        let mut base = self.shared.base.lock().unwrap_or_else(|p| p.into_inner());
        base.config_mut().options_mut().catalog.default_schema = db.to_string();
        Ok(())
    }

    /// Split SQL text into statements.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        // Several statements with Athena's partition DDL among them (which DataFusion's parser does not read):
        // each on its own.
        if let Ok(items) = crate::sql::split::split(sql)
            && items.len() > 1
            && items
                .iter()
                .any(|i| crate::sql::hive_ddl::parse(&i.sql).is_some())
        {
            let mut out = vec![];
            for item in items {
                out.extend(self.parse(&item.sql)?);
            }
            return Ok(out);
        }
        if let Some(ddl) = crate::sql::hive_ddl::parse(sql) {
            return Ok(vec![Statement::Hive(ddl?)]);
        }
        self.parse_datafusion(sql)
    }

    fn parse_datafusion(&self, sql: &str) -> Result<Vec<Statement>> {
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        // Athena's positional `?` parameters, numbered for DataFusion.
        let numbered = crate::sql::athena::number_placeholders(sql);
        let sql = numbered.as_deref().unwrap_or(sql);
        let bound = |v: std::collections::VecDeque<DFStatement>| {
            v.into_iter()
                .map(|mut s| {
                    crate::sql::precedence::rebind(&mut s);
                    crate::sql::table_functions::table_arguments(&mut s);
                    Statement::Sql(s)
                })
                .collect()
        };
        match DFParser::parse_sql_with_dialect(sql, &dialect) {
            Ok(v) => Ok(bound(v)),
            Err(e) => {
                // Athena's spellings (`PARTITIONED BY (year int)`, `PREPARE name FROM`, `f(TABLE t)`): retry in DataFusion's;
                // report the first error if that does not parse either.
                let mut rewritten = None;
                for rewrite in [
                    crate::sql::athena::typed_partitions,
                    crate::sql::athena::prepare_from,
                    crate::sql::athena::table_arguments,
                ] {
                    if let Some(r) = rewrite(rewritten.as_deref().unwrap_or(sql)) {
                        rewritten = Some(r);
                    }
                }
                if let Some(rewritten) = rewritten
                    && let Ok(v) = DFParser::parse_sql_with_dialect(&rewritten, &dialect)
                {
                    return Ok(bound(v));
                }
                Err(Error::from(e))
            }
        }
    }

    /// A session for one query: the base state with a runtime whose stores charge `meter` and whose caches
    /// start empty.
    fn query_context(
        &self,
        meter: Arc<Meter>,
        database: Option<&str>,
        dialect: Dialect,
    ) -> Result<SessionContext> {
        let mut base = match dialect {
            Dialect::Athena => self.base_state(),
            Dialect::Postgres => self.postgres_state()?,
        };
        let exact_ranges =
            crate::config::options::of_config(base.config_options()).remote_exact_ranges;
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(MeteredRegistry::new(
                self.shared.stores.clone(),
                meter,
                exact_ranges,
            )))
            .with_memory_pool(Arc::clone(&self.shared.memory))
            .build_arc()
            .map_err(|e| Error::internal("a query's runtime", e))?;
        if let Some(db) = database {
            base.config_mut().options_mut().catalog.default_schema = db.to_string();
        }
        base.config_mut()
            .set_extension(Arc::new(crate::catalog::provider::PartitionLog::default()));
        // Names that are paths (`FROM 'folder/'`) read as tables (`paths`).
        let paths = Arc::new(paths::PathTables::new(
            self.shared.registry.root().to_path_buf(),
            base.config().options().catalog.default_schema.clone(),
        ));
        let catalogs = Arc::new(DynamicFileCatalog::new(
            Arc::clone(base.catalog_list()),
            Arc::clone(&paths) as Arc<dyn UrlTableFactory>,
        ));
        let state = SessionStateBuilder::new_from_existing(base)
            .with_runtime_env(runtime)
            .with_catalog_list(catalogs)
            .build();
        let state = match &self.shared.settings.cluster {
            Some(cluster) => crate::cluster::client_state(state, cluster)?,
            None => state,
        };
        let ctx = SessionContext::new_with_state(state);
        paths.set_session(ctx.state_weak_ref());
        Ok(ctx)
    }

    /// The settings a cluster's scheduler and executors start a session from, before a client's are applied
    /// (owl's options and Ballista's registered, the cluster's defaults).
    pub fn cluster_config(&self) -> Result<SessionConfig> {
        crate::cluster::cluster_config(
            self.base_state().config().clone(),
            self.shared.registry.root().to_path_buf(),
        )
    }

    /// The session a cluster's scheduler plans a client's query in: this engine's catalog, functions and rules,
    /// with the client's settings, reading (listing, footers for planning) through this process's stores.
    pub fn cluster_session(&self, config: SessionConfig) -> Result<SessionState> {
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(self.shared.stores.clone())
            .with_memory_pool(Arc::clone(&self.shared.memory))
            .build_arc()
            .map_err(|e| Error::internal("a cluster session's runtime", e))?;
        Ok(SessionStateBuilder::new_from_existing(self.base_state())
            .with_config(config)
            .with_runtime_env(runtime)
            .build())
    }

    /// The functions a cluster's executors resolve by name: this engine's.
    pub fn cluster_functions(&self) -> ballista_core::registry::BallistaFunctionRegistry {
        ballista_core::registry::BallistaFunctionRegistry::from(&self.base_state())
    }

    /// This process's object stores, unmetered (an executor meters each task around them).
    pub fn object_stores(
        &self,
    ) -> Arc<dyn datafusion::execution::object_store::ObjectStoreRegistry> {
        self.shared.stores.clone()
    }

    /// Run every statement of `sql` in order, stopping at the first that does not succeed.
    pub async fn run_sql(&self, sql: &str) -> Result<Vec<Outcome>> {
        let mut out = Vec::new();
        for stmt in self.parse(sql)? {
            let o = self
                .execute(&stmt, Arc::new(Meter::new()), std::future::pending())
                .await;
            let failed = o.stats.state != QueryState::Succeeded;
            out.push(o);
            if failed {
                break;
            }
        }
        Ok(out)
    }

    /// Run one statement. `meter` is read by callers that show progress; `cancel` resolving cancels the query
    /// (it is then CANCELLED and billed for what it read).
    pub async fn execute(
        &self,
        stmt: &Statement,
        meter: Arc<Meter>,
        cancel: impl Future<Output = ()>,
    ) -> Outcome {
        self.execute_with(stmt, meter, cancel, &[]).await
    }

    /// [`Engine::execute`] with values for named placeholders (`$name`), bound into the plan as typed values
    /// (never spliced into the SQL text).
    pub async fn execute_with(
        &self,
        stmt: &Statement,
        meter: Arc<Meter>,
        cancel: impl Future<Output = ()>,
        params: &[(String, String)],
    ) -> Outcome {
        let id = uuid::Uuid::new_v4().to_string();
        let request = QueryRequest::new(stmt.clone()).with_params(params);
        self.run(&request, &id, meter, cancel, None, None).await
    }

    /// Plan `stmt` and collect its rows, or send them down `sink` as they come (or run it, if owl's statements
    /// own it).
    async fn plan_and_collect(
        &self,
        stmt: &Statement,
        meter: Arc<Meter>,
        request: &QueryRequest,
        mut sink: Option<&mut ResultSink>,
    ) -> std::result::Result<Produced, (StatementType, Error)> {
        let params = &request.params;
        let workgroup = &request.workgroup;
        let ctx = self
            .query_context(
                Arc::clone(&meter),
                request.database.as_deref(),
                request.dialect,
            )
            .map_err(|e| (StatementType::Dml, e))?;
        // PREPARE and DEALLOCATE change the work group's prepared statements; EXECUTE runs one with its values.
        let resolved = crate::sql::prepared::resolve(
            self,
            &ctx,
            stmt,
            workgroup,
            &request.execution_parameters,
        );
        let (stmt, positional) = match resolved.await {
            crate::sql::prepared::Resolved::Done(r) => return deliver(r, sink).await,
            // Values bound by the client (the Postgres wire protocol's Bind) when no EXECUTE gave any.
            crate::sql::prepared::Resolved::Run(stmt, values) if values.is_empty() => {
                (stmt, request.positional.clone())
            }
            crate::sql::prepared::Resolved::Run(stmt, values) => (stmt, values),
        };
        // Partition DDL checks the locations it is given against the roots as it runs.
        if self.shared.registry.allowed_roots().is_some()
            && let Statement::Sql(stmt) = &stmt
        {
            self.check_named_paths(&ctx, stmt)
                .map_err(|e| (StatementType::Dml, e))?;
        }
        if let Some(r) = crate::sql::commands::try_execute(self, &ctx, &stmt).await {
            return deliver(r, sink).await;
        }
        let Statement::Sql(stmt) = &stmt else {
            return Err((
                StatementType::Dml,
                Error::Internal(format!("`{stmt}` was left unrun")),
            ));
        };
        // Table functions whose columns depend on the rows read them first (billed with the statement).
        let mut stmt = stmt.clone();
        crate::sql::table_functions::resolve(&ctx, &mut stmt)
            .await
            .map_err(|e| (StatementType::Dml, e))?;
        let stmt = &stmt;
        let state = ctx.state();
        let plan = match state.statement_to_plan(stmt.clone()).await {
            Ok(p) => p,
            Err(e) => {
                let at = position_of(&e);
                let e = self.explain_not_found(&ctx, stmt, e).await;
                return Err((StatementType::Dml, located(e, at)));
            }
        };
        let kind = classify(&plan);
        let plan = bind_params(plan, params, &positional).map_err(|e| (kind, e))?;
        if let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) = &plan {
            let r = crate::sql::commands::create_external_table(self, &ctx, cmd).await;
            return deliver(r, sink).await;
        }
        let is_set = matches!(
            &plan,
            LogicalPlan::Statement(datafusion::logical_expr::Statement::SetVariable(_))
        );
        let explain = matches!(&plan, LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
        // On a cluster, the job is named by its query as the client wrote it (`owl cluster status` lists it).
        if self.shared.settings.cluster.is_some() {
            let text = request.text.clone().unwrap_or_else(|| stmt.to_string());
            let name: String = text.chars().take(200).collect();
            let _ = ctx
                .state_ref()
                .write()
                .config_mut()
                .options_mut()
                .set(ballista_core::config::BALLISTA_JOB_NAME, &name);
        }
        let result = async {
            let df = ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let physical = df.create_physical_plan().await?;
            meter.set_plan(estimate::scan_plan(&physical));
            if let Some(log) = ctx
                .state()
                .config()
                .get_extension::<crate::catalog::provider::PartitionLog>()
            {
                meter.set_partitions(log.scans());
            }
            if let Some(sink) = sink.as_deref_mut() {
                sink.schema(&schema);
            }
            let mut produced = Produced::new(kind, schema);
            // On a cluster: the job, cancelled on every executor if this query stops before its end.
            let job = match &self.shared.settings.cluster {
                Some(cluster) => Some(
                    crate::cluster::Job::new(&physical, cluster, &meter)
                        .map_err(|e| DataFusionError::External(Box::new(e)))?,
                ),
                None => None,
            };
            let mut stream =
                datafusion::physical_plan::execute_stream(Arc::clone(&physical), ctx.task_ctx())?;
            // Whether the rows were read to their end (not abandoned by the reader).
            let mut ended = true;
            while let Some(b) = stream.next().await {
                let b = match b {
                    Ok(b) => b,
                    // A page that does not decode: name its file.
                    Err(e) => {
                        let stores = self.shared.stores.as_ref();
                        let mut scans = vec![];
                        estimate::collect_scans(&physical, &mut scans);
                        return Err(crate::formats::parquet_files::blame(stores, &scans, e).await);
                    }
                };
                if !produced.push(b, sink.as_deref()).await {
                    ended = false;
                    break;
                }
            }
            // EXPLAIN: which partitions each scan of a partitioned table reads (projected or registered).
            if explain && let Some(row) = partitions_row(&ctx, &produced.schema)? {
                produced.push(row, sink.as_deref()).await;
            }
            // What the cluster's tasks read, from the scheduler's metrics of the job.
            // (Rows abandoned before their end: the job is cancelled, and billed for its finished stages.)
            if let Some(job) = job {
                drop(stream);
                if ended {
                    let reading = job
                        .finish()
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    meter.add_reading(&reading);
                }
            }
            if let Some(rg) = estimate::row_groups(&physical) {
                meter.set_row_groups(rg);
            }
            meter.set_files_skipped(estimate::files_skipped(&physical));
            Ok::<_, DataFusionError>(produced)
        }
        .await
        .map_err(|e| match &self.shared.settings.cluster {
            Some(cluster) => (kind, crate::cluster::plain_error(Error::from(e), cluster)),
            None => (kind, Error::from(e)),
        })?;
        if is_set {
            // SET changes this query's session; keep it for the statements that follow.
            let config = ctx.state().config().clone();
            let mut base = self.shared.base.lock().unwrap_or_else(|p| p.into_inner());
            *base = SessionStateBuilder::new_from_existing(base.clone())
                .with_config(config)
                .build();
        }
        Ok(result)
    }

    /// With the registry limited to some folders (`owl serve --allow-root`): every local path the statement
    /// names itself (`FROM 'dir/'`, `COPY ... TO 'dir/'`) is under one of them. Tables of the registry read
    /// where the registry says (their locations were checked when they were made).
    fn check_named_paths(&self, ctx: &SessionContext, stmt: &DFStatement) -> Result<()> {
        let roots = self.shared.registry.allowed_roots();
        let check = |named: &str| -> Result<()> {
            let url = if named.contains("://") {
                url::Url::parse(named).map_err(|e| Error::InvalidLocation {
                    location: named.to_string(),
                    reason: e.to_string(),
                })?
            } else {
                let cwd = std::env::current_dir().unwrap_or_default();
                let path = crate::catalog::location::normalize(&cwd.join(named));
                url::Url::from_file_path(&path).map_err(|()| Error::InvalidLocation {
                    location: named.to_string(),
                    reason: "not a path".into(),
                })?
            };
            crate::catalog::location::check_allowed(&url, roots)
        };
        if let DFStatement::CopyTo(copy) = stmt {
            check(&copy.target)?;
        }
        let references = ctx
            .state()
            .resolve_table_references(stmt)
            .unwrap_or_default();
        for reference in references {
            if reference.schema().is_some() {
                continue;
            }
            let name = reference.table();
            let looks_like_path = name.contains('/')
                || name.contains("://")
                || name.rsplit_once('.').is_some_and(|(_, ext)| ext.len() <= 8);
            let db = ctx
                .state()
                .config()
                .options()
                .catalog
                .default_schema
                .clone();
            if looks_like_path && !self.shared.registry.table_exists(&db, name) {
                check(name)?;
            }
        }
        Ok(())
    }

    /// Why a remote path (`s3://...`) cannot be listed, if the store says so (no bucket, no credentials, ...).
    async fn probe_remote(&self, name: &str) -> Option<Error> {
        let url = url::Url::parse(name).ok()?;
        if url.scheme() == "file" {
            return None;
        }
        use datafusion::execution::object_store::ObjectStoreRegistry;
        let store = match self.shared.stores.get_store(&url) {
            Ok(s) => s,
            Err(e) => return Some(Error::from(e)),
        };
        let path = object_store::path::Path::from_url_path(url.path()).ok()?;
        match store.list_with_delimiter(Some(&path)).await {
            Ok(_) => None,
            Err(e) => Some(Error::from_store(
                crate::storage::s3::annotate(e, name),
                name,
            )),
        }
    }

    /// Make a planning error that is a missing table, path or column say what the user named, with the nearest
    /// name the registry knows. Read from DataFusion's typed errors and the statement's own table references,
    /// never from an error's wording.
    async fn explain_not_found(
        &self,
        ctx: &SessionContext,
        stmt: &DFStatement,
        e: DataFusionError,
    ) -> Error {
        if let DataFusionError::SchemaError(schema_error, _) = e.find_root()
            && let SchemaError::FieldNotFound {
                field,
                valid_fields,
            } = schema_error.as_ref()
        {
            let bare = field.name();
            // A name that differs only in case first (an unquoted name folds to lower case), else the nearest.
            let suggestion = valid_fields
                .iter()
                .find(|c| c.name().eq_ignore_ascii_case(bare))
                .map(|c| c.name().to_string())
                .or_else(|| closest(bare, valid_fields.iter().map(|c| c.name())));
            return Error::ColumnNotFound {
                column: field.flat_name(),
                suggestion,
            };
        }
        // An error of owl's own (a corrupt registry file, a storage failure) says what failed already.
        let error = Error::from(e);
        if !matches!(error, Error::Query(_)) {
            return error;
        }
        // The first table the statement names that its session cannot resolve is the one that failed.
        let Ok(references) = ctx.state().resolve_table_references(stmt) else {
            return error;
        };
        for reference in references {
            // A table function's name (`tf_idf(...)`) is not a table: its own error stands.
            let function = matches!(&reference, datafusion::common::TableReference::Bare { table }
                if crate::sql::table_functions::NAMES.contains(&table.to_ascii_lowercase().as_str()));
            if function || ctx.table_provider(reference.clone()).await.is_ok() {
                continue;
            }
            if reference.catalog().is_some_and(|c| c != CATALOG_NAME) {
                break;
            }
            let table = reference.table();
            // A name with a slash or an extension was meant as a path (DuckDB-style `FROM 'x.parquet'`).
            let looks_like_path = table.contains('/')
                || table
                    .rsplit_once('.')
                    .is_some_and(|(_, ext)| ext.len() <= 8);
            if looks_like_path {
                // DataFusion's URL tables hide why a remote path could not be listed: ask the store.
                if let Some(why) = self.probe_remote(table).await {
                    return why;
                }
                if let Some(why) = paths::why_unreadable(&ctx.state(), table).await {
                    return why;
                }
                return Error::PathNotFound(table.to_string());
            }
            let db = reference
                .schema()
                .map_or_else(|| self.database(), str::to_string);
            if !self.shared.registry.database_exists(&db) {
                return Error::DatabaseNotFound(db);
            }
            let suggestion = self
                .shared
                .registry
                .table_names(&db)
                .ok()
                .and_then(|names| closest(table, names.iter().map(String::as_str)));
            return Error::TableNotFound {
                database: db,
                table: table.to_string(),
                suggestion,
            };
        }
        error
    }

    /// Names of the SQL functions a statement can call (scalar, aggregate, window), sorted.
    pub fn function_names(&self) -> Vec<String> {
        let state = self.base_state();
        let mut names: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The process's (unmetered) object stores, for components that meter themselves, such as the crawler.
    pub fn stores(&self) -> Arc<dyn datafusion::execution::object_store::ObjectStoreRegistry> {
        self.shared.stores.clone()
    }

    /// The catalogs DataFusion resolves names in (the registry's).
    pub fn catalogs(&self) -> &Arc<dyn CatalogProviderList> {
        &self.shared.catalogs
    }
}

impl crate::sql::Scope for Engine {
    fn registry(&self) -> &Arc<Registry> {
        &self.shared.registry
    }

    fn database(&self) -> String {
        Engine::database(self)
    }

    fn set_database(&self, db: &str) -> Result<()> {
        Engine::set_database(self, db)
    }
}

/// The candidate nearest to `name` by edit distance, if it is plausibly a typo (at most a third of the name).
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| {
            (
                datafusion::common::utils::datafusion_strsim::levenshtein(name, c),
                c,
            )
        })
        .filter(|(d, _)| *d > 0 && *d <= name.len().div_ceil(3).max(1))
        .min()
        .map(|(_, c)| c.to_string())
}

/// The rows of a statement owl ran itself, kept or sent down `sink`.
async fn deliver(
    r: std::result::Result<(StatementType, SchemaRef, Vec<RecordBatch>), (StatementType, Error)>,
    sink: Option<&mut ResultSink>,
) -> std::result::Result<Produced, (StatementType, Error)> {
    let (kind, schema, batches) = r?;
    let mut sink = sink;
    if let Some(sink) = sink.as_deref_mut() {
        sink.schema(&schema);
    }
    let mut produced = Produced::new(kind, schema);
    for b in batches {
        if !produced.push(b, sink.as_deref()).await {
            break;
        }
    }
    Ok(produced)
}

/// Where the planner says an error is in the statement's text (its diagnostic's span).
fn position_of(e: &DataFusionError) -> Option<(u64, u64)> {
    let span = e.diagnostic()?.span?;
    (span.start.line > 0).then_some((span.start.line, span.start.column))
}

fn located(e: Error, at: Option<(u64, u64)>) -> Error {
    match at {
        Some((line, column)) => Error::Located {
            error: Box::new(e),
            line,
            column,
        },
        None => e,
    }
}

/// Athena's statement type of a DataFusion plan: what decides whether it is billed.
fn classify(plan: &LogicalPlan) -> StatementType {
    match plan {
        LogicalPlan::Ddl(_) => StatementType::Ddl,
        LogicalPlan::Statement(_) | LogicalPlan::DescribeTable(_) => StatementType::Utility,
        // Plain EXPLAIN plans and reads nothing; EXPLAIN ANALYZE runs the query and is billed.
        LogicalPlan::Explain(_) => StatementType::Utility,
        _ => StatementType::Dml,
    }
}

/// Give every `$name` placeholder its `--param` value, and every positional one (`?`, numbered `$1`, `$2`, ...)
/// its value from `EXECUTE ... USING`, each cast to the type the plan expects there.
pub(crate) fn bind_params(
    plan: LogicalPlan,
    params: &[(String, String)],
    positional: &[ScalarValue],
) -> Result<LogicalPlan> {
    let types = plan.get_parameter_types().map_err(Error::from)?;
    let numbered = types
        .keys()
        .filter(|id| id.trim_start_matches('$').parse::<usize>().is_ok())
        .count();
    if positional.len() > numbered {
        return Err(Error::Query(format!(
            "{} values given for a statement with {numbered} parameters (`?`)",
            positional.len()
        )));
    }
    if types.is_empty() {
        return Ok(plan);
    }
    let mut values = std::collections::HashMap::new();
    for (id, ty) in types {
        let name = id.trim_start_matches('$');
        if let Ok(n) = name.parse::<usize>() {
            let Some(v) = n.checked_sub(1).and_then(|i| positional.get(i)) else {
                return Err(Error::Query(format!(
                    "parameter {n} (the statement's `?` number {n}) has no value: run it as a prepared \
                     statement, `EXECUTE name USING value, ...`, or name it (`$day`) and pass --param day=VALUE"
                )));
            };
            let value = match &ty {
                Some(t) if v.data_type() != *t && !v.is_null() => v.cast_to(t).map_err(|_| {
                    Error::Query(format!("parameter {n}: `{v}` is not a valid {t} value"))
                })?,
                _ => v.clone(),
            };
            values.insert(name.to_string(), value);
            continue;
        }
        let Some((_, raw)) = params.iter().rev().find(|(k, _)| k == name) else {
            return Err(Error::Query(format!(
                "parameter `{id}` has no value: pass --param {name}=VALUE"
            )));
        };
        let text = ScalarValue::Utf8(Some(raw.clone()));
        let value = match ty {
            Some(t) if t != arrow::datatypes::DataType::Utf8 => text.cast_to(&t).map_err(|_| {
                Error::Query(format!("--param {name}={raw}: not a valid {t} value"))
            })?,
            _ => text,
        };
        values.insert(name.to_string(), value);
    }
    plan.with_param_values(values).map_err(Error::from)
}

/// `EXPLAIN`'s `owl_partitions` row: each partitioned scan's partitions, one line each. None when the query
/// scans no partitioned table.
fn partitions_row(
    ctx: &SessionContext,
    schema: &SchemaRef,
) -> std::result::Result<Option<arrow::record_batch::RecordBatch>, DataFusionError> {
    let Some(log) = ctx
        .state()
        .config()
        .get_extension::<crate::catalog::provider::PartitionLog>()
    else {
        return Ok(None);
    };
    let scans = log.scans();
    if scans.is_empty() || schema.fields().len() != 2 {
        return Ok(None);
    }
    let batch = arrow::record_batch::RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(arrow::array::StringArray::from(vec!["owl_partitions"])),
            Arc::new(arrow::array::StringArray::from(vec![scans.join("\n")])),
        ],
    )?;
    Ok(Some(batch))
}
