//! A filter's ANDed conditions, evaluated in turn: each after the first on the rows the ones before it kept, once
//! those are few, the answers combined as bitmaps.
//!
//! DataFusion evaluates `a AND b AND c` as `(a AND b) AND c`. When the left side keeps at most a fifth of a
//! batch, it evaluates the right side on those rows only, then copies the answers back into a full-length array
//! one run of kept rows at a time, slicing the right side's answers (an allocation) for each run and appending
//! them value by value. Rows kept one here, one there (TPC-H q6's `l_shipdate` range keeps ~15% of `lineitem`,
//! spread through every batch) make that a slice a row: `pre_selection_scatter` and `BooleanArray::slice` took
//! 20% of q6's CPU and 16% of q12's. And a left side with a NULL anywhere turns the narrowing off for the batch.
//!
//! [`Conjunction`] stands for a `FilterExec`'s predicate when it is an AND of conditions. It keeps one bitmap of
//! the rows that passed so far. The first condition runs on the whole batch; each next one too, its answer ANDed
//! into the bitmap word by word, while more than a fifth of the rows remain; below that, on just the remaining
//! rows (the batch narrowed to the columns the condition reads, then filtered), its answers put back by walking
//! the bitmap's set bits. A NULL answer counts as false, which is what a filter does with it, so the predicate
//! answers "does the row pass", never NULL. An empty bitmap ends the evaluation.
//!
//! A condition that fails on the whole batch (`x <> 0 AND 10 / x > 1`, where `10 / 0` is an error) is tried
//! again on the remaining rows before the error stands: it fails only if a row that passed every condition
//! before it makes it fail (DataFusion fails such a batch whenever more than a fifth of its rows pass `x <> 0`).
//!
//! The rows a filter keeps are DataFusion's; plans show the predicate as DataFusion does, marked `(in turn)`.
//! `SET owl.filter_conjunctions = false` keeps DataFusion's AND.

use super::truth;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::buffer::{BooleanBuffer, Buffer};
use datafusion::arrow::compute::FilterBuilder;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, internal_err};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::utils::{collect_columns, conjunction};
use datafusion::physical_expr::{PhysicalExpr, split_conjunction};
use futures::FutureExt;

use crate::exec::expr::key_hint;

/// A condition runs on just the remaining rows once they are at most this share of the batch (DataFusion's
/// `PRE_SELECTION_THRESHOLD`): above it, evaluating every row (vectorised) costs less than narrowing the batch.
const NARROW_SHARE: f64 = 0.2;

/// `predicate` as a [`Conjunction`] when it is an AND of at least two conditions.
pub(crate) fn rewrite(predicate: &Arc<dyn PhysicalExpr>) -> Option<Arc<dyn PhysicalExpr>> {
    if predicate.is::<Conjunction>() {
        return None;
    }
    let parts: Vec<Arc<dyn PhysicalExpr>> =
        split_conjunction(predicate).into_iter().cloned().collect();
    if parts.len() < 2 {
        return None;
    }
    Conjunction::new(parts)
        .ok()
        .map(|c| Arc::new(c) as Arc<dyn PhysicalExpr>)
}

/// `predicate` (a filter's, maybe already a [`Conjunction`]) with run-time `filters` ANDed after its own
/// conditions: each is evaluated once its producer has completed it, on the rows the filter's own conditions
/// kept, and left out once it has passed most of the rows it was tried on. A filter is evaluated only when it
/// lists its keys (a bitmap or hash-set test a row), unless its flag says it pays in any form (a lookup into
/// the join's hash table costs about what the join's own probe does: it pays only where it spares more than
/// the probe, such as an aggregation between the scan and the join).
pub(crate) fn with_run_time_filters(
    predicate: &Arc<dyn PhysicalExpr>,
    filters: Vec<(Arc<dyn PhysicalExpr>, bool)>,
) -> Result<Arc<dyn PhysicalExpr>> {
    let (mut parts, mut optional): (Vec<Arc<dyn PhysicalExpr>>, Vec<bool>) =
        match predicate.downcast_ref::<Conjunction>() {
            Some(c) => (
                c.parts.iter().map(|p| Arc::clone(&p.expr)).collect(),
                c.optional(),
            ),
            None => (
                split_conjunction(predicate).into_iter().cloned().collect(),
                Vec::new(),
            ),
        };
    for (filter, any_form) in filters {
        parts.push(filter);
        optional.push(any_form);
    }
    Ok(Arc::new(Conjunction::with_optional(parts, optional)?))
}

