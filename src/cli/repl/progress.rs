//! The live progress line of a running statement, on stderr: elapsed, bytes scanned so far, files read of the
//! files the plan opens. It appears only once a statement has run for [`DELAY`] and is erased before results
//! print. It runs on a thread of its own, so a query that keeps every worker busy cannot freeze it.
//!
//! Drawn by hand (`\r`, erase line) and kept a few columns short of the terminal's width: a line that fills
//! the width leaves the cursor at the edge, and the `^C` the terminal echoes would wrap it onto a new line that
//! the erase would then miss.

use crate::cost::Units;
use crate::output::human_bytes;
use crate::storage::meter::Meter;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a statement runs before its progress line appears.
pub(crate) const DELAY: Duration = Duration::from_millis(500);
const REFRESH: Duration = Duration::from_millis(100);
const SPINNER: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/// A progress line for one statement; [`Progress::finish`] (or drop) erases it.
pub(crate) struct Progress {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(meter: Arc<Meter>, units: Units) -> Self {
        let (stop, rx) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            if rx.recv_timeout(DELAY) != Err(RecvTimeoutError::Timeout) {
                return;
            }
            let width = comfy_table::Table::new()
                .width()
                .map_or(80, usize::from)
                .max(20);
            let mut err = std::io::stderr();
            for frame in SPINNER.chars().cycle() {
                let text: String = format!("{frame} {}", line(&meter, started.elapsed(), units))
                    .chars()
                    .take(width - 4)
                    .collect();
                let _ = write!(err, "\r\x1b[2K{text}");
                let _ = err.flush();
                if rx.recv_timeout(REFRESH) != Err(RecvTimeoutError::Timeout) {
                    break;
                }
            }
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Progress {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Erase the line (if it was shown) before anything else prints.
    pub(crate) fn finish(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.end();
    }
}

/// `3.2 s · scanned 1.21 MB · files 4/12 · Ctrl-C cancels`.
pub(crate) fn line(meter: &Meter, elapsed: Duration, units: Units) -> String {
    let read = meter.files_read();
    let files = match meter.plan().map(|p| p.files) {
        Some(total) if total > 0 => format!(" · files {}/{total}", read.min(total)),
        _ if read > 0 => format!(" · {read} files"),
        _ => String::new(),
    };
    format!(
        "{:.1} s · scanned {}{files} · Ctrl-C cancels",
        elapsed.as_secs_f64(),
        human_bytes(meter.bytes_scanned(), units)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_time_bytes_and_files() {
        let m = Meter::new();
        let l = line(&m, Duration::from_millis(1500), Units::Decimal);
        assert_eq!(l, "1.5 s · scanned 0 B · Ctrl-C cancels");
        m.set_plan(crate::storage::meter::ScanPlan {
            files: 12,
            ..Default::default()
        });
        let l = line(&m, Duration::from_millis(2000), Units::Decimal);
        assert_eq!(l, "2.0 s · scanned 0 B · files 0/12 · Ctrl-C cancels");
    }
}
