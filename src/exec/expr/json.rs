//! Athena's (Trino's) JSON functions over JSON text, the way CloudTrail's `requestparameters` and other JSON
//! string columns are queried: `json_extract_scalar(json, path)`, `json_extract(json, path)` and
//! `json_array_length(json)`. A path is Trino's JSONPath subset: `$`, then `.key`, `["key"]` and `[index]`.
//! Text that is not JSON, or a path that leads nowhere, gives NULL (Trino's rule); a path that does not parse is
//! an error naming it. `json_extract` returns the value's JSON text (a string: owl has no JSON type).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use serde_json::Value;
use std::sync::Arc;

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A JSONPath as Trino reads it: `$.a.b[0]["c d"]`.
fn parse_path(path: &str) -> Result<Vec<Step>> {
    let bad = |why: &str| DataFusionError::Execution(format!("JSON path `{path}`: {why}"));
    let rest = path
        .trim()
        .strip_prefix('$')
        .ok_or_else(|| bad("a path starts with `$`"))?;
    let mut steps = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '.' => {
                let mut key = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c == '.' || c == '[' {
                        break;
                    }
                    key.push(c);
                    chars.next();
                }
                if key.is_empty() {
                    return Err(bad("`.` without a key"));
                }
                steps.push(Step::Key(key));
            }
            '[' => {
                let mut inside = String::new();
                let mut quote: Option<char> = None;
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => inside.push(c),
                        None if c == '"' || c == '\'' => {
                            if !inside.is_empty() {
                                return Err(bad("a quote inside `[...]`"));
                            }
                            quote = Some(c);
                            inside.push(c);
                        }
                        None if c == ']' => {
                            closed = true;
                            break;
                        }
                        None => inside.push(c),
                    }
                }
                if !closed {
                    return Err(bad("`[` without `]`"));
                }
                let inside = inside.trim();
                if let Some(key) = inside
                    .strip_prefix('"')
                    .or_else(|| inside.strip_prefix('\''))
                {
                    steps.push(Step::Key(key.to_string()));
                } else {
                    let n = inside
                        .parse::<usize>()
                        .map_err(|_| bad("`[...]` holds an index or a quoted key"))?;
                    steps.push(Step::Index(n));
                }
            }
            c if c.is_whitespace() => {}
            _ => return Err(bad("expected `.key`, `[\"key\"]` or `[index]`")),
        }
    }
    Ok(steps)
}

/// The value `steps` lead to in `json`, if it is JSON and they lead somewhere.
fn at(json: &str, steps: &[Step]) -> Option<Value> {
    let mut v: Value = serde_json::from_str(json).ok()?;
    for s in steps {
        v = match (s, v) {
            (Step::Key(k), Value::Object(mut m)) => m.remove(k)?,
            (Step::Index(i), Value::Array(mut a)) if *i < a.len() => a.swap_remove(*i),
            _ => return None,
        };
    }
    Some(v)
}

/// The text arguments of one call as arrays of `rows`, and the path's steps per row (parsed once where the
/// path is one value).
fn text_args(args: &[ColumnarValue]) -> Result<(usize, Vec<ArrayRef>)> {
    let rows = args
        .iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1);
    let arrays = args
        .iter()
        .map(|a| {
            let a = a.clone().into_array(rows)?;
            Ok(datafusion::arrow::compute::cast(&a, &DataType::Utf8)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((rows, arrays))
}

fn scalar_out(args: &[ColumnarValue], out: ArrayRef) -> Result<ColumnarValue> {
    if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(out))
    }
}

