//! Partition projection, as Athena's: a table whose properties say `projection.enabled` = `true` has its
//! partitions computed from those properties, never listed or read from the registry.
//!
//! Per partition key, `projection.<key>.type` is one of
//! - `integer`: `range` = `min,max`, optional `interval` (step, default 1) and `digits` (zero-padded width);
//! - `enum`: `values` = `a,b,c`;
//! - `date`: `range` = `start,end` where each end is a date in `format` or `NOW[±N UNIT]`, `format` (a Java
//!   `DateTimeFormatter` pattern), optional `interval` (default 1) and `interval.unit` (default: the finest
//!   field the format writes); UTC;
//! - `injected`: any value, but a query must give it by equality (`key = 'v'` or `key IN (...)`).
//!
//! `storage.location.template` (`s3://bucket/logs/${year}/${month}/`) says where a partition's files are;
//! without it they are Hive's `key=value/` folders under the table's location. A query's equality filters on the
//! keys give their values directly (a ten-year hourly projection queried for one hour projects one prefix); the
//! other keys' values are enumerated; then every partition filter is evaluated over the projected values, as over
//! registry partitions. A projected prefix that holds no files gives no rows.
//!
//! The invariant: a projected value names one folder. A value with a `.` or `..` path segment never becomes a
//! prefix (an injected value comes from the query text), and a template's fixed part lies under the server's
//! roots (checked when the properties are written).

use super::TableDef;
use super::location::{check_allowed, resolve_dir};
use crate::error::{Error, Result};
use chrono::{Datelike, Duration, Months, NaiveDateTime, Utc};

/// More combinations than this is an error naming the keys to filter on (enumerating them would take longer than
/// the query).
pub(crate) const MAX_PROJECTED: usize = 1_000_000;

/// Whether `def` is projected.
pub(crate) fn enabled(def: &TableDef) -> bool {
    def.properties
        .get("projection.enabled")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A table's projection, parsed from its properties.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Projection {
    /// One rule per partition key, in key order.
    pub(crate) keys: Vec<(String, Rule)>,
    /// `storage.location.template`.
    pub(crate) template: Option<String>,
}

