//! The Athena API (`X-Amz-Target: AmazonAthena.<Operation>`), with the shapes and error codes of botocore's
//! `athena` service model: queries (start, poll, page results, stop, list), work groups, the data catalog
//! (databases and tables of the registry), prepared statements and named queries.
//!
//! Where owl differs from Athena, and why:
//! - A query with no output location (none asked, none in its work group) writes its results under the
//!   registry, `<catalog>/.results/`, rather than failing: a laptop has no S3 bucket to name.
//! - An output location is an `s3://` prefix or a local folder under one of the server's `--allow-root`s.
//! - The catalog is `AwsDataCatalog` (any casing) or owl's own name for it.

use super::input::{
    epoch_rfc3339, max_results, name_pattern, next_token, opt_bool, opt_int, opt_str, paged,
    req_str, str_list, token, with_next,
};
use super::queries::{Extra, Record};
use super::{ApiError, Caller, Server};
use crate::catalog::named_queries::{NamedQueries, NamedQuery};
use crate::catalog::prepared::{PreparedStatement, PreparedStatements, check_workgroup};
use crate::catalog::workgroups::{self, WorkGroup, WorkGroups};
use crate::cost::{QueryState, StatementType};
use crate::engine::QueryRequest;
use crate::sql::Statement;
use chrono::{DateTime, Utc};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as Sql;
use serde_json::{Map, Value, json};
use std::path::Path;

/// Athena's longest query text.
pub const MAX_QUERY_BYTES: usize = 262_144;

/// The folder under the registry where results go when no location is given.
pub const DEFAULT_RESULTS: &str = ".results";

/// The catalog name clients use (Athena's, for the Glue Data Catalog).
pub const CATALOG: &str = "AwsDataCatalog";

pub async fn call(
    server: &Server,
    caller: &Caller,
    operation: &str,
    input: &Value,
) -> Result<Value, ApiError> {
    match operation {
        "StartQueryExecution" => start_query_execution(server, caller, input).await,
        "GetQueryExecution" => {
            let r = visible(server, caller, req_str(input, "QueryExecutionId")?)?;
            Ok(json!({ "QueryExecution": query_execution(&r) }))
        }
        "BatchGetQueryExecution" => batch_get(
            input,
            [
                "QueryExecutionIds",
                "QueryExecutionId",
                "QueryExecutions",
                "UnprocessedQueryExecutionIds",
            ],
            |id| visible(server, caller, id).map(|r| query_execution(&r)),
        ),
        "GetQueryResults" => get_query_results(server, caller, input).await,
        "GetQueryRuntimeStatistics" => get_query_runtime_statistics(server, caller, input).await,
        "StopQueryExecution" => {
            let r = visible(server, caller, req_str(input, "QueryExecutionId")?)?;
            server.queries().stop(&r.id);
            Ok(json!({}))
        }
        "ListQueryExecutions" => list_query_executions(server, caller, input),
        "CreateWorkGroup" => create_work_group(server, caller, input),
        "GetWorkGroup" => {
            let name = req_str(input, "WorkGroup")?;
            caller.check_workgroup("GetWorkGroup", name)?;
            let wg = existing_workgroup(server, name)?;
            Ok(json!({ "WorkGroup": work_group(&wg) }))
        }
        "ListWorkGroups" => list_work_groups(server, caller, input),
        "UpdateWorkGroup" => update_work_group(server, caller, input),
        "DeleteWorkGroup" => {
            let name = req_str(input, "WorkGroup")?;
            caller.check_workgroup("DeleteWorkGroup", name)?;
            existing_workgroup(server, name)?;
            WorkGroups::new(root(server)).delete(name)?;
            Ok(json!({}))
        }
        "ListDataCatalogs" => Ok(json!({
            "DataCatalogsSummary": [{ "CatalogName": CATALOG, "Type": "GLUE" }]
        })),
        "GetDataCatalog" => {
            check_catalog(input)?;
            Ok(json!({ "DataCatalog": {
                "Name": CATALOG, "Type": "GLUE",
                "Description": "owl's registry", "Parameters": {}
            }}))
        }
        "ListDatabases" => list_databases(server, input),
        "GetDatabase" => {
            check_catalog(input)?;
            let db = req_str(input, "DatabaseName")?;
            existing_database(server, db)?;
            Ok(json!({ "Database": { "Name": db, "Parameters": {} } }))
        }
        "ListTableMetadata" => list_table_metadata(server, input),
        "GetTableMetadata" => {
            check_catalog(input)?;
            let db = req_str(input, "DatabaseName")?;
            let table = req_str(input, "TableName")?;
            existing_database(server, db)?;
            let def = server
                .engine()
                .registry()
                .load_table(db, table)
                .map_err(|_| {
                    ApiError::new(
                        "MetadataException",
                        format!("Table {table} not found in database {db}"),
                    )
                })?;
            Ok(json!({ "TableMetadata": table_metadata(&def) }))
        }
        "CreatePreparedStatement" | "UpdatePreparedStatement" => {
            put_prepared_statement(server, caller, operation, input)
        }
        "GetPreparedStatement" => {
            let (store, wg, name) = prepared_key(server, caller, operation, input)?;
            let p = store
                .get(&wg, &name)?
                .ok_or_else(|| prepared_not_found(&name, &wg))?;
            Ok(json!({ "PreparedStatement": prepared_statement(&p) }))
        }
        "DeletePreparedStatement" => {
            let (store, wg, name) = prepared_key(server, caller, operation, input)?;
            if !store.delete(&wg, &name)? {
                return Err(prepared_not_found(&name, &wg));
            }
            Ok(json!({}))
        }
        "ListPreparedStatements" => {
            let wg = req_str(input, "WorkGroup")?;
            caller.check_workgroup(operation, wg)?;
            let all = PreparedStatements::new(root(server)).list(wg)?;
            let (page, next) = paged(input, 50, &all)?;
            let summaries: Vec<Value> = page
                .iter()
                .map(|p| json!({ "StatementName": p.statement_name, "LastModifiedTime": epoch_rfc3339(&p.last_modified_time) }))
                .collect();
            Ok(with_next(json!({ "PreparedStatements": summaries }), next))
        }
        "CreateNamedQuery" => create_named_query(server, caller, input),
        "GetNamedQuery" => {
            let q = visible_named_query(server, caller, req_str(input, "NamedQueryId")?)?;
            Ok(json!({ "NamedQuery": named_query(&q) }))
        }
        "BatchGetNamedQuery" => batch_get(
            input,
            [
                "NamedQueryIds",
                "NamedQueryId",
                "NamedQueries",
                "UnprocessedNamedQueryIds",
            ],
            |id| visible_named_query(server, caller, id).map(|q| named_query(&q)),
        ),
        "ListNamedQueries" => {
            let wg = opt_str(input, "WorkGroup")?.unwrap_or(workgroups::PRIMARY);
            caller.check_workgroup(operation, wg)?;
            let all = NamedQueries::new(root(server)).list(wg)?;
            let (page, next) = paged(input, 50, &all)?;
            let ids: Vec<&str> = page.iter().map(|q| q.named_query_id.as_str()).collect();
            Ok(with_next(json!({ "NamedQueryIds": ids }), next))
        }
        "DeleteNamedQuery" => {
            let q = visible_named_query(server, caller, req_str(input, "NamedQueryId")?)?;
            NamedQueries::new(root(server)).delete(&q.named_query_id)?;
            Ok(json!({}))
        }
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!("AmazonAthena has no operation `{operation}` (or owl does not answer it yet)"),
        )),
    }
}

