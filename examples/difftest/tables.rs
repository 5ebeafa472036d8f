//! Random tables and their files: integers of every width at their limits, decimals, floats with `-0.0`,
//! strings with quotes, delimiters, line breaks, unicode and empty ones, dates, timestamps, booleans, lists and
//! structs, NULLs in every column; each written as Parquet (row groups, pages and statistics varied), CSV (no
//! nested columns) and NDJSON, and registered with its columns declared (`CREATE EXTERNAL TABLE`), so every
//! copy has the same types.

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::Int32Type;
use arrow::datatypes::{DataType, Field, Schema};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// splitmix64: the same numbers for the same seed on every machine.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// In `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Ty {
    I8,
    I16,
    I32,
    I64,
    /// DECIMAL(9,2)
    Dec,
    F64,
    Str,
    Date,
    /// TIMESTAMP, in milliseconds (Athena's precision).
    Ts,
    Bool,
    /// `array<int>`: nested, in the Parquet, NDJSON, Avro and partitioned copies (not CSV, not ORC).
    List,
    /// `struct<x:int,y:string>`, as `List`.
    Struct,
}

impl Ty {
    pub const ALL: [Ty; 10] = [
        Ty::I8,
        Ty::I16,
        Ty::I32,
        Ty::I64,
        Ty::Dec,
        Ty::F64,
        Ty::Str,
        Ty::Date,
        Ty::Ts,
        Ty::Bool,
    ];
    pub fn is_int(self) -> bool {
        matches!(self, Ty::I8 | Ty::I16 | Ty::I32 | Ty::I64)
    }
    pub fn is_nested(self) -> bool {
        matches!(self, Ty::List | Ty::Struct)
    }
    pub fn is_number(self) -> bool {
        self.is_int() || matches!(self, Ty::Dec | Ty::F64)
    }
    fn sql(self) -> &'static str {
        match self {
            Ty::I8 => "TINYINT",
            Ty::I16 => "SMALLINT",
            Ty::I32 => "INT",
            Ty::I64 => "BIGINT",
            Ty::Dec => "DECIMAL(9,2)",
            Ty::F64 => "DOUBLE",
            Ty::Str => "VARCHAR",
            Ty::Date => "DATE",
            Ty::Ts => "TIMESTAMP",
            Ty::Bool => "BOOLEAN",
            Ty::List => "INT[]",
            Ty::Struct => "STRUCT<x INT, y VARCHAR>",
        }
    }
    fn arrow(self) -> DataType {
        match self {
            Ty::I8 => DataType::Int8,
            Ty::I16 => DataType::Int16,
            Ty::I32 => DataType::Int32,
            Ty::I64 => DataType::Int64,
            Ty::Dec => DataType::Decimal128(9, 2),
            Ty::F64 => DataType::Float64,
            Ty::Str => DataType::Utf8,
            Ty::Date => DataType::Date32,
            Ty::Ts => DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, None),
            Ty::Bool => DataType::Boolean,
            Ty::List => DataType::new_list(DataType::Int32, true),
            Ty::Struct => DataType::Struct(struct_fields()),
        }
    }
    fn limits(self) -> (i64, i64) {
        match self {
            Ty::I8 => (i8::MIN.into(), i8::MAX.into()),
            Ty::I16 => (i16::MIN.into(), i16::MAX.into()),
            Ty::I32 => (i32::MIN.into(), i32::MAX.into()),
            _ => (i64::MIN, i64::MAX),
        }
    }
}

/// One value; decimals in hundredths, dates in days since 1970-01-01.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Value {
    Null,
    Int(i64),
    Dec(i64),
    /// Kept by its bits in a recorded case (JSON has no `-0.0` or NaN of its own).
    F(#[serde(with = "f64_bits")] f64),
    S(String),
    Date(i32),
    /// Milliseconds since 1970-01-01 00:00:00.
    Ts(i64),
    Bool(bool),
    /// A list's items (integers or NULL); a struct's fields `x` (an integer or NULL) and `y` (a string or NULL).
    List(Vec<Value>),
    Struct(Vec<Value>),
}

