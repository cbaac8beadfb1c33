//! Bad input never takes the server down and never loses data. Each case sends hostile bytes on
//! a raw connection, then checks that the process is alive, that a client connected before the
//! case still creates and reads, that a new client can connect and sees every node written so far,
//! and that the server logged the case.
//!
//! The expected answers are what Apache ZooKeeper 3.8.0 (Debian's jars, `ZooKeeperServerMain` on
//! loopback) did when sent the same bytes:
//!
//! | input | ZooKeeper 3.8 |
//! |---|---|
//! | frame length over jute.maxbuffer or negative, before or after the handshake | closes ("Len error") |
//! | ConnectRequest truncated, too short, with a bad passwd length, or a RequestHeader instead | closes |
//! | opcode it does not know (0, -1, 10, 23, 999, ...) | err UNIMPLEMENTED (-6), then closes the connection; the session lives |
//! | known opcode whose body is truncated, has a length past the frame or a huge vector count | err MARSHALLINGERROR (-5); the connection stays usable |
//! | auth packet that does not decode | closes without a reply |
//! | socket closed inside a frame | drops the connection; complete frames before it are served |
//! | first 4 bytes not a four-letter word; telnet close 0xfff4fffd | closes |
//! | nothing after connecting | closes after about 10 s (`zookeeper.nio.sessionlessCnxnTimeout`) |
//! | half a frame after the handshake, then silence | closes when the session expires |
//! | create whose whole frame is exactly jute.maxbuffer | accepted; getData returns the data whole |
//! | create whose frame is over jute.maxbuffer (so data of jute.maxbuffer bytes, too) | closes; nothing is created |
//!
//! Every connection is on loopback, every read has a timeout, every loop is bounded.
//! `random_requests_on_a_live_connection` replays from `MALFORMED_SEED`.

mod common;

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod fuzz;

use common::{wait_until, Server};
use fuzz::{mutate, Rng};
use rookery::client::Client;
use rookery::codes::{op, ErrorCode};
use rookery::jute::data::{open_acl_unsafe, Acl};
use rookery::jute::proto::*;
use rookery::jute::{JuteWrite, Reader, Record};
use rookery::pipeline::ClientOp;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// ZooKeeper's default jute.maxbuffer.
const MAXBUFFER: usize = 1_048_575;
/// A frame length past even jute.maxbuffer plus its extrasize (the frame limit itself is
/// jute.maxbuffer, as in ZooKeeper).
const MAX_FRAME_WITH_EXTRA: usize = 2 * MAXBUFFER;
const SESSION_MS: i32 = 30_000;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Bytes on the wire

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 4);
    v.put_i32(body.len() as i32);
    v.extend_from_slice(body);
    v
}

/// A whole request frame: length, RequestHeader, body.
fn request(xid: i32, op: i32, body: &[u8]) -> Vec<u8> {
    let mut b = RequestHeader { xid, op }.to_bytes();
    b.extend_from_slice(body);
    framed(&b)
}

fn connect_request(timeout_ms: i32) -> ConnectRequest {
    ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        time_out: timeout_ms,
        session_id: 0,
        passwd: Some(vec![0; 16]),
        read_only: Some(false),
    }
}

fn exists(path: &str) -> Vec<u8> {
    ExistsRequest { path: path.into(), watch: false }.to_bytes()
}

fn create(path: &str, data: &[u8]) -> Vec<u8> {
    CreateRequest { path: path.into(), data: Some(data.to_vec()), acl: open_acl_unsafe(), flags: 0 }.to_bytes()
}

/// Big-endian ints and raw bytes, for bodies no encoder would write.
fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn int(v: i32) -> [u8; 4] {
    v.to_be_bytes()
}

/// Writes what it can: the server may already have closed the connection, which is the point.
fn send(s: &mut TcpStream, b: &[u8]) {
    let _ = s.write_all(b);
}

/// What the server did next on a connection.
enum Answer {
    Frame(Vec<u8>),
    Closed,
    Silent,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Frame(b) => write!(f, "a frame of {} bytes starting {:02x?}", b.len(), &b[..b.len().min(24)]),
            Answer::Closed => write!(f, "the connection closed"),
            Answer::Silent => write!(f, "nothing within {IO_TIMEOUT:?}"),
        }
    }
}

fn read_or_answer(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), Answer> {
    match s.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) => match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Err(Answer::Silent),
            ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe => Err(Answer::Closed),
            _ => panic!("read failed: {e}"),
        },
    }
}

fn answer(s: &mut TcpStream) -> Answer {
    let mut len = [0u8; 4];
    if let Err(a) = read_or_answer(s, &mut len) {
        return a;
    }
    let n = i32::from_be_bytes(len);
    assert!((0..=64 << 20).contains(&n), "the server sent a frame length of {n}");
    let mut body = vec![0; n as usize];
    match read_or_answer(s, &mut body) {
        Ok(()) => Answer::Frame(body),
        Err(a) => panic!("the server's frame of {n} bytes was cut short: {a:?}"),
    }
}

fn expect_closed(s: &mut TcpStream, case: &str) {
    match answer(s) {
        Answer::Closed => {}
        other => panic!("{case}: expected the server to close the connection, got {other:?}"),
    }
}