fn root(server: &Server) -> &Path {
    server.engine().registry().root()
}

// ---------------------------------------------------------------------------------------------- queries

async fn start_query_execution(
    server: &Server,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let sql = req_str(input, "QueryString")?;
    if sql.is_empty() || sql.len() > MAX_QUERY_BYTES {
        return Err(ApiError::validation(
            "queryString",
            &format!("{} bytes of SQL", sql.len()),
            &format!(
                "have length less than or equal to {MAX_QUERY_BYTES} and greater than or equal to 1"
            ),
        ));
    }
    let wg_name = opt_str(input, "WorkGroup")?.unwrap_or(workgroups::PRIMARY);
    caller.check_workgroup("StartQueryExecution", wg_name)?;
    let wg = existing_workgroup(server, wg_name)?;
    if wg.state != workgroups::State::Enabled {
        return Err(ApiError::invalid(format!(
            "WorkGroup {wg_name} is disabled."
        )));
    }
    let context = input
        .get("QueryExecutionContext")
        .cloned()
        .unwrap_or(json!({}));
    if let Some(c) = opt_str(&context, "Catalog")? {
        catalog_name(c)?;
    }
    let database = opt_str(&context, "Database")?
        .map(str::to_string)
        .unwrap_or_else(|| server.engine().database());
    let asked = input
        .get("ResultConfiguration")
        .map(|r| opt_str(r, "OutputLocation"))
        .transpose()?
        .flatten();
    let location = match (wg.configuration.enforce_work_group_configuration, asked) {
        (false, Some(a)) => a.to_string(),
        (_, a) => wg
            .configuration
            .output_location
            .clone()
            .or(a.map(str::to_string))
            .unwrap_or_else(|| default_results(server)),
    };
    let location = check_location(server, &location)?;
    let params = str_list(input, "ExecutionParameters")?;
    if params.iter().any(|p| p.is_empty() || p.len() > 1024) {
        return Err(ApiError::validation(
            "executionParameters",
            "an execution parameter",
            "have length less than or equal to 1024 and greater than or equal to 1",
        ));
    }
    let request_token = opt_str(input, "ClientRequestToken")?;
    if let Some(t) = request_token
        && !(32..=128).contains(&t.len())
    {
        return Err(ApiError::validation(
            "clientRequestToken",
            t,
            "have length less than or equal to 128 and greater than or equal to 32",
        ));
    }
    // Result reuse: a query of the same text, work group and database that succeeded recently enough gives its
    // results; nothing runs, nothing is billed.
    if let Some(max_age) = reuse_max_age(input)?
        && params.is_empty()
        && let Some(previous) = reusable(server, caller, sql, wg_name, &database, max_age)
    {
        return Ok(json!({ "QueryExecutionId": reuse(server, caller, &previous)? }));
    }
    let parsed = server.engine().parse(sql);
    let (request, statement_type) = match parsed {
        Ok(statements)
            if statements.len() == 1
                && matches!(statements[0].sql(), Some(Sql::Use(_) | Sql::Set(_))) =>
        {
            // A server's queries share nothing: each names its database (QueryExecutionContext).
            (
                QueryRequest::rejected(
                    sql,
                    "USE and SET change a session, and each query of owl serve is its own: name the database                      in QueryExecutionContext.Database"
                        .into(),
                ),
                StatementType::Utility,
            )
        }
        Ok(mut statements) if statements.len() == 1 => {
            let stmt = statements.remove(0);
            let kind = statement_type(&stmt);
            (QueryRequest::new(stmt), kind)
        }
        Ok(statements) => (
            QueryRequest::rejected(
                sql,
                format!(
                    "Only one sql statement is allowed. Got: {}",
                    statements.len()
                ),
            ),
            StatementType::Dml,
        ),
        Err(e) => (
            QueryRequest::rejected(sql, e.to_string()),
            StatementType::Dml,
        ),
    };
    let request = QueryRequest {
        text: Some(sql.to_string()),
        database: Some(database.clone()),
        execution_parameters: params.clone(),
        output_location: Some(location.clone()),
        user: caller.user.clone(),
        ..request.with_workgroup(wg_name)
    };
    let fingerprint = json!([sql, wg_name, database, location, params]).to_string();
    let extra = Extra {
        statement_type,
        output_location: Some(location),
        execution_parameters: params,
        user: caller.user.clone(),
    };
    let id = server.queries().start(
        request,
        extra,
        request_token.map(|t| (t.to_string(), fingerprint)),
    )?;
    Ok(json!({ "QueryExecutionId": id }))
}

