//! CSV scans: a decoder for plain records in front of arrow-csv.
//!
//! DataFusion reads CSV with arrow-csv, which runs every byte of every record through csv-core's state machine,
//! copies every field of it (those the query reads and all the others) into a buffer, and then parses the
//! projected fields from there: csv-core alone was 63% of TPC-H q6's CPU time on CSV. [`CsvLines`] finds a
//! record's separators (its delimiters outside quotes) sixty-four bytes at a time as bit masks (SSE2 compares,
//! quotes paired by a prefix XOR, as simdjson finds strings), checks its quotes and field count in the same
//! pass, parses the projected fields straight into their columns with the parsers arrow-csv uses
//! (`Parser::parse`, `parse_decimal`, `string_to_datetime`; an empty field is null), and steps over the others:
//! past the last projected field, separators are only counted.
//!
//! It decodes only records it reads exactly as arrow-csv would; a record with a quote inside an unquoted field,
//! text after a closing quote, a quoted line break, a lone `\r`, invalid UTF-8, the wrong number of fields or a
//! value its type does not parse goes, with the rest of the range, to arrow-csv, so such input gives the rows
//! or the error (with its line number) arrow-csv alone gives. A table with an escape character, or a projected
//! type the decoder does not build, is read by arrow-csv from the start. `SET owl.csv_fast_path = false` reads
//! every CSV table with arrow-csv alone.

use arrow::array::ArrayRef;
use arrow::array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow::compute::kernels::cast_utils::{Parser, parse_decimal};
use arrow::datatypes::{ArrowPrimitiveType, DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use chrono::Utc;
use std::sync::Arc;

use super::columns::{Column, Kind, Step, Unhandled, Values, timestamp};
use super::lines::{CsvDialect, Fallback, LineDecoder, LineFormat};

/// The decoder of `projection` (indices into `file_schema`) from CSV in `dialect`.
pub(crate) fn csv_decoder(
    file_schema: SchemaRef,
    projection: Vec<usize>,
    dialect: CsvDialect,
    batch_size: usize,
) -> Result<LineDecoder<CsvLines>, ArrowError> {
    let schema = Arc::new(file_schema.project(&projection)?);
    let mut columns = Vec::with_capacity(projection.len());
    for field in schema.fields() {
        // arrow-csv reads no LargeUtf8: such a table fails there, as it does without owl's decoder.
        match Kind::of(field)?.filter(|k| !matches!(k, Kind::LargeUtf8)) {
            Some(kind) => columns.push(Column::new(kind)),
            None => break,
        }
    }
    let fast = dialect.fast && columns.len() == projection.len();
    let fields = file_schema.fields().len();
    let mut wanted: Vec<(usize, usize)> = projection.iter().copied().zip(0..).collect();
    wanted.sort_unstable();
    let format = CsvLines {
        file_schema,
        projection,
        fields,
        wanted,
        dialect,
        records: 0,
        scratch: Vec::new(),
        marks: Vec::new(),
    };
    LineDecoder::new(schema, batch_size, fast.then_some(columns), format)
}

/// CSV records, one a line.
pub(crate) struct CsvLines {
    file_schema: SchemaRef,
    projection: Vec<usize>,
    /// How many fields a record has.
    fields: usize,
    /// The projected fields, in record order: (field, column).
    wanted: Vec<(usize, usize)>,
    /// `has_header`: a header still to skip.
    dialect: CsvDialect,
    /// Records taken so far (a header included): arrow-csv, taking over, counts its line numbers from there.
    records: usize,
    /// A quoted field's text with its doubled quotes undone.
    scratch: Vec<u8>,
    /// The positions of a record's field separators.
    marks: Vec<u32>,
}

impl LineFormat for CsvLines {
    fn line(&mut self, columns: &mut [Column], rows: usize, line: &[u8]) -> Step<bool> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // csv-core skips blank lines.
            return Ok(false);
        }
        if u32::try_from(line.len()).is_err() {
            return Err(Unhandled);
        }
        let header = self.dialect.has_header;
        match self.fields(columns, line, header) {
            Ok(()) => {
                self.records += 1;
                self.dialect.has_header = false;
                Ok(!header)
            }
            Err(e) => {
                for column in columns.iter_mut() {
                    column.truncate(rows);
                }
                Err(e)
            }
        }
    }

    fn fallback(&mut self, batch_size: usize) -> Result<Box<dyn Fallback>, ArrowError> {
        let mut builder = arrow::csv::ReaderBuilder::new(Arc::clone(&self.file_schema))
            .with_delimiter(self.dialect.delimiter)
            .with_quote(self.dialect.quote)
            .with_header(self.dialect.has_header)
            .with_batch_size(batch_size)
            .with_projection(self.projection.clone());
        if let Some(null) = &self.dialect.null {
            // An empty field stays NULL too, as the fast path reads it.
            let exactly = regex::Regex::new(&format!("^(?:|{})$", regex::escape(null)))
                .map_err(|e| ArrowError::InvalidArgumentError(e.to_string()))?;
            builder = builder.with_null_regex(exactly);
        }
        let decoder = builder.build_decoder();
        // The projected text fields, by field: arrow-csv reads their `""` as NULL, which `QuotedEmpty` undoes.
        let mut texts = vec![None; self.fields];
        for &(field, column) in &self.wanted {
            let ty = self.file_schema.field(field).data_type();
            if matches!(
                ty,
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) {
                texts[field] = Some(column);
            }
        }
        let quoted_empty = texts.iter().any(Option::is_some).then(|| {
            QuotedEmpty::new(
                self.dialect.delimiter,
                self.dialect.quote,
                usize::from(self.dialect.has_header),
                texts,
                // With a NULL text of its own (LazySimpleSerDe), an empty field is an empty string too.
                self.dialect.null.is_some(),
            )
        });
        Ok(Box::new(CsvFallback {
            decoder,
            lines_before: self.records,
            quoted_empty,
        }))
    }
}

