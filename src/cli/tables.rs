//! `owl tables [db]`, `owl describe <table>`, `owl versions <table>`: the registry, read for people (or JSON).

use super::{ExitStatus, print_error, status_of};
use crate::catalog::model::{Column, TableDef, TableVersion};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::output::human_bytes;
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct TablesArgs {
    /// The database (default: the current one).
    database: Option<String>,
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: ListFormat,
}

#[derive(Debug, clap::Args)]
pub struct TableArgs {
    /// `table` or `database.table`.
    table: String,
    #[arg(long, short = 'f', value_enum, default_value = "table")]
    format: ListFormat,
}

fn emit(format: ListFormat, table: Table, json: Value) -> ExitStatus {
    match format {
        ListFormat::Table => println!("{table}"),
        ListFormat::Json => println!("{json}"),
    }
    ExitStatus::Ok
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(header.iter().copied());
    t
}

fn format_of(def: &TableDef) -> String {
    let f = &def.format;
    match f.compression {
        crate::catalog::model::Compression::None => f.classification.as_str().into(),
        c => format!("{} ({})", f.classification.as_str(), c.as_str()),
    }
}

fn load(engine: &Engine, name: &str) -> Result<TableDef> {
    let (db, table) = match name.split_once('.') {
        Some((db, t)) => (db.to_string(), t.to_string()),
        None => (engine.database(), name.to_string()),
    };
    engine.registry().load_table(&db, &table)
}

fn finish(r: Result<ExitStatus>) -> ExitStatus {
    r.unwrap_or_else(|e| {
        print_error(&e);
        status_of(&e)
    })
}

pub fn tables(engine: &Engine, args: TablesArgs) -> ExitStatus {
    finish(tables_view(engine, args.database).map(|(t, json)| emit(args.format, t, json)))
}

/// The tables of `db` (default: the current database), for people and as JSON.
pub(crate) fn tables_view(engine: &Engine, db: Option<String>) -> Result<(Table, Value)> {
    let db = db.unwrap_or_else(|| engine.database());
    let reg = engine.registry();
    if !reg.database_exists(&db) {
        return Err(Error::DatabaseNotFound(db));
    }
    let mut t = new_table(&[
        "table",
        "format",
        "columns",
        "partitions",
        "files",
        "size",
        "version",
        "location",
    ]);
    let mut rows = Vec::new();
    for name in reg.table_names(&db)? {
        match reg.load_table(&db, &name) {
            Ok(def) => {
                let size = def
                    .stats
                    .size_bytes
                    .map(|b| human_bytes(b, crate::cost::Units::Decimal));
                t.add_row(vec![
                    name.clone(),
                    format_of(&def),
                    def.columns.len().to_string(),
                    def.partitions.len().to_string(),
                    def.stats
                        .object_count
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                    size.unwrap_or_default(),
                    def.version_id.clone(),
                    def.location.clone(),
                ]);
                rows.push(json!({"table": name, "format": format_of(&def), "columns": def.columns.len(),
                    "partitions": def.partitions.len(), "files": def.stats.object_count,
                    "size_bytes": def.stats.size_bytes, "version_id": def.version_id, "location": def.location}));
            }
            // One broken file does not hide the others: it is listed with its error.
            Err(e) => {
                t.add_row(vec![name.clone(), format!("error: {e}")]);
                rows.push(json!({"table": name, "error": e.to_string()}));
            }
        }
    }
    Ok((t, json!({"database": db, "tables": rows})))
}

pub fn describe(engine: &Engine, args: TableArgs) -> ExitStatus {
    finish(describe_view(engine, &args.table).map(|(t, json)| emit(args.format, t, json)))
}

