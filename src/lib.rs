//! owl: SQL over files, with the bill. The path data takes:
//!
//! - `cli`: arguments -> settings -> engine; one file per command, the shell (`cli::repl`) included; prints
//!   results (stdout) and errors/stats (stderr); exit codes.
//! - `settings`: flag > `OWL_*` env > default, resolved once.
//! - `batch`: `owl run` inputs and reports: .sql files split into statements (with checks), JSON/JUnit reports.
//! - `catalog`: the registry on disk (Glue-like tables, partitions, versions) and DataFusion's view of it.
//! - `formats`: ORC (owl's own DataFusion source over orc-rust) and Avro: crawl metadata, CTAS writers.
//! - `crawler`: walks paths/prefixes, classifies files, infers schemas and partitions, writes tables.
//! - `engine`: one metered DataFusion session per statement; registry-owned statements (DDL, SHOW, DESCRIBE).
//! - `s3`: the AWS credential chain, region/endpoint settings, and S3 errors described for people.
//! - `meter`: the `ObjectStore` decorator that counts each query's requests and bytes received.
//! - `compare`: a table copied into several formats (CTAS), the same queries on each, side by side.
//! - `cost`: pure Athena billing rules: bytes -> billed bytes -> dollars.
//! - `output`: result renderers and the stats footer.
//! - `sample`: the deterministic generator of `sample-data/` and its registry entries.
//! - `error`: the crate's error type.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod batch;
pub mod catalog;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
pub mod compare;
pub mod cost;
pub mod crawler;
pub mod engine;
pub mod error;
pub mod formats;
pub mod meter;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod output;
pub mod s3;
pub mod sample;
pub mod settings;

pub use error::{Error, Result};
