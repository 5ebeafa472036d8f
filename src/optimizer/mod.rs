//! The optimizer room: every owl rule, where it runs among DataFusion's, and the `owl.*` switch that turns
//! it off, in one list ([`RULES`]). The session gets its rules from here ([`logical_rules`],
//! [`physical_rules`]) and nowhere else; a test holds the plan's real order to this list and runs each
//! switch on and off.
//!
//! - `logical/`: rules over DataFusion's logical plans (join order, `count(DISTINCT)` with bitmaps).
//! - `physical/`: rules over physical plans (NOT IN streamed, run-time row filters and key pruning, file
//!   ranges, faster expressions), with their plan-walking helpers (`passthrough`, `page_index`).
//!
//! The nodes and expressions the rules put in plans live in `crate::exec`; the rules decide where.
//!
//! Two logical rules are no optimisation and have no switch ([`CORRECTIONS`]), first of all:
//! `owl_in_list_nulls` (`logical::in_list_nulls`) takes the NULLs out of `IN` lists before DataFusion's
//! simplifier merges lists as sets and loses them, and `owl_sort_zeros` (`logical::sort_zeros`) sorts a float
//! key with its two zeros as one, so that a top-k's filter and its heap agree. Nor is one physical rule
//! ([`PHYSICAL_CORRECTIONS`]), right after DataFusion's: `owl_nan_safe_pruning` (`physical::nan_pruning`) keeps
//! Parquet's min/max, which leave NaN out, from pruning by conditions on float columns.
//!
//! | rule (as plans name it)        | phase    | runs                         | `owl.*` switches |
//! |--------------------------------|----------|------------------------------|------------------|
//! | `owl_computed_once`            | logical  | first of all                 | `materialize_ctes` |
//! | `owl_computed_once_first`      | physical | first of all                 | `materialize_ctes` |
//! | `owl_bitmap_count_distinct`    | logical  | after `push_down_filter`     | `bitmap_count_distinct` |
//! | `owl_join_order`               | logical  | after the rule above         | `join_reordering` |
//! | `owl_streamed_not_in`          | physical | after `join_selection`       | `streamed_not_in` |
//! | `owl_merge_slivers`            | physical | after every DataFusion rule  | `merge_slivers` |
//! | `owl_best_files_first`         | physical | next                         | `best_files_first` |
//! | `owl_fast_expressions`         | physical | next                         | `string_view_equality`, `decimal_batch_checks`, `filter_conjunctions` |
//! | `owl_dynamic_row_filters`      | physical | last of all                  | `dynamic_row_filters`, `join_key_pruning`, `join_key_bitmaps`, `clustered_page_index` |
//!
//! Four switches are not rules but what a table's scan picks: the readers `csv_fast_path` (`formats::csv`) and
//! `ndjson_fast_path` (`formats::ndjson`), the listing of projected partitions `projection_list_common`
//! (`catalog::provider::listing`), and the registry's bounds on a partition's files `partition_bounds`
//! (`catalog::provider::statistics`); [`READER_SWITCHES`] lists them.
//!
//! Why `owl_dynamic_row_filters` is last: it notes which join produces each scan's run-time filter, and wraps
//! Parquet scans in a node that stands in for `DataSourceExec`; a rule after it that rebuilt a join (as
//! `owl_fast_expressions` does the nodes above a filter it rewrites) would leave the scan waiting on a join the
//! query never runs.

pub(crate) mod computed_once;
pub(crate) mod logical;
pub(crate) mod physical;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{ApplyOrder, Optimizer, OptimizerConfig, OptimizerRule};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// A logical rule as the session holds it.
pub type LogicalRule = Arc<dyn OptimizerRule + Send + Sync>;
/// A physical rule as the session holds it.
pub type PhysicalRule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

/// Where an owl rule runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Before every DataFusion rule.
    First,
    /// Right after the named DataFusion rule, or after the owl rule listed before it with the same anchor.
    After(&'static str),
    /// After every DataFusion rule, in the list's order.
    Last,
}

/// How a rule is made.
#[derive(Clone, Copy)]
pub enum Make {
    Logical(fn() -> LogicalRule),
    Physical(fn() -> PhysicalRule),
}

/// One of owl's rules.
#[derive(Clone, Copy)]
pub struct Rule {
    /// Its name, as `EXPLAIN VERBOSE` and DataFusion's rule lists show it.
    pub name: &'static str,
    pub place: Place,
    /// The `owl.*` settings (without the prefix) that turn it, or one of its parts, off.
    pub switches: &'static [&'static str],
    pub make: Make,
}

