//! Paths queried as tables (`SELECT ... FROM 'folder/'`, DuckDB-style): a folder reads as the crawler would
//! register it (`crawler::folder_table`): files classified by their content, hidden names skipped, columns
//! widened between files merged, `key=value` folders as partition keys, through owl's readers and meter. A
//! single file reads as DataFusion's URL tables read it (its format by its extension, its columns and header
//! as DataFusion infers them); a CSV or newline-delimited JSON file's rows through owl's line decoder
//! ([`OneTextFile`]), so that its limit on a row's size holds there too.

use crate::catalog::location::for_registry;
use crate::catalog::provider::RegistryTable;
use crate::error::Error;
use async_trait::async_trait;
use datafusion::catalog::{TableProvider, UrlTableFactory};
use datafusion::datasource::listing::{
    ListingTable, ListingTableConfig, ListingTableConfigExt, ListingTableUrl,
};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::session_state::SessionState;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, RwLock, Weak};

/// The table a path names, for one query's session.
#[derive(Debug, Default)]
pub(super) struct PathTables {
    /// The session the tables are for (set once it is built): its stores read and meter the files.
    session: OnceLock<Weak<parking_lot::RwLock<SessionState>>>,
    /// The registry's root: relative locations are stored against it.
    root: PathBuf,
    /// The database the session is in (the tables are named in it).
    database: String,
    /// Folders already made tables in this session: a statement resolves its tables more than once.
    made: RwLock<Vec<(String, Arc<dyn TableProvider>)>>,
}

impl PathTables {
    pub(super) fn new(root: PathBuf, database: String) -> Self {
        PathTables {
            root,
            database,
            ..PathTables::default()
        }
    }

    pub(super) fn set_session(&self, session: Weak<parking_lot::RwLock<SessionState>>) {
        let _ = self.session.set(session);
    }

    fn state(&self) -> DfResult<SessionState> {
        self.session
            .get()
            .and_then(Weak::upgrade)
            .map(|s| s.read().clone())
            .ok_or_else(|| DataFusionError::Internal("a path table outlived its session".into()))
    }
}

/// Whether `named` is a folder written as a path (with a `/`: a bare word is a table's name, even where a
/// folder of that name exists): a local one that exists, or a remote prefix written with its trailing `/`.
fn is_folder(named: &str) -> bool {
    if !named.contains('/') {
        return false;
    }
    let local = match url::Url::parse(named) {
        Ok(u) if u.scheme() == "file" => u.to_file_path().ok(),
        Ok(u) if named.contains("://") => return u.path().ends_with('/'),
        _ => Some(PathBuf::from(named)),
    };
    local.is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_dir()))
}

#[async_trait]
impl UrlTableFactory for PathTables {
    async fn try_new(&self, url: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if let Some((_, t)) = self
            .made
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(u, _)| u == url)
        {
            return Ok(Some(Arc::clone(t)));
        }
        let state = self.state()?;
        if !is_folder(url) {
            // A file: as DataFusion reads it (its format from its extension).
            let Ok(table_url) = ListingTableUrl::parse(url) else {
                return Ok(None);
            };
            // DataFusion reads the file's metadata here: guarded, as a corrupt file can panic a decoder.
            let what = format!("`{url}`");
            let config = crate::formats::guard::Guarded::new(
                ListingTableConfig::new(table_url).infer_options(&state),
                what.clone(),
            )
            .await;
            return match config {
                Ok(config) => {
                    let config = with_schema(&state, config, what).await?;
                    let table = ListingTable::try_new(config)?;
                    Ok(Some(OneTextFile::or_as_it_is(table, &state)))
                }
                Err(_) => Ok(None),
            };
        }
        let external = |e: Error| DataFusionError::External(Box::new(e));
        let stored = for_registry(url, &self.root).map_err(external)?;
        let stores = Arc::clone(&state.runtime_env().object_store_registry);
        let def = crate::crawler::folder_table(stores.as_ref(), url, &stored, url, &self.database)
            .await
            .map_err(external)?;
        let table: Arc<dyn TableProvider> =
            Arc::new(RegistryTable::try_new(def, self.root.clone()).map_err(external)?);
        self.made
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((url.to_string(), Arc::clone(&table)));
        Ok(Some(table))
    }
}

/// Why the local file `named` (a path a statement names, that is there) is no table: the error of reading its
/// format and schema, with its name. None when it is not a local file, or reads.
pub(super) async fn why_unreadable(state: &SessionState, named: &str) -> Option<Error> {
    if !std::fs::metadata(named).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let unreadable = |e: DataFusionError| {
        let cause = Error::from(e).to_string();
        let cause = cause
            .rsplit("Parquet error: ")
            .next()
            .unwrap_or(&cause)
            .to_string();
        Error::Query(format!("reading `{named}`: {cause}"))
    };
    let url = ListingTableUrl::parse(named).ok()?;
    let what = format!("`{named}`");
    use crate::formats::guard::Guarded;
    match Guarded::new(
        ListingTableConfig::new(url).infer_options(state),
        what.clone(),
    )
    .await
    {
        Ok(config) => with_schema(state, config, what).await.err().map(unreadable),
        Err(e) => Some(unreadable(e)),
    }
}

