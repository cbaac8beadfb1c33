//! The admin server's commands (ZooKeeper's `Commands.java`, served on `admin.serverPort` under
//! `/commands/<name>`), as JSON built from the same state the four-letter words read. Pure: the
//! commit thread hands in the [`View`] and [`Facts`]; the sockets are in `node::ops_http`.
//!
//! Each answer has ZooKeeper 3.8's shape, checked against its own answers in
//! `tests/testdata/admin/`: a command is found by any of its names and answers under its primary
//! name (`/commands/srvr` answers `"command" : "server_stats"`); the data fields come first,
//! then `"command"` and `"error"` (`null`, or the message of a command that could not run); the
//! layout is Jackson's pretty printer ([`json`]). An unknown name is an error answer, not a 404.
//!
//! Left out, as Rookery has nothing to report there: `initial_configuration`, `last_snapshot`,
//! `observers`, `observer_connection_stat_reset`, `system_properties`.

pub mod json;

use crate::fourlw::{self, Facts, View};
use crate::metrics::{Figures, Recorder};
use json::Json;
use std::collections::BTreeMap;

/// One command: its primary name (the one it answers under) and its other names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Answered only while the server serves clients (ZooKeeper's `isServerRequired`); the
    /// others also answer while an ensemble member elects or synchronises.
    pub serving_required: bool,
}

const fn command(name: &'static str, aliases: &'static [&'static str], serving_required: bool) -> Command {
    Command { name, aliases, serving_required }
}

/// Every command, by primary name, with ZooKeeper's names and aliases.
pub const COMMANDS: &[Command] = &[
    command("configuration", &["conf", "config"], true),
    command("connection_stat_reset", &["crst"], true),
    command("connections", &["cons"], true),
    command("dirs", &[], true),
    command("dump", &[], true),
    command("environment", &["env", "envi"], false),
    command("get_trace_mask", &["gtmk"], false),
    command("hash", &[], true),
    command("is_read_only", &["isro"], true),
    command("leader", &["lead"], true),
    // Not required in ZooKeeper, but like `mntr` it answers nothing useful without a server.
    command("monitor", &["mntr"], true),
    command("ruok", &[], true),
    command("server_stats", &["srvr"], true),
    command("set_trace_mask", &["stmk"], false),
    command("stat_reset", &["srst"], true),
    command("stats", &["stat"], true),
    command("voting_view", &[], true),
    command("watch_summary", &["wchs"], true),
    command("watches", &["wchc"], true),
    command("watches_by_path", &["wchp"], true),
    command("zabstate", &[], false),
];

/// The command `name` stands for, if any (names are case-sensitive, as in ZooKeeper).
pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name || c.aliases.contains(&name))
}

/// `/commands` itself: a link to each command, sorted by primary name, as ZooKeeper's servlet
/// prints them.
pub fn listing(url: &str) -> String {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.iter().map(|n| format!("<a href=\"{url}/{n}\">{n}</a>\n<br/>\n")).collect()
}

/// What the HTTP side asks the commit thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// Run an admin command.
    Command {
        command: &'static Command,
        /// The query string's parameters (`set_trace_mask?traceMask=306`).
        params: Vec<(String, String)>,
        /// The client port this server listens on, for `configuration`.
        client_port: u16,
    },
    /// The figures for one scrape of `/metrics`.
    Figures,
}

impl Question {
    /// The four-letter word that asks the same thing, for [`fourlw::Ask`].
    pub fn word(&self) -> &'static str {
        match self {
            Question::Figures => "mntr",
            Question::Command { command, .. } => std::iter::once(command.name)
                .chain(command.aliases.iter().copied())
                .find(|a| fourlw::COMMANDS.contains(a))
                .unwrap_or(""),
        }
    }

    pub fn client_port(&self) -> u16 {
        match self {
            Question::Command { client_port, .. } => *client_port,
            Question::Figures => 0,
        }
    }

    /// What the commit thread must change once it has answered.
    pub fn effect(&self) -> Effect {
        match self {
            Question::Command { command, params, .. } => match command.name {
                "connection_stat_reset" => Effect::ResetConnections,
                "stat_reset" => Effect::ResetServer,
                "set_trace_mask" => trace_mask_param(params).ok().map_or(Effect::None, Effect::SetTraceMask),
                _ => Effect::None,
            },
            Question::Figures => Effect::None,
        }
    }
}

/// A side effect of a command, carried out by the thread that owns what it changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// `crst`: every connection's statistics.
    ResetConnections,
    /// `srst`: the server's statistics.
    ResetServer,
    /// `stmk`: the process-wide trace mask.
    SetTraceMask(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A command's JSON, the body of a 200.
    Json(String),
    Figures(Box<Figures>),
}

/// Answers a question from the server's state. The facts' connections are the client
/// connections (an admin request is not one).
pub fn answer(view: &View<'_>, f: &Facts<'_>, question: &Question, recorded: &Recorder) -> Answer {
    match question {
        Question::Figures => Answer::Figures(Box::new(figures(view, f, recorded))),
        Question::Command { command, params, .. } => Answer::Json(run(view, f, command, params)),
    }
}

