//! The two HTTP endpoints for operators: Prometheus metrics (`metricsProvider.httpPort`,
//! `GET /metrics`) and the admin server (`admin.serverPort`, `GET /commands[/<name>]`). Parsing
//! and rendering are pure (`http`, `metrics`, `admin`); this file only moves bytes.
//!
//! Threads: one accept thread per endpoint (`metrics-http`, `admin-http`), and one thread per
//! connection, at most [`CONNS_MAX`] at a time per endpoint. A connection carries one request
//! and is closed after the answer. What it may cost, whatever the client does:
//!
//! - its head must arrive within [`REQUEST_TIMEOUT`] and [`http::HEAD_BYTES_MAX`] bytes (else 408
//!   or 431), and may not announce a body (413); garbage gets a 400;
//! - the answer is written with [`WRITE_TIMEOUT`], then the connection lingers at most
//!   [`LINGER`] (reading and discarding up to [`LINGER_BYTES_MAX`]) so that a client still
//!   sending gets the answer instead of a reset;
//! - a connection beyond [`CONNS_MAX`] gets a 503 and is closed at once.
//!
//! A question for the server's state goes to the commit thread through prep's inbox, as a
//! four-letter word does (`PrepInput::Inspect`), and waits at most [`ANSWER_TIMEOUT`] (then 503).
//! Nothing here can block the commit thread: it answers into a channel with room for the answer.

use super::{spawn, Shared};
use crate::admin::{self, Answer, Question};
use crate::fourlw::{Host, SystemHost};
use crate::http::{self, ParseError, Request, Response};
use crate::metrics::{self, ProcessFigures};
use crate::pipeline::prep::PrepInput;
use crossbeam_channel::bounded;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Connections served at once per endpoint. A scraper or an operator needs one or two; the
/// bound keeps a flood of connections from costing more than a few threads.
pub const CONNS_MAX: usize = 8;
/// How long a client may take to send its request head, from the moment it is accepted.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writing the answer may block on a client that does not read.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the commit thread may take to answer (as a four-letter word waits).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection stays open after its answer, draining what the client still sends.
pub const LINGER: Duration = Duration::from_secs(1);
/// The most bytes drained while lingering.
pub const LINGER_BYTES_MAX: usize = 256 * 1024;

/// The path of the admin commands, ZooKeeper's `admin.commandURL` default.
pub const COMMAND_URL: &str = "/commands";
/// The path of the Prometheus endpoint, as ZooKeeper's provider serves it.
pub const METRICS_URL: &str = "/metrics";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Metrics,
    Admin,
}

/// Where the endpoints listen, for the log and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Addrs {
    pub metrics: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

/// Binds `addr` and starts the endpoint's accept thread; returns the address bound (port 0
/// asks the OS for one).
pub fn start(
    endpoint: Endpoint,
    addr: SocketAddr,
    shared: Arc<Shared>,
    client_port: u16,
) -> io::Result<(SocketAddr, thread::JoinHandle<()>)> {
    let what = match endpoint {
        Endpoint::Metrics => "metricsProvider.httpPort",
        Endpoint::Admin => "admin.serverPort",
    };
    let listener = TcpListener::bind(addr).map_err(|e| io::Error::new(e.kind(), format!("{what} {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let name = match endpoint {
        Endpoint::Metrics => "metrics-http",
        Endpoint::Admin => "admin-http",
    };
    let thread = spawn(name, move || accept_loop(endpoint, listener, shared, client_port))?;
    Ok((bound, thread))
}

fn accept_loop(endpoint: Endpoint, listener: TcpListener, shared: Arc<Shared>, client_port: u16) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, most likely: back off rather than spin.
                log::warn!("{endpoint:?} endpoint: accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if active.load(Ordering::Acquire) >= CONNS_MAX {
            log::warn!("{endpoint:?} endpoint: {CONNS_MAX} connections already open, refusing one");
            refuse(&mut stream);
            continue;
        }
        active.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(active.clone());
        let shared = shared.clone();
        let started = spawn("http-conn", move || {
            let _slot = slot;
            serve(endpoint, stream, &shared, client_port);
        });
        if let Err(e) = started {
            log::warn!("{endpoint:?} endpoint: cannot start a connection thread: {e}");
        }
    }
}

/// Answers 503 without a thread of its own: a short answer fits the socket's buffer, and only
/// what has already arrived is drained (without waiting), so the refusal is seldom lost to a
/// reset.
fn refuse(stream: &mut TcpStream) {
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(&Response::error(503, "too many connections").render(false));
    let _ = stream.shutdown(Shutdown::Write);
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        if !matches!(stream.read(&mut sink), Ok(n) if n > 0) {
            break;
        }
    }
}

/// One of the [`CONNS_MAX`] places, given back when the connection's thread ends (or when it
/// could not start).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no request came.
enum ReadFailure {
    Refused(ParseError),
    TimedOut,
    /// The client went away (or the socket failed): nobody to answer.
    Gone,
}

