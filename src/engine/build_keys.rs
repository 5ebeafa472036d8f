//! A hash join's build-side keys, gathered as the build side streams into the join, as a bitmap that run-time
//! filters test with one bit a row.
//!
//! A join's dynamic filter (see `pushdown.rs`) lists its keys when there are at most 4,096 of them
//! (`engine::JOIN_LISTED_KEYS`); past that, DataFusion gives it as a lookup into the join's hash table, which
//! hashes each row and probes the table: what the join's own probe costs, so owl evaluates such a filter before
//! the join only where it spares an aggregation. (Raising DataFusion's limit is no way out: it makes a literal a
//! key, and TPC-H SF1 q9 then takes 25 times as long.) Yet many joins with thousands of keys pass few of the
//! probe side's rows: TPC-H q3 joins 3.24M `lineitem` rows of March 1995 on with 147K orders, and 0.94% of them
//! match; q4, q12, q21 and q22 probe millions of rows of which 2-13% match.
//!
//! So owl puts a [`CollectKeysExec`] over the build side of each hash join whose filter a Parquet scan holds,
//! with a single-column integer or date key (of a multi-column key, its first such column): it passes the
//! batches through and keeps each one's keys; when every partition of the build side has ended, the keys
//! become one bit a value from the smallest to the largest ([`KeySet`]), if their span is at most 2^23 values
//! (1 MiB) or 64 a key. The scan's filter (its `KeyHint`) then tests a row with one bit, once the join has
//! completed its filter: the join's filter is what says the rows it drops cannot match (DataFusion decides per
//! join type and NULL handling whether to compute one). The bitmap holds the keys of every partition; a
//! partitioned join's filter passes a row when its own partition holds the key, the same rows, since a key is
//! routed to one partition on both sides. Rows with a NULL key pass neither.
//!
//! Not for joins whose NULL keys match each other (`IS NOT DISTINCT FROM`), nor once the join's state is reset
//! (a recursive query's next round: the scans' filters no longer follow the new join). At most 8M keys are
//! gathered (64 MiB, outside the memory pool's accounting, beside the join's own table of those rows); a larger
//! build side gets no bitmap. `SET owl.join_key_bitmaps = false` turns it off.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinType, NullEquality, ScalarValue, Statistics};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    RecordBatchStream, SendableRecordBatchStream, replace_children_if_necessary,
};
use futures::{Stream, StreamExt};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use super::conjunction::truth;
use super::key_pruning::{KeyBits, KeySet, dynamic_filter};

/// A bitmap spans at most this many values (1 MiB), or 64 a key.
const MAX_SPAN: u64 = 1 << 23;

/// Keys are gathered for at most this many build-side rows (64 MiB of keys); a larger build side gets no
/// bitmap.
const MAX_KEYS: usize = 1 << 23;

/// The keys of one join's build side: gathered by its [`CollectKeysExec`], read by the scans that hold the join's
/// filter.
#[derive(Debug)]
pub struct BuildKeys {
    /// Which of the join's key columns (an index into its `on`).
    index: usize,
    gathering: Mutex<Gathering>,
    /// The keys, once every build partition has ended: None when they span too many values.
    set: OnceLock<Option<Arc<KeySet>>>,
    /// The join's state was reset (a recursive query's next round): the keys no longer say what it holds.
    reset: AtomicBool,
}

#[derive(Debug, Default)]
struct Gathering {
    keys: Vec<i64>,
    /// Per build partition: whether its stream has ended.
    ended: Vec<bool>,
    /// More keys than [`MAX_KEYS`], or a key an i64 cannot hold: no bitmap.
    given_up: bool,
}

impl BuildKeys {
    pub fn new(index: usize) -> Self {
        BuildKeys {
            index,
            gathering: Mutex::default(),
            set: OnceLock::new(),
            reset: AtomicBool::new(false),
        }
    }

    /// Which of the join's key columns the keys are of.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The keys as a bitmap, once the build side has ended (and when they span few enough values).
    pub fn set(&self) -> Option<&Arc<KeySet>> {
        if self.reset.load(Ordering::Relaxed) {
            return None;
        }
        self.set.get()?.as_ref()
    }