/// The default result folder, under the registry.
fn default_results(server: &Server) -> String {
    root(server)
        .join(DEFAULT_RESULTS)
        .to_string_lossy()
        .into_owned()
}

/// An output location the server may write: `s3://`, or a local folder under an allowed root or the default
/// result folder.
fn check_location(server: &Server, location: &str) -> Result<String, ApiError> {
    let default = root(server).join(DEFAULT_RESULTS);
    super::input::location(server, location, "OutputLocation", Some(&default))
}

/// `ResultReuseConfiguration.ResultReuseByAgeConfiguration`: the age in minutes a result may be reused at.
fn reuse_max_age(input: &Value) -> Result<Option<i64>, ApiError> {
    let Some(by_age) = input
        .get("ResultReuseConfiguration")
        .and_then(|r| r.get("ResultReuseByAgeConfiguration"))
    else {
        return Ok(None);
    };
    if opt_bool(by_age, "Enabled")? != Some(true) {
        return Ok(None);
    }
    let age = opt_int(by_age, "MaxAgeInMinutes")?.unwrap_or(60);
    if !(0..=10080).contains(&age) {
        return Err(ApiError::validation(
            "resultReuseConfiguration.resultReuseByAgeConfiguration.maxAgeInMinutes",
            &age.to_string(),
            "have value less than or equal to 10080 and greater than or equal to 0",
        ));
    }
    Ok(Some(age))
}

fn reusable(
    server: &Server,
    caller: &Caller,
    sql: &str,
    workgroup: &str,
    database: &str,
    max_age_minutes: i64,
) -> Option<Record> {
    let oldest = Utc::now() - chrono::Duration::minutes(max_age_minutes);
    server
        .queries()
        .list_since(Some(oldest))
        .into_iter()
        .find(|r| {
            r.sql == sql
                && r.workgroup == workgroup
                && r.database == database
                && r.state == QueryState::Succeeded
                && r.statement_type == StatementType::Dml
                && r.output_location.is_some()
                && r.execution_parameters.is_empty()
                && r.completed_at.is_some_and(|t| t >= oldest)
                && caller.may_use(&r.workgroup)
        })
}

/// A query that reuses `previous`'s results: SUCCEEDED at once, nothing scanned, with its history entry.
fn reuse(server: &Server, caller: &Caller, previous: &Record) -> Result<String, ApiError> {
    let now = Utc::now();
    let origin = previous.reused_from.clone().unwrap_or(previous.id.clone());
    let record = Record {
        id: uuid::Uuid::new_v4().to_string(),
        state: QueryState::Succeeded,
        state_reason: None,
        submitted_at: now,
        completed_at: Some(now),
        queue_ms: 0,
        engine_ms: 0,
        total_ms: 0,
        bytes_scanned: 0,
        reused_from: Some(origin),
        user: caller.user.clone(),
        read: None,
        ..previous.clone()
    };
    let entry = crate::history::Entry {
        query_id: record.id.clone(),
        workgroup: record.workgroup.clone(),
        database: record.database.clone(),
        sql: record.sql.clone(),
        statement_type: record.statement_type,
        state: record.state,
        state_reason: None,
        submitted_at: now,
        completed_at: now,
        queue_ms: 0,
        engine_ms: 0,
        total_ms: 0,
        bytes_scanned: 0,
        billed_bytes: 0,
        cost_usd: 0.0,
        rows: record.rows,
        files_read: 0,
        read: None,
        user: record.user.clone(),
        output_location: record.output_location.clone(),
        reused_from: record.reused_from.clone(),
    };
    server
        .engine()
        .history()
        .record(&entry)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let id = record.id.clone();
    server.queries().remember(record);
    Ok(id)
}

