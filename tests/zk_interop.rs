//! Interoperability of the data directory with Apache ZooKeeper 3.8 itself (Debian's jars, run by
//! the test as `ZooKeeperServerMain`): a dataDir written by ZooKeeper opens in Rookery with the same
//! data, stats and ACLs, a dataDir written by Rookery opens in ZooKeeper the same way (and without
//! digest mismatches), ZooKeeper's own file tools (`TxnLogToolkit`, `SnapshotFormatter`) read our
//! files, and a tree survives ZooKeeper -> Rookery -> ZooKeeper -> Rookery.
//!
//! Every server is stopped with kill -9, so each side recovers from the other's txn log and
//! snapshots, never from a snapshot taken at a clean shutdown.
//!
//! The tests need `java` and `/usr/share/java/zookeeper.jar` (`make deps` installs them) and fail
//! without them. Each test starts one or two JVMs.

mod common;

use common::{wait_until, Server, TempDir};
use rookery::client::{Client, ClientError, Op};
use rookery::codes::{op, ErrorCode};
use rookery::jute::data::{perms, Acl, Stat};
use rookery::jute::proto::{CreateRequest, CreateTtlRequest};
use rookery::jute::Record;
use rookery::pipeline::OpResult;
use rookery::tree::acl::digest_id;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const JARS: &str = "/usr/share/java";
/// ZooKeeper's and Rookery's tick; sessions may last 2..20 ticks.
const TICK_MS: i32 = 1000;
/// The writer's and the dumper's sessions.
const T: i32 = 20_000;
/// Session A: left open across the crash, resumed on the other server.
const A_TIMEOUT: i32 = 20_000;
/// Session B: left open across the crash, left to expire on the other server. Its ephemeral
/// must still be there when the other server's dump ends, however loaded the machine.
const B_TIMEOUT: i32 = 8_000;
const ALICE: &str = "alice:secret";

// ---------------------------------------------------------------------------------------------
// Running Apache ZooKeeper and its tools

fn have_zookeeper() -> bool {
    let ok = Path::new(JARS).join("zookeeper.jar").exists()
        && Command::new("java").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    assert!(ok, "these tests need java and {JARS}/zookeeper.jar (Debian's zookeeper package): run `make deps`");
    ok
}

/// Every jar in /usr/share/java but the SLF4J bindings other than slf4j-simple: with all of them
/// on the path SLF4J may pick the no-op binding, and ZooKeeper's log (which the tests read for
/// digest and CRC complaints) would be empty. slf4j-simple writes to stderr.
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

/// JVM flags that only make start-up cheaper.
const JVM_FLAGS: [&str; 4] = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto"];

/// A port that was free a moment ago (ZooKeeper cannot be told to pick one and print it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One run of `ZooKeeperServerMain`, ended with kill -9 by PID.
struct Zk {
    child: Child,
    addr: SocketAddr,
    log_path: PathBuf,
}

impl Zk {
    /// Starts standalone ZooKeeper on `data_dir` (the same path Rookery uses as `dataDir`) and
    /// waits until it answers requests. `props` are extra `-D` system properties.
    fn start(site: &Path, data_dir: &Path, props: &[&str]) -> Zk {
        static RUN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut last_err = String::new();
        // A port chosen by binding to 0 can be taken again before the JVM binds it: retry.
        for _attempt in 0..3 {
            let port = free_port();
            let cfg = site.join(format!("zk-{n}.cfg"));
            std::fs::write(
                &cfg,
                format!(
                    "tickTime={TICK_MS}\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                     admin.enableServer=false\n4lw.commands.whitelist=*\nextendedTypesEnabled=true\n",
                    data_dir.display()
                ),
            )
            .unwrap();
            let log_path = site.join(format!("zk-{n}.log"));
            let log = std::fs::File::create(&log_path).unwrap();
            let mut cmd = Command::new("java");
            cmd.args(JVM_FLAGS)
                .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
                .arg("-Dorg.slf4j.simpleLogger.showDateTime=true")
                // DataTree logs each txn digest that matches at debug: the proof it compared them.
                .arg("-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.server.DataTree=debug");
            for p in props {
                cmd.arg(format!("-D{p}"));
            }
            let child = cmd
                .arg("-cp")
                .arg(classpath())
                .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
                .arg(&cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("spawn java");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let mut zk = Zk { child, addr, log_path };
            match zk.wait_ready(Duration::from_secs(90)) {
                Ok(()) => return zk,
                Err(e) => {
                    zk.kill();
                    last_err = format!("{e}\n--- ZooKeeper log ---\n{}", zk.log());
                    if !zk.log().contains("Address already in use") {
                        break;
                    }
                }
            }
        }
        panic!("ZooKeeper did not start: {last_err}");
    }

    /// `ruok` answers `imok` as soon as the port is open, before the database is loaded, and a
    /// client connecting then is refused with an exception in the log; so this waits for the
    /// log line of the request processors starting, then for `ruok`, for `srvr` to say the
    /// server is running, and for a request to succeed.
    fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer to ruok");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("java exited with {status}"));
            }
            // Nothing is sent before the request processors are up: a four-letter word that
            // arrives while the database is still loading can make ZooKeeper 3.8 log an
            // NullPointerException ("Error closing a command socket").
            let started = self.log().contains("PrepRequestProcessor (sid:0) started");
            if started && four(self.addr, "ruok") == "imok" && four(self.addr, "srvr").starts_with("Zookeeper version")
            {
                match Client::connect(self.addr, T).and_then(|mut c| c.exists("/", false).map(|_| c)) {
                    Ok(c) => {
                        let _ = c.close();
                        return Ok(());
                    }
                    Err(e) => last = format!("serving, but exists(\"/\") failed: {e}"),
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("not serving within {timeout:?} ({last})"))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// kill -9 and reap: ZooKeeper gets no chance to write a shutdown snapshot.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Records of ZooKeeper's log (a line with whatever stack trace follows it) that show it
    /// disliked the files: every WARN or ERROR (digest mismatches, CRC failures, unreadable
    /// snapshots and logs all log at those levels), any record naming a digest mismatch whatever
    /// its level, and any exception; except those about a client that closed its socket.
    fn complaints(&self) -> Vec<String> {
        const DIGEST: [&str; 5] = [
            "digests are not matching",
            "digest mismatch",
            "of snapshot digest does not exist",
            "digest version not the same",
            "digest version changed",
        ];
        // Not about the files: this test's zoo.cfg, and clients closing their sockets right
        // after closeSession (ZooKeeper logs the EOF or the reset it then reads).
        const BENIGN: [&str; 5] = [
            "maxCnxns is not configured",
            // ZooKeeper's bug when a four-letter word comes before the database is loaded.
            "Error closing a command socket",
            "EndOfStreamException: Unable to read additional data from client",
            "java.io.IOException: Connection reset by peer",
            "java.nio.channels.CancelledKeyException",
        ];
        // slf4j-simple: "<ms> [<thread>] <LEVEL> <logger> - <message>"; other lines (stack
        // traces) belong to the record before them, and are written after it: read the log once
        // it has stopped growing, so that no record is cut from its stack trace.
        let mut log = self.log();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let again = self.log();
            if again.len() == log.len() || Instant::now() > deadline {
                break;
            }
            log = again;
        }
        let mut records: Vec<String> = Vec::new();
        for l in log.lines() {
            let starts_record = l.split(' ').next().is_some_and(|t| t.parse::<u64>().is_ok())
                || l.starts_with("log4j:")
                || l.starts_with("SLF4J:");
            match records.last_mut() {
                Some(r) if !starts_record => {
                    r.push('\n');
                    r.push_str(l);
                }
                _ => records.push(l.to_string()),
            }
        }
        records
            .into_iter()
            .filter(|r| !r.starts_with("log4j:") && !r.starts_with("SLF4J:"))
            .filter(|r| !BENIGN.iter().any(|b| r.contains(b)))
            .filter(|r| {
                let level = r.split("] ").nth(1).and_then(|x| x.split(' ').next()).unwrap_or("");
                let low = r.to_ascii_lowercase();
                level == "WARN" || level == "ERROR" || r.contains("Exception") || DIGEST.iter().any(|w| low.contains(w))
            })
            .collect()
    }

