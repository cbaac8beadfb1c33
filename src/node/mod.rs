//! The shell: threads, sockets, channels and clocks. Decisions live in `pipeline`; this module
//! only moves inputs to the cores and their outputs to sockets.
//!
//! Threads of a standalone server:
//! - `listener`: accepts client connections, enforces maxClientCnxns, starts two threads per
//!   connection (`conn::run_reader`, `conn::run_writer`).
//! - `prep`: the only caller of `Prep::step`; reads the tree under a read lock.
//! - `commit`: the only caller of `Commit::step`; the only writer of the tree.
//! - `metrics-http`, `admin-http` (when configured): see `ops_http`.

pub mod conn;
pub mod disk;
pub mod dynamic;
pub mod election_net;
pub mod ops_http;
pub mod peer;
pub mod quorum_io;
pub mod stream;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls_off.rs"]
pub mod tls;

use crate::codes::ErrorCode;
use crate::config::Config;
use crate::fourlw::{SystemHost, View};
use crate::ids;
use crate::ids::Zxid;
use crate::jute::txn_body::Transaction;
use crate::limits;
use crate::metrics::QuorumFigures;
use crate::pipeline::commit::{Commit, Output};
use crate::pipeline::prep::{Prep, PrepConfig, PrepInput, Role, ToQuorum};
use crate::pipeline::{CommitItem, ConnId};
use crate::storage::snapshot::SnapshotWriter;
use crate::storage::StorageError;
use crate::tree::DataTree;
use crossbeam_channel::{bounded, never, select, tick, unbounded, Receiver, Sender};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a connection's writer thread is told.
#[derive(Debug)]
pub enum WriterMsg {
    Frame(Vec<u8>),
    /// Write what is queued, then close the socket.
    Close,
}

/// Back-pressure for one connection: its reader stops reading while too many of its requests are
/// in the pipeline or too many reply bytes wait for its writer.
#[derive(Default)]
pub struct Gate {
    /// Requests read and not yet answered: the reader adds, the commit thread takes away.
    outstanding: AtomicUsize,
    /// Bytes handed to the writer and not yet written: commit adds, the writer takes away.
    queued_bytes: AtomicUsize,
    /// Set when the writer is gone, so a waiting reader gives up.
    closed: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Gate {
    fn over(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) >= limits::CONN_OUTSTANDING_MAX
            || self.queued_bytes.load(Ordering::Acquire) >= limits::CONN_QUEUED_BYTES_MAX
    }

    /// Blocks the reader while the connection is over its budget.
    pub fn wait_for_room(&self) {
        let mut guard = self.lock.lock().expect("gate lock");
        while self.over() && !self.closed.load(Ordering::Acquire) {
            guard = self.cv.wait_timeout(guard, Duration::from_millis(100)).expect("gate lock").0;
        }
    }

    /// Blocks until every request read has its reply queued (or the writer is gone, or
    /// `timeout` passes): a closeSession's reply may take a trip to the leader, and the
    /// connection must stay known until it is written.
    pub fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut guard = self.lock.lock().expect("gate lock");
        while self.outstanding.load(Ordering::Acquire) > 0 && !self.closed.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            guard = self.cv.wait_timeout(guard, (deadline - now).min(Duration::from_millis(10))).expect("gate lock").0;
        }
    }

    pub fn request_sent(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    fn notify(&self) {
        let _guard = self.lock.lock().expect("gate lock");
        self.cv.notify_all();
    }

    fn reply_queued(&self, bytes: usize) {
        let _ = self.outstanding.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    fn bytes_queued(&self, bytes: usize) {
        self.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
    }

    pub fn bytes_written(&self, bytes: usize) {
        let _ = self.queued_bytes.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| Some(n.saturating_sub(bytes)));
        self.notify();
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify();
    }
}

/// The commit thread's route to one connection.
#[derive(Clone)]
pub struct ConnHandle {
    /// commit (and the reader, for auth replies) → writer; capacity CONN_SEND_QUEUE_MAX; closed
    /// when the handle leaves the table.
    tx: Sender<WriterMsg>,
    /// commit → reader, once: the session the handshake produced; dropped on refusal.
    ready: Sender<i64>,
    /// For cutting a slow consumer off.
    stream: Arc<TcpStream>,
    ip: IpAddr,
    gate: Arc<Gate>,
}

/// What every thread of the server shares. Each field says who writes it.
pub struct Shared {
    /// readers and the clock → prep; capacity PREP_QUEUE_MAX; closed when the server stops.
    prep_tx: Sender<PrepInput>,
    /// Routes by connection: inserted by the listener, removed by the commit thread.
    conns: Mutex<HashMap<ConnId, ConnHandle>>,
    /// Open connections per client address (maxClientCnxns): listener adds, commit removes.
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    max_frame: usize,
    super_digest: Option<String>,
    /// SASL users, registered ACL schemes and super users, from the configuration.
    auth: crate::auth::ServerAuth,
    /// `sslQuorum=true`: TLS for the quorum and election ports.
    quorum_tls: Option<Arc<tls::QuorumTls>>,
    /// `quorum.auth.enableSasl=true`: peers log in on the quorum and election ports.
    quorum_sasl: Option<Arc<crate::auth::quorum::QuorumSasl>>,
    /// The port the `secureClientPort` listener is bound to (`conf`), once it is.
    secure_client_port: std::sync::OnceLock<u16>,
    four_letter_whitelist: Vec<String>,
    started: Instant,
    /// How many times a log write has failed: commit bumps it, prep resets its in-flight state
    /// when it sees a new value, and txns prepared before that are refused.
    write_failures: AtomicU64,
    /// What `srvr` calls this server (standalone, leader, follower, observer): written by the
    /// peer thread, read by commit for the four-letter words.
    mode: Mutex<&'static str>,
    /// Whether the server serves clients (always, standalone; once synchronised, in an ensemble).
    serving: AtomicBool,
    /// Bumped by `set_mode` under the `mode` lock, with `mode_changed` notified: how a
    /// `StateWatch` (systemd's STATUS lines) learns of role changes without a queue.
    mode_seq: AtomicU64,
    mode_changed: Condvar,
    /// Set once by `Server::shutdown`: the listener drops new connections and readers forward
    /// no more requests.
    stopping: AtomicBool,
    /// Follower: sessions its clients kept alive since the last PING (prep adds, peer takes).
    touches: Mutex<HashMap<ids::SessionId, i32>>,
    /// The ensemble's figures for `mntr`, the admin server and `/metrics`: written by the peer
    /// thread after each step of its cores, copied by the commit thread when asked.
    quorum: Mutex<QuorumFigures>,
}

