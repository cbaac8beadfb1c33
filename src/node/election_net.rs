//! The election port's transport: ZooKeeper's `QuorumCnxManager` on blocking sockets and threads.
//!
//! It keeps at most one TCP connection to every other server and moves election notifications
//! over them. It decides nothing about the election: the `peer` thread hands it notifications to
//! send (`send`) and reads what arrives from its inbox, as `(sid, Notification, config)`.
//!
//! ```text
//!                 accept                  initial message read
//! [listener] ───────────────> [handshake] ──┬─ sid > mine: keep ───────┐
//!                                           └─ sid < mine: close, dial back ──┐
//!                                                                             v
//! send(to) ─> send queue of `to` (newest only) ─ no connection? ─> [dialer] ─ connect, write our
//!                 │                                                   initial message ─┬─ to < mine: keep
//!                 v                                                                    └─ to > mine: close
//!             [sender sid] ── frames ──> TCP ──> [receiver sid] ── decoded ──> inbox
//! ```
//!
//! The rules, as in `QuorumCnxManager`:
//!
//! - **The connector speaks first.** It writes the initial message (`wire::encode_initial_message`,
//!   protocol V2 with the address text given to `start`); the acceptor reads it (accepting V1, V2
//!   and the bare sid of a pre-3.4.6 peer) and writes nothing back.
//! - **Only connections from the higher sid to the lower survive.** An acceptor that hears from a
//!   lower sid closes the socket, drops any connection it still has to that sid (the peer would not
//!   dial if it had one), and dials back: to the addresses the initial message announced (wildcards
//!   left out), then to the configured one. A dialer that reaches a higher sid still writes its
//!   initial message, then closes: the higher sid dials back. So every pair settles on one
//!   connection, opened by the higher sid. When both dial at once this takes one extra round: the
//!   higher sid keeps its own connection until the lower sid's initial message arrives, then drops
//!   it and dials again.
//! - **One connection per peer.** A new connection for a sid replaces (closes) the old one.
//! - **Newest message wins.** Each peer has a send queue of capacity one (`SEND_CAPACITY`): an
//!   unsent notification is replaced by a newer one. A sender thread that starts on a new
//!   connection with an empty queue re-sends the last message it sent to that peer
//!   (`lastMessageSent`), because the old connection may have lost it; a message taken from the
//!   queue by a sender whose connection then fails is put back if nothing newer is waiting.
//! - **Frames** are `int length; byte payload[length]` with `0 < length <= PACKET_MAX_SIZE`. A bad
//!   length closes the connection; a payload that does not decode as a notification is dropped
//!   with a log line and the connection stays, as `FastLeaderElection.WorkerReceiver` does.
//! - **Nothing blocks `send`.** It queues and, if there is no connection, starts a dialer thread;
//!   the dial has a timeout (`CONNECT_TIMEOUT`, ZooKeeper's `cnxTO`).
//!
//! Where this differs from ZooKeeper, it is to bound what a stranger on the port can do: the
//! initial message is read in a thread of its own (ZooKeeper reads it in the listener, so one
//! stalled connection holds up all others) under one deadline for the whole message; handshakes
//! and dials in flight are capped; a sid that claims to be ourselves or `OBSERVER_ID` (ZooKeeper
//! gives observers synthetic negative ids, which our `u64` sids cannot carry) is closed; unknown
//! sids (observers, servers a reconfig added) are accepted, as in ZooKeeper, but only
//! `UNKNOWN_PEERS_MAX` of them at a time. Because handshakes run in parallel, an accepted
//! connection never replaces one accepted after it (ZooKeeper gets that order for free).
//!
//! Two races that ZooKeeper leaves to FLE's re-sends are closed here, because both can leave a
//! pair with no connection and a message stuck in a queue: a dialer leaves the in-flight set in
//! the same locked step as it registers (so a dial-back asked for a moment later is not skipped),
//! and a sender records its message as the last sent only while its connection is still the
//! current one (otherwise it puts the message back for the next connection).
//!
//! Shutdown closes every socket and drops every channel the threads wait on, then joins them all.
//! When it returns, the net no longer holds the inbox's sender.

use super::stream::Stream;
use super::tls::QuorumTls;
use crate::auth::quorum::QuorumSasl;
use crate::election::wire::{self, ElectionAddr, InitialMessage, Notification, WireError};
use crate::election::wire::{INITIAL_ADDRESS_LEN_MAX, INITIAL_MESSAGE_HEAD_LEN, OBSERVER_ID, PACKET_MAX_SIZE};
use crate::ids::ServerId;
use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use log::{debug, info, warn};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the net delivers: the sender's sid (from its connection's initial message), the
/// notification, and the QuorumVerifier text that came with it (format version 2 and later).
pub type Inbound = (ServerId, Notification, Option<Vec<u8>>);

