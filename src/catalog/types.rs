//! Glue/Hive type strings (`bigint`, `array<struct<a:string>>`, `decimal(10,2)`) <-> Arrow types.
//!
//! The registry stores Hive type strings, as Glue does, so a registry file reads like an Athena DDL. The mapping
//! must round-trip: `to_arrow(to_hive(t)) == t` for every type owl writes.

use crate::error::{Error, Result};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use std::sync::Arc;

/// The Hive type string for an Arrow type.
pub(crate) fn to_hive(dt: &DataType) -> Result<String> {
    Ok(match dt {
        DataType::Null => "string".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "tinyint".into(),
        DataType::Int16 => "smallint".into(),
        DataType::Int32 => "int".into(),
        DataType::Int64 => "bigint".into(),
        DataType::UInt8 => "smallint".into(),
        DataType::UInt16 => "int".into(),
        DataType::UInt32 => "bigint".into(),
        DataType::UInt64 => "decimal(20,0)".into(),
        DataType::Float16 | DataType::Float32 => "float".into(),
        DataType::Float64 => "double".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, _) => "timestamp".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("array<{}>", to_hive(f.data_type())?)
        }
        DataType::ListView(f) | DataType::LargeListView(f) => {
            format!("array<{}>", to_hive(f.data_type())?)
        }
        DataType::Struct(fields) => {
            let parts = fields
                .iter()
                .map(|f| {
                    Ok(format!(
                        "{}:{}",
                        field_name(f.name()),
                        to_hive(f.data_type())?
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            format!("struct<{}>", parts.join(","))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "map<{},{}>",
                to_hive(kv[0].data_type())?,
                to_hive(kv[1].data_type())?
            ),
            other => return unsupported("map", other),
        },
        DataType::Dictionary(_, v) => to_hive(v)?,
        other => return unsupported("", other),
    })
}

/// A registry column for an Arrow field: its name and Hive type; a type the registry cannot hold names the column.
pub(crate) fn column_of(f: &Field) -> Result<crate::catalog::model::Column> {
    let ty = to_hive(f.data_type()).map_err(|_| Error::UnsupportedType {
        column: f.name().clone(),
        ty: f.data_type().to_string(),
    })?;
    Ok(crate::catalog::model::Column::new(f.name(), ty))
}

fn unsupported<T>(column: &str, dt: &DataType) -> Result<T> {
    Err(Error::UnsupportedType {
        column: column.into(),
        ty: dt.to_string(),
    })
}

/// The Arrow type for a Hive type string. `column` names the column in errors.
pub(crate) fn to_arrow(ty: &str, column: &str) -> Result<DataType> {
    let mut p = Parser {
        s: ty.as_bytes(),
        pos: 0,
    };
    let bad = || Error::UnsupportedType {
        column: column.into(),
        ty: ty.into(),
    };
    let dt = p.parse().ok_or_else(bad)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(bad());
    }
    Ok(dt)
}

