//! `owl workgroup create|list|show|update|delete`: the registry's work groups (Athena's CreateWorkGroup,
//! ListWorkGroups, GetWorkGroup, UpdateWorkGroup, DeleteWorkGroup), for the CLI.

use super::tables::ListFormat;
use super::{ExitStatus, print_error, status_of};
use crate::catalog::workgroups::{State, WorkGroup, WorkGroups};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::output::human_bytes;
use comfy_table::Table;
use comfy_table::presets::UTF8_FULL_CONDENSED;

#[derive(Debug, clap::Args)]
pub struct WorkgroupArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a work group.
    Create(Settings),
    /// Change a work group's state, description or configuration (what is not given stays).
    Update(Settings),
    /// Every work group.
    List {
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// One work group.
    Show {
        name: String,
        #[arg(long, short = 'f', value_enum, default_value = "table")]
        format: ListFormat,
    },
    /// Delete a work group (never `primary`).
    Delete { name: String },
}

#[derive(Debug, clap::Args)]
struct Settings {
    name: String,
    #[arg(long)]
    description: Option<String>,
    /// Cancel a query once it has read more than this (`10MB`, `1GB`, bytes; at least 10 MB), billed the
    /// cutoff; `none` removes it.
    #[arg(long, value_name = "SIZE")]
    bytes_scanned_cutoff: Option<String>,
    /// Where its query results are written.
    #[arg(long, value_name = "LOCATION")]
    output_location: Option<String>,
    /// Its configuration overrides the client's.
    #[arg(long)]
    enforce: Option<bool>,
    #[arg(long, value_parser = parse_state)]
    state: Option<State>,
}

fn parse_state(s: &str) -> std::result::Result<State, String> {
    match s.to_ascii_lowercase().as_str() {
        "enabled" => Ok(State::Enabled),
        "disabled" => Ok(State::Disabled),
        _ => Err(format!("`{s}`: use enabled or disabled")),
    }
}

impl Settings {
    fn apply(&self, wg: &mut WorkGroup) -> Result<()> {
        if let Some(d) = &self.description {
            wg.description = Some(d.clone());
        }
        if let Some(c) = &self.bytes_scanned_cutoff {
            wg.configuration.bytes_scanned_cutoff_per_query = match c.as_str() {
                "none" => None,
                size => Some(crate::batch::parse_size(size).map_err(Error::Query)?),
            };
        }
        if let Some(l) = &self.output_location {
            wg.configuration.output_location = Some(l.clone());
        }
        if let Some(e) = self.enforce {
            wg.configuration.enforce_work_group_configuration = e;
        }
        if let Some(s) = self.state {
            wg.state = s;
        }
        Ok(())
    }
}

pub fn workgroup(engine: &Engine, args: WorkgroupArgs) -> ExitStatus {
    let groups = WorkGroups::new(engine.registry().root());
    let done = match args.action {
        Action::Create(s) => (|| {
            let mut wg = WorkGroup::new(&s.name);
            s.apply(&mut wg)?;
            groups.create(&wg)?;
            eprintln!("created work group `{}`", wg.name);
            Ok(())
        })(),
        Action::Update(s) => (|| {
            let Some(mut wg) = groups.get(&s.name)? else {
                return Err(Error::Query(format!(
                    "work group `{}` is not found",
                    s.name
                )));
            };
            s.apply(&mut wg)?;
            groups.update(&wg)?;
            eprintln!("updated work group `{}`", wg.name);
            Ok(())
        })(),
        Action::List { format } => groups.list().map(|all| print(&all, format)),
        Action::Show { name, format } => groups.get(&name).and_then(|wg| match wg {
            Some(wg) => {
                print(std::slice::from_ref(&wg), format);
                Ok(())
            }
            None => Err(Error::Query(format!("work group `{name}` is not found"))),
        }),
        Action::Delete { name } => groups.delete(&name).map(|()| {
            eprintln!("deleted work group `{name}`");
        }),
    };
    match done {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            print_error(&e);
            status_of(&e)
        }
    }
}

fn print(groups: &[WorkGroup], format: ListFormat) {
    match format {
        ListFormat::Json => match serde_json::to_string(groups) {
            Ok(text) => println!("{text}"),
            Err(e) => print_error(&Error::internal("work groups as JSON", e)),
        },
        ListFormat::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header([
                "name",
                "state",
                "cutoff per query",
                "output location",
                "enforced",
                "description",
            ]);
            for g in groups {
                let c = &g.configuration;
                t.add_row(vec![
                    g.name.clone(),
                    format!("{:?}", g.state).to_uppercase(),
                    c.bytes_scanned_cutoff_per_query
                        .map(|b| human_bytes(b, crate::cost::Units::Decimal))
                        .unwrap_or_else(|| "none".into()),
                    c.output_location.clone().unwrap_or_default(),
                    c.enforce_work_group_configuration.to_string(),
                    g.description.clone().unwrap_or_default(),
                ]);
            }
            println!("{t}");
        }
    }
}
