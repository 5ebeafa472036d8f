//! A new table's location listed once (`CREATE EXTERNAL TABLE`, CTAS): its object count and size, and its
//! `key=value` partitions when it has partition keys.

use crate::catalog::location::{is_hidden, list_under, segments_below};
use crate::catalog::model::{Classification, Compression, Partition, TableDef};
use crate::error::{Error, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use std::collections::BTreeSet;

pub(crate) fn dir_url(def: &TableDef, root: &std::path::Path) -> Result<url::Url> {
    crate::catalog::location::resolve_dir(&def.location, root)
}

/// List the table's location once: object count and size, and its `key=value` partitions when it has keys.
pub(crate) async fn discover(
    ctx: &SessionContext,
    root: &std::path::Path,
    def: &mut TableDef,
) -> Result<()> {
    let url = dir_url(def, root)?;
    let store = ctx
        .runtime_env()
        .object_store(
            ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.authority()))
                .map_err(Error::from)?,
        )
        .map_err(Error::from)?;
    let (prefix, metas) = list_under(store.as_ref(), &url, &def.location).await?;
    let depth = prefix.parts().count();
    let keys: Vec<String> = def.partition_keys.iter().map(|k| k.name.clone()).collect();
    let mut partitions = BTreeSet::new();
    let (mut count, mut size) = (0u64, 0u64);
    // The whole-file compression the files' names say, when they all say the same.
    let mut compressions = BTreeSet::new();
    for m in metas {
        let parts = segments_below(&m.location, depth);
        if is_hidden(&parts) || m.size == 0 {
            continue;
        }
        count += 1;
        size += m.size;
        compressions.insert(Compression::of_name(m.location.as_ref()));
        if keys.is_empty() || parts.len() <= keys.len() {
            continue;
        }
        let values: Option<Vec<String>> = keys
            .iter()
            .zip(&parts)
            .map(|(k, seg)| {
                // Read as Hive reads a partition's folder: `s=a%2Fb` is `a/b`.
                crate::formats::hive_pair(seg)
                    .filter(|(key, _)| crate::formats::hive_unescape(key) == *k)
                    .map(|(_, v)| crate::formats::hive_unescape(v))
            })
            .collect();
        if let Some(values) = values {
            let loc = format!("{}/", parts[..keys.len()].join("/"));
            partitions.insert((loc, values));
        }
    }
    def.stats.object_count = Some(count);
    def.stats.size_bytes = Some(size);
    def.partitions = partitions
        .into_iter()
        .map(|(location, values)| Partition {
            values,
            location,
            stats: None,
        })
        .collect();
    // A text table declared without its compression reads its files as their names say (`.gz`), as Athena does.
    let text = matches!(
        def.format.classification,
        Classification::Csv | Classification::Json | Classification::Regex | Classification::Grok
    );
    if text
        && def.format.compression == Compression::None
        && let [only] = compressions.into_iter().collect::<Vec<_>>()[..]
    {
        def.format.compression = only;
    }
    def.properties.extend(def.format.glue_properties());
    Ok(())
}
