//! Table functions over a table, `SELECT * FROM tf_idf(TABLE docs, norm => 'l2')`: a function whose input is a
//! whole table (a name or a query) and whose output is rows. `tf_idf` and `drop_null_fields` are planned as SQL
//! over their input, so they run in parallel, spill, are metered and billed like any query, and `EXPLAIN` shows
//! what they do; `find_matches` and `forecast` are nodes of their own over their input's plan.
//!
//! The table argument is written `TABLE name`, `TABLE(name)`, `TABLE (SELECT ...)`, `(SELECT ...)` or a bare
//! name; the other arguments are named (`norm => 'l2'`) constants. `crate::sql::athena::table_arguments` puts
//! Trino's `TABLE name` into the spelling sqlparser reads.
//!
//! - `tf_idf(TABLE docs [, id => 'col', text => 'col'] [, formula => 'spark'|'smooth'|'plain'] [, norm =>
//!   'none'|'l2'] [, min_doc_freq => n] [, tokenize's options])`: one row per (document, term) with `tf` (the
//!   term's count in the document), `df` (documents holding it), `idf` and `tf_idf` = tf × idf.
//!   1. `spark` (default): Spark MLlib's `IDF`, idf = ln((m + 1) / (df + 1)), m the number of documents; 0 for
//!      terms in fewer than `min_doc_freq` documents (Spark's `minDocFreq`).
//!   2. `smooth`: scikit-learn's `TfidfVectorizer` default, ln((1 + m) / (1 + df)) + 1.
//!   3. `plain`: scikit-learn's `smooth_idf=False`, ln(m / df) + 1.
//!
//!   `norm => 'l2'` divides each document's tf-idf values by their Euclidean length (scikit-learn's default;
//!   Spark's `Normalizer`). The text column is tokenized by `tokenize` with the options given (`stop_words`,
//!   `stem`, `lower`, `min_length`); a column that is already a list of terms (from `tokenize` or `ngrams`) is
//!   used as it is. A document whose text is NULL counts in m and has no terms.
//!
//! - `find_matches(TABLE t, columns => 'name, email' [, threshold => 0.9] [, id => 'col'])`: Glue's
//!   FindMatches, the table's rows with `match_id` (the same for records found to be one thing) and
//!   `match_confidence`, by blocking and Levenshtein similarity weighted by how distinct each column is
//!   (`crate::exec::find_matches`). `columns` is a string of names or `ARRAY['name', 'email']`; `threshold` the
//!   least weighted mean similarity of a match (default 0.9); `id` an integer column whose smallest value in a
//!   group is its `match_id`. `labels => 'table'` (Glue's labeling file: `labeling_set_id`, `label` and the
//!   `id` column) tunes the threshold instead, weighted by `precision_recall_tradeoff` (default 0.5): the
//!   labels are joined to the input by `id`, so one plan reads both.
//! - `forecast(TABLE t, time, value, horizon => n [, by => 'col, ...'] [, seasonality => 'automatic'|'none'|n|
//!   ARRAY[n, m]] [, prediction_interval => 90] [, lower_boundary => x] [, upper_boundary => y])`: QuickSight's
//!   forecast of a metric (`crate::exec::forecast`): the fitted history and `horizon` periods ahead with their
//!   prediction interval, one series per `by` value. The time and value columns come by position or as `time =>`
//!   and `value =>`; the other options are QuickSight's, with its ranges.
//! - `drop_null_fields(TABLE t [, empty_strings => true] [, null_strings => true])`: Glue's `DropNullFields`,
//!   the table without the columns that are NULL in every row. Its columns depend on the rows, so it is read
//!   before the statement is planned ([`resolve`]): one query counts each column's values (billed with the
//!   statement, as Glue reads a frame twice), and the call becomes `(SELECT <the other columns> FROM t)`.
//!   `empty_strings` and `null_strings` count `''` and the text `null` as NULL too (Glue Studio's "empty
//!   string" and "null string" choices). A table with no rows keeps its columns; one whose every column is NULL
//!   is an error. [`resolve_for_estimate`] prices both reads of the table without running either.
//!
//! The invariant: a table function's SQL reads its input as written by the user and nothing else, and holds
//! nothing whole in memory that a sort could spill (`tf_idf` reads its input twice: for the terms, sorted by
//! term for df, and for the number of documents, which a table's statistics may answer without reading).

use crate::exec::text::{TOKENIZE_OPTIONS, TokenizeOptions};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result, plan_datafusion_err, plan_err};
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, Query,
    TableFactor, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The table functions owl plans (a [`RelationPlanner`] registered in every session).
#[derive(Debug)]
pub struct TableFunctions;

/// The table functions by name, for messages.
pub const NAMES: [&str; 4] = ["tf_idf", "drop_null_fields", "find_matches", "forecast"];

