//! The registry as DataFusion sees it: a catalog whose schemas are databases and whose tables scan exactly the
//! files the registry points at.
//!
//! The invariant: a scan reads only files of partitions that survive the query's partition filters, evaluated against
//! the registry's partition values. It lists the surviving partitions' prefixes, or the table's folder once when that
//! takes fewer LIST requests (S3) or walks fewer folders (local disk); pruned partitions are never read. Listings are
//! never cached here, so a file that appeared since the last query is always seen. A file of a Parquet partition
//! carries its partition's bounds from the registry only while the listing shows the files the crawl read there (count,
//! bytes, newest modification time): bounds let DataFusion skip a file unopened, so stale ones would lose rows.

use super::colstats;
use super::location::{is_hidden, join_partition, resolve_dir, segments_below};
use super::model::{Classification, Compression, HIVE_NULL_PARTITION, TableDef};
use super::store::Registry;
use super::types::to_arrow;
use crate::error::Error;
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::config::CsvOptions as DfCsvOptions;
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::avro::AvroFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use url::Url;

/// The catalog: one schema per registry database.
#[derive(Debug)]
pub struct RegistryCatalog {
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
pub struct RegistrySchema {
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
struct ResolvedPartition {
    prefix: ObjectPath,
    values: Vec<ScalarValue>,
    /// Its place in the table's partitions (for its statistics); None for an unpartitioned table's folder.
    index: Option<usize>,
}

/// A registry table, ready to scan.
#[derive(Debug)]
pub struct RegistryTable {
    def: TableDef,
    store_url: ObjectStoreUrl,
    table_prefix: ObjectPath,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    schema: SchemaRef,
    partitions: Vec<ResolvedPartition>,
    /// Object paths queries must not read (`excluded_files`, resolved).
    excluded: Arc<std::collections::HashSet<ObjectPath>>,
}

fn store_url_of(url: &Url) -> DfResult<ObjectStoreUrl> {
    ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.authority()))
}

fn object_prefix(url: &Url) -> DfResult<ObjectPath> {
    ObjectPath::from_url_path(url.path()).map_err(|e| DataFusionError::External(Box::new(e)))
}

impl RegistryTable {
    /// Resolve locations and types. `base` is the registry folder (relative locations hang from it).
    pub fn try_new(def: TableDef, base: PathBuf) -> Result<Self, Error> {
        let to_df = |e: DataFusionError| Error::Query(e.to_string());
        let table_url = resolve_dir(&def.location, &base)?;
        let store_url = store_url_of(&table_url).map_err(to_df)?;
        let table_prefix = object_prefix(&table_url).map_err(to_df)?;
        // Parquet strings are read as string views (DataFusion's own default for Parquet): no copy into one
        // buffer per batch, and faster comparisons and grouping. Other readers produce plain strings.
        let views = def.format.classification == Classification::Parquet;
        let file_fields = def
            .columns
            .iter()
            .map(|c| {
                let dt = match to_arrow(&c.ty, &c.name)? {
                    DataType::Utf8 if views => DataType::Utf8View,
                    DataType::Binary if views => DataType::BinaryView,
                    other => other,
                };
                Ok(Arc::new(Field::new(&c.name, dt, true)))
            })
            .collect::<Result<Vec<FieldRef>, Error>>()?;
        let partition_fields = def
            .partition_keys
            .iter()
            .map(|c| {
                Ok(Arc::new(Field::new(
                    &c.name,
                    to_arrow(&c.ty, &c.name)?,
                    true,
                )))
            })
            .collect::<Result<Vec<FieldRef>, Error>>()?;
        let mut partitions = Vec::with_capacity(def.partitions.len());
        for p in &def.partitions {
            if p.values.len() != partition_fields.len() {
                return Err(Error::InvalidLocation {
                    location: p.location.clone(),
                    reason: format!(
                        "partition has {} values but table `{}` has {} partition keys",
                        p.values.len(),
                        def.name,
                        partition_fields.len()
                    ),
                });
            }
            let url = join_partition(&table_url, &p.location, &base)?;
            // The same store: compared part by part (no URL built and parsed per partition).
            if url.scheme() != table_url.scheme() || url.authority() != table_url.authority() {
                return Err(Error::InvalidLocation {
                    location: p.location.clone(),
                    reason: format!("partitions must live in the table's store `{store_url}`"),
                });
            }
            let values = p
                .values
                .iter()
                .zip(&partition_fields)
                .map(|(v, f)| partition_value(&def.name, f, v))
                .collect::<Result<Vec<_>, Error>>()?;
            partitions.push(ResolvedPartition {
                prefix: object_prefix(&url).map_err(to_df)?,
                values,
                index: Some(partitions.len()),
            });
        }
        let mut all = file_fields.clone();
        all.extend(partition_fields.iter().cloned());
        let excluded = def
            .excluded_files
            .iter()
            .map(|rel| ObjectPath::from(format!("{table_prefix}/{rel}")))
            .collect();
        Ok(RegistryTable {
            excluded: Arc::new(excluded),
            file_schema: Arc::new(Schema::new(file_fields)),
            schema: Arc::new(Schema::new(all)),
            def,
            store_url,
            table_prefix,
            partition_fields,
            partitions,
        })
    }