/// One condition: as written (over the whole batch), and over the batch narrowed to the columns it reads.
#[derive(Debug)]
struct Part {
    expr: Arc<dyn PhysicalExpr>,
    /// The batch's columns the condition reads, in order.
    columns: Vec<usize>,
    /// The condition over a batch of just `columns`.
    narrow: Arc<dyn PhysicalExpr>,
    /// For a run-time filter (which only drops rows a join or a top-k would drop anyway): whether it still pays.
    optional: Option<Optional>,
}

/// A run-time filter's record: whether it still pays.
#[derive(Debug, Default)]
struct Optional {
    /// Evaluated in any form, a hash-table lookup included; else only when it lists its keys.
    any_form: bool,
    /// Whether the completed filter lists its keys (decided once: a complete filter no longer changes).
    listed: OnceLock<bool>,
    trial: Trial,
}

/// A run-time filter is left out once it has been tested on this many rows and passed more than
/// [`KEEP_SHARE`] of them.
pub(crate) const TRIAL_ROWS: u64 = 1 << 16;
const KEEP_SHARE: f64 = 0.75;

/// Rows a run-time filter (which only drops rows a join or a top-k would drop anyway) was tested on and rows
/// that passed, until it turns out not to narrow: then it is left out.
#[derive(Debug, Default)]
pub(crate) struct Trial {
    tested: AtomicU64,
    passed: AtomicU64,
    off: AtomicBool,
}

impl Trial {
    pub(crate) fn record(&self, tested: usize, passed: usize) {
        let t = self.tested.fetch_add(tested as u64, Ordering::Relaxed) + tested as u64;
        let p = self.passed.fetch_add(passed as u64, Ordering::Relaxed) + passed as u64;
        if t >= TRIAL_ROWS && p as f64 > KEEP_SHARE * t as f64 {
            self.off.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the filter was left out.
    pub(crate) fn is_off(&self) -> bool {
        self.off.load(Ordering::Relaxed)
    }

    /// (rows tested, rows passed) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.tested.load(Ordering::Relaxed),
            self.passed.load(Ordering::Relaxed),
        )
    }
}

impl Part {
    /// Whether to evaluate it on this batch: a run-time filter only once its producer has completed it (until
    /// then it passes every row), and while it narrows.
    fn runs(&self) -> bool {
        match &self.optional {
            None => true,
            Some(o) => {
                if o.trial.is_off() {
                    return false;
                }
                let Some(dynamic) = crate::exec::expr::key_hint::dynamic_filter(&self.expr) else {
                    return true;
                };
                dynamic.wait_complete().now_or_never().is_some()
                    && (o.any_form || *o.listed.get_or_init(|| key_hint::lists_keys(&self.expr)))
            }
        }
    }

    fn new(expr: Arc<dyn PhysicalExpr>) -> Result<Self> {
        let mut columns: Vec<usize> = collect_columns(&expr).iter().map(Column::index).collect();
        columns.sort_unstable();
        columns.dedup();
        let narrow = Arc::clone(&expr)
            .transform(|e| {
                let Some(c) = e.downcast_ref::<Column>() else {
                    return Ok(Transformed::no(e));
                };
                let Ok(at) = columns.binary_search(&c.index()) else {
                    return internal_err!("column {c} missing from its condition's columns");
                };
                Ok(Transformed::yes(Arc::new(Column::new(c.name(), at)) as _))
            })
            .data()?;
        Ok(Part {
            expr,
            columns,
            narrow,
            optional: None,
        })
    }
}

/// `c1 AND c2 AND ...` as a filter's predicate: true where every condition is true; false elsewhere (a NULL
/// counts as false). See the module's documentation.
#[derive(Debug)]
pub(crate) struct Conjunction {
    parts: Vec<Part>,
    /// The conditions as DataFusion's AND: what plans show, and what equality and hashing compare.
    predicate: Arc<dyn PhysicalExpr>,
}

/// Its name when it travels to a cluster (`super::travelling`).
pub(crate) const KIND: &str = "conjunction";

