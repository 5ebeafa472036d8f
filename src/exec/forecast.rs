//! Forecasts of a time series, QuickSight's "forecast key business metrics" from SQL: the fitted history and
//! `horizon` future periods with a prediction interval, by `augurs` (AutoETS, and MSTL for seasonal series).
//! Planned from `forecast(TABLE t, ts, value, horizon => 12)` (`crate::sql::table_functions`) as a
//! [`WholeInput`] computation: the input is `by` columns (one series each), then the time, then the value as a
//! double.
//!
//! How a series is read:
//! 1. Its rows are put in time order; two rows at one time, or a NULL time, is an error (aggregate first).
//! 2. Its period is found from the times: a calendar step of months (1, 3, 6 or 12: dates or timestamps on the
//!    same day of the month, or each on the month's last day), else the smallest difference, which every other
//!    difference must be a multiple of. Missing periods and NULL values are filled by linear interpolation (the
//!    ends by the nearest value) before fitting; they stay out of the output's history.
//! 3. Seasonality: `automatic` (default) takes the strongest period of the series' periodogram (`augurs`
//!    seasons) when two whole periods fit in it; a number (QuickSight's custom seasonality, 1 to 180) or a list
//!    of them uses those; `none` (or 1) none.
//! 4. The model: AutoETS (additive or multiplicative errors and trend, chosen by AICc) on the series, or, when
//!    seasonal, MSTL (the seasons taken out by LOESS) with AutoETS on what remains.
//! 5. The interval is the model's prediction interval at `prediction_interval` percent (QuickSight's 50 to 95,
//!    default 90). `lower_boundary` and `upper_boundary` clamp every forecast value (QuickSight's boundaries).
//!
//! The output: the `by` columns, the time, the value (the actual one; NULL in the future), `forecast` (the
//! fitted value in the history, the forecast after it), `forecast_lower`, `forecast_upper` and `is_forecast`;
//! series in the order of their `by` values, rows in time order.
//!
//! The invariant: the answer depends on the set of rows only, not on their order.

use crate::exec::whole_input::WholeInput;
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Builder, Int64Array, RecordBatch, UInt32Array,
};
use arrow::compute::{cast, concat_batches, take};
use arrow::datatypes::{
    DataType, Field, FieldRef, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit,
};
use arrow::row::{RowConverter, SortField};
use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::*;
use augurs::seasons::{Detector, PeriodogramDetector};
use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveDateTime};
use datafusion::common::{DFSchema, DataFusionError, Result, TableReference, exec_err};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The fewest values a series may have (AutoETS fits no model to fewer: a level and its smoothing need n > 6).
pub const MIN_POINTS: usize = 7;
/// A series' periods, gaps included, may be at most this many times its rows.
const MAX_SPREAD: usize = 10;

/// Which seasons to model.
#[derive(Debug, Clone, PartialEq)]
pub enum Seasonality {
    /// The strongest period of the periodogram, if any.
    Automatic,
    /// These periods (none: no seasons).
    Periods(Vec<usize>),
}

/// What to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastSpec {
    /// How many leading input columns name a series.
    pub by: usize,
    pub horizon: usize,
    pub seasonality: Seasonality,
    /// Percent, 50 to 95.
    pub prediction_interval: u32,
    pub lower_boundary: Option<f64>,
    pub upper_boundary: Option<f64>,
}

/// The output columns after the `by` columns, the time and the value.
const FORECAST_COLUMNS: [&str; 3] = ["forecast", "forecast_lower", "forecast_upper"];

