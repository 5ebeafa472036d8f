//! `owl ingest TABLE < records.ndjson`: Firehose's delivery from the command line. Each line of the input is a
//! record (a JSON object); records are buffered by size and time as a delivery stream buffers them, converted
//! to the table's format and written under its location (by arrival hour, or by the table's partition keys),
//! new partitions registered; records that do not fit go to the error prefix. The input is delivered in full
//! when the command ends (its exit is the acknowledgement: there is no log).

use super::{ExitStatus, print_error, status_of};
use crate::engine::Engine;
use crate::error::Error;
use crate::ingest::stream::Stream;
use crate::ingest::{self, StreamConfig};
use bytes::Bytes;
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestFormat {
    /// One line on stderr.
    Text,
    /// `{"table", "records", "bytes", "delivered", "failed", "files", "error_files", "bytes_written",
    /// "partitions_added", "error_prefix", "errors", "seconds"}` on stdout.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The table (`db.table`, or a table of `--database`): Parquet or ORC.
    table: String,
    /// Read records from this file instead of stdin.
    #[arg(long, short = 'i', value_name = "FILE")]
    input: Option<PathBuf>,
    /// Deliver a buffer when it holds this many MiB (Firehose's SizeInMBs: 1 to 128).
    #[arg(long, value_name = "MB", default_value_t = ingest::DEFAULT_SIZE_MB)]
    buffer_size: u64,
    /// Deliver a buffer when its first record is this old (Firehose's IntervalInSeconds: 60 to 900).
    #[arg(long, value_name = "SECONDS", default_value_t = ingest::DEFAULT_INTERVAL_S)]
    buffer_interval: u64,
    /// The codec: Parquet SNAPPY, GZIP, ZSTD, UNCOMPRESSED; ORC SNAPPY, ZLIB, ZSTD, NONE.
    #[arg(long, default_value = "SNAPPY")]
    compression: String,
    /// Where files go below the table's location, with Firehose's `!{timestamp:yyyy}` and
    /// `!{partitionKeyFromQuery:field}` (default: `yyyy/MM/dd/HH/`, or the table's partition keys).
    #[arg(long)]
    prefix: Option<String>,
    /// Where records that do not fit go below the table's location (default `_processing-failed/yyyy/MM/dd/HH/`).
    #[arg(long)]
    error_prefix: Option<String>,
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: IngestFormat,
}

pub async fn run(engine: &Engine, args: IngestArgs) -> ExitStatus {
    match ingest(engine, args).await {
        Ok(s) => s,
        Err(e) => {
            print_error(&e);
            status_of(&e)
        }
    }
}

async fn ingest(engine: &Engine, args: IngestArgs) -> Result<ExitStatus, Error> {
    let (database, table) = match args.table.split_once('.') {
        Some((d, t)) => (d.to_string(), t.to_string()),
        None => (engine.database(), args.table.clone()),
    };
    let config = StreamConfig {
        name: "owl-ingest".into(),
        database: database.clone(),
        table: table.clone(),
        prefix: args.prefix.clone(),
        error_prefix: args.error_prefix.clone(),
        size_mb: args.buffer_size,
        interval_s: args.buffer_interval,
        compression: args.compression.clone(),
        created: chrono::Utc::now().to_rfc3339(),
        bucket_arn: None,
        role_arn: None,
    };
    let started = std::time::Instant::now();
    let stream = Stream::open(engine.clone(), config, None).await?;
    let input: Box<dyn std::io::Read + Send> = match &args.input {
        Some(path) => Box::new(
            std::fs::File::open(path)
                .map_err(|e| Error::Query(format!("cannot read `{}`: {e}", path.display())))?,
        ),
        None => Box::new(std::io::stdin()),
    };
    // Lines are read on a thread of their own, a batch (a PutRecordBatch's worth) at a time.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<Bytes>>>(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::with_capacity(1 << 20, input);
        let mut batch: Vec<Bytes> = vec![];
        let mut batch_bytes = 0usize;
        let mut line = Vec::new();
        loop {
            line.clear();
            match lines.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            batch_bytes += text.len();
            batch.push(Bytes::copy_from_slice(text));
            // A batch goes when it is full, or when the next line would wait for more input (a pipe that a
            // producer writes as it goes: its records must not wait for 500 more to be buffered and timed).
            if batch.len() >= ingest::MAX_BATCH_RECORDS
                || batch_bytes >= ingest::MAX_BATCH_BYTES
                || lines.buffer().is_empty()
            {
                if tx.blocking_send(Ok(std::mem::take(&mut batch))).is_err() {
                    return;
                }
                batch_bytes = 0;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(Ok(batch));
        }
    });
    while let Some(batch) = rx.recv().await {
        let batch = batch.map_err(|e| Error::Query(format!("reading the records: {e}")))?;
        stream.put(batch).await?;
    }
    let _ = reader.await;
    stream.close().await;
    let s = stream.stats();
    let error_prefix = stream.error_location()?;
    let seconds = started.elapsed().as_secs_f64();
    if args.format == IngestFormat::Json {
        println!(
            "{}",
            serde_json::json!({
                "table": format!("{database}.{table}"),
                "records": s.received,
                "bytes": s.received_bytes,
                "delivered": s.delivered,
                "failed": s.failed,
                "files": s.files,
                "error_files": s.error_files,
                "bytes_written": s.bytes_written,
                "partitions_added": s.partitions_added,
                "error_prefix": error_prefix,
                "errors": s.errors,
                "seconds": seconds,
            })
        );
    } else {
        eprintln!(
            "{} records ({} bytes) into {database}.{table}: {} delivered in {} files, {} bytes written, {} new \
             partitions{}, {seconds:.2}s",
            s.received,
            s.received_bytes,
            s.delivered,
            s.files,
            s.bytes_written,
            s.partitions_added.len(),
            if s.failed > 0 {
                format!(
                    ", {} records that do not fit in {error_prefix} ({} files)",
                    s.failed, s.error_files
                )
            } else {
                String::new()
            }
        );
    }
    if let Some(e) = s.errors.first() {
        let lost = s.received - s.delivered - s.failed;
        print_error(&Error::Query(format!(
            "{lost} records were not delivered: {e}"
        )));
        return Ok(ExitStatus::UserError);
    }
    Ok(ExitStatus::Ok)
}
