//! Named queries (Athena's saved queries): a name, a database and SQL text kept in a work group, for clients to
//! list and run. `<catalog>/.named-queries/<id>.json`, one file each (Athena's `NamedQuery` fields), written
//! atomically.

use super::prepared::check_workgroup;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The folder of the named queries, under the registry's.
pub const FOLDER: &str = ".named-queries";

/// One named query (Athena's `NamedQuery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedQuery {
    pub named_query_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub database: String,
    pub query_string: String,
    pub work_group: String,
}

/// The named queries of one registry.
#[derive(Debug, Clone)]
pub struct NamedQueries {
    dir: PathBuf,
}

impl NamedQueries {
    pub fn new(catalog_dir: &Path) -> Self {
        NamedQueries {
            dir: catalog_dir.join(FOLDER),
        }
    }

    /// An id is a UUID (what `create` makes): nothing else reaches the file system.
    fn path(&self, id: &str) -> Result<PathBuf> {
        match uuid::Uuid::parse_str(id) {
            Ok(u) if u.hyphenated().to_string() == id => Ok(self.dir.join(format!("{id}.json"))),
            _ => Err(Error::Query(format!("`{id}` is not a named query id"))),
        }
    }

    /// Save a new named query; returns its id.
    pub fn create(&self, mut q: NamedQuery) -> Result<String> {
        check_workgroup(&q.work_group)?;
        if q.name.is_empty() || q.name.len() > 128 {
            return Err(Error::Query(
                "a named query's name is 1 to 128 characters".into(),
            ));
        }
        q.named_query_id = uuid::Uuid::new_v4().to_string();
        super::store::write_json_atomic(&self.path(&q.named_query_id)?, &q)?;
        Ok(q.named_query_id)
    }

    pub fn get(&self, id: &str) -> Result<Option<NamedQuery>> {
        super::store::read_json(&self.path(id)?, "named query")
    }

    /// Delete one; false when there was none.
    pub fn delete(&self, id: &str) -> Result<bool> {
        let path = self.path(id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::RegistryWrite { path, source }),
        }
    }

    /// The named queries of `workgroup`, by name then id.
    pub fn list(&self, workgroup: &str) -> Result<Vec<NamedQuery>> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json")
                && let Ok(Some(q)) = self.get(stem)
                && q.work_group == workgroup
            {
                out.push(q);
            }
        }
        out.sort_by(|a, b| (&a.name, &a.named_query_id).cmp(&(&b.name, &b.named_query_id)));
        Ok(out)
    }
}
