//! `owl compare <table> --query "SQL"...`: the table in several formats, each query on each, one table per query
//! with what it scanned and cost, and a bar chart (terminal, or `--chart out.svg`). See `crate::compare`.

use super::{ExitStatus, print_error, status_of};
use crate::batch::split;
use crate::compare::{Comparison, FORMATS, Unwritable, compare, default_work_dir};
use crate::cost::{QueryState, Units};
use crate::engine::Engine;
use crate::error::Error;
use crate::output::{dollars, human_bytes};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The table to compare (in the current database).
    table: String,
    /// A query over the table, by its name (repeatable).
    #[arg(long = "query", short = 'q', value_name = "SQL")]
    queries: Vec<String>,
    /// A .sql file of queries (repeatable).
    #[arg(long = "sql", value_name = "FILE")]
    sql_files: Vec<PathBuf>,
    /// The formats to compare (csv, csv.gz, ndjson, ndjson.gz, parquet, parquet.zstd, orc, avro). Default: all
    /// of them, leaving out (with a note) those the table's types cannot be written in.
    #[arg(long, value_delimiter = ',')]
    formats: Option<Vec<String>>,
    /// Where the copies are kept (reused while the source is unchanged). Default: `.owl/compare/` beside the
    /// registry folder.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Also draw the bytes scanned as an SVG bar chart.
    #[arg(long, value_name = "FILE.svg")]
    chart: Option<PathBuf>,
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: CompareFormat,
}

pub async fn run(engine: &Engine, args: CompareArgs) -> ExitStatus {
    let mut queries = args.queries.clone();
    for file in &args.sql_files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                crate::cli::print_error(&crate::error::Error::Io {
                    context: format!("cannot read `{}`", file.display()),
                    source: e,
                });
                return ExitStatus::UserError;
            }
        };
        match split::split(&text) {
            Ok(stmts) => queries.extend(stmts.into_iter().map(|s| s.sql)),
            Err(e) => {
                eprintln!("{}:{}: error: {}", file.display(), e.line, e.message);
                return ExitStatus::UserError;
            }
        }
    }
    if queries.is_empty() {
        crate::cli::print_error(&Error::Query(
            "nothing to compare: give --query \"SQL\" or --sql FILE".into(),
        ));
        return ExitStatus::UserError;
    }
    let work = args
        .work_dir
        .clone()
        .unwrap_or_else(|| default_work_dir(engine.registry().root()));
    let (formats, unwritable) = match &args.formats {
        Some(f) => (f.clone(), Unwritable::Fail),
        None => (
            FORMATS.iter().map(|(n, _, _)| n.to_string()).collect(),
            Unwritable::Skip,
        ),
    };
    let c = match compare(engine, &args.table, &formats, &queries, &work, unwritable).await {
        Ok(c) => c,
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    for s in &c.skipped {
        eprintln!("note: left out {}: {}", s.format, s.reason);
    }
    let units = engine.cost_model().units;
    match args.format {
        CompareFormat::Json => match serde_json::to_string(&c) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                print_error(&Error::internal("the comparison as JSON", e));
                return ExitStatus::Internal;
            }
        },
        CompareFormat::Table => print_tables(&c, units),
    }
    if let Some(path) = &args.chart {
        let written = svg_chart(&c)
            .map_err(|e| std::io::Error::other(format!("drawing the chart: {e}")))
            .and_then(|svg| std::fs::write(path, svg));
        if let Err(e) = written {
            crate::cli::print_error(&crate::error::Error::Io {
                context: format!("cannot write `{}`", path.display()),
                source: e,
            });
            return ExitStatus::UserError;
        }
    }
    let mut status = ExitStatus::Ok;
    for (i, q) in c.queries.iter().enumerate() {
        if let Some(r) = q.runs.iter().find(|r| r.state != QueryState::Succeeded) {
            eprintln!(
                "error: query {} failed on {}: {}",
                i + 1,
                r.format,
                r.error.as_deref().unwrap_or("cancelled")
            );
            status = ExitStatus::UserError;
        } else if !q.identical {
            eprintln!(
                "error: query {} returned different rows on {} than on {}: {}",
                i + 1,
                q.differing.join(", "),
                q.runs.first().map_or("", |r| r.format.as_str()),
                q.differences.join("; ")
            );
            status = ExitStatus::UserError;
        }
    }
    status
}

