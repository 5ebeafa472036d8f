//! The Glue API (`X-Amz-Target: AWSGlue.<Operation>`) over the same registry, with the shapes and error codes
//! of botocore's `glue` service model: databases, tables and their versions, partitions, and crawlers that
//! really crawl with owl's crawler (`crate::crawler`), in the background, RUNNING -> STOPPING -> READY.
//!
//! Where owl differs from Glue, and why:
//! - A table's or crawler target's location is an `s3://` prefix or a local folder under one of the server's
//!   `--allow-root`s (absolute, no `..`): a client cannot point the registry at the server's own files.
//! - Crawler definitions live beside the registry (`<catalog>/.crawlers/<name>.json`); a crawl that the
//!   server's end interrupts is CANCELLED. `TablePrefix`, classifiers, schedules and recrawl policies other
//!   than crawling everything are not supported (InvalidInputException says so).

use super::input::{epoch_rfc3339, name_pattern, opt_str, paged, req_str, str_list, with_next};
use super::{ApiError, Caller, Server};
use crate::catalog::model::{
    Classification, Column, Compression, CsvOptions, FormatSpec, Partition, TableDef,
};
use crate::crawler::{CrawlOptions, Crawler, OnChange, OnDelete};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::path::Path;
use std::sync::Arc;

/// The account id owl answers as the catalog's owner.
const CATALOG_ID: &str = "000000000000";

/// The folder of crawler definitions, under the registry's.
pub const CRAWLERS: &str = ".crawlers";
/// Where custom classifiers are kept, beside the crawlers.
pub const CLASSIFIERS: &str = ".classifiers";

