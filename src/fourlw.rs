//! Four-letter words: ZooKeeper's plain-text admin commands on the client port (`ruok`, `srvr`,
//! `stat`, `conf`, `cons`, `envi`, `mntr`, `wchs`, `wchc`, `wchp`, `dump`, `dirs`, `isro`, `crst`,
//! `srst`, `gtmk`, `stmk`, `hash`), as formatting over a snapshot of the server.
//!
//! Every layout is ZooKeeper 3.8's, byte for byte: the outputs of Debian's ZooKeeper 3.8.0, with
//! host-specific values turned into placeholders, are in `tests/testdata/fourlw/`, and
//! `tests/fourlw.rs` holds Rookery to them. Where ZooKeeper's behaviour is surprising, it is kept:
//!
//! - The connection that asks is a client connection like any other: `stat`, `cons` and `dump`
//!   list it (`[0](queued=0,recved=1,sent=0)`, interest ops 0), `Connections:` counts it, and the
//!   word counts as a packet received and its answer as one sent.
//! - `wchs`, `wchc` and `wchp` show data watches only (exists, getData, persistent); child
//!   watches appear only in `mntr`'s `zk_watch_count`.
//! - `Node count` and `zk_znode_count` are one more than the znodes: ZooKeeper's node map holds
//!   the root twice, under "" and "/".
//! - `dirs` (`datadir_size`) and `conf` (`dataDirSize`) report the size of the *transaction log*
//!   directory, and `logdir_size`/`dataLogSize` that of the *snapshot* directory:
//!   `ZooKeeperServer.getDataDirSize` reads `FileTxnSnapLog.getDataDir()`, which is the log dir.
//! - The server's average latency is a Java double rounded half-up to 4 places (`0.0`, `3.5385`,
//!   `1.0E-4`); a connection's `avglat` is an integer division.
//! - `isro` answers without a newline (`rw`), as do `ruok` (`imok`), `gtmk` and `stmk`.
//! - Without `4lw.commands.whitelist`, ZooKeeper 3.8 enables `srvr` alone (`isro` too in
//!   read-only mode); Rookery's default is the read-only set in `config.rs`. Refusals are answered
//!   by the reader and, unlike ZooKeeper's, not counted as packets.
//!
//! [`answer`] is a pure function of its inputs; what it needs from the machine (directory sizes,
//! file descriptors, `envi`) comes through the [`Host`] the shell puts in the [`View`].
//!
//! Where ZooKeeper prints in hash-map order (connections, watches, ephemerals, sessions sharing an
//! expiry), Rookery sorts, by connection id, path or session id. Dates in `dump` are in UTC.

use crate::codes::{op, watcher_type};
use crate::config::Config;
use crate::ids::{SessionId, Zxid};
use crate::metrics::{quota_gauge_sets, QuorumFigures, Refusals};
use crate::pipeline::commit::ConnInfo;
use crate::pipeline::ConnId;
use crate::tree::DataTree;
use crate::watches::{WatcherId, Watches};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};

/// Every command ZooKeeper 3.8 knows (`FourLetterCommands.cmd2String`), besides `telnet close`.
/// A known command that is not whitelisted gets [`refusal`]; any other first four bytes are read
/// as a frame length.
pub const COMMANDS: &[&str] = &[
    "ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dump", "dirs", "isro", "crst",
    "srst", "gtmk", "stmk", "hash",
];

/// The name ZooKeeper gives telnet's interrupt sequence (IAC IP IAC DO, `0xfff4fffd`). When
/// whitelisted (only `*` does) the connection is closed without an answer; otherwise it gets the
/// refusal like any other command.
pub const TELNET_CLOSE: &str = "telnet close";

/// The four-letter word that `first`, the first four bytes of a connection, spell, if any.
pub fn command_of(first: [u8; 4]) -> Option<&'static str> {
    if first == [0xff, 0xf4, 0xff, 0xfd] {
        return Some(TELNET_CLOSE);
    }
    COMMANDS.iter().copied().find(|c| c.as_bytes() == first)
}

/// The answer to a known command that is not in `4lw.commands.whitelist` (ZooKeeper's NopCommand).
pub fn refusal(cmd: &str) -> String {
    format!("{cmd} is not executed because it is not in the whitelist.\n")
}

/// ZooKeeper's `ZK_NOT_SERVING`, for when the server cannot answer.
pub const NOT_SERVING: &str = "This ZooKeeper instance is not currently serving requests\n";

/// The version string clients see; kazoo parses the leading `3.9.x` to pick features.
pub const VERSION: &str = concat!("3.9.2-rookery-", env!("CARGO_PKG_VERSION"));

/// `Version.getFullVersion()`: the version and the build date, `yyyy-MM-dd HH:mm UTC` (the
/// compile-time `SOURCE_DATE_EPOCH` of a reproducible build, else the Unix epoch).
pub fn full_version() -> String {
    let secs = option_env!("SOURCE_DATE_EPOCH").and_then(|s| s.trim().parse::<i64>().ok()).unwrap_or(0);
    let c = Civil::of(secs);
    format!("{VERSION}, built on {:04}-{:02}-{:02} {:02}:{:02} UTC", c.year, c.month, c.day, c.hour, c.minute)
}

/// ZooTrace's default text trace mask: client requests, server packets, sessions, warnings.
pub const TRACE_MASK_DEFAULT: i64 = 306;

/// The trace mask `gtmk` reports and `stmk` sets. Process-wide, as ZooKeeper's static is; Rookery
/// only reports it back.
static TRACE_MASK: AtomicI64 = AtomicI64::new(TRACE_MASK_DEFAULT);

pub fn trace_mask() -> i64 {
    TRACE_MASK.load(Ordering::Relaxed)
}

pub fn set_trace_mask(mask: i64) {
    TRACE_MASK.store(mask, Ordering::Relaxed);
}

/// A whitelisted four-letter word, as a connection's reader hands it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// One of [`COMMANDS`].
    pub cmd: &'static str,
    /// The asking connection, which the answers list like any other.
    pub conn: ConnId,
    /// The port the asker reached: `conf`'s `clientPort` is the port actually listened on.
    pub client_port: u16,
}

/// Static facts about this server.
pub struct View<'a> {
    pub mode: &'a str,
    /// False while an ensemble member elects or synchronises: most words then answer
    /// [`NOT_SERVING`], as ZooKeeper's do without a running ZooKeeperServer.
    pub serving: bool,
    pub config: &'a Config,
    pub started_wall_ms: i64,
    /// Facts about the machine (`envi`, `conf`, `dirs`, `mntr`); [`SystemHost`] in the server.
    pub host: &'a dyn Host,
    /// An ensemble member's quorum figures (`mntr`'s `peer_state`, `quorum_size`, the leader's
    /// `learners`, `synced_followers`, ...); None on a standalone server.
    pub quorum: Option<&'a QuorumFigures>,
    /// The port the `secureClientPort` listener is bound to, if there is one.
    pub secure_client_port: Option<u16>,
}

/// The server's state at the moment of the question.
pub struct Facts<'a> {
    pub ask: &'a Ask,
    pub tree: &'a DataTree,
    pub watches: &'a Watches,
    pub stats: &'a ServerStats,
    /// Every open connection, the asker's included, sorted by id.
    pub conns: &'a [(ConnId, &'a ConnInfo)],
    pub outstanding: usize,
    /// Sessions by expiry deadline (ms on the monotonic clock of `now_ms`), earliest first;
    /// filled for `dump` only.
    pub session_expiry: &'a [(u64, Vec<SessionId>)],
    /// Writes refused with QUOTAEXCEEDED, by namespace (counted by prep).
    pub quota_exceeded: &'a BTreeMap<String, Refusals>,
    /// Milliseconds on the server's monotonic clock (`lresp`, expiry deadlines).
    pub now_ms: u64,
    pub wall_ms: i64,
}

