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

use super::{Shared, WriterMsg};
use crate::codes::{op, ErrorCode};
use crate::fourlw;
use crate::jute::proto::{AuthPacket, ConnectRequest, ReplyHeader, RequestHeader};
use crate::jute::{Reader, Record};
use crate::pipeline::commit::frame_of;
use crate::pipeline::prep::PrepInput;
use crate::pipeline::{ClientOp, ConnId, Request};
use crate::tree::acl;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// How long a four-letter word waits for the commit thread's answer.
const FOUR_LETTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads frames until the client goes away or misbehaves, then tells prep the connection is gone.
pub fn run_reader(shared: Arc<Shared>, conn: ConnId, mut stream: TcpStream, ready: Receiver<i64>) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    // Ok means the writer closes the socket once the last reply is out (closeSession, failed
    // auth). Anything else ends the connection here.
    match read_loop(&shared, conn, &mut stream, &ready) {
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

fn read_loop(shared: &Shared, conn: ConnId, stream: &mut TcpStream, ready: &Receiver<i64>) -> io::Result<()> {
    let mut first = [0u8; 4];
    stream.read_exact(&mut first)?;
    if let Ok(word) = std::str::from_utf8(&first) {
        if fourlw::COMMANDS.contains(&word) {
            return four_letter(shared, word, stream);
        }
    }
    let len = i32::from_be_bytes(first);
    let mut buf = Vec::new();
    read_body(stream, len, shared.max_frame, &mut buf)?;
    let req = ConnectRequest::from_bytes(&buf).map_err(|e| invalid(format!("bad ConnectRequest: {e}")))?;
    shared
        .prep_tx
        .send(PrepInput::Connect { conn, req })
        .map_err(|_| invalid("server stopping".into()))?;
    // Block until the session exists; the commit thread answers, or drops the handle on refusal.
    // Block until the session exists. On refusal the commit thread drops the route instead, and
    // the writer sends the refusal (if any) and closes the socket.
    let Ok(session) = ready.recv() else { return Ok(()) };
    let peer_ip = stream.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let mut auth = Arc::new(crate::pipeline::prep::initial_auth(&peer_ip));
    loop {
        let mut len = [0u8; 4];
        stream.read_exact(&mut len)?;
        read_body(stream, i32::from_be_bytes(len), shared.max_frame, &mut buf)?;
        let mut r = Reader::new(&buf);
        let hdr = RequestHeader::read(&mut r).map_err(|e| invalid(format!("bad request header: {e}")))?;
        let body = r.rest();
        if hdr.op == op::AUTH {
            if !auth_packet(shared, conn, &hdr, body, &mut auth)? {
                return Ok(());
            }
            continue;
        }
        let op = match ClientOp::decode(hdr.op, body) {
            Ok(op) => op,
            Err(e) => {
                let err = if op::name(hdr.op) == "unknown" || hdr.op == op::ERROR {
                    log::warn!("connection {conn}: unknown request type {}", hdr.op);
                    ErrorCode::Unimplemented
                } else {
                    log::warn!("connection {conn}: malformed {} request: {e}", op::name(hdr.op));
                    ErrorCode::MarshallingError
                };
                ClientOp::Invalid { op: hdr.op, err }
            }
        };
        let close = matches!(op, ClientOp::CloseSession);
        let request = Request {
            conn,
            session,
            xid: hdr.xid,
            op,
            auth: auth.clone(),
            received_ms: shared.now_ms(),
        };
        shared
            .prep_tx
            .send(PrepInput::Request(request))
            .map_err(|_| invalid("server stopping".into()))?;
        if close {
            return Ok(());
        }
    }
}

/// Reads one frame body of `len` bytes into `buf`, refusing lengths over the limit before
/// allocating ("Len error" in ZooKeeper).
fn read_body(stream: &mut TcpStream, len: i32, max: usize, buf: &mut Vec<u8>) -> io::Result<()> {
    if len < 0 || len as usize > max {
        return Err(invalid(format!("Len error {len}: frame over jute.maxbuffer")));
    }
    buf.clear();
    buf.resize(len as usize, 0);
    stream.read_exact(buf)
}

/// `addauth`: handled on the connection, as ZooKeeper does. Failure answers AUTHFAILED and
/// closes the connection.
/// Ok(false): authentication failed and the writer is closing the connection.
fn auth_packet(
    shared: &Shared,
    conn: ConnId,
    hdr: &RequestHeader,
    body: &[u8],
    auth: &mut Arc<Vec<crate::jute::data::Id>>,
) -> io::Result<bool> {
    let packet = AuthPacket::from_bytes(body).map_err(|e| invalid(format!("bad auth packet: {e}")))?;
    let granted = acl::authenticate(
        &packet.scheme,
        packet.auth.as_deref().unwrap_or(&[]),
        shared.super_digest.as_deref(),
    );
    let err = match granted {
        Ok(ids) => {
            let mut next = (**auth).clone();
            for id in ids {
                if !next.contains(&id) {
                    next.push(id);
                }
            }
            *auth = Arc::new(next);
            0
        }
        Err(e) => {
            log::info!("connection {conn}: authentication failed for scheme {}", packet.scheme);
            e.code()
        }
    };
    let reply = frame_of(&ReplyHeader {
        xid: hdr.xid,
        zxid: 0,
        err,
    });
    shared.send_to(conn, WriterMsg::Frame(reply));
    if err != 0 {
        shared.send_to(conn, WriterMsg::Close);
        return Ok(false);
    }
    Ok(true)
}

fn four_letter(shared: &Shared, word: &str, stream: &mut TcpStream) -> io::Result<()> {
    let allowed = shared.four_letter_whitelist.iter().any(|w| w == "*" || w == word);
    let text = if !allowed {
        format!("{word} is not executed because it is not in the whitelist.\n")
    } else {
        let (tx, rx) = crossbeam_channel::bounded(1);
        shared
            .prep_tx
            .send(PrepInput::FourLetter {
                cmd: word.to_string(),
                reply: tx,
            })
            .map_err(|_| invalid("server stopping".into()))?;
        match rx.recv_timeout(FOUR_LETTER_TIMEOUT) {
            Ok(t) => t,
            Err(RecvTimeoutError::Timeout) => "This ZooKeeper instance is not currently serving requests\n".into(),
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    };
    stream.write_all(text.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Both);
    Ok(())
}

/// Drains the connection's queue; exits on Close, on a write error, or when every sender is gone.
pub fn run_writer(stream: Arc<TcpStream>, rx: Receiver<WriterMsg>) {
    let mut stream: &TcpStream = &stream;
    let mut batch: Vec<u8> = Vec::with_capacity(64 * 1024);
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
            batch.clear();
        }
        if close {
            break;
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}