    pub fn def(&self) -> &TableDef {
        &self.def
    }

    /// The DataFusion format for this table, starting from the session's defaults (so session settings such as
    /// the Parquet footer hint apply) and overriding what the registry says.
    pub fn file_format(&self, state: &dyn Session) -> DfResult<Arc<dyn FileFormat>> {
        let opts = state.default_table_options();
        let compression = compression_variant(self.def.format.compression);
        Ok(match self.def.format.classification {
            Classification::Csv => {
                let csv = self.def.format.csv.clone().unwrap_or_default();
                let one_byte = |what: &str, s: &str| -> DfResult<u8> {
                    match s.as_bytes() {
                        [b] => Ok(*b),
                        _ => Err(DataFusionError::Plan(format!(
                            "table `{}`: csv {what} `{s}` must be exactly one byte",
                            self.def.name
                        ))),
                    }
                };
                let o = DfCsvOptions {
                    has_header: Some(csv.has_header),
                    delimiter: one_byte("delimiter", &csv.delimiter)?,
                    quote: one_byte("quote", &csv.quote)?,
                    escape: csv
                        .escape
                        .as_deref()
                        .map(|e| one_byte("escape", e))
                        .transpose()?,
                    newlines_in_values: Some(csv.newlines_in_values),
                    compression,
                    ..opts.csv
                };
                Arc::new(CsvFormat::default().with_options(o))
            }
            Classification::Json => {
                let mut o = opts.json;
                o.compression = compression;
                o.newline_delimited = !self.def.format.json_array;
                Arc::new(JsonFormat::default().with_options(o))
            }
            Classification::Parquet => {
                Arc::new(ParquetFormat::default().with_options(opts.parquet))
            }
            Classification::Orc => Arc::new(crate::formats::orc::OrcFormat),
            Classification::Avro => Arc::new(AvroFormat),
        })
    }

    /// The text format owl's own decoder reads this table as (`formats::lines`), where it can and the session
    /// lets it: NDJSON; CSV without an escape character, comments, another record terminator, truncated rows
    /// or line breaks inside values (a range split of such a file needs DataFusion's reader, which does not
    /// split it).
    fn text_format(&self, state: &dyn Session) -> Option<crate::formats::text_source::TextFormat> {
        use crate::formats::lines::CsvDialect;
        use crate::formats::text_source::TextFormat;
        let options = crate::config::options::of_config(state.config_options());
        match self.def.format.classification {
            // Always owl's reader (arrow-json with numbers and booleans read into string columns as their
            // text, as Athena's JSON SerDe does; DataFusion's reader fails on them), the fast decoder in front
            // of it unless turned off.
            Classification::Json if !self.def.format.json_array => Some(TextFormat::Ndjson {
                fast: options.ndjson_fast_path,
            }),
            Classification::Csv if options.csv_fast_path => {
                let csv = self.def.format.csv.clone().unwrap_or_default();
                let session = &state.default_table_options().csv;
                let (&[delimiter], &[quote]) = (csv.delimiter.as_bytes(), csv.quote.as_bytes())
                else {
                    return None;
                };
                let plain = csv.escape.is_none()
                    && !csv.newlines_in_values
                    && session.terminator.is_none()
                    && session.comment.is_none()
                    && session.truncated_rows != Some(true);
                plain.then_some(TextFormat::Csv(CsvDialect {
                    delimiter,
                    quote,
                    has_header: csv.has_header,
                }))
            }
            _ => None,
        }
    }

