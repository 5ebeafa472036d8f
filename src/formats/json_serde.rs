//! What Athena's JSON SerDes do that arrow-json does not, in front of it: keys matched to columns ignoring case
//! and through `mapping.*` (OpenX's options), a malformed line read as a row of NULLs (`ignore.malformed.json`),
//! a nested object or array in a string column read as its JSON text (both SerDes; CloudTrail's
//! `requestparameters`), and CloudTrail's files, one `{"Records": [...]}` object each, read as one row a record.
//!
//! [`JsonLines`](super::ndjson::JsonLines) applies the key rules on its fast path ([`Keys`]); the lines it gives
//! up on reach arrow-json through [`Rewriting`], which writes each line again with the keys spelled as their
//! columns and nested values in string columns quoted, so both paths give the same rows.

use arrow::datatypes::{DataType, Fields, SchemaRef};
use arrow::error::ArrowError;
use std::collections::HashMap;
use std::sync::Arc;

use super::columns::{Step, Unhandled};
use super::json_cursor::Cursor;
use super::lines::Fallback;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How a JSON table's keys fill its columns, as Athena's JSON SerDes read them (OpenX's options, which owl applies
/// whichever of the two JSON SerDes a table names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonOptions {
    /// `'case.insensitive'='false'`: a key fills the column of exactly its name. By default (both SerDes'), a key
    /// fills the column its name matches ignoring case, at every level of a struct; a key spelled exactly as a
    /// column is still that column's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_sensitive: bool,
    /// `ignore.malformed.json`: a line that is not a JSON object is a row of NULLs rather than an error.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_malformed: bool,
    /// `mapping.<column>`: the top-level key that fills the column, in place of the column's name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping: BTreeMap<String, String>,
    /// Each file is one object whose `Records` array holds the rows: CloudTrail's files
    /// (`com.amazon.emr.cloudtrail.CloudTrailInputFormat`), read whole, never split into ranges.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub records: bool,
}

impl JsonOptions {
    pub fn is_default(&self) -> bool {
        *self == JsonOptions::default()
    }

    /// The SerDe properties that say these options (`WITH SERDEPROPERTIES`, Glue's `SerdeInfo.Parameters`).
    pub(crate) fn serde_properties(&self) -> Vec<(String, String)> {
        let mut props = Vec::new();
        if self.case_sensitive {
            props.push(("case.insensitive".into(), "false".into()));
        }
        if self.ignore_malformed {
            props.push(("ignore.malformed.json".into(), "true".into()));
        }
        for (column, key) in &self.mapping {
            props.push((format!("mapping.{column}"), key.clone()));
        }
        props
    }

    /// The options SerDe properties say; `property` looks one up by name. A value other than `true` or `false`
    /// is an error naming it.
    pub(crate) fn from_serde_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<JsonOptions, String> {
        let mut options = JsonOptions::default();
        let flag = |k: &str, v: &str| match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!(
                "SerDe property `{k}` = `{v}`: expected true or false"
            )),
        };
        for (k, v) in properties {
            match k {
                "case.insensitive" => options.case_sensitive = !flag(k, v)?,
                "ignore.malformed.json" => options.ignore_malformed = flag(k, v)?,
                _ => {
                    if let Some(column) = k.strip_prefix("mapping.") {
                        if column.is_empty() || v.is_empty() {
                            return Err(format!(
                                "SerDe property `{k}` = `{v}`: a mapping names a column and a JSON key"
                            ));
                        }
                        options.mapping.insert(column.to_string(), v.to_string());
                    }
                }
            }
        }
        Ok(options)
    }
}

/// The JSON nesting the rewriter follows; deeper input is left to arrow-json as written.
const MAX_DEPTH: usize = 64;

/// One object level's keys to its fields: the exact spelling (a column's name, or its `mapping.*` key at the top
/// level) first, then, unless the table is case-sensitive, the key folded to lower case.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    exact: HashMap<Box<[u8]>, usize>,
    folded: Option<HashMap<String, usize>>,
}

impl Keys {
    /// The keys of `fields`; `top`: the table's own columns, which `mapping.*` may rename.
    pub(crate) fn new(fields: &Fields, options: &JsonOptions, top: bool) -> Keys {
        let mut exact = HashMap::new();
        let mut folded = (!options.case_sensitive).then(HashMap::new);
        for (i, f) in fields.iter().enumerate() {
            let key = top
                .then(|| {
                    options
                        .mapping
                        .iter()
                        .find(|(column, _)| column.eq_ignore_ascii_case(f.name()))
                        .map(|(_, key)| key.as_str())
                })
                .flatten()
                .unwrap_or(f.name());
            exact.entry(key.as_bytes().into()).or_insert(i);
            if let Some(folded) = &mut folded {
                folded.entry(key.to_lowercase()).or_insert(i);
            }
        }
        Keys { exact, folded }
    }

