//! Fast Leader Election for one server, as a pure state machine.
//!
//! This is ZooKeeper's `FastLeaderElection` with its threads taken out. `lookForLeader` becomes
//! the `LookForLeader` state plus the handlers below; the `WorkerReceiver` thread, which answers
//! some notifications on its own, becomes the first half of `on_notification`; `recvqueue.poll`
//! with a timeout becomes deadlines checked in `on_tick`. Nothing here reads a clock or touches a
//! socket: the pump hands in notifications (already decoded, with the sender's sid from the
//! connection) and ticks, and carries out the `Output`s in order.
//!
//! | ZooKeeper                                         | here                                     |
//! |---------------------------------------------------|------------------------------------------|
//! | `QuorumPeer.startLeaderElection` (first vote)     | `Election::new`                          |
//! | `lookForLeader()` entry                           | `start_looking`                          |
//! | `WorkerReceiver.run` + one `recvqueue.poll` step  | `on_notification`                        |
//! | `poll(notTimeout)` / `poll(finalizeWait)` expiry  | `on_tick`                                |
//! | `sendNotifications`, `manager.toSend(mySid, ..)`  | `Output::Send` to each other voter; the copy to ourselves is looped back inside the core |
//! | `setPeerState` + `return endVote`                 | `Output::Elected`                        |
//! | `QuorumPeer.updateElectionVote(newEpoch)`         | `update_election_vote`                   |
//!
//! A server is LOOKING from `new` until an election ends, then FOLLOWING, LEADING or OBSERVING
//! until the pump calls `start_looking` again (when its ZAB role ends). While settled it still
//! answers every LOOKING voter with its current vote: that is how a server that joins an
//! established ensemble finds and follows the existing leader rather than forcing a new election.
//!
//! What the pump must do with the outputs, to behave as QuorumCnxManager does:
//! - `Send { to, notification }`: encode with `wire::encode_notification` and this server's
//!   QuorumVerifier text, and queue it for `to`, keeping only the newest unsent message per peer
//!   (ZooKeeper's `SEND_CAPACITY` is 1). If there is no connection to `to`, start one
//!   (`connectOne`); the core re-sends to every voter when it hears nothing, which is how ZooKeeper's
//!   `connectAll` gets triggered here.
//! - `Elected { vote, state }`: hand over to the ZAB core for `state`, then keep feeding
//!   notifications here (the core answers LOOKING peers while settled), and call `start_looking`
//!   when the ZAB role ends.

use super::vote::{supersedes, PeerState, Proposal, Vote};
use super::vote::{OBSERVER_INIT_EPOCH, OBSERVER_INIT_ID, OBSERVER_INIT_ZXID};
use super::wire::{Notification, NOTIFICATION_VERSION};
use crate::ids::{ServerId, Zxid};
use log::{debug, info};
use std::collections::{BTreeMap, BTreeSet};

/// Time, in ticks of the pump's clock (whatever length it chose; see `Timing`).
pub type Tick = u64;

/// How long a server that sees a quorum for its proposal waits for a better notification before
/// deciding (`FastLeaderElection.finalizeWait`).
pub const FINALIZE_WAIT_MS: u64 = 200;
/// The first and the largest wait for notifications before re-sending ours
/// (`minNotificationInterval`, default `finalizeWait`; `maxNotificationInterval`).
pub const NOTIFICATION_INTERVAL_MIN_MS: u64 = FINALIZE_WAIT_MS;
pub const NOTIFICATION_INTERVAL_MAX_MS: u64 = 60_000;

const _: () = assert!(NOTIFICATION_INTERVAL_MIN_MS > 0 && NOTIFICATION_INTERVAL_MIN_MS <= NOTIFICATION_INTERVAL_MAX_MS);

/// The election's waits, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub finalize_wait_ticks: u64,
    pub notification_interval_min_ticks: u64,
    pub notification_interval_max_ticks: u64,
}

impl Timing {
    /// ZooKeeper's defaults for a pump that ticks every `tick_ms` milliseconds. Each wait is
    /// rounded up to whole ticks; a deadline fires on the first tick at or after it, so a wait of
    /// `k` ticks lasts between `k - 1` and `k` tick lengths after the event that started it. Keep
    /// ticks well under 200 ms (say 10 ms) so that finalizeWait stays close to ZooKeeper's.
    pub fn from_tick_ms(tick_ms: u64) -> Timing {
        assert!(tick_ms > 0, "a tick has a length");
        let ticks = |ms: u64| ms.div_ceil(tick_ms).max(1);
        Timing {
            finalize_wait_ticks: ticks(FINALIZE_WAIT_MS),
            notification_interval_min_ticks: ticks(NOTIFICATION_INTERVAL_MIN_MS),
            notification_interval_max_ticks: ticks(NOTIFICATION_INTERVAL_MAX_MS),
        }
    }
}

