//! Newline-delimited JSON scans: a decoder for flat objects in front of arrow-json.
//!
//! DataFusion decodes NDJSON with arrow-json, which first writes every token of every row (the projected
//! fields' and all the others') to a tape and then builds columns from it. Most NDJSON a data lake holds is
//! one flat object a line, and a query reads a few of its fields: [`FlatDecoder`] parses each line once,
//! appends the projected fields' values straight to their columns and steps over the others without
//! copying them, which makes a scan about twice as fast (BENCHMARKS.md, step 12).
//!
//! It decodes only what it can decode exactly as arrow-json would: the same number parser (lexical-core), the same
//! date, timestamp and decimal parsers, the same escapes, UTF-8 checked the same way. A line it does not accept as
//! written (a nested value in a projected column, a duplicated key, an object across lines, malformed JSON) is handed,
//! with the rest of the range, to arrow-json, so such input gives exactly the rows or the error it gave before. A
//! projection with a type the fast path does not build (lists, structs, binary, ...) is read by arrow-json from the
//! start. `SET owl.ndjson_fast_path = false` reads every NDJSON table with arrow-json alone.

use arrow::array::types::{Date32Type, Decimal128Type};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::ReaderBuilder;
use chrono::Utc;
use std::sync::Arc;

use super::columns::{Column, Kind, Step, Unhandled, Values, timestamp};
use super::json_cursor::{Cursor, Text};
use super::json_serde::JsonOptions;
use super::json_serde::{Keys, Rewriter};
use super::lines::{Fallback, LineDecoder, LineFormat};

impl Column {
    /// A number's text, parsed as arrow-json parses it for this type.
    fn push_number(&mut self, text: &[u8]) -> Step {
        match (&self.kind, &mut self.values) {
            (Kind::Int(t), Values::I64(v)) => v.push(match t {
                DataType::Int8 => i64::from(lexical::<i8>(text)?),
                DataType::Int16 => i64::from(lexical::<i16>(text)?),
                DataType::Int32 => i64::from(lexical::<i32>(text)?),
                _ => lexical::<i64>(text)?,
            }),
            (Kind::UInt(t), Values::U64(v)) => v.push(match t {
                DataType::UInt8 => u64::from(lexical::<u8>(text)?),
                DataType::UInt16 => u64::from(lexical::<u16>(text)?),
                DataType::UInt32 => u64::from(lexical::<u32>(text)?),
                _ => lexical::<u64>(text)?,
            }),
            (Kind::Float32, Values::F32(v)) => v.push(lexical::<f32>(text)?),
            (Kind::Float64, Values::F64(v)) => v.push(lexical::<f64>(text)?),
            (Kind::Decimal128(p, s), Values::I128(v)) => {
                let text = std::str::from_utf8(text).map_err(|_| Unhandled)?;
                v.push(
                    arrow::compute::kernels::cast_utils::parse_decimal::<Decimal128Type>(
                        text, *p, *s,
                    )
                    .map_err(|_| Unhandled)?,
                )
            }
            // A date as a number of days, a timestamp as a number of its unit (arrow-json's integer reading).
            (Kind::Date32, Values::I32(v)) => v.push(lexical::<i32>(text)?),
            (Kind::Timestamp(..), Values::I64(v)) => v.push(lexical::<i64>(text)?),
            // A number in a string column: its text as written (arrow-json's `coerce_primitive`).
            (Kind::Utf8 | Kind::LargeUtf8 | Kind::Utf8View, Values::Text { ends, bytes })
                if is_json_number(text) =>
            {
                bytes.extend_from_slice(text);
                ends.push(bytes.len());
            }
            _ => return Err(Unhandled),
        }
        self.valid.push(true);
        Ok(())
    }

