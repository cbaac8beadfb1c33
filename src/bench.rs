//! `rookery bench`: a load generator on the client protocol, for Rookery and Apache ZooKeeper
//! alike. Each client is its own session on its own thread and keeps up to `outstanding`
//! requests in flight (ZooKeeper answers a session's requests in order, so a FIFO of send times
//! pairs every reply with its request). Requests are encoded straight into one write buffer and
//! sent with one `write` per batch; replies are parsed in place from one read buffer.
//!
//! Closed loop by default (a new request as soon as one is answered); `--rate` offers a fixed
//! load instead, and latency is then measured from each request's scheduled time, so a stalled
//! server is charged for the requests it delayed (no coordinated omission).
//!
//! Output: a readable table, then one `BENCH {json}` line. Latency percentiles are exact (every
//! latency is kept and sorted). The generator's own CPU time is reported so that a reader can see
//! it was not the bottleneck; with the server's `mntr`, also fsyncs and txns per fsync.

use crate::codes::op;
use crate::jute::proto::ReplyHeader;
use crate::jute::{JuteWrite, Reader, Record};
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What each request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Persistent creates under the client's own parent.
    Create,
    /// setData on the shared keys.
    Set,
    /// getData on the shared keys.
    Get,
    /// exists on the shared keys.
    Exists,
    /// getData or setData, `read_pct` percent reads.
    Mixed,
    /// Watch churn: getData with a watch, then setData on the same key, which fires it.
    Watch,
    /// Session churn: connect, create an ephemeral, close the session (one op per cycle).
    Ephemeral,
}

impl Workload {
    fn parse(s: &str) -> Option<Workload> {
        Some(match s {
            "create" => Workload::Create,
            "set" => Workload::Set,
            "get" => Workload::Get,
            "exists" => Workload::Exists,
            "mixed" => Workload::Mixed,
            "watch" => Workload::Watch,
            "ephemeral" => Workload::Ephemeral,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Create => "create",
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Exists => "exists",
            Workload::Mixed => "mixed",
            Workload::Watch => "watch",
            Workload::Ephemeral => "ephemeral",
        }
    }

    fn uses_keys(self) -> bool {
        matches!(self, Workload::Set | Workload::Get | Workload::Exists | Workload::Mixed | Workload::Watch)
    }
}

pub const USAGE: &str = "rookery bench [--hosts H:P[,H:P...]] [--op OP] [--clients N] [--outstanding K]
              [--duration S] [--total N] [--rate OPS] [--value-bytes B] [--keys K]
              [--read-pct P] [--root PATH] [--quiet]
  OP: create, set, get, exists, mixed (--read-pct reads, the rest sets), watch (getData with a
      watch, then setData firing it), ephemeral (connect, create an ephemeral, close: one op)
  --rate: offered ops/s over all clients (default 0: closed loop); --total: stop after N ops";

#[derive(Debug, Clone)]
pub struct Options {
    pub hosts: Vec<SocketAddr>,
    pub workload: Workload,
    pub clients: usize,
    pub outstanding: usize,
    pub duration: Duration,
    pub total: Option<u64>,
    pub rate: f64,
    pub value_bytes: usize,
    pub keys: usize,
    pub read_pct: u32,
    pub root: String,
    pub quiet: bool,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        hosts: vec!["127.0.0.1:2181".parse().expect("valid literal")],
        workload: Workload::Create,
        clients: 4,
        outstanding: 32,
        duration: Duration::from_secs(10),
        total: None,
        rate: 0.0,
        value_bytes: 100,
        keys: 1000,
        read_pct: 90,
        root: format!("/rookery-bench-{}", std::process::id()),
        quiet: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--quiet" {
            o.quiet = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{a} {v}: {e}");
        match a.as_str() {
            "--hosts" | "--host" => o.hosts = parse_hosts(v).map_err(|e| bad(&e))?,
            "--op" => o.workload = Workload::parse(v).ok_or_else(|| bad(&"unknown operation"))?,
            "--clients" => o.clients = v.parse().map_err(|e| bad(&e))?,
            "--outstanding" => o.outstanding = v.parse().map_err(|e| bad(&e))?,
            "--duration" => {
                let s: f64 = v.parse().map_err(|e| bad(&e))?;
                o.duration = Duration::try_from_secs_f64(s).map_err(|e| bad(&e))?;
            }
            "--total" => o.total = Some(v.parse().map_err(|e| bad(&e))?),
            "--rate" => o.rate = v.parse().map_err(|e| bad(&e))?,
            "--value-bytes" => o.value_bytes = v.parse().map_err(|e| bad(&e))?,
            "--keys" => o.keys = v.parse().map_err(|e| bad(&e))?,
            "--read-pct" => o.read_pct = v.parse().map_err(|e| bad(&e))?,
            "--root" => o.root = v.trim_end_matches('/').to_string(),
            _ => return Err(format!("unknown option {a}\nusage: {USAGE}")),
        }
    }
    if o.clients == 0 || o.outstanding == 0 || o.keys == 0 {
        return Err("--clients, --outstanding and --keys must be at least 1".into());
    }
    if o.read_pct > 100 || !o.rate.is_finite() || o.rate < 0.0 {
        return Err("--read-pct is 0..100 and --rate a non-negative number".into());
    }
    if !o.root.starts_with('/') || o.root.len() < 2 {
        return Err(format!("--root {}: an absolute path below /", o.root));
    }
    Ok(o)
}

