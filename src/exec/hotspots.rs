//! Dense regions of an ordered stream: Kinesis Data Analytics' `HOTSPOTS` as a window function, with the
//! clustering done by `petal-clustering`'s DBSCAN (over a ball tree), the algorithm KDA names for it.
//!
//! ```sql
//! SELECT ts, x, y, hotspots(x, y, 100, 0.2, 10) OVER (ORDER BY ts) AS hotspots_result FROM rides
//! ```
//!
//! - The arguments are the numeric values of a point (one dimension each; integers, decimals and floats are
//!   read as doubles), then KDA's three parameters as constants: `windowSize` (100 to 1000: how many recent
//!   records are looked at), `scanRadius` (a double above 0: DBSCAN's ε) and `minimumNumberOfPointsInAHotspot`
//!   (2 to `windowSize`: DBSCAN's minimum points, the point itself counted).
//! - Each partition of the window (`PARTITION BY`) is one stream, in the window's order. A record's answer is
//!   about the sliding window that ends at it: its own point and up to `windowSize − 1` before it (fewer while
//!   the stream starts).
//! - A record with a NULL, NaN or infinite value answers NULL and does not enter the window.
//! - The answer is KDA's `HOTSPOTS_RESULT`: `{"hotspots":[{"density":…,"minValues":[…],"maxValues":[…]}, …]}`,
//!   one object per cluster of at least `minimumNumberOfPointsInAHotspot` records, with the least and greatest
//!   value of its records per argument, densest first. `density` is the number of records divided by the
//!   hotspot's size; KDA does not publish what the size is, so owl's is the volume of the hotspot's bounding
//!   box with every side widened by `scanRadius` (half at each end), which is never 0: a hotspot of identical
//!   points has size `scanRadius^dimensions`. No hotspot is `{"hotspots":[]}`.
//!
//! The invariant: the same rows in the same order with the same parameters give the same answers on any
//! machine (DBSCAN visits points in window order; hotspots are sorted by density, then values).

use super::anomaly::{doubles, json_number, point};
use datafusion::arrow::array::{ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{ScalarValue, exec_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::expressions::Literal;
use ndarray::ArrayView2;
use petal_clustering::{Dbscan, Fit};
use petal_neighbors::distance::Euclidean;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

const NAME: &str = "hotspots";
const USAGE: &str = "write hotspots(v1 [, v2, ...], windowSize, scanRadius, minimumNumberOfPointsInAHotspot) \
                     OVER (ORDER BY ts)";

/// KDA's three parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotspotsOptions {
    pub window_size: usize,
    pub scan_radius: f64,
    pub minimum_points: usize,
}

impl HotspotsOptions {
    /// The parameters, checked against KDA's ranges; an error names the one that is wrong.
    pub fn new(
        window_size: i64,
        scan_radius: f64,
        minimum_points: i64,
    ) -> std::result::Result<Self, String> {
        if !(100..=1000).contains(&window_size) {
            return Err(format!(
                "windowSize is a whole number from 100 to 1000, not {window_size}"
            ));
        }
        if !(scan_radius.is_finite() && scan_radius > 0.0) {
            return Err(format!("scanRadius is a number above 0, not {scan_radius}"));
        }
        if !(2..=window_size).contains(&minimum_points) {
            return Err(format!(
                "minimumNumberOfPointsInAHotspot is a whole number from 2 to windowSize ({window_size}), \
                 not {minimum_points}"
            ));
        }
        Ok(HotspotsOptions {
            window_size: window_size as usize,
            scan_radius,
            minimum_points: minimum_points as usize,
        })
    }
}

/// One hotspot of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Hotspot {
    pub density: f64,
    pub min_values: Vec<f64>,
    pub max_values: Vec<f64>,
}