    /// Indices of the partitions that survive `filters` (only the filters on partition keys are used).
    fn surviving_partitions(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<usize>> {
        let names: Vec<&str> = self
            .partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let applicable: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .map(|f| unqualify(f.clone()))
            .collect::<DfResult<_>>()?;
        let all = (0..self.partitions.len()).collect();
        let Some(predicate) = conjunction(applicable) else {
            return Ok(all);
        };
        if self.partitions.is_empty() {
            return Ok(all);
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns = (0..self.partition_fields.len())
            .map(|i| {
                ScalarValue::iter_to_array(self.partitions.iter().map(|p| p.values[i].clone()))
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let physical = state.create_physical_expr(predicate, &df_schema)?;
        let mask = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| DataFusionError::Internal("partition filter is not boolean".into()))?;
        Ok((0..mask.len())
            .filter(|&i| mask.is_valid(i) && mask.value(i))
            .collect())
    }

    /// Whether to list the table's folder once rather than each surviving partition's: a query over several
    /// partitions of a table whose partitions all lie in its folder, and
    /// - in S3 (any remote store), when that takes fewer LIST requests (1,000 keys each). The registry's object
    ///   count says how many keys that listing walks (owl lists on every query, so a file added since the crawl
    ///   is still found either way);
    /// - on local disk, where a listing costs no request but a walk of every folder below it, when most
    ///   partitions survive: one walk of the table's folder then visits less than twice the folders needed.
    fn list_once(&self, targets: &[ResolvedPartition]) -> bool {
        let inside = targets.len() >= 2
            && targets.iter().all(|p| {
                p.prefix.prefix_matches(&self.table_prefix) && p.prefix != self.table_prefix
            });
        if !inside {
            return false;
        }
        if self.store_url.as_str().starts_with("file:") {
            return targets.len() * 2 > self.partitions.len();
        }
        let objects = self
            .def
            .stats
            .object_count
            .unwrap_or(self.partitions.len() as u64);
        objects.div_ceil(1000) < targets.len() as u64
    }

    /// One listing of the table's folder, each file given to the surviving partition whose folder holds it;
    /// the rest (pruned partitions, files outside any partition) dropped. The same files as one listing per
    /// partition.
    async fn list_table(
        &self,
        store: Arc<dyn ObjectStore>,
        targets: Vec<ResolvedPartition>,
    ) -> DfResult<Vec<Listed>> {
        let index: std::collections::HashMap<String, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, p)| (p.prefix.to_string(), i))
            .collect();
        let root_depth = self.table_prefix.parts().count();
        let mut out: Vec<Listed> = targets
            .into_iter()
            .map(|p| Listed {
                files: Vec::new(),
                partition: p,
            })
            .collect();
        let mut listing = store.list(Some(&self.table_prefix));
        while let Some(m) = listing.try_next().await? {
            let parts: Vec<_> = m.location.parts().collect();
            // The deepest folder above the file that is a surviving partition.
            let found = (root_depth + 1..parts.len()).rev().find_map(|depth| {
                let folder = ObjectPath::from_iter(parts[..depth].iter().cloned());
                index.get(folder.as_ref()).map(|&i| (i, depth))
            });
            if let Some((i, depth)) = found
                && m.size > 0
                && !self.excluded.contains(&m.location)
                && !is_hidden(&segments_below(&m.location, depth))
            {
                out[i].files.push(m);
            }
        }
        Ok(out)
    }

    /// List the files under one prefix: hidden names (`_x`, `.x`, anywhere below the prefix) and empty objects
    /// are skipped, as Athena does.
    async fn list_prefix(
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        excluded: Arc<std::collections::HashSet<ObjectPath>>,
    ) -> DfResult<Vec<ObjectMeta>> {
        let metas: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
        let depth = prefix.parts().count();
        Ok(metas
            .into_iter()
            .filter(|m| {
                m.size > 0
                    && !excluded.contains(&m.location)
                    && !is_hidden(&segments_below(&m.location, depth))
            })
            .collect())
    }
}

/// The files listed under one surviving partition (or an unpartitioned table's folder).
struct Listed {
    files: Vec<ObjectMeta>,
    partition: ResolvedPartition,
}

impl RegistryTable {
    /// The statistics each file of `listed` gets from the registry: those of its partition, when the listing
    /// shows the very files the crawl described: the same count, bytes and newest modification time
    /// (`TableStats::last_modified`). DataFusion then skips, before opening it, a file
    /// whose bounds no row can pass (a WHERE, a join's or a top-k's run-time filter). None when the files
    /// changed or nothing is known: every file is then opened, as without statistics.
    fn file_statistics(&self, listed: &Listed) -> Option<Arc<Statistics>> {
        let stats = self
            .def
            .partitions
            .get(listed.partition.index?)?
            .stats
            .as_ref()?
            .get()?;
        let metas = &listed.files;
        let newest = metas.iter().map(|m| m.last_modified).max()?;
        let named = !stats.columns.is_empty()
            && stats.object_count == Some(metas.len() as u64)
            && stats.size_bytes == Some(metas.iter().map(|m| m.size).sum::<u64>())
            && stats.last_modified.as_deref() == Some(colstats::stamp(newest).as_str());
        if !named {
            return None;
        }
        let one = metas.len() == 1;
        let mut out = Statistics::new_unknown(&self.file_schema);
        if one {
            out.num_rows = stats
                .record_count
                .map_or(Precision::Absent, |n| Precision::Exact(n as usize));
            out.total_byte_size = Precision::Exact(metas[0].size as usize);
        }
        for (field, col) in self
            .file_schema
            .fields()
            .iter()
            .zip(&mut out.column_statistics)
        {
            if let Some(s) = stats.columns.get(field.name()) {
                *col = colstats::file_bounds(s, field.data_type(), one);
            }
        }
        Some(Arc::new(out))
    }
}

/// The columns of a Parquet table whose page index skips no pages: those the registry's statistics say every row
/// group spans (not clustered), and the partition keys (one value per file). Each file of a scan carries them;
/// the engine reads no page index for a scan that filters on these columns only (`optimizer::physical::page_index`).
#[derive(Debug, Clone)]
pub struct UnclusteredColumns(pub Arc<BTreeSet<String>>);

/// The columns of a scan whose pages its page index cannot skip (the registry's, carried by every file of the
/// scan); None when a file does not say.
pub(crate) fn unclustered_columns(
    config: &datafusion::datasource::physical_plan::FileScanConfig,
) -> Option<Arc<BTreeSet<String>>> {
    let mut files = config.file_groups.iter().flat_map(|g| g.files());
    let first = Arc::clone(&files.next()?.extension::<UnclusteredColumns>()?.0);
    for file in files {
        if file.extension::<UnclusteredColumns>()?.0 != first {
            return None;
        }
    }
    Some(first)
}

impl RegistryTable {
    fn unclustered_columns(&self) -> Option<UnclusteredColumns> {
        if self.def.format.classification != Classification::Parquet {
            return None;
        }
        let columns: BTreeSet<String> = self
            .def
            .stats
            .columns
            .iter()
            .filter(|(_, s)| s.clustered == Some(false))
            .map(|(name, _)| name.clone())
            .chain(self.partition_fields.iter().map(|f| f.name().clone()))
            .collect();
        (!columns.is_empty()).then(|| UnclusteredColumns(Arc::new(columns)))
    }

