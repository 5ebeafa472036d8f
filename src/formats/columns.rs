//! Columns built value by value by owl's text decoders (`ndjson`, `csv`): typed vectors that a line given up on
//! half-way is cut back from, then turned into arrays.

use arrow::array::timezone::Tz;
use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int8Array,
    Int16Array, Int32Array, Int64Array, LargeStringArray, PrimitiveArray, StringArray,
    StringViewBuilder, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow::buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::datatypes::{
    DataType, Field, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use chrono::TimeZone;
use std::sync::Arc;

/// A line the fast path does not decode as written: the reader behind it (arrow-json, arrow-csv) decodes it, or
/// fails on it.
#[derive(Debug)]
pub(crate) struct Unhandled;

pub(crate) type Step<T = ()> = Result<T, Unhandled>;

/// How a projected column's values are parsed, and the type they are built as.
#[derive(Debug)]
pub(crate) enum Kind {
    Int(DataType),
    UInt(DataType),
    Float32,
    Float64,
    Decimal128(u8, i8),
    Date32,
    Timestamp(TimeUnit, Option<Tz>, DataType),
    Boolean,
    Utf8,
    LargeUtf8,
    Utf8View,
}

impl Kind {
    /// The fast path's kind for a column, if it builds that type.
    pub(crate) fn of(field: &Field) -> Result<Option<Kind>, ArrowError> {
        if !field.is_nullable() {
            return Ok(None);
        }
        let t = field.data_type();
        Ok(Some(match t {
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                Kind::Int(t.clone())
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                Kind::UInt(t.clone())
            }
            DataType::Float32 => Kind::Float32,
            DataType::Float64 => Kind::Float64,
            DataType::Decimal128(p, s) => Kind::Decimal128(*p, *s),
            DataType::Date32 => Kind::Date32,
            DataType::Timestamp(unit, tz) => {
                let tz = tz.as_deref().map(str::parse::<Tz>).transpose()?;
                Kind::Timestamp(*unit, tz, t.clone())
            }
            DataType::Boolean => Kind::Boolean,
            DataType::Utf8 => Kind::Utf8,
            DataType::LargeUtf8 => Kind::LargeUtf8,
            DataType::Utf8View => Kind::Utf8View,
            _ => return Ok(None),
        }))
    }
}

/// One projected column being built: values (a placeholder where null) and validity.
#[derive(Debug)]
pub(crate) struct Column {
    pub(crate) kind: Kind,
    pub(crate) valid: Vec<bool>,
    pub(crate) values: Values,
}

