//! The transaction log, in ZooKeeper's `FileTxnLog` format.
//!
//! ```text
//! dataLogDir/version-2/log.<hex zxid of the first txn in the file>
//!
//! FileHeader { int magic = 0x5A4B4C47 "ZKLG"; int version = 2; long dbid = 0 }
//! repeat:
//!     long checksum        Adler-32 of payload, as an unsigned value in a long
//!     int  len             payload length
//!     byte payload[len]    TxnHeader + txn record [+ TxnDigest]
//!     byte 0x42 'B'        end of record
//! zero padding to the end of the file (preallocation)
//! ```
//!
//! Preallocation mirrors `FilePadding`: whenever the write position comes within 4 KiB of the
//! file's size, the file grows by `preAllocSize` (one zero byte written at the new end).
//!
//! Reading: a length of 0 (padding) or the end of the file ends a file. A damaged record is a
//! *torn tail* only if it is the last thing in the last file (only zeros after it): it is cut off
//! with a warning, since it can only be a write that was never acknowledged. Damage anywhere
//! else is corruption, and recovery refuses to start, naming the file and offset.

use super::checksum::Adler32;
use super::StorageError;
use crate::ids::Zxid;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const TXNLOG_MAGIC: i32 = 0x5A4B_4C47;
pub const VERSION: i32 = 2;
pub const FILE_HEADER_LEN: u64 = 16;
const EOR: u8 = 0x42;
/// Grow the file when the write position is this close to its end (`FilePadding`).
const PAD_MARGIN: u64 = 4096;
/// A record longer than this is damage, not data (ZooKeeper's check is jute.maxbuffer-based;
/// txns are bounded by the client frame limit, far below this).
const RECORD_LEN_MAX: usize = 256 * 1024 * 1024;

/// `Util.makeLogName`.
pub fn log_name(zxid: Zxid) -> String {
    format!("log.{zxid:x}")
}

/// The zxid in a `log.<hex>` or `snapshot.<hex>` name.
pub fn zxid_of_name(name: &str, prefix: &str) -> Option<Zxid> {
    let hex = name.strip_prefix(prefix)?.strip_prefix('.')?;
    let hex = hex.split('.').next()?; // snapshot.<hex>.gz and the like
    u64::from_str_radix(hex, 16).ok().map(|z| z as Zxid)
}

/// `FilePadding.calculateFileSizeWithPadding`.
pub fn padded_size(position: u64, file_size: u64, prealloc: u64) -> u64 {
    if prealloc == 0 || position + PAD_MARGIN < file_size {
        return file_size;
    }
    if position > file_size {
        let s = position + prealloc;
        s - s % prealloc
    } else {
        file_size + prealloc
    }
}

/// Log files in `dir`, sorted by their first zxid.
pub fn list_logs(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    list_named(dir, "log")
}

