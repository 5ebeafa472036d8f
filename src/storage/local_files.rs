//! [`LocalFiles`]: the local filesystem as an `ObjectStore`, listing with one `stat` per file.
//!
//! object_store's `LocalFileSystem` lists through `walkdir` and then checks each entry three more times
//! (`symlink_metadata`, `is_file`, `metadata`): four `stat`s per entry, folders included. Listing a table of 366
//! daily partitions took ~8 ms of a 10 ms plan (BENCHMARKS.md, step 17). Here a folder's entries come with their
//! kind from `getdents` (no `stat`), and each file is `stat`ed once, for its size, time and ETag. Everything
//! else is `LocalFileSystem`'s own code.
//!
//! The invariant: `list` returns the same objects as `LocalFileSystem::list` (same locations, sizes, times,
//! ETags; symlinks followed, broken ones skipped, `#<digits>` upload leftovers skipped, a missing prefix empty).
//! A differential test holds it to that.

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use std::collections::VecDeque;
use std::fs::{self, Metadata, ReadDir};
use std::io::ErrorKind;
use std::ops::Range;
use std::path::PathBuf;
use std::time::SystemTime;
use url::Url;

/// The local filesystem, rooted at `/` (what `file://` URLs name).
#[derive(Debug)]
pub struct LocalFiles {
    inner: LocalFileSystem,
}

impl Default for LocalFiles {
    fn default() -> Self {
        LocalFiles {
            inner: LocalFileSystem::new(),
        }
    }
}

impl std::fmt::Display for LocalFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// The folder a prefix names, as `LocalFileSystem` resolves it (its URL segments, percent-decoded).
fn folder_of(prefix: Option<&Path>) -> Result<PathBuf> {
    let mut url = Url::parse("file:///").map_err(|e| generic(e.to_string()))?;
    if let Some(prefix) = prefix
        && let Ok(mut segments) = url.path_segments_mut()
    {
        segments.pop_if_empty().extend(prefix.parts());
    }
    url.to_file_path()
        .map_err(|()| generic(format!("`{url}` is not a local path")))
}

fn generic(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "LocalFileSystem",
        source: message.into(),
    }
}

/// What `LocalFileSystem` calls an object: not an unfinished upload (`name#123`).
fn is_valid_file_path(path: &Path) -> bool {
    match path.filename() {
        Some(name) => match name.split_once('#') {
            Some((_, suffix)) if !suffix.is_empty() => !suffix.bytes().all(|b| b.is_ascii_digit()),
            _ => true,
        },
        None => false,
    }
}

/// A file's `ObjectMeta` as `LocalFileSystem` makes it (its ETag: inode, modified micros, size, in hex).
fn object_meta(location: Path, metadata: &Metadata) -> ObjectMeta {
    let modified = metadata.modified().ok();
    let micros = modified
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(metadata);
    #[cfg(not(unix))]
    let inode = 0u64;
    let size = metadata.len();
    ObjectMeta {
        location,
        last_modified: modified.unwrap_or(SystemTime::UNIX_EPOCH).into(),
        size,
        e_tag: Some(format!("{inode:x}-{micros:x}-{size:x}")),
        version: None,
    }
}

fn io_error(e: std::io::Error, path: &std::path::Path) -> object_store::Error {
    generic(format!("cannot list `{}`: {e}", path.display()))
}

/// A depth-first walk below one folder, yielding files (symlinks followed).
struct Walk {
    /// Folders being read, innermost last, each with its path.
    open: Vec<(PathBuf, ReadDir)>,
}

impl Walk {
    /// The walk below `root`: nothing when it is missing or not a folder (as `walkdir` below a file).
    fn new(root: PathBuf) -> Result<Walk> {
        let open = match fs::read_dir(&root) {
            Ok(dir) => vec![(root, dir)],
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => vec![],
            Err(e) => return Err(io_error(e, &root)),
        };
        Ok(Walk { open })
    }