    /// The field `key` (unescaped, UTF-8) fills, if any.
    pub(crate) fn find(&self, key: &[u8]) -> Option<usize> {
        if let Some(i) = self.exact.get(key) {
            return Some(*i);
        }
        let folded = self.folded.as_ref()?;
        let key = std::str::from_utf8(key).ok()?;
        folded.get(&key.to_lowercase()).copied()
    }

    /// Whether every key is read as written: exact names, no mapping (arrow-json needs no help with keys).
    fn exact_only(fields: &Fields, options: &JsonOptions) -> bool {
        options.case_sensitive
            && options.mapping.is_empty()
            && !fields.iter().any(|f| {
                matches!(
                    f.data_type(),
                    DataType::Struct(_)
                        | DataType::List(_)
                        | DataType::LargeList(_)
                        | DataType::Map(..)
                )
            })
    }
}

/// What the rewriter does with a value of a field's type.
#[derive(Debug)]
enum Shape {
    /// An object's keys are spelled as the fields' names; its values rewritten by the fields' shapes.
    Struct {
        keys: Keys,
        fields: Vec<(Box<[u8]>, Shape)>,
    },
    List(Box<Shape>),
    /// A map's keys are data; its values rewritten by the value type's shape.
    Map(Box<Shape>),
    /// An object or array here is read as its JSON text.
    Text,
    /// Copied as written.
    Other,
}

impl Shape {
    fn of(ty: &DataType, options: &JsonOptions) -> Shape {
        match ty {
            DataType::Struct(fields) => Shape::of_fields(fields, options, false),
            DataType::List(f) | DataType::LargeList(f) => {
                Shape::List(Box::new(Shape::of(f.data_type(), options)))
            }
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => {
                    Shape::Map(Box::new(Shape::of(kv[1].data_type(), options)))
                }
                _ => Shape::Other,
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Shape::Text,
            _ => Shape::Other,
        }
    }

    fn of_fields(fields: &Fields, options: &JsonOptions, top: bool) -> Shape {
        Shape::Struct {
            keys: Keys::new(fields, options, top),
            fields: fields
                .iter()
                .map(|f| {
                    let mut name = Vec::new();
                    serde_json::to_writer(&mut name, f.name()).expect("a string serializes");
                    (name.into(), Shape::of(f.data_type(), options))
                })
                .collect(),
        }
    }
}

/// arrow-json behind a rewriter of each line: see the module's documentation.
pub(crate) struct Rewriting {
    inner: Box<dyn Fallback>,
    shape: Arc<Shape>,
    ignore_malformed: bool,
    /// The start of a line whose end has not arrived.
    carry: Vec<u8>,
    /// Rewritten lines, `fed` of them handed to arrow-json.
    out: Vec<u8>,
    fed: usize,
    scratch: Vec<u8>,
}

/// The rewriting of a table's lines, built once a scan.
#[derive(Debug, Clone)]
pub(crate) struct Rewriter {
    shape: Arc<Shape>,
    ignore_malformed: bool,
}

impl Rewriter {
    /// `None` where arrow-json reads the lines as written: exact keys, no nested columns or mapping, malformed
    /// lines an error. (A nested value in a string column then still needs the rewriter: see `wrap`.)
    pub(crate) fn new(schema: &SchemaRef, options: &JsonOptions) -> Rewriter {
        Rewriter {
            shape: Arc::new(Shape::of_fields(schema.fields(), options, true)),
            ignore_malformed: options.ignore_malformed,
        }
    }

    /// Whether lines need more than arrow-json's reading of them: see [`Keys::exact_only`]. Lines with a
    /// nested value in a string column do too, but those are found as they come.
    pub(crate) fn needed(schema: &SchemaRef, options: &JsonOptions) -> bool {
        !Keys::exact_only(schema.fields(), options)
            || options.ignore_malformed
            || schema.fields().iter().any(|f| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            })
    }

    pub(crate) fn wrap(&self, inner: Box<dyn Fallback>) -> Box<dyn Fallback> {
        Box::new(Rewriting {
            inner,
            shape: Arc::clone(&self.shape),
            ignore_malformed: self.ignore_malformed,
            carry: Vec::new(),
            out: Vec::new(),
            fed: 0,
            scratch: Vec::new(),
        })
    }
}

impl Rewriting {
    /// Hands the rewritten lines to arrow-json: false while its batch is full.
    fn drain(&mut self) -> Result<bool, ArrowError> {
        while self.fed < self.out.len() {
            let n = self.inner.decode(&self.out[self.fed..])?;
            if n == 0 {
                return Ok(false);
            }
            self.fed += n;
        }
        self.out.clear();
        self.fed = 0;
        Ok(true)
    }

