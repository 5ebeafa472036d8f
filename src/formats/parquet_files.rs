//! Parquet errors that name their file. DataFusion's Parquet reader says what is wrong with a file, not which
//! one (`Invalid Parquet file. Corrupt footer`): [`Named`] wraps a scan's reader factory so that every error
//! of a file's reads (its footer, its pages) says `reading Parquet file `<path>`: ...`, as owl's text readers
//! do. Pages that do not decode fail inside DataFusion's stream, past any reader: [`blame`] finds their file
//! when such a query fails.

use arrow::error::ArrowError;
use bytes::Bytes;
use datafusion::datasource::physical_plan::parquet::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_datasource::PartitionedFile;
use futures::FutureExt;
use futures::StreamExt;
use futures::future::BoxFuture;
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::errors::{ParquetError, Result as ParquetResult};
use parquet::file::metadata::ParquetMetaData;
use std::ops::Range;
use std::sync::Arc;

/// A reader factory whose readers name their file in their errors.
#[derive(Debug)]
pub(crate) struct Named(pub(crate) Arc<dyn ParquetFileReaderFactory>);

impl ParquetFileReaderFactory for Named {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> DfResult<Box<dyn AsyncFileReader + Send>> {
        let path = file.object_meta.location.to_string();
        let inner = self
            .0
            .create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(NamedReader { inner, path }))
    }
}

struct NamedReader {
    inner: Box<dyn AsyncFileReader + Send>,
    path: String,
}

/// `e` with the file it came from, said once (the metadata reader names the file in its own words, and
/// wraps the cause in `Parquet error: ` twice).
fn named(path: &str, e: ParquetError) -> ParquetError {
    let what = match e {
        ParquetError::General(m) => m,
        ParquetError::EOF(m) => format!("unexpected end of file: {m}"),
        other => other.to_string(),
    };
    let cause = what.rsplit("Parquet error: ").next().unwrap_or(&what);
    ParquetError::General(format!("reading Parquet file `{path}`: {cause}"))
}

impl AsyncFileReader for NamedReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, ParquetResult<Bytes>> {
        let path = &self.path;
        self.inner
            .get_bytes(range)
            .map(move |r| r.map_err(|e| named(path, e)))
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, ParquetResult<Vec<Bytes>>> {
        let path = &self.path;
        self.inner
            .get_byte_ranges(ranges)
            .map(move |r| r.map_err(|e| named(path, e)))
            .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, ParquetResult<Arc<ParquetMetaData>>> {
        let path = &self.path;
        let what = format!("Parquet file `{path}`");
        super::guard::Guarded::new(self.inner.get_metadata(options), what)
            .map(move |r| r.map_err(|e| named(path, e)))
            .boxed()
    }
}

/// `plan` (a Parquet scan as `ParquetFormat` makes it) with its reads naming their files; any other plan as
/// it is.
pub(crate) fn naming_files(plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
        return plan;
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return plan;
    };
    let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
        return plan;
    };
    let Some(factory) = source.parquet_file_reader_factory() else {
        return plan;
    };
    let source = source
        .clone()
        .with_parquet_file_reader_factory(Arc::new(Named(Arc::clone(factory))));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(Arc::new(source))
        .build();
    DataSourceExec::from_data_source(config)
}

/// The most files [`blame`] decodes again, and their most bytes, to find the one a query could not decode.
const BLAME_FILES: usize = 256;
const BLAME_BYTES: u64 = 4 << 30;

/// Whether `e` is Parquet's own failure to decode a file that no error in it names yet.
fn unnamed_decode_error(e: &DataFusionError) -> bool {
    fn parquet(e: &DataFusionError) -> bool {
        match e {
            DataFusionError::ParquetError(_) => true,
            DataFusionError::ArrowError(a, _) => match a.as_ref() {
                ArrowError::ParquetError(_) => true,
                ArrowError::ExternalError(source) => {
                    source.downcast_ref::<ParquetError>().is_some()
                }
                _ => false,
            },
            DataFusionError::External(source) => source.downcast_ref::<ParquetError>().is_some(),
            DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
                parquet(inner)
            }
            DataFusionError::Shared(inner) => parquet(inner),
            _ => false,
        }
    }
    parquet(e) && !e.to_string().contains("reading Parquet file `")
}