/// Where facts about the machine come from, so that [`answer`] stays a pure function.
pub trait Host {
    /// Bytes in the files under `dir`, recursively; 0 when it is missing (`getDirSize`).
    fn dir_size(&self, dir: &Path) -> u64;
    /// Open and maximum file descriptors of this process, where the platform tells.
    fn file_descriptors(&self) -> Option<(u64, u64)>;
    fn env(&self) -> Env;
}

/// What `envi` reports. ZooKeeper's `java.*` lines become `rookery.*` lines in the same place, and
/// its JVM heap lines (`os.memory.*`) the resident set size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub host_name: String,
    pub executable: String,
    pub pid: u32,
    /// Java's names: `Linux`, `amd64`, the kernel release.
    pub os_name: String,
    pub os_arch: String,
    pub os_version: String,
    pub user_name: String,
    pub user_home: String,
    pub user_dir: String,
    pub rss_mb: Option<u64>,
}

/// ZooKeeper's `AvgMinMaxCounter` (server latency) and `ServerCnxn`'s latency fields (`cons`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    count: u64,
    total: u64,
    min: u64,
    max: u64,
}

impl Latency {
    pub fn add(&mut self, ms: u64) {
        if self.count == 0 || ms < self.min {
            self.min = ms;
        }
        self.max = self.max.max(ms);
        self.total += ms;
        self.count += 1;
    }

    /// 0 until the first sample, as ZooKeeper prints it.
    pub fn min(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// `AvgMinMaxCounter.getAvg`: total / count as a double, rounded half-up to 4 places.
    pub fn avg(&self) -> f64 {
        zk_avg(self.total, self.count)
    }

    /// `ServerCnxn.getAvgLatency`: an integer division.
    pub fn avg_whole(&self) -> u64 {
        self.total.checked_div(self.count).unwrap_or(0)
    }
}

/// Server-wide packet counters and request latency (`ServerStats`); reset by `srst`.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub received: u64,
    pub sent: u64,
    pub latency: Latency,
    /// Milliseconds per txn log fsync (`mntr`'s `fsynctime`).
    pub fsync_ms: Latency,
    /// Txns per group commit (`mntr`'s `sync_processor_batch_size`): sum / count is txns per fsync.
    pub sync_batch: Latency,
    /// Applied txns whose TxnDigest disagreed with the tree (`mntr`'s `digest_mismatches_count`).
    pub digest_mismatches: u64,
}

impl ServerStats {
    /// A request and its reply.
    pub fn record(&mut self, latency_ms: u64) {
        self.received += 1;
        self.sent += 1;
        self.latency.add(latency_ms);
    }

    pub fn reset(&mut self) {
        *self = ServerStats::default();
    }
}

/// Per-connection counters for `cons` (`ServerCnxn`); [`ConnView::reset`] is `crst`.
#[derive(Debug, Clone)]
pub struct ConnView {
    pub recved: u64,
    pub sent: u64,
    pub last_op: Option<i32>,
    /// -1 until a request with a non-negative xid (then `cons` shows `lcxid`).
    pub last_cxid: i64,
    /// -1 until the first reply (`lzxid=0xffffffffffffffff`).
    pub last_zxid: Zxid,
    pub last_resp_ms: u64,
    pub last_latency: u64,
    pub latency: Latency,
    /// The connection asked a four-letter word: its interest ops are 0. Kept by `crst`.
    pub four_letter: bool,
    /// Last request (monotonic ms), for the connection's expiry in `dump`. Kept by `crst`.
    pub last_active_ms: Option<u64>,
}

impl Default for ConnView {
    fn default() -> ConnView {
        ConnView {
            recved: 0,
            sent: 0,
            last_op: None,
            last_cxid: -1,
            last_zxid: -1,
            last_resp_ms: 0,
            last_latency: 0,
            latency: Latency::default(),
            four_letter: false,
            last_active_ms: None,
        }
    }
}

impl ConnView {
    /// A request and its reply (`ServerCnxn.updateStatsForResponse`).
    pub fn record(&mut self, op_code: i32, xid: i32, zxid: Zxid, latency: u64, now_ms: u64) {
        self.recved += 1;
        self.sent += 1;
        self.last_op = Some(op_code);
        // Special xids (pings, notifications) do not overwrite the client's last real one.
        if xid >= 0 {
            self.last_cxid = xid as i64;
        }
        self.last_zxid = zxid;
        self.last_resp_ms = now_ms;
        self.last_latency = latency;
        self.latency.add(latency);
        self.last_active_ms = Some(now_ms);
    }

    /// `crst` (`ServerCnxn.resetStats`): the counters, not what the connection is.
    pub fn reset(&mut self) {
        *self = ConnView { four_letter: self.four_letter, last_active_ms: self.last_active_ms, ..ConnView::default() };
    }
}

/// `FinalRequestProcessor`'s short names for the last op in `cons`.
pub(crate) fn short_op(op_code: i32) -> &'static str {
    match op_code {
        op::PING => "PING",
        op::CREATE_SESSION => "SESS",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::CREATE | op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => "CREA",
        op::DELETE | op::DELETE_CONTAINER => "DELE",
        op::SET_DATA => "SETD",
        op::RECONFIG => "RECO",
        op::SET_ACL => "SETA",
        op::CLOSE_SESSION => "CLOS",
        op::SYNC => "SYNC",
        op::CHECK => "CHEC",
        op::EXISTS => "EXIS",
        op::GET_DATA => "GETD",
        op::SET_WATCHES => "SETW",
        op::SET_WATCHES2 => "STW2",
        op::ADD_WATCH => "ADDW",
        op::GET_ACL => "GETA",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        op::WHO_AM_I => "HOMI",
        op::GET_EPHEMERALS => "GETE",
        _ => "NA",
    }
}

/// NIOServerCnxnFactory's `sessionlessCnxnTimeout`: the expiry interval of connections, and the
/// timeout of a connection without a session.
const CNXN_EXPIRY_INTERVAL_MS: u64 = 10_000;