/// The hotspots among `points` (`dimensions` values each, side by side), densest first.
pub fn find(points: &[f64], dimensions: usize, options: &HotspotsOptions) -> Vec<Hotspot> {
    let n = points.len() / dimensions.max(1);
    if n == 0 || dimensions == 0 {
        return vec![];
    }
    let Ok(view) = ArrayView2::from_shape((n, dimensions), points) else {
        return vec![];
    };
    let mut dbscan = Dbscan::new(
        options.scan_radius,
        options.minimum_points,
        Euclidean::default(),
    );
    let (clusters, _noise) = dbscan.fit(&view, None);
    let mut found: Vec<Hotspot> = clusters
        .values()
        .map(|members| {
            let mut min_values = vec![f64::INFINITY; dimensions];
            let mut max_values = vec![f64::NEG_INFINITY; dimensions];
            for &m in members {
                for d in 0..dimensions {
                    let v = points[m * dimensions + d];
                    min_values[d] = min_values[d].min(v);
                    max_values[d] = max_values[d].max(v);
                }
            }
            let size: f64 = min_values
                .iter()
                .zip(&max_values)
                .map(|(lo, hi)| hi - lo + options.scan_radius)
                .product();
            Hotspot {
                density: members.len() as f64 / size,
                min_values,
                max_values,
            }
        })
        .collect();
    found.sort_by(|a, b| {
        b.density
            .total_cmp(&a.density)
            .then_with(|| cmp_values(&a.min_values, &b.min_values))
            .then_with(|| cmp_values(&a.max_values, &b.max_values))
    });
    found
}

fn cmp_values(a: &[f64], b: &[f64]) -> std::cmp::Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// KDA's `HOTSPOTS_RESULT` JSON.
pub fn result_json(hotspots: &[Hotspot]) -> String {
    let number = json_number;
    let list: Vec<serde_json::Value> = hotspots
        .iter()
        .map(|h| {
            let mut o = serde_json::Map::new();
            o.insert("density".into(), number(h.density));
            o.insert(
                "minValues".into(),
                h.min_values.iter().map(|v| number(*v)).collect(),
            );
            o.insert(
                "maxValues".into(),
                h.max_values.iter().map(|v| number(*v)).collect(),
            );
            serde_json::Value::Object(o)
        })
        .collect();
    let mut out = serde_json::Map::new();
    out.insert("hotspots".into(), serde_json::Value::Array(list));
    serde_json::Value::Object(out).to_string()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Hotspots {
    signature: Signature,
}

fn is_whole(t: &DataType) -> bool {
    t.is_integer() || t.is_null()
}

impl WindowUDFImpl for Hotspots {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() < 4 {
            return plan_err!(
                "{NAME} takes a point's values and three parameters, not {} arguments: {USAGE}",
                arg_types.len()
            );
        }
        let values = arg_types.len() - 3;
        let parameter = |i: usize, t: &DataType| -> Result<DataType> {
            match i - values {
                0 if is_whole(t) => Ok(DataType::Int64),
                0 => plan_err!("{NAME}: windowSize is a whole number, not {t}: {USAGE}"),
                1 if t.is_numeric() || t.is_null() => Ok(DataType::Float64),
                1 => plan_err!("{NAME}: scanRadius is a number, not {t}: {USAGE}"),
                _ if is_whole(t) => Ok(DataType::Int64),
                _ => plan_err!(
                    "{NAME}: minimumNumberOfPointsInAHotspot is a whole number, not {t}: {USAGE}"
                ),
            }
        };
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i >= values {
                    parameter(i, t)
                } else if t.is_numeric() || t.is_null() {
                    Ok(DataType::Float64)
                } else {
                    plan_err!(
                        "{NAME}: argument {} is {t}: a point's values are numbers: {USAGE}",
                        i + 1
                    )
                }
            })
            .collect()
    }
    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Utf8,
            true,
        )))
    }
    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let exprs = args.input_exprs();
        if exprs.len() < 4 {
            return plan_err!("{NAME}: {USAGE}");
        }
        let dimensions = exprs.len() - 3;
        let names = [
            "windowSize",
            "scanRadius",
            "minimumNumberOfPointsInAHotspot",
        ];
        let mut constants = vec![];
        for (expr, name) in exprs[dimensions..].iter().zip(names) {
            let value = expr
                .downcast_ref::<Literal>()
                .map(|l| l.value().clone())
                .ok_or_else(|| exec_datafusion_err!("{NAME}: {name} is a constant: {USAGE}"))?;
            if value.is_null() {
                return plan_err!("{NAME}: {name} is NULL: {USAGE}");
            }
            constants.push(value);
        }
        let whole = |v: &ScalarValue| match v.cast_to(&DataType::Int64) {
            Ok(ScalarValue::Int64(Some(n))) => Ok(n),
            _ => plan_err!("{NAME}: {v} is not a whole number"),
        };
        let radius = match constants[1].cast_to(&DataType::Float64) {
            Ok(ScalarValue::Float64(Some(r))) => r,
            _ => return plan_err!("{NAME}: scanRadius {} is not a number", constants[1]),
        };
        let options = HotspotsOptions::new(whole(&constants[0])?, radius, whole(&constants[2])?)
            .map_err(|e| datafusion::error::DataFusionError::Plan(format!("{NAME}: {e}")))?;
        Ok(Box::new(Evaluator {
            options,
            dimensions,
            window: VecDeque::with_capacity(options.window_size * dimensions),
        }))
    }
}

