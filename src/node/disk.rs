//! The commit thread's disk: recovery at start, the txn log with group commit, snapshots taken
//! by a background thread while writes go on, and auto-purge.

use crate::config::Config;
use crate::ids::Zxid;
use crate::jute::txn_body::Transaction;
use crate::storage::file_log::{self, TxnLog};
use crate::storage::recovery::recover;
use crate::storage::snapshot::list_snapshots;
use crate::storage::snapshot::SnapshotWriter;
use crate::storage::{purge, StorageError};
use crate::tree::DataTree;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

/// Nodes a snapshot copies per hold of the tree's read lock: small enough that writes wait at
/// most a few milliseconds for it.
const SNAPSHOT_CHUNK_NODES: usize = 2_000;
/// The size of the last snapshot written: only a hint for the next one's buffer.
static LAST_SNAPSHOT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// A sync slower than this gets a warning, as in ZooKeeper (`fsync.warningthresholdms`).
const FSYNC_WARN: Duration = Duration::from_secs(1);

pub struct Disk {
    log: TxnLog,
    snap_dir: PathBuf,
    log_dir: PathBuf,
    snap_count: u64,
    /// Txns logged since the last snapshot started, and the randomised count that starts the
    /// next one (`snapCount/2 + rand(snapCount/2)`, so servers do not snapshot in step).
    since_snapshot: u64,
    snapshot_at: u64,
    snapshot_running: Arc<AtomicBool>,
    rng: u64,
    buf: Vec<u8>,
    /// Txns appended since the last successful commit.
    unsynced: usize,
    /// The last txns recovery replayed, until the commit thread takes them.
    recent: Vec<(Zxid, Vec<u8>)>,
}

fn dirs(cfg: &Config) -> (PathBuf, PathBuf) {
    (cfg.data_dir.join("version-2"), cfg.data_log_dir.join("version-2"))
}

impl Disk {
    /// Recovers the tree from `dataDir`/`dataLogDir` and opens the log for appending. Writes a
    /// snapshot of what was recovered (as ZooKeeper does at start), so the next start is fast and
    /// an empty data directory gets its `snapshot.0`.
    pub fn open(cfg: &Config) -> Result<(Disk, DataTree), StorageError> {
        let (snap_dir, log_dir) = dirs(cfg);
        for d in [&snap_dir, &log_dir] {
            std::fs::create_dir_all(d).map_err(|e| StorageError::io(d, e))?;
        }
        let started = Instant::now();
        let rec = recover(&snap_dir, &log_dir)?;
        let recent = rec.recent;
        let tree = rec.tree;
        log::info!(
            "Recovered {} nodes, {} sessions, last zxid 0x{:x} ({} txns replayed) in {} ms",
            tree.node_count(),
            tree.sessions.len(),
            tree.last_processed_zxid,
            rec.replayed,
            started.elapsed().as_millis()
        );
        if rec.snapshot_zxid != Some(tree.last_processed_zxid) {
            let lock = RwLock::new(tree);
            take_snapshot(&lock, &snap_dir)?;
            let tree = lock.into_inner().expect("no other holder");
            return Disk::finish_open(cfg, tree, snap_dir, log_dir, recent);
        }
        Disk::finish_open(cfg, tree, snap_dir, log_dir, recent)
    }

    fn finish_open(
        cfg: &Config,
        tree: DataTree,
        snap_dir: PathBuf,
        log_dir: PathBuf,
        recent: Vec<(Zxid, Vec<u8>)>,
    ) -> Result<(Disk, DataTree), StorageError> {
        let log = TxnLog::open(&log_dir, cfg.pre_alloc_size_kb * 1024, cfg.force_sync, tree.last_processed_zxid)?;
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
        let mut disk = Disk {
            log,
            snap_dir,
            log_dir,
            snap_count: cfg.snap_count.max(2),
            since_snapshot: 0,
            snapshot_at: 0,
            snapshot_running: Arc::new(AtomicBool::new(false)),
            rng: seed | 1,
            buf: Vec::with_capacity(4096),
            unsynced: 0,
            recent,
        };
        disk.snapshot_at = disk.next_snapshot_count();
        Ok((disk, tree))
    }

