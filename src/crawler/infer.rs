//! Schemas from samples (CSV, JSON) and footers (Parquet), and the rules that merge them across files.

use crate::catalog::types::to_hive;
use arrow::datatypes::DataType;
use serde_json::Value;

/// A column type as the crawler sees it, before it becomes a Hive type string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferredColumn {
    pub name: String,
    pub ty: String,
}

/// Merge two Hive types of one column. Rules, in order:
/// 1. equal types stay;
/// 2. `null` (a column never seen with a value) + T = T;
/// 3. `int` -> `bigint`; any integer + `double`/`float` -> `double`;
/// 4. `date` + `timestamp` -> `timestamp`;
/// 5. anything else incompatible -> `string`.
pub(crate) fn widen(a: &str, b: &str) -> String {
    if a == b {
        return a.into();
    }
    let int = |t: &str| matches!(t, "tinyint" | "smallint" | "int" | "bigint");
    let float = |t: &str| matches!(t, "float" | "double");
    match (a, b) {
        ("null", t) | (t, "null") => t.into(),
        (x, y) if int(x) && int(y) => "bigint".into(),
        (x, y) if (int(x) || float(x)) && (int(y) || float(y)) => "double".into(),
        ("date", "timestamp") | ("timestamp", "date") => "timestamp".into(),
        _ => "string".into(),
    }
}

/// Merge file schemas by column name, in first-seen order (rules on [`widen`]). A column missing from some
/// files is simply absent there: every registry column is nullable.
pub fn merge(schemas: &[Vec<InferredColumn>]) -> Vec<InferredColumn> {
    let mut out: Vec<InferredColumn> = Vec::new();
    // Names differing only in case are one column (SQL's names, Athena's and the JSON reader's keys ignore
    // case), spelled as first seen: `client_ip` in one record and `client_IP` in another were two columns
    // that each read both keys.
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for s in schemas {
        for c in s {
            match at.get(&c.name.to_lowercase()) {
                Some(&i) if out[i].ty != c.ty => out[i].ty = widen(&out[i].ty, &c.ty),
                Some(_) => {}
                None => {
                    at.insert(c.name.to_lowercase(), out.len());
                    out.push(c.clone());
                }
            }
        }
    }
    for c in &mut out {
        if c.ty == "null" {
            c.ty = "string".into();
        }
    }
    out
}

/// The type of one text cell. Empty is `null` (no evidence).
fn cell_type(s: &str) -> &'static str {
    let s = s.trim();
    if s.is_empty() {
        return "null";
    }
    if s.parse::<i64>().is_ok() {
        return "bigint";
    }
    if s.parse::<f64>().is_ok()
        && s.bytes().any(|b| b.is_ascii_digit())
        && !s.contains(['i', 'n', 'I', 'N'])
    {
        return "double";
    }
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") {
        return "boolean";
    }
    if is_date(s) {
        return "date";
    }
    if is_timestamp(s) {
        return "timestamp";
    }
    "string"
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// `YYYY-MM-DD HH:MM:SS[.f]` or with `T` (**owl**: Glue leaves these as string).
pub(crate) fn is_timestamp(s: &str) -> bool {
    s.len() >= 19
        && ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
            .iter()
            .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok())
}

/// A column name as Glue writes it: lower-case, `[a-z0-9_]`.
pub(crate) fn clean_name(s: &str) -> String {
    let n: String = s
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if n.is_empty() { "col".into() } else { n }
}

/// What a CSV sample says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CsvShape {
    pub has_header: bool,
    pub columns: Vec<InferredColumn>,
    pub quoted_newlines: bool,
}

/// Infer a delimited file from its sample rows (already split). Glue's header rule: the first row is a header
/// when every cell of it is a non-empty string and at least one data column is not a string.
pub(crate) fn csv_shape(rows: &[Vec<String>], quoted_newlines: bool) -> Option<CsvShape> {
    let width = rows.iter().map(Vec::len).max()?;
    if width < 2 || rows.len() < 2 {
        return None;
    }
    let types_of = |rows: &[Vec<String>]| -> Vec<String> {
        (0..width)
            .map(|i| {
                rows.iter()
                    .map(|r| r.get(i).map_or("null", |c| cell_type(c)))
                    .fold("null".to_string(), |acc, t| widen(&acc, t))
            })
            .collect()
    };
    let first_all_strings =
        rows[0].len() == width && rows[0].iter().all(|c| cell_type(c) == "string");
    let data_types = types_of(&rows[1..]);
    let has_header = first_all_strings && data_types.iter().any(|t| t != "string" && t != "null");
    let (names, types): (Vec<String>, Vec<String>) = if has_header {
        let mut seen = std::collections::HashSet::new();
        let names = rows[0]
            .iter()
            .map(|h| {
                let base = clean_name(h);
                let mut n = base.clone();
                let mut k = 1;
                while !seen.insert(n.clone()) {
                    k += 1;
                    n = format!("{base}_{k}");
                }
                n
            })
            .collect();
        (names, data_types)
    } else {
        (
            (0..width).map(|i| format!("col{i}")).collect(),
            types_of(rows),
        )
    };
    Some(CsvShape {
        has_header,
        columns: names
            .into_iter()
            .zip(types)
            .map(|(name, ty)| InferredColumn { name, ty })
            .collect(),
        quoted_newlines,
    })
}

