//! `owl estimate "SQL"`: what statements would scan and cost, without reading their data.

use super::run::estimate_line;
use super::{ExitStatus, print_error, status_of};
use crate::engine::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EstimateFormat {
    /// One line per statement.
    Text,
    /// `{"statements": [{"sql", "statement_type", "bytes_scanned", "billed_bytes", "cost_usd", "files",
    /// "read_to_estimate", "columns_read", "columns_total", "partitions", "projected"}]}`.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct EstimateArgs {
    /// The SQL to estimate (several statements separated by `;`); it may start with a `--` comment.
    #[arg(allow_hyphen_values = true)]
    sql: String,
    #[arg(long, short = 'f', value_enum, default_value = "text")]
    format: EstimateFormat,
    /// A value for the placeholder `$name`.
    #[arg(long = "param", value_name = "NAME=VALUE", value_parser = super::run::parse_param)]
    params: Vec<(String, String)>,
}

pub async fn run(engine: &Engine, args: EstimateArgs) -> ExitStatus {
    let statements = match engine.parse(&args.sql) {
        Ok(s) => s,
        Err(e) => {
            print_error(&e);
            return status_of(&e);
        }
    };
    let units = engine.cost_model().units;
    let mut docs = Vec::new();
    for stmt in &statements {
        match engine.estimate(stmt, &args.params).await {
            Ok(e) => {
                if args.format == EstimateFormat::Text {
                    println!("{}", estimate_line(&e, units));
                }
                let mut doc = serde_json::to_value(&e).unwrap_or_default();
                doc["sql"] = serde_json::Value::String(stmt.to_string());
                docs.push(doc);
            }
            Err(e) => {
                print_error(&e);
                return status_of(&e);
            }
        }
    }
    if args.format == EstimateFormat::Json {
        println!("{}", serde_json::json!({ "statements": docs }));
    }
    ExitStatus::Ok
}
