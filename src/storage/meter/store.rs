//! [`MeteredStore`]: a complete `ObjectStore` decorator that charges a [`Meter`], and [`MeteredRegistry`], which
//! hands out metered stores for one query.

use super::{Meter, list_pages};
use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetRange, GetResult, GetResultPayload, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use std::collections::HashMap;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use url::Url;

/// Local files are streamed in chunks of this size, so a query that stops early reads (and pays) little. A
/// bounded range of at most [`REMOTE_SINGLE_MAX`] (a Parquet column chunk, a footer) is one chunk, read at once
/// into its buffer. (Chunks
/// growing to 8 MiB, as remote reads do, were tried: a CSV scan of 766 MB then peaked at 810 MiB resident
/// instead of 110 MiB, and ran slower. 1 MiB against 256 KiB: TPC-H SF1 CSV q1/q6/q18 5-11% faster, peaks
/// +5-16 MiB on a scan, q18's unchanged; see BENCHMARKS.md.)
const FILE_CHUNK: u64 = 1024 * 1024;
const _: () = assert!(
    FILE_CHUNK >= REMOTE_SINGLE_MAX,
    "small local ranges must come in one piece"
);

/// A streamed read of a remote object is fetched as ranged GETs of this size, doubling up to
/// [`REMOTE_CHUNK_MAX`], each received whole. A reader that stops early (LIMIT, a newline search, a cancel)
/// never leaves a response half-sent: what S3 sent is exactly what the meter counted, and a small read stays small.
const REMOTE_CHUNK_FIRST: u64 = 256 * 1024;
const REMOTE_CHUNK_MAX: u64 = 8 * 1024 * 1024;
/// A remote span up to this size is fetched in one request (a crawler's sample, a footer, a small file).
const REMOTE_SINGLE_MAX: u64 = 1024 * 1024;

/// Ranges of one `get_ranges` call at most this far apart are fetched as one GET (`owl.remote_exact_ranges`):
/// a reader's ranges are column chunks and pages, and a gap between them is bytes no one asked for that the
/// query would be billed for. Up to this much (page headers, a tiny column between two wanted ones) a GET
/// saved is worth more than the bytes; object_store's own default (1 MiB) reads whole row groups' worth of
/// unwanted columns.
pub const REMOTE_COALESCE_GAP: u64 = 16 * 1024;

/// How `get_ranges` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeReads {
    /// The inner store reads exactly the ranges asked for (local files): forward the call.
    Forward,
    /// The inner store would merge nearby ranges out of sight (S3 and other remote stores): merge them here
    /// instead, those at most `gap` bytes apart, so every GET and every gap byte passes through the meter.
    Coalesce { gap: u64 },
}

/// An `ObjectStore` that charges every request and every byte received to a [`Meter`].
#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn ObjectStore>,
    meter: Arc<Meter>,
    /// The store's URL prefix (`file://`, `s3://bucket`), to name objects in `files_read`.
    scope: String,
    ranges: RangeReads,
    /// Object sizes seen in this query's listings and HEADs: a whole-object read of a remote object with a
    /// known size is fetched in bounded ranges.
    sizes: Arc<Mutex<HashMap<Path, u64>>>,
}

