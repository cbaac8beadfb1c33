//! Rookery driven by Apache ZooKeeper 3.8's own Java client (`org.apache.zookeeper.ZooKeeper`
//! from Debian's `/usr/share/java/zookeeper.jar`): one test per scenario group of
//! `tests/java/JavaClientChecks.java`, each in one JVM against a fresh server.
//!
//! - multi: a multi of reads only (the client sends multiRead, opcode 22) with error results,
//!   write multis and `transaction()` with `Op.check`, failed and asynchronous ones;
//! - create: `create`/`create2` with every `CreateMode` (containers and TTL nodes need
//!   `extendedTypesEnabled=true`), `getAllChildrenNumber`, `getEphemerals` with and without a
//!   prefix, the reaping of containers and TTL nodes;
//! - auth and ACLs: `addAuthInfo`, `whoAmI`, `CREATOR_ALL_ACL` with `setACL`/`getACL`, an
//!   unknown scheme, `sync`;
//! - watches: `addWatch` (PERSISTENT, PERSISTENT_RECURSIVE), `removeWatches` (which the client
//!   sends as checkWatches) and `removeAllWatches`;
//! - reconnect: the client's own setWatches and setWatches2 (with auth, a chroot, and enough
//!   watches to take two packets) after its connection is cut by a proxy this test controls,
//!   while another client changes the watched nodes; and a session that moves to a new
//!   connection while the server still holds the old one open;
//! - expiry: a short session cut off until it expires: its ephemeral goes, its watcher sees
//!   `Expired`.
//!
//! The Java program exits 0 when every check holds; on failure this test prints its output and
//! the server log. Every check was verified against Apache ZooKeeper 3.8.0 itself: set
//! `ROOKERY_JAVA_REFERENCE=zookeeper` to run the same tests against `ZooKeeperServerMain` from the
//! Debian jars instead of Rookery. They need `java`, `javac` and the jars: `make deps`.

mod common;

use common::reference::ReferenceZk;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

const JARS: &str = "/usr/share/java";
/// The classpath javac compiles against and the client runs with. With every jar there, SLF4J
/// would pick the no-op binding; slf4j-simple first makes the client (and the reference server)
/// log to stderr, which a failure shows.
const CLASSPATH: &str = "/usr/share/java/slf4j-simple.jar:/usr/share/java/*";
/// Client log settings for slf4j-simple.
const LOG_FLAGS: [&str; 4] = [
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
    "-Dorg.slf4j.simpleLogger.log.org.apache.zookeeper.ClientCnxn=info",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
];
const SOURCE: &str = "tests/java/JavaClientChecks.java";
const MAIN_CLASS: &str = "JavaClientChecks";
/// How long one group may run, JVM start included (two busy cores make everything slower; the
/// Java side bounds each of its own waits to 30 s).
const GROUP_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the server may take to notice that a released connection is closed.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of the server log a failure message shows.
const LOG_TAIL_LINES: usize = 300;
/// JVM flags that only make start-up cheaper.
const JVM_FLAGS: [&str; 3] = ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"];
/// Sessions long enough to survive the reconnect test's cuts and a loaded machine (the
/// harness's tick is 200 ms, so the default maximum would be 4 s). The Java side asks for 30 s,
/// and for 2 s where a session is meant to expire.
const LONG_SESSIONS: &str = "maxSessionTimeout=60000";
/// TTL nodes, and a container/TTL reaper that runs often enough for a test to wait on it.
const EXTENDED_TYPES: &str = "maxSessionTimeout=60000\nextendedTypesEnabled=true\nznode.container.checkIntervalMs=100";

// ---------------------------------------------------------------------------------------------
// Java

/// Fails with what to run when the JDK or ZooKeeper's jars are missing.
fn require_java() {
    for tool in ["java", "javac"] {
        let ok = Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
        assert!(ok, "`{tool}` is not installed: run `make deps` (a JDK and Debian's zookeeper package)");
    }
    for jar in ["zookeeper.jar", "zookeeper-jute.jar"] {
        let p = Path::new(JARS).join(jar);
        assert!(p.exists(), "{} is missing: run `make deps` (Debian's zookeeper package)", p.display());
    }
}