/// What a [`Conjunction`] is besides its conditions: which of the last ones are run-time filters, and whether
/// each is evaluated in any form.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Settings {
    optional: Vec<bool>,
}

impl Conjunction {
    pub(crate) fn settings(&self) -> serde_json::Value {
        serde_json::json!(Settings {
            optional: self.optional(),
        })
    }

    pub(crate) fn arrived(
        settings: Settings,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        if settings.optional.len() > children.len() {
            return internal_err!(
                "a conjunction from the cluster with more filters than conditions"
            );
        }
        Ok(Arc::new(Conjunction::with_optional(
            children,
            settings.optional,
        )?))
    }

    fn new(parts: Vec<Arc<dyn PhysicalExpr>>) -> Result<Self> {
        Self::with_optional(parts, Vec::new())
    }

    /// The conditions, the last `optional.len()` of them run-time filters (each flag: evaluated in any form).
    fn with_optional(parts: Vec<Arc<dyn PhysicalExpr>>, optional: Vec<bool>) -> Result<Self> {
        let predicate = conjunction(parts.iter().cloned());
        let first_optional = parts.len() - optional.len().min(parts.len());
        let parts = parts
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let mut part = Part::new(e)?;
                if i >= first_optional {
                    part.optional = Some(Optional {
                        any_form: optional[i - first_optional],
                        ..Optional::default()
                    });
                }
                Ok(part)
            })
            .collect::<Result<_>>()?;
        Ok(Conjunction { parts, predicate })
    }

    /// The run-time filters' flags (see [`Self::with_optional`]).
    fn optional(&self) -> Vec<bool> {
        self.parts
            .iter()
            .filter_map(|p| p.optional.as_ref().map(|o| o.any_form))
            .collect()
    }

    /// The rows of `batch` that pass every condition.
    fn passing(&self, batch: &RecordBatch) -> Result<BooleanBuffer> {
        let rows = batch.num_rows();
        // The rows that passed so far, and how many.
        let mut kept: Option<(BooleanBuffer, usize)> = None;
        for part in &self.parts {
            if !part.runs() {
                continue;
            }
            let tested = kept.as_ref().map_or(rows, |(_, n)| *n);
            let next = match &kept {
                None => whole(part, batch)?,
                Some((bits, n)) if *n as f64 <= NARROW_SHARE * rows as f64 => {
                    on_kept(part, batch, bits, *n)?
                }
                Some((bits, n)) => match whole(part, batch) {
                    Ok(passed) => bits & &passed,
                    // Maybe only rows that an earlier condition dropped fail it.
                    Err(e) => on_kept(part, batch, bits, *n).map_err(|_| e)?,
                },
            };
            let n = next.count_set_bits();
            if let Some(o) = &part.optional {
                o.trial.record(tested, n);
            }
            if n == 0 {
                return Ok(next);
            }
            kept = Some((next, n));
        }
        Ok(match kept {
            Some((bits, _)) => bits,
            None => BooleanBuffer::new_set(rows),
        })
    }
}

/// The rows where `part` is true, evaluated over the whole batch.
fn whole(part: &Part, batch: &RecordBatch) -> Result<BooleanBuffer> {
    let value = part.expr.evaluate(batch)?;
    truth(value, batch.num_rows())
}

/// `kept` (of `n` set bits) less the rows where `part`, evaluated over those rows only, is not true.
fn on_kept(
    part: &Part,
    batch: &RecordBatch,
    kept: &BooleanBuffer,
    n: usize,
) -> Result<BooleanBuffer> {
    let mut filter = FilterBuilder::new(&BooleanArray::new(kept.clone(), None));
    // Planning the copy (runs or indices) pays for several arrays, not for one (as arrow's
    // `filter_record_batch` decides).
    let schema = batch.schema_ref();
    if part.columns.len() > 1
        || part
            .columns
            .first()
            .is_some_and(|&c| FilterBuilder::is_optimize_beneficial(schema.field(c).data_type()))
    {
        filter = filter.optimize();
    }
    let filter = filter.build();
    let narrowed = filter.filter_record_batch(&batch.project(&part.columns)?)?;
    let passed = truth(part.narrow.evaluate(&narrowed)?, n)?;
    Ok(scatter(kept, &passed))
}

