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
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
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
