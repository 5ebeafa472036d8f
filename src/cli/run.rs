//! `owl run <file.sql|dir>...`: statements from files, in order, for CI — stop at the first failure
//! (`file:line: error`), budgets like an Athena workgroup, data checks, reports.

use super::{ExitStatus, Interrupts, finish, print_error, print_error_at, status_of};
use crate::batch::split::{Check, SqlStatement, split};
use crate::batch::{CheckReport, RunReport, StatementReport, display_path, parse_size, sql_files};
use crate::engine::{BYTES_LIMIT_REASON, Ending, Engine, Outcome};
use crate::error::Error;
use crate::output::{OutputFormat, columns_json, dollars, stats_line, write_result};
use crate::sql::Statement;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// .sql files, or folders (their `*.sql` files, sorted by name), run in the order given.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// How to print results.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: OutputFormat,
    /// Save results as Athena does instead of printing them: `<query-id>.csv` and
    /// `<query-id>.csv.metadata.json` (columns, types, stats) per statement.
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Run every statement even after one fails (the run still exits 1).
    #[arg(long)]
    continue_on_error: bool,
    /// Write a JSON report: every statement's file, line, SQL, state, bytes, bill, error; and totals.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Write a JUnit XML report (a test case per statement, its bill in the properties).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Cancel a query once it has read more than this (`10MB`, `1GiB`, bytes): CANCELLED, billed the cutoff,
    /// exit 3.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes_per_query: Option<u64>,
    /// Stop the run once the statements so far cost more than this many USD: exit 3.
    #[arg(long, value_name = "USD")]
    max_total_cost: Option<f64>,
    /// Plan every statement and report what it would scan and cost, reading no data (Parquet footers only);
    /// `--max-bytes-per-query` then applies to the estimates (exit 3). DDL is not executed.
    #[arg(long)]
    dry_run: bool,
    /// A value for the placeholder `$name`, bound as a typed value (never spliced into the SQL).
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
}

pub(crate) fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: write --param name=value"))?;
    let k = k.trim().trim_start_matches('$');
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "`{s}`: a parameter name is letters, digits and `_`"
        ));
    }
    Ok((k.to_string(), v.to_string()))
}

/// A statement ready to run: where it came from, its parsed form, its checks.
struct Planned {
    file: PathBuf,
    shown: String,
    item: SqlStatement,
    parsed: Statement,
}

