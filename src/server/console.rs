//! The web console on the server's HTTP listener (`GET /`): Athena's query editor in the browser. Its files are
//! the bundle `build.rs` builds from `console/` (TypeScript, Vite) and embeds in the binary.
//!
//! - `POST /console/login` with the access key and secret the server accepts gives a session: an `HttpOnly`,
//!   `SameSite=Strict` cookie, and a CSRF token the page keeps and sends back in `X-Owl-Csrf`.
//! - `POST /console/api` runs one operation, `{"Target": "AmazonAthena.StartQueryExecution", "Input": {...}}`,
//!   through the same code as a signed AWS request ([`Server::dispatch`]), for the session's access key, with
//!   its work groups and services: the console is one more client of the Athena and Glue APIs, and every query
//!   it runs is in the history as the SDKs' are. `Owl.*` targets add what those APIs lack: the estimate of a
//!   statement before it runs, a query's whole result at once, its plan.
//! - `GET /console/results/<id>.csv`: a query's result file (Athena's CSV), for download.
//!
//! Writes need the session's cookie, its CSRF token and (when the browser sends one) an `Origin` that is this
//! server, so another site's page can neither read nor run anything.

use super::{ApiError, Caller, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// One file of the console's bundle.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    raw: &'static [u8],
    gzipped: Option<&'static [u8]>,
}

mod bundle {
    use super::Asset;
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// The session cookie's name.
pub const COOKIE: &str = "owl_console";
/// The header that carries a session's CSRF token.
pub const CSRF_HEADER: &str = "x-owl-csrf";
/// How long a session lasts without a new login.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; past it the oldest go.
const MAX_SESSIONS: usize = 10_000;
/// Queries one comparison runs at most (each on every format's copy).
const MAX_COMPARED_QUERIES: usize = 10;
/// Rows of one result sent to the grid; the result file has them all.
const MAX_GRID_ROWS: usize = 1_000_000;
/// The largest console request (a query is at most 262,144 bytes).
const MAX_BODY: usize = 1 << 20;
/// What the console's page may do: its own scripts and styles, nothing inline but styles (the editor's), no
/// frames, no plugins, requests only to this server.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";

/// The console's logged-in sessions, by cookie.
#[derive(Debug, Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
}

#[derive(Debug, Clone)]
struct Session {
    user: String,
    csrf: String,
    expires: Instant,
}

impl Sessions {
    fn open(&self, user: &str) -> (String, Session) {
        let session = Session {
            user: user.to_string(),
            csrf: secret_token(),
            expires: Instant::now() + SESSION_TTL,
        };
        let token = secret_token();
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(t, _)| t.clone())
        {
            map.remove(&oldest);
        }
        map.insert(token.clone(), session.clone());
        (token, session)
    }

    fn get(&self, token: &str) -> Option<Session> {
        let map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.get(token)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    fn close(&self, token: &str) {
        let mut map = self.by_token.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(token);
    }
}

/// 244 random bits (two version-4 UUIDs, from the operating system's generator) as 64 hex digits.
fn secret_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether the console answers `req`: every GET, and POSTs under `/console/` (the AWS protocol is `POST /`).
pub fn is_console(req: &Request<Incoming>) -> bool {
    matches!(*req.method(), Method::GET | Method::HEAD) || req.uri().path().starts_with("/console/")
}

pub async fn handle(server: &Arc<Server>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let get = matches!(parts.method, Method::GET | Method::HEAD);
    let head = parts.method == Method::HEAD;
    let gzip = parts
        .headers
        .get_all(hyper::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            // `gzip;q=0` refuses it.
            let mut parts = e.split(';').map(str::trim);
            parts.next() == Some("gzip")
                && parts.all(|p| {
                    p.strip_prefix("q=")
                        .is_none_or(|q| q.parse::<f64>().map_or(true, |q| q > 0.0))
                })
        });
    let answer = match (get, parts.method == Method::POST, path.as_str()) {
        (true, _, "/" | "/index.html") => return file("index.html", head, gzip),
        (true, _, p) if p.starts_with("/assets/") => return file(&p[1..], head, gzip),
        (true, _, "/console/session") => who(server, &parts).map(|(caller, s)| {
            json!({
                "User": caller.user,
                "CsrfToken": s.csrf,
                "WorkGroup": server.workgroup_for(caller.credential.as_ref(), None),
                "Functions": server.engine().function_names(),
            })
        }),
        (true, _, p) if p.starts_with("/console/results/") => {
            return download(server, &parts, &p["/console/results/".len()..]).await;
        }
        (_, true, "/console/login") => return login(server, &parts, body).await,
        (_, true, "/console/logout") => logout(server, &parts),
        (_, true, "/console/api") => api(server, &parts, body).await,
        _ => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            ..ApiError::new(
                "ResourceNotFoundException",
                format!("{} {path}: no such page", parts.method),
            )
        }),
    };
    match answer {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => json_response(e.status, &json!({ "__type": e.code, "Message": e.message })),
    }
}