fn parse_hosts(s: &str) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for h in s.split(',').filter(|h| !h.is_empty()) {
        let addr = h.to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
        out.push(addr);
    }
    if out.is_empty() {
        return Err("no hosts".into());
    }
    Ok(out)
}

/// The whole run's results.
#[derive(Debug, Default)]
pub struct Report {
    pub ops: u64,
    pub errors: u64,
    pub events: u64,
    pub elapsed: f64,
    /// Latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub client_cpu_s: f64,
    pub fsyncs: f64,
    pub txns: f64,
    pub first_error: Option<String>,
}

impl Report {
    /// The exact p-quantile (nearest rank) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let rank = ((n as f64 * p).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1] as f64 / 1000.0
    }

    pub fn ops_per_s(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.ops as f64 / self.elapsed
        } else {
            0.0
        }
    }

    /// The readable table and the `BENCH {json}` line.
    pub fn render(&self, o: &Options) -> String {
        let p = |q| self.percentile_ms(q);
        let per_op_us = if self.ops > 0 { self.client_cpu_s * 1e6 / self.ops as f64 } else { 0.0 };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "op {} | {} clients x {} outstanding | {} B values | {} | {:.1} s",
            o.workload.name(),
            o.clients,
            o.outstanding,
            o.value_bytes,
            if o.rate > 0.0 { format!("offered {:.0} ops/s", o.rate) } else { "closed loop".into() },
            self.elapsed
        );
        let _ = writeln!(s, "  ops        {:>12}   errors {}", self.ops, self.errors);
        let _ = writeln!(s, "  ops/s      {:>12.0}", self.ops_per_s());
        let _ = writeln!(
            s,
            "  latency ms   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            p(0.5),
            p(0.9),
            p(0.99),
            p(0.999),
            p(1.0)
        );
        let _ = writeln!(s, "  bench CPU  {:>9.2} s   ({per_op_us:.1} us per op)", self.client_cpu_s);
        if o.workload == Workload::Watch {
            let _ = writeln!(s, "  watch events {}", self.events);
        }
        if self.fsyncs > 0.0 {
            let _ = writeln!(
                s,
                "  fsyncs     {:>12.0}   ({:.0}/s, {:.1} txns per fsync)",
                self.fsyncs,
                self.fsyncs / self.elapsed,
                self.txns / self.fsyncs
            );
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(s, "  first error: {e}");
        }
        let txns_per_fsync = if self.fsyncs > 0.0 { self.txns / self.fsyncs } else { 0.0 };
        let _ = writeln!(
            s,
            "BENCH {{\"op\":\"{}\",\"clients\":{},\"outstanding\":{},\"value_bytes\":{},\"rate\":{},\
             \"duration_s\":{:.3},\"ops\":{},\"ops_per_s\":{:.1},\"errors\":{},\"p50_ms\":{:.3},\
             \"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\"client_cpu_s\":{:.3},\
             \"events\":{},\"fsyncs\":{:.0},\"txns_per_fsync\":{:.2}}}",
            o.workload.name(),
            o.clients,
            o.outstanding,
            o.value_bytes,
            o.rate,
            self.elapsed,
            self.ops,
            self.ops_per_s(),
            self.errors,
            p(0.5),
            p(0.9),
            p(0.99),
            p(0.999),
            p(1.0),
            self.client_cpu_s,
            self.events,
            self.fsyncs,
            txns_per_fsync
        );
        s
    }
}

