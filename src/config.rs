//! `zoo.cfg` and `dataDir/myid`, read the way Apache ZooKeeper 3.8 reads them.
//!
//! ZooKeeper's `QuorumPeerConfig.parse` loads `zoo.cfg` with `java.util.Properties`, handles the
//! keys it knows, and turns every other key `k` into the JVM system property `zookeeper.k`; that is
//! how `snapCount`, `4lw.commands.whitelist` and friends reach the classes that read them. It then
//! checks the keys against each other, reads the ensemble from the `server.N` lines (or from
//! `dynamicConfigFile`), and reads this server's id from the first line of `dataDir/myid`.
//! [`Config::parse`] does all of that for the text of one file without touching the disk;
//! [`Config::load`] adds the reads of `zoo.cfg`, of `dynamicConfigFile` and of `myid`.
//!
//! # Syntax (`java.util.Properties`)
//!
//! ```text
//! file     = { line }                          a line ends at \n, \r or \r\n
//! line     = blank | comment | entry
//! comment  = ws* ("#" | "!") any*              a comment never continues
//! entry    = ws* key [ws* ("=" | ":")] ws* value
//! key      = characters up to the first unescaped "=", ":" or whitespace
//! value    = the rest of the logical line
//! ws       = " " | "\t" | "\f"
//! ```
//!
//! A line that ends in an odd number of backslashes continues on the next line, whose leading
//! whitespace is dropped. Escapes are `\t \n \r \f \uXXXX`, and `\c` stands for `c` otherwise.
//! ZooKeeper then trims keys and values (of every character up to U+0020). Keys are
//! case-sensitive. A key given twice keeps its last value, as `Properties` does, and we warn.
//!
//! # Keys
//!
//! Keys that `QuorumPeerConfig` reads itself are matched exactly. Keys that ZooKeeper reads as
//! system properties (`snapCount`, `preAllocSize`, `forceSync`, ...) are also accepted with their
//! `zookeeper.` prefix, which is how they are spelled on a `java -D` command line. Numbers are read
//! the way the Java code that consumes each key reads them: `Integer.parseInt` for the
//! `QuorumPeerConfig` keys, and `Integer.getInteger`/`Long.getLong` (which accept `0x1F`, `#1F`
//! and octal `017`) for the system properties. Every key without a field of its own lands in
//! [`Config::extra`]; keys that ZooKeeper 3.8 does not know at all also draw a warning.
//!
//! # Where Rookery differs from ZooKeeper, and why
//!
//! - A value that ZooKeeper reads as a system property and cannot parse (`snapCount=lots`) is an
//!   error here; ZooKeeper silently falls back to the default, which hides typos.
//! - `clientPort=0` asks the OS for a port (for tests); ZooKeeper reads 0 as "no client port".
//! - When `clientPort` is absent the server listens on 2181 ([`Config::client_addr`]).
//! - `4lw.commands.whitelist` defaults to the read-only commands, not ZooKeeper's lone `srvr`.
//! - The admin server is off unless `admin.serverPort` or `admin.enableServer` is set, and the
//!   metrics endpoint unless `metricsProvider.httpPort` is set or `metricsProvider.className`
//!   names ZooKeeper's Prometheus provider (then on 7000, its default).
//! - `metricsProvider.httpHost` and `admin.serverAddress` must be IP literals (or `localhost`).
//! - `initLimit` and `syncLimit` default to 10 and 5 ticks in standalone mode; an ensemble still
//!   needs them, with ZooKeeper's error.
//! - `jute.maxbuffer`, `readonlymode.enabled` and `znode.container.checkIntervalMs` are honoured in
//!   `zoo.cfg`; ZooKeeper reads them only from `-D` flags, so in its `zoo.cfg` they do nothing.
//! - Host names in `clientPortAddress` and in the client part of a `server.N` line must be IP
//!   literals (or `localhost`): parsing does no DNS. Quorum host names are kept as text.
//! - `server.N` values are trimmed like every other value; ZooKeeper does not trim them and
//!   rejects `2888:3888 ` with a trailing space.
//! - Hierarchical quorums (`group.N`, `weight.N`), several addresses per server (`a|b`), and a
//!   `myid` that is not listed in an ensemble are errors rather than runtime surprises.
//! - Negative numbers that ZooKeeper accepts but cannot mean (`initLimit=-1`, `server.-1`, a
//!   negative `myid` in an ensemble) are errors. Where a negative value does have a meaning in
//!   ZooKeeper it is kept, with a warning: `maxClientCnxns=-1` is unlimited (0), and
//!   `minSessionTimeout` below -1 is no lower bound (0).
//! - A file that is not UTF-8 is read as ISO-8859-1, as `Properties` reads every file; UTF-8 text
//!   is kept as UTF-8, so a non-ASCII `dataDir` names the directory the user meant.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use crate::limits::CONFIG_LINE_MAX;

/// `tickTime` when absent (ZooKeeperServer.DEFAULT_TICK_TIME).
pub const TICK_TIME_MS_DEFAULT: u32 = 3000;
/// The client port used when `clientPort` is absent.
pub const CLIENT_PORT_DEFAULT: u16 = 2181;
/// `maxClientCnxns` when absent: connections per client IP.
pub const MAX_CLIENT_CNXNS_DEFAULT: u32 = 60;
/// `initLimit` when absent in standalone mode, in ticks.
pub const INIT_LIMIT_DEFAULT: u32 = 10;
/// `syncLimit` when absent in standalone mode, in ticks.
pub const SYNC_LIMIT_DEFAULT: u32 = 5;
/// `autopurge.snapRetainCount` when absent, and the least ZooKeeper accepts.
pub const SNAP_RETAIN_COUNT_MIN: u32 = 3;
/// `snapCount` when absent: transactions between snapshots.
pub const SNAP_COUNT_DEFAULT: u64 = 100_000;
/// The least `snapCount` ZooKeeper accepts (it raises smaller values to this).
pub const SNAP_COUNT_MIN: u64 = 2;
/// `snapSizeLimitInKb` when absent (4 GiB of log between snapshots).
pub const SNAP_SIZE_LIMIT_KB_DEFAULT: u64 = 4_194_304;
/// `preAllocSize` when absent, in KiB (64 MiB log segments).
pub const PRE_ALLOC_SIZE_KB_DEFAULT: u64 = 65_536;
/// `globalOutstandingLimit` when absent.
pub const GLOBAL_OUTSTANDING_LIMIT_DEFAULT: u32 = 1000;
/// `znode.container.checkIntervalMs` when absent.
pub const CONTAINER_CHECK_INTERVAL_MS_DEFAULT: u64 = 60_000;
/// The admin server port when `admin.enableServer` is set without `admin.serverPort`.
pub const ADMIN_SERVER_PORT_DEFAULT: u16 = 8080;
/// The metrics port when `metricsProvider.className` names the Prometheus provider without
/// `metricsProvider.httpPort` (`PrometheusMetricsProvider`'s default).
pub const METRICS_HTTP_PORT_DEFAULT: u16 = 7000;
/// ZooKeeper's Prometheus metrics provider: naming it turns the metrics endpoint on.
pub const PROMETHEUS_PROVIDER_CLASS: &str = "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider";

/// Rookery's four-letter words when `4lw.commands.whitelist` is absent: every command that only
/// reads. ZooKeeper 3.8 enables only `srvr` by default; `dump` (session and ephemeral lists),
/// `crst` and `srst` (which reset statistics) stay off unless listed.
pub const FOUR_LETTER_WHITELIST_DEFAULT: &[&str] =
    &["ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dirs", "isro"];

/// The largest `zoo.cfg`, dynamic configuration file or `myid` file that [`Config::load`] reads.
/// Real files are a few KiB; the bound keeps a wrong path (a log file, a device) from eating
/// memory. It belongs in `limits.rs` next to `CONFIG_LINE_MAX` once that file is free to edit.
const CONFIG_FILE_BYTES_MAX: u64 = 1 << 20;

/// How much of `dataDir/myid` is read: ZooKeeper reads only its first line.
const MY_ID_BYTES_MAX: u64 = 4096;

/// `Integer.MAX_VALUE`: ZooKeeper reads most numbers into a Java `int`.
const JAVA_INT_MAX: i64 = i32::MAX as i64;
/// `Integer.MIN_VALUE`.
const JAVA_INT_MIN: i64 = i32::MIN as i64;
/// The range of a TCP port.
const PORT_RANGE: RangeInclusive<i64> = 0..=65535;

/// The server's configuration: `zoo.cfg` and, for an ensemble, `dataDir/myid`.
///
/// Built once at start-up by [`Config::load`] (or [`Config::parse`] in tests) and read-only
/// afterwards: `node::run` hands parts of it to the threads it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The `zoo.cfg` path as given on the command line; error messages and `conf` show it.
    pub file: PathBuf,
    /// `tickTime`: the length of one tick in milliseconds, the unit of `initLimit`, `syncLimit`
    /// and the default session timeouts. Default 3000.
    pub tick_time_ms: u32,
    /// `dataDir`: snapshots, `myid`, `acceptedEpoch` and `currentEpoch` live here. Required. A
    /// relative path is kept as given, so it resolves against the working directory, as
    /// ZooKeeper's `new File(value)` does.
    pub data_dir: PathBuf,
    /// `dataLogDir`: where the transaction logs go. Defaults to `data_dir`.
    pub data_log_dir: PathBuf,
    /// `clientPort`. `None` when absent (the server then listens on 2181, see
    /// [`Config::client_addr`]). `Some(0)` is a Rookery extension for tests: the OS chooses a free
    /// port, which the server reports once it listens; ZooKeeper reads 0 as "no client port".
    /// In an ensemble the client part of this server's `server.N` line, if any, overrides it.
    pub client_port: Option<u16>,
    /// `clientPortAddress`: the address to listen on for clients; `None` means every interface
    /// (0.0.0.0). ZooKeeper refuses it without `clientPort`, and so do we.
    pub client_port_address: Option<IpAddr>,
    /// `maxClientCnxns`: concurrent connections allowed from one client IP; 0 = unlimited.
    /// Default 60.
    pub max_client_cnxns: u32,
    /// `minSessionTimeout` in ms; default (also for -1 in the file) 2 ticks.
    pub min_session_timeout_ms: u32,
    /// `maxSessionTimeout` in ms; default (also for -1 in the file) 20 ticks.
    pub max_session_timeout_ms: u32,
    /// `initLimit`: ticks a follower may take to connect to and sync with the leader. Required in
    /// an ensemble (ZooKeeper's "initLimit is not set"); 10 when absent in standalone mode.
    pub init_limit: u32,
    /// `syncLimit`: ticks a follower may lag the leader before it is dropped. Required in an
    /// ensemble; 5 when absent in standalone mode.
    pub sync_limit: u32,
    /// The ensemble, from the `server.N=host:quorumPort:electionPort[:role][;[clientAddr:]port]`
    /// lines (or from `dynamicConfigFile`, which only [`Config::load`] reads). Empty in
    /// standalone mode.
    pub servers: BTreeMap<u64, ServerSpec>,
    /// The configuration version: the hexadecimal suffix of `dynamicConfigFile`'s name
    /// (`zoo.cfg.dynamic.100000000`), as ZooKeeper's `getVersionFromFilename` reads it; 0 for
    /// `server.N` lines in `zoo.cfg` itself.
    pub config_version: u64,
    /// `peerType`. Once `myid` is known, the role in this server's `server.N` line wins, with a
    /// warning if the two disagree, as in ZooKeeper's `setupPeerType`.
    pub peer_type: PeerType,
    /// This server's id from the first line of `dataDir/myid`, set only when `servers` is not
    /// empty, and required when [`Config::is_quorum`]. A standalone server keeps `None`, though
    /// [`Config::load`] still refuses a `myid` that is not a number, as ZooKeeper does. Always
    /// `None` from [`Config::parse`].
    pub my_id: Option<u64>,
    /// `4lw.commands.whitelist`, split on commas and trimmed; `*` enables every command. When the
    /// key is absent this is [`FOUR_LETTER_WHITELIST_DEFAULT`] (Rookery's choice; ZooKeeper 3.8
    /// enables only `srvr`). As in ZooKeeper, a given list always gains `srvr`, and `isro` when
    /// read-only mode is on. Use [`Config::four_letter_enabled`] to ask about one command.
    pub four_letter_whitelist: Vec<String>,
    /// `autopurge.snapRetainCount`: snapshots (and the logs they need) kept by the purge task.
    /// Default 3; ZooKeeper raises smaller values to 3, with a warning.
    pub autopurge_snap_retain_count: u32,
    /// `autopurge.purgeInterval`: hours between purges; 0 (the default) turns purging off.
    pub autopurge_purge_interval_hours: u32,
    /// `snapCount`: transactions logged between snapshots (ZooKeeper adds jitter). Default
    /// 100000; ZooKeeper raises values below 2 to 2.
    pub snap_count: u64,
    /// `snapSizeLimitInKb`: log volume between snapshots; 0 turns the limit off. Default 4194304.
    pub snap_size_limit_kb: u64,
    /// `txnLogSizeLimitInKb`: roll the log at this size; -1 (the default) or 0 = no limit.
    pub txn_log_size_limit_kb: i64,
    /// `preAllocSize`: log files grow in steps of this many KiB. Default 65536.
    pub pre_alloc_size_kb: u64,
    /// `jute.maxbuffer`: the largest znode data and record field, in bytes. Default 0xfffff.
    pub jute_maxbuffer: usize,
    /// `extendedTypesEnabled`: allow TTL nodes (and the extended session id layout they need).
    /// Default false.
    pub extended_types_enabled: bool,
    /// `forceSync`: fsync the log before acknowledging. ZooKeeper turns it off only for the
    /// exact value `no`. Default yes.
    pub force_sync: bool,
    /// `skipACL`: skip every ACL check. ZooKeeper turns it on only for the exact value `yes`.
    /// Default no.
    pub skip_acl: bool,
    /// `DigestAuthenticationProvider.superDigest`: `super:<base64 sha1>`; a client that
    /// authenticates as that digest user bypasses ACLs.
    pub super_digest: Option<String>,
    /// `standaloneEnabled`: with one participant, run standalone rather than as a one-server
    /// ensemble. Default true.
    pub standalone_enabled: bool,
    /// `reconfigEnabled`: allow the `reconfig` operation. Default false.
    pub reconfig_enabled: bool,
    /// `localSessionsEnabled`: learners create sessions locally, without a quorum write.
    pub local_sessions_enabled: bool,
    /// `localSessionsUpgradingEnabled`: a local session that creates an ephemeral is upgraded.
    pub local_sessions_upgrading_enabled: bool,
    /// `readonlymode.enabled`: serve reads while cut off from the quorum.
    pub read_only_mode_enabled: bool,
    /// `globalOutstandingLimit`: requests in flight before the server stops reading from
    /// clients. Default 1000.
    pub global_outstanding_limit: u32,
    /// `znode.container.checkIntervalMs`: how often empty containers and expired TTL nodes are
    /// reaped. Default 60000.
    pub container_check_interval_ms: u64,
    /// `admin.serverPort`: the HTTP admin server. Rookery runs it only when configured: when
    /// this key is set, or when `admin.enableServer` is set to anything but `false` (then on
    /// 8080, ZooKeeper's default). `admin.enableServer=false` turns it off.
    pub admin_server_port: Option<u16>,
    /// `admin.serverAddress`: the address the admin server listens on. Default 0.0.0.0, as
    /// ZooKeeper's.
    pub admin_server_address: IpAddr,
    /// `metricsProvider.httpPort`: the Prometheus endpoint (`/metrics`); off unless this key is
    /// set or `metricsProvider.className` names ZooKeeper's Prometheus provider (then 7000).
    pub metrics_http_port: Option<u16>,
    /// `metricsProvider.httpHost`: the address the Prometheus endpoint listens on. Default
    /// 0.0.0.0, as ZooKeeper's.
    pub metrics_http_host: IpAddr,
    /// Every other accepted key, with its value, both trimmed (for `conf`, `envi` and for keys
    /// a later Rookery version learns to use).
    pub extra: BTreeMap<String, String>,
    /// One message per unknown key, duplicate key or adjusted value, each starting with
    /// `file:line:`. The server logs them at start-up.
    pub warnings: Vec<String>,
}

