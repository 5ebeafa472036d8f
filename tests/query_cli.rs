//! `owl query` through the real binary: results checked against the generator's own rows, bytes against the
//! files' own sizes and metadata.

mod common;

use common::*;
use owl::sample::{WEBLOG_DAYS, weblogs};
use serde_json::Value;

const FORMATS: [(&str, &str); 4] = [
    ("weblogs_csv", ".csv"),
    ("weblogs_csv_gz", ".csv.gz"),
    ("weblogs_ndjson", ".json"),
    ("weblogs_parquet", ".parquet"),
];

#[test]
fn counts_and_sums_match_the_generator_in_every_format() {
    let f = Fixture::new();
    let logs = weblogs();
    let ok_bytes: i64 = logs
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.bytes)
        .sum();
    let with_referrer = logs.iter().filter(|r| r.referrer.is_some()).count() as u64;
    for (table, _) in FORMATS {
        let doc = f.json(&format!(
            "SELECT count(*) AS n, sum(CASE WHEN status = 200 THEN bytes ELSE 0 END) AS ok_bytes, count(referrer) AS refs FROM {table}"
        ));
        let row = &doc["rows"][0];
        assert_eq!(row[0].as_u64().unwrap(), logs.len() as u64, "{table}");
        assert_eq!(row[1].as_i64().unwrap(), ok_bytes, "{table}");
        assert_eq!(row[2].as_u64().unwrap(), with_referrer, "{table}");
        assert_eq!(
            doc["columns"][0],
            serde_json::json!({"name": "n", "type": "bigint"})
        );
        assert_eq!(doc["stats"]["state"], "SUCCEEDED");
        assert_eq!(stat(&doc, "rows"), 1);
    }
}

#[test]
fn per_day_counts_come_from_partition_columns() {
    let f = Fixture::new();
    let logs = weblogs();
    let doc = f.json(
        "SELECT year, month, day, count(*) FROM weblogs_parquet GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    );
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), WEBLOG_DAYS.len());
    for (row, &(y, m, d)) in rows.iter().zip(WEBLOG_DAYS.iter()) {
        let expect = logs
            .iter()
            .filter(|r| (r.year, r.month, r.day) == (y, m, d))
            .count() as u64;
        assert_eq!(row[0].as_i64().unwrap(), y as i64);
        assert_eq!(row[1].as_i64().unwrap(), m as i64);
        assert_eq!(row[2].as_i64().unwrap(), d as i64);
        assert_eq!(row[3].as_u64().unwrap(), expect);
    }
}

#[test]
fn full_text_scans_bill_the_file_sizes() {
    let f = Fixture::new();
    for (table, ext) in FORMATS.iter().filter(|(t, _)| *t != "weblogs_parquet") {
        let expect = size_of_files(&f.data(table), ext);
        // One thread: files are read whole, never split into byte ranges.
        let doc = f.json_with(
            &["--threads", "1"],
            &format!("SELECT count(*), max(user_agent) FROM {table}"),
        );
        assert_eq!(
            stat(&doc, "bytes_scanned"),
            expect,
            "{table}: bytes must equal the (compressed) file sizes"
        );
        assert_eq!(stat(&doc, "files_read"), WEBLOG_DAYS.len() as u64);
        // Every partition survives: one LIST of the table's folder (its 8 files fit one LIST page) rather
        // than one per partition.
        assert_eq!(req(&doc, "list"), 1);
        assert_eq!(
            stat(&doc, "billed_bytes"),
            10_000_000,
            "under 10 MB bills the minimum"
        );
        assert!((doc["stats"]["cost_usd"].as_f64().unwrap() - 0.00005).abs() < 1e-12);
    }
}

#[test]
fn split_text_files_pay_for_their_lookahead() {
    // With two threads DataFusion splits uncompressed text over 1 MiB into byte ranges; each split reads up to
    // 16 KiB past its end to find the line break. Those bytes are read, so they are billed: no more.
    let f = Fixture::new();
    let size = size_of_files(&f.data("weblogs_ndjson"), ".json");
    assert!(
        size > 1 << 20,
        "the NDJSON copy must be big enough to be split"
    );
    let doc = f.json_with(
        &["--threads", "2"],
        "SELECT count(*), max(user_agent) FROM weblogs_ndjson",
    );
    let scanned = stat(&doc, "bytes_scanned");
    assert!(
        scanned > size && scanned <= size + (16 * 1024 + 1),
        "{scanned} vs {size}"
    );
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), weblogs().len() as u64);
    // Gzip cannot be split: compressed size, exactly, whatever the threads.
    let doc = f.json_with(&["--threads", "2"], "SELECT count(*) FROM weblogs_csv_gz");
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        size_of_files(&f.data("weblogs_csv_gz"), ".csv.gz")
    );
}

#[test]
fn one_day_query_opens_only_that_day() {
    let f = Fixture::new();
    let day = f.data("weblogs_csv/year=2024/month=01/day=03/part-00000.csv");
    let size = std::fs::metadata(&day).unwrap().len();
    let expect = weblogs()
        .iter()
        .filter(|r| (r.month, r.day) == (1, 3))
        .count() as u64;
    let doc =
        f.json("SELECT count(*) FROM weblogs_csv WHERE year = 2024 AND month = 1 AND day = 3");
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), expect);
    assert_eq!(stat(&doc, "files_read"), 1);
    assert_eq!(stat(&doc, "bytes_scanned"), size);
    assert_eq!(req(&doc, "list"), 1, "pruned partitions must not be listed");

    // A filter on a non-partition column prunes nothing: every day is read, after one LIST of the table's
    // folder (fewer requests than one per partition).
    let doc = f.json("SELECT count(*) FROM weblogs_csv WHERE status = 404");
    assert_eq!(stat(&doc, "files_read"), WEBLOG_DAYS.len() as u64);
    assert_eq!(req(&doc, "list"), 1);

    // On local disk a listing costs no request but a walk of its folders: a few days of eight are listed each
    // (their folders only), most of them with one walk of the table's folder. (In S3 both are one LIST:
    // tests/s3_cli.rs.)
    type Keep = fn(u32, u32) -> bool;
    let cases: [(&str, Keep, u64); 2] = [
        (
            "month = 1 AND day IN (2, 3)",
            |m, d| m == 1 && (d == 2 || d == 3),
            2,
        ),
        ("day <= 3", |_, d| d <= 3, 1),
    ];
    for (days, keep, lists) in cases {
        let doc = f.json(&format!(
            "SELECT count(*) FROM weblogs_csv WHERE year = 2024 AND {days}"
        ));
        let expect = weblogs().iter().filter(|r| keep(r.month, r.day)).count() as u64;
        assert_eq!(doc["rows"][0][0].as_u64().unwrap(), expect, "{days}");
        assert_eq!(req(&doc, "list"), lists, "{days}");
    }
}

#[test]
fn repeated_queries_in_one_process_bill_the_same() {
    let f = Fixture::new();
    let q = "SELECT path, count(*) FROM weblogs_parquet WHERE month = 2 GROUP BY path";
    let stdout = f.run_ok(&["query", "--format", "json", &format!("{q}; {q}; {q}")]);
    let docs: Vec<Value> = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 3);
    for d in &docs[1..] {
        assert_eq!(stat(d, "bytes_scanned"), stat(&docs[0], "bytes_scanned"));
        assert_eq!(d["stats"]["requests"], docs[0]["stats"]["requests"]);
    }
    assert!(stat(&docs[0], "bytes_scanned") > 0);
}

