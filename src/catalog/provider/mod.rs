//! The registry as DataFusion sees it: a catalog whose schemas are databases and whose tables scan exactly the
//! files the registry points at.
//!
//! - `mod.rs`: the catalog ([`RegistryCatalog`]: one schema per database), the schemas ([`RegistrySchema`]) and
//!   the types the other files share ([`RegistryTable`]).
//! - `table`: a registry table as a `TableProvider`: file format, partition columns, the scan.
//! - `listing`: which partitions a scan reads, and their files.
//! - `statistics`: what the planner may assume from the registry (row counts, bounds, unclustered columns).
//!
//! The invariant: a scan reads only files of partitions that survive the query's partition filters, evaluated against
//! the registry's partition values. It lists the surviving partitions' prefixes, or the table's folder once when that
//! takes fewer LIST requests (S3) or walks fewer folders (local disk); pruned partitions are never read. Listings are
//! never cached here, so a file that appeared since the last query is always seen. A file of a Parquet partition
//! carries its partition's bounds from the registry only while the listing shows the files the crawl read there (count,
//! bytes, newest modification time): bounds let DataFusion skip a file unopened, so stale ones would lose rows.

use crate::catalog::model::TableDef;
use crate::catalog::store::Registry;
use arrow::datatypes::{FieldRef, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, ScalarValue};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::Expr;
use object_store::ObjectMeta;
use object_store::path::Path as ObjectPath;
use std::sync::Arc;
use url::Url;

mod listing;
mod statistics;
mod table;

pub use statistics::UnclusteredColumns;
pub(crate) use statistics::unclustered_columns;

/// The catalog: one schema per registry database.
#[derive(Debug)]
pub(crate) struct RegistryCatalog {
    registry: Arc<Registry>,
}

impl RegistryCatalog {
    pub fn new(registry: Arc<Registry>) -> Self {
        RegistryCatalog { registry }
    }
}

impl CatalogProvider for RegistryCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.registry.databases().unwrap_or_default()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        self.registry.database_exists(name).then(|| {
            Arc::new(RegistrySchema {
                registry: Arc::clone(&self.registry),
                database: name.to_string(),
            }) as Arc<dyn SchemaProvider>
        })
    }
}

/// One registry database.
#[derive(Debug)]
pub(crate) struct RegistrySchema {
    registry: Arc<Registry>,
    database: String,
}

#[async_trait]
impl SchemaProvider for RegistrySchema {
    fn table_names(&self) -> Vec<String> {
        self.registry
            .table_names(&self.database)
            .unwrap_or_default()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if !self.registry.table_exists(&self.database, name) {
            return Ok(None);
        }
        let def = self.registry.load_table(&self.database, name)?;
        let table = RegistryTable::try_new(def, self.registry.root().to_path_buf())?;
        Ok(Some(Arc::new(table)))
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Err(DataFusionError::Plan(format!(
            "cannot create `{name}` in memory: owl tables live in the registry; use CREATE EXTERNAL TABLE ... LOCATION '...'"
        )))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.registry.table_exists(&self.database, name)
    }
}

/// One partition, resolved: where its files are and its typed values.
#[derive(Debug, Clone)]
pub(super) struct ResolvedPartition {
    pub(super) prefix: ObjectPath,
    pub(super) values: Vec<ScalarValue>,
    /// Its place in the table's partitions (for its statistics); None for an unpartitioned table's folder.
    pub(super) index: Option<usize>,
}

/// A registry table, ready to scan.
#[derive(Debug)]
pub struct RegistryTable {
    pub(super) def: TableDef,
    pub(super) store_url: ObjectStoreUrl,
    pub(super) table_prefix: ObjectPath,
    pub(super) file_schema: SchemaRef,
    pub(super) partition_fields: Vec<FieldRef>,
    pub(super) schema: SchemaRef,
    pub(super) partitions: Vec<ResolvedPartition>,
    /// Object paths queries must not read (`excluded_files`, resolved).
    pub(super) excluded: Arc<std::collections::HashSet<ObjectPath>>,
    /// Partition projection (`projection.enabled`): partitions computed from the query's filters, and
    /// `partitions` empty.
    pub(super) projection: Option<Arc<crate::catalog::projection::Projection>>,
    /// The table's folder.
    pub(super) table_url: Url,
    /// RegexSerDe's or Grok's pattern, compiled (`regex` and `grok` tables).
    pub(super) line_regex: Option<Arc<crate::formats::regex_lines::LinePattern>>,
}

pub(super) fn store_url_of(url: &Url) -> DfResult<ObjectStoreUrl> {
    ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.authority()))
}

pub(super) fn object_prefix(url: &Url) -> DfResult<ObjectPath> {
    ObjectPath::from_url_path(url.path()).map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Filters arrive qualified by the table name; the partition batch has bare column names.
pub(super) fn unqualify(e: Expr) -> DfResult<Expr> {
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) if c.relation.is_some() => {
                Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

/// The files listed under one surviving partition (or an unpartitioned table's folder).
pub(super) struct Listed {
    pub(super) files: Vec<ObjectMeta>,
    pub(super) partition: ResolvedPartition,
}

/// What a query's scans of partitioned tables chose, for its estimate: partitions listed after pruning, and how
/// many of those a projection computed. One per query (a session extension).
#[derive(Debug, Default)]
pub struct PartitionLog {
    listed: std::sync::atomic::AtomicU64,
    projected: std::sync::atomic::AtomicU64,
    /// Each scan's choice in words, for `EXPLAIN` (`alb_logs: 3 partitions projected (day: ...)`).
    scans: std::sync::Mutex<Vec<String>>,
}

impl PartitionLog {
    fn record(&self, listed: usize, projected: bool, scan: String) {
        use std::sync::atomic::Ordering::Relaxed;
        self.listed.fetch_add(listed as u64, Relaxed);
        if projected {
            self.projected.fetch_add(listed as u64, Relaxed);
        }
        self.scans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(scan);
    }

    /// Each partitioned scan's partitions in words, in planning order.
    pub fn scans(&self) -> Vec<String> {
        self.scans.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// (partitions listed, of which projected).
    pub fn read(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.listed.load(Relaxed), self.projected.load(Relaxed))
    }
}

/// Whether a table's statistics carry the registry's distinct counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Distinct {
    Keep,
    Drop,
}
