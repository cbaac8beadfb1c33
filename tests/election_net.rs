//! The election transport (`node::election_net`, ZooKeeper's `QuorumCnxManager`) on loopback:
//! notifications in every direction with one connection per pair whatever the start-up order,
//! reconnection after a restart, newest-message-wins for an absent or slow peer, garbage on the
//! port, an election of three `Election` cores over three nets, and an election between two
//! Rookery cores and a real ZooKeeper 3.8 `QuorumPeerMain` (Debian's jars, `make deps`).
//!
//! Every wait is bounded; every net is shut down (or dropped) by the test that started it, and
//! the ZooKeeper JVM is killed by the PID this test started.

use crossbeam_channel::{bounded, select, tick, unbounded, Receiver, Sender, TryRecvError};
use rookery::election::fle::{Election, Output, Timing};
use rookery::election::vote::{PeerState, Vote};
use rookery::election::wire::{self, Notification, NOTIFICATION_VERSION, PACKET_MAX_SIZE};
use rookery::ids::ServerId;
use rookery::node::election_net::{ElectionNet, Inbound, INITIAL_MESSAGE_TIMEOUT};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single expected event may take on a loaded two-core machine.
const WAIT: Duration = Duration::from_secs(20);
/// How long "nothing else arrives" is watched for.
const QUIET: Duration = Duration::from_millis(500);
/// The inbox capacity of every test net.
const INBOX_MAX: usize = 1024;

fn init_log() {
    let _ = env_logger::builder().is_test(true).try_init();
}

fn note(state: PeerState, leader: ServerId, round: i64) -> Notification {
    Notification {
        state,
        leader,
        zxid: 0x1_0000_0000,
        election_epoch: round,
        peer_epoch: 1,
        version: NOTIFICATION_VERSION,
    }
}

/// A notification whose round says who sent it to whom, and in which wave.
fn tagged(from: ServerId, to: ServerId, wave: i64) -> Notification {
    note(PeerState::Looking, from, wave * 100 + (from as i64) * 10 + to as i64)
}

/// Every node's connections: (local sid, peer sid) -> (local end, remote end).
type ConnTable = BTreeMap<(ServerId, ServerId), (SocketAddr, SocketAddr)>;

struct Node {
    id: ServerId,
    net: ElectionNet,
    inbox: Receiver<Inbound>,
}

/// Starts a net for `id` on `listen` (port 0 for any), announcing the address it got.
fn start_at(id: ServerId, listen: SocketAddr, peers: BTreeMap<ServerId, SocketAddr>) -> Node {
    let (tx, rx) = bounded(INBOX_MAX);
    let text = format!("127.0.0.1:{}", listen.port());
    let net = ElectionNet::start(id, text, listen, peers, tx).expect("start election net");
    Node { id, net, inbox: rx }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Starts nets `ids` on OS-chosen ports and tells each the others' addresses.
fn start_all(ids: &[ServerId]) -> Vec<Node> {
    let nodes: Vec<Node> = ids.iter().map(|&id| start_at(id, any_port(), BTreeMap::new())).collect();
    for a in &nodes {
        for b in &nodes {
            a.net.set_peer(b.id, b.net.local_addr());
        }
    }
    nodes
}

/// Waits until `inbox` has delivered every `(from, notification)` in `want` (in any order,
/// ignoring anything else, such as the re-sent last message of a replaced connection).
fn expect_all(node: &Node, want: &[(ServerId, Notification)]) {
    let mut missing: Vec<(ServerId, Notification)> = want.to_vec();
    let deadline = Instant::now() + WAIT;
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        match node.inbox.recv_timeout(left) {
            Ok((from, n, config)) => {
                assert_eq!(config.as_deref(), Some(&b"version=0"[..]), "the config travels with the notification");
                missing.retain(|&(f, m)| !(f == from && m == n));
            }
            Err(_) => panic!("server {}: still waiting for {missing:?}", node.id),
        }
    }
}

