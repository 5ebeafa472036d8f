//! Result files, as Athena writes them: a query run with an output location leaves `<location>/<id>.csv` (every
//! value in double quotes, `""` inside; NULL an empty unquoted field; a header line of column names first) and
//! `<location>/<id>.csv.metadata` (its columns with their Athena types, its statement type and row count). The
//! location is a local folder or an `s3://` prefix, reached through the same stores as queries (not metered:
//! writing results is not scanning). Clients that fetch the file (PyAthena's pandas cursor, `aws s3 cp`) read it
//! as Athena's; `GetQueryResults` pages through it, so results outlive the server process.
//!
//! Where owl differs: Athena's `.csv.metadata` is a binary protobuf only its own service reads; owl's is JSON.

use super::Engine;
use crate::cost::StatementType;
use crate::error::{Error, Result};
use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Schema, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How Athena writes a timestamp (`2024-06-01 12:00:00.000`).
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// One result column as Athena describes it (`ColumnInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ColumnInfo {
    pub catalog_name: String,
    pub schema_name: String,
    pub table_name: String,
    pub name: String,
    pub label: String,
    #[serde(rename = "Type")]
    pub type_name: String,
    pub precision: i64,
    pub scale: i64,
    pub nullable: String,
    pub case_sensitive: bool,
}

/// What `<id>.csv.metadata` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub columns: Vec<ColumnInfo>,
    pub statement_type: StatementType,
    /// Rows after the header line.
    pub rows: u64,
    /// Bytes of the `.csv` file.
    pub csv_bytes: u64,
}

/// A result file read back: its description and its rows (None: NULL).
#[derive(Debug, Clone)]
pub struct ResultFile {
    pub metadata: Metadata,
    pub rows: Vec<Vec<Option<String>>>,
}

/// Athena's name, precision and scale for an Arrow type (Trino's names: `varchar`, `integer`, `row`, ...).
pub fn athena_type(t: &DataType) -> (String, i64, i64) {
    let (name, p, s) = match t {
        DataType::Boolean => ("boolean", 0, 0),
        DataType::Int8 => ("tinyint", 3, 0),
        DataType::Int16 | DataType::UInt8 => ("smallint", 5, 0),
        DataType::Int32 | DataType::UInt16 => ("integer", 10, 0),
        DataType::Int64 | DataType::UInt32 => ("bigint", 19, 0),
        DataType::UInt64 => return ("decimal".into(), 20, 0),
        DataType::Float16 | DataType::Float32 => ("float", 17, 0),
        DataType::Float64 => ("double", 17, 0),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => {
            return ("decimal".into(), *p as i64, *s as i64);
        }
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => {
            return ("decimal".into(), *p as i64, *s as i64);
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ("varchar", 2_147_483_647, 0),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => ("varbinary", 1_073_741_824, 0),
        DataType::Date32 | DataType::Date64 => ("date", 0, 0),
        DataType::Timestamp(_, None) => ("timestamp", 3, 0),
        DataType::Timestamp(_, Some(_)) => ("timestamp with time zone", 3, 0),
        DataType::Time32(_) | DataType::Time64(_) => ("time", 3, 0),
        DataType::Interval(_) | DataType::Duration(TimeUnit::Second | TimeUnit::Millisecond) => {
            ("interval day to second", 0, 0)
        }
        DataType::Duration(_) => ("interval day to second", 0, 0),
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::FixedSizeList(..) => ("array", 0, 0),
        DataType::Map(..) => ("map", 0, 0),
        DataType::Struct(_) => ("row", 0, 0),
        DataType::Dictionary(_, v) => return athena_type(v),
        _ => ("varchar", 2_147_483_647, 0),
    };
    (name.to_string(), p, s)
}

/// The `ColumnInfo` of each column of `schema`.
pub fn column_info(schema: &Schema) -> Vec<ColumnInfo> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let (type_name, precision, scale) = athena_type(f.data_type());
            ColumnInfo {
                catalog_name: "hive".into(),
                schema_name: String::new(),
                table_name: String::new(),
                name: f.name().clone(),
                label: f.name().clone(),
                case_sensitive: type_name == "varchar",
                type_name,
                precision,
                scale,
                nullable: "UNKNOWN".into(),
            }
        })
        .collect()
}

