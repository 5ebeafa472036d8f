//! `owl serve --flight`: Arrow Flight SQL (gRPC), for ADBC, JDBC's Flight SQL driver and pyarrow: results leave as
//! the Arrow record batches the engine computed, never converted to text.
//!
//! - **Who**: with credentials, a Handshake with HTTP Basic (`access key id : secret`) gets a bearer token (random,
//!   kept in memory only); every other call carries it (or Basic again). Without credentials (loopback only)
//!   anyone local is let in.
//! - **Where**: header `x-owl-workgroup` names the work group (if its credential may use it; else `primary` or
//!   the credential's first), `x-owl-database` the database unqualified names resolve in.
//! - **Statements**: GetFlightInfo(CommandStatementQuery) queues the query with the server's others and answers
//!   once it is planned (its schema; its query id in the FlightInfo's `app_metadata` and the ticket); DoGet
//!   streams its batches as they are computed. The last message's `app_metadata` is the bill (JSON:
//!   `query_id`, `state`, `rows`, `bytes_scanned`, `billed_bytes`, `cost_usd`). A ticket nobody redeems within
//!   [`UNCLAIMED`] is cancelled. Prepared statements (CreatePreparedStatement, DoPut of a parameter batch,
//!   GetFlightInfo, ClosePreparedStatement) bind typed values to `$1`, `$2`, ... (`?` numbered).
//! - **Catalog**: GetCatalogs (`awsdatacatalog`), GetDbSchemas (the registry's databases), GetTables (with their
//!   Arrow schemas), GetTableTypes, GetSqlInfo.
//! - **Cancel**: CancelFlightInfo (and the older CancelQuery) stops the ticket's query: CANCELLED, billed for what
//!   it read; a client that stops reading does the same.

use super::Server;
use super::sigv4::Credential;
use crate::engine::{Dialect, Ending, QueryExecution, QueryRequest, ResultStream};
use crate::error::Error;
use crate::server::queries::Extra;
use crate::sql::Statement;
use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandPreparedStatementQuery, CommandStatementQuery,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus, FlightData,
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket,
};
use bytes::Bytes;
use datafusion::common::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt};
use pgwire::tokio::tokio_rustls::{self, TlsAcceptor};
use prost_flight::Message;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tonic::{Request, Response, Status, Streaming};

/// How long a planned query waits for its DoGet before it is cancelled.
pub const UNCLAIMED: Duration = Duration::from_secs(300);

/// Bearer tokens kept (a Handshake per client connection): past it the oldest is forgotten, and its client
/// handshakes again.
const TOKENS: usize = 10_000;

/// Bearer token -> user, oldest first out.
#[derive(Debug, Default)]
struct Tokens {
    users: HashMap<String, String>,
    order: std::collections::VecDeque<String>,
}

impl Tokens {
    fn insert(&mut self, token: String, user: String) {
        self.order.push_back(token.clone());
        self.users.insert(token, user);
        while self.order.len() > TOKENS {
            if let Some(old) = self.order.pop_front() {
                self.users.remove(&old);
            }
        }
    }
}

type FlightStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send>>;

static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "owl");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, true);
    b.append(SqlInfo::SqlDdlTable, true);
    // Built from constants: it cannot fail.
    b.build()
        .unwrap_or_else(|_| SqlInfoDataBuilder::new().build().expect("an empty SqlInfo"))
});

/// The Flight SQL listener, and its TLS when it has one (`--flight-tls-cert`/`--flight-tls-key`).
pub struct FlightListener {
    pub listener: tokio::net::TcpListener,
    pub tls: Option<TlsAcceptor>,
}