/// A statement's type as its text says (Athena's `StatementType`), before its plan is known.
pub fn statement_type(stmt: &Statement) -> StatementType {
    let stmt = match stmt {
        Statement::Hive(p) => return p.statement_type(),
        Statement::Sql(s) => s,
    };
    match stmt {
        DFStatement::CreateExternalTable(_) | DFStatement::CopyTo(_) => StatementType::Ddl,
        DFStatement::Explain(_) | DFStatement::Reset(_) => StatementType::Utility,
        DFStatement::Statement(s) => match s.as_ref() {
            Sql::Query(_) | Sql::Insert(_) | Sql::Execute { .. } => StatementType::Dml,
            Sql::CreateTable(c) if c.query.is_some() => StatementType::Dml,
            Sql::CreateTable(_)
            | Sql::CreateView(_)
            | Sql::CreateSchema { .. }
            | Sql::CreateDatabase { .. }
            | Sql::Drop { .. }
            | Sql::AlterTable(_) => StatementType::Ddl,
            _ => StatementType::Utility,
        },
    }
}

/// Whether a statement writes rows (CTAS, INSERT): its results are a count (`UpdateCount`), not rows.
fn is_update(sql: &str, server: &Server) -> bool {
    match server.engine().parse(sql).ok().and_then(|mut v| v.pop()) {
        Some(Statement::Sql(DFStatement::Statement(s))) => matches!(
            s.as_ref(),
            Sql::Insert(_)
                | Sql::CreateTable(datafusion::sql::sqlparser::ast::CreateTable {
                    query: Some(_),
                    ..
                })
        ),
        _ => false,
    }
}

/// A query the caller may see: one of a work group it may use.
pub(crate) fn visible(server: &Server, caller: &Caller, id: &str) -> Result<Record, ApiError> {
    let not_found = || ApiError::invalid(format!("QueryExecution {id} was not found"));
    if id.is_empty() || id.len() > 128 {
        return Err(not_found());
    }
    match server.queries().get(id) {
        Some(r) if caller.may_use(&r.workgroup) => Ok(r),
        _ => Err(not_found()),
    }
}

fn epoch(t: &DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

fn state_name(s: QueryState) -> &'static str {
    match s {
        QueryState::Queued => "QUEUED",
        QueryState::Running => "RUNNING",
        QueryState::Succeeded => "SUCCEEDED",
        QueryState::Failed => "FAILED",
        QueryState::Cancelled => "CANCELLED",
    }
}

fn type_name(t: StatementType) -> &'static str {
    match t {
        StatementType::Ddl => "DDL",
        StatementType::Dml => "DML",
        StatementType::Utility => "UTILITY",
    }
}

/// Where a query's result file is: `<location>/<id>.csv` (the query whose results it reused, if it did).
fn result_file(r: &Record) -> Option<String> {
    let location = r.output_location.as_ref()?;
    let id = r.reused_from.as_deref().unwrap_or(&r.id);
    Some(format!("{}/{id}.csv", location.trim_end_matches('/')))
}

/// Athena's `QueryExecution` of a record.
pub(crate) fn query_execution(r: &Record) -> Value {
    let mut status = Map::new();
    status.insert("State".into(), json!(state_name(r.state)));
    status.insert("SubmissionDateTime".into(), epoch(&r.submitted_at));
    if let Some(t) = &r.completed_at {
        status.insert("CompletionDateTime".into(), epoch(t));
    }
    if let Some(reason) = &r.state_reason {
        status.insert("StateChangeReason".into(), json!(reason));
    }
    if r.state == QueryState::Failed {
        let reason = r.state_reason.clone().unwrap_or_default();
        let internal = reason.starts_with("internal error");
        // Athena's types 0-8: "Query exhausted resources at this scale factor".
        let exhausted = reason.starts_with("query exhausted resources");
        status.insert(
            "AthenaError".into(),
            json!({
                // 1: system, 2: user (the statement or its data), as Athena's categories.
                "ErrorCategory": if internal { 1 } else { 2 },
                "ErrorType": if internal { 401 } else if exhausted { 1 } else { 1000 },
                "Retryable": internal,
                "ErrorMessage": reason,
            }),
        );
    }
    let service_ms = r.total_ms.saturating_sub(r.queue_ms + r.engine_ms);
    let mut out = json!({
        "QueryExecutionId": r.id,
        "Query": r.sql,
        "StatementType": type_name(r.statement_type),
        "ResultConfiguration": {},
        "QueryExecutionContext": { "Database": r.database, "Catalog": CATALOG.to_ascii_lowercase() },
        "Status": status,
        "Statistics": {
            "EngineExecutionTimeInMillis": r.engine_ms,
            "DataScannedInBytes": r.bytes_scanned,
            "TotalExecutionTimeInMillis": r.total_ms,
            "QueryQueueTimeInMillis": r.queue_ms,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": service_ms,
            "ResultReuseInformation": { "ReusedPreviousResult": r.reused_from.is_some() },
        },
        "WorkGroup": r.workgroup,
        "EngineVersion": {
            "SelectedEngineVersion": "AUTO",
            "EffectiveEngineVersion": concat!("owl ", env!("CARGO_PKG_VERSION")),
        },
    });
    if let Some(file) = result_file(r) {
        out["ResultConfiguration"] = json!({ "OutputLocation": file });
    }
    if !r.execution_parameters.is_empty() {
        out["ExecutionParameters"] = json!(r.execution_parameters);
    }
    out
}

