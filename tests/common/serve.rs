//! A real `owl serve` process over a fixture's registry, and the official AWS SDK for Rust pointed at it.
#![allow(dead_code)]

use crate::common::Fixture;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

pub const KEY: &str = "AKIDOWLTEST";
pub const SECRET: &str = "owl-test-secret/never-printed";
/// A key that may use the `primary` work group and Athena only.
pub const NARROW_KEY: &str = "AKIDNARROW";
pub const NARROW_SECRET: &str = "narrow-secret";

/// The environment of a server that writes results to an S3 test server at `endpoint` with `key`/`secret`:
/// nothing inherited from the machine.
pub fn s3_env<'a>(endpoint: &'a str, key: &'a str, secret: &'a str) -> [(&'a str, &'a str); 7] {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("AWS_REGION", "us-east-1"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

pub struct Served {
    pub child: Child,
    pub endpoint: String,
    /// The Postgres listener's `host:port`, when it has one.
    pub pg: Option<String>,
    /// What the server printed to stderr (read on a thread), line by line.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Served {
    /// `owl serve` on a free loopback port with the test credentials; `extra` are more flags (global ones
    /// before `serve` go in `global`).
    pub fn start(f: &Fixture, global: &[&str], extra: &[&str]) -> Served {
        Self::start_env(f, global, extra, &[])
    }

    /// A server without credentials (any loopback caller, unsigned requests too).
    pub fn start_open(f: &Fixture) -> Served {
        Self::spawn(
            f,
            &["serve", "--listen", "127.0.0.1:0", "--pg", "127.0.0.1:0"],
            &[],
            &[],
        )
    }

    pub fn start_env(f: &Fixture, global: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Served {
        Self::start_full(f, global, extra, env, &[])
    }

    /// As [`Served::start_env`], accepting `more` (key, secret) pairs too, for every work group.
    pub fn start_full(
        f: &Fixture,
        global: &[&str],
        extra: &[&str],
        env: &[(&str, &str)],
        more: &[(&str, &str)],
    ) -> Served {
        let creds = f.path().join("credentials.json");
        let mut list = vec![
            serde_json::json!({"access_key_id": KEY, "secret_access_key": SECRET, "workgroups": ["*"]}),
            serde_json::json!({"access_key_id": NARROW_KEY, "secret_access_key": NARROW_SECRET, "workgroups": ["primary"], "services": ["athena"]}),
        ];
        for (k, s) in more {
            list.push(serde_json::json!({"access_key_id": k, "secret_access_key": s}));
        }
        std::fs::write(
            &creds,
            serde_json::json!({ "credentials": list }).to_string(),
        )
        .unwrap();
        let creds = creds.to_string_lossy().into_owned();
        let mut args: Vec<&str> = global.to_vec();
        args.extend([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--pg",
            "127.0.0.1:0",
            "--credentials",
            &creds,
        ]);
        args.extend(extra);
        Self::spawn(f, &args, &[], env)
    }

    fn spawn(f: &Fixture, args: &[&str], _: &[&str], env: &[(&str, &str)]) -> Served {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"));
        cmd.current_dir(f.path())
            .env_remove("OWL_CATALOG")
            .env_remove("OWL_DATABASE")
            .env_remove("OWL_SERVE_CREDENTIALS")
            .env_remove("OWL_SERVE_ACCESS_KEY_ID")
            .env_remove("OWL_SERVE_SECRET_ACCESS_KEY")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line.clone());
                if let Some(addr) = line
                    .split("listening on http://")
                    .nth(1)
                    .and_then(|r| r.split_whitespace().next())
                    && let Some(tx) = tx.take()
                {
                    let pg = line
                        .split("postgres://")
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                        .map(str::to_string);
                    let _ = tx.send((addr.to_string(), pg));
                }
            }
        });
        let (addr, pg) = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("owl serve did not start: {:?}", log.lock().unwrap()));
        Served {
            child,
            endpoint: format!("http://{addr}"),
            pg,
            log,
        }
    }

    pub fn addr(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// The Athena client of the SDK, signing with `key`/`secret`.
    pub fn athena_as(&self, key: &str, secret: &str) -> aws_sdk_athena::Client {
        let config = aws_sdk_athena::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_athena::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                key, secret, None, None, "test",
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config(aws_sdk_athena::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_athena::Client::from_conf(config)
    }

    pub fn athena(&self) -> aws_sdk_athena::Client {
        self.athena_as(KEY, SECRET)
    }

    pub fn glue(&self) -> aws_sdk_glue::Client {
        self.glue_as(KEY, SECRET)
    }

    /// The Glue client of the SDK, signing with `key`/`secret`.
    pub fn glue_as(&self, key: &str, secret: &str) -> aws_sdk_glue::Client {
        let config = aws_sdk_glue::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_glue::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                key, secret, None, None, "test",
            ))
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .retry_config(aws_sdk_glue::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_glue::Client::from_conf(config)
    }

    /// A raw HTTP request (for what no SDK sends: unsigned, malformed); returns status and body.
    pub fn raw(&self, headers: &[(&str, &str)], body: &str) -> (u16, serde_json::Value) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(self.addr()).unwrap();
        let mut req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.addr(),
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status: u16 = out[9..12].parse().unwrap();
        let json = out.split("\r\n\r\n").nth(1).unwrap_or("");
        (
            status,
            serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
        )
    }

    /// SIGTERM, then wait for it to exit; returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `sql` and wait for it to end; returns (id, final execution).