impl Shared {
    fn set_mode(&self, mode: &'static str, serving: bool) {
        let mut m = self.mode.lock().expect("mode lock");
        *m = mode;
        self.serving.store(serving, Ordering::Release);
        self.mode_seq.fetch_add(1, Ordering::AcqRel);
        self.mode_changed.notify_all();
    }

    /// True once a graceful stop has begun.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn quorum_figures(&self) -> QuorumFigures {
        self.quorum.lock().expect("quorum figures lock").clone()
    }

    /// Peer thread only.
    fn update_quorum_figures(&self, update: impl FnOnce(&mut QuorumFigures)) {
        update(&mut self.quorum.lock().expect("quorum figures lock"));
    }

    /// Queues a message for a connection's writer; a full queue cuts the connection off (its
    /// session lives on, and the client reconnects).
    fn send_to(&self, conn: ConnId, msg: WriterMsg) {
        self.send_counted(conn, msg, false);
    }

    /// `send_to`, counting the frame against the connection's budget (and, for a reply, one
    /// request less in the pipeline).
    fn send_counted(&self, conn: ConnId, msg: WriterMsg, reply: bool) {
        let handle = self.conns.lock().expect("conn table lock").get(&conn).cloned();
        let Some(h) = handle else { return };
        if let WriterMsg::Frame(f) = &msg {
            if reply {
                h.gate.reply_queued(f.len());
            } else {
                h.gate.bytes_queued(f.len());
            }
        }
        // The queue is a list channel (memory as it fills, not a preallocated array per
        // connection); its bound is checked here.
        if h.tx.len() >= limits::CONN_SEND_QUEUE_MAX {
            log::warn!("connection {conn}: send queue full ({} frames), closing it", limits::CONN_SEND_QUEUE_MAX);
            let _ = h.stream.shutdown(Shutdown::Both);
            return;
        }
        let _ = h.tx.send(msg);
    }

    fn forget(&self, conn: ConnId) {
        let removed = self.conns.lock().expect("conn table lock").remove(&conn);
        if let Some(h) = removed {
            let mut per_ip = self.per_ip.lock().expect("per-ip lock");
            if let Some(n) = per_ip.get_mut(&h.ip) {
                *n -= 1;
                if *n == 0 {
                    per_ip.remove(&h.ip);
                }
            }
        }
    }
}

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A running server.
pub struct Server {
    pub client_addr: SocketAddr,
    /// The TLS client port (`secureClientPort`), when configured.
    pub secure_client_addr: Option<SocketAddr>,
    /// Where the metrics endpoint and the admin server listen, when configured.
    pub http_addrs: ops_http::Addrs,
    threads: Vec<thread::JoinHandle<()>>,
    shared: Arc<Shared>,
    /// For the stop barrier (`CommitMsg::Stop`), which must queue behind everything handed to
    /// the commit thread before it.
    commit_tx: Sender<CommitMsg>,
}

/// What the server is doing, as `srvr` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerState {
    /// `standalone`, `looking`, `leader`, `follower` or `observer`.
    pub mode: &'static str,
    /// Whether it serves clients now (an ensemble member does once synchronised).
    pub serving: bool,
}

/// Follows a server's role changes (for systemd's READY and STATUS). Changes that happen
/// between two calls of `next` are seen as one: the latest.
pub struct StateWatch {
    shared: Arc<Shared>,
    seen: Option<u64>,
}

impl StateWatch {
    /// The current state on the first call; then the state after the next change, or None if
    /// nothing changed within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<ServerState> {
        let deadline = Instant::now() + timeout;
        let mut mode = self.shared.mode.lock().expect("mode lock");
        loop {
            let seq = self.shared.mode_seq.load(Ordering::Acquire);
            if self.seen != Some(seq) {
                self.seen = Some(seq);
                return Some(ServerState { mode: *mode, serving: self.shared.serving.load(Ordering::Acquire) });
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            mode = self.shared.mode_changed.wait_timeout(mode, deadline - now).expect("mode lock").0;
        }
    }
}

/// How a graceful stop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReport {
    /// Every request read before the stop was answered, the commit thread finished and every
    /// client connection was flushed and closed, within the time allowed.
    pub clean: bool,
    /// Client connections closed by the stop.
    pub closed: usize,
}

/// The part of a stop spent waiting for requests in flight to be answered (the rest is for the
/// commit thread's last group commit, a snapshot being written, and flushing replies).
const STOP_DRAIN_SHARE: u32 = 2;
/// A snapshot being written when a stop begins may finish if it takes at most this long; one
/// abandoned is a temporary file that recovery ignores.
const STOP_SNAPSHOT_WAIT_MAX: Duration = Duration::from_secs(5);

