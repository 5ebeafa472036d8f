//! Anomaly scores, hotspots and forecasts as SQL through the real `owl` binary, each against an independent
//! answer on the same points (`krcflib`'s own API for `random_cut_forest`, a brute-force DBSCAN written here for
//! `hotspots`, `augurs` for `forecast`), plus what the data was made to hold: injected anomalies ranked first,
//! injected dense groups found where and while they are, a seasonal series' held-out future inside the
//! prediction interval.

mod common;

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::prelude::*;
use common::{Fixture, column_names, json_rows as rows, stat};
use rcflib::rcf::{RCFBuilder, RCFOptionsBuilder};
use serde_json::{Value, json};

/// A deterministic pseudo-random stream in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Writes `rows` as an NDJSON table `name` with the given columns (`name type, ...`).
fn table(f: &Fixture, name: &str, columns: &str, rows: &[Value]) -> u64 {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let dir = f.path().join(format!("lake/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), &text).unwrap();
    f.run_ok(&[
        "query",
        &format!(
            "CREATE EXTERNAL TABLE {name} ({columns}) STORED AS JSONFILE LOCATION 'lake/{name}/'"
        ),
    ]);
    text.len() as u64
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Two sensors' readings: `a` and `b` follow slow waves with noise; at `SPIKES` one of them jumps.
const SPIKES: [(usize, &str); 5] = [
    (700, "b"),
    (910, "a"),
    (1230, "b"),
    (1500, "a"),
    (1777, "b"),
];
const N: usize = 2000;

fn readings() -> (Vec<(f64, f64)>, Vec<Value>) {
    let mut rng = Lcg(5);
    let mut points = vec![];
    let mut rows = vec![];
    for i in 0..N {
        let t = i as f64 / 40.0;
        let mut a = 50.0 + 10.0 * t.sin() + rng.next() * 2.0;
        let mut b = 20.0 + 5.0 * (t / 2.0).cos() + rng.next() * 2.0;
        for (at, which) in SPIKES {
            if at == i {
                if which == "a" {
                    a += 40.0;
                } else {
                    b += 30.0;
                }
            }
        }
        // Row 1000's `a` is missing: it scores NULL and is not added.
        let a_value = if i == 1000 { Value::Null } else { json!(a) };
        rows.push(
            json!({"ts": i, "a": a_value, "b": b, "host": if i % 2 == 0 { "x" } else { "y" }}),
        );
        points.push((a, b));
    }
    (points, rows)
}

/// The readings as table `metrics` (ts, a, b, host): the points and the file's size.
fn metrics(f: &Fixture) -> (Vec<(f64, f64)>, u64) {
    let (points, data) = readings();
    let size = table(
        f,
        "metrics",
        "ts bigint, a double, b double, host string",
        &data,
    );
    (points, size)
}

/// The library's own scores of the points (score, then update), skipping the ones marked `None`.
fn library_scores(
    points: &[Option<Vec<f32>>],
    trees: usize,
    seed: u64,
    shingle: usize,
) -> Vec<Option<f64>> {
    let dims = points.iter().flatten().next().unwrap().len();
    let mut forest = RCFBuilder::new(dims, shingle)
        .tree_capacity(256)
        .number_of_trees(trees)
        .random_seed(seed)
        .time_decay(1.0 / 100_000.0)
        .internal_shingling(true)
        .parallel_enabled(false)
        .build_default()
        .unwrap();
    points
        .iter()
        .map(|p| {
            p.as_ref().map(|p| {
                let s = forest.score(p).unwrap();
                forest.update(p, 0).unwrap();
                s
            })
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

#[test]
fn random_cut_forest_scores_equal_krcflibs_and_rank_the_injected_anomalies_first() {
    let f = Fixture::new();
    let (points, size) = metrics(&f);
    let doc = f.json(
        "SELECT ts, random_cut_forest(a, b, 'number_of_trees=50, random_seed=7') OVER (ORDER BY ts) AS s \
         FROM metrics ORDER BY ts",
    );
    // The whole file was read, once.
    assert_eq!(stat(&doc, "bytes_scanned"), size);
    let got: Vec<Option<f64>> = rows(&doc).iter().map(|r| num(&r[1])).collect();
    let library: Vec<Option<Vec<f32>>> = points
        .iter()
        .enumerate()
        .map(|(i, &(a, b))| (i != 1000).then(|| vec![a as f32, b as f32]))
        .collect();
    let want = library_scores(&library, 50, 7, 1);
    assert_eq!(got.len(), N);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        match (g, w) {
            (Some(g), Some(w)) => assert!(close(*g, *w), "row {i}: owl {g}, krcflib {w}"),
            (None, None) => {}
            _ => panic!("row {i}: owl {g:?}, krcflib {w:?}"),
        }
    }
    // The five injected spikes are the five highest scores.
    let mut ranked: Vec<(usize, f64)> = got
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    ranked.sort_by(|x, y| y.1.total_cmp(&x.1));
    let mut top: Vec<usize> = ranked[..5].iter().map(|r| r.0).collect();
    top.sort();
    assert_eq!(
        top,
        SPIKES.map(|s| s.0).to_vec(),
        "top scores: {:?}",
        &ranked[..8]
    );

    // A shingle of 4 and a partition per host: each host's stream is its own forest.
    let doc = f.json(
        "SELECT host, ts, random_cut_forest(a, b, 'number_of_trees=30, shingle_size=4, random_seed=3') \
         OVER (PARTITION BY host ORDER BY ts) FROM metrics ORDER BY host, ts",
    );
    let got = rows(&doc);
    for (h, host) in ["x", "y"].iter().enumerate() {
        let mine: Vec<Option<f64>> = got
            .iter()
            .filter(|r| r[0] == json!(host))
            .map(|r| num(&r[2]))
            .collect();
        let pts: Vec<Option<Vec<f32>>> = (0..N)
            .filter(|i| i % 2 == h)
            .map(|i| (i != 1000).then(|| vec![points[i].0 as f32, points[i].1 as f32]))
            .collect();
        let want = library_scores(&pts, 30, 3, 4);
        assert_eq!(mine.len(), want.len());
        for (i, (g, w)) in mine.iter().zip(&want).enumerate() {
            assert!(
                g.zip(*w).is_none_or(|(g, w)| close(g, w)) && g.is_some() == w.is_some(),
                "{host} row {i}: owl {g:?}, krcflib {w:?}"
            );
        }
    }
}

#[test]
fn the_explanation_splits_the_score_by_column_and_says_which_way() {
    let f = Fixture::new();
    metrics(&f);
    let doc = f.json(
        "SELECT ts, random_cut_forest(a, b, 'random_seed=7') OVER (ORDER BY ts) AS score, \
         random_cut_forest_with_explanation(a, b, 'random_seed=7, with_directionality=true') OVER (ORDER BY ts) AS e \
         FROM metrics ORDER BY ts",
    );
    for r in rows(&doc) {
        let ts = r[0].as_u64().unwrap() as usize;
        let e = &r[2];
        if ts == 1000 {
            assert_eq!(r[1], Value::Null);
            assert_eq!(e["anomaly_score"], Value::Null);
            continue;
        }
        let score = num(&r[1]).unwrap();
        assert!(close(num(&e["anomaly_score"]).unwrap(), score), "row {ts}");
        let explanation: Value =
            serde_json::from_str(e["anomaly_explanation"].as_str().unwrap()).unwrap();
        let share = |c: &str| explanation[c]["ATTRIBUTION_SCORE"].as_f64().unwrap();
        // KDA: the attribution scores add up to the anomaly score.
        assert!(
            (share("a") + share("b") - score).abs() < 1e-6 * (1.0 + score),
            "row {ts}: {explanation}"
        );
        if let Some((_, which)) = SPIKES.iter().find(|s| s.0 == ts) {
            let other = if *which == "a" { "b" } else { "a" };
            assert!(share(which) > share(other), "row {ts}: {explanation}");
            assert_eq!(
                explanation[which]["DIRECTIONALITY"],
                json!("HIGH"),
                "row {ts}"
            );
            let strength = explanation[which]["STRENGTH"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&strength));
        }
    }
}

#[test]
fn random_cut_forest_refuses_bad_arguments_in_one_line() {
    let f = Fixture::new();
    metrics(&f);
    f.fails_naming(
        "SELECT random_cut_forest(a, 'shingle_size=31') OVER (ORDER BY ts) FROM metrics",
        "`shingle_size` is a whole number from 1 to 30",
    );
    f.fails_naming(
        "SELECT random_cut_forest(a, 'trees=3') OVER (ORDER BY ts) FROM metrics",
        "unknown option `trees`",
    );
    f.fails_naming(
        "SELECT random_cut_forest(host, a) OVER (ORDER BY ts) FROM metrics",
        "argument 1 is",
    );
    f.fails_naming(
        "SELECT random_cut_forest(a, host) OVER (ORDER BY ts) FROM metrics",
        "the options are a constant string",
    );
}

/// Monthly sales over `months` months from January 2020: a trend, a yearly season and noise.
fn monthly(months: usize, seed: u64) -> Vec<f64> {
    let mut rng = Lcg(seed);
    (0..months)
        .map(|m| {
            let season = (2.0 * std::f64::consts::PI * (m % 12) as f64 / 12.0).sin();
            1000.0 + 8.0 * m as f64 + 150.0 * season + (rng.next() - 0.5) * 30.0
        })
        .collect()
}

fn month(m: usize) -> String {
    format!("{}-{:02}-01", 2020 + m / 12, m % 12 + 1)
}

fn library_forecast(
    y: &[f64],
    periods: Vec<usize>,
    horizon: usize,
    level: f64,
) -> (Forecast, Forecast) {
    if periods.is_empty() {
        let fit = AutoETS::non_seasonal().fit(y).unwrap();
        (
            fit.predict_in_sample(level).unwrap(),
            fit.predict(horizon, level).unwrap(),
        )
    } else {
        let fit = MSTLModel::new(periods, AutoETS::non_seasonal().into_trend_model())
            .fit(y)
            .unwrap();
        (
            fit.predict_in_sample(level).unwrap(),
            fit.predict(horizon, level).unwrap(),
        )
    }
}

#[test]
fn forecast_equals_augurs_fit_and_the_held_out_year_falls_in_its_interval() {
    let f = Fixture::new();
    let all = monthly(60, 9);
    let (history, future) = all.split_at(48);
    let data: Vec<Value> = history
        .iter()
        .enumerate()
        .map(|(m, v)| json!({"month": month(m), "revenue": v}))
        .collect();
    let size = table(&f, "sales", "month date, revenue double", &data);
    let sql = "SELECT * FROM forecast(TABLE sales, month, revenue, horizon => 12, seasonality => 12, \
               prediction_interval => 90)";
    // The estimate prices the one read of the file without running it; the run reads exactly that.
    let est: Value = serde_json::from_slice(&f.run_ok(&["estimate", "-f", "json", sql])).unwrap();
    assert_eq!(
        est["statements"][0]["bytes_scanned"].as_u64(),
        Some(size),
        "{est}"
    );
    let doc = f.json(sql);
    assert_eq!(stat(&doc, "bytes_scanned"), size);
    assert_eq!(
        column_names(&doc),
        [
            "month",
            "revenue",
            "forecast",
            "forecast_lower",
            "forecast_upper",
            "is_forecast"
        ]
    );
    let got = rows(&doc);
    assert_eq!(got.len(), 60);
    let (fitted, ahead) = library_forecast(history, vec![12], 12, 0.9);
    let ahead_iv = ahead.intervals.as_ref().unwrap();
    let (mut inside, mut error) = (0, 0.0);
    for (m, r) in got.iter().enumerate() {
        assert_eq!(r[0], json!(month(m)), "row {m}");
        if m < 48 {
            assert_eq!(r[5], json!(false));
            assert!(close(num(&r[1]).unwrap(), history[m]));
            assert!(close(num(&r[2]).unwrap(), fitted.point[m]), "row {m}");
        } else {
            let h = m - 48;
            assert_eq!(r[5], json!(true));
            assert_eq!(r[1], Value::Null);
            assert!(close(num(&r[2]).unwrap(), ahead.point[h]), "row {m}");
            let (lo, hi) = (num(&r[3]).unwrap(), num(&r[4]).unwrap());
            assert!(
                close(lo, ahead_iv.lower[h]) && close(hi, ahead_iv.upper[h]),
                "row {m}"
            );
            error += (future[h] - ahead.point[h]).abs() / future[h] / 12.0;
            if (lo..=hi).contains(&future[h]) {
                inside += 1;
            }
        }
    }
    // The held-out year, made by the same process: forecast within 2% on average, and most of it inside the 90%
    // interval (augurs' MSTL interval is the remainder's noise and does not widen with the horizon, so a
    // trend's misses late in the year fall outside: 8 of 12 here).
    assert!(error < 0.02, "mean absolute percentage error {error}");
    assert!(
        inside >= 8,
        "{inside} of 12 held-out months inside the interval"
    );

    // Automatic seasonality is the periodogram's strongest period, as augurs' detector finds it.
    use augurs::seasons::{Detector, PeriodogramDetector};
    let detected = PeriodogramDetector::builder().build().detect(history);
    let period = detected
        .last()
        .map(|&p| p as usize)
        .filter(|&p| 2 * p <= 48);
    let doc = f.json("SELECT forecast FROM forecast(TABLE sales, month, revenue, horizon => 3) WHERE is_forecast");
    let (_, want) = library_forecast(history, period.into_iter().collect(), 3, 0.9);
    for (h, r) in rows(&doc).iter().enumerate() {
        assert!(close(num(&r[0]).unwrap(), want.point[h]), "month {h} ahead");
    }
}

#[test]
fn forecast_by_series_with_gaps_nulls_and_boundaries() {
    let f = Fixture::new();
    let east = monthly(36, 1);
    let west: Vec<f64> = monthly(36, 2).iter().map(|v| v / 10.0).collect();
    let mut data = vec![];
    for m in 0..36 {
        data.push(json!({"region": "east", "day": month(m), "units": east[m]}));
        // West misses month 10 and has no value in month 20.
        if m != 10 {
            let units = if m == 20 { Value::Null } else { json!(west[m]) };
            data.push(json!({"region": "west", "day": month(m), "units": units}));
        }
    }
    // Rows in no order: the answer depends on the set of rows only.
    data.reverse();
    table(
        &f,
        "regions",
        "region string, day date, units double",
        &data,
    );
    let doc = f.json(
        "SELECT region, day, units, forecast, is_forecast FROM forecast(TABLE regions, time => 'day', value => \
         'units', by => 'region', horizon => 6, seasonality => 'none', lower_boundary => 0)",
    );
    let got = rows(&doc);
    assert_eq!(got.len(), 36 + 6 + 35 + 6);
    let mut interpolated = west.clone();
    interpolated[10] = (west[9] + west[11]) / 2.0;
    interpolated[20] = (west[19] + west[21]) / 2.0;
    for (region, series, rows_in) in [("east", &east, 36), ("west", &interpolated, 35)] {
        let mine: Vec<&Vec<Value>> = got.iter().filter(|r| r[0] == json!(region)).collect();
        assert_eq!(mine.len(), rows_in + 6, "{region}");
        let (fitted, ahead) = library_forecast(series, vec![], 6, 0.9);
        let history: Vec<&&Vec<Value>> = mine.iter().filter(|r| r[4] == json!(false)).collect();
        for r in &history {
            let m = (0..36).find(|&m| r[1] == json!(month(m))).unwrap();
            assert!(
                close(num(&r[3]).unwrap(), fitted.point[m].max(0.0)),
                "{region} {m}"
            );
            if region == "west" && m == 20 {
                assert_eq!(r[2], Value::Null);
            }
        }
        assert!(
            history
                .iter()
                .all(|r| r[1] != json!(month(10)) || region == "east")
        );
        let ahead_rows: Vec<&&Vec<Value>> = mine.iter().filter(|r| r[4] == json!(true)).collect();
        for (h, r) in ahead_rows.iter().enumerate() {
            assert_eq!(r[1], json!(month(36 + h)));
            assert!(
                close(num(&r[3]).unwrap(), ahead.point[h].max(0.0)),
                "{region} +{h}"
            );
        }
    }
    assert_eq!(
        got[0][0],
        json!("east"),
        "series in the order of their by values"
    );
}

#[test]
fn forecast_refuses_what_it_cannot_forecast_in_one_line() {
    let f = Fixture::new();
    let data: Vec<Value> = (0..24)
        .map(|m| json!({"month": month(m), "revenue": m as f64, "note": "x"}))
        .chain([json!({"month": month(5), "revenue": 1.0, "note": "again"})])
        .collect();
    table(&f, "dup", "month date, revenue double, note string", &data);
    f.fails_naming(
        "SELECT * FROM forecast(TABLE dup, month, revenue, horizon => 3)",
        "two rows at 2020-06-01",
    );
    f.fails_naming(
        "SELECT * FROM forecast(TABLE dup, month, revenue)",
        "add `horizon => 12`",
    );
    f.fails_naming(
        "SELECT * FROM forecast(TABLE dup, month, note, horizon => 3)",
        "the value column `note` is",
    );
    f.fails_naming(
        "SELECT * FROM forecast(TABLE dup, month, revenue, horizon => 3, seasonality => 'weekly')",
        "`seasonality` is automatic, none, or periods",
    );
    f.fails_naming(
        "SELECT * FROM forecast(TABLE dup, month, revenue, horizon => 3, prediction_interval => 99)",
        "from 50 to 95",
    );
    f.fails_naming(
        "SELECT * FROM forecast(TABLE dup, when, revenue, horizon => 3)",
        "no column `when` for the time",
    );
    let uneven: Vec<Value> = [0, 10, 25, 31, 40, 50, 60, 70]
        .iter()
        .map(|t| json!({"t": t, "v": 1.0 + *t as f64}))
        .collect();
    table(&f, "uneven", "t bigint, v double", &uneven);
    f.fails_naming(
        "SELECT * FROM forecast(TABLE uneven, t, v, horizon => 2)",
        "not evenly spaced",
    );
    let even: Vec<Value> = (0..10)
        .map(|t| json!({"t": t, "v": 1.0 + t as f64}))
        .collect();
    table(&f, "even", "t bigint, v double", &even);
    f.fails_naming(
        "SELECT * FROM forecast(TABLE even, t, v, horizon => 2, seasonality => 12)",
        "needs two whole seasons",
    );
    f.fails_naming(
        "SELECT * FROM forecast(TABLE (SELECT * FROM even WHERE t < 6), t, v, horizon => 2)",
        "the series has 6 values: it needs at least 7",
    );
}

/// Points in the plane for `hotspots`: uniform noise over [0, 10)², with two groups injected: every second row
/// of 300..500 near (7, 3) and every third row of 420..600 near (2, 8) (a wider one). Row 250's `y` is missing.
const PLANE: usize = 800;

fn plane() -> (Vec<Option<(f64, f64)>>, Vec<Value>) {
    let mut rng = Lcg(11);
    let mut points = vec![];
    let mut rows = vec![];
    for i in 0..PLANE {
        let (mut x, mut y) = (rng.next() * 10.0, rng.next() * 10.0);
        let (dx, dy) = (rng.next() - 0.5, rng.next() - 0.5);
        if (300..500).contains(&i) && i % 2 == 0 {
            (x, y) = (7.0 + dx * 0.1, 3.0 + dy * 0.1);
        } else if (420..600).contains(&i) && i % 3 == 0 {
            (x, y) = (2.0 + dx * 0.3, 8.0 + dy * 0.3);
        }
        let missing = i == 250;
        rows.push(
            json!({"ts": i, "x": x, "y": if missing { Value::Null } else { json!(y) }, "g": i % 2}),
        );
        points.push((!missing).then_some((x, y)));
    }
    (points, rows)
}

/// DBSCAN by brute force (every pair's distance), in window order: a point with at least `min` points within
/// `eps` (itself counted) is a core; a cluster is what its cores reach; one of fewer than `min` points is not a
/// hotspot. Each hotspot as (density, min values, max values), densest first, owl's size (the bounding box
/// widened by `eps`).
/// A hotspot as (density, min values, max values).
type Spot = (f64, [f64; 2], [f64; 2]);

fn dbscan_by_hand(window: &[(f64, f64)], eps: f64, min: usize) -> Vec<Spot> {
    let n = window.len();
    let near = |i: usize, j: usize| {
        let (a, b) = (window[i], window[j]);
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt() < eps
    };
    let neighbours: Vec<Vec<usize>> = (0..n)
        .map(|i| (0..n).filter(|&j| near(i, j)).collect())
        .collect();
    let mut seen = vec![false; n];
    let mut out = vec![];
    for start in 0..n {
        if seen[start] || neighbours[start].len() < min {
            continue;
        }
        let mut members = vec![];
        let mut todo = vec![start];
        while let Some(p) = todo.pop() {
            if std::mem::replace(&mut seen[p], true) {
                continue;
            }
            members.push(p);
            if neighbours[p].len() >= min {
                todo.extend(neighbours[p].iter().filter(|&&q| !seen[q]));
            }
        }
        if members.len() < min {
            continue;
        }
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for &m in &members {
            let p = [window[m].0, window[m].1];
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        let size = (hi[0] - lo[0] + eps) * (hi[1] - lo[1] + eps);
        out.push((members.len() as f64 / size, lo, hi));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out
}

/// Each row's expected hotspots over the sliding window of the last `size` points (None for a row without one).
fn hotspots_by_hand(
    points: &[Option<(f64, f64)>],
    size: usize,
    eps: f64,
    min: usize,
) -> Vec<Option<Vec<Spot>>> {
    let mut window: std::collections::VecDeque<(f64, f64)> = Default::default();
    points
        .iter()
        .map(|p| {
            let p = (*p)?;
            if window.len() == size {
                window.pop_front();
            }
            window.push_back(p);
            Some(dbscan_by_hand(window.make_contiguous(), eps, min))
        })
        .collect()
}

/// Compares owl's `HOTSPOTS_RESULT` text with the expected hotspots.
fn same_hotspots(row: &str, got: &Value, want: &Option<Vec<Spot>>) {
    let Some(want) = want else {
        assert_eq!(got, &Value::Null, "{row}");
        return;
    };
    let doc: Value = serde_json::from_str(got.as_str().expect("a JSON string")).unwrap();
    let list = doc["hotspots"].as_array().expect("a hotspots list");
    assert_eq!(list.len(), want.len(), "{row}: owl {doc}, by hand {want:?}");
    for (h, (density, lo, hi)) in list.iter().zip(want) {
        assert!(
            close(h["density"].as_f64().unwrap(), *density),
            "{row}: {h}"
        );
        // Within an ulp or so: owl writes the doubles exactly, but serde_json here parses them without
        // `float_roundtrip`.
        for d in 0..2 {
            assert!(
                close(h["minValues"][d].as_f64().unwrap(), lo[d]),
                "{row}: {h}"
            );
            assert!(
                close(h["maxValues"][d].as_f64().unwrap(), hi[d]),
                "{row}: {h}"
            );
        }
    }
}

#[test]
fn hotspots_equal_dbscan_by_hand_and_find_the_injected_groups_while_they_last() {
    let f = Fixture::new();
    let (points, data) = plane();
    let size = table(
        &f,
        "plane",
        "ts bigint, x double, y double, g bigint",
        &data,
    );
    let doc = f.json(
        "SELECT ts, hotspots(x, y, 100, 0.2, 10) OVER (ORDER BY ts) AS hotspots_result FROM plane ORDER BY ts",
    );
    assert_eq!(stat(&doc, "bytes_scanned"), size);
    let got = rows(&doc);
    assert_eq!(got.len(), PLANE);
    let want = hotspots_by_hand(&points, 100, 0.2, 10);
    for (i, (r, w)) in got.iter().zip(&want).enumerate() {
        same_hotspots(&format!("row {i}"), &r[1], w);
    }
    // What the data was made to hold: no hotspot in pure noise, and each group found while it lasts.
    let boxes = |i: usize| -> Vec<([f64; 2], [f64; 2])> {
        want[i].iter().flatten().map(|h| (h.1, h.2)).collect()
    };
    let holds = |b: &[([f64; 2], [f64; 2])], x: f64, y: f64| {
        b.iter()
            .any(|(lo, hi)| lo[0] <= x && x <= hi[0] && lo[1] <= y && y <= hi[1])
    };
    for i in 0..300 {
        assert!(boxes(i).is_empty(), "row {i}: {:?}", boxes(i));
    }
    // The tight group (all its points within 0.2 of each other) is a hotspot exactly while the window holds
    // ten of them: from its tenth point (row 318) until its tenth-last (row 480) leaves (row 580).
    for i in 300..PLANE {
        assert_eq!(
            holds(&boxes(i), 7.0, 3.0),
            (318..580).contains(&i),
            "row {i}: {:?}",
            boxes(i)
        );
    }
    // The wide group (not all within 0.2 of each other) is found once enough of it is in the window, for one
    // stretch of rows, and never after its tenth-last point (row 570) has left the window (row 670).
    let wide: Vec<usize> = (0..PLANE).filter(|&i| holds(&boxes(i), 2.0, 8.0)).collect();
    let (first, last) = (wide[0], wide[wide.len() - 1]);
    assert_eq!(wide.len(), last - first + 1, "{wide:?}");
    assert!(first <= 500 && (640..670).contains(&last), "{wide:?}");
    assert!(boxes(PLANE - 1).is_empty());
    // Both at once, the tighter group first (it is denser).
    let both = boxes(500);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(holds(&both[..1], 7.0, 3.0), "{both:?}");

    // A stream per partition, integers read as doubles, and a wider window with a smaller minimum.
    let doc = f.json(
        "SELECT g, ts, hotspots(CAST(x * 1000 AS BIGINT), CAST(y * 1000 AS BIGINT), 150, 150, 5) \
         OVER (PARTITION BY g ORDER BY ts) FROM plane ORDER BY g, ts",
    );
    let got = rows(&doc);
    for g in 0..2usize {
        let mine: Vec<&Vec<Value>> = got.iter().filter(|r| r[0] == json!(g)).collect();
        let pts: Vec<Option<(f64, f64)>> = (0..PLANE)
            .filter(|i| i % 2 == g)
            .map(|i| points[i].map(|(x, y)| ((x * 1000.0).trunc(), (y * 1000.0).trunc())))
            .collect();
        let want = hotspots_by_hand(&pts, 150, 150.0, 5);
        assert_eq!(mine.len(), want.len());
        for (i, (r, w)) in mine.iter().zip(&want).enumerate() {
            same_hotspots(&format!("g={g} row {i}"), &r[2], w);
        }
    }
}

#[test]
fn hotspots_refuses_bad_parameters_in_one_line() {
    let f = Fixture::new();
    let (_, data) = plane();
    table(
        &f,
        "plane",
        "ts bigint, x double, y double, g bigint",
        &data,
    );
    let cases = [
        (
            "hotspots(x, y, 99, 0.2, 10)",
            "windowSize is a whole number from 100 to 1000, not 99",
        ),
        (
            "hotspots(x, y, 100, 0, 10)",
            "scanRadius is a number above 0, not 0",
        ),
        (
            "hotspots(x, y, 100, 0.2, 101)",
            "from 2 to windowSize (100), not 101",
        ),
        (
            "hotspots(x, y, 100, 0.2, 1)",
            "from 2 to windowSize (100), not 1",
        ),
        ("hotspots(x, 100, 0.2)", "not 3 arguments"),
        (
            "hotspots(x, y, 100.5, 0.2, 10)",
            "windowSize is a whole number, not Float64",
        ),
        (
            "hotspots(x, y, 100, 0.2, g)",
            "minimumNumberOfPointsInAHotspot is a constant",
        ),
        (
            "hotspots(x, CAST(g AS VARCHAR), 100, 0.2, 10)",
            "argument 2 is Utf8",
        ),
    ];
    for (call, says) in cases {
        f.fails_naming(
            &format!("SELECT {call} OVER (ORDER BY ts) FROM plane"),
            says,
        );
    }
}
