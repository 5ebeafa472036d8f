//! The engine: one DataFusion session per query, over the registry, metered, billed.
//!
//! Every statement runs in a fresh `SessionContext` cloned from the engine's base state, with its own
//! `RuntimeEnv`: its own [`Meter`]-charging store registry and its own (empty) list, statistics and footer
//! caches. So a query's bytes never depend on what ran before it (Athena has no cross-query cache), and two
//! concurrent queries never share counts. Statements the registry owns (CREATE EXTERNAL TABLE, DROP, SHOW,
//! DESCRIBE, USE, CREATE DATABASE) are handled in `commands`; everything else is DataFusion's, after `shared`
//! has computed once each CTE the statement reads more than once.

mod analyze;
mod athena;
mod build_keys;
mod commands;
mod conjunction;
mod count_distinct;
mod ctas;
mod decimal;
pub mod estimate;
mod exprs;
mod file_ranges;
mod join_order;
mod key_pruning;
mod local_files;
mod not_in;
pub mod options;
mod page_index;
mod passthrough;
mod pushdown;
pub mod shared;
pub mod stores;
mod view_eq;

use crate::catalog::Registry;
use crate::catalog::provider::RegistryCatalog;
use crate::cost::{Bill, CostModel, QueryState, StatementType};
use crate::error::{Error, Result};
use crate::meter::{Meter, MeteredRegistry, Requests};
use crate::settings::{PARQUET_FOOTER_HINT, Settings};
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::CatalogProviderList;
use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::optimizer::{Optimizer, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement};
use futures::StreamExt;
use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use stores::StoreRegistry;

/// Athena's name for the default catalog.
pub const CATALOG_NAME: &str = "awsdatacatalog";

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
    /// Why a statement was cancelled or failed, when owl decided it (`bytes scanned limit exceeded`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
}

/// The reason a query stopped by its scan budget carries (as Athena words it).
pub const BYTES_LIMIT_REASON: &str = "bytes scanned limit exceeded";

/// What running one statement produced. `error` is set when `stats.state` is FAILED; a CANCELLED statement
/// keeps its bill and no rows.
#[derive(Debug)]
pub struct Outcome {
    pub sql: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub stats: QueryStats,
    pub error: Option<Error>,
}

/// A join's run-time filter lists up to this many keys a partition (DataFusion: 150), else looks rows up in
/// the join's hash table. Listed keys are what owl prunes Parquet row groups and pages by and tests rows against
/// with a bitmap (`key_pruning`); a lookup costs a scan as much as the join's own probe (TPC-H q17: 62 ms of
/// row filtering for 204 part keys, 9 ms as a bitmap). DataFusion's byte limit (128 KiB a partition) still
/// applies. More keys are gathered into a bitmap by owl as the join builds (`build_keys`): DataFusion makes a
/// literal a listed key, and listing 1.5M of them made TPC-H q9 25 times slower.
const JOIN_LISTED_KEYS: usize = 4096;

/// The query engine over one registry.
#[derive(Debug)]
pub struct Engine {
    settings: Settings,
    registry: Arc<Registry>,
    stores: Arc<StoreRegistry>,
    catalogs: Arc<dyn CatalogProviderList>,
    /// Config (SET statements, current database) and functions; each query clones it.
    base: Mutex<SessionState>,
}

