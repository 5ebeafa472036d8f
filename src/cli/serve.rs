//! `owl serve`: the registry as a service (Athena's API over HTTP; see `crate::server`), until SIGTERM or
//! Ctrl-C. Then queries still queued or running are cancelled, billed and written to the history before exit.

use super::{ExitStatus, Interrupts, print_error, status_of};
use crate::engine::Engine;
use crate::error::Error;
use crate::server::{ServeOptions, Server, sigv4};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on: loopback unless told (`0.0.0.0:8900` needs --credentials); port 0 picks one.
    #[arg(long, env = "OWL_LISTEN", default_value = "127.0.0.1:8900")]
    listen: SocketAddr,
    /// Callers to accept, a JSON file: {"credentials": [{"access_key_id", "secret_access_key",
    /// "workgroups": ["primary", ...] or ["*"], "services": ["athena", "glue"]}]}. Requests must then be signed
    /// (AWS Signature V4). Or set
    /// OWL_SERVE_ACCESS_KEY_ID and OWL_SERVE_SECRET_ACCESS_KEY for one caller of every work group.
    #[arg(long, env = "OWL_SERVE_CREDENTIALS", value_name = "FILE")]
    credentials: Option<PathBuf>,
    /// Queries run at once; more wait, QUEUED (default: one per core).
    #[arg(long, value_name = "N")]
    max_concurrent_queries: Option<usize>,
    /// Queries that may wait; past it StartQueryExecution answers TooManyRequestsException.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_queued_queries: usize,
    /// A local folder clients may name as a result location (repeatable; `<catalog>/.results` always).
    #[arg(long = "allow-root", value_name = "DIR")]
    allow_roots: Vec<PathBuf>,
    /// Address of the PostgreSQL wire protocol (psql, JDBC, BI tools): loopback unless told; port 0 picks one.
    #[arg(
        long,
        env = "OWL_PG_LISTEN",
        value_name = "ADDR",
        default_value = "127.0.0.1:5433"
    )]
    pg: SocketAddr,
    /// No PostgreSQL listener.
    #[arg(long, conflicts_with_all = ["pg_tls_cert", "pg_tls_key"])]
    no_pg: bool,
    /// Address of Arrow Flight SQL (ADBC, pyarrow, JDBC's Flight SQL driver), e.g. 127.0.0.1:50051; off unless
    /// given.
    #[arg(long, env = "OWL_FLIGHT_LISTEN", value_name = "ADDR")]
    flight: Option<SocketAddr>,
    /// TLS for the PostgreSQL listener: a PEM certificate chain (with --pg-tls-key).
    #[arg(long, value_name = "FILE", requires = "pg_tls_key")]
    pg_tls_cert: Option<PathBuf>,
    /// TLS for the PostgreSQL listener: the certificate's PEM private key.
    #[arg(long, value_name = "FILE", requires = "pg_tls_cert")]
    pg_tls_key: Option<PathBuf>,
    /// TLS for the Flight SQL listener (`grpc+tls://`): a PEM certificate chain (with --flight-tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["flight_tls_key", "flight"])]
    flight_tls_cert: Option<PathBuf>,
    /// TLS for the Flight SQL listener: the certificate's PEM private key.
    #[arg(long, value_name = "FILE", requires = "flight_tls_cert")]
    flight_tls_key: Option<PathBuf>,
}

impl ServeArgs {
    /// The folders statements may name (`Settings::allowed_roots`), absolute.
    pub(crate) fn allowed_roots(&self) -> Vec<PathBuf> {
        self.allow_roots
            .iter()
            .map(|r| std::path::absolute(r).unwrap_or_else(|_| r.clone()))
            .collect()
    }
}

fn credentials(args: &ServeArgs) -> crate::error::Result<Option<Vec<sigv4::Credential>>> {
    if let Some(path) = &args.credentials {
        return sigv4::load(path).map(Some);
    }
    let id = std::env::var("OWL_SERVE_ACCESS_KEY_ID").ok();
    let secret = std::env::var("OWL_SERVE_SECRET_ACCESS_KEY").ok();
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
            Ok(Some(vec![sigv4::Credential::new(id, secret)]))
        }
        (None, None) => Ok(None),
        _ => Err(Error::Query(
            "set both OWL_SERVE_ACCESS_KEY_ID and OWL_SERVE_SECRET_ACCESS_KEY, or neither".into(),
        )),
    }
}

