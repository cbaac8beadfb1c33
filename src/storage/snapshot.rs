//! Snapshots, in ZooKeeper's `FileSnap` format.
//!
//! ```text
//! dataDir/version-2/snapshot.<hex zxid>     zxid = last applied txn when the snapshot started
//!
//! FileHeader { int magic = 0x5A4B534E "ZKSN"; int version = 2; long dbid = -1 }
//! int sessionCount; (long sessionId, int timeout)*
//! int aclMapSize;   (long index, vector<ACL>)*          index -1 (world:anyone ALL) is implicit
//! (ustring path, DataNode { buffer data; long acl; StatPersisted stat })*   root path is ""
//! ustring "/"                                           end of nodes
//! long adler32; ustring "/"                             seal: Adler-32 of every byte before it
//! ZxidDigest { long zxid; int digestVersion; long digest }; long adler32; ustring "/"
//! ```
//!
//! A snapshot is *fuzzy*: it is written while writes go on, so it may hold effects of txns after
//! its zxid; replaying the log from zxid+1 over it converges because `DataTree::apply` is
//! idempotent in ZooKeeper's way. Nodes are written in path order (a parent before its children,
//! which is all ZooKeeper's reader needs). The ACL map is written from the ACLs of the nodes
//! actually written, so no node can point at an index the file lacks (ZOOKEEPER-3306).
//!
//! Files are written to `<name>.tmp`, fsynced, renamed, and the directory fsynced: a crash leaves
//! either the old set of snapshots or the new one, never a half-written file under a real name.

use super::checksum::Adler32;
use super::file_log::{sync_dir, zxid_of_name};
use super::StorageError;
use crate::ids::{SessionId, Zxid};
use crate::jute::data::{Acl, StatPersisted};
use crate::jute::{Field, JuteWrite, Reader, Record};
use crate::tree::{AclCache, DataTree, Node, OPEN_ACL_INDEX};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub const SNAP_MAGIC: i32 = 0x5A4B_534E;
pub const VERSION: i32 = 2;

/// `Util.makeSnapshotName`.
pub fn snapshot_name(zxid: Zxid) -> String {
    format!("snapshot.{zxid:x}")
}

/// Snapshot files in `dir`, newest first. Compressed ones (`.gz`, `.snappy`) are listed too, so
/// that recovery can say why it cannot use them.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(Zxid, PathBuf)>, StorageError> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(StorageError::io(dir, e)),
    };
    for e in entries {
        let e = e.map_err(|err| StorageError::io(dir, err))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            continue;
        }
        if let Some(z) = zxid_of_name(&name, "snapshot") {
            out.push((z, e.path()));
        }
    }
    out.sort_by(|a, b| b.cmp(a));
    Ok(out)
}

/// Builds a snapshot: sessions first, then nodes in path order (in as many chunks as the caller
/// likes), then `finish` writes the file.
pub struct SnapshotWriter {
    zxid: Zxid,
    sessions: Vec<(SessionId, i32)>,
    nodes: Vec<u8>,
    acls: BTreeMap<i64, Vec<Acl>>,
    node_count: u64,
}

impl SnapshotWriter {
    pub fn new(zxid: Zxid, sessions: &BTreeMap<SessionId, i32>) -> SnapshotWriter {
        SnapshotWriter {
            zxid,
            sessions: sessions.iter().map(|(k, v)| (*k, *v)).collect(),
            nodes: Vec::with_capacity(1 << 20),
            acls: BTreeMap::new(),
            node_count: 0,
        }
    }

    /// Adds nodes (path order) with the ACL lists their indexes stand for at this moment.
    pub fn add_nodes(&mut self, nodes: &[(String, Node)], acl_of: impl Fn(i64) -> Vec<Acl>) {
        for (path, node) in nodes {
            let p = if path == "/" { "" } else { path.as_str() };
            self.nodes.put_ustring(Some(p));
            self.nodes.put_buffer(node.data.as_deref());
            self.nodes.put_i64(node.acl);
            node.stat.write(&mut self.nodes);
            if node.acl != OPEN_ACL_INDEX {
                self.acls.entry(node.acl).or_insert_with(|| acl_of(node.acl));
            }
            self.node_count += 1;
        }
    }