impl Engine {
    pub fn new(settings: Settings) -> Result<Self> {
        let registry = Arc::new(Registry::open(settings.catalog_dir.clone()));
        if !registry.database_exists(&settings.database) {
            return Err(Error::DatabaseNotFound(settings.database.clone()));
        }
        let catalogs: Arc<dyn CatalogProviderList> = Arc::new(MemoryCatalogProviderList::new());
        catalogs.register_catalog(
            CATALOG_NAME.into(),
            Arc::new(RegistryCatalog::new(Arc::clone(&registry))),
        );
        let mut config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, &settings.database)
            .with_information_schema(true);
        config = config.with_option_extension(options::OwlOptions::default());
        if settings.threads > 0 {
            config = config.with_target_partitions(settings.threads);
        }
        let opts = config.options_mut();
        opts.execution.parquet.metadata_size_hint = Some(PARQUET_FOOTER_HINT);
        opts.optimizer.hash_join_inlist_pushdown_max_distinct_values = JOIN_LISTED_KEYS;
        // Positions of names in the statement, so an unknown column's error can say where it is.
        opts.sql_parser.collect_spans = true;
        // Athena reads every file in a location whatever its name; so does owl.
        opts.execution.listing_table_ignore_subdirectory = false;
        let stores = Arc::new(StoreRegistry::new(settings.s3.clone()));
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(stores.clone())
            .build_arc()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let base = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_optimizer_rules(optimizer_rules())
            .with_physical_optimizer_rules(physical_optimizer_rules())
            .with_catalog_list(Arc::clone(&catalogs))
            .build();
        Ok(Engine {
            settings,
            registry,
            stores,
            catalogs,
            base: Mutex::new(base),
        })
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn cost_model(&self) -> CostModel {
        self.settings.cost
    }

    fn base_state(&self) -> SessionState {
        // A poisoned lock only means another thread panicked mid-update; the state itself is still whole.
        self.base.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The database unqualified names resolve in.
    pub fn database(&self) -> String {
        let base = self.base.lock().unwrap_or_else(|p| p.into_inner());
        base.config().options().catalog.default_schema.clone()
    }

    pub fn set_database(&self, db: &str) -> Result<()> {
        if !self.registry.database_exists(db) {
            return Err(Error::DatabaseNotFound(db.into()));
        }
        let mut base = self.base.lock().unwrap_or_else(|p| p.into_inner());
        base.config_mut().options_mut().catalog.default_schema = db.to_string();
        Ok(())
    }

    /// Split SQL text into statements.
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>> {
        let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
        match DFParser::parse_sql_with_dialect(sql, &dialect) {
            Ok(v) => Ok(v.into_iter().collect()),
            Err(e) => {
                // Athena's `PARTITIONED BY (year int)`: retry in DataFusion's spelling; report the first error
                // if that does not parse either.
                if let Some(rewritten) = athena::typed_partitions(sql)
                    && let Ok(v) = DFParser::parse_sql_with_dialect(&rewritten, &dialect)
                {
                    return Ok(v.into_iter().collect());
                }
                Err(from_df(e))
            }
        }
    }

    /// A session for one query: the base state with a runtime whose stores charge `meter` and whose caches
    /// start empty.
    fn query_context(&self, meter: Arc<Meter>) -> Result<SessionContext> {
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(MeteredRegistry::new(self.stores.clone(), meter)))
            .build_arc()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let state = SessionStateBuilder::new_from_existing(self.base_state())
            .with_runtime_env(runtime)
            .build();
        Ok(SessionContext::new_with_state(state).enable_url_table())
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
        let started = Instant::now();
        let sql = stmt.to_string();
        let query_id = uuid::Uuid::new_v4().to_string();
        let run = self.execute_inner(stmt, Arc::clone(&meter), params);
        let mut reason = None;
        // Biased: a cancel or an exceeded budget wins over a run that is also ready.
        let (state, kind, schema, batches, error) = tokio::select! {
            biased;
            () = cancel => (QueryState::Cancelled, StatementType::Dml, empty_schema(), vec![], None),
            () = meter.over_limit() => {
                reason = Some(BYTES_LIMIT_REASON.to_string());
                (QueryState::Cancelled, StatementType::Dml, empty_schema(), vec![], None)
            }
            r = run => match r {
                // Reads run on tasks of their own: a query can finish in the same instant it crosses its
                // budget. Over budget is cancelled, whichever came first (as an Athena workgroup limit).
                Ok(_) if meter.is_over_limit() => {
                    reason = Some(BYTES_LIMIT_REASON.to_string());
                    (QueryState::Cancelled, StatementType::Dml, empty_schema(), vec![], None)
                }
                Ok((kind, schema, batches)) => (QueryState::Succeeded, kind, schema, batches, None),
                Err((kind, e)) => (QueryState::Failed, kind, empty_schema(), vec![], Some(e)),
            },
        };
        // Remote responses still arriving (a LIMIT that stopped early, a cancel) are what the store sent: wait for
        // them, briefly when the user cancelled, so the bill includes them.
        let grace = if state == QueryState::Cancelled {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(30)
        };
        meter.settle(grace).await;
        let reading = meter.reading();
        // A query stopped by its budget is billed exactly the cutoff, as Athena does.
        let billable = match (&reason, meter.limit()) {
            (Some(_), Some(limit)) => reading.bytes_scanned.min(limit),
            _ => reading.bytes_scanned,
        };
        let Bill {
            billed_bytes,
            cost_usd,
            ..
        } = self.settings.cost.bill(billable, state, kind);
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        Outcome {
            sql,
            schema,
            batches,
            error,
            stats: QueryStats {
                query_id,
                statement_type: kind,
                state,
                rows,
                elapsed_ms: started.elapsed().as_millis() as u64,
                bytes_scanned: reading.bytes_scanned,
                billed_bytes,
                cost_usd,
                files_read: reading.files_read,
                requests: reading.requests,
                state_reason: reason,
            },
        }
    }

