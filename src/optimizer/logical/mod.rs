//! owl's logical rules (their places and switches: `crate::optimizer`'s list).
//!
//! - `join_order`: inner joins re-planned in the order that keeps the rows between them fewest, estimated from
//!   the registry's statistics (and the cardinality estimates `bitmap_count_distinct` reads).
//! - `bitmap_count_distinct`: `count(DISTINCT integer)` of few groups as one aggregate with a bitmap a group
//!   (`exec::aggregate::count_distinct`).
//! - `in_list_nulls`: NULLs taken out of `IN` lists before DataFusion's simplifier merges lists as sets (a
//!   correction, not an optimisation: it always runs, first, and has no switch).
//! - `sort_zeros`: a floating-point sort key's `-0.0` sorted as `0.0`, which SQL calls equal and a top-k's
//!   filter compares as equal (a correction too, right after `in_list_nulls`).

pub mod bitmap_count_distinct;
pub mod cardinality;
pub mod in_list_nulls;
pub mod join_order;
pub mod sort_zeros;
