//! Writing a query's result as ORC or Avro files under a location, Hive-partitioned when asked: what CTAS and
//! `owl compare` need for the two formats DataFusion cannot write.
//!
//! Rules, in order:
//! 1. Partition columns leave the files and become `key=value/` folders (NULL as `__HIVE_DEFAULT_PARTITION__`),
//!    as DataFusion writes Parquet/JSON/CSV partitions.
//! 2. Column types are first made plain (string views to strings, dictionaries to their values, unsigned to
//!    the next signed type, Date64 to date, NULL to string). ORC then takes booleans, integers, floats,
//!    strings, binary, dates and timestamps; any other type is refused naming the column, before anything is
//!    written. Avro takes what arrow-avro writes (decimals, lists, structs and maps too).
//! 3. One file per partition, rolled over at [`ROLL_BYTES`]: a file is encoded in memory and stored with one
//!    PUT, so memory is bounded by the open partitions, not the result.

use crate::error::{Error, Result};
use arrow::array::{Array, ArrayRef, RecordBatch, StringArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::physical_plan::SendableRecordBatchStream;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A file is closed and stored once its encoded size passes this, and the partition goes on in a new file.
pub(crate) const ROLL_BYTES: usize = 128 * 1024 * 1024;

/// The file format and codec to write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Encoding {
    Orc(Option<orc_rust::compression::CompressionType>),
    Avro(Option<arrow_avro::compression::CompressionCodec>),
}

impl Encoding {
    /// ORC with an Athena `write_compression` name: ZLIB (GZIP means it too), SNAPPY, ZSTD, LZ4, NONE.
    pub(crate) fn orc(compression: &str) -> Option<Self> {
        use orc_rust::compression::CompressionType as C;
        Some(Encoding::Orc(match compression {
            "ZLIB" | "GZIP" | "DEFLATE" => Some(C::Zlib),
            "SNAPPY" => Some(C::Snappy),
            "ZSTD" => Some(C::Zstd),
            "LZ4" => Some(C::Lz4),
            "NONE" | "UNCOMPRESSED" => None,
            _ => return None,
        }))
    }

    /// Avro with an Athena `write_compression` name: DEFLATE (GZIP means it too), SNAPPY, ZSTD, NONE.
    pub(crate) fn avro(compression: &str) -> Option<Self> {
        use arrow_avro::compression::CompressionCodec as C;
        Some(Encoding::Avro(match compression {
            "DEFLATE" | "GZIP" | "ZLIB" => Some(C::Deflate),
            "SNAPPY" => Some(C::Snappy),
            "ZSTD" => Some(C::ZStandard),
            "NONE" | "UNCOMPRESSED" => None,
            _ => return None,
        }))
    }

    fn extension(self) -> &'static str {
        match self {
            Encoding::Orc(_) => "orc",
            Encoding::Avro(_) => "avro",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Encoding::Orc(_) => "ORC",
            Encoding::Avro(_) => "AVRO",
        }
    }
}

/// The plain type a file holds for `dt` (rule 2); `None`: this encoding cannot hold it.
fn plain(dt: &DataType, enc: Encoding) -> Option<DataType> {
    let p = match dt {
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Null => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary | DataType::FixedSizeBinary(_) => {
            DataType::Binary
        }
        DataType::Dictionary(_, v) => return plain(v, enc),
        DataType::Date64 => DataType::Date32,
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        other => other.clone(),
    };
    match enc {
        Encoding::Orc(_) => match &p {
            DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Float32
            | DataType::Float64
            | DataType::Utf8
            | DataType::Binary
            | DataType::Date32 => Some(p),
            // ORC timestamps are instants or local times; any zone is stored as the UTC instant.
            DataType::Timestamp(u, None) => Some(DataType::Timestamp(*u, None)),
            DataType::Timestamp(u, Some(_)) => Some(DataType::Timestamp(*u, Some("UTC".into()))),
            _ => None,
        },
        Encoding::Avro(_) => Some(match p {
            // arrow-avro has no unsigned 64-bit integer; a decimal holds every value.
            DataType::UInt64 => DataType::Decimal128(20, 0),
            DataType::Timestamp(TimeUnit::Second, tz) => {
                DataType::Timestamp(TimeUnit::Millisecond, tz)
            }
            other => other,
        }),
    }
}

