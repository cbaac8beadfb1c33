//! Drives third-party ZooKeeper clients (zkCli.sh from Apache ZooKeeper 3.8 and the C client's
//! `cli_mt`) as child processes, line by line, against a server under test.
//!
//! The server under test is Rookery (`common::Server`) unless `ROOKERY_CLI_REFERENCE=zookeeper`
//! is set, in which case the same tests run against a real Apache ZooKeeper started from the
//! Debian jars. That is how the expected outputs in `tests/zkcli.rs` and `tests/cclient.rs` were
//! checked: they must pass against both.
//!
//! Every wait has a deadline, every child runs in its own process group and is killed (that group
//! only, by id) when its handle drops, so a hung client cannot hang the test run.
#![allow(dead_code)]

pub mod proxy;

use crate::common::reference::ReferenceZk;
use crate::common::{self};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const ZKCLI: &str = "/usr/share/zookeeper/bin/zkCli.sh";
pub const CLI_MT: &str = "/usr/lib/zookeeper/bin/cli_mt";
const ZK_CLASSPATH: &str = "/usr/share/java/*:/etc/zookeeper/conf";

/// How long a client may take to start and connect (a JVM on two busy cores is slow).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one command, or one expected watch event, may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a child gets to exit after `quit` before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// Fails loudly when a reference client is not installed.
pub fn require(bin: &str) -> PathBuf {
    let p = PathBuf::from(bin);
    assert!(
        p.exists(),
        "{bin} is missing: run `make deps` to install Apache ZooKeeper's clients \
         (Debian packages zookeeper, zookeeper-bin, libzookeeper-mt-dev)"
    );
    p
}

/// True when the tests run against Apache ZooKeeper instead of Rookery.
pub fn against_reference() -> bool {
    std::env::var("ROOKERY_CLI_REFERENCE").is_ok_and(|v| v == "zookeeper")
}

/// The server under test: Rookery, or Apache ZooKeeper when `ROOKERY_CLI_REFERENCE=zookeeper`.
pub enum Target {
    Rookery(common::Server),
    Reference(ReferenceZk),
}

/// A failing test shows the server's side too.
impl Drop for Target {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(200).collect();
            eprintln!("--- server log (last 200 lines) ---");
            for l in tail.into_iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

impl Target {
    /// Starts a fresh standalone server (tickTime=200); `extra` lines are added to its zoo.cfg.
    pub fn start(extra: &str) -> Target {
        if against_reference() {
            Target::Reference(ReferenceZk::start("refzk", extra, ZK_CLASSPATH, &[]))
        } else {
            Target::Rookery(common::Server::start(extra))
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Rookery(s) => s.addr,
            Target::Reference(z) => z.addr,
        }
    }

    pub fn hostport(&self) -> String {
        self.addr().to_string()
    }

    /// Sends a four-letter word and returns the answer.
    pub fn four(&self, cmd: &str) -> String {
        four(self.addr(), cmd)
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        match self {
            Target::Rookery(s) => s.log(),
            Target::Reference(z) => z.log(),
        }
    }

    pub fn is_reference(&self) -> bool {
        matches!(self, Target::Reference(_))
    }
}

pub fn four(addr: SocketAddr, cmd: &str) -> String {
    use std::io::Read;
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return String::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(cmd.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Kills the process group led by `child` (a shell script's JVM lives in it), then reaps it.
fn kill_group(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).stderr(Stdio::null()).status();
        let _ = child.kill();
    }
    let _ = child.wait();
}

#[derive(Default)]
struct Output {
    lines: Vec<String>,
    eof: bool,
}

/// A child process fed on stdin, whose stdout and stderr (merged, in write order) are collected
/// line by line by a reader thread.
pub struct LineProc {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<Output>, Condvar)>,
    /// Index of the first line not yet handed out by `take_until`.
    cursor: usize,
    name: String,
}

impl LineProc {
    pub fn spawn(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> LineProc {
        // `2>&1` in a shell that then execs the client: one pipe keeps stdout and stderr lines
        // in the order they were written, which matters for matching errors to commands.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("exec \"$0\" \"$@\" 2>&1")
            .arg(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let out = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let out2 = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                let n = r.read_until(b'\n', &mut buf).unwrap_or(0);
                let (m, cv) = &*out2;
                let mut o = m.lock().unwrap();
                if n == 0 {
                    o.eof = true;
                    cv.notify_all();
                    return;
                }
                let line = String::from_utf8_lossy(&buf);
                o.lines.push(line.trim_end_matches(['\n', '\r']).to_string());
                cv.notify_all();
            }
        });
        LineProc { child, stdin, out, cursor: 0, name: bin.file_name().unwrap().to_string_lossy().into_owned() }
    }