/// What the client threads share.
struct Shared {
    stop: AtomicBool,
    /// Ops still allowed under `--total` (unbounded: i64::MAX).
    budget: AtomicI64,
    done: AtomicU64,
    errors: AtomicU64,
    keys: Vec<String>,
    value: Vec<u8>,
}

impl Shared {
    /// Claims one op of the budget.
    fn claim(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && self.budget.fetch_sub(1, Ordering::Relaxed) > 0
    }
}

/// One thread's results.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    events: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, shared: &Shared, what: String) {
        self.errors += 1;
        shared.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.get_or_insert(what);
    }
}

pub fn run(o: &Options) -> Result<Report, String> {
    let keys: Vec<String> = (0..o.keys).map(|k| format!("{}/k{k}", o.root)).collect();
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        budget: AtomicI64::new(o.total.map_or(i64::MAX, |t| t.min(i64::MAX as u64) as i64)),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        keys,
        value: vec![b'v'; o.value_bytes],
    });
    setup(o, &shared)?;
    let before = mntr(o.hosts[0]);
    let cpu_before = own_cpu_seconds();
    let started = Instant::now();
    let mut threads = Vec::new();
    for c in 0..o.clients {
        let (o, shared) = (o.clone(), shared.clone());
        let spawned = thread::Builder::new().name(format!("bench-{c}")).spawn(move || {
            let addr = o.hosts[c % o.hosts.len()];
            let mut tally = Tally::default();
            let r = if o.workload == Workload::Ephemeral {
                ephemeral_churn(&o, c, addr, &shared, &mut tally)
            } else {
                pipelined(&o, c, addr, started, &shared, &mut tally)
            };
            if let Err(e) = r {
                tally.error(&shared, format!("client {c} on {addr}: {e}"));
            }
            tally
        });
        threads.push(spawned.map_err(|e| format!("spawn a client thread: {e}"))?);
    }
    progress(o, &shared, started);
    shared.stop.store(true, Ordering::Relaxed);
    let mut report = Report::default();
    for t in threads {
        let tally = t.join().map_err(|_| "a client thread panicked".to_string())?;
        report.latencies_us.extend(tally.latencies_us);
        report.errors += tally.errors;
        report.events += tally.events;
        if report.first_error.is_none() {
            report.first_error = tally.first_error;
        }
    }
    report.elapsed = started.elapsed().as_secs_f64();
    report.client_cpu_s = own_cpu_seconds() - cpu_before;
    report.ops = report.latencies_us.len() as u64;
    report.latencies_us.sort_unstable();
    let after = mntr(o.hosts[0]);
    report.fsyncs = counter(&after, "cnt_fsynctime") - counter(&before, "cnt_fsynctime");
    report.txns = counter(&after, "sum_sync_processor_batch_size") - counter(&before, "sum_sync_processor_batch_size");
    Ok(report)
}

/// Waits out the run, printing a progress line every second unless `--quiet`.
fn progress(o: &Options, shared: &Shared, started: Instant) {
    let deadline = started + o.duration;
    let mut last = (started, 0u64);
    let mut next = started + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        let done = shared.done.load(Ordering::Relaxed);
        let exhausted = o.total.is_some_and(|t| done + shared.errors.load(Ordering::Relaxed) >= t);
        if now >= deadline || exhausted {
            return;
        }
        if now >= next {
            if !o.quiet {
                let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                eprintln!(
                    "  {:>5.1} s  {done:>10} ops  {rate:>9.0} ops/s  errors {}",
                    now.duration_since(started).as_secs_f64(),
                    shared.errors.load(Ordering::Relaxed)
                );
            }
            last = (now, done);
            next += Duration::from_secs(1);
        }
        thread::sleep(Duration::from_millis(20).min(deadline.saturating_duration_since(now)));
    }
}