    /// What the planner may assume about a scan of `files`, from the registry: their bytes, and the table's
    /// record count in proportion to them (the crawler's count is exact for what it saw; a scan of some
    /// partitions holds about their share). Always inexact: files may have changed since the crawl, and an
    /// exact count would let DataFusion answer `count(*)` without reading.
    ///
    /// Column statistics come from the registry (the whole table's bounds hold for any part of it; null counts are
    /// scaled like the row count); partition columns get the range and number of values of the files kept. A Parquet
    /// table's distinct counts (`ANALYZE`) are left out: they steer owl's join ordering
    /// (`optimizer::logical::join_order`), while DataFusion's own join sizing, which has the footers' bounds, planned
    /// TPC-H q17's semi join on the 200,000-group side with them (1.8x slower; BENCHMARKS.md, step 11). Text tables
    /// keep them: without, q18's semi join on CSV builds on 6M rows (step 10).
    fn statistics_of(&self, files: &[PartitionedFile]) -> Statistics {
        let bytes: u64 = files.iter().map(|f| f.object_meta.size).sum();
        let distinct = if self.def.format.classification == Classification::Parquet {
            Distinct::Drop
        } else {
            Distinct::Keep
        };
        self.statistics_with(bytes, files.iter().map(|f| &f.partition_values), distinct)
    }