pub async fn run(
    c: &aws_sdk_athena::Client,
    sql: &str,
) -> (String, aws_sdk_athena::types::QueryExecution) {
    let id = c
        .start_query_execution()
        .query_string(sql)
        .send()
        .await
        .unwrap()
        .query_execution_id
        .unwrap();
    (id.clone(), wait(c, &id).await)
}

/// Start `sql` in work group `wg`; returns its id.
pub async fn start_in(c: &aws_sdk_athena::Client, sql: &str, wg: &str) -> String {
    c.start_query_execution()
        .query_string(sql)
        .work_group(wg)
        .send()
        .await
        .unwrap()
        .query_execution_id
        .unwrap()
}

/// Poll a query until it ends.
pub async fn wait(c: &aws_sdk_athena::Client, id: &str) -> aws_sdk_athena::types::QueryExecution {
    use aws_sdk_athena::types::QueryExecutionState as S;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let e = c
            .get_query_execution()
            .query_execution_id(id)
            .send()
            .await
            .unwrap()
            .query_execution
            .unwrap();
        let state = e.status().and_then(|s| s.state()).cloned();
        if !matches!(state, Some(S::Queued | S::Running)) {
            return e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "query {id} did not end"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every row of a query's results, paging `page` rows at a time (header row included).
pub async fn rows(c: &aws_sdk_athena::Client, id: &str, page: i32) -> Vec<Vec<Option<String>>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .get_query_results()
            .query_execution_id(id)
            .max_results(page)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        for row in r.result_set().unwrap().rows() {
            out.push(
                row.data()
                    .iter()
                    .map(|d| d.var_char_value().map(str::to_string))
                    .collect(),
            );
        }
        token = r.next_token().map(str::to_string);
        if token.is_none() {
            return out;
        }
    }
}

/// A runtime for a test's async clients.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The CLI's answer for `sql`: its rows as text (as the API renders them) and its bytes scanned.
pub fn solo(f: &Fixture, sql: &str) -> (Vec<Vec<Option<String>>>, u64) {
    let doc = f.json(sql);
    let rows = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|v| match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect()
        })
        .collect();
    (rows, doc["stats"]["bytes_scanned"].as_u64().unwrap())
}

pub fn history(f: &Fixture) -> Vec<serde_json::Value> {
    let out = f.run_ok(&["history", "-n", "100000", "-f", "json"]);
    serde_json::from_slice::<Vec<serde_json::Value>>(&out).unwrap()
}

/// The venv of the Python clients (boto3, PyAthena, ADBC's Flight SQL driver, pyarrow) and tpchgen-cli, built
/// from PyPI into Cargo's target folder (`tests/python/requirements.txt`), or completed when it lacks one.
/// Built by one test at a time: the tests of a binary run in parallel, and two building it at once on a fresh
/// machine would race (one finds the other's half-made venv without its pip). A file lock covers other test
/// processes too.
pub fn python_venv() -> std::path::PathBuf {
    use std::path::Path;
    use std::process::Command;
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _building = BUILDING.lock().unwrap_or_else(|p| p.into_inner());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv-serve");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyenv-serve.lock"))
        .unwrap();
    lock_file.lock().unwrap();
    let python = dir.join("bin/python");
    let ready = || {
        Command::new(&python)
            .args([
                "-c",
                "import boto3, pyathena, pandas, adbc_driver_flightsql.dbapi, pyarrow, sklearn, mmh3",
            ])
            .status()
            .is_ok_and(|s| s.success())
            && dir.join("bin/tpchgen-cli").exists()
    };
    if !ready() {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv failed");
        let requirements =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/requirements.txt");
        let out = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(requirements)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pip install failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(ready(), "the venv cannot import the Python clients");
    }
    python
}

