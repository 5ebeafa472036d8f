//! What the differential tester (`examples/difftest`) found, each shrunk to a query and fixed at its cause.

mod common;

use common::*;

/// sqlparser read `a IS NOT DISTINCT FROM b AND c` as `a IS NOT DISTINCT FROM (b AND c)`: a join condition
/// `ON a.k IS NOT DISTINCT FROM b.k AND a.x = b.y` failed to plan (`Cannot infer common argument type for
/// logical boolean operation`), and on booleans the misreading answered wrong. SQL binds `IS` tighter.
#[test]
fn is_not_distinct_from_binds_tighter_than_and_and_or() {
    let f = Fixture::new();
    let rows = f.csv_in(
        "default",
        "SELECT false IS NOT DISTINCT FROM false AND false AS a, 1 IS NOT DISTINCT FROM 1 AND true AS b, \
         NULL IS DISTINCT FROM NULL OR true AS c, false IS DISTINCT FROM (false OR true) AS d",
    );
    assert_eq!(rows.lines().nth(1), Some("false,true,true,true"), "{rows}");
    // The join that found it: NULL keys match each other, and the second condition still applies.
    let rows = f.csv_in(
        "default",
        "SELECT count(*) FROM (VALUES (1, 'a'), (NULL, 'b'), (NULL, 'c')) AS t(k, x) \
         JOIN (VALUES (1, 'a'), (NULL, 'b'), (2, 'c')) AS u(k, y) \
         ON t.k IS NOT DISTINCT FROM u.k AND t.x = u.y",
    );
    assert_eq!(rows.lines().nth(1), Some("2"), "{rows}");
}

/// DataFusion's simplifier merged `IN` lists on one column as sets, losing their NULLs: `x IN (16, 0, NULL)
/// AND x NOT IN (0, 10, NULL)` became `x IN (16)`, which keeps the row 16 that SQL drops (`16 NOT IN (0, 10,
/// NULL)` is NULL). Found by ternary logic partitioning: `NOT p` and `p IS NULL` both held such rows.
#[test]
fn in_lists_with_nulls_merged_by_the_simplifier_keep_sqls_answer() {
    let f = Fixture::new();
    let rows = f.csv_in(
        "default",
        "SELECT x, x IN (16, 0, NULL) AND x NOT IN (0, 10, NULL) AS a, \
         NOT (x NOT IN (16, 0, NULL) OR x IN (0, 10, NULL)) AS b, \
         x NOT IN (1, 2, NULL) OR x NOT IN (2, 3) AS c \
         FROM (VALUES (16), (5), (0), (2), (3)) t(x) ORDER BY x",
    );
    let lines: Vec<&str> = rows.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "0,false,false,true",
            "2,,,false",
            "3,,,",
            "5,,,true",
            "16,,,true"
        ]
    );
    // As a filter: no row passes `p`'s negation where `p` is unknown.
    let rows = f.csv_in(
        "default",
        "SELECT count(*) FROM (VALUES (16), (5), (0)) t(x) \
         WHERE x IN (16, 0, NULL) AND x NOT IN (0, 10, NULL)",
    );
    assert_eq!(rows.lines().nth(1), Some("0"));
}

/// DataFusion's set of an `IN` list's values compared doubles by their bits: `-0.0 IN (0.0, 5.0, 6.0, 7.0)`
/// was false though `-0.0 = 0.0`. A CTE referenced twice (its plan computed once, its lists not rewritten into
/// ORs) lost the rows holding `-0.0` (21 groups against 17, seed 5534).
#[test]
fn negative_zero_is_in_a_list_holding_zero() {
    let f = Fixture::new();
    let rows = f.csv_in(
        "default",
        "SELECT x, x IN (0.0, 5.0, 6.0, 7.0) AS a, x NOT IN (-0.0, 5.0, 6.0, 7.0) AS b \
         FROM (VALUES (CAST(-0.0 AS DOUBLE)), (CAST(0.0 AS DOUBLE)), (1.0)) t(x) ORDER BY x",
    );
    let lines: Vec<&str> = rows.lines().skip(1).collect();
    assert_eq!(
        lines,
        ["-0.0,true,false", "0.0,true,false", "1.0,false,true"]
    );
    let rows = f.csv_in(
        "default",
        "WITH c AS (SELECT x, count(*) AS n FROM (VALUES (CAST(-0.0 AS DOUBLE)), (CAST(0.0 AS DOUBLE)), \
         (CAST(-1e-10 AS DOUBLE))) t(x) WHERE x IN (0.0, -1e-10) GROUP BY x) \
         SELECT count(*), sum(a.n) FROM c a JOIN c b ON a.x IS NOT DISTINCT FROM b.x",
    );
    // `-0.0` and `0.0` are one group, as they are equal.
    assert_eq!(rows.lines().nth(1), Some("2,3"), "{rows}");
}

