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
use serde_json::value::RawValue;
use serde_json::{Value, json};
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

/// A value the writers cannot print (a timestamp past chrono's years) is the data's, not a bug: one line.
fn arrow_err(e: arrow::error::ArrowError) -> Error {
    Error::Query(format!("the results cannot be written: {e}"))
}

/// `batch` with each nested column (struct, list, map) as the JSON text of its values, for CSV and TSV, which
/// hold only flat values (Athena's CSV result files print them as text too). Flat columns are as they are.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = arrow::json::writer::EncoderOptions::default().with_explicit_nulls(true);
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(batch.columns()) {
        if !f.data_type().is_nested() {
            fields.push(f.as_ref().clone());
            columns.push(std::sync::Arc::clone(c));
            continue;
        }
        let mut encoder =
            arrow::json::writer::make_encoder(f, c.as_ref(), &options).map_err(arrow_err)?;
        let mut text = arrow::array::StringBuilder::new();
        let mut buf = Vec::new();
        for i in 0..c.len() {
            if c.is_null(i) {
                text.append_null();
                continue;
            }
            buf.clear();
            encoder.encode(i, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
        fields.push(arrow::datatypes::Field::new(
            f.name(),
            arrow::datatypes::DataType::Utf8,
            true,
        ));
        columns.push(std::sync::Arc::new(text.finish()));
    }
    RecordBatch::try_new(
        std::sync::Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .map_err(arrow_err)
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
                w.write(&nested_as_json(&RecordBatch::new_empty(o.schema.clone()))?)
                    .map_err(arrow_err)?;
            }
            for b in &o.batches {
                w.write(&nested_as_json(b)?).map_err(arrow_err)?;
            }
            Ok(())
        }
        OutputFormat::Ndjson => {
            // Arrow's own lines: objects in column order, nulls explicit, decimals with every digit.
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut *out);
            for b in &o.batches {
                w.write(b).map_err(arrow_err)?;
            }
            w.finish().map_err(arrow_err)
        }
        OutputFormat::Json => {
            // The rows keep each value's JSON text as Arrow writes it: a decimal(38, 6) keeps all its digits,
            // which a round trip through f64 would not.
            let columns = Value::Array(columns_json(&o.schema));
            let rows = serde_json::to_string(&json_rows(&o.batches)?)
                .map_err(|e| Error::internal("rows as JSON", e))?;
            let stats = json!(o.stats);
            writeln!(
                out,
                "{{\"columns\":{columns},\"rows\":{rows},\"stats\":{stats}}}"
            )
            .map_err(io)
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

/// How much of a result a terminal shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fit {
    /// Rows shown at most; beyond it the first and last halves are shown, as DuckDB does.
    pub max_rows: Option<usize>,
    /// The terminal's width: columns that do not fit are left out from the middle, long values cut.
    pub width: Option<usize>,
}

/// The longest a cell gets on a terminal before it is cut with `…`.
const MAX_CELL_WIDTH: usize = 48;