/// TLS for the Flight SQL listener from a PEM certificate chain and private key: gRPC over HTTP/2 (ALPN `h2`),
/// `grpc+tls://` to ADBC.
pub fn tls(cert: &std::path::Path, key: &std::path::Path) -> crate::error::Result<TlsAcceptor> {
    let mut config = super::pg::tls_config(cert, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TLS connection, as tonic takes its connections.
struct TlsConn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl tokio::io::AsyncRead for TlsConn {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsConn {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// How long a client has to finish its TLS handshake.
const TLS_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve Flight SQL on `listener` until `shutdown` resolves.
pub async fn serve(
    server: Arc<Server>,
    listener: FlightListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let FlightListener { listener, tls } = listener;
    let service = FlightServiceServer::new(FlightSql {
        shared: Arc::new(Shared {
            server,
            tokens: Mutex::default(),
            prepared: Mutex::default(),
            tickets: Mutex::default(),
        }),
    })
    .max_decoding_message_size(64 << 20);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let Some(acceptor) = tls else {
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        return;
    };
    // Each handshake on its own task (a slow or silent client holds up no other); a failed one is dropped.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<TlsConn>>(64);
    let accepting = tokio::spawn(async move {
        let mut incoming = std::pin::pin!(incoming);
        while let Some(tcp) = incoming.next().await {
            let Ok(tcp) = tcp else { continue };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                if let Ok(Ok(tls)) = tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(tcp)).await
                {
                    let _ = tx.send(Ok(TlsConn(tls))).await;
                }
            });
        }
    });
    let _ = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(
            futures::stream::poll_fn(move |cx| rx.poll_recv(cx)),
            shutdown,
        )
        .await;
    accepting.abort();
}

#[derive(Debug)]
struct Shared {
    server: Arc<Server>,
    /// Bearer tokens and their users (access key ids), the newest [`TOKENS`].
    tokens: Mutex<Tokens>,
    prepared: Mutex<HashMap<Bytes, Prepared>>,
    /// Planned queries waiting for their DoGet, by query id.
    tickets: Mutex<HashMap<String, Planned>>,
}

#[derive(Debug, Clone)]
struct Prepared {
    user: String,
    text: String,
    statement: Statement,
    params: Vec<Option<DataType>>,
    bound: Vec<ScalarValue>,
}

#[derive(Debug)]
struct Planned {
    user: String,
    exec: QueryExecution,
    results: ResultStream,
    schema: SchemaRef,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The caller of a request.
struct Caller {
    user: String,
    credential: Option<Credential>,
    /// The work group it asks for (`x-owl-workgroup`), resolved when it runs a statement.
    workgroup: Option<String>,
    database: Option<String>,
}

/// An owl error as gRPC reports it.
fn status(e: &Error) -> Status {
    let inner = match e {
        Error::Located { error, .. } => error.as_ref(),
        other => other,
    };
    match inner {
        Error::TableNotFound { .. }
        | Error::PathNotFound(_)
        | Error::DatabaseNotFound(_)
        | Error::ColumnNotFound { .. } => Status::not_found(e.to_string()),
        Error::InvalidLocation { .. } => Status::permission_denied(e.to_string()),
        Error::Unsupported(_) | Error::UnsupportedType { .. } => {
            Status::unimplemented(e.to_string())
        }
        Error::Internal(_) | Error::InternalCause { .. } | Error::Io { .. } => {
            Status::internal(e.to_string())
        }
        _ => Status::invalid_argument(e.to_string()),
    }
}

/// The one statement of `text`.
fn one_statement(server: &Server, text: &str) -> Result<Statement, Status> {
    let mut statements = server.engine().parse(text).map_err(|e| status(&e))?;
    match (statements.pop(), statements.is_empty()) {
        (Some(s), true) => Ok(s),
        (None, _) => Err(Status::invalid_argument("the query is empty")),
        (Some(_), false) => Err(Status::invalid_argument(
            "one statement per query: this text holds several",
        )),
    }
}

fn schema_ipc(schema: &Schema) -> Result<Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
    Ok(bytes)
}

/// One batch of a catalog call's answer as Flight data.
fn stream_of<E: std::fmt::Display>(
    schema: SchemaRef,
    batch: Result<RecordBatch, E>,
) -> Result<Response<FlightStream>, Status> {
    let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::once(async { Ok(batch) }))
        .map_err(Status::from);
    Ok(Response::new(Box::pin(stream)))
}

/// GetTableTypes' schema (every table of the registry is a `TABLE`).
fn table_types() -> Schema {
    Schema::new(vec![Field::new("table_type", DataType::Utf8, false)])
}

/// The FlightInfo of a catalog call: its ticket is the command itself.
fn command_info(
    command: &impl ProstMessageExt,
    schema: &Schema,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let ticket = command.as_any().encode_to_vec().into();
    let info = info_for(schema, ticket, request.into_inner(), Bytes::new())?;
    Ok(Response::new(info))
}

/// A FlightInfo whose one endpoint's ticket is `ticket`.
fn info_for(
    schema: &Schema,
    ticket: Bytes,
    descriptor: FlightDescriptor,
    app_metadata: Bytes,
) -> Result<FlightInfo, Status> {
    Ok(FlightInfo::new()
        .try_with_schema(schema)
        .map_err(|e| Status::internal(e.to_string()))?
        .with_endpoint(FlightEndpoint::new().with_ticket(Ticket { ticket }))
        .with_descriptor(descriptor)
        .with_app_metadata(app_metadata))
}