impl CsvLines {
    /// The fields of one record; the projected ones appended to their columns (none for a header).
    fn fields(&mut self, columns: &mut [Column], bytes: &[u8], header: bool) -> Step {
        let CsvLines {
            fields,
            wanted,
            dialect,
            scratch,
            marks,
            ..
        } = self;
        let quote = dialect.quote;
        // Separators up to the last projected field's end; beyond it only counted.
        let limit = wanted.last().map_or(0, |&(field, _)| field + 1);
        let scan = separators(bytes, dialect.delimiter, quote, limit, marks);
        // arrow-csv rejects invalid UTF-8 in any field.
        if !scan.valid || (!scan.ascii && std::str::from_utf8(bytes).is_err()) {
            return Err(Unhandled);
        }
        if scan.separators + 1 != *fields {
            return Err(Unhandled);
        }
        if header {
            return Ok(());
        }
        for &(field, column) in wanted.iter() {
            let start = field
                .checked_sub(1)
                .and_then(|before| marks.get(before))
                .map_or(0, |&d| d as usize + 1);
            let end = marks.get(field).map_or(bytes.len(), |&d| d as usize);
            let raw = &bytes[start..end];
            if dialect.null.as_deref().is_some_and(|n| n.as_bytes() == raw) {
                columns[column].push_null();
                continue;
            }
            let inner = match raw.first() {
                // Quoted: `separators` saw that it ends with its closing quote.
                Some(&b) if b == quote => raw[1..].strip_suffix(&[quote]).ok_or(Unhandled)?,
                _ => raw,
            };
            // `""` is an empty string where the column holds text; an unquoted empty field is NULL, unless the
            // table names its NULL text (LazySimpleSerDe: then only that text is NULL in a text column).
            let empty_text =
                (raw.len() == 2 && inner.is_empty()) || (raw.is_empty() && dialect.null.is_some());
            if empty_text && columns[column].push_empty_text() {
                continue;
            }
            if raw.len() != inner.len() && memchr::memchr(quote, inner).is_some() {
                // Each quote inside is the first of a doubled pair.
                scratch.clear();
                let mut rest = inner;
                while let Some(q) = memchr::memchr(quote, rest) {
                    scratch.extend_from_slice(&rest[..=q]);
                    rest = rest.get(q + 2..).ok_or(Unhandled)?;
                }
                scratch.extend_from_slice(rest);
                columns[column].push_field(text(scratch)?)?;
            } else {
                // Cut at ASCII bytes of valid UTF-8.
                columns[column].push_field(text(inner)?)?;
            }
        }
        Ok(())
    }
}

/// A field's bytes as text (cut from a line of valid UTF-8 at ASCII bytes, or undoubled: valid again).
fn text(bytes: &[u8]) -> Step<&str> {
    std::str::from_utf8(bytes).map_err(|_| Unhandled)
}