/// Every ordered pair sends one tagged notification of `wave`; the senders go in `order`, each
/// waiting for its deliveries before the next starts (or all at once if `at_once`).
fn exchange(nodes: &[Node], order: &[ServerId], wave: i64, at_once: bool) {
    let by_id = |id| nodes.iter().find(|n| n.id == id).unwrap();
    let mut expected: BTreeMap<ServerId, Vec<(ServerId, Notification)>> = BTreeMap::new();
    for &from in order {
        for to in nodes.iter().map(|n| n.id).filter(|&to| to != from) {
            let n = tagged(from, to, wave);
            by_id(from).net.send(to, &n, b"version=0");
            if at_once {
                expected.entry(to).or_default().push((from, n));
            } else {
                expect_all(by_id(to), &[(from, n)]);
            }
        }
    }
    for (to, want) in expected {
        expect_all(by_id(to), &want);
    }
}

/// The connection tables of all nodes once they agree and stay so for `QUIET`: for every pair,
/// each side has exactly one connection to the other, both name the same TCP connection, and the
/// higher sid opened it (the lower side's end is its listening port). Returns the table.
///
/// "Stay so" matters: when both sides of a pair dial at once, the higher sid first keeps its own
/// connection, then reads the lower sid's initial message, drops what it has and dials back
/// (ZooKeeper's `handleConnection`), so a consistent table can still change once.
fn settled_connections(nodes: &[Node]) -> ConnTable {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    loop {
        match check_pairs(nodes) {
            Ok(table) if last.as_ref() == Some(&table) => return table,
            Ok(table) => last = Some(table),
            Err(why) if Instant::now() > deadline => panic!("connections never settled: {why}"),
            Err(_) => last = None,
        }
        assert!(Instant::now() < deadline, "connections kept changing");
        thread::sleep(if last.is_some() { QUIET } else { Duration::from_millis(20) });
    }
}

fn check_pairs(nodes: &[Node]) -> Result<ConnTable, String> {
    let mut table = BTreeMap::new();
    for a in nodes {
        let conns = a.net.connections();
        let sids: Vec<ServerId> = conns.iter().map(|c| c.sid).collect();
        let want: Vec<ServerId> = nodes.iter().map(|n| n.id).filter(|&id| id != a.id).collect();
        if sids != want {
            return Err(format!("server {} is connected to {sids:?}, not {want:?}", a.id));
        }
        for c in conns {
            table.insert((a.id, c.sid), (c.local, c.remote));
        }
    }
    for (&(a, b), &(local, remote)) in &table {
        let (b_local, b_remote) = table[&(b, a)];
        if (b_local, b_remote) != (remote, local) {
            return Err(format!("{a}->{b} is {local}->{remote} but {b}->{a} is {b_local}->{b_remote}"));
        }
        let lower = nodes.iter().find(|n| n.id == a.min(b)).unwrap();
        let lower_end = if a < b { local } else { remote };
        if lower_end != lower.net.local_addr() {
            return Err(format!("the connection {a}<->{b} was not opened by the higher sid"));
        }
    }
    Ok(table)
}

#[test]
fn three_nets_exchange_with_one_connection_per_pair_in_any_start_order() {
    init_log();
    let orders: [(&[ServerId], bool); 3] = [(&[1, 2, 3], false), (&[3, 2, 1], false), (&[2, 1, 3], true)];
    for (order, at_once) in orders {
        let nodes = start_all(&[1, 2, 3]);
        exchange(&nodes, order, 1, at_once);
        let table = settled_connections(&nodes);
        // A second wave travels over the same connections: nothing is torn down once settled.
        exchange(&nodes, &[1, 2, 3], 2, true);
        exchange(&nodes, &[3, 1, 2], 3, true);
        assert_eq!(settled_connections(&nodes), table, "order {order:?}: the connections changed");
        for node in nodes {
            node.net.shutdown();
            // Every thread has ended and let go of the inbox's sender.
            while node.inbox.try_recv().is_ok() {}
            assert_eq!(node.inbox.try_recv(), Err(TryRecvError::Disconnected), "a thread outlived shutdown");
        }
    }
}

