//! One client connection: a reader thread (frames in, requests to prep) and a writer thread
//! (drains the connection's queue, writing everything queued in one syscall where it can).
//!
//! ```text
//! client → server:  int32 len | ConnectRequest                     (first frame)
//!                   int32 len | RequestHeader | request record     (then)
//! server → client:  int32 len | ConnectResponse
//!                   int32 len | ReplyHeader | response record (only when err == 0)
//! ```
//! A connection whose first four bytes spell a known four-letter word gets a text answer instead.

use super::stream::Stream;
use super::tls::ClientTls;
use super::{Gate, Shared, WriterMsg};
use crate::auth::digest_md5::{DigestMd5Server, Step};
use crate::auth::x509;
use crate::codes::{op, ErrorCode};
use crate::fourlw;
use crate::jute::data::Id;
use crate::jute::proto::{AuthPacket, ConnectRequest, GetSaslRequest, ReplyHeader, RequestHeader, SetSaslResponse};
use crate::jute::{Reader, Record};
use crate::pipeline::commit::frame_of;
use crate::pipeline::prep::PrepInput;
use crate::pipeline::{ClientOp, ConnId, Request};
use crate::tree::acl;
use crossbeam_channel::Sender;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// How long a four-letter word waits for the commit thread's answer.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a new connection may take to send its ConnectRequest, as ZooKeeper's
/// `zookeeper.nio.sessionlessCnxnTimeout` (10 s): a peer that connects and stalls must not hold a
/// thread pair and a maxClientCnxns slot forever. Once a session exists, its expiry closes a
/// stalled connection instead.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection that sent closeSession stays open for the reply (it may wait for the
/// leader to commit the close).
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(10);

/// How a client port speaks.
#[derive(Clone)]
pub enum Transport {
    Plain,
    /// `secureClientPort`: TLS only.
    Tls(Arc<ClientTls>),
    /// `client.portUnification`: TLS if the first byte opens a TLS record, else plain.
    Unified(Arc<ClientTls>),
}

/// The first byte of a TLS handshake record (`ContentType.handshake`).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Opens the connection's stream: TLS runs its handshake here, under the handshake timeout, and a
/// client certificate becomes an `x509` identity as in ZooKeeper's `X509AuthenticationProvider`
/// (which must then be registered: ZooKeeper closes the connection otherwise, and so do we).
fn open(shared: &Shared, conn: ConnId, tcp: TcpStream, transport: &Transport) -> io::Result<(Stream, Vec<Id>)> {
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let tls = match transport {
        Transport::Plain => None,
        Transport::Tls(t) => Some(t),
        Transport::Unified(t) => {
            let mut first = [0u8; 1];
            let n = tcp.peek(&mut first).map_err(stalled_handshake)?;
            (n == 1 && first[0] == TLS_HANDSHAKE_RECORD).then_some(t)
        }
    };
    let Some(tls) = tls else { return Ok((Stream::plain(tcp), Vec::new())) };
    let stream = tls.accept(tcp)?;
    stream.complete_handshake().map_err(|e| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => invalid("TLS handshake timed out".into()),
        _ => invalid(format!("TLS handshake failed: {e}")),
    })?;
    let mut ids = Vec::new();
    if let Some(subject) = stream.peer_certificates().and_then(|c| c.first().and_then(|c| x509::subject_name(c))) {
        if !shared.auth.providers.x509 {
            return Err(invalid(format!(
                "client certificate {subject} but no X509 auth provider (set \
                 authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider)"
            )));
        }
        log::info!("connection {conn}: authenticated by certificate as x509:{subject}");
        if shared.auth.x509_super_user.as_deref() == Some(subject.as_str()) {
            ids.push(Id::new("super", &subject));
        }
        ids.push(Id::new("x509", &subject));
    }
    Ok((stream, ids))
}