/// What the core asks the pump to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `notification` to server `to` on the election port.
    Send { to: ServerId, notification: Notification },
    /// The election ended: this server is now `state` (LEADING, FOLLOWING or OBSERVING) under
    /// `vote.leader`. `vote` is the new current vote: the leader, its zxid and peer epoch as voted,
    /// and the round the election ended in (`vote.state` is `state`; ZooKeeper leaves LOOKING
    /// there, and reads the state from the peer instead). The ZAB core takes over from here.
    Elected { vote: Vote, state: PeerState },
}

/// What `lookForLeader` is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// `recvqueue.poll(notTimeout)`: at `deadline`, re-send our notification and back off.
    Notifications { deadline: Tick },
    /// `recvqueue.poll(finalizeWait)`: a quorum agrees with our proposal; at `deadline`, decide,
    /// unless a notification for a better candidate comes first.
    Finalize { deadline: Tick },
}

/// The local variables of one `lookForLeader` call.
#[derive(Clone, Debug)]
struct LookForLeader {
    /// Our own candidacy (`getInitId`, `getInitLastLoggedZxid`, `getPeerEpoch`), fixed for the call.
    initial: Proposal,
    /// Votes of the current round, by voter (`recvset`). Keys are voters: at most `voters.len()`.
    recv_set: BTreeMap<ServerId, Vote>,
    /// Votes of FOLLOWING and LEADING voters from any round (`outofelection`). Keys are voters.
    out_of_election: BTreeMap<ServerId, Vote>,
    /// The current wait for notifications (`notTimeout`), doubling on each timeout.
    notification_interval_ticks: u64,
    wait: Wait,
}

/// One server's Fast Leader Election. Owned by the `peer` thread; see the module doc for the calls.
#[derive(Clone, Debug)]
pub struct Election {
    my_id: ServerId,
    /// The voting members (participants), ourselves included unless we are an observer.
    voters: BTreeSet<ServerId>,
    /// The observers, ourselves included if we are one. Only used to check membership.
    observers: BTreeSet<ServerId>,
    timing: Timing,
    /// `QuorumPeer.getPeerState()`.
    peer_state: PeerState,
    /// `QuorumPeer.getCurrentVote()`: the outcome of our last election (at first our own
    /// candidacy), which we tell peers when they ask.
    current_vote: Vote,
    /// The election round (`logicalclock`).
    logical_clock: i64,
    /// Our current candidate (`proposedLeader`, `proposedZxid`, `proposedEpoch`).
    proposal: Proposal,
    /// The latest tick handed in.
    now: Tick,
    /// Present while an election runs (between `start_looking` and `Elected`).
    looking: Option<LookForLeader>,
    /// Our own notification, sent to ourselves, not yet received (QuorumCnxManager's loopback).
    /// Only the newest matters: an older one is never better than what we now propose.
    loopback: Option<Notification>,
}

impl Election {
    /// A server with id `my_id` in an ensemble of `voters` and `observers` (it must be in exactly
    /// one of them; an observer runs the election to find the leader but never wins), whose log
    /// ends at `zxid_last_logged` and whose `currentEpoch` is `epoch_current`. It starts LOOKING;
    /// call `start_looking` to begin the first election.
    pub fn new(
        my_id: ServerId,
        voters: BTreeSet<ServerId>,
        observers: BTreeSet<ServerId>,
        zxid_last_logged: Zxid,
        epoch_current: i64,
        timing: Timing,
    ) -> Election {
        assert!(!voters.is_empty(), "an ensemble has voters");
        assert!(voters.is_disjoint(&observers), "a server is a voter or an observer, not both");
        assert!(voters.contains(&my_id) || observers.contains(&my_id), "server {my_id} is in the ensemble");
        assert!(timing.finalize_wait_ticks > 0 && timing.notification_interval_min_ticks > 0);
        assert!(timing.notification_interval_min_ticks <= timing.notification_interval_max_ticks);
        // QuorumPeer.startLeaderElection: our first current vote is for ourselves, round -1.
        let current_vote = Vote {
            version: 0,
            leader: my_id,
            zxid: zxid_last_logged,
            election_epoch: -1,
            peer_epoch: epoch_current,
            state: PeerState::Looking,
        };
        Election {
            my_id,
            voters,
            observers,
            timing,
            peer_state: PeerState::Looking,
            current_vote,
            logical_clock: 0,
            proposal: current_vote.proposal(),
            now: 0,
            looking: None,
            loopback: None,
        }
    }