/// The compiled classes, shared by the tests that run at the same time (javac takes seconds)
/// and removed when the last of them ends.
fn classes() -> Arc<common::TempDir> {
    static SHARED: Mutex<Weak<common::TempDir>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap();
    if let Some(dir) = shared.upgrade() {
        return dir;
    }
    require_java();
    let dir = common::TempDir::new("java-classes");
    let out = Command::new("javac")
        .args(["-proc:none", "-implicit:none", "-encoding", "UTF-8", "-cp", CLASSPATH, "-d"])
        .arg(&dir.0)
        .arg(common::root().join(SOURCE))
        .output()
        .expect("spawn javac (run `make deps`)");
    assert!(
        out.status.success(),
        "javac {SOURCE} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = Arc::new(dir);
    *shared = Arc::downgrade(&dir);
    dir
}

// ---------------------------------------------------------------------------------------------
// The server under test: Rookery, or Apache ZooKeeper as the reference

enum Target {
    Rookery(common::Server),
    Reference(ReferenceZk),
}

impl Target {
    fn start(extra: &str) -> Target {
        if std::env::var("ROOKERY_JAVA_REFERENCE").is_ok_and(|v| v == "zookeeper") {
            Target::Reference({
                require_java();
                ReferenceZk::start("java-refzk", extra, &format!("{CLASSPATH}:/etc/zookeeper/conf"), &LOG_FLAGS)
            })
        } else {
            Target::Rookery(common::Server::start(extra))
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Target::Rookery(s) => s.addr,
            Target::Reference(z) => z.addr,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Target::Rookery(_) => "Rookery",
            Target::Reference(_) => "ZooKeeper (reference)",
        }
    }

    fn log(&self) -> String {
        match self {
            Target::Rookery(s) => s.log(),
            Target::Reference(z) => std::fs::read_to_string(z.dir.0.join("server.log")).unwrap_or_default(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A loopback TCP proxy the test controls

/// Forwards every connection to `upstream`, both ways. `cut()` drops every open connection and
/// makes the proxy close new ones at once (the client keeps retrying), until `restore()`.
/// `detach()` is a cut of the client's side only: the server's side of each connection stays
/// open, unread, as if the network had swallowed it, until `release()` closes it.
struct Proxy {
    addr: SocketAddr,
    refusing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// Every connection accepted and not yet cut or detached.
    conns: Arc<Mutex<Vec<Conn>>>,
    /// The server's side of detached connections.
    held: Mutex<Vec<TcpStream>>,
}

struct Conn {
    client: TcpStream,
    server: TcpStream,
    /// Set on detach: the pumps then leave the server's side open when they stop.
    detached: Arc<AtomicBool>,
}

/// Copies one direction until either side closes, then closes both (unless detached).
fn pump(mut from: TcpStream, mut to: TcpStream, detached: Arc<AtomicBool>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if detached.load(Ordering::SeqCst) || to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    if !detached.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    }
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let refusing = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let (r, s, c) = (refusing.clone(), stop.clone(), conns.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                if r.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(5)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c1), Ok(s1), Ok(c2), Ok(s2)) =
                    (client.try_clone(), server.try_clone(), client.try_clone(), server.try_clone())
                else {
                    continue;
                };
                let detached = Arc::new(AtomicBool::new(false));
                c.lock().unwrap().push(Conn { client: c1, server: s1, detached: detached.clone() });
                let d2 = detached.clone();
                thread::spawn(move || pump(client, server, detached));
                thread::spawn(move || pump(s2, c2, d2));
            }
        });
        Proxy { addr, refusing, stop, conns, held: Mutex::default() }
    }

    fn cut(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.client.shutdown(Shutdown::Both);
            let _ = c.server.shutdown(Shutdown::Both);
        }
    }

    fn detach(&self) {
        self.refusing.store(true, Ordering::SeqCst);
        let mut held = self.held.lock().unwrap();
        for c in self.conns.lock().unwrap().drain(..) {
            c.detached.store(true, Ordering::SeqCst);
            let _ = c.client.shutdown(Shutdown::Both);
            held.push(c.server);
        }
    }

    /// Closes the server's side of the detached connections; returns their local ports (the
    /// client ports the server sees).
    fn release(&self) -> Vec<u16> {
        let mut ports = Vec::new();
        for s in self.held.lock().unwrap().drain(..) {
            if let Ok(a) = s.local_addr() {
                ports.push(a.port());
            }
            let _ = s.shutdown(Shutdown::Both);
        }
        ports
    }

    fn restore(&self) {
        self.refusing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        self.release();
    }
}

