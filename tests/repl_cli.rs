//! The shell, driven as a person drives it: the real `owl` binary in a pseudo-terminal (typing, Tab, Ctrl-C,
//! the arrow keys), and with stdin a pipe (batch mode: no prompt, exit codes).

mod common;

use common::{Fixture, size_of_files};
use rexpect::session::PtySession;
use std::path::Path;
use std::time::{Duration, Instant};

const PROMPT: &str = "owl:default> ";

/// `owl` in a pseudo-terminal 120 columns wide, in the fixture folder, history in `history`.
fn shell(f: &Fixture, history: &Path) -> PtySession {
    let owl = assert_cmd::cargo::cargo_bin!("owl");
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("stty cols 120 rows 40 && exec '{}'", owl.display()))
        .current_dir(f.path())
        .env_remove("OWL_CATALOG")
        .env_remove("OWL_DATABASE")
        .env("OWL_HISTORY", history)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let opts = rexpect::reader::Options::new()
        .timeout_ms(Some(30_000))
        .strip_ansi_escape_codes(true);
    let mut p = rexpect::session::spawn_with_options(cmd, opts).unwrap();
    expect(&mut p, "database `default`");
    expect(&mut p, PROMPT);
    p
}

/// rexpect reads the terminal byte by byte, one `char` per byte: text to expect, in that form.
fn bytes(s: &str) -> String {
    s.bytes().map(char::from).collect()
}

/// What rexpect read, back to UTF-8.
fn utf8(s: &str) -> String {
    String::from_utf8_lossy(&s.chars().map(|c| c as u8).collect::<Vec<u8>>()).into_owned()
}

/// Wait for `text` (UTF-8) on the terminal.
fn expect(p: &mut PtySession, text: &str) {
    if let Err(e) = p.exp_string(&bytes(text)) {
        panic!("expected {text:?}: {}", utf8(&e.to_string()));
    }
}

/// Wait for `re` (a regex over ASCII and `.`) and return the match, as UTF-8.
fn expect_re(p: &mut PtySession, re: &str) -> String {
    match p.exp_regex(re) {
        Ok((_, m)) => utf8(&m),
        Err(e) => panic!("expected /{re}/: {}", utf8(&e.to_string())),
    }
}

/// Type keys without Enter.
fn keys(p: &mut PtySession, s: &str) {
    p.send(s).unwrap();
    p.flush().unwrap();
}

/// Rows in the Parquet files under `dir`, from their footers (an independent count).
fn parquet_rows(dir: &Path) -> i64 {
    common::walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            let file = std::fs::File::open(p).unwrap();
            let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
            parquet::file::reader::FileReader::metadata(&reader)
                .file_metadata()
                .num_rows()
        })
        .sum()
}

