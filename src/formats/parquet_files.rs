//! Parquet errors that name their file. DataFusion's Parquet reader says what is wrong with a file, not which
//! one (`Invalid Parquet file. Corrupt footer`): [`Named`] wraps a scan's reader factory so that every error
//! of a file's reads (its footer, its pages) says `reading Parquet file `<path>`: ...`, as owl's text readers
//! do.

use bytes::Bytes;
use datafusion::datasource::physical_plan::parquet::ParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result as DfResult;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion_datasource::PartitionedFile;
use futures::FutureExt;
use futures::future::BoxFuture;
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
        self.inner
            .get_metadata(options)
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