/// The answer to a name that is no command: HTTP 200 with the error, as ZooKeeper answers it.
pub fn unknown_command(name: &str) -> String {
    error_answer(name, &format!("Unknown command: {name}"))
}

fn error_answer(command: &str, error: &str) -> String {
    Json::Object(vec![("command".into(), Json::str(command)), ("error".into(), Json::str(error))]).pretty()
}

/// `CommandResponse.toMap`: the data, then the command, then the error (unless the data holds
/// one, which then keeps its place: `leader` on a standalone server, `set_trace_mask` without
/// a mask).
fn respond(command: &str, mut data: Vec<(String, Json)>) -> String {
    let has_error = data.iter().any(|(k, _)| k == "error");
    data.push(("command".into(), Json::str(command)));
    if !has_error {
        data.push(("error".into(), Json::Null));
    }
    Json::Object(data).pretty()
}

fn run(view: &View<'_>, f: &Facts<'_>, command: &Command, params: &[(String, String)]) -> String {
    if command.serving_required && !view.serving {
        return error_answer(command.name, fourlw::NOT_SERVING.trim_end());
    }
    let mut d: Vec<(String, Json)> = Vec::new();
    let mut put = |k: &str, v: Json| d.push((k.to_string(), v));
    let u = Json::uint;
    let stats = f.stats;
    let config = view.config;
    match command.name {
        "ruok" | "connection_stat_reset" | "stat_reset" => {}
        "server_stats" | "stats" => {
            let (log_size, snap_size) = fourlw::dir_sizes(view);
            let client_response = || {
                Json::Object(vec![
                    ("last_buffer_size".into(), Json::Int(-1)),
                    ("min_buffer_size".into(), Json::Int(-1)),
                    ("max_buffer_size".into(), Json::Int(-1)),
                ])
            };
            put("version", Json::str(fourlw::full_version()));
            put("read_only", Json::Bool(view.mode == "read-only"));
            put(
                "server_stats",
                Json::Object(vec![
                    ("packets_sent".into(), u(stats.sent)),
                    ("packets_received".into(), u(stats.received)),
                    ("fsync_threshold_exceed_count".into(), Json::Int(0)),
                    ("client_response_stats".into(), client_response()),
                    ("data_dir_size".into(), u(log_size)),
                    ("log_dir_size".into(), u(snap_size)),
                    ("provider_null".into(), Json::Bool(false)),
                    ("server_state".into(), Json::str(view.mode)),
                    ("last_processed_zxid".into(), Json::Int(f.tree.last_processed_zxid)),
                    ("outstanding_requests".into(), u(f.outstanding as u64)),
                    ("avg_latency".into(), Json::Float(stats.latency.avg())),
                    ("max_latency".into(), u(stats.latency.max())),
                    ("min_latency".into(), u(stats.latency.min())),
                    ("num_alive_client_connections".into(), u(f.conns.len() as u64)),
                    ("uptime".into(), Json::Int((f.wall_ms - view.started_wall_ms).max(0))),
                    ("auth_failed_count".into(), Json::Int(0)),
                    ("non_mtlsremote_conn_count".into(), Json::Int(0)),
                    ("non_mtlslocal_conn_count".into(), Json::Int(0)),
                ]),
            );
            put("client_response", client_response());
            if let Some(l) = view.quorum.and_then(|q| q.leader.as_ref()).filter(|_| view.mode == "leader") {
                put(
                    "proposal_stats",
                    Json::Object(vec![
                        ("last_buffer_size".into(), Json::Int(l.proposal_size.last)),
                        ("min_buffer_size".into(), Json::Int(l.proposal_size.min)),
                        ("max_buffer_size".into(), Json::Int(l.proposal_size.max)),
                    ]),
                );
            }
            put("node_count", u(fourlw::zk_node_count(f.tree) as u64));
            if command.name == "stats" {
                put("connections", connections(f, false, true));
                put("secure_connections", connections(f, true, true));
            }
        }
        "connections" => {
            put("connections", connections(f, false, false));
            put("secure_connections", connections(f, true, false));
        }
        "configuration" => {
            let backlog = config.extra.get("clientPortListenBacklog").and_then(|v| v.trim().parse::<i64>().ok());
            put("client_port", u(f.ask.client_port.into()));
            put("data_dir", Json::str(fourlw::version_dir(&config.data_dir).display().to_string()));
            put("data_log_dir", Json::str(fourlw::version_dir(&config.data_log_dir).display().to_string()));
            put("tick_time", u(config.tick_time_ms.into()));
            put("max_client_cnxns", u(config.max_client_cnxns.into()));
            put("min_session_timeout", u(config.min_session_timeout_ms.into()));
            put("max_session_timeout", u(config.max_session_timeout_ms.into()));
            put("server_id", u(my_id(view)));
            put("client_port_listen_backlog", Json::Int(backlog.unwrap_or(-1)));
        }
        "environment" => {
            for (k, v) in fourlw::environment(view.host) {
                put(k, Json::str(v));
            }
        }
        "monitor" => {
            for (k, v) in fourlw::monitor_values(view, f) {
                let v = match v {
                    fourlw::MonitorValue::Int(n) => Json::Int(n),
                    fourlw::MonitorValue::Float(x) => Json::Float(x),
                    fourlw::MonitorValue::Text(t) => Json::Str(t),
                };
                put(&k, v);
            }
        }
        "watch_summary" => {
            let by_path = fourlw::data_watches(f.watches);
            let watchers: std::collections::BTreeSet<_> = by_path.iter().flat_map(|(_, ws)| ws.iter()).collect();
            put("num_connections", u(watchers.len() as u64));
            put("num_paths", u(by_path.len() as u64));
            put("num_total_watches", u(by_path.iter().map(|(_, ws)| ws.len() as u64).sum()));
        }
        "watches" => {
            let mut by_session: BTreeMap<i64, Vec<Json>> = BTreeMap::new();
            for (path, watchers) in fourlw::data_watches(f.watches) {
                for w in watchers {
                    by_session.entry(fourlw::session_of(f.conns, w)).or_default().push(Json::str(path.clone()));
                }
            }
            let map = by_session.into_iter().map(|(s, paths)| (s.to_string(), Json::Array(paths))).collect();
            put("session_id_to_watched_paths", Json::Object(map));
        }
        "watches_by_path" => {
            let map = fourlw::data_watches(f.watches)
                .into_iter()
                .map(|(path, ws)| {
                    let mut sessions: Vec<i64> = ws.iter().map(|&w| fourlw::session_of(f.conns, w)).collect();
                    sessions.sort_unstable();
                    (path, Json::Array(sessions.into_iter().map(Json::Int).collect()))
                })
                .collect();
            put("path_to_session_ids", Json::Object(map));
        }
        "dump" => {
            let expiry = f
                .session_expiry
                .iter()
                .map(|(at, ids)| (at.to_string(), Json::Array(ids.iter().map(|&s| Json::Int(s)).collect())))
                .collect();
            let mut owners: Vec<_> = f.tree.ephemerals().iter().collect();
            owners.sort();
            let ephemerals = owners
                .into_iter()
                .map(|(s, paths)| (s.to_string(), Json::Array(paths.iter().map(|p| Json::str(p.clone())).collect())))
                .collect();
            put("expiry_time_to_session_ids", Json::Object(expiry));
            put("session_id_to_ephemeral_paths", Json::Object(ephemerals));
        }
        "dirs" => {
            let (log_size, snap_size) = fourlw::dir_sizes(view);
            put("datadir_size", u(log_size));
            put("logdir_size", u(snap_size));
        }
        "is_read_only" => put("read_only", Json::Bool(view.mode == "read-only")),
        "get_trace_mask" => put("tracemask", Json::Int(fourlw::trace_mask())),
        "set_trace_mask" => match trace_mask_param(params) {
            Ok(mask) => put("tracemask", Json::Int(mask)),
            Err(why) => put("error", Json::Str(why)),
        },
        "hash" => put("digests", Json::Array(Vec::new())),
        "leader" => match view.quorum {
            Some(q) => {
                let leader_host = q.leader_id.and_then(|id| config.servers.get(&id)).map(|s| s.host.clone());
                put("is_leader", Json::Bool(view.mode == "leader"));
                put("leader_id", Json::Int(q.leader_id.map_or(-1, |id| id as i64)));
                put("leader_ip", Json::Str(leader_host.unwrap_or_default()));
            }
            None => put("error", Json::str("server is not initialized")),
        },
        "voting_view" => {
            let voters = config
                .servers
                .values()
                .filter(|s| view.quorum.is_some() && s.role == crate::config::PeerType::Participant)
                .map(|s| {
                    let client = match s.client_addr {
                        Some(a) => a.to_string(),
                        None if Some(s.id) == config.my_id => client_address(view, f),
                        None => String::new(),
                    };
                    let server = Json::Object(vec![
                        ("server_addresses".into(), Json::Array(vec![Json::str(host_port(&s.host, s.quorum_port))])),
                        (
                            "election_addresses".into(),
                            Json::Array(vec![Json::str(host_port(&s.host, s.election_port))]),
                        ),
                        ("client_address".into(), Json::Str(client)),
                        ("learner_type".into(), Json::str(learner_type(s.role))),
                    ]);
                    (s.id.to_string(), server)
                })
                .collect();
            put("current_config", Json::Object(voters));
        }
        "zabstate" => {
            let me = config.my_id.and_then(|id| config.servers.get(&id)).filter(|_| view.quorum.is_some());
            match me {
                Some(me) => {
                    let zxid = f.tree.last_processed_zxid;
                    put("myid", u(me.id));
                    put("is_leader", Json::Bool(view.mode == "leader"));
                    put("quorum_address", multiple_addresses(&me.host, me.quorum_port));
                    put("election_address", multiple_addresses(&me.host, me.election_port));
                    put("client_address", Json::Str(client_address(view, f)));
                    put("voting", Json::Bool(me.role == crate::config::PeerType::Participant));
                    put("last_zxid", Json::Str(format!("0x{zxid:x}")));
                    put("zab_epoch", Json::Int(zxid >> 32));
                    put("zab_counter", Json::Int(zxid & 0xffff_ffff));
                    put("zabstate", Json::str(zab_state(view)));
                }
                None => {
                    put("voting", Json::Bool(false));
                    put("zabstate", Json::str(""));
                }
            }
        }
        other => unreachable!("command {other} is listed but not answered"),
    }
    respond(command.name, d)
}

