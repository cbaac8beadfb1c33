//! The znode tree (ZooKeeper's `DataTree`). `apply` is its single mutator: start-up replay,
//! replication and the standalone pipeline all change the tree through it, so they cannot differ.
//!
//! `apply` is idempotent over fuzzy snapshots the way ZooKeeper's is: a create of a node that
//! exists, or a delete of one that does not, changes nothing but the parent's cversion/pzxid
//! fix-ups, and reports the error it met.

pub mod acl;
pub mod path;
pub mod quota;

use crate::codes::{event, op, owner, ErrorCode};
use crate::ids::{SessionId, Zxid};
use crate::jute::data::{read_acl_unsafe, Acl, Stat, StatPersisted};
use crate::jute::txn::TxnHeader;
use crate::jute::txn_body::TxnBody;
use crate::storage::checksum::Crc32;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

pub const ZOOKEEPER: &str = "/zookeeper";
pub const QUOTA: &str = "/zookeeper/quota";
pub const CONFIG: &str = "/zookeeper/config";

/// One znode. `acl` indexes the tree's `AclCache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub data: Option<Box<[u8]>>,
    pub acl: i64,
    pub stat: StatPersisted,
    pub children: BTreeSet<String>,
}

impl Node {
    fn new(data: Option<Vec<u8>>, acl: i64, stat: StatPersisted) -> Node {
        Node { data: data.map(Vec::into_boxed_slice), acl, stat, children: BTreeSet::new() }
    }

    /// The client view of this node's metadata. The stored cversion counts child creates only
    /// (it names sequential children and is what snapshots hold); clients see creates plus
    /// deletes, which ZooKeeper derives as `2 * creates - children` (`DataNode.copyStat`).
    pub fn stat(&self) -> Stat {
        let len = self.data.as_ref().map_or(0, |d| d.len());
        let children = self.children.len() as i32;
        let mut stat = self.stat.to_stat(len as i32, children);
        stat.cversion = self.stat.cversion.wrapping_mul(2).wrapping_sub(children);
        // Containers and TTL nodes keep a marker in ephemeralOwner; clients see 0 there
        // (`DataTree.getClientEphemeralOwner`).
        let owner = self.stat.ephemeral_owner;
        if owner == owner::CONTAINER || owner & owner::TTL_MASK == owner::TTL_MASK {
            stat.ephemeral_owner = 0;
        }
        stat
    }
}

/// ZooKeeper's `ReferenceCountedACLCache`: each distinct ACL list is stored once under a long
/// index, which nodes and snapshots refer to. Index -1 is `world:anyone` ALL, never stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclCache {
    by_index: BTreeMap<i64, (Vec<Acl>, u64)>,
    by_list: HashMap<Vec<Acl>, i64>,
    last_index: i64,
}

pub const OPEN_ACL_INDEX: i64 = -1;

impl AclCache {
    /// The index for `acl`, adding one reference.
    pub fn add_usage_of(&mut self, acl: &[Acl]) -> i64 {
        if let Some(&i) = self.by_list.get(acl) {
            self.by_index.get_mut(&i).expect("acl cache maps agree").1 += 1;
            return i;
        }
        self.last_index += 1;
        let i = self.last_index;
        self.by_index.insert(i, (acl.to_vec(), 1));
        self.by_list.insert(acl.to_vec(), i);
        i
    }

    /// Puts back an entry read from a snapshot (with no references yet); new indexes continue
    /// after the highest one seen, as ZooKeeper's do.
    pub fn restore(&mut self, index: i64, acl: Vec<Acl>) {
        self.last_index = self.last_index.max(index);
        self.by_list.insert(acl.clone(), index);
        self.by_index.insert(index, (acl, 0));
    }

    fn count_usage(&mut self, index: i64) {
        if let Some(entry) = self.by_index.get_mut(&index) {
            entry.1 += 1;
        }
    }

    pub fn remove_usage(&mut self, index: i64) {
        let Some(entry) = self.by_index.get_mut(&index) else {
            return;
        };
        entry.1 = entry.1.saturating_sub(1);
        if entry.1 == 0 {
            let (list, _) = self.by_index.remove(&index).expect("entry exists");
            self.by_list.remove(&list);
        }
    }

    pub fn get(&self, index: i64) -> Vec<Acl> {
        self.list(index).to_vec()
    }

    /// The ACL list of `index`, borrowed (what a permission check needs).
    pub fn list(&self, index: i64) -> &[Acl] {
        static OPEN: std::sync::OnceLock<Vec<Acl>> = std::sync::OnceLock::new();
        match self.by_index.get(&index) {
            Some((list, _)) => list,
            None => OPEN.get_or_init(crate::jute::data::open_acl_unsafe),
        }
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }
}