    /// A reconfiguration put new members in force (`QuorumPeer.processReconfig`): the same rules
    /// as [`Election::new`]. Votes of servers that no longer vote are forgotten; the caller starts
    /// a new election if it needs one.
    pub fn set_members(&mut self, voters: BTreeSet<ServerId>, observers: BTreeSet<ServerId>) {
        assert!(!voters.is_empty(), "an ensemble has voters");
        assert!(voters.is_disjoint(&observers), "a server is a voter or an observer, not both");
        let me = self.my_id;
        assert!(voters.contains(&me) || observers.contains(&me), "server {me} is in the ensemble");
        if let Some(looking) = self.looking.as_mut() {
            looking.recv_set.retain(|sid, _| voters.contains(sid));
            looking.out_of_election.retain(|sid, _| voters.contains(sid));
        }
        self.voters = voters;
        self.observers = observers;
    }

    pub fn my_id(&self) -> ServerId {
        self.my_id
    }

    pub fn voters(&self) -> &BTreeSet<ServerId> {
        &self.voters
    }

    pub fn observers(&self) -> &BTreeSet<ServerId> {
        &self.observers
    }

    /// True if this server only observes (ZooKeeper's learner type OBSERVER).
    pub fn is_observer(&self) -> bool {
        !self.voters.contains(&self.my_id)
    }

    pub fn peer_state(&self) -> PeerState {
        self.peer_state
    }

    /// The outcome of the last election, as told to peers that ask.
    pub fn current_vote(&self) -> Vote {
        self.current_vote
    }

    /// The election round (`logicalclock`), as `srvr`/JMX report it.
    pub fn logical_clock(&self) -> i64 {
        self.logical_clock
    }

    /// The candidate this server currently proposes.
    pub fn proposal(&self) -> Proposal {
        self.proposal
    }

    /// True while an election runs and a quorum already agrees with our proposal.
    pub fn is_finalizing(&self) -> bool {
        matches!(self.looking.as_ref().map(|l| l.wait), Some(Wait::Finalize { .. }))
    }

    /// Begins an election (`lookForLeader`): a new round, our own candidacy as the proposal, and
    /// a notification to every voter. `zxid_last_logged` and `epoch_current` are read again here
    /// because a ZAB role that just ended may have moved them. Calling it during an election
    /// abandons that one and starts the next round, as ZooKeeper does after a reconfiguration.
    pub fn start_looking(&mut self, zxid_last_logged: Zxid, epoch_current: i64) -> Vec<Output> {
        let initial = if self.is_observer() {
            Proposal { leader: OBSERVER_INIT_ID, zxid: OBSERVER_INIT_ZXID, peer_epoch: OBSERVER_INIT_EPOCH }
        } else {
            Proposal { leader: self.my_id, zxid: zxid_last_logged, peer_epoch: epoch_current }
        };
        self.peer_state = PeerState::Looking;
        self.logical_clock += 1;
        self.proposal = initial;
        self.loopback = None;
        let interval = self.timing.notification_interval_min_ticks;
        self.looking = Some(LookForLeader {
            initial,
            recv_set: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            notification_interval_ticks: interval,
            wait: Wait::Notifications { deadline: self.now + interval },
        });
        info!(
            "New election. My id = {}, proposed zxid=0x{:x}, round 0x{:x}",
            self.my_id, self.proposal.zxid, self.logical_clock
        );
        let mut out = Vec::new();
        self.send_notifications(&mut out);
        self.deliver_loopback(&mut out);
        self.check_output_bound(&out);
        out
    }

    /// A notification from server `from` (the sid its connection announced), in any state.
    pub fn on_notification(&mut self, from: ServerId, n: Notification) -> Vec<Output> {
        let mut out = Vec::new();
        self.receive(from, n, &mut out);
        self.deliver_loopback(&mut out);
        self.check_output_bound(&out);
        out
    }

    /// Time has reached `now` (ticks only move forward). Re-sends our notification when nothing
    /// arrived for a while, with exponential backoff, and ends the finalize wait.
    pub fn on_tick(&mut self, now: Tick) -> Vec<Output> {
        assert!(now >= self.now, "ticks go forward: {now} after {}", self.now);
        self.now = now;
        let mut out = Vec::new();
        let Some(looking) = self.looking.as_mut() else {
            return out;
        };
        match looking.wait {
            Wait::Notifications { deadline } if now >= deadline => {
                // ZooKeeper re-sends if some message got through (manager.haveDelivered), and
                // otherwise asks its manager to connect to everyone; a Send to an unconnected
                // peer does both here.
                looking.notification_interval_ticks =
                    (looking.notification_interval_ticks * 2).min(self.timing.notification_interval_max_ticks);
                looking.wait = Wait::Notifications { deadline: now + looking.notification_interval_ticks };
                info!("Notification time out: {} ticks", looking.notification_interval_ticks);
                self.send_notifications(&mut out);
            }
            Wait::Finalize { deadline } if now >= deadline => {
                // No better notification during finalizeWait: the proposal wins.
                let end_vote = Vote {
                    version: 0,
                    leader: self.proposal.leader,
                    zxid: self.proposal.zxid,
                    election_epoch: self.logical_clock,
                    peer_epoch: self.proposal.peer_epoch,
                    state: PeerState::Looking,
                };
                self.decide(end_vote, &mut out);
            }
            Wait::Notifications { .. } | Wait::Finalize { .. } => {}
        }
        self.deliver_loopback(&mut out);
        self.check_output_bound(&out);
        out
    }