/// A statement that reads a table, then runs for minutes: for tests that cancel a query mid-run.
pub const SLOW_QUERY: &str =
    "SELECT count(*) FROM orders CROSS JOIN range(2000000000) r WHERE r.value % 7 = 3";

/// The history entries of [`SLOW_QUERY`]: each must be CANCELLED and billed for what it read.
pub fn cancelled_slow_queries(f: &Fixture) -> Vec<serde_json::Value> {
    let entries: Vec<serde_json::Value> = history(f)
        .into_iter()
        .filter(|e| e["sql"].as_str() == Some(SLOW_QUERY))
        .collect();
    for e in &entries {
        assert_eq!(e["state"], "CANCELLED", "{e}");
        assert!(e["bytes_scanned"].as_u64().unwrap() > 0, "{e}");
        assert!(e["billed_bytes"].as_u64().unwrap() >= 10_000_000, "{e}");
    }
    entries
}

/// Run a script of `tests/python/` with the venv's interpreter and only `env` (plus PATH, and HOME in the
/// fixture); its stdout, after it succeeded (else the test fails with its output and the server's log).
pub fn run_python(f: &Fixture, server: &Served, script: &str, env: &[(&str, &str)]) -> String {
    let python = python_venv();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let mut cmd = std::process::Command::new(python);
    cmd.arg(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", f.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}\nserver: {}",
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    stdout
}

/// A Postgres connection to `pg` as `user` in `database`, and the notices the server sends it (the bills).
pub async fn pg_connect(
    pg: &str,
    user: &str,
    password: &str,
    application: &str,
    database: &str,
) -> Result<
    (
        tokio_postgres::Client,
        tokio::sync::mpsc::UnboundedReceiver<String>,
    ),
    tokio_postgres::Error,
> {
    let (host, port) = pg.split_once(':').unwrap();
    let config = format!(
        "host={host} port={port} user={user} password={password} dbname={database} application_name={application}"
    );
    let (client, mut connection) = tokio_postgres::connect(&config, tokio_postgres::NoTls).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        use futures::StreamExt;
        while let Some(Ok(m)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notice(n) = m {
                let _ = tx.send(n.message().to_string());
            }
        }
    });
    Ok((client, rx))
}

/// The rows of a simple query (the text protocol), as text.
pub async fn pg_texts(client: &tokio_postgres::Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// The history entry of the query a Postgres notice names (`query <id> · ...`).
pub fn entry_of(f: &Fixture, notice: &str) -> serde_json::Value {
    let id = notice
        .strip_prefix("query ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no query id in the notice `{notice}`"));
    history(f)
        .into_iter()
        .find(|e| e["query_id"] == id)
        .unwrap_or_else(|| panic!("query {id} is not in the history"))
}

/// The address of a server's Flight SQL listener (`grpc://...` in its startup line).
pub fn flight_addr(server: &Served) -> String {
    server
        .log_text()
        .split("grpc://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("a Flight SQL listener")
        .to_string()
}

/// A self-signed certificate for `localhost` and 127.0.0.1 (openssl), and its key: (cert, key) paths.
pub fn test_certificate(f: &Fixture) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = f.path().join("server.crt");
    let key = f.path().join("server.key");
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// TPC-H at scale factor 0.1 as Parquet (two files a table), crawled into the database `tpch`.
pub fn tpch(f: &Fixture) {
    let bin = python_venv().parent().unwrap().to_path_buf();
    let out = std::process::Command::new(bin.join("tpchgen-cli"))
        .args(["parquet", "-s", "0.1", "--parts", "2", "--output-dir"])
        .arg(f.path().join("tpch"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tpchgen-cli: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    f.run_ok(&["query", "CREATE DATABASE tpch"]);
    f.run_ok(&["crawl", "tpch", "-d", "tpch"]);
}
