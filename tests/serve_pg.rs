//! `owl serve`'s PostgreSQL wire protocol through real clients against a real server process on 127.0.0.1:
//! tokio-postgres (SCRAM, simple and extended protocol, text and binary values, errors' SQLSTATEs, notices,
//! cancel requests, many connections at once) and psql (`\dt`, `\d`, `\l`, a query, variables, COPY TO STDOUT,
//! Ctrl-C, TLS). Every answer is checked against `owl query`'s for the same SQL, every bill against the history
//! entry the statement left and the CLI's own count.

mod common;
#[path = "common/serve.rs"]
mod serve;

use common::Fixture;
use serde_json::Value;
use serve::{
    KEY, NARROW_KEY, NARROW_SECRET, SECRET, SLOW_QUERY, Served, entry_of, pg_texts as texts, rt,
    solo,
};
use std::process::Command;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

async fn connect(
    pg: &str,
    user: &str,
    password: &str,
    application: &str,
) -> Result<(Client, tokio::sync::mpsc::UnboundedReceiver<String>), tokio_postgres::Error> {
    serve::pg_connect(pg, user, password, application, "default").await
}

#[test]
fn tokio_postgres_reads_owl_as_a_postgres_server() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &[]);
    let pg = server.pg.clone().expect("a Postgres listener");
    rt().block_on(async {
        // SCRAM-SHA-256: a wrong password and an unknown user are refused alike.
        for (user, password) in [(KEY, "wrong"), ("AKIDNOBODY", SECRET)] {
            let Err(e) = connect(&pg, user, password, "psql").await else {
                panic!("{user} with a wrong password was let in");
            };
            assert_eq!(e.code(), Some(&SqlState::INVALID_PASSWORD), "{e:?}");
        }
        let (client, mut notices) = connect(&pg, KEY, SECRET, "tests").await.unwrap();

        // A simple query: the CLI's rows, then its bill as a notice naming the query.
        let sql = "SELECT customer, count(*) AS n, sum(quantity) AS q FROM orders GROUP BY customer ORDER BY customer";
        let (cli, cli_bytes) = solo(&f, sql);
        assert_eq!(texts(&client, sql).await, cli);
        let notice = notices.recv().await.unwrap();
        assert!(notice.contains("scanned") && notice.contains("billed"), "{notice}");
        assert!(notice.contains(&format!("· {} rows in ", cli.len())), "{notice}");
        let scanned = owl::output::human_bytes(cli_bytes, owl::cost::Units::Decimal);
        assert!(
            notice.ends_with(&format!("scanned {scanned} · billed 10 MB · $0.00005")),
            "{notice}"
        );
        let e = entry_of(&f, &notice);
        assert_eq!(e["state"], "SUCCEEDED");
        assert_eq!(e["bytes_scanned"].as_u64().unwrap(), cli_bytes);
        assert_eq!(e["workgroup"], "primary");
        assert_eq!(e["user"], KEY);
        assert_eq!(e["sql"], sql);
        assert_eq!(e["billed_bytes"].as_u64().unwrap(), 10_000_000);

        // The extended protocol: a bound parameter, binary values of Postgres's own types.
        let rows = client
            .query(
                "SELECT order_id, customer, quantity, unit_price FROM orders WHERE quantity > $1 ORDER BY order_id",
                &[&2i64],
            )
            .await
            .unwrap();
        let (cli, _) = solo(
            &f,
            "SELECT order_id, customer, quantity, unit_price FROM orders WHERE quantity > 2 ORDER BY order_id",
        );
        assert!(!rows.is_empty());
        assert_eq!(rows.len(), cli.len());
        for (row, want) in rows.iter().zip(&cli) {
            let id: i64 = row.get(0);
            let customer: String = row.get(1);
            let quantity: i64 = row.get(2);
            let price: f64 = row.get(3);
            assert_eq!(Some(id.to_string()), want[0]);
            assert_eq!(Some(customer), want[1]);
            assert_eq!(Some(quantity.to_string()), want[2]);
            assert_eq!(price, want[3].as_ref().unwrap().parse::<f64>().unwrap());
        }
        assert!(notices.recv().await.unwrap().contains("billed 10 MB"));
        // Column types as Postgres names them.
        let statement = client
            .prepare("SELECT order_id, customer, unit_price, order_date FROM orders")
            .await
            .unwrap();
        let types: Vec<String> = statement.columns().iter().map(|c| c.type_().name().to_string()).collect();
        assert_eq!(types, ["int8", "text", "float8", "date"]);

        // Nested values as JSON text.
        let rows = texts(&client, "SELECT user_identity, resources FROM cloudtrail LIMIT 1").await;
        let user_identity: Value = serde_json::from_str(rows[0][0].as_deref().unwrap()).unwrap();
        assert!(user_identity.is_object(), "{user_identity}");
        let _ = notices.recv().await;

        // What BI tools ask first: the catalog, as Postgres shapes it.
        let schemas = texts(&client, "SELECT nspname FROM pg_catalog.pg_namespace ORDER BY nspname").await;
        assert!(schemas.contains(&vec![Some("default".into())]), "{schemas:?}");
        let tables = texts(
            &client,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'default' ORDER BY table_name",
        )
        .await;
        assert!(tables.contains(&vec![Some("orders".into())]), "{tables:?}");
        let version = texts(&client, "SELECT version()").await;
        assert!(version[0][0].as_deref().unwrap().starts_with("PostgreSQL 16"), "{version:?}");
        let schema = texts(&client, "SELECT current_schema()").await;
        assert_eq!(schema[0][0].as_deref(), Some("default"));
        // SET/SHOW of session parameters are the connection's; owl's settings are the server's.
        texts(&client, "SET extra_float_digits = 3").await;
        assert_eq!(texts(&client, "SHOW extra_float_digits").await[0][0].as_deref(), Some("3"));
        let e = client.simple_query("SET owl.join_key_bitmaps = false").await.err().unwrap();
        assert_eq!(e.code(), Some(&SqlState::FEATURE_NOT_SUPPORTED));
        while notices.try_recv().is_ok() {}

        // Errors carry Postgres's SQLSTATEs, and the connection goes on.
        let e = client.simple_query("SELECT * FROM nope").await.err().unwrap();
        assert_eq!(e.code(), Some(&SqlState::UNDEFINED_TABLE), "{e:?}");
        let e = client.simple_query("SELECT nope FROM orders").await.err().unwrap();
        assert_eq!(e.code(), Some(&SqlState::UNDEFINED_COLUMN), "{e:?}");
        let e = client.query("SELEC 1 FROM orders", &[]).await.err().unwrap();
        assert_eq!(e.code(), Some(&SqlState::SYNTAX_ERROR), "{e:?}");
        // A path outside the server's roots is refused before anything is read.
        let e = client.simple_query("SELECT * FROM '/etc/passwd'").await.err().unwrap();
        assert!(e.as_db_error().unwrap().message().contains("/etc/passwd"), "{e:?}");
        assert_eq!(texts(&client, "SELECT 1 + 1").await, vec![vec![Some("2".to_string())]]);

        // A transaction's statements keep the protocol's status.
        client.batch_execute("BEGIN; SELECT 1; COMMIT").await.unwrap();
    });
    // Nothing printed the secret.
    let mut server = server;
    server.stop();
    assert!(!server.log_text().contains(SECRET));
}