    /// Whether `target` (a folder a symlink leads to) is one of the folders being read: a loop.
    fn is_loop(&self, target: &Metadata) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            self.open.iter().any(|(path, _)| {
                fs::metadata(path).is_ok_and(|m| m.dev() == target.dev() && m.ino() == target.ino())
            })
        }
        #[cfg(not(unix))]
        {
            let _ = target;
            false
        }
    }

    /// Look at the next folder entry: `None` when the walk is over, `Some(None)` for an entry that is not a
    /// file (a folder is opened, to be read next).
    fn step(&mut self) -> Option<Option<Result<ObjectMeta>>> {
        let (_, dir) = self.open.last_mut()?;
        let entry = match dir.next() {
            None => {
                self.open.pop();
                return Some(None);
            }
            Some(Ok(entry)) => entry,
            // Gone since the folder was read: as `LocalFileSystem`, not an error.
            Some(Err(e)) if e.kind() == ErrorKind::NotFound => return Some(None),
            Some(Err(e)) => {
                let path = self.open.last().map(|(p, _)| p.clone()).unwrap_or_default();
                return Some(Some(Err(io_error(e, &path))));
            }
        };
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            return Some(None);
        };
        // A folder: its entries next. A symlink: what it leads to (a broken one is skipped).
        let followed = if kind.is_dir() {
            None
        } else {
            match fs::metadata(&path) {
                Ok(m) => Some(m),
                Err(_) => return Some(None),
            }
        };
        if followed.as_ref().is_none_or(Metadata::is_dir) {
            if let Some(target) = &followed
                && self.is_loop(target)
            {
                return Some(Some(Err(generic(format!(
                    "cannot list `{}`: a symbolic link loops back to a folder above it",
                    path.display()
                )))));
            }
            return match fs::read_dir(&path) {
                Ok(dir) => {
                    self.open.push((path, dir));
                    Some(None)
                }
                Err(e) if e.kind() == ErrorKind::NotFound => Some(None),
                Err(e) => Some(Some(Err(io_error(e, &path)))),
            };
        }
        // A socket, a pipe, a device: not an object.
        let Some(metadata) = followed.filter(Metadata::is_file) else {
            return Some(None);
        };
        let location = match Path::from_absolute_path(&path) {
            Ok(location) => location,
            Err(e) => return Some(Some(Err(e.into()))),
        };
        Some(is_valid_file_path(&location).then(|| Ok(object_meta(location, &metadata))))
    }

    /// Look at up to `entries` folder entries, the files found into `out`: true when the walk is over.
    fn fill(&mut self, out: &mut VecDeque<Result<ObjectMeta>>, entries: usize) -> bool {
        for _ in 0..entries {
            match self.step() {
                None => return true,
                Some(Some(item)) => out.push_back(item),
                Some(None) => {}
            }
        }
        self.open.is_empty()
    }
}

impl Iterator for Walk {
    type Item = Result<ObjectMeta>;

    fn next(&mut self) -> Option<Result<ObjectMeta>> {
        loop {
            if let Some(item) = self.step()? {
                return Some(item);
            }
        }
    }
}

/// Folder entries looked at on the caller's thread before the rest of a walk moves to blocking tasks: a
/// partition's folder (a few files) is listed in microseconds, less than a hop to a blocking thread takes, and a
/// query listing many partitions at once would otherwise start a thread for each (each with its own allocator
/// caches: +110 MB of peak memory for a month of daily partitions).
const INLINE: usize = 64;

/// Folder entries looked at per blocking task: a big tree streams without holding every entry.
const CHUNK: usize = 1024;

