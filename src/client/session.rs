//! A session that lives across connections, as the Java client's `ZooKeeper` object does: it
//! connects to one of the connect string's servers, keeps the session alive with pings, moves to
//! another server (same session id and password) when its connection drops, re-sends its auth
//! and re-arms its watches there, and reports what happens as `WatchedEvent`s — state changes
//! (SyncConnected, Disconnected, Expired, AuthFailed, Closed) and watch notifications.
//!
//! Threads: the caller's, which sends a `Command` and waits for its answer; the *pump*, which owns
//! the session, the connection and the watch registry; and per connection a *reader*, which only
//! turns socket bytes into frames for the pump. Every request gets exactly one answer: its reply,
//! or ConnectionLoss when the connection it was sent on (or the connection attempts it waited
//! for) failed, or SessionExpired once the session has ended.
//!
//! One deliberate difference from the Java client: a request made while no server is reachable
//! fails only after every listed server has been tried once (Java fails it when the first attempt
//! fails, even if the next server would have answered).

use super::paths::{prepend_chroot, strip_chroot, ConnectString};
use super::watches::{EventType, KeeperState, Registration, WatchRegistry, WatchedEvent};
use crate::auth::digest_md5::{DigestMd5Client, PROTOCOL, SERVER_NAME};
use crate::codes::{op, ErrorCode};
use crate::jute::data::{Acl, ClientInfo, Stat};
use crate::jute::proto::*;
use crate::jute::{JuteWrite, Reader, Record};
// The server's transport serves clients too: a TCP connection that may carry TLS.
use crate::node::stream::Stream;
use crate::node::tls::SecureClient;
use crate::pipeline::{decode_multi_response, encode_multi_request, OpResult};
use crossbeam_channel::{bounded, select, Receiver, Sender};
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Events queued for the session's user before the pump waits for it to catch up.
pub const EVENT_QUEUE_MAX: usize = 4096;
/// Requests queued for the pump (a synchronous caller has one outstanding; this is headroom).
pub const COMMAND_QUEUE_MAX: usize = 64;
/// Frames the reader may hold for the pump.
const FRAME_QUEUE_MAX: usize = 1024;
/// The largest frame accepted from a server (jute.maxbuffer on the client side is 0xfffff; a
/// multi reply or getChildren of a huge node may be larger, ZooKeeper's client allows 4 MB by
/// default and more if configured).
const FRAME_MAX: usize = 64 * 1024 * 1024;
/// SetWatches requests carry at most about this many path bytes (ClientCnxn's batching).
const SET_WATCHES_BATCH_BYTES: usize = 128 * 1024;
/// The pause after every listed server has been tried (StaticHostProvider's spin delay).
const HOST_ROUND_PAUSE: Duration = Duration::from_secs(1);
/// The least time a connection attempt gets, however many hosts share the session timeout.
const CONNECT_TIMEOUT_MIN: Duration = Duration::from_millis(100);

const XID_NOTIFICATION: i32 = -1;
const XID_PING: i32 = -2;
const XID_AUTH: i32 = -4;
const XID_SET_WATCHES: i32 = -8;

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The server (or the session's connection state) answered with this code.
    Keeper(ErrorCode),
    /// The client refused the call before sending it (an invalid path): Java's
    /// `IllegalArgumentException`, with its message.
    InvalidArgument(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Keeper(c) => write!(f, "{c:?}"),
            SessionError::InvalidArgument(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<ErrorCode> for SessionError {
    fn from(c: ErrorCode) -> Self {
        SessionError::Keeper(c)
    }
}

pub type Result<T> = std::result::Result<T, SessionError>;

/// The connection state, as `ZooKeeper.States` names it (the CLI prompt shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum States {
    Connecting,
    Connected,
    ConnectedReadOnly,
    Closed,
    AuthFailed,
}

impl States {
    /// `States.isAlive()`: the session may still be used.
    pub fn is_alive(self) -> bool {
        !matches!(self, States::Closed | States::AuthFailed)
    }
}

impl fmt::Display for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            States::Connecting => "CONNECTING",
            States::Connected => "CONNECTED",
            States::ConnectedReadOnly => "CONNECTEDREADONLY",
            States::Closed => "CLOSED",
            States::AuthFailed => "AUTH_FAILED",
        })
    }
}

/// How to open a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub connect_string: String,
    pub timeout_ms: i32,
    /// Accept a read-only server (the handshake's `readOnly` flag, zkCli's `-r`).
    pub read_only: bool,
    /// Log in with SASL DIGEST-MD5 on every connection (the Java client's JAAS `Client` section).
    pub sasl: Option<SaslLogin>,
    /// Connect with TLS (the Java client's `zookeeper.client.secure=true`).
    pub tls: Option<Arc<SecureClient>>,
}

/// A SASL DIGEST-MD5 user (`DigestLoginModule`'s `username` and `password`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslLogin {
    pub user: String,
    pub password: String,
}

/// A mode of `addWatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddWatchMode {
    Persistent = 0,
    PersistentRecursive = 1,
}

/// What the pump is asked to do.
enum Command {
    Request(Request),
    /// `addAuthInfo`: remembered for reconnects; a failure arrives as an AuthFailed event.
    AddAuth {
        scheme: String,
        auth: Option<Vec<u8>>,
    },
    /// Ends the session; the pump stops once it has ended.
    Close,
}