#[test]
fn restarted_peers_are_reconnected() {
    init_log();
    let mut nodes = start_all(&[1, 2, 3]);
    exchange(&nodes, &[1, 2, 3], 1, true);
    settled_connections(&nodes);
    // Restart the highest sid (it dials the others) and then the lowest (the others dial it),
    // each on its old port, so the others' configured addresses stay right.
    for (wave, restarted) in [(2, 3), (4, 1)] {
        let at = nodes.iter().position(|n| n.id == restarted).unwrap();
        let old = nodes.remove(at);
        let (addr, peers) = (old.net.local_addr(), nodes.iter().map(|n| (n.id, n.net.local_addr())).collect());
        old.net.shutdown();
        let deadline = Instant::now() + WAIT;
        while nodes.iter().any(|n| n.net.is_connected(restarted)) {
            assert!(Instant::now() < deadline, "the others still think {restarted} is connected");
            thread::sleep(Duration::from_millis(20));
        }
        nodes.insert(at, start_at(restarted, addr, peers));
        // The others reach it first, then it reaches them.
        let others: Vec<ServerId> = nodes.iter().map(|n| n.id).filter(|&id| id != restarted).collect();
        exchange(&nodes, &[others[0], others[1], restarted], wave, false);
        exchange(&nodes, &[restarted, others[1], others[0]], wave + 1, true);
        settled_connections(&nodes);
    }
}

#[test]
fn newest_message_wins_while_a_peer_is_absent() {
    init_log();
    // A port nobody listens on yet: server 2 will come up there.
    let absent = TcpListener::bind(any_port()).unwrap().local_addr().unwrap();
    let one = start_at(1, any_port(), [(2, absent)].into());
    let started = Instant::now();
    for round in 1..=50 {
        one.net.send(2, &note(PeerState::Looking, 1, round), b"version=0");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "send waited for the absent peer");
    thread::sleep(Duration::from_millis(200));
    let two = start_at(2, absent, [(1, one.net.local_addr())].into());
    two.net.connect_all();
    // Only the newest crosses (a late dial of server 1 may make it cross twice, never an older one).
    let (from, n, _) = two.inbox.recv_timeout(WAIT).expect("the queued message arrives once server 2 is up");
    assert_eq!((from, n.election_epoch), (1, 50));
    while let Ok((from, n, _)) = two.inbox.recv_timeout(QUIET) {
        assert_eq!((from, n.election_epoch), (1, 50), "an older queued message was sent");
    }
    one.net.shutdown();
    two.net.shutdown();
}

/// Our side of a hand-made election connection: sid `sid` dialing `to`.
fn fake_peer(to: SocketAddr, sid: ServerId) -> TcpStream {
    let mut s = TcpStream::connect(to).unwrap();
    let me = wire::ElectionAddr { host: "127.0.0.1".into(), port: 1 };
    s.write_all(&wire::encode_initial_message(wire::PROTOCOL_VERSION_V1, sid, &[me]).unwrap()).unwrap();
    s
}

fn read_frame(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = wire::check_frame_len(i32::from_be_bytes(len)).map_err(|e| io::Error::other(e.to_string()))?;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload)?;
    Ok(payload)
}

#[test]
fn newest_message_wins_while_a_peer_is_slow() {
    init_log();
    let one = start_at(1, any_port(), BTreeMap::new());
    // Server 9 (a higher sid, so its connection stays) connects and then does not read.
    let mut slow = fake_peer(one.net.local_addr(), 9);
    let deadline = Instant::now() + WAIT;
    while !one.net.is_connected(9) {
        assert!(Instant::now() < deadline, "the slow peer's connection was not accepted");
        thread::sleep(Duration::from_millis(10));
    }
    // Far more than the socket buffers hold: the sender blocks, `send` must not.
    let config = vec![b'x'; 256 * 1024];
    const SENT: i64 = 200;
    let started = Instant::now();
    for round in 1..=SENT {
        one.net.send(9, &note(PeerState::Looking, 1, round), &config);
    }
    assert!(started.elapsed() < Duration::from_secs(5), "send blocked on a slow peer");
    slow.set_read_timeout(Some(WAIT)).unwrap();
    let mut received = Vec::new();
    while received.last() != Some(&SENT) {
        let payload = read_frame(&mut slow).expect("frames keep coming until the newest");
        received.push(wire::decode_notification(&payload).unwrap().notification.election_epoch);
    }
    assert!(received.windows(2).all(|w| w[0] < w[1]), "out of order: {received:?}");
    assert!(received.len() < SENT as usize / 2, "stale messages were not dropped: {} arrived", received.len());
    one.net.shutdown();
}

