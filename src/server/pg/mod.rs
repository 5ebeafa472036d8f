//! `owl serve --pg`: the PostgreSQL wire protocol (v3), so psql, JDBC/ODBC drivers, psycopg, asyncpg and BI
//! tools reach the registry as they reach a Postgres server. pgwire speaks the protocol; owl answers it:
//!
//! - `mod.rs`: the listener (TLS when given a certificate), who may connect (SCRAM-SHA-256 against the server's
//!   credentials: the user is an access key id, the password its secret), cancel requests.
//! - `session`: one connection's statements, simple and extended protocol: each runs through the server's
//!   queries (`super::queries::Queries`: the same queue, limits, meter, bill and history as Athena's API), its
//!   rows streamed as they are computed, its bill sent after them as a NOTICE.
//!
//! The invariant: a statement a Postgres client sends is a query of the server like any other. It is queued
//! with the others, billed, and written to the history under the connection's work group, whatever happens to
//! the connection: a cancel request, or a client that goes away mid-result, ends it CANCELLED and billed for
//! what it read; no other connection notices.

mod session;

use super::Server;
use super::sigv4::Credential;
use crate::engine::QueryExecution;
use crate::error::{Error, Result};
use bytes::Bytes;
use pgwire::api::auth::sasl::SASLAuthStartupHandler;
use pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::{
    ClientInfo, PgWireServerHandlers, PidSecretKeyGenerator, RandomPidSecretKeyGenerator,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use pgwire::tokio::tokio_rustls::TlsAcceptor;
use pgwire::tokio::tokio_rustls::rustls;
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// SCRAM's PBKDF2 iterations (Postgres's default).
const SCRAM_ITERATIONS: usize = 4096;

/// A bound Postgres listener and, when it has a certificate, its TLS.
pub struct PgListener {
    pub listener: tokio::net::TcpListener,
    pub tls: Option<TlsAcceptor>,
}

impl Debug for PgListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgListener")
            .field("listener", &self.listener)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// TLS for the Postgres listener from a PEM certificate chain and private key (clients ask for it with
/// `sslmode=require`; without it they are told the server has none).
pub fn tls(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    Ok(TlsAcceptor::from(Arc::new(tls_config(cert, key)?)))
}

/// A TLS server configuration (rustls, ring) from a PEM certificate chain and its private key.
pub fn tls_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &Path, reason: String| Error::InvalidLocation {
        location: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, format!("not a PEM certificate: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(bad(cert, "holds no certificate".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(key, format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal("TLS", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| bad(key, format!("does not match the certificate: {e}")))?;
    Ok(config)
}

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    server: Arc<Server>,
    /// Running statements by their connection's (process id, secret key), for cancel requests.
    running: Mutex<HashMap<(i32, Bytes), QueryExecution>>,
    parameters: Arc<DefaultServerParameterProvider>,
    /// Process ids and secret keys of connections (one sequence for the server: cancel keys never collide).
    keys: Arc<RandomPidSecretKeyGenerator>,
}

impl Shared {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<(i32, Bytes), QueryExecution>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Accept Postgres connections until `shutdown` resolves (the server's queries are then shut down by its
/// caller). Each connection runs on a task of its own.
pub async fn serve(server: Arc<Server>, pg: PgListener, shutdown: impl Future<Output = ()>) {
    let mut parameters = DefaultServerParameterProvider::default();
    parameters.server_version = crate::engine::postgres::POSTGRES_VERSION.to_string();
    parameters.search_path = server.engine().database();
    parameters.is_superuser = false;
    parameters.default_transaction_read_only = true;
    let shared = Arc::new(Shared {
        server,
        running: Mutex::default(),
        parameters: Arc::new(parameters),
        keys: Arc::new(RandomPidSecretKeyGenerator::default()),
    });
    tokio::pin!(shutdown);
    loop {
        let socket = tokio::select! {
            () = &mut shutdown => return,
            accepted = pg.listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let handlers = Handlers::new(Arc::clone(&shared));
        let tls = pg.tls.clone();
        tokio::spawn(async move {
            // A connection's failure (a client gone, a malformed message) is that connection's alone.
            let _ = pgwire::tokio::process_socket(socket, tls, handlers).await;
        });
    }
}

/// One connection's handlers (pgwire asks for them once per connection).
struct Handlers {
    session: Arc<session::Session>,
    startup: Arc<Startup>,
    cancel: Arc<Canceller>,
}

impl Handlers {
    fn new(shared: Arc<Shared>) -> Self {
        let startup = match shared.server.options().credentials.clone() {
            Some(credentials) => Startup::Scram(
                SASLAuthStartupHandler::new(Arc::clone(&shared.parameters))
                    .with_pid_secret_key_generator(Arc::clone(&shared.keys) as _)
                    .with_scram({
                        let mut scram = ScramAuth::new(Arc::new(Users(credentials)));
                        scram.set_iterations(SCRAM_ITERATIONS);
                        scram
                    }),
            ),
            None => Startup::Open(Arc::clone(&shared)),
        };
        Handlers {
            session: Arc::new(session::Session::new(Arc::clone(&shared))),
            startup: Arc::new(startup),
            cancel: Arc::new(Canceller(shared)),
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl pgwire::api::query::SimpleQueryHandler> {
        Arc::clone(&self.session)
    }

    fn extended_query_handler(&self) -> Arc<impl pgwire::api::query::ExtendedQueryHandler> {
        Arc::clone(&self.session)
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::clone(&self.startup)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::clone(&self.cancel)
    }
}

/// Who may connect: SCRAM-SHA-256 with the server's credentials, or anyone on loopback when it has none.
enum Startup {
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
    /// A server without credentials: every (loopback) client is let in, as its HTTP API lets in every caller.
    Open(Arc<Shared>),
}

#[async_trait::async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as futures::Sink<PgWireBackendMessage>>::Error>,
    {
        match self {
            Startup::Scram(h) => h.on_startup(client, message).await,
            Startup::Open(shared) => {
                use pgwire::api::auth::{
                    finish_authentication, protocol_negotiation,
                    save_startup_parameters_to_metadata,
                };
                if let PgWireFrontendMessage::Startup(ref startup) = message {
                    protocol_negotiation(client, startup).await?;
                    save_startup_parameters_to_metadata(client, startup);
                    let (pid, key) = shared.keys.generate(client);
                    client.set_pid_and_secret_key(pid, key);
                    finish_authentication(client, shared.parameters.as_ref()).await?;
                }
                Ok(())
            }
        }
    }
}

/// The server's credentials as Postgres users: the access key id is the user name, the secret its password.
/// A credential that may not use Athena may not connect (queries are Athena's).
#[derive(Debug)]
struct Users(Vec<Credential>);

#[async_trait::async_trait]
impl AuthSource for Users {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = login.user().unwrap_or_default();
        let found = self
            .0
            .iter()
            .find(|c| c.access_key_id == user && c.may_call("athena"));
        // An unknown user is told what a wrong password is told (nothing about which users exist): a random
        // password nobody can know.
        let secret = match found {
            Some(c) => c.secret_access_key.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let salt: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
        let salted = gen_salted_password(&secret, &salt, SCRAM_ITERATIONS);
        Ok(Password::new(Some(salt.to_vec()), salted))
    }
}

/// Cancel requests (psql's Ctrl-C): they arrive on a connection of their own, naming the connection whose
/// statement to stop by its process id and secret key.
struct Canceller(Arc<Shared>);

#[async_trait::async_trait]
impl CancelHandler for Canceller {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        let running = self.0.running().get(&key).cloned();
        if let Some(exec) = running {
            exec.cancel();
        }
    }
}
