//! Every `owl.*` switch turns its rule (or reader) off: the plan with it on shows what the rule put there, the
//! plan with it off does not, and the answers are the same both ways. One case per switch; a switch without a
//! case fails the test.

mod common;

use common::*;

/// How a case reads its plan: `EXPLAIN` (what the rules planned) or `EXPLAIN ANALYZE` (what a run chose and
/// counted).
#[derive(Clone, Copy)]
enum Plan {
    Explain,
    Analyze,
}

struct Case {
    switch: &'static str,
    db: &'static str,
    /// Settings the case needs besides its switch.
    setup: &'static str,
    query: &'static str,
    plan: Plan,
    /// In the plan with the switch on, and not with it off.
    marker: &'static str,
}

/// A case of the default database, read with `EXPLAIN`, needing no other setting.
const fn case(switch: &'static str, query: &'static str, marker: &'static str) -> Case {
    Case {
        switch,
        db: "default",
        setup: "",
        query,
        plan: Plan::Explain,
        marker,
    }
}

const JOIN: &str = "SELECT count(*) FROM weblogs_parquet w JOIN orders o ON w.user_id = o.order_id \
                    WHERE o.quantity > 3";

const CASES: [Case; 17] = [
    case(
        "materialize_ctes",
        "WITH t AS (SELECT day, count(*) AS c FROM weblogs_parquet GROUP BY day) \
                SELECT a.day, a.c + b.c FROM t a JOIN t b ON a.day = b.day ORDER BY 1",
        "ComputedOnceExec",
    ),
    case(
        "bitmap_count_distinct",
        "SELECT month, count(DISTINCT user_id) FROM weblogs_parquet GROUP BY month ORDER BY month",
        "owl_count_distinct",
    ),
    Case {
        switch: "join_reordering",
        db: "star",
        setup: "",
        query: "SELECT r_name, count(*) FROM facts, products, stores, regions WHERE fk_a = a_id \
                AND fk_b = b_id AND b_region = r_id AND r_name = 'r1' AND a_group < 5 GROUP BY r_name",
        plan: Plan::Explain,
        // The innermost join is the region's with its stores, not the facts' with their products.
        marker: "Inner Join: regions.r_id = stores.b_region",
    },
    case(
        "streamed_not_in",
        "SELECT count(*) FROM weblogs_parquet \
                WHERE user_id NOT IN (SELECT user_id FROM weblogs_csv WHERE day = 1)",
        "NotInExec",
    ),
    Case {
        switch: "merge_slivers",
        db: "default",
        // Files split into ranges however small, over four threads: every range of the file is a sliver.
        setup: "SET datafusion.optimizer.repartition_file_min_size = 1; \
                SET datafusion.execution.target_partitions = 4;",
        query: "SELECT sum(bytes) FROM weblogs_parquet WHERE month = 1 AND day = 1",
        plan: Plan::Explain,
        marker: "file_groups={4 groups: [[], [], [], [",
    },
    // DataFusion orders files by bounds only when every sort key has them; `request_id` has none.
    case(
        "best_files_first",
        "SELECT day, request_id FROM weblogs_parquet ORDER BY day DESC, request_id LIMIT 3",
        "[[MONTH=01/day=05/part-00000.parquet, MONTH=01/day=02/part-00000.parquet",
    ),
    case(
        "string_view_equality",
        "SELECT count(*) FROM weblogs_parquet WHERE method = 'GET'",
        "(by view)",
    ),
    case(
        "decimal_batch_checks",
        "SELECT count(*) FROM weblogs_parquet \
                WHERE CAST(bytes AS DECIMAL(12,2)) * CAST(status AS DECIMAL(12,2)) > 5",
        "(batch-checked)",
    ),
    case(
        "filter_conjunctions",
        "SELECT count(*) FROM weblogs_parquet WHERE status = 200 AND bytes > 10",
        "(in turn)",
    ),
    case("dynamic_row_filters", JOIN, "row_filter=at run time"),
    case("join_key_bitmaps", JOIN, "CollectKeysExec"),
    // Bitmaps are what key hints test rows with: without the hints, no join gathers its keys.
    case("join_key_pruning", JOIN, "CollectKeysExec"),
    // `bytes` is not clustered: no page of it can be skipped, so its page index is not read. (Not a float
    // column: conditions on floats prune nothing, `owl_nan_safe_pruning`.)
    Case {
        plan: Plan::Analyze,
        ..case(
            "clustered_page_index",
            "SELECT count(*) FROM weblogs_parquet WHERE bytes > 100",
            "page_index_pages_pruned=0 total",
        )
    },
    Case {
        plan: Plan::Analyze,
        ..case(
            "csv_fast_path",
            "SELECT count(*), sum(bytes) FROM weblogs_csv",
            // Off, owl's reader still reads (a quoted `""` is an empty string), with arrow-csv alone.
            "csv_rows_arrow_csv=0,",
        )
    },
    Case {
        plan: Plan::Analyze,
        ..case(
            "ndjson_fast_path",
            "SELECT count(*), sum(bytes) FROM weblogs_ndjson",
            "json_rows_fast_path=5",
        )
    },
    // The registry's bounds of each day skip six of the eight days' files unopened.
    Case {
        plan: Plan::Analyze,
        ..case(
            "partition_bounds",
            "SELECT count(*) FROM weblogs_parquet WHERE ts >= TIMESTAMP '2024-02-02 00:00:00'",
            "files_ranges_pruned_statistics=8 total → 2 matched",
        )
    },
    // The sample's ALB logs project a day from 2024/06/01 to now: hundreds of prefixes, three with files.
    case(
        "projection_list_common",
        "SELECT count(*), sum(sent_bytes) FROM alb_logs WHERE day >= '2024/06/01'",
        "listed as one folder",
    ),
];

