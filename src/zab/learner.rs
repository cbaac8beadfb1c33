//! The learner side of ZAB (ZooKeeper's `Learner`/`Follower`/`Observer`), as a pure core.
//!
//! Phases: `Discovery` (FOLLOWERINFO → LEADERINFO → ACKEPOCH), `Sync` (DIFF | TRUNC | SNAP, then
//! PROPOSAL/COMMIT pairs, NEWLEADER, UPTODATE) and `Broadcast` (PROPOSAL → ACK, COMMIT).
//!
//! Ordering rules that hold by construction:
//! - An ACK is only ever emitted while handling `Persisted(z)`: nothing is acknowledged before it
//!   is in this server's log.
//! - NEWLEADER is acknowledged only after the SNAP snapshot and every DIFF proposal are durable,
//!   and `currentEpoch` is written after that and before the ACK (ZOOKEEPER-3104/3911/4394).
//! - Only committed txns are applied, in zxid order.
//!
//! Reconfiguration: a committed reconfig txn arrives as COMMITANDACTIVATE (followers, data = the
//! designated leader's id) or INFORMANDACTIVATE (observers, data = that id then the txn); the
//! learner applies it and reports `Activate` with the configuration text the txn carries. During
//! sync they count as COMMIT/INFORM, and the configuration NEWLEADER carries is reported at
//! UPTODATE: the shell adopts whichever is newer than its own.

