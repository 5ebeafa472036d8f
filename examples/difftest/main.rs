//! owl's differential tester: `cargo run --release --example difftest -- --seed S --cases N [--minutes M]
//! [--queries Q] [--dir DIR] [--record tests/difftest_cases]`.
//!
//! Each case makes two random tables, writes each as Parquet, CSV, gzipped CSV and NDJSON, registers every
//! copy, and runs random queries on them; every answer is checked against its oracles (`run`). Prints the
//! counts and each difference with the seed that replays it (`--seed <seed> --cases 1`); exits 1 when there
//! was one. `tests/difftest.rs` runs a fixed budget of it in CI.

mod queries;
mod run;
mod tables;

use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut options = run::Options {
        seed: 1,
        cases: 20,
        queries: 25,
        time: None,
        dir: None,
        record: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let number = || -> Option<u64> { value.as_deref()?.parse().ok() };
        match (flag.as_str(), number()) {
            ("--seed", Some(n)) => options.seed = n,
            ("--cases", Some(n)) => options.cases = n as usize,
            ("--queries", Some(n)) => options.queries = n as usize,
            ("--minutes", Some(n)) => options.time = Some(Duration::from_secs(60 * n)),
            ("--dir", _) if value.is_some() => options.dir = value.map(Into::into),
            ("--record", _) if value.is_some() => options.record = value.map(Into::into),
            _ => {
                eprintln!(
                    "usage: difftest [--seed S] [--cases N] [--queries Q] [--minutes M] [--dir DIR] [--record DIR] ({flag}?)"
                );
                return ExitCode::from(2);
            }
        }
    }
    if options.time.is_some() && options.cases == 20 {
        options.cases = usize::MAX;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let report = runtime.block_on(run::run(&options));
    eprintln!(
        "{} cases, {} queries, {} checks, {} failed on every side, {} failed on one side evaluating a row \
         the other never needed, {} differences",
        report.cases,
        report.queries,
        report.checks,
        report.failed_everywhere,
        report.order_dependent,
        report.differences.len()
    );
    for (rule, n) in &report.rules {
        eprintln!("  rule {rule}: in {n} plans");
    }
    for (error, (n, sql)) in &report.failures {
        eprintln!("  failed everywhere {n}x: {error}\n    e.g. {sql}");
    }
    for d in &report.differences {
        eprintln!(
            "seed {}: against {}: {}\n  {}",
            d.seed, d.oracle, d.what, d.sql
        );
        if let Some(path) = &d.recorded {
            eprintln!("  shrunk and recorded: {}", path.display());
        }
    }
    if report.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
