//! Anomaly scores over an ordered stream: Kinesis Data Analytics' `RANDOM_CUT_FOREST` and
//! `RANDOM_CUT_FOREST_WITH_EXPLANATION` as window functions, computed with `krcflib` (a Rust port of AWS's
//! random-cut-forest-by-aws).
//!
//! ```sql
//! SELECT ts, v, random_cut_forest(v) OVER (ORDER BY ts) AS anomaly_score FROM metrics
//! SELECT ts, random_cut_forest_with_explanation(cpu, latency, 'shingle_size=4') OVER (PARTITION BY host ORDER BY ts)
//! ```
//!
//! - The arguments are the numeric values of a point (one dimension each; integers, decimals and floats are
//!   read as doubles), then optionally a constant options string: `number_of_trees` (default 100),
//!   `sub_sample_size` (256), `time_decay` (100000: the number of recent records that matter, as KDA's
//!   `timeDecay`; the forest's decay rate is its inverse), `shingle_size` (1), `random_seed` (42) and, for the
//!   explanation, `with_directionality` (false). KDA's parameters, its defaults and its ranges.
//! - Each partition of the window (`PARTITION BY`) is one stream with a forest of its own, fed in the window's
//!   order: a record is scored against the records before it, then added (KDA's order). The first records
//!   score 0 until the forest holds enough of them (a quarter of the sub-sample), as KDA's do.
//! - A record with a NULL, NaN or infinite value scores NULL and is not added.
//! - `random_cut_forest` is the record's `ANOMALY_SCORE`. `random_cut_forest_with_explanation` is a struct
//!   `{anomaly_score, anomaly_explanation}`: the explanation is KDA's JSON, one object per argument (by its
//!   column name) with `ATTRIBUTION_SCORE` (its share of the score: the shares add up to the score), and with
//!   `with_directionality=true` also `DIRECTIONALITY` (`HIGH` or `LOW` than the recent records, `NEUTRAL` when
//!   neither) and `STRENGTH` (how one-sided: |high − low| / (high + low), 0 to 1). Numbers are JSON numbers.
//!
//! The invariant: the same rows in the same order with the same options give the same scores on any machine
//! (a fixed seed, one forest per partition, no parallel tree updates).

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Float64Builder, StringBuilder, StructArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{DataFusionError, ScalarValue, exec_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::expressions::Literal;
use rcflib::rcf::{RCF, RCFBuilder, RCFOptionsBuilder};
use std::ops::Range;
use std::sync::Arc;

/// The options of the forest, KDA's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RcfOptions {
    pub number_of_trees: usize,
    pub sub_sample_size: usize,
    /// How many recent records matter; the forest's decay rate is `1 / time_decay`.
    pub time_decay: u64,
    pub shingle_size: usize,
    pub random_seed: u64,
    pub with_directionality: bool,
}

impl Default for RcfOptions {
    fn default() -> Self {
        RcfOptions {
            number_of_trees: 100,
            sub_sample_size: 256,
            time_decay: 100_000,
            shingle_size: 1,
            random_seed: 42,
            with_directionality: false,
        }
    }
}

/// The option names, for messages.
pub const RCF_OPTIONS: [&str; 6] = [
    "number_of_trees",
    "sub_sample_size",
    "time_decay",
    "shingle_size",
    "random_seed",
    "with_directionality",
];