/// Sends a four-letter word and returns the answer.
fn four(addr: SocketAddr, cmd: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(cmd.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Running one group

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts a server with `extra` zoo.cfg lines (and a proxy to it when `with_proxy`), runs the
/// Java group against it, answers the group's proxy requests, and fails with the Java output
/// and the server log unless the group exits 0 in time.
fn run_group(group: &str, extra: &str, with_proxy: bool) {
    let classes = classes();
    let target = Target::start(extra);
    let proxy = with_proxy.then(|| Proxy::start(target.addr()));
    let mut cmd = Command::new("java");
    cmd.args(JVM_FLAGS)
        .args(LOG_FLAGS)
        .arg("-cp")
        .arg(format!("{CLASSPATH}:{}", classes.0.display()))
        .arg(MAIN_CLASS)
        .arg(group)
        .arg(target.addr().to_string());
    if let Some(p) = &proxy {
        cmd.arg(p.addr.to_string());
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn java (run `make deps`)");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + GROUP_TIMEOUT;
    let mut out = String::new();
    let mut problem = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(200))) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
                let Some(request) = line.strip_prefix("@@") else { continue };
                let answer = match (request, &proxy) {
                    ("cut", Some(p)) => {
                        p.cut();
                        "ok".to_string()
                    }
                    ("detach", Some(p)) => {
                        p.detach();
                        "ok".to_string()
                    }
                    ("restore", Some(p)) => {
                        p.restore();
                        "ok".to_string()
                    }
                    ("release", Some(p)) => {
                        // Answers once the server no longer lists the released connections.
                        let ports = p.release();
                        let gone = |cons: &str| ports.iter().all(|port| !cons.contains(&format!(":{port}[")));
                        if common::wait_until(RELEASE_TIMEOUT, || gone(&four(target.addr(), "cons"))) {
                            "ok".to_string()
                        } else {
                            format!(
                                "the server still lists a released connection (ports {ports:?}) after \
                                 {RELEASE_TIMEOUT:?}: {}",
                                four(target.addr(), "cons").replace('\n', " | ")
                            )
                        }
                    }
                    _ => {
                        problem = Some(format!("unexpected request {line:?}"));
                        break;
                    }
                };
                if stdin.write_all(format!("{answer}\n").as_bytes()).and_then(|_| stdin.flush()).is_err() {
                    problem = Some("could not answer the Java program".into());
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() >= deadline => {
                problem = Some(format!("did not finish within {GROUP_TIMEOUT:?} and was killed"));
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    // stdout is closed (or we gave up): the JVM is exiting; wait for it, boundedly.
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for java") {
            break Some(status);
        }
        if problem.is_some() || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let stderr = err.join().unwrap_or_default();
    let verdict = match (status, problem) {
        (Some(s), None) if s.success() => {
            eprint!("{out}");
            return;
        }
        (_, Some(p)) => p,
        (Some(s), None) => format!("exited with {s}"),
        (None, None) => "was killed".into(),
    };
    panic!(
        "Java client group `{group}` against {} on {} {verdict}\n\
         ----- java stdout -----\n{out}\n\
         ----- java stderr -----\n{stderr}\n\
         ----- server log (last {LOG_TAIL_LINES} lines) -----\n{}",
        target.name(),
        target.addr(),
        tail(&target.log(), LOG_TAIL_LINES)
    );
}

#[test]
fn java_multi_read_and_transactions_with_check() {
    run_group("multi", EXTENDED_TYPES, false);
}

#[test]
fn java_create_modes_all_children_number_ephemerals_and_reaping() {
    run_group("create", EXTENDED_TYPES, false);
}

#[test]
fn java_auth_who_am_i_creator_all_acl_and_sync() {
    run_group("auth_acl", LONG_SESSIONS, false);
}

#[test]
fn java_persistent_watches_and_remove_watches() {
    run_group("watches", LONG_SESSIONS, false);
}

#[test]
fn java_set_watches_after_reconnect_through_a_proxy() {
    run_group("reconnect", LONG_SESSIONS, true);
}

#[test]
fn java_session_expiry_through_a_proxy() {
    run_group("expiry", LONG_SESSIONS, true);
}
