//! The shell's backslash commands: one enum, parsed from the text after `\`, each with a one-line help.
//!
//! A meta command is a whole line that starts with `\` outside a statement; SQL never reaches this parser.

use crate::output::OutputFormat;
use clap::ValueEnum;
use std::path::PathBuf;

/// A backslash command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Meta {
    Help,
    Quit,
    /// `\dt [db]`: the tables of a database.
    Tables(Option<String>),
    /// `\d [table]`: one table (no name: the tables, as `\dt`).
    Describe(Option<String>),
    /// `\l`: the databases.
    Databases,
    /// `\c db`: switch the current database.
    Connect(String),
    /// `\format [name]`: show or set how results print.
    Format(Option<OutputFormat>),
    /// `\timing [on|off]`: show or toggle the elapsed time in the footer.
    Timing(Option<bool>),
    /// `\maxrows [N]`: show or set the row cap of tables on the terminal (0: none).
    MaxRows(Option<usize>),
    /// `\crawl PATH...`: crawl into the current database.
    Crawl(Vec<String>),
    /// `\i file.sql`: run a file.
    Include(PathBuf),
    /// `\o [file]`: results to a file (no name: back to the terminal).
    Output(Option<PathBuf>),
    /// `\cost`: the session's totals.
    Cost,
    /// `\history [N]`: the last N statements of the query history (default 20).
    History(Option<usize>),
}

/// Every command with its syntax and one line of help, in the order `\?` prints them.
pub(crate) const HELP: &[(&str, &str)] = &[
    (
        "\\dt [db]",
        "list the tables of a database (default: the current one)",
    ),
    (
        "\\d [table]",
        "describe a table: columns, partitions, location, format",
    ),
    ("\\l", "list the databases"),
    ("\\c db", "switch the current database"),
    (
        "\\format [table|csv|tsv|json|ndjson|markdown]",
        "show or set how results print",
    ),
    (
        "\\timing [on|off]",
        "show elapsed time after each statement",
    ),
    (
        "\\maxrows [N]",
        "rows a table shows on the terminal (0: all; the rest are counted)",
    ),
    (
        "\\crawl PATH...",
        "crawl local folders or s3:// prefixes into the current database",
    ),
    ("\\i file.sql", "run the statements of a file"),
    (
        "\\o [file]",
        "write results to a file; no file: back to the terminal",
    ),
    (
        "\\cost",
        "this session's totals: statements, bytes scanned, billed, dollars",
    ),
    (
        "\\history [N]",
        "the last N statements run over this registry (default 20): state, scanned, cost",
    ),
    ("\\?", "this help"),
    ("\\q", "quit (also Ctrl-D)"),
];

/// The command names, for completion.
pub(crate) const NAMES: &[&str] = &[
    "\\dt",
    "\\d",
    "\\l",
    "\\c",
    "\\format",
    "\\timing",
    "\\maxrows",
    "\\crawl",
    "\\i",
    "\\o",
    "\\cost",
    "\\history",
    "\\?",
    "\\q",
];

