//! Random queries over two tables `{t}` (the bigger) and `{u}`, from a grammar that reaches owl's rules:
//! filters with AND/OR/NOT, IN and NOT IN (lists and subqueries with NULLs), BETWEEN, LIKE, CASE and
//! arithmetic that can overflow or divide by zero; aggregates with few and many groups, `count(DISTINCT)`;
//! joins inner, left, semi and anti, on keys of different widths, `IS NOT DISTINCT FROM`; `ORDER BY ... LIMIT`
//! with ties and NULLs; window functions; CTEs referenced once and twice; UNION ALL; correlated subqueries.

use super::tables::{Rng, Table, Ty, literal, value};

/// A generated query: its text with `{t}` and `{u}` for the tables' names, whether its rows come in a fixed
/// order, and for a plain filter the parts ternary logic partitioning splits it into.
pub struct Query {
    pub sql: String,
    pub ordered: bool,
    /// `(SELECT ... FROM {t}, predicate)`: the query is the first with `WHERE predicate`.
    pub partition: Option<(String, String)>,
}

/// A column of one side: its SQL (qualified) and type.
#[derive(Clone)]
struct Col {
    sql: String,
    ty: Ty,
}

/// The columns a query compares, groups and orders by: a nested column by what can be taken of it (a list's
/// first item and length, a struct's fields).
fn columns(table: &Table, alias: &str) -> Vec<Col> {
    table
        .columns
        .iter()
        .flat_map(|c| {
            let sql = format!("{alias}.{}", c.name);
            let col = |sql: String, ty: Ty| Col { sql, ty };
            match c.ty {
                Ty::List => vec![
                    col(format!("{sql}[1]"), Ty::I32),
                    col(format!("cardinality({sql})"), Ty::I64),
                ],
                Ty::Struct => vec![
                    col(format!("{sql}['x']"), Ty::I32),
                    col(format!("{sql}['y']"), Ty::Str),
                ],
                ty => vec![Col { sql, ty }],
            }
        })
        .collect()
}

/// The nested columns, whole (shown by filters).
fn nested(table: &Table, alias: &str) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.ty.is_nested())
        .map(|c| format!("{alias}.{}", c.name))
        .collect()
}

/// A condition on `cols`, `depth` levels of AND/OR/NOT at most.
fn predicate(rng: &mut Rng, cols: &[Col], depth: usize) -> String {
    if depth > 0 && rng.chance(0.45) {
        let a = predicate(rng, cols, depth - 1);
        return match rng.below(3) {
            0 => format!("({a} AND {})", predicate(rng, cols, depth - 1)),
            1 => format!("({a} OR {})", predicate(rng, cols, depth - 1)),
            _ => format!("(NOT {a})"),
        };
    }
    let c = rng.pick(cols).clone();
    let lit = |rng: &mut Rng| literal(&value(rng, c.ty), c.ty);
    match rng.below(10) {
        0 => format!(
            "{} IS {}NULL",
            c.sql,
            if rng.chance(0.5) { "NOT " } else { "" }
        ),
        1 => {
            let n = 1 + rng.below(4);
            let mut items: Vec<String> = (0..n).map(|_| lit(rng)).collect();
            if rng.chance(0.2) {
                items.push("NULL".into());
            }
            let not = if rng.chance(0.4) { "NOT " } else { "" };
            format!("{} {not}IN ({})", c.sql, items.join(", "))
        }
        2 => format!("{} BETWEEN {} AND {}", c.sql, lit(rng), lit(rng)),
        3 if c.ty == Ty::Str => {
            let pattern = rng.pick(&["a%", "%b", "%\\_%", "_", "%", "ü%", "%\n%", "A%"]);
            format!("{} LIKE '{pattern}'", c.sql)
        }
        4 if c.ty == Ty::Dec => {
            // Decimal arithmetic, checked for overflow (owl checks a batch at once).
            let other = rng.pick(cols).clone();
            let rhs = if other.ty == Ty::Dec {
                other.sql
            } else {
                lit(rng)
            };
            format!(
                "{} {} {rhs} {} {}",
                c.sql,
                rng.pick(&["+", "-", "*"]),
                rng.pick(&["<", ">", "="]),
                lit(rng)
            )
        }
        4 if c.ty.is_int() => {
            // Arithmetic that overflows at the type's limits, or divides by zero.
            let other = rng.pick(cols).clone();
            match rng.below(3) {
                0 => format!("{} + {} > {}", c.sql, c.sql, lit(rng)),
                1 if other.ty.is_int() => format!("{} % 3 = {} % 3", c.sql, other.sql),
                _ => format!("10 / NULLIF({}, {}) > 1", c.sql, lit(rng)),
            }
        }
        5 => format!(
            "CASE WHEN {} THEN 1 WHEN {} IS NULL THEN 2 ELSE 3 END = {}",
            predicate(rng, cols, 0),
            c.sql,
            1 + rng.below(3)
        ),
        6 => {
            let other = rng.pick(cols).clone();
            if other.ty == c.ty {
                format!("{} {} {}", c.sql, rng.pick(&["=", "<", "<>"]), other.sql)
            } else {
                format!("{} = {}", c.sql, lit(rng))
            }
        }
        _ => format!(
            "{} {} {}",
            c.sql,
            rng.pick(&["=", "<>", "<", "<=", ">", ">="]),
            lit(rng)
        ),
    }
}

