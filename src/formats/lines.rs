//! Line-at-a-time decoding in front of an arrow reader, shared by owl's NDJSON and CSV scans.
//!
//! [`LineDecoder`] splits its input into lines and hands each to a [`LineFormat`], which appends the projected
//! values straight to their [`Column`]s. A line the format does not take as written is handed, with the rest of
//! the input, to the format's [`Fallback`] (arrow-json, arrow-csv): the rows decoded so far come out first as a
//! batch of their own, then the fallback's batches, so such input gives the rows or the error the fallback
//! alone gives.

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
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
use datafusion::physical_plan::metrics::Count;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::projection::ProjectionExprs;
use datafusion_datasource::boundary_stream::AlignedBoundaryStream;
use datafusion_datasource::decoder::Decoder;
use datafusion_datasource::decoder::{DecoderDeserializer, deserialize_stream};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::{GetOptions, ObjectStore};
use std::fmt;
use std::sync::Arc;

use super::columns::{Column, Step};

/// The rows each decoder produced, shown by `EXPLAIN ANALYZE` (`json_rows_fast_path`, `csv_rows_arrow_csv`...).
#[derive(Debug, Clone, Default)]
pub struct RowCounts {
    pub fast_path: Count,
    pub fallback: Count,
}

/// A scan of text files (newline-delimited JSON, CSV) through a [`LineDecoder`].
#[derive(Debug, Clone)]
pub struct TextSource {
    table_schema: TableSchema,
    projection: SplitProjection,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
    format: TextFormat,
}

/// What the files hold.
#[derive(Debug, Clone, Copy)]
pub enum TextFormat {
    /// `fast`: owl's flat-object decoder in front of arrow-json; false, arrow-json alone.
    Ndjson {
        fast: bool,
    },
    Csv(CsvDialect),
}

