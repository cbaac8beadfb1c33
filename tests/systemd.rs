//! Running Rookery as a service: systemd's readiness protocol on a `NOTIFY_SOCKET` the test
//! binds, the graceful stop on SIGTERM/SIGINT (exit 0, nothing acknowledged lost, sessions kept,
//! an ensemble member's clients moving on), `systemd-analyze verify` on the unit files as
//! `make install` writes them, the install layout, and the `bin/zkServer.sh` wrapper's
//! start/status/stop round trip with ZooKeeper's messages and exit codes.
//!
//! Every server runs on 127.0.0.1 (OS-chosen ports, except where zkServer.sh's `status` needs a
//! port written in the file: one the OS just handed out), every wait has a deadline, and only
//! processes started here are signalled, by PID.

mod common;

use common::ensemble::{self, Ensemble};
use common::{root, wait_until, TempDir};
use rookery::client::{Client, ClientError};
use rookery::codes::ErrorCode;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The server's own bound is 10 s; this leaves room for a loaded test machine.
const EXIT_DEADLINE: Duration = Duration::from_secs(15);

/// A `NOTIFY_SOCKET` of our own: a unix datagram socket in a temp dir (or the abstract namespace).
struct NotifySocket {
    sock: UnixDatagram,
    /// The value for `NOTIFY_SOCKET`.
    name: String,
    /// Every message received so far, in order.
    seen: Vec<String>,
}

impl NotifySocket {
    fn in_dir(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { sock, name: path.display().to_string(), seen: Vec::new() }
    }

    #[cfg(target_os = "linux")]
    fn abstract_name(tag: &str) -> NotifySocket {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("rookery-test-notify-{tag}-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).expect("bind the abstract notify socket");
        NotifySocket { sock, name: format!("@{name}"), seen: Vec::new() }
    }

    /// Receives until a message has a line equal to `line`; returns that message.
    fn wait_for(&mut self, line: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no {line:?} within {timeout:?}; received: {:?}", self.seen);
            match self.recv(left) {
                Some(m) if m.lines().any(|l| l == line) => return m,
                _ => {}
            }
        }
    }

    /// The next message within `timeout`, if any.
    fn recv(&mut self, timeout: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.sock.recv(&mut buf).ok()?;
        let m = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.seen.push(m.clone());
        Some(m)
    }
}