#[derive(Clone)]
struct FlightSql {
    shared: Arc<Shared>,
}

impl FlightSql {
    fn server(&self) -> &Server {
        &self.shared.server
    }

    /// Who calls, checked before anything else: a bearer token from Handshake, or Basic credentials.
    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        let metadata = request.metadata();
        let header = |name: &str| {
            metadata
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let user = match &self.server().options().credentials {
            None => header("authorization")
                .and_then(|a| basic(&a).map(|(u, _)| u))
                .unwrap_or_else(|| "anonymous".into()),
            Some(_) => {
                let auth = header("authorization").ok_or_else(|| {
                    Status::unauthenticated("no credentials: Handshake with Basic first")
                })?;
                if let Some(token) = auth.strip_prefix("Bearer ") {
                    lock(&self.shared.tokens)
                        .users
                        .get(token.trim())
                        .cloned()
                        .ok_or_else(|| {
                            Status::unauthenticated("the bearer token is not this server's")
                        })?
                } else {
                    self.check_basic(&auth)?
                }
            }
        };
        let credential = self.server().credential(&user).cloned();
        let workgroup = header("x-owl-workgroup");
        let database = header("x-owl-database");
        if let Some(db) = &database
            && !self.server().engine().registry().database_exists(db)
        {
            return Err(status(&Error::DatabaseNotFound(db.clone())));
        }
        Ok(Caller {
            user,
            credential,
            workgroup,
            database,
        })
    }

    /// The user of valid Basic credentials.
    fn check_basic(&self, auth: &str) -> Result<String, Status> {
        let (user, secret) = basic(auth)
            .ok_or_else(|| Status::unauthenticated("authorization is not Basic or Bearer"))?;
        let ok = self.server().credential(&user).is_some_and(|c| {
            use subtle::ConstantTimeEq;
            bool::from(c.secret_access_key.as_bytes().ct_eq(secret.as_bytes()))
                && c.may_call("athena")
        });
        if !ok {
            return Err(Status::unauthenticated("invalid user or password"));
        }
        Ok(user)
    }

    /// Queue `statement` and wait until it is planned: the FlightInfo of its results.
    async fn plan(
        &self,
        caller: Caller,
        statement: Statement,
        text: &str,
        positional: Vec<ScalarValue>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let statement_type = crate::server::athena::statement_type(&statement);
        let mut request = QueryRequest::new(statement).streamed().with_workgroup(
            &self
                .server()
                .workgroup_for(caller.credential.as_ref(), caller.workgroup.as_deref()),
        );
        request.user = caller.user.clone();
        request.database = caller.database.clone();
        request.text = Some(text.to_string());
        request.positional = positional;
        let extra = Extra {
            statement_type,
            output_location: None,
            execution_parameters: vec![],
            user: caller.user.clone(),
        };
        let queries = self.server().queries();
        let exec = queries
            .submit(request, extra)
            .map_err(|e| Status::resource_exhausted(e.message))?;
        let mut results = exec
            .results()
            .ok_or_else(|| Status::internal("a streamed query has no rows"))?;
        let Some(schema) = results.schema().await else {
            let outcome = exec.wait().await;
            return Err(match &outcome.ending {
                Ending::Failed(e) => status(e),
                _ => Status::cancelled(format!("query {} was cancelled", exec.id())),
            });
        };
        let id = exec.id().to_string();
        let ticket = TicketStatementQuery {
            statement_handle: Bytes::from(id.clone()),
        }
        .as_any()
        .encode_to_vec();
        let info = info_for(
            &wire_schema(&schema),
            ticket.into(),
            descriptor,
            Bytes::from(serde_json::json!({ "query_id": id }).to_string()),
        )?;
        lock(&self.shared.tickets).insert(
            id.clone(),
            Planned {
                user: caller.user,
                exec: exec.clone(),
                results,
                schema,
            },
        );
        // Never redeemed: cancelled (billed for what it read while planning).
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            tokio::time::sleep(UNCLAIMED).await;
            if lock(&shared.tickets).remove(&id).is_some() {
                exec.cancel();
            }
        });
        Ok(Response::new(info))
    }

    /// The query id a FlightInfo's ticket names.
    fn query_of(info: &FlightInfo) -> Option<String> {
        let ticket = info.endpoint.first()?.ticket.as_ref()?;
        let any = Any::decode(ticket.ticket.clone()).ok()?;
        let t: TicketStatementQuery = any.unpack().ok()??;
        String::from_utf8(t.statement_handle.to_vec()).ok()
    }

    /// Stop the query of a FlightInfo the caller may see.
    fn cancel(&self, caller: &Caller, info: Option<&FlightInfo>) -> CancelStatus {
        let Some(id) = info.and_then(Self::query_of) else {
            return CancelStatus::Unspecified;
        };
        if let Some(p) = lock(&self.shared.tickets).remove(&id) {
            p.exec.cancel();
            return CancelStatus::Cancelled;
        }
        match self.server().queries().get(&id) {
            Some(r)
                if caller
                    .credential
                    .as_ref()
                    .is_none_or(|c| c.may_use(&r.workgroup)) =>
            {
                if self.server().queries().stop(&id) {
                    CancelStatus::Cancelled
                } else {
                    CancelStatus::NotCancellable
                }
            }
            _ => CancelStatus::Unspecified,
        }
    }
}

