//! `owl crawl <PATH|s3://bucket/prefix>...`: fill the registry from files, as a Glue crawler does.

use super::{ExitStatus, print_error, status_of};
use crate::crawler::{CrawlOptions, CrawlReport, Crawler, OnChange, OnDelete};
use crate::engine::Engine;
use crate::output::human_bytes;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A summary on stderr.
    Text,
    /// The full report as JSON on stdout (and the summary on stderr).
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CrawlArgs {
    /// Local folders or `s3://bucket/prefix`es to crawl.
    #[arg(required = true)]
    paths: Vec<String>,
    /// Skip files matching this glob, relative to the crawled path (`*` within a folder, `**` across).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Make tables at this folder depth (1 = the crawled path itself).
    #[arg(long, value_name = "N")]
    table_level: Option<usize>,
    /// Merge same-format sibling folders into one table whatever their columns.
    #[arg(long)]
    combine_compatible: bool,
    /// Fail, writing nothing, if the crawl would make more tables than this.
    #[arg(long, value_name = "N")]
    max_tables: Option<usize>,
    /// Show what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// A table whose files' schema changed: `update` it (a new version) or `log` the change and leave the
    /// table as it is.
    #[arg(long, value_enum, default_value = "update")]
    on_change: OnChange,
    /// Tables whose files are gone: `deprecate` (property DEPRECATED_BY_CRAWLER), `delete`, or `log`.
    /// Vanished partitions are removed unless `log`.
    #[arg(long, value_enum, default_value = "deprecate")]
    on_delete: OnDelete,
    /// Read only folders the registry does not have yet (Glue's "crawl new sub-folders only"): new
    /// partitions are added with the table's registered schema; known folders are listed, not read.
    #[arg(long)]
    new_folders_only: bool,
    /// A custom grok classifier (Glue's `GrokPattern`), tried before owl's own: files whose lines it matches
    /// become Grok SerDe tables with a column per `%{PATTERN:field[:type]}`.
    #[arg(long, value_name = "PATTERN", requires = "classification")]
    grok: Option<String>,
    /// The classification the `--grok` classifier gives its tables (`mylog`).
    #[arg(long, value_name = "NAME", requires = "grok")]
    classification: Option<String>,
    /// Patterns the `--grok` pattern may use, one `NAME regex` a line (Glue's `CustomPatterns`).
    #[arg(long, value_name = "PATTERNS", requires = "grok")]
    grok_custom_patterns: Option<String>,
    /// Exit 1 when any file was skipped.
    #[arg(long)]
    strict: bool,
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: ReportFormat,
}

pub async fn run(engine: &Engine, args: CrawlArgs) -> ExitStatus {
    let classifiers = match (&args.grok, &args.classification) {
        (Some(pattern), Some(classification)) => {
            let c = crate::crawler::logs::GrokClassifier::new(
                classification,
                pattern,
                args.grok_custom_patterns.as_deref(),
            );
            if let Err(e) = c.check() {
                print_error(&crate::error::Error::Query(e));
                return ExitStatus::UserError;
            }
            vec![c]
        }
        _ => vec![],
    };
    let opts = CrawlOptions {
        classifiers,
        database: engine.database(),
        excludes: args.exclude.clone(),
        table_level: args.table_level,
        combine_compatible: args.combine_compatible,
        max_tables: args.max_tables,
        dry_run: args.dry_run,
        on_change: args.on_change,
        on_delete: args.on_delete,
        new_folders_only: args.new_folders_only,
        ..CrawlOptions::default()
    };
    let total = match crawl_all(engine, &args.paths, &opts).await {
        Ok(t) => t,
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    summary(&total, &args.paths.join(" "));
    if args.format == ReportFormat::Json {
        let mut out = std::io::stdout().lock();
        let text = serde_json::to_string(&total).unwrap_or_default();
        if writeln!(out, "{text}").is_err() {
            return ExitStatus::Internal;
        }
    }
    let found = total
        .tables
        .iter()
        .any(|t| !matches!(t.change, "deprecated" | "deleted" | "vanished"));
    if !found {
        crate::cli::print_error(&crate::error::Error::Query(
            "no table found: no file could be used".into(),
        ));
        return ExitStatus::UserError;
    }
    if args.strict && !total.skipped.is_empty() {
        eprintln!(
            "error: {} files were skipped (--strict)",
            total.skipped.len()
        );
        return ExitStatus::UserError;
    }
    ExitStatus::Ok
}

/// Crawl each path in turn into one report; the first path that cannot be crawled at all stops it.
pub(crate) async fn crawl_all(
    engine: &Engine,
    paths: &[String],
    opts: &CrawlOptions,
) -> crate::error::Result<CrawlReport> {
    let crawler = Crawler::new(engine.registry().clone(), engine.stores());
    let mut total = CrawlReport {
        dry_run: opts.dry_run,
        ..CrawlReport::default()
    };
    for path in paths {
        let r = crawler.crawl(path, opts).await?;
        total.tables.extend(r.tables);
        total.skipped.extend(r.skipped);
        total.files_seen += r.files_seen;
        total.files_read += r.files_read;
        total.bytes_read += r.bytes_read;
        total.elapsed_ms += r.elapsed_ms;
    }
    Ok(total)
}

/// The crawl summary, on stderr.
pub(crate) fn summary(r: &CrawlReport, what: &str) {
    let units = crate::cost::Units::Decimal;
    let verb = if r.dry_run { "dry run of" } else { "crawled" };
    eprintln!(
        "{verb} `{what}` in {:.3} s: {} files seen, {} read ({} read)",
        r.elapsed_ms as f64 / 1000.0,
        r.files_seen,
        r.files_read,
        human_bytes(r.bytes_read, units)
    );
    for t in &r.tables {
        let parts = if t.partitions > 0 || t.partitions_removed > 0 {
            format!(
                ", {} partitions (+{} -{})",
                t.partitions, t.partitions_added, t.partitions_removed
            )
        } else {
            String::new()
        };
        let logged = if t.schema_change_logged {
            " (schema change logged, not applied)"
        } else {
            ""
        };
        eprintln!(
            "  {:<12}{}  {}, {} columns, {} files{parts}{logged}",
            t.change, t.table, t.format, t.columns, t.files
        );
    }
    if !r.skipped.is_empty() {
        eprintln!("skipped {} files:", r.skipped.len());
        for s in &r.skipped {
            eprintln!("  `{}`: {}", s.path, s.reason);
        }
    }
}