/// Every owl rule, in the order it runs (see the module's table).
pub const RULES: [Rule; 9] = [
    Rule {
        name: "owl_computed_once",
        place: Place::First,
        switches: &["materialize_ctes"],
        make: Make::Logical(|| Arc::new(computed_once::ComputedOnce)),
    },
    Rule {
        name: "owl_computed_once_first",
        place: Place::First,
        switches: &["materialize_ctes"],
        make: Make::Physical(|| Arc::new(computed_once::SharedBeforeSubqueries)),
    },
    Rule {
        name: "owl_bitmap_count_distinct",
        place: Place::After("push_down_filter"),
        switches: &["bitmap_count_distinct"],
        make: Make::Logical(|| Arc::new(logical::bitmap_count_distinct::BitmapCountDistinct)),
    },
    Rule {
        name: "owl_join_order",
        place: Place::After("push_down_filter"),
        switches: &["join_reordering"],
        make: Make::Logical(|| Arc::new(logical::join_order::JoinOrder)),
    },
    Rule {
        name: "owl_streamed_not_in",
        place: Place::After("join_selection"),
        switches: &["streamed_not_in"],
        make: Make::Physical(|| Arc::new(physical::streamed_not_in::StreamedNotIn)),
    },
    Rule {
        name: "owl_merge_slivers",
        place: Place::Last,
        switches: &["merge_slivers"],
        make: Make::Physical(|| Arc::new(physical::file_ranges::MergeSlivers)),
    },
    Rule {
        name: "owl_best_files_first",
        place: Place::Last,
        switches: &["best_files_first"],
        make: Make::Physical(|| Arc::new(physical::file_ranges::BestFilesFirst)),
    },
    Rule {
        name: "owl_fast_expressions",
        place: Place::Last,
        switches: &[
            "string_view_equality",
            "decimal_batch_checks",
            "filter_conjunctions",
        ],
        make: Make::Physical(|| Arc::new(physical::fast_expressions::FastExpressions)),
    },
    Rule {
        name: "owl_dynamic_row_filters",
        place: Place::Last,
        switches: &[
            "dynamic_row_filters",
            "join_key_pruning",
            "join_key_bitmaps",
            "clustered_page_index",
        ],
        make: Make::Physical(|| Arc::new(physical::dynamic_row_filters::DynamicRowFilters)),
    },
];

/// The `owl.*` switches that pick a reader rather than a rule, with the module that reads them.
pub const READER_SWITCHES: [(&str, &str); 7] = [
    ("csv_fast_path", "formats::csv"),
    ("ndjson_fast_path", "formats::ndjson"),
    ("projection_list_common", "catalog::provider::listing"),
    ("partition_bounds", "catalog::provider::statistics"),
    ("remote_streams", "catalog::provider::table"),
    ("remote_exact_ranges", "storage::meter::store"),
    ("footer_hints", "catalog::provider::table"),
];

/// DataFusion's logical rules with owl's placed as [`RULES`] says, each run only while one of its switches is on.
pub fn logical_rules() -> Vec<LogicalRule> {
    let owl = RULES.iter().filter_map(|r| match r.make {
        Make::Logical(make) => Some((r, make())),
        _ => None,
    });
    let owl = owl.map(switched).map(|(at, r)| (at, r as LogicalRule));
    let mut rules = place(Optimizer::new().rules, owl, |r| r.name());
    // Corrections, not optimisations: before anything simplifies an expression, always.
    rules.insert(0, Arc::new(logical::sort_zeros::SortZeros));
    rules.insert(0, Arc::new(logical::in_list_nulls::InListNulls));
    rules
}

/// owl's logical rules that correct DataFusion rather than speed it up: first of all, always, no switch.
pub const CORRECTIONS: [&str; 2] = ["owl_in_list_nulls", "owl_sort_zeros"];

/// DataFusion's physical rules with owl's placed as [`RULES`] says, each run only while one of its switches is on.
pub fn physical_rules() -> Vec<PhysicalRule> {
    let owl = RULES.iter().filter_map(|r| match r.make {
        Make::Physical(make) => Some((r, make())),
        _ => None,
    });
    let owl = owl.map(switched).map(|(at, r)| (at, r as PhysicalRule));
    let mut rules = PhysicalOptimizer::new().rules;
    // A correction, not an optimisation: after DataFusion has pushed every filter into the scans (its own and
    // the run-time ones), before owl's rules that run last; always.
    rules.push(Arc::new(physical::nan_pruning::NanSafePruning));
    place(rules, owl, |r| r.name())
}

/// owl's physical rules that correct DataFusion: after DataFusion's, always, no switch.
pub const PHYSICAL_CORRECTIONS: [&str; 1] = ["owl_nan_safe_pruning"];

/// DataFusion's physical planner with the planner of owl's logical nodes (`computed_once`'s).
pub fn query_planner() -> Arc<dyn datafusion::execution::context::QueryPlanner + Send + Sync> {
    Arc::new(computed_once::OwlQueryPlanner)
}

/// A made rule behind its switches, at its place.
fn switched<R: ?Sized>((rule, made): (&Rule, Arc<R>)) -> (Place, Arc<Switched<R>>) {
    let switched = Switched {
        rule: made,
        switches: rule.switches,
    };
    (rule.place, Arc::new(switched))
}

/// An owl rule as the session holds it: skipped while every one of its switches is off (a rule of several
/// switches checks each for its own part).
#[derive(Debug)]
struct Switched<R: ?Sized> {
    rule: Arc<R>,
    switches: &'static [&'static str],
}

