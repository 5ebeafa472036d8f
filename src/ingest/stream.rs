//! A live delivery stream: puts go to the log (synced) and the buffer; a buffer is delivered when it holds
//! the stream's size or is as old as its interval (Firehose's `BufferingHints`: whichever comes first), or
//! when the stream is flushed (`owl ingest` at the end of its input, DeleteDeliveryStream, the server
//! stopping). [`Streams`] keeps a registry's streams (`<registry>/.firehose/`) and recovers their logs at
//! start.

use super::deliver::{self, Target};
use super::wal::{self, Record, Segment};
use super::{StreamConfig, check_stream_name};
use crate::engine::Engine;
use crate::error::{Error, Result};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Deliveries of one stream under way at once; a put that fills a buffer past them waits (back-pressure).
const IN_FLIGHT: usize = 2;

/// What a stream has done since it was opened in this process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Records acknowledged.
    pub received: u64,
    pub received_bytes: u64,
    /// Records written to the table's files.
    pub delivered: u64,
    /// Records written to the error prefix.
    pub failed: u64,
    /// Data files written.
    pub files: u64,
    /// Files of records that do not fit, written under the error prefix.
    pub error_files: u64,
    pub bytes_written: u64,
    /// Partitions registered, as folders below the table's location.
    pub partitions_added: Vec<String>,
    /// Deliveries that failed (the newest last); a stream with a log tries them again.
    pub errors: Vec<String>,
    /// Buffers waiting or being delivered.
    pub pending: usize,
}

struct Buffer {
    id: Option<String>,
    segment: Option<Segment>,
    records: Vec<Record>,
    bytes: usize,
    opened: Option<Instant>,
}

/// A buffer closed for delivery.
struct Sealed {
    id: String,
    records: Arc<Vec<Record>>,
    log: Option<PathBuf>,
}

pub struct Stream {
    engine: Engine,
    pub config: StreamConfig,
    /// The log's folder (None: no log, as for `owl ingest`, whose acknowledgement is its exit).
    log_dir: Option<PathBuf>,
    /// Whether a failed delivery is tried again (a logged stream) or reported (`owl ingest`).
    retry: bool,
    buffer: Mutex<Buffer>,
    slots: Arc<tokio::sync::Semaphore>,
    stats: Mutex<Stats>,
    settled: tokio::sync::Notify,
    /// Puts are refused (the stream is being deleted, or the server stops).
    closed: AtomicBool,
    /// The server stops: deliveries are not tried again (their records stay in the log for the next start).
    stopping: AtomicBool,
    /// The lock that makes this process the log's only reader and writer (None: no log).
    _owner: Option<std::fs::File>,
}

