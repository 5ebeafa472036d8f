//! owl: SQL over files, with the bill.
//!
//! # Layout
//!
//! Folders from the top layer down; a module uses only its own layer and the ones below (`tests/house.rs`
//! fails the build otherwise).
//!
//! - `cli`: one file per command, the shell (`cli::repl`); the only place that prints (with `output`);
//!   exit codes. `fuzz`, beside it: the fuzz targets (`fuzz/` runs them under libFuzzer).
//! - `server`: `owl serve`, the registry as a service: Athena's and Glue's APIs (AWS JSON 1.1, SigV4), the
//!   PostgreSQL wire protocol (`server::pg`: psql, drivers, BI tools), one queue of queries through the engine's
//!   lifecycle, result files.
//! - `compare`, `output`, `batch`, `sample`, `rows`, `ingest`: `owl compare`'s copies and runs, result renderers
//!   and the stats line, `owl run`'s inputs and reports, the generator of `sample-data/`, answers compared as a
//!   tester compares them (multisets, floats within a tolerance), Firehose-style delivery of records into a
//!   table (`owl ingest`, the server's Firehose API).
//! - `engine`: the session over the registry and **the query lifecycle** (`engine::execution`: where a
//!   query's state changes, QUEUED -> RUNNING -> SUCCEEDED/FAILED/CANCELLED, and its bill is computed);
//!   parameters; dry runs (`engine::estimate`).
//! - `cluster`: scale-out on Ballista: the codecs owl's plans travel in, the scheduler and executor
//!   processes, and each task's metered reads added up for the client's bill (`cluster::metering`).
//! - `sql`: owl's own statements (DDL, SHOW, DESCRIBE, USE, CTAS, ANALYZE), the Athena dialect, and the table
//!   functions over a table (`sql::table_functions`: `tf_idf`, `drop_null_fields`, `find_matches`).
//! - `crawler`: walks paths/prefixes, classifies files, infers schemas and partitions, writes tables.
//! - `optimizer`: **the list of owl's rules** (`optimizer::RULES`): each rule's place among DataFusion's and
//!   its `owl.*` switch; `logical/` and `physical/` hold the rules, one file each.
//! - `exec`: the execution nodes, expressions (`exec::expr`) and aggregates the rules put in plans; the text
//!   functions (`exec::text`), the anomaly scores (`exec::anomaly`) and Glue's FindMatches node
//!   (`exec::find_matches`).
//! - `catalog`: the registry on disk (Glue-like tables, partitions, versions, statistics) and DataFusion's
//!   view of it (`catalog::provider`). `history`: **the query history** beside it, an entry per statement run.
//! - `formats`: readers and writers DataFusion lacks (CSV/NDJSON fast paths, ORC, Avro), Parquet footers.
//! - `storage`: object stores (local files, S3 with the AWS credential chain) and **where bytes are counted**:
//!   `storage::meter`, the decorator every query's reads go through.
//! - `config`: settings and defaults, written once (flag > `OWL_*` env > default), and the `owl.*` session
//!   options (`config::options`).
//! - `cost`: pure Athena billing rules: bytes -> billed bytes -> dollars. `error`: the crate's error type.
//!
//! A query's path: `cli` parses arguments into `config::Settings`, queues the statement with the `engine`
//! (`Engine::queue`) and drives it; `sql` runs it if the registry owns it, else DataFusion plans it over
//! `catalog::provider`'s tables with `optimizer`'s rules, reading through `storage`'s metered stores; the
//! lifecycle bills what the meter counted (`cost`) and `cli` prints rows (stdout) and the bill (stderr).
//! A crawl's path: `cli::crawl` -> `crawler` (through `storage`, metered) -> `catalog::store`.

#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod batch;
pub mod catalog;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
pub mod cluster;
pub mod compare;
pub mod config;
pub mod cost;
pub mod crawler;
pub mod engine;
pub mod error;
pub(crate) mod exec;
pub(crate) mod formats;
#[doc(hidden)]
pub mod fuzz;
pub mod history;
pub mod ingest;
pub mod optimizer;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod output;
pub mod rows;
pub mod sample;
pub mod server;
pub(crate) mod sql;
pub mod storage;

pub use error::{Error, Result};