/// The next reply (watch events skipped); panics on a close or silence.
fn expect_reply(s: &mut TcpStream, case: &str) -> (ReplyHeader, Vec<u8>) {
    for _ in 0..1000 {
        match answer(s) {
            Answer::Frame(f) => {
                let mut r = Reader::new(&f);
                let hdr = ReplyHeader::read(&mut r).unwrap_or_else(|e| panic!("{case}: bad reply header: {e}"));
                if hdr.xid != -1 {
                    return (hdr, r.rest().to_vec());
                }
            }
            other => panic!("{case}: expected a reply, got {other:?}"),
        }
    }
    panic!("{case}: a thousand watch events and no reply");
}

fn connect_raw(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to the server");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// A raw connection past its handshake.
struct Raw {
    s: TcpStream,
    session_id: i64,
    passwd: Vec<u8>,
}

fn handshake(addr: SocketAddr, timeout_ms: i32) -> Raw {
    let mut s = connect_raw(addr);
    send(&mut s, &framed(&connect_request(timeout_ms).to_bytes()));
    let resp = match answer(&mut s) {
        Answer::Frame(f) => ConnectResponse::from_bytes(&f).expect("a ConnectResponse"),
        other => panic!("handshake: got {other:?}"),
    };
    assert!(resp.time_out > 0, "handshake refused: {resp:?}");
    Raw { s, session_id: resp.session_id, passwd: resp.passwd.unwrap_or_default() }
}

impl Raw {
    /// An exists("/") on this connection succeeds: the connection is still usable.
    fn assert_usable(&mut self, case: &str) {
        send(&mut self.s, &request(0x7000, op::EXISTS, &exists("/")));
        let (hdr, _) = expect_reply(&mut self.s, case);
        assert_eq!((hdr.xid, hdr.err), (0x7000, 0), "{case}: the connection is no longer usable");
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test and its witnesses

struct Rig {
    server: Server,
    /// Connected before any case; must keep working through all of them.
    healthy: Client,
    /// Nodes the checks have written under /healthy, all of which must survive.
    checks: usize,
}

impl Rig {
    fn start(extra_cfg: &str) -> Rig {
        let server = Server::start(&format!("maxSessionTimeout=60000\n{extra_cfg}"));
        let mut healthy = Client::connect(server.addr, SESSION_MS).expect("the healthy client connects");
        healthy.create("/healthy", b"", 0).expect("create /healthy");
        Rig { server, healthy, checks: 0 }
    }

    fn raw(&self) -> TcpStream {
        connect_raw(self.server.addr)
    }

    fn session(&self) -> Raw {
        handshake(self.server.addr, SESSION_MS)
    }

    /// Where the log ends now; `expect_log` looks only past it.
    fn mark(&self) -> usize {
        self.server.log().len()
    }

    /// Waits for a log line after `mark` that contains every needle, and returns it.
    fn expect_log(&self, case: &str, mark: usize, needles: &[&str]) -> String {
        let mut line = None;
        let found = wait_until(IO_TIMEOUT, || {
            let log = self.server.log();
            line = log
                .get(mark..)
                .unwrap_or("")
                .lines()
                .find(|l| needles.iter().all(|n| l.contains(n)))
                .map(str::to_string);
            line.is_some()
        });
        assert!(
            found,
            "{case}: no log line with {needles:?}; the log since the case:\n{}",
            self.server.log().get(mark..).unwrap_or("")
        );
        line.unwrap()
    }

    /// Like `expect_log`, and the line is at INFO or above, so a default-configured server shows it.
    fn expect_log_info(&self, case: &str, mark: usize, needles: &[&str]) {
        let line = self.expect_log(case, mark, needles);
        assert!(!line.contains("DEBUG") && !line.contains("TRACE"), "{case}: logged only at debug: {line}");
    }

    /// The server survived `case`: it runs, the client connected before the case still writes and
    /// reads, a new client connects and sees every node the checks wrote so far.
    fn check(&mut self, case: &str) {
        let log_tail = |s: &Server| {
            let log = s.log();
            log[log.len().saturating_sub(4000)..].to_string()
        };
        assert!(self.server.alive(), "{case}: the server exited; log tail:\n{}", log_tail(&self.server));
        self.checks += 1;
        let path = format!("/healthy/c{}", self.checks);
        let data = case.as_bytes();
        self.healthy
            .create(&path, data, 0)
            .unwrap_or_else(|e| panic!("{case}: the client connected before cannot create: {e}"));
        let (got, _) = self.healthy.get_data(&path, false).unwrap_or_else(|e| panic!("{case}: getData: {e}"));
        assert_eq!(got.as_deref(), Some(data), "{case}: the healthy client read back something else");
        let mut fresh = Client::connect(self.server.addr, SESSION_MS).unwrap_or_else(|e| {
            panic!("{case}: a new client cannot connect: {e}; log tail:\n{}", log_tail(&self.server))
        });
        let kids = fresh.get_children("/healthy", false).unwrap_or_else(|e| panic!("{case}: getChildren: {e}"));
        assert_eq!(kids.len(), self.checks, "{case}: nodes written before were lost: {kids:?}");
        let (got, _) = fresh.get_data(&path, false).unwrap_or_else(|e| panic!("{case}: getData: {e}"));
        assert_eq!(got.as_deref(), Some(data), "{case}: the new client read back something else");
        fresh.close().unwrap_or_else(|e| panic!("{case}: closeSession: {e}"));
    }

    /// Threads of the server process (each connection costs a reader and a writer).
    fn threads(&self) -> usize {
        let pid = self.server.child.id();
        std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| d.count()).unwrap_or(0)
    }

    /// `zk_num_alive_connections` from mntr; None when the server refused the mntr connection
    /// (maxClientCnxns, while it has not yet forgotten connections just closed).
    fn alive_connections(&self) -> Option<usize> {
        let text = self.server.four("mntr");
        text.lines().find_map(|l| l.strip_prefix("zk_num_alive_connections")).and_then(|v| v.trim().parse().ok())
    }
}

// ---------------------------------------------------------------------------------------------
// Frame lengths

#[test]
fn frames_over_jute_maxbuffer_close_the_connection() {
    let mut rig = Rig::start("");
    for len in [i32::MAX, (MAX_FRAME_WITH_EXTRA + 1) as i32, 0x7fff_0000] {
        for after_handshake in [false, true] {
            let case =
                format!("frame length {len}, {} the handshake", if after_handshake { "after" } else { "before" });
            let mark = rig.mark();
            let mut s = if after_handshake { rig.session().s } else { rig.raw() };
            let local = s.local_addr().unwrap();
            send(&mut s, &len.to_be_bytes());
            // The rest of such a frame must not be waited for, nor buffered.
            send(&mut s, &[0x55; 1024]);
            expect_closed(&mut s, &case);
            rig.expect_log_info(&case, mark, &[&format!("from {local}: "), &format!("Len error {len}")]);
            rig.check(&case);
        }
    }
}

#[test]
fn negative_and_empty_frames_close_the_connection() {
    let mut rig = Rig::start("");
    for len in [-1, -5, i32::MIN] {
        for after_handshake in [false, true] {
            let case =
                format!("frame length {len}, {} the handshake", if after_handshake { "after" } else { "before" });
            let mark = rig.mark();
            let mut s = if after_handshake { rig.session().s } else { rig.raw() };
            let local = s.local_addr().unwrap();
            send(&mut s, &len.to_be_bytes());
            expect_closed(&mut s, &case);
            rig.expect_log_info(&case, mark, &[&format!("from {local}: "), &format!("Len error {len}")]);
            rig.check(&case);
        }
    }
    // A frame of length 0 holds no ConnectRequest, and no RequestHeader either.
    for (after_handshake, needle) in [(false, "bad ConnectRequest"), (true, "bad request header")] {
        let case = format!("empty frame, {} the handshake", if after_handshake { "after" } else { "before" });
        let mark = rig.mark();
        let mut s = if after_handshake { rig.session().s } else { rig.raw() };
        let local = s.local_addr().unwrap();
        send(&mut s, &framed(&[]));
        expect_closed(&mut s, &case);
        rig.expect_log_info(&case, mark, &[&format!("from {local}: "), needle]);
        rig.check(&case);
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake

#[test]
fn truncated_connect_request_then_close() {
    let mut rig = Rig::start("");
    let whole = framed(&connect_request(SESSION_MS).to_bytes());
    assert_eq!(whole.len(), 4 + 45);
    for (cut, needle) in
        [(24, "connection closed inside a frame of 45 bytes"), (2, "connection closed inside a frame length (2 of 4")]
    {
        let case = format!("ConnectRequest cut after {cut} of {} bytes, then closed", whole.len());
        let mark = rig.mark();
        let mut s = rig.raw();
        let local = s.local_addr().unwrap();
        send(&mut s, &whole[..cut]);
        drop(s);
        rig.expect_log_info(&case, mark, &[&format!("from {local}: "), needle]);
        rig.check(&case);
    }
}

#[test]
fn garbage_connect_requests_close_the_connection() {
    let mut rig = Rig::start("");
    let head = bytes(&[&int(0), &0i64.to_be_bytes(), &int(SESSION_MS), &0i64.to_be_bytes()]);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "passwd length 0x7ffffff0",
            bytes(&[&head, &int(0x7fff_fff0), &[0; 16], &[0]]),
            "bad ConnectRequest: unreasonable length 2147483632",
        ),
        ("passwd length -7", bytes(&[&head, &int(-7), &[0; 16], &[0]]), "bad ConnectRequest: unreasonable length -7"),
        (
            "passwd length past the frame",
            bytes(&[&head, &int(17), &[0; 16]]),
            "bad ConnectRequest: unreasonable length 17",
        ),
        ("ConnectRequest of 20 bytes", head[..20].to_vec(), "bad ConnectRequest: truncated"),
    ];
    for (case, body, needle) in cases {
        let mark = rig.mark();
        let mut s = rig.raw();
        let local = s.local_addr().unwrap();
        send(&mut s, &framed(&body));
        expect_closed(&mut s, case);
        rig.expect_log_info(case, mark, &[&format!("from {local}: "), needle]);
        rig.check(case);
    }
}

#[test]
fn a_request_before_the_handshake_closes_the_connection() {
    let mut rig = Rig::start("");
    let case = "getData request as the first frame";
    let mark = rig.mark();
    let mut s = rig.raw();
    let local = s.local_addr().unwrap();
    let get = GetDataRequest { path: "/healthy".into(), watch: true }.to_bytes();
    send(&mut s, &request(1, op::GET_DATA, &get));
    expect_closed(&mut s, case);
    rig.expect_log_info(case, mark, &[&format!("from {local}: "), "bad ConnectRequest"]);
    rig.check(case);
}

#[test]
fn a_connection_that_sends_nothing_is_dropped() {
    let mut rig = Rig::start("");
    let started = Instant::now();
    let mut silent = rig.raw();
    let mut half = rig.raw();
    send(&mut half, &[0, 0]);
    let (silent_local, half_local) = (silent.local_addr().unwrap(), half.local_addr().unwrap());
    // After the handshake, half a frame and silence: the session expires and takes the
    // connection with it.
    let mut stalled = handshake(rig.server.addr, 1000);
    send(&mut stalled.s, &request(1, op::EXISTS, &exists("/"))[..9]);
    let mark = rig.mark();
    for s in [&mut silent, &mut half, &mut stalled.s] {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    for (name, s) in [("no bytes at all", &mut silent), ("two bytes", &mut half), ("half a request", &mut stalled.s)] {
        let case = format!("connection that sent {name}, then nothing");
        expect_closed(s, &case);
        assert!(started.elapsed() < Duration::from_secs(30), "{case}: took {:?}", started.elapsed());
    }
    rig.expect_log_info("silent connection", mark, &[&format!("from {silent_local}: "), "no ConnectRequest within"]);
    rig.expect_log_info("two-byte connection", mark, &[&format!("from {half_local}: "), "no ConnectRequest within"]);
    rig.expect_log_info("stalled session", mark, &[&format!("Expiring session 0x{:x}", stalled.session_id)]);
    rig.check("connections that stall");
}

// ---------------------------------------------------------------------------------------------
// Requests after the handshake

#[test]
fn unknown_opcodes_get_unimplemented_then_the_connection_closes() {
    let mut rig = Rig::start("");
    for (code, body) in
        [(999, vec![]), (50, b"abcdefgh".to_vec()), (0, vec![]), (-1, vec![]), (10, vec![]), (23, vec![])]
    {
        let case = format!("unknown opcode {code}");
        let mark = rig.mark();
        let mut raw = rig.session();
        // A request pipelined behind it is not served: ZooKeeper closes the connection first.
        let mut b = request(5, code, &body);
        b.extend(request(6, op::CREATE, &create("/after-unknown", b"")));
        send(&mut raw.s, &b);
        let (hdr, rest) = expect_reply(&mut raw.s, &case);
        assert_eq!((hdr.xid, hdr.err), (5, ErrorCode::Unimplemented.code()), "{case}");
        assert!(rest.is_empty(), "{case}: an error reply has no body");
        expect_closed(&mut raw.s, &case);
        rig.expect_log_info(&case, mark, &[&format!("unknown request type {code}")]);
        // Only the connection closed: the session can be resumed.
        let mut again = Client::resume(rig.server.addr, SESSION_MS, raw.session_id, raw.passwd.clone(), 0)
            .unwrap_or_else(|e| panic!("{case}: the session did not survive: {e}"));
        assert_eq!(again.session_id, raw.session_id);
        assert_eq!(again.exists("/after-unknown", false).unwrap(), None, "{case}: the request behind it ran");
        again.close().unwrap();
        rig.check(&case);
    }
}

#[test]
fn malformed_bodies_get_marshalling_error_and_the_connection_stays_usable() {
    let mut rig = Rig::start("");
    let acl = Acl::new(31, "world", "anyone").to_bytes();
    let cases: Vec<(&str, i32, i32, Vec<u8>, &str)> = vec![
        ("getData without a body", 1, op::GET_DATA, vec![], "malformed getData request"),
        ("getData with a cut path", 2, op::GET_DATA, bytes(&[&int(5), b"/he"]), "malformed getData request"),
        ("exists without its watch flag", 3, op::EXISTS, bytes(&[&int(1), b"/"]), "malformed exists request"),
        (
            "create cut inside its ACL",
            4,
            op::CREATE,
            bytes(&[&int(4), b"/mal", &int(1), b"x", &int(1), &acl[..7]]),
            "malformed create request",
        ),
        (
            "create with a path length past the frame",
            5,
            op::CREATE,
            bytes(&[&int(100_000), b"/mal", &int(-1), &int(0), &int(0)]),
            "unreasonable length 100000",
        ),
        (
            "getData with a path length of 0x7fffffff",
            6,
            op::GET_DATA,
            bytes(&[&int(i32::MAX), b"/abc", &[0]]),
            "unreasonable length 2147483647",
        ),
        (
            "create with an ACL count of 0x7fffffff",
            7,
            op::CREATE,
            bytes(&[&int(4), b"/mal", &int(-1), &int(i32::MAX), &int(0)]),
            "unreasonable length 2147483647",
        ),
        (
            "setWatches with a watch count of 0x7fffffff",
            -8,
            op::SET_WATCHES,
            bytes(&[&0i64.to_be_bytes(), &int(i32::MAX)]),
            "malformed setWatches request",
        ),
        (
            "setData with a data length of -7",
            8,
            op::SET_DATA,
            bytes(&[&int(4), b"/mal", &int(-7), &int(-1)]),
            "malformed setData request",
        ),
        ("multi that ends inside its first header", 9, op::MULTI, bytes(&[&int(1), &[0]]), "malformed multi request"),
        (
            "multi holding a getData",
            10,
            op::MULTI,
            bytes(&[
                &MultiHeader { op: op::GET_DATA, done: false, err: -1 }.to_bytes(),
                &GetDataRequest { path: "/".into(), watch: false }.to_bytes(),
                &MultiHeader { op: -1, done: true, err: -1 }.to_bytes(),
            ]),
            "malformed multi request",
        ),
        (
            "multi without its terminator",
            11,
            op::MULTI,
            bytes(&[&MultiHeader { op: op::CREATE, done: false, err: -1 }.to_bytes(), &create("/mal", b"")]),
            "malformed multi request",
        ),
    ];
    let mut raw = rig.session();
    for (case, xid, code, body, needle) in cases {
        let mark = rig.mark();
        send(&mut raw.s, &request(xid, code, &body));
        let (hdr, rest) = expect_reply(&mut raw.s, case);
        assert_eq!((hdr.xid, hdr.err), (xid, ErrorCode::MarshallingError.code()), "{case}");
        assert!(rest.is_empty(), "{case}: an error reply has no body");
        raw.assert_usable(case);
        rig.expect_log(case, mark, &[needle]);
        rig.check(case);
    }
    // Nothing half-decoded was applied.
    assert_eq!(rig.healthy.exists("/mal", false).unwrap(), None, "a malformed create created /mal");
}

#[test]
fn an_auth_packet_that_does_not_decode_closes_the_connection() {
    let mut rig = Rig::start("");
    let case = "auth packet of two bytes";
    let mark = rig.mark();
    let mut raw = rig.session();
    let local = raw.s.local_addr().unwrap();
    send(&mut raw.s, &request(-4, op::AUTH, &[0, 0]));
    expect_closed(&mut raw.s, case);
    rig.expect_log_info(case, mark, &[&format!("from {local}: "), "bad auth packet"]);
    rig.check(case);
}

#[test]
fn socket_closed_in_the_middle_of_a_frame() {
    let mut rig = Rig::start("");
    // A complete create, then a frame that announces 100 bytes and delivers 18.
    let case = "frame announcing 100 bytes, closed after 18";
    let mark = rig.mark();
    let mut raw = rig.session();
    let local = raw.s.local_addr().unwrap();
    let mut b = request(1, op::CREATE, &create("/healthy/before-the-cut", b"kept"));
    b.extend_from_slice(&int(100));
    b.extend_from_slice(&RequestHeader { xid: 2, op: op::GET_DATA }.to_bytes());
    b.extend_from_slice(&[0; 10]);
    send(&mut raw.s, &b);
    drop(raw);
    rig.expect_log_info(case, mark, &[&format!("from {local}: "), "connection closed inside a frame of 100 bytes"]);
    // The complete frame before the cut was served.
    let (data, _) = rig.healthy.get_data("/healthy/before-the-cut", false).expect("the create before the cut");
    assert_eq!(data.as_deref(), Some(&b"kept"[..]));
    rig.checks += 1;
    rig.check(case);

    let case = "closed inside a frame length";
    let mark = rig.mark();
    let mut raw = rig.session();
    let local = raw.s.local_addr().unwrap();
    send(&mut raw.s, &[0, 0, 0]);
    drop(raw);
    rig.expect_log_info(case, mark, &[&format!("from {local}: "), "inside a frame length (3 of 4 bytes)"]);
    rig.check(case);
}

#[test]
fn four_bytes_that_are_not_a_four_letter_word() {
    let mut rig = Rig::start("");
    assert_eq!(rig.server.four("ruok"), "imok");
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        ("abcd", b"abcd".to_vec(), format!(": Len error {}", i32::from_be_bytes(*b"abcd"))),
        ("xyzw and more", b"xyzw\0\0\0\0\0\0\0\0".to_vec(), format!(": Len error {}", i32::from_be_bytes(*b"xyzw"))),
        ("RUOK", b"RUOK".to_vec(), format!(": Len error {}", i32::from_be_bytes(*b"RUOK"))),
        ("telnet close 0xfff4fffd", vec![0xff, 0xf4, 0xff, 0xfd], "telnet close".to_string()),
    ];
    for (case, word, needle) in cases {
        let mark = rig.mark();
        let mut s = rig.raw();
        let local = s.local_addr().unwrap();
        send(&mut s, &word);
        expect_closed(&mut s, case);
        rig.expect_log_info(case, mark, &[&format!("{local}"), &needle]);
        rig.check(case);
    }
    // A four-letter word after the handshake is just a frame length, and too large.
    let case = "ruok after the handshake";
    let mark = rig.mark();
    let mut raw = rig.session();
    send(&mut raw.s, b"ruok");
    expect_closed(&mut raw.s, case);
    rig.expect_log_info(case, mark, &[&format!("Len error {}", i32::from_be_bytes(*b"ruok"))]);
    rig.check(case);
}

// ---------------------------------------------------------------------------------------------
// Load

#[test]
fn a_thousand_connections_opened_and_dropped() {
    // A small maxClientCnxns makes a leaked connection slot show.
    let mut rig = Rig::start("maxClientCnxns=20");
    let baseline_threads = rig.threads();
    // The healthy client's connection, and (as in ZooKeeper) the one asking.
    let baseline_conns = rig.alive_connections().expect("mntr answers");
    let connect = framed(&connect_request(2000).to_bytes());
    let half_request = request(1, op::EXISTS, &exists("/"))[..7].to_vec();
    let started = Instant::now();
    for i in 0..1000 {
        let mut s = rig.raw();
        match i % 4 {
            0 => {}
            1 => send(&mut s, &connect[..10]),
            2 => send(&mut s, &connect),
            _ => {
                send(&mut s, &connect);
                if let Answer::Frame(_) = answer(&mut s) {
                    send(&mut s, &half_request);
                }
            }
        }
        drop(s);
        // Opened faster than the server can forget them, twenty would meet maxClientCnxns (and be
        // refused, which is not what this case is about): let the server catch up every sixteen.
        if i % 16 == 15 {
            wait_until(IO_TIMEOUT, || rig.threads() <= baseline_threads + 4);
        }
    }
    let case = "1000 connections opened and dropped";
    assert!(!rig.server.log().contains("Too many connections"), "{case}: some were refused (maxClientCnxns)");
    assert!(started.elapsed() < Duration::from_secs(120), "{case}: took {:?}", started.elapsed());
    assert!(
        wait_until(Duration::from_secs(10), || rig.alive_connections() == Some(baseline_conns)),
        "{case}: connections not forgotten:\n{}",
        rig.server.four("cons")
    );
    assert!(
        wait_until(Duration::from_secs(10), || rig.threads() <= baseline_threads),
        "{case}: {} threads, {baseline_threads} before",
        rig.threads()
    );
    // Every maxClientCnxns slot came back: nineteen more sessions fit beside the healthy client.
    let mut held = Vec::new();
    for _ in 0..19 {
        let mut raw = None;
        wait_until(IO_TIMEOUT, || {
            let mut s = rig.raw();
            send(&mut s, &framed(&connect_request(SESSION_MS).to_bytes()));
            if let Answer::Frame(_) = answer(&mut s) {
                raw = Some(s);
            }
            raw.is_some()
        });
        held.push(raw.unwrap_or_else(|| panic!("{case}: a maxClientCnxns slot leaked; {} held", held.len())));
    }
    drop(held);
    assert!(
        wait_until(Duration::from_secs(10), || rig.alive_connections() == Some(baseline_conns)),
        "{case}: the nineteen held"
    );
    rig.check(case);
}

#[test]
fn many_pipelined_requests_then_an_abrupt_close() {
    let mut rig = Rig::start("");
    rig.healthy.create("/pipe", b"", 0).unwrap();
    let case = "4000 pipelined requests, then an abrupt close";
    let mut raw = rig.session();
    let mut batch = Vec::new();
    for i in 0..2000 {
        batch.extend(request(2 * i + 1, op::CREATE, &create(&format!("/pipe/n{i:05}"), &[b'p'; 100])));
        batch.extend(request(
            2 * i + 2,
            op::GET_DATA,
            &GetDataRequest { path: "/pipe".into(), watch: true }.to_bytes(),
        ));
    }
    send(&mut raw.s, &batch);
    drop(raw);
    // Requests apply in the order sent, even when their sender is gone: what exists is a prefix.
    let mut last = usize::MAX;
    let stable = wait_until(Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(200));
        let n = rig.healthy.get_children("/pipe", false).unwrap().len();
        std::mem::replace(&mut last, n) == n
    });
    assert!(stable, "{case}: /pipe kept changing");
    let mut kids = rig.healthy.get_children("/pipe", false).unwrap();
    kids.sort();
    for (i, k) in kids.iter().enumerate() {
        assert_eq!(k, &format!("n{i:05}"), "{case}: not a prefix of the creates sent");
    }
    rig.check(case);

    // A reader that never reads: replies pile up in the socket, then it goes away.
    let case = "300 pipelined getData of 256 KiB, never read, then an abrupt close";
    rig.healthy.create("/pipe-big", &vec![b'b'; 256 * 1024], 0).unwrap();
    let mut raw = rig.session();
    let get = GetDataRequest { path: "/pipe-big".into(), watch: false }.to_bytes();
    let batch: Vec<u8> = (0..300).flat_map(|i| request(i + 1, op::GET_DATA, &get)).collect();
    send(&mut raw.s, &batch);
    std::thread::sleep(Duration::from_millis(500));
    drop(raw);
    rig.check(case);
}

