//! The Firehose API (`X-Amz-Target: Firehose_20150804.<Operation>`): delivery streams into registry tables
//! (`crate::ingest`), so that `boto3.client("firehose")` and the AWS SDKs put records as they do to Kinesis Data
//! Firehose. CreateDeliveryStream, DescribeDeliveryStream, ListDeliveryStreams, DeleteDeliveryStream,
//! PutRecord, PutRecordBatch, with botocore's shapes and error codes.
//!
//! Where owl differs from Firehose, and why:
//! - The destination is a table: `ExtendedS3DestinationConfiguration.DataFormatConversionConfiguration.
//!   SchemaConfiguration` names it (Firehose's record format conversion), and its files go under the table's
//!   location; `Prefix` and `ErrorOutputPrefix` are relative to it. `BucketARN` must name the table's bucket
//!   (any for a local table); `RoleARN` is kept and shown, the server's own credentials write.
//! - Failed records go by default to `_processing-failed/yyyy/MM/dd/HH/` under the table's location (`_`:
//!   queries skip it); an `ErrorOutputPrefix` must also start with `_`.
//! - A put is acknowledged once it is in the stream's log on disk (synced); a delivery stream whose server was
//!   killed delivers its log when the server starts again. DeleteDeliveryStream delivers the buffer first.

use super::input::{opt_int, opt_str, req_str};
use super::{ApiError, Caller, Server};
use crate::ingest::stream::{Deleted, Streams};
use crate::ingest::{self, StreamConfig};
use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;

const ACCOUNT: &str = "000000000000";
const REGION: &str = "us-east-1";

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidArgumentException", message)
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFoundException",
        format!("Firehose {name} under account {ACCOUNT} not found."),
    )
}

fn arn(name: &str) -> String {
    format!("arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{name}")
}

pub async fn call(
    server: &Arc<Server>,
    _caller: &Caller,
    operation: &str,
    input: &Value,
) -> Result<Value, ApiError> {
    let streams = server.streams().await?;
    match operation {
        "CreateDeliveryStream" => create(server, streams, input).await,
        "DescribeDeliveryStream" => {
            let name = req_str(input, "DeliveryStreamName")?;
            let config = streams.config(name)?.ok_or_else(|| not_found(name))?;
            let stream = streams.get(name).await;
            let format = server
                .engine()
                .registry()
                .load_table(&config.database, &config.table)
                .map(|d| d.format.classification)
                .ok();
            Ok(json!({ "DeliveryStreamDescription": describe(&config, format, stream.as_deref()) }))
        }
        "ListDeliveryStreams" => {
            let limit = match opt_int(input, "Limit")? {
                None => 10,
                Some(n) if (1..=10000).contains(&n) => n as usize,
                Some(n) => return Err(invalid(format!("Limit {n} is outside 1 to 10000"))),
            };
            match opt_str(input, "DeliveryStreamType")? {
                None | Some("DirectPut") => {}
                Some(_) => {
                    return Ok(json!({"DeliveryStreamNames": [], "HasMoreDeliveryStreams": false}));
                }
            }
            let after = opt_str(input, "ExclusiveStartDeliveryStreamName")?;
            let names: Vec<String> = streams
                .configs()?
                .into_iter()
                .map(|c| c.name)
                .filter(|n| after.is_none_or(|a| n.as_str() > a))
                .collect();
            let more = names.len() > limit;
            Ok(json!({
                "DeliveryStreamNames": names.into_iter().take(limit).collect::<Vec<_>>(),
                "HasMoreDeliveryStreams": more,
            }))
        }
        "DeleteDeliveryStream" => {
            let name = req_str(input, "DeliveryStreamName")?;
            match streams.delete(name).await? {
                Deleted::Gone => Ok(json!({})),
                Deleted::NotFound => Err(not_found(name)),
                Deleted::Undelivered(why) => Err(ApiError::new("ResourceInUseException", why)),
            }
        }
        "PutRecord" => {
            let name = req_str(input, "DeliveryStreamName")?;
            let record = input
                .get("Record")
                .ok_or_else(|| invalid("Record is required"))?;
            let data = record_data(record, "Record")?;
            let stream = running(streams, name).await?;
            let ids = stream.put(vec![data]).await.map_err(unavailable)?;
            Ok(json!({ "RecordId": ids[0], "Encrypted": false }))
        }
        "PutRecordBatch" => {
            let name = req_str(input, "DeliveryStreamName")?;
            let Some(Value::Array(records)) = input.get("Records") else {
                return Err(invalid("Records must be a list of records"));
            };
            if records.is_empty() || records.len() > ingest::MAX_BATCH_RECORDS {
                return Err(invalid(format!(
                    "Records has {} records: a batch holds 1 to {}",
                    records.len(),
                    ingest::MAX_BATCH_RECORDS
                )));
            }
            let data = records
                .iter()
                .enumerate()
                .map(|(i, r)| record_data(r, &format!("Records[{i}]")))
                .collect::<Result<Vec<Bytes>, ApiError>>()?;
            let total: usize = data.iter().map(Bytes::len).sum();
            if total > ingest::MAX_BATCH_BYTES {
                return Err(invalid(format!(
                    "the batch's records hold {total} bytes: at most {} (4 MiB) a call",
                    ingest::MAX_BATCH_BYTES
                )));
            }
            let stream = running(streams, name).await?;
            let n = data.len();
            match stream.put(data).await {
                Ok(ids) => Ok(json!({
                    "FailedPutCount": 0,
                    "Encrypted": false,
                    "RequestResponses": ids.iter().map(|id| json!({"RecordId": id})).collect::<Vec<_>>(),
                })),
                // Nothing of the batch was kept: each record failed, as Firehose reports a throttled batch.
                Err(e) => Ok(json!({
                    "FailedPutCount": n,
                    "Encrypted": false,
                    "RequestResponses": (0..n).map(|_| json!({
                        "ErrorCode": "ServiceUnavailableException",
                        "ErrorMessage": e.to_string(),
                    })).collect::<Vec<_>>(),
                })),
            }
        }
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!(
                "Firehose operation `{operation}` is not one this server answers (CreateDeliveryStream, \
                 DescribeDeliveryStream, ListDeliveryStreams, DeleteDeliveryStream, PutRecord, \
                 PutRecordBatch)"
            ),
        )),
    }
}