/// Reads frames until the client goes away or misbehaves, then tells prep the connection is gone.
/// The writer gets its handle on the stream through `writer` once the stream is open.
pub fn run_reader(
    shared: Arc<Shared>,
    conn: ConnId,
    tcp: TcpStream,
    transport: Transport,
    writer: Sender<Stream>,
    ready: Receiver<i64>,
    gate: Arc<Gate>,
) {
    let peer = tcp.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let opened = open(&shared, conn, tcp, &transport).and_then(|(s, ids)| {
        writer.send(s.try_clone()?).map_err(|_| invalid("writer gone".into()))?;
        Ok((s, ids))
    });
    drop(writer);
    let (mut stream, x509_ids) = match opened {
        Ok(o) => o,
        Err(e) => {
            log::warn!("closing connection {conn} from {peer}: {e}");
            let _ = shared.prep_tx.send(PrepInput::Detach { conn });
            return;
        }
    };
    // Ok means the writer closes the socket once the last reply is out (closeSession, failed
    // auth, an unknown opcode). Anything else ends the connection here.
    match read_loop(&shared, conn, &mut stream, x509_ids, &ready, &gate) {
        Ok(()) => log::debug!("connection {conn} from {peer}: session closed"),
        Err(e) => {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                log::debug!("connection {conn} from {peer}: end of stream");
            } else {
                log::info!("closing connection {conn} from {peer}: {e}");
            }
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
    // Detach goes through prep so it lands after every request this connection sent.
    let _ = shared.prep_tx.send(PrepInput::Detach { conn });
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// A read timeout before the handshake means the peer stalled; say so in the log.
fn stalled_handshake(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            invalid(format!("no ConnectRequest within {} s", HANDSHAKE_TIMEOUT.as_secs()))
        }
        _ => e,
    }
}

fn read_loop(
    shared: &Shared,
    conn: ConnId,
    stream: &mut Stream,
    x509_ids: Vec<Id>,
    ready: &Receiver<i64>,
    gate: &Gate,
) -> io::Result<()> {
    stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let first = read_frame_len(stream).map_err(stalled_handshake)?;
    // A known four-letter word, or telnet's Ctrl-C ("telnet close"), gets a text answer.
    if let Some(word) = fourlw::command_of(first) {
        return four_letter(shared, conn, word, stream);
    }
    let len = i32::from_be_bytes(first);
    let mut buf = Vec::new();
    read_body(stream, len, shared.max_frame, &mut buf).map_err(stalled_handshake)?;
    stream.set_read_timeout(None)?;
    let req = ConnectRequest::from_bytes(&buf).map_err(|e| invalid(format!("bad ConnectRequest: {e}")))?;
    if shared.stopping() {
        return Err(invalid("server stopping".into()));
    }
    shared.prep_tx.send(PrepInput::Connect { conn, req }).map_err(|_| invalid("server stopping".into()))?;
    // Block until the session exists. On refusal the commit thread drops the route instead, and
    // the writer sends the refusal (if any) and closes the socket.
    let Ok(session) = ready.recv() else { return Ok(()) };
    let peer_ip = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let mut auth = Arc::new(crate::pipeline::prep::initial_auth(&peer_ip));
    grant(&mut auth, x509_ids);
    let mut sasl: Option<DigestMd5Server> = None;
    let mut frames = Frames::new();
    loop {
        // Back-pressure: no more reading while this connection's replies pile up.
        gate.wait_for_room();
        let frame = frames.next(stream, shared.max_frame)?;
        let mut r = Reader::new(frame);
        let hdr = RequestHeader::read(&mut r).map_err(|e| invalid(format!("bad request header: {e}")))?;
        let body = r.rest();
        if hdr.op == op::AUTH {
            if !auth_packet(shared, conn, &hdr, body, &mut auth)? {
                return Ok(());
            }
            continue;
        }
        if hdr.op == op::SASL && shared.auth.sasl_users.is_some() {
            if !sasl_packet(shared, conn, &hdr, body, &mut sasl, &mut auth)? {
                return Ok(());
            }
            continue;
        }
        let op = match ClientOp::decode(hdr.op, body) {
            Ok(op) => op,
            Err(e) => {
                // The opcodes ZooKeeper's Request.isValid refuses. Its UnimplementedRequestProcessor
                // answers them and then closes the connection (not the session).
                let err = if op::name(hdr.op) == "unknown" || hdr.op == op::ERROR || hdr.op == op::NOTIFICATION {
                    log::warn!("connection {conn}: unknown request type {}", hdr.op);
                    ErrorCode::Unimplemented
                } else {
                    log::warn!("connection {conn}: malformed {} request: {e}", op::name(hdr.op));
                    ErrorCode::MarshallingError
                };
                ClientOp::Invalid { op: hdr.op, err }
            }
        };
        // A graceful stop forwards nothing read after it began: the request is never answered,
        // so never acknowledged, and the stop closes the connection once the replies to the
        // requests before it are out.
        if shared.stopping() {
            log::debug!("connection {conn}: server stopping, request {} dropped", hdr.xid);
            continue;
        }
        let close = matches!(op, ClientOp::CloseSession | ClientOp::Invalid { err: ErrorCode::Unimplemented, .. });
        let request = Request { conn, session, xid: hdr.xid, op, auth: auth.clone(), received_ms: shared.now_ms() };
        gate.request_sent();
        shared.prep_tx.send(PrepInput::Request(request)).map_err(|_| invalid("server stopping".into()))?;
        if close {
            gate.wait_idle(CLOSE_REPLY_WAIT);
            return Ok(());
        }
    }
}