pub async fn call(
    server: &Arc<Server>,
    _caller: &Caller,
    operation: &str,
    input: &Value,
) -> Result<Value, ApiError> {
    let registry = server.engine().registry();
    match operation {
        "GetDatabases" => {
            let names = registry.databases()?;
            let (page, next) = paged(input, 100, &names)?;
            let list: Vec<Value> = page.iter().map(|n| database(n)).collect();
            Ok(with_next(json!({ "DatabaseList": list }), next))
        }
        "GetDatabase" => {
            let name = req_str(input, "Name")?;
            existing_database(server, name)?;
            Ok(json!({ "Database": database(name) }))
        }
        "CreateDatabase" => {
            let db = input
                .get("DatabaseInput")
                .ok_or_else(|| invalid("DatabaseInput is required"))?;
            let name = req_str(db, "Name")?;
            if registry.database_exists(name) {
                return Err(ApiError::new(
                    "AlreadyExistsException",
                    format!("Database already exists: {name}"),
                ));
            }
            registry
                .create_database(name, false)
                .map_err(|e| invalid(&e.to_string()))?;
            Ok(json!({}))
        }
        "DeleteDatabase" => {
            let name = req_str(input, "Name")?;
            existing_database(server, name)?;
            registry.drop_database(name, false, true)?;
            Ok(json!({}))
        }
        "GetTables" => {
            let db = req_str(input, "DatabaseName")?;
            existing_database(server, db)?;
            let mut names = registry.table_names(db)?;
            if let Some(expr) = opt_str(input, "Expression")? {
                let pattern = name_pattern(expr);
                names.retain(|n| pattern.is_match(n));
            }
            let (page, next) = paged(input, 100, &names)?;
            let mut list = Vec::new();
            for n in page {
                if let Ok(def) = registry.load_table(db, n) {
                    list.push(table(&def));
                }
            }
            Ok(with_next(json!({ "TableList": list }), next))
        }
        "GetTable" => {
            let def = existing_table(
                server,
                req_str(input, "DatabaseName")?,
                req_str(input, "Name")?,
            )?;
            Ok(json!({ "Table": table(&def) }))
        }
        "CreateTable" => {
            let db = req_str(input, "DatabaseName")?;
            existing_database(server, db)?;
            let def = table_input(server, db, input)?;
            if registry.table_exists(db, &def.name) {
                return Err(ApiError::new(
                    "AlreadyExistsException",
                    format!("Table already exists: {}", def.name),
                ));
            }
            registry.create_table(def, false)?;
            Ok(json!({}))
        }
        "UpdateTable" => {
            let db = req_str(input, "DatabaseName")?;
            existing_database(server, db)?;
            let mut def = table_input(server, db, input)?;
            let old = existing_table(server, db, &def.name)?;
            // Partitions and statistics stay: UpdateTable changes the table, not its data.
            def.partitions = old.partitions;
            def.stats = old.stats;
            registry.put_table(def)?;
            Ok(json!({}))
        }
        "DeleteTable" => {
            let db = req_str(input, "DatabaseName")?;
            let name = req_str(input, "Name")?;
            existing_table(server, db, name)?;
            registry.drop_table(db, name, false)?;
            Ok(json!({}))
        }
        "GetTableVersions" => {
            let def = named_table(server, input)?;
            // Newest first, as Glue lists them.
            let versions: Vec<Value> = def
                .versions
                .iter()
                .rev()
                .map(|v| {
                    let mut t = def.clone();
                    t.location = v.location.clone();
                    t.format = v.format.clone();
                    t.columns = v.columns.clone();
                    t.partition_keys = v.partition_keys.clone();
                    t.version_id = v.version_id.clone();
                    json!({ "Table": table(&t), "VersionId": v.version_id })
                })
                .collect();
            let (page, next) = paged(input, 100, &versions)?;
            Ok(with_next(json!({ "TableVersions": page }), next))
        }
        "GetPartitions" => {
            let def = named_table(server, input)?;
            let filter = match opt_str(input, "Expression")? {
                Some(e) => Some(PartitionFilter::parse(e, &def.partition_keys)?),
                None => None,
            };
            let parts: Vec<Value> = def
                .partitions
                .iter()
                .filter(|p| filter.as_ref().is_none_or(|f| f.matches(&p.values)))
                .map(|p| partition(&def, p))
                .collect();
            let (page, next) = paged(input, 1000, &parts)?;
            Ok(with_next(json!({ "Partitions": page }), next))
        }
        "BatchCreatePartition" => {
            let mut def = named_table(server, input)?;
            let list = input
                .get("PartitionInputList")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("PartitionInputList is required"))?;
            if list.len() > 100 {
                return Err(invalid("PartitionInputList holds at most 100 partitions"));
            }
            let mut errors = Vec::new();
            for p in list {
                let values = str_list(p, "Values")?;
                let fail = |code: &str, msg: String| json!({ "PartitionValues": values, "ErrorDetail": { "ErrorCode": code, "ErrorMessage": msg } });
                if values.len() != def.partition_keys.len() {
                    errors.push(fail(
                        "InvalidInputException",
                        format!(
                            "{} values for {} partition keys",
                            values.len(),
                            def.partition_keys.len()
                        ),
                    ));
                    continue;
                }
                if def.partitions.iter().any(|q| q.values == values) {
                    errors.push(fail(
                        "AlreadyExistsException",
                        "Partition already exists.".into(),
                    ));
                    continue;
                }
                let location = match p
                    .get("StorageDescriptor")
                    .map(|sd| opt_str(sd, "Location"))
                    .transpose()?
                    .flatten()
                {
                    Some(l) => match check_location(server, l) {
                        Ok(l) => l,
                        Err(e) => {
                            errors.push(fail("InvalidInputException", e.message));
                            continue;
                        }
                    },
                    None => def
                        .partition_keys
                        .iter()
                        .zip(&values)
                        .map(|(k, v)| format!("{}={v}/", k.name))
                        .collect(),
                };
                def.partitions.push(Partition {
                    values,
                    location,
                    stats: None,
                });
            }
            def.partitions.sort_by(|a, b| a.location.cmp(&b.location));
            registry.put_table(def)?;
            Ok(json!({ "Errors": errors }))
        }
        "BatchDeletePartition" => {
            let mut def = named_table(server, input)?;
            let list = input
                .get("PartitionsToDelete")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("PartitionsToDelete is required"))?;
            let mut errors = Vec::new();
            for p in list {
                let values = str_list(p, "Values")?;
                let before = def.partitions.len();
                def.partitions.retain(|q| q.values != values);
                if def.partitions.len() == before {
                    errors.push(json!({ "PartitionValues": values, "ErrorDetail": {
                        "ErrorCode": "EntityNotFoundException", "ErrorMessage": "Partition not found." } }));
                }
            }
            registry.put_table(def)?;
            Ok(json!({ "Errors": errors }))
        }
        "CreateCrawler" => create_crawler(server, input),
        "GetCrawler" => {
            let c = existing_crawler(server, req_str(input, "Name")?)?;
            Ok(json!({ "Crawler": crawler_json(&c) }))
        }
        "GetCrawlers" => {
            let all = crawlers(server)?;
            let (page, next) = paged(input, 1000, &all)?;
            let list: Vec<Value> = page.iter().map(crawler_json).collect();
            Ok(with_next(json!({ "Crawlers": list }), next))
        }
        "ListCrawlers" => {
            let all: Vec<String> = crawlers(server)?.into_iter().map(|c| c.name).collect();
            let (page, next) = paged(input, 1000, &all)?;
            Ok(with_next(json!({ "CrawlerNames": page }), next))
        }
        "DeleteCrawler" => {
            let c = existing_crawler(server, req_str(input, "Name")?)?;
            if c.state != "READY" {
                return Err(ApiError::new(
                    "CrawlerRunningException",
                    format!("Crawler {} is running.", c.name),
                ));
            }
            let path = crawler_path(server, &c.name)?;
            std::fs::remove_file(&path).map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(json!({}))
        }
        "StartCrawler" => start_crawler(server, req_str(input, "Name")?),
        "CreateClassifier" => {
            let g = grok_input(input)?;
            let name = req_str(g, "Name")?;
            let path = classifier_path(server, name)?;
            if path.exists() {
                return Err(ApiError::new(
                    "AlreadyExistsException",
                    format!("Classifier with name {name} already exists"),
                ));
            }
            let at = now();
            let c = ClassifierDef {
                name: name.to_string(),
                classification: req_str(g, "Classification")?.to_string(),
                grok_pattern: req_str(g, "GrokPattern")?.to_string(),
                custom_patterns: opt_str(g, "CustomPatterns")?.map(str::to_string),
                creation_time: at.clone(),
                last_updated: at,
                version: 1,
            };
            c.grok().check().map_err(|e| invalid(&e))?;
            crate::catalog::store::write_json_atomic(&path, &c)?;
            Ok(json!({}))
        }
        "UpdateClassifier" => {
            let g = grok_input(input)?;
            let mut c = existing_classifier(server, req_str(g, "Name")?)?;
            if let Some(v) = opt_str(g, "Classification")? {
                c.classification = v.to_string();
            }
            if let Some(v) = opt_str(g, "GrokPattern")? {
                c.grok_pattern = v.to_string();
            }
            if let Some(v) = opt_str(g, "CustomPatterns")? {
                c.custom_patterns = Some(v.to_string()).filter(|p| !p.is_empty());
            }
            c.grok().check().map_err(|e| invalid(&e))?;
            c.version += 1;
            c.last_updated = now();
            crate::catalog::store::write_json_atomic(&classifier_path(server, &c.name)?, &c)?;
            Ok(json!({}))
        }
        "GetClassifier" => {
            let c = existing_classifier(server, req_str(input, "Name")?)?;
            Ok(json!({ "Classifier": classifier_json(&c) }))
        }
        "GetClassifiers" => {
            let all = classifiers(server)?;
            let (page, next) = paged(input, 1000, &all)?;
            let list: Vec<Value> = page.iter().map(classifier_json).collect();
            Ok(with_next(json!({ "Classifiers": list }), next))
        }
        "DeleteClassifier" => {
            let c = existing_classifier(server, req_str(input, "Name")?)?;
            let path = classifier_path(server, &c.name)?;
            std::fs::remove_file(&path).map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(json!({}))
        }
        "GetCrawlerMetrics" => {
            let names = str_list(input, "CrawlerNameList")?;
            let all = crawlers(server)?;
            let list: Vec<Value> = all
                .iter()
                .filter(|c| names.is_empty() || names.contains(&c.name))
                .map(|c| {
                    let last = c.last_crawl.as_ref();
                    json!({
                        "CrawlerName": c.name,
                        "TimeLeftSeconds": 0.0,
                        "StillEstimating": c.state == "RUNNING",
                        "LastRuntimeSeconds": last.map_or(0.0, |l| l.runtime_ms as f64 / 1000.0),
                        "MedianRuntimeSeconds": last.map_or(0.0, |l| l.runtime_ms as f64 / 1000.0),
                        "TablesCreated": last.map_or(0, |l| l.tables_created),
                        "TablesUpdated": last.map_or(0, |l| l.tables_updated),
                        "TablesDeleted": last.map_or(0, |l| l.tables_deleted),
                    })
                })
                .collect();
            let (page, next) = paged(input, 1000, &list)?;
            Ok(with_next(json!({ "CrawlerMetricsList": page }), next))
        }
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!("AWSGlue has no operation `{operation}` (or owl does not answer it yet)"),
        )),
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::new("InvalidInputException", message)
}

