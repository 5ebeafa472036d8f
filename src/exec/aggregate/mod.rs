//! Aggregate functions owl's rules plan in place of DataFusion's.
//!
//! - `count_distinct`: `count(DISTINCT x)` over integers and dates with a bitmap (or a sparse set) a group.
//! - `total_order`: DataFusion's `min` and `max` with float groups in total order (a correction, registered in their
//!   place).

pub mod count_distinct;
pub mod total_order;