/// Unsent messages kept per peer (`QuorumCnxManager.SEND_CAPACITY`): only the newest, so a peer
/// that comes back hears our current vote rather than a backlog of stale ones.
pub const SEND_QUEUE_CAPACITY: usize = 1;
/// How long a dial may take (`cnxTO`, the `zookeeper.cnxTimeout` default).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an accepted connection may take to deliver its whole initial message, and a dialer
/// to write ours. ZooKeeper allows tickTime × syncLimit (10 s by default) for each read.
pub const INITIAL_MESSAGE_TIMEOUT: Duration = Duration::from_secs(5);
/// The initial message protocol we send. V2 (multi-address) is understood by ZooKeeper 3.6 and
/// later; ZooKeeper itself sends V1 unless `multiAddress.enabled`, and we accept both.
pub const INITIAL_PROTOCOL_VERSION: i64 = wire::PROTOCOL_VERSION_V2;
/// Accepted connections whose initial message is still being read; more are closed at once.
pub const HANDSHAKES_MAX: usize = 16;
/// Dials in flight, one per sid at most (ZooKeeper's `quorumCnxnThreadsSize` default is 20).
pub const DIALS_MAX: usize = 20;
/// Sids outside the configured peers (observers, servers added by a reconfig) that may hold a
/// send queue or a connection at the same time.
pub const UNKNOWN_PEERS_MAX: usize = 64;
/// The read buffer of one receiver thread.
pub const RECV_BUFFER_BYTES: usize = 8 * 1024;
/// The pause after a failed `accept` (say, out of file descriptors), so the listener does not spin.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// How long `shutdown` tries to reach its own listener to wake it from `accept`.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

const _: () = assert!(SEND_QUEUE_CAPACITY == 1, "newest-wins needs a queue of one");
const _: () = assert!(HANDSHAKES_MAX >= 1 && DIALS_MAX >= 1 && UNKNOWN_PEERS_MAX >= 1);
const _: () = assert!(RECV_BUFFER_BYTES >= INITIAL_MESSAGE_HEAD_LEN && RECV_BUFFER_BYTES <= PACKET_MAX_SIZE);
const _: () = assert!(INITIAL_MESSAGE_TIMEOUT.as_millis() > 0 && CONNECT_TIMEOUT.as_millis() > 0);

/// One established connection, as `connections` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConnection {
    pub sid: ServerId,
    /// Our end of the TCP connection: our election port if the peer dialed us.
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// The election transport of one server. Dropping it shuts it down, as `shutdown` does.
pub struct ElectionNet {
    shared: Arc<Shared>,
    /// The accept loop; taken (and joined) by the shutdown.
    listener: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
}

/// What every thread of one net shares.
struct Shared {
    my_id: ServerId,
    /// Our initial message, encoded once at start.
    initial_message: Vec<u8>,
    /// Receiver threads (and `send` to ourselves) → the owner of the net. Its capacity is the
    /// caller's; a full inbox holds up the receiver threads, which keeps TCP's own back-pressure.
    /// Dropped with the last thread after shutdown.
    inbox: Sender<Inbound>,
    /// Set once by the shutdown, read by the listener after each accept, and under `state`'s lock
    /// by everything that would start a thread or register a socket.
    stopping: AtomicBool,
    state: Mutex<State>,
    /// `sslQuorum=true`: every election connection is TLS.
    tls: Option<Arc<QuorumTls>>,
    /// `quorum.auth.enableSasl=true`: peers log in after the initial message.
    sasl: Option<Arc<QuorumSasl>>,
}

/// The mutable part, under one lock. No one holds it across a blocking call.
struct State {
    /// The configured election addresses: `start`, then `set_peer`. Read by dials.
    peers: BTreeMap<ServerId, SocketAddr>,
    /// Per sid: its queue (`queueSendMap`) and last message (`lastMessageSent`). Created by `send`
    /// and by registering a connection; kept for configured peers, removed for unknown sids when
    /// their connection ends.
    queues: BTreeMap<ServerId, SendQueue>,
    /// The live connection per sid (`senderWorkerMap`). Registered by handshakes and dialers,
    /// removed by its own worker threads (`finish`), a replacement, or the shutdown.
    connections: BTreeMap<ServerId, Connection>,
    /// Sids with a dialer thread running (`inprogressConnections`), at most `DIALS_MAX`, each
    /// with the id of its dial. A dialer leaves in the same locked step as it registers its
    /// connection, so that a dial-back asked for right after (say, when the peer's own dial to us
    /// arrives and we drop what we have) is never skipped as "already dialing".
    dialing: BTreeMap<ServerId, u64>,
    /// Handshake threads running, at most `HANDSHAKES_MAX`.
    handshakes: usize,
    /// Sockets of handshakes and dials not yet registered, so the shutdown can cut them.
    pending: BTreeMap<u64, Stream>,
    /// Every thread started after the listener, reaped when a new one starts and joined by the
    /// shutdown. At most 2 per connection plus the handshakes and dials in flight.
    threads: Vec<JoinHandle<()>>,
    /// Ids for connections and pending sockets.
    next_id: u64,
}

/// A peer's send queue: `send` replaces its content, the current connection's sender drains it.
struct SendQueue {
    tx: Sender<Arc<Vec<u8>>>,
    /// `send`'s handle to drop the unsent message when a newer one comes (the sender has a clone).
    rx: Receiver<Arc<Vec<u8>>>,
    /// The last frame a sender took to write (`lastMessageSent`).
    last_sent: Option<Arc<Vec<u8>>>,
}