fn list_below(prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
    let root = match folder_of(prefix) {
        Ok(root) => root,
        Err(e) => return stream::once(async move { Err(e) }).boxed(),
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return match Walk::new(root) {
            Ok(walk) => stream::iter(walk).boxed(),
            Err(e) => stream::once(async move { Err(e) }).boxed(),
        };
    }
    enum State {
        Start(PathBuf),
        Walking(Walk),
        Over,
    }
    stream::try_unfold(
        (State::Start(root), VecDeque::new()),
        |(mut state, mut buffer)| async move {
            while buffer.is_empty() {
                state = match state {
                    State::Start(root) => {
                        let mut walk = Walk::new(root)?;
                        if walk.fill(&mut buffer, INLINE) {
                            State::Over
                        } else {
                            State::Walking(walk)
                        }
                    }
                    State::Walking(mut walk) => {
                        let (walk, b, over) = tokio::task::spawn_blocking(move || {
                            let mut b = VecDeque::new();
                            let over = walk.fill(&mut b, CHUNK);
                            (walk, b, over)
                        })
                        .await
                        .map_err(|e| generic(e.to_string()))?;
                        buffer = b;
                        if over {
                            State::Over
                        } else {
                            State::Walking(walk)
                        }
                    }
                    State::Over => return Ok(None),
                };
            }
            match buffer.pop_front() {
                Some(Err(e)) => Err(e),
                Some(Ok(meta)) => Ok(Some((meta, (state, buffer)))),
                None => Ok(None),
            }
        },
    )
    .boxed()
}

/// Reads of at most this many bytes in all are made on the caller's thread (see [`read_inline`]).
///
/// Larger reads still go to tokio's blocking pool: there the copy overlaps the decoding of what came before
/// (TPC-H q17, whose row filters read `lineitem` in pieces of up to a few MB, was 20% slower with 1 MiB here;
/// at 64 or 256 KiB no slower).
const INLINE_READ_BYTES: u64 = 256 << 10;

/// `ranges` of the file at `path`, read on the caller's thread, with the file's metadata; `None` for anything
/// but a plain read of existing bytes (a missing file, a folder, a range past the end), which the caller then
/// leaves to `LocalFileSystem` for its own answer and error.
///
/// `LocalFileSystem` hands every read to tokio's blocking pool, twice for a ranged GET (open, then read): a
/// Parquet footer or a small column chunk from the page cache takes microseconds, less than the hops. A
/// one-month web-log query opens 31 files, three reads each.
fn read_inline(
    path: &std::path::Path,
    ranges: &[Range<u64>],
) -> Option<(Metadata, Vec<bytes::Bytes>)> {
    let file = fs::File::open(path).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    let mut parts = Vec::with_capacity(ranges.len());
    for r in ranges {
        if r.start > r.end || r.end > metadata.len() {
            return None;
        }
        let mut buf = vec![0u8; (r.end - r.start) as usize];
        read_exact_at(&file, &mut buf, r.start).ok()?;
        parts.push(bytes::Bytes::from(buf));
    }
    Some((metadata, parts))
}

