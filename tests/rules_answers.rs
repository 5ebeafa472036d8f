//! owl's join rules against DataFusion's own plans (every `owl.*` switch off), on data made to reach their
//! corners rather than a benchmark's: keys with NULLs on both sides, each join type whose probe side aggregates
//! by the key (where owl's run-time filters reach below the aggregation), `IS NOT DISTINCT FROM`, `NOT IN`
//! over a NULL, and join orders of several shapes. Each answer is also checked against a count made here, in
//! Rust, from the formulas that made the tables.

mod common;

use common::*;

/// Every `owl.*` switch off: DataFusion's plans and readers.
fn all_off() -> String {
    owl::config::options::names()
        .iter()
        .map(|n| format!("SET owl.{n} = false; "))
        .collect()
}

/// The query's rows with owl's rules on, after checking they are the rows with all of them off (as sorted
/// lines: these queries return integers and text only).
fn both_ways(f: &Fixture, db: &str, sql: &str) -> Vec<String> {
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().skip(1).map(str::to_string).collect();
        lines.sort();
        lines
    };
    let on = sorted(f.csv_in(db, sql));
    let off = sorted(f.csv_in(db, &format!("{}{sql}", all_off())));
    assert_eq!(on, off, "owl's rules on and off differ: {sql}");
    on
}

/// `big.k` of row `i`: a key in 0..300, NULL every 17th row.
fn big_key(i: i64) -> Option<i64> {
    (i % 17 != 0).then_some(i % 300)
}

/// `small.k` of row `i`: multiples of 5 up to 195, NULL every 9th row.
fn small_key(i: i64) -> Option<i64> {
    (i % 9 != 0).then_some(i * 5)
}

const BIG_ROWS: i64 = 6000;
const SMALL_ROWS: i64 = 40;

fn keyed_tables(f: &Fixture) {
    f.run_ok(&["query", "CREATE DATABASE keyed"]);
    for sql in [
        // Several files, so that scans have files and row groups to skip.
        "CREATE TABLE big WITH (format = 'PARQUET', external_location = 'keyed/big/', \
         partitioned_by = ARRAY['part']) AS \
         SELECT CASE WHEN value % 17 = 0 THEN NULL ELSE value % 300 END AS k, value % 7 AS v, value % 4 AS part \
         FROM generate_series(0, 5999)",
        "CREATE TABLE small WITH (format = 'PARQUET', external_location = 'keyed/small/') AS \
         SELECT CASE WHEN value % 9 = 0 THEN NULL ELSE value * 5 END AS k, \
         concat('s', CAST(value AS VARCHAR)) AS tag FROM generate_series(0, 39)",
    ] {
        f.run_ok(&["-d", "keyed", "query", sql]);
    }
}

/// The groups of `big` by key: (key, rows).
fn big_groups() -> std::collections::BTreeMap<Option<i64>, i64> {
    let mut groups = std::collections::BTreeMap::new();
    for i in 0..BIG_ROWS {
        *groups.entry(big_key(i)).or_insert(0) += 1;
    }
    groups
}

fn small_keys() -> Vec<Option<i64>> {
    (0..SMALL_ROWS).map(small_key).collect()
}

const GROUPED: &str = "(SELECT k, count(*) AS n FROM big GROUP BY k)";

