//! A fixed budget of the differential tester (`examples/difftest`): random tables in every format, random
//! queries, every answer against its oracles. Zero differences. And every difference it ever found, shrunk and
//! recorded in `tests/difftest_cases/` (`--record`), replayed.

#[path = "../examples/difftest/queries.rs"]
mod queries;
#[path = "../examples/difftest/run.rs"]
mod run;
#[path = "../examples/difftest/tables.rs"]
mod tables;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_queries_answer_the_same_with_every_rule_off_on_every_format_and_partitioned() {
    let report = run::run(&run::Options {
        seed: 20261206,
        cases: 12,
        queries: 20,
        time: None,
        dir: None,
        record: None,
    })
    .await;
    let shown: Vec<String> = report
        .differences
        .iter()
        .map(|d| {
            format!(
                "seed {}: against {}: {}\n  {}",
                d.seed, d.oracle, d.what, d.sql
            )
        })
        .collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));
    assert_eq!(report.cases, 12);
    // Most queries answer: the comparisons are of rows, not of two failures.
    assert!(report.failed_everywhere * 4 < report.queries, "{report:?}");
    assert!(report.checks >= report.queries * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_recorded_difference_stays_fixed() {
    // `OWL_DIFFTEST_CASES=DIR` replays another folder (a run's `--record`), every case, naming each that fails.
    let cases = std::env::var_os("OWL_DIFFTEST_CASES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/difftest_cases")
        });
    let work = tempfile::tempdir().unwrap();
    let mut replayed = 0;
    let mut failed = vec![];
    for entry in std::fs::read_dir(&cases).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let case: run::Case = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let now = run::replay(&case, &work.path().join(format!("case-{replayed}"))).await;
        if let Some(now) = now {
            failed.push(format!(
                "{}: against {}: {now}\n  {}",
                path.display(),
                case.oracle,
                case.sql
            ));
        }
        replayed += 1;
    }
    assert!(replayed > 0, "no recorded case in {}", cases.display());
    assert!(
        failed.is_empty(),
        "{} of {replayed} recorded cases differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[tokio::test]
async fn shrinking_keeps_the_fewest_rows_that_still_fail() {
    let mut calls = 0;
    let kept = run::ddmin(
        (0..100).collect::<Vec<u32>>(),
        1000,
        async |rows: &[u32]| {
            calls += 1;
            rows.contains(&7) && rows.contains(&42)
        },
    )
    .await;
    assert_eq!(kept, vec![7, 42]);
    assert!(calls < 100, "{calls} tries");
    // A budget of tries is kept, and what it reached still fails.
    let kept = run::ddmin((0..100).collect::<Vec<u32>>(), 3, async |rows: &[u32]| {
        rows.contains(&7)
    })
    .await;
    assert!(kept.contains(&7) && kept.len() < 100);
}
