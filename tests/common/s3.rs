//! A real S3 protocol server for tests: s3s + s3s-fs on 127.0.0.1, SigV4 authentication on, serving a temp
//! folder (each sub-folder a bucket). It counts what it really did — requests by kind, bytes sent in object
//! response bodies — and can fail requests on purpose (503 SlowDown), so tests compare owl's meter with the
//! server's own counts and drive owl's retries and error paths over real HTTP.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub const ACCESS_KEY: &str = "AKIAOWLTESTKEY0000001";
pub const SECRET_KEY: &str = "owl-test-secret-5f1c2a9e";

type StdError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What the server did, by request kind (injected failures are counted apart).
#[derive(Debug, Default)]
pub struct Stats {
    pub body_bytes: AtomicU64,
    pub get: AtomicU64,
    pub head: AtomicU64,
    pub list: AtomicU64,
    pub other: AtomicU64,
    /// Fail this many of the next requests with 503 SlowDown.
    pub fail_next: AtomicU64,
    /// Fail every request with 503 SlowDown.
    pub fail_always: AtomicBool,
    pub injected: AtomicU64,
    /// `OWL_S3_REQUEST_LOG=<file>`: each GET of an object as `<path> <Range header>`, one a line (for
    /// looking at which ranges a reader asks for).
    pub log: Option<std::sync::Mutex<std::fs::File>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub body_bytes: u64,
    pub get: u64,
    pub head: u64,
    pub list: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Head,
    List,
    Other,
}

fn kind(req: &http::Request<Incoming>) -> Kind {
    let segments = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .count();
    match *req.method() {
        http::Method::HEAD => Kind::Head,
        http::Method::GET if segments <= 1 => Kind::List,
        http::Method::GET => Kind::Get,
        _ => Kind::Other,
    }
}

pub struct S3Server {
    pub endpoint: String,
    pub root: tempfile::TempDir,
    pub stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Lets anonymous requests in (a public bucket), for `--no-sign-request`.
struct Public;

#[async_trait::async_trait]
impl s3s::access::S3Access for Public {
    async fn check(&self, _cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        Ok(())
    }
}

impl S3Server {
    /// A server with SigV4 authentication (key [`ACCESS_KEY`], secret [`SECRET_KEY`]) and `buckets` created.
    pub fn start(buckets: &[&str]) -> Self {
        Self::start_with(buckets, false)
    }

    /// A server that also serves anonymous requests, as a public bucket does.
    pub fn start_public(buckets: &[&str]) -> Self {
        Self::start_with(buckets, true)
    }

    fn start_with(buckets: &[&str], public: bool) -> Self {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).unwrap();
        }
        let log = std::env::var_os("OWL_S3_REQUEST_LOG")
            .map(|p| std::sync::Mutex::new(std::fs::File::create(p).unwrap()));
        let stats = Arc::new(Stats {
            log,
            ..Stats::default()
        });
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let fs_root = root.path().to_path_buf();
        let st = Arc::clone(&stats);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let fs = s3s_fs::FileSystem::new(fs_root).unwrap();
                let mut b = S3ServiceBuilder::new(fs);
                b.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
                if public {
                    b.set_access(Public);
                }
                let service = b.build();
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let socket = tokio::select! {
                        r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
                        _ = &mut stop_rx => break,
                    };
                    let service = service.clone();
                    let st = Arc::clone(&st);
                    tokio::spawn(async move {
                        let handler = service_fn(move |req: http::Request<Incoming>| {
                            let service = service.clone();
                            let st = Arc::clone(&st);
                            async move { handle(service, st, req).await }
                        });
                        let _ = ConnBuilder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(socket), handler)
                            .await;
                    });
                }
            });
        });
        let addr = addr_rx.recv().unwrap();
        S3Server {
            endpoint: format!("http://{addr}"),
            root,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// The folder a bucket's objects live in.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.path().join(bucket)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            body_bytes: self.stats.body_bytes.load(Ordering::SeqCst),
            get: self.stats.get.load(Ordering::SeqCst),
            head: self.stats.head.load(Ordering::SeqCst),
            list: self.stats.list.load(Ordering::SeqCst),
        }
    }

    pub fn reset(&self) {
        for c in [
            &self.stats.body_bytes,
            &self.stats.get,
            &self.stats.head,
            &self.stats.list,
            &self.stats.other,
            &self.stats.injected,
        ] {
            c.store(0, Ordering::SeqCst);
        }
    }

    /// The environment a user of this server would have: its endpoint and keys, no profile files, no
    /// instance metadata, nothing inherited from the machine running the tests.
    pub fn env(&self, cmd: &mut assert_cmd::Command) {
        for k in INHERITED_AWS_VARS {
            cmd.env_remove(k);
        }
        for (k, v) in self.user_env() {
            cmd.env(k, v);
        }
    }

    /// [`S3Server::env`] for a process started with `std::process::Command` (one that runs on).
    pub fn env_std(&self, cmd: &mut std::process::Command) {
        for k in INHERITED_AWS_VARS {
            cmd.env_remove(k);
        }
        for (k, v) in self.user_env() {
            cmd.env(k, v);
        }
    }

    /// The variables [`S3Server::env`] sets.
    fn user_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ];
        env.extend(NO_AWS_FILES.iter().map(|(k, v)| (*k, v.to_string())));
        env
    }
}

