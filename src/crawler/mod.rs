//! The crawler: walk a local path or `s3://` prefix through `ObjectStore`, classify each file, infer and merge
//! schemas, find partitions, group files into tables, and write them into the registry (as a Glue crawler).
//!
//! - `classify`: what a file is, from its first bytes.
//! - `infer`: schemas from samples and footers; the merge (widening) rules.
//!
//! The invariant: a file's content never panics the crawl and never aborts it. A file that cannot be read or
//! understood becomes a skipped entry (path + reason) in the [`CrawlReport`], and the crawl goes on.

pub(crate) mod classify;
pub mod infer;
pub(crate) mod logs;

use crate::catalog::colstats;
use crate::catalog::location::{for_registry, is_hidden, resolve_dir, segments_below};
use crate::catalog::model::*;
use crate::catalog::types::infer_partition_type;
use crate::catalog::{PutOutcome, Registry};
use crate::error::{Error, Result};
use crate::formats::footer::{read_footer, read_range};
use crate::storage::meter::{Meter, MeteredRegistry};
use classify::{Sniffed, TextSample};
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures::{StreamExt, TryStreamExt};
use infer::InferredColumn;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

/// What a recrawl does with a table whose schema changed (Glue's `UpdateBehavior`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnChange {
    /// Write the new schema as a new table version.
    #[default]
    Update,
    /// Leave the table as it is (no new schema, no new partitions) and report the change.
    Log,
}

/// What a recrawl does with tables and partitions whose files are gone (Glue's `DeleteBehavior`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnDelete {
    /// Vanished tables get the property `DEPRECATED_BY_CRAWLER`; vanished partitions are removed.
    #[default]
    Deprecate,
    /// Vanished tables are dropped; vanished partitions are removed.
    Delete,
    /// Nothing is removed or marked; the report says what vanished.
    Log,
}

/// How a crawl behaves (Glue's crawler settings, named as owl's flags).
#[derive(Debug, Clone)]
pub(crate) struct CrawlOptions {
    pub database: String,
    /// Globs relative to the include path: `*` within a folder, `**` across, `?`, `[..]`, `{a,b}`.
    pub excludes: Vec<String>,
    /// Tables sit at this folder depth (1 = the include path itself).
    pub table_level: Option<usize>,
    /// Union columns of same-format siblings regardless of similarity.
    pub combine_compatible: bool,
    /// Fail, writing nothing, if more tables than this would be made.
    pub max_tables: Option<usize>,
    /// Report what would change; write nothing.
    pub dry_run: bool,
    pub on_change: OnChange,
    pub on_delete: OnDelete,
    /// Text sample per file: at most this many bytes...
    pub sample_bytes: usize,
    /// ...and this many records.
    pub sample_records: usize,
    /// Files read at once.
    pub concurrency: usize,
    /// Read only files in folders the registry does not know yet (Glue's "crawl new sub-folders only"):
    /// files of registered partitions (or unpartitioned tables) keep the schema the registry has for them.
    pub new_folders_only: bool,
    /// Custom grok classifiers, tried in order before owl's own (Glue's `GrokClassifier`s).
    pub classifiers: Vec<logs::GrokClassifier>,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            database: crate::catalog::DEFAULT_DATABASE.into(),
            excludes: vec![],
            table_level: None,
            combine_compatible: false,
            max_tables: None,
            dry_run: false,
            on_change: OnChange::Update,
            on_delete: OnDelete::Deprecate,
            sample_bytes: 1 << 20,
            sample_records: 1000,
            new_folders_only: false,
            concurrency: 16,
            classifiers: vec![],
        }
    }
}

/// A file the crawl could not use, and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Skipped {
    pub path: String,
    pub reason: String,
    /// Path segments below the include path.
    #[serde(skip)]
    rel: Vec<String>,
}

/// What happened to one table.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TableChange {
    pub table: String,
    pub location: String,
    /// `created`, `updated`, `new_version`, `unchanged`; for tables whose files are gone: `deprecated`,
    /// `deleted`, `vanished` (logged only).
    pub change: &'static str,
    /// The files' schema differs from the registered one, which `--on-change log` kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub schema_change_logged: bool,
    pub format: String,
    pub columns: usize,
    pub partitions: usize,
    pub partitions_added: usize,
    pub partitions_removed: usize,
    pub files: u64,
}

/// The crawl's report: what changed, what was read, what was skipped.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct CrawlReport {
    pub dry_run: bool,
    pub tables: Vec<TableChange>,
    pub files_seen: u64,
    pub files_read: u64,
    pub bytes_read: u64,
    pub skipped: Vec<Skipped>,
    pub elapsed_ms: u64,
}

/// One file to inspect in step 2, with the registry's schema for it when its folder is known
/// (`--new-folders-only`).
struct Job {
    rel: Vec<String>,
    meta: ObjectMeta,
    known: Option<(FormatSpec, Vec<InferredColumn>)>,
}

impl Job {
    async fn run(
        self,
        store: Arc<dyn ObjectStore>,
        opts: &CrawlOptions,
    ) -> std::result::Result<FileInfo, Skipped> {
        match self.known {
            Some((format, columns)) => Ok(FileInfo {
                rel: self.rel,
                size: self.meta.size,
                modified: self.meta.last_modified,
                e_tag: self.meta.e_tag,
                format,
                columns,
                records: None,
                bounds: None,
                footer: None,
                known: true,
            }),
            None => inspect(store, self.rel, self.meta, opts).await,
        }
    }
}