#[test]
fn a_statement_over_several_lines_runs_at_its_semicolon_with_its_bill() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut p = shell(&f, &dir.path().join("history"));
    let rows = parquet_rows(&f.data("weblogs_parquet"));
    p.send_line("SELECT count(*) AS n").unwrap();
    p.send_line("FROM weblogs_parquet").unwrap();
    // Not run yet: the statement has no `;`.
    p.send_line("WHERE status >= 0;").unwrap();
    expect(&mut p, &format!("│ {rows} "));
    let footer = expect_re(&mut p, r"1 row in [0-9.]+ s .. scanned [^\r\n]+");
    // What the files' own footers say a one-column query reads.
    let scanned = owl::output::human_bytes(
        common::parquet_bytes(&f.data("weblogs_parquet"), &["status"]),
        owl::cost::Units::Decimal,
    );
    assert!(
        footer.ends_with(&format!("scanned {scanned} · billed 10 MB · $0.00005")),
        "{footer} (want {scanned})"
    );
    expect(&mut p, PROMPT);
    // An error is one line, with a caret under the spot, and the shell stays.
    p.send_line("SELECT * FORM weblogs_parquet;").unwrap();
    expect(&mut p, "error: Expected: end of statement, found: FORM");
    expect(&mut p, "^");
    p.send_line("SELECT * FROM weblogs_parque;").unwrap();
    expect(&mut p, "did you mean `weblogs_parquet`");
    p.send_line("\\cost").unwrap();
    expect(
        &mut p,
        &format!(
            "session: 3 statements (1 succeeded, 2 failed, 0 cancelled) · scanned {scanned} · billed 10 MB · $0.00005"
        ),
    );
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn tab_completes_table_and_column_names_from_the_registry() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut p = shell(&f, &dir.path().join("history"));
    // A table name: `cloud` + Tab -> cloudtrail.
    keys(&mut p, "SELECT count(*) AS events FROM cloud\t");
    expect(&mut p, "trail");
    p.send_line(";").unwrap();
    expect(&mut p, "│ events");
    expect(&mut p, "1 row in");
    expect(&mut p, PROMPT);
    // A column name of the table the statement names: `unit_p` + Tab -> unit_price.
    keys(&mut p, "SELECT max(unit_p\t");
    expect(&mut p, "rice");
    p.send_line(") AS top FROM orders;").unwrap();
    expect(&mut p, "│ top");
    expect(&mut p, "1 row in");
    expect(&mut p, PROMPT);
    // Through an alias.
    keys(&mut p, "SELECT order_id FROM orders o WHERE o.custo\t");
    expect(&mut p, "mer");
    p.send_line(" IS NOT NULL LIMIT 1;").unwrap();
    expect(&mut p, "│ order_id");
    expect(&mut p, "1 row in");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn backslash_commands_describe_list_and_switch() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut p = shell(&f, &dir.path().join("history"));
    p.send_line("\\d weblogs_parquet").unwrap();
    expect(&mut p, "default.weblogs_parquet");
    expect(&mut p, "partition keys");
    expect(&mut p, "year bigint");
    expect(&mut p, PROMPT);
    p.send_line("\\dt").unwrap();
    expect(&mut p, "weblogs_ndjson");
    expect(&mut p, PROMPT);
    p.send_line("CREATE DATABASE sales;").unwrap();
    expect(&mut p, "free (DDL)");
    p.send_line("\\c sales").unwrap();
    expect(&mut p, "now in database `sales`");
    expect(&mut p, "owl:sales> ");
    p.send_line("\\l").unwrap();
    expect_re(&mut p, r"sales\s+... 0\s+... \*");
    p.send_line("\\?").unwrap();
    expect(&mut p, "\\cost");
    p.send_line("\\nope").unwrap();
    expect(&mut p, "unknown command `\\nope`");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn ctrl_c_cancels_the_running_statement_not_the_shell() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut p = shell(&f, &dir.path().join("history"));
    let csv = size_of_files(&f.data("weblogs_csv"), ".csv");
    // Never finishes: 5,836^3 rows compared.
    p.send_line(
        "SELECT count(*) FROM weblogs_csv a, weblogs_csv b, weblogs_csv c \
         WHERE a.bytes + b.bytes + c.bytes < 0;",
    )
    .unwrap();
    // The progress line shows while it runs.
    expect(&mut p, "Ctrl-C cancels");
    p.send_control('c').unwrap();
    let sent = Instant::now();
    let line = expect_re(&mut p, r"CANCELLED after [0-9.]+ s .. scanned [^\r\n]+");
    expect(&mut p, PROMPT);
    let waited = sent.elapsed();
    // Generous: the promise is well under a second, but CI machines stall.
    assert!(waited < Duration::from_secs(10), "took {waited:?}");
    // Billed for what it read: the three scans read at most the table's files, three times.
    let scanned = line
        .split("scanned ")
        .nth(1)
        .and_then(|s| s.split(" · ").next())
        .unwrap();
    let bytes = parse_human(scanned);
    assert!(bytes > 0.0 && bytes <= 3.0 * csv as f64 + 5_000.0, "{line}");
    assert!(line.ends_with("billed 10 MB · $0.00005"), "{line}");
    // The shell goes on.
    p.send_line("SELECT 40 + 2 AS answer;").unwrap();
    expect(&mut p, "│ 42");
    p.send_line("\\cost").unwrap();
    expect(&mut p, "(1 succeeded, 0 failed, 1 cancelled)");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

fn parse_human(s: &str) -> f64 {
    let (n, unit) = s.trim().split_once(' ').unwrap();
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "B" => 1.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        other => panic!("unit {other}"),
    }
}