    /// A string value (unescaped, valid UTF-8), read as arrow-json reads strings for this type.
    fn push_text(&mut self, text: &str) -> Step {
        match (&self.kind, &mut self.values) {
            (Kind::Utf8 | Kind::LargeUtf8 | Kind::Utf8View, Values::Text { ends, bytes }) => {
                bytes.extend_from_slice(text.as_bytes());
                ends.push(bytes.len());
            }
            (Kind::Date32, Values::I32(v)) => v.push(
                <Date32Type as arrow::compute::kernels::cast_utils::Parser>::parse(text)
                    .ok_or(Unhandled)?,
            ),
            (Kind::Timestamp(unit, tz, _), Values::I64(v)) => v.push(match tz {
                Some(tz) => timestamp(tz, *unit, text)?,
                None => timestamp(&Utc, *unit, text)?,
            }),
            _ => return Err(Unhandled),
        }
        self.valid.push(true);
        Ok(())
    }

    fn push_bool(&mut self, value: bool) -> Step {
        match &mut self.values {
            Values::Bool(v) => v.push(value),
            // A boolean in a string column: `true` or `false` (arrow-json's `coerce_primitive`).
            Values::Text { ends, bytes } => {
                bytes.extend_from_slice(if value { b"true" } else { b"false" });
                ends.push(bytes.len());
            }
            _ => return Err(Unhandled),
        }
        self.valid.push(true);
        Ok(())
    }
}

/// Whether `text` is a number as JSON writes it: `-`, an integer part without leading zeros, then an optional
/// fraction and exponent. Anything else the tokenizer accepts is arrow-json's to reject.
fn is_json_number(text: &[u8]) -> bool {
    let digits = |t: &[u8]| t.iter().take_while(|b| b.is_ascii_digit()).count();
    let mut t = text.strip_prefix(b"-").unwrap_or(text);
    let n = digits(t);
    if n == 0 || (n > 1 && t[0] == b'0') {
        return false;
    }
    t = &t[n..];
    if let Some(rest) = t.strip_prefix(b".") {
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        t = &rest[n..];
    }
    if let Some(rest) = t.strip_prefix(b"e").or_else(|| t.strip_prefix(b"E")) {
        let rest = rest
            .strip_prefix(b"+")
            .or_else(|| rest.strip_prefix(b"-"))
            .unwrap_or(rest);
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        t = &rest[n..];
    }
    t.is_empty()
}

fn lexical<T: lexical_core::FromLexical>(text: &[u8]) -> Step<T> {
    lexical_core::parse::<T>(text).map_err(|_| Unhandled)
}

/// Newline-delimited JSON objects, decoded by [`JsonLines`] and arrow-json behind it: see the module's
/// documentation.
pub(crate) type FlatDecoder = LineDecoder<JsonLines>;

/// The decoder of `schema`'s columns from NDJSON, its keys read as `options` say (`json_serde`). `fast`: false
/// reads every line with arrow-json (`SET owl.ndjson_fast_path = false`).
pub(crate) fn flat_decoder(
    schema: SchemaRef,
    batch_size: usize,
    fast: bool,
    options: &JsonOptions,
) -> Result<FlatDecoder, ArrowError> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        match Kind::of(field)? {
            Some(kind) => columns.push(Column::new(kind)),
            None => {
                columns.clear();
                break;
            }
        }
    }
    let fast = fast && columns.len() == schema.fields().len();
    let format = JsonLines {
        set_in: vec![0; schema.fields().len()],
        keys: Keys::new(schema.fields(), options, true),
        rewriter: Rewriter::needed(&schema, options).then(|| Rewriter::new(&schema, options)),
        schema: Arc::clone(&schema),
        order: Vec::new(),
        scratch: Vec::new(),
    };
    LineDecoder::new(schema, batch_size, fast.then_some(columns), format)
}