/// `json_extract_scalar` (`scalar`: a string, number or boolean as text; else NULL) or `json_extract` (the
/// value's JSON text).
fn extract(args: &[ColumnarValue], scalar: bool) -> Result<ColumnarValue> {
    let (rows, arrays) = text_args(args)?;
    let (json, path) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
    let mut out = StringBuilder::with_capacity(rows, rows * 8);
    let mut parsed: Option<(String, Vec<Step>)> = None;
    for i in 0..rows {
        if json.is_null(i) || path.is_null(i) {
            out.append_null();
            continue;
        }
        let p = path.value(i);
        if parsed.as_ref().is_none_or(|(text, _)| text != p) {
            parsed = Some((p.to_string(), parse_path(p)?));
        }
        let steps = parsed.as_ref().map(|(_, s)| s.as_slice()).unwrap_or(&[]);
        match (at(json.value(i), steps), scalar) {
            (Some(Value::String(s)), true) => out.append_value(s),
            (Some(v @ (Value::Number(_) | Value::Bool(_))), true) => {
                out.append_value(v.to_string())
            }
            (Some(Value::Null) | None, _) | (Some(_), true) => out.append_null(),
            (Some(v), false) => out.append_value(v.to_string()),
        }
    }
    scalar_out(args, Arc::new(out.finish()))
}

fn array_length(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let (rows, arrays) = text_args(args)?;
    let json = arrays[0].as_string::<i32>();
    let mut out = Int64Builder::with_capacity(rows);
    for i in 0..rows {
        match (!json.is_null(i))
            .then(|| serde_json::from_str::<Value>(json.value(i)).ok())
            .flatten()
        {
            Some(Value::Array(a)) => out.append_value(a.len() as i64),
            _ => out.append_null(),
        }
    }
    scalar_out(args, Arc::new(out.finish()))
}

/// The functions, to register in a session.
pub fn udfs() -> Vec<ScalarUDF> {
    vec![
        create_udf(
            "json_extract_scalar",
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|args: &[ColumnarValue]| extract(args, true)),
        ),
        create_udf(
            "json_extract",
            vec![DataType::Utf8, DataType::Utf8],
            DataType::Utf8,
            Volatility::Immutable,
            Arc::new(|args: &[ColumnarValue]| extract(args, false)),
        ),
        create_udf(
            "json_array_length",
            vec![DataType::Utf8],
            DataType::Int64,
            Volatility::Immutable,
            Arc::new(array_length),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;

    fn call(
        f: fn(&[ColumnarValue]) -> Result<ColumnarValue>,
        json: &[Option<&str>],
        path: &str,
    ) -> Vec<Option<String>> {
        let args = [
            ColumnarValue::Array(Arc::new(StringArray::from(json.to_vec()))),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(path.into()))),
        ];
        let out = f(&args).unwrap().into_array(json.len()).unwrap();
        out.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn paths_as_trino_reads_them() {
        assert_eq!(
            parse_path("$.a.b[0][\"c d\"]['e']").unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Index(0),
                Step::Key("c d".into()),
                Step::Key("e".into())
            ]
        );
        assert_eq!(parse_path("$").unwrap(), vec![]);
        for bad in ["a.b", "$.", "$[x]", "$[0", "$a"] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scalars_values_and_nulls() {
        let docs = [
            Some(
                r#"{"bucketName": "logs", "n": 3, "ok": true, "tags": ["a", {"k": "v"}], "none": null}"#,
            ),
            Some("not json"),
            None,
        ];
        let s = |path: &str| call(|a| extract(a, true), &docs, path);
        let j = |path: &str| call(|a| extract(a, false), &docs, path);
        assert_eq!(s("$.bucketName"), vec![Some("logs".into()), None, None]);
        assert_eq!(s("$.n")[0].as_deref(), Some("3"));
        assert_eq!(s("$.ok")[0].as_deref(), Some("true"));
        assert_eq!(s("$.tags[0]")[0].as_deref(), Some("a"));
        assert_eq!(s("$.tags[1].k")[0].as_deref(), Some("v"));
        assert_eq!(s("$.tags")[0], None, "an array is no scalar");
        assert_eq!(s("$.none")[0], None);
        assert_eq!(s("$.missing")[0], None);
        assert_eq!(j("$.tags[1]")[0].as_deref(), Some(r#"{"k":"v"}"#));
        assert_eq!(j("$.bucketName")[0].as_deref(), Some(r#""logs""#));
        let n = array_length(&[ColumnarValue::Scalar(ScalarValue::Utf8(Some(
            "[1,[2],3]".into(),
        )))])
        .unwrap();
        assert!(matches!(
            n,
            ColumnarValue::Scalar(ScalarValue::Int64(Some(3)))
        ));
    }
}