    fn line(&mut self, line: &[u8]) {
        let start = self.out.len();
        let mut c = Cursor::new(line);
        c.ws();
        if c.at_end() {
            return;
        }
        let written = match c.peek() {
            Ok(b'{') => {
                rewrite(&mut c, &self.shape, &mut self.out, &mut self.scratch, 0).and_then(|()| {
                    c.ws();
                    if c.at_end() { Ok(()) } else { Err(Unhandled) }
                })
            }
            _ => Err(Unhandled),
        };
        if written.is_err() {
            self.out.truncate(start);
            if self.ignore_malformed {
                // OpenX's rule: a row whose every column is NULL.
                self.out.extend_from_slice(b"{}");
            } else {
                // arrow-json's error (or its reading, where it takes what owl's walk does not).
                self.out.extend_from_slice(line);
            }
        }
        self.out.push(b'\n');
    }
}

impl Fallback for Rewriting {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        if !self.drain()? {
            return Ok(0);
        }
        if buf.is_empty() {
            // The input ended: the carried bytes are its last line.
            if !self.carry.is_empty() {
                let line = std::mem::take(&mut self.carry);
                self.line(&line);
                self.drain()?;
            }
            return Ok(0);
        }
        let mut pos = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[pos..]) {
            if self.carry.is_empty() {
                self.line(&buf[pos..pos + nl]);
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(&buf[pos..pos + nl]);
                self.line(&line);
                line.clear();
                self.carry = line;
            }
            pos += nl + 1;
        }
        self.carry.extend_from_slice(&buf[pos..]);
        self.drain()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<Option<arrow::array::RecordBatch>, ArrowError> {
        self.inner.flush()
    }
}

/// Writes the value at `c` to `out` as `shape` reads it; whitespace between tokens is dropped.
fn rewrite(
    c: &mut Cursor<'_>,
    shape: &Shape,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    depth: usize,
) -> Step {
    if depth >= MAX_DEPTH {
        return Err(Unhandled);
    }
    let start = c.pos();
    match (shape, c.peek()?) {
        (Shape::Struct { keys, fields }, b'{') => {
            // Keys of no field are dropped: copied, one could read as a field the mapping moved elsewhere.
            c.advance();
            out.push(b'{');
            c.ws();
            if c.eat(b'}') {
                out.push(b'}');
                return Ok(());
            }
            let mut first = true;
            loop {
                c.expect(b'"')?;
                let field = keys.find(c.string_text(scratch)?);
                c.ws();
                c.expect(b':')?;
                c.ws();
                match field {
                    Some(i) => {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        out.extend_from_slice(&fields[i].0);
                        out.push(b':');
                        rewrite(c, &fields[i].1, out, scratch, depth + 1)?;
                    }
                    None => c.skip(scratch)?,
                }
                if !next_member(c, out, b'}', false)? {
                    return Ok(());
                }
            }
        }
        (Shape::Map(values), b'{') => {
            c.advance();
            out.push(b'{');
            c.ws();
            if c.eat(b'}') {
                out.push(b'}');
                return Ok(());
            }
            loop {
                c.expect(b'"')?;
                let key_start = c.pos() - 1;
                c.string_text(scratch)?;
                out.extend_from_slice(c.since(key_start));
                c.ws();
                c.expect(b':')?;
                out.push(b':');
                c.ws();
                rewrite(c, values, out, scratch, depth + 1)?;
                if !next_member(c, out, b'}', true)? {
                    return Ok(());
                }
            }
        }
        (Shape::List(item), b'[') => {
            c.advance();
            out.push(b'[');
            c.ws();
            if c.eat(b']') {
                out.push(b']');
                return Ok(());
            }
            loop {
                rewrite(c, item, out, scratch, depth + 1)?;
                if !next_member(c, out, b']', true)? {
                    return Ok(());
                }
            }
        }
        (Shape::Text, b'{' | b'[') => {
            // Its JSON text, as written, in a string.
            c.skip(scratch)?;
            let text = std::str::from_utf8(c.since(start)).map_err(|_| Unhandled)?;
            serde_json::to_writer(&mut *out, text).map_err(|_| Unhandled)
        }
        _ => copy(c, out, scratch),
    }
}

/// After a member of an object or array: `,` (written when `comma`: a struct writes its own) and true, or
/// `close` (written) and false.
fn next_member(c: &mut Cursor<'_>, out: &mut Vec<u8>, close: u8, comma: bool) -> Step<bool> {
    c.ws();
    match c.next()? {
        b',' => {
            if comma {
                out.push(b',');
            }
            c.ws();
            Ok(true)
        }
        b if b == close => {
            out.push(close);
            Ok(false)
        }
        _ => Err(Unhandled),
    }
}

