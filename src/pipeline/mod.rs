//! The request pipeline's pure cores: `prep` turns client requests into txns (or passes reads
//! through), `commit` applies txns to the tree, serves reads and fires watches. Both take inputs
//! and return outputs; threads and sockets live in `node`.
//!
//! ```text
//! conn reader --PrepInput--> [prep] --CommitItem--> [commit] --Output--> conn writers
//! ```

pub mod commit;
pub mod prep;

use crate::codes::op;
use crate::ids::SessionId;
use crate::jute::data::Id;
use crate::jute::proto::*;
use crate::jute::txn_body::Transaction;
use crate::jute::{DecodeError, Reader, Record, Result};
use std::sync::Arc;

/// A connection, unique for the life of the process; watches belong to connections.
pub type ConnId = u64;

/// A decoded client request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOp {
    /// create, create2 and createContainer share CreateRequest; `op` tells them apart.
    Create {
        op: i32,
        req: CreateRequest,
    },
    CreateTtl(CreateTtlRequest),
    Delete(DeleteRequest),
    /// Internal only: the container/TTL reaper's delete.
    DeleteContainer(String),
    SetData(SetDataRequest),
    SetAcl(SetAclRequest),
    Check(CheckVersionRequest),
    Multi(Vec<ClientOp>),
    MultiRead(Vec<ClientOp>),
    Reconfig(ReconfigRequest),
    Exists(ExistsRequest),
    GetData(GetDataRequest),
    GetAcl(GetAclRequest),
    GetChildren(GetChildrenRequest),
    GetChildren2(GetChildren2Request),
    GetAllChildrenNumber(GetAllChildrenNumberRequest),
    GetEphemerals(GetEphemeralsRequest),
    Sync(SyncRequest),
    Ping,
    CloseSession,
    CheckWatches(CheckWatchesRequest),
    RemoveWatches(RemoveWatchesRequest),
    /// setWatches is read as setWatches2 with no persistent watches.
    SetWatches(SetWatches2),
    AddWatch(AddWatchRequest),
    WhoAmI,
    Auth(AuthPacket),
    Sasl(GetSaslRequest),
    /// A request that could not be served as sent: an unknown opcode (UNIMPLEMENTED) or a body
    /// that does not decode (MARSHALLINGERROR). It still gets its reply in order.
    Invalid {
        op: i32,
        err: crate::codes::ErrorCode,
    },
}

impl ClientOp {
    /// Decodes the body that follows a RequestHeader of type `op`.
    pub fn decode(op: i32, body: &[u8]) -> Result<ClientOp> {
        let r = &mut Reader::new(body);
        Ok(match op {
            op::CREATE | op::CREATE2 | op::CREATE_CONTAINER => ClientOp::Create { op, req: CreateRequest::read(r)? },
            op::CREATE_TTL => ClientOp::CreateTtl(CreateTtlRequest::read(r)?),
            op::DELETE => ClientOp::Delete(DeleteRequest::read(r)?),
            op::SET_DATA => ClientOp::SetData(SetDataRequest::read(r)?),
            op::SET_ACL => ClientOp::SetAcl(SetAclRequest::read(r)?),
            op::CHECK => ClientOp::Check(CheckVersionRequest::read(r)?),
            op::MULTI => ClientOp::Multi(decode_multi(r, false)?),
            op::MULTI_READ => ClientOp::MultiRead(decode_multi(r, true)?),
            op::RECONFIG => ClientOp::Reconfig(ReconfigRequest::read(r)?),
            op::EXISTS => ClientOp::Exists(ExistsRequest::read(r)?),
            op::GET_DATA => ClientOp::GetData(GetDataRequest::read(r)?),
            op::GET_ACL => ClientOp::GetAcl(GetAclRequest::read(r)?),
            op::GET_CHILDREN => ClientOp::GetChildren(GetChildrenRequest::read(r)?),
            op::GET_CHILDREN2 => ClientOp::GetChildren2(GetChildren2Request::read(r)?),
            op::GET_ALL_CHILDREN_NUMBER => ClientOp::GetAllChildrenNumber(GetAllChildrenNumberRequest::read(r)?),
            op::GET_EPHEMERALS => ClientOp::GetEphemerals(GetEphemeralsRequest::read(r)?),
            op::SYNC => ClientOp::Sync(SyncRequest::read(r)?),
            op::PING => ClientOp::Ping,
            op::CLOSE_SESSION => ClientOp::CloseSession,
            op::CHECK_WATCHES => ClientOp::CheckWatches(CheckWatchesRequest::read(r)?),
            op::REMOVE_WATCHES => ClientOp::RemoveWatches(RemoveWatchesRequest::read(r)?),
            op::SET_WATCHES => {
                let w = SetWatches::read(r)?;
                ClientOp::SetWatches(SetWatches2 {
                    relative_zxid: w.relative_zxid,
                    data_watches: w.data_watches,
                    exist_watches: w.exist_watches,
                    child_watches: w.child_watches,
                    persistent_watches: Vec::new(),
                    persistent_recursive_watches: Vec::new(),
                })
            }
            op::SET_WATCHES2 => ClientOp::SetWatches(SetWatches2::read(r)?),
            op::ADD_WATCH => ClientOp::AddWatch(AddWatchRequest::read(r)?),
            op::WHO_AM_I => ClientOp::WhoAmI,
            op::AUTH => ClientOp::Auth(AuthPacket::read(r)?),
            op::SASL => ClientOp::Sasl(GetSaslRequest::read(r)?),
            _ => return Err(DecodeError::Invalid("opcode")),
        })
    }