    fn gathering(&self) -> std::sync::MutexGuard<'_, Gathering> {
        self.gathering.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a batch's keys (any integer or date array).
    fn add(&self, keys: &ArrayRef) {
        let mut g = self.gathering();
        if g.given_up {
            return;
        }
        let Some(ints) = as_i64(keys) else {
            g.given_up = true;
            return;
        };
        if g.keys.len() + ints.len() - ints.null_count() > MAX_KEYS {
            g.given_up = true;
            g.keys = Vec::new();
            return;
        }
        match ints.nulls() {
            None => g.keys.extend_from_slice(ints.values()),
            Some(nulls) => {
                let values = ints.values();
                g.keys.extend(nulls.valid_indices().map(|i| values[i]));
            }
        }
    }

    /// Partition `partition` of `partitions` has ended; the last to end makes the bitmap.
    fn end(&self, partition: usize, partitions: usize) {
        let mut g = self.gathering();
        if g.ended.len() < partitions {
            g.ended.resize(partitions, false);
        }
        g.ended[partition] = true;
        if g.ended.iter().all(|e| *e) {
            let keys = std::mem::take(&mut g.keys);
            let set = (!g.given_up)
                .then(|| KeySet::try_new(&keys, MAX_SPAN.max(64 * keys.len() as u64)))
                .flatten()
                .map(Arc::new);
            let _ = self.set.set(set);
        }
    }
}

