//! Which partitions a scan reads, and their files: partition filters evaluated against the registry's values,
//! then one listing of each surviving partition's prefix, or of the table's folder when that takes fewer
//! requests. Never cached: a file that appeared since the last query is seen.

use super::{Listed, RegistryTable, ResolvedPartition, unqualify};
use crate::catalog::location::{is_hidden, segments_below};
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::Schema;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore};
use std::sync::Arc;

use crate::catalog::location::join_partition;
use crate::catalog::projection::{MAX_PROJECTED, Projection, Range};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Operator};

/// Whether `e` is the key column (cast or not).
fn is_key(e: &Expr, key: &str) -> bool {
    match e {
        Expr::Column(c) => c.name == key,
        Expr::Cast(c) => is_key(&c.expr, key),
        Expr::TryCast(c) => is_key(&c.expr, key),
        _ => false,
    }
}

/// A literal's text (cast or not).
fn text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(v, _) if !v.is_null() => Some(v.to_string()),
        Expr::Cast(c) => text(&c.expr),
        _ => None,
    }
}

/// The values a key must take for `filters` to hold, where they say (`k = v`, `v = k`, `k IN (...)`, ORs of
/// those; several conjuncts intersect): a superset of the matching values, the filters themselves applied after.
fn equalities(filters: &[Expr], key: &str) -> Option<Vec<String>> {
    fn values(e: &Expr, key: &str) -> Option<Vec<String>> {
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => {
                if is_key(left, key) {
                    text(right).map(|v| vec![v])
                } else if is_key(right, key) {
                    text(left).map(|v| vec![v])
                } else {
                    None
                }
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Or,
                right,
            }) => {
                let mut l = values(left, key)?;
                l.extend(values(right, key)?);
                Some(l)
            }
            Expr::InList(list) if !list.negated && is_key(&list.expr, key) => {
                list.list.iter().map(text).collect()
            }
            _ => None,
        }
    }
    let mut out: Option<Vec<String>> = None;
    for f in filters {
        for c in split_conjunction(f) {
            if let Some(mut v) = values(c, key) {
                v.sort();
                v.dedup();
                out = Some(match out {
                    None => v,
                    Some(prev) => prev.into_iter().filter(|x| v.contains(x)).collect(),
                });
            }
        }
    }
    out
}

/// A key's bounds in `filters`' conjuncts: `k > v`, `k >= v`, `v < k`, ... and `k BETWEEN a AND b`.
fn bounds(filters: &[Expr], key: &str) -> Range {
    let mut range = Range::default();
    for f in filters {
        for c in split_conjunction(f) {
            match c {
                Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                    // As `key op value`.
                    let (op, value) = if is_key(left, key) {
                        (*op, right)
                    } else if is_key(right, key) {
                        match op.swap() {
                            Some(op) => (op, left),
                            None => continue,
                        }
                    } else {
                        continue;
                    };
                    let Some(v) = text(value) else { continue };
                    match op {
                        Operator::Gt | Operator::GtEq => range.lower.push(v),
                        Operator::Lt | Operator::LtEq => range.upper.push(v),
                        _ => {}
                    }
                }
                Expr::Between(b) if !b.negated && is_key(&b.expr, key) => {
                    range.lower.extend(text(&b.low));
                    range.upper.extend(text(&b.high));
                }
                _ => {}
            }
        }
    }
    range
}

impl RegistryTable {
    /// The filters on partition keys alone, unqualified.
    fn key_filters(&self, filters: &[Expr]) -> DfResult<Vec<Expr>> {
        let names: Vec<&str> = self
            .partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .map(|f| unqualify(f.clone()))
            .collect()
    }