/// Step 2: each file's format and schema; files that cannot be used go to the report.
async fn inspect_jobs(
    store: Arc<dyn ObjectStore>,
    url: &url::Url,
    jobs: Vec<Job>,
    opts: &CrawlOptions,
    report: &mut CrawlReport,
) -> Result<Vec<FileInfo>> {
    let results = if url.scheme() == "file" {
        inspect_local(store, jobs, opts).await?
    } else {
        futures::stream::iter(jobs)
            .map(|job| job.run(Arc::clone(&store), opts))
            .buffered(opts.concurrency.max(1))
            .collect()
            .await
    };
    let mut files = Vec::new();
    for r in results {
        match r {
            Ok(f) => files.push(f),
            Err(s) => report.skipped.push(s),
        }
    }
    Ok(files)
}

/// The table a folder is, as a crawl of it as one table (`--table-level 1`) would register it, nothing
/// written: how a query of a folder's path (`FROM 'folder/'`) and a `CREATE EXTERNAL TABLE` without columns
/// read its files. Files are classified by their content (a `.txt` of pipe-delimited lines is CSV), hidden
/// names (`_SUCCESS`, `.x.crc`) are skipped, columns widened between files are merged, `key=value` folders are
/// partition keys. A file the crawl would leave out (of another format than most, or of none it knows) fails
/// it, named: its rows would be missing from an answer that looks complete. `stores` reads the files (and
/// meters what they cost); `named` is the folder as the user wrote it, `stored` as the registry stores it.
pub(crate) async fn folder_table(
    stores: &dyn ObjectStoreRegistry,
    named: &str,
    stored: &str,
    name: &str,
    database: &str,
) -> Result<TableDef> {
    let cwd = std::env::current_dir().map_err(|e| Error::Io {
        context: "reading the working folder".into(),
        source: e,
    })?;
    let url = resolve_dir(named, &cwd)?;
    let store = stores.get_store(&url).map_err(Error::from)?;
    let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
        location: named.into(),
        reason: e.to_string(),
    })?;
    let stored = if stored.ends_with('/') {
        stored.to_string()
    } else {
        format!("{stored}/")
    };
    let opts = CrawlOptions {
        database: database.into(),
        table_level: Some(1),
        // Enough lines to type a column; every file is sampled, and what is read is billed.
        sample_bytes: 256 << 10,
        ..CrawlOptions::default()
    };
    let (metas, rejected) = list(&store, &prefix, named, &opts).await?;
    if metas.is_empty() {
        return Err(Error::PathNotFound(named.into()));
    }
    let jobs = metas
        .into_iter()
        .map(|(rel, meta)| Job {
            rel,
            meta,
            known: None,
        })
        .collect();
    let mut report = CrawlReport::default();
    let files = inspect_jobs(store, &url, jobs, &opts, &mut report).await?;
    let mut defs = tables(&files, &url, &stored, &rejected, &opts, &mut report);
    // A file left out would be rows missing from an answer that looks complete: say which, and why.
    if let Some(first) = report.skipped.first() {
        let more = match report.skipped.len() {
            1 => String::new(),
            n => format!(" (and {} more)", n - 1),
        };
        return Err(Error::PathUnreadable(format!(
            "`{named}`: `{}` cannot be read with the folder's other files{more}: {}; move it out of the folder, \
             or query the files by name",
            first.path, first.reason
        )));
    }
    let mut def = match defs.len() {
        1 => defs.remove(0).0,
        _ => return Err(Error::PathNotFound(named.into())),
    };
    def.name = name.into();
    Ok(def)
}

/// Step 2 for local files: a few plain threads, each inspecting files in turn through the same `ObjectStore`
/// calls. On a thread outside the runtime, object_store's local store reads inline; on the runtime it hands
/// every read to the blocking pool, and for thousands of small files those hand-offs (a pool thread per file in
/// flight, futex wake-ups both ways) cost more than the reads. Results keep the listing's order.
async fn inspect_local(
    store: Arc<dyn ObjectStore>,
    jobs: Vec<Job>,
    opts: &CrawlOptions,
) -> Result<Vec<std::result::Result<FileInfo, Skipped>>> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(1, opts.concurrency.max(1));
    let opts = opts.clone();
    tokio::task::spawn_blocking(move || {
        let n = jobs.len();
        let queue = std::sync::Mutex::new(jobs.into_iter().enumerate());
        let done: Option<Vec<(usize, std::result::Result<FileInfo, Skipped>)>> =
            std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads.min(n.max(1)))
                    .map(|_| {
                        scope.spawn(|| {
                            let mut out = Vec::new();
                            loop {
                                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                                let Some((i, job)) = next else { break };
                                let r =
                                    futures::executor::block_on(job.run(Arc::clone(&store), &opts));
                                out.push((i, r));
                            }
                            out
                        })
                    })
                    .collect();
                // A worker that panicked lost its files: the crawl fails rather than report fewer.
                let mut all = Vec::with_capacity(n);
                for w in workers {
                    all.extend(w.join().ok()?);
                }
                Some(all)
            });
        let mut done = done.ok_or_else(|| Error::Internal("a crawler thread panicked".into()))?;
        done.sort_by_key(|(i, _)| *i);
        Ok(done.into_iter().map(|(_, r)| r).collect())
    })
    .await
    .map_err(|e| Error::internal("crawler threads", e))?
}

/// What one file turned out to be.
#[derive(Debug, Clone)]
struct FileInfo {
    /// Path segments below the include path (the last is the file name).
    rel: Vec<String>,
    size: u64,
    /// As the listing gave it: with the count and bytes, what names the files a partition's statistics
    /// describe.
    modified: chrono::DateTime<chrono::Utc>,
    /// As the listing gave it, where the store is no local folder (`TableStats::files`).
    e_tag: Option<String>,
    format: FormatSpec,
    columns: Vec<InferredColumn>,
    records: Option<u64>,
    /// Column bounds, where the format's metadata holds them (Parquet footers).
    bounds: Option<colstats::FileBounds>,
    /// A Parquet file's footer length, with its 8-byte tail (`TableStats::footer_bytes`).
    footer: Option<u64>,
    /// Taken from the registry (`--new-folders-only`), not read.
    known: bool,
}