/// Reads one frame body of `len` bytes into `buf`, refusing lengths over the limit before
/// allocating ("Len error" in ZooKeeper).
fn read_body(stream: &mut Stream, len: i32, max: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    if len < 0 || len as usize > max {
        return Err(invalid(format!("Len error {len}: frame over jute.maxbuffer")));
    }
    buf.clear();
    buf.resize(len as usize, 0);
    stream.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => invalid(format!("connection closed inside a frame of {len} bytes")),
        _ => e,
    })
}

/// A connection's incoming frames, read in large reads: one `recv` takes in as many pipelined
/// requests as the socket holds, instead of two reads per request. The handshake is read frame by
/// frame before this starts, so a four-letter word is never over-read.
struct Frames {
    buf: Vec<u8>,
    /// The unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl Frames {
    /// The buffer a connection starts with (and returns to after a large frame): small, because
    /// every connection has one.
    const SMALL: usize = 4 * 1024;

    fn new() -> Frames {
        Frames { buf: vec![0; Self::SMALL], start: 0, end: 0 }
    }

    /// The next frame's body. A peer that closes between frames ends the stream (UnexpectedEof);
    /// one that closes inside a frame sent a truncated one; a length over `max` is refused before
    /// anything is allocated for it ("Len error" in ZooKeeper).
    fn next(&mut self, stream: &mut Stream, max: usize) -> io::Result<&[u8]> {
        if self.start == self.end && self.buf.len() > Self::SMALL {
            self.buf = vec![0; Self::SMALL];
            (self.start, self.end) = (0, 0);
        }
        self.fill(stream, 4, |got| match got {
            0 => io::ErrorKind::UnexpectedEof.into(),
            _ => invalid(format!("connection closed inside a frame length ({got} of 4 bytes)")),
        })?;
        let b = &self.buf[self.start..self.start + 4];
        let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if len < 0 || len as usize > max {
            return Err(invalid(format!("Len error {len}: frame over jute.maxbuffer")));
        }
        let whole = 4 + len as usize;
        self.fill(stream, whole, |_| invalid(format!("connection closed inside a frame of {len} bytes")))?;
        let body = self.start + 4..self.start + whole;
        self.start += whole;
        Ok(&self.buf[body])
    }

