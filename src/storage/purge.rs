//! Auto-purge (ZooKeeper's `PurgeTxnLog`): keep the newest `retain` complete snapshots and the
//! logs recovery needs from the oldest of them; delete the rest. Incomplete snapshots do not
//! count towards `retain` (ZOOKEEPER-3231), and nothing is deleted unless `retain` complete
//! snapshots exist.

use super::file_log::list_logs;
use super::snapshot::{list_snapshots, looks_complete};
use super::StorageError;
use std::path::{Path, PathBuf};

pub fn purge(snap_dir: &Path, log_dir: &Path, retain: usize) -> Result<Vec<PathBuf>, StorageError> {
    assert!(retain >= 1);
    let snaps = list_snapshots(snap_dir)?;
    let complete: Vec<_> = snaps.iter().filter(|(_, p)| looks_complete(p)).take(retain).collect();
    if complete.len() < retain {
        return Ok(Vec::new());
    }
    let oldest_kept = complete.last().expect("retain >= 1").0;
    let logs = list_logs(log_dir)?;
    // The log holding the txn right after the oldest kept snapshot starts at or before it.
    let first_log_kept = logs.iter().filter(|(z, _)| *z <= oldest_kept).map(|(z, _)| *z).max().unwrap_or(i64::MIN);
    let mut doomed: Vec<PathBuf> = Vec::new();
    doomed.extend(snaps.iter().filter(|(z, _)| *z < oldest_kept).map(|(_, p)| p.clone()));
    doomed.extend(logs.iter().filter(|(z, _)| *z < first_log_kept).map(|(_, p)| p.clone()));
    for p in &doomed {
        std::fs::remove_file(p).map_err(|e| StorageError::io(p, e))?;
        log::info!("Purged {}", p.display());
    }
    Ok(doomed)
}