impl RcfOptions {
    /// Options from `key=value` pairs separated by commas or spaces; an unknown key or a value out of KDA's
    /// range is an error naming it.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let mut o = RcfOptions::default();
        for (key, value) in crate::exec::text::option_pairs(text)? {
            let value = value.trim();
            let number = |lo: u64, hi: u64| -> std::result::Result<u64, String> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (lo..=hi).contains(n))
                    .ok_or_else(|| {
                        format!("`{key}` is a whole number from {lo} to {hi}, not `{value}`")
                    })
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "number_of_trees" => o.number_of_trees = number(1, 1000)? as usize,
                "sub_sample_size" => o.sub_sample_size = number(10, 1000)? as usize,
                "time_decay" => o.time_decay = number(1, i32::MAX as u64)?,
                "shingle_size" => o.shingle_size = number(1, 30)? as usize,
                "random_seed" => o.random_seed = number(0, u64::MAX)?,
                "with_directionality" => {
                    o.with_directionality = match value.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(format!(
                                "`with_directionality` is true or false, not `{value}`"
                            ));
                        }
                    }
                }
                other => {
                    return Err(format!(
                        "unknown option `{other}`: the options are {}",
                        RCF_OPTIONS.join(", ")
                    ));
                }
            }
        }
        Ok(o)
    }

    /// A new forest for points of `dimensions` values, shingled internally.
    pub fn forest(
        &self,
        dimensions: usize,
    ) -> std::result::Result<Box<dyn RCF + Send + Sync>, String> {
        RCFBuilder::new(dimensions, self.shingle_size)
            .tree_capacity(self.sub_sample_size)
            .number_of_trees(self.number_of_trees)
            .random_seed(self.random_seed)
            .time_decay(1.0 / self.time_decay as f64)
            .internal_shingling(true)
            .parallel_enabled(false)
            .build_default()
            .map_err(|e| e.to_string())
    }
}

/// `random_cut_forest(v1, ... [, options])` (`explain` false) or `random_cut_forest_with_explanation(...)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RandomCutForest {
    explain: bool,
    signature: Signature,
}

impl RandomCutForest {
    fn function(&self) -> &'static str {
        if self.explain {
            "random_cut_forest_with_explanation"
        } else {
            "random_cut_forest"
        }
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn explanation_fields() -> Fields {
    Fields::from(vec![
        Field::new("anomaly_score", DataType::Float64, true),
        Field::new("anomaly_explanation", DataType::Utf8, true),
    ])
}

impl WindowUDFImpl for RandomCutForest {
    fn name(&self) -> &str {
        self.function()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let f = self.function();
        let values = match arg_types.last() {
            Some(t) if is_text(t) => arg_types.len() - 1,
            _ => arg_types.len(),
        };
        if values == 0 {
            return plan_err!(
                "{f} scores points of numbers: write {f}(v1 [, v2, ...] [, 'options']) OVER (ORDER BY ts)"
            );
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i == values {
                    Ok(DataType::Utf8)
                } else if t.is_numeric() || t.is_null() {
                    Ok(DataType::Float64)
                } else {
                    plan_err!(
                        "{f}: argument {} is {t}: a point's values are numbers (only the last argument may be \
                         the options string)",
                        i + 1
                    )
                }
            })
            .collect()
    }
    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        let t = if self.explain {
            DataType::Struct(explanation_fields())
        } else {
            DataType::Float64
        };
        Ok(Arc::new(Field::new(field_args.name(), t, true)))
    }
    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let f = self.function();
        let exprs = args.input_exprs();
        let fields = args.input_fields();
        let mut options = RcfOptions::default();
        let mut dimensions = exprs.len();
        if let Some(last) = fields.last()
            && is_text(last.data_type())
        {
            dimensions -= 1;
            let literal = exprs
                .last()
                .and_then(|e| e.downcast_ref::<Literal>())
                .ok_or_else(|| {
                    exec_datafusion_err!(
                        "{f}: the options are a constant string ('shingle_size=4, ...')"
                    )
                })?;
            let text = match literal.value() {
                ScalarValue::Utf8(t) | ScalarValue::LargeUtf8(t) | ScalarValue::Utf8View(t) => {
                    t.clone().unwrap_or_default()
                }
                other => return plan_err!("{f}: the options are a string, not {other}"),
            };
            options =
                RcfOptions::parse(&text).map_err(|e| DataFusionError::Plan(format!("{f}: {e}")))?;
        }
        let names = fields[..dimensions]
            .iter()
            .map(|field| column_name(field.name()))
            .collect();
        // Built here so that a parameter the library refuses fails before any row is read.
        let forest = options
            .forest(dimensions)
            .map_err(|e| DataFusionError::Plan(format!("{f}: {e}")))?;
        Ok(Box::new(Evaluator {
            function: f,
            explain: self.explain,
            directionality: options.with_directionality,
            names,
            dimensions,
            forest,
        }))
    }
}

