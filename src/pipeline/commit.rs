//! Commit (ZooKeeper's `FinalRequestProcessor` plus the tree's owner): applies txns in zxid
//! order, fires watches, serves reads, and produces every frame a client receives. Because reads
//! and writes pass through here in the order prep forwarded them, a session always sees its own
//! earlier writes, and a watch event always leaves before the reply that shows the change.

use super::{encode_multi_response, ClientOp, CommitItem, ConnId, OpResult, Origin, Request};
use crate::admin;
use crate::codes::{event, op, state, watcher_type, ErrorCode};
use crate::fourlw::{self, ConnView, ServerStats, View};
use crate::ids::{SessionId, Zxid};
use crate::jute::data::{perms, ClientInfo, Id};
use crate::jute::proto::*;
use crate::jute::txn_body::Transaction;
use crate::jute::{JuteWrite, Record};
use crate::metrics::Recorder;
use crate::sessions::password;
use crate::tree::{acl, Applied, Change, DataTree};
use crate::watches::Watches;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// What the shell must do, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Queue a length-prefixed frame on a connection. `reply` marks the one answer each request
    /// gets (as opposed to events and handshake answers), so the shell can count requests out.
    Send { conn: ConnId, frame: Vec<u8>, reply: bool },
    /// Flush what is queued, then close the connection.
    Close { conn: ConnId },
    /// The handshake is done: the connection's requests now belong to `session`.
    SessionReady { conn: ConnId, session: SessionId },
}

/// Per-connection facts for `cons` and for routing.
#[derive(Debug, Clone, Default)]
pub struct ConnInfo {
    pub session: SessionId,
    pub remote: String,
    /// Came to the `secureClientPort` (the admin server's `secure_connections`).
    pub secure: bool,
    pub established_wall_ms: i64,
    pub timeout_ms: u32,
    pub stats: ConnView,
    /// The identities the connection's last request carried: who its watch events may reach
    /// (every watch is set by a request, so this is at least as new as the watch).
    pub auth: Arc<Vec<Id>>,
}

/// What waits in a session's queue behind a write that is out at the leader.
enum Queued {
    Write { cxid: i32 },
    Read(Request),
}

pub struct Commit {
    pub skip_acl: bool,
    /// Writes sent to the leader, by (session, cxid): where their replies go.
    forwarded: HashMap<(SessionId, i32), Origin>,
    /// Per session, in request order: forwarded writes not yet applied, and the reads behind
    /// them (ZooKeeper's CommitProcessor rule). Empty for a session with nothing out.
    session_queues: HashMap<SessionId, VecDeque<Queued>>,
    /// Syncs out at the leader, oldest first (its SYNC answers come back in order).
    pending_syncs: VecDeque<Request>,
    pub watches: Watches,
    conns: HashMap<ConnId, ConnInfo>,
    session_conn: HashMap<SessionId, ConnId>,
    pub stats: ServerStats,
    /// Latency and fsync histograms for `/metrics`; unlike `stats`, never reset.
    pub recorded: Recorder,
    changes: Vec<Change>,
}

impl Commit {
    pub fn new(skip_acl: bool) -> Commit {
        Commit {
            skip_acl,
            forwarded: HashMap::new(),
            session_queues: HashMap::new(),
            pending_syncs: VecDeque::new(),
            watches: Watches::new(),
            conns: HashMap::new(),
            session_conn: HashMap::new(),
            stats: ServerStats::default(),
            recorded: Recorder::default(),
            changes: Vec::new(),
        }
    }

    /// Makes a connection known (its remote address for `cons` and `ip` ACLs).
    pub fn on_accept(&mut self, conn: ConnId, remote: String, secure: bool, wall_ms: i64) {
        self.conns.insert(conn, ConnInfo { remote, secure, established_wall_ms: wall_ms, ..ConnInfo::default() });
    }

    pub fn conn_count(&self) -> usize {
        self.conns.len()
    }