    /// The ZAB core established `peer_epoch` as the new epoch (`QuorumPeer.updateElectionVote`:
    /// the leader calls it when it starts serving, after a quorum acked NEWLEADER; a learner after
    /// UPTODATE). The current vote carries it from now on, so that every member of the ensemble
    /// reports the same (leader, peer epoch) to servers that join later, which is what they
    /// compare (ZOOKEEPER-1732). Without it a joiner may never gather a matching quorum.
    pub fn update_election_vote(&mut self, peer_epoch: i64) {
        self.current_vote.peer_epoch = peer_epoch;
    }

    /// `WorkerReceiver.run` for one message, then `lookForLeader`'s handling of it if we are
    /// in an election.
    fn receive(&mut self, from: ServerId, n: Notification, out: &mut Vec<Output>) {
        if !self.voters.contains(&from) {
            // A non-voter (an observer) is answered at once with our current vote and our round,
            // whatever our state, and its notification is not counted.
            debug!("notification from non-voter {from}: answering with the current vote");
            let reply = self.notification_of(self.current_vote.proposal(), self.logical_clock, self.peer_state);
            out.push(Output::Send { to: from, notification: reply });
            return;
        }
        if self.peer_state == PeerState::Looking {
            if n.state == PeerState::Looking && n.election_epoch < self.logical_clock {
                // The sender lags behind our round: tell it what we propose now.
                let reply = self.notification_of(self.proposal, self.logical_clock, PeerState::Looking);
                out.push(Output::Send { to: from, notification: reply });
            }
            if self.looking.is_some() {
                self.poll_returned(from, n, out);
            } else {
                debug!("notification from {from} before the election started: dropped");
            }
        } else if n.state == PeerState::Looking {
            // We are settled and the sender is looking: tell it who leads.
            let v = self.current_vote;
            let reply = self.notification_of(v.proposal(), v.election_epoch, self.peer_state);
            out.push(Output::Send { to: from, notification: reply });
        }
    }

    /// `lookForLeader` got `n` from its queue, either in its main loop or in the finalize wait.
    fn poll_returned(&mut self, from: ServerId, n: Notification, out: &mut Vec<Output>) {
        let weight = self.weight(n.leader);
        let looking = self.looking.as_mut().expect("in an election");
        if let Wait::Finalize { .. } = looking.wait {
            let candidate = proposal_of(&n);
            if !supersedes(&candidate, &self.proposal, weight) {
                // Not better than what a quorum agrees on: dropped, and the wait starts over.
                looking.wait = Wait::Finalize { deadline: self.now + self.timing.finalize_wait_ticks };
                return;
            }
            // A better candidate: leave the finalize wait and handle it in the main loop.
            debug!("finalize wait ended by a better candidate {candidate:?} from {from}");
        }
        looking.wait = Wait::Notifications { deadline: self.now + looking.notification_interval_ticks };
        self.process_notification(from, n, out);
    }

    /// One turn of `lookForLeader`'s main loop for a notification from voter `from`.
    fn process_notification(&mut self, from: ServerId, n: Notification, out: &mut Vec<Output>) {
        if !self.voters.contains(&n.leader) {
            debug!("ignoring notification for non-voter {} from {from}", n.leader);
            return;
        }
        match n.state {
            PeerState::Looking => self.on_looking_notification(from, n, out),
            PeerState::Observing => debug!("notification from observer {from}"),
            PeerState::Following | PeerState::Leading => self.on_settled_notification(from, n, out),
        }
    }

