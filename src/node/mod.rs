//! The shell: threads, sockets, channels and clocks. Decisions live in `pipeline`; this module
//! only moves inputs to the cores and their outputs to sockets.
//!
//! Threads of a standalone server:
//! - `listener`: accepts client connections, enforces maxClientCnxns, starts two threads per
//!   connection (`conn::run_reader`, `conn::run_writer`).
//! - `prep`: the only caller of `Prep::step`; reads the tree under a read lock.
//! - `commit`: the only caller of `Commit::step`; the only writer of the tree.

pub mod conn;
pub mod disk;
pub mod election_net;
pub mod quorum_io;

use crate::codes::ErrorCode;
use crate::config::Config;
use crate::fourlw::{SystemHost, View};
use crate::ids;
use crate::limits;
use crate::pipeline::commit::{Commit, Output};
use crate::pipeline::prep::{Prep, PrepConfig, PrepInput};
use crate::pipeline::{CommitItem, ConnId};
use crate::storage::StorageError;
use crate::tree::DataTree;
use crossbeam_channel::{bounded, select, tick, Receiver, Sender, TrySendError};
use std::collections::HashMap;
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
    four_letter_whitelist: Vec<String>,
    started: Instant,
    /// How many times a log write has failed: commit bumps it, prep resets its in-flight state
    /// when it sees a new value, and txns prepared before that are refused.
    write_failures: AtomicU64,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
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
        if let Err(TrySendError::Full(_)) = h.tx.try_send(msg) {
            log::warn!("connection {conn}: send queue full ({} frames), closing it", limits::CONN_SEND_QUEUE_MAX);
            let _ = h.stream.shutdown(Shutdown::Both);
        }
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
    threads: Vec<thread::JoinHandle<()>>,
}

impl Server {
    /// Blocks until the server's threads end (they do not, short of a fatal error).
    pub fn wait(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Binds the client port and starts every thread of a standalone server.
pub fn start(cfg: Config) -> io::Result<Server> {
    let (disk, tree) = disk::Disk::open(&cfg).map_err(|e| io::Error::other(e.to_string()))?;
    let listener = TcpListener::bind(cfg.client_addr())?;
    let client_addr = listener.local_addr()?;
    let started = Instant::now();

    let (prep_tx, prep_rx) = bounded::<PrepInput>(limits::PREP_QUEUE_MAX);
    let (commit_tx, commit_rx) = bounded::<(u64, CommitItem)>(limits::COMMIT_QUEUE_MAX);
    let shared = Arc::new(Shared {
        prep_tx,
        conns: Mutex::new(HashMap::new()),
        per_ip: Mutex::new(HashMap::new()),
        max_frame: cfg.jute_maxbuffer,
        super_digest: cfg.super_digest.clone(),
        four_letter_whitelist: cfg.four_letter_whitelist.clone(),
        started,
        write_failures: AtomicU64::new(0),
    });

    let prep_cfg = PrepConfig {
        tick_ms: cfg.tick_time_ms,
        session_timeout_ms_min: cfg.min_session_timeout_ms,
        session_timeout_ms_max: cfg.max_session_timeout_ms,
        extended_types_enabled: cfg.extended_types_enabled,
        skip_acl: cfg.skip_acl,
        reconfig_enabled: cfg.reconfig_enabled,
    };
    let first_session = ids::initial_session_id(0, wall_ms() as u64);
    let mut prep = Prep::new(prep_cfg, tree.last_processed_zxid, first_session);
    prep.track_sessions_of(&tree, 0);
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

    let mut threads = Vec::new();
    {
        let tree = tree.clone();
        let shared = shared.clone();
        threads.push(spawn("prep", move || run_prep(prep, tree, prep_rx, commit_tx, shared, tick_every, reap_every))?);
    }
    {
        let tree = tree.clone();
        let shared = shared.clone();
        let cfg = cfg.clone();
        threads.push(spawn("commit", move || run_commit(cfg, tree, disk, commit_rx, shared))?);
    }
    {
        let shared = shared.clone();
        let max_per_ip = cfg.max_client_cnxns;
        threads.push(spawn("listener", move || run_listener(listener, shared, max_per_ip))?);
    }
    Ok(Server { client_addr, threads })
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, f: F) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name(name.to_string()).spawn(f)
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

fn run_listener(listener: TcpListener, shared: Arc<Shared>, max_per_ip: u32) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                log::warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue;
        };
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
        let (tx, rx) = bounded(limits::CONN_SEND_QUEUE_MAX);
        let (ready_tx, ready_rx) = bounded(1);
        let write_half = match stream.try_clone() {
            Ok(s) => Arc::new(s),
            Err(_) => continue,
        };
        let gate = Arc::new(Gate::default());
        let handle = ConnHandle { tx, ready: ready_tx, stream: write_half, ip: peer.ip(), gate: gate.clone() };
        shared.conns.lock().expect("conn table lock").insert(conn, handle.clone());
        // The commit thread learns the connection's address through prep, in order.
        let _ = shared.prep_tx.send(PrepInput::Accept { conn, remote: format!("/{peer}") });
        let reader_shared = shared.clone();
        let reader_gate = gate.clone();
        let r = spawn(&format!("conn-{conn}-reader"), move || {
            conn::run_reader(reader_shared, conn, stream, ready_rx, reader_gate)
        });
        let write_half = handle.stream.clone();
        let w = spawn(&format!("conn-{conn}-writer"), move || conn::run_writer(write_half, rx, gate));
        if r.is_err() || w.is_err() {
            log::error!("could not start threads for connection {conn}");
            shared.forget(conn);
        }
    }
}