/// `Ty::Struct`'s fields.
fn struct_fields() -> arrow::datatypes::Fields {
    vec![
        Field::new("x", DataType::Int32, true),
        Field::new("y", DataType::Utf8, true),
    ]
    .into()
}

/// Strings that trip readers and comparisons.
pub const STRINGS: &[&str] = &[
    "",
    "a",
    "A",
    "b",
    "a,b",
    "say \"hi\"",
    "two\nlines",
    "tab\there",
    "ünïcödé",
    "日本",
    " padded ",
    "NULL",
    "\\N",
    "50%",
    "a_b",
    "'quoted'",
    "{\"k\": 1}",
    "zz",
];

pub const FLOATS: &[f64] = &[
    0.0,
    -0.0,
    1.5,
    -1.5,
    0.1,
    0.2,
    0.30000000000000004,
    2.25,
    1e10,
    -1e-10,
    123456.789,
    3.0,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
];

/// A random value of `ty` (never NULL): mostly from a few common values (so that joins, groups and
/// filters meet), sometimes the type's limits.
pub fn value(rng: &mut Rng, ty: Ty) -> Value {
    match ty {
        Ty::I8 | Ty::I16 | Ty::I32 | Ty::I64 => {
            let (lo, hi) = ty.limits();
            Value::Int(match rng.below(20) {
                0 => lo,
                1 => hi,
                2 => 0,
                _ => rng.below(25) as i64 - 5,
            })
        }
        Ty::Dec => Value::Dec(match rng.below(20) {
            0 => 999_999_999,
            1 => -999_999_999,
            _ => rng.below(4000) as i64 - 2000,
        }),
        Ty::F64 => Value::F(*rng.pick(FLOATS)),
        Ty::Str => Value::S(rng.pick(STRINGS).to_string()),
        // 2023-12-25 .. 2024-01-14, and the epoch.
        Ty::Date => Value::Date(match rng.below(15) {
            0 => 0,
            _ => 19716 + rng.below(20) as i32,
        }),
        // Around 2024-01-01 (some at midnight, some with milliseconds), the epoch, and just before it.
        Ty::Ts => Value::Ts(match rng.below(12) {
            0 => 0,
            1 => -1,
            2 => -86_400_000 + 500,
            3..=5 => 1_704_067_200_000 + rng.below(5) as i64 * 86_400_000,
            _ => 1_704_067_200_000 + rng.below(5) as i64 * 3_600_000 + rng.below(3) as i64 * 250,
        }),
        Ty::Bool => Value::Bool(rng.chance(0.5)),
        Ty::List => {
            let n = rng.below(4);
            Value::List(
                (0..n)
                    .map(|_| {
                        if rng.chance(0.1) {
                            Value::Null
                        } else {
                            Value::Int(rng.below(7) as i64 - 2)
                        }
                    })
                    .collect(),
            )
        }
        Ty::Struct => Value::Struct(vec![
            if rng.chance(0.2) {
                Value::Null
            } else {
                Value::Int(rng.below(7) as i64 - 2)
            },
            if rng.chance(0.2) {
                Value::Null
            } else {
                Value::S(rng.pick(STRINGS).to_string())
            },
        ]),
    }
}

