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

/// The folder name of `key` = `value` (a NULL value: [`HIVE_NULL_PARTITION`]), as Hive and Athena write it.
pub(crate) fn hive_folder(key: &str, value: Option<&str>) -> String {
    format!("{key}={}", value.unwrap_or(HIVE_NULL_PARTITION))
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
        /// What the writer names a folder, the readers split back into its key and value (values may hold `=`).
        #[test]
        fn hive_folders_read_back(key in "[a-z_][a-z0-9_]{0,12}", value in "[^/]{0,16}") {
            let folder = hive_folder(&key, Some(&value));
            prop_assert_eq!(hive_pair(&folder), Some((key.as_str(), value.as_str())));
            let null = hive_folder(&key, None);
            prop_assert_eq!(hive_pair(&null), Some((key.as_str(), HIVE_NULL_PARTITION)));
        }
    }

    #[test]
    fn a_folder_without_a_key_is_no_hive_partition() {
        assert_eq!(hive_pair("2024"), None);
        assert_eq!(hive_pair("day=01"), Some(("day", "01")));
    }
}
