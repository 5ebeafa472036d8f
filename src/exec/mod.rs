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
//! - `find_matches`: [`find_matches::FindMatchesExec`], Glue's FindMatches over a whole input (planned from the
//!   `find_matches` table function, no rule).
//! - `text`: the text functions `tokenize`, `ngrams` and `hashing_tf`, registered in every session (no rule).
//!
//! Layers inside: nodes use `expr`; `expr::keys` (the key-set types) uses nothing of owl's.

pub mod aggregate;
pub mod collect_keys;
pub mod computed_once;
pub mod expr;
pub mod find_matches;
pub mod not_in;
pub mod row_filter_choice;
pub mod text;