impl WholeInput for ForecastSpec {
    fn name(&self) -> &'static str {
        "Forecast"
    }
    fn describe(&self, input: &Schema) -> String {
        let by: Vec<&str> = input.fields()[..self.by]
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let seasonality = match &self.seasonality {
            Seasonality::Automatic => "automatic".to_string(),
            Seasonality::Periods(p) if p.is_empty() => "none".to_string(),
            Seasonality::Periods(p) => format!("{p:?}"),
        };
        let bound = |b: Option<f64>| b.map(|b| b.to_string()).unwrap_or("none".into());
        format!(
            "by=[{}], time={}, value={}, horizon={}, seasonality={seasonality}, prediction_interval={}, \
             boundaries=[{}, {}]",
            by.join(", "),
            input.field(self.by).name(),
            input.field(self.by + 1).name(),
            self.horizon,
            self.prediction_interval,
            bound(self.lower_boundary),
            bound(self.upper_boundary)
        )
    }
    fn output(&self, input: &DFSchema) -> Result<Vec<(Option<TableReference>, FieldRef)>> {
        let mut out: Vec<(Option<TableReference>, FieldRef)> = input
            .iter()
            .take(self.by + 1)
            .map(|(q, f)| (q.cloned(), Arc::clone(f)))
            .collect();
        // The time is NULL in no row; the value may be.
        let time = input.field(self.by).as_ref().clone().with_nullable(false);
        out[self.by].1 = Arc::new(time);
        let value = input.field(self.by + 1).name();
        out.push((None, Arc::new(Field::new(value, DataType::Float64, true))));
        for name in FORECAST_COLUMNS {
            out.push((None, Arc::new(Field::new(name, DataType::Float64, true))));
        }
        out.push((
            None,
            Arc::new(Field::new("is_forecast", DataType::Boolean, false)),
        ));
        Ok(out)
    }
    fn compute(&self, batches: Vec<RecordBatch>, schema: &SchemaRef) -> Result<Vec<RecordBatch>> {
        let Some(first) = batches.first() else {
            return Ok(vec![]);
        };
        let input = concat_batches(&first.schema(), &batches)?;
        if input.num_rows() == 0 {
            return Ok(vec![]);
        }
        let time_field = input.schema().field(self.by).clone();
        let kind = TimeKind::of(time_field.data_type()).ok_or_else(|| {
            DataFusionError::Plan(format!(
                "forecast: the time column `{}` is {}: a date, a timestamp or an integer",
                time_field.name(),
                time_field.data_type()
            ))
        })?;
        let times = cast(input.column(self.by), &DataType::Int64)?;
        let times = times.as_primitive::<Int64Type>();
        let values = cast(input.column(self.by + 1), &DataType::Float64)?;
        let values = values.as_primitive::<Float64Type>();
        if times.null_count() > 0 {
            return exec_err!(
                "forecast: the time column `{}` is NULL in {} rows: every row needs a time",
                time_field.name(),
                times.null_count()
            );
        }
        // The series, by their `by` values in order.
        let mut series: BTreeMap<Vec<u8>, Vec<usize>> = BTreeMap::new();
        if self.by == 0 {
            series.insert(vec![], (0..input.num_rows()).collect());
        } else {
            let by = &input.columns()[..self.by];
            let converter = RowConverter::new(
                by.iter()
                    .map(|c| SortField::new(c.data_type().clone()))
                    .collect(),
            )?;
            let rows = converter.convert_columns(by)?;
            for i in 0..input.num_rows() {
                series
                    .entry(rows.row(i).as_ref().to_vec())
                    .or_default()
                    .push(i);
            }
        }
        let mut out = Output::default();
        for rows in series.values() {
            let name = || self.series_name(&input, rows[0]);
            self.one(rows, times, values, kind, &mut out)
                .map_err(|e| DataFusionError::Execution(format!("forecast{}: {e}", name())))?;
        }
        let source = UInt32Array::from(out.source);
        let mut columns: Vec<ArrayRef> = input.columns()[..self.by]
            .iter()
            .map(|c| take(c, &source, None))
            .collect::<std::result::Result<_, _>>()?;
        let ticks: ArrayRef = Arc::new(Int64Array::from(out.time));
        columns.push(cast(&ticks, time_field.data_type())?);
        for b in [
            &mut out.value,
            &mut out.forecast,
            &mut out.lower,
            &mut out.upper,
        ] {
            columns.push(Arc::new(b.finish()));
        }
        columns.push(Arc::new(out.is_forecast.finish()));
        Ok(vec![RecordBatch::try_new(Arc::clone(schema), columns)?])
    }
}

/// The output's columns as they are built (the `by` columns as the input row each output row takes them from).
#[derive(Default)]
struct Output {
    source: Vec<u32>,
    time: Vec<i64>,
    value: Float64Builder,
    forecast: Float64Builder,
    lower: Float64Builder,
    upper: Float64Builder,
    is_forecast: BooleanBuilder,
}

