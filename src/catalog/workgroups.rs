//! Work groups, as Athena has them: a name, a state (ENABLED/DISABLED), a description and a configuration
//! (the per-query scan cutoff, the results location, whether its configuration overrides the client's).
//! `primary` always exists. Every query runs in one (`owl --workgroup`, `OWL_WORKGROUP`); a disabled work group
//! runs nothing, and a query past its cutoff is CANCELLED and billed the cutoff, as Athena does.
//!
//! `<catalog>/.workgroups/<name>.json`, one file each, written atomically. `primary` has a file only once it
//! was changed.

use super::prepared::check_workgroup;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The folder of the work groups, under the registry's.
pub const FOLDER: &str = ".workgroups";

/// Athena's smallest per-query cutoff: 10 MB.
pub const MIN_CUTOFF: u64 = 10_000_000;

/// The work group every query runs in unless told otherwise.
pub const PRIMARY: &str = crate::config::DEFAULT_WORKGROUP;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Enabled,
    Disabled,
}

/// Athena's `WorkGroupConfiguration`, the parts owl acts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// A query that scans more is CANCELLED, billed this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_scanned_cutoff_per_query: Option<u64>,
    /// Where results are written (`<location>/<query id>.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_location: Option<String>,
    /// The work group's settings win over the client's (its output location).
    #[serde(default)]
    pub enforce_work_group_configuration: bool,
}

/// One work group (Athena's `WorkGroup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkGroup {
    pub name: String,
    pub state: State,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub configuration: Configuration,
    /// RFC 3339, UTC.
    pub creation_time: String,
}

impl WorkGroup {
    /// A new, enabled work group.
    pub fn new(name: &str) -> Self {
        WorkGroup {
            name: name.to_string(),
            state: State::Enabled,
            description: None,
            configuration: Configuration::default(),
            creation_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }
    }

    /// Whether its settings are ones Athena takes.
    pub fn check(&self) -> Result<()> {
        check_workgroup(&self.name)?;
        if let Some(c) = self.configuration.bytes_scanned_cutoff_per_query
            && c < MIN_CUTOFF
        {
            return Err(Error::Query(format!(
                "work group `{}`: the per-query cutoff is at least {MIN_CUTOFF} bytes (10 MB), not {c}",
                self.name
            )));
        }
        Ok(())
    }
}

/// The work groups of one registry.
#[derive(Debug, Clone)]
pub struct WorkGroups {
    dir: PathBuf,
}

impl WorkGroups {
    pub fn new(catalog_dir: &Path) -> Self {
        WorkGroups {
            dir: catalog_dir.join(FOLDER),
        }
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        check_workgroup(name)?;
        Ok(self.dir.join(format!("{name}.json")))
    }

    /// The work group `name`; `primary` exists even before it is first changed.
    pub fn get(&self, name: &str) -> Result<Option<WorkGroup>> {
        let kept = super::store::read_json(&self.path(name)?, "work group")?;
        Ok(kept.or_else(|| {
            (name == PRIMARY).then(|| WorkGroup {
                creation_time: "1970-01-01T00:00:00.000Z".into(),
                ..WorkGroup::new(PRIMARY)
            })
        }))
    }

    /// The work group a query runs in: it exists and is enabled.
    pub fn for_query(&self, name: &str) -> Result<WorkGroup> {
        match self.get(name)? {
            Some(wg) if wg.state == State::Enabled => Ok(wg),
            Some(_) => Err(Error::Query(format!("work group `{name}` is disabled"))),
            None => Err(Error::Query(format!(
                "work group `{name}` is not found (`owl workgroup list` lists them)"
            ))),
        }
    }

    /// Create `wg`; an existing name is an error.
    pub fn create(&self, wg: &WorkGroup) -> Result<()> {
        wg.check()?;
        if self.get(&wg.name)?.is_some() {
            return Err(Error::Query(format!(
                "work group `{}` already exists",
                wg.name
            )));
        }
        self.write(wg)
    }

    /// Replace an existing work group's state, description and configuration.
    pub fn update(&self, wg: &WorkGroup) -> Result<()> {
        wg.check()?;
        if self.get(&wg.name)?.is_none() {
            return Err(Error::Query(format!(
                "work group `{}` is not found",
                wg.name
            )));
        }
        self.write(wg)
    }

    /// Delete a work group (never `primary`).
    pub fn delete(&self, name: &str) -> Result<()> {
        if name == PRIMARY {
            return Err(Error::Query(
                "the primary work group cannot be deleted".into(),
            ));
        }
        let path = self.path(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::Query(format!("work group `{name}` is not found")))
            }
            Err(source) => Err(Error::RegistryWrite { path, source }),
        }
    }

    /// Every work group, `primary` included, by name.
    pub fn list(&self) -> Result<Vec<WorkGroup>> {
        let mut out: Vec<WorkGroup> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".json")
                    && check_workgroup(stem).is_ok()
                    && let Some(wg) = self.get(stem)?
                {
                    out.push(wg);
                }
            }
        }
        if !out.iter().any(|w| w.name == PRIMARY)
            && let Some(primary) = self.get(PRIMARY)?
        {
            out.push(primary);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn write(&self, wg: &WorkGroup) -> Result<()> {
        super::store::write_json_atomic(&self.path(&wg.name)?, wg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_exists_others_are_created_updated_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let wgs = WorkGroups::new(dir.path());
        assert_eq!(wgs.for_query("primary").unwrap().name, "primary");
        assert!(wgs.for_query("etl").is_err());
        let mut etl = WorkGroup::new("etl");
        etl.configuration.bytes_scanned_cutoff_per_query = Some(MIN_CUTOFF - 1);
        assert!(wgs.create(&etl).is_err(), "under Athena's 10 MB minimum");
        etl.configuration.bytes_scanned_cutoff_per_query = Some(MIN_CUTOFF);
        wgs.create(&etl).unwrap();
        assert!(wgs.create(&etl).is_err(), "exists");
        let names: Vec<String> = wgs.list().unwrap().into_iter().map(|w| w.name).collect();
        assert_eq!(names, ["etl", "primary"]);
        etl.state = State::Disabled;
        wgs.update(&etl).unwrap();
        assert!(
            wgs.for_query("etl")
                .unwrap_err()
                .to_string()
                .contains("disabled")
        );
        assert!(wgs.delete("primary").is_err());
        wgs.delete("etl").unwrap();
        assert!(wgs.delete("etl").is_err());
        assert!(wgs.get("../x").is_err());
    }
}