fn unavailable(e: crate::error::Error) -> ApiError {
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        ..ApiError::new("ServiceUnavailableException", e.to_string())
    }
}

async fn running(
    streams: &Streams,
    name: &str,
) -> Result<Arc<crate::ingest::stream::Stream>, ApiError> {
    if let Some(s) = streams.get(name).await {
        return Ok(s);
    }
    if streams.config(name)?.is_some() {
        let why = streams
            .why_down(name)
            .unwrap_or_else(|| "it did not open when the server started".into());
        return Err(unavailable(crate::error::Error::Query(format!(
            "delivery stream `{name}` is not running here: {why} (its log is kept); fix that and restart the \
             server, or delete the stream"
        ))));
    }
    Err(not_found(name))
}

/// A record's `Data`: base64 (as the SDKs send blobs), at most 1,000 KiB decoded.
fn record_data(record: &Value, member: &str) -> Result<Bytes, ApiError> {
    let Some(Value::String(text)) = record.get("Data") else {
        return Err(invalid(format!("{member}.Data is required (a blob)")));
    };
    let bytes = base64_simd::STANDARD.decode_to_vec(text).map_err(|_| {
        ApiError::new(
            "SerializationException",
            format!("{member}.Data is not base64"),
        )
    })?;
    if bytes.len() > ingest::MAX_RECORD {
        return Err(invalid(format!(
            "{member}.Data holds {} bytes: a record holds at most {} (1,000 KiB)",
            bytes.len(),
            ingest::MAX_RECORD
        )));
    }
    Ok(Bytes::from(bytes))
}