/// How long DeleteDeliveryStream waits for the last deliveries (with their retries) before it answers that the
/// stream still holds records it cannot deliver.
const DELETE_PATIENCE: Duration = Duration::from_secs(10);

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Stream {
    /// Open a stream over `config`'s table (checked now), delivering what its log still holds, and start its
    /// timer.
    pub async fn open(
        engine: Engine,
        config: StreamConfig,
        log_dir: Option<PathBuf>,
    ) -> Result<Arc<Stream>> {
        Target::resolve(&engine, &config)?;
        let owner = match &log_dir {
            Some(dir) => Some(own_log(dir, &config.name)?),
            None => None,
        };
        let stream = Arc::new(Stream {
            engine,
            retry: log_dir.is_some(),
            log_dir,
            config,
            buffer: Mutex::new(Buffer {
                id: None,
                segment: None,
                records: vec![],
                bytes: 0,
                opened: None,
            }),
            slots: Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)),
            stats: Mutex::new(Stats::default()),
            settled: tokio::sync::Notify::new(),
            closed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            _owner: owner,
        });
        stream.recover().await?;
        let weak = Arc::downgrade(&stream);
        let tick = Duration::from_millis((stream.config.interval_s * 1000 / 4).clamp(50, 1000));
        tokio::spawn(timer(weak, tick));
        Ok(stream)
    }

    /// Deliver the segments a crash (or a failed delivery) left in the log.
    async fn recover(self: &Arc<Self>) -> Result<()> {
        let Some(dir) = &self.log_dir else {
            return Ok(());
        };
        let left = wal::segments(dir).map_err(|source| Error::Io {
            context: format!("listing the log `{}`", dir.display()),
            source,
        })?;
        for (id, path) in left {
            let records = wal::read(&path).map_err(|source| Error::Io {
                context: format!("reading the log segment `{}`", path.display()),
                source,
            })?;
            if records.is_empty() {
                let _ = wal::remove(&path);
                continue;
            }
            self.deliver_later(Sealed {
                id,
                records: Arc::new(records),
                log: Some(path),
            })
            .await;
        }
        Ok(())
    }

    /// Where the stream's failed records go now (the error prefix's fixed part), as a user names it.
    pub fn error_location(&self) -> Result<String> {
        let target = Target::resolve(&self.engine, &self.config)?;
        let fixed = self
            .config
            .error_template()
            .split("!{")
            .next()
            .unwrap_or("");
        Ok(target.shown(fixed))
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Buffer `data` (each one record): logged and synced first when the stream has a log. Returns a record
    /// id for each. A buffer this fills is delivered in the background.
    pub async fn put(self: &Arc<Self>, data: Vec<Bytes>) -> Result<Vec<String>> {
        let me = Arc::clone(self);
        let (ids, sealed) = tokio::task::spawn_blocking(move || me.append(data))
            .await
            .map_err(|e| Error::internal("buffering records", e))??;
        if let Some(s) = sealed {
            self.deliver_later(s).await;
        }
        Ok(ids)
    }

    fn append(&self, data: Vec<Bytes>) -> Result<(Vec<String>, Option<Sealed>)> {
        let now = chrono::Utc::now().timestamp_millis();
        let n = data.len();
        let bytes: usize = data.iter().map(Bytes::len).sum();
        let records: Vec<Record> = data
            .into_iter()
            .map(|data| Record {
                arrival_ms: now,
                data,
            })
            .collect();
        let mut b = lock(&self.buffer);
        // Checked under the buffer's lock: a put either lands in the buffer that closing seals, or is refused.
        if self.closed.load(Ordering::SeqCst) {
            return Err(Error::Query(format!(
                "the delivery stream `{}` is being deleted",
                self.config.name
            )));
        }
        let id = match &b.id {
            Some(id) => id.clone(),
            None => {
                let id = format!(
                    "{now:013}-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                if let Some(dir) = &self.log_dir {
                    b.segment = Some(Segment::create(dir, &id).map_err(|source| Error::Io {
                        context: format!("starting a log segment in `{}`", dir.display()),
                        source,
                    })?);
                }
                b.id = Some(id.clone());
                b.opened = Some(Instant::now());
                id
            }
        };
        if let Some(segment) = &mut b.segment {
            segment.append(&records).map_err(|source| Error::Io {
                context: format!("logging records in `{}`", segment.path().display()),
                source,
            })?;
        }
        let start = b.records.len();
        let ids = (start..start + n).map(|i| format!("{id}-{i:07}")).collect();
        b.records.extend(records);
        b.bytes += bytes;
        {
            let mut s = lock(&self.stats);
            s.received += n as u64;
            s.received_bytes += bytes as u64;
        }
        let full = b.bytes as u64 >= self.config.size_mb << 20;
        Ok((ids, if full { seal(&mut b) } else { None }))
    }

    /// Deliver `sealed` in the background, once a slot is free.
    async fn deliver_later(self: &Arc<Self>, sealed: Sealed) {
        lock(&self.stats).pending += 1;
        let slot = Arc::clone(&self.slots).acquire_owned().await;
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let _slot = slot;
            let mut wait = Duration::from_millis(500);
            loop {
                match me.deliver(&sealed).await {
                    Ok(()) => break,
                    Err(e) => {
                        me.note_error(format!("{}: {e}", sealed.id));
                        if !me.retry || me.stopping.load(Ordering::SeqCst) {
                            break;
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(30));
                    }
                }
            }
            lock(&me.stats).pending -= 1;
            me.settled.notify_waiters();
        });
    }

    fn note_error(&self, e: String) {
        let mut s = lock(&self.stats);
        s.errors.push(e);
        let drop_n = s.errors.len().saturating_sub(20);
        s.errors.drain(..drop_n);
    }

    async fn deliver(&self, sealed: &Sealed) -> Result<()> {
        let target = Target::resolve(&self.engine, &self.config)?;
        let records = Arc::clone(&sealed.records);
        let (name, id) = (self.config.name.clone(), sealed.id.clone());
        let (delivery, target) = tokio::task::spawn_blocking(move || {
            deliver::convert(&target, &name, &id, &records).map(|d| (d, target))
        })
        .await
        .map_err(|e| Error::internal("converting records", e))??;
        let added = deliver::store(&self.engine, &target, &delivery).await?;
        if let Some(log) = &sealed.log {
            wal::remove(log).map_err(|source| Error::Io {
                context: format!("removing the delivered log segment `{}`", log.display()),
                source,
            })?;
        }
        let mut s = lock(&self.stats);
        s.delivered += delivery.delivered;
        s.failed += delivery.failed;
        s.files += delivery.data_files;
        s.error_files += delivery.files.len() as u64 - delivery.data_files;
        s.bytes_written += delivery
            .files
            .iter()
            .map(|(_, b)| b.len() as u64)
            .sum::<u64>();
        s.partitions_added.extend(added);
        Ok(())
    }

    /// Deliver what is buffered now, and wait until every delivery under way has finished (or failed:
    /// `stats().errors`).
    pub async fn flush(self: &Arc<Self>) {
        self.flush_within(Duration::from_secs(60)).await
    }

    /// `flush`, leaving a logged stream's failing deliveries to their retries after `patience`.
    async fn flush_within(self: &Arc<Self>, patience: Duration) {
        let sealed = seal(&mut lock(&self.buffer));
        if let Some(s) = sealed {
            self.deliver_later(s).await;
        }
        let deadline = Instant::now() + patience;
        loop {
            let settled = self.settled.notified();
            if lock(&self.stats).pending == 0 {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.retry && left.is_zero() {
                return;
            }
            let wait = if self.retry { left } else { patience };
            let _ = tokio::time::timeout(wait, settled).await;
        }
    }

    /// Seal the buffer when it is as old as the interval.
    async fn tick(self: &Arc<Self>) {
        let due = {
            let mut b = lock(&self.buffer);
            let old = b
                .opened
                .is_some_and(|t| t.elapsed() >= Duration::from_secs(self.config.interval_s));
            if old { seal(&mut b) } else { None }
        };
        if let Some(s) = due {
            self.deliver_later(s).await;
        }
    }

    /// Stop taking records (a put answers that the stream is being deleted) and deliver the buffer.
    pub async fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::SeqCst);
        self.flush().await;
    }

    /// Take records again (a delete that could not deliver everything).
    fn reopen(&self) {
        self.closed.store(false, Ordering::SeqCst);
    }

    /// The server stops: no more records, the buffer delivered once, failing deliveries not tried again (their
    /// records stay in the log for the next start).
    pub async fn stop(self: &Arc<Self>) {
        self.stopping.store(true, Ordering::SeqCst);
        self.close().await;
    }
}