/// One of the bundle's files (gzipped when the browser accepts it).
fn file(name: &str, head: bool, gzip: bool) -> Response<Full<Bytes>> {
    let Some(asset) = bundle::ASSETS.iter().find(|a| a.name == name) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "__type": "ResourceNotFoundException", "Message": format!("/{name}: no such file") }),
        );
    };
    // Vite names assets by their content's hash: they never change under a name. The page itself is checked
    // each time, so a new owl is seen at once.
    let cache = if name == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    let (bytes, encoding) = match asset.gzipped {
        Some(gz) if gzip => (gz, Some("gzip")),
        _ => (asset.raw, None),
    };
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(bytes)
    };
    let mut builder = with_security_headers(Response::builder())
        .status(StatusCode::OK)
        .header("content-type", asset.content_type)
        .header("cache-control", cache)
        .header("content-security-policy", CSP)
        .header("vary", "accept-encoding");
    if let Some(e) = encoding {
        builder = builder.header("content-encoding", e);
    }
    builder
        .body(Full::new(body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn with_security_headers(b: hyper::http::response::Builder) -> hyper::http::response::Builder {
    b.header("x-content-type-options", "nosniff")
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
}

fn json_response(status: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    with_security_headers(Response::builder())
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(v.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn unauthorized(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        ..ApiError::new("AccessDeniedException", message)
    }
}

/// The session's cookie in a request.
fn cookie(parts: &hyper::http::request::Parts) -> Option<String> {
    parts
        .headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The caller of a request with a live session's cookie.
fn who(
    server: &Server,
    parts: &hyper::http::request::Parts,
) -> Result<(Caller, Session), ApiError> {
    let token =
        cookie(parts).ok_or_else(|| unauthorized("not logged in: log in to the console first"))?;
    let session = server
        .console
        .get(&token)
        .ok_or_else(|| unauthorized("the console session is over: log in again"))?;
    let caller = Caller {
        credential: server.credential(&session.user).cloned(),
        user: session.user.clone(),
    };
    Ok((caller, session))
}

/// A write must come from this server's own page: its `Origin`, when the browser sends one, is this host.
fn same_origin(parts: &hyper::http::request::Parts) -> Result<(), ApiError> {
    let Some(origin) = parts.headers.get(hyper::header::ORIGIN) else {
        return Ok(());
    };
    let host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| !host.is_empty() && o == host);
    if own {
        Ok(())
    } else {
        Err(ApiError::auth(
            "AccessDeniedException",
            "a request from another site's page is refused",
        ))
    }
}

async fn read_json(body: Incoming) -> Result<Value, ApiError> {
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            ApiError::new(
                "SerializationException",
                format!("the request body is unreadable or over {MAX_BODY} bytes"),
            )
        })?
        .to_bytes();
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            "SerializationException",
            format!("the request body is not JSON: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(ApiError::new(
            "SerializationException",
            "the request body is not a JSON object",
        ));
    }
    Ok(v)
}

