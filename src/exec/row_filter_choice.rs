//! [`RowFilterChoiceExec`]: a Parquet scan that decides, once its joins have built their sides, whether its
//! run-time filters are applied row by row in the reader (few keys against the column's range), tested on
//! decoded batches, or left to skip files and row groups only; and whether its page index is read. It stands in
//! for the `DataSourceExec` it wraps (plans show the scan's own line, then `row_filter=...`), so the rule that
//! places it runs last. The heuristics, their measurements and the rule: `optimizer::physical::dynamic_row_filters`.

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, Column, DynamicFilterPhysicalExpr, InListExpr, Literal,
};
use datafusion::physical_expr::utils::{collect_columns, reassign_expr_columns};
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_plan::joins::HashTableLookupExpr;
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, SendableRecordBatchStream,
};
use futures::{FutureExt, StreamExt, TryStreamExt};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, OnceLock, Weak};

use crate::exec::expr::conjunction::Trial;
use crate::exec::expr::key_hint::{self, KeyHint, dynamic_filter, is_column};
use crate::exec::expr::truth;
use tokio::sync::OnceCell;
/// A join's keys must be at most this fraction of the probe column's values for row filtering.
const MAX_KEY_SHARE: f64 = 0.01;

/// A scan of at most this many rows filters them row by row when a join's keys are at most a quarter of the
/// column's values: filtering costs little there, and the join above it builds or probes fewer rows.
const SMALL_SCAN_ROWS: usize = 1 << 18;

/// Who produces a dynamic filter.
#[derive(Debug, Clone)]
pub(crate) enum Producer {
    /// A sort with a limit: the k-th value so far.
    TopK,
    /// A hash join: its build side's keys (the node, for its metrics: how many rows the build side had). Weak:
    /// the join holds this scan, and a cycle would keep the plan, its hash tables included, after the query.
    Join(Weak<dyn ExecutionPlan>),
}

pub(crate) type Producers = Arc<OnceLock<HashMap<u64, Producer>>>;

/// A Parquet scan with dynamic filters, run as DataFusion planned it (`plain`) or as chosen when the query first
/// asks it for rows, once the joins' filters are known: applying its filters row by row (`filtered`: the same
/// scan with `pushdown_filters` on, when all its filters are dynamic), or without its page index (`unindexed`,
/// when it reads one only for run-time filters on clustered columns, and they turn out not to narrow them). The
/// variants share `plain`'s metrics. It stands in the plan as the scan itself: displays, statistics, metrics and
/// downcasts (`is::<DataSourceExec>()`) are `plain`'s.
#[derive(Debug, Clone)]
pub struct RowFilterChoiceExec {
    plain: Arc<dyn ExecutionPlan>,
    filtered: Option<Arc<dyn ExecutionPlan>>,
    unindexed: Option<Arc<dyn ExecutionPlan>>,
    /// The scan's dynamic filters.
    filters: Vec<Arc<dyn PhysicalExpr>>,
    /// Columns whose pages the page index cannot skip (`page_index`).
    unclustered_columns: Arc<BTreeSet<String>>,
    producers: Producers,
    /// What this run does, and why: decided once for all partitions (they share one scan's state).
    choice: Arc<OnceCell<Choice>>,
    /// Whether the choice may wait for joins' filters: not after `reset_state` (a recursive query's next
    /// round), where the joins are new nodes that no longer produce the filters this scan holds.
    may_wait: bool,
}

/// A run's choice: whether row filters apply (when they may), and whether the page index is read (when it may be
/// left out), each with why.
#[derive(Debug, Clone, Default)]
struct Choice {
    row_filter: Option<(bool, String)>,
    page_index: Option<(bool, String)>,
    /// Where row filters do not pay: the join filters that test their keys by a bitmap or a hash set (over the
    /// scan's output columns), applied to the decoded batches.
    after_decoding: Option<Arc<AfterDecoding>>,
}

/// Run-time filters applied to a scan's decoded batches: they spare the operators above (a repartition, a
/// join's probe) the rows no key matches, and are left out once they pass most of the rows they are tried on.
#[derive(Debug)]
struct AfterDecoding {
    filters: Vec<Arc<dyn PhysicalExpr>>,
    trial: Trial,
}