async fn create(server: &Arc<Server>, streams: &Streams, input: &Value) -> Result<Value, ApiError> {
    let name = req_str(input, "DeliveryStreamName")?;
    ingest::check_stream_name(name).map_err(|e| invalid(e.to_string()))?;
    match opt_str(input, "DeliveryStreamType")? {
        None | Some("DirectPut") => {}
        Some(other) => {
            return Err(invalid(format!(
                "DeliveryStreamType {other}: owl's delivery streams take records put to them (DirectPut)"
            )));
        }
    }
    let Some(dest) = input.get("ExtendedS3DestinationConfiguration") else {
        return Err(invalid(
            "ExtendedS3DestinationConfiguration is required: owl delivers into a table, named by its \
             DataFormatConversionConfiguration.SchemaConfiguration",
        ));
    };
    let conversion = dest.get("DataFormatConversionConfiguration");
    if conversion
        .and_then(|c| c.get("Enabled"))
        .is_some_and(|e| e == &Value::Bool(false))
    {
        return Err(invalid(
            "DataFormatConversionConfiguration.Enabled is false: owl converts records to the table's format",
        ));
    }
    let schema = conversion
        .and_then(|c| c.get("SchemaConfiguration"))
        .ok_or_else(|| {
            invalid(
                "DataFormatConversionConfiguration.SchemaConfiguration (DatabaseName, TableName) is required: \
                 it names the table the records go to",
            )
        })?;
    let database = req_str(schema, "DatabaseName")?;
    let table = req_str(schema, "TableName")?;
    let serializer = conversion
        .and_then(|c| c.get("OutputFormatConfiguration"))
        .and_then(|o| o.get("Serializer"));
    let (serde, compression) = match serializer {
        Some(s) if s.get("ParquetSerDe").is_some() => (
            Some("parquet"),
            opt_str(&s["ParquetSerDe"], "Compression")?.map(str::to_string),
        ),
        Some(s) if s.get("OrcSerDe").is_some() => (
            Some("orc"),
            opt_str(&s["OrcSerDe"], "Compression")?.map(str::to_string),
        ),
        _ => (None, None),
    };
    match opt_str(dest, "CompressionFormat")? {
        None | Some("UNCOMPRESSED") => {}
        Some(other) => {
            return Err(invalid(format!(
                "CompressionFormat {other}: with data format conversion it must be UNCOMPRESSED; give the \
                 codec as the serializer's Compression"
            )));
        }
    }
    let hints = dest.get("BufferingHints").cloned().unwrap_or(json!({}));
    let size_mb = opt_int(&hints, "SizeInMBs")?.unwrap_or(ingest::DEFAULT_SIZE_MB as i64);
    let interval_s =
        opt_int(&hints, "IntervalInSeconds")?.unwrap_or(ingest::DEFAULT_INTERVAL_S as i64);
    let registry = server.engine().registry();
    let def = registry
        .load_table(database, table)
        .map_err(|e| invalid(format!("SchemaConfiguration: {e}")))?;
    let format = def.format.classification.as_str();
    if let Some(s) = serde
        && s != format
    {
        return Err(invalid(format!(
            "the serializer writes {s} but table {database}.{table} is {format}: use the table's format"
        )));
    }
    let bucket_arn = opt_str(dest, "BucketARN")?.map(str::to_string);
    if let Some(bucket) = def
        .location
        .strip_prefix("s3://")
        .and_then(|r| r.split('/').next())
        && let Some(given) = &bucket_arn
        && given != &format!("arn:aws:s3:::{bucket}")
    {
        return Err(invalid(format!(
            "BucketARN {given} is not the bucket of table {database}.{table} (s3://{bucket}/): owl delivers \
             into the table's location"
        )));
    }
    let config = StreamConfig {
        name: name.to_string(),
        database: database.to_string(),
        table: table.to_string(),
        prefix: opt_str(dest, "Prefix")?
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        error_prefix: opt_str(dest, "ErrorOutputPrefix")?
            .filter(|p| !p.is_empty())
            .map(str::to_string),
        size_mb: u64::try_from(size_mb).unwrap_or(0),
        interval_s: u64::try_from(interval_s).unwrap_or(0),
        compression: compression.unwrap_or_else(|| "SNAPPY".into()),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        bucket_arn,
        role_arn: opt_str(dest, "RoleARN")?.map(str::to_string),
    };
    config.check(&def).map_err(|e| invalid(e.to_string()))?;
    match streams.create(config).await {
        Ok(()) => Ok(json!({ "DeliveryStreamARN": arn(name) })),
        Err(None) => Err(ApiError::new(
            "ResourceInUseException",
            format!("Firehose {name} under accountId {ACCOUNT} already exists"),
        )),
        Err(Some(e)) => Err(invalid(e.to_string())),
    }
}

fn describe(
    c: &StreamConfig,
    format: Option<crate::catalog::model::Classification>,
    stream: Option<&crate::ingest::stream::Stream>,
) -> Value {
    let serializer = match format {
        Some(crate::catalog::model::Classification::Orc) => {
            json!({ "OrcSerDe": { "Compression": c.compression } })
        }
        _ => json!({ "ParquetSerDe": { "Compression": c.compression } }),
    };
    let mut d = json!({
        "DeliveryStreamName": c.name,
        "DeliveryStreamARN": arn(&c.name),
        "DeliveryStreamStatus": "ACTIVE",
        "DeliveryStreamType": "DirectPut",
        "VersionId": "1",
        "CreateTimestamp": super::input::epoch_rfc3339(&c.created),
        "HasMoreDestinations": false,
        "Destinations": [{
            "DestinationId": "destinationId-000000000001",
            "ExtendedS3DestinationDescription": {
                "RoleARN": c.role_arn.clone().unwrap_or_default(),
                "BucketARN": c.bucket_arn.clone().unwrap_or_default(),
                "Prefix": c.prefix.clone().unwrap_or_default(),
                "ErrorOutputPrefix": c.error_template(),
                "BufferingHints": {"SizeInMBs": c.size_mb, "IntervalInSeconds": c.interval_s},
                "CompressionFormat": "UNCOMPRESSED",
                "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
                "S3BackupMode": "Disabled",
                "DataFormatConversionConfiguration": {
                    "Enabled": true,
                    "SchemaConfiguration": {
                        "DatabaseName": c.database,
                        "TableName": c.table,
                        "CatalogId": ACCOUNT,
                        "Region": REGION,
                        "VersionId": "LATEST",
                    },
                    "InputFormatConfiguration": {"Deserializer": {"OpenXJsonSerDe": {}}},
                    "OutputFormatConfiguration": {"Serializer": serializer},
                },
            },
        }],
    });
    match stream {
        None => {
            d["DeliveryStreamStatus"] = json!("CREATING_FAILED");
            d["FailureDescription"] = json!({
                "Type": "UNKNOWN_ERROR",
                "Details": "the stream's table could not be opened when the server started; its log is kept",
            });
        }
        Some(s) => {
            if let Some(e) = s.stats().errors.last() {
                d["FailureDescription"] = json!({"Type": "UNKNOWN_ERROR", "Details": e});
            }
        }
    }
    d
}