impl TextSource {
    pub fn new(table_schema: TableSchema, format: TextFormat) -> Self {
        TextSource {
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
            format: self.format,
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
        let format = self.format;
        Ok(Box::pin(async move {
            let input = input(store, &file, compression, b'\n').await?;
            let schema = Arc::new(file_schema.project(&projection)?);
            let (stream, what) = match format {
                TextFormat::Ndjson { fast } => {
                    let decoder =
                        super::ndjson::flat_decoder(schema, batch_size, fast)?.counting(rows);
                    (
                        deserialize_stream(input, DecoderDeserializer::new(decoder)),
                        "JSON",
                    )
                }
                TextFormat::Csv(dialect) => {
                    // A range after the first starts past the header.
                    let header =
                        dialect.has_header && file.range.as_ref().is_none_or(|r| r.start == 0);
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

/// A CSV file's dialect, where owl's decoder reads it: one-byte delimiter and quote, quotes doubled inside
/// quoted fields, no escape character or comments, lines ending in `\n` or `\r\n`.
#[derive(Debug, Clone, Copy)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub quote: u8,
    pub has_header: bool,
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

/// One file format's lines.
pub(crate) trait LineFormat: Send {
    /// Decodes `line` (without its `\n`) into `columns`, which hold `rows` rows: `Ok(true)` when it appended a
    /// row, `Ok(false)` for a line that is no row (blank, a header). On `Unhandled` the columns are as before.
    fn line(&mut self, columns: &mut [Column], rows: usize, line: &[u8]) -> Step<bool>;

    /// A batch of `rows` was taken from the columns.
    fn batch_taken(&mut self) {}

    /// The reader that decodes the input from the line given up on.
    fn fallback(&mut self, batch_size: usize) -> Result<Box<dyn Fallback>, ArrowError>;
}

/// The reader behind the fast path: arrow's push decoders.
pub(crate) trait Fallback: Send {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError>;
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError>;
}

impl Fallback for arrow::json::reader::Decoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        arrow::json::reader::Decoder::decode(self, buf)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        arrow::json::reader::Decoder::flush(self)
    }
}

/// Where the fast path stands.
enum Mode {
    Fast,
    /// Given up on a line: the fallback decodes from that line on. `pending` holds the bytes of it the fast path
    /// had already taken (a line that began in an earlier buffer), fed to the fallback first.
    Fallback {
        decoder: Box<dyn Fallback>,
        pending: Vec<u8>,
        fed: usize,
    },
}

/// Decodes lines into batches of `schema` through a [`LineFormat`], or its fallback.
pub(crate) struct LineDecoder<F> {
    schema: SchemaRef,
    batch_size: usize,
    columns: Vec<Column>,
    rows: usize,
    /// The start of a line whose end has not arrived yet.
    carry: Vec<u8>,
    mode: Mode,
    counts: RowCounts,
    format: F,
}

impl<F> fmt::Debug for LineDecoder<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineDecoder")
            .field("rows", &self.rows)
            .field("fast", &matches!(self.mode, Mode::Fast))
            .finish()
    }
}

impl<F: LineFormat> LineDecoder<F> {
    /// `columns`: one per field of `schema`, or `None` where the fast path cannot build them all (the fallback
    /// then decodes everything).
    pub(crate) fn new(
        schema: SchemaRef,
        batch_size: usize,
        columns: Option<Vec<Column>>,
        mut format: F,
    ) -> Result<Self, ArrowError> {
        let batch_size = batch_size.max(1);
        let (columns, mode) = match columns {
            Some(columns) => (columns, Mode::Fast),
            None => (
                Vec::new(),
                Mode::Fallback {
                    decoder: format.fallback(batch_size)?,
                    pending: Vec::new(),
                    fed: 0,
                },
            ),
        };
        Ok(LineDecoder {
            schema,
            batch_size,
            columns,
            rows: 0,
            carry: Vec::new(),
            mode,
            counts: RowCounts::default(),
            format,
        })
    }

    /// Counts the rows each decoder produces into `counts`.
    pub(crate) fn counting(self, counts: RowCounts) -> Self {
        LineDecoder { counts, ..self }
    }

    /// Whether every line so far was decoded by the fast path.
    #[cfg(test)]
    pub(crate) fn is_fast(&self) -> bool {
        matches!(self.mode, Mode::Fast)
    }

    fn line(&mut self, line: &[u8]) -> Step {
        if self.format.line(&mut self.columns, self.rows, line)? {
            self.rows += 1;
        }
        Ok(())
    }

    /// Hands the rest of the input, starting with `pending`, to the fallback.
    fn give_up(&mut self, pending: Vec<u8>) -> Result<(), ArrowError> {
        self.mode = Mode::Fallback {
            decoder: self.format.fallback(self.batch_size)?,
            pending,
            fed: 0,
        };
        Ok(())
    }

    fn decode_fast(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        let mut pos = 0;
        if !self.carry.is_empty() {
            if self.rows >= self.batch_size {
                return Ok(0);
            }
            match memchr::memchr(b'\n', buf) {
                None if buf.is_empty() => {
                    // The input ended: the carried bytes are its last line.
                    let line = std::mem::take(&mut self.carry);
                    if self.line(&line).is_err() {
                        self.give_up(line)?;
                    }
                    return Ok(0);
                }
                None => {
                    self.carry.extend_from_slice(buf);
                    return Ok(buf.len());
                }
                Some(nl) => {
                    self.carry.extend_from_slice(&buf[..nl]);
                    let mut line = std::mem::take(&mut self.carry);
                    if self.line(&line).is_err() {
                        line.push(b'\n');
                        self.give_up(line)?;
                        return Ok(nl + 1);
                    }
                    self.carry = line;
                    self.carry.clear();
                    pos = nl + 1;
                }
            }
        }
        while self.rows < self.batch_size {
            let rest = &buf[pos..];
            match memchr::memchr(b'\n', rest) {
                Some(nl) => {
                    if self.line(&rest[..nl]).is_err() {
                        self.give_up(Vec::new())?;
                        return Ok(pos);
                    }
                    pos += nl + 1;
                }
                None => {
                    self.carry.extend_from_slice(rest);
                    return Ok(buf.len());
                }
            }
        }
        Ok(pos)
    }

    fn batch(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns = self
            .columns
            .iter_mut()
            .map(Column::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.counts.fast_path.add(self.rows);
        self.rows = 0;
        self.format.batch_taken();
        RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)
    }
}

impl<F: LineFormat> Decoder for LineDecoder<F> {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        match &mut self.mode {
            Mode::Fast => self.decode_fast(buf),
            Mode::Fallback {
                decoder,
                pending,
                fed,
            } => {
                // The fast path's rows come first, as a batch of their own.
                if self.rows > 0 {
                    return Ok(0);
                }
                if *fed < pending.len() {
                    *fed += decoder.decode(&pending[*fed..])?;
                    if *fed < pending.len() {
                        return Ok(0);
                    }
                    *pending = Vec::new();
                    *fed = 0;
                }
                decoder.decode(buf)
            }
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rows > 0 {
            return self.batch().map(Some);
        }
        match &mut self.mode {
            Mode::Fast => Ok(None),
            Mode::Fallback { decoder, .. } => {
                let batch = decoder.flush()?;
                if let Some(b) = &batch {
                    self.counts.fallback.add(b.num_rows());
                }
                Ok(batch)
            }
        }
    }

    fn can_flush_early(&self) -> bool {
        false
    }
}

/// For the decoders' tests: `input` through `decoder` the way a scan feeds it (DataFusion's deserializer), in
/// pieces cut at `cuts`, concatenated as `schema`; and whether the fast path decoded all of it.
#[cfg(test)]
pub(crate) fn decode_in_pieces<F: LineFormat + 'static>(
    decoder: LineDecoder<F>,
    schema: &SchemaRef,
    input: &[u8],
    cuts: &[usize],
) -> (Result<RecordBatch, ArrowError>, bool) {
    /// Records whether the decoder stayed on its fast path.
    struct Probe<F> {
        inner: LineDecoder<F>,
        fast: Arc<std::sync::atomic::AtomicBool>,
    }

    impl<F> fmt::Debug for Probe<F> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            self.inner.fmt(f)
        }
    }

    impl<F: LineFormat> Decoder for Probe<F> {
        fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
            let n = self.inner.decode(buf);
            if !self.inner.is_fast() {
                self.fast.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            n
        }
        fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
            self.inner.flush()
        }
        fn can_flush_early(&self) -> bool {
            false
        }
    }

    let mut pieces = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    for c in cuts.into_iter().chain([input.len()]) {
        if c > at {
            pieces.push(Ok(Bytes::copy_from_slice(&input[at..c])));
            at = c;
        }
    }
    let fast = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe = Probe {
        inner: decoder,
        fast: Arc::clone(&fast),
    };
    let stream = deserialize_stream(
        futures::stream::iter(pieces),
        DecoderDeserializer::new(probe),
    );
    let batches: Result<Vec<RecordBatch>, ArrowError> =
        futures::executor::block_on(stream.try_collect());
    let batches = batches.and_then(|b| arrow::compute::concat_batches(schema, &b));
    (batches, fast.load(std::sync::atomic::Ordering::Relaxed))
}

/// For the decoders' tests: the places to cut an input of `n` bytes at — nowhere, everywhere, a few, every 7th.
#[cfg(test)]
pub(crate) fn cut_sets(n: usize) -> Vec<Vec<usize>> {
    vec![
        vec![],
        (1..n).collect(),
        vec![n / 3, n / 2, n - n / 4],
        (0..n).step_by(7).collect(),
    ]
}
