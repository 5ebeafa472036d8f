//! Prepared statements, kept per work group beside the registry as Athena keeps them in a work group:
//! `PREPARE name FROM <query>` saves one, `EXECUTE name USING v1, v2` runs it with values for its `?`s,
//! `DEALLOCATE PREPARE name` deletes it. Every client of the registry (the CLI, the shell, next the server's
//! `CreatePreparedStatement` and friends) sees the same ones.
//!
//! `<catalog>/.prepared/<work group>/<name>.json`, one file each (Athena's `PreparedStatement` fields), written
//! atomically (a temporary file renamed over it), so a reader never sees half of one.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The folder of the prepared statements, under the registry's.
pub const FOLDER: &str = ".prepared";

/// One prepared statement (Athena's `PreparedStatement`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedStatement {
    pub statement_name: String,
    pub query_statement: String,
    pub work_group_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// RFC 3339, UTC.
    pub last_modified_time: String,
}

/// The prepared statements of one registry.
#[derive(Debug, Clone)]
pub struct PreparedStatements {
    dir: PathBuf,
}

/// Athena's `StatementName`: a letter or `_`, then letters, digits, `_`, `@`, `:`; at most 256.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok
        && name.len() <= 256
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | ':'))
    {
        Ok(())
    } else {
        Err(Error::Query(format!(
            "`{name}` is not a prepared statement name: a letter or `_`, then letters, digits, `_`, `@` or \
             `:`, at most 256"
        )))
    }
}

/// Athena's work group name: letters, digits, `.`, `_`, `-`; 1 to 128.
pub fn check_workgroup(name: &str) -> Result<()> {
    if !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name != "."
        && name != ".."
    {
        Ok(())
    } else {
        Err(Error::Query(format!(
            "`{name}` is not a work group name: letters, digits, `.`, `_` and `-`, 1 to 128"
        )))
    }
}

impl PreparedStatements {
    pub fn new(catalog_dir: &Path) -> Self {
        PreparedStatements {
            dir: catalog_dir.join(FOLDER),
        }
    }

    fn path(&self, workgroup: &str, name: &str) -> Result<PathBuf> {
        check_workgroup(workgroup)?;
        check_name(name)?;
        Ok(self.dir.join(workgroup).join(format!("{name}.json")))
    }

    /// Save `p`, replacing one of the same name in its work group (as `PREPARE` does in Athena).
    pub fn put(&self, p: &PreparedStatement) -> Result<()> {
        let path = self.path(&p.work_group_name, &p.statement_name)?;
        super::store::write_json_atomic(&path, p)
    }

    /// The prepared statement `name` of `workgroup`, if there is one.
    pub fn get(&self, workgroup: &str, name: &str) -> Result<Option<PreparedStatement>> {
        super::store::read_json(&self.path(workgroup, name)?, "prepared statement")
    }

    /// Delete `name` from `workgroup`; false when there was none.
    pub fn delete(&self, workgroup: &str, name: &str) -> Result<bool> {
        let path = self.path(workgroup, name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::RegistryWrite { path, source }),
        }
    }

    /// The prepared statements of `workgroup`, by name.
    pub fn list(&self, workgroup: &str) -> Result<Vec<PreparedStatement>> {
        check_workgroup(workgroup)?;
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.dir.join(workgroup)) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json")
                && check_name(stem).is_ok()
                && let Some(p) = self.get(workgroup, stem)?
            {
                out.push(p);
            }
        }
        out.sort_by(|a, b| a.statement_name.cmp(&b.statement_name));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_read_listed_replaced_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let ps = PreparedStatements::new(dir.path());
        let p = |name: &str, sql: &str| PreparedStatement {
            statement_name: name.into(),
            query_statement: sql.into(),
            work_group_name: "primary".into(),
            description: None,
            last_modified_time: "2026-12-04T18:00:00.000Z".into(),
        };
        ps.put(&p("by_day", "SELECT 1")).unwrap();
        ps.put(&p("a", "SELECT 2")).unwrap();
        ps.put(&p("by_day", "SELECT 3")).unwrap();
        let names: Vec<String> = ps
            .list("primary")
            .unwrap()
            .into_iter()
            .map(|p| format!("{}={}", p.statement_name, p.query_statement))
            .collect();
        assert_eq!(names, ["a=SELECT 2", "by_day=SELECT 3"]);
        assert!(ps.list("etl").unwrap().is_empty());
        assert!(ps.get("etl", "a").unwrap().is_none());
        assert!(ps.delete("primary", "a").unwrap());
        assert!(!ps.delete("primary", "a").unwrap());
        // Names that would leave the folder, or are not Athena's, are refused.
        for bad in ["../x", "a/b", "", "1abc", "a b"] {
            assert!(ps.get("primary", bad).is_err(), "{bad}");
        }
        for bad in ["..", "a/b", "", "x y"] {
            assert!(ps.get(bad, "a").is_err(), "{bad}");
        }
    }
}