/// The answer to a whitelisted command (empty for `telnet close`, `hash` and `stmk`, which the
/// reader handles).
pub fn answer(view: &View<'_>, f: &Facts<'_>) -> String {
    let mut s = String::new();
    if !view.serving {
        return match f.ask.cmd {
            "ruok" => "imok".into(),
            "isro" => "null".into(),
            "envi" => {
                envi(&mut s, view.host);
                s
            }
            "gtmk" => trace_mask().to_string(),
            _ => NOT_SERVING.into(),
        };
    }
    match f.ask.cmd {
        "ruok" => s.push_str("imok"),
        "isro" => s.push_str(if view.mode == "read-only" { "ro" } else { "rw" }),
        "gtmk" => s.push_str(&trace_mask().to_string()),
        "srvr" | "stat" => server_stats(&mut s, view, f),
        "cons" => {
            for (_, c) in f.conns {
                conn_line(&mut s, c, false);
                s.push('\n');
            }
            s.push('\n');
        }
        "conf" => conf(&mut s, view, f),
        "envi" => envi(&mut s, view.host),
        "mntr" => mntr(&mut s, view, f),
        "wchs" => {
            let by_path = data_watches(f.watches);
            let watchers: std::collections::BTreeSet<WatcherId> =
                by_path.iter().flat_map(|(_, ws)| ws.iter().copied()).collect();
            let total: usize = by_path.iter().map(|(_, ws)| ws.len()).sum();
            let _ = writeln!(s, "{} connections watching {} paths", watchers.len(), by_path.len());
            let _ = writeln!(s, "Total watches:{total}");
        }
        "wchc" => {
            let mut by_watcher: BTreeMap<WatcherId, Vec<String>> = BTreeMap::new();
            for (p, ws) in data_watches(f.watches) {
                for w in ws {
                    by_watcher.entry(w).or_default().push(p.clone());
                }
            }
            for (w, paths) in by_watcher {
                let _ = writeln!(s, "0x{:x}", session_of(f.conns, w));
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
            s.push('\n');
        }
        "wchp" => {
            for (p, ws) in data_watches(f.watches) {
                let _ = writeln!(s, "{p}");
                for w in ws {
                    let _ = writeln!(s, "\t0x{:x}", session_of(f.conns, w));
                }
            }
            s.push('\n');
        }
        "dump" => dump(&mut s, f),
        "dirs" => {
            let (log_size, snap_size) = dir_sizes(view);
            let _ = writeln!(s, "datadir_size: {log_size}");
            let _ = writeln!(s, "logdir_size: {snap_size}");
        }
        "crst" => s.push_str("Connection stats reset.\n"),
        "srst" => s.push_str("Server stats reset.\n"),
        // hash: ZooKeeper prints its digest log, which is empty unless digests are logged;
        // telnet close and stmk are answered by the reader.
        _ => {}
    }
    s
}

/// `srvr`, and `stat` with its client list.
fn server_stats(s: &mut String, view: &View<'_>, f: &Facts<'_>) {
    let _ = writeln!(s, "Zookeeper version: {}", full_version());
    if f.ask.cmd == "stat" {
        s.push_str("Clients:\n");
        for (_, c) in f.conns {
            conn_line(s, c, true);
            s.push('\n');
        }
        s.push('\n');
    }
    let l = &f.stats.latency;
    let _ = writeln!(s, "Latency min/avg/max: {}/{}/{}", l.min(), java_double(l.avg()), l.max());
    let _ = writeln!(s, "Received: {}", f.stats.received);
    let _ = writeln!(s, "Sent: {}", f.stats.sent);
    let _ = writeln!(s, "Connections: {}", f.conns.len());
    let _ = writeln!(s, "Outstanding: {}", f.outstanding);
    let _ = writeln!(s, "Zxid: 0x{:x}", f.tree.last_processed_zxid);
    let _ = writeln!(s, "Mode: {}", view.mode);
    let _ = writeln!(s, "Node count: {}", zk_node_count(f.tree));
}

/// `ServerCnxn.dumpConnectionInfo`, without the line end.
fn conn_line(s: &mut String, c: &ConnInfo, brief: bool) {
    let v = &c.stats;
    let interest_ops = if v.four_letter { 0 } else { 1 };
    let _ = write!(s, " {}[{interest_ops}](queued=0,recved={},sent={}", c.remote, v.recved, v.sent);
    if !brief && c.session != 0 {
        let lop = v.last_op.map_or("NA", short_op);
        let _ = write!(s, ",sid=0x{:x},lop={lop},est={},to={}", c.session, c.established_wall_ms, c.timeout_ms);
        if v.last_cxid >= 0 {
            let _ = write!(s, ",lcxid=0x{:x}", v.last_cxid);
        }
        let _ = write!(
            s,
            ",lzxid=0x{:x},lresp={},llat={},minlat={},avglat={},maxlat={}",
            v.last_zxid,
            v.last_resp_ms,
            v.last_latency,
            v.latency.min(),
            v.latency.avg_whole(),
            v.latency.max()
        );
    }
    s.push(')');
}

/// `ZooKeeperServer.dumpConf`, and on an ensemble member `QuorumZooKeeperServer.dumpConf`'s
/// lines after it: the member's limits and ports, and the configuration in force as
/// `/zookeeper/config` holds it (`QuorumVerifier.toString`).
fn conf(s: &mut String, view: &View<'_>, f: &Facts<'_>) {
    let c = view.config;
    let (log_size, snap_size) = dir_sizes(view);
    let backlog = c.extra.get("clientPortListenBacklog").and_then(|v| v.trim().parse::<i32>().ok()).unwrap_or(-1);
    let _ = writeln!(s, "clientPort={}", f.ask.client_port);
    let _ = writeln!(s, "secureClientPort={}", view.secure_client_port.map_or(-1, i32::from));
    let _ = writeln!(s, "dataDir={}", version_dir(&c.data_dir).display());
    let _ = writeln!(s, "dataDirSize={log_size}");
    let _ = writeln!(s, "dataLogDir={}", version_dir(&c.data_log_dir).display());
    let _ = writeln!(s, "dataLogSize={snap_size}");
    let _ = writeln!(s, "tickTime={}", c.tick_time_ms);
    let _ = writeln!(s, "maxClientCnxns={}", c.max_client_cnxns);
    let _ = writeln!(s, "minSessionTimeout={}", c.min_session_timeout_ms);
    let _ = writeln!(s, "maxSessionTimeout={}", c.max_session_timeout_ms);
    let _ = writeln!(s, "clientPortListenBacklog={backlog}");
    let Some(my_id) = c.my_id.filter(|_| view.quorum.is_some()) else {
        let _ = writeln!(s, "serverId=0");
        return;
    };
    let _ = writeln!(s, "serverId={my_id}");
    let _ = writeln!(s, "initLimit={}", c.init_limit);
    let _ = writeln!(s, "syncLimit={}", c.sync_limit);
    let _ = writeln!(s, "electionAlg=3");
    let in_force = f
        .tree
        .get(crate::tree::CONFIG)
        .map(|n| String::from_utf8_lossy(n.data.as_deref().unwrap_or_default()).into_owned());
    let verifier = in_force.as_deref().and_then(|t| crate::verifier::QuorumVerifier::parse(t).ok());
    let me = verifier.as_ref().and_then(|v| v.servers.get(&my_id)).or_else(|| c.servers.get(&my_id));
    if let Some(me) = me {
        let _ = writeln!(s, "electionPort={}", me.election_port);
        let _ = writeln!(s, "quorumPort={}", me.quorum_port);
        // LearnerType's ordinal: PARTICIPANT, OBSERVER.
        let _ = writeln!(s, "peerType={}", u8::from(me.role == crate::config::PeerType::Observer));
    }
    let _ = writeln!(s, "membership: ");
    s.push_str(in_force.as_deref().unwrap_or(""));
}

/// `dir/version-2`, absolute as Java's `getAbsolutePath` makes it.
pub(crate) fn version_dir(dir: &Path) -> PathBuf {
    let d = dir.join("version-2");
    std::path::absolute(&d).unwrap_or(d)
}

/// (size of the txn log directory, size of the snapshot directory), the pair ZooKeeper calls
/// (data dir size, log dir size).
pub(crate) fn dir_sizes(view: &View<'_>) -> (u64, u64) {
    let c = view.config;
    (view.host.dir_size(&version_dir(&c.data_log_dir)), view.host.dir_size(&version_dir(&c.data_dir)))
}

/// `envi`.
fn envi(s: &mut String, host: &dyn Host) {
    s.push_str("Environment:\n");
    for (k, v) in environment(host) {
        let _ = writeln!(s, "{k}={v}");
    }
}

/// `Environment.list()`: `envi`'s keys and values, in order (also the admin `environment`).
pub(crate) fn environment(host: &dyn Host) -> Vec<(&'static str, String)> {
    let e = host.env();
    let mut list = vec![
        ("zookeeper.version", full_version()),
        ("host.name", e.host_name),
        ("rookery.version", env!("CARGO_PKG_VERSION").to_string()),
        ("rookery.executable", e.executable),
        ("rookery.pid", e.pid.to_string()),
        ("os.name", e.os_name),
        ("os.arch", e.os_arch),
        ("os.version", e.os_version),
        ("user.name", e.user_name),
        ("user.home", e.user_home),
        ("user.dir", e.user_dir),
    ];
    if let Some(mb) = e.rss_mb {
        list.push(("rookery.memory.rss", format!("{mb}MB")));
    }
    list
}

/// A value in `mntr` and in the admin server's `monitor`: ZooKeeper prints longs as integers,
/// other numbers as Java doubles, and the rest as text.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for MonitorValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitorValue::Int(n) => write!(f, "{n}"),
            MonitorValue::Float(x) => f.write_str(&java_double(*x)),
            MonitorValue::Text(t) => f.write_str(t),
        }
    }
}