/// Athena's BatchGet operations: up to 50 ids (`names`: the request's list, one id's name, the found list, the
/// unprocessed list); each id found, or unprocessed with why.
fn batch_get(
    input: &Value,
    [list, one, found_list, missing_list]: [&str; 4],
    get: impl Fn(&str) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let ids = str_list(input, list)?;
    if ids.is_empty() || ids.len() > 50 {
        return Err(ApiError::validation(
            &super::input::lower_first(list),
            &format!("{} ids", ids.len()),
            "have length less than or equal to 50 and greater than or equal to 1",
        ));
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match get(&id) {
            Ok(v) => found.push(v),
            Err(e) => missing.push(json!({
                one: id, "ErrorCode": "INVALID_INPUT", "ErrorMessage": e.message
            })),
        }
    }
    Ok(json!({ found_list: found, missing_list: missing }))
}

fn list_query_executions(
    server: &Server,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let wg = opt_str(input, "WorkGroup")?.unwrap_or(workgroups::PRIMARY);
    caller.check_workgroup("ListQueryExecutions", wg)?;
    existing_workgroup(server, wg)?;
    let ids: Vec<String> = server
        .queries()
        .list()
        .into_iter()
        .filter(|r| r.workgroup == wg)
        .map(|r| r.id)
        .collect();
    let (page, next) = paged(input, 50, &ids)?;
    Ok(with_next(json!({ "QueryExecutionIds": page }), next))
}

/// A query's results, ready to page: it must have succeeded.
pub(crate) async fn finished_results(
    server: &Server,
    r: &Record,
) -> Result<std::sync::Arc<crate::engine::results::ResultFile>, ApiError> {
    match r.state {
        QueryState::Succeeded => {}
        QueryState::Queued | QueryState::Running => {
            return Err(ApiError::invalid(format!(
                "Query has not yet finished. Current state: {}",
                state_name(r.state)
            )));
        }
        _ => {
            return Err(ApiError::invalid(format!(
                "Query did not finish successfully. Final query state: {}{}",
                state_name(r.state),
                r.state_reason
                    .as_ref()
                    .map(|why| format!(" ({why})"))
                    .unwrap_or_default()
            )));
        }
    }
    let Some(location) = &r.output_location else {
        return Err(ApiError::invalid(format!(
            "Query {} has no result file (it ran without an output location)",
            r.id
        )));
    };
    let id = r.reused_from.as_deref().unwrap_or(&r.id);
    server
        .queries()
        .results(id, location)
        .await
        .map_err(|e| ApiError::invalid(e.to_string()))
}

async fn get_query_results(
    server: &Server,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let r = visible(server, caller, req_str(input, "QueryExecutionId")?)?;
    let max = max_results(input, 1000)?;
    let offset = next_token(input)?;
    if let Some(t) = opt_str(input, "QueryResultType")?
        && t != "DATA_ROWS"
    {
        return Err(ApiError::invalid(format!(
            "QueryResultType {t}: owl returns DATA_ROWS"
        )));
    }
    let file = finished_results(server, &r).await?;
    let metadata = json!({ "ColumnInfo": file.metadata.columns });
    if is_update(&r.sql, server) {
        let count = file
            .rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        return Ok(json!({
            "UpdateCount": count,
            "ResultSet": { "Rows": [], "ResultSetMetadata": metadata },
        }));
    }
    // SELECT's results start with a header row of the column names, counted in the first page (as Athena's).
    let header =
        file.metadata.statement_type == StatementType::Dml && !file.metadata.columns.is_empty();
    let total = file.rows.len() + usize::from(header);
    let end = (offset + max).min(total);
    let cell = |v: Option<&str>| match v {
        Some(v) => json!({ "VarCharValue": v }),
        None => json!({}),
    };
    let mut rows = Vec::with_capacity(end.saturating_sub(offset));
    for i in offset..end {
        let data: Vec<Value> = if header && i == 0 {
            file.metadata
                .columns
                .iter()
                .map(|c| cell(Some(&c.name)))
                .collect()
        } else {
            file.rows[i - usize::from(header)]
                .iter()
                .map(|v| cell(v.as_deref()))
                .collect()
        };
        rows.push(json!({ "Data": data }));
    }
    let next = (end < total).then(|| token(end));
    Ok(with_next(
        json!({
            "UpdateCount": 0,
            "ResultSet": { "Rows": rows, "ResultSetMetadata": metadata },
        }),
        next,
    ))
}