/// How one key's values are projected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    Integer {
        min: i64,
        max: i64,
        interval: i64,
        digits: usize,
    },
    Enum(Vec<String>),
    Date(DateRule),
    Injected,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DateRule {
    /// The Java pattern as written, and as chrono's.
    pattern: String,
    format: String,
    start: Bound,
    end: Bound,
    interval: i64,
    unit: Unit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    At(NaiveDateTime),
    /// `NOW` plus this many units (negative: before).
    Now(i64, Unit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unit {
    Millis,
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
    Months,
    Years,
}

impl Unit {
    fn parse(s: &str) -> Option<Unit> {
        let s = s.trim().to_ascii_uppercase();
        let s = s.strip_suffix('S').unwrap_or(&s);
        Some(match s {
            "MILLI" | "MILLISECOND" => Unit::Millis,
            "SECOND" => Unit::Seconds,
            "MINUTE" => Unit::Minutes,
            "HOUR" => Unit::Hours,
            "DAY" => Unit::Days,
            "WEEK" => Unit::Weeks,
            "MONTH" => Unit::Months,
            "YEAR" => Unit::Years,
            _ => return None,
        })
    }

    /// `t` plus `n` of this unit; None past chrono's range.
    fn add(self, t: NaiveDateTime, n: i64) -> Option<NaiveDateTime> {
        let fixed = |d: Option<Duration>| d.and_then(|d| t.checked_add_signed(d));
        match self {
            Unit::Millis => fixed(Duration::try_milliseconds(n)),
            Unit::Seconds => fixed(Duration::try_seconds(n)),
            Unit::Minutes => fixed(Duration::try_minutes(n)),
            Unit::Hours => fixed(Duration::try_hours(n)),
            Unit::Days => fixed(Duration::try_days(n)),
            Unit::Weeks => fixed(Duration::try_weeks(n)),
            Unit::Months | Unit::Years => {
                let months = if self == Unit::Years {
                    n.checked_mul(12)?
                } else {
                    n
                };
                let m = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
                if months >= 0 {
                    t.checked_add_months(m)
                } else {
                    t.checked_sub_months(m)
                }
            }
        }
    }
}

impl Projection {
    /// The projection `def`'s properties describe: None when it is not projected, an error naming the property
    /// that is wrong.
    pub(crate) fn of(def: &TableDef) -> Result<Option<Projection>> {
        if !enabled(def) {
            return Ok(None);
        }
        let prop = |k: &str| def.properties.get(k).map(|v| v.trim());
        let bad = |key: &str, what: String| {
            Error::Query(format!(
                "table `{}.{}`: partition projection of `{key}`: {what}",
                def.database, def.name
            ))
        };
        if def.partition_keys.is_empty() {
            return Err(Error::Query(format!(
                "table `{}.{}` has `projection.enabled` but no partition keys",
                def.database, def.name
            )));
        }
        let mut keys = Vec::new();
        for key in &def.partition_keys {
            let k = &key.name;
            let p = |what: &str| prop(&format!("projection.{k}.{what}"));
            let ty = p("type").ok_or_else(|| {
                bad(
                    k,
                    format!("`projection.{k}.type` is missing (integer, enum, date or injected)"),
                )
            })?;
            let int = |what: &str, default: i64| -> Result<i64> {
                match p(what) {
                    None => Ok(default),
                    Some(v) => v.parse().map_err(|_| {
                        bad(
                            k,
                            format!("`projection.{k}.{what}` = `{v}` is not an integer"),
                        )
                    }),
                }
            };
            let rule = match ty.to_ascii_lowercase().as_str() {
                "integer" => {
                    let range = p("range")
                        .ok_or_else(|| bad(k, format!("`projection.{k}.range` is missing")))?;
                    let ends: Vec<Option<i64>> =
                        range.split(',').map(|s| s.trim().parse().ok()).collect();
                    let [Some(min), Some(max)] = ends[..] else {
                        return Err(bad(
                            k,
                            format!("`projection.{k}.range` = `{range}` is not `min,max`"),
                        ));
                    };
                    let interval = int("interval", 1)?;
                    if interval < 1 || min > max {
                        return Err(bad(k, format!("range `{range}` by `{interval}` is empty")));
                    }
                    let digits = int("digits", 0)?;
                    Rule::Integer {
                        min,
                        max,
                        interval,
                        digits: usize::try_from(digits).unwrap_or(0).min(20),
                    }
                }
                "enum" => {
                    let values = p("values")
                        .ok_or_else(|| bad(k, format!("`projection.{k}.values` is missing")))?;
                    Rule::Enum(values.split(',').map(|s| s.trim().to_string()).collect())
                }
                "date" => {
                    let pattern = p("format")
                        .ok_or_else(|| bad(k, format!("`projection.{k}.format` is missing")))?;
                    let (format, finest) = java_format(pattern).map_err(|e| bad(k, e))?;
                    let range = p("range")
                        .ok_or_else(|| bad(k, format!("`projection.{k}.range` is missing")))?;
                    let ends: Vec<&str> = range.split(',').collect();
                    let [start, end] = ends[..] else {
                        return Err(bad(
                            k,
                            format!("`projection.{k}.range` = `{range}` is not `start,end`"),
                        ));
                    };
                    let bound = |s: &str| {
                        parse_bound(s, &format).ok_or_else(|| {
                            bad(
                                k,
                                format!(
                                    "range end `{}` is neither a date in `{pattern}` nor NOW[+-N UNIT]",
                                    s.trim()
                                ),
                            )
                        })
                    };
                    let unit = match p("interval.unit") {
                        None => finest,
                        Some(u) => Unit::parse(u).ok_or_else(|| {
                            bad(k, format!("interval unit `{u}` is not one of YEARS, MONTHS, WEEKS, DAYS, HOURS, MINUTES, SECONDS, MILLIS"))
                        })?,
                    };
                    let interval = int("interval", 1)?;
                    if interval < 1 {
                        return Err(bad(k, format!("interval `{interval}` is not positive")));
                    }
                    let (start, end) = (bound(start)?, bound(end)?);
                    Rule::Date(DateRule {
                        pattern: pattern.to_string(),
                        format,
                        start,
                        end,
                        interval,
                        unit,
                    })
                }
                "injected" => Rule::Injected,
                other => {
                    return Err(bad(
                        k,
                        format!("type `{other}` is not integer, enum, date or injected"),
                    ));
                }
            };
            keys.push((k.clone(), rule));
        }
        let template = prop("storage.location.template").map(str::to_string);
        if let Some(t) = &template {
            for (k, _) in &keys {
                if !t.contains(&format!("${{{k}}}")) {
                    return Err(bad(
                        k,
                        format!("`storage.location.template` = `{t}` does not name `${{{k}}}`"),
                    ));
                }
            }
        }
        Ok(Some(Projection { keys, template }))
    }

    /// The values of key `i`: those `given` (a query's equalities) that lie in its projection, or all of them.
    /// `now` is the query's time (UTC).
    #[cfg(test)]
    pub(crate) fn values(
        &self,
        i: usize,
        given: Option<&[String]>,
        now: NaiveDateTime,
        table: &str,
    ) -> Result<Vec<String>> {
        self.values_in(i, given, &Range::default(), now, table)
    }

    /// [`values`](Self::values), of a date key only those within `range` (a query's `>`, `>=`, `<`, `<=` and
    /// `BETWEEN` on it) where the format writes dates whose text sorts as they do (`yyyy/MM/dd/HH`): a superset
    /// of the values the filters keep, which are applied after. A bound in another shape bounds nothing.
    pub(crate) fn values_in(
        &self,
        i: usize,
        given: Option<&[String]>,
        range: &Range,
        now: NaiveDateTime,
        table: &str,
    ) -> Result<Vec<String>> {
        let (key, rule) = &self.keys[i];
        let too_many = || {
            Error::Query(format!(
                "table `{table}`: the projection of `{key}` has more than {MAX_PROJECTED} values: filter `{key}` with `=` or `IN`"
            ))
        };
        Ok(match (rule, given) {
            (Rule::Injected, None) => {
                return Err(Error::Query(format!(
                    "table `{table}`: `{key}` is an injected projected partition key: the WHERE clause must give its values with `{key} = '...'` or `{key} IN (...)`"
                )));
            }
            (Rule::Injected, Some(given)) => given.to_vec(),
            (Rule::Enum(values), Some(given)) => given
                .iter()
                .filter(|g| values.contains(g))
                .cloned()
                .collect(),
            (Rule::Enum(values), None) => values.clone(),
            (
                Rule::Integer {
                    min,
                    max,
                    interval,
                    digits,
                },
                given,
            ) => {
                let show = |n: i64| format!("{n:0digits$}");
                match given {
                    Some(given) => given
                        .iter()
                        .filter_map(|g| g.trim().parse::<i64>().ok())
                        .filter(|n| n >= min && n <= max && (n - min) % interval == 0)
                        .map(show)
                        .collect(),
                    None => {
                        let count = (max - min) / interval + 1;
                        if count > MAX_PROJECTED as i64 {
                            return Err(too_many());
                        }
                        (0..count).map(|j| show(min + j * interval)).collect()
                    }
                }
            }
            (Rule::Date(d), given) => {
                let start = d.resolve(d.start, now);
                let end = d.resolve(d.end, now);
                match given {
                    Some(given) => given
                        .iter()
                        .filter(|g| {
                            parse_date(g, &d.format).is_some_and(|t| {
                                t >= start
                                    && t <= end
                                    && t.format(&d.format).to_string() == **g
                                    && d.aligned(start, t)
                            })
                        })
                        .cloned()
                        .collect(),
                    None => {
                        let (low, high) = d.within(range);
                        let end = high.map_or(end, |h| h.min(end));
                        let mut out = Vec::new();
                        let mut n = low.map_or(0, |l| d.steps_before(start, l));
                        while let Some(t) = d.unit.add(start, n * d.interval) {
                            if t > end {
                                break;
                            }
                            if low.is_some_and(|l| t < l) {
                                n += 1;
                                continue;
                            }
                            if out.len() == MAX_PROJECTED {
                                return Err(too_many());
                            }
                            out.push(t.format(&d.format).to_string());
                            n += 1;
                        }
                        out
                    }
                }
            }
        })
    }

    /// Where the partition with these values keeps its files: the template with each `${key}` replaced, or
    /// Hive's folders under the table's location (relative to it). An error for a value that is no folder name.
    pub(crate) fn location(&self, values: &[String], table: &str) -> Result<String> {
        for ((key, _), v) in self.keys.iter().zip(values) {
            if v.is_empty() || v.split('/').any(|s| s == "." || s == "..") || v.contains('\\') {
                return Err(Error::Query(format!(
                    "table `{table}`: `{v}` is no value of projected key `{key}` owl reads (it would leave the partition's folder)"
                )));
            }
        }
        Ok(match &self.template {
            Some(t) => {
                let mut out = t.clone();
                for ((key, _), v) in self.keys.iter().zip(values) {
                    out = out.replace(&format!("${{{key}}}"), v);
                }
                out
            }
            None => {
                let keys: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
                super::location::hive_folder(&keys, values)
            }
        })
    }

    /// The keys' rules in words, for `EXPLAIN`: `dt: date 2020/01/01..NOW by 1 hours`.
    pub(crate) fn describe(&self) -> String {
        self.keys
            .iter()
            .map(|(k, r)| match r {
                Rule::Integer { min, max, .. } => format!("{k}: integer {min}..{max}"),
                Rule::Enum(v) => format!("{k}: enum of {}", v.len()),
                Rule::Date(d) => format!("{k}: date `{}`", d.pattern),
                Rule::Injected => format!("{k}: injected"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A query's bounds on a partition key, as written (`day >= '2024/06/01'`): lower bounds and upper bounds,
/// inclusive or not (both are read as inclusive: the filters themselves are applied after).
#[derive(Debug, Clone, Default)]
pub(crate) struct Range {
    pub lower: Vec<String>,
    pub upper: Vec<String>,
}

impl DateRule {
    /// Whether the format's text sorts as its dates do: fixed-width fields from the year down, each finer than the
    /// one before (`%Y/%m/%d`, `%Y-%m-%d-%H`), separated by fixed text.
    fn sorts_as_dates(&self) -> bool {
        const ORDER: [&str; 6] = ["%Y", "%m", "%d", "%H", "%M", "%S"];
        let mut next = 0;
        let mut rest = self.format.as_str();
        while let Some(p) = rest.find('%') {
            let spec = rest.get(p..p + 2).unwrap_or("");
            match ORDER[next..].iter().position(|o| *o == spec) {
                // The year first; after it, no field skipped (`%Y%d` does not sort).
                Some(0) => next += 1,
                _ => return false,
            }
            rest = &rest[p + 2..];
        }
        next > 0
    }

    /// The dates `range` bounds key values to (earliest, latest), where the format sorts as dates and a bound is
    /// a value as the format writes it.
    fn within(&self, range: &Range) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
        if !self.sorts_as_dates() {
            return (None, None);
        }
        let parsed = |v: &String| {
            parse_date(v, &self.format).filter(|t| t.format(&self.format).to_string() == *v)
        };
        (
            range.lower.iter().filter_map(parsed).max(),
            range.upper.iter().filter_map(parsed).min(),
        )
    }

    /// Intervals from `start` that lie wholly before `t` (0 for a `t` before `start`), counted without stepping
    /// for units of fixed length.
    fn steps_before(&self, start: NaiveDateTime, t: NaiveDateTime) -> i64 {
        let one = match self.unit {
            Unit::Millis => 1,
            Unit::Seconds => 1_000,
            Unit::Minutes => 60_000,
            Unit::Hours => 3_600_000,
            Unit::Days => 86_400_000,
            Unit::Weeks => 7 * 86_400_000,
            // Calendar units step from the start (at most 12 a year).
            Unit::Months | Unit::Years => return 0,
        };
        ((t - start).num_milliseconds() / (one * self.interval)).max(0)
    }

    /// A bound at `now`, cut to what the format writes (`NOW` with an hourly format is this hour).
    fn resolve(&self, b: Bound, now: NaiveDateTime) -> NaiveDateTime {
        let t = match b {
            Bound::At(t) => t,
            Bound::Now(n, unit) => unit.add(now, n).unwrap_or(now),
        };
        parse_date(&t.format(&self.format).to_string(), &self.format).unwrap_or(t)
    }

    /// Whether `t` is a whole number of intervals after `start`.
    fn aligned(&self, start: NaiveDateTime, t: NaiveDateTime) -> bool {
        let steps = match self.unit {
            Unit::Months | Unit::Years => {
                let months = (t.year() as i64 * 12 + t.month0() as i64)
                    - (start.year() as i64 * 12 + start.month0() as i64);
                if self.unit == Unit::Years {
                    months / 12
                } else {
                    months
                }
            }
            unit => {
                let one = match unit {
                    Unit::Millis => 1,
                    Unit::Seconds => 1_000,
                    Unit::Minutes => 60_000,
                    Unit::Hours => 3_600_000,
                    Unit::Days => 86_400_000,
                    _ => 7 * 86_400_000,
                };
                (t - start).num_milliseconds() / one
            }
        };
        steps % self.interval == 0 && self.unit.add(start, steps) == Some(t)
    }
}

/// Now, as a query projects dates: UTC.
pub(crate) fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn parse_bound(s: &str, format: &str) -> Option<Bound> {
    let s = s.trim();
    let upper = s.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("NOW") {
        let rest = rest.trim();
        if rest.is_empty() {
            return Some(Bound::Now(0, Unit::Days));
        }
        let (sign, rest) = match rest.as_bytes()[0] {
            b'+' => (1, &rest[1..]),
            b'-' => (-1, &rest[1..]),
            _ => return None,
        };
        let rest = rest.trim();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = Unit::parse(&rest[digits..])?;
        return Some(Bound::Now(sign * n, unit));
    }
    parse_date(s, format).map(Bound::At)
}

/// `s` in chrono's `format`, the fields the format lacks taken as their first (a monthly `2024/06` is
/// 2024-06-01 00:00).
fn parse_date(s: &str, format: &str) -> Option<NaiveDateTime> {
    let mut f = format.to_string();
    let mut v = s.to_string();
    for (field, pad) in [
        ("%m", "01"),
        ("%d", "01"),
        ("%H", "00"),
        ("%M", "00"),
        ("%S", "00"),
    ] {
        if !format.contains(field) {
            f.push_str(&format!("\u{1}{field}"));
            v.push_str(&format!("\u{1}{pad}"));
        }
    }
    NaiveDateTime::parse_from_str(&v, &f).ok()
}

/// A Java `DateTimeFormatter` pattern as chrono's format, and the finest unit it writes.
fn java_format(pattern: &str) -> std::result::Result<(String, Unit), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut finest = None::<Unit>;
    let mut seen = |u: Unit| finest = Some(finest.map_or(u, |f| f.min(u)));
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == '\'' {
            // A quoted literal; `''` is a quote.
            let end = chars[i + 1..].iter().position(|&x| x == '\'');
            match end {
                Some(0) => out.push('\''),
                Some(n) => {
                    for &x in &chars[i + 1..i + 1 + n] {
                        if x == '%' {
                            out.push_str("%%");
                        } else {
                            out.push(x);
                        }
                    }
                }
                None => return Err(format!("date format `{pattern}` has an unclosed quote")),
            }
            i += end.unwrap_or(0) + 2;
            continue;
        }
        if c.is_ascii_alphabetic() {
            let (spec, unit) = match (c, run) {
                ('y' | 'u', 2) => ("%y", Unit::Years),
                ('y' | 'u', _) => ("%Y", Unit::Years),
                ('M', 1 | 2) => ("%m", Unit::Months),
                ('d', 1 | 2) => ("%d", Unit::Days),
                ('H', 1 | 2) => ("%H", Unit::Hours),
                ('m', 1 | 2) => ("%M", Unit::Minutes),
                ('s', 1 | 2) => ("%S", Unit::Seconds),
                ('S', 3) => ("%3f", Unit::Millis),
                _ => {
                    return Err(format!(
                        "date format `{pattern}`: `{}` is not a field owl projects (y, M, d, H, m, s, SSS)",
                        chars[i..i + run].iter().collect::<String>()
                    ));
                }
            };
            out.push_str(spec);
            seen(unit);
        } else {
            for _ in 0..run {
                if c == '%' {
                    out.push_str("%%");
                } else {
                    out.push(c);
                }
            }
        }
        i += run;
    }
    if !out.contains("%Y") && !out.contains("%y") {
        return Err(format!("date format `{pattern}` has no year"));
    }
    Ok((out, finest.unwrap_or(Unit::Days)))
}

/// A template's fixed part (before its first `${`) must lie under the server's roots and in the table's store:
/// checked whenever a table's properties are written.
pub(crate) fn check_template(def: &TableDef, registry: &super::Registry) -> Result<()> {
    let Some(t) = def.properties.get("storage.location.template") else {
        return Ok(());
    };
    let fixed = &t[..t.find("${").unwrap_or(t.len())];
    let fixed = &fixed[..fixed.rfind('/').map_or(0, |i| i + 1)];
    let bad = |reason: String| Error::InvalidLocation {
        location: t.clone(),
        reason,
    };
    let table = resolve_dir(&def.location, registry.root())?;
    let url = if fixed.contains("://") || fixed.starts_with('/') {
        resolve_dir(fixed, registry.root())?
    } else {
        super::location::join_partition(&table, fixed, registry.root())?
    };
    if url.scheme() != table.scheme() || url.authority() != table.authority() {
        return Err(bad(format!(
            "a partition lives in its table's store (`{}://{}`)",
            table.scheme(),
            table.authority()
        )));
    }
    check_allowed(&url, registry.allowed_roots())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::{Column, FormatSpec};

    fn table(props: &[(&str, &str)], keys: &[&str]) -> TableDef {
        let mut def = TableDef::new("t", "db", "s3://b/t/".into(), FormatSpec::parquet());
        def.partition_keys = keys.iter().map(|k| Column::new(*k, "string")).collect();
        def.properties = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        def
    }

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn java_patterns_become_chronos() {
        assert_eq!(
            java_format("yyyy/MM/dd/HH").unwrap(),
            ("%Y/%m/%d/%H".into(), Unit::Hours)
        );
        assert_eq!(
            java_format("yyyy-MM-dd").unwrap(),
            ("%Y-%m-%d".into(), Unit::Days)
        );
        assert_eq!(
            java_format("yyyyMMdd'T'HHmm").unwrap(),
            ("%Y%m%dT%H%M".into(), Unit::Minutes)
        );
        assert_eq!(java_format("yyyy/MM").unwrap().1, Unit::Months);
        assert!(java_format("EEE yyyy").unwrap_err().contains("`EEE`"));
        assert!(java_format("MM-dd").unwrap_err().contains("no year"));
    }

    #[test]
    fn integer_enum_and_injected_values() {
        let def = table(
            &[
                ("projection.enabled", "true"),
                ("projection.h.type", "integer"),
                ("projection.h.range", "0,23"),
                ("projection.h.digits", "2"),
                ("projection.r.type", "enum"),
                ("projection.r.values", "eu, us"),
                ("projection.c.type", "injected"),
            ],
            &["h", "r", "c"],
        );
        let p = Projection::of(&def).unwrap().unwrap();
        let now = at("2024-06-01 10:30:00");
        let h = p.values(0, None, now, "t").unwrap();
        assert_eq!(h.len(), 24);
        assert_eq!((h[0].as_str(), h[23].as_str()), ("00", "23"));
        // Given values: in range and padded, else gone.
        let given = ["7".to_string(), "24".into(), "x".into()];
        assert_eq!(p.values(0, Some(&given), now, "t").unwrap(), vec!["07"]);
        assert_eq!(p.values(1, None, now, "t").unwrap(), vec!["eu", "us"]);
        assert!(
            p.values(2, None, now, "t")
                .unwrap_err()
                .to_string()
                .contains("injected")
        );
        assert_eq!(
            p.location(&["07".into(), "eu".into(), "a b".into()], "t")
                .unwrap(),
            "h=07/r=eu/c=a b/"
        );
        assert!(
            p.location(&["07".into(), "eu".into(), "../x".into()], "t")
                .is_err()
        );
    }

    #[test]
    fn only_formats_that_sort_as_dates_take_bounds() {
        let rule = |format: &str| {
            let def = table(
                &[
                    ("projection.enabled", "true"),
                    ("projection.dt.type", "date"),
                    ("projection.dt.format", format),
                    ("projection.dt.range", "2024-01-01,NOW"),
                ],
                &["dt"],
            );
            let def = TableDef {
                properties: def
                    .properties
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if k == "projection.dt.range" {
                            format!(
                                "{},NOW",
                                at("2024-01-01 00:00:00").format(&java_format(format).unwrap().0)
                            )
                        } else {
                            v
                        };
                        (k, v)
                    })
                    .collect(),
                ..def
            };
            match &Projection::of(&def).unwrap().unwrap().keys[0].1 {
                Rule::Date(d) => d.sorts_as_dates(),
                _ => unreachable!(),
            }
        };
        for yes in ["yyyy/MM/dd", "yyyy-MM-dd-HH", "yyyyMMdd", "yyyy/MM", "yyyy"] {
            assert!(rule(yes), "{yes}");
        }
        for no in ["dd-MM-yyyy", "MM/dd/yyyy", "yyyy/dd"] {
            assert!(!rule(no), "{no}");
        }
    }

    #[test]
    fn dates_from_a_start_to_now() {
        let def = table(
            &[
                ("projection.enabled", "true"),
                ("projection.dt.type", "date"),
                ("projection.dt.format", "yyyy/MM/dd/HH"),
                ("projection.dt.range", "NOW-2DAYS,NOW"),
                ("storage.location.template", "s3://b/logs/${dt}/"),
            ],
            &["dt"],
        );
        let p = Projection::of(&def).unwrap().unwrap();
        let now = at("2024-06-03 10:30:00");
        let all = p.values(0, None, now, "t").unwrap();
        // Hourly (the format's finest field) from 2024/06/01/10 to 2024/06/03/10.
        assert_eq!(all.len(), 49);
        assert_eq!(all[0], "2024/06/01/10");
        assert_eq!(all[48], "2024/06/03/10");
        let given = [
            "2024/06/02/05".to_string(),
            "2024/06/01/09".into(),
            "2024/6/02/05".into(),
        ];
        assert_eq!(
            p.values(0, Some(&given), now, "t").unwrap(),
            vec!["2024/06/02/05"]
        );
        assert_eq!(
            p.location(&["2024/06/02/05".into()], "t").unwrap(),
            "s3://b/logs/2024/06/02/05/"
        );
        // A query's range bounds what is enumerated: one day of hours, not all of them.
        let range = |lower: &[&str], upper: &[&str]| Range {
            lower: lower.iter().map(|s| s.to_string()).collect(),
            upper: upper.iter().map(|s| s.to_string()).collect(),
        };
        let day = p
            .values_in(
                0,
                None,
                &range(&["2024/06/02/00"], &["2024/06/02/23"]),
                now,
                "t",
            )
            .unwrap();
        assert_eq!(day.len(), 24);
        assert_eq!(
            (day[0].as_str(), day[23].as_str()),
            ("2024/06/02/00", "2024/06/02/23")
        );
        // The tightest bounds win; bounds beyond the projection change nothing.
        let tight = range(
            &["2024/01/01/00", "2024/06/03/08"],
            &["2024/06/03/09", "2030/01/01/00"],
        );
        assert_eq!(
            p.values_in(0, None, &tight, now, "t").unwrap(),
            vec!["2024/06/03/08", "2024/06/03/09"]
        );
        // A bound in another shape (a day, for an hourly key) bounds nothing: the filter alone decides.
        assert_eq!(
            p.values_in(0, None, &range(&["2024/06/02"], &[]), now, "t")
                .unwrap()
                .len(),
            49
        );
        // Every fifth day of a fixed range.
        let def = table(
            &[
                ("projection.enabled", "true"),
                ("projection.d.type", "date"),
                ("projection.d.format", "yyyy-MM-dd"),
                ("projection.d.range", "2024-01-01,2024-01-31"),
                ("projection.d.interval", "5"),
                ("projection.d.interval.unit", "DAYS"),
            ],
            &["d"],
        );
        let p = Projection::of(&def).unwrap().unwrap();
        let all = p.values(0, None, now, "t").unwrap();
        assert_eq!(all.len(), 7);
        assert_eq!(all[6], "2024-01-31");
        let given = ["2024-01-06".to_string(), "2024-01-07".into()];
        assert_eq!(
            p.values(0, Some(&given), now, "t").unwrap(),
            vec!["2024-01-06"]
        );
    }

    #[test]
    fn wrong_properties_name_themselves() {
        let err = |props: &[(&str, &str)]| {
            let mut all = vec![("projection.enabled", "true")];
            all.extend_from_slice(props);
            Projection::of(&table(&all, &["k"]))
                .unwrap_err()
                .to_string()
        };
        assert!(err(&[]).contains("projection.k.type"));
        assert!(
            err(&[
                ("projection.k.type", "integer"),
                ("projection.k.range", "1")
            ])
            .contains("min,max")
        );
        assert!(
            err(&[
                ("projection.k.type", "date"),
                ("projection.k.format", "yyyy"),
                ("projection.k.range", "2020,LATER")
            ])
            .contains("LATER")
        );
        assert!(
            err(&[
                ("projection.k.type", "enum"),
                ("projection.k.values", "a"),
                ("storage.location.template", "s3://b/x/")
            ])
            .contains("${k}")
        );
        // Too many combinations to enumerate.
        let def = table(
            &[
                ("projection.enabled", "true"),
                ("projection.k.type", "integer"),
                ("projection.k.range", "0,9999999"),
            ],
            &["k"],
        );
        let p = Projection::of(&def).unwrap().unwrap();
        assert!(p.values(0, None, now(), "t").is_err());
    }
}