/// An argument's name in the explanation: the column's name without a table or a position (`t.v@2` → `v`).
fn column_name(name: &str) -> String {
    let name = match name.rsplit_once('@') {
        Some((n, position)) if position.chars().all(|c| c.is_ascii_digit()) => n,
        _ => name,
    };
    match name.rsplit_once('.') {
        Some((_, n)) if !n.is_empty() && !name.contains(' ') => n.to_string(),
        _ => name.to_string(),
    }
}

/// One stream's forest.
struct Evaluator {
    function: &'static str,
    explain: bool,
    directionality: bool,
    names: Vec<String>,
    dimensions: usize,
    forest: Box<dyn RCF + Send + Sync>,
}

impl std::fmt::Debug for Evaluator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} over {:?}", self.function, self.names)
    }
}

/// One record's answer: its score and, when explained, the explanation.
type Scored = Option<(f64, Option<String>)>;

impl Evaluator {
    /// Scores the point against the records before it, then adds it.
    fn step(&mut self, point: Option<Vec<f32>>) -> Result<Scored> {
        let Some(point) = point else {
            return Ok(None);
        };
        let err = |e: rcflib::errors::RCFError| exec_datafusion_err!("{}: {e}", self.function);
        let score = self.forest.score(&point).map_err(err)?;
        let explanation = if self.explain {
            let attribution = self.forest.attribution(&point).map_err(err)?;
            Some(self.explanation(&attribution.high, &attribution.low))
        } else {
            None
        };
        self.forest.update(&point, 0).map_err(err)?;
        Ok(Some((score, explanation)))
    }

    /// KDA's explanation JSON from the attribution of each shingled dimension (the shingle's points side by
    /// side, so dimension `d` of the record is every `dimensions`-th entry).
    fn explanation(&self, high: &[f64], low: &[f64]) -> String {
        let mut out = serde_json::Map::new();
        for (d, name) in self.names.iter().enumerate() {
            let sum = |v: &[f64]| -> f64 { v.iter().skip(d).step_by(self.dimensions).sum() };
            let (h, l) = (sum(high), sum(low));
            let mut o = serde_json::Map::new();
            o.insert("ATTRIBUTION_SCORE".into(), json_number(h + l));
            if self.directionality {
                let direction = if h > l {
                    "HIGH"
                } else if l > h {
                    "LOW"
                } else {
                    "NEUTRAL"
                };
                let strength = if h + l > 0.0 {
                    (h - l).abs() / (h + l)
                } else {
                    0.0
                };
                o.insert("DIRECTIONALITY".into(), direction.into());
                o.insert("STRENGTH".into(), json_number(strength));
            }
            out.insert(name.clone(), serde_json::Value::Object(o));
        }
        serde_json::Value::Object(out).to_string()
    }

    /// Row `i`'s point, in the forest's precision.
    fn point(values: &[ArrayRef], dimensions: usize, i: usize) -> Option<Vec<f32>> {
        point(values, dimensions, i, |v| v as f32)
    }

    fn finish(&self, scored: Vec<Scored>) -> Result<ArrayRef> {
        let mut scores = Float64Builder::with_capacity(scored.len());
        let mut explanations = StringBuilder::new();
        for s in &scored {
            scores.append_option(s.as_ref().map(|(v, _)| *v));
            explanations.append_option(s.as_ref().and_then(|(_, e)| e.as_deref()));
        }
        if !self.explain {
            return Ok(Arc::new(scores.finish()));
        }
        Ok(Arc::new(StructArray::try_new(
            explanation_fields(),
            vec![Arc::new(scores.finish()), Arc::new(explanations.finish())],
            None,
        )?))
    }
}