    /// Reads until `need` unparsed bytes are buffered; `closed(got)` is the error for an end of
    /// stream with `got` of them.
    fn fill(&mut self, stream: &mut Stream, need: usize, closed: impl Fn(usize) -> io::Error) -> io::Result<()> {
        while self.end - self.start < need {
            if self.buf.len() - self.start < need || self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if self.buf.len() < need {
                    self.buf.resize(need, 0);
                }
            }
            match stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Err(closed(self.end - self.start)),
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Reads the 4-byte length that starts a frame. A peer that closes between frames ends the stream
/// (UnexpectedEof, logged at debug); one that closes inside the length sent a truncated frame.
fn read_frame_len(stream: &mut Stream) -> io::Result<[u8; 4]> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match stream.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(0) => return Err(invalid(format!("connection closed inside a frame length ({got} of 4 bytes)"))),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// `addauth`: handled on the connection, as ZooKeeper does. Failure answers AUTHFAILED and
/// closes the connection: Ok(false) then, and the writer closes it after the reply.
fn auth_packet(
    shared: &Shared,
    conn: ConnId,
    hdr: &RequestHeader,
    body: &[u8],
    auth: &mut Arc<Vec<Id>>,
) -> io::Result<bool> {
    let packet = AuthPacket::from_bytes(body).map_err(|e| invalid(format!("bad auth packet: {e}")))?;
    let granted =
        acl::authenticate(&packet.scheme, packet.auth.as_deref().unwrap_or(&[]), shared.super_digest.as_deref());
    let err = match granted {
        Ok(ids) => {
            grant(auth, ids);
            0
        }
        Err(e) => {
            log::info!("connection {conn}: authentication failed for scheme {}", packet.scheme);
            e.code()
        }
    };
    let reply = frame_of(&ReplyHeader { xid: hdr.xid, zxid: 0, err });
    shared.send_to(conn, WriterMsg::Frame(reply));
    if err != 0 {
        shared.send_to(conn, WriterMsg::Close);
        return Ok(false);
    }
    Ok(true)
}

/// Adds identities to a connection's auth list (once each).
fn grant(auth: &mut Arc<Vec<Id>>, ids: impl IntoIterator<Item = Id>) {
    let mut next = (**auth).clone();
    for id in ids {
        if !next.contains(&id) {
            next.push(id);
        }
    }
    *auth = Arc::new(next);
}

/// A SASL token (`ZooKeeperServer.processSasl`), handled on the connection as ZooKeeper does:
/// each token is answered at once with the server's next one; success adds `sasl:<user>` (and
/// `super` for `zookeeper.superUser`). Failure answers AUTHFAILED and closes the connection:
/// Ok(false) then.
fn sasl_packet(
    shared: &Shared,
    conn: ConnId,
    hdr: &RequestHeader,
    body: &[u8],
    sasl: &mut Option<DigestMd5Server>,
    auth: &mut Arc<Vec<Id>>,
) -> io::Result<bool> {
    let users = shared.auth.sasl_users.as_ref().expect("only called with SASL configured");
    let request = GetSaslRequest::from_bytes(body).map_err(|e| invalid(format!("bad SASL packet: {e}")))?;
    if sasl.is_none() {
        *sasl = Some(DigestMd5Server::new(crate::auth::random_nonce()?));
    }
    let server = sasl.as_mut().expect("just set");
    let (err, token) = match server.evaluate(request.token.as_deref().unwrap_or(&[]), users) {
        Ok(Step::Challenge(token)) => (0, Some(token)),
        Ok(Step::Complete { token, user }) => {
            log::info!("connection {conn}: adding SASL authorization for authorizationID: {user}");
            let is_super = shared.auth.sasl_super_users.contains(&user);
            let mut ids = vec![Id::new("sasl", &user)];
            if is_super {
                log::info!("connection {conn}: authenticated id '{user}' as super user");
                ids.push(Id::new("super", ""));
            }
            grant(auth, ids);
            (0, Some(token))
        }
        Err(e) => {
            log::warn!("connection {conn}: client failed to SASL authenticate: {e}");
            (ErrorCode::AuthFailed.code(), None)
        }
    };
    let mut reply = Vec::with_capacity(64);
    reply.extend_from_slice(&[0; 4]);
    ReplyHeader { xid: hdr.xid, zxid: 0, err }.write(&mut reply);
    SetSaslResponse { token }.write(&mut reply);
    let len = (reply.len() - 4) as i32;
    reply[..4].copy_from_slice(&len.to_be_bytes());
    shared.send_to(conn, WriterMsg::Frame(reply));
    if err != 0 {
        shared.send_to(conn, WriterMsg::Close);
        return Ok(false);
    }
    Ok(true)
}

/// Answers a four-letter word and closes. Whether it is whitelisted is decided here; the text
/// comes from the commit thread, which sees the tree, the watches and the connections in order.
fn four_letter(shared: &Shared, conn: ConnId, word: &'static str, stream: &mut Stream) -> io::Result<()> {
    let allowed = shared.four_letter_whitelist.iter().any(|w| w == "*" || w == word);
    // As ZooKeeper's NIOServerCnxn logs it, so a telnet close (which answers nothing) leaves a trace.
    log::info!("Processing {word} command from {}", stream.peer_addr().map(|a| a.to_string()).unwrap_or_default());
    let text = if !allowed {
        fourlw::refusal(word)
    } else if word == fourlw::TELNET_CLOSE {
        String::new() // ZooKeeper closes without a word
    } else if word == "stmk" {
        // The new mask follows as 8 bytes; ZooKeeper reads what has arrived and closes silently
        // when it is short.
        let mut mask = [0u8; 8];
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        if stream.read_exact(&mut mask).is_err() {
            String::new()
        } else {
            let mask = i64::from_be_bytes(mask);
            fourlw::set_trace_mask(mask);
            mask.to_string()
        }
    } else {
        let client_port = stream.local_addr().map(|a| a.port()).unwrap_or(0);
        let ask = fourlw::Ask { cmd: word, conn, client_port };
        let (tx, rx) = crossbeam_channel::bounded(1);
        shared.prep_tx.send(PrepInput::FourLetter { ask, reply: tx }).map_err(|_| invalid("server stopping".into()))?;
        match rx.recv_timeout(FOUR_LETTER_TIMEOUT) {
            Ok(t) => t,
            Err(RecvTimeoutError::Timeout) => fourlw::NOT_SERVING.into(),
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    };
    stream.write_all(text.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

/// Drains the connection's queue; exits on Close, on a write error, or when every sender is gone.
pub fn run_writer(stream: Receiver<Stream>, rx: Receiver<WriterMsg>, gate: Arc<Gate>) {
    // The reader hands the stream over once it is open (after a TLS handshake).
    let Ok(stream) = stream.recv() else {
        gate.close();
        return;
    };
    let mut stream: &Stream = &stream;
    // Grows to what the connection's bursts need (up to WRITE_BATCH_BYTES) and stays there; an
    // idle connection keeps a small one.
    let mut batch: Vec<u8> = Vec::with_capacity(4 * 1024);
    'outer: while let Ok(first) = rx.recv() {
        let mut close = false;
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                WriterMsg::Frame(f) => batch.extend_from_slice(&f),
                WriterMsg::Close => {
                    close = true;
                    break;
                }
            }
            if batch.len() >= crate::limits::WRITE_BATCH_BYTES {
                break;
            }
            msg = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            if stream.write_all(&batch).is_err() {
                break 'outer;
            }
            gate.bytes_written(batch.len());
            batch.clear();
        }
        if close {
            break;
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
    gate.close();
}