fn not_found(message: String) -> ApiError {
    ApiError::new("EntityNotFoundException", message)
}

fn database(name: &str) -> Value {
    json!({ "Name": name, "Parameters": {}, "CatalogId": CATALOG_ID, "CreateTableDefaultPermissions": [] })
}

fn existing_database(server: &Server, name: &str) -> Result<(), ApiError> {
    if server.engine().registry().database_exists(name) {
        Ok(())
    } else {
        Err(not_found(format!("Database {name} not found.")))
    }
}

/// The table a request names by `DatabaseName` and `TableName`.
fn named_table(server: &Server, input: &Value) -> Result<TableDef, ApiError> {
    existing_table(
        server,
        req_str(input, "DatabaseName")?,
        req_str(input, "TableName")?,
    )
}

fn existing_table(server: &Server, db: &str, name: &str) -> Result<TableDef, ApiError> {
    existing_database(server, db)?;
    if !server.engine().registry().table_exists(db, name) {
        return Err(not_found(format!("Table {name} not found.")));
    }
    Ok(server.engine().registry().load_table(db, name)?)
}

fn columns(cols: &[Column]) -> Vec<Value> {
    cols.iter()
        .map(|c| json!({ "Name": c.name, "Type": c.ty }))
        .collect()
}

fn storage_descriptor(def: &TableDef, location: &str) -> Value {
    let (input, output, serde) = def.format.hive_formats();
    let mut serde_params = Map::new();
    if let Some(csv) = &def.format.csv {
        serde_params.insert("field.delim".into(), json!(csv.delimiter));
        if let Some(n) = &csv.null_format {
            serde_params.insert("serialization.null.format".into(), json!(n));
        }
    }
    for (k, v) in def.format.json.serde_properties() {
        serde_params.insert(k, json!(v));
    }
    if let Some(re) = &def.format.regex {
        serde_params.insert("input.regex".into(), json!(re));
    }
    if let Some(g) = &def.format.grok {
        serde_params.insert("input.format".into(), json!(g.format));
        if let Some(custom) = &g.custom_patterns {
            serde_params.insert("input.grokCustomPatterns".into(), json!(custom));
        }
    }
    json!({
        "Columns": columns(&def.columns),
        "Location": location,
        "InputFormat": input,
        "OutputFormat": output,
        "Compressed": def.format.compression != Compression::None,
        "NumberOfBuckets": -1,
        "SerdeInfo": { "SerializationLibrary": serde, "Parameters": serde_params },
        "BucketColumns": [], "SortColumns": [], "Parameters": {},
        "StoredAsSubDirectories": false,
    })
}

