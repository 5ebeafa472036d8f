//! Settings, resolved once: command-line flag > `OWL_*` environment variable > default.
//! (clap applies the first two; the defaults live here, written once.)

use crate::cost::CostModel;
use std::path::PathBuf;

pub mod options;

/// Threads for query execution unless told otherwise: 0, one per core.
pub const DEFAULT_THREADS: usize = 0;

/// Athena's default work group, the one a query runs in unless told otherwise.
pub const DEFAULT_WORKGROUP: &str = "primary";

/// Days of query history kept (`crate::history`) unless told otherwise: Athena's 45.
pub const DEFAULT_HISTORY_DAYS: u32 = 45;

/// Athena's name for the default catalog (the registry), as fully qualified names spell it.
pub const CATALOG_NAME: &str = "awsdatacatalog";

/// The database a registry starts with, and unqualified names resolve in unless told otherwise.
pub const DEFAULT_DATABASE: &str = "default";

/// The default registry folder, relative to the working folder.
pub const DEFAULT_CATALOG_DIR: &str = "catalog";

/// The Parquet footer prefetch: the first read of a file is its last this-many bytes. A narrow table's footer
/// (a few KB) arrives in that one request; a wider one costs a second request for the rest, never more bytes
/// than the footer itself. DataFusion's default (512 KiB) would read a small file whole for a `count(*)` and
/// then read its column chunks again.
pub const PARQUET_FOOTER_HINT: usize = 8 * 1024;

/// A join's run-time filter lists up to this many keys a partition (DataFusion: 150), else looks rows up in
/// the join's hash table. Listed keys are what owl prunes Parquet row groups and pages by and tests rows against
/// with a bitmap (`exec::expr::key_hint`); a lookup costs a scan as much as the join's own probe (TPC-H q17: 62 ms
/// of row filtering for 204 part keys, 9 ms as a bitmap). DataFusion's byte limit (128 KiB a partition) still
/// applies. More keys are gathered into a bitmap by owl as the join builds (`exec::collect_keys`): DataFusion
/// makes a literal a listed key, and listing 1.5M of them made TPC-H q9 25 times slower.
pub const JOIN_LISTED_KEYS: usize = 4096;

/// What the user chose on the command line (the environment and profiles fill in the rest).
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub no_sign_request: bool,
}

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
    pub s3: S3Options,
    /// Days of query history kept beside the registry (0: none written).
    pub history_days: u32,
    /// The work group queries run in.
    pub workgroup: String,
    /// Local folders statements may name (paths in FROM, table and CTAS locations, COPY targets); None: any
    /// (the CLI). `owl serve` sets them (`--allow-root`).
    pub allowed_roots: Option<Vec<PathBuf>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            catalog_dir: PathBuf::from(DEFAULT_CATALOG_DIR),
            database: DEFAULT_DATABASE.into(),
            cost: CostModel::default(),
            threads: DEFAULT_THREADS,
            s3: S3Options::default(),
            history_days: crate::config::DEFAULT_HISTORY_DAYS,
            workgroup: DEFAULT_WORKGROUP.into(),
            allowed_roots: None,
        }
    }
}