/// Resident memory of the server process, in KiB.
fn rss_kib(rig: &Rig) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", rig.server.child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// ZooKeeper 3.8 stops reading from a connection whose replies pile up: 1,500 pipelined getData of
/// a 1 MB node, never read, grew its resident memory by about 60 MB. Rookery does the same: the
/// reader stops once CONN_OUTSTANDING_MAX requests are in the pipeline or CONN_QUEUED_BYTES_MAX
/// reply bytes wait for the writer.
#[test]
fn a_client_that_never_reads_cannot_make_the_server_buffer_without_bound() {
    let mut rig = Rig::start("");
    let case = "1500 pipelined getData of a 1 MB node, never read";
    rig.healthy.create("/big", &vec![b'b'; 1_000_000], 0).unwrap();
    let before = rss_kib(&rig);
    let mut raw = rig.session();
    let get = GetDataRequest { path: "/big".into(), watch: false }.to_bytes();
    let batch: Vec<u8> = (0..1500).flat_map(|i| request(i + 1, op::GET_DATA, &get)).collect();
    send(&mut raw.s, &batch);
    let mut peak = before;
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(100));
        peak = peak.max(rss_kib(&rig));
    }
    drop(raw);
    assert!(peak - before < 300 * 1024, "{case}: resident memory grew by {} MiB", (peak - before) / 1024);
    rig.check(case);
}

