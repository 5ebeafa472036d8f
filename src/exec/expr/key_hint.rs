//! [`KeyHint`]: a join's run-time filter in a Parquet scan, in a form pruning reads. Evaluated row by row it
//! passes the rows the filter passes (its listed keys as a [`KeyBits`] bitmap or a hash set, or the join's
//! gathered keys); its snapshot adds what the filter implies, `k = v1 OR k = v2 ...` over every partition's keys
//! (at most [`MAX_HINT_KEYS`], else their bounds), so that row groups and pages holding none are skipped. Plans
//! show a list's first 20 keys. Where it is planned, and why: `optimizer::physical::join_key_pruning`.

use crate::exec::expr::keys::{BuildKeys, KeyBits};
use datafusion::arrow::datatypes::{FieldRef, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, Literal,
    TryCastExpr, in_list,
};
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use datafusion::physical_expr_common::physical_expr::{
    snapshot_generation, snapshot_physical_expr,
};
use futures::FutureExt;
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
    /// branch and tests bounds and a list), or a bitmap of the join's build-side keys (`exec::collect_keys`), else the
    /// filter itself.
    fast: Mutex<Option<Evaluator>>,
    /// The join's build-side keys, gathered as it builds (`exec::collect_keys`).
    keys: Option<Arc<BuildKeys>>,
}

impl Eq for KeyHint {}

/// What evaluates a [`KeyHint`] row by row, and what it was made from.
#[derive(Debug)]
struct Evaluator {
    /// The filter's snapshot generation.
    generation: u64,
    /// Whether the filter was complete.
    complete: bool,
    /// Whether it tests the join's gathered keys.
    bitmap: bool,
    expr: Arc<dyn PhysicalExpr>,
}

impl KeyHint {
    pub(crate) fn new(
        filter: Arc<dyn PhysicalExpr>,
        prune: bool,
        keys: Option<Arc<BuildKeys>>,
    ) -> Self {
        KeyHint {
            filter,
            prune,
            fast: Mutex::new(None),
            keys,
        }
    }

    /// The join's build-side keys as a bitmap over the filter's key column, once the join has completed its
    /// filter (which says its rows may be filtered: DataFusion computes one only where dropping the rows that
    /// match no key keeps the answer).
    fn collected(&self) -> Option<KeyBits> {
        let keys = self.keys.as_ref()?;
        let set = keys.set()?;
        let dynamic = self.filter.downcast_ref::<DynamicFilterPhysicalExpr>()?;
        dynamic.wait_complete().now_or_never()?;
        let key = dynamic.children().get(keys.index()).copied()?;
        Some(KeyBits::new(Arc::clone(key), Arc::clone(set)))
    }

    /// The distinct keys of the join's build side, when gathered as a bitmap (and the filter is complete).
    pub fn collected_keys(&self) -> Option<u64> {
        self.collected().map(|bits| bits.set.len())
    }

    /// Whether pruning gets the keys.
    pub fn prunes(&self) -> bool {
        self.prune
    }