async fn login(
    server: &Arc<Server>,
    parts: &hyper::http::request::Parts,
    body: Incoming,
) -> Response<Full<Bytes>> {
    let outcome = async {
        same_origin(parts)?;
        let input = read_json(body).await?;
        let key = super::input::req_str(&input, "AccessKeyId")?;
        let secret = super::input::opt_str(&input, "SecretAccessKey")?.unwrap_or("");
        let user = match &server.options().credentials {
            Some(credentials) => {
                let known = credentials.iter().find(|c| c.access_key_id == key);
                let matches = known.is_some_and(|c| {
                    bool::from(c.secret_access_key.as_bytes().ct_eq(secret.as_bytes()))
                });
                if !matches {
                    // As slow to refuse as to accept, and slow enough that guessing takes forever.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    return Err(unauthorized(
                        "the access key and secret are not ones this server accepts",
                    ));
                }
                key.to_string()
            }
            // A server without credentials takes any caller on loopback; the key only names them.
            None if key.is_empty() => "anonymous".to_string(),
            None => key.to_string(),
        };
        let (token, session) = server.console.open(&user);
        Ok::<_, ApiError>((token, session))
    }
    .await;
    match outcome {
        Ok((token, session)) => {
            let mut response = json_response(
                StatusCode::OK,
                &json!({ "User": session.user, "CsrfToken": session.csrf }),
            );
            let cookie = format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION_TTL.as_secs()
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(hyper::header::SET_COOKIE, v);
            }
            response
        }
        Err(e) => json_response(e.status, &json!({ "__type": e.code, "Message": e.message })),
    }
}

fn logout(server: &Server, parts: &hyper::http::request::Parts) -> Result<Value, ApiError> {
    same_origin(parts)?;
    let (_, session) = who(server, parts)?;
    check_csrf(parts, &session)?;
    if let Some(token) = cookie(parts) {
        server.console.close(&token);
    }
    Ok(json!({}))
}

fn check_csrf(parts: &hyper::http::request::Parts, session: &Session) -> Result<(), ApiError> {
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or(b"");
    if bool::from(sent.ct_eq(session.csrf.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::auth(
            "AccessDeniedException",
            "the request lacks the console session's CSRF token",
        ))
    }
}

async fn api(
    server: &Arc<Server>,
    parts: &hyper::http::request::Parts,
    body: Incoming,
) -> Result<Value, ApiError> {
    same_origin(parts)?;
    let (caller, session) = who(server, parts)?;
    check_csrf(parts, &session)?;
    let request = read_json(body).await?;
    let target = super::input::req_str(&request, "Target")?;
    let input = request.get("Input").cloned().unwrap_or_else(|| json!({}));
    match target.split_once('.') {
        Some(("Owl", operation)) => owl(server, &caller, operation, &input).await,
        _ => server.dispatch(&caller, target, &input).await,
    }
}