// ---------------------------------------------------------------------------------------------
// Size limits

/// Create data whose whole request frame (RequestHeader + CreateRequest) is `frame` bytes.
fn data_for_frame(path: &str, frame: usize) -> Vec<u8> {
    let overhead = request(1, op::CREATE, &create(path, b"")).len() - 4;
    vec![b'm'; frame - overhead]
}

#[test]
fn a_create_whose_frame_is_exactly_jute_maxbuffer_round_trips() {
    let mut rig = Rig::start("");
    let case = "create in a frame of exactly jute.maxbuffer";
    let data = data_for_frame("/max", MAXBUFFER);
    let mut raw = rig.session();
    let frame = request(1, op::CREATE, &create("/max", &data));
    assert_eq!(frame.len(), 4 + MAXBUFFER);
    send(&mut raw.s, &frame);
    let (hdr, _) = expect_reply(&mut raw.s, case);
    assert_eq!(hdr.err, 0, "{case}");
    let (got, stat) = rig.healthy.get_data("/max", false).unwrap();
    assert_eq!(stat.data_length as usize, data.len(), "{case}");
    assert!(got.as_deref() == Some(&data[..]), "{case}: getData did not return the data whole");
    rig.check(case);
}

#[test]
fn a_create_far_over_jute_maxbuffer_is_refused() {
    let mut rig = Rig::start("");
    let case = "create with data of 2 x jute.maxbuffer";
    let mark = rig.mark();
    let mut raw = rig.session();
    send(&mut raw.s, &request(1, op::CREATE, &create("/huge", &vec![b'h'; MAX_FRAME_WITH_EXTRA])));
    expect_closed(&mut raw.s, case);
    rig.expect_log_info(case, mark, &["Len error"]);
    assert_eq!(rig.healthy.exists("/huge", false).unwrap(), None, "{case}: it was created");
    rig.check(case);
}