impl ForecastSpec {
    /// ` for region = 'eu'` when there are `by` columns, for messages.
    fn series_name(&self, input: &RecordBatch, row: usize) -> String {
        let parts: Vec<String> = (0..self.by)
            .map(|c| {
                let value = arrow::util::display::array_value_to_string(input.column(c), row)
                    .unwrap_or_default();
                format!("{} = {value}", input.schema().field(c).name())
            })
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" for {}", parts.join(", "))
        }
    }

    fn clamp(&self, v: f64) -> f64 {
        let v = self.lower_boundary.map_or(v, |b| v.max(b));
        self.upper_boundary.map_or(v, |b| v.min(b))
    }

    /// Forecasts one series (its rows' positions in the input) into `out`.
    fn one(
        &self,
        rows: &[usize],
        times: &Int64Array,
        values: &arrow::array::Float64Array,
        kind: TimeKind,
        out: &mut Output,
    ) -> std::result::Result<(), String> {
        let mut points: Vec<(i64, Option<f64>, usize)> = rows
            .iter()
            .map(|&r| {
                let v = values.is_valid(r).then(|| values.value(r));
                (times.value(r), v.filter(|v| v.is_finite()), r)
            })
            .collect();
        points.sort_by_key(|p| p.0);
        if let Some(w) = points.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(format!(
                "two rows at {}: one value a period, so aggregate first (GROUP BY the time)",
                kind.render(w[0].0)
            ));
        }
        let valued = points.iter().filter(|p| p.1.is_some()).count();
        if valued < MIN_POINTS {
            return Err(format!(
                "the series has {valued} values: it needs at least {MIN_POINTS}"
            ));
        }
        let t: Vec<i64> = points.iter().map(|p| p.0).collect();
        let step = Step::of(&t, kind)?;
        // Each row's period number, counted from the first.
        let positions: Vec<usize> = t.iter().map(|&x| step.periods(t[0], x, kind)).collect();
        let len = positions.last().map_or(0, |p| p + 1);
        if len > MAX_SPREAD * points.len() {
            return Err(format!(
                "its {} rows spread over {len} periods of {}: too sparse to forecast",
                points.len(),
                step.render(kind)
            ));
        }
        let mut y = vec![f64::NAN; len];
        for (p, point) in positions.iter().zip(&points) {
            if let Some(v) = point.1 {
                y[*p] = v;
            }
        }
        interpolate(&mut y);
        let periods = match &self.seasonality {
            Seasonality::Automatic => PeriodogramDetector::builder()
                .build()
                .detect(&y)
                .last()
                .map(|&p| p as usize)
                .filter(|&p| p >= 2 && 2 * p <= len)
                .into_iter()
                .collect(),
            Seasonality::Periods(p) => {
                let p: Vec<usize> = p.iter().copied().filter(|&p| p >= 2).collect();
                if let Some(too_long) = p.iter().find(|&&p| 2 * p > len) {
                    return Err(format!(
                        "a season of {too_long} periods needs two whole seasons of history: the series has {len}"
                    ));
                }
                p
            }
        };
        let level = f64::from(self.prediction_interval) / 100.0;
        let (fitted, future) = fit(&y, periods, self.horizon, level)?;
        // Row `i` of a forecast into the output: its point and interval, finite and clamped.
        let emit = |out: &mut Output,
                    f: &Forecast,
                    i: usize,
                    source: usize,
                    row: (i64, Option<f64>, bool)| {
            let (time, value, ahead) = row;
            let at = |v: Option<&Vec<f64>>| {
                v.and_then(|v| v.get(i))
                    .copied()
                    .filter(|v| v.is_finite())
                    .map(|v| self.clamp(v))
            };
            let intervals = f.intervals.as_ref();
            out.source.push(source as u32);
            out.time.push(time);
            out.value.append_option(value);
            out.forecast.append_option(at(Some(&f.point)));
            out.lower.append_option(at(intervals.map(|iv| &iv.lower)));
            out.upper.append_option(at(intervals.map(|iv| &iv.upper)));
            out.is_forecast.append_value(ahead);
        };
        for (p, point) in positions.iter().zip(&points) {
            emit(out, &fitted, *p, point.2, (point.0, point.1, false));
        }
        let last = *t.last().unwrap_or(&0);
        for h in 0..self.horizon {
            let time = step.after(last, h + 1, kind)?;
            emit(out, &future, h, rows[0], (time, None, true));
        }
        Ok(())
    }
}

/// The fitted history and the forecast of `y` (no NaN), at `level`.
pub fn fit(
    y: &[f64],
    periods: Vec<usize>,
    horizon: usize,
    level: f64,
) -> std::result::Result<(Forecast, Forecast), String> {
    fn both<P: Predict>(
        fitted: P,
        horizon: usize,
        level: f64,
    ) -> std::result::Result<(Forecast, Forecast), String>
    where
        P::Error: std::fmt::Display,
    {
        let history = fitted.predict_in_sample(level).map_err(|e| e.to_string())?;
        let future = fitted.predict(horizon, level).map_err(|e| e.to_string())?;
        Ok((history, future))
    }
    if periods.is_empty() {
        let fitted = AutoETS::non_seasonal()
            .fit(y)
            .map_err(|e| format!("no ETS model fits: {e}"))?;
        both(fitted, horizon, level)
    } else {
        let fitted = MSTLModel::new(periods, AutoETS::non_seasonal().into_trend_model())
            .fit(y)
            .map_err(|e| format!("no MSTL model fits: {e}"))?;
        both(fitted, horizon, level)
    }
}