#[test]
fn cancel_requests_and_many_connections() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &[]);
    let pg = server.pg.clone().unwrap();
    let (want, want_bytes) = solo(&f, "SELECT count(*), sum(quantity) FROM orders");
    rt().block_on(async {
        // A query that reads a table and then runs for long: cancelled by a cancel request (psql's Ctrl-C).
        let slow = SLOW_QUERY;
        let (victim, mut victim_notices) = connect(&pg, KEY, SECRET, "tests").await.unwrap();
        let token = victim.cancel_token();
        let running = tokio::spawn(async move {
            let r = victim.simple_query(slow).await;
            (r.err(), victim)
        });
        // Seven others at the same time.
        let mut others = Vec::new();
        for _ in 0..7 {
            let pg = pg.clone();
            others.push(tokio::spawn(async move {
                let (client, _notices) = connect(&pg, KEY, SECRET, "tests").await.unwrap();
                let mut answers = Vec::new();
                for _ in 0..3 {
                    answers
                        .push(texts(&client, "SELECT count(*), sum(quantity) FROM orders").await);
                }
                answers
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        token.cancel_query(NoTls).await.unwrap();
        let (error, victim) = tokio::time::timeout(Duration::from_secs(60), running)
            .await
            .expect("the cancel stopped the query")
            .unwrap();
        let error = error.expect("a cancelled query fails");
        assert_eq!(error.code(), Some(&SqlState::QUERY_CANCELED), "{error:?}");
        for o in others {
            for answer in o.await.unwrap() {
                assert_eq!(answer, want);
            }
        }
        // Billed for what it read, and the connection serves the next statement.
        let notice = victim_notices.recv().await.unwrap();
        let e = entry_of(&f, &notice);
        assert_eq!(e["state"], "CANCELLED");
        assert!(e["bytes_scanned"].as_u64().unwrap() > 0, "{e}");
        assert!(e["billed_bytes"].as_u64().unwrap() >= 10_000_000, "{e}");
        assert_eq!(
            texts(&victim, "SELECT count(*), sum(quantity) FROM orders").await,
            want
        );
        let notice = victim_notices.recv().await.unwrap();
        assert_eq!(
            entry_of(&f, &notice)["bytes_scanned"].as_u64().unwrap(),
            want_bytes
        );

        // A client that goes away mid-result: its query ends, billed; the server goes on.
        let (quitter, _n) = connect(&pg, KEY, SECRET, "tests").await.unwrap();
        let gone = tokio::spawn(async move { quitter.simple_query(slow).await });
        tokio::time::sleep(Duration::from_millis(800)).await;
        gone.abort();
        // Garbage instead of a startup message: that connection is dropped, no other.
        {
            use tokio::io::AsyncWriteExt;
            let mut s = tokio::net::TcpStream::connect(&pg).await.unwrap();
            s.write_all(b"\x00\x00\x00\x08garbage!garbage!")
                .await
                .unwrap();
        }
        let (client, _n) = connect(&pg, KEY, SECRET, "tests").await.unwrap();
        assert_eq!(
            texts(&client, "SELECT count(*), sum(quantity) FROM orders").await,
            want
        );
    });
    let mut server = server;
    server.stop();
    // Every statement left its entry; the abandoned one is cancelled, billed.
    assert_eq!(serve::cancelled_slow_queries(&f).len(), 2);
}

#[test]
fn work_groups_follow_the_application_name_and_the_user() {
    let f = Fixture::new();
    f.run_ok(&[
        "workgroup",
        "create",
        "analysts",
        "--bytes-scanned-cutoff",
        "10MB",
    ]);
    let server = Served::start(&f, &[], &[]);
    let pg = server.pg.clone().unwrap();
    rt().block_on(async {
        let (client, mut notices) = connect(&pg, KEY, SECRET, "analysts").await.unwrap();
        texts(&client, "SELECT count(*) FROM orders").await;
        let e = entry_of(&f, &notices.recv().await.unwrap());
        assert_eq!(e["workgroup"], "analysts");
        // A user limited to `primary` runs there whatever it calls itself.
        let (narrow, mut notices) = connect(&pg, NARROW_KEY, NARROW_SECRET, "analysts")
            .await
            .unwrap();
        texts(&narrow, "SELECT count(*) FROM orders").await;
        let e = entry_of(&f, &notices.recv().await.unwrap());
        assert_eq!(e["workgroup"], "primary");
    });
}

#[test]
fn portals_suspend_at_a_row_limit_and_go_on() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &[]);
    let pg = server.pg.clone().unwrap();
    let sql = "SELECT order_id, unit_price FROM orders ORDER BY order_id";
    let (want, want_bytes) = solo(&f, sql);
    assert!(want.len() > 10, "{}", want.len());
    let abandoned = "SELECT o.order_id, r.value FROM orders o CROSS JOIN range(100000000) r";
    rt().block_on(async {
        let (mut client, mut notices) = connect(&pg, KEY, SECRET, "tests").await.unwrap();
        let tx = client.transaction().await.unwrap();
        let statement = tx.prepare(sql).await.unwrap();
        // An Execute with a row limit of 4 sends 4 rows and suspends the portal; the next goes on.
        let portal = tx.bind(&statement, &[]).await.unwrap();
        let mut got = vec![];
        let mut chunks = 0;
        loop {
            let chunk = tx.query_portal(&portal, 4).await.unwrap();
            assert!(chunk.len() <= 4);
            chunks += 1;
            for r in &chunk {
                let id: i64 = r.get(0);
                let price: f64 = r.get(1);
                got.push(vec![Some(id.to_string()), Some(price.to_string())]);
            }
            if chunk.len() < 4 {
                break;
            }
            // No bill while the portal is suspended.
            if let Ok(n) = notices.try_recv() {
                panic!(
                    "a bill while suspended (chunk {chunks}, {} rows so far): {n}",
                    got.len()
                );
            }
        }
        assert_eq!(chunks, want.len() / 4 + 1);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g[0], w[0]);
            assert_eq!(
                g[1].as_deref().unwrap().parse::<f64>().unwrap(),
                w[1].as_deref().unwrap().parse::<f64>().unwrap()
            );
        }
        assert_eq!(got.len(), want.len());
        // The statement's bill when the portal completes: one query, the CLI's bytes.
        let e = entry_of(&f, &notices.recv().await.unwrap());
        assert_eq!(e["state"], "SUCCEEDED");
        assert_eq!(e["bytes_scanned"].as_u64().unwrap(), want_bytes);
        // A completed portal has no more rows, and runs nothing again.
        assert!(tx.query_portal(&portal, 4).await.unwrap().is_empty());
        assert!(notices.try_recv().is_err());

        // Two portals of one transaction, interleaved.
        let a = tx.bind(&statement, &[]).await.unwrap();
        let b = tx.bind(&statement, &[]).await.unwrap();
        let first_a = tx.query_portal(&a, 2).await.unwrap();
        let first_b = tx.query_portal(&b, 3).await.unwrap();
        let next_a = tx.query_portal(&a, 2).await.unwrap();
        let ids = |rows: &[tokio_postgres::Row]| {
            rows.iter()
                .map(|r| r.get::<_, i64>(0).to_string())
                .collect::<Vec<_>>()
        };
        let want_ids: Vec<String> = want.iter().map(|r| r[0].clone().unwrap()).collect();
        assert_eq!(ids(&first_a), want_ids[..2]);
        assert_eq!(ids(&first_b), want_ids[..3]);
        assert_eq!(ids(&next_a), want_ids[2..4]);

        // A portal left suspended when its transaction ends: its statement is cancelled, billed for what it read.
        let big = tx.prepare(abandoned).await.unwrap();
        let portal = tx.bind(&big, &[]).await.unwrap();
        assert_eq!(tx.query_portal(&portal, 5).await.unwrap().len(), 5);
        tx.commit().await.unwrap();
        // The connection goes on.
        assert_eq!(
            texts(&client, "SELECT 1 + 1").await,
            vec![vec![Some("2".to_string())]]
        );
    });
    let mut server = server;
    server.stop();
    let entries: Vec<Value> = serve::history(&f)
        .into_iter()
        .filter(|e| e["sql"] == abandoned)
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["state"], "CANCELLED", "{}", entries[0]);
    assert!(entries[0]["bytes_scanned"].as_u64().unwrap() > 0);
    assert!(entries[0]["billed_bytes"].as_u64().unwrap() >= 10_000_000);
}