/// What a reply does to the watch registry.
enum WatchAction {
    None,
    Register(Registration),
    /// removeWatches: `kind` is a `watcher_type`.
    Remove {
        path: String,
        kind: i32,
        local: bool,
    },
}

struct Request {
    op: i32,
    body: Vec<u8>,
    watch: WatchAction,
    reply: Sender<Result<Vec<u8>>>,
}

/// Shared between the pump (writer) and the session's users (readers).
#[derive(Debug, Clone, Copy)]
struct Status {
    state: States,
    session_id: i64,
}

/// A ZooKeeper session (see the module doc). Dropping it ends the session.
pub struct Session {
    commands: Sender<Command>,
    status: Arc<Mutex<Status>>,
    chroot: Option<String>,
    pump: Option<JoinHandle<()>>,
    /// Never sent on; disconnected when the pump ends. A request queued just as the pump ended
    /// stays in the command queue unanswered (a bounded channel keeps its messages after its
    /// receiver is gone), so callers wait on this as well as on their reply.
    pump_ended: Receiver<()>,
}

impl Session {
    /// Starts connecting (in the background) and returns at once, with the receiver of the
    /// session's events. The receiver must be drained: the pump waits when it is full.
    pub fn connect(cfg: &SessionConfig) -> Result<(Session, Receiver<WatchedEvent>)> {
        let cs = ConnectString::parse(&cfg.connect_string).map_err(SessionError::InvalidArgument)?;
        let (commands, commands_rx) = bounded(COMMAND_QUEUE_MAX);
        let (events_tx, events) = bounded(EVENT_QUEUE_MAX);
        let status = Arc::new(Mutex::new(Status { state: States::Connecting, session_id: 0 }));
        let (alive, pump_ended) = bounded(0);
        let pump = Pump {
            hosts: cs.hosts,
            next_host: 0,
            chroot: cs.chroot.clone(),
            timeout_ms: cfg.timeout_ms,
            read_only: cfg.read_only,
            sasl: cfg.sasl.clone(),
            tls: cfg.tls.clone(),
            session_id: 0,
            passwd: vec![0; 16],
            last_zxid: 0,
            auths: Vec::new(),
            watches: WatchRegistry::default(),
            commands: commands_rx,
            events: events_tx,
            event_state: KeeperState::Disconnected,
            status: Arc::clone(&status),
            waiting: VecDeque::new(),
            closing: false,
            tried_once: false,
            _alive: alive,
        };
        let handle = thread::Builder::new()
            .name("zk-session".into())
            .spawn(move || pump.run())
            .map_err(|_| SessionError::Keeper(ErrorCode::SystemError))?;
        Ok((Session { commands, status, chroot: cs.chroot, pump: Some(handle), pump_ended }, events))
    }

    pub fn state(&self) -> States {
        self.status.lock().expect("status lock").state
    }

    pub fn session_id(&self) -> i64 {
        self.status.lock().expect("status lock").session_id
    }

    /// Ends the session and waits until the pump has stopped, its last event queued (Closed; none
    /// when the session had already ended: expired or AuthFailed).
    pub fn close(&mut self) {
        let _ = self.commands.send(Command::Close);
        if let Some(h) = self.pump.take() {
            let _ = h.join();
        }
    }

    fn server_path(&self, path: &str) -> String {
        prepend_chroot(self.chroot.as_deref(), path)
    }

    fn client_path(&self, path: &str) -> String {
        strip_chroot(self.chroot.as_deref(), path)
    }

    fn call(&self, op: i32, body: Vec<u8>, watch: WatchAction) -> Result<Vec<u8>> {
        let (reply, answer) = bounded(1);
        let gone = || SessionError::Keeper(ended_with(self.state()));
        self.commands.send(Command::Request(Request { op, body, watch, reply })).map_err(|_| gone())?;
        select! {
            recv(answer) -> r => r.map_err(|_| gone())?,
            // A reply sent just before the pump ended is still there.
            recv(self.pump_ended) -> _ => answer.try_recv().map_err(|_| gone())?,
        }
    }

    fn call_rec<A: Record>(&self, op: i32, req: &impl Record, watch: WatchAction) -> Result<A> {
        let body = self.call(op, req.to_bytes(), watch)?;
        A::from_bytes(&body).map_err(|_| SessionError::Keeper(ErrorCode::MarshallingError))
    }

    /// `create`; with `ttl` a createTTL. Returns the created path (client view).
    pub fn create(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: Vec<Acl>,
        flags: i32,
        ttl: Option<i64>,
    ) -> Result<String> {
        let sequential = matches!(flags, 2 | 3 | 6);
        valid(path, sequential)?;
        if acl.is_empty() {
            return Err(SessionError::Keeper(ErrorCode::InvalidAcl));
        }
        let (path_s, data) = (self.server_path(path), data.map(<[u8]>::to_vec));
        let created = match ttl {
            Some(ttl) => {
                let req = CreateTtlRequest { path: path_s, data, acl, flags, ttl };
                self.call_rec::<Create2Response>(op::CREATE_TTL, &req, WatchAction::None)?.path
            }
            None => {
                // createContainer answers with a Create2Response, whose first field is the path.
                let opc = if flags == 4 { op::CREATE_CONTAINER } else { op::CREATE };
                let req = CreateRequest { path: path_s, data, acl, flags };
                self.call_rec::<CreateResponse>(opc, &req, WatchAction::None)?.path
            }
        };
        Ok(self.client_path(&created))
    }