impl Server {
    /// Blocks until the server's threads end (they do not, short of a fatal error).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// Follows this server's role changes.
    pub fn watch(&self) -> StateWatch {
        StateWatch { shared: self.shared.clone(), seen: None }
    }

    /// Stops gracefully within `limit`, then returns; the caller exits the process.
    ///
    /// 1. No new connections, and no new requests: a reader drops what it reads from now on
    ///    (the client hears nothing and, once its connection closes, retries elsewhere).
    /// 2. Requests already read are answered: standalone, once logged and applied; in an
    ///    ensemble, once the quorum commits them (the peer thread runs on meanwhile). Bounded by
    ///    half of `limit`.
    /// 3. A barrier queued behind everything handed to the commit thread: it logs, fsyncs and
    ///    applies all of it as usual, queues the replies, lets a snapshot being written finish
    ///    (bounded), tells every connection's writer to flush and close, and ends. Nothing is
    ///    logged after the barrier, so nothing more is acknowledged.
    /// 4. The writers flush their queues and close the sockets.
    ///
    /// Sessions are not closed: an ensemble member's clients move to another member and keep
    /// their sessions; a standalone server's sessions are in its log and snapshots, and live on
    /// after a restart, as after a crash. Every acknowledged write was durable before it was
    /// acknowledged, so a stop that runs out of time loses nothing acknowledged either.
    pub fn shutdown(self, limit: Duration) -> StopReport {
        let started = Instant::now();
        let deadline = started + limit;
        self.shared.stopping.store(true, Ordering::Release);

        let drain_until = started + limit / STOP_DRAIN_SHARE;
        let gates = || -> Vec<Arc<Gate>> {
            self.shared.conns.lock().expect("conn table lock").values().map(|h| h.gate.clone()).collect()
        };
        let in_flight = |gates: &[Arc<Gate>]| -> usize {
            gates
                .iter()
                .filter(|g| !g.closed.load(Ordering::Acquire))
                .map(|g| g.outstanding.load(Ordering::Acquire))
                .sum()
        };
        let waiting = in_flight(&gates());
        if waiting > 0 {
            log::info!("Stopping: waiting for {waiting} requests in flight to be answered");
        }
        let mut drained = true;
        while in_flight(&gates()) > 0 {
            if Instant::now() >= drain_until {
                log::warn!(
                    "Stopping: {} requests still unanswered after {} ms; they will not be acknowledged",
                    in_flight(&gates()),
                    started.elapsed().as_millis()
                );
                drained = false;
                break;
            }
            thread::sleep(Duration::from_millis(5));
        }

        let (done_tx, done_rx) = bounded(1);
        let remaining = deadline.saturating_duration_since(Instant::now());
        let snapshot_wait = (remaining / 2).min(STOP_SNAPSHOT_WAIT_MAX);
        let closed = match self.commit_tx.send_timeout(CommitMsg::Stop { snapshot_wait, done: done_tx }, remaining) {
            Ok(()) => done_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok(),
            Err(_) => None,
        };
        let Some(closing) = closed else {
            log::error!("Stopping: the commit thread did not finish within {} ms", limit.as_millis());
            return StopReport { clean: false, closed: 0 };
        };
        let flushed = loop {
            if closing.iter().all(|g| g.closed.load(Ordering::Acquire)) {
                break true;
            }
            if Instant::now() >= deadline {
                log::warn!("Stopping: some client connections were not flushed within {} ms", limit.as_millis());
                break false;
            }
            thread::sleep(Duration::from_millis(5));
        };
        log::info!(
            "Stopped in {} ms: closed {} client connections (their sessions stay open)",
            started.elapsed().as_millis(),
            closing.len()
        );
        StopReport { clean: drained && flushed, closed: closing.len() }
    }
}

/// What the commit thread is handed, in the order it must be done.
pub enum CommitMsg {
    /// From prep, tagged with the write-failure generation it was prepared in.
    Prep(u64, CommitItem),
    /// From the peer thread (ensemble only).
    Quorum(QuorumWork),
    /// From `Server::shutdown`: the last item the commit thread takes. It answers with the gates
    /// of the connections it told to close, then ends.
    Stop { snapshot_wait: Duration, done: Sender<Vec<Arc<Gate>>> },
}

/// The last committed txns (zxid, serialized txn), oldest first: a new leader's log for DIFF.
pub type RecentTxns = Vec<(Zxid, Vec<u8>)>;

/// The quorum's work for the commit thread: the log, the tree, snapshots.
pub enum QuorumWork {
    /// Append a proposal to the log; `PeerEvent::Persisted` reports when it is durable.
    Persist(Transaction),
    /// Apply the logged txn with this zxid (committed).
    Apply(Zxid),
    /// Serialise the tree (for a learner's SNAP) once everything committed before is applied.
    StreamSnapshot(Sender<Vec<u8>>),
    /// SNAP: replace the tree with the leader's.
    InstallSnapshot(Box<DataTree>),
    /// Write the tree to a snapshot file, then report `Persisted` of its zxid.
    SaveSnapshot,
    /// TRUNC: drop logged txns after this zxid (reloading the tree if it applied some).
    Truncate(Zxid),
    /// The quorum role ended: close client connections, apply every logged txn, and answer with
    /// the last zxid and the recent txns (a new leader's committed log).
    RoleEnded(Sender<(Zxid, RecentTxns)>),
    /// A configuration adopted without its txn (NEWLEADER, an election notification, the
    /// version a new leader gives the initial one): write it into `/zookeeper/config`.
    SetConfigNode(crate::verifier::QuorumVerifier),
}

