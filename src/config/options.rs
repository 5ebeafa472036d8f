//! owl's own session settings: `SET owl.<name> = <value>`, `SHOW owl.<name>`, listed by `SHOW ALL` (as
//! `owl.<name>`; DataFusion's `extensions_options!` would list them without the prefix).

use datafusion::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::SessionState;

#[derive(Debug, Clone)]
pub struct OwlOptions {
    /// Compute a common table expression referenced more than once a single time (see `optimizer::computed_once`).
    pub materialize_ctes: bool,
    /// Apply joins' and top-k sorts' run-time filters row by row in Parquet scans that have no other filter
    /// (see `optimizer::physical::dynamic_row_filters`).
    pub dynamic_row_filters: bool,
    /// Skip Parquet row groups and pages by the keys a join's run-time filter lists (see
    /// `optimizer::physical::join_key_pruning`).
    pub join_key_pruning: bool,
    /// Gather a hash join's build-side keys into a bitmap that its run-time filter tests (see
    /// `optimizer::physical::join_key_bitmaps`).
    pub join_key_bitmaps: bool,
    /// Read a Parquet page index only where it can skip pages (see `optimizer::physical::page_index`).
    pub clustered_page_index: bool,
    /// Order inner joins by estimated rows (see `optimizer::logical::join_order`).
    pub join_reordering: bool,
    /// Decode newline-delimited JSON with owl's flat-object decoder (see `formats::ndjson`).
    pub ndjson_fast_path: bool,
    /// Decode CSV with owl's record decoder (see `formats::csv`).
    pub csv_fast_path: bool,
    /// Compare string-view columns with literals by their views (see `exec::expr::view_eq`).
    pub string_view_equality: bool,
    /// Check decimal `+`, `-`, `*` for overflow once a batch (see `exec::expr::decimal`).
    pub decimal_batch_checks: bool,
    /// Run `x NOT IN (subquery)` with the subquery's values in a set, the outer rows streamed (see
    /// `not_in`).
    pub streamed_not_in: bool,
    /// Count `DISTINCT` integers of few groups with a bitmap a group (see `exec::aggregate::count_distinct`).
    pub bitmap_count_distinct: bool,
    /// Evaluate a filter's ANDed conditions in turn, on the rows the ones before kept (see
    /// `conjunction`).
    pub filter_conjunctions: bool,
    /// Give a Parquet file's byte range under 1 MiB to the thread that reads its neighbour (see
    /// `optimizer::physical::file_ranges`).
    pub merge_slivers: bool,
    /// Read a top-k's files best first by their bounds (see `optimizer::physical::file_ranges`).
    pub best_files_first: bool,
    /// List a projected table's partitions through the folder that holds them all, while that takes fewer
    /// requests (see `catalog::provider::listing`).
    pub projection_list_common: bool,
    /// Skip a partition's files unopened by the registry's bounds while its listing shows the files the crawl
    /// read (see `catalog::provider::statistics`).
    pub partition_bounds: bool,
    /// Read a scan of many files on an object store through more streams than threads, so that files' requests
    /// overlap (see `catalog::provider::table::REMOTE_STREAMS`).
    pub remote_streams: bool,
    /// Fetch from an object store only the byte ranges a reader asks for, merging ranges at most
    /// `storage::meter::REMOTE_COALESCE_GAP` apart (see `storage::meter::store`).
    pub remote_exact_ranges: bool,
    /// Read each Parquet file's footer in one request, as long as the crawl saw it (see
    /// `catalog::model::TableStats::footer_hint`).
    pub footer_hints: bool,
}

impl Default for OwlOptions {
    fn default() -> Self {
        OwlOptions {
            materialize_ctes: true,
            dynamic_row_filters: true,
            join_key_pruning: true,
            join_key_bitmaps: true,
            clustered_page_index: true,
            join_reordering: true,
            ndjson_fast_path: true,
            csv_fast_path: true,
            string_view_equality: true,
            decimal_batch_checks: true,
            streamed_not_in: true,
            bitmap_count_distinct: true,
            filter_conjunctions: true,
            merge_slivers: true,
            best_files_first: true,
            projection_list_common: true,
            partition_bounds: true,
            remote_streams: true,
            remote_exact_ranges: true,
            footer_hints: true,
        }
    }
}

/// Each setting: its name, what it does (for `SHOW ALL`), and where its value lives.
type Setting = (&'static str, &'static str, fn(&mut OwlOptions) -> &mut bool);