#[test]
fn v1_v2_and_bare_sid_initial_messages_are_accepted() {
    init_log();
    let one = start_at(1, any_port(), BTreeMap::new());
    let addr = |port| wire::ElectionAddr { host: "127.0.0.1".into(), port };
    let v1 = wire::encode_initial_message(wire::PROTOCOL_VERSION_V1, 8, &[addr(1)]).unwrap();
    let v2 = wire::encode_initial_message(wire::PROTOCOL_VERSION_V2, 9, &[addr(1), addr(2)]).unwrap();
    // A pre-3.4.6 peer sends its sid and nothing else.
    let bare = 10i64.to_be_bytes().to_vec();
    let mut peers = Vec::new();
    for (sid, initial) in [(8, v1), (9, v2), (10, bare)] {
        let mut s = TcpStream::connect(one.net.local_addr()).unwrap();
        // The first frame rides in the same segment as the initial message: none of it is lost.
        let mut bytes = initial;
        bytes.extend_from_slice(&wire::frame(&wire::encode_notification(&note(PeerState::Looking, sid, 5), b"")));
        s.write_all(&bytes).unwrap();
        peers.push((sid, s));
    }
    let mut heard = BTreeSet::new();
    while heard.len() < 3 {
        let (from, n, _) = one.inbox.recv_timeout(WAIT).expect("a notification from each peer");
        assert_eq!((n.leader, n.election_epoch), (from, 5));
        heard.insert(from);
    }
    assert_eq!(heard, [8, 9, 10].into());
    // And each gets an answer on its own connection.
    for (sid, s) in &mut peers {
        one.net.send(*sid, &note(PeerState::Leading, 1, *sid as i64), b"version=0");
        s.set_read_timeout(Some(WAIT)).unwrap();
        let got = wire::decode_notification(&read_frame(s).unwrap()).unwrap().notification;
        assert_eq!((got.state, got.election_epoch), (PeerState::Leading, *sid as i64));
    }
    one.net.shutdown();
}

/// Waits until the other end closes `s` (EOF or reset), failing after `within`.
fn expect_closed(s: &mut TcpStream, within: Duration, what: &str) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("{what}: the net did not close the connection within {within:?} ({e})"),
        }
    }
}