/// One `server.N` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// The `N` of `server.N`.
    pub id: u64,
    /// The host as written (a name or an IP literal, without IPv6 brackets); resolved when
    /// connecting, as ZooKeeper does.
    pub host: String,
    /// The port followers connect to on the leader.
    pub quorum_port: u16,
    /// The port for leader election.
    pub election_port: u16,
    /// `participant` (the default) or `observer`.
    pub role: PeerType,
    /// The client address after `;`, if any; a bare port means 0.0.0.0.
    pub client_addr: Option<SocketAddr>,
}

/// Whether a server votes (participant) or only follows (observer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerType {
    Participant,
    Observer,
}

/// Why a configuration was refused: the file, the line and the key when known, and what was
/// expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file at fault: `zoo.cfg`, the dynamic configuration file or `myid`.
    pub file: PathBuf,
    /// The 1-based line, when one line is at fault.
    pub line: Option<usize>,
    /// The key, when one key is at fault.
    pub key: Option<String>,
    /// What was wrong, e.g. `expected a positive integer, got "abc"`.
    pub message: String,
}

impl ConfigError {
    fn new(file: &Path, line: Option<usize>, key: Option<&str>, message: impl Into<String>) -> Self {
        ConfigError { file: file.to_path_buf(), line, key: key.map(str::to_owned), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    /// `conf/zoo.cfg:7: tickTime: expected a positive integer, got "abc"`, leaving out the line
    /// and the key when they are unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for PeerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PeerType::Participant => "participant",
            PeerType::Observer => "observer",
        })
    }
}

impl fmt::Display for ServerSpec {
    /// ZooKeeper's `QuorumServer.toString`, as `conf` and the dynamic configuration show it:
    /// `host:2888:3888:participant;0.0.0.0:2181`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host.parse::<IpAddr>() {
            Ok(ip) => f.write_str(&java_host_string(ip))?,
            Err(_) => f.write_str(&self.host)?,
        }
        write!(f, ":{}:{}:{}", self.quorum_port, self.election_port, self.role)?;
        if let Some(addr) = self.client_addr {
            write!(f, ";{}:{}", java_host_string(addr.ip()), addr.port())?;
        }
        Ok(())
    }
}

/// An IP address as Java's `InetSocketAddress.getHostString` shows it, bracketed for IPv6 as
/// ZooKeeper's `delimitedHostString` does: IPv6 in full, without `::` compression
/// (`[0:0:0:0:0:0:0:1]`).
pub(crate) fn java_host_string(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let groups: Vec<String> = v6.segments().iter().map(|g| format!("{g:x}")).collect();
            format!("[{}]", groups.join(":"))
        }
    }
}