/// A change a watch can see: which event, on which path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub kind: i32,
    pub path: String,
    /// A deleted node's ACL, which decides who may see its NodeDeleted event (the node is gone
    /// by the time watches fire). `None` for other changes: the tree has the node's ACL.
    pub deleted_acl: Option<Vec<Acl>>,
}

impl Change {
    fn new(kind: i32, path: &str) -> Change {
        Change { kind, path: path.to_string(), deleted_acl: None }
    }
}

/// What applying one txn did (`DataTree.ProcessTxnResult`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Applied {
    /// The txn or sub-txn type, `op::ERROR` for a failed one.
    pub kind: i32,
    pub err: i32,
    pub path: String,
    pub stat: Option<Stat>,
    pub multi: Vec<Applied>,
}

/// The tree digest version ZooKeeper 3.6+ writes (`DigestCalculator.DIGEST_VERSION`).
pub const DIGEST_VERSION: i32 = 2;

/// ZooKeeper's per-node digest (`DigestCalculator.calculateDigest`): CRC-32 of the path (the root
/// as ""), the data and 60 bytes of stat. Nodes under `/zookeeper/` count as 0.
pub fn node_digest(path: &str, node: &Node) -> u64 {
    digest_of(path, node.data.as_deref(), &node.stat)
}

/// `node_digest` from the parts a digest covers (prep computes it for nodes not yet applied).
pub fn digest_of(path: &str, data: Option<&[u8]>, st: &StatPersisted) -> u64 {
    if path.starts_with("/zookeeper/") {
        return 0;
    }
    let path = if path == "/" { "" } else { path };
    let mut b = [0u8; 60];
    for (i, v) in [st.czxid, st.mzxid, st.pzxid, st.ctime, st.mtime].iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_be_bytes());
    }
    b[40..44].copy_from_slice(&st.version.to_be_bytes());
    b[44..48].copy_from_slice(&st.cversion.to_be_bytes());
    b[48..52].copy_from_slice(&st.aversion.to_be_bytes());
    b[52..60].copy_from_slice(&st.ephemeral_owner.to_be_bytes());
    let mut crc = Crc32::new();
    crc.update(path.as_bytes());
    if let Some(d) = data {
        crc.update(d);
    }
    crc.update(&b);
    crc.value() as u64
}

#[derive(Debug, Clone)]
pub struct DataTree {
    /// Sorted by path, so a parent always precedes its children, and a snapshot can walk the
    /// tree in chunks, resuming after the last path it wrote.
    nodes: BTreeMap<String, Node>,
    /// ZooKeeper's adHash of every node's digest (wrapping sum), kept up to date by `apply`.
    digest: u64,
    ephemerals: HashMap<SessionId, BTreeSet<String>>,
    containers: BTreeSet<String>,
    ttls: BTreeSet<String>,
    pub acls: AclCache,
    /// Live sessions and their timeouts, as created and closed by txns (snapshots store them).
    pub sessions: BTreeMap<SessionId, i32>,
    pub last_processed_zxid: Zxid,
    /// The paths that have a quota (ZooKeeper's `pTrie`): see `quota.rs`.
    quotas: BTreeSet<String>,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

impl DataTree {
    /// The tree every ZooKeeper server starts from: `/`, `/zookeeper`, `/zookeeper/quota` and
    /// `/zookeeper/config` (READ for anyone, aversion -1).
    pub fn new() -> DataTree {
        let mut t = DataTree {
            nodes: BTreeMap::new(),
            digest: 0,
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acls: AclCache::default(),
            sessions: BTreeMap::new(),
            last_processed_zxid: 0,
            quotas: BTreeSet::new(),
        };
        let empty = || Node::new(Some(Vec::new()), OPEN_ACL_INDEX, StatPersisted::default());
        t.nodes.insert("/".into(), empty());
        for p in [ZOOKEEPER, QUOTA, CONFIG] {
            t.nodes.insert(p.into(), empty());
            let (parent, name) = path::split(p);
            t.nodes.get_mut(parent).expect("parent made first").children.insert(name.into());
        }
        let config_acl = t.acls.add_usage_of(&read_acl_unsafe());
        let config = t.nodes.get_mut(CONFIG).expect("just made");
        config.acl = config_acl;
        config.stat.aversion = -1;
        t.recompute_digest();
        t
    }

