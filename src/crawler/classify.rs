//! What a file is, from its first bytes. Order (Glue's, content before names):
//! 1. magic: Parquet `PAR1`, ORC `ORC`, Avro `Obj\x01`;
//! 2. compression magic (gzip, bzip2, xz, zstd): decompress the sample and look inside;
//! 3. text: NDJSON (`{` lines), JSON array (`[`), else delimited text, with the delimiter sniffed from
//!    `,` `|` `\t` `;` (Glue's candidates);
//! 4. anything else (NUL bytes, no consistent delimiter) is reported as unrecognised, never fatal.

use crate::catalog::model::Compression;
use serde_json::Value;
use std::io::Read;

/// What the first bytes say.
#[derive(Debug)]
pub(crate) enum Sniffed {
    Parquet,
    Orc,
    Avro,
    /// Decompressed (if need be) text sample; `truncated` when the sample stops before the file does.
    Text {
        compression: Compression,
        text: String,
        truncated: bool,
    },
}

/// Classify from the head of a file. `whole` says the head is the entire file.
pub(crate) fn sniff(head: &[u8], whole: bool, sample_limit: usize) -> Result<Sniffed, String> {
    if head.starts_with(b"PAR1") {
        return Ok(Sniffed::Parquet);
    }
    if head.starts_with(b"ORC") {
        return Ok(Sniffed::Orc);
    }
    if head.starts_with(b"Obj\x01") {
        return Ok(Sniffed::Avro);
    }
    let compression = if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let (bytes, truncated) = if compression == Compression::None {
        (head.to_vec(), !whole)
    } else {
        inflate(compression, head, whole, sample_limit)?
    };
    if bytes.contains(&0) {
        return Err("unrecognised binary content".into());
    }
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        // A sample cut inside a multi-byte character: keep what is valid.
        Err(e) if truncated && e.utf8_error().error_len().is_none() => {
            let valid = e.utf8_error().valid_up_to();
            let mut b = e.into_bytes();
            b.truncate(valid);
            String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string())?
        }
        Err(_) => return Err("not UTF-8 text".into()),
    };
    Ok(Sniffed::Text {
        compression,
        text,
        truncated,
    })
}

/// Decompress up to `limit` bytes of a compressed sample. A stream cut short by the sample is fine; a whole
/// file that does not decompress is corrupt.
fn inflate(
    c: Compression,
    head: &[u8],
    whole: bool,
    limit: usize,
) -> Result<(Vec<u8>, bool), String> {
    let mut reader: Box<dyn Read + '_> = match c {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(head)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(head)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(head)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(head).map_err(|e| e.to_string())?)
        }
        Compression::None => return Ok((head.to_vec(), !whole)),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok((out, false)),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() >= limit {
                    out.truncate(limit);
                    return Ok((out, true));
                }
            }
            Err(e) => {
                if whole {
                    return Err(format!("corrupt or truncated {} data: {e}", c.as_str()));
                }
                return Ok((out, true));
            }
        }
    }
}

/// A text file's format as sniffed, with the sample it was sniffed from.
#[derive(Debug)]
pub(crate) enum TextSample {
    Ndjson(Vec<Value>),
    /// A file that is one JSON array of objects (the records of its sample).
    JsonArray(Vec<Value>),
    Csv {
        delimiter: u8,
        rows: Vec<Vec<String>>,
        quoted_newlines: bool,
    },
}

/// Decide between NDJSON and delimited text and parse the sample (at most `max_records` records).
/// The objects of a JSON array's sample (`body` follows the `[`); the sample may end mid-record.
fn json_array(body: &str, truncated: bool, max_records: usize) -> Result<Vec<Value>, String> {
    let mut records = Vec::new();
    let mut rest = body;
    while records.len() < max_records {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() || rest.starts_with(']') {
            break;
        }
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(v @ Value::Object(_))) => {
                let used = values.byte_offset();
                records.push(v);
                rest = &rest[used..];
            }
            Some(Err(e)) if truncated && e.is_eof() => break,
            Some(Ok(_)) => {
                return Err(format!(
                    "element {} of the JSON array is not an object",
                    records.len() + 1
                ));
            }
            Some(Err(e)) => return Err(format!("not a JSON array of objects: {e}")),
            None => break,
        }
    }
    if records.is_empty() {
        Err("no complete JSON object in the array's sample".into())
    } else {
        Ok(records)
    }
}

