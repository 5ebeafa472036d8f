//! One Postgres connection's statements. Both protocols end in [`Session::run`]: the statement is queued with
//! the server's other queries (its work group's scan cutoff applies), its rows are encoded as they are computed
//! (text or binary, by arrow-pg, with Postgres's type OIDs; nested values as `json`), and its bill follows
//! them as a NOTICE: `query <id> · 3 rows in 0.012 s · scanned 93.91 KB · billed 10 MB · $0.00005`.
//!
//! A connection answers itself only what is its own: `SET`/`SHOW` of session parameters (`application_name`,
//! `search_path`, `DateStyle`, ...), `USE`, and transaction statements (owl's tables are read through queries
//! that change nothing, so `BEGIN`/`COMMIT`/`ROLLBACK` only keep the protocol's transaction status). Its
//! database (schema) is the startup's `database` when the registry has one of that name, else the server's;
//! `SET search_path` and `USE` change it. Its work group is its `application_name` when a work group of that
//! name exists and its user may use it, else `primary` (or the first its credential names).

use super::Shared;
use crate::cost::StatementType;
use crate::engine::{Dialect, Ending, Outcome, QueryExecution, QueryRequest, ResultStream};
use crate::error::Error;
use crate::server::queries::Extra;
use crate::sql::Statement;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use bytes::Bytes;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    CopySource, CopyTarget, Expr, Set, Statement as Sql, Use, Value,
};
use futures::{Sink, SinkExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyTextOptions, DataRowEncoder, FieldInfo, Response, Tag,
};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyDone, CopyOutResponse};
use pgwire::messages::data::RowDescription;
use pgwire::messages::extendedquery::{Close, Execute, Sync as PgSync};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, NoticeResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::ParameterStatus;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

/// Session parameters a client is told again when it sets them (Postgres's `GUC_REPORT` ones).
const REPORTED: [(&str, &str); 8] = [
    ("application_name", "application_name"),
    ("client_encoding", "client_encoding"),
    ("datestyle", "DateStyle"),
    ("intervalstyle", "IntervalStyle"),
    ("timezone", "TimeZone"),
    ("search_path", "search_path"),
    ("standard_conforming_strings", "standard_conforming_strings"),
    ("is_superuser", "is_superuser"),
];

/// One connection.
pub(super) struct Session {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    parser: Arc<Parser>,
    /// The runs of the engine's portals, by name, with the portal they belong to.
    runs: Mutex<Runs>,
}

/// What a connection keeps between statements.
#[derive(Debug, Default)]
struct Conn {
    state: Mutex<ConnState>,
}

#[derive(Debug, Default)]
struct ConnState {
    /// The database unqualified names resolve in, once set (`USE`, `SET search_path`, the startup's).
    database: Option<String>,
    /// Session parameters set by the client (`SET name = value`), by lower-case name.
    settings: BTreeMap<String, String>,
}

impl Conn {
    fn state(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection's database: the one set, else the startup's when the registry has it (None: the server's).
    fn database<C: ClientInfo>(
        &self,
        client: &C,
        engine: &crate::engine::Engine,
    ) -> Option<String> {
        let mut state = self.state();
        if state.database.is_none()
            && let Some(db) = client.metadata().get(pgwire::api::METADATA_DATABASE)
            && engine.registry().database_exists(db)
        {
            state.database = Some(db.clone());
        }
        state.database.clone()
    }
}

impl Session {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let conn = Arc::new(Conn::default());
        Session {
            parser: Arc::new(Parser {
                shared: Arc::clone(&shared),
                conn: Arc::clone(&conn),
            }),
            shared,
            conn,
            runs: Mutex::default(),
        }
    }

    fn runs(&self) -> std::sync::MutexGuard<'_, Runs> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where an earlier Execute of this very portal left it, if one did.
    fn take_run(&self, name: &str, portal: &Arc<Portal<Prepared>>) -> Option<PortalRun> {
        match self.runs().remove(name) {
            Some((p, run)) if Arc::ptr_eq(&p, portal) => Some(run),
            _ => None,
        }
    }

    /// End every portal's run (a transaction's end closes its portals), cancelling what they had left.
    fn close_runs(&self) {
        let closed = std::mem::take(&mut *self.runs());
        drop(closed);
    }

    /// Drop the runs of the portals the client closed, rebound or let go (cancelling what they had left).
    fn forget_closed_runs<C>(&self, client: &C)
    where
        C: ClientPortalStore,
        C::PortalStore: PortalStore<Statement = Prepared>,
    {
        let closed: Vec<_> = {
            let mut runs = self.runs();
            let gone: Vec<String> = runs
                .iter()
                .filter(|(name, (portal, _))| {
                    !matches!(client.portal_store().get_portal(name),
                        Some(pgwire::api::store::Entry::Value(p)) if Arc::ptr_eq(&p, portal))
                })
                .map(|(name, _)| name.clone())
                .collect();
            gone.iter().filter_map(|n| runs.remove(n)).collect()
        };
        drop(closed);
    }
}

/// A statement of the extended protocol (Parse), kept for its Binds.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Answered by the connection itself.
    Local(Local),
    /// Run by the engine: its parameters' types and its rows' schema from its plan.
    Query {
        statement: Statement,
        params: Vec<Option<DataType>>,
        schema: SchemaRef,
    },
}

/// What a connection answers itself.
#[derive(Debug, Clone)]
enum Local {
    Set {
        name: String,
        value: String,
    },
    Show(String),
    Use(String),
    Begin,
    Commit,
    Rollback,
    Discard,
    /// `COPY ... TO STDOUT`: the query whose rows to copy, and how to write them.
    Copy {
        query: Statement,
        csv: bool,
        header: bool,
        delimiter: Option<String>,
    },
}