/// The connections of the plain client port (with port unification, its TLS ones too) or of
/// the `secureClientPort`, as ZooKeeper lists each connection factory's.
fn connections(f: &Facts<'_>, secure: bool, brief: bool) -> Json {
    let of_port = f.conns.iter().filter(|(_, c)| c.secure == secure);
    Json::Array(of_port.map(|(_, c)| connection(c, brief, f.tree)).collect())
}

/// `ServerCnxn.getConnectionInfo`: the brief form for `stats`, the full one for `connections`.
/// A session that no txn made (a local session, or a read-only one) is marked
/// `"local_session" : true`, a key ZooKeeper does not have.
fn connection(c: &crate::pipeline::commit::ConnInfo, brief: bool, tree: &crate::tree::DataTree) -> Json {
    let v = &c.stats;
    let u = Json::uint;
    let mut info = vec![
        ("remote_socket_address".to_string(), Json::str(c.remote.trim_start_matches('/'))),
        ("interest_ops".into(), Json::Int(if v.four_letter { 0 } else { 1 })),
        ("outstanding_requests".into(), Json::Int(0)),
        ("packets_received".into(), u(v.recved)),
        ("packets_sent".into(), u(v.sent)),
    ];
    if !brief {
        info.extend([
            ("session_id".to_string(), Json::Int(c.session)),
            ("last_operation".into(), Json::str(v.last_op.map_or("NA", fourlw::short_op))),
            ("established".into(), Json::Int(c.established_wall_ms)),
            ("session_timeout".into(), u(c.timeout_ms.into())),
            ("last_cxid".into(), Json::Int(v.last_cxid)),
            ("last_zxid".into(), Json::Int(v.last_zxid)),
            ("last_response_time".into(), u(v.last_resp_ms)),
            ("last_latency".into(), u(v.last_latency)),
            ("min_latency".into(), u(v.latency.min())),
            ("avg_latency".into(), u(v.latency.avg_whole())),
            ("max_latency".into(), u(v.latency.max())),
        ]);
        if c.session != 0 && !tree.sessions.contains_key(&c.session) {
            info.push(("local_session".into(), Json::Bool(true)));
        }
    }
    Json::Object(info)
}