impl AfterDecoding {
    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        if self.trial.is_off() || rows == 0 || self.filters.is_empty() {
            return Ok(batch);
        }
        // NULL (a NULL key) matches no key.
        let mut kept = BooleanBuffer::new_set(rows);
        for filter in &self.filters {
            kept = &kept & &truth(filter.evaluate(&batch)?, rows)?;
        }
        let (tested, passed) = (rows, kept.count_set_bits());
        self.trial.record(tested, passed);
        if passed == tested {
            return Ok(batch);
        }
        Ok(filter_record_batch(&batch, &BooleanArray::new(kept, None))?)
    }
}

impl RowFilterChoiceExec {
    /// `row_filters`: whether row filters may apply; `page_index`: whether the session reads page indexes (the
    /// row-filtering scan does, for the page offsets that let it skip other columns' pages around the rows that
    /// pass); `unindexed`: whether the page index may be left out at run time.
    pub(crate) fn try_new(
        node: &Arc<dyn ExecutionPlan>,
        producers: &Producers,
        row_filters: bool,
        page_index: bool,
        unindexed: bool,
    ) -> Option<Self> {
        let exec = node.downcast_ref::<DataSourceExec>()?;
        let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
        let parquet = config.file_source().downcast_ref::<ParquetSource>()?;
        let options = &parquet.table_parquet_options().global;
        if options.pushdown_filters {
            return None;
        }
        let predicate = FileSource::filter(parquet)?;
        let conjuncts = split_conjunction(&predicate);
        let (filters, others): (Vec<_>, Vec<_>) = conjuncts
            .into_iter()
            .partition(|c| dynamic_filter(c).is_some());
        if filters.is_empty() {
            return None;
        }
        let unclustered_columns =
            crate::catalog::provider::unclustered_columns(config).unwrap_or_default();
        let variant = |source: ParquetSource| {
            let config = FileScanConfigBuilder::from(config.clone())
                .with_source(Arc::new(source))
                .build();
            DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
        };
        let filtered = (row_filters && others.is_empty()).then(|| {
            variant(
                parquet
                    .clone()
                    .with_pushdown_filters(true)
                    .with_enable_page_index(page_index),
            )
        });
        // Left out at run time only when no static filter needs it and a dynamic one might.
        let columns = |exprs: &[&Arc<dyn PhysicalExpr>]| -> Vec<String> {
            exprs
                .iter()
                .flat_map(|e| collect_columns(e))
                .map(|c| c.name().to_string())
                .collect()
        };
        let unindexed = (unindexed
            && options.enable_page_index
            && columns(&others)
                .iter()
                .all(|c| unclustered_columns.contains(c))
            && columns(&filters)
                .iter()
                .any(|c| !unclustered_columns.contains(c)))
        .then(|| variant(parquet.clone().with_enable_page_index(false)));
        if filtered.is_none() && unindexed.is_none() {
            return None;
        }
        Some(RowFilterChoiceExec {
            plain: Arc::clone(node),
            filtered,
            unindexed,
            filters: filters.into_iter().cloned().collect(),
            unclustered_columns,
            producers: Arc::clone(producers),
            choice: Arc::new(OnceCell::new()),
            may_wait: true,
        })
    }

    fn producer(&self, f: &Arc<dyn PhysicalExpr>) -> Option<&Producer> {
        let id = dynamic_filter(f)?.expression_id()?;
        self.producers.get()?.get(&id)
    }

    /// A join's filter once complete (`wait`: waiting for it), or None when it is not yet.
    async fn complete(
        dynamic: &DynamicFilterPhysicalExpr,
        wait: bool,
    ) -> Option<Arc<dyn PhysicalExpr>> {
        if wait {
            dynamic.wait_complete().await;
        } else {
            dynamic.wait_complete().now_or_never()?;
        }
        dynamic.current().ok()
    }

    async fn decide(&self, wait: bool) -> Choice {
        let mut choice = Choice::default();
        if self.filtered.is_some() {
            let row_filter = self.row_filter_pays(wait).await;
            let on = row_filter.0;
            choice.row_filter = Some(row_filter);
            if on {
                return choice;
            }
            choice.after_decoding = self.after_decoding();
        }
        if self.unindexed.is_some() {
            choice.page_index = Some(self.page_index_pays(wait).await);
        }
        choice
    }