/// A double as the bits of its IEEE 754 form.
mod f64_bits {
    pub fn serialize<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(f64::from_bits)
    }
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// Whether a column is nested (the table then has no CSV copies: CSV holds no lists or structs).
    pub fn has_nested(&self) -> bool {
        self.columns.iter().any(|c| c.ty.is_nested())
    }

    /// The column a partitioned copy is partitioned by: a string column of at most 20 distinct values (NULL
    /// among them) and no empty string, else the first such integer, date or boolean column (the key too);
    /// None when there is none.
    pub fn partition_column(&self) -> Option<&str> {
        let eligible: Vec<(usize, &Column)> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(i, c)| {
                let kind = match c.ty {
                    Ty::I8 | Ty::I16 | Ty::I32 | Ty::I64 | Ty::Date | Ty::Bool => true,
                    // Strings as folder names (quotes, `%`, newlines, unicode: Hive's escaping), but not the
                    // empty string, which is NULL's folder (as Hive, Spark and Athena write it).
                    Ty::Str => !self.rows.iter().any(|r| r[*i] == Value::S(String::new())),
                    _ => false,
                };
                let mut seen: Vec<&Value> = vec![];
                for row in &self.rows {
                    if !seen.contains(&&row[*i]) {
                        seen.push(&row[*i]);
                    }
                }
                kind && seen.len() <= 20
            })
            .collect();
        // A string column first: its values are the ones a path cannot hold as they are.
        let (_, c) = eligible
            .iter()
            .find(|(_, c)| c.ty == Ty::Str)
            .or(eligible.first())?;
        Some(c.name.as_str())
    }
}

/// A table of 1-6 columns besides its key `k` (an integer of a random width), 0-300 rows, each column NULL in
/// a share of its rows of its own.
pub fn table(rng: &mut Rng, prefix: &str) -> Table {
    let mut columns = vec![Column {
        name: "k".into(),
        ty: *rng.pick(&[Ty::I8, Ty::I16, Ty::I32, Ty::I64]),
    }];
    for i in 0..1 + rng.below(6) {
        columns.push(Column {
            name: format!("{prefix}{i}"),
            ty: *rng.pick(&Ty::ALL),
        });
    }
    // Sometimes a nested column.
    if rng.chance(0.35) {
        columns.push(Column {
            name: format!("{prefix}n"),
            ty: *rng.pick(&[Ty::List, Ty::Struct]),
        });
    }
    let nulls: Vec<f64> = columns
        .iter()
        .map(|_| *rng.pick(&[0.0, 0.0, 0.05, 0.2, 0.5, 1.0]))
        .collect();
    let n = *rng.pick(&[0usize, 1, 7, 40, 150, 300]);
    let rows = (0..n)
        .map(|_| {
            columns
                .iter()
                .zip(&nulls)
                .map(|(c, &p)| {
                    if rng.chance(p) && p > 0.0 {
                        Value::Null
                    } else {
                        value(rng, c.ty)
                    }
                })
                .collect()
        })
        .collect();
    Table { columns, rows }
}