/// The schema the files hold for `data` (the columns that are not partition keys), every column nullable.
pub(crate) fn file_schema(data: &Schema, enc: Encoding) -> Result<SchemaRef> {
    let fields = data
        .fields()
        .iter()
        .map(|f| {
            plain(f.data_type(), enc)
                .map(|dt| Field::new(f.name(), dt, true))
                .ok_or_else(|| {
                    Error::Unsupported(format!(
                        "column `{}` of type {} cannot be written as {} (owl writes booleans, integers, \
                         floats, strings, binary, dates and timestamps to ORC): CAST it, or write PARQUET \
                         or AVRO",
                        f.name(),
                        f.data_type(),
                        enc.name()
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The bytes of one file, shared with the writer that fills them (orc-rust's `close` keeps its sink).
#[derive(Default, Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |b| b.len())
    }
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("file buffer poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum FileWriter {
    Orc(orc_rust::ArrowWriter<Sink>),
    Avro(Box<arrow_avro::writer::AvroWriter<Sink>>),
}

/// One file being written.
struct OpenFile {
    writer: FileWriter,
    sink: Sink,
}

impl OpenFile {
    fn new(schema: &SchemaRef, enc: Encoding) -> Result<Self> {
        let sink = Sink::default();
        let failed = |e: &dyn std::fmt::Display| {
            Error::Query(format!("cannot start an {} file: {e}", enc.name()))
        };
        let writer = match enc {
            Encoding::Orc(c) => {
                let mut b = orc_rust::ArrowWriterBuilder::new(sink.clone(), Arc::clone(schema));
                if let Some(c) = c {
                    b = b.with_compression(c);
                }
                FileWriter::Orc(b.try_build().map_err(|e| failed(&e))?)
            }
            Encoding::Avro(c) => FileWriter::Avro(Box::new(
                arrow_avro::writer::WriterBuilder::new(schema.as_ref().clone())
                    .with_compression(c)
                    .build(sink.clone())
                    .map_err(|e| failed(&e))?,
            )),
        };
        Ok(OpenFile { writer, sink })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let r = match &mut self.writer {
            FileWriter::Orc(w) => orc_encoding(|| w.write(batch))?.map_err(|e| e.to_string()),
            FileWriter::Avro(w) => w.write(batch).map_err(|e| e.to_string()),
        };
        r.map_err(|e| Error::Query(format!("writing a file: {e}")))
    }

    /// Close the file: its bytes.
    fn finish(self) -> Result<Vec<u8>> {
        let r = match self.writer {
            FileWriter::Orc(w) => orc_encoding(|| w.close())?.map_err(|e| e.to_string()),
            FileWriter::Avro(mut w) => w.finish().map_err(|e| e.to_string()),
        };
        r.map_err(|e| Error::Query(format!("writing a file: {e}")))?;
        Ok(self.sink.take())
    }
}

/// Run orc-rust's encoder, its panic an error. orc-rust 0.9's integer encoder panics on some runs of values
/// (a patched-base run whose largest value's width is below its 95th percentile's, rounded: `attempt to
/// subtract with overflow`, in a release build `entered unreachable code`). A timestamp column mixing times
/// before and after 2015 with NULLs did it, found by the differential tester. The statement fails with one
/// line, and leaves nothing, where it ended the process.
fn orc_encoding<T>(f: impl FnOnce() -> T) -> Result<T> {
    crate::formats::guard::quietly(f).map_err(|said| {
        // Where it panicked, from the crate's name on (not this machine's registry path).
        let said = match said.split_once(" at ") {
            Some((what, at)) => format!("{what} at {}", &at[at.find("orc-rust").unwrap_or(0)..]),
            None => said,
        };
        Error::Query(format!(
            "the ORC encoder (orc-rust) failed on these values ({said}): write them as PARQUET or AVRO"
        ))
    })
}

/// Write `stream` as `enc` files under `prefix` (a folder of `store`), partitioned by `partition_by` (which
/// must be the stream's last columns). Returns the rows written.
pub(crate) async fn write_files(
    mut stream: SendableRecordBatchStream,
    store: Arc<dyn ObjectStore>,
    prefix: &Path,
    partition_by: &[String],
    enc: Encoding,
) -> Result<u64> {
    let schema = stream.schema();
    let n_data = schema.fields().len() - partition_by.len();
    let data_schema = Schema::new(schema.fields()[..n_data].to_vec());
    let target = file_schema(&data_schema, enc)?;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut open: BTreeMap<String, (OpenFile, usize)> = BTreeMap::new();
    let mut rows = 0u64;
    let store_file = |folder: &str, seq: usize, bytes: Vec<u8>| {
        let store = Arc::clone(&store);
        // Parsed, not escaped again: the folders are already named as Hive writes them (`s=a%2Fb/`).
        let path = Path::parse(format!(
            "{prefix}/{folder}part-{seq:05}-{}.{}",
            &run[..12],
            enc.extension()
        ));
        async move {
            let path = path.map_err(|e| Error::internal("naming a partition's file", e))?;
            store
                .put(&path, PutPayload::from(bytes))
                .await
                .map_err(|e| Error::Query(format!("storing `{path}`: {e}")))?;
            Ok::<(), Error>(())
        }
    };
    while let Some(batch) = stream
        .try_next()
        .await
        .map_err(|e| Error::Query(e.to_string()))?
    {
        rows += batch.num_rows() as u64;
        let data = conform(&batch, n_data, &target)?;
        if let Encoding::Orc(_) = enc {
            orc_timestamps_hold(&data)?;
        }
        for (folder, rows_of) in partition_rows(&batch, n_data, partition_by)? {
            let part = match rows_of {
                None => data.clone(),
                Some(idx) => take_rows(&data, &idx)?,
            };
            let (file, seq) = match open.get_mut(&folder) {
                Some(f) => f,
                None => open
                    .entry(folder.clone())
                    .or_insert((OpenFile::new(&target, enc)?, 0)),
            };
            file.write(&part)?;
            if file.sink.len() >= ROLL_BYTES {
                let full = std::mem::replace(file, OpenFile::new(&target, enc)?);
                store_file(&folder, *seq, full.finish()?).await?;
                *seq += 1;
            }
        }
    }
    if open.is_empty() && partition_by.is_empty() {
        // An empty result still makes a (header-only) file, as a SELECT with no rows does in Athena.
        open.insert(String::new(), (OpenFile::new(&target, enc)?, 0));
    }
    for (folder, (file, seq)) in open {
        store_file(&folder, seq, file.finish()?).await?;
    }
    Ok(rows)
}

/// One `enc` file holding `batch` (every column data; cast to the file schema).
pub(crate) fn encode_one(batch: &RecordBatch, enc: Encoding) -> Result<Vec<u8>> {
    let target = file_schema(batch.schema().as_ref(), enc)?;
    let data = conform(batch, batch.num_columns(), &target)?;
    if let Encoding::Orc(_) = enc {
        orc_timestamps_hold(&data)?;
    }
    let mut file = OpenFile::new(&target, enc)?;
    file.write(&data)?;
    file.finish()
}

/// The batch's data columns cast to the file schema.
fn conform(batch: &RecordBatch, n_data: usize, target: &SchemaRef) -> Result<RecordBatch> {
    let columns = (0..n_data)
        .map(|i| {
            cast(batch.column(i), target.field(i).data_type())
                .map_err(|e| Error::Query(format!("column `{}`: {e}", target.field(i).name())))
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    RecordBatch::try_new(Arc::clone(target), columns)
        .map_err(|e| Error::internal("a batch in the file schema", e))
}

/// Refuses, naming the column and the value, a timestamp ORC cannot hold: one in the second before
/// 1970-01-01 00:00:00 with a millisecond or more past that second's start (ORC-763: readers would move it by a
/// second; orc-rust refuses it, with an error naming neither).
fn orc_timestamps_hold(batch: &RecordBatch) -> Result<()> {
    use arrow::array::{AsArray, types::Int64Type};
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let DataType::Timestamp(unit, _) = field.data_type() else {
            continue;
        };
        // orc-rust's rule, in the column's unit: seconds -1, and more than 999,999 ns past them.
        let (per_second, ns_per_unit) = match unit {
            TimeUnit::Second => (1, 1_000_000_000),
            TimeUnit::Millisecond => (1_000, 1_000_000),
            TimeUnit::Microsecond => (1_000_000, 1_000),
            TimeUnit::Nanosecond => (1_000_000_000, 1),
        };
        let raw = cast(column, &DataType::Int64)
            .map_err(|e| Error::internal("a timestamp column's values", e))?;
        if let Some(bad) = raw
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .find(|&v: &i64| {
                v.div_euclid(per_second) == -1 && v.rem_euclid(per_second) * ns_per_unit > 999_999
            })
        {
            let ns = i128::from(bad) * i128::from(ns_per_unit);
            let shown = i64::try_from(ns)
                .ok()
                .map(chrono::DateTime::from_timestamp_nanos)
                .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string())
                .unwrap_or_default();
            return Err(Error::Query(format!(
                "column `{}`: ORC cannot hold the timestamp {shown} (a time between 1969-12-31 \
                 23:59:59.001 and 1970-01-01 00:00:00, which ORC readers move by a second: ORC-763); \
                 write it as PARQUET or AVRO",
                field.name()
            )));
        }
    }
    Ok(())
}

fn take_rows(batch: &RecordBatch, idx: &UInt32Array) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), idx, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::internal("rows of a partition", e))?;
    RecordBatch::try_new(batch.schema(), columns)
        .map_err(|e| Error::internal("rows of a partition", e))
}

/// The batch's rows by partition folder (`k=v/k2=v2/`); `None` rows: all of them (no partitions).
fn partition_rows(
    batch: &RecordBatch,
    n_data: usize,
    keys: &[String],
) -> Result<Vec<(String, Option<UInt32Array>)>> {
    if keys.is_empty() {
        return Ok(vec![(String::new(), None)]);
    }
    let values = (0..keys.len())
        .map(|k| {
            let col = cast(batch.column(n_data + k), &DataType::Utf8)
                .map_err(|e| Error::Query(format!("partition column `{}`: {e}", keys[k])))?;
            col.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| Error::Internal("cast to Utf8 gave no StringArray".into()))
        })
        .collect::<Result<Vec<StringArray>>>()?;
    let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        let mut folder = String::new();
        for (k, v) in keys.iter().zip(&values) {
            let value = (!v.is_null(row)).then(|| v.value(row));
            folder.push_str(&super::hive_folder(k, value));
            folder.push('/');
        }
        groups.entry(folder).or_default().push(row as u32);
    }
    Ok(groups
        .into_iter()
        .map(|(f, rows)| (f, Some(UInt32Array::from(rows))))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::HIVE_NULL_PARTITION;
    use arrow::array::{Int64Array, ListArray};
    use arrow::datatypes::Int64Type;

    #[test]
    fn types_are_made_plain_and_orc_refuses_what_it_cannot_hold() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1)])]);
        let schema = Schema::new(vec![
            Field::new("s", DataType::Utf8View, false),
            Field::new("u", DataType::UInt32, false),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Millisecond, Some("+02:00".into())),
                true,
            ),
            Field::new("l", list.data_type().clone(), true),
        ]);
        let orc = Encoding::orc("GZIP").unwrap();
        let e = file_schema(&schema, orc).unwrap_err().to_string();
        assert!(
            e.contains("column `l` of type List") && e.contains("as ORC"),
            "{e}"
        );
        let plain = file_schema(&Schema::new(schema.fields()[..3].to_vec()), orc).unwrap();
        let types: Vec<&DataType> = plain.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [
                &DataType::Utf8,
                &DataType::Int64,
                &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            ]
        );
        assert!(plain.fields().iter().all(|f| f.is_nullable()));
        let avro = file_schema(&schema, Encoding::avro("SNAPPY").unwrap()).unwrap();
        assert_eq!(avro.field(3).data_type(), list.data_type());
        assert!(Encoding::orc("BZIP2").is_none() && Encoding::avro("LZ4").is_none());
    }

    #[test]
    fn rows_are_grouped_by_partition_folder_with_hive_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::Int64, false),
            Field::new("day", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![10, 20, 30, 40])),
                Arc::new(Int64Array::from(vec![Some(2), None, Some(1), Some(2)])),
            ],
        )
        .unwrap();
        let groups: Vec<(String, Vec<u32>)> = partition_rows(&batch, 1, &["day".into()])
            .unwrap()
            .into_iter()
            .map(|(f, rows)| (f, rows.unwrap().values().to_vec()))
            .collect();
        assert_eq!(
            groups,
            [
                ("day=1/".to_string(), vec![2]),
                ("day=2/".to_string(), vec![0, 3]),
                (format!("day={HIVE_NULL_PARTITION}/"), vec![1]),
            ]
        );
        assert_eq!(partition_rows(&batch, 2, &[]).unwrap()[0].0, "");
    }
}
