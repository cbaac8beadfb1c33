//! Prep (ZooKeeper's `PrepRequestProcessor`): validates each write against the tree plus the
//! changes still in flight, and turns it into a txn with the next zxid. A write that fails
//! validation still becomes a txn, an `ErrorTxn`, as in ZooKeeper: it consumes a zxid, is
//! logged, and its reply leaves in order with everything else.
//!
//! Prep also owns session liveness: handshakes, touches, and expiry on the clock it is handed.

use super::{ClientOp, CommitItem, ConnId, Origin, PrepFacts, Request};
use crate::codes::{op, owner, CreateMode, ErrorCode};
use crate::ids::{SessionId, Zxid};
use crate::jute::data::{perms, Acl, Id, StatPersisted};
use crate::jute::proto::ConnectRequest;
use crate::jute::txn::*;
use crate::jute::txn_body::{SubTxn, Transaction, TxnBody};
use crate::metrics::Refusals;
use crate::sessions::{password, SessionTracker};
use crate::tree::quota::top_namespace;
use crate::tree::{acl, digest_of, path, DataTree, CONFIG, QUOTA, ZOOKEEPER};
use crate::verifier::QuorumVerifier;
use crate::zab::packet::Forwarded;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// Settings prep needs from zoo.cfg.
#[derive(Debug, Clone)]
pub struct PrepConfig {
    pub tick_ms: u32,
    pub session_timeout_ms_min: u32,
    pub session_timeout_ms_max: u32,
    pub extended_types_enabled: bool,
    pub skip_acl: bool,
    pub reconfig_enabled: bool,
    /// `standaloneEnabled`: a reconfig must then leave at least two voters.
    pub standalone_enabled: bool,
    /// `localSessionsEnabled`: an ensemble member opens new sessions locally, without a txn.
    pub local_sessions: bool,
    /// `localSessionsUpgradingEnabled`: a local session that creates an ephemeral node first
    /// becomes a global one (a createSession txn); otherwise it gets EPHEMERALONLOCALSESSION.
    pub local_sessions_upgrading: bool,
    /// The ACL schemes `authProvider.N` registers (`sasl`, `x509`).
    pub providers: acl::Providers,
    /// `enforceQuota`: a create or setData past a hard quota gets QUOTAEXCEEDED.
    pub enforce_quota: bool,
}

/// What the leader's quorum side tells prep, for `reconfig` (the peer thread sends it whenever
/// it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnsembleView {
    /// The configuration in force.
    pub verifier: QuorumVerifier,
    /// A reconfig txn is proposed and not committed.
    pub reconfig_in_flight: bool,
    /// The leader and the followers synchronised with it (`Leader.isQuorumSynced`).
    pub synced: BTreeSet<u64>,
}

/// A node as in-flight changes leave it (ZooKeeper's `ChangeRecord`); `None` = deleted.
#[derive(Debug, Clone)]
struct Pending {
    zxid: Zxid,
    node: Option<PendingNode>,
}

#[derive(Debug, Clone)]
struct PendingNode {
    stat: StatPersisted,
    child_count: i32,
    acl: Vec<Acl>,
    data: Option<Box<[u8]>>,
}

/// What this server does with writes: ZooKeeper's request processor chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Numbers txns and hands them to commit (`ZooKeeperServer`).
    Standalone,
    /// Numbers txns and proposes them to the quorum (`LeaderZooKeeperServer`); the replies wait
    /// at commit for the txn to come back committed. Expires sessions.
    Leader,
    /// Forwards writes, session creation and closing, and syncs to the leader
    /// (`FollowerZooKeeperServer`, `ObserverZooKeeperServer`); serves reads locally.
    Follower,
    /// Not serving (electing or synchronising): handshakes are refused.
    Down,
    /// Cut off from the quorum with `readonlymode.enabled` (`ReadOnlyZooKeeperServer`): only
    /// clients that ask for read-only sessions are served, with sessions local to this server;
    /// every write and `sync` is answered NOTREADONLY.
    ReadOnly,
}

/// What prep asks of the quorum (the `peer` thread), drained with `take_quorum`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToQuorum {
    /// Leader: a txn to propose.
    Propose(Transaction),
    /// Leader: a local client's `sync`.
    LocalSync,
    /// Leader: a learner's forwarded `sync`, after the proposals of everything it forwarded
    /// before it (ZooKeeper's leader answers it in that order, and its followers rely on it).
    LearnerSync { learner: u64 },
    /// Leader: the answer to a learner's REVALIDATE.
    Revalidated { learner: u64, session: SessionId, valid: bool },
    /// Follower: a local client's request for the leader (REQUEST), with its identities.
    Request(Forwarded, Vec<Id>),
    /// Follower: is this reconnecting session alive (REVALIDATE)?
    Revalidate { session: SessionId, timeout: i32 },
}

/// Inputs from connections and the clock.
#[derive(Debug)]
pub enum PrepInput {
    /// A new connection from `remote` (shown in `cons`); `secure` when it came to the
    /// `secureClientPort`.
    Accept {
        conn: ConnId,
        remote: String,
        secure: bool,
    },
    Connect {
        conn: ConnId,
        req: ConnectRequest,
    },
    Request(Request),
    Detach {
        conn: ConnId,
    },
    FourLetter {
        ask: crate::fourlw::Ask,
        reply: crossbeam_channel::Sender<String>,
    },
    /// From the admin server or the metrics endpoint.
    Inspect {
        question: crate::admin::Question,
        reply: crossbeam_channel::Sender<crate::admin::Answer>,
    },
    /// The clock: expire sessions, reap containers and TTL nodes.
    Tick {
        now_ms: u64,
        wall_ms: i64,
        reap: bool,
    },
    /// Leader: a request a learner forwarded (REQUEST), with its client's identities.
    FromLearner {
        learner: u64,
        request: Forwarded,
        auth: Vec<Id>,
    },
    /// Leader: sessions a learner's clients kept alive (PING replies).
    Touches(Vec<(SessionId, i32)>),
    /// Leader: a learner asks whether a session is alive.
    RevalidateAsk {
        learner: u64,
        session: SessionId,
        timeout: i32,
    },
    /// Follower: the leader's answer to our REVALIDATE.
    Revalidated {
        session: SessionId,
        valid: bool,
    },
}

pub struct Prep {
    cfg: PrepConfig,
    next_zxid: Zxid,
    outstanding: HashMap<String, Pending>,
    /// (zxid, path) in the order changes were made, to forget them once applied.
    outstanding_order: VecDeque<(Zxid, String)>,
    /// While a multi is prepared: each change's previous value, to roll back on failure.
    journal: Option<Vec<(String, Option<Pending>)>>,
    /// The tree digest after the last prepared change, with that change's zxid.
    tree_digest: Option<(Zxid, u64)>,
    pub sessions: SessionTracker,
    role: Role,
    to_quorum: Vec<ToQuorum>,
    /// Follower: reconnects waiting for the leader's REVALIDATE answer, by session.
    revalidating: HashMap<SessionId, Vec<(ConnId, u32, bool)>>,
    /// Follower: sessions with activity since the last PING, and their timeouts.
    touched: HashMap<SessionId, i32>,
    /// Leader: which server holds each session's connection (a learner id, or LOCAL_OWNER).
    owners: HashMap<SessionId, u64>,
    /// Leader: the ensemble as the quorum side last described it.
    ensemble: Option<EnsembleView>,
    /// Leader: the zxid of a reconfig prepared here and not yet seen in force.
    reconfig_prepared: Option<Zxid>,
    /// Local sessions (`LocalSessionTracker`): known to this server only, with the connection
    /// that opened them. Leader and learners alike; they expire here, without a txn.
    local: SessionTracker,
    local_conns: HashMap<SessionId, ConnId>,
    /// The top byte of the session ids this server makes: its server id.
    server_byte: i64,
    /// Writes refused with QUOTAEXCEEDED, by the top namespace of their path (`mntr`'s
    /// `zk_<ns>_quota_exceeded_error_per_namespace`); counted where ZooKeeper counts them, in
    /// the prep step of the leader or a standalone server.
    quota_exceeded: BTreeMap<String, Refusals>,
}

/// The owner of sessions whose connection is on the leader itself (`zab::leader::LOCAL`).
const LOCAL_OWNER: u64 = 0;

type PrepResult<T> = Result<T, ErrorCode>;

impl Prep {
    pub fn new(cfg: PrepConfig, last_zxid: Zxid, first_session_id: SessionId) -> Prep {
        let cfg_tick = cfg.tick_ms;
        Prep {
            sessions: SessionTracker::new(cfg.tick_ms, first_session_id),
            cfg,
            next_zxid: last_zxid + 1,
            outstanding: HashMap::new(),
            outstanding_order: VecDeque::new(),
            journal: None,
            tree_digest: None,
            role: Role::Standalone,
            to_quorum: Vec::new(),
            revalidating: HashMap::new(),
            touched: HashMap::new(),
            owners: HashMap::new(),
            ensemble: None,
            reconfig_prepared: None,
            local: SessionTracker::new(cfg_tick, first_session_id),
            local_conns: HashMap::new(),
            server_byte: first_session_id >> 56,
            quota_exceeded: BTreeMap::new(),
        }
    }

