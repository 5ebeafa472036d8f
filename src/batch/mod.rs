//! Batch runs for CI (`owl run`): which files, and the reports a run leaves (`--report` JSON, `--junit` XML).
//! How a text splits into statements is `sql::split` (the engine splits with it too); the running itself, and
//! printing, live in `cli/run.rs`.

pub use crate::sql::split;

use crate::error::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The .sql files of a run, in order: files as given; a folder gives its `*.sql` files sorted by name.
pub fn sql_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| Error::Io {
                    context: format!("reading folder `{}`", input.display()),
                    source: e,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "sql"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(Error::Unsupported(format!(
                    "folder `{}` has no .sql files",
                    input.display()
                )));
            }
            out.extend(files);
        } else if input.is_file() {
            out.push(input.clone());
        } else {
            return Err(Error::Unsupported(format!(
                "`{}`: no such .sql file or folder (paths are relative to the working folder)",
                input.display()
            )));
        }
    }
    Ok(out)
}

/// A size with an optional unit: `500`, `10MB`, `1.5 GB` (powers of 1000), `1GiB`, `512KiB` (powers of 1024).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (examples: 500, 10MB, 1GiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}` (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    Ok((n * mult as f64).round() as u64)
}

/// One statement's line in `--report`.
#[derive(Debug, Clone, Serialize)]
pub struct StatementReport {
    pub file: String,
    pub line: usize,
    pub sql: String,
    pub query_id: Option<String>,
    /// SUCCEEDED, FAILED, CANCELLED, NOT_RUN (after a stop), or ESTIMATED (`--dry-run`).
    pub state: String,
    pub state_reason: Option<String>,
    pub statement_type: Option<String>,
    pub rows: u64,
    pub elapsed_ms: u64,
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
    pub files_read: u64,
    /// What it read of what its tables hold (as `owl query -f json`'s `stats.read`); absent without a file scan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read: Option<crate::storage::meter::ReadBreakdown>,
    pub error: Option<String>,
    pub checks: Vec<CheckReport>,
    /// What a dry run estimated for this statement (in a real run, next to the actual, so drift shows).
    pub estimated_bytes: Option<u64>,
    pub estimated_cost_usd: Option<f64>,
}

impl StatementReport {
    pub fn not_run(file: &str, line: usize, sql: &str) -> Self {
        StatementReport {
            file: file.into(),
            line,
            sql: sql.into(),
            query_id: None,
            state: "NOT_RUN".into(),
            state_reason: None,
            statement_type: None,
            rows: 0,
            elapsed_ms: 0,
            bytes_scanned: 0,
            billed_bytes: 0,
            cost_usd: 0.0,
            files_read: 0,
            read: None,
            error: None,
            checks: Vec::new(),
            estimated_bytes: None,
            estimated_cost_usd: None,
        }
    }

    /// Failed, cancelled, or a check did not hold.
    pub fn failed(&self) -> bool {
        matches!(self.state.as_str(), "FAILED" | "CANCELLED")
            || self.checks.iter().any(|c| !c.passed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The check as written (`rows = 0`, `file = expected.csv`).
    pub check: String,
    pub passed: bool,
    /// Why it failed: the counts, or a diff.
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub statements: usize,
    pub succeeded: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub not_run: usize,
    pub checks_failed: usize,
    pub rows: u64,
    pub elapsed_ms: u64,
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
    pub estimated_bytes: u64,
    pub estimated_cost_usd: f64,
}

/// The whole run, as `--report` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub statements: Vec<StatementReport>,
    pub totals: Totals,
    pub exit_code: u8,
}

impl RunReport {
    pub fn new(statements: Vec<StatementReport>, exit_code: u8) -> Self {
        let mut t = Totals {
            statements: statements.len(),
            ..Totals::default()
        };
        for s in &statements {
            match s.state.as_str() {
                "SUCCEEDED" => t.succeeded += 1,
                "FAILED" => t.failed += 1,
                "CANCELLED" => t.cancelled += 1,
                "ESTIMATED" => {}
                _ => t.not_run += 1,
            }
            t.checks_failed += s.checks.iter().filter(|c| !c.passed).count();
            t.rows += s.rows;
            t.elapsed_ms += s.elapsed_ms;
            t.bytes_scanned += s.bytes_scanned;
            t.billed_bytes += s.billed_bytes;
            t.cost_usd += s.cost_usd;
            t.estimated_bytes += s.estimated_bytes.unwrap_or(0);
            t.estimated_cost_usd += s.estimated_cost_usd.unwrap_or(0.0);
        }
        RunReport {
            statements,
            totals: t,
            exit_code,
        }
    }