impl FileInfo {
    fn dirs(&self) -> &[String] {
        &self.rel[..self.rel.len() - 1]
    }
}

/// Files that may share a table must agree on this.
fn format_key(f: &FormatSpec) -> String {
    let csv = f
        .csv
        .as_ref()
        .map(|c| format!("{}{}", c.delimiter, c.has_header))
        .unwrap_or_default();
    format!(
        "{}/{}/{csv}{}/{:?}/{:?}/{:?}/{:?}/{}",
        f.classification.as_str(),
        f.compression.as_str(),
        if f.json_array { "array" } else { "" },
        f.json,
        f.label,
        f.regex,
        f.grok,
        f.header_lines
    )
}

pub(crate) struct Crawler {
    registry: Arc<Registry>,
    stores: Arc<dyn ObjectStoreRegistry>,
}

impl Crawler {
    pub fn new(registry: Arc<Registry>, stores: Arc<dyn ObjectStoreRegistry>) -> Self {
        Crawler { registry, stores }
    }

    /// Crawl one include path (a local folder or an `s3://` prefix): list it, classify and infer each file,
    /// group the files into tables, find their partitions and schemas, and write them (or, dry run, compare),
    /// applying the change and delete policies.
    pub(crate) async fn crawl(&self, include: &str, opts: &CrawlOptions) -> Result<CrawlReport> {
        let started = Instant::now();
        if !self.registry.database_exists(&opts.database) {
            return Err(Error::DatabaseNotFound(opts.database.clone()));
        }
        let cwd = std::env::current_dir().map_err(|e| Error::Io {
            context: "reading the working folder".into(),
            source: e,
        })?;
        let url = resolve_dir(include, &cwd)?;
        if url.scheme() == "file" && !std::path::Path::new(url.path()).is_dir() {
            return Err(Error::InvalidLocation {
                location: include.into(),
                reason: "no such folder".into(),
            });
        }
        let stored_root = for_registry(include, self.registry.root())?;
        let stored_root = if stored_root.ends_with('/') {
            stored_root
        } else {
            format!("{stored_root}/")
        };
        let meter = Arc::new(Meter::new());
        let stores = MeteredRegistry::new(Arc::clone(&self.stores), Arc::clone(&meter), true);
        let store = stores.get_store(&url).map_err(Error::from)?;
        let prefix = ObjectPath::from_url_path(url.path()).map_err(|e| Error::InvalidLocation {
            location: include.into(),
            reason: e.to_string(),
        })?;
        let mut report = CrawlReport {
            dry_run: opts.dry_run,
            ..CrawlReport::default()
        };
        let (metas, rejected) = list(&store, &prefix, include, opts).await?;
        report.files_seen = metas.len() as u64;
        let files = self
            .inspect_all(&store, &url, &stored_root, metas, opts, &mut report)
            .await?;
        let defs = tables(&files, &url, &stored_root, &rejected, opts, &mut report);
        if let Some(max) = opts.max_tables
            && defs.len() > max
        {
            return Err(Error::Unsupported(format!(
                "the crawl would make {} tables, more than --max-tables {max}; nothing was written",
                defs.len()
            )));
        }
        let found: BTreeSet<String> = defs.iter().map(|(d, _, _)| d.name.clone()).collect();
        for (def, files, incremental) in defs {
            let change = self.apply(def, files, incremental, opts)?;
            report.tables.push(change);
        }
        self.vanished(&found, &stored_root, opts, &mut report)?;
        let reading = meter.reading();
        report.files_read = reading.files_read;
        report.bytes_read = reading.bytes_scanned;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Step 2: classify and infer each file, a bounded number at a time (with --new-folders-only, files in folders the
    /// registry knows keep its schema and are not read); files that cannot be used go to the report.
    async fn inspect_all(
        &self,
        store: &Arc<dyn ObjectStore>,
        url: &url::Url,
        stored_root: &str,
        metas: Vec<(Vec<String>, ObjectMeta)>,
        opts: &CrawlOptions,
        report: &mut CrawlReport,
    ) -> Result<Vec<FileInfo>> {
        let store = Arc::clone(store);
        let known = if opts.new_folders_only {
            self.known_folders(&opts.database, stored_root)?
        } else {
            HashMap::new()
        };
        let jobs: Vec<Job> = metas
            .into_iter()
            .map(|(rel, meta)| {
                let dir = &rel[..rel.len() - 1];
                let known = known.get(dir).cloned().or_else(|| {
                    // A projected table's tree: its folder or any above the file's.
                    (0..=dir.len())
                        .rev()
                        .find_map(|n| known.get(&tree_key(dir[..n].to_vec())))
                        .cloned()
                });
                Job { rel, meta, known }
            })
            .collect();
        inspect_jobs(store, url, jobs, opts, report).await
    }

    /// Step 5: write one table (or, dry run, compare it with the registry's), applying the change and delete
    /// policies; what changed.
    fn apply(
        &self,
        mut def: TableDef,
        files: u64,
        incremental: Option<(Option<u64>, bool)>,
        opts: &CrawlOptions,
    ) -> Result<TableChange> {
        let old = match self.registry.load_table(&def.database, &def.name) {
            Ok(t) => Some(t),
            Err(Error::TableNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let mut schema_change_logged = false;
        if let Some(o) = &old {
            if opts.on_change == OnChange::Log
                && o.snapshot(String::new()) != def.snapshot(String::new())
            {
                // Glue's LOG: ignore the change, leave the table as it is. (Adding partitions whose files
                // no longer match the registered schema would make them unreadable.)
                schema_change_logged = true;
                def = o.clone();
            } else if opts.on_delete == OnDelete::Log {
                for p in &o.partitions {
                    if !def.partitions.iter().any(|q| q.location == p.location) {
                        def.partitions.push(p.clone());
                    }
                }
                def.partitions.sort_by(|a, b| a.location.cmp(&b.location));
            }
        }
        // --new-folders-only: a known partition's files were not read; its statistics stay the old ones, still
        // naming the files read then (a file added since changes that name, and queries then ignore them).
        if incremental.is_some()
            && let Some(o) = &old
        {
            for p in def.partitions.iter_mut().filter(|p| p.stats.is_none()) {
                p.stats = o
                    .partitions
                    .iter()
                    .find(|q| q.location == p.location)
                    .and_then(|q| q.stats.clone());
            }
        }
        let old_parts: BTreeSet<&str> = old
            .as_ref()
            .map(|o| o.partitions.iter().map(|p| p.location.as_str()).collect())
            .unwrap_or_default();
        let new_parts: BTreeSet<&str> =
            def.partitions.iter().map(|p| p.location.as_str()).collect();
        if let Some((added, any_read)) = incremental {
            // --new-folders-only: the old count plus the new files', when nothing was removed.
            let kept = old_parts.is_subset(&new_parts);
            def.stats.record_count = match (old.as_ref().and_then(|o| o.stats.record_count), added)
            {
                (Some(c), Some(a)) if kept => Some(c + a),
                _ => None,
            };
            // Likewise the column statistics: the old table's and the new files'.
            def.stats.columns = match &old {
                Some(o) if kept && !any_read => o.stats.columns.clone(),
                Some(o) if kept => colstats::merge_tables(o, &def, added),
                _ => BTreeMap::new(),
            };
            // And the footers' range: the old files' and the new ones'.
            let old_footers = old
                .as_ref()
                .filter(|_| kept)
                .and_then(|o| o.stats.footer_bytes);
            def.stats.footer_bytes = match (old_footers, def.stats.footer_bytes) {
                (Some(o), _) if !any_read => Some(o),
                (Some([a, b]), Some([c, d])) => Some([a.min(c), b.max(d)]),
                _ => None,
            };
        }
        let change = if opts.dry_run {
            match &old {
                None => "created",
                Some(o) if o.snapshot(String::new()) != def.snapshot(String::new()) => {
                    "new_version"
                }
                Some(o)
                    if o.partitions != def.partitions
                        || o.stats != def.stats
                        || o.properties != def.properties =>
                {
                    "updated"
                }
                Some(_) => "unchanged",
            }
        } else {
            match self.registry.put_table(def.clone())? {
                PutOutcome::Created => "created",
                PutOutcome::Updated { new_version: true } => "new_version",
                PutOutcome::Updated { new_version: false } => "updated",
                PutOutcome::Unchanged => "unchanged",
            }
        };
        let mut c = TableChange::of(&def, change, files);
        c.schema_change_logged = schema_change_logged;
        c.partitions_added = new_parts.difference(&old_parts).count();
        c.partitions_removed = old_parts.difference(&new_parts).count();
        Ok(c)
    }

    /// Tables this path made before whose files are all gone: logged, deleted or deprecated.
    fn vanished(
        &self,
        found: &BTreeSet<String>,
        stored_root: &str,
        opts: &CrawlOptions,
        report: &mut CrawlReport,
    ) -> Result<()> {
        for name in self.registry.table_names(&opts.database)? {
            if found.contains(&name) {
                continue;
            }
            let Ok(mut old) = self.registry.load_table(&opts.database, &name) else {
                continue; // a broken file is not this crawl's to judge
            };
            if !old.location.starts_with(stored_root) || old.properties.contains_key(DEPRECATED) {
                continue;
            }
            let change = match opts.on_delete {
                OnDelete::Log => "vanished",
                OnDelete::Delete => {
                    if !opts.dry_run {
                        self.registry.drop_table(&old.database, &old.name, true)?;
                    }
                    "deleted"
                }
                OnDelete::Deprecate => {
                    if !opts.dry_run {
                        old.properties.insert(DEPRECATED.into(), "true".into());
                        self.registry.put_table(old.clone())?;
                    }
                    "deprecated"
                }
            };
            report.tables.push(TableChange::of(&old, change, 0));
        }
        Ok(())
    }
}

/// Step 1: list, skipping hidden and excluded names: the files (sorted by path below the include path) and the ones
/// excluded by pattern (queries must not read them).
async fn list(
    store: &Arc<dyn ObjectStore>,
    prefix: &ObjectPath,
    include: &str,
    opts: &CrawlOptions,
) -> Result<(Vec<(Vec<String>, ObjectMeta)>, Vec<Vec<String>>)> {
    let excludes = build_excludes(&opts.excludes)?;
    let depth = prefix.parts().count();
    let mut metas: Vec<(Vec<String>, ObjectMeta)> = Vec::new();
    // Files queries must not read: excluded by pattern here, or found unusable below.
    let mut rejected: Vec<Vec<String>> = Vec::new();
    let listed: Vec<ObjectMeta> = store
        .list(Some(prefix))
        .try_collect()
        .await
        .map_err(|e| Error::from_store(e, &format!("listing `{include}`")))?;
    for m in listed {
        let rel = segments_below(&m.location, depth);
        if rel.is_empty() || is_hidden(&rel) {
            continue;
        }
        if excludes.is_match(rel.join("/")) {
            rejected.push(rel);
            continue;
        }
        metas.push((rel, m));
    }
    metas.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((metas, rejected))
}

/// A table the crawl found: its definition, its file count, and for --new-folders-only the rows its new files
/// add and whether any file was read.
type Found = (TableDef, u64, Option<(Option<u64>, bool)>);

/// Steps 3 and 4: group files into tables; their partitions and schemas.
fn tables(
    files: &[FileInfo],
    url: &url::Url,
    stored_root: &str,
    rejected: &[Vec<String>],
    opts: &CrawlOptions,
    report: &mut CrawlReport,
) -> Vec<Found> {
    let root_name = url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()).map(str::to_string))
        .or_else(|| url.host_str().map(str::to_string))
        .unwrap_or_else(|| "table".into());
    let mut groups = Vec::new();
    group(files, &[], 1, opts, &mut groups, &mut report.skipped);
    let mut used = BTreeSet::new();
    let mut defs = Vec::new();
    for (dir, members) in groups {
        // Logs in AWS's delivery layout: the table Athena's documentation makes, partitions projected.
        let layout = logs::aws_layout(
            members[0].format.label.as_deref(),
            stored_root,
            members.iter().map(|f| f.dirs()),
        )
        .filter(|l| l.dir.starts_with(&dir));
        let dir = layout.as_ref().map_or(dir, |l| l.dir.clone());
        let base = match &layout {
            Some(l) => l.name.clone(),
            None => infer::clean_name(dir.last().unwrap_or(&root_name)),
        };
        let mut name = base.clone();
        let mut k = 1;
        while !used.insert(name.clone()) {
            k += 1;
            name = format!("{base}_{k}");
        }
        let location = if dir.is_empty() {
            stored_root.to_string()
        } else {
            format!("{stored_root}{}/", dir.join("/"))
        };
        // ETags name files on object stores; a local one's changes with every copy of the folder.
        let etags = url.scheme() != "file";
        let (mut def, n) = table_def(&name, &opts.database, location, &dir, &members, etags);
        if let Some(l) = layout {
            def.partition_keys = l.keys.iter().map(|k| Column::new(k, "string")).collect();
            def.partitions.clear();
            def.properties.extend(l.properties);
        }
        let mut excluded: Vec<String> = rejected
            .iter()
            .chain(report.skipped.iter().map(|s| &s.rel))
            .filter(|r| r.len() > dir.len() && r.starts_with(&dir))
            .map(|r| r[dir.len()..].join("/"))
            .collect();
        excluded.sort();
        excluded.dedup();
        def.excluded_files = excluded;
        // Row counts of files taken from the registry are unknown: what the new files add.
        let added: Option<u64> = members.iter().filter(|f| !f.known).map(|f| f.records).sum();
        let any_known = members.iter().any(|f| f.known);
        let any_read = members.iter().any(|f| !f.known);
        defs.push((def, n, any_known.then_some((added, any_read))));
    }
    defs
}

impl Crawler {
    /// Folders (segments below the include path) the registry already has, with their table's format and
    /// columns: each partition of a partitioned table, or an unpartitioned table's own folder.
    #[allow(clippy::type_complexity)]
    fn known_folders(
        &self,
        database: &str,
        stored_root: &str,
    ) -> Result<HashMap<Vec<String>, (FormatSpec, Vec<InferredColumn>)>> {
        let mut known = HashMap::new();
        for name in self.registry.table_names(database)? {
            let Ok(t) = self.registry.load_table(database, &name) else {
                continue;
            };
            let Some(below) = t.location.strip_prefix(stored_root) else {
                continue;
            };
            if t.properties.contains_key(DEPRECATED) {
                continue;
            }
            let segments = |s: &str| -> Vec<String> {
                s.split('/')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let table_dir = segments(below);
            let columns: Vec<InferredColumn> = t
                .columns
                .iter()
                .map(|c| InferredColumn {
                    name: c.name.clone(),
                    ty: c.ty.clone(),
                })
                .collect();
            let value = (t.format.clone(), columns);
            if crate::catalog::projection::Projection::of(&t)
                .ok()
                .flatten()
                .is_some()
            {
                // Projected partitions are not registered: every folder below the table is one of them.
                known.insert(tree_key(table_dir), value);
                continue;
            }
            if t.partitions.is_empty() {
                known.insert(table_dir, value);
                continue;
            }
            for p in &t.partitions {
                if p.location.contains("://") || p.location.starts_with('/') {
                    continue;
                }
                let mut dir = table_dir.clone();
                dir.extend(segments(&p.location));
                known.insert(dir, value.clone());
            }
        }
        Ok(known)
    }
}

/// The key of a projected table's folder among the known folders: every folder below it is known. (A
/// segment no listed path has, so it never meets a real folder's key.)
fn tree_key(mut dir: Vec<String>) -> Vec<String> {
    dir.push("\0tree".into());
    dir
}

/// Glue's table parameter for tables whose files a crawl no longer finds.
pub(crate) const DEPRECATED: &str = "DEPRECATED_BY_CRAWLER";

impl TableChange {
    fn of(def: &TableDef, change: &'static str, files: u64) -> Self {
        let compression = match def.format.compression {
            Compression::None => String::new(),
            c => format!(" ({})", c.as_str()),
        };
        TableChange {
            table: format!("{}.{}", def.database, def.name),
            location: def.location.clone(),
            change,
            schema_change_logged: false,
            // A log's kind first: `alb: regex (gzip)`.
            format: match &def.format.label {
                Some(label) => format!(
                    "{label}: {}{compression}",
                    def.format.classification.as_str()
                ),
                None => format!("{}{compression}", def.format.classification.as_str()),
            },
            columns: def.columns.len(),
            partitions: def.partitions.len(),
            partitions_added: 0,
            partitions_removed: 0,
            files,
        }
    }
}

fn build_excludes(globs: &[String]) -> Result<globset::GlobSet> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::Unsupported(format!("bad --exclude pattern `{g}`: {e}")))?;
        b.add(glob);
    }
    b.build()
        .map_err(|e| Error::Unsupported(format!("bad --exclude patterns: {e}")))
}