/// Creates the root, the per-client parents and the shared keys (those that exist are kept).
fn setup(o: &Options, shared: &Shared) -> Result<(), String> {
    let addr = o.hosts[0];
    let mut c = Conn::open(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    let mut paths = vec![o.root.clone()];
    if o.workload == Workload::Create {
        paths.extend((0..o.clients).map(|i| format!("{}/c{i}", o.root)));
    }
    if o.workload.uses_keys() || o.workload == Workload::Ephemeral {
        paths.extend(shared.keys.iter().cloned());
    }
    // Pipelined in windows of 256, so that setting up 100,000 keys takes a moment, not minutes.
    for chunk in paths.chunks(256) {
        for p in chunk {
            c.encode(op::CREATE, |b| put_create(b, p, &shared.value, 0));
        }
        c.flush().map_err(|e| format!("setup on {addr}: {e}"))?;
        for p in chunk {
            let (_, err) = c.reply().map_err(|e| format!("setup on {addr}: {e}"))?;
            // NODEEXISTS (-110) is fine: a previous run made it.
            if err != 0 && err != -110 {
                return Err(format!("create {p}: error {err}"));
            }
        }
    }
    c.close();
    Ok(())
}

/// One client of a request/reply workload: keeps `outstanding` requests in flight.
fn pipelined(
    o: &Options,
    c: usize,
    addr: SocketAddr,
    started: Instant,
    shared: &Shared,
    tally: &mut Tally,
) -> io::Result<()> {
    let mut conn = Conn::open(addr)?;
    tally.latencies_us.reserve(1 << 16);
    // (op code, when it was due) of every request in flight, oldest first.
    let mut in_flight: VecDeque<(i32, Instant)> = VecDeque::with_capacity(o.outstanding);
    let per_client_rate = o.rate / o.clients as f64;
    let mut seq: u64 = 0;
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1);
    let parent = format!("{}/c{c}", o.root);
    let mut path = String::with_capacity(parent.len() + 24);
    let mut draining = false;
    loop {
        // Send what the window (and the schedule) allows, in one write.
        let now = Instant::now();
        while !draining && in_flight.len() < o.outstanding {
            let due = if per_client_rate > 0.0 {
                let due = started + Duration::from_secs_f64(seq as f64 / per_client_rate);
                if due > now {
                    break;
                }
                due
            } else {
                now
            };
            if !shared.claim() {
                draining = true;
                break;
            }
            // Watch churn sets the key it just watched; the others walk the keys.
            let step = if o.workload == Workload::Watch { seq / 2 } else { seq };
            let key = &shared.keys[(c * 7919 + step as usize) % shared.keys.len()];
            let code = match o.workload {
                Workload::Create => {
                    path.clear();
                    let _ = write!(path, "{parent}/n{seq}");
                    conn.encode(op::CREATE, |b| put_create(b, &path, &shared.value, 0))
                }
                Workload::Set => conn.encode(op::SET_DATA, |b| put_set(b, key, &shared.value)),
                Workload::Get => conn.encode(op::GET_DATA, |b| put_path_watch(b, key, false)),
                Workload::Exists => conn.encode(op::EXISTS, |b| put_path_watch(b, key, false)),
                Workload::Mixed => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    if rng % 100 < o.read_pct as u64 {
                        conn.encode(op::GET_DATA, |b| put_path_watch(b, key, false))
                    } else {
                        conn.encode(op::SET_DATA, |b| put_set(b, key, &shared.value))
                    }
                }
                Workload::Watch if seq.is_multiple_of(2) => conn.encode(op::GET_DATA, |b| put_path_watch(b, key, true)),
                Workload::Watch => conn.encode(op::SET_DATA, |b| put_set(b, key, &shared.value)),
                Workload::Ephemeral => unreachable!("ephemeral churn is not pipelined"),
            };
            in_flight.push_back((code, due));
            seq += 1;
        }
        conn.flush()?;
        if shared.stop.load(Ordering::Relaxed) {
            draining = true;
        }
        if in_flight.is_empty() {
            if draining {
                break;
            }
            // Paced and ahead of schedule: wait for the next due time.
            let due = started + Duration::from_secs_f64(seq as f64 / per_client_rate.max(1e-9));
            thread::sleep(due.saturating_duration_since(Instant::now()).min(Duration::from_millis(50)));
            continue;
        }
        // Paced: wake up for the next send even if no reply comes.
        let wait = if per_client_rate > 0.0 && !draining {
            let due = started + Duration::from_secs_f64(seq as f64 / per_client_rate);
            Some(due.saturating_duration_since(Instant::now()).max(Duration::from_micros(200)))
        } else {
            Some(Duration::from_secs(30))
        };
        let mut answered = 0;
        for (xid, err) in conn.replies(wait)? {
            if xid == -1 {
                tally.events += 1;
                continue;
            }
            if xid == -2 {
                continue;
            }
            let Some((code, due)) = in_flight.pop_front() else {
                return Err(io::Error::other(format!("reply xid {xid} with nothing in flight")));
            };
            let us = due.elapsed().as_micros().min(u32::MAX as u128) as u32;
            tally.latencies_us.push(us);
            answered += 1;
            if err != 0 {
                tally.error(shared, format!("op {code}: error {err}"));
            }
        }
        shared.done.fetch_add(answered, Ordering::Relaxed);
    }
    conn.close();
    Ok(())
}

