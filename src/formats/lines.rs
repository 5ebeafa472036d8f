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

/// The longest line (row) read: Athena's limit on a row's size, 32 MB. Past it a scan fails, naming the file,
/// instead of buffering a file with no line breaks whole (a binary file registered as text, a gzip bomb).
pub(crate) const MAX_LINE_BYTES: usize = 32 << 20;

pub(crate) fn line_too_long() -> ArrowError {
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
    /// Whether the input ended (DataFusion's deserializer decodes an empty buffer once, at the end).
    ended: bool,
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
            ended: false,
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

    /// The last flush, once the input ended with the fallback decoding: the fast path's rows, the bytes the
    /// fallback was not fed yet, and what the fallback holds, in one batch. DataFusion's deserializer flushes
    /// once after the input's end and stops at the first batch, so rows left for a second flush were lost: a
    /// last line without a line break that the fast path handed on (a truncated record, whose error is now
    /// the fallback's) disappeared with the rows before it.
    fn flush_at_end(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let mut batches = Vec::new();
        if self.rows > 0 {
            batches.push(self.batch()?);
        }
        let Mode::Fallback {
            decoder,
            pending,
            fed,
        } = &mut self.mode
        else {
            return Ok(batches.pop());
        };
        let mut fallback = Vec::new();
        while *fed < pending.len() {
            let taken = decoder.decode(&pending[*fed..])?;
            *fed += taken;
            if taken == 0 {
                // A full batch: it takes more once flushed.
                match decoder.flush()? {
                    Some(batch) => fallback.push(batch),
                    None => break,
                }
            }
        }
        *pending = Vec::new();
        *fed = 0;
        // The end of input, for a fallback that finishes a record on it (arrow-csv).
        decoder.decode(&[])?;
        fallback.extend(decoder.flush()?);
        for b in &fallback {
            self.counts.fallback.add(b.num_rows());
        }
        batches.extend(fallback);
        match batches.len() {
            0 => Ok(None),
            1 => Ok(batches.pop()),
            _ => arrow::compute::concat_batches(&self.schema, &batches).map(Some),
        }
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
        self.ended |= buf.is_empty();
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
        if self.ended && matches!(self.mode, Mode::Fallback { .. }) {
            return self.flush_at_end();
        }
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