/// One flat JSON object a line.
pub(crate) struct JsonLines {
    schema: SchemaRef,
    /// Projected fields' keys to their column.
    keys: Keys,
    /// What arrow-json needs in front of it to read the lines as the fast path does, if anything.
    rewriter: Option<Rewriter>,
    /// The keys of the last line in the order they came, each with its column: lines written by one program
    /// list their keys in one order, so a key is usually found by one comparison.
    order: Vec<(Box<[u8]>, Option<usize>)>,
    /// For each column, the row it was last set in plus one (a key given twice is left to arrow-json).
    set_in: Vec<usize>,
    /// Unescaped string bytes.
    scratch: Vec<u8>,
}

impl LineFormat for JsonLines {
    /// One line into the columns (nothing for a blank line).
    fn line(&mut self, columns: &mut [Column], rows: usize, line: &[u8]) -> Step<bool> {
        let mut c = Cursor { b: line, i: 0 };
        c.ws();
        if c.at_end() {
            return Ok(false);
        }
        let row = rows + 1;
        match self.object(columns, &mut c, row).and_then(|()| {
            c.ws();
            if c.at_end() { Ok(()) } else { Err(Unhandled) }
        }) {
            Ok(()) => {
                for (col, set) in columns.iter_mut().zip(&self.set_in) {
                    if *set != row {
                        col.push_null();
                    }
                }
                Ok(true)
            }
            Err(e) => {
                for col in columns.iter_mut() {
                    col.truncate(rows);
                }
                for set in &mut self.set_in {
                    if *set == row {
                        *set = 0;
                    }
                }
                Err(e)
            }
        }
    }

    fn batch_taken(&mut self) {
        self.set_in.iter_mut().for_each(|s| *s = 0);
    }

    fn fallback(&mut self, batch_size: usize) -> Result<Box<dyn Fallback>, ArrowError> {
        let json: Box<dyn Fallback> = Box::new(
            ReaderBuilder::new(Arc::clone(&self.schema))
                .with_batch_size(batch_size)
                .with_coerce_primitive(true)
                .build_decoder()?,
        );
        Ok(match &self.rewriter {
            Some(r) => r.wrap(json),
            None => json,
        })
    }
}

impl JsonLines {
    /// One top-level object, its projected fields appended to their columns.
    fn object(&mut self, columns: &mut [Column], c: &mut Cursor<'_>, row: usize) -> Step {
        c.expect(b'{')?;
        c.ws();
        if c.eat(b'}') {
            return Ok(());
        }
        let mut k = 0;
        loop {
            c.expect(b'"')?;
            let key = c.key()?;
            let col = self.column_of(k, key);
            k += 1;
            c.ws();
            c.expect(b':')?;
            c.ws();
            match col {
                Some(i) => {
                    if self.set_in[i] == row {
                        return Err(Unhandled);
                    }
                    self.set_in[i] = row;
                    self.value(&mut columns[i], c)?;
                }
                None => c.skip_value(&mut self.scratch, 0)?,
            }
            c.ws();
            match c.next()? {
                b',' => c.ws(),
                b'}' => return Ok(()),
                _ => return Err(Unhandled),
            }
        }
    }

    fn column_of(&mut self, k: usize, key: &[u8]) -> Option<usize> {
        if let Some((name, col)) = self.order.get(k)
            && **name == *key
        {
            return *col;
        }
        let col = self.keys.find(key);
        let entry = (Box::from(key), col);
        if k < self.order.len() {
            self.order[k] = entry;
        } else {
            self.order.push(entry);
        }
        col
    }

