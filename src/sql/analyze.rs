//! `ANALYZE TABLE t COMPUTE STATISTICS [FOR COLUMNS a, b]`: Glue's column statistics task, as one query.
//!
//! The crawler takes Parquet statistics from footers for free; CSV, JSON and compressed text have none, and a
//! crawl samples only the start of each file, so their tables carry no row count past 1 MB and no column
//! statistics: the planner then cannot tell a 6M-row join from 57 keys (TPC-H q18 on CSV builds its hash table
//! on the 6M rows). ANALYZE scans the table once (billed as the query it is) and records, per column, the
//! minimum and maximum (numbers, dates, timestamps, booleans: as the crawler keeps them), the null count and an
//! approximate number of distinct values (`approx_distinct`, HyperLogLog, within ~2%; not for floating point),
//! and the table's exact row count. Statistics are not schema: no new table version. A later crawl that finds
//! new files drops what it cannot merge, as for Parquet. `owl estimate` prices it as its scan.

use super::Scope;
use super::names::table_name;
use crate::catalog::colstats::{keeps_range, to_text};
use crate::catalog::model::ColumnStats;
use crate::catalog::types::to_arrow;
use crate::error::{Error, Result};
use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Analyze;
use std::sync::Arc;

/// What one ANALYZE reads: the table, the columns it computes, and the query that computes them.
pub(crate) struct Scan {
    db: String,
    table: String,
    columns: Vec<(String, DataType)>,
    /// `SELECT count(*), count(c), approx_distinct(c), min(c), max(c), ... FROM db.table`.
    pub sql: String,
}

/// Check an ANALYZE statement against the registry and write its query.
pub(crate) fn scan(scope: &dyn Scope, a: &Analyze) -> Result<Scan> {
    let Some(name) = &a.table_name else {
        return Err(Error::Query(
            "ANALYZE needs a table: ANALYZE TABLE t COMPUTE STATISTICS".into(),
        ));
    };
    if a.partitions.is_some() || a.noscan || a.cache_metadata {
        return Err(Error::Query(
            "ANALYZE ... PARTITION, NOSCAN and CACHE METADATA are not supported: owl computes a whole table's \
             statistics (ANALYZE TABLE t COMPUTE STATISTICS [FOR COLUMNS a, b])"
                .into(),
        ));
    }
    let (db, table) = table_name(scope, name)?;
    let def = scope.registry().load_table(&db, &table)?;
    let wanted: Vec<String> = a.columns.iter().map(|c| c.value.clone()).collect();
    for w in &wanted {
        if !def.columns.iter().any(|c| &c.name == w) {
            let why = if def.partition_keys.iter().any(|k| &k.name == w) {
                " (a partition key: its values come from the partitions)"
            } else {
                ""
            };
            return Err(Error::Query(format!(
                "column `{w}` is not a data column of `{db}.{table}`{why}"
            )));
        }
    }
    let columns: Vec<(String, DataType)> = def
        .columns
        .iter()
        .filter(|c| wanted.is_empty() || wanted.contains(&c.name))
        .filter_map(|c| to_arrow(&c.ty, &c.name).ok().map(|t| (c.name.clone(), t)))
        .collect();

    // One scan: count(*), then per column count(c), approx_distinct(c) and, for ranged types, min(c), max(c).
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut select = vec!["count(*)".to_string()];
    for (name, dt) in &columns {
        let c = quote(name);
        select.push(format!("count({c})"));
        select.push(if distinct_kept(dt) {
            format!("approx_distinct({c})")
        } else {
            "CAST(NULL AS BIGINT UNSIGNED)".into()
        });
        if keeps_range(dt) {
            select.push(format!("min({c})"));
            select.push(format!("max({c})"));
        }
    }
    // Named by position: two columns' `CAST(NULL ...)` would otherwise clash.
    let select: Vec<String> = select
        .iter()
        .enumerate()
        .map(|(i, e)| format!("{e} AS s{i}"))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}.{}",
        select.join(", "),
        quote(&db),
        quote(&table)
    );
    Ok(Scan {
        db,
        table,
        columns,
        sql,
    })
}

pub(crate) async fn analyze(
    scope: &dyn Scope,
    ctx: &SessionContext,
    a: &Analyze,
) -> Result<RecordBatch> {
    let Scan {
        db,
        table,
        columns,
        sql,
    } = scan(scope, a)?;
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(Error::from)?
        .collect()
        .await
        .map_err(Error::from)?;
    let row = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::Internal("ANALYZE's aggregate returned no row".into()))?;
    let value = |i: usize| ScalarValue::try_from_array(row.column(i), 0).map_err(Error::from);
    let count = |i: usize| -> Result<Option<u64>> {
        Ok(match value(i)? {
            ScalarValue::Int64(Some(n)) => Some(n as u64),
            ScalarValue::UInt64(Some(n)) => Some(n),
            _ => None,
        })
    };
    let rows = count(0)?.unwrap_or(0);
    let mut computed: Vec<(String, ColumnStats)> = Vec::new();
    let mut i = 1;
    for (name, dt) in &columns {
        let non_null = count(i)?.unwrap_or(0);
        let distinct = count(i + 1)?;
        i += 2;
        let (mut min, mut max) = (None, None);
        if keeps_range(dt) {
            min = to_text(&value(i)?);
            max = to_text(&value(i + 1)?);
            i += 2;
        }
        computed.push((
            name.clone(),
            ColumnStats {
                min,
                max,
                nulls: Some(rows - non_null.min(rows)),
                distinct,
                clustered: None,
            },
        ));
    }

    scope.registry().update_stats(&db, &table, |stats| {
        stats.record_count = Some(rows);
        for (name, new) in &computed {
            let entry = stats.columns.entry(name.clone()).or_default();
            // Whether row groups keep it clustered comes from the files' layout, which a scan does not see.
            let clustered = entry.clustered;
            *entry = ColumnStats {
                clustered,
                ..new.clone()
            };
        }
    })?;

    let text = |v: Vec<Option<String>>| Arc::new(StringArray::from(v)) as Arc<dyn Array>;
    let schema = Arc::new(Schema::new(vec![
        Field::new("column_name", DataType::Utf8, false),
        Field::new("min", DataType::Utf8, true),
        Field::new("max", DataType::Utf8, true),
        Field::new("nulls", DataType::Int64, false),
        Field::new("distinct", DataType::Int64, true),
        Field::new("rows", DataType::Int64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            text(computed.iter().map(|(n, _)| Some(n.clone())).collect()),
            text(computed.iter().map(|(_, s)| s.min.clone()).collect()),
            text(computed.iter().map(|(_, s)| s.max.clone()).collect()),
            Arc::new(Int64Array::from_iter_values(
                computed.iter().map(|(_, s)| s.nulls.unwrap_or(0) as i64),
            )),
            Arc::new(Int64Array::from(
                computed
                    .iter()
                    .map(|(_, s)| s.distinct.map(|d| d as i64))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from_iter_values(
                computed.iter().map(|_| rows as i64),
            )),
        ],
    )
    .map_err(|e| Error::internal("building the result batch", e))
}

/// Whether `approx_distinct` counts this type (not floating point, which DataFusion's does not take and joins
/// rarely use, nor nested types).
fn distinct_kept(dt: &DataType) -> bool {
    !dt.is_nested() && !dt.is_floating()
}