/// A result as a table fitted to a terminal, and a note saying what was left out (None: nothing was).
pub fn fitted_table(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    fit: Fit,
) -> Result<(String, Option<String>)> {
    use unicode_width::UnicodeWidthStr;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let (head_n, tail_n) = match fit.max_rows {
        Some(m) if m > 0 && total > m => (m.div_ceil(2), m / 2),
        _ => (total, 0),
    };
    let mut rows = cells(schema, &slice_rows(batches, 0, head_n))?;
    let tail = cells(schema, &slice_rows(batches, total - tail_n, tail_n))?;
    let rows_elided = head_n + tail_n < total;
    let max_cell = fit.width.map_or(MAX_CELL_WIDTH, |w| {
        MAX_CELL_WIDTH.min(w.saturating_sub(4).max(8))
    });
    let cut = |s: String| -> String {
        let s = if s.contains('\n') {
            s.replace('\n', "↵")
        } else {
            s
        };
        if s.width() <= max_cell {
            return s;
        }
        let mut out = String::new();
        for c in s.chars() {
            if out.width() + 2 > max_cell {
                break;
            }
            out.push(c);
        }
        out.push('…');
        out
    };
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| cut(f.name().clone()))
        .collect();
    rows.extend(tail);
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.into_iter().map(&cut).collect())
        .collect();
    let widths: Vec<usize> = (0..names.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].width())
                .chain(std::iter::once(names[i].width()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Each column costs its width plus a border and two spaces of padding; one border closes the row.
    let frame = |ws: &mut dyn Iterator<Item = usize>| ws.map(|w| w + 3).sum::<usize>() + 1;
    let mut shown: Vec<usize> = (0..names.len()).collect();
    let mut gap_at = None;
    if let Some(width) = fit.width
        && frame(&mut widths.iter().copied()) > width
    {
        // Keep columns from both ends, alternately, while they fit beside a `…` column.
        let (mut left, mut right) = (Vec::new(), Vec::new());
        let mut used = 1 + 4;
        let (mut i, mut j) = (0, names.len());
        let mut from_left = true;
        while i < j {
            let k = if from_left { i } else { j - 1 };
            if used + widths[k] + 3 > width {
                break;
            }
            used += widths[k] + 3;
            if from_left {
                left.push(k);
                i += 1;
            } else {
                right.push(k);
                j -= 1;
            }
            from_left = !from_left;
        }
        if left.is_empty() {
            left.push(0);
            i = 1;
        }
        if i < j {
            gap_at = Some(left.len());
            right.reverse();
            shown = left.into_iter().chain(right).collect();
        }
    }
    let pick = |r: &[String]| -> Vec<String> {
        let mut v: Vec<String> = shown.iter().map(|&k| r[k].clone()).collect();
        if let Some(g) = gap_at {
            v.insert(g, "…".into());
        }
        v
    };
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    t.set_header(pick(&names));
    for (n, r) in rows.iter().enumerate() {
        if rows_elided && n == head_n {
            t.add_row(pick(&vec!["…".to_string(); names.len()]));
        }
        t.add_row(pick(r));
    }
    let mut notes = Vec::new();
    if rows_elided {
        notes.push(format!("{} of {total} rows shown", head_n + tail_n));
    }
    if gap_at.is_some() {
        notes.push(format!("{} of {} columns shown", shown.len(), names.len()));
    }
    let note = (!notes.is_empty()).then(|| {
        format!(
            "{} (\\maxrows 0 for every row, \\o FILE or \\format csv for everything)",
            notes.join(", ")
        )
    });
    Ok((t.to_string(), note))
}

/// `len` rows of `batches` from row `offset` on, as slices (no copies).
fn slice_rows(batches: &[RecordBatch], mut offset: usize, mut len: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for b in batches {
        if len == 0 {
            break;
        }
        if offset >= b.num_rows() {
            offset -= b.num_rows();
            continue;
        }
        let n = (b.num_rows() - offset).min(len);
        out.push(b.slice(offset, n));
        len -= n;
        offset = 0;
    }
    out
}

/// Rows as arrays of JSON values in column order (nulls explicit), each value's text as Arrow's JSON writer
/// makes it.
fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Box<RawValue>>>> {
    let options = arrow::json::writer::EncoderOptions::default().with_explicit_nulls(true);
    let mut rows = Vec::new();
    let mut buf = Vec::new();
    for b in batches {
        let schema = b.schema();
        let mut encoders = schema
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| arrow::json::writer::make_encoder(f, c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(arrow_err)?;
        for i in 0..b.num_rows() {
            let mut row = Vec::with_capacity(encoders.len());
            for e in &mut encoders {
                buf.clear();
                if e.is_null(i) {
                    buf.extend_from_slice(b"null");
                } else {
                    e.encode(i, &mut buf);
                }
                let text = String::from_utf8(buf.clone())
                    .map_err(|e| Error::internal("rows as JSON", e))?;
                row.push(
                    RawValue::from_string(text).map_err(|e| Error::internal("rows as JSON", e))?,
                );
            }
            rows.push(row);
        }
    }
    Ok(rows)
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
    stats_line_timed(s, units, true)
}

/// [`stats_line`], with the elapsed time left out when `timing` is off (`\timing off` in the shell).
pub fn stats_line_timed(s: &QueryStats, units: Units, timing: bool) -> String {
    let rows = if s.rows == 1 {
        "1 row".to_string()
    } else {
        format!("{} rows", s.rows)
    };
    let secs = s.elapsed_ms as f64 / 1000.0;
    let (took, after) = if timing {
        (format!(" in {secs:.3} s"), format!(" after {secs:.3} s"))
    } else {
        (String::new(), String::new())
    };
    let head = match s.state {
        QueryState::Succeeded => format!("{rows}{took}"),
        QueryState::Failed => format!("FAILED{after}"),
        QueryState::Queued | QueryState::Running => format!("{}{after}", s.state.as_str()),
        QueryState::Cancelled => match &s.state_reason {
            Some(r) => format!("CANCELLED ({r}){after}"),
            None => format!("CANCELLED{after}"),
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

/// Text escaped for an XML attribute or element (JUnit reports, `owl compare`'s SVG); control characters XML 1.0
/// cannot hold are dropped.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn numbers(n: i64, cols: usize) -> (SchemaRef, Vec<RecordBatch>) {
        use arrow::array::{ArrayRef, Int64Array};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(
            (0..cols)
                .map(|c| Field::new(format!("column_{c}"), DataType::Int64, false))
                .collect::<Vec<_>>(),
        ));
        // Two batches, so a cut crosses a batch boundary.
        let half = n / 2;
        let batch = |from: i64, to: i64| {
            let cols: Vec<ArrayRef> = (0..cols)
                .map(|_| Arc::new(Int64Array::from_iter_values(from..to)) as ArrayRef)
                .collect();
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        let batches = vec![batch(0, half), batch(half, n)];
        (schema, batches)
    }

    #[test]
    fn a_fitted_table_shows_first_and_last_rows_and_says_so() {
        let (schema, batches) = numbers(1000, 2);
        let fit = Fit {
            max_rows: Some(6),
            width: None,
        };
        let (text, note) = fitted_table(&schema, &batches, fit).unwrap();
        let firsts: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("│ "))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            firsts,
            ["column_0", "0", "1", "2", "…", "997", "998", "999"]
        );
        assert!(note.unwrap().starts_with("6 of 1000 rows shown"));
        let all = Fit {
            max_rows: Some(1000),
            width: None,
        };
        let (text, note) = fitted_table(&schema, &batches, all).unwrap();
        assert!(note.is_none());
        assert_eq!(text.lines().filter(|l| l.starts_with('│')).count(), 1001);
    }

    #[test]
    fn a_wide_table_keeps_columns_from_both_ends() {
        let (schema, batches) = numbers(3, 30);
        let fit = Fit {
            max_rows: None,
            width: Some(80),
        };
        let (text, note) = fitted_table(&schema, &batches, fit).unwrap();
        for line in text.lines() {
            assert!(unicode_width::UnicodeWidthStr::width(line) <= 80, "{line}");
        }
        let header = text.lines().nth(1).unwrap();
        assert!(header.contains("column_0") && header.contains("column_29"));
        assert!(header.contains('…'));
        let note = note.unwrap();
        assert!(note.contains("of 30 columns shown"), "{note}");
    }

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