use super::packet::{self, PacketType, PROTOCOL_VERSION};
use crate::codes::op;
use crate::ids::{epoch_of, zxid, Zxid};
use crate::jute::quorum::{LearnerInfo, QuorumPacket};
use crate::jute::txn_body::Transaction;
use crate::jute::txn_body::TxnBody;
use crate::jute::Record;
use std::collections::{BTreeMap, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The connection to the leader is up: start discovery.
    Connected,
    Packet(QuorumPacket),
    /// The shell read the snapshot that follows SNAP into a fresh tree (at the SNAP zxid).
    SnapshotLoaded,
    /// Everything up to this zxid is durable in the local log (and a SNAP snapshot is saved).
    Persisted(Zxid),
    Tick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Send(QuorumPacket),
    WriteAcceptedEpoch(u32),
    WriteCurrentEpoch(u32),
    /// Drop every logged txn after this zxid (TRUNC).
    Truncate(Zxid),
    /// The leader's snapshot follows on the stream: read it into a fresh tree, then report
    /// `SnapshotLoaded`.
    ReadSnapshot(Zxid),
    /// Write the tree (as loaded from SNAP) to a snapshot file; report `Persisted` once durable.
    SaveSnapshot,
    /// Append a txn to the log; `Persisted` reports when it is durable.
    Persist(Transaction),
    /// Apply the logged txn with this zxid to the tree.
    Apply(Zxid),
    /// Synchronised: serve clients.
    Serving,
    /// Answer the leader's PING with this server's session touches.
    PingReply(QuorumPacket),
    /// A client `sync` forwarded earlier is done up to this zxid.
    Synced(Zxid),
    Revalidated {
        session: i64,
        valid: bool,
    },
    /// Leave the leader (protocol error, leader silent): back to election.
    Abandon(String),
    /// A configuration the leader put in force (after the `Apply` of its reconfig txn), with the
    /// leader it designated; or, at UPTODATE, the one NEWLEADER carried (`designated` None).
    Activate {
        config: String,
        designated: Option<u64>,
    },
    /// NEWLEADER carried this configuration: record it durably as the last one seen
    /// (`setLastSeenQuorumVerifier`) before the NEWLEADER ACK leaves. A server that later leads
    /// needs a quorum of it as well to establish its epoch.
    SeenConfig(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    AwaitLeaderInfo,
    AwaitSyncMode,
    /// Between DIFF/TRUNC/SNAP and NEWLEADER.
    Syncing,
    /// NEWLEADER received: waiting for the synced txns to be durable before acknowledging.
    PersistingSync,
    /// NEWLEADER acknowledged, waiting for UPTODATE.
    AwaitUpToDate,
    Broadcast,
}

pub struct Learner {
    my_id: u64,
    observer: bool,
    accepted_epoch: u32,
    current_epoch: u32,
    /// The last zxid in the local log (and so the last one persisted).
    last_logged: Zxid,
    /// The last zxid handed to `Persist` (it may not be durable yet).
    last_queued: Zxid,
    phase: Phase,
    new_epoch: u32,
    /// Proposals received during sync, persisted at NEWLEADER.
    sync_proposals: Vec<Transaction>,
    /// Zxids committed during sync, applied at UPTODATE (after the NEWLEADER ACK).
    sync_commits: Vec<Zxid>,
    /// The zxid whose durability lets us acknowledge NEWLEADER.
    newleader_waits_for: Option<Zxid>,
    snapshot_pending: bool,
    /// Logged proposals not yet committed, in order (for COMMIT checks).
    uncommitted: VecDeque<Zxid>,
    /// Broadcast proposals queued for the log and not yet acknowledged, in order. ZooKeeper's
    /// leader counts ACKs per proposal, so each gets its own.
    to_ack: VecDeque<Zxid>,
    ticks_silent: u32,
    init_limit_ticks: u32,
    sync_limit_ticks: u32,
    /// The configuration text of each reconfig txn received and not yet committed.
    configs: BTreeMap<Zxid, String>,
    /// Reconfig txns committed during sync, activated at UPTODATE.
    sync_activations: Vec<Zxid>,
    /// The configuration NEWLEADER carried.
    leader_config: Option<String>,
}

impl Learner {
    pub fn new(
        my_id: u64,
        observer: bool,
        accepted_epoch: u32,
        current_epoch: u32,
        last_logged: Zxid,
        init_limit_ticks: u32,
        sync_limit_ticks: u32,
    ) -> Learner {
        Learner {
            my_id,
            observer,
            accepted_epoch,
            current_epoch,
            last_logged,
            last_queued: last_logged,
            phase: Phase::Connecting,
            new_epoch: 0,
            sync_proposals: Vec::new(),
            sync_commits: Vec::new(),
            newleader_waits_for: None,
            snapshot_pending: false,
            uncommitted: VecDeque::new(),
            to_ack: VecDeque::new(),
            ticks_silent: 0,
            init_limit_ticks,
            sync_limit_ticks,
            configs: BTreeMap::new(),
            sync_activations: Vec::new(),
            leader_config: None,
        }
    }

    pub fn is_serving(&self) -> bool {
        self.phase == Phase::Broadcast
    }

    pub fn accepted_epoch(&self) -> u32 {
        self.accepted_epoch
    }

    pub fn current_epoch(&self) -> u32 {
        self.current_epoch
    }

    pub fn last_logged(&self) -> Zxid {
        self.last_logged
    }

    pub fn step(&mut self, input: Input, out: &mut Vec<Output>) {
        match input {
            Input::Connected => self.on_connected(out),
            Input::Packet(p) => {
                self.ticks_silent = 0;
                self.on_packet(p, out)
            }
            Input::SnapshotLoaded => self.on_snapshot_loaded(),
            Input::Persisted(z) => self.on_persisted(z, out),
            Input::Tick => self.on_tick(out),
        }
    }

    fn on_connected(&mut self, out: &mut Vec<Output>) {
        assert_eq!(self.phase, Phase::Connecting, "connected twice");
        let info = LearnerInfo { server_id: self.my_id as i64, protocol_version: PROTOCOL_VERSION, config_version: 0 };
        let kind = if self.observer { PacketType::ObserverInfo } else { PacketType::FollowerInfo };
        out.push(Output::Send(packet(kind, zxid(self.accepted_epoch, 0), Some(info.to_bytes()))));
        self.phase = Phase::AwaitLeaderInfo;
    }

    fn on_tick(&mut self, out: &mut Vec<Output>) {
        self.ticks_silent += 1;
        let limit = if self.phase == Phase::Broadcast { self.sync_limit_ticks } else { self.init_limit_ticks };
        if self.phase != Phase::Connecting && self.ticks_silent > limit {
            out.push(Output::Abandon(format!("leader silent for {} ticks", self.ticks_silent)));
        }
    }

    fn on_packet(&mut self, p: QuorumPacket, out: &mut Vec<Output>) {
        let Some(kind) = PacketType::from_i32(p.kind) else {
            out.push(Output::Abandon(format!("unknown packet type {}", p.kind)));
            return;
        };
        match (self.phase, kind) {
            (Phase::AwaitLeaderInfo, PacketType::LeaderInfo) => self.on_leader_info(p, out),
            (Phase::AwaitSyncMode, PacketType::Diff) => self.phase = Phase::Syncing,
            (Phase::AwaitSyncMode, PacketType::Trunc) => {
                out.push(Output::Truncate(p.zxid));
                self.last_logged = p.zxid;
                self.last_queued = p.zxid;
                self.phase = Phase::Syncing;
            }
            (Phase::AwaitSyncMode, PacketType::Snap) => {
                out.push(Output::ReadSnapshot(p.zxid));
                self.snapshot_pending = true;
                self.last_logged = p.zxid;
                self.last_queued = p.zxid;
                self.phase = Phase::Syncing;
            }
            (Phase::Syncing, PacketType::Proposal) => match decode_txn(&p) {
                Ok(t) => {
                    self.note_config(&t);
                    self.sync_proposals.push(t)
                }
                Err(e) => out.push(Output::Abandon(e)),
            },
            (Phase::Syncing, PacketType::Commit) => self.sync_commits.push(p.zxid),
            (Phase::Syncing, PacketType::Inform | PacketType::InformAndActivate) => match decode_inform(&p) {
                Ok((t, activate)) => {
                    self.note_config(&t);
                    if activate.is_some() {
                        self.sync_activations.push(t.header.zxid);
                    }
                    self.sync_commits.push(t.header.zxid);
                    self.sync_proposals.push(t);
                }
                Err(e) => out.push(Output::Abandon(e)),
            },
            (Phase::Syncing, PacketType::NewLeader) => self.on_new_leader(p, out),
            (Phase::AwaitUpToDate | Phase::PersistingSync, PacketType::Proposal) => match decode_txn(&p) {
                Ok(t) => self.on_proposal(t, out),
                Err(e) => out.push(Output::Abandon(e)),
            },
            (Phase::Syncing | Phase::AwaitUpToDate | Phase::PersistingSync, PacketType::CommitAndActivate) => {
                self.sync_activations.push(p.zxid);
                self.sync_commits.push(p.zxid)
            }
            (Phase::AwaitUpToDate | Phase::PersistingSync, PacketType::Commit) => self.sync_commits.push(p.zxid),
            // An observer synchronised before UPTODATE: the txns committed meanwhile come as
            // INFORM, logged now and applied at UPTODATE like a follower's PROPOSAL + COMMIT.
            (Phase::AwaitUpToDate | Phase::PersistingSync, PacketType::Inform | PacketType::InformAndActivate) => {
                match decode_inform(&p) {
                    Ok((t, activate)) => {
                        let z = t.header.zxid;
                        if activate.is_some() {
                            self.sync_activations.push(z);
                        }
                        self.on_proposal(t, out);
                        self.sync_commits.push(z);
                    }
                    Err(e) => out.push(Output::Abandon(e)),
                }
            }
            (Phase::AwaitUpToDate, PacketType::UpToDate) => self.on_up_to_date(out),
            (Phase::Broadcast, PacketType::Proposal) => match decode_txn(&p) {
                Ok(t) => self.on_proposal(t, out),
                Err(e) => out.push(Output::Abandon(e)),
            },
            (Phase::Broadcast, PacketType::Commit) => self.on_commit(p.zxid, out),
            (Phase::Broadcast, PacketType::CommitAndActivate) => match designated_leader(&p) {
                Ok(d) => {
                    self.on_commit(p.zxid, out);
                    self.activate(p.zxid, Some(d), out);
                }
                Err(e) => out.push(Output::Abandon(e)),
            },
            (Phase::Broadcast, PacketType::Inform | PacketType::InformAndActivate) => match decode_inform(&p) {
                Ok((t, activate)) => {
                    let z = t.header.zxid;
                    self.on_proposal(t, out);
                    self.on_commit(z, out);
                    if activate.is_some() {
                        self.activate(z, activate, out);
                    }
                }
                Err(e) => out.push(Output::Abandon(e)),
            },
            (_, PacketType::Ping) => out.push(Output::PingReply(packet(PacketType::Ping, p.zxid, None))),
            (Phase::Broadcast, PacketType::Sync) => out.push(Output::Synced(p.zxid)),
            (_, PacketType::Revalidate) => match packet::decode_revalidate_answer(p.data.as_deref().unwrap_or(&[])) {
                Ok((session, valid)) => out.push(Output::Revalidated { session, valid }),
                Err(e) => out.push(Output::Abandon(format!("bad REVALIDATE: {e}"))),
            },
            (phase, kind) => out.push(Output::Abandon(format!("unexpected {kind:?} in {phase:?}"))),
        }
    }

    /// LEADERINFO: accept the new epoch (durably) before acknowledging it.
    fn on_leader_info(&mut self, p: QuorumPacket, out: &mut Vec<Output>) {
        let new_epoch = epoch_of(p.zxid);
        if packet::decode_int(p.data.as_deref().unwrap_or(&[])).ok() != Some(PROTOCOL_VERSION) {
            out.push(Output::Abandon("leader speaks another protocol version".into()));
            return;
        }
        let ack_data = if new_epoch > self.accepted_epoch {
            self.accepted_epoch = new_epoch;
            out.push(Output::WriteAcceptedEpoch(new_epoch));
            packet::encode_int(self.current_epoch as i32)
        } else if new_epoch == self.accepted_epoch {
            // Already accepted this epoch (e.g. a reconnect): say so with -1.
            packet::encode_int(-1)
        } else {
            out.push(Output::Abandon(format!(
                "leader proposes epoch {new_epoch}, older than our accepted epoch {}",
                self.accepted_epoch
            )));
            return;
        };
        self.new_epoch = new_epoch;
        out.push(Output::Send(packet(PacketType::AckEpoch, self.last_logged, Some(ack_data))));
        self.phase = Phase::AwaitSyncMode;
    }

    fn on_snapshot_loaded(&mut self) {
        assert!(self.snapshot_pending, "a snapshot loaded without SNAP");
    }

    /// NEWLEADER: make the snapshot (SNAP) and every synced proposal durable; the ACK waits for
    /// `Persisted`.
    fn on_new_leader(&mut self, p: QuorumPacket, out: &mut Vec<Output>) {
        if epoch_of(p.zxid) != self.new_epoch {
            out.push(Output::Abandon(format!(
                "NEWLEADER for epoch {} during epoch {}",
                epoch_of(p.zxid),
                self.new_epoch
            )));
            return;
        }
        if let Some(config) = p.data.as_deref().filter(|d| d.len() > 1) {
            let text = String::from_utf8_lossy(config).into_owned();
            out.push(Output::SeenConfig(text.clone()));
            self.leader_config = Some(text);
        }
        if self.snapshot_pending {
            out.push(Output::SaveSnapshot);
        }
        for t in std::mem::take(&mut self.sync_proposals) {
            let z = t.header.zxid;
            if z <= self.last_queued {
                continue; // already logged (a TRUNC/DIFF boundary repeat)
            }
            self.last_queued = z;
            self.uncommitted.push_back(z);
            // Still outstanding at the leader: acknowledge it once durable, as ZooKeeper does.
            if !self.sync_commits.contains(&z) {
                self.to_ack.push_back(z);
            }
            out.push(Output::Persist(t));
        }
        self.newleader_waits_for = Some(self.last_queued);
        self.phase = Phase::PersistingSync;
        if !self.snapshot_pending && self.last_queued == self.last_logged {
            self.ack_new_leader(out);
        }
    }

    fn ack_new_leader(&mut self, out: &mut Vec<Output>) {
        self.newleader_waits_for = None;
        self.snapshot_pending = false;
        self.current_epoch = self.new_epoch;
        out.push(Output::WriteCurrentEpoch(self.new_epoch));
        out.push(Output::Send(packet(PacketType::Ack, zxid(self.new_epoch, 0), None)));
        self.phase = Phase::AwaitUpToDate;
    }

    /// UPTODATE: apply what was committed during sync, then serve.
    fn on_up_to_date(&mut self, out: &mut Vec<Output>) {
        for z in std::mem::take(&mut self.sync_commits) {
            self.on_commit(z, out);
        }
        for z in std::mem::take(&mut self.sync_activations) {
            self.activate(z, None, out);
        }
        if let Some(config) = self.leader_config.take() {
            out.push(Output::Activate { config, designated: None });
        }
        out.push(Output::Send(packet(PacketType::Ack, zxid(self.new_epoch, 0), None)));
        out.push(Output::Serving);
        self.phase = Phase::Broadcast;
    }

    fn on_proposal(&mut self, t: Transaction, out: &mut Vec<Output>) {
        let z = t.header.zxid;
        if z <= self.last_queued {
            log::debug!("ignoring duplicate proposal 0x{z:x}");
            return;
        }
        self.note_config(&t);
        self.last_queued = z;
        self.uncommitted.push_back(z);
        self.to_ack.push_back(z);
        out.push(Output::Persist(t));
    }

    /// Remembers the configuration a reconfig txn proposes, for its activation.
    fn note_config(&mut self, t: &Transaction) {
        if let (TxnBody::SetData(s), op::RECONFIG) = (&t.body, t.header.kind) {
            let text = String::from_utf8_lossy(s.data.as_deref().unwrap_or(&[])).into_owned();
            self.configs.insert(t.header.zxid, text);
        }
    }

    /// The reconfig txn `z` committed: report its configuration.
    fn activate(&mut self, z: Zxid, designated: Option<u64>, out: &mut Vec<Output>) {
        let older: Vec<Zxid> = self.configs.range(..z).map(|(k, _)| *k).collect();
        for k in older {
            self.configs.remove(&k);
        }
        match self.configs.remove(&z) {
            Some(config) => out.push(Output::Activate { config, designated }),
            None => log::warn!("activation of 0x{z:x}, which is not a reconfig txn we hold"),
        }
    }

    /// Durable up to `z` (and, after SNAP, the snapshot saved): the only place ACKs come from.
    fn on_persisted(&mut self, z: Zxid, out: &mut Vec<Output>) {
        assert!(z <= self.last_queued, "persisted 0x{z:x} beyond what was queued (0x{:x})", self.last_queued);
        self.last_logged = self.last_logged.max(z);
        if self.phase == Phase::PersistingSync && self.newleader_waits_for.is_some_and(|w| z >= w) {
            self.ack_new_leader(out);
        }
        while let Some(&a) = self.to_ack.front() {
            if a > z {
                break;
            }
            self.to_ack.pop_front();
            if !self.observer {
                out.push(Output::Send(packet(PacketType::Ack, a, None)));
            }
        }
    }

    /// COMMIT: apply in order; a commit for a txn we do not hold means we diverged.
    fn on_commit(&mut self, z: Zxid, out: &mut Vec<Output>) {
        match self.uncommitted.front() {
            Some(&first) if first == z => {
                self.uncommitted.pop_front();
                out.push(Output::Apply(z));
            }
            Some(&first) if z < first => log::debug!("COMMIT 0x{z:x} is already applied"),
            _ if z <= self.last_logged && self.uncommitted.is_empty() => {
                // Committed during sync before we logged it as uncommitted (DIFF repeat).
                log::debug!("COMMIT 0x{z:x} for a txn logged during sync");
            }
            other => out.push(Output::Abandon(format!("COMMIT 0x{z:x} but the next uncommitted txn is {other:?}"))),
        }
    }
}

/// COMMITANDACTIVATE's data: the designated leader's id.
fn designated_leader(p: &QuorumPacket) -> Result<u64, String> {
    let data = p.data.as_deref().unwrap_or(&[]);
    let id = data.get(..8).map(|b| i64::from_be_bytes(b.try_into().expect("8 bytes")));
    id.filter(|id| *id >= 0).map(|id| id as u64).ok_or_else(|| format!("bad COMMITANDACTIVATE 0x{:x}", p.zxid))
}

/// INFORM (the txn) or INFORMANDACTIVATE (the designated leader's id, then the txn).
fn decode_inform(p: &QuorumPacket) -> Result<(Transaction, Option<u64>), String> {
    if p.kind != PacketType::InformAndActivate as i32 {
        return decode_txn(p).map(|t| (t, None));
    }
    let designated = designated_leader(p)?;
    let rest = p.data.as_deref().unwrap_or(&[]).get(8..).unwrap_or(&[]);
    let t = Transaction::from_bytes(rest).map_err(|e| format!("bad INFORMANDACTIVATE 0x{:x}: {e}", p.zxid))?;
    Ok((t, Some(designated)))
}

fn decode_txn(p: &QuorumPacket) -> Result<Transaction, String> {
    Transaction::from_bytes(p.data.as_deref().unwrap_or(&[])).map_err(|e| format!("bad proposal 0x{:x}: {e}", p.zxid))
}

pub fn packet(kind: PacketType, zxid: Zxid, data: Option<Vec<u8>>) -> QuorumPacket {
    QuorumPacket { kind: kind as i32, zxid, data, auth_info: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::op;
    use crate::jute::txn::{ErrorTxn, TxnHeader};
    use crate::jute::txn_body::TxnBody;

    fn proposal(z: Zxid) -> QuorumPacket {
        let t = Transaction {
            header: TxnHeader { client_id: 1, cxid: 1, zxid: z, time: 0, kind: op::ERROR },
            body: TxnBody::Error(ErrorTxn { err: 0 }),
            digest: None,
        };
        packet(PacketType::Proposal, z, Some(t.to_bytes()))
    }

    fn acks(out: &[Output]) -> Vec<Zxid> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send(p) if p.kind == PacketType::Ack as i32 => Some(p.zxid),
                _ => None,
            })
            .collect()
    }

    /// Discovery and a DIFF sync carrying one committed proposal; returns the learner before
    /// NEWLEADER is handled.
    fn synced_to_diff() -> (Learner, Vec<Output>) {
        let mut l = Learner::new(2, false, 1, 1, zxid(1, 1), 10, 5);
        let mut out = Vec::new();
        l.step(Input::Connected, &mut out);
        l.step(
            Input::Packet(packet(PacketType::LeaderInfo, zxid(2, 0), Some(packet::encode_int(PROTOCOL_VERSION)))),
            &mut out,
        );
        assert!(out.contains(&Output::WriteAcceptedEpoch(2)), "the new epoch is accepted durably first: {out:?}");
        l.step(Input::Packet(packet(PacketType::Diff, zxid(1, 2), None)), &mut out);
        l.step(Input::Packet(proposal(zxid(1, 2))), &mut out);
        l.step(Input::Packet(packet(PacketType::Commit, zxid(1, 2), None)), &mut out);
        (l, out)
    }

    #[test]
    fn newleader_is_acked_only_after_the_sync_is_durable_and_the_epoch_written() {
        let (mut l, mut out) = synced_to_diff();
        out.clear();
        l.step(Input::Packet(packet(PacketType::NewLeader, zxid(2, 0), None)), &mut out);
        assert!(out.iter().any(|o| matches!(o, Output::Persist(t) if t.header.zxid == zxid(1, 2))));
        assert!(acks(&out).is_empty(), "no ACK before the synced txn is durable: {out:?}");
        assert!(!out.contains(&Output::WriteCurrentEpoch(2)));
        out.clear();
        l.step(Input::Persisted(zxid(1, 2)), &mut out);
        let epoch_at = out.iter().position(|o| *o == Output::WriteCurrentEpoch(2)).expect("currentEpoch written");
        let ack_at = out.iter().position(|o| matches!(o, Output::Send(p) if p.kind == PacketType::Ack as i32));
        assert!(ack_at.is_some_and(|a| a > epoch_at), "currentEpoch before the ACK: {out:?}");
        // Only UPTODATE makes the synced txn visible.
        out.clear();
        l.step(Input::Packet(packet(PacketType::UpToDate, -1, None)), &mut out);
        assert!(out.contains(&Output::Apply(zxid(1, 2))) && out.contains(&Output::Serving), "{out:?}");
    }

    #[test]
    fn proposals_are_acked_each_and_only_once_durable() {
        let (mut l, mut out) = synced_to_diff();
        l.step(Input::Packet(packet(PacketType::NewLeader, zxid(2, 0), None)), &mut out);
        l.step(Input::Persisted(zxid(1, 2)), &mut out);
        l.step(Input::Packet(packet(PacketType::UpToDate, -1, None)), &mut out);
        out.clear();
        l.step(Input::Packet(proposal(zxid(2, 1))), &mut out);
        l.step(Input::Packet(proposal(zxid(2, 2))), &mut out);
        assert!(acks(&out).is_empty());
        l.step(Input::Persisted(zxid(2, 2)), &mut out);
        assert_eq!(acks(&out), [zxid(2, 1), zxid(2, 2)], "one ACK per proposal, as ZooKeeper's leader counts them");
        out.clear();
        l.step(Input::Packet(packet(PacketType::Commit, zxid(2, 1), None)), &mut out);
        assert_eq!(out, [Output::Apply(zxid(2, 1))]);
    }

    #[test]
    fn an_older_epoch_is_refused() {
        let mut l = Learner::new(2, false, 5, 5, zxid(5, 1), 10, 5);
        let mut out = Vec::new();
        l.step(Input::Connected, &mut out);
        l.step(
            Input::Packet(packet(PacketType::LeaderInfo, zxid(4, 0), Some(packet::encode_int(PROTOCOL_VERSION)))),
            &mut out,
        );
        assert!(matches!(out.last(), Some(Output::Abandon(_))), "{out:?}");
    }
}