    /// Whether a dynamic filter narrows a clustered column, so that the page index skips pages: a top-k's (it
    /// narrows as the query goes), a join's that lists its keys (the key hint prunes pages by them), or one whose
    /// keys' bounds span at most half of the column's range in the registry's statistics.
    async fn page_index_pays(&self, wait: bool) -> (bool, String) {
        let stats = StatisticsContext::new()
            .compute(self.plain.as_ref(), &StatisticsArgs::new())
            .ok();
        let mut why = "no run-time filter on a clustered column".to_string();
        for filter in &self.filters {
            let Some(dynamic) = dynamic_filter(filter) else {
                continue;
            };
            let Some(&[key]) = key_columns(dynamic).as_deref() else {
                continue;
            };
            if self.unclustered_columns.contains(key.name()) {
                continue;
            }
            match self.producer(filter) {
                Some(Producer::TopK) => return (true, "a top-k's filter".into()),
                Some(Producer::Join(_)) => {}
                None => return (true, "a run-time filter".into()),
            }
            let Some(current) = Self::complete(dynamic, wait).await else {
                return (true, "a join's filter is not complete".into());
            };
            if filter
                .downcast_ref::<KeyHint>()
                .is_some_and(KeyHint::prunes)
                && let Some(keys) = listed_keys(&current)
                && keys > 0
                && keys <= key_hint::MAX_HINT_KEYS
            {
                return (true, format!("a join's filter lists {keys} keys"));
            }
            let (Some((lo, hi)), Some((min, max))) = (
                key_bounds(&current),
                column_range(stats.as_deref(), &self.plain, key),
            ) else {
                return (true, "a join's filter of unknown span".into());
            };
            let share = (hi - lo + 1) as f64 / (max - min + 1).max(1) as f64;
            why = format!(
                "a join's filter spans {:.0}% of `{}`'s range",
                (share * 100.0).min(100.0),
                key.name()
            );
            if share <= 0.5 {
                return (true, why);
            }
        }
        (false, why)
    }

    /// The complete join filters that test their keys by a bitmap or a hash set, over the scan's output columns,
    /// to apply after decoding: where row filtering does not pay (most rows pass, or they are scattered), they
    /// still spare the operators above the rows no key matches (TPC-H q7: 1.5M `orders` rows for 12K customers'
    /// keys, 8% of them joining).
    fn after_decoding(&self) -> Option<Arc<AfterDecoding>> {
        let schema = self.plain.schema();
        let filters: Vec<Arc<dyn PhysicalExpr>> = self
            .filters
            .iter()
            .filter(|f| {
                matches!(self.producer(f), Some(Producer::Join(_)))
                    && dynamic_filter(f).is_some_and(|d| d.wait_complete().now_or_never().is_some())
                    && key_hint::lists_keys(f)
            })
            .filter_map(|f| reassign_expr_columns(Arc::clone(f), &schema).ok())
            .collect();
        (!filters.is_empty()).then(|| {
            Arc::new(AfterDecoding {
                filters,
                trial: Trial::default(),
            })
        })
    }

