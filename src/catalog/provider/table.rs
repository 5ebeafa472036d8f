//! [`RegistryTable`]: one registry table as a DataFusion `TableProvider`: its file format (owl's CSV and NDJSON
//! fast paths where the session allows), its partition values as columns, and its scan (partitions pruned,
//! files listed and balanced over threads, each with the statistics the registry vouches for).

use super::{Distinct, Listed, RegistryTable, ResolvedPartition, object_prefix, store_url_of};
use crate::catalog::location::{join_partition, resolve_dir};
use crate::catalog::model::{Classification, Compression, HIVE_NULL_PARTITION, TableDef};
use crate::catalog::types::to_arrow;
use crate::error::Error;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::CsvOptions as DfCsvOptions;
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::avro::AvroFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use std::path::PathBuf;
use std::sync::Arc;

impl RegistryTable {
    /// The registry's definition the table was made from (what travels to a cluster's scheduler).
    pub fn def(&self) -> &TableDef {
        &self.def
    }

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
        // RegexSerDe and Grok: the pattern compiles, and every column is of a type it builds.
        let line_regex = match (
            &def.format.classification,
            &def.format.regex,
            &def.format.grok,
        ) {
            (Classification::Regex | Classification::Grok, _, _) => {
                let bad = |reason: String| Error::Query(format!("table `{}`: {reason}", def.name));
                if let Some(f) = file_fields
                    .iter()
                    .find(|f| !crate::formats::regex_lines::reads(f))
                {
                    return Err(bad(format!(
                        "RegexSerDe and Grok read strings, numbers, booleans, dates and timestamps, not column `{}` ({})",
                        f.name(),
                        f.data_type()
                    )));
                }
                let pattern = match (
                    &def.format.classification,
                    &def.format.regex,
                    &def.format.grok,
                ) {
                    (Classification::Regex, Some(re), _) => {
                        crate::formats::regex_lines::LinePattern::regex_serde(re, file_fields.len())
                    }
                    (Classification::Grok, _, Some(g)) => {
                        let names: Vec<&str> =
                            file_fields.iter().map(|f| f.name().as_str()).collect();
                        crate::formats::grok::line_pattern(
                            &g.format,
                            g.custom_patterns.as_deref(),
                            &names,
                        )
                    }
                    _ => Err(format!(
                        "it reads lines by {} but has no {}",
                        def.format.classification.as_str(),
                        if def.format.classification == Classification::Grok {
                            "`input.format`"
                        } else {
                            "`input.regex`"
                        }
                    )),
                };
                let mut pattern = pattern.map_err(bad)?;
                pattern.header_lines = def.format.header_lines;
                Some(Arc::new(pattern))
            }
            _ => None,
        };
        // A projected table's partitions come from its properties; the registry's are ignored, as Athena does.
        let projection = crate::catalog::projection::Projection::of(&def)?.map(Arc::new);
        let registered: &[crate::catalog::model::Partition] = match projection {
            Some(_) => &[],
            None => &def.partitions,
        };
        let mut partitions = Vec::with_capacity(registered.len());
        for p in registered {
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
            projection,
            table_url,
            line_regex,
        })
    }

    /// The DataFusion format for this table, starting from the session's defaults (so session settings such as
    /// the Parquet footer hint apply) and overriding what the registry says.
    pub(crate) fn file_format(&self, state: &dyn Session) -> DfResult<Arc<dyn FileFormat>> {
        self.file_format_with(state, self.def.format.compression)
    }

    /// [`RegistryTable::file_format`] with the files' whole-file compression.
    fn file_format_with(
        &self,
        state: &dyn Session,
        compression: Compression,
    ) -> DfResult<Arc<dyn FileFormat>> {
        let opts = state.default_table_options();
        let compression = compression_variant(compression);
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
            Classification::Regex | Classification::Grok => {
                return Err(DataFusionError::Plan(format!(
                    "table `{}` is read by owl's line reader (RegexSerDe, Grok), not a DataFusion format: declare its columns",
                    self.def.name
                )));
            }
        })
    }

    /// The whole-file compression of the files a scan reads: the table's, or, for a text table declared without
    /// one, what the files' names say (`.gz`), as Athena reads each file. Files of one scan that say different
    /// things are an error naming two of them.
    fn compression_of(&self, files: &[PartitionedFile]) -> DfResult<Compression> {
        let text = matches!(
            self.def.format.classification,
            Classification::Csv
                | Classification::Json
                | Classification::Regex
                | Classification::Grok
        );
        if !text || self.def.format.compression != Compression::None {
            return Ok(self.def.format.compression);
        }
        let mut said = files
            .iter()
            .map(|f| (Compression::of_name(f.object_meta.location.as_ref()), f));
        let Some((first, first_file)) = said.next() else {
            return Ok(Compression::None);
        };
        match said.find(|(c, _)| *c != first) {
            None => Ok(first),
            Some((_, other)) => Err(DataFusionError::Plan(format!(
                "table `{}`: its files mix compressions (`{}` and `{}`): owl reads one compression a scan",
                self.def.name, first_file.object_meta.location, other.object_meta.location
            ))),
        }
    }

    /// The text format owl's own decoder reads this table as (`formats::lines`), where it can: NDJSON; CSV
    /// without an escape character, comments, another record terminator or truncated rows (line breaks inside
    /// values: its files read whole).
    /// The table as a scan of owl's readers carries it to a cluster's executors: its definition, with its
    /// location resolved (an executor has no registry folder to resolve it against).
    fn origin(&self) -> DfResult<Arc<str>> {
        let mut def = self.def.clone();
        def.location = self.table_url.to_string();
        serde_json::to_string(&def)
            .map(Arc::from)
            .map_err(|e| DataFusionError::Internal(format!("table `{}`: {e}", self.def.name)))
    }

    /// The file source of owl's readers a scan of this table uses under `config` (an executor's rebuilding of
    /// a scan that travelled, `cluster::codec`); None for formats DataFusion reads itself.
    pub fn scan_source(
        &self,
        config: &datafusion::config::ConfigOptions,
        table_schema: TableSchema,
    ) -> Option<Arc<dyn datafusion::datasource::physical_plan::FileSource>> {
        let csv = datafusion::config::TableOptions::default_from_session_config(config).csv;
        match self.text_format_from(config, &csv) {
            Some(text) => Some(Arc::new(crate::formats::text_source::TextSource::new(
                table_schema,
                text,
            ))),
            None if self.def.format.classification == Classification::Orc => {
                Some(Arc::new(crate::formats::orc::OrcSource::new(table_schema)))
            }
            None => None,
        }
    }

    pub(super) fn text_format(
        &self,
        state: &dyn Session,
    ) -> Option<crate::formats::text_source::TextFormat> {
        self.text_format_from(state.config_options(), &state.default_table_options().csv)
    }

    /// [`RegistryTable::text_format`] under a session's settings and CSV options.
    fn text_format_from(
        &self,
        config: &datafusion::config::ConfigOptions,
        session: &datafusion::config::CsvOptions,
    ) -> Option<crate::formats::text_source::TextFormat> {
        use crate::formats::lines::CsvDialect;
        use crate::formats::text_source::TextFormat;
        let options = crate::config::options::of_config(config);
        if let Some(re) = &self.line_regex {
            return Some(TextFormat::Regex(Arc::clone(re)));
        }
        match self.def.format.classification {
            // Always owl's reader (arrow-json with numbers and booleans read into string columns as their
            // text, as Athena's JSON SerDe does; DataFusion's reader fails on them), the fast decoder in front
            // of it unless turned off.
            Classification::Json if !self.def.format.json_array => Some(TextFormat::Ndjson {
                fast: options.ndjson_fast_path,
                options: Arc::new(self.def.format.json.clone()),
            }),
            // Always owl's reader where the dialect lets it (a null format, and `""` read as an empty string
            // in text columns, which arrow-csv and so DataFusion's reader read as NULL): arrow-csv alone
            // behind it when the session turns the fast path off.
            Classification::Csv => {
                let csv = self.def.format.csv.clone().unwrap_or_default();
                let (&[delimiter], &[quote]) = (csv.delimiter.as_bytes(), csv.quote.as_bytes())
                else {
                    return None;
                };
                let plain = csv.escape.is_none()
                    && session.terminator.is_none()
                    && session.comment.is_none()
                    && session.truncated_rows != Some(true);
                plain.then_some(TextFormat::Csv(CsvDialect {
                    delimiter,
                    quote,
                    has_header: csv.has_header,
                    null: csv.null_format.as_deref().map(Arc::from),
                    whole_files: csv.newlines_in_values,
                    fast: options.csv_fast_path,
                }))
            }
            _ => None,
        }
    }
}