fn print_tables(c: &Comparison, units: Units) {
    let mut copies = Table::new();
    copies.load_preset(UTF8_FULL_CONDENSED);
    copies.set_header(["format", "size", "files", "vs source", ""]);
    for k in &c.copies {
        let share = if c.source_size_bytes > 0 {
            format!(
                "{:.0}%",
                100.0 * k.size_bytes as f64 / c.source_size_bytes as f64
            )
        } else {
            String::new()
        };
        copies.add_row(vec![
            k.format.clone(),
            human_bytes(k.size_bytes, units),
            k.files.to_string(),
            share,
            if k.cached { "reused" } else { "written" }.to_string(),
        ]);
    }
    right_align(&mut copies, &[1, 2, 3]);
    println!(
        "{} ({} as registered)\n{copies}",
        c.table,
        human_bytes(c.source_size_bytes, units)
    );
    let max = c.max_bytes_scanned();
    for (i, q) in c.queries.iter().enumerate() {
        println!("\nquery {}: {}", i + 1, q.sql);
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "format", "scanned", "billed", "cost", "time", "vs csv", "why", "",
        ]);
        for r in &q.runs {
            let vs = r
                .savings_vs_csv_pct
                .map(|p| {
                    if r.format == "csv" {
                        "—".to_string()
                    } else {
                        format!("{:+.1}%", -p)
                    }
                })
                .unwrap_or_default();
            t.add_row(vec![
                r.format.clone(),
                human_bytes(r.bytes_scanned, units),
                human_bytes(r.billed_bytes, units),
                dollars(r.cost_usd),
                format!("{:.3} s", r.elapsed_ms as f64 / 1000.0),
                vs,
                r.why.clone(),
                bar(r.bytes_scanned, max, 24),
            ]);
        }
        right_align(&mut t, &[1, 2, 3, 4, 5]);
        println!("{t}");
        let failed: Vec<&str> = q
            .runs
            .iter()
            .filter(|r| r.state != QueryState::Succeeded)
            .map(|r| r.format.as_str())
            .collect();
        if !failed.is_empty() {
            println!(
                "results: not compared: the query failed on {}",
                failed.join(", ")
            );
        } else if q.identical {
            println!("results: identical across {} formats", q.runs.len());
        } else {
            println!("results: DIFFER ({})", q.differing.join(", "));
        }
    }
}

fn right_align(t: &mut Table, columns: &[usize]) {
    for &i in columns {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
}

/// A bar of `width` cells for `v` of `max`, in eighths.
fn bar(v: u64, max: u64, width: usize) -> String {
    const PARTS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    let eighths = (v as f64 / max as f64 * (width * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PARTS[eighths % 8 - 1]);
    }
    if s.is_empty() && v > 0 {
        s.push('▏');
    }
    s
}

/// An SVG bar chart of bytes scanned per format, one group per query (drawn with plotters).
fn svg_chart(c: &Comparison) -> Result<String, String> {
    use plotters::prelude::*;
    const BAR_H: i32 = 18;
    const LABEL_W: i32 = 120;
    const WIDTH: i32 = 720;
    let runs: usize = c.queries.iter().map(|q| q.runs.len()).sum();
    let height = 30 + c.queries.len() as i32 * 32 + runs as i32 * BAR_H;
    let max = c.max_bytes_scanned().max(1) as f64;
    let blue = RGBColor(0x4e, 0x79, 0xa7);
    let font = || ("sans-serif", 15).into_font();
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (WIDTH as u32, height as u32)).into_drawing_area();
        let mut y = 30 - 12;
        let mut draw = || -> Result<(), DrawingAreaErrorKind<_>> {
            root.draw(&Text::new(
                format!("bytes scanned per format: {}", c.table),
                (4, 4),
                font().style(FontStyle::Bold),
            ))?;
            for (i, q) in c.queries.iter().enumerate() {
                root.draw(&Text::new(
                    format!("query {}: {}", i + 1, q.sql),
                    (4, y),
                    font().style(FontStyle::Bold),
                ))?;
                y += 20;
                for r in &q.runs {
                    let w = ((WIDTH - LABEL_W - 130) as f64 * r.bytes_scanned as f64 / max) as i32;
                    root.draw(&Text::new(r.format.clone(), (4, y + 3), font()))?;
                    root.draw(&Rectangle::new(
                        [(LABEL_W, y), (LABEL_W + w, y + BAR_H - 2)],
                        blue.filled(),
                    ))?;
                    root.draw(&Text::new(
                        crate::output::human_bytes(r.bytes_scanned, crate::cost::Units::Decimal),
                        (LABEL_W + w + 6, y + 3),
                        font(),
                    ))?;
                    y += BAR_H;
                }
                y += 12;
            }
            root.present()
        };
        draw().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::bar;

    #[test]
    fn bars_scale_to_the_largest() {
        assert_eq!(bar(100, 100, 4), "████");
        assert_eq!(bar(50, 100, 4), "██");
        assert_eq!(bar(1, 1000, 4), "▏");
        assert_eq!(bar(0, 1000, 4), "");
    }
}
