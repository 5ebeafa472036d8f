//! A Ballista cluster of real `owl` processes on 127.0.0.1: `owl cluster up` (a scheduler and two executor
//! processes), queried by the real binary with `--cluster`. Answers and bytes are held to the same queries run
//! locally, whose bytes the meter's own tests hold to the files and to an S3 server's counts.

mod common;

use common::{Fixture, json_rows, stat};
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
    let port = free_port();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"))
        .current_dir(f.path())
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_CLUSTER")
        .args(["cluster", "up", "--executors", &executors.to_string()])
        // Two tasks at once on each: an executor gets several tasks of a stage in one batch.
        .args(["--concurrent-tasks", "2"])
        .args(["--bind", &format!("127.0.0.1:{port}")])
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

/// The executors' CPU seconds so far (`/proc/<pid>/stat`, user + system), children of `owl cluster up`.
fn executors_cpu(cluster: &Cluster) -> f64 {
    let pid = cluster.child.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let tick = 100.0; // USER_HZ on Linux
    children
        .split_whitespace()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap();
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

#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_cancels_the_job_promptly() {
    let f = Fixture::new();
    let cluster = cluster_up(&f, 2);
    // A join of ~10^11 rows: it would run for hours. (Its tasks do not stop when it is cancelled: a join that
    // finds no rows reads its input in one poll of its task and never sees the abort; see the README.)
    let client = std::process::Command::new(assert_cmd::cargo::cargo_bin!("owl"))
        .current_dir(f.path())
        .env_remove("OWL_CATALOG")
        .args(["--cluster", &cluster.url, "query"])
        .arg(
            "SELECT count(*) FROM weblogs_parquet a, weblogs_parquet b, weblogs_csv c \
             WHERE a.bytes + b.bytes + c.bytes = 7",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Running on the executors: their CPU time grows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let start = executors_cpu(&cluster);
    while executors_cpu(&cluster) < start + 1.0 {
        assert!(
            Instant::now() < deadline,
            "the join never ran on the executors"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = nix::unistd::Pid::from_raw(client.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let interrupted = Instant::now();
    let out = client.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // CANCELLED, promptly (the job is cancelled on the scheduler before the client exits).
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("CANCELLED"), "{err}");
    assert!(interrupted.elapsed() < Duration::from_secs(10), "{err}");
}