/// A statement as a connection sees it: its own, or the engine's.
fn classify(statement: Statement) -> Result<Kind, PgWireError> {
    let Some(sql) = statement.sql() else {
        return Ok(Kind::Query {
            statement,
            params: vec![],
            schema: empty(),
        });
    };
    let local = match sql {
        Sql::Set(set) => match set {
            Set::SingleAssignment {
                variable, values, ..
            } => {
                let name = variable.to_string().to_ascii_lowercase();
                if name.starts_with("owl.") || name.starts_with("datafusion.") {
                    return Err(user_error(
                        "0A000",
                        format!(
                            "SET {name}: the server's settings apply to every connection; start `owl serve` \
                             with them"
                        ),
                    ));
                }
                let value = values
                    .iter()
                    .map(setting_value)
                    .collect::<Vec<_>>()
                    .join(", ");
                Local::Set { name, value }
            }
            Set::SetTimeZone { value, .. } => Local::Set {
                name: "timezone".into(),
                value: setting_value(value),
            },
            Set::SetNames { charset_name, .. } => Local::Set {
                name: "client_encoding".into(),
                value: charset_name.to_string(),
            },
            // Transaction characteristics (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`): every
            // statement here reads.
            _ => Local::Set {
                name: String::new(),
                value: String::new(),
            },
        },
        Sql::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            // `SHOW ALL` and owl's/DataFusion's own settings are the engine's.
            if name == "all" || name.contains('.') {
                return Ok(Kind::Query {
                    statement,
                    params: vec![],
                    schema: empty(),
                });
            }
            Local::Show(if name == "time zone" {
                "timezone".into()
            } else {
                name
            })
        }
        Sql::Use(Use::Database(n) | Use::Schema(n) | Use::Object(n)) => Local::Use(
            n.0.last()
                .map(|p| p.to_string())
                .unwrap_or_default()
                .trim_matches('"')
                .to_string(),
        ),
        Sql::StartTransaction { .. } => Local::Begin,
        Sql::Commit { .. } => Local::Commit,
        Sql::Rollback { .. } => Local::Rollback,
        Sql::Discard { .. } => Local::Discard,
        Sql::Copy {
            source,
            to,
            target,
            options,
            legacy_options,
            ..
        } => {
            if !to {
                return Err(user_error(
                    "0A000",
                    "COPY FROM: owl's tables are files read in place; write files and crawl them (or CREATE \
                     EXTERNAL TABLE) instead",
                ));
            }
            if !matches!(target, CopyTarget::Stdout) {
                // `COPY (query) TO 'path'` writes files where the engine writes them.
                return Ok(Kind::Query {
                    statement,
                    params: vec![],
                    schema: empty(),
                });
            }
            let query = match source {
                CopySource::Query(q) => Sql::Query(q.clone()),
                CopySource::Table {
                    table_name,
                    columns,
                } => {
                    let columns = if columns.is_empty() {
                        "*".to_string()
                    } else {
                        columns
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    let sql = format!("SELECT {columns} FROM {table_name}");
                    let mut parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(
                        &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
                        &sql,
                    )
                    .map_err(|e| user_error("42601", e.to_string()))?;
                    parsed
                        .pop()
                        .ok_or_else(|| user_error("42601", "COPY names no table"))?
                }
            };
            let mut csv = false;
            let mut header = false;
            let mut delimiter = None;
            let text = |o: &dyn std::fmt::Display| o.to_string().to_ascii_lowercase();
            for o in options {
                let o = text(o);
                if o.starts_with("format") {
                    csv = o.contains("csv");
                } else if o.starts_with("header") {
                    header = !o.contains("false");
                } else if let Some(d) = o.strip_prefix("delimiter ") {
                    delimiter = Some(d.trim_matches('\'').to_string());
                }
            }
            for o in legacy_options {
                let o = text(o);
                if o == "csv" {
                    csv = true;
                } else if o.starts_with("header") {
                    header = true;
                } else if let Some(d) = o.strip_prefix("delimiter ") {
                    delimiter = Some(d.trim_matches('\'').to_string());
                }
            }
            Local::Copy {
                query: Statement::Sql(DFStatement::Statement(Box::new(query.clone()))),
                csv,
                header,
                delimiter,
            }
        }
        _ => {
            return Ok(Kind::Query {
                statement,
                params: vec![],
                schema: empty(),
            });
        }
    };
    Ok(Kind::Local(local))
}

/// A SET value as its text: `'ISO, MDY'` -> `ISO, MDY`, `3` -> `3`, `DEFAULT` -> ``.
fn setting_value(e: &Expr) -> String {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            other => other.to_string(),
        },
        Expr::Identifier(i) if i.value.eq_ignore_ascii_case("default") => String::new(),
        Expr::Identifier(i) => i.value.clone(),
        other => other.to_string(),
    }
}

fn empty() -> SchemaRef {
    Arc::new(Schema::empty())
}

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".into(),
        code.into(),
        message.into(),
    )))
}

/// An owl error as Postgres reports one: its SQLSTATE (the class clients act on), its message, its hint.
fn pg_error(e: &Error) -> PgWireError {
    let inner = match e {
        Error::Located { error, .. } => error.as_ref(),
        other => other,
    };
    let code = match inner {
        Error::TableNotFound { .. } | Error::PathNotFound(_) => "42P01",
        Error::ColumnNotFound { .. } => "42703",
        Error::DatabaseNotFound(_) => "3F000",
        Error::TableExists { .. } => "42P07",
        Error::DatabaseExists(_) => "42P06",
        Error::InvalidName { .. } => "42602",
        Error::UnsupportedType { .. } | Error::Unsupported(_) => "0A000",
        Error::InvalidLocation { .. } => "42501",
        Error::BadPartitionValue { .. } => "22023",
        Error::PathUnreadable(_) => "22000",
        Error::ResourcesExhausted { .. } => "53200",
        Error::Storage { .. } | Error::Io { .. } => "58030",
        Error::CorruptRegistryFile { .. } | Error::RegistryWrite { .. } => "58000",
        Error::Internal(_) | Error::InternalCause { .. } => "XX000",
        _ => "42000",
    };
    let mut info = ErrorInfo::new("ERROR".into(), code.into(), e.to_string());
    info.hint = e.hint();
    PgWireError::UserError(Box::new(info))
}