    fn evaluator(&self, schema: &Schema) -> Result<Arc<dyn PhysicalExpr>> {
        let generation = snapshot_generation(&self.filter);
        let complete = |f: &Arc<dyn PhysicalExpr>| {
            f.downcast_ref::<DynamicFilterPhysicalExpr>()
                .is_none_or(|d| d.wait_complete().now_or_never().is_some())
        };
        let mut fast = self.fast.lock().unwrap_or_else(|p| p.into_inner());
        // Made for this generation, and since then neither completed (completing keeps the generation) nor,
        // for a bitmap, reset.
        if let Some(made) = fast.as_ref()
            && made.generation == generation
            && (made.complete || !complete(&self.filter))
            && (!made.bitmap || self.keys.as_ref().is_some_and(|k| k.set().is_some()))
        {
            return Ok(Arc::clone(&made.expr));
        }
        let is_complete = complete(&self.filter);
        let snapshot = snapshot_physical_expr(Arc::clone(&self.filter))?;
        let (e, bitmap): (Arc<dyn PhysicalExpr>, bool) = match listed_keys(&snapshot) {
            Some((key, values, _)) if !values.is_empty() => {
                match KeyBits::try_new(&key, &values, schema) {
                    Some(bits) => (Arc::new(bits), false),
                    None => {
                        let list = values
                            .into_iter()
                            .map(|v| Arc::new(Literal::new(v)) as Arc<dyn PhysicalExpr>)
                            .collect();
                        // A list DataFusion would not build (types that do not line up) keeps the filter's
                        // own form.
                        (
                            in_list(key, list, &false, schema).unwrap_or(snapshot),
                            false,
                        )
                    }
                }
            }
            _ => match self.collected() {
                Some(bits) => (Arc::new(bits), true),
                None => (snapshot, false),
            },
        };
        *fast = Some(Evaluator {
            generation,
            complete: is_complete,
            bitmap,
            expr: Arc::clone(&e),
        });
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

/// Whether a join's filter (`expr`: itself or wrapped in a [`KeyHint`]), as it stands, lists its keys or has
/// them gathered as a bitmap: tested a row by a bitmap or a hash set, not by a lookup into the join's hash
/// table.
pub fn lists_keys(expr: &Arc<dyn PhysicalExpr>) -> bool {
    if expr
        .downcast_ref::<KeyHint>()
        .is_some_and(|hint| hint.collected().is_some())
    {
        return true;
    }
    dynamic_filter(expr)
        .and_then(|filter| filter.current().ok())
        .and_then(|current| listed_keys(&current))
        .is_some_and(|(_, keys, _)| !keys.is_empty())
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
        // Plans show the filter as DataFusion does, a list of keys cut to its first ones (a join lists up to
        // thousands).
        f.write_str(&shorten_lists(&self.filter.to_string()))?;
        // The gathered keys test the rows where the filter does not list its own.
        let listed = dynamic_filter(&self.filter)
            .and_then(|d| d.current().ok())
            .is_some_and(|current| listed_keys(&current).is_some());
        match self.collected_keys().filter(|_| !listed) {
            Some(n) => write!(f, " (tested by a bitmap of the join's {n} keys)"),
            None => Ok(()),
        }
    }
}

/// Keys an IN list shows in a plan; the rest are counted.
const SHOWN_KEYS: usize = 20;

/// `text` (a filter as DataFusion shows it) with each `IN (SET) ([k1, k2, ...])` of more than [`SHOWN_KEYS`]
/// keys cut to its first ones and a count of the others.
fn shorten_lists(text: &str) -> String {
    const OPEN: &str = "IN (SET) ([";
    let mut out = String::with_capacity(text.len().min(4096));
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let body = at + OPEN.len();
        out.push_str(&rest[..body]);
        let Some(len) = rest[body..].find("])") else {
            rest = &rest[body..];
            continue;
        };
        let keys: Vec<&str> = rest[body..body + len].split(", ").collect();
        if keys.len() > SHOWN_KEYS {
            out.push_str(&keys[..SHOWN_KEYS].join(", "));
            out.push_str(&format!(", ... {} more", keys.len() - SHOWN_KEYS));
        } else {
            out.push_str(&rest[body..body + len]);
        }
        rest = &rest[body + len..];
    }
    out.push_str(rest);
    out
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
        let filter = super::one_child(children, "a key hint")?;
        Ok(Arc::new(KeyHint::new(
            filter,
            self.prune,
            self.keys.clone(),
        )))
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

/// `p` of `CASE WHEN p THEN true ELSE false END`, the form in which a Parquet scan's condition on a float column
/// is kept out of pruning's sight (`optimizer::physical::nan_pruning`); row by row it is `p`. None for any
/// other expression.
pub fn nan_safe_inner(expr: &Arc<dyn PhysicalExpr>) -> Option<&Arc<dyn PhysicalExpr>> {
    let case = expr.downcast_ref::<CaseExpr>()?;
    let is = |e: &Arc<dyn PhysicalExpr>, v: bool| {
        e.downcast_ref::<Literal>()
            .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(v)))
    };
    match (case.expr(), case.when_then_expr(), case.else_expr()) {
        (None, [(when, then)], Some(no)) if is(then, true) && is(no, false) => Some(when),
        _ => None,
    }
}

/// The join's dynamic filter under `expr`, itself or wrapped in a [`KeyHint`], either of them as it is or kept
/// out of pruning's sight ([`nan_safe_inner`]: a filter on a float column).
pub fn dynamic_filter(expr: &Arc<dyn PhysicalExpr>) -> Option<&DynamicFilterPhysicalExpr> {
    let expr = nan_safe_inner(expr).unwrap_or(expr);
    match expr.downcast_ref::<KeyHint>() {
        Some(hint) => hint.filter.downcast_ref::<DynamicFilterPhysicalExpr>(),
        None => expr.downcast_ref::<DynamicFilterPhysicalExpr>(),
    }
}