    /// `ZKDatabase.initConfigInZKDatabase`: an ensemble member writes its configuration (the
    /// QuorumVerifier text) into `/zookeeper/config` itself, not through a txn: data version -1,
    /// mzxid the configuration's version. No watch fires, as in ZooKeeper.
    pub fn set_config_node(&mut self, text: &[u8], version: u64, wall_ms: i64) {
        if self.get(CONFIG).is_none() {
            return; // a tree from a snapshot always has it; nothing to repair here
        }
        self.change(CONFIG, |n| {
            n.data = Some(text.to_vec().into_boxed_slice());
            n.stat.version = -1;
            n.stat.mzxid = version as i64;
            n.stat.mtime = wall_ms;
        });
    }

    /// The digest from scratch: the wrapping sum of every node's digest.
    fn recompute_digest(&mut self) {
        self.digest = self.nodes.iter().fold(0u64, |d, (p, n)| d.wrapping_add(node_digest(p, n)));
    }

    /// The tree digest (ZooKeeper's `DataTree.getTreeDigest`).
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Runs `f` on the node at `path`, keeping the tree digest in step with the change.
    fn change<R>(&mut self, path: &str, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let node = self.nodes.get_mut(path)?;
        let before = node_digest(path, node);
        let r = f(node);
        let after = node_digest(path, node);
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        Some(r)
    }