/// What [`separators`] saw of a record besides the positions it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scan {
    /// Every byte below 0x80: valid UTF-8, cut anywhere.
    ascii: bool,
    /// Every quote where this decoder reads a record as csv-core does: a quoted field opens at the field's
    /// start, closes before its delimiter or the line's end, and doubles each quote inside; no `\r` (one ends
    /// a record for csv-core).
    valid: bool,
    /// How many separators: the record has one field more.
    separators: usize,
}

/// The positions of a record's first `limit` field separators (its delimiters outside quotes), in order, into
/// `out`; the others are only counted.
///
/// Sixty-four bytes at a time as bit masks, as simdjson finds strings: a quote's bit flips "inside quotes" for
/// the bytes after it (a prefix XOR), so a doubled quote flips it twice; a delimiter inside quotes is no
/// separator. An opening quote must follow a separator, the line's start or a closing quote (a doubled pair);
/// a closing quote must come before a separator, the line's end or an opening quote.
fn separators(line: &[u8], delimiter: u8, quote: u8, limit: usize, out: &mut Vec<u32>) -> Scan {
    out.clear();
    let mut walk = Walk {
        limit,
        separators: 0,
        inside: 0,
        after_separator_or_close: 1,
        after_close: 0,
        bad: 0,
        high: 0,
    };
    let (blocks, rest) = line.as_chunks::<64>();
    let mut base = 0u32;
    for block in blocks {
        walk.block(masks(block, delimiter, quote), base, u64::MAX, out);
        base += 64;
    }
    if !rest.is_empty() {
        let mut last = [0u8; 64];
        last[..rest.len()].copy_from_slice(rest);
        let keep = (1u64 << rest.len()) - 1;
        walk.block(masks(&last, delimiter, quote), base, keep, out);
    }
    Scan {
        ascii: walk.high == 0,
        valid: walk.bad == 0 && walk.inside == 0,
        separators: walk.separators,
    }
}

/// [`separators`]' state from one block to the next: bit 0 of each `after_` mask is the first byte of the next
/// block.
struct Walk {
    limit: usize,
    separators: usize,
    /// All ones inside quotes after the last block, else zero.
    inside: u64,
    after_separator_or_close: u64,
    after_close: u64,
    bad: u64,
    high: u64,
}

impl Walk {
    fn block(&mut self, m: Masks, base: u32, keep: u64, out: &mut Vec<u32>) {
        let (quote, delimiter) = (m.quote & keep, m.delimiter & keep);
        // Bit i: inside quotes after byte i (an opening quote is inside, a closing one outside).
        let mut inside = quote;
        for shift in [1, 2, 4, 8, 16, 32] {
            inside ^= inside << shift;
        }
        inside ^= self.inside;
        self.inside = 0u64.wrapping_sub(inside >> 63);
        let separator = delimiter & !inside;
        let (open, close) = (quote & inside, quote & !inside);
        self.bad |= m.cr & keep;
        self.high |= m.high & keep;
        self.bad |= open & !((separator | close) << 1 | self.after_separator_or_close);
        self.bad |= (close << 1 | self.after_close) & !(separator | open) & keep;
        self.after_separator_or_close = (separator | close) >> 63;
        self.after_close = close >> 63;
        self.separators += separator.count_ones() as usize;
        let mut bits = separator;
        while bits != 0 && out.len() < self.limit {
            out.push(base + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
}

/// Bit i set where byte i of a 64-byte block is the delimiter, a quote, a `\r`, or at least 0x80.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Masks {
    delimiter: u64,
    quote: u64,
    cr: u64,
    high: u64,
}

#[cfg(target_arch = "x86_64")]
fn masks(block: &[u8; 64], delimiter: u8, quote: u8) -> Masks {
    // SAFETY: SSE2 is part of x86-64 itself: every CPU this build runs on has it.
    unsafe { masks_sse2(block, delimiter, quote) }
}

/// [`masks`] sixteen bytes a compare (SSE2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn masks_sse2(block: &[u8; 64], delimiter: u8, quote: u8) -> Masks {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let [d, q, r] = [delimiter, quote, b'\r'].map(|b| _mm_set1_epi8(b as i8));
    let mut m = Masks::default();
    for (i, part) in block.as_chunks::<16>().0.iter().enumerate() {
        // SAFETY: `part` is 16 readable bytes; the load has no alignment requirement.
        let v = unsafe { _mm_loadu_si128(part.as_ptr().cast()) };
        let shift = 16 * i;
        let bits = |x| u64::from(_mm_movemask_epi8(x) as u16) << shift;
        m.delimiter |= bits(_mm_cmpeq_epi8(v, d));
        m.quote |= bits(_mm_cmpeq_epi8(v, q));
        m.cr |= bits(_mm_cmpeq_epi8(v, r));
        m.high |= bits(v);
    }
    m
}

/// [`masks`] eight bytes at a time in a `u64`, where there is no SSE2: exact per-byte equality, then each
/// byte's top bit gathered into one byte by a multiply.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn masks_swar(block: &[u8; 64], delimiter: u8, quote: u8) -> Masks {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // 0x80 in each byte of `x` that is zero, nothing elsewhere.
    let zeros = |x: u64| !((((x & LOW7).wrapping_add(LOW7)) | x) | LOW7);
    // The top bits of the eight bytes, as eight bits.
    let gather = |x: u64| (x & !LOW7).wrapping_mul(0x0002_0408_1020_4081) >> 56;
    let [d, q, r] = [delimiter, quote, b'\r'].map(|b| ONES * u64::from(b));
    let mut m = Masks::default();
    for (i, word) in block.as_chunks::<8>().0.iter().enumerate() {
        let w = u64::from_le_bytes(*word);
        let shift = 8 * i;
        m.delimiter |= gather(zeros(w ^ d)) << shift;
        m.quote |= gather(zeros(w ^ q)) << shift;
        m.cr |= gather(zeros(w ^ r)) << shift;
        m.high |= gather(w) << shift;
    }
    m
}

