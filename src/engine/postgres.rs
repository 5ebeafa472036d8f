//! The Postgres dialect of a session, for clients of `owl serve --pg` (psql, JDBC, BI tools): their SQL parsed as
//! Postgres writes it, and the catalog they expect beside the registry's databases.
//!
//! - Text is parsed by datafusion-pg-catalog's Postgres parser, which also rewrites what DataFusion cannot plan
//!   as written (`'t'::regclass`, `OPERATOR(pg_catalog.~)`, `ANY(array)`, ...). What it cannot parse (owl's own
//!   statements: `CREATE EXTERNAL TABLE`, `MSCK`, ...) is parsed as every other entry point parses it.
//! - Sessions of this dialect see a `pg_catalog` schema (`pg_class`, `pg_namespace`, `pg_attribute`,
//!   `pg_database`, `pg_type`, ...) computed from the registry, and Postgres's catalog functions
//!   (`current_schema()`, `pg_get_userbyid`, `format_type`, `has_table_privilege`, ...). Registry databases are
//!   its schemas; the data catalog (`awsdatacatalog`) is its one database.
//!
//! The invariant: the dialect changes how a statement is read and what names resolve, never how it runs. A
//! statement of a Postgres client goes through the same lifecycle, meter, bill and history as any other, and
//! the registry is only read through it (`pg_catalog` is computed, never stored).

use super::{CATALOG_NAME, Engine};
use crate::catalog::provider::RegistryCatalog;
use crate::error::{Error, Result};
use crate::sql::Statement;
use crate::storage::meter::Meter;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProviderList, SchemaProvider,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// How a statement's text is read and which catalog it sees.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Dialect {
    /// Athena's (and DataFusion's): every entry point but the Postgres wire protocol.
    #[default]
    Athena,
    /// Postgres's, with `pg_catalog`: clients of `owl serve --pg`.
    Postgres,
}

/// The Postgres version clients are told (`server_version`, `version()`): what owl's catalog and syntax
/// answer like. Drivers read features from it (psql's `\d` queries, JDBC's metadata).
pub const POSTGRES_VERSION: &str = "16.6";

/// What `version()` says in the Postgres dialect: a Postgres version first (drivers parse it), then what
/// really answers.
pub fn version_string() -> String {
    format!(
        "PostgreSQL {POSTGRES_VERSION} (owl {}, Apache DataFusion {}) on {}-{}",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION,
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

impl Engine {
    /// Parse `sql` as a Postgres client writes it (see the module doc); owl's own statements as owl parses
    /// them.
    pub fn parse_postgres(&self, sql: &str) -> Result<Vec<Statement>> {
        if let Some(ddl) = crate::sql::hive_ddl::parse(sql) {
            return Ok(vec![Statement::Hive(ddl?)]);
        }
        let parser = datafusion_pg_catalog::sql::PostgresCompatibilityParser::new();
        match parser.parse(sql) {
            Ok(statements) => Ok(statements
                .into_iter()
                .map(|s| {
                    let mut s = DFStatement::Statement(Box::new(s));
                    crate::sql::precedence::rebind(&mut s);
                    crate::sql::table_functions::table_arguments(&mut s);
                    Statement::Sql(s)
                })
                .collect()),
            Err(pg_error) => self.parse(sql).map_err(|_| {
                Error::from(datafusion::error::DataFusionError::SQL(
                    Box::new(pg_error),
                    None,
                ))
            }),
        }
    }

    /// The base session of the Postgres dialect: the engine's base with `pg_catalog` beside the registry's
    /// databases and Postgres's functions, made on first use.
    pub(crate) fn postgres_state(&self) -> Result<SessionState> {
        if let Some(state) = self.shared.postgres.get() {
            return Ok(state.clone());
        }
        let catalogs = Arc::new(MemoryCatalogProviderList::new());
        catalogs.register_catalog(
            CATALOG_NAME.into(),
            Arc::new(WithSchemas {
                registry: RegistryCatalog::new(Arc::clone(self.registry())),
                extra: RwLock::default(),
            }),
        );
        let state = SessionStateBuilder::new_from_existing(self.base_state())
            .with_catalog_list(catalogs as Arc<dyn CatalogProviderList>)
            .build();
        let ctx = SessionContext::new_with_state(state);
        datafusion_pg_catalog::pg_catalog::setup_pg_catalog(
            &ctx,
            CATALOG_NAME,
            datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider,
        )
        .map_err(|e| Error::internal("the Postgres catalog", *e))?;
        let version = version_string();
        ctx.register_udf(create_udf(
            "version",
            vec![],
            arrow::datatypes::DataType::Utf8,
            Volatility::Immutable,
            Arc::new(move |_| {
                Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                    version.clone(),
                ))))
            }),
        ));
        // The connection's database is its schema (pg-catalog's answer is always `public`).
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
            CurrentSchema::new(false),
        ));
        ctx.register_udf(datafusion::logical_expr::ScalarUDF::new_from_impl(
            CurrentSchema::new(true),
        ));
        let state = ctx.state();
        Ok(self.shared.postgres.get_or_init(|| state).clone())
    }
}

/// The registry's catalog with schemas added beside its databases (`pg_catalog`), for the Postgres dialect's
/// sessions only: the registry itself never holds them.
#[derive(Debug)]
struct WithSchemas {
    registry: RegistryCatalog,
    extra: RwLock<BTreeMap<String, Arc<dyn SchemaProvider>>>,
}

