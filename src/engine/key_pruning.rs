//! A join's keys, in a form the Parquet reader can skip row groups and pages with.
//!
//! A hash join's dynamic filter (see `pushdown.rs`) lists its build side's keys when there are at most 150 of
//! them: `k >= lo AND k <= hi AND k IN (...)`, or, when the join is split into hash partitions,
//! `CASE hash(k) % n WHEN 0 THEN <that, for partition 0> WHEN 1 THEN ... ELSE false END`. DataFusion's
//! pruning (row groups by the footer's min/max, pages by the page index) understands neither the CASE nor a
//! list of more than 20 values (`datafusion.execution.parquet.max_in_list_size`, and always 20 for pages), so
//! a scan of a table sorted by the key reads every row group even when the join can use a few of them: TPC-H
//! q18 joins `lineitem` (sorted by `l_orderkey`, 54 row groups) with 57 order keys.
//!
//! owl wraps each dynamic filter of a Parquet scan in a [`KeyHint`]: evaluated row by row it passes the rows the
//! filter passes (see below); its snapshot (what pruning reads, once the join has built its side) adds what the
//! filter implies,
//! `k = v1 OR k = v2 OR ...` over the union of every partition's keys (a balanced tree of at most
//! [`MAX_HINT_KEYS`] comparisons; more keys give their bounds, `k >= min AND k <= max`). A row group or page
//! whose min/max holds none of the keys is skipped; the answer is the same (the join would drop its rows). Not
//! for a key the registry finds unclustered: there every row group and page spans the keys, and pruning by
//! hundreds of them cost TPC-H q17 15% for nothing.
//!
//! Evaluated row by row (a scan that applies its run-time filters row by row, `pushdown.rs`), a filter that lists
//! its keys runs as `k IN (keys)`: one hash-set lookup a row, where the partitioned form hashes every row, picks
//! its partition's branch and tests bounds and a list. Both pass the same rows: a partition lists exactly the
//! keys its hash routes to it. `SET owl.join_key_pruning = false` turns both off.

use datafusion::arrow::datatypes::{FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::physical_plan::{
    FileScanConfig, FileScanConfigBuilder, FileSource, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, Literal,
    TryCastExpr, in_list,
};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_expr_common::physical_expr::{
    snapshot_generation, snapshot_physical_expr,
};
use datafusion::physical_plan::ExecutionPlan;
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// At most this many keys are listed for pruning (each is a min/max comparison per row group and page);
/// more give their bounds.
pub const MAX_HINT_KEYS: usize = 512;

/// A dynamic filter whose snapshot also states, for pruning, which keys can pass, and which tests listed keys
/// row by row as one IN list.
#[derive(Debug)]
pub struct KeyHint {
    filter: Arc<dyn PhysicalExpr>,
    /// Whether the snapshot adds the keys for pruning: not for a key the registry finds unclustered, where every
    /// row group and page spans the keys (pruning by them would cost without skipping).
    prune: bool,
    /// What evaluates the filter row by row, for the filter's snapshot generation: `k IN (keys)` when it lists
    /// its keys (one hash-set lookup a row, where the partitioned form hashes each row, picks its partition's
    /// branch and tests bounds and a list), else the filter itself.
    fast: Mutex<Option<(u64, Arc<dyn PhysicalExpr>)>>,
}

impl Eq for KeyHint {}

impl KeyHint {
    fn new(filter: Arc<dyn PhysicalExpr>, prune: bool) -> Self {
        KeyHint {
            filter,
            prune,
            fast: Mutex::new(None),
        }
    }

    /// Whether pruning gets the keys.
    pub fn prunes(&self) -> bool {
        self.prune
    }

    fn evaluator(&self, schema: &Schema) -> Result<Arc<dyn PhysicalExpr>> {
        let generation = snapshot_generation(&self.filter);
        let mut fast = self.fast.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, e)) = fast.as_ref()
            && *g == generation
        {
            return Ok(Arc::clone(e));
        }
        let snapshot = snapshot_physical_expr(Arc::clone(&self.filter))?;
        let e = match listed_keys(&snapshot) {
            Some((key, values, _)) if !values.is_empty() => {
                let list = values
                    .into_iter()
                    .map(|v| Arc::new(Literal::new(v)) as Arc<dyn PhysicalExpr>)
                    .collect();
                // A list DataFusion would not build (types that do not line up) keeps the filter's own form.
                in_list(key, list, &false, schema).unwrap_or(snapshot)
            }
            _ => snapshot,
        };
        *fast = Some((generation, Arc::clone(&e)));
        Ok(e)
    }
}

