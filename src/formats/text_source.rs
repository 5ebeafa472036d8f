//! [`TextSource`]: owl's DataFusion file source for CSV, newline-delimited JSON and RegexSerDe's lines: byte
//! ranges of plain or compressed files, each decoded line by line (`formats::lines`) by the CSV or NDJSON fast
//! path (in front of arrow-csv or arrow-json) or the table's regular expression.

use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileOpenFuture, FileOpener, FileScanConfig, FileSource,
};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::projection::ProjectionExprs;
use datafusion_datasource::boundary_stream::AlignedBoundaryStream;
use datafusion_datasource::decoder::{DecoderDeserializer, deserialize_stream};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::{GetOptions, ObjectStore};
use std::sync::Arc;

use super::lines::{CsvDialect, RowCounts};

/// The rows each decoder produced, shown by `EXPLAIN ANALYZE` (`json_rows_fast_path`, `csv_rows_arrow_csv`...).
/// A scan of text files (newline-delimited JSON, CSV) through a [`LineDecoder`].
#[derive(Debug, Clone)]
pub struct TextSource {
    /// The table the scan reads, as a cluster sends it to an executor (`cluster::codec`); None outside the
    /// registry.
    origin: Option<Arc<str>>,
    table_schema: TableSchema,
    projection: SplitProjection,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
    format: TextFormat,
}

/// What the files hold.
#[derive(Debug, Clone)]
pub enum TextFormat {
    /// `fast`: owl's flat-object decoder in front of arrow-json; false, arrow-json alone. `options`: the JSON
    /// SerDe's (`json_serde`), CloudTrail's `Records` files among them.
    Ndjson {
        fast: bool,
        options: Arc<super::json_serde::JsonOptions>,
    },
    Csv(CsvDialect),
    /// Lines matched by RegexSerDe's pattern (anchored, `regex_lines::compile`) or a grok pattern (`grok`).
    Regex(Arc<super::regex_lines::LinePattern>),
}

impl TextSource {
    /// The scan of a registry table (its definition in JSON): what lets it travel to a cluster's executors.
    pub fn with_origin(mut self, origin: Arc<str>) -> Self {
        self.origin = Some(origin);
        self
    }

    pub fn origin(&self) -> Option<&Arc<str>> {
        self.origin.as_ref()
    }

    pub fn new(table_schema: TableSchema, format: TextFormat) -> Self {
        TextSource {
            origin: None,
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: 8192,
            metrics: ExecutionPlanMetricsSet::new(),
            format,
        }
    }
}

impl FileSource for TextSource {
    fn create_file_opener(
        &self,
        store: Arc<dyn ObjectStore>,
        config: &FileScanConfig,
        partition: usize,
    ) -> DfResult<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let (fast, fallback) = match self.format {
            TextFormat::Ndjson { .. } => ("json_rows_fast_path", "json_rows_arrow_json"),
            TextFormat::Csv(_) => ("csv_rows_fast_path", "csv_rows_arrow_csv"),
            TextFormat::Regex(_) => ("regex_rows", "regex_rows_fallback"),
        };
        let rows = RowCounts {
            fast_path: MetricBuilder::new(&self.metrics).counter(fast, partition),
            fallback: MetricBuilder::new(&self.metrics).counter(fallback, partition),
        };
        let opener = Arc::new(TextOpener {
            store,
            file_schema: Arc::clone(file_schema),
            projection: self.projection.file_indices.clone(),
            batch_size: self.batch_size,
            compression: config.file_compression_type,
            rows,
            format: self.format.clone(),
        });
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(TextSource {
            batch_size,
            ..self.clone()
        })
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    /// "json" or "csv", as DataFusion's own sources: what EXPLAIN shows and what owl's estimates look for.
    fn file_type(&self) -> &str {
        match self.format {
            TextFormat::Ndjson { .. } => "json",
            TextFormat::Csv(_) => "csv",
            TextFormat::Regex(_) => "regex",
        }
    }

