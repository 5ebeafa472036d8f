//! RegexSerDe's lines: each line matched whole by the table's `input.regex`; group N is column N, parsed as the
//! column's type. As Hive's RegexSerDe reads them:
//! - a line the pattern does not match is a row of NULLs (never an error);
//! - a group that did not take part in the match, or is missing (fewer groups than columns), is NULL;
//! - a group whose text does not parse as its column's type is NULL; an empty group is `''` for a string
//!   column, NULL for any other.
//!
//! Every line is a row, so the decoder never gives up on one: there is no slower reader behind it.

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use regex::bytes::{CaptureLocations, Regex};
use std::sync::Arc;

use super::columns::{Column, Kind, Step, Values};
use super::lines::{Fallback, LineDecoder, LineFormat};

/// The pattern a table's `input.regex` is matched as: anchored at both ends of the line (Hive's
/// `Matcher.matches`).
pub(crate) fn compile(input_regex: &str) -> Result<Regex, String> {
    ascii_first(&format!("^(?:{input_regex})$")).map_err(|e| {
        // The parser's message draws the pattern over several lines; its last line says what is wrong.
        let text = e.to_string();
        let why = text.lines().last().unwrap_or_default().trim();
        let why = why.strip_prefix("error: ").unwrap_or(why);
        format!("input.regex does not compile: {why}")
    })
}

/// A line pattern compiled as Java reads it: `\w`, `\d`, `\s`, `\b` and `(?i)` ASCII, `.` and `[^ ]` any byte
/// (faster than Unicode classes over UTF-8). A pattern that needs Unicode (`\p{L}`) is compiled with it.
pub(crate) fn ascii_first(pattern: &str) -> Result<Regex, regex::Error> {
    let build = |unicode: bool| {
        regex::bytes::RegexBuilder::new(pattern)
            .unicode(unicode)
            .size_limit(64 << 20)
            .build()
    };
    build(false).or_else(|_| build(true))
}

/// A line pattern and the capture group each of a table's file columns takes (None: the column is NULL).
#[derive(Debug, Clone)]
pub(crate) struct LinePattern {
    pub regex: Regex,
    pub groups: Vec<Option<usize>>,
    /// Lines at the start of a file that are no rows (`skip.header.line.count`).
    pub header_lines: u32,
}

impl LinePattern {
    /// RegexSerDe's: the whole line matched by `input.regex`, group N the Nth column.
    pub(crate) fn regex_serde(input_regex: &str, columns: usize) -> Result<Self, String> {
        Ok(LinePattern {
            regex: compile(input_regex)?,
            groups: (1..=columns).map(Some).collect(),
            header_lines: 0,
        })
    }
}

/// Whether RegexSerDe builds a column of `field`'s type (strings, numbers, decimals, booleans, dates,
/// timestamps).
pub(crate) fn reads(field: &arrow::datatypes::Field) -> bool {
    matches!(Kind::of(field), Ok(Some(_)))
}

/// The decoder of `projection` (indices into `file_schema`) from lines matched by `pattern`. `at_start`: the
/// input begins at the file's start, so its header lines (if the table has any) are skipped.
pub(crate) fn regex_decoder(
    file_schema: SchemaRef,
    projection: Vec<usize>,
    pattern: Arc<LinePattern>,
    at_start: bool,
    batch_size: usize,
) -> Result<LineDecoder<RegexLines>, ArrowError> {
    let schema = Arc::new(file_schema.project(&projection)?);
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            Kind::of(f)?.map(Column::new).ok_or_else(|| {
                ArrowError::NotYetImplemented(format!(
                    "RegexSerDe and Grok read strings, numbers, booleans, dates and timestamps, not column `{}` of type {}",
                    f.name(),
                    f.data_type()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let format = RegexLines {
        skip: if at_start { pattern.header_lines } else { 0 },
        locations: pattern.regex.capture_locations(),
        groups: projection
            .iter()
            .map(|&i| {
                pattern
                    .groups
                    .get(i)
                    .copied()
                    .flatten()
                    .unwrap_or(usize::MAX)
            })
            .collect(),
        pattern,
    };
    LineDecoder::new(schema, batch_size, Some(columns), format)
}

pub(crate) struct RegexLines {
    pattern: Arc<LinePattern>,
    locations: CaptureLocations,
    /// Header lines still to skip.
    skip: u32,
    /// The capture group of each projected column (`usize::MAX`: none, always NULL).
    groups: Vec<usize>,
}

impl LineFormat for RegexLines {
    fn line(&mut self, columns: &mut [Column], _rows: usize, line: &[u8]) -> Step<bool> {
        if self.skip > 0 {
            self.skip -= 1;
            return Ok(false);
        }
        if self.groups.is_empty() {
            // No column read (`count(*)`): every line is a row, matched or not.
            return Ok(true);
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let matched = self
            .pattern
            .regex
            .captures_read(&mut self.locations, line)
            .is_some();
        for (column, &group) in columns.iter_mut().zip(&self.groups) {
            let span = if matched {
                self.locations.get(group)
            } else {
                None
            };
            let Some((start, end)) = span else {
                column.push_null();
                continue;
            };
            let text = String::from_utf8_lossy(&line[start..end]);
            match (&column.kind, &mut column.values) {
                (Kind::Utf8 | Kind::Utf8View | Kind::LargeUtf8, Values::Text { ends, bytes }) => {
                    bytes.extend_from_slice(text.as_bytes());
                    ends.push(bytes.len());
                    column.valid.push(true);
                }
                _ => {
                    if column.push_field(text.trim()).is_err() {
                        column.push_null();
                    }
                }
            }
        }
        Ok(true)
    }

    fn fallback(&mut self, _batch_size: usize) -> Result<Box<dyn Fallback>, ArrowError> {
        Err(ArrowError::NotYetImplemented(
            "RegexSerDe has no other reader: every line is a row".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion_datasource::decoder::Decoder;

    #[test]
    fn lines_become_rows_and_the_rest_nulls() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("ip", DataType::Utf8, true),
            Field::new("status", DataType::Int64, true),
            Field::new("path", DataType::Utf8, true),
            Field::new("extra", DataType::Utf8, true),
        ]));
        let re = Arc::new(LinePattern::regex_serde(r#"(\S+) (\S+) "([^"]*)""#, 4).unwrap());
        let mut d = regex_decoder(schema, vec![0, 1, 2, 3], re, true, 100).unwrap();
        let input =
            "1.2.3.4 200 \"/a b\"\nnot a log line\n5.6.7.8 - \"\"\r\n9.9.9.9 404 \"/x\" trailing\n";
        assert_eq!(d.decode(input.as_bytes()).unwrap(), input.len());
        let batch = d.flush().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 4);
        let ip = batch.column(0).as_string::<i32>();
        let status = batch.column(1).as_primitive::<Int64Type>();
        let path = batch.column(2).as_string::<i32>();
        assert_eq!(ip.value(0), "1.2.3.4");
        assert_eq!(status.value(0), 200);
        assert_eq!(path.value(0), "/a b");
        // No match (the line is not whole, or not at all): every column NULL.
        for row in [1, 3] {
            assert!((0..4).all(|c| batch.column(c).is_null(row)), "row {row}");
        }
        // `-` is no number: NULL; an empty group is '' for a string.
        assert!(status.is_null(2));
        assert_eq!(path.value(2), "");
        assert!(!path.is_null(2));
        // A fourth column without a group: NULL.
        assert_eq!(batch.column(3).null_count(), 4);
    }
}
