//! A join's keys, in a form the Parquet reader can skip row groups and pages with.
//!
//! A hash join's dynamic filter (see `optimizer::physical::dynamic_row_filters`) lists its build side's keys when there
//! are at most 4,096 of them (`config::JOIN_LISTED_KEYS`; DataFusion's default is 150): `k >= lo AND k <= hi AND k IN
//! (...)`, or, when the join is split into hash partitions, `CASE hash(k) % n WHEN 0 THEN <that, for partition 0> WHEN
//! 1 THEN ... ELSE false END`. DataFusion's pruning (row groups by the footer's min/max, pages by the page index)
//! understands neither the CASE nor a list of more than 20 values (`datafusion.execution.parquet.max_in_list_size`, and
//! always 20 for pages), so a scan of a table sorted by the key reads every row group even when the join can use a few
//! of them: TPC-H q18 joins `lineitem` (sorted by `l_orderkey`, 54 row groups) with 57 order keys.
//!
//! owl wraps each dynamic filter of a Parquet scan in a `KeyHint`: evaluated row by row it passes the rows the filter
//! passes (see below); its snapshot (what pruning reads, once the join has built its side) adds what the filter
//! implies, `k = v1 OR k = v2 OR ...` over the union of every partition's keys (a balanced tree of at most
//! `MAX_HINT_KEYS` comparisons; more keys give their bounds, `k >= min AND k <= max`). A row group or page whose
//! min/max holds none of the keys is skipped; the answer is the same (the join would drop its rows). Not for a key the
//! registry finds unclustered: there every row group and page spans the keys, and pruning by hundreds of them cost
//! TPC-H q17 15% for nothing.
//!
//! Evaluated row by row (a scan that applies its run-time filters row by row,
//! `optimizer::physical::dynamic_row_filters`), a filter that lists its keys runs as `k IN (keys)`, where the
//! partitioned form hashes every row, picks its partition's branch and tests bounds and a list. Both pass the same
//! rows: a partition lists exactly the keys its hash routes to it. Integer or date keys whose span is small (`KeyBits`:
//! at most 2^20 values, or 64 a key) are one bit each of a bitmap from the smallest key to the largest, a row one bit
//! test; other keys, one hash-set lookup a row (DataFusion's list). Plans show a list's first 20 keys. `SET
//! owl.join_key_pruning = false` turns both off.

use crate::exec::expr::key_hint::KeyHint;
use crate::exec::expr::keys::BuildKeys;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::DynamicFilterPhysicalExpr;
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_plan::ExecutionPlan;
use std::collections::HashMap;
use std::sync::Arc;
/// The Parquet scan `node` with each dynamic filter of its predicate wrapped in a `KeyHint` (with the keys
/// `collectors` gather for the filter's join, by the filter's id); unchanged when it is not a Parquet scan or
/// has no dynamic filter.
pub fn hint_scan(
    node: Arc<dyn ExecutionPlan>,
    collectors: &HashMap<u64, Arc<BuildKeys>>,
) -> Result<Transformed<Arc<dyn ExecutionPlan>>> {
    let Some((config, parquet, predicate)) = super::filtered_parquet_scan(&node) else {
        return Ok(Transformed::no(node));
    };
    // A key whose every row group spans its range (not clustered, in the registry) gains nothing: each key would
    // match every row group and page.
    let unclustered_columns =
        crate::catalog::provider::unclustered_columns(config).unwrap_or_default();
    let hinted = predicate.transform_down(|e| {
        if e.is::<KeyHint>() {
            return Ok(Transformed::new(e, false, TreeNodeRecursion::Jump));
        }
        if e.is::<DynamicFilterPhysicalExpr>() {
            let prune = collect_columns(&e)
                .iter()
                .any(|c| !unclustered_columns.contains(c.name()));
            let keys = e
                .downcast_ref::<DynamicFilterPhysicalExpr>()
                .and_then(|d| d.expression_id())
                .and_then(|id| collectors.get(&id))
                .cloned();
            let hint = Arc::new(KeyHint::new(e, prune, keys)) as Arc<dyn PhysicalExpr>;
            return Ok(Transformed::new(hint, true, TreeNodeRecursion::Jump));
        }
        Ok(Transformed::no(e))
    })?;
    if !hinted.transformed {
        return Ok(Transformed::no(node));
    }
    Ok(Transformed::yes(super::with_parquet_filter(
        config,
        parquet,
        hinted.data,
    )))
}
