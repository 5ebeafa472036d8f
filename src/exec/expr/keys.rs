//! The key-set types a join's keys travel in, shared by the nodes and expressions that gather and test them:
//! [`KeySet`] (distinct integer keys, one bit a value from the smallest to the largest), [`KeyBits`] (a row's
//! key tested against a `KeySet`), [`BuildKeys`] (a hash join's build-side keys as its [`CollectKeysExec`]
//! gathers them) and [`GatheredKeys`] (a run-time filter's test of those keys, once the join has them).
//!
//! Why and where they are used: `optimizer::physical::join_key_bitmaps` (bitmaps of build sides) and
//! `optimizer::physical::join_key_pruning` (joins' listed keys). Rows with a NULL key pass no test.
//!
//! [`CollectKeysExec`]: crate::exec::collect_keys::CollectKeysExec

use crate::exec::expr::truth;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Date32Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::PhysicalExpr;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
/// A bitmap spans at most this many values (1 MiB), or 64 a key.
pub(crate) const MAX_SPAN: u64 = 1 << 23;

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
    pub(crate) set: OnceLock<Option<Arc<KeySet>>>,
    /// The join's state was reset (a recursive query's next round): the keys no longer say what it holds.
    pub(crate) reset: AtomicBool,
}

#[derive(Debug, Default)]
pub(crate) struct Gathering {
    keys: Vec<i64>,
    /// Per build partition: whether its stream has ended.
    ended: Vec<bool>,
    /// More keys than [`MAX_KEYS`], or a key an i64 cannot hold: no bitmap.
    pub(crate) given_up: bool,
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

    pub(crate) fn gathering(&self) -> std::sync::MutexGuard<'_, Gathering> {
        self.gathering.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a batch's keys (any integer or date array).
    pub(crate) fn add(&self, keys: &ArrayRef) {
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
    pub(crate) fn end(&self, partition: usize, partitions: usize) {
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
        let key = super::one_child(children, "a test of gathered keys")?;
        Ok(Arc::new(GatheredKeys::new(key, Arc::clone(&self.keys))))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
impl BuildKeys {
    /// Keys gathered from one partition that has ended.
    pub(crate) fn gathered(index: usize, keys: ArrayRef) -> Self {
        let gathered = BuildKeys::new(index);
        gathered.add(&keys);
        gathered.end(0, 1);
        gathered
    }

    /// As when the join's state is reset.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::Relaxed);
    }
}

/// A bitmap of integer keys spans at most this many values (128 KiB), or 64 a key.
const MAX_KEY_BITS: u64 = 1 << 20;

/// Distinct integer keys as one bit a value from the smallest to the largest.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct KeySet {
    lo: i64,
    span: u64,
    bits: Vec<u64>,
}

impl KeySet {
    /// For `keys` (not null; repeats allowed) whose span is at most `max_span` values.
    pub fn try_new(keys: &[i64], max_span: u64) -> Option<Self> {
        let (lo, hi) = (*keys.iter().min()?, *keys.iter().max()?);
        let span = u64::try_from(i128::from(hi) - i128::from(lo) + 1).ok()?;
        if span > max_span {
            return None;
        }
        let mut bits = vec![0u64; span.div_ceil(64) as usize];
        for &v in keys {
            let at = v.wrapping_sub(lo) as u64;
            bits[(at / 64) as usize] |= 1 << (at % 64);
        }
        Some(KeySet { lo, span, bits })
    }

    /// How many distinct keys the set holds.
    pub fn len(&self) -> u64 {
        self.bits.iter().map(|w| u64::from(w.count_ones())).sum()
    }

    /// How many values the bitmap spans (smallest key to largest).
    pub fn span(&self) -> u64 {
        self.span
    }

