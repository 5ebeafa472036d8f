//! The query history: one entry for every statement owl runs (`owl query`, `owl run`, the shell, and next the
//! server), as Athena keeps one for every query: its id, work group, SQL, database, state and reason, times,
//! bytes scanned, bill, rows and files.
//!
//! Kept beside the registry, in `<catalog>/.history/<YYYY-MM-DD>.jsonl` (the UTC day the statement ended), one
//! JSON object a line. Each entry is appended with one write to a file opened for appending, so several owl
//! processes (a shell, a CI run, a server) can write at once without interleaving. A process killed in the
//! middle of a write leaves at most a torn last line; every entry starts on a fresh line (a newline is written
//! before it), so the next entry is whole, and readers skip a line that is not a whole entry: a half-written
//! entry is never read back. Days older than the retention (45 days, as Athena keeps its history; `0` keeps
//! none) are deleted when an engine opens the history.

use crate::cost::{QueryState, StatementType};
use crate::error::{Error, Result};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder of the history, under the registry's.
pub const FOLDER: &str = ".history";

/// One statement, as it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub query_id: String,
    pub workgroup: String,
    pub database: String,
    pub sql: String,
    pub statement_type: StatementType,
    pub state: QueryState,
    /// Why it failed or was cancelled, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// When it was submitted and when it ended, RFC 3339 in UTC with milliseconds.
    #[serde(with = "rfc3339")]
    pub submitted_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub completed_at: DateTime<Utc>,
    pub queue_ms: u64,
    pub engine_ms: u64,
    pub total_ms: u64,
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
    pub rows: u64,
    pub files_read: u64,
    /// What it read of what its tables hold, and what it skipped (files, columns, row groups, partitions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::storage::meter::ReadBreakdown>,
    /// Who ran it: the account of the CLI's user, or the server's caller.
    pub user: String,
    /// Where its rows were written (`<location>/<query id>.csv`), when they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_location: Option<String>,
    /// The query whose results it reused instead of running (Athena's result reuse), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
}

/// Times as RFC 3339 text in UTC, to the millisecond (`2026-12-04T18:28:17.123Z`).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.to_utc())
            .map_err(serde::de::Error::custom)
    }
}

/// The history of one registry.
#[derive(Debug, Clone)]
pub struct History {
    dir: PathBuf,
    retention_days: u32,
}

/// What reading the history found.
#[derive(Debug, Default)]
pub struct Read {
    /// The entries, most recent first (by submission time).
    pub entries: Vec<Entry>,
    /// Lines that were not a whole entry (a write torn by a crash), skipped.
    pub skipped: usize,
}

