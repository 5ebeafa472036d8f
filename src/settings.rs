//! Settings, resolved once: command-line flag > `OWL_*` environment variable > default.
//! (clap applies the first two; the defaults live here, written once.)

use crate::cost::{CostModel, Units};
use std::path::PathBuf;

/// The default registry folder, relative to the working folder.
pub const DEFAULT_CATALOG_DIR: &str = "catalog";

/// The Parquet footer prefetch: the first read of a file is its last this-many bytes. A narrow table's footer
/// (a few KB) arrives in that one request; a wider one costs a second request for the rest, never more bytes
/// than the footer itself. DataFusion's default (512 KiB) would read a small file whole for a `count(*)` and
/// then read its column chunks again.
pub const PARQUET_FOOTER_HINT: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The registry folder.
    pub catalog_dir: PathBuf,
    /// The database unqualified table names resolve in.
    pub database: String,
    pub cost: CostModel,
    /// Threads for query execution; 0 = one per core.
    pub threads: usize,
    /// How `s3://` is reached (the AWS environment and profiles fill in the rest; see `s3`).
    pub s3: crate::s3::S3Options,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            catalog_dir: PathBuf::from(DEFAULT_CATALOG_DIR),
            database: crate::catalog::DEFAULT_DATABASE.into(),
            cost: CostModel {
                units: Units::Decimal,
                ..CostModel::default()
            },
            threads: 0,
            s3: crate::s3::S3Options::default(),
        }
    }
}
