//! Identifiers: zxids (`epoch << 32 | counter`), session ids, server ids.

pub type Zxid = i64;
pub type SessionId = i64;
pub type ServerId = u64;

pub fn zxid(epoch: u32, counter: u32) -> Zxid {
    ((epoch as i64) << 32) | counter as i64
}

pub fn epoch_of(z: Zxid) -> u32 {
    (z >> 32) as u32
}

pub fn counter_of(z: Zxid) -> u32 {
    z as u32
}

/// The first session id a server hands out (SessionTrackerImpl.initializeNextSessionId):
/// `((elapsedMillis << 24) >>> 8) | (serverId << 56)`.
pub fn initial_session_id(server_id: ServerId, elapsed_millis: u64) -> SessionId {
    let base = ((elapsed_millis << 24) >> 8) as i64;
    base | ((server_id as i64) << 56)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxid_parts() {
        let z = zxid(3, 7);
        assert_eq!(z, 0x3_0000_0007);
        assert_eq!((epoch_of(z), counter_of(z)), (3, 7));
    }

    #[test]
    fn session_ids_carry_the_server_id_in_the_high_byte() {
        let s = initial_session_id(5, 1_700_000_000_000);
        assert_eq!((s as u64) >> 56, 5);
    }
}