/// The star schema, analyzed (join ordering needs counted distinct values).
fn star(f: &Fixture) {
    star_schema(f);
    analyze_star(f);
}

/// The plan's text, with the fixture's folder and the partition folders' common prefix cut so that markers
/// can name files.
fn plan_of(f: &Fixture, case: &Case, on: bool) -> String {
    let explain = match case.plan {
        Plan::Explain => "EXPLAIN",
        Plan::Analyze => "EXPLAIN ANALYZE",
    };
    let script = format!(
        "{} SET owl.{} = {on}; {explain} {}",
        case.setup, case.switch, case.query
    );
    let root = format!("{}/", f.path().display());
    f.csv_in(case.db, &script)
        .replace(root.trim_start_matches('/'), "")
        .replace("sample-data/weblogs_parquet/year=2024/month", "MONTH")
}

fn answers(f: &Fixture, case: &Case, on: bool) -> String {
    let script = format!(
        "{} SET owl.{} = {on}; {}",
        case.setup, case.switch, case.query
    );
    let mut lines: Vec<String> = f
        .csv_in(case.db, &script)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines.join("\n")
}

/// Switches that change only scans of an object store, with the test (against the in-process S3 server) that
/// checks their plans and answers on and off.
const ON_AN_OBJECT_STORE: [(&str, &str); 3] = [
    (
        "footer_hints",
        "tests/s3_cli.rs: crawled_long_footers_are_read_in_one_request",
    ),
    (
        "remote_streams",
        "tests/s3_cli.rs: more_streams_than_threads_on_s3_answer_and_bill_the_same",
    ),
    (
        "remote_exact_ranges",
        "tests/s3_cli.rs: s3_scans_fetch_the_chunks_they_project_and_not_the_gaps",
    ),
];

#[test]
fn every_switch_turns_its_rule_off() {
    let f = Fixture::new();
    star(&f);
    for case in &CASES {
        let on = plan_of(&f, case, true);
        let off = plan_of(&f, case, false);
        assert!(
            on.contains(case.marker),
            "owl.{} = true: `{}` is not in the plan of {}:\n{on}",
            case.switch,
            case.marker,
            case.query
        );
        assert!(
            !off.contains(case.marker),
            "owl.{} = false: `{}` is still in the plan of {}:\n{off}",
            case.switch,
            case.marker,
            case.query
        );
        assert_eq!(
            answers(&f, case, true),
            answers(&f, case, false),
            "owl.{}: {}",
            case.switch,
            case.query
        );
    }
    // Every switch has its case, here or (one that acts only on an object store) in its own test.
    let mut tested: Vec<&str> = CASES
        .iter()
        .map(|c| c.switch)
        .chain(ON_AN_OBJECT_STORE.iter().map(|(switch, _)| *switch))
        .collect();
    tested.sort();
    tested.dedup();
    for (switch, test) in ON_AN_OBJECT_STORE {
        let (file, name) = test.split_once(": ").unwrap();
        let text =
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file))
                .unwrap();
        assert!(
            text.contains(&format!("fn {name}()")) && text.contains(&format!("owl.{switch}")),
            "owl.{switch}: no test `{name}` setting it in {file}"
        );
    }
    let mut switches = owl::config::options::names();
    switches.sort();
    assert_eq!(tested, switches);
}
