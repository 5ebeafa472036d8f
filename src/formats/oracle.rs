//! The decoders' oracles: what arrow-csv and arrow-json alone make of an input, and owl's fast paths checked
//! against them, whole and fed in pieces as a scan feeds them. The decoders' tests use them, and so do the
//! fuzz targets (`crate::fuzz`, `fuzz/`), which is why they are not test code.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use bytes::Bytes;
use datafusion_datasource::decoder::{Decoder, DecoderDeserializer, deserialize_stream};
use futures::TryStreamExt;

use super::csv::{csv_decoder, empty_strings};
use super::json_serde::JsonOptions;
use super::lines::{CsvDialect, LineDecoder, LineFormat};
use super::ndjson::flat_decoder;

/// `input` through `decoder` the way a scan feeds it (DataFusion's deserializer), in
/// pieces cut at `cuts`, concatenated as `schema`; and whether the fast path decoded all of it.
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

/// the places to cut an input of `n` bytes at — nowhere, everywhere, a few, every 7th.
pub(crate) fn cut_sets(n: usize) -> Vec<Vec<usize>> {
    vec![
        vec![],
        (1..n).collect(),
        vec![n / 3, n / 2, n - n / 4],
        (0..n).step_by(7).collect(),
    ]
}

/// A schema of nullable fields, for the decoders' tests and fuzz targets.
pub(crate) fn schema(fields: &[(&str, arrow::datatypes::DataType)]) -> SchemaRef {
    use arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = fields
        .iter()
        .map(|(n, t)| Field::new(*n, t.clone(), true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// A field of every type the fast paths decode, for the decoders' tests and fuzz targets; with `large_utf8`, a `LargeUtf8`
/// field `lt` before the last (arrow-json reads it, arrow-csv's reader does not).
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

/// `input`, and its text for a message (bytes that are not UTF-8 shown as U+FFFD).
fn shown(input: &[u8]) -> (&[u8], std::borrow::Cow<'_, str>) {
    (input, String::from_utf8_lossy(input))
}

fn csv_dialect(header: bool) -> CsvDialect {
    CsvDialect {
        null: None,
        whole_files: false,
        fast: true,
        delimiter: b',',
        quote: b'"',
        has_header: header,
    }
}

/// What arrow-csv alone makes of `input`: one batch, or its error.
pub(crate) fn csv_reference(
    schema: &SchemaRef,
    projection: &[usize],
    header: bool,
    input: &[u8],
) -> Result<RecordBatch, ArrowError> {
    csv_reference_in(schema, projection, header, input, 3)
}

/// [`csv_reference`] in batches of `batch_size` (which error comes first depends on it).
pub(crate) fn csv_reference_in(
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
    let batch = concat_batches(&Arc::new(schema.project(projection)?), &batches)?;
    // Fields written `""` in text columns are empty strings, which arrow-csv reads as NULL.
    let mut columns = batch.columns().to_vec();
    for (c, &field) in projection.iter().enumerate() {
        let rows: Vec<usize> = quoted_empty_fields(input)
            .into_iter()
            .skip(usize::from(header))
            .enumerate()
            .filter(|(_, fields)| fields.contains(&field))
            .map(|(row, _)| row)
            .collect();
        columns[c] = empty_strings(&columns[c], &rows)?;
    }
    let rows = arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(batch.schema(), columns, &rows)
}

/// Each record's fields written `""`, from all of `input` at once.
pub(crate) fn quoted_empty_fields(input: &[u8]) -> Vec<Vec<usize>> {
    let mut parser = csv_core::Reader::new();
    let (mut records, mut record, mut field) = (Vec::new(), Vec::new(), 0);
    let (mut rest, mut out) = (input, [0u8; 1 << 16]);
    loop {
        let (result, taken, wrote) = parser.read_field(rest, &mut out);
        if wrote == 0 && rest[..taken].contains(&b'"') {
            record.push(field);
        }
        rest = &rest[taken..];
        match result {
            csv_core::ReadFieldResult::Field { record_end } => {
                field += 1;
                if record_end {
                    records.push(std::mem::take(&mut record));
                    field = 0;
                }
            }
            csv_core::ReadFieldResult::End => return records,
            _ => {}
        }
    }
}

/// `input` through owl's decoder as a scan feeds it, cut at `cuts`; and whether it stayed fast.
pub(crate) fn csv_decoded(
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
        csv_dialect(header),
        batch_size,
    )
    .expect("invariant: the oracle's callers pass a schema of CSV types and indexes into it");
    let projected = Arc::new(
        schema
            .project(projection)
            .expect("invariant: the projection indexes the schema"),
    );
    decode_in_pieces(decoder, &projected, input, cuts)
}

/// Both ways, whole and in many cuts and batch sizes: the same rows, or both an error with the same
/// message. Returns whether the fast path decoded it all.
pub(crate) fn csv_same(
    schema: &SchemaRef,
    projection: &[usize],
    header: bool,
    input: impl AsRef<[u8]>,
) -> bool {
    let (input, shown) = shown(input.as_ref());
    let want = csv_reference(schema, projection, header, input);
    let cut_sets = cut_sets(input.len());
    let mut all_fast = true;
    for batch_size in [1, 2, 3, 8192] {
        for cuts in &cut_sets {
            let (got, fast) = csv_decoded(schema, projection, header, input, cuts, batch_size);
            all_fast &= fast;
            match (&want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(
                    w, g,
                    "input {shown:?}, batch size {batch_size}, cuts {cuts:?}"
                ),
                // arrow-csv's own count of extra fields depends on its buffers ("got more than 6").
                (Err(_), Err(g)) if batch_size == 8192 && cuts.is_empty() => {
                    let w = csv_reference_in(schema, projection, header, input, 8192)
                        .unwrap_err()
                        .to_string();
                    if !w.contains("more than") {
                        assert_eq!(w, g.to_string(), "input {shown:?}")
                    }
                }
                (Err(_), Err(_)) => {}
                _ => panic!(
                    "input {shown:?}, batch size {batch_size}, cuts {cuts:?}: arrow-csv {want:?}, owl {got:?}"
                ),
            }
        }
    }
    all_fast
}

/// What arrow-json alone makes of `input`: one batch, or its error.
pub(crate) fn ndjson_reference(
    schema: &SchemaRef,
    input: &[u8],
) -> Result<RecordBatch, ArrowError> {
    let reader = ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(5)
        .with_coerce_primitive(true)
        .build(std::io::Cursor::new(input.to_vec()))?;
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    concat_batches(schema, &batches)
}

/// `input` through the flat decoder (`ndjson::flat_decoder`) the way a scan feeds it, cut at `cuts`; and whether it stayed fast.
/// Checked against the same decoder with its fast path off (arrow-json behind `json_serde`'s rewriter):
/// the same rows or both an error.
pub(crate) fn ndjson_flat(
    schema: &SchemaRef,
    input: &[u8],
    cuts: &[usize],
    batch_size: usize,
) -> (Result<RecordBatch, ArrowError>, bool) {
    let options = JsonOptions::default();
    let decoder = flat_decoder(Arc::clone(schema), batch_size, true, &options)
        .expect("invariant: the oracle's callers pass a schema of NDJSON types");
    let (got, fast) = decode_in_pieces(decoder, schema, input, cuts);
    let slow = flat_decoder(Arc::clone(schema), batch_size, false, &options)
        .expect("invariant: the same schema, decoded without the fast path");
    let (want, _) = decode_in_pieces(slow, schema, input, cuts);
    let shown = String::from_utf8_lossy(input);
    match (&want, &got) {
        (Ok(w), Ok(g)) => assert_eq!(w, g, "input {shown:?}: fast path against arrow-json"),
        (Err(_), Err(_)) => {}
        _ => panic!("input {shown:?}: arrow-json {want:?}, fast path {got:?}"),
    }
    (got, fast)
}

/// Whether owl's rows are arrow-json's: the same rows where arrow-json reads `input`; where it fails, owl may
/// read more than it does (a nested value in a string column is its JSON text, as Athena's SerDes read it).
pub(crate) fn ndjson_agrees(
    want: &Result<RecordBatch, ArrowError>,
    got: &Result<RecordBatch, ArrowError>,
) -> bool {
    match (want, got) {
        (Ok(w), Ok(g)) => w == g,
        (Ok(_), Err(_)) => false,
        (Err(_), _) => true,
    }
}

/// Decodes `input` both ways, in whole and in many cuts and batch sizes: the same rows, or both an error.
/// Returns whether the fast path decoded it all.
#[cfg(test)]
pub(crate) fn ndjson_same(schema: &SchemaRef, input: impl AsRef<[u8]>) -> bool {
    ndjson_same_as(schema, input.as_ref(), true)
}

/// [`ndjson_same`], checked against arrow-json alone only `with_arrow` (where keys are spelled as the
/// columns are: owl matches them ignoring case, as Athena's SerDes do, and arrow-json does not); against the
/// decoder with its fast path off always.
pub(crate) fn ndjson_same_as(schema: &SchemaRef, input: &[u8], with_arrow: bool) -> bool {
    let (input, shown) = shown(input);
    let want = ndjson_reference(schema, input);
    let mut all_fast = true;
    let cut_sets = cut_sets(input.len());
    for batch_size in [1, 2, 3, 8192] {
        for cuts in &cut_sets {
            let (got, fast) = ndjson_flat(schema, input, cuts, batch_size);
            all_fast &= fast;
            assert!(
                !with_arrow || ndjson_agrees(&want, &got),
                "input {shown:?}, batch size {batch_size}, cuts {cuts:?}: arrow-json {want:?}, \
                 fast path {got:?}"
            );
        }
    }
    all_fast
}