impl RelationPlanner for TableFunctions {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::Table {
            name,
            alias,
            args: Some(args),
            ..
        } = &relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let Some(function) = function_name(name) else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let call = Call::read(&function, &args.args)?;
        if function == "forecast" {
            let plan = forecast(call, context)?;
            return Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
                plan,
                alias.clone(),
            ))));
        }
        call.no_positional()?;
        if function == "find_matches" {
            let plan = find_matches(call, context)?;
            return Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
                plan,
                alias.clone(),
            ))));
        }
        let sql = match function.as_str() {
            "tf_idf" => tf_idf(&call, context)?,
            // Read before planning (`resolve`): its columns depend on the rows.
            _ => {
                return plan_err!(
                    "{function} reads its table before the statement is planned, which this statement's path \
                     does not do: run it as a query"
                );
            }
        };
        let query = parse_query(&sql)?;
        let plan = context.plan(TableFactor::Derived {
            lateral: false,
            subquery: Box::new(query),
            alias: None,
            sample: None,
        })?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan,
            alias.clone(),
        ))))
    }
}

fn parse_query(sql: &str) -> Result<Query> {
    let q = Parser::new(&GenericDialect {})
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| plan_datafusion_err!("a table function's SQL does not parse: {e}"))?;
    Ok(*q)
}

/// Every table function's table argument of `statement` written as a subquery, `tf_idf((SELECT * FROM docs))`:
/// DataFusion finds the tables a statement reads before planning it, and it looks into subqueries, not into
/// `TABLE(docs)`. An argument that is not a table is left for planning to name.
pub(crate) fn table_arguments(statement: &mut datafusion::sql::parser::Statement) {
    use datafusion::sql::parser::{CopyToSource, Statement};
    use datafusion::sql::sqlparser::ast::VisitMut;
    let mut v = AsSubqueries;
    match statement {
        Statement::Statement(s) => {
            let _ = s.as_mut().visit(&mut v);
        }
        Statement::CopyTo(copy) => {
            if let CopyToSource::Query(q) = &mut copy.source {
                let _ = q.as_mut().visit(&mut v);
            }
        }
        Statement::Explain(explain) => table_arguments(&mut explain.statement),
        Statement::CreateExternalTable(_) | Statement::Reset(_) => {}
    }
}

struct AsSubqueries;

impl datafusion::sql::sqlparser::ast::VisitorMut for AsSubqueries {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> std::ops::ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
            && let Some(function) = function_name(name)
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(e))) = args.args.first_mut()
            && !matches!(e, SqlExpr::Subquery(_))
            && let Ok(sql) = table_argument(&function, e)
            && let Ok(q) = parse_query(&sql)
        {
            *e = SqlExpr::Subquery(Box::new(q));
        }
        // A table named in an option (`find_matches`' `labels => 'labels'`) too.
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
            && let Some(function) = function_name(name)
        {
            for arg in args.args.iter_mut() {
                if let FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } = arg
                    && TABLE_OPTIONS.contains(&name.value.to_ascii_lowercase().as_str())
                    && !matches!(e, SqlExpr::Subquery(_))
                    && let Ok(sql) = option_table(&function, e)
                    && let Ok(q) = parse_query(&sql)
                {
                    *e = SqlExpr::Subquery(Box::new(q));
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// The options that name a table.
const TABLE_OPTIONS: [&str; 1] = ["labels"];

/// The SQL of a table given as an option: a name or a path as a string (`'labels'`, `'lake/labels/'`), or
/// written as a table argument is (`TABLE labels`, `(SELECT ...)`).
fn option_table(function: &str, e: &SqlExpr) -> Result<String> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            Value::SingleQuotedString(t) => Ok(table_argument_sql(t)),
            other => plan_err!("{function}: `{other}` is not a table: give its name as a string"),
        },
        e => table_argument(function, e),
    }
}

/// The table function `name` calls, if it is one of [`NAMES`].
fn function_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(|i| i.value.to_ascii_lowercase())
            .filter(|n| NAMES.contains(&n.as_str())),
        _ => None,
    }
}

/// A call: its table argument as a query's SQL text, and its named constants.
struct Call {
    function: String,
    input: String,
    /// Column names given by position after the table (`forecast(TABLE t, ts, revenue)`).
    positional: Vec<String>,
    options: BTreeMap<String, String>,
}

