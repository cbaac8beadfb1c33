//! A replicated ensemble of real `rookery` processes on loopback: per-server directories
//! (zoo.cfg, data/myid, server.log) under one temp dir, start/kill -9/restart/freeze of one
//! member, the mode and zxid each reports through `srvr`, and the tree each serves (walked through
//! the client API) for comparing members. Optionally every quorum and election link passes
//! through a fault-injecting proxy ([`super::netproxy::Mesh`]) so a test can partition members.
//!
//! Only processes started here are ever signalled, by their PID; every loop has a deadline. When a
//! test panics, the members' logs are printed (the tail of each, or all with
//! `ENSEMBLE_FULL_LOGS=1`) and the processes are killed.
#![allow(dead_code)]

use super::netproxy::{Fault, Mesh, PortKind};
use super::TempDir;
use rookery::client::{Client, ClientError};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Timing and access settings every member gets (the brief's: tick 100 ms, initLimit 20 ticks,
/// syncLimit 5 ticks). `maxSessionTimeout` is raised because the test client does not ping on its
/// own: an idle session must outlive the 20-tick default.
pub const BASE_CFG: &str = "tickTime=100\ninitLimit=20\nsyncLimit=5\n4lw.commands.whitelist=*\n\
clientPortAddress=127.0.0.1\nmaxSessionTimeout=60000\n";

/// Session timeout of the clients `Ensemble::client` opens.
pub const CLIENT_TIMEOUT_MS: i32 = 30_000;

/// How long a member may take to print its ready line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub const EPHEMERAL: i32 = 1;
pub const SEQUENTIAL: i32 = 2;

pub struct Member {
    pub id: u64,
    pub dir: PathBuf,
    pub client_addr: SocketAddr,
    pub quorum_port: u16,
    pub election_port: u16,
    child: Option<Child>,
    starts: u32,
    /// This member's ports, held while it is not running.
    reserved: Vec<Reservation>,
    /// Extra environment for this member's process (e.g. systemd's NOTIFY_SOCKET).
    pub env: Vec<(String, String)>,
}

impl Member {
    pub fn cfg_path(&self) -> PathBuf {
        self.dir.join("zoo.cfg")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// `dataDir/version-2`, where logs, snapshots and epoch files live.
    pub fn version2(&self) -> PathBuf {
        self.dir.join("data").join("version-2")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

/// One node of a tree as every member must hold it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeFp {
    pub path: String,
    pub data: Option<Vec<u8>>,
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub num_children: i32,
}

pub struct Ensemble {
    pub members: Vec<Member>,
    pub net: Option<Mesh>,
    /// Keeps the members' directories until the ensemble is dropped.
    _dir: TempDir,
}

/// Ports chosen by the OS: `n` listeners bound at once on 127.0.0.1:0.
pub fn reserve_ports(n: usize) -> Vec<TcpListener> {
    (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect()
}

/// Holds a port of a member that is not running, so that nothing else takes it meanwhile (a
/// proxy's or another test's bind to port 0, an outgoing connection's source port): a thread
/// accepts every connection and closes it at once, as a member that is down or not serving
/// would look to a client. Released (the listener closed) just before the member starts.
struct Reservation {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reservation {
    fn hold(listener: TcpListener) -> Reservation {
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                if let Ok(c) = conn {
                    let _ = c.shutdown(std::net::Shutdown::Both);
                }
            }
        });
        Reservation { addr, stop, thread: Some(thread) }
    }

    /// Reserves `port` again (after a kill), if it is free.
    fn again(port: u16) -> Option<Reservation> {
        TcpListener::bind(("127.0.0.1", port)).ok().map(Reservation::hold)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept so the thread returns and closes the listener; wait for that.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Sends a four-letter word to `addr`; None if the connection fails.
pub fn four(addr: SocketAddr, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(cmd.as_bytes()).ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    Some(out)
}

/// The `Mode:` of a `srvr` answer; None when the member is not serving.
pub fn mode_of(srvr: &str) -> Option<String> {
    srvr.lines().find_map(|l| l.strip_prefix("Mode: ")).map(|m| m.trim().to_string())
}

/// The `Zxid:` of a `srvr` answer.
pub fn zxid_of(srvr: &str) -> Option<i64> {
    srvr.lines()
        .find_map(|l| l.strip_prefix("Zxid: "))
        .and_then(|z| i64::from_str_radix(z.trim().trim_start_matches("0x"), 16).ok())
}

pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// The message part of a log line: after env_logger's `[time LEVEL target] `, or in reference
/// mode after slf4j-simple's `millis [thread] LEVEL class - `.
fn message_of(line: &str) -> &str {
    if line.starts_with('[') {
        return line.split_once("] ").map_or(line, |(_, m)| m);
    }
    match line.split_once("] ") {
        Some((_, rest)) => rest.split_once(" - ").map_or(rest, |(_, m)| m),
        None => line,
    }
}

/// `ROOKERY_ENSEMBLE_REFERENCE=zookeeper`: the members are Apache ZooKeeper 3.8's
/// `QuorumPeerMain` (Debian's jars) instead of `rookery`, to check the tests' expectations.
pub fn reference_mode() -> bool {
    std::env::var("ROOKERY_ENSEMBLE_REFERENCE").is_ok_and(|v| v == "zookeeper")
}

/// Whether a log line reports syncing learner `sid` with `kind` (DIFF, TRUNC or SNAP): the word
/// and the sid both appear in its message as whole tokens, and it is not a refusal (ZooKeeper's
/// "Cannot send TRUNC to peer sid: 2 ...", after which it sends a snapshot).
pub fn is_sync_line(line: &str, sid: u64, kind: &str) -> bool {
    let msg = message_of(line);
    let tokens: Vec<&str> = msg.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).collect();
    let sid = sid.to_string();
    tokens.contains(&kind) && tokens.contains(&sid.as_str()) && !tokens.contains(&"Cannot")
}

/// ZooKeeper's leader logs a snapshot sync as "Sending snapshot ..." without the sid, after
/// "Synchronizing with Learner sid: N ..." from the same LearnerHandler thread: such lines are
/// returned as "SNAP for learner N: <line>", so `is_sync_line` finds them (reference mode).
fn with_reference_snap_lines(tail: &str) -> Vec<String> {
    let mut sid_of_thread: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in tail.lines() {
        let thread = line.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(t, _)| t.to_string());
        if let (Some(t), Some((_, rest))) = (&thread, line.split_once("Synchronizing with Learner sid: ")) {
            let sid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            sid_of_thread.insert(t.clone(), sid);
        }
        match thread.and_then(|t| sid_of_thread.get(&t)) {
            Some(sid) if line.contains("Sending snapshot") => {
                out.push(format!("[reference] SNAP for learner {sid}: {}", message_of(line)))
            }
            _ => out.push(line.to_string()),
        }
    }
    out
}

impl Ensemble {
    /// Writes the directories of `n` members (ids 1..=n) without starting any.
    pub fn prepare(n: usize, extra_cfg: &str) -> Ensemble {
        Ensemble::prepare_inner(n, extra_cfg, false)
    }

    /// As [`prepare`](Self::prepare), with every quorum and election link through a proxy.
    pub fn prepare_with_proxies(n: usize, extra_cfg: &str) -> Ensemble {
        Ensemble::prepare_inner(n, extra_cfg, true)
    }

    /// Prepares and starts `n` members (not waiting for an election).
    pub fn start(n: usize, extra_cfg: &str) -> Ensemble {
        let mut e = Ensemble::prepare(n, extra_cfg);
        e.start_all();
        e
    }

    pub fn start_with_proxies(n: usize, extra_cfg: &str) -> Ensemble {
        let mut e = Ensemble::prepare_with_proxies(n, extra_cfg);
        e.start_all();
        e
    }

    /// As [`prepare`](Self::prepare), with the members in `observers` configured as observers
    /// (`:observer` on their `server.N` lines, `peerType=observer` in their own file).
    pub fn prepare_with_observers(n: usize, observers: &[u64], extra_cfg: &str) -> Ensemble {
        let e = Ensemble::prepare_inner(n, extra_cfg, false);
        for m in &e.members {
            let text = std::fs::read_to_string(m.cfg_path()).unwrap();
            let mut out = String::new();
            for line in text.lines() {
                out.push_str(line);
                let observed = observers.iter().any(|o| line.starts_with(&format!("server.{o}=")));
                if observed {
                    out.push_str(":observer");
                }
                out.push('\n');
            }
            if observers.contains(&m.id) {
                out.push_str("peerType=observer\n");
            }
            std::fs::write(m.cfg_path(), out).unwrap();
        }
        e
    }

    fn prepare_inner(n: usize, extra_cfg: &str, proxies: bool) -> Ensemble {
        assert!(n >= 1);
        let dir = TempDir::new("ensemble");
        let mut reserved = reserve_ports(3 * n);
        let ports: Vec<u16> = reserved.iter().map(|l| l.local_addr().unwrap().port()).collect();
        let mut members = Vec::new();
        for i in 0..n {
            let id = i as u64 + 1;
            let mdir = dir.0.join(format!("s{id}"));
            std::fs::create_dir_all(mdir.join("data")).unwrap();
            std::fs::write(mdir.join("data").join("myid"), format!("{id}\n")).unwrap();
            members.push(Member {
                id,
                dir: mdir,
                client_addr: SocketAddr::from(([127, 0, 0, 1], ports[3 * i])),
                quorum_port: ports[3 * i + 1],
                election_port: ports[3 * i + 2],
                child: None,
                starts: 0,
                reserved: reserved.drain(..3).map(Reservation::hold).collect(),
                env: Vec::new(),
            });
        }
        let net = proxies.then(|| {
            let real: BTreeMap<u64, (SocketAddr, SocketAddr)> = members
                .iter()
                .map(|m| {
                    (
                        m.id,
                        (
                            SocketAddr::from(([127, 0, 0, 1], m.quorum_port)),
                            SocketAddr::from(([127, 0, 0, 1], m.election_port)),
                        ),
                    )
                })
                .collect();
            Mesh::new(&real)
        });
        for m in &members {
            let mut cfg = String::from(BASE_CFG);
            cfg.push_str(&format!("dataDir={}\nclientPort={}\n", m.dir.join("data").display(), m.client_addr.port()));
            for o in &members {
                let (q, e) = match &net {
                    Some(net) if o.id != m.id => {
                        (net.addr(m.id, o.id, PortKind::Quorum).port(), net.addr(m.id, o.id, PortKind::Election).port())
                    }
                    _ => (o.quorum_port, o.election_port),
                };
                cfg.push_str(&format!("server.{}=127.0.0.1:{q}:{e}\n", o.id));
            }
            if reference_mode() {
                cfg.push_str("admin.enableServer=false\n");
            }
            cfg.push_str(extra_cfg);
            cfg.push('\n');
            std::fs::write(m.cfg_path(), cfg).unwrap();
        }
        Ensemble { members, net, _dir: dir }
    }

    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().map(|m| m.id).collect()
    }

    pub fn member(&self, id: u64) -> &Member {
        &self.members[(id - 1) as usize]
    }

    fn member_mut(&mut self, id: u64) -> &mut Member {
        &mut self.members[(id - 1) as usize]
    }

    pub fn addr(&self, id: u64) -> SocketAddr {
        self.member(id).client_addr
    }

    /// Client addresses by id (index id - 1), for threads.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.members.iter().map(|m| m.client_addr).collect()
    }

    pub fn start_all(&mut self) {
        for id in self.ids() {
            self.start_member(id);
        }
    }

    /// Starts member `id` and waits for its ready line (its client port is bound).
    pub fn start_member(&mut self, id: u64) {
        let m = self.member_mut(id);
        assert!(m.child.is_none(), "server {id} is already running");
        m.reserved.clear();
        // A port of ours may be, for a moment, the source port of some outgoing connection (after
        // a kill, nothing holds it): a start that fails on that is tried again, for a while.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let since = m.log_path().metadata().map(|x| x.len() as usize).unwrap_or(0);
            if start_once(m) {
                return;
            }
            let log = std::fs::read(m.log_path()).unwrap_or_default();
            let this_try = String::from_utf8_lossy(log.get(since..).unwrap_or_default()).into_owned();
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            if !this_try.contains("Address already in use") || Instant::now() > deadline {
                panic!(
                    "server {id} did not start (expected on {}); log:\n{}",
                    m.client_addr,
                    String::from_utf8_lossy(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// kill -9 (SIGKILL to the child's PID) and reap.
    pub fn kill(&mut self, id: u64) {
        let m = self.member_mut(id);
        let mut child = m.child.take().unwrap_or_else(|| panic!("server {id} is not running"));
        let _ = child.kill();
        let _ = child.wait();
        m.reserved =
            [m.client_addr.port(), m.quorum_port, m.election_port].into_iter().filter_map(Reservation::again).collect();
    }

    /// SIGTERM (a graceful stop) and reap, waiting at most `within`: the exit status, or None
    /// if it was still running then (it is killed).
    pub fn terminate(&mut self, id: u64, within: Duration) -> Option<std::process::ExitStatus> {
        self.signal(id, "-TERM");
        let m = self.member_mut(id);
        let mut child = m.child.take().unwrap_or_else(|| panic!("server {id} is not running"));
        let deadline = Instant::now() + within;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        m.reserved =
            [m.client_addr.port(), m.quorum_port, m.election_port].into_iter().filter_map(Reservation::again).collect();
        status
    }

    /// kill -9 if running, then start again on the same files.
    pub fn restart(&mut self, id: u64) {
        if self.member(id).child.is_some() {
            self.kill(id);
        }
        self.start_member(id);
    }

    /// Whether member `id`'s process is alive.
    pub fn is_running(&mut self, id: u64) -> bool {
        match self.member_mut(id).child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn running_ids(&mut self) -> Vec<u64> {
        self.ids().into_iter().filter(|&id| self.is_running(id)).collect()
    }

    fn signal(&self, id: u64, sig: &str) {
        let pid = self.member(id).pid().unwrap_or_else(|| panic!("server {id} is not running"));
        let st = Command::new("kill").arg(sig).arg(pid.to_string()).status().expect("run kill");
        assert!(st.success(), "kill {sig} {pid} failed");
    }

    /// Process state letter from /proc (R, S, T, ...).
    fn proc_state(&self, id: u64) -> Option<char> {
        let pid = self.member(id).pid()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) S ...": the state follows the last ')'.
        stat.rsplit(')').next()?.trim_start().chars().next()
    }

    /// SIGSTOP: the member stops answering anything, its connections stay open.
    pub fn freeze(&self, id: u64) {
        self.signal(id, "-STOP");
        let ok = super::wait_until(Duration::from_secs(5), || self.proc_state(id) == Some('T'));
        assert!(ok, "server {id} did not stop: state {:?}", self.proc_state(id));
    }

    /// SIGCONT after [`freeze`](Self::freeze).
    pub fn thaw(&self, id: u64) {
        self.signal(id, "-CONT");
    }

    pub fn srvr(&self, id: u64) -> Option<String> {
        four(self.addr(id), "srvr")
    }

    /// `leader`, `follower`, `observer` or `standalone`; None while not serving or unreachable.
    pub fn mode(&self, id: u64) -> Option<String> {
        self.srvr(id).as_deref().and_then(mode_of)
    }

    pub fn zxid(&self, id: u64) -> Option<i64> {
        self.srvr(id).as_deref().and_then(zxid_of)
    }

    fn modes(&self, ids: &[u64]) -> Vec<(u64, Option<String>)> {
        ids.iter().map(|&id| (id, self.mode(id))).collect()
    }

    /// Waits until, among the running members, exactly one is leader and all others follow.
    pub fn wait_for_leader(&mut self, timeout: Duration) -> u64 {
        let ids = self.running_ids();
        self.wait_for_leader_among(&ids, timeout)
    }

    /// Waits until exactly one of `ids` is leader and every other of `ids` is a follower.
    pub fn wait_for_leader_among(&self, ids: &[u64], timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.modes(ids);
            let leaders: Vec<u64> =
                last.iter().filter(|(_, m)| m.as_deref() == Some("leader")).map(|(id, _)| *id).collect();
            let followers = last.iter().filter(|(_, m)| m.as_deref() == Some("follower")).count();
            if leaders.len() == 1 && followers + 1 == ids.len() {
                return leaders[0];
            }
            if Instant::now() > deadline {
                panic!("no settled leader among {ids:?} within {timeout:?}: modes {last:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Watches `ids` for `period`: panics if any of them reports being leader or follower.
    pub fn assert_no_quorum_for(&self, ids: &[u64], period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            for (id, m) in self.modes(ids) {
                assert!(
                    !matches!(m.as_deref(), Some("leader" | "follower")),
                    "server {id} reports {m:?} although only {ids:?} are up"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until member `id` reports `mode` (None: not serving).
    pub fn wait_for_mode(&self, id: u64, mode: Option<&str>, timeout: Duration) {
        let mut last = None;
        let ok = super::wait_until(timeout, || {
            last = self.mode(id);
            last.as_deref() == mode
        });
        assert!(ok, "server {id}: mode {last:?}, expected {mode:?} within {timeout:?}");
    }

    /// Waits until all of `ids` report the same zxid, at least `min`; returns it.
    pub fn wait_for_same_zxid(&self, ids: &[u64], min: i64, timeout: Duration) -> i64 {
        let deadline = Instant::now() + timeout;
        loop {
            let zs: Vec<Option<i64>> = ids.iter().map(|&id| self.zxid(id)).collect();
            if let Some(Some(z)) = zs.first() {
                if *z >= min && zs.iter().all(|x| *x == Some(*z)) {
                    return *z;
                }
            }
            if Instant::now() > deadline {
                let shown: Vec<String> =
                    zs.iter().map(|z| z.map(|z| format!("0x{z:x}")).unwrap_or("-".into())).collect();
                panic!("servers {ids:?} did not converge on one zxid >= 0x{min:x} within {timeout:?}: {shown:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A client session on member `id`, retrying (the member may be electing) for up to 15 s.
    pub fn client(&self, id: u64) -> Client {
        self.client_with_timeout(id, CLIENT_TIMEOUT_MS)
    }

    pub fn client_with_timeout(&self, id: u64, timeout_ms: i32) -> Client {
        connect_retry(self.addr(id), timeout_ms, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("cannot connect to server {id}: {e}"))
    }

    /// Every node but the `/zookeeper` subtree (whose `/zookeeper/config` differs per member when
    /// the links are proxied), sorted by path, read through a client on `id` after `sync("/")`.
    pub fn tree_fingerprint(&self, id: u64) -> Vec<NodeFp> {
        let mut c = self.client(id);
        c.sync("/").unwrap_or_else(|e| panic!("sync on server {id}: {e}"));
        let mut out = Vec::new();
        let mut stack = vec!["/".to_string()];
        while let Some(path) = stack.pop() {
            let (data, stat) = c.get_data(&path, false).unwrap_or_else(|e| panic!("server {id}: getData {path}: {e}"));
            out.push(NodeFp {
                path: path.clone(),
                data,
                czxid: stat.czxid,
                mzxid: stat.mzxid,
                pzxid: stat.pzxid,
                version: stat.version,
                cversion: stat.cversion,
                aversion: stat.aversion,
                ephemeral_owner: stat.ephemeral_owner,
                num_children: stat.num_children,
            });
            let children =
                c.get_children(&path, false).unwrap_or_else(|e| panic!("server {id}: getChildren {path}: {e}"));
            for ch in children {
                let p = if path == "/" { format!("/{ch}") } else { format!("{path}/{ch}") };
                if p != "/zookeeper" {
                    stack.push(p);
                }
            }
        }
        let _ = c.close();
        out.sort();
        out
    }

    /// Asserts that all of `ids` hold identical trees; returns that tree.
    pub fn assert_same_trees(&self, ids: &[u64]) -> Vec<NodeFp> {
        let trees: Vec<(u64, Vec<NodeFp>)> = ids.iter().map(|&id| (id, self.tree_fingerprint(id))).collect();
        let (first_id, first) = &trees[0];
        for (id, t) in &trees[1..] {
            if t != first {
                panic!("trees differ between server {first_id} and server {id}:\n{}", diff_trees(first, t));
            }
        }
        trees.into_iter().next().unwrap().1
    }

    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.member(id).log_path()).unwrap_or_default()
    }

    /// The log's length in bytes now: an offset for [`sync_lines`](Self::sync_lines).
    pub fn log_len(&self, id: u64) -> usize {
        std::fs::metadata(self.member(id).log_path()).map(|m| m.len() as usize).unwrap_or(0)
    }

    /// Lines written to `leader`'s log after byte `since` that report syncing learner `sid`
    /// with `kind`.
    pub fn sync_lines(&self, leader: u64, sid: u64, kind: &str, since: usize) -> Vec<String> {
        let log = std::fs::read(self.member(leader).log_path()).unwrap_or_default();
        let tail = String::from_utf8_lossy(log.get(since..).unwrap_or_default()).into_owned();
        let lines: Vec<String> = if reference_mode() {
            with_reference_snap_lines(&tail)
        } else {
            tail.lines().map(str::to_string).collect()
        };
        lines.into_iter().filter(|l| is_sync_line(l, sid, kind)).collect()
    }

    /// Waits for a line in `leader`'s log (after byte `since`) reporting learner `sid` synced by
    /// `kind`; panics with the sync lines seen for `sid` otherwise.
    pub fn wait_for_sync_line(&self, leader: u64, sid: u64, kind: &str, since: usize, timeout: Duration) -> String {
        self.wait_for_any_sync_line(leader, sid, &[kind], since, timeout).1
    }

    /// As [`wait_for_sync_line`](Self::wait_for_sync_line) for the first of `kinds` found;
    /// returns the kind and the line.
    pub fn wait_for_any_sync_line(
        &self,
        leader: u64,
        sid: u64,
        kinds: &[&str],
        since: usize,
        timeout: Duration,
    ) -> (String, String) {
        let mut found = None;
        super::wait_until(timeout, || {
            found = kinds
                .iter()
                .find_map(|k| self.sync_lines(leader, sid, k, since).into_iter().next().map(|l| (k.to_string(), l)));
            found.is_some()
        });
        found.unwrap_or_else(|| {
            let others: Vec<String> =
                ["DIFF", "TRUNC", "SNAP"].iter().flat_map(|k| self.sync_lines(leader, sid, k, since)).collect();
            panic!("leader {leader} logged no {kinds:?} sync for learner {sid}; its sync lines for {sid}: {others:#?}")
        })
    }

    /// Cuts (or blackholes) every link to and from member `id`. Needs proxies.
    pub fn isolate(&self, id: u64, fault: Fault) {
        self.net.as_ref().expect("started without proxies").isolate(id, fault);
    }

    /// Every link forwards again.
    pub fn heal(&self) {
        self.net.as_ref().expect("started without proxies").heal_all();
    }

    fn dump_logs(&self) {
        let full = std::env::var_os("ENSEMBLE_FULL_LOGS").is_some();
        let mut err = std::io::stderr().lock();
        for m in &self.members {
            let log = std::fs::read_to_string(m.log_path()).unwrap_or_default();
            // The harness's own srvr polling is noise.
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| !l.contains("Processing srvr command") && !l.ends_with(": session closed"))
                .collect();
            let keep = if full { lines.len() } else { 400.min(lines.len()) };
            let _ = writeln!(
                err,
                "\n===== server {} log ({} lines without srvr polling{}) =====",
                m.id,
                lines.len(),
                if keep < lines.len() { format!(", last {keep}; ENSEMBLE_FULL_LOGS=1 for all") } else { String::new() }
            );
            for l in &lines[lines.len() - keep..] {
                let _ = writeln!(err, "{l}");
            }
        }
        if let Some(net) = &self.net {
            let _ = writeln!(err, "===== proxies =====\n{}", net.describe());
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Spawns member `m` once; whether it came up (printed its ready line with the expected address,
/// or, in reference mode, answers on its client port).
fn start_once(m: &mut Member) -> bool {
    let id = m.id;
    m.starts += 1;
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(m.log_path()).unwrap();
    writeln!(log, "==== ensemble harness: start #{} of server {id} ====", m.starts).unwrap();
    if reference_mode() {
        let out = log.try_clone().unwrap();
        let child = Command::new("java")
            .args([
                "-Dzookeeper.jmx.log4j.disable=true",
                // ZooKeeper logs "Sending TRUNC to follower ..." at debug.
                "-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.quorum.LearnerHandler=debug",
            ])
            // slf4j-simple first (INFO to stderr), so the leader's sync lines are logged.
            .args(["-cp", &format!("/usr/share/java/slf4j-simple.jar:{}", super::reference::CLASSPATH)])
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(m.cfg_path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("spawn java (run `make deps` for Apache ZooKeeper)");
        m.child = Some(child);
        let addr = m.client_addr;
        return super::wait_until(super::reference::START_TIMEOUT, || four(addr, "srvr").is_some());
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .arg("server")
        .arg(m.cfg_path())
        .env("RUST_LOG", "debug")
        .envs(m.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn rookery");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        // Keep the pipe open (and drained) for the life of the process.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    m.child = Some(child);
    let line = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
    let addr: Option<SocketAddr> = line.trim().rsplit(' ').next().and_then(|a| a.parse().ok());
    addr == Some(m.client_addr)
}

/// Connects a new session to `addr`, retrying until `within` passes.
pub fn connect_retry(addr: SocketAddr, timeout_ms: i32, within: Duration) -> Result<Client, ClientError> {
    let deadline = Instant::now() + within;
    loop {
        match Client::connect(addr, timeout_ms) {
            Ok(c) => return Ok(c),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A readable account of how two sorted trees differ (the first 20 differences).
pub fn diff_trees(a: &[NodeFp], b: &[NodeFp]) -> String {
    let ma: BTreeMap<&str, &NodeFp> = a.iter().map(|n| (n.path.as_str(), n)).collect();
    let mb: BTreeMap<&str, &NodeFp> = b.iter().map(|n| (n.path.as_str(), n)).collect();
    let mut out = Vec::new();
    for (p, na) in &ma {
        match mb.get(p) {
            None => out.push(format!("only in the first: {na:?}")),
            Some(nb) if nb != na => out.push(format!("differs:\n  {na:?}\n  {nb:?}")),
            _ => {}
        }
    }
    for (p, nb) in &mb {
        if !ma.contains_key(p) {
            out.push(format!("only in the second: {nb:?}"));
        }
    }
    let n = out.len();
    out.truncate(20);
    format!("{} nodes vs {}, {n} differences:\n{}", a.len(), b.len(), out.join("\n"))
}

/// Whether any txn in the logs of `version2` contains `needle` (a path, say) in its bytes.
pub fn logs_contain(version2: &Path, needle: &[u8]) -> bool {
    let scan = rookery::storage::file_log::read_logs(version2, 0).expect("read txn logs");
    scan.records.iter().any(|r| r.payload.windows(needle.len()).any(|w| w == needle))
}