#[test]
fn joins_on_keys_with_nulls_below_an_aggregation_answer_as_datafusion_does() {
    let f = Fixture::new();
    keyed_tables(&f);
    let groups = big_groups();
    let small = small_keys();
    let in_small = |k: &Option<i64>| k.is_some() && small.contains(k);

    // Inner: each small row with its key's group (NULL keys match nothing).
    let want: (i64, i64) = small
        .iter()
        .filter_map(|k| k.and_then(|_| groups.get(k)))
        .fold((0, 0), |(c, s), n| (c + 1, s + n));
    let got = both_ways(
        &f,
        "keyed",
        &format!("SELECT count(*), sum(a.n) FROM small s JOIN {GROUPED} a ON s.k = a.k"),
    );
    assert_eq!(got, [format!("{},{}", want.0, want.1)]);

    // The rules under test are in the plan: the build side's keys gathered, the probe side's scan filtered
    // by them at run time, below the aggregation.
    let plan = f.csv_in(
        "keyed",
        &format!("EXPLAIN SELECT count(*), sum(a.n) FROM small s JOIN {GROUPED} a ON s.k = a.k"),
    );
    assert!(
        plan.contains("CollectKeysExec") && plan.contains("row_filter=at run time"),
        "{plan}"
    );

    // Left: every small row; those without a group (NULL keys among them) with a NULL count.
    let unmatched = small
        .iter()
        .filter(|k| k.is_none() || !groups.contains_key(k))
        .count();
    let got = both_ways(
        &f,
        "keyed",
        &format!(
            "SELECT count(*), count(a.n), sum(a.n) FROM small s LEFT JOIN {GROUPED} a ON s.k = a.k"
        ),
    );
    assert_eq!(
        got,
        [format!(
            "{},{},{}",
            SMALL_ROWS,
            SMALL_ROWS as usize - unmatched,
            want.1
        )]
    );

    // Semi: the groups whose key small has (IN and EXISTS).
    let semi: Vec<(&Option<i64>, &i64)> = groups.iter().filter(|(k, _)| in_small(k)).collect();
    let want_semi = format!(
        "{},{}",
        semi.len(),
        semi.iter().map(|(_, n)| **n).sum::<i64>()
    );
    for sql in [
        format!("SELECT count(*), sum(n) FROM {GROUPED} a WHERE k IN (SELECT k FROM small)"),
        format!(
            "SELECT count(*), sum(n) FROM {GROUPED} a WHERE EXISTS (SELECT 1 FROM small s WHERE s.k = a.k)"
        ),
    ] {
        assert_eq!(
            both_ways(&f, "keyed", &sql),
            std::slice::from_ref(&want_semi),
            "{sql}"
        );
    }

    // Anti: the other groups, the NULL key's among them (NOT EXISTS finds no match for it).
    let anti: Vec<(&Option<i64>, &i64)> = groups.iter().filter(|(k, _)| !in_small(k)).collect();
    let sql = format!(
        "SELECT count(*), sum(n), count(k) FROM {GROUPED} a \
         WHERE NOT EXISTS (SELECT 1 FROM small s WHERE s.k = a.k)"
    );
    assert_eq!(
        both_ways(&f, "keyed", &sql),
        [format!(
            "{},{},{}",
            anti.len(),
            anti.iter().map(|(_, n)| **n).sum::<i64>(),
            anti.len() - 1
        )]
    );

    // NOT IN a list with a NULL: no row (the NULL makes every comparison unknown); without it, the anti rows
    // with a key.
    let sql = format!("SELECT count(*) FROM {GROUPED} a WHERE k NOT IN (SELECT k FROM small)");
    assert_eq!(both_ways(&f, "keyed", &sql), ["0"]);
    let sql = format!(
        "SELECT count(*) FROM {GROUPED} a WHERE k NOT IN (SELECT k FROM small WHERE k IS NOT NULL)"
    );
    assert_eq!(both_ways(&f, "keyed", &sql), [(anti.len() - 1).to_string()]);

    // IS NOT DISTINCT FROM: NULL keys match each other too.
    let nulls_small = small.iter().filter(|k| k.is_none()).count() as i64;
    let sql = format!(
        "SELECT count(*), sum(a.n) FROM small s JOIN {GROUPED} a ON s.k IS NOT DISTINCT FROM a.k"
    );
    assert_eq!(
        both_ways(&f, "keyed", &sql),
        [format!(
            "{},{}",
            want.0 + nulls_small,
            want.1 + nulls_small * groups[&None]
        )]
    );

    // Right and full: the groups without a small row are kept.
    let sql = format!(
        "SELECT count(*), count(s.tag), sum(a.n) FROM small s RIGHT JOIN {GROUPED} a ON s.k = a.k"
    );
    let kept = groups.len() as i64 - want.0;
    assert_eq!(
        both_ways(&f, "keyed", &sql),
        [format!(
            "{},{},{}",
            want.0 + kept,
            want.0,
            groups.values().sum::<i64>()
        )]
    );
    let sql = format!(
        "SELECT count(*), count(s.tag), count(a.n) FROM small s FULL JOIN {GROUPED} a ON s.k = a.k"
    );
    assert_eq!(
        both_ways(&f, "keyed", &sql),
        [format!(
            "{},{},{}",
            want.0 + kept + unmatched as i64,
            SMALL_ROWS,
            groups.len()
        )]
    );

    // The raw rows rather than groups, joined on a key and a second column of another type.
    let sql = "SELECT b.part, count(*) FROM big b JOIN small s ON b.k = s.k AND CAST(b.v AS VARCHAR) = \
               substr(s.tag, 2, 1) GROUP BY b.part";
    let mut want = std::collections::BTreeMap::new();
    for i in 0..BIG_ROWS {
        let (k, v) = (big_key(i), i % 7);
        for (j, s) in small.iter().enumerate() {
            if k.is_some() && k == *s && v.to_string() == format!("s{j}")[1..2] {
                *want.entry(i % 4).or_insert(0) += 1;
            }
        }
    }
    let want: Vec<String> = want.iter().map(|(p, n)| format!("{p},{n}")).collect();
    assert_eq!(both_ways(&f, "keyed", sql), want);
}