/// `set_trace_mask`'s argument, read as Java's `Long.parseLong`, or ZooKeeper's message.
fn trace_mask_param(params: &[(String, String)]) -> Result<i64, String> {
    let Some((_, v)) = params.iter().find(|(k, _)| k == "traceMask") else {
        return Err("setTraceMask requires long traceMask argument".into());
    };
    v.parse::<i64>().map_err(|_| format!("setTraceMask requires long traceMask argument, got {v}"))
}

fn my_id(view: &View<'_>) -> u64 {
    if view.quorum.is_some() {
        view.config.my_id.unwrap_or(0)
    } else {
        0
    }
}

/// `QuorumServer.delimitedHostString`: IPv6 literals in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn learner_type(role: crate::config::PeerType) -> &'static str {
    match role {
        crate::config::PeerType::Observer => "observer",
        _ => "participant",
    }
}

/// The address clients reach this server on (`clientPortAddress`, or 0.0.0.0, and the port).
fn client_address(view: &View<'_>, f: &Facts<'_>) -> String {
    let ip = view.config.client_port_address.map_or_else(|| "0.0.0.0".to_string(), |ip| ip.to_string());
    host_port(&ip, f.ask.client_port)
}

/// How Jackson serialises ZooKeeper's `MultipleAddresses` for one address.
fn multiple_addresses(host: &str, port: u16) -> Json {
    let one = Json::str(host_port(host, port));
    let list = || Json::Array(vec![one.clone()]);
    Json::Object(vec![
        ("empty".into(), Json::Bool(false)),
        ("all_addresses".into(), list()),
        ("all_reachable_addresses".into(), list()),
        ("one".into(), one.clone()),
        ("reachable_address".into(), one.clone()),
        ("wildcard_addresses".into(), Json::Array(vec![Json::str(host_port("0.0.0.0", port))])),
        ("all_ports".into(), Json::Array(vec![Json::Int(port.into())])),
        ("all_host_strings".into(), Json::Array(vec![Json::str(host)])),
        ("all_reachable_addresses_or_all".into(), list()),
        ("reachable_or_one".into(), one),
    ])
}