impl QuorumWork {
    fn name(&self) -> &'static str {
        match self {
            QuorumWork::Persist(_) => "Persist",
            QuorumWork::Apply(_) => "Apply",
            QuorumWork::StreamSnapshot(_) => "StreamSnapshot",
            QuorumWork::InstallSnapshot(_) => "InstallSnapshot",
            QuorumWork::SaveSnapshot => "SaveSnapshot",
            QuorumWork::Truncate(_) => "Truncate",
            QuorumWork::RoleEnded(_) => "RoleEnded",
            QuorumWork::SetConfigNode(_) => "SetConfigNode",
        }
    }

    /// Work that must not share a group commit with what follows it.
    fn is_barrier(&self) -> bool {
        matches!(
            self,
            QuorumWork::InstallSnapshot(_)
                | QuorumWork::SaveSnapshot
                | QuorumWork::Truncate(_)
                | QuorumWork::RoleEnded(_)
        )
    }
}

/// Binds the client port and starts every thread of a server: standalone, or an ensemble member
/// when the configuration lists servers.
pub fn start(cfg: Config) -> io::Result<Server> {
    // Settings that read files of their own are checked before anything touches the data.
    let auth = crate::auth::ServerAuth::from_config(&cfg).map_err(io::Error::other)?;
    let client_tls = tls::ClientTls::from_config(&cfg).map_err(io::Error::other)?.map(Arc::new);
    let quorum_tls = tls::QuorumTls::from_config(&cfg).map_err(io::Error::other)?;
    let quorum_sasl = match cfg.is_quorum() {
        true => crate::auth::quorum::QuorumSasl::from_config(&cfg).map_err(io::Error::other)?.map(Arc::new),
        false => None,
    };
    for w in &auth.warnings {
        log::warn!("{w}");
    }
    let (mut disk, mut tree) = disk::Disk::open(&cfg).map_err(|e| io::Error::other(e.to_string()))?;
    let quorum = cfg.is_quorum();
    if quorum {
        // `QuorumPeer.initConfigInZKDatabase`: every member shows its configuration.
        let qv = cfg.verifier();
        tree.set_config_node(qv.text().as_bytes(), qv.version, wall_ms());
    }
    let my_id = if quorum { cfg.my_id.unwrap_or(0) } else { 0 };
    let listener = TcpListener::bind(cfg.client_addr())?;
    let client_addr = listener.local_addr()?;
    let started = Instant::now();

    let (prep_tx, prep_rx) = bounded::<PrepInput>(limits::PREP_QUEUE_MAX);
    let (commit_tx, commit_rx) = bounded::<CommitMsg>(limits::COMMIT_QUEUE_MAX);
    let shared = Arc::new(Shared {
        prep_tx,
        conns: Mutex::new(HashMap::new()),
        per_ip: Mutex::new(HashMap::new()),
        max_frame: cfg.jute_maxbuffer,
        super_digest: cfg.super_digest.clone(),
        auth: auth.clone(),
        quorum_tls,
        quorum_sasl,
        secure_client_port: std::sync::OnceLock::new(),
        four_letter_whitelist: cfg.four_letter_whitelist.clone(),
        started,
        write_failures: AtomicU64::new(0),
        mode: Mutex::new(if quorum { "looking" } else { "standalone" }),
        serving: AtomicBool::new(!quorum),
        mode_seq: AtomicU64::new(0),
        mode_changed: Condvar::new(),
        stopping: AtomicBool::new(false),
        touches: Mutex::new(HashMap::new()),
        quorum: Mutex::new(QuorumFigures {
            quorum_size: cfg.servers.values().filter(|s| s.role == crate::config::PeerType::Participant).count() as u64,
            ..QuorumFigures::default()
        }),
    });

    let prep_cfg = PrepConfig {
        tick_ms: cfg.tick_time_ms,
        session_timeout_ms_min: cfg.min_session_timeout_ms,
        session_timeout_ms_max: cfg.max_session_timeout_ms,
        extended_types_enabled: cfg.extended_types_enabled,
        skip_acl: cfg.skip_acl,
        reconfig_enabled: cfg.reconfig_enabled,
        standalone_enabled: cfg.standalone_enabled,
        local_sessions: cfg.local_sessions_enabled,
        local_sessions_upgrading: cfg.local_sessions_upgrading_enabled,
        providers: auth.providers,
        // Boolean.parseBoolean, as ZooKeeper reads zookeeper.enforceQuota.
        enforce_quota: cfg.flag("enforceQuota"),
    };
    let first_session = ids::initial_session_id(my_id, wall_ms() as u64);
    let mut prep = Prep::new(prep_cfg, tree.last_processed_zxid, first_session);
    prep.track_sessions_of(&tree, 0);
    let last_zxid = tree.last_processed_zxid;
    let recent = disk.take_recent();
    if quorum {
        prep.set_role(Role::Down, &tree, last_zxid + 1, 0);
    }
    let tree = Arc::new(RwLock::new(tree));
    if cfg.autopurge_purge_interval_hours > 0 {
        let (snap_dir, log_dir) = disk.dirs();
        let every = Duration::from_secs(cfg.autopurge_purge_interval_hours as u64 * 3600);
        disk::start_purge(
            snap_dir.to_path_buf(),
            log_dir.to_path_buf(),
            cfg.autopurge_snap_retain_count as usize,
            every,
        )?;
    }
    let reap_every = Duration::from_millis(cfg.container_check_interval_ms.max(1));
    let tick_every = Duration::from_millis((cfg.tick_time_ms as u64 / 2).max(1));

    // Ensemble wiring: prep ⇄ peer, commit → peer. Channels into prep and into peer from the
    // commit thread are unbounded so that no two threads can ever wait on each other; the flow
    // of client requests is bounded by prep's inbox and prep → peer.
    let (to_quorum_tx, to_quorum_rx) = bounded::<ToQuorum>(limits::PREP_QUEUE_MAX);
    let (prep_ctl_tx, prep_ctl_rx) = unbounded::<PrepControl>();
    let (events_tx, events_rx) = unbounded::<peer::PeerEvent>();

    let mut threads = Vec::new();
    {
        let tree = tree.clone();
        let shared = shared.clone();
        let commit_tx = commit_tx.clone();
        let rxs = PrepChannels { inputs: prep_rx, control: prep_ctl_rx, to_quorum: to_quorum_tx };
        threads.push(spawn("prep", move || run_prep(prep, tree, rxs, commit_tx, shared, tick_every, reap_every))?);
    }
    {
        let tree = tree.clone();
        let shared = shared.clone();
        let cfg = cfg.clone();
        let events = quorum.then(|| events_tx.clone());
        threads.push(spawn("commit", move || run_commit(cfg, tree, disk, commit_rx, shared, events))?);
    }
    let stop_tx = commit_tx.clone();
    if quorum {
        let links = peer::Links { commit_tx, prep_ctl: prep_ctl_tx, from_prep: to_quorum_rx, events_tx, events_rx };
        threads.push(peer::start(cfg.clone(), shared.clone(), links, last_zxid, recent)?);
    }
    let unified = cfg.flag("client.portUnification");
    {
        let shared = shared.clone();
        let max_per_ip = cfg.max_client_cnxns;
        let transport = match &client_tls {
            Some(t) if unified => conn::Transport::Unified(t.clone()),
            _ => conn::Transport::Plain,
        };
        threads.push(spawn("listener", move || run_listener(listener, shared, max_per_ip, transport))?);
    }
    let mut secure_client_addr = None;
    if let (Some(tls), Some(port)) = (client_tls, secure_client_port(&cfg)?) {
        let ip = match cfg.property("secureClientPortAddress") {
            Some(a) => {
                a.parse().map_err(|_| io::Error::other(format!("secureClientPortAddress={a}: not an IP address")))?
            }
            None => cfg.client_port_address.unwrap_or(IpAddr::from([0, 0, 0, 0])),
        };
        let secure = TcpListener::bind(SocketAddr::new(ip, port))?;
        secure_client_addr = Some(secure.local_addr()?);
        let _ = shared.secure_client_port.set(secure.local_addr()?.port());
        let shared = shared.clone();
        let max_per_ip = cfg.max_client_cnxns;
        let transport = conn::Transport::Tls(tls);
        threads.push(spawn("secure-listener", move || run_listener(secure, shared, max_per_ip, transport))?);
    }
    let mut http_addrs = ops_http::Addrs::default();
    if let Some(port) = cfg.metrics_http_port {
        let addr = SocketAddr::new(cfg.metrics_http_host, port);
        let (bound, thread) = ops_http::start(ops_http::Endpoint::Metrics, addr, shared.clone(), client_addr.port())?;
        log::info!("serving Prometheus metrics on http://{bound}/metrics");
        http_addrs.metrics = Some(bound);
        threads.push(thread);
    }
    if let Some(port) = cfg.admin_server_port {
        let addr = SocketAddr::new(cfg.admin_server_address, port);
        let (bound, thread) = ops_http::start(ops_http::Endpoint::Admin, addr, shared.clone(), client_addr.port())?;
        log::info!("serving the admin server on http://{bound}/commands");
        http_addrs.admin = Some(bound);
        threads.push(thread);
    }
    Ok(Server { client_addr, secure_client_addr, http_addrs, threads, shared, commit_tx: stop_tx })
}