/// Glue's `Table` for a registry table.
fn table(def: &TableDef) -> Value {
    let mut parameters: Map<String, Value> = def
        .format
        .glue_properties()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    for (k, v) in &def.properties {
        parameters.insert(k.clone(), json!(v));
    }
    // The statistics Glue's crawler writes, under its names, where the registry knows them.
    for (k, v) in [
        ("objectCount", def.stats.object_count),
        ("sizeKey", def.stats.size_bytes),
        ("recordCount", def.stats.record_count),
    ] {
        if let Some(v) = v {
            parameters.insert(k.into(), json!(v.to_string()));
        }
    }
    json!({
        "Name": def.name,
        "DatabaseName": def.database,
        "Owner": "owl",
        "Retention": 0,
        "StorageDescriptor": storage_descriptor(def, &def.location),
        "PartitionKeys": columns(&def.partition_keys),
        "TableType": "EXTERNAL_TABLE",
        "Parameters": parameters,
        "CatalogId": CATALOG_ID,
        "VersionId": def.version_id,
        "IsRegisteredWithLakeFormation": false,
    })
}

fn partition(def: &TableDef, p: &Partition) -> Value {
    let location = if p.location.contains("://") || p.location.starts_with('/') {
        p.location.clone()
    } else {
        format!("{}/{}", def.location.trim_end_matches('/'), p.location)
    };
    json!({
        "Values": p.values,
        "DatabaseName": def.database,
        "TableName": def.name,
        "StorageDescriptor": storage_descriptor(def, &location),
        "Parameters": {},
        "CatalogId": CATALOG_ID,
    })
}

/// A location a client may give: `s3://`, or a local folder under an allowed root.
fn check_location(server: &Server, location: &str) -> Result<String, ApiError> {
    super::input::location(server, location, "Location", None)
}