/// The text of every value of `batches` as Athena renders it (None: NULL).
pub fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>> {
    let options = FormatOptions::new()
        .with_timestamp_format(Some(TIMESTAMP_FORMAT))
        .with_timestamp_tz_format(Some(TIMESTAMP_FORMAT))
        .with_datetime_format(Some(TIMESTAMP_FORMAT));
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::internal("rendering a result", e))?;
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| (!c.is_null(row)).then(|| f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    Ok(rows)
}

/// One CSV line in Athena's quoting.
pub(crate) fn csv_line(
    out: &mut String,
    values: impl IntoIterator<Item = Option<impl AsRef<str>>>,
) {
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if let Some(v) = v {
            out.push('"');
            out.push_str(&v.as_ref().replace('"', "\"\""));
            out.push('"');
        }
    }
    out.push('\n');
}

/// Parse a result file written by [`write`]: quoted values, empty unquoted fields as NULL.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<Option<String>>>> {
    let bad = |at: usize| {
        Error::Query(format!(
            "the result file is not Athena's CSV (at byte {at})"
        ))
    };
    let mut rows = Vec::new();
    let mut row: Vec<Option<String>> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.is_empty() {
        return Ok(rows);
    }
    loop {
        // One field starts at `i`.
        if bytes.get(i) == Some(&b'"') {
            let mut value = String::new();
            let mut j = i + 1;
            loop {
                let Some(k) = text[j..].find('"').map(|k| j + k) else {
                    return Err(bad(i));
                };
                value.push_str(&text[j..k]);
                if bytes.get(k + 1) == Some(&b'"') {
                    value.push('"');
                    j = k + 2;
                } else {
                    i = k + 1;
                    break;
                }
            }
            row.push(Some(value));
        } else {
            row.push(None);
        }
        match bytes.get(i) {
            Some(b',') => i += 1,
            Some(b'\n') => {
                rows.push(std::mem::take(&mut row));
                i += 1;
                if i == bytes.len() {
                    return Ok(rows);
                }
            }
            None => {
                rows.push(row);
                return Ok(rows);
            }
            Some(_) => return Err(bad(i)),
        }
    }
}

/// Where a result location points.
enum Target {
    Local(PathBuf),
    Remote(url::Url),
}

fn target(location: &str) -> Result<Target> {
    let bad = |reason: &str| Error::InvalidLocation {
        location: location.to_string(),
        reason: reason.to_string(),
    };
    if location.starts_with("s3://") {
        let mut url = url::Url::parse(location).map_err(|e| bad(&e.to_string()))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no bucket"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        return Ok(Target::Remote(url));
    }
    let path = match location.strip_prefix("file://") {
        Some(p) => PathBuf::from(p),
        None if location.contains("://") => {
            return Err(bad("results go to a local folder or an s3:// prefix"));
        }
        None => PathBuf::from(location),
    };
    Ok(Target::Local(path))
}

fn file_names(id: &str) -> (String, String) {
    (format!("{id}.csv"), format!("{id}.csv.metadata"))
}

/// Write a statement's rows to `<location>/<id>.csv` and their description beside them.
pub async fn write(
    engine: &Engine,
    location: &str,
    id: &str,
    schema: &Schema,
    batches: &[RecordBatch],
    statement_type: StatementType,
) -> Result<()> {
    let rows = render(batches)?;
    let mut csv = String::new();
    if !schema.fields().is_empty() {
        csv_line(&mut csv, schema.fields().iter().map(|f| Some(f.name())));
    }
    for row in &rows {
        csv_line(&mut csv, row.iter().map(|v| v.as_deref()));
    }
    let metadata = Metadata {
        columns: column_info(schema),
        statement_type,
        rows: rows.len() as u64,
        csv_bytes: csv.len() as u64,
    };
    let metadata = serde_json::to_vec_pretty(&metadata)
        .map_err(|e| Error::internal("a result file's metadata", e))?;
    let (csv_name, metadata_name) = file_names(id);
    match target(location)? {
        Target::Local(dir) => {
            let failed = |e: std::io::Error| Error::Storage {
                message: format!("the results could not be written to {}: {e}", dir.display()),
                hint: None,
            };
            for (name, bytes) in [(&csv_name, csv.into_bytes()), (&metadata_name, metadata)] {
                crate::catalog::store::write_file_atomic(&dir.join(name), &bytes)
                    .map_err(failed)?;
            }
        }
        Target::Remote(url) => {
            let store = store(engine, &url)?;
            for (name, bytes) in [(&csv_name, csv.into_bytes()), (&metadata_name, metadata)] {
                let path = object_path(&url, name)?;
                store
                    .put(&path, PutPayload::from(bytes))
                    .await
                    .map_err(|e| {
                        Error::from_store(e, &format!("the results could not be written to {url}"))
                    })?;
            }
        }
    }
    Ok(())
}