/// The lock on stream `name`'s log folder `dir`: an error naming the other process's hold when it has it.
fn own_log(dir: &std::path::Path, name: &str) -> Result<std::fs::File> {
    match wal::own(dir) {
        Ok(Some(file)) => Ok(file),
        Ok(None) => Err(Error::Query(format!(
            "delivery stream `{name}` is run by another owl process on this registry (it holds the lock on \
             `{}`): a stream has one server",
            dir.join(".owner").display()
        ))),
        Err(source) => Err(Error::Io {
            context: format!("locking the log `{}`", dir.display()),
            source,
        }),
    }
}

/// Take the buffer's records (None when it holds none).
fn seal(b: &mut Buffer) -> Option<Sealed> {
    let id = b.id.take()?;
    let segment = b.segment.take();
    b.bytes = 0;
    b.opened = None;
    Some(Sealed {
        id,
        records: Arc::new(std::mem::take(&mut b.records)),
        log: segment.map(|s| s.path().to_path_buf()),
    })
}

async fn timer(stream: Weak<Stream>, tick: Duration) {
    loop {
        tokio::time::sleep(tick).await;
        let Some(s) = stream.upgrade() else { return };
        if s.stopping.load(Ordering::SeqCst) {
            return;
        }
        s.tick().await;
    }
}

/// What DeleteDeliveryStream did.
#[derive(Debug, PartialEq, Eq)]
pub enum Deleted {
    Gone,
    NotFound,
    /// Not deleted: records it could not deliver (the message says why).
    Undelivered(String),
}

/// The folder of a registry's delivery streams.
pub const FOLDER: &str = ".firehose";

/// A registry's delivery streams, as `owl serve` runs them.
#[derive(Debug)]
pub struct Streams {
    engine: Engine,
    dir: PathBuf,
    open: tokio::sync::Mutex<BTreeMap<String, Arc<Stream>>>,
    /// Why each stream that is not running did not open.
    down: Mutex<BTreeMap<String, String>>,
}

impl Streams {
    /// The streams kept beside `engine`'s registry, each opened (its log delivered). A stream whose table is
    /// gone or refused is still listed, and its records stay in its log until it is deleted.
    pub async fn open(engine: Engine) -> Result<Streams> {
        let dir = engine.registry().root().join(FOLDER);
        let streams = Streams {
            engine,
            dir,
            open: tokio::sync::Mutex::new(BTreeMap::new()),
            down: Mutex::new(BTreeMap::new()),
        };
        let mut open = streams.open.lock().await;
        for config in streams.configs()? {
            match Stream::open(
                streams.engine.clone(),
                config.clone(),
                Some(streams.log_dir(&config.name)),
            )
            .await
            {
                Ok(s) => {
                    open.insert(config.name.clone(), s);
                }
                Err(e) => {
                    tracing_note(&format!(
                        "delivery stream `{}` is not running: {e}",
                        config.name
                    ));
                    lock(&streams.down).insert(config.name.clone(), e.to_string());
                }
            }
        }
        drop(open);
        Ok(streams)
    }