/// A registry table from Glue's `TableInput`.
fn table_input(server: &Server, db: &str, input: &Value) -> Result<TableDef, ApiError> {
    let t = input
        .get("TableInput")
        .ok_or_else(|| invalid("TableInput is required"))?;
    let name = req_str(t, "Name")?;
    let sd = t.get("StorageDescriptor").cloned().unwrap_or(json!({}));
    let location = check_location(
        server,
        opt_str(&sd, "Location")?
            .ok_or_else(|| invalid("StorageDescriptor.Location is required"))?,
    )?;
    let params = t.get("Parameters").cloned().unwrap_or(json!({}));
    let serde_info = sd.get("SerdeInfo").cloned().unwrap_or(json!({}));
    let library = opt_str(&serde_info, "SerializationLibrary")?
        .unwrap_or("")
        .to_ascii_lowercase();
    let input_format = opt_str(&sd, "InputFormat")?
        .unwrap_or("")
        .to_ascii_lowercase();
    // A Grok SerDe table's classification is its classifier's own name (`mylog`): the SerDe says how to read it.
    let label = opt_str(&params, "classification")?.map(str::to_string);
    let classification = match opt_str(&params, "classification")? {
        _ if library.contains("grokserde") => "grok".into(),
        _ if library.contains("regexserde") => "regex".into(),
        Some(c) => c.to_ascii_lowercase(),
        None if library.contains("parquet") || input_format.contains("parquet") => "parquet".into(),
        None if library.contains("orc") || input_format.contains("orc") => "orc".into(),
        None if library.contains("avro") || input_format.contains("avro") => "avro".into(),
        None if library.contains("json") => "json".into(),
        None => "csv".into(),
    };
    let compression = match opt_str(&params, "compressionType")?.unwrap_or("none") {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "bzip2" => Compression::Bzip2,
        "zstd" => Compression::Zstd,
        "xz" => Compression::Xz,
        other => {
            return Err(invalid(&format!(
                "compressionType `{other}` is not one owl reads"
            )));
        }
    };
    let format = match classification.as_str() {
        "parquet" => FormatSpec::parquet(),
        "orc" => FormatSpec {
            classification: Classification::Orc,
            ..FormatSpec::parquet()
        },
        "avro" => FormatSpec {
            classification: Classification::Avro,
            ..FormatSpec::parquet()
        },
        "json" | "cloudtrail" => {
            let serde_params = serde_info.get("Parameters").cloned().unwrap_or(json!({}));
            let mut json = crate::catalog::model::JsonOptions::from_serde_properties(
                serde_params
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
            )
            .map_err(|e| invalid(&format!("SerdeInfo.Parameters: {e}")))?;
            json.records = input_format.contains("cloudtrail") || library.contains("cloudtrail");
            FormatSpec {
                classification: Classification::Json,
                compression,
                json,
                label: label.clone().filter(|l| !l.eq_ignore_ascii_case("json")),
                ..FormatSpec::parquet()
            }
        }
        "regex" => {
            let serde_params = serde_info.get("Parameters").cloned().unwrap_or(json!({}));
            let regex = opt_str(&serde_params, "input.regex")?
                .ok_or_else(|| invalid("SerdeInfo.Parameters: RegexSerDe needs input.regex"))?;
            crate::formats::regex_lines::compile(regex).map_err(|e| invalid(&e))?;
            FormatSpec {
                label: label.clone().filter(|l| !l.eq_ignore_ascii_case("regex")),
                header_lines: header_lines(&params)?,
                ..FormatSpec::regex(compression, regex.to_string())
            }
        }
        "grok" => {
            let serde_params = serde_info.get("Parameters").cloned().unwrap_or(json!({}));
            let format = opt_str(&serde_params, "input.format")?
                .ok_or_else(|| invalid("SerdeInfo.Parameters: Grok SerDe needs input.format"))?;
            let custom = opt_str(&serde_params, "input.grokCustomPatterns")?;
            crate::formats::grok::check(format, custom).map_err(|e| invalid(&e))?;
            FormatSpec {
                label: label.filter(|l| !l.eq_ignore_ascii_case("grok")),
                header_lines: header_lines(&params)?,
                ..FormatSpec::grok(
                    compression,
                    crate::catalog::model::GrokSpec {
                        format: format.to_string(),
                        custom_patterns: custom.map(str::to_string),
                    },
                )
            }
        }
        "csv" => {
            let serde_params = serde_info.get("Parameters").cloned().unwrap_or(json!({}));
            let delimiter = opt_str(&serde_params, "field.delim")?
                .or(opt_str(&serde_params, "separatorChar")?)
                .or(opt_str(&params, "delimiter")?)
                .unwrap_or(",");
            let header = opt_str(&params, "skip.header.line.count")?.unwrap_or("0");
            FormatSpec {
                classification: Classification::Csv,
                compression,
                csv: Some(CsvOptions {
                    delimiter: delimiter.to_string(),
                    has_header: header == "1",
                    null_format: opt_str(&serde_params, "serialization.null.format")?
                        .map(str::to_string),
                    ..CsvOptions::default()
                }),
                json_array: false,
                json: Default::default(),
                regex: None,
                grok: None,
                label: None,
                header_lines: 0,
            }
        }
        other => {
            return Err(invalid(&format!(
                "classification `{other}`: owl reads csv, json, parquet, orc, avro, regex (RegexSerDe) and Grok SerDe tables"
            )));
        }
    };
    let cols = |v: Option<&Value>, what: &str| -> Result<Vec<Column>, ApiError> {
        let Some(list) = v.and_then(Value::as_array) else {
            return Ok(vec![]);
        };
        list.iter()
            .map(|c| {
                let name = req_str(c, "Name")?;
                let ty = opt_str(c, "Type")?
                    .ok_or_else(|| invalid(&format!("{what} column `{name}` has no Type")))?;
                Ok(Column::new(
                    name.to_ascii_lowercase(),
                    ty.to_ascii_lowercase(),
                ))
            })
            .collect()
    };
    let mut def = TableDef::new(&name.to_ascii_lowercase(), db, location, format);
    def.columns = cols(sd.get("Columns"), "a")?;
    def.partition_keys = cols(t.get("PartitionKeys"), "a partition")?;
    if def.columns.is_empty() {
        return Err(invalid(
            "StorageDescriptor.Columns: a table needs at least one column",
        ));
    }
    if let Some(Value::Object(m)) = t.get("Parameters") {
        for (k, v) in m {
            if let Some(v) = v.as_str()
                && !matches!(
                    k.as_str(),
                    "classification"
                        | "compressionType"
                        | "delimiter"
                        | "skip.header.line.count"
                        // owl's statistics of the files, not settings: a table read back and sent again
                        // does not freeze them.
                        | "objectCount"
                        | "sizeKey"
                        | "recordCount"
                )
            {
                def.properties.insert(k.clone(), v.to_string());
            }
        }
    }
    Ok(def)
}

/// Glue's partition `Expression`, the part owl answers: `key = 'v'` (or a number), `key in (...)`, comparisons
/// of `key` with a value, joined by AND.
struct PartitionFilter {
    terms: Vec<(usize, String, Vec<String>)>,
}