async fn get_query_runtime_statistics(
    server: &Server,
    caller: &Caller,
    input: &Value,
) -> Result<Value, ApiError> {
    let r = visible(server, caller, req_str(input, "QueryExecutionId")?)?;
    let mut rows = json!({ "InputBytes": r.bytes_scanned });
    if r.state == QueryState::Succeeded
        && let Ok(file) = finished_results(server, &r).await
    {
        rows["OutputRows"] = json!(file.metadata.rows);
        rows["OutputBytes"] = json!(file.metadata.csv_bytes);
    }
    Ok(json!({ "QueryRuntimeStatistics": {
        "Timeline": {
            "QueryQueueTimeInMillis": r.queue_ms,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "EngineExecutionTimeInMillis": r.engine_ms,
            "ServiceProcessingTimeInMillis": r.total_ms.saturating_sub(r.queue_ms + r.engine_ms),
            "TotalExecutionTimeInMillis": r.total_ms,
        },
        "Rows": rows,
    }}))
}

// ------------------------------------------------------------------------------------------ work groups

fn existing_workgroup(server: &Server, name: &str) -> Result<WorkGroup, ApiError> {
    check_workgroup(name).map_err(|_| {
        ApiError::validation(
            "workGroup",
            name,
            "satisfy regular expression pattern: [a-zA-Z0-9._-]{1,128}",
        )
    })?;
    WorkGroups::new(root(server))
        .get(name)?
        .ok_or_else(|| ApiError::invalid(format!("WorkGroup {name} is not found.")))
}

fn work_group(wg: &WorkGroup) -> Value {
    let mut configuration = json!({
        "ResultConfiguration": {},
        "EnforceWorkGroupConfiguration": wg.configuration.enforce_work_group_configuration,
        "PublishCloudWatchMetricsEnabled": false,
        "RequesterPaysEnabled": false,
        "EngineVersion": { "SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": concat!("owl ", env!("CARGO_PKG_VERSION")) },
    });
    if let Some(l) = &wg.configuration.output_location {
        configuration["ResultConfiguration"] = json!({ "OutputLocation": l });
    }
    if let Some(c) = wg.configuration.bytes_scanned_cutoff_per_query {
        configuration["BytesScannedCutoffPerQuery"] = json!(c);
    }
    let mut out = json!({
        "Name": wg.name,
        "State": state_of(wg),
        "Configuration": configuration,
        "CreationTime": epoch_rfc3339(&wg.creation_time),
    });
    if let Some(d) = &wg.description {
        out["Description"] = json!(d);
    }
    out
}

fn state_of(wg: &WorkGroup) -> &'static str {
    match wg.state {
        workgroups::State::Enabled => "ENABLED",
        workgroups::State::Disabled => "DISABLED",
    }
}

fn cutoff(v: &Value) -> Result<Option<u64>, ApiError> {
    match opt_int(v, "BytesScannedCutoffPerQuery")? {
        None => Ok(None),
        Some(n) if n >= workgroups::MIN_CUTOFF as i64 => Ok(Some(n as u64)),
        Some(n) => Err(ApiError::validation(
            "configuration.bytesScannedCutoffPerQuery",
            &n.to_string(),
            &format!(
                "have value greater than or equal to {}",
                workgroups::MIN_CUTOFF
            ),
        )),
    }
}

fn create_work_group(server: &Server, caller: &Caller, input: &Value) -> Result<Value, ApiError> {
    let name = req_str(input, "Name")?;
    caller.check_workgroup("CreateWorkGroup", name)?;
    check_workgroup(name).map_err(|e| ApiError::invalid(e.to_string()))?;
    let config = input.get("Configuration").cloned().unwrap_or(json!({}));
    let mut wg = WorkGroup::new(name);
    wg.description = opt_str(input, "Description")?.map(str::to_string);
    // Athena's default: a new work group's settings win over its clients'.
    wg.configuration.enforce_work_group_configuration =
        opt_bool(&config, "EnforceWorkGroupConfiguration")?.unwrap_or(true);
    wg.configuration.bytes_scanned_cutoff_per_query = cutoff(&config)?;
    if let Some(rc) = config.get("ResultConfiguration")
        && let Some(l) = opt_str(rc, "OutputLocation")?
    {
        wg.configuration.output_location = Some(check_location(server, l)?);
    }
    let store = WorkGroups::new(root(server));
    if store.get(name)?.is_some() {
        return Err(ApiError::invalid("WorkGroup is already created"));
    }
    store.create(&wg)?;
    Ok(json!({}))
}