impl PartialEq for KeyHint {
    fn eq(&self, other: &Self) -> bool {
        self.filter.eq(&other.filter) && self.prune == other.prune
    }
}

impl Hash for KeyHint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.filter.hash(state);
        self.prune.hash(state);
    }
}

/// The join's dynamic filter under `expr`, itself or wrapped in a [`KeyHint`].
pub fn dynamic_filter(expr: &Arc<dyn PhysicalExpr>) -> Option<&DynamicFilterPhysicalExpr> {
    match expr.downcast_ref::<KeyHint>() {
        Some(hint) => hint.filter.downcast_ref::<DynamicFilterPhysicalExpr>(),
        None => expr.downcast_ref::<DynamicFilterPhysicalExpr>(),
    }
}

/// The Parquet scan `node` with each dynamic filter of its predicate wrapped in a [`KeyHint`]; unchanged when
/// it is not a Parquet scan or has no dynamic filter.
pub fn hint_scan(node: Arc<dyn ExecutionPlan>) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
        return Ok(Transformed::no(node));
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(Transformed::no(node));
    };
    let Some(parquet) = config.file_source().downcast_ref::<ParquetSource>() else {
        return Ok(Transformed::no(node));
    };
    let Some(predicate) = FileSource::filter(parquet) else {
        return Ok(Transformed::no(node));
    };
    // A key whose every row group spans its range (not clustered, in the registry) gains nothing: each key would
    // match every row group and page.
    let skipless = super::page_index::skipless(config).unwrap_or_default();
    let hinted = predicate.transform_down(|e| {
        if e.is::<KeyHint>() {
            return Ok(Transformed::new(e, false, TreeNodeRecursion::Jump));
        }
        if e.is::<DynamicFilterPhysicalExpr>() {
            let prune = collect_columns(&e)
                .iter()
                .any(|c| !skipless.contains(c.name()));
            let hint = Arc::new(KeyHint::new(e, prune)) as Arc<dyn PhysicalExpr>;
            return Ok(Transformed::new(hint, true, TreeNodeRecursion::Jump));
        }
        Ok(Transformed::no(e))
    })?;
    if !hinted.transformed {
        return Ok(Transformed::no(node));
    }
    let source = Arc::new(parquet.with_predicate(hinted.data));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_source(source)
        .build();
    Ok(Transformed::yes(DataSourceExec::from_data_source(config)))
}

/// `snapshot` (a join's filter, as it stands) and what it implies about its key, when that says more to
/// pruning than the filter does.
fn with_key_hint(snapshot: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    match key_hint(&snapshot) {
        Some(hint) => Arc::new(BinaryExpr::new(snapshot, Operator::And, hint)),
        None => snapshot,
    }
}

/// The keys a join's filter lists, over all its hash partitions: (the key expression, the distinct non-null
/// keys in order, whether the filter is split by partitions). The filter passes exactly the rows whose key is
/// among them: each partition lists the keys its hash routes to it. None when a partition that can pass does not
/// list its keys (a hash-table lookup), or lists another expression's.
fn listed_keys(
    snapshot: &Arc<dyn PhysicalExpr>,
) -> Option<(Arc<dyn PhysicalExpr>, Vec<ScalarValue>, bool)> {
    // The rows that pass satisfy one of the branches: a CASE over hash partitions (no ELSE, or ELSE false,
    // passes nothing), or the filter itself.
    let (branches, partitioned): (Vec<&Arc<dyn PhysicalExpr>>, bool) =
        match snapshot.downcast_ref::<CaseExpr>() {
            Some(case) => {
                if case.else_expr().is_some_and(|e| !is_false(e)) {
                    return None;
                }
                (
                    case.when_then_expr().iter().map(|(_, then)| then).collect(),
                    true,
                )
            }
            None => (vec![snapshot], false),
        };
    let mut key: Option<&Arc<dyn PhysicalExpr>> = None;
    let mut values: Vec<ScalarValue> = Vec::new();
    for branch in branches {
        if is_false(branch) {
            continue;
        }
        // Each branch that can pass must list its keys, of the same column.
        let (column, list) = split_conjunction(branch).into_iter().find_map(|c| {
            let list = c.downcast_ref::<InListExpr>()?;
            (!list.negated() && is_column(list.expr())).then_some((list.expr(), list.list()))
        })?;
        if key.is_some_and(|k| k != column) {
            return None;
        }
        key = Some(column);
        for value in list {
            let value = value.downcast_ref::<Literal>()?.value();
            if !value.is_null() {
                values.push(value.clone());
            }
        }
    }
    let key = Arc::clone(key?);
    // Values of one column are of one type and ordered; a mixed list is left to DataFusion.
    let mut ordered = true;
    values.sort_by(|a, b| {
        a.partial_cmp(b).unwrap_or_else(|| {
            ordered = false;
            std::cmp::Ordering::Equal
        })
    });
    if !ordered {
        return None;
    }
    values.dedup();
    Some((key, values, partitioned))
}