/// `secureClientPort`, unless absent or 0 (ZooKeeper's "none").
fn secure_client_port(cfg: &Config) -> io::Result<Option<u16>> {
    match cfg.property("secureClientPort") {
        None | Some("0") => Ok(None),
        Some(p) => p.parse().map(Some).map_err(|_| io::Error::other(format!("secureClientPort={p}: not a port"))),
    }
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name(name.to_string()).spawn(f)
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// How many client connections this host can carry (`limits::connection_capacity` of its kernel
/// settings, read from `/proc`; the kernel's defaults where they cannot be read).
fn connection_capacity() -> usize {
    let read = |path: &str| std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok());
    limits::connection_capacity(
        read("/proc/sys/vm/max_map_count").unwrap_or(65_530),
        read("/proc/sys/kernel/pid_max").unwrap_or(32_768),
        read("/proc/sys/kernel/threads-max").unwrap_or(usize::MAX),
    )
}

fn run_listener(listener: TcpListener, shared: Arc<Shared>, max_per_ip: u32, transport: conn::Transport) {
    let capacity = connection_capacity();
    log::debug!("at most {capacity} client connections (vm.max_map_count and pid_max allow that many threads)");
    let mut refused_since_log = 0u64;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stopping() {
            drop(stream);
            continue;
        }
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
        if shared.conns.lock().expect("conn table lock").len() >= capacity {
            if refused_since_log.is_multiple_of(1000) {
                log::warn!(
                    "refusing connection from {peer}: {capacity} connections open, as many as this host's \
                     vm.max_map_count and pid_max allow threads for (raise them to allow more)"
                );
            }
            refused_since_log += 1;
            drop(stream);
            continue;
        }
        {
            let mut per_ip = shared.per_ip.lock().expect("per-ip lock");
            let n = per_ip.entry(peer.ip()).or_insert(0);
            if max_per_ip != 0 && *n >= max_per_ip {
                log::warn!("Too many connections from {} - max is {max_per_ip}", peer.ip());
                drop(stream);
                continue;
            }
            *n += 1;
        }
        let _ = stream.set_nodelay(true);
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = unbounded();
        let (ready_tx, ready_rx) = bounded(1);
        let write_half = match stream.try_clone() {
            Ok(s) => Arc::new(s),
            Err(_) => continue,
        };
        let (stream_tx, stream_rx) = bounded(1);
        let gate = Arc::new(Gate::default());
        let handle = ConnHandle { tx, ready: ready_tx, stream: write_half, ip: peer.ip(), gate: gate.clone() };
        shared.conns.lock().expect("conn table lock").insert(conn, handle.clone());
        // The commit thread learns the connection's address through prep, in order.
        let secure = matches!(transport, conn::Transport::Tls(_));
        let _ = shared.prep_tx.send(PrepInput::Accept { conn, remote: format!("/{peer}"), secure });
        let reader_shared = shared.clone();
        let reader_gate = gate.clone();
        let transport = transport.clone();
        let r = spawn(&format!("conn-{conn}-reader"), move || {
            conn::run_reader(reader_shared, conn, stream, transport, stream_tx, ready_rx, reader_gate)
        });
        let w = spawn(&format!("conn-{conn}-writer"), move || conn::run_writer(stream_rx, rx, gate));
        if r.is_err() || w.is_err() {
            log::error!("could not start threads for connection {conn}");
            shared.forget(conn);
        }
    }
}