impl Call {
    fn read(function: &str, args: &[FunctionArg]) -> Result<Call> {
        let mut input = None;
        let mut positional = vec![];
        let mut options = BTreeMap::new();
        for arg in args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if input.is_none() => {
                    input = Some(table_argument(function, e)?);
                }
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if options.is_empty() => {
                    positional.push(match e {
                        SqlExpr::Identifier(i) => i.value.clone(),
                        e => constant(function, "a column", e)?,
                    });
                }
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => {
                    let key = name.value.to_ascii_lowercase();
                    let value = if TABLE_OPTIONS.contains(&key.as_str()) {
                        option_table(function, e)?
                    } else {
                        constant(function, &key, e)?
                    };
                    if options.insert(key.clone(), value).is_some() {
                        return plan_err!("{function}: `{key}` is given twice");
                    }
                }
                other => {
                    return plan_err!(
                        "{function}: `{other}` is not an argument it takes: a table (`TABLE docs`) first, then \
                         named options (`name => 'value'`)"
                    );
                }
            }
        }
        let input = input.ok_or_else(|| {
            plan_datafusion_err!("{function} reads a table: write {function}(TABLE docs, ...)")
        })?;
        Ok(Call {
            function: function.to_string(),
            input,
            positional,
            options,
        })
    }

    /// An error when arguments were given by position after the table (only `forecast` takes them).
    fn no_positional(&self) -> Result<()> {
        match self.positional.first() {
            Some(p) => plan_err!(
                "{}: `{p}` is not an argument it takes: a table (`TABLE docs`) first, then named options \
                 (`name => 'value'`)",
                self.function
            ),
            None => Ok(()),
        }
    }

    /// Option `key`, given by name or as the `position`-th argument after the table.
    fn take_at(&mut self, key: &str, position: usize) -> Result<Option<String>> {
        let named = self.take(key);
        let positional = self.positional.get(position).cloned();
        match (named, positional) {
            (Some(_), Some(_)) => plan_err!(
                "{}: `{key}` is given twice, by position and by name",
                self.function
            ),
            (n, p) => Ok(n.or(p)),
        }
    }

    /// Takes option `key`, if given.
    fn take(&mut self, key: &str) -> Option<String> {
        self.options.remove(key)
    }

    /// The options no one took: an error naming the first.
    fn done(&self, known: &[&str]) -> Result<()> {
        match self.options.keys().next() {
            Some(k) => plan_err!(
                "{}: unknown option `{k}`: the options are {}",
                self.function,
                known.join(", ")
            ),
            None => Ok(()),
        }
    }
}

/// The SQL of a table argument's rows.
fn table_argument(function: &str, e: &SqlExpr) -> Result<String> {
    let name = |e: &SqlExpr| -> Option<ObjectName> {
        match e {
            SqlExpr::Identifier(i) => Some(ObjectName::from(vec![i.clone()])),
            SqlExpr::CompoundIdentifier(parts) => Some(ObjectName::from(parts.clone())),
            _ => None,
        }
    };
    // A path (`TABLE 'docs/'`) reads as `FROM 'docs/'` does.
    let path = |e: &SqlExpr| -> Option<String> {
        match e {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(p) => Some(format!("SELECT * FROM {}", literal(p))),
                _ => None,
            },
            _ => None,
        }
    };
    if let Some(n) = name(e) {
        return Ok(format!("SELECT * FROM {n}"));
    }
    if let Some(p) = path(e) {
        return Ok(p);
    }
    match e {
        SqlExpr::Subquery(q) => Ok(q.to_string()),
        // `TABLE 'docs/'` parses as a typed string, as `DATE '2024-01-01'` does.
        SqlExpr::TypedString(t) if t.data_type.to_string().eq_ignore_ascii_case("table") => {
            match &t.value.value {
                Value::SingleQuotedString(p) => Ok(format!("SELECT * FROM {}", literal(p))),
                other => plan_err!("{function}: `TABLE {other}` is not a table or a path"),
            }
        }
        SqlExpr::Function(f) if f.name.to_string().eq_ignore_ascii_case("table") => {
            if let FunctionArguments::List(list) = &f.args
                && let [FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))] = list.args.as_slice()
            {
                if let Some(n) = name(inner) {
                    return Ok(format!("SELECT * FROM {n}"));
                }
                if let Some(p) = path(inner) {
                    return Ok(p);
                }
                if let SqlExpr::Subquery(q) = inner {
                    return Ok(q.to_string());
                }
            }
            plan_err!("{function}: `{e}` is not a table: write TABLE name or TABLE (SELECT ...)")
        }
        other => plan_err!(
            "{function}: its first argument is a table, not `{other}`: write {function}(TABLE name, ...)"
        ),
    }
}

/// A named argument's constant, as text.
fn constant(function: &str, key: &str, e: &SqlExpr) -> Result<String> {
    let v = match e {
        SqlExpr::Value(v) => &v.value,
        // `ARRAY['a', 'b']`: its constants, separated by commas.
        SqlExpr::Array(a) => {
            let parts = a
                .elem
                .iter()
                .map(|e| constant(function, key, e))
                .collect::<Result<Vec<_>>>()?;
            return Ok(parts.join(", "));
        }
        SqlExpr::UnaryOp { op, expr } if op.to_string() == "-" => {
            return constant(function, key, expr).map(|v| format!("-{v}"));
        }
        _ => return plan_err!("{function}: `{key}` is a constant, not `{e}`"),
    };
    match v {
        Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => Ok(s.clone()),
        Value::Number(n, _) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        other => plan_err!("{function}: `{key}` is a constant, not `{other}`"),
    }
}

