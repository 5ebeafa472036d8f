//! Dry runs: what a statement would scan and cost, WITHOUT reading its data. The statement is planned as for
//! a run (partitions pruned from the registry, files listed), then each scan is priced:
//! - CSV/JSON (plain or compressed) and Avro: the whole size of every file the scan would open;
//! - ORC: the tail and stripe footers as a run reads them, plus the streams of the referenced columns;
//! - Parquet: the footer as a run reads it (the 8 KiB prefetch, and the whole footer again when it is larger)
//!   plus the column chunks of the referenced columns in every row group, and for a scan with a filter the
//!   page index and bloom filters it may read to prune with. Reading footers is the one read an estimate
//!   makes (for ORC, stripe footers too); it is reported apart (`read_to_estimate`) and not billed as the statement.
//!
//! An estimate is an upper bound where a run can skip work the plan cannot know of: row groups pruned by
//! min/max statistics, a LIMIT satisfied early. DDL and utility statements are free and are not executed.

use super::{Engine, bind_params, classify};
use crate::cost::{QueryState, StatementType};
use crate::error::{Error, Result};
use crate::formats::footer::read_footer;
use crate::sql::Statement;
use crate::storage::meter::{Meter, RowGroups, ScanPlan};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as Sql;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a statement would scan and cost.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub statement_type: StatementType,
    /// Bytes a run would read (the estimate).
    pub bytes_scanned: u64,
    pub billed_bytes: u64,
    pub cost_usd: f64,
    /// Files the scans would open.
    pub files: u64,
    /// Bytes read to make the estimate (Parquet footers), not part of the bill.
    pub read_to_estimate: u64,
    /// Columns of the files the scans read (projection and filters), and how many the files have (partition
    /// columns, which live in paths, are neither). A row format reads every column whatever this says.
    pub columns_read: u64,
    pub columns_total: u64,
    /// Partitions the scans of partitioned tables would list, after pruning by the query's filters; of those,
    /// `projected` were computed by partition projection (no listing to find them).
    pub partitions: u64,
    pub projected: u64,
}

impl Engine {
    /// Estimate one statement (see the module docs). `params` as for [`Engine::execute_with`].
    pub async fn estimate(
        &self,
        stmt: &Statement,
        params: &[(String, String)],
    ) -> Result<Estimate> {
        self.estimate_in(stmt, params, None).await
    }