/// A statement that does not parse (`42601`).
fn syntax_error(e: &Error) -> PgWireError {
    user_error("42601", format!("syntax error: {e}"))
}

/// Columns as they go on the wire: nested values (structs, lists, maps) and types Postgres has no match for
/// as text (JSON for nested ones, sent as `json`).
fn wire_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match as_text(f.data_type()) {
                Some(_) => Arc::new(Field::new(f.name(), DataType::Utf8, true)),
                None => Arc::clone(f),
            })
            .collect::<Vec<_>>(),
    ))
}

#[derive(Clone, Copy)]
enum Text {
    Json,
    Cast,
}

fn as_text(t: &DataType) -> Option<Text> {
    match t {
        DataType::Struct(_)
        | DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::Map(..) => Some(Text::Json),
        DataType::Dictionary(_, v) => as_text(v).or(Some(Text::Cast)),
        t if wide_decimal(t) => Some(Text::Cast),
        t if arrow_pg::datatypes::into_pg_type(t).is_err() => Some(Text::Cast),
        _ => None,
    }
}

/// Decimals arrow-pg has no NUMERIC encoding for (its rust_decimal holds 28 digits; TPC-H's sums are
/// decimal(38, s)): they go as NUMERIC all the same, written from their decimal text by [`WideNumeric`].
fn wide_decimal(t: &DataType) -> bool {
    match t {
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal256(..) => true,
        DataType::Decimal128(p, _) => *p > 28,
        _ => false,
    }
}

/// The Postgres fields of `schema`'s columns, in `format`: arrow-pg's types for the [`wire_schema`], but
/// `json` for nested values and `numeric` for the [`wide_decimal`]s.
fn pg_fields(schema: &Schema, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let mut fields =
        arrow_pg::datatypes::arrow_schema_to_pg_fields(&wire_schema(schema), format, None)?;
    for (field, pg) in schema.fields().iter().zip(fields.iter_mut()) {
        let t = field.data_type();
        let ty = match as_text(t) {
            Some(Text::Json) => Type::JSON,
            Some(Text::Cast) if wide_decimal(t) => Type::NUMERIC,
            _ => continue,
        };
        *pg = FieldInfo::new(pg.name().to_string(), None, None, ty, pg.format());
    }
    Ok(fields)
}

/// One value of a [`wire_batch`] row into a data row or a COPY line, as its Postgres field says.
fn encode_cell<E: arrow_pg::encoder::Encoder>(
    encoder: &mut E,
    column: &ArrayRef,
    row: usize,
    field: &Field,
    pg: &FieldInfo,
) -> PgWireResult<()> {
    if *pg.datatype() == Type::NUMERIC && *field.data_type() == DataType::Utf8 {
        let text = column.as_string::<i32>();
        let value = (!text.is_null(row)).then(|| WideNumeric(text.value(row)));
        return encoder.encode_field(&value, pg);
    }
    arrow_pg::encoder::encode_value(encoder, column, row, field, pg)
}

/// A NUMERIC from its decimal text (`-123.4500`, as Arrow writes a decimal): the text as it is, or Postgres's
/// binary form (base-10000 digits, weight, sign, display scale).
#[derive(Debug)]
struct WideNumeric<'a>(&'a str);

impl WideNumeric<'_> {
    fn binary(&self, out: &mut bytes::BytesMut) -> Result<(), String> {
        use bytes::BufMut;
        let bad = || format!("`{}` is not a decimal", self.0);
        let (negative, digits) = match self.0.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, self.0),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let int = int.trim_start_matches('0');
        // Whole groups of four digits either side of the point.
        let mut text = "0".repeat((4 - int.len() % 4) % 4);
        text.push_str(int);
        let int_groups = text.len() / 4;
        text.push_str(frac);
        text.push_str(&"0".repeat((4 - frac.len() % 4) % 4));
        let mut groups: Vec<i16> = text
            .as_bytes()
            .chunks(4)
            .map(|g| g.iter().fold(0i16, |n, d| n * 10 + (d - b'0') as i16))
            .collect();
        let mut weight = int_groups as i32 - 1;
        let leading = groups.iter().take_while(|g| **g == 0).count();
        groups.drain(..leading);
        weight -= leading as i32;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let count = i16::try_from(groups.len()).map_err(|_| bad())?;
        let weight = i16::try_from(weight).map_err(|_| bad())?;
        let scale = u16::try_from(frac.len()).map_err(|_| bad())?;
        out.put_i16(count);
        out.put_i16(weight);
        out.put_u16(if negative && !groups.is_empty() {
            0x4000
        } else {
            0
        });
        out.put_u16(scale);
        for g in groups {
            out.put_i16(g);
        }
        Ok(())
    }
}

impl postgres_types::ToSql for WideNumeric<'_> {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.binary(out)?;
        Ok(postgres_types::IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }

    postgres_types::to_sql_checked!();
}

impl pgwire::types::ToSqlText for WideNumeric<'_> {
    fn to_sql_text(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
        _: &pgwire::types::format::FormatOptions,
    ) -> Result<postgres_types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(self.0.as_bytes());
        Ok(postgres_types::IsNull::No)
    }
}

/// A batch as [`wire_schema`] has it.
fn wire_batch(batch: RecordBatch, wire: &SchemaRef) -> PgWireResult<RecordBatch> {
    let schema = batch.schema();
    if !schema
        .fields()
        .iter()
        .any(|f| as_text(f.data_type()).is_some())
    {
        return Ok(batch);
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        columns.push(match as_text(field.data_type()) {
            None => Arc::clone(column),
            Some(Text::Cast) => arrow::compute::cast(column, &DataType::Utf8)
                .map_err(|e| PgWireError::ApiError(Box::new(e)))?,
            Some(Text::Json) => json_column(field, column)?,
        });
    }
    RecordBatch::try_new(Arc::clone(wire), columns).map_err(|e| PgWireError::ApiError(Box::new(e)))
}