#[test]
fn stats_line_goes_to_stderr_and_rows_to_stdout() {
    let f = Fixture::new();
    let out = f
        .owl()
        .args(["query", "SELECT count(*) AS n FROM weblogs_csv_gz"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains(&weblogs().len().to_string()), "{stdout}");
    assert!(!stdout.contains("billed"));
    let size = size_of_files(&f.data("weblogs_csv_gz"), ".csv.gz");
    let human = owl::output::human_bytes(size, owl::cost::Units::Decimal);
    assert!(
        stderr.contains("1 row in ")
            && stderr.contains(&format!("scanned {human} · billed 10 MB · $0.00005")),
        "{stderr}"
    );
}

#[test]
fn sql_may_start_with_a_comment_and_flags_still_come_after_it() {
    let f = Fixture::new();
    let day = WEBLOG_DAYS[0].2;
    let sql = format!("-- one day\nSELECT count(*) AS n FROM weblogs_parquet WHERE day = {day}");
    let want = weblogs().iter().filter(|r| r.day == day).count();
    for args in [
        vec!["query", &sql, "--format", "csv"],
        vec!["query", "--format", "csv", &sql],
    ] {
        let out = String::from_utf8(f.run_ok(&args)).unwrap();
        assert_eq!(out, format!("n\n{want}\n"), "{args:?}");
    }
    let out = String::from_utf8(f.run_ok(&["estimate", &sql, "--format", "json"])).unwrap();
    assert!(out.contains("\"statements\""), "{out}");
}

#[test]
fn string_equality_over_parquet_views_counts_as_the_generator_does() {
    let f = Fixture::new();
    let logs = weblogs();
    type Pick = fn(&owl::sample::WebLog) -> bool;
    // Short literals (inline views), a long one (prefix, then bytes), IN lists, negations, a nullable column.
    let cases: [(&str, Pick); 6] = [
        ("method = 'GET'", |r| r.method == "GET"),
        (
            "path IN ('/cart', '/products/42', '/static/style.css')",
            |r| ["/cart", "/products/42", "/static/style.css"].contains(&r.path.as_str()),
        ),
        (
            "user_agent = 'Mozilla/5.0 (Macintosh) Safari/605.1.15'",
            |r| r.user_agent == "Mozilla/5.0 (Macintosh) Safari/605.1.15",
        ),
        ("path <> '/' AND method NOT IN ('GET', 'PUT')", |r| {
            r.path != "/" && !["GET", "PUT"].contains(&r.method.as_str())
        }),
        (
            "referrer = 'https://example.com/' OR method = 'POST'",
            |r| r.referrer.as_deref() == Some("https://example.com/") || r.method == "POST",
        ),
        ("referrer <> 'https://www.google.com/'", |r| {
            r.referrer
                .as_deref()
                .is_some_and(|x| x != "https://www.google.com/")
        }),
    ];
    for (condition, pick) in cases {
        let want = logs.iter().filter(|r| pick(r)).count() as u64;
        counts_with_setting(
            &f,
            "string_view_equality",
            "(by view)",
            condition,
            want,
            true,
        );
    }
}

/// `SELECT count(*) FROM weblogs_parquet WHERE <condition>` counts `want` (> 0) rows with `owl.<setting>` on,
/// and off too when `off_too`; its plan shows `marker` only with the setting on.
fn counts_with_setting(
    f: &Fixture,
    setting: &str,
    marker: &str,
    condition: &str,
    want: u64,
    off_too: bool,
) {
    assert!(want > 0, "{condition}");
    let sql = format!("SELECT count(*) FROM weblogs_parquet WHERE {condition}");
    let ons: &[bool] = if off_too { &[true, false] } else { &[true] };
    for on in ons {
        let doc = f.json_last(&[], &format!("SET owl.{setting} = {on}; {sql}"));
        assert_eq!(doc["rows"][0][0].as_u64(), Some(want), "{condition}, {on}");
    }
    let plan = |on: bool| {
        let doc = f.json_last(&[], &format!("SET owl.{setting} = {on}; EXPLAIN {sql}"));
        doc["rows"].to_string()
    };
    let shown = plan(true);
    assert!(shown.contains(marker), "{condition}: {shown}");
    assert!(!plan(false).contains(marker), "{condition}");
}

#[test]
fn anded_conditions_in_turn_count_as_the_generator_does() {
    let f = Fixture::new();
    let logs = weblogs();
    type Pick = fn(&owl::sample::WebLog) -> bool;
    // Selective first conditions (the rest run on the rows still kept), broad ones, NULLs (referrer), strings.
    let cases: [(&str, Pick); 4] = [
        ("status >= 500 AND bytes > 1000 AND method = 'GET'", |r| {
            r.status >= 500 && r.bytes > 1000 && r.method == "GET"
        }),
        ("bytes > 100 AND status = 200 AND path <> '/'", |r| {
            r.bytes > 100 && r.status == 200 && r.path != "/"
        }),
        (
            "referrer = 'https://www.google.com/' AND latency_ms < 200 AND user_id % 3 = 1",
            |r| {
                r.referrer.as_deref() == Some("https://www.google.com/")
                    && r.latency_ms < 200.0
                    && r.user_id % 3 == 1
            },
        ),
        // Every row with status 200 would divide by zero: the first condition drops them.
        ("status <> 200 AND 1000 / (status - 200) <> 0", |r| {
            r.status != 200 && 1000 / (r.status - 200) != 0
        }),
    ];
    for (condition, pick) in cases {
        let want = logs.iter().filter(|r| pick(r)).count() as u64;
        // DataFusion's AND may divide by zero there (it narrows only below a fifth of a batch).
        let off_too = !condition.contains(" / ");
        counts_with_setting(
            &f,
            "filter_conjunctions",
            "(in turn)",
            condition,
            want,
            off_too,
        );
    }
}

#[test]
fn decimal_arithmetic_checked_once_a_batch_sums_as_exact_integers_do() {
    let f = Fixture::new();
    let logs = weblogs();
    // `bytes` and `status` as decimals of scale 2: products of scale 4, summed exactly.
    // As text: JSON numbers would drop the scale.
    let sql = "SELECT CAST(sum(CAST(bytes AS DECIMAL(12, 2)) * (CAST(status AS DECIMAL(5, 2)) - CAST(1 AS DECIMAL(3, 0)))) AS VARCHAR), \
        CAST(sum(CAST(bytes AS DECIMAL(12, 2)) * CAST(status AS DECIMAL(5, 2)) + CAST(1 AS DECIMAL(3, 0))) AS VARCHAR) \
        FROM weblogs_parquet";
    let exact = |each: &dyn Fn(i128, i128) -> i128| -> String {
        let sum: i128 = logs
            .iter()
            .map(|r| each(i128::from(r.bytes) * 100, i128::from(r.status) * 100))
            .sum();
        format!("{}.{:04}", sum / 10_000, sum % 10_000)
    };
    let want = [
        exact(&|bytes, status| bytes * (status - 100)),
        exact(&|bytes, status| bytes * status + 10_000),
    ];
    for on in [true, false] {
        let doc = f.json_last(&[], &format!("SET owl.decimal_batch_checks = {on}; {sql}"));
        let got: Vec<String> = (0..2)
            .map(|i| doc["rows"][0][i].to_string().trim_matches('"').to_string())
            .collect();
        assert_eq!(got, want, "decimal_batch_checks = {on}");
        // Plans show it in filters and projections (an aggregate shows its name, not its arguments).
        let filter = "SELECT count(*) FROM weblogs_parquet \
            WHERE CAST(bytes AS DECIMAL(12, 2)) * CAST(status AS DECIMAL(5, 2)) > 1000";
        let plan = f.json_last(
            &[],
            &format!("SET owl.decimal_batch_checks = {on}; EXPLAIN {filter}"),
        );
        assert_eq!(
            plan["rows"].to_string().contains("(batch-checked)"),
            on,
            "{plan}"
        );
    }
    // An overflow fails the query either way, with DataFusion's error.
    let huge = "SELECT sum(CAST(bytes AS DECIMAL(38, 0)) * CAST('99999999999999999999999999999999999999' AS DECIMAL(38, 0))) \
        FROM weblogs_parquet";
    let (code_on, err_on) = f.fails(&format!("SET owl.decimal_batch_checks = true; {huge}"));
    let (code_off, err_off) = f.fails(&format!("SET owl.decimal_batch_checks = false; {huge}"));
    // The row named is whichever overflowed first, in either thread.
    for (code, err) in [(code_on, &err_on), (code_off, &err_off)] {
        assert_eq!(code, code_off);
        let last = err.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: Arithmetic overflow: Overflow happened on: ")
                && last.ends_with(" * 99999999999999999999999999999999999999"),
            "{err}"
        );
    }
}