/// An aggregate of `c`.
fn aggregate(rng: &mut Rng, c: &Col) -> String {
    match rng.below(6) {
        0 => "count(*)".into(),
        1 => format!("count({})", c.sql),
        2 => format!("count(DISTINCT {})", c.sql),
        3 if c.ty.is_int() || c.ty == Ty::Dec => format!("sum({})", c.sql),
        // An integer's average through a decimal: as a double it is summed in whatever order the plan adds,
        // and a column holding both of BIGINT's limits cancels to any value (in Trino too).
        4 if c.ty.is_int() => format!("avg(CAST({} AS DECIMAL(20,0)))", c.sql),
        4 if c.ty.is_number() => format!("avg({})", c.sql),
        _ => format!("{}({})", rng.pick(&["min", "max"]), c.sql),
    }
}

/// A key join condition between `a` and `b` (their `k` columns, maybe of different widths).
fn join_on(rng: &mut Rng, a: &[Col], b: &[Col]) -> String {
    let mut on = if rng.chance(0.2) {
        "a.k IS NOT DISTINCT FROM b.k".to_string()
    } else {
        "a.k = b.k".to_string()
    };
    // A second key of the same type, when there is one.
    if rng.chance(0.3) {
        let pairs: Vec<(&Col, &Col)> = a
            .iter()
            .skip(1)
            .flat_map(|x| {
                b.iter()
                    .skip(1)
                    .filter(move |y| y.ty == x.ty)
                    .map(move |y| (x, y))
            })
            .collect();
        if !pairs.is_empty() {
            let (x, y) = pairs[rng.below(pairs.len())];
            on.push_str(&format!(" AND {} = {}", x.sql, y.sql));
        }
    }
    on
}