    fn next_snapshot_count(&mut self) -> u64 {
        // xorshift64: jitter only, not security.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.snap_count / 2 + 1 + self.rng % (self.snap_count / 2).max(1)
    }

    /// Queues a txn in the log (durable after `sync`).
    pub fn append(&mut self, txn: &Transaction) -> Result<(), StorageError> {
        self.buf.clear();
        txn.write(&mut self.buf);
        self.log.append(txn.header.zxid, &self.buf)?;
        self.unsynced += 1;
        Ok(())
    }

    /// Makes every appended txn durable: one write and one fsync for the whole batch. Returns
    /// how many txns that was and how long the sync took (None: nothing to sync).
    pub fn sync(&mut self) -> Result<Option<(usize, Duration)>, StorageError> {
        if self.unsynced == 0 {
            return Ok(None);
        }
        let batch = self.unsynced;
        let took = self.log.commit()?;
        if took > FSYNC_WARN {
            log::warn!(
                "fsync-ing the write ahead log took {}ms, which will adversely effect operation latency",
                took.as_millis()
            );
        }
        self.since_snapshot += self.unsynced as u64;
        self.unsynced = 0;
        Ok(Some((batch, took)))
    }

    /// After a failed append or sync: drops what was not made durable, so the log ends with the
    /// last acknowledged txn again.
    pub fn discard_unsynced(&mut self) {
        self.unsynced = 0;
        if let Err(e) = self.log.discard() {
            log::error!("cannot cut the txn log back to its last synced txn: {e}");
        }
    }

    /// Starts a background snapshot when enough txns were logged since the last one: the log is
    /// rolled first, so the new snapshot's txns and every later one are in files of their own.
    pub fn maybe_snapshot(&mut self, tree: &Arc<RwLock<DataTree>>) {
        if self.since_snapshot < self.snapshot_at || self.snapshot_running.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = self.log.roll() {
            log::error!("cannot roll the txn log: {e}");
            return;
        }
        self.since_snapshot = 0;
        self.snapshot_at = self.next_snapshot_count();
        self.snapshot_running.store(true, Ordering::Release);
        let running = self.snapshot_running.clone();
        let tree = tree.clone();
        let dir = self.snap_dir.clone();
        let spawned = thread::Builder::new().name("snapshot".into()).spawn(move || {
            if let Err(e) = take_snapshot(&tree, &dir) {
                log::error!("snapshot failed: {e}");
            }
            running.store(false, Ordering::Release);
        });
        if spawned.is_err() {
            self.snapshot_running.store(false, Ordering::Release);
            log::error!("cannot start the snapshot thread");
        }
    }

    /// The last txns recovery replayed (oldest first), once.
    pub fn take_recent(&mut self) -> Vec<(Zxid, Vec<u8>)> {
        std::mem::take(&mut self.recent)
    }

    /// TRUNC: drops every logged txn after `zxid`. When the tree has applied txns past it (they
    /// were replayed at start), snapshots newer than `zxid` are moved aside to `truncated/` and
    /// the tree is rebuilt from the files, which is returned.
    pub fn truncate(&mut self, zxid: Zxid, tree_zxid: Zxid) -> Result<Option<DataTree>, StorageError> {
        self.unsynced = 0;
        self.log.roll()?;
        if !file_log::truncate_after(&self.log_dir, zxid)? && zxid != 0 {
            log::warn!("TRUNC to 0x{zxid:x}: that txn is not in the log; later txns were removed");
        }
        let rebuilt = if tree_zxid > zxid {
            let aside = self.snap_dir.join("truncated");
            for (z, path) in list_snapshots(&self.snap_dir)? {
                if z > zxid {
                    std::fs::create_dir_all(&aside).map_err(|e| StorageError::io(&aside, e))?;
                    let to = aside.join(path.file_name().unwrap_or_default());
                    std::fs::rename(&path, &to).map_err(|e| StorageError::io(&path, e))?;
                    log::warn!("TRUNC to 0x{zxid:x}: moved {} aside to {}", path.display(), to.display());
                }
            }
            file_log::sync_dir(&self.snap_dir)?;
            let rec = recover(&self.snap_dir, &self.log_dir)?;
            Some(rec.tree)
        } else {
            None
        };
        let last = rebuilt.as_ref().map_or(zxid, |t| t.last_processed_zxid);
        self.log.restart_at(last)?;
        Ok(rebuilt)
    }

