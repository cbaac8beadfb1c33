//! Quorum packets (ZooKeeper's `Leader` constants) and their payloads.
//!
//! ```text
//! QuorumPacket { int type; long zxid; buffer data; vector<Id> authinfo }   no length prefix
//!
//! FOLLOWERINFO / OBSERVERINFO  zxid = acceptedEpoch << 32   data = LearnerInfo{sid, 0x10000, configVersion}
//! LEADERINFO                   zxid = newEpoch << 32        data = int 0x10000
//! ACKEPOCH                     zxid = lastLoggedZxid        data = int currentEpoch (-1: already accepted)
//! DIFF / TRUNC / SNAP          zxid = leader's last zxid / truncate-to / snapshot zxid
//! NEWLEADER                    zxid = newEpoch << 32        data = quorum config text
//! UPTODATE                     zxid = -1
//! PROPOSAL                     zxid                         data = TxnHeader + txn [+ TxnDigest]
//! ACK / COMMIT                 zxid
//! PING  leader → learner       data = empty;  learner → leader: (long session, int timeout)*
//! REQUEST learner → leader     zxid = -1  data = long session, int cxid, int type, request body
//! REVALIDATE                   learner → leader: long session, int timeout
//!                              leader → learner: long session, boolean valid
//! SYNC  leader → learner       zxid = the synced zxid (a client `sync` was answered)
//! ```

use crate::ids::{SessionId, Zxid};
use crate::jute::{JuteWrite, Reader, Result};

/// The protocol version leader and learners speak (ZAB 1.0), in LEADERINFO and LearnerInfo.
pub const PROTOCOL_VERSION: i32 = 0x10000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum PacketType {
    Request = 1,
    Proposal = 2,
    Ack = 3,
    Commit = 4,
    Ping = 5,
    Revalidate = 6,
    Sync = 7,
    Inform = 8,
    CommitAndActivate = 9,
    NewLeader = 10,
    FollowerInfo = 11,
    UpToDate = 12,
    Diff = 13,
    Trunc = 14,
    Snap = 15,
    ObserverInfo = 16,
    LeaderInfo = 17,
    AckEpoch = 18,
    InformAndActivate = 19,
}

impl PacketType {
    pub fn from_i32(t: i32) -> Option<PacketType> {
        use PacketType::*;
        Some(match t {
            1 => Request,
            2 => Proposal,
            3 => Ack,
            4 => Commit,
            5 => Ping,
            6 => Revalidate,
            7 => Sync,
            8 => Inform,
            9 => CommitAndActivate,
            10 => NewLeader,
            11 => FollowerInfo,
            12 => UpToDate,
            13 => Diff,
            14 => Trunc,
            15 => Snap,
            16 => ObserverInfo,
            17 => LeaderInfo,
            18 => AckEpoch,
            19 => InformAndActivate,
            _ => return None,
        })
    }
}

/// A forwarded client request (REQUEST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    pub session: SessionId,
    pub cxid: i32,
    pub op: i32,
    pub body: Vec<u8>,
}

impl Forwarded {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(16 + self.body.len());
        b.put_i64(self.session);
        b.put_i32(self.cxid);
        b.put_i32(self.op);
        b.extend_from_slice(&self.body);
        b
    }

    pub fn decode(data: &[u8]) -> Result<Forwarded> {
        let mut r = Reader::new(data);
        Ok(Forwarded { session: r.read_i64()?, cxid: r.read_i32()?, op: r.read_i32()?, body: r.rest().to_vec() })
    }
}

/// A learner's session touches, carried by its PING reply.
pub fn encode_touches(touches: &[(SessionId, i32)]) -> Vec<u8> {
    let mut b = Vec::with_capacity(touches.len() * 12);
    for (s, t) in touches {
        b.put_i64(*s);
        b.put_i32(*t);
    }
    b
}

pub fn decode_touches(data: &[u8]) -> Result<Vec<(SessionId, i32)>> {
    let mut r = Reader::new(data);
    let mut out = Vec::with_capacity(data.len() / 12);
    while !r.is_empty() {
        out.push((r.read_i64()?, r.read_i32()?));
    }
    Ok(out)
}

/// REVALIDATE question (learner → leader).
pub fn encode_revalidate(session: SessionId, timeout: i32) -> Vec<u8> {
    encode_touches(&[(session, timeout)])
}

/// REVALIDATE answer (leader → learner).
pub fn encode_revalidate_answer(session: SessionId, valid: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(9);
    b.put_i64(session);
    b.put_bool(valid);
    b
}

pub fn decode_revalidate_answer(data: &[u8]) -> Result<(SessionId, bool)> {
    let mut r = Reader::new(data);
    Ok((r.read_i64()?, r.read_bool()?))
}

/// An int payload (LEADERINFO's protocol version, ACKEPOCH's epoch).
pub fn encode_int(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

pub fn decode_int(data: &[u8]) -> Result<i32> {
    Reader::new(data).read_i32()
}

/// The zxid that starts an epoch.
pub fn epoch_zxid(epoch: u32) -> Zxid {
    crate::ids::zxid(epoch, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let f = Forwarded { session: 0x0100_0000_0000_0001, cxid: 7, op: 1, body: vec![1, 2, 3] };
        assert_eq!(Forwarded::decode(&f.encode()).unwrap(), f);
        let t = vec![(1, 4000), (2, 6000)];
        assert_eq!(decode_touches(&encode_touches(&t)).unwrap(), t);
        assert_eq!(decode_revalidate_answer(&encode_revalidate_answer(9, true)).unwrap(), (9, true));
        for t in 1..=19 {
            assert_eq!(PacketType::from_i32(t).map(|p| p as i32), Some(t));
        }
        assert_eq!(PacketType::from_i32(0), None);
    }
}