#[cfg(unix)]
fn read_exact_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(not(unix))]
fn read_exact_at(file: &fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

impl LocalFiles {
    /// A ranged GET of at most [`INLINE_READ_BYTES`], read on the caller's thread; `None` for anything else
    /// (a whole file, a HEAD, an unmet precondition, an error), which `LocalFileSystem` answers.
    fn get_small(&self, location: &Path, options: &GetOptions) -> Option<GetResult> {
        if options.head {
            return None;
        }
        // The range's end needs the file's size for a suffix or an offset: only bounded ranges here. An empty
        // or inverted range is an error, `LocalFileSystem`'s; past the end, `read_inline` declines it.
        let object_store::GetRange::Bounded(range) = options.range.as_ref()? else {
            return None;
        };
        if range.start >= range.end || range.end - range.start > INLINE_READ_BYTES {
            return None;
        }
        let path = self.inner.path_to_filesystem(location).ok()?;
        let (metadata, mut parts) = read_inline(&path, std::slice::from_ref(range))?;
        let meta = object_meta(location.clone(), &metadata);
        options.check_preconditions(&meta).ok()?;
        let bytes = parts.pop()?;
        Some(GetResult {
            payload: object_store::GetResultPayload::Stream(
                stream::once(async move { Ok(bytes) }).boxed(),
            ),
            attributes: Default::default(),
            range: range.clone(),
            meta,
        })
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for LocalFiles {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if let Some(result) = self.get_small(location, &options) {
            return Ok(result);
        }
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        if total <= INLINE_READ_BYTES
            && let Ok(path) = self.inner.path_to_filesystem(location)
            && let Some((_, parts)) = read_inline(&path, ranges)
        {
            return Ok(parts);
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        list_below(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;

    async fn both(prefix: Option<&Path>) -> (Result<Vec<ObjectMeta>>, Result<Vec<ObjectMeta>>) {
        let sorted = |mut v: Vec<ObjectMeta>| {
            v.sort_by(|a, b| a.location.cmp(&b.location));
            v
        };
        let ours = LocalFiles::default()
            .list(prefix)
            .try_collect()
            .await
            .map(sorted);
        let theirs = LocalFileSystem::new()
            .list(prefix)
            .try_collect()
            .await
            .map(sorted);
        (ours, theirs)
    }

    /// A tree with the cases `LocalFileSystem` treats specially: odd names, empty folders and files, upload
    /// leftovers, symlinks to files and folders, a broken symlink.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for folder in [
            "t/year=2024/month=1",
            "t/year=2024/month=2",
            "t/empty",
            "t/a b%20c/ü",
            "other",
        ] {
            fs::create_dir_all(root.join(folder)).unwrap();
        }
        for (file, body) in [
            ("t/year=2024/month=1/part-0.parquet", "x".repeat(10)),
            ("t/year=2024/month=2/part-0.parquet", "y".repeat(20)),
            ("t/year=2024/month=2/_SUCCESS", String::new()),
            ("t/year=2024/month=2/.hidden", "h".into()),
            ("t/a b%20c/ü/100% done.csv", "a,b\n1,2\n".into()),
            ("t/upload#12", "partial".into()),
            ("t/name#v2", "kept".into()),
            ("other/linked.csv", "l\n".into()),
        ] {
            fs::write(root.join(file), body).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(root.join("other/linked.csv"), root.join("t/link.csv")).unwrap();
            symlink(root.join("other"), root.join("t/other-folder")).unwrap();
            symlink(root.join("nowhere"), root.join("t/broken")).unwrap();
            // Not a file: skipped, and the walk goes on past it.
            for folder in [
                "t",
                "t/year=2024/month=1",
                "t/year=2024/month=2",
                "t/a b%20c/ü",
                "other",
            ] {
                std::os::unix::net::UnixListener::bind(root.join(folder).join("a.sock")).unwrap();
            }
        }
        dir
    }

    #[tokio::test]
    async fn lists_what_local_file_system_lists() {
        let dir = tree();
        let at = |rel: &str| Path::from_absolute_path(dir.path().join(rel)).unwrap();
        for prefix in [
            at("t"),
            at("t/year=2024"),
            at("t/year=2024/month=2"),
            at("t/a b%20c"),
            at("t/empty"),
            at("t/missing"),
            at("t/year=2024/month=1/part-0.parquet"),
        ] {
            let (ours, theirs) = both(Some(&prefix)).await;
            assert_eq!(ours.unwrap(), theirs.unwrap(), "below `{prefix}`");
        }
        let (ours, _) = both(Some(&at("t"))).await;
        assert_eq!(
            ours.unwrap().len(),
            8,
            "every file but the upload leftover and the broken link"
        );
    }

    /// A GET's outcome as compared: bytes, range and metadata, or the error's kind and text.
    async fn got(store: &dyn ObjectStore, at: &Path, options: GetOptions) -> String {
        match store.get_opts(at, options).await {
            Ok(r) => {
                let (range, meta) = (r.range.clone(), r.meta.clone());
                match r.bytes().await {
                    Ok(b) => format!("{range:?} {meta:?} {b:?}"),
                    Err(e) => format!("read error: {e:?}"),
                }
            }
            Err(e) => format!("error: {e:?}"),
        }
    }

    #[tokio::test]
    async fn reads_what_local_file_system_reads() {
        let dir = tree();
        let big: Vec<u8> = (0..(INLINE_READ_BYTES as usize + 1000))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        fs::write(dir.path().join("t/big.bin"), &big).unwrap();
        let at = |rel: &str| Path::from_absolute_path(dir.path().join(rel)).unwrap();
        let (ours, theirs) = (LocalFiles::default(), LocalFileSystem::new());
        let meta = theirs.head(&at("t/big.bin")).await.unwrap();
        let n = INLINE_READ_BYTES;
        for file in [
            "t/big.bin",
            "t/year=2024/month=1/part-0.parquet",
            "t/a b%20c/ü/100% done.csv",
            "t/link.csv",
            "t/year=2024/month=2/_SUCCESS",
            "t/missing.bin",
            "t/empty",
            "t/broken",
        ] {
            let ranges: [Range<u64>; 8] =
                [0..4, 3..10, 0..0, 5..40, 8..8, 0..n, 1..n + 1, 100..n + 900];
            for r in &ranges {
                for options in [
                    GetOptions::new().with_range(Some(r.clone())),
                    GetOptions::new().with_range(Some(object_store::GetRange::Suffix(3))),
                    GetOptions::new().with_range(Some(object_store::GetRange::Offset(2))),
                    GetOptions::new(),
                    GetOptions {
                        if_match: Some("not-the-etag".into()),
                        range: Some(r.clone().into()),
                        ..Default::default()
                    },
                    GetOptions {
                        if_none_match: meta.e_tag.clone(),
                        range: Some(r.clone().into()),
                        ..Default::default()
                    },
                    GetOptions {
                        head: true,
                        range: Some(r.clone().into()),
                        ..Default::default()
                    },
                ] {
                    let label = format!("{file} {options:?}");
                    assert_eq!(
                        got(&ours, &at(file), options.clone()).await,
                        got(&theirs, &at(file), options).await,
                        "{label}"
                    );
                }
            }
            let ranges = ranges.to_vec();
            for set in [&ranges[..2], &ranges[2..4], &ranges[..], &ranges[5..6], &[]] {
                let a = ours
                    .get_ranges(&at(file), set)
                    .await
                    .map_err(|e| format!("{e:?}"));
                let b = theirs
                    .get_ranges(&at(file), set)
                    .await
                    .map_err(|e| format!("{e:?}"));
                assert_eq!(a, b, "{file} {set:?}");
            }
        }
        // The small reads were made here: a part of the big file, whole, with its metadata.
        let r = ours
            .get_opts(&at("t/big.bin"), GetOptions::new().with_range(Some(10..20)))
            .await
            .unwrap();
        assert!(matches!(
            r.payload,
            object_store::GetResultPayload::Stream(_)
        ));
        assert_eq!(r.meta, meta);
        assert_eq!(r.bytes().await.unwrap(), &big[10..20]);
    }

    #[test]
    fn lists_without_a_runtime() {
        let dir = tree();
        let prefix = Path::from_absolute_path(dir.path().join("t/year=2024")).unwrap();
        let listed: Vec<ObjectMeta> =
            futures::executor::block_on_stream(LocalFiles::default().list(Some(&prefix)))
                .collect::<Result<_>>()
                .unwrap();
        assert_eq!(listed.len(), 4);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlink_loop_is_an_error_naming_it() {
        let dir = tree();
        std::os::unix::fs::symlink(dir.path().join("t"), dir.path().join("t/empty/up")).unwrap();
        let prefix = Path::from_absolute_path(dir.path().join("t")).unwrap();
        let (ours, theirs) = both(Some(&prefix)).await;
        let e = ours.unwrap_err().to_string();
        assert!(e.contains("empty/up") && e.contains("loops"), "{e}");
        assert!(theirs.is_err(), "LocalFileSystem fails on a loop too");
    }

    #[tokio::test]
    async fn many_files_stream_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..(CHUNK + 5) {
            fs::write(dir.path().join(format!("f{i}")), "1").unwrap();
        }
        let prefix = Path::from_absolute_path(dir.path()).unwrap();
        let (ours, theirs) = both(Some(&prefix)).await;
        assert_eq!(ours.unwrap(), theirs.unwrap());
    }
}
