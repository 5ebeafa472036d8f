//! `owl` (no arguments) and `owl repl`: the interactive SQL shell over the registry; with stdin not a terminal
//! (`owl < file.sql`), the same statements and `\` commands run as a batch: no prompt, no colours, stop at the
//! first failure with its exit code.
//!
//! Entries are read whole (SQL up to its `;`, or one `\` command line; see `helper`), then run statement by
//! statement: results to stdout (or the `\o` file), the footer and everything else to stderr. A statement
//! running longer than half a second shows a progress line; Ctrl-C cancels it (CANCELLED, billed for what it
//! read) and the shell stays. The one invariant: what the shell prints after a statement is that statement's
//! own outcome; a cancelled or failed statement never shows partial rows.

mod helper;
mod meta;
mod progress;

use super::crawl::{crawl_all, summary};
use super::tables::{describe_view, tables_view};
use super::{ExitStatus, Interrupts, finish, status_of};
use crate::batch::split;
use crate::cost::{QueryState, Units};
use crate::crawler::CrawlOptions;
use crate::engine::{Ending, Engine, Outcome, QueryStats};
use crate::error::Error;
use crate::output::{Fit, OutputFormat, dollars, fitted_table, human_bytes, stats_line_timed};
use helper::{SqlHelper, is_meta_line};
use meta::Meta;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Rows a result table shows on a terminal unless told otherwise (DuckDB's default).
pub const DEFAULT_MAX_ROWS: usize = 40;

/// How deep `\i` may nest (a file that includes itself stops here).
const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Debug, Clone, clap::Args)]
pub struct ReplArgs {
    /// Rows a result table shows on the terminal; the first and last halves of longer results are shown
    /// (0: all). Default: 40 on a terminal, every row when stdout is a file or pipe.
    #[arg(long, value_name = "N")]
    max_rows: Option<usize>,
    /// How to print results.
    #[arg(long = "format", short = 'f', value_enum, default_value = "table")]
    format: OutputFormat,
    /// The history file. Default: `$XDG_DATA_HOME/owl/history`, else `~/.local/share/owl/history`.
    #[arg(long, env = "OWL_HISTORY", value_name = "FILE")]
    history: Option<PathBuf>,
}

impl ReplArgs {
    /// A shell flag given on the command line, when it came before another command (`owl --max-rows 5 query`).
    pub(crate) fn given_flag(&self) -> Option<&'static str> {
        if self.max_rows.is_some() {
            Some("--max-rows")
        } else if self.format != OutputFormat::Table {
            Some("--format")
        } else {
            None
        }
    }
}

/// What the shell does after an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Go,
    Quit,
    /// Something did not succeed; batch input stops here with this status.
    Stop(ExitStatus),
}

/// The session's totals (`\cost`, and the line printed at exit).
#[derive(Debug, Default)]
struct Totals {
    statements: u64,
    succeeded: u64,
    failed: u64,
    cancelled: u64,
    bytes_scanned: u64,
    billed_bytes: u64,
    cost_usd: f64,
}

impl Totals {
    fn add(&mut self, s: &QueryStats) {
        self.statements += 1;
        match s.state {
            QueryState::Succeeded => self.succeeded += 1,
            QueryState::Failed => self.failed += 1,
            QueryState::Cancelled => self.cancelled += 1,
            // Totals are added once a statement has ended.
            QueryState::Queued | QueryState::Running => {}
        }
        self.bytes_scanned += s.bytes_scanned;
        self.billed_bytes += s.billed_bytes;
        self.cost_usd += s.cost_usd;
    }

    fn line(&self, units: Units) -> String {
        format!(
            "session: {} statements ({} succeeded, {} failed, {} cancelled) · scanned {} · billed {} · {}",
            self.statements,
            self.succeeded,
            self.failed,
            self.cancelled,
            human_bytes(self.bytes_scanned, units),
            human_bytes(self.billed_bytes, units),
            dollars(self.cost_usd)
        )
    }
}