    pub fn delete(&self, path: &str, version: i32) -> Result<()> {
        valid(path, false)?;
        // The root is never chrooted, so that deleting "/" fails the same way everywhere.
        let server = if path == "/" { path.to_string() } else { self.server_path(path) };
        self.call(op::DELETE, DeleteRequest { path: server, version }.to_bytes(), WatchAction::None)?;
        Ok(())
    }

    pub fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>> {
        valid(path, false)?;
        let w = if watch { WatchAction::Register(Registration::Exists(path.into())) } else { WatchAction::None };
        let req = ExistsRequest { path: self.server_path(path), watch };
        match self.call_rec::<ExistsResponse>(op::EXISTS, &req, w) {
            Ok(r) => Ok(Some(r.stat)),
            Err(SessionError::Keeper(ErrorCode::NoNode)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn get_data(&self, path: &str, watch: bool) -> Result<(Option<Vec<u8>>, Stat)> {
        valid(path, false)?;
        self.get_data_raw(&self.server_path(path), path, watch)
    }

    /// getData of `/zookeeper/config`, which is never chrooted (`ZooKeeper.getConfig`).
    pub fn get_config(&self, watch: bool) -> Result<(Option<Vec<u8>>, Stat)> {
        self.get_data_raw(crate::tree::CONFIG, crate::tree::CONFIG, watch)
    }

    /// `ZooKeeperAdmin.reconfigure`: the configuration now in force and the stat of
    /// `/zookeeper/config`. `joining` and `leaving` (incremental) or `members` (bulk) are sent
    /// as given; `from_config` is the version the change applies to, -1 for any.
    pub fn reconfig(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        members: Option<&str>,
        from_config: i64,
    ) -> Result<(Option<Vec<u8>>, Stat)> {
        let req = ReconfigRequest {
            joining_servers: joining.map(str::to_owned),
            leaving_servers: leaving.map(str::to_owned),
            new_members: members.map(str::to_owned),
            cur_config_id: from_config,
        };
        let r: GetDataResponse = self.call_rec(op::RECONFIG, &req, WatchAction::None)?;
        Ok((r.data, r.stat))
    }

    fn get_data_raw(&self, server: &str, client: &str, watch: bool) -> Result<(Option<Vec<u8>>, Stat)> {
        let w = if watch { WatchAction::Register(Registration::Data(client.into())) } else { WatchAction::None };
        let r: GetDataResponse = self.call_rec(op::GET_DATA, &GetDataRequest { path: server.into(), watch }, w)?;
        Ok((r.data, r.stat))
    }

    pub fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        valid(path, false)?;
        let req = SetDataRequest { path: self.server_path(path), data: Some(data.to_vec()), version };
        Ok(self.call_rec::<SetDataResponse>(op::SET_DATA, &req, WatchAction::None)?.stat)
    }

    /// getChildren (getChildren2 when the stat is wanted, as the Java client does).
    pub fn get_children(&self, path: &str, watch: bool, with_stat: bool) -> Result<(Vec<String>, Option<Stat>)> {
        valid(path, false)?;
        let w = || if watch { WatchAction::Register(Registration::Child(path.into())) } else { WatchAction::None };
        let server = self.server_path(path);
        if with_stat {
            let r: GetChildren2Response =
                self.call_rec(op::GET_CHILDREN2, &GetChildren2Request { path: server, watch }, w())?;
            Ok((r.children, Some(r.stat)))
        } else {
            let r: GetChildrenResponse =
                self.call_rec(op::GET_CHILDREN, &GetChildrenRequest { path: server, watch }, w())?;
            Ok((r.children, None))
        }
    }

    pub fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        valid(path, false)?;
        let r: GetAclResponse =
            self.call_rec(op::GET_ACL, &GetAclRequest { path: self.server_path(path) }, WatchAction::None)?;
        Ok((r.acl, r.stat))
    }

    pub fn set_acl(&self, path: &str, acl: Vec<Acl>, version: i32) -> Result<Stat> {
        valid(path, false)?;
        if acl.is_empty() {
            return Err(SessionError::Keeper(ErrorCode::InvalidAcl));
        }
        let req = SetAclRequest { path: self.server_path(path), acl, version };
        Ok(self.call_rec::<SetAclResponse>(op::SET_ACL, &req, WatchAction::None)?.stat)
    }

    pub fn sync(&self, path: &str) -> Result<()> {
        valid(path, false)?;
        self.call(op::SYNC, SyncRequest { path: self.server_path(path) }.to_bytes(), WatchAction::None)?;
        Ok(())
    }

    pub fn get_all_children_number(&self, path: &str) -> Result<i32> {
        valid(path, false)?;
        let req = GetAllChildrenNumberRequest { path: self.server_path(path) };
        Ok(self
            .call_rec::<GetAllChildrenNumberResponse>(op::GET_ALL_CHILDREN_NUMBER, &req, WatchAction::None)?
            .total_number)
    }

    /// The session's ephemerals under `prefix`. As in the Java client 3.8, the prefix is sent and
    /// the paths are returned without chroot handling.
    pub fn get_ephemerals(&self, prefix: &str) -> Result<Vec<String>> {
        valid(prefix, false)?;
        let req = GetEphemeralsRequest { prefix_path: prefix.into() };
        Ok(self.call_rec::<GetEphemeralsResponse>(op::GET_EPHEMERALS, &req, WatchAction::None)?.ephemerals)
    }

    pub fn who_am_i(&self) -> Result<Vec<ClientInfo>> {
        let body = self.call(op::WHO_AM_I, Vec::new(), WatchAction::None)?;
        let r = WhoAmIResponse::from_bytes(&body).map_err(|_| SessionError::Keeper(ErrorCode::MarshallingError))?;
        Ok(r.client_info)
    }

    /// `addAuthInfo`: does not wait; a rejected identity ends the session with AuthFailed.
    pub fn add_auth(&self, scheme: &str, auth: Option<&[u8]>) {
        let _ = self.commands.send(Command::AddAuth { scheme: scheme.into(), auth: auth.map(<[u8]>::to_vec) });
    }

    pub fn add_watch(&self, path: &str, mode: AddWatchMode) -> Result<()> {
        valid(path, false)?;
        let reg = match mode {
            AddWatchMode::Persistent => Registration::Persistent(path.into()),
            AddWatchMode::PersistentRecursive => Registration::PersistentRecursive(path.into()),
        };
        let req = AddWatchRequest { path: self.server_path(path), mode: mode as i32 };
        self.call(op::ADD_WATCH, req.to_bytes(), WatchAction::Register(reg))?;
        Ok(())
    }

    /// `removeAllWatches(path, kind, local)`: `kind` is a `codes::watcher_type`. The removed
    /// watches are reported as events (DataWatchRemoved, ...).
    pub fn remove_watches(&self, path: &str, kind: i32, local: bool) -> Result<()> {
        valid(path, false)?;
        let req = RemoveWatchesRequest { path: self.server_path(path), kind };
        self.call(op::REMOVE_WATCHES, req.to_bytes(), WatchAction::Remove { path: path.into(), kind, local })?;
        Ok(())
    }

    /// A multi (client paths); the per-op results as the server gave them, with server paths
    /// (a failed multi is Ok, with error results).
    pub fn multi(&self, ops: &[super::Op]) -> Result<Vec<OpResult>> {
        let mut client_ops = Vec::with_capacity(ops.len());
        for o in ops {
            valid(o.path(), matches!(o, super::Op::Create { flags: 2 | 3 | 6, .. }))?;
            client_ops.push(o.to_client_op(self.server_path(o.path())));
        }
        let mut body = Vec::new();
        encode_multi_request(&client_ops, &mut body);
        let body = self.call(op::MULTI, body, WatchAction::None)?;
        decode_multi_response(&mut Reader::new(&body)).map_err(|_| SessionError::Keeper(ErrorCode::MarshallingError))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.pump.is_some() {
            self.close();
        }
    }
}

fn valid(path: &str, sequential: bool) -> Result<()> {
    super::paths::validate_path(path, sequential).map_err(SessionError::InvalidArgument)
}

// ---------------------------------------------------------------------------------------------
// The pump

/// An answered request waiting for its reply on the current connection.
struct Pending {
    xid: i32,
    op: i32,
    watch: WatchAction,
    reply: Sender<Result<Vec<u8>>>,
}

/// One TCP connection to a server, with its reader thread.
struct Conn {
    stream: Stream,
    /// reader → pump, FRAME_QUEUE_MAX, closed when the socket fails or is shut down.
    frames: Receiver<io::Result<Vec<u8>>>,
    reader: JoinHandle<()>,
    pending: VecDeque<Pending>,
    next_xid: i32,
    last_sent: Instant,
    last_heard: Instant,
    /// 2/3 of the negotiated session timeout, as in ClientCnxn.
    read_timeout: Duration,
}

/// How serving a connection ended.
enum Served {
    /// The connection failed; the session may go on elsewhere.
    Lost,
    /// The session ended (closed, auth failed); the pump stops. Requests still pending fail with
    /// this code, as the Java client fails them (SessionExpired after a close, AuthFailed).
    Ended(ErrorCode),
}

struct Pump {
    hosts: Vec<String>,
    next_host: usize,
    chroot: Option<String>,
    timeout_ms: i32,
    read_only: bool,
    sasl: Option<SaslLogin>,
    tls: Option<Arc<SecureClient>>,
    session_id: i64,
    passwd: Vec<u8>,
    last_zxid: i64,
    auths: Vec<(String, Option<Vec<u8>>)>,
    watches: WatchRegistry,
    /// session users → pump, COMMAND_QUEUE_MAX, closed when the Session is dropped.
    commands: Receiver<Command>,
    /// pump → the session's user, EVENT_QUEUE_MAX, closed when the pump ends.
    events: Sender<WatchedEvent>,
    /// The last state announced; a state event is sent only on a change (Java's EventThread).
    event_state: KeeperState,
    status: Arc<Mutex<Status>>,
    /// Requests made while no connection is up, sent once one is.
    waiting: VecDeque<Request>,
    /// A close asked for while no connection is up.
    closing: bool,
    /// Whether a connection attempt has been made yet.
    tried_once: bool,
    /// Dropped with the pump: see `Session::pump_ended`.
    _alive: Sender<()>,
}

impl Pump {
    fn run(mut self) {
        while let Some(conn) = self.connect_round() {
            if let Served::Ended(_) = self.serve(conn) {
                break;
            }
        }
        // Requests queued as the session ended fail as it ended.
        let code = ended_with(self.status.lock().expect("status lock").state);
        while let Ok(cmd) = self.commands.try_recv() {
            if let Command::Request(r) = cmd {
                let _ = r.reply.send(Err(code.into()));
            }
        }
    }

