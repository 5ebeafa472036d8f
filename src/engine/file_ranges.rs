//! No Parquet file is opened for a sliver of it.
//!
//! DataFusion splits a scan's files into byte ranges of equal size, one group a thread: with TPC-H's `lineitem`
//! in two files of 116 MB, the first thread reads `lineitem.2.parquet` up to byte 115,936,497 and the second
//! its last 22 KB, then `lineitem.1.parquet`. A range reads the row groups that start in it, so the 22 KB read
//! none; but opening the file for it reads the footer, and the page index where a filter needs it, a second
//! time when the first thread has not cached them yet (q5 read 45 KB more in some runs than others, and more
//! than DuckDB's count). A range under 1 MiB is given to the thread that reads the range before or after it in
//! the same file, as one range: the same row groups are read, by one opening. The thread it leaves may end up
//! with no file (an empty partition).

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::physical_plan::{
    FileGroup, FileScanConfig, FileScanConfigBuilder, ParquetSource,
};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

/// Ranges of files smaller than this are merged into their neighbour's.
const SLIVER: i64 = 1 << 20;

#[derive(Debug, Default)]
pub struct MergeSlivers;

impl PhysicalOptimizerRule for MergeSlivers {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            // Parquet only: a text file's range has no footer to read again, and reads past its end to the
            // next line break.
            let Some(config) = node
                .downcast_ref::<DataSourceExec>()
                .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
                .filter(|config| {
                    config
                        .file_source()
                        .downcast_ref::<ParquetSource>()
                        .is_some()
                })
            else {
                return Ok(Transformed::no(node));
            };
            let Some(groups) = merge_slivers(&config.file_groups) else {
                return Ok(Transformed::no(node));
            };
            let config = FileScanConfigBuilder::from(config.clone())
                .with_file_groups(groups)
                .build();
            Ok(Transformed::yes(
                DataSourceExec::from_data_source(config) as Arc<dyn ExecutionPlan>
            ))
        })
        .data()
    }

    fn name(&self) -> &str {
        "owl_merge_slivers"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `groups` with each file range under [`SLIVER`] joined to the adjacent range of the same file in another
/// group; None when there is none to join.
fn merge_slivers(groups: &[FileGroup]) -> Option<Vec<FileGroup>> {
    let mut files: Vec<Vec<_>> = groups.iter().map(|g| g.files().to_vec()).collect();
    let mut changed = false;
    for g in 0..files.len() {
        let mut i = 0;
        while i < files[g].len() {
            let sliver = &files[g][i];
            let Some(range) = sliver.range.clone().filter(|r| r.end - r.start < SLIVER) else {
                i += 1;
                continue;
            };
            let path = sliver.path().clone();
            // The same file's range that ends where this one starts, or starts where it ends, in another group.
            let neighbour = (0..files.len()).filter(|h| *h != g).find_map(|h| {
                files[h]
                    .iter()
                    .position(|f| {
                        f.path() == &path
                            && f.range
                                .as_ref()
                                .is_some_and(|r| r.end == range.start || r.start == range.end)
                    })
                    .map(|j| (h, j))
            });
            let Some((h, j)) = neighbour else {
                i += 1;
                continue;
            };
            let Some(other) = files[h][j].range.as_mut() else {
                i += 1;
                continue;
            };
            other.start = other.start.min(range.start);
            other.end = other.end.max(range.end);
            files[g].remove(i);
            changed = true;
        }
    }
    changed.then(|| files.into_iter().map(FileGroup::new).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::datasource::listing::PartitionedFile;

    fn range(path: &str, size: u64, start: i64, end: i64) -> PartitionedFile {
        PartitionedFile::new(path.to_string(), size).with_range(start, end)
    }

    fn ranges(groups: &[FileGroup]) -> Vec<Vec<(String, i64, i64)>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| {
                        let r = f.range.clone().unwrap();
                        (f.path().to_string(), r.start, r.end)
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_sliver_joins_the_adjacent_range_of_its_file() {
        // TPC-H's lineitem as DataFusion splits it for two threads.
        let groups = vec![
            FileGroup::new(vec![range("l2", 115_958_442, 0, 115_936_497)]),
            FileGroup::new(vec![
                range("l2", 115_958_442, 115_936_497, 115_958_442),
                range("l1", 115_914_552, 0, 115_914_552),
            ]),
        ];
        let merged = merge_slivers(&groups).unwrap();
        assert_eq!(
            ranges(&merged),
            vec![
                vec![("l2".to_string(), 0, 115_958_442)],
                vec![("l1".to_string(), 0, 115_914_552)]
            ]
        );
        // A sliver at a file's start joins the range after it; a group left without files stays (an empty
        // partition).
        let groups = vec![
            FileGroup::new(vec![range("a", 50_000_000, 0, 1000)]),
            FileGroup::new(vec![range("a", 50_000_000, 1000, 50_000_000)]),
        ];
        let merged = merge_slivers(&groups).unwrap();
        assert_eq!(
            ranges(&merged),
            vec![vec![], vec![("a".to_string(), 0, 50_000_000)]]
        );
        // Ranges of 1 MiB and more, and small ranges of another file or not adjacent, stay.
        let groups = vec![
            FileGroup::new(vec![range("a", 4 << 20, 0, 2 << 20)]),
            FileGroup::new(vec![
                range("a", 4 << 20, 2 << 20, 4 << 20),
                range("b", 300, 0, 300),
                range("c", 3 << 20, 10, 20),
            ]),
            FileGroup::new(vec![range("c", 3 << 20, 30, 3 << 20)]),
        ];
        assert!(merge_slivers(&groups).is_none());
    }
}