struct Shell<'a> {
    engine: &'a Engine,
    interrupts: &'a Interrupts,
    interactive: bool,
    colour: bool,
    format: OutputFormat,
    /// None: every row.
    max_rows: Option<usize>,
    timing: bool,
    /// `\o FILE`: results go there.
    output: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    totals: Totals,
    /// SQL read but not yet ended by `;`.
    pending: String,
    /// The current database, shared with the completer.
    database: Arc<Mutex<String>>,
    depth: usize,
}

pub async fn run(engine: &Engine, args: ReplArgs, interrupts: &Interrupts) -> ExitStatus {
    let interactive = std::io::stdin().is_terminal();
    let max_rows = match args.max_rows {
        Some(0) => None,
        Some(n) => Some(n),
        None if interactive && std::io::stdout().is_terminal() => Some(DEFAULT_MAX_ROWS),
        None => None,
    };
    let mut shell = Shell {
        engine,
        interrupts,
        interactive,
        colour: interactive
            && std::io::stderr().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        format: args.format,
        max_rows,
        timing: true,
        output: None,
        totals: Totals::default(),
        pending: String::new(),
        database: Arc::new(Mutex::new(engine.database())),
        depth: 0,
    };
    let status = if interactive {
        shell.interactive(args.history).await
    } else {
        shell.batch().await
    };
    shell.close_output();
    status
}