/// ZooKeeper's frame limit is jute.maxbuffer itself (`NIOServerCnxn.readLength`: "Len error ...
/// length is greater than jute.maxbuffer=1048575"; checked against 3.8.0: a create frame of
/// 1,048,575 bytes is served, one of 1,048,576 closes the connection). So data of exactly
/// jute.maxbuffer bytes, or one more, never reaches the tree. Rookery reads frames up to
/// jute.maxbuffer + extrasize (`node/mod.rs` `max_frame`), and creates both.
fn refuse_create_over_maxbuffer(data_len: usize) {
    let mut rig = Rig::start("");
    let case = format!("create with data of {data_len} bytes");
    let mark = rig.mark();
    let mut raw = rig.session();
    send(&mut raw.s, &request(1, op::CREATE, &create("/over", &vec![b'o'; data_len])));
    expect_closed(&mut raw.s, &case);
    rig.expect_log_info(&case, mark, &["Len error"]);
    assert_eq!(rig.healthy.exists("/over", false).unwrap(), None, "{case}: it was created");
    rig.check(&case);
}

#[test]

fn a_create_with_data_of_exactly_jute_maxbuffer_is_refused_as_zookeeper_does() {
    refuse_create_over_maxbuffer(MAXBUFFER);
}

#[test]