impl History {
    /// The history beside the registry at `catalog_dir`, keeping `retention_days` days.
    pub fn new(catalog_dir: &Path, retention_days: u32) -> Self {
        History {
            dir: catalog_dir.join(FOLDER),
            retention_days,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether entries are kept at all (a retention of 0 days keeps none).
    pub fn enabled(&self) -> bool {
        self.retention_days > 0
    }

    /// Append `entry` to its day's file.
    pub fn record(&self, entry: &Entry) -> Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let io = |context: String| move |source| Error::Io { context, source };
        std::fs::create_dir_all(&self.dir)
            .map_err(io(format!("cannot create `{}`", self.dir.display())))?;
        let path = self.day_file(entry.completed_at.date_naive());
        // One buffer, one append: a newline first (ending whatever a crashed writer left), the entry, a newline.
        let mut line = b"\n".to_vec();
        serde_json::to_writer(&mut line, entry)
            .map_err(|e| Error::internal("a query history entry", e))?;
        line.push(b'\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("cannot open `{}`", path.display())))?;
        file.write_all(&line)
            .map_err(io(format!("cannot write `{}`", path.display())))
    }

    /// Every entry kept, most recent first, with the count of torn lines skipped.
    pub fn read(&self) -> Result<Read> {
        self.read_since(None)
    }

    /// The entries of the days (UTC) from `since`'s on, most recent first: the files of older days are not
    /// read. An entry of that first day may be older than `since`.
    pub fn read_since(&self, since: Option<DateTime<Utc>>) -> Result<Read> {
        let mut out = Read::default();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("cannot list `{}`", self.dir.display()),
                    source,
                });
            }
        };
        for e in entries.flatten() {
            let path = e.path();
            let Some(day) = day_of(&path) else {
                continue;
            };
            if since.is_some_and(|t| day < t.date_naive()) {
                continue;
            }
            let text = std::fs::read(&path).map_err(|source| Error::Io {
                context: format!("cannot read `{}`", path.display()),
                source,
            })?;
            for line in text.split(|&b| b == b'\n') {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<Entry>(line) {
                    Ok(entry) => out.entries.push(entry),
                    Err(_) => out.skipped += 1,
                }
            }
        }
        out.entries.sort_by(|a, b| {
            b.submitted_at
                .cmp(&a.submitted_at)
                .then_with(|| b.query_id.cmp(&a.query_id))
        });
        Ok(out)
    }

    /// Delete the days past the retention (`now` minus the retention, in UTC days). A retention of 0 keeps
    /// the files as they are: it turns writing off, it does not erase what was kept.
    pub fn prune(&self, now: DateTime<Utc>) -> Result<usize> {
        if !self.enabled() {
            return Ok(0);
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(0);
        };
        let oldest = now.date_naive() - chrono::Days::new(u64::from(self.retention_days) - 1);
        let mut removed = 0;
        for e in entries.flatten() {
            let path = e.path();
            if day_of(&path).is_some_and(|day| day < oldest) {
                std::fs::remove_file(&path).map_err(|source| Error::Io {
                    context: format!("cannot delete `{}`", path.display()),
                    source,
                })?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn day_file(&self, day: NaiveDate) -> PathBuf {
        self.dir.join(format!("{}.jsonl", day.format("%Y-%m-%d")))
    }
}

/// The day of a history file, from its name (`2026-12-04.jsonl`); None for any other file.
fn day_of(path: &Path) -> Option<NaiveDate> {
    let name = path.file_name()?.to_str()?;
    NaiveDate::parse_from_str(name.strip_suffix(".jsonl")?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, at: DateTime<Utc>) -> Entry {
        Entry {
            query_id: id.into(),
            workgroup: "primary".into(),
            database: "default".into(),
            sql: "SELECT 1".into(),
            statement_type: StatementType::Dml,
            state: QueryState::Succeeded,
            state_reason: None,
            submitted_at: at,
            completed_at: at,
            queue_ms: 0,
            engine_ms: 1,
            total_ms: 1,
            bytes_scanned: 0,
            billed_bytes: 0,
            cost_usd: 0.0,
            rows: 1,
            files_read: 0,
            read: None,
            user: "me".into(),
            output_location: None,
            reused_from: None,
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn entries_read_back_newest_first_and_torn_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path(), crate::config::DEFAULT_HISTORY_DAYS);
        let a = entry("a", at("2026-12-03T10:00:00.123Z"));
        let b = entry("b", at("2026-12-04T09:00:00Z"));
        h.record(&a).unwrap();
        // A writer killed half-way through its entry.
        let file = h.dir().join("2026-12-04.jsonl");
        std::fs::write(&file, b"\n{\"query_id\":\"torn\",\"workgr").unwrap();
        h.record(&b).unwrap();
        let read = h.read().unwrap();
        assert_eq!(read.entries, vec![b.clone(), a]);
        assert_eq!(read.skipped, 1);
        // From a time on: only the files of that day and later are read.
        let recent = h.read_since(Some(at("2026-12-04T08:00:00Z"))).unwrap();
        assert_eq!(recent.entries, vec![b]);
    }

    #[test]
    fn days_past_the_retention_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::new(dir.path(), 2);
        for day in ["2026-12-01", "2026-12-02", "2026-12-03"] {
            h.record(&entry(day, at(&format!("{day}T12:00:00Z"))))
                .unwrap();
        }
        std::fs::write(h.dir().join("notes.txt"), "kept").unwrap();
        assert_eq!(h.prune(at("2026-12-03T23:00:00Z")).unwrap(), 1);
        let ids: Vec<String> = h
            .read()
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.query_id)
            .collect();
        assert_eq!(ids, ["2026-12-03", "2026-12-02"]);
        assert!(h.dir().join("notes.txt").exists());
        // Retention 0: nothing written, nothing erased.
        let off = History::new(dir.path(), 0);
        off.record(&entry("x", at("2026-12-03T12:00:00Z"))).unwrap();
        assert_eq!(off.prune(at("2027-01-01T00:00:00Z")).unwrap(), 0);
        assert_eq!(h.read().unwrap().entries.len(), 2);
    }
}