    fn set_state(&mut self, state: States) {
        let mut s = self.status.lock().expect("status lock");
        s.state = state;
        s.session_id = self.session_id;
    }

    fn announce(&mut self, state: KeeperState) {
        if state != self.event_state {
            self.event_state = state;
            self.emit(WatchedEvent::state(state));
        }
    }

    fn emit(&mut self, e: WatchedEvent) {
        // A user who dropped the receiver does not want events.
        let _ = self.events.send(e);
    }

    /// Tries every host once (from where the last round stopped). Returns the new connection, or
    /// `None` when the session ended meanwhile (closed by its user, or expired).
    ///
    /// A close waits for the attempt in progress, as in the Java client (which then ends the
    /// session on the server), but starts no new one; the session's first attempt counts as in
    /// progress from the start, as the Java client starts it when the session is created.
    fn connect_round(&mut self) -> Option<Conn> {
        loop {
            for _ in 0..self.hosts.len() {
                if !self.take_commands_while_connecting() {
                    return None;
                }
                if self.tried_once && self.closing {
                    self.end_closed();
                    return None;
                }
                self.tried_once = true;
                let host = self.hosts[self.next_host].clone();
                self.next_host = (self.next_host + 1) % self.hosts.len();
                match self.handshake(&host) {
                    Ok(Some(conn)) => return Some(conn),
                    Ok(None) => return None,
                    Err(e) => log::debug!("connecting to {host}: {e}"),
                }
            }
            // Every host failed: what waited for this round fails too (ConnectionLoss).
            for r in self.waiting.drain(..) {
                let _ = r.reply.send(Err(ErrorCode::ConnectionLoss.into()));
            }
            let pause_end = Instant::now() + HOST_ROUND_PAUSE;
            while !self.closing {
                let Some(left) = pause_end.checked_duration_since(Instant::now()) else { break };
                match self.commands.recv_timeout(left) {
                    Ok(cmd) => self.on_command_while_connecting(cmd),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => break,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        self.end_closed();
                        return None;
                    }
                }
            }
        }
    }