    fn log_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn config_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// Every stream's settings, by name.
    pub fn configs(&self) -> Result<Vec<StreamConfig>> {
        let mut out = vec![];
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(source) => {
                return Err(Error::Io {
                    context: format!("listing `{}`", self.dir.display()),
                    source,
                });
            }
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(stream) = name.strip_suffix(".json")
                && !name.starts_with('.')
                && let Some(c) =
                    crate::catalog::store::read_json::<StreamConfig>(&e.path(), "delivery stream")?
                && c.name == stream
            {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn config(&self, name: &str) -> Result<Option<StreamConfig>> {
        if check_stream_name(name).is_err() || name.starts_with('.') {
            return Ok(None);
        }
        crate::catalog::store::read_json(&self.config_path(name), "delivery stream")
    }

    /// Create and open a stream. Err(None): one of that name exists.
    pub async fn create(&self, config: StreamConfig) -> std::result::Result<(), Option<Error>> {
        check_stream_name(&config.name).map_err(Some)?;
        if config.name.starts_with('.') {
            return Err(Some(Error::Query(format!(
                "the delivery stream name `{}` may not start with `.`",
                config.name
            ))));
        }
        let mut open = self.open.lock().await;
        if open.contains_key(&config.name) || self.config_path(&config.name).exists() {
            return Err(None);
        }
        let stream = Stream::open(
            self.engine.clone(),
            config.clone(),
            Some(self.log_dir(&config.name)),
        )
        .await
        .map_err(Some)?;
        crate::catalog::store::write_json_atomic(&self.config_path(&config.name), &config)
            .map_err(Some)?;
        open.insert(config.name.clone(), stream);
        Ok(())
    }

    /// The running stream `name` (None: no such stream, or it is not running).
    pub async fn get(&self, name: &str) -> Option<Arc<Stream>> {
        self.open.lock().await.get(name).cloned()
    }

    /// Why stream `name` is not running, when it failed to open as the server started.
    pub fn why_down(&self, name: &str) -> Option<String> {
        lock(&self.down).get(name).cloned()
    }

    /// Deliver what `name` holds and delete it. A stream whose last records cannot be delivered (within
    /// `DELETE_PATIENCE`) is not deleted: it takes records again and goes on trying.
    pub async fn delete(&self, name: &str) -> Result<Deleted> {
        let config = self.config(name)?;
        // Out of the map while it closes, so that other streams' calls do not wait on this one.
        let stream = self.open.lock().await.remove(name);
        if stream.is_none() && config.is_none() {
            return Ok(Deleted::NotFound);
        }
        // A stream this process does not run may be another's: its log is only removed under the lock.
        let _owner = match &stream {
            Some(_) => None,
            None if self.log_dir(name).exists() => match own_log(&self.log_dir(name), name) {
                Ok(file) => Some(file),
                Err(e) => return Ok(Deleted::Undelivered(e.to_string())),
            },
            None => None,
        };
        if let Some(s) = &stream {
            s.closed.store(true, Ordering::SeqCst);
            s.flush_within(DELETE_PATIENCE).await;
            if lock(&s.stats).pending > 0 {
                s.reopen();
                self.open
                    .lock()
                    .await
                    .insert(name.to_string(), Arc::clone(s));
                return Ok(Deleted::Undelivered(format!(
                    "delivery stream `{name}` still has records it cannot deliver ({}): it keeps them in its log, \
                     takes records again and goes on trying; delete it once they are delivered",
                    s.stats().errors.last().cloned().unwrap_or_default()
                )));
            }
        }
        let path = self.config_path(name);
        std::fs::remove_file(&path).map_err(|source| Error::Io {
            context: format!("removing `{}`", path.display()),
            source,
        })?;
        let _ = std::fs::remove_dir_all(self.log_dir(name));
        lock(&self.down).remove(name);
        Ok(Deleted::Gone)
    }

    /// Deliver every stream's buffer (the server is stopping).
    pub async fn shut_down(&self) {
        let open: Vec<Arc<Stream>> = self.open.lock().await.values().cloned().collect();
        for s in open {
            s.stop().await;
        }
    }
}

/// Something a background part of the server notices: on stderr, as the server's other notes.
#[allow(clippy::print_stderr)]
fn tracing_note(text: &str) {
    eprintln!("owl serve: {text}");
}