    /// [`Self::statistics_of`] files of `bytes` in all, whose partitions have `partition_values`.
    fn statistics_with<'a>(
        &self,
        bytes: u64,
        partition_values: impl Iterator<Item = &'a Vec<ScalarValue>> + Clone,
        distinct: Distinct,
    ) -> Statistics {
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.total_byte_size = Precision::Inexact(bytes as usize);
        let share = match self.def.stats.size_bytes {
            Some(size) if size > 0 => (bytes as f64 / size as f64).min(1.0),
            _ => 1.0,
        };
        if let Some(rows) = self.def.stats.record_count
            && self.def.stats.size_bytes.is_some_and(|s| s > 0)
        {
            stats.num_rows = Precision::Inexact((rows as f64 * share).round() as usize);
        }
        for (field, col) in self
            .file_schema
            .fields()
            .iter()
            .zip(&mut stats.column_statistics)
        {
            if let Some(s) = self.def.stats.columns.get(field.name()) {
                *col = colstats::to_datafusion(s, field.data_type(), share);
                if distinct == Distinct::Drop {
                    col.distinct_count = Precision::Absent;
                }
            }
        }
        let n = self.file_schema.fields().len();
        for (i, col) in stats.column_statistics.iter_mut().skip(n).enumerate() {
            let mut values: Vec<&ScalarValue> = partition_values
                .clone()
                .filter_map(|v| v.get(i))
                .filter(|v| !v.is_null())
                .collect();
            values.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            values.dedup();
            if let (Some(lo), Some(hi)) = (values.first(), values.last()) {
                col.min_value = Precision::Inexact((*lo).clone());
                col.max_value = Precision::Inexact((*hi).clone());
                col.distinct_count = Precision::Inexact(values.len());
            }
        }
        stats
    }
}

/// Whether a table's statistics carry the registry's distinct counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Distinct {
    Keep,
    Drop,
}

/// Parse one partition value as its key's type; Hive's NULL marker becomes NULL.
fn partition_value(table: &str, field: &Field, value: &str) -> Result<ScalarValue, Error> {
    let bad = || Error::BadPartitionValue {
        table: table.into(),
        key: field.name().clone(),
        value: value.into(),
        ty: crate::catalog::types::to_hive(field.data_type()).unwrap_or_default(),
    };
    if value == HIVE_NULL_PARTITION {
        return ScalarValue::try_from(field.data_type()).map_err(|_| bad());
    }
    ScalarValue::try_from_string(value.to_string(), field.data_type()).map_err(|_| bad())
}

fn compression_variant(c: Compression) -> CompressionTypeVariant {
    match c {
        Compression::None => CompressionTypeVariant::UNCOMPRESSED,
        Compression::Gzip => CompressionTypeVariant::GZIP,
        Compression::Bzip2 => CompressionTypeVariant::BZIP2,
        Compression::Xz => CompressionTypeVariant::XZ,
        Compression::Zstd => CompressionTypeVariant::ZSTD,
    }
}

