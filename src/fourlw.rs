//! Four-letter words: ZooKeeper's plain-text admin commands on the client port, in ZooKeeper's
//! text layout (`ruok`, `srvr`, `stat`, `conf`, `cons`, `envi`, `mntr`, `wchs`, `wchc`, `wchp`,
//! `dump`, `dirs`, `isro`, `crst`, `srst`). Pure formatting over a view of the server.

use crate::codes::op;
use crate::config::Config;
use crate::ids::Zxid;
use crate::pipeline::commit::ConnInfo;
use crate::tree::DataTree;
use crate::watches::Watches;
use std::fmt::Write;

/// Every command ZooKeeper knows; a known command not in the whitelist gets ZooKeeper's refusal.
pub const COMMANDS: &[&str] = &[
    "ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dump", "dirs",
    "isro", "crst", "srst", "gtmk", "stmk",
];

/// The version string clients see; kazoo parses the leading `3.9.x` to pick features.
pub const VERSION: &str = concat!("3.9.2-rookery-", env!("CARGO_PKG_VERSION"));

/// Static facts about this server.
pub struct View<'a> {
    pub mode: &'a str,
    pub config: &'a Config,
    pub started_wall_ms: i64,
}

/// Server-wide request counters and latency (`ServerStats`).
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub received: u64,
    pub sent: u64,
    pub latency_min: u64,
    pub latency_max: u64,
    pub latency_total: u64,
    pub latency_count: u64,
}

impl ServerStats {
    pub fn record(&mut self, latency_ms: u64) {
        self.received += 1;
        self.sent += 1;
        if self.latency_count == 0 || latency_ms < self.latency_min {
            self.latency_min = latency_ms;
        }
        self.latency_max = self.latency_max.max(latency_ms);
        self.latency_total += latency_ms;
        self.latency_count += 1;
    }

    pub fn reset(&mut self) {
        *self = ServerStats::default();
    }

    fn avg(&self) -> f64 {
        if self.latency_count == 0 {
            0.0
        } else {
            self.latency_total as f64 / self.latency_count as f64
        }
    }
}

/// Per-connection counters for `cons`.
#[derive(Debug, Clone, Default)]
pub struct ConnView {
    pub recved: u64,
    pub sent: u64,
    pub last_op: Option<i32>,
    pub last_cxid: i32,
    pub last_zxid: Zxid,
    pub last_resp_ms: u64,
    pub last_latency: u64,
    pub lat_min: u64,
    pub lat_max: u64,
    pub lat_total: u64,
}

impl ConnView {
    pub fn record(&mut self, op_code: i32, xid: i32, zxid: Zxid, latency: u64, now_ms: u64) {
        if self.recved == 0 || latency < self.lat_min {
            self.lat_min = latency;
        }
        self.recved += 1;
        self.sent += 1;
        self.last_op = Some(op_code);
        if xid >= 0 {
            self.last_cxid = xid;
        }
        self.last_zxid = zxid;
        self.last_resp_ms = now_ms;
        self.last_latency = latency;
        self.lat_max = self.lat_max.max(latency);
        self.lat_total += latency;
    }
}

/// ZooKeeper's short names for the last op in `cons` (`Request.op2String` abbreviations).
fn short_op(op_code: i32) -> &'static str {
    match op_code {
        op::PING => "PING",
        op::CREATE_SESSION => "SESS",
        op::CREATE | op::CREATE2 | op::CREATE_TTL | op::CREATE_CONTAINER => "CREA",
        op::DELETE | op::DELETE_CONTAINER => "DELE",
        op::SET_DATA => "SETD",
        op::GET_DATA => "GETD",
        op::EXISTS => "EXIS",
        op::GET_CHILDREN | op::GET_CHILDREN2 => "GETC",
        op::GET_ACL => "GETA",
        op::SET_ACL => "SETA",
        op::MULTI => "MULT",
        op::MULTI_READ => "MLTR",
        op::SYNC => "SYNC",
        op::SET_WATCHES | op::SET_WATCHES2 => "SETW",
        op::CLOSE_SESSION => "CLOS",
        op::ADD_WATCH => "ADDW",
        op::GET_EPHEMERALS => "GETE",
        op::GET_ALL_CHILDREN_NUMBER => "GETACN",
        op::WHO_AM_I => "HOMI",
        op::CHECK_WATCHES => "CHKW",
        op::REMOVE_WATCHES => "REMW",
        _ => "NA",
    }
}