/// `snapshot` (a join's filter, as it stands) and what it implies about its key, when that says more to
/// pruning than the filter does.
pub(crate) fn with_key_hint(snapshot: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    match key_hint(&snapshot) {
        Some(hint) => Arc::new(BinaryExpr::new(snapshot, Operator::And, hint)),
        None => snapshot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Date32Array, Int32Array, Int64Array, UInt64Array};
    use datafusion::arrow::array::{AsArray, BooleanArray};
    use datafusion::arrow::datatypes::Field;
    use proptest::prelude::*;

    fn batch(array: ArrayRef) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("k", array.data_type().clone(), true)]);
        RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap()
    }

    /// (bitmap's answer, DataFusion's IN list's answer), or None when no bitmap is made.
    fn both(array: ArrayRef, keys: Vec<ScalarValue>) -> Option<(BooleanArray, BooleanArray)> {
        let batch = batch(array);
        let key: Arc<dyn PhysicalExpr> = Arc::new(Column::new("k", 0));
        let bits = KeyBits::try_new(&key, &keys, batch.schema_ref())?;
        let list = keys
            .into_iter()
            .map(|v| Arc::new(Literal::new(v)) as Arc<dyn PhysicalExpr>)
            .collect();
        let list = in_list(key, list, &false, batch.schema_ref()).unwrap();
        let answer = |e: &dyn PhysicalExpr| {
            e.evaluate(&batch)
                .unwrap()
                .into_array(batch.num_rows())
                .unwrap()
                .as_boolean()
                .clone()
        };
        Some((answer(&bits), answer(list.as_ref())))
    }

    proptest! {
        #[test]
        fn answers_as_datafusions_in_list(
            rows in prop::collection::vec(prop::option::weighted(0.9, -300i64..300), 0..200),
            keys in prop::collection::btree_set(-250i64..250, 1..40),
            base in prop::sample::select(vec![0i64, -5_000_000_000, i64::MAX - 600, i64::MIN + 1]),
        ) {
            let rows: Vec<Option<i64>> = rows.iter().map(|r| r.map(|v| base.saturating_add(v))).collect();
            let keys: Vec<i64> = keys.iter().map(|k| base.saturating_add(*k)).collect();
            let (bits, list) = both(
                Arc::new(Int64Array::from(rows)),
                keys.iter().map(|k| ScalarValue::Int64(Some(*k))).collect(),
            ).expect("a small span");
            prop_assert_eq!(bits, list);
        }

        #[test]
        fn int32_and_dates_answer_as_the_list(
            rows in prop::collection::vec(prop::option::of(-100i32..100), 0..100),
            keys in prop::collection::btree_set(-100i32..100, 1..20),
        ) {
            let (bits, list) = both(
                Arc::new(Int32Array::from(rows.clone())),
                keys.iter().map(|k| ScalarValue::Int32(Some(*k))).collect(),
            ).unwrap();
            prop_assert_eq!(bits, list);
            let (bits, list) = both(
                Arc::new(Date32Array::from(rows)),
                keys.iter().map(|k| ScalarValue::Date32(Some(*k))).collect(),
            ).unwrap();
            prop_assert_eq!(bits, list);
        }
    }

    #[test]
    fn gathered_keys_test_a_row_with_one_bit_once_the_join_completes_its_filter() {
        let batch = batch(Arc::new(Int64Array::from(vec![
            Some(1),
            Some(5),
            None,
            Some(70),
        ])));
        let k: Arc<dyn PhysicalExpr> = Arc::new(Column::new("k", 0));
        let dynamic = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![Arc::clone(&k)],
            datafusion::physical_expr::expressions::lit(true),
        ));
        let keys = Arc::new(BuildKeys::gathered(
            0,
            Arc::new(Int64Array::from(vec![5, 70, 3, 5])),
        ));
        let hint: Arc<dyn PhysicalExpr> = Arc::new(KeyHint::new(
            Arc::clone(&dynamic) as _,
            false,
            Some(Arc::clone(&keys)),
        ));
        let answer = |h: &Arc<dyn PhysicalExpr>| {
            h.evaluate(&batch)
                .unwrap()
                .into_array(4)
                .unwrap()
                .as_boolean()
                .clone()
        };
        // Not complete: the filter as it stands, even with the keys gathered.
        assert_eq!(answer(&hint), BooleanArray::from(vec![true; 4]));
        assert!(!lists_keys(&hint));
        // Updated (bounds, as a filter that looks keys up in the join's hash table has), not yet complete.
        let bound = Arc::new(BinaryExpr::new(
            Arc::clone(&k),
            Operator::GtEq,
            Arc::new(Literal::new(ScalarValue::Int64(Some(0)))),
        ));
        dynamic.update(bound).unwrap();
        let by_bound = BooleanArray::from(vec![Some(true), Some(true), None, Some(true)]);
        assert_eq!(answer(&hint), by_bound);
        // Complete (which keeps the generation): the join's keys, one bit a row.
        dynamic.mark_complete();
        assert_eq!(
            answer(&hint),
            BooleanArray::from(vec![Some(false), Some(true), None, Some(true)])
        );
        assert!(lists_keys(&hint));
        assert!(
            hint.to_string()
                .ends_with("(tested by a bitmap of the join's 3 keys)"),
            "{hint}"
        );
        // Rebuilt over other columns (a filter above the scan), it keeps the keys.
        let moved = Arc::clone(&hint)
            .with_new_children(vec![Arc::clone(&dynamic) as _])
            .unwrap();
        assert_eq!(answer(&moved), answer(&hint));
        // The join's state reset (a recursive query's next round): the filter's own form again.
        keys.reset();
        assert_eq!(answer(&hint), by_bound);
        assert!(!hint.to_string().contains("bitmap"));
    }

    #[test]
    fn plans_show_a_long_list_of_keys_cut_to_its_first_twenty() {
        let keys: Vec<String> = (0..25).map(|k| k.to_string()).collect();
        let text = format!(
            "DynamicFilter [ CASE h % 2 WHEN 0 THEN k@0 IN (SET) ([{}]) WHEN 1 THEN k@0 IN (SET) ([1, 2]) END ]",
            keys.join(", ")
        );
        assert_eq!(
            shorten_lists(&text),
            format!(
                "DynamicFilter [ CASE h % 2 WHEN 0 THEN k@0 IN (SET) ([{}, ... 5 more]) WHEN 1 THEN k@0 IN (SET) \
                 ([1, 2]) END ]",
                keys[..20].join(", ")
            )
        );
        assert_eq!(
            shorten_lists("k@0 >= 1 AND hash_lookup"),
            "k@0 >= 1 AND hash_lookup"
        );
        assert_eq!(shorten_lists("k IN (SET) ([1, 2"), "k IN (SET) ([1, 2");
    }

    #[test]
    fn wide_or_mistyped_keys_keep_the_list() {
        let rows: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(1 << 40)]));
        // Two keys 2^40 apart: a bitmap would be 128 GiB.
        let keys = vec![
            ScalarValue::Int64(Some(1)),
            ScalarValue::Int64(Some(1 << 40)),
        ];
        assert!(both(Arc::clone(&rows), keys).is_none());
        // Keys of another type than the column's.
        assert!(both(rows, vec![ScalarValue::Int32(Some(1))]).is_none());
        // Unsigned keys beyond i64.
        let rows: ArrayRef = Arc::new(UInt64Array::from(vec![Some(u64::MAX), Some(3)]));
        assert!(both(Arc::clone(&rows), vec![ScalarValue::UInt64(Some(u64::MAX))]).is_none());
        let (bits, list) = both(rows, vec![ScalarValue::UInt64(Some(3))]).unwrap();
        assert_eq!(bits, list);
        assert_eq!(bits, BooleanArray::from(vec![false, true]));
    }

    #[test]
    fn a_span_of_up_to_a_million_values_or_64_a_key_makes_a_bitmap() {
        let rows: ArrayRef = Arc::new(Int64Array::from(vec![Some(0)]));
        let keys = |hi: i64| vec![ScalarValue::Int64(Some(0)), ScalarValue::Int64(Some(hi))];
        assert!(both(Arc::clone(&rows), keys((1 << 20) - 1)).is_some());
        assert!(both(Arc::clone(&rows), keys(1 << 20)).is_none());
        let many: Vec<ScalarValue> = (0..20_000i64)
            .map(|k| ScalarValue::Int64(Some(k * 64)))
            .collect();
        let (bits, list) = both(rows, many).unwrap();
        assert_eq!(bits, list);
    }
}