/// Fills NaN by linear interpolation between the nearest values, and the ends by the nearest value.
fn interpolate(y: &mut [f64]) {
    let known: Vec<usize> = (0..y.len()).filter(|&i| !y[i].is_nan()).collect();
    let (Some(&first), Some(&last)) = (known.first(), known.last()) else {
        return;
    };
    for i in 0..first {
        y[i] = y[first];
    }
    for i in last + 1..y.len() {
        y[i] = y[last];
    }
    for w in known.windows(2) {
        let (a, b) = (w[0], w[1]);
        for i in a + 1..b {
            let f = (i - a) as f64 / (b - a) as f64;
            y[i] = y[a] + f * (y[b] - y[a]);
        }
    }
}

/// What a time column's integers count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeKind {
    /// Days since 1970-01-01 (`DATE`).
    Days,
    /// Ticks of `1 / per_second` seconds since 1970-01-01 00:00 UTC (timestamps, `Date64`).
    Ticks { per_second: i64 },
    /// Plain integers (a period number, a year).
    Integer,
}

impl TimeKind {
    pub fn of(t: &DataType) -> Option<TimeKind> {
        Some(match t {
            DataType::Date32 => TimeKind::Days,
            DataType::Date64 => TimeKind::Ticks { per_second: 1_000 },
            DataType::Timestamp(unit, _) => TimeKind::Ticks {
                per_second: match unit {
                    TimeUnit::Second => 1,
                    TimeUnit::Millisecond => 1_000,
                    TimeUnit::Microsecond => 1_000_000,
                    TimeUnit::Nanosecond => 1_000_000_000,
                },
            },
            t if t.is_integer() => TimeKind::Integer,
            _ => return None,
        })
    }

    fn per_day(self) -> Option<i64> {
        match self {
            TimeKind::Days => Some(1),
            TimeKind::Ticks { per_second } => Some(per_second * 86_400),
            TimeKind::Integer => None,
        }
    }

    fn to_datetime(self, t: i64) -> Option<NaiveDateTime> {
        match self {
            TimeKind::Days => {
                NaiveDate::from_num_days_from_ce_opt(i32::try_from(t).ok()? + 719_163)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            }
            TimeKind::Ticks { per_second } => {
                let secs = t.div_euclid(per_second);
                let nanos = t.rem_euclid(per_second) * (1_000_000_000 / per_second);
                DateTime::from_timestamp(secs, nanos as u32).map(|d| d.naive_utc())
            }
            TimeKind::Integer => None,
        }
    }

    fn ticks_of(self, d: NaiveDateTime) -> Option<i64> {
        match self {
            TimeKind::Days => Some(i64::from(d.date().num_days_from_ce()) - 719_163),
            TimeKind::Ticks { per_second } => {
                let u = d.and_utc();
                u.timestamp().checked_mul(per_second)?.checked_add(
                    i64::from(u.timestamp_subsec_nanos()) / (1_000_000_000 / per_second),
                )
            }
            TimeKind::Integer => None,
        }
    }

    fn render(self, t: i64) -> String {
        match self.to_datetime(t) {
            Some(d) if self == TimeKind::Days => d.date().to_string(),
            Some(d) => d.to_string(),
            None => t.to_string(),
        }
    }
}

/// A series' period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// A fixed number of the time column's units.
    Ticks(i64),
    /// Calendar months (1, 3, 6 or 12); `month_end` when every time is its month's last day.
    Months { months: u32, month_end: bool },
}

fn is_month_end(d: NaiveDateTime) -> bool {
    d.date().succ_opt().is_none_or(|n| n.month() != d.month())
}

fn month_index(d: NaiveDateTime) -> i64 {
    i64::from(d.year()) * 12 + i64::from(d.month0())
}