    /// Whether to apply the filters row by row, with why. Waits (`wait`) for the joins' filters: a join
    /// completes its filter once it has read its build side, which never depends on this scan (on the join's
    /// probe side); the join asks for this scan's rows only after that anyway, and an operator between them that
    /// reads ahead waits with it.
    async fn row_filter_pays(&self, wait: bool) -> (bool, String) {
        let producer = |f: &Arc<dyn PhysicalExpr>| self.producer(f);
        if self
            .filters
            .iter()
            .any(|f| matches!(producer(f), Some(Producer::TopK)))
        {
            return (true, "a top-k's filter".into());
        }
        let stats = StatisticsContext::new()
            .compute(self.plain.as_ref(), &StatisticsArgs::new())
            .ok();
        let rows = stats
            .as_deref()
            .and_then(|s| s.num_rows.get_value().copied());
        let mut why = "no join's filter".to_string();
        for filter in &self.filters {
            let (Some(Producer::Join(join)), Some(dynamic)) =
                (producer(filter), dynamic_filter(filter))
            else {
                continue;
            };
            let Some(current) = Self::complete(dynamic, wait).await else {
                why = "a join's filter is not complete".into();
                continue;
            };
            // The keys the filter lists or the join gathered (of a single-column key: a multi-column key's
            // bitmap holds one column's values), else the rows the join's build side had (an upper bound).
            let keys = listed_keys(&current)
                .or_else(|| {
                    let hint = filter.downcast_ref::<KeyHint>()?;
                    let single = dynamic.children().len() == 1;
                    usize::try_from(hint.collected_keys().filter(|_| single)?).ok()
                })
                .or_else(|| {
                    join.upgrade()?
                        .metrics()?
                        .sum_by_name("build_input_rows")
                        .map(|v| v.as_usize())
                });
            let Some(keys) = keys else {
                why = "a join's filter of unknown size".into();
                continue;
            };
            let Some(values) = value_count(stats.as_deref(), &self.plain, dynamic) else {
                why = format!("a join's filter has {keys} keys, the column's range is unknown");
                continue;
            };
            why = format!("a join's filter has {keys} keys of ~{values} values");
            if (keys as f64) <= MAX_KEY_SHARE * values as f64 {
                return (true, why);
            }
            if rows.is_some_and(|r| r <= SMALL_SCAN_ROWS) && (keys as u64) * 4 <= values {
                return (true, format!("{why}, a small table"));
            }
        }
        (false, why)
    }

    async fn chosen(&self, wait: bool) -> &Arc<dyn ExecutionPlan> {
        let choice = self.choice.get_or_init(|| self.decide(wait)).await;
        match (choice, &self.filtered, &self.unindexed) {
            (
                Choice {
                    row_filter: Some((true, _)),
                    ..
                },
                Some(filtered),
                _,
            ) => filtered,
            (
                Choice {
                    page_index: Some((false, _)),
                    ..
                },
                _,
                Some(unindexed),
            ) => unindexed,
            _ => &self.plain,
        }
    }
}

