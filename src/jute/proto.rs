//! Records of `module org.apache.zookeeper.proto` (zookeeper.jute): the client protocol.

use super::data::{Acl, ClientInfo, Stat};
use super::{JuteWrite, Reader, Record, Result};
use crate::record;

/// The first frame a client sends. The trailing `readOnly` byte is absent from clients ≤ 3.3
/// (44-byte request); `read_only` is `None` then, and the reply omits the byte too.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: i64,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Option<Vec<u8>>,
    pub read_only: Option<bool>,
}

impl Record for ConnectRequest {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_i32(self.protocol_version);
        out.put_i64(self.last_zxid_seen);
        out.put_i32(self.time_out);
        out.put_i64(self.session_id);
        out.put_buffer(self.passwd.as_deref());
        if let Some(ro) = self.read_only {
            out.put_bool(ro);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ConnectRequest {
            protocol_version: r.read_i32()?,
            last_zxid_seen: r.read_i64()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: if r.is_empty() { None } else { Some(r.read_bool()?) },
        })
    }
}

/// The server's answer to `ConnectRequest`; `read_only` is written only if the request had it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    pub time_out: i32,
    pub session_id: i64,
    pub passwd: Option<Vec<u8>>,
    pub read_only: Option<bool>,
}

impl Record for ConnectResponse {
    fn write(&self, out: &mut Vec<u8>) {
        out.put_i32(self.protocol_version);
        out.put_i32(self.time_out);
        out.put_i64(self.session_id);
        out.put_buffer(self.passwd.as_deref());
        if let Some(ro) = self.read_only {
            out.put_bool(ro);
        }
    }
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ConnectResponse {
            protocol_version: r.read_i32()?,
            time_out: r.read_i32()?,
            session_id: r.read_i64()?,
            passwd: r.read_buffer()?,
            read_only: if r.is_empty() { None } else { Some(r.read_bool()?) },
        })
    }
}

record! { pub struct RequestHeader { pub xid: i32, pub op: i32 } }
record! { pub struct ReplyHeader { pub xid: i32, pub zxid: i64, pub err: i32 } }
record! {
    pub struct SetWatches {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
    }
}
record! {
    pub struct SetWatches2 {
        pub relative_zxid: i64,
        pub data_watches: Vec<String>,
        pub exist_watches: Vec<String>,
        pub child_watches: Vec<String>,
        pub persistent_watches: Vec<String>,
        pub persistent_recursive_watches: Vec<String>,
    }
}
record! { pub struct AuthPacket { pub kind: i32, pub scheme: String, pub auth: Option<Vec<u8>> } }
record! { pub struct MultiHeader { pub op: i32, pub done: bool, pub err: i32 } }
record! { pub struct GetDataRequest { pub path: String, pub watch: bool } }
record! { pub struct SetDataRequest { pub path: String, pub data: Option<Vec<u8>>, pub version: i32 } }
record! {
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}
record! { pub struct SetDataResponse { pub stat: Stat } }
record! { pub struct GetSaslRequest { pub token: Option<Vec<u8>> } }
record! { pub struct SetSaslResponse { pub token: Option<Vec<u8>> } }
record! {
    pub struct CreateRequest {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub flags: i32,
    }
}
record! {
    pub struct CreateTtlRequest {
        pub path: String,
        pub data: Option<Vec<u8>>,
        pub acl: Vec<Acl>,
        pub flags: i32,
        pub ttl: i64,
    }
}
record! { pub struct DeleteRequest { pub path: String, pub version: i32 } }
record! { pub struct GetChildrenRequest { pub path: String, pub watch: bool } }
record! { pub struct GetAllChildrenNumberRequest { pub path: String } }
record! { pub struct GetChildren2Request { pub path: String, pub watch: bool } }
record! { pub struct CheckVersionRequest { pub path: String, pub version: i32 } }
record! { pub struct SyncRequest { pub path: String } }
record! { pub struct SyncResponse { pub path: String } }
record! { pub struct GetAclRequest { pub path: String } }
record! { pub struct SetAclRequest { pub path: String, pub acl: Vec<Acl>, pub version: i32 } }
record! { pub struct SetAclResponse { pub stat: Stat } }
record! { pub struct AddWatchRequest { pub path: String, pub mode: i32 } }
record! { pub struct WatcherEvent { pub kind: i32, pub state: i32, pub path: String } }
record! { pub struct ErrorResponse { pub err: i32 } }
record! { pub struct CreateResponse { pub path: String } }
record! { pub struct Create2Response { pub path: String, pub stat: Stat } }
record! { pub struct ExistsRequest { pub path: String, pub watch: bool } }
record! { pub struct ExistsResponse { pub stat: Stat } }
record! { pub struct GetDataResponse { pub data: Option<Vec<u8>>, pub stat: Stat } }
record! { pub struct GetChildrenResponse { pub children: Vec<String> } }
record! { pub struct GetAllChildrenNumberResponse { pub total_number: i32 } }
record! { pub struct GetChildren2Response { pub children: Vec<String>, pub stat: Stat } }
record! { pub struct GetAclResponse { pub acl: Vec<Acl>, pub stat: Stat } }
record! { pub struct CheckWatchesRequest { pub path: String, pub kind: i32 } }
record! { pub struct RemoveWatchesRequest { pub path: String, pub kind: i32 } }
record! { pub struct GetEphemeralsRequest { pub prefix_path: String } }
record! { pub struct GetEphemeralsResponse { pub ephemerals: Vec<String> } }
record! { pub struct WhoAmIResponse { pub client_info: Vec<ClientInfo> } }