impl Table {
    fn schema(&self) -> Arc<Schema> {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.arrow(), true))
                .collect::<Vec<_>>(),
        ))
    }

    fn batch(&self) -> RecordBatch {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let cells = self.rows.iter().map(|r| &r[i]);
                let int = |v: &Value| match v {
                    Value::Int(x) => Some(*x),
                    _ => None,
                };
                match c.ty {
                    Ty::I8 => {
                        Arc::new(Int8Array::from_iter(cells.map(|v| int(v).map(|x| x as i8))))
                            as ArrayRef
                    }
                    Ty::I16 => Arc::new(Int16Array::from_iter(
                        cells.map(|v| int(v).map(|x| x as i16)),
                    )),
                    Ty::I32 => Arc::new(Int32Array::from_iter(
                        cells.map(|v| int(v).map(|x| x as i32)),
                    )),
                    Ty::I64 => Arc::new(Int64Array::from_iter(cells.map(int))),
                    Ty::Dec => Arc::new(
                        Decimal128Array::from_iter(cells.map(|v| match v {
                            Value::Dec(x) => Some(i128::from(*x)),
                            _ => None,
                        }))
                        .with_precision_and_scale(9, 2)
                        .unwrap(),
                    ),
                    Ty::F64 => Arc::new(Float64Array::from_iter(cells.map(|v| match v {
                        Value::F(x) => Some(*x),
                        _ => None,
                    }))),
                    Ty::Str => Arc::new(StringArray::from_iter(cells.map(|v| match v {
                        Value::S(s) => Some(s.as_str()),
                        _ => None,
                    }))),
                    Ty::Date => Arc::new(Date32Array::from_iter(cells.map(|v| match v {
                        Value::Date(d) => Some(*d),
                        _ => None,
                    }))),
                    Ty::Ts => Arc::new(TimestampMillisecondArray::from_iter(cells.map(
                        |v| match v {
                            Value::Ts(t) => Some(*t),
                            _ => None,
                        },
                    ))),
                    Ty::Bool => Arc::new(BooleanArray::from_iter(cells.map(|v| match v {
                        Value::Bool(b) => Some(*b),
                        _ => None,
                    }))),
                    Ty::List => Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
                        cells.map(|v| match v {
                            Value::List(items) => Some(
                                items
                                    .iter()
                                    .map(|i| match i {
                                        Value::Int(x) => Some(*x as i32),
                                        _ => None,
                                    })
                                    .collect::<Vec<_>>(),
                            ),
                            _ => None,
                        }),
                    )),
                    Ty::Struct => {
                        let field = |at: usize| {
                            self.rows.iter().map(move |r| match &r[i] {
                                Value::Struct(f) => Some(&f[at]),
                                _ => None,
                            })
                        };
                        let x = Int32Array::from_iter(field(0).map(|v| match v {
                            Some(Value::Int(x)) => Some(*x as i32),
                            _ => None,
                        }));
                        let y = StringArray::from_iter(field(1).map(|v| match v {
                            Some(Value::S(s)) => Some(s.as_str()),
                            _ => None,
                        }));
                        let valid: Vec<bool> =
                            cells.map(|v| matches!(v, Value::Struct(_))).collect();
                        Arc::new(
                            StructArray::try_new(
                                struct_fields(),
                                vec![Arc::new(x) as ArrayRef, Arc::new(y)],
                                Some(valid.into()),
                            )
                            .unwrap(),
                        )
                    }
                }
            })
            .collect();
        RecordBatch::try_new(self.schema(), arrays).unwrap()
    }

    /// The table as Parquet, in `files` files with row groups and pages of random sizes, statistics on or off.
    pub fn write_parquet(&self, rng: &mut Rng, dir: &Path) {
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::{EnabledStatistics, WriterProperties};
        std::fs::create_dir_all(dir).unwrap();
        let batch = self.batch();
        let files = 1 + rng.below(3);
        let per = batch.num_rows().div_ceil(files).max(1);
        for f in 0..files {
            let start = (f * per).min(batch.num_rows());
            let len = per.min(batch.num_rows() - start);
            let stats = *rng.pick(&[
                EnabledStatistics::None,
                EnabledStatistics::Chunk,
                EnabledStatistics::Page,
            ]);
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(*rng.pick(&[3usize, 50, 1 << 20])))
                .set_data_page_row_count_limit(*rng.pick(&[2usize, 20, 1 << 20]))
                .set_write_batch_size(2)
                .set_statistics_enabled(stats)
                .build();
            let file = std::fs::File::create(dir.join(format!("part-{f}.parquet"))).unwrap();
            let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
            w.write(&batch.slice(start, len)).unwrap();
            w.close().unwrap();
        }
    }

    /// The table as CSV with a header: strings always quoted (a quoted empty one is an empty string), NULL an
    /// unquoted empty field.
    pub fn write_csv(&self, dir: &Path, gzip: bool) {
        let mut out = String::new();
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        out.push_str(&names.join(","));
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row
                .iter()
                .map(|v| match v {
                    Value::S(s) => format!("\"{}\"", s.replace('"', "\"\"")),
                    v => text(v),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        write_text(dir, "data.csv", &out, gzip);
    }

    /// The table as newline-delimited JSON, NULLs written out.
    pub fn write_ndjson(&self, dir: &Path) {
        let mut out = String::new();
        for row in &self.rows {
            out.push('{');
            for (i, (c, v)) in self.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let value = match v {
                    Value::Null => "null".to_string(),
                    Value::S(s) => serde_json::to_string(s).unwrap(),
                    Value::Date(_) | Value::Ts(_) => format!("\"{}\"", text(v)),
                    // JSON has no NaN or infinities: written as strings, as Jackson writes them.
                    Value::F(f) if !f.is_finite() => format!("\"{}\"", text(v)),
                    Value::List(_) | Value::Struct(_) => json(v),
                    v => text(v),
                };
                let _ = write!(out, "\"{}\":{value}", c.name);
            }
            out.push_str("}\n");
        }
        write_text(dir, "data.json", &out, false);
    }

    /// `CREATE EXTERNAL TABLE` of a copy at `dir` in `format` (`parquet`, `csv`, `csv.gz`, `ndjson`).
    pub fn ddl(&self, name: &str, format: &str, dir: &Path) -> String {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.ty.sql()))
            .collect();
        let (stored, options) = match format {
            "parquet" => ("PARQUET", String::new()),
            "csv" | "csv.gz" => (
                "CSV",
                format!(
                    " OPTIONS ('format.has_header' 'true', 'format.newlines_in_values' 'true'{})",
                    if format == "csv.gz" {
                        ", 'format.compression' 'gzip'"
                    } else {
                        ""
                    }
                ),
            ),
            _ => ("JSON", String::new()),
        };
        format!(
            "CREATE EXTERNAL TABLE {name} ({}) STORED AS {stored} LOCATION '{}/'{options}",
            columns.join(", "),
            dir.display()
        )
    }
}

