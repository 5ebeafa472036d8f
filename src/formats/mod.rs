//! The formats DataFusion does not bring ready for owl: ORC (read through owl's own file source, written by
//! orc-rust), Avro (read by DataFusion, inspected and written here with arrow-avro) and newline-delimited JSON
//! (read through owl's own decoder in front of arrow-json).
//!
//! `regex_lines` reads RegexSerDe tables' lines (through owl's line decoder, no other reader behind it);
//! `grok` turns Grok SerDe patterns into such line patterns.
//!
//! `footer` reads a Parquet file's footer as a query does (shared by the crawler, ORC tails and estimates);
//! `parquet_files` makes a Parquet scan's errors name their file.
//!
//! Parquet, CSV and JSON arrays need nothing else here: DataFusion reads and writes them, the catalog adapter
//! configures it.

/// Hive's marker for a NULL partition value, in a partition folder's name (`day=__HIVE_DEFAULT_PARTITION__`).
pub const HIVE_NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A Hive partition folder's name, `key=value`, split: the one reader of that convention (crawler, DDL). A name
/// without `=` is no Hive partition (Glue then names the key `partition_N`).
pub(crate) fn hive_pair(segment: &str) -> Option<(&str, &str)> {
    segment.split_once('=')
}

/// The folder name of `key` = `value`, as Hive, Spark and Athena write it (`FileUtils.makePartName`): key and
/// value escaped ([`hive_escape`]); a NULL or empty value is [`HIVE_NULL_PARTITION`] (Hive's `escapePathName`
/// gives both the marker, so an empty string partition value reads back as NULL, in Athena as in owl).
pub(crate) fn hive_folder(key: &str, value: Option<&str>) -> String {
    match value {
        None | Some("") => format!("{}={HIVE_NULL_PARTITION}", hive_escape(key)),
        Some(v) => format!("{}={}", hive_escape(key), hive_escape(v)),
    }
}

/// Text as Hive writes it in a path (`FileUtils.escapePathName`): ASCII control characters and
/// `"#%'*/:=?\{[]^` (and DEL) as `%XX`; everything else, non-ASCII included, as it is. A value holding `/`
/// stays one folder (`a%2Fb`), and `=` cannot be mistaken for the key's.
pub(crate) fn hive_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_control() || "\"#%'*/:=?\\{[]^".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A partition folder's key or value as text (Hive's `unescapePathName`, which MSCK REPAIR, Spark's partition
/// discovery and Athena's reads use): each `%XX` is the byte XX, a `%` without two hex digits is itself. So
/// Hive's escaping and object_store's (which DataFusion's writers use: `%C3%BC` for `ü`) both read back to
/// what was written. Bytes that are not UTF-8 once decoded leave the text as it was.
pub(crate) fn hive_unescape(text: &str) -> String {
    if !text.contains('%') {
        return text.to_string();
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

pub(crate) mod avro;
pub(crate) mod columns;
pub mod csv;
pub mod footer;
pub(crate) mod grok;
pub(crate) mod guard;
pub(crate) mod json_cursor;
pub(crate) mod json_serde;
pub(crate) mod lines;
pub mod ndjson;
pub(crate) mod oracle;
pub mod orc;
pub(crate) mod parquet_files;
pub(crate) mod regex_lines;
pub(crate) mod text_source;
pub(crate) mod write;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// What the writer names a folder, the readers split back into its key and value: one folder, whatever
        /// the value holds (`/`, `=`, `%`, quotes, control characters, non-ASCII).
        #[test]
        fn hive_folders_read_back(key in "[a-z_][a-z0-9_]{0,12}", value in "\\PC{1,16}|[/=%:#?'\"\\\\ ]{1,6}|\\PC*%[0-9A-F]{2}") {
            let folder = hive_folder(&key, Some(&value));
            prop_assert!(!folder.contains('/'), "{folder}");
            prop_assert!(object_store::path::PathPart::parse(&folder).is_ok(), "{folder}");
            let (k, v) = hive_pair(&folder).unwrap();
            prop_assert_eq!(k, key.as_str());
            prop_assert_eq!(hive_unescape(v), value);
            let null = hive_folder(&key, None);
            prop_assert_eq!(hive_pair(&null), Some((key.as_str(), HIVE_NULL_PARTITION)));
        }

        /// object_store's escaping of a path part (what DataFusion's partitioned writers name folders with)
        /// reads back to the same text.
        #[test]
        fn object_store_names_read_back(value in "\\PC{0,16}") {
            let part = object_store::path::PathPart::from(value.as_str());
            prop_assert_eq!(hive_unescape(part.as_ref()), value);
        }
    }

    #[test]
    fn values_are_escaped_as_hive_writes_them() {
        assert_eq!(hive_folder("s", Some("a/b")), "s=a%2Fb");
        assert_eq!(hive_folder("s", Some("x=y")), "s=x%3Dy");
        assert_eq!(hive_folder("s", Some("ü %")), "s=ü %25");
        assert_eq!(
            hive_folder("ts", Some("2024-01-01 00:00:00")),
            "ts=2024-01-01 00%3A00%3A00"
        );
        assert_eq!(hive_folder("s", Some("")), "s=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(hive_folder("s", Some("\n\u{7f}")), "s=%0A%7F");
        // A `%` that escapes nothing is itself; bytes that are not UTF-8 leave the text alone.
        assert_eq!(hive_unescape("100%"), "100%");
        assert_eq!(hive_unescape("%zz%4"), "%zz%4");
        assert_eq!(hive_unescape("%FF"), "%FF");
        assert_eq!(hive_unescape("%C3%BC%20x"), "ü x");
    }

    #[test]
    fn a_folder_without_a_key_is_no_hive_partition() {
        assert_eq!(hive_pair("2024"), None);
        assert_eq!(hive_pair("day=01"), Some(("day", "01")));
    }
}