    pub fn node_count(&self) -> u64 {
        self.node_count
    }

    /// Writes `snapshot.<zxid>` into `dir` atomically; `digest` is (zxid, tree digest) of the
    /// last txn applied when the walk ended. Returns the file's path and size.
    pub fn finish(self, dir: &Path, digest: (Zxid, u64)) -> Result<(PathBuf, u64), StorageError> {
        fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let mut out = Vec::with_capacity(self.nodes.len() + 4096);
        out.put_i32(SNAP_MAGIC);
        out.put_i32(VERSION);
        out.put_i64(-1);
        out.put_i32(self.sessions.len() as i32);
        for (id, timeout) in &self.sessions {
            out.put_i64(*id);
            out.put_i32(*timeout);
        }
        out.put_i32(self.acls.len() as i32);
        for (index, list) in &self.acls {
            out.put_i64(*index);
            list.put(&mut out);
        }
        out.extend_from_slice(&self.nodes);
        out.put_ustring(Some("/"));
        seal(&mut out);
        // Before any txn, ZooKeeper has no `lastProcessedZxidDigest` and writes an empty
        // ZxidDigest (zxid 0, digest 0), which readers skip; so does this, for the same bytes.
        let digest = if digest.0 == 0 { (0, 0) } else { digest };
        out.put_i64(digest.0);
        out.put_i32(crate::tree::DIGEST_VERSION);
        out.put_i64(digest.1 as i64);
        seal(&mut out);

        let path = dir.join(snapshot_name(self.zxid));
        // Not "snapshot.*": ZooKeeper's name parser would take a leftover for a snapshot.
        let tmp = dir.join(format!("tmp-{}", snapshot_name(self.zxid)));
        let write = || -> io::Result<()> {
            let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(StorageError::io(&tmp, e));
        }
        fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
        sync_dir(dir)?;
        Ok((path, out.len() as u64))
    }
}

/// `SnapStream.sealStream`: the Adler-32 of everything so far, then "/".
fn seal(out: &mut Vec<u8>) {
    let sum = Adler32::of(out) as i64;
    out.put_i64(sum);
    out.put_ustring(Some("/"));
}

/// A snapshot read back.
pub struct Loaded {
    pub zxid: Zxid,
    pub tree: DataTree,
    /// The (zxid, tree digest) pair the writer recorded, if the file has one.
    pub digest: Option<(Zxid, u64)>,
}