/// One stream's sliding window.
#[derive(Debug)]
struct Evaluator {
    options: HotspotsOptions,
    dimensions: usize,
    /// The window's points, `dimensions` values each, oldest first.
    window: VecDeque<f64>,
}

impl Evaluator {
    /// Adds the point (when it has one) and answers for the window that ends at it.
    fn step(&mut self, point: Option<Vec<f64>>) -> Option<String> {
        let point = point?;
        if self.window.len() == self.options.window_size * self.dimensions {
            self.window.drain(..self.dimensions);
        }
        self.window.extend(point);
        let points = self.window.make_contiguous();
        Some(result_json(&find(points, self.dimensions, &self.options)))
    }
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
        let mut out = StringBuilder::new();
        for i in 0..num_rows {
            out.append_option(self.step(point(&values, self.dimensions, i, |v| v)));
        }
        Ok(Arc::new(out.finish()))
    }
    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let values = doubles(values, self.dimensions)?;
        Ok(ScalarValue::Utf8(self.step(point(
            &values,
            self.dimensions,
            range.start,
            |v| v,
        ))))
    }
}

/// The window function, registered in every session.
pub fn udwf() -> WindowUDF {
    WindowUDF::new_from_impl(Hotspots {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_take_kda_ranges_and_name_what_is_wrong() {
        assert!(HotspotsOptions::new(100, 0.5, 2).is_ok());
        assert!(
            HotspotsOptions::new(99, 0.5, 2)
                .unwrap_err()
                .contains("windowSize is a whole number from 100 to 1000, not 99")
        );
        assert!(
            HotspotsOptions::new(100, 0.0, 2)
                .unwrap_err()
                .contains("scanRadius")
        );
        assert!(
            HotspotsOptions::new(200, 1.0, 201)
                .unwrap_err()
                .contains("from 2 to windowSize (200), not 201")
        );
    }

    #[test]
    fn a_tight_group_is_one_hotspot_and_scattered_points_none() {
        let options = HotspotsOptions::new(100, 0.5, 3).unwrap();
        // Three points within 0.5 of each other, two far apart.
        let points = [0.0, 0.0, 0.1, 0.0, 0.0, 0.2, 10.0, 10.0, -10.0, 5.0];
        let found = find(&points, 2, &options);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].min_values, vec![0.0, 0.0]);
        assert_eq!(found[0].max_values, vec![0.1, 0.2]);
        let size = (0.1 + 0.5) * (0.2 + 0.5);
        assert!((found[0].density - 3.0 / size).abs() < 1e-12);
        assert_eq!(
            result_json(&[]),
            r#"{"hotspots":[]}"#,
            "no hotspot is an empty list"
        );
        assert!(find(&points[4..], 2, &options).is_empty());
    }
}
