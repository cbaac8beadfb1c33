//! Records of `module org.apache.zookeeper.data` (zookeeper.jute).

use crate::record;

record! {
    /// An identity: `scheme:id`, e.g. `world:anyone` or `digest:user:base64(sha1)`.
    pub struct Id {
        pub scheme: String,
        pub id: String,
    }
}

record! {
    pub struct Acl {
        pub perms: i32,
        pub id: Id,
    }
}

record! {
    /// A znode's metadata as clients see it (68 bytes on the wire).
    pub struct Stat {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub data_length: i32,
        pub num_children: i32,
        pub pzxid: i64,
    }
}

record! {
    /// A znode's metadata as snapshots store it (no dataLength, no numChildren).
    pub struct StatPersisted {
        pub czxid: i64,
        pub mzxid: i64,
        pub ctime: i64,
        pub mtime: i64,
        pub version: i32,
        pub cversion: i32,
        pub aversion: i32,
        pub ephemeral_owner: i64,
        pub pzxid: i64,
    }
}

record! {
    pub struct ClientInfo {
        pub auth_scheme: String,
        pub user: String,
    }
}

impl Id {
    pub fn new(scheme: &str, id: &str) -> Id {
        Id { scheme: scheme.to_string(), id: id.to_string() }
    }
}

impl Acl {
    pub fn new(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl { perms, id: Id::new(scheme, id) }
    }
}

/// Permission bits (ZooDefs.Perms).
pub mod perms {
    pub const READ: i32 = 1;
    pub const WRITE: i32 = 2;
    pub const CREATE: i32 = 4;
    pub const DELETE: i32 = 8;
    pub const ADMIN: i32 = 16;
    pub const ALL: i32 = 31;
}

/// `world:anyone` with all permissions (ZooDefs.Ids.OPEN_ACL_UNSAFE).
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl::new(perms::ALL, "world", "anyone")]
}

/// `world:anyone` with read permission (ZooDefs.Ids.READ_ACL_UNSAFE).
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl::new(perms::READ, "world", "anyone")]
}

impl StatPersisted {
    /// The client view, given the two fields a snapshot does not store.
    pub fn to_stat(&self, data_length: i32, num_children: i32) -> Stat {
        Stat {
            czxid: self.czxid,
            mzxid: self.mzxid,
            ctime: self.ctime,
            mtime: self.mtime,
            version: self.version,
            cversion: self.cversion,
            aversion: self.aversion,
            ephemeral_owner: self.ephemeral_owner,
            data_length,
            num_children,
            pzxid: self.pzxid,
        }
    }
}