fn serve(endpoint: Endpoint, mut stream: TcpStream, shared: &Shared, client_port: u16) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let (response, head_only) = match read_request(&mut stream, Instant::now() + REQUEST_TIMEOUT) {
        Ok(req) => {
            log::debug!("{endpoint:?} endpoint: {} {} from {peer}", req.method, req.path);
            (handle(endpoint, &req, shared, client_port), req.method == "HEAD")
        }
        Err(ReadFailure::Refused(e)) => {
            log::info!("{endpoint:?} endpoint: refusing a request from {peer}: {}", e.reason());
            (Response::error(e.status(), e.reason()), false)
        }
        Err(ReadFailure::TimedOut) => {
            log::info!("{endpoint:?} endpoint: no complete request from {peer} within {REQUEST_TIMEOUT:?}");
            (Response::error(408, "no complete request in time"), false)
        }
        Err(ReadFailure::Gone) => return,
    };
    if stream.write_all(&response.render(head_only)).and_then(|()| stream.flush()).is_err() {
        return;
    }
    linger(&mut stream);
}

/// Reads until the request head is complete, refused, or out of time. Keeps at most
/// [`http::HEAD_BYTES_MAX`] bytes.
fn read_request(stream: &mut TcpStream, deadline: Instant) -> Result<Request, ReadFailure> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        match http::parse_head(&buf) {
            Ok(Some(req)) => return Ok(req),
            Ok(None) => {}
            Err(e) => return Err(ReadFailure::Refused(e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadFailure::TimedOut);
        }
        stream.set_read_timeout(Some(left)).map_err(|_| ReadFailure::Gone)?;
        match stream.read(&mut chunk) {
            Ok(0) => return Err(ReadFailure::Gone),
            Ok(n) => {
                let room = http::HEAD_BYTES_MAX - buf.len();
                buf.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Err(ReadFailure::TimedOut)
            }
            Err(_) => return Err(ReadFailure::Gone),
        }
    }
}

/// Half-closes, then drains what the client still sends for a bounded time, so that closing
/// with unread bytes does not reset the connection before the client has read the answer.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut drained = 0;
    let mut sink = [0u8; 4096];
    while drained < LINGER_BYTES_MAX {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// The answer to a request that parsed: the path decides (404), then the method (405).
fn handle(endpoint: Endpoint, req: &Request, shared: &Shared, client_port: u16) -> Response {
    match endpoint {
        Endpoint::Metrics => {
            if req.path != METRICS_URL {
                return Response::error(404, "the metrics are at /metrics");
            }
            if !req.is_read() {
                return Response::method_not_allowed();
            }
            match ask(shared, Question::Figures) {
                Some(Answer::Figures(f)) => {
                    let process = process_figures(f.uptime_ms);
                    Response::ok(http::PROMETHEUS, metrics::render(&f, &process))
                }
                _ => Response::error(503, "the server did not answer in time"),
            }
        }
        Endpoint::Admin => {
            let name = match req.path.strip_prefix(COMMAND_URL) {
                Some("" | "/") => None,
                Some(rest) if rest.starts_with('/') => Some(&rest[1..]),
                _ => return Response::error(404, "the admin commands are under /commands"),
            };
            if !req.is_read() {
                return Response::method_not_allowed();
            }
            let Some(name) = name else { return Response::ok(http::HTML, admin::listing(COMMAND_URL)) };
            let Some(command) = admin::find(name) else {
                return Response::ok(http::JSON, admin::unknown_command(name));
            };
            let question = Question::Command { command, params: req.query.clone(), client_port };
            match ask(shared, question) {
                Some(Answer::Json(json)) => Response::ok(http::JSON, json),
                _ => Response::error(503, "the server did not answer in time"),
            }
        }
    }
}

/// Asks the commit thread, through prep so that the question sees every request before it.
fn ask(shared: &Shared, question: Question) -> Option<Answer> {
    if shared.stopping() {
        return None; // a graceful stop takes no more questions than requests
    }
    let (tx, rx) = bounded(1);
    shared.prep_tx.send_timeout(PrepInput::Inspect { question, reply: tx }, ANSWER_TIMEOUT).ok()?;
    rx.recv_timeout(ANSWER_TIMEOUT).ok()
}

/// This process as the kernel sees it (Linux `/proc`); what cannot be read is left out.
fn process_figures(uptime_ms: u64) -> ProcessFigures {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| n * 1024)
    };
    // Fields 14 and 15 of /proc/self/stat (utime, stime) are in clock ticks, which are 1/100 s
    // on every Linux architecture Rookery builds for (USER_HZ). The command name (field 2) may
    // hold spaces, so count from the last ')'.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let cpu_seconds = match (ticks(11), ticks(12)) {
        (Some(user), Some(system)) => Some((user + system) as f64 / 100.0),
        _ => None,
    };
    let fds = SystemHost.file_descriptors();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ProcessFigures {
        resident_bytes: kib("VmRSS:"),
        virtual_bytes: kib("VmSize:"),
        open_fds: fds.map(|(open, _)| open),
        max_fds: fds.map(|(_, max)| max),
        cpu_seconds,
        start_time_seconds: Some(now.saturating_sub(Duration::from_millis(uptime_ms)).as_secs_f64().floor()),
    }
}