/// Reads and verifies a snapshot; `zxid` is the one its name gives. Any damage (bad magic, a
/// length past the end, a seal that does not match, a node without its parent) is an error
/// naming the file and offset.
pub fn read_snapshot(path: &Path) -> Result<Loaded, StorageError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let zxid = zxid_of_name(&name, "snapshot")
        .ok_or_else(|| StorageError::Inconsistent(format!("{}: not a snapshot name", path.display())))?;
    if name.ends_with(".gz") || name.ends_with(".snappy") {
        return Err(StorageError::Inconsistent(format!(
            "{}: compressed snapshots (zookeeper.snapshot.compression.method) are not supported; \
             decompress it, or restart ZooKeeper once without compression to write a plain one",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| StorageError::io(path, e))?;
    let corrupt =
        |offset: usize, what: String| StorageError::Corrupt { file: path.to_path_buf(), offset: offset as u64, what };
    let mut r = Reader::new(&bytes);
    let at = |r: &Reader<'_>| bytes.len() - r.remaining();
    let dec = |r: &Reader<'_>, e: crate::jute::DecodeError| corrupt(bytes.len() - r.remaining(), e.to_string());

    let magic = r.read_i32().map_err(|e| dec(&r, e))?;
    let version = r.read_i32().map_err(|e| dec(&r, e))?;
    let _dbid = r.read_i64().map_err(|e| dec(&r, e))?;
    if magic != SNAP_MAGIC || version != VERSION {
        return Err(corrupt(0, format!("bad header: magic 0x{magic:08x} version {version}")));
    }
    let count = r.read_count().map_err(|e| dec(&r, e))?.unwrap_or(0);
    let mut sessions = BTreeMap::new();
    for _ in 0..count {
        let id = r.read_i64().map_err(|e| dec(&r, e))?;
        let timeout = r.read_i32().map_err(|e| dec(&r, e))?;
        sessions.insert(id, timeout);
    }
    let count = r.read_count().map_err(|e| dec(&r, e))?.unwrap_or(0);
    let mut acl_lists: BTreeMap<i64, Vec<Acl>> = BTreeMap::new();
    for _ in 0..count {
        let index = r.read_i64().map_err(|e| dec(&r, e))?;
        let list = <Vec<Acl> as Field>::get(&mut r).map_err(|e| dec(&r, e))?;
        acl_lists.insert(index, list);
    }
    let mut nodes = Vec::new();
    let mut used: BTreeSet<i64> = BTreeSet::new();
    loop {
        let node_at = at(&r);
        let p = r.read_ustring().map_err(|e| dec(&r, e))?.unwrap_or_default();
        if p == "/" {
            break;
        }
        let data = r.read_buffer().map_err(|e| dec(&r, e))?;
        let acl = r.read_i64().map_err(|e| dec(&r, e))?;
        let stat = StatPersisted::read(&mut r).map_err(|e| dec(&r, e))?;
        if acl != OPEN_ACL_INDEX && !acl_lists.contains_key(&acl) {
            return Err(corrupt(node_at, format!("node {p:?} uses ACL index {acl}, which the ACL map lacks")));
        }
        used.insert(acl);
        let path = if p.is_empty() { "/".to_string() } else { p };
        let node = Node { data: data.map(Vec::into_boxed_slice), acl, stat, children: Default::default() };
        nodes.push((path, node));
    }
    check_seal(&bytes, &mut r).map_err(|(o, w)| corrupt(o, w))?;
    let digest = if r.is_empty() {
        None
    } else {
        let z = r.read_i64().map_err(|e| dec(&r, e))?;
        let _version = r.read_i32().map_err(|e| dec(&r, e))?;
        let d = r.read_i64().map_err(|e| dec(&r, e))?;
        check_seal(&bytes, &mut r).map_err(|(o, w)| corrupt(o, w))?;
        Some((z, d as u64))
    };
    // A 3.9 writer may add a lastProcessedZxid block; it is sealed like the others.
    if !r.is_empty() {
        let _last = r.read_i64().map_err(|e| dec(&r, e))?;
        check_seal(&bytes, &mut r).map_err(|(o, w)| corrupt(o, w))?;
    }
    let mut acls = AclCache::default();
    for (index, list) in acl_lists {
        if used.contains(&index) {
            acls.restore(index, list);
        }
    }
    let tree = DataTree::from_parts(nodes, acls, sessions, zxid).map_err(|e| corrupt(0, e))?;
    Ok(Loaded { zxid, tree, digest })
}

/// Reads a seal and checks it against the Adler-32 of every byte before it.
fn check_seal(bytes: &[u8], r: &mut Reader<'_>) -> Result<(), (usize, String)> {
    let at = bytes.len() - r.remaining();
    let want = Adler32::of(&bytes[..at]) as i64;
    let got = r.read_i64().map_err(|e| (at, e.to_string()))?;
    let slash = r.read_ustring().map_err(|e| (at, e.to_string()))?;
    if got != want || slash.as_deref() != Some("/") {
        return Err((at, format!("checksum seal 0x{got:x} does not match 0x{want:x}")));
    }
    Ok(())
}

/// ZooKeeper's quick validity check (`SnapStream.isValidSnapshot`): long enough, and ending in
/// the "/" of a seal.
pub fn looks_complete(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else { return false };
    bytes.len() >= 10 && bytes[bytes.len() - 5..] == [0, 0, 0, 1, b'/']
}