/// A standalone server process started by this test, with its environment under our control.
struct Proc {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proc {
    fn start(dir: &Path, env: &[(&str, &str)]) -> Proc {
        let cfg = dir.join("zoo.cfg");
        if !cfg.exists() {
            std::fs::write(
                &cfg,
                format!(
                    "tickTime=200\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n\
                     4lw.commands.whitelist=*\nmaxSessionTimeout=60000\n",
                    dir.join("data").display()
                ),
            )
            .unwrap();
        }
        let log = dir.join("server.log");
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_rookery"));
        command
            .args(["server", "--foreground", "--config"])
            .arg(&cfg)
            .env_remove("NOTIFY_SOCKET")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // As systemd starts a service: SIGINT at its default disposition. Tests run from a
        // background shell inherit it ignored, and the server (rightly) keeps ignoring it then.
        // SAFETY: signal(2) is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(|| {
                default_sigint();
                Ok(())
            });
        }
        let mut child = command.spawn().expect("spawn rookery");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let addr = line.trim().rsplit(' ').next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            panic!("no address in {line:?}; log: {}", std::fs::read_to_string(&log).unwrap_or_default())
        });
        Proc { child, addr, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        signal(self.pid(), sig);
    }

    /// Waits for the process to exit, at most `EXIT_DEADLINE`.
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {EXIT_DEADLINE:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn client(&self) -> Client {
        Client::connect(self.addr, 30_000).expect("connect")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (SIGKILL, by PID) if the test fails before it exits.
struct KillOnDrop(Child);

impl KillOnDrop {
    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if let Some(st) = self.0.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "process {} did not exit within {EXIT_DEADLINE:?}", self.0.id());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends a signal to one process we started, by PID.
/// Puts SIGINT back to its default action (`signal(SIGINT, SIG_DFL)`).
fn default_sigint() {
    extern "C" {
        fn signal(sig: std::os::raw::c_int, handler: usize) -> usize;
    }
    const SIGINT: std::os::raw::c_int = 2;
    const SIG_DFL: usize = 0;
    // SAFETY: installs no handler; only the disposition of SIGINT changes.
    unsafe {
        signal(SIGINT, SIG_DFL);
    }
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill").arg(sig).arg(pid.to_string()).status().expect("run kill");
    assert!(st.success(), "kill {sig} {pid} failed");
}

#[test]
fn ready_after_start_stopping_on_sigterm_exit_0_and_data_kept() {
    let dir = TempDir::new("sd-ready");
    let mut notify = NotifySocket::in_dir(&dir.0);
    let mut server = Proc::start(&dir.0, &[("NOTIFY_SOCKET", &notify.name)]);
    let ready = notify.wait_for("READY=1", Duration::from_secs(10));
    assert!(
        ready.lines().any(|l| l == format!("STATUS=standalone, serving clients on {}", server.addr)),
        "READY carries the status: {ready:?}"
    );
    let mut c = server.client();
    c.create("/kept", b"before the stop", 0).unwrap();

    server.signal("-TERM");
    let stopping = notify.wait_for("STOPPING=1", Duration::from_secs(10));
    assert!(stopping.contains("STATUS=stopping"), "{stopping:?}");
    let st = server.wait_exit();
    assert_eq!(st.code(), Some(0), "exit status after SIGTERM; log:\n{}", server.log());
    assert!(server.log().contains("Stopped in"), "log:\n{}", server.log());
    // The client's connection was closed by the server.
    assert!(c.exists("/kept", false).is_err(), "the connection is closed");
    // Nothing after STOPPING=1.
    assert!(notify.recv(Duration::from_millis(200)).is_none(), "messages after STOPPING: {:?}", notify.seen);

    drop(server);
    let server = Proc::start(&dir.0, &[]);
    let (data, _) = server.client().get_data("/kept", false).unwrap();
    assert_eq!(data.as_deref(), Some(&b"before the stop"[..]));
}

#[cfg(target_os = "linux")]
#[test]
fn ready_on_an_abstract_notify_socket_and_sigint_stops_gracefully() {
    let dir = TempDir::new("sd-abstract");
    let mut notify = NotifySocket::abstract_name("ready");
    assert!(notify.name.starts_with('@'));
    let mut server = Proc::start(&dir.0, &[("NOTIFY_SOCKET", &notify.name)]);
    notify.wait_for("READY=1", Duration::from_secs(10));
    server.client().create("/via-sigint", b"", 0).unwrap();
    server.signal("-INT");
    notify.wait_for("STOPPING=1", Duration::from_secs(10));
    assert_eq!(server.wait_exit().code(), Some(0), "log:\n{}", server.log());
    drop(server);
    let server = Proc::start(&dir.0, &[]);
    assert!(server.client().exists("/via-sigint", false).unwrap().is_some());
}

#[test]
fn without_notify_socket_nothing_breaks() {
    let dir = TempDir::new("sd-none");
    let mut server = Proc::start(&dir.0, &[]);
    server.client().create("/x", b"", 0).unwrap();
    server.signal("-TERM");
    assert_eq!(server.wait_exit().code(), Some(0), "log:\n{}", server.log());
}

/// Under systemd's journal (`$JOURNAL_STREAM` names the server's stderr) log lines carry syslog
/// priorities and no timestamp; a `$JOURNAL_STREAM` inherited for another stream changes nothing.
#[test]
fn journal_lines_carry_syslog_priorities() {
    use std::os::unix::fs::MetadataExt;
    for journal in [true, false] {
        let dir = TempDir::new("sd-journal");
        let log = std::fs::File::create(dir.0.join("server.log")).unwrap();
        let m = log.metadata().unwrap();
        let stream = if journal { format!("{}:{}", m.dev(), m.ino()) } else { format!("{}:{}", m.dev(), m.ino() + 1) };
        let mut server = Proc::start(&dir.0, &[("JOURNAL_STREAM", &stream), ("RUST_LOG", "info")]);
        server.signal("-TERM");
        assert_eq!(server.wait_exit().code(), Some(0));
        let text = server.log();
        let line = text.lines().find(|l| l.contains("SIGTERM: stopping")).unwrap_or_else(|| panic!("{text}"));
        if journal {
            assert_eq!(line, "<6>rookery::serve: SIGTERM: stopping (at most 10 s)");
        } else {
            assert!(line.starts_with('[') && line.contains("INFO"), "{line}");
        }
    }
}

/// Writers keep creating nodes while SIGTERM arrives: the server exits 0, and every create a
/// client saw acknowledged is there after a restart.
#[test]
fn sigterm_under_load_loses_no_acknowledged_write() {
    let dir = TempDir::new("sd-load");
    let mut server = Proc::start(&dir.0, &[]);
    server.client().create("/w", b"", 0).unwrap();
    let acked: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..8 {
        let (addr, acked, errors, stop) = (server.addr, acked.clone(), errors.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr, 30_000).unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("/w/t{t}-{n}");
                match c.create(&path, &[7; 100], 0) {
                    Ok(p) => acked.lock().unwrap().push(p),
                    Err(e) => {
                        errors.lock().unwrap().push(format!("{path}: {e:?}"));
                        return;
                    }
                }
                n += 1;
            }
        }));
    }
    assert!(wait_until(Duration::from_secs(10), || acked.lock().unwrap().len() >= 200), "writes under way");
    server.signal("-TERM");
    let st = server.wait_exit();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(st.code(), Some(0), "log:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("Stopped in"), "log:\n{log}");
    for line in log.lines().filter(|l| l.contains("Stopping") || l.contains("Stopped")) {
        eprintln!("{line}");
    }
    // Every writer saw its connection end (not some other error) once the server stopped.
    for e in errors.lock().unwrap().iter() {
        assert!(!e.contains("Keeper("), "a write failed with a ZooKeeper error, not a closed connection: {e}");
    }

    drop(server);
    let server = Proc::start(&dir.0, &[]);
    let mut c = server.client();
    let children: std::collections::HashSet<String> =
        c.get_children("/w", false).unwrap().into_iter().map(|n| format!("/w/{n}")).collect();
    let acked = acked.lock().unwrap();
    eprintln!("{} creates acknowledged before the stop, {} nodes after the restart", acked.len(), children.len());
    let missing: Vec<&String> = acked.iter().filter(|p| !children.contains(*p)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged creates lost: {:?}", missing.len(), acked.len(), missing);
    // Unacknowledged writes may or may not be there, but no more than one per writer can be.
    assert!(children.len() <= acked.len() + 8, "{} nodes for {} acknowledged creates", children.len(), acked.len());
}

/// A standalone server's sessions survive a graceful stop (no closeSession is logged): a client
/// resumes its session after the restart and still owns its ephemeral node.
#[test]
fn sessions_survive_a_graceful_stop() {
    let dir = TempDir::new("sd-session");
    let mut server = Proc::start(&dir.0, &[]);
    let mut c = server.client();
    c.create("/eph", b"", ensemble::EPHEMERAL).unwrap();
    let (id, passwd, zxid) = (c.session_id, c.passwd.clone(), c.last_zxid);
    // Idle connections do not hold the stop up.
    let idle: Vec<Client> = (0..5).map(|_| server.client()).collect();
    let started = Instant::now();
    server.signal("-TERM");
    assert_eq!(server.wait_exit().code(), Some(0), "log:\n{}", server.log());
    assert!(started.elapsed() < Duration::from_secs(5), "a stop with idle clients took {:?}", started.elapsed());
    drop(idle);
    drop(c);

    drop(server);
    let server = Proc::start(&dir.0, &[]);
    let mut c = Client::resume(server.addr, 30_000, id, passwd, zxid).expect("the session lives on");
    let stat = c.exists("/eph", false).unwrap().expect("the ephemeral node is still there");
    assert_eq!(stat.ephemeral_owner, id);
}

/// An ensemble member is READY once it serves, i.e. once a quorum exists: alone, it reports
/// that it is looking, and READY comes when a second member joins.
#[test]
fn ensemble_member_is_ready_once_in_a_quorum() {
    let mut e = Ensemble::prepare(3, "");
    let mut sockets = Vec::new();
    for id in 1..=2u64 {
        let n = NotifySocket::in_dir(&e.member(id).dir);
        e.members[(id - 1) as usize].env.push(("NOTIFY_SOCKET".into(), n.name.clone()));
        sockets.push(n);
    }
    e.start_member(1);
    let looking = sockets[0].wait_for("STATUS=looking for a leader (not serving clients)", Duration::from_secs(10));
    assert!(!looking.contains("READY=1"), "{looking:?}");
    // Alone it never becomes ready.
    let deadline = Instant::now() + Duration::from_millis(1500);
    while let Some(m) = sockets[0].recv(deadline.saturating_duration_since(Instant::now())) {
        assert!(!m.contains("READY=1"), "a lone member said READY: {m:?}");
    }
    e.start_member(2);
    let leader = e.wait_for_leader(Duration::from_secs(20));
    for (i, s) in sockets.iter_mut().enumerate() {
        let ready = s.wait_for("READY=1", Duration::from_secs(20));
        let id = i as u64 + 1;
        let role = if id == leader { "leader" } else { "follower" };
        let want = format!("STATUS={role}, serving clients on {}", e.addr(id));
        assert!(ready.lines().any(|l| l == want), "member {id}: {ready:?}, wanted {want:?}");
    }
    for id in [1, 2] {
        let st = e.terminate(id, EXIT_DEADLINE).expect("exits after SIGTERM");
        assert_eq!(st.code(), Some(0), "member {id}; log:\n{}", e.log(id));
        sockets[(id - 1) as usize].wait_for("STOPPING=1", Duration::from_secs(5));
    }
}

/// SIGTERM on the member a client is connected to (the leader, the harder case): it exits 0,
/// the client's connection closes, and the client resumes its session on another member with
/// its ephemeral node, and can write.
#[test]
fn sigterm_on_an_ensemble_member_lets_its_clients_move() {
    let mut e = Ensemble::start(3, "");
    let leader = e.wait_for_leader(Duration::from_secs(20));
    let mut c = ensemble::connect_retry(e.addr(leader), ensemble::CLIENT_TIMEOUT_MS, Duration::from_secs(10)).unwrap();
    c.create("/moving", b"", ensemble::EPHEMERAL).unwrap();
    c.create("/acked", b"1", 0).unwrap();
    let (id, passwd, zxid) = (c.session_id, c.passwd.clone(), c.last_zxid);

    let st = e.terminate(leader, EXIT_DEADLINE).expect("exits after SIGTERM");
    assert_eq!(st.code(), Some(0), "log:\n{}", e.log(leader));
    assert!(c.exists("/moving", false).is_err(), "the stopped member closed the connection");

    let others: Vec<u64> = e.ids().into_iter().filter(|&i| i != leader).collect();
    let new_leader = e.wait_for_leader_among(&others, Duration::from_secs(20));
    let target = others.iter().copied().find(|&i| i != new_leader).unwrap_or(new_leader);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut moved = loop {
        match Client::resume(e.addr(target), ensemble::CLIENT_TIMEOUT_MS, id, passwd.clone(), zxid) {
            Ok(c) => break c,
            Err(ClientError::Keeper(ErrorCode::SessionExpired)) => panic!("the session did not survive the stop"),
            Err(err) if Instant::now() > deadline => panic!("cannot resume on server {target}: {err:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let stat = moved.exists("/moving", false).unwrap().expect("the ephemeral node survives");
    assert_eq!(stat.ephemeral_owner, id);
    assert_eq!(moved.get_data("/acked", false).unwrap().0.as_deref(), Some(&b"1"[..]));
    moved.set_data("/acked", b"2", -1).expect("the moved session writes");
}

// ---- unit files and install ----

/// `systemd-analyze`, or a failure saying how to get it.
fn systemd_analyze() -> &'static str {
    let ok = Command::new("systemd-analyze").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "systemd-analyze is not installed: run `make deps` (Debian's systemd package)");
    "systemd-analyze"
}

fn run_make_install(extra: &[String]) -> Output {
    // CARGO=true: the test binary already built the release binary; make must not run cargo
    // while cargo test holds the build directory.
    let out = Command::new("make")
        .current_dir(root())
        .args(["-s", "install", "CARGO=true"])
        .args(extra)
        .output()
        .expect("run make");
    assert!(out.status.success(), "make install failed:\n{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// `systemd-analyze verify` accepts both units exactly as `make install` writes them: installed
/// under a temp PREFIX so that ExecStart names a binary that exists (verify checks it).
#[test]
fn systemd_analyze_verifies_the_installed_units() {
    let analyze = systemd_analyze();
    let dir = TempDir::new("sd-verify");
    let prefix = dir.0.join("usr");
    run_make_install(&[format!("PREFIX={}", prefix.display()), format!("SYSCONFDIR={}", dir.0.join("etc").display())]);
    let units = prefix.join("lib/systemd/system");
    let single = units.join("rookery.service");
    let instance = format!("{}:rookery@1.service", units.join("rookery@.service").display());
    for unit in [single.display().to_string(), instance] {
        let out = Command::new(analyze).args(["verify", "--man=no"]).arg(&unit).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify {unit}:\n{stderr}");
    }
    // And a broken unit is noticed: the check is not vacuous.
    let broken = dir.0.join("broken.service");
    let text = std::fs::read_to_string(&single).unwrap().replace("Type=notify", "Type=notifyy");
    std::fs::write(&broken, text).unwrap();
    let out = Command::new(analyze).args(["verify", "--man=no"]).arg(&broken).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("notifyy"), "verify reports a bad Type=");
}

#[test]
fn units_say_what_the_server_does() {
    for name in ["rookery.service", "rookery@.service"] {
        let text = std::fs::read_to_string(root().join("conf").join(name)).unwrap();
        let keys: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && l.contains('=')).collect();
        for want in [
            "Type=notify",
            "NotifyAccess=main",
            "User=rookery",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "PrivateTmp=yes",
            "Restart=on-failure",
            "RestartPreventExitStatus=2",
            "LimitNOFILE=65536",
            "KillSignal=SIGTERM",
        ] {
            assert!(keys.contains(&want), "{name} lacks {want}");
        }
        let exec = keys.iter().find(|l| l.starts_with("ExecStart=")).unwrap();
        let want = if name == "rookery.service" { "/etc/rookery/zoo.cfg" } else { "/etc/rookery/zoo%i.cfg" };
        assert_eq!(*exec, &format!("ExecStart=/usr/bin/rookery server --foreground --config {want}"));
    }
}

#[test]
fn make_install_lays_out_the_files_and_keeps_an_existing_config() {
    let dest = TempDir::new("sd-install");
    let destdir = format!("DESTDIR={}", dest.0.display());
    let out = run_make_install(&[destdir.clone(), "PREFIX=/usr".into()]);
    let d = &dest.0;
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(d.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        m.permissions().mode() & 0o777
    };
    assert_eq!(mode("usr/bin/rookery"), 0o755);
    assert_eq!(mode("usr/lib/systemd/system/rookery.service"), 0o644);
    assert_eq!(mode("usr/lib/systemd/system/rookery@.service"), 0o644);
    assert_eq!(mode("usr/lib/sysusers.d/rookery.conf"), 0o644);
    assert_eq!(mode("usr/share/rookery/bin/zkServer.sh"), 0o755);
    assert_eq!(mode("usr/share/rookery/zoo.cfg.example"), 0o644);
    assert_eq!(mode("etc/rookery/zoo.cfg"), 0o644);
    let unit = std::fs::read_to_string(d.join("usr/lib/systemd/system/rookery.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/bin/rookery server --foreground --config /etc/rookery/zoo.cfg\n"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("installed"));
    let bin = std::fs::read(d.join("usr/bin/rookery")).unwrap();
    assert_eq!(bin, std::fs::read(env!("CARGO_BIN_EXE_rookery")).unwrap(), "the release binary");

    // The installed configuration is valid and points at the unit's state directory.
    let cfg_path = d.join("etc/rookery/zoo.cfg");
    let cfg = rookery::config::Config::parse(&cfg_path, &std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/rookery"));
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);

    // The installed wrapper finds the installed binary ($(PREFIX)/share/rookery/bin -> $(PREFIX)/bin).
    let conf = dest.0.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(conf.join("zoo.cfg"), format!("dataDir={}\n", dest.0.join("data").display())).unwrap();
    let out = Command::new(d.join("usr/share/rookery/bin/zkServer.sh"))
        .arg("version")
        .env("ZOOCFGDIR", &conf)
        .env("ZOO_LOG_DIR", dest.0.join("logs"))
        .env("PATH", "/usr/bin:/bin")
        .env_remove("ROOKERY")
        .output()
        .unwrap();
    assert!(stdout(&out).starts_with("rookery "), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));

    // A second install keeps the administrator's file.
    std::fs::write(&cfg_path, "# mine\ntickTime=3000\ndataDir=/srv/zk\n").unwrap();
    let out = run_make_install(&[destdir, "PREFIX=/usr".into()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("exists: kept"));
    assert_eq!(std::fs::read_to_string(&cfg_path).unwrap(), "# mine\ntickTime=3000\ndataDir=/srv/zk\n");

    // PREFIX=/usr/local (the default) points the units at /usr/local/bin.
    let local = TempDir::new("sd-install-local");
    run_make_install(&[format!("DESTDIR={}", local.0.display())]);
    let unit = std::fs::read_to_string(local.0.join("usr/local/lib/systemd/system/rookery@.service")).unwrap();
    assert!(unit.contains("\nExecStart=/usr/local/bin/rookery server --foreground --config /etc/rookery/zoo%i.cfg\n"));
    assert!(local.0.join("usr/local/bin/rookery").exists());
    assert!(local.0.join("etc/rookery/zoo.cfg").exists());

    // The sysusers.d entry is one systemd-sysusers accepts.
    if Command::new("systemd-sysusers").arg("--version").output().is_ok() {
        let sysroot = TempDir::new("sd-sysusers");
        std::fs::create_dir_all(sysroot.0.join("etc")).unwrap();
        std::fs::create_dir_all(sysroot.0.join("usr/lib/sysusers.d")).unwrap();
        std::fs::copy(d.join("usr/lib/sysusers.d/rookery.conf"), sysroot.0.join("usr/lib/sysusers.d/rookery.conf"))
            .unwrap();
        let out =
            Command::new("systemd-sysusers").arg("--dry-run").arg(format!("--root={}", sysroot.0.display())).output();
        let out = out.unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("Creating user 'rookery'") && !text.contains("rror"), "systemd-sysusers:\n{text}");
    }
}

// ---- bin/zkServer.sh ----

/// Runs bin/zkServer.sh with the environment of a ZooKeeper runbook pointing at `dir`.
fn zk_server(dir: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(root().join("bin/zkServer.sh"))
        .args(args)
        .env("ZOOCFGDIR", dir.join("conf"))
        .env("ZOO_LOG_DIR", dir.join("logs"))
        .env("ROOKERY", env!("CARGO_BIN_EXE_rookery"))
        .env_remove("ZOOCFG")
        .env_remove("ZOOPIDFILE")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run bin/zkServer.sh")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A port the OS just handed out (zkServer.sh's `status` reads the port from the file, so it
/// cannot be 0). It is free again when this returns; another process could take it first, which
/// the caller would see as a failed start.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Ends (SIGKILL, by PID) a server the wrapper started, if a test fails before stopping it.
struct PidGuard(Option<u32>);

impl Drop for PidGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is not running; the wrapper's server is reaped by whoever adopted it.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit(')').next().map(|r| !r.trim_start().starts_with('Z')).unwrap_or(false))
        .unwrap_or(false)
}

#[test]
fn zkserver_sh_start_status_stop_round_trip() {
    let dir = TempDir::new("sd-zkserver");
    std::fs::create_dir_all(dir.0.join("conf")).unwrap();
    let data = dir.0.join("data");
    let port = free_port();
    std::fs::write(
        dir.0.join("conf/zoo.cfg"),
        format!("tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n", data.display()),
    )
    .unwrap();
    let pid_file = data.join("zookeeper_server.pid");
    let mut guard = PidGuard(None);

    let out = zk_server(&dir.0, &["start"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stdout(&out), "Starting zookeeper ... STARTED\n", "stderr: {err}");
    assert_eq!(out.status.code(), Some(0));
    assert!(err.contains(&format!("Using config: {}", dir.0.join("conf/zoo.cfg").display())), "{err}");
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    guard.0 = Some(pid);
    assert!(alive(pid));

    let out = zk_server(&dir.0, &["start"]);
    assert_eq!(stdout(&out), format!("Starting zookeeper ... already running as process {pid}.\n"));
    assert_eq!(out.status.code(), Some(1));

    let out = zk_server(&dir.0, &["status"]);
    assert_eq!(
        stdout(&out),
        format!("Client port found: {port}. Client address: 127.0.0.1. Client SSL: false.\nMode: standalone\n")
    );
    assert_eq!(out.status.code(), Some(0));

    let out = zk_server(&dir.0, &["print-cmd"]);
    assert!(stdout(&out).contains(&format!("server \"{}\"", dir.0.join("conf/zoo.cfg").display())), "{}", stdout(&out));

    // A write, then stop: SIGTERM, a graceful exit, the PID file removed.
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    Client::connect(addr, 30_000).unwrap().create("/runbook", b"", 0).unwrap();
    let out = zk_server(&dir.0, &["stop"]);
    assert_eq!(stdout(&out), "Stopping zookeeper ... STOPPED\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(!alive(pid), "the server exited before STOPPED was printed");
    assert!(!pid_file.exists());
    let server_out = std::fs::read_dir(dir.0.join("logs")).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&server_out).unwrap();
    assert!(text.contains("SIGTERM: stopping") && text.contains("Stopped in"), "{text}");
    assert!(server_out.file_name().unwrap().to_string_lossy().starts_with("zookeeper-"), "{server_out:?}");

    let out = zk_server(&dir.0, &["status"]);
    assert_eq!(
        stdout(&out),
        format!(
            "Client port found: {port}. Client address: 127.0.0.1. Client SSL: false.\n\
             Error contacting service. It is probably not running.\n"
        )
    );
    assert_eq!(out.status.code(), Some(1));

    let out = zk_server(&dir.0, &["stop"]);
    assert_eq!(
        stdout(&out),
        format!("Stopping zookeeper ... no zookeeper to stop (could not find file {})\n", pid_file.display())
    );
    assert_eq!(out.status.code(), Some(0));

    // restart = stop + start; the data written before is there.
    let out = zk_server(&dir.0, &["restart"]);
    assert_eq!(
        stdout(&out),
        "Stopping zookeeper ... no zookeeper to stop (could not find file ".to_string()
            + &pid_file.display().to_string()
            + ")\nStarting zookeeper ... STARTED\n"
    );
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    guard.0 = Some(pid);
    let mut c = ensemble::connect_retry(addr, 30_000, Duration::from_secs(10)).unwrap();
    assert!(c.exists("/runbook", false).unwrap().is_some());
    drop(c);
    let out = zk_server(&dir.0, &["restart"]);
    assert_eq!(stdout(&out), "Stopping zookeeper ... STOPPED\nStarting zookeeper ... STARTED\n");
    assert!(!alive(pid));
    let pid: u32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    guard.0 = Some(pid);
    assert_eq!(zk_server(&dir.0, &["stop"]).status.code(), Some(0));
    assert!(!alive(pid));
}

#[test]
fn zkserver_sh_reports_a_failed_start_and_runs_in_the_foreground() {
    let dir = TempDir::new("sd-zkserver-fg");
    std::fs::create_dir_all(dir.0.join("conf")).unwrap();
    let data = dir.0.join("data");
    // A bad value: the server exits 2 at once.
    std::fs::write(dir.0.join("conf/zoo.cfg"), format!("tickTime=abc\ndataDir={}\nclientPort=0\n", data.display()))
        .unwrap();
    let out = zk_server(&dir.0, &["start"]);
    assert_eq!(stdout(&out), "Starting zookeeper ... FAILED TO START\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tickTime"), "the server's complaint is shown");

    // start-foreground with another file of the config dir (zkServer.sh's second argument):
    // the wrapper execs rookery, so the child is the server and SIGTERM reaches it.
    std::fs::write(
        dir.0.join("conf/other.cfg"),
        format!("tickTime=200\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n", data.display()),
    )
    .unwrap();
    let mut child = KillOnDrop(
        Command::new("bash")
            .arg(root().join("bin/zkServer.sh"))
            .args(["start-foreground", "other.cfg"])
            .env("ZOOCFGDIR", dir.0.join("conf"))
            .env("ZOO_LOG_DIR", dir.0.join("logs"))
            .env("ROOKERY", env!("CARGO_BIN_EXE_rookery"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("serving clients on 127.0.0.1:"), "{line:?}");
    let cmdline = std::fs::read_to_string(format!("/proc/{}/cmdline", child.0.id())).unwrap_or_default();
    assert!(cmdline.contains("rookery") && cmdline.contains("other.cfg"), "exec'd: {cmdline:?}");
    signal(child.0.id(), "-TERM");
    assert_eq!(child.wait_exit().code(), Some(0));
}

#[test]
fn server_command_line_forms() {
    let dir = TempDir::new("sd-args");
    let cfg = dir.0.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!("tickTime=200\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n", dir.0.join("d").display()),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let dir_arg = dir.0.display().to_string();
    for args in [
        vec!["server", cfg.as_str()],
        vec!["server", "--foreground", "--config", cfg.as_str()],
        vec!["server", "--config", dir_arg.as_str()],
        vec!["server", "start-foreground", cfg.as_str()],
        vec!["start-foreground", cfg.as_str()],
    ] {
        let mut child = KillOnDrop(
            Command::new(env!("CARGO_BIN_EXE_rookery"))
                .args(&args)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let mut line = String::new();
        BufReader::new(child.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.contains("serving clients on"), "{args:?}: {line:?}");
        signal(child.0.id(), "-TERM");
        assert_eq!(child.wait_exit().code(), Some(0), "{args:?}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).args(["server", "--daemon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option --daemon"));
}