/// `mntr`: ZooKeeper's keys in ZooKeeper's order, one `zk_<key>\t<value>` line each.
fn mntr(s: &mut String, view: &View<'_>, f: &Facts<'_>) {
    for (key, value) in monitor_values(view, f) {
        let _ = writeln!(s, "zk_{key}\t{value}");
    }
}

/// QuorumPeer's `getDetailedPeerState` for a member that serves: its state and ZAB phase.
/// (While a member elects or synchronises, `mntr` is not answered.)
pub(crate) fn peer_state(mode: &str) -> &'static str {
    match mode {
        "leader" => "leading - broadcast",
        "follower" => "following - broadcast",
        "observer" => "observing - broadcast",
        _ => "looking",
    }
}

/// `mntr`'s keys and values (without `zk_`), in ZooKeeper's order. Rookery fills the values it
/// tracks; a counter it does not keep reads 0 and a summary 0.0/0, as on a fresh ZooKeeper.
/// The quota figures of each namespace with a quota (`<ns>_quota_{count,bytes}_{limit,usage}_
/// per_namespace`) follow the gauges, and its QUOTAEXCEEDED count (`<ns>_quota_exceeded_error_
/// per_namespace`, once there is one) the counters, as ZooKeeper's gauge and counter sets do;
/// namespaces in name order (ZooKeeper's follow its hash map).
/// Per-namespace summaries (`zk_*_<ns>_{read,write}_per_namespace`) and a leader's per-learner
/// queue summaries (`zk_*_<sid>_learner_handler_qp_*`) are not kept and not printed.
///
/// On an ensemble member, as in ZooKeeper 3.8: `peer_state` follows `server_state` (then an
/// observer's `observer_master_id`), `quorum_size` is among the gauges, and a leader adds
/// `learners`, `synced_followers`, `synced_non_voting_followers`, `synced_observers`,
/// `pending_syncs`, `leader_uptime` and `last_`/`min_`/`max_proposal_size`. A gauge without a
/// value here is left out, as ZooKeeper leaves out a gauge that reads null.
pub fn monitor_values(view: &View<'_>, f: &Facts<'_>) -> Vec<(String, MonitorValue)> {
    use MonitorValue::{Float, Int, Text};
    let stats = f.stats;
    let mut rows: Vec<(String, MonitorValue)> = Vec::with_capacity(512);
    let mut row = |k: &str, v: MonitorValue| rows.push((k.to_string(), v));
    let n = |x: usize| Int(x as i64);
    let u = |x: u64| Int(x as i64);
    row("version", Text(full_version()));
    row("server_state", Text(view.mode.to_string()));
    let quorum = view.quorum;
    if quorum.is_some() {
        row("peer_state", Text(peer_state(view.mode).to_string()));
        if view.mode == "observer" {
            row("observer_master_id", Int(quorum.and_then(|q| q.leader_id).map_or(-1, |id| id as i64)));
        }
    }
    let leader = quorum.and_then(|q| q.leader.as_ref()).filter(|_| view.mode == "leader");
    let fds = view.host.file_descriptors();
    for &key in MNTR_GAUGES_AND_COUNTERS {
        if key == MNTR_FIRST_COUNTER {
            let quotas = f.tree.quota_by_namespace();
            for set in 0..4 {
                for (ns, q) in &quotas {
                    if let (name, _, Some(v)) = quota_gauge_sets(q)[set] {
                        row(&format!("{ns}_{name}"), Int(v));
                    }
                }
            }
        }
        match key {
            "ephemerals_count" => row(key, n(f.tree.ephemerals().values().map(|p| p.len()).sum::<usize>())),
            "num_alive_connections" => row(key, n(f.conns.len())),
            "avg_latency" => row(key, Float(stats.latency.avg())),
            "outstanding_requests" => row(key, n(f.outstanding)),
            "znode_count" => row(key, n(zk_node_count(f.tree))),
            "global_sessions" => row(key, n(f.tree.sessions.len())),
            // Sessions on a connection that no txn made: local (and read-only) sessions.
            "local_sessions" => {
                let local = f.conns.iter().filter(|(_, c)| c.session != 0 && !f.tree.sessions.contains_key(&c.session));
                row(key, n(local.count()))
            }
            // BufferStats reads -1 before the first sample; Rookery does not sample.
            "last_client_response_size" | "min_client_response_size" | "max_client_response_size" => row(key, Int(-1)),
            "packets_sent" => row(key, u(stats.sent)),
            "packets_received" => row(key, u(stats.received)),
            "connection_drop_probability" => row(key, Float(0.0)),
            "watch_count" => row(key, n(f.watches.count())),
            "digest_mismatches_count" => row(key, u(stats.digest_mismatches)),
            "min_latency" => row(key, u(stats.latency.min())),
            "max_latency" => row(key, u(stats.latency.max())),
            // Only on Unix, where ZooKeeper's OSMXBean can tell.
            "max_file_descriptor_count" => {
                if let Some((_, max)) = fds {
                    row(key, u(max))
                }
            }
            "open_file_descriptor_count" => {
                if let Some((open, _)) = fds {
                    row(key, u(open))
                }
            }
            "approximate_data_size" => row(key, u(f.tree.approximate_data_size())),
            "uptime" => row(key, Int((f.wall_ms - view.started_wall_ms).max(0))),
            "quorum_size" => {
                if let Some(q) = quorum {
                    row(key, u(q.quorum_size))
                }
            }
            "looking_count" => row(key, u(quorum.map_or(0, |q| q.looking_count))),
            "proposal_count" => row(key, u(quorum.map_or(0, |q| q.proposal_count))),
            "learners"
            | "synced_followers"
            | "synced_non_voting_followers"
            | "synced_observers"
            | "pending_syncs"
            | "leader_uptime"
            | "last_proposal_size"
            | "min_proposal_size"
            | "max_proposal_size" => {
                let Some(l) = leader else { continue };
                let value = match key {
                    "learners" => u(l.learners),
                    "synced_followers" => u(l.synced_followers),
                    "synced_observers" => u(l.synced_observers),
                    "pending_syncs" => u(l.pending_syncs),
                    "leader_uptime" => u(l.established_ms.map_or(0, |at| f.now_ms.saturating_sub(at))),
                    "last_proposal_size" => Int(l.proposal_size.last),
                    "min_proposal_size" => Int(l.proposal_size.min),
                    "max_proposal_size" => Int(l.proposal_size.max),
                    _ => Int(0), // synced_non_voting_followers: Rookery has no non-voting followers
                };
                row(key, value)
            }
            _ => row(key, Int(0)),
        }
    }
    for (ns, n) in f.quota_exceeded {
        row(&format!("{ns}_quota_exceeded_error_per_namespace"), u(n.since_srst));
    }
    for &(name, percentiles) in MNTR_SUMMARIES {
        let measured = match name {
            "fsynctime" => Some(&stats.fsync_ms),
            "sync_processor_batch_size" => Some(&stats.sync_batch),
            "election_time" => quorum.map(|q| &q.election_time),
            _ => None,
        };
        let m = measured.copied().unwrap_or_default();
        row(&format!("avg_{name}"), Float(m.avg()));
        row(&format!("min_{name}"), u(m.min()));
        row(&format!("max_{name}"), u(m.max()));
        row(&format!("cnt_{name}"), u(m.count()));
        row(&format!("sum_{name}"), u(m.total()));
        if percentiles {
            for p in ["p50", "p95", "p99", "p999"] {
                row(&format!("{p}_{name}"), Int(0));
            }
        }
    }
    rows
}

