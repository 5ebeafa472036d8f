//! `PREPARE name FROM <statement>`, `EXECUTE name [USING value, ...]`, `DEALLOCATE PREPARE name`: Athena's
//! prepared statements, kept per work group beside the registry (`catalog::prepared`). A prepared statement's
//! `?`s take the `USING` values in order; each value is a literal (`'2024-06-01'`, `5`, `DATE '2024-06-01'`),
//! bound into the plan as a typed value, never spliced into the SQL text.

use super::Scope;
use crate::catalog::prepared::{PreparedStatement, PreparedStatements};
use crate::cost::StatementType;
use crate::error::{Error, Result};
use crate::sql::Statement;
use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::Schema;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::ColumnarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Statement as Sql};
use std::sync::Arc;

type Done = std::result::Result<
    (StatementType, arrow::datatypes::SchemaRef, Vec<RecordBatch>),
    (StatementType, Error),
>;

/// What to do with a statement once prepared statements are resolved.
pub(crate) enum Resolved {
    /// It was a PREPARE or DEALLOCATE, done.
    Done(Done),
    /// Run this statement (an EXECUTE's prepared one, with its values; or the statement itself).
    Run(Statement, Vec<ScalarValue>),
}

pub(crate) async fn resolve(
    scope: &dyn Scope,
    ctx: &SessionContext,
    stmt: &Statement,
    workgroup: &str,
    execution_parameters: &[String],
) -> Resolved {
    // Athena's `ExecutionParameters`: values for the statement's `?`s, or for an `EXECUTE` without `USING`.
    let given = || {
        execution_parameters
            .iter()
            .enumerate()
            .map(|(i, text)| {
                literal_text(ctx, text)
                    .map_err(|e| Error::Query(format!("execution parameter {}: {e}", i + 1)))
            })
            .collect::<Result<Vec<_>>>()
    };
    let run_as_is = || match given() {
        Ok(values) => Resolved::Run(stmt.clone(), values),
        Err(e) => Resolved::Done(Err((StatementType::Dml, e))),
    };
    let Some(sql) = stmt.sql() else {
        return run_as_is();
    };
    let store = PreparedStatements::new(scope.registry().root());
    let utility = |r: Result<()>| {
        Resolved::Done(
            r.map(|()| (StatementType::Utility, Arc::new(Schema::empty()), vec![]))
                .map_err(|e| (StatementType::Utility, e)),
        )
    };
    match sql {
        Sql::Prepare {
            name,
            data_types,
            statement,
        } => utility(prepare(
            &store,
            workgroup,
            &name.value,
            data_types,
            statement,
        )),
        Sql::Deallocate { name, .. } => utility(match store.delete(workgroup, &name.value) {
            Ok(true) => Ok(()),
            Ok(false) => Err(not_found(&name.value, workgroup)),
            Err(e) => Err(e),
        }),
        Sql::Execute {
            name: Some(name),
            parameters,
            using,
            immediate: false,
            ..
        } => {
            let values: Vec<&SqlExpr> = parameters
                .iter()
                .chain(using.iter().map(|u| &u.expr))
                .collect();
            let run = execute(&store, ctx, workgroup, &name.to_string(), &values).and_then(
                |(stmt, mut values)| {
                    if !execution_parameters.is_empty() {
                        if !values.is_empty() {
                            return Err(Error::Query(format!(
                                "EXECUTE {name}: values given both in USING and as execution parameters"
                            )));
                        }
                        values = given()?;
                    }
                    Ok((stmt, values))
                },
            );
            match run {
                Ok((stmt, values)) => Resolved::Run(stmt, values),
                Err(e) => Resolved::Done(Err((StatementType::Dml, e))),
            }
        }
        _ => run_as_is(),
    }
}

fn not_found(name: &str, workgroup: &str) -> Error {
    Error::Query(format!(
        "prepared statement `{name}` does not exist in work group `{workgroup}`"
    ))
}

fn prepare(
    store: &PreparedStatements,
    workgroup: &str,
    name: &str,
    data_types: &[datafusion::sql::sqlparser::ast::DataType],
    statement: &Sql,
) -> Result<()> {
    if !data_types.is_empty() {
        return Err(Error::Unsupported(
            "PREPARE with parameter types: Athena's PREPARE takes none (`PREPARE name FROM <statement>`)".into(),
        ));
    }
    if matches!(
        statement,
        Sql::Prepare { .. } | Sql::Execute { .. } | Sql::Deallocate { .. }
    ) {
        return Err(Error::Query(format!(
            "`PREPARE {name}`: a prepared statement cannot itself PREPARE, EXECUTE or DEALLOCATE"
        )));
    }
    store.put(&PreparedStatement {
        statement_name: name.to_string(),
        query_statement: statement.to_string(),
        work_group_name: workgroup.to_string(),
        description: None,
        last_modified_time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

/// The prepared statement `name`, parsed, and its values.
fn execute(
    store: &PreparedStatements,
    ctx: &SessionContext,
    workgroup: &str,
    name: &str,
    values: &[&SqlExpr],
) -> Result<(Statement, Vec<ScalarValue>)> {
    let Some(p) = store.get(workgroup, name)? else {
        return Err(not_found(name, workgroup));
    };
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    // Saved by `PREPARE` (its `?`s numbered already) or by the API's CreatePreparedStatement (as written).
    let numbered = crate::sql::athena::number_placeholders(&p.query_statement);
    let text = numbered.as_deref().unwrap_or(&p.query_statement);
    let mut parsed = datafusion::sql::parser::DFParser::parse_sql_with_dialect(text, &dialect)
        .map_err(Error::from)?;
    let (Some(mut stmt), None) = (parsed.pop_front(), parsed.pop_front()) else {
        return Err(Error::Query(format!(
            "prepared statement `{name}` does not hold one statement"
        )));
    };
    let values = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            literal(ctx, v)
                .map_err(|e| Error::Query(format!("EXECUTE {name}: value {}: {e}", i + 1)))
        })
        .collect::<Result<Vec<_>>>()?;
    super::precedence::rebind(&mut stmt);
    crate::sql::table_functions::table_arguments(&mut stmt);
    Ok((Statement::Sql(stmt), values))
}

/// The value of a literal expression (`5`, `-2.5`, `'x'`, `DATE '2024-06-01'`, `NULL`); columns and
/// subqueries are refused.
fn literal(ctx: &SessionContext, expr: &SqlExpr) -> Result<ScalarValue> {
    literal_text(ctx, &expr.to_string())
}

/// The value of a literal written as SQL text.
fn literal_text(ctx: &SessionContext, expr: &str) -> Result<ScalarValue> {
    let state = ctx.state();
    let empty = DFSchema::empty();
    let logical = state
        .create_logical_expr(expr, &empty)
        .map_err(|_| Error::Query(format!("`{expr}` is not a literal value")))?;
    if !logical.column_refs().is_empty() || logical.is_volatile() {
        return Err(Error::Query(format!("`{expr}` is not a literal value")));
    }
    let physical = state
        .create_physical_expr(logical, &empty)
        .map_err(Error::from)?;
    let one_row = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(1)),
    )
    .map_err(|e| Error::internal("a one-row batch", e))?;
    match physical.evaluate(&one_row).map_err(Error::from)? {
        ColumnarValue::Scalar(v) => Ok(v),
        ColumnarValue::Array(a) => ScalarValue::try_from_array(&a, 0).map_err(Error::from),
    }
}