#[cfg(not(target_arch = "x86_64"))]
use masks_swar as masks;

fn parse<T: ArrowPrimitiveType + Parser>(text: &str) -> Step<T::Native> {
    T::parse(text).ok_or(Unhandled)
}

/// arrow-csv's booleans.
fn parse_bool(text: &str) -> Step<bool> {
    if text.eq_ignore_ascii_case("false") {
        Ok(false)
    } else if text.eq_ignore_ascii_case("true") {
        Ok(true)
    } else {
        Err(Unhandled)
    }
}

impl Column {
    /// A field's text, parsed as arrow-csv parses it for this type; empty is null.
    pub(crate) fn push_field(&mut self, text: &str) -> Step {
        if text.is_empty() {
            self.push_null();
            return Ok(());
        }
        match (&self.kind, &mut self.values) {
            (Kind::Int(t), Values::I64(v)) => v.push(match t {
                DataType::Int8 => i64::from(parse::<Int8Type>(text)?),
                DataType::Int16 => i64::from(parse::<Int16Type>(text)?),
                DataType::Int32 => i64::from(parse::<Int32Type>(text)?),
                _ => parse::<Int64Type>(text)?,
            }),
            (Kind::UInt(t), Values::U64(v)) => v.push(match t {
                DataType::UInt8 => u64::from(parse::<UInt8Type>(text)?),
                DataType::UInt16 => u64::from(parse::<UInt16Type>(text)?),
                DataType::UInt32 => u64::from(parse::<UInt32Type>(text)?),
                _ => parse::<UInt64Type>(text)?,
            }),
            (Kind::Float32, Values::F32(v)) => v.push(parse::<Float32Type>(text)?),
            (Kind::Float64, Values::F64(v)) => v.push(parse::<Float64Type>(text)?),
            (Kind::Decimal128(p, s), Values::I128(v)) => {
                v.push(parse_decimal::<Decimal128Type>(text, *p, *s).map_err(|_| Unhandled)?)
            }
            (Kind::Date32, Values::I32(v)) => v.push(parse::<Date32Type>(text)?),
            (Kind::Timestamp(unit, tz, _), Values::I64(v)) => v.push(match tz {
                Some(tz) => timestamp(tz, *unit, text)?,
                None => timestamp(&Utc, *unit, text)?,
            }),
            (Kind::Boolean, Values::Bool(v)) => v.push(parse_bool(text)?),
            (Kind::Utf8 | Kind::Utf8View, Values::Text { ends, bytes }) => {
                bytes.extend_from_slice(text.as_bytes());
                ends.push(bytes.len());
            }
            _ => return Err(Unhandled),
        }
        self.valid.push(true);
        Ok(())
    }
}

/// arrow-csv taking over after `lines_before` records: its line numbers, counted from where it starts, are
/// shifted to count from the range's start, as they would be had it read all of it; its NULLs from fields
/// written `""` in text columns are made empty strings again, as the fast path reads them.
struct CsvFallback {
    decoder: arrow::csv::reader::Decoder,
    lines_before: usize,
    quoted_empty: Option<QuotedEmpty>,
}