    /// Encodes the request record, as a client sends it after the RequestHeader.
    pub fn write_body(&self, out: &mut Vec<u8>) {
        match self {
            ClientOp::Create { req, .. } => req.write(out),
            ClientOp::CreateTtl(r) => r.write(out),
            ClientOp::Delete(r) => r.write(out),
            ClientOp::DeleteContainer(p) => out.extend_from_slice(p.as_bytes()),
            ClientOp::SetData(r) => r.write(out),
            ClientOp::SetAcl(r) => r.write(out),
            ClientOp::Check(r) => r.write(out),
            ClientOp::Multi(ops) | ClientOp::MultiRead(ops) => encode_multi_request(ops, out),
            ClientOp::Reconfig(r) => r.write(out),
            ClientOp::Exists(r) => r.write(out),
            ClientOp::GetData(r) => r.write(out),
            ClientOp::GetAcl(r) => r.write(out),
            ClientOp::GetChildren(r) => r.write(out),
            ClientOp::GetChildren2(r) => r.write(out),
            ClientOp::GetAllChildrenNumber(r) => r.write(out),
            ClientOp::GetEphemerals(r) => r.write(out),
            ClientOp::Sync(r) => r.write(out),
            ClientOp::CheckWatches(r) => r.write(out),
            ClientOp::RemoveWatches(r) => r.write(out),
            ClientOp::SetWatches(r) => r.write(out),
            ClientOp::AddWatch(r) => r.write(out),
            ClientOp::Auth(r) => r.write(out),
            ClientOp::Sasl(r) => r.write(out),
            ClientOp::Ping | ClientOp::CloseSession | ClientOp::WhoAmI | ClientOp::Invalid { .. } => {}
        }
    }

    /// Whether this request changes the tree and so becomes a txn.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            ClientOp::Create { .. }
                | ClientOp::CreateTtl(_)
                | ClientOp::Delete(_)
                | ClientOp::DeleteContainer(_)
                | ClientOp::SetData(_)
                | ClientOp::SetAcl(_)
                | ClientOp::Check(_)
                | ClientOp::Multi(_)
                | ClientOp::Reconfig(_)
                | ClientOp::CloseSession
        )
    }

    /// The opcode this request was sent as.
    pub fn opcode(&self) -> i32 {
        match self {
            ClientOp::Create { op, .. } => *op,
            ClientOp::CreateTtl(_) => op::CREATE_TTL,
            ClientOp::Delete(_) => op::DELETE,
            ClientOp::DeleteContainer(_) => op::DELETE_CONTAINER,
            ClientOp::SetData(_) => op::SET_DATA,
            ClientOp::SetAcl(_) => op::SET_ACL,
            ClientOp::Check(_) => op::CHECK,
            ClientOp::Multi(_) => op::MULTI,
            ClientOp::MultiRead(_) => op::MULTI_READ,
            ClientOp::Reconfig(_) => op::RECONFIG,
            ClientOp::Exists(_) => op::EXISTS,
            ClientOp::GetData(_) => op::GET_DATA,
            ClientOp::GetAcl(_) => op::GET_ACL,
            ClientOp::GetChildren(_) => op::GET_CHILDREN,
            ClientOp::GetChildren2(_) => op::GET_CHILDREN2,
            ClientOp::GetAllChildrenNumber(_) => op::GET_ALL_CHILDREN_NUMBER,
            ClientOp::GetEphemerals(_) => op::GET_EPHEMERALS,
            ClientOp::Sync(_) => op::SYNC,
            ClientOp::Ping => op::PING,
            ClientOp::CloseSession => op::CLOSE_SESSION,
            ClientOp::CheckWatches(_) => op::CHECK_WATCHES,
            ClientOp::RemoveWatches(_) => op::REMOVE_WATCHES,
            ClientOp::SetWatches(_) => op::SET_WATCHES2,
            ClientOp::AddWatch(_) => op::ADD_WATCH,
            ClientOp::WhoAmI => op::WHO_AM_I,
            ClientOp::Auth(_) => op::AUTH,
            ClientOp::Sasl(_) => op::SASL,
            ClientOp::Invalid { op, .. } => *op,
        }
    }

    /// The path the request names, for logs and `cons`.
    pub fn path(&self) -> Option<&str> {
        Some(match self {
            ClientOp::Create { req, .. } => &req.path,
            ClientOp::CreateTtl(r) => &r.path,
            ClientOp::Delete(r) => &r.path,
            ClientOp::DeleteContainer(p) => p,
            ClientOp::SetData(r) => &r.path,
            ClientOp::SetAcl(r) => &r.path,
            ClientOp::Check(r) => &r.path,
            ClientOp::Exists(r) => &r.path,
            ClientOp::GetData(r) => &r.path,
            ClientOp::GetAcl(r) => &r.path,
            ClientOp::GetChildren(r) => &r.path,
            ClientOp::GetChildren2(r) => &r.path,
            ClientOp::GetAllChildrenNumber(r) => &r.path,
            ClientOp::Sync(r) => &r.path,
            _ => return None,
        })
    }
}