impl Shell<'_> {
    fn units(&self) -> Units {
        self.engine.cost_model().units
    }

    /// Read stdin line by line (a pipe may be slow to fill), running each statement once its `;` arrives.
    async fn batch(&mut self) -> ExitStatus {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock();
        let mut line = String::new();
        loop {
            line.clear();
            match lines.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    crate::cli::print_error(&crate::error::Error::Io {
                        context: "reading stdin".into(),
                        source: e,
                    });
                    return ExitStatus::UserError;
                }
            }
            match self.feed(&line).await {
                Step::Go => {}
                Step::Quit => return ExitStatus::Ok,
                Step::Stop(s) => return s,
            }
        }
        match self.flush_pending().await {
            Step::Stop(s) => s,
            Step::Go | Step::Quit => ExitStatus::Ok,
        }
    }

    async fn interactive(&mut self, history: Option<PathBuf>) -> ExitStatus {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(false)
            .history_ignore_space(true)
            .build();
        let mut editor = match rustyline::Editor::<SqlHelper, FileHistory>::with_config(config) {
            Ok(e) => e,
            Err(e) => {
                crate::cli::print_error(&Error::internal("cannot start the line editor", e));
                return ExitStatus::Internal;
            }
        };
        editor.set_helper(Some(SqlHelper::new(
            self.engine.registry().clone(),
            Arc::clone(&self.database),
            self.engine.function_names(),
        )));
        let history = history.or_else(default_history);
        if let Some(p) = &history {
            // A missing file is a first session; an unreadable one is not worth refusing to start over.
            let _ = editor.load_history(p);
        }
        eprintln!(
            "owl {} · database `{}` · `\\?` for help, `\\q` or Ctrl-D to quit",
            env!("CARGO_PKG_VERSION"),
            self.engine.database()
        );
        loop {
            let prompt = format!("owl:{}> ", self.engine.database());
            match editor.readline(&prompt) {
                Ok(entry) => {
                    if entry.trim().is_empty() {
                        continue;
                    }
                    let _ = editor.add_history_entry(entry.as_str());
                    if let Some(p) = &history {
                        save_history(&mut editor, p);
                    }
                    let mut entry = entry;
                    entry.push('\n');
                    let step = self.feed(&entry).await;
                    // The validator only hands over whole entries; whatever is left is run, not carried.
                    let step = match step {
                        Step::Quit => Step::Quit,
                        _ => self.flush_pending().await,
                    };
                    if step == Step::Quit {
                        break;
                    }
                }
                // Ctrl-C at the prompt clears what was typed.
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => break,
                Err(e) => {
                    crate::cli::print_error(&Error::internal("reading input", e));
                    return ExitStatus::Internal;
                }
            }
        }
        if self.totals.statements > 0 {
            eprintln!("{}", self.totals.line(self.units()));
        }
        ExitStatus::Ok
    }

    /// Take lines of input: `\` command lines run at once, SQL runs when its `;` arrives.
    async fn feed(&mut self, text: &str) -> Step {
        for line in text.split_inclusive('\n') {
            if is_meta_line(&self.pending, line) {
                // Blank lines and comments before a command are nothing to run.
                self.pending.clear();
                let step = self.meta(line).await;
                if step != Step::Go {
                    return step;
                }
                continue;
            }
            self.pending.push_str(line);
            if !split::needs_more(&self.pending) {
                let sql = std::mem::take(&mut self.pending);
                let step = self.run_sql(&sql).await;
                if step != Step::Go {
                    return step;
                }
            }
        }
        Step::Go
    }

    /// Run SQL the input ended without a `;`.
    async fn flush_pending(&mut self) -> Step {
        let sql = std::mem::take(&mut self.pending);
        if sql.trim().is_empty() {
            return Step::Go;
        }
        self.run_sql(&sql).await
    }

    async fn run_sql(&mut self, sql: &str) -> Step {
        let statements = match self.engine.parse(sql) {
            Ok(s) => s,
            Err(e) => {
                // SQL that does not parse is a failed query (free), as Athena counts it.
                self.totals.statements += 1;
                self.totals.failed += 1;
                self.error(&e, Some(sql));
                return Step::Stop(status_of(&e));
            }
        };
        for stmt in &statements {
            let exec = self.engine.queue(self.engine.request(stmt.clone()));
            let progress = (self.interactive && std::io::stderr().is_terminal())
                .then(|| progress::Progress::start(Arc::clone(exec.meter()), self.units()));
            let outcome = finish(&exec, self.interrupts).await;
            if let Some(p) = progress {
                p.finish();
            }
            self.totals.add(&outcome.stats);
            *self.database.lock().unwrap_or_else(|p| p.into_inner()) = self.engine.database();
            match &outcome.ending {
                Ending::Succeeded => {
                    if let Err(e) = self.print_result(&outcome) {
                        self.error(&e, None);
                        return Step::Stop(status_of(&e));
                    }
                    self.footer(&outcome.stats);
                }
                Ending::Failed(e) => {
                    self.error(e, Some(sql));
                    return Step::Stop(status_of(e));
                }
                Ending::Cancelled { .. } => {
                    self.footer(&outcome.stats);
                    return Step::Stop(ExitStatus::UserError);
                }
            }
        }
        Step::Go
    }

    fn footer(&self, stats: &QueryStats) {
        eprintln!("{}", stats_line_timed(stats, self.units(), self.timing));
    }

    fn print_result(&mut self, o: &Outcome) -> crate::error::Result<()> {
        let io = |e: std::io::Error| Error::Io {
            context: "writing results".into(),
            source: e,
        };
        if let Some((path, file)) = &mut self.output {
            crate::output::write_result(self.format, o, file)?;
            file.flush().map_err(io)?;
            if !o.schema.fields().is_empty() {
                eprintln!("{} rows written to `{}`", o.stats.rows, path.display());
            }
            return Ok(());
        }
        let mut out = std::io::stdout().lock();
        if self.format == OutputFormat::Table && self.interactive {
            if o.schema.fields().is_empty() {
                return Ok(());
            }
            let width = std::io::stdout()
                .is_terminal()
                .then(|| comfy_table::Table::new().width().map(usize::from))
                .flatten()
                // A terminal that reports no size (0 columns) is not 0 columns wide.
                .filter(|&w| w >= 20);
            let fit = Fit {
                max_rows: self.max_rows,
                width,
            };
            let (table, note) = fitted_table(&o.schema, &o.batches, fit)?;
            writeln!(out, "{table}").map_err(io)?;
            out.flush().map_err(io)?;
            if let Some(n) = note {
                eprintln!("{n}");
            }
            return Ok(());
        }
        crate::output::write_result(self.format, o, &mut out)?;
        out.flush().map_err(io)
    }

    /// One line saying what failed; for SQL the parser could not read, the line and a caret under the spot.
    fn error(&self, e: &Error, sql: Option<&str>) {
        let (red, reset) = if self.colour {
            ("\x1b[31m", "\x1b[0m")
        } else {
            ("", "")
        };
        let msg = e.to_string();
        eprintln!("{red}error:{reset} {msg}");
        let at = e.position().or_else(|| parser_position(&msg));
        if let Some(sql) = sql
            && let Some(pointer) = at.and_then(|(l, c)| point_at(sql, l, c))
        {
            eprintln!("{pointer}");
        }
        if let Some(h) = e.hint() {
            eprintln!("hint: {h}");
        }
    }

    fn say_error(&self, msg: &str) -> Step {
        self.error(&Error::Query(msg.to_string()), None);
        Step::Stop(ExitStatus::UserError)
    }

    async fn meta(&mut self, line: &str) -> Step {
        let cmd = match Meta::parse(line) {
            Ok(c) => c,
            Err(m) => return self.say_error(&m),
        };
        let units = self.units();
        match cmd {
            Meta::Help => {
                let width = meta::HELP.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
                for (syntax, help) in meta::HELP {
                    println!("{syntax:<width$}  {help}");
                }
                println!("SQL ends with `;`; Tab completes; Ctrl-C cancels a running statement");
            }
            Meta::Quit => return Step::Quit,
            Meta::Tables(db) | Meta::Describe(db @ None) => match tables_view(self.engine, db) {
                Ok((t, _)) => println!("{t}"),
                Err(e) => {
                    self.error(&e, None);
                    return Step::Stop(status_of(&e));
                }
            },
            Meta::Describe(Some(name)) => match describe_view(self.engine, &name) {
                Ok((t, _)) => println!("{t}"),
                Err(e) => {
                    self.error(&e, None);
                    return Step::Stop(status_of(&e));
                }
            },
            Meta::Databases => {
                let reg = self.engine.registry();
                match reg.databases() {
                    Ok(dbs) => {
                        let current = self.engine.database();
                        let mut t = comfy_table::Table::new();
                        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
                        t.set_header(["database", "tables", "current"]);
                        for db in dbs {
                            let n = reg.table_names(&db).map(|v| v.len()).unwrap_or(0);
                            let mark = if db == current { "*" } else { "" };
                            t.add_row(vec![db.clone(), n.to_string(), mark.to_string()]);
                        }
                        println!("{t}");
                    }
                    Err(e) => {
                        self.error(&e, None);
                        return Step::Stop(status_of(&e));
                    }
                }
            }
            Meta::Connect(db) => match self.engine.set_database(&db) {
                Ok(()) => {
                    *self.database.lock().unwrap_or_else(|p| p.into_inner()) = db.clone();
                    eprintln!("now in database `{db}`");
                }
                Err(e) => {
                    self.error(&e, None);
                    return Step::Stop(status_of(&e));
                }
            },
            Meta::Format(None) => eprintln!("format is {}", format_name(self.format)),
            Meta::Format(Some(f)) => {
                self.format = f;
                eprintln!("format is {}", format_name(f));
            }
            Meta::Timing(t) => {
                self.timing = t.unwrap_or(!self.timing);
                eprintln!("timing is {}", if self.timing { "on" } else { "off" });
            }
            Meta::MaxRows(n) => {
                if let Some(n) = n {
                    self.max_rows = (n > 0).then_some(n);
                }
                match self.max_rows {
                    Some(n) => eprintln!("tables show at most {n} rows"),
                    None => eprintln!("tables show every row"),
                }
            }
            Meta::Crawl(paths) => {
                let opts = CrawlOptions {
                    database: self.engine.database(),
                    ..CrawlOptions::default()
                };
                match crawl_all(self.engine, &paths, &opts).await {
                    Ok(report) => {
                        summary(&report, &paths.join(" "));
                        if report.tables.is_empty() {
                            return self.say_error("no table found: no file could be used");
                        }
                    }
                    Err(e) => {
                        self.error(&e, None);
                        return Step::Stop(status_of(&e));
                    }
                }
            }
            Meta::Include(path) => return self.include(&path).await,
            Meta::Output(None) => {
                self.close_output();
                eprintln!("results go to the terminal");
            }
            Meta::Output(Some(path)) => match std::fs::File::create(&path) {
                Ok(f) => {
                    self.close_output();
                    eprintln!("results go to `{}`", path.display());
                    self.output = Some((path, std::io::BufWriter::new(f)));
                }
                Err(e) => {
                    return self.say_error(&format!("cannot write `{}`: {e}", path.display()));
                }
            },
            Meta::Cost => println!("{}", self.totals.line(units)),
            Meta::History(n) => match crate::cli::history::recent(self.engine, n.unwrap_or(20)) {
                Ok(t) => println!("{t}"),
                Err(e) => return self.say_error(&e.to_string()),
            },
        }
        Step::Go
    }

    /// `\i file`: its statements and commands, stopping at the first failure (as a batch would).
    async fn include(&mut self, path: &Path) -> Step {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return self.say_error(&format!(
                "`\\i {}`: files include each other more than {MAX_INCLUDE_DEPTH} deep",
                path.display()
            ));
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.say_error(&format!("cannot read `{}`: {e}", path.display())),
        };
        let outer = std::mem::take(&mut self.pending);
        self.depth += 1;
        let mut step = Box::pin(self.feed(&text)).await;
        if step == Step::Go {
            step = Box::pin(self.flush_pending()).await;
        }
        self.depth -= 1;
        self.pending = outer;
        if let Step::Stop(_) = step {
            eprintln!("stopped running `{}`", path.display());
        }
        step
    }

    fn close_output(&mut self) {
        if let Some((path, mut f)) = self.output.take()
            && let Err(e) = f.flush()
        {
            crate::cli::print_error(&crate::error::Error::Io {
                context: format!("writing `{}`", path.display()),
                source: e,
            });
        }
    }
}

