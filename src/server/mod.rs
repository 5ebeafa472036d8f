//! `owl serve`: owl as a service on one machine. One HTTP listener (loopback by default) answers the AWS JSON 1.1
//! protocol (`POST /`, `X-Amz-Target: <Service>.<Operation>`), so that the AWS SDKs, boto3 and PyAthena reach it
//! as they reach Athena:
//!
//! - `mod.rs`: the listener, the protocol (targets, errors as AWS shapes them), request signing, shutdown.
//! - `sigv4`: AWS Signature V4, checked against the credentials the server was given.
//! - `queries`: the server's queries: every statement goes through the engine's lifecycle
//!   (`Engine::queue` -> `QueryExecution`), at most `max_concurrent` at once, the rest QUEUED in order;
//!   finished ones are read back from the query history, their rows from their result files.
//! - `athena`: the Athena operations (`AmazonAthena.*`).
//! - `glue`: the Glue operations (`AWSGlue.*`) over the same registry; crawlers run owl's crawler.
//! - `pg`: the PostgreSQL wire protocol (`--pg`, on by default): psql, drivers and BI tools.
//! - `firehose`: the Firehose operations (`Firehose_20150804.*`): delivery streams into tables (`crate::ingest`).
//! - `console`: the web console (`GET /`), its sessions and its API over the operations above.
//! - `flight`: Arrow Flight SQL (`--flight`): ADBC, pyarrow, JDBC's Flight SQL driver; results as Arrow.
//!
//! Each protocol is a listener of its own over the same [`queries::Queries`]: one queue, one history, one set
//! of limits.

pub mod athena;
pub mod console;
pub mod firehose;
pub mod flight;
pub mod glue;
pub mod pg;
pub mod queries;
pub mod sigv4;

use crate::engine::Engine;
use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The largest request body read (Athena's largest, a 262,144-byte query, fits many times).
const MAX_BODY: usize = 8 << 20;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Callers it accepts (None: any caller, and only on loopback).
    pub credentials: Option<Vec<sigv4::Credential>>,
    /// Queries run at once; more wait, QUEUED.
    pub max_concurrent: usize,
    /// Queries that may wait; past it `StartQueryExecution` answers TooManyRequestsException.
    pub max_queued: usize,
    /// Local folders a client may name (result locations; table locations in the next operations). Empty:
    /// none but the registry's default result folder.
    pub allow_roots: Vec<PathBuf>,
}

/// An error as the AWS JSON protocol carries it: `{"__type": code, "Message": ...}` with an HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// A request that is not well formed or names something that does not exist.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new("InvalidRequestException", message)
    }

    /// A signing failure (403 as AWS answers them).
    pub fn auth(code: &'static str, message: &str) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            ..ApiError::new(code, message)
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            ..ApiError::new("InternalServerException", message)
        }
    }

    /// Athena's wording for a parameter outside its constraint.
    pub fn validation(member: &str, value: &str, constraint: &str) -> Self {
        ApiError::invalid(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: \
             Member must {constraint}"
        ))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Internal(_) | Error::InternalCause { .. } | Error::Io { .. } => {
                ApiError::internal(e.to_string())
            }
            _ => ApiError::invalid(e.to_string()),
        }
    }
}

/// Who is calling: the credential that signed the request (None on a server without credentials).
#[derive(Debug, Clone)]
pub struct Caller {
    pub credential: Option<sigv4::Credential>,
    /// The access key id, for the history (`anonymous` when the request names none).
    pub user: String,
}

impl Caller {
    /// Whether it may use work group `name`.
    pub fn may_use(&self, name: &str) -> bool {
        self.credential.as_ref().is_none_or(|c| c.may_use(name))
    }

    /// AccessDeniedException unless it may call `service` (`athena`, `glue`).
    pub fn check_service(
        &self,
        service: &str,
        operation: &str,
    ) -> std::result::Result<(), ApiError> {
        if self.credential.as_ref().is_none_or(|c| c.may_call(service)) {
            return Ok(());
        }
        Err(ApiError::new(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {service}:{operation}",
                self.user
            ),
        ))
    }

    /// AccessDeniedException unless it may use work group `name`.
    pub fn check_workgroup(&self, action: &str, name: &str) -> std::result::Result<(), ApiError> {
        if self.may_use(name) {
            return Ok(());
        }
        Err(ApiError::new(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: athena:{action} on resource: workgroup/{name}",
                self.user
            ),
        ))
    }
}

