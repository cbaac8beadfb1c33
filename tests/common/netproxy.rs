//! Fault-injecting TCP proxies for the links between ensemble members (quorum and election
//! ports), on loopback.
//!
//! A [`LinkProxy`] forwards the connections one server opens to one port of another. Its
//! [`Fault`] decides what happens to them: `None` forwards; `Closed` shuts every open connection
//! and closes new ones as soon as they are accepted (a refused link); `Blackhole` keeps
//! connections open but drops every byte, and holds new ones without connecting upstream (a
//! silent link; healing closes what it held, since bytes were lost).
//!
//! A [`Mesh`] holds one proxy per (from, to, port) for an ensemble: server `from`'s zoo.cfg
//! lists, for every other server `to`, the proxies' addresses instead of `to`'s real ports, so
//! every byte between two members passes through a proxy the test controls.
//!
//! One detail keeps it that way on the election port: a connector's initial message announces its
//! own election address, and a receiver with the higher sid closes the connection and dials back
//! to that announced address (ZooKeeper's `QuorumCnxManager` and Rookery alike) — which would
//! bypass the proxies for good. So an election proxy from `a` to `b` rewrites the address in the
//! initial message it forwards to the proxy `b` dials for `a`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    None,
    /// Close every connection, refuse new ones.
    Closed,
    /// Keep connections, drop their bytes; hold new ones without forwarding.
    Blackhole,
}

impl Fault {
    fn code(self) -> u8 {
        match self {
            Fault::None => 0,
            Fault::Closed => 1,
            Fault::Blackhole => 2,
        }
    }

    fn of(code: u8) -> Fault {
        match code {
            0 => Fault::None,
            1 => Fault::Closed,
            _ => Fault::Blackhole,
        }
    }
}

struct Shared {
    fault: AtomicU8,
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Both ends (the upstream end absent for a held connection) of every open connection.
    conns: Mutex<HashMap<u64, (TcpStream, Option<TcpStream>)>>,
    /// Connections accepted and forwarded so far (for diagnostics).
    forwarded: AtomicU64,
}

impl Shared {
    fn fault(&self) -> Fault {
        Fault::of(self.fault.load(Ordering::SeqCst))
    }

    fn close(&self, id: u64) {
        if let Some((a, b)) = self.conns.lock().unwrap().remove(&id) {
            shut(&a, b.as_ref());
        }
    }
}

fn shut(a: &TcpStream, b: Option<&TcpStream>) {
    let _ = a.shutdown(Shutdown::Both);
    if let Some(b) = b {
        let _ = b.shutdown(Shutdown::Both);
    }
}

/// A proxy for one direction of one link: connections to `addr` are forwarded to `upstream`.
pub struct LinkProxy {
    pub addr: SocketAddr,
    pub upstream: SocketAddr,
    shared: Arc<Shared>,
    /// For an election link: the address the forwarded initial message is made to announce.
    announce: Arc<Mutex<Option<String>>>,
}

