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
    /// The bytes the queries of this process may hold at once (DataFusion's memory pool, shared by every query
    /// of an engine): sorts, aggregations and joins spill to disk to stay under it; what cannot fails with one
    /// line naming it. None: no limit. Default: [`default_memory_limit`].
    pub memory_limit: Option<usize>,
    /// A Ballista scheduler (`df://host:port`) that runs this process's queries on its executors; None: here.
    pub cluster: Option<String>,
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
            memory_limit: default_memory_limit(),
            cluster: None,
        }
    }
}

/// The default memory limit: 80% of the memory this process may use (DuckDB's default share), the machine's
/// (`/proc/meminfo`) or its container's (cgroup `memory.max`), whichever is smaller. None where neither can be
/// read.
pub fn default_memory_limit() -> Option<usize> {
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let bytes = match (total, cgroup) {
        (Some(t), Some(c)) => t.min(c),
        (t, c) => t.or(c)?,
    };
    Some((bytes / 5 * 4) as usize)
}

/// A memory size as people write it: `256MB`, `1.5 GB`, `512MiB`, `1073741824` (bytes); KB/MB/GB/TB count in
/// thousands and KiB/MiB/GiB/TiB in 1024s, as DuckDB's `memory_limit`. `none` (or `unlimited`): no limit.
pub fn parse_memory_limit(text: &str) -> std::result::Result<Option<usize>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let bad = || {
        format!(
            "`{text}` is not a memory size: write a number and a unit, as `256MB`, `2GB` or `512MiB` \
             (or `none`)"
        )
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = number * scale;
    if !(1.0..=usize::MAX as f64).contains(&bytes) {
        return Err(format!(
            "`{text}` is not a memory size owl can use: give at least 1 byte"
        ));
    }
    Ok(Some(bytes as usize))
}

/// A memory size as [`parse_memory_limit`] reads it back: `256 MB`, `512 MiB`, `1.50 GB`.
pub fn show_memory_size(bytes: usize) -> String {
    let b = bytes as u64;
    let decimal = [
        ("TB", 1_000_000_000_000u64),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
        ("KB", 1_000),
    ];
    let binary = [
        ("TiB", 1u64 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    // Exact first, decimal before binary (`256MB` reads back as it was written), then two decimals.
    for (name, size) in decimal.into_iter().chain(binary) {
        if b >= size && b.is_multiple_of(size) {
            return format!("{} {name}", b / size);
        }
    }
    for (name, size) in decimal {
        if b >= size {
            return format!("{:.2} {name}", b as f64 / size as f64);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_read_and_show_as_written() {
        let read = |t: &str| parse_memory_limit(t).unwrap();
        assert_eq!(read("256MB"), Some(256_000_000));
        assert_eq!(read("1.5 GB"), Some(1_500_000_000));
        assert_eq!(read("512MiB"), Some(512 << 20));
        assert_eq!(read("2gib"), Some(2 << 30));
        assert_eq!(read("4096"), Some(4096));
        assert_eq!(read("none"), None);
        assert_eq!(read("Unlimited"), None);
        for bad in ["", "MB", "12XB", "1..2GB", "0", "0.1"] {
            assert!(parse_memory_limit(bad).is_err(), "{bad}");
        }
        assert_eq!(show_memory_size(256_000_000), "256 MB");
        assert_eq!(show_memory_size(512 << 20), "512 MiB");
        assert_eq!(show_memory_size(1_500_000_000), "1500 MB");
        assert_eq!(show_memory_size(1_234_567), "1.23 MB");
        assert_eq!(show_memory_size(900), "900 bytes");
        for t in ["256MB", "512MiB", "8 GB", "1 TiB"] {
            let bytes = read(t).unwrap();
            assert_eq!(read(&show_memory_size(bytes)), Some(bytes), "{t}");
        }
    }

    #[test]
    fn the_default_limit_is_a_share_of_this_machines_memory() {
        if let Some(limit) = default_memory_limit() {
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
            let kb: usize = meminfo
                .lines()
                .next()
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            assert!(limit > 0 && limit <= kb * 1024 / 5 * 4, "{limit}");
        }
    }
}
