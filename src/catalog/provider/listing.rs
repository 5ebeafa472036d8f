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
impl RegistryTable {
    /// Indices of the partitions that survive `filters` (only the filters on partition keys are used).
    pub(super) fn surviving_partitions(
        &self,
        state: &dyn Session,
        filters: &[Expr],
    ) -> DfResult<Vec<usize>> {
        let names: Vec<&str> = self
            .partition_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let applicable: Vec<Expr> = filters
            .iter()
            .filter(|f| expr_applicable_for_cols(&names, f))
            .map(|f| unqualify(f.clone()))
            .collect::<DfResult<_>>()?;
        let all = (0..self.partitions.len()).collect();
        let Some(predicate) = conjunction(applicable) else {
            return Ok(all);
        };
        if self.partitions.is_empty() {
            return Ok(all);
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns = (0..self.partition_fields.len())
            .map(|i| {
                ScalarValue::iter_to_array(self.partitions.iter().map(|p| p.values[i].clone()))
            })
            .collect::<DfResult<Vec<ArrayRef>>>()?;
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

    /// Whether to list the table's folder once rather than each surviving partition's: a query over several
    /// partitions of a table whose partitions all lie in its folder, and
    /// - in S3 (any remote store), when that takes fewer LIST requests (1,000 keys each). The registry's object
    ///   count says how many keys that listing walks (owl lists on every query, so a file added since the crawl
    ///   is still found either way);
    /// - on local disk, where a listing costs no request but a walk of every folder below it, when most
    ///   partitions survive: one walk of the table's folder then visits less than twice the folders needed.
    pub(super) fn list_once(&self, targets: &[ResolvedPartition]) -> bool {
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
        let index: std::collections::HashMap<String, usize> = targets
            .iter()
            .enumerate()
            .map(|(i, p)| (p.prefix.to_string(), i))
            .collect();
        let root_depth = self.table_prefix.parts().count();
        let mut out: Vec<Listed> = targets
            .into_iter()
            .map(|p| Listed {
                files: Vec::new(),
                partition: p,
            })
            .collect();
        let mut listing = store.list(Some(&self.table_prefix));
        while let Some(m) = listing.try_next().await? {
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
        Ok(out)
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