    /// Handles one item from prep.
    pub fn step(
        &mut self,
        tree: &mut DataTree,
        item: CommitItem,
        now_ms: u64,
        wall_ms: i64,
        view: &View<'_>,
        out: &mut Vec<Output>,
    ) {
        match item {
            CommitItem::Txn { txn, origin } => self.on_txn(tree, txn, origin, now_ms, out),
            CommitItem::Read(req) => match self.session_queues.get_mut(&req.session) {
                Some(q) if !q.is_empty() => q.push_back(Queued::Read(req)),
                _ => self.on_read(tree, req, now_ms, out),
            },
            CommitItem::Forwarded { session, origin } => {
                if !self.conns.contains_key(&origin.conn) {
                    return; // closed meanwhile: nobody waits for the answer
                }
                self.session_queues.entry(session).or_default().push_back(Queued::Write { cxid: origin.xid });
                self.forwarded.insert((session, origin.xid), origin);
            }
            CommitItem::ForwardedSync(req) => {
                if !self.conns.contains_key(&req.conn) {
                    return;
                }
                self.session_queues.entry(req.session).or_default().push_back(Queued::Write { cxid: req.xid });
                self.pending_syncs.push_back(req);
            }
            CommitItem::Synced => match self.pending_syncs.pop_front() {
                Some(req) => {
                    let (session, xid) = (req.session, req.xid);
                    self.on_read(tree, req, now_ms, out);
                    self.release_session(tree, session, xid, now_ms, out);
                }
                None => log::warn!("a SYNC from the leader with no sync waiting"),
            },
            CommitItem::CloseAll => {
                self.forwarded.clear();
                self.session_queues.clear();
                self.pending_syncs.clear();
                self.session_conn.clear();
                for (conn, _) in self.conns.drain() {
                    self.watches.remove_watcher(conn);
                    out.push(Output::Close { conn });
                }
            }
            CommitItem::Attach { conn, session, timeout_ms, read_only_byte, read_only } => {
                if let Some(old) = self.session_conn.insert(session, conn) {
                    if old != conn {
                        out.push(Output::Close { conn: old });
                    }
                }
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.session = session;
                    c.timeout_ms = timeout_ms;
                    // The ConnectRequest and its response, as ZooKeeper counts them.
                    c.stats.recved += 1;
                    c.stats.sent += 1;
                    c.stats.last_active_ms = Some(now_ms);
                    self.stats.received += 1;
                    self.stats.sent += 1;
                }
                out.push(Output::SessionReady { conn, session });
                out.push(session_established(conn, session, timeout_ms as i32, read_only_byte, read_only));
            }
            CommitItem::Reject { conn, read_only_byte } => {
                let resp = ConnectResponse {
                    protocol_version: 0,
                    time_out: 0,
                    session_id: 0,
                    passwd: Some(vec![0; 16]),
                    read_only: read_only_byte.then_some(false),
                };
                out.push(Output::Send { conn, frame: frame_of(&resp), reply: false });
                out.push(Output::Close { conn });
            }
            CommitItem::Accept { conn, remote, secure, wall_ms } => self.on_accept(conn, remote, secure, wall_ms),
            CommitItem::Close { conn } => out.push(Output::Close { conn }),
            CommitItem::Detach { conn } => {
                self.watches.remove_watcher(conn);
                if let Some(info) = self.conns.remove(&conn) {
                    if self.session_conn.get(&info.session) == Some(&conn) {
                        self.session_conn.remove(&info.session);
                    }
                }
                out.push(Output::Close { conn });
            }
            CommitItem::FourLetter { ask, prep, reply } => {
                // As in ZooKeeper, the word is a packet received on a client connection, which
                // the answers list like any other.
                self.stats.received += 1;
                if let Some(c) = self.conns.get_mut(&ask.conn) {
                    c.stats.four_letter = true;
                    c.stats.recved += 1;
                }
                let conns = self.sorted_conns();
                let facts = fourlw::Facts {
                    ask: &ask,
                    tree,
                    watches: &self.watches,
                    stats: &self.stats,
                    conns: &conns,
                    outstanding: prep.outstanding,
                    session_expiry: &prep.session_expiry,
                    quota_exceeded: &prep.quota_exceeded,
                    now_ms,
                    wall_ms,
                };
                let text = fourlw::answer(view, &facts);
                match ask.cmd {
                    "crst" => self.apply(admin::Effect::ResetConnections),
                    "srst" => self.apply(admin::Effect::ResetServer),
                    _ => {}
                }
                // ZooKeeper's writer sends the text in chunks of 8192 characters, a packet each.
                self.stats.sent += text.len().div_ceil(8192) as u64;
                // The reader closes the connection once the answer is out; ZooKeeper forgets it
                // before closing, so the next word does not list it.
                self.conns.remove(&ask.conn);
                let _ = reply.send(text);
            }
            CommitItem::Inspect { question, prep, reply } => {
                // Connection ids start at 1: 0 is no connection, so nothing lists the asker.
                let ask = fourlw::Ask { cmd: question.word(), conn: 0, client_port: question.client_port() };
                let conns = self.sorted_conns();
                let facts = fourlw::Facts {
                    ask: &ask,
                    tree,
                    watches: &self.watches,
                    stats: &self.stats,
                    conns: &conns,
                    outstanding: prep.outstanding,
                    session_expiry: &prep.session_expiry,
                    quota_exceeded: &prep.quota_exceeded,
                    now_ms,
                    wall_ms,
                };
                let answer = admin::answer(view, &facts, &question, &self.recorded);
                self.apply(question.effect());
                let _ = reply.send(answer);
            }
        }
    }

    /// Every open connection, by id (as the four-letter words list them).
    fn sorted_conns(&self) -> Vec<(ConnId, &ConnInfo)> {
        let mut conns: Vec<(ConnId, &ConnInfo)> = self.conns.iter().map(|(id, c)| (*id, c)).collect();
        conns.sort_by_key(|(id, _)| *id);
        conns
    }

    /// Carries out what a four-letter word or an admin command changes.
    fn apply(&mut self, effect: admin::Effect) {
        match effect {
            admin::Effect::None => {}
            admin::Effect::ResetConnections => self.conns.values_mut().for_each(|c| c.stats.reset()),
            admin::Effect::ResetServer => self.stats.reset(),
            admin::Effect::SetTraceMask(mask) => fourlw::set_trace_mask(mask),
        }
    }

    /// A request answered: `write` for a txn, else a read (pings included, as in ZooKeeper).
    #[allow(clippy::too_many_arguments)]
    fn note(&mut self, conn: ConnId, op_code: i32, xid: i32, zxid: Zxid, received_ms: u64, now_ms: u64, write: bool) {
        let latency = now_ms.saturating_sub(received_ms);
        self.stats.record(latency);
        self.recorded.request(write, latency);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.stats.record(op_code, xid, zxid, latency, now_ms);
        }
    }

    fn on_txn(
        &mut self,
        tree: &mut DataTree,
        txn: Transaction,
        origin: Option<Origin>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        // A txn from the leader may answer a write this server forwarded.
        let key = (txn.header.client_id, txn.header.cxid);
        let (origin, forwarded) = match origin {
            Some(o) => (Some(o), false),
            None => match self.forwarded.remove(&key) {
                Some(o) => (Some(o), true),
                None => (None, false),
            },
        };
        self.apply_txn(tree, &txn, origin, now_ms, out);
        if forwarded {
            self.release_session(tree, key.0, key.1, now_ms, out);
        }
    }

    /// A forwarded write of `session` is applied: serve the reads queued behind it, up to its
    /// next forwarded write.
    fn release_session(&mut self, tree: &DataTree, session: SessionId, cxid: i32, now_ms: u64, out: &mut Vec<Output>) {
        let Some(mut q) = self.session_queues.remove(&session) else { return };
        match q.front() {
            Some(Queued::Write { cxid: c }) if *c == cxid => {
                q.pop_front();
            }
            _ => log::warn!("session 0x{session:x}: applied cxid {cxid} is not the next forwarded write"),
        }
        while let Some(Queued::Read(_)) = q.front() {
            if let Some(Queued::Read(req)) = q.pop_front() {
                self.on_read(tree, req, now_ms, out);
            }
        }
        if !q.is_empty() {
            self.session_queues.insert(session, q);
        }
    }

    fn apply_txn(
        &mut self,
        tree: &mut DataTree,
        txn: &Transaction,
        origin: Option<Origin>,
        now_ms: u64,
        out: &mut Vec<Output>,
    ) {
        let hdr = &txn.header;
        self.changes.clear();
        let applied = tree.apply(hdr, &txn.body, &mut self.changes);
        if let Some(d) = &txn.digest {
            if d.tree_digest as u64 != tree.digest() {
                self.stats.digest_mismatches += 1;
                log::error!(
                    "digest mismatch after 0x{:x}: the txn says 0x{:x}, the tree is at 0x{:x}",
                    hdr.zxid,
                    d.tree_digest,
                    tree.digest()
                );
            }
        }
        let zxid = hdr.zxid;
        // Watch events first: a client must see the event before any reply showing the change.
        let changes = std::mem::take(&mut self.changes);
        for ch in &changes {
            self.fire(tree, ch, zxid, out);
        }
        self.changes = changes;
        if hdr.kind == op::CLOSE_SESSION {
            if let Some(conn) = self.session_conn.remove(&hdr.client_id) {
                if origin.is_none() {
                    out.push(Output::Close { conn });
                }
            }
        }
        let Some(origin) = origin else { return };
        let conn = origin.conn;
        if !self.conns.contains_key(&conn) {
            return; // the client went away before its reply was ready
        }
        let last = tree.last_processed_zxid;
        self.note(conn, origin.op, origin.xid, last, origin.received_ms, now_ms, true);
        if hdr.kind == op::CREATE_SESSION {
            let session = hdr.client_id;
            let timeout = match &txn.body {
                crate::jute::txn_body::TxnBody::CreateSession(t) => t.time_out,
                _ => unreachable!("createSession header with another body"),
            };
            self.session_conn.insert(session, conn);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.session = session;
                c.timeout_ms = timeout as u32;
            }
            out.push(Output::SessionReady { conn, session });
            out.push(session_established(conn, session, timeout, origin.read_only_byte, false));
            return;
        }
        let config = match &txn.body {
            crate::jute::txn_body::TxnBody::SetData(s) if hdr.kind == op::RECONFIG => s.data.as_deref(),
            _ => None,
        };
        let frame = reply_for_txn(&origin, last, &applied, config);
        out.push(Output::Send { conn, frame, reply: true });
        if hdr.kind == op::CLOSE_SESSION {
            out.push(Output::Close { conn });
        }
    }

    /// A txn that will not be applied (its log write failed): its client gets `err` — or, for a
    /// session that was never created, a closed connection to retry on.
    pub fn reject_txn(&mut self, txn: &Transaction, origin: Option<Origin>, err: ErrorCode, out: &mut Vec<Output>) {
        let Some(origin) = origin else { return };
        if !self.conns.contains_key(&origin.conn) {
            return;
        }
        if txn.header.kind == op::CREATE_SESSION {
            out.push(Output::Close { conn: origin.conn });
            return;
        }
        let hdr = ReplyHeader { xid: origin.xid, zxid: txn.header.zxid - 1, err: err.code() };
        out.push(Output::Send { conn: origin.conn, frame: frame_of(&hdr), reply: true });
    }

    /// Sends the watch events of one change. As in ZooKeeper (3.8.4, CVE-2024-23944), an event
    /// reaches only watchers allowed to READ the node it is about: the node itself, or the
    /// parent for NodeChildrenChanged; a deleted node's ACL as it was.
    fn fire(&mut self, tree: &DataTree, ch: &Change, zxid: Zxid, out: &mut Vec<Output>) {
        let acl = match &ch.deleted_acl {
            Some(list) => Some(&list[..]),
            None => tree.get(&ch.path).map(|n| tree.acl_list(n)),
        };
        for w in self.watches.trigger(ch.kind, &ch.path) {
            if let Some(c) = self.conns.get_mut(&w) {
                if acl.is_some_and(|a| !acl::allows(a, perms::READ, &c.auth, self.skip_acl)) {
                    log::debug!("not delivering event {} {} to connection {w} (filtered by ACL)", ch.kind, ch.path);
                    continue;
                }
                // A notification is a packet sent, in `srvr` and `cons` as in ZooKeeper.
                c.stats.sent += 1;
                self.stats.sent += 1;
                out.push(Output::Send { conn: w, frame: notification(ch.kind, &ch.path, zxid), reply: false });
            }
        }
    }

    fn on_read(&mut self, tree: &DataTree, req: Request, now_ms: u64, out: &mut Vec<Output>) {
        let conn = req.conn;
        if !self.conns.contains_key(&conn) {
            return;
        }
        let last = tree.last_processed_zxid;
        let op_code = req.op.opcode();
        self.note(conn, op_code, req.xid, last, req.received_ms, now_ms, false);
        if let Some(c) = self.conns.get_mut(&conn) {
            if !Arc::ptr_eq(&c.auth, &req.auth) {
                c.auth = req.auth.clone();
            }
        }
        if let ClientOp::Ping = req.op {
            let hdr = ReplyHeader { xid: -2, zxid: last, err: 0 };
            out.push(Output::Send { conn, frame: frame_of(&hdr), reply: true });
            return;
        }
        if let ClientOp::SetWatches(w) = &req.op {
            self.set_watches(tree, conn, w, out);
        }
        let mut body = Vec::with_capacity(256);
        body.put_i32(0); // length, patched below
        ReplyHeader { xid: req.xid, zxid: last, err: 0 }.write(&mut body);
        let body_at = body.len();
        if let Err(e) = self.serve_read(tree, &req, &mut body) {
            body.truncate(body_at);
            body[body_at - 4..body_at].copy_from_slice(&e.code().to_be_bytes());
        }
        patch_len(&mut body);
        out.push(Output::Send { conn, frame: body, reply: true });
        if let ClientOp::Sasl(_) = req.op {
            out.push(Output::Close { conn }); // no SASL configured: AUTHFAILED then close
        }
    }

    /// Serves a read: its reply body appended to `out`, or its error code (and `out` untouched).
    fn serve_read(&mut self, tree: &DataTree, req: &Request, out: &mut Vec<u8>) -> Result<(), ErrorCode> {
        let conn = req.conn;
        let auth = &req.auth;
        let skip = self.skip_acl;
        match &req.op {
            ClientOp::Exists(r) => {
                if r.path.contains('\0') {
                    return Err(ErrorCode::BadArguments);
                }
                if let Some(n) = tree.get(&r.path) {
                    acl::check(tree.acl_list(n), perms::READ, auth, skip)?;
                }
                // exists leaves a watch even on a missing node: it fires on creation.
                if r.watch {
                    self.watches.add_data(&r.path, conn);
                }
                let stat = tree.get(&r.path).ok_or(ErrorCode::NoNode)?.stat();
                ExistsResponse { stat }.write(out);
                Ok(())
            }
            ClientOp::GetData(r) => {
                // GetDataResponse written from the node itself: no copy of the data.
                let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                acl::check(tree.acl_list(n), perms::READ, auth, skip)?;
                if r.watch {
                    self.watches.add_data(&r.path, conn);
                }
                out.put_buffer(n.data.as_deref());
                n.stat().write(out);
                Ok(())
            }
            ClientOp::GetChildren(r) => {
                let resp = self.get_children(tree, &r.path, r.watch, conn, auth)?;
                GetChildrenResponse { children: resp.children }.write(out);
                Ok(())
            }
            ClientOp::GetChildren2(r) => {
                let resp = self.get_children(tree, &r.path, r.watch, conn, auth)?;
                resp.write(out);
                Ok(())
            }
            ClientOp::GetAcl(r) => {
                let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                let list = tree.acl_of(n);
                acl::check(&list, perms::READ | perms::ADMIN, auth, skip)?;
                // Without ADMIN, digest hashes are hidden (ZOOKEEPER-1392).
                let list = if acl::allows(&list, perms::ADMIN, auth, skip) {
                    list
                } else {
                    list.into_iter()
                        .map(|mut a| {
                            if a.id.scheme == "digest" {
                                let user = a.id.id.split(':').next().unwrap_or("").to_string();
                                a.id.id = format!("{user}:x");
                            }
                            a
                        })
                        .collect()
                };
                let stat = n.stat();
                GetAclResponse { acl: list, stat }.write(out);
                Ok(())
            }
            ClientOp::GetAllChildrenNumber(r) => {
                let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
                acl::check(tree.acl_list(n), perms::READ, auth, skip)?;
                let total_number = tree.descendant_count(&r.path) as i32;
                GetAllChildrenNumberResponse { total_number }.write(out);
                Ok(())
            }
            ClientOp::GetEphemerals(r) => {
                let prefix = r.prefix_path.trim();
                let mut ephemerals = tree.ephemerals_of(req.session);
                if !(prefix.is_empty() || prefix == "/") {
                    ephemerals.retain(|p| p.starts_with(&r.prefix_path));
                }
                GetEphemeralsResponse { ephemerals }.write(out);
                Ok(())
            }
            ClientOp::Sync(r) => {
                let path = r.path.clone();
                SyncResponse { path }.write(out);
                Ok(())
            }
            ClientOp::WhoAmI => {
                let client_info =
                    auth.iter().map(|id| ClientInfo { auth_scheme: id.scheme.clone(), user: user_name(id) }).collect();
                WhoAmIResponse { client_info }.write(out);
                Ok(())
            }
            ClientOp::MultiRead(ops) => {
                let mut results = Vec::with_capacity(ops.len());
                for o in ops {
                    let r = match o {
                        ClientOp::GetData(r) => self.get_data(tree, r, conn, auth).map(OpResult::GetData),
                        ClientOp::GetChildren(r) => self
                            .get_children(tree, &r.path, r.watch, conn, auth)
                            .map(|c| OpResult::GetChildren(GetChildrenResponse { children: c.children })),
                        _ => Err(ErrorCode::MarshallingError),
                    };
                    results.push(r.unwrap_or_else(|e| OpResult::Error(e.code())));
                }
                encode_multi_response(&results, out);
                Ok(())
            }
            ClientOp::CheckWatches(r) => {
                // `WatcherType.fromInt` throws on an unknown type: MARSHALLINGERROR.
                if !valid_watcher_type(r.kind) {
                    return Err(ErrorCode::MarshallingError);
                }
                if self.watches.contains(&r.path, r.kind, conn) {
                    Ok(())
                } else {
                    Err(ErrorCode::NoWatcher)
                }
            }
            ClientOp::RemoveWatches(r) => {
                if !valid_watcher_type(r.kind) {
                    return Err(ErrorCode::MarshallingError);
                }
                if self.watches.remove(&r.path, r.kind, conn).is_empty() {
                    Err(ErrorCode::NoWatcher)
                } else {
                    Ok(())
                }
            }
            ClientOp::SetWatches(_) => Ok(()),
            ClientOp::AddWatch(r) => {
                // An unknown mode throws IllegalArgumentException in ZooKeeper's
                // `AddWatchMode.fromZooKeeperMode`, which it answers with MARSHALLINGERROR.
                let recursive = match r.mode {
                    0 => false,
                    1 => true,
                    _ => return Err(ErrorCode::MarshallingError),
                };
                self.watches.add_persistent(&r.path, conn, recursive);
                ErrorResponse { err: 0 }.write(out);
                Ok(())
            }
            ClientOp::Sasl(_) => Err(ErrorCode::AuthFailed),
            ClientOp::Invalid { err, .. } => Err(*err),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    fn get_data(
        &mut self,
        tree: &DataTree,
        r: &GetDataRequest,
        conn: ConnId,
        auth: &[Id],
    ) -> Result<GetDataResponse, ErrorCode> {
        let n = tree.get(&r.path).ok_or(ErrorCode::NoNode)?;
        acl::check(tree.acl_list(n), perms::READ, auth, self.skip_acl)?;
        if r.watch {
            self.watches.add_data(&r.path, conn);
        }
        Ok(GetDataResponse { data: n.data.as_ref().map(|d| d.to_vec()), stat: n.stat() })
    }

    fn get_children(
        &mut self,
        tree: &DataTree,
        path: &str,
        watch: bool,
        conn: ConnId,
        auth: &[Id],
    ) -> Result<GetChildren2Response, ErrorCode> {
        let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
        acl::check(tree.acl_list(n), perms::READ, auth, self.skip_acl)?;
        if watch {
            self.watches.add_child(path, conn);
        }
        Ok(GetChildren2Response { children: n.children.iter().cloned().collect(), stat: n.stat() })
    }

    /// setWatches after a reconnect: a watch whose change already happened (after
    /// `relative_zxid`) fires at once; the others are registered.
    fn set_watches(&mut self, tree: &DataTree, conn: ConnId, w: &SetWatches2, out: &mut Vec<Output>) {
        let rel = w.relative_zxid;
        let last = tree.last_processed_zxid;
        let fire = |kind: i32, path: &str, out: &mut Vec<Output>| {
            out.push(Output::Send { conn, frame: notification(kind, path, last), reply: false });
        };
        for p in &w.data_watches {
            match tree.get(p) {
                None => fire(event::NODE_DELETED, p, out),
                Some(n) if n.stat.mzxid > rel => fire(event::NODE_DATA_CHANGED, p, out),
                Some(_) => self.watches.add_data(p, conn),
            }
        }
        for p in &w.exist_watches {
            match tree.get(p) {
                Some(_) => fire(event::NODE_CREATED, p, out),
                None => self.watches.add_data(p, conn),
            }
        }
        for p in &w.child_watches {
            match tree.get(p) {
                None => fire(event::NODE_DELETED, p, out),
                Some(n) if n.stat.pzxid > rel => fire(event::NODE_CHILDREN_CHANGED, p, out),
                Some(_) => self.watches.add_child(p, conn),
            }
        }
        for p in &w.persistent_watches {
            self.watches.add_persistent(p, conn, false);
        }
        for p in &w.persistent_recursive_watches {
            self.watches.add_persistent(p, conn, true);
        }
    }

    pub fn conns(&self) -> impl Iterator<Item = (&ConnId, &ConnInfo)> {
        self.conns.iter()
    }
}

/// The handshake's answer for a live session: its negotiated timeout and password, and the
/// readOnly byte (`read_only`: this server is read-only) only if the client sent one.
fn session_established(
    conn: ConnId,
    session: SessionId,
    timeout: i32,
    read_only_byte: bool,
    read_only: bool,
) -> Output {
    let resp = ConnectResponse {
        protocol_version: 0,
        time_out: timeout,
        session_id: session,
        passwd: Some(password(session).to_vec()),
        read_only: read_only_byte.then_some(read_only),
    };
    Output::Send { conn, frame: frame_of(&resp), reply: false }
}

/// The name `whoAmI` reports for an identity (`AuthenticationProvider.getUserName`).
fn user_name(id: &Id) -> String {
    match id.scheme.as_str() {
        "digest" => id.id.split(':').next().unwrap_or("").to_string(),
        _ => id.id.clone(),
    }
}

/// `WatcherType`: Children (1), Data (2), Any (3), and since 3.9 Persistent (4) and
/// PersistentRecursive (5).
fn valid_watcher_type(kind: i32) -> bool {
    (watcher_type::CHILDREN..=watcher_type::PERSISTENT_RECURSIVE).contains(&kind)
}

/// The reply to a write, from what applying its txn did (`config`: a reconfig's new
/// configuration, which its reply carries as a getData would).
fn reply_for_txn(origin: &Origin, last: Zxid, a: &Applied, config: Option<&[u8]>) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.put_i32(0);
    if a.kind == op::ERROR {
        ReplyHeader { xid: origin.xid, zxid: last, err: a.err }.write(&mut b);
    } else if origin.op == op::MULTI {
        ReplyHeader { xid: origin.xid, zxid: last, err: 0 }.write(&mut b);
        let results: Vec<OpResult> = a.multi.iter().map(multi_result).collect();
        encode_multi_response(&results, &mut b);
    } else {
        ReplyHeader { xid: origin.xid, zxid: last, err: a.err }.write(&mut b);
        if a.err == 0 {
            let stat = a.stat.clone().unwrap_or_default();
            match origin.op {
                op::CREATE => CreateResponse { path: a.path.clone() }.write(&mut b),
                op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => {
                    Create2Response { path: a.path.clone(), stat }.write(&mut b)
                }
                op::SET_DATA => SetDataResponse { stat }.write(&mut b),
                op::SET_ACL => SetAclResponse { stat }.write(&mut b),
                op::RECONFIG => GetDataResponse { data: config.map(<[u8]>::to_vec), stat }.write(&mut b),
                _ => {}
            }
        }
    }
    patch_len(&mut b);
    b
}

