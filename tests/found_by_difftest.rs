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
