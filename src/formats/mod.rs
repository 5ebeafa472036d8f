//! The formats DataFusion does not bring ready for owl: ORC (read through owl's own file source, written by
//! orc-rust), Avro (read by DataFusion, inspected and written here with arrow-avro) and newline-delimited JSON
//! (read through owl's own decoder in front of arrow-json).
//!
//! Parquet, CSV and JSON arrays need nothing here: DataFusion reads and writes them, the catalog adapter
//! configures it.

pub(crate) mod avro;
pub(crate) mod columns;
pub mod csv;
pub(crate) mod lines;
pub mod ndjson;
pub mod orc;
pub(crate) mod write;