/// What the peer thread tells prep.
pub enum PrepControl {
    /// A learner's message for the leader's prep, or the leader's answer for a follower's.
    Input(PrepInput),
    /// The quorum role changed; a leader numbers txns from the zxid given.
    SetRole(Role, Zxid),
    /// Leader: the ensemble changed (configuration, synced followers, reconfig in flight).
    Ensemble(crate::pipeline::prep::EnsembleView),
}

struct PrepChannels {
    inputs: Receiver<PrepInput>,
    control: Receiver<PrepControl>,
    to_quorum: Sender<ToQuorum>,
}

fn run_prep(
    mut prep: Prep,
    tree: Arc<RwLock<DataTree>>,
    ch: PrepChannels,
    commit_tx: Sender<CommitMsg>,
    shared: Arc<Shared>,
    tick_every: Duration,
    reap_every: Duration,
) {
    let ticker = tick(tick_every);
    let mut last_reap = Instant::now();
    let mut generation = 0;
    let mut out = Vec::new();
    let mut control = ch.control.clone();
    loop {
        let input = select! {
            recv(ch.inputs) -> m => match m { Ok(m) => m, Err(_) => return },
            recv(control) -> m => match m {
                Ok(PrepControl::Input(i)) => i,
                Ok(PrepControl::SetRole(role, next_zxid)) => {
                    let tree = tree.read().expect("tree lock");
                    prep.set_role(role, &tree, next_zxid, shared.now_ms());
                    continue;
                }
                Ok(PrepControl::Ensemble(view)) => {
                    prep.set_ensemble(view);
                    continue;
                }
                // Standalone: no peer thread, no control messages.
                Err(_) => {
                    control = never();
                    continue;
                }
            },
            recv(ticker) -> _ => {
                let reap = last_reap.elapsed() >= reap_every;
                if reap {
                    last_reap = Instant::now();
                }
                PrepInput::Tick { now_ms: shared.now_ms(), wall_ms: wall_ms(), reap }
            }
        };
        {
            let tree = tree.read().expect("tree lock");
            let failures = shared.write_failures.load(Ordering::Acquire);
            if failures != generation {
                generation = failures;
                prep.reset(&tree, shared.now_ms());
            }
            prep.step(&tree, input, shared.now_ms(), wall_ms(), &mut out);
        }
        // Commit hears of a forwarded request before the quorum can answer it.
        for item in out.drain(..) {
            if commit_tx.send(CommitMsg::Prep(generation, item)).is_err() {
                return;
            }
        }
        for q in prep.take_quorum() {
            if ch.to_quorum.send(q).is_err() {
                return;
            }
        }
        if prep.role() == Role::Follower {
            let touches = prep.take_touches();
            if !touches.is_empty() {
                shared.touches.lock().expect("touches lock").extend(touches);
            }
        }
    }
}

/// Most items the commit thread takes into one group commit.
const COMMIT_BATCH_MAX: usize = 4096;

/// How many applied txns the commit thread keeps for a new leader's DIFF.
const RECENT_MAX: usize = crate::storage::recovery::RECENT_MAX;

/// The commit thread's state besides the core: what the quorum logged and has not committed,
/// and the last txns applied.
struct Quorum {
    events: Sender<peer::PeerEvent>,
    pending: BTreeMap<Zxid, Transaction>,
    recent: VecDeque<(Zxid, Vec<u8>)>,
}