    /// A CloudTrail file is one JSON object, a CSV file's records may hold line breaks: read whole, never in
    /// ranges.
    fn supports_repartitioning(&self) -> bool {
        match &self.format {
            TextFormat::Ndjson { options, .. } => !options.records,
            TextFormat::Csv(dialect) => !dialect.whole_files,
            TextFormat::Regex(_) => true,
        }
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> DfResult<Option<Arc<dyn FileSource>>> {
        let merged = self.projection.source.try_merge(projection)?;
        Ok(Some(Arc::new(TextSource {
            projection: SplitProjection::new(self.table_schema.file_schema(), &merged),
            ..self.clone()
        })))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        datafusion::physical_plan::apply_expression_roots(self.projection.source.iter(), f)
    }
}

/// Opens one file, or the lines that start in its byte range.
struct TextOpener {
    store: Arc<dyn ObjectStore>,
    file_schema: SchemaRef,
    /// The file columns to produce.
    projection: Vec<usize>,
    batch_size: usize,
    compression: FileCompressionType,
    rows: RowCounts,
    format: TextFormat,
}

impl FileOpener for TextOpener {
    fn open(&self, file: PartitionedFile) -> DfResult<FileOpenFuture> {
        let store = Arc::clone(&self.store);
        let file_schema = Arc::clone(&self.file_schema);
        let projection = self.projection.clone();
        let batch_size = self.batch_size;
        let compression = self.compression;
        let rows = self.rows.clone();
        let format = self.format.clone();
        Ok(Box::pin(async move {
            let input = input(store, &file, compression, b'\n').await?;
            let schema = Arc::new(file_schema.project(&projection)?);
            let (stream, what) = match format {
                TextFormat::Ndjson { fast, options } => {
                    let decoder = super::ndjson::flat_decoder(schema, batch_size, fast, &options)?
                        .counting(rows);
                    let input = if options.records {
                        records(input, file.object_meta.location.to_string())
                    } else {
                        input
                    };
                    (
                        deserialize_stream(input, DecoderDeserializer::new(decoder)),
                        "JSON",
                    )
                }
                TextFormat::Regex(pattern) => {
                    let at_start = file.range.as_ref().is_none_or(|r| r.start == 0);
                    let decoder = super::regex_lines::regex_decoder(
                        file_schema,
                        projection,
                        pattern,
                        at_start,
                        batch_size,
                    )?
                    .counting(rows);
                    (
                        deserialize_stream(input, DecoderDeserializer::new(decoder)),
                        "text",
                    )
                }
                TextFormat::Csv(dialect) => {
                    // A range after the first starts past the header.
                    let at_start = file.range.as_ref().is_none_or(|r| r.start == 0);
                    let header = dialect.has_header && at_start;
                    let decoder = super::csv::csv_decoder(
                        file_schema,
                        projection,
                        CsvDialect {
                            has_header: header,
                            ..dialect
                        },
                        batch_size,
                    )?
                    .counting(rows);
                    (
                        deserialize_stream(input, DecoderDeserializer::new(decoder)),
                        "CSV",
                    )
                }
            };
            // The readers' errors say what is wrong, not where: name the file.
            let named = file.object_meta.location.clone();
            Ok(stream
                .map_err(move |e| {
                    DataFusionError::Execution(format!("reading {what} file `{named}`: {e}"))
                })
                .boxed())
        }))
    }
}

/// The bytes of one file, or of the lines that start in its byte range (as DataFusion's CSV and JSON openers
/// read them: a line belongs to the range its first byte lies in), decompressed.
pub(crate) async fn input(
    store: Arc<dyn ObjectStore>,
    file: &PartitionedFile,
    compression: FileCompressionType,
    terminator: u8,
) -> DfResult<BoxStream<'static, DfResult<Bytes>>> {
    let location = file.object_meta.location.clone();
    let bytes = match &file.range {
        Some(range) => AlignedBoundaryStream::new(
            store,
            location,
            range.start as u64,
            range.end as u64,
            file.object_meta.size,
            terminator,
        )
        .await?
        .map_err(DataFusionError::from)
        .boxed(),
        None => store
            .get_opts(&location, GetOptions::default())
            .await?
            .into_stream()
            .map_err(DataFusionError::from)
            .boxed(),
    };
    Ok(compression.convert_stream(bytes)?.fuse().boxed())
}

/// A CloudTrail file's bytes as one record a line (`json_serde::Records`); a file that is no CloudTrail file is
/// an error naming it.
fn records(
    input: BoxStream<'static, DfResult<Bytes>>,
    file: String,
) -> BoxStream<'static, DfResult<Bytes>> {
    let fail = move |e: String| {
        DataFusionError::Execution(format!("reading CloudTrail file `{file}`: {e}"))
    };
    let start = (input, Some(super::json_serde::Records::default()));
    futures::stream::unfold(start, move |(mut input, splitter)| {
        let fail = fail.clone();
        async move {
            let mut splitter = splitter?;
            loop {
                match input.next().await {
                    Some(Ok(bytes)) => {
                        let mut out = Vec::new();
                        if let Err(e) = splitter.push(&bytes, &mut out) {
                            return Some((Err(fail(e)), (input, None)));
                        }
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), (input, Some(splitter))));
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (input, None))),
                    None => {
                        return splitter
                            .finish()
                            .err()
                            .map(|e| (Err(fail(e)), (input, None)));
                    }
                }
            }
        }
    })
    .fuse()
    .boxed()
}