/// The ZAB phase as `zabstate` names it: election while looking, broadcast while serving, and
/// synchronization in between (discovery and synchronisation are not told apart).
fn zab_state(view: &View<'_>) -> &'static str {
    match (view.mode, view.serving) {
        ("looking", _) => "election",
        (_, true) => "broadcast",
        _ => "synchronization",
    }
}

/// One scrape's figures.
fn figures(view: &View<'_>, f: &Facts<'_>, recorded: &Recorder) -> Figures {
    let quorum = view.quorum.cloned();
    let leader_uptime_ms = quorum
        .as_ref()
        .filter(|_| view.mode == "leader")
        .and_then(|q| q.leader.as_ref())
        .map(|l| l.established_ms.map_or(0, |at| f.now_ms.saturating_sub(at)));
    Figures {
        server_state: view.mode.to_string(),
        znode_count: fourlw::zk_node_count(f.tree) as u64,
        watch_count: f.watches.count() as u64,
        ephemerals_count: f.tree.ephemerals().values().map(|p| p.len() as u64).sum(),
        global_sessions: f.tree.sessions.len() as u64,
        num_alive_connections: f.conns.len() as u64,
        outstanding_requests: f.outstanding as u64,
        packets_received: f.stats.received,
        packets_sent: f.stats.sent,
        latency: f.stats.latency,
        last_processed_zxid: f.tree.last_processed_zxid,
        digest_mismatches: f.stats.digest_mismatches,
        uptime_ms: (f.wall_ms - view.started_wall_ms).max(0) as u64,
        recorded: recorded.clone(),
        quorum,
        leader_uptime_ms,
        quotas: f.tree.quota_by_namespace(),
        quota_exceeded: f.quota_exceeded.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::op;
    use crate::config::Config;
    use crate::fourlw::{Ask, ConnView, Env, Host, ServerStats};
    use crate::jute::data::open_acl_unsafe;
    use crate::jute::txn::{CreateSessionTxn, CreateTxn, TxnHeader};
    use crate::jute::txn_body::TxnBody;
    use crate::metrics::{BufferStats, LeaderFigures, QuorumFigures};
    use crate::pipeline::commit::ConnInfo;
    use crate::pipeline::ConnId;
    use crate::tree::DataTree;
    use crate::watches::Watches;
    use std::path::Path;

    struct FakeHost;

    impl Host for FakeHost {
        fn dir_size(&self, _: &Path) -> u64 {
            67_109_337
        }
        fn file_descriptors(&self) -> Option<(u64, u64)> {
            Some((271, 20_000))
        }
        fn env(&self) -> Env {
            Env {
                host_name: "localhost".into(),
                executable: "/usr/bin/rookery".into(),
                pid: 42,
                os_name: "Linux".into(),
                os_arch: "amd64".into(),
                os_version: "6.1.0".into(),
                user_name: "root".into(),
                user_home: "/root".into(),
                user_dir: "/tmp".into(),
                rss_mb: Some(5),
            }
        }
    }

    const A: i64 = 72058435228794880;
    const B: i64 = 72058435228794881;

    /// The state ZooKeeper's captures were taken in: session A (10 s) with `/app`, `/app/x` and
    /// ephemerals `/app/e1`, `/app/e2`; session B (20 s) with the ephemeral `/b_eph`; data
    /// watches on `/app`, `/app/x` (A) and `/app`, `/nonexistent` (B), child watches besides.
    struct State {
        tree: DataTree,
        watches: Watches,
        stats: ServerStats,
        conns: Vec<(ConnId, ConnInfo)>,
    }

    impl State {
        fn new() -> State {
            let mut tree = DataTree::new();
            let mut zxid = 0;
            let mut apply = |tree: &mut DataTree, session: i64, kind: i32, body: TxnBody| {
                zxid += 1;
                let hdr = TxnHeader { client_id: session, cxid: zxid as i32, zxid, time: 0, kind };
                tree.apply(&hdr, &body, &mut Vec::new());
            };
            for (session, timeout) in [(A, 10_000), (B, 20_000)] {
                apply(
                    &mut tree,
                    session,
                    op::CREATE_SESSION,
                    TxnBody::CreateSession(CreateSessionTxn { time_out: timeout }),
                );
            }
            for (session, path, ephemeral) in [
                (A, "/app", false),
                (A, "/app/x", false),
                (A, "/app/e1", true),
                (A, "/app/e2", true),
                (B, "/b_eph", true),
            ] {
                let create =
                    CreateTxn { path: path.into(), data: None, acl: open_acl_unsafe(), ephemeral, parent_cversion: 1 };
                apply(&mut tree, session, op::CREATE, TxnBody::Create(create));
            }
            let mut watches = Watches::new();
            watches.add_data("/app", 1);
            watches.add_data("/app/x", 1);
            watches.add_child("/app", 1);
            watches.add_data("/app", 2);
            watches.add_data("/nonexistent", 2);
            watches.add_child("/", 2);
            let conn = |session, port: u16, timeout_ms| {
                let mut stats = ConnView::default();
                stats.record(op::GET_DATA, 7, 7, 2, 100);
                ConnInfo {
                    session,
                    remote: format!("/127.0.0.1:{port}"),
                    established_wall_ms: 1_795_335_570_115,
                    timeout_ms,
                    stats,
                    ..ConnInfo::default()
                }
            };
            let conns = vec![(1, conn(A, 40720, 10_000)), (2, conn(B, 40728, 20_000))];
            let mut stats = ServerStats::default();
            stats.record(3);
            State { tree, watches, stats, conns }
        }

        fn ask(&self, view: &View<'_>, name: &str, params: &[(&str, &str)]) -> String {
            let command = find(name).unwrap_or_else(|| panic!("{name} is a command"));
            let conns: Vec<(ConnId, &ConnInfo)> = self.conns.iter().map(|(id, c)| (*id, c)).collect();
            let session_expiry = vec![(12_860_000, vec![]), (12_864_000, vec![A]), (12_870_000, vec![B])];
            let question = Question::Command {
                command,
                params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                client_port: view.config.client_addr().port(),
            };
            let ask = Ask { cmd: question.word(), conn: 0, client_port: question.client_port() };
            let facts = Facts {
                ask: &ask,
                tree: &self.tree,
                watches: &self.watches,
                stats: &self.stats,
                conns: &conns,
                outstanding: 0,
                session_expiry: &session_expiry,
                quota_exceeded: &BTreeMap::new(),
                now_ms: 20_000,
                wall_ms: 1_795_335_590_000,
            };
            match answer(view, &facts, &question, &Recorder::default()) {
                Answer::Json(j) => j,
                other => panic!("{other:?}"),
            }
        }
    }

    fn standalone() -> Config {
        Config::parse(Path::new("zoo.cfg"), "tickTime=2000\ndataDir=/tmp/zkcap/data\nclientPort=21811\n").unwrap()
    }

    fn ensemble() -> Config {
        let mut c = Config::parse(
            Path::new("zoo.cfg"),
            "tickTime=200\ninitLimit=20\nsyncLimit=10\ndataDir=/tmp/zkcap/ens/d3\nclientPort=22193\n\
             clientPortAddress=127.0.0.1\nserver.1=127.0.0.1:22881:22891\nserver.2=127.0.0.1:22882:22892\n\
             server.3=127.0.0.1:22883:22893\nserver.4=127.0.0.1:22884:22894:observer\n",
        )
        .unwrap();
        c.my_id = Some(3);
        c
    }

    fn view<'a>(config: &'a Config, mode: &'a str, quorum: Option<&'a QuorumFigures>) -> View<'a> {
        View {
            mode,
            serving: true,
            config,
            started_wall_ms: 1_795_335_570_000,
            host: &FakeHost,
            quorum,
            secure_client_port: None,
        }
    }

    fn fixture(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/admin").join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A JSON value, parsed just far enough to compare shapes.
    #[derive(Debug)]
    enum V {
        Null,
        Bool,
        Num,
        Str(String),
        Arr(Vec<V>),
        Obj(Vec<(String, V)>),
    }

    fn parse(text: &str) -> V {
        fn value(s: &[u8], i: &mut usize) -> V {
            while s[*i].is_ascii_whitespace() {
                *i += 1;
            }
            match s[*i] {
                b'{' | b'[' => {
                    let object = s[*i] == b'{';
                    *i += 1;
                    let (mut entries, mut items) = (Vec::new(), Vec::new());
                    loop {
                        while s[*i].is_ascii_whitespace() || s[*i] == b',' {
                            *i += 1;
                        }
                        if s[*i] == b'}' || s[*i] == b']' {
                            *i += 1;
                            return if object { V::Obj(entries) } else { V::Arr(items) };
                        }
                        if object {
                            let V::Str(k) = value(s, i) else { panic!("a key at {i}") };
                            while s[*i] != b':' {
                                *i += 1;
                            }
                            *i += 1;
                            entries.push((k, value(s, i)));
                        } else {
                            items.push(value(s, i));
                        }
                    }
                }
                b'"' => {
                    let mut out = String::new();
                    *i += 1;
                    while s[*i] != b'"' {
                        if s[*i] == b'\\' {
                            *i += 1;
                        }
                        out.push(s[*i] as char);
                        *i += 1;
                    }
                    *i += 1;
                    V::Str(out)
                }
                b'n' => {
                    *i += 4;
                    V::Null
                }
                b't' | b'f' => {
                    *i += if s[*i] == b't' { 4 } else { 5 };
                    V::Bool
                }
                _ => {
                    while *i < s.len() && (s[*i].is_ascii_digit() || b"+-.eE".contains(&s[*i])) {
                        *i += 1;
                    }
                    V::Num
                }
            }
        }
        let mut i = 0;
        let v = value(text.as_bytes(), &mut i);
        assert!(text[i..].trim().is_empty(), "trailing text after the JSON value: {:?}", &text[i..]);
        v
    }

    /// The same keys and the same types, recursively (arrays by their first element, when both
    /// have one). Keys are in the same order at the top, which ZooKeeper builds in order; below,
    /// its maps are hash maps and its beans (`server_stats`) come out in reflection order, which
    /// changes from one run to the next.
    fn same_shape(ours: &V, theirs: &V, at: &str) -> Result<(), String> {
        match (ours, theirs) {
            (V::Obj(a), V::Obj(b)) => {
                let mut ka: Vec<&str> = a.iter().map(|(k, _)| k.as_str()).collect();
                let mut kb: Vec<&str> = b.iter().map(|(k, _)| k.as_str()).collect();
                if at != "$" {
                    ka.sort_unstable();
                    kb.sort_unstable();
                }
                if ka != kb {
                    return Err(format!("{at}: keys {ka:?}, ZooKeeper has {kb:?}"));
                }
                for (k, x) in a {
                    let y = &b.iter().find(|(kb, _)| kb == k).expect("same keys").1;
                    same_shape(x, y, &format!("{at}.{k}"))?;
                }
                Ok(())
            }
            (V::Arr(a), V::Arr(b)) => match (a.first(), b.first()) {
                (Some(x), Some(y)) => same_shape(x, y, &format!("{at}[0]")),
                _ => Ok(()),
            },
            (V::Null, V::Null) | (V::Bool, V::Bool) | (V::Num, V::Num) | (V::Str(_), V::Str(_)) => Ok(()),
            (a, b) => Err(format!("{at}: {a:?}, ZooKeeper has {b:?}")),
        }
    }

    fn assert_shape(ours: &str, zookeeper_file: &str) {
        let theirs = fixture(zookeeper_file);
        if let Err(e) = same_shape(&parse(ours), &parse(&theirs), "$") {
            panic!("{e}\n--- Rookery ---\n{ours}\n--- {zookeeper_file} ---\n{theirs}");
        }
    }

    #[test]
    fn standalone_answers_have_zookeepers_shapes() {
        let (config, state) = (standalone(), State::new());
        let v = view(&config, "standalone", None);
        for (name, file) in [
            ("srvr", "zookeeper_srvr.json"),
            ("stat", "zookeeper_stat.json"),
            ("cons", "zookeeper_cons.json"),
            ("conf", "zookeeper_conf.json"),
            ("wchs", "zookeeper_wchs.json"),
            ("wchc", "zookeeper_wchc.json"),
            ("wchp", "zookeeper_wchp.json"),
            ("dump", "zookeeper_dump.json"),
            ("dirs", "zookeeper_dirs.json"),
        ] {
            assert_shape(&state.ask(&v, name, &[]), file);
        }
        // Answers without anything host-specific are ZooKeeper's byte for byte.
        for (name, params, file) in [
            ("ruok", &[][..], "zookeeper_ruok.json"),
            ("isro", &[], "zookeeper_isro.json"),
            ("gtmk", &[], "zookeeper_gtmk.json"),
            ("hash", &[], "zookeeper_hash.json"),
            ("leader", &[], "zookeeper_leader.json"),
            ("voting_view", &[], "zookeeper_voting_view.json"),
            ("zabstate", &[], "zookeeper_zabstate.json"),
            ("srst", &[], "zookeeper_stat_reset.json"),
            ("crst", &[], "zookeeper_connection_stat_reset.json"),
            ("stmk", &[], "zookeeper_set_trace_mask.json"),
            ("wchs", &[], "zookeeper_wchs.json"),
        ] {
            assert_eq!(state.ask(&v, name, params), fixture(file), "{name}");
        }
        assert_eq!(unknown_command("nosuch"), fixture("zookeeper_nosuch.json"));
        assert_eq!(
            state.ask(&v, "set_trace_mask", &[("traceMask", "abc")]),
            "{\n  \"error\" : \"setTraceMask requires long traceMask argument, got abc\",\n  \
             \"command\" : \"set_trace_mask\"\n}"
        );
        let set = state.ask(&v, "set_trace_mask", &[("traceMask", "306")]);
        assert!(set.starts_with("{\n  \"tracemask\" : 306,\n  \"command\" : \"set_trace_mask\""), "{set}");
    }

    #[test]
    fn cons_splits_the_secure_port_and_marks_local_sessions() {
        let mut state = State::new();
        let config = standalone();
        let v = view(&config, "standalone", None);
        // A third connection came to the secureClientPort with a session no txn made.
        let local = ConnInfo { session: 0x77, secure: true, remote: "/127.0.0.1:40730".into(), ..ConnInfo::default() };
        state.conns.push((3, local));
        let cons = state.ask(&v, "cons", &[]);
        let (plain, secure) = cons.split_once("\"secure_connections\"").unwrap();
        assert_eq!(plain.matches("\"session_id\"").count(), 2, "{cons}");
        assert_eq!(secure.matches("\"session_id\" : 119").count(), 1, "{cons}");
        assert_eq!(cons.matches("\"local_session\" : true").count(), 1, "{cons}");
        assert!(secure.contains("\"local_session\" : true"), "{cons}");
    }

    #[test]
    fn monitor_and_environment_carry_mntr_and_envi() {
        let (config, state) = (standalone(), State::new());
        let v = view(&config, "standalone", None);
        let keys = |t: &str| match parse(t) {
            V::Obj(entries) => entries.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let ours = state.ask(&v, "mntr", &[]);
        let theirs = fixture("zookeeper_monitor.json");
        let theirs: Vec<String> = keys(&theirs).into_iter().filter(|k| !k.ends_with("_per_namespace")).collect();
        assert_eq!(keys(&ours), theirs);
        assert!(
            ours.contains("\n  \"znode_count\" : 10,\n") && ours.contains("\n  \"avg_latency\" : 3.0,\n"),
            "{ours}"
        );
        assert!(ours.contains("\n  \"watch_count\" : 6,\n") && ours.contains("\n  \"ephemerals_count\" : 3,\n"));
        let env = state.ask(&v, "envi", &[]);
        assert!(
            env.contains("\n  \"zookeeper.version\" : \"3.9.2-rookery-") && env.contains("\"os.arch\" : \"amd64\"")
        );
        assert!(
            env.ends_with("\"rookery.memory.rss\" : \"5MB\",\n  \"command\" : \"environment\",\n  \"error\" : null\n}")
        );
    }

    #[test]
    fn ensemble_answers_have_zookeepers_shapes() {
        let (config, state) = (ensemble(), State::new());
        let q = QuorumFigures {
            quorum_size: 3,
            leader_id: Some(3),
            leader: Some(LeaderFigures {
                learners: 3,
                synced_followers: 2,
                synced_observers: 1,
                pending_syncs: 0,
                proposal_size: BufferStats { last: 48, min: 48, max: 487 },
                established_ms: Some(0),
            }),
            ..QuorumFigures::default()
        };
        let leader = view(&config, "leader", Some(&q));
        for (name, file) in [
            ("srvr", "zookeeper_leader_server_stats.json"),
            ("zabstate", "zookeeper_leader_zabstate.json"),
            ("voting_view", "zookeeper_leader_voting_view.json"),
            ("leader", "zookeeper_leader_leader.json"),
        ] {
            assert_shape(&state.ask(&leader, name, &[]), file);
        }
        // The same state as ZooKeeper's: its zabstate and voting view differ only in the zxid.
        let zabstate = state.ask(&leader, "zabstate", &[]);
        let theirs = fixture("zookeeper_leader_zabstate.json").replace("0x10000000a", "0x7");
        let theirs = theirs
            .replace("\"zab_epoch\" : 1", "\"zab_epoch\" : 0")
            .replace("\"zab_counter\" : 10", "\"zab_counter\" : 7");
        assert_eq!(zabstate, theirs);
        assert_eq!(state.ask(&leader, "voting_view", &[]), fixture("zookeeper_leader_voting_view.json"));
        assert_eq!(state.ask(&leader, "leader", &[]), fixture("zookeeper_leader_leader.json"));
        let follower_q = QuorumFigures { leader: None, ..q.clone() };
        let follower = view(&config, "follower", Some(&follower_q));
        assert_eq!(state.ask(&follower, "leader", &[]), fixture("zookeeper_follower_leader.json"));
        assert!(!state.ask(&follower, "srvr", &[]).contains("proposal_stats"));
        // While electing: most commands say so; zabstate and envi answer.
        let looking_q = QuorumFigures { leader_id: None, leader: None, ..q.clone() };
        let looking = View { serving: false, ..view(&config, "looking", Some(&looking_q)) };
        assert_eq!(
            state.ask(&looking, "mntr", &[]),
            "{\n  \"command\" : \"monitor\",\n  \"error\" : \"This ZooKeeper instance is not currently serving requests\"\n}"
        );
        assert!(state.ask(&looking, "zabstate", &[]).contains("\"zabstate\" : \"election\""));
        assert!(state.ask(&looking, "envi", &[]).contains("\"error\" : null"));
    }

    #[test]
    fn commands_answer_under_their_primary_name_by_any_name() {
        assert_eq!(find("srvr").map(|c| c.name), Some("server_stats"));
        assert_eq!(find("server_stats").map(|c| c.name), Some("server_stats"));
        assert_eq!(find("config").map(|c| c.name), Some("configuration"));
        assert_eq!(find("RUOK"), None, "names are case-sensitive");
        assert_eq!(find("ruok/extra"), None);
        // Every four-letter word that reads something has an admin command.
        for word in ["ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dump", "dirs"] {
            let c = find(word).unwrap_or_else(|| panic!("{word}"));
            let q = Question::Command { command: c, params: vec![], client_port: 1 };
            assert_eq!(q.word(), word, "{}", c.name);
        }
        // The listing is ZooKeeper's, less the commands Rookery leaves out.
        let ours = listing("/commands");
        let theirs = fixture("zookeeper_commands.html");
        let mut rest = theirs.lines();
        for line in ours.lines() {
            assert!(rest.any(|l| l == line), "{line} is not in ZooKeeper's listing, in this order");
        }
        assert_eq!(ours.lines().count(), 2 * COMMANDS.len());
    }

    #[test]
    fn effects_are_named_for_the_owner_to_carry_out() {
        let q = |name: &str, params: &[(&str, &str)]| Question::Command {
            command: find(name).unwrap(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            client_port: 1,
        };
        assert_eq!(q("crst", &[]).effect(), Effect::ResetConnections);
        assert_eq!(q("stat_reset", &[]).effect(), Effect::ResetServer);
        assert_eq!(q("stmk", &[("traceMask", "-1")]).effect(), Effect::SetTraceMask(-1));
        assert_eq!(q("stmk", &[("traceMask", "x")]).effect(), Effect::None);
        assert_eq!(q("srvr", &[]).effect(), Effect::None);
        assert_eq!(Question::Figures.effect(), Effect::None);
    }
}
