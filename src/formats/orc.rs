//! ORC read through owl's own DataFusion file source (on orc-rust), and the metadata the crawler needs.
//!
//! Why not datafusion-orc: it asks the store for a file's length with a whole-object GET (the meter would count
//! the file) and never adds Hive partition columns. Here:
//! 1. A file's length is the listing's; nothing is read to learn it.
//! 2. The metadata costs the file's footer, not orc-rust's 16 KiB guess: the last [`TAIL_GUESS`] bytes are read,
//!    the postscript says how long footer and metadata are, and only a larger footer costs a second read.
//!    orc-rust, which asks for 16 KiB, gets them zero-padded in front (it reads the tail from its end, never the
//!    padding). Later reads that fall in the tail are served from it, so no byte is paid for twice.
//! 3. Only the streams of the columns a query names are read, stripe by stripe; partition columns come from the
//!    paths (DataFusion's projection opener), as for every other format.
//! 4. Batches are cast to the registry's types (ORC timestamps are nanoseconds, the registry's microseconds).
//!
//! The invariant: every byte goes through the query's object store, so the meter sees what ORC really read.

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result as DfResult, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{
    FileOpenFuture, FileOpener, FileScanConfig, FileSource,
};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::physical_expr_adapter::BatchAdapterFactory;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::ProjectionExprs;
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use orc_rust::ArrowReaderBuilder;
use orc_rust::projection::ProjectionMask;
use orc_rust::reader::AsyncChunkReader;
use orc_rust::reader::metadata::{FileMetadata, read_metadata_async};
use std::collections::HashMap;
use std::sync::Arc;

/// The first read of a file's end: a postscript and a footer of a few dozen columns fit in it.
const TAIL_GUESS: u64 = 4 * 1024;

/// One ORC file as orc-rust reads it: ranged reads through the object store, the tail kept once read.
pub(crate) struct OrcChunks {
    store: Arc<dyn ObjectStore>,
    location: Path,
    size: u64,
    /// The bytes from `tail.0` to the end of the file, once the first read (orc-rust's tail read) is done.
    tail: Option<(u64, Bytes)>,
}

impl OrcChunks {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Self {
        OrcChunks {
            store,
            location: meta.location.clone(),
            size: meta.size,
            tail: None,
        }
    }

    async fn fetch(&self, start: u64, end: u64) -> std::io::Result<Bytes> {
        crate::formats::footer::read_range(self.store.as_ref(), &self.location, start..end)
            .await
            .map_err(std::io::Error::other)
    }

    /// The file's tail: postscript, footer and metadata (and whatever else the first guess covered), and where
    /// it starts. `None`: the postscript cannot be read; orc-rust's own read will say why.
    async fn fetch_tail(&self) -> std::io::Result<Option<(u64, Bytes)>> {
        use prost::Message;
        let size = self.size;
        let guess = TAIL_GUESS.min(size);
        let tail = self.fetch(size - guess, size).await?;
        let Some(&ps_len) = tail.last() else {
            return Ok(None);
        };
        let ps_len = ps_len as usize;
        if ps_len + 1 > tail.len() {
            return Ok(None);
        }
        let ps_at = tail.len() - 1 - ps_len;
        let Ok(ps) = orc_rust::proto::PostScript::decode(&tail[ps_at..tail.len() - 1]) else {
            return Ok(None);
        };
        let needed = 1 + ps_len as u64 + ps.footer_length() + ps.metadata_length();
        if needed > size {
            return Ok(None);
        }
        if needed <= guess {
            return Ok(Some((size - guess, tail)));
        }
        let head = self.fetch(size - needed, size - guess).await?;
        let mut all = BytesMut::with_capacity(needed as usize);
        all.extend_from_slice(&head);
        all.extend_from_slice(&tail);
        Ok(Some((size - needed, all.freeze())))
    }
}

impl AsyncChunkReader for OrcChunks {
    fn len(&mut self) -> BoxFuture<'_, std::io::Result<u64>> {
        let size = self.size;
        async move { Ok(size) }.boxed()
    }

    fn get_bytes(&mut self, offset: u64, length: u64) -> BoxFuture<'_, std::io::Result<Bytes>> {
        async move {
            let end = offset + length;
            if end > self.size {
                return Err(std::io::Error::other(format!(
                    "read past the end of the file ({end} > {} bytes)",
                    self.size
                )));
            }
            match &self.tail {
                // Wholly inside the kept tail.
                Some((start, tail)) if offset >= *start => {
                    let from = (offset - start) as usize;
                    Ok(tail.slice(from..from + length as usize))
                }
                // Ends inside the tail: read only what comes before it.
                Some((start, tail)) if end > *start => {
                    let (start, tail) = (*start, tail.clone());
                    let head = self.fetch(offset, start).await?;
                    let mut all = BytesMut::with_capacity(length as usize);
                    all.extend_from_slice(&head);
                    all.extend_from_slice(&tail[..(end - start) as usize]);
                    Ok(all.freeze())
                }
                Some(_) => self.fetch(offset, end).await,
                // The first read of the file's end: orc-rust's metadata read.
                None if end == self.size => {
                    let Some((start, tail)) = self.fetch_tail().await? else {
                        return self.fetch(offset, end).await;
                    };
                    self.tail = Some((start, tail.clone()));
                    if offset >= start {
                        let from = (offset - start) as usize;
                        return Ok(tail.slice(from..));
                    }
                    // Zero padding in front of what the metadata read needs (see the module docs).
                    let mut padded = BytesMut::zeroed((start - offset) as usize);
                    padded.extend_from_slice(&tail);
                    Ok(padded.freeze())
                }
                None => self.fetch(offset, end).await,
            }
        }
        .boxed()
    }
}