/// A deterministic byte generator (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn garbage_on_the_port_closes_only_that_connection() {
    init_log();
    let nodes = start_all(&[1, 2, 3]);
    exchange(&nodes, &[1, 2, 3], 1, true);
    let table = settled_connections(&nodes);
    // Server 2 is the target: it has a lower and a higher neighbour.
    let target = nodes[1].net.local_addr();
    let short = Duration::from_secs(5);

    // Half an initial message, then silence: closed after INITIAL_MESSAGE_TIMEOUT.
    let mut half = TcpStream::connect(target).unwrap();
    half.write_all(&wire::PROTOCOL_VERSION_V2.to_be_bytes()[..]).unwrap();
    half.write_all(&[0, 0]).unwrap();
    let half_since = Instant::now();

    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    // Random bytes with the top bit set: a negative first long that is no protocol version.
    let mut random = noise(0x5eed, 512);
    random[0] |= 0x80;
    cases.push(("random bytes", random));
    // An HTTP probe: "GET / HT" reads as a bare sid (a huge one, so it is kept), and then
    // "TP/1" as a frame length far over PACKET_MAX_SIZE.
    cases.push(("http request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()));
    let mut bad_version = (-1i64).to_be_bytes().to_vec();
    bad_version.extend_from_slice(&noise(7, 64));
    cases.push(("bad protocol version", bad_version));
    let mut bad_len = wire::PROTOCOL_VERSION_V1.to_be_bytes().to_vec();
    bad_len.extend_from_slice(&7i64.to_be_bytes());
    bad_len.extend_from_slice(&4096i32.to_be_bytes());
    bad_len.extend_from_slice(&[b'h'; 64]);
    cases.push(("oversized address length", bad_len));
    let mut bad_addr = wire::PROTOCOL_VERSION_V1.to_be_bytes().to_vec();
    bad_addr.extend_from_slice(&7i64.to_be_bytes());
    bad_addr.extend_from_slice(&5i32.to_be_bytes());
    bad_addr.extend_from_slice(b"nope!");
    cases.push(("badly formed address", bad_addr));
    for (what, bytes) in &cases {
        let mut s = TcpStream::connect(target).unwrap();
        s.write_all(bytes).unwrap();
        expect_closed(&mut s, short, what);
    }

    // A valid stranger (sid 9, higher than 2, so it is kept): its notifications arrive, a
    // malformed one is skipped without closing, and an oversized frame closes it.
    let mut stranger = fake_peer(target, 9);
    let good = |round| wire::frame(&wire::encode_notification(&note(PeerState::Looking, 9, round), b""));
    stranger.write_all(&good(1)).unwrap();
    stranger.write_all(&wire::frame(&[1, 2, 3, 4, 5])).unwrap();
    stranger.write_all(&good(2)).unwrap();
    let first = expect_from(&nodes[1], 9, 1);
    assert_eq!(first.2.as_deref(), Some(&b""[..]));
    expect_from(&nodes[1], 9, 2);
    // A second connection from sid 9 replaces the first, and our messages to 9 go there.
    let mut second = fake_peer(target, 9);
    expect_closed(&mut stranger, short, "the replaced connection");
    nodes[1].net.send(9, &note(PeerState::Following, 3, 77), b"version=0");
    second.set_read_timeout(Some(WAIT)).unwrap();
    let got = wire::decode_notification(&read_frame(&mut second).unwrap()).unwrap();
    assert_eq!((got.notification.election_epoch, got.config.as_deref()), (77, Some(&b"version=0"[..])));
    second.write_all(&(PACKET_MAX_SIZE as i32 + 1).to_be_bytes()).unwrap();
    expect_closed(&mut second, short, "oversized frame");
    let mut zero = fake_peer(target, 10);
    zero.write_all(&0i32.to_be_bytes()).unwrap();
    expect_closed(&mut zero, short, "zero-length frame");
    // A connection claiming our own id.
    let mut own = fake_peer(target, 2);
    expect_closed(&mut own, short, "our own id");

    expect_closed(&mut half, INITIAL_MESSAGE_TIMEOUT + short, "half an initial message");
    assert!(half_since.elapsed() >= INITIAL_MESSAGE_TIMEOUT - Duration::from_millis(100), "closed too early");

    // The ensemble never noticed.
    exchange(&nodes, &[3, 2, 1], 2, true);
    assert_eq!(settled_connections(&nodes), table, "garbage disturbed the real connections");

    // A forged connection from a lower sid is closed, and, as in ZooKeeper, server 2 drops its
    // real connection to that sid and dials back: first the announced address (port 1, refused),
    // then the configured one. The pair ends up with a fresh connection, still opened by 2.
    let mut forged = fake_peer(target, 1);
    expect_closed(&mut forged, short, "a lower sid");
    let deadline = Instant::now() + WAIT;
    while settled_connections(&nodes)[&(2, 1)] == table[&(2, 1)] {
        assert!(Instant::now() < deadline, "server 2 kept its connection to 1");
        thread::sleep(Duration::from_millis(20));
    }
    exchange(&nodes, &[1, 2, 3], 3, true);
    settled_connections(&nodes);
    for node in nodes {
        node.net.shutdown();
    }
}

/// Receives from `node` until a notification from `from` with round `round` arrives.
fn expect_from(node: &Node, from: ServerId, round: i64) -> Inbound {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let got = node.inbox.recv_timeout(left).unwrap_or_else(|_| panic!("no round {round} from {from}"));
        if got.0 == from && got.1.election_epoch == round {
            return got;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Elections over the nets

/// The pumps' tick. FLE's waits (finalizeWait 200 ms, notification backoff) count these.
const TICK_MS: u64 = 10;

/// What a pump reports to the test.
#[derive(Debug)]
enum Report {
    Elected {
        id: ServerId,
        vote: Vote,
        state: PeerState,
    },
    /// A notification the pump received, with its config text.
    Heard {
        id: ServerId,
        from: ServerId,
        n: Notification,
        config: Option<Vec<u8>>,
    },
}

/// A small version of the `peer` thread's LOOKING loop: the core decides, the net carries, a
/// ticker is the clock. Runs until `stop` is dropped; returns the core for inspection.
fn run_pump(
    mut core: Election,
    node: Node,
    config: Vec<u8>,
    zxid: i64,
    report: Sender<Report>,
    stop: Receiver<()>,
) -> Election {
    let id = node.id;
    let clock = tick(Duration::from_millis(TICK_MS));
    let mut now = 0;
    let mut out = core.start_looking(zxid, 0);
    loop {
        for o in out.drain(..) {
            match o {
                Output::Send { to, notification } => node.net.send(to, &notification, &config),
                Output::Elected { vote, state } => {
                    let _ = report.send(Report::Elected { id, vote, state });
                }
            }
        }
        select! {
            recv(node.inbox) -> got => {
                let Ok((from, n, cfg)) = got else { break };
                let _ = report.send(Report::Heard { id, from, n, config: cfg });
                out = core.on_notification(from, n);
            }
            recv(clock) -> _ => {
                now += 1;
                out = core.on_tick(now);
            }
            recv(stop) -> _ => break,
        }
    }
    node.net.shutdown();
    core
}

struct Pump {
    stop: Option<Sender<()>>,
    handle: Option<thread::JoinHandle<Election>>,
}

impl Pump {
    fn start(core: Election, node: Node, config: &[u8], zxid: i64, report: &Sender<Report>) -> Pump {
        let (stop_tx, stop_rx) = bounded(0);
        let (config, report) = (config.to_vec(), report.clone());
        let handle = thread::spawn(move || run_pump(core, node, config, zxid, report, stop_rx));
        Pump { stop: Some(stop_tx), handle: Some(handle) }
    }

    fn stop(mut self) -> Election {
        self.stop.take();
        self.handle.take().unwrap().join().expect("pump thread")
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Waits for the `Elected` report of every id in `ids`; returns them by id.
fn await_elected(
    reports: &Receiver<Report>,
    ids: &[ServerId],
    within: Duration,
) -> BTreeMap<ServerId, (Vote, PeerState)> {
    let deadline = Instant::now() + within;
    let mut elected = BTreeMap::new();
    while ids.iter().any(|id| !elected.contains_key(id)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match reports.recv_timeout(left) {
            Ok(Report::Elected { id, vote, state }) => {
                elected.insert(id, (vote, state));
            }
            Ok(Report::Heard { .. }) => {}
            Err(_) => panic!("no election result within {within:?}; so far {elected:?}"),
        }
    }
    elected
}

#[test]
fn three_cores_over_three_nets_elect_one_leader() {
    init_log();
    let voters: BTreeSet<ServerId> = [1, 2, 3].into();
    let timing = Timing::from_tick_ms(TICK_MS);
    // Server 2 has the longest log, so it must win although 3 has the highest sid.
    let zxids: BTreeMap<ServerId, i64> = [(1, 0x1_0000_0003), (2, 0x1_0000_0007), (3, 0x1_0000_0005)].into();
    let (report_tx, reports) = unbounded();
    let mut nodes = start_all(&[1, 2, 3]);
    let mut pumps = Vec::new();
    // Servers 1 and 2 first; 3 joins later and must learn the outcome from their replies.
    for node in nodes.drain(..2) {
        let zxid = zxids[&node.id];
        let core = Election::new(node.id, voters.clone(), BTreeSet::new(), zxid, 0, timing);
        pumps.push(Pump::start(core, node, b"version=0", zxid, &report_tx));
    }
    let first = await_elected(&reports, &[1, 2], WAIT);
    let late = nodes.pop().unwrap();
    let core = Election::new(3, voters.clone(), BTreeSet::new(), zxids[&3], 0, timing);
    pumps.push(Pump::start(core, late, b"version=0", zxids[&3], &report_tx));
    let third = await_elected(&reports, &[3], WAIT);
    let all: BTreeMap<_, _> = first.into_iter().chain(third).collect();
    for (id, (vote, state)) in &all {
        assert_eq!((vote.leader, vote.zxid), (2, 0x1_0000_0007), "server {id}: {vote:?}");
        let want = if *id == 2 { PeerState::Leading } else { PeerState::Following };
        assert_eq!(*state, want, "server {id}");
    }
    for pump in pumps {
        let core = pump.stop();
        assert_eq!(core.current_vote().leader, 2);
    }
}

// ---------------------------------------------------------------------------------------------
// Against Apache ZooKeeper 3.8

const JARS: &str = "/usr/share/java";
const JVM_FLAGS: [&str; 4] = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"];

/// Every jar but the SLF4J bindings other than slf4j-simple (which logs to stderr).
fn classpath() -> String {
    const OTHER_BINDINGS: [&str; 5] =
        ["slf4j-nop", "slf4j-log4j12", "slf4j-jcl", "slf4j-jdk14", "maven3-slf4j-provider"];
    let mut jars: Vec<String> = std::fs::read_dir(JARS)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            (name.ends_with(".jar") && !OTHER_BINDINGS.iter().any(|b| name.starts_with(b)))
                .then(|| format!("{JARS}/{name}"))
        })
        .collect();
    jars.sort();
    jars.join(":")
}

/// A port that was free a moment ago, for ZooKeeper's own listeners.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The ZooKeeper JVM, killed by its PID when dropped.
struct Zk {
    child: Child,
    dir: std::path::PathBuf,
    election_port: u16,
}

/// Starts ZooKeeper as server 3 of an ensemble whose servers 1 and 2 have election ports `e1`
/// and `e2`, and waits until its election port listens. Returns it with the `server.N` lines.
/// A port chosen by binding to 0 can be taken again before the JVM binds it: then it retries.
fn start_zookeeper(e1: u16, e2: u16) -> (Zk, String) {
    let dir = std::env::temp_dir().join(format!("rookery-test-election-net-{}", std::process::id()));
    let mut last_log = String::new();
    for _attempt in 0..3 {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("data/myid"), "3\n").unwrap();
        // Nobody listens on 1's and 2's quorum ports: ZooKeeper, following 2, fails to reach it.
        let (q1, q2, q3, e3, client) = (free_port(), free_port(), free_port(), free_port(), free_port());
        let servers = format!(
            "server.1=127.0.0.1:{q1}:{e1}:participant\nserver.2=127.0.0.1:{q2}:{e2}:participant\n\
             server.3=127.0.0.1:{q3}:{e3}:participant\n"
        );
        let cfg = dir.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=1000\ninitLimit=60\nsyncLimit=60\ndataDir={}\nclientPort={client}\n\
                 clientPortAddress=127.0.0.1\nadmin.enableServer=false\n{servers}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("zk.log")).unwrap();
        let child = Command::new("java")
            .args(JVM_FLAGS)
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
            .arg("-Dorg.slf4j.simpleLogger.showDateTime=true")
            .arg("-cp")
            .arg(classpath())
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn java");
        let mut zk = Zk { child, dir: dir.clone(), election_port: e3 };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = zk.log();
            if log.contains("Address already in use") || zk.child.try_wait().unwrap().is_some() {
                last_log = log;
                break;
            }
            if log.contains("is accepting connections now") {
                return (zk, servers);
            }
            assert!(Instant::now() < deadline, "ZooKeeper did not open its election port in 60 s:\n{log}");
            thread::sleep(Duration::from_millis(50));
        }
        // Dropping `zk` kills it (and removes the directory) before the next attempt.
    }
    panic!("ZooKeeper did not start in 3 attempts:\n{last_log}");
}