    /// [`Engine::estimate`] with unqualified names resolved in `database` (the engine's own when None).
    pub async fn estimate_in(
        &self,
        stmt: &Statement,
        params: &[(String, String)],
        database: Option<&str>,
    ) -> Result<Estimate> {
        let free = |kind| Estimate {
            statement_type: kind,
            bytes_scanned: 0,
            billed_bytes: 0,
            cost_usd: 0.0,
            files: 0,
            read_to_estimate: 0,
            columns_read: 0,
            columns_total: 0,
            partitions: 0,
            projected: 0,
        };
        let stmt = match stmt {
            Statement::Hive(p) => return Ok(free(p.statement_type())),
            Statement::Sql(s) => s,
        };
        match stmt {
            DFStatement::CreateExternalTable(_) => return Ok(free(StatementType::Ddl)),
            DFStatement::Statement(s) => match s.as_ref() {
                Sql::Query(_) | Sql::Explain { .. } | Sql::Insert(_) => {}
                // A CTAS costs what its SELECT scans.
                Sql::CreateTable(ct) if ct.query.is_some() => {
                    if let Some(q) = &ct.query {
                        let select =
                            Statement::Sql(DFStatement::Statement(Box::new(Sql::Query(q.clone()))));
                        return Box::pin(self.estimate_in(&select, params, database)).await;
                    }
                }
                // ANALYZE costs what its scan reads.
                Sql::Analyze(a) => {
                    let sql = crate::sql::analyze::scan(self, a)?.sql;
                    let Some(select) = self.parse(&sql)?.into_iter().next() else {
                        return Err(Error::Internal("ANALYZE's query did not parse".into()));
                    };
                    return Box::pin(self.estimate_in(&select, params, database)).await;
                }
                Sql::CreateDatabase { .. }
                | Sql::CreateSchema { .. }
                | Sql::CreateTable(_)
                | Sql::CreateView { .. }
                | Sql::Drop { .. }
                | Sql::AlterTable { .. } => return Ok(free(StatementType::Ddl)),
                _ => return Ok(free(StatementType::Utility)),
            },
            _ => {}
        }
        let meter = Arc::new(Meter::new());
        let ctx = self.query_context(Arc::clone(&meter), database, super::Dialect::Athena)?;
        let mut stmt = stmt.clone();
        crate::sql::table_functions::resolve_for_estimate(&ctx, &mut stmt).await?;
        let state = ctx.state();
        let plan = state
            .statement_to_plan(stmt.clone())
            .await
            .map_err(Error::from)?;
        let kind = classify(&plan);
        if kind != StatementType::Dml {
            return Ok(free(kind));
        }
        let plan = bind_params(plan, params, &[])?;
        // A shared subquery (a CTE read twice) is in the plan once, priced once, as a run computes it once.
        let physical = state
            .create_physical_plan(&plan)
            .await
            .map_err(Error::from)?;
        let shape = scan_plan(&physical);
        let (partitions, projected) = state
            .config()
            .get_extension::<crate::catalog::provider::PartitionLog>()
            .map_or((0, 0), |log| log.read());
        let mut scans = Vec::new();
        collect_scans(&physical, &mut scans);
        let mut bytes = 0;
        let mut files = 0;
        for config in scans {
            let store = ctx
                .runtime_env()
                .object_store(&config.object_store_url)
                .map_err(Error::from)?;
            let file_type = config.file_source().file_type().to_string();
            let wanted = referenced_file_columns(&config);
            // A file split across threads appears once per range: price it once, whole.
            let mut seen = BTreeSet::new();
            for group in &config.file_groups {
                for file in group.files() {
                    if !seen.insert(file.object_meta.location.clone()) {
                        continue;
                    }
                    files += 1;
                    let size = file.object_meta.size;
                    if file_type == "orc" {
                        bytes += crate::formats::orc::planned_bytes(
                            Arc::clone(&store),
                            &file.object_meta,
                            wanted.as_ref(),
                        )
                        .await
                        .map_err(|e| {
                            Error::Query(format!(
                                "reading the ORC footers of `{}`: {e}",
                                file.object_meta.location
                            ))
                        })?;
                        continue;
                    }
                    if file_type != "parquet" {
                        bytes += size;
                        continue;
                    }
                    let (metadata, footer) =
                        read_footer(store.as_ref(), &file.object_meta.location, size, None)
                            .await
                            .map_err(|e| {
                                Error::Query(format!(
                                    "reading the Parquet footer of `{}`: {e}",
                                    file.object_meta.location
                                ))
                            })?;
                    // The footer as a run reads it: the hint's prefetch from the end (the file's own hint
                    // where the registry gave it one, `owl.footer_hints`), and when the footer is longer, its
                    // metadata whole again (DataFusion does not reuse the prefetch).
                    let hint = (file
                        .metadata_size_hint
                        .unwrap_or(crate::config::PARQUET_FOOTER_HINT)
                        as u64)
                        .min(size);
                    bytes += if footer > hint {
                        hint + footer - 8
                    } else {
                        hint
                    };
                    let schema = metadata.file_metadata().schema_descr();
                    let roots: BTreeSet<usize> = schema
                        .root_schema()
                        .get_fields()
                        .iter()
                        .enumerate()
                        .filter(|(_, f)| wanted.as_ref().is_none_or(|w| w.contains(f.name())))
                        .map(|(i, _)| i)
                        .collect();
                    for rg in metadata.row_groups() {
                        for (i, col) in rg.columns().iter().enumerate() {
                            if roots.contains(&schema.get_column_root_idx(i)) {
                                bytes += col.byte_range().1;
                            }
                        }
                    }
                    bytes += pruning_reads(&config, &metadata);
                }
            }
        }
        let bill = self
            .settings()
            .cost
            .bill(bytes, QueryState::Succeeded, StatementType::Dml);
        Ok(Estimate {
            statement_type: kind,
            bytes_scanned: bytes,
            billed_bytes: bill.billed_bytes,
            cost_usd: bill.cost_usd,
            files,
            read_to_estimate: meter.bytes_scanned(),
            columns_read: shape.columns_read,
            columns_total: shape.columns_total,
            partitions,
            projected,
        })
    }
}

/// What a Parquet scan with a filter may read of a file besides its footer and column chunks, to prune with:
/// its page index (column and offset indexes, one range over all of them, as the parquet crate fetches it),
/// and the bloom filters of its column chunks. A run reads them only where the filter can use them and some
/// row group is not already known to match whole, which the plan cannot know: the estimate counts them for
/// every file that has them when the scan has a filter, to stay an upper bound (found by the differential
/// tester's meter oracle: filtered Parquet queries read up to a page index more than estimated).
fn pruning_reads(
    config: &FileScanConfig,
    metadata: &datafusion::parquet::file::metadata::ParquetMetaData,
) -> u64 {
    use datafusion::datasource::physical_plan::ParquetSource;
    let Some(source) = config.file_source().downcast_ref::<ParquetSource>() else {
        return 0;
    };
    if config.file_source().filter().is_none() {
        return 0;
    }
    let options = &source.table_parquet_options().global;
    let columns = || metadata.row_groups().iter().flat_map(|rg| rg.columns());
    let mut bytes = 0;
    if options.enable_page_index {
        let range = |offset: Option<i64>, length: Option<i32>| {
            let start = u64::try_from(offset?).ok()?;
            Some((start, start + u64::try_from(length?).ok()?))
        };
        let ranges = columns().flat_map(|c| {
            [
                range(c.column_index_offset(), c.column_index_length()),
                range(c.offset_index_offset(), c.offset_index_length()),
            ]
        });
        let (start, end) = ranges
            .flatten()
            .fold((u64::MAX, 0), |(s, e), (rs, re)| (s.min(rs), e.max(re)));
        bytes += end.saturating_sub(start);
    }
    if options.bloom_filter_on_read {
        bytes += columns()
            .filter_map(|c| c.bloom_filter_length())
            .map(|n| u64::try_from(n).unwrap_or(0))
            .sum::<u64>();
    }
    bytes
}