/// Read what is needed of one file: a bounded head for text, the footer for Parquet.
async fn inspect(
    store: Arc<dyn ObjectStore>,
    rel: Vec<String>,
    meta: ObjectMeta,
    opts: &CrawlOptions,
) -> std::result::Result<FileInfo, Skipped> {
    let path = meta.location.to_string();
    let skip = |reason: String| Skipped {
        path: path.clone(),
        reason,
        rel: rel.clone(),
    };
    if meta.size == 0 {
        return Err(skip("empty file".into()));
    }
    let read_head = |len: u64| {
        let store = Arc::clone(&store);
        let location = meta.location.clone();
        async move { read_range(store.as_ref(), &location, 0..len).await }
    };
    // A file named like a columnar format gets a 16-byte magic probe first, so that a Parquet file costs its
    // footer, not a 1 MB sample. Content still decides: if the probe says text, the full sample follows.
    let name = meta
        .location
        .filename()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let columnar_name = [".parquet", ".parq", ".orc", ".avro"]
        .iter()
        .any(|e| name.ends_with(e));
    let sample_len = (opts.sample_bytes as u64).min(meta.size);
    // A columnar file no larger than the footer read is read whole at once: probe and footer in one request.
    let first_len = match columnar_name {
        true if meta.size <= crate::config::PARQUET_FOOTER_HINT as u64 => meta.size,
        true => sample_len.min(16),
        false => sample_len,
    };
    let cannot_read = |e: object_store::Error| skip(format!("cannot read: {e}"));
    let mut head = read_head(first_len).await.map_err(cannot_read)?;
    let mut sniffed = classify::sniff(&head, first_len == meta.size, opts.sample_bytes);
    if first_len < sample_len && matches!(sniffed, Ok(Sniffed::Text { .. }) | Err(_)) {
        head = read_head(sample_len).await.map_err(cannot_read)?;
        sniffed = classify::sniff(&head, sample_len == meta.size, opts.sample_bytes);
    }
    let sniffed = sniffed.map_err(skip)?;
    let mut bounds = None;
    let mut footer = None;
    let (format, columns, records) = match sniffed {
        Sniffed::Parquet => {
            let whole = (head.len() as u64 == meta.size).then(|| head.clone());
            let (columns, rows, b, len) =
                parquet_footer(&store, &meta, whole).await.map_err(skip)?;
            bounds = Some(b);
            footer = Some(len);
            (FormatSpec::parquet(), columns, Some(rows))
        }
        Sniffed::Orc => {
            let whole = (head.len() as u64 == meta.size).then(|| head.clone());
            let md = crate::formats::orc::read_metadata(Arc::clone(&store), &meta, whole)
                .await
                .map_err(skip)?;
            let schema = crate::formats::orc::arrow_schema(&md);
            let columns = columns_of(&schema).map_err(skip)?;
            (FormatSpec::orc(), columns, Some(md.number_of_rows()))
        }
        Sniffed::Avro => {
            let (columns, rows) = avro_header(&store, &meta, head, opts).await.map_err(skip)?;
            (FormatSpec::avro(), columns, rows)
        }
        Sniffed::Text {
            compression,
            text,
            truncated,
        } => text_table(&text, truncated, compression, opts).map_err(skip)?,
    };
    Ok(FileInfo {
        rel,
        size: meta.size,
        modified: meta.last_modified,
        e_tag: meta.e_tag,
        format,
        columns,
        records,
        bounds,
        footer,
        known: false,
    })
}