/// One client of session churn: each op is connect, create an ephemeral, close the session.
fn ephemeral_churn(o: &Options, c: usize, addr: SocketAddr, shared: &Shared, tally: &mut Tally) -> io::Result<()> {
    let mut seq = 0u64;
    while shared.claim() {
        let t = Instant::now();
        let mut conn = Conn::open(addr)?;
        let path = format!("{}/k{}/e{c}-{seq}", o.root, seq as usize % shared.keys.len());
        conn.encode(op::CREATE, |b| put_create(b, &path, &shared.value, 1));
        conn.flush()?;
        let (_, err) = conn.reply()?;
        conn.close();
        tally.latencies_us.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if err != 0 {
            tally.error(shared, format!("create ephemeral {path}: error {err}"));
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
        seq += 1;
    }
    Ok(())
}

fn put_create(b: &mut Vec<u8>, path: &str, data: &[u8], flags: i32) {
    b.put_ustring(Some(path));
    b.put_buffer(Some(data));
    // OPEN_ACL_UNSAFE: one ACL, perms ALL, world:anyone.
    b.put_i32(1);
    b.put_i32(31);
    b.put_ustring(Some("world"));
    b.put_ustring(Some("anyone"));
    b.put_i32(flags);
}

fn put_set(b: &mut Vec<u8>, path: &str, data: &[u8]) {
    b.put_ustring(Some(path));
    b.put_buffer(Some(data));
    b.put_i32(-1);
}

fn put_path_watch(b: &mut Vec<u8>, path: &str, watch: bool) {
    b.put_ustring(Some(path));
    b.put_bool(watch);
}

/// A raw session: frames encoded into one buffer, replies parsed from one buffer.
struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    /// The unparsed bytes are `inbuf[pos..end]`.
    pos: usize,
    end: usize,
    next_xid: i32,
}

const MAX_FRAME: usize = 16 << 20;
const READ_CHUNK: usize = 64 << 10;