    /// Handles the commands that arrived while no connection is up; false once the session's
    /// user is gone (the session then ends).
    fn take_commands_while_connecting(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => self.on_command_while_connecting(cmd),
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    self.end_closed();
                    return false;
                }
            }
        }
    }

    fn on_command_while_connecting(&mut self, cmd: Command) {
        match cmd {
            Command::Request(r) => self.waiting.push_back(r),
            Command::AddAuth { scheme, auth } => self.auths.push((scheme, auth)),
            Command::Close => self.closing = true,
        }
    }

    /// The session ends by its user's wish: everything outstanding fails, Closed is announced.
    fn end_closed(&mut self) {
        self.set_state(States::Closed);
        for r in self.waiting.drain(..) {
            let _ = r.reply.send(Err(ErrorCode::SessionExpired.into()));
        }
        self.announce(KeeperState::Closed);
    }

    /// Connects to `host` and opens (or resumes) the session there. `Ok(None)`: the session has
    /// ended (the server said it expired, or refused the SASL login).
    fn handshake(&mut self, host: &str) -> io::Result<Option<Conn>> {
        let timeout =
            (Duration::from_millis(self.timeout_ms.max(0) as u64) / self.hosts.len() as u32).max(CONNECT_TIMEOUT_MIN);
        // Every address the name resolves to, in order (`localhost` may be ::1 and 127.0.0.1).
        let mut tried = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut connected = None;
        for addr in host.to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(t) => {
                    connected = Some(t);
                    break;
                }
                Err(e) => tried = e,
            }
        }
        let tcp = connected.ok_or(tried)?;
        tcp.set_nodelay(true)?;
        let mut stream = match &self.tls {
            // The certificate must name the host as given (a name or an address).
            Some(tls) => tls.connect(tcp, host.rsplit_once(':').map_or(host, |(h, _)| h).trim_matches(['[', ']']))?,
            None => Stream::plain(tcp),
        };
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: self.last_zxid,
            time_out: self.timeout_ms,
            session_id: self.session_id,
            passwd: Some(self.passwd.clone()),
            read_only: Some(self.read_only),
        };
        write_frame(&mut stream, &req.to_bytes())?;
        let resp = ConnectResponse::from_bytes(&read_frame(&mut stream)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if resp.time_out <= 0 {
            // Expired: no Closed event follows (the Java client's event thread stops here).
            self.set_state(States::Closed);
            for r in self.waiting.drain(..) {
                let _ = r.reply.send(Err(ErrorCode::SessionExpired.into()));
            }
            self.announce(KeeperState::Expired);
            return Ok(None);
        }
        self.session_id = resp.session_id;
        self.passwd = resp.passwd.unwrap_or_default();
        let read_only = resp.read_only == Some(true);
        let read_timeout = Duration::from_millis(resp.time_out as u64 * 2 / 3);
        self.set_state(if read_only { States::ConnectedReadOnly } else { States::Connected });
        self.announce(if read_only { KeeperState::ConnectedReadOnly } else { KeeperState::SyncConnected });
        let opened = self.open(stream, read_timeout);
        if opened.is_err() {
            // Lost after SyncConnected (during the SASL login, say): Disconnected, as the Java
            // client announces it, and the next connection announces SyncConnected again.
            self.set_state(States::Connecting);
            self.announce(KeeperState::Disconnected);
        }
        opened
    }

    /// The rest of a connection's set-up once the server has opened the session: the SASL login,
    /// the reader thread, then the identities, the watches and the requests that waited.
    /// `Ok(None)`: the SASL login was refused, which ends the session.
    fn open(&mut self, mut stream: Stream, read_timeout: Duration) -> io::Result<Option<Conn>> {
        let mut next_xid = 1;
        if let Some(login) = self.sasl.clone() {
            let cnonce = crate::auth::random_nonce()?;
            if let Err(code) = sasl_login(&mut stream, &login, cnonce, &mut next_xid)? {
                // As the Java client: AuthFailed ends the session; what waited fails with it.
                log::warn!("SASL authentication as {} failed: {code:?}", login.user);
                self.set_state(States::AuthFailed);
                for r in self.waiting.drain(..) {
                    let _ = r.reply.send(Err(ErrorCode::AuthFailed.into()));
                }
                self.announce(KeeperState::AuthFailed);
                return Ok(None);
            }
            self.announce(KeeperState::SaslAuthenticated);
        }
        stream.set_read_timeout(None)?;
        stream.set_write_timeout(Some(read_timeout))?;
        let (frames_tx, frames) = bounded(FRAME_QUEUE_MAX);
        let mut reader_stream = stream.try_clone()?;
        let reader = thread::Builder::new().name("zk-reader".into()).spawn(move || loop {
            let f = read_frame(&mut reader_stream);
            let failed = f.is_err();
            if frames_tx.send(f).is_err() || failed {
                return;
            }
        })?;
        let now = Instant::now();
        let mut conn = Conn {
            stream,
            frames,
            reader,
            pending: VecDeque::new(),
            next_xid,
            last_sent: now,
            last_heard: now,
            read_timeout,
        };
        // Auth first, then the watches, then what waited: the server handles them in order.
        for (scheme, auth) in self.auths.clone() {
            let p = AuthPacket { kind: 0, scheme, auth };
            send(&mut conn, XID_AUTH, op::AUTH, &p.to_bytes())?;
        }
        for (opc, body) in set_watches(&self.watches, self.chroot.as_deref(), self.last_zxid) {
            send(&mut conn, XID_SET_WATCHES, opc, &body)?;
        }
        while let Some(r) = self.waiting.pop_front() {
            self.send_request(&mut conn, r);
        }
        Ok(Some(conn))
    }

    fn send_request(&mut self, conn: &mut Conn, r: Request) {
        let xid = conn.next_xid;
        conn.next_xid = conn.next_xid.wrapping_add(1).max(1);
        // A failed write shows up as a failed read too; the reply then answers ConnectionLoss.
        let _ = send(conn, xid, r.op, &r.body);
        conn.pending.push_back(Pending { xid, op: r.op, watch: r.watch, reply: r.reply });
    }

    fn serve(&mut self, mut conn: Conn) -> Served {
        let outcome = loop {
            if self.closing {
                break self.close_on(&mut conn);
            }
            let ping_due = conn.last_sent + conn.read_timeout / 2;
            let dead_at = conn.last_heard + conn.read_timeout;
            let wake = ping_due.min(dead_at).saturating_duration_since(Instant::now());
            select! {
                recv(self.commands) -> cmd => match cmd {
                    Ok(Command::Request(r)) => self.send_request(&mut conn, r),
                    Ok(Command::AddAuth { scheme, auth }) => {
                        let p = AuthPacket { kind: 0, scheme: scheme.clone(), auth: auth.clone() };
                        self.auths.push((scheme, auth));
                        let _ = send(&mut conn, XID_AUTH, op::AUTH, &p.to_bytes());
                    }
                    Ok(Command::Close) | Err(_) => break self.close_on(&mut conn),
                },
                recv(conn.frames) -> f => match f {
                    Ok(Ok(frame)) => {
                        conn.last_heard = Instant::now();
                        if let Some(outcome) = self.on_frame(&mut conn, &frame) {
                            break outcome;
                        }
                    }
                    _ => break Served::Lost,
                },
                default(wake) => {
                    let now = Instant::now();
                    if now >= dead_at {
                        log::debug!("no answer from the server within {:?}", conn.read_timeout);
                        break Served::Lost;
                    }
                    if now >= ping_due {
                        let _ = send(&mut conn, XID_PING, op::PING, &[]);
                    }
                }
            }
        };
        let _ = conn.stream.shutdown(Shutdown::Both);
        drop(conn.frames);
        let _ = conn.reader.join();
        let lost_code = match outcome {
            Served::Lost => ErrorCode::ConnectionLoss,
            Served::Ended(code) => code,
        };
        for p in conn.pending.drain(..) {
            let result = self.finish(&p.watch, lost_code, Vec::new());
            let _ = p.reply.send(result);
        }
        if let Served::Lost = outcome {
            self.set_state(States::Connecting);
            self.announce(KeeperState::Disconnected);
        }
        outcome
    }

    /// Sends closeSession and waits (up to the read timeout) for its reply, handling whatever
    /// arrives before it.
    fn close_on(&mut self, conn: &mut Conn) -> Served {
        let (reply, _answer) = bounded(1);
        self.send_request(conn, Request { op: op::CLOSE_SESSION, body: Vec::new(), watch: WatchAction::None, reply });
        let deadline = Instant::now() + conn.read_timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match conn.frames.recv_timeout(left) {
                Ok(Ok(frame)) => {
                    if self.on_frame(conn, &frame).is_some() {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.end_closed();
        Served::Ended(ErrorCode::SessionExpired)
    }

    /// Handles one frame from the server; `Some` when it ends the connection or the session.
    fn on_frame(&mut self, conn: &mut Conn, frame: &[u8]) -> Option<Served> {
        let mut r = Reader::new(frame);
        let Ok(hdr) = ReplyHeader::read(&mut r) else { return Some(Served::Lost) };
        match hdr.xid {
            XID_NOTIFICATION => {
                let Ok(ev) = WatcherEvent::read(&mut r) else { return Some(Served::Lost) };
                // A type this client does not know is not delivered.
                let kind = EventType::from_code(ev.kind)?;
                let path = strip_chroot(self.chroot.as_deref(), &ev.path);
                if self.watches.materialize(kind, &path) {
                    self.emit(WatchedEvent { state: KeeperState::SyncConnected, kind, path: Some(path) });
                }
                None
            }
            XID_PING | XID_SET_WATCHES => None,
            XID_AUTH => {
                if hdr.err != ErrorCode::AuthFailed.code() {
                    return None;
                }
                // The Java client stops here too: no Disconnected, no Closed.
                self.set_state(States::AuthFailed);
                self.announce(KeeperState::AuthFailed);
                Some(Served::Ended(ErrorCode::AuthFailed))
            }
            xid => {
                let Some(p) = conn.pending.pop_front() else { return Some(Served::Lost) };
                if p.xid != xid {
                    log::warn!("reply xid {xid} for request xid {}", p.xid);
                    conn.pending.push_front(p);
                    return Some(Served::Lost);
                }
                if hdr.zxid > 0 {
                    self.last_zxid = hdr.zxid;
                }
                let code = ErrorCode::from_code(hdr.err).unwrap_or(ErrorCode::SystemError);
                let result = self.finish(&p.watch, code, r.rest().to_vec());
                let _ = p.reply.send(result);
                (p.op == op::CLOSE_SESSION).then_some(Served::Ended(ErrorCode::SessionExpired))
            }
        }
    }

    /// Applies a request's watch action for its outcome and returns what its caller gets.
    fn finish(&mut self, watch: &WatchAction, code: ErrorCode, body: Vec<u8>) -> Result<Vec<u8>> {
        match watch {
            WatchAction::None => {}
            WatchAction::Register(reg) => self.watches.register(reg, code),
            WatchAction::Remove { path, kind, local } => {
                let removed = self.watches.remove(path, *kind, *local, code)?;
                let state = match code {
                    ErrorCode::SessionExpired | ErrorCode::ConnectionLoss => KeeperState::Disconnected,
                    _ => KeeperState::SyncConnected,
                };
                for kind in removed {
                    self.emit(WatchedEvent { state, kind, path: Some(path.clone()) });
                }
                return Ok(body);
            }
        }
        if code == ErrorCode::Ok {
            Ok(body)
        } else {
            Err(code.into())
        }
    }
}

/// SetWatches (or SetWatches2 when persistent watches are in the batch) requests re-arming every
/// watch, in batches of about SET_WATCHES_BATCH_BYTES of paths (ClientCnxn.primeConnection).
fn set_watches(w: &WatchRegistry, chroot: Option<&str>, zxid: i64) -> Vec<(i32, Vec<u8>)> {
    let server = |set: &std::collections::BTreeSet<String>| -> Vec<String> {
        set.iter().map(|p| prepend_chroot(chroot, p)).collect()
    };
    let mut lists: [VecDeque<String>; 5] = [
        server(&w.data).into(),
        server(&w.exist).into(),
        server(&w.child).into(),
        server(&w.persistent).into(),
        server(&w.recursive).into(),
    ];
    let mut out = Vec::new();
    while lists.iter().any(|l| !l.is_empty()) {
        let mut batch: [Vec<String>; 5] = Default::default();
        let mut bytes = 0;
        while bytes < SET_WATCHES_BATCH_BYTES {
            let Some(i) = lists.iter().position(|l| !l.is_empty()) else { break };
            let p = lists[i].pop_front().expect("non-empty");
            bytes += p.len();
            batch[i].push(p);
        }
        let [data, exist, child, persistent, recursive] = batch;
        if persistent.is_empty() && recursive.is_empty() {
            let rec =
                SetWatches { relative_zxid: zxid, data_watches: data, exist_watches: exist, child_watches: child };
            out.push((op::SET_WATCHES, rec.to_bytes()));
        } else {
            let rec = SetWatches2 {
                relative_zxid: zxid,
                data_watches: data,
                exist_watches: exist,
                child_watches: child,
                persistent_watches: persistent,
                persistent_recursive_watches: recursive,
            };
            out.push((op::SET_WATCHES2, rec.to_bytes()));
        }
    }
    out
}

/// What a request fails with once the session has ended in `state`: AuthFailed after a failed
/// authentication (as the Java client fails requests in AUTH_FAILED), else SessionExpired (a
/// close or an expiry).
fn ended_with(state: States) -> ErrorCode {
    if state == States::AuthFailed {
        ErrorCode::AuthFailed
    } else {
        ErrorCode::SessionExpired
    }
}

/// `ZooKeeperSaslClient` with DIGEST-MD5, on a connection whose session is open and before
/// anything else is sent (the Java client holds other requests meanwhile): an empty first token
/// (the mechanism has no initial response), the digest-response to the server's challenge, then
/// the server's `rspauth` checked. `Err(code)`: the server refused (AUTHFAILED), or proved not to
/// know the password. `next_xid` moves past the xids used.
fn sasl_login<S: Read + Write>(
    s: &mut S,
    login: &SaslLogin,
    cnonce: String,
    next_xid: &mut i32,
) -> io::Result<std::result::Result<(), ErrorCode>> {
    let mut client = DigestMd5Client::new(&login.user, &login.password, cnonce, PROTOCOL, SERVER_NAME);
    let mut token = Vec::new();
    loop {
        let xid = *next_xid;
        *next_xid += 1;
        let mut b = RequestHeader { xid, op: op::SASL }.to_bytes();
        b.extend_from_slice(&GetSaslRequest { token: Some(token) }.to_bytes());
        write_frame(s, &b)?;
        let frame = read_frame(s)?;
        let mut r = Reader::new(&frame);
        let hdr = ReplyHeader::read(&mut r).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        if hdr.xid != xid {
            // Nothing else is outstanding before the login: a server that says otherwise is lost.
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("SASL reply xid {} for {xid}", hdr.xid)));
        }
        if hdr.err != 0 {
            return Ok(Err(ErrorCode::from_code(hdr.err).unwrap_or(ErrorCode::AuthFailed)));
        }
        let answer = SetSaslResponse::from_bytes(r.rest())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        match client.evaluate(&answer.token.unwrap_or_default()) {
            Ok(Some(next)) => token = next,
            Ok(None) if client.is_complete() => return Ok(Ok(())),
            Ok(None) => return Ok(Err(ErrorCode::AuthFailed)),
            Err(e) => {
                log::warn!("{e}");
                return Ok(Err(ErrorCode::AuthFailed));
            }
        }
    }
}

