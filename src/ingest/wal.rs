//! A delivery stream's write-ahead log: one segment file per buffer (`<registry>/.firehose/<stream>/<id>.wal`),
//! a frame per record (length, CRC-32 of the record, arrival time, the bytes). A put is appended and synced
//! before it is acknowledged; the segment is deleted once its files are written and registered. At start, a
//! segment still there is delivered again (`deliver` makes the same files twice over), and a frame cut short by
//! a crash in the middle of an append (never acknowledged) ends the segment.

use bytes::Bytes;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// length (u32), CRC-32 (u32), arrival in epoch milliseconds (i64), little-endian.
const HEADER: usize = 16;

/// A record as it arrived.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub arrival_ms: i64,
    pub data: Bytes,
}

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct Segment {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Segment {
    /// A new, empty segment in `dir` (created when missing), the folder synced so that it survives a crash.
    pub fn create(dir: &Path, id: &str) -> io::Result<Segment> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{id}.wal"));
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        sync_dir(dir);
        Ok(Segment { path, file, len: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `records` in one write and sync them. On failure the segment is cut back to what it held, so
    /// that a later append is not behind a broken frame.
    pub fn append(&mut self, records: &[Record]) -> io::Result<()> {
        let mut buf =
            Vec::with_capacity(records.iter().map(|r| HEADER + r.data.len()).sum::<usize>());
        for r in records {
            let len = u32::try_from(r.data.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a record over 4 GiB"))?;
            buf.extend_from_slice(&len.to_le_bytes());
            buf.extend_from_slice(&crc32(&r.data).to_le_bytes());
            buf.extend_from_slice(&r.arrival_ms.to_le_bytes());
            buf.extend_from_slice(&r.data);
        }
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(io::SeekFrom::End(0));
                Err(e)
            }
        }
    }
}

/// The records of the segment at `path`, up to the first frame that is cut short or fails its CRC.
pub(crate) fn read(path: &Path) -> io::Result<Vec<Record>> {
    let mut bytes = vec![];
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut out = vec![];
    let mut at = 0;
    while at + HEADER <= bytes.len() {
        let word =
            |i: usize| -> [u8; 4] { bytes[at + i..at + i + 4].try_into().unwrap_or_default() };
        let len = u32::from_le_bytes(word(0)) as usize;
        let crc = u32::from_le_bytes(word(4));
        let arrival_ms = i64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap_or_default());
        let start = at + HEADER;
        let Some(data) = bytes.get(start..start + len) else {
            break;
        };
        if crc32(data) != crc {
            break;
        }
        out.push(Record {
            arrival_ms,
            data: Bytes::copy_from_slice(data),
        });
        at = start + len;
    }
    Ok(out)
}

/// The segments left in `dir` (none when it does not exist), oldest first.
pub(crate) fn segments(dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = vec![];
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(".wal") {
            out.push((id.to_string(), e.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The log's owner: an exclusive advisory lock on `<dir>/.owner`, held while a process runs the stream (and
/// released when it dies). None: another process holds it.
pub(crate) fn own(dir: &Path) -> io::Result<Option<std::fs::File>> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".owner"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Remove a delivered segment (and sync the folder, so that it does not come back after a crash to be
/// delivered again: harmless, but work).
pub(crate) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// CRC-32 (IEEE), with flate2's (the gzip codec's own).
fn crc32(data: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(data);
    c.sum()
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ms: i64, s: &str) -> Record {
        Record {
            arrival_ms: ms,
            data: Bytes::from(s.to_string()),
        }
    }

    #[test]
    fn appended_records_read_back_and_a_torn_tail_ends_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Segment::create(dir.path(), "0001-a").unwrap();
        s.append(&[rec(1, "{\"a\":1}"), rec(2, "")]).unwrap();
        s.append(&[rec(3, "{\"a\":3}")]).unwrap();
        let path = s.path().to_path_buf();
        assert_eq!(
            read(&path).unwrap(),
            vec![rec(1, "{\"a\":1}"), rec(2, ""), rec(3, "{\"a\":3}")]
        );
        // A crash in the middle of the next append: half a frame.
        let full = std::fs::read(&path).unwrap();
        let mut torn = full.clone();
        torn.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &torn).unwrap();
        assert_eq!(read(&path).unwrap().len(), 3);
        // A flipped byte in the last record's bytes: its CRC fails, the records before it stand.
        let mut flipped = full;
        let n = flipped.len();
        flipped[n - 2] ^= 0xff;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(read(&path).unwrap().len(), 2);
        assert_eq!(segments(dir.path()).unwrap()[0].0, "0001-a");
        remove(&path).unwrap();
        assert!(segments(dir.path()).unwrap().is_empty());
        assert!(segments(&dir.path().join("none")).unwrap().is_empty());
    }
}
