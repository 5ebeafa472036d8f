//! The registry (owl's Glue Data Catalog): databases and tables as files, and DataFusion's view of them.
//!
//! - `model`: the serde types of one table file.
//! - `store`: reading and writing those files atomically, under a lock.
//! - `types`: Hive type strings <-> Arrow types.
//! - `colstats`: column statistics (min, max, nulls): gathered from footers, merged, handed to the planner.
//! - `location`: resolving table and partition locations to URLs.
//! - `projection`: Athena's partition projection (partitions computed from table properties, never listed).
//! - `provider/`: the DataFusion catalog, schema and table providers over the registry (`table`: a table and its
//!   scan; `listing`: partitions pruned and listed; `statistics`: what the planner may assume from the registry).

pub mod colstats;
pub(crate) mod location;
pub mod model;
pub mod named_queries;
pub mod prepared;
pub(crate) mod projection;
pub mod provider;
pub mod store;
pub(crate) mod types;
pub mod workgroups;

pub use model::{Column, CsvOptions, FormatSpec, Partition, TableDef, TableStats};
pub use store::{DEFAULT_DATABASE, PutOutcome, Registry};