/// The files `scans` read (of every format), with the store each is in and whether it is Parquet.
fn scanned_files(scans: &[FileScanConfig]) -> Vec<(url::Url, ObjectMeta, bool)> {
    let mut out: Vec<(url::Url, ObjectMeta, bool)> = vec![];
    for config in scans {
        let parquet = config
            .file_source()
            .downcast_ref::<ParquetSource>()
            .is_some();
        let store: &url::Url = config.object_store_url.as_ref();
        for file in config.file_groups.iter().flat_map(|g| g.files()) {
            if !out
                .iter()
                .any(|(_, m, _)| m.location == file.object_meta.location)
            {
                out.push((store.clone(), file.object_meta.clone(), parquet));
            }
        }
    }
    out
}

/// Whether `e` is a reader's failure on a file's bytes (a decoder's, a decompressor's, an I/O error), not the
/// query's own (arithmetic, casts, memory) or owl's (which name their files).
fn reading_error(e: &DataFusionError) -> bool {
    match e {
        DataFusionError::ParquetError(_) | DataFusionError::IoError(_) => true,
        DataFusionError::ArrowError(a, _) => arrow_reading_error(a),
        DataFusionError::External(source) => {
            if let Some(a) = source.downcast_ref::<ArrowError>() {
                return arrow_reading_error(a);
            }
            source.downcast_ref::<crate::error::Error>().is_none()
                && source
                    .downcast_ref::<DataFusionError>()
                    .is_none_or(reading_error)
        }
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => {
            reading_error(inner)
        }
        DataFusionError::Shared(inner) => reading_error(inner),
        _ => false,
    }
}

/// An arrow error of reading (parsing, decoding, I/O), not of computing.
fn arrow_reading_error(a: &ArrowError) -> bool {
    !matches!(
        a,
        ArrowError::DivideByZero
            | ArrowError::ArithmeticOverflow(_)
            | ArrowError::CastError(_)
            | ArrowError::ComputeError(_)
            | ArrowError::NotYetImplemented(_)
            | ArrowError::SchemaError(_)
            | ArrowError::MemoryError(_)
            | ArrowError::DictionaryKeyOverflowError
            | ArrowError::RunEndIndexOverflowError
            | ArrowError::OffsetOverflowError(_)
            | ArrowError::InvalidArgumentError(_)
    )
}

/// Decode every page of the file at `meta` in `store`; its error, if it has one.
async fn decode_error(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Option<String> {
    let factory =
        datafusion::datasource::physical_plan::parquet::DefaultParquetFileReaderFactory::new(store);
    let file = PartitionedFile::from(meta.clone());
    let Ok(reader) = factory.create_reader(0, file, None, &ExecutionPlanMetricsSet::new()) else {
        return None;
    };
    let reader = NamedReader {
        inner: reader,
        path: meta.location.to_string(),
    };
    let stream = match ParquetRecordBatchStreamBuilder::new(reader).await {
        Ok(builder) => builder.build(),
        Err(e) => return Some(e.to_string()),
    };
    let mut stream = match stream {
        Ok(s) => s,
        Err(e) => return Some(e.to_string()),
    };
    while let Some(batch) = stream.next().await {
        if let Err(e) = batch {
            return Some(e.to_string());
        }
    }
    None
}

/// `e`, a reader's failure that DataFusion reports without its file, with the file named (`scans`: the failed
/// plan's file scans, `engine::estimate::collect_scans`). A plan that reads one
/// file: that file. A Parquet page that does not decode: the Parquet files the plan scans are decoded again, through `stores` (unmetered: a failed query is
/// not billed), until one fails the same way. Past [`BLAME_FILES`] files or [`BLAME_BYTES`] bytes, or when none
/// fails again, `e` as it is.
pub(crate) async fn blame(
    stores: &dyn ObjectStoreRegistry,
    scans: &[FileScanConfig],
    e: DataFusionError,
) -> DataFusionError {
    let mut files = scanned_files(scans);
    let named = |location: &object_store::path::Path, e: DataFusionError| {
        let cause = crate::error::Error::from(e).to_string();
        DataFusionError::External(Box::new(crate::error::Error::Query(format!(
            "reading `{location}`: {cause}"
        ))))
    };
    // One file read (a path query of a file): a reader's failure is that file's.
    if let [(_, meta, _)] = files.as_slice()
        && reading_error(&e)
        && !e.to_string().contains(meta.location.as_ref())
    {
        return named(&meta.location, e);
    }
    if !unnamed_decode_error(&e) {
        return e;
    }
    files.retain(|(_, _, parquet)| *parquet);
    let bytes: u64 = files.iter().map(|(_, m, _)| m.size).sum();
    if files.len() > BLAME_FILES || bytes > BLAME_BYTES {
        return e;
    }
    for (url, meta, _) in files {
        let Ok(store) = stores.get_store(&url) else {
            continue;
        };
        if decode_error(store, &meta).await.is_some() {
            return named(&meta.location, e);
        }
    }
    e
}
