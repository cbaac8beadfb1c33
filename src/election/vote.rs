//! Votes and the order between candidates (`Vote.java` and `FastLeaderElection.totalOrderPredicate`).
//!
//! A candidate is the triple (sid, zxid, peerEpoch) a server proposes as leader. Candidates are
//! ordered by peerEpoch, then zxid, then sid, all compared as Java `long`s: this is the whole of
//! ZooKeeper's rule, and comparing anything else (the election round, or the epoch inside the zxid)
//! is the ZOOKEEPER-1818 bug.

use crate::ids::{ServerId, Zxid};

/// A server's role, as `QuorumPeer.ServerState`; the discriminant is the number on the wire
/// (`ServerState.ordinal()` in a notification's first int).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerState {
    Looking = 0,
    Following = 1,
    Leading = 2,
    Observing = 3,
}

impl PeerState {
    /// The state for a wire number, `None` for numbers ZooKeeper does not know (its receiver
    /// drops such a notification).
    pub fn from_wire(n: i32) -> Option<PeerState> {
        match n {
            0 => Some(PeerState::Looking),
            1 => Some(PeerState::Following),
            2 => Some(PeerState::Leading),
            3 => Some(PeerState::Observing),
            _ => None,
        }
    }

    pub fn to_wire(self) -> i32 {
        self as i32
    }

    /// True for FOLLOWING, LEADING and OBSERVING: the server has finished an election.
    pub fn is_settled(self) -> bool {
        self != PeerState::Looking
    }
}

/// A proposed leader: the three fields `totalOrderPredicate` compares, spelled as in
/// `FastLeaderElection` (`proposedLeader`, `proposedZxid`, `proposedEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    /// The candidate's sid. An observer's own "candidate" is `OBSERVER_INIT_ID` (never a voter).
    pub leader: ServerId,
    /// The candidate's last logged zxid.
    pub zxid: Zxid,
    /// The candidate's current epoch (`currentEpoch` file), not the epoch inside `zxid`.
    pub peer_epoch: i64,
}

/// The sid an observer starts its election with (`getInitId` returns `Long.MIN_VALUE` for a
/// server that is not a voting member), as the bits of a Java long.
pub const OBSERVER_INIT_ID: ServerId = i64::MIN as u64;
/// The zxid and peer epoch an observer starts with (`getInitLastLoggedZxid`, `getPeerEpoch`).
pub const OBSERVER_INIT_ZXID: Zxid = i64::MIN;
pub const OBSERVER_INIT_EPOCH: i64 = i64::MIN;

/// Whether candidate `new` beats candidate `cur` (`totalOrderPredicate`): a candidate of weight 0
/// never does; otherwise the higher peer epoch wins, then the higher zxid, then the higher sid.
///
/// `new_weight` is the candidate's weight in the quorum verifier. Majority quorums give every
/// voter weight 1; callers pass 0 for a server that is not a voter (an observer), which is what
/// `lookForLeader`'s `validVoter` check achieves in ZooKeeper.
pub fn supersedes(new: &Proposal, cur: &Proposal, new_weight: u64) -> bool {
    if new_weight == 0 {
        return false;
    }
    // Sids are Java longs; compare them as such, so that an observer's Long.MIN_VALUE stays lowest.
    let new_key = (new.peer_epoch, new.zxid, new.leader as i64);
    let cur_key = (cur.peer_epoch, cur.zxid, cur.leader as i64);
    new_key > cur_key
}

/// One server's vote as FastLeaderElection keeps it in its vote tables (`Vote.java`).
///
/// `version` is the notification format the vote arrived in, or 0 for votes built locally;
/// ZooKeeper uses it in `matches` (its `Vote.equals`), so it is kept here exactly as there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Vote {
    pub version: i32,
    pub leader: ServerId,
    pub zxid: Zxid,
    /// The election round (`logicalclock`) the vote was cast in.
    pub election_epoch: i64,
    pub peer_epoch: i64,
    /// The voter's state when it sent the vote.
    pub state: PeerState,
}

impl Vote {
    /// The candidate this vote is for.
    pub fn proposal(&self) -> Proposal {
        Proposal { leader: self.leader, zxid: self.zxid, peer_epoch: self.peer_epoch }
    }