/// The console's own operations.
async fn owl(
    server: &Arc<Server>,
    caller: &Caller,
    operation: &str,
    input: &Value,
) -> Result<Value, ApiError> {
    use super::input::{opt_str, req_str};
    match operation {
        // What a statement would scan and cost, and whether its work group's cutoff would stop it.
        "Estimate" => {
            caller.check_service("athena", "StartQueryExecution")?;
            let sql = req_str(input, "QueryString")?;
            let wg = opt_str(input, "WorkGroup")?.unwrap_or(crate::engine::DEFAULT_WORKGROUP);
            caller.check_workgroup("StartQueryExecution", wg)?;
            let database = opt_str(input, "Database")?;
            let engine = server.engine();
            let cutoff = crate::catalog::workgroups::WorkGroups::new(engine.registry().root())
                .get(wg)
                .ok()
                .flatten()
                .and_then(|w| w.configuration.bytes_scanned_cutoff_per_query);
            let mut statements = Vec::new();
            for stmt in engine.parse(sql)? {
                let e = engine.estimate_in(&stmt, &[], database).await?;
                let mut doc = serde_json::to_value(&e).unwrap_or_default();
                doc["sql"] = json!(stmt.to_string());
                doc["over_cutoff"] = json!(cutoff.is_some_and(|c| e.bytes_scanned > c));
                statements.push(doc);
            }
            Ok(json!({ "Statements": statements, "CutoffBytes": cutoff }))
        }
        // Athena's QueryExecution, with owl's bill (what it would cost were it cancelled now, while it runs)
        // and its rows.
        "GetQueryExecution" => {
            caller.check_service("athena", "GetQueryExecution")?;
            let id = req_str(input, "QueryExecutionId")?;
            let mut r = super::athena::visible(server, caller, id)?;
            // `WaitMs`: answer when the query ends, or after that long (a long poll: the page learns of the
            // end at once, without asking every few milliseconds).
            let wait = super::input::opt_int(input, "WaitMs")?
                .unwrap_or(0)
                .clamp(0, 20_000);
            if wait > 0 && !r.state.is_terminal() {
                server
                    .queries()
                    .wait_for(id, Duration::from_millis(wait as u64))
                    .await;
                r = super::athena::visible(server, caller, id)?;
            }
            let bill =
                server
                    .engine()
                    .cost_model()
                    .bill(r.bytes_scanned, r.state, r.statement_type);
            let mut out = super::athena::query_execution(&r);
            out["Bill"] = json!({
                "BytesScanned": bill.bytes_scanned,
                "BilledBytes": bill.billed_bytes,
                "CostUsd": bill.cost_usd,
                "Rows": r.rows,
                "User": r.user,
            });
            // What it read of what its tables hold (files, columns, row groups, partitions), kept with the run.
            out["Read"] = json!(r.read);
            Ok(json!({ "QueryExecution": out }))
        }
        // The work group's history from every client, newest first, filtered by state and text, with each
        // query's bill, and the totals per day (UTC) of the whole period.
        "GetHistory" => {
            caller.check_service("athena", "ListQueryExecutions")?;
            let wg = opt_str(input, "WorkGroup")?.unwrap_or(crate::engine::DEFAULT_WORKGROUP);
            caller.check_workgroup("ListQueryExecutions", wg)?;
            let days = super::input::opt_int(input, "Days")?
                .unwrap_or(30)
                .clamp(1, 366);
            let max = super::input::opt_int(input, "MaxResults")?
                .unwrap_or(500)
                .clamp(1, 5000) as usize;
            let state = opt_str(input, "State")?.filter(|s| !s.is_empty());
            let text = opt_str(input, "Text")?.map(str::to_lowercase);
            let since = chrono::Utc::now() - chrono::Duration::days(days);
            let model = server.engine().cost_model();
            let mut queries = Vec::new();
            let mut by_day: std::collections::BTreeMap<String, (u64, u64, f64, u64)> =
                std::collections::BTreeMap::new();
            for r in server.queries().list_since(Some(since)) {
                if r.workgroup != wg || r.submitted_at < since {
                    continue;
                }
                let bill = model.bill(r.bytes_scanned, r.state, r.statement_type);
                let day = by_day
                    .entry(r.submitted_at.format("%Y-%m-%d").to_string())
                    .or_default();
                day.0 += bill.bytes_scanned;
                day.1 += bill.billed_bytes;
                day.2 += bill.cost_usd;
                day.3 += 1;
                let state_name = r.state.as_str();
                if state.is_some_and(|s| state_name != s)
                    || text
                        .as_ref()
                        .is_some_and(|t| !r.sql.to_lowercase().contains(t.as_str()))
                    || queries.len() >= max
                {
                    continue;
                }
                queries.push(json!({
                    "QueryExecutionId": r.id,
                    "Query": r.sql,
                    "State": state_name,
                    "StateChangeReason": r.state_reason,
                    "SubmissionDateTime": r.submitted_at.timestamp_millis() as f64 / 1000.0,
                    "TotalExecutionTimeInMillis": r.total_ms,
                    "Rows": r.rows,
                    "User": r.user,
                    "BytesScanned": bill.bytes_scanned,
                    "BilledBytes": bill.billed_bytes,
                    "CostUsd": bill.cost_usd,
                    "Read": r.read,
                }));
            }
            let days: Vec<Value> = by_day
                .into_iter()
                .map(|(day, (scanned, billed, usd, n))| {
                    json!({ "Day": day, "BytesScanned": scanned, "BilledBytes": billed, "CostUsd": usd, "Queries": n })
                })
                .collect();
            Ok(json!({ "Queries": queries, "Days": days }))
        }
        // `owl compare`: the table copied into each format (in the registry's work folder, never the registry),
        // the queries run on every copy, and what each scanned and would cost. One at a time on a server: the
        // copies of a table are written once and shared.
        "Compare" => {
            caller.check_service("athena", "StartQueryExecution")?;
            let wg = opt_str(input, "WorkGroup")?.unwrap_or(crate::engine::DEFAULT_WORKGROUP);
            caller.check_workgroup("StartQueryExecution", wg)?;
            let table = req_str(input, "Table")?;
            let database = opt_str(input, "Database")?
                .map(str::to_string)
                .unwrap_or_else(|| server.engine().database());
            let queries = super::input::str_list(input, "Queries")?;
            if queries.is_empty() || queries.len() > MAX_COMPARED_QUERIES {
                return Err(ApiError::invalid(format!(
                    "Queries: compare 1 to {MAX_COMPARED_QUERIES} queries, not {}",
                    queries.len()
                )));
            }
            let asked = super::input::str_list(input, "Formats")?;
            let (formats, unwritable) = if asked.is_empty() {
                (
                    crate::compare::FORMATS
                        .iter()
                        .map(|(n, _, _)| n.to_string())
                        .collect(),
                    crate::compare::Unwritable::Skip,
                )
            } else {
                (asked, crate::compare::Unwritable::Fail)
            };
            if !server.engine().registry().table_exists(&database, table) {
                return Err(ApiError::invalid(format!(
                    "Table {database}.{table} was not found"
                )));
            }
            let mut settings = server.engine().settings().clone();
            settings.database = database;
            let engine = crate::engine::Engine::new(settings)?;
            static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
            let _turn = ONE_AT_A_TIME.lock().await;
            let work = crate::compare::default_work_dir(server.engine().registry().root());
            // Its writers (ORC's) are not `Send`: it runs on a thread of its own, as queries do.
            let runtime = tokio::runtime::Handle::current();
            let table = table.to_string();
            let c = tokio::task::spawn_blocking(move || {
                runtime.block_on(crate::compare::compare(
                    &engine, &table, &formats, &queries, &work, unwritable,
                ))
            })
            .await
            .map_err(|e| ApiError::internal(format!("the comparison stopped: {e}")))??;
            serde_json::to_value(c).map_err(|e| ApiError::internal(e.to_string()))
        }
        // A finished query's whole result: column names and types, and rows (null: SQL's NULL).
        "GetResults" => {
            caller.check_service("athena", "GetQueryResults")?;
            let r = super::athena::visible(server, caller, req_str(input, "QueryExecutionId")?)?;
            let file = super::athena::finished_results(server, &r).await?;
            let columns: Vec<Value> = file
                .metadata
                .columns
                .iter()
                .map(|c| json!({ "Name": c.name, "Type": c.type_name }))
                .collect();
            let shown = &file.rows[..file.rows.len().min(MAX_GRID_ROWS)];
            Ok(json!({
                "Columns": columns,
                "Rows": shown,
                "TotalRows": file.rows.len(),
                "Truncated": shown.len() < file.rows.len(),
            }))
        }
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!(
                "Owl.{operation}: the console's operations are Owl.Estimate, Owl.GetQueryExecution, Owl.GetHistory, Owl.GetResults and Owl.Compare"
            ),
        )),
    }
}