impl PartitionFilter {
    fn parse(expr: &str, keys: &[Column]) -> Result<Self, ApiError> {
        let bad = || {
            invalid(&format!(
                "Expression `{expr}`: owl answers `key = value`, `key in (...)`, `<`, `>`, `<=`, `>=`, `<>` joined by AND"
            ))
        };
        let mut terms = Vec::new();
        let lower = expr.to_string();
        for part in split_and(&lower) {
            let part = part.trim();
            let (key, op, rest) = ["<>", "<=", ">=", "!=", "=", "<", ">"]
                .iter()
                .find_map(|op| part.split_once(op).map(|(k, r)| (k, op.to_string(), r)))
                .or_else(|| {
                    let l = part.to_ascii_lowercase();
                    l.find(" in ")
                        .map(|i| (&part[..i], "in".to_string(), &part[i + 4..]))
                })
                .ok_or_else(bad)?;
            let key = key.trim().trim_matches('`').to_ascii_lowercase();
            let index = keys.iter().position(|k| k.name == key).ok_or_else(|| {
                invalid(&format!(
                    "Expression `{expr}`: `{key}` is not a partition key"
                ))
            })?;
            let values: Vec<String> = if op == "in" {
                rest.trim()
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(bad)?
                    .split(',')
                    .map(|v| unquote(v.trim()))
                    .collect()
            } else {
                vec![unquote(rest.trim())]
            };
            terms.push((index, op, values));
        }
        Ok(PartitionFilter { terms })
    }

    fn matches(&self, values: &[String]) -> bool {
        self.terms.iter().all(|(i, op, want)| {
            let Some(v) = values.get(*i) else {
                return false;
            };
            let cmp = |w: &String| match (v.parse::<f64>(), w.parse::<f64>()) {
                (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
                _ => v.as_str().cmp(w.as_str()),
            };
            use std::cmp::Ordering::*;
            match op.as_str() {
                "=" => cmp(&want[0]) == Equal,
                "<>" | "!=" => cmp(&want[0]) != Equal,
                "<" => cmp(&want[0]) == Less,
                ">" => cmp(&want[0]) == Greater,
                "<=" => cmp(&want[0]) != Greater,
                ">=" => cmp(&want[0]) != Less,
                _ => want.iter().any(|w| cmp(w) == Equal),
            }
        })
    }
}

fn split_and(expr: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let lower = expr.to_ascii_lowercase();
    let mut start = 0;
    let mut quoted = false;
    let bytes = lower.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && lower[i..].starts_with(" and ") {
            out.push(&expr[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    out.push(&expr[start..]);
    out
}

fn unquote(v: &str) -> String {
    v.strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .unwrap_or(v)
        .replace("''", "'")
}

// ------------------------------------------------------------------------------------------- crawlers

/// A crawler as kept beside the registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrawlerDef {
    pub name: String,
    #[serde(default)]
    pub role: String,
    pub database_name: String,
    pub targets: Vec<String>,
    #[serde(default)]
    pub exclusions: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// READY, RUNNING or STOPPING.
    pub state: String,
    pub update_behavior: String,
    pub delete_behavior: String,
    pub creation_time: String,
    pub last_updated: String,
    #[serde(default)]
    pub last_crawl: Option<LastCrawl>,
    #[serde(default)]
    pub version: u64,
    /// Custom classifiers by name, tried in order before owl's own (Glue's `Classifiers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classifiers: Vec<String>,
}

/// A custom classifier as kept beside the registry: Glue's `GrokClassifier`, the kind owl's crawler runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierDef {
    pub name: String,
    pub classification: String,
    pub grok_pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_patterns: Option<String>,
    pub creation_time: String,
    pub last_updated: String,
    pub version: u64,
}

impl ClassifierDef {
    fn grok(&self) -> crate::crawler::logs::GrokClassifier {
        crate::crawler::logs::GrokClassifier::new(
            &self.classification,
            &self.grok_pattern,
            self.custom_patterns.as_deref(),
        )
    }
}

/// A classifier request's `GrokClassifier`; the other kinds are refused by name.
fn grok_input(input: &Value) -> Result<&Value, ApiError> {
    if let Some(g) = input.get("GrokClassifier") {
        return Ok(g);
    }
    let other = ["XMLClassifier", "JsonClassifier", "CsvClassifier"]
        .into_iter()
        .find(|k| input.get(*k).is_some());
    Err(invalid(&match other {
        Some(k) => {
            format!("{k}: owl's crawler runs grok classifiers (GrokClassifier) besides its own")
        }
        None => "GrokClassifier is required".to_string(),
    }))
}

fn classifier_path(server: &Server, name: &str) -> Result<std::path::PathBuf, ApiError> {
    kept_path(server, CLASSIFIERS, "classifier", name)
}

fn existing_classifier(server: &Server, name: &str) -> Result<ClassifierDef, ApiError> {
    let path = classifier_path(server, name)?;
    crate::catalog::store::read_json::<ClassifierDef>(&path, "classifier")?
        .ok_or_else(|| not_found(format!("Classifier with name {name} has not been found.")))
}

fn classifiers(server: &Server) -> Result<Vec<ClassifierDef>, ApiError> {
    let mut out = kept(server, CLASSIFIERS, existing_classifier);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn classifier_json(c: &ClassifierDef) -> Value {
    let mut grok = json!({
        "Name": c.name,
        "Classification": c.classification,
        "GrokPattern": c.grok_pattern,
        "CreationTime": epoch_rfc3339(&c.creation_time),
        "LastUpdated": epoch_rfc3339(&c.last_updated),
        "Version": c.version,
    });
    if let Some(p) = &c.custom_patterns {
        grok["CustomPatterns"] = json!(p);
    }
    json!({ "GrokClassifier": grok })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastCrawl {
    /// SUCCEEDED, CANCELLED or FAILED.
    pub status: String,
    #[serde(default)]
    pub error_message: Option<String>,
    pub start_time: String,
    pub runtime_ms: u64,
    pub tables_created: u64,
    pub tables_updated: u64,
    pub tables_deleted: u64,
}

fn crawler_path(server: &Server, name: &str) -> Result<std::path::PathBuf, ApiError> {
    kept_path(server, CRAWLERS, "crawler", name)
}

/// The file of a crawler or classifier (`what`) named `name`, kept in `dir` beside the registry.
fn kept_path(
    server: &Server,
    dir: &str,
    what: &str,
    name: &str,
) -> Result<std::path::PathBuf, ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != "..";
    if !ok {
        return Err(invalid(&format!(
            "`{name}` is not a {what} name: letters, digits, `-`, `_` and `.`, at most 255"
        )));
    }
    Ok(server
        .engine()
        .registry()
        .root()
        .join(dir)
        .join(format!("{name}.json")))
}

/// Every readable definition kept in `dir` beside the registry, read by `read` from its name.
fn kept<T>(server: &Server, dir: &str, read: fn(&Server, &str) -> Result<T, ApiError>) -> Vec<T> {
    let dir = server.engine().registry().root().join(dir);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".json")
                && let Ok(c) = read(server, stem)
            {
                out.push(c);
            }
        }
    }
    out
}