/// What a text sample is as a table: its format, its columns and, when the sample holds the whole file, its
/// record count. Log formats first (`logs::recognise`), then JSON and delimited text (`classify::text_format`).
pub(crate) fn text_table(
    text: &str,
    truncated: bool,
    compression: Compression,
    opts: &CrawlOptions,
) -> std::result::Result<(FormatSpec, Vec<InferredColumn>, Option<u64>), String> {
    if let Some(log) = logs::recognise(
        text,
        truncated,
        opts.sample_records,
        compression,
        &opts.classifiers,
    )? {
        return Ok((log.format, log.columns, log.records));
    }
    Ok(
        match classify::text_format(text, truncated, opts.sample_records)? {
            TextSample::Ndjson(records) => {
                let columns = json_columns(&records)?;
                let n = whole_count(truncated, records.len(), opts.sample_records);
                (FormatSpec::json(compression), columns, n)
            }
            TextSample::JsonArray(records) => {
                let columns = json_columns(&records)?;
                let format = FormatSpec {
                    json_array: true,
                    ..FormatSpec::json(compression)
                };
                let n = whole_count(truncated, records.len(), opts.sample_records);
                (format, columns, n)
            }
            TextSample::Csv {
                delimiter,
                rows,
                quoted_newlines,
            } => {
                let shape = infer::csv_shape(&rows, quoted_newlines).ok_or_else(|| {
                    "delimited text needs at least 2 columns and 2 rows".to_string()
                })?;
                let csv = CsvOptions {
                    delimiter: (delimiter as char).to_string(),
                    has_header: shape.has_header,
                    newlines_in_values: shape.quoted_newlines,
                    ..CsvOptions::default()
                };
                // Rows counted include the header line, if any.
                let n = whole_count(truncated, rows.len(), opts.sample_records)
                    .map(|n| n - u64::from(shape.has_header));
                (FormatSpec::csv(compression, csv), shape.columns, n)
            }
        },
    )
}