    /// A projected field's value.
    fn value(&mut self, column: &mut Column, c: &mut Cursor<'_>) -> Step {
        match c.peek()? {
            b'"' => {
                c.i += 1;
                let text = c.string(&mut self.scratch)?;
                let text = match text {
                    Text::Line(start, end) => &c.b[start..end],
                    Text::Scratch => &self.scratch[..],
                };
                // Checked by `string`: ASCII, or valid UTF-8.
                let text = std::str::from_utf8(text).map_err(|_| Unhandled)?;
                column.push_text(text)
            }
            b'-' | b'0'..=b'9' => column.push_number(c.number()),
            b'n' => {
                c.literal(b"null")?;
                column.push_null();
                Ok(())
            }
            b't' => {
                c.literal(b"true")?;
                column.push_bool(true)
            }
            b'f' => {
                c.literal(b"false")?;
                column.push_bool(false)
            }
            _ => Err(Unhandled),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::oracle::{
        cut_sets, decode_in_pieces, every_type, ndjson_agrees as agrees, ndjson_flat as flat,
        ndjson_reference as reference, ndjson_same as same, schema,
    };
    use arrow::array::{AsArray, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};
    use proptest::prelude::*;

    #[test]
    fn flat_objects_decode_as_arrow_json_decodes_them() {
        let input = concat!(
            r#"{"i":1,"s":-2,"u":3,"f":1.5,"g":2.25,"d":12.3,"day":"2024-02-29","ts":"2024-01-02T03:04:05.678Z","tz":"2024-01-02 03:04:05","b":true,"t":"plain","lt":"x","v":"a view longer than twelve"}"#,
            "\n",
            // Other key orders, keys not in the schema (nested too), nulls, missing keys, whitespace.
            r#"  { "t" : "é ü \u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t" , "extra": {"a": [1, {"b": null}, "x"], "c": -1.5e-3}, "i": null, "b": false, "f": -0e0 }  "#,
            "\r\n",
            "\n",
            "   \n",
            r#"{}"#,
            "\n",
            r#"{"f": 1e300, "g": 3.4e38, "d": -0.5, "day": 19000, "ts": 1700000000000, "u": 255, "s": -32768, "i": -9223372036854775808}"#,
            "\n",
            r#"{"i": 9223372036854775807, "v": "", "t": "", "lt": "ünïcode 日本"}"#,
        );
        assert!(same(&every_type(true), input), "the fast path gave up");
    }

    #[test]
    fn a_projection_reads_only_its_fields() {
        let s = schema(&[("b", DataType::Utf8), ("z", DataType::Int64)]);
        let input = "{\"a\":1,\"b\":\"x\",\"c\":[1,2]}\n{\"c\":{},\"b\":\"y\",\"a\":2}\n";
        assert!(same(&s, input));
        // No column at all: only the rows are counted (`count(*)`).
        let none = Arc::new(Schema::empty());
        assert!(same(&none, input));
        let (batch, _) = flat(&none, input.as_bytes(), &[], 8192);
        assert_eq!(batch.unwrap().num_rows(), 2);
    }

    #[test]
    fn lines_it_does_not_take_go_to_arrow_json_with_the_rest() {
        let s = schema(&[("i", DataType::Int64), ("t", DataType::Utf8)]);
        // Each of these is left to arrow-json (which accepts some and rejects others), rows before it kept.
        for odd in [
            r#"{"i": "42", "t": "number as string"}"#,
            r#"{"i": 4.0, "t": "float into an integer"}"#,
            r#"{"i": 1, "i": 2, "t": "a key twice"}"#,
            r#"{"i": 1, "t": "two objects"} {"i": 2, "t": "on one line"}"#,
            r#"{"i": 1,, "t": "doubled comma"}"#,
            r#"{"i": 1, "t": "trailing comma",}"#,
            r#"{"i": 1, "t": {"nested": "in a projected column"}}"#,
            r#"{"i": 1e400, "t": "overflow"}"#,
            r#"{"i": 99999999999999999999, "t": "too big"}"#,
            r#"{"i": 1, "t": "unterminated}"#,
            r#"{"i": 1, "t": "bad escape \q"}"#,
            r#"{"i": 1, "t": "lone surrogate \udc00"}"#,
            r#"{"t\u0041": "escaped key", "i": 1}"#,
            r#"[1, 2]"#,
            r#"{"i": nul}"#,
            "{\"i\": 1,\n \"t\": \"an object over two lines\"}",
        ] {
            let input = format!(
                "{{\"i\": 1, \"t\": \"a\"}}\n{{\"i\": 2, \"t\": \"b\"}}\n{odd}\n{{\"i\": 3, \"t\": \"c\"}}\n"
            );
            assert!(!same(&s, &input), "the fast path took {odd:?}");
        }
    }

    /// A column the crawler merged to string (a number in one file, text in another) reads numbers and
    /// booleans as their text, as Athena's JSON SerDe and arrow-json's `coerce_primitive` do: on the fast
    /// path, with the same text arrow-json keeps.
    #[test]
    fn numbers_and_booleans_in_a_string_column_read_as_their_text() {
        let s = schema(&[("i", DataType::Int64), ("t", DataType::Utf8)]);
        let input = "{\"i\": 1, \"t\": 42}\n{\"i\": 2, \"t\": -0.50}\n{\"i\": 3, \"t\": 1E+3}\n\
                     {\"i\": 4, \"t\": true}\n{\"i\": 5, \"t\": \"x7\"}\n{\"i\": 6, \"t\": false}\n";
        assert!(same(&s, input), "the fast path should take them");
        let (batch, _) = flat(&s, input.as_bytes(), &[], 8192);
        let batch = batch.unwrap();
        let t = batch.column(1).as_string::<i32>();
        let texts: Vec<&str> = t.iter().map(Option::unwrap).collect();
        assert_eq!(texts, ["42", "-0.50", "1E+3", "true", "x7", "false"]);
        for odd in ["01", "1.", ".5", "1e", "--1", "1-2", "1.2.3"] {
            let input = format!("{{\"i\": 1, \"t\": \"a\"}}\n{{\"i\": 2, \"t\": {odd}}}\n");
            assert!(!same(&s, &input), "the fast path took {odd:?}");
        }
    }

    #[test]
    fn json_numbers_are_told_from_other_tokens() {
        for yes in [
            "0", "-0", "7", "-12", "3.25", "1e9", "1E-9", "2.5e+10", "-0.0",
        ] {
            assert!(is_json_number(yes.as_bytes()), "{yes}");
        }
        for no in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1-2", "1.2.3", "1ee2",
        ] {
            assert!(!is_json_number(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn surrogate_pairs_past_the_first_supplementary_plane_decode_right() {
        let s = schema(&[("t", DataType::Utf8)]);
        let input = r#"{"t": "\ud83d\ude00 \ud840\udc00 \udbff\udfff"}"#.as_bytes();
        let options = JsonOptions::default();
        let decoder = flat_decoder(Arc::clone(&s), 8192, true, &options).unwrap();
        let (got, fast) = decode_in_pieces(decoder, &s, input, &[]);
        let got = got.unwrap();
        let text = got
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(fast);
        assert_eq!(text.value(0), "\u{1F600} \u{20000} \u{10FFFF}");
        // arrow-json agrees below U+20000 only.
        let want = reference(&s, input).unwrap();
        let theirs = want
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(theirs.value(0).chars().next(), Some('\u{1F600}'));
        assert_ne!(theirs.value(0), text.value(0));
    }

    #[test]
    fn invalid_utf8_is_left_to_arrow_json() {
        let s = schema(&[("t", DataType::Utf8)]);
        for input in [
            b"{\"t\": \"ok\"}\n{\"t\": \"\xff\"}\n".to_vec(),
            b"{\"t\": \"ok\"}\n{\"other\": \"\xc3\"}\n".to_vec(),
        ] {
            let want = reference(&s, &input);
            let (got, fast) = flat(&s, &input, &[], 8192);
            assert!(want.is_err() && got.is_err() && !fast);
        }
    }

    #[test]
    fn a_type_it_does_not_build_reads_through_arrow_json() {
        let s = Arc::new(Schema::new(vec![Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )]));
        assert!(!same(&s, "{\"l\": [1, 2]}\n{\"l\": null}\n"));
    }

    /// A JSON value that arrow-json and the fast path may both meet: numbers of every shape, strings with
    /// escapes, literals, nesting.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>().prop_map(|f| format!("{f:?}")),
            (0u32..1000, 0u32..100).prop_map(|(a, b)| format!("{a}.{b:02}")),
            "[a-z0-9 é\\\\\"]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            "[0-9]{4}-(0[1-9]|1[0-2])-[0-2][0-9]".prop_map(|s| format!("\"{s}\"")),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-c]", inner), 0..3).prop_map(|v| {
                    let kv: Vec<String> = v.iter().map(|(k, x)| format!("\"{k}\":{x}")).collect();
                    format!("{{{}}}", kv.join(", "))
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn any_lines_decode_as_arrow_json_decodes_them(
            lines in prop::collection::vec(
                prop::collection::vec((prop_oneof![Just("i"), Just("f"), Just("d"), Just("t"),
                    Just("day"), Just("b"), Just("x")], value()), 0..5),
                1..6),
            cuts in prop::collection::vec(any::<usize>(), 0..6),
            batch_size in 1usize..4,
        ) {
            let s = schema(&[
                ("i", DataType::Int64),
                ("f", DataType::Float64),
                ("d", DataType::Decimal128(12, 3)),
                ("t", DataType::Utf8),
                ("day", DataType::Date32),
                ("b", DataType::Boolean),
            ]);
            let input: String = lines
                .iter()
                .map(|fields| {
                    let kv: Vec<String> =
                        fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
                    format!("{{{}}}\n", kv.join(", "))
                })
                .collect();
            let want = reference(&s, input.as_bytes());
            let (got, _) = flat(&s, input.as_bytes(), &cuts, batch_size);
            prop_assert!(agrees(&want, &got), "{input:?}: arrow-json {want:?}, fast path {got:?}");
        }
    }