    /// The local sessions this server holds (`mntr`'s `local_sessions`).
    pub fn local_session_count(&self) -> usize {
        self.local_conns.len()
    }

    fn is_local(&self, session: SessionId) -> bool {
        self.local_conns.contains_key(&session)
    }

    /// Local sessions are for ensemble members that serve (ZooKeeper's standalone server and
    /// read-only server keep global sessions).
    fn opens_local_sessions(&self) -> bool {
        self.cfg.local_sessions && matches!(self.role, Role::Leader | Role::Follower)
    }

    /// Leader: the quorum side's view of the ensemble changed.
    pub fn set_ensemble(&mut self, view: EnsembleView) {
        if self.reconfig_prepared.is_some_and(|z| view.verifier.version >= z as u64 && !view.reconfig_in_flight) {
            self.reconfig_prepared = None;
        }
        self.ensemble = Some(view);
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Changes role (the quorum changed state). In-flight changes are forgotten (they were either
    /// committed and applied, or will never be); a leader numbers from `next_zxid` and tracks
    /// every session the tree holds with a fresh deadline, as ZooKeeper's new leader does.
    pub fn set_role(&mut self, role: Role, tree: &DataTree, next_zxid: Zxid, now_ms: u64) {
        log::info!("prep: {:?} -> {role:?}", self.role);
        self.role = role;
        self.reset(tree, now_ms);
        self.next_zxid = next_zxid;
        self.revalidating.clear();
        self.touched.clear();
        self.owners.clear();
        self.ensemble = None;
        self.reconfig_prepared = None;
        for (session, _) in std::mem::take(&mut self.local_conns) {
            self.local.remove(session);
        }
        if role == Role::Leader {
            for (&id, &timeout) in &tree.sessions {
                self.sessions.add(id, timeout.max(0) as u32, now_ms);
            }
        }
    }

    /// What the quorum must do, in order, since the last call.
    pub fn take_quorum(&mut self) -> Vec<ToQuorum> {
        std::mem::take(&mut self.to_quorum)
    }

    /// Follower: the sessions touched since the last call (for the PING reply).
    pub fn take_touches(&mut self) -> Vec<(SessionId, i32)> {
        self.touched.drain().collect()
    }

    /// Tracks the sessions a recovered tree holds, with fresh deadlines (clients get a full
    /// timeout to reconnect after a restart). Owners of ephemerals with no session left are
    /// tracked with a zero timeout, so their nodes go at the first tick (ZooKeeper's "clean up
    /// dead sessions").
    pub fn track_sessions_of(&mut self, tree: &DataTree, now_ms: u64) {
        for (&id, &timeout) in &tree.sessions {
            if !self.sessions.is_live(id) {
                self.sessions.add(id, timeout.max(0) as u32, now_ms);
            }
        }
        for &owner in tree.ephemerals().keys() {
            if !tree.sessions.contains_key(&owner) && !self.sessions.is_live(owner) {
                self.sessions.add(owner, 0, now_ms);
            }
        }
    }

    /// Forgets every change in flight: the txns after the tree's last applied zxid were never
    /// made durable (a failed log write) and will not be applied. Numbering restarts after the
    /// tree's last zxid, and sessions the tree still holds are tracked again.
    pub fn reset(&mut self, tree: &DataTree, now_ms: u64) {
        self.outstanding.clear();
        self.outstanding_order.clear();
        self.tree_digest = None;
        self.next_zxid = tree.last_processed_zxid + 1;
        self.track_sessions_of(tree, now_ms);
    }

    /// `checkQuota`, counting refusals by namespace (`updateQuotaExceededMetrics`).
    fn check_quota(&mut self, tree: &DataTree, path: &str, bytes_diff: i64, count_diff: i64) -> PrepResult<()> {
        let checked = tree.check_quota(path, bytes_diff, count_diff, self.cfg.enforce_quota);
        if checked == Err(ErrorCode::QuotaExceeded) {
            if let Some(ns) = top_namespace(path) {
                let n = self.quota_exceeded.entry(ns.to_string()).or_default();
                n.since_start += 1;
                n.since_srst += 1;
            }
        }
        checked
    }

    /// `srst` (`ServerStats.reset` zeroes ZooKeeper's counter sets, keeping their keys).
    fn reset_stats(&mut self) {
        self.quota_exceeded.values_mut().for_each(|n| n.since_srst = 0);
    }

    /// What a four-letter word or admin question needs from prep; the sessions by deadline only
    /// for `dump`.
    fn facts(&self, dump: bool) -> PrepFacts {
        PrepFacts {
            outstanding: self.outstanding_len(),
            session_expiry: if dump { self.sessions.by_deadline() } else { Vec::new() },
            quota_exceeded: self.quota_exceeded.clone(),
        }
    }

    /// Txns prepared but not yet applied (for `stat`'s "Outstanding").
    pub fn outstanding_len(&self) -> usize {
        self.outstanding_order.len()
    }

    /// Handles one input against the tree as last applied; appends what the commit thread must
    /// do, in order.
    pub fn step(&mut self, tree: &DataTree, input: PrepInput, now_ms: u64, wall_ms: i64, out: &mut Vec<CommitItem>) {
        self.forget_applied(tree.last_processed_zxid);
        let start = out.len();
        self.dispatch(tree, input, now_ms, wall_ms, out);
        if self.role == Role::Leader {
            // A txn is proposed; its reply (if it has a client here) waits at commit until the
            // txn comes back committed, as a follower's forwarded write does.
            let items: Vec<CommitItem> = out.drain(start..).collect();
            for item in items {
                match item {
                    CommitItem::Txn { txn, origin } => {
                        if let Some(origin) = origin {
                            out.push(CommitItem::Forwarded { session: txn.header.client_id, origin });
                        }
                        self.to_quorum.push(ToQuorum::Propose(txn));
                    }
                    other => out.push(other),
                }
            }
        }
    }

    fn dispatch(&mut self, tree: &DataTree, input: PrepInput, now_ms: u64, wall_ms: i64, out: &mut Vec<CommitItem>) {
        match input {
            PrepInput::Connect { conn, req } => self.on_connect(tree, conn, req, now_ms, wall_ms, out),
            PrepInput::Request(req) => self.on_request(tree, req, now_ms, wall_ms, out),
            PrepInput::Accept { conn, remote, secure } => {
                out.push(CommitItem::Accept { conn, remote, secure, wall_ms })
            }
            PrepInput::Detach { conn } => out.push(CommitItem::Detach { conn }),
            PrepInput::FourLetter { ask, reply } => {
                let prep = self.facts(ask.cmd == "dump");
                if ask.cmd == "srst" {
                    self.reset_stats();
                }
                out.push(CommitItem::FourLetter { ask, prep, reply })
            }
            PrepInput::Inspect { question, reply } => {
                let dump =
                    matches!(&question, crate::admin::Question::Command { command, .. } if command.name == "dump");
                let prep = self.facts(dump);
                if question.effect() == crate::admin::Effect::ResetServer {
                    self.reset_stats();
                }
                out.push(CommitItem::Inspect { prep, question, reply })
            }
            PrepInput::Tick { now_ms, .. } if !self.local_conns.is_empty() && self.role == Role::Follower => {
                self.expire_local(now_ms, out)
            }
            PrepInput::Tick { .. } if !matches!(self.role, Role::Standalone | Role::Leader) => {}
            PrepInput::Tick { now_ms, wall_ms, reap } => {
                self.expire_local(now_ms, out);
                for session in self.sessions.expire(now_ms) {
                    log::info!("Expiring session 0x{session:x}, timeout of {}ms exceeded", self.timeout(session));
                    let txn = self.close_session(tree, session, 0, wall_ms);
                    out.push(CommitItem::Txn { txn, origin: None });
                }
                if reap {
                    self.reap_containers(tree, wall_ms, out);
                }
            }
            PrepInput::FromLearner { learner, request, auth } if self.role == Role::Leader => {
                self.on_forwarded(tree, learner, request, auth, now_ms, wall_ms, out)
            }
            PrepInput::Touches(touches) if self.role == Role::Leader => {
                for (session, _) in touches {
                    self.sessions.touch(session, now_ms);
                }
            }
            PrepInput::RevalidateAsk { learner, session, .. } if self.role == Role::Leader => {
                let valid = self.sessions.touch(session, now_ms);
                if valid {
                    self.owners.insert(session, learner);
                }
                self.to_quorum.push(ToQuorum::Revalidated { learner, session, valid });
            }
            PrepInput::Revalidated { session, valid } => {
                for (conn, timeout_ms, read_only_byte) in self.revalidating.remove(&session).unwrap_or_default() {
                    if valid {
                        self.sessions.add(session, timeout_ms, now_ms);
                        out.push(CommitItem::Attach { conn, session, timeout_ms, read_only_byte, read_only: false });
                    } else {
                        log::info!("Invalid session 0x{session:x} for client conn {conn}, probably expired");
                        out.push(CommitItem::Reject { conn, read_only_byte });
                    }
                }
            }
            PrepInput::FromLearner { .. } | PrepInput::Touches(_) | PrepInput::RevalidateAsk { .. } => {
                log::debug!("prep: {:?} ignores a learner's message", self.role);
            }
        }
    }

    /// Leader: a learner's forwarded request becomes a txn with no local client (the learner
    /// that forwarded it answers its client when the txn commits).
    #[allow(clippy::too_many_arguments)]
    fn on_forwarded(
        &mut self,
        tree: &DataTree,
        learner: u64,
        f: Forwarded,
        auth: Vec<Id>,
        now_ms: u64,
        wall_ms: i64,
        out: &mut Vec<CommitItem>,
    ) {
        match f.op {
            op::SYNC => {
                self.sessions.touch(f.session, now_ms);
                self.to_quorum.push(ToQuorum::LearnerSync { learner });
            }
            op::CREATE_SESSION => {
                let timeout = match crate::zab::packet::decode_int(&f.body) {
                    Ok(t) => (t.max(0) as u32).clamp(self.cfg.session_timeout_ms_min, self.cfg.session_timeout_ms_max),
                    Err(_) => {
                        // ZooKeeper's PrepRequestProcessor turns it into an error txn: every
                        // forwarded request gets one, or the follower waits for it forever.
                        log::warn!("a forwarded createSession for 0x{:x} has no timeout", f.session);
                        let err = ErrorCode::MarshallingError;
                        let req = Request {
                            conn: 0,
                            session: f.session,
                            xid: f.cxid,
                            op: ClientOp::Invalid { op: op::CREATE_SESSION, err },
                            auth: std::sync::Arc::new(auth),
                            received_ms: now_ms,
                        };
                        let txn = self.prep_write(tree, &req, Err(err), wall_ms);
                        out.push(CommitItem::Txn { txn, origin: None });
                        return;
                    }
                };
                self.sessions.add(f.session, timeout, now_ms);
                self.owners.insert(f.session, learner);
                let txn = self.create_session_txn(tree, f.session, f.cxid, timeout, wall_ms);
                out.push(CommitItem::Txn { txn, origin: None });
            }
            op::CLOSE_SESSION => {
                let txn = self.close_session(tree, f.session, f.cxid, wall_ms);
                out.push(CommitItem::Txn { txn, origin: None });
            }
            kind => {
                // `LeaderSessionTracker.checkSession`: with local sessions on, a session the
                // leader does not know that another server made is that server's local session.
                let foreign_local = self.cfg.local_sessions && f.session >> 56 != self.server_byte;
                let live = self.sessions.touch(f.session, now_ms) || foreign_local;
                let check = self.session_check(f.session, live, learner);
                let op = ClientOp::decode(kind, &f.body)
                    .unwrap_or(ClientOp::Invalid { op: kind, err: ErrorCode::MarshallingError });
                let req = Request {
                    conn: 0,
                    session: f.session,
                    xid: f.cxid,
                    op,
                    auth: std::sync::Arc::new(auth),
                    received_ms: now_ms,
                };
                let txn = self.prep_write(tree, &req, check, wall_ms);
                out.push(CommitItem::Txn { txn, origin: None });
            }
        }
    }

    fn create_session_txn(
        &mut self,
        tree: &DataTree,
        session: SessionId,
        cxid: i32,
        timeout: u32,
        wall_ms: i64,
    ) -> Transaction {
        let zxid = self.next_zxid();
        let header = TxnHeader { client_id: session, cxid, zxid, time: wall_ms, kind: op::CREATE_SESSION };
        let body = TxnBody::CreateSession(CreateSessionTxn { time_out: timeout as i32 });
        let digest = self.txn_digest(tree, header.kind);
        Transaction { header, body, digest }
    }

    fn timeout(&self, session: SessionId) -> u32 {
        self.sessions.timeout_of(session).unwrap_or(0)
    }

    fn forget_applied(&mut self, applied: Zxid) {
        while let Some((zxid, _)) = self.outstanding_order.front() {
            if *zxid > applied {
                break;
            }
            let (zxid, path) = self.outstanding_order.pop_front().expect("front exists");
            if self.outstanding.get(&path).is_some_and(|p| p.zxid == zxid) {
                self.outstanding.remove(&path);
            }
        }
    }

    fn next_zxid(&mut self) -> Zxid {
        let z = self.next_zxid;
        self.next_zxid += 1;
        z
    }

    fn on_connect(
        &mut self,
        tree: &DataTree,
        conn: ConnId,
        req: ConnectRequest,
        now_ms: u64,
        wall_ms: i64,
        out: &mut Vec<CommitItem>,
    ) {
        let read_only_byte = req.read_only.is_some();
        if self.role == Role::Down {
            log::info!("Refusing session request for client conn {conn}: this server is not serving");
            out.push(CommitItem::Close { conn });
            return;
        }
        if self.role == Role::ReadOnly && req.read_only != Some(true) {
            log::info!("Refusing session request for not-read-only client conn {conn}");
            out.push(CommitItem::Close { conn });
            return;
        }
        if req.last_zxid_seen > tree.last_processed_zxid {
            log::info!(
                "Refusing session request for client conn {conn}: it has seen zxid 0x{:x}, our last zxid is 0x{:x}",
                req.last_zxid_seen,
                tree.last_processed_zxid
            );
            out.push(CommitItem::Close { conn });
            return;
        }
        let timeout =
            (req.time_out.max(0) as u32).clamp(self.cfg.session_timeout_ms_min, self.cfg.session_timeout_ms_max);
        if req.session_id == 0 && self.opens_local_sessions() {
            let session = self.sessions.next_session_id();
            self.local.add(session, timeout, now_ms);
            self.local_conns.insert(session, conn);
            log::debug!("local session 0x{session:x} for client conn {conn}");
            out.push(CommitItem::Attach { conn, session, timeout_ms: timeout, read_only_byte, read_only: false });
            return;
        }
        if self.is_local(req.session_id) {
            // A local session can come back only to the server that holds it.
            if req.passwd.as_deref() == Some(&password(req.session_id)[..]) && self.local.touch(req.session_id, now_ms)
            {
                self.local_conns.insert(req.session_id, conn);
                let timeout_ms = self.local.timeout_of(req.session_id).unwrap_or(timeout);
                out.push(CommitItem::Attach {
                    conn,
                    session: req.session_id,
                    timeout_ms,
                    read_only_byte,
                    read_only: false,
                });
            } else {
                out.push(CommitItem::Reject { conn, read_only_byte });
            }
            return;
        }
        if req.session_id == 0 {
            let session = self.sessions.next_session_id();
            self.sessions.add(session, timeout, now_ms);
            if self.role == Role::ReadOnly {
                // A session of this server alone: no txn (the log is not written in this mode).
                out.push(CommitItem::Attach { conn, session, timeout_ms: timeout, read_only_byte, read_only: true });
                return;
            }
            let origin = Origin { conn, xid: 0, op: op::CREATE_SESSION, read_only_byte, received_ms: now_ms };
            if self.role == Role::Follower {
                let body = crate::zab::packet::encode_int(timeout as i32);
                let f = Forwarded { session, cxid: 0, op: op::CREATE_SESSION, body };
                out.push(CommitItem::Forwarded { session, origin });
                self.to_quorum.push(ToQuorum::Request(f, Vec::new()));
                return;
            }
            if self.role == Role::Leader {
                self.owners.insert(session, LOCAL_OWNER);
            }
            let txn = self.create_session_txn(tree, session, 0, timeout, wall_ms);
            out.push(CommitItem::Txn { txn, origin: Some(origin) });
            return;
        }
        let passwd_ok = req.passwd.as_deref() == Some(&password(req.session_id)[..]);
        if passwd_ok && self.role == Role::Follower {
            // Only the leader knows whether a session is alive (`Learner.validateSession`).
            let first = !self.revalidating.contains_key(&req.session_id);
            self.revalidating.entry(req.session_id).or_default().push((conn, timeout, read_only_byte));
            if first {
                self.to_quorum.push(ToQuorum::Revalidate { session: req.session_id, timeout: timeout as i32 });
            }
            return;
        }
        if passwd_ok && self.sessions.touch(req.session_id, now_ms) {
            if self.role == Role::Leader {
                self.owners.insert(req.session_id, LOCAL_OWNER);
            }
            let timeout_ms = self.sessions.timeout_of(req.session_id).unwrap_or(timeout);
            let read_only = self.role == Role::ReadOnly;
            out.push(CommitItem::Attach { conn, session: req.session_id, timeout_ms, read_only_byte, read_only });
        } else {
            let why = if passwd_ok { "expired or unknown" } else { "wrong password" };
            log::info!("Invalid session 0x{:x} for client conn {conn}, {why}", req.session_id);
            out.push(CommitItem::Reject { conn, read_only_byte });
        }
    }

    fn on_request(&mut self, tree: &DataTree, req: Request, now_ms: u64, wall_ms: i64, out: &mut Vec<CommitItem>) {
        if self.is_local(req.session) && matches!(self.role, Role::Leader | Role::Follower) {
            self.local.touch(req.session, now_ms);
            if let ClientOp::CloseSession = req.op {
                self.local.remove(req.session);
                self.local_conns.remove(&req.session);
                out.push(CommitItem::Close { conn: req.conn });
                return;
            }
            if creates_ephemeral(&req.op) {
                if !self.cfg.local_sessions_upgrading {
                    let op = ClientOp::Invalid { op: req.op.opcode(), err: ErrorCode::EphemeralOnLocalSession };
                    out.push(CommitItem::Read(Request { op, ..req }));
                    return;
                }
                self.upgrade(tree, req.session, now_ms, wall_ms, out);
            } else if self.role == Role::Follower {
                // The leader accepts a learner's local sessions unseen; reads are served here.
                return self.forward_or_read(req, now_ms, out);
            } else if !req.op.is_write() && !matches!(req.op, ClientOp::Sync(_)) {
                out.push(CommitItem::Read(req));
                return;
            } else if !matches!(req.op, ClientOp::Sync(_)) {
                let origin = Origin::of(&req);
                let txn = self.prep_write(tree, &req, Ok(()), wall_ms);
                out.push(CommitItem::Txn { txn, origin: Some(origin) });
                return;
            }
        }
        match self.role {
            Role::Follower => return self.forward_or_read(req, now_ms, out),
            Role::Down => {
                // The connection is being closed; its client retries elsewhere.
                out.push(CommitItem::Close { conn: req.conn });
                return;
            }
            Role::ReadOnly => return self.read_only_request(req, now_ms, out),
            Role::Leader if matches!(req.op, ClientOp::Sync(_)) => {
                self.sessions.touch(req.session, now_ms);
                out.push(CommitItem::ForwardedSync(req));
                self.to_quorum.push(ToQuorum::LocalSync);
                return;
            }
            Role::Leader | Role::Standalone => {}
        }
        let live = self.sessions.touch(req.session, now_ms);
        if !req.op.is_write() {
            out.push(CommitItem::Read(req));
            return;
        }
        let origin = Origin::of(&req);
        if let ClientOp::CloseSession = req.op {
            let txn = self.close_session(tree, req.session, req.xid, wall_ms);
            out.push(CommitItem::Txn { txn, origin: Some(origin) });
            return;
        }
        let check = self.session_check(req.session, live, LOCAL_OWNER);
        let txn = self.prep_write(tree, &req, check, wall_ms);
        out.push(CommitItem::Txn { txn, origin: Some(origin) });
    }

    /// `checkUpgradeSession`: a local session about to own an ephemeral node becomes global,
    /// by a createSession txn (through the leader) that precedes the create.
    fn upgrade(&mut self, tree: &DataTree, session: SessionId, now_ms: u64, wall_ms: i64, out: &mut Vec<CommitItem>) {
        let timeout = self.local.timeout_of(session).unwrap_or(self.cfg.session_timeout_ms_min);
        log::info!("Upgrading local session 0x{session:x} to a global session");
        self.local.remove(session);
        self.local_conns.remove(&session);
        self.sessions.add(session, timeout, now_ms);
        if self.role == Role::Follower {
            let body = crate::zab::packet::encode_int(timeout as i32);
            self.to_quorum
                .push(ToQuorum::Request(Forwarded { session, cxid: 0, op: op::CREATE_SESSION, body }, Vec::new()));
        } else {
            self.owners.insert(session, LOCAL_OWNER);
            let txn = self.create_session_txn(tree, session, 0, timeout, wall_ms);
            out.push(CommitItem::Txn { txn, origin: None });
        }
    }

    /// Local sessions past their timeout end here, without a txn: their connections close.
    fn expire_local(&mut self, now_ms: u64, out: &mut Vec<CommitItem>) {
        for session in self.local.expire(now_ms) {
            log::info!("Expiring local session 0x{session:x}");
            if let Some(conn) = self.local_conns.remove(&session) {
                out.push(CommitItem::Close { conn });
            }
        }
    }

    /// Read-only (`ReadOnlyRequestProcessor`): reads are served; writes, `multi` and `sync` are
    /// answered NOTREADONLY; closing a session closes its connection.
    fn read_only_request(&mut self, req: Request, now_ms: u64, out: &mut Vec<CommitItem>) {
        self.sessions.touch(req.session, now_ms);
        match req.op {
            ClientOp::CloseSession => {
                self.sessions.remove(req.session);
                out.push(CommitItem::Close { conn: req.conn });
            }
            ref op if op.is_write() || matches!(op, ClientOp::Sync(_)) => {
                let op = ClientOp::Invalid { op: op.opcode(), err: ErrorCode::NotReadOnly };
                out.push(CommitItem::Read(Request { op, ..req }));
            }
            _ => out.push(CommitItem::Read(req)),
        }
    }

    /// Follower: reads are served here; writes, closeSession and sync go to the leader, and
    /// commit holds the session's later reads until they come back.
    fn forward_or_read(&mut self, req: Request, now_ms: u64, out: &mut Vec<CommitItem>) {
        let timeout = self.sessions.timeout_of(req.session).unwrap_or(0);
        self.sessions.touch(req.session, now_ms);
        self.touched.insert(req.session, timeout as i32);
        let sync = matches!(req.op, ClientOp::Sync(_));
        if !req.op.is_write() && !sync {
            out.push(CommitItem::Read(req));
            return;
        }
        let mut body = Vec::new();
        req.op.write_body(&mut body);
        let f = Forwarded { session: req.session, cxid: req.xid, op: req.op.opcode(), body };
        self.to_quorum.push(ToQuorum::Request(f, req.auth.to_vec()));
        if sync {
            out.push(CommitItem::ForwardedSync(req));
        } else {
            out.push(CommitItem::Forwarded { session: req.session, origin: Origin::of(&req) });
        }
    }

    /// A write request → its txn (an ErrorTxn when it fails).
    /// Whether a session may write: alive, and (on a leader) through the server that holds it
    /// now (`SessionTrackerImpl.checkSession`: a session that moved answers SESSIONMOVED on
    /// the connection it left).
    fn session_check(&mut self, session: SessionId, live: bool, owner: u64) -> Result<(), ErrorCode> {
        if !live {
            return Err(ErrorCode::SessionExpired);
        }
        if self.role != Role::Leader {
            return Ok(());
        }
        // A session a new leader has not seen yet belongs to the first server it hears from.
        match *self.owners.entry(session).or_insert(owner) {
            o if o != owner => Err(ErrorCode::SessionMoved),
            _ => Ok(()),
        }
    }

    fn prep_write(
        &mut self,
        tree: &DataTree,
        req: &Request,
        check: Result<(), ErrorCode>,
        wall_ms: i64,
    ) -> Transaction {
        let zxid = self.next_zxid();
        let mut header =
            TxnHeader { client_id: req.session, cxid: req.xid, zxid, time: wall_ms, kind: req.op.opcode() };
        let result = if let Err(e) = check {
            Err(e)
        } else if let ClientOp::Multi(ops) = &req.op {
            Ok(self.prep_multi(tree, req, ops, &header))
        } else {
            self.prep_op(tree, req, &req.op, &header)
        };
        let body = match result {
            Ok(body) => body,
            Err(code) => {
                log::debug!("session 0x{:x} cxid {} {}: {code:?}", req.session, req.xid, op::name(header.kind));
                header.kind = op::ERROR;
                TxnBody::Error(ErrorTxn { err: code.code() })
            }
        };
        let digest = self.txn_digest(tree, header.kind);
        Transaction { header, body, digest }
    }

    /// Every sub-op shares the multi's zxid. On the first failure the changes made by earlier
    /// sub-ops are rolled back; the txn keeps them, then ErrorTxn(code), then ErrorTxn(-2).
    fn prep_multi(&mut self, tree: &DataTree, req: &Request, ops: &[ClientOp], header: &TxnHeader) -> TxnBody {
        self.journal = Some(Vec::new());
        let digest_before = self.tree_digest;
        let mut subs = Vec::with_capacity(ops.len());
        let mut failed = false;
        for o in ops {
            if failed {
                subs.push(error_sub(ErrorCode::RuntimeInconsistency));
                continue;
            }
            match self.prep_op(tree, req, o, header) {
                Ok(body) => subs.push(SubTxn { kind: o.opcode(), body }),
                Err(code) => {
                    failed = true;
                    subs.push(error_sub(code));
                    for (p, pending) in self.journal.take().unwrap_or_default().into_iter().rev() {
                        match pending {
                            Some(v) => self.outstanding.insert(p, v),
                            None => self.outstanding.remove(&p),
                        };
                    }
                    self.tree_digest = digest_before;
                }
            }
        }
        self.journal = None;
        TxnBody::Multi(subs)
    }

    fn prep_op(&mut self, tree: &DataTree, req: &Request, o: &ClientOp, header: &TxnHeader) -> PrepResult<TxnBody> {
        let zxid = header.zxid;
        match o {
            ClientOp::Create { op: kind, req: c } => {
                self.prep_create(tree, req, *kind, &c.path, &c.data, &c.acl, c.flags, -1, header)
            }
            ClientOp::CreateTtl(c) => {
                self.prep_create(tree, req, op::CREATE_TTL, &c.path, &c.data, &c.acl, c.flags, c.ttl, header)
            }
            ClientOp::Delete(d) => {
                let parent_path = parent_for_delete(&d.path)?;
                let parent = self.record(tree, parent_path)?;
                acl::check(&parent.acl, perms::DELETE, &req.auth, self.cfg.skip_acl)?;
                let node = self.record(tree, &d.path)?;
                check_version(node.stat.version, d.version)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                self.record_delete(tree, &d.path, zxid)?;
                Ok(TxnBody::Delete(DeleteTxn { path: d.path.clone() }))
            }
            ClientOp::DeleteContainer(p) => {
                let parent_path = parent_for_delete(p)?;
                let node = self.record(tree, p)?;
                if node.child_count > 0 {
                    return Err(ErrorCode::NotEmpty);
                }
                let kind = node.stat.ephemeral_owner;
                if kind != owner::CONTAINER && kind & owner::TTL_MASK != owner::TTL_MASK {
                    return Err(ErrorCode::BadVersion);
                }
                let _ = parent_path;
                self.record_delete(tree, p, zxid)?;
                Ok(TxnBody::Delete(DeleteTxn { path: p.clone() }))
            }
            ClientOp::SetData(s) => {
                validate(&s.path)?;
                let mut node = self.record(tree, &s.path)?;
                acl::check(&node.acl, perms::WRITE, &req.auth, self.cfg.skip_acl)?;
                let grown =
                    s.data.as_ref().map_or(0, Vec::len) as i64 - node.data.as_deref().map_or(0, <[u8]>::len) as i64;
                self.check_quota(tree, &s.path, grown, 0)?;
                let version = check_version(node.stat.version, s.version)?;
                node.stat.version = version;
                node.stat.mtime = header.time;
                node.stat.mzxid = zxid;
                node.data = s.data.clone().map(Vec::into_boxed_slice);
                self.put_changed(tree, s.path.clone(), zxid, Some(node));
                Ok(TxnBody::SetData(SetDataTxn { path: s.path.clone(), data: s.data.clone(), version }))
            }
            ClientOp::SetAcl(s) => {
                validate(&s.path)?;
                let list = acl::fixup(&s.acl, &req.auth, self.cfg.providers)?;
                let mut node = self.record(tree, &s.path)?;
                acl::check(&node.acl, perms::ADMIN, &req.auth, self.cfg.skip_acl)?;
                let version = check_version(node.stat.aversion, s.version)?;
                node.stat.aversion = version;
                node.acl = list.clone();
                self.put_changed(tree, s.path.clone(), zxid, Some(node));
                Ok(TxnBody::SetAcl(SetAclTxn { path: s.path.clone(), acl: list, version }))
            }
            ClientOp::Check(c) => {
                // A standalone check would be a txn that changes nothing (ZOOKEEPER-2623).
                if header.kind == op::CHECK {
                    return Err(ErrorCode::Unimplemented);
                }
                validate(&c.path)?;
                let node = self.record(tree, &c.path)?;
                acl::check(&node.acl, perms::READ, &req.auth, self.cfg.skip_acl)?;
                let version = check_version(node.stat.version, c.version)?;
                Ok(TxnBody::Check(CheckVersionTxn { path: c.path.clone(), version }))
            }
            ClientOp::Reconfig(_) if !self.cfg.reconfig_enabled => Err(ErrorCode::ReconfigDisabled),
            ClientOp::Reconfig(r) => self.prep_reconfig(tree, req, r, header),
            _ => Err(ErrorCode::MarshallingError),
        }
    }

    /// `PrepRequestProcessor`, case `reconfig`: the checks in ZooKeeper's order, then a SetData
    /// of `/zookeeper/config` (data version -1) carrying the new configuration, versioned by
    /// this txn's zxid. A standalone server, even with reconfig on, cannot reconfigure.
    fn prep_reconfig(
        &mut self,
        tree: &DataTree,
        req: &Request,
        r: &crate::jute::proto::ReconfigRequest,
        header: &TxnHeader,
    ) -> PrepResult<TxnBody> {
        let zxid = header.zxid;
        let view = match (&self.ensemble, self.role) {
            (Some(view), Role::Leader) => view,
            _ => return Err(ErrorCode::Unimplemented),
        };
        // A reconfig's client is answered once its txn is applied to the tree, which may be
        // before the quorum side's view of the commit gets here: the tree then holds the newer
        // configuration. (ZooKeeper's leader puts a configuration in force before it commits the
        // reconfig, so no request that follows the answer finds it pending.)
        let applied = applied_config(tree).filter(|qv| qv.version > view.verifier.version);
        if (view.reconfig_in_flight && applied.is_none())
            || self.reconfig_prepared.is_some_and(|z| tree.last_processed_zxid < z)
        {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let in_force = applied.as_ref().unwrap_or(&view.verifier);
        if r.cur_config_id != -1 && r.cur_config_id as u64 != in_force.version {
            log::info!(
                "Reconfiguration from version {:x} failed -- last seen version is {:x}",
                r.cur_config_id,
                in_force.version
            );
            return Err(ErrorCode::BadVersion);
        }
        let next =
            in_force.reconfigured(r.joining_servers.as_deref(), r.leaving_servers.as_deref(), r.new_members.as_deref());
        let mut next = next.map_err(|e| {
            log::info!("Reconfiguration failed: {}", e.0);
            ErrorCode::BadArguments
        })?;
        next.version = zxid as u64;
        let voters = next.voters().len();
        if voters < 1 || (self.cfg.standalone_enabled && voters < 2) {
            log::info!("Reconfig failed - new configuration must include at least 2 followers");
            return Err(ErrorCode::BadArguments);
        }
        if !next.is_quorum(&view.synced) {
            log::info!("Reconfig failed - there must be a connected and synced quorum in new configuration");
            return Err(ErrorCode::NewConfigNoQuorum);
        }
        let mut node = self.record(tree, CONFIG)?;
        acl::check(&node.acl, perms::WRITE, &req.auth, self.cfg.skip_acl)?;
        let text = next.text().into_bytes();
        node.stat.version = -1;
        node.stat.mtime = header.time;
        node.stat.mzxid = zxid;
        node.data = Some(text.clone().into_boxed_slice());
        self.put_changed(tree, CONFIG.to_string(), zxid, Some(node));
        self.reconfig_prepared = Some(zxid);
        Ok(TxnBody::SetData(SetDataTxn { path: CONFIG.to_string(), data: Some(text), version: -1 }))
    }

    #[allow(clippy::too_many_arguments)]
    fn prep_create(
        &mut self,
        tree: &DataTree,
        req: &Request,
        kind: i32,
        path: &str,
        data: &Option<Vec<u8>>,
        acl_list: &[Acl],
        flags: i32,
        ttl: i64,
        header: &TxnHeader,
    ) -> PrepResult<TxnBody> {
        let zxid = header.zxid;
        let mode = CreateMode::from_flags(flags).ok_or(ErrorCode::BadArguments)?;
        if mode.is_ttl() && !self.cfg.extended_types_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        // createTTL must name a TTL mode: ZooKeeper's validateTTL lets a non-TTL mode with a
        // negative ttl through, and its DataTree then throws applying the CreateTTLTxn.
        let ttl_ok = if mode.is_ttl() { ttl > 0 && ttl <= owner::MAX_TTL } else { ttl < 0 && kind != op::CREATE_TTL };
        if !ttl_ok {
            return Err(ErrorCode::BadArguments);
        }
        if !path.contains('/') || path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let parent_path = path::split(path).0;
        let parent_path = if parent_path.is_empty() { "/" } else { parent_path };
        let list = acl::fixup(acl_list, &req.auth, self.cfg.providers)?;
        let mut parent = self.record(tree, parent_path)?;
        acl::check(&parent.acl, perms::CREATE, &req.auth, self.cfg.skip_acl)?;
        let full = if mode.is_sequential() { format!("{path}{:010}", parent.stat.cversion) } else { path.to_string() };
        validate(&full)?;
        if self.record(tree, &full).is_ok() {
            return Err(ErrorCode::NodeExists);
        }
        let parent_owner = parent.stat.ephemeral_owner;
        let parent_is_ephemeral =
            parent_owner != 0 && parent_owner != owner::CONTAINER && parent_owner & owner::TTL_MASK != owner::TTL_MASK;
        if parent_is_ephemeral {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        let new_cversion = parent.stat.cversion + 1;
        self.check_quota(tree, &full, data.as_ref().map_or(0, Vec::len) as i64, 1)?;
        let ephemeral_owner = if kind == op::CREATE_CONTAINER || mode == CreateMode::Container {
            owner::CONTAINER
        } else if mode.is_ttl() {
            owner::TTL_MASK | ttl
        } else if mode.is_ephemeral() {
            req.session
        } else {
            0
        };
        let body = match kind {
            op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn {
                path: full.clone(),
                data: data.clone(),
                acl: list.clone(),
                parent_cversion: new_cversion,
            }),
            op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn {
                path: full.clone(),
                data: data.clone(),
                acl: list.clone(),
                parent_cversion: new_cversion,
                ttl,
            }),
            _ => TxnBody::Create(CreateTxn {
                path: full.clone(),
                data: data.clone(),
                acl: list.clone(),
                ephemeral: mode.is_ephemeral(),
                parent_cversion: new_cversion,
            }),
        };
        parent.child_count += 1;
        parent.stat.cversion = new_cversion;
        parent.stat.pzxid = zxid;
        self.put_changed(tree, parent_path.to_string(), zxid, Some(parent));
        let stat = StatPersisted {
            czxid: zxid,
            mzxid: zxid,
            ctime: header.time,
            mtime: header.time,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner,
            pzxid: zxid,
        };
        let data = data.clone().map(Vec::into_boxed_slice);
        self.put_changed(tree, full, zxid, Some(PendingNode { stat, child_count: 0, acl: list, data }));
        Ok(body)
    }

    /// closeSession: the session's ephemerals as the tree and the in-flight changes leave them.
    fn close_session(&mut self, tree: &DataTree, session: SessionId, cxid: i32, wall_ms: i64) -> Transaction {
        self.sessions.remove(session);
        self.owners.remove(&session);
        let zxid = self.next_zxid();
        let mut paths: Vec<String> = tree.ephemerals_of(session);
        for (p, pending) in &self.outstanding {
            match &pending.node {
                None => paths.retain(|x| x != p),
                Some(n) if n.stat.ephemeral_owner == session && !paths.contains(p) => paths.push(p.clone()),
                Some(_) => {}
            }
        }
        paths.sort();
        for p in &paths {
            let _ = self.record_delete(tree, p, zxid);
        }
        let header = TxnHeader { client_id: session, cxid, zxid, time: wall_ms, kind: op::CLOSE_SESSION };
        let body = TxnBody::CloseSession(Some(CloseSessionTxn { paths_to_delete: paths }));
        let digest = self.txn_digest(tree, header.kind);
        Transaction { header, body, digest }
    }

    /// ContainerManager: empty containers that once had children, and TTL nodes with no children
    /// whose ttl has passed since their last change, are deleted by deleteContainer txns.
    fn reap_containers(&mut self, tree: &DataTree, wall_ms: i64, out: &mut Vec<CommitItem>) {
        let mut victims = Vec::new();
        for p in tree.containers() {
            if let Some(n) = tree.get(p) {
                if n.children.is_empty() && n.stat.cversion > 0 {
                    victims.push(p.clone());
                }
            }
        }
        for p in tree.ttls() {
            if let Some(n) = tree.get(p) {
                let ttl = n.stat.ephemeral_owner & owner::MAX_TTL;
                if n.children.is_empty() && wall_ms - n.stat.mtime > ttl {
                    victims.push(p.clone());
                }
            }
        }
        for p in victims {
            if self.outstanding.contains_key(&p) {
                continue;
            }
            let req = Request {
                conn: 0,
                session: 0,
                xid: 0,
                op: ClientOp::DeleteContainer(p.clone()),
                auth: Default::default(),
                received_ms: 0,
            };
            let txn = self.prep_write(tree, &req, Ok(()), wall_ms);
            if txn.header.kind != op::ERROR {
                log::info!("Deleting {} container or expired TTL node", p);
                out.push(CommitItem::Txn { txn, origin: None });
            }
        }
    }

    /// The node at `path` after in-flight changes, or NONODE.
    fn record(&self, tree: &DataTree, path: &str) -> PrepResult<PendingNode> {
        if let Some(p) = self.outstanding.get(path) {
            return p.node.clone().ok_or(ErrorCode::NoNode);
        }
        let n = tree.get(path).ok_or(ErrorCode::NoNode)?;
        Ok(PendingNode {
            stat: n.stat.clone(),
            child_count: n.children.len() as i32,
            acl: tree.acl_of(n),
            data: n.data.clone(),
        })
    }

    /// The tree digest once every prepared txn is applied (ZooKeeper's `getCurrentTreeDigest`).
    fn current_digest(&self, tree: &DataTree) -> u64 {
        match self.tree_digest {
            Some((z, d)) if z > tree.last_processed_zxid => d,
            _ => tree.digest(),
        }
    }

    /// The TxnDigest a txn carries: the tree digest after it (none on error txns).
    fn txn_digest(&self, tree: &DataTree, kind: i32) -> Option<TxnDigest> {
        (kind != op::ERROR)
            .then(|| TxnDigest { version: crate::tree::DIGEST_VERSION, tree_digest: self.current_digest(tree) as i64 })
    }

    /// Records a change to `path` and moves the running tree digest by the node's old and new
    /// digests (ZooKeeper's precalculated digests: ADD, REMOVE, UPDATE).
    fn put_changed(&mut self, tree: &DataTree, path: String, zxid: Zxid, node: Option<PendingNode>) {
        let before = self.record(tree, &path).map(|n| digest_of(&path, n.data.as_deref(), &n.stat)).unwrap_or(0);
        let after = node.as_ref().map(|n| digest_of(&path, n.data.as_deref(), &n.stat)).unwrap_or(0);
        let digest = self.current_digest(tree).wrapping_sub(before).wrapping_add(after);
        self.tree_digest = Some((zxid, digest));
        self.put(path, zxid, node);
    }

    fn put(&mut self, path: String, zxid: Zxid, node: Option<PendingNode>) {
        if let Some(journal) = &mut self.journal {
            journal.push((path.clone(), self.outstanding.get(&path).cloned()));
        }
        self.outstanding_order.push_back((zxid, path.clone()));
        self.outstanding.insert(path, Pending { zxid, node });
    }

    fn record_delete(&mut self, tree: &DataTree, p: &str, zxid: Zxid) -> PrepResult<()> {
        let parent_path = path::split(p).0;
        let mut parent = self.record(tree, parent_path)?;
        parent.child_count -= 1;
        parent.stat.pzxid = zxid;
        self.put_changed(tree, parent_path.to_string(), zxid, Some(parent));
        self.put_changed(tree, p.to_string(), zxid, None);
        Ok(())
    }
}

/// The configuration `/zookeeper/config` holds in the tree: the last one a txn put in force.
fn applied_config(tree: &DataTree) -> Option<QuorumVerifier> {
    let data = tree.get(CONFIG)?.data.as_deref()?;
    QuorumVerifier::parse(std::str::from_utf8(data).ok()?).ok()
}

fn error_sub(code: ErrorCode) -> SubTxn {
    SubTxn { kind: op::ERROR, body: TxnBody::Error(ErrorTxn { err: code.code() }) }
}

fn validate(p: &str) -> PrepResult<()> {
    path::validate(p).map_err(|_| ErrorCode::BadArguments)
}

/// `getParentPathAndValidate`: the special nodes and malformed paths cannot be deleted.
fn parent_for_delete(p: &str) -> PrepResult<&str> {
    if !p.contains('/') || p.contains('\0') || matches!(p, "/" | ZOOKEEPER | QUOTA | CONFIG) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(path::split(p).0)
}

/// `checkAndIncVersion`: -1 matches any version; the next version skips -1 (ZOOKEEPER-4743).
fn check_version(current: i32, expected: i32) -> PrepResult<i32> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    let next = current.wrapping_add(1);
    Ok(if next == -1 { 0 } else { next })
}

/// Identities a new connection starts with: its client address under the `ip` scheme.
pub fn initial_auth(peer_ip: &str) -> Vec<Id> {
    vec![Id::new("ip", peer_ip)]
}

/// Whether `op` creates an ephemeral node (`checkUpgradeSession` looks at create, create2 and the
/// creates inside a multi).
fn creates_ephemeral(op: &ClientOp) -> bool {
    match op {
        ClientOp::Create { req, .. } => CreateMode::from_flags(req.flags).is_some_and(CreateMode::is_ephemeral),
        ClientOp::Multi(ops) => ops.iter().any(creates_ephemeral),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::zxid;
    use crate::jute::data::open_acl_unsafe;
    use crate::jute::proto::{CreateRequest, DeleteRequest, ExistsRequest, SetDataRequest, SyncRequest};
    use std::sync::Arc;

    fn prep() -> Prep {
        let cfg = PrepConfig {
            tick_ms: 100,
            session_timeout_ms_min: 200,
            session_timeout_ms_max: 2000,
            extended_types_enabled: false,
            skip_acl: false,
            reconfig_enabled: false,
            standalone_enabled: true,
            local_sessions: false,
            local_sessions_upgrading: false,
            providers: acl::Providers::default(),
            enforce_quota: false,
        };
        let mut p = Prep::new(cfg, 0, 0x100);
        p.sessions.add(7, 1000, 0);
        p
    }

    fn create(path: &str, flags: i32) -> ClientOp {
        ClientOp::Create {
            op: op::CREATE,
            req: CreateRequest { path: path.into(), data: Some(b"d".to_vec()), acl: open_acl_unsafe(), flags },
        }
    }

    fn run(p: &mut Prep, tree: &DataTree, o: ClientOp) -> Transaction {
        let mut out = Vec::new();
        let req = Request { conn: 1, session: 7, xid: 1, op: o, auth: Arc::new(vec![]), received_ms: 0 };
        p.step(tree, PrepInput::Request(req), 0, 5, &mut out);
        match out.pop() {
            Some(CommitItem::Txn { txn, .. }) => txn,
            other => panic!("expected a txn, got {other:?}"),
        }
    }

    fn request(session: SessionId, xid: i32, o: ClientOp) -> PrepInput {
        PrepInput::Request(Request { conn: 1, session, xid, op: o, auth: Arc::new(vec![]), received_ms: 0 })
    }

    /// A leader's reconfig is answered once its txn is applied; one that follows is checked
    /// against the configuration it put in force, even before the quorum side says so.
    #[test]
    fn a_reconfig_after_an_applied_one_starts_from_its_configuration() {
        let mut tree = DataTree::new();
        tree.sessions.insert(7, 1000);
        let mut p = prep();
        p.cfg.reconfig_enabled = true;
        p.cfg.skip_acl = true;
        p.set_role(Role::Leader, &tree, zxid(1, 1), 0);
        let first = QuorumVerifier::loopback(&[1, 2, 3], &[], zxid(1, 0) as u64);
        let view = |in_flight| EnsembleView {
            verifier: first.clone(),
            reconfig_in_flight: in_flight,
            synced: BTreeSet::from([1, 2, 3]),
        };
        p.set_ensemble(view(false));
        let reconfig = |joining: Option<&str>, leaving: Option<&str>, from: u64| {
            ClientOp::Reconfig(crate::jute::proto::ReconfigRequest {
                joining_servers: joining.map(str::to_owned),
                leaving_servers: leaving.map(str::to_owned),
                new_members: None,
                cur_config_id: from as i64,
            })
        };
        let propose = |p: &mut Prep, tree: &DataTree, xid, o| {
            p.step(tree, request(7, xid, o), 0, 5, &mut Vec::new());
            let ToQuorum::Propose(t) = p.take_quorum().remove(0) else { panic!("a proposal") };
            t
        };
        let error = |code: ErrorCode| TxnBody::Error(ErrorTxn { err: code.code() });

        let removal = propose(&mut p, &tree, 1, reconfig(None, Some("3"), first.version));
        assert_eq!(removal.header.kind, op::RECONFIG);
        assert_eq!(
            propose(&mut p, &tree, 2, reconfig(None, Some("2"), first.version)).body,
            error(ErrorCode::ReconfigInProgress)
        );
        p.set_ensemble(view(true));
        tree.apply(&removal.header, &removal.body, &mut Vec::new());
        // Applied (its client may have its answer) before the quorum side's next view.
        let back = "server.3=127.0.0.1:20003:30003:participant;127.0.0.1:40003";
        let stale = propose(&mut p, &tree, 3, reconfig(Some(back), None, first.version));
        assert_eq!(stale.body, error(ErrorCode::BadVersion));
        let again = propose(&mut p, &tree, 4, reconfig(Some(back), None, removal.header.zxid as u64));
        assert_eq!(again.header.kind, op::RECONFIG);
    }

    #[test]
    fn a_follower_forwards_writes_and_syncs_and_serves_reads() {
        let tree = DataTree::new();
        let mut p = prep();
        p.set_role(Role::Follower, &tree, 0, 0);
        let mut out = Vec::new();
        p.step(&tree, request(7, 3, create("/a", 0)), 0, 5, &mut out);
        p.step(
            &tree,
            request(7, 4, ClientOp::Exists(ExistsRequest { path: "/a".into(), watch: false })),
            0,
            5,
            &mut out,
        );
        p.step(&tree, request(7, 5, ClientOp::Sync(SyncRequest { path: "/".into() })), 0, 5, &mut out);
        assert!(matches!(&out[0], CommitItem::Forwarded { session: 7, origin } if origin.xid == 3));
        assert!(matches!(&out[1], CommitItem::Read(r) if r.xid == 4));
        assert!(matches!(&out[2], CommitItem::ForwardedSync(r) if r.xid == 5));
        let q = p.take_quorum();
        assert!(matches!(&q[..], [ToQuorum::Request(w, _), ToQuorum::Request(s, _)]
            if (w.session, w.cxid, w.op, s.op) == (7, 3, op::CREATE, op::SYNC)));
        let ToQuorum::Request(w, _) = &q[0] else { unreachable!() };
        assert_eq!(ClientOp::decode(w.op, &w.body).unwrap(), create("/a", 0), "the body travels as the client sent it");
        assert_eq!(p.take_touches(), vec![(7, 1000)]);
        // A follower numbers nothing and expires nothing: that is the leader's.
        p.step(&tree, PrepInput::Tick { now_ms: 60_000, wall_ms: 0, reap: true }, 60_000, 0, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn a_follower_asks_the_leader_before_reattaching_a_session() {
        let tree = DataTree::new();
        let mut p = prep();
        p.set_role(Role::Follower, &tree, 0, 0);
        let mut out = Vec::new();
        let req = ConnectRequest { session_id: 0x55, passwd: Some(password(0x55).to_vec()), ..connect(None) };
        p.step(&tree, PrepInput::Connect { conn: 9, req }, 0, 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(p.take_quorum(), vec![ToQuorum::Revalidate { session: 0x55, timeout: 1000 }]);
        p.step(&tree, PrepInput::Revalidated { session: 0x55, valid: true }, 0, 0, &mut out);
        assert!(matches!(out[..], [CommitItem::Attach { conn: 9, session: 0x55, .. }]));
    }

    /// A handshake for a new session with a 1 s timeout.
    fn connect(read_only: Option<bool>) -> ConnectRequest {
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            time_out: 1000,
            session_id: 0,
            passwd: Some(vec![0; 16]),
            read_only,
        }
    }

    /// A follower (server 2) with local sessions on; returns it and a local session's id.
    fn follower_with_a_local_session(upgrading: bool) -> (Prep, DataTree, SessionId) {
        let tree = DataTree::new();
        let mut p = prep();
        p.cfg.local_sessions = true;
        p.cfg.local_sessions_upgrading = upgrading;
        p.server_byte = 2;
        p.set_role(Role::Follower, &tree, 0, 0);
        let mut out = Vec::new();
        p.step(&tree, PrepInput::Connect { conn: 9, req: connect(None) }, 0, 0, &mut out);
        let Some(CommitItem::Attach { conn: 9, session, .. }) = out.pop() else { panic!("attached at once: {out:?}") };
        assert!(p.take_quorum().is_empty(), "no createSession goes to the leader");
        assert_eq!(p.local_session_count(), 1);
        (p, tree, session)
    }

    #[test]
    fn a_local_session_is_upgraded_before_its_first_ephemeral() {
        let (mut p, tree, session) = follower_with_a_local_session(true);
        let mut out = Vec::new();
        p.step(&tree, request(session, 1, create("/persistent", 0)), 0, 0, &mut out);
        assert!(matches!(&p.take_quorum()[..], [ToQuorum::Request(f, _)] if f.op == op::CREATE));
        p.step(&tree, request(session, 2, create("/e", 1)), 0, 0, &mut out);
        let q = p.take_quorum();
        assert!(
            matches!(&q[..], [ToQuorum::Request(s, _), ToQuorum::Request(c, _)]
                if (s.op, s.session, c.op) == (op::CREATE_SESSION, session, op::CREATE)),
            "{q:?}"
        );
        assert_eq!(p.local_session_count(), 0);
    }

    #[test]
    fn without_upgrading_an_ephemeral_on_a_local_session_is_refused() {
        let (mut p, tree, session) = follower_with_a_local_session(false);
        let mut out = Vec::new();
        p.step(&tree, request(session, 2, create("/e", 1)), 0, 0, &mut out);
        let Some(CommitItem::Read(r)) = out.pop() else { panic!("answered here: {out:?}") };
        assert!(matches!(r.op, ClientOp::Invalid { err: ErrorCode::EphemeralOnLocalSession, .. }));
        assert!(p.take_quorum().is_empty());
    }

    #[test]
    fn a_leader_takes_writes_from_another_servers_local_sessions() {
        let tree = DataTree::new();
        let mut p = prep();
        p.cfg.local_sessions = true;
        p.set_role(Role::Leader, &tree, zxid(1, 1), 0);
        let mut out = Vec::new();
        let body = |o: &ClientOp| {
            let mut b = Vec::new();
            o.write_body(&mut b);
            b
        };
        let o = create("/x", 0);
        let foreign = Forwarded { session: 2 << 56 | 5, cxid: 1, op: op::CREATE, body: body(&o) };
        p.step(&tree, PrepInput::FromLearner { learner: 3, request: foreign, auth: vec![] }, 0, 0, &mut out);
        let ToQuorum::Propose(t) = &p.take_quorum()[0] else { panic!() };
        assert_eq!(t.header.kind, op::CREATE, "a txn, not SESSIONEXPIRED");
        let mine = Forwarded { session: 0x100 | 6, cxid: 1, op: op::CREATE, body: body(&create("/y", 0)) };
        p.step(&tree, PrepInput::FromLearner { learner: 3, request: mine, auth: vec![] }, 0, 0, &mut out);
        let ToQuorum::Propose(t) = &p.take_quorum()[0] else { panic!() };
        assert_eq!(t.header.kind, op::ERROR, "an unknown session of our own has expired");
    }

    /// A learner's sync comes back to the leader core after the proposals of what that learner
    /// forwarded before it: a ZooKeeper follower matches its commits and its SYNC answers to
    /// its queue of local requests in order, and stalls if a SYNC overtakes a commit.
    #[test]
    fn every_forwarded_request_gets_a_txn_or_a_sync_in_order() {
        let tree = DataTree::new();
        let mut p = prep();
        p.set_role(Role::Leader, &tree, zxid(1, 1), 0);
        let mut out = Vec::new();
        let mut body = Vec::new();
        create("/x", 0).write_body(&mut body);
        let session = 2 << 56 | 5;
        let write = Forwarded { session, cxid: 1, op: op::CREATE, body };
        let sync = Forwarded { session: session + 1, cxid: 1, op: op::SYNC, body: Vec::new() };
        p.step(&tree, PrepInput::FromLearner { learner: 3, request: write, auth: vec![] }, 0, 0, &mut out);
        p.step(&tree, PrepInput::FromLearner { learner: 3, request: sync, auth: vec![] }, 0, 0, &mut out);
        let q = p.take_quorum();
        assert!(matches!(&q[..], [ToQuorum::Propose(_), ToQuorum::LearnerSync { learner: 3 }]), "{q:?}");
        // A createSession without its timeout still gets a txn (an error).
        let bad = Forwarded { session: session + 2, cxid: 0, op: op::CREATE_SESSION, body: vec![1] };
        p.step(&tree, PrepInput::FromLearner { learner: 3, request: bad, auth: vec![] }, 0, 0, &mut out);
        let q = p.take_quorum();
        assert!(matches!(&q[..], [ToQuorum::Propose(t)] if t.header.kind == op::ERROR), "{q:?}");
    }

    #[test]
    fn a_read_only_server_takes_read_only_clients_and_refuses_writes() {
        let tree = DataTree::new();
        let mut p = prep();
        p.set_role(Role::ReadOnly, &tree, 0, 0);
        let mut out = Vec::new();
        for refused in [None, Some(false)] {
            p.step(&tree, PrepInput::Connect { conn: 8, req: connect(refused) }, 0, 0, &mut out);
            assert!(matches!(out.pop(), Some(CommitItem::Close { conn: 8 })), "{refused:?}");
        }
        p.step(&tree, PrepInput::Connect { conn: 9, req: connect(Some(true)) }, 0, 0, &mut out);
        let Some(CommitItem::Attach { conn: 9, session, read_only: true, .. }) = out.pop() else {
            panic!("a local session for the read-only client")
        };
        assert!(p.take_quorum().is_empty(), "no txn, no quorum");
        for o in [create("/a", 0), ClientOp::Sync(SyncRequest { path: "/".into() })] {
            p.step(&tree, request(session, 3, o), 0, 0, &mut out);
            let Some(CommitItem::Read(r)) = out.pop() else { panic!("answered here") };
            assert!(matches!(r.op, ClientOp::Invalid { err: ErrorCode::NotReadOnly, .. }), "{:?}", r.op);
        }
        p.step(
            &tree,
            request(session, 4, ClientOp::Exists(ExistsRequest { path: "/".into(), watch: true })),
            0,
            0,
            &mut out,
        );
        assert!(matches!(out.pop(), Some(CommitItem::Read(r)) if matches!(r.op, ClientOp::Exists(_))));
    }

    #[test]
    fn a_leader_proposes_and_knows_where_each_session_is() {
        let tree = DataTree::new();
        let mut p = prep();
        p.set_role(Role::Leader, &tree, crate::ids::zxid(2, 1), 0);
        let mut out = Vec::new();
        p.step(&tree, request(7, 1, create("/a", 0)), 0, 5, &mut out);
        assert!(matches!(&out[..], [CommitItem::Forwarded { session: 7, .. }]), "{out:?}");
        let q = p.take_quorum();
        assert!(matches!(&q[..], [ToQuorum::Propose(t)] if t.header.zxid == 0x2_0000_0001));
        // Session 7 writes here; the same session's write forwarded by learner 4 is refused.
        let f = |cxid| Forwarded {
            session: 7,
            cxid,
            op: op::CREATE,
            body: {
                let mut b = Vec::new();
                create("/b", 0).write_body(&mut b);
                b
            },
        };
        out.clear();
        p.step(&tree, PrepInput::FromLearner { learner: 4, request: f(2), auth: vec![] }, 0, 5, &mut out);
        assert!(out.is_empty(), "a learner's request has no client here");
        let q = p.take_quorum();
        assert!(matches!(&q[..], [ToQuorum::Propose(t)]
            if t.body == TxnBody::Error(ErrorTxn { err: ErrorCode::SessionMoved.code() })));
        // Once learner 4 revalidates it, the session is there, and writes from here are refused.
        p.step(&tree, PrepInput::RevalidateAsk { learner: 4, session: 7, timeout: 1000 }, 0, 5, &mut out);
        assert_eq!(p.take_quorum(), vec![ToQuorum::Revalidated { learner: 4, session: 7, valid: true }]);
        p.step(&tree, PrepInput::FromLearner { learner: 4, request: f(3), auth: vec![] }, 0, 5, &mut out);
        assert!(matches!(&p.take_quorum()[..], [ToQuorum::Propose(t)] if t.header.kind == op::CREATE));
    }

    #[test]
    fn in_flight_changes_are_seen_before_they_apply() {
        let tree = DataTree::new();
        let mut p = prep();
        let a = run(&mut p, &tree, create("/a", 0));
        assert_eq!(a.header.kind, op::CREATE);
        let seq = run(&mut p, &tree, create("/a/s-", 2));
        match seq.body {
            TxnBody::Create(c) => {
                assert_eq!((c.path.as_str(), c.parent_cversion), ("/a/s-0000000000", 1))
            }
            other => panic!("{other:?}"),
        }
        let again = run(&mut p, &tree, create("/a", 0));
        assert_eq!(again.body, TxnBody::Error(ErrorTxn { err: ErrorCode::NodeExists.code() }));
        let del = run(&mut p, &tree, ClientOp::Delete(DeleteRequest { path: "/a".into(), version: -1 }));
        assert_eq!(del.body, TxnBody::Error(ErrorTxn { err: ErrorCode::NotEmpty.code() }));
        let set = run(&mut p, &tree, ClientOp::SetData(SetDataRequest { path: "/a".into(), data: None, version: 0 }));
        assert_eq!(set.body, TxnBody::SetData(SetDataTxn { path: "/a".into(), data: None, version: 1 }));
        assert_eq!(set.header.zxid, 5, "errors consume zxids too");
    }

    #[test]
    fn failed_multi_rolls_back_its_changes() {
        let tree = DataTree::new();
        let mut p = prep();
        let m = run(
            &mut p,
            &tree,
            ClientOp::Multi(vec![create("/x", 0), create("/s", 2), create("/nope/y", 0), create("/z", 0)]),
        );
        let kinds: Vec<i32> = match &m.body {
            TxnBody::Multi(subs) => subs.iter().map(|s| s.kind).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(kinds, [op::CREATE, op::CREATE, op::ERROR, op::ERROR]);
        let s = run(&mut p, &tree, create("/s", 2));
        match s.body {
            TxnBody::Create(c) => {
                assert_eq!(c.path, "/s0000000000", "root cversion rolled back to 0")
            }
            other => panic!("{other:?}"),
        }
        let x = run(&mut p, &tree, create("/x", 0));
        assert_eq!(x.header.kind, op::CREATE, "the rolled-back /x can be created");
    }

    #[test]
    fn txn_digests_are_the_tree_digest_after_the_txn() {
        let mut tree = DataTree::new();
        let mut p = prep();
        let ops = vec![
            create("/a", 0),
            create("/a/b", 1),
            create("/a/s-", 2),
            ClientOp::SetData(SetDataRequest { path: "/a".into(), data: Some(b"new".to_vec()), version: -1 }),
            ClientOp::Multi(vec![create("/m", 0), create("/nope/x", 0)]),
            ClientOp::Multi(vec![create("/m", 0), create("/m/c", 0)]),
            ClientOp::Delete(DeleteRequest { path: "/a/b".into(), version: -1 }),
            create("/a", 0), // fails: an error txn, no digest
            create("/e", 1),
        ];
        // Prepare everything first (all in flight), then apply in order: each digest must match.
        let txns: Vec<Transaction> = ops.into_iter().map(|o| run(&mut p, &tree, o)).collect();
        for t in &txns {
            tree.apply(&t.header, &t.body, &mut Vec::new());
            match &t.digest {
                Some(d) => assert_eq!(d.tree_digest as u64, tree.digest(), "after 0x{:x}", t.header.zxid),
                None => assert_eq!(t.header.kind, op::ERROR),
            }
        }
        let close = p.close_session(&tree, 7, 0, 9);
        tree.apply(&close.header, &close.body, &mut Vec::new());
        assert!(tree.get("/e").is_none(), "closeSession deleted the ephemeral");
        assert_eq!(close.digest.unwrap().tree_digest as u64, tree.digest());
    }

    #[test]
    fn versions_skip_minus_one() {
        assert_eq!(check_version(i32::MAX, -1), Ok(i32::MIN));
        assert_eq!(check_version(-2, -2), Ok(0));
        assert_eq!(check_version(3, 4), Err(ErrorCode::BadVersion));
    }

    #[test]
    fn ephemeral_parents_and_special_paths() {
        let tree = DataTree::new();
        let mut p = prep();
        run(&mut p, &tree, create("/e", 1));
        let child = run(&mut p, &tree, create("/e/c", 0));
        assert_eq!(child.body, TxnBody::Error(ErrorTxn { err: ErrorCode::NoChildrenForEphemerals.code() }));
        let del = run(&mut p, &tree, ClientOp::Delete(DeleteRequest { path: "/zookeeper".into(), version: -1 }));
        assert_eq!(del.body, TxnBody::Error(ErrorTxn { err: ErrorCode::BadArguments.code() }));
        let close = p.close_session(&tree, 7, 0, 0);
        assert_eq!(close.body, TxnBody::CloseSession(Some(CloseSessionTxn { paths_to_delete: vec!["/e".into()] })));
    }
}