pub async fn run(engine: &Engine, args: ServeArgs, interrupts: &Interrupts) -> ExitStatus {
    let credentials = match credentials(&args) {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    let signed = credentials.as_ref().map(Vec::len);
    let max_concurrent = args.max_concurrent_queries.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(4, std::num::NonZeroUsize::get)
    });
    if credentials.is_none() && !args.no_pg && !args.pg.ip().is_loopback() {
        print_error(&Error::Query(format!(
            "refusing to listen on {} (Postgres) without credentials: anyone who can reach it could run \
             queries. Give --credentials FILE, or --pg 127.0.0.1:PORT",
            args.pg
        )));
        return ExitStatus::UserError;
    }
    if let Some(flight) = args.flight
        && credentials.is_none()
        && !flight.ip().is_loopback()
    {
        print_error(&Error::Query(format!(
            "refusing to listen on {flight} (Flight SQL) without credentials: anyone who can reach it could run \
             queries. Give --credentials FILE, or --flight 127.0.0.1:PORT"
        )));
        return ExitStatus::UserError;
    }
    let tls = match (&args.pg_tls_cert, &args.pg_tls_key) {
        (Some(cert), Some(key)) => match crate::server::pg::tls(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                print_error(&e);
                return status_of(&e);
            }
        },
        _ => None,
    };
    let flight_tls = match (&args.flight_tls_cert, &args.flight_tls_key) {
        (Some(cert), Some(key)) => match crate::server::flight::tls(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                print_error(&e);
                return status_of(&e);
            }
        },
        _ => None,
    };
    let options = ServeOptions {
        credentials,
        max_concurrent,
        max_queued: args.max_queued_queries,
        allow_roots: args.allow_roots.clone(),
    };
    let server = match Server::new(engine.clone(), options, &args.listen) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            print_error(&Error::Query(format!(
                "cannot listen on {}: {e}",
                args.listen
            )));
            return ExitStatus::UserError;
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    let pg = match args.no_pg {
        true => None,
        false => match tokio::net::TcpListener::bind(args.pg).await {
            Ok(l) => Some(crate::server::pg::PgListener { listener: l, tls }),
            Err(e) => {
                print_error(&Error::Query(format!(
                    "cannot listen on {} for Postgres clients: {e} (another server there? give --pg ADDR, \
                     or --no-pg)",
                    args.pg
                )));
                return ExitStatus::UserError;
            }
        },
    };
    let flight = match args.flight {
        None => None,
        Some(at) => match tokio::net::TcpListener::bind(at).await {
            Ok(listener) => Some(crate::server::flight::FlightListener {
                listener,
                tls: flight_tls,
            }),
            Err(e) => {
                print_error(&Error::Query(format!(
                    "cannot listen on {at} for Flight SQL clients: {e}"
                )));
                return ExitStatus::UserError;
            }
        },
    };
    let flight_line = match &flight {
        Some(f) => format!(
            " · {}://{}",
            if f.tls.is_some() { "grpc+tls" } else { "grpc" },
            f.listener
                .local_addr()
                .map_or_else(|_| "?".into(), |a| a.to_string())
        ),
        None => String::new(),
    };
    let pg_line = match &pg {
        Some(p) => format!(
            " · postgres://{}{}",
            p.listener.local_addr().unwrap_or(args.pg),
            if p.tls.is_some() { " (TLS)" } else { "" }
        ),
        None => String::new(),
    };
    eprintln!(
        "owl serve: listening on http://{addr}{pg_line}{flight_line} · registry {} · {max_concurrent} queries at once · {}",
        engine.settings().catalog_dir.display(),
        match signed {
            Some(n) => format!("requests signed by {n} credential(s)"),
            None => "no credentials: any local caller".into(),
        }
    );
    let stop = {
        let interrupts = interrupts.clone();
        async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match signal(SignalKind::terminate()) {
                    Ok(mut term) => tokio::select! {
                        _ = term.recv() => {},
                        () = interrupts.next() => {},
                    },
                    Err(_) => interrupts.next().await,
                }
            }
            #[cfg(not(unix))]
            interrupts.next().await;
        }
    };
    let live = Arc::clone(server.queries());
    let served = Arc::clone(&server).serve(listener, pg, flight, stop).await;
    let left = live.live().len();
    match served {
        Ok(()) => {
            eprintln!("owl serve: stopped ({left} queries still open were cancelled)");
            ExitStatus::Ok
        }
        Err(e) => {
            print_error(&e);
            status_of(&e)
        }
    }
}