impl CsvFallback {
    fn shifted(&self, e: ArrowError) -> ArrowError {
        match e {
            ArrowError::CsvError(m) => ArrowError::CsvError(shift_line(&m, self.lines_before)),
            ArrowError::ParseError(m) => ArrowError::ParseError(shift_line(&m, self.lines_before)),
            e => e,
        }
    }
}

impl Fallback for CsvFallback {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        let taken = self.decoder.decode(buf).map_err(|e| self.shifted(e))?;
        if let Some(q) = &mut self.quoted_empty {
            // The same bytes arrow-csv took (an empty buffer is the end of the input, for both).
            q.feed(&buf[..taken], buf.is_empty());
        }
        Ok(taken)
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let batch = self.decoder.flush().map_err(|e| self.shifted(e))?;
        match (batch, &mut self.quoted_empty) {
            (Some(b), Some(q)) => q.patch(b).map(Some),
            (batch, _) => Ok(batch),
        }
    }
}

/// Which text fields of the records arrow-csv decodes were written `""`: arrow-csv sees a field's text without
/// its quotes, so it reads them as NULL like an unquoted empty field. A second csv-core parser, configured as
/// arrow-csv's and fed exactly the bytes arrow-csv took, splits the same records; a field that came out empty
/// though quotes were consumed for it was `""`.
struct QuotedEmpty {
    parser: csv_core::Reader,
    quote: u8,
    /// The batch column of each projected text field, by field.
    texts: Vec<Option<usize>>,
    /// Records still to skip (a header arrow-csv skips too).
    skip: usize,
    /// The field being read: its index, whether it wrote text, whether a quote was consumed for it.
    field: usize,
    wrote: bool,
    quoted: bool,
    /// The columns of the record being read whose field was `""`.
    record: Vec<usize>,
    /// Complete records not yet in a batch, and their `(row, column)` fields written `""`.
    records: usize,
    found: Vec<(usize, usize)>,
    /// Where csv-core writes a field's text (only whether it wrote any matters).
    out: [u8; 64],
    /// Unquoted empty fields are empty strings too (the table names its NULL text).
    unquoted: bool,
}

impl QuotedEmpty {
    fn new(
        delimiter: u8,
        quote: u8,
        skip: usize,
        texts: Vec<Option<usize>>,
        unquoted: bool,
    ) -> Self {
        let parser = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .build();
        QuotedEmpty {
            parser,
            quote,
            texts,
            skip,
            field: 0,
            wrote: false,
            quoted: false,
            record: Vec::new(),
            records: 0,
            found: Vec::new(),
            out: [0; 64],
            unquoted,
        }
    }

    /// Parses `bytes`; `end`: the input ended (arrow-csv's last record has no line break).
    fn feed(&mut self, mut bytes: &[u8], end: bool) {
        use csv_core::ReadFieldResult;
        // csv-core reads an empty input as the end of the input: only give it one then.
        while !bytes.is_empty() || end {
            let (result, taken, wrote) = self.parser.read_field(bytes, &mut self.out);
            self.quoted |= memchr::memchr(self.quote, &bytes[..taken]).is_some();
            self.wrote |= wrote > 0;
            bytes = &bytes[taken..];
            match result {
                ReadFieldResult::InputEmpty if !end => return,
                ReadFieldResult::InputEmpty | ReadFieldResult::OutputFull => {}
                ReadFieldResult::Field { record_end } => {
                    if (self.quoted || self.unquoted)
                        && !self.wrote
                        && let Some(&Some(column)) = self.texts.get(self.field)
                    {
                        self.record.push(column);
                    }
                    (self.field, self.wrote, self.quoted) = (self.field + 1, false, false);
                    if record_end {
                        if self.skip > 0 {
                            self.skip -= 1;
                        } else {
                            let row = self.records;
                            self.found.extend(self.record.iter().map(|&c| (row, c)));
                            self.records += 1;
                        }
                        self.record.clear();
                        self.field = 0;
                    }
                }
                ReadFieldResult::End => return,
            }
        }
    }