fn multi_result(a: &Applied) -> OpResult {
    let stat = a.stat.clone().unwrap_or_default();
    match a.kind {
        op::CREATE => OpResult::Create(CreateResponse { path: a.path.clone() }),
        op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => {
            OpResult::Create2(Create2Response { path: a.path.clone(), stat })
        }
        op::DELETE | op::DELETE_CONTAINER => OpResult::Delete,
        op::SET_DATA => OpResult::SetData(SetDataResponse { stat }),
        op::CHECK => OpResult::Check,
        _ => OpResult::Error(a.err),
    }
}

/// A watch notification frame: ReplyHeader(-1, zxid, 0) + WatcherEvent.
pub fn notification(kind: i32, path: &str, zxid: Zxid) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + path.len());
    b.put_i32(0);
    ReplyHeader { xid: -1, zxid, err: 0 }.write(&mut b);
    WatcherEvent { kind, state: state::SYNC_CONNECTED, path: path.to_string() }.write(&mut b);
    patch_len(&mut b);
    b
}

/// A frame holding one record.
pub fn frame_of<R: Record>(r: &R) -> Vec<u8> {
    let mut b = Vec::with_capacity(64);
    b.put_i32(0);
    r.write(&mut b);
    patch_len(&mut b);
    b
}

