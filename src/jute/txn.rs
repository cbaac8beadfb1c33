//! Records of `module org.apache.zookeeper.txn` (zookeeper.jute): what the log stores and what
//! every server applies. A txn is a `TxnHeader`, then the record its `kind` names, then (for
//! successful writes, when digests are on) a `TxnDigest`.

use super::data::Acl;
use crate::record;

record! {
    /// 32 bytes: who asked (session, cxid), the zxid, the leader's wall clock and the op type.
    pub struct TxnHeader {
        pub client_id: i64,
        pub cxid: i32,
        pub zxid: i64,
        pub time: i64,
        pub kind: i32,
    }
}
record! { pub struct TxnDigest { pub version: i32, pub tree_digest: i64 } }
record! {
    pub struct CreateTxnV0 {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
    }
}
record! {
    pub struct CreateTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub ephemeral: bool,
        /// The parent's cversion after this create.
        pub parent_cversion: i32,
    }
}
record! {
    pub struct CreateTtlTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
        pub ttl: i64,
    }
}
record! {
    pub struct CreateContainerTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub parent_cversion: i32,
    }
}
record! { pub struct DeleteTxn { pub path: String } }
record! {
    pub struct SetDataTxn {
        pub path: String,
        pub data: Option<Vec<u8>>,
        /// The node's version after this write.
        pub version: i32,
    }
}
record! { pub struct CheckVersionTxn { pub path: String, pub version: i32 } }
record! { pub struct SetAclTxn { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct CreateSessionTxn { pub time_out: i32 } }
record! { pub struct CloseSessionTxn { pub paths_to_delete: Vec<String> } }
record! { pub struct ErrorTxn { pub err: i32 } }
record! { pub struct Txn { pub kind: i32, pub data: Option<Vec<u8>> } }
record! { pub struct MultiTxn { pub txns: Vec<Txn> } }