    /// `batch` (arrow-csv's next records) with its fields written `""` as empty strings.
    fn patch(&mut self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let rows = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        let mut cells: Vec<(usize, usize)> = Vec::new();
        self.found.retain_mut(|(row, column)| {
            if *row < rows {
                cells.push((*column, *row));
                false
            } else {
                *row -= rows;
                true
            }
        });
        self.records = self.records.saturating_sub(rows);
        cells.sort_unstable();
        for group in cells.chunk_by(|a, b| a.0 == b.0) {
            let column = group[0].0;
            let empty: Vec<usize> = group.iter().map(|&(_, row)| row).collect();
            columns[column] = empty_strings(&columns[column], &empty)?;
        }
        let rows = arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(batch.schema(), columns, &rows)
    }
}

/// `array` (text) with the NULLs at `rows` (ascending) made empty strings.
pub(crate) fn empty_strings(array: &ArrayRef, rows: &[usize]) -> Result<ArrayRef, ArrowError> {
    use arrow::array::{AsArray, LargeStringArray, StringArray, StringViewArray};
    fn filled<'a>(
        values: impl Iterator<Item = Option<&'a str>>,
        rows: &[usize],
    ) -> impl Iterator<Item = Option<&'a str>> {
        let mut at = rows.iter().copied().peekable();
        values.enumerate().map(move |(i, v)| match v {
            None if at.next_if_eq(&i).is_some() => Some(""),
            v => v,
        })
    }
    Ok(match array.data_type() {
        DataType::Utf8 => Arc::new(StringArray::from_iter(filled(
            array.as_string::<i32>().iter(),
            rows,
        ))),
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter(filled(
            array.as_string::<i64>().iter(),
            rows,
        ))),
        DataType::Utf8View => Arc::new(StringViewArray::from_iter(filled(
            array.as_string_view().iter(),
            rows,
        ))),
        _ => Arc::clone(array),
    })
}