/// A key gatherer for each hash join with an integer or date key (not matching NULLs with NULLs) whose keys a
/// run-time filter will test, by the id of the join's dynamic filter: a Parquet scan holds that filter, or the
/// join's probe side aggregates by the key where DataFusion's filter did not reach (see
/// [`filter_below_aggregation`]).
pub fn collectors(plan: &Arc<dyn ExecutionPlan>) -> Result<Collectors> {
    let held = held_filters(plan)?;
    let mut collectors = Collectors::default();
    plan.apply(|node| {
        if let Some(join) = node.downcast_ref::<HashJoinExec>()
            && join.null_equality() == NullEquality::NullEqualsNothing
            && let Some(id) = filter_id(join)
            && let Some(index) = integer_key(join)
            && !small(join.left())
        {
            let keys = Arc::new(BuildKeys::new(index));
            let below = !held_filters(join.right())?.contains(&id)
                && probe_aggregates(join, &keys)?.is_some();
            if below {
                collectors.below_aggregation.insert(id);
            }
            if held.contains(&id) || below {
                collectors.keys.insert(id, keys);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(collectors)
}

/// The plan's key gatherers, by the id of their join's dynamic filter.
#[derive(Debug, Default)]
pub struct Collectors {
    pub keys: HashMap<u64, Arc<BuildKeys>>,
    /// The joins whose probe side gets a filter by the keys below an aggregation.
    below_aggregation: HashSet<u64>,
}

/// The ids of the dynamic filters the Parquet scans of `plan` hold.
fn held_filters(plan: &Arc<dyn ExecutionPlan>) -> Result<HashSet<u64>> {
    let mut held = HashSet::new();
    plan.apply(|node| {
        if let Some(predicate) = super::pushdown::parquet_predicate(node) {
            for c in split_conjunction(&predicate) {
                held.extend(dynamic_filter(c).and_then(|d| d.expression_id()));
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(held)
}

/// Whether a build side has, for certain, no more rows than a join's filter lists keys (a table read whole
/// whose row count the registry knows): the filter lists them, nothing to gather.
fn small(build: &Arc<dyn ExecutionPlan>) -> bool {
    StatisticsContext::new()
        .compute(build.as_ref(), &StatisticsArgs::new())
        .is_ok_and(|s| matches!(s.num_rows, Precision::Exact(n) if n <= super::JOIN_LISTED_KEYS))
}

/// The join's probe side with a filter by its gathered keys below an aggregation, when it has one to put there.
fn probe_aggregates(
    join: &HashJoinExec,
    keys: &Arc<BuildKeys>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    // Joins whose probe rows without a match are not in the answer; NULL-aware anti joins (`NOT IN`) are
    // answered by whether the probe side has NULLs.
    if join.null_aware
        || !matches!(
            join.join_type(),
            JoinType::Inner
                | JoinType::Left
                | JoinType::LeftSemi
                | JoinType::RightSemi
                | JoinType::LeftAnti
        )
    {
        return Ok(None);
    }
    let Some(key) = join
        .on()
        .get(keys.index())
        .and_then(|(_, probe)| probe.downcast_ref::<Column>())
    else {
        return Ok(None);
    };
    filter_below_aggregation(join.right(), key.index(), keys)
}

/// `node` with a filter by the gathered keys on its column `column` put over the input of the aggregation
/// that groups by it, when `node` reaches one through projections, filters, repartitions and final aggregations
/// by it.
///
/// A join whose key is two columns, one of them an aggregate (TPC-H q2 joins parts with the cheapest supply
/// cost of each part: `p_partkey = ps_partkey AND ps_supplycost = min(ps_supplycost)`), gets no run-time filter
/// below the aggregation from DataFusion (its filter tests both columns), so the aggregation groups every
/// row (q2: 159K supply rows into 117K parts, for the 642 rows of the other side). The gathered keys of the
/// grouping column drop, before grouping, the groups the join would drop after.
pub fn filter_below_aggregation(
    node: &Arc<dyn ExecutionPlan>,
    column: usize,
    keys: &Arc<BuildKeys>,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    // Projections, filters (a condition on the aggregates: `HAVING`, or one DataFusion derived from the join's)
    // and repartitions pass the column on; a final aggregation groups by it.
    let below = if let Some(c) = super::passthrough::column_in_input(node, column) {
        c
    } else if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
        let group = aggregate.group_expr();
        let Some(c) = group
            .expr()
            .get(column)
            .filter(|_| group.is_single())
            .and_then(|(e, _)| e.downcast_ref::<Column>())
        else {
            return Ok(None);
        };
        if !matches!(
            aggregate.mode(),
            AggregateMode::Final | AggregateMode::FinalPartitioned
        ) {
            // Its input is the rows themselves.
            let input = Arc::clone(aggregate.input());
            let test = Arc::new(GatheredKeys::new(Arc::new(c.clone()), Arc::clone(keys)));
            let filter = Arc::new(FilterExec::try_new(test, input)?);
            return replace_children_if_necessary(Arc::clone(node), vec![filter]).map(Some);
        }
        c.index()
    } else {
        return Ok(None);
    };
    super::passthrough::rewrite_child(node, |child| filter_below_aggregation(child, below, keys))
}

/// `node` with its build side gathered into its keys' collector, when it is a hash join that has one.
pub fn collect_keys(
    node: &Arc<dyn ExecutionPlan>,
    collectors: &Collectors,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else {
        return Ok(None);
    };
    let Some(id) = filter_id(join) else {
        return Ok(None);
    };
    let Some(keys) = collectors.keys.get(&id) else {
        return Ok(None);
    };
    if join.left().is::<CollectKeysExec>() {
        return Ok(None);
    }
    let Some((key, _)) = join.on().get(keys.index()) else {
        return Ok(None);
    };
    let left = Arc::new(CollectKeysExec::new(
        Arc::clone(join.left()),
        Arc::clone(key),
        Arc::clone(keys),
    ));
    // A probe side that DataFusion's filter does not reach, but that aggregates by the key, is filtered below
    // the aggregation.
    let right = match collectors.below_aggregation.contains(&id) {
        true => probe_aggregates(join, keys)?,
        false => None,
    }
    .unwrap_or_else(|| Arc::clone(join.right()));
    replace_children_if_necessary(Arc::clone(node), vec![left, right]).map(Some)
}

/// The id of the dynamic filter a join produces.
fn filter_id(join: &HashJoinExec) -> Option<u64> {
    join.dynamic_expressions_produced()
        .first()
        .and_then(|e| e.expression_id())
}

/// The first of a join's keys that is an integer or a date on both sides.
fn integer_key(join: &HashJoinExec) -> Option<usize> {
    let (left, right) = (join.left().schema(), join.right().schema());
    let keyable = |t: DataType| t.is_integer() || t == DataType::Date32;
    join.on().iter().position(|(l, r)| {
        l.data_type(&left).is_ok_and(keyable) && r.data_type(&right).is_ok_and(keyable)
    })
}

/// An integer or date array as i64s; None for another type, or for an unsigned value beyond i64.
fn as_i64(array: &ArrayRef) -> Option<datafusion::arrow::array::Int64Array> {
    let t = array.data_type();
    if !t.is_integer() && t != &DataType::Date32 {
        return None;
    }
    let cast = cast(array, &DataType::Int64).ok()?;
    // A cast that could not hold a value gives NULL there.
    (cast.null_count() == array.null_count()).then(|| cast.as_primitive::<Int64Type>().clone())
}

/// `key IN (the join's gathered keys)` for a filter of the join's probe side that DataFusion's run-time filter
/// does not reach: every row passes until the join has gathered its keys (a partitioned join's probe side may
/// start before all its partitions have built), then the rows whose key is among them. A NULL key fails (the
/// join matches no NULL).
#[derive(Debug)]
pub struct GatheredKeys {
    key: Arc<dyn PhysicalExpr>,
    keys: Arc<BuildKeys>,
}

impl GatheredKeys {
    pub fn new(key: Arc<dyn PhysicalExpr>, keys: Arc<BuildKeys>) -> Self {
        GatheredKeys { key, keys }
    }
}

impl PartialEq for GatheredKeys {
    fn eq(&self, other: &Self) -> bool {
        self.key.eq(&other.key) && Arc::ptr_eq(&self.keys, &other.keys)
    }
}

impl Eq for GatheredKeys {}

impl std::hash::Hash for GatheredKeys {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        Arc::as_ptr(&self.keys).hash(state);
    }
}

impl fmt::Display for GatheredKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} IN (the join's keys", self.key)?;
        match self.keys.set() {
            Some(set) => write!(f, ": {} by bitmap)", set.len()),
            None => write!(f, ")"),
        }
    }
}

impl PhysicalExpr for GatheredKeys {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let Some(set) = self.keys.set() else {
            return Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))));
        };
        let bits = KeyBits::new(Arc::clone(&self.key), Arc::clone(set));
        // NULL (a NULL key) as false.
        let kept = truth(bits.evaluate(batch)?, batch.num_rows())?;
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
            kept, None,
        ))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.key]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        match <[_; 1]>::try_from(children) {
            Ok([key]) => Ok(Arc::new(GatheredKeys::new(key, Arc::clone(&self.keys)))),
            Err(_) => Err(DataFusionError::Internal(
                "a test of gathered keys reads one key".into(),
            )),
        }
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The build side of a hash join, passed through while its keys are gathered into a [`BuildKeys`]. It stands in
/// the plan as a line of its own above the build side.
#[derive(Debug)]
pub struct CollectKeysExec {
    input: Arc<dyn ExecutionPlan>,
    /// The join's build-side key (over the input's columns).
    key: Arc<dyn PhysicalExpr>,
    keys: Arc<BuildKeys>,
}