fn any_on(config: &ConfigOptions, switches: &[&str]) -> bool {
    let options = crate::config::options::of_config(config);
    switches.iter().any(|s| options.is_on(s))
}

impl PhysicalOptimizerRule for Switched<dyn PhysicalOptimizerRule + Send + Sync> {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        config: &ConfigOptions,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        if !any_on(config, self.switches) {
            return Ok(plan);
        }
        self.rule.optimize(plan, config)
    }

    fn name(&self) -> &str {
        self.rule.name()
    }

    fn schema_check(&self) -> bool {
        self.rule.schema_check()
    }
}

impl OptimizerRule for Switched<dyn OptimizerRule + Send + Sync> {
    fn name(&self) -> &str {
        self.rule.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.rule.apply_order()
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        config: &dyn OptimizerConfig,
    ) -> datafusion::error::Result<Transformed<LogicalPlan>> {
        if !any_on(&config.options(), self.switches) {
            return Ok(Transformed::no(plan));
        }
        self.rule.rewrite(plan, config)
    }
}

/// `rules` (DataFusion's) with each of `owl` put at its place, in the order given: right after its anchor and
/// after the owl rules already put there; at the end for [`Place::Last`] (and for an anchor a DataFusion release
/// renamed, so that a rule is never dropped).
fn place<R: ?Sized>(
    mut rules: Vec<Arc<R>>,
    owl: impl Iterator<Item = (Place, Arc<R>)>,
    name: impl Fn(&R) -> &str,
) -> Vec<Arc<R>> {
    let mut placed: Vec<(&'static str, usize)> = Vec::new();
    let mut first = 0;
    for (at, rule) in owl {
        if at == Place::First {
            rules.insert(first, rule);
            first += 1;
            continue;
        }
        let anchor = match at {
            Place::After(anchor) => rules.iter().position(|r| name(r) == anchor).map(|i| {
                let after = placed.iter().filter(|(a, _)| *a == anchor).count();
                placed.push((anchor, i));
                i + 1 + after
            }),
            Place::Last | Place::First => None,
        };
        match anchor {
            Some(i) => rules.insert(i, rule),
            None => rules.push(rule),
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_switch_is_listed() {
        // A switch may turn off a rule's logical and physical halves; not two rules of one phase.
        for phase in ["logical", "physical"] {
            let mut listed: Vec<&str> = RULES
                .iter()
                .filter(|r| match r.make {
                    Make::Logical(_) => phase == "logical",
                    Make::Physical(_) => phase == "physical",
                })
                .flat_map(|r| r.switches.iter().copied())
                .collect();
            listed.sort();
            let before = listed.len();
            listed.dedup();
            assert_eq!(
                before,
                listed.len(),
                "a switch listed twice in the {phase} rules"
            );
        }
        let mut listed: Vec<&str> = RULES
            .iter()
            .flat_map(|r| r.switches.iter().copied())
            .chain(READER_SWITCHES.iter().map(|(s, _)| *s))
            .collect();
        listed.sort();
        listed.dedup();
        let mut settings: Vec<String> = crate::config::options::names();
        settings.sort();
        assert_eq!(listed, settings);
    }

    #[test]
    fn rules_run_in_the_listed_order() {
        let logical: Vec<String> = logical_rules().iter().map(|r| r.name().into()).collect();
        assert_eq!(
            logical[..CORRECTIONS.len()],
            CORRECTIONS,
            "corrections run first"
        );
        let physical: Vec<String> = physical_rules().iter().map(|r| r.name().into()).collect();
        for (names, phase) in [(&logical, "logical"), (&physical, "physical")] {
            let ours: Vec<&str> = RULES
                .iter()
                .filter(|r| match r.make {
                    Make::Logical(_) => phase == "logical",
                    Make::Physical(_) => phase == "physical",
                })
                .map(|r| r.name)
                .collect();
            let seen: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .filter(|n| {
                    n.starts_with("owl_")
                        && !CORRECTIONS.contains(n)
                        && !PHYSICAL_CORRECTIONS.contains(n)
                })
                .collect();
            assert_eq!(seen, ours, "{phase} rules");
            for rule in RULES.iter().filter(|r| ours.contains(&r.name)) {
                let at = names.iter().position(|n| n == rule.name).unwrap();
                match rule.place {
                    Place::After(anchor) => {
                        let from = names.iter().position(|n| n == anchor).unwrap();
                        assert!(
                            names[from + 1..at].iter().all(|n| n.starts_with("owl_")),
                            "{} runs right after {anchor} (and owl's rules placed there before it)",
                            rule.name
                        );
                    }
                    Place::Last => assert!(
                        names[at..].iter().all(|n| n.starts_with("owl_")),
                        "{} runs after every DataFusion rule",
                        rule.name
                    ),
                    Place::First => assert!(
                        names[..at].iter().all(|n| n.starts_with("owl_")),
                        "{} runs before every DataFusion rule",
                        rule.name
                    ),
                }
            }
        }
        assert_eq!(
            physical.last().map(String::as_str),
            Some("owl_dynamic_row_filters"),
            "the rule that wraps scans in RowFilterChoiceExec runs last of all"
        );
    }
}