fn write_text(dir: &Path, name: &str, text: &str, gzip: bool) {
    use std::io::Write;
    std::fs::create_dir_all(dir).unwrap();
    if gzip {
        let file = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
    } else {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// A value as text: in CSV and JSON files, and (quoted by the caller where SQL needs it) in SQL literals.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Int(x) => x.to_string(),
        Value::Dec(x) => {
            let sign = if *x < 0 { "-" } else { "" };
            format!(
                "{sign}{}.{:02}",
                x.unsigned_abs() / 100,
                x.unsigned_abs() % 100
            )
        }
        // As Java's Double.toString (Hive's text) writes what is no number.
        Value::F(f) if f.is_nan() => "NaN".into(),
        Value::F(f) if f.is_infinite() => if *f > 0.0 { "Infinity" } else { "-Infinity" }.into(),
        Value::F(f) => format!("{f:?}"),
        Value::S(s) => s.clone(),
        Value::Date(d) => (chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
            + chrono::Duration::days(i64::from(*d)))
        .to_string(),
        Value::Ts(t) => chrono::DateTime::from_timestamp_millis(*t)
            .unwrap()
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S%.3f")
            .to_string(),
        Value::Bool(b) => b.to_string(),
        Value::List(_) | Value::Struct(_) => json(v),
    }
}

/// A nested value as JSON: a list as an array, a struct as an object of `x` and `y`.
fn json(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::S(s) => serde_json::to_string(s).unwrap(),
        Value::List(items) => format!("[{}]", items.iter().map(json).collect::<Vec<_>>().join(",")),
        Value::Struct(f) => format!("{{\"x\":{},\"y\":{}}}", json(&f[0]), json(&f[1])),
        v => text(v),
    }
}

/// A value as a SQL literal of its column's type.
pub fn literal(v: &Value, ty: Ty) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::S(s) => format!("'{}'", s.replace('\'', "''")),
        Value::Date(_) => format!("DATE '{}'", text(v)),
        Value::Ts(_) => format!("TIMESTAMP '{}'", text(v)),
        Value::F(f) if !f.is_finite() => format!("CAST('{}' AS DOUBLE)", text(v)),
        Value::Dec(_) => format!("CAST({} AS DECIMAL(9,2))", text(v)),
        // From text: `-9223372036854775808` is no literal (its negation overflows).
        Value::Int(_) => format!("CAST('{}' AS {})", text(v), ty.sql()),
        v => text(v),
    }
}