/// `name` as a quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The columns of a query's rows: (name, type).
fn columns(sql: &str, context: &mut dyn RelationPlannerContext) -> Result<Vec<(String, DataType)>> {
    let plan = context.plan(TableFactor::Derived {
        lateral: false,
        subquery: Box::new(parse_query(sql)?),
        alias: None,
        sample: None,
    })?;
    let schema: &DFSchema = plan.schema();
    Ok(schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect())
}

/// The column named by option `key`, or the one at `position` when the table has exactly two.
fn pick(
    call: &mut Call,
    key: &str,
    position: usize,
    cols: &[(String, DataType)],
) -> Result<(String, DataType)> {
    let listed = || {
        cols.iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match call.take(key) {
        Some(name) => cols
            .iter()
            .find(|(n, _)| *n == name)
            .or_else(|| cols.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)))
            .cloned()
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "{}: no column `{name}` for `{key}`: the table has {}",
                    call.function,
                    listed()
                )
            }),
        None if cols.len() == 2 => Ok(cols[position].clone()),
        None => plan_err!(
            "{}: the table has {} columns ({}): name the document's with `id => '...'` and its text's with \
             `text => '...'`",
            call.function,
            cols.len(),
            listed()
        ),
    }
}

/// The options `tf_idf` takes besides tokenize's.
const TF_IDF_OPTIONS: [&str; 5] = ["id", "text", "formula", "norm", "min_doc_freq"];

fn tf_idf(call: &Call, context: &mut dyn RelationPlannerContext) -> Result<String> {
    let mut call = Call {
        function: call.function.clone(),
        input: call.input.clone(),
        positional: vec![],
        options: call.options.clone(),
    };
    let known: Vec<&str> = TF_IDF_OPTIONS
        .iter()
        .chain(TOKENIZE_OPTIONS.iter())
        .copied()
        .collect();
    if let Some(k) = call.options.keys().find(|k| !known.contains(&k.as_str())) {
        return plan_err!(
            "tf_idf: unknown option `{k}`: the options are {}",
            known.join(", ")
        );
    }
    let cols = columns(&call.input, context)?;
    if cols.len() < 2 {
        return plan_err!(
            "tf_idf reads a table of (document id, text); this one has {} column",
            cols.len()
        );
    }
    let (id, _) = pick(&mut call, "id", 0, &cols)?;
    let (text, text_type) = pick(&mut call, "text", 1, &cols)?;
    let mut tokenize = TokenizeOptions::default();
    for key in TOKENIZE_OPTIONS {
        if let Some(v) = call.take(key) {
            tokenize
                .set(key, &v)
                .map_err(|e| plan_datafusion_err!("tf_idf: {e}"))?;
        }
    }
    let formula = call.take("formula").unwrap_or_else(|| "spark".into());
    let norm = call.take("norm").unwrap_or_else(|| "none".into());
    let min_doc_freq: i64 = match call.take("min_doc_freq") {
        Some(v) => v.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
            plan_datafusion_err!("tf_idf: `min_doc_freq` is a whole number ≥ 0, not `{v}`")
        })?,
        None => 0,
    };
    call.done(&known)?;
    let (m, df) = ("CAST(m.\"m\" AS DOUBLE)", "CAST(f.\"df\" AS DOUBLE)");
    let idf = match formula.to_ascii_lowercase().as_str() {
        "spark" => format!("ln(({m} + 1) / ({df} + 1))"),
        "smooth" => format!("(ln((1 + {m}) / (1 + {df})) + 1)"),
        "plain" => format!("(ln({m} / {df}) + 1)"),
        other => {
            return plan_err!("tf_idf: `formula` is spark, smooth or plain, not `{other}`");
        }
    };
    let idf = if min_doc_freq > 0 {
        format!("CASE WHEN f.\"df\" >= {min_doc_freq} THEN {idf} ELSE 0.0 END")
    } else {
        idf
    };
    let terms = match text_type {
        DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(_, _) => ident(&text),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => format!(
            "tokenize({}, {})",
            ident(&text),
            literal(&tokenize.render())
        ),
        other => {
            return plan_err!(
                "tf_idf: the text column `{text}` is {other}: it must be text or a list of terms"
            );
        }
    };
    let out_id =
        if ["term", "tf", "df", "idf", "tf_idf"].contains(&id.to_ascii_lowercase().as_str()) {
            "document".to_string()
        } else {
            id.clone()
        };
    let input = &call.input;
    // No shared subquery: each (document, term) count streams into a sort by term for df (a window, which
    // spills), and the number of documents is its own read of the input; nothing is held whole in memory. The
    // window's key is the term cast, so a filter on `term` stays above it: pushed below, DataFusion 55 drops the
    // sort of a column it then knows constant and fails an assertion ("All partition by columns should have an
    // ordering").
    let counts = format!(
        "SELECT \"d\", \"term\", count(*) AS \"tf\" FROM (SELECT {id} AS \"d\", unnest({terms}) AS \"term\" \
         FROM ({input}) AS \"__owl_input\") AS u WHERE \"term\" IS NOT NULL GROUP BY \"d\", \"term\"",
        id = ident(&id),
    );
    let select = format!(
        "SELECT f.\"d\" AS \"d\", f.\"term\" AS \"term\", f.\"tf\" AS \"tf\", f.\"df\" AS \"df\", {idf} AS \"idf\", \
         CAST(f.\"tf\" AS DOUBLE) * {idf} AS \"w\" FROM (SELECT \"d\", \"term\", \"tf\", count(*) OVER (PARTITION BY \
         arrow_cast(\"term\", 'LargeUtf8')) AS \"df\" FROM ({counts}) AS c) AS f CROSS JOIN (SELECT count(*) AS \"m\" FROM ({input}) AS \"__owl_documents\") AS m"
    );
    let out = ident(&out_id);
    Ok(match norm.to_ascii_lowercase().as_str() {
        "none" => format!(
            "SELECT \"d\" AS {out}, \"term\", \"tf\", \"df\", \"idf\", \"w\" AS \"tf_idf\" FROM ({select}) AS s"
        ),
        "l2" => format!(
            "SELECT \"d\" AS {out}, \"term\", \"tf\", \"df\", \"idf\", CASE WHEN \"n\" = 0 THEN 0.0 ELSE \
             \"w\" / \"n\" END AS \"tf_idf\" FROM (SELECT *, sqrt(sum(\"w\" * \"w\") OVER (PARTITION BY \"d\")) AS \
             \"n\" FROM ({select}) AS s) AS s"
        ),
        other => return plan_err!("tf_idf: `norm` is none or l2, not `{other}`"),
    })
}

