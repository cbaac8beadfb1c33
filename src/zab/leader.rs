//! The leader side of ZAB (ZooKeeper's `Leader` + `LearnerHandler`), as a pure core.
//!
//! Discovery: learners send FOLLOWERINFO/OBSERVERINFO with their accepted epoch; once a quorum of
//! voters (the leader included) is known, the new epoch is 1 + the highest accepted epoch, made
//! durable, and announced in LEADERINFO. ACKEPOCHs come back with each learner's last zxid; a
//! learner ahead of the leader makes the leader step down.
//!
//! Synchronisation, per learner, when a quorum of voters has acknowledged the epoch: DIFF
//! (committed txns after the learner's last zxid), TRUNC (the learner has txns the leader does
//! not) or SNAP (too far behind the in-memory committed log), then the proposals still
//! outstanding, then NEWLEADER. A quorum of NEWLEADER ACKs establishes the epoch: UPTODATE goes out
//! and proposals may start.
//!
//! Broadcast: a proposal commits once a quorum of voters — the leader's own log included — has
//! acknowledged that zxid, and only after every earlier proposal committed.

use super::learner::packet;
use super::packet::{self as pk, Forwarded, PacketType, PROTOCOL_VERSION};
use crate::codes::op;
use crate::ids::{counter_of, epoch_of, zxid, SessionId, Zxid};
use crate::jute::data::Id;
use crate::jute::quorum::{LearnerInfo, QuorumPacket};
use crate::jute::txn_body::Transaction;
use crate::jute::Record;
use crate::metrics::{BufferStats, LeaderFigures};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// A connection from a learner, numbered by the shell.
pub type LearnerId = u64;

/// The zxid counter is never allowed to wrap: this close to the end, the leader steps down so a
/// new epoch starts (ZOOKEEPER-1277).
pub const ZXID_COUNTER_LIMIT: u32 = 0xffff_fff0;

#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub my_id: u64,
    pub voters: BTreeSet<u64>,
    pub init_limit_ticks: u32,
    pub sync_limit_ticks: u32,
    /// Most committed txns kept in memory for DIFF.
    pub committed_log_max: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    LearnerConnected(LearnerId),
    Packet(LearnerId, QuorumPacket),
    LearnerGone(LearnerId),
    /// A txn from prep (zxid assigned there), to propose.
    Propose(Transaction),
    /// The leader's own log is durable up to here.
    Persisted(Zxid),
    /// A client `sync` on the leader itself: answered as `Send(LOCAL, SYNC)` once everything
    /// proposed before it has committed.
    LocalSync,
    Tick,
}