/// `SessionTracker`, ephemeral nodes and connections, with their expiry buckets.
fn dump(s: &mut String, f: &Facts<'_>) {
    // A deadline on the monotonic clock, as a wall-clock date (`Time.elapsedTimeToDate`).
    let date = |deadline: u64| java_date(f.wall_ms - f.now_ms as i64 + deadline as i64);
    s.push_str("SessionTracker dump:\n");
    let sessions: usize = f.session_expiry.iter().map(|(_, ids)| ids.len()).sum();
    let _ = writeln!(s, "Session Sets ({})/({sessions}):", f.session_expiry.len());
    for (deadline, ids) in f.session_expiry {
        let _ = writeln!(s, "{} expire at {}:", ids.len(), date(*deadline));
        for id in ids {
            let _ = writeln!(s, "\t0x{id:x}");
        }
    }
    s.push_str("ephemeral nodes dump:\n");
    let mut owners: Vec<_> = f.tree.ephemerals().iter().collect();
    owners.sort();
    let _ = writeln!(s, "Sessions with Ephemerals ({}):", owners.len());
    for (id, paths) in owners {
        let _ = writeln!(s, "0x{id:x}:");
        for p in paths {
            let _ = writeln!(s, "\t{p}");
        }
    }
    s.push_str("Connections dump:\n");
    let mut buckets: BTreeMap<u64, Vec<&ConnInfo>> = BTreeMap::new();
    for (_, c) in f.conns {
        let established = (f.now_ms as i64 - (f.wall_ms - c.established_wall_ms)).max(0) as u64;
        let last = c.stats.last_active_ms.unwrap_or(established);
        let timeout = if c.session != 0 { c.timeout_ms as u64 } else { CNXN_EXPIRY_INTERVAL_MS };
        let deadline = ((last + timeout) / CNXN_EXPIRY_INTERVAL_MS + 1) * CNXN_EXPIRY_INTERVAL_MS;
        buckets.entry(deadline).or_default().push(c);
    }
    let _ = writeln!(s, "Connections Sets ({})/({}):", buckets.len(), f.conns.len());
    for (deadline, conns) in buckets {
        let _ = writeln!(s, "{} expire at {}:", conns.len(), date(deadline));
        for c in conns {
            let _ = writeln!(s, "\tip: {} sessionId: 0x{:x}", c.remote, c.session);
        }
    }
}

/// Data watches by path, each path's watchers sorted: what ZooKeeper's `dataWatches` holds.
pub(crate) fn data_watches(w: &Watches) -> Vec<(String, Vec<WatcherId>)> {
    w.by_path()
        .into_iter()
        .filter_map(|(p, ws)| {
            let ws: Vec<WatcherId> = ws.into_iter().filter(|&x| w.contains(&p, watcher_type::DATA, x)).collect();
            (!ws.is_empty()).then_some((p, ws))
        })
        .collect()
}

/// The session a watcher (connection id) belongs to; watches are listed by session.
pub(crate) fn session_of(conns: &[(ConnId, &ConnInfo)], conn: ConnId) -> SessionId {
    conns.iter().find(|(id, _)| *id == conn).map_or(0, |(_, c)| c.session)
}

/// ZooKeeper's `DataTree.getNodeCount`: its node map holds the root under "" and "/".
pub(crate) fn zk_node_count(tree: &DataTree) -> usize {
    tree.node_count() + 1
}

/// `AvgMinMaxCounter.getAvg`: `new BigDecimal(total / (double) count).setScale(4, HALF_UP)`,
/// i.e. half-up on the exact binary value of the double, back to the nearest double.
fn zk_avg(total: u64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    let avg = total as f64 / count as f64;
    let bits = avg.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    if avg == 0.0 || exponent == 0 {
        return avg;
    }
    // avg = m * 2^e exactly.
    let m = (bits & ((1 << 52) - 1)) | (1 << 52);
    let e = exponent - 1075;
    if e >= 0 {
        return avg; // a whole number already
    }
    let shift = (-e) as u32;
    if shift > 120 {
        return (avg * 10_000.0).round() / 10_000.0; // below 2^-67: not a latency
    }
    let scaled = m as u128 * 10_000;
    let mut q = scaled >> shift;
    let rem = scaled & ((1u128 << shift) - 1);
    if rem >= 1u128 << (shift - 1) {
        q += 1;
    }
    q as f64 / 10_000.0
}

/// Java's `Double.toString`: plain decimal from 10^-3 to 10^7 (always with a fraction digit),
/// computerized scientific notation (`1.0E-4`) outside.
pub(crate) fn java_double(x: f64) -> String {
    if x == 0.0 {
        return "0.0".into();
    }
    let a = x.abs();
    if (1e-3..1e7).contains(&a) {
        let s = x.to_string();
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        if mantissa.contains('.') {
            format!("{mantissa}E{exp}")
        } else {
            format!("{mantissa}.0E{exp}")
        }
    }
}

/// Java's `Date.toString` in UTC: `Sun Nov 22 05:08:17 UTC 2026`.
fn java_date(wall_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let c = Civil::of(wall_ms.div_euclid(1000));
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[c.weekday as usize],
        MONTHS[c.month as usize - 1],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// A UTC calendar time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// 0 = Sunday.
    weekday: u32,
}

impl Civil {
    /// From seconds since the Unix epoch (Howard Hinnant's `civil_from_days`).
    fn of(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rest = secs.rem_euclid(86_400) as u32;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest / 60 % 60,
            second: rest % 60,
            // 1970-01-01 was a Thursday.
            weekday: (days + 4).rem_euclid(7) as u32,
        }
    }
}

/// The machine as the server process sees it (Linux `/proc`, `/etc/passwd`), with Java's names
/// for what ZooKeeper reports. Handed to [`answer`] by the shell through [`View::host`].
pub struct SystemHost;

impl Host for SystemHost {
    fn dir_size(&self, dir: &Path) -> u64 {
        fn walk(p: &Path, depth: u32) -> u64 {
            let Ok(meta) = std::fs::metadata(p) else { return 0 };
            if !meta.is_dir() {
                return meta.len();
            }
            if depth == 0 {
                return 0; // a symlink loop; ZooKeeper would overflow its stack
            }
            std::fs::read_dir(p).map(|entries| entries.flatten().map(|e| walk(&e.path(), depth - 1)).sum()).unwrap_or(0)
        }
        walk(dir, 16)
    }

    fn file_descriptors(&self) -> Option<(u64, u64)> {
        let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        let soft = line["Max open files".len()..].split_whitespace().next()?;
        let max = if soft == "unlimited" { u64::MAX } else { soft.parse().ok()? };
        Some((open, max))
    }