/// A file's ORC metadata (postscript, footer, stripe list), read from its tail. `whole`: the file's bytes when
/// the caller already has them, so nothing more is read. Errors are one-line reasons.
pub(crate) async fn read_metadata(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    whole: Option<Bytes>,
) -> Result<FileMetadata, String> {
    let mut chunks = OrcChunks::new(store, meta);
    if let Some(all) = whole.filter(|b| b.len() as u64 == meta.size) {
        chunks.tail = Some((0, all));
    }
    let read = async move {
        read_metadata_async(&mut chunks)
            .await
            .map_err(|e| DataFusionError::Execution(format!("corrupt ORC file: {e}")))
    };
    super::guard::Guarded::new(read, "its ORC metadata".into())
        .await
        .map_err(|e| {
            e.strip_backtrace()
                .trim_start_matches("Execution error: ")
                .to_string()
        })
}

/// The bytes a query reading the file columns `wanted` (None: all) of this ORC file reads, worked out as
/// [`OrcChunks`] reads: the tail, each stripe's footer, and the streams of those columns (and the root's), a byte
/// never twice. Reading the tail and the stripe footers here costs what the run would pay for them.
pub(crate) async fn planned_bytes(
    store: Arc<dyn ObjectStore>,
    meta: &ObjectMeta,
    wanted: Option<&std::collections::BTreeSet<String>>,
) -> Result<u64, String> {
    use prost::Message;
    use std::io::Read;
    let corrupt = |e: &dyn std::fmt::Display| format!("corrupt ORC file: {e}");
    let mut chunks = OrcChunks::new(store, meta);
    let md = read_metadata_async(&mut chunks)
        .await
        .map_err(|e| corrupt(&e))?;
    let tail_start = chunks.tail.as_ref().map_or(meta.size, |(start, _)| *start);
    let mut ids: Vec<usize> = vec![0];
    for c in md.root_data_type().children() {
        if wanted.is_none_or(|w| w.contains(c.name())) {
            ids.extend(c.data_type().all_indices());
        }
    }
    // What lies before the tail is fetched; what lies in it was paid for with the tail.
    let before_tail = |start: u64, len: u64| (start + len).min(tail_start).saturating_sub(start);
    let mut total = meta.size - tail_start;
    for stripe in md.stripe_metadatas() {
        let (at, len) = (stripe.footer_offset(), stripe.footer_length());
        total += before_tail(at, len);
        let raw = chunks.get_bytes(at, len).await.map_err(|e| e.to_string())?;
        let mut plain = Vec::new();
        orc_rust::compression::Decompressor::new(raw, md.compression(), vec![])
            .read_to_end(&mut plain)
            .map_err(|e| corrupt(&e))?;
        let footer =
            orc_rust::proto::StripeFooter::decode(plain.as_slice()).map_err(|e| corrupt(&e))?;
        let mut offset = stripe.offset();
        for s in &footer.streams {
            if ids.contains(&(s.column() as usize)) {
                total += before_tail(offset, s.length());
            }
            offset += s.length();
        }
    }
    Ok(total)
}

/// The Arrow schema of an ORC file, as owl reads it.
pub(crate) fn arrow_schema(md: &FileMetadata) -> Schema {
    md.root_data_type().create_arrow_schema(&HashMap::new())
}

/// ORC for DataFusion: schemas from footers, scans through [`OrcSource`].
#[derive(Debug, Default)]
pub struct OrcFormat;

#[async_trait]
impl FileFormat for OrcFormat {
    fn get_ext(&self) -> String {
        "orc".into()
    }