/// `Basic base64(user:password)` -> (user, password).
fn basic(auth: &str) -> Option<(String, String)> {
    let encoded = auth.strip_prefix("Basic ")?.trim();
    // Go's Flight client (ADBC's driver) leaves out the padding.
    let decoded = base64_simd::STANDARD
        .decode_to_vec(encoded)
        .or_else(|_| base64_simd::STANDARD_NO_PAD.decode_to_vec(encoded))
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The type a column travels as: strings and binaries as Arrow's `Utf8` and `Binary`, not the view types the
/// engine computes with (at any depth).
///
/// 1. Every Flight SQL client reads them: Arrow Java's JDBC driver (DBeaver, Tableau) and older pyarrow, Go and
///    C++ builds have no view types.
/// 2. A view array keeps its values in buffers it shares with the batches around it (a Parquet page's, read once
///    for them all), and Arrow IPC sends every buffer an array holds: 8,192 rows of a 1 MB page sent the whole
///    page, and each piece the Flight encoder splits a batch into sent it again (a 1M-row result of TPC-H's
///    `lineitem` went out as 422 MB, 10× its values). Cast, a column travels as the bytes its rows use.
/// 3. Short strings are smaller: a view is 16 bytes, a `Utf8` value its length and a 4-byte offset.
fn wire_type(t: &DataType) -> DataType {
    let field = |f: &FieldRef| -> FieldRef {
        Arc::new(f.as_ref().clone().with_data_type(wire_type(f.data_type())))
    };
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// A result's schema as it travels ([`wire_type`]).
fn wire_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_data_type(wire_type(f.data_type())))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ))
}