    fn env(&self) -> Env {
        let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        let na = || "<NA>".to_string();
        let status = read("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_string)
        };
        let uid = field("Uid:");
        let passwd = read("/etc/passwd").unwrap_or_default();
        // name:password:uid:gid:gecos:home:shell
        let entry = uid.and_then(|uid| {
            passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() >= 6 && f[2] == uid)
        });
        let user_name =
            entry.as_ref().map(|f| f[0].to_string()).or_else(|| std::env::var("USER").ok()).unwrap_or_else(na);
        let user_home =
            entry.as_ref().map(|f| f[5].to_string()).or_else(|| std::env::var("HOME").ok()).unwrap_or_else(na);
        let os_arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "x86",
            other => other,
        };
        let os_name = read("/proc/sys/kernel/ostype").unwrap_or_else(|| {
            let os = std::env::consts::OS;
            os[..1].to_uppercase() + &os[1..]
        });
        Env {
            host_name: read("/proc/sys/kernel/hostname").unwrap_or_else(na),
            executable: std::env::current_exe().map_or_else(|_| na(), |p| p.display().to_string()),
            pid: std::process::id(),
            os_name,
            os_arch: os_arch.to_string(),
            os_version: read("/proc/sys/kernel/osrelease").unwrap_or_else(na),
            user_name,
            user_home,
            user_dir: std::env::current_dir().map_or_else(|_| na(), |p| p.display().to_string()),
            rss_mb: field("VmRSS:").and_then(|kb| kb.parse::<u64>().ok()).map(|kb| kb / 1024),
        }
    }
}

/// Where `mntr`'s counters start, after the gauges (and the gauge sets).
const MNTR_FIRST_COUNTER: &str = "proposal_count";

/// `mntr`'s gauges and counters after `zk_version` and `zk_server_state`, in the order ZooKeeper
/// 3.8.0 prints them (the order of its metrics registry, the same on every start). The quorum
/// gauges (`quorum_size`, and a leader's `learners` ... `max_proposal_size`) sit where a 3.8.0
/// leader prints them (`tests/testdata/fourlw/ensemble_leader_mntr.txt`).
const MNTR_GAUGES_AND_COUNTERS: &[&str] = &[
    "ephemerals_count",
    "num_alive_connections",
    "avg_latency",
    "min_proposal_size",
    "outstanding_requests",
    "znode_count",
    "global_sessions",
    "non_mtls_remote_conn_count",
    "last_client_response_size",
    "packets_sent",
    "packets_received",
    "max_proposal_size",
    "max_client_response_size",
    "synced_followers",
    "connection_drop_probability",
    "watch_count",
    "synced_non_voting_followers",
    "synced_observers",
    "auth_failed_count",
    "min_latency",
    "max_file_descriptor_count",
    "approximate_data_size",
    "open_file_descriptor_count",
    "last_proposal_size",
    "pending_syncs",
    "leader_uptime",
    "local_sessions",
    "uptime",
    "max_latency",
    "outstanding_tls_handshake",
    "learners",
    "min_client_response_size",
    "non_mtls_local_conn_count",
    "quorum_size",
    "proposal_count",
    "watch_bytes",
    "outstanding_changes_removed",
    "throttled_ops",
    "stale_requests_dropped",
    "large_requests_rejected",
    "insecure_admin_count",
    "connection_rejected",
    "cnxn_closed_without_zk_server_running",
    "sessionless_connections_expired",
    "looking_count",
    "dead_watchers_queued",
    "stale_requests",
    "connection_drop_count",
    "learner_proposal_received_count",
    "digest_mismatches_count",
    "dead_watchers_cleared",
    "response_packet_cache_hits",
    "bytes_received_count",
    "add_dead_watcher_stall_time",
    "request_throttle_wait_count",
    "requests_not_forwarded_to_commit_processor",
    "response_packet_cache_misses",
    "ensemble_auth_success",
    "prep_processor_request_queued",
    "learner_commit_received_count",
    "stale_replies",
    "connection_request_count",
    "response_bytes",
    "ensemble_auth_fail",
    "diff_count",
    "response_packet_get_children_cache_misses",
    "connection_revalidate_count",
    "quit_leading_due_to_disloyal_voter",
    "snap_count",
    "unrecoverable_error_count",
    "unsuccessful_handshake",
    "commit_count",
    "stale_sessions_expired",
    "response_packet_get_children_cache_hits",
    "sync_processor_request_queued",
    "outstanding_changes_queued",
    "request_commit_queued",
    "ensemble_auth_skip",
    "skip_learner_request_to_next_processor_count",
    "tls_handshake_exceeded",
    "revalidate_count",
];