/// Parse one partition value as its key's type; Hive's NULL marker becomes NULL.
pub(super) fn partition_value(
    table: &str,
    field: &Field,
    value: &str,
) -> Result<ScalarValue, Error> {
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

pub(super) fn compression_variant(c: Compression) -> CompressionTypeVariant {
    match c {
        Compression::None => CompressionTypeVariant::UNCOMPRESSED,
        Compression::Gzip => CompressionTypeVariant::GZIP,
        Compression::Bzip2 => CompressionTypeVariant::BZIP2,
        Compression::Xz => CompressionTypeVariant::XZ,
        Compression::Zstd => CompressionTypeVariant::ZSTD,
    }
}

/// Streams a scan of an object store may read through at once (`owl.remote_streams`): a request to S3 waits
/// tens of milliseconds for its first byte, so a scan of many small files (a day a partition) spends most of its
/// time waiting with one stream a thread. With more streams than threads, files' footers and column chunks are
/// fetched while other streams decode; each stream still opens its next file while it reads one (DataFusion's
/// file stream), so up to twice this many requests are in flight. Sixteen keeps 1–2 MB in flight per 100 MB/s
/// connection at 20 ms, S3's per-prefix request rates far away, and the plan's partitions few.
pub(super) const REMOTE_STREAMS: usize = 16;

impl RegistryTable {
    /// How many file groups a scan is split into: one a thread, or up to [`REMOTE_STREAMS`] on an object store.
    fn streams(&self, state: &dyn Session) -> usize {
        let threads = state.config().target_partitions();
        let remote = !self.store_url.as_str().starts_with("file:");
        if remote && crate::config::options::of_config(state.config_options()).remote_streams {
            threads.max(REMOTE_STREAMS)
        } else {
            threads
        }
    }
}

/// Spread files over `n` groups, largest first onto the lightest group, so parallel scans finish together.
pub(super) fn balance(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
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
        } else if let Some(projection) = &self.projection {
            self.projected_partitions(projection, state, filters)?
        } else {
            self.surviving_partitions(state, filters)?
                .into_iter()
                .map(|i| self.partitions[i].clone())
                .collect()
        };
        let logged = if !self.partition_fields.is_empty()
            && let Some(log) = state.config().get_extension::<super::PartitionLog>()
        {
            let scan = match &self.projection {
                Some(p) => format!(
                    "{}: {} partition{} projected ({})",
                    self.def.name,
                    targets.len(),
                    if targets.len() == 1 { "" } else { "s" },
                    p.describe()
                ),
                None => format!(
                    "{}: {} of {} partitions",
                    self.def.name,
                    targets.len(),
                    self.partitions.len()
                ),
            };
            Some((log, scan))
        } else {
            None
        };
        let concurrency = state
            .config_options()
            .execution
            .meta_fetch_concurrency
            .get()
            .max(1);
        let common = self.projection.is_some()
            && crate::config::options::of_config(state.config_options()).projection_list_common;
        let count = targets.len();
        let (targets, listed, folder) = if common {
            match self.list_common(Arc::clone(&store), targets).await? {
                Ok((folder, listed)) => (Vec::new(), listed, Some(folder)),
                Err(targets) => (targets, Vec::new(), None),
            }
        } else {
            (targets, Vec::new(), None)
        };
        if let Some((log, mut scan)) = logged {
            if let Some(folder) = &folder {
                scan.push_str(&format!("; listed as one folder `{folder}`"));
            }
            log.record(count, self.projection.is_some(), scan);
        }
        let listed: Vec<Listed> = if targets.is_empty() {
            listed
        } else if self.list_once(&targets) {
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
        let switches = crate::config::options::of_config(state.config_options());
        let files: Vec<PartitionedFile> = listed
            .into_iter()
            .flat_map(|l| {
                let unclustered_columns = unclustered_columns.clone();
                let stats = (switches.partition_bounds || switches.footer_hints)
                    .then(|| self.partition_stats(&l))
                    .flatten();
                let bounds = switches
                    .partition_bounds
                    .then(|| self.file_statistics(&l, stats.as_ref()))
                    .flatten()
                    .or_else(|| unknown.clone());
                let footer_hint = switches
                    .footer_hints
                    .then(|| self.footer_hint(stats.as_ref(), l.files.len()))
                    .flatten();
                let values = l.partition.values;
                l.files.into_iter().map(move |m| {
                    let mut file =
                        PartitionedFile::new_from_meta(m).with_partition_values(values.clone());
                    file.statistics = bounds.clone();
                    file.metadata_size_hint = footer_hint;
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
        let compression = self.compression_of(&files)?;
        let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
            .with_table_partition_cols(self.partition_fields.clone())
            .build();
        let text = self.text_format(state);
        let (source, format) = match text.clone() {
            Some(text) => (
                Arc::new(
                    crate::formats::text_source::TextSource::new(table_schema, text)
                        .with_origin(self.origin()?),
                ) as Arc<dyn datafusion::datasource::physical_plan::FileSource>,
                None,
            ),
            None => {
                let format = self.file_format_with(state, compression)?;
                let source = format.file_source(table_schema);
                let source = match source.downcast_ref::<crate::formats::orc::OrcSource>() {
                    Some(orc) => Arc::new(orc.clone().with_origin(self.origin()?)),
                    None => source,
                };
                (source, Some(format))
            }
        };
        let groups = balance(files, self.streams(state));
        // More streams than threads (an object store's many files): declared as the scan's partitioning, so
        // DataFusion's file-scan repartitioning (which splits the bytes evenly over the threads) keeps them.
        let declared = (groups.len() > state.config().target_partitions())
            .then(|| datafusion::physical_plan::Partitioning::UnknownPartitioning(groups.len()));
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_output_partitioning(declared)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_statistics(statistics)
            .build();
        if text.is_some() {
            // As JsonFormat does; CsvFormat's would insist on its own source.
            let compression = compression_variant(compression);
            let config = FileScanConfigBuilder::from(config)
                .with_file_compression_type(FileCompressionType::from(compression))
                .build();
            return Ok(DataSourceExec::from_data_source(config));
        }
        match format {
            // A Parquet file's errors name it (`formats::parquet_files`).
            Some(format) => format
                .create_physical_plan(state, config)
                .await
                .map(crate::formats::parquet_files::naming_files),
            None => Err(DataFusionError::Internal("a scan without a format".into())),
        }
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