#[derive(Debug)]
pub(crate) enum Values {
    I64(Vec<i64>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    I128(Vec<i128>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
    /// Each value's end in `bytes`.
    Text {
        ends: Vec<usize>,
        bytes: Vec<u8>,
    },
}

impl Column {
    pub(crate) fn new(kind: Kind) -> Column {
        let values = match &kind {
            Kind::Int(_) | Kind::Timestamp(..) => Values::I64(Vec::new()),
            Kind::UInt(_) => Values::U64(Vec::new()),
            Kind::Float32 => Values::F32(Vec::new()),
            Kind::Float64 => Values::F64(Vec::new()),
            Kind::Decimal128(..) => Values::I128(Vec::new()),
            Kind::Date32 => Values::I32(Vec::new()),
            Kind::Boolean => Values::Bool(Vec::new()),
            Kind::Utf8 | Kind::LargeUtf8 | Kind::Utf8View => Values::Text {
                ends: Vec::new(),
                bytes: Vec::new(),
            },
        };
        Column {
            kind,
            valid: Vec::new(),
            values,
        }
    }

    pub(crate) fn push_null(&mut self) {
        self.valid.push(false);
        match &mut self.values {
            Values::I64(v) => v.push(0),
            Values::U64(v) => v.push(0),
            Values::F32(v) => v.push(0.0),
            Values::F64(v) => v.push(0.0),
            Values::I128(v) => v.push(0),
            Values::I32(v) => v.push(0),
            Values::Bool(v) => v.push(false),
            Values::Text { ends, bytes } => ends.push(bytes.len()),
        }
    }

    /// An empty string, not NULL, where the column holds text (a CSV field written `""`): whether it was text.
    pub(crate) fn push_empty_text(&mut self) -> bool {
        match &mut self.values {
            Values::Text { ends, bytes } => {
                ends.push(bytes.len());
                self.valid.push(true);
                true
            }
            _ => false,
        }
    }

    /// Drops the values after the first `rows` (a line given up on half-way).
    pub(crate) fn truncate(&mut self, rows: usize) {
        self.valid.truncate(rows);
        match &mut self.values {
            Values::I64(v) => v.truncate(rows),
            Values::U64(v) => v.truncate(rows),
            Values::F32(v) => v.truncate(rows),
            Values::F64(v) => v.truncate(rows),
            Values::I128(v) => v.truncate(rows),
            Values::I32(v) => v.truncate(rows),
            Values::Bool(v) => v.truncate(rows),
            Values::Text { ends, bytes } => {
                ends.truncate(rows);
                bytes.truncate(ends.last().copied().unwrap_or(0));
            }
        }
    }

    /// The column's values so far as an array of its type; the column is left empty.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let valid = std::mem::take(&mut self.valid);
        let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
        fn prim<T: arrow::datatypes::ArrowPrimitiveType>(
            v: Vec<T::Native>,
            nulls: Option<NullBuffer>,
        ) -> PrimitiveArray<T> {
            PrimitiveArray::<T>::new(ScalarBuffer::from(v), nulls)
        }
        Ok(match (&self.kind, &mut self.values) {
            (Kind::Int(t), Values::I64(v)) => {
                let v = std::mem::take(v);
                // Every value was parsed as `t`, so each fits.
                match t {
                    DataType::Int8 => Arc::new(Int8Array::new(
                        v.into_iter().map(|x| x as i8).collect(),
                        nulls,
                    )),
                    DataType::Int16 => Arc::new(Int16Array::new(
                        v.into_iter().map(|x| x as i16).collect(),
                        nulls,
                    )),
                    DataType::Int32 => Arc::new(Int32Array::new(
                        v.into_iter().map(|x| x as i32).collect(),
                        nulls,
                    )),
                    _ => Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls)),
                }
            }
            (Kind::UInt(t), Values::U64(v)) => {
                let v = std::mem::take(v);
                match t {
                    DataType::UInt8 => Arc::new(UInt8Array::new(
                        v.into_iter().map(|x| x as u8).collect(),
                        nulls,
                    )),
                    DataType::UInt16 => Arc::new(UInt16Array::new(
                        v.into_iter().map(|x| x as u16).collect(),
                        nulls,
                    )),
                    DataType::UInt32 => Arc::new(UInt32Array::new(
                        v.into_iter().map(|x| x as u32).collect(),
                        nulls,
                    )),
                    _ => Arc::new(UInt64Array::new(ScalarBuffer::from(v), nulls)),
                }
            }
            (Kind::Float32, Values::F32(v)) => Arc::new(Float32Array::new(
                ScalarBuffer::from(std::mem::take(v)),
                nulls,
            )),
            (Kind::Float64, Values::F64(v)) => Arc::new(Float64Array::new(
                ScalarBuffer::from(std::mem::take(v)),
                nulls,
            )),
            (Kind::Decimal128(p, s), Values::I128(v)) => Arc::new(
                Decimal128Array::new(ScalarBuffer::from(std::mem::take(v)), nulls)
                    .with_precision_and_scale(*p, *s)?,
            ),
            (Kind::Date32, Values::I32(v)) => Arc::new(Date32Array::new(
                ScalarBuffer::from(std::mem::take(v)),
                nulls,
            )),
            (Kind::Timestamp(unit, _, t), Values::I64(v)) => {
                // The values are already UTC instants: the zone is only attached (a cast would shift them).
                let v = std::mem::take(v);
                let zone = match t {
                    DataType::Timestamp(_, zone) => zone.clone(),
                    _ => None,
                };
                match unit {
                    TimeUnit::Second => {
                        Arc::new(prim::<TimestampSecondType>(v, nulls).with_timezone_opt(zone))
                    }
                    TimeUnit::Millisecond => {
                        Arc::new(prim::<TimestampMillisecondType>(v, nulls).with_timezone_opt(zone))
                    }
                    TimeUnit::Microsecond => {
                        Arc::new(prim::<TimestampMicrosecondType>(v, nulls).with_timezone_opt(zone))
                    }
                    TimeUnit::Nanosecond => {
                        Arc::new(prim::<TimestampNanosecondType>(v, nulls).with_timezone_opt(zone))
                    }
                }
            }
            (Kind::Boolean, Values::Bool(v)) => {
                let v = std::mem::take(v);
                Arc::new(BooleanArray::new(v.into_iter().collect(), nulls))
            }
            (kind, Values::Text { ends, bytes }) => {
                let ends = std::mem::take(ends);
                let bytes = std::mem::take(bytes);
                match kind {
                    Kind::Utf8View => {
                        let mut b = StringViewBuilder::with_capacity(ends.len());
                        let mut start = 0;
                        for (i, end) in ends.into_iter().enumerate() {
                            if nulls.as_ref().is_some_and(|n| n.is_null(i)) {
                                b.append_null();
                            } else {
                                let s = std::str::from_utf8(&bytes[start..end])
                                    .map_err(|e| ArrowError::ComputeError(e.to_string()))?;
                                b.append_value(s);
                            }
                            start = end;
                        }
                        Arc::new(b.finish())
                    }
                    Kind::LargeUtf8 => {
                        let offsets = std::iter::once(0)
                            .chain(ends.into_iter().map(|e| e as i64))
                            .collect::<Vec<i64>>();
                        Arc::new(LargeStringArray::try_new(
                            OffsetBuffer::new(ScalarBuffer::from(offsets)),
                            bytes.into(),
                            nulls,
                        )?)
                    }
                    _ => {
                        let offsets = std::iter::once(Ok(0))
                            .chain(ends.into_iter().map(i32::try_from))
                            .collect::<Result<Vec<i32>, _>>()
                            .map_err(|_| {
                                ArrowError::ComputeError(
                                    "a batch's strings exceed 2 GiB".to_string(),
                                )
                            })?;
                        Arc::new(StringArray::try_new(
                            OffsetBuffer::new(ScalarBuffer::from(offsets)),
                            bytes.into(),
                            nulls,
                        )?)
                    }
                }
            }
            (kind, _) => {
                return Err(ArrowError::ComputeError(format!(
                    "internal: column of {kind:?} built with other values"
                )));
            }
        })
    }
}

/// A timestamp string as arrow-json and arrow-csv read it into `unit`.
pub(crate) fn timestamp<T: TimeZone>(tz: &T, unit: TimeUnit, text: &str) -> Step<i64> {
    let t = string_to_datetime(tz, text).map_err(|_| Unhandled)?;
    match unit {
        TimeUnit::Second => Ok(t.timestamp()),
        TimeUnit::Millisecond => Ok(t.timestamp_millis()),
        TimeUnit::Microsecond => Ok(t.timestamp_micros()),
        TimeUnit::Nanosecond => t.timestamp_nanos_opt().ok_or(Unhandled),
    }
}