/// A CSV or newline-delimited JSON file named in `FROM`, as DataFusion's URL table reads it (its schema, header,
/// delimiter and compression), its rows read by owl's [`TextSource`](crate::formats::text_source::TextSource)
/// as a table's are: a line past Athena's row limit fails naming the file (DataFusion's reader buffers it
/// whole: a gzip bomb exhausted memory), and a quoted empty field is an empty string, as in a table.
#[derive(Debug)]
struct OneTextFile {
    table: ListingTable,
    format: crate::formats::text_source::TextFormat,
    compression: datafusion::common::parsers::CompressionTypeVariant,
}

impl OneTextFile {
    /// `table` read through owl's decoder, where its options are ones that decoder reads as DataFusion's
    /// reader would; otherwise `table`, as it is.
    fn or_as_it_is(table: ListingTable, state: &SessionState) -> Arc<dyn TableProvider> {
        use crate::formats::lines::CsvDialect;
        use crate::formats::text_source::TextFormat;
        use datafusion::datasource::file_format::csv::CsvFormat;
        use datafusion::datasource::file_format::json::JsonFormat;
        let owl = crate::config::options::of_config(state.config_options());
        let options = table.options();
        if !options.table_partition_cols.is_empty() || table.table_paths().len() != 1 {
            return Arc::new(table);
        }
        let format: &dyn std::any::Any = options.format.as_ref();
        let read = if let Some(csv) = format.downcast_ref::<CsvFormat>() {
            let o = csv.options();
            let plain = o.terminator.is_none()
                && o.escape.is_none()
                && o.double_quote != Some(false)
                && o.comment.is_none()
                && o.truncated_rows != Some(true)
                && o.null_value.is_none()
                && o.null_regex.is_none()
                && o.newlines_in_values != Some(true)
                && o.ignore_leading_whitespace != Some(true)
                && o.ignore_trailing_whitespace != Some(true)
                && [&o.date_format, &o.datetime_format, &o.timestamp_format]
                    .iter()
                    .all(|f| f.is_none())
                && o.timestamp_tz_format.is_none()
                && o.time_format.is_none();
            plain.then(|| {
                (
                    TextFormat::Csv(CsvDialect {
                        delimiter: o.delimiter,
                        quote: o.quote,
                        has_header: o
                            .has_header
                            .unwrap_or(state.config_options().catalog.has_header),
                        null: None,
                        whole_files: false,
                        fast: owl.csv_fast_path,
                    }),
                    o.compression,
                )
            })
        } else if let Some(json) = format.downcast_ref::<JsonFormat>() {
            let o = json.options();
            o.newline_delimited.then(|| {
                (
                    TextFormat::Ndjson {
                        fast: owl.ndjson_fast_path,
                        // Keys as DataFusion's reader matches them (and infers the columns): exactly.
                        options: Arc::new(crate::formats::json_serde::JsonOptions {
                            case_sensitive: true,
                            ..Default::default()
                        }),
                    },
                    o.compression,
                )
            })
        } else {
            None
        };
        match read {
            Some((format, compression)) => Arc::new(OneTextFile {
                table,
                format,
                compression,
            }),
            None => Arc::new(table),
        }
    }
}

