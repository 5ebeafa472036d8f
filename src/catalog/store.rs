//! The registry on disk: `<root>/<database>/<table>.json`, one pretty-printed JSON file per table.
//!
//! Invariants:
//! 1. A table file is always whole: writes go to a temp file in the same folder, are fsynced, then renamed over
//!    the old file (and the folder fsynced). A reader sees the old or the new file, never a mix.
//! 2. Read-modify-write runs under an exclusive lock on `<root>/.lock`, so two owl processes never lose an
//!    update. Readers take no lock (invariant 1 makes that safe).
//! 3. A broken file breaks only its own table: listing and the other tables keep working.

use super::model::TableDef;
use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::config::DEFAULT_DATABASE;

/// What [`Registry::put_table`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Created,
    /// Rewritten; `new_version` when the schema changed and a version was archived.
    Updated {
        new_version: bool,
    },
    /// Identical content: nothing was written.
    Unchanged,
}

/// The on-disk registry.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    /// Local folders new table locations must be under (None: anywhere).
    allowed_roots: Option<Vec<PathBuf>>,
}

/// Glue's naming rules: 1-255 characters of `[a-z0-9_]`.
pub(crate) fn validate_name(kind: &'static str, name: &str) -> Result<()> {
    let bad = |reason| Error::InvalidName {
        kind,
        name: name.into(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 255 {
        return Err(bad("longer than 255 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(bad("only lower-case letters, digits and `_` are allowed"));
    }
    Ok(())
}

impl Registry {
    /// A registry rooted at `root` (made absolute now, so relative locations never depend on a later chdir).
    pub fn open(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let root = std::path::absolute(&root).unwrap_or(root);
        Registry {
            root: super::location::normalize(&root),
            allowed_roots: None,
        }
    }

    /// The same registry, its new tables' local locations limited to `roots` (`owl serve --allow-root`).
    pub fn with_allowed_roots(mut self, roots: Option<Vec<PathBuf>>) -> Self {
        self.allowed_roots = roots.map(|r| {
            r.iter()
                .map(|p| super::location::normalize(&std::path::absolute(p).unwrap_or(p.clone())))
                .collect()
        });
        self
    }

    /// The local folders new locations must be under, when limited.
    pub(crate) fn allowed_roots(&self) -> Option<&[PathBuf]> {
        self.allowed_roots.as_deref()
    }

    /// InvalidLocation unless `location` (as stored: relative to the registry, or a URL) may be used.
    pub(crate) fn check_location(&self, location: &str) -> Result<()> {
        if self.allowed_roots.is_none() {
            return Ok(());
        }
        let url = super::location::resolve_dir(location, &self.root)?;
        super::location::check_allowed(&url, self.allowed_roots())
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn db_dir(&self, db: &str) -> PathBuf {
        self.root.join(db)
    }

    pub fn table_path(&self, db: &str, table: &str) -> PathBuf {
        self.db_dir(db).join(format!("{table}.json"))
    }

    /// All databases, sorted; `default` always exists.
    pub(crate) fn databases(&self) -> Result<Vec<String>> {
        let mut out = vec![DEFAULT_DATABASE.to_string()];
        if let Ok(entries) = fs::read_dir(&self.root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir()
                    && validate_name("database", &name).is_ok()
                    && name != DEFAULT_DATABASE
                {
                    out.push(name);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    pub(crate) fn database_exists(&self, db: &str) -> bool {
        db == DEFAULT_DATABASE
            || (validate_name("database", db).is_ok() && self.db_dir(db).is_dir())
    }

    pub fn create_database(&self, db: &str, if_not_exists: bool) -> Result<()> {
        validate_name("database", db)?;
        self.with_lock(|| {
            if self.db_dir(db).is_dir() {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(Error::DatabaseExists(db.into()))
                };
            }
            let dir = self.db_dir(db);
            fs::create_dir_all(&dir).map_err(|e| Error::RegistryWrite {
                path: dir,
                source: e,
            })
        })
    }

    /// Drop a database: refused while it holds tables, unless `cascade` (then its tables go too).
    pub(crate) fn drop_database(&self, db: &str, if_exists: bool, cascade: bool) -> Result<()> {
        validate_name("database", db)?;
        if db == DEFAULT_DATABASE {
            return Err(Error::Unsupported(
                "the `default` database cannot be dropped".into(),
            ));
        }
        self.with_lock(|| {
            let dir = self.db_dir(db);
            if !dir.is_dir() {
                return if if_exists {
                    Ok(())
                } else {
                    Err(Error::DatabaseNotFound(db.into()))
                };
            }
            let tables = self.table_names(db)?;
            if !tables.is_empty() && !cascade {
                return Err(Error::Unsupported(format!(
                    "database `{db}` still has {} tables; drop them first or use DROP DATABASE {db} CASCADE",
                    tables.len()
                )));
            }
            fs::remove_dir_all(&dir).map_err(|e| Error::RegistryWrite { path: dir, source: e })?;
            sync_dir(&self.root);
            Ok(())
        })
    }

    /// Table names of a database, sorted. Files that are not `<valid name>.json` are ignored.
    pub(crate) fn table_names(&self, db: &str) -> Result<Vec<String>> {
        validate_name("database", db)?;
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.db_dir(db)) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if let Some(name) = file.strip_suffix(".json")
                && validate_name("table", name).is_ok()
            {
                out.push(name.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    pub(crate) fn table_exists(&self, db: &str, table: &str) -> bool {
        validate_name("database", db).is_ok()
            && validate_name("table", table).is_ok()
            && self.table_path(db, table).is_file()
    }

    /// Load one table. A missing file is `TableNotFound`; a broken one names the file and what is wrong.
    pub fn load_table(&self, db: &str, table: &str) -> Result<TableDef> {
        validate_name("database", db)?;
        validate_name("table", table)?;
        let path = self.table_path(db, table);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::TableNotFound {
                    database: db.into(),
                    table: table.into(),
                    suggestion: None,
                });
            }
            Err(e) => {
                return Err(Error::CorruptRegistryFile {
                    path,
                    reason: e.to_string(),
                });
            }
        };
        parse_table(&text, db, table, &path)
    }

    /// Create a new table (version "0"). Fails if it exists, unless `if_not_exists`.
    pub fn create_table(&self, def: TableDef, if_not_exists: bool) -> Result<bool> {
        let lock = self.lock()?;
        self.create_table_locked(&lock, def, if_not_exists)
    }

    /// [`Registry::create_table`] for a caller that holds the lock (a CTAS commits its files and registers
    /// its table under one lock).
    pub(crate) fn create_table_locked(
        &self,
        _lock: &RegistryLock,
        mut def: TableDef,
        if_not_exists: bool,
    ) -> Result<bool> {
        self.check_names(&def)?;
        self.check_location(&def.location)?;
        super::projection::check_template(&def, self)?;
        if self.table_path(&def.database, &def.name).exists() {
            return if if_not_exists {
                Ok(false)
            } else {
                Err(Error::TableExists {
                    database: def.database.clone(),
                    table: def.name.clone(),
                })
            };
        }
        def.version_id = "0".into();
        def.versions = vec![def.snapshot("0".into())];
        self.write(&def)?;
        Ok(true)
    }

    /// Create or update a table the way Glue's crawler does: a schema change archives a new version; the same
    /// content rewrites nothing. The caller's `version_id`/`versions` are ignored: history is the registry's.
    pub(crate) fn put_table(&self, mut def: TableDef) -> Result<PutOutcome> {
        self.check_names(&def)?;
        self.with_lock(|| {
            let old = match self.load_table(&def.database, &def.name) {
                Ok(old) => Some(old),
                Err(Error::TableNotFound { .. }) => None,
                Err(e) => return Err(e),
            };
            if old.as_ref().is_none_or(|o| o.location != def.location) {
                self.check_location(&def.location)?;
            }
            super::projection::check_template(&def, self)?;
            let Some(old) = old else {
                def.version_id = "0".into();
                def.versions = vec![def.snapshot("0".into())];
                self.write(&def)?;
                return Ok(PutOutcome::Created);
            };
            let current = old.snapshot(old.version_id.clone());
            let candidate = def.snapshot(old.version_id.clone());
            let new_version = current != candidate;
            def.versions = old.versions.clone();
            if new_version {
                def.archive_new_version();
            } else {
                def.version_id = old.version_id.clone();
            }
            if def == old {
                return Ok(PutOutcome::Unchanged);
            }
            self.write(&def)?;
            Ok(PutOutcome::Updated { new_version })
        })
    }

    /// Change a table's statistics (ANALYZE) under the lock, so that a crawl writing the table meanwhile loses
    /// nothing: statistics are not schema, so no new version. Returns the table as written.
    pub(crate) fn update_stats(
        &self,
        db: &str,
        table: &str,
        f: impl FnOnce(&mut super::model::TableStats),
    ) -> Result<TableDef> {
        self.with_lock(|| {
            let mut def = self.load_table(db, table)?;
            f(&mut def.stats);
            self.write(&def)?;
            Ok(def)
        })
    }

    /// Change a table under the lock (partition DDL): `f` edits it, and it is written only when `f` succeeds, so
    /// a failed statement leaves it as it was. Partitions are not schema: no new version.
    pub(crate) fn update_table<T>(
        &self,
        db: &str,
        table: &str,
        f: impl FnOnce(&mut TableDef) -> Result<T>,
    ) -> Result<T> {
        self.with_lock(|| {
            let mut def = self.load_table(db, table)?;
            let out = f(&mut def)?;
            super::projection::check_template(&def, self)?;
            self.write(&def)?;
            Ok(out)
        })
    }

    /// Drop a table. Returns false when it did not exist and `if_exists` allowed that.
    pub(crate) fn drop_table(&self, db: &str, table: &str, if_exists: bool) -> Result<bool> {
        validate_name("database", db)?;
        validate_name("table", table)?;
        self.with_lock(|| {
            let path = self.table_path(db, table);
            match fs::remove_file(&path) {
                Ok(()) => {
                    sync_dir(&self.db_dir(db));
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if if_exists {
                        Ok(false)
                    } else {
                        Err(Error::TableNotFound {
                            database: db.into(),
                            table: table.into(),
                            suggestion: None,
                        })
                    }
                }
                Err(e) => Err(Error::RegistryWrite { path, source: e }),
            }
        })
    }

    fn check_names(&self, def: &TableDef) -> Result<()> {
        validate_name("database", &def.database)?;
        validate_name("table", &def.name)?;
        if !self.database_exists(&def.database) {
            return Err(Error::DatabaseNotFound(def.database.clone()));
        }
        Ok(())
    }

    /// Serialise and write one table atomically (invariant 1). Call under the lock.
    fn write(&self, def: &TableDef) -> Result<()> {
        write_json_atomic(&self.table_path(&def.database, &def.name), def)?;
        sync_dir(&self.db_dir(&def.database));
        Ok(())
    }

    /// Run `f` holding the registry's exclusive lock (invariant 2).
    fn with_lock<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        f()
    }

    /// Take the registry's exclusive lock (invariant 2), waiting for it. It is held until the value is
    /// dropped; a process that dies holding it releases it (an advisory lock on `<root>/.lock`).
    pub(crate) fn lock(&self) -> Result<RegistryLock> {
        fs::create_dir_all(&self.root).map_err(|e| Error::RegistryWrite {
            path: self.root.clone(),
            source: e,
        })?;
        let lock_path = self.root.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| Error::RegistryWrite {
                path: lock_path.clone(),
                source: e,
            })?;
        file.lock().map_err(|e| Error::RegistryWrite {
            path: lock_path,
            source: e,
        })?;
        Ok(RegistryLock { _file: file })
    }

    /// [`Registry::lock`] from async code: the wait happens on a blocking thread.
    pub(crate) async fn lock_async(&self) -> Result<RegistryLock> {
        let registry = self.clone();
        tokio::task::spawn_blocking(move || registry.lock())
            .await
            .map_err(|e| Error::internal("waiting for the registry lock", e))?
    }
}

/// The registry's exclusive lock, held while this lives ([`Registry::lock`]).
#[derive(Debug)]
pub(crate) struct RegistryLock {
    _file: File,
}

/// The table `db.table` from the text of its registry file at `path`; a broken one names the file and what is
/// wrong (also a file that names another table than its path does).
pub(crate) fn parse_table(text: &str, db: &str, table: &str, path: &Path) -> Result<TableDef> {
    let def: TableDef = serde_json::from_str(text).map_err(|e| Error::CorruptRegistryFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if def.name != table || def.database != db {
        return Err(Error::CorruptRegistryFile {
            path: path.to_path_buf(),
            reason: format!(
                "it names table `{}.{}`, but its path says `{db}.{table}`",
                def.database, def.name
            ),
        });
    }
    Ok(def)
}

/// Write `value` as pretty JSON to `path` atomically ([`write_file_atomic`]).
pub(crate) fn write_json_atomic<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::internal(format!("serialising `{}`", path.display()), e))?;
    text.push('\n');
    write_file_atomic(path, text.as_bytes()).map_err(|e| Error::RegistryWrite {
        path: path.to_path_buf(),
        source: e,
    })
}

/// Write `bytes` to `path` atomically: a temporary file beside it (hidden, named for this one write, so that
/// threads writing the same file at once never share one), synced, renamed over it, the folder synced; the folder is created
/// when missing. A reader sees the old file or the new one, never half of one; on failure the temporary file
/// is removed.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // The rename itself survives a power cut only once the folder is synced (best effort: not every
        // file system lets a folder be opened for it).
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Read the JSON file at `path` (`what` it holds, for the error); None when there is no such file.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<Option<T>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Query(format!(
                "the {what} file `{}` is not valid JSON for it: {e}; fix or delete it",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io {
            context: format!("cannot read `{}`", path.display()),
            source,
        }),
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::*;

    /// Threads of one process (a server's requests) writing one file at once: each write is whole, and no
    /// temporary file is left.
    #[test]
    fn concurrent_atomic_writes_of_one_file_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let writers: Vec<_> = (0..8u8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        write_file_atomic(&path, &vec![b'a' + i; 64 * 1024]).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let text = std::fs::read(&path).unwrap();
        assert_eq!(text.len(), 64 * 1024);
        assert!(
            text.iter().all(|b| *b == text[0]),
            "a write was mixed with another"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn table(name: &str) -> TableDef {
        TableDef {
            name: name.into(),
            database: "default".into(),
            location: "../data/".into(),
            format: FormatSpec::parquet(),
            columns: vec![Column::new("a", "bigint")],
            partition_keys: vec![],
            partitions: vec![],
            excluded_files: vec![],
            stats: TableStats::default(),
            properties: Default::default(),
            version_id: String::new(),
            versions: vec![],
        }
    }

    #[test]
    fn versions_follow_schema_changes_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path());
        assert_eq!(r.put_table(table("t")).unwrap(), PutOutcome::Created);
        let bytes = fs::read(r.table_path("default", "t")).unwrap();
        assert_eq!(r.put_table(table("t")).unwrap(), PutOutcome::Unchanged);
        assert_eq!(fs::read(r.table_path("default", "t")).unwrap(), bytes);

        let mut t = table("t");
        t.stats.record_count = Some(5);
        assert_eq!(
            r.put_table(t.clone()).unwrap(),
            PutOutcome::Updated { new_version: false }
        );
        t.columns.push(Column::new("b", "string"));
        assert_eq!(
            r.put_table(t).unwrap(),
            PutOutcome::Updated { new_version: true }
        );
        let loaded = r.load_table("default", "t").unwrap();
        assert_eq!(loaded.version_id, "1");
        assert_eq!(loaded.versions.len(), 2);
        assert_eq!(loaded.versions[0].columns.len(), 1);
    }

    #[test]
    fn names_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path());
        for bad in ["../x", "A", "a-b", "", "a/b"] {
            assert!(r.create_table(table(bad), false).is_err(), "{bad}");
        }
        assert!(matches!(
            r.load_table("default", "../etc"),
            Err(Error::InvalidName { .. })
        ));
    }

    #[test]
    fn corrupt_file_names_itself_and_spares_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path());
        r.create_table(table("good"), false).unwrap();
        fs::write(r.table_path("default", "bad"), "{ not json").unwrap();
        let e = r.load_table("default", "bad").unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        assert!(r.load_table("default", "good").is_ok());
        assert_eq!(r.table_names("default").unwrap(), vec!["bad", "good"]);
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let r = Registry::open(dir.path());
                std::thread::spawn(move || {
                    for j in 0..5 {
                        r.create_table(table(&format!("t{i}_{j}")), false).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            Registry::open(dir.path())
                .table_names("default")
                .unwrap()
                .len(),
            40
        );
    }
}