impl Zk {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("zk.log")).unwrap_or_default()
    }
}

impl Drop for Zk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn elects_with_a_real_zookeeper_peer() {
    init_log();
    assert!(
        Path::new(JARS).join("zookeeper.jar").exists()
            && Command::new("java").arg("-version").stderr(Stdio::null()).status().is_ok(),
        "this test needs java and {JARS}/zookeeper.jar (Debian's zookeeper package): run `make deps`"
    );
    // Servers 1 and 2 are ours, on ports we hold; server 3 is ZooKeeper on ports just freed.
    let mut nodes = start_all(&[1, 2]);
    let (e1, e2) = (nodes[0].net.local_addr().port(), nodes[1].net.local_addr().port());
    let (zk, servers) = start_zookeeper(e1, e2);
    let zk_election: SocketAddr = format!("127.0.0.1:{}", zk.election_port).parse().unwrap();
    for node in &nodes {
        node.net.set_peer(3, zk_election);
    }

    // Our config text, in QuorumMaj's form; version 0 is what a static zoo.cfg has, so
    // ZooKeeper compares it and does not reconfigure.
    let config = format!("{servers}version=0").into_bytes();
    let voters: BTreeSet<ServerId> = [1, 2, 3].into();
    let timing = Timing::from_tick_ms(TICK_MS);
    // Server 2 has a longer log than ZooKeeper's empty one, so it must win over sid 3.
    let zxids: BTreeMap<ServerId, i64> = [(1, 0), (2, 5)].into();
    let (report_tx, reports) = unbounded();
    let mut pumps = Vec::new();
    for node in nodes.drain(..) {
        let zxid = zxids[&node.id];
        let core = Election::new(node.id, voters.clone(), BTreeSet::new(), zxid, 0, timing);
        pumps.push(Pump::start(core, node, &config, zxid, &report_tx));
    }

