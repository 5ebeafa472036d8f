//! Rendering results (stdout) and the stats footer (stderr). The only module besides `cli/` that formats text
//! for people.

use crate::catalog::types::to_hive;
use crate::cost::{QueryState, StatementType, Units};
use crate::engine::{Outcome, QueryStats};
use crate::error::{Error, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::{Map, Value, json};
use std::io::Write;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Tsv,
    /// One JSON object: columns, rows (arrays), stats.
    Json,
    /// One JSON object per row.
    Ndjson,
    Markdown,
}

fn io(e: std::io::Error) -> Error {
    Error::Io {
        context: "writing results".into(),
        source: e,
    }
}

fn arrow_err(e: arrow::error::ArrowError) -> Error {
    Error::Internal(format!("formatting results: {e}"))
}

/// A result's columns as `[{"name", "type"}]`, types in Hive/Athena spelling.
pub fn columns_json(schema: &SchemaRef) -> Vec<Value> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let ty = to_hive(f.data_type()).unwrap_or_else(|_| f.data_type().to_string());
            json!({"name": f.name(), "type": ty})
        })
        .collect()
}

/// Write an outcome's rows in `format`. JSON includes the stats; the others carry rows only.
pub fn write_result(format: OutputFormat, o: &Outcome, out: &mut dyn Write) -> Result<()> {
    match format {
        OutputFormat::Table => {
            if o.schema.fields().is_empty() {
                return Ok(());
            }
            writeln!(out, "{}", table(&o.schema, &o.batches)?).map_err(io)
        }
        OutputFormat::Csv | OutputFormat::Tsv => {
            let delim = if format == OutputFormat::Csv {
                b','
            } else {
                b'\t'
            };
            if o.schema.fields().is_empty() {
                return Ok(());
            }
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_delimiter(delim)
                .build(&mut *out);
            if o.batches.is_empty() {
                w.write(&RecordBatch::new_empty(o.schema.clone()))
                    .map_err(arrow_err)?;
            }
            for b in &o.batches {
                w.write(b).map_err(arrow_err)?;
            }
            Ok(())
        }
        OutputFormat::Ndjson => {
            for row in json_rows(&o.batches)? {
                writeln!(out, "{}", Value::Object(row)).map_err(io)?;
            }
            Ok(())
        }
        OutputFormat::Json => {
            let columns = columns_json(&o.schema);
            let rows: Vec<Value> = json_rows(&o.batches)?
                .into_iter()
                .map(|r| Value::Array(r.into_iter().map(|(_, v)| v).collect()))
                .collect();
            let doc = json!({"columns": columns, "rows": rows, "stats": o.stats});
            writeln!(out, "{doc}").map_err(io)
        }
        OutputFormat::Markdown => {
            if o.schema.fields().is_empty() {
                return Ok(());
            }
            let names: Vec<String> = o.schema.fields().iter().map(|f| md(f.name())).collect();
            writeln!(out, "| {} |", names.join(" | ")).map_err(io)?;
            writeln!(out, "|{}|", vec!["---"; names.len()].join("|")).map_err(io)?;
            for row in cells(&o.schema, &o.batches)? {
                let row: Vec<String> = row.iter().map(|c| md(c)).collect();
                writeln!(out, "| {} |", row.join(" | ")).map_err(io)?;
            }
            Ok(())
        }
    }
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Every cell as display text (NULL shown as `NULL`).
fn cells(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<Vec<String>>> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(arrow_err)?;
        for r in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    debug_assert!(
        rows.iter()
            .all(|r: &Vec<String>| r.len() == schema.fields().len())
    );
    Ok(rows)
}

fn table(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Table> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(schema.fields().iter().map(|f| f.name().clone()));
    for row in cells(schema, batches)? {
        t.add_row(row);
    }
    Ok(t)
}

/// Rows as JSON objects in column order, nulls explicit.
fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::LineDelimited>(&mut buf);
        for b in batches {
            w.write(b).map_err(arrow_err)?;
        }
        w.finish().map_err(arrow_err)?;
    }
    let text = String::from_utf8(buf).map_err(|e| Error::Internal(e.to_string()))?;
    text.lines()
        .map(|l| serde_json::from_str(l).map_err(|e| Error::Internal(format!("row to JSON: {e}"))))
        .collect()
}

/// Bytes for people: `1.21 MB` (decimal) or `1.15 MiB` (binary).
pub fn human_bytes(n: u64, units: Units) -> String {
    let (base, names): (f64, [&str; 5]) = match units {
        Units::Decimal => (1000.0, ["B", "KB", "MB", "GB", "TB"]),
        Units::Binary => (1024.0, ["B", "KiB", "MiB", "GiB", "TiB"]),
    };
    let mut v = n as f64;
    let mut i = 0;
    while v >= base && i < names.len() - 1 {
        v /= base;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0} {}", names[i])
    } else {
        format!("{v:.2} {}", names[i])
    }
}

/// Dollars with enough digits to see a one-query bill: `$0.00005`, `$1.25`.
pub fn dollars(usd: f64) -> String {
    if usd == 0.0 {
        return "$0.00".into();
    }
    let s = format!("{usd:.8}");
    let s = s.trim_end_matches('0');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac = if frac.len() < 2 {
        format!("{frac:0<2}")
    } else {
        frac.to_string()
    };
    format!("${int}.{frac}")
}

/// The one-line footer: `12 rows in 0.034 s · scanned 1.21 MB · billed 10 MB · $0.00005`.
pub fn stats_line(s: &QueryStats, units: Units) -> String {
    let rows = if s.rows == 1 {
        "1 row".to_string()
    } else {
        format!("{} rows", s.rows)
    };
    let secs = s.elapsed_ms as f64 / 1000.0;
    let head = match s.state {
        QueryState::Succeeded => format!("{rows} in {secs:.3} s"),
        QueryState::Failed => format!("FAILED after {secs:.3} s"),
        QueryState::Cancelled => match &s.state_reason {
            Some(r) => format!("CANCELLED ({r}) after {secs:.3} s"),
            None => format!("CANCELLED after {secs:.3} s"),
        },
    };
    match s.statement_type {
        StatementType::Ddl | StatementType::Utility if s.state == QueryState::Succeeded => {
            format!(
                "{head} · free ({})",
                if s.statement_type == StatementType::Ddl {
                    "DDL"
                } else {
                    "utility"
                }
            )
        }
        _ => format!(
            "{head} · scanned {} · billed {} · {}",
            human_bytes(s.bytes_scanned, units),
            human_bytes(s.billed_bytes, units),
            dollars(s.cost_usd)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_dollars() {
        assert_eq!(human_bytes(1_210_000, Units::Decimal), "1.21 MB");
        assert_eq!(human_bytes(10_000_000, Units::Decimal), "10 MB");
        assert_eq!(human_bytes(999, Units::Decimal), "999 B");
        assert_eq!(human_bytes(10 << 20, Units::Binary), "10 MiB");
        assert_eq!(dollars(0.00005), "$0.00005");
        assert_eq!(dollars(5.0), "$5.00");
        assert_eq!(dollars(1.25), "$1.25");
        assert_eq!(dollars(0.0), "$0.00");
    }
}