    /// Writes one whole line with a single write (atomic on a pipe). `cli_mt` drops a partial
    /// line it has read behind a complete one (its stdin loop resets `bufoff` to 0 after each
    /// line, ZooKeeper's cli.c), so a line must never arrive in pieces.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let whole = format!("{line}\n");
        let res = stdin.write_all(whole.as_bytes()).and_then(|()| stdin.flush());
        if let Err(e) = res {
            panic!("{}: write {line:?}: {e}\n{}", self.name, self.transcript());
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Everything the child printed so far.
    pub fn transcript(&self) -> String {
        self.out.0.lock().unwrap().lines.join("\n")
    }

    /// Waits until a line at or after `from` satisfies `pred`; returns its index.
    pub fn wait_line(&self, from: usize, timeout: Duration, mut pred: impl FnMut(&str) -> bool) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.out;
        let mut o = m.lock().unwrap();
        let mut i = from;
        loop {
            while i < o.lines.len() {
                if pred(&o.lines[i]) {
                    return Some(i);
                }
                i += 1;
            }
            let now = Instant::now();
            if o.eof || now >= deadline {
                return None;
            }
            o = cv.wait_timeout(o, deadline - now).unwrap().0;
        }
    }

    /// Waits for a line satisfying `pred` after the cursor; returns the lines before it (and moves
    /// the cursor past it). Panics with the transcript on timeout.
    pub fn take_until(&mut self, what: &str, timeout: Duration, pred: impl FnMut(&str) -> bool) -> Vec<String> {
        let Some(i) = self.wait_line(self.cursor, timeout, pred) else {
            panic!("{}: no {what} within {timeout:?}; transcript:\n{}", self.name, self.transcript());
        };
        let lines = self.out.0.lock().unwrap().lines[self.cursor..i].to_vec();
        self.cursor = i + 1;
        lines
    }

    /// All lines from `from` on.
    pub fn lines_from(&self, from: usize) -> Vec<String> {
        let o = self.out.0.lock().unwrap();
        o.lines[from.min(o.lines.len())..].to_vec()
    }

    pub fn line_count(&self) -> usize {
        self.out.0.lock().unwrap().lines.len()
    }