/// How a statement's `drop_null_fields` calls are replaced.
#[derive(Clone, Copy, PartialEq)]
enum Resolve {
    /// Read the table's counts and keep the columns that have values.
    Run,
    /// No read: the table twice (`UNION ALL`), so an estimate prices the count and the read of every column.
    Estimate,
}

/// Every `drop_null_fields(...)` of `statement` replaced by the query of the columns that hold a value, after
/// reading the counts through `ctx` (its meter bills them with the statement).
pub(crate) async fn resolve(
    ctx: &datafusion::prelude::SessionContext,
    statement: &mut datafusion::sql::parser::Statement,
) -> crate::error::Result<()> {
    resolve_with(ctx, statement, Resolve::Run).await
}

/// [`resolve`] for an estimate: nothing is read; the call becomes its table read twice.
pub(crate) async fn resolve_for_estimate(
    ctx: &datafusion::prelude::SessionContext,
    statement: &mut datafusion::sql::parser::Statement,
) -> crate::error::Result<()> {
    resolve_with(ctx, statement, Resolve::Estimate).await
}

async fn resolve_with(
    ctx: &datafusion::prelude::SessionContext,
    statement: &mut datafusion::sql::parser::Statement,
    mode: Resolve,
) -> crate::error::Result<()> {
    use datafusion::sql::parser::{CopyToSource, Statement};
    match statement {
        Statement::Statement(s) => resolve_in(ctx, s.as_mut(), mode).await,
        Statement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(q) => resolve_in(ctx, q.as_mut(), mode).await,
            CopyToSource::Relation(_) => Ok(()),
        },
        Statement::Explain(explain) => {
            Box::pin(resolve_with(ctx, &mut explain.statement, mode)).await
        }
        Statement::CreateExternalTable(_) | Statement::Reset(_) => Ok(()),
    }
}

/// The outermost calls of a tree, in visiting order (a call inside another's table argument is resolved with
/// that argument).
#[derive(Default)]
struct Calls {
    found: Vec<std::result::Result<Call, String>>,
    depth: usize,
}

fn is_call(factor: &TableFactor) -> bool {
    matches!(factor, TableFactor::Table { name, args: Some(_), .. }
        if function_name(name).as_deref() == Some("drop_null_fields"))
}