/// The answer to a whitelisted command.
#[allow(clippy::too_many_arguments)]
pub fn answer(
    cmd: &str,
    view: &View<'_>,
    tree: &DataTree,
    watches: &Watches,
    stats: &ServerStats,
    conns: &[(u64, &ConnInfo)],
    outstanding: usize,
    wall_ms: i64,
) -> String {
    let mut s = String::new();
    match cmd {
        "ruok" => s.push_str("imok"),
        "isro" => s.push_str("rw"),
        "srvr" | "stat" => {
            let _ = writeln!(
                s,
                "Zookeeper version: {VERSION}, built on 01/01/1970 00:00 GMT"
            );
            if cmd == "stat" {
                s.push_str("Clients:\n");
                for (_, c) in conns {
                    let _ = writeln!(
                        s,
                        " {}[1](queued=0,recved={},sent={})",
                        c.remote, c.stats.recved, c.stats.sent
                    );
                }
                s.push('\n');
            }
            let _ = writeln!(
                s,
                "Latency min/avg/max: {}/{:.4}/{}",
                stats.latency_min,
                stats.avg(),
                stats.latency_max
            );
            let _ = writeln!(s, "Received: {}", stats.received);
            let _ = writeln!(s, "Sent: {}", stats.sent);
            let _ = writeln!(s, "Connections: {}", conns.len());
            let _ = writeln!(s, "Outstanding: {outstanding}");
            let _ = writeln!(s, "Zxid: 0x{:x}", tree.last_processed_zxid);
            let _ = writeln!(s, "Mode: {}", view.mode);
            let _ = writeln!(s, "Node count: {}", tree.node_count());
        }
        "cons" => {
            for (_, c) in conns {
                let v = &c.stats;
                let avg = if v.recved == 0 {
                    0.0
                } else {
                    v.lat_total as f64 / v.recved as f64
                };
                let _ = writeln!(
                    s,
                    " {}[1](queued=0,recved={},sent={},sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x},lresp={},llat={},minlat={},avglat={:.4},maxlat={})",
                    c.remote,
                    v.recved,
                    v.sent,
                    c.session,
                    v.last_op.map_or("NA", short_op),
                    c.established_wall_ms,
                    c.timeout_ms,
                    v.last_cxid,
                    v.last_zxid,
                    v.last_resp_ms,
                    v.last_latency,
                    v.lat_min,
                    avg,
                    v.lat_max
                );
            }
            s.push('\n');
        }
        "conf" => {
            let c = view.config;
            let _ = writeln!(s, "clientPort={}", c.client_port.unwrap_or(2181));
            let _ = writeln!(s, "secureClientPort=-1");
            let _ = writeln!(s, "dataDir={}/version-2", c.data_dir.display());
            let _ = writeln!(s, "dataDirSize=0");
            let _ = writeln!(s, "dataLogDir={}/version-2", c.data_log_dir.display());
            let _ = writeln!(s, "dataLogSize=0");
            let _ = writeln!(s, "tickTime={}", c.tick_time_ms);
            let _ = writeln!(s, "maxClientCnxns={}", c.max_client_cnxns);
            let _ = writeln!(s, "minSessionTimeout={}", c.min_session_timeout_ms);
            let _ = writeln!(s, "maxSessionTimeout={}", c.max_session_timeout_ms);
            let _ = writeln!(s, "clientPortListenBacklog=-1");
            let _ = writeln!(s, "serverId=0");
        }
        "envi" => {
            s.push_str("Environment:\n");
            let _ = writeln!(
                s,
                "zookeeper.version={VERSION}, built on 01/01/1970 00:00 GMT"
            );
            let _ = writeln!(s, "host.name={}", hostname());
            let _ = writeln!(s, "os.name={}", std::env::consts::OS);
            let _ = writeln!(s, "os.arch={}", std::env::consts::ARCH);
            let _ = writeln!(
                s,
                "user.dir={}",
                std::env::current_dir()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default()
            );
        }
        "mntr" => {
            let ephemerals: usize = tree.ephemerals().values().map(|s| s.len()).sum();
            let rows: Vec<(&str, String)> = vec![
                (
                    "zk_version",
                    format!("{VERSION}, built on 01/01/1970 00:00 GMT"),
                ),
                ("zk_server_state", view.mode.to_string()),
                ("zk_avg_latency", format!("{:.4}", stats.avg())),
                ("zk_max_latency", stats.latency_max.to_string()),
                ("zk_min_latency", stats.latency_min.to_string()),
                ("zk_packets_received", stats.received.to_string()),
                ("zk_packets_sent", stats.sent.to_string()),
                ("zk_num_alive_connections", conns.len().to_string()),
                ("zk_outstanding_requests", outstanding.to_string()),
                ("zk_znode_count", tree.node_count().to_string()),
                ("zk_watch_count", watches.count().to_string()),
                ("zk_ephemerals_count", ephemerals.to_string()),
                (
                    "zk_approximate_data_size",
                    tree.approximate_data_size().to_string(),
                ),
                ("zk_global_sessions", tree.sessions.len().to_string()),
                (
                    "zk_uptime",
                    (wall_ms - view.started_wall_ms).max(0).to_string(),
                ),
            ];
            for (k, v) in rows {
                let _ = writeln!(s, "{k}\t{v}");
            }
        }
        "wchs" => {
            let _ = writeln!(
                s,
                "{} connections watching {} paths",
                count_watchers(watches),
                watches.path_count()
            );
            let _ = writeln!(s, "Total watches:{}", watches.count());
        }
        "wchc" => {
            for (w, paths) in watches.by_watcher() {
                let _ = writeln!(s, "0x{:x}", session_of(conns, w));
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
        }
        "wchp" => {
            for (p, ws) in watches.by_path() {
                let _ = writeln!(s, "{p}");
                for w in ws {
                    let _ = writeln!(s, "\t0x{:x}", session_of(conns, w));
                }
            }
        }
        "dump" => {
            s.push_str("SessionTracker dump:\n");
            let _ = writeln!(s, "Global Sessions({}):", tree.sessions.len());
            for (id, to) in &tree.sessions {
                let _ = writeln!(s, "0x{id:x}\t{to}ms");
            }
            s.push_str("ephemeral nodes dump:\n");
            let _ = writeln!(s, "Sessions with Ephemerals ({}):", tree.ephemerals().len());
            let mut sessions: Vec<_> = tree.ephemerals().iter().collect();
            sessions.sort();
            for (id, paths) in sessions {
                let _ = writeln!(s, "0x{id:x}:");
                for p in paths {
                    let _ = writeln!(s, "\t{p}");
                }
            }
        }
        "dirs" => {
            let _ = writeln!(s, "datadir_size: 0");
            let _ = writeln!(s, "logdir_size: 0");
        }
        "crst" => s.push_str("Connection stats reset.\n"),
        "srst" => s.push_str("Server stats reset.\n"),
        _ => {}
    }
    s
}

/// The session a watcher (connection id) belongs to, as ZooKeeper prints watchers by session.
fn session_of(conns: &[(u64, &ConnInfo)], conn: u64) -> i64 {
    conns
        .iter()
        .find(|(id, _)| *id == conn)
        .map_or(0, |(_, c)| c.session)
}

fn count_watchers(w: &Watches) -> usize {
    w.by_watcher().len()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