    /// JUnit XML for CI dashboards: a test suite per file, a test case per statement (`file:line`), the bill
    /// in each case's properties; failed and cancelled statements and failed checks are failures, statements
    /// after a stop are skipped.
    pub fn junit(&self) -> String {
        let mut files: Vec<&str> = Vec::new();
        for s in &self.statements {
            if !files.contains(&s.file.as_str()) {
                files.push(&s.file);
            }
        }
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let failures = self.statements.iter().filter(|s| s.failed()).count();
        x.push_str(&format!(
            "<testsuites name=\"owl run\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">\n",
            self.statements.len(),
            self.totals.elapsed_ms as f64 / 1000.0
        ));
        for file in files {
            let cases: Vec<&StatementReport> =
                self.statements.iter().filter(|s| s.file == file).collect();
            let fails = cases.iter().filter(|s| s.failed()).count();
            let skipped = cases.iter().filter(|s| s.state == "NOT_RUN").count();
            let time: u64 = cases.iter().map(|s| s.elapsed_ms).sum();
            x.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skipped}\" time=\"{:.3}\">\n",
                crate::output::xml(file),
                cases.len(),
                time as f64 / 1000.0
            ));
            for s in cases {
                x.push_str(&format!(
                    "    <testcase name=\"{}:{}\" classname=\"{}\" time=\"{:.3}\">\n",
                    crate::output::xml(file),
                    s.line,
                    crate::output::xml(file),
                    s.elapsed_ms as f64 / 1000.0
                ));
                x.push_str("      <properties>\n");
                let props = [
                    ("query_id", s.query_id.clone().unwrap_or_default()),
                    ("state", s.state.clone()),
                    ("rows", s.rows.to_string()),
                    ("bytes_scanned", s.bytes_scanned.to_string()),
                    ("billed_bytes", s.billed_bytes.to_string()),
                    ("cost_usd", format!("{}", s.cost_usd)),
                ];
                for (k, v) in props {
                    x.push_str(&format!(
                        "        <property name=\"{k}\" value=\"{}\"/>\n",
                        crate::output::xml(&v)
                    ));
                }
                x.push_str("      </properties>\n");
                if s.state == "NOT_RUN" {
                    x.push_str(
                        "      <skipped message=\"not run: an earlier statement failed\"/>\n",
                    );
                } else if s.failed() {
                    let message = s
                        .error
                        .clone()
                        .or_else(|| s.state_reason.clone())
                        .or_else(|| {
                            s.checks
                                .iter()
                                .find(|c| !c.passed)
                                .map(|c| format!("check failed: {}", c.check))
                        })
                        .unwrap_or_else(|| s.state.clone());
                    let detail: Vec<String> =
                        s.checks.iter().filter_map(|c| c.message.clone()).collect();
                    x.push_str(&format!(
                        "      <failure message=\"{}\">{}</failure>\n",
                        crate::output::xml(&message),
                        crate::output::xml(&format!(
                            "{}\n{}\n{}",
                            s.sql,
                            message,
                            detail.join("\n")
                        ))
                    ));
                }
                x.push_str(&format!(
                    "      <system-out>{}</system-out>\n",
                    crate::output::xml(&s.sql)
                ));
                x.push_str("    </testcase>\n");
            }
            x.push_str("  </testsuite>\n");
        }
        x.push_str("</testsuites>\n");
        x
    }
}

/// A file name as reports show it: relative to the working folder when it is inside it.
pub fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    cwd.and_then(|c| p.strip_prefix(&c).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_both_unit_systems() {
        assert_eq!(parse_size("500"), Ok(500));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("1.5 GB"), Ok(1_500_000_000));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("64kib"), Ok(64 << 10));
        assert!(parse_size("ten MB").is_err());
        assert!(
            parse_size("10 parsecs")
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn junit_escapes_and_counts() {
        let mut ok = StatementReport::not_run("a.sql", 1, "SELECT '<&>'");
        ok.state = "SUCCEEDED".into();
        let mut bad = StatementReport::not_run("a.sql", 3, "SELECT x");
        bad.state = "FAILED".into();
        bad.error = Some("column `x` does not exist".into());
        let skipped = StatementReport::not_run("b.sql", 1, "SELECT 2");
        let r = RunReport::new(vec![ok, bad, skipped], 1);
        assert_eq!(r.totals.succeeded, 1);
        assert_eq!(r.totals.failed, 1);
        assert_eq!(r.totals.not_run, 1);
        let x = r.junit();
        assert!(x.contains("<testsuites name=\"owl run\" tests=\"3\" failures=\"1\""));
        assert!(x.contains("SELECT &apos;&lt;&amp;&gt;&apos;"));
        assert!(x.contains("<failure message=\"column `x` does not exist\">"));
        assert!(x.contains("<skipped"));
        assert!(x.contains("<testcase name=\"a.sql:3\""));
    }
}