/// Nested values as JSON text, one per row (NULL stays NULL).
fn json_column(field: &Arc<Field>, column: &ArrayRef) -> PgWireResult<ArrayRef> {
    let options = arrow::json::writer::EncoderOptions::default();
    let mut encoder = arrow::json::writer::make_encoder(field, column.as_ref(), &options)
        .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
    let mut out = StringBuilder::with_capacity(column.len(), column.len() * 16);
    let mut buf = Vec::new();
    for i in 0..column.len() {
        if column.is_null(i) {
            out.append_null();
            continue;
        }
        buf.clear();
        encoder.encode(i, &mut buf);
        out.append_value(String::from_utf8_lossy(&buf));
    }
    Ok(Arc::new(out.finish()))
}

/// The Postgres type of a parameter the plan could not type: text, as Postgres types an unknown literal.
fn param_type(t: &Option<DataType>) -> Type {
    t.as_ref()
        .and_then(|t| arrow_pg::datatypes::into_pg_type(t).ok())
        .filter(|t| *t != Type::UNKNOWN)
        .unwrap_or(Type::TEXT)
}

/// The tag a statement that returns no rows completes with (`CREATE TABLE`, `DROP TABLE`, `INSERT 0 5`).
fn command_tag(text: &str, rows: u64, returned_rows: bool, kind: StatementType) -> Tag {
    let mut words = text
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase());
    let first = words.next().unwrap_or_default();
    match first.as_str() {
        "INSERT" => Tag::new("INSERT").with_oid(0).with_rows(rows as usize),
        // Rows, or a statement that computed them (CTAS): Postgres completes both with `SELECT n`.
        _ if returned_rows || kind == StatementType::Dml => {
            Tag::new("SELECT").with_rows(rows as usize)
        }
        "CREATE" | "DROP" | "ALTER" => {
            let object = words
                .find(|w| !matches!(w.as_str(), "EXTERNAL" | "OR" | "REPLACE" | "IF"))
                .unwrap_or_default();
            Tag::new(&format!("{first} {object}"))
        }
        other => Tag::new(other),
    }
}

/// Removes a running statement from the cancel table when it ends or its connection goes; a statement whose
/// connection went away mid-result is cancelled (billed for what it read).
struct Running {
    shared: Arc<Shared>,
    key: (i32, Bytes),
    exec: QueryExecution,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.running().remove(&self.key);
        if self.exec.outcome().is_none() {
            self.exec.cancel();
        }
    }
}

/// A portal's bound parameter values, typed as the statement's plan types them.
fn bound_values(
    portal: &Portal<Prepared>,
    params: &[Option<DataType>],
) -> PgWireResult<Vec<ScalarValue>> {
    let inferred: Vec<Option<&DataType>> = params.iter().map(Option::as_ref).collect();
    Ok(
        match arrow_pg::datatypes::df::deserialize_parameters(portal, &inferred)? {
            ParamValues::List(v) => v.into_iter().map(|s| s.value).collect(),
            ParamValues::Map(_) => vec![],
        },
    )
}

/// The error a statement that did not succeed ends with.
fn ending_error(ending: &Ending) -> PgWireError {
    match ending {
        Ending::Failed(e) => pg_error(e),
        Ending::Cancelled { reason } => user_error(
            "57014",
            match reason {
                Some(r) => format!("canceling statement: {r}"),
                None => "canceling statement due to user request".into(),
            },
        ),
        Ending::Succeeded => user_error("XX000", "the statement succeeded"),
    }
}

/// A statement submitted to the server's queries, its rows to come.
struct Started {
    exec: QueryExecution,
    _running: Running,
    results: ResultStream,
    text: String,
}

/// The runs of a connection's portals, by name, each with the portal it belongs to.
type Runs = BTreeMap<String, (Arc<Portal<Prepared>>, PortalRun)>;

/// Where a portal's statement is.
enum PortalRun {
    /// A row limit stopped it; the next Execute goes on.
    Suspended(Box<Cursor>),
    /// It ran to its end (and sent rows, or not).
    Done { returned: bool },
}

/// A statement's rows on their way to the client. A portal keeps it between Executes when a row limit
/// suspended it (JDBC's fetch size, asyncpg's and tokio-postgres's portals); dropping it before its end cancels
/// the statement (billed for what it read).
struct Cursor {
    started: Started,
    /// How the rows go (None: the statement returns none).
    wire: Option<Wire>,
    /// Rows are sent (false: a statement described as returning none runs to its end unseen).
    returned: bool,
    /// The wire batch being sent, and its next row.
    batch: Option<(RecordBatch, usize)>,
    /// Rows computed so far.
    count: u64,
}

struct Wire {
    schema: SchemaRef,
    fields: Arc<Vec<FieldInfo>>,
    encoder: DataRowEncoder,
}

impl Cursor {
    async fn open(mut started: Started, format: &Format, send: bool) -> PgWireResult<Cursor> {
        let wire = match started.results.schema().await {
            Some(schema) if !schema.fields().is_empty() => {
                let fields = Arc::new(pg_fields(&schema, format)?);
                Some(Wire {
                    schema: wire_schema(&schema),
                    encoder: DataRowEncoder::new(Arc::clone(&fields)),
                    fields,
                })
            }
            _ => None,
        };
        Ok(Cursor {
            started,
            returned: send && wire.is_some(),
            wire,
            batch: None,
            count: 0,
        })
    }

    /// Send up to `limit` rows (0: all of them) as DataRows: how many went, and whether the limit stopped it.
    async fn send<C>(&mut self, client: &mut C, limit: usize) -> PgWireResult<(u64, bool)>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut sent: u64 = 0;
        loop {
            // At the limit, stop without looking further (Postgres suspends a portal that has sent its row
            // limit even when no row is left; the next Execute completes it).
            if limit > 0 && sent == limit as u64 {
                return Ok((sent, true));
            }
            if self.batch.is_none() {
                let Some(batch) = self.started.results.next().await else {
                    return Ok((sent, false));
                };
                self.count += batch.num_rows() as u64;
                if let Some(wire) = &self.wire
                    && self.returned
                {
                    self.batch = Some((wire_batch(batch, &wire.schema)?, 0));
                }
                continue;
            }
            let (Some((batch, row)), Some(wire)) = (self.batch.as_mut(), self.wire.as_mut()) else {
                continue;
            };
            while *row < batch.num_rows() && (limit == 0 || sent < limit as u64) {
                for (i, column) in batch.columns().iter().enumerate() {
                    encode_cell(
                        &mut wire.encoder,
                        column,
                        *row,
                        wire.schema.field(i),
                        &wire.fields[i],
                    )?;
                }
                client
                    .feed(PgWireBackendMessage::DataRow(wire.encoder.take_row()))
                    .await?;
                *row += 1;
                sent += 1;
            }
            if *row == batch.num_rows() {
                self.batch = None;
            }
        }
    }
}