fn format_name(f: OutputFormat) -> String {
    use clap::ValueEnum;
    f.to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// Where history lives unless `--history`/`OWL_HISTORY` says.
fn default_history() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("share"))
        })?;
    Some(data.join("owl").join("history"))
}

fn save_history(editor: &mut rustyline::Editor<SqlHelper, FileHistory>, path: &Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Err(e) = editor.save_history(path) {
        eprintln!("warning: cannot save history to `{}`: {e}", path.display());
    }
}

/// The position a parser message names (`... at Line: 2, Column: 6`).
fn parser_position(msg: &str) -> Option<(u64, u64)> {
    let at = msg.rfind("Line: ")?;
    let rest = &msg[at + "Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column = rest
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// Line `line` of `sql` and a caret under column `column` (both 1-based).
fn point_at(sql: &str, line: u64, column: u64) -> Option<String> {
    let text = sql
        .lines()
        .nth(usize::try_from(line.checked_sub(1)?).ok()?)?;
    let pad: String = text
        .chars()
        .take(usize::try_from(column.saturating_sub(1)).ok()?)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    Some(format!("  {text}\n  {pad}^"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_points_into_the_statement() {
        let sql = "SELECT *\nFORM t;";
        let msg = "sql parser error: Expected: end of statement, found: t at Line: 2, Column: 6";
        assert_eq!(parser_position(msg), Some((2, 6)));
        assert_eq!(point_at(sql, 2, 6).unwrap(), "  FORM t;\n       ^");
        assert_eq!(parser_position("no position here"), None);
        assert_eq!(point_at(sql, 9, 1), None);
        assert_eq!(point_at(sql, 0, 1), None);
    }

    #[test]
    fn totals_add_up_statements_and_bills() {
        let mut t = Totals::default();
        let stats = |state, bytes, billed, cost| QueryStats {
            query_id: String::new(),
            statement_type: crate::cost::StatementType::Dml,
            state,
            rows: 0,
            elapsed_ms: 0,
            bytes_scanned: bytes,
            billed_bytes: billed,
            cost_usd: cost,
            files_read: 0,
            requests: Default::default(),
            read: None,
            state_reason: None,
        };
        t.add(&stats(
            QueryState::Succeeded,
            1_500_000,
            10_000_000,
            0.00005,
        ));
        t.add(&stats(QueryState::Cancelled, 500_000, 10_000_000, 0.00005));
        t.add(&stats(QueryState::Failed, 0, 0, 0.0));
        assert_eq!(
            t.line(Units::Decimal),
            "session: 3 statements (1 succeeded, 1 failed, 1 cancelled) · scanned 2 MB · billed 20 MB · $0.0001"
        );
    }
}