    /// Closes stdin and waits for a clean exit; kills the child if it does not exit in time.
    pub fn finish(&mut self) -> Vec<String> {
        self.close_stdin();
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            status.is_some(),
            "{} did not exit within {EXIT_TIMEOUT:?}; transcript:\n{}",
            self.name,
            self.transcript()
        );
        // The reader thread sees EOF once the process group's last writer is gone.
        let _ = self.wait_line(usize::MAX, EXIT_TIMEOUT, |_| false);
        let rest = self.lines_from(self.cursor);
        self.cursor += rest.len();
        rest
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LineProc {
    fn drop(&mut self) {
        self.stdin = None;
        kill_group(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------------
// zkCli.sh

/// The event line zkCli prints (after a `WATCHER::` line) for a watch notification.
pub fn event(state: &str, kind: &str, path: &str) -> String {
    format!("WatchedEvent state:{state} type:{kind} path:{path}")
}

/// A watch notification on `path` in state SyncConnected, as zkCli prints it.
pub fn synced(kind: &str, path: &str) -> String {
    event("SyncConnected", kind, path)
}

/// An interactive zkCli.sh session (`-server host:port`, commands on stdin, JLine disabled).
///
/// After each command the session sends `stat /__mark_<n>` and waits for its answer (an error
/// line naming that path), so every command's output is known to be complete. Watch events,
/// which zkCli prints from another thread at any moment, are set aside in `events`.
pub struct ZkCli {
    proc: LineProc,
    marks: u64,
    events: Vec<String>,
    /// Events already handed out by `expect_event(s)`.
    events_seen: usize,
}

/// Lines zkCli prints that carry nothing about the commands (logging set-up, banners).
fn zkcli_noise(l: &str) -> bool {
    l.is_empty()
        || l == "WATCHER::"
        || l.starts_with("SLF4J:")
        || l.starts_with("log4j:")
        || l.starts_with("Connecting to ")
        || l == "Welcome to ZooKeeper!"
        || l.starts_with("JLine support is")
}

/// Replaces what legitimately differs run to run: times and session ids. An ephemeralOwner that
/// looks like a TTL (`0xff..`) or container (`0x8000..`) marker is kept: clients must never see
/// those (ZooKeeper reports 0 for both), so a test should see them if they leak.
pub fn normalize(l: &str) -> String {
    for key in ["ctime = ", "mtime = "] {
        if l.starts_with(key) {
            return format!("{key}<time>");
        }
    }
    if let Some(owner) = l.strip_prefix("ephemeralOwner = ") {
        if owner != "0x0" && owner.starts_with("0x") && !owner.starts_with("0xff") && !owner.starts_with("0x8000") {
            return "ephemeralOwner = <session>".to_string();
        }
    }
    l.to_string()
}

impl ZkCli {
    /// Starts zkCli.sh against `hostport` and waits for its session (SyncConnected).
    pub fn connect(hostport: &str) -> ZkCli {
        let bin = require(ZKCLI);
        ZkCli::spawn(
            &bin,
            &["-server", hostport],
            &[("CLIENT_JVMFLAGS", "-Dzookeeper.jmx.log4j.disable=true -Xshare:auto -XX:TieredStopAtLevel=1")],
        )
    }

    /// The same driver for any zkCli-compatible shell (`rookery cli` in tests/rookery_cli.rs):
    /// starts `bin args` and waits for its session (SyncConnected).
    pub fn spawn(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> ZkCli {
        let proc = LineProc::spawn(bin, args, envs);
        let mut cli = ZkCli { proc, marks: 0, events: Vec::new(), events_seen: 0 };
        cli.expect_event_within(&event("SyncConnected", "None", "null"), CONNECT_TIMEOUT);
        cli
    }

    /// Moves event lines out of `lines`, keeping the rest (normalized) in order.
    fn sift(&mut self, lines: Vec<String>) -> Vec<String> {
        let mut out = Vec::new();
        for l in lines {
            if l.starts_with("WatchedEvent ") {
                self.events.push(l);
            } else if !zkcli_noise(&l) {
                out.push(normalize(&l));
            }
        }
        out
    }

    /// Runs one command; returns the lines it printed (events excluded, times normalized).
    pub fn cmd(&mut self, command: &str) -> Vec<String> {
        let (lines, marker) = self.cmd_raw(command);
        let mark = format!("/__mark_{}", self.marks);
        assert_eq!(
            marker,
            format!("Node does not exist: {mark}"),
            "session broken after {command:?}; transcript:\n{}",
            self.proc.transcript()
        );
        lines
    }

    /// Like `cmd`, also returning the marker's own answer, which is an error other than
    /// NoNode once the session is unusable (after an auth failure, say).
    pub fn cmd_raw(&mut self, command: &str) -> (Vec<String>, String) {
        self.marks += 1;
        let mark = format!("/__mark_{}", self.marks);
        self.proc.send(command);
        self.proc.send(&format!("stat {mark}"));
        let lines = self.proc.take_until(&format!("answer to {command:?}"), STEP_TIMEOUT, |l| {
            l.ends_with(&mark) && !l.starts_with("WatchedEvent")
        });
        let marker = self.proc.lines_from(self.proc.cursor - 1)[0].clone();
        (self.sift(lines), marker)
    }

    /// Sends `command` without a marker, for when the session is gone or going, and waits for a
    /// line satisfying `done`; returns the lines before it (as `cmd` does) and that line.
    pub fn cmd_until(&mut self, command: &str, done: impl FnMut(&str) -> bool) -> (Vec<String>, String) {
        self.proc.send(command);
        let lines = self.proc.take_until(&format!("answer to {command:?}"), STEP_TIMEOUT, done);
        let last = self.proc.lines_from(self.proc.cursor - 1)[0].clone();
        (self.sift(lines), last)
    }

    /// Moves the event lines printed since the last command into `events`. Between commands
    /// zkCli prints only events (and blank separators); the cursor stops at anything else, so
    /// a stray line shows up in the next command's output and fails its comparison.
    fn collect_events(&mut self) {
        for l in self.proc.lines_from(self.proc.cursor) {
            if l.starts_with("WatchedEvent ") {
                self.events.push(l);
            } else if !zkcli_noise(&l) {
                break;
            }
            self.proc.cursor += 1;
        }
    }

    /// Waits until the next unseen event is `expected` and consumes it.
    pub fn expect_event(&mut self, expected: &str) {
        self.expect_event_within(expected, STEP_TIMEOUT)
    }

    fn expect_event_within(&mut self, expected: &str, timeout: Duration) {
        let got = self.next_events(1, timeout);
        assert_eq!(got, [expected.to_string()], "events; transcript:\n{}", self.proc.transcript());
    }

    /// Waits for the next `n` unseen events and returns them, in arrival order.
    pub fn next_events(&mut self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.collect_events();
            if self.events.len() >= self.events_seen + n {
                let got = self.events[self.events_seen..self.events_seen + n].to_vec();
                self.events_seen += n;
                return got;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "expected {n} more watch event(s) within {timeout:?}; unseen: {:?}; transcript:\n{}",
                &self.events[self.events_seen..],
                self.proc.transcript()
            );
            let from = self.proc.line_count();
            let _ = self
                .proc
                .wait_line(from, (deadline - now).min(Duration::from_millis(200)), |l| l.starts_with("WatchedEvent "));
        }
    }

    /// Waits for `n` events and compares them with `expected` ignoring order (zkCli itself
    /// orders the *WatchRemoved events it synthesizes by hashing, so they vary run to run).
    pub fn expect_events_unordered(&mut self, expected: &[String]) {
        let mut got = self.next_events(expected.len(), STEP_TIMEOUT);
        let mut want = expected.to_vec();
        got.sort();
        want.sort();
        assert_eq!(got, want, "events; transcript:\n{}", self.proc.transcript());
    }

    /// Asserts that no event arrived beyond the ones already consumed.
    pub fn expect_no_more_events(&mut self) {
        // A round trip first, so an event already in flight from the server is printed.
        let out = self.cmd("sync /");
        assert_eq!(out, ["Sync is OK"]);
        self.collect_events();
        assert_eq!(
            &self.events[self.events_seen..],
            &[] as &[String],
            "unexpected watch events; transcript:\n{}",
            self.proc.transcript()
        );
    }

    /// Every event not handed out yet, after a round trip (so that one in flight is printed).
    pub fn take_events(&mut self) -> Vec<String> {
        let out = self.cmd("sync /");
        assert_eq!(out, ["Sync is OK"]);
        self.collect_events();
        let got = self.events[self.events_seen..].to_vec();
        self.events_seen = self.events.len();
        got
    }

    /// Sends `quit` and waits for exit; returns the events printed at the end.
    pub fn quit(mut self) -> Vec<String> {
        self.proc.send("quit");
        let rest = self.proc.finish();
        let other = self.sift(rest);
        assert!(other.is_empty(), "unexpected output at quit: {other:?}");
        self.events[self.events_seen..].to_vec()
    }

    pub fn transcript(&self) -> String {
        self.proc.transcript()
    }
}

/// Runs a whole script through one zkCli.sh and returns its normalized output, events included
/// in place (for the one-shot style `zkCli.sh -server H:P < script`).
pub fn zkcli_script(hostport: &str, script: &[&str]) -> Vec<String> {
    let bin = require(ZKCLI);
    let mut p = LineProc::spawn(
        &bin,
        &["-server", hostport],
        &[("CLIENT_JVMFLAGS", "-Dzookeeper.jmx.log4j.disable=true -Xshare:auto -XX:TieredStopAtLevel=1")],
    );
    for l in script {
        p.send(l);
    }
    p.send("quit");
    p.finish().into_iter().filter(|l| !zkcli_noise(l)).map(|l| normalize(&l)).collect()
}

/// One-shot `zkCli.sh -server H:P cmd args...`; returns the normalized output lines.
pub fn zkcli_oneshot(hostport: &str, args: &[&str]) -> Vec<String> {
    let bin = require(ZKCLI);
    let mut all = vec!["-server", hostport];
    all.extend_from_slice(args);
    let mut p = LineProc::spawn(
        &bin,
        &all,
        &[("CLIENT_JVMFLAGS", "-Dzookeeper.jmx.log4j.disable=true -Xshare:auto -XX:TieredStopAtLevel=1")],
    );
    p.finish().into_iter().filter(|l| !zkcli_noise(l)).map(|l| normalize(&l)).collect()
}

// ---------------------------------------------------------------------------------------------
// cli_mt (the C client's shell)

/// An interactive `cli_mt host:port` session. Its commands are asynchronous; after each one the
/// session sends `sync /__mark_<n>`, whose completion (`[/__mark_<n>]: rc = 0`) comes back after
/// every earlier completion and watch callback, so the output in between belongs to the command.
pub struct CliMt {
    proc: LineProc,
    marks: u64,
    /// The session id from "Got a new session id: 0x...".
    pub session: String,
}

/// The C library's own log lines (`2026-01-01 00:00:00,000:123(0x..):ZOO_WARN@...`).
fn c_log_line(l: &str) -> bool {
    l.contains(":ZOO_ERROR@") || l.contains(":ZOO_WARN@") || l.contains(":ZOO_INFO@") || l.contains(":ZOO_DEBUG@")
}

/// Replaces what differs run to run in cli_mt output: times and elapsed milliseconds.
pub fn normalize_c(l: &str) -> String {
    if l.starts_with("time = ") && l.ends_with(" msec") {
        return "time = <ms>".into();
    }
    if l.starts_with("\tctime = ") {
        return "\tctime = <time>".into();
    }
    if l.starts_with("\tmtime=") {
        return "\tmtime=<time>".into();
    }
    l.to_string()
}

impl CliMt {
    /// Starts `cli_mt hostport` and waits for its session.
    pub fn connect(hostport: &str) -> CliMt {
        let bin = require(CLI_MT);
        let mut proc = LineProc::spawn(&bin, &[hostport], &[]);
        let lines = proc.take_until("session id", CONNECT_TIMEOUT, |l| l.starts_with("Got a new session id: 0x"));
        let session = proc.lines_from(proc.cursor - 1)[0]["Got a new session id: ".len()..].to_string();
        assert!(lines.iter().any(|l| l == "Watcher SESSION_EVENT state = CONNECTED_STATE"), "{lines:?}");
        CliMt { proc, marks: 0, session }
    }

    /// Runs one command; returns what it printed (library log lines dropped, times normalized).
    pub fn cmd(&mut self, command: &str) -> Vec<String> {
        let (lines, rc) = self.cmd_rc(command);
        assert_eq!(rc, "rc = 0", "marker sync after {command:?}; transcript:\n{}", self.proc.transcript());
        lines
    }

    /// Like `cmd`, also returning the marker sync's `rc = N` (non-zero once the session broke).
    pub fn cmd_rc(&mut self, command: &str) -> (Vec<String>, String) {
        self.marks += 1;
        let mark = format!("/__mark_{}", self.marks);
        self.proc.send(command);
        self.proc.send(&format!("sync {mark}"));
        let head = format!("[{mark}]: ");
        // "Error <rc> for <path>" when the library refuses the sync outright (a closed handle).
        let refused = format!(" for {mark}");
        let lines = self.proc.take_until(&format!("answer to {command:?}"), STEP_TIMEOUT, |l| {
            l.starts_with(&head) || (l.starts_with("Error ") && l.ends_with(&refused))
        });
        let marker = self.proc.lines_from(self.proc.cursor - 1)[0].clone();
        let rc = marker.strip_prefix(&head).unwrap_or(&marker).to_string();
        if rc == "rc = 0" {
            // The sync completion's second line.
            let name = format!("\tname = {mark}");
            self.proc.take_until("sync name line", STEP_TIMEOUT, |l| l == name);
        }
        let out = lines.into_iter().filter(|l| !c_log_line(l)).map(|l| normalize_c(&l)).collect();
        (out, rc)
    }

    /// Waits for a line (e.g. a watcher callback) printed at any time after the last command.
    pub fn expect_line(&mut self, expected: &str) {
        self.wait_for(expected, STEP_TIMEOUT);
    }

    /// Waits for a line, returning the lines before it (after the cursor).
    pub fn wait_for(&mut self, expected: &str, timeout: Duration) -> Vec<String> {
        let lines = self.proc.take_until(&format!("line {expected:?}"), timeout, |l| l == expected);
        lines.into_iter().filter(|l| !c_log_line(l)).collect()
    }

    /// Waits for any one of `expected` (each line at most once); returns the one seen.
    pub fn wait_for_any(&mut self, expected: &[&str]) -> String {
        self.proc.take_until(&format!("one of {expected:?}"), STEP_TIMEOUT, |l| expected.contains(&l));
        self.proc.lines_from(self.proc.cursor - 1)[0].clone()
    }

    /// Sends a line without a marker (for commands after which the session is gone).
    pub fn send_raw(&mut self, line: &str) {
        self.proc.send(line);
    }

    /// Every line printed after the cursor so far (not consumed).
    pub fn pending(&self) -> Vec<String> {
        self.proc.lines_from(self.proc.cursor)
    }

    pub fn quit(mut self) -> Vec<String> {
        self.proc.send("quit");
        self.proc.finish().into_iter().filter(|l| !c_log_line(l)).collect()
    }

    pub fn transcript(&self) -> String {
        self.proc.transcript()
    }
}