/// The columns of sampled JSON records; a sample whose records hold no key is no table (Glue makes none of
/// it, and a table needs a column): found by fuzzing the classifier, which registered `[{}]` as a table of
/// no columns.
fn json_columns(records: &[serde_json::Value]) -> std::result::Result<Vec<InferredColumn>, String> {
    let columns = infer::json_columns(records)?;
    if columns.is_empty() {
        return Err("no key in any sampled JSON record".into());
    }
    Ok(columns)
}

/// A text file's record count, when its sample holds the whole file: not cut short by the byte limit, and
/// fewer records than the record limit. Otherwise unknown: owl does not extrapolate a count from a sample
/// (Glue does, and calls it an estimate); a table's `record_count` is exact or absent.
fn whole_count(truncated: bool, parsed: usize, limit: usize) -> Option<u64> {
    (!truncated && parsed < limit).then_some(parsed as u64)
}

/// An Avro file's schema from its header, and its exact record count when the file is no larger than the
/// text sample (read whole, one request). A larger file costs its first 64 KiB (more only for a huge header).
async fn avro_header(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    head: bytes::Bytes,
    opts: &CrawlOptions,
) -> std::result::Result<(Vec<InferredColumn>, Option<u64>), String> {
    let cannot_read = |e: object_store::Error| format!("cannot read: {e}");
    let mut bytes = head;
    let mut want = if meta.size <= opts.sample_bytes as u64 {
        meta.size
    } else {
        (64 * 1024).min(meta.size)
    };
    loop {
        if (bytes.len() as u64) < want {
            bytes = read_range(store.as_ref(), &meta.location, 0..want)
                .await
                .map_err(cannot_read)?;
        }
        let whole = bytes.len() as u64 == meta.size;
        match crate::formats::avro::inspect(&bytes, whole) {
            Ok((schema, rows)) => return Ok((columns_of(&schema)?, rows)),
            Err(Some(reason)) => return Err(reason),
            Err(None) if want < opts.sample_bytes.max(1 << 20) as u64 => {
                want = (want * 4).min(meta.size);
            }
            Err(None) => return Err("Avro header larger than 1 MB".into()),
        }
    }
}