pub async fn run(engine: &Engine, args: RunArgs, interrupts: &Interrupts) -> ExitStatus {
    // Read, split and parse everything first: a typo in the last file fails the run before anything runs.
    let planned = match prepare(engine, &args.inputs) {
        Ok(p) => p,
        Err(status) => return status,
    };
    if let Some(dir) = &args.output
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        crate::cli::print_error(&crate::error::Error::Io {
            context: format!("cannot create `{}`", dir.display()),
            source: e,
        });
        return ExitStatus::UserError;
    }
    let units = engine.cost_model().units;
    let mut reports = Vec::new();
    let mut status = ExitStatus::Ok;
    let mut stop = false;
    let mut total_cost = 0.0;
    for p in &planned {
        let at = format!("{}:{}", p.shown, p.item.line);
        if stop {
            reports.push(StatementReport::not_run(&p.shown, p.item.line, &p.item.sql));
            continue;
        }
        if args.dry_run {
            let rep = dry_run(engine, p, &args, units).await;
            if rep.failed() {
                let budget = rep.checks.iter().any(|c| !c.passed);
                status = worse(
                    status,
                    if budget {
                        ExitStatus::BudgetExceeded
                    } else {
                        ExitStatus::UserError
                    },
                );
                stop = !args.continue_on_error;
            }
            reports.push(rep);
            continue;
        }
        // With a report, the estimate goes next to the actual, so drift is visible.
        let estimate = match &args.report {
            Some(_) => engine.estimate(&p.parsed, &args.params).await.ok(),
            None => None,
        };
        let request = engine
            .request(p.parsed.clone())
            .with_params(&args.params)
            .with_max_bytes(args.max_bytes_per_query);
        let exec = engine.queue(request);
        let outcome = finish(&exec, interrupts).await;
        let mut rep = report_of(p, &outcome);
        rep.estimated_bytes = estimate.as_ref().map(|e| e.bytes_scanned);
        rep.estimated_cost_usd = estimate.as_ref().map(|e| e.cost_usd);
        match &outcome.ending {
            Ending::Succeeded => {
                if let Err(e) = deliver(&args, &outcome, p) {
                    print_error_at(&at, &e);
                    return status_of(&e);
                }
                rep.checks = run_checks(p, &outcome);
                eprintln!("{at}: {}", stats_line(&outcome.stats, units));
                for c in rep.checks.iter().filter(|c| !c.passed) {
                    eprintln!(
                        "{at}: check failed: {}: {}",
                        c.check,
                        c.message.as_deref().unwrap_or("")
                    );
                }
                if rep.failed() {
                    status = worse(status, ExitStatus::UserError);
                    stop = !args.continue_on_error;
                }
            }
            Ending::Failed(e) => {
                // A planner position inside the statement becomes the file's `file:line:column`.
                let (at_error, e) = match e {
                    Error::Located {
                        error,
                        line,
                        column,
                    } => {
                        let (l, c) = p.item.file_position(*line as usize, *column as usize);
                        rep.error = Some(error.to_string());
                        (format!("{}:{l}:{c}", p.shown), error.as_ref())
                    }
                    e => (at.clone(), e),
                };
                print_error_at(&at_error, e);
                status = worse(status, status_of(e));
                stop = !args.continue_on_error;
            }
            Ending::Cancelled { reason } => {
                eprintln!("{at}: {}", stats_line(&outcome.stats, units));
                if reason.as_deref() == Some(BYTES_LIMIT_REASON) {
                    let limit = exec.meter().limit().unwrap_or_default();
                    let over = Error::Query(if args.max_bytes_per_query == Some(limit) {
                        format!("the query read more than --max-bytes-per-query {limit} bytes")
                    } else {
                        format!(
                            "the query read more than work group `{}`'s cutoff of {limit} bytes",
                            engine.settings().workgroup
                        )
                    });
                    print_error_at(&at, &over);
                    status = worse(status, ExitStatus::BudgetExceeded);
                    stop = !args.continue_on_error;
                } else {
                    // Ctrl-C stops the whole run.
                    status = worse(status, ExitStatus::UserError);
                    stop = true;
                }
            }
        }
        total_cost += outcome.stats.cost_usd;
        reports.push(rep);
        if let Some(max) = args.max_total_cost
            && total_cost > max
            && !stop
        {
            eprintln!(
                "{at}: error: the run has cost {} so far, more than --max-total-cost {}; stopping",
                dollars(total_cost),
                dollars(max)
            );
            status = worse(status, ExitStatus::BudgetExceeded);
            stop = true;
        }
    }
    let report = RunReport::new(reports, status as u8);
    let t = &report.totals;
    eprintln!(
        "run: {} statements: {} succeeded, {} failed, {} cancelled, {} not run{} · scanned {} · billed {} · {}",
        t.statements,
        t.succeeded,
        t.failed,
        t.cancelled,
        t.not_run,
        if t.checks_failed > 0 {
            format!(", {} checks failed", t.checks_failed)
        } else {
            String::new()
        },
        crate::output::human_bytes(t.bytes_scanned, units),
        crate::output::human_bytes(t.billed_bytes, units),
        dollars(t.cost_usd)
    );
    if let Some(path) = &args.report {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(path, text) {
            crate::cli::print_error(&crate::error::Error::Io {
                context: format!("cannot write `{}`", path.display()),
                source: e,
            });
            return worse(status, ExitStatus::UserError);
        }
    }
    if let Some(path) = &args.junit
        && let Err(e) = std::fs::write(path, report.junit())
    {
        crate::cli::print_error(&crate::error::Error::Io {
            context: format!("cannot write `{}`", path.display()),
            source: e,
        });
        return worse(status, ExitStatus::UserError);
    }
    status
}