/// Copies one value as written.
fn copy(c: &mut Cursor<'_>, out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Step {
    let start = c.pos();
    c.skip(scratch)?;
    out.extend_from_slice(c.since(start));
    Ok(())
}

/// Turns CloudTrail's files (`{"Records": [{...}, {...}]}`, on one line or many) into one record a line, as
/// the bytes arrive: the records' bytes are copied, line breaks between their tokens made spaces; the object's
/// other keys are stepped over.
#[derive(Debug, Default)]
pub(crate) struct Records {
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// At the top level: the next string is a key.
    want_key: bool,
    /// The top-level key being read, and the last one read.
    key: Vec<u8>,
    /// The value after the current key is the `Records` array.
    records_next: bool,
    /// Inside the `Records` array.
    in_records: bool,
    /// Inside one record.
    in_record: bool,
    seen_object: bool,
    seen_records: bool,
}

impl Records {
    /// The next bytes of the file; the records that ended in them are appended to `out`, a line each.
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        for &b in bytes {
            if self.in_string {
                if self.in_record {
                    out.push(b);
                } else if self.want_key && self.depth == 1 && !self.escaped && b != b'"' {
                    if self.key.len() < 16 {
                        self.key.push(b);
                    } else {
                        self.key.clear();
                        self.key.extend_from_slice(b"<long>");
                    }
                }
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 && self.want_key {
                        self.key.clear();
                    }
                }
                b':' if self.depth == 1 => {
                    self.want_key = false;
                    self.records_next = self.key == b"Records";
                }
                b',' if self.depth == 1 => self.want_key = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth == 1 {
                        if b != b'{' {
                            return Err("a CloudTrail file is one JSON object, not an array".into());
                        }
                        self.seen_object = true;
                        self.want_key = true;
                    } else if self.depth == 2 && self.records_next && b == b'[' {
                        self.in_records = true;
                        self.seen_records = true;
                    } else if self.depth == 3 && self.in_records {
                        self.in_record = true;
                    }
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err("unbalanced `}` or `]`".into());
                    }
                    self.depth -= 1;
                    if self.in_record && self.depth == 2 {
                        out.push(b);
                        out.push(b'\n');
                        self.in_record = false;
                        continue;
                    }
                    if self.depth == 1 {
                        self.in_records = false;
                        self.records_next = false;
                    }
                }
                b' ' | b'\t' | b'\r' | b'\n' => {
                    if self.in_record {
                        out.push(b' ');
                    }
                    continue;
                }
                _ => {
                    if self.depth == 0 {
                        return Err(format!(
                            "a CloudTrail file is one JSON object; found `{}` outside it",
                            char::from(b).escape_default()
                        ));
                    }
                }
            }
            if self.in_record {
                out.push(b);
            }
        }
        Ok(())
    }

    /// The end of the file: an error if it was cut short or held no `Records` array.
    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.depth != 0 || self.in_string {
            return Err("the file ends inside its JSON object".into());
        }
        if !self.seen_object {
            return Err("the file holds no JSON object".into());
        }
        if !self.seen_records {
            return Err(
                "the file's object has no `Records` array (a CloudTrail table reads CloudTrail's log files)"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(input: &str, cut: usize) -> Result<String, String> {
        let mut r = Records::default();
        let mut out = Vec::new();
        let cut = cut.min(input.len());
        r.push(&input.as_bytes()[..cut], &mut out)?;
        r.push(&input.as_bytes()[cut..], &mut out)?;
        r.finish()?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn cloudtrail_files_become_a_record_a_line() {
        let file = "{\"Other\":[{\"a\":1}],\"Records\":[{\"eventName\":\"Get\\\"]}\",\n \"n\":{\"Records\":[1]}},\n{\"eventName\":\"Put\"}],\"x\":\"Records\"}\n";
        for cut in 0..file.len() {
            assert_eq!(
                records(file, cut).unwrap(),
                "{\"eventName\":\"Get\\\"]}\",  \"n\":{\"Records\":[1]}}\n{\"eventName\":\"Put\"}\n"
            );
        }
        assert_eq!(records("{\"Records\":[]}", 3).unwrap(), "");
        assert!(
            records("{\"Records\":[{\"a\":1}", 5)
                .unwrap_err()
                .contains("ends inside")
        );
        assert!(
            records("{\"digest\":1}", 5)
                .unwrap_err()
                .contains("no `Records`")
        );
        assert!(
            records("[{\"a\":1}]", 5)
                .unwrap_err()
                .contains("not an array")
        );
        assert!(records("", 0).unwrap_err().contains("no JSON object"));
    }
}