/// Files in `dir` named `<prefix>.<hex zxid>[.…]`, sorted by zxid; a missing dir holds none.
pub fn list_named(dir: &Path, prefix: &str) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    for e in entries {
        let e = e.map_err(|err| StorageError::io(dir, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(z) = zxid_of_name(&name, prefix) {
            out.push((z, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

struct Current {
    file: File,
    path: PathBuf,
    /// Bytes written to the file so far (appends are buffered in `pending` until commit).
    position: u64,
    /// The file's size including preallocated padding.
    size: u64,
    /// `position` at the last successful sync: everything before it is durable.
    synced: u64,
}

/// The appending side of the log. One writer: the commit thread.
pub struct TxnLog {
    dir: PathBuf,
    prealloc: u64,
    force_sync: bool,
    current: Option<Current>,
    /// Records appended since the last commit, written with one write(2) at commit.
    pending: Vec<u8>,
    last_zxid: Zxid,
    /// The last txn made durable by a successful commit.
    synced_zxid: Zxid,
    /// Txns appended to the current file.
    pub txns_in_file: u64,
}

impl TxnLog {
    /// Opens the log directory (`dataLogDir/version-2`), creating it if needed. Appends start a
    /// new file: recovery has already cut any torn tail from the old ones.
    pub fn open(dir: &Path, prealloc_bytes: u64, force_sync: bool, last_zxid: Zxid) -> Result<TxnLog, StorageError> {
        fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        Ok(TxnLog {
            dir: dir.to_path_buf(),
            prealloc: prealloc_bytes,
            force_sync,
            current: None,
            pending: Vec::with_capacity(64 * 1024),
            last_zxid,
            synced_zxid: last_zxid,
            txns_in_file: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn last_zxid(&self) -> Zxid {
        self.last_zxid
    }

    /// Queues one txn (its serialized TxnHeader + record [+ digest]); it is durable after the
    /// next `commit`.
    pub fn append(&mut self, zxid: Zxid, payload: &[u8]) -> Result<(), StorageError> {
        assert!(zxid > self.last_zxid, "log appends go forward: 0x{zxid:x} after 0x{:x}", self.last_zxid);
        if self.current.is_none() {
            self.start_file(zxid)?;
        }
        let cur = self.current.as_mut().expect("started above");
        let position = cur.position + self.pending.len() as u64;
        let new_size = padded_size(position, cur.size, self.prealloc);
        if new_size != cur.size {
            cur.file.write_all_at(&[0], new_size - 1).map_err(|e| StorageError::io(&cur.path, e))?;
            cur.size = new_size;
        }
        self.pending.extend_from_slice(&(Adler32::of(payload) as i64).to_be_bytes());
        self.pending.extend_from_slice(&(payload.len() as i32).to_be_bytes());
        self.pending.extend_from_slice(payload);
        self.pending.push(EOR);
        self.last_zxid = zxid;
        self.txns_in_file += 1;
        Ok(())
    }

    fn start_file(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        let path = self.dir.join(log_name(zxid));
        let mut file =
            OpenOptions::new().create_new(true).write(true).open(&path).map_err(|e| StorageError::io(&path, e))?;
        let mut hdr = Vec::with_capacity(FILE_HEADER_LEN as usize);
        hdr.extend_from_slice(&TXNLOG_MAGIC.to_be_bytes());
        hdr.extend_from_slice(&VERSION.to_be_bytes());
        hdr.extend_from_slice(&0i64.to_be_bytes());
        file.write_all(&hdr).map_err(|e| StorageError::io(&path, e))?;
        // The new name must survive a crash as surely as the records in it.
        sync_dir(&self.dir)?;
        self.current =
            Some(Current { file, path, position: FILE_HEADER_LEN, size: FILE_HEADER_LEN, synced: FILE_HEADER_LEN });
        self.txns_in_file = 0;
        Ok(())
    }

    /// Writes what is queued and (with forceSync) fdatasyncs: after this, every appended txn is
    /// durable. Returns how long the sync took.
    pub fn commit(&mut self) -> Result<Duration, StorageError> {
        let Some(cur) = self.current.as_mut() else { return Ok(Duration::ZERO) };
        if !self.pending.is_empty() {
            cur.file.write_all(&self.pending).map_err(|e| StorageError::io(&cur.path, e))?;
            cur.position += self.pending.len() as u64;
            self.pending.clear();
        }
        let started = Instant::now();
        if self.force_sync {
            cur.file.sync_data().map_err(|e| StorageError::io(&cur.path, e))?;
        }
        cur.synced = cur.position;
        self.synced_zxid = self.last_zxid;
        Ok(started.elapsed())
    }

    /// After a failed append or commit: forgets every txn not made durable, cuts the file back to
    /// its last synced record (deleting it if it holds none) and closes it, so the next append
    /// starts a fresh file. The log then ends exactly at the last acknowledged txn.
    pub fn discard(&mut self) -> Result<(), StorageError> {
        self.pending.clear();
        self.last_zxid = self.synced_zxid;
        self.txns_in_file = 0;
        let Some(cur) = self.current.take() else { return Ok(()) };
        if cur.synced <= FILE_HEADER_LEN {
            drop(cur.file);
            fs::remove_file(&cur.path).map_err(|e| StorageError::io(&cur.path, e))?;
        } else {
            cur.file.set_len(cur.synced).map_err(|e| StorageError::io(&cur.path, e))?;
            cur.file.sync_all().map_err(|e| StorageError::io(&cur.path, e))?;
        }
        sync_dir(&self.dir)
    }

    /// Commits and closes the current file; the next append starts `log.<its zxid>`.
    pub fn roll(&mut self) -> Result<(), StorageError> {
        self.commit()?;
        self.current = None;
        self.txns_in_file = 0;
        Ok(())
    }

    /// Closes the current file and continues after `zxid` (a learner's log after TRUNC or SNAP):
    /// the next append starts a new file.
    pub fn restart_at(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        self.roll()?;
        self.last_zxid = zxid;
        self.synced_zxid = zxid;
        Ok(())
    }

    /// Bytes in the current file (for txnLogSizeLimitInKb).
    pub fn current_len(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.position) + self.pending.len() as u64
    }
}

pub fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError::io(dir, e))
}

/// One record read back from the log.
#[derive(Debug, Clone)]
pub struct Record {
    pub zxid: Zxid,
    pub payload: Vec<u8>,
}

/// What reading the log found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Records with zxid ≥ the requested start, in log order.
    pub records: Vec<Record>,
    /// A torn last record that was found (file, offset of the record): not replayed.
    pub torn_tail: Option<(PathBuf, u64)>,
}

/// Reads every record with zxid ≥ `from` from the logs in `dir`. Files wholly before `from` are
/// skipped (all files from the last one starting at or before `from` are read).
pub fn read_logs(dir: &Path, from: Zxid) -> Result<Scan, StorageError> {
    let files = list_logs(dir)?;
    let first = files.iter().rposition(|(z, _)| *z <= from).unwrap_or(0);
    let mut scan = Scan::default();
    let n = files.len();
    for (i, (_, path)) in files.iter().enumerate().skip(first) {
        let last_file = i + 1 == n;
        read_file(path, from, last_file, &mut scan)?;
    }
    Ok(scan)
}

fn read_file(path: &Path, from: Zxid, last_file: bool, scan: &mut Scan) -> Result<(), StorageError> {
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| StorageError::io(path, e))?;
    let corrupt = |offset: u64, what: String| StorageError::Corrupt { file: path.to_path_buf(), offset, what };
    if bytes.len() < FILE_HEADER_LEN as usize || bytes[..FILE_HEADER_LEN as usize].iter().all(|&b| b == 0) {
        // A file created by a crash before its header reached the disk holds nothing.
        if last_file && bytes.iter().all(|&b| b == 0) {
            scan.torn_tail = Some((path.to_path_buf(), 0));
            return Ok(());
        }
        return Err(corrupt(0, "file too short for a header".into()));
    }
    let magic = i32::from_be_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let version = i32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if magic != TXNLOG_MAGIC || version != VERSION {
        return Err(corrupt(0, format!("bad header: magic 0x{magic:08x} version {version}")));
    }
    let mut at = FILE_HEADER_LEN as usize;
    let mut prev: Option<Zxid> = None;
    let mut repeats = false;
    loop {
        let rest = &bytes[at..];
        if rest.len() < 12 {
            if rest.iter().all(|&b| b == 0) {
                return Ok(()); // end of file or padding
            }
            return damaged(scan, path, at, last_file, &bytes, "partial record header".into());
        }
        let sum = i64::from_be_bytes(rest[0..8].try_into().expect("8 bytes"));
        let len = i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes"));
        if len == 0 {
            if rest.iter().all(|&b| b == 0) {
                return Ok(()); // preallocated zeros: the end of this file's records
            }
            return damaged(scan, path, at, last_file, &bytes, "zero-length record".into());
        }
        if len < 0 || len as usize > RECORD_LEN_MAX || 12 + len as usize + 1 > rest.len() {
            return damaged(scan, path, at, last_file, &bytes, format!("record length {len} runs past the file"));
        }
        let payload = &rest[12..12 + len as usize];
        if rest[12 + len as usize] != EOR {
            return damaged(scan, path, at, last_file, &bytes, "record without its end marker".into());
        }
        if sum != Adler32::of(payload) as i64 {
            return damaged(scan, path, at, last_file, &bytes, "checksum mismatch".into());
        }
        if payload.len() < 32 {
            return Err(corrupt(at as u64, "record shorter than a txn header".into()));
        }
        let zxid = i64::from_be_bytes(payload[12..20].try_into().expect("8 bytes"));
        if let Some(p) = prev.filter(|&p| zxid <= p) {
            // A ZooKeeper learner whose first sync broke off after it had logged the leader's DIFF
            // logs the same DIFF again on its next try, in the same file; ZooKeeper's replay takes
            // such txns twice. Within an epoch a zxid names one txn, so the repeat is skipped.
            if !repeats {
                log::warn!(
                    "{} at offset {at}: zxid 0x{zxid:x} repeats one logged before (the last was 0x{p:x});                      repeated txns are replayed once (a ZooKeeper learner re-logs a DIFF it received twice)",
                    path.display()
                );
                repeats = true;
            }
            at += 12 + len as usize + 1;
            continue;
        }
        prev = Some(zxid);
        if zxid >= from {
            scan.records.push(Record { zxid, payload: payload.to_vec() });
        }
        at += 12 + len as usize + 1;
    }
}

/// A damaged record: a torn tail if nothing but zeros follows it in the last file, corruption
/// otherwise.
fn damaged(
    scan: &mut Scan,
    path: &Path,
    at: usize,
    last_file: bool,
    bytes: &[u8],
    what: String,
) -> Result<(), StorageError> {
    // Where the damaged record would end if its length were right; all after that must be zero.
    let tail_clean = {
        let rest = &bytes[at..];
        let len = if rest.len() >= 12 { i32::from_be_bytes(rest[8..12].try_into().expect("4 bytes")) } else { 0 };
        let end = if len > 0 { (at + 12 + len as usize + 1).min(bytes.len()) } else { bytes.len() };
        bytes[end..].iter().all(|&b| b == 0)
    };
    if last_file && tail_clean {
        scan.torn_tail = Some((path.to_path_buf(), at as u64));
        return Ok(());
    }
    Err(StorageError::Corrupt { file: path.to_path_buf(), offset: at as u64, what })
}

/// Cuts a file at `offset` (dropping a torn tail, or truncating to a zxid) and syncs it.
pub fn truncate_file(path: &Path, offset: u64) -> Result<(), StorageError> {
    let f = OpenOptions::new().write(true).open(path).map_err(|e| StorageError::io(path, e))?;
    f.set_len(offset).map_err(|e| StorageError::io(path, e))?;
    f.sync_all().map_err(|e| StorageError::io(path, e))
}

/// Removes every txn after `zxid` from the logs (TRUNC): the file holding it is cut after its
/// record and later files are deleted. Returns false if `zxid` is not in the logs.
pub fn truncate_after(dir: &Path, zxid: Zxid) -> Result<bool, StorageError> {
    let files = list_logs(dir)?;
    let mut found = false;
    for (first, path) in files.iter().rev() {
        if *first > zxid {
            fs::remove_file(path).map_err(|e| StorageError::io(path, e))?;
            continue;
        }
        let mut bytes = Vec::new();
        File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| StorageError::io(path, e))?;
        let mut at = FILE_HEADER_LEN as usize;
        while at + 12 <= bytes.len() {
            let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
            if len < 32 || at + 12 + len as usize + 1 > bytes.len() {
                break;
            }
            let z = i64::from_be_bytes(bytes[at + 24..at + 32].try_into().expect("8 bytes"));
            at += 12 + len as usize + 1;
            if z == zxid {
                truncate_file(path, at as u64)?;
                found = true;
                break;
            }
        }
        break;
    }
    sync_dir(dir)?;
    Ok(found)
}

pub fn file_len(path: &Path) -> Result<u64, StorageError> {
    fs::metadata(path).map(|m| m.len()).map_err(|e| StorageError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("rookery-log-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    fn payload(zxid: Zxid) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[12..20].copy_from_slice(&zxid.to_be_bytes());
        p[39] = zxid as u8;
        p
    }

    #[test]
    fn padding_matches_file_padding() {
        // The golden file of PROTOCOL.md §1.15: header (16 bytes) then 16 KiB preallocation.
        assert_eq!(padded_size(16, 16, 16 * 1024), 16400);
        assert_eq!(padded_size(100, 16400, 16 * 1024), 16400);
        assert_eq!(padded_size(16400 - 4096, 16400, 16 * 1024), 32784);
        assert_eq!(padded_size(40000, 16400, 16 * 1024), 49152);
        assert_eq!(padded_size(10, 16, 0), 16);
    }

    #[test]
    fn append_commit_read_roll() {
        let dir = tmp("rw");
        let mut log = TxnLog::open(&dir, 16 * 1024, false, 0).unwrap();
        for z in 1..=3 {
            log.append(z, &payload(z)).unwrap();
        }
        log.commit().unwrap();
        log.roll().unwrap();
        log.append(4, &payload(4)).unwrap();
        log.commit().unwrap();
        let names: Vec<Zxid> = list_logs(&dir).unwrap().into_iter().map(|(z, _)| z).collect();
        assert_eq!(names, [1, 4]);
        assert_eq!(file_len(&dir.join("log.1")).unwrap(), 16400);
        let scan = read_logs(&dir, 2).unwrap();
        assert_eq!(scan.records.iter().map(|r| r.zxid).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(scan.torn_tail.is_none());
        assert!(truncate_after(&dir, 2).unwrap());
        let scan = read_logs(&dir, 0).unwrap();
        assert_eq!(scan.records.iter().map(|r| r.zxid).collect::<Vec<_>>(), [1, 2]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn txns_a_zookeeper_learner_logged_twice_are_read_once() {
        let dir = tmp("repeat");
        let mut log = TxnLog::open(&dir, 0, false, 0).unwrap();
        for z in 1..=3 {
            log.append(z, &payload(z)).unwrap();
        }
        log.commit().unwrap();
        drop(log);
        // The same DIFF (2, 3) logged again, then the log goes on (4).
        let mut raw = Vec::new();
        for z in [2, 3, 4] {
            let p = payload(z);
            raw.extend_from_slice(&(Adler32::of(&p) as i64).to_be_bytes());
            raw.extend_from_slice(&(p.len() as i32).to_be_bytes());
            raw.extend_from_slice(&p);
            raw.push(EOR);
        }
        fs::OpenOptions::new().append(true).open(dir.join("log.1")).unwrap().write_all(&raw).unwrap();
        let scan = read_logs(&dir, 0).unwrap();
        assert_eq!(scan.records.iter().map(|r| r.zxid).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(scan.records[1].payload, payload(2));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_found_and_mid_log_damage_is_refused() {
        let dir = tmp("torn");
        let mut log = TxnLog::open(&dir, 0, false, 0).unwrap();
        for z in 1..=3 {
            log.append(z, &payload(z)).unwrap();
        }
        log.commit().unwrap();
        let path = dir.join("log.1");
        let len = file_len(&path).unwrap();
        // Tear the last record: drop its last 5 bytes.
        truncate_file(&path, len - 5).unwrap();
        let scan = read_logs(&dir, 0).unwrap();
        assert_eq!(scan.records.len(), 2);
        let (file, offset) = scan.torn_tail.clone().unwrap();
        assert_eq!((file, offset), (path.clone(), 16 + 2 * 53));
        // Flip a byte inside the first record: corruption, named by file and offset.
        let mut bytes = fs::read(&path).unwrap();
        bytes[16 + 20] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        match read_logs(&dir, 0) {
            Err(StorageError::Corrupt { file, offset, .. }) => assert_eq!((file, offset), (path, 16)),
            other => panic!("expected corruption, got {other:?}"),
        }
        let _ = fs::remove_dir_all(&dir);
    }
}