pub(crate) fn text_format(
    text: &str,
    truncated: bool,
    max_records: usize,
) -> Result<TextSample, String> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err("empty file".into());
    }
    if let Some(body) = trimmed.strip_prefix('[') {
        return json_array(body, truncated, max_records).map(TextSample::JsonArray);
    }
    if trimmed.starts_with('{') {
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut records = Vec::new();
        for (i, line) in lines.iter().enumerate().take(max_records) {
            match serde_json::from_str::<Value>(line) {
                Ok(v @ Value::Object(_)) => records.push(v),
                // The sample may end mid-record.
                Err(_) if truncated && i + 1 == lines.len() => break,
                _ => return Err(format!("line {} is not a JSON object", i + 1)),
            }
        }
        return if records.is_empty() {
            Err("no complete JSON record in the sample".into())
        } else {
            Ok(TextSample::Ndjson(records))
        };
    }
    // The best candidate so far: (width, share of rows with that width, delimiter, rows, quoted newlines).
    type Candidate = (usize, f64, u8, Vec<Vec<String>>, bool);
    let mut best: Option<Candidate> = None;
    for delimiter in [b',', b'|', b'\t', b';'] {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = Vec::new();
        let mut newlines = false;
        for rec in rdr.records().take(max_records + 1) {
            let Ok(rec) = rec else { break };
            newlines |= rec.iter().any(|f| f.contains('\n'));
            rows.push(rec.iter().map(str::to_string).collect::<Vec<_>>());
        }
        if truncated && rows.len() > 1 {
            rows.pop(); // the last record may be cut
        }
        rows.truncate(max_records);
        if rows.len() < 2 {
            continue;
        }
        let width = rows[0].len();
        let consistent =
            rows.iter().filter(|r| r.len() == width).count() as f64 / rows.len() as f64;
        if width < 2 || consistent < 0.9 {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| (width, consistent) > (b.0, b.1))
        {
            best = Some((width, consistent, delimiter, rows, newlines));
        }
    }
    match best {
        Some((_, _, delimiter, rows, quoted_newlines)) => Ok(TextSample::Csv {
            delimiter,
            rows,
            quoted_newlines,
        }),
        None => Err(
            "unrecognised text: not JSON, and no consistent `,` `|` tab or `;` delimiter".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_arrays_of_objects_even_when_the_sample_is_cut() {
        let t = text_format("[{\"a\": 1}, {\"a\": 2},\n {\"a\": 3", true, 1000).unwrap();
        assert!(matches!(t, TextSample::JsonArray(ref r) if r.len() == 2));
        let t = text_format("  [ {\"a\": 1} ]", false, 1000).unwrap();
        assert!(matches!(t, TextSample::JsonArray(ref r) if r.len() == 1));
        assert!(text_format("[1, 2]", false, 1000).is_err());
        assert!(text_format("[{\"a\": 1} {{", false, 1000).is_err());
        assert!(text_format("[]", false, 1000).is_err());
    }

    #[test]
    fn sniffs_formats() {
        assert!(matches!(
            sniff(b"PAR1....", false, 1 << 20),
            Ok(Sniffed::Parquet)
        ));
        assert!(sniff(b"\x00\x01\x02junk", true, 1 << 20).is_err());
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut e, b"a,b\n1,2\n").unwrap();
            e.finish().unwrap()
        };
        match sniff(&gz, true, 1 << 20).unwrap() {
            Sniffed::Text {
                compression, text, ..
            } => {
                assert_eq!(compression, Compression::Gzip);
                assert_eq!(text, "a,b\n1,2\n");
            }
            other => panic!("{other:?}"),
        }
        // A truncated gzip file (the whole file was read) is corrupt.
        assert!(sniff(&gz[..gz.len() - 6], true, 1 << 20).is_err());
    }

    #[test]
    fn sniffs_delimiters_and_json() {
        match text_format("a|b|c\n1|2|3\n4|5|6\n", false, 1000).unwrap() {
            TextSample::Csv {
                delimiter, rows, ..
            } => {
                assert_eq!(delimiter, b'|');
                assert_eq!(rows.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        match text_format("x,\"multi\nline\"\n1,2\n", false, 1000).unwrap() {
            TextSample::Csv {
                quoted_newlines, ..
            } => assert!(quoted_newlines),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(text_format("{\"a\":1}\n{\"a\":", true, 1000), Ok(TextSample::Ndjson(v)) if v.len() == 1)
        );
        assert!(text_format("[1,2]", false, 10).is_err());
        assert!(text_format("just one line of prose", false, 10).is_err());
    }
}