/// How a run's rows go to the client.
enum Rows<'a> {
    /// DataRows, after a RowDescription when `describe`, in `format`.
    Data {
        format: &'a Format,
        describe: bool,
        send: bool,
    },
    /// `COPY ... TO STDOUT`.
    Copy {
        csv: bool,
        header: bool,
        delimiter: Option<String>,
    },
}

impl Session {
    /// Who runs the connection's statements and where: (user, work group, database).
    fn identity<C: ClientInfo>(
        &self,
        client: &C,
    ) -> PgWireResult<(String, String, Option<String>)> {
        let metadata = client.metadata();
        let user = metadata
            .get(pgwire::api::METADATA_USER)
            .cloned()
            .unwrap_or_else(|| "anonymous".into());
        let application = self
            .conn
            .state()
            .settings
            .get("application_name")
            .cloned()
            .or_else(|| {
                metadata
                    .get(pgwire::api::METADATA_APPLICATION_NAME)
                    .cloned()
            });
        let server = &self.shared.server;
        let workgroup = server.workgroup_for(server.credential(&user), application.as_deref());
        let database = self.conn.database(client, server.engine());
        Ok((user, workgroup, database))
    }

    /// Submit one statement of the engine to the server's queries (queued with every other client's; its work
    /// group's scan cutoff applies), cancellable by the connection's cancel requests while it runs.
    fn start<C: ClientInfo>(
        &self,
        client: &C,
        statement: Statement,
        text: &str,
        positional: Vec<ScalarValue>,
    ) -> PgWireResult<Started> {
        let (user, workgroup, database) = self.identity(client)?;
        let statement_type = crate::server::athena::statement_type(&statement);
        let mut request = QueryRequest::new(statement)
            .streamed()
            .with_workgroup(&workgroup);
        request.user = user.clone();
        request.database = database;
        request.text = Some(text.to_string());
        request.dialect = Dialect::Postgres;
        request.positional = positional;
        let extra = Extra {
            statement_type,
            output_location: None,
            execution_parameters: vec![],
            user,
        };
        let exec = self
            .shared
            .server
            .queries()
            .submit(request, extra)
            .map_err(|e| user_error("53000", e.message))?;
        let (pid, secret) = client.pid_and_secret_key();
        let key = (pid, secret.to_bytes());
        self.shared.running().insert(key.clone(), exec.clone());
        let running = Running {
            shared: Arc::clone(&self.shared),
            key,
            exec: exec.clone(),
        };
        let results = exec
            .results()
            .ok_or_else(|| user_error("XX000", "a streamed query has no rows"))?;
        Ok(Started {
            exec,
            _running: running,
            results,
            text: text.to_string(),
        })
    }