    /// ZooKeeper's `Vote.equals`, which decides whether two votes count towards the same quorum.
    ///
    /// If either vote is from a LOOKING server, the candidate and the round must all agree. Votes
    /// from servers that finished their election compare only the leader's sid and peer epoch, or
    /// only the sid when exactly one of them came in a pre-3.4.6 (version 0) form: followers report
    /// stale zxids and rounds after an election (ZOOKEEPER-1732), and old servers a stale epoch.
    pub fn matches(&self, other: &Vote) -> bool {
        if self.state == PeerState::Looking || other.state == PeerState::Looking {
            return self.leader == other.leader
                && self.zxid == other.zxid
                && self.election_epoch == other.election_epoch
                && self.peer_epoch == other.peer_epoch;
        }
        if (self.version > 0) != (other.version > 0) {
            self.leader == other.leader
        } else {
            self.leader == other.leader && self.peer_epoch == other.peer_epoch
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(leader: ServerId, zxid: Zxid, peer_epoch: i64) -> Proposal {
        Proposal { leader, zxid, peer_epoch }
    }

    /// The rule written out the long way, as in ZooKeeper's three-case comment.
    fn naive_supersedes(new: &Proposal, cur: &Proposal, new_weight: u64) -> bool {
        if new_weight == 0 {
            return false;
        }
        if new.peer_epoch != cur.peer_epoch {
            return new.peer_epoch > cur.peer_epoch;
        }
        if new.zxid != cur.zxid {
            return new.zxid > cur.zxid;
        }
        (new.leader as i64) > (cur.leader as i64)
    }

    #[test]
    fn supersedes_table() {
        let z = 0x0000_0005_0000_0007;
        let cases: &[(Proposal, Proposal, u64, bool, &str)] = &[
            (p(1, z, 6), p(9, z + 100, 5), 1, true, "higher peer epoch wins over zxid and sid"),
            (p(9, z + 100, 5), p(1, z, 6), 1, false, "lower peer epoch loses"),
            (p(1, z + 1, 5), p(9, z, 5), 1, true, "same epoch: higher zxid wins over sid"),
            (p(9, z, 5), p(1, z + 1, 5), 1, false, "same epoch: lower zxid loses"),
            (p(3, z, 5), p(2, z, 5), 1, true, "same epoch and zxid: higher sid wins"),
            (p(2, z, 5), p(3, z, 5), 1, false, "same epoch and zxid: lower sid loses"),
            (p(3, z, 5), p(3, z, 5), 1, false, "a candidate does not supersede itself"),
            (p(3, z, 9), p(1, z, 5), 0, false, "weight 0 never wins"),
            // ZOOKEEPER-1818: the epoch that counts is peerEpoch, not the one inside the zxid.
            (p(1, 0x0000_0004_0000_0009, 6), p(2, z, 5), 1, true, "peer epoch beats the zxid's epoch"),
            (
                p(1, 0, 0),
                p(OBSERVER_INIT_ID, OBSERVER_INIT_ZXID, OBSERVER_INIT_EPOCH),
                1,
                true,
                "anyone beats an observer's start",
            ),
            (p(1, -1, 0), p(2, 0, 0), 1, false, "zxid -1 is lower than 0 (signed)"),
        ];
        for (new, cur, w, want, why) in cases {
            assert_eq!(supersedes(new, cur, *w), *want, "{why}: {new:?} vs {cur:?}");
            assert_eq!(naive_supersedes(new, cur, *w), *want, "naive twin: {why}");
        }
    }

    /// A tiny xorshift64*, seeded, so failures replay.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// Values drawn from a small set so that ties happen often, plus the extremes.
        fn pick(&mut self) -> i64 {
            const SET: [i64; 8] = [i64::MIN, -1, 0, 1, 2, 0x1_0000_0000, 0x1_0000_0001, i64::MAX];
            SET[(self.next() % SET.len() as u64) as usize]
        }
    }

    #[test]
    fn supersedes_matches_naive_twin_and_is_a_strict_order() {
        let seed = 0x5eed_e1ec_7104_u64;
        let mut rng = Rng(seed);
        for i in 0..200_000 {
            let a = p(rng.pick() as u64, rng.pick(), rng.pick());
            let b = p(rng.pick() as u64, rng.pick(), rng.pick());
            let c = p(rng.pick() as u64, rng.pick(), rng.pick());
            let w = rng.next() % 3;
            let why = format!("seed {seed:#x} case {i}: {a:?} {b:?} w={w}");
            assert_eq!(supersedes(&a, &b, w), naive_supersedes(&a, &b, w), "{why}");
            // With weight 1 it is a strict total order on distinct triples.
            assert!(!(supersedes(&a, &b, 1) && supersedes(&b, &a, 1)), "asymmetric: {why}");
            if a != b {
                assert!(supersedes(&a, &b, 1) || supersedes(&b, &a, 1), "total: {why}");
            }
            if supersedes(&a, &b, 1) && supersedes(&b, &c, 1) {
                assert!(supersedes(&a, &c, 1), "transitive: {why} {c:?}");
            }
        }
    }

    fn v(version: i32, leader: ServerId, zxid: Zxid, round: i64, epoch: i64, state: PeerState) -> Vote {
        Vote { version, leader, zxid, election_epoch: round, peer_epoch: epoch, state }
    }

    #[test]
    fn vote_matching_follows_vote_equals() {
        use PeerState::*;
        let looking = v(0, 3, 7, 2, 5, Looking);
        assert!(looking.matches(&v(2, 3, 7, 2, 5, Following)), "LOOKING: all four fields agree");
        assert!(!looking.matches(&v(0, 3, 8, 2, 5, Following)), "LOOKING: zxid differs");
        assert!(!looking.matches(&v(0, 3, 7, 1, 5, Leading)), "LOOKING: round differs");
        assert!(!looking.matches(&v(0, 3, 7, 2, 4, Looking)), "LOOKING: epoch differs");
        // Both settled, same format generation: sid and peer epoch only (ZOOKEEPER-1732).
        assert!(v(2, 3, 7, 2, 5, Following).matches(&v(2, 3, 99, 9, 5, Leading)));
        assert!(!v(2, 3, 7, 2, 5, Following).matches(&v(2, 3, 7, 2, 6, Leading)));
        assert!(v(0, 3, 7, 2, 5, Following).matches(&v(0, 3, 1, 1, 5, Following)));
        // Exactly one is version 0: sid only.
        assert!(v(2, 3, 7, 2, 5, Following).matches(&v(0, 3, 1, 1, 4, Leading)));
        assert!(!v(2, 3, 7, 2, 5, Following).matches(&v(0, 2, 7, 2, 5, Leading)));
    }

    #[test]
    fn states_have_zookeepers_wire_numbers() {
        for (n, s) in
            [(0, PeerState::Looking), (1, PeerState::Following), (2, PeerState::Leading), (3, PeerState::Observing)]
        {
            assert_eq!(s.to_wire(), n);
            assert_eq!(PeerState::from_wire(n), Some(s));
        }
        assert_eq!(PeerState::from_wire(4), None);
        assert_eq!(PeerState::from_wire(-1), None);
    }
}