/// Encodes a `MultiOperationRecord` (multi or multiRead), as a client sends it.
pub fn encode_multi_request(ops: &[ClientOp], out: &mut Vec<u8>) {
    for o in ops {
        MultiHeader { op: o.opcode(), done: false, err: -1 }.write(out);
        o.write_body(out);
    }
    MultiHeader { op: -1, done: true, err: -1 }.write(out);
}

/// `MultiOperationRecord`: (MultiHeader + op record)* then MultiHeader{-1, done, -1}.
fn decode_multi(r: &mut Reader<'_>, reads: bool) -> Result<Vec<ClientOp>> {
    let mut ops = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(ops);
        }
        let sub = match (h.op, reads) {
            (op::CREATE | op::CREATE2 | op::CREATE_CONTAINER, false) => {
                ClientOp::Create { op: h.op, req: CreateRequest::read(r)? }
            }
            (op::CREATE_TTL, false) => ClientOp::CreateTtl(CreateTtlRequest::read(r)?),
            (op::DELETE, false) => ClientOp::Delete(DeleteRequest::read(r)?),
            (op::SET_DATA, false) => ClientOp::SetData(SetDataRequest::read(r)?),
            (op::CHECK, false) => ClientOp::Check(CheckVersionRequest::read(r)?),
            (op::GET_CHILDREN, true) => ClientOp::GetChildren(GetChildrenRequest::read(r)?),
            (op::GET_DATA, true) => ClientOp::GetData(GetDataRequest::read(r)?),
            _ => return Err(DecodeError::Invalid("op inside multi")),
        };
        ops.push(sub);
    }
}

/// One result inside a MultiResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    Create(CreateResponse),
    Create2(Create2Response),
    Delete,
    SetData(SetDataResponse),
    Check,
    GetChildren(GetChildrenResponse),
    GetData(GetDataResponse),
    Error(i32),
}

/// Encodes a `MultiResponse`: (MultiHeader + body)* then MultiHeader{-1, true, -1}.
pub fn encode_multi_response(results: &[OpResult], out: &mut Vec<u8>) {
    for res in results {
        let (kind, err) = match res {
            OpResult::Create(_) => (op::CREATE, 0),
            OpResult::Create2(_) => (op::CREATE2, 0),
            OpResult::Delete => (op::DELETE, 0),
            OpResult::SetData(_) => (op::SET_DATA, 0),
            OpResult::Check => (op::CHECK, 0),
            OpResult::GetChildren(_) => (op::GET_CHILDREN, 0),
            OpResult::GetData(_) => (op::GET_DATA, 0),
            OpResult::Error(e) => (op::ERROR, *e),
        };
        MultiHeader { op: kind, done: false, err }.write(out);
        match res {
            OpResult::Create(r) => r.write(out),
            OpResult::Create2(r) => r.write(out),
            OpResult::SetData(r) => r.write(out),
            OpResult::GetChildren(r) => r.write(out),
            OpResult::GetData(r) => r.write(out),
            OpResult::Error(e) => ErrorResponse { err: *e }.write(out),
            OpResult::Delete | OpResult::Check => {}
        }
    }
    MultiHeader { op: -1, done: true, err: -1 }.write(out);
}