    /// Run one statement of the engine through the server's queries: its rows to the client as they come,
    /// then its bill as a NOTICE. The tag to complete it with, or its error.
    async fn run<C>(
        &self,
        client: &mut C,
        statement: Statement,
        text: &str,
        positional: Vec<ScalarValue>,
        rows: Rows<'_>,
    ) -> PgWireResult<Tag>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let started = self.start(client, statement, text, positional)?;
        match rows {
            Rows::Data {
                format,
                describe,
                send,
            } => {
                let mut cursor = Cursor::open(started, format, send).await?;
                if describe && let Some(wire) = &cursor.wire {
                    client
                        .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                            wire.fields.iter().map(Into::into).collect(),
                        )))
                        .await?;
                }
                cursor.send(client, 0).await?;
                let rows = cursor.count;
                self.finish(client, &cursor, rows).await
            }
            Rows::Copy {
                csv,
                header,
                delimiter,
            } => {
                let mut started = started;
                let mut count: u64 = 0;
                if let Some(schema) = started.results.schema().await
                    && !schema.fields().is_empty()
                {
                    let wire = wire_schema(&schema);
                    let results = &mut started.results;
                    let fields = Arc::new(pg_fields(&schema, &Format::UnifiedText)?);
                    let columns = fields.len();
                    client
                        .feed(PgWireBackendMessage::CopyOutResponse(CopyOutResponse::new(
                            0,
                            columns as i16,
                            vec![0; columns],
                        )))
                        .await?;
                    let mut encoder = if csv {
                        let mut o = CopyCsvOptions::default();
                        if let Some(d) = &delimiter {
                            o.delimiter = d.as_str().into();
                        }
                        CopyEncoder::new_csv(Arc::clone(&fields), o)
                    } else {
                        let mut o = CopyTextOptions::default();
                        if let Some(d) = &delimiter {
                            o.delimiter = d.as_str().into();
                        }
                        CopyEncoder::new_text(Arc::clone(&fields), o)
                    };
                    if csv && header {
                        let sep = delimiter.clone().unwrap_or_else(|| ",".into());
                        let line = wire
                            .fields()
                            .iter()
                            .map(|f| csv_quote(f.name()))
                            .collect::<Vec<_>>()
                            .join(&sep);
                        client
                            .feed(PgWireBackendMessage::CopyData(
                                pgwire::messages::copy::CopyData::new(Bytes::from(format!(
                                    "{line}\n"
                                ))),
                            ))
                            .await?;
                    }
                    while let Some(batch) = results.next().await {
                        let batch = wire_batch(batch, &wire)?;
                        for row in 0..batch.num_rows() {
                            for (i, column) in batch.columns().iter().enumerate() {
                                encode_cell(&mut encoder, column, row, wire.field(i), &fields[i])?;
                            }
                            client
                                .feed(PgWireBackendMessage::CopyData(encoder.take_copy()))
                                .await?;
                            count += 1;
                        }
                    }
                    client
                        .feed(PgWireBackendMessage::CopyDone(CopyDone::new()))
                        .await?;
                }
                let outcome = self.bill(client, &started.exec).await?;
                match &outcome.ending {
                    Ending::Succeeded => Ok(Tag::new("COPY").with_rows(count as usize)),
                    ending => Err(ending_error(ending)),
                }
            }
        }
    }

    /// The end of a statement's rows: its bill as a NOTICE, and the tag it completes with (`rows`: those sent
    /// by the last Execute), or its error.
    async fn finish<C>(&self, client: &mut C, cursor: &Cursor, rows: u64) -> PgWireResult<Tag>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let outcome = self.bill(client, &cursor.started.exec).await?;
        match &outcome.ending {
            Ending::Succeeded => Ok(command_tag(
                &cursor.started.text,
                if cursor.returned {
                    rows
                } else {
                    outcome.stats.rows.max(cursor.count)
                },
                cursor.returned,
                outcome.stats.statement_type,
            )),
            ending => Err(ending_error(ending)),
        }
    }

    /// Wait for a statement to end and send its bill as a NOTICE
    /// (`query <id> · 3 rows in 0.012 s · scanned 93.91 KB · billed 10 MB · $0.00005`).
    async fn bill<C>(&self, client: &mut C, exec: &QueryExecution) -> PgWireResult<Arc<Outcome>>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let outcome = exec.wait().await;
        let units = self.shared.server.engine().cost_model().units;
        let bill = format!(
            "query {} · {}",
            exec.id(),
            crate::output::stats_line(&outcome.stats, units)
        );
        client
            .feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
                ErrorInfo::new("NOTICE".into(), "00000".into(), bill),
            )))
            .await?;
        Ok(outcome)
    }

    /// Answer a statement of the connection's own; the tag, or the rows of a SHOW. The transaction status after.
    async fn local<C>(
        &self,
        client: &mut C,
        local: &Local,
        text: &str,
        format: &Format,
        describe: bool,
        status: TransactionStatus,
    ) -> PgWireResult<(Tag, TransactionStatus)>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match local {
            Local::Set { name, value } => {
                if name.is_empty() {
                    return Ok((Tag::new("SET"), status));
                }
                if name == "search_path" {
                    let first = value
                        .split(',')
                        .map(|s| s.trim().trim_matches('"').to_string())
                        .find(|s| !s.is_empty() && s != "$user" && s != "pg_catalog");
                    if let Some(db) = first
                        && self.shared.server.engine().registry().database_exists(&db)
                    {
                        self.conn.state().database = Some(db);
                    }
                }
                self.conn
                    .state()
                    .settings
                    .insert(name.clone(), value.clone());
                client.metadata_mut().insert(name.clone(), value.clone());
                if let Some((_, reported)) = REPORTED.iter().find(|(n, _)| n == name) {
                    client
                        .feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                            reported.to_string(),
                            value.clone(),
                        )))
                        .await?;
                }
                Ok((Tag::new("SET"), status))
            }
            Local::Show(name) => {
                let value = self.setting(client, name).ok_or_else(|| {
                    user_error(
                        "42704",
                        format!("unrecognized configuration parameter \"{name}\""),
                    )
                })?;
                let fields = Arc::new(vec![FieldInfo::new(
                    name.clone(),
                    None,
                    None,
                    Type::TEXT,
                    format.format_for(0),
                )]);
                if describe {
                    client
                        .feed(PgWireBackendMessage::RowDescription(RowDescription::new(
                            fields.iter().map(Into::into).collect(),
                        )))
                        .await?;
                }
                let mut encoder = pgwire::api::results::DataRowEncoder::new(fields);
                encoder.encode_field(&Some(value))?;
                client
                    .feed(PgWireBackendMessage::DataRow(encoder.take_row()))
                    .await?;
                Ok((Tag::new("SHOW"), status))
            }
            Local::Use(db) => {
                if !self.shared.server.engine().registry().database_exists(db) {
                    return Err(pg_error(&Error::DatabaseNotFound(db.clone())));
                }
                self.conn.state().database = Some(db.clone());
                Ok((Tag::new("USE"), status))
            }
            Local::Begin => Ok((Tag::new("BEGIN"), TransactionStatus::Transaction)),
            // The end of a transaction closes its portals.
            Local::Commit => {
                self.close_runs();
                Ok((Tag::new("COMMIT"), TransactionStatus::Idle))
            }
            Local::Rollback => {
                self.close_runs();
                Ok((Tag::new("ROLLBACK"), TransactionStatus::Idle))
            }
            Local::Discard => {
                self.conn.state().settings.clear();
                Ok((Tag::new("DISCARD ALL"), status))
            }
            Local::Copy {
                query,
                csv,
                header,
                delimiter,
            } => {
                let tag = self
                    .run(
                        client,
                        query.clone(),
                        text,
                        vec![],
                        Rows::Copy {
                            csv: *csv,
                            header: *header,
                            delimiter: delimiter.clone(),
                        },
                    )
                    .await?;
                Ok((tag, status))
            }
        }
    }

    /// A session parameter's value: set on this connection, given at startup, or the server's.
    fn setting<C: ClientInfo>(&self, client: &C, name: &str) -> Option<String> {
        if let Some(v) = self.conn.state().settings.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = client.metadata().get(name) {
            return Some(v.clone());
        }
        let database = self
            .conn
            .state()
            .database
            .clone()
            .unwrap_or_else(|| self.shared.server.engine().database());
        Some(match name {
            "server_version" => crate::engine::postgres::POSTGRES_VERSION.to_string(),
            "server_version_num" => "160006".into(),
            "server_encoding" | "client_encoding" => "UTF8".into(),
            "datestyle" => "ISO, MDY".into(),
            "intervalstyle" => "postgres".into(),
            "timezone" => "UTC".into(),
            "search_path" => database,
            "transaction_isolation" | "default_transaction_isolation" => "read committed".into(),
            "transaction_read_only" | "default_transaction_read_only" => "on".into(),
            "standard_conforming_strings" | "integer_datetimes" => "on".into(),
            "is_superuser" => "off".into(),
            "max_identifier_length" => "63".into(),
            "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
                "0".into()
            }
            "extra_float_digits" => "1".into(),
            "bytea_output" => "hex".into(),
            "application_name" => String::new(),
            _ => return None,
        })
    }

    /// A Simple Query: each statement in turn, its messages in order; the first that fails ends it.
    async fn simple<C>(&self, client: &mut C, text: &str) -> PgWireResult<TransactionStatus>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut status = client.transaction_status();
        if text.chars().all(|c| c == ';' || c.is_whitespace()) {
            client
                .feed(PgWireBackendMessage::EmptyQueryResponse(
                    EmptyQueryResponse::new(),
                ))
                .await?;
            return Ok(status);
        }
        let statements = self
            .shared
            .server
            .engine()
            .parse_postgres(text)
            .map_err(|e| syntax_error(&e))?;
        let single = statements.len() == 1;
        for statement in statements {
            // A statement's own text for its history entry: the client's when it sent one statement.
            let own = if single {
                text.trim().to_string()
            } else {
                statement.to_string()
            };
            let tag = match classify(statement)? {
                Kind::Local(local) => {
                    let (tag, after) = self
                        .local(client, &local, &own, &Format::UnifiedText, true, status)
                        .await?;
                    status = after;
                    tag
                }
                Kind::Query { statement, .. } => {
                    self.run(
                        client,
                        statement,
                        &own,
                        vec![],
                        Rows::Data {
                            format: &Format::UnifiedText,
                            describe: true,
                            send: true,
                        },
                    )
                    .await?
                }
            };
            client
                .feed(PgWireBackendMessage::CommandComplete(
                    CommandComplete::from(tag),
                ))
                .await?;
        }
        Ok(status)
    }
}

