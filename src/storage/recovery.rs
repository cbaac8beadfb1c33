//! Start-up recovery (ZooKeeper's `FileTxnSnapLog.restore`): the newest snapshot that verifies,
//! then every logged txn after it.
//!
//! Refusals, each naming the files involved (never a silent start from an empty tree):
//! - txn logs but no usable snapshot (ZOOKEEPER-2325);
//! - corruption anywhere but a torn last record;
//! - a gap between the snapshot and the first txn after it, or between two txns.
//!
//! A torn last record — a write that was never acknowledged — is cut off with a warning.

use super::file_log::{self, list_logs, read_logs, truncate_file, FILE_HEADER_LEN};
use super::snapshot::{list_snapshots, looks_complete, read_snapshot};
use super::StorageError;
use crate::ids::{counter_of, epoch_of, Zxid};
use crate::jute::txn_body::Transaction;
use crate::tree::DataTree;
use std::path::Path;

/// What recovery rebuilt.
pub struct Recovered {
    pub tree: DataTree,
    /// The zxid of the snapshot it started from (None: no snapshot, an empty data dir).
    pub snapshot_zxid: Option<Zxid>,
    /// Txns replayed from the log.
    pub replayed: usize,
    /// The last `RECENT_MAX` txns replayed (zxid, serialized txn), oldest first: a new leader's
    /// committed log for DIFF.
    pub recent: Vec<(Zxid, Vec<u8>)>,
}

/// How many of the last replayed txns recovery keeps for DIFF (ZooKeeper's `commitLogCount`).
pub const RECENT_MAX: usize = 500;

/// Whether `next` may directly follow `prev` in a log: the next counter in the same epoch, or
/// the first txns of a later epoch.
fn follows(prev: Zxid, next: Zxid) -> bool {
    next == prev + 1 || (epoch_of(next) > epoch_of(prev) && counter_of(next) <= 1)
}

pub fn recover(snap_dir: &Path, log_dir: &Path) -> Result<Recovered, StorageError> {
    let snaps = list_snapshots(snap_dir)?;
    let mut loaded = None;
    for (_, path) in &snaps {
        if !looks_complete(path) {
            log::warn!("{}: incomplete snapshot, trying an older one", path.display());
            continue;
        }
        match read_snapshot(path) {
            Ok(l) => {
                log::info!("Loaded snapshot {} ({} nodes)", path.display(), l.tree.node_count());
                loaded = Some(l);
                break;
            }
            Err(e) => log::warn!("unusable snapshot: {e}; trying an older one"),
        }
    }
    let logs = list_logs(log_dir)?;
    let (mut tree, snapshot_zxid, digest) = match loaded {
        Some(l) => (l.tree, Some(l.zxid), l.digest),
        None if !snaps.is_empty() => {
            return Err(StorageError::Inconsistent(format!(
                "none of the {} snapshots in {} is usable; refusing to start from an empty tree. \
                 Restore a good snapshot, or move the data directory aside to start empty",
                snaps.len(),
                snap_dir.display()
            )))
        }
        None if !logs.is_empty() => {
            return Err(StorageError::Inconsistent(format!(
                "{} holds txn logs but {} holds no snapshot; refusing to start from an empty tree \
                 (ZOOKEEPER-2325). Restore the snapshot, or move the logs aside to start empty",
                log_dir.display(),
                snap_dir.display()
            )))
        }
        None => (DataTree::new(), None, None),
    };
    let from = snapshot_zxid.map_or(1, |z| z + 1);
    let scan = read_logs(log_dir, from)?;
    let mut prev = snapshot_zxid.unwrap_or(0);
    let mut changes = Vec::new();
    let mut replayed = 0;
    let mut recent = Vec::new();
    for rec in &scan.records {
        let txn = Transaction::from_bytes(&rec.payload).map_err(|e| {
            StorageError::Inconsistent(format!("txn 0x{:x} in {} does not decode: {e}", rec.zxid, log_dir.display()))
        })?;
        if !follows(prev, rec.zxid) && prev != 0 {
            return Err(StorageError::Inconsistent(format!(
                "txn log in {} jumps from 0x{prev:x} to 0x{:x}: txns are missing",
                log_dir.display(),
                rec.zxid
            )));
        }
        prev = rec.zxid;
        changes.clear();
        tree.apply(&txn.header, &txn.body, &mut changes);
        replayed += 1;
        if scan.records.len() - replayed < RECENT_MAX {
            recent.push((rec.zxid, rec.payload.clone()));
        }
        if let Some(d) = &txn.digest {
            if d.tree_digest as u64 != tree.digest() {
                log::error!(
                    "digest mismatch replaying 0x{:x}: the log says 0x{:x}, the tree is at 0x{:x}",
                    rec.zxid,
                    d.tree_digest,
                    tree.digest()
                );
            }
        }
        if let Some((z, d)) = digest {
            if z == rec.zxid && d != tree.digest() {
                log::error!(
                    "tree digest after 0x{z:x} is 0x{:x}, the snapshot recorded 0x{d:x}: this data may have diverged",
                    tree.digest()
                );
            }
        }
    }
    if let Some((file, offset)) = scan.torn_tail {
        log::warn!(
            "{}: cutting off a torn last record at offset {offset} (a write that was never acknowledged)",
            file.display()
        );
        if offset <= FILE_HEADER_LEN {
            std::fs::remove_file(&file).map_err(|e| StorageError::io(&file, e))?;
            file_log::sync_dir(log_dir)?;
        } else {
            truncate_file(&file, offset)?;
        }
    }
    // A crash just after a new log file was created leaves it without records; appends would
    // start a file of the same name, so it goes.
    for (first, path) in list_logs(log_dir)? {
        if first > tree.last_processed_zxid {
            log::warn!("{}: removing a log file that holds no txns (a crash before its first write)", path.display());
            std::fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            file_log::sync_dir(log_dir)?;
        }
    }
    Ok(Recovered { tree, snapshot_zxid, replayed, recent })
}
