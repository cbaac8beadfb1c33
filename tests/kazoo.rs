//! Rookery driven by kazoo, the real Python ZooKeeper client: one test per script under
//! `tests/kazoo/`, each against a fresh server.
//!
//! Every script takes `host:port` as its only argument, asserts ZooKeeper's behaviour with plain
//! asserts and bounded waits, and exits non-zero on failure. The scripts were checked against a
//! real Apache ZooKeeper 3.8; to run them against one again, set
//! `ROOKERY_KAZOO_REFERENCE=zookeeper` (the same tests then start `ZooKeeperServerMain` from the
//! Debian jars instead of Rookery).
//!
//! kazoo lives in the project's virtualenv, `.venv`, which `make deps` creates.

mod common;

use common::reference::{self, ReferenceZk};

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one script may run. The longest (sessions.py) waits for a few session expiries;
/// two busy cores make everything slower.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);
/// How many lines of the server log a failure message shows.
const LOG_TAIL_LINES: usize = 300;

/// The digest of `super:test`, so `auth_data=[("digest", "super:test")]` is the super user.
const SUPER_DIGEST: &str = "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
/// TTL nodes, and a container/TTL reaper that runs often enough for a test to wait on it.
const EXTENDED_TYPES: &str = "extendedTypesEnabled=true\nznode.container.checkIntervalMs=100";

/// The venv's interpreter; a missing venv fails the test with what to run.
fn python() -> PathBuf {
    let py = common::root().join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run `make deps` to create the virtualenv with kazoo", py.display());
    let ok = Command::new(&py)
        .args(["-c", "import kazoo"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kazoo is not installed in .venv: run `make deps`");
    py
}

/// The server a script runs against.
enum Target {
    Rookery(common::Server),
    Reference(ReferenceZk),
}

impl Target {
    fn start(extra: &str) -> Target {
        if std::env::var("ROOKERY_KAZOO_REFERENCE").is_ok_and(|v| v == "zookeeper") {
            Target::Reference(ReferenceZk::start("kazoo-refzk", extra, reference::CLASSPATH, &[]))
        } else {
            Target::Rookery(common::Server::start(extra))
        }
    }

    fn hostport(&self) -> String {
        match self {
            Target::Rookery(s) => s.hostport(),
            Target::Reference(z) => z.addr.to_string(),
        }
    }

    fn log(&self) -> String {
        match self {
            Target::Rookery(s) => s.log(),
            Target::Reference(z) => z.log(),
        }
    }
}

/// Collects a child's pipe on a thread, so a chatty script can never block on a full pipe.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Starts a server with `extra` zoo.cfg lines, runs `tests/kazoo/<script>` against it, and
/// fails with the script's output and the server's log unless the script exits 0 in time.
fn run_script(script: &str, extra: &str) {
    let py = python();
    let server = Target::start(extra);
    let path = common::root().join("tests/kazoo").join(script);
    assert!(path.exists(), "{} is missing", path.display());
    let mut child = Command::new(&py)
        .arg(&path)
        .arg(server.hostport())
        .current_dir(common::root().join("tests/kazoo"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", py.display()));
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for script") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let verdict = match status {
        Some(s) if s.success() => return,
        Some(s) => format!("exited with {s}"),
        None => format!("did not finish within {SCRIPT_TIMEOUT:?} and was killed"),
    };
    panic!(
        "kazoo script {script} against {} {verdict}\n\
         ----- script stdout -----\n{stdout}\n\
         ----- script stderr -----\n{stderr}\n\
         ----- server log (last {LOG_TAIL_LINES} lines) -----\n{}",
        server.hostport(),
        tail(&server.log(), LOG_TAIL_LINES)
    );
}

#[test]
fn kazoo_basic_crud_versions_sequential_ephemeral() {
    run_script("basic.py", "");
}

#[test]
fn kazoo_watches_one_shot_and_ordered_before_replies() {
    run_script("watches.py", "");
}

#[test]
fn kazoo_sessions_expiry_reconnect_and_set_watches() {
    run_script("sessions.py", "");
}

#[test]
fn kazoo_transactions_commit_and_roll_back_atomically() {
    run_script("multi.py", "");
}

#[test]
fn kazoo_acls_digest_ip_super_and_auth_failure() {
    run_script("acl.py", SUPER_DIGEST);
}

#[test]
fn kazoo_persistent_and_recursive_watches() {
    run_script("persistent_watches.py", "");
}

#[test]
fn kazoo_containers_ttl_ephemerals_and_four_letter_words() {
    run_script("misc.py", EXTENDED_TYPES);
}

#[test]
fn kazoo_ttl_nodes_unimplemented_without_extended_types() {
    run_script("ttl_disabled.py", "znode.container.checkIntervalMs=100");
}

#[test]
fn kazoo_recipes_lock_election_counter_queue_barrier() {
    run_script("recipes.py", "");
}

#[test]
fn kazoo_sasl_digest_md5_acls_super_user_and_bad_passwords() {
    let jaas = common::root().join("tests/kazoo/sasl_jaas.conf");
    run_script(
        "sasl.py",
        &format!(
            "java.security.auth.login.config={}\n\
             authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\nsuperUser=admin",
            jaas.display()
        ),
    );
}