impl CatalogProvider for WithSchemas {
    fn schema_names(&self) -> Vec<String> {
        let mut names = self.registry.schema_names();
        let extra = self.extra.read().unwrap_or_else(|p| p.into_inner());
        names.extend(extra.keys().cloned());
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        let extra = self.extra.read().unwrap_or_else(|p| p.into_inner());
        match extra.get(name) {
            Some(s) => Some(Arc::clone(s)),
            None => self.registry.schema(name),
        }
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> DfResult<Option<Arc<dyn SchemaProvider>>> {
        let mut extra = self.extra.write().unwrap_or_else(|p| p.into_inner());
        Ok(extra.insert(name.to_string(), schema))
    }
}

impl Engine {
    /// The types of a statement's positional parameters (`$1`, `$2`, ... in order; None where its plan cannot
    /// tell) and the schema of its rows, from its plan, without running it: what the Postgres wire protocol's
    /// Describe answers. Paths it names are checked as a run checks them (planning a `FROM 'dir/'` lists it).
    pub async fn describe(
        &self,
        stmt: &Statement,
        database: Option<&str>,
        dialect: Dialect,
    ) -> Result<(Vec<Option<DataType>>, SchemaRef)> {
        let ctx = self.query_context(Arc::new(Meter::new()), database, dialect)?;
        let df = match stmt {
            Statement::Hive(p) => return Ok((vec![], p.schema())),
            Statement::Sql(s) => s,
        };
        if self.registry().allowed_roots().is_some() {
            self.check_named_paths(&ctx, df)?;
        }
        // owl's own statements that answer rows answer them from the registry alone: run them for their
        // schema. Others (DDL, ANALYZE) answer none.
        if let DFStatement::Statement(sql) = df {
            use datafusion::sql::sqlparser::ast::Statement as Sql;
            match sql.as_ref() {
                Sql::ShowDatabases { .. }
                | Sql::ShowSchemas { .. }
                | Sql::ShowTables { .. }
                | Sql::ExplainTable { .. } => {
                    if let Some(done) = crate::sql::commands::try_execute(self, &ctx, stmt).await {
                        let (_, schema, _) = done.map_err(|(_, e)| e)?;
                        return Ok((vec![], schema));
                    }
                }
                Sql::CreateTable(_)
                | Sql::CreateDatabase { .. }
                | Sql::CreateSchema { .. }
                | Sql::Drop { .. }
                | Sql::Analyze(_)
                | Sql::Use(_) => return Ok((vec![], Arc::new(Schema::empty()))),
                _ => {}
            }
        }
        let mut df = df.clone();
        crate::sql::table_functions::resolve(&ctx, &mut df).await?;
        let df = &df;
        let plan = match ctx.state().statement_to_plan(df.clone()).await {
            Ok(p) => p,
            Err(e) => return Err(self.explain_not_found(&ctx, df, e).await),
        };
        let mut numbered: Vec<(usize, Option<DataType>)> = plan
            .get_parameter_types()
            .map_err(Error::from)?
            .into_iter()
            .filter_map(|(id, t)| id.trim_start_matches('$').parse().ok().map(|n| (n, t)))
            .collect();
        numbered.sort_by_key(|(n, _)| *n);
        let mut params = vec![None; numbered.last().map_or(0, |(n, _)| *n)];
        for (n, t) in numbered {
            if let Some(slot) = n.checked_sub(1).and_then(|i| params.get_mut(i)) {
                *slot = t;
            }
        }
        let schema = match &plan {
            LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) => Arc::new(Schema::empty()),
            _ => Arc::new(plan.schema().as_arrow().clone()),
        };
        Ok((params, schema))
    }
}

/// `current_schema()` and `current_schemas(implicit)`: the session's database (the schema unqualified names
/// resolve in), read when the query runs (volatile: never folded at planning with another session's config).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CurrentSchema {
    list: bool,
    signature: datafusion::logical_expr::Signature,
}

impl CurrentSchema {
    fn new(list: bool) -> Self {
        let signature = match list {
            false => datafusion::logical_expr::Signature::exact(vec![], Volatility::Volatile),
            true => datafusion::logical_expr::Signature::exact(
                vec![DataType::Boolean],
                Volatility::Volatile,
            ),
        };
        CurrentSchema { list, signature }
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for CurrentSchema {
    fn name(&self) -> &str {
        if self.list {
            "current_schemas"
        } else {
            "current_schema"
        }
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> DfResult<DataType> {
        Ok(match self.list {
            false => DataType::Utf8,
            true => DataType::List(Arc::new(arrow::datatypes::Field::new_list_field(
                DataType::Utf8,
                true,
            ))),
        })
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> DfResult<ColumnarValue> {
        let schema = args.config_options.catalog.default_schema.clone();
        if !self.list {
            return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(schema))));
        }
        let implicit = matches!(
            args.args.first(),
            Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
        );
        let mut names = vec![];
        if implicit {
            names.push(ScalarValue::Utf8(Some("pg_catalog".into())));
        }
        names.push(ScalarValue::Utf8(Some(schema)));
        Ok(ColumnarValue::Scalar(ScalarValue::List(
            ScalarValue::new_list_nullable(&names, &DataType::Utf8),
        )))
    }
}