/// Read back the result of query `id` written to `location`.
pub async fn read(engine: &Engine, location: &str, id: &str) -> Result<ResultFile> {
    let (csv_name, metadata_name) = file_names(id);
    let (csv, metadata) = match target(location)? {
        Target::Local(dir) => {
            let read = |name: &String| {
                let path = dir.join(name);
                async move {
                    tokio::fs::read(&path).await.map_err(|e| Error::Storage {
                        message: format!("the result file {} cannot be read: {e}", path.display()),
                        hint: None,
                    })
                }
            };
            (read(&csv_name).await?, read(&metadata_name).await?)
        }
        Target::Remote(url) => {
            let store = store(engine, &url)?;
            let mut got = Vec::new();
            for name in [&csv_name, &metadata_name] {
                let path = object_path(&url, name)?;
                let bytes = async { store.get(&path).await?.bytes().await }
                    .await
                    .map_err(|e| {
                        Error::from_store(e, &format!("the result file {url}{name} cannot be read"))
                    })?;
                got.push(bytes.to_vec());
            }
            let metadata = got.pop().unwrap_or_default();
            (got.pop().unwrap_or_default(), metadata)
        }
    };
    let metadata: Metadata = serde_json::from_slice(&metadata)
        .map_err(|e| Error::Query(format!("the result metadata of {id} is not owl's: {e}")))?;
    let text = String::from_utf8(csv)
        .map_err(|_| Error::Query(format!("the result file of {id} is not UTF-8")))?;
    let mut rows = parse_csv(&text)?;
    if !metadata.columns.is_empty() && !rows.is_empty() {
        rows.remove(0);
    }
    Ok(ResultFile { metadata, rows })
}

/// The store an `s3://` location is reached through (not metered: results are not scanned data).
fn store(engine: &Engine, url: &url::Url) -> Result<std::sync::Arc<dyn ObjectStore>> {
    engine.stores().get_store(url).map_err(Error::from)
}

fn object_path(url: &url::Url, name: &str) -> Result<object_store::path::Path> {
    let full = format!("{}{name}", url.path());
    object_store::path::Path::from_url_path(&full).map_err(|e| Error::InvalidLocation {
        location: url.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trips_nulls_quotes_and_newlines() {
        let rows = vec![
            vec![Some("a".to_string()), None, Some(String::new())],
            vec![
                Some("say \"hi\"".into()),
                Some("two\nlines".into()),
                Some("x,y".into()),
            ],
        ];
        let mut text = String::new();
        for r in &rows {
            csv_line(&mut text, r.iter().map(|v| v.as_deref()));
        }
        assert_eq!(text.lines().next().unwrap(), "\"a\",,\"\"");
        assert_eq!(parse_csv(&text).unwrap(), rows);
        assert!(parse_csv("\"open").is_err());
        assert!(parse_csv("\"a\"x\n").is_err());
    }

    #[test]
    fn athena_type_names() {
        assert_eq!(athena_type(&DataType::Int32).0, "integer");
        assert_eq!(athena_type(&DataType::Utf8View).0, "varchar");
        assert_eq!(
            athena_type(&DataType::Decimal128(12, 2)),
            ("decimal".into(), 12, 2)
        );
    }
}
