//! `owl convert <table> --to parquet|orc|avro|json|csv`: the shortcut for a CTAS that copies a table into another
//! format, keeping its partitioning unless told otherwise. It runs the same statement a user could type (see
//! `sql::ctas`).

use super::{ExitStatus, Interrupts, finish, print_error, status_of};
use crate::engine::{Ending, Engine};
use crate::error::Error;
use crate::output::{human_bytes, stats_line};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Parquet,
    Orc,
    Avro,
    Json,
    /// CSV with a header line (Athena's TEXTFILE).
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// The table to copy: `table` or `database.table`.
    table: String,
    /// The format to write.
    #[arg(long, value_enum, default_value = "parquet")]
    to: Target,
    /// Partition the copy by this column (repeatable). Default: the table's own partition keys.
    #[arg(long = "partition-by", value_name = "COLUMN")]
    partition_by: Vec<String>,
    /// Write the copy without partitions.
    #[arg(long, conflicts_with = "partition_by")]
    no_partitions: bool,
    /// The new table's name. Default: `<table>_<format>`.
    #[arg(long)]
    name: Option<String>,
    /// Where to write (must be empty). Default: `warehouse/<db>/<name>/` beside the registry.
    #[arg(long)]
    location: Option<String>,
    /// CTAS `write_compression` (default GZIP, as Athena).
    #[arg(long)]
    compression: Option<String>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

pub async fn run(engine: &Engine, args: ConvertArgs, interrupts: &Interrupts) -> ExitStatus {
    let (db, table) = match args.table.split_once('.') {
        Some((d, t)) => (d.to_string(), t.to_string()),
        None => (engine.database(), args.table.clone()),
    };
    let source = match engine.registry().load_table(&db, &table) {
        Ok(t) => t,
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    let (format, suffix) = match args.to {
        Target::Parquet => ("PARQUET", "parquet"),
        Target::Orc => ("ORC", "orc"),
        Target::Avro => ("AVRO", "avro"),
        Target::Json => ("JSON", "json"),
        Target::Csv => ("TEXTFILE", "csv"),
    };
    let name = args.name.unwrap_or_else(|| format!("{table}_{suffix}"));
    let keys: Vec<String> = if args.no_partitions {
        vec![]
    } else if args.partition_by.is_empty() {
        source
            .partition_keys
            .iter()
            .map(|k| k.name.clone())
            .collect()
    } else {
        args.partition_by
    };
    let mut with = vec![format!("format = '{format}'")];
    if !keys.is_empty() {
        let list: Vec<String> = keys.iter().map(|k| quote(k)).collect();
        with.push(format!("partitioned_by = ARRAY[{}]", list.join(", ")));
    }
    if let Some(l) = &args.location {
        with.push(format!("external_location = {}", quote(l)));
    }
    if let Some(c) = &args.compression {
        with.push(format!("write_compression = {}", quote(c)));
    }
    let sql = format!(
        "CREATE TABLE \"{db}\".\"{name}\" WITH ({}) AS SELECT * FROM \"{db}\".\"{table}\"",
        with.join(", ")
    );
    let stmt = match engine.parse(&sql) {
        Ok(mut s) if s.len() == 1 => s.remove(0),
        Ok(_) => {
            print_error(&Error::Internal(format!("`{sql}` is not one statement")));
            return ExitStatus::Internal;
        }
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    let exec = engine.queue(engine.request(stmt));
    let o = finish(&exec, interrupts).await;
    let units = engine.cost_model().units;
    match &o.ending {
        Ending::Succeeded => {
            eprintln!("{}", stats_line(&o.stats, units));
            let Ok(copy) = engine.registry().load_table(&db, &name) else {
                print_error(&Error::Internal(format!(
                    "`{db}.{name}` was not registered"
                )));
                return ExitStatus::Internal;
            };
            let (was, now) = (
                source.stats.size_bytes.unwrap_or(0),
                copy.stats.size_bytes.unwrap_or(0),
            );
            let share = if was > 0 {
                format!(
                    " ({:.0}% of the source's {})",
                    100.0 * now as f64 / was as f64,
                    human_bytes(was, units)
                )
            } else {
                String::new()
            };
            eprintln!(
                "converted `{db}.{table}` to `{db}.{name}` ({suffix}): {} rows, {} files, {}{share}, {} partitions, at `{}`",
                copy.stats.record_count.unwrap_or(0),
                copy.stats.object_count.unwrap_or(0),
                human_bytes(now, units),
                copy.partitions.len(),
                copy.location
            );
            ExitStatus::Ok
        }
        Ending::Failed(e) => {
            print_error(e);
            status_of(e)
        }
        Ending::Cancelled { .. } => {
            eprintln!("{}", stats_line(&o.stats, units));
            ExitStatus::UserError
        }
    }
}