#[test]
fn output_formats() {
    let f = Fixture::new();
    let run = |fmt: &str| {
        let out = f
            .owl()
            .args(["query", "-f", fmt, "SELECT method, count(*) AS n FROM weblogs_parquet WHERE method IN ('PUT','DELETE') GROUP BY method ORDER BY method"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let logs = weblogs();
    let n = |m: &str| logs.iter().filter(|r| r.method == m).count();
    assert_eq!(
        run("csv"),
        format!("method,n\nDELETE,{}\nPUT,{}\n", n("DELETE"), n("PUT"))
    );
    assert_eq!(
        run("tsv"),
        format!("method\tn\nDELETE\t{}\nPUT\t{}\n", n("DELETE"), n("PUT"))
    );
    assert_eq!(
        run("ndjson"),
        format!(
            "{{\"method\":\"DELETE\",\"n\":{}}}\n{{\"method\":\"PUT\",\"n\":{}}}\n",
            n("DELETE"),
            n("PUT")
        )
    );
    assert_eq!(
        run("markdown"),
        format!(
            "| method | n |\n|---|---|\n| DELETE | {} |\n| PUT | {} |\n",
            n("DELETE"),
            n("PUT")
        )
    );
    let table = run("table");
    assert!(
        table.contains("DELETE") && table.contains(&n("PUT").to_string()),
        "{table}"
    );
}

#[test]
fn nested_json_and_plain_folders() {
    let f = Fixture::new();
    let doc = f.json(
        "SELECT user_identity['type'] AS t, count(*) AS n, sum(array_length(resources)) AS r FROM cloudtrail GROUP BY 1 ORDER BY 1",
    );
    let rows = doc["rows"].as_array().unwrap();
    let total: u64 = rows.iter().map(|r| r[1].as_u64().unwrap()).sum();
    assert_eq!(total, 300);
    assert_eq!(
        rows.iter().map(|r| r[2].as_u64().unwrap()).sum::<u64>(),
        300
    );

    let orders = owl::sample::orders();
    let doc = f.json("SELECT partition_1, count(*), sum(quantity) FROM orders WHERE partition_0 = 2024 GROUP BY 1 ORDER BY 1");
    for (i, row) in doc["rows"].as_array().unwrap().iter().enumerate() {
        let m = i as u32 + 1;
        let mine: Vec<_> = orders
            .iter()
            .filter(|o| chrono::Datelike::month(&o.order_date) == m)
            .collect();
        assert_eq!(row[1].as_u64().unwrap(), mine.len() as u64);
        assert_eq!(
            row[2].as_i64().unwrap(),
            mine.iter().map(|o| o.quantity).sum::<i64>()
        );
    }
}

#[test]
fn direct_paths_are_queried_and_billed() {
    let f = Fixture::new();
    let file = "sample-data/weblogs_csv/year=2024/month=02/day=01/part-00000.csv";
    let size = std::fs::metadata(f.path().join(file)).unwrap().len();
    let expect = weblogs()
        .iter()
        .filter(|r| (r.month, r.day) == (2, 1))
        .count() as u64;
    let doc = f.json(&format!("SELECT count(*) FROM '{file}'"));
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), expect);
    // Schema inference reads the file's first lines (886 lines, fewer than the 1,001 it reads: the file, in
    // ranges of 64 KiB and then the rest); the scan reads it again. Both are real reads, both billed.
    assert_eq!(stat(&doc, "bytes_scanned"), 2 * size, "{doc}");
    // A longer file: inference reads its first 64 KiB range only (the 1,001st line ends well within it).
    let lines: String = (0..40_000).map(|i| format!("{i},{}\n", i % 7)).collect();
    std::fs::write(f.path().join("long.csv"), format!("n,m\n{lines}")).unwrap();
    let long = std::fs::metadata(f.path().join("long.csv")).unwrap().len();
    assert!(long > 3 * 65536);
    let doc = f.json("SELECT count(*), sum(m) FROM 'long.csv'");
    let sum: u64 = (0..40_000u64).map(|i| i % 7).sum();
    assert_eq!(doc["rows"], serde_json::json!([[40_000, sum]]));
    assert_eq!(stat(&doc, "bytes_scanned"), long + 65536, "{doc}");
    let doc = f.json("SELECT count(*) FROM 'sample-data/weblogs_parquet/'");
    assert_eq!(doc["rows"][0][0].as_u64().unwrap(), weblogs().len() as u64);
    assert!(stat(&doc, "bytes_scanned") > 0);
}

#[test]
fn select_one_and_ddl_are_free() {
    let f = Fixture::new();
    let doc = f.json("SELECT 1 AS one");
    assert_eq!(stat(&doc, "bytes_scanned"), 0);
    assert_eq!(stat(&doc, "billed_bytes"), 0);
    let doc = f.json("SHOW TABLES");
    assert_eq!(doc["stats"]["statement_type"], "UTILITY");
    assert_eq!(doc["stats"]["cost_usd"], 0.0);
}

#[test]
fn ctrl_c_cancels_and_bills_what_was_read() {
    let f = Fixture::new();
    // A three-way cross join of ~6,000 rows: billions of combinations, so it is still running when cancelled.
    let sql = "SELECT count(*) FROM weblogs_parquet a, weblogs_parquet b, weblogs_parquet c \
               WHERE a.bytes + b.bytes + c.bytes = 7";
    let child = f.spawn(&["query", sql]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "cancel must be prompt"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no partial result");
    let err = String::from_utf8_lossy(&out.stderr);
    // It read the Parquet files before the join ran, and pays for that: the 10 MB minimum.
    assert!(
        err.contains("CANCELLED after") && err.contains("billed 10 MB · $0.00005"),
        "{err}"
    );
}

#[test]
fn the_planner_sees_row_counts_from_the_registry_in_proportion_to_the_files_a_scan_keeps() {
    let f = Fixture::new();
    std::fs::write(
        f.path().join("explain.sql"),
        "SET datafusion.explain.show_statistics = true;\n\
         EXPLAIN SELECT request_id FROM weblogs_parquet WHERE day = 2;\n",
    )
    .unwrap();
    let out = String::from_utf8(f.run_ok(&["run", "explain.sql", "-f", "csv"])).unwrap();
    let reg = f.registry_json("default", "weblogs_parquet");
    let rows = reg["stats"]["record_count"].as_f64().unwrap();
    let size = reg["stats"]["size_bytes"].as_f64().unwrap();
    let kept = (size_of_files(&f.data("weblogs_parquet/year=2024/month=01/day=02"), "")
        + size_of_files(&f.data("weblogs_parquet/year=2024/month=02/day=02"), ""))
        as f64;
    let want = format!(
        "statistics=[Rows=Inexact({}), Bytes=Inexact({})",
        (rows * kept / size).round(),
        kept
    );
    assert!(out.contains(&want), "{want} not in {out}");
    // Inexact: a count still reads the files (the registry may be stale), and is exact.
    let doc = f.json("SELECT count(*) FROM weblogs_parquet WHERE day = 2");
    let truth = owl::sample::weblogs().iter().filter(|r| r.day == 2).count();
    assert_eq!(doc["rows"][0][0], truth);
    assert!(stat(&doc, "bytes_scanned") > 0);
}

/// The crawler keeps each Parquet column's bounds and null count from the footers (checked here against the
/// generator's rows); the planner sees them; and they steer plans only: a file added after the crawl with
/// values beyond the bounds is still found by a filter and counted by an aggregate.
#[test]
fn column_statistics_from_parquet_footers_reach_the_planner_and_never_the_answers() {
    let f = Fixture::new();
    let logs = weblogs();
    let reg = f.registry_json("default", "weblogs_parquet");
    let cols = &reg["stats"]["columns"];
    let (lo, hi) = (
        logs.iter().map(|r| r.user_id).min().unwrap(),
        logs.iter().map(|r| r.user_id).max().unwrap(),
    );
    assert_eq!(cols["user_id"]["min"], lo.to_string());
    assert_eq!(cols["user_id"]["max"], hi.to_string());
    assert_eq!(cols["user_id"]["nulls"], 0);
    let status_hi = logs.iter().map(|r| r.status).max().unwrap();
    assert_eq!(cols["status"]["max"], status_hi.to_string());
    let ts_lo = logs.iter().map(|r| r.ts).min().unwrap();
    assert_eq!(
        cols["ts"]["min"],
        ts_lo.format("%Y-%m-%dT%H:%M:%S").to_string()
    );
    // Strings keep a null count only, and whether they are clustered (referrers are in no order).
    let no_referrer = logs.iter().filter(|r| r.referrer.is_none()).count();
    assert_eq!(
        cols["referrer"],
        serde_json::json!({ "nulls": no_referrer, "clustered": false })
    );

    let text = String::from_utf8(f.run_ok(&["describe", "weblogs_parquet"])).unwrap();
    let want = format!("user_id bigint  {lo} .. {hi}, 0 nulls");
    assert!(text.contains(&want), "{want} not in {text}");
    assert!(
        text.contains(&format!("referrer string  {no_referrer} nulls")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("records") && l.contains(&format!(" {} ", logs.len()))),
        "{text}"
    );

    std::fs::write(
        f.path().join("explain.sql"),
        "SET datafusion.explain.show_statistics = true;\n\
         EXPLAIN SELECT user_id, day FROM weblogs_parquet;\n",
    )
    .unwrap();
    let out = String::from_utf8(f.run_ok(&["run", "explain.sql", "-f", "csv"])).unwrap();
    let want = format!("Min=Inexact(Int64({lo})) Max=Inexact(Int64({hi})) Null=Inexact(0)");
    assert!(out.contains(&want), "{want} not in {out}");
    // A partition column: the range and number of values of the partitions scanned.
    let days: std::collections::BTreeSet<u32> = WEBLOG_DAYS.iter().map(|d| d.2).collect();
    let want = format!(
        "Min=Inexact(Int64({})) Max=Inexact(Int64({})) Distinct=Inexact({})",
        days.first().unwrap(),
        days.last().unwrap(),
        days.len()
    );
    assert!(out.contains(&want), "{want} not in {out}");

    // A file with a user beyond the registry's maximum, added to a known partition after the crawl.
    f.run_ok(&[
        "query",
        &format!(
            "CREATE TABLE extra WITH (format = 'PARQUET', external_location = 'out/extra/') AS \
             SELECT ts, request_id, user_id + 1000000 AS user_id, client_ip, method, path, status, bytes, \
             latency_ms, user_agent, referrer FROM weblogs_parquet WHERE user_id = {hi} LIMIT 1"
        ),
    ]);
    let written: Vec<_> = std::fs::read_dir(f.path().join("out/extra"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    std::fs::copy(
        &written[0],
        f.data("weblogs_parquet/year=2024/month=01/day=02/late.parquet"),
    )
    .unwrap();
    let doc = f.json(&format!(
        "SELECT count(*), max(user_id) FROM weblogs_parquet WHERE user_id > {hi}"
    ));
    assert_eq!(doc["rows"][0][0], 1);
    assert_eq!(doc["rows"][0][1], hi + 1_000_000);
    let doc = f.json("SELECT max(user_id) FROM weblogs_parquet");
    assert_eq!(doc["rows"][0][0], hi + 1_000_000);
}

/// Each day's Parquet file gets its partition's bounds from the registry, so a scan skips, unopened, the days no
/// row of which can pass (a WHERE here; a top-k's or a join's run-time filter alike), and a top-k reads the days
/// with the highest values first. A day whose files changed since the crawl (a rewritten or touched file) is
/// opened and read as without statistics: answers always come from the files.
#[test]
fn partition_bounds_skip_files_unopened_until_the_files_change() {
    let f = Fixture::new();
    let logs = weblogs();
    let day_rows = |d: &(i32, u32, u32)| -> Vec<&owl::sample::WebLog> {
        logs.iter()
            .filter(|r| (r.year, r.month, r.day) == *d)
            .collect()
    };
    let file_of = |d: &(i32, u32, u32)| {
        f.data(&format!(
            "weblogs_parquet/year={}/month={:02}/day={:02}/part-00000.parquet",
            d.0, d.1, d.2
        ))
    };
    // The registry: each day's count, bytes, rows, numeric bounds and the files' time (the generator's fixed one).
    let reg = f.registry_json("default", "weblogs_parquet");
    let parts = reg["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), WEBLOG_DAYS.len());
    for (p, d) in parts.iter().zip(WEBLOG_DAYS.iter()) {
        let rows = day_rows(d);
        let s = &p["stats"];
        assert_eq!(p["values"][2], format!("{:02}", d.2));
        assert_eq!(s["object_count"], 1);
        assert_eq!(s["record_count"], rows.len());
        assert_eq!(
            s["size_bytes"],
            std::fs::metadata(file_of(d)).unwrap().len()
        );
        assert_eq!(s["last_modified"], "2024-12-31T00:00:00.000Z");
        let hi = rows.iter().map(|r| r.user_id).max().unwrap();
        let lo = rows.iter().map(|r| r.user_id).min().unwrap();
        assert_eq!(s["columns"]["user_id"]["min"], lo.to_string());
        assert_eq!(s["columns"]["user_id"]["max"], hi.to_string());
        assert_eq!(s["columns"]["user_id"]["nulls"], 0);
        let first = rows.iter().map(|r| r.ts).min().unwrap();
        assert_eq!(
            s["columns"]["ts"]["min"],
            first.format("%Y-%m-%dT%H:%M:%S").to_string()
        );
        // Strings have no range to skip files by: not kept per partition.
        assert!(s["columns"].get("referrer").is_none(), "{s}");
    }

    // WHERE ts >= the last two days' start: those two days can hold such rows, six are skipped before their
    // footers are read.
    let x = chrono::NaiveDate::from_ymd_opt(2024, 2, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let sql = "SELECT count(*) FROM weblogs_parquet WHERE ts >= TIMESTAMP '2024-02-02 00:00:00'";
    let want = logs.iter().filter(|r| r.ts >= x).count();
    let scan = |f: &Fixture| -> (u64, String) {
        let count = f.json(sql)["rows"][0][0].as_u64().unwrap();
        let plan = f.csv_in("default", &format!("EXPLAIN ANALYZE {sql}"));
        let files = plan
            .split(", ")
            .find(|m| m.starts_with("files_ranges_pruned_statistics="))
            .unwrap_or_else(|| panic!("no file pruning metric: {plan}"))
            .to_string();
        (count, files)
    };
    assert_eq!(
        scan(&f),
        (
            want as u64,
            "files_ranges_pruned_statistics=8 total → 2 matched".to_string()
        )
    );

    // A top-k reads, in each thread, the day with the highest latency first (EXPLAIN lists each thread's files
    // in the order it reads them), and answers as the generator does. (A string second key: DataFusion orders
    // files by bounds only when it has them for every key.)
    let max_latency = |day: u32, month: u32| -> f64 {
        let d = WEBLOG_DAYS
            .iter()
            .find(|d| d.1 == month && d.2 == day)
            .unwrap();
        day_rows(d)
            .iter()
            .map(|r| r.latency_ms)
            .fold(f64::MIN, f64::max)
    };
    let topk = "SELECT latency_ms, request_id FROM weblogs_parquet \
                ORDER BY latency_ms DESC, request_id LIMIT 3";
    let plan = f.csv_in("default", &format!("EXPLAIN {topk}"));
    let groups = plan
        .split("file_groups={")
        .nth(1)
        .and_then(|g| g.split("]]}").next())
        .unwrap_or_else(|| panic!("no file groups: {plan}"));
    let mut seen = 0;
    for group in groups.split("], [") {
        let order: Vec<f64> = group
            .split(", ")
            .filter(|p| p.contains("month="))
            .map(|p| {
                let field = |k: &str| -> u32 {
                    p.split(&format!("{k}=")).nth(1).unwrap()[..2]
                        .parse()
                        .unwrap()
                };
                max_latency(field("day"), field("month"))
            })
            .collect();
        seen += order.len();
        assert!(
            order.windows(2).all(|w| w[0] >= w[1]),
            "files not read best first: {order:?} in {group}"
        );
    }
    assert!(seen >= 5, "{groups}");
    let mut top: Vec<(f64, &str)> = logs
        .iter()
        .map(|r| (r.latency_ms, r.request_id.as_str()))
        .collect();
    top.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let got: Vec<(f64, String)> = f.json(topk)["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_f64().unwrap(), r[1].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(f64, String)> = top[..3].iter().map(|(l, r)| (*l, r.to_string())).collect();
    assert_eq!(got, want);

    // A file rewritten since the crawl (the first day, its rows now 60 days later): its day is opened and its
    // rows counted.
    let day = WEBLOG_DAYS[0];
    f.run_ok(&[
        "query",
        &format!(
            "CREATE TABLE moved WITH (format = 'PARQUET', external_location = 'out/moved/') AS \
             SELECT ts + INTERVAL '60' DAY AS ts, request_id, user_id, client_ip, method, path, status, bytes, \
             latency_ms, user_agent, referrer FROM weblogs_parquet \
             WHERE year = {} AND month = {} AND day = {} ORDER BY ts",
            day.0, day.1, day.2
        ),
    ]);
    let written: Vec<_> = std::fs::read_dir(f.path().join("out/moved"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    std::fs::copy(&written[0], file_of(&day)).unwrap();
    let moved = day_rows(&day).len();
    let still = logs.iter().filter(|r| r.ts >= x).count();
    assert_eq!(
        scan(&f),
        (
            (still + moved) as u64,
            "files_ranges_pruned_statistics=8 total → 3 matched".to_string()
        )
    );

    // A file only touched (same bytes, a new time) is opened too: the registry cannot tell it from a rewrite.
    std::fs::File::options()
        .write(true)
        .open(file_of(&WEBLOG_DAYS[1]))
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    assert_eq!(
        scan(&f),
        (
            (still + moved) as u64,
            "files_ranges_pruned_statistics=8 total → 4 matched".to_string()
        )
    );

    // Every file touched: no bounds apply, yet a join's keys still skip the days they rule out by the partition
    // values (day 3 is in two months).
    for d in &WEBLOG_DAYS {
        std::fs::File::options()
            .write(true)
            .open(file_of(d))
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
    }
    let join = "SELECT count(*) FROM weblogs_parquet w JOIN (SELECT 3 AS d) x ON w.day = x.d";
    let want = logs.iter().filter(|r| r.day == 3).count();
    assert_eq!(f.json(join)["rows"][0][0], want);
    let plan = f.csv_in("default", &format!("EXPLAIN ANALYZE {join}"));
    assert!(
        plan.contains("files_ranges_pruned_statistics=8 total → 2 matched"),
        "{plan}"
    );
}

/// One listing of the table's folder finds exactly the files one listing per partition would: hidden files and
/// folders, files outside every partition and files of pruned partitions are never read.
#[test]
fn one_listing_of_the_table_skips_hidden_stray_and_pruned_files() {
    let f = Fixture::new();
    let table = f.data("weblogs_csv");
    let day = table.join("year=2024/month=01/day=02");
    let junk = b"ts,request_id\nnot,a log line\n";
    std::fs::write(day.join("_SUCCESS"), junk).unwrap();
    std::fs::write(day.join(".part-00000.csv.crc"), junk).unwrap();
    std::fs::create_dir_all(day.join("_temporary/0")).unwrap();
    std::fs::write(day.join("_temporary/0/part-00009.csv"), junk).unwrap();
    std::fs::write(table.join("stray.csv"), junk).unwrap();
    std::fs::create_dir_all(table.join("year=2024/month=09")).unwrap();
    std::fs::write(table.join("year=2024/month=09/loose.csv"), junk).unwrap();

    let logs = weblogs();
    let doc = f.json("SELECT count(*) FROM weblogs_csv");
    assert_eq!(doc["rows"][0][0], logs.len());
    assert_eq!(stat(&doc, "files_read"), WEBLOG_DAYS.len() as u64);
    assert_eq!(
        stat(&doc, "bytes_scanned"),
        size_of_files(&table, ".csv") - junk.len() as u64 * 3
    );
    assert_eq!(req(&doc, "list"), 1);

    // Seven days of eight (day 2 with its hidden files among them): still one listing, the pruned day's
    // file left out.
    let doc = f.json("SELECT count(*) FROM weblogs_csv WHERE day <> 5");
    assert_eq!(
        doc["rows"][0][0],
        logs.iter().filter(|r| r.day != 5).count()
    );
    assert_eq!(stat(&doc, "files_read"), 7);
    assert_eq!(req(&doc, "list"), 1);

    // Two days of eight, on local disk: each day's folder listed, the hidden files skipped the same way.
    let doc = f.json("SELECT count(*) FROM weblogs_csv WHERE day = 2");
    assert_eq!(
        doc["rows"][0][0],
        logs.iter().filter(|r| r.day == 2).count()
    );
    assert_eq!(stat(&doc, "files_read"), 2);
    assert_eq!(req(&doc, "list"), 2);
}

/// A CTE a query reads more than once, and that aggregates, is computed once (as DuckDB and PostgreSQL do;
/// DataFusion and Athena scan it per reference): billed as one scan of its files, answered as the inline plan
/// answers. `SET owl.materialize_ctes = false` goes back to a scan per reference. A CTE that only filters stays
/// inline (each reference pushes its own filter down), and so does one with a volatile function.
#[test]
fn a_cte_read_three_times_is_scanned_once() {
    let f = Fixture::new();
    let size = size_of_files(&f.data("weblogs_csv"), ".csv");
    let cte = "WITH daily AS (SELECT month, day, count(*) AS hits FROM weblogs_csv GROUP BY month, day) \
               SELECT a.month, a.day, a.hits FROM daily a JOIN daily b ON a.month = b.month AND a.day = b.day \
               WHERE a.hits = (SELECT max(hits) FROM daily) ORDER BY a.month, a.day";
    // The answer, from the generator: the busiest day(s) and their hits.
    let mut per_day = std::collections::BTreeMap::new();
    for r in weblogs() {
        *per_day.entry((r.month, r.day)).or_insert(0u64) += 1;
    }
    let max = *per_day.values().max().unwrap();
    let busiest: Vec<Value> = per_day
        .iter()
        .filter(|(_, n)| **n == max)
        .map(|((m, d), n)| serde_json::json!([m, d, n]))
        .collect();
    // One thread: files are read whole (no split lookahead), so one scan is exactly the files' size.
    let once = f.json_with(&["--threads", "1"], cte);
    assert_eq!(once["rows"], Value::Array(busiest.clone()));
    assert_eq!(stat(&once, "bytes_scanned"), size, "computed once");
    assert_eq!(stat(&once, "files_read"), WEBLOG_DAYS.len() as u64);
    // On several threads too, in order.
    let threads = f.json_with(&["--threads", "4"], cte);
    assert_eq!(threads["rows"], Value::Array(busiest.clone()));
    // The estimate prices it once too.
    let est: Value =
        serde_json::from_slice(&f.run_ok(&["--threads", "1", "estimate", "-f", "json", cte]))
            .unwrap();
    assert_eq!(est["statements"][0]["bytes_scanned"], size);

    // EXPLAIN shows what runs: the CTE's plan once, under the node that computes it before the statement, and
    // the three places the statement reads its result; and reads nothing.
    let explain = f.json_with(&["--threads", "1"], &format!("EXPLAIN {cte}"));
    assert_eq!(stat(&explain, "bytes_scanned"), 0);
    let text = explain["rows"].to_string();
    assert!(
        text.contains("ComputeSharedExec: daily once each, then the statement"),
        "{text}"
    );
    assert!(text.contains("ComputeShared: daily"), "{text}");
    assert_eq!(text.matches("ComputedOnceExec: daily").count(), 3, "{text}");
    assert_eq!(text.matches("DataSourceExec").count(), 1, "{text}");
    // EXPLAIN ANALYZE runs that plan: one scan.
    let analyze = f.json_with(&["--threads", "1"], &format!("EXPLAIN ANALYZE {cte}"));
    assert_eq!(stat(&analyze, "bytes_scanned"), size, "EXPLAIN ANALYZE");
    // So does a CTAS over it.
    let ctas = f.json_with(
        &["--threads", "1"],
        &format!("CREATE TABLE busiest WITH (format = 'PARQUET', external_location = 'out/busiest/') AS {cte}"),
    );
    assert_eq!(stat(&ctas, "bytes_scanned"), size, "CTAS");
    let copied = f.json("SELECT month, day, hits FROM busiest ORDER BY month, day");
    assert_eq!(copied["rows"], Value::Array(busiest.clone()));
    // A shared CTE that keeps the top rows of a sort: the sort under its LIMIT stays.
    let mut top: Vec<u64> = per_day.values().copied().collect();
    top.sort_unstable_by(|a, b| b.cmp(a));
    let top_two = f.json_with(
        &["--threads", "1"],
        "WITH top AS (SELECT month, day, count(*) AS n FROM weblogs_csv GROUP BY month, day \
         ORDER BY n DESC, month, day LIMIT 2) \
         SELECT (SELECT count(*) FROM top) * 1000000 + (SELECT sum(n) FROM top)",
    );
    assert_eq!(top_two["rows"][0][0], 2 * 1_000_000 + top[0] + top[1]);
    assert_eq!(stat(&top_two, "bytes_scanned"), size);

    let sql = format!("SET owl.materialize_ctes = false; {cte}");
    let out = f.run_ok(&["--threads", "1", "query", "-f", "json", &sql]);
    let inline: Value = serde_json::from_slice(out.split(|&b| b == b'\n').nth(1).unwrap())
        .expect("the query's document follows the SET's");
    assert_eq!(inline["rows"], Value::Array(busiest));
    assert_eq!(
        stat(&inline, "bytes_scanned"),
        3 * size,
        "inline: one scan per reference"
    );

    // A shared CTE inside another shared CTE: the inner one is computed first, then the outer one over it.
    let nested = f.json_with(
        &["--threads", "1"],
        "WITH a AS (SELECT month, day, count(*) AS n FROM weblogs_csv GROUP BY month, day), \
         b AS (SELECT x.month, x.day, x.n + y.n AS n2 FROM a x JOIN a y ON x.month = y.month AND x.day = y.day) \
         SELECT (SELECT max(n2) FROM b) - (SELECT min(n2) FROM b)",
    );
    let min = *per_day.values().min().unwrap();
    assert_eq!(nested["rows"][0][0], 2 * (max - min));
    assert_eq!(stat(&nested, "bytes_scanned"), size);

    // A shared CTE that needs a scalar subquery's value, read by scalar subqueries: DataFusion runs scalar
    // subqueries before the statement, so this one stays inline, and answers.
    let logs = weblogs();
    let mean = logs.iter().map(|r| r.bytes as f64).sum::<f64>() / logs.len() as f64;
    let mut big = std::collections::BTreeMap::new();
    for r in logs.iter().filter(|r| r.bytes as f64 > mean) {
        *big.entry((r.month, r.day)).or_insert(0u64) += 1;
    }
    let spread = big.values().max().unwrap() - big.values().min().unwrap();
    let needs = f.json_with(
        &["--threads", "1"],
        "WITH d AS (SELECT month, day, count(*) AS n FROM weblogs_csv \
         WHERE bytes > (SELECT avg(bytes) FROM weblogs_csv) GROUP BY month, day) \
         SELECT (SELECT max(n) FROM d) - (SELECT min(n) FROM d)",
    );
    assert_eq!(needs["rows"][0][0], spread);

    // Only a filter: inline, each reference scanning for itself.
    let filtered = f.json_with(
        &["--threads", "1"],
        "WITH ok AS (SELECT * FROM weblogs_csv WHERE status = 200) \
         SELECT (SELECT count(*) FROM ok) + (SELECT count(DISTINCT path) FROM ok)",
    );
    assert_eq!(stat(&filtered, "bytes_scanned"), 2 * size);
    // A volatile function: each reference is its own draw, so it is not shared (while the query reads the
    // column that draws; unread, the planner drops it and the two references are equal again).
    let random = f.json_with(
        &["--threads", "1"],
        "WITH r AS (SELECT month, day, count(*) + random() * 0 AS n FROM weblogs_csv GROUP BY month, day) \
         SELECT count(*) FROM r a JOIN r b ON a.month = b.month AND a.day = b.day AND a.n = b.n",
    );
    assert_eq!(stat(&random, "bytes_scanned"), 2 * size);
    assert_eq!(random["rows"][0][0], per_day.len());
}

#[test]
fn owl_settings_are_shown_and_checked() {
    let f = Fixture::new();
    let out =
        String::from_utf8(f.run_ok(&["query", "-f", "csv", "SHOW owl.materialize_ctes"])).unwrap();
    assert!(out.contains("owl.materialize_ctes,true"), "{out}");
    let (_, err) = f.fails("SET owl.materialize_ctes = maybe");
    assert!(
        err.contains("owl.materialize_ctes is true or false, not `maybe`"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (_, err) = f.fails("SET owl.no_such_thing = 1");
    assert!(err.contains("unknown setting `owl.no_such_thing`"), "{err}");
    let out = String::from_utf8(f.run_ok(&["query", "-f", "csv", "SHOW owl.dynamic_row_filters"]))
        .unwrap();
    assert!(out.contains("owl.dynamic_row_filters,true"), "{out}");
    let (_, err) = f.fails("SET owl.dynamic_row_filters = sometimes");
    assert!(
        err.contains("owl.dynamic_row_filters is true or false, not `sometimes`"),
        "{err}"
    );
}

/// 60,000 facts keyed 0..59,999 (`v` = k % 97, a label) and 4 dimension rows, as Parquet in database `lake`,
/// crawled into database `crawled` so the registry knows the key's range.
fn facts_and_dims(f: &Fixture) {
    f.run_ok(&["query", "CREATE DATABASE lake"]);
    f.run_ok(&[
        "-d",
        "lake",
        "query",
        "CREATE TABLE facts WITH (format = 'PARQUET', external_location = 'lake/facts/') AS \
         SELECT value AS k, value % 97 AS v, concat('row-', CAST(value AS VARCHAR)) AS label \
         FROM generate_series(0, 59999)",
    ]);
    f.run_ok(&[
        "-d",
        "lake",
        "query",
        "CREATE TABLE dims WITH (format = 'PARQUET', external_location = 'lake/dims/') AS \
         SELECT * FROM (VALUES (7, 'seven'), (7007, 'big'), (42042, 'bigger'), (99, 'x')) AS t(k, name)",
    ]);
    f.run_ok(&["query", "CREATE DATABASE crawled"]);
    f.run_ok(&["-d", "crawled", "crawl", "lake"]);
}

/// A top-k on a float column filters its Parquet scan row by row too: the scan's condition on a float is kept
/// out of pruning's sight (NaN is in no min/max), and the row filter still finds the top-k's filter inside it.
/// NaN sorts above every number, -0.0 and 0.0 are one zero; the answers are the same with the setting off.
#[test]
fn a_top_k_on_a_float_column_filters_row_by_row() {
    let f = Fixture::new();
    f.run_ok(&["query", "CREATE DATABASE lake"]);
    f.run_ok(&[
        "-d",
        "lake",
        "query",
        "CREATE TABLE floats WITH (format = 'PARQUET', external_location = 'lake/floats/') AS \
         SELECT value AS k, CASE WHEN value % 20011 = 5 THEN CAST('NaN' AS DOUBLE) \
         WHEN value % 1009 = 0 THEN CAST(-0.0 AS DOUBLE) ELSE CAST(value % 997 AS DOUBLE) / 10 END AS x, \
         concat('row-', CAST(value AS VARCHAR)) AS label FROM generate_series(0, 59999)",
    ]);
    f.run_ok(&["query", "CREATE DATABASE crawled"]);
    f.run_ok(&["-d", "crawled", "crawl", "lake/floats"]);
    // The expected keys, from the rows as the CTAS wrote them: by x (NaN above all, the zeros equal), then k.
    let x = |k: i64| {
        if k % 20011 == 5 {
            f64::NAN
        } else if k % 1009 == 0 {
            0.0
        } else {
            (k % 997) as f64 / 10.0
        }
    };
    let mut keys: Vec<i64> = (0..60_000).collect();
    keys.sort_by(|a, b| x(*a).total_cmp(&x(*b)).then(a.cmp(b)));
    let first = |ks: &[i64]| serde_json::json!(ks.iter().map(|k| [*k]).collect::<Vec<_>>());
    let desc: Vec<i64> = {
        let mut d = keys.clone();
        d.sort_by(|a, b| x(*b).total_cmp(&x(*a)).then(a.cmp(b)));
        d
    };
    for (sql, rows) in [
        (
            "SELECT k FROM floats ORDER BY x DESC, k LIMIT 4",
            first(&desc[..4]),
        ),
        (
            "SELECT k FROM floats ORDER BY x, k LIMIT 3",
            first(&keys[..3]),
        ),
    ] {
        let doc = f.json_with(&["-d", "crawled"], sql);
        assert_eq!(doc["rows"], rows, "{sql}");
        let plan = f.csv_in("crawled", &format!("EXPLAIN ANALYZE {sql}"));
        assert!(
            plan.contains("row_filter=on (a top-k's filter)"),
            "{sql}: {plan}"
        );
        assert!(plan.contains("CASE WHEN DynamicFilter"), "{sql}: {plan}");
        let off = f.csv_in(
            "crawled",
            &format!("SET owl.dynamic_row_filters = false; {sql}"),
        );
        let on = f.csv_in(
            "crawled",
            &format!("SET owl.dynamic_row_filters = true; {sql}"),
        );
        assert_eq!(on, off, "{sql}");
    }
    // The NaN rows lead the descending order; the zeros (k = 0 is -0.0, k = 997 is 0.0) the ascending one.
    assert_eq!(&desc[..3], [5, 20016, 40027]);
    assert_eq!(&keys[..3], [0, 997, 1009]);
}

/// A scan with a `WHERE` of its own gets a join's run-time filter in the filter above it, after its own
/// conditions: when the filter lists the join's keys, and when the join pushed it through an aggregation (even
/// as lookups into the join's hash table). Answers are the same with the setting off.
#[test]
fn run_time_filters_join_a_scans_own_filter() {
    let f = Fixture::new();
    facts_and_dims(&f);
    let many = (0..60_000i64).filter(|k| k % 97 < 40).count();
    let cases = [
        (
            "SELECT f.k, f.label, d.name FROM facts f JOIN dims d ON f.k = d.k \
             WHERE d.name <> 'x' AND f.v < 90 ORDER BY f.k",
            serde_json::json!([
                [7, "row-7", "seven"],
                [7007, "row-7007", "big"],
                [42042, "row-42042", "bigger"]
            ]),
            " < 90",
        ),
        (
            "SELECT count(*), sum(a.s) FROM (SELECT k, sum(v) AS s FROM facts WHERE v >= 0 GROUP BY k) a \
             JOIN (SELECT k FROM facts WHERE v < 40) g ON a.k = g.k",
            serde_json::json!([[
                many,
                (0..60_000i64)
                    .filter(|k| k % 97 < 40)
                    .map(|k| k % 97)
                    .sum::<i64>()
            ]]),
            " >= 0",
        ),
    ];
    for (sql, rows, own) in cases {
        for on in [true, false] {
            let doc = f.json_last(
                &["-d", "crawled"],
                &format!("SET owl.dynamic_row_filters = {on}; {sql}"),
            );
            assert_eq!(doc["rows"], rows, "{sql}, {on}");
            let plan = f.csv_in(
                "crawled",
                &format!("SET owl.dynamic_row_filters = {on}; EXPLAIN ANALYZE {sql}"),
            );
            let filters: Vec<&str> = plan
                .lines()
                .filter(|l| l.trim_start().starts_with("FilterExec: v@") && l.contains(own))
                .collect();
            assert_eq!(filters.len(), 1, "{plan}");
            assert_eq!(filters[0].contains("DynamicFilter"), on, "{sql}: {plan}");
        }
    }

    // A recursive query re-runs its recursive term (a join over the facts, with a WHERE of their own) from a
    // reset plan: each round must join with that round's rows, never a run-time filter left from the round
    // before. (DataFusion 55 builds this join on the facts and pushes no run-time filter into the term; the
    // answer guards the filter-above-scan path should that change.)
    let doc = f.json_with(
        &["-d", "crawled"],
        "WITH RECURSIVE r(k, n) AS (SELECT k, 0 FROM dims WHERE name = 'seven' \
         UNION ALL SELECT f.k + 1, r.n + 1 FROM r JOIN facts f ON f.k = r.k WHERE f.v < 90 AND r.n < 3) \
         SELECT k, n FROM r ORDER BY n",
    );
    assert_eq!(
        doc["rows"],
        serde_json::json!([[7, 0], [8, 1], [9, 2], [10, 3]])
    );
}

/// With `owl.join_key_bitmaps` on and off: `sql` (a count and a sum of `v` over the facts whose keys are
/// `keys`) answers as the generator says; each setting's `EXPLAIN ANALYZE`.
fn bitmap_plans(f: &Fixture, sql: &str, keys: &[i64]) -> Vec<(bool, String)> {
    [true, false]
        .into_iter()
        .map(|on| {
            let set = format!("SET owl.join_key_bitmaps = {on};");
            let doc = f.json_last(&["-d", "crawled"], &format!("{set} {sql}"));
            assert_eq!(
                doc["rows"],
                serde_json::json!([[keys.len(), keys.iter().map(|k| k % 97).sum::<i64>()]]),
                "{on}"
            );
            (
                on,
                f.csv_in("crawled", &format!("{set} EXPLAIN ANALYZE {sql}")),
            )
        })
        .collect()
}

/// A join with more keys than its run-time filter lists (4,096) gathers them into a bitmap as it reads its build
/// side: the filter above the probe side's scan then drops the rows that match no key, where it would pass them
/// all to the join (its lookup into the join's hash table costs what the join's probe does, so it is not
/// evaluated there). The keys gathered and the rows the filter keeps, as `EXPLAIN ANALYZE` shows them, are the
/// generator's; answers are the same with `SET owl.join_key_bitmaps = false`.
#[test]
fn joins_with_many_keys_filter_their_probe_side_by_a_bitmap() {
    let f = Fixture::new();
    facts_and_dims(&f);
    let keys: Vec<i64> = (0..60_000i64).filter(|k| k % 97 < 10).collect();
    let (n, span) = (keys.len(), keys[keys.len() - 1] - keys[0] + 1);
    assert!(n > 4096);
    let sql = "SELECT count(*), sum(f.v) FROM facts f JOIN (SELECT k FROM facts WHERE v < 10) g ON f.k = g.k \
               WHERE f.label <> 'none'";
    for (on, plan) in bitmap_plans(&f, sql, &keys) {
        let collector = plan.lines().find(|l| l.contains("CollectKeysExec"));
        let filter = plan
            .lines()
            .find(|l| l.trim_start().starts_with("FilterExec: label@"))
            .unwrap_or_else(|| panic!("{plan}"));
        let kept = count_metric(filter, "output_rows");
        if on {
            let collector = collector.unwrap_or_else(|| panic!("{plan}"));
            assert!(
                collector.contains(&format!("bitmap of {n} keys over {span} values")),
                "{collector}"
            );
            assert!(
                filter.contains(&format!("(tested by a bitmap of the join's {n} keys)")),
                "{filter}"
            );
            // Shown to three digits.
            assert!(kept.abs_diff(n as u64) <= 5, "{kept} of {n}: {filter}");
        } else {
            assert!(collector.is_none(), "{plan}");
            assert_eq!(kept, 60_000, "{filter}");
        }
    }
}

/// A join on a key and an aggregate of it (TPC-H q2's `p_partkey = ps_partkey AND ps_supplycost =
/// min(ps_supplycost)`) gets no run-time filter below the aggregation from DataFusion; owl filters the rows by
/// the join's gathered keys before they are grouped. Rows the filter keeps are the generator's; answers are the
/// same with `SET owl.join_key_bitmaps = false`.
#[test]
fn a_join_on_an_aggregate_filters_the_rows_it_groups_by_the_joins_keys() {
    let f = Fixture::new();
    facts_and_dims(&f);
    let keys: Vec<i64> = (0..60_000i64).filter(|k| k % 97 < 10).collect();
    let n = keys.len();
    let sql = "SELECT count(*), sum(f.v) FROM facts f \
               JOIN (SELECT k, min(v) AS m FROM facts GROUP BY k) a ON f.k = a.k AND f.v = a.m WHERE f.v < 10";
    for (on, plan) in bitmap_plans(&f, sql, &keys) {
        let filter = plan.lines().find(|l| l.contains("IN (the join's keys"));
        if on {
            let filter = filter.unwrap_or_else(|| panic!("{plan}"));
            assert!(
                filter.contains(&format!("(the join's keys: {n} by bitmap)")),
                "{filter}"
            );
            let kept = count_metric(filter, "output_rows");
            assert!(kept.abs_diff(n as u64) <= 5, "{kept} of {n}: {filter}");
            // Below the aggregation that groups the rows it keeps.
            let at = plan.find("IN (the join's keys").unwrap();
            assert!(plan[..at].contains("AggregateExec: mode=Partial"), "{plan}");
        } else {
            assert!(filter.is_none(), "{plan}");
        }
    }
}

/// A join whose build side has few keys, and an `ORDER BY ... LIMIT`, filter the Parquet scan below them row
/// by row (the scan has no `WHERE` of its own); a join with many keys does not. The choice shows in `EXPLAIN
/// ANALYZE` with the counts it was made on; answers are the same with `SET owl.dynamic_row_filters = false`.
#[test]
fn selective_run_time_filters_apply_row_by_row() {
    let f = Fixture::new();
    facts_and_dims(&f);

    // Keys of the facts whose v is below a bound: 5/97 of the key range is a small table's share to filter
    // (at most a quarter of its values), 40/97 is not.
    let below = |bound: i64| (0..60_000i64).filter(|k| k % 97 < bound).count();
    let (few, many) = (below(5), below(40));
    let cases = [
        (
            "SELECT f.k, f.label, d.name FROM facts f JOIN dims d ON f.k = d.k WHERE d.name <> 'x' ORDER BY f.k"
                .to_string(),
            "row_filter=on (a join's filter has 3 keys of ~60000 values)".to_string(),
            serde_json::json!([[7, "row-7", "seven"], [7007, "row-7007", "big"], [42042, "row-42042", "bigger"]]),
        ),
        (
            "SELECT * FROM facts ORDER BY v DESC, k LIMIT 3".to_string(),
            "row_filter=on (a top-k's filter)".to_string(),
            serde_json::json!([[96, 96, "row-96"], [193, 96, "row-193"], [290, 96, "row-290"]]),
        ),
        (
            "SELECT count(*) FROM facts f JOIN (SELECT k FROM facts WHERE v < 5) g ON f.k = g.k".to_string(),
            format!("row_filter=on (a join's filter has {few} keys of ~60000 values, a small table)"),
            serde_json::json!([[few]]),
        ),
        (
            "SELECT count(*) FROM facts f JOIN (SELECT k FROM facts WHERE v < 40) g ON f.k = g.k".to_string(),
            // Not row by row (41% of the keys), but the keys are tested on the decoded rows: the join probes
            // those that pass.
            format!(
                "row_filter=off (a join's filter has {many} keys of ~60000 values), after_decoding=on (keys tested \
                 on 60000 rows, {many} passed)"
            ),
            serde_json::json!([[many]]),
        ),
    ];
    for (sql, choice, rows) in cases {
        let sql = sql.as_str();
        let doc = f.json_with(&["-d", "crawled"], sql);
        assert_eq!(doc["rows"], rows, "{sql}");
        let plan = f.csv_in("crawled", &format!("EXPLAIN ANALYZE {sql}"));
        assert_eq!(plan.matches("row_filter=").count(), 1, "{plan}");
        assert!(plan.contains(&choice), "{sql}: {plan}");
        if choice.contains(&format!("has {few} keys")) {
            // A join's filter that lists thousands of keys shows its first 20.
            assert!(
                plan.contains(&format!(", ... {} more])", few - 20)),
                "{plan}"
            );
        }

        let out = f.run_ok(&[
            "-d",
            "crawled",
            "query",
            "-f",
            "json",
            &format!("SET owl.dynamic_row_filters = false; {sql}"),
        ]);
        let off: Value = serde_json::from_slice(out.split(|&b| b == b'\n').nth(1).unwrap())
            .expect("the query's document follows the SET's");
        assert_eq!(off["rows"], rows, "{sql} with row filters off");
        let out = f.run_ok(&[
            "-d",
            "crawled",
            "query",
            "-f",
            "csv",
            &format!("SET owl.dynamic_row_filters = false; EXPLAIN ANALYZE {sql}"),
        ]);
        assert!(!String::from_utf8_lossy(&out).contains("row_filter="));
    }

    // A recursive query re-runs its recursive term (a join over the Parquet facts) from a reset plan; it
    // answers, within a timeout. (DataFusion 55 pushes no run-time filter into that term; were one there, the
    // reset scan would not wait for it, since the reset joins no longer produce it.)
    let stdout = succeed(
        f.owl()
            .args(["-d", "crawled", "query", "-f", "json"])
            .arg(
                "WITH RECURSIVE r(k, n) AS (SELECT k, 0 FROM dims WHERE name = 'seven' \
             UNION ALL SELECT f.k + 1, r.n + 1 FROM r JOIN facts f ON f.k = r.k WHERE r.n < 3) \
             SELECT k, n FROM r ORDER BY n",
            )
            .timeout(std::time::Duration::from_secs(60)),
    );
    let doc: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(
        doc["rows"],
        serde_json::json!([[7, 0], [8, 1], [9, 2], [10, 3]])
    );
}

/// 60,000 facts sorted by `k` (0..59,999), with `v` a permutation of `k` spread over every row group, in one
/// Parquet file of 60 row groups of 1,000 rows, pages of 250.
fn write_sorted_facts(path: &std::path::Path) {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use std::sync::Arc;

    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("label", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(Int64Array::from_iter_values(0..60_000)),
            Arc::new(Int64Array::from_iter_values(
                (0..60_000).map(|k| k * 7_919 % 60_000),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..60_000).map(|k| format!("row-{k}")),
            )),
        ],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1_000))
        .set_data_page_row_count_limit(250)
        .set_write_batch_size(250)
        .build();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn a_joins_listed_keys_skip_row_groups_and_pages() {
    let f = Fixture::new();
    write_sorted_facts(&f.path().join("lake/facts/part-0.parquet"));
    // 30 keys (more than DataFusion's own pruning reads from a list: 20), one in every other row group, in the
    // first quarter of its 4 pages.
    let keys: Vec<i64> = (0..30).map(|i| i * 2_000 + 7).collect();
    f.run_ok(&["query", "CREATE DATABASE lake"]);
    f.run_ok(&[
        "-d",
        "lake",
        "query",
        "CREATE TABLE dims WITH (format = 'PARQUET', external_location = 'lake/dims/') AS \
         SELECT value * 2000 + 7 AS k, concat('d', CAST(value AS VARCHAR)) AS name FROM generate_series(0, 29)",
    ]);
    f.run_ok(&["-d", "lake", "crawl", "lake"]);

    // The row groups and pages that hold a key, counted from the layout written above.
    let groups: std::collections::BTreeSet<i64> = keys.iter().map(|k| k / 1_000).collect();
    let pages: std::collections::BTreeSet<i64> = keys.iter().map(|k| k / 250).collect();
    assert_eq!((groups.len(), pages.len()), (30, 30));
    let expected: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| serde_json::json!([k, format!("row-{k}"), format!("d{i}")]))
        .collect();
    let sql = "SELECT f.k, f.label, d.name FROM facts f JOIN dims d ON f.k = d.k ORDER BY f.k";
    // The join's filter as one list (a small build side), and split by hash partitions (a CASE).
    let partitioned = "SET datafusion.execution.target_partitions = 4; \
        SET datafusion.optimizer.hash_join_single_partition_threshold = 0; \
        SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0;";
    for (mode, settings) in [("one list", ""), ("partitioned", partitioned)] {
        let mut scanned = Vec::new();
        for on in [true, false] {
            let script = format!("{settings} SET owl.join_key_pruning = {on};");
            let doc = f.json_last(&["-d", "lake"], &format!("{script} {sql}"));
            assert_eq!(
                doc["rows"],
                Value::Array(expected.clone()),
                "{mode}, pruning {on}"
            );
            scanned.push(stat(&doc, "bytes_scanned"));

            let plan = f.csv_in("lake", &format!("{script} EXPLAIN ANALYZE {sql}"));
            let scan = plan
                .lines()
                .find(|l| l.contains("part-0.parquet"))
                .unwrap_or_else(|| panic!("no facts scan: {plan}"));
            if mode == "partitioned" {
                assert!(scan.contains("CASE hash_repartition % 4"), "{scan}");
            }
            let matched = |metric: &str| pruned(scan, metric);
            let groups_read = matched("row_groups_pruned_statistics");
            let pages_read = matched("page_index_pages_pruned").1;
            if on {
                assert_eq!(groups_read, (60, groups.len() as u64), "{mode}: {scan}");
                assert_eq!(pages_read, pages.len() as u64, "{mode}: {scan}");
            } else {
                // DataFusion alone: at most the keys' bounds (a list's) or nothing (a CASE's).
                assert!(groups_read.1 >= 59, "{mode}, no pruning: {scan}");
                assert!(
                    pages_read == 0 || pages_read > 4 * 50,
                    "{mode}, no pruning: {scan}"
                );
            }
        }
        assert!(scanned[0] < scanned[1], "{mode}: {scanned:?}");
    }
}

#[test]
fn a_scan_reads_its_page_index_for_run_time_filters_only_when_they_narrow_a_clustered_column() {
    let f = Fixture::new();
    write_sorted_facts(&f.path().join("lake/facts/part-0.parquet"));
    f.run_ok(&["query", "CREATE DATABASE lake"]);
    f.run_ok(&["-d", "lake", "crawl", "lake/facts"]);
    // Two small tables of join keys: 750 keys in 500..1249, and 1,200 keys spread over the whole range.
    for (name, keys) in [
        (
            "narrow",
            "SELECT value AS k FROM generate_series(500, 1249)",
        ),
        (
            "spread",
            "SELECT value * 50 AS k FROM generate_series(0, 1199)",
        ),
    ] {
        f.run_ok(&[
            "-d",
            "lake",
            "query",
            &format!("CREATE TABLE {name} WITH (format = 'PARQUET', external_location = 'lake/{name}/') AS {keys}"),
        ]);
    }
    let stats = &f.registry_json("lake", "facts")["stats"]["columns"];
    assert_eq!(stats["k"]["clustered"], true);
    assert_eq!(stats["v"]["clustered"], false);

    // "<metric>=<total> total → <matched> matched" of the scan that filters on `v`.
    let scan_of = |sql: &str| -> String {
        let plan = f.csv_in("lake", &format!("EXPLAIN ANALYZE {sql}"));
        plan.lines()
            .find(|l| l.contains("part-0.parquet") && l.contains("v@"))
            .unwrap_or_else(|| panic!("no scan filtering on v: {plan}"))
            .to_string()
    };

    // 750 keys, 500..1249: their bounds span 1% of `k`, so the page index is read, and keeps the 3 pages of 250
    // rows that hold them in the 2 row groups the bounds keep.
    let narrow = "SELECT count(*), min(f.k), max(f.k) FROM facts f JOIN narrow g ON f.k = g.k WHERE f.v <> -1";
    assert_eq!(
        f.json_with(&["-d", "lake"], narrow)["rows"],
        serde_json::json!([[750, 500, 1249]])
    );
    let scan = scan_of(narrow);
    assert!(
        scan.contains("page_index=on (a join's filter spans 1% of `k`'s range)"),
        "{scan}"
    );
    assert_eq!(pruned(&scan, "row_groups_pruned_statistics"), (60, 2));
    assert_eq!(pruned(&scan, "page_index_pages_pruned"), (8, 3));

    // Keys spread over the whole range: no page can be skipped, and none is read.
    let spread = "SELECT count(*) FROM facts f JOIN spread g ON f.k = g.k WHERE f.v <> -1";
    let spread_rows = 1_200;
    assert_eq!(
        f.json_with(&["-d", "lake"], spread)["rows"],
        serde_json::json!([[spread_rows]])
    );
    let scan = scan_of(spread);
    assert!(
        scan.contains("page_index=off (a join's filter spans 100% of `k`'s range)"),
        "{scan}"
    );
    assert_eq!(pruned(&scan, "page_index_pages_pruned").0, 0);

    // The same scans as DataFusion plans them: the page index read in both, the same answers.
    for (sql, rows) in [
        (narrow, serde_json::json!([[750, 500, 1249]])),
        (spread, serde_json::json!([[spread_rows]])),
    ] {
        let doc = f.json_last(
            &["-d", "lake"],
            &format!("SET owl.clustered_page_index = false; {sql}"),
        );
        assert_eq!(doc["rows"], rows);
        let plan = f.csv_in(
            "lake",
            &format!("SET owl.clustered_page_index = false; EXPLAIN ANALYZE {sql}"),
        );
        assert!(!plan.contains("page_index="), "{plan}");
    }
}

/// `ANALYZE TABLE ... COMPUTE STATISTICS` scans a text table once, billed, and records what its footers cannot
/// give: the exact row count and each column's bounds, nulls and distinct values, checked against the generator.
#[test]
fn analyze_computes_a_text_tables_statistics_with_one_billed_scan() {
    let f = Fixture::new();
    let logs = weblogs();
    let before = f.registry_json("default", "weblogs_csv");
    assert!(
        before["stats"]["columns"].is_null(),
        "a crawl keeps no CSV column statistics"
    );

    // `owl estimate` prices it as the scan it is, before it runs.
    let est: Value = serde_json::from_slice(&f.run_ok(&[
        "estimate",
        "-f",
        "json",
        "ANALYZE TABLE weblogs_csv COMPUTE STATISTICS",
    ]))
    .unwrap();
    let size = size_of_files(&f.data("weblogs_csv"), ".csv");
    assert_eq!(est["statements"][0]["bytes_scanned"], size);
    assert_eq!(
        f.registry_json("default", "weblogs_csv"),
        before,
        "an estimate writes nothing"
    );

    let doc = f.json("ANALYZE TABLE weblogs_csv COMPUTE STATISTICS");
    assert_eq!(doc["stats"]["statement_type"], "DML");
    assert_eq!(stat(&doc, "bytes_scanned"), size);
    assert!(stat(&doc, "billed_bytes") > 0);
    assert_eq!(
        doc["rows"].as_array().unwrap().len(),
        11,
        "one row per data column"
    );
    let printed = doc["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == "status")
        .unwrap();
    assert_eq!(
        printed,
        &serde_json::json!(["status", "200", "500", 0, 4, logs.len()])
    );

    let after = f.registry_json("default", "weblogs_csv");
    assert_eq!(
        after["version_id"], before["version_id"],
        "statistics are not a new version"
    );
    assert_eq!(after["stats"]["record_count"], logs.len());
    let cols = &after["stats"]["columns"];
    let distinct = |v: Vec<String>| {
        v.into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert_eq!(
        cols["status"]["min"],
        logs.iter().map(|r| r.status).min().unwrap().to_string()
    );
    assert_eq!(
        cols["status"]["max"],
        logs.iter().map(|r| r.status).max().unwrap().to_string()
    );
    assert_eq!(cols["status"]["nulls"], 0);
    assert_eq!(
        cols["status"]["distinct"],
        distinct(logs.iter().map(|r| r.status.to_string()).collect())
    );
    let users = distinct(logs.iter().map(|r| r.user_id.to_string()).collect()) as f64;
    let estimate = cols["user_id"]["distinct"].as_f64().unwrap();
    assert!(
        (estimate - users).abs() <= users * 0.03,
        "{estimate} vs {users}"
    );
    assert_eq!(
        cols["referrer"]["nulls"],
        logs.iter().filter(|r| r.referrer.is_none()).count()
    );
    assert!(cols["referrer"]["min"].is_null(), "strings keep no bounds");
    assert!(
        cols["latency_ms"]["distinct"].is_null(),
        "no distinct count for doubles"
    );
    assert_eq!(
        cols["bytes"]["max"],
        logs.iter().map(|r| r.bytes).max().unwrap().to_string()
    );

    // The same through `DESCRIBE`; the answers of queries are unchanged.
    let text = String::from_utf8(f.run_ok(&["describe", "weblogs_csv"])).unwrap();
    assert!(
        text.contains("status bigint  200 .. 500, 0 nulls, 4 distinct"),
        "{text}"
    );

    // Bad requests fail with one line naming what is wrong, and write nothing.
    for (sql, says) in [
        (
            "ANALYZE TABLE weblogs_csv COMPUTE STATISTICS FOR COLUMNS nope",
            "column `nope` is not a data column",
        ),
        (
            "ANALYZE TABLE weblogs_csv COMPUTE STATISTICS FOR COLUMNS day",
            "a partition key",
        ),
        (
            "ANALYZE TABLE weblogs_csv PARTITION (day = 2) COMPUTE STATISTICS",
            "PARTITION",
        ),
        (
            "ANALYZE TABLE nope COMPUTE STATISTICS",
            "`default.nope` does not exist",
        ),
    ] {
        let (code, err) = f.fails(sql);
        assert_eq!(code, 1, "{sql}");
        assert!(err.contains(says), "{sql}: {err}");
    }
    assert_eq!(f.registry_json("default", "weblogs_csv"), after);
}

/// Inner joins of four tables run in the order that keeps the fewest rows between joins, not the FROM clause's,
/// once `ANALYZE` has counted the tables' distinct values: the small dimension filtered by its region joins the
/// fact table first. Before `ANALYZE`, and with `SET owl.join_reordering = false`, the FROM order stays. Same
/// answer (checked against the generator) every way; the rows the joins produce, read from `EXPLAIN ANALYZE`,
/// are fewer; `EXPLAIN` shows the order.
#[test]
fn inner_joins_are_ordered_by_the_rows_they_produce() {
    let f = Fixture::new();
    star_schema(&f);

    // The answer from the generator: facts of stores in region 1 whose product's group is below 5.
    let (mut n, mut total) = (0i64, 0i64);
    for v in 0..20_000i64 {
        let (a, b) = (v % 1000, (v * 7) % 100);
        if b % 5 == 1 && a % 10 < 5 {
            n += 1;
            total += v % 13;
        }
    }
    let sql = "SELECT r_name, count(*) AS n, sum(amount) AS total \
               FROM facts, products, stores, regions \
               WHERE fk_a = a_id AND fk_b = b_id AND b_region = r_id AND r_name = 'r1' AND a_group < 5 \
               GROUP BY r_name";
    let mut produced = Vec::new();
    // (analyzed, setting): only counted statistics reorder.
    for (analyzed, on) in [(false, true), (true, true), (true, false)] {
        // The tables are analyzed once, at the first step that wants them analyzed.
        if analyzed && on {
            analyze_star(&f);
        }
        let reordered = analyzed && on;
        let script = format!("SET owl.join_reordering = {on};");
        let doc = f.json_last(&["-d", "star"], &format!("{script} {sql}"));
        assert_eq!(
            doc["rows"],
            serde_json::json!([["r1", n, total]]),
            "analyzed {analyzed}, reordering {on}"
        );

        let plan = f.csv_in("star", &format!("{script} EXPLAIN {sql}"));
        // The innermost join: the one indented deepest.
        let innermost = plan
            .lines()
            .filter(|l| l.contains("Inner Join:"))
            .max_by_key(|l| l.len() - l.trim_start().len())
            .unwrap_or_else(|| panic!("no join: {plan}"));
        if reordered {
            assert!(
                innermost.contains("b_region = regions.r_id")
                    || innermost.contains("r_id = stores.b_region"),
                "{plan}"
            );
        } else {
            assert!(innermost.contains("fk_a = products.a_id"), "{plan}");
        }

        // Without run-time filters (which thin the scans below the joins), each join's output is what the layout
        // above says it joins.
        let profile = f.csv_in(
            "star",
            &format!(
                "{script} SET datafusion.optimizer.enable_join_dynamic_filter_pushdown = false; \
                 EXPLAIN ANALYZE {sql}"
            ),
        );
        let rows: u64 = profile
            .lines()
            .filter(|l| l.contains("HashJoinExec"))
            .map(|l| count_metric(l, "output_rows"))
            .sum();
        produced.push(rows);
    }
    // Reordered: stores of region 1 (20) join the facts first (4,000 rows), then products (2,000); in the
    // FROM order, facts meet products first (10,000 rows), then stores (10,000), then regions (2,000).
    let from_order = 10_000 + 10_000 + n as u64;
    assert_eq!(
        produced,
        vec![from_order, 20 + 4_000 + n as u64, from_order],
        "{produced:?}"
    );
}

#[test]
fn not_in_a_subquery_streams_the_outer_rows_with_sql_null_rules() {
    let f = Fixture::new();
    let logs = weblogs();
    let errors: std::collections::HashSet<i64> = logs
        .iter()
        .filter(|r| r.status == 500)
        .map(|r| r.user_id)
        .collect();
    // Users who never saw a 500: an independent count.
    let want = logs.iter().filter(|r| !errors.contains(&r.user_id)).count();
    let count = |on: bool, sql: &str| -> u64 {
        let doc = f.json_last(&[], &format!("SET owl.streamed_not_in = {on}; {sql}"));
        doc["rows"][0][0]
            .as_u64()
            .unwrap_or_else(|| panic!("{doc}"))
    };
    let cases = [
        (
            "SELECT count(*) FROM weblogs_parquet \
             WHERE user_id NOT IN (SELECT user_id FROM weblogs_csv WHERE status = 500)",
            want,
        ),
        // A NULL among the subquery's values: no row passes.
        (
            "SELECT count(*) FROM weblogs_parquet \
             WHERE path NOT IN (SELECT referrer FROM weblogs_ndjson)",
            0,
        ),
        // No values at all: every row passes, whatever its key.
        (
            "SELECT count(*) FROM weblogs_parquet \
             WHERE referrer NOT IN (SELECT path FROM weblogs_csv WHERE status = 999)",
            logs.len(),
        ),
        // NULL keys never pass a subquery that has values (`referrer` is NULL on some rows).
        (
            "SELECT count(*) FROM weblogs_parquet \
             WHERE referrer NOT IN (SELECT path FROM weblogs_csv WHERE status = 500)",
            logs.iter().filter(|r| r.referrer.is_some()).count(),
        ),
    ];
    for (sql, want) in cases {
        for on in [true, false] {
            assert_eq!(count(on, sql), want as u64, "streamed_not_in = {on}: {sql}");
        }
        let plan = |on: bool| {
            f.json_last(
                &[],
                &format!("SET owl.streamed_not_in = {on}; EXPLAIN {sql}"),
            )["rows"]
                .to_string()
        };
        assert!(plan(true).contains("NotInExec"), "{}", plan(true));
        // DataFusion's physical join, `HashJoinExec: ..., null_aware`, only when the setting is off.
        assert!(!plan(true).contains(", null_aware"), "{}", plan(true));
        assert!(plan(false).contains(", null_aware"), "{}", plan(false));
    }
    // Rows, not only counts: the same users, in any order, as DataFusion's join gives.
    let rows = |on: bool| {
        let doc = f.json_last(
            &[],
            &format!(
                "SET owl.streamed_not_in = {on}; SELECT DISTINCT user_id FROM weblogs_parquet \
                 WHERE user_id NOT IN (SELECT user_id FROM weblogs_parquet WHERE status >= 404) \
                 ORDER BY user_id"
            ),
        );
        doc["rows"].clone()
    };
    let mut want: Vec<i64> = logs
        .iter()
        .map(|r| r.user_id)
        .filter(|u| !logs.iter().any(|r| r.status >= 404 && r.user_id == *u))
        .collect();
    want.sort_unstable();
    want.dedup();
    assert_eq!(
        rows(true),
        serde_json::json!(want.iter().map(|u| [u]).collect::<Vec<_>>())
    );
    assert_eq!(rows(true), rows(false));
}

#[test]
fn count_distinct_of_integers_by_few_groups_uses_bitmaps_and_counts_as_the_generator_does() {
    let f = Fixture::new();
    let logs = weblogs();
    // Independent counts from the generator's rows: per (month, day), distinct users, distinct byte sizes,
    // distinct users among 404s, rows.
    let mut want: std::collections::BTreeMap<(u32, u32), [std::collections::HashSet<i64>; 3]> =
        Default::default();
    let mut rows_per_day: std::collections::BTreeMap<(u32, u32), usize> = Default::default();
    for r in &logs {
        let sets = want.entry((r.month, r.day)).or_default();
        sets[0].insert(r.user_id);
        sets[1].insert(r.bytes);
        if r.status == 404 {
            sets[2].insert(r.user_id);
        }
        *rows_per_day.entry((r.month, r.day)).or_default() += 1;
    }
    let expected: Vec<Value> = want
        .iter()
        .map(|((m, d), s)| {
            serde_json::json!([
                m,
                d,
                s[0].len(),
                s[1].len(),
                s[2].len(),
                rows_per_day[&(*m, *d)]
            ])
        })
        .collect();
    let grouped = "SELECT month, day, count(DISTINCT user_id), count(DISTINCT bytes), \
                   count(DISTINCT user_id) FILTER (WHERE status = 404), count(*) \
                   FROM weblogs_parquet GROUP BY month, day ORDER BY month, day";
    let all_users: std::collections::HashSet<i64> = logs.iter().map(|r| r.user_id).collect();
    let global = "SELECT count(DISTINCT user_id) FROM weblogs_parquet";
    for on in [true, false] {
        let set = format!("SET owl.bitmap_count_distinct = {on}; ");
        let doc = f.json_last(&[], &format!("{set}{grouped}"));
        assert_eq!(doc["rows"], Value::Array(expected.clone()), "on = {on}");
        let doc = f.json_last(&[], &format!("{set}{global}"));
        assert_eq!(doc["rows"][0][0], all_users.len(), "on = {on}");
        for sql in [grouped, global] {
            let plan = f.json_last(&[], &format!("{set}EXPLAIN {sql}"))["rows"].to_string();
            assert_eq!(plan.contains("owl_count_distinct"), on, "{plan}");
        }
    }
    // Without bounds for the column (a CSV table, not analyzed) or with many groups (by request id, one a
    // row), DataFusion's two-level plan stays, with the same answers.
    for sql in [
        "SELECT day, count(DISTINCT user_id) FROM weblogs_csv GROUP BY day ORDER BY day",
        "SELECT request_id, count(DISTINCT user_id) FROM weblogs_parquet GROUP BY request_id",
        "SELECT count(DISTINCT path) FROM weblogs_parquet",
    ] {
        let plan = f.json_last(&[], &format!("EXPLAIN {sql}"))["rows"].to_string();
        assert!(!plan.contains("owl_count_distinct"), "{sql}: {plan}");
    }
    // The column's name and type are the query's own.
    let doc = f.json_last(&[], global);
    assert_eq!(
        doc["columns"],
        serde_json::json!([{"name": "count(DISTINCT weblogs_parquet.user_id)", "type": "bigint"}])
    );
}

/// What a statement names that does not exist, said in the user's own terms with the nearest known name: read
/// from DataFusion's typed errors and the statement's table references (CTEs, paths, other databases).
#[test]
fn missing_tables_columns_and_paths_are_named_with_the_nearest_known_name() {
    let f = Fixture::new();
    let cases: [(&str, &str, Option<&str>); 9] = [
        (
            "SELECT nope FROM weblogs_csv",
            "column `nope` does not exist",
            None,
        ),
        (
            "SELECT w.stauts FROM weblogs_csv w",
            "column `w.stauts` does not exist",
            Some("status"),
        ),
        // Quoted names keep their case: the column of that name in another case is the likely one.
        (
            "SELECT \"Status\" FROM weblogs_csv",
            "column `Status` does not exist",
            Some("status"),
        ),
        (
            "SELECT * FROM weblogs_parqet",
            "table `default.weblogs_parqet` does not exist",
            Some("weblogs_parquet"),
        ),
        (
            "SELECT * FROM default.nope",
            "table `default.nope` does not exist",
            None,
        ),
        (
            "SELECT * FROM awsdatacatalog.default.orderz",
            "table `default.orderz` does not exist",
            Some("orders"),
        ),
        (
            "SELECT * FROM nodb.weblogs_csv",
            "database `nodb` does not exist",
            None,
        ),
        // A CTE of that name is no table: the missing one is the table the CTE reads.
        (
            "WITH weblogs AS (SELECT * FROM weblog_csv) SELECT * FROM weblogs",
            "table `default.weblog_csv` does not exist",
            Some("weblogs_csv"),
        ),
        (
            "SELECT * FROM 'no/such/folder/'",
            "no file or folder at `no/such/folder/`",
            None,
        ),
    ];
    for (sql, says, hint) in cases {
        let (code, err) = f.fails(sql);
        assert_eq!(code, 1, "{sql}: {err}");
        assert!(err.contains(says), "{sql}: {err}");
        match hint {
            Some(h) => assert!(
                err.contains(&format!("hint: did you mean `{h}`?")),
                "{sql}: {err}"
            ),
            None => assert!(!err.contains("did you mean"), "{sql}: {err}"),
        }
    }
}