    // The JSON SerDe's options (`json_serde`), on both paths.
    use arrow::datatypes::{Fields, Int64Type};

    fn options(f: impl FnOnce(&mut JsonOptions)) -> JsonOptions {
        let mut o = JsonOptions::default();
        f(&mut o);
        o
    }

    /// `input` through the fast path and through arrow-json behind the rewriter, cut every way: both must give
    /// the same rows, which are returned.
    fn both(schema: &SchemaRef, options: &JsonOptions, input: &str) -> Result<RecordBatch, String> {
        let mut seen: Option<Result<RecordBatch, String>> = None;
        for fast in [true, false] {
            for cuts in cut_sets(input.len()) {
                let decoder = flat_decoder(Arc::clone(schema), 3, fast, options).unwrap();
                let (got, _) = decode_in_pieces(decoder, schema, input.as_bytes(), &cuts);
                let got = got.map_err(|e| e.to_string());
                match &seen {
                    None => seen = Some(got),
                    Some(s) => assert_eq!(
                        s.as_ref().map_err(|_| ()),
                        got.as_ref().map_err(|_| ()),
                        "fast={fast} cuts={cuts:?}"
                    ),
                }
            }
        }
        seen.unwrap()
    }

    fn strings(b: &RecordBatch, i: usize) -> Vec<Option<String>> {
        b.column(i)
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    }