/// The more serious of two exit statuses (budget > internal > user error > ok).
fn worse(a: ExitStatus, b: ExitStatus) -> ExitStatus {
    let rank = |s: ExitStatus| match s {
        ExitStatus::Ok => 0,
        ExitStatus::UserError => 1,
        ExitStatus::Internal => 2,
        ExitStatus::BudgetExceeded => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

fn prepare(engine: &Engine, inputs: &[PathBuf]) -> Result<Vec<Planned>, ExitStatus> {
    let files = sql_files(inputs).map_err(|e| {
        print_error(&e);
        status_of(&e)
    })?;
    let mut planned = Vec::new();
    for file in files {
        let shown = display_path(&file);
        let text = std::fs::read_to_string(&file).map_err(|e| {
            print_error(&Error::Io {
                context: format!("cannot read `{shown}`"),
                source: e,
            });
            ExitStatus::UserError
        })?;
        let items = split(&text).map_err(|e| {
            eprintln!("{shown}:{}: error: {}", e.line, e.message);
            ExitStatus::UserError
        })?;
        for item in items {
            let mut parsed = engine.parse(&item.sql).map_err(|e| {
                print_error_at(&format!("{shown}:{}", item.line), &e);
                ExitStatus::UserError
            })?;
            let Some(stmt) = parsed.pop() else { continue };
            planned.push(Planned {
                file: file.clone(),
                shown: shown.clone(),
                item,
                parsed: stmt,
            });
        }
    }
    if planned.is_empty() {
        print_error(&Error::Query(
            "the given files hold no SQL statements".into(),
        ));
        return Err(ExitStatus::UserError);
    }
    Ok(planned)
}

fn report_of(p: &Planned, o: &Outcome) -> StatementReport {
    let s = &o.stats;
    StatementReport {
        file: p.shown.clone(),
        line: p.item.line,
        sql: p.item.sql.clone(),
        query_id: Some(s.query_id.clone()),
        state: s.state.as_str().to_string(),
        state_reason: s.state_reason.clone(),
        statement_type: serde_json::to_value(s.statement_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        rows: s.rows,
        elapsed_ms: s.elapsed_ms,
        bytes_scanned: s.bytes_scanned,
        billed_bytes: s.billed_bytes,
        cost_usd: s.cost_usd,
        files_read: s.files_read,
        read: s.read.clone(),
        error: o.error().map(|e| e.to_string()),
        checks: Vec::new(),
        estimated_bytes: None,
        estimated_cost_usd: None,
    }
}

/// `--dry-run`: estimate one statement; a budget overrun is a failed check (exit 3).
async fn dry_run(
    engine: &Engine,
    p: &Planned,
    args: &RunArgs,
    units: crate::cost::Units,
) -> StatementReport {
    let at = format!("{}:{}", p.shown, p.item.line);
    let mut rep = StatementReport::not_run(&p.shown, p.item.line, &p.item.sql);
    match engine.estimate(&p.parsed, &args.params).await {
        Ok(e) => {
            rep.state = "ESTIMATED".into();
            rep.statement_type = serde_json::to_value(e.statement_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            rep.estimated_bytes = Some(e.bytes_scanned);
            rep.estimated_cost_usd = Some(e.cost_usd);
            eprintln!("{at}: {}", estimate_line(&e, units));
            if let Some(max) = args.max_bytes_per_query {
                let passed = e.bytes_scanned <= max;
                let message = (!passed).then(|| {
                    format!(
                        "the estimate, {} bytes, exceeds --max-bytes-per-query {max}",
                        e.bytes_scanned
                    )
                });
                if let Some(m) = &message {
                    print_error_at(&at, &Error::Query(m.clone()));
                }
                rep.checks.push(CheckReport {
                    check: format!("estimated bytes <= {max}"),
                    passed,
                    message,
                });
            }
        }
        Err(e) => {
            print_error_at(&at, &e);
            rep.state = "FAILED".into();
            rep.error = Some(e.to_string());
        }
    }
    rep
}

/// `estimate: scans 93.91 KB · billed 10 MB · $0.00005 · 8 files (read 64 KB of footers)`.
pub(crate) fn estimate_line(
    e: &crate::engine::estimate::Estimate,
    units: crate::cost::Units,
) -> String {
    use crate::cost::StatementType;
    use crate::output::human_bytes;
    match e.statement_type {
        StatementType::Ddl => "estimate: free (DDL, not run in a dry run)".into(),
        StatementType::Utility => "estimate: free (utility)".into(),
        StatementType::Dml => {
            let mut s = format!(
                "estimate: scans {} · billed {} · {} · {} file{}",
                human_bytes(e.bytes_scanned, units),
                human_bytes(e.billed_bytes, units),
                dollars(e.cost_usd),
                e.files,
                if e.files == 1 { "" } else { "s" }
            );
            if e.partitions > 0 || e.projected > 0 {
                s.push_str(&format!(
                    " in {} partition{}",
                    e.partitions,
                    if e.partitions == 1 { "" } else { "s" }
                ));
                if e.projected > 0 {
                    s.push_str(" (projected)");
                }
            }
            if e.read_to_estimate > 0 {
                s.push_str(&format!(
                    " (read {} to estimate)",
                    human_bytes(e.read_to_estimate, units)
                ));
            }
            s
        }
    }
}

/// Print the result, or save it under `--output` as Athena does.
fn deliver(args: &RunArgs, o: &Outcome, p: &Planned) -> crate::error::Result<()> {
    let io = |e: std::io::Error| Error::Io {
        context: "writing results".into(),
        source: e,
    };
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            write_result(args.format, o, &mut out)?;
            out.flush().map_err(io)
        }
        Some(dir) => {
            let id = &o.stats.query_id;
            let mut csv = Vec::new();
            write_result(OutputFormat::Csv, o, &mut csv)?;
            std::fs::write(dir.join(format!("{id}.csv")), csv).map_err(io)?;
            let meta = serde_json::json!({
                "query_id": id,
                "file": p.shown,
                "line": p.item.line,
                "sql": p.item.sql,
                "columns": columns_json(&o.schema),
                "stats": o.stats,
            });
            let text = serde_json::to_string_pretty(&meta).unwrap_or_default() + "\n";
            std::fs::write(dir.join(format!("{id}.csv.metadata.json")), text).map_err(io)
        }
    }
}

fn run_checks(p: &Planned, o: &Outcome) -> Vec<CheckReport> {
    p.item
        .checks
        .iter()
        .map(|c| match c {
            Check::Rows(cmp, n) => {
                let passed = cmp.holds(o.stats.rows, *n);
                CheckReport {
                    check: format!("rows {} {n}", cmp.as_str()),
                    passed,
                    message: (!passed).then(|| {
                        format!("expected rows {} {n}, got {}", cmp.as_str(), o.stats.rows)
                    }),
                }
            }
            Check::File(rel) => {
                let path = p.file.parent().unwrap_or(Path::new(".")).join(rel);
                let check = format!("file = {}", rel.display());
                let mut got = Vec::new();
                let message = match write_result(OutputFormat::Csv, o, &mut got) {
                    Err(e) => Some(format!("cannot render the result: {e}")),
                    Ok(()) => match std::fs::read_to_string(&path) {
                        Err(e) => Some(format!("cannot read `{}`: {e}", path.display())),
                        Ok(want) => diff(&want, &String::from_utf8_lossy(&got)),
                    },
                };
                CheckReport {
                    check,
                    passed: message.is_none(),
                    message,
                }
            }
        })
        .collect()
}

/// A line diff of expected vs actual (`-` expected, `+` actual), or None when equal (line endings ignored).
fn diff(want: &str, got: &str) -> Option<String> {
    let w: Vec<&str> = want.lines().map(|l| l.trim_end_matches('\r')).collect();
    let g: Vec<&str> = got.lines().map(|l| l.trim_end_matches('\r')).collect();
    if w == g {
        return None;
    }
    let mut out = String::from("result differs from the expected file:");
    let mut shown = 0;
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i), g.get(i));
        if a == b {
            continue;
        }
        if let Some(a) = a {
            out.push_str(&format!("\n  line {}: - {a}", i + 1));
        }
        if let Some(b) = b {
            out.push_str(&format!("\n  line {}: + {b}", i + 1));
        }
        shown += 1;
        if shown == 10 {
            out.push_str("\n  ...");
            break;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_diffs() {
        assert_eq!(
            parse_param("day=2024-01-02"),
            Ok(("day".into(), "2024-01-02".into()))
        );
        assert_eq!(parse_param("$q=a=b"), Ok(("q".into(), "a=b".into())));
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("bad name=1").is_err());
        assert_eq!(diff("a\nb\n", "a\r\nb"), None);
        let d = diff("a\nb\n", "a\nc\nd\n").unwrap();
        assert!(
            d.contains("line 2: - b") && d.contains("line 2: + c") && d.contains("line 3: + d")
        );
    }

    #[test]
    fn the_worst_status_wins() {
        assert_eq!(
            worse(ExitStatus::BudgetExceeded, ExitStatus::UserError),
            ExitStatus::BudgetExceeded
        );
        assert_eq!(
            worse(ExitStatus::Ok, ExitStatus::UserError),
            ExitStatus::UserError
        );
    }
}