/// `kept` with its i-th set bit cleared where `passed[i]` is false (`passed` has one bit per set bit of `kept`).
fn scatter(kept: &BooleanBuffer, passed: &BooleanBuffer) -> BooleanBuffer {
    if passed.count_set_bits() == passed.len() {
        return kept.clone();
    }
    let mut next = 0;
    let words: Vec<u64> = kept
        .bit_chunks()
        .iter_padded()
        .map(|word| {
            let mut out = 0u64;
            let mut rest = word;
            while rest != 0 {
                let bit = rest.trailing_zeros();
                if passed.value(next) {
                    out |= 1 << bit;
                }
                next += 1;
                rest &= rest - 1;
            }
            out
        })
        .collect();
    BooleanBuffer::new(Buffer::from_vec(words), 0, kept.len())
}

impl PartialEq for Conjunction {
    fn eq(&self, other: &Self) -> bool {
        self.predicate.eq(&other.predicate)
    }
}

impl Eq for Conjunction {}

impl Hash for Conjunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.predicate.hash(state);
    }
}

/// As DataFusion shows the AND, marked `(in turn)` in plans.
impl fmt::Display for Conjunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (in turn)", self.predicate)
    }
}

impl PhysicalExpr for Conjunction {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _input_schema: &Schema) -> Result<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let passing = self.passing(batch)?;
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(
            passing, None,
        ))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.parts.iter().map(|p| &p.expr).collect()
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        if children.len() != self.parts.len() {
            return internal_err!(
                "a conjunction of {} conditions given {}",
                self.parts.len(),
                children.len()
            );
        }
        Ok(Arc::new(Conjunction::with_optional(
            children,
            self.optional(),
        )?))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.predicate.fmt_sql(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{BinaryExpr, IsNullExpr, Literal, NotExpr};
    use proptest::prelude::*;

    fn batch(a: &[Option<i32>], b: &[Option<i32>], s: &[Option<&str>]) -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int32, true),
            Field::new("b", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(a.to_vec())),
            Arc::new(Int32Array::from(b.to_vec())),
            Arc::new(StringArray::from(s.to_vec())),
        ];
        RecordBatch::try_new(Arc::new(schema), columns).unwrap()
    }

    fn col(name: &str, i: usize) -> Arc<dyn PhysicalExpr> {
        Arc::new(Column::new(name, i))
    }

    fn int(v: i32) -> Arc<dyn PhysicalExpr> {
        Arc::new(Literal::new(ScalarValue::Int32(Some(v))))
    }

    fn bin(
        l: Arc<dyn PhysicalExpr>,
        op: Operator,
        r: Arc<dyn PhysicalExpr>,
    ) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, op, r))
    }

    /// The rows DataFusion's AND passes (true; NULL and false are dropped by a filter).
    fn reference(predicate: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<Vec<bool>> {
        let out = predicate.evaluate(batch)?.into_array(batch.num_rows())?;
        let out = out.as_boolean();
        Ok((0..out.len())
            .map(|i| out.is_valid(i) && out.value(i))
            .collect())
    }

    fn ours(predicate: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<Vec<bool>> {
        let c = rewrite(predicate).expect("an AND");
        let out = c.evaluate(batch)?.into_array(batch.num_rows())?;
        assert_eq!(out.null_count(), 0);
        let out = out.as_boolean();
        Ok((0..out.len()).map(|i| out.value(i)).collect())
    }

    /// A condition on one of the columns, picked by `kind`, against `v`.
    fn condition(kind: u8, v: i32) -> Arc<dyn PhysicalExpr> {
        match kind % 8 {
            0 => bin(col("a", 0), Operator::Lt, int(v)),
            1 => bin(col("b", 1), Operator::GtEq, int(v)),
            2 => bin(col("a", 0), Operator::NotEq, col("b", 1)),
            3 => Arc::new(IsNullExpr::new(col("b", 1))),
            4 => bin(
                col("s", 2),
                Operator::Eq,
                Arc::new(Literal::new(ScalarValue::Utf8(Some(format!(
                    "s{}",
                    v.rem_euclid(4)
                ))))),
            ),
            5 => Arc::new(NotExpr::new(bin(col("b", 1), Operator::Eq, int(v)))),
            // Reads no column.
            6 => bin(int(v), Operator::Gt, int(0)),
            _ => bin(
                bin(col("a", 0), Operator::Plus, col("b", 1)),
                Operator::Gt,
                int(v),
            ),
        }
    }

    proptest! {
        #[test]
        fn passes_the_rows_datafusions_and_passes(
            rows in prop::collection::vec(
                (prop::option::weighted(0.9, -8i32..8), prop::option::weighted(0.8, -8i32..8), prop::option::weighted(0.9, 0u8..5)),
                0..300,
            ),
            conditions in prop::collection::vec((0u8..8, -9i32..9), 2..6),
        ) {
            let a: Vec<_> = rows.iter().map(|r| r.0).collect();
            let b: Vec<_> = rows.iter().map(|r| r.1).collect();
            let names: Vec<Option<String>> = rows.iter().map(|r| r.2.map(|x| format!("s{x}"))).collect();
            let s: Vec<Option<&str>> = names.iter().map(|x| x.as_deref()).collect();
            let batch = batch(&a, &b, &s);
            let predicate = conjunction(conditions.iter().map(|&(k, v)| condition(k, v)));
            prop_assert_eq!(ours(&predicate, &batch).unwrap(), reference(&predicate, &batch).unwrap());
        }
    }

    #[test]
    fn narrows_to_the_few_remaining_rows_and_puts_answers_back_in_place() {
        // `a < 1` keeps rows 0, 64, 128, ... (a fifth or less), so `b >= v` runs on them alone; `s = 's1'`
        // then too. Rows straddle 64-bit words.
        let n = 1000;
        let a: Vec<_> = (0..n)
            .map(|i| Some(if i % 7 == 0 { 0 } else { 5 }))
            .collect();
        let b: Vec<_> = (0..n)
            .map(|i| if i % 3 == 0 { None } else { Some(i % 11) })
            .collect();
        let names: Vec<String> = (0..n).map(|i| format!("s{}", i % 2)).collect();
        let s: Vec<Option<&str>> = names.iter().map(|x| Some(x.as_str())).collect();
        let batch = batch(&a, &b, &s);
        let predicate = conjunction([condition(0, 1), condition(1, 4), condition(4, 1)]);
        let got = ours(&predicate, &batch).unwrap();
        assert_eq!(got, reference(&predicate, &batch).unwrap());
        let want: Vec<bool> = (0..n as usize)
            .map(|i| i % 7 == 0 && i % 3 != 0 && i % 11 >= 4 && i % 2 == 1)
            .collect();
        assert_eq!(got, want);
        assert!(got.iter().any(|&x| x));
    }

    #[test]
    fn a_condition_that_fails_only_on_dropped_rows_does_not_fail_the_filter() {
        // Half the rows have a = 0: DataFusion evaluates `10 / a` on every row and fails.
        let a: Vec<_> = (0..100).map(|i| Some(i % 2)).collect();
        let b: Vec<_> = (0..100).map(Some).collect();
        let s = vec![Some("x"); 100];
        let batch = batch(&a, &b, &s);
        let predicate = conjunction([
            bin(col("a", 0), Operator::NotEq, int(0)),
            bin(
                bin(int(10), Operator::Divide, col("a", 0)),
                Operator::Gt,
                int(1),
            ),
        ]);
        assert!(reference(&predicate, &batch).is_err());
        let got = ours(&predicate, &batch).unwrap();
        let want: Vec<bool> = (0..100).map(|i| i % 2 == 1).collect();
        assert_eq!(got, want);
        // A row that passed `a <> -1` and divides by zero: the error stands.
        let predicate = conjunction([
            bin(col("a", 0), Operator::NotEq, int(-1)),
            bin(
                bin(int(10), Operator::Divide, col("a", 0)),
                Operator::Gt,
                int(1),
            ),
        ]);
        let err = ours(&predicate, &batch).unwrap_err().to_string();
        assert!(err.contains("Divide by zero"), "{err}");
    }

    #[test]
    fn an_empty_batch_and_an_all_false_start_pass_nothing() {
        let empty = batch(&[], &[], &[]);
        let predicate = conjunction([condition(0, 1), condition(1, 1)]);
        assert_eq!(ours(&predicate, &empty).unwrap(), Vec::<bool>::new());
        let batch = batch(&[Some(1), None], &[Some(1), Some(2)], &[None, None]);
        let predicate = conjunction([condition(6, -1), condition(1, 1)]);
        assert_eq!(ours(&predicate, &batch).unwrap(), vec![false, false]);
    }

    #[test]
    fn a_run_time_filter_applies_once_complete_and_is_left_out_when_it_does_not_narrow() {
        use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
        let n = 1000;
        let a: Vec<_> = (0..n).map(Some).collect();
        let b: Vec<_> = (0..n).map(|i| Some(i % 10)).collect();
        let s = vec![Some("x"); n as usize];
        let batch = batch(&a, &b, &s);
        let dynamic = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![col("a", 0)],
            Arc::new(Literal::new(ScalarValue::Boolean(Some(true)))),
        ));
        let own = bin(col("b", 1), Operator::Lt, int(5));
        let c = with_run_time_filters(&own, vec![(Arc::clone(&dynamic) as _, true)]).unwrap();
        let passing = |c: &Arc<dyn PhysicalExpr>| -> usize {
            let out = c.evaluate(&batch).unwrap().into_array(n as usize).unwrap();
            out.as_boolean().true_count()
        };
        // Not complete: left out, even where it already says something.
        dynamic
            .update(bin(col("a", 0), Operator::Lt, int(100)))
            .unwrap();
        assert_eq!(passing(&c), 500);
        // Complete: a < 100 and b < 5.
        dynamic.mark_complete();
        assert_eq!(passing(&c), 50);
        // The filter kept 10% of the rows it saw: it stays, however long it runs.
        for _ in 0..200 {
            assert_eq!(passing(&c), 50);
        }
        // One that passes nearly every row is dropped after its trial (the answers stay right: a join above
        // would drop the rows it let through).
        let broad = Arc::new(DynamicFilterPhysicalExpr::new(
            vec![col("a", 0)],
            bin(col("a", 0), Operator::Lt, int(990)),
        ));
        broad.mark_complete();
        let c = with_run_time_filters(&own, vec![(Arc::clone(&broad) as _, true)]).unwrap();
        let trial = (TRIAL_ROWS as usize).div_ceil(500);
        for _ in 0..trial {
            assert_eq!(passing(&c), 495);
        }
        assert_eq!(passing(&c), 500);
        // Not flagged to run in any form: only while it lists its keys.
        let schema = batch.schema();
        for (inner, want) in [
            (bin(col("a", 0), Operator::Lt, int(100)), 500),
            (
                datafusion::physical_expr::expressions::in_list(
                    col("a", 0),
                    vec![int(0), int(2), int(3), int(4)],
                    &false,
                    &schema,
                )
                .unwrap(),
                4,
            ),
        ] {
            let listed = Arc::new(DynamicFilterPhysicalExpr::new(vec![col("a", 0)], inner));
            listed.mark_complete();
            let c = with_run_time_filters(&own, vec![(listed as _, false)]).unwrap();
            assert_eq!(passing(&c), want);
        }
        // Shown with the filter's own conditions; rebuilt from its children, the filter stays optional.
        assert!(c.to_string().contains("DynamicFilter"), "{c}");
        let children: Vec<_> = c.children().into_iter().cloned().collect();
        let again = Arc::clone(&c).with_new_children(children).unwrap();
        assert_eq!(
            again.downcast_ref::<Conjunction>().unwrap().optional(),
            vec![true]
        );
        // Added to a conjunction, after its conditions.
        let both = rewrite(&bin(own, Operator::And, condition(3, 0))).unwrap();
        let c = with_run_time_filters(&both, vec![(broad as _, false)]).unwrap();
        let c = c.downcast_ref::<Conjunction>().unwrap();
        assert_eq!((c.parts.len(), c.optional()), (3, vec![false]));
        assert!(c.parts[2].optional.is_some());
    }

    #[test]
    fn shows_the_and_as_datafusion_does_and_rebuilds_from_children() {
        let predicate = conjunction([condition(0, 3), condition(3, 0), condition(7, 2)]);
        let c = rewrite(&predicate).unwrap();
        assert_eq!(c.to_string(), format!("{predicate} (in turn)"));
        assert!(rewrite(&c).is_none());
        assert!(rewrite(&condition(0, 3)).is_none());
        let children: Vec<_> = c.children().into_iter().cloned().collect();
        assert_eq!(children.len(), 3);
        let again = Arc::clone(&c).with_new_children(children).unwrap();
        assert!(again.eq(&c));
    }
}
