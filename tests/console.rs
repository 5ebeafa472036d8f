//! The web console (`GET /` of `owl serve`): its sessions and their checks over raw HTTP, and the whole console
//! in a real browser — Debian's Chromium, headless, driven by playwright-core (`tests/console/e2e.mjs`) —
//! against a real server, with what the page shows checked against the CLI: the estimate against `owl
//! estimate`, the grid and the bill against `owl query -f json`, a cancelled query against the history.
//!
//! Set-up installs what is missing: Debian's `chromium` (apt, as root) and playwright-core (npm, pinned by
//! `tests/console/package-lock.json`). Screenshots of the main views land in `target/console-screenshots/`.

mod common;
#[path = "common/serve.rs"]
mod serve;

use common::{Fixture, json_rows, stat};
use serde_json::{Value, json};
use serve::{KEY, NARROW_KEY, NARROW_SECRET, SECRET, Served};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One HTTP/1.1 request; returns (status, headers in lower case, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The body of `GET path` with `Accept-Encoding: encoding`, as bytes.
fn raw_body(addr: &str, path: &str, encoding: &str) -> Vec<u8> {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: {encoding}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let at = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    out[at..].to_vec()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A console session of `key`: (cookie header, CSRF token).
fn login(addr: &str, key: &str, secret: &str) -> (String, String) {
    let (status, headers, body) = http(
        addr,
        "POST",
        "/console/login",
        &[("content-type", "application/json")],
        &json!({"AccessKeyId": key, "SecretAccessKey": secret}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let set = header(&headers, "set-cookie").unwrap().to_string();
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["CsrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    (cookie, csrf)
}

fn api(addr: &str, cookie: &str, csrf: &str, target: &str, input: Value) -> (u16, Value) {
    let (status, _, body) = http(
        addr,
        "POST",
        "/console/api",
        &[
            ("content-type", "application/json"),
            ("cookie", cookie),
            ("x-owl-csrf", csrf),
        ],
        &json!({"Target": target, "Input": input}).to_string(),
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn console_pages_are_served_and_every_call_needs_a_session_and_its_csrf_token() {
    let f = Fixture::new();
    let server = Served::start(&f, &[], &[]);
    let addr = server.addr().to_string();

    // The page and its scripts: from the binary, with a policy that runs no inline script.
    let (status, headers, page) = http(&addr, "GET", "/", &[], "");
    assert_eq!(status, 200);
    assert!(page.contains("<div id=\"app\">"), "{page}");
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let script = page
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap();
    assert!(
        script.starts_with("/assets/") && script.ends_with(".js"),
        "{script}"
    );
    let (status, headers, js) = http(&addr, "GET", script, &[], "");
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.len() > 10_000, "the bundle is {} bytes", js.len());
    // Gzipped for a browser that takes it: the same bytes once inflated.
    let (status, headers, _) = http(
        &addr,
        "GET",
        script,
        &[("accept-encoding", "gzip, deflate, br")],
        "",
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), Some("gzip"));
    let zipped = raw_body(&addr, script, "gzip");
    let mut inflated = String::new();
    flate2::read::GzDecoder::new(&zipped[..])
        .read_to_string(&mut inflated)
        .unwrap();
    assert_eq!(inflated, js);
    assert!(
        zipped.len() * 2 < js.len(),
        "{} gzipped of {}",
        zipped.len(),
        js.len()
    );
    let (_, headers, _) = http(
        &addr,
        "GET",
        script,
        &[("accept-encoding", "gzip;q=0, br")],
        "",
    );
    assert_eq!(
        header(&headers, "content-encoding"),
        None,
        "gzip;q=0 refuses gzip"
    );
    assert_eq!(http(&addr, "GET", "/assets/nope.js", &[], "").0, 404);
    assert_eq!(http(&addr, "GET", "/../../etc/passwd", &[], "").0, 404);

    // Nothing runs without a session.
    let list = json!({"Target": "AmazonAthena.ListWorkGroups", "Input": {}}).to_string();
    let (status, _, body) = http(&addr, "POST", "/console/api", &[], &list);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("not logged in"), "{body}");
    assert_eq!(http(&addr, "GET", "/console/session", &[], "").0, 401);
    let forged = "owl_console=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let (status, _, _) = http(&addr, "POST", "/console/api", &[("cookie", forged)], &list);
    assert_eq!(status, 401);

    // A wrong secret, an unknown key: refused, and the answer says nothing of which.
    for (key, secret) in [(KEY, "wrong"), ("AKIDNOBODY", SECRET)] {
        let (status, headers, body) = http(
            &addr,
            "POST",
            "/console/login",
            &[],
            &json!({"AccessKeyId": key, "SecretAccessKey": secret}).to_string(),
        );
        assert_eq!(status, 401, "{body}");
        assert!(header(&headers, "set-cookie").is_none());
        assert!(
            body.contains("not ones this server accepts") && !body.contains(SECRET),
            "{body}"
        );
    }
    // Another site's page cannot log in (or run anything) in the user's browser.
    let (status, _, _) = http(
        &addr,
        "POST",
        "/console/login",
        &[("origin", "http://evil.example")],
        &json!({"AccessKeyId": KEY, "SecretAccessKey": SECRET}).to_string(),
    );
    assert_eq!(status, 403);

    let (status, headers, body) = http(
        &addr,
        "POST",
        "/console/login",
        &[("origin", &format!("http://{addr}"))],
        &json!({"AccessKeyId": KEY, "SecretAccessKey": SECRET}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let set = header(&headers, "set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!body.contains(SECRET) && !server.log_text().contains(SECRET));
    let cookie = set.split(';').next().unwrap().to_string();
    let csrf = serde_json::from_str::<Value>(&body).unwrap()["CsrfToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(csrf.len() >= 32 && !cookie.contains(&csrf));

    // The cookie alone is not enough to write: the CSRF token must come with it, and from this server's page.
    let (status, _, body) = http(&addr, "POST", "/console/api", &[("cookie", &cookie)], &list);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    let (status, _, _) = http(
        &addr,
        "POST",
        "/console/api",
        &[("cookie", &cookie), ("x-owl-csrf", "0000")],
        &list,
    );
    assert_eq!(status, 403);
    let (status, _, _) = http(
        &addr,
        "POST",
        "/console/api",
        &[
            ("cookie", &cookie),
            ("x-owl-csrf", &csrf),
            ("origin", "http://evil.example"),
        ],
        &list,
    );
    assert_eq!(status, 403);
    let (status, groups) = api(
        &addr,
        &cookie,
        &csrf,
        "AmazonAthena.ListWorkGroups",
        json!({}),
    );
    assert_eq!(status, 200, "{groups}");
    assert_eq!(groups["WorkGroups"][0]["Name"], "primary");
    let (status, session, _) = {
        let (s, _, b) = http(&addr, "GET", "/console/session", &[("cookie", &cookie)], "");
        (s, serde_json::from_str::<Value>(&b).unwrap(), ())
    };
    assert_eq!(status, 200);
    assert_eq!(session["User"], KEY);
    assert_eq!(session["CsrfToken"], csrf.as_str());
    assert!(
        session["Functions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "approx_distinct")
    );

    // The catalog tree's facts are Glue's table parameters, under the crawler's names: `owl tables`' counts.
    let listed: Value = serde_json::from_slice(&f.run_ok(&["tables", "--format", "json"])).unwrap();
    let (_, tables) = api(
        &addr,
        &cookie,
        &csrf,
        "AWSGlue.GetTables",
        json!({"DatabaseName": "default"}),
    );
    for t in listed["tables"].as_array().unwrap() {
        let glue = tables["TableList"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["Name"] == t["table"])
            .unwrap_or_else(|| panic!("{t} not in {tables}"));
        assert_eq!(
            glue["Parameters"]["sizeKey"],
            json!(t["size_bytes"].to_string()),
            "{glue}"
        );
        assert_eq!(
            glue["Parameters"]["objectCount"],
            json!(t["files"].to_string()),
            "{glue}"
        );
    }

    // A query through the console is a query of the API: its bill equals the CLI's, its result file is there.
    let sql = "SELECT status, count(*) AS hits FROM weblogs_csv WHERE day = 2 GROUP BY status ORDER BY status";
    let cli = f.json(sql);
    let (_, started) = api(
        &addr,
        &cookie,
        &csrf,
        "AmazonAthena.StartQueryExecution",
        json!({"QueryString": sql}),
    );
    let id = started["QueryExecutionId"].as_str().unwrap().to_string();
    // One long poll (`WaitMs`) answers when the query has ended: no polling loop.
    let (_, answer) = api(
        &addr,
        &cookie,
        &csrf,
        "Owl.GetQueryExecution",
        json!({"QueryExecutionId": id, "WaitMs": 20000}),
    );
    let execution = answer["QueryExecution"].clone();
    assert_eq!(execution["Status"]["State"], "SUCCEEDED", "{execution}");
    assert_eq!(
        execution["Bill"]["BytesScanned"].as_u64(),
        Some(stat(&cli, "bytes_scanned"))
    );
    assert_eq!(
        execution["Bill"]["BilledBytes"].as_u64(),
        Some(stat(&cli, "billed_bytes"))
    );
    assert_eq!(
        execution["Statistics"]["DataScannedInBytes"],
        execution["Bill"]["BytesScanned"]
    );
    let (_, results) = api(
        &addr,
        &cookie,
        &csrf,
        "Owl.GetResults",
        json!({"QueryExecutionId": id}),
    );
    assert_eq!(
        results["Columns"][1],
        json!({"Name": "hits", "Type": "bigint"})
    );
    assert_eq!(
        results["Rows"].as_array().unwrap().len(),
        json_rows(&cli).len()
    );
    let (status, headers, csv) = http(
        &addr,
        "GET",
        &format!("/console/results/{id}.csv"),
        &[("cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200);
    assert!(
        header(&headers, "content-disposition")
            .unwrap()
            .contains(&format!("{id}.csv"))
    );
    let file =
        std::fs::read_to_string(f.path().join(format!("catalog/.results/{id}.csv"))).unwrap();
    assert_eq!(csv, file, "the download is Athena's result file");
    assert_eq!(
        http(&addr, "GET", &format!("/console/results/{id}.csv"), &[], "").0,
        401
    );

    // The session's key keeps its limits: NARROW may use Athena in `primary` only.
    let (narrow_cookie, narrow_csrf) = login(&addr, NARROW_KEY, NARROW_SECRET);
    let (status, denied) = api(
        &addr,
        &narrow_cookie,
        &narrow_csrf,
        "AWSGlue.GetDatabases",
        json!({}),
    );
    assert_eq!(status, 400);
    assert_eq!(denied["__type"], "AccessDeniedException", "{denied}");
    let (_, created) = api(
        &addr,
        &cookie,
        &csrf,
        "AmazonAthena.CreateWorkGroup",
        json!({"Name": "etl"}),
    );
    assert!(created.is_object(), "{created}");
    let (_, other) = api(
        &addr,
        &cookie,
        &csrf,
        "AmazonAthena.StartQueryExecution",
        json!({"QueryString": "SELECT 1", "WorkGroup": "etl"}),
    );
    let other = other["QueryExecutionId"].as_str().unwrap();
    let (_, unseen) = api(
        &addr,
        &narrow_cookie,
        &narrow_csrf,
        "Owl.GetQueryExecution",
        json!({"QueryExecutionId": other}),
    );
    assert!(
        unseen["Message"]
            .as_str()
            .unwrap()
            .contains("was not found"),
        "{unseen}"
    );
    let (_, estimate) = api(
        &addr,
        &narrow_cookie,
        &narrow_csrf,
        "Owl.Estimate",
        json!({"QueryString": "SELECT 1", "WorkGroup": "etl"}),
    );
    assert_eq!(estimate["__type"], "AccessDeniedException", "{estimate}");

    // Signed out: the cookie is dead.
    let (status, _, _) = http(
        &addr,
        "POST",
        "/console/logout",
        &[("cookie", &cookie), ("x-owl-csrf", &csrf)],
        "{}",
    );
    assert_eq!(status, 200);
    let (status, _) = api(
        &addr,
        &cookie,
        &csrf,
        "AmazonAthena.ListWorkGroups",
        json!({}),
    );
    assert_eq!(status, 401);
}

#[test]
fn the_estimate_is_owl_estimates_and_names_the_work_groups_cutoff() {
    let f = Fixture::new();
    f.run_ok(&[
        "workgroup",
        "create",
        "small",
        "--bytes-scanned-cutoff",
        "10MB",
    ]);
    let big = f.path().join("lake/big");
    std::fs::create_dir_all(&big).unwrap();
    let mut text = String::from("id,word\n");
    let mut i = 0;
    while text.len() < 12_000_000 {
        text.push_str(&format!("{i},word-{}\n", i % 977));
        i += 1;
    }
    std::fs::write(big.join("big.csv"), &text).unwrap();
    f.run_ok(&["crawl", "lake/big"]);
    let server = Served::start(&f, &[], &[]);
    let addr = server.addr().to_string();
    let (cookie, csrf) = login(&addr, KEY, SECRET);
    let sql =
        "SELECT method, count(*) FROM weblogs_parquet WHERE month = 1 AND day = 2 GROUP BY method";
    let out = f.run_ok(&["estimate", "-f", "json", sql]);
    let want: Value = serde_json::from_slice(&out).unwrap();
    let want = &want["statements"][0];
    for wg in ["primary", "small"] {
        let (status, got) = api(
            &addr,
            &cookie,
            &csrf,
            "Owl.Estimate",
            json!({"QueryString": sql, "WorkGroup": wg, "Database": "default"}),
        );
        assert_eq!(status, 200, "{got}");
        let got = &got["Statements"][0];
        for k in [
            "bytes_scanned",
            "billed_bytes",
            "cost_usd",
            "files",
            "partitions",
            "columns_read",
            "columns_total",
        ] {
            assert_eq!(got[k], want[k], "{k}: {got} vs {want}");
        }
        assert!(want["bytes_scanned"].as_u64().unwrap() > 0);
        assert_eq!(got["over_cutoff"], false, "{wg}: {got}");
    }
    // The cutoff is 10 MB: a scan of the 12 MB CSV file is over it in `small`, before anyone runs it;
    // `primary` has no cutoff.
    let scan = "SELECT count(*) FROM big";
    for (wg, over, cutoff) in [
        ("small", true, json!(10_000_000)),
        ("primary", false, Value::Null),
    ] {
        let (_, got) = api(
            &addr,
            &cookie,
            &csrf,
            "Owl.Estimate",
            json!({"QueryString": scan, "WorkGroup": wg}),
        );
        assert_eq!(
            got["Statements"][0]["bytes_scanned"],
            text.len() as u64,
            "{got}"
        );
        assert_eq!(got["CutoffBytes"], cutoff, "{got}");
        assert_eq!(got["Statements"][0]["over_cutoff"], over, "{wg}: {got}");
    }
    // A statement that does not parse: one line naming the problem, nothing run, nothing in the history.
    let (status, bad) = api(
        &addr,
        &cookie,
        &csrf,
        "Owl.Estimate",
        json!({"QueryString": "SELEC 1"}),
    );
    assert_eq!(status, 400);
    assert!(bad["Message"].as_str().unwrap().contains("SELEC"), "{bad}");
    assert!(!f.path().join("catalog/.history").exists() || serve::history(&f).is_empty());
}

// ------------------------------------------------------------------------------------------------ Chromium

/// Debian's Chromium, installed when missing (the test set-up runs as root, as CI does).
fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    if !path.exists() {
        let _guard = install_lock();
        if !path.exists() {
            let apt = |args: &[&str]| {
                let status = Command::new("apt-get")
                    .args(args)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .expect("apt-get, to install chromium for the console's tests");
                assert!(
                    status.success(),
                    "apt-get {args:?} failed: install chromium by hand"
                );
            };
            apt(&["update", "-qq"]);
            apt(&["install", "-y", "-qq", "chromium"]);
        }
    }
    path
}

fn install_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// `tests/console` with its node_modules (playwright-core, as its lock file pins it).
fn e2e_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console");
    let _guard = install_lock();
    if !dir.join("node_modules/playwright-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel", "error"])
            .current_dir(&dir)
            .status()
            .expect("npm, to install playwright-core");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    }
    dir
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The CLI's rows as the console shows them: text, or None for NULL.
fn texts(doc: &Value) -> Vec<Vec<Option<String>>> {
    json_rows(doc)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| match v {
                    Value::Null => None,
                    Value::String(s) => Some(s),
                    v => Some(v.to_string()),
                })
                .collect()
        })
        .collect()
}

fn grid_rows(v: &Value) -> Vec<Vec<Option<String>>> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn the_console_in_chromium_shows_what_the_cli_shows() {
    let chromium = chromium();
    let dir = e2e_dir();
    let f = Fixture::new();
    // A table whose values are HTML: the console must show them as text.
    let notes = f.path().join("lake/notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(
        notes.join("notes.csv"),
        "id,note\n1,<img src=x onerror=alert(1)>\n2,\n3,<script>alert(2)</script>\n",
    )
    .unwrap();
    f.run_ok(&["crawl", "lake/notes"]);
    let day = "SELECT status, count(*) AS hits, sum(bytes) AS total FROM weblogs_parquet \
               WHERE month = 1 AND day = 2 GROUP BY status ORDER BY status";
    let chart =
        "SELECT method, count(*) AS hits FROM weblogs_parquet GROUP BY method ORDER BY method";
    let xss = "SELECT id, note AS \"<b>bold</b>\", '' AS empty, CAST(NULL AS varchar) AS nothing FROM notes \
               ORDER BY id";
    let many = "SELECT value, value * 2 AS twice FROM range(100000)";
    let slow =
        "SELECT count(*) FROM weblogs_csv CROSS JOIN range(2000000000) r WHERE r.value % 7 = 3";
    let want_day = f.json(day);
    let want_xss = f.json(xss);
    let want_chart = f.json(chart);
    let estimate: Value =
        serde_json::from_slice(&f.run_ok(&["estimate", "-f", "json", day])).unwrap();
    let estimate = &estimate["statements"][0];
    let tables = f.json("SHOW TABLES");
    let describe = f.json("DESCRIBE weblogs_parquet");

    // A folder to crawl from the console.
    let crawl = f.path().join("drop/visits");
    std::fs::create_dir_all(&crawl).unwrap();
    std::fs::write(crawl.join("v.csv"), "page,visits\n/a,3\n/b,5\n").unwrap();
    let root = f.path().to_string_lossy().into_owned();
    let server = Served::start(&f, &[], &["--allow-root", &root]);
    let shots = screenshots();
    let config = json!({
        "url": server.endpoint,
        "key": KEY,
        "secret": SECRET,
        "chromium": chromium,
        "shots": shots,
        "table": "weblogs_parquet",
        "column": "status",
        "sortColumn": 1,
        "manyRows": 100000,
        "crawlPath": f.path().join("drop/visits"),
        "crawledTable": "visits",
        "historyText": "RANGE(100000)",
        "compareTable": "weblogs_csv",
        "compareQuery": "SELECT count(*) FROM weblogs_csv",
        "queries": { "day": day, "chart": chart, "xss": xss, "many": many, "slow": slow },
    });
    let out = Command::new("node")
        .arg(dir.join("e2e.mjs"))
        .env("OWL_E2E", config.to_string())
        .output()
        .expect("node, to drive the browser");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|_| {
            panic!(
                "the browser script printed no report: {stdout}\n{}\nserver: {}",
                String::from_utf8_lossy(&out.stderr),
                server.log_text()
            )
        });
    assert_eq!(
        seen["ok"],
        true,
        "the browser failed at {}: {seen}\nserver: {}",
        seen["error"],
        server.log_text()
    );
    assert!(out.status.success());

    // Log in: a wrong secret is refused; the cookie is HttpOnly and SameSite=Strict.
    assert!(
        seen["wrongSecret"]
            .as_str()
            .unwrap()
            .contains("not ones this server accepts"),
        "{seen}"
    );
    assert_eq!(seen["user"], KEY);
    assert_eq!(seen["cookie"]["httpOnly"], true, "{seen}");
    assert_eq!(seen["cookie"]["sameSite"], "Strict", "{seen}");

    // The catalog tree lists the registry's tables, and a table's columns with its partition keys.
    let mut want_tables: Vec<String> = json_rows(&tables)
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    want_tables.sort();
    let mut got_tables: Vec<String> = serde_json::from_value(seen["catalog"].clone()).unwrap();
    got_tables.sort();
    assert_eq!(got_tables, want_tables);
    let want_columns: Vec<String> = json_rows(&describe)
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    let got_columns: Vec<String> = serde_json::from_value(seen["catalogColumns"].clone()).unwrap();
    assert_eq!(got_columns, want_columns);

    // Completion of a table, of a column by its table, and of a column of the statement's FROM table.
    let has = |key: &str, label: &str| {
        seen[key]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str() == Some(label))
    };
    assert!(
        has("tableCompletions", "weblogs_parquet"),
        "{}",
        seen["tableCompletions"]
    );
    assert!(
        has("columnCompletions", "status"),
        "{}",
        seen["columnCompletions"]
    );
    assert!(
        has("bareColumnCompletions", "status"),
        "{}",
        seen["bareColumnCompletions"]
    );

    // The estimate before the run is `owl estimate`'s.
    let shown = &seen["estimate"];
    for (attr, key) in [
        ("bytes", "bytes_scanned"),
        ("billed", "billed_bytes"),
        ("files", "files"),
        ("partitions", "partitions"),
    ] {
        assert_eq!(
            shown[attr].as_str().unwrap().parse::<u64>().unwrap(),
            estimate[key].as_u64().unwrap(),
            "{attr}: {shown} vs {estimate}"
        );
    }
    assert!(
        shown["text"]
            .as_str()
            .unwrap()
            .starts_with("estimate: scans"),
        "{shown}"
    );

    // The run: the grid and the bill are `owl query -f json`'s.
    let grid = &seen["grid"];
    let names: Vec<String> = grid["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, common::column_names(&want_day));
    assert_eq!(grid["columns"][1][1], "bigint");
    assert_eq!(grid_rows(&grid["rows"]), texts(&want_day));
    let status = &seen["status"];
    let number = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
    assert_eq!(status["state"], "SUCCEEDED");
    assert_eq!(number(&status["bytes"]), stat(&want_day, "bytes_scanned"));
    assert_eq!(number(&status["billed"]), stat(&want_day, "billed_bytes"));
    assert_eq!(number(&status["rows"]), json_rows(&want_day).len() as u64);
    // Why it cost that, kept with the run (no second run): what `owl query -f json` says it read, and the
    // files of the one partition it chose, as the folder holds them.
    let why = &seen["whyLine"];
    let read = &want_day["stats"]["read"];
    for (attr, key) in [
        ("filesRead", "files_read"),
        ("filesPlanned", "files_planned"),
        ("filesSkipped", "files_skipped"),
        ("columnsRead", "columns_read"),
        ("columnsTotal", "columns_total"),
    ] {
        assert_eq!(
            number(&why[attr]),
            read[key].as_u64().unwrap(),
            "{attr}: {why} vs {read}"
        );
    }
    let day_files = common::walk(&f.data("weblogs_parquet/year=2024/month=01/day=02")).len();
    assert_eq!(read["files_planned"], day_files as u64, "{read}");
    assert_eq!(read["columns_read"], 2, "status and bytes: {read}");
    assert_eq!(
        why["rowGroups"].as_str().unwrap(),
        format!(
            "{}/{}",
            read["row_groups"]["read"], read["row_groups"]["total"]
        )
    );
    assert_eq!(
        why["partitions"], "weblogs_parquet: 1 of 8 partitions",
        "{why}"
    );
    assert!(
        why["text"]
            .as_str()
            .unwrap()
            .starts_with("Why it cost that: 1 of 1 file read"),
        "{why}"
    );
    // The history keeps it too.
    assert_eq!(
        seen["historyRead"].as_str().unwrap(),
        format!(
            "{}/{} files · {}/{} cols · {}/{} RGs",
            read["files_read"],
            read["files_planned"],
            read["columns_read"],
            read["columns_total"],
            read["row_groups"]["read"],
            read["row_groups"]["total"]
        )
    );
    // Sorted by `hits`, descending.
    let mut by_hits = texts(&want_day);
    by_hits.sort_by_key(|r| std::cmp::Reverse(r[1].as_ref().unwrap().parse::<i64>().unwrap()));
    let sorted = grid_rows(&seen["sortedDescending"]);
    let hits = |rows: &[Vec<Option<String>>]| rows.iter().map(|r| r[1].clone()).collect::<Vec<_>>();
    assert_eq!(hits(&sorted), hits(&by_hits));

    // 100,000 rows: only those in view are in the page, and the last one can be scrolled to.
    assert!(
        seen["manyRowsInDom"].as_u64().unwrap() < 100,
        "{}",
        seen["manyRowsInDom"]
    );
    assert_eq!(seen["lastRowShown"], "100000");

    // Values and names from data are text: the HTML is shown, never run.
    let xss_grid = &seen["xss"];
    assert_eq!(xss_grid["columns"][1][0], "<b>bold</b>");
    assert_eq!(grid_rows(&xss_grid["rows"]), texts(&want_xss));
    assert_eq!(xss_grid["rows"][0][1], "<img src=x onerror=alert(1)>");
    assert_eq!(xss_grid["rows"][2][1], "<script>alert(2)</script>");
    assert_eq!(xss_grid["rows"][0][2], "", "an empty string is not NULL");
    assert_eq!(
        xss_grid["rows"][0][3],
        Value::Null,
        "NULL is not an empty string"
    );
    assert_eq!(seen["xssImages"], 0);
    assert_eq!(seen["dialogs"], json!([]), "a script from the data ran");

    // A chart: inked, and exported as PNG.
    assert!(
        seen["chartInked"].as_u64().unwrap() > 1000,
        "{}",
        seen["chartInked"]
    );
    assert!(seen["chartDownload"].as_str().unwrap().ends_with(".png"));
    // And as a vector SVG: one bar per row of the query, each category as text, no picture inside.
    let svg = seen["svg"].as_str().unwrap();
    assert!(seen["svgName"].as_str().unwrap().ends_with(".svg"));
    assert!(svg.starts_with("<svg") && !svg.contains("<image"), "{svg}");
    let bars = svg
        .split("<g class=\"dataset\"")
        .nth(1)
        .and_then(|g| g.split("</g>").next())
        .unwrap_or_else(|| panic!("no dataset in {svg}"));
    assert_eq!(
        bars.matches("<rect").count(),
        json_rows(&want_chart).len(),
        "{svg}"
    );
    for row in json_rows(&want_chart) {
        let label = format!(">{}</text>", row[0].as_str().unwrap());
        assert!(svg.contains(&label), "{label} not in {svg}");
    }

    // Cancel: live bytes while it ran, then CANCELLED with the bill the history keeps.
    assert!(
        seen["live"].as_str().unwrap().starts_with("RUNNING"),
        "{}",
        seen["live"]
    );
    let cancelled = &seen["cancelled"];
    assert_eq!(cancelled["state"], "CANCELLED");
    let entries = serve::history(&f);
    let entry = entries
        .iter()
        .find(|e| e["query_id"].as_str() == cancelled["id"].as_str())
        .unwrap_or_else(|| panic!("no history entry for {cancelled}"));
    assert_eq!(entry["state"], "CANCELLED");
    assert_eq!(
        number(&cancelled["bytes"]),
        entry["bytes_scanned"].as_u64().unwrap()
    );
    assert_eq!(
        number(&cancelled["billed"]),
        entry["billed_bytes"].as_u64().unwrap()
    );
    assert!(number(&cancelled["billed"]) >= 10_000_000);

    // History: every query the console ran, newest first; reopened in a new tab.
    let history: Vec<Value> = serde_json::from_value(seen["history"].clone()).unwrap();
    assert_eq!(history[0]["id"], cancelled["id"]);
    assert_eq!(history[0]["sql"], slow);
    for sql in [day, chart, xss, many] {
        assert!(
            history
                .iter()
                .any(|h| h["sql"] == sql && h["state"] == "SUCCEEDED"),
            "{sql}"
        );
    }
    assert!(seen["historyCancelled"].as_u64().unwrap() >= 1);
    assert_eq!(seen["tabsAfterReopen"], 1);
    assert_eq!(seen["reopened"], slow);
    // The per-day totals are the history's bills, and are charted.
    // (The Plan tab's EXPLAIN ANALYZE ran after the History tab was read.)
    let before: Vec<&Value> = entries
        .iter()
        .filter(|e| !e["sql"].as_str().unwrap().starts_with("EXPLAIN ANALYZE"))
        .collect();
    let totals = &seen["historyTotals"];
    let billed: u64 = before
        .iter()
        .map(|e| e["billed_bytes"].as_u64().unwrap())
        .sum();
    let scanned: u64 = before
        .iter()
        .map(|e| e["bytes_scanned"].as_u64().unwrap())
        .sum();
    assert_eq!(number(&totals["queries"]), before.len() as u64, "{totals}");
    assert_eq!(number(&totals["billed"]), billed, "{totals}");
    assert_eq!(number(&totals["bytes"]), scanned, "{totals}");
    assert_eq!(seen["historyChart"], 1);
    // The text filter is the server's, over the whole history: only the 100,000-row query has that text.
    assert_eq!(seen["historyByText"], json!([many]));

    // A saved query is a named query of the API.
    assert!(
        seen["saved"]
            .as_array()
            .unwrap()
            .contains(&json!(["status of day 2", day])),
        "{}",
        seen["saved"]
    );
    // A crawler started from the console crawled the folder into the catalog, as `owl crawl` would.
    assert_eq!(seen["crawl"]["status"], "SUCCEEDED", "{}", seen["crawl"]);
    assert_eq!(seen["crawledTableShown"], true);
    let visits = f.json("SELECT sum(visits) AS v FROM visits");
    assert_eq!(json_rows(&visits)[0][0], json!(8));

    // The plan as it ran: a tree of operators, and what the scan read of the table: the partitions the CLI's
    // EXPLAIN ANALYZE names, one file opened.
    let why: Vec<String> = serde_json::from_value(seen["why"].clone()).unwrap();
    let cli_plan = f.json(&format!("EXPLAIN ANALYZE {day}"));
    let partitions = json_rows(&cli_plan)
        .into_iter()
        .find(|r| r[0] == "owl_partitions")
        .map(|r| r[1].as_str().unwrap().trim().to_string())
        .unwrap();
    assert!(why.contains(&partitions), "{why:?} lacks {partitions}");
    assert!(partitions.contains("1 of"), "{partitions}");
    assert!(
        why.iter()
            .any(|w| w.starts_with("scan 1") && w.contains("1 file opened")),
        "{why:?}"
    );
    let operators = seen["planOperators"].as_array().unwrap();
    assert!(
        operators.len() >= 3 && operators.iter().any(|o| o == "DataSourceExec"),
        "{operators:?}"
    );

    // The format comparison: the CSV copy is read whole by a count, Parquet's read is its footers, and every
    // format's row is there with what it read.
    let compare = &seen["compare"];
    let runs = compare["runs"].as_array().unwrap();
    let run_of = |format: &str| {
        runs.iter()
            .find(|r| r[0] == format)
            .unwrap_or_else(|| panic!("no {format} in {compare}"))
    };
    assert_eq!(run_of("csv")[1], compare["sizes"]["csv"], "{compare}");
    assert!(
        run_of("parquet")[1].as_u64().unwrap() < run_of("csv")[1].as_u64().unwrap(),
        "{compare}"
    );
    for format in ["csv.gz", "ndjson", "parquet.zstd"] {
        assert!(run_of(format)[1].as_u64().unwrap() > 0, "{compare}");
    }
    assert!(
        run_of("parquet")[2].as_str().unwrap().contains("files"),
        "{compare}"
    );
    assert_eq!(compare["chart"], 1);

    // Tabs are kept across a reload.
    assert!(seen["tabsAfterReload"].as_u64().unwrap() >= 3);
    assert_eq!(seen["editorAfterReload"], day);

    // Without the cookie, or without the CSRF token, the API refuses.
    assert_eq!(seen["noCookie"], 401);
    assert_eq!(seen["noCsrf"], 403);
    assert_eq!(seen["pageErrors"], json!([]));
    for name in [
        "login", "estimate", "results", "chart", "history", "dark", "xss",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
    std::fs::write(
        shots.join("timings.json"),
        json!({"first_contentful_paint_ms": seen["paint"], "run_to_first_rows_ms": seen["runToRows"]}).to_string(),
    )
    .unwrap();
}