/// The server: the engine, its queries, who may call.
#[derive(Debug)]
pub struct Server {
    engine: Engine,
    options: ServeOptions,
    queries: Arc<queries::Queries>,
    /// Held while a crawler is started (its state read and set RUNNING at once).
    crawlers: std::sync::Mutex<()>,
    /// The delivery streams, opened (their logs delivered) when the server starts serving.
    firehose: tokio::sync::OnceCell<crate::ingest::stream::Streams>,
    /// The web console's logged-in sessions.
    console: console::Sessions,
}

impl Server {
    /// A server over `engine`; refuses credentials-less listening beyond loopback.
    pub fn new(engine: Engine, options: ServeOptions, listen: &SocketAddr) -> Result<Self> {
        if options.credentials.is_none() && !listen.ip().is_loopback() {
            return Err(Error::Query(format!(
                "refusing to listen on {listen} without credentials: anyone who can reach it could run \
                 queries. Give --credentials FILE, or listen on 127.0.0.1"
            )));
        }
        let queries = Arc::new(queries::Queries::new(
            engine.clone(),
            options.max_concurrent.max(1),
            options.max_queued,
        ));
        glue::settle_crawlers(engine.registry().root());
        Ok(Server {
            engine,
            options,
            queries,
            crawlers: std::sync::Mutex::new(()),
            firehose: tokio::sync::OnceCell::new(),
            console: console::Sessions::default(),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn queries(&self) -> &Arc<queries::Queries> {
        &self.queries
    }

    pub fn options(&self) -> &ServeOptions {
        &self.options
    }

    /// The work group a protocol's client runs in: the one it asks for when that exists and its credential may
    /// use it, else `primary` when it may, else the first work group its credential names.
    pub(crate) fn workgroup_for(
        &self,
        credential: Option<&sigv4::Credential>,
        asked: Option<&str>,
    ) -> String {
        let may_use = |wg: &str| credential.is_none_or(|c| c.may_use(wg));
        let groups = crate::catalog::workgroups::WorkGroups::new(self.engine.registry().root());
        match asked {
            Some(wg) if may_use(wg) && matches!(groups.get(wg), Ok(Some(_))) => wg.to_string(),
            _ if may_use(crate::engine::DEFAULT_WORKGROUP) => {
                crate::engine::DEFAULT_WORKGROUP.to_string()
            }
            _ => credential
                .and_then(|c| c.workgroups.iter().find(|w| *w != "*").cloned())
                .unwrap_or_else(|| crate::engine::DEFAULT_WORKGROUP.to_string()),
        }
    }

    /// The credential of `user` (an access key id), when the server has credentials.
    pub(crate) fn credential(&self, user: &str) -> Option<&sigv4::Credential> {
        self.options
            .credentials
            .as_ref()
            .and_then(|cs| cs.iter().find(|c| c.access_key_id == user))
    }

    /// The delivery streams (opened on first use: `serve` opens them at its start).
    pub(crate) async fn streams(
        &self,
    ) -> std::result::Result<&crate::ingest::stream::Streams, ApiError> {
        self.firehose
            .get_or_try_init(|| crate::ingest::stream::Streams::open(self.engine.clone()))
            .await
            .map_err(ApiError::from)
    }

    pub(crate) fn crawler_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.crawlers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serve `listener` until `shutdown` resolves; then stop taking connections, cancel the queries still
    /// queued or running (each ends CANCELLED, billed, with its history entry) and return.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        pg: Option<pg::PgListener>,
        flight: Option<flight::FlightListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        // Delivery streams a killed server left deliver their logs now, not at the next put.
        if let Err(e) = self.streams().await {
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "owl serve: the delivery streams are not running: {}",
                    e.message
                );
            }
        }
        // The other listeners stop with this one.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        if let Some(pg) = pg {
            let mut stopped = stopped.clone();
            tokio::spawn(pg::serve(Arc::clone(&self), pg, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
        }
        if let Some(flight) = flight {
            let mut stopped = stopped.clone();
            tokio::spawn(flight::serve(Arc::clone(&self), flight, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }));
        }
        loop {
            let (stream, _peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    // Out of file descriptors and the like: wait a little rather than spin.
                    Err(_) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let server = Arc::clone(&self);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = Arc::clone(&server);
                    async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
        drop(listener);
        stop.send_replace(true);
        if let Some(streams) = self.firehose.get() {
            streams.shut_down().await;
        }
        self.queries.shut_down().await;
        Ok(())
    }

    async fn handle(self: &Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if console::is_console(&req) {
            return console::handle(self, req).await;
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let response = self.answer(req).await;
        let (status, body, error) = match response {
            Ok(v) => (StatusCode::OK, v, None),
            Err(e) => (
                e.status,
                json!({"__type": e.code, "Message": e.message}),
                Some(e.code),
            ),
        };
        let mut builder = Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amzn-requestid", &request_id);
        if let Some(code) = error {
            builder = builder.header("x-amzn-errortype", code);
        }
        builder
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }

    async fn answer(
        self: &Arc<Self>,
        req: Request<Incoming>,
    ) -> std::result::Result<Value, ApiError> {
        let (parts, body) = req.into_parts();
        if parts.method != hyper::Method::POST {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!(
                    "{} {}: this server answers the AWS JSON 1.1 protocol (POST / with X-Amz-Target)",
                    parts.method,
                    parts.uri.path()
                ),
            ));
        }
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return Err(ApiError::new(
                    "SerializationException",
                    format!("the request body is unreadable or over {MAX_BODY} bytes"),
                ));
            }
        };
        // Signed before anything else is looked at: an unsigned request learns nothing.
        let caller = match &self.options.credentials {
            Some(credentials) => {
                let c = sigv4::verify(
                    credentials,
                    parts.method.as_str(),
                    parts.uri.path(),
                    parts.uri.query(),
                    &parts.headers,
                    &body,
                    chrono::Utc::now(),
                )?;
                Caller {
                    user: c.access_key_id.clone(),
                    credential: Some(c.clone()),
                }
            }
            None => Caller {
                credential: None,
                user: sigv4::access_key_id(&parts.headers).unwrap_or_else(|| "anonymous".into()),
            },
        };
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let input: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&body).map_err(|e| {
                ApiError::new(
                    "SerializationException",
                    format!("the request body is not JSON: {e}"),
                )
            })?
        };
        self.dispatch(&caller, target, &input).await
    }

    /// Run operation `target` (`<Service>.<Operation>`) with `input` for `caller`, whose request was already
    /// authenticated: signed (the AWS protocol) or by a console session.
    pub(crate) async fn dispatch(
        self: &Arc<Self>,
        caller: &Caller,
        target: &str,
        input: &Value,
    ) -> std::result::Result<Value, ApiError> {
        let Some((service, operation)) = target.split_once('.') else {
            return Err(ApiError::new(
                "UnknownOperationException",
                format!("no operation named: X-Amz-Target `{target}` is not <Service>.<Operation>"),
            ));
        };
        if !input.is_object() {
            return Err(ApiError::new(
                "SerializationException",
                "the request body is not a JSON object",
            ));
        }
        match service {
            "AmazonAthena" => {
                caller.check_service("athena", operation)?;
                athena::call(self, caller, operation, input).await
            }
            // Glue names a bad request InvalidInputException.
            "AWSGlue" => async {
                caller.check_service("glue", operation)?;
                glue::call(self, caller, operation, input).await
            }
            .await
            .map_err(|e| match e.code {
                "InvalidRequestException" => ApiError {
                    code: "InvalidInputException",
                    ..e
                },
                _ => e,
            }),
            "Firehose_20150804" => {
                caller.check_service("firehose", operation)?;
                firehose::call(self, caller, operation, input).await
            }
            _ => Err(ApiError::new(
                "UnknownOperationException",
                format!(
                    "unknown service `{service}` (this server answers AmazonAthena, AWSGlue and \
                     Firehose_20150804)"
                ),
            )),
        }
    }
}