/// What a join's filter implies about its key: the key equals one of the listed values (or lies within their
/// bounds, when there are many). `None` when the filter does not list its keys, or when DataFusion's pruning
/// already reads the list (a single list of at most 20 values).
fn key_hint(snapshot: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    let (column, sorted, partitioned) = listed_keys(snapshot)?;
    if !partitioned && sorted.len() <= 20 {
        return None;
    }
    let compare = |op, v: &ScalarValue| {
        Arc::new(BinaryExpr::new(
            Arc::clone(&column),
            op,
            Arc::new(Literal::new(v.clone())),
        )) as Arc<dyn PhysicalExpr>
    };
    match sorted.as_slice() {
        // No branch can pass: nothing to read.
        [] => Some(Arc::new(Literal::new(ScalarValue::Boolean(Some(false))))),
        keys if keys.len() <= MAX_HINT_KEYS => Some(any_of(keys, &compare)),
        [lo, .., hi] => Some(Arc::new(BinaryExpr::new(
            compare(Operator::GtEq, lo),
            Operator::And,
            compare(Operator::LtEq, hi),
        ))),
        [_] => unreachable!("a single key is listed"),
    }
}

/// `key = v1 OR key = v2 OR ...` as a balanced tree (pruning walks it recursively).
fn any_of(
    keys: &[ScalarValue],
    compare: &impl Fn(Operator, &ScalarValue) -> Arc<dyn PhysicalExpr>,
) -> Arc<dyn PhysicalExpr> {
    match keys {
        [one] => compare(Operator::Eq, one),
        _ => {
            let (left, right) = keys.split_at(keys.len() / 2);
            Arc::new(BinaryExpr::new(
                any_of(left, compare),
                Operator::Or,
                any_of(right, compare),
            ))
        }
    }
}

/// A column, or a column cast to the table's type (a file's `int` key read as the table's `bigint`): pruning
/// reads both.
pub fn is_column(e: &Arc<dyn PhysicalExpr>) -> bool {
    if let Some(cast) = e.downcast_ref::<CastExpr>() {
        return cast.expr().is::<Column>();
    }
    if let Some(cast) = e.downcast_ref::<TryCastExpr>() {
        return cast.expr().is::<Column>();
    }
    e.is::<Column>()
}

fn is_false(e: &Arc<dyn PhysicalExpr>) -> bool {
    e.downcast_ref::<Literal>()
        .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(false)))
}

impl fmt::Display for KeyHint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Plans show the filter as DataFusion does.
        fmt::Display::fmt(&self.filter, f)
    }
}

impl PhysicalExpr for KeyHint {
    fn return_field(&self, input_schema: &Schema) -> Result<FieldRef> {
        self.filter.return_field(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        self.evaluator(batch.schema_ref())?.evaluate(batch)
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.filter]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        match <[_; 1]>::try_from(children) {
            Ok([filter]) => Ok(Arc::new(KeyHint::new(filter, self.prune))),
            Err(_) => Err(DataFusionError::Internal(
                "a key hint wraps one filter".into(),
            )),
        }
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.filter.fmt_sql(f)
    }

    fn snapshot(&self) -> Result<Option<Arc<dyn PhysicalExpr>>> {
        // Called with the filter already snapshot when reached through `snapshot_physical_expr`; snapshot it
        // here too for a direct call.
        let snapshot = snapshot_physical_expr(Arc::clone(&self.filter))?;
        Ok(Some(if self.prune {
            with_key_hint(snapshot)
        } else {
            snapshot
        }))
    }
}
