//! `owl history`: the statements run over this registry (by `owl query`, `owl run`, the shell), most recent
//! first, with their state, bytes and bill; `\history` in the shell.

use super::tables::ListFormat;
use super::{ExitStatus, print_error, status_of};
use crate::cost::QueryState;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::history::Entry;
use crate::output::human_bytes;
use chrono::{DateTime, NaiveDate, Utc};
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only statements that ended in this state: succeeded, failed or cancelled.
    #[arg(long, value_parser = parse_state)]
    state: Option<QueryState>,
    /// Only statements submitted since: a date (`2026-12-01`), a time (`2026-12-01T10:00:00Z`), or a span back
    /// from now (`30m`, `12h`, `7d`).
    #[arg(long, value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// How many statements at most (0: all).
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: ListFormat,
}

fn parse_state(s: &str) -> std::result::Result<QueryState, String> {
    match s.to_ascii_uppercase().as_str() {
        "SUCCEEDED" => Ok(QueryState::Succeeded),
        "FAILED" => Ok(QueryState::Failed),
        "CANCELLED" | "CANCELED" => Ok(QueryState::Cancelled),
        _ => Err(format!(
            "`{s}` is not a state a statement ends in: use succeeded, failed or cancelled"
        )),
    }
}

fn parse_since(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    since(s, Utc::now())
}

/// `text` as a point in time, relative spans counted back from `now`.
fn since(text: &str, now: DateTime<Utc>) -> std::result::Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.to_utc());
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    let span = match t.char_indices().last() {
        Some((at, unit)) => match (t[..at].parse::<i64>(), unit) {
            (Ok(n), 'm') if n >= 0 => chrono::Duration::try_minutes(n),
            (Ok(n), 'h') if n >= 0 => chrono::Duration::try_hours(n),
            (Ok(n), 'd') if n >= 0 => chrono::Duration::try_days(n),
            _ => None,
        },
        None => None,
    };
    span.and_then(|d| now.checked_sub_signed(d)).ok_or_else(|| {
        format!(
            "`{text}` is not a time: use a date (2026-12-01), an RFC 3339 time (2026-12-01T10:00:00Z) \
             or a span back from now (30m, 12h, 7d)"
        )
    })
}

pub fn history(engine: &Engine, args: HistoryArgs, workgroup: Option<String>) -> ExitStatus {
    match entries(engine, &args, workgroup.as_deref()) {
        Ok(entries) => {
            match args.format {
                ListFormat::Table => println!("{}", table(&entries)),
                ListFormat::Json => match serde_json::to_string(&entries) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        print_error(&Error::internal("the history as JSON", e));
                        return ExitStatus::Internal;
                    }
                },
            }
            ExitStatus::Ok
        }
        Err(e) => {
            print_error(&e);
            status_of(&e)
        }
    }
}

/// The entries `args` asks for, most recent first.
fn entries(engine: &Engine, args: &HistoryArgs, workgroup: Option<&str>) -> Result<Vec<Entry>> {
    let read = engine.history().read()?;
    if read.skipped > 0 {
        eprintln!(
            "note: {} torn history line(s) skipped (a writer stopped mid-entry)",
            read.skipped
        );
    }
    let limit = if args.limit == 0 {
        usize::MAX
    } else {
        args.limit
    };
    Ok(read
        .entries
        .into_iter()
        .filter(|e| args.state.is_none_or(|s| e.state == s))
        .filter(|e| workgroup.is_none_or(|w| e.workgroup == w))
        .filter(|e| args.since.is_none_or(|t| e.submitted_at >= t))
        .take(limit)
        .collect())
}

/// The last `n` statements of the history, for the shell's `\history`.
pub(crate) fn recent(engine: &Engine, n: usize) -> Result<Table> {
    let read = engine.history().read()?;
    Ok(table(&read.entries.into_iter().take(n).collect::<Vec<_>>()))
}

/// Entries for people: one line each, the SQL on one line and cut to fit.
fn table(entries: &[Entry]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "submitted (UTC)",
        "state",
        "workgroup",
        "user",
        "scanned",
        "cost",
        "rows",
        "time",
        "query id",
        "sql",
    ]);
    for e in entries {
        let state = match &e.state_reason {
            Some(r) => format!("{} ({})", e.state.as_str(), cut(r, 40)),
            None => e.state.as_str().to_string(),
        };
        t.add_row(vec![
            e.submitted_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            state,
            e.workgroup.clone(),
            e.user.clone(),
            human_bytes(e.bytes_scanned, crate::cost::Units::Decimal),
            format!("${:.5}", e.cost_usd),
            e.rows.to_string(),
            format!("{:.3} s", e.total_ms as f64 / 1000.0),
            e.query_id.clone(),
            cut(&e.sql, 60),
        ]);
    }
    t
}

/// `s` on one line, at most `n` characters (an ellipsis where cut).
pub(crate) fn cut(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        return one;
    }
    let mut out: String = one.chars().take(n - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_dates_times_and_spans() {
        let now = DateTime::parse_from_rfc3339("2026-12-04T18:00:00Z")
            .unwrap()
            .to_utc();
        let t = |s: &str| since(s, now).map(|t| t.to_rfc3339());
        assert_eq!(t("2026-12-01").unwrap(), "2026-12-01T00:00:00+00:00");
        assert_eq!(
            t("2026-12-01T10:00:00+02:00").unwrap(),
            "2026-12-01T08:00:00+00:00"
        );
        assert_eq!(t("30m").unwrap(), "2026-12-04T17:30:00+00:00");
        assert_eq!(t("12h").unwrap(), "2026-12-04T06:00:00+00:00");
        assert_eq!(t("7d").unwrap(), "2026-11-27T18:00:00+00:00");
        for bad in ["", "yesterday", "-3d", "5w", "d", "2026-13-01"] {
            assert!(since(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_sql_is_one_cut_line() {
        assert_eq!(cut("SELECT 1\nFROM  t", 60), "SELECT 1 FROM t");
        assert_eq!(cut("abcdef", 4), "abc…");
    }
}