/// Parquet leaves NaN out of a float column's min/max, and DataFusion compares floats in their total order (NaN
/// above every number, a NaN with its sign bit below every number): row groups, pages and files were skipped by
/// bounds that said no row could pass `x > 5`, and their NaN rows were lost (the tester's NaN values: the Parquet
/// copy answered fewer rows than the CSV copy, every owl switch off too). `owl_nan_safe_pruning` keeps float
/// conditions out of pruning; every answer equals the same query over the values themselves.
#[test]
fn nan_rows_are_not_pruned_by_bounds_that_leave_nan_out() {
    let f = Fixture::new();
    let values = "SELECT * FROM (VALUES (1, 1.0), (2, CAST('NaN' AS DOUBLE)), (3, -CAST('NaN' AS DOUBLE)), \
                  (4, 3.0), (5, NULL)) AS v(k, x)";
    // Written by the CTAS (Parquet, one row group: min 1, max 3) and by a crawl of the file (the registry's
    // bounds, which DataFusion prunes files by).
    f.run_ok(&["query", &format!("CREATE TABLE floats AS {values}")]);
    f.run_ok(&["query", "CREATE DATABASE crawled"]);
    f.run_ok(&["-d", "crawled", "crawl", "warehouse/default/floats"]);
    for condition in [
        "x > 5",
        "x >= 3.5 OR k = 1",
        "x < 0",
        "x <> 1 AND x <> 3",
        "NOT (x <= 3)",
        "x BETWEEN 2 AND CAST('NaN' AS DOUBLE)",
        "x IN (CAST('NaN' AS DOUBLE), 7.0)",
        "x = CAST('NaN' AS DOUBLE)",
    ] {
        let want = f.csv_in(
            "default",
            &format!("SELECT k FROM ({values}) WHERE {condition} ORDER BY k"),
        );
        for (db, table) in [("default", "floats"), ("crawled", "floats")] {
            let got = f.csv_in(
                db,
                &format!("SELECT k FROM {table} WHERE {condition} ORDER BY k"),
            );
            assert_eq!(got, want, "{db}.{table} WHERE {condition}");
        }
    }
    // A condition on another column still prunes: the plan's pruning predicate keeps it, not the float's.
    let plan = f.csv_in(
        "default",
        "EXPLAIN SELECT k FROM floats WHERE x > 5 AND k > 3",
    );
    assert!(
        plan.contains("CASE WHEN x@1 > 5 THEN true ELSE false END")
            && plan.contains("pruning_predicate=k_null_count"),
        "{plan}"
    );
}

/// DataFusion's grouped `min`/`max` of floats kept a running value replaced whenever `partial_cmp` could not
/// order it, so a group of NaN and numbers answered by which came last, and a running value starting at the
/// type's lowest finite value made `max` of `-Infinity` alone -1.7976931348623157e308 (the tester's copies
/// answered differently). owl registers them corrected (`exec::aggregate::total_order`): every group answers as
/// the same values without GROUP BY do, in SQL's total order, whatever their order.
#[test]
fn grouped_min_and_max_of_floats_are_in_total_order_whatever_the_order_of_rows() {
    let f = Fixture::new();
    let values = [
        "1.5",
        "CAST('NaN' AS DOUBLE)",
        "-CAST('NaN' AS DOUBLE)",
        "CAST('-Infinity' AS DOUBLE)",
        "CAST('Infinity' AS DOUBLE)",
        "-0.0",
        "NULL",
    ];
    // Every ordered pair of values, as a group of its own; and each value alone.
    let mut rows = vec![];
    let mut group = 0;
    for a in &values {
        for b in &values {
            rows.push(format!("({group}, 0, {a})"));
            rows.push(format!("({group}, 1, {b})"));
            group += 1;
        }
    }
    let table = format!("(VALUES {}) AS v(g, i, x)", rows.join(", "));
    let grouped = f.csv_in(
        "default",
        &format!(
            "SELECT g, CAST(min(x) AS VARCHAR) AS lo, CAST(max(x) AS VARCHAR) AS hi FROM {table} \
             GROUP BY g ORDER BY g"
        ),
    );
    for (g, line) in grouped.lines().skip(1).enumerate() {
        let alone = f.csv_in(
            "default",
            &format!(
                "SELECT {g}, CAST(min(x) AS VARCHAR) AS lo, CAST(max(x) AS VARCHAR) AS hi FROM {table} \
                 WHERE g = {g}"
            ),
        );
        assert_eq!(Some(line), alone.lines().nth(1), "group {g}");
    }
    let some: Vec<&str> = grouped.lines().skip(1).take(8).collect();
    assert_eq!(
        some,
        [
            "0,1.5,1.5",
            "1,1.5,NaN",
            // The NaN with its sign bit (printed as NaN) is below every number.
            "2,NaN,1.5",
            "3,-inf,1.5",
            "4,1.5,inf",
            "5,-0.0,1.5",
            "6,1.5,1.5",
            // Group 1 the other way round: NaN first.
            "7,1.5,NaN"
        ]
    );
}