/// The learner id that stands for the leader's own clients (answers to `LocalSync`).
pub const LOCAL: LearnerId = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send(LearnerId, QuorumPacket),
    /// Right after the SNAP packet just sent: stream the tree (sessions, tree, "BenWasHere").
    StreamSnapshot(LearnerId),
    Close(LearnerId, String),
    WriteAcceptedEpoch(u32),
    WriteCurrentEpoch(u32),
    Persist(Transaction),
    Apply(Zxid),
    /// The epoch is established: prep may number txns from `epoch << 32 | 1`.
    Established {
        epoch: u32,
    },
    StepDown(String),
    /// A learner forwarded a client request (REQUEST) for prep.
    Forward {
        learner: LearnerId,
        request: Forwarded,
        auth: Vec<Id>,
    },
    /// Sessions a learner's clients kept alive (PING reply), for prep's tracker.
    Touches(Vec<(SessionId, i32)>),
    /// A learner asks whether a reconnecting session is valid.
    Revalidate {
        learner: LearnerId,
        session: SessionId,
        timeout: i32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LearnerPhase {
    /// Connected, FOLLOWERINFO not yet seen.
    New,
    /// FOLLOWERINFO seen; waiting for the epoch / sending LEADERINFO.
    Discovery,
    /// ACKEPOCH seen; waiting for a quorum of epoch ACKs before sync.
    AwaitSync { last_zxid: Zxid },
    /// Sync sent (and forwarding): waiting for its NEWLEADER ACK.
    Syncing,
    /// NEWLEADER acknowledged; UPTODATE sent once the epoch is established.
    Synced,
}

#[derive(Debug, Clone)]
struct Learner {
    sid: u64,
    observer: bool,
    phase: LearnerPhase,
    last_heard: u64,
    uptodate_sent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Discovery,
    AwaitEpochAcks,
    AwaitNewLeaderAcks,
    Broadcast,
    Stopped,
}

struct Proposal {
    bytes: Vec<u8>,
    acks: BTreeSet<u64>,
}

pub struct Leader {
    cfg: LeaderConfig,
    phase: Phase,
    accepted_epoch: u32,
    current_epoch: u32,
    epoch: Option<u32>,
    /// Accepted epochs reported in FOLLOWERINFO (voters), the leader's own included.
    epoch_votes: BTreeMap<u64, u32>,
    epoch_acks: BTreeSet<u64>,
    newleader_acks: BTreeSet<u64>,
    learners: HashMap<LearnerId, Learner>,
    /// The last zxid in the leader's log, and the last committed.
    last_logged: Zxid,
    last_committed: Zxid,
    outstanding: BTreeMap<Zxid, Proposal>,
    /// Recent committed txns (zxid, serialized txn), contiguous, oldest first.
    committed_log: VecDeque<(Zxid, Vec<u8>)>,
    /// Client syncs forwarded by learners: answered once everything proposed before them commits.
    pending_syncs: Vec<(Zxid, LearnerId)>,
    tick: u64,
    started_tick: u64,
    /// Serialized size of each proposal (`mntr`'s `*_proposal_size`).
    proposal_size: BufferStats,
}

impl Leader {
    /// `recent` holds the last committed txns from the leader's log (all it has logged counts as
    /// committed for the new epoch), oldest first.
    pub fn new(
        cfg: LeaderConfig,
        accepted_epoch: u32,
        current_epoch: u32,
        last_logged: Zxid,
        recent: Vec<(Zxid, Vec<u8>)>,
    ) -> Leader {
        let mut epoch_votes = BTreeMap::new();
        epoch_votes.insert(cfg.my_id, accepted_epoch);
        Leader {
            cfg,
            phase: Phase::Discovery,
            accepted_epoch,
            current_epoch,
            epoch: None,
            epoch_votes,
            epoch_acks: BTreeSet::new(),
            newleader_acks: BTreeSet::new(),
            learners: HashMap::new(),
            last_logged,
            last_committed: last_logged,
            outstanding: BTreeMap::new(),
            committed_log: recent.into_iter().collect(),
            pending_syncs: Vec::new(),
            tick: 0,
            started_tick: 0,
            proposal_size: BufferStats::default(),
        }
    }

    fn is_quorum(&self, ids: &BTreeSet<u64>) -> bool {
        ids.iter().filter(|s| self.cfg.voters.contains(s)).count() * 2 > self.cfg.voters.len()
    }

    pub fn is_established(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn epoch(&self) -> Option<u32> {
        self.epoch
    }

    pub fn last_committed(&self) -> Zxid {
        self.last_committed
    }

    /// Whether `Propose` would take a txn with this zxid: established, this epoch, after the last
    /// one logged. (A proposal prepared under an older role is dropped by the shell instead.)
    pub fn accepts_proposal(&self, z: Zxid) -> bool {
        self.phase == Phase::Broadcast && Some(epoch_of(z)) == self.epoch && z > self.last_logged
    }

    /// What `mntr` reports about a leader (ZooKeeper's `LeaderZooKeeperServer` gauges); the shell
    /// adds when the epoch was established.
    pub fn figures(&self) -> LeaderFigures {
        let forwarding = |observer: bool| {
            self.learners
                .values()
                .filter(|x| x.observer == observer && matches!(x.phase, LearnerPhase::Syncing | LearnerPhase::Synced))
                .count() as u64
        };
        let mut waited_for: Vec<Zxid> = self.pending_syncs.iter().map(|(z, _)| *z).collect();
        waited_for.sort_unstable();
        waited_for.dedup();
        LeaderFigures {
            learners: self.learners.len() as u64,
            synced_followers: forwarding(false),
            synced_observers: forwarding(true),
            pending_syncs: waited_for.len() as u64,
            proposal_size: self.proposal_size,
            established_ms: None,
        }
    }

    pub fn step(&mut self, input: Input, out: &mut Vec<Output>) {
        if self.phase == Phase::Stopped {
            return;
        }
        match input {
            Input::LearnerConnected(l) => {
                let learner = Learner {
                    sid: 0,
                    observer: false,
                    phase: LearnerPhase::New,
                    last_heard: self.tick,
                    uptodate_sent: false,
                };
                self.learners.insert(l, learner);
            }
            Input::LearnerGone(l) => {
                if let Some(gone) = self.learners.remove(&l) {
                    // A vote for the epoch counts only while its voter is connected.
                    if self.epoch.is_none() && gone.sid != 0 && gone.sid != self.cfg.my_id {
                        self.epoch_votes.remove(&gone.sid);
                    }
                }
                self.pending_syncs.retain(|(_, who)| *who != l);
            }
            Input::Packet(l, p) => {
                if let Some(learner) = self.learners.get_mut(&l) {
                    learner.last_heard = self.tick;
                    self.on_packet(l, p, out);
                }
            }
            Input::Propose(t) => self.propose(t, out),
            Input::Persisted(z) => self.on_persisted(z, out),
            Input::LocalSync if self.phase == Phase::Broadcast => self.on_sync_request(LOCAL, out),
            Input::LocalSync => {}
            Input::Tick => self.on_tick(out),
        }
    }

    fn on_packet(&mut self, l: LearnerId, p: QuorumPacket, out: &mut Vec<Output>) {
        let phase = self.learners[&l].phase;
        let kind = PacketType::from_i32(p.kind);
        match (phase, kind) {
            (LearnerPhase::New, Some(PacketType::FollowerInfo | PacketType::ObserverInfo)) => {
                self.on_learner_info(l, p, kind == Some(PacketType::ObserverInfo), out)
            }
            (LearnerPhase::Discovery, Some(PacketType::AckEpoch)) => self.on_ack_epoch(l, p, out),
            (LearnerPhase::Syncing | LearnerPhase::Synced, Some(PacketType::Ack)) => self.on_ack(l, p.zxid, out),
            (LearnerPhase::Synced, Some(PacketType::Ping)) => {
                match pk::decode_touches(p.data.as_deref().unwrap_or(&[])) {
                    Ok(t) if !t.is_empty() => out.push(Output::Touches(t)),
                    Ok(_) => {}
                    Err(e) => self.drop_learner(l, format!("bad PING: {e}"), out),
                }
            }
            (LearnerPhase::Synced, Some(PacketType::Request)) => {
                match Forwarded::decode(p.data.as_deref().unwrap_or(&[])) {
                    Ok(r) if r.op == op::SYNC => self.on_sync_request(l, out),
                    Ok(request) => out.push(Output::Forward { learner: l, request, auth: p.auth_info }),
                    Err(e) => self.drop_learner(l, format!("bad REQUEST: {e}"), out),
                }
            }
            (LearnerPhase::Synced, Some(PacketType::Revalidate)) => {
                match pk::decode_touches(p.data.as_deref().unwrap_or(&[])).ok().and_then(|t| t.first().copied()) {
                    Some((session, timeout)) => out.push(Output::Revalidate { learner: l, session, timeout }),
                    None => self.drop_learner(l, "bad REVALIDATE".into(), out),
                }
            }
            (_, Some(PacketType::Ping)) => {}
            (phase, kind) => self.drop_learner(l, format!("unexpected {kind:?} ({}) in {phase:?}", p.kind), out),
        }
    }

    fn drop_learner(&mut self, l: LearnerId, why: String, out: &mut Vec<Output>) {
        log::warn!("dropping learner {l}: {why}");
        self.learners.remove(&l);
        out.push(Output::Close(l, why));
    }

    /// FOLLOWERINFO / OBSERVERINFO: learn the learner's id and accepted epoch.
    fn on_learner_info(&mut self, l: LearnerId, p: QuorumPacket, observer: bool, out: &mut Vec<Output>) {
        let info = match LearnerInfo::from_bytes(p.data.as_deref().unwrap_or(&[])) {
            Ok(i) => i,
            Err(e) => return self.drop_learner(l, format!("bad LearnerInfo: {e}"), out),
        };
        let sid = info.server_id as u64;
        if !observer && !self.cfg.voters.contains(&sid) {
            return self.drop_learner(l, format!("server {sid} is not a voter here"), out);
        }
        // A server reconnecting replaces its old connection.
        let stale: Vec<LearnerId> =
            self.learners.iter().filter(|(id, x)| **id != l && x.sid == sid).map(|(id, _)| *id).collect();
        for old in stale {
            self.drop_learner(old, format!("server {sid} reconnected"), out);
        }
        let learner = self.learners.get_mut(&l).expect("present");
        learner.sid = sid;
        learner.observer = observer;
        learner.phase = LearnerPhase::Discovery;
        let their_accepted = epoch_of(p.zxid);
        if let Some(e) = self.epoch {
            // A voter that acknowledged our epoch before comes back with it (a restart, a cut
            // connection): welcome. One that accepted this epoch number without acknowledging it
            // to us, or a newer one, followed another attempt and can never join ours; ZooKeeper
            // leaves it out for good. A new election gets an epoch above everyone's.
            let rejoining = their_accepted == e && self.epoch_acks.contains(&sid);
            if !observer && their_accepted >= e && !rejoining {
                self.stop(format!("voter {sid} has accepted epoch {their_accepted}, not below ours ({e})"), out);
                return;
            }
        }
        if !observer {
            self.epoch_votes.insert(sid, their_accepted);
        }
        match self.epoch {
            Some(e) => self.send_leader_info(l, e, out),
            None => {
                let voters: BTreeSet<u64> = self.epoch_votes.keys().copied().collect();
                if self.is_quorum(&voters) {
                    let e = self.epoch_votes.values().copied().max().unwrap_or(0) + 1;
                    self.epoch = Some(e);
                    self.accepted_epoch = e;
                    out.push(Output::WriteAcceptedEpoch(e));
                    self.epoch_acks.insert(self.cfg.my_id);
                    self.phase = Phase::AwaitEpochAcks;
                    let waiting: Vec<LearnerId> = self
                        .learners
                        .iter()
                        .filter(|(_, x)| x.phase == LearnerPhase::Discovery)
                        .map(|(id, _)| *id)
                        .collect();
                    for w in waiting {
                        self.send_leader_info(w, e, out);
                    }
                }
            }
        }
    }

    fn send_leader_info(&self, l: LearnerId, e: u32, out: &mut Vec<Output>) {
        out.push(Output::Send(l, packet(PacketType::LeaderInfo, zxid(e, 0), Some(pk::encode_int(PROTOCOL_VERSION)))));
    }

    /// ACKEPOCH: the learner's current epoch and last zxid. One ahead of us means we must not
    /// lead.
    fn on_ack_epoch(&mut self, l: LearnerId, p: QuorumPacket, out: &mut Vec<Output>) {
        let their_epoch = pk::decode_int(p.data.as_deref().unwrap_or(&[])).unwrap_or(-1);
        let last_zxid = p.zxid;
        if their_epoch > self.current_epoch as i32
            || (their_epoch == self.current_epoch as i32 && last_zxid > self.last_logged)
        {
            self.stop(
                format!("learner {} is ahead (epoch {their_epoch}, zxid 0x{last_zxid:x})", self.learners[&l].sid),
                out,
            );
            return;
        }
        let sid = self.learners[&l].sid;
        let observer = self.learners[&l].observer;
        self.learners.get_mut(&l).expect("present").phase = LearnerPhase::AwaitSync { last_zxid };
        if !observer {
            self.epoch_acks.insert(sid);
        }
        if self.phase == Phase::AwaitEpochAcks && self.is_quorum(&self.epoch_acks.clone()) {
            let e = self.epoch.expect("epoch chosen before ACKEPOCH");
            self.current_epoch = e;
            out.push(Output::WriteCurrentEpoch(e));
            self.newleader_acks.insert(self.cfg.my_id);
            self.phase = Phase::AwaitNewLeaderAcks;
        }
        if matches!(self.phase, Phase::AwaitNewLeaderAcks | Phase::Broadcast) {
            let waiting: Vec<(LearnerId, Zxid)> = self
                .learners
                .iter()
                .filter_map(|(id, x)| match x.phase {
                    LearnerPhase::AwaitSync { last_zxid } => Some((*id, last_zxid)),
                    _ => None,
                })
                .collect();
            for (w, z) in waiting {
                self.sync_learner(w, z, out);
            }
        }
    }

    /// `LearnerHandler.syncFollower` + `startForwarding`: the sync mode, the txns the learner
    /// lacks, the proposals in flight, then NEWLEADER.
    fn sync_learner(&mut self, l: LearnerId, peer: Zxid, out: &mut Vec<Output>) {
        let e = self.epoch.expect("epoch chosen");
        let last = self.last_committed;
        let send = |out: &mut Vec<Output>, p: QuorumPacket| out.push(Output::Send(l, p));
        let min = self.committed_log.front().map(|(z, _)| *z);
        let max = self.committed_log.back().map(|(z, _)| *z);
        let mut snap = false;
        if peer == last {
            send(out, packet(PacketType::Diff, last, None));
        } else if peer > last {
            send(out, packet(PacketType::Trunc, last, None));
        } else if min.is_some_and(|m| peer >= m) && max.is_some_and(|m| peer <= m) {
            // Within the committed log: DIFF, after a TRUNC if the peer holds a txn we do not.
            let have = self.committed_log.iter().any(|(z, _)| *z == peer);
            let prev = self.committed_log.iter().map(|(z, _)| *z).filter(|z| *z < peer).max();
            let new_epoch_start = counter_of(peer) == 0;
            if have || new_epoch_start {
                send(out, packet(PacketType::Diff, last, None));
            } else if let Some(prev) = prev.filter(|p| epoch_of(*p) == epoch_of(peer)) {
                send(out, packet(PacketType::Trunc, prev, None));
            } else {
                snap = true;
            }
            if !snap {
                for (z, bytes) in self.committed_log.iter().filter(|(z, _)| *z > peer) {
                    send(out, packet(PacketType::Proposal, *z, Some(bytes.clone())));
                    send(out, packet(PacketType::Commit, *z, None));
                }
            }
        } else {
            snap = true;
        }
        let mode = if snap {
            "SNAP"
        } else {
            let trunc =
                out.iter().any(|o| matches!(o, Output::Send(to, p) if *to == l && p.kind == PacketType::Trunc as i32));
            if trunc {
                "TRUNC"
            } else {
                "DIFF"
            }
        };
        log::info!(
            "Synchronizing learner {} by {mode}: its last zxid 0x{peer:x}, ours 0x{last:x}",
            self.learners[&l].sid
        );
        if snap {
            send(out, packet(PacketType::Snap, last, None));
            out.push(Output::StreamSnapshot(l));
        }
        let observer = self.learners[&l].observer;
        if !observer {
            for (z, p) in &self.outstanding {
                send(out, packet(PacketType::Proposal, *z, Some(p.bytes.clone())));
            }
        }
        send(out, packet(PacketType::NewLeader, zxid(e, 0), None));
        self.learners.get_mut(&l).expect("present").phase = LearnerPhase::Syncing;
    }

    fn on_ack(&mut self, l: LearnerId, z: Zxid, out: &mut Vec<Output>) {
        let (sid, phase) = (self.learners[&l].sid, self.learners[&l].phase);
        let e = self.epoch.expect("epoch chosen");
        if z == zxid(e, 0) {
            if phase == LearnerPhase::Syncing {
                self.learners.get_mut(&l).expect("present").phase = LearnerPhase::Synced;
                if !self.learners[&l].observer {
                    self.newleader_acks.insert(sid);
                }
                if self.phase == Phase::AwaitNewLeaderAcks && self.is_quorum(&self.newleader_acks.clone()) {
                    self.establish(out);
                } else if self.phase == Phase::Broadcast {
                    self.send_uptodate(l, out);
                }
            }
            return; // the ACK that follows UPTODATE
        }
        if self.learners[&l].observer {
            return;
        }
        self.record_ack(sid, z, out);
    }

    fn establish(&mut self, out: &mut Vec<Output>) {
        let e = self.epoch.expect("epoch chosen");
        self.phase = Phase::Broadcast;
        log::info!("Epoch {e} established with {:?}", self.newleader_acks);
        out.push(Output::Established { epoch: e });
        let synced: Vec<LearnerId> =
            self.learners.iter().filter(|(_, x)| x.phase == LearnerPhase::Synced).map(|(id, _)| *id).collect();
        for l in synced {
            self.send_uptodate(l, out);
        }
    }

    fn send_uptodate(&mut self, l: LearnerId, out: &mut Vec<Output>) {
        let learner = self.learners.get_mut(&l).expect("present");
        if !learner.uptodate_sent {
            learner.uptodate_sent = true;
            out.push(Output::Send(l, packet(PacketType::UpToDate, -1, None)));
        }
    }

    fn propose(&mut self, t: Transaction, out: &mut Vec<Output>) {
        assert_eq!(self.phase, Phase::Broadcast, "proposals start only once the epoch is established");
        let z = t.header.zxid;
        assert!(z > self.last_logged, "proposal 0x{z:x} does not follow 0x{:x}", self.last_logged);
        assert_eq!(Some(epoch_of(z)), self.epoch, "proposal from another epoch");
        if counter_of(z) >= ZXID_COUNTER_LIMIT {
            self.stop("the zxid counter is nearly exhausted: a new epoch must begin (ZOOKEEPER-1277)".into(), out);
            return;
        }
        let bytes = t.to_bytes();
        self.proposal_size.add(bytes.len());
        self.last_logged = z;
        for (id, x) in &self.learners {
            if !x.observer && matches!(x.phase, LearnerPhase::Syncing | LearnerPhase::Synced) {
                out.push(Output::Send(*id, packet(PacketType::Proposal, z, Some(bytes.clone()))));
            }
        }
        self.outstanding.insert(z, Proposal { bytes, acks: BTreeSet::new() });
        out.push(Output::Persist(t));
    }

    fn on_persisted(&mut self, z: Zxid, out: &mut Vec<Output>) {
        let mine: Vec<Zxid> = self.outstanding.range(..=z).map(|(k, _)| *k).collect();
        for k in mine {
            self.record_ack(self.cfg.my_id, k, out);
        }
    }

    fn record_ack(&mut self, sid: u64, z: Zxid, out: &mut Vec<Output>) {
        let Some(p) = self.outstanding.get_mut(&z) else {
            log::debug!("ACK 0x{z:x} from {sid} for no outstanding proposal");
            return;
        };
        p.acks.insert(sid);
        self.maybe_commit(out);
    }

    /// Commits, in order, every outstanding proposal a quorum has acknowledged.
    fn maybe_commit(&mut self, out: &mut Vec<Output>) {
        while let Some((&z, p)) = self.outstanding.iter().next() {
            // A majority that includes the leader: its own log must hold the txn before COMMIT.
            if !p.acks.contains(&self.cfg.my_id) || !self.is_quorum(&p.acks) {
                break;
            }
            let p = self.outstanding.remove(&z).expect("first entry");
            self.last_committed = z;
            for (id, x) in &self.learners {
                match (x.observer, x.phase) {
                    (false, LearnerPhase::Syncing | LearnerPhase::Synced) => {
                        out.push(Output::Send(*id, packet(PacketType::Commit, z, None)))
                    }
                    (true, LearnerPhase::Syncing | LearnerPhase::Synced) => {
                        out.push(Output::Send(*id, packet(PacketType::Inform, z, Some(p.bytes.clone()))))
                    }
                    _ => {}
                }
            }
            out.push(Output::Apply(z));
            self.committed_log.push_back((z, p.bytes));
            while self.committed_log.len() > self.cfg.committed_log_max {
                self.committed_log.pop_front();
            }
            let ready: Vec<LearnerId> = self.pending_syncs.iter().filter(|(w, _)| *w <= z).map(|(_, l)| *l).collect();
            self.pending_syncs.retain(|(w, _)| *w > z);
            for l in ready {
                out.push(Output::Send(l, packet(PacketType::Sync, z, None)));
            }
        }
    }

    /// A client `sync` through a learner: answered once what was proposed before it commits.
    fn on_sync_request(&mut self, l: LearnerId, out: &mut Vec<Output>) {
        match self.outstanding.keys().next_back() {
            Some(&z) => self.pending_syncs.push((z, l)),
            None => out.push(Output::Send(l, packet(PacketType::Sync, self.last_committed, None))),
        }
    }

    fn on_tick(&mut self, out: &mut Vec<Output>) {
        self.tick += 1;
        // Ping everyone past discovery; learners answer with their session touches.
        for (id, x) in &self.learners {
            if matches!(x.phase, LearnerPhase::Syncing | LearnerPhase::Synced) {
                out.push(Output::Send(*id, packet(PacketType::Ping, self.last_committed, None)));
            }
        }
        let silent: Vec<LearnerId> = self
            .learners
            .iter()
            .filter(|(_, x)| self.tick - x.last_heard > self.cfg.sync_limit_ticks as u64)
            .map(|(id, _)| *id)
            .collect();
        for l in silent {
            self.drop_learner(l, "silent for more than syncLimit ticks".into(), out);
        }
        match self.phase {
            Phase::Broadcast => {
                let mut alive: BTreeSet<u64> = self
                    .learners
                    .values()
                    .filter(|x| !x.observer && x.phase == LearnerPhase::Synced)
                    .map(|x| x.sid)
                    .collect();
                alive.insert(self.cfg.my_id);
                if !self.is_quorum(&alive) {
                    self.stop(format!("not enough followers synced, only {alive:?}"), out);
                }
            }
            _ if self.tick - self.started_tick > self.cfg.init_limit_ticks as u64 => {
                self.stop(format!("no quorum within initLimit ({:?})", self.phase), out);
            }
            _ => {}
        }
    }

    fn stop(&mut self, why: String, out: &mut Vec<Output>) {
        self.phase = Phase::Stopped;
        for l in self.learners.keys() {
            out.push(Output::Close(*l, why.clone()));
        }
        out.push(Output::StepDown(why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::txn::{ErrorTxn, TxnHeader};
    use crate::jute::txn_body::TxnBody;

    fn txn(zxid: Zxid) -> Transaction {
        Transaction {
            header: TxnHeader { client_id: 1, cxid: 1, zxid, time: 0, kind: op::ERROR },
            body: TxnBody::Error(ErrorTxn { err: 0 }),
            digest: None,
        }
    }

    /// A leader (server 1 of 3) whose log holds `log`; learner 2 connects with `peer_last` and
    /// learner 3 with an empty log. Returns the packet types (and zxids) sent to learner 2.
    fn sync_for(log: &[Zxid], peer_last: Zxid) -> Vec<(PacketType, Zxid)> {
        sync_for_epochs(log, 1, peer_last, 1)
    }

    /// As `sync_for`, with the leader's and the learner's current epochs given (the new epoch is
    /// one past the leader's).
    fn sync_for_epochs(log: &[Zxid], leader_epoch: u32, peer_last: Zxid, peer_epoch: i32) -> Vec<(PacketType, Zxid)> {
        let new_epoch = leader_epoch + 1;
        let cfg = LeaderConfig {
            my_id: 1,
            voters: [1, 2, 3].into(),
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            committed_log_max: 100,
        };
        let recent = log.iter().map(|z| (*z, txn(*z).to_bytes())).collect();
        let last = log.last().copied().unwrap_or(0);
        let mut l = Leader::new(cfg, leader_epoch, leader_epoch, last, recent);
        let mut out = Vec::new();
        let info =
            |sid: i64| LearnerInfo { server_id: sid, protocol_version: PROTOCOL_VERSION, config_version: 0 }.to_bytes();
        l.step(Input::LearnerConnected(2), &mut out);
        let peer_accepted = zxid(peer_epoch as u32, 0);
        l.step(Input::Packet(2, packet(PacketType::FollowerInfo, peer_accepted, Some(info(2)))), &mut out);
        assert!(out.contains(&Output::WriteAcceptedEpoch(new_epoch)), "a quorum (1, 2) fixes the epoch: {out:?}");
        out.clear();
        l.step(Input::Packet(2, packet(PacketType::AckEpoch, peer_last, Some(pk::encode_int(peer_epoch)))), &mut out);
        if out.iter().any(|o| matches!(o, Output::StepDown(_))) {
            return vec![];
        }
        assert!(out.contains(&Output::WriteCurrentEpoch(new_epoch)), "{out:?}");
        out.iter()
            .filter_map(|o| match o {
                Output::Send(2, p) => Some((PacketType::from_i32(p.kind).unwrap(), p.zxid)),
                Output::StreamSnapshot(2) => Some((PacketType::Snap, -1)),
                _ => None,
            })
            .collect()
    }

    const E1: u32 = 1;

    #[test]
    fn up_to_date_learner_gets_an_empty_diff() {
        let log = [zxid(E1, 1), zxid(E1, 2)];
        assert_eq!(sync_for(&log, zxid(E1, 2)), [(PacketType::Diff, zxid(E1, 2)), (PacketType::NewLeader, zxid(2, 0))]);
    }

    #[test]
    fn lagging_learner_gets_the_committed_txns_it_lacks() {
        let log = [zxid(E1, 1), zxid(E1, 2), zxid(E1, 3)];
        assert_eq!(
            sync_for(&log, zxid(E1, 1)),
            [
                (PacketType::Diff, zxid(E1, 3)),
                (PacketType::Proposal, zxid(E1, 2)),
                (PacketType::Commit, zxid(E1, 2)),
                (PacketType::Proposal, zxid(E1, 3)),
                (PacketType::Commit, zxid(E1, 3)),
                (PacketType::NewLeader, zxid(2, 0)),
            ]
        );
    }

    #[test]
    fn learner_ahead_in_an_older_epoch_is_truncated() {
        // We lead from epoch 2 (nothing logged in it yet); the learner, still in epoch 1, holds
        // txns after (1,2) that epoch 2's history does not have.
        let log = [zxid(E1, 1), zxid(E1, 2)];
        assert_eq!(
            sync_for_epochs(&log, 2, zxid(E1, 5), 1),
            [(PacketType::Trunc, zxid(E1, 2)), (PacketType::NewLeader, zxid(3, 0))]
        );
    }

    #[test]
    fn learner_ahead_in_our_own_epoch_makes_us_step_down() {
        // Same epoch, longer log: this server should not have won the election
        // (`Leader.waitForEpochAck`: "Follower is ahead of the leader").
        let log = [zxid(E1, 1), zxid(E1, 2)];
        assert!(sync_for(&log, zxid(E1, 5)).is_empty());
    }

    #[test]
    fn learner_with_a_txn_we_lack_is_truncated_then_diffed() {
        // The learner logged (1,3), which our history (…, (1,2), (1,4)) does not hold: it is cut
        // back to (1,2), then gets what follows in ours.
        let log = [zxid(E1, 1), zxid(E1, 2), zxid(E1, 4)];
        assert_eq!(
            sync_for(&log, zxid(E1, 3)),
            [
                (PacketType::Trunc, zxid(E1, 2)),
                (PacketType::Proposal, zxid(E1, 4)),
                (PacketType::Commit, zxid(E1, 4)),
                (PacketType::NewLeader, zxid(2, 0)),
            ]
        );
    }

    #[test]
    fn learner_behind_the_in_memory_log_gets_a_snapshot() {
        let log = [zxid(E1, 10), zxid(E1, 11)];
        assert_eq!(
            sync_for(&log, zxid(E1, 2)),
            [(PacketType::Snap, zxid(E1, 11)), (PacketType::Snap, -1), (PacketType::NewLeader, zxid(2, 0))]
        );
    }

    #[test]
    fn commits_wait_for_a_quorum_and_go_in_order() {
        let cfg = LeaderConfig {
            my_id: 1,
            voters: [1, 2, 3].into(),
            init_limit_ticks: 10,
            sync_limit_ticks: 5,
            committed_log_max: 10,
        };
        let mut l = Leader::new(cfg, 0, 0, 0, Vec::new());
        let mut out = Vec::new();
        let info = LearnerInfo { server_id: 2, protocol_version: PROTOCOL_VERSION, config_version: 0 }.to_bytes();
        l.step(Input::LearnerConnected(2), &mut out);
        l.step(Input::Packet(2, packet(PacketType::FollowerInfo, 0, Some(info))), &mut out);
        l.step(Input::Packet(2, packet(PacketType::AckEpoch, 0, Some(pk::encode_int(0)))), &mut out);
        l.step(Input::Packet(2, packet(PacketType::Ack, zxid(1, 0), None)), &mut out);
        assert!(out.contains(&Output::Established { epoch: 1 }), "{out:?}");
        out.clear();
        l.step(Input::Propose(txn(zxid(1, 1))), &mut out);
        l.step(Input::Propose(txn(zxid(1, 2))), &mut out);
        // The follower acks the second first: nothing commits before the first has a quorum.
        l.step(Input::Packet(2, packet(PacketType::Ack, zxid(1, 2), None)), &mut out);
        l.step(Input::Persisted(zxid(1, 1)), &mut out);
        let applied = |out: &[Output]| {
            out.iter().filter_map(|o| if let Output::Apply(z) = o { Some(*z) } else { None }).collect::<Vec<_>>()
        };
        assert!(applied(&out).is_empty(), "(1,1) has only the leader's ack");
        l.step(Input::Packet(2, packet(PacketType::Ack, zxid(1, 1), None)), &mut out);
        assert_eq!(applied(&out), [zxid(1, 1)], "(1,2) still lacks the leader's own durability");
        l.step(Input::Persisted(zxid(1, 2)), &mut out);
        assert_eq!(applied(&out), [zxid(1, 1), zxid(1, 2)]);
    }
}