    /// A vote from a voter that is itself looking.
    fn on_looking_notification(&mut self, from: ServerId, n: Notification, out: &mut Vec<Output>) {
        let weight = self.weight(n.leader);
        let looking = self.looking.as_mut().expect("in an election");
        if looking.initial.zxid == -1 {
            debug!("ignoring notification as our zxid is -1");
            return;
        }
        if n.zxid == -1 {
            debug!("ignoring notification from member with -1 zxid {from}");
            return;
        }
        let candidate = proposal_of(&n);
        if n.election_epoch > self.logical_clock {
            // A newer round: join it, forget the old round's votes, and propose the better of
            // its candidate and our own.
            self.logical_clock = n.election_epoch;
            looking.recv_set.clear();
            self.proposal = if supersedes(&candidate, &looking.initial, weight) { candidate } else { looking.initial };
            self.send_notifications(out);
        } else if n.election_epoch < self.logical_clock {
            debug!("notification round 0x{:x} below ours 0x{:x}: ignored", n.election_epoch, self.logical_clock);
            return;
        } else if supersedes(&candidate, &self.proposal, weight) {
            self.proposal = candidate;
            self.send_notifications(out);
        }
        let looking = self.looking.as_mut().expect("in an election");
        looking.recv_set.insert(
            from,
            Vote {
                version: 0,
                leader: n.leader,
                zxid: n.zxid,
                election_epoch: n.election_epoch,
                peer_epoch: n.peer_epoch,
                state: PeerState::Looking,
            },
        );
        let ours = Vote {
            version: 0,
            leader: self.proposal.leader,
            zxid: self.proposal.zxid,
            election_epoch: self.logical_clock,
            peer_epoch: self.proposal.peer_epoch,
            state: PeerState::Looking,
        };
        if has_quorum(&self.voters, &looking.recv_set, &ours) {
            debug!("quorum for {:?} in round 0x{:x}: finalize wait", self.proposal, self.logical_clock);
            looking.wait = Wait::Finalize { deadline: self.now + self.timing.finalize_wait_ticks };
        }
    }

    /// A vote from a voter that is FOLLOWING or LEADING (`receivedFollowingNotification`; for
    /// LEADING, `receivedLeadingNotification` adds only the QuorumOracleMaj case, not supported).
    fn on_settled_notification(&mut self, from: ServerId, n: Notification, out: &mut Vec<Output>) {
        let my_id = self.my_id;
        let logical_clock = self.logical_clock;
        let looking = self.looking.as_mut().expect("in an election");
        // As ZooKeeper builds them: the table entry without a version in recvset, with the
        // notification's version in outofelection, and the vote to count with it.
        let entry = |version| Vote {
            version,
            leader: n.leader,
            zxid: n.zxid,
            election_epoch: n.election_epoch,
            peer_epoch: n.peer_epoch,
            state: n.state,
        };
        let theirs = entry(n.version);
        let end_vote = Vote { state: PeerState::Looking, ..entry(0) };
        if n.election_epoch == logical_clock {
            // Same round: these votes count with the looking ones.
            looking.recv_set.insert(from, entry(0));
            if has_quorum(&self.voters, &looking.recv_set, &theirs)
                && check_leader(my_id, logical_clock, &looking.recv_set, n.leader, n.election_epoch)
            {
                self.decide(end_vote, out);
                return;
            }
        }
        // Any round: is there an established leader that a quorum follows and that says it leads?
        looking.out_of_election.insert(from, theirs);
        if has_quorum(&self.voters, &looking.out_of_election, &theirs)
            && check_leader(my_id, logical_clock, &looking.out_of_election, n.leader, n.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            self.decide(end_vote, out);
        }
    }

    /// Leaves the election with `end_vote` (`setPeerState`, `leaveInstance`).
    fn decide(&mut self, end_vote: Vote, out: &mut Vec<Output>) {
        let state = if end_vote.leader == self.my_id {
            PeerState::Leading
        } else if self.is_observer() {
            PeerState::Observing
        } else {
            PeerState::Following
        };
        assert!(self.voters.contains(&end_vote.leader), "elected a non-voter: {end_vote:?}");
        assert!(state != PeerState::Leading || !self.is_observer(), "an observer never leads");
        info!(
            "Election over: server {} is {:?} under {} (zxid 0x{:x}, peer epoch 0x{:x}, round 0x{:x})",
            self.my_id, state, end_vote.leader, end_vote.zxid, end_vote.peer_epoch, end_vote.election_epoch
        );
        let vote = Vote { state, ..end_vote };
        self.peer_state = state;
        self.current_vote = vote;
        self.looking = None;
        // leaveInstance clears the receive queue, our own loopback included.
        self.loopback = None;
        out.push(Output::Elected { vote, state });
    }

    /// `sendNotifications`: our proposal to every voter; the copy for ourselves is looped back.
    fn send_notifications(&mut self, out: &mut Vec<Output>) {
        let n = self.notification_of(self.proposal, self.logical_clock, PeerState::Looking);
        debug!("Sending notification {n:?} from {}", self.my_id);
        for &to in &self.voters {
            if to == self.my_id {
                self.loopback = Some(n);
            } else {
                out.push(Output::Send { to, notification: n });
            }
        }
    }

    /// Receives our own notification, as if it came back through the receive queue after the
    /// messages already handled. It never changes the proposal, so it never sends another.
    fn deliver_loopback(&mut self, out: &mut Vec<Output>) {
        if let Some(n) = self.loopback.take() {
            self.receive(self.my_id, n, out);
            assert!(self.loopback.is_none(), "our own notification never makes us send again");
        }
    }

