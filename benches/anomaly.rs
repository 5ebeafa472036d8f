//! Random cut forest scoring rate: owl's `random_cut_forest(a, b) OVER (ORDER BY ts)` over a CSV table against
//! `krcflib` alone (the same forest, options and points, in this process): `cargo bench --bench anomaly`.
//! Then the same for `hotspots(a, b, W, 1.0, 10)` against `petal-clustering`'s DBSCAN alone over the same
//! sliding windows (W = 100 over all the points, W = 1000 over a tenth of them).
//!
//! The points are two slow waves with noise, written to `target/anomaly/points.csv`. owl's time is the whole
//! `owl query` process (start, read, sort, score, print one row); the library's is the score-then-update loop
//! over points already in memory, with KDA's defaults as owl's (100 trees, a sub-sample of 256, time decay
//! 1/100000, no shingle, seed 42); the sums of the scores must be equal. Each side runs `OWL_RCF_RUNS` times
//! (default 3) and keeps its best; `OWL_RCF_POINTS` points (default 100000).

use ndarray::ArrayView2;
use petal_clustering::{Dbscan, Fit};
use petal_neighbors::distance::Euclidean;
use rcflib::rcf::{RCFBuilder, RCFOptionsBuilder};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

// The library runs with owl's allocator, so the comparison is of the SQL path, not of malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let n: usize = env("OWL_RCF_POINTS", "100000")
        .parse()
        .expect("OWL_RCF_POINTS");
    let runs: usize = env("OWL_RCF_RUNS", "3").parse().expect("OWL_RCF_RUNS");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/anomaly");
    std::fs::create_dir_all(&dir).expect("target/anomaly");

    let mut seed = 3u64;
    let mut noise = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut points = Vec::with_capacity(n);
    let mut doubles: Vec<[f64; 2]> = Vec::with_capacity(n);
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("points.csv")).unwrap());
    writeln!(csv, "ts,a,b").unwrap();
    for i in 0..n {
        let t = i as f64 / 40.0;
        let a = 50.0 + 10.0 * t.sin() + 2.0 * noise();
        let b = 20.0 + 5.0 * (t / 2.0).cos() + 2.0 * noise();
        // Written with Rust's shortest round-trip text, so owl reads the very same doubles.
        writeln!(csv, "{i},{a},{b}").unwrap();
        points.push([a as f32, b as f32]);
        doubles.push([a, b]);
    }
    csv.into_inner().unwrap().sync_all().unwrap();

    rcf(&points, runs, n);
    drop(points);
    println!();
    println!("| window | points | petal-clustering alone | owl query | overhead |");
    println!("|---:|---:|---:|---:|---:|");
    hotspots(&doubles, 100, n, runs, "target/anomaly/points.csv");
    let tenth = dir.join("tenth.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&tenth).unwrap());
    let text = std::fs::read_to_string(dir.join("points.csv")).unwrap();
    for line in text.lines().take(n / 10 + 1) {
        writeln!(out, "{line}").unwrap();
    }
    out.into_inner().unwrap().sync_all().unwrap();
    hotspots(&doubles, 1000, n / 10, runs, "target/anomaly/tenth.csv");
}

/// Runs owl's query and returns (seconds, the first row as CSV).
fn owl_query(sql: &str) -> (f64, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_owl"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["query", "-f", "csv", sql])
        .output()
        .expect("owl");
    let took = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    (took, text.lines().nth(1).expect("a row").to_string())
}

/// `hotspots` over the first `n` points with a window of `window`: the library's DBSCAN over each sliding window
/// (the number of hotspots summed) against owl's query of the same sum.
fn hotspots(points: &[[f64; 2]], window: usize, n: usize, runs: usize, csv: &str) {
    let library = || {
        let start = Instant::now();
        let mut ring: VecDeque<f64> = VecDeque::with_capacity(window * 2);
        let mut flat = Vec::with_capacity(window * 2);
        let mut found = 0usize;
        for p in &points[..n] {
            if ring.len() == window * 2 {
                ring.drain(..2);
            }
            ring.extend(p);
            flat.clear();
            flat.extend(ring.iter().copied());
            let view = ArrayView2::from_shape((flat.len() / 2, 2), &flat[..]).unwrap();
            let (clusters, _) = Dbscan::new(1.0, 10, Euclidean::default()).fit(&view, None);
            found += clusters.len();
        }
        (start.elapsed().as_secs_f64(), found)
    };
    let sql = format!(
        "SELECT count(h), sum(json_array_length(json_extract(h, '$.hotspots'))) FROM \
         (SELECT hotspots(a, b, {window}, 1.0, 10) OVER (ORDER BY ts) AS h FROM '{csv}')"
    );
    let (mut best_lib, mut best_owl) = (f64::MAX, f64::MAX);
    let (mut lib_found, mut owl_row) = (0, String::new());
    for _ in 0..runs {
        let (t, f) = library();
        best_lib = best_lib.min(t);
        lib_found = f;
        let (t, r) = owl_query(&sql);
        best_owl = best_owl.min(t);
        owl_row = r;
    }
    assert_eq!(
        owl_row,
        format!("{n},{lib_found}"),
        "owl's hotspots are not the library's"
    );
    println!(
        "| {window} | {n} | {:.2} s ({:.0} points/s) | {:.2} s ({:.0} points/s) | {:+.1}% |",
        best_lib,
        n as f64 / best_lib,
        best_owl,
        n as f64 / best_owl,
        (best_owl / best_lib - 1.0) * 100.0
    );
}

/// The random cut forest over all the points.
fn rcf(points: &[[f32; 2]], runs: usize, n: usize) {
    let library = || {
        let start = Instant::now();
        let mut forest = RCFBuilder::new(2, 1)
            .tree_capacity(256)
            .number_of_trees(100)
            .random_seed(42)
            .time_decay(1.0 / 100_000.0)
            .internal_shingling(true)
            .parallel_enabled(false)
            .build_default()
            .expect("a forest");
        let mut sum = 0.0;
        for p in points {
            sum += forest.score(p).unwrap();
            forest.update(p, 0).unwrap();
        }
        (start.elapsed().as_secs_f64(), sum)
    };
    let sql = "SELECT count(s), sum(s) FROM (SELECT random_cut_forest(a, b) OVER (ORDER BY ts) AS s FROM \
               'target/anomaly/points.csv')";
    let owl = || owl_query(sql);
    let (mut best_lib, mut best_owl) = (f64::MAX, f64::MAX);
    let (mut lib_sum, mut owl_row) = (0.0, String::new());
    for _ in 0..runs {
        let (t, s) = library();
        best_lib = best_lib.min(t);
        lib_sum = s;
        let (t, r) = owl();
        best_owl = best_owl.min(t);
        owl_row = r;
    }
    let owl_sum: f64 = owl_row.split(',').nth(1).unwrap().parse().unwrap();
    assert!(
        (owl_sum - lib_sum).abs() <= 1e-6 * lib_sum.abs().max(1.0),
        "owl's scores ({owl_sum}) are not the library's ({lib_sum})"
    );
    println!("| points | krcflib alone | owl query | overhead |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {n} | {:.2} s ({:.0} points/s) | {:.2} s ({:.0} points/s) | {:+.1}% |",
        best_lib,
        n as f64 / best_lib,
        best_owl,
        n as f64 / best_owl,
        (best_owl / best_lib - 1.0) * 100.0
    );
}
