//! A fixed budget of the differential tester (`examples/difftest`): random tables in every format, random
//! queries, every answer against its oracles. Zero differences.

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