fn update_work_group(server: &Server, caller: &Caller, input: &Value) -> Result<Value, ApiError> {
    let name = req_str(input, "WorkGroup")?;
    caller.check_workgroup("UpdateWorkGroup", name)?;
    let mut wg = existing_workgroup(server, name)?;
    if let Some(d) = opt_str(input, "Description")? {
        wg.description = Some(d.to_string());
    }
    match opt_str(input, "State")? {
        None => {}
        Some("ENABLED") => wg.state = workgroups::State::Enabled,
        Some("DISABLED") => wg.state = workgroups::State::Disabled,
        Some(s) => {
            return Err(ApiError::validation(
                "state",
                s,
                "satisfy enum value set: [ENABLED, DISABLED]",
            ));
        }
    }
    if let Some(u) = input.get("ConfigurationUpdates") {
        if let Some(e) = opt_bool(u, "EnforceWorkGroupConfiguration")? {
            wg.configuration.enforce_work_group_configuration = e;
        }
        if let Some(c) = cutoff(u)? {
            wg.configuration.bytes_scanned_cutoff_per_query = Some(c);
        }
        if opt_bool(u, "RemoveBytesScannedCutoffPerQuery")? == Some(true) {
            wg.configuration.bytes_scanned_cutoff_per_query = None;
        }
        if let Some(rc) = u.get("ResultConfigurationUpdates") {
            if let Some(l) = opt_str(rc, "OutputLocation")? {
                wg.configuration.output_location = Some(check_location(server, l)?);
            }
            if opt_bool(rc, "RemoveOutputLocation")? == Some(true) {
                wg.configuration.output_location = None;
            }
        }
    }
    WorkGroups::new(root(server)).update(&wg)?;
    Ok(json!({}))
}

fn list_work_groups(server: &Server, caller: &Caller, input: &Value) -> Result<Value, ApiError> {
    let all: Vec<WorkGroup> = WorkGroups::new(root(server))
        .list()?
        .into_iter()
        .filter(|w| caller.may_use(&w.name))
        .collect();
    let (page, next) = paged(input, 50, &all)?;
    let summaries: Vec<Value> = page
        .iter()
        .map(|w| {
            let mut s = json!({
                "Name": w.name, "State": state_of(w),
                "CreationTime": epoch_rfc3339(&w.creation_time),
                "EngineVersion": { "SelectedEngineVersion": "AUTO", "EffectiveEngineVersion": concat!("owl ", env!("CARGO_PKG_VERSION")) },
            });
            if let Some(d) = &w.description {
                s["Description"] = json!(d);
            }
            s
        })
        .collect();
    Ok(with_next(json!({ "WorkGroups": summaries }), next))
}

// ---------------------------------------------------------------------------------------- data catalog

fn catalog_name(c: &str) -> Result<(), ApiError> {
    if c.eq_ignore_ascii_case(CATALOG) || c == crate::engine::CATALOG_NAME {
        Ok(())
    } else {
        Err(ApiError::new(
            "MetadataException",
            format!("Catalog {c} is not found (this server has one: {CATALOG})"),
        ))
    }
}

fn check_catalog(input: &Value) -> Result<(), ApiError> {
    catalog_name(req_str(input, "CatalogName")?)
}

fn existing_database(server: &Server, db: &str) -> Result<(), ApiError> {
    if server.engine().registry().database_exists(db) {
        Ok(())
    } else {
        Err(ApiError::new(
            "MetadataException",
            format!("Database {db} is not found"),
        ))
    }
}

fn list_databases(server: &Server, input: &Value) -> Result<Value, ApiError> {
    check_catalog(input)?;
    let names = server.engine().registry().databases()?;
    let (page, next) = paged(input, 50, &names)?;
    let list: Vec<Value> = page
        .iter()
        .map(|n| json!({ "Name": n, "Parameters": {} }))
        .collect();
    Ok(with_next(json!({ "DatabaseList": list }), next))
}

fn list_table_metadata(server: &Server, input: &Value) -> Result<Value, ApiError> {
    check_catalog(input)?;
    let db = req_str(input, "DatabaseName")?;
    existing_database(server, db)?;
    let registry = server.engine().registry();
    let mut names = registry.table_names(db)?;
    if let Some(expr) = opt_str(input, "Expression")? {
        let pattern = name_pattern(expr);
        names.retain(|n| pattern.is_match(n));
    }
    let (page, next) = paged(input, 50, &names)?;
    let mut list = Vec::new();
    for n in page {
        if let Ok(def) = registry.load_table(db, n) {
            list.push(table_metadata(&def));
        }
    }
    Ok(with_next(json!({ "TableMetadataList": list }), next))
}