fn run_commit(
    cfg: Config,
    tree: Arc<RwLock<DataTree>>,
    mut disk: disk::Disk,
    rx: Receiver<CommitMsg>,
    shared: Arc<Shared>,
    events: Option<Sender<peer::PeerEvent>>,
) {
    let mut commit = Commit::new(cfg.skip_acl);
    let started_wall_ms = wall_ms();
    let mut quorum = events.map(|events| Quorum { events, pending: BTreeMap::new(), recent: VecDeque::new() });
    let mut out = Vec::new();
    let mut batch: Vec<CommitMsg> = Vec::with_capacity(COMMIT_BATCH_MAX);
    let mut carry: Option<CommitMsg> = None;
    loop {
        let first = match carry.take() {
            Some(m) => m,
            None => match rx.recv() {
                Ok(m) => m,
                Err(_) => return,
            },
        };
        if let CommitMsg::Stop { snapshot_wait, done } = first {
            // Everything queued before the barrier has been logged, applied and answered.
            disk.wait_for_snapshot(snapshot_wait);
            let _ = done.send(close_all_connections(&shared));
            return;
        }
        // Group commit: everything queued now is logged with one write and one fsync, then
        // applied and answered. Nothing is acknowledged before it is durable. Work that changes
        // the log or replaces the tree is done on its own.
        let alone = matches!(&first, CommitMsg::Quorum(w) if w.is_barrier());
        batch.push(first);
        while !alone && batch.len() < COMMIT_BATCH_MAX {
            match rx.try_recv() {
                Ok(CommitMsg::Quorum(w)) if w.is_barrier() => {
                    carry = Some(CommitMsg::Quorum(w));
                    break;
                }
                Ok(stop @ CommitMsg::Stop { .. }) => {
                    carry = Some(stop);
                    break;
                }
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let generation = shared.write_failures.load(Ordering::Acquire);
        let logged = persist(&mut disk, &batch, generation);
        if let Ok(Some((txns, took))) = &logged {
            commit.stats.fsync_ms.add(took.as_millis() as u64);
            commit.stats.sync_batch.add(*txns as u64);
            commit.recorded.fsync(*took);
        }
        match (&logged, &quorum) {
            (Err(e), None) => log::error!(
                "cannot write the txn log ({e}): refusing writes (NOTREADONLY) until it can be written; reads go on"
            ),
            (Err(e), Some(q)) => {
                log::error!("cannot write the txn log ({e}): leaving the quorum");
                let _ = q.events.send(peer::PeerEvent::LogFailed(e.to_string()));
            }
            (Ok(_), Some(q)) => {
                let last = batch.iter().rev().find_map(|m| match m {
                    CommitMsg::Quorum(QuorumWork::Persist(t)) => Some(t.header.zxid),
                    _ => None,
                });
                if let Some(z) = last {
                    let _ = q.events.send(peer::PeerEvent::Persisted(z));
                }
            }
            (Ok(_), None) => {}
        }
        if logged.is_err() {
            disk.discard_unsynced();
            shared.write_failures.fetch_add(1, Ordering::AcqRel);
        }
        let mode = *shared.mode.lock().expect("mode lock");
        // The quorum figures are copied only for a batch that holds a question about them.
        let asks =
            |m: &CommitMsg| matches!(m, CommitMsg::Prep(_, CommitItem::FourLetter { .. } | CommitItem::Inspect { .. }));
        let figures = (quorum.is_some() && batch.iter().any(asks)).then(|| shared.quorum_figures());
        let view = View {
            mode,
            serving: shared.serving.load(Ordering::Acquire),
            config: &cfg,
            started_wall_ms,
            host: &SystemHost,
            quorum: figures.as_ref(),
            secure_client_port: shared.secure_client_port.get().copied(),
        };
        if alone {
            if let (Some(CommitMsg::Quorum(work)), Some(q)) = (batch.pop(), quorum.as_mut()) {
                quorum_barrier(q, work, &mut commit, &tree, &mut disk, &shared, &view, &mut out);
            }
        } else {
            let mut t = tree.write().expect("tree lock");
            for msg in batch.drain(..) {
                match msg {
                    CommitMsg::Prep(gen, CommitItem::Txn { txn, origin }) if logged.is_err() || gen != generation => {
                        commit.reject_txn(&txn, origin, ErrorCode::NotReadOnly, &mut out);
                    }
                    CommitMsg::Prep(_, item) => commit.step(&mut t, item, shared.now_ms(), wall_ms(), &view, &mut out),
                    CommitMsg::Quorum(work) => {
                        let Some(q) = quorum.as_mut() else { continue };
                        quorum_work(q, work, logged.is_ok(), &mut commit, &mut t, &shared, &view, &mut out);
                    }
                    CommitMsg::Stop { .. } => unreachable!("a stop is never part of a batch"),
                }
            }
        }
        deliver(&shared, &mut out);
        if logged.is_ok() {
            disk.maybe_snapshot(&tree);
        }
    }
}

/// The stop's last step on the commit thread: every connection's writer flushes what is queued
/// and closes its socket. The sessions stay (no closeSession is logged); the clients reconnect
/// to another member, or to this server once it is back.
fn close_all_connections(shared: &Shared) -> Vec<Arc<Gate>> {
    let handles: Vec<(ConnId, ConnHandle)> =
        shared.conns.lock().expect("conn table lock").iter().map(|(c, h)| (*c, h.clone())).collect();
    let mut gates = Vec::with_capacity(handles.len());
    for (conn, h) in handles {
        if h.tx.try_send(WriterMsg::Close).is_err() {
            // A full queue (or a writer already gone): cut it rather than wait.
            let _ = h.stream.shutdown(Shutdown::Both);
        }
        shared.forget(conn);
        gates.push(h.gate);
    }
    gates
}

/// Quorum work done inside a group commit, under the batch's hold of the tree.
#[allow(clippy::too_many_arguments)]
fn quorum_work(
    q: &mut Quorum,
    work: QuorumWork,
    logged: bool,
    commit: &mut Commit,
    t: &mut DataTree,
    shared: &Shared,
    view: &View<'_>,
    out: &mut Vec<Output>,
) {
    match work {
        QuorumWork::Persist(txn) => {
            if logged {
                q.pending.insert(txn.header.zxid, txn);
            }
        }
        QuorumWork::Apply(z) => {
            let Some(txn) = q.pending.remove(&z) else {
                log::error!("asked to apply 0x{z:x}, which is not logged here");
                return;
            };
            q.recent.push_back((z, txn.to_bytes()));
            while q.recent.len() > RECENT_MAX {
                q.recent.pop_front();
            }
            commit.step(t, CommitItem::Txn { txn, origin: None }, shared.now_ms(), wall_ms(), view, out);
        }
        QuorumWork::SetConfigNode(qv) => t.set_config_node(qv.text().as_bytes(), qv.version, wall_ms()),
        QuorumWork::StreamSnapshot(reply) => {
            let mut writer = SnapshotWriter::new(t.last_processed_zxid, &t.sessions);
            writer.add_nodes(t.nodes_after(None, usize::MAX), |i| t.acls.get(i));
            let _ = reply.send(writer.into_sync_stream());
        }
        barrier => unreachable!("{} is done on its own", barrier.name()),
    }
}

/// Quorum work that changes the log or replaces the tree, done on its own.
#[allow(clippy::too_many_arguments)]
fn quorum_barrier(
    q: &mut Quorum,
    work: QuorumWork,
    commit: &mut Commit,
    tree: &Arc<RwLock<DataTree>>,
    disk: &mut disk::Disk,
    shared: &Shared,
    view: &View<'_>,
    out: &mut Vec<Output>,
) {
    match work {
        QuorumWork::InstallSnapshot(new_tree) => {
            let z = new_tree.last_processed_zxid;
            *tree.write().expect("tree lock") = *new_tree;
            q.pending.clear();
            q.recent.clear();
            if let Err(e) = disk.restart_log_at(z) {
                let _ = q.events.send(peer::PeerEvent::LogFailed(e.to_string()));
            }
        }
        QuorumWork::SaveSnapshot => match disk::take_snapshot(tree, disk.dirs().0) {
            Ok(_) => {
                let z = tree.read().expect("tree lock").last_processed_zxid;
                let _ = q.events.send(peer::PeerEvent::Persisted(z));
            }
            Err(e) => {
                let _ = q.events.send(peer::PeerEvent::LogFailed(format!("cannot save the leader's snapshot: {e}")));
            }
        },
        QuorumWork::Truncate(z) => {
            let tree_zxid = tree.read().expect("tree lock").last_processed_zxid;
            q.pending.retain(|k, _| *k <= z);
            q.recent.retain(|(k, _)| *k <= z);
            match disk.truncate(z, tree_zxid) {
                Ok(Some(rebuilt)) => {
                    log::info!("TRUNC to 0x{z:x}: the tree was rebuilt from the files");
                    *tree.write().expect("tree lock") = rebuilt;
                    q.pending.clear();
                }
                Ok(None) => log::info!("TRUNC to 0x{z:x}: log truncated"),
                Err(e) => {
                    let _ = q.events.send(peer::PeerEvent::LogFailed(format!("cannot truncate the log: {e}")));
                }
            }
        }
        QuorumWork::RoleEnded(reply) => {
            // The snapshot thread reads the tree in chunks: let it finish before txns that may
            // never commit are applied (see `Disk::wait_for_snapshot`).
            disk.wait_for_snapshot(Duration::from_secs(60));
            let mut t = tree.write().expect("tree lock");
            commit.step(&mut t, CommitItem::CloseAll, shared.now_ms(), wall_ms(), view, out);
            // Everything logged counts as committed for the next election (as ZooKeeper replays
            // its whole log); a new leader will TRUNC what it does not hold.
            for (z, txn) in std::mem::take(&mut q.pending) {
                if z > t.last_processed_zxid {
                    q.recent.push_back((z, txn.to_bytes()));
                    commit.step(&mut t, CommitItem::Txn { txn, origin: None }, shared.now_ms(), wall_ms(), view, out);
                }
            }
            while q.recent.len() > RECENT_MAX {
                q.recent.pop_front();
            }
            let _ = reply.send((t.last_processed_zxid, q.recent.iter().cloned().collect()));
        }
        other => unreachable!("{} is part of a group commit", other.name()),
    }
}

/// Logs the batch's txns (those prepared in the current generation, and the quorum's proposals)
/// and syncs once.
fn persist(
    disk: &mut disk::Disk,
    batch: &[CommitMsg],
    generation: u64,
) -> Result<Option<(usize, Duration)>, StorageError> {
    for msg in batch {
        match msg {
            CommitMsg::Prep(gen, CommitItem::Txn { txn, .. }) if *gen == generation => disk.append(txn)?,
            CommitMsg::Quorum(QuorumWork::Persist(txn)) => {
                if txn.header.zxid <= disk.last_logged_zxid() {
                    return Err(StorageError::Inconsistent(format!(
                        "proposal 0x{:x} does not follow the log's last txn 0x{:x}",
                        txn.header.zxid,
                        disk.last_logged_zxid()
                    )));
                }
                disk.append(txn)?
            }
            _ => {}
        }
    }
    disk.sync()
}

fn deliver(shared: &Shared, out: &mut Vec<Output>) {
    for o in out.drain(..) {
        match o {
            Output::Send { conn, frame, reply } => shared.send_counted(conn, WriterMsg::Frame(frame), reply),
            Output::Close { conn } => {
                // The writer flushes what is queued, then closes; dropping the route also wakes
                // a reader still waiting for its handshake.
                shared.send_to(conn, WriterMsg::Close);
                shared.forget(conn);
            }
            Output::SessionReady { conn, session } => {
                let handle = shared.conns.lock().expect("conn table lock").get(&conn).cloned();
                if let Some(h) = handle {
                    let _ = h.ready.try_send(session);
                }
            }
        }
    }
}