#[test]
fn join_orders_of_several_shapes_answer_as_written() {
    let f = Fixture::new();
    star_schema(&f);
    analyze_star(&f);
    // facts: fk_a = i % 1000, fk_b = 7i % 100, amount = i % 13, i < 20,000; products: a_group = a_id % 10;
    // stores: b_region = b_id % 5; regions 0..5, named r<id>.
    let facts = || (0..20_000i64).map(|i| (i % 1000, (i * 7) % 100, i % 13));
    let cases: Vec<(&str, String)> = vec![
        (
            // A chain with filters in its middle.
            "SELECT count(*), sum(amount) FROM facts JOIN products ON fk_a = a_id \
             JOIN stores ON fk_b = b_id WHERE a_group = 3 AND b_region = 1",
            {
                let rows: Vec<_> = facts()
                    .filter(|(a, b, _)| a % 10 == 3 && b % 5 == 1)
                    .collect();
                format!("{},{}", rows.len(), rows.iter().map(|r| r.2).sum::<i64>())
            },
        ),
        (
            // Written from the smallest table out, a LEFT JOIN last.
            "SELECT count(*), count(a_id) FROM regions JOIN stores ON b_region = r_id \
             JOIN facts ON fk_b = b_id LEFT JOIN products ON fk_a = a_id AND a_group = 1 \
             WHERE r_name IN ('r0', 'r4')",
            {
                let rows: Vec<_> = facts()
                    .filter(|(_, b, _)| [0, 4].contains(&(b % 5)))
                    .collect();
                let matched = rows.iter().filter(|(a, _, _)| a % 10 == 1).count();
                format!("{},{matched}", rows.len())
            },
        ),
        (
            // A self join through a dimension.
            "SELECT count(*) FROM facts f1 JOIN facts f2 ON f1.fk_a = f2.fk_a \
             JOIN products ON f1.fk_a = a_id WHERE a_group = 0 AND f2.amount = 1 AND f1.amount = 2",
            {
                let mut per_a = std::collections::HashMap::<i64, (i64, i64)>::new();
                for (a, _, amount) in facts() {
                    let e = per_a.entry(a).or_default();
                    e.0 += i64::from(amount == 2);
                    e.1 += i64::from(amount == 1);
                }
                let n: i64 = per_a
                    .iter()
                    .filter(|(a, _)| *a % 10 == 0)
                    .map(|(_, (x, y))| x * y)
                    .sum();
                n.to_string()
            },
        ),
        (
            // Comma joins, the predicates in WHERE, one of them across two dimensions.
            "SELECT count(*) FROM facts, products, stores WHERE fk_a = a_id AND fk_b = b_id \
             AND a_group = b_region",
            facts()
                .filter(|(a, b, _)| a % 10 == b % 5)
                .count()
                .to_string(),
        ),
    ];
    for (sql, want) in cases {
        assert_eq!(both_ways(&f, "star", sql), [want], "{sql}");
    }
}