/// psql, installed when missing (Debian's postgresql-client).
fn psql() -> Option<&'static str> {
    let have = |p: &str| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have("psql") {
        return Some("psql");
    }
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", "postgresql-client"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output();
    have("psql").then_some("psql")
}

fn psql_cmd(pg: &str, extra: &[&str]) -> Command {
    let (host, port) = pg.split_once(':').unwrap();
    let mut c = Command::new(psql().expect("psql (postgresql-client) is installed"));
    c.args([
        "-h",
        host,
        "-p",
        port,
        "-U",
        KEY,
        "-d",
        "default",
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
    ])
    .args(extra)
    .env("PGPASSWORD", SECRET)
    .env("PGCONNECT_TIMEOUT", "10")
    .env_remove("PGSSLMODE");
    c
}

fn psql_ok(pg: &str, extra: &[&str]) -> (String, String) {
    let out = psql_cmd(pg, extra).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "psql {extra:?}: {stderr}\n{stdout}");
    (stdout, stderr)
}

#[test]
fn psql_lists_describes_queries_copies_and_cancels() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &[]);
    let pg = server.pg.clone().unwrap();
    // `\dt`: owl's tables in the connection's schema; `\l`: the data catalog.
    let (out, _) = psql_ok(&pg, &["-c", "\\dt"]);
    for t in ["orders", "weblogs_parquet", "cloudtrail"] {
        assert!(out.contains(t), "\\dt lists {t}: {out}");
    }
    let (out, _) = psql_ok(&pg, &["-c", "\\l"]);
    assert!(out.contains("awsdatacatalog"), "{out}");
    let (out, _) = psql_ok(&pg, &["-c", "\\d orders"]);
    for (column, ty) in [
        ("order_id", "bigint"),
        ("customer", "text"),
        ("unit_price", "double precision"),
        ("order_date", "date"),
    ] {
        assert!(
            out.lines().any(|l| l.contains(column) && l.contains(ty)),
            "\\d orders shows {column} {ty}: {out}"
        );
    }
    // A query (unaligned, tuples only) equals the CLI's, its bill on stderr as a NOTICE.
    let sql = "SELECT customer, sum(quantity) FROM orders GROUP BY customer ORDER BY customer";
    let (out, err) = psql_ok(&pg, &["-A", "-t", "-F", ",", "-c", sql]);
    let (cli, _) = solo(&f, sql);
    let cli: Vec<String> = cli
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| v.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), cli);
    assert!(
        err.contains("NOTICE:  query ") && err.contains("billed 10 MB"),
        "{err}"
    );
    // psql's variables (interpolated in a script, not in -c): a parameterized query.
    let mut child = psql_cmd(&pg, &["-A", "-t", "-v", "q=2", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"SELECT count(*) FROM orders WHERE quantity > :q;\n")
            .unwrap();
    }
    let done = child.wait_with_output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let out = String::from_utf8_lossy(&done.stdout).into_owned();
    let (cli, _) = solo(&f, "SELECT count(*) FROM orders WHERE quantity > 2");
    assert_eq!(out.trim(), cli[0][0].as_deref().unwrap());
    // COPY TO STDOUT as CSV with a header: the CLI's CSV.
    let (out, _) = psql_ok(
        &pg,
        &[
            "-c",
            "COPY (SELECT order_id, customer, quantity FROM orders ORDER BY order_id) TO STDOUT WITH (FORMAT csv, HEADER)",
        ],
    );
    let cli = String::from_utf8(f.run_ok(&[
        "query",
        "-f",
        "csv",
        "SELECT order_id, customer, quantity FROM orders ORDER BY order_id",
    ]))
    .unwrap();
    assert_eq!(out, cli);
    // A bad statement: psql shows the error and its SQLSTATE class.
    let out = psql_cmd(&pg, &["-c", "SELECT * FROM nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR:"));

    // Ctrl-C: psql sends a cancel request; the query ends CANCELLED, billed.
    let child = psql_cmd(&pg, &["-c", SLOW_QUERY])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("canceling statement due to user request"),
        "{err}"
    );
    let mut server = server;
    server.stop();
    assert_eq!(serve::cancelled_slow_queries(&f).len(), 1);
}

