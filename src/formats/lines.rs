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
use datafusion::physical_plan::metrics::Count;
use datafusion_datasource::decoder::Decoder;
use std::fmt;
use std::sync::Arc;

use super::columns::{Column, Step};
#[cfg(test)]
use bytes::Bytes;
#[cfg(test)]
use datafusion_datasource::decoder::{DecoderDeserializer, deserialize_stream};
#[cfg(test)]
use futures::TryStreamExt;

/// The longest line (row) read: Athena's limit on a row's size, 32 MB. Past it a scan fails, naming the file,
/// instead of buffering a file with no line breaks whole (a binary file registered as text, a gzip bomb).
pub(crate) const MAX_LINE_BYTES: usize = 32 << 20;

fn line_too_long() -> ArrowError {
    ArrowError::ParseError(format!(
        "a line longer than {} MiB, Athena's limit on a row's size: the file is not text of this format, \
         or its rows are not separated by line breaks",
        MAX_LINE_BYTES >> 20
    ))
}

/// The rows each decoder produced, shown by `EXPLAIN ANALYZE` (`json_rows_fast_path`, `csv_rows_arrow_csv`...).
#[derive(Debug, Clone, Default)]
pub struct RowCounts {
    pub fast_path: Count,
    pub fallback: Count,
}

/// A CSV file's dialect, where owl's decoder reads it: one-byte delimiter and quote, quotes doubled inside
/// quoted fields, no escape character or comments, records ending in `\n` or `\r\n`.
#[derive(Debug, Clone)]
pub struct CsvDialect {
    pub delimiter: u8,
    pub quote: u8,
    pub has_header: bool,
    /// A field whose text is this is NULL (LazySimpleSerDe's `serialization.null.format`). Without it an
    /// unquoted empty field is NULL and a quoted one, `""`, an empty string in a text column; with it, as in
    /// Hive, an empty field in a text column is an empty string however it is written (in other columns NULL).
    pub null: Option<Arc<str>>,
    /// Quoted fields may hold line breaks: files are read whole, never in byte ranges (a range's first line
    /// could start inside quotes). A record with one goes to arrow-csv with the rest of its file.
    pub whole_files: bool,
    /// owl's decoder in front of arrow-csv (`owl.csv_fast_path`); false, arrow-csv alone.
    pub fast: bool,
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
    /// Bytes handed to the fallback since its input's last line break ([`MAX_LINE_BYTES`]).
    since_break: usize,
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
            since_break: 0,
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
                    if self.carry.len() + buf.len() > MAX_LINE_BYTES {
                        return Err(line_too_long());
                    }
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
                    if rest.len() > MAX_LINE_BYTES {
                        return Err(line_too_long());
                    }
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
                let taken = decoder.decode(buf)?;
                self.since_break = match memchr::memrchr(b'\n', &buf[..taken]) {
                    Some(at) => taken - at - 1,
                    None => self.since_break + taken,
                };
                if self.since_break > MAX_LINE_BYTES {
                    return Err(line_too_long());
                }
                Ok(taken)
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

/// A schema of nullable fields, for the decoders' tests.
#[cfg(test)]
pub(crate) fn schema(fields: &[(&str, arrow::datatypes::DataType)]) -> SchemaRef {
    use arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = fields
        .iter()
        .map(|(n, t)| Field::new(*n, t.clone(), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A field of every type the fast paths decode, for the decoders' tests; with `large_utf8`, a `LargeUtf8`
/// field `lt` before the last (arrow-json reads it, arrow-csv's reader does not).
#[cfg(test)]
pub(crate) fn every_type(large_utf8: bool) -> SchemaRef {
    use arrow::datatypes::{DataType, TimeUnit};
    let mut fields = vec![
        ("i", DataType::Int64),
        ("s", DataType::Int16),
        ("u", DataType::UInt8),
        ("f", DataType::Float64),
        ("g", DataType::Float32),
        ("d", DataType::Decimal128(10, 2)),
        ("day", DataType::Date32),
        ("ts", DataType::Timestamp(TimeUnit::Millisecond, None)),
        (
            "tz",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+02:00".into())),
        ),
        ("b", DataType::Boolean),
        ("t", DataType::Utf8),
    ];
    if large_utf8 {
        fields.push(("lt", DataType::LargeUtf8));
    }
    fields.push(("v", DataType::Utf8View));
    schema(&fields)
}