/// Filters arrive qualified by the table name; the partition batch has bare column names.
fn unqualify(e: Expr) -> DfResult<Expr> {
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

/// Spread files over `n` groups, largest first onto the lightest group, so parallel scans finish together.
fn balance(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    let n = n.clamp(1, files.len().max(1));
    files.sort_by(|a, b| {
        b.object_meta
            .size
            .cmp(&a.object_meta.size)
            .then_with(|| a.object_meta.location.cmp(&b.object_meta.location))
    });
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in files {
        // `groups` has n >= 1 entries, so a minimum exists.
        let g = groups
            .iter_mut()
            .min_by_key(|(size, _)| *size)
            .expect("n >= 1");
        g.0 += f.object_meta.size;
        g.1.push(f);
    }
    groups
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(_, mut v)| {
            v.sort_by(|a, b| a.object_meta.location.cmp(&b.object_meta.location));
            FileGroup::new(v)
        })
        .collect()
}

#[async_trait]
impl TableProvider for RegistryTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// The whole table's statistics (every partition), for planning before any listing: what join ordering
    /// estimates from (`optimizer::logical::join_order`).
    fn statistics(&self) -> Option<Statistics> {
        let bytes = self.def.stats.size_bytes.unwrap_or(0);
        Some(self.statistics_with(
            bytes,
            self.partitions.iter().map(|p| &p.values),
            Distinct::Keep,
        ))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let store = state.runtime_env().object_store(&self.store_url)?;
        let targets: Vec<ResolvedPartition> = if self.partition_fields.is_empty() {
            vec![ResolvedPartition {
                prefix: self.table_prefix.clone(),
                values: vec![],
                index: None,
            }]
        } else {
            self.surviving_partitions(state, filters)?
                .into_iter()
                .map(|i| self.partitions[i].clone())
                .collect()
        };
        let concurrency = state
            .config_options()
            .execution
            .meta_fetch_concurrency
            .get()
            .max(1);
        let listed: Vec<Listed> = if self.list_once(&targets) {
            self.list_table(store, targets).await?
        } else {
            futures::stream::iter(targets)
                .map(|p| {
                    let store = Arc::clone(&store);
                    let excluded = Arc::clone(&self.excluded);
                    async move {
                        let files = Self::list_prefix(store, p.prefix.clone(), excluded).await?;
                        Ok::<_, DataFusionError>(Listed {
                            files,
                            partition: p,
                        })
                    }
                })
                .buffered(concurrency)
                .try_collect()
                .await?
        };
        let unclustered_columns = self.unclustered_columns();
        // A Parquet partition's file without its partition's bounds still gets statistics, all unknown:
        // DataFusion prunes a file by its partition values under a run-time filter (a join's keys, a top-k's
        // threshold on a partition column) only where a file has statistics at all.
        let unknown = (self.def.format.classification == Classification::Parquet
            && !self.partition_fields.is_empty())
        .then(|| Arc::new(Statistics::new_unknown(&self.file_schema)));
        let files: Vec<PartitionedFile> = listed
            .into_iter()
            .flat_map(|l| {
                let unclustered_columns = unclustered_columns.clone();
                let bounds = self.file_statistics(&l).or_else(|| unknown.clone());
                let values = l.partition.values;
                l.files.into_iter().map(move |m| {
                    let mut file =
                        PartitionedFile::new_from_meta(m).with_partition_values(values.clone());
                    file.statistics = bounds.clone();
                    match &unclustered_columns {
                        Some(columns) => file.with_extension(columns.clone()),
                        None => file,
                    }
                })
            })
            .collect();
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        let statistics = self.statistics_of(&files);
        let format = self.file_format(state)?;
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let text = self.text_format(state);
        let source = match text {
            Some(text) => Arc::new(crate::formats::text_source::TextSource::new(
                table_schema,
                text,
            )),
            None => format.file_source(table_schema),
        };
        let groups = balance(files, state.config().target_partitions());
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_statistics(statistics)
            .build();
        if text.is_some() {
            // As JsonFormat does; CsvFormat's would insist on its own source.
            let compression = compression_variant(self.def.format.compression);
            let config = FileScanConfigBuilder::from(config)
                .with_file_compression_type(FileCompressionType::from(compression))
                .build();
            return Ok(DataSourceExec::from_data_source(config));
        }
        format.create_physical_plan(state, config).await
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Inexact: partition filters prune listings here and are checked again above the scan (cheap, and
        // always right); other filters reach the Parquet reader through DataFusion's physical pushdown.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
