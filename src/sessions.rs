//! Session expiry (ZooKeeper's `SessionTrackerImpl`/`ExpiryQueue`) and session passwords.
//!
//! Time is handed in as milliseconds by the caller. Deadlines are rounded up to the next multiple
//! of tickTime, so sessions expire in buckets, one scan per tick.

use crate::ids::SessionId;
use crate::limits::SESSION_PASSWD_LEN;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The secret ZooKeeper mixes into every session password (`ZooKeeperServer.superSecret`).
const SUPER_SECRET: i64 = 0xB341_5C00;

/// The password ZooKeeper gives a session: `new Random(sessionId ^ superSecret).nextBytes(16)`.
/// Matching java.util.Random exactly lets clients reconnect across Rookery and ZooKeeper servers.
pub fn password(session: SessionId) -> [u8; SESSION_PASSWD_LEN] {
    const MULT: u64 = 0x5_DEEC_E66D;
    const MASK: u64 = (1 << 48) - 1;
    let mut seed = ((session ^ SUPER_SECRET) as u64 ^ MULT) & MASK;
    let mut out = [0u8; SESSION_PASSWD_LEN];
    let mut i = 0;
    while i < out.len() {
        seed = (seed.wrapping_mul(MULT).wrapping_add(0xB)) & MASK;
        let mut rnd = (seed >> 16) as u32;
        for _ in 0..4.min(out.len() - i) {
            out[i] = rnd as u8;
            rnd >>= 8;
            i += 1;
        }
    }
    out
}

#[derive(Debug, Clone)]
struct Tracked {
    timeout_ms: u32,
    deadline_ms: u64,
    closing: bool,
}

#[derive(Debug)]
pub struct SessionTracker {
    tick_ms: u64,
    sessions: HashMap<SessionId, Tracked>,
    buckets: BTreeMap<u64, HashSet<SessionId>>,
    next_id: SessionId,
}

impl SessionTracker {
    pub fn new(tick_ms: u32, first_id: SessionId) -> SessionTracker {
        assert!(tick_ms > 0);
        SessionTracker {
            tick_ms: tick_ms as u64,
            sessions: HashMap::new(),
            buckets: BTreeMap::new(),
            next_id: first_id,
        }
    }

    /// The next session id; ids whose value is the container marker are skipped.
    pub fn next_session_id(&mut self) -> SessionId {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != crate::codes::owner::CONTAINER && id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    fn bucket_of(&self, t: u64) -> u64 {
        (t / self.tick_ms + 1) * self.tick_ms
    }

    /// Starts tracking a session (new, or recovered from the tree).
    pub fn add(&mut self, id: SessionId, timeout_ms: u32, now_ms: u64) {
        self.remove(id);
        let deadline = self.bucket_of(now_ms + timeout_ms as u64);
        self.sessions.insert(id, Tracked { timeout_ms, deadline_ms: deadline, closing: false });
        self.buckets.entry(deadline).or_default().insert(id);
    }

    /// Pushes the deadline out on activity; false if the session is unknown or closing.
    pub fn touch(&mut self, id: SessionId, now_ms: u64) -> bool {
        let Some(s) = self.sessions.get(&id) else {
            return false;
        };
        if s.closing {
            return false;
        }
        let deadline = self.bucket_of(now_ms + s.timeout_ms as u64);
        let old = s.deadline_ms;
        if deadline <= old {
            return true;
        }
        if let Some(b) = self.buckets.get_mut(&old) {
            b.remove(&id);
            if b.is_empty() {
                self.buckets.remove(&old);
            }
        }
        self.buckets.entry(deadline).or_default().insert(id);
        self.sessions.get_mut(&id).expect("present").deadline_ms = deadline;
        true
    }

    pub fn is_live(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.closing)
    }

    pub fn timeout_of(&self, id: SessionId) -> Option<u32> {
        self.sessions.get(&id).map(|s| s.timeout_ms)
    }

    /// Marks a session as closing: it no longer accepts requests or touches.
    pub fn set_closing(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
    }

    pub fn remove(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.remove(&id) {
            if let Some(b) = self.buckets.get_mut(&s.deadline_ms) {
                b.remove(&id);
                if b.is_empty() {
                    self.buckets.remove(&s.deadline_ms);
                }
            }
        }
    }

    /// Sessions whose deadline has passed; they are marked closing and must be closed by a
    /// closeSession txn. Sorted, so every run of the same inputs closes them in the same order.
    pub fn expire(&mut self, now_ms: u64) -> Vec<SessionId> {
        let mut out = Vec::new();
        while let Some((&deadline, _)) = self.buckets.first_key_value() {
            if deadline > now_ms {
                break;
            }
            let ids = self.buckets.remove(&deadline).expect("first key exists");
            for id in ids {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if !s.closing {
                        s.closing = true;
                        out.push(id);
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Sessions by expiry deadline, earliest first, each group sorted: the `dump` four-letter
    /// word lists them so.
    pub fn by_deadline(&self) -> Vec<(u64, Vec<SessionId>)> {
        self.buckets
            .iter()
            .map(|(deadline, ids)| {
                let mut ids: Vec<SessionId> = ids.iter().copied().collect();
                ids.sort();
                (*deadline, ids)
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_matches_java_random() {
        // `new java.util.Random(id ^ 0xB3415C00L).nextBytes(new byte[16])`, printed by Java 17.
        let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(hex(password(0)), "f22acd4a97e69d6d20a49bb638eadb38");
        assert_eq!(hex(password(1)), "054cc74a37327db215e702e20c73f005");
        // Random keeps only the low 48 bits of its seed.
        assert_eq!(hex(password(0x0500_0000_0000_0001)), "054cc74a37327db215e702e20c73f005");
    }

    #[test]
    fn expiry_in_tick_buckets() {
        let mut t = SessionTracker::new(100, 1);
        t.add(1, 1000, 0);
        t.add(2, 1000, 0);
        assert!(t.expire(1050).is_empty());
        assert!(t.touch(2, 500));
        assert_eq!(t.expire(1100), [1]);
        assert!(!t.touch(1, 1100), "an expiring session cannot be revived");
        assert_eq!(t.expire(1600), [2]);
    }

    #[test]
    fn ids_skip_the_container_marker() {
        let mut t = SessionTracker::new(100, i64::MIN);
        assert_eq!(t.next_session_id(), i64::MIN + 1);
    }
}
