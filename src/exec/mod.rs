//! owl's execution nodes, expressions and aggregates: what owl's optimizer rules (`crate::optimizer`) put into
//! DataFusion's physical plans. Nothing here decides where it is used; each node's rule does.
//!
//! - `not_in`: [`not_in::NotInExec`], `x NOT IN (subquery)` with the subquery's values in a set, the outer rows
//!   streamed (rule: `optimizer::physical::streamed_not_in`).
//! - `collect_keys`: [`collect_keys::CollectKeysExec`], a hash join's build-side keys gathered into a bitmap as
//!   they stream by (rule: `optimizer::physical::join_key_bitmaps`).
//! - `computed_once`: [`computed_once::ComputeSharedExec`], which runs a statement's shared subqueries once
//!   each before the statement, and [`computed_once::ComputedOnceExec`], where the statement reads one (rule:
//!   `optimizer::computed_once`).
//! - `row_filter_choice`: [`row_filter_choice::RowFilterChoiceExec`], a Parquet scan that decides at run time
//!   whether its run-time filters are applied row by row (rule: `optimizer::physical::dynamic_row_filters`).
//! - `expr`: physical expressions: key sets and key hints, in-turn conjunctions, batch-checked decimals,
//!   string-view equality.
//! - `aggregate`: `count(DISTINCT)` with a bitmap a group (rule: `optimizer::logical::bitmap_count_distinct`).
//! - `whole_input`: [`whole_input::WholeInputExec`], a computation that needs its whole input before it answers,
//!   planned from a table function (no rule): `find_matches` (Glue's FindMatches) and `forecast` (ETS and
//!   MSTL forecasts, `augurs`).
//! - `text`: the text functions `tokenize`, `ngrams` and `hashing_tf`, registered in every session (no rule).
//! - `anomaly`: the window functions `random_cut_forest` and `random_cut_forest_with_explanation` (`krcflib`),
//!   registered in every session (no rule).
//! - `hotspots`: the window function `hotspots` (KDA's HOTSPOTS: DBSCAN from `petal-clustering` over a sliding
//!   window), registered in every session (no rule).
//!
//! Layers inside: nodes use `expr`; `expr::keys` (the key-set types) uses nothing of owl's.

pub mod aggregate;
pub mod anomaly;
pub mod collect_keys;
pub mod computed_once;
pub mod expr;
pub mod find_matches;
pub mod forecast;
pub mod give_way;
pub mod hotspots;
pub mod not_in;
pub mod row_filter_choice;
pub mod text;
pub mod whole_input;