/// A struct field's name as a type string holds it: a plain word as it is, any other name in backticks (Hive's
/// quoting), a backtick in it doubled.
fn field_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'$'));
    if plain {
        name.to_string()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> Option<()> {
        self.skip_ws();
        (self.s.get(self.pos) == Some(&c)).then(|| self.pos += 1)
    }
    fn word(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || matches!(self.s[self.pos], b'_' | b'$'))
        {
            self.pos += 1;
        }
        (self.pos > start).then(|| String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }
    fn number(&mut self) -> Option<u8> {
        self.word()?.parse().ok()
    }
    /// A struct field name: a word, or a backquoted name (Hive quotes odd names with backticks).
    fn field_name(&mut self) -> Option<String> {
        self.skip_ws();
        if self.s.get(self.pos) == Some(&b'`') {
            // Up to the backtick that is not doubled.
            let mut name = Vec::new();
            let mut at = self.pos + 1;
            loop {
                match (self.s.get(at), self.s.get(at + 1)) {
                    (Some(b'`'), Some(b'`')) => {
                        name.push(b'`');
                        at += 2;
                    }
                    (Some(b'`'), _) => break,
                    (Some(&c), _) => {
                        name.push(c);
                        at += 1;
                    }
                    (None, _) => return None,
                }
            }
            self.pos = at + 1;
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
        self.word()
    }
    fn parse(&mut self) -> Option<DataType> {
        let w = self.word()?.to_ascii_lowercase();
        Some(match w.as_str() {
            "boolean" => DataType::Boolean,
            "tinyint" => DataType::Int8,
            "smallint" => DataType::Int16,
            "int" | "integer" => DataType::Int32,
            "bigint" => DataType::Int64,
            "float" | "real" => DataType::Float32,
            "double" => DataType::Float64,
            "string" | "varchar" | "char" => {
                // varchar(n) / char(n): the length is a constraint Arrow does not keep.
                if self.eat(b'(').is_some() {
                    self.number()?;
                    self.eat(b')')?;
                }
                DataType::Utf8
            }
            "binary" => DataType::Binary,
            "date" => DataType::Date32,
            "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
            "decimal" => {
                let (p, s) = if self.eat(b'(').is_some() {
                    let p = self.number()?;
                    self.eat(b',')?;
                    let s = self.number()?;
                    self.eat(b')')?;
                    (p, s)
                } else {
                    (10, 0)
                };
                if p == 0 || p > 38 || s > p {
                    return None;
                }
                DataType::Decimal128(p, s as i8)
            }
            "array" => {
                self.eat(b'<')?;
                let item = self.parse()?;
                self.eat(b'>')?;
                DataType::List(Arc::new(Field::new("item", item, true)))
            }
            "map" => {
                self.eat(b'<')?;
                let k = self.parse()?;
                self.eat(b',')?;
                let v = self.parse()?;
                self.eat(b'>')?;
                let entries = Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", k, false),
                        Field::new("value", v, true),
                    ])),
                    false,
                );
                DataType::Map(Arc::new(entries), false)
            }
            "struct" => {
                self.eat(b'<')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.field_name()?;
                    self.eat(b':')?;
                    let dt = self.parse()?;
                    fields.push(Field::new(name, dt, true));
                    if self.eat(b',').is_none() {
                        break;
                    }
                }
                self.eat(b'>')?;
                DataType::Struct(Fields::from(fields))
            }
            _ => return None,
        })
    }
}

/// The type of a partition key from its values (**owl**: Glue types every key `string`). In order:
/// 1. every value an integer (leading zeros allowed: `month=01`) -> `bigint`;
/// 2. every value a `YYYY-MM-DD` date -> `date`;
/// 3. otherwise `string`.
///
/// Hive's NULL marker is ignored; no values at all gives `string`.
pub(crate) fn infer_partition_type<'a>(
    values: impl IntoIterator<Item = &'a str> + Clone,
) -> &'static str {
    let present = || {
        values
            .clone()
            .into_iter()
            .filter(|v| *v != super::model::HIVE_NULL_PARTITION)
    };
    if present().next().is_none() {
        return "string";
    }
    if present().all(|v| v.len() <= 18 && v.parse::<i64>().is_ok()) {
        return "bigint";
    }
    if present().all(|v| v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok())
    {
        return "date";
    }
    "string"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_types() {
        assert_eq!(infer_partition_type(["2024", "01"]), "bigint");
        assert_eq!(
            infer_partition_type(["2024-01-01", "__HIVE_DEFAULT_PARTITION__"]),
            "date"
        );
        assert_eq!(infer_partition_type(["2024-01-01", "x"]), "string");
        assert_eq!(infer_partition_type(["eu", "us"]), "string");
        assert_eq!(infer_partition_type(Vec::<&str>::new()), "string");
    }

    #[test]
    fn round_trips() {
        for s in [
            "bigint",
            "string",
            "double",
            "boolean",
            "timestamp",
            "date",
            "decimal(10,2)",
            "array<string>",
            "map<string,bigint>",
            "struct<type:string,arn:string,session:struct<mfa:boolean>>",
            "struct<`t/pe`:string,`a b`:int,`x``y`:struct<`:`:string>>",
            "array<struct<type:string,arn:string>>",
        ] {
            let dt = to_arrow(s, "c").unwrap();
            assert_eq!(to_hive(&dt).unwrap(), s, "{s}");
        }
    }

    #[test]
    fn aliases_and_errors() {
        assert_eq!(to_arrow("varchar(20)", "c").unwrap(), DataType::Utf8);
        assert_eq!(to_arrow("INT", "c").unwrap(), DataType::Int32);
        let e = to_arrow("array<strin>", "tags").unwrap_err().to_string();
        assert!(e.contains("`tags`") && e.contains("array<strin>"), "{e}");
        assert!(to_arrow("bigint extra", "c").is_err());
        assert!(to_arrow("decimal(50,2)", "c").is_err());
    }
}