#[test]
fn psql_over_tls() {
    let f = Fixture::new();
    let (cert, key) = serve::test_certificate(&f);
    // Without a certificate, a client that requires TLS is refused: the check below is real.
    let plain = Served::start(&f, &[], &[]);
    let out = psql_cmd(plain.pg.as_ref().unwrap(), &["-c", "SELECT 1"])
        .env("PGSSLMODE", "require")
        .output()
        .unwrap();
    assert!(!out.status.success());
    drop(plain);
    let server = Served::start(
        &f,
        &[],
        &[
            "--pg-tls-cert",
            cert.to_str().unwrap(),
            "--pg-tls-key",
            key.to_str().unwrap(),
        ],
    );
    let pg = server.pg.clone().unwrap();
    assert!(server.log_text().contains("(TLS)"));
    let out = psql_cmd(&pg, &["-A", "-t", "-c", "SELECT count(*) FROM orders"])
        .env("PGSSLMODE", "require")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (cli, _) = solo(&f, "SELECT count(*) FROM orders");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        cli[0][0].as_deref().unwrap()
    );
    // A key that is not PEM: one line naming the file, before anything listens.
    let out = f
        .owl()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--pg",
            "127.0.0.1:0",
            "--pg-tls-cert",
        ])
        .arg(&cert)
        .arg("--pg-tls-key")
        .arg(&cert)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.crt"));
}