/// Row `i`'s point from the first `dimensions` arrays (doubles), each value through `to`: None when a value is
/// NULL or not finite. Shared with `hotspots`.
pub(crate) fn point<T>(
    values: &[ArrayRef],
    dimensions: usize,
    i: usize,
    to: impl Fn(f64) -> T,
) -> Option<Vec<T>> {
    values[..dimensions]
        .iter()
        .map(|a| {
            let a = a.as_primitive::<Float64Type>();
            (a.is_valid(i) && a.value(i).is_finite()).then(|| to(a.value(i)))
        })
        .collect()
}

/// The first `dimensions` arrays as doubles (they are, after `coerce_types`; cast only when a caller skipped
/// it). Shared with `hotspots`.
pub(crate) fn doubles(
    values: &[ArrayRef],
    dimensions: usize,
) -> Result<std::borrow::Cow<'_, [ArrayRef]>> {
    if values[..dimensions]
        .iter()
        .all(|a| a.data_type() == &DataType::Float64)
    {
        return Ok(std::borrow::Cow::Borrowed(&values[..dimensions]));
    }
    values[..dimensions]
        .iter()
        .map(|a| Ok(cast(a, &DataType::Float64)?))
        .collect::<Result<Vec<_>>>()
        .map(std::borrow::Cow::Owned)
}

/// A double as a JSON number (null for NaN and infinities, which JSON has not). Shared with `hotspots`.
pub(crate) fn json_number(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

impl PartitionEvaluator for Evaluator {
    fn is_causal(&self) -> bool {
        true
    }
    fn supports_bounded_execution(&self) -> bool {
        true
    }
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let values = doubles(values, self.dimensions)?;
        let scored = (0..num_rows)
            .map(|i| self.step(Self::point(&values, self.dimensions, i)))
            .collect::<Result<Vec<_>>>()?;
        self.finish(scored)
    }
    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        // One row at a time as the window streams: no array is built for a plain score.
        let values = doubles(values, self.dimensions)?;
        let scored = self.step(Self::point(&values, self.dimensions, range.start))?;
        if !self.explain {
            return Ok(ScalarValue::Float64(scored.map(|(s, _)| s)));
        }
        ScalarValue::try_from_array(&self.finish(vec![scored])?, 0)
    }
}

/// The window functions, registered in every session.
pub fn udwfs() -> Vec<WindowUDF> {
    [false, true]
        .into_iter()
        .map(|explain| {
            WindowUDF::new_from_impl(RandomCutForest {
                explain,
                signature: Signature::user_defined(Volatility::Immutable),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_kda_ranges_and_name_what_is_wrong() {
        let o = RcfOptions::parse("number_of_trees=50, shingle_size=4 random_seed=7").unwrap();
        assert_eq!(
            (
                o.number_of_trees,
                o.shingle_size,
                o.random_seed,
                o.sub_sample_size
            ),
            (50, 4, 7, 256)
        );
        assert!(
            RcfOptions::parse("shingle_size=31")
                .unwrap_err()
                .contains("1 to 30")
        );
        assert!(
            RcfOptions::parse("trees=5")
                .unwrap_err()
                .contains("unknown option `trees`")
        );
        assert!(
            RcfOptions::parse("sub_sample_size")
                .unwrap_err()
                .contains("key=value")
        );
    }

    #[test]
    fn argument_names_lose_tables_and_positions() {
        assert_eq!(column_name("t.cpu@3"), "cpu");
        assert_eq!(column_name("latency"), "latency");
        assert_eq!(column_name("v@0 / 100"), "v@0 / 100");
    }
}