pub fn query(rng: &mut Rng, t: &Table, u: &Table) -> Query {
    let a = columns(t, "a");
    let b = columns(u, "b");
    let plain = |sql: String| Query {
        sql,
        ordered: false,
        partition: None,
    };
    match rng.below(12) {
        // A filter: partitioned by its predicate too.
        0 | 1 => {
            let n = 1 + rng.below(a.len());
            let mut shown: Vec<String> = (0..n).map(|_| rng.pick(&a).sql.clone()).collect();
            if rng.chance(0.5) {
                shown.extend(nested(t, "a"));
            }
            shown.sort();
            shown.dedup();
            let p = predicate(rng, &a, 2);
            let select = format!("SELECT {} FROM {{t}} a", shown.join(", "));
            Query {
                sql: format!("{select} WHERE {p}"),
                ordered: false,
                partition: Some((select, p)),
            }
        }
        // Distinct counts of integers or dates in few groups.
        2 if rng.chance(0.5) => {
            let counted: Vec<&Col> = a
                .iter()
                .filter(|c| c.ty.is_int() || c.ty == Ty::Date)
                .collect();
            let c = counted[rng.below(counted.len())];
            plain(format!(
                "SELECT a.k % 3, count(DISTINCT {c}), count(*) FROM {{t}} a WHERE {} GROUP BY a.k % 3",
                predicate(rng, &a, 1),
                c = c.sql
            ))
        }
        // Groups.
        2 | 3 => {
            let g = rng.pick(&a).clone();
            let n = 1 + rng.below(3);
            let mut aggs: Vec<String> = (0..n)
                .map(|_| {
                    let c = rng.pick(&a).clone();
                    aggregate(rng, &c)
                })
                .collect();
            aggs.sort();
            aggs.dedup();
            let having = if rng.chance(0.3) {
                " HAVING count(*) > 1"
            } else {
                ""
            };
            plain(format!(
                "SELECT {g}, {} FROM {{t}} a WHERE {} GROUP BY {g}{having}",
                aggs.join(", "),
                predicate(rng, &a, 1),
                g = g.sql
            ))
        }
        // Joins of every kind.
        4 | 5 => {
            let on = join_on(rng, &a, &b);
            let ac = rng.pick(&a).clone();
            let bc = rng.pick(&b).clone();
            let p = predicate(rng, &a, 1);
            plain(match rng.below(7) {
                0 => format!(
                    "SELECT {}, {} FROM {{t}} a JOIN {{u}} b ON {on} WHERE {p}",
                    ac.sql, bc.sql
                ),
                1 => format!(
                    "SELECT {}, {} FROM {{t}} a LEFT JOIN {{u}} b ON {on} WHERE {p}",
                    ac.sql, bc.sql
                ),
                2 => format!(
                    "SELECT {} FROM {{t}} a WHERE {p} AND EXISTS (SELECT 1 FROM {{u}} b WHERE {on})",
                    ac.sql
                ),
                3 => format!(
                    "SELECT {} FROM {{t}} a WHERE {p} AND NOT EXISTS (SELECT 1 FROM {{u}} b WHERE {on})",
                    ac.sql
                ),
                4 => format!(
                    "SELECT {} FROM {{t}} a WHERE a.k {}IN (SELECT b.k FROM {{u}} b{})",
                    ac.sql,
                    if rng.chance(0.5) { "NOT " } else { "" },
                    if rng.chance(0.5) {
                        " WHERE b.k IS NOT NULL"
                    } else {
                        ""
                    }
                ),
                5 => format!(
                    "SELECT b.k, count(*) AS n, {} AS v FROM {{t}} a RIGHT JOIN {{u}} b ON {on} GROUP BY b.k",
                    aggregate(rng, &ac)
                ),
                // The join's probe side aggregated by its key.
                _ => format!(
                    "SELECT x.k, x.n, {} FROM (SELECT k, count(*) AS n FROM {{t}} GROUP BY k) x \
                     JOIN {{u}} b ON x.k = b.k",
                    bc.sql
                ),
            })
        }
        // A top-k: ties broken by every column, NULLs placed.
        6 => {
            let keys: Vec<String> = a
                .iter()
                .map(|c| {
                    format!(
                        "{} {} NULLS {}",
                        c.sql,
                        rng.pick(&["ASC", "DESC"]),
                        rng.pick(&["FIRST", "LAST"])
                    )
                })
                .collect();
            let names: Vec<&str> = a.iter().map(|c| c.sql.as_str()).collect();
            Query {
                sql: format!(
                    "SELECT {} FROM {{t}} a WHERE {} ORDER BY {} LIMIT {}",
                    names.join(", "),
                    predicate(rng, &a, 1),
                    keys.join(", "),
                    rng.pick(&[1, 3, 10, 1000])
                ),
                ordered: true,
                partition: None,
            }
        }
        // A window over groups.
        7 => {
            let g = rng.pick(&a).clone();
            let names: Vec<&str> = a.iter().map(|c| c.sql.as_str()).collect();
            plain(format!(
                "SELECT {all}, count(*) OVER (PARTITION BY {g}), {} OVER (PARTITION BY {g} ORDER BY {all}) \
                 FROM {{t}} a",
                rng.pick(&["rank()", "dense_rank()"]),
                g = g.sql,
                all = names.join(", ")
            ))
        }
        // A CTE referenced twice, and once.
        8 => {
            let g = rng.pick(&a).clone();
            let name = g.sql.trim_start_matches("a.").to_string();
            if rng.chance(0.5) {
                plain(format!(
                    "WITH c AS (SELECT {name} AS g, count(*) AS n FROM {{t}} a WHERE {} GROUP BY {name}) \
                     SELECT x.g, x.n + y.n FROM c x JOIN c y ON x.g IS NOT DISTINCT FROM y.g",
                    predicate(rng, &a, 1)
                ))
            } else {
                plain(format!(
                    "WITH c AS (SELECT {name} AS g FROM {{t}} a WHERE {}) SELECT count(*), count(g) FROM c",
                    predicate(rng, &a, 1)
                ))
            }
        }
        // What the rules reached least need: NOT IN over a subquery (NULLs on either side), distinct counts in
        // many groups, decimal arithmetic, and text compared with text.
        10 | 11 => {
            let p = predicate(rng, &a, 1);
            match rng.below(4) {
                0 => {
                    // A column of `t` and one of `u` of the same type, or the keys (of any widths).
                    let pairs: Vec<(&Col, &Col)> = a
                        .iter()
                        .flat_map(|x| b.iter().filter(move |y| y.ty == x.ty).map(move |y| (x, y)))
                        .collect();
                    let (x, y) = if pairs.is_empty() || rng.chance(0.3) {
                        ("a.k".to_string(), "b.k".to_string())
                    } else {
                        let (x, y) = pairs[rng.below(pairs.len())];
                        (x.sql.clone(), y.sql.clone())
                    };
                    let inner = if rng.chance(0.5) {
                        format!(" WHERE {}", predicate(rng, &b, 1))
                    } else {
                        String::new()
                    };
                    plain(format!(
                        "SELECT a.k AS key, {x} AS v FROM {{t}} a WHERE {x} NOT IN (SELECT {y} FROM {{u}} b{inner}) AND {p}"
                    ))
                }
                1 => {
                    let counted: Vec<&Col> = a
                        .iter()
                        .filter(|c| c.ty.is_int() || c.ty == Ty::Date)
                        .collect();
                    let c = counted[rng.below(counted.len())];
                    let g = rng.pick(&a).clone();
                    plain(format!(
                        "SELECT {g} AS g, count(DISTINCT {c}) AS n FROM {{t}} a WHERE {p} GROUP BY {g}",
                        g = g.sql,
                        c = c.sql
                    ))
                }
                2 => {
                    let decimals: Vec<String> = a
                        .iter()
                        .filter(|c| c.ty == Ty::Dec)
                        .map(|c| c.sql.clone())
                        .chain(std::iter::once(
                            "CAST(a.k % 1000 AS DECIMAL(9,2))".to_string(),
                        ))
                        .collect();
                    let d = rng.pick(&decimals).clone();
                    let e = rng.pick(&decimals).clone();
                    let lit = literal(&value(rng, Ty::Dec), Ty::Dec);
                    plain(format!(
                        "SELECT a.k AS key, {d} {} {e} AS v, {d} {} {lit} AS w FROM {{t}} a WHERE {p}",
                        rng.pick(&["+", "-", "*"]),
                        rng.pick(&["+", "-", "*"]),
                    ))
                }
                _ => {
                    let texts: Vec<String> = a
                        .iter()
                        .filter(|c| c.ty == Ty::Str)
                        .map(|c| c.sql.clone())
                        .chain(std::iter::once("CAST(a.k AS VARCHAR)".to_string()))
                        .collect();
                    let x = rng.pick(&texts).clone();
                    let y = rng.pick(&texts).clone();
                    let lit = literal(&value(rng, Ty::Str), Ty::Str);
                    plain(format!(
                        "SELECT a.k AS key, {x} AS v FROM {{t}} a WHERE ({x} {} {lit} OR {x} = {y}) AND {p}",
                        rng.pick(&["=", "<>"]),
                    ))
                }
            }
        }
        // UNION ALL of the two keys, and a correlated scalar subquery.
        _ => {
            if rng.chance(0.5) {
                plain(format!(
                    "SELECT a.k FROM {{t}} a WHERE {} UNION ALL SELECT b.k FROM {{u}} b",
                    predicate(rng, &a, 1)
                ))
            } else {
                plain(
                    "SELECT a.k, (SELECT count(*) FROM {u} b WHERE b.k = a.k) FROM {t} a"
                        .to_string(),
                )
            }
        }
    }
}