fn send(conn: &mut Conn, xid: i32, opc: i32, body: &[u8]) -> io::Result<()> {
    let mut b = RequestHeader { xid, op: opc }.to_bytes();
    b.extend_from_slice(body);
    conn.last_sent = Instant::now();
    write_frame(&mut conn.stream, &b)
}

fn write_frame(stream: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let mut b = Vec::with_capacity(body.len() + 4);
    b.put_i32(body.len() as i32);
    b.extend_from_slice(body);
    stream.write_all(&b)
}

fn read_frame(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if n < 0 || n as usize > FRAME_MAX {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame length {n}")));
    }
    let mut b = vec![0; n as usize];
    stream.read_exact(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_watches_uses_the_old_record_without_persistent_watches() {
        let mut w = WatchRegistry::default();
        w.data.insert("/a".into());
        w.child.insert("/".into());
        let reqs = set_watches(&w, Some("/app"), 7);
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].0, op::SET_WATCHES);
        let rec = SetWatches::from_bytes(&reqs[0].1).unwrap();
        assert_eq!(rec.relative_zxid, 7);
        assert_eq!(rec.data_watches, ["/app/a"]);
        assert_eq!(rec.child_watches, ["/app"]);

        w.recursive.insert("/r".into());
        let reqs = set_watches(&w, None, 7);
        assert_eq!(reqs[0].0, op::SET_WATCHES2);
        assert_eq!(SetWatches2::from_bytes(&reqs[0].1).unwrap().persistent_recursive_watches, ["/r"]);
    }

    #[test]
    fn set_watches_batches_long_lists() {
        let mut w = WatchRegistry::default();
        for i in 0..3000 {
            w.data.insert(format!("/{i:0>99}"));
        }
        let reqs = set_watches(&w, None, 0);
        assert_eq!(reqs.len(), 3, "300 kB of paths in ~128 kB batches");
        let total: usize = reqs.iter().map(|(_, b)| SetWatches::from_bytes(b).unwrap().data_watches.len()).sum();
        assert_eq!(total, 3000);
    }

    /// The pump ends (auth failed, say) just after a request was queued: the request stays in
    /// the bounded queue, its reply sender with it. The caller must get an error, not wait
    /// forever (rookery cli hung on exit after AuthFailed this way, about one run in 15).
    #[test]
    fn a_request_queued_as_the_pump_ends_fails_instead_of_waiting() {
        let (commands, commands_rx) = bounded::<Command>(4);
        let (alive, pump_ended) = bounded::<()>(0);
        let pump = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while commands_rx.is_empty() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            drop((commands_rx, alive));
        });
        let status = Arc::new(Mutex::new(Status { state: States::AuthFailed, session_id: 1 }));
        let mut session = Session { commands, status, chroot: None, pump: Some(pump), pump_ended };
        let (done, outcome) = bounded(1);
        let caller = thread::spawn(move || {
            let r = session.call(op::EXISTS, Vec::new(), WatchAction::None).map(|_| ());
            session.close();
            let _ = done.send(r);
        });
        let r = outcome.recv_timeout(Duration::from_secs(10)).expect("the call returned");
        assert!(matches!(r, Err(SessionError::Keeper(ErrorCode::AuthFailed))), "{r:?}");
        caller.join().unwrap();
    }
}