#[test]
fn history_is_kept_across_sessions() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("owl").join("history");
    let mut p = shell(&f, &history);
    p.send_line("SELECT 'remember me' AS h;").unwrap();
    expect(&mut p, "│ remember me");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("SELECT 'remember me' AS h;"), "{saved}");

    let mut p = shell(&f, &history);
    // Up arrow recalls the last entry of the first session (`\q`), then the statement before it.
    keys(&mut p, "\x1b[A\x1b[A\r");
    expect(&mut p, "│ remember me");
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn a_long_result_is_capped_with_a_note() {
    let f = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let mut p = shell(&f, &dir.path().join("history"));
    p.send_line("SELECT * FROM generate_series(1, 1000) t(v);")
        .unwrap();
    expect(&mut p, "│ 20 ");
    expect(&mut p, "│ …");
    expect(&mut p, "│ 981 ");
    expect(&mut p, "│ 1000 ");
    expect(&mut p, "40 of 1000 rows shown");
    expect(&mut p, "1000 rows in");
    p.send_line("\\q").unwrap();
    p.exp_eof().unwrap();
}

// ---- stdin not a terminal: batch mode ----

#[test]
fn piped_input_runs_like_a_batch_and_stops_at_the_first_failure() {
    let f = Fixture::new();
    let rows = parquet_rows(&f.data("weblogs_parquet"));
    let out = f
        .owl()
        .write_stdin(
            "SELECT count(*) AS n FROM weblogs_parquet;\n\\format csv\nSELECT 1 AS one;\n\
             SELECT * FROM nope;\nSELECT 'never' AS x;\n",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stdout.contains(&format!("│ {rows} ")), "{stdout}");
    assert!(stdout.ends_with("one\n1\n"), "{stdout}");
    assert!(!stdout.contains("never"));
    assert!(
        stderr.contains("error: table `default.nope` does not exist"),
        "{stderr}"
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(PROMPT) && !text.contains('\x1b'), "{text}");
    }

    // All good: exit 0; `\q` ends it early; a statement without `;` at the end still runs.
    let out = f
        .owl()
        .write_stdin("SELECT 1 AS a;\nSELECT 2 AS b\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("│ 2 "));
    let out = f
        .owl()
        .write_stdin("\\q\nSELECT * FROM nope;\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    // The planner's position of an unknown column, with a caret, and the nearest name.
    let out = f
        .owl()
        .write_stdin("SELECT status,\n  latncy_ms\nFROM weblogs_csv;\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: column `latncy_ms` does not exist (at line 2, column 3)\n    latncy_ms\n    ^\n\
         hint: did you mean `latency_ms`?\n"
    );
    // A bad command fails the batch.
    let out = f.owl().write_stdin("\\bogus\n").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn output_to_a_file_and_included_files() {
    let f = Fixture::new();
    std::fs::write(
        f.path().join("q.sql"),
        "-- counts per status\nSELECT status, count(*) AS n FROM weblogs_csv\nGROUP BY status ORDER BY status;\n",
    )
    .unwrap();
    std::fs::write(
        f.path().join("bad.sql"),
        "SELECT 1;\nSELECT nope FROM weblogs_csv;\nSELECT 3;\n",
    )
    .unwrap();
    let out = f
        .owl()
        .write_stdin("\\format csv\n\\o counts.csv\n\\i q.sql\n\\o\nSELECT 'after' AS x;\n")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = f.run_ok(&[
        "query",
        "-f",
        "csv",
        "SELECT status, count(*) AS n FROM weblogs_csv GROUP BY status ORDER BY status",
    ]);
    assert_eq!(
        std::fs::read(f.path().join("counts.csv")).unwrap(),
        want,
        "the \\o file holds the result"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\nafter\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("4 rows written to `counts.csv`"),
        "{stderr}"
    );

    let out = f
        .owl()
        .write_stdin("\\i bad.sql\nSELECT 'not reached';\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopped running `bad.sql`"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not reached"));
}

#[test]
fn crawl_from_the_shell_then_query_the_new_table() {
    let f = Fixture::new();
    let dir = f.path().join("landing").join("signups");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("part-0.csv"),
        "user_id,plan\n1,free\n2,pro\n3,free\n",
    )
    .unwrap();
    let out = f
        .owl()
        .write_stdin(
            "\\crawl landing/signups\n\\format csv\nSELECT plan, count(*) AS n FROM signups GROUP BY plan ORDER BY plan;\n",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("created"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "plan,n\nfree,2\npro,1\n"
    );
    assert!(f.path().join("catalog/default/signups.json").exists());
}