    #[test]
    fn keys_match_columns_ignoring_case_unless_the_table_says_otherwise() {
        let s = schema(&[("userid", DataType::Int64), ("name", DataType::Utf8)]);
        let input =
            "{\"UserId\":1,\"NAME\":\"a\"}\n{\"userid\":2,\"Name\":\"b\"}\n{\"name\":\"c\"}\n";
        let b = both(&s, &JsonOptions::default(), input).unwrap();
        let ids: Vec<_> = b.column(0).as_primitive::<Int64Type>().iter().collect();
        assert_eq!(ids, vec![Some(1), Some(2), None]);
        assert_eq!(
            strings(&b, 1),
            vec![Some("a".into()), Some("b".into()), Some("c".into())]
        );
        let b = both(&s, &options(|o| o.case_sensitive = true), input).unwrap();
        let ids: Vec<_> = b.column(0).as_primitive::<Int64Type>().iter().collect();
        assert_eq!(ids, vec![None, Some(2), None]);
        assert_eq!(strings(&b, 1), vec![None, None, Some("c".into())]);
    }

    #[test]
    fn a_mapping_names_the_key_that_fills_a_column() {
        let s = schema(&[("ts", DataType::Utf8), ("id", DataType::Int64)]);
        let o = options(|o| {
            o.mapping.insert("ts".into(), "timestamp".into());
        });
        let input =
            "{\"timestamp\":\"t1\",\"ts\":\"no\",\"id\":1}\n{\"TimeStamp\":\"t2\",\"id\":2}\n";
        let b = both(&s, &o, input).unwrap();
        assert_eq!(strings(&b, 0), vec![Some("t1".into()), Some("t2".into())]);
    }