/// `batch` as it travels under `wire` (its [`wire_schema`]).
fn to_wire(batch: RecordBatch, wire: &SchemaRef) -> Result<RecordBatch, FlightError> {
    if batch.schema().fields() == wire.fields() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(wire.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                arrow::compute::cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(FlightError::Arrow)?;
    RecordBatch::try_new_with_options(
        Arc::clone(wire),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(FlightError::Arrow)
}

/// A planned query's rows as Flight data, the bill in the last message's `app_metadata`. Dropped by its reader
/// (the client went away), the query is cancelled, billed for what it read.
fn rows(planned: Planned) -> FlightStream {
    let Planned {
        exec,
        results,
        schema,
        ..
    } = planned;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<FlightData, Status>>(4);
    tokio::spawn(async move {
        let wire = wire_schema(&schema);
        let batches =
            futures::stream::unfold(
                results,
                |mut r| async move { r.next().await.map(|b| (b, r)) },
            )
            .map({
                let wire = Arc::clone(&wire);
                move |b| to_wire(b, &wire)
            });
        let mut encoded = FlightDataEncoderBuilder::new()
            .with_schema(wire)
            .build(batches);
        // Each message waits for the next, so that the last one can carry the bill.
        let mut held: Option<FlightData> = None;
        while let Some(item) = encoded.next().await {
            match item {
                Ok(data) => {
                    if let Some(prev) = held.replace(data)
                        && tx.send(Ok(prev)).await.is_err()
                    {
                        exec.cancel();
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(Status::from(e))).await;
                    exec.cancel();
                    return;
                }
            }
        }
        let outcome = exec.wait().await;
        let s = &outcome.stats;
        let bill = serde_json::json!({
            "query_id": exec.id(),
            "state": s.state.as_str(),
            "rows": s.rows,
            "bytes_scanned": s.bytes_scanned,
            "billed_bytes": s.billed_bytes,
            "cost_usd": s.cost_usd,
        });
        match &outcome.ending {
            Ending::Succeeded => {
                if let Some(mut last) = held {
                    last.app_metadata = Bytes::from(bill.to_string());
                    let _ = tx.send(Ok(last)).await;
                }
            }
            Ending::Failed(e) => {
                let _ = tx.send(Err(status(e))).await;
            }
            Ending::Cancelled { reason } => {
                let _ = tx
                    .send(Err(Status::cancelled(format!(
                        "query {} was cancelled{}: {bill}",
                        exec.id(),
                        reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    ))))
                    .await;
            }
        }
    });
    Box::pin(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let user = match &self.server().options().credentials {
            Some(_) => self.check_basic(&auth)?,
            None => basic(&auth).map_or_else(|| "anonymous".into(), |(u, _)| u),
        };
        let token = uuid::Uuid::new_v4().simple().to_string();
        lock(&self.shared.tokens).insert(token.clone(), user);
        let output = futures::stream::iter(vec![Ok(HandshakeResponse {
            protocol_version: 0,
            payload: Bytes::from(token.clone()),
        })]);
        let mut response: Response<Pin<Box<dyn Stream<Item = _> + Send>>> =
            Response::new(Box::pin(output));
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::internal("a token that is not a header value"))?;
        response.metadata_mut().insert("authorization", value);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request)?;
        let statement = one_statement(self.server(), &query.query)?;
        self.plan(
            caller,
            statement,
            &query.query,
            vec![],
            request.into_inner(),
        )
        .await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let caller = self.caller(&request)?;
        let prepared = lock(&self.shared.prepared)
            .get(&cmd.prepared_statement_handle)
            .filter(|p| p.user == caller.user)
            .cloned()
            .ok_or_else(|| {
                Status::not_found("no such prepared statement (closed, or another user's)")
            })?;
        if prepared.bound.len() < prepared.params.len() {
            return Err(Status::invalid_argument(format!(
                "the prepared statement has {} parameters and {} values are bound (DoPut them first)",
                prepared.params.len(),
                prepared.bound.len()
            )));
        }
        self.plan(
            caller,
            prepared.statement,
            &prepared.text,
            prepared.bound,
            request.into_inner(),
        )
        .await
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let caller = self.caller(&request)?;
        let id = String::from_utf8_lossy(&ticket.statement_handle).to_string();
        let mut tickets = lock(&self.shared.tickets);
        let planned = match tickets.get(&id) {
            Some(p) if p.user == caller.user => tickets.remove(&id),
            _ => None,
        }
        .ok_or_else(|| {
            Status::not_found(format!(
                "no query waits under ticket {id}: a ticket is redeemed once, by the user whose \
                 GetFlightInfo made it, within {} s",
                UNCLAIMED.as_secs()
            ))
        })?;
        drop(tickets);
        Ok(Response::new(rows(planned)))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let caller = self.caller(&request)?;
        let statement = one_statement(self.server(), &query.query)?;
        let engine = self.server().engine().clone();
        let described = statement.clone();
        let database = caller.database.clone();
        let runtime = tokio::runtime::Handle::current();
        let (params, schema) = tokio::task::spawn_blocking(move || {
            runtime.block_on(engine.describe(&described, database.as_deref(), Dialect::Athena))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| status(&e))?;
        let parameter_schema = Schema::new(
            params
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    Field::new(
                        format!("${}", i + 1),
                        t.clone().unwrap_or(DataType::Utf8),
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        );
        let handle = Bytes::from(uuid::Uuid::new_v4().simple().to_string());
        lock(&self.shared.prepared).insert(
            handle.clone(),
            Prepared {
                user: caller.user,
                text: query.query,
                statement,
                params,
                bound: vec![],
            },
        );
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle,
            dataset_schema: schema_ipc(&wire_schema(&schema))?,
            parameter_schema: schema_ipc(&parameter_schema)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let caller = self.caller(&request)?;
        let stream = request.into_inner().map_err(FlightError::from);
        let batches: Vec<RecordBatch> =
            arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(stream)
                .try_collect()
                .await
                .map_err(|e| Status::invalid_argument(format!("the parameters: {e}")))?;
        let values = match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) if b.num_rows() > 1 => {
                return Err(Status::invalid_argument(
                    "one row of parameter values per execution (got several)",
                ));
            }
            Some(b) => b
                .columns()
                .iter()
                .map(|c| ScalarValue::try_from_array(c, 0))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(e.to_string()))?,
            None => vec![],
        };
        let mut prepared = lock(&self.shared.prepared);
        let p = prepared
            .get_mut(&cmd.prepared_statement_handle)
            .filter(|p| p.user == caller.user)
            .ok_or_else(|| {
                Status::not_found("no such prepared statement (closed, or another user's)")
            })?;
        p.bound = values;
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(cmd.prepared_statement_handle),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        query: ActionClosePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<(), Status> {
        let caller = self.caller(&request)?;
        let mut prepared = lock(&self.shared.prepared);
        match prepared.get(&query.prepared_statement_handle) {
            Some(p) if p.user == caller.user => {
                prepared.remove(&query.prepared_statement_handle);
                Ok(())
            }
            _ => Err(Status::not_found("no such prepared statement")),
        }
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.into_builder().schema();
        command_info(&query, &schema, request)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let mut builder = query.into_builder();
        builder.append(crate::engine::CATALOG_NAME);
        stream_of(builder.schema(), builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        command_info(&query, &schema, request)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let mut builder = query.into_builder();
        for db in self
            .server()
            .engine()
            .registry()
            .databases()
            .map_err(|e| status(&e))?
        {
            builder.append(crate::engine::CATALOG_NAME, db);
        }
        stream_of(builder.schema(), builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder().schema();
        command_info(&query, &schema, request)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let include_schema = query.include_schema;
        let mut builder = query.into_builder();
        let engine = self.server().engine();
        let catalog = engine
            .catalogs()
            .catalog(crate::engine::CATALOG_NAME)
            .ok_or_else(|| Status::internal("the registry's catalog is missing"))?;
        for db in engine.registry().databases().map_err(|e| status(&e))? {
            let Some(schema_provider) = catalog.schema(&db) else {
                continue;
            };
            for table in engine.registry().table_names(&db).map_err(|e| status(&e))? {
                let table_schema = match include_schema {
                    true => match schema_provider.table(&table).await {
                        Ok(Some(t)) => t.schema(),
                        _ => continue,
                    },
                    false => Arc::new(Schema::empty()),
                };
                builder
                    .append(
                        crate::engine::CATALOG_NAME,
                        &db,
                        &table,
                        "TABLE",
                        &table_schema,
                    )
                    .map_err(Status::from)?;
            }
        }
        stream_of(builder.schema(), builder.build())
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        command_info(&query, &table_types(), request)
    }

    async fn do_get_table_types(
        &self,
        _query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let schema = Arc::new(table_types());
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(arrow::array::StringArray::from(vec!["TABLE"]))],
        );
        stream_of(schema, batch)
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.caller(&request)?;
        let schema = query.clone().into_builder(&SQL_INFO).schema();
        command_info(&query, &schema, request)
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.caller(&request)?;
        let builder = query.into_builder(&SQL_INFO);
        stream_of(builder.schema(), builder.build())
    }

    #[allow(deprecated)]
    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let caller = self.caller(&request)?;
        let info =
            FlightInfo::decode(query.info).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let result = match self.cancel(&caller, Some(&info)) {
            CancelStatus::Cancelled => 1,
            CancelStatus::NotCancellable => 3,
            _ => {
                return Err(Status::not_found(
                    "the FlightInfo names no query of this server",
                ));
            }
        };
        Ok(ActionCancelQueryResult { result })
    }

    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        if request.get_ref().r#type != "CancelFlightInfo" {
            return Err(Status::invalid_argument(format!(
                "unknown action `{}`",
                request.get_ref().r#type
            )));
        }
        let caller = self.caller(&request)?;
        let body = CancelFlightInfoRequest::decode(request.get_ref().body.clone())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let status = self.cancel(&caller, body.info.as_ref());
        if status == CancelStatus::Unspecified {
            return Err(Status::not_found(
                "the FlightInfo names no query of this server",
            ));
        }
        let result = CancelFlightInfoResult {
            status: status as i32,
        };
        let out = arrow_flight::Result {
            body: result.encode_to_vec().into(),
        };
        Ok(Response::new(Box::pin(futures::stream::iter(vec![Ok(
            out,
        )]))))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}