/// Writes the frame length (all bytes after the 4-byte prefix) into the prefix.
fn patch_len(b: &mut [u8]) {
    let n = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&n.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::fourlw::SystemHost;
    use crate::jute::data::open_acl_unsafe;
    use crate::jute::txn::{CreateSessionTxn, CreateTxn, TxnHeader};
    use crate::jute::txn_body::TxnBody;
    use std::sync::Arc;

    fn xids(out: &[Output]) -> Vec<i32> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { frame, reply: true, .. } => Some(i32::from_be_bytes(frame[4..8].try_into().unwrap())),
                _ => None,
            })
            .collect()
    }

    /// A follower: a session's read waits behind its own write that is out at the leader, and
    /// both replies leave in request order once the leader's txn is applied.
    #[test]
    fn reads_wait_behind_the_sessions_forwarded_writes() {
        let cfg = Config::parse(std::path::Path::new("zoo.cfg"), "dataDir=/tmp/x\n").unwrap();
        let view = View {
            mode: "follower",
            serving: true,
            config: &cfg,
            started_wall_ms: 0,
            host: &SystemHost,
            quorum: None,
            secure_client_port: None,
        };
        let mut tree = DataTree::new();
        let mut c = Commit::new(false);
        let mut out = Vec::new();
        let (conn, session) = (1, 0x77);
        c.on_accept(conn, "/127.0.0.1:1".into(), false, 0);
        let origin = |xid, op| Origin { conn, xid, op, read_only_byte: false, received_ms: 0 };
        let hdr = |cxid, zxid, kind| TxnHeader { client_id: session, cxid, zxid, time: 0, kind };
        let session_txn = Transaction {
            header: hdr(0, 1, op::CREATE_SESSION),
            body: TxnBody::CreateSession(CreateSessionTxn { time_out: 4000 }),
            digest: None,
        };
        c.step(
            &mut tree,
            CommitItem::Forwarded { session, origin: origin(0, op::CREATE_SESSION) },
            0,
            0,
            &view,
            &mut out,
        );
        c.step(&mut tree, CommitItem::Txn { txn: session_txn, origin: None }, 0, 0, &view, &mut out);
        assert!(out.iter().any(|o| matches!(o, Output::SessionReady { session: 0x77, .. })));
        out.clear();
        c.step(&mut tree, CommitItem::Forwarded { session, origin: origin(5, op::CREATE) }, 0, 0, &view, &mut out);
        let read = Request {
            conn,
            session,
            xid: 6,
            op: ClientOp::Exists(ExistsRequest { path: "/a".into(), watch: false }),
            auth: Arc::new(vec![]),
            received_ms: 0,
        };
        c.step(&mut tree, CommitItem::Read(read), 0, 0, &view, &mut out);
        assert!(xids(&out).is_empty(), "the read waits for the session's write");
        let create = Transaction {
            header: hdr(5, 2, op::CREATE),
            body: TxnBody::Create(CreateTxn {
                path: "/a".into(),
                data: None,
                acl: open_acl_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
            digest: None,
        };
        c.step(&mut tree, CommitItem::Txn { txn: create, origin: None }, 0, 0, &view, &mut out);
        assert_eq!(xids(&out), [5, 6], "write reply, then the read that sees it");
        // With nothing out, reads are served at once.
        out.clear();
        let read = Request {
            conn,
            session,
            xid: 7,
            op: ClientOp::Exists(ExistsRequest { path: "/a".into(), watch: false }),
            auth: Arc::new(vec![]),
            received_ms: 0,
        };
        c.step(&mut tree, CommitItem::Read(read), 0, 0, &view, &mut out);
        assert_eq!(xids(&out), [7]);
        // A sync is answered when the leader's SYNC comes back; reads behind it wait for it.
        out.clear();
        let req = |xid, op| Request { conn, session, xid, op, auth: Arc::new(vec![]), received_ms: 0 };
        c.step(
            &mut tree,
            CommitItem::ForwardedSync(req(8, ClientOp::Sync(SyncRequest { path: "/".into() }))),
            0,
            0,
            &view,
            &mut out,
        );
        let exists = ClientOp::Exists(ExistsRequest { path: "/a".into(), watch: false });
        c.step(&mut tree, CommitItem::Read(req(9, exists)), 0, 0, &view, &mut out);
        assert!(xids(&out).is_empty());
        c.step(&mut tree, CommitItem::Synced, 0, 0, &view, &mut out);
        assert_eq!(xids(&out), [8, 9]);
        // Leaving the quorum role closes every connection and forgets what waited.
        out.clear();
        c.step(&mut tree, CommitItem::Forwarded { session, origin: origin(10, op::CREATE) }, 0, 0, &view, &mut out);
        c.step(&mut tree, CommitItem::CloseAll, 0, 0, &view, &mut out);
        assert_eq!(out, [Output::Close { conn }]);
        assert_eq!(c.conn_count(), 0);
    }
}