    fn notification_of(&self, p: Proposal, election_epoch: i64, state: PeerState) -> Notification {
        Notification {
            state,
            leader: p.leader,
            zxid: p.zxid,
            election_epoch,
            peer_epoch: p.peer_epoch,
            version: NOTIFICATION_VERSION,
        }
    }

    /// The quorum verifier's weight: 1 for a voter (majority quorums), 0 for anyone else.
    fn weight(&self, sid: ServerId) -> u64 {
        u64::from(self.voters.contains(&sid))
    }

    /// Every call returns at most one reply plus one notification per voter, or one reply and
    /// one `Elected`; the pump may size its buffers by this.
    fn check_output_bound(&self, out: &[Output]) {
        debug_assert!(out.len() <= self.voters.len() + 1, "{} outputs for {} voters", out.len(), self.voters.len());
    }
}

fn proposal_of(n: &Notification) -> Proposal {
    Proposal { leader: n.leader, zxid: n.zxid, peer_epoch: n.peer_epoch }
}

/// `getVoteTracker(votes, vote).hasAllQuorums()` for a majority quorum: more than half of the
/// voters have a vote that `matches` ours.
fn has_quorum(voters: &BTreeSet<ServerId>, votes: &BTreeMap<ServerId, Vote>, ours: &Vote) -> bool {
    let acks = votes.iter().filter(|(sid, v)| voters.contains(sid) && ours.matches(v)).count();
    acks > voters.len() / 2
}