const SETTINGS: [Setting; 20] = [
    (
        "materialize_ctes",
        "Compute a common table expression that a query references more than once a single time, when it \
         aggregates, joins, deduplicates or sorts (fewer bytes scanned); false: inline every reference, as \
         Athena does",
        |o| &mut o.materialize_ctes,
    ),
    (
        "dynamic_row_filters",
        "Apply the filters a join or an ORDER BY ... LIMIT learns at run time row by row in a Parquet scan \
         that has no other filter (other columns are decoded only for the rows that pass), or after the \
         scan's own filter when they list a join's keys or spare an aggregation; false: use them only to skip \
         files and row groups, as DataFusion does by default",
        |o| &mut o.dynamic_row_filters,
    ),
    (
        "join_key_pruning",
        "Skip Parquet row groups and pages whose min/max hold none of the keys a join's run-time filter lists \
         (up to 4096 a partition), and test those keys with one bit or hash lookup a row when the filter applies \
         row by row; false: as DataFusion does (it prunes with a single list of at most 20)",
        |o| &mut o.join_key_pruning,
    ),
    (
        "join_key_bitmaps",
        "Gather the keys of a hash join's build side (integers or dates of a span up to 8M values, or 64 a \
         key) into a bitmap as the join reads them, so that its run-time filter tests a row with one bit \
         where it would look the row up in the join's hash table (more than 4096 keys), and filter by them \
         the rows an aggregation on the join's other side groups by the key, where the join's own filter \
         does not reach; with join_key_pruning; false: such filters are hash-table lookups, as in DataFusion",
        |o| &mut o.join_key_bitmaps,
    ),
    (
        "clustered_page_index",
        "Read a Parquet file's page index only when a scan filters on a column the registry finds clustered \
         (or knows nothing about), where it can skip pages; false: whenever a scan filters, as DataFusion does",
        |o| &mut o.clustered_page_index,
    ),
    (
        "join_reordering",
        "Order a query's inner joins (three tables or more) so that the fewest rows flow between them, \
         estimated from the registry's statistics and the tables' filters, where ANALYZE has counted the \
         distinct values of their keys and filtered columns; false: join in the order the FROM clause lists \
         the tables, as DataFusion does",
        |o| &mut o.join_reordering,
    ),
    (
        "ndjson_fast_path",
        "Decode newline-delimited JSON one flat object a line, the projected fields straight into their \
         columns and the others stepped over (a line it cannot decode exactly as arrow-json would, and the \
         rest of its file range, are left to arrow-json); false: arrow-json alone, as DataFusion does",
        |o| &mut o.ndjson_fast_path,
    ),
    (
        "csv_fast_path",
        "Decode CSV records by splitting them at their delimiters, the projected fields parsed straight into \
         their columns and the others stepped over (a record it cannot decode exactly as arrow-csv would, and \
         the rest of its file range, are left to arrow-csv); false: arrow-csv alone, as DataFusion does",
        |o| &mut o.csv_fast_path,
    ),
    (
        "string_view_equality",
        "Evaluate `column = 'text'` and `column IN ('a', 'b')` in filters over Parquet strings (string views) by \
         comparing each row's 16-byte view with the literal's; false: arrow-ord's general comparison, as \
         DataFusion does",
        |o| &mut o.string_view_equality,
    ),
    (
        "decimal_batch_checks",
        "Check decimal +, - and * for overflow once a batch, from its largest values, and compute the rows \
         without per-row checks when none can overflow (a batch that could is computed by arrow's checked \
         kernel); false: every row checked, as DataFusion does",
        |o| &mut o.decimal_batch_checks,
    ),
    (
        "streamed_not_in",
        "Run `x NOT IN (subquery)` by reading the subquery's values into a set and streaming the outer rows \
         through it, partition by partition (NULLs as SQL says: one NULL among the values and no row passes); \
         false: DataFusion's null-aware anti join, which holds every outer row in one hash table",
        |o| &mut o.streamed_not_in,
    ),
    (
        "bitmap_count_distinct",
        "Count DISTINCT integers or dates with a bitmap a group (a hash set where the values are sparse), when \
         statistics say the aggregation makes few groups (at most 4096) and its bitmaps would be small; false: \
         DataFusion's two-level group-by (every distinct value a group of a hash table)",
        |o| &mut o.bitmap_count_distinct,
    ),
    (
        "filter_conjunctions",
        "Evaluate a filter's ANDed conditions in turn, each on just the rows the ones before it kept once those \
         are at most a fifth of a batch, the answers kept as one bitmap; a condition that fails is retried on \
         the rows still kept; false: DataFusion's AND (which also narrows below a fifth, then copies the answers \
         back one run of rows at a time)",
        |o| &mut o.filter_conjunctions,
    ),
    (
        "merge_slivers",
        "Give a Parquet file's byte range of under 1 MiB to the thread that reads the range next to it in the \
         same file, so that no file is opened (its footer read again) for a range that holds no row group; \
         false: DataFusion's equal split of the scan's bytes",
        |o| &mut o.merge_slivers,
    ),
    (
        "best_files_first",
        "Order each scan thread's Parquet files for an ORDER BY ... LIMIT by their bounds of the first sort \
         key (the registry's statistics), best first, so that the top-k's run-time filter skips the other files \
         unopened; false: DataFusion's order (by bounds only when every sort key has them)",
        |o| &mut o.best_files_first,
    ),
    (
        "projection_list_common",
        "List the partitions a query projects (two or more) with one listing of the deepest folder that holds \
         them all (`2024/06/` for a June's hours), stopping and listing each partition's prefix once that \
         listing has walked more keys than the per-prefix LISTs could return (1,000 keys a request); false: \
         one listing per projected prefix, as Athena does",
        |o| &mut o.projection_list_common,
    ),
    (
        "partition_bounds",
        "Skip a partition's Parquet files unopened where the registry's column bounds (from the crawl) show that \
         no row can pass a filter, while the partition's listing shows the very files the crawl read (each \
         one's name, size, modification time and, on an object store, ETag); false: open every file and \
         prune by its own footer, as DataFusion does",
        |o| &mut o.partition_bounds,
    ),
    (
        "remote_streams",
        "Read a scan of an object store (S3) that has more files than threads through up to 16 streams, one \
         file group each, so that one file's requests wait out their first-byte latency while others' arrive \
         (threads still do the decoding); false: one stream a thread, as for local files",
        |o| &mut o.remote_streams,
    ),
    (
        "remote_exact_ranges",
        "Fetch from an object store (S3) only the byte ranges a reader asks for, each in its own ranged GET, \
         sent together, merging only ranges at most 16 KiB apart (every byte received is billed); false: merge \
         ranges up to 1 MiB apart into one GET, the gap between them read and billed, as object_store does",
        |o| &mut o.remote_exact_ranges,
    ),
    (
        "footer_hints",
        "Read a Parquet file's footer from its end in one request as long as the crawl found it (the registry \
         keeps the shortest and longest footer of a table's or partition's files), where every footer is longer \
         than the 8 KiB first read and they differ by at most that; false: read 8 KiB, then a longer footer whole \
         in a second request, as DataFusion does",
        |o| &mut o.footer_hints,
    ),
];