fn a_create_with_data_over_jute_maxbuffer_is_refused() {
    refuse_create_over_maxbuffer(MAXBUFFER + 1);
}

// ---------------------------------------------------------------------------------------------
// Random requests

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Valid requests to mutate: every opcode a client sends, on paths that exist, with ACLs of each
/// scheme.
fn request_templates() -> Vec<(i32, Vec<u8>)> {
    let acl = vec![
        Acl::new(31, "world", "anyone"),
        Acl::new(1, "ip", "127.0.0.1"),
        Acl::new(3, "digest", "u:H8hbB4ZRjrUQUpiS0VCRzrzBvbU="),
        Acl::new(31, "auth", ""),
    ];
    let create_req = |path: &str, flags| CreateRequest {
        path: path.into(),
        data: Some(b"x".to_vec()),
        acl: open_acl_unsafe(),
        flags,
    };
    let ops = vec![
        ClientOp::Create { op: op::CREATE, req: create_req("/fz/a", 0) },
        ClientOp::Create { op: op::CREATE2, req: create_req("/fz/s-", 2) },
        ClientOp::Create { op: op::CREATE, req: create_req("/fz/e", 1) },
        ClientOp::Create { op: op::CREATE_CONTAINER, req: create_req("/fz/c", 4) },
        ClientOp::Create { op: op::CREATE, req: CreateRequest { acl: acl.clone(), ..create_req("/fz/acl", 0) } },
        ClientOp::CreateTtl(CreateTtlRequest {
            path: "/fz/t".into(),
            data: None,
            acl: open_acl_unsafe(),
            flags: 5,
            ttl: 100,
        }),
        ClientOp::Delete(DeleteRequest { path: "/fz/a".into(), version: -1 }),
        ClientOp::Exists(ExistsRequest { path: "/fz/a".into(), watch: true }),
        ClientOp::GetData(GetDataRequest { path: "/fz".into(), watch: true }),
        ClientOp::SetData(SetDataRequest { path: "/fz/a".into(), data: Some(b"y".to_vec()), version: -1 }),
        ClientOp::GetAcl(GetAclRequest { path: "/fz/acl".into() }),
        ClientOp::SetAcl(SetAclRequest { path: "/fz/a".into(), acl, version: -1 }),
        ClientOp::GetChildren(GetChildrenRequest { path: "/fz".into(), watch: true }),
        ClientOp::GetChildren2(GetChildren2Request { path: "/".into(), watch: false }),
        ClientOp::Sync(SyncRequest { path: "/fz".into() }),
        ClientOp::Check(CheckVersionRequest { path: "/fz".into(), version: 0 }),
        ClientOp::Multi(vec![
            ClientOp::Create { op: op::CREATE, req: create_req("/fz/m", 0) },
            ClientOp::SetData(SetDataRequest { path: "/fz/m".into(), data: None, version: 0 }),
            ClientOp::Check(CheckVersionRequest { path: "/fz/m".into(), version: 1 }),
            ClientOp::Delete(DeleteRequest { path: "/fz/m".into(), version: 1 }),
        ]),
        ClientOp::MultiRead(vec![
            ClientOp::GetData(GetDataRequest { path: "/fz".into(), watch: false }),
            ClientOp::GetChildren(GetChildrenRequest { path: "/fz".into(), watch: false }),
        ]),
        ClientOp::Reconfig(ReconfigRequest {
            joining_servers: Some("server.5=127.0.0.1:2888:3888;2181".into()),
            leaving_servers: None,
            new_members: None,
            cur_config_id: -1,
        }),
        ClientOp::CheckWatches(CheckWatchesRequest { path: "/fz".into(), kind: 3 }),
        ClientOp::RemoveWatches(RemoveWatchesRequest { path: "/fz".into(), kind: 3 }),
        ClientOp::SetWatches(SetWatches2 {
            relative_zxid: 1,
            data_watches: vec!["/fz".into()],
            exist_watches: vec!["/fz/a".into()],
            child_watches: vec!["/".into()],
            persistent_watches: vec!["/fz".into()],
            persistent_recursive_watches: vec![],
        }),
        ClientOp::AddWatch(AddWatchRequest { path: "/fz".into(), mode: 1 }),
        ClientOp::GetEphemerals(GetEphemeralsRequest { prefix_path: "/fz".into() }),
        ClientOp::GetAllChildrenNumber(GetAllChildrenNumberRequest { path: "/".into() }),
        ClientOp::WhoAmI,
        ClientOp::Ping,
        ClientOp::Auth(AuthPacket { kind: 0, scheme: "digest".into(), auth: Some(b"u:p".to_vec()) }),
        ClientOp::Sasl(GetSaslRequest { token: Some(vec![1, 2, 3]) }),
        ClientOp::CloseSession,
    ];
    let mut out: Vec<(i32, Vec<u8>)> = ops
        .iter()
        .map(|o| {
            let mut body = Vec::new();
            o.write_body(&mut body);
            (o.opcode(), body)
        })
        .collect();
    // setWatches (101) has no persistent lists.
    out.push((
        op::SET_WATCHES,
        SetWatches { relative_zxid: 0, data_watches: vec!["/fz".into()], exist_watches: vec![], child_watches: vec![] }
            .to_bytes(),
    ));
    out
}