impl datafusion::sql::sqlparser::ast::Visitor for Calls {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> std::ops::ControlFlow<()> {
        if let TableFactor::Table {
            args: Some(args), ..
        } = factor
            && is_call(factor)
        {
            if self.depth == 0 {
                self.found.push(
                    Call::read("drop_null_fields", &args.args).map_err(|e| e.strip_backtrace()),
                );
            }
            self.depth += 1;
        }
        std::ops::ControlFlow::Continue(())
    }
    fn post_visit_table_factor(&mut self, factor: &TableFactor) -> std::ops::ControlFlow<()> {
        if is_call(factor) {
            self.depth -= 1;
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// Replaces, in visiting order, each call by the next query of `with`.
struct Replace(std::collections::VecDeque<Query>);

impl datafusion::sql::sqlparser::ast::VisitorMut for Replace {
    type Break = ();
    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> std::ops::ControlFlow<()> {
        if is_call(factor)
            && let TableFactor::Table { alias, .. } = factor
            && let Some(q) = self.0.pop_front()
        {
            *factor = TableFactor::Derived {
                lateral: false,
                subquery: Box::new(q),
                alias: alias.clone(),
                sample: None,
            };
        }
        std::ops::ControlFlow::Continue(())
    }
}

async fn resolve_in<T>(
    ctx: &datafusion::prelude::SessionContext,
    tree: &mut T,
    mode: Resolve,
) -> crate::error::Result<()>
where
    T: datafusion::sql::sqlparser::ast::Visit + datafusion::sql::sqlparser::ast::VisitMut,
{
    use crate::error::Error;
    let mut calls = Calls::default();
    let _ = datafusion::sql::sqlparser::ast::Visit::visit(&*tree, &mut calls);
    if calls.found.is_empty() {
        return Ok(());
    }
    let mut queries = std::collections::VecDeque::new();
    for found in calls.found {
        let mut call = found.map_err(Error::Query)?;
        // The argument's own calls first.
        let mut input = parse_query(&call.input).map_err(Error::from)?;
        Box::pin(resolve_in(ctx, &mut input, mode)).await?;
        call.input = input.to_string();
        let sql = match mode {
            Resolve::Run => drop_null_fields(ctx, &mut call).await?,
            Resolve::Estimate => {
                format!(
                    "SELECT * FROM ({0}) AS t UNION ALL SELECT * FROM ({0}) AS t",
                    call.input
                )
            }
        };
        queries.push_back(parse_query(&sql).map_err(Error::from)?);
    }
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(tree, &mut Replace(queries));
    Ok(())
}

/// The options `drop_null_fields` takes.
const DROP_NULL_FIELDS_OPTIONS: [&str; 2] = ["empty_strings", "null_strings"];

fn flag(call: &mut Call, key: &str) -> Result<bool> {
    match call.take(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(v) => plan_err!("{}: `{key}` is true or false, not `{v}`", call.function),
    }
}

/// The query of the columns of `call`'s table that hold a value, after counting them.
async fn drop_null_fields(
    ctx: &datafusion::prelude::SessionContext,
    call: &mut Call,
) -> crate::error::Result<String> {
    use crate::error::Error;
    use datafusion::arrow::array::AsArray;
    let empty = flag(call, "empty_strings")?;
    let null_text = flag(call, "null_strings")?;
    call.no_positional()?;
    call.done(&DROP_NULL_FIELDS_OPTIONS)?;
    let input = &call.input;
    let probe = ctx
        .state()
        .create_logical_plan(&format!("SELECT * FROM ({input}) AS t"))
        .await
        .map_err(Error::from)?;
    let cols: Vec<(String, DataType)> = probe
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    let counted: Vec<String> = cols
        .iter()
        .map(|(name, t)| {
            let c = ident(name);
            let text = matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
            let mut nulls = vec![];
            if text && empty {
                nulls.push("''");
            }
            if text && null_text {
                nulls.push("'null'");
            }
            if nulls.is_empty() {
                format!("count({c})")
            } else {
                format!(
                    "count(CASE WHEN {c} IN ({}) THEN NULL ELSE {c} END)",
                    nulls.join(", ")
                )
            }
        })
        .collect();
    let sql = format!(
        "SELECT count(*), {} FROM ({input}) AS t",
        if counted.is_empty() {
            "0".to_string()
        } else {
            counted.join(", ")
        }
    );
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(Error::from)?
        .collect()
        .await
        .map_err(Error::from)?;
    let counts: Vec<i64> = match batches.iter().find(|b| b.num_rows() > 0) {
        Some(b) => (0..b.num_columns())
            .map(|i| {
                b.column(i)
                    .as_primitive_opt::<datafusion::arrow::datatypes::Int64Type>()
                    .map_or(0, |a| a.value(0))
            })
            .collect(),
        None => vec![0; cols.len() + 1],
    };
    let rows = counts[0];
    let kept: Vec<String> = cols
        .iter()
        .zip(&counts[1..])
        .filter(|(_, n)| rows == 0 || **n > 0)
        .map(|((name, _), _)| ident(name))
        .collect();
    if kept.is_empty() {
        return Err(Error::Query(
            "drop_null_fields: every column of its table is NULL in every row: nothing is left"
                .into(),
        ));
    }
    Ok(format!("SELECT {} FROM ({input}) AS t", kept.join(", ")))
}

/// The options `find_matches` takes.
const FIND_MATCHES_OPTIONS: [&str; 5] = [
    "columns",
    "threshold",
    "id",
    "labels",
    "precision_recall_tradeoff",
];

fn find_matches(
    mut call: Call,
    context: &mut dyn RelationPlannerContext,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    use crate::exec::find_matches::{Labels, MatchSpec};
    let columns = call.take("columns");
    let threshold = call.take("threshold");
    let id = call.take("id");
    let labels = call.take("labels");
    let tradeoff = call.take("precision_recall_tradeoff");
    call.done(&FIND_MATCHES_OPTIONS)?;
    let plan = |sql: &str, context: &mut dyn RelationPlannerContext| {
        context.plan(TableFactor::Derived {
            lateral: false,
            subquery: Box::new(parse_query(sql)?),
            alias: None,
            sample: None,
        })
    };
    let mut input = plan(&call.input, context)?;
    let schema = input.schema().as_arrow().clone();
    let listed = || {
        schema
            .fields()
            .iter()
            .map(|f| format!("`{}`", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let position = |name: &str, what: &str| -> Result<usize> {
        let name = name.trim();
        schema
            .fields()
            .iter()
            .position(|f| f.name() == name)
            .or_else(|| {
                schema
                    .fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(name))
            })
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "find_matches: no column `{name}` for `{what}`: the table has {}",
                    listed()
                )
            })
    };
    let columns = columns.ok_or_else(|| {
        plan_datafusion_err!(
            "find_matches compares the columns named by `columns => 'name, email'`: the table has {}",
            listed()
        )
    })?;
    let columns = columns
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(|c| position(c, "columns"))
        .collect::<Result<Vec<_>>>()?;
    if columns.is_empty() {
        return plan_err!("find_matches: `columns` names no column");
    }
    let threshold_given = threshold.is_some();
    let threshold = match threshold {
        Some(t) => t
            .parse::<f64>()
            .ok()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or_else(|| {
                plan_datafusion_err!("find_matches: `threshold` is 0 to 1, not `{t}`")
            })?,
        None => 0.9,
    };
    let id = match id {
        Some(name) => {
            let i = position(&name, "id")?;
            if !schema.field(i).data_type().is_integer() {
                return plan_err!(
                    "find_matches: the id column `{}` is {}: it must be an integer column",
                    schema.field(i).name(),
                    schema.field(i).data_type()
                );
            }
            Some(i)
        }
        None => None,
    };
    let labels = match (labels, tradeoff) {
        (None, None) => None,
        (None, Some(_)) => {
            return plan_err!(
                "find_matches: `precision_recall_tradeoff` weighs the labels: add `labels => 'table'`"
            );
        }
        (Some(table), tradeoff) => {
            let tradeoff = match tradeoff {
                Some(t) => t.parse::<f64>().ok().filter(|t| *t > 0.0 && *t < 1.0).ok_or_else(|| {
                    plan_datafusion_err!(
                        "find_matches: `precision_recall_tradeoff` is between 0 and 1 (0.5 weighs both alike), not `{t}`"
                    )
                })?,
                None => 0.5,
            };
            if threshold_given {
                return plan_err!(
                    "find_matches: the labels tune the threshold: give `labels` or `threshold`, not both"
                );
            }
            let Some(id) = id else {
                return plan_err!(
                    "find_matches: labeled records are found by their id: add `id => 'column'`, the column the \
                     labels table names them by"
                );
            };
            let id_name = schema.field(id).name().clone();
            let labels_sql = table;
            let label_columns = columns_of(&labels_sql, context)?;
            for needed in [id_name.as_str(), "labeling_set_id", "label"] {
                if !label_columns.iter().any(|c| c == needed) {
                    return plan_err!(
                        "find_matches: the labels table has no column `{needed}`: it needs `labeling_set_id`, \
                         `label` and the id column `{id_name}` (Glue's labeling file); it has {}",
                        label_columns
                            .iter()
                            .map(|c| format!("`{c}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            // Each record's set and label (a record in several sets counts in the first).
            let sql = format!(
                "SELECT t.*, l.\"__owl_labeling_set\", l.\"__owl_label\" FROM ({input}) AS t LEFT JOIN \
                 (SELECT {id} AS \"__owl_id\", min(CAST(labeling_set_id AS VARCHAR)) AS \"__owl_labeling_set\", \
                 min(CAST(label AS VARCHAR)) AS \"__owl_label\" FROM ({labels_sql}) AS l GROUP BY {id}) AS l \
                 ON t.{id} = l.\"__owl_id\"",
                input = call.input,
                id = ident(&id_name),
            );
            input = plan(&sql, context)?;
            Some(Labels { tradeoff })
        }
    };
    crate::exec::whole_input::WholeInputNode::plan(
        input,
        Arc::new(MatchSpec {
            columns,
            id,
            threshold,
            labels,
        }),
    )
}

/// The SQL of a table named in an option (`labels => 'name'` or a path, `labels => 'lake/labels/'`).
fn table_argument_sql(table: &str) -> String {
    let t = table.trim();
    if t.contains('/') {
        format!("SELECT * FROM {}", literal(t))
    } else {
        let parts: Vec<String> = t.split('.').map(|p| ident(p.trim())).collect();
        format!("SELECT * FROM {}", parts.join("."))
    }
}

/// The column names of a query's rows.
fn columns_of(sql: &str, context: &mut dyn RelationPlannerContext) -> Result<Vec<String>> {
    Ok(columns(sql, context)?.into_iter().map(|(n, _)| n).collect())
}

/// The options `forecast` takes (`time` and `value` also by position after the table).
const FORECAST_OPTIONS: [&str; 8] = [
    "time",
    "value",
    "by",
    "horizon",
    "seasonality",
    "prediction_interval",
    "lower_boundary",
    "upper_boundary",
];

fn forecast(
    mut call: Call,
    context: &mut dyn RelationPlannerContext,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    use crate::exec::forecast::{ForecastSpec, Seasonality, TimeKind};
    if call.positional.len() > 2 {
        return plan_err!(
            "forecast takes the time and value columns by position, then named options: `{}` is one too many",
            call.positional[2]
        );
    }
    let time = call.take_at("time", 0)?;
    let value = call.take_at("value", 1)?;
    let by = call.take("by");
    let horizon = call.take("horizon");
    let seasonality = call.take("seasonality");
    let interval = call.take("prediction_interval");
    let lower = call.take("lower_boundary");
    let upper = call.take("upper_boundary");
    call.done(&FORECAST_OPTIONS)?;
    let cols = columns(&call.input, context)?;
    let listed = || {
        cols.iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |name: &str, what: &str| -> Result<(String, DataType)> {
        let name = name.trim();
        cols.iter()
            .find(|(n, _)| n == name)
            .or_else(|| cols.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
            .cloned()
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "forecast: no column `{name}` for the {what}: the table has {}",
                    listed()
                )
            })
    };
    let (Some(time), Some(value)) = (time, value) else {
        return plan_err!(
            "forecast needs the time and value columns: forecast(TABLE t, ts, revenue, horizon => 12); the \
             table has {}",
            listed()
        );
    };
    let (time, time_type) = find(&time, "time")?;
    if TimeKind::of(&time_type).is_none() {
        return plan_err!(
            "forecast: the time column `{time}` is {time_type}: a date, a timestamp or an integer"
        );
    }
    let (value, value_type) = find(&value, "value")?;
    if !value_type.is_numeric() {
        return plan_err!(
            "forecast: the value column `{value}` is {value_type}: it must be a number"
        );
    }
    let by = by
        .iter()
        .flat_map(|b| b.split(','))
        .filter(|b| !b.trim().is_empty())
        .map(|b| find(b, "series (`by`)").map(|(n, _)| n))
        .collect::<Result<Vec<_>>>()?;
    let whole = |key: &str, v: &str, lo: u64, hi: u64| -> Result<u64> {
        v.trim()
            .parse::<u64>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| {
                plan_datafusion_err!(
                    "forecast: `{key}` is a whole number from {lo} to {hi}, not `{v}`"
                )
            })
    };
    let horizon = match horizon {
        Some(h) => whole("horizon", &h, 1, 1000)? as usize,
        None => {
            return plan_err!("forecast: how many periods ahead? add `horizon => 12` (1 to 1000)");
        }
    };
    let seasonality = match seasonality.as_deref().map(str::trim) {
        None => Seasonality::Automatic,
        Some(s) if s.eq_ignore_ascii_case("automatic") || s.eq_ignore_ascii_case("auto") => {
            Seasonality::Automatic
        }
        Some(s) if s.eq_ignore_ascii_case("none") => Seasonality::Periods(vec![]),
        Some(s) => Seasonality::Periods(
            s.split(',')
                .map(|p| whole("seasonality", p, 1, 180).map(|p| p as usize))
                .collect::<Result<Vec<_>>>()
                .map_err(|_| {
                    plan_datafusion_err!(
                        "forecast: `seasonality` is automatic, none, or periods from 1 to 180 (`12`, \
                         ARRAY[24, 168]), not `{s}`"
                    )
                })?,
        ),
    };
    let prediction_interval = match interval {
        Some(i) => whole("prediction_interval", &i, 50, 95)? as u32,
        None => 90,
    };
    let bound = |key: &str, v: Option<String>| -> Result<Option<f64>> {
        v.map(|v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|b| b.is_finite())
                .ok_or_else(|| plan_datafusion_err!("forecast: `{key}` is a number, not `{v}`"))
        })
        .transpose()
    };
    let lower_boundary = bound("lower_boundary", lower)?;
    let upper_boundary = bound("upper_boundary", upper)?;
    if let (Some(l), Some(u)) = (lower_boundary, upper_boundary)
        && l > u
    {
        return plan_err!("forecast: `lower_boundary` {l} is above `upper_boundary` {u}");
    }
    let selected: Vec<String> = by
        .iter()
        .map(|b| ident(b))
        .chain([
            ident(&time),
            format!("CAST({} AS DOUBLE) AS {}", ident(&value), ident(&value)),
        ])
        .collect();
    let sql = format!("SELECT {} FROM ({}) AS t", selected.join(", "), call.input);
    let input = context.plan(TableFactor::Derived {
        lateral: false,
        subquery: Box::new(parse_query(&sql)?),
        alias: None,
        sample: None,
    })?;
    crate::exec::whole_input::WholeInputNode::plan(
        input,
        Arc::new(ForecastSpec {
            by: by.len(),
            horizon,
            seasonality,
            prediction_interval,
            lower_boundary,
            upper_boundary,
        }),
    )
}