/// `mntr`'s summaries, in ZooKeeper 3.8.0's order: `avg_`, `min_`, `max_`, `cnt_`, `sum_` each,
/// and `p50_`, `p95_`, `p99_`, `p999_` where the flag is set.
const MNTR_SUMMARIES: &[(&str, bool)] = &[
    ("socket_closing_time", false),
    ("proposal_process_time", false),
    ("leader_unavailable_time", false),
    ("node_created_watch_count", false),
    ("session_queues_drained", false),
    ("write_commit_proc_req_queued", false),
    ("connection_token_deficit", false),
    ("read_commit_proc_req_queued", false),
    ("node_deleted_watch_count", false),
    ("startup_txns_load_time", false),
    ("sync_processor_queue_size", false),
    ("follower_sync_time", false),
    ("prep_processor_queue_size", false),
    ("fsynctime", false),
    ("inflight_snap_count", false),
    ("reads_issued_from_session_queue", false),
    ("learner_request_processor_queue_size", false),
    ("snapshottime", false),
    ("unavailable_time", false),
    ("startup_txns_loaded", false),
    ("reads_after_write_in_session_queue", false),
    ("requests_in_session_queue", false),
    ("write_commit_proc_issued", false),
    ("prep_process_time", false),
    ("pending_session_queue_size", false),
    ("time_waiting_empty_pool_in_commit_processor_read_ms", false),
    ("commit_process_time", false),
    ("dbinittime", false),
    ("inflight_diff_count", false),
    ("netty_queued_buffer_capacity", false),
    ("election_time", false),
    ("commit_commit_proc_req_queued", false),
    ("sync_processor_batch_size", false),
    ("node_children_watch_count", false),
    ("write_batch_time_in_commit_processor", false),
    ("read_commit_proc_issued", false),
    ("concurrent_request_processing_in_commit_processor", false),
    ("observer_sync_time", false),
    ("node_changed_watch_count", false),
    ("sync_process_time", false),
    ("startup_snap_load_time", false),
    ("prep_processor_queue_time_ms", true),
    ("jvm_pause_time_ms", true),
    ("close_session_prep_time", true),
    ("read_commitproc_time_ms", true),
    ("updatelatency", true),
    ("local_write_committed_time_ms", true),
    ("request_throttle_queue_time_ms", true),
    ("readlatency", true),
    ("quorum_ack_latency", true),
    ("om_commit_process_time_ms", true),
    ("read_final_proc_time_ms", true),
    ("commit_propagation_latency", true),
    ("dead_watchers_cleaner_latency", true),
    ("write_final_proc_time_ms", true),
    ("proposal_ack_creation_latency", true),
    ("proposal_latency", true),
    ("om_proposal_process_time_ms", true),
    ("sync_processor_queue_and_flush_time_ms", true),
    ("propagation_latency", true),
    ("server_write_committed_time_ms", true),
    ("sync_processor_queue_time_ms", true),
    ("sync_processor_queue_flush_time_ms", true),
    ("write_commitproc_time_ms", true),
];

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeHost;

    impl Host for FakeHost {
        fn dir_size(&self, dir: &Path) -> u64 {
            if dir.starts_with("/zk/logs") {
                111
            } else if dir.starts_with("/zk/snaps") {
                222
            } else {
                0
            }
        }
        fn file_descriptors(&self) -> Option<(u64, u64)> {
            Some((12, 1024))
        }
        fn env(&self) -> Env {
            Env {
                host_name: "box".into(),
                executable: "/usr/bin/rookery".into(),
                pid: 42,
                os_name: "Linux".into(),
                os_arch: "amd64".into(),
                os_version: "6.1.0".into(),
                user_name: "zk".into(),
                user_home: "/home/zk".into(),
                user_dir: "/srv".into(),
                rss_mb: Some(5),
            }
        }
    }

    fn config() -> Config {
        Config::parse(Path::new("/etc/zoo.cfg"), "tickTime=2000\ndataDir=/zk/snaps\ndataLogDir=/zk/logs\n").unwrap()
    }

    fn conn(session: SessionId, port: u16) -> ConnInfo {
        ConnInfo {
            session,
            remote: format!("/127.0.0.1:{port}"),
            established_wall_ms: 1_795_324_086_242,
            timeout_ms: 10_000,
            ..ConnInfo::default()
        }
    }

    /// Answers `cmd` on an empty tree with the given connections.
    fn ask(cmd: &'static str, conns: &[(ConnId, &ConnInfo)], stats: &ServerStats) -> String {
        let config = config();
        let view = View {
            mode: "standalone",
            serving: true,
            config: &config,
            started_wall_ms: 0,
            host: &FakeHost,
            quorum: None,
            secure_client_port: None,
        };
        let tree = DataTree::new();
        let watches = Watches::new();
        let ask = Ask { cmd, conn: 99, client_port: 2181 };
        let facts = Facts {
            ask: &ask,
            tree: &tree,
            watches: &watches,
            stats,
            conns,
            outstanding: 0,
            session_expiry: &[],
            quota_exceeded: &BTreeMap::new(),
            now_ms: 5_000,
            wall_ms: 1_795_324_090_000,
        };
        answer(&view, &facts)
    }

    #[test]
    fn averages_round_half_up_on_the_exact_double_like_bigdecimal() {
        assert_eq!(zk_avg(0, 0), 0.0);
        assert_eq!(zk_avg(46, 13), 3.5385);
        assert_eq!(zk_avg(1, 3), 0.3333);
        assert_eq!(zk_avg(2, 3), 0.6667);
        assert_eq!(zk_avg(1, 32), 0.0313, "0.03125 is exact: half-up");
        assert_eq!(zk_avg(1, 20_000), 0.0001, "5e-5 as a double is just above the half");
        assert_eq!(zk_avg(3, 20_000), 0.0001, "1.5e-4 as a double is just below the half");
        assert_eq!(zk_avg(7, 20_000), 0.0003);
        assert_eq!(zk_avg(123_456_789, 1000), 123_456.789);
    }

    #[test]
    fn doubles_print_as_java_prints_them() {
        for (x, s) in [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (3.5385, "3.5385"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (0.0003, "3.0E-4"),
            (1234567.5, "1234567.5"),
            (12_345_678.0, "1.2345678E7"),
            (10_000_000.0, "1.0E7"),
        ] {
            assert_eq!(java_double(x), s, "{x}");
        }
    }

    #[test]
    fn dates_print_as_java_date_to_string_in_utc() {
        assert_eq!(java_date(1_795_324_086_242), "Sun Nov 22 05:08:06 UTC 2026");
        assert_eq!(java_date(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(java_date(951_782_400_000), "Tue Feb 29 00:00:00 UTC 2000");
        assert_eq!(java_date(-86_400_000), "Wed Dec 31 00:00:00 UTC 1969");
    }

    #[test]
    fn version_has_zookeepers_shape() {
        let v = full_version();
        assert!(v.starts_with("3.9.2-rookery-"), "{v}");
        let date = v.split_once(", built on ").unwrap().1;
        assert_eq!(date.len(), "2024-12-29 17:54 UTC".len(), "{date}");
        assert!(date.ends_with(" UTC") && date.as_bytes()[4] == b'-' && date.as_bytes()[13] == b':');
    }

    #[test]
    fn words_are_recognised_from_the_first_four_bytes() {
        assert_eq!(command_of(*b"ruok"), Some("ruok"));
        assert_eq!(command_of(*b"hash"), Some("hash"));
        assert_eq!(command_of([0xff, 0xf4, 0xff, 0xfd]), Some(TELNET_CLOSE));
        assert_eq!(command_of(*b"RUOK"), None);
        assert_eq!(command_of([0, 0, 0, 44]), None);
        assert_eq!(refusal("mntr"), "mntr is not executed because it is not in the whitelist.\n");
    }

    #[test]
    fn srvr_layout() {
        let mut stats = ServerStats::default();
        stats.record(2);
        stats.record(1);
        let asker = ConnInfo { stats: ConnView { four_letter: true, recved: 1, ..ConnView::default() }, ..conn(0, 5) };
        let text = ask("srvr", &[(99, &asker)], &stats);
        let version = full_version();
        assert_eq!(
            text,
            format!(
                "Zookeeper version: {version}\nLatency min/avg/max: 1/1.5/2\nReceived: 2\nSent: 2\nConnections: 1\n\
                 Outstanding: 0\nZxid: 0x0\nMode: standalone\nNode count: 5\n"
            )
        );
    }

    #[test]
    fn stat_and_cons_list_connections_as_zookeeper_does() {
        let mut busy = conn(0x1000015d5d60000, 59098);
        busy.stats.record(op::CREATE_SESSION, 0, 1, 3, 100);
        busy.stats.record(op::GET_CHILDREN2, 7, 7, 0, 140);
        let asker =
            ConnInfo { stats: ConnView { four_letter: true, recved: 1, ..ConnView::default() }, ..conn(0, 59132) };
        let conns = [(1, &busy), (99, &asker)];
        let stats = ServerStats::default();
        let stat = ask("stat", &conns, &stats);
        assert!(
            stat.contains(
                "\nClients:\n /127.0.0.1:59098[1](queued=0,recved=2,sent=2)\n /127.0.0.1:59132[0](queued=0,recved=1,sent=0)\n\n\
                 Latency min/avg/max: 0/0.0/0\n"
            ),
            "{stat}"
        );
        assert_eq!(
            ask("cons", &conns, &stats),
            " /127.0.0.1:59098[1](queued=0,recved=2,sent=2,sid=0x1000015d5d60000,lop=GETC,est=1795324086242,\
             to=10000,lcxid=0x7,lzxid=0x7,lresp=140,llat=0,minlat=0,avglat=1,maxlat=3)\n\
             \x20/127.0.0.1:59132[0](queued=0,recved=1,sent=0)\n\n"
        );
        let mut reset = busy.clone();
        reset.stats.reset();
        assert_eq!(
            ask("cons", &[(1, &reset)], &stats),
            " /127.0.0.1:59098[1](queued=0,recved=0,sent=0,sid=0x1000015d5d60000,lop=NA,est=1795324086242,\
             to=10000,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)\n\n"
        );
        assert_eq!(reset.stats.last_active_ms, Some(140), "crst keeps what is not a statistic");
    }

    #[test]
    fn conf_and_dirs_swap_the_sizes_as_zookeeper_does() {
        let stats = ServerStats::default();
        assert_eq!(
            ask("conf", &[], &stats),
            "clientPort=2181\nsecureClientPort=-1\ndataDir=/zk/snaps/version-2\ndataDirSize=111\n\
             dataLogDir=/zk/logs/version-2\ndataLogSize=222\ntickTime=2000\nmaxClientCnxns=60\n\
             minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n"
        );
        assert_eq!(ask("dirs", &[], &stats), "datadir_size: 111\nlogdir_size: 222\n");
    }

    #[test]
    fn envi_keeps_zookeepers_keys_in_order() {
        let text = ask("envi", &[], &ServerStats::default());
        assert_eq!(
            text,
            format!(
                "Environment:\nzookeeper.version={}\nhost.name=box\nrookery.version={}\n\
                 rookery.executable=/usr/bin/rookery\nrookery.pid=42\nos.name=Linux\nos.arch=amd64\n\
                 os.version=6.1.0\nuser.name=zk\nuser.home=/home/zk\nuser.dir=/srv\nrookery.memory.rss=5MB\n",
                full_version(),
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    #[test]
    fn mntr_keys_are_zookeepers_in_order() {
        let zk = include_str!("../tests/testdata/fourlw/empty_mntr.txt");
        let text = ask("mntr", &[], &ServerStats::default());
        let keys = |t: &str| t.lines().map(|l| l.split('\t').next().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&text), keys(zk));
        assert!(text.contains("\nzk_avg_latency\t0.0\n") && text.contains("\nzk_znode_count\t5\n"));
        assert!(
            text.contains("\nzk_open_file_descriptor_count\t12\n") && text.contains("\nzk_uptime\t1795324090000\n")
        );
        assert!(
            text.contains("\nzk_min_client_response_size\t-1\n")
                && text.ends_with("zk_p999_write_commitproc_time_ms\t0\n")
        );
    }

    /// `mntr` of an ensemble member with the given mode, on an empty tree.
    fn mntr_as(mode: &'static str, quorum: &QuorumFigures) -> String {
        let config = config();
        let view = View {
            mode,
            serving: true,
            config: &config,
            started_wall_ms: 0,
            host: &FakeHost,
            quorum: Some(quorum),
            secure_client_port: None,
        };
        let (tree, watches, stats) = (DataTree::new(), Watches::new(), ServerStats::default());
        let ask = Ask { cmd: "mntr", conn: 99, client_port: 2181 };
        let facts = Facts {
            ask: &ask,
            tree: &tree,
            watches: &watches,
            stats: &stats,
            conns: &[],
            outstanding: 0,
            session_expiry: &[],
            quota_exceeded: &BTreeMap::new(),
            now_ms: 5_000,
            wall_ms: 1_795_324_090_000,
        };
        answer(&view, &facts)
    }

    #[test]
    fn mntr_on_an_ensemble_has_zookeepers_quorum_keys_in_order() {
        use crate::metrics::{BufferStats, LeaderFigures};
        // Rookery keeps no per-namespace or per-learner-queue summaries.
        let keys = |t: &str| {
            t.lines()
                .map(|l| l.split('\t').next().unwrap().to_string())
                .filter(|k| !k.ends_with("_per_namespace") && !k.contains("_learner_handler_qp_"))
                .collect::<Vec<_>>()
        };
        let mut q = QuorumFigures {
            quorum_size: 3,
            leader_id: Some(3),
            leader: Some(LeaderFigures {
                learners: 3,
                synced_followers: 2,
                synced_observers: 1,
                pending_syncs: 0,
                proposal_size: BufferStats { last: 48, min: 48, max: 487 },
                established_ms: Some(1_000),
            }),
            looking_count: 1,
            election_time: Latency::default(),
            proposal_count: 10,
        };
        q.election_time.add(2563);
        let leader = mntr_as("leader", &q);
        assert_eq!(keys(&leader), keys(include_str!("../tests/testdata/fourlw/ensemble_leader_mntr.txt")));
        for line in [
            "zk_server_state\tleader\nzk_peer_state\tleading - broadcast\n",
            "\nzk_min_proposal_size\t48\n",
            "\nzk_synced_followers\t2\n",
            "\nzk_synced_observers\t1\n",
            "\nzk_leader_uptime\t4000\n",
            "\nzk_learners\t3\n",
            "\nzk_quorum_size\t3\n",
            "\nzk_proposal_count\t10\n",
            "\nzk_looking_count\t1\n",
            "\nzk_avg_election_time\t2563.0\nzk_min_election_time\t2563\n",
        ] {
            assert!(leader.contains(line), "{line:?} not in\n{leader}");
        }
        q.leader = None;
        let follower = mntr_as("follower", &q);
        assert_eq!(keys(&follower), keys(include_str!("../tests/testdata/fourlw/ensemble_follower_mntr.txt")));
        let observer = mntr_as("observer", &q);
        assert_eq!(keys(&observer), keys(include_str!("../tests/testdata/fourlw/ensemble_observer_mntr.txt")));
        assert!(observer.contains("zk_peer_state\tobserving - broadcast\nzk_observer_master_id\t3\n"), "{observer}");
    }

    #[test]
    fn short_answers_have_no_newline() {
        let stats = ServerStats::default();
        assert_eq!(ask("ruok", &[], &stats), "imok");
        assert_eq!(ask("isro", &[], &stats), "rw");
        assert_eq!(ask("hash", &[], &stats), "");
        assert_eq!(ask("crst", &[], &stats), "Connection stats reset.\n");
        assert_eq!(ask("srst", &[], &stats), "Server stats reset.\n");
        assert_eq!(ask("wchs", &[], &stats), "0 connections watching 0 paths\nTotal watches:0\n");
        assert_eq!(ask("wchc", &[], &stats), "\n");
        assert_eq!(ask("wchp", &[], &stats), "\n");
    }

    #[test]
    fn dump_lists_sessions_and_connections_by_expiry() {
        let config = config();
        let view = View {
            mode: "standalone",
            serving: true,
            config: &config,
            started_wall_ms: 0,
            host: &FakeHost,
            quorum: None,
            secure_client_port: None,
        };
        let tree = DataTree::new();
        let watches = Watches::new();
        let mut a = conn(0x10, 1);
        a.stats.record(op::PING, -2, 0, 0, 4_000);
        let asker = ConnInfo { stats: ConnView { four_letter: true, recved: 1, ..ConnView::default() }, ..conn(0, 2) };
        let b = ConnInfo { timeout_ms: 20_000, ..conn(0x11, 3) };
        let ask = Ask { cmd: "dump", conn: 99, client_port: 2181 };
        let facts = Facts {
            ask: &ask,
            tree: &tree,
            watches: &watches,
            stats: &ServerStats::default(),
            conns: &[(1, &a), (2, &asker), (3, &b)],
            outstanding: 0,
            session_expiry: &[(14_000, vec![0x10]), (24_000, vec![0x11])],
            quota_exceeded: &BTreeMap::new(),
            now_ms: 5_000,
            // Wall time 1_795_324_090_000 is monotonic 5_000.
            wall_ms: 1_795_324_090_000,
        };
        // The asker and b were established 3758 ms before "now" (at monotonic 1242).
        assert_eq!(
            answer(&view, &facts),
            "SessionTracker dump:\nSession Sets (2)/(2):\n1 expire at Sun Nov 22 05:08:19 UTC 2026:\n\t0x10\n\
             1 expire at Sun Nov 22 05:08:29 UTC 2026:\n\t0x11\nephemeral nodes dump:\nSessions with Ephemerals (0):\n\
             Connections dump:\nConnections Sets (2)/(3):\n2 expire at Sun Nov 22 05:08:25 UTC 2026:\n\
             \tip: /127.0.0.1:1 sessionId: 0x10\n\tip: /127.0.0.1:2 sessionId: 0x0\n\
             1 expire at Sun Nov 22 05:08:35 UTC 2026:\n\tip: /127.0.0.1:3 sessionId: 0x11\n"
        );
    }
}