/// `checkLeader`: a leader other than us must itself have said it is LEADING; if the votes say
/// we lead, the round they were cast in must be ours. This stops servers from electing, over
/// and over, a leader that has crashed.
fn check_leader(
    my_id: ServerId,
    logical_clock: i64,
    votes: &BTreeMap<ServerId, Vote>,
    leader: ServerId,
    election_epoch: i64,
) -> bool {
    if leader != my_id {
        votes.get(&leader).is_some_and(|v| v.state == PeerState::Leading)
    } else {
        logical_clock == election_epoch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PeerState::*;

    const TIMING: Timing =
        Timing { finalize_wait_ticks: 2, notification_interval_min_ticks: 2, notification_interval_max_ticks: 16 };

    fn set(ids: &[ServerId]) -> BTreeSet<ServerId> {
        ids.iter().copied().collect()
    }

    fn voter(id: ServerId, n: usize) -> Election {
        Election::new(id, (1..=n as u64).collect(), BTreeSet::new(), 0x1_0000_0005, 1, TIMING)
    }

    fn note(state: PeerState, leader: ServerId, zxid: Zxid, round: i64, epoch: i64) -> Notification {
        Notification { state, leader, zxid, election_epoch: round, peer_epoch: epoch, version: NOTIFICATION_VERSION }
    }

    fn sends(out: &[Output]) -> Vec<(ServerId, Notification)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { to, notification } => Some((*to, *notification)),
                Output::Elected { .. } => None,
            })
            .collect()
    }

    fn elected(out: &[Output]) -> Option<(Vote, PeerState)> {
        out.iter().find_map(|o| match o {
            Output::Elected { vote, state } => Some((*vote, *state)),
            Output::Send { .. } => None,
        })
    }

    #[test]
    fn timing_from_tick_length() {
        let t = Timing::from_tick_ms(50);
        assert_eq!(
            (t.finalize_wait_ticks, t.notification_interval_min_ticks, t.notification_interval_max_ticks),
            (4, 4, 1200)
        );
        let t = Timing::from_tick_ms(300);
        assert_eq!((t.finalize_wait_ticks, t.notification_interval_max_ticks), (1, 200));
    }

    #[test]
    fn start_looking_sends_our_own_vote_to_every_other_voter() {
        let mut e = voter(2, 3);
        let out = e.start_looking(0x1_0000_0005, 1);
        let s = sends(&out);
        assert_eq!(s.iter().map(|(to, _)| *to).collect::<Vec<_>>(), vec![1, 3]);
        assert!(s.iter().all(|(_, n)| *n == note(Looking, 2, 0x1_0000_0005, 1, 1)));
        assert_eq!(e.logical_clock(), 1);
        assert!(!e.is_finalizing(), "our own vote alone is not a quorum of 3");
    }

    #[test]
    fn better_vote_in_same_round_is_adopted_and_rebroadcast() {
        let mut e = voter(1, 3);
        e.start_looking(0x1_0000_0005, 1);
        let out = e.on_notification(3, note(Looking, 3, 0x1_0000_0005, 1, 1));
        assert_eq!(e.proposal().leader, 3);
        assert_eq!(sends(&out).len(), 2, "re-sent to 2 and 3");
        // Votes from 1 (looped back) and 3 for 3: a quorum of 3, so the finalize wait begins.
        assert!(e.is_finalizing());
        assert!(elected(&e.on_tick(1)).is_none());
        let (vote, state) = elected(&e.on_tick(2)).expect("decided after finalizeWait");
        assert_eq!((vote.leader, vote.election_epoch, state), (3, 1, Following));
        assert_eq!(e.peer_state(), Following);
    }

    #[test]
    fn worse_vote_is_recorded_but_not_adopted() {
        let mut e = voter(3, 3);
        e.start_looking(0x1_0000_0005, 1);
        let out = e.on_notification(1, note(Looking, 1, 0x1_0000_0005, 1, 1));
        assert!(out.is_empty());
        assert_eq!(e.proposal().leader, 3);
        assert!(!e.is_finalizing());
    }

    #[test]
    fn higher_round_is_joined_with_the_better_of_its_vote_and_ours() {
        let mut e = voter(3, 3);
        e.start_looking(0x1_0000_0005, 1);
        // Round 5 proposes 1, which is worse than our own candidacy: we join round 5 for 3.
        let out = e.on_notification(1, note(Looking, 1, 0x1_0000_0005, 5, 1));
        assert_eq!(e.logical_clock(), 5);
        assert_eq!(e.proposal().leader, 3);
        assert!(sends(&out).iter().all(|(_, n)| n.election_epoch == 5 && n.leader == 3));
        // A server in an older round gets our current proposal back.
        let out = e.on_notification(2, note(Looking, 2, 0x1_0000_0005, 4, 1));
        assert_eq!(sends(&out), vec![(2, note(Looking, 3, 0x1_0000_0005, 5, 1))]);
    }

    #[test]
    fn a_better_notification_during_finalize_wait_reopens_the_election() {
        let mut e = voter(1, 5);
        e.start_looking(0x1_0000_0005, 1);
        e.on_notification(2, note(Looking, 3, 0x1_0000_0005, 1, 1));
        e.on_notification(3, note(Looking, 3, 0x1_0000_0005, 1, 1));
        assert!(e.is_finalizing(), "1, 2 and 3 vote for 3");
        // A worse vote is dropped and restarts the wait.
        e.on_tick(1);
        e.on_notification(2, note(Looking, 2, 0x1_0000_0005, 1, 1));
        assert!(elected(&e.on_tick(2)).is_none(), "the wait restarted at tick 1");
        // A better one ends it.
        let out = e.on_notification(5, note(Looking, 5, 0x1_0000_0005, 1, 1));
        assert!(!e.is_finalizing());
        assert_eq!(e.proposal().leader, 5);
        assert_eq!(sends(&out).len(), 4);
        assert!(elected(&e.on_tick(10)).is_none());
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let mut e = voter(1, 3);
        e.start_looking(0x1_0000_0005, 1);
        let mut resent_at = Vec::new();
        for now in 1..=60 {
            if !sends(&e.on_tick(now)).is_empty() {
                resent_at.push(now);
            }
        }
        // Waits of 2, 4, 8, 16, 16, ... ticks.
        assert_eq!(resent_at, vec![2, 6, 14, 30, 46]);
    }

    #[test]
    fn settled_servers_answer_looking_voters_with_their_current_vote() {
        let mut e = voter(3, 3);
        e.start_looking(0x1_0000_0005, 1);
        e.on_notification(1, note(Looking, 3, 0x1_0000_0005, 1, 1));
        let (_, state) = elected(&e.on_tick(2)).unwrap();
        assert_eq!(state, Leading);
        let out = e.on_notification(2, note(Looking, 2, 0x1_0000_0005, 1, 1));
        assert_eq!(sends(&out), vec![(2, note(Leading, 3, 0x1_0000_0005, 1, 1))]);
        // Not answered: settled senders.
        assert!(e.on_notification(1, note(Following, 3, 0x1_0000_0005, 1, 1)).is_empty());
        // After the new epoch is established, the answer carries it.
        e.update_election_vote(2);
        let out = e.on_notification(2, note(Looking, 2, 0x1_0000_0005, 1, 1));
        assert_eq!(sends(&out)[0].1.peer_epoch, 2);
    }

    #[test]
    fn joining_server_follows_an_established_leader() {
        // Server 4 of 5 starts; 1..3 are settled under 3 in round 1.
        let mut e = voter(4, 5);
        e.start_looking(0x1_0000_0005, 1);
        assert!(elected(&e.on_notification(1, note(Following, 3, 0x1_0000_0005, 1, 1))).is_none());
        assert!(elected(&e.on_notification(2, note(Following, 3, 0x1_0000_0005, 1, 1))).is_none());
        let (vote, state) = elected(&e.on_notification(3, note(Leading, 3, 0x1_0000_0005, 1, 1))).unwrap();
        assert_eq!((vote.leader, state), (3, Following));
    }

    #[test]
    fn a_newer_round_forgets_the_votes_of_the_older_one() {
        let mut e = voter(2, 5);
        e.start_looking(0x1_0000_0005, 1);
        // Round 1: 1 and 5 say they follow 3 in epoch 1.
        e.on_notification(1, note(Following, 3, 0x1_0000_0005, 1, 1));
        e.on_notification(5, note(Following, 3, 0x1_0000_0005, 1, 1));
        // Round 2 begins (4 proposes itself); then 3 says it leads, in round 2 and epoch 2.
        e.on_notification(4, note(Looking, 4, 0x1_0000_0005, 2, 1));
        assert_eq!((e.logical_clock(), e.proposal().leader), (2, 4));
        let out = e.on_notification(3, note(Leading, 3, 0x1_0000_0005, 2, 2));
        // Had round 1's votes stayed in recvset they would count (they match by sid alone), and
        // outofelection does not match them either (another epoch): no decision.
        assert!(elected(&out).is_none());
    }

    #[test]
    fn followers_without_the_leaders_own_word_are_not_enough() {
        let mut e = voter(5, 5);
        e.start_looking(0x1_0000_0005, 1);
        for from in 1..=4 {
            let out = e.on_notification(from, note(Following, 3, 0x1_0000_0005, 7, 1));
            assert!(elected(&out).is_none(), "checkLeader: 3 never said it leads");
        }
    }

    #[test]
    fn out_of_election_votes_compare_leader_and_peer_epoch_only() {
        // Followers report different zxids and rounds (ZOOKEEPER-1732) but the same leader and epoch.
        let mut e = voter(5, 5);
        e.start_looking(0x2_0000_0001, 2);
        e.on_notification(1, note(Following, 3, 0x1_0000_0001, 3, 2));
        e.on_notification(2, note(Following, 3, 0x1_0000_0009, 4, 2));
        let (vote, state) = elected(&e.on_notification(3, note(Leading, 3, 0x2_0000_0000, 4, 2))).unwrap();
        assert_eq!((vote.leader, vote.election_epoch, state), (3, 4, Following));
        assert_eq!(e.logical_clock(), 4, "the round is taken from the leader's notification");
    }

    #[test]
    fn observers_answer_nothing_of_their_own_and_follow_the_voters() {
        let mut o = Election::new(9, set(&[1, 2, 3]), set(&[9]), 0x1_0000_0005, 1, TIMING);
        assert!(o.is_observer());
        let out = o.start_looking(0x1_0000_0005, 1);
        assert_eq!(sends(&out).len(), 3, "to voters only, no loopback");
        assert!(sends(&out).iter().all(|(_, n)| n.leader == OBSERVER_INIT_ID && n.peer_epoch == i64::MIN));
        o.on_notification(1, note(Following, 2, 0x1_0000_0005, 1, 1));
        let (vote, state) = elected(&o.on_notification(2, note(Leading, 2, 0x1_0000_0005, 1, 1))).unwrap();
        assert_eq!((vote.leader, state), (2, Observing));
    }

    #[test]
    fn voters_answer_observers_at_once_even_while_looking() {
        let mut e = voter(2, 3);
        e.start_looking(0x1_0000_0005, 1);
        let out = e.on_notification(9, note(Looking, OBSERVER_INIT_ID, i64::MIN, 1, i64::MIN));
        // Our current vote (at first for ourselves, from startLeaderElection) and our round.
        assert_eq!(sends(&out), vec![(9, note(Looking, 2, 0x1_0000_0005, 1, 1))]);
        assert_eq!(e.proposal().leader, 2, "not counted");
    }

    #[test]
    fn votes_for_non_voters_and_zxid_minus_one_are_ignored() {
        let mut e = Election::new(1, set(&[1, 2, 3]), set(&[9]), 0x1_0000_0005, 1, TIMING);
        e.start_looking(0x1_0000_0005, 1);
        assert!(e.on_notification(2, note(Looking, 9, 0x7_0000_0000, 1, 7)).is_empty());
        assert!(e.on_notification(2, note(Looking, 2, -1, 1, 7)).is_empty());
        assert_eq!(e.proposal().leader, 1);
    }

    #[test]
    fn a_server_that_others_follow_in_its_own_round_leads() {
        let mut e = voter(3, 3);
        e.start_looking(0x1_0000_0005, 1);
        let (_, state) = elected(&e.on_notification(1, note(Following, 3, 0x1_0000_0005, 1, 1))).unwrap();
        assert_eq!(state, Leading, "with our own loopback vote and 1's, a quorum names us in our round");
    }
}