fn run_prep(
    mut prep: Prep,
    tree: Arc<RwLock<DataTree>>,
    rx: Receiver<PrepInput>,
    commit_tx: Sender<(u64, CommitItem)>,
    shared: Arc<Shared>,
    tick_every: Duration,
    reap_every: Duration,
) {
    let ticker = tick(tick_every);
    let mut last_reap = Instant::now();
    let mut generation = 0;
    let mut out = Vec::new();
    loop {
        let input = select! {
            recv(rx) -> m => match m { Ok(m) => m, Err(_) => return },
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
        for item in out.drain(..) {
            if commit_tx.send((generation, item)).is_err() {
                return;
            }
        }
    }
}

/// Most items the commit thread takes into one group commit.
const COMMIT_BATCH_MAX: usize = 4096;

fn run_commit(
    cfg: Config,
    tree: Arc<RwLock<DataTree>>,
    mut disk: disk::Disk,
    rx: Receiver<(u64, CommitItem)>,
    shared: Arc<Shared>,
) {
    let mut commit = Commit::new(cfg.skip_acl);
    let view = View { mode: "standalone", config: &cfg, started_wall_ms: wall_ms(), host: &SystemHost };
    let mut out = Vec::new();
    let mut batch: Vec<(u64, CommitItem)> = Vec::with_capacity(COMMIT_BATCH_MAX);
    while let Ok(first) = rx.recv() {
        // Group commit: everything queued now is logged with one write and one fsync, then
        // applied and answered. Nothing is acknowledged before it is durable.
        batch.push(first);
        while batch.len() < COMMIT_BATCH_MAX {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let generation = shared.write_failures.load(Ordering::Acquire);
        let logged = persist(&mut disk, &batch, generation);
        if let Ok(Some((txns, took))) = &logged {
            commit.stats.fsync_ms.add(took.as_millis() as u64);
            commit.stats.sync_batch.add(*txns as u64);
        }
        if let Err(e) = &logged {
            log::error!(
                "cannot write the txn log ({e}): refusing writes (NOTREADONLY) until it can be written; reads go on"
            );
            disk.discard_unsynced();
            shared.write_failures.fetch_add(1, Ordering::AcqRel);
        }
        {
            let mut tree = tree.write().expect("tree lock");
            for (gen, item) in batch.drain(..) {
                match item {
                    CommitItem::Txn { txn, origin } if logged.is_err() || gen != generation => {
                        commit.reject_txn(&txn, origin, ErrorCode::NotReadOnly, &mut out);
                    }
                    item => commit.step(&mut tree, item, shared.now_ms(), wall_ms(), &view, &mut out),
                }
            }
        }
        deliver(&shared, &mut out);
        if logged.is_ok() {
            disk.maybe_snapshot(&tree);
        }
    }
}

/// Logs the batch's txns (those prepared in the current generation) and syncs once.
fn persist(
    disk: &mut disk::Disk,
    batch: &[(u64, CommitItem)],
    generation: u64,
) -> Result<Option<(usize, Duration)>, StorageError> {
    for (gen, item) in batch {
        if let CommitItem::Txn { txn, .. } = item {
            if *gen == generation {
                disk.append(txn)?;
            }
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
