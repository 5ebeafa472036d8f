//! owl's physical rules (their places and switches: `crate::optimizer`'s list), and the plan walks they share.
//!
//! - `streamed_not_in`: a null-aware anti join becomes `exec::not_in::NotInExec`.
//! - `file_ranges`: `MergeSlivers` (no file opened for a sliver of it) and `BestFilesFirst` (a top-k's files in
//!   the order of their bounds).
//! - `fast_expressions`: string-view equality, batch-checked decimals and in-turn conjunctions
//!   (`exec::expr`) in filters, projections and aggregate arguments.
//! - `dynamic_row_filters`: run-time filters row by row where they pay (`exec::row_filter_choice`), with
//!   `join_key_pruning` (joins' keys to Parquet pruning, `exec::expr::key_hint`), `join_key_bitmaps` (build
//!   sides gathered into bitmaps, `exec::collect_keys`) and `page_index` (page indexes read where they skip).
//! - `nan_pruning`: a correction, always on: no Parquet pruning by conditions on float columns (NaN is outside
//!   Parquet's min/max).
//! - `passthrough`: following a column down through nodes that pass rows on unchanged.

pub mod dynamic_row_filters;
pub mod fast_expressions;
pub mod file_ranges;
pub mod join_key_bitmaps;
pub mod join_key_pruning;
pub mod nan_pruning;
pub mod page_index;
pub mod passthrough;
pub mod streamed_not_in;