impl Meta {
    /// Parse one line that starts with `\`.
    pub(crate) fn parse(line: &str) -> Result<Meta, String> {
        let line = line.trim().trim_end_matches(';').trim_end();
        let body = line.strip_prefix('\\').unwrap_or(line);
        let (name, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        let rest = rest.trim();
        let args: Vec<&str> = rest.split_whitespace().collect();
        let one = |what: &str| -> Result<String, String> {
            match args.as_slice() {
                [a] => Ok(unquote(a)),
                [] => Err(format!("`\\{name}` needs {what}")),
                _ => Err(format!("`\\{name}` takes one argument, {what}")),
            }
        };
        let at_most_one = || -> Result<Option<String>, String> {
            match args.as_slice() {
                [] => Ok(None),
                [a] => Ok(Some(unquote(a))),
                _ => Err(format!("`\\{name}` takes at most one argument")),
            }
        };
        let none = |m: Meta| {
            if args.is_empty() {
                Ok(m)
            } else {
                Err(format!("`\\{name}` takes no argument"))
            }
        };
        match name {
            "?" | "h" | "help" => none(Meta::Help),
            "q" | "quit" | "exit" => none(Meta::Quit),
            "dt" => at_most_one().map(Meta::Tables),
            "d" => at_most_one().map(Meta::Describe),
            "l" | "list" => none(Meta::Databases),
            "c" | "connect" => one("a database").map(Meta::Connect),
            "format" | "pset" => match at_most_one()? {
                None => Ok(Meta::Format(None)),
                Some(f) => OutputFormat::from_str(&f, true)
                    .map(|f| Meta::Format(Some(f)))
                    .map_err(|_| {
                        format!(
                            "unknown format `{f}`: use table, csv, tsv, json, ndjson or markdown"
                        )
                    }),
            },
            "timing" => match at_most_one()?.as_deref() {
                None => Ok(Meta::Timing(None)),
                Some("on") => Ok(Meta::Timing(Some(true))),
                Some("off") => Ok(Meta::Timing(Some(false))),
                Some(other) => Err(format!("`\\timing {other}`: use on or off")),
            },
            "maxrows" => match at_most_one()? {
                None => Ok(Meta::MaxRows(None)),
                Some(n) => n
                    .parse()
                    .map(|n| Meta::MaxRows(Some(n)))
                    .map_err(|_| format!("`\\maxrows {n}`: not a number of rows")),
            },
            "crawl" => {
                if args.is_empty() {
                    Err("`\\crawl` needs a path (a folder or s3://bucket/prefix)".into())
                } else {
                    Ok(Meta::Crawl(args.iter().map(|a| unquote(a)).collect()))
                }
            }
            "i" | "include" => one("file").map(|f| Meta::Include(PathBuf::from(f))),
            "o" | "out" => at_most_one().map(|f| Meta::Output(f.map(PathBuf::from))),
            "cost" => none(Meta::Cost),
            "history" => match at_most_one()? {
                None => Ok(Meta::History(None)),
                Some(n) => n
                    .parse()
                    .map(|n| Meta::History(Some(n)))
                    .map_err(|_| format!("`\\history {n}`: not a number of statements")),
            },
            _ => Err(format!("unknown command `\\{name}`: `\\?` lists them")),
        }
    }
}

fn unquote(s: &str) -> String {
    s.trim_matches(|c| c == '\'' || c == '"').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_parses_and_is_in_the_help() {
        let cases = [
            ("\\?", Meta::Help),
            ("\\q", Meta::Quit),
            ("\\dt", Meta::Tables(None)),
            ("\\dt sales", Meta::Tables(Some("sales".into()))),
            ("\\d", Meta::Describe(None)),
            ("\\d orders", Meta::Describe(Some("orders".into()))),
            ("\\d orders;", Meta::Describe(Some("orders".into()))),
            ("\\l", Meta::Databases),
            ("\\c sales", Meta::Connect("sales".into())),
            ("\\format csv", Meta::Format(Some(OutputFormat::Csv))),
            ("\\format", Meta::Format(None)),
            ("\\timing off", Meta::Timing(Some(false))),
            ("\\maxrows 0", Meta::MaxRows(Some(0))),
            (
                "\\crawl data 's3://b/p'",
                Meta::Crawl(vec!["data".into(), "s3://b/p".into()]),
            ),
            ("\\i q.sql", Meta::Include("q.sql".into())),
            ("\\o out.csv", Meta::Output(Some("out.csv".into()))),
            ("\\o", Meta::Output(None)),
            ("\\cost", Meta::Cost),
        ];
        for (text, want) in cases {
            assert_eq!(Meta::parse(text), Ok(want), "{text}");
        }
        for name in NAMES {
            assert!(
                HELP.iter().any(|(syntax, _)| syntax
                    .split_whitespace()
                    .next()
                    .is_some_and(|s| s == *name)),
                "{name} has no help line"
            );
        }
    }

    #[test]
    fn bad_commands_say_what_is_wrong() {
        for (text, msg) in [
            ("\\x", "unknown command `\\x`: `\\?` lists them"),
            ("\\c", "`\\c` needs a database"),
            ("\\c a b", "`\\c` takes one argument, a database"),
            ("\\format xml", "unknown format `xml`"),
            ("\\timing maybe", "`\\timing maybe`: use on or off"),
            ("\\maxrows lots", "`\\maxrows lots`: not a number of rows"),
            ("\\q now", "`\\q` takes no argument"),
        ] {
            let e = Meta::parse(text).unwrap_err();
            assert!(e.starts_with(msg), "{text}: {e}");
        }
    }
}