/// What the file scans of a statement's physical plan will read: distinct files (a file split across threads
/// once) and file columns.
pub(super) fn scan_plan(plan: &Arc<dyn ExecutionPlan>) -> ScanPlan {
    let mut scans = Vec::new();
    collect_scans(plan, &mut scans);
    let mut files = BTreeSet::new();
    let mut read = BTreeSet::new();
    let mut all = BTreeSet::new();
    let mut row_format = false;
    for config in &scans {
        let store = config.object_store_url.as_str();
        // A row format parses every field of each row it reads, whatever the projection keeps.
        let rows = !matches!(config.file_source().file_type(), "parquet" | "orc");
        row_format |= rows;
        for group in &config.file_groups {
            for f in group.files() {
                files.insert((store, &f.object_meta.location));
            }
        }
        let wanted = referenced_file_columns(config);
        for field in config.file_schema().fields() {
            // A filter may name partition columns, which are not in the files.
            if rows || wanted.as_ref().is_none_or(|w| w.contains(field.name())) {
                read.insert(field.name().clone());
            }
            all.insert(field.name().clone());
        }
    }
    ScanPlan {
        scans: scans.len() as u64,
        files: files.len() as u64,
        columns_read: read.len() as u64,
        columns_total: all.len() as u64,
        row_format,
    }
}

/// Every pruning metric of the file scans in `plan`, after a run, in plan order: `f(file type, metric name,
/// pruned, matched)`.
fn pruning_metrics(plan: &Arc<dyn ExecutionPlan>, f: &mut impl FnMut(&str, &str, u64, u64)) {
    use datafusion::physical_plan::metrics::MetricValue;
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        && let Some(metrics) = exec.metrics()
    {
        let file_type = config.file_source().file_type();
        for m in metrics.iter() {
            if let MetricValue::PruningMetrics {
                name,
                pruning_metrics: p,
            } = m.value()
            {
                f(
                    file_type,
                    name.as_ref(),
                    p.pruned() as u64,
                    p.matched() as u64,
                );
            }
        }
    }
    for child in plan.children() {
        pruning_metrics(child, f);
    }
}

/// The Parquet row groups a run's scans read, of those the opened files hold, from the scans' metrics (after
/// the run); None when the plan has no Parquet scan or opened no row group.
pub(super) fn row_groups(plan: &Arc<dyn ExecutionPlan>) -> Option<RowGroups> {
    let mut rg = RowGroups::default();
    pruning_metrics(plan, &mut |file_type, name, pruned, matched| {
        match (file_type, name) {
            // Every row group of an opened file is either pruned or matched by statistics.
            ("parquet", "row_groups_pruned_statistics") => {
                rg.total += pruned + matched;
                rg.read += matched;
            }
            ("parquet", "row_groups_pruned_bloom_filter" | "limit_pruned_row_groups") => {
                rg.read = rg.read.saturating_sub(pruned);
            }
            _ => {}
        }
    });
    (rg.total > 0).then_some(rg)
}

/// Files the run's scans skipped by statistics before reading any of their data (DataFusion's file pruning,
/// `files_ranges_pruned_statistics`), from the scans' metrics after the run. A file split into ranges across
/// threads counts once per range.
pub(super) fn files_skipped(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut n = 0;
    pruning_metrics(plan, &mut |_, name, pruned, _| {
        if name == "files_ranges_pruned_statistics" {
            n += pruned;
        }
    });
    n
}

/// Every file scan in `plan` (its `DataSourceExec`s over files), outermost first.
pub(super) fn collect_scans(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<FileScanConfig>) {
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
    {
        out.push(config.clone());
    }
    for child in plan.children() {
        collect_scans(child, out);
    }
}

/// Names of the file columns a scan reads (projection and pushed-down filter); None: all of them.
fn referenced_file_columns(config: &FileScanConfig) -> Option<BTreeSet<String>> {
    let file_schema = config.file_schema();
    let source = config.file_source();
    let projection = source.projection()?;
    let mut names: BTreeSet<String> = projection
        .column_indices()
        .into_iter()
        .filter(|&i| i < file_schema.fields().len())
        .map(|i| file_schema.field(i).name().clone())
        .collect();
    if let Some(filter) = source.filter() {
        for c in datafusion::physical_expr::utils::collect_columns(&filter) {
            names.insert(c.name().to_string());
        }
    }
    Some(names)
}