/// Registry columns for a file's Arrow schema (columnar formats carry their own types).
fn columns_of(
    schema: &arrow::datatypes::Schema,
) -> std::result::Result<Vec<InferredColumn>, String> {
    schema
        .fields()
        .iter()
        .map(|f| {
            Ok(InferredColumn {
                name: f.name().clone(),
                ty: crate::catalog::types::to_hive(f.data_type()).map_err(|_| {
                    format!(
                        "column `{}` has a type owl cannot register: {}",
                        f.name(),
                        f.data_type()
                    )
                })?,
            })
        })
        .collect()
}

/// A Parquet file's schema, row count and column bounds from its footer alone (see `catalog::footer`), never
/// the data.
async fn parquet_footer(
    store: &Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    whole: Option<bytes::Bytes>,
) -> std::result::Result<(Vec<InferredColumn>, u64, colstats::FileBounds, u64), String> {
    let (md, footer) = read_footer(store.as_ref(), &meta.location, meta.size, whole).await?;
    let corrupt = |e: &dyn std::fmt::Display| format!("corrupt Parquet footer: {e}");

    let fm = md.file_metadata();
    let schema =
        parquet::arrow::parquet_to_arrow_schema(fm.schema_descr(), fm.key_value_metadata())
            .map_err(|e| corrupt(&e))?;
    let bounds = colstats::from_parquet(&md, &schema);
    Ok((
        columns_of(&schema)?,
        fm.num_rows().max(0) as u64,
        bounds,
        footer,
    ))
}

/// Whether `files` can be one table: one format (and compression and layout), and schemas similar enough
/// (Glue: every schema > 70% similar to the merged one, at most 5 distinct) unless `combine_compatible`.
fn compatible(files: &[&FileInfo], combine: bool) -> bool {
    let Some(first) = files.first() else {
        return false;
    };
    let key = format_key(&first.format);
    if files.iter().any(|f| format_key(&f.format) != key) {
        return false;
    }
    if combine {
        return true;
    }
    let distinct: BTreeSet<Vec<(String, String)>> = files
        .iter()
        .map(|f| {
            f.columns
                .iter()
                .map(|c| (c.name.clone(), c.ty.clone()))
                .collect()
        })
        .collect();
    if distinct.len() > 5 {
        return false;
    }
    let schemas: Vec<Vec<InferredColumn>> = files.iter().map(|f| f.columns.clone()).collect();
    let merged = infer::merge(&schemas);
    schemas.iter().all(|s| infer::similarity(s, &merged) > 0.7)
}

/// Find the tables under `dir` (segments below the include path). A folder whose files are compatible is one
/// table; otherwise its subfolders are tried one by one, and files lying directly in it form their own table.
fn group(
    files: &[FileInfo],
    dir: &[String],
    level: usize,
    opts: &CrawlOptions,
    out: &mut Vec<(Vec<String>, Vec<FileInfo>)>,
    skipped: &mut Vec<Skipped>,
) {
    let here: Vec<&FileInfo> = files.iter().filter(|f| f.dirs().starts_with(dir)).collect();
    if here.is_empty() {
        return;
    }
    let at_level = opts.table_level.is_some_and(|l| l == level);
    let above_level = opts.table_level.is_some_and(|l| level < l);
    if !above_level && (at_level || compatible(&here, opts.combine_compatible)) {
        // One table here. Files in another format than the majority cannot join it.
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for f in &here {
            *counts.entry(format_key(&f.format)).or_default() += 1;
        }
        let majority = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        let mut members = Vec::new();
        for f in here {
            if format_key(&f.format) == majority {
                members.push(f.clone());
            } else {
                skipped.push(Skipped {
                    path: f.rel.join("/"),
                    reason: format!(
                        "its format differs from the rest of table folder `{}`",
                        dir.join("/")
                    ),
                    rel: f.rel.clone(),
                });
            }
        }
        out.push((dir.to_vec(), members));
        return;
    }
    let children: BTreeSet<&String> = here
        .iter()
        .filter(|f| f.dirs().len() > dir.len())
        .map(|f| &f.dirs()[dir.len()])
        .collect();
    let direct: Vec<FileInfo> = here
        .iter()
        .filter(|f| f.dirs().len() == dir.len())
        .map(|f| (*f).clone())
        .collect();
    if !direct.is_empty() {
        out.push((dir.to_vec(), direct));
    }
    for c in children {
        let mut sub = dir.to_vec();
        sub.push(c.clone());
        group(files, &sub, level + 1, opts, out, skipped);
    }
}