impl Config {
    /// Reads `path` as ZooKeeper's `QuorumPeerConfig.parse` does: the file itself, then the
    /// `dynamicConfigFile` it names (if any), then `dataDir/myid` (if it exists, or if the file
    /// lists an ensemble).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_properties(path, &[])
    }

    /// [`Config::load`], with JVM system properties given as `-Dkey=value` flags (see
    /// [`jvm_properties`]) as ZooKeeper sees them: the keys it reads as system properties
    /// (`zookeeper.snapCount`, `readonlymode.enabled`, ...) take effect unless `zoo.cfg` sets the
    /// same key, which ZooKeeper applies later with `System.setProperty`. Each property comes
    /// with the name of the variable that held it, for messages.
    pub fn load_with_properties(path: &Path, props: &[(String, String, String)]) -> Result<Config, ConfigError> {
        let text = read_text(path, CONFIG_FILE_BYTES_MAX)?;
        let mut parser = Parser::new(path);
        parser.props = props.to_vec();
        parser.read_static(&text)?;
        if let Some(dynamic) = parser.config.extra.get("dynamicConfigFile").cloned() {
            parser.read_dynamic(Path::new(&dynamic))?;
            parser.config.config_version =
                dynamic.rsplit_once('.').and_then(|(_, hex)| u64::from_str_radix(hex, 16).ok()).unwrap_or(0);
        }
        parser.check_ensemble()?;
        parser.read_my_id()?;
        Ok(parser.config)
    }

    /// The file at `path` and the `dynamicConfigFile` it names, without `myid`: the ensemble as
    /// any host that has the files sees it (`rookery status`).
    pub fn load_ensemble(path: &Path) -> Result<Config, ConfigError> {
        let text = read_text(path, CONFIG_FILE_BYTES_MAX)?;
        let mut parser = Parser::new(path);
        parser.read_static(&text)?;
        if let Some(dynamic) = parser.config.extra.get("dynamicConfigFile").cloned() {
            parser.read_dynamic(Path::new(&dynamic))?;
        }
        parser.check_ensemble()?;
        Ok(parser.config)
    }

    /// Parses the text of a `zoo.cfg` found at `path` (used only in messages). Pure: it reads
    /// neither `myid` (so `my_id` is `None`) nor `dynamicConfigFile` (so a file that names one
    /// yields no servers); [`Config::load`] does both.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut parser = Parser::new(path);
        parser.read_static(text)?;
        if !parser.config.extra.contains_key("dynamicConfigFile") {
            parser.check_ensemble()?;
        }
        Ok(parser.config)
    }

    /// Whether this server runs as a member of an ensemble: it lists servers, and either
    /// standalone mode is off or more than one of them votes (ZooKeeper's `isDistributed`).
    /// One participant with `standaloneEnabled=true` runs standalone, as ZooKeeper does for
    /// HBase's sake. (Counting all servers instead of participants gives the same answer for
    /// every configuration that [`Config::parse`] accepts, since observers need a quorum.)
    /// The ensemble as a [`QuorumVerifier`](crate::verifier::QuorumVerifier).
    pub fn verifier(&self) -> crate::verifier::QuorumVerifier {
        crate::verifier::QuorumVerifier::new(self.servers.clone(), self.config_version)
    }

    pub fn is_quorum(&self) -> bool {
        let participants = self.servers.values().filter(|s| s.role == PeerType::Participant).count();
        !self.servers.is_empty() && (!self.standalone_enabled || participants > 1)
    }

    /// The address to listen on for clients: `clientPortAddress` (or 0.0.0.0) and `clientPort`
    /// (or 2181). Without `clientPort`, the client part of this server's `server.N` line, if any,
    /// as in ZooKeeper 3.5+. [`Config::load`] already copies that into `client_port`; this also
    /// covers a parsed config whose `my_id` was set afterwards.
    pub fn client_addr(&self) -> SocketAddr {
        if self.client_port.is_none() {
            if let Some(addr) = self.my_id.and_then(|id| self.servers.get(&id)).and_then(|s| s.client_addr) {
                return addr;
            }
        }
        let ip = self.client_port_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        SocketAddr::new(ip, self.client_port.unwrap_or(CLIENT_PORT_DEFAULT))
    }

    /// Whether the four-letter word `command` (e.g. `"ruok"`) is whitelisted.
    pub fn four_letter_enabled(&self, command: &str) -> bool {
        self.four_letter_whitelist.iter().any(|c| c == "*" || c == command)
    }

    /// A key Rookery keeps untyped (in [`Config::extra`]), as `zoo.cfg` or a JVM `-D` flag gave
    /// it: `name` itself, else `zookeeper.<name>`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.extra.get(name).or_else(|| self.extra.get(&format!("zookeeper.{name}"))).map(String::as_str)
    }

    /// Whether an untyped key is `true`, as Java's `Boolean.parseBoolean` reads it (any case;
    /// anything else, or no key, is false).
    pub fn flag(&self, name: &str) -> bool {
        self.property(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The untyped keys that start with `prefix` (with or without `zookeeper.`), with their values.
    pub fn properties_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.extra.iter().filter_map(move |(k, v)| {
            let bare = k.strip_prefix("zookeeper.").unwrap_or(k);
            bare.starts_with(prefix).then_some((bare, v.as_str()))
        })
    }

    /// Nothing but untyped properties (a client's `-D` flags, named after `source`), for the
    /// code that reads ZooKeeper's property names, such as the TLS settings.
    pub fn of_properties(source: &Path, props: impl IntoIterator<Item = (String, String)>) -> Config {
        let mut c = Config::defaults(source);
        c.extra.extend(props);
        c
    }

    /// The configuration of a file that sets only `dataDir`, before any key is applied.
    fn defaults(file: &Path) -> Config {
        Config {
            file: file.to_path_buf(),
            tick_time_ms: TICK_TIME_MS_DEFAULT,
            data_dir: PathBuf::new(),
            data_log_dir: PathBuf::new(),
            client_port: None,
            client_port_address: None,
            max_client_cnxns: MAX_CLIENT_CNXNS_DEFAULT,
            min_session_timeout_ms: 0,
            max_session_timeout_ms: 0,
            init_limit: INIT_LIMIT_DEFAULT,
            sync_limit: SYNC_LIMIT_DEFAULT,
            servers: BTreeMap::new(),
            config_version: 0,
            peer_type: PeerType::Participant,
            my_id: None,
            four_letter_whitelist: Vec::new(),
            autopurge_snap_retain_count: SNAP_RETAIN_COUNT_MIN,
            autopurge_purge_interval_hours: 0,
            snap_count: SNAP_COUNT_DEFAULT,
            snap_size_limit_kb: SNAP_SIZE_LIMIT_KB_DEFAULT,
            txn_log_size_limit_kb: -1,
            pre_alloc_size_kb: PRE_ALLOC_SIZE_KB_DEFAULT,
            jute_maxbuffer: crate::limits::JUTE_MAXBUFFER_DEFAULT,
            extended_types_enabled: false,
            force_sync: true,
            skip_acl: false,
            super_digest: None,
            standalone_enabled: true,
            reconfig_enabled: false,
            local_sessions_enabled: false,
            local_sessions_upgrading_enabled: false,
            read_only_mode_enabled: false,
            global_outstanding_limit: GLOBAL_OUTSTANDING_LIMIT_DEFAULT,
            container_check_interval_ms: CONTAINER_CHECK_INTERVAL_MS_DEFAULT,
            admin_server_port: None,
            admin_server_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            metrics_http_port: None,
            metrics_http_host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            extra: BTreeMap::new(),
            warnings: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// A key with a field of its own in [`Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    TickTime,
    DataDir,
    DataLogDir,
    ClientPort,
    ClientPortAddress,
    MaxClientCnxns,
    MinSessionTimeout,
    MaxSessionTimeout,
    InitLimit,
    SyncLimit,
    PeerType,
    SnapRetainCount,
    PurgeInterval,
    StandaloneEnabled,
    ReconfigEnabled,
    LocalSessionsEnabled,
    LocalSessionsUpgradingEnabled,
    MetricsHttpPort,
    MetricsHttpHost,
    FourLetterWhitelist,
    SnapCount,
    SnapSizeLimitKb,
    TxnLogSizeLimitKb,
    PreAllocSizeKb,
    JuteMaxbuffer,
    ExtendedTypesEnabled,
    ForceSync,
    SkipAcl,
    SuperDigest,
    ReadOnlyModeEnabled,
    GlobalOutstandingLimit,
    ContainerCheckIntervalMs,
    AdminServerPort,
    AdminEnableServer,
    AdminServerAddress,
}

/// Keys that `QuorumPeerConfig.parseProperties` reads itself, matched exactly.
const QUORUM_PEER_CONFIG_KEYS: &[(&str, Key)] = &[
    ("tickTime", Key::TickTime),
    ("dataDir", Key::DataDir),
    ("dataLogDir", Key::DataLogDir),
    ("clientPort", Key::ClientPort),
    ("clientPortAddress", Key::ClientPortAddress),
    ("maxClientCnxns", Key::MaxClientCnxns),
    ("minSessionTimeout", Key::MinSessionTimeout),
    ("maxSessionTimeout", Key::MaxSessionTimeout),
    ("initLimit", Key::InitLimit),
    ("syncLimit", Key::SyncLimit),
    ("peerType", Key::PeerType),
    ("autopurge.snapRetainCount", Key::SnapRetainCount),
    ("autopurge.purgeInterval", Key::PurgeInterval),
    ("standaloneEnabled", Key::StandaloneEnabled),
    ("reconfigEnabled", Key::ReconfigEnabled),
    ("localSessionsEnabled", Key::LocalSessionsEnabled),
    ("localSessionsUpgradingEnabled", Key::LocalSessionsUpgradingEnabled),
    ("metricsProvider.httpPort", Key::MetricsHttpPort),
    ("metricsProvider.httpHost", Key::MetricsHttpHost),
];

/// Keys that ZooKeeper reads as system properties, named without their `zookeeper.` prefix;
/// `zoo.cfg` may spell them either way.
const SYSTEM_PROPERTY_KEYS: &[(&str, Key)] = &[
    ("4lw.commands.whitelist", Key::FourLetterWhitelist),
    ("snapCount", Key::SnapCount),
    ("snapSizeLimitInKb", Key::SnapSizeLimitKb),
    ("txnLogSizeLimitInKb", Key::TxnLogSizeLimitKb),
    ("preAllocSize", Key::PreAllocSizeKb),
    ("jute.maxbuffer", Key::JuteMaxbuffer),
    ("extendedTypesEnabled", Key::ExtendedTypesEnabled),
    ("forceSync", Key::ForceSync),
    ("skipACL", Key::SkipAcl),
    ("DigestAuthenticationProvider.superDigest", Key::SuperDigest),
    ("readonlymode.enabled", Key::ReadOnlyModeEnabled),
    ("globalOutstandingLimit", Key::GlobalOutstandingLimit),
    ("znode.container.checkIntervalMs", Key::ContainerCheckIntervalMs),
    ("admin.serverPort", Key::AdminServerPort),
    ("admin.enableServer", Key::AdminEnableServer),
    ("admin.serverAddress", Key::AdminServerAddress),
];

/// The JVM system property naming the JAAS login configuration file (SASL users); Rookery also
/// takes it as a `zoo.cfg` key.
pub const JAAS_LOGIN_CONFIG: &str = "java.security.auth.login.config";

/// The system properties ZooKeeper reads under their own names rather than `zookeeper.<name>`.
const BARE_SYSTEM_PROPERTIES: [&str; 3] = ["jute.maxbuffer", "readonlymode.enabled", "znode.container.checkIntervalMs"];

/// The typed key a JVM system property `name` sets, as ZooKeeper reads it: `zookeeper.<key>`,
/// or one of [`BARE_SYSTEM_PROPERTIES`] as it is.
fn system_property_key(name: &str) -> Option<Key> {
    let key = if BARE_SYSTEM_PROPERTIES.contains(&name) {
        name
    } else {
        name.strip_prefix("zookeeper.").filter(|k| !BARE_SYSTEM_PROPERTIES.contains(k))?
    };
    SYSTEM_PROPERTY_KEYS.iter().find(|(n, _)| *n == key).map(|&(_, k)| k)
}

/// The `-Dkey=value` flags of a JVM command line such as zkServer.sh's `SERVER_JVMFLAGS` or
/// `JVMFLAGS` (split on white space, as the unquoted shell variable is); other flags (`-Xmx1g`,
/// `-XX:+UseG1GC`) have no meaning here and are skipped.
pub fn jvm_properties(flags: &str) -> Vec<(String, String)> {
    flags
        .split_whitespace()
        .filter_map(|f| f.strip_prefix("-D"))
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// The typed key that `name` spells, if any.
fn typed_key(name: &str) -> Option<Key> {
    if let Some(&(_, key)) = QUORUM_PEER_CONFIG_KEYS.iter().find(|(n, _)| *n == name) {
        return Some(key);
    }
    let bare = name.strip_prefix("zookeeper.").unwrap_or(name);
    SYSTEM_PROPERTY_KEYS.iter().find(|(n, _)| *n == bare).map(|&(_, key)| key)
}

/// How `QuorumPeerConfig` reads a key that has no field of its own here; a bad value is an
/// error there, so it is one here.
#[derive(Clone, Copy, Debug)]
enum Untyped {
    /// `Integer.parseInt`.
    Int,
    /// `Integer.parseInt`, then a port for `InetSocketAddress` unless it is 0.
    Port,
    /// `Long.parseLong`.
    Long,
    /// `true` or `false`, in any case.
    Bool,
    /// Any text.
    Text,
    /// `electionAlg`: only 3 (fast leader election) is left.
    ElectionAlg,
    /// `version`: hexadecimal, read by `QuorumMaj`.
    HexVersion,
}

/// The keys `QuorumPeerConfig` reads that Rookery keeps only in [`Config::extra`].
const QUORUM_PEER_CONFIG_UNTYPED: &[(&str, Untyped)] = &[
    ("secureClientPort", Untyped::Port),
    ("secureClientPortAddress", Untyped::Text),
    ("observerMasterPort", Untyped::Int),
    ("clientPortListenBacklog", Untyped::Int),
    ("connectToLearnerMasterLimit", Untyped::Int),
    ("electionAlg", Untyped::ElectionAlg),
    ("quorumListenOnAllIPs", Untyped::Bool),
    ("syncEnabled", Untyped::Bool),
    ("dynamicConfigFile", Untyped::Text),
    ("sslQuorum", Untyped::Bool),
    ("portUnification", Untyped::Bool),
    ("sslQuorumReloadCertFiles", Untyped::Bool),
    ("quorum.auth.enableSasl", Untyped::Bool),
    ("quorum.auth.serverRequireSasl", Untyped::Bool),
    ("quorum.auth.learnerRequireSasl", Untyped::Bool),
    ("quorum.auth.learner.saslLoginContext", Untyped::Text),
    ("quorum.auth.server.saslLoginContext", Untyped::Text),
    ("quorum.auth.kerberos.servicePrincipal", Untyped::Text),
    ("quorum.cnxn.threads.size", Untyped::Int),
    ("jvm.pause.info-threshold.ms", Untyped::Long),
    ("jvm.pause.warn-threshold.ms", Untyped::Long),
    ("jvm.pause.sleep.time.ms", Untyped::Long),
    ("jvm.pause.monitor", Untyped::Bool),
    ("metricsProvider.className", Untyped::Text),
    ("multiAddress.enabled", Untyped::Bool),
    ("multiAddress.reachabilityCheckTimeoutMs", Untyped::Int),
    ("multiAddress.reachabilityCheckEnabled", Untyped::Bool),
    ("oraclePath", Untyped::Text),
    ("version", Untyped::HexVersion),
];

/// System properties that ZooKeeper 3.8 reads (named without `zookeeper.`), which pass through
/// `zoo.cfg` without a warning even though Rookery has no field for them.
const KNOWN_SYSTEM_PROPERTIES: &[&str] = &[
    "allowSaslFailedClients",
    "bitHashCacheSize",
    "client.portUnification",
    "clientCnxnSocket",
    "clientTcpKeepAlive",
    "closeSessionTxn.enabled",
    "cnxTimeout",
    "digest.enabled",
    "DigestAuthenticationProvider.digestAlg",
    "DigestAuthenticationProvider.enabled",
    "electionPortBindRetry",
    "emulate353TTLNodes",
    "enableEagerACLCheck",
    "enforce.auth.enabled",
    "enforce.auth.schemes",
    "enforceQuota",
    "flushDelay",
    "forward_learner_requests_to_commit_processor_disabled",
    "fsync.warningthresholdms",
    "jute.maxbuffer.extrasize",
    "kinit",
    "letAnySaslUserDoX",
    "largeRequestMaxBytes",
    "largeRequestThreshold",
    "maxBatchSize",
    "maxCnxns",
    "maxGetChildrenResponseCacheSize",
    "maxInProcessingDeadWatchers",
    "maxResponseCacheSize",
    "maxWriteQueuePollTime",
    "quorumCnxnTimeoutMs",
    "request_throttler.shutdownTimeout",
    "serverCnxnFactory",
    "sessionRequireClientSASLAuth",
    "superUser",
    "tcpKeepAlive",
    "traceFile",
    "watchManagerName",
    "X509AuthenticationProvider.superUser",
    "znode.container.maxNeverUsedIntervalMs",
    "znode.container.maxPerMinute",
];

/// Prefixes of whole families of ZooKeeper system properties, accepted without a warning.
const KNOWN_SYSTEM_PROPERTY_PREFIXES: &[&str] = &[
    "admin.",
    "audit.",
    "authProvider.",
    "commitProcessor.",
    "connection_throttle_",
    "fastleader.",
    "follower.",
    "leader.",
    "learner.",
    "messageTracker.",
    "metricsProvider.",
    "netty.",
    "nio.",
    "observer.",
    "requestStale",
    "requestThrottle",
    "sasl.",
    "SASLAuthenticationProvider.",
    "snapshot.",
    "ssl.",
    "watcherClean",
];

fn is_known_system_property(key: &str) -> bool {
    KNOWN_SYSTEM_PROPERTIES.contains(&key) || KNOWN_SYSTEM_PROPERTY_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Why Rookery ignores a value ZooKeeper would act on, if it does.
fn unsupported(key: &str, value: &str) -> Option<&'static str> {
    let on = value.eq_ignore_ascii_case("true");
    match key {
        "portUnification" if on => Some("Rookery's quorum port does not take plain and TLS peers at once"),
        "oraclePath" => Some("Rookery does not support the oracle quorum verifier"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// Builds a [`Config`] from the entries of `zoo.cfg`, in the order ZooKeeper checks them.
struct Parser<'a> {
    /// The `zoo.cfg` path, for messages.
    file: &'a Path,
    /// JVM system properties (source, name, value), applied before `zoo.cfg`'s keys.
    props: Vec<(String, String, String)>,
    /// The configuration so far: defaults overwritten by each key as it is applied.
    config: Config,
    /// The line of each typed key that was given (after duplicates are dropped).
    lines: BTreeMap<Key, (usize, String)>,
    /// The line of each untyped key that was given.
    extra_lines: BTreeMap<String, usize>,
    /// `minSessionTimeout` and `maxSessionTimeout` as written; -1 means "the default".
    min_session_timeout: Option<i64>,
    max_session_timeout: Option<i64>,
    /// `4lw.commands.whitelist` as written.
    four_letter_whitelist: Option<String>,
    /// `admin.enableServer` as written.
    admin_enable_server: Option<String>,
}

/// How a number is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Syntax {
    /// `Integer.parseInt` / `Long.parseLong`: an optional sign and decimal digits.
    Decimal,
    /// `Integer.getInteger` / `Long.getLong`, which use `Long.decode`: also `0x1F`, `#1F` and
    /// octal `017`.
    Decode,
}

impl<'a> Parser<'a> {
    fn new(file: &'a Path) -> Self {
        Parser {
            file,
            props: Vec::new(),
            config: Config::defaults(file),
            lines: BTreeMap::new(),
            extra_lines: BTreeMap::new(),
            min_session_timeout: None,
            max_session_timeout: None,
            four_letter_whitelist: None,
            admin_enable_server: None,
        }
    }

    /// Applies every entry of `zoo.cfg`, then the checks of `QuorumPeerConfig.parseProperties`
    /// that do not involve the ensemble.
    fn read_static(&mut self, text: &str) -> Result<(), ConfigError> {
        let entries = properties::read(text).map_err(|e| ConfigError::new(self.file, Some(e.line), None, e.message))?;
        let entries = self.last_wins(self.file, entries);
        let in_file: std::collections::BTreeSet<Key> = entries.iter().filter_map(|e| typed_key(&e.key)).collect();
        for (source, name, value) in std::mem::take(&mut self.props) {
            let Some(key) = system_property_key(&name) else {
                // Untyped properties Rookery reads (authProvider.N, ssl.*, the JAAS file) go to
                // `extra` by their zoo.cfg name; zoo.cfg's own entries, applied later, win.
                let bare = name.strip_prefix("zookeeper.").filter(|k| is_known_system_property(k));
                if let Some(k) = bare.or((name == JAAS_LOGIN_CONFIG).then_some(name.as_str())) {
                    self.config.extra.insert(k.to_owned(), value);
                }
                continue;
            };
            if in_file.contains(&key) {
                let message = format!("{source}: -D{name} is overridden by {}", self.file.display());
                self.config.warnings.push(message);
                continue;
            }
            let entry = properties::Entry { line: 0, key: name.clone(), value };
            self.apply_typed(key, &entry)
                .map_err(|e| ConfigError::new(Path::new(&source), None, Some(&name), e.message))?;
        }
        let dynamic = entries.iter().any(|e| e.key == "dynamicConfigFile");
        for entry in &entries {
            if let Some(key) = typed_key(&entry.key) {
                self.apply_typed(key, entry)?;
            } else if is_ensemble_key(&entry.key) {
                if dynamic {
                    return Err(
                        self.error(entry, "must be in a separate dynamic config file, as dynamicConfigFile is set")
                    );
                }
                self.apply_ensemble_key(self.file, entry)?;
            } else {
                self.apply_untyped(entry)?;
            }
        }
        self.finish_static()
    }

    /// Keeps the last of several entries for one key, as `Properties` does, with a warning for
    /// each one dropped. `snapCount` and `zookeeper.snapCount` count as one key.
    fn last_wins(&mut self, file: &Path, entries: Vec<properties::Entry>) -> Vec<properties::Entry> {
        let identity = |e: &properties::Entry| match typed_key(&e.key) {
            Some(key) => format!("{key:?}"),
            None => format!("={}", e.key),
        };
        let mut last: BTreeMap<String, usize> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            last.insert(identity(e), i);
        }
        let mut kept = Vec::with_capacity(last.len());
        for (i, e) in entries.iter().enumerate() {
            let winner = last.get(&identity(e)).copied().unwrap_or(i);
            if winner == i {
                kept.push(e.clone());
            } else {
                let later = &entries[winner];
                let message = format!(
                    "{} is set again on line {} (as {}); the later value wins, as in java.util.Properties",
                    e.key, later.line, later.key
                );
                warn(&mut self.config.warnings, file, Some(e.line), message);
            }
        }
        kept
    }

    fn apply_typed(&mut self, key: Key, entry: &properties::Entry) -> Result<(), ConfigError> {
        let v = entry.value.as_str();
        let err = |m: String| ConfigError::new(self.file, Some(entry.line), Some(&entry.key), m);
        let mut notes: Vec<String> = Vec::new();
        let c = &mut self.config;
        match key {
            Key::TickTime => c.tick_time_ms = int(v, 1..=JAVA_INT_MAX, "a positive integer").map_err(err)?,
            Key::DataDir => c.data_dir = path(v).map_err(err)?,
            Key::DataLogDir => c.data_log_dir = path(v).map_err(err)?,
            Key::ClientPort => c.client_port = Some(int(v, PORT_RANGE, "a port number (0-65535)").map_err(err)?),
            Key::ClientPortAddress => c.client_port_address = Some(ip(v).map_err(err)?),
            Key::MaxClientCnxns => {
                let n: i64 = int(v, JAVA_INT_MIN..=JAVA_INT_MAX, "an integer (0 = unlimited)").map_err(err)?;
                // ZooKeeper only limits when the value is positive.
                c.max_client_cnxns = u32::try_from(n).unwrap_or_else(|_| {
                    notes.push(format!("{n} means unlimited, as 0 does"));
                    0
                });
            }
            Key::MinSessionTimeout => {
                let n: i64 = int(v, JAVA_INT_MIN..=JAVA_INT_MAX, "milliseconds, or -1 for 2 ticks").map_err(err)?;
                // Below -1 ZooKeeper has no lower bound at all, which is what 0 means.
                self.min_session_timeout = Some(if n < -1 {
                    notes.push(format!("{n} means no lower bound, as 0 does"));
                    0
                } else {
                    n
                });
            }
            Key::MaxSessionTimeout => {
                self.max_session_timeout =
                    Some(int(v, -1..=JAVA_INT_MAX, "milliseconds, or -1 for 20 ticks").map_err(err)?)
            }
            Key::InitLimit => c.init_limit = int(v, 0..=JAVA_INT_MAX, "a number of ticks").map_err(err)?,
            Key::SyncLimit => c.sync_limit = int(v, 0..=JAVA_INT_MAX, "a number of ticks").map_err(err)?,
            Key::PeerType => c.peer_type = peer_type(v).map_err(err)?,
            Key::SnapRetainCount => {
                let n: i64 = int(v, JAVA_INT_MIN..=JAVA_INT_MAX, "an integer").map_err(err)?;
                c.autopurge_snap_retain_count = if n < i64::from(SNAP_RETAIN_COUNT_MIN) {
                    notes.push(format!("{n} is below the minimum; using {SNAP_RETAIN_COUNT_MIN}, as ZooKeeper does"));
                    SNAP_RETAIN_COUNT_MIN
                } else {
                    u32::try_from(n).map_err(|_| err(format!("expected an integer, got {v:?}")))?
                };
            }
            Key::PurgeInterval => {
                let n: i64 = int(v, JAVA_INT_MIN..=JAVA_INT_MAX, "a number of hours (0 = off)").map_err(err)?;
                c.autopurge_purge_interval_hours = if n < 0 {
                    notes.push(format!("{n} turns purging off, as 0 does"));
                    0
                } else {
                    u32::try_from(n).map_err(|_| err(format!("expected a number of hours, got {v:?}")))?
                };
            }
            Key::StandaloneEnabled => c.standalone_enabled = strict_bool(v).map_err(err)?,
            Key::ReconfigEnabled => c.reconfig_enabled = strict_bool(v).map_err(err)?,
            Key::LocalSessionsEnabled => c.local_sessions_enabled = strict_bool(v).map_err(err)?,
            Key::LocalSessionsUpgradingEnabled => c.local_sessions_upgrading_enabled = strict_bool(v).map_err(err)?,
            Key::MetricsHttpPort => {
                c.metrics_http_port = Some(int(v, PORT_RANGE, "a port number (0-65535)").map_err(err)?)
            }
            Key::MetricsHttpHost => c.metrics_http_host = ip(v).map_err(err)?,
            Key::FourLetterWhitelist => self.four_letter_whitelist = Some(v.to_owned()),
            Key::SnapCount => {
                let n: i64 = number(v, Syntax::Decode, JAVA_INT_MIN..=JAVA_INT_MAX, "an integer").map_err(err)?;
                c.snap_count = match u64::try_from(n) {
                    Ok(n) if n >= SNAP_COUNT_MIN => n,
                    _ => {
                        notes.push(format!("{n} is below the minimum; using {SNAP_COUNT_MIN}, as ZooKeeper does"));
                        SNAP_COUNT_MIN
                    }
                };
            }
            Key::SnapSizeLimitKb => {
                let n: i64 =
                    number(v, Syntax::Decode, i64::MIN..=i64::MAX, "a number of KiB (0 = no limit)").map_err(err)?;
                c.snap_size_limit_kb = u64::try_from(n).unwrap_or_else(|_| {
                    notes.push(format!("{n} turns the limit off, as 0 does"));
                    0
                });
            }
            Key::TxnLogSizeLimitKb => {
                c.txn_log_size_limit_kb =
                    number(v, Syntax::Decode, i64::MIN..=i64::MAX, "a number of KiB (-1 = no limit)").map_err(err)?
            }
            Key::PreAllocSizeKb => {
                // ZooKeeper multiplies by 1024 into a Java long.
                c.pre_alloc_size_kb =
                    number(v, Syntax::Decimal, 0..=i64::MAX / 1024, "a non-negative number of KiB").map_err(err)?
            }
            Key::JuteMaxbuffer => {
                c.jute_maxbuffer =
                    number(v, Syntax::Decode, 1..=JAVA_INT_MAX, "a positive number of bytes").map_err(err)?
            }
            Key::ExtendedTypesEnabled => c.extended_types_enabled = java_get_boolean(v, &mut notes),
            Key::ReadOnlyModeEnabled => c.read_only_mode_enabled = java_get_boolean(v, &mut notes),
            Key::ForceSync => {
                // FileTxnLog: `!System.getProperty("zookeeper.forceSync", "yes").equals("no")`.
                c.force_sync = v != "no";
                if v != "yes" && v != "no" {
                    notes.push(format!("ZooKeeper only knows yes and no here; {v:?} means yes"));
                }
            }
            Key::SkipAcl => {
                // ZooKeeperServer: `System.getProperty("zookeeper.skipACL", "no").equals("yes")`.
                c.skip_acl = v == "yes";
                if v != "yes" && v != "no" {
                    notes.push(format!("ZooKeeper only knows yes and no here; {v:?} means no"));
                }
            }
            Key::SuperDigest => {
                if !v.contains(':') {
                    notes.push("expected user:base64(sha1(user:password)); this digest can never match".to_owned());
                }
                c.super_digest = Some(v.to_owned());
            }
            Key::GlobalOutstandingLimit => {
                c.global_outstanding_limit =
                    number(v, Syntax::Decode, 0..=JAVA_INT_MAX, "a non-negative integer").map_err(err)?
            }
            Key::ContainerCheckIntervalMs => {
                c.container_check_interval_ms =
                    number(v, Syntax::Decode, 1..=JAVA_INT_MAX, "a positive number of milliseconds").map_err(err)?
            }
            Key::AdminServerPort => {
                c.admin_server_port =
                    Some(number(v, Syntax::Decode, PORT_RANGE, "a port number (0-65535)").map_err(err)?)
            }
            Key::AdminEnableServer => self.admin_enable_server = Some(v.to_owned()),
            Key::AdminServerAddress => c.admin_server_address = ip(v).map_err(err)?,
        }
        for note in notes {
            warn(&mut self.config.warnings, self.file, Some(entry.line), format!("{}: {note}", entry.key));
        }
        self.lines.insert(key, (entry.line, entry.key.clone()));
        Ok(())
    }

    /// Adds one `server.N` line (from `zoo.cfg` or the dynamic file `file`) to the ensemble.
    fn apply_ensemble_key(&mut self, file: &Path, entry: &properties::Entry) -> Result<(), ConfigError> {
        let err = |m: String| ConfigError::new(file, Some(entry.line), Some(&entry.key), m);
        let Some(id_text) = entry.key.strip_prefix("server.") else {
            return Err(err("hierarchical quorums (group and weight keys) are not supported by Rookery".to_owned()));
        };
        let id = number(id_text, Syntax::Decimal, 0..=i64::MAX, "a non-negative integer")
            .map_err(|_| err(format!("expected server.<id> with a non-negative integer id, got {:?}", entry.key)))?;
        let spec = server_spec(id, &entry.value).map_err(err)?;
        if self.config.servers.insert(id, spec).is_some() {
            let message = format!("{}: server {id} is listed twice; this later line wins", entry.key);
            warn(&mut self.config.warnings, file, Some(entry.line), message);
        }
        Ok(())
    }

    /// Stores a key without a field of its own, checking it the way ZooKeeper does.
    fn apply_untyped(&mut self, entry: &properties::Entry) -> Result<(), ConfigError> {
        let (key, v) = (entry.key.as_str(), entry.value.as_str());
        let err = |m: String| ConfigError::new(self.file, Some(entry.line), Some(key), m);
        match QUORUM_PEER_CONFIG_UNTYPED.iter().find(|(name, _)| *name == key).map(|&(_, kind)| kind) {
            Some(Untyped::Int) => {
                number::<i64>(v, Syntax::Decimal, JAVA_INT_MIN..=JAVA_INT_MAX, "an integer").map_err(err)?;
            }
            Some(Untyped::Port) => {
                number::<u16>(v, Syntax::Decimal, PORT_RANGE, "a port number (0-65535)").map_err(err)?;
            }
            Some(Untyped::Long) => {
                number::<i64>(v, Syntax::Decimal, i64::MIN..=i64::MAX, "an integer").map_err(err)?;
            }
            Some(Untyped::Bool) => {
                strict_bool(v).map_err(err)?;
            }
            Some(Untyped::ElectionAlg) => {
                if java_parse_long(v) != Some(3) {
                    return Err(err(format!("only 3 (fast leader election) is supported, got {v:?}")));
                }
            }
            Some(Untyped::HexVersion) => {
                if i64::from_str_radix(v, 16).is_err() {
                    return Err(err(format!("expected a hexadecimal version, got {v:?}")));
                }
            }
            Some(Untyped::Text) => {}
            None if is_known_system_property(key) || key == JAAS_LOGIN_CONFIG => {}
            None => {
                let message = format!("unknown key {key}: passed through as zookeeper.{key} as ZooKeeper does");
                warn(&mut self.config.warnings, self.file, Some(entry.line), message);
            }
        }
        if let Some(why) = unsupported(key, v) {
            let message = format!("{key}: ignored, because {why}");
            warn(&mut self.config.warnings, self.file, Some(entry.line), message);
        }
        self.config.extra.insert(key.to_owned(), v.to_owned());
        self.extra_lines.insert(key.to_owned(), entry.line);
        Ok(())
    }

    /// The checks at the end of `QuorumPeerConfig.parseProperties`, in its order, and the
    /// defaults that depend on other keys.
    fn finish_static(&mut self) -> Result<(), ConfigError> {
        self.check_sasl()?;

        if !self.lines.contains_key(&Key::DataDir) {
            return Err(ConfigError::new(self.file, None, Some("dataDir"), "required but not set"));
        }
        if !self.lines.contains_key(&Key::DataLogDir) {
            self.config.data_log_dir = self.config.data_dir.clone();
        }

        if self.config.client_port.is_none() {
            if let Some((line, key)) = self.lines.get(&Key::ClientPortAddress) {
                return Err(ConfigError::new(self.file, Some(*line), Some(key), "is set but clientPort is not set"));
            }
        }
        let secure_port = self.config.extra.get("secureClientPort").map(String::as_str);
        if matches!(secure_port, None | Some("0")) {
            if let Some(line) = self.extra_lines.get("secureClientPortAddress") {
                let message = "is set but secureClientPort is not set";
                return Err(ConfigError::new(self.file, Some(*line), Some("secureClientPortAddress"), message));
            }
        }

        self.finish_session_timeouts()?;
        self.finish_four_letter_whitelist();

        let admin_enable = self.admin_enable_server.as_deref();
        if admin_enable == Some("false") {
            self.config.admin_server_port = None;
        } else if admin_enable.is_some() && self.config.admin_server_port.is_none() {
            self.config.admin_server_port = Some(ADMIN_SERVER_PORT_DEFAULT);
        }
        let provider = self.config.extra.get("metricsProvider.className").map(String::as_str);
        if provider == Some(PROMETHEUS_PROVIDER_CLASS) && self.config.metrics_http_port.is_none() {
            self.config.metrics_http_port = Some(METRICS_HTTP_PORT_DEFAULT);
        }
        Ok(())
    }

    /// ZooKeeper refuses SASL requirements that cannot be met.
    fn check_sasl(&self) -> Result<(), ConfigError> {
        let on = |key: &str| self.config.flag(key);
        let enable = "quorum.auth.enableSasl";
        let server = "quorum.auth.serverRequireSasl";
        let learner = "quorum.auth.learnerRequireSasl";
        for (needed, wanted) in [(enable, server), (enable, learner), (learner, server)] {
            if on(wanted) && !on(needed) {
                let line = self.extra_lines.get(wanted).copied();
                let message = format!("{needed} is disabled, so cannot enable {wanted}");
                return Err(ConfigError::new(self.file, line, Some(wanted), message));
            }
        }
        Ok(())
    }

    /// Session timeouts default to 2 and 20 ticks once `tickTime` is known.
    fn finish_session_timeouts(&mut self) -> Result<(), ConfigError> {
        let tick = i64::from(self.config.tick_time_ms);
        let min = self.min_session_timeout.filter(|&n| n != -1).unwrap_or(2 * tick);
        let max = self.max_session_timeout.filter(|&n| n != -1).unwrap_or(20 * tick);
        let (tick_line, tick_key) = self.located(Key::TickTime, "tickTime");
        let too_large = || {
            let message = format!("{tick} ms is too large: the default session timeouts would overflow");
            ConfigError::new(self.file, tick_line, Some(&tick_key), message)
        };
        self.config.min_session_timeout_ms = u32::try_from(min).map_err(|_| too_large())?;
        self.config.max_session_timeout_ms = u32::try_from(max).map_err(|_| too_large())?;
        if min > max {
            // Blame the key that was given; if both were, the minimum.
            let (line, key, message) = if self.lines.contains_key(&Key::MinSessionTimeout) {
                let (line, key) = self.located(Key::MinSessionTimeout, "minSessionTimeout");
                (line, key, format!("{min} ms is larger than maxSessionTimeout ({max} ms)"))
            } else {
                let (line, key) = self.located(Key::MaxSessionTimeout, "maxSessionTimeout");
                (line, key, format!("{max} ms is smaller than minSessionTimeout ({min} ms)"))
            };
            return Err(ConfigError::new(self.file, line, Some(&key), message));
        }
        Ok(())
    }

    /// The whitelist as ZooKeeper's `FourLetterCommands.isEnabled` builds it, with Rookery's
    /// default when the key is absent.
    fn finish_four_letter_whitelist(&mut self) {
        let list = &mut self.config.four_letter_whitelist;
        match &self.four_letter_whitelist {
            None => *list = FOUR_LETTER_WHITELIST_DEFAULT.iter().map(|s| s.to_string()).collect(),
            Some(text) => {
                *list = text.split(',').map(java_trim).filter(|c| !c.is_empty()).map(str::to_owned).collect();
                if !list.iter().any(|c| c == "*") {
                    // ZooKeeper always enables srvr, and isro in read-only mode.
                    let mut implied = vec!["srvr"];
                    if self.config.read_only_mode_enabled {
                        implied.push("isro");
                    }
                    for command in implied {
                        if !list.iter().any(|c| c == command) {
                            list.push(command.to_owned());
                        }
                    }
                }
            }
        }
    }

    /// Reads the `server.N` lines of `dynamicConfigFile`, as ZooKeeper does when that key is set.
    fn read_dynamic(&mut self, file: &Path) -> Result<(), ConfigError> {
        let text = read_text(file, CONFIG_FILE_BYTES_MAX)?;
        let entries = properties::read(&text).map_err(|e| ConfigError::new(file, Some(e.line), None, e.message))?;
        for entry in self.last_wins(file, entries) {
            if entry.key == "version" {
                let message = "not allowed in a dynamic config file; the version is its file name suffix";
                return Err(ConfigError::new(file, Some(entry.line), Some(&entry.key), message));
            }
            if !is_ensemble_key(&entry.key) {
                let message = "unrecognised parameter: a dynamic config file holds only server.N lines";
                return Err(ConfigError::new(file, Some(entry.line), Some(&entry.key), message));
            }
            self.apply_ensemble_key(file, &entry)?;
        }
        Ok(())
    }

    /// The checks of `QuorumPeerConfig.parseDynamicConfig` and `checkValidity` that need the
    /// whole ensemble but not `myid`.
    fn check_ensemble(&mut self) -> Result<(), ConfigError> {
        let c = &mut self.config;
        let participants = c.servers.values().filter(|s| s.role == PeerType::Participant).count();
        let observers = c.servers.len() - participants;
        if participants == 0 {
            if !c.standalone_enabled {
                let (line, key) = self.located(Key::StandaloneEnabled, "standaloneEnabled");
                let message = "is false, so the servers list needs at least one participant";
                return Err(ConfigError::new(self.file, line, Some(&key), message));
            }
            if observers > 0 {
                return Err(ConfigError::new(
                    self.file,
                    None,
                    None,
                    "observers without participants is an invalid configuration",
                ));
            }
        } else if participants == 1 && c.standalone_enabled {
            if observers > 0 {
                return Err(ConfigError::new(
                    self.file,
                    None,
                    None,
                    "observers without a quorum is an invalid configuration",
                ));
            }
            let message = "only one server is listed and standaloneEnabled is true, so this server runs standalone";
            warn(&mut c.warnings, self.file, None, message.to_owned());
        } else if participants <= 2 {
            let message =
                format!("{participants} participants tolerate no server failure; an ensemble needs at least 3");
            warn(&mut c.warnings, self.file, None, message);
        } else if participants % 2 == 0 {
            let message = format!(
                "{participants} participants tolerate no more failures than {}; consider an odd number",
                participants - 1
            );
            warn(&mut c.warnings, self.file, None, message);
        }

        if self.config.is_quorum() {
            for (key, name) in [(Key::InitLimit, "initLimit"), (Key::SyncLimit, "syncLimit")] {
                let value = if key == Key::InitLimit { self.config.init_limit } else { self.config.sync_limit };
                match self.lines.get(&key) {
                    None => {
                        return Err(ConfigError::new(
                            self.file,
                            None,
                            Some(name),
                            "required in an ensemble but not set",
                        ))
                    }
                    Some((line, written)) if value == 0 => {
                        return Err(ConfigError::new(
                            self.file,
                            Some(*line),
                            Some(written),
                            "must be at least 1 tick in an ensemble",
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        if self.config.servers.is_empty() {
            // Without servers there is no myid to consult, and ZooKeeper's setupPeerType
            // settles on participant.
            self.settle_peer_type();
        }
        Ok(())
    }

    /// Reads `dataDir/myid` as ZooKeeper's `setupMyId` does (the first line, not trimmed,
    /// as a decimal long), then applies `setupClientPort` and `setupPeerType`.
    fn read_my_id(&mut self) -> Result<(), ConfigError> {
        let path = self.config.data_dir.join("myid");
        if self.config.servers.is_empty() {
            // A standalone server has no use for its id, but ZooKeeper still reads the file when
            // it exists and refuses one that is not a number.
            if path.is_file() {
                let first_line = read_first_line(&path)?;
                number::<i64>(first_line.as_str(), Syntax::Decimal, i64::MIN..=i64::MAX, "a number")
                    .map_err(|m| ConfigError::new(&path, Some(1), None, m))?;
            }
            return Ok(());
        }
        if path.is_file() {
            let first_line = read_first_line(&path)?;
            let id = number(first_line.as_str(), Syntax::Decimal, 0..=i64::MAX, "a server id (a non-negative integer)")
                .map_err(|m| ConfigError::new(&path, Some(1), None, m))?;
            self.config.my_id = Some(id);
        } else if self.config.is_quorum() {
            let message =
                format!("missing: {} lists an ensemble, so this file must hold this server's id", self.file.display());
            return Err(ConfigError::new(&path, None, None, message));
        }

        if let Some(id) = self.config.my_id {
            let listed = self.config.servers.get(&id).cloned();
            match listed {
                None if self.config.is_quorum() => {
                    let message = format!("my id {id} is not in the servers list of {}", self.file.display());
                    return Err(ConfigError::new(&path, Some(1), None, message));
                }
                None => {}
                Some(spec) => self.adopt_client_addr(&spec)?,
            }
        }
        self.settle_peer_type();
        Ok(())
    }

    /// ZooKeeper's `setupClientPort`: the client address in this server's `server.N` line wins
    /// over `clientPort`/`clientPortAddress`, which must agree with it if both are given.
    fn adopt_client_addr(&mut self, spec: &ServerSpec) -> Result<(), ConfigError> {
        let Some(listed) = spec.client_addr else {
            return Ok(());
        };
        let c = &mut self.config;
        if let Some(port) = c.client_port.filter(|&p| p != 0) {
            let ip = c.client_port_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let differs = if ip.is_unspecified() { port != listed.port() } else { SocketAddr::new(ip, port) != listed };
            if differs {
                let (line, key) = self.located(Key::ClientPort, "clientPort");
                let message = format!(
                    "the client address {} differs from the one in server.{}: {listed}",
                    SocketAddr::new(ip, port),
                    spec.id
                );
                return Err(ConfigError::new(self.file, line, Some(&key), message));
            }
        }
        c.client_port = Some(listed.port());
        c.client_port_address = Some(listed.ip());
        Ok(())
    }

    /// ZooKeeper's `setupPeerType`: the role in the servers list wins over `peerType`.
    fn settle_peer_type(&mut self) {
        let c = &self.config;
        let listed = c.my_id.and_then(|id| c.servers.get(&id)).map_or(PeerType::Participant, |s| s.role);
        if listed != c.peer_type {
            let (line, _) = self.located(Key::PeerType, "peerType");
            let message =
                format!("peerType: {} does not match the servers list ({listed}); using {listed}", c.peer_type);
            warn(&mut self.config.warnings, self.file, line, message);
            self.config.peer_type = listed;
        }
    }

    /// The line and spelling of a typed key, or no line and `default` when it was not given.
    fn located(&self, key: Key, default: &str) -> (Option<usize>, String) {
        match self.lines.get(&key) {
            Some((line, written)) => (Some(*line), written.clone()),
            None => (None, default.to_owned()),
        }
    }

    fn error(&self, entry: &properties::Entry, message: &str) -> ConfigError {
        ConfigError::new(self.file, Some(entry.line), Some(&entry.key), message)
    }
}

/// Keys that describe the ensemble: `server.N`, and ZooKeeper's hierarchical `group`/`weight`
/// keys (matched by prefix, as ZooKeeper does).
fn is_ensemble_key(key: &str) -> bool {
    key.starts_with("server.") || key.starts_with("group") || key.starts_with("weight")
}

/// Appends `file[:line]: message` to `warnings`.
fn warn(warnings: &mut Vec<String>, file: &Path, line: Option<usize>, message: String) {
    match line {
        Some(line) => warnings.push(format!("{}:{line}: {message}", file.display())),
        None => warnings.push(format!("{}: {message}", file.display())),
    }
}

/// The first line of `path`, as Java's `BufferedReader.readLine` returns it: up to the first
/// `\n` or `\r`, not trimmed. An empty file has no first line.
fn read_first_line(path: &Path) -> Result<String, ConfigError> {
    let text = read_text(path, MY_ID_BYTES_MAX)?;
    match text.split(['\n', '\r']).next() {
        Some(line) if !text.is_empty() => Ok(line.to_owned()),
        _ => Err(ConfigError::new(path, None, None, "empty; expected this server's id")),
    }
}

/// Reads at most `max` bytes of `path` as text: UTF-8 when it is valid, else ISO-8859-1 (the
/// encoding `Properties.load(InputStream)` assumes).
fn read_text(path: &Path, max: u64) -> Result<String, ConfigError> {
    let cannot = |e: std::io::Error| ConfigError::new(path, None, None, format!("cannot read: {e}"));
    let file = File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(ConfigError::new(path, None, None, format!("larger than {max} bytes; is this the right file?")));
    }
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()))
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// Java's `String.trim`: strips every character up to U+0020 from both ends.
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// A decimal `int` key (`Integer.parseInt`) in `range`, as type `T`.
fn int<T: TryFrom<i64>>(value: &str, range: RangeInclusive<i64>, expected: &str) -> Result<T, String> {
    number(value, Syntax::Decimal, range, expected)
}

/// A number in `syntax` that lies in `range` and fits `T`, or `expected ..., got "value"`.
fn number<T: TryFrom<i64>>(
    value: &str,
    syntax: Syntax,
    range: RangeInclusive<i64>,
    expected: &str,
) -> Result<T, String> {
    let parsed = match syntax {
        Syntax::Decimal => java_parse_long(value),
        Syntax::Decode => java_decode(value),
    };
    parsed
        .filter(|n| range.contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("expected {expected}, got {value:?}"))
}

/// `Long.parseLong`: an optional `+` or `-` and at least one ASCII digit. (Java also accepts
/// other Unicode digits; no real configuration uses them.)
fn java_parse_long(s: &str) -> Option<i64> {
    java_parse_long_radix(s, 10)
}

/// `Long.parseLong(s, radix)`: an optional `+` or `-` and at least one digit of `radix`.
pub(crate) fn java_parse_long_radix(s: &str, radix: u32) -> Option<i64> {
    let (negative, digits) = split_sign(s);
    signed(negative, magnitude(digits, radix)?)
}

/// `Long.decode`, which `Integer.getInteger` and `Long.getLong` use: an optional sign, then
/// `0x`, `0X` or `#` for hexadecimal, a leading `0` for octal, or decimal.
fn java_decode(s: &str) -> Option<i64> {
    let (negative, rest) = split_sign(s);
    let (radix, digits) = if let Some(hex) = rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        (16, hex)
    } else if let Some(hex) = rest.strip_prefix('#') {
        (16, hex)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    signed(negative, magnitude(digits, radix)?)
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// The value of non-empty unsigned `digits` in `radix`, if it fits 64 bits.
fn magnitude(digits: &str, radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.chars().try_fold(0u64, |n, c| n.checked_mul(u64::from(radix))?.checked_add(u64::from(c.to_digit(radix)?)))
}

fn signed(negative: bool, magnitude: u64) -> Option<i64> {
    let n = if negative { -i128::from(magnitude) } else { i128::from(magnitude) };
    i64::try_from(n).ok()
}

/// `QuorumPeerConfig.parseBoolean`: `true` or `false` in any case, else an error.
fn strict_bool(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("expected true or false, got {value:?}"))
    }
}

/// `Boolean.getBoolean`: `true` in any case is true, anything else false (with a note).
fn java_get_boolean(value: &str, notes: &mut Vec<String>) -> bool {
    let on = value.eq_ignore_ascii_case("true");
    if !on && !value.eq_ignore_ascii_case("false") {
        notes.push(format!("expected true or false; {value:?} means false, as in ZooKeeper"));
    }
    on
}

fn path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        return Err("expected a directory path, got \"\"".to_owned());
    }
    Ok(PathBuf::from(value))
}

fn peer_type(value: &str) -> Result<PeerType, String> {
    match value.to_ascii_lowercase().as_str() {
        "participant" => Ok(PeerType::Participant),
        "observer" => Ok(PeerType::Observer),
        _ => Err(format!("expected participant or observer, got {value:?}")),
    }
}

/// An IP literal, bracketed or not, or `localhost`. ZooKeeper would resolve a host name here;
/// parsing stays free of DNS, so we ask for the address instead.
fn ip(host: &str) -> Result<IpAddr, String> {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    bare.parse().map_err(|_| format!("expected an IP address, got {host:?} (Rookery does not resolve host names here)"))
}

/// Java's `String.split(regex)` for a one-character pattern: trailing empty pieces are dropped,
/// but the empty string splits into one empty piece.
pub(crate) fn java_split(s: &str, separator: char) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    let mut pieces: Vec<&str> = s.split(separator).collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

/// ZooKeeper's `ConfigUtils.getHostAndPort`: `host:port...` split on colons, where the host may
/// be an IPv6 literal in brackets.
fn host_and_port(s: &str) -> Result<Vec<&str>, String> {
    let Some(rest) = s.strip_prefix('[') else {
        return Ok(java_split(s, ':'));
    };
    let Some(close) = rest.find(']') else {
        return Err(format!("{s:?} starts with '[' but has no matching ']'"));
    };
    let host = &rest[..close];
    let after = &rest[close + 1..];
    if after.is_empty() {
        return Ok(vec![host]);
    }
    let Some(ports) = after.strip_prefix(':').filter(|p| !p.is_empty()) else {
        return Err(format!("{s:?} does not have a port after ']:'"));
    };
    let mut pieces = vec![host];
    pieces.extend(java_split(ports, ':'));
    Ok(pieces)
}

/// The value of `server.<id>`, as ZooKeeper's `QuorumServer(long, String)` reads it:
/// `host:quorumPort:electionPort[:participant|:observer][;[clientHost:]clientPort]`.
pub(crate) fn server_spec(id: u64, value: &str) -> Result<ServerSpec, String> {
    let wrong_form = || {
        format!(
            "expected host:quorumPort:electionPort[:participant|:observer][;[clientAddress:]clientPort], got {value:?}"
        )
    };
    let server_client = java_split(value, ';');
    if server_client.is_empty() || server_client.len() > 2 {
        return Err(wrong_form());
    }

    let client_addr = match server_client.get(1) {
        None => None,
        Some(client) => {
            let parts = host_and_port(client)?;
            let (host, port) = match parts.as_slice() {
                [port] => ("0.0.0.0", *port),
                [host, port] => (*host, *port),
                _ => return Err(wrong_form()),
            };
            let port: u16 = int(port, PORT_RANGE, "a client port number (0-65535)")?;
            Some(SocketAddr::new(ip(host)?, port))
        }
    };

    if server_client[0].contains('|') {
        return Err(format!("several addresses for one server ({:?}) are not supported by Rookery", server_client[0]));
    }
    let parts = host_and_port(server_client[0])?;
    if parts.len() < 3 || parts.len() > 4 {
        return Err(wrong_form());
    }
    let host = parts[0];
    if host.is_empty() {
        return Err(format!("expected a host name before the ports, got {value:?}"));
    }
    let quorum_port: u16 = int(parts[1], PORT_RANGE, "a quorum port number (0-65535)")?;
    let election_port: u16 = int(parts[2], PORT_RANGE, "an election port number (0-65535)")?;
    if quorum_port == election_port {
        return Err(format!("the quorum port and the election port must differ, got {quorum_port} twice"));
    }
    let role = match parts.get(3) {
        None => PeerType::Participant,
        Some(role) => peer_type(java_trim(role))?,
    };
    Ok(ServerSpec { id, host: host.to_owned(), quorum_port, election_port, role, client_addr })
}

// ---------------------------------------------------------------------------------------------
// java.util.Properties
// ---------------------------------------------------------------------------------------------

/// `java.util.Properties.load`: logical lines (`LineReader.readLine`), then the split of each
/// into key and value with escapes undone (`load0` and `loadConvert`), mirrored step by step so
/// the odd corners (a continuation into a blank line, `\` alone on a line) behave as in Java.
/// The dynamic configuration file of `qv` (`QuorumPeerConfig.writeDynamicConfig`): its
/// `server.N=...` lines sorted as strings (so `server.10` sorts before `server.2`), joined by line
/// ends, without a final one and without the version (the file name carries it).
pub fn dynamic_file_text(qv: &crate::verifier::QuorumVerifier) -> String {
    let mut lines: Vec<String> = qv.servers.values().map(|s| format!("server.{}={s}", s.id)).collect();
    lines.sort();
    lines.join("\n")
}

/// `zoo.cfg` once its ensemble lives in `dynamic` (`QuorumPeerConfig.editStaticConfig`): every
/// entry but the `server.N`, `group`, `weight`, `peerType` and `dynamicConfigFile` keys (and,
/// when `erase_client` because this server's `server.N` line names its client address,
/// `clientPort` and `clientPortAddress`), as `key=value` lines, then
/// `dynamicConfigFile=<dynamic>`. ZooKeeper writes the keys in hash order; we keep the file's.
pub fn edited_static_config(text: &str, dynamic: &str, erase_client: bool) -> Result<String, String> {
    let mut out = String::new();
    for (key, value) in read_properties(text)? {
        let dropped =
            ["server.", "group", "weight", "dynamicConfigFile", "peerType"].iter().any(|p| key.starts_with(p))
                || (erase_client && key.starts_with("clientPort"));
        if !dropped {
            out.push_str(&format!("{key}={value}\n"));
        }
    }
    out.push_str(&format!("dynamicConfigFile={dynamic}\n"));
    Ok(out)
}

/// `java.util.Properties.load` of `text`: (key, value) pairs in file order, or the first syntax
/// error as `line N: message`.
pub(crate) fn read_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    properties::read(text)
        .map(|entries| entries.into_iter().map(|e| (e.key, e.value)).collect())
        .map_err(|e| format!("line {}: {}", e.line, e.message))
}

/// `java.util.Properties.load` of `text` as the `Properties` object holds it: (key, value) pairs
/// in file order, duplicates included, not trimmed (a value keeps its trailing blanks). The error
/// is the message of what `load` throws (`Malformed \uxxxx encoding.`), or Rookery's own for a
/// line longer than `CONFIG_LINE_MAX`.
pub(crate) fn load_java_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    properties::read_untrimmed(text)
        .map(|entries| entries.into_iter().map(|e| (e.key, e.value)).collect())
        .map_err(|e| e.java_message.map_or_else(|| format!("line {}: {}", e.line, e.message), str::to_owned))
}

mod properties {
    use super::{java_trim, CONFIG_LINE_MAX};

    /// One `key = value` line: key and value unescaped and trimmed (ZooKeeper trims both).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(super) struct Entry {
        /// The natural line where the logical line starts, 1-based.
        pub line: usize,
        pub key: String,
        pub value: String,
    }

    /// A file `Properties` refuses: a malformed `\uXXXX`, or (our bound) an overlong line.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(super) struct SyntaxError {
        pub line: usize,
        pub message: String,
        /// The message of the exception `Properties.load` throws for it; None for our bound.
        pub java_message: Option<&'static str>,
    }

    /// The entries of `text`, in file order, duplicates included, keys and values trimmed.
    pub(super) fn read(text: &str) -> Result<Vec<Entry>, SyntaxError> {
        let trimmed =
            |e: Entry| Entry { key: java_trim(&e.key).to_owned(), value: java_trim(&e.value).to_owned(), ..e };
        Ok(read_untrimmed(text)?.into_iter().map(trimmed).collect())
    }

    /// The entries of `text` as `Properties` keeps them: not trimmed.
    pub(super) fn read_untrimmed(text: &str) -> Result<Vec<Entry>, SyntaxError> {
        let mut entries = Vec::new();
        for logical in logical_lines(text) {
            if logical.chars.len() > CONFIG_LINE_MAX {
                let message = format!("line longer than {CONFIG_LINE_MAX} characters");
                return Err(SyntaxError { line: logical.line, message, java_message: None });
            }
            entries.push(split(&logical)?);
        }
        Ok(entries)
    }

    /// One logical line: natural lines joined at trailing backslashes, comments and blank lines
    /// gone.
    struct LogicalLine {
        line: usize,
        chars: Vec<char>,
    }

    fn is_white_space(c: char) -> bool {
        c == ' ' || c == '\t' || c == '\u{c}'
    }

    /// `Properties.LineReader.readLine`, called until the end of the text.
    fn logical_lines(text: &str) -> Vec<LogicalLine> {
        // The natural line of every character: \r\n counts as one terminator.
        let chars: Vec<char> = text.chars().collect();
        let mut line_of = Vec::with_capacity(chars.len());
        let mut line = 1;
        for (i, &c) in chars.iter().enumerate() {
            line_of.push(line);
            if c == '\n' || (c == '\r' && chars.get(i + 1) != Some(&'\n')) {
                line += 1;
            }
        }

        let mut lines = Vec::new();
        let mut buf: Vec<char> = Vec::new();
        let mut buf_line = 1;
        let mut skip_white_space = true;
        let mut appended_line_begin = false;
        let mut preceding_backslash = false;
        let mut in_comment = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let c_line = line_of[i];
            i += 1;
            if in_comment {
                // A comment runs to the end of its natural line and never continues.
                if c == '\n' || c == '\r' {
                    in_comment = false;
                    skip_white_space = true;
                }
                continue;
            }
            if skip_white_space {
                if is_white_space(c) || (!appended_line_begin && (c == '\r' || c == '\n')) {
                    continue;
                }
                skip_white_space = false;
                appended_line_begin = false;
            }
            if buf.is_empty() && (c == '#' || c == '!') {
                in_comment = true;
                continue;
            }
            if c != '\n' && c != '\r' {
                if buf.is_empty() {
                    buf_line = c_line;
                }
                buf.push(c);
                preceding_backslash = c == '\\' && !preceding_backslash;
                continue;
            }
            // The end of a natural line.
            if buf.is_empty() {
                skip_white_space = true;
                continue;
            }
            if preceding_backslash {
                // The line continues: drop the backslash, the \n of a \r\n, and the next line's
                // leading white space. If the text ends right here, Java returns the line at
                // once, even when nothing is left of it.
                buf.pop();
                if i == chars.len() {
                    lines.push(LogicalLine { line: buf_line, chars: std::mem::take(&mut buf) });
                    return lines;
                }
                skip_white_space = true;
                appended_line_begin = true;
                preceding_backslash = false;
                if c == '\r' && chars.get(i) == Some(&'\n') {
                    i += 1;
                }
                continue;
            }
            lines.push(LogicalLine { line: buf_line, chars: std::mem::take(&mut buf) });
            skip_white_space = true;
            appended_line_begin = false;
        }
        // At the end of the text a pending line counts, minus a trailing backslash.
        if !buf.is_empty() {
            if preceding_backslash {
                buf.pop();
            }
            lines.push(LogicalLine { line: buf_line, chars: buf });
        }
        lines
    }

    /// `Properties.load0`: the key runs to the first unescaped `=`, `:` or white space; then
    /// white space and at most one `=` or `:` are skipped; the rest is the value.
    fn split(logical: &LogicalLine) -> Result<Entry, SyntaxError> {
        let chars = &logical.chars;
        let limit = chars.len();
        let mut key_len = 0;
        let mut value_start = limit;
        let mut has_separator = false;
        let mut preceding_backslash = false;
        while key_len < limit {
            let c = chars[key_len];
            if (c == '=' || c == ':') && !preceding_backslash {
                value_start = key_len + 1;
                has_separator = true;
                break;
            }
            if is_white_space(c) && !preceding_backslash {
                value_start = key_len + 1;
                break;
            }
            preceding_backslash = c == '\\' && !preceding_backslash;
            key_len += 1;
        }
        while value_start < limit {
            let c = chars[value_start];
            if !is_white_space(c) {
                if !has_separator && (c == '=' || c == ':') {
                    has_separator = true;
                } else {
                    break;
                }
            }
            value_start += 1;
        }
        let error = |message: String| SyntaxError {
            line: logical.line,
            message,
            java_message: Some("Malformed \\uxxxx encoding."),
        };
        let key = unescape(&chars[..key_len]).map_err(error)?;
        let value = unescape(&chars[value_start..]).map_err(error)?;
        Ok(Entry { line: logical.line, key, value })
    }

    /// `Properties.loadConvert`: `\t \n \r \f`, `\uXXXX` (UTF-16 code units, so a surrogate
    /// pair takes two escapes), and `\c` for any other `c`.
    fn unescape(chars: &[char]) -> Result<String, String> {
        let mut out: Vec<u16> = Vec::with_capacity(chars.len());
        let mut units = [0u16; 2];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            if c != '\\' {
                out.extend_from_slice(c.encode_utf16(&mut units));
                continue;
            }
            // A lone backslash at the very end cannot reach here from a file (the line reader
            // removes it); drop it rather than index past the end.
            let Some(&escaped) = chars.get(i) else { break };
            i += 1;
            let plain = match escaped {
                'u' => {
                    let malformed =
                        || "malformed \\uXXXX escape (java.util.Properties rejects the whole file)".to_owned();
                    let hex = chars.get(i..i + 4).ok_or_else(malformed)?;
                    let mut unit: u16 = 0;
                    for h in hex {
                        let digit = h.to_digit(16).ok_or_else(malformed)?;
                        unit = (unit << 4) | digit as u16;
                    }
                    out.push(unit);
                    i += 4;
                    continue;
                }
                't' => '\t',
                'r' => '\r',
                'n' => '\n',
                'f' => '\u{c}',
                other => other,
            };
            out.extend_from_slice(plain.encode_utf16(&mut units));
        }
        Ok(String::from_utf16_lossy(&out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        match Config::parse(Path::new("conf/zoo.cfg"), text) {
            Ok(config) => config,
            Err(e) => panic!("unexpected error: {e}\n--- input ---\n{text}"),
        }
    }

    fn err(text: &str) -> String {
        match Config::parse(Path::new("conf/zoo.cfg"), text) {
            Ok(config) => panic!("expected an error, got {config:?}\n--- input ---\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn entries(text: &str) -> Vec<(usize, String, String)> {
        match properties::read(text) {
            Ok(entries) => entries.into_iter().map(|e| (e.line, e.key, e.value)).collect(),
            Err(e) => panic!("line {}: {}", e.line, e.message),
        }
    }

    #[test]
    fn minimal_file_gets_every_default() {
        let c = cfg("dataDir=/var/lib/zookeeper\n");
        assert_eq!(c.file, PathBuf::from("conf/zoo.cfg"));
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(c.data_log_dir, PathBuf::from("/var/lib/zookeeper"));
        assert_eq!(c.client_port, None);
        assert_eq!(c.client_port_address, None);
        assert_eq!(c.client_addr(), "0.0.0.0:2181".parse().unwrap());
        assert_eq!(c.max_client_cnxns, 60);
        assert_eq!(c.min_session_timeout_ms, 6000);
        assert_eq!(c.max_session_timeout_ms, 60000);
        assert_eq!((c.init_limit, c.sync_limit), (10, 5));
        assert!(c.servers.is_empty());
        assert_eq!(c.peer_type, PeerType::Participant);
        assert_eq!(c.my_id, None);
        assert_eq!(c.four_letter_whitelist, FOUR_LETTER_WHITELIST_DEFAULT);
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.autopurge_purge_interval_hours, 0);
        assert_eq!(c.snap_count, 100_000);
        assert_eq!(c.snap_size_limit_kb, 4_194_304);
        assert_eq!(c.txn_log_size_limit_kb, -1);
        assert_eq!(c.pre_alloc_size_kb, 65_536);
        assert_eq!(c.jute_maxbuffer, 0xfffff);
        assert!(!c.extended_types_enabled);
        assert!(c.force_sync);
        assert!(!c.skip_acl);
        assert_eq!(c.super_digest, None);
        assert!(c.standalone_enabled);
        assert!(!c.reconfig_enabled);
        assert!(!c.local_sessions_enabled);
        assert!(!c.local_sessions_upgrading_enabled);
        assert!(!c.read_only_mode_enabled);
        assert_eq!(c.global_outstanding_limit, 1000);
        assert_eq!(c.container_check_interval_ms, 60_000);
        assert_eq!(c.admin_server_port, None);
        assert_eq!(c.metrics_http_port, None);
        assert!(c.extra.is_empty());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        assert!(!c.is_quorum());
    }

    #[test]
    fn every_typed_key_is_read() {
        let c = cfg("\
tickTime=2000
dataDir=data
dataLogDir=/ssd/zk-log
clientPort=2182
clientPortAddress=127.0.0.1
maxClientCnxns=0
minSessionTimeout=3000
maxSessionTimeout=90000
initLimit=20
syncLimit=7
peerType=observer
4lw.commands.whitelist=ruok, stat ,mntr
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
snapCount=5000
snapSizeLimitInKb=1024
txnLogSizeLimitInKb=2048
preAllocSize=1024
jute.maxbuffer=4194304
extendedTypesEnabled=true
forceSync=no
skipACL=yes
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
standaloneEnabled=false
reconfigEnabled=true
localSessionsEnabled=true
localSessionsUpgradingEnabled=true
readonlymode.enabled=true
globalOutstandingLimit=500
znode.container.checkIntervalMs=1000
admin.serverPort=9090
metricsProvider.httpPort=7000
metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
server.1=127.0.0.1:2888:3888
");
        assert_eq!(c.tick_time_ms, 2000);
        assert_eq!(c.data_dir, PathBuf::from("data"), "relative paths stay relative");
        assert_eq!(c.data_log_dir, PathBuf::from("/ssd/zk-log"));
        assert_eq!(c.client_port, Some(2182));
        assert_eq!(c.client_port_address, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.client_addr(), "127.0.0.1:2182".parse().unwrap());
        assert_eq!(c.max_client_cnxns, 0);
        assert_eq!((c.min_session_timeout_ms, c.max_session_timeout_ms), (3000, 90000));
        assert_eq!((c.init_limit, c.sync_limit), (20, 7));
        assert_eq!(c.peer_type, PeerType::Observer, "parse() leaves peerType to load() when servers are listed");
        assert_eq!(c.four_letter_whitelist, ["ruok", "stat", "mntr", "srvr", "isro"]);
        assert_eq!(c.autopurge_snap_retain_count, 5);
        assert_eq!(c.autopurge_purge_interval_hours, 24);
        assert_eq!(c.snap_count, 5000);
        assert_eq!(c.snap_size_limit_kb, 1024);
        assert_eq!(c.txn_log_size_limit_kb, 2048);
        assert_eq!(c.pre_alloc_size_kb, 1024);
        assert_eq!(c.jute_maxbuffer, 4_194_304);
        assert!(c.extended_types_enabled);
        assert!(!c.force_sync);
        assert!(c.skip_acl);
        assert_eq!(c.super_digest.as_deref(), Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU="));
        assert!(!c.standalone_enabled);
        assert!(c.reconfig_enabled);
        assert!(c.local_sessions_enabled);
        assert!(c.local_sessions_upgrading_enabled);
        assert!(c.read_only_mode_enabled);
        assert_eq!(c.global_outstanding_limit, 500);
        assert_eq!(c.container_check_interval_ms, 1000);
        assert_eq!(c.admin_server_port, Some(9090));
        assert_eq!(c.metrics_http_port, Some(7000));
        assert_eq!(c.servers.len(), 1);
        assert!(c.is_quorum(), "standaloneEnabled=false makes even one server an ensemble");
        assert_eq!(
            c.extra.get("metricsProvider.className").map(String::as_str),
            Some("org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider")
        );
        assert_eq!(c.extra.len(), 1, "{:?}", c.extra);
        assert!(c.warnings.iter().all(|w| !w.contains("unknown key")), "{:?}", c.warnings);
    }

    #[test]
    fn system_property_keys_take_the_zookeeper_prefix_too() {
        let bare = cfg("dataDir=/d\nsnapCount=7\npreAllocSize=8\njute.maxbuffer=9\nforceSync=no\nskipACL=yes\n\
                        extendedTypesEnabled=true\nDigestAuthenticationProvider.superDigest=super:x\n\
                        4lw.commands.whitelist=ruok\nglobalOutstandingLimit=3\nsnapSizeLimitInKb=4\n\
                        txnLogSizeLimitInKb=5\nadmin.serverPort=6\nreadonlymode.enabled=true\n\
                        znode.container.checkIntervalMs=10\n");
        let prefixed = cfg("dataDir=/d\nzookeeper.snapCount=7\nzookeeper.preAllocSize=8\nzookeeper.jute.maxbuffer=9\n\
                            zookeeper.forceSync=no\nzookeeper.skipACL=yes\nzookeeper.extendedTypesEnabled=true\n\
                            zookeeper.DigestAuthenticationProvider.superDigest=super:x\n\
                            zookeeper.4lw.commands.whitelist=ruok\nzookeeper.globalOutstandingLimit=3\n\
                            zookeeper.snapSizeLimitInKb=4\nzookeeper.txnLogSizeLimitInKb=5\n\
                            zookeeper.admin.serverPort=6\nzookeeper.readonlymode.enabled=true\n\
                            zookeeper.znode.container.checkIntervalMs=10\n");
        assert_eq!(bare, prefixed);
        assert_eq!(bare.snap_count, 7);
        assert_eq!(bare.four_letter_whitelist, ["ruok", "srvr", "isro"]);
        assert!(bare.warnings.is_empty() && bare.extra.is_empty());
        // Keys that QuorumPeerConfig reads itself have no prefixed form.
        let c = cfg("dataDir=/d\nzookeeper.tickTime=5\n");
        assert_eq!(c.tick_time_ms, 3000);
        assert_eq!(c.extra.get("zookeeper.tickTime").map(String::as_str), Some("5"));
    }

    #[test]
    fn system_property_numbers_are_decoded_like_integer_get_integer() {
        let c = cfg("dataDir=/d\nsnapCount=0x10\njute.maxbuffer=#100\nglobalOutstandingLimit=010\npreAllocSize=010\n");
        assert_eq!(c.snap_count, 16);
        assert_eq!(c.jute_maxbuffer, 256);
        assert_eq!(c.global_outstanding_limit, 8, "a leading 0 means octal to Integer.getInteger");
        assert_eq!(c.pre_alloc_size_kb, 10, "preAllocSize goes through Long.parseLong: decimal");
        assert!(err("dataDir=/d\nsnapCount=09\n").contains("snapCount: expected an integer, got \"09\""));
        assert!(err("dataDir=/d\ntickTime=0x10\n").contains("tickTime: expected a positive integer"));

        let table: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("-0x10", Some(-16)),
            ("+#ff", Some(255)),
            ("0X7fffffffffffffff", Some(i64::MAX)),
            ("-0x8000000000000000", Some(i64::MIN)),
            ("0x8000000000000000", None),
            ("0x", None),
            ("-", None),
            ("0x-1", None),
            ("--1", None),
            ("017", Some(15)),
            ("08", None),
            (" 1", None),
            ("", None),
        ];
        for &(text, expected) in table {
            assert_eq!(java_decode(text), expected, "Long.decode({text:?})");
        }
        assert_eq!(java_parse_long("+42"), Some(42));
        assert_eq!(java_parse_long("0x10"), None);
        assert_eq!(java_parse_long("9223372036854775808"), None);
        assert_eq!(java_parse_long("-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn adjusted_values_warn_with_file_and_line() {
        let c = cfg(
            "dataDir=/d\nautopurge.snapRetainCount=1\nsnapCount=1\nautopurge.purgeInterval=-1\nsnapSizeLimitInKb=-5\n",
        );
        assert_eq!(c.autopurge_snap_retain_count, 3);
        assert_eq!(c.snap_count, 2);
        assert_eq!(c.autopurge_purge_interval_hours, 0);
        assert_eq!(c.snap_size_limit_kb, 0);
        assert_eq!(
            c.warnings,
            [
                "conf/zoo.cfg:2: autopurge.snapRetainCount: 1 is below the minimum; using 3, as ZooKeeper does",
                "conf/zoo.cfg:3: snapCount: 1 is below the minimum; using 2, as ZooKeeper does",
                "conf/zoo.cfg:4: autopurge.purgeInterval: -1 turns purging off, as 0 does",
                "conf/zoo.cfg:5: snapSizeLimitInKb: -5 turns the limit off, as 0 does",
            ]
        );
    }

    #[test]
    fn yes_no_and_boolean_keys_follow_the_java_code_that_reads_them() {
        let c = cfg("dataDir=/d\nforceSync=false\nskipACL=true\nextendedTypesEnabled=TRUE\n");
        assert!(c.force_sync, "only \"no\" turns forceSync off");
        assert!(!c.skip_acl, "only \"yes\" turns skipACL on");
        assert!(c.extended_types_enabled, "Boolean.getBoolean ignores case");
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("conf/zoo.cfg:2: forceSync: "));
        assert_eq!(
            err("dataDir=/d\nstandaloneEnabled=yes\n"),
            "conf/zoo.cfg:2: standaloneEnabled: expected true or false, got \"yes\""
        );
        assert!(cfg("dataDir=/d\nlocalSessionsEnabled=True\n").local_sessions_enabled);
        assert!(err("dataDir=/d\nsyncEnabled=1\n").contains("syncEnabled: expected true or false"));
    }

    #[test]
    fn unknown_keys_pass_through_with_a_warning() {
        let c = cfg("dataDir=/d\n\nfooBar = baz qux \nmaxCnxns=10\nssl.keyStore.location=/k\n");
        assert_eq!(c.extra.get("fooBar").map(String::as_str), Some("baz qux"));
        assert_eq!(c.extra.get("maxCnxns").map(String::as_str), Some("10"));
        assert_eq!(c.extra.get("ssl.keyStore.location").map(String::as_str), Some("/k"));
        assert_eq!(
            c.warnings,
            ["conf/zoo.cfg:3: unknown key fooBar: passed through as zookeeper.fooBar as ZooKeeper does"]
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value_and_warn() {
        let c = cfg("dataDir=/a\ntickTime=1000\ndataDir=/b\nsnapCount=5\nzookeeper.snapCount=6\n");
        assert_eq!(c.data_dir, PathBuf::from("/b"));
        assert_eq!(c.snap_count, 6);
        assert_eq!(
            c.warnings,
            [
                "conf/zoo.cfg:1: dataDir is set again on line 3 (as dataDir); the later value wins, as in java.util.Properties",
                "conf/zoo.cfg:4: snapCount is set again on line 5 (as zookeeper.snapCount); the later value wins, as in java.util.Properties",
            ]
        );
        // The earlier value is not even checked, as Properties never hands it to ZooKeeper.
        assert_eq!(cfg("dataDir=/d\ntickTime=abc\ntickTime=100\n").tick_time_ms, 100);
    }

    #[test]
    fn four_letter_whitelist() {
        let default = cfg("dataDir=/d\n");
        for command in ["ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dirs", "isro"]
        {
            assert!(default.four_letter_enabled(command), "{command}");
        }
        for command in ["dump", "crst", "srst"] {
            assert!(!default.four_letter_enabled(command), "{command}");
        }
        let all = cfg("dataDir=/d\n4lw.commands.whitelist=*\n");
        assert_eq!(all.four_letter_whitelist, ["*"]);
        assert!(all.four_letter_enabled("dump"));
        let some = cfg("dataDir=/d\n4lw.commands.whitelist=stat, ruok,,\n");
        assert_eq!(some.four_letter_whitelist, ["stat", "ruok", "srvr"], "ZooKeeper always enables srvr");
        assert!(!some.four_letter_enabled("mntr"));
        let empty = cfg("dataDir=/d\n4lw.commands.whitelist=\n");
        assert_eq!(empty.four_letter_whitelist, ["srvr"]);
    }

    #[test]
    fn admin_server_is_off_unless_configured() {
        assert_eq!(cfg("dataDir=/d\n").admin_server_address, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(cfg("dataDir=/d\nadmin.serverAddress=127.0.0.1\n").admin_server_address, Ipv4Addr::LOCALHOST);
        let ipv6 = cfg("dataDir=/d\nzookeeper.admin.serverAddress=::1\n");
        assert_eq!(ipv6.admin_server_address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(cfg("dataDir=/d\n").admin_server_port, None);
        assert_eq!(cfg("dataDir=/d\nadmin.enableServer=true\n").admin_server_port, Some(8080));
        assert_eq!(cfg("dataDir=/d\nadmin.serverPort=0x1F90\n").admin_server_port, Some(8080));
        assert_eq!(cfg("dataDir=/d\nadmin.serverPort=9\nadmin.enableServer=false\n").admin_server_port, None);
    }

    #[test]
    fn metrics_endpoint_is_off_unless_configured() {
        let c = cfg("dataDir=/d\n");
        assert_eq!((c.metrics_http_port, c.metrics_http_host), (None, IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        let c = cfg("dataDir=/d\nmetricsProvider.httpPort=0\nmetricsProvider.httpHost=localhost\n");
        assert_eq!((c.metrics_http_port, c.metrics_http_host), (Some(0), IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let prometheus = format!("dataDir=/d\nmetricsProvider.className={PROMETHEUS_PROVIDER_CLASS}\n");
        assert_eq!(cfg(&prometheus).metrics_http_port, Some(7000), "ZooKeeper's provider default");
        assert_eq!(cfg(&format!("{prometheus}metricsProvider.httpPort=7001\n")).metrics_http_port, Some(7001));
        let other = "dataDir=/d\nmetricsProvider.className=org.example.Other\n";
        assert_eq!(cfg(other).metrics_http_port, None);
        assert!(err("dataDir=/d\nmetricsProvider.httpHost=metrics.example\n").contains("metricsProvider.httpHost"));
        assert!(err("dataDir=/d\nadmin.serverAddress=nowhere\n").contains("admin.serverAddress"));
    }

    #[test]
    fn client_port_zero_and_client_port_address() {
        let c = cfg("dataDir=/d\nclientPort=0\n");
        assert_eq!(c.client_port, Some(0));
        assert_eq!(c.client_addr(), "0.0.0.0:0".parse().unwrap());
        let c = cfg("dataDir=/d\nclientPort=2181\nclientPortAddress=[::1]\n");
        assert_eq!(c.client_addr(), "[::1]:2181".parse().unwrap());
        assert_eq!(
            cfg("dataDir=/d\nclientPort=1\nclientPortAddress=localhost\n").client_addr(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert_eq!(
            err("dataDir=/d\nclientPortAddress=127.0.0.1\n"),
            "conf/zoo.cfg:2: clientPortAddress: is set but clientPort is not set"
        );
        assert_eq!(
            err("dataDir=/d\nclientPort=65536\n"),
            "conf/zoo.cfg:2: clientPort: expected a port number (0-65535), got \"65536\""
        );
        let named = err("dataDir=/d\nclientPort=1\nclientPortAddress=zk1.example.com\n");
        assert!(named.contains("expected an IP address"), "{named}");
    }

    #[test]
    fn client_addr_from_this_servers_line_without_client_port() {
        let mut c = cfg("dataDir=/d\ninitLimit=10\nsyncLimit=5\nserver.1=127.0.0.1:2888:3888;2182\n\
                         server.2=127.0.0.1:2889:3889;127.0.0.2:2183\nserver.3=127.0.0.1:2890:3890\n");
        assert_eq!(c.client_addr(), "0.0.0.0:2181".parse().unwrap(), "no my_id: the default");
        c.my_id = Some(1);
        assert_eq!(c.client_addr(), "0.0.0.0:2182".parse().unwrap());
        c.my_id = Some(2);
        assert_eq!(c.client_addr(), "127.0.0.2:2183".parse().unwrap());
        c.my_id = Some(3);
        assert_eq!(c.client_addr(), "0.0.0.0:2181".parse().unwrap(), "no client part: the default");
        c.my_id = Some(2);
        c.client_port = Some(2999);
        assert_eq!(c.client_addr(), "0.0.0.0:2999".parse().unwrap(), "clientPort wins");
    }

    #[test]
    fn session_timeouts_follow_tick_time() {
        let c = cfg("dataDir=/d\ntickTime=100\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
        assert_eq!((c.min_session_timeout_ms, c.max_session_timeout_ms), (200, 2000));
        let c = cfg("maxSessionTimeout=500\ndataDir=/d\ntickTime=10\n");
        assert_eq!((c.min_session_timeout_ms, c.max_session_timeout_ms), (20, 500));
        assert_eq!(
            err("dataDir=/d\nminSessionTimeout=5000\nmaxSessionTimeout=4000\n"),
            "conf/zoo.cfg:2: minSessionTimeout: 5000 ms is larger than maxSessionTimeout (4000 ms)"
        );
        assert_eq!(
            err("dataDir=/d\n\nmaxSessionTimeout=4000\n"),
            "conf/zoo.cfg:3: maxSessionTimeout: 4000 ms is smaller than minSessionTimeout (6000 ms)"
        );
        assert!(err("dataDir=/d\ntickTime=2147483647\n")
            .starts_with("conf/zoo.cfg:2: tickTime: 2147483647 ms is too large"));
        assert!(err("dataDir=/d\nmaxSessionTimeout=-2\n").contains("maxSessionTimeout: expected milliseconds, or -1"));
        // Below -1 ZooKeeper has no lower bound, which is what 0 means.
        let c = cfg("dataDir=/d\nminSessionTimeout=-2\n");
        assert_eq!(c.min_session_timeout_ms, 0);
        assert_eq!(c.warnings, ["conf/zoo.cfg:2: minSessionTimeout: -2 means no lower bound, as 0 does"]);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "# ZooKeeper\n\ndataDir=/d\n\\\n  clientPort=2181\n! comment\ntickTime=abc\n";
        let e = Config::parse(Path::new("conf/zoo.cfg"), text).unwrap_err();
        assert_eq!(e.line, Some(7));
        assert_eq!(e.key.as_deref(), Some("tickTime"));
        assert_eq!(e.to_string(), "conf/zoo.cfg:7: tickTime: expected a positive integer, got \"abc\"");

        assert_eq!(err("tickTime=2000\n"), "conf/zoo.cfg: dataDir: required but not set");
        assert_eq!(err("dataDir=\n"), "conf/zoo.cfg:1: dataDir: expected a directory path, got \"\"");
        assert_eq!(err("dataDir=/d\ntickTime=0\n"), "conf/zoo.cfg:2: tickTime: expected a positive integer, got \"0\"");
        assert_eq!(
            err("dataDir=/d\nmaxClientCnxns=x\n"),
            "conf/zoo.cfg:2: maxClientCnxns: expected an integer (0 = unlimited), got \"x\""
        );
        assert_eq!(cfg("dataDir=/d\nmaxClientCnxns=-1\n").max_client_cnxns, 0);
        assert_eq!(
            err("dataDir=/d\npeerType=voter\n"),
            "conf/zoo.cfg:2: peerType: expected participant or observer, got \"voter\""
        );
        assert_eq!(
            err("dataDir=/d\nelectionAlg=0\n"),
            "conf/zoo.cfg:2: electionAlg: only 3 (fast leader election) is supported, got \"0\""
        );
        assert_eq!(
            err("dataDir=/d\nkey=\\u12\n"),
            "conf/zoo.cfg:2: malformed \\uXXXX escape (java.util.Properties rejects the whole file)"
        );
        assert_eq!(err("dataDir=/d\nsnapCount=many\n"), "conf/zoo.cfg:2: snapCount: expected an integer, got \"many\"");
        assert_eq!(
            err("dataDir=/d\npreAllocSize=-1\n"),
            "conf/zoo.cfg:2: preAllocSize: expected a non-negative number of KiB, got \"-1\""
        );
        assert_eq!(
            err("dataDir=/d\nquorum.auth.serverRequireSasl=true\n"),
            "conf/zoo.cfg:2: quorum.auth.serverRequireSasl: quorum.auth.enableSasl is disabled, so cannot enable quorum.auth.serverRequireSasl"
        );
        assert_eq!(
            err("dataDir=/d\nsecureClientPortAddress=0.0.0.0\n"),
            "conf/zoo.cfg:2: secureClientPortAddress: is set but secureClientPort is not set"
        );
        let e = ConfigError::new(Path::new("x/myid"), None, None, "empty");
        assert_eq!(e.to_string(), "x/myid: empty");
    }

    #[test]
    fn properties_syntax() {
        // Every expectation below was checked against java.util.Properties.load (OpenJDK 17).
        assert_eq!(
            entries("a=1\nb : 2\nc 3\n  d\t=\t4\ne\n f=\n"),
            [
                (1, "a".into(), "1".into()),
                (2, "b".into(), "2".into()),
                (3, "c".into(), "3".into()),
                (4, "d".into(), "4".into()),
                (5, "e".into(), "".into()),
                (6, "f".into(), "".into()),
            ]
        );
        assert_eq!(entries("# c\n! c\n  # c\\\nx=1"), [(4, "x".into(), "1".into())]);
        assert_eq!(
            entries("a = b = c\nd::e\nf =:g\n"),
            [(1, "a".into(), "b = c".into()), (2, "d".into(), ":e".into()), (3, "f".into(), ":g".into()),]
        );
        assert_eq!(
            entries("k=v\\\n   w\\\n\tx\nnext=1\n"),
            [(1, "k".into(), "vwx".into()), (4, "next".into(), "1".into())]
        );
        assert_eq!(entries("k=v\\\\\nnext=1\n"), [(1, "k".into(), "v\\".into()), (2, "next".into(), "1".into())]);
        assert_eq!(entries("k=\\\n# not a comment\n"), [(1, "k".into(), "# not a comment".into())]);
        assert_eq!(
            entries("a=1\r\nb=2\rc=3\r\n\r\nd=4"),
            [
                (1, "a".into(), "1".into()),
                (2, "b".into(), "2".into()),
                (3, "c".into(), "3".into()),
                (5, "d".into(), "4".into()),
            ]
        );
        assert_eq!(entries("k=a\\\r\n  b\n"), [(1, "k".into(), "ab".into())]);
        assert_eq!(entries("a\\=b\\:c\\ d=e\\tf\\u0041\\q"), [(1, "a=b:c d".into(), "e\tfAq".into())]);
        assert_eq!(entries("k=\\uD83D\\uDE00"), [(1, "k".into(), "\u{1F600}".into())]);
        assert_eq!(entries("k=v \t\n"), [(1, "k".into(), "v".into())], "ZooKeeper trims values");
        assert_eq!(entries("trailing=x\\"), [(1, "trailing".into(), "x".into())]);
        // A continuation into a blank line ends there; but a line that was only a backslash
        // is still empty, so its blank continuation is skipped and the next line starts afresh.
        assert_eq!(entries("k=a\\\n\nb\n"), [(1, "k".into(), "a".into()), (3, "b".into(), "".into())]);
        assert_eq!(entries("a\\\n\n\nb=1"), [(1, "a".into(), "".into()), (4, "b".into(), "1".into())]);
        assert_eq!(entries("\\"), [(1, "".into(), "".into())]);
        assert_eq!(entries("=v"), [(1, "".into(), "v".into())]);
        // A continuation line that starts with whitespace and a separator.
        assert_eq!(entries("k\\\n  =v\n"), [(1, "k".into(), "v".into())]);
        assert_eq!(entries("\\\n#x=1\ny=2"), [(3, "y".into(), "2".into())]);
        assert_eq!(entries("\u{c}k\u{c}v"), [(1, "k".into(), "v".into())]);
    }

    #[test]
    fn jvm_system_properties_count_unless_zoo_cfg_sets_them() {
        let props = jvm_properties(
            "-Xmx1000m -Dzookeeper.snapCount=1000 -Dreadonlymode.enabled=true -DsnapSizeLimitInKb=9 \
             -Dzookeeper.jute.maxbuffer=5 -Dzookeeper.forceSync=no -Dzookeeper.tickTime=1 -Dlog4j.configuration=x",
        );
        assert_eq!(props[0], ("zookeeper.snapCount".to_string(), "1000".to_string()));
        let scratch = std::env::temp_dir().join(format!("rookery-jvmflags-{}", std::process::id()));
        std::fs::create_dir_all(&scratch).unwrap();
        let file = scratch.join("zoo.cfg");
        std::fs::write(&file, "dataDir=/d\nforceSync=yes\n").unwrap();
        let from = |props: &[(String, String)]| -> Vec<(String, String, String)> {
            props.iter().map(|(k, v)| ("SERVER_JVMFLAGS".to_string(), k.clone(), v.clone())).collect()
        };
        let c = Config::load_with_properties(&file, &from(&props)).unwrap();
        assert_eq!(c.snap_count, 1000);
        assert!(c.read_only_mode_enabled, "read bare, as ZooKeeper reads it");
        assert_eq!(
            c.snap_size_limit_kb,
            Config::load(&file).unwrap().snap_size_limit_kb,
            "ZooKeeper reads the prefixed name"
        );
        assert_eq!(c.jute_maxbuffer, 0xfffff, "ZooKeeper reads jute.maxbuffer bare");
        assert!(c.force_sync, "zoo.cfg wins");
        assert_eq!(c.tick_time_ms, 3000, "tickTime is not a system property");
        assert!(c.warnings.iter().any(|w| w.contains("-Dzookeeper.forceSync is overridden")), "{:?}", c.warnings);
        let bad = [("SERVER_JVMFLAGS".to_string(), "zookeeper.snapCount".to_string(), "lots".to_string())];
        let e = Config::load_with_properties(&file, &bad).unwrap_err().to_string();
        assert!(e.starts_with("SERVER_JVMFLAGS: zookeeper.snapCount: "), "{e}");
        std::fs::remove_dir_all(&scratch).unwrap();
    }

    #[test]
    fn dynamic_files_as_zookeeper_writes_them() {
        let qv = crate::verifier::QuorumVerifier::parse(
            "server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
             server.10=127.0.0.1:2890:3890:observer;0.0.0.0:2183\nversion=100000000",
        )
        .unwrap();
        assert_eq!(
            dynamic_file_text(&qv),
            "server.10=127.0.0.1:2890:3890:observer;0.0.0.0:2183\nserver.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182"
        );
        let edited = edited_static_config(
            "tickTime=2000\ndataDir=/d\nclientPort=2181\nserver.1=a:1:2\npeerType=participant\nreconfigEnabled=true\n",
            "/etc/zk/zoo.cfg.dynamic.100000000",
            true,
        )
        .unwrap();
        assert_eq!(
            edited,
            "tickTime=2000\ndataDir=/d\nreconfigEnabled=true\ndynamicConfigFile=/etc/zk/zoo.cfg.dynamic.100000000\n"
        );
        let kept = edited_static_config("clientPort=2181\ndynamicConfigFile=old\n", "new", false).unwrap();
        assert_eq!(kept, "clientPort=2181\ndynamicConfigFile=new\n");
    }

    #[test]
    fn server_lines() {
        let c = cfg("dataDir=/d\ninitLimit=5\nsyncLimit=2\n\
                     server.1=zk1:2888:3888\n\
                     server.2=zk2:2888:3888:participant;2181\n\
                     server.3=10.0.0.3:2888:3888:OBSERVER;127.0.0.1:2182\n\
                     server.4=[fe80::1]:2888:3888;[::1]:2183\n\
                     server.05=zk5:2888:3888:observer;\n");
        let s = &c.servers;
        assert_eq!(s.keys().copied().collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(
            s[&1],
            ServerSpec {
                id: 1,
                host: "zk1".into(),
                quorum_port: 2888,
                election_port: 3888,
                role: PeerType::Participant,
                client_addr: None
            }
        );
        assert_eq!(s[&2].client_addr, Some("0.0.0.0:2181".parse().unwrap()));
        assert_eq!(s[&3].role, PeerType::Observer);
        assert_eq!(s[&3].client_addr, Some("127.0.0.1:2182".parse().unwrap()));
        assert_eq!(s[&4].host, "fe80::1");
        assert_eq!(s[&4].client_addr, Some("[::1]:2183".parse().unwrap()));
        assert_eq!(s[&5].role, PeerType::Observer);
        assert_eq!(s[&5].client_addr, None, "Java's split drops a trailing empty client part");
        assert!(c.is_quorum());
        assert_eq!(s[&2].to_string(), "zk2:2888:3888:participant;0.0.0.0:2181");
        assert_eq!(
            s[&4].to_string(),
            "[fe80:0:0:0:0:0:0:1]:2888:3888:participant;[0:0:0:0:0:0:0:1]:2183",
            "IPv6 as Java shows it"
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn malformed_server_lines_are_errors_on_their_line() {
        let bad: &[(&str, &str)] = &[
            ("server.1=zk1:2888", "expected host:quorumPort:electionPort"),
            ("server.1=zk1:2888:3888:observer:x", "expected host:quorumPort:electionPort"),
            ("server.1=zk1:2888:3888;a:b:c", "expected host:quorumPort:electionPort"),
            ("server.1=zk1:2888:3888;1;2", "expected host:quorumPort:electionPort"),
            ("server.1=;;", "expected host:quorumPort:electionPort"),
            ("server.1=", "expected host:quorumPort:electionPort"),
            ("server.1=zk1:2888:2888", "must differ"),
            ("server.1=zk1:x:3888", "expected a quorum port number (0-65535), got \"x\""),
            ("server.1=zk1:2888:70000", "expected an election port number (0-65535), got \"70000\""),
            ("server.1=zk1:2888:3888:voter", "expected participant or observer, got \"voter\""),
            ("server.1=zk1:2888:3888;x", "expected a client port number"),
            ("server.1=zk1:2888:3888;host.example:2181", "expected an IP address"),
            ("server.1=a:1:2|b:1:2", "not supported"),
            ("server.1=[::1:2888:3888", "no matching ']'"),
            ("server.1=[::1]2888:3888", "does not have a port after"),
            ("server.1=:2888:3888", "expected a host name"),
            ("server.x=zk1:2888:3888", "expected server.<id> with a non-negative integer id, got \"server.x\""),
            ("server.-1=zk1:2888:3888", "expected server.<id>"),
            ("server.=zk1:2888:3888", "expected server.<id>"),
            ("group.1=1:2:3", "hierarchical quorums"),
            ("weight.1=1", "hierarchical quorums"),
        ];
        for (line, expected) in bad {
            let text = format!("dataDir=/d\n# a comment\n{line}\nserver.9=zk9:1:2\n");
            let e = Config::parse(Path::new("zoo.cfg"), &text).unwrap_err();
            assert_eq!(e.line, Some(3), "{line}: {e}");
            let key = line.split('=').next().unwrap_or_default();
            assert_eq!(e.key.as_deref(), Some(key), "{line}: {e}");
            assert!(e.message.contains(expected), "{line}: {e}");
        }
    }

    #[test]
    fn ensemble_rules() {
        let three = "dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2\nserver.3=c:1:2\n";
        assert_eq!(err(three), "conf/zoo.cfg: initLimit: required in an ensemble but not set");
        assert_eq!(
            err(&format!("{three}initLimit=5\n")),
            "conf/zoo.cfg: syncLimit: required in an ensemble but not set"
        );
        assert_eq!(
            err(&format!("{three}initLimit=5\nsyncLimit=0\n")),
            "conf/zoo.cfg:6: syncLimit: must be at least 1 tick in an ensemble"
        );
        assert!(cfg(&format!("{three}initLimit=5\nsyncLimit=2\n")).is_quorum());

        // One participant with standaloneEnabled runs standalone, without initLimit.
        let one = cfg("dataDir=/d\nserver.1=a:1:2\n");
        assert!(!one.is_quorum());
        assert_eq!(one.warnings.len(), 1);
        assert_eq!(
            err("dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2:observer\n"),
            "conf/zoo.cfg: observers without a quorum is an invalid configuration"
        );
        assert_eq!(
            err("dataDir=/d\nserver.2=b:1:2:observer\n"),
            "conf/zoo.cfg: observers without participants is an invalid configuration"
        );
        assert_eq!(
            err("dataDir=/d\nstandaloneEnabled=false\n"),
            "conf/zoo.cfg:2: standaloneEnabled: is false, so the servers list needs at least one participant"
        );
        let two = cfg("dataDir=/d\ninitLimit=1\nsyncLimit=1\nserver.1=a:1:2\nserver.2=b:1:2\n");
        assert!(two.is_quorum());
        assert_eq!(
            two.warnings,
            ["conf/zoo.cfg: 2 participants tolerate no server failure; an ensemble needs at least 3"]
        );
        // A standalone server settles on participant, as ZooKeeper's setupPeerType does.
        let c = cfg("dataDir=/d\npeerType=observer\n");
        assert_eq!(c.peer_type, PeerType::Participant);
        assert_eq!(
            c.warnings,
            ["conf/zoo.cfg:2: peerType: observer does not match the servers list (participant); using participant"]
        );
        // Ensemble keys must move to the dynamic file once it is named.
        assert_eq!(
            err("dataDir=/d\ndynamicConfigFile=zoo.cfg.dynamic\nserver.1=a:1:2\n"),
            "conf/zoo.cfg:3: server.1: must be in a separate dynamic config file, as dynamicConfigFile is set"
        );
        let c = cfg("dataDir=/d\ndynamicConfigFile=zoo.cfg.dynamic.100000000\n");
        assert!(c.servers.is_empty(), "parse() does not read the dynamic file");
    }

    /// A scratch directory under the system temp dir, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("rookery-config-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("data")).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }

        fn ensemble(&self, extra: &str) -> PathBuf {
            let text = format!(
                "dataDir={}\ninitLimit=5\nsyncLimit=2\nclientPort=2181\n\
                 server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.2:2888:3888;127.0.0.2:2181\n\
                 server.3=127.0.0.3:2888:3888\nserver.4=127.0.0.4:2888:3888:observer\n{extra}",
                self.0.join("data").display()
            );
            self.write("zoo.cfg", &text)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn load_reads_myid() {
        let dir = Scratch::new("myid");
        let cfg_path = dir.ensemble("");
        let missing = Config::load(&cfg_path).unwrap_err();
        assert_eq!(missing.file, dir.0.join("data/myid"));
        assert!(missing.message.starts_with("missing:"), "{missing}");

        dir.write("data/myid", "3\n");
        let c = Config::load(&cfg_path).unwrap();
        assert_eq!(c.my_id, Some(3));
        assert_eq!(c.client_addr(), "0.0.0.0:2181".parse().unwrap());
        assert_eq!(c.peer_type, PeerType::Participant);

        // The first line is read as ZooKeeper reads it: not trimmed.
        for (text, expected) in [
            ("1 \n", "expected a server id (a non-negative integer), got \"1 \""),
            ("abc", "got \"abc\""),
            ("-1\n", "got \"-1\""),
        ] {
            dir.write("data/myid", text);
            let e = Config::load(&cfg_path).unwrap_err();
            assert_eq!((e.line, e.key.as_deref()), (Some(1), None), "{e}");
            assert!(e.message.contains(expected), "{e}");
        }
        dir.write("data/myid", "");
        assert!(Config::load(&cfg_path).unwrap_err().message.starts_with("empty"));
        dir.write("data/myid", "9\r\n");
        assert!(Config::load(&cfg_path).unwrap_err().message.contains("my id 9 is not in the servers list"));
    }

    #[test]
    fn load_checks_a_standalone_myid_as_zookeeper_does() {
        // Debian's zookeeper package installs a placeholder myid; ZooKeeper 3.8 refuses to start
        // on it even standalone ("serverid replace this text ... is not a number").
        let dir = Scratch::new("standalone-myid");
        let text = format!("dataDir={}\n", dir.0.join("data").display());
        let cfg_path = dir.write("zoo.cfg", &text);
        assert_eq!(Config::load(&cfg_path).unwrap().my_id, None);
        dir.write("data/myid", "7\n");
        assert_eq!(Config::load(&cfg_path).unwrap().my_id, None, "standalone has no id");
        dir.write("data/myid", "replace this text with the cluster-unique zookeeper's instance id (1-255)\n");
        let e = Config::load(&cfg_path).unwrap_err();
        assert_eq!(e.file, dir.0.join("data/myid"));
        assert!(e.message.starts_with("expected a number, got \"replace"), "{e}");
    }

    #[test]
    fn load_takes_client_address_and_role_from_the_servers_list() {
        let dir = Scratch::new("role");
        dir.write("data/myid", "2");
        let c = Config::load(&dir.ensemble("")).unwrap();
        assert_eq!(c.client_addr(), "127.0.0.2:2181".parse().unwrap());

        let e = Config::load(&dir.ensemble("clientPortAddress=127.0.0.9\n")).unwrap_err();
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("differs from the one in server.2"), "{e}");

        // A wildcard clientPort must at least agree on the port.
        let e = Config::load(&dir.ensemble("clientPort=2999\n")).unwrap_err();
        assert!(e.message.contains("0.0.0.0:2999 differs"), "{e}");

        dir.write("data/myid", "4");
        let c = Config::load(&dir.ensemble("peerType=participant\n")).unwrap();
        assert_eq!(c.peer_type, PeerType::Observer);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn load_reads_the_dynamic_config_file() {
        let dir = Scratch::new("dynamic");
        dir.write("data/myid", "1");
        let servers = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                       server.2=127.0.0.2:2888:3888\nserver.3=127.0.0.3:2888:3888\n";
        let dynamic = dir.write("zoo.cfg.dynamic.100000000", servers);
        let text = format!(
            "dataDir={}\ninitLimit=5\nsyncLimit=2\ndynamicConfigFile={}\n",
            dir.0.join("data").display(),
            dynamic.display()
        );
        let cfg_path = dir.write("zoo.cfg", &text);
        let c = Config::load(&cfg_path).unwrap();
        assert_eq!(c.servers.len(), 3);
        assert_eq!(c.my_id, Some(1));
        assert!(c.is_quorum());
        assert_eq!(c.client_port, Some(2181));

        dir.write("zoo.cfg.dynamic.100000000", "server.1=127.0.0.1:2888:3888\ntickTime=5\n");
        let e = Config::load(&cfg_path).unwrap_err();
        assert_eq!((e.file.as_path(), e.line, e.key.as_deref()), (dynamic.as_path(), Some(2), Some("tickTime")));
    }

    #[test]
    fn load_reads_latin1_and_reports_missing_files() {
        let dir = Scratch::new("latin1");
        let path = dir.0.join("zoo.cfg");
        std::fs::write(&path, b"dataDir=/d\xe9\n").unwrap();
        assert_eq!(Config::load(&path).unwrap().data_dir, PathBuf::from("/d\u{e9}"));
        let e = Config::load(&dir.0.join("nope.cfg")).unwrap_err();
        assert!(e.message.starts_with("cannot read"), "{e}");
    }

    #[test]
    fn fixtures_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/config");
        let c = Config::load(&root.join("standalone.cfg")).unwrap();
        assert!(!c.is_quorum());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // The ensemble fixture's dataDir is relative, so it resolves against the crate root,
        // where cargo runs tests.
        let c = Config::load(&root.join("ensemble/zoo.cfg")).unwrap();
        assert_eq!(c.my_id, Some(2));
        assert!(c.is_quorum());
        // The configuration `make run` uses parses cleanly.
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/zoo.cfg");
        let text = std::fs::read_to_string(&shipped).unwrap();
        let c = Config::parse(&shipped, &text).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    /// xorshift64: enough randomness to mutate configuration files, reproducible from a seed.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
            &items[self.below(items.len())]
        }
    }

    #[test]
    fn parse_never_panics_on_mutated_input() {
        let seed: u64 =
            std::env::var("CONFIG_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_c0ff_ee15_600d);
        let mut rng = XorShift(seed | 1);
        let corpus = [
            "tickTime=2000\ndataDir=/var/lib/zookeeper\nclientPort=2181\ninitLimit=5\nsyncLimit=2\n\
             server.1=zk1:2888:3888\nserver.2=zk2:2888:3888:observer;2181\nserver.3=[::1]:2888:3888;127.0.0.1:2181\n",
            "dataDir=/d\nminSessionTimeout=-1\n4lw.commands.whitelist=*\nsnapCount=0x10\nk\\u0041=v\\\n  w\r\n# c\n",
            "dataDir=/d\nclientPortAddress=::1\nclientPort=0\nstandaloneEnabled=false\nserver.1=a:1:2\n",
        ];
        let keys: Vec<&str> = QUORUM_PEER_CONFIG_KEYS
            .iter()
            .chain(SYSTEM_PROPERTY_KEYS)
            .map(|&(k, _)| k)
            .chain(QUORUM_PEER_CONFIG_UNTYPED.iter().map(|&(k, _)| k))
            .chain([
                "server.1",
                "server.2",
                "server.18446744073709551615",
                "group.1",
                "dynamicConfigFile",
                "zookeeper.snapCount",
            ])
            .collect();
        let fragments = [
            "=",
            ":",
            " ",
            "\t",
            "\\",
            "\\u",
            "\\u00",
            "\n",
            "\r",
            "\r\n",
            "#",
            "!",
            ";",
            "|",
            "[",
            "]",
            ".",
            "-",
            "+",
            "0",
            "1",
            "-1",
            "0x",
            "#1",
            "2147483648",
            "99999999999999999999",
            "65536",
            "observer",
            "participant",
            "true",
            "yes",
            "*",
            "::1",
            "é",
            "\u{1F600}",
            "\u{0}",
            "\u{feff}",
            "localhost",
        ];
        for round in 0..4000 {
            let mut text: Vec<char> = rng.pick(&corpus).chars().collect();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(text.len() + 1);
                match rng.below(5) {
                    0 => text.splice(at..at, rng.pick(&fragments).chars()).for_each(drop),
                    1 => {
                        let end = (at + rng.below(12)).min(text.len());
                        text.drain(at..end).for_each(drop);
                    }
                    2 => {
                        let line = format!("\n{}={}{}\n", rng.pick(&keys), rng.pick(&fragments), rng.pick(&fragments));
                        text.splice(at..at, line.chars()).for_each(drop);
                    }
                    3 => {
                        let end = (at + rng.below(40)).min(text.len());
                        let copy: Vec<char> = text[at..end].to_vec();
                        let to = rng.below(text.len() + 1);
                        text.splice(to..to, copy).for_each(drop);
                    }
                    _ => text.truncate(at),
                }
            }
            let text: String = text.into_iter().collect();
            let outcome = std::panic::catch_unwind(|| Config::parse(Path::new("fuzz.cfg"), &text));
            match outcome {
                Err(_) => panic!("parse panicked: seed {seed}, round {round}, input {text:?}"),
                Ok(Ok(c)) => {
                    assert!(c.min_session_timeout_ms <= c.max_session_timeout_ms, "seed {seed}, round {round}");
                    assert!(c.autopurge_snap_retain_count >= 3 && c.snap_count >= 2 && c.tick_time_ms > 0);
                    assert!(!c.data_dir.as_os_str().is_empty());
                    assert!(c.warnings.iter().all(|w| w.starts_with("fuzz.cfg")));
                }
                Ok(Err(e)) => {
                    assert_eq!(e.file, PathBuf::from("fuzz.cfg"));
                    assert!(!e.message.is_empty());
                }
            }
        }
    }
}