fn existing_crawler(server: &Server, name: &str) -> Result<CrawlerDef, ApiError> {
    let path = crawler_path(server, name)?;
    crate::catalog::store::read_json::<CrawlerDef>(&path, "crawler")?
        .ok_or_else(|| not_found(format!("Crawler with name {name} has not been found.")))
}

fn save_crawler(server: &Server, c: &CrawlerDef) -> Result<(), ApiError> {
    let path = crawler_path(server, &c.name)?;
    crate::catalog::store::write_json_atomic(&path, c)?;
    Ok(())
}

fn crawlers(server: &Server) -> Result<Vec<CrawlerDef>, ApiError> {
    let mut out = kept(server, CRAWLERS, existing_crawler);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn crawler_json(c: &CrawlerDef) -> Value {
    let targets: Vec<Value> = c
        .targets
        .iter()
        .map(|p| json!({ "Path": p, "Exclusions": c.exclusions }))
        .collect();
    let mut out = json!({
        "Name": c.name,
        "Role": c.role,
        "Targets": { "S3Targets": targets },
        "DatabaseName": c.database_name,
        "State": c.state,
        "SchemaChangePolicy": { "UpdateBehavior": c.update_behavior, "DeleteBehavior": c.delete_behavior },
        "RecrawlPolicy": { "RecrawlBehavior": "CRAWL_EVERYTHING" },
        "CrawlElapsedTime": 0,
        "CreationTime": epoch_rfc3339(&c.creation_time),
        "LastUpdated": epoch_rfc3339(&c.last_updated),
        "Version": c.version,
        "Classifiers": c.classifiers,
    });
    if let Some(d) = &c.description {
        out["Description"] = json!(d);
    }
    if let Some(l) = &c.last_crawl {
        let mut last = json!({ "Status": l.status, "StartTime": epoch_rfc3339(&l.start_time) });
        if let Some(m) = &l.error_message {
            last["ErrorMessage"] = json!(m);
        }
        out["LastCrawl"] = last;
    }
    out
}

fn create_crawler(server: &Server, input: &Value) -> Result<Value, ApiError> {
    let name = req_str(input, "Name")?;
    let path = crawler_path(server, name)?;
    if path.exists() {
        return Err(ApiError::new(
            "AlreadyExistsException",
            format!("Crawler with name {name} already exists"),
        ));
    }
    if opt_str(input, "TablePrefix")?.is_some_and(|p| !p.is_empty()) {
        return Err(invalid("TablePrefix is not supported by owl's crawler"));
    }
    let database = req_str(input, "DatabaseName")?;
    existing_database(server, database)?;
    let targets = input
        .get("Targets")
        .and_then(|t| t.get("S3Targets"))
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("Targets.S3Targets: a crawler needs at least one path"))?;
    let mut paths = Vec::new();
    let mut exclusions = Vec::new();
    for t in targets {
        paths.push(check_location(server, req_str(t, "Path")?)?);
        exclusions.extend(str_list(t, "Exclusions")?);
    }
    let policy = input
        .get("SchemaChangePolicy")
        .cloned()
        .unwrap_or(json!({}));
    let update = opt_str(&policy, "UpdateBehavior")?.unwrap_or("UPDATE_IN_DATABASE");
    let delete = opt_str(&policy, "DeleteBehavior")?.unwrap_or("DEPRECATE_IN_DATABASE");
    if !matches!(update, "UPDATE_IN_DATABASE" | "LOG")
        || !matches!(
            delete,
            "DEPRECATE_IN_DATABASE" | "DELETE_FROM_DATABASE" | "LOG"
        )
    {
        return Err(invalid(&format!(
            "SchemaChangePolicy {update}/{delete}: owl's crawler updates or logs, and deprecates, deletes or logs"
        )));
    }
    let classifier_names = str_list(input, "Classifiers")?;
    for n in &classifier_names {
        existing_classifier(server, n)?;
    }
    let at = now();
    save_crawler(
        server,
        &CrawlerDef {
            classifiers: classifier_names,
            name: name.to_string(),
            role: opt_str(input, "Role")?.unwrap_or("").to_string(),
            database_name: database.to_string(),
            targets: paths,
            exclusions,
            description: opt_str(input, "Description")?.map(str::to_string),
            state: "READY".into(),
            update_behavior: update.to_string(),
            delete_behavior: delete.to_string(),
            creation_time: at.clone(),
            last_updated: at,
            last_crawl: None,
            version: 1,
        },
    )?;
    Ok(json!({}))
}

