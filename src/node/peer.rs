//! The `peer` thread (ZooKeeper's `QuorumPeer`): the one owner of the quorum state. LOOKING runs
//! Fast Leader Election over the election port; LEADING and FOLLOWING/OBSERVING drive the ZAB
//! cores over the quorum port. It only routes what the cores decide:
//!
//! ```text
//! election port ⇄ [ElectionNet] → Election core ─Elected→ Leader core | Learner core
//! quorum port:  leader: [listener] → per learner [reader] → peer → FIFO queue → [writer]
//!               learner: [link reader] → peer → queue → [link writer]
//! peer → commit: Persist, Apply, snapshots, TRUNC; commit → peer: Persisted
//! peer ⇄ prep:   proposals, forwarded requests, session touches and revalidation
//! ```
//!
//! Threads and sockets live here; every protocol decision is in `election`, `zab::leader` and
//! `zab::learner`.

use super::election_net::{ElectionNet, Inbound};
use super::quorum_io::{read_packet, write_packet};
use super::stream::Stream;
use super::tls::QuorumTls;
use super::{spawn, CommitMsg, PrepControl, QuorumWork, Shared};
use crate::auth::quorum::QuorumSasl;
use crate::config::Config;
use crate::election::{Election, Output as Elect, PeerState, Timing};
use crate::ids::{epoch_of, zxid, ServerId, Zxid};
use crate::jute::quorum::QuorumPacket;
use crate::metrics::LeaderFigures;
use crate::pipeline::prep::EnsembleView;
use crate::pipeline::prep::{PrepInput, Role, ToQuorum};
use crate::storage::epoch::{read_epoch, write_epoch, ACCEPTED_EPOCH, CURRENT_EPOCH};
use crate::storage::snapshot::read_sync_stream;
use crate::tree::DataTree;
use crate::verifier::QuorumVerifier;
use crate::zab::leader::{self, Leader, LeaderConfig, LearnerId, LOCAL};
use crate::zab::learner::{self, packet, Learner};
use crate::zab::packet::{self as pk, PacketType};
use crossbeam_channel::{bounded, select, tick, Receiver, Sender, TrySendError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The election core's clock: one tick every 10 ms keeps finalizeWait (200 ms) close to
/// ZooKeeper's.
const ELECTION_TICK: Duration = Duration::from_millis(10);
/// Packets queued for one learner before it is cut off (it then resynchronises): a learner
/// that cannot keep up must not hold the leader's memory or stall the others.
const LEARNER_QUEUE_MAX: usize = 100_000;
/// Packets queued for the leader on a learner.
const LEADER_QUEUE_MAX: usize = 100_000;
/// Between attempts to reach the leader's quorum port.
const CONNECT_RETRY: Duration = Duration::from_millis(100);

/// What the I/O threads and the commit thread tell the peer thread.
pub enum PeerEvent {
    /// The log is durable up to this zxid (or the learner's snapshot is saved at it).
    Persisted(Zxid),
    /// The log (or a snapshot the sync needs) could not be written: leave the role.
    LogFailed(String),
    /// A connection on our quorum port (useful only while leading).
    QuorumConnection(Stream),
    LearnerPacket(LearnerId, QuorumPacket),
    LearnerGone(LearnerId),
    /// Learner side, tagged with the attempt they belong to (older attempts are ignored).
    LeaderConnected(u64, Link),
    LeaderPacket(u64, QuorumPacket, Option<Box<DataTree>>),
    LeaderGone(u64, String),
}

/// The channels the peer thread is wired with.
pub struct Links {
    pub commit_tx: Sender<CommitMsg>,
    pub prep_ctl: Sender<PrepControl>,
    pub from_prep: Receiver<ToQuorum>,
    pub events_tx: Sender<PeerEvent>,
    pub events_rx: Receiver<PeerEvent>,
}

/// What a quorum connection's writer sends.
enum Outgoing {
    Packet(QuorumPacket),
    /// Raw bytes produced elsewhere (the SNAP stream from the commit thread), in queue order.
    Stream(Receiver<Vec<u8>>),
}

/// One quorum connection: its FIFO send queue and the socket, to cut it.
pub struct Link {
    tx: Sender<Outgoing>,
    stream: Arc<Stream>,
}

impl Link {
    fn close(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Queues a packet; false if the queue is full (the caller cuts the link).
    fn send(&self, p: QuorumPacket) -> bool {
        !matches!(self.tx.try_send(Outgoing::Packet(p)), Err(TrySendError::Full(_)))
    }
}

/// Starts the writer thread of a quorum connection and returns its link.
fn open_link(stream: Stream, capacity: usize, name: String) -> io::Result<Link> {
    let stream = Arc::new(stream);
    let (tx, rx) = bounded::<Outgoing>(capacity);
    let write_half = stream.clone();
    spawn(&name, move || run_link_writer(write_half, rx))?;
    Ok(Link { tx, stream })
}

/// Writes queued packets, flushing whenever the queue runs dry (many packets per syscall).
fn run_link_writer(stream: Arc<Stream>, rx: Receiver<Outgoing>) {
    let mut w = BufWriter::with_capacity(64 * 1024, &*stream);
    let result = (|| -> io::Result<()> {
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(item) = next.take() {
                match item {
                    Outgoing::Packet(p) => write_packet(&mut w, &p)?,
                    Outgoing::Stream(bytes) => match bytes.recv() {
                        Ok(b) => w.write_all(&b)?,
                        Err(_) => return Err(io::Error::other("the snapshot for this learner was not produced")),
                    },
                }
                next = rx.try_recv().ok();
            }
            w.flush()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        log::debug!("quorum link writer ends: {e}");
    }
    let _ = stream.shutdown(Shutdown::Both);
}

struct Leading {
    core: Leader,
    links: HashMap<LearnerId, Link>,
}

struct Following {
    core: Learner,
    leader: ServerId,
    attempt: u64,
    link: Option<Link>,
    /// Set to stop the connecting thread when the role ends first.
    stop: Arc<AtomicBool>,
    /// The tree a SNAP carried, until the core asks for it.
    snapshot: Option<Box<DataTree>>,
}

enum PeerRole {
    Looking,
    Leading(Leading),
    Following(Following),
}

struct Peer {
    cfg: Config,
    my_id: ServerId,
    /// The configuration in force (`QuorumPeer.getQuorumVerifier`). A server it does not list
    /// (one a reconfig removed, or one that joins with a partial view) takes part as an
    /// observer, as ZooKeeper's "non-voting participant" does.
    verifier: QuorumVerifier,
    election: Election,
    net: ElectionNet,
    /// Our QuorumVerifier text, sent with every notification.
    config_text: Vec<u8>,
    /// A newer configuration a leader announced (NEWLEADER) that was never put in force here;
    /// kept in `<zoo.cfg>.dynamic.next` as ZooKeeper does.
    last_seen: Option<QuorumVerifier>,
    /// Serving read-only clients while cut off from the quorum (`readonlymode.enabled`).
    read_only: bool,
    /// What prep last heard of the ensemble (leader only).
    ensemble_sent: Option<EnsembleView>,
    role: PeerRole,
    shared: Arc<Shared>,
    links: Links,
    epoch_dir: PathBuf,
    last_zxid: Zxid,
    recent: Vec<(Zxid, Vec<u8>)>,
    started: Instant,
    zab_ticks: u64,
    next_attempt: u64,
    next_learner: LearnerId,
    looking_since: Instant,
    /// Quorum connections that arrived while not leading, kept for initLimit ticks.
    parked: Vec<(Stream, Instant)>,
}

/// The election's view of `qv` from `my_id`: its voters, and its observers plus `my_id` if
/// `qv` does not list it as a voter.
fn election_members(qv: &QuorumVerifier, my_id: ServerId) -> (BTreeSet<ServerId>, BTreeSet<ServerId>) {
    let voters = qv.voters();
    let mut observers = qv.observers();
    if !voters.contains(&my_id) {
        observers.insert(my_id);
    }
    (voters, observers)
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{host} does not resolve")))
}

/// Binds the election and quorum ports and starts the peer thread.
pub fn start(
    cfg: Config,
    shared: Arc<Shared>,
    links: Links,
    last_zxid: Zxid,
    recent: Vec<(Zxid, Vec<u8>)>,
) -> io::Result<thread::JoinHandle<()>> {
    let my_id = cfg.my_id.ok_or_else(|| io::Error::other("an ensemble member needs dataDir/myid"))?;
    let me = cfg.servers.get(&my_id).ok_or_else(|| io::Error::other(format!("myid {my_id} has no server.{my_id}")))?;
    let verifier = cfg.verifier();
    let (voters, observers) = election_members(&verifier, my_id);

    let quorum_listener = TcpListener::bind(resolve(&me.host, me.quorum_port)?)?;
    log::info!("server {my_id} listens for learners on {}", quorum_listener.local_addr()?);
    let events = links.events_tx.clone();
    let tls = shared.quorum_tls.clone();
    spawn("quorum-listener", move || {
        for stream in quorum_listener.incoming() {
            // With sslQuorum the handshake runs on the learner's reader thread, not here.
            let stream = stream.and_then(|s| match &tls {
                Some(t) => t.accept(s),
                None => Ok(Stream::plain(s)),
            });
            match stream {
                Ok(s) => {
                    if events.send(PeerEvent::QuorumConnection(s)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    log::warn!("quorum accept failed: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
    })?;

    let mut peers = BTreeMap::new();
    for s in cfg.servers.values().filter(|s| s.id != my_id) {
        match resolve(&s.host, s.election_port) {
            Ok(a) => {
                peers.insert(s.id, a);
            }
            Err(e) => log::warn!("server.{}: {e}; election messages to it wait until it resolves", s.id),
        }
    }
    let (election_tx, election_rx) = bounded::<Inbound>(1024);
    let listen = resolve(&me.host, me.election_port)?;
    let announce = format!("{}:{}", me.host, me.election_port);
    let (tls, sasl) = (shared.quorum_tls.clone(), shared.quorum_sasl.clone());
    let net = ElectionNet::start_secured(my_id, announce, listen, peers, election_tx, tls, sasl)?;

    let epoch_dir = cfg.data_dir.join("version-2");
    let current = epoch_or_default(&epoch_dir, CURRENT_EPOCH, last_zxid)?;
    let timing = Timing::from_tick_ms(ELECTION_TICK.as_millis() as u64);
    let election = Election::new(my_id, voters, observers, last_zxid, current as i64, timing);
    let mut peer = Peer {
        config_text: verifier.text().into_bytes(),
        last_seen: super::dynamic::load_next(&cfg).filter(|n| cfg.reconfig_enabled && n.version > verifier.version),
        verifier,
        read_only: false,
        ensemble_sent: None,
        cfg,
        my_id,
        election,
        net,
        role: PeerRole::Looking,
        shared,
        links,
        epoch_dir,
        last_zxid,
        recent,
        started: Instant::now(),
        zab_ticks: 0,
        next_attempt: 1,
        next_learner: LOCAL + 1,
        looking_since: Instant::now(),
        parked: Vec::new(),
    };
    spawn("peer", move || peer.run(election_rx))
}

/// An epoch file's value; a missing file starts at the epoch of the last zxid (as ZooKeeper).
fn epoch_or_default(dir: &std::path::Path, name: &str, last_zxid: Zxid) -> io::Result<u32> {
    match read_epoch(dir, name) {
        Ok(Some(e)) => Ok(e as u32),
        Ok(None) => {
            let e = epoch_of(last_zxid);
            write_epoch(dir, name, e as u64).map_err(|e| io::Error::other(e.to_string()))?;
            Ok(e)
        }
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

impl Peer {
    fn run(&mut self, election_rx: Receiver<Inbound>) {
        let ticker = tick(ELECTION_TICK);
        self.shared.update_quorum_figures(|q| q.looking_count += 1);
        let outs = self.election.start_looking(self.last_zxid, self.current_epoch() as i64);
        self.on_election(outs);
        loop {
            select! {
                recv(election_rx) -> m => match m {
                    Ok((from, n, config)) => {
                        if matches!(self.role, PeerRole::Looking) && self.adopt_announced_config(config.as_deref()) {
                            continue;
                        }
                        let outs = self.election.on_notification(from, n);
                        self.on_election(outs);
                    }
                    Err(_) => return,
                },
                recv(self.links.events_rx) -> m => match m {
                    Ok(e) => self.on_event(e),
                    Err(_) => return,
                },
                recv(self.links.from_prep) -> m => match m {
                    Ok(q) => self.on_prep(q),
                    Err(_) => return,
                },
                recv(ticker) -> _ => self.on_tick(),
            }
        }
    }

    /// `FastLeaderElection.Messenger`: a LOOKING server that hears of a newer configuration
    /// adopts it and starts the election again under it. True if it did.
    fn adopt_announced_config(&mut self, config: Option<&[u8]>) -> bool {
        let Some(qv) = config.and_then(|c| QuorumVerifier::parse(&String::from_utf8_lossy(c)).ok()) else {
            return false;
        };
        if !self.cfg.reconfig_enabled || qv.version <= self.verifier.version || qv.voters().is_empty() {
            return false;
        }
        log::info!("Server {}: an election notification carries configuration version {:x}", self.my_id, qv.version);
        if !self.activate(qv, None) {
            let outs = self.election.start_looking(self.last_zxid, self.current_epoch() as i64);
            self.on_election(outs);
        }
        true
    }

    fn current_epoch(&self) -> u32 {
        read_epoch(&self.epoch_dir, CURRENT_EPOCH).ok().flatten().map_or(epoch_of(self.last_zxid), |e| e as u32)
    }

    fn accepted_epoch(&self) -> u32 {
        read_epoch(&self.epoch_dir, ACCEPTED_EPOCH).ok().flatten().map_or(epoch_of(self.last_zxid), |e| e as u32)
    }

    fn tick_ms(&self) -> u64 {
        self.cfg.tick_time_ms.max(1) as u64
    }

    fn on_tick(&mut self) {
        let elapsed = self.started.elapsed();
        let now = (elapsed.as_millis() / ELECTION_TICK.as_millis()) as u64;
        let outs = self.election.on_tick(now);
        self.on_election(outs);
        // QuorumPeer's roZkMgr: after max(2 s, tickTime) without a leader, serve read-only.
        let wait = Duration::from_millis(self.tick_ms().max(2000));
        let looking = matches!(self.role, PeerRole::Looking);
        if self.cfg.read_only_mode_enabled && looking && !self.read_only && self.looking_since.elapsed() >= wait {
            log::info!("Server {}: no quorum for {} ms: serving read-only clients", self.my_id, wait.as_millis());
            self.read_only = true;
            let _ = self.links.prep_ctl.send(PrepControl::SetRole(Role::ReadOnly, 0));
            self.shared.set_mode("read-only", true);
        }
        let zab_now = elapsed.as_millis() as u64 / self.tick_ms();
        while self.zab_ticks < zab_now {
            self.zab_ticks += 1;
            match &mut self.role {
                PeerRole::Leading(_) => self.lead(leader::Input::Tick),
                PeerRole::Following(_) => self.follow(learner::Input::Tick),
                PeerRole::Looking => {}
            }
        }
    }

    fn on_election(&mut self, outs: Vec<Elect>) {
        for o in outs {
            match o {
                Elect::Send { to, notification } => self.net.send(to, &notification, &self.config_text),
                Elect::Elected { vote, state } => self.take_role(vote.leader, state),
            }
        }
    }

    /// The election ended: lead, or connect to the leader.
    fn take_role(&mut self, leader_id: ServerId, state: PeerState) {
        if self.read_only && state != PeerState::Looking {
            // The read-only server stops: its clients reconnect (to us once we serve again).
            log::info!("Server {}: a leader is elected: read-only mode ends", self.my_id);
            self.read_only = false;
            let _ = self.links.prep_ctl.send(PrepControl::SetRole(Role::Down, 0));
            let generation = self.shared.write_failures.load(Ordering::Acquire);
            let _ = self.links.commit_tx.send(CommitMsg::Prep(generation, crate::pipeline::CommitItem::CloseAll));
            self.shared.set_mode("looking", false);
        }
        let took_ms = self.looking_since.elapsed().as_millis() as u64;
        log::info!(
            "Election done in {took_ms} ms: server {leader_id} leads, this server (id {}) is {state:?}",
            self.my_id
        );
        if state != PeerState::Looking {
            self.shared.update_quorum_figures(|q| {
                q.election_time.add(took_ms);
                q.leader_id = Some(leader_id);
                q.leader = (state == PeerState::Leading).then(LeaderFigures::default);
            });
        }
        let accepted = self.accepted_epoch();
        let current = self.current_epoch();
        match state {
            PeerState::Leading => {
                let cfg = LeaderConfig {
                    my_id: self.my_id,
                    verifier: self.verifier.clone(),
                    last_seen: self.last_seen.clone(),
                    init_limit_ticks: self.cfg.init_limit,
                    sync_limit_ticks: self.cfg.sync_limit,
                    committed_log_max: crate::storage::recovery::RECENT_MAX,
                };
                let core = Leader::new(cfg, accepted, current, self.last_zxid, std::mem::take(&mut self.recent));
                self.role = PeerRole::Leading(Leading { core, links: HashMap::new() });
                self.shared.set_mode("leader", false);
                for (stream, _) in std::mem::take(&mut self.parked) {
                    self.on_event(PeerEvent::QuorumConnection(stream));
                }
            }
            PeerState::Following | PeerState::Observing => {
                let observer = state == PeerState::Observing || !self.verifier.is_voter(self.my_id);
                let core = Learner::new(
                    self.my_id,
                    observer,
                    accepted,
                    current,
                    self.last_zxid,
                    self.cfg.init_limit,
                    self.cfg.sync_limit,
                );
                let attempt = self.next_attempt;
                self.next_attempt += 1;
                let stop = Arc::new(AtomicBool::new(false));
                let target = self.verifier.servers.get(&leader_id).map(|s| (s.host.clone(), s.quorum_port));
                let Some((host, port)) = target else {
                    log::error!("the elected leader {leader_id} is not in the configuration");
                    return self.leave_role(format!("leader {leader_id} unknown"));
                };
                let deadline = Duration::from_millis(self.tick_ms() * self.cfg.init_limit as u64);
                let events = self.links.events_tx.clone();
                let stop2 = stop.clone();
                let name = format!("learner-link-{attempt}");
                let (tls, sasl) = (self.shared.quorum_tls.clone(), self.shared.quorum_sasl.clone());
                let target = LeaderAddr { host, port, tls, sasl };
                if let Err(e) =
                    spawn(&name.clone(), move || run_learner_link(attempt, target, deadline, stop2, events, name))
                {
                    return self.leave_role(format!("cannot start the link to the leader: {e}"));
                }
                self.role = PeerRole::Following(Following {
                    core,
                    leader: leader_id,
                    attempt,
                    link: None,
                    stop,
                    snapshot: None,
                });
                self.shared.set_mode(if observer { "observer" } else { "follower" }, false);
            }
            PeerState::Looking => {}
        }
    }

    /// Back to LOOKING: close the quorum links, refuse clients, have the commit thread apply
    /// everything logged, and start an election from there.
    fn leave_role(&mut self, why: String) {
        match std::mem::replace(&mut self.role, PeerRole::Looking) {
            PeerRole::Leading(l) => {
                log::warn!("Leader {} steps down: {why}", self.my_id);
                for link in l.links.values() {
                    link.close();
                }
            }
            PeerRole::Following(f) => {
                log::warn!("Server {} stops following {}: {why}", self.my_id, f.leader);
                f.stop.store(true, Ordering::Release);
                if let Some(link) = &f.link {
                    link.close();
                }
            }
            PeerRole::Looking => {}
        }
        self.read_only = false;
        self.shared.set_mode("looking", false);
        let _ = self.links.prep_ctl.send(PrepControl::SetRole(Role::Down, 0));
        let (tx, rx) = bounded(1);
        if self.links.commit_tx.send(CommitMsg::Quorum(QuorumWork::RoleEnded(tx))).is_err() {
            return;
        }
        // The commit thread never waits on this thread, so this cannot deadlock.
        if let Ok((last, recent)) = rx.recv() {
            self.last_zxid = last;
            self.recent = recent;
        }
        self.shared.touches.lock().expect("touches lock").clear();
        self.looking_since = Instant::now();
        self.shared.update_quorum_figures(|q| {
            q.looking_count += 1;
            q.leader_id = None;
            q.leader = None;
        });
        let outs = self.election.start_looking(self.last_zxid, self.current_epoch() as i64);
        self.on_election(outs);
    }

    fn commit(&self, work: QuorumWork) {
        let _ = self.links.commit_tx.send(CommitMsg::Quorum(work));
    }

    /// The leader answered the oldest client `sync` out: commit replies to it.
    fn synced(&self) {
        let generation = self.shared.write_failures.load(Ordering::Acquire);
        let _ = self.links.commit_tx.send(CommitMsg::Prep(generation, crate::pipeline::CommitItem::Synced));
    }

    fn write_epoch(&mut self, name: &str, e: u32) -> bool {
        match write_epoch(&self.epoch_dir, name, e as u64) {
            Ok(()) => true,
            Err(err) => {
                self.leave_role(format!("cannot write {name}: {err}"));
                false
            }
        }
    }

    fn on_event(&mut self, e: PeerEvent) {
        match e {
            PeerEvent::Persisted(z) => match &self.role {
                PeerRole::Leading(_) => self.lead(leader::Input::Persisted(z)),
                PeerRole::Following(_) => self.follow(learner::Input::Persisted(z)),
                PeerRole::Looking => {}
            },
            PeerEvent::LogFailed(why) => {
                if !matches!(self.role, PeerRole::Looking) {
                    self.leave_role(why);
                }
            }
            PeerEvent::QuorumConnection(stream) => {
                let PeerRole::Leading(l) = &mut self.role else {
                    // A learner that finished its election first: it waits here (its FOLLOWERINFO
                    // unread) until we lead, as ZooKeeper's learner retries a refused connection.
                    let keep = Duration::from_millis(self.tick_ms() * self.cfg.init_limit as u64);
                    self.parked.retain(|(_, at)| at.elapsed() < keep);
                    self.parked.push((stream, Instant::now()));
                    return;
                };
                let id = self.next_learner;
                self.next_learner += 1;
                let _ = stream.set_nodelay(true);
                let read_half = match stream.try_clone() {
                    Ok(r) => r,
                    Err(_) => return,
                };
                let link = match open_link(stream, LEARNER_QUEUE_MAX, format!("learner-{id}-writer")) {
                    Ok(l) => l,
                    Err(e) => return log::warn!("cannot start a learner writer: {e}"),
                };
                let events = self.links.events_tx.clone();
                let sasl = self.shared.quorum_sasl.clone();
                let reader = move || run_learner_reader(id, read_half, sasl, events);
                if spawn(&format!("learner-{id}-reader"), reader).is_err() {
                    link.close();
                    return;
                }
                l.links.insert(id, link);
                self.lead(leader::Input::LearnerConnected(id));
            }
            PeerEvent::LearnerPacket(id, p) => {
                if matches!(&self.role, PeerRole::Leading(l) if l.links.contains_key(&id)) {
                    self.lead(leader::Input::Packet(id, p));
                }
            }
            PeerEvent::LearnerGone(id) => {
                if let PeerRole::Leading(l) = &mut self.role {
                    if let Some(link) = l.links.remove(&id) {
                        link.close();
                        self.lead(leader::Input::LearnerGone(id));
                    }
                }
            }
            PeerEvent::LeaderConnected(attempt, link) => match &mut self.role {
                PeerRole::Following(f) if f.attempt == attempt => {
                    f.link = Some(link);
                    self.follow(learner::Input::Connected);
                }
                _ => link.close(),
            },
            PeerEvent::LeaderPacket(attempt, p, tree) => {
                if let PeerRole::Following(f) = &mut self.role {
                    if f.attempt == attempt {
                        if tree.is_some() {
                            f.snapshot = tree;
                        }
                        self.follow(learner::Input::Packet(p));
                    }
                }
            }
            PeerEvent::LeaderGone(attempt, why) => {
                if matches!(&self.role, PeerRole::Following(f) if f.attempt == attempt) {
                    self.leave_role(why);
                }
            }
        }
    }

    fn on_prep(&mut self, q: ToQuorum) {
        match (&mut self.role, q) {
            (PeerRole::Leading(l), ToQuorum::Propose(t)) => {
                if !l.core.accepts_proposal(t.header.zxid) {
                    log::warn!("dropping proposal 0x{:x}: not this leader's next zxid", t.header.zxid);
                    return;
                }
                self.shared.update_quorum_figures(|q| q.proposal_count += 1);
                self.lead(leader::Input::Propose(t));
            }
            (PeerRole::Leading(_), ToQuorum::LocalSync) => self.lead(leader::Input::LocalSync),
            (PeerRole::Leading(_), ToQuorum::LearnerSync { learner }) => self.lead(leader::Input::LearnerSync(learner)),
            (PeerRole::Leading(l), ToQuorum::Revalidated { learner, session, valid }) => {
                if let Some(link) = l.links.get(&learner) {
                    let p = packet(PacketType::Revalidate, -1, Some(pk::encode_revalidate_answer(session, valid)));
                    link.send(p);
                }
            }
            (PeerRole::Following(f), ToQuorum::Request(req, auth)) if f.core.is_serving() => {
                let mut p = packet(PacketType::Request, -1, Some(req.encode()));
                p.auth_info = auth;
                self.send_to_leader(p);
            }
            (PeerRole::Following(f), ToQuorum::Revalidate { session, timeout }) if f.core.is_serving() => {
                let p = packet(PacketType::Revalidate, -1, Some(pk::encode_revalidate(session, timeout)));
                self.send_to_leader(p);
            }
            (_, q) => log::debug!("not in a role for {q:?}: dropped (its client is disconnected)"),
        }
    }

    fn send_to_leader(&mut self, p: QuorumPacket) {
        let full = match &self.role {
            PeerRole::Following(Following { link: Some(link), .. }) => !link.send(p),
            _ => false,
        };
        if full {
            self.leave_role("the queue to the leader is full".into());
        }
    }

    /// Steps the leader core and carries out what it decided.
    fn lead(&mut self, input: leader::Input) {
        let PeerRole::Leading(l) = &mut self.role else { return };
        let mut out = Vec::new();
        l.core.step(input, &mut out);
        for o in out {
            let PeerRole::Leading(l) = &mut self.role else { return };
            match o {
                leader::Output::Send(LOCAL, p) => {
                    if p.kind == PacketType::Sync as i32 {
                        self.synced();
                    }
                }
                leader::Output::Send(id, p) => {
                    if let Some(link) = l.links.get(&id) {
                        if !link.send(p) {
                            log::warn!("learner {id}: send queue full ({LEARNER_QUEUE_MAX} packets), cutting it off");
                            link.close();
                        }
                    }
                }
                leader::Output::StreamSnapshot(id) => {
                    if let Some(link) = l.links.get(&id) {
                        let (tx, rx) = bounded(1);
                        if link.tx.try_send(Outgoing::Stream(rx)).is_ok() {
                            self.commit(QuorumWork::StreamSnapshot(tx));
                        } else {
                            link.close();
                        }
                    }
                }
                leader::Output::Close(id, why) => {
                    if let Some(link) = l.links.remove(&id) {
                        log::info!("closing learner {id}: {why}");
                        link.close();
                    }
                }
                leader::Output::WriteAcceptedEpoch(e) => {
                    if !self.write_epoch(ACCEPTED_EPOCH, e) {
                        return;
                    }
                }
                leader::Output::WriteCurrentEpoch(e) => {
                    if !self.write_epoch(CURRENT_EPOCH, e) {
                        return;
                    }
                }
                leader::Output::Persist(t) => self.commit(QuorumWork::Persist(t)),
                leader::Output::Apply(z) => self.commit(QuorumWork::Apply(z)),
                leader::Output::Established { epoch } => {
                    log::info!("Server {} leads epoch {epoch}: serving clients", self.my_id);
                    let now_ms = self.shared.now_ms();
                    self.shared.update_quorum_figures(|q| {
                        if let Some(l) = q.leader.as_mut() {
                            l.established_ms = Some(now_ms);
                        }
                    });
                    self.election.update_election_vote(epoch as i64);
                    let _ = self.links.prep_ctl.send(PrepControl::SetRole(Role::Leader, zxid(epoch, 1)));
                    self.shared.set_mode("leader", true);
                }
                leader::Output::StepDown(why) => return self.leave_role(why),
                leader::Output::Forward { learner, request, auth } => {
                    let _ =
                        self.links.prep_ctl.send(PrepControl::Input(PrepInput::FromLearner { learner, request, auth }));
                }
                leader::Output::Touches(t) => {
                    let _ = self.links.prep_ctl.send(PrepControl::Input(PrepInput::Touches(t)));
                }
                leader::Output::Revalidate { learner, session, timeout } => {
                    let ask = PrepInput::RevalidateAsk { learner, session, timeout };
                    let _ = self.links.prep_ctl.send(PrepControl::Input(ask));
                }
                leader::Output::Activate { verifier, designated } => {
                    if self.activate(verifier, Some(designated)) {
                        return;
                    }
                }
            }
        }
        self.publish_leader_figures();
        self.publish_ensemble();
    }

    /// Tells prep, when it changed, what a `reconfig` is checked against.
    fn publish_ensemble(&mut self) {
        let PeerRole::Leading(l) = &self.role else { return };
        let view = EnsembleView {
            verifier: l.core.verifier().clone(),
            reconfig_in_flight: l.core.reconfig_in_flight(),
            synced: l.core.synced_followers(),
        };
        if self.ensemble_sent.as_ref() != Some(&view) {
            self.ensemble_sent = Some(view.clone());
            let _ = self.links.prep_ctl.send(PrepControl::Ensemble(view));
        }
    }

    /// `QuorumPeer.processReconfig`: puts a newer configuration in force (with reconfig enabled;
    /// otherwise nothing happens, as in ZooKeeper): written to disk and `/zookeeper/config`,
    /// handed to the election. A learner whose own role changed (voter, observer, not listed)
    /// or whose leader no longer leads goes back to election; a leader that handed over steps
    /// down by itself. True if the role ended.
    fn activate(&mut self, qv: QuorumVerifier, designated: Option<ServerId>) -> bool {
        if !self.cfg.reconfig_enabled || qv.version <= self.verifier.version {
            return false;
        }
        let prev = std::mem::replace(&mut self.verifier, qv);
        let qv = self.verifier.clone();
        if self.last_seen.as_ref().is_some_and(|n| n.version <= qv.version) {
            self.last_seen = None;
        }
        log::info!("Server {}: configuration version {:x} in force: {:?}", self.my_id, qv.version, qv.voters());
        if let Err(e) = super::dynamic::save(&self.cfg, &qv) {
            log::error!("cannot write the dynamic configuration file (version {:x}): {e}", qv.version);
        }
        self.commit(QuorumWork::SetConfigNode(qv.clone()));
        self.config_text = qv.text().into_bytes();
        let (voters, observers) = election_members(&qv, self.my_id);
        self.election.set_members(voters, observers);
        for s in qv.servers.values().filter(|s| s.id != self.my_id) {
            match resolve(&s.host, s.election_port) {
                Ok(a) => self.net.set_peer(s.id, a),
                Err(e) => log::warn!("server.{}: {e}", s.id),
            }
        }
        let voter_count = qv.voters().len() as u64;
        self.shared.update_quorum_figures(|q| q.quorum_size = voter_count);
        let role_changed = prev.is_voter(self.my_id) != qv.is_voter(self.my_id);
        let leader_changed = match &self.role {
            PeerRole::Following(f) => designated.map_or(!qv.is_voter(f.leader), |d| d != f.leader),
            PeerRole::Leading(_) | PeerRole::Looking => false,
        };
        if (role_changed || leader_changed) && !matches!(self.role, PeerRole::Leading(_)) {
            let why = format!("reconfiguration {:x} changed this server's role or its leader", qv.version);
            self.leave_role(why);
            return true;
        }
        false
    }

    /// Copies the leader core's figures to where `mntr` and `/metrics` read them.
    fn publish_leader_figures(&self) {
        let PeerRole::Leading(l) = &self.role else { return };
        let now = l.core.figures();
        self.shared.update_quorum_figures(|q| {
            let established_ms = q.leader.and_then(|was| was.established_ms);
            q.leader = Some(LeaderFigures { established_ms, ..now });
        });
    }

    /// Steps the learner core and carries out what it decided.
    fn follow(&mut self, input: learner::Input) {
        let mut pending = vec![input];
        while let Some(input) = pending.pop() {
            let PeerRole::Following(f) = &mut self.role else { return };
            let mut out = Vec::new();
            f.core.step(input, &mut out);
            for o in out {
                let PeerRole::Following(f) = &mut self.role else { return };
                match o {
                    learner::Output::Send(p) => self.send_to_leader(p),
                    learner::Output::WriteAcceptedEpoch(e) => {
                        if !self.write_epoch(ACCEPTED_EPOCH, e) {
                            return;
                        }
                    }
                    learner::Output::WriteCurrentEpoch(e) => {
                        if !self.write_epoch(CURRENT_EPOCH, e) {
                            return;
                        }
                    }
                    learner::Output::Truncate(z) => {
                        log::info!("Synchronizing with leader {} by TRUNC to 0x{z:x}", f.leader);
                        self.commit(QuorumWork::Truncate(z));
                    }
                    learner::Output::ReadSnapshot(z) => {
                        log::info!("Synchronizing with leader {} by SNAP at 0x{z:x}", f.leader);
                        match f.snapshot.take() {
                            Some(tree) if tree.last_processed_zxid == z => {
                                self.commit(QuorumWork::InstallSnapshot(tree));
                                pending.push(learner::Input::SnapshotLoaded);
                            }
                            _ => return self.leave_role(format!("SNAP 0x{z:x} without its snapshot")),
                        }
                    }
                    learner::Output::SaveSnapshot => self.commit(QuorumWork::SaveSnapshot),
                    learner::Output::Persist(t) => self.commit(QuorumWork::Persist(t)),
                    learner::Output::Apply(z) => self.commit(QuorumWork::Apply(z)),
                    learner::Output::Serving => {
                        let epoch = f.core.current_epoch();
                        let observer = !self.verifier.is_voter(self.my_id);
                        log::info!("Server {} is synchronised with leader {} (epoch {epoch})", self.my_id, f.leader);
                        self.election.update_election_vote(epoch as i64);
                        let _ = self.links.prep_ctl.send(PrepControl::SetRole(Role::Follower, 0));
                        self.shared.set_mode(if observer { "observer" } else { "follower" }, true);
                    }
                    learner::Output::PingReply(mut p) => {
                        let touches: Vec<_> = self.shared.touches.lock().expect("touches lock").drain().collect();
                        p.data = Some(pk::encode_touches(&touches));
                        self.send_to_leader(p);
                    }
                    learner::Output::Synced(_) => self.synced(),
                    learner::Output::Revalidated { session, valid } => {
                        let _ = self.links.prep_ctl.send(PrepControl::Input(PrepInput::Revalidated { session, valid }));
                    }
                    learner::Output::Abandon(why) => return self.leave_role(why),
                    learner::Output::SeenConfig(config) => match QuorumVerifier::parse(&config) {
                        Ok(qv) if self.cfg.reconfig_enabled => {
                            let newest = self.last_seen.as_ref().map_or(self.verifier.version, |n| n.version);
                            if qv.version > newest {
                                if let Err(e) = super::dynamic::save_next(&self.cfg, &qv) {
                                    return self
                                        .leave_role(format!("cannot record configuration {:x}: {e}", qv.version));
                                }
                                self.last_seen = Some(qv);
                            }
                        }
                        Ok(_) => {}
                        Err(e) => log::warn!("the leader announced a configuration that does not parse: {e}"),
                    },
                    learner::Output::Activate { config, designated } => match QuorumVerifier::parse(&config) {
                        Ok(qv) => {
                            if self.activate(qv, designated) {
                                return;
                            }
                        }
                        Err(e) => log::warn!("the leader sent a configuration that does not parse: {e}"),
                    },
                }
            }
        }
    }
}

/// Leader side: reads one learner's packets until the connection ends; first, with quorum SASL,
/// the learner logs in (`LearnerHandler` runs `authServer.authenticate` before its first read).
fn run_learner_reader(id: LearnerId, stream: Stream, sasl: Option<Arc<QuorumSasl>>, events: Sender<PeerEvent>) {
    let first = match sasl.map(|sasl| authenticate_learner_of(&sasl, &stream)).transpose() {
        Ok(first) => first.unwrap_or_default(),
        Err(e) => {
            log::warn!("learner {id} failed quorum SASL authentication, closing the connection: {e}");
            let _ = stream.shutdown(std::net::Shutdown::Both);
            let _ = events.send(PeerEvent::LearnerGone(id));
            return;
        }
    };
    let mut r = BufReader::with_capacity(64 * 1024, io::Cursor::new(first).chain(stream));
    loop {
        match read_packet(&mut r) {
            Ok(p) => {
                if events.send(PeerEvent::LearnerPacket(id, p)).is_err() {
                    return;
                }
            }
            Err(e) => {
                log::info!("learner {id} disconnected: {e}");
                let _ = events.send(PeerEvent::LearnerGone(id));
                return;
            }
        }
    }
}

/// Learner side: connects to the leader (retrying until `deadline`), then reads its packets;
/// a SNAP's snapshot stream is read right here, off the same buffered stream.
/// The leader's side of a learner's quorum SASL login, bounded in time; the bytes read that were
/// not a login (a learner that does not log in, when that is allowed).
fn authenticate_learner_of(sasl: &QuorumSasl, stream: &Stream) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let first = sasl.authenticate_server(&mut &*stream, crate::auth::random_nonce()?)?;
    stream.set_read_timeout(None)?;
    Ok(first)
}

/// How long a TLS handshake or a quorum SASL login on the quorum port may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a learner finds its leader's quorum port, and how to speak to it.
struct LeaderAddr {
    host: String,
    port: u16,
    tls: Option<Arc<QuorumTls>>,
    sasl: Option<Arc<QuorumSasl>>,
}

impl LeaderAddr {
    /// Connects; with sslQuorum the TLS handshake, with quorum SASL the login
    /// (`Learner.connectToLeader`, then `authLearner.authenticate`).
    fn connect(&self) -> io::Result<Stream> {
        let tcp = TcpStream::connect_timeout(&resolve(&self.host, self.port)?, Duration::from_secs(1))?;
        let mut s = match &self.tls {
            Some(t) => t.connect(tcp)?,
            None => Stream::plain(tcp),
        };
        s.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
        if s.is_tls() {
            s.complete_handshake().map_err(|e| io::Error::other(format!("TLS handshake: {e}")))?;
        }
        if let Some(sasl) = &self.sasl {
            let login = sasl.authenticate_learner(&mut s, crate::auth::random_nonce()?);
            login.map_err(|e| io::Error::other(format!("quorum SASL login: {e}")))?;
        }
        s.set_read_timeout(None)?;
        Ok(s)
    }
}

fn run_learner_link(
    attempt: u64,
    leader: LeaderAddr,
    deadline: Duration,
    stop: Arc<AtomicBool>,
    events: Sender<PeerEvent>,
    name: String,
) {
    let until = Instant::now() + deadline;
    let stream = loop {
        if stop.load(Ordering::Acquire) {
            return;
        }
        match leader.connect() {
            Ok(s) => break s,
            Err(e) if Instant::now() >= until => {
                let (host, port) = (&leader.host, leader.port);
                let _ = events.send(PeerEvent::LeaderGone(attempt, format!("cannot reach {host}:{port}: {e}")));
                return;
            }
            Err(_) => thread::sleep(CONNECT_RETRY),
        }
    };
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        let _ = events.send(PeerEvent::LeaderGone(attempt, "cannot clone the socket".into()));
        return;
    };
    let link = match open_link(stream, LEADER_QUEUE_MAX, format!("{name}-writer")) {
        Ok(l) => l,
        Err(e) => {
            let _ = events.send(PeerEvent::LeaderGone(attempt, e.to_string()));
            return;
        }
    };
    if events.send(PeerEvent::LeaderConnected(attempt, link)).is_err() {
        return;
    }
    let mut r = BufReader::with_capacity(64 * 1024, read_half);
    let why = loop {
        let p = match read_packet(&mut r) {
            Ok(p) => p,
            Err(e) => break format!("connection to the leader lost: {e}"),
        };
        let tree = if p.kind == PacketType::Snap as i32 {
            match read_sync_stream(&mut r, p.zxid) {
                Ok(t) => Some(Box::new(t)),
                Err((at, e)) => break format!("bad snapshot from the leader at offset {at}: {e}"),
            }
        } else {
            None
        };
        if events.send(PeerEvent::LeaderPacket(attempt, p, tree)).is_err() {
            return;
        }
    };
    let _ = events.send(PeerEvent::LeaderGone(attempt, why));
}
