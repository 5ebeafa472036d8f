//! CSV scans: a decoder for plain records in front of arrow-csv.
//!
//! DataFusion reads CSV with arrow-csv, which runs every byte of every record through csv-core's state machine,
//! copies every field of it (those the query reads and all the others) into a buffer, and then parses the
//! projected fields from there: csv-core alone was 63% of TPC-H q6's CPU time on CSV. [`CsvLines`] splits a
//! record at its delimiters (a quoted field found by its closing quote), parses the projected fields straight
//! into their columns with the parsers arrow-csv uses (`Parser::parse`, `parse_decimal`, `string_to_datetime`;
//! an empty field is null), and steps over the others.
//!
//! It decodes only records it reads exactly as arrow-csv would; a record with a quote inside an unquoted field,
//! text after a closing quote, a quoted line break, a lone `\r`, invalid UTF-8, the wrong number of fields or a
//! value its type does not parse goes, with the rest of the range, to arrow-csv, so such input gives the rows
//! or the error (with its line number) arrow-csv alone gives. A table with an escape character, or a projected
//! type the decoder does not build, is read by arrow-csv from the start. `SET owl.csv_fast_path = false` reads
//! every CSV table with arrow-csv alone.

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

/// Not a projected field.
const SKIP: usize = usize::MAX;

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
    let fast = columns.len() == projection.len();
    let mut slot = vec![SKIP; file_schema.fields().len()];
    for (column, &field) in projection.iter().enumerate() {
        slot[field] = column;
    }
    let format = CsvLines {
        file_schema,
        projection,
        slot,
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
    /// For each field of a record, its column, or [`SKIP`].
    slot: Vec<usize>,
    /// `has_header`: a header still to skip.
    dialect: CsvDialect,
    /// Records taken so far (a header included): arrow-csv, taking over, counts its line numbers from there.
    records: usize,
    /// A quoted field's text with its doubled quotes undone.
    scratch: Vec<u8>,
    /// The positions of a line's delimiters, quotes and `\r`s.
    marks: Vec<u32>,
}

impl LineFormat for CsvLines {
    fn line(&mut self, columns: &mut [Column], rows: usize, line: &[u8]) -> Step<bool> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            // csv-core skips blank lines.
            return Ok(false);
        }
        // arrow-csv rejects invalid UTF-8 in any field.
        let line = std::str::from_utf8(line).map_err(|_| Unhandled)?;
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
        let decoder = arrow::csv::ReaderBuilder::new(Arc::clone(&self.file_schema))
            .with_delimiter(self.dialect.delimiter)
            .with_quote(self.dialect.quote)
            .with_header(self.dialect.has_header)
            .with_batch_size(batch_size)
            .with_projection(self.projection.clone())
            .build_decoder();
        Ok(Box::new(CsvFallback {
            decoder,
            lines_before: self.records,
        }))
    }
}