    fn contains<T: ArrowPrimitiveType>(&self, array: &PrimitiveArray<T>) -> BooleanArray {
        let values = array.values();
        let hits = BooleanBuffer::collect_bool(values.len(), |i| {
            values[i].to_i64().is_some_and(|v| {
                let at = v.wrapping_sub(self.lo) as u64;
                at < self.span && (self.bits[(at / 64) as usize] >> (at % 64)) & 1 == 1
            })
        });
        BooleanArray::new(hits, array.logical_nulls())
    }
}

/// `key IN (keys)` over integer keys of a small span: one bit a value from the smallest key to the largest, a
/// row one bit test (DataFusion's list hashes each row and probes a hash set). NULL where the key is NULL, as
/// the list answers.
#[derive(Debug)]
pub struct KeyBits {
    key: Arc<dyn PhysicalExpr>,
    pub(crate) set: Arc<KeySet>,
}

impl KeyBits {
    pub fn new(key: Arc<dyn PhysicalExpr>, set: Arc<KeySet>) -> Self {
        KeyBits { key, set }
    }

    /// For `values` (distinct, not null) of the key's own integer type, when their span is small.
    pub(crate) fn try_new(
        key: &Arc<dyn PhysicalExpr>,
        values: &[ScalarValue],
        schema: &Schema,
    ) -> Option<Self> {
        let data_type = key.data_type(schema).ok()?;
        if !data_type.is_integer() && data_type != DataType::Date32 {
            return None;
        }
        let ints = values
            .iter()
            .map(|v| {
                (v.data_type() == data_type)
                    .then(|| integer_key(v))
                    .flatten()
            })
            .collect::<Option<Vec<i64>>>()?;
        let set = KeySet::try_new(&ints, MAX_KEY_BITS.max(64 * ints.len() as u64))?;
        Some(KeyBits::new(Arc::clone(key), Arc::new(set)))
    }
}

/// An integer or date key as an i64 (a u64 beyond i64's range: none).
fn integer_key(v: &ScalarValue) -> Option<i64> {
    Some(match v {
        ScalarValue::Int8(Some(x)) => i64::from(*x),
        ScalarValue::Int16(Some(x)) => i64::from(*x),
        ScalarValue::Int32(Some(x)) => i64::from(*x),
        ScalarValue::Int64(Some(x)) => *x,
        ScalarValue::UInt8(Some(x)) => i64::from(*x),
        ScalarValue::UInt16(Some(x)) => i64::from(*x),
        ScalarValue::UInt32(Some(x)) => i64::from(*x),
        ScalarValue::UInt64(Some(x)) => i64::try_from(*x).ok()?,
        ScalarValue::Date32(Some(x)) => i64::from(*x),
        _ => return None,
    })
}

impl PartialEq for KeyBits {
    fn eq(&self, other: &Self) -> bool {
        self.key.eq(&other.key) && self.set == other.set
    }
}

impl Eq for KeyBits {}

impl Hash for KeyBits {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
        self.set.hash(state);
    }
}

impl fmt::Display for KeyBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} IN ({} keys by bitmap)", self.key, self.set.len())
    }
}

impl PhysicalExpr for KeyBits {
    fn data_type(&self, _input_schema: &Schema) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, input_schema: &Schema) -> Result<bool> {
        self.key.nullable(input_schema)
    }

    fn evaluate(&self, batch: &RecordBatch) -> Result<ColumnarValue> {
        let array = self.key.evaluate(batch)?.into_array(batch.num_rows())?;
        let out = match array.data_type() {
            DataType::Int8 => self.set.contains(array.as_primitive::<Int8Type>()),
            DataType::Int16 => self.set.contains(array.as_primitive::<Int16Type>()),
            DataType::Int32 => self.set.contains(array.as_primitive::<Int32Type>()),
            DataType::Int64 => self.set.contains(array.as_primitive::<Int64Type>()),
            DataType::UInt8 => self.set.contains(array.as_primitive::<UInt8Type>()),
            DataType::UInt16 => self.set.contains(array.as_primitive::<UInt16Type>()),
            DataType::UInt32 => self.set.contains(array.as_primitive::<UInt32Type>()),
            DataType::UInt64 => self.set.contains(array.as_primitive::<UInt64Type>()),
            DataType::Date32 => self.set.contains(array.as_primitive::<Date32Type>()),
            other => {
                return Err(DataFusionError::Internal(format!(
                    "a key bitmap over {other}"
                )));
            }
        };
        Ok(ColumnarValue::Array(Arc::new(out)))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.key]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn PhysicalExpr>>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        let key = super::one_child(children, "a key bitmap")?;
        Ok(Arc::new(KeyBits::new(key, Arc::clone(&self.set))))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