impl ExtensionOptions for OwlOptions {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let Some((name, _, field)) = SETTINGS.iter().find(|(name, _, _)| *name == key) else {
            let names: Vec<String> = SETTINGS
                .iter()
                .map(|(n, _, _)| format!("owl.{n}"))
                .collect();
            return Err(DataFusionError::Configuration(format!(
                "unknown setting `owl.{key}` (owl's settings: {})",
                names.join(", ")
            )));
        };
        *field(self) = match value.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "1" => true,
            "false" | "off" | "0" => false,
            _ => {
                return Err(DataFusionError::Configuration(format!(
                    "owl.{name} is true or false, not `{value}`"
                )));
            }
        };
        Ok(())
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        let mut values = self.clone();
        SETTINGS
            .iter()
            .map(|(name, description, field)| ConfigEntry {
                key: format!("{}.{name}", Self::PREFIX),
                value: Some(field(&mut values).to_string()),
                description,
            })
            .collect()
    }
}

impl ConfigExtension for OwlOptions {
    const PREFIX: &'static str = "owl";
}

/// This session's owl settings.
pub fn of(state: &SessionState) -> OwlOptions {
    of_config(state.config().options())
}

/// The owl settings in `config` (an optimizer rule's view of the session), the defaults where none are set.
pub fn of_config(config: &ConfigOptions) -> OwlOptions {
    config
        .extensions
        .get::<OwlOptions>()
        .cloned()
        .unwrap_or_default()
}

impl OwlOptions {
    /// The setting named `name` (without `owl.`); false for a name that is none of owl's.
    pub fn is_on(&self, name: &str) -> bool {
        let mut values = self.clone();
        SETTINGS
            .iter()
            .find(|(n, _, _)| *n == name)
            .is_some_and(|(_, _, field)| *field(&mut values))
    }
}

/// The names of owl's settings (without `owl.`), in `SHOW ALL`'s order.
pub fn names() -> Vec<String> {
    SETTINGS
        .iter()
        .map(|(name, _, _)| name.to_string())
        .collect()
}