impl CollectKeysExec {
    pub fn new(
        input: Arc<dyn ExecutionPlan>,
        key: Arc<dyn PhysicalExpr>,
        keys: Arc<BuildKeys>,
    ) -> Self {
        CollectKeysExec { input, key, keys }
    }
}

impl DisplayAs for CollectKeysExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "CollectKeysExec: key={}", self.key)?;
        match self.keys.set.get() {
            Some(Some(set)) => write!(
                f,
                ", bitmap of {} keys over {} values",
                set.len(),
                set.span()
            ),
            Some(None) => write!(f, ", no bitmap (keys too many or too spread)"),
            None => Ok(()),
        }
    }
}

impl ExecutionPlan for CollectKeysExec {
    fn name(&self) -> &str {
        "CollectKeysExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        f(&self.key)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([input]) => Ok(Arc::new(CollectKeysExec {
                input,
                key: Arc::clone(&self.key),
                keys: Arc::clone(&self.keys),
            })),
            Err(_) => Err(DataFusionError::Internal(
                "a key collector has one input".into(),
            )),
        }
    }

    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        // The scans hold this join's keys by their filter; a reset join computes another.
        self.keys.reset.store(true, Ordering::Relaxed);
        Ok(self)
    }

    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        StatisticsContext::new().compute(self.input.as_ref(), args)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Ok(Box::pin(CollectStream {
            input: self.input.execute(partition, context)?,
            key: Arc::clone(&self.key),
            keys: Arc::clone(&self.keys),
            partition,
            partitions: self.input.output_partitioning().partition_count(),
        }))
    }
}