impl MeteredStore {
    pub fn new(
        inner: Arc<dyn ObjectStore>,
        meter: Arc<Meter>,
        scope: impl Into<String>,
        ranges: RangeReads,
    ) -> Self {
        MeteredStore {
            inner,
            meter,
            scope: scope.into(),
            ranges,
            sizes: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn remote(&self) -> bool {
        matches!(self.ranges, RangeReads::Coalesce { .. })
    }

    fn fail(&self, e: object_store::Error, location: &Path) -> object_store::Error {
        describe(e, &self.object(location))
    }

    fn remember(&self, metas: &[ObjectMeta]) {
        if self.remote()
            && let Ok(mut sizes) = self.sizes.lock()
        {
            for m in metas {
                sizes.insert(m.location.clone(), m.size);
            }
        }
    }

    fn known_size(&self, location: &Path) -> Option<u64> {
        self.sizes.lock().ok()?.get(location).copied()
    }

    fn object(&self, location: &Path) -> String {
        format!("{}/{}", self.scope, location)
    }

    /// Wrap a payload so that bytes are counted as the caller consumes them.
    fn count_payload(&self, mut result: GetResult) -> GetResult {
        let stream = match result.payload {
            GetResultPayload::File(file, path) => file_stream(file, path, result.range.clone()),
            GetResultPayload::Stream(s) => s,
        };
        let meter = Arc::clone(&self.meter);
        let object = self.object(&result.meta.location);
        let counted = stream
            .inspect_ok(move |b| meter.add_bytes(b.len() as u64))
            .map_err(move |e| describe(e, &object));
        result.payload = GetResultPayload::Stream(counted.boxed());
        result
    }

    /// One GET of one range, received whole.
    async fn get_range_counted(
        &self,
        location: &Path,
        range: Range<u64>,
    ) -> object_store::Result<Bytes> {
        self.meter.add_get(self.object(location), 1);
        let opts = GetOptions::new().with_range(Some(range));
        fetch_whole(
            Arc::clone(&self.inner),
            Arc::clone(&self.meter),
            location.clone(),
            opts,
        )
        .await
        .map(|(_, _, bytes)| bytes)
        .map_err(|e| self.fail(e, location))
    }

    /// A streamed read of `start..end` of a remote object as bounded GETs, each received whole (see
    /// [`REMOTE_CHUNK_FIRST`]). Later chunks are pinned to the first one's ETag, so a file replaced mid-read
    /// fails rather than mixing two versions.
    async fn get_chunked(
        &self,
        location: &Path,
        options: GetOptions,
        start: u64,
        end: u64,
    ) -> object_store::Result<GetResult> {
        let first_end = if end - start <= REMOTE_SINGLE_MAX {
            end
        } else {
            start + REMOTE_CHUNK_FIRST
        };
        let mut first_opts = options.clone();
        first_opts.range = Some(GetRange::Bounded(start..first_end));
        self.meter.add_get(self.object(location), 1);
        let (meta, attributes, first) = fetch_whole(
            Arc::clone(&self.inner),
            Arc::clone(&self.meter),
            location.clone(),
            first_opts,
        )
        .await
        .map_err(|e| self.fail(e, location))?;
        let rest = ChunkState {
            inner: Arc::clone(&self.inner),
            meter: Arc::clone(&self.meter),
            location: location.clone(),
            object: self.object(location),
            if_match: options.if_match.clone().or_else(|| meta.e_tag.clone()),
            version: options.version.clone(),
            pos: first_end,
            end,
            size: REMOTE_CHUNK_FIRST * 2,
        };
        let stream = futures::stream::once(async move { Ok(first) })
            .chain(futures::stream::try_unfold(rest, next_chunk))
            .boxed();
        Ok(GetResult {
            payload: GetResultPayload::Stream(stream),
            meta,
            range: start..end,
            attributes,
        })
    }
}

impl fmt::Display for MeteredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Metered({})", self.inner)
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait::async_trait]
impl ObjectStore for MeteredStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.meter.add_put();
        self.inner
            .put_opts(location, payload, opts)
            .await
            .map_err(|e| self.fail(e, location))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.meter.add_put();
        self.inner
            .put_multipart_opts(location, opts)
            .await
            .map_err(|e| self.fail(e, location))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if options.head {
            self.meter.add_head();
            let r = self
                .inner
                .get_opts(location, options)
                .await
                .map_err(|e| self.fail(e, location))?;
            self.remember(std::slice::from_ref(&r.meta));
            return Ok(r);
        }
        if self.remote() {
            let size = self.known_size(location);
            let span = match (&options.range, size) {
                (None, Some(n)) => Some((0, n)),
                (Some(GetRange::Offset(o)), Some(n)) => Some(((*o).min(n), n)),
                (Some(GetRange::Bounded(r)), Some(n)) => Some((r.start.min(n), r.end.min(n))),
                (Some(GetRange::Bounded(r)), None) => Some((r.start, r.end)),
                _ => None,
            };
            // A span of at most REMOTE_SINGLE_MAX is one request, received whole; a longer one is chunked.
            if let Some((start, end)) = span
                && start < end
            {
                return self.get_chunked(location, options, start, end).await;
            }
        }
        self.meter.add_get(self.object(location), 1);
        let result = self
            .inner
            .get_opts(location, options)
            .await
            .map_err(|e| self.fail(e, location))?;
        Ok(self.count_payload(result))
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        match self.ranges {
            RangeReads::Forward => {
                self.meter
                    .add_get(self.object(location), ranges.len() as u64);
                let parts = self.inner.get_ranges(location, ranges).await?;
                let n: u64 = parts.iter().map(|b| b.len() as u64).sum();
                self.meter.add_bytes(n);
                Ok(parts)
            }
            RangeReads::Coalesce { gap } => {
                object_store::coalesce_ranges(ranges, |r| self.get_range_counted(location, r), gap)
                    .await
            }
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let meter = Arc::clone(&self.meter);
        let counted = locations.inspect_ok(move |_| meter.add_delete(1)).boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let listing = self.inner.list(prefix);
        self.counted_listing(listing, prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let listing = self.inner.list_with_offset(prefix, offset);
        self.counted_listing(listing, prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let result = self
            .inner
            .list_with_delimiter(prefix)
            .await
            .map_err(|e| self.fail(e, prefix.unwrap_or(&Path::default())))?;
        self.remember(&result.objects);
        let entries = (result.objects.len() + result.common_prefixes.len()) as u64;
        self.meter.add_list(list_pages(entries));
        Ok(result)
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.meter.add_put();
        self.inner
            .copy_opts(from, to, options)
            .await
            .map_err(|e| self.fail(e, to))
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.meter.add_put();
        self.inner
            .rename_opts(from, to, options)
            .await
            .map_err(|e| self.fail(e, to))
    }
}

impl MeteredStore {
    /// A listing that remembers sizes, describes errors, and counts its requests (see [`page_counter`]).
    fn counted_listing(
        &self,
        inner: BoxStream<'static, object_store::Result<ObjectMeta>>,
        prefix: Option<&Path>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let sizes = self.remote().then(|| Arc::clone(&self.sizes));
        let object = self.object(prefix.unwrap_or(&Path::default()));
        let listing = inner
            .inspect_ok(move |m| {
                if let Some(sizes) = &sizes
                    && let Ok(mut sizes) = sizes.lock()
                {
                    sizes.insert(m.location.clone(), m.size);
                }
            })
            .map_err(move |e| describe(e, &object));
        page_counter(Arc::clone(&self.meter), listing.boxed())
    }
}

/// Describe an S3 error for people (which object, what happened, with which settings); other stores' errors
/// pass as they are. `object` is `scope/path` (`s3://bucket/key`).
fn describe(e: object_store::Error, object: &str) -> object_store::Error {
    if object.starts_with("s3://") {
        crate::storage::s3::annotate(e, object)
    } else {
        e
    }
}

/// One remote GET, received whole on a task of its own: if the reader stops waiting (LIMIT satisfied, query
/// cancelled), the response still arrives and is counted, as the store sent it. The meter's in-flight count
/// lets the query wait for such stragglers before its bill is read.
async fn fetch_whole(
    inner: Arc<dyn ObjectStore>,
    meter: Arc<Meter>,
    location: Path,
    options: GetOptions,
) -> object_store::Result<(ObjectMeta, object_store::Attributes, Bytes)> {
    let guard = meter.begin();
    let task = tokio::spawn(async move {
        let _guard = guard;
        let r = inner.get_opts(&location, options).await?;
        let (meta, attributes) = (r.meta.clone(), r.attributes.clone());
        let bytes = r.bytes().await?;
        meter.add_bytes(bytes.len() as u64);
        Ok((meta, attributes, bytes))
    });
    match task.await {
        Ok(r) => r,
        Err(e) => Err(object_store::Error::Generic {
            store: "meter",
            source: Box::new(e),
        }),
    }
}

/// Where a chunked remote read stands (see [`MeteredStore::get_chunked`]).
struct ChunkState {
    inner: Arc<dyn ObjectStore>,
    meter: Arc<Meter>,
    location: Path,
    object: String,
    if_match: Option<String>,
    version: Option<String>,
    pos: u64,
    end: u64,
    size: u64,
}

async fn next_chunk(mut st: ChunkState) -> object_store::Result<Option<(Bytes, ChunkState)>> {
    if st.pos >= st.end {
        return Ok(None);
    }
    let stop = st.end.min(st.pos + st.size);
    let opts = GetOptions {
        range: Some(GetRange::Bounded(st.pos..stop)),
        if_match: st.if_match.clone(),
        version: st.version.clone(),
        ..GetOptions::default()
    };
    st.meter.add_get(st.object.clone(), 1);
    let fetched = fetch_whole(
        Arc::clone(&st.inner),
        Arc::clone(&st.meter),
        st.location.clone(),
        opts,
    )
    .await;
    let (_, _, bytes) = fetched.map_err(|e| describe(e, &st.object))?;
    st.pos = stop;
    st.size = (st.size * 2).min(REMOTE_CHUNK_MAX);
    Ok(Some((bytes, st)))
}

/// Count a listing's requests as S3 pages it (1,000 keys a page), once the listing has been consumed or dropped.
fn page_counter(
    meter: Arc<Meter>,
    inner: BoxStream<'static, object_store::Result<ObjectMeta>>,
) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
    struct Pages {
        meter: Arc<Meter>,
        seen: u64,
    }
    impl Drop for Pages {
        fn drop(&mut self) {
            self.meter.add_list(list_pages(self.seen));
        }
    }
    let mut pages = Pages { meter, seen: 0 };
    inner
        .inspect_ok(move |_| {
            // Borrow the whole struct so the closure owns it (and its Drop) rather than a copy of one field.
            let p = &mut pages;
            p.seen += 1;
        })
        .boxed()
}

/// A local file as a stream of chunks read on the blocking pool: counted like any remote body.
fn file_stream(
    file: std::fs::File,
    path: std::path::PathBuf,
    range: Range<u64>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    futures::stream::try_unfold((Some(file), range.start), move |(file, pos)| {
        let path = path.clone();
        let end = range.end;
        async move {
            let Some(mut file) = file else {
                return Ok(None);
            };
            if pos >= end {
                return Ok(None);
            }
            let n = (end - pos).min(FILE_CHUNK);
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = Vec::with_capacity(n as usize);
                file.seek(SeekFrom::Start(pos))?;
                (&mut file).take(n).read_to_end(&mut buf)?;
                if (buf.len() as u64) < n {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file ended before the range did",
                    ));
                }
                Ok::<_, std::io::Error>((file, buf))
            })
            .await;
            let (file, buf) = match read {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    return Err(object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: format!("reading `{}`: {e}", path.display()).into(),
                    });
                }
                Err(e) => {
                    return Err(object_store::Error::Generic {
                        store: "LocalFileSystem",
                        source: Box::new(e),
                    });
                }
            };
            Ok(Some((Bytes::from(buf), (Some(file), pos + n))))
        }
    })
    .boxed()
}

