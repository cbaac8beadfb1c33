//! ZooKeeper clients on the same codec.
//!
//! - `Client`: a small synchronous client on one connection, one request at a time, watch events
//!   queued as they arrive. The tests and the benchmark use it.
//! - `session::Session`: a session as the Java client keeps one (connect string with several
//!   servers and a chroot, failover with the same session, pings, watches re-armed on reconnect,
//!   state and watch events). The CLI uses it.

pub mod paths;
pub mod session;
pub mod watches;

use crate::codes::{op, ErrorCode};
use crate::jute::data::{open_acl_unsafe, Acl, Stat};
use crate::jute::proto::*;
use crate::jute::{JuteWrite, Reader, Record};
use crate::pipeline::{decode_multi_response, encode_multi_request, ClientOp, OpResult};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The server answered with this error code.
    Keeper(ErrorCode),
    /// The server's bytes made no sense.
    Protocol(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Keeper(c) => write!(f, "{c:?}"),
            ClientError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

impl From<crate::jute::DecodeError> for ClientError {
    fn from(e: crate::jute::DecodeError) -> Self {
        ClientError::Protocol(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// One operation of a multi.
#[derive(Debug, Clone)]
pub enum Op {
    Create { path: String, data: Vec<u8>, flags: i32 },
    Delete { path: String, version: i32 },
    SetData { path: String, data: Vec<u8>, version: i32 },
    Check { path: String, version: i32 },
}

impl Op {
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. } | Op::Delete { path, .. } | Op::SetData { path, .. } | Op::Check { path, .. } => {
                path
            }
        }
    }

    /// The request record of this op, sent for `server_path` (the path with any chroot).
    pub(crate) fn to_client_op(&self, server_path: String) -> ClientOp {
        let path = server_path;
        match self {
            Op::Create { data, flags, .. } => ClientOp::Create {
                op: op::CREATE,
                req: CreateRequest { path, data: Some(data.clone()), acl: open_acl_unsafe(), flags: *flags },
            },
            Op::Delete { version, .. } => ClientOp::Delete(DeleteRequest { path, version: *version }),
            Op::SetData { data, version, .. } => {
                ClientOp::SetData(SetDataRequest { path, data: Some(data.clone()), version: *version })
            }
            Op::Check { version, .. } => ClientOp::Check(CheckVersionRequest { path, version: *version }),
        }
    }
}

pub struct Client {
    stream: TcpStream,
    next_xid: i32,
    pub session_id: i64,
    pub passwd: Vec<u8>,
    pub timeout_ms: i32,
    pub last_zxid: i64,
    events: VecDeque<WatcherEvent>,
}

impl Client {
    /// Opens a new session.
    pub fn connect(addr: SocketAddr, timeout_ms: i32) -> Result<Client> {
        Client::resume(addr, timeout_ms, 0, vec![0; 16], 0)
    }

    /// Opens a connection for an existing session (a reconnect).
    pub fn resume(
        addr: SocketAddr,
        timeout_ms: i32,
        session_id: i64,
        passwd: Vec<u8>,
        last_zxid: i64,
    ) -> Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut c = Client { stream, next_xid: 1, session_id, passwd, timeout_ms, last_zxid, events: VecDeque::new() };
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last_zxid,
            time_out: timeout_ms,
            session_id,
            passwd: Some(c.passwd.clone()),
            read_only: Some(false),
        };
        c.send_frame(&req.to_bytes())?;
        let frame = c.read_frame()?;
        let resp = ConnectResponse::from_bytes(&frame)?;
        if resp.time_out <= 0 {
            return Err(ClientError::Keeper(ErrorCode::SessionExpired));
        }
        c.session_id = resp.session_id;
        c.passwd = resp.passwd.unwrap_or_default();
        c.timeout_ms = resp.time_out;
        Ok(c)
    }

    fn send_frame(&mut self, body: &[u8]) -> Result<()> {
        let mut b = Vec::with_capacity(body.len() + 4);
        b.put_i32(body.len() as i32);
        b.extend_from_slice(body);
        self.stream.write_all(&b)?;
        Ok(())
    }

    fn read_frame(&mut self) -> Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let n = i32::from_be_bytes(len);
        if !(0..=64 * 1024 * 1024).contains(&n) {
            return Err(ClientError::Protocol(format!("frame length {n}")));
        }
        let mut b = vec![0; n as usize];
        self.stream.read_exact(&mut b)?;
        Ok(b)
    }

    /// Sends one request and returns its reply body; watch events that arrive first are queued.
    pub fn call(&mut self, op_code: i32, body: &[u8]) -> Result<Vec<u8>> {
        let xid = match op_code {
            op::PING => -2,
            op::AUTH => -4,
            op::SET_WATCHES | op::SET_WATCHES2 => -8,
            _ => {
                let x = self.next_xid;
                self.next_xid += 1;
                x
            }
        };
        let mut b = RequestHeader { xid, op: op_code }.to_bytes();
        b.extend_from_slice(body);
        self.send_frame(&b)?;
        loop {
            let frame = self.read_frame()?;
            let mut r = Reader::new(&frame);
            let hdr = ReplyHeader::read(&mut r)?;
            if hdr.xid == -1 {
                self.events.push_back(WatcherEvent::read(&mut r)?);
                continue;
            }
            if hdr.xid != xid {
                return Err(ClientError::Protocol(format!("reply xid {} for request xid {xid}", hdr.xid)));
            }
            if hdr.zxid > 0 {
                self.last_zxid = hdr.zxid;
            }
            if hdr.err != 0 {
                return Err(ClientError::Keeper(
                    ErrorCode::from_code(hdr.err).ok_or(ClientError::Protocol(format!("error code {}", hdr.err)))?,
                ));
            }
            return Ok(r.rest().to_vec());
        }
    }

    fn call_rec<Q: Record, A: Record>(&mut self, op_code: i32, req: &Q) -> Result<A> {
        let body = self.call(op_code, &req.to_bytes())?;
        Ok(A::from_bytes(&body)?)
    }

    pub fn create(&mut self, path: &str, data: &[u8], flags: i32) -> Result<String> {
        self.create_with_acl(path, data, open_acl_unsafe(), flags)
    }

    pub fn create_with_acl(&mut self, path: &str, data: &[u8], acl: Vec<Acl>, flags: i32) -> Result<String> {
        let req = CreateRequest { path: path.into(), data: Some(data.to_vec()), acl, flags };
        let r: CreateResponse = self.call_rec(op::CREATE, &req)?;
        Ok(r.path)
    }

    pub fn create2(&mut self, path: &str, data: &[u8], flags: i32) -> Result<(String, Stat)> {
        let req = CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: open_acl_unsafe(), flags };
        let r: Create2Response = self.call_rec(op::CREATE2, &req)?;
        Ok((r.path, r.stat))
    }

    pub fn delete(&mut self, path: &str, version: i32) -> Result<()> {
        self.call(op::DELETE, &DeleteRequest { path: path.into(), version }.to_bytes())?;
        Ok(())
    }

    pub fn exists(&mut self, path: &str, watch: bool) -> Result<Option<Stat>> {
        match self.call_rec::<_, ExistsResponse>(op::EXISTS, &ExistsRequest { path: path.into(), watch }) {
            Ok(r) => Ok(Some(r.stat)),
            Err(ClientError::Keeper(ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn get_data(&mut self, path: &str, watch: bool) -> Result<(Option<Vec<u8>>, Stat)> {
        let r: GetDataResponse = self.call_rec(op::GET_DATA, &GetDataRequest { path: path.into(), watch })?;
        Ok((r.data, r.stat))
    }

    pub fn set_data(&mut self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let req = SetDataRequest { path: path.into(), data: Some(data.to_vec()), version };
        let r: SetDataResponse = self.call_rec(op::SET_DATA, &req)?;
        Ok(r.stat)
    }

    pub fn get_children(&mut self, path: &str, watch: bool) -> Result<Vec<String>> {
        let r: GetChildrenResponse =
            self.call_rec(op::GET_CHILDREN, &GetChildrenRequest { path: path.into(), watch })?;
        Ok(r.children)
    }

    pub fn get_acl(&mut self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let r: GetAclResponse = self.call_rec(op::GET_ACL, &GetAclRequest { path: path.into() })?;
        Ok((r.acl, r.stat))
    }

    pub fn set_acl(&mut self, path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat> {
        let r: SetAclResponse = self.call_rec(op::SET_ACL, &SetAclRequest { path: path.into(), acl, version })?;
        Ok(r.stat)
    }

    pub fn add_auth(&mut self, scheme: &str, auth: &[u8]) -> Result<()> {
        let p = AuthPacket { kind: 0, scheme: scheme.into(), auth: Some(auth.to_vec()) };
        self.call(op::AUTH, &p.to_bytes())?;
        Ok(())
    }

    pub fn ping(&mut self) -> Result<()> {
        self.call(op::PING, &[])?;
        Ok(())
    }

    pub fn sync(&mut self, path: &str) -> Result<String> {
        let r: SyncResponse = self.call_rec(op::SYNC, &SyncRequest { path: path.into() })?;
        Ok(r.path)
    }

    /// A multi; the per-op results (a failed multi is Ok with error results, as on the wire).
    pub fn multi(&mut self, ops: &[Op]) -> Result<Vec<OpResult>> {
        let ops: Vec<ClientOp> = ops.iter().map(|o| o.to_client_op(o.path().to_string())).collect();
        let mut b = Vec::new();
        encode_multi_request(&ops, &mut b);
        let body = self.call(op::MULTI, &b)?;
        Ok(decode_multi_response(&mut Reader::new(&body))?)
    }

    /// Ends the session (its ephemerals go with it).
    pub fn close(mut self) -> Result<()> {
        self.call(op::CLOSE_SESSION, &[])?;
        Ok(())
    }

    /// The next watch event, waiting up to `timeout` for one to arrive.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<WatcherEvent>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        self.stream.set_read_timeout(Some(timeout))?;
        let frame = match self.read_frame() {
            Ok(f) => f,
            Err(ClientError::Io(e)) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                self.stream.set_read_timeout(Some(Duration::from_secs(10)))?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        self.stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut r = Reader::new(&frame);
        let hdr = ReplyHeader::read(&mut r)?;
        if hdr.xid != -1 {
            return Err(ClientError::Protocol(format!("unexpected reply xid {}", hdr.xid)));
        }
        Ok(Some(WatcherEvent::read(&mut r)?))
    }

    /// The raw socket, for tests that send malformed bytes.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}