impl SendQueue {
    fn new() -> SendQueue {
        let (tx, rx) = bounded(SEND_QUEUE_CAPACITY);
        SendQueue { tx, rx, last_sent: None }
    }

    /// `CircularBlockingQueue.offer`: drop the oldest if full. Callers hold the state lock, so no
    /// other producer can fill the slot between the pop and the push.
    fn offer(&self, frame: Arc<Vec<u8>>) {
        if let Err(TrySendError::Full(frame)) = self.tx.try_send(frame) {
            let _ = self.rx.try_recv();
            let pushed = self.tx.try_send(frame);
            assert!(pushed.is_ok(), "the only producer just made room");
        }
    }
}

/// How a connection came to be, for `register`.
#[derive(Clone, Copy, Debug)]
enum Origin {
    /// We dialed it; the dial's id.
    Dialed(u64),
    /// The listener accepted it; its place in the accept order.
    Accepted(u64),
}

/// The registry's side of one connection.
struct Connection {
    id: u64,
    origin: Origin,
    /// A handle to shut the socket down, which ends the receiver's blocking read.
    stream: Stream,
    local: SocketAddr,
    remote: SocketAddr,
    /// Never sent on. Dropping it (the connection is finished or replaced) disconnects the
    /// channel the sender and the receiver thread select on, and they end.
    _stop: Sender<()>,
}

impl Connection {
    fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn unknown_sids(&self) -> usize {
        let mut sids: BTreeSet<ServerId> = self.queues.keys().copied().collect();
        sids.extend(self.connections.keys().copied());
        sids.iter().filter(|sid| !self.peers.contains_key(sid)).count()
    }

    /// Whether `sid` may get a send queue: always for a configured peer, within the bound otherwise.
    fn admit(&mut self, sid: ServerId) -> bool {
        if self.queues.contains_key(&sid) {
            return true;
        }
        if !self.peers.contains_key(&sid) && self.unknown_sids() >= UNKNOWN_PEERS_MAX {
            return false;
        }
        self.queues.insert(sid, SendQueue::new());
        true
    }