impl CsvLines {
    /// The fields of one record; the projected ones appended to their columns (none for a header).
    fn fields(&mut self, columns: &mut [Column], line: &str, header: bool) -> Step {
        let (delimiter, quote) = (self.dialect.delimiter, self.dialect.quote);
        let bytes = line.as_bytes();
        let len = bytes.len();
        // Every delimiter, quote and `\r` of the line, in one pass (a `\r` ends a record for csv-core).
        let mut marks = std::mem::take(&mut self.marks);
        specials(bytes, [delimiter, quote, b'\r'], &mut marks);
        let result = (|| {
            let mut k = 0; // the next mark at or after `pos`
            let mut field = 0;
            let mut pos = 0;
            loop {
                if field == self.slot.len() {
                    return Err(Unhandled);
                }
                let (start, end, doubled, next);
                let mark = |k: usize| marks.get(k).map_or(len, |&m| m as usize);
                if pos < len && bytes[pos] == quote {
                    // Quoted: up to the quote not doubled, then the delimiter or the line's end.
                    k += 1;
                    let mut any_doubled = false;
                    let close = loop {
                        let q = mark(k);
                        match bytes.get(q) {
                            None => return Err(Unhandled),
                            Some(&b) if b == quote => {}
                            Some(b'\r') => return Err(Unhandled),
                            // A delimiter inside the quotes.
                            Some(_) => {
                                k += 1;
                                continue;
                            }
                        }
                        if bytes.get(q + 1) == Some(&quote) {
                            any_doubled = true;
                            k += 2;
                        } else {
                            k += 1;
                            break q;
                        }
                    };
                    (start, end, doubled) = (pos + 1, close, any_doubled);
                    next = match bytes.get(close + 1) {
                        None => None,
                        Some(&b) if b == delimiter => {
                            k += 1;
                            Some(close + 2)
                        }
                        Some(_) => return Err(Unhandled),
                    };
                } else {
                    let at = mark(k);
                    if at < len && bytes[at] != delimiter {
                        // A quote inside an unquoted field, or a `\r`.
                        return Err(Unhandled);
                    }
                    (start, end, doubled) = (pos, at, false);
                    next = (at < len).then_some(at + 1);
                    k += 1;
                }
                let column = self.slot[field];
                if column != SKIP && !header {
                    if doubled {
                        self.scratch.clear();
                        let mut rest = &bytes[start..end];
                        while let Some(q) = memchr::memchr(quote, rest) {
                            // Each quote here is the first of a doubled pair.
                            self.scratch.extend_from_slice(&rest[..=q]);
                            rest = &rest[q + 2..];
                        }
                        self.scratch.extend_from_slice(rest);
                        let text = std::str::from_utf8(&self.scratch).map_err(|_| Unhandled)?;
                        columns[column].push_field(text)?;
                    } else {
                        // Cut at ASCII bytes of valid UTF-8.
                        let text = line.get(start..end).ok_or(Unhandled)?;
                        columns[column].push_field(text)?;
                    }
                }
                field += 1;
                match next {
                    Some(n) => pos = n,
                    None => break,
                }
            }
            if field == self.slot.len() {
                Ok(())
            } else {
                Err(Unhandled)
            }
        })();
        self.marks = marks;
        result
    }
}