    /// Indices of the partitions that survive `filters` (only the filters on partition keys are used).
    pub(super) fn surviving_partitions(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> DfResult<Vec<usize>> {
        let applicable = self.key_filters(filters)?;
        if self.partitions.is_empty() {
            return Ok(vec![]);
        }
        let columns = (0..self.partition_fields.len())
            .map(|i| {
                ScalarValue::iter_to_array(self.partitions.iter().map(|p| p.values[i].clone()))
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        self.matching(state, applicable, columns, self.partitions.len())
    }

    /// The rows (partitions, one value per key in `columns`) where every filter in `applicable` holds.
    fn matching(
        &self,
        state: &dyn Session,
        applicable: Vec<Expr>,
        columns: Vec<ArrayRef>,
        rows: usize,
    ) -> DfResult<Vec<usize>> {
        let Some(predicate) = conjunction(applicable) else {
            return Ok((0..rows).collect());
        };
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let df_schema = DFSchema::try_from(schema)?;
        let physical = state.create_physical_expr(predicate, &df_schema)?;
        let mask = physical.evaluate(&batch)?.into_array(batch.num_rows())?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| DataFusionError::Internal("partition filter is not boolean".into()))?;
        Ok((0..mask.len())
            .filter(|&i| mask.is_valid(i) && mask.value(i))
            .collect())
    }

    /// A projected table's partitions for a query: each key's values from the query's equalities on it (or all
    /// its projected values), combined, kept where the partition filters hold, each at its projected location.
    /// Nothing is listed to find them.
    pub(super) fn projected_partitions(
        &self,
        projection: &Projection,
        state: &dyn Session,
        filters: &[Expr],
    ) -> DfResult<Vec<ResolvedPartition>> {
        let err = |e: crate::error::Error| DataFusionError::Plan(e.to_string());
        let table = format!("{}.{}", self.def.database, self.def.name);
        let applicable = self.key_filters(filters)?;
        let now = crate::catalog::projection::now();
        let mut per_key: Vec<Vec<(String, ScalarValue)>> = Vec::new();
        for (i, field) in self.partition_fields.iter().enumerate() {
            let given = equalities(&applicable, field.name());
            let range = bounds(&applicable, field.name());
            let values = projection
                .values_in(i, given.as_deref(), &range, now, &table)
                .map_err(err)?;
            let typed = values
                .into_iter()
                .map(|v| {
                    let s =
                        super::table::partition_value(&self.def.name, field, &v).map_err(err)?;
                    Ok((v, s))
                })
                .collect::<DfResult<Vec<_>>>()?;
            per_key.push(typed);
        }
        let total = per_key
            .iter()
            .try_fold(1usize, |n, v| n.checked_mul(v.len()))
            .filter(|&n| n <= MAX_PROJECTED)
            .ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "table `{table}`: the query projects more than {MAX_PROJECTED} partitions: filter its partition keys ({})",
                    projection.describe()
                ))
            })?;
        // Every combination, the first key slowest.
        let combination = |mut row: usize| {
            let mut picks = vec![0; per_key.len()];
            for (k, values) in per_key.iter().enumerate().rev() {
                picks[k] = row % values.len();
                row /= values.len();
            }
            picks
        };
        if total == 0 {
            return Ok(vec![]);
        }
        let columns = per_key
            .iter()
            .enumerate()
            .map(|(k, values)| {
                ScalarValue::iter_to_array(
                    (0..total).map(|row| values[combination(row)[k]].1.clone()),
                )
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
        let kept = self.matching(state, applicable, columns, total)?;
        kept.into_iter()
            .map(|row| {
                let picks = combination(row);
                let texts: Vec<String> = picks
                    .iter()
                    .enumerate()
                    .map(|(k, &j)| per_key[k][j].0.clone())
                    .collect();
                let location = projection.location(&texts, &table).map_err(err)?;
                let url = join_partition(&self.table_url, &location, std::path::Path::new("/"))
                    .map_err(err)?;
                if url.scheme() != self.table_url.scheme()
                    || url.authority() != self.table_url.authority()
                {
                    return Err(DataFusionError::Plan(format!(
                        "table `{table}`: projected location `{location}` is outside the table's store"
                    )));
                }
                Ok(ResolvedPartition {
                    prefix: super::object_prefix(&url)?,
                    values: picks
                        .iter()
                        .enumerate()
                        .map(|(k, &j)| per_key[k][j].1.clone())
                        .collect(),
                    index: None,
                })
            })
            .collect()
    }

    /// Whether to list the table's folder once rather than each surviving partition's: a query over several
    /// partitions of a table whose partitions all lie in its folder, and
    /// - in S3 (any remote store), when that takes fewer LIST requests (1,000 keys each). The registry's object
    ///   count says how many keys that listing walks (owl lists on every query, so a file added since the crawl
    ///   is still found either way);
    /// - on local disk, where a listing costs no request but a walk of every folder below it, when most
    ///   partitions survive: one walk of the table's folder then visits less than twice the folders needed.
    pub(super) fn list_once(&self, targets: &[ResolvedPartition]) -> bool {
        // A projected table's folder may hold years of partitions the query does not read (`list_common`).
        if self.projection.is_some() {
            return false;
        }
        let inside = targets.len() >= 2
            && targets.iter().all(|p| {
                p.prefix.prefix_matches(&self.table_prefix) && p.prefix != self.table_prefix
            });
        if !inside {
            return false;
        }
        if self.store_url.as_str().starts_with("file:") {
            return targets.len() * 2 > self.partitions.len();
        }
        let objects = self
            .def
            .stats
            .object_count
            .unwrap_or(self.partitions.len() as u64);
        objects.div_ceil(1000) < targets.len() as u64
    }

    /// One listing of the table's folder, each file given to the surviving partition whose folder holds it;
    /// the rest (pruned partitions, files outside any partition) dropped. The same files as one listing per
    /// partition.
    pub(super) async fn list_table(
        &self,
        store: Arc<dyn ObjectStore>,
        targets: Vec<ResolvedPartition>,
    ) -> DfResult<Vec<Listed>> {
        let under = self.table_prefix.clone();
        match self.list_under(store, &under, targets, None).await? {
            Ok(listed) => Ok(listed),
            Err(_) => Err(DataFusionError::Internal(
                "a listing without a budget gave up".into(),
            )),
        }
    }

    /// A projected table's partitions (two or more), by one listing of the deepest folder that holds them all
    /// (`2024/06/` for the hours of a June) where that folder lies in the table's, while that walks fewer keys than one listing per partition takes
    /// requests (1,000 keys a LIST): `Ok((folder, listed))`; past that budget the listing stops and the partitions come
    /// back (`Err`) to be listed one by one: at worst N - 1 LISTs more than the N prefixes' own.
    /// `owl.projection_list_common = false` lists each projected prefix.
    pub(super) async fn list_common(
        &self,
        store: Arc<dyn ObjectStore>,
        targets: Vec<ResolvedPartition>,
    ) -> DfResult<Result<(ObjectPath, Vec<Listed>), Vec<ResolvedPartition>>> {
        if targets.len() < 2 {
            return Ok(Err(targets));
        }
        let first = &targets[0].prefix;
        let mut common = first.parts().count();
        for t in &targets[1..] {
            common = common.min(
                first
                    .parts()
                    .zip(t.prefix.parts())
                    .take_while(|(a, b)| a == b)
                    .count(),
            );
        }
        let under = ObjectPath::from_iter(first.parts().take(common));
        // Only within the table's own folder (checked against the server's roots): a template's prefixes may
        // share no more than a bucket, or a folder above those roots.
        if !under.prefix_matches(&self.table_prefix) {
            return Ok(Err(targets));
        }
        let budget = 1000 * (targets.len() as u64 - 1);
        Ok(self
            .list_under(store, &under, targets, Some(budget))
            .await?
            .map(|listed| (under, listed)))
    }

    /// The files under `under`, each given to the deepest of `targets` whose folder holds it; `Err(targets)`
    /// once `budget` keys were walked (`budget` pages of a thousand at most).
    async fn list_under(
        &self,
        store: Arc<dyn ObjectStore>,
        under: &ObjectPath,
        targets: Vec<ResolvedPartition>,
        budget: Option<u64>,
    ) -> DfResult<Result<Vec<Listed>, Vec<ResolvedPartition>>> {
        let index: std::collections::HashMap<String, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, p)| (p.prefix.to_string(), i))
            .collect();
        let root_depth = under.parts().count();
        let mut out: Vec<Listed> = targets
            .into_iter()
            .map(|p| Listed {
                files: Vec::new(),
                partition: p,
            })
            .collect();
        let mut walked = 0u64;
        let mut listing = store.list(Some(under));
        while let Some(m) = listing.try_next().await? {
            // The budget's last key ends its last page: going on would ask for another.
            walked += 1;
            if budget.is_some_and(|b| walked >= b) {
                return Ok(Err(out.into_iter().map(|l| l.partition).collect()));
            }
            let parts: Vec<_> = m.location.parts().collect();
            // The deepest folder above the file that is a surviving partition.
            let found = (root_depth + 1..parts.len()).rev().find_map(|depth| {
                let folder = ObjectPath::from_iter(parts[..depth].iter().cloned());
                index.get(folder.as_ref()).map(|&i| (i, depth))
            });
            if let Some((i, depth)) = found
                && m.size > 0
                && !self.excluded.contains(&m.location)
                && !is_hidden(&segments_below(&m.location, depth))
            {
                out[i].files.push(m);
            }
        }
        Ok(Ok(out))
    }

    /// List the files under one prefix: hidden names (`_x`, `.x`, anywhere below the prefix) and empty objects
    /// are skipped, as Athena does.
    pub(super) async fn list_prefix(
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        excluded: Arc<std::collections::HashSet<ObjectPath>>,
    ) -> DfResult<Vec<ObjectMeta>> {
        let metas: Vec<ObjectMeta> = store.list(Some(&prefix)).try_collect().await?;
        let depth = prefix.parts().count();
        Ok(metas
            .into_iter()
            .filter(|m| {
                m.size > 0
                    && !excluded.contains(&m.location)
                    && !is_hidden(&segments_below(&m.location, depth))
            })
            .collect())
    }
}