    /// SNAP: the tree was replaced by the leader's at `zxid`; the log continues after it in a new
    /// file.
    pub fn restart_log_at(&mut self, zxid: Zxid) -> Result<(), StorageError> {
        self.unsynced = 0;
        self.log.restart_at(zxid)
    }

    /// Waits for a background snapshot to finish (bounded), so that txns about to be applied
    /// cannot slip into a snapshot named by an older zxid (ZOOKEEPER-1549): every snapshot that
    /// holds a txn is then named at or after it, and TRUNC can move such snapshots aside.
    pub fn wait_for_snapshot(&self, limit: Duration) {
        let until = Instant::now() + limit;
        while self.snapshot_running.load(Ordering::Acquire) && Instant::now() < until {
            thread::sleep(Duration::from_millis(5));
        }
        if self.snapshot_running.load(Ordering::Acquire) {
            log::warn!("a snapshot is still being written after {} ms", limit.as_millis());
        }
    }

    pub fn last_logged_zxid(&self) -> Zxid {
        self.log.last_zxid()
    }

    pub fn dirs(&self) -> (&Path, &Path) {
        (&self.snap_dir, &self.log_dir)
    }
}

/// Writes a fuzzy snapshot of the tree: named by the last applied zxid when it starts, copied
/// in chunks under the read lock (writes go on between chunks), and ending with the (zxid,
/// digest) of the last txn applied by then.
pub fn take_snapshot(tree: &RwLock<DataTree>, dir: &Path) -> Result<(PathBuf, u64), StorageError> {
    let started = Instant::now();
    let mut writer = {
        let t = tree.read().expect("tree lock");
        SnapshotWriter::new(t.last_processed_zxid, &t.sessions)
    };
    writer.reserve(LAST_SNAPSHOT_BYTES.load(Ordering::Relaxed) / 8 * 9);
    let mut after: Option<String> = None;
    loop {
        let t = tree.read().expect("tree lock");
        match writer.add_nodes(t.nodes_after(after.as_deref(), SNAPSHOT_CHUNK_NODES), |i| t.acls.get(i)) {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    let digest = {
        let t = tree.read().expect("tree lock");
        (t.last_processed_zxid, t.digest())
    };
    let nodes = writer.node_count();
    let (path, size) = writer.finish(dir, digest)?;
    LAST_SNAPSHOT_BYTES.store(size as usize, Ordering::Relaxed);
    log::info!(
        "Snapshot {} written: {nodes} nodes, {size} bytes, in {} ms",
        path.display(),
        started.elapsed().as_millis()
    );
    Ok((path, size))
}

/// Runs auto-purge every `interval`, keeping `retain` snapshots and the logs they need.
pub fn start_purge(snap_dir: PathBuf, log_dir: PathBuf, retain: usize, interval: Duration) -> std::io::Result<()> {
    thread::Builder::new().name("purge".into()).spawn(move || loop {
        thread::sleep(interval);
        match purge::purge(&snap_dir, &log_dir, retain) {
            Ok(gone) if !gone.is_empty() => log::info!("Purge removed {} old files", gone.len()),
            Ok(_) => {}
            Err(e) => log::error!("purge failed: {e}"),
        }
    })?;
    Ok(())
}
