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
