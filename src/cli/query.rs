//! `owl query "SQL"`: run statements, print results to stdout and the bill to stderr.

use super::{ExitStatus, Interrupts, finish, print_error, status_of};
use crate::engine::{Ending, Engine};
use crate::error::Error;
use crate::output::{OutputFormat, stats_line, write_result};
use std::io::{Read, Write};

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The SQL to run (several statements separated by `;` run in order); `-` reads it from stdin.
    /// It may start with a `--` comment (`owl query "$(cat q.sql)"`).
    #[arg(allow_hyphen_values = true)]
    sql: String,
    /// How to print results.
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn run(engine: &Engine, args: QueryArgs, interrupts: &Interrupts) -> ExitStatus {
    let sql = if args.sql == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            crate::cli::print_error(&crate::error::Error::Io {
                context: "reading SQL from stdin".into(),
                source: e,
            });
            return ExitStatus::UserError;
        }
        s
    } else {
        args.sql
    };
    let statements = match engine.parse(&sql) {
        Ok(s) if s.is_empty() => {
            print_error(&Error::Query("no SQL statement given".into()));
            return ExitStatus::UserError;
        }
        Ok(s) => s,
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    let units = engine.cost_model().units;
    for stmt in &statements {
        let exec = engine.queue(engine.request(stmt.clone()));
        let outcome = finish(&exec, interrupts).await;
        match &outcome.ending {
            Ending::Succeeded => {
                let mut out = std::io::stdout().lock();
                if let Err(e) = write_result(args.format, &outcome, &mut out).and_then(|()| {
                    out.flush().map_err(|e| Error::Io {
                        context: "writing results".into(),
                        source: e,
                    })
                }) {
                    if is_broken_pipe(&e) {
                        return ExitStatus::Ok;
                    }
                    print_error(&e);
                    return status_of(&e);
                }
                eprintln!("{}", stats_line(&outcome.stats, units));
            }
            Ending::Failed(e) => {
                print_error(e);
                return status_of(e);
            }
            Ending::Cancelled { .. } => {
                eprintln!("{}", stats_line(&outcome.stats, units));
                return ExitStatus::UserError;
            }
        }
    }
    ExitStatus::Ok
}

fn is_broken_pipe(e: &Error) -> bool {
    matches!(e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}