/// Seeded mutations of valid requests, sent one at a time on a live session: each must be
/// answered, or its connection closed; never ignored, never fatal to the server.
#[test]
fn random_requests_on_a_live_connection() {
    let seed: u64 = env_or("MALFORMED_SEED", 0x2181);
    let count: usize = env_or("MALFORMED_REQUESTS", 3000);
    let mut rig = Rig::start("");
    rig.healthy.create("/fz", b"", 0).unwrap();
    rig.healthy.create("/fz/acl", b"", 0).unwrap();
    let templates = request_templates();
    let bodies: Vec<Vec<u8>> = templates.iter().map(|(_, b)| b.clone()).collect();
    let mut rng = Rng::new(seed);
    let mut raw = rig.session();
    let (mut replies, mut closes) = (0, 0);
    for i in 0..count {
        let (mut code, body) = templates[rng.below(templates.len())].clone();
        let body = if rng.chance(75) { mutate(&mut rng, &body, &bodies) } else { body };
        if rng.chance(3) {
            code = fuzz::OPCODES[rng.below(fuzz::OPCODES.len())];
        }
        let xid = match code {
            op::AUTH => -4,
            op::SET_WATCHES | op::SET_WATCHES2 => -8,
            _ => i as i32 + 1,
        };
        let frame = if rng.chance(1) {
            // Now and then a frame whose length lies.
            let mut f = request(xid, code, &body);
            let lie = [-1, 0, 3, i32::MAX][rng.below(4)];
            f[..4].copy_from_slice(&lie.to_be_bytes());
            f
        } else {
            request(xid, code, &body)
        };
        send(&mut raw.s, &frame);
        let case =
            || format!("MALFORMED_SEED={seed} request #{i}: opcode {code}, body {:02x?}", &body[..body.len().min(64)]);
        // The reply, after any watch events; or the connection closed (an unknown opcode, a
        // failed auth, closeSession, a frame that lies about its length). Never silence.
        let mut answered = false;
        for _ in 0..100 {
            match answer(&mut raw.s) {
                Answer::Frame(f) if f.len() >= 4 && f[..4] == int(-1) => continue,
                Answer::Frame(_) => answered = true,
                Answer::Closed => {}
                Answer::Silent => panic!("{}: no answer, and the connection is still open", case()),
            }
            break;
        }
        if answered {
            replies += 1;
        } else {
            closes += 1;
            raw = rig.session();
        }
        assert!(rig.server.alive(), "{}: the server exited", case());
    }
    eprintln!("{count} random requests: {replies} answered, {closes} connections closed by the server");
    assert!(replies > count / 2, "most requests were answered ({replies} of {count})");
    rig.check(&format!("{count} random requests, MALFORMED_SEED={seed}"));
}