    /// Starts a thread and keeps its handle, first joining those that have ended.
    fn spawn(&mut self, name: String, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let (done, running): (Vec<_>, Vec<_>) = self.threads.drain(..).partition(|t| t.is_finished());
        self.threads = running;
        for t in done {
            let _ = t.join();
        }
        let handle = thread::Builder::new().name(name).spawn(f)?;
        self.threads.push(handle);
        Ok(())
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("election net state lock")
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

impl ElectionNet {
    /// Listens on `listen` (this server's election port; port 0 picks one, see `local_addr`) and
    /// connects to peers on demand. `my_election_addr_text` is what our initial message announces,
    /// `host:port` (or `h1:p1|h2:p2`): the address peers dial back; a port 0 there stands for the
    /// port the listener got. `peers` are the others' election addresses (an entry for `my_id` is
    /// ignored). Every notification received and decoded goes to `inbox`.
    pub fn start(
        my_id: ServerId,
        my_election_addr_text: String,
        listen: SocketAddr,
        peers: BTreeMap<ServerId, SocketAddr>,
        inbox: Sender<Inbound>,
    ) -> io::Result<ElectionNet> {
        ElectionNet::start_secured(my_id, my_election_addr_text, listen, peers, inbox, None, None)
    }

    /// [`ElectionNet::start`], with TLS on every connection when `tls` is given (`sslQuorum`),
    /// and quorum SASL after each initial message when `sasl` is (`quorum.auth.enableSasl`).
    pub fn start_secured(
        my_id: ServerId,
        my_election_addr_text: String,
        listen: SocketAddr,
        peers: BTreeMap<ServerId, SocketAddr>,
        inbox: Sender<Inbound>,
        tls: Option<Arc<QuorumTls>>,
        sasl: Option<Arc<QuorumSasl>>,
    ) -> io::Result<ElectionNet> {
        assert!(my_id != OBSERVER_ID, "a server with an id announces it");
        let mut addrs = parse_addr_list(&my_election_addr_text)?;
        let listener = TcpListener::bind(listen)?;
        let local_addr = listener.local_addr()?;
        for addr in addrs.iter_mut().filter(|a| a.port == 0) {
            addr.port = local_addr.port();
        }
        let initial_message = wire::encode_initial_message(INITIAL_PROTOCOL_VERSION, my_id, &addrs)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let announced = addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("|");
        let mut peers = peers;
        peers.remove(&my_id);
        let state = State {
            peers,
            queues: BTreeMap::new(),
            connections: BTreeMap::new(),
            dialing: BTreeMap::new(),
            handshakes: 0,
            pending: BTreeMap::new(),
            threads: Vec::new(),
            next_id: 0,
        };
        let shared = Arc::new(Shared {
            my_id,
            initial_message,
            inbox,
            stopping: AtomicBool::new(false),
            state: Mutex::new(state),
            tls,
            sasl,
        });
        let for_listener = Arc::clone(&shared);
        let listener = thread::Builder::new()
            .name(format!("election-listener-{my_id}"))
            .spawn(move || run_listener(for_listener, listener))?;
        info!("server {my_id} is accepting election connections on {local_addr}, announcing {announced}");
        Ok(ElectionNet { shared, listener: Some(listener), local_addr })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Sets (or changes) the election address of server `sid`, for the next dial to it.
    pub fn set_peer(&self, sid: ServerId, addr: SocketAddr) {
        if sid == self.shared.my_id {
            return;
        }
        self.shared.lock().peers.insert(sid, addr);
    }

    /// Queues `n` (with our QuorumVerifier text `config`) for server `to` and returns at once
    /// (`toSend`). Only the newest unsent message per peer is kept. If there is no connection to
    /// `to`, a dial starts. A message to ourselves goes straight to the inbox (ZooKeeper's
    /// loopback), or is dropped if the inbox is full.
    pub fn send(&self, to: ServerId, n: &Notification, config: &[u8]) {
        let shared = &self.shared;
        if to == shared.my_id {
            if let Err(TrySendError::Full(_)) = shared.inbox.try_send((to, *n, Some(config.to_vec()))) {
                warn!("election inbox full: dropping our own notification");
            }
            return;
        }
        let payload = wire::encode_notification(n, config);
        let frame = Arc::new(wire::frame(&payload));
        let mut st = shared.lock();
        if shared.stopping() {
            return;
        }
        if !st.admit(to) {
            warn!("not sending to server {to}: already {UNKNOWN_PEERS_MAX} unknown server ids");
            return;
        }
        st.queues[&to].offer(frame);
        connect_one(shared, &mut st, to, Vec::new());
    }

    /// Dials every configured peer that has no connection and no dial in flight (`connectAll`).
    pub fn connect_all(&self) {
        let shared = &self.shared;
        let mut st = shared.lock();
        let sids: Vec<ServerId> = st.peers.keys().copied().collect();
        for sid in sids {
            connect_one(shared, &mut st, sid, Vec::new());
        }
    }

    /// Whether there is a connection to `sid` (`connectedToPeer`).
    pub fn is_connected(&self, sid: ServerId) -> bool {
        self.shared.lock().connections.contains_key(&sid)
    }

    /// The established connections, by sid.
    pub fn connections(&self) -> Vec<PeerConnection> {
        let st = self.shared.lock();
        st.connections.iter().map(|(&sid, c)| PeerConnection { sid, local: c.local, remote: c.remote }).collect()
    }

    /// Stops every thread and closes every socket, and returns when all threads have ended.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(listener) = self.listener.take() else {
            return;
        };
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::Release);
        // std's listener cannot be closed from another thread: wake its accept with a connection
        // of our own, after which it sees `stopping` and returns.
        let addr = wake_addr(self.local_addr);
        if TcpStream::connect_timeout(&addr, WAKE_TIMEOUT).is_ok() {
            let _ = listener.join();
        } else {
            warn!("could not reach our election listener at {addr} to stop it; leaving that thread behind");
        }
        // Under the lock no new thread starts (everyone checks `stopping` there first).
        let threads = {
            let mut st = shared.lock();
            for (_, conn) in std::mem::take(&mut st.connections) {
                conn.close();
            }
            // Dropping the queues disconnects the channels the senders wait on.
            st.queues.clear();
            for (_, stream) in std::mem::take(&mut st.pending) {
                let _ = stream.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut st.threads)
        };
        // A dialer still inside `connect` ends when it times out (CONNECT_TIMEOUT at most).
        for t in threads {
            let _ = t.join();
        }
        info!("server {}: election net stopped", shared.my_id);
    }
}

impl Drop for ElectionNet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where to connect to reach our own listener: its address, with a wildcard IP made loopback.
fn wake_addr(local: SocketAddr) -> SocketAddr {
    match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), local.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), local.port()),
        _ => local,
    }
}

