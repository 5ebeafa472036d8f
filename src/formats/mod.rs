//! The formats DataFusion does not bring ready for owl: ORC (read through owl's own file source, written by
//! orc-rust), Avro (read by DataFusion, inspected and written here with arrow-avro) and newline-delimited JSON
//! (read through owl's own decoder in front of arrow-json).
//!
//! `footer` reads a Parquet file's footer as a query does (shared by the crawler, ORC tails and estimates).
//!
//! Parquet, CSV and JSON arrays need nothing else here: DataFusion reads and writes them, the catalog adapter
//! configures it.

/// Hive's marker for a NULL partition value, in a partition folder's name (`day=__HIVE_DEFAULT_PARTITION__`).
pub const HIVE_NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

pub(crate) mod avro;
pub(crate) mod columns;
pub mod csv;
pub mod footer;
pub(crate) mod lines;
pub mod ndjson;
pub mod orc;
pub(crate) mod text_source;
pub(crate) mod write;