/// One table (`table` or `db.table`), for people and as JSON.
pub(crate) fn describe_view(engine: &Engine, name: &str) -> Result<(Table, Value)> {
    let def = load(engine, name)?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let cols = |cs: &[Column]| {
        cs.iter()
            .map(|c| format!("{} {}", c.name, c.ty))
            .collect::<Vec<_>>()
            .join("\n")
    };
    t.add_row(vec![
        "table".to_string(),
        format!("{}.{}", def.database, def.name),
    ]);
    t.add_row(vec!["location".to_string(), def.location.clone()]);
    t.add_row(vec!["format".to_string(), format_of(&def)]);
    // Data columns with their statistics, where the registry has them: `l_orderkey bigint  1 .. 6000000, 0 nulls`.
    let with_stats = def
        .columns
        .iter()
        .map(|c| {
            let s = def.stats.columns.get(&c.name);
            let range = s.and_then(|s| Some(format!("{} .. {}", s.min.as_ref()?, s.max.as_ref()?)));
            let nulls = s.and_then(|s| s.nulls).map(|n| format!("{n} nulls"));
            let distinct = s.and_then(|s| s.distinct).map(|n| format!("{n} distinct"));
            let facts: Vec<String> = [range, nulls, distinct].into_iter().flatten().collect();
            match facts.is_empty() {
                true => format!("{} {}", c.name, c.ty),
                false => format!("{} {}  {}", c.name, c.ty, facts.join(", ")),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    t.add_row(vec!["columns".to_string(), with_stats]);
    t.add_row(vec![
        "partition keys".to_string(),
        cols(&def.partition_keys),
    ]);
    t.add_row(vec![
        "partitions".to_string(),
        def.partitions.len().to_string(),
    ]);
    if let Some(n) = def.stats.record_count {
        t.add_row(vec!["records".to_string(), n.to_string()]);
    }
    let props = def
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("\n");
    t.add_row(vec!["properties".to_string(), props]);
    t.add_row(vec![
        "version".to_string(),
        format!("{} of {}", def.version_id, def.versions.len()),
    ]);
    if !def.excluded_files.is_empty() {
        t.add_row(vec![
            "excluded files".to_string(),
            def.excluded_files.join("\n"),
        ]);
    }
    let json = serde_json::to_value(&def).map_err(|e| Error::internal("the table as JSON", e))?;
    Ok((t, json))
}

/// What changed from one version to the next, in words: `added x bigint`, `y: int -> bigint`, `removed z`.
pub fn changes(prev: Option<&TableVersion>, v: &TableVersion) -> Vec<String> {
    let Some(prev) = prev else {
        return vec!["created".into()];
    };
    let mut out = Vec::new();
    for (label, get) in [
        (
            "",
            (|t: &TableVersion| &t.columns) as fn(&TableVersion) -> &Vec<Column>,
        ),
        ("partition key ", |t: &TableVersion| &t.partition_keys),
    ] {
        let (old, new) = (get(prev), get(v));
        for c in new {
            match old.iter().find(|o| o.name == c.name) {
                None => out.push(format!("added {label}{} {}", c.name, c.ty)),
                Some(o) if o.ty != c.ty => {
                    out.push(format!("{label}{}: {} -> {}", c.name, o.ty, c.ty))
                }
                _ => {}
            }
        }
        for o in old {
            if !new.iter().any(|c| c.name == o.name) {
                out.push(format!("removed {label}{}", o.name));
            }
        }
    }
    if prev.format != v.format {
        out.push("format changed".into());
    }
    if prev.location != v.location {
        out.push(format!("location {} -> {}", prev.location, v.location));
    }
    out
}

pub fn versions(engine: &Engine, args: TableArgs) -> ExitStatus {
    finish((|| {
        let def = load(engine, &args.table)?;
        let mut t = new_table(&["version", "columns", "partition keys", "changes"]);
        let mut rows = Vec::new();
        for (i, v) in def.versions.iter().enumerate() {
            let what = changes(i.checked_sub(1).map(|p| &def.versions[p]), v);
            t.add_row(vec![
                v.version_id.clone(),
                v.columns.len().to_string(),
                v.partition_keys.len().to_string(),
                what.join("; "),
            ]);
            rows.push(json!({"version_id": v.version_id, "columns": v.columns, "partition_keys": v.partition_keys, "changes": what}));
        }
        Ok(emit(
            args.format,
            t,
            json!({"table": format!("{}.{}", def.database, def.name), "versions": rows}),
        ))
    })())
}