/// Parses `host:port`, `[v6]:port`, or a `|` list of them, for our own initial message.
fn parse_addr_list(text: &str) -> io::Result<Vec<ElectionAddr>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad election address text {text:?}"));
    let mut out = Vec::new();
    for piece in text.split('|') {
        let (host, port) = piece.rsplit_once(':').ok_or_else(bad)?;
        let host = match host.strip_prefix('[') {
            Some(rest) => rest.strip_suffix(']').ok_or_else(bad)?,
            None if host.contains(':') => return Err(bad()),
            None => host,
        };
        let port = port.parse::<u16>().map_err(|_| bad())?;
        if host.is_empty() {
            return Err(bad());
        }
        out.push(ElectionAddr { host: host.to_string(), port });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Accepting: the listener and the handshake threads (`Listener`, `receiveConnection`)

fn run_listener(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = listener.accept();
        if shared.stopping() {
            break;
        }
        let accepted = accepted.and_then(|(tcp, remote)| match &shared.tls {
            // The handshake runs on the handshake thread, with the initial message.
            Some(t) => Ok((t.accept(tcp)?, remote)),
            None => Ok((Stream::plain(tcp), remote)),
        });
        let (stream, remote) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                warn!("server {}: election accept failed: {e}", shared.my_id);
                thread::sleep(ACCEPT_ERROR_BACKOFF);
                continue;
            }
        };
        let mut st = shared.lock();
        if st.handshakes >= HANDSHAKES_MAX {
            warn!("closing election connection from {remote}: already {HANDSHAKES_MAX} initial messages being read");
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(cut) = stream.try_clone() else {
            warn!("closing election connection from {remote}: cannot clone its socket");
            continue;
        };
        let pending_id = st.next_id();
        st.pending.insert(pending_id, cut);
        st.handshakes += 1;
        let for_thread = Arc::clone(&shared);
        let spawned = st.spawn(format!("election-handshake-{remote}"), move || {
            receive_connection(&for_thread, stream, remote, pending_id);
            let mut st = for_thread.lock();
            st.pending.remove(&pending_id);
            st.handshakes -= 1;
        });
        if let Err(e) = spawned {
            warn!("closing election connection from {remote}: cannot start a thread: {e}");
            if let Some(s) = st.pending.remove(&pending_id) {
                let _ = s.shutdown(Shutdown::Both);
            }
            st.handshakes -= 1;
        }
    }
    debug!("server {}: election listener leaving", shared.my_id);
}

/// Why an accepted connection was closed before it was of any use.
#[derive(Debug)]
enum HandshakeError {
    Wire(WireError),
    Io(io::Error),
    /// The peer sent less than a whole initial message within `INITIAL_MESSAGE_TIMEOUT`.
    Stalled {
        have: usize,
        needed: usize,
    },
    /// The peer closed the connection inside the initial message.
    Closed {
        have: usize,
        needed: usize,
    },
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Wire(e) => write!(f, "{e}"),
            HandshakeError::Io(e) => write!(f, "{e}"),
            HandshakeError::Stalled { have, needed } => write!(
                f,
                "initial message incomplete after {} ms ({have} of {needed} bytes)",
                INITIAL_MESSAGE_TIMEOUT.as_millis()
            ),
            HandshakeError::Closed { have, needed } => {
                write!(f, "connection closed inside the initial message ({have} of {needed} bytes)")
            }
        }
    }
}

/// Reads exactly one initial message, never a byte of the frames that may follow it.
fn read_initial_message(stream: &mut Stream) -> Result<InitialMessage, HandshakeError> {
    let deadline = Instant::now() + INITIAL_MESSAGE_TIMEOUT;
    let mut buf = Vec::with_capacity(INITIAL_MESSAGE_HEAD_LEN + INITIAL_ADDRESS_LEN_MAX);
    loop {
        let needed = match wire::decode_initial_message(&buf) {
            Ok(message) => return Ok(message),
            Err(WireError::Incomplete { needed }) => needed,
            Err(e) => return Err(HandshakeError::Wire(e)),
        };
        assert!(needed > buf.len() && needed <= INITIAL_MESSAGE_HEAD_LEN + INITIAL_ADDRESS_LEN_MAX);
        let have = buf.len();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandshakeError::Stalled { have, needed });
        }
        stream.set_read_timeout(Some(left)).map_err(HandshakeError::Io)?;
        buf.resize(needed, 0);
        match stream.read(&mut buf[have..]) {
            Ok(0) => return Err(HandshakeError::Closed { have, needed }),
            Ok(n) => buf.truncate(have + n),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(HandshakeError::Stalled { have, needed });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(have),
            Err(e) => return Err(HandshakeError::Io(e)),
        }
    }
}