    async fn execute_inner(
        &self,
        stmt: &Statement,
        meter: Arc<Meter>,
        params: &[(String, String)],
    ) -> std::result::Result<(StatementType, SchemaRef, Vec<RecordBatch>), (StatementType, Error)>
    {
        let ctx = self
            .query_context(Arc::clone(&meter))
            .map_err(|e| (StatementType::Dml, e))?;
        if let Some(r) = commands::try_execute(self, &ctx, stmt).await {
            return r;
        }
        let state = ctx.state();
        let plan = match state.statement_to_plan(stmt.clone()).await {
            Ok(p) => p,
            Err(e) => {
                let at = position_of(&e);
                let e = self.explain_not_found(from_df(e)).await;
                return Err((StatementType::Dml, located(e, at)));
            }
        };
        let kind = classify(&plan);
        let plan = bind_params(plan, params).map_err(|e| (kind, e))?;
        if let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) = &plan {
            return commands::create_external_table(self, &ctx, cmd).await;
        }
        let is_set = matches!(
            &plan,
            LogicalPlan::Statement(datafusion::logical_expr::Statement::SetVariable(_))
        );
        let result = async {
            let mut batches = Vec::new();
            // EXPLAIN shows the shared subqueries' plans first, then the statement's over their results.
            let plan = match &plan {
                LogicalPlan::Explain(e) => match shared::explain(&state, e).await? {
                    Some((main, parts)) => {
                        for (alias, part) in parts {
                            let df = ctx.execute_logical_plan(part).await?;
                            batches.extend(shared::label_explain(&alias, df.collect().await?)?);
                        }
                        main
                    }
                    None => plan,
                },
                _ => plan,
            };
            // Shared subqueries (a CTE read twice) run first, once each; the statement then reads their results.
            let (plan, computed) = shared::materialize(&state, plan, shared::Mode::Execute).await?;
            let mut physicals: Vec<_> = computed.into_iter().map(|c| c.physical).collect();
            let df = ctx.execute_logical_plan(plan).await?;
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let physical = df.create_physical_plan().await?;
            physicals.push(Arc::clone(&physical));
            meter.set_plan(estimate::scan_plan(&physicals));
            let mut stream =
                datafusion::physical_plan::execute_stream(Arc::clone(&physical), ctx.task_ctx())?;
            while let Some(b) = stream.next().await {
                batches.push(b?);
            }
            if let Some(rg) = estimate::row_groups(&physicals) {
                meter.set_row_groups(rg);
            }
            Ok::<_, DataFusionError>((schema, batches))
        }
        .await
        .map_err(|e| (kind, from_df(e)))?;
        if is_set {
            // SET changes this query's session; keep it for the statements that follow.
            let config = ctx.state().config().clone();
            let mut base = self.base.lock().unwrap_or_else(|p| p.into_inner());
            *base = SessionStateBuilder::new_from_existing(base.clone())
                .with_config(config)
                .build();
        }
        Ok((kind, result.0, result.1))
    }

    /// Why a remote path (`s3://...`) cannot be listed, if the store says so (no bucket, no credentials, ...).
    async fn probe_remote(&self, name: &str) -> Option<Error> {
        let url = url::Url::parse(name).ok()?;
        if url.scheme() == "file" {
            return None;
        }
        use datafusion::execution::object_store::ObjectStoreRegistry;
        let store = match self.stores.get_store(&url) {
            Ok(s) => s,
            Err(e) => return Some(from_df(e)),
        };
        let path = object_store::path::Path::from_url_path(url.path()).ok()?;
        match store.list_with_delimiter(Some(&path)).await {
            Ok(_) => None,
            Err(e) => Some(Error::from_store(crate::s3::annotate(e, name), name)),
        }
    }

    /// Make "not found" errors say what the user named, and suggest the nearest name the registry knows.
    async fn explain_not_found(&self, e: Error) -> Error {
        let Error::Query(msg) = &e else {
            return e;
        };
        if let Some(name) = msg
            .strip_prefix("table '")
            .and_then(|m| m.strip_suffix("' not found"))
        {
            let name = name
                .strip_prefix(&format!("{CATALOG_NAME}."))
                .unwrap_or(name);
            let (db, table) = name.split_once('.').unwrap_or(("", name));
            let db = if db.is_empty() {
                self.database()
            } else {
                db.to_string()
            };
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
                return Error::PathNotFound(table.to_string());
            }
            if !self.registry.database_exists(&db) {
                return Error::DatabaseNotFound(db);
            }
            let suggestion = self
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
        if let Some(rest) = msg.strip_prefix("No field named ") {
            // DataFusion says either "No field named x. Did you mean 't.y'?" or "... Valid fields are t.a, t.b.".
            if let Some((column, hint)) = rest.split_once(". Did you mean '") {
                let hint = hint.trim_end_matches("'?");
                return Error::ColumnNotFound {
                    column: column.trim_matches('"').to_string(),
                    suggestion: Some(hint.rsplit('.').next().unwrap_or(hint).to_string()),
                };
            }
            let column = rest
                .split(". Valid fields are")
                .next()
                .unwrap_or(rest)
                .trim_end_matches('.');
            let column = column.trim_matches('"').to_string();
            let valid: Vec<String> = rest
                .split_once("Valid fields are ")
                .map(|(_, v)| {
                    v.trim_end_matches('.')
                        .split(", ")
                        .map(|f| {
                            f.rsplit('.')
                                .next()
                                .unwrap_or(f)
                                .trim_matches('"')
                                .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let bare = column.rsplit('.').next().unwrap_or(&column).to_string();
            let suggestion = closest(&bare, valid.iter().map(String::as_str));
            return Error::ColumnNotFound { column, suggestion };
        }
        e
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
        self.stores.clone()
    }

    /// The catalogs DataFusion resolves names in (the registry's).
    pub fn catalogs(&self) -> &Arc<dyn CatalogProviderList> {
        &self.catalogs
    }
}

/// DataFusion's logical optimizer rules with owl's join ordering right after filter pushdown (it estimates
/// from each table's filters).
fn optimizer_rules() -> Vec<Arc<dyn OptimizerRule + Send + Sync>> {
    let mut rules = Optimizer::new().rules;
    insert_after(
        &mut rules,
        "push_down_filter",
        Arc::new(join_order::JoinOrder),
        |r| r.name(),
    );
    insert_after(
        &mut rules,
        "push_down_filter",
        Arc::new(count_distinct::BitmapCountDistinct),
        |r| r.name(),
    );
    rules
}

/// DataFusion's physical optimizer rules with owl's: streamed `NOT IN` right after DataFusion chooses its joins
/// (the rules after it plan the partitioning around it), run-time row filters and faster expressions last.
fn physical_optimizer_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    insert_after(
        &mut rules,
        "join_selection",
        Arc::new(not_in::StreamedNotIn),
        |r| r.name(),
    );
    rules.push(Arc::new(file_ranges::MergeSlivers));
    rules.push(Arc::new(file_ranges::BestFilesFirst));
    rules.push(Arc::new(exprs::FastExpressions));
    // Last: it notes which join produces each scan's run-time filter, and a rule after it that rebuilt the join
    // (as FastExpressions does the nodes above a filter it rewrites) would leave it a node the query never runs.
    rules.push(Arc::new(pushdown::DynamicRowFilters));
    rules
}

/// Put `rule` right after DataFusion's rule named `after` (last, should a DataFusion release rename it).
fn insert_after<R: ?Sized>(
    rules: &mut Vec<Arc<R>>,
    after: &str,
    rule: Arc<R>,
    name: impl Fn(&R) -> &str,
) {
    let at = rules
        .iter()
        .position(|r| name(r) == after)
        .map_or(rules.len(), |i| i + 1);
    rules.insert(at, rule);
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

fn empty_schema() -> SchemaRef {
    Arc::new(Schema::empty())
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

/// Give every `$name` placeholder its `--param` value, cast to the type the plan expects there.
fn bind_params(plan: LogicalPlan, params: &[(String, String)]) -> Result<LogicalPlan> {
    let types = plan.get_parameter_types().map_err(from_df)?;
    if types.is_empty() {
        return Ok(plan);
    }
    let mut values = std::collections::HashMap::new();
    for (id, ty) in types {
        let name = id.trim_start_matches('$');
        if name.chars().all(|c| c.is_ascii_digit()) {
            return Err(Error::Unsupported(format!(
                "positional placeholder `{id}`: name it (`$day`) and pass --param day=VALUE"
            )));
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
    plan.with_param_values(values).map_err(from_df)
}

/// Turn a DataFusion error into owl's: an owl error wrapped inside comes back out as itself; otherwise the
/// innermost message, without DataFusion's category prefixes.
pub(crate) fn from_df(e: DataFusionError) -> Error {
    if let Some(storage) = Error::storage_in(&e) {
        return storage;
    }
    let mut e = e;
    loop {
        e = match e {
            DataFusionError::Context(_, inner) => *inner,
            DataFusionError::Diagnostic(_, inner) => *inner,
            DataFusionError::Shared(arc) => match Arc::try_unwrap(arc) {
                Ok(inner) => inner,
                Err(arc) => return Error::Query(clean(&arc.to_string())),
            },
            DataFusionError::External(inner) => {
                return match inner.downcast::<Error>() {
                    Ok(owl) => *owl,
                    Err(other) => match other.downcast::<DataFusionError>() {
                        Ok(df) => from_df(*df),
                        Err(other) => Error::Query(clean(&other.to_string())),
                    },
                };
            }
            other => return Error::Query(clean(&other.strip_backtrace())),
        }
    }
}

fn clean(msg: &str) -> String {
    const PREFIXES: [&str; 11] = [
        "Error during planning: ",
        "Execution error: ",
        "External error: ",
        "Arrow error: ",
        "Object Store error: ",
        "Parquet error: ",
        "SQL error: ",
        "This feature is not implemented: ",
        "Schema error: ",
        "ParserError(",
        "Invalid or Unsupported Configuration: ",
    ];
    let mut m = msg.trim().to_string();
    let mut changed = true;
    while changed {
        changed = false;
        for p in PREFIXES {
            if let Some(rest) = m.strip_prefix(p) {
                m = rest.to_string();
                if p == "ParserError(" {
                    m = m.trim_end_matches(')').trim_matches('"').to_string();
                }
                changed = true;
            }
        }
    }
    m.lines().next().unwrap_or_default().to_string()
}
