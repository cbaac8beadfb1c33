//! Records of `module org.apache.zookeeper.server.quorum` (zookeeper.jute). Quorum packets are
//! written back to back on the quorum port with no length prefix.

use super::data::Id;
use crate::record;

record! { pub struct LearnerInfo { pub server_id: i64, pub protocol_version: i32, pub config_version: i64 } }
record! {
    pub struct QuorumPacket {
        pub kind: i32,
        pub zxid: i64,
        pub data: Option<Vec<u8>>,
        pub auth_info: Vec<Id>,
    }
}