impl Step {
    /// The period of sorted, distinct times.
    fn of(t: &[i64], kind: TimeKind) -> std::result::Result<Step, String> {
        let smallest = t.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(1);
        if let Some(per_day) = kind.per_day()
            && smallest >= 28 * per_day
            && let Some(dates) = t
                .iter()
                .map(|&x| kind.to_datetime(x))
                .collect::<Option<Vec<_>>>()
        {
            let same_time = dates.iter().all(|d| d.time() == dates[0].time());
            let same_day = dates.iter().all(|d| d.day() == dates[0].day());
            let month_end = dates.iter().all(|&d| is_month_end(d));
            if same_time && (same_day || month_end) {
                let gaps: Vec<i64> = dates
                    .windows(2)
                    .map(|w| month_index(w[1]) - month_index(w[0]))
                    .collect();
                let least = gaps.iter().copied().min().unwrap_or(1);
                if let Some(&months) = [12, 6, 3, 1]
                    .iter()
                    .find(|&&m| least >= m && gaps.iter().all(|g| g % m == 0))
                {
                    return Ok(Step::Months {
                        months: months as u32,
                        month_end: month_end && !same_day,
                    });
                }
            }
        }
        if let Some(w) = t.windows(2).find(|w| (w[1] - w[0]) % smallest != 0) {
            return Err(format!(
                "its times are not evenly spaced: {} to {} is not a multiple of the smallest step, {}",
                kind.render(w[0]),
                kind.render(w[1]),
                Step::Ticks(smallest).render(kind)
            ));
        }
        Ok(Step::Ticks(smallest))
    }

    /// How many periods `x` is after `start`.
    fn periods(self, start: i64, x: i64, kind: TimeKind) -> usize {
        match self {
            Step::Ticks(s) => ((x - start) / s) as usize,
            Step::Months { months, .. } => match (kind.to_datetime(start), kind.to_datetime(x)) {
                (Some(a), Some(b)) => {
                    ((month_index(b) - month_index(a)) / i64::from(months)) as usize
                }
                _ => 0,
            },
        }
    }

    /// The time `n` periods after `last`.
    fn after(self, last: i64, n: usize, kind: TimeKind) -> std::result::Result<i64, String> {
        let out_of_range =
            || format!("the forecast's times run past what the time column holds, {n} periods on");
        match self {
            Step::Ticks(s) => (n as i64)
                .checked_mul(s)
                .and_then(|d| last.checked_add(d))
                .ok_or_else(out_of_range),
            Step::Months { months, month_end } => {
                let d = kind.to_datetime(last).ok_or_else(out_of_range)?;
                let mut next = d
                    .checked_add_months(Months::new(months * n as u32))
                    .ok_or_else(out_of_range)?;
                if month_end {
                    while !is_month_end(next) {
                        next = next
                            .checked_add_days(chrono::Days::new(1))
                            .ok_or_else(out_of_range)?;
                    }
                }
                kind.ticks_of(next).ok_or_else(out_of_range)
            }
        }
    }

    fn render(self, kind: TimeKind) -> String {
        match (self, kind.per_day()) {
            (Step::Months { months, .. }, _) => format!("{months} month(s)"),
            (Step::Ticks(s), Some(per_day)) if s % per_day == 0 => {
                format!("{} day(s)", s / per_day)
            }
            (Step::Ticks(s), Some(per_day)) => {
                let per_second = per_day / 86_400;
                format!("{} second(s)", s as f64 / per_second as f64)
            }
            (Step::Ticks(s), None) => s.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(dates: &[&str]) -> Vec<i64> {
        dates
            .iter()
            .map(|d| {
                let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
                i64::from(d.num_days_from_ce()) - 719_163
            })
            .collect()
    }

    #[test]
    fn months_are_calendar_months_and_month_ends_stay_month_ends() {
        let t = days(&["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]);
        let step = Step::of(&t, TimeKind::Days).unwrap();
        assert_eq!(
            step,
            Step::Months {
                months: 1,
                month_end: true
            }
        );
        let next = step.after(t[3], 1, TimeKind::Days).unwrap();
        assert_eq!(TimeKind::Days.render(next), "2024-05-31");
        let t = days(&["2023-01-15", "2023-04-15", "2023-10-15"]);
        let step = Step::of(&t, TimeKind::Days).unwrap();
        assert_eq!(
            step,
            Step::Months {
                months: 3,
                month_end: false
            }
        );
        assert_eq!(step.periods(t[0], t[2], TimeKind::Days), 3);
    }

    #[test]
    fn uneven_times_are_refused_by_name() {
        let e = Step::of(&[0, 10, 25], TimeKind::Integer).unwrap_err();
        assert!(e.contains("not evenly spaced"), "{e}");
        let hourly = TimeKind::Ticks { per_second: 1 };
        assert_eq!(
            Step::of(&[0, 3600, 10800], hourly).unwrap(),
            Step::Ticks(3600)
        );
    }

    #[test]
    fn gaps_are_interpolated_and_ends_carried() {
        let mut y = vec![f64::NAN, 1.0, f64::NAN, 3.0, f64::NAN];
        interpolate(&mut y);
        assert_eq!(y, vec![1.0, 1.0, 2.0, 3.0, 3.0]);
    }
}