/// Field readers for a request's JSON object, with Athena's errors.
pub(crate) mod input {
    use super::ApiError;
    use serde_json::Value;
    use std::path::{Component, Path, PathBuf};

    pub fn opt_str<'a>(v: &'a Value, name: &str) -> Result<Option<&'a str>, ApiError> {
        match v.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("`{name}` must be a string"),
            )),
        }
    }

    pub fn req_str<'a>(v: &'a Value, name: &str) -> Result<&'a str, ApiError> {
        opt_str(v, name)?.ok_or_else(|| {
            ApiError::invalid(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must \
                 not be null",
                lower_first(name)
            ))
        })
    }

    pub fn opt_int(v: &Value, name: &str) -> Result<Option<i64>, ApiError> {
        match v.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(n) => n.as_i64().map(Some).ok_or_else(|| {
                ApiError::new(
                    "SerializationException",
                    format!("`{name}` must be an integer"),
                )
            }),
        }
    }

    pub fn opt_bool(v: &Value, name: &str) -> Result<Option<bool>, ApiError> {
        match v.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("`{name}` must be a boolean"),
            )),
        }
    }

    pub fn str_list(v: &Value, name: &str) -> Result<Vec<String>, ApiError> {
        match v.get(name) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::new(
                            "SerializationException",
                            format!("`{name}` must be a list of strings"),
                        )
                    })
                })
                .collect(),
            Some(_) => Err(ApiError::new(
                "SerializationException",
                format!("`{name}` must be a list"),
            )),
        }
    }

    /// `queryString` for `QueryString`, as AWS names members in its messages.
    pub fn lower_first(name: &str) -> String {
        let mut c = name.chars();
        match c.next() {
            Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
            None => String::new(),
        }
    }

    /// `MaxResults` within `1..=max` (default `max`).
    pub fn max_results(v: &Value, max: i64) -> Result<usize, ApiError> {
        match opt_int(v, "MaxResults")? {
            None => Ok(max as usize),
            Some(n) if (1..=max).contains(&n) => Ok(n as usize),
            Some(n) => Err(ApiError::validation(
                "maxResults",
                &n.to_string(),
                &format!("have value less than or equal to {max} and greater than or equal to 1"),
            )),
        }
    }

    /// A `NextToken` owl issued: the offset to go on from.
    pub fn next_token(v: &Value) -> Result<usize, ApiError> {
        match opt_str(v, "NextToken")? {
            None => Ok(0),
            Some(t) => t
                .strip_prefix("owl-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    ApiError::invalid(format!("NextToken `{t}` is not one this server gave"))
                }),
        }
    }

    pub fn token(offset: usize) -> String {
        format!("owl-{offset}")
    }

    /// One page of `all`, per the request's `MaxResults` (at most `max`) and `NextToken`.
    pub fn paged<'a, T>(
        input: &Value,
        max: i64,
        all: &'a [T],
    ) -> Result<(&'a [T], Option<String>), ApiError> {
        let n = max_results(input, max)?;
        let offset = next_token(input)?;
        if offset > all.len() {
            return Err(ApiError::invalid("NextToken is past the end of the list"));
        }
        let end = (offset + n).min(all.len());
        Ok((&all[offset..end], (end < all.len()).then(|| token(end))))
    }

    /// `v` with its `NextToken`, when there is a next page.
    pub fn with_next(mut v: Value, next: Option<String>) -> Value {
        if let Some(t) = next {
            v["NextToken"] = serde_json::json!(t);
        }
        v
    }

    /// Athena's and Glue's name `Expression`: a regular expression (`*` alone: all); one that does not
    /// compile matches itself literally.
    pub fn name_pattern(expr: &str) -> regex_lite::Regex {
        let anchored = format!("^(?:{})$", if expr == "*" { ".*" } else { expr });
        regex_lite::Regex::new(&anchored).unwrap_or_else(|_| {
            regex_lite::Regex::new(&format!("^{}$", regex_lite::escape(expr)))
                .expect("an escaped literal")
        })
    }

    /// An RFC 3339 time (as the registry keeps them) as AWS JSON's epoch seconds.
    pub fn epoch_rfc3339(text: &str) -> Value {
        chrono::DateTime::parse_from_rfc3339(text).map_or(Value::Null, |t| {
            serde_json::json!(t.timestamp_millis() as f64 / 1000.0)
        })
    }

    /// A location a client names (`member`): `s3://` as the server's own credentials allow, or an absolute
    /// local folder, with no `..`, under one of the server's `--allow-root`s (or `extra`).
    pub fn location(
        server: &super::Server,
        location: &str,
        member: &str,
        extra: Option<&Path>,
    ) -> Result<String, ApiError> {
        if location.starts_with("s3://") {
            return Ok(location.to_string());
        }
        let refused =
            |why: &str| ApiError::invalid(format!("{member} `{location}` is refused: {why}"));
        if location.contains("://") && !location.starts_with("file://") {
            return Err(refused("it is an s3:// prefix or a local folder"));
        }
        let path = Path::new(location.strip_prefix("file://").unwrap_or(location));
        if !path.is_absolute() {
            return Err(refused("a local folder must be an absolute path"));
        }
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(refused("`..` is not allowed in it"));
        }
        let allowed = extra
            .into_iter()
            .chain(server.options().allow_roots.iter().map(PathBuf::as_path))
            .map(absolute)
            .any(|r| path.starts_with(&r));
        if !allowed {
            return Err(refused(
                "it is outside the folders this server may use (--allow-root)",
            ));
        }
        Ok(path.to_string_lossy().into_owned())
    }

    /// `p` made absolute against the working directory, its `.` and `..` parts resolved (no link followed).
    pub fn absolute(p: &Path) -> PathBuf {
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        };
        let mut out = PathBuf::new();
        for c in joined.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                c => out.push(c),
            }
        }
        out
    }
}
