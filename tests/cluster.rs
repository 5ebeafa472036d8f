//! A Ballista cluster of real `owl` processes on 127.0.0.1: `owl cluster up` (a scheduler and two executor
//! processes), queried by the real binary with `--cluster`. Answers and bytes are held to the same queries run
//! locally, whose bytes the meter's own tests hold to the files and to an S3 server's counts.

mod common;
#[path = "common/s3.rs"]
mod s3server;
#[path = "common/serve.rs"]
mod serve;

use common::{Fixture, json_rows, stat};
use s3server::{S3Server, upload};
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// `owl cluster up`, stopped with Ctrl-C (SIGINT) when dropped, as a user stops it.
struct Cluster {
    child: Child,
    url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster_up(f: &Fixture, executors: usize) -> Cluster {
    cluster_up_with(f, executors, &[], None)
}

/// `owl cluster up` with more flags, and with an S3 server's endpoint and keys in its environment (which its
/// executors inherit, as on a machine whose credentials are in its environment).
fn cluster_up_with(
    f: &Fixture,
    executors: usize,
    extra: &[&str],
    s3: Option<&S3Server>,
) -> Cluster {
    let port = free_port();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"));
    if let Some(s) = s3 {
        s.env_std(&mut cmd);
    }
    let child = cmd
        .current_dir(f.path())
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_CLUSTER")
        .args(["cluster", "up", "--executors", &executors.to_string()])
        // Two tasks at once on each: an executor gets several tasks of a stage in one batch.
        .args(["--concurrent-tasks", "2"])
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cluster = Cluster {
        child,
        url: format!("df://127.0.0.1:{port}"),
    };
    // Ready once a query runs on it (the executors have registered).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = f
            .owl()
            .args(["--cluster", &cluster.url, "query", "SELECT 1"])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        if out.status.success() {
            return cluster;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `sql` with two threads, on `cluster` or here. Here, with the switches a cluster session turns off (their
/// nodes do not travel yet), so both plan the same scans, and without a join's run-time filter on its probe
/// side's scan (on a cluster the join's build side runs in another stage, and its filter does not cross the
/// shuffle).
fn on(f: &Fixture, cluster: Option<&Cluster>, sql: &str) -> Value {
    let mut flags = vec!["--threads", "2"];
    match cluster {
        Some(c) => {
            flags.extend(["--cluster", c.url.as_str()]);
            f.json_with(&flags, sql)
        }
        None => {
            let mut script: String = owl::cluster::LOCAL_ONLY_SWITCHES
                .iter()
                .map(|s| format!("SET owl.{s}=false; "))
                .collect();
            script.push_str("SET datafusion.optimizer.enable_dynamic_filter_pushdown=false; ");
            script.push_str(sql);
            f.json_last(&flags, &script)
        }
    }
}

fn sorted(doc: &Value) -> Vec<String> {
    let mut rows: Vec<String> = json_rows(doc)
        .into_iter()
        .map(|r| serde_json::to_string(&r).unwrap())
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_cluster_answers_as_local_owl_and_bills_the_same_bytes() {
    let f = Fixture::new();
    let cluster = cluster_up(&f, 2);
    for sql in [
        // Partition pruning over a partitioned Parquet table, with an aggregation that shuffles.
        "SELECT status, count(*) AS n, sum(bytes) AS b FROM weblogs_parquet WHERE month = 1 GROUP BY status",
        // A join that shuffles both sides, and an ORDER BY whose order is checked.
        "SELECT a.status, count(*) AS n FROM weblogs_parquet a JOIN weblogs_parquet b \
         ON a.request_id = b.request_id WHERE a.day <= 2 GROUP BY a.status ORDER BY n DESC, a.status",
        "SELECT max(latency_ms) FROM weblogs_parquet WHERE user_id > 10",
    ] {
        let local = on(&f, None, sql);
        let remote = on(&f, Some(&cluster), sql);
        if sql.contains("ORDER BY") {
            assert_eq!(json_rows(&remote), json_rows(&local), "{sql}");
        } else {
            assert_eq!(sorted(&remote), sorted(&local), "{sql}");
        }
        assert!(!json_rows(&local).is_empty(), "{sql}");
        let (l, r) = (
            stat(&local, "bytes_scanned"),
            stat(&remote, "bytes_scanned"),
        );
        assert!(l > 0, "{sql}: {local}");
        // The same reads, except that a file two tasks read from has its footer read by each (a local query
        // reads it once): each such read is one more GET of the session's footer hint, the last 8 KiB of a
        // file longer than that (the sample's are).
        let gets = |doc: &Value| doc["stats"]["requests"]["get"].as_u64().unwrap();
        let extra = gets(&remote)
            .checked_sub(gets(&local))
            .unwrap_or_else(|| panic!("{sql}: fewer GETs on the cluster: {remote} {local}"));
        assert_eq!(
            r,
            l + extra * 8192,
            "{sql}: the cluster's bytes against local owl's ({extra} more footer reads)"
        );
        if !sql.contains("JOIN") {
            assert_eq!(r, l, "{sql}: a scan's files each read by one task");
        }
    }
    // A node of owl's that does not travel yet, turned on: the query fails with one line naming it and the
    // switch, before any task runs.
    let out = f
        .owl()
        .args(["--cluster", &cluster.url, "query"])
        .arg(
            "SET owl.materialize_ctes=true; WITH t AS (SELECT status, count(*) AS c FROM weblogs_parquet \
             GROUP BY status) SELECT * FROM t a JOIN t b ON a.status = b.status",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap();
    assert_eq!(
        line,
        "error: `ComputeShared` cannot run on a cluster yet (`owl.materialize_ctes=false` plans without it)"
    );
}

#[test]
fn what_cannot_reach_a_cluster_fails_with_one_line() {
    let f = Fixture::new();
    // No scheduler there: one error, quickly, no hang.
    let port = free_port();
    let started = Instant::now();
    let out = f
        .owl()
        .args(["--cluster", &format!("df://127.0.0.1:{port}")])
        .args(["query", "SELECT count(*) FROM weblogs_parquet"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: cannot reach the cluster's scheduler at `df://127.0.0.1:{port}`"
        )),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30), "{err}");
    // Its status: the same line.
    let out = f
        .owl()
        .args([
            "--cluster",
            &format!("df://127.0.0.1:{port}"),
            "cluster",
            "status",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "error: cannot reach the cluster's scheduler at `df://127.0.0.1:{port}`: is `owl scheduler` or `owl cluster up` running there?"
        )
    );
    // Not a cluster address.
    let out = f
        .owl()
        .args(["--cluster", "df://nowhere", "query", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`df://nowhere`") && err.contains("df://host:port"),
        "{err}"
    );
}

#[test]
fn every_format_reads_on_a_cluster_as_here() {
    let f = Fixture::new();
    // ORC and Avro copies of a table (the sample has none), written here.
    for format in ["ORC", "AVRO"] {
        let name = format.to_lowercase();
        f.run_ok(&[
            "query",
            &format!(
                "CREATE TABLE weblogs_{name} WITH (format = '{format}', external_location = 'copies/{name}/') \
                 AS SELECT request_id, status, bytes, latency_ms, day FROM weblogs_parquet"
            ),
        ]);
    }
    let cluster = cluster_up(&f, 2);
    for table in [
        "weblogs_csv",
        "weblogs_csv_gz",
        "weblogs_ndjson",
        "weblogs_orc",
        "weblogs_avro",
        "orders",
        "docs",
        "cloudtrail",
        "cloudtrail_logs",
        "alb_logs",
        "vpc_flow_logs",
    ] {
        let sql = format!("SELECT * FROM {table}");
        let local = on(&f, None, &sql);
        let remote = on(&f, Some(&cluster), &sql);
        assert!(!json_rows(&local).is_empty(), "{table}");
        assert_eq!(sorted(&remote), sorted(&local), "{table}");
        assert_eq!(
            stat(&remote, "bytes_scanned"),
            stat(&local, "bytes_scanned"),
            "{table}: the cluster's bytes against local owl's"
        );
    }
}

/// The pids of the cluster's executor processes (children of `owl cluster up`).
fn executor_pids(cluster: &Cluster) -> Vec<i32> {
    let pid = cluster.child.id();
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// The executors' CPU seconds so far (`/proc/<pid>/stat`, user + system).
fn executors_cpu(cluster: &Cluster) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    executor_pids(cluster)
        .into_iter()
        .map(|p| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                return 0.0; // just ended
            };
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .collect();
            (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / tick
        })
        .sum()
}

/// Wait until the executors have spent `seconds` more CPU time: the query is running on them.
fn until_running(cluster: &Cluster, seconds: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let start = executors_cpu(cluster);
    while executors_cpu(cluster) < start + seconds {
        assert!(
            Instant::now() < deadline,
            "the query never ran on the executors"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `owl cluster status -f json` (`--all`: finished jobs too).
fn cluster_status(f: &Fixture, cluster: &Cluster, all: bool) -> Value {
    let mut cmd = f.owl();
    cmd.args(["--cluster", &cluster.url, "cluster", "status", "-f", "json"]);
    if all {
        cmd.arg("--all");
    }
    serde_json::from_slice(&common::succeed(&mut cmd)).unwrap()
}

/// `sql` on the cluster as a client process that runs on, its answer as JSON on stdout.
fn spawn_query(f: &Fixture, cluster: &Cluster, sql: &str) -> Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"))
        .current_dir(f.path())
        .env_remove("OWL_CATALOG")
        .args(["--cluster", &cluster.url, "query", "-f", "json", sql])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_cancels_the_job_promptly() {
    let f = Fixture::new();
    let cluster = cluster_up(&f, 2);
    // A join of ~10^11 rows that finds none: it would run for hours, its join looping over its input without
    // returning a row.
    let sql = "SELECT count(*) FROM weblogs_parquet a, weblogs_parquet b, weblogs_csv c \
               WHERE a.bytes + b.bytes + c.bytes = 7";
    let client = spawn_query(&f, &cluster, sql);
    // Running on the executors: their CPU time grows, and the scheduler lists the job, named by its query.
    until_running(&cluster, 1.0);
    let running = cluster_status(&f, &cluster, false);
    let jobs = running["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{running}");
    assert_eq!(jobs[0]["state"], "RUNNING", "{running}");
    // Named by its query, as the history writes it.
    let name = jobs[0]["name"].as_str().unwrap();
    assert!(
        name.starts_with("SELECT count(*) FROM weblogs_parquet"),
        "{running}"
    );
    assert!(
        name.ends_with("WHERE a.bytes + b.bytes + c.bytes = 7"),
        "{running}"
    );
    assert!(jobs[0]["ended_ms"].is_null(), "{running}");
    let pid = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let interrupted = Instant::now();
    let out = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // CANCELLED, promptly (the job is cancelled on the scheduler before the client exits).
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CANCELLED"), "{err}");
    assert!(interrupted.elapsed() < Duration::from_secs(10), "{err}");
    // The scheduler says so too: no job running, this one cancelled.
    let after = cluster_status(&f, &cluster, true);
    assert!(
        cluster_status(&f, &cluster, false)["jobs"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let job = after["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == jobs[0]["job_id"])
        .unwrap_or_else(|| panic!("{after}"));
    assert_eq!(job["state"], "CANCELLED", "{after}");
    assert!(job["ended_ms"].as_u64().unwrap() >= job["submitted_ms"].as_u64().unwrap());
    // And its tasks stop on the executors: their CPU time stops growing (it grew by ~2 s a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let before = executors_cpu(&cluster);
        std::thread::sleep(Duration::from_secs(1));
        let used = executors_cpu(&cluster) - before;
        if used < 0.2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the executors still compute the cancelled join ({used:.2} s of CPU a second)"
        );
    }
}

#[test]
fn cluster_status_lists_executors_and_jobs() {
    let f = Fixture::new();
    let cluster = cluster_up(&f, 2);
    let status = cluster_status(&f, &cluster, false);
    let executors = status["executors"].as_array().unwrap();
    assert_eq!(executors.len(), 2, "{status}");
    let pids = executor_pids(&cluster);
    assert_eq!(pids.len(), 2);
    for e in executors {
        assert_eq!(e["host"], "127.0.0.1", "{status}");
        assert_eq!(e["task_slots"], 2, "{status}");
        assert_eq!(e["state"], "active", "{status}");
        // Heartbeats every quarter of the 20 s executor timeout.
        assert!(e["last_heartbeat_secs"].as_u64().unwrap() <= 10, "{status}");
        // Each a Flight port of its own, with its gRPC port beside it.
        assert_ne!(e["flight_port"], e["grpc_port"]);
    }
    assert_ne!(executors[0]["flight_port"], executors[1]["flight_port"]);
    assert!(status["jobs"].as_array().unwrap().is_empty(), "{status}");
    // A query's job: listed with --all once it has ended, named by its query, its stages all done.
    let sql = "SELECT status, count(*) AS n FROM weblogs_parquet GROUP BY status";
    let answer = f.json_with(&["--cluster", &cluster.url], sql);
    assert!(!json_rows(&answer).is_empty());
    let all = cluster_status(&f, &cluster, true);
    let job = all["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| {
            j["name"]
                .as_str()
                .is_some_and(|n| n.ends_with("FROM weblogs_parquet GROUP BY status"))
        })
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(job["state"], "SUCCEEDED", "{all}");
    assert!(
        job["stages"].as_u64().unwrap() >= 2,
        "an aggregation shuffles: {all}"
    );
    assert_eq!(job["completed_stages"], job["stages"], "{all}");
    assert!(job["reason"].is_null());
    // For people: a table of each.
    let out = f
        .owl()
        .args(["--cluster", &cluster.url, "cluster", "status", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 executors, 4 task slots"), "{text}");
    // The query on one line, cut to fit.
    assert!(
        text.contains("SUCCEEDED")
            && text.contains("SELECT status, count(*) AS n FROM weblogs_parquet"),
        "{text}"
    );
    for e in executors {
        assert!(
            text.contains(&format!("127.0.0.1:{}", e["flight_port"])),
            "{text}"
        );
    }
    // The same from OWL_CLUSTER.
    let out = f
        .owl()
        .env("OWL_CLUSTER", &cluster.url)
        .args(["cluster", "status", "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["executors"].as_array().unwrap().len(), 2);
}

/// Rows with floats to 12 significant digits (a parallel sum's last bits vary with how rows split), sorted
/// unless the order is the query's.
fn comparable(doc: &Value, ordered: bool) -> Vec<String> {
    let round = |v: &Value| match v.as_f64() {
        Some(x) if v.is_f64() => Value::String(format!("{x:.11e}")),
        _ => v.clone(),
    };
    let mut rows: Vec<String> = json_rows(doc)
        .into_iter()
        .map(|r| serde_json::to_string(&r.iter().map(round).collect::<Vec<_>>()).unwrap())
        .collect();
    if !ordered {
        rows.sort();
    }
    rows
}

#[test]
fn tpch_on_a_cluster_answers_as_here() {
    let f = Fixture::new();
    serve::tpch(&f);
    let cluster = cluster_up(&f, 2);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tpch");
    for q in 1..=22 {
        let sql = std::fs::read_to_string(dir.join(format!("q{q:02}.sql"))).unwrap();
        let sql = format!("USE tpch; {}", sql.trim());
        let local = on(&f, None, &sql);
        let remote = f.json_last(&["--threads", "2", "--cluster", &cluster.url], &sql);
        let ordered = sql.contains("ORDER BY");
        assert_eq!(
            comparable(&remote, ordered),
            comparable(&local, ordered),
            "q{q:02}"
        );
        // Every query reads; the cluster at least what owl here reads (more only by the footers of files that
        // several tasks read).
        let (l, r) = (
            stat(&local, "bytes_scanned"),
            stat(&remote, "bytes_scanned"),
        );
        assert!(l > 0 && r >= l, "q{q:02}: {r} on the cluster, {l} here");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_query_outlives_a_lost_executor() {
    let f = Fixture::new();
    // Executors lost after 4 s without a heartbeat (one a second).
    let cluster = cluster_up_with(&f, 2, &["--executor-timeout", "4"], None);
    // A join whose output takes the executors seconds to count.
    let sql = "SELECT a.status, count(*) AS n FROM weblogs_parquet a JOIN weblogs_parquet b \
               ON a.status = b.status WHERE a.day <= 3 GROUP BY a.status";
    let local = on(&f, None, sql);
    let mut client = spawn_query(&f, &cluster, sql);
    until_running(&cluster, 0.5);
    let pids = executor_pids(&cluster);
    let killed = nix::unistd::Pid::from_raw(pids[0]);
    nix::sys::signal::kill(killed, nix::sys::signal::Signal::SIGKILL).unwrap();
    let killed_at = Instant::now();
    assert!(
        client.try_wait().unwrap().is_none(),
        "the query ended before an executor was lost"
    );
    let out = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let remote: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The lost executor's tasks ran again on the other: the same answer.
    assert_eq!(sorted(&remote), sorted(&local));
    eprintln!(
        "answered {:?} after the kill; bytes {} here, {} on the cluster",
        killed_at.elapsed(),
        stat(&local, "bytes_scanned"),
        stat(&remote, "bytes_scanned")
    );
    // Billed for every read that reported: all of the query's files at least once, and again for the tasks
    // that ran again (the lost executor's finished ones included: their output was lost with it).
    assert!(stat(&remote, "bytes_scanned") >= stat(&local, "bytes_scanned"));
    // The scheduler drops it once its heartbeats have stopped for the timeout.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = cluster_status(&f, &cluster, false);
        if status["executors"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // With the last one lost too, a query fails with one line, once the scheduler gives up waiting for one.
    let mut client = spawn_query(&f, &cluster, sql);
    // Killed once the scheduler lists the job as running.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cluster_status(&f, &cluster, false);
        if status["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["state"] == "RUNNING")
        {
            break;
        }
        assert!(
            client.try_wait().unwrap().is_none(),
            "the query ended first"
        );
        assert!(Instant::now() < deadline, "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let last = executor_pids(&cluster)
        .into_iter()
        .find(|&p| p != pids[0])
        .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(last),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    eprintln!("{}", errors[0]);
    assert!(errors[0].contains("executor"), "{err}");
}

#[test]
fn a_cluster_reads_s3_and_bills_what_the_server_sent() {
    let f = Fixture::new();
    let s = S3Server::start(&["lake"]);
    upload(
        &f.path().join("sample-data"),
        &s.bucket_dir("lake").join("sample-data"),
    );
    let s3 = |args: &[&str]| {
        let mut cmd = f.owl();
        s.env(&mut cmd);
        common::succeed(cmd.args(args))
    };
    s3(&["query", "CREATE DATABASE s3lake"]);
    s3(&["-d", "s3lake", "crawl", "s3://lake/sample-data"]);
    // The executors read S3 with the credentials of their own environment.
    let cluster = cluster_up_with(&f, 2, &[], Some(&s));
    for sql in [
        "SELECT status, count(*) AS n, sum(bytes) AS b FROM weblogs_parquet WHERE month = 1 GROUP BY status",
        "SELECT count(*), max(latency_ms) FROM weblogs_csv_gz WHERE day = 3",
        "SELECT * FROM weblogs_ndjson WHERE status = 500",
    ] {
        let local: Value =
            serde_json::from_slice(&s3(&["-d", "s3lake", "query", "-f", "json", sql])).unwrap();
        s.reset();
        let remote: Value = serde_json::from_slice(&s3(&[
            "--cluster",
            &cluster.url,
            "-d",
            "s3lake",
            "query",
            "-f",
            "json",
            sql,
        ]))
        .unwrap();
        let server = s.counts();
        assert_eq!(sorted(&remote), sorted(&local), "{sql}");
        // The bill is what the server sent, byte for byte, and one GET for each the server answered.
        assert_eq!(stat(&remote, "bytes_scanned"), server.body_bytes, "{sql}");
        assert_eq!(
            remote["stats"]["requests"]["get"].as_u64(),
            Some(server.get),
            "{sql}"
        );
        assert!(server.body_bytes > 0, "{sql}");
    }
}