#[async_trait]
impl TableProvider for OneTextFile {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> datafusion::logical_expr::TableType {
        datafusion::logical_expr::TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn datafusion::catalog::Session,
        projection: Option<&Vec<usize>>,
        _filters: &[datafusion::logical_expr::Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
        use datafusion::datasource::listing::PartitionedFile;
        use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
        use datafusion::datasource::source::DataSourceExec;
        use datafusion::datasource::table_schema::TableSchema;
        let url = &self.table.table_paths()[0];
        let store = state.runtime_env().object_store(url.object_store())?;
        let meta = object_store::ObjectStoreExt::head(store.as_ref(), url.prefix()).await?;
        let schema = self.table.schema();
        let source = Arc::new(crate::formats::text_source::TextSource::new(
            TableSchema::builder(Arc::clone(&schema)).build(),
            self.format.clone(),
        ));
        let config = FileScanConfigBuilder::new(url.object_store(), source)
            .with_file_groups(vec![FileGroup::new(vec![PartitionedFile::new_from_meta(
                meta,
            )])])
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .with_file_compression_type(FileCompressionType::from(self.compression))
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// `config` (a file's, its options inferred) with its columns: a text file's from a bounded sample of its first
/// lines ([`sampled_schema`]); other formats' from their footers, as DataFusion reads them (guarded: a
/// corrupt file can panic a decoder).
async fn with_schema(
    state: &SessionState,
    config: ListingTableConfig,
    what: String,
) -> DfResult<ListingTableConfig> {
    let sampled = match (&config.options, config.table_paths.first()) {
        (Some(options), Some(url)) => sampled_schema(state, url, options).await?,
        _ => None,
    };
    match sampled {
        Some(schema) => Ok(config.with_schema(schema)),
        None => crate::formats::guard::Guarded::new(config.infer_schema(state), what).await,
    }
}

/// The columns DataFusion infers for a CSV or newline-delimited JSON file, inferred as it does (its format's
/// own inference, the same number of records) from the file's first lines, decompressed and held in memory:
/// at most as many lines as the inference reads, each at most Athena's row limit (32 MiB). DataFusion's
/// inference reads the file itself and buffers a line whole, however long (a gzip bomb's one line). None for
/// other formats (their footers are read as DataFusion reads them).
async fn sampled_schema(
    state: &SessionState,
    url: &ListingTableUrl,
    options: &datafusion::datasource::listing::ListingOptions,
) -> DfResult<Option<arrow::datatypes::SchemaRef>> {
    use datafusion::common::parsers::CompressionTypeVariant;
    use datafusion::datasource::file_format::FileFormat;
    use datafusion::datasource::file_format::csv::CsvFormat;
    use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
    use datafusion::datasource::file_format::json::JsonFormat;
    use futures::StreamExt;
    use object_store::ObjectStoreExt;
    const RECORDS: usize = 1000; // DataFusion's DEFAULT_SCHEMA_INFER_MAX_RECORD
    let format: &dyn std::any::Any = options.format.as_ref();
    let (plain, records, compression): (Arc<dyn FileFormat>, usize, CompressionTypeVariant) =
        if let Some(csv) = format.downcast_ref::<CsvFormat>() {
            let mut o = csv.options().clone();
            if o.newlines_in_values == Some(true) || o.terminator.is_some() {
                return Ok(None);
            }
            let compression = o.compression;
            o.compression = CompressionTypeVariant::UNCOMPRESSED;
            // The records and, where there is one, the header line.
            let records = o.schema_infer_max_rec.unwrap_or(RECORDS) + 1;
            (
                Arc::new(CsvFormat::default().with_options(o)),
                records,
                compression,
            )
        } else if let Some(json) = format.downcast_ref::<JsonFormat>() {
            let mut o = json.options().clone();
            if !o.newline_delimited {
                return Ok(None);
            }
            let compression = o.compression;
            o.compression = CompressionTypeVariant::UNCOMPRESSED;
            let records = o.schema_infer_max_rec.unwrap_or(RECORDS);
            (
                Arc::new(JsonFormat::default().with_options(o)),
                records,
                compression,
            )
        } else {
            return Ok(None);
        };
    let named = DataFusionError::Execution;
    // Read in ranges that double from 64 KiB, as far as the lines wanted reach (a whole GET would be read, and
    // billed, a megabyte at a time).
    let store = state.runtime_env().object_store(url.object_store())?;
    let path = url.prefix().clone();
    let size = store.head(&path).await?.size;
    let body = futures::stream::unfold((0u64, 64u64 << 10), move |(start, len)| {
        let (store, path) = (Arc::clone(&store), path.clone());
        async move {
            if start >= size {
                return None;
            }
            let end = start.saturating_add(len).min(size);
            let got = store
                .get_range(&path, start..end)
                .await
                .map_err(DataFusionError::from);
            Some((got, (end, len.saturating_mul(2))))
        }
    })
    .boxed();
    let mut body = FileCompressionType::from(compression).convert_stream(body)?;
    let mut sample: Vec<u8> = Vec::new();
    let (mut lines, mut line_start) = (0usize, 0usize);
    'read: while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| named(e.to_string()))?;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                lines += 1;
                line_start = sample.len() + i + 1;
                if lines == records {
                    sample.extend_from_slice(&chunk[..=i]);
                    break 'read;
                }
            }
        }
        sample.extend_from_slice(&chunk);
        if sample.len() - line_start > crate::formats::lines::MAX_LINE_BYTES {
            return Err(named(crate::formats::lines::line_too_long().to_string()));
        }
    }
    drop(body);
    let memory: Arc<dyn object_store::ObjectStore> =
        Arc::new(object_store::memory::InMemory::new());
    let at = object_store::path::Path::from("sample");
    memory.put(&at, sample.into()).await?;
    let meta = memory.head(&at).await?;
    plain.infer_schema(state, &memory, &[meta]).await.map(Some)
}