impl Conn {
    fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        let mut c = Conn {
            stream,
            out: Vec::with_capacity(64 << 10),
            inbuf: vec![0; 4 * READ_CHUNK],
            pos: 0,
            end: 0,
            next_xid: 1,
        };
        // ConnectRequest: protocol 0, lastZxidSeen 0, timeout 30 s, session 0, 16-byte password.
        let start = c.begin_frame();
        c.out.put_i32(0);
        c.out.put_i64(0);
        c.out.put_i32(30_000);
        c.out.put_i64(0);
        c.out.put_buffer(Some(&[0; 16]));
        c.out.put_bool(false);
        c.end_frame(start);
        c.flush()?;
        c.stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let frame = c.next_frame()?;
        let mut r = Reader::new(&frame);
        let (_proto, timeout) = (r.read_i32(), r.read_i32());
        if !matches!(timeout, Ok(t) if t > 0) {
            return Err(io::Error::other("the server refused the session"));
        }
        Ok(c)
    }

    fn begin_frame(&mut self) -> usize {
        let start = self.out.len();
        self.out.put_i32(0);
        start
    }

    fn end_frame(&mut self, start: usize) {
        let len = (self.out.len() - start - 4) as i32;
        self.out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Appends one request (header and body) to the write buffer; returns its op code.
    fn encode(&mut self, code: i32, body: impl FnOnce(&mut Vec<u8>)) -> i32 {
        let start = self.begin_frame();
        self.out.put_i32(self.next_xid);
        self.out.put_i32(code);
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        body(&mut self.out);
        self.end_frame(start);
        code
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// The next whole frame, reading as needed.
    fn next_frame(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some((start, end)) = self.whole_frame()? {
                self.pos = end;
                return Ok(self.inbuf[start..end].to_vec());
            }
            self.fill()?;
        }
    }

    /// (start, end) of the body of the next complete frame in the buffer.
    fn whole_frame(&self) -> io::Result<Option<(usize, usize)>> {
        let avail = &self.inbuf[self.pos..self.end];
        if avail.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes([avail[0], avail[1], avail[2], avail[3]]);
        if len < 0 || len as usize > MAX_FRAME {
            return Err(io::Error::other(format!("frame length {len}")));
        }
        let end = self.pos + 4 + len as usize;
        Ok((end <= self.end).then_some((self.pos + 4, end)))
    }

    /// Reads what the socket has (at least one byte) after the unparsed bytes, moving them to
    /// the front first when the free tail is short (and growing the buffer for a huge frame).
    fn fill(&mut self) -> io::Result<()> {
        if self.inbuf.len() - self.end < READ_CHUNK {
            self.inbuf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.inbuf.len() - self.end < READ_CHUNK {
                self.inbuf.resize(self.end + READ_CHUNK, 0);
            }
        }
        let n = self.stream.read(&mut self.inbuf[self.end..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.end += n;
        Ok(())
    }

    /// Every reply available after one read (waiting at most `wait`): (xid, err) of each.
    fn replies(&mut self, wait: Option<Duration>) -> io::Result<Vec<(i32, i32)>> {
        self.stream.set_read_timeout(wait)?;
        match self.fill() {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
            Err(e) => return Err(e),
        }
        let mut out = Vec::new();
        while let Some((start, end)) = self.whole_frame()? {
            let hdr = ReplyHeader::read(&mut Reader::new(&self.inbuf[start..end])).map_err(io::Error::other)?;
            out.push((hdr.xid, hdr.err));
            self.pos = end;
        }
        Ok(out)
    }

    /// The next reply that is not a watch event: (xid, err).
    fn reply(&mut self) -> io::Result<(i32, i32)> {
        loop {
            let frame = self.next_frame()?;
            let hdr = ReplyHeader::read(&mut Reader::new(&frame)).map_err(io::Error::other)?;
            if hdr.xid != -1 {
                return Ok((hdr.xid, hdr.err));
            }
        }
    }

    /// closeSession, waiting (briefly) for its answer so that the session is really gone.
    fn close(mut self) {
        self.encode(op::CLOSE_SESSION, |_| {});
        if self.flush().is_ok() {
            let _ = self.stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = self.reply();
        }
    }
}

/// This process's CPU time (user + system), from `/proc/self/stat` (clock ticks of 1/100 s).
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, r)| r).split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// `mntr` as key → value (empty if the server does not answer it).
fn mntr(addr: SocketAddr) -> HashMap<String, String> {
    let mut text = String::new();
    if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"mntr");
        let _ = s.read_to_string(&mut text);
    }
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.trim_start_matches("zk_").to_string(), v.to_string()))
        .collect()
}

fn counter(m: &HashMap<String, String>, key: &str) -> f64 {
    m.get(key).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn options_parse_and_refuse_nonsense() {
        let o = parse(&args("--hosts 127.0.0.1:1,127.0.0.1:2 --op mixed --read-pct 70 --outstanding 8")).unwrap();
        assert_eq!(o.hosts.len(), 2);
        assert_eq!((o.workload, o.read_pct, o.outstanding, o.clients), (Workload::Mixed, 70, 8, 4));
        for bad in ["--op nope", "--clients 0", "--read-pct 101", "--rate -1", "--root x", "--duration", "--bogus 1"] {
            assert!(parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let r = Report { latencies_us: (1..=1000).collect(), ..Report::default() };
        assert_eq!(r.percentile_ms(0.5), 0.5);
        assert_eq!(r.percentile_ms(0.99), 0.99);
        assert_eq!(r.percentile_ms(0.999), 0.999);
        assert_eq!(r.percentile_ms(1.0), 1.0);
        assert_eq!(Report::default().percentile_ms(0.5), 0.0);
    }
}