impl LinkProxy {
    pub fn start(upstream: SocketAddr) -> LinkProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            fault: AtomicU8::new(Fault::None.code()),
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            conns: Mutex::new(HashMap::new()),
            forwarded: AtomicU64::new(0),
        });
        let announce: Arc<Mutex<Option<String>>> = Arc::default();
        let (s, a) = (shared.clone(), announce.clone());
        std::thread::Builder::new()
            .name(format!("proxy-{addr}"))
            .spawn(move || accept_loop(listener, upstream, s, a))
            .expect("spawn proxy thread");
        LinkProxy { addr, upstream, shared, announce }
    }

    /// Makes the election initial message of every new connection announce `addr`.
    pub fn rewrite_announced_address(&self, addr: SocketAddr) {
        *self.announce.lock().unwrap() = Some(addr.to_string());
    }

    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Changes the fault. `Closed` shuts every open connection; leaving `Blackhole` shuts the
    /// connections it held (their streams lost bytes).
    pub fn set_fault(&self, fault: Fault) {
        let mut conns = self.shared.conns.lock().unwrap();
        let prev = Fault::of(self.shared.fault.swap(fault.code(), Ordering::SeqCst));
        if fault == Fault::Closed || (prev == Fault::Blackhole && fault != Fault::Blackhole) {
            for (_, (a, b)) in conns.drain() {
                shut(&a, b.as_ref());
            }
        }
    }

    /// Connections currently open through the proxy.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.lock().unwrap().len()
    }

    /// Connections forwarded upstream since the start.
    pub fn forwarded(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for LinkProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.set_fault(Fault::Closed);
        // Wake the blocking accept so the thread sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>, announce: Arc<Mutex<Option<String>>>) {
    loop {
        let client = match listener.accept() {
            Ok((c, _)) => c,
            Err(_) => {
                if shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let fault = shared.fault();
        if fault == Fault::Closed {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let server = if fault == Fault::None {
            match TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) {
                Ok(s) => Some(s),
                Err(_) => {
                    // The upstream is down: so is the link.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
            }
        } else {
            None
        };
        let _ = client.set_nodelay(true);
        if let Some(s) = &server {
            let _ = s.set_nodelay(true);
        }
        let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
        {
            // Registered under the lock that `set_fault` takes, after checking the fault has not
            // changed since it was read: a connection is either seen by a later `set_fault` or
            // dropped here.
            let mut conns = shared.conns.lock().unwrap();
            if shared.fault() != fault {
                shut(&client, server.as_ref());
                continue;
            }
            let (Ok(c2), s2) = (client.try_clone(), server.as_ref().map(|s| s.try_clone())) else {
                shut(&client, server.as_ref());
                continue;
            };
            let s2 = match s2 {
                Some(Ok(s)) => Some(s),
                Some(Err(_)) => {
                    shut(&client, server.as_ref());
                    continue;
                }
                None => None,
            };
            conns.insert(id, (c2, s2));
        }
        match server {
            Some(server) => {
                shared.forwarded.fetch_add(1, Ordering::SeqCst);
                let (c2, s2) = (client.try_clone(), server.try_clone());
                let (Ok(c2), Ok(s2)) = (c2, s2) else {
                    shared.close(id);
                    continue;
                };
                let sh = shared.clone();
                let announce = announce.lock().unwrap().clone();
                std::thread::spawn(move || {
                    let (mut client, mut server) = (client, server);
                    if let Some(text) = announce {
                        if relay_initial_message(&mut client, &mut server, &text).is_err() {
                            sh.close(id);
                            return;
                        }
                    }
                    pump(id, client, Some(server), sh)
                });
                let sh = shared.clone();
                std::thread::spawn(move || pump(id, s2, Some(c2), sh));
            }
            None => {
                let sh = shared.clone();
                std::thread::spawn(move || pump(id, client, None, sh));
            }
        }
    }
}

/// Forwards an election connection's initial message (`long protocolVersion; long sid; int len;
/// byte addr[len]` for protocol V1/V2) with its address text replaced by `announce`. Anything else
/// (a pre-3.4.6 bare sid, a malformed length) is forwarded unchanged.
fn relay_initial_message(from: &mut TcpStream, to: &mut TcpStream, announce: &str) -> std::io::Result<()> {
    const V1: i64 = -65536;
    const V2: i64 = -65535;
    from.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = [0u8; 20];
    from.read_exact(&mut head[..8])?;
    let version = i64::from_be_bytes(head[..8].try_into().unwrap());
    if version != V1 && version != V2 {
        to.write_all(&head[..8])?;
        return from.set_read_timeout(None);
    }
    from.read_exact(&mut head[8..])?;
    let len = i32::from_be_bytes(head[16..20].try_into().unwrap());
    if !(0..=65536).contains(&len) {
        to.write_all(&head)?;
        return from.set_read_timeout(None);
    }
    let mut text = vec![0u8; len as usize];
    from.read_exact(&mut text)?;
    let mut out = head[..16].to_vec();
    out.extend_from_slice(&(announce.len() as i32).to_be_bytes());
    out.extend_from_slice(announce.as_bytes());
    to.write_all(&out)?;
    from.set_read_timeout(None)
}

/// Copies `from` to `to` while the fault is `None`, drops the bytes while it is `Blackhole`
/// (or when there is no `to`), and ends, closing the connection, when either side closes.
fn pump(id: u64, mut from: TcpStream, mut to: Option<TcpStream>, shared: Arc<Shared>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => match (shared.fault(), to.as_mut()) {
                (Fault::None, Some(to)) if (&*to).write_all(&buf[..n]).is_err() => break,
                (Fault::Closed, _) => break,
                _ => {}
            },
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    if let Some(to) = &to {
        let _ = to.shutdown(Shutdown::Both);
    }
    shared.close(id);
}

/// Which port of a member a proxy stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PortKind {
    Quorum,
    Election,
}

/// One proxy per (from, to, port kind) between distinct members.
pub struct Mesh {
    proxies: BTreeMap<(u64, u64, PortKind), LinkProxy>,
}

impl Mesh {
    /// `members` maps each server id to its real (quorum, election) addresses.
    pub fn new(members: &BTreeMap<u64, (SocketAddr, SocketAddr)>) -> Mesh {
        let mut proxies = BTreeMap::new();
        for &from in members.keys() {
            for (&to, &(quorum, election)) in members {
                if from != to {
                    proxies.insert((from, to, PortKind::Quorum), LinkProxy::start(quorum));
                    proxies.insert((from, to, PortKind::Election), LinkProxy::start(election));
                }
            }
        }
        for ((from, to, kind), p) in &proxies {
            if *kind == PortKind::Election {
                p.rewrite_announced_address(proxies[&(*to, *from, PortKind::Election)].addr);
            }
        }
        Mesh { proxies }
    }

    /// The address `from` dials for `to`'s port `kind`.
    pub fn addr(&self, from: u64, to: u64, kind: PortKind) -> SocketAddr {
        self.proxies[&(from, to, kind)].addr
    }

    /// Sets the fault on both directions of the link between `a` and `b`.
    pub fn set_link(&self, a: u64, b: u64, fault: Fault) {
        for ((from, to, _), p) in &self.proxies {
            if (*from == a && *to == b) || (*from == b && *to == a) {
                p.set_fault(fault);
            }
        }
    }

    /// Sets the fault on every link to or from `id`.
    pub fn isolate(&self, id: u64, fault: Fault) {
        for ((from, to, _), p) in &self.proxies {
            if *from == id || *to == id {
                p.set_fault(fault);
            }
        }
    }

    /// Every link forwards again.
    pub fn heal_all(&self) {
        for p in self.proxies.values() {
            p.set_fault(Fault::None);
        }
    }

    /// One line per proxy with open connections or a fault, for failure reports.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for ((from, to, kind), p) in &self.proxies {
            s.push_str(&format!(
                "{from}->{to} {kind:?} via {}: {:?}, {} open, {} forwarded\n",
                p.addr,
                p.fault(),
                p.open_connections(),
                p.forwarded()
            ));
        }
        s
    }
}