struct CollectStream {
    input: SendableRecordBatchStream,
    key: Arc<dyn PhysicalExpr>,
    keys: Arc<BuildKeys>,
    partition: usize,
    partitions: usize,
}

impl CollectStream {
    fn gather(&self, batch: &RecordBatch) {
        match self
            .key
            .evaluate(batch)
            .and_then(|k| k.into_array(batch.num_rows()))
        {
            Ok(keys) => self.keys.add(&keys),
            // The join evaluates the same key and reports the error.
            Err(_) => self.keys.gathering().given_up = true,
        }
    }
}

impl Stream for CollectStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.input.poll_next_unpin(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => self.gather(batch),
            Poll::Ready(None) => self.keys.end(self.partition, self.partitions),
            _ => {}
        }
        polled
    }
}

impl RecordBatchStream for CollectStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

#[cfg(test)]
impl BuildKeys {
    /// Keys gathered from one partition that has ended.
    pub(super) fn gathered(index: usize, keys: ArrayRef) -> Self {
        let gathered = BuildKeys::new(index);
        gathered.add(&keys);
        gathered.end(0, 1);
        gathered
    }

    /// As when the join's state is reset.
    pub(super) fn reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BooleanArray, Date32Array, Int32Array, Int64Array, UInt64Array,
    };
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::physical_expr::expressions::Column;
    use datafusion::prelude::SessionContext;
    use proptest::prelude::*;

    fn batch(keys: ArrayRef) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("k", keys.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![keys]).unwrap()
    }

    /// A collector over `partitions` (each a list of key arrays), and the exec that gathers them.
    fn collector(partitions: Vec<Vec<ArrayRef>>) -> (Arc<BuildKeys>, Arc<dyn ExecutionPlan>) {
        let partitions: Vec<Vec<RecordBatch>> = partitions
            .into_iter()
            .map(|p| p.into_iter().map(batch).collect())
            .collect();
        let schema = partitions
            .iter()
            .flatten()
            .next()
            .map(|b| b.schema())
            .unwrap();
        let input = MemorySourceConfig::try_new_exec(&partitions, schema, None).unwrap();
        let keys = Arc::new(BuildKeys::new(0));
        let exec = Arc::new(CollectKeysExec::new(
            input,
            Arc::new(Column::new("k", 0)),
            Arc::clone(&keys),
        ));
        (keys, exec)
    }

    async fn run(exec: &Arc<dyn ExecutionPlan>, partition: usize) -> Vec<RecordBatch> {
        let context = SessionContext::new().task_ctx();
        exec.execute(partition, context)
            .unwrap()
            .map(|b| b.unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn passes_the_build_side_through_and_makes_the_bitmap_once_every_partition_ends() {
        let first: ArrayRef = Arc::new(Int32Array::from(vec![Some(5), None, Some(9), Some(5)]));
        let second: ArrayRef = Arc::new(Int32Array::from(vec![Some(-3), Some(9)]));
        let (keys, exec) = collector(vec![vec![Arc::clone(&first)], vec![Arc::clone(&second)]]);
        let out = run(&exec, 0).await;
        assert_eq!(out, vec![batch(first)]);
        assert!(keys.set().is_none(), "one partition of two has ended");
        assert!(!displayable(&exec).contains("bitmap"));
        let out = run(&exec, 1).await;
        assert_eq!(out, vec![batch(second)]);
        let set = keys.set().expect("both partitions ended");
        // -3, 5 and 9: three keys over 13 values.
        assert_eq!((set.len(), set.span()), (3, 13));
        assert!(
            displayable(&exec).contains("bitmap of 3 keys over 13 values"),
            "{}",
            displayable(&exec)
        );
        // A reset join (a recursive query's next round) computes other keys: the bitmap is left.
        let _ = Arc::clone(&exec).reset_state().unwrap();
        assert!(keys.set().is_none());
    }

    #[tokio::test]
    async fn no_bitmap_for_keys_too_spread_beyond_i64_or_none() {
        let cases: Vec<ArrayRef> = vec![
            // 2^40 values between two keys.
            Arc::new(Int64Array::from(vec![0, 1 << 40])),
            // An unsigned key an i64 cannot hold.
            Arc::new(UInt64Array::from(vec![3, u64::MAX])),
            // No key but NULL.
            Arc::new(Int64Array::from(vec![None, None])),
        ];
        for keys_array in cases {
            let (keys, exec) = collector(vec![vec![keys_array]]);
            run(&exec, 0).await;
            assert!(keys.set().is_none());
            assert!(
                displayable(&exec).contains("no bitmap"),
                "{}",
                displayable(&exec)
            );
        }
        // 8M values (1 MiB) whatever the keys, or 64 a key.
        for (hi, made) in [(MAX_SPAN as i64 - 1, true), (MAX_SPAN as i64, false)] {
            let (keys, exec) = collector(vec![vec![Arc::new(Int64Array::from(vec![0, hi]))]]);
            run(&exec, 0).await;
            assert_eq!(keys.set().is_some(), made, "{hi}");
        }
        let dates: ArrayRef = Arc::new(Date32Array::from(vec![19_000, 19_010]));
        let (keys, exec) = collector(vec![vec![dates]]);
        run(&exec, 0).await;
        assert_eq!(keys.set().map(|s| s.len()), Some(2));
    }

    #[test]
    fn gathered_keys_pass_every_row_until_the_join_has_them_and_no_null() {
        let keys = Arc::new(BuildKeys::new(0));
        let test = GatheredKeys::new(Arc::new(Column::new("k", 0)), Arc::clone(&keys));
        let rows = batch(Arc::new(Int64Array::from(vec![
            Some(1),
            None,
            Some(4),
            Some(9),
        ])));
        let answer = |t: &GatheredKeys| {
            t.evaluate(&rows)
                .unwrap()
                .into_array(4)
                .unwrap()
                .as_boolean()
                .clone()
        };
        assert_eq!(answer(&test), BooleanArray::from(vec![true; 4]));
        keys.add(&(Arc::new(Int64Array::from(vec![4, 1, 7])) as ArrayRef));
        assert_eq!(answer(&test), BooleanArray::from(vec![true; 4]));
        keys.end(0, 1);
        assert_eq!(
            answer(&test),
            BooleanArray::from(vec![true, false, true, false])
        );
        assert_eq!(test.to_string(), "k@0 IN (the join's keys: 3 by bitmap)");
        keys.reset();
        assert_eq!(answer(&test), BooleanArray::from(vec![true; 4]));
    }

    fn displayable(exec: &Arc<dyn ExecutionPlan>) -> String {
        datafusion::physical_plan::displayable(exec.as_ref())
            .one_line()
            .to_string()
    }

    proptest! {
        #[test]
        fn the_bitmap_holds_exactly_the_build_sides_keys(
            build in prop::collection::vec(prop::collection::vec(prop::option::weighted(0.9, -500i64..500), 0..60), 1..4),
            probe in prop::collection::vec(prop::option::weighted(0.9, -600i64..600), 0..200),
            base in prop::sample::select(vec![0i64, -5_000_000_000, i64::MAX - 1200, i64::MIN + 1]),
        ) {
            let shift = |v: &Option<i64>| v.map(|v| base.saturating_add(v));
            let partitions: Vec<Vec<ArrayRef>> = build
                .iter()
                .map(|p| vec![Arc::new(Int64Array::from(p.iter().map(shift).collect::<Vec<_>>())) as ArrayRef])
                .collect();
            let all: std::collections::BTreeSet<i64> = build.iter().flatten().filter_map(shift).collect();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (keys, exec) = collector(partitions);
            for p in 0..build.len() {
                runtime.block_on(run(&exec, p));
            }
            let Some(set) = keys.set() else {
                prop_assert!(all.is_empty());
                return Ok(());
            };
            prop_assert_eq!(set.len(), all.len() as u64);
            let probe: Vec<Option<i64>> = probe.iter().map(shift).collect();
            let bits = KeyBits::new(Arc::new(Column::new("k", 0)), Arc::clone(set));
            let answer = bits
                .evaluate(&batch(Arc::new(Int64Array::from(probe.clone()))))
                .unwrap()
                .into_array(probe.len())
                .unwrap();
            let want: BooleanArray = probe.iter().map(|v| v.map(|v| all.contains(&v))).collect();
            prop_assert_eq!(answer.as_boolean(), &want);
        }
    }
}