/// The AWS settings a process could inherit from the machine running the tests.
const INHERITED_AWS_VARS: [&str; 15] = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_MAX_ATTEMPTS",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_EC2_METADATA_DISABLED",
];

/// Profile files that are not there, and no instance metadata.
const NO_AWS_FILES: [(&str, &str); 3] = [
    ("AWS_CONFIG_FILE", "/nonexistent/owl-test/config"),
    (
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/owl-test/credentials",
    ),
    ("AWS_EC2_METADATA_DISABLED", "true"),
];

/// Remove every AWS setting inherited from the machine; point profile files at nothing.
pub fn clean_aws_env(cmd: &mut assert_cmd::Command) {
    for k in INHERITED_AWS_VARS {
        cmd.env_remove(k);
    }
    for (k, v) in NO_AWS_FILES {
        cmd.env(k, v);
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn handle(
    service: s3s::service::S3Service,
    st: Arc<Stats>,
    req: http::Request<Incoming>,
) -> Result<http::Response<BoxBody<Bytes, StdError>>, s3s::HttpError> {
    let k = kind(&req);
    let inject = st.fail_always.load(Ordering::SeqCst)
        || st
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if inject {
        st.injected.fetch_add(1, Ordering::SeqCst);
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                    <Message>Please reduce your request rate.</Message></Error>";
        let resp = http::Response::builder()
            .status(503)
            .header("content-type", "application/xml")
            .body(
                http_body_util::Full::new(Bytes::from(body))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .unwrap();
        return Ok(resp);
    }
    match k {
        Kind::Get => &st.get,
        Kind::Head => &st.head,
        Kind::List => &st.list,
        Kind::Other => &st.other,
    }
    .fetch_add(1, Ordering::SeqCst);
    if k == Kind::Get
        && let Some(log) = &st.log
    {
        use std::io::Write;
        let range = req.headers().get(http::header::RANGE);
        let range = range.and_then(|r| r.to_str().ok()).unwrap_or("-");
        let _ = writeln!(log.lock().unwrap(), "{} {range}", req.uri().path());
    }
    let resp = hyper::service::Service::call(&service, req).await?;
    let count = k == Kind::Get && resp.status().is_success();
    Ok(resp.map(move |body| {
        body.map_frame(move |frame| {
            if count && let Some(data) = frame.data_ref() {
                st.body_bytes.fetch_add(data.len() as u64, Ordering::SeqCst);
            }
            frame
        })
        .boxed()
    }))
}

/// Copy a local folder into a bucket (the server serves files as they are on disk).
pub fn upload(from: &Path, to: &Path) {
    let mut stack = vec![from.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let dst = to.join(p.strip_prefix(from).unwrap());
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&p, &dst).unwrap();
        }
    }
}