    // Both of ours elect 2, having heard from ZooKeeper; ZooKeeper follows 2 (it then fails to
    // reach 2's quorum port, goes back to LOOKING, and our settled cores answer it again).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut elected = BTreeMap::new();
    let mut zk_votes_for_2 = 0;
    let mut zk_config = None;
    let mut heard_zk = BTreeSet::new();
    let zk_following = |log: &str| log.contains("FOLLOWING - LEADER ELECTION TOOK");
    while elected.len() < 2 || zk_votes_for_2 == 0 || !zk_following(&zk.log()) {
        assert!(Instant::now() < deadline, "no agreement within 90 s: ours {elected:?}\n{}", zk.log());
        match reports.recv_timeout(Duration::from_millis(200)) {
            Ok(Report::Elected { id, vote, state }) => {
                elected.insert(id, (vote, state));
            }
            Ok(Report::Heard { id, from: 3, n, config }) => {
                heard_zk.insert(id);
                if n.leader == 2 && n.zxid == 5 {
                    zk_votes_for_2 += 1;
                }
                zk_config = config;
            }
            Ok(Report::Heard { .. }) | Err(_) => {}
        }
    }
    assert_eq!(heard_zk, [1, 2].into(), "both of ours heard ZooKeeper");
    assert_eq!(elected[&1].0.leader, 2);
    assert_eq!(elected[&1].1, PeerState::Following);
    assert_eq!(elected[&2].0.leader, 2);
    assert_eq!(elected[&2].1, PeerState::Leading);
    let zk_config = String::from_utf8(zk_config.expect("ZooKeeper sends its config")).unwrap();
    assert!(
        zk_config.contains(servers.lines().nth(2).unwrap()) && zk_config.contains("version=0"),
        "ZooKeeper's config text: {zk_config}"
    );
    let log = zk.log();
    assert!(log.contains("FOLLOWING - LEADER ELECTION TOOK"), "{log}");
    for complaint in [
        "Initial message parsing error",
        "Invalid configLength",
        "Something went wrong while processing config",
        "Skipping the processing of a partial",
        "Exception while connecting",
        "Received packet with invalid packet",
    ] {
        assert!(!log.contains(complaint), "ZooKeeper logged {complaint:?}:\n{log}");
    }
    for pump in pumps {
        pump.stop();
    }
    drop(zk);
}

#[test]
fn gapped_ids_and_a_message_to_ourselves() {
    init_log();
    let nodes = start_all(&[4, 7]);
    nodes[0].net.send(7, &tagged(4, 7, 1), b"version=0");
    expect_all(&nodes[1], &[(4, tagged(4, 7, 1))]);
    let table = settled_connections(&nodes);
    assert_eq!(table.len(), 2);
    // A message to ourselves is looped back, as QuorumCnxManager.toSend does.
    nodes[0].net.send(4, &tagged(4, 4, 1), b"version=0");
    expect_all(&nodes[0], &[(4, tagged(4, 4, 1))]);
    for node in nodes {
        node.net.shutdown();
    }
}