/// Infer NDJSON columns from sampled records. Nested objects and arrays keep their structure; top-level strings
/// that are all timestamps become `timestamp`.
pub(crate) fn json_columns(records: &[Value]) -> Result<Vec<InferredColumn>, String> {
    let schema =
        arrow::json::reader::infer_json_schema_from_iterator(records.iter().map(|v| Ok(v.clone())))
            .map_err(|e| e.to_string())?;
    schema
        .fields()
        .iter()
        .map(|f| {
            let ty = match f.data_type() {
                DataType::Null => "null".to_string(),
                DataType::Utf8 => {
                    let mut values = records
                        .iter()
                        .filter_map(|r| r.get(f.name()))
                        .filter(|v| !v.is_null());
                    let mut any = false;
                    let all_ts = values.all(|v| {
                        any = true;
                        v.as_str().is_some_and(is_timestamp)
                    });
                    if any && all_ts {
                        "timestamp".into()
                    } else {
                        "string".into()
                    }
                }
                other => to_hive(&without_empty_structs(other)).map_err(|e| e.to_string())?,
            };
            Ok(InferredColumn {
                name: f.name().clone(),
                ty,
            })
        })
        .collect()
}

/// `dt` with every struct of no fields (an object never seen with a key: `{}`) a string, which reads such a
/// value as its JSON text; Hive has no `struct<>` (found by fuzzing the classifier, which registered one).
fn without_empty_structs(dt: &DataType) -> DataType {
    use arrow::datatypes::{Field, Fields};
    let field = |f: &Field| {
        f.clone()
            .with_data_type(without_empty_structs(f.data_type()))
    };
    match dt {
        DataType::Struct(fields) if fields.is_empty() => DataType::Utf8,
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| field(f)).collect::<Fields>())
        }
        DataType::List(f) => DataType::List(std::sync::Arc::new(field(f))),
        DataType::LargeList(f) => DataType::LargeList(std::sync::Arc::new(field(f))),
        other => other.clone(),
    }
}

/// Jaccard similarity of two schemas' column names.
pub(crate) fn similarity(a: &[InferredColumn], b: &[InferredColumn]) -> f64 {
    let inter = a
        .iter()
        .filter(|c| b.iter().any(|d| d.name == c.name))
        .count();
    let union = a.len() + b.len() - inter;
    if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(s: &str) -> Vec<String> {
        s.split(',').map(str::to_string).collect()
    }

    #[test]
    fn widening_rules() {
        assert_eq!(widen("null", "bigint"), "bigint");
        assert_eq!(widen("int", "bigint"), "bigint");
        assert_eq!(widen("bigint", "double"), "double");
        assert_eq!(widen("date", "timestamp"), "timestamp");
        assert_eq!(widen("bigint", "string"), "string");
        assert_eq!(widen("boolean", "bigint"), "string");
    }

    /// Found by fuzzing the classifier: `{}` was typed `struct<>`, which no reader takes.
    #[test]
    fn objects_never_seen_with_a_key_are_strings() {
        let records = [serde_json::json!({"a": {}, "b": [{}], "c": {"d": {}, "e": 1}})];
        let types: Vec<String> = json_columns(&records)
            .unwrap()
            .into_iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect();
        assert_eq!(
            types,
            ["a string", "b array<string>", "c struct<d:string,e:bigint>"]
        );
    }

    /// Found by fuzzing the classifier (`owl::fuzz::classify`): JSON records spelling a key two ways.
    #[test]
    fn names_differing_in_case_are_one_column() {
        let c = |name: &str, ty: &str| InferredColumn {
            name: name.into(),
            ty: ty.into(),
        };
        let merged = merge(&[
            vec![c("client_ip", "string"), c("n", "bigint")],
            vec![c("client_IP", "null"), c("N", "double")],
        ]);
        assert_eq!(merged, [c("client_ip", "string"), c("n", "double")]);
    }

    #[test]
    fn glue_header_rule() {
        let s = csv_shape(&[row("id,name,price"), row("1,a,2.5"), row("2,b,3")], false).unwrap();
        assert!(s.has_header);
        assert_eq!(
            s.columns[2],
            InferredColumn {
                name: "price".into(),
                ty: "double".into()
            }
        );
        // All strings: no header, Glue's col0.. names.
        let s = csv_shape(&[row("a,b"), row("c,d")], false).unwrap();
        assert!(!s.has_header);
        assert_eq!(s.columns[0].name, "col0");
        // Numeric first row: data, not a header.
        let s = csv_shape(&[row("1,2"), row("3,4")], false).unwrap();
        assert!(!s.has_header);
        assert_eq!(s.columns[1].ty, "bigint");
    }

    #[test]
    fn merge_keeps_order_and_widens() {
        let a = vec![InferredColumn {
            name: "x".into(),
            ty: "int".into(),
        }];
        let b = vec![
            InferredColumn {
                name: "x".into(),
                ty: "bigint".into(),
            },
            InferredColumn {
                name: "y".into(),
                ty: "null".into(),
            },
        ];
        let m = merge(&[a, b]);
        assert_eq!(m[0].ty, "bigint");
        assert_eq!(m[1].ty, "string");
    }
}