    #[test]
    fn malformed_lines_are_null_rows_only_when_the_table_says_so() {
        let s = schema(&[("a", DataType::Int64)]);
        let input = "{\"a\":1}\n{\"a\":2\nnot json\n[1,2]\n{\"a\":3} {\"a\":4}\n\n{\"a\":5}\n";
        assert!(both(&s, &JsonOptions::default(), input).is_err());
        let b = both(&s, &options(|o| o.ignore_malformed = true), input).unwrap();
        let a: Vec<_> = b.column(0).as_primitive::<Int64Type>().iter().collect();
        assert_eq!(a, vec![Some(1), None, None, None, None, Some(5)]);
        // A value of the wrong type is no malformed line: still an error, as the SerDe's.
        let bad = "{\"a\":\"x\"}\n";
        assert!(both(&s, &options(|o| o.ignore_malformed = true), bad).is_err());
    }

    #[test]
    fn nested_values_in_string_columns_read_as_their_json_text() {
        let s = schema(&[("p", DataType::Utf8), ("n", DataType::Int64)]);
        let input = "{\"p\": {\"bucketName\": \"b\", \"k\": [1, {\"x\": null}]}, \"n\": 1}\n{\"p\":[\"a\\\"b\"],\"n\":2}\n{\"p\":\"plain\",\"n\":3}\n";
        let b = both(&s, &JsonOptions::default(), input).unwrap();
        assert_eq!(
            strings(&b, 0),
            vec![
                Some("{\"bucketName\": \"b\", \"k\": [1, {\"x\": null}]}".into()),
                Some("[\"a\\\"b\"]".into()),
                Some("plain".into())
            ]
        );
    }

    #[test]
    fn struct_fields_match_ignoring_case_at_every_level() {
        let inner = Fields::from(vec![
            Field::new("type", DataType::Utf8, true),
            Field::new("accountid", DataType::Utf8, true),
        ]);
        let s = Arc::new(arrow::datatypes::Schema::new(vec![
            Field::new("useridentity", DataType::Struct(inner.clone()), true),
            Field::new(
                "resources",
                DataType::List(Arc::new(Field::new("item", DataType::Struct(inner), true))),
                true,
            ),
        ]));
        let input = "{\"userIdentity\":{\"type\":\"IAMUser\",\"accountId\":\"1\"},\"resources\":[{\"TYPE\":\"r\",\"accountId\":{\"x\":1}}]}\n";
        let b = both(&s, &JsonOptions::default(), input).unwrap();
        let user = b.column(0).as_struct();
        assert_eq!(user.column(1).as_string::<i32>().value(0), "1");
        let res = b.column(1).as_list::<i32>().value(0);
        let res = res.as_struct();
        assert_eq!(res.column(0).as_string::<i32>().value(0), "r");
        assert_eq!(res.column(1).as_string::<i32>().value(0), "{\"x\":1}");
    }
}