/// `GET /console/results/<id>.csv`: the query's result file, as Athena writes it.
async fn download(
    server: &Arc<Server>,
    parts: &hyper::http::request::Parts,
    name: &str,
) -> Response<Full<Bytes>> {
    let outcome = async {
        let (caller, _) = who(server, parts)?;
        caller.check_service("athena", "GetQueryResults")?;
        let id = name.strip_suffix(".csv").unwrap_or(name);
        let r = super::athena::visible(server, &caller, id)?;
        let file = super::athena::finished_results(server, &r).await?;
        let mut csv = String::new();
        if !file.metadata.columns.is_empty() {
            crate::engine::results::csv_line(
                &mut csv,
                file.metadata.columns.iter().map(|c| Some(c.name.as_str())),
            );
        }
        for row in &file.rows {
            crate::engine::results::csv_line(&mut csv, row.iter().map(|v| v.as_deref()));
        }
        Ok::<_, ApiError>((r.id, csv))
    }
    .await;
    match outcome {
        Ok((id, csv)) => with_security_headers(Response::builder())
            .status(StatusCode::OK)
            .header("content-type", "text/csv; charset=utf-8")
            .header("cache-control", "no-store")
            .header(
                "content-disposition",
                format!("attachment; filename=\"{id}.csv\""),
            )
            .body(Full::new(Bytes::from(csv)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
        Err(e) => json_response(e.status, &json!({ "__type": e.code, "Message": e.message })),
    }
}