/// The statistics of one partition's files, when every one of them was read here and kept column bounds
/// (Parquet footers): their count, bytes, rows, bounds, newest modification time, and the digest that names
/// the files the bounds hold for (`TableStats::files`; with their ETags where `etags`). None otherwise: a file taken from the registry
/// unread (`--new-folders-only`) or without bounds leaves the set undescribed.
fn set_stats(
    columns: &[(String, arrow::datatypes::DataType)],
    files: &[&FileInfo],
    etags: bool,
) -> Option<TableStats> {
    if files.is_empty() || files.iter().any(|f| f.known || f.bounds.is_none()) {
        return None;
    }
    let read: Vec<_> = files
        .iter()
        .map(|f| (f.bounds.as_ref(), f.records))
        .collect();
    let mut bounds = colstats::merge_files(columns, &read);
    // What skips files is a range; a column with a null count only (strings) would add bytes to every
    // partition for little (the table's statistics keep its count).
    bounds.retain(|_, c| c.min.is_some() && c.max.is_some());
    for c in bounds.values_mut() {
        // The table's verdict is what decides page index reads.
        c.clustered = None;
    }
    if bounds.is_empty() {
        return None;
    }
    let newest = files.iter().map(|f| f.modified).max()?;
    let metas: Vec<ObjectMeta> = files
        .iter()
        .map(|f| ObjectMeta {
            location: ObjectPath::from(f.rel.last().map_or("", String::as_str)),
            last_modified: f.modified,
            size: f.size,
            e_tag: f.e_tag.clone(),
            version: None,
        })
        .collect();
    Some(TableStats {
        object_count: Some(files.len() as u64),
        size_bytes: Some(files.iter().map(|f| f.size).sum()),
        record_count: files.iter().map(|f| f.records).sum::<Option<u64>>(),
        columns: bounds,
        last_modified: Some(colstats::stamp(newest)),
        files: Some(colstats::files_digest(&metas, etags)),
        footer_bytes: crate::catalog::model::footer_range(files.iter().map(|f| f.footer)),
    })
}

/// Build a table from its files: merged schema, partitions from the folders below the table folder.
fn table_def(
    name: &str,
    database: &str,
    location: String,
    dir: &[String],
    files: &[FileInfo],
    etags: bool,
) -> (TableDef, u64) {
    let first = &files[0];
    let schemas: Vec<Vec<InferredColumn>> = files.iter().map(|f| f.columns.clone()).collect();
    // Partition levels: the folders every file has below the table folder.
    let levels = files
        .iter()
        .map(|f| f.dirs().len() - dir.len())
        .min()
        .unwrap_or(0);
    let mut keys: Vec<String> = Vec::new();
    for i in 0..levels {
        let segs: BTreeSet<&str> = files
            .iter()
            .map(|f| f.dirs()[dir.len() + i].as_str())
            .collect();
        let key = segs
            .iter()
            .next()
            .and_then(|s| crate::formats::hive_pair(s))
            .map(|(k, _)| k.to_string());
        let hive = key.as_ref().is_some_and(|k| {
            segs.iter()
                .all(|s| crate::formats::hive_pair(s).is_some_and(|(k2, _)| k2 == k))
        });
        keys.push(match (hive, key) {
            (true, Some(k)) => infer::clean_name(&crate::formats::hive_unescape(&k)),
            _ => format!("partition_{i}"),
        });
    }
    let columns = infer::merge(&schemas);
    let columns: Vec<Column> = columns
        .into_iter()
        .map(|c| Column::new(c.name, c.ty))
        .collect();
    let typed = colstats::typed(&columns);
    let mut parts: BTreeMap<String, (Vec<String>, Vec<&FileInfo>)> = BTreeMap::new();
    for f in files {
        let segs = &f.dirs()[dir.len()..dir.len() + levels];
        let values = segs
            .iter()
            .map(|s| {
                // A Hive folder's value as Hive, Spark and MSCK REPAIR read it (`%XX` unescaped); other
                // folders' names as they are.
                crate::formats::hive_pair(s)
                    .map_or(s.to_string(), |(_, v)| crate::formats::hive_unescape(v))
            })
            .collect();
        parts
            .entry(format!("{}/", segs.join("/")))
            .or_insert_with(|| (values, Vec::new()))
            .1
            .push(f);
    }
    let partitions: Vec<Partition> = if levels == 0 {
        vec![]
    } else {
        parts
            .into_iter()
            .map(|(location, (values, members))| Partition {
                values,
                location,
                stats: set_stats(&typed, &members, etags).and_then(|s| PartitionStats::new(&s)),
            })
            .collect()
    };
    let partition_keys = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            Column::new(
                k,
                infer_partition_type(partitions.iter().map(|p| p.values[i].as_str())),
            )
        })
        .collect();
    let size: u64 = files.iter().map(|f| f.size).sum();
    let records = files.iter().map(|f| f.records).sum::<Option<u64>>();
    // Statistics of the files read (with --new-folders-only, the new ones; the caller adds the old).
    let read: Vec<_> = files
        .iter()
        .filter(|f| !f.known)
        .map(|f| (f.bounds.as_ref(), f.records))
        .collect();
    let column_stats = colstats::merge_files(&typed, &read);
    let format = first.format.clone();
    let properties = format.glue_properties();
    let def = TableDef {
        name: name.into(),
        database: database.into(),
        location,
        format,
        columns,
        partition_keys,
        partitions,
        excluded_files: vec![],
        stats: TableStats {
            object_count: Some(files.len() as u64),
            size_bytes: Some(size),
            record_count: records,
            columns: column_stats,
            last_modified: None,
            files: None,
            // The footers read (with --new-folders-only, the new files'; the caller adds the old).
            footer_bytes: crate::catalog::model::footer_range(
                files.iter().filter(|f| !f.known).map(|f| f.footer),
            ),
        },
        properties,
        version_id: String::new(),
        versions: vec![],
    };
    (def, files.len() as u64)
}