/// A CSV field quoted when it must be.
fn csv_quote(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        // An error is sent by pgwire (ErrorResponse, then ReadyForQuery); what came before it was fed already.
        let status = self.simple(client, &query.query).await?;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        client.set_transaction_status(status);
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        Ok(())
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // `on_query` answers every Simple Query itself; this runs one the same way if called.
        let status = self.simple(client, query).await?;
        client.set_transaction_status(status);
        Ok(vec![])
    }
}

/// Parses and describes the extended protocol's statements.
pub(super) struct Parser {
    shared: Arc<Shared>,
    conn: Arc<Conn>,
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let engine = self.shared.server.engine();
        let mut statements = engine.parse_postgres(sql).map_err(|e| syntax_error(&e))?;
        if statements.len() > 1 {
            return Err(user_error(
                "42601",
                "cannot insert multiple commands into a prepared statement",
            ));
        }
        let Some(statement) = statements.pop() else {
            return Ok(None);
        };
        let kind = match classify(statement)? {
            Kind::Query { statement, .. } => {
                let database = self.conn.database(client, engine);
                // Planned on a thread of its own, as queries run (owl's statements' futures need not be Send).
                let planner = engine.clone();
                let described = statement.clone();
                let runtime = tokio::runtime::Handle::current();
                let (params, schema) = tokio::task::spawn_blocking(move || {
                    runtime.block_on(planner.describe(
                        &described,
                        database.as_deref(),
                        Dialect::Postgres,
                    ))
                })
                .await
                .map_err(|e| user_error("XX000", format!("describing the statement: {e}")))?
                .map_err(|e| pg_error(&e))?;
                Kind::Query {
                    statement,
                    params,
                    schema,
                }
            }
            local => local,
        };
        Ok(Some(Prepared {
            text: sql.trim().to_string(),
            kind,
        }))
    }

    fn get_parameter_types(&self, stmt: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(match &stmt.kind {
            Kind::Query { params, .. } => params.iter().map(param_type).collect(),
            Kind::Local(_) => vec![],
        })
    }

    fn get_result_schema(
        &self,
        stmt: &Prepared,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        let format = column_format.unwrap_or(&Format::UnifiedText);
        match &stmt.kind {
            Kind::Query { schema, .. } => pg_fields(schema, format),
            Kind::Local(Local::Show(name)) => Ok(vec![FieldInfo::new(
                name.clone(),
                None,
                None,
                Type::TEXT,
                format.format_for(0),
            )]),
            Kind::Local(_) => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    /// A portal of the engine's runs here: an Execute with a row limit sends that many rows and suspends the
    /// portal (PortalSuspended), the next Execute goes on where it stopped, and the one that finds no more rows
    /// completes it and sends the bill. Executing a completed portal again returns no rows, as in Postgres.
    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message
            .name
            .clone()
            .unwrap_or_else(|| pgwire::api::DEFAULT_NAME.to_string());
        let limit = message.max_rows.max(0) as usize;
        let Some(pgwire::api::store::Entry::Value(portal)) =
            client.portal_store().get_portal(&name)
        else {
            return self._on_execute(client, message).await;
        };
        let Kind::Query {
            statement,
            params,
            schema,
        } = &portal.statement.statement.kind
        else {
            return self._on_execute(client, message).await;
        };
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let text = &portal.statement.statement.text;
        let mut cursor = match self.take_run(&name, &portal) {
            Some(PortalRun::Suspended(cursor)) => *cursor,
            Some(PortalRun::Done { returned }) => {
                client
                    .send(PgWireBackendMessage::CommandComplete(
                        command_tag(text, 0, returned, StatementType::Dml).into(),
                    ))
                    .await?;
                self.runs()
                    .insert(name, (portal, PortalRun::Done { returned }));
                return Ok(());
            }
            None => {
                let positional = bound_values(&portal, params)?;
                let started = self.start(client, statement.clone(), text, positional)?;
                // A statement described as returning nothing sends nothing (CTAS, ANALYZE).
                let send = !schema.fields().is_empty();
                Cursor::open(started, &portal.result_column_format, send).await?
            }
        };
        client.set_state(PgWireConnectionState::QueryInProgress);
        let (sent, suspended) = cursor.send(client, limit).await?;
        if suspended {
            client
                .send(PgWireBackendMessage::PortalSuspended(
                    pgwire::messages::extendedquery::PortalSuspended::new(),
                ))
                .await?;
            self.runs()
                .insert(name, (portal, PortalRun::Suspended(Box::new(cursor))));
        } else {
            let returned = cursor.returned;
            let tag = self.finish(client, &cursor, sent).await;
            self.runs()
                .insert(name, (Arc::clone(&portal), PortalRun::Done { returned }));
            client
                .send(PgWireBackendMessage::CommandComplete(tag?.into()))
                .await?;
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        Ok(())
    }

    async fn on_close<C>(&self, client: &mut C, message: Close) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        match message.target_type {
            pgwire::messages::extendedquery::TARGET_TYPE_BYTE_STATEMENT => {
                client.portal_store().rm_statement(name);
            }
            pgwire::messages::extendedquery::TARGET_TYPE_BYTE_PORTAL => {
                client.portal_store().rm_portal(name);
            }
            _ => {}
        }
        self.forget_closed_runs(client);
        client
            .send(PgWireBackendMessage::CloseComplete(
                pgwire::messages::extendedquery::CloseComplete::new(),
            ))
            .await?;
        Ok(())
    }

    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
        // Outside a transaction block a Sync ends the implicit transaction, and its portals with it.
        if client.transaction_status() == TransactionStatus::Idle {
            self.close_runs();
        }
        self.forget_closed_runs(client);
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                client.transaction_status(),
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Prepared>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        match &prepared.kind {
            Kind::Local(local) => {
                let status = client.transaction_status();
                let (tag, after) = self
                    .local(
                        client,
                        local,
                        &prepared.text,
                        &portal.result_column_format,
                        false,
                        status,
                    )
                    .await?;
                Ok(match (status, after) {
                    (TransactionStatus::Idle, TransactionStatus::Transaction) => {
                        Response::TransactionStart(tag)
                    }
                    (
                        TransactionStatus::Transaction | TransactionStatus::Error,
                        TransactionStatus::Idle,
                    ) => Response::TransactionEnd(tag),
                    _ => Response::Execution(tag),
                })
            }
            // `on_execute` runs the engine's statements (their portals suspend and go on).
            Kind::Query { .. } => Err(user_error(
                "XX000",
                "an engine statement reached the default Execute",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_numerics_take_postgres_binary_form() {
        // (ndigits, weight, sign, dscale, base-10000 digits), as Postgres's numeric_send writes them.
        let binary = |text: &str| {
            let mut out = bytes::BytesMut::new();
            WideNumeric(text).binary(&mut out).map(|_| {
                let words: Vec<i16> = out
                    .chunks(2)
                    .map(|w| i16::from_be_bytes([w[0], w[1]]))
                    .collect();
                (words[..4].to_vec(), words[4..].to_vec())
            })
        };
        assert_eq!(
            binary("3774200.00"),
            Ok((vec![2, 1, 0, 2], vec![377, 4200]))
        );
        assert_eq!(binary("0.050144"), Ok((vec![2, -1, 0, 6], vec![501, 4400])));
        assert_eq!(binary("100000000"), Ok((vec![1, 2, 0, 0], vec![1])));
        assert_eq!(
            binary("-12345678901234567890123456789012.123456"),
            Ok((
                vec![10, 7, 0x4000, 6],
                vec![1234, 5678, 9012, 3456, 7890, 1234, 5678, 9012, 1234, 5600]
            ))
        );
        assert_eq!(binary("-0.00"), Ok((vec![0, 0, 0, 2], vec![])));
        assert!(binary("1e5").is_err() && binary("-").is_err() && binary(".").is_err());
    }

    #[test]
    fn tags_name_what_completed() {
        use StatementType::{Ddl, Dml};
        let tag = |t: &str, rows, returned, kind| {
            CommandComplete::from(command_tag(t, rows, returned, kind)).tag
        };
        assert_eq!(tag("SELECT 1", 1, true, Dml), "SELECT 1");
        assert_eq!(
            tag(
                "create external table t (a int) location 'x'",
                0,
                false,
                Ddl
            ),
            "CREATE TABLE"
        );
        assert_eq!(tag("DROP TABLE IF EXISTS t", 0, false, Ddl), "DROP TABLE");
        assert_eq!(tag("CREATE TABLE t AS SELECT 1", 5, false, Dml), "SELECT 5");
        assert_eq!(tag("insert into t values (1)", 1, false, Dml), "INSERT 0 1");
    }

    #[test]
    fn nested_values_go_as_json_text() {
        let values = Arc::new(arrow::array::Int32Array::from(vec![Some(1), None, Some(3)]));
        let offsets = arrow::buffer::OffsetBuffer::new(vec![0, 2, 2, 3].into());
        let field = Arc::new(Field::new("item", DataType::Int32, true));
        let list = arrow::array::ListArray::new(
            field,
            offsets,
            values,
            Some(vec![true, false, true].into()),
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "l",
            list.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(list)]).unwrap();
        let wire = wire_schema(&schema);
        assert_eq!(wire.field(0).data_type(), &DataType::Utf8);
        let out = wire_batch(batch, &wire).unwrap();
        let text = out
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!(text.value(0), "[1,null]");
        assert!(text.is_null(1));
        assert_eq!(text.value(2), "[3]");
    }

    #[test]
    fn set_values_lose_their_quotes() {
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::PostgreSqlDialect {},
            "SET datestyle = 'ISO, MDY'",
        )
        .unwrap();
        let Kind::Local(Local::Set { name, value }) = classify(Statement::Sql(
            DFStatement::Statement(Box::new(parsed[0].clone())),
        ))
        .unwrap() else {
            panic!("SET is the connection's");
        };
        assert_eq!((name.as_str(), value.as_str()), ("datestyle", "ISO, MDY"));
    }
}