    fn get_ext_with_compression(&self, _c: &FileCompressionType) -> DfResult<String> {
        // ORC compresses inside the file, never the whole file.
        Ok("orc".into())
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(
        &self,
        _state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> DfResult<SchemaRef> {
        let mut schemas = Vec::with_capacity(objects.len());
        for o in objects {
            let md = read_metadata(Arc::clone(store), o, None)
                .await
                .map_err(|e| DataFusionError::Execution(format!("`{}`: {e}", o.location)))?;
            schemas.push(arrow_schema(&md));
        }
        Ok(Arc::new(Schema::try_merge(schemas)?))
    }

    async fn infer_stats(
        &self,
        _state: &dyn Session,
        _store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        _object: &ObjectMeta,
    ) -> DfResult<Statistics> {
        Ok(Statistics::new_unknown(&table_schema))
    }

    async fn create_physical_plan(
        &self,
        _state: &dyn Session,
        conf: FileScanConfig,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(DataSourceExec::from_data_source(conf))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(OrcSource::new(table_schema))
    }
}

/// The scan of ORC files: which file columns to read, in batches of what size.
#[derive(Debug, Clone)]
pub struct OrcSource {
    /// The table the scan reads, as a cluster sends it to an executor (`cluster::codec`); None outside the
    /// registry.
    origin: Option<Arc<str>>,
    table_schema: TableSchema,
    projection: SplitProjection,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
}

impl OrcSource {
    /// The scan of a registry table (its definition in JSON): what lets it travel to a cluster's executors.
    pub fn with_origin(mut self, origin: Arc<str>) -> Self {
        self.origin = Some(origin);
        self
    }

    pub fn origin(&self) -> Option<&Arc<str>> {
        self.origin.as_ref()
    }

    pub fn new(table_schema: TableSchema) -> Self {
        OrcSource {
            origin: None,
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            batch_size: 8192,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl FileSource for OrcSource {
    fn create_file_opener(
        &self,
        store: Arc<dyn ObjectStore>,
        _config: &FileScanConfig,
        _partition: usize,
    ) -> DfResult<Arc<dyn FileOpener>> {
        let file_schema = self.table_schema.file_schema();
        let wanted = Arc::new(file_schema.project(&self.projection.file_indices)?);
        let opener = Arc::new(OrcOpener {
            store,
            wanted,
            batch_size: self.batch_size,
        });
        ProjectionOpener::try_new(self.projection.clone(), opener, file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(OrcSource {
            batch_size,
            ..self.clone()
        })
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "orc"
    }

    fn try_pushdown_projection(
        &self,
        projection: &ProjectionExprs,
    ) -> DfResult<Option<Arc<dyn FileSource>>> {
        let merged = self.projection.source.try_merge(projection)?;
        Ok(Some(Arc::new(OrcSource {
            projection: SplitProjection::new(self.table_schema.file_schema(), &merged),
            ..self.clone()
        })))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        datafusion::physical_plan::apply_expression_roots(self.projection.source.iter(), f)
    }
}

/// Opens one ORC file (or the stripes that start in its byte range) for the columns in `wanted`.
struct OrcOpener {
    store: Arc<dyn ObjectStore>,
    /// The file columns to produce, with the registry's types.
    wanted: SchemaRef,
    batch_size: usize,
}

impl FileOpener for OrcOpener {
    fn open(&self, file: PartitionedFile) -> DfResult<FileOpenFuture> {
        let store = Arc::clone(&self.store);
        let wanted = Arc::clone(&self.wanted);
        let batch_size = self.batch_size;
        let what = format!("ORC file `{}`", file.object_meta.location);
        Ok(Box::pin(super::guard::Guarded::new(
            async move {
                let what = format!("ORC file `{}`", file.object_meta.location);
                let location = file.object_meta.location.clone();
                let named = |e: &dyn std::fmt::Display| {
                    DataFusionError::Execution(format!("reading ORC file `{location}`: {e}"))
                };
                let chunks = OrcChunks::new(store, &file.object_meta);
                let mut builder = ArrowReaderBuilder::try_new_async(chunks)
                    .await
                    .map_err(|e| named(&e))?;
                let names: Vec<&str> = wanted.fields().iter().map(|f| f.name().as_str()).collect();
                let mask =
                    ProjectionMask::named_roots(builder.file_metadata().root_data_type(), &names);
                builder = builder.with_projection(mask).with_batch_size(batch_size);
                if let Some(range) = &file.range {
                    builder =
                        builder.with_file_byte_range(range.start as usize..range.end as usize);
                }
                let reader = builder.build_async();
                let adapter = BatchAdapterFactory::new(wanted).make_adapter(&reader.schema())?;
                let location = file.object_meta.location.clone();
                let batches = reader
                    .map_err(move |e| {
                        DataFusionError::Execution(format!("reading ORC file `{location}`: {e}"))
                    })
                    .and_then(move |batch| std::future::ready(adapter.adapt_batch(&batch)));
                Ok(super::guard::Guarded::new(batches, what).boxed())
            },
            what,
        )))
    }
}