/// The object store registry of one query: every store it hands out charges that query's [`Meter`].
#[derive(Debug)]
pub struct MeteredRegistry {
    base: Arc<dyn ObjectStoreRegistry>,
    meter: Arc<Meter>,
    /// How far apart two ranges of a remote object may be and still be fetched as one GET.
    gap: u64,
    wrapped: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl MeteredRegistry {
    /// `exact_ranges` (`owl.remote_exact_ranges`): merge a remote object's ranges only up to
    /// [`REMOTE_COALESCE_GAP`] apart; false: up to object_store's default, 1 MiB.
    pub fn new(base: Arc<dyn ObjectStoreRegistry>, meter: Arc<Meter>, exact_ranges: bool) -> Self {
        let gap = if exact_ranges {
            REMOTE_COALESCE_GAP
        } else {
            object_store::OBJECT_STORE_COALESCE_DEFAULT
        };
        MeteredRegistry {
            base,
            meter,
            gap,
            wrapped: Mutex::new(HashMap::new()),
        }
    }
}

fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), url.authority())
}

impl ObjectStoreRegistry for MeteredRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        if let Ok(mut w) = self.wrapped.lock() {
            w.remove(&store_key(url));
        }
        self.base.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(mut w) = self.wrapped.lock() {
            w.remove(&store_key(url));
        }
        self.base.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        let key = store_key(url);
        if let Some(s) = self.wrapped.lock().ok().and_then(|w| w.get(&key).cloned()) {
            return Ok(s);
        }
        let inner = self.base.get_store(url)?;
        let ranges = if url.scheme() == "file" {
            RangeReads::Forward
        } else {
            RangeReads::Coalesce { gap: self.gap }
        };
        let store: Arc<dyn ObjectStore> = Arc::new(MeteredStore::new(
            inner,
            Arc::clone(&self.meter),
            key.clone(),
            ranges,
        ));
        if let Ok(mut w) = self.wrapped.lock() {
            w.insert(key, Arc::clone(&store));
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;
    use object_store::local::LocalFileSystem;

    fn setup(bytes: usize) -> (tempfile::TempDir, MeteredStore, Arc<Meter>, Path) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.bin"), vec![7u8; bytes]).unwrap();
        let inner = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let meter = Arc::new(Meter::new());
        let store = MeteredStore::new(inner, Arc::clone(&meter), "file://", RangeReads::Forward);
        (dir, store, meter, Path::from("f.bin"))
    }

    #[tokio::test]
    async fn counts_local_files_as_consumed() {
        let (_d, store, meter, p) = setup(3_000_000);
        let r = store.get(&p).await.unwrap();
        let mut s = r.into_stream();
        let first = s.next().await.unwrap().unwrap();
        assert_eq!(first.len() as u64, FILE_CHUNK);
        assert_eq!(meter.reading().bytes_scanned, FILE_CHUNK);
        drop(s);
        let all = store.get(&p).await.unwrap().bytes().await.unwrap();
        assert_eq!(all.len(), 3_000_000);
        let m = meter.reading();
        assert_eq!(m.bytes_scanned, FILE_CHUNK + 3_000_000);
        assert_eq!(m.requests.get, 2);
        assert_eq!(m.files_read, 1);
    }

    #[tokio::test]
    async fn local_streams_come_in_chunks_and_small_ranges_whole() {
        let (_d, store, meter, p) = setup(3_000_000);
        // The sizes of the pieces a get's stream hands out.
        async fn pieces(store: &MeteredStore, p: &Path, opts: GetOptions) -> Vec<usize> {
            let r = store.get_opts(p, opts).await.unwrap();
            r.into_stream().map(|b| b.unwrap().len()).collect().await
        }
        let sizes = pieces(&store, &p, GetOptions::new()).await;
        let chunk = FILE_CHUNK as usize;
        let whole = 3_000_000 / chunk;
        let mut expected = vec![chunk; whole];
        expected.push(3_000_000 - whole * chunk);
        assert!(whole >= 2, "the test file spans several chunks");
        assert_eq!(sizes, expected);
        let opts = GetOptions::new().with_range(Some(100..1_048_676));
        assert_eq!(pieces(&store, &p, opts).await, [1_048_576]);
        let bytes = store.get_range(&p, 2_999_000..3_000_000).await.unwrap();
        assert_eq!(bytes.len(), 1000);
        assert_eq!(meter.reading().bytes_scanned, 3_000_000 + 1_048_576 + 1000);
    }

    #[tokio::test]
    async fn counts_ranges_heads_and_lists() {
        let (_d, store, meter, p) = setup(10_000);
        let parts = store.get_ranges(&p, &[0..10, 100..1100]).await.unwrap();
        assert_eq!(parts[1].len(), 1000);
        let b = store.get_range(&p, 9_000..10_000).await.unwrap();
        assert_eq!(b.len(), 1000);
        store.head(&p).await.unwrap();
        let listed: Vec<_> = store.list(None).collect().await;
        assert_eq!(listed.len(), 1);
        let m = meter.reading();
        assert_eq!(m.bytes_scanned, 2010);
        assert_eq!(m.requests.get, 3);
        assert_eq!(m.requests.head, 1);
        assert_eq!(m.requests.list, 1);
    }

    #[tokio::test]
    async fn remote_streams_are_fetched_in_growing_whole_chunks() {
        let (_d, mut store, meter, p) = setup(3_000_000);
        store.ranges = RangeReads::Coalesce {
            gap: object_store::OBJECT_STORE_COALESCE_DEFAULT,
        };
        // With the size known from a listing: ranged GETs of 256 KiB, 512 KiB, 1 MiB, ... each received whole.
        let listed: Vec<_> = store.list(None).collect().await;
        assert_eq!(listed.len(), 1);
        let mut s = store.get(&p).await.unwrap().into_stream();
        let first = s.next().await.unwrap().unwrap();
        assert_eq!(first.len() as u64, REMOTE_CHUNK_FIRST);
        drop(s);
        meter.settle(std::time::Duration::from_secs(5)).await;
        assert_eq!(meter.reading().bytes_scanned, REMOTE_CHUNK_FIRST);
        assert_eq!(meter.reading().requests.get, 1);
        let all = store.get(&p).await.unwrap().bytes().await.unwrap();
        assert_eq!(all.len(), 3_000_000);
        assert_eq!(all, vec![7u8; 3_000_000]);
        let m = meter.reading();
        assert_eq!(m.bytes_scanned, REMOTE_CHUNK_FIRST + 3_000_000);
        // 256K + 512K + 1M + the last 1,164,608 bytes.
        assert_eq!(m.requests.get, 1 + 4);
        // A small span is one request.
        let b = store.get_range(&p, 10..1000).await.unwrap();
        assert_eq!(b.len(), 990);
        assert_eq!(meter.reading().requests.get, 6);
    }

    #[tokio::test]
    async fn coalesced_ranges_count_gap_bytes() {
        let (_d, mut store, meter, p) = setup(10_000);
        store.ranges = RangeReads::Coalesce {
            gap: object_store::OBJECT_STORE_COALESCE_DEFAULT,
        };
        let parts = store.get_ranges(&p, &[0..10, 100..110]).await.unwrap();
        assert_eq!(parts.len(), 2);
        // One merged GET of 0..110: the 90-byte gap was received too, so it is billed.
        let m = meter.reading();
        assert_eq!(m.requests.get, 1);
        assert_eq!(m.bytes_scanned, 110);
    }

    #[tokio::test]
    async fn exact_ranges_merge_only_small_gaps() {
        let (_d, mut store, meter, p) = setup(100_000);
        store.ranges = RangeReads::Coalesce {
            gap: REMOTE_COALESCE_GAP,
        };
        let far = REMOTE_COALESCE_GAP + 10;
        let ranges = [0..10, 100..110, far + 110..far + 120];
        let parts = store.get_ranges(&p, &ranges).await.unwrap();
        assert_eq!(
            parts.iter().map(|b| b.len()).collect::<Vec<_>>(),
            [10, 10, 10]
        );
        // The first two (90 bytes apart) in one GET of 0..110; the third, further than the gap, on its own.
        let m = meter.reading();
        assert_eq!(m.requests.get, 2);
        assert_eq!(m.bytes_scanned, 110 + 10);
    }
}