/// `message` with the number after its first "line " increased by `by`.
fn shift_line(message: &str, by: usize) -> String {
    let Some(at) = message.find("line ").map(|i| i + 5) else {
        return message.to_string();
    };
    let digits = message[at..].bytes().take_while(u8::is_ascii_digit).count();
    match message[at..at + digits].parse::<usize>() {
        Ok(n) if by > 0 => format!("{}{}{}", &message[..at], n + by, &message[at + digits..]),
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::oracle::{
        csv_decoded as decoded, csv_reference as reference, csv_same as same, cut_sets, every_type,
        schema,
    };
    use proptest::prelude::*;

    #[test]
    fn plain_and_quoted_records_decode_as_arrow_csv_decodes_them() {
        let s = every_type(false);
        let all: Vec<usize> = (0..12).collect();
        let input = "i,s,u,f,g,d,day,ts,tz,b,t,v\n\
            1,-2,3,1.5,2.25,12.3,2024-02-29,2024-01-02T03:04:05.678Z,2024-01-02 03:04:05,true,plain,\"a view longer than twelve\"\r\n\
            ,,,,,,,,,,,\n\
            \n\
            -9223372036854775808,32767,255,1e300,-0.0,-0.5,1970-01-01,2024-01-02 03:04:05,2024-01-02T03:04:05+05:00,FALSE,\"quoted, with \"\"quotes\"\" and, commas\",\"\"\n\
            9223372036854775807,0,0,NaN,inf,99999999.99,2038-01-19,2024-01-02,2024-01-02,True,ünïcode 日本,\"é\"\n\
            5,5,5,5,5,5,2024-06-01,2024-06-01T00:00:00,2024-06-01T00:00:00,false,\"\",x";
        assert!(same(&s, &all, true, input));
        assert!(same(&s, &[10, 0, 5], true, input));
        assert!(same(&s, &[], true, input));
        let no_header = input.split_once('\n').unwrap().1;
        assert!(same(&s, &all, false, no_header));
        assert!(same(&s, &[3], false, no_header));
    }

    #[test]
    fn a_quoted_empty_field_is_an_empty_string_and_an_unquoted_one_null() {
        use arrow::array::{Array, AsArray};
        let s = schema(&[
            ("i", DataType::Int64),
            ("t", DataType::Utf8),
            ("v", DataType::Utf8View),
        ]);
        // The fast path alone; then arrow-csv from a quoted line break on, in batches of one and of all.
        let cases = [
            (
                "1,\"\",\n2,,\"\"\n\"\",x,y\n",
                [Some(""), None, Some("x")],
                [None, Some(""), Some("y")],
            ),
            (
                "1,\"\",\n2,\"a\nb\",\"\"\r\n\"\",,\"\"",
                [Some(""), Some("a\nb"), None],
                [None, Some(""), Some("")],
            ),
        ];
        for (input, t, v) in cases {
            for batch_size in [1, 8192] {
                for cuts in cut_sets(input.len()) {
                    let (got, _) =
                        decoded(&s, &[0, 1, 2], false, input.as_bytes(), &cuts, batch_size);
                    let got = got.unwrap();
                    let ints: Vec<Option<i64>> =
                        got.column(0).as_primitive::<Int64Type>().iter().collect();
                    assert_eq!(ints, [Some(1), Some(2), None], "{input:?}");
                    let texts: Vec<_> = got.column(1).as_string::<i32>().iter().collect();
                    assert_eq!(texts, t, "{input:?} {batch_size} {cuts:?}");
                    let views: Vec<_> = got.column(2).as_string_view().iter().collect();
                    assert_eq!(views, v, "{input:?} {batch_size} {cuts:?}");
                    assert_eq!(got.column(1).null_count(), 1);
                }
            }
            assert_eq!(same(&s, &[2, 1], false, input), !input.contains("a\nb"));
        }
    }

    #[test]
    fn records_it_does_not_take_go_to_arrow_csv_with_the_rest() {
        let s = schema(&[("i", DataType::Int64), ("t", DataType::Utf8)]);
        for odd in [
            "4,\"a quoted\nline break\"",
            "4,lone\rreturn",
            "4,\"text\" after the quote",
            "4,a \"quote\" inside",
            "4,\"unterminated",
            "4,too,many",
            "4",
        ] {
            let input = format!("i,t\n1,a\n2,b\n{odd}\n3,c\n");
            for projection in [&[0usize, 1][..], &[1], &[]] {
                assert!(
                    !same(&s, projection, true, &input),
                    "the fast path took {odd:?}"
                );
            }
        }
        // A header with another number of fields than the records (arrow-csv counts a header's fields too).
        for header in ["i", "i,t,x", "\"i\",t,\"x\""] {
            let input = format!("{header}\n1,a\n");
            for projection in [&[0usize, 1][..], &[]] {
                assert!(!same(&s, projection, true, &input), "{header:?}");
            }
        }
        // A value its type does not parse: where the column is read.
        for odd in ["99999999999999999999,too big", "x,not a number"] {
            let input = format!("i,t\n1,a\n2,b\n{odd}\n3,c\n");
            assert!(
                !same(&s, &[1, 0], true, &input),
                "the fast path took {odd:?}"
            );
            assert!(same(&s, &[1], true, &input), "{odd:?}");
        }
        // Invalid UTF-8 anywhere in a record, even a field not read.
        let input = b"1,ok\n2,\xff\n".to_vec();
        let want = reference(&s, &[0], false, &input);
        let (got, fast) = decoded(&s, &[0], false, &input, &[], 8192);
        assert!(want.is_err() && got.is_err() && !fast);
    }

    #[test]
    fn an_error_after_the_fast_rows_names_the_line_arrow_csv_would() {
        let s = schema(&[("i", DataType::Int64), ("t", DataType::Utf8)]);
        let mut input = String::from("i,t\n");
        for i in 0..100 {
            input.push_str(&format!("{i},row {i}\n"));
        }
        input.push_str("oops,bad\n7,after\n");
        let want = reference(&s, &[0, 1], true, input.as_bytes()).unwrap_err();
        let (got, fast) = decoded(&s, &[0, 1], true, input.as_bytes(), &[], 8192);
        assert!(!fast);
        assert_eq!(want.to_string(), got.unwrap_err().to_string());
        assert!(want.to_string().contains("line 101"), "{want}");
        assert_eq!(
            shift_line("for line 3, expected 2", 5),
            "for line 8, expected 2"
        );
        assert_eq!(shift_line("no number here", 5), "no number here");
    }

    #[test]
    fn a_type_arrow_csv_does_not_read_is_left_to_it() {
        let s = schema(&[("l", DataType::LargeUtf8)]);
        let (got, fast) = decoded(&s, &[0], false, b"a\n", &[], 8192);
        assert!(!fast && got.is_err());
        assert!(reference(&s, &[0], false, b"a\n").is_err());
    }

    #[test]
    fn quotes_at_the_end_of_a_block_carry_into_the_next() {
        for n in 0..140 {
            let pad = "a".repeat(n);
            for line in [
                format!("{pad},\"q\"x,b"),
                format!("{pad},\"q\",b"),
                format!("{pad}\"q\",b"),
                format!("{pad},\"q\"\"\"r\",b"),
                format!("{pad},\"q,\"\",r\",b"),
                format!("\"{pad}\",b"),
                format!("\"{pad}\"x"),
                format!("\"{pad}"),
                format!("{pad},b\"c,d"),
                format!("{pad}\r,b"),
            ] {
                let mut got = Vec::new();
                let scan = separators(line.as_bytes(), b',', b'"', usize::MAX, &mut got);
                let want = separators_by_hand(line.as_bytes());
                assert_eq!(scan.valid, want.is_some(), "{line:?}");
                if let Some(want) = want {
                    assert_eq!(got, want, "{line:?}");
                }
            }
        }
    }

    /// The separators of a record found one field after the other (`None`: a record the decoder refuses).
    fn separators_by_hand(line: &[u8]) -> Option<Vec<u32>> {
        if line.contains(&b'\r') {
            return None;
        }
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let end = if line.get(pos) == Some(&b'"') {
                let mut p = pos + 1;
                loop {
                    match line.get(p)? {
                        b'"' if line.get(p + 1) == Some(&b'"') => p += 2,
                        b'"' => break,
                        _ => p += 1,
                    }
                }
                p + 1
            } else {
                line[pos..]
                    .iter()
                    .position(|&b| b == b',' || b == b'"')
                    .map_or(line.len(), |i| pos + i)
            };
            match line.get(end) {
                None => return Some(out),
                Some(b',') => out.push(end as u32),
                Some(_) => return None,
            }
            pos = end + 1;
        }
    }

    /// A CSV field: plain, quoted (with doubled quotes, delimiters, line breaks), numbers, empty.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            Just(String::new()),
            Just("\"\"".to_string()),
            "[a-z ,;é\"]{0,8}",
            "[a-z ,;é\"\n\r]{0,8}".prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
            // Past a 64-byte block.
            "[a-z ,\"]{50,140}".prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
            "[a-z ]{50,140}",
        ]
    }

    proptest! {
        #[test]
        fn masks_mark_every_byte_they_are_asked_for(
            block in prop::collection::vec(
                prop_oneof![any::<u8>(), Just(b','), Just(b'"'), Just(b';'), Just(b'\''), Just(b'\r')],
                64,
            ),
        ) {
            let mut bytes = [0u8; 64];
            bytes.copy_from_slice(&block);
            for (delimiter, quote) in [(b',', b'"'), (b';', b'\''), (0, 0xFF)] {
                let bit = |f: &dyn Fn(u8) -> bool| {
                    bytes.iter().enumerate().filter(|&(_, &b)| f(b)).fold(0u64, |m, (i, _)| m | 1 << i)
                };
                let want = Masks {
                    delimiter: bit(&|b| b == delimiter),
                    quote: bit(&|b| b == quote),
                    cr: bit(&|b| b == b'\r'),
                    high: bit(&|b| b >= 0x80),
                };
                prop_assert_eq!(masks(&bytes, delimiter, quote), want);
                prop_assert_eq!(masks_swar(&bytes, delimiter, quote), want);
            }
        }

        #[test]
        fn separators_split_records_as_a_field_by_field_walk_does(
            line in prop::collection::vec(
                prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'"'), Just(b'\r'), Just(0xC3)],
                0..200,
            ),
        ) {
            let mut got = Vec::new();
            let scan = separators(&line, b',', b'"', usize::MAX, &mut got);
            prop_assert_eq!(scan.ascii, line.is_ascii());
            let want = separators_by_hand(&line);
            prop_assert_eq!(scan.valid, want.is_some());
            if let Some(want) = want {
                prop_assert_eq!(scan.separators, want.len());
                prop_assert_eq!(&got, &want);
                let mut first = Vec::new();
                for limit in [0, 1, 3] {
                    let scan = separators(&line, b',', b'"', limit, &mut first);
                    prop_assert_eq!(scan.separators, want.len());
                    prop_assert_eq!(&first[..], &want[..limit.min(want.len())]);
                }
            }
        }

        #[test]
        fn any_records_decode_as_arrow_csv_decodes_them(
            rows in prop::collection::vec(prop::collection::vec(field(), 1..4), 0..12),
        ) {
            let s = schema(&[("a", DataType::Utf8), ("b", DataType::Float64), ("c", DataType::Int64)]);
            let input: String = rows.iter().map(|r| r.join(",") + "\n").collect();
            same(&s, &[0, 1, 2], false, &input);
            same(&s, &[2, 0], false, &input);
        }
    }
}