/// How many distinct keys a join's filter lists (`col IN (...)`, one list per partition of the join); `None`
/// when it looks keys up in a hash table instead, or lists none.
fn listed_keys(expr: &Arc<dyn PhysicalExpr>) -> Option<usize> {
    if let Some(lit) = expr.downcast_ref::<Literal>()
        && lit.value() == &ScalarValue::Boolean(Some(false))
    {
        // An empty build side: nothing passes.
        return Some(0);
    }
    let mut keys = HashSet::new();
    let mut lists = 0;
    // A hash-table lookup (or a list that is not of keys): the keys are not listed.
    let mut lookup = false;
    let _ = expr.apply(|e| {
        if e.is::<HashTableLookupExpr>() {
            lookup = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        if let Some(list) = e.downcast_ref::<InListExpr>()
            && !list.negated()
        {
            lists += 1;
            for value in list.list() {
                // A join lists its keys as literals; anything else is not a count of keys.
                let Some(lit) = value.downcast_ref::<Literal>() else {
                    lookup = true;
                    return Ok(TreeNodeRecursion::Stop);
                };
                keys.insert(lit.value().clone());
            }
            return Ok(TreeNodeRecursion::Jump);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    (!lookup && lists > 0).then_some(keys.len())
}

/// About how many distinct values the scan holds of the filter's key: the key column's range of integer values
/// from the registry's statistics, no more than the scan's rows; the rows when the key is several columns.
fn value_count(
    stats: Option<&Statistics>,
    plan: &Arc<dyn ExecutionPlan>,
    filter: &DynamicFilterPhysicalExpr,
) -> Option<u64> {
    let stats = stats?;
    let rows = *stats.num_rows.get_value()? as u64;
    let [key] = filter.children()[..] else {
        return Some(rows);
    };
    let column = key.downcast_ref::<Column>()?;
    let index = plan.schema().index_of(column.name()).ok()?;
    let col = stats.column_statistics.get(index)?;
    let (Some(lo), Some(hi)) = (col.min_value.get_value(), col.max_value.get_value()) else {
        return None;
    };
    let range = integer(hi)?.checked_sub(integer(lo)?)?.checked_add(1)?;
    Some(u64::try_from(range).ok()?.min(rows))
}

/// The key columns a join's filter tests (its children), when they are plain columns.
fn key_columns(filter: &DynamicFilterPhysicalExpr) -> Option<Vec<&Column>> {
    filter
        .children()
        .into_iter()
        .map(|c| c.downcast_ref::<Column>())
        .collect()
}

/// The key column's integer range in the scan's statistics (the registry's).
fn column_range(
    stats: Option<&Statistics>,
    plan: &Arc<dyn ExecutionPlan>,
    column: &Column,
) -> Option<(i128, i128)> {
    let index = plan.schema().index_of(column.name()).ok()?;
    let col = stats?.column_statistics.get(index)?;
    let (Some(lo), Some(hi)) = (col.min_value.get_value(), col.max_value.get_value()) else {
        return None;
    };
    Some((integer(lo)?, integer(hi)?))
}

/// The integer bounds a join's filter puts on its key (`k >= lo AND k <= hi`, the widest over hash partitions);
/// None when a partition's filter has none.
fn key_bounds(filter: &Arc<dyn PhysicalExpr>) -> Option<(i128, i128)> {
    let branches: Vec<&Arc<dyn PhysicalExpr>> = match filter.downcast_ref::<CaseExpr>() {
        Some(case) => case.when_then_expr().iter().map(|(_, then)| then).collect(),
        None => vec![filter],
    };
    let mut bounds: Option<(i128, i128)> = None;
    for branch in branches {
        if let Some(lit) = branch.downcast_ref::<Literal>()
            && lit.value() == &ScalarValue::Boolean(Some(false))
        {
            continue;
        }
        let (mut lo, mut hi) = (None, None);
        for conjunct in split_conjunction(branch) {
            let Some(cmp) = conjunct.downcast_ref::<BinaryExpr>() else {
                continue;
            };
            let Some(value) = cmp.right().downcast_ref::<Literal>() else {
                continue;
            };
            if !is_column(cmp.left()) {
                continue;
            }
            match cmp.op() {
                Operator::GtEq => lo = integer(value.value()),
                Operator::LtEq => hi = integer(value.value()),
                _ => {}
            }
        }
        let (lo, hi) = (lo?, hi?);
        bounds = Some(match bounds {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
    bounds
}

fn integer(v: &ScalarValue) -> Option<i128> {
    match v {
        ScalarValue::Int8(Some(x)) => Some(*x as i128),
        ScalarValue::Int16(Some(x)) => Some(*x as i128),
        ScalarValue::Int32(Some(x)) => Some(*x as i128),
        ScalarValue::Int64(Some(x)) => Some(*x as i128),
        ScalarValue::UInt8(Some(x)) => Some(*x as i128),
        ScalarValue::UInt16(Some(x)) => Some(*x as i128),
        ScalarValue::UInt32(Some(x)) => Some(*x as i128),
        ScalarValue::UInt64(Some(x)) => Some(*x as i128),
        ScalarValue::Date32(Some(x)) => Some(*x as i128),
        _ => None,
    }
}

impl DisplayAs for RowFilterChoiceExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        // The scan's own line, then what owl chose (after a run) or will choose.
        match self.plain.downcast_ref::<DataSourceExec>() {
            Some(scan) => scan.fmt_as(t, f)?,
            None => write!(f, "{}", self.plain.name())?,
        }
        let choice = self.choice.get();
        let show = |f: &mut fmt::Formatter,
                    name: &str,
                    may: bool,
                    chosen: Option<&(bool, String)>| {
            match (may, chosen) {
                (_, Some((on, why))) => {
                    write!(f, ", {name}={} ({why})", if *on { "on" } else { "off" })
                }
                (true, None) if choice.is_none() => write!(f, ", {name}=at run time"),
                _ => Ok(()),
            }
        };
        show(
            f,
            "row_filter",
            self.filtered.is_some(),
            choice.and_then(|c| c.row_filter.as_ref()),
        )?;
        if let Some(after) = choice.and_then(|c| c.after_decoding.as_ref()) {
            let (tested, passed) = after.trial.counts();
            write!(
                f,
                ", after_decoding={} (keys tested on {tested} rows, {passed} passed)",
                if after.trial.is_off() {
                    "dropped"
                } else {
                    "on"
                }
            )?;
        }
        show(
            f,
            "page_index",
            self.unindexed.is_some(),
            choice.and_then(|c| c.page_index.as_ref()),
        )
    }
}

impl ExecutionPlan for RowFilterChoiceExec {
    fn name(&self) -> &str {
        "DataSourceExec"
    }

    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.plain.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.plain.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        self.plain.apply_expressions(f)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(
                "a Parquet scan takes no inputs".into(),
            ))
        }
    }

    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        let reset = |p: &Option<Arc<dyn ExecutionPlan>>| {
            p.as_ref().map(|p| Arc::clone(p).reset_state()).transpose()
        };
        Ok(Arc::new(RowFilterChoiceExec {
            plain: Arc::clone(&self.plain).reset_state()?,
            filtered: reset(&self.filtered)?,
            unindexed: reset(&self.unindexed)?,
            filters: self.filters.clone(),
            unclustered_columns: Arc::clone(&self.unclustered_columns),
            producers: Arc::clone(&self.producers),
            choice: Arc::new(OnceCell::new()),
            may_wait: false,
        }))
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        StatisticsContext::new().compute(self.plain.as_ref(), args)
    }

    fn fetch(&self) -> Option<usize> {
        self.plain.fetch()
    }

    fn metrics(&self) -> Option<MetricsSet> {
        self.plain.metrics()
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        // The choice waits for the first poll, and for the joins' filters when they compute them.
        let this = self.clone();
        let wait = self.may_wait
            && context
                .session_config()
                .options()
                .optimizer
                .enable_join_dynamic_filter_pushdown;
        // As DataFusion does, the scan's stream is made now (it reads nothing until asked for rows); the one
        // that applies row filters replaces it if chosen.
        let plain = self.plain.execute(partition, Arc::clone(&context))?;
        let stream = futures::stream::once(async move {
            let chosen = this.chosen(wait).await;
            let stream = if Arc::ptr_eq(chosen, &this.plain) {
                plain
            } else {
                drop(plain);
                chosen.execute(partition, context)?
            };
            let after = this
                .choice
                .get()
                .and_then(|c| c.after_decoding.as_ref())
                .cloned();
            Ok::<_, DataFusionError>(match after {
                Some(after) => stream
                    .map(move |batch| batch.and_then(|b| after.apply(b)))
                    .boxed(),
                None => stream.boxed(),
            })
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.plain.schema(),
            stream.boxed(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::expr::conjunction::TRIAL_ROWS;
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_expr::expressions::{col, lit};

    fn after_decoding(filter: Arc<dyn PhysicalExpr>) -> AfterDecoding {
        AfterDecoding {
            filters: vec![filter],
            trial: Trial::default(),
        }
    }

    #[test]
    fn filters_decoded_batches_until_they_pass_most_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, true)]));
        let keys: Vec<Option<i64>> = (0..1000).map(|k| (k % 10 != 0).then_some(k)).collect();
        let batch =
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(Int64Array::from(keys))])
                .unwrap();
        let k = col("k", &schema).unwrap();
        // k < 100: 90 of the 100 rows below it (every tenth key is NULL, and fails); kept however long it runs.
        let narrow = after_decoding(Arc::new(BinaryExpr::new(
            Arc::clone(&k),
            Operator::Lt,
            lit(100i64),
        )));
        for _ in 0..100 {
            assert_eq!(narrow.apply(batch.clone()).unwrap().num_rows(), 90);
        }
        // k < 900: 810 of 1000 pass, so it is left out once tried on 65,536 rows.
        let broad = after_decoding(Arc::new(BinaryExpr::new(k, Operator::Lt, lit(900i64))));
        let trial = (TRIAL_ROWS as usize).div_ceil(1000);
        for _ in 0..trial {
            assert_eq!(broad.apply(batch.clone()).unwrap().num_rows(), 810);
        }
        assert_eq!(broad.apply(batch.clone()).unwrap().num_rows(), 1000);
        assert_eq!(broad.trial.counts().0, trial as u64 * 1000);
    }
}
