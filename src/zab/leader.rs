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
//!
//! Reconfiguration (`Leader.tryToCommit`, ZooKeeper 3.5+): a reconfig txn commits only once a
//! quorum of the current configuration and a quorum of the proposed one have acknowledged it.
//! Servers that are not voters yet connect as non-voting followers: they receive proposals and
//! their ACKs count for the proposed configuration. At commit, followers get COMMITANDACTIVATE and
//! observers INFORMANDACTIVATE, both naming the leader of the new configuration: this leader if it
//! is still a voter, else a voter of the new configuration that acknowledged the change. A leader
//! that hands over commits nothing more and steps down at its next tick (leaving the connections
//! open that long, so its followers receive the handover before they lose it).

use super::learner::packet;
use super::packet::{self as pk, Forwarded, PacketType, PROTOCOL_VERSION};
use crate::codes::op;
use crate::ids::{counter_of, epoch_of, zxid, SessionId, Zxid};
use crate::jute::data::Id;
use crate::jute::quorum::{LearnerInfo, QuorumPacket};
use crate::jute::txn_body::Transaction;
use crate::jute::Record;
use crate::metrics::{BufferStats, LeaderFigures};
use crate::tree::CONFIG;
use crate::verifier::QuorumVerifier;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

/// A connection from a learner, numbered by the shell.
pub type LearnerId = u64;

/// The zxid counter is never allowed to wrap: this close to the end, the leader steps down so a
/// new epoch starts (ZOOKEEPER-1277).
pub const ZXID_COUNTER_LIMIT: u32 = 0xffff_fff0;

