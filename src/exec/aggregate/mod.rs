//! Aggregate functions owl's rules plan in place of DataFusion's.
//!
//! - `count_distinct`: `count(DISTINCT x)` over integers and dates with a bitmap (or a sparse set) a group.

pub mod count_distinct;