fn start_crawler(server: &Arc<Server>, name: &str) -> Result<Value, ApiError> {
    let _guard = server.crawler_lock();
    let mut c = existing_crawler(server, name)?;
    if c.state != "READY" {
        return Err(ApiError::new(
            "CrawlerRunningException",
            format!("Crawler with name {name} has already started"),
        ));
    }
    c.state = "RUNNING".into();
    save_crawler(server, &c)?;
    let server = Arc::clone(server);
    tokio::spawn(async move {
        let started = now();
        let clock = std::time::Instant::now();
        let engine = server.engine().clone();
        // Its classifiers as they are now (one deleted since fails the crawl, naming it).
        let mut error = None;
        let custom = c
            .classifiers
            .iter()
            .map(|n| existing_classifier(&server, n).map(|d| d.grok()))
            .collect::<Result<Vec<_>, ApiError>>()
            .unwrap_or_else(|e| {
                error = Some(e.message);
                vec![]
            });
        let opts = CrawlOptions {
            database: c.database_name.clone(),
            classifiers: custom,
            excludes: c.exclusions.clone(),
            on_change: if c.update_behavior == "LOG" {
                OnChange::Log
            } else {
                OnChange::Update
            },
            on_delete: match c.delete_behavior.as_str() {
                "DELETE_FROM_DATABASE" => OnDelete::Delete,
                "LOG" => OnDelete::Log,
                _ => OnDelete::Deprecate,
            },
            ..CrawlOptions::default()
        };
        let crawler = Crawler::new(engine.registry().clone(), engine.stores());
        let (mut created, mut updated, mut deleted) = (0, 0, 0);
        for path in &c.targets {
            if error.is_some() {
                break;
            }
            match crawler.crawl(path, &opts).await {
                Ok(report) => {
                    for t in &report.tables {
                        match t.change {
                            "created" => created += 1,
                            "updated" | "new_version" => updated += 1,
                            "deleted" | "deprecated" => deleted += 1,
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        // STOPPING while the result is written, then READY with its last crawl.
        if let Ok(mut c) = existing_crawler(&server, &c.name) {
            c.state = "STOPPING".into();
            let _ = save_crawler(&server, &c);
            c.state = "READY".into();
            c.last_crawl = Some(LastCrawl {
                status: if error.is_some() {
                    "FAILED"
                } else {
                    "SUCCEEDED"
                }
                .into(),
                error_message: error,
                start_time: started,
                runtime_ms: clock.elapsed().as_millis() as u64,
                tables_created: created,
                tables_updated: updated,
                tables_deleted: deleted,
            });
            c.last_updated = now();
            let _ = save_crawler(&server, &c);
        }
    });
    Ok(json!({}))
}

/// Crawls a server's end interrupted: READY again, their last crawl CANCELLED.
pub fn settle_crawlers(registry_root: &Path) {
    let dir = registry_root.join(CRAWLERS);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if let Ok(Some(mut c)) = crate::catalog::store::read_json::<CrawlerDef>(&path, "crawler")
            && c.state != "READY"
        {
            c.state = "READY".into();
            c.last_crawl = Some(LastCrawl {
                status: "CANCELLED".into(),
                error_message: Some("the server stopped during the crawl".into()),
                start_time: c.last_updated.clone(),
                runtime_ms: 0,
                tables_created: 0,
                tables_updated: 0,
                tables_deleted: 0,
            });
            let _ = crate::catalog::store::write_json_atomic(&path, &c);
        }
    }
}

/// A regex or grok table's `skip.header.line.count`: a whole number of lines.
fn header_lines(params: &Value) -> Result<u32, ApiError> {
    match opt_str(params, "skip.header.line.count")? {
        None => Ok(0),
        Some(n) => n.trim().parse().map_err(|_| {
            invalid(&format!(
                "skip.header.line.count `{n}` is not a whole number of lines"
            ))
        }),
    }
}