/// `receiveConnection` + `handleConnection`: the tie-break for a connection someone opened to us.
/// `accepted` is the connection's place in the accept order.
fn receive_connection(shared: &Arc<Shared>, mut stream: Stream, remote: SocketAddr, accepted: u64) {
    let my_id = shared.my_id;
    let _ = stream.set_nodelay(true);
    let message = match read_initial_message(&mut stream) {
        Ok(message) => message,
        Err(e) => {
            warn!("server {my_id}: closing election connection from {remote}: {e}");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };
    let sid = message.sid();
    // `authServer.authenticate`, whatever becomes of the connection next, as ZooKeeper does.
    let first = match authenticate_server(shared, &mut stream) {
        Ok(first) => first,
        Err(e) => {
            warn!("server {my_id}: closing election connection from server {sid} at {remote}: {e}");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    };
    let announced = match message {
        InitialMessage::BareSid(_) => Vec::new(),
        InitialMessage::Versioned { election_addrs, .. } => election_addrs,
    };
    if sid == OBSERVER_ID {
        warn!("server {my_id}: closing election connection from {remote}: an observer without a server id");
        let _ = stream.shutdown(Shutdown::Both);
    } else if sid == my_id {
        // ZOOKEEPER-2164: a configuration error, or a bug. ZooKeeper leaves the socket open.
        warn!("server {my_id}: closing election connection from {remote}, which claims our own id");
        let _ = stream.shutdown(Shutdown::Both);
    } else if sid < my_id {
        // The peer would not dial if it had a live connection to us: whatever we hold is stale.
        info!("server {my_id}: connection from lower server {sid} at {remote}: closing it and dialing back");
        let _ = stream.shutdown(Shutdown::Both);
        let mut st = shared.lock();
        if let Some(old) = st.connections.remove(&sid) {
            old.close();
        }
        connect_one(shared, &mut st, sid, announced);
    } else {
        if let Err(e) = stream.set_read_timeout(None) {
            warn!("server {my_id}: closing election connection from server {sid}: {e}");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
        debug!("server {my_id}: election connection from server {sid} at {remote}");
        register(shared, sid, stream, first, Origin::Accepted(accepted));
    }
}

// ---------------------------------------------------------------------------------------------
// Dialing (`connectOne`, `initiateConnection`, `startConnection`)

/// Starts a dialer for `sid` unless it has a connection or a dial in flight. `announced` are
/// the addresses its initial message named (tried first, as ZooKeeper does), then the configured one.
fn connect_one(shared: &Arc<Shared>, st: &mut State, sid: ServerId, announced: Vec<ElectionAddr>) {
    if shared.stopping() || st.connections.contains_key(&sid) || st.dialing.contains_key(&sid) {
        return;
    }
    if announced.is_empty() && !st.peers.contains_key(&sid) {
        debug!("server {}: no election address for server {sid}", shared.my_id);
        return;
    }
    if st.dialing.len() >= DIALS_MAX {
        warn!("server {}: not dialing server {sid}: already {DIALS_MAX} dials in flight", shared.my_id);
        return;
    }
    let dial = st.next_id();
    st.dialing.insert(sid, dial);
    let for_thread = Arc::clone(shared);
    let spawned = st.spawn(format!("election-dial-{sid}"), move || {
        initiate_connection(&for_thread, sid, dial, announced);
        end_dial(&mut for_thread.lock(), sid, dial);
    });
    if let Err(e) = spawned {
        warn!("server {}: cannot start a thread to dial server {sid}: {e}", shared.my_id);
        end_dial(st, sid, dial);
    }
}

/// Forgets dial `dial` to `sid`, unless a newer dial has taken its place.
fn end_dial(st: &mut State, sid: ServerId, dial: u64) {
    if st.dialing.get(&sid) == Some(&dial) {
        st.dialing.remove(&sid);
    }
}

/// Resolves the addresses to try, leaving out wildcards (`InitialMessage.isWildcardAddress`).
fn dial_targets(shared: &Shared, sid: ServerId, announced: &[ElectionAddr]) -> Vec<SocketAddr> {
    let mut targets = Vec::new();
    for a in announced {
        match (a.host.as_str(), a.port).to_socket_addrs() {
            Ok(found) => targets.extend(found.filter(|s| !s.ip().is_unspecified())),
            Err(e) => info!("server {}: cannot resolve {a} announced by server {sid}: {e}", shared.my_id),
        }
    }
    if let Some(configured) = shared.lock().peers.get(&sid).copied() {
        if !targets.contains(&configured) {
            targets.push(configured);
        }
    }
    targets
}

fn initiate_connection(shared: &Arc<Shared>, sid: ServerId, dial: u64, announced: Vec<ElectionAddr>) {
    let my_id = shared.my_id;
    let targets = dial_targets(shared, sid, &announced);
    let mut stream = None;
    for addr in &targets {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT).and_then(|tcp| open_dialed(shared, tcp)) {
            Ok(s) => {
                stream = Some((s, *addr));
                break;
            }
            Err(e) => info!("server {my_id}: cannot open channel to {sid} at election address {addr}: {e}"),
        }
    }
    let Some((mut stream, addr)) = stream else {
        return;
    };
    // Register the socket so that a shutdown during the write can cut it.
    let pending_id = {
        let mut st = shared.lock();
        if shared.stopping() {
            return;
        }
        let Ok(cut) = stream.try_clone() else {
            warn!("server {my_id}: cannot clone the socket to server {sid}");
            return;
        };
        let id = st.next_id();
        st.pending.insert(id, cut);
        id
    };
    let written = start_connection(shared, &mut stream);
    let logged_in = written.is_ok().then(|| authenticate_learner(shared, &mut stream));
    shared.lock().pending.remove(&pending_id);
    if let Err(e) = written {
        warn!("server {my_id}: cannot write our initial message to server {sid} at {addr}: {e}");
        let _ = stream.shutdown(Shutdown::Both);
    } else if let Some(Err(e)) = logged_in {
        warn!("server {my_id}: quorum SASL login to server {sid} at {addr} failed: {e}");
        let _ = stream.shutdown(Shutdown::Both);
    } else if sid > my_id {
        info!("server {my_id}: have smaller server identifier, so dropping the connection: ({my_id} --> {sid})");
        let _ = stream.shutdown(Shutdown::Both);
    } else {
        debug!("server {my_id}: dialed server {sid} at {addr}");
        register(shared, sid, stream, Vec::new(), Origin::Dialed(dial));
    }
}

/// A dialed connection, with the TLS handshake done under sslQuorum (so that the initial
/// message is on the wire before anything may close the connection).
fn open_dialed(shared: &Shared, tcp: TcpStream) -> io::Result<Stream> {
    let Some(tls) = &shared.tls else { return Ok(Stream::plain(tcp)) };
    let stream = tls.connect(tcp)?;
    stream.set_read_timeout(Some(INITIAL_MESSAGE_TIMEOUT))?;
    stream.complete_handshake().map_err(|e| io::Error::other(format!("TLS handshake: {e}")))?;
    stream.set_read_timeout(None)?;
    Ok(stream)
}

/// `authLearner.authenticate` after our initial message, bounded in time.
fn authenticate_learner(shared: &Shared, stream: &mut Stream) -> io::Result<()> {
    let Some(sasl) = &shared.sasl else { return Ok(()) };
    stream.set_read_timeout(Some(INITIAL_MESSAGE_TIMEOUT))?;
    sasl.authenticate_learner(stream, crate::auth::random_nonce()?)?;
    stream.set_read_timeout(None)
}

/// `authServer.authenticate` after the peer's initial message, bounded in time; the bytes read
/// that were not a login (a peer that does not log in, when that is allowed).
fn authenticate_server(shared: &Shared, stream: &mut Stream) -> io::Result<Vec<u8>> {
    let Some(sasl) = &shared.sasl else { return Ok(Vec::new()) };
    stream.set_read_timeout(Some(INITIAL_MESSAGE_TIMEOUT))?;
    let first = sasl.authenticate_server(stream, crate::auth::random_nonce()?)?;
    stream.set_read_timeout(None)?;
    Ok(first)
}

/// Writes our initial message, bounded in time, and leaves the socket ready for frames.
fn start_connection(shared: &Shared, stream: &mut Stream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(INITIAL_MESSAGE_TIMEOUT))?;
    stream.write_all(&shared.initial_message)?;
    stream.flush()?;
    stream.set_write_timeout(None)
}

// ---------------------------------------------------------------------------------------------
// Connections and their workers (`SendWorker`, `RecvWorker`)

/// Makes `stream` the connection to `sid`, replacing any other, and starts its two workers.
///
/// Handshakes run in parallel, so two connections a peer opened one after the other can finish
/// theirs in the other order; the one accepted later wins. (ZooKeeper reads initial messages one
/// at a time in its listener, which keeps them in order.) Dials to one sid never overlap.
/// `first`: bytes of the peer's first frame already read (by a SASL check it did not answer).
fn register(shared: &Arc<Shared>, sid: ServerId, stream: Stream, first: Vec<u8>, origin: Origin) {
    let my_id = shared.my_id;
    let (local, remote) = match (stream.local_addr(), stream.peer_addr()) {
        (Ok(local), Ok(remote)) => (local, remote),
        (Err(e), _) | (_, Err(e)) => {
            info!("server {my_id}: connection to server {sid} gone before it started: {e}");
            return;
        }
    };
    let (Ok(cut), Ok(writer)) = (stream.try_clone(), stream.try_clone()) else {
        warn!("server {my_id}: cannot clone the socket of server {sid}; closing it");
        let _ = stream.shutdown(Shutdown::Both);
        return;
    };
    let mut st = shared.lock();
    if let Origin::Dialed(dial) = origin {
        end_dial(&mut st, sid, dial);
    }
    if shared.stopping() {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    if !st.admit(sid) {
        warn!("server {my_id}: closing connection from server {sid}: already {UNKNOWN_PEERS_MAX} unknown server ids");
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    if let (Some(Origin::Accepted(current)), Origin::Accepted(new)) =
        (st.connections.get(&sid).map(|c| c.origin), origin)
    {
        if current > new {
            debug!("server {my_id}: an older connection from server {sid} finished its handshake late; closing it");
            let _ = stream.shutdown(Shutdown::Both);
            return;
        }
    }
    let queue = st.queues[&sid].rx.clone();
    let (stop_tx, stop_rx) = bounded::<()>(0);
    let id = st.next_id();
    let conn = Connection { id, origin, stream: cut, local, remote, _stop: stop_tx };
    if let Some(old) = st.connections.insert(sid, conn) {
        info!("server {my_id}: a new connection to server {sid} replaces the one from {}", old.remote);
        old.close();
    }
    let (for_sender, for_receiver) = (Arc::clone(shared), Arc::clone(shared));
    let stop_for_sender = stop_rx.clone();
    let started = st
        .spawn(format!("election-send-{sid}"), move || {
            run_send_worker(&for_sender, sid, id, writer, queue, stop_for_sender)
        })
        .and_then(|()| {
            st.spawn(format!("election-recv-{sid}"), move || {
                run_recv_worker(&for_receiver, sid, id, io::Cursor::new(first).chain(stream), stop_rx)
            })
        });
    if let Err(e) = started {
        warn!("server {my_id}: cannot start the workers of server {sid}: {e}");
        finish_locked(&mut st, sid, id);
    }
}

/// `SendWorker.finish` and `RecvWorker.finish`: ends connection `id` to `sid` if it is still the
/// current one. Both workers call it when they end; the second call does nothing.
fn finish(shared: &Shared, sid: ServerId, id: u64) {
    finish_locked(&mut shared.lock(), sid, id);
}

fn finish_locked(st: &mut State, sid: ServerId, id: u64) {
    if st.connections.get(&sid).is_some_and(|c| c.id == id) {
        let conn = st.connections.remove(&sid).expect("just looked it up");
        conn.close();
        if !st.peers.contains_key(&sid) {
            // Forget an unknown server when it goes, so strangers cannot fill the table.
            st.queues.remove(&sid);
        }
    }
}

/// Puts a frame the sender could not write back in its queue, unless something newer waits there.
fn put_back(shared: &Shared, sid: ServerId, frame: Arc<Vec<u8>>) {
    put_back_locked(&shared.lock(), sid, frame);
}

fn put_back_locked(st: &State, sid: ServerId, frame: Arc<Vec<u8>>) {
    if let Some(q) = st.queues.get(&sid) {
        if q.rx.is_empty() {
            q.offer(frame);
        }
    }
}

/// Records `frame` as the last message sent to `sid` if connection `id` is still the current one
/// and answers true; otherwise puts the frame back and answers false.
fn take_for_sending(shared: &Shared, sid: ServerId, id: u64, frame: &Arc<Vec<u8>>) -> bool {
    let mut st = shared.lock();
    if st.connections.get(&sid).is_none_or(|c| c.id != id) {
        put_back_locked(&st, sid, Arc::clone(frame));
        return false;
    }
    if let Some(q) = st.queues.get_mut(&sid) {
        q.last_sent = Some(Arc::clone(frame));
    }
    true
}

/// Writes the queue of `sid` to the connection until the connection or the net ends.
fn run_send_worker(
    shared: &Shared,
    sid: ServerId,
    id: u64,
    mut stream: Stream,
    queue: Receiver<Arc<Vec<u8>>>,
    stop: Receiver<()>,
) {
    let my_id = shared.my_id;
    // The previous connection may have lost the last message we gave it: send it again unless
    // something newer is waiting (ZooKeeper's lastMessageSent).
    let resend = {
        let st = shared.lock();
        st.queues.get(&sid).filter(|q| q.rx.is_empty()).and_then(|q| q.last_sent.clone())
    };
    let mut failed = None;
    if let Some(frame) = resend {
        debug!("server {my_id}: re-sending the last message to server {sid} on a new connection");
        if let Err(e) = stream.write_all(&frame) {
            failed = Some(e);
        }
    }
    while failed.is_none() {
        let frame = select! {
            recv(queue) -> frame => match frame {
                Ok(frame) => frame,
                Err(_) => break,
            },
            recv(stop) -> _ => break,
        };
        // One step under the lock, against `register`: either this connection is still the
        // current one and the frame becomes `last_sent` (which the next connection's sender
        // re-sends if this one loses it), or it was replaced or finished meanwhile and the frame
        // goes back to the queue for the next connection.
        if !take_for_sending(shared, sid, id, &frame) {
            debug!("server {my_id}: connection to server {sid} ended; message left for the next one");
            break;
        }
        if let Err(e) = stream.write_all(&frame) {
            put_back(shared, sid, frame);
            failed = Some(e);
        }
    }
    if let Some(e) = failed {
        info!("server {my_id}: connection to server {sid} broken while sending: {e}");
    }
    finish(shared, sid, id);
    debug!("server {my_id}: send worker for server {sid} leaving");
}

/// Reads frames from `sid` and delivers the notifications, until the connection or the net ends.
fn run_recv_worker(shared: &Shared, sid: ServerId, id: u64, stream: impl Read, stop: Receiver<()>) {
    let my_id = shared.my_id;
    let mut reader = BufReader::with_capacity(RECV_BUFFER_BYTES, stream);
    loop {
        let mut len_bytes = [0u8; 4];
        if let Err(e) = reader.read_exact(&mut len_bytes) {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                info!("server {my_id}: connection from server {sid} closed");
            } else {
                info!("server {my_id}: connection from server {sid} broken: {e}");
            }
            break;
        }
        let len = match wire::check_frame_len(i32::from_be_bytes(len_bytes)) {
            Ok(len) => len,
            Err(e) => {
                warn!("server {my_id}: closing connection from server {sid}: {e}");
                break;
            }
        };
        let mut payload = vec![0u8; len];
        if let Err(e) = reader.read_exact(&mut payload) {
            info!("server {my_id}: connection from server {sid} broken inside a {len}-byte frame: {e}");
            break;
        }
        let message = match wire::decode_notification(&payload) {
            Ok(message) => message,
            Err(e) => {
                // WorkerReceiver skips a malformed message and keeps the connection.
                warn!("server {my_id}: skipping malformed notification from server {sid}: {e}");
                continue;
            }
        };
        let inbound = (sid, message.notification, message.config);
        select! {
            send(shared.inbox, inbound) -> sent => if sent.is_err() {
                debug!("server {my_id}: election inbox closed; dropping a notification from server {sid}");
            },
            recv(stop) -> _ => break,
        }
    }
    finish(shared, sid, id);
    debug!("server {my_id}: receive worker for server {sid} leaving");
}