/// Decodes a `MultiResponse` (for our client and tests).
pub fn decode_multi_response(r: &mut Reader<'_>) -> Result<Vec<OpResult>> {
    let mut out = Vec::new();
    loop {
        let h = MultiHeader::read(r)?;
        if h.done {
            return Ok(out);
        }
        out.push(match h.op {
            op::CREATE => OpResult::Create(CreateResponse::read(r)?),
            op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => OpResult::Create2(Create2Response::read(r)?),
            op::DELETE => OpResult::Delete,
            op::SET_DATA => OpResult::SetData(SetDataResponse::read(r)?),
            op::CHECK => OpResult::Check,
            op::GET_CHILDREN => OpResult::GetChildren(GetChildrenResponse::read(r)?),
            op::GET_DATA => OpResult::GetData(GetDataResponse::read(r)?),
            op::ERROR => OpResult::Error(ErrorResponse::read(r)?.err),
            _ => return Err(DecodeError::Invalid("multi result type")),
        });
    }
}

/// A request as it travels the pipeline.
#[derive(Debug, Clone)]
pub struct Request {
    pub conn: ConnId,
    pub session: SessionId,
    pub xid: i32,
    pub op: ClientOp,
    /// The connection's identities at the time of the request (ip, digest, super).
    pub auth: Arc<Vec<Id>>,
    /// When the reader received it (the shell's monotonic clock), for latency figures.
    pub received_ms: u64,
}

/// Where a txn's reply goes: the connection and the request's xid. Txns made by the server
/// itself (expiry, container reaping) have none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub conn: ConnId,
    pub xid: i32,
    pub op: i32,
    /// For createSession: the client sent the trailing readOnly byte.
    pub read_only_byte: bool,
    pub received_ms: u64,
}

impl Origin {
    /// Where the reply to a client's request goes.
    pub fn of(req: &Request) -> Origin {
        Origin {
            conn: req.conn,
            xid: req.xid,
            op: req.op.opcode(),
            read_only_byte: false,
            received_ms: req.received_ms,
        }
    }
}

/// What prep hands the commit thread, in the order it must be processed.
#[derive(Debug)]
pub enum CommitItem {
    /// A new connection (before its handshake).
    Accept { conn: ConnId, remote: String, secure: bool, wall_ms: i64 },
    /// A txn to persist and apply; the reply (if any) goes to `origin`.
    Txn { txn: Transaction, origin: Option<Origin> },
    /// A read (or ping, sync, watch bookkeeping) to serve against the tree.
    Read(Request),
    /// A local client's write went to the leader (a follower's REQUEST): its txn comes back as a
    /// `Txn` without origin, matched by (session, cxid). Until then the session's later reads wait
    /// (a session sees its own writes).
    Forwarded { session: SessionId, origin: Origin },
    /// A local client's `sync` went to the leader: answered when the leader's SYNC comes back
    /// (`Synced`), in order; the session's later reads wait behind it.
    ForwardedSync(Request),
    /// The leader answered the oldest forwarded `sync`.
    Synced,
    /// The server left its quorum role: close every client connection (clients reconnect,
    /// here or elsewhere, and keep their sessions) and forget what waits for the leader.
    CloseAll,
    /// A reconnect of a live session onto a new connection.
    Attach { conn: ConnId, session: SessionId, timeout_ms: u32, read_only_byte: bool, read_only: bool },
    /// A handshake refused: expired session or wrong password gets the "expired" reply.
    Reject { conn: ConnId, read_only_byte: bool },
    /// Close a connection without a reply (a client that has seen a newer zxid than ours).
    Close { conn: ConnId },
    /// A connection is gone: drop its watches and its route.
    Detach { conn: ConnId },
    /// A four-letter word; the answer text goes back on `reply`.
    FourLetter { ask: crate::fourlw::Ask, prep: PrepFacts, reply: crossbeam_channel::Sender<String> },
    /// A question from the admin server or the metrics endpoint, answered like a four-letter
    /// word but not asked on a client connection (so it is not counted as a client packet).
    Inspect {
        question: crate::admin::Question,
        prep: PrepFacts,
        reply: crossbeam_channel::Sender<crate::admin::Answer>,
    },
}

/// What only prep knows, sent along with a four-letter word or an admin question.
#[derive(Debug)]
pub struct PrepFacts {
    /// Txns prepared and not yet applied.
    pub outstanding: usize,
    /// The session tracker by deadline, for `dump` (empty for the other questions).
    pub session_expiry: Vec<(u64, Vec<SessionId>)>,
    /// QUOTAEXCEEDED refusals by namespace.
    pub quota_exceeded: std::collections::BTreeMap<String, crate::metrics::Refusals>,
}