    /// `mntr`'s `zk_digest_mismatches_count` (ZooKeeper counts every txn whose logged digest
    /// differs from its own tree's, and a snapshot digest that does not match the replay).
    fn digest_mismatches(&self) -> i64 {
        let m = four(self.addr, "mntr");
        let line = m
            .lines()
            .find(|l| l.starts_with("zk_digest_mismatches_count"))
            .unwrap_or_else(|| panic!("no zk_digest_mismatches_count in mntr:\n{m}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// How many logged txn digests ZooKeeper compared with its own tree, and found equal, while
    /// loading the files (its main thread; later txns are its own, in SyncThread).
    fn digests_matched_at_load(&self) -> usize {
        self.log().lines().filter(|l| l.contains("[main]") && l.contains("Digests are matching for Zxid")).count()
    }

    /// Fails unless ZooKeeper loaded the files without any complaint.
    fn assert_clean(&self) {
        let complaints = self.complaints();
        assert!(
            complaints.is_empty(),
            "ZooKeeper complained about the files:\n{}\n--- full log ---\n{}",
            complaints.join("\n"),
            self.log()
        );
        assert_eq!(self.digest_mismatches(), 0, "ZooKeeper counted digest mismatches; log:\n{}", self.log());
    }
}

impl Drop for Zk {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A four-letter word's answer ("" if the server is not there).
fn four(addr: SocketAddr, cmd: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    if s.write_all(cmd.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Runs one of ZooKeeper's command-line classes (`extra_cp` adds to the class path): (exit code,
/// stdout, stderr), killed after 60 s.
fn java_tool(extra_cp: Option<&Path>, class: &str, args: &[&str]) -> (i32, String, String) {
    let dir = TempDir::new("zktool");
    let (out_p, err_p) = (dir.0.join("out"), dir.0.join("err"));
    let mut cp = classpath();
    if let Some(extra) = extra_cp {
        cp = format!("{cp}:{}", extra.display());
    }
    let mut child = Command::new("java")
        .args(JVM_FLAGS)
        .arg("-cp")
        .arg(cp)
        .arg(class)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_p).unwrap())
        .stderr(std::fs::File::create(&err_p).unwrap())
        .spawn()
        .expect("spawn java");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{class} {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (status.code().unwrap_or(-1), read(&out_p), read(&err_p))
}

/// Compiles tests/interop/CheckSnapshots.java (once per change) and returns its class directory.
fn check_snapshots_classes() -> PathBuf {
    let src = common::root().join("tests/interop/CheckSnapshots.java");
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("zk_interop_java");
    let class = out.join("CheckSnapshots.class");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&class).is_some() && modified(&class) >= modified(&src) {
        return out;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let javac = Command::new("javac")
        .args(["-nowarn", "-proc:none", "-encoding", "UTF-8", "-cp"])
        .arg(format!("{JARS}/zookeeper.jar:{JARS}/zookeeper-jute.jar"))
        .arg("-d")
        .arg(&tmp)
        .arg(&src)
        .output()
        .expect("run javac");
    assert!(javac.status.success(), "javac CheckSnapshots.java: {}", String::from_utf8_lossy(&javac.stderr));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// One line of CheckSnapshots' output.
#[derive(Debug)]
struct SnapCheck {
    name: String,
    nodes: usize,
    digest_zxid: i64,
    replayed: usize,
    reached_digest: bool,
    mismatches: u64,
}

/// Runs CheckSnapshots on a version-2 directory: (exit code, the OK lines, the whole output).
fn check_snapshots(dir: &Path) -> (i32, Vec<SnapCheck>, String) {
    let classes = check_snapshots_classes();
    let (code, out, err) = java_tool(Some(&classes), "CheckSnapshots", &[dir.to_str().unwrap()]);
    let field = |l: &str, k: &str| -> String {
        l.split(' ').find_map(|f| f.strip_prefix(k)?.strip_prefix('=')).unwrap_or_default().to_string()
    };
    let checks = out
        .lines()
        .filter_map(|l| l.strip_prefix("OK "))
        .map(|l| SnapCheck {
            name: l.split(' ').next().unwrap().to_string(),
            nodes: field(l, "nodes").parse().unwrap(),
            digest_zxid: i64::from_str_radix(field(l, "digest_zxid").trim_start_matches("0x"), 16).unwrap(),
            replayed: field(l, "replayed").parse().unwrap(),
            reached_digest: field(l, "reached_digest") == "true",
            mismatches: field(l, "mismatches").parse().unwrap(),
        })
        .collect();
    (code, checks, format!("{out}\n{err}"))
}

/// SnapshotFormatter's node blocks: path -> its stat lines (the times left out: they are printed
/// in the local time zone), in `formatter_fields`' form.
fn formatter_nodes(out: &str) -> BTreeMap<String, String> {
    let mut nodes = BTreeMap::new();
    for block in out.split("----\n").skip(1) {
        let mut lines = block.lines();
        let Some(path) = lines.next().filter(|p| p.starts_with('/')) else { continue };
        let fields: Vec<&str> = lines
            .filter_map(|l| l.trim().split_once(" = "))
            .filter(|(k, _)| !k.ends_with("time"))
            .map(|(_, v)| v)
            .collect();
        nodes.insert(path.to_string(), fields.join(" "));
    }
    nodes
}

/// A stat as SnapshotFormatter prints it: cZxid mZxid pZxid cversion dataVersion aclVersion
/// ephemeralOwner dataLength.
fn formatter_fields(s: &rookery::jute::data::StatPersisted, data_len: usize) -> String {
    format!(
        "0x{:014x} 0x{:014x} 0x{:014x} {} {} {} 0x{:014x} {}",
        s.czxid, s.mzxid, s.pzxid, s.cversion, s.version, s.aversion, s.ephemeral_owner, data_len
    )
}

/// Every `zxid 0x..` TxnLogToolkit printed, in order.
fn printed_zxids(out: &str) -> Vec<i64> {
    out.split(" cxid 0x")
        .skip(1)
        .filter_map(|rest| {
            let hex = rest.split_once(" zxid 0x")?.1.split(' ').next()?;
            i64::from_str_radix(hex, 16).ok()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rookery on a shared data directory

/// A data directory both servers take turns on, plus the configs and logs of each run.
/// With `ROOKERY_INTEROP_KEEP=<dir>` set, its files are copied there when the test ends.
struct Site {
    dir: TempDir,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(keep) = std::env::var_os("ROOKERY_INTEROP_KEEP") {
            let to = Path::new(&keep).join(self.dir.0.file_name().unwrap());
            copy_dir(&self.dir.0, &to);
            if self.version2().exists() {
                copy_dir(&self.version2(), &to.join("version-2"));
            }
            eprintln!("kept {}", to.display());
        }
    }
}

impl Site {
    fn new(tag: &str) -> Site {
        Site { dir: TempDir::new(tag) }
    }

    /// `dataDir` (both servers put `version-2/` under it).
    fn data(&self) -> PathBuf {
        self.dir.0.join("data")
    }

    fn version2(&self) -> PathBuf {
        self.data().join("version-2")
    }

    fn zk(&self, props: &[&str]) -> Zk {
        Zk::start(&self.dir.0, &self.data(), props)
    }

    /// Rookery on this site's dataDir; its own config and log live in a directory of their own.
    fn rookery(&self, extra: &str) -> Server {
        let own = TempDir::new("rk");
        let cfg = own.0.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime={TICK_MS}\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\nextendedTypesEnabled=true\n{extra}\n",
                self.data().display()
            ),
        )
        .unwrap();
        Server::start_with(own, &cfg)
    }

    /// (snapshots, logs) in the data directory, each sorted by zxid.
    fn files(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut snaps = Vec::new();
        let mut logs = Vec::new();
        for e in std::fs::read_dir(self.version2()).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("snapshot.") && !name.ends_with(".tmp") {
                snaps.push(p);
            } else if name.starts_with("log.") {
                logs.push(p);
            }
        }
        let key = |p: &PathBuf| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            i64::from_str_radix(name.rsplit('.').next().unwrap(), 16).unwrap_or(-1)
        };
        snaps.sort_by_key(key);
        logs.sort_by_key(key);
        (snaps, logs)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

fn zxid_of(p: &Path) -> i64 {
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    i64::from_str_radix(name.rsplit('.').next().unwrap(), 16).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Dumps: every node's data, Stat, ACL and children, read through our client

#[derive(Debug, Clone, PartialEq)]
struct Entry {
    data: Option<Vec<u8>>,
    stat: Stat,
    acl: Vec<Acl>,
    children: Vec<String>,
}

type Dump = BTreeMap<String, Entry>;

fn dump(addr: SocketAddr) -> Dump {
    let mut c = Client::connect(addr, T).expect("connect to dump");
    c.add_auth("digest", ALICE.as_bytes()).unwrap();
    let mut out = Dump::new();
    let mut stack = vec!["/".to_string()];
    while let Some(p) = stack.pop() {
        let (data, stat) = c.get_data(&p, false).unwrap_or_else(|e| panic!("getData {p}: {e}"));
        let (acl, acl_stat) = c.get_acl(&p).unwrap_or_else(|e| panic!("getACL {p}: {e}"));
        assert_eq!(stat, acl_stat, "{p}: getData and getACL disagree on the stat");
        let mut children = c.get_children(&p, false).unwrap_or_else(|e| panic!("getChildren {p}: {e}"));
        children.sort();
        for child in &children {
            stack.push(if p == "/" { format!("/{child}") } else { format!("{p}/{child}") });
        }
        out.insert(p, Entry { data, stat, acl, children });
    }
    c.close().unwrap();
    out
}

/// `mntr`'s figures about the tree (the same files must give the same figures).
fn mntr_tree(addr: SocketAddr) -> Vec<String> {
    let m = four(addr, "mntr");
    ["zk_znode_count", "zk_ephemerals_count", "zk_approximate_data_size"]
        .iter()
        .map(|k| {
            m.lines()
                .find(|l| l.split('\t').next() == Some(*k))
                .unwrap_or_else(|| panic!("no {k} in mntr:\n{m}"))
                .to_string()
        })
        .collect()
}

fn show_data(d: &Option<Vec<u8>>) -> String {
    match d {
        None => "null".into(),
        Some(b) if b.len() <= 32 => format!("{b:02x?}"),
        Some(b) => format!("{} bytes, starting {:02x?}", b.len(), &b[..16]),
    }
}

/// Every difference between two dumps, one line each ("" if none).
fn diff(expected: &Dump, actual: &Dump) -> String {
    let mut out = String::new();
    for (p, e) in expected {
        let Some(a) = actual.get(p) else {
            let _ = writeln!(out, "{p}: missing");
            continue;
        };
        if e.data != a.data {
            let _ = writeln!(out, "{p}: data {} != expected {}", show_data(&a.data), show_data(&e.data));
        }
        if e.stat != a.stat {
            let _ = writeln!(out, "{p}: stat\n    got      {:?}\n    expected {:?}", a.stat, e.stat);
        }
        if e.acl != a.acl {
            let _ = writeln!(out, "{p}: acl {:?} != expected {:?}", a.acl, e.acl);
        }
        if e.children != a.children {
            let _ = writeln!(out, "{p}: children {:?} != expected {:?}", a.children, e.children);
        }
    }
    for p in actual.keys().filter(|p| !expected.contains_key(*p)) {
        let _ = writeln!(out, "{p}: unexpected node");
    }
    out
}

#[track_caller]
fn assert_same(step: &str, expected: &Dump, actual: &Dump) {
    let d = diff(expected, actual);
    assert!(d.is_empty(), "{step}: the trees differ ({} vs {} nodes):\n{d}", expected.len(), actual.len());
}

// ---------------------------------------------------------------------------------------------
// Workloads

fn digest_acl(user_pw: &str, perms: i32) -> Acl {
    Acl::new(perms, "digest", &digest_id(user_pw))
}

fn world(perms: i32) -> Acl {
    Acl::new(perms, "world", "anyone")
}

/// create with an exact `data` (None is a null buffer, which the client's `create` cannot send).
fn create_raw(c: &mut Client, opcode: i32, path: &str, data: Option<&[u8]>, acl: Vec<Acl>, flags: i32) -> String {
    let body = CreateRequest { path: path.into(), data: data.map(<[u8]>::to_vec), acl, flags }.to_bytes();
    let reply = c.call(opcode, &body).unwrap_or_else(|e| panic!("create {path}: {e}"));
    // create: CreateResponse{path}; create2/createContainer: Create2Response{path, stat}.
    let mut r = rookery::jute::Reader::new(&reply);
    r.read_ustring().unwrap().unwrap_or_default()
}

fn create_ttl(c: &mut Client, path: &str, data: &[u8], flags: i32, ttl: i64) -> String {
    let body =
        CreateTtlRequest { path: path.into(), data: Some(data.to_vec()), acl: vec![world(perms::ALL)], flags, ttl }
            .to_bytes();
    let reply = c.call(op::CREATE_TTL, &body).unwrap_or_else(|e| panic!("createTTL {path}: {e}"));
    rookery::jute::Reader::new(&reply).read_ustring().unwrap().unwrap_or_default()
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(r: Result<T, ClientError>, code: ErrorCode) {
    match r {
        Err(ClientError::Keeper(c)) if c == code => {}
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

/// Sessions left open when the server is killed, with the ephemerals they own.
struct Held {
    /// Session A: to be resumed on the next server.
    a: Client,
    /// Session B: to be left to expire on the next server.
    b: Client,
}

/// The varied tree of the one-way tests: nested nodes; binary, empty, null and large data;
/// non-ASCII names; sequential nodes with gaps; repeated setData; deletes; digest, auth, ip and
/// read-only ACLs with setACL; a container, TTL nodes; multis that succeed and fail; failed
/// writes (logged as error txns); a bulk of small writes to cross `snapCount` several times;
/// an ephemeral of a closed session, and ephemerals of two sessions left open.
fn write_tree(addr: SocketAddr) -> Held {
    let mut c = Client::connect(addr, T).unwrap();
    c.add_auth("digest", ALICE.as_bytes()).unwrap();
    let open = || vec![world(perms::ALL)];

    c.create("/app", b"app-root", 0).unwrap();
    let binary: Vec<u8> = (0..1024u32).map(|i| (i % 256) as u8).collect();
    c.create("/app/bin", &binary, 0).unwrap();
    c.create("/app/empty", b"", 0).unwrap();
    create_raw(&mut c, op::CREATE, "/app/null", None, open(), 0);
    let big: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    c.create("/app/big", &big, 0).unwrap();
    c.create("/app/a", b"a", 0).unwrap();
    c.create("/app/a/b", b"b", 0).unwrap();
    c.create("/app/a/b/c", b"c", 0).unwrap();
    c.create("/app/a/b/c/d", "dé\u{0}\u{7f}".as_bytes(), 0).unwrap();
    c.create("/app/ünïcødé-名前", "ünï".as_bytes(), 0).unwrap();
    create_raw(&mut c, op::CREATE2, "/app/c2", Some(b"create2"), open(), 0);

    // Sequential nodes, with gaps where some are deleted.
    c.create("/app/q", b"", 0).unwrap();
    let mut items = Vec::new();
    for i in 0..6 {
        items.push(c.create("/app/q/item-", format!("job {i}").as_bytes(), 2).unwrap());
    }
    assert_eq!(items[0], "/app/q/item-0000000000");
    c.delete(&items[1], 0).unwrap();
    c.delete(&items[3], -1).unwrap();

    // setData several times, with and without a version check.
    for v in 0..5 {
        c.set_data("/app/a", format!("a v{}", v + 1).as_bytes(), v).unwrap();
    }
    c.set_data("/app/a", b"a last", -1).unwrap();
    c.set_data("/app/empty", b"", -1).unwrap();

    // A subtree created and removed again (pzxid and cversion of /app move on).
    c.create("/app/tmp", b"t", 0).unwrap();
    c.create("/app/tmp/x", b"x", 0).unwrap();
    c.create("/app/tmp/y", b"y", 0).unwrap();
    c.delete("/app/tmp/x", 0).unwrap();
    c.delete("/app/tmp/y", 0).unwrap();
    c.delete("/app/tmp", 0).unwrap();

    // ACLs: digest at create, the `auth` scheme (stored as alice's digest), ip, setACL to
    // world:anyone:READ and to a two-entry list, twice (aversion 2).
    c.create_with_acl("/secure", b"s", vec![digest_acl(ALICE, perms::ALL)], 0).unwrap();
    c.create_with_acl("/secure/inner", b"i", vec![Acl::new(perms::ALL, "auth", "")], 0).unwrap();
    c.create_with_acl("/app/ip", b"ip", vec![Acl::new(perms::ALL, "ip", "127.0.0.1")], 0).unwrap();
    c.set_acl("/app/bin", vec![world(perms::READ)], 0).unwrap();
    c.set_acl("/app/a", vec![digest_acl(ALICE, perms::ALL), world(perms::READ)], 0).unwrap();
    c.set_acl("/app/a", vec![digest_acl(ALICE, perms::ALL), world(perms::READ | perms::CREATE)], 1).unwrap();
    c.create_with_acl(
        "/app/mixed",
        b"m",
        vec![digest_acl("bob:pw", perms::READ | perms::WRITE), digest_acl(ALICE, perms::ALL), world(perms::READ)],
        0,
    )
    .unwrap();

    // A container with a child (so it is not reaped), and TTL nodes with a long ttl.
    create_raw(&mut c, op::CREATE_CONTAINER, "/app/cont", Some(b"container"), open(), 4);
    c.create("/app/cont/child", b"keeps it", 0).unwrap();
    create_ttl(&mut c, "/app/ttl", b"ttl", 5, 3_600_000);
    create_ttl(&mut c, "/app/ttlseq-", b"ttl seq", 6, 7_200_000);

    // A multi that commits, one that fails (an error txn inside a multi), failed plain writes.
    let results = c
        .multi(&[
            Op::Create { path: "/app/m1".into(), data: b"m1".to_vec(), flags: 0 },
            Op::Create { path: "/app/m2".into(), data: b"m2".to_vec(), flags: 0 },
            Op::SetData { path: "/app/m1".into(), data: b"m1 changed".to_vec(), version: 0 },
            Op::Delete { path: items[0].clone(), version: 0 },
            Op::Check { path: "/app/a".into(), version: 6 },
            Op::Create { path: "/app/q/multi-".into(), data: b"seq in multi".to_vec(), flags: 2 },
        ])
        .unwrap();
    assert!(!results.iter().any(|r| matches!(r, OpResult::Error(_))), "multi failed: {results:?}");
    let results = c
        .multi(&[
            Op::Create { path: "/app/m3".into(), data: b"never".to_vec(), flags: 0 },
            Op::Check { path: "/app/m1".into(), version: 99 },
        ])
        .unwrap();
    assert!(results.iter().any(|r| matches!(r, OpResult::Error(_))), "multi should fail: {results:?}");
    expect_err(c.create("/app", b"again", 0), ErrorCode::NodeExists);
    expect_err(c.delete("/app/nothing", -1), ErrorCode::NoNode);
    expect_err(c.set_data("/app/a", b"stale", 1), ErrorCode::BadVersion);

    // A bulk of small writes: with snapCount=10 this spans several snapshots and log files.
    c.create("/bulk", b"", 0).unwrap();
    for i in 0..30 {
        c.create(&format!("/bulk/n{i:02}"), format!("{i}").as_bytes(), 0).unwrap();
    }
    for i in (0..30).step_by(3) {
        c.set_data(&format!("/bulk/n{i:02}"), b"set", 0).unwrap();
    }
    for i in (0..30).step_by(5) {
        c.delete(&format!("/bulk/n{i:02}"), -1).unwrap();
    }

    // Session C: an ephemeral that goes with its session's close (closeSession's paths2Delete).
    let mut sc = Client::connect(addr, T).unwrap();
    sc.create("/app/eph-c", b"c", 1).unwrap();
    sc.close().unwrap();

    // Sessions A and B stay open across the crash.
    let mut a = Client::connect(addr, A_TIMEOUT).unwrap();
    a.create("/app/eph-a", b"owned by A", 1).unwrap();
    a.create("/app/q/eph-", b"A's sequential", 3).unwrap();
    let mut b = Client::connect(addr, B_TIMEOUT).unwrap();
    b.create("/app/eph-b", b"owned by B", 1).unwrap();

    // Writes after the ephemerals, so the last snapshots hold them.
    for i in 0..6 {
        c.set_data("/app", format!("app-root {i}").as_bytes(), i).unwrap();
    }
    c.close().unwrap();
    Held { a, b }
}

/// A round of the round-trip test: new nodes under /round<n>, and changes to nodes of earlier
/// rounds (and of `write_tree`'s /app when present).
fn write_round(addr: SocketAddr, n: u32) {
    let mut c = Client::connect(addr, T).unwrap();
    c.add_auth("digest", ALICE.as_bytes()).unwrap();
    let base = format!("/round{n}");
    c.create(&base, format!("round {n}").as_bytes(), 0).unwrap();
    for i in 0..12 {
        c.create(&format!("{base}/s-"), format!("{n}.{i}").as_bytes(), 2).unwrap();
    }
    c.delete(&format!("{base}/s-0000000004"), -1).unwrap();
    c.set_data(&base, &[n as u8; 3], 0).unwrap();
    create_raw(&mut c, op::CREATE, &format!("{base}/null"), None, vec![world(perms::ALL)], 0);
    c.create_with_acl(&format!("{base}/secret"), b"x", vec![digest_acl(ALICE, perms::ALL)], 0).unwrap();
    c.set_acl(&format!("{base}/secret"), vec![digest_acl(ALICE, perms::ALL), world(perms::READ)], 0).unwrap();
    c.multi(&[
        Op::Create { path: format!("{base}/m"), data: b"m".to_vec(), flags: 0 },
        Op::SetData { path: base.clone(), data: b"multi".to_vec(), version: 1 },
    ])
    .unwrap();
    c.multi(&[
        Op::Create { path: format!("{base}/never"), data: vec![], flags: 0 },
        Op::Check { path: base.clone(), version: 0 },
    ])
    .unwrap();
    let mut e = Client::connect(addr, T).unwrap();
    e.create(&format!("{base}/eph"), b"gone at close", 1).unwrap();
    e.close().unwrap();
    for prev in 1..n {
        let p = format!("/round{prev}");
        c.set_data(&p, format!("touched in round {n}").as_bytes(), -1).unwrap();
        c.delete(&format!("{p}/s-{:010}", n + 4), -1).unwrap();
        c.create(&format!("{p}/from-{n}"), b"", 0).unwrap();
    }
    if c.exists("/app", false).unwrap().is_some() {
        c.set_data("/app", format!("round {n}").as_bytes(), -1).unwrap();
        c.delete(&format!("/bulk/n{:02}", n), -1).unwrap();
    }
    c.close().unwrap();
}

/// `path` is gone within `timeout` (an expired session's ephemeral).
fn wait_gone(addr: SocketAddr, path: &str, timeout: Duration) -> bool {
    let mut c = Client::connect(addr, T).unwrap();
    let gone = wait_until(timeout, || matches!(c.exists(path, false), Ok(None)));
    let _ = c.close();
    gone
}

/// After a crash, the other server has the sessions left open: A resumes with its password and
/// closes (its ephemerals go at once); B is left alone and expires after its timeout, as ZooKeeper
/// expires sessions it recovered from disk. `before` is the dump taken before the crash.
fn check_held_sessions(addr: SocketAddr, held: Held, before: &Dump, server: &str) {
    let Held { a, b } = held;
    assert_eq!(before["/app/eph-a"].stat.ephemeral_owner, a.session_id);
    assert_eq!(before["/app/eph-b"].stat.ephemeral_owner, b.session_id);
    let a = Client::resume(addr, A_TIMEOUT, a.session_id, a.passwd.clone(), a.last_zxid)
        .unwrap_or_else(|e| panic!("{server} refused to resume session A 0x{:x}: {e}", a.session_id));
    a.close().unwrap();
    let mut c = Client::connect(addr, T).unwrap();
    assert_eq!(c.exists("/app/eph-a", false).unwrap(), None, "{server}: A's ephemeral outlived its close");
    let mut eph_seq = c.get_children("/app/q", false).unwrap();
    eph_seq.retain(|n| n.starts_with("eph-"));
    assert!(eph_seq.is_empty(), "{server}: A's sequential ephemeral outlived its close: {eph_seq:?}");
    let _ = c.close();
    let started = Instant::now();
    let limit = Duration::from_millis((B_TIMEOUT + 4 * TICK_MS) as u64 + 5_000);
    assert!(wait_gone(addr, "/app/eph-b", limit), "{server}: B's ephemeral still there after {limit:?}");
    eprintln!("{server}: session B's ephemeral expired after {:?}", started.elapsed());
    // B cannot come back.
    match Client::resume(addr, B_TIMEOUT, b.session_id, b.passwd.clone(), b.last_zxid) {
        Err(ClientError::Keeper(ErrorCode::SessionExpired)) | Err(ClientError::Io(_)) => {}
        Ok(_) => panic!("{server}: expired session B resumed"),
        Err(e) => panic!("{server}: resuming expired session B: {e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

/// ZooKeeper writes (no snapshot but its first, then with snapCount=10), Rookery reads.
#[test]
fn zk_writes_rookery_reads() {
    if !have_zookeeper() {
        return;
    }
    for (variant, props) in [("log only", &[][..]), ("snapshots and logs", &["zookeeper.snapCount=10"][..])] {
        let site = Site::new("zk2rk");
        let mut zk = site.zk(props);
        let held = write_tree(zk.addr);
        let before = dump(zk.addr);
        let figures = mntr_tree(zk.addr);
        zk.kill();
        let (snaps, logs) = site.files();
        eprintln!("{variant}: ZooKeeper left {} snapshots and {} logs", snaps.len(), logs.len());
        if props.is_empty() {
            assert_eq!(snaps.len(), 1, "{variant}: expected only ZooKeeper's start-up snapshot: {snaps:?}");
        } else {
            assert!(snaps.len() >= 5 && logs.len() >= 5, "{variant}: snapCount=10 gave {snaps:?} {logs:?}");
        }
        let rk = site.rookery("");
        let after = dump(rk.addr);
        assert_same(&format!("{variant}: Rookery on ZooKeeper's files"), &before, &after);
        assert_eq!(mntr_tree(rk.addr), figures, "{variant}: mntr of Rookery vs ZooKeeper");
        eprintln!("{variant}: {}", rk.log().lines().find(|l| l.contains("Loaded snapshot")).unwrap_or("?"));
        check_held_sessions(rk.addr, held, &before, &format!("Rookery ({variant})"));
        let log = rk.log();
        let complaints: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
        assert!(
            complaints.is_empty(),
            "{variant}: Rookery complained about ZooKeeper's files:\n{}",
            complaints.join("\n")
        );
    }
}

/// Rookery writes (snapCount=10: several snapshots and logs), ZooKeeper reads.
#[test]
fn rookery_writes_zk_reads() {
    if !have_zookeeper() {
        return;
    }
    let site = Site::new("rk2zk");
    let mut rk = site.rookery("snapCount=10");
    let held = write_tree(rk.addr);
    let before = dump(rk.addr);
    let figures = mntr_tree(rk.addr);
    rk.kill();
    let (snaps, logs) = site.files();
    eprintln!("Rookery left {} snapshots and {} logs", snaps.len(), logs.len());
    assert!(snaps.len() >= 3 && logs.len() >= 3, "snapCount=10 gave {snaps:?} {logs:?}");
    // First, on a copy holding only the first snapshot, ZooKeeper replays all of Rookery's log
    // (checking each txn's TxnDigest, where there is one, against its own tree).
    let replay = Site::new("rk2zk-replay");
    copy_dir(&site.version2(), &replay.version2());
    let (replay_snaps, _) = replay.files();
    for s in &replay_snaps[1..] {
        std::fs::remove_file(s).unwrap();
    }
    let zk = replay.zk(&[]);
    assert_same("ZooKeeper replaying all of Rookery's log", &before, &dump(zk.addr));
    zk.assert_clean();
    let replayed = zk.log().lines().find_map(|l| {
        l.split(" - ").nth(1)?.strip_suffix(" ms")?.split_once(" txns loaded in").map(|(n, _)| n.to_string())
    });
    eprintln!("ZooKeeper replayed {} txns of Rookery's log from snapshot.0", replayed.as_deref().unwrap_or("?"));
    // Rookery writes a TxnDigest after every txn but error txns, as ZooKeeper 3.8 does, and
    // ZooKeeper checks each on replay: it must have compared them, and found them all equal
    // (assert_clean checks zk_digest_mismatches_count is 0).
    let matched = zk.digests_matched_at_load();
    eprintln!("ZooKeeper compared {matched} txn digests of Rookery's log, all equal");
    assert!(matched > 0, "ZooKeeper compared no txn digest of Rookery's log; log:\n{}", zk.log());
    drop(zk);

    // Then on the files as Rookery left them: its newest snapshot (whose digest ZooKeeper
    // checks once it has replayed the log up to the digest's zxid) and the logs after it.
    let zk = site.zk(&[]);
    let after = dump(zk.addr);
    assert_same("ZooKeeper on Rookery's files", &before, &after);
    assert_eq!(mntr_tree(zk.addr), figures, "mntr of ZooKeeper vs Rookery");
    zk.assert_clean();
    check_held_sessions(zk.addr, held, &before, "ZooKeeper");
    zk.assert_clean();
}

/// ZooKeeper's own tools read every log and snapshot Rookery wrote: TxnLogToolkit (which checks
/// each record's CRC) and SnapshotFormatter, plus CheckSnapshots for what SnapshotFormatter does
/// not check (seals, digests). Damaged copies show that each check can fail.
#[test]
fn zk_tools_read_our_files() {
    if !have_zookeeper() {
        return;
    }
    let site = Site::new("rktools");
    let mut rk = site.rookery("snapCount=20");
    let _held = write_tree(rk.addr);
    let before = dump(rk.addr);
    rk.kill();
    let (snaps, logs) = site.files();
    assert!(snaps.len() >= 3 && logs.len() >= 2, "{snaps:?} {logs:?}");
    eprintln!("checking {} logs and {} snapshots", logs.len(), snaps.len());
    const TOOLKIT: &str = "org.apache.zookeeper.server.persistence.TxnLogToolkit";
    const FORMATTER: &str = "org.apache.zookeeper.server.SnapshotFormatter";

    // TxnLogToolkit --dump: every record of every file, zxids 1..=last with no gap, no CRC error.
    let mut zxids = Vec::new();
    for log in &logs {
        let (code, out, err) = java_tool(None, TOOLKIT, &["--dump", log.to_str().unwrap()]);
        let all = format!("{out}\n{err}");
        let ctx = || format!("TxnLogToolkit --dump {}:\n{all}", log.display());
        assert_eq!(code, 0, "{}", ctx());
        assert!(out.starts_with("ZooKeeper Transactional Log File with dbid 0 txnlog format version 2"), "{}", ctx());
        assert!(!all.contains("CRC ERROR") && !all.contains("Exception"), "{}", ctx());
        let here = printed_zxids(&out);
        let count: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("EOF reached after ")?.strip_suffix(" txns.")?.parse().ok())
            .unwrap_or_else(|| panic!("no txn count; {}", ctx()));
        assert_eq!(here.len(), count, "{}", ctx());
        assert_eq!(here.first(), Some(&zxid_of(log)), "the first txn is not the one the name gives; {}", ctx());
        zxids.extend(here);
    }
    let last = *zxids.last().unwrap();
    assert_eq!(zxids, (1..=last).collect::<Vec<_>>(), "the logs together do not hold txns 1..=0x{last:x} once each");
    assert!(last > before["/app"].stat.mzxid, "the last write is not in the logs");
    eprintln!("TxnLogToolkit read txns 0x1..=0x{last:x} from {} files", logs.len());

    // SnapshotFormatter: every snapshot parses, with the nodes, stats and sessions Rookery wrote.
    let mut total_nodes = 0;
    for snap in &snaps {
        let (code, out, err) = java_tool(None, FORMATTER, &[snap.to_str().unwrap()]);
        let all = format!("{out}\n{err}");
        let ctx = || format!("SnapshotFormatter {}:\n{all}", snap.display());
        assert_eq!(code, 0, "{}", ctx());
        assert!(!all.contains("Exception"), "{}", ctx());
        let ours = rookery::storage::snapshot::read_snapshot(snap).unwrap();
        // ZooKeeper's DataTree maps both "" and "/" to the root, and counts both.
        assert!(out.starts_with(&format!("ZNode Details (count={}):", ours.tree.node_count() + 1)), "{}", ctx());
        let last_zxid = out
            .lines()
            .find_map(|l| i64::from_str_radix(l.strip_prefix("Last zxid: 0x")?, 16).ok())
            .unwrap_or_else(|| panic!("no Last zxid; {}", ctx()));
        assert!(last_zxid >= zxid_of(snap), "{}", ctx());
        // Node by node, the stat ZooKeeper read is the one Rookery wrote; the sessions too.
        let theirs = formatter_nodes(&out);
        let ours_nodes: BTreeMap<String, String> = ours
            .tree
            .nodes_after(None, usize::MAX)
            .map(|(p, n)| {
                let len = n.data.as_ref().map_or(0, |d| d.len());
                (p.clone(), formatter_fields(&n.stat, len))
            })
            .collect();
        let d: Vec<_> = ours_nodes
            .iter()
            .filter(|(p, f)| theirs.get(*p) != Some(f))
            .map(|(p, f)| format!("{p}: ours {f}, SnapshotFormatter {:?}", theirs.get(p)))
            .chain(theirs.keys().filter(|p| !ours_nodes.contains_key(*p)).map(|p| format!("{p}: not ours")))
            .collect();
        assert!(d.is_empty(), "{}:\n{}", snap.display(), d.join("\n"));
        let sessions: BTreeMap<i64, i32> = out
            .split("Session Details (sid, timeout, ephemeralCount):\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no Session Details; {}", ctx()))
            .lines()
            .take_while(|l| l.starts_with("0x"))
            .map(|l| {
                let f: Vec<&str> = l.split(", ").collect();
                (i64::from_str_radix(&f[0][2..], 16).unwrap(), f[1].parse().unwrap())
            })
            .collect();
        assert_eq!(sessions, ours.tree.sessions, "{}", ctx());
        total_nodes += ours_nodes.len();
    }
    eprintln!("SnapshotFormatter agreed on {total_nodes} nodes in {} snapshots", snaps.len());

    // CheckSnapshots: ZooKeeper's server-side loader accepts every snapshot (seals included),
    // and after replaying the log to each snapshot's digest zxid its tree has that digest.
    let (code, checks, all) = check_snapshots(&site.version2());
    assert_eq!(code, 0, "CheckSnapshots:\n{all}");
    assert_eq!(checks.len(), snaps.len(), "CheckSnapshots:\n{all}");
    for c in &checks {
        assert_eq!(c.mismatches, 0, "digest mismatch: {c:?}\n{all}");
        assert!(c.digest_zxid == 0 || c.reached_digest, "the log never reached the digest's zxid: {c:?}\n{all}");
        assert_eq!(c.nodes, before.len() + 1, "after replaying the whole log (root counted twice): {c:?}");
    }
    assert!(checks.iter().all(|c| c.replayed as i64 == last - zxid_of(&site.version2().join(&c.name))), "{all}");

    // Controls: a flipped byte in a log record is a CRC ERROR; a snapshot whose digest is off
    // by one is a mismatch; a flipped byte in a snapshot makes ZooKeeper's loader refuse it.
    let control = Site::new("rktools-control");
    std::fs::create_dir_all(control.version2()).unwrap();
    let log = &logs[1];
    let damaged = control.version2().join(log.file_name().unwrap());
    let mut bytes = std::fs::read(log).unwrap();
    bytes[16 + 12 + 40] ^= 0xff; // file header, checksum + length, into the first payload
    std::fs::write(&damaged, &bytes).unwrap();
    let (_, out, _) = java_tool(None, TOOLKIT, &["--dump", damaged.to_str().unwrap()]);
    assert!(out.contains("CRC ERROR"), "TxnLogToolkit did not notice a flipped byte:\n{out}");
    std::fs::remove_file(&damaged).unwrap();

    let snap = snaps.last().unwrap();
    let loaded = rookery::storage::snapshot::read_snapshot(snap).unwrap();
    let (dz, d) = loaded.digest.unwrap();
    assert!(dz > 0);
    let t = &loaded.tree;
    // Named after the digest's zxid, so that the loader compares the digest at once.
    let mut w = rookery::storage::snapshot::SnapshotWriter::new(dz, &t.sessions);
    w.add_nodes(t.nodes_after(None, usize::MAX), |i| t.acls.get(i));
    let (wrong, _) = w.finish(&control.version2(), (dz, d.wrapping_add(1))).unwrap();
    let mut bytes = std::fs::read(snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(control.version2().join(format!("snapshot.{:x}", dz + 1)), &bytes).unwrap();
    let (code, checks, all) = check_snapshots(&control.version2());
    assert_eq!(code, 1, "CheckSnapshots accepted a damaged snapshot:\n{all}");
    assert!(all.contains(&format!("BAD snapshot.{:x}", dz + 1)), "{all}");
    let wrong_name = wrong.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        checks.iter().any(|c| c.name == wrong_name && c.mismatches == 1),
        "CheckSnapshots did not see a wrong digest:\n{all}"
    );
}

/// ZooKeeper -> Rookery -> ZooKeeper -> Rookery, with writes at every step and kill -9 between;
/// ZooKeeper takes snapshots every few txns, so each side starts from the other's snapshot.
/// Also: on an empty data directory both write the same `snapshot.0`, byte for byte.
#[test]
fn round_trip() {
    if !have_zookeeper() {
        return;
    }
    let site = Site::new("roundtrip");
    let snap10 = ["zookeeper.snapCount=10"];

    let mut zk = site.zk(&snap10);
    let zk_snapshot0 = std::fs::read(site.version2().join("snapshot.0")).expect("ZooKeeper's snapshot.0");
    let Held { a, b } = write_tree(zk.addr);
    a.close().unwrap();
    b.close().unwrap();
    write_round(zk.addr, 1);
    let d1 = dump(zk.addr);
    zk.kill();
    drop(zk);

    let mut rk = site.rookery("snapCount=10");
    assert_same("1: Rookery on ZooKeeper's files", &d1, &dump(rk.addr));
    write_round(rk.addr, 2);
    let d2 = dump(rk.addr);
    rk.kill();
    drop(rk);

    let mut zk = site.zk(&snap10);
    assert_same("2: ZooKeeper on Rookery's files", &d2, &dump(zk.addr));
    zk.assert_clean();
    write_round(zk.addr, 3);
    let d3 = dump(zk.addr);
    zk.kill();
    drop(zk);

    let rk = site.rookery("snapCount=10");
    assert_same("3: Rookery on ZooKeeper's files again", &d3, &dump(rk.addr));
    write_round(rk.addr, 4);
    let d4 = dump(rk.addr);
    let rk = rk.restart();
    assert_same("4: Rookery on its own files after the round trip", &d4, &dump(rk.addr));
    drop(rk);

    let empty = Site::new("empty");
    let mut rk = empty.rookery("");
    rk.kill();
    let ours = std::fs::read(empty.version2().join("snapshot.0")).expect("Rookery's snapshot.0");
    assert!(
        ours == zk_snapshot0,
        "snapshot.0 of an empty data directory differs from ZooKeeper's:\n ours   {ours:02x?}\n theirs {zk_snapshot0:02x?}"
    );
}