    /// Up to `limit` nodes after `after` in path order (from the start for `None`), cloned, for
    /// a snapshot that walks the tree while writes go on.
    pub fn nodes_after<'a>(
        &'a self,
        after: Option<&str>,
        limit: usize,
    ) -> impl Iterator<Item = (&'a String, &'a Node)> + 'a {
        let range = match after {
            None => self.nodes.range::<str, _>((Bound::Unbounded, Bound::Unbounded)),
            Some(p) => self.nodes.range::<str, _>((Bound::Excluded(p), Bound::Unbounded)),
        };
        range.take(limit)
    }

    /// Rebuilds a tree from a snapshot's parts: nodes in an order where parents come first,
    /// the ACL cache, the sessions. Children lists, ephemeral/container/TTL indexes and the
    /// digest are derived. Fails (naming the path) if a node's parent is missing.
    pub fn from_parts(
        nodes: Vec<(String, Node)>,
        acls: AclCache,
        sessions: BTreeMap<SessionId, i32>,
        last_processed_zxid: Zxid,
    ) -> Result<DataTree, String> {
        let mut acls = acls;
        for entry in acls.by_index.values_mut() {
            entry.1 = 0;
        }
        let mut t = DataTree {
            nodes: BTreeMap::new(),
            digest: 0,
            ephemerals: HashMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            acls,
            sessions,
            last_processed_zxid,
            quotas: BTreeSet::new(),
        };
        for (p, mut n) in nodes {
            t.acls.count_usage(n.acl);
            n.children.clear();
            if p != "/" {
                let (parent, name) = path::split(&p);
                let Some(parent) = t.nodes.get_mut(parent) else {
                    return Err(format!("node {p} has no parent"));
                };
                parent.children.insert(name.to_string());
            }
            t.index(&p, n.stat.ephemeral_owner);
            t.nodes.insert(p, n);
        }
        if !t.nodes.contains_key("/") {
            return Err("no root node".into());
        }
        t.recompute_digest();
        t.setup_quota();
        Ok(t)
    }

    fn index(&mut self, path: &str, ephemeral_owner: i64) {
        if ephemeral_owner == owner::CONTAINER {
            self.containers.insert(path.to_string());
        } else if ephemeral_owner & owner::TTL_MASK == owner::TTL_MASK {
            self.ttls.insert(path.to_string());
        } else if ephemeral_owner != 0 {
            self.ephemerals.entry(ephemeral_owner).or_default().insert(path.to_string());
        }
    }

    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn acl_of(&self, node: &Node) -> Vec<Acl> {
        self.acls.get(node.acl)
    }

    /// A node's ACL list, borrowed.
    pub fn acl_list(&self, node: &Node) -> &[Acl] {
        self.acls.list(node.acl)
    }

    /// Paths of a session's ephemeral nodes, sorted.
    pub fn ephemerals_of(&self, session: SessionId) -> Vec<String> {
        self.ephemerals.get(&session).map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn ephemerals(&self) -> &HashMap<SessionId, BTreeSet<String>> {
        &self.ephemerals
    }

    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    pub fn ttls(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// How many nodes lie below `path` (`getAllChildrenNumber`).
    pub fn descendant_count(&self, path: &str) -> usize {
        let Some(node) = self.nodes.get(path) else {
            return 0;
        };
        let mut count = 0;
        let mut stack: Vec<String> = node.children.iter().map(|c| path::join(path, c)).collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = self.nodes.get(&p) {
                stack.extend(n.children.iter().map(|c| path::join(&p, c)));
            }
        }
        count
    }

    /// Path lengths (in UTF-16 units, as Java's `String.length()`) plus data bytes
    /// (`approximateDataSize` in `mntr`).
    pub fn approximate_data_size(&self) -> u64 {
        self.nodes.iter().map(|(p, n)| (p.encode_utf16().count() + n.data.as_ref().map_or(0, |d| d.len())) as u64).sum()
    }

    /// Applies one committed txn and reports the changes that watches see, in order.
    pub fn apply(&mut self, hdr: &TxnHeader, body: &TxnBody, changes: &mut Vec<Change>) -> Applied {
        let applied = self.apply_one(hdr, hdr.kind, body, changes);
        // lastProcessedZxid moves only after the whole txn, multi included (ZOOKEEPER-3127).
        if hdr.zxid > self.last_processed_zxid {
            self.last_processed_zxid = hdr.zxid;
        }
        applied
    }

    fn apply_one(&mut self, hdr: &TxnHeader, kind: i32, body: &TxnBody, changes: &mut Vec<Change>) -> Applied {
        let mut out = Applied { kind, ..Applied::default() };
        let result = match body {
            TxnBody::Create(t) => {
                out.path = t.path.clone();
                let owner = if t.ephemeral { hdr.client_id } else { 0 };
                self.create_node(&t.path, &t.data, &t.acl, owner, t.parent_cversion, hdr, changes)
            }
            TxnBody::CreateContainer(t) => {
                out.path = t.path.clone();
                self.create_node(&t.path, &t.data, &t.acl, owner::CONTAINER, t.parent_cversion, hdr, changes)
            }
            TxnBody::CreateTtl(t) => {
                out.path = t.path.clone();
                let owner = owner::TTL_MASK | (t.ttl & owner::MAX_TTL);
                self.create_node(&t.path, &t.data, &t.acl, owner, t.parent_cversion, hdr, changes)
            }
            TxnBody::Delete(t) => {
                out.path = t.path.clone();
                self.delete_node(&t.path, hdr.zxid, changes).map(|_| None)
            }
            TxnBody::SetData(t) => {
                out.path = t.path.clone();
                self.set_data(&t.path, &t.data, t.version, hdr, changes).map(Some)
            }
            TxnBody::SetAcl(t) => {
                out.path = t.path.clone();
                self.set_acl(&t.path, &t.acl, t.version).map(Some)
            }
            TxnBody::Check(t) => {
                out.path = t.path.clone();
                Ok(None)
            }
            TxnBody::CreateSession(t) => {
                self.sessions.insert(hdr.client_id, t.time_out);
                Ok(None)
            }
            TxnBody::CloseSession(t) => {
                self.kill_session(hdr.client_id, hdr.zxid, t.as_ref().map(|t| &t.paths_to_delete[..]), changes);
                Ok(None)
            }
            TxnBody::Error(t) => Err(t.err),
            TxnBody::Multi(subs) => {
                let failed = subs.iter().any(|s| s.kind == op::ERROR);
                let mut past_failure = false;
                for sub in subs {
                    let r = if failed {
                        // A failed multi applies nothing: ops before the failing one report OK,
                        // the failing one its code, and ops after it RUNTIMEINCONSISTENCY.
                        let err = match &sub.body {
                            TxnBody::Error(e) => {
                                past_failure = true;
                                e.err
                            }
                            _ if past_failure => ErrorCode::RuntimeInconsistency.code(),
                            _ => ErrorCode::Ok.code(),
                        };
                        Applied { kind: op::ERROR, err, ..Applied::default() }
                    } else {
                        self.apply_one(hdr, sub.kind, &sub.body, changes)
                    };
                    if r.err != 0 && out.err == 0 {
                        out.err = r.err;
                    }
                    out.multi.push(r);
                }
                Ok(None)
            }
        };
        match result {
            Ok(stat) => out.stat = stat,
            Err(code) => {
                out.err = code;
                if let TxnBody::Error(_) = body {
                    out.kind = op::ERROR;
                }
            }
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn create_node(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        acl: &[Acl],
        ephemeral_owner: i64,
        parent_cversion: i32,
        hdr: &TxnHeader,
        changes: &mut Vec<Change>,
    ) -> Result<Option<Stat>, i32> {
        let (parent_path, name) = path::split(path);
        let zxid = hdr.zxid;
        // The parent's cversion/pzxid only move forward: replaying a create over a fuzzy snapshot
        // that already holds later changes must not turn them back.
        let found = self.change(parent_path, |parent| {
            let new_cversion = if parent_cversion == -1 { parent.stat.cversion + 1 } else { parent_cversion };
            if new_cversion > parent.stat.cversion {
                parent.stat.cversion = new_cversion;
                parent.stat.pzxid = zxid;
            }
        });
        if found.is_none() {
            return Err(ErrorCode::NoNode.code());
        }
        if self.nodes.contains_key(path) {
            return Err(ErrorCode::NodeExists.code());
        }
        let parent = self.nodes.get_mut(parent_path).expect("checked above");
        parent.children.insert(name.to_string());
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: hdr.time,
            mtime: hdr.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        };
        let acl_index = self.acls.add_usage_of(acl);
        let node = Node::new(data.clone(), acl_index, stat);
        let out = node.stat();
        self.digest = self.digest.wrapping_add(node_digest(path, &node));
        self.nodes.insert(path.to_string(), node);
        self.index(path, ephemeral_owner);
        self.quota_on_create(path, data.as_ref().map_or(0, Vec::len));
        changes.push(Change::new(event::NODE_CREATED, path));
        changes.push(Change::new(event::NODE_CHILDREN_CHANGED, parent_path));
        Ok(Some(out))
    }

    fn delete_node(&mut self, path: &str, zxid: Zxid, changes: &mut Vec<Change>) -> Result<(), i32> {
        let (parent_path, name) = path::split(path);
        // ZooKeeper updates the parent before it knows the child exists (fuzzy replay), and a
        // delete moves only pzxid, never the stored cversion.
        let found = self.change(parent_path, |parent| {
            parent.children.remove(name);
            if zxid > parent.stat.pzxid {
                parent.stat.pzxid = zxid;
            }
        });
        if found.is_none() {
            return Err(ErrorCode::NoNode.code());
        }
        let Some(node) = self.nodes.remove(path) else {
            return Err(ErrorCode::NoNode.code());
        };
        self.digest = self.digest.wrapping_sub(node_digest(path, &node));
        let deleted_acl = self.acls.list(node.acl).to_vec();
        self.acls.remove_usage(node.acl);
        let owner = node.stat.ephemeral_owner;
        if owner == owner::CONTAINER {
            self.containers.remove(path);
        } else if owner & owner::TTL_MASK == owner::TTL_MASK {
            self.ttls.remove(path);
        } else if owner != 0 {
            if let Some(set) = self.ephemerals.get_mut(&owner) {
                set.remove(path);
                if set.is_empty() {
                    self.ephemerals.remove(&owner);
                }
            }
        }
        self.quota_on_delete(path, node.data.as_deref().map_or(0, <[u8]>::len));
        changes.push(Change { kind: event::NODE_DELETED, path: path.to_string(), deleted_acl: Some(deleted_acl) });
        changes.push(Change::new(event::NODE_CHILDREN_CHANGED, parent_path));
        Ok(())
    }

    fn set_data(
        &mut self,
        path: &str,
        data: &Option<Vec<u8>>,
        version: i32,
        hdr: &TxnHeader,
        changes: &mut Vec<Change>,
    ) -> Result<Stat, i32> {
        let old_len = self.nodes.get(path).and_then(|n| n.data.as_deref()).map_or(0, <[u8]>::len) as i64;
        let stat = self
            .change(path, |node| {
                node.data = data.clone().map(Vec::into_boxed_slice);
                node.stat.mtime = hdr.time;
                node.stat.mzxid = hdr.zxid;
                node.stat.version = version;
                node.stat()
            })
            .ok_or(ErrorCode::NoNode.code())?;
        self.quota_on_set(path, data.as_ref().map_or(0, Vec::len) as i64 - old_len);
        changes.push(Change::new(event::NODE_DATA_CHANGED, path));
        Ok(stat)
    }

    fn set_acl(&mut self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, i32> {
        let old = self.nodes.get(path).ok_or(ErrorCode::NoNode.code())?.acl;
        self.acls.remove_usage(old);
        let index = self.acls.add_usage_of(acl);
        let stat = self.change(path, |node| {
            node.acl = index;
            node.stat.aversion = version;
            node.stat()
        });
        Ok(stat.expect("checked above"))
    }

    /// Deletes a closed session's ephemerals. Since 3.6 the txn lists them; older logs do not,
    /// and then the tree's own record of the session's ephemerals is used.
    fn kill_session(&mut self, session: SessionId, zxid: Zxid, listed: Option<&[String]>, changes: &mut Vec<Change>) {
        self.sessions.remove(&session);
        let mut paths: Vec<String> = match listed {
            Some(p) => p.to_vec(),
            None => self.ephemerals_of(session),
        };
        // Children before parents is impossible for ephemerals (they have none), but keep the
        // order stable so every server fires the same events.
        paths.sort();
        for p in paths {
            let owned = self.nodes.get(&p).is_some_and(|n| n.stat.ephemeral_owner == session);
            if owned {
                let _ = self.delete_node(&p, zxid, changes);
            }
        }
        self.ephemerals.remove(&session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::data::open_acl_unsafe;
    use crate::jute::txn::*;
    use crate::jute::txn_body::SubTxn;

    fn hdr(zxid: Zxid, kind: i32) -> TxnHeader {
        TxnHeader { client_id: 0x55, cxid: 1, zxid, time: 1000 + zxid, kind }
    }

    fn create(path: &str, ephemeral: bool, parent_cversion: i32) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(b"v".to_vec()),
            acl: open_acl_unsafe(),
            ephemeral,
            parent_cversion,
        })
    }

    fn create_with(path: &str, data: &[u8]) -> TxnBody {
        TxnBody::Create(CreateTxn {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: open_acl_unsafe(),
            ephemeral: false,
            parent_cversion: -1,
        })
    }

    fn data_of(t: &DataTree, path: &str) -> String {
        String::from_utf8_lossy(t.get(path).unwrap().data.as_deref().unwrap_or(&[])).into_owned()
    }

    #[test]
    fn quota_usage_follows_creates_sets_and_deletes_and_survives_a_reload() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        let mut z = 0;
        let mut apply = |t: &mut DataTree, kind: i32, body: TxnBody| {
            z += 1;
            let a = t.apply(&hdr(z, kind), &body, &mut ch);
            assert_eq!(a.err, 0, "{body:?}");
        };
        apply(&mut t, op::CREATE, create_with("/a", b"12345"));
        apply(&mut t, op::CREATE, create_with("/a/b", b"xy"));
        // As zkCli's setquota -N 3 /a lays it out.
        apply(&mut t, op::CREATE, create_with("/zookeeper/quota/a", b""));
        let limits = "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=3";
        apply(&mut t, op::CREATE, create_with("/zookeeper/quota/a/zookeeper_limits", limits.as_bytes()));
        apply(&mut t, op::CREATE, create_with("/zookeeper/quota/a/zookeeper_stats", b"count=0,bytes=0"));
        assert_eq!(data_of(&t, "/zookeeper/quota/a/zookeeper_stats"), "count=2,bytes=7", "recounted on creation");
        let stats_version = t.get("/zookeeper/quota/a/zookeeper_stats").unwrap().stat.version;
        apply(&mut t, op::CREATE, create_with("/a/c", b"abc"));
        apply(&mut t, op::SET_DATA, TxnBody::SetData(SetDataTxn { path: "/a/b".into(), data: None, version: 1 }));
        assert_eq!(data_of(&t, "/zookeeper/quota/a/zookeeper_stats"), "count=3,bytes=8");
        assert_eq!(t.get("/zookeeper/quota/a/zookeeper_stats").unwrap().stat.version, stats_version);
        assert_eq!(t.check_quota("/a/d", 0, 1, true), Err(ErrorCode::QuotaExceeded));
        assert_eq!(t.check_quota("/a/d", 0, 1, false), Ok(()), "only enforceQuota refuses");
        assert_eq!(t.check_quota("/a/b", 100, 0, true), Ok(()), "no byte limit");
        assert_eq!(t.check_quota("/elsewhere", 0, 1, true), Ok(()));
        apply(&mut t, op::DELETE, TxnBody::Delete(DeleteTxn { path: "/a/c".into() }));
        assert_eq!(data_of(&t, "/zookeeper/quota/a/zookeeper_stats"), "count=2,bytes=5");

        // A reload (snapshot) recounts, whatever the stats node held.
        let nodes: Vec<(String, Node)> = t.nodes_after(None, usize::MAX).map(|(p, n)| (p.clone(), n.clone())).collect();
        let mut reloaded = DataTree::from_parts(nodes, t.acls.clone(), BTreeMap::new(), z).unwrap();
        assert_eq!(reloaded.max_prefix_with_quota("/a/b/c"), Some("/a"));
        assert_eq!(data_of(&reloaded, "/zookeeper/quota/a/zookeeper_stats"), "count=2,bytes=5");
        reloaded.apply(
            &hdr(z + 1, op::DELETE),
            &TxnBody::Delete(DeleteTxn { path: "/zookeeper/quota/a/zookeeper_limits".into() }),
            &mut Vec::new(),
        );
        assert_eq!(reloaded.max_prefix_with_quota("/a/b"), None, "delquota removes the quota");
    }

    #[test]
    fn quota_figures_are_summed_by_top_namespace() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        let mut z = 0;
        let mut create = |t: &mut DataTree, path: &str, data: &str| {
            z += 1;
            assert_eq!(t.apply(&hdr(z, op::CREATE), &create_with(path, data.as_bytes()), &mut ch).err, 0, "{path}");
        };
        for p in ["/a", "/a/b", "/a/c", "/h", "/zookeeper/quota/a", "/zookeeper/quota/h"] {
            create(&mut t, p, "");
        }
        create(&mut t, "/a/b/x", "12345");
        // Two quotas under /a (soft count 10 on /a/b; hard bytes 50 on /a/c), one under /h.
        for (p, limits) in [
            ("/a/b", "count=10,bytes=-1"),
            ("/a/c", "count=-1,bytes=7=;byteHardLimit=50;countHardLimit=-1"),
            ("/h", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2"),
        ] {
            let q = format!("/zookeeper/quota{p}");
            if p != "/h" {
                create(&mut t, &q, "");
            }
            create(&mut t, &format!("{q}/zookeeper_limits"), limits);
            create(&mut t, &format!("{q}/zookeeper_stats"), "count=0,bytes=0");
        }
        let figures = t.quota_by_namespace();
        assert_eq!(figures.keys().collect::<Vec<_>>(), ["a", "h"]);
        let a = figures["a"];
        assert_eq!((a.count_limit, a.bytes_limit), (Some(10 - 1), Some(-1 + 50)), "hard limit over soft, summed");
        assert_eq!((a.count_usage, a.bytes_usage), (Some(2 + 1), Some(5)));
        let h = figures["h"];
        assert_eq!((h.count_limit, h.bytes_limit, h.count_usage, h.bytes_usage), (Some(2), Some(-1), Some(1), Some(0)));
    }

    #[test]
    fn fresh_tree_has_zookeeper_nodes() {
        let t = DataTree::new();
        assert_eq!(t.get("/").unwrap().children.iter().collect::<Vec<_>>(), ["zookeeper"]);
        let zk = t.get(ZOOKEEPER).unwrap().stat();
        assert_eq!((zk.num_children, zk.cversion), (2, -2), "as ZooKeeper 3.8 reports it");
        let config = t.get(CONFIG).unwrap();
        assert_eq!(config.stat.aversion, -1);
        assert_eq!(t.acl_of(config), read_acl_unsafe());
    }

    #[test]
    fn create_set_delete_stats() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        let a = t.apply(&hdr(1, op::CREATE), &create("/a", false, 1), &mut ch);
        assert_eq!(a.err, 0);
        let st = a.stat.unwrap();
        assert_eq!((st.czxid, st.mzxid, st.pzxid, st.ctime, st.data_length), (1, 1, 1, 1001, 1));
        assert_eq!(t.get("/").unwrap().stat.cversion, 1);
        assert_eq!(t.get("/").unwrap().stat.pzxid, 1);
        let set = TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(b"xyz".to_vec()), version: 1 });
        let s = t.apply(&hdr(2, op::SET_DATA), &set, &mut ch).stat.unwrap();
        assert_eq!((s.version, s.mzxid, s.czxid, s.data_length), (1, 2, 1, 3));
        let del = TxnBody::Delete(DeleteTxn { path: "/a".into() });
        assert_eq!(t.apply(&hdr(3, op::DELETE), &del, &mut ch).err, 0);
        let root = t.get("/").unwrap();
        assert_eq!((root.stat.cversion, root.stat.pzxid), (1, 3), "delete moves pzxid, not cversion");
        assert_eq!(t.last_processed_zxid, 3);
        let kinds: Vec<i32> = ch.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                event::NODE_CREATED,
                event::NODE_CHILDREN_CHANGED,
                event::NODE_DATA_CHANGED,
                event::NODE_DELETED,
                event::NODE_CHILDREN_CHANGED
            ]
        );
    }

    #[test]
    fn replaying_a_create_is_idempotent() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        t.apply(&hdr(1, op::CREATE), &create("/a", false, 1), &mut ch);
        t.apply(&hdr(2, op::CREATE), &create("/b", false, 2), &mut ch);
        let again = t.apply(&hdr(1, op::CREATE), &create("/a", false, 1), &mut ch);
        assert_eq!(again.err, ErrorCode::NodeExists.code());
        assert_eq!(t.get("/").unwrap().stat.cversion, 2);
        assert_eq!(t.get("/").unwrap().stat.pzxid, 2);
    }

    #[test]
    fn failed_multi_applies_nothing() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        let body = TxnBody::Multi(vec![
            SubTxn { kind: op::CREATE, body: create("/a", false, 1) },
            SubTxn { kind: op::ERROR, body: TxnBody::Error(ErrorTxn { err: -101 }) },
            SubTxn { kind: op::ERROR, body: TxnBody::Error(ErrorTxn { err: -2 }) },
        ]);
        let r = t.apply(&hdr(1, op::MULTI), &body, &mut ch);
        assert!(t.get("/a").is_none());
        let errs: Vec<i32> = r.multi.iter().map(|m| m.err).collect();
        assert_eq!(errs, [0, -101, -2]);
        assert_eq!(r.err, -101);
        assert!(ch.is_empty());
    }

    #[test]
    fn close_session_removes_ephemerals_and_fires_deletes() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        t.apply(&hdr(1, op::CREATE_SESSION), &TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }), &mut ch);
        t.apply(&hdr(2, op::CREATE), &create("/e", true, 1), &mut ch);
        assert_eq!(t.ephemerals_of(0x55), ["/e"]);
        ch.clear();
        let close = TxnBody::CloseSession(Some(CloseSessionTxn { paths_to_delete: vec!["/e".into()] }));
        t.apply(&hdr(3, op::CLOSE_SESSION), &close, &mut ch);
        assert!(t.get("/e").is_none());
        assert!(t.sessions.is_empty());
        assert_eq!((ch[0].kind, ch[0].path.as_str()), (event::NODE_DELETED, "/e"));
        assert_eq!(
            ch[0].deleted_acl.as_deref(),
            Some(&[Acl::new(crate::jute::data::perms::ALL, "world", "anyone")][..])
        );
    }

    #[test]
    fn digest_follows_every_change_and_matches_a_rebuild() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        let fresh = t.digest();
        t.apply(&hdr(1, op::CREATE), &create("/a", false, 1), &mut ch);
        t.apply(&hdr(2, op::CREATE), &create("/a/b", true, 1), &mut ch);
        let set = TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(b"xyz".to_vec()), version: 1 });
        t.apply(&hdr(3, op::SET_DATA), &set, &mut ch);
        let acl = TxnBody::SetAcl(SetAclTxn { path: "/a".into(), acl: read_acl_unsafe(), version: 1 });
        t.apply(&hdr(4, op::SET_ACL), &acl, &mut ch);
        let rebuild = |t: &DataTree| {
            DataTree::from_parts(
                t.nodes_after(None, usize::MAX).map(|(p, n)| (p.clone(), n.clone())).collect(),
                t.acls.clone(),
                t.sessions.clone(),
                0,
            )
            .unwrap()
        };
        assert_eq!(rebuild(&t).digest(), t.digest());
        assert_eq!(rebuild(&t).ephemerals_of(0x55), ["/a/b"]);
        t.apply(&hdr(5, op::DELETE), &TxnBody::Delete(DeleteTxn { path: "/a/b".into() }), &mut ch);
        t.apply(&hdr(6, op::DELETE), &TxnBody::Delete(DeleteTxn { path: "/a".into() }), &mut ch);
        assert_ne!(t.digest(), fresh, "root's pzxid and cversion moved");
        assert_eq!(rebuild(&t).digest(), t.digest());
    }

    #[test]
    fn nodes_after_walks_in_chunks_parents_first() {
        let mut t = DataTree::new();
        let mut ch = Vec::new();
        for (i, p) in ["/a", "/a-c", "/a/b"].iter().enumerate() {
            t.apply(&hdr(i as i64 + 1, op::CREATE), &create(p, false, -1), &mut ch);
        }
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let chunk: Vec<String> = t.nodes_after(after.as_deref(), 2).map(|(p, _)| p.clone()).collect();
            if chunk.is_empty() {
                break;
            }
            after = chunk.last().cloned();
            seen.extend(chunk);
        }
        assert_eq!(seen, ["/", "/a", "/a-c", "/a/b", "/zookeeper", "/zookeeper/config", "/zookeeper/quota"]);
    }

    #[test]
    fn acl_cache_counts_references() {
        let mut c = AclCache::default();
        let a = c.add_usage_of(&open_acl_unsafe());
        assert_eq!(c.add_usage_of(&open_acl_unsafe()), a);
        c.remove_usage(a);
        assert_eq!(c.len(), 1);
        c.remove_usage(a);
        assert!(c.is_empty());
    }
}