#[derive(Debug, Clone)]
pub struct LeaderConfig {
    pub my_id: u64,
    /// The configuration this leader was elected in.
    pub verifier: QuorumVerifier,
    /// A newer configuration this server saw announced by a leader (NEWLEADER) and never saw
    /// put in force: the epoch needs a quorum of it too.
    pub last_seen: Option<QuorumVerifier>,
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
    /// A learner's `sync`, handed back by prep after the proposals of the requests that
    /// learner forwarded before it: answered once they have committed.
    LearnerSync(LearnerId),
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
    /// A reconfig txn committed (right after its `Apply`): this configuration is now in force,
    /// led by `designated`.
    Activate {
        verifier: QuorumVerifier,
        designated: u64,
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
    /// A reconfig txn: the configuration it proposes (versioned by its zxid).
    reconfig: Option<QuorumVerifier>,
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
    /// The configuration in force (`QuorumPeer.getQuorumVerifier`).
    verifier: QuorumVerifier,
    /// A reconfig handed leadership to another server: commit nothing more, step down at the
    /// next tick.
    handed_over: bool,
    /// A newer configuration than `verifier` that this leader's log proposes and whose commit it
    /// never saw (`getLastSeenQuorumVerifier`): the epoch is established only by quorums of both,
    /// and then it is put in force, as the new leader commits all of its log.
    last_seen: Option<QuorumVerifier>,
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
        let last_seen = recent
            .iter()
            .rev()
            .filter(|(z, _)| *z as u64 > cfg.verifier.version)
            .find_map(|(z, bytes)| Some((*z, reconfig_of(&Transaction::from_bytes(bytes).ok()?)?)))
            .map(|(z, qv)| QuorumVerifier { version: z as u64, ..qv })
            .into_iter()
            .chain(cfg.last_seen.clone())
            .filter(|qv| qv.version > cfg.verifier.version)
            .max_by_key(|qv| qv.version);
        if let Some(qv) = &last_seen {
            log::info!("the log holds configuration {:x}, not yet in force: {:?}", qv.version, qv.voters());
        }
        Leader {
            last_seen,
            verifier: cfg.verifier.clone(),
            handed_over: false,
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
        self.verifier.is_quorum(ids)
    }

    /// The configuration in force.
    pub fn verifier(&self) -> &QuorumVerifier {
        &self.verifier
    }

    /// A reconfig is proposed and not yet committed (`RECONFIGINPROGRESS`).
    pub fn reconfig_in_flight(&self) -> bool {
        self.outstanding.values().any(|p| p.reconfig.is_some())
    }

    /// This leader and the followers (voting or not) synchronised with it: the servers whose
    /// acknowledgements a new configuration could count on (`Leader.isQuorumSynced`).
    pub fn synced_followers(&self) -> BTreeSet<u64> {
        let mut ids: BTreeSet<u64> =
            self.learners.values().filter(|x| !x.observer && x.phase == LearnerPhase::Synced).map(|x| x.sid).collect();
        ids.insert(self.cfg.my_id);
        ids
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
            Input::LearnerSync(l) if self.phase == Phase::Broadcast && self.learners.contains_key(&l) => {
                self.on_sync_request(l, out)
            }
            Input::LearnerSync(_) => {}
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
                    // A sync too goes through prep, behind the writes forwarded before it.
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
        if info.server_id < 0 || sid == self.cfg.my_id {
            return self.drop_learner(l, format!("learner claims server id {}", info.server_id), out);
        }
        // A follower that is not a voter (yet) is a non-voting follower: a reconfig may add it.
        let voter = !observer && self.verifier.is_voter(sid);
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
            if voter && their_accepted >= e && !rejoining {
                self.stop(format!("voter {sid} has accepted epoch {their_accepted}, not below ours ({e})"), out);
                return;
            }
        }
        if voter {
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
        let ahead = their_epoch > self.current_epoch as i32
            || (their_epoch == self.current_epoch as i32 && last_zxid > self.last_logged);
        let sid = self.learners[&l].sid;
        // `Leader.waitForEpochAck`: the check ends with the election (once established, sync
        // truncates such a learner); before that, a voter ahead of us means we must not lead,
        // while a non-voter ahead is only turned away.
        if ahead && self.phase != Phase::Broadcast && !self.verifier.is_voter(sid) {
            return self.drop_learner(l, format!("non-voter {sid} is ahead (epoch {their_epoch})"), out);
        }
        if ahead && self.phase != Phase::Broadcast {
            self.stop(
                format!("learner {} is ahead (epoch {their_epoch}, zxid 0x{last_zxid:x})", self.learners[&l].sid),
                out,
            );
            return;
        }
        self.learners.get_mut(&l).expect("present").phase = LearnerPhase::AwaitSync { last_zxid };
        // Observers and non-voting followers too: one that a reconfig makes a voter later comes
        // back as a follower that already accepted this epoch, from us (see on_learner_info).
        // Only voters count towards the quorum.
        self.epoch_acks.insert(sid);
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
        let config = self.established_verifier(e).text().into_bytes();
        send(out, packet(PacketType::NewLeader, zxid(e, 0), Some(config)));
        self.learners.get_mut(&l).expect("present").phase = LearnerPhase::Syncing;
    }

    fn on_ack(&mut self, l: LearnerId, z: Zxid, out: &mut Vec<Output>) {
        let (sid, phase) = (self.learners[&l].sid, self.learners[&l].phase);
        let e = self.epoch.expect("epoch chosen");
        if z == zxid(e, 0) {
            if phase == LearnerPhase::Syncing {
                self.learners.get_mut(&l).expect("present").phase = LearnerPhase::Synced;
                // Observers too: their ACK also means the sync is durable there, and a server that
                // the configuration in our log makes a voter may still see itself as an observer.
                self.newleader_acks.insert(sid);
                let acks = self.newleader_acks.clone();
                let quorums = self.is_quorum(&acks) && self.last_seen.as_ref().is_none_or(|n| n.is_quorum(&acks));
                if self.phase == Phase::AwaitNewLeaderAcks && quorums {
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

    /// The configuration NEWLEADER announces: ours, except that one never numbered by a leader
    /// (version 0, as read from zoo.cfg) takes the NEWLEADER zxid as its version, once the epoch
    /// is established (ZOOKEEPER-1783), so it outranks the partial views of joining servers.
    fn established_verifier(&self, e: u32) -> QuorumVerifier {
        if let Some(next) = &self.last_seen {
            return next.clone();
        }
        let mut qv = self.verifier.clone();
        if qv.version == 0 {
            qv.version = zxid(e, 0) as u64;
        }
        qv
    }

    fn establish(&mut self, out: &mut Vec<Output>) {
        let e = self.epoch.expect("epoch chosen");
        self.phase = Phase::Broadcast;
        log::info!("Epoch {e} established with {:?}", self.newleader_acks);
        if let Some(next) = self.last_seen.take() {
            let designated = self.designated_leader(&next, &self.newleader_acks.clone());
            log::info!("configuration {:x} in force with the epoch: server {designated} leads it", next.version);
            self.verifier = next.clone();
            out.push(Output::Activate { verifier: next, designated });
            self.handed_over = designated != self.cfg.my_id;
        } else if self.verifier.version == 0 {
            self.verifier = self.established_verifier(e);
            out.push(Output::Activate { verifier: self.verifier.clone(), designated: self.cfg.my_id });
        }
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
        let reconfig = reconfig_of(&t).map(|qv| QuorumVerifier { version: z as u64, ..qv });
        for (id, x) in &self.learners {
            if !x.observer && matches!(x.phase, LearnerPhase::Syncing | LearnerPhase::Synced) {
                out.push(Output::Send(*id, packet(PacketType::Proposal, z, Some(bytes.clone()))));
            }
        }
        self.outstanding.insert(z, Proposal { bytes, acks: BTreeSet::new(), reconfig });
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
            if self.handed_over || !p.acks.contains(&self.cfg.my_id) || !self.is_quorum(&p.acks) {
                break;
            }
            if p.reconfig.as_ref().is_some_and(|next| !next.is_quorum(&p.acks)) {
                break;
            }
            let p = self.outstanding.remove(&z).expect("first entry");
            self.last_committed = z;
            let designated = p.reconfig.as_ref().map(|next| self.designated_leader(next, &p.acks));
            for (id, x) in &self.learners {
                if !matches!(x.phase, LearnerPhase::Syncing | LearnerPhase::Synced) {
                    continue;
                }
                let sent = match (x.observer, designated) {
                    (false, None) => packet(PacketType::Commit, z, None),
                    (true, None) => packet(PacketType::Inform, z, Some(p.bytes.clone())),
                    (false, Some(d)) => {
                        packet(PacketType::CommitAndActivate, z, Some((d as i64).to_be_bytes().to_vec()))
                    }
                    (true, Some(d)) => {
                        let mut data = (d as i64).to_be_bytes().to_vec();
                        data.extend_from_slice(&p.bytes);
                        packet(PacketType::InformAndActivate, z, Some(data))
                    }
                };
                out.push(Output::Send(*id, sent));
            }
            out.push(Output::Apply(z));
            if let (Some(next), Some(designated)) = (p.reconfig.clone(), designated) {
                log::info!("Reconfiguration 0x{z:x} committed: server {designated} leads {:?}", next.voters());
                self.verifier = next.clone();
                out.push(Output::Activate { verifier: next, designated });
                if designated != self.cfg.my_id {
                    self.handed_over = true;
                }
            }
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

    /// `Leader.getDesignatedLeader`: this server if it still votes, else the voter of `next`
    /// that acknowledged the reconfig and, among those, acknowledged the longest run of the
    /// proposals after it (the most up to date), lowest id first.
    fn designated_leader(&self, next: &QuorumVerifier, acks: &BTreeSet<u64>) -> u64 {
        if next.is_voter(self.cfg.my_id) {
            return self.cfg.my_id;
        }
        let mut candidates: BTreeSet<u64> =
            acks.iter().copied().filter(|s| *s != self.cfg.my_id && next.is_voter(*s)).collect();
        let mut best = *candidates.first().expect("a quorum of the new configuration acknowledged it");
        for later in self.outstanding.values() {
            candidates.retain(|s| later.acks.contains(s));
            match candidates.first() {
                None => break,
                Some(&c) => best = c,
            }
        }
        best
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
        if self.handed_over {
            self.stop("a reconfiguration handed leadership to another server".into(), out);
            return;
        }
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

/// The configuration a reconfig txn proposes (version unset), or None for any other txn.
fn reconfig_of(t: &Transaction) -> Option<QuorumVerifier> {
    match (&t.body, t.header.kind) {
        (crate::jute::txn_body::TxnBody::SetData(s), op::RECONFIG) if s.path == CONFIG => {
            let text = String::from_utf8_lossy(s.data.as_deref().unwrap_or(&[])).into_owned();
            match QuorumVerifier::parse(&text) {
                Ok(qv) => Some(qv),
                Err(e) => {
                    log::error!("a reconfig txn 0x{:x} whose configuration does not parse: {e}", t.header.zxid);
                    None
                }
            }
        }
        _ => None,
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
            verifier: QuorumVerifier::loopback(&[1, 2, 3], &[], 0),
            last_seen: None,
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
            verifier: QuorumVerifier::loopback(&[1, 2, 3], &[], 0),
            last_seen: None,
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

        // A learner's sync goes to prep like its writes; handed back behind their proposals, it
        // is answered once they commit, never before.
        out.clear();
        let sync = Forwarded { session: 9, cxid: 1, op: crate::codes::op::SYNC, body: Vec::new() };
        l.step(Input::Packet(2, packet(PacketType::Request, 0, Some(sync.encode()))), &mut out);
        assert!(matches!(&out[..], [Output::Forward { learner: 2, request, .. }] if *request == sync), "{out:?}");
        out.clear();
        l.step(Input::Propose(txn(zxid(1, 3))), &mut out);
        l.step(Input::LearnerSync(2), &mut out);
        let synced =
            |out: &[Output]| out.iter().any(|o| matches!(o, Output::Send(2, p) if p.kind == PacketType::Sync as i32));
        assert!(!synced(&out), "the sync waits for (1,3): {out:?}");
        l.step(Input::Persisted(zxid(1, 3)), &mut out);
        l.step(Input::Packet(2, packet(PacketType::Ack, zxid(1, 3), None)), &mut out);
        assert!(synced(&out), "{out:?}");
    }
}