fn table_metadata(def: &crate::catalog::model::TableDef) -> Value {
    let columns = |cols: &[crate::catalog::model::Column]| -> Vec<Value> {
        cols.iter()
            .map(|c| json!({ "Name": c.name, "Type": c.ty }))
            .collect()
    };
    let mut parameters: Map<String, Value> = def
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    parameters.insert(
        "classification".into(),
        json!(def.format.classification.as_str()),
    );
    parameters.insert("location".into(), json!(def.location));
    json!({
        "Name": def.name,
        "TableType": "EXTERNAL_TABLE",
        "Columns": columns(&def.columns),
        "PartitionKeys": columns(&def.partition_keys),
        "Parameters": parameters,
    })
}

// ------------------------------------------------------------------------------- prepared statements

fn prepared_not_found(name: &str, wg: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFoundException",
        format!("Prepared statement {name} was not found in work group {wg}."),
    )
}

fn prepared_key(
    server: &Server,
    caller: &Caller,
    operation: &str,
    input: &Value,
) -> Result<(PreparedStatements, String, String), ApiError> {
    let name = req_str(input, "StatementName")?;
    let wg = req_str(input, "WorkGroup")?;
    caller.check_workgroup(operation, wg)?;
    existing_workgroup(server, wg)?;
    crate::catalog::prepared::check_name(name).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok((
        PreparedStatements::new(root(server)),
        wg.to_string(),
        name.to_string(),
    ))
}

fn put_prepared_statement(
    server: &Server,
    caller: &Caller,
    operation: &str,
    input: &Value,
) -> Result<Value, ApiError> {
    let (store, wg, name) = prepared_key(server, caller, operation, input)?;
    let text = req_str(input, "QueryStatement")?;
    if text.is_empty() || text.len() > MAX_QUERY_BYTES {
        return Err(ApiError::validation(
            "queryStatement",
            &format!("{} bytes of SQL", text.len()),
            &format!(
                "have length less than or equal to {MAX_QUERY_BYTES} and greater than or equal to 1"
            ),
        ));
    }
    match server.engine().parse(text) {
        Ok(v) if v.len() == 1 => {}
        Ok(v) => {
            return Err(ApiError::invalid(format!(
                "Only one sql statement is allowed. Got: {}",
                v.len()
            )));
        }
        Err(e) => return Err(ApiError::invalid(e.to_string())),
    }
    let exists = store.get(&wg, &name)?.is_some();
    match (operation, exists) {
        ("CreatePreparedStatement", true) => {
            return Err(ApiError::invalid(format!(
                "Prepared statement {name} already exists in work group {wg}."
            )));
        }
        ("UpdatePreparedStatement", false) => return Err(prepared_not_found(&name, &wg)),
        _ => {}
    }
    store.put(&PreparedStatement {
        statement_name: name,
        query_statement: text.to_string(),
        work_group_name: wg,
        description: opt_str(input, "Description")?.map(str::to_string),
        last_modified_time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })?;
    Ok(json!({}))
}

fn prepared_statement(p: &PreparedStatement) -> Value {
    let mut out = json!({
        "StatementName": p.statement_name,
        "QueryStatement": p.query_statement,
        "WorkGroupName": p.work_group_name,
        "LastModifiedTime": epoch_rfc3339(&p.last_modified_time),
    });
    if let Some(d) = &p.description {
        out["Description"] = json!(d);
    }
    out
}

// ------------------------------------------------------------------------------------- named queries

fn create_named_query(server: &Server, caller: &Caller, input: &Value) -> Result<Value, ApiError> {
    let wg = opt_str(input, "WorkGroup")?.unwrap_or(workgroups::PRIMARY);
    caller.check_workgroup("CreateNamedQuery", wg)?;
    existing_workgroup(server, wg)?;
    let query = req_str(input, "QueryString")?;
    if query.is_empty() || query.len() > MAX_QUERY_BYTES {
        return Err(ApiError::validation(
            "queryString",
            &format!("{} bytes of SQL", query.len()),
            &format!(
                "have length less than or equal to {MAX_QUERY_BYTES} and greater than or equal to 1"
            ),
        ));
    }
    let id = NamedQueries::new(root(server)).create(NamedQuery {
        named_query_id: String::new(),
        name: req_str(input, "Name")?.to_string(),
        description: opt_str(input, "Description")?.map(str::to_string),
        database: req_str(input, "Database")?.to_string(),
        query_string: query.to_string(),
        work_group: wg.to_string(),
    })?;
    Ok(json!({ "NamedQueryId": id }))
}

fn visible_named_query(server: &Server, caller: &Caller, id: &str) -> Result<NamedQuery, ApiError> {
    let not_found = || ApiError::invalid(format!("NamedQuery {id} was not found"));
    match NamedQueries::new(root(server)).get(id) {
        Ok(Some(q)) if caller.may_use(&q.work_group) => Ok(q),
        _ => Err(not_found()),
    }
}

fn named_query(q: &NamedQuery) -> Value {
    let mut out = json!({
        "Name": q.name,
        "Database": q.database,
        "QueryString": q.query_string,
        "NamedQueryId": q.named_query_id,
        "WorkGroup": q.work_group,
    });
    if let Some(d) = &q.description {
        out["Description"] = json!(d);
    }
    out
}

// ------------------------------------------------------------------------------------------- paging