/// The positions of the bytes of `line` equal to any of `of`, in order, into `out`: eight bytes at a time
/// (exact per-byte equality masks on a `u64`).
fn specials(line: &[u8], of: [u8; 3], out: &mut Vec<u32>) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    // 0x80 in each byte of `x` that is zero, nothing elsewhere.
    let zeros = |x: u64| !((((x & LOW7).wrapping_add(LOW7)) | x) | LOW7);
    let splat = of.map(|b| ONES * u64::from(b));
    out.clear();
    let mut chunks = line.chunks_exact(8);
    let mut base = 0u32;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let mut m = zeros(w ^ splat[0]) | zeros(w ^ splat[1]) | zeros(w ^ splat[2]);
        while m != 0 {
            out.push(base + m.trailing_zeros() / 8);
            m &= m - 1;
        }
        base += 8;
    }
    for (i, b) in chunks.remainder().iter().enumerate() {
        if of.contains(b) {
            out.push(base + i as u32);
        }
    }
}

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
    fn push_field(&mut self, text: &str) -> Step {
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
/// shifted to count from the range's start, as they would be had it read all of it.
struct CsvFallback {
    decoder: arrow::csv::reader::Decoder,
    lines_before: usize,
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
        self.decoder.decode(buf).map_err(|e| self.shifted(e))
    }
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.decoder.flush().map_err(|e| self.shifted(e))
    }
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
    use crate::formats::lines::{cut_sets, decode_in_pieces};
    use arrow::compute::concat_batches;
    use arrow::datatypes::{Field, Schema, TimeUnit};
    use proptest::prelude::*;

    fn schema(fields: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    fn dialect(header: bool) -> CsvDialect {
        CsvDialect {
            delimiter: b',',
            quote: b'"',
            has_header: header,
        }
    }

    /// What arrow-csv alone makes of `input`: one batch, or its error.
    fn reference(
        schema: &SchemaRef,
        projection: &[usize],
        header: bool,
        input: &[u8],
    ) -> Result<RecordBatch, ArrowError> {
        reference_in(schema, projection, header, input, 3)
    }

    /// [`reference`] in batches of `batch_size` (which error comes first depends on it).
    fn reference_in(
        schema: &SchemaRef,
        projection: &[usize],
        header: bool,
        input: &[u8],
        batch_size: usize,
    ) -> Result<RecordBatch, ArrowError> {
        let reader = arrow::csv::ReaderBuilder::new(Arc::clone(schema))
            .with_header(header)
            .with_batch_size(batch_size)
            .with_projection(projection.to_vec())
            .build(std::io::Cursor::new(input.to_vec()))?;
        let batches = reader.collect::<Result<Vec<_>, _>>()?;
        concat_batches(&Arc::new(schema.project(projection)?), &batches)
    }

    /// `input` through owl's decoder as a scan feeds it, cut at `cuts`; and whether it stayed fast.
    fn decoded(
        schema: &SchemaRef,
        projection: &[usize],
        header: bool,
        input: &[u8],
        cuts: &[usize],
        batch_size: usize,
    ) -> (Result<RecordBatch, ArrowError>, bool) {
        let decoder = csv_decoder(
            Arc::clone(schema),
            projection.to_vec(),
            dialect(header),
            batch_size,
        )
        .unwrap();
        let projected = Arc::new(schema.project(projection).unwrap());
        decode_in_pieces(decoder, &projected, input, cuts)
    }

    /// Both ways, whole and in many cuts and batch sizes: the same rows, or both an error with the same
    /// message. Returns whether the fast path decoded it all.
    fn same(schema: &SchemaRef, projection: &[usize], header: bool, input: &str) -> bool {
        let want = reference(schema, projection, header, input.as_bytes());
        let cut_sets = cut_sets(input.len());
        let mut all_fast = true;
        for batch_size in [1, 2, 3, 8192] {
            for cuts in &cut_sets {
                let (got, fast) = decoded(
                    schema,
                    projection,
                    header,
                    input.as_bytes(),
                    cuts,
                    batch_size,
                );
                all_fast &= fast;
                match (&want, &got) {
                    (Ok(w), Ok(g)) => assert_eq!(
                        w, g,
                        "input {input:?}, batch size {batch_size}, cuts {cuts:?}"
                    ),
                    // arrow-csv's own count of extra fields depends on its buffers ("got more than 6").
                    (Err(_), Err(g)) if batch_size == 8192 && cuts.is_empty() => {
                        let w = reference_in(schema, projection, header, input.as_bytes(), 8192)
                            .unwrap_err()
                            .to_string();
                        if !w.contains("more than") {
                            assert_eq!(w, g.to_string(), "input {input:?}")
                        }
                    }
                    (Err(_), Err(_)) => {}
                    _ => panic!(
                        "input {input:?}, batch size {batch_size}, cuts {cuts:?}: arrow-csv {want:?}, owl {got:?}"
                    ),
                }
            }
        }
        all_fast
    }

    fn every_type() -> SchemaRef {
        schema(&[
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
            ("v", DataType::Utf8View),
        ])
    }

    #[test]
    fn plain_and_quoted_records_decode_as_arrow_csv_decodes_them() {
        let s = every_type();
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

    /// A CSV field: plain, quoted (with doubled quotes, delimiters, line breaks), numbers, empty.
    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            Just(String::new()),
            Just("\"\"".to_string()),
            "[a-z ,;é\"]{0,8}",
            "[a-z ,;é\"\n\r]{0,8}".prop_map(|t| format!("\"{}\"", t.replace('"', "\"\""))),
        ]
    }

    proptest! {
        #[test]
        fn specials_finds_every_byte_it_is_asked_for(line in prop::collection::vec(any::<u8>(), 0..80)) {
            let of = [b',', b'"', b'\r'];
            let mut got = Vec::new();
            specials(&line, of, &mut got);
            let want: Vec<u32> = (0..line.len() as u32).filter(|&i| of.contains(&line[i as usize])).collect();
            prop_assert_eq!(got, want);
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
