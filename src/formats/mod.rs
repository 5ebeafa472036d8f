//! The formats DataFusion does not bring ready for owl: ORC (read through owl's own file source, written by
//! orc-rust) and Avro (read by DataFusion, inspected and written here with arrow-avro).
//!
//! Parquet, JSON and CSV need nothing here: DataFusion reads and writes them, the catalog adapter configures it.

pub(crate) mod avro;
pub mod orc;
pub(crate) mod write;
