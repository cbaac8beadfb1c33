//! `rookery server`: the process around a `node::Server`. It parses the command line (also in
//! the forms zkServer.sh users type), blocks the termination signals before the first thread
//! exists, starts the server, tells systemd when it serves (`notify`), and on SIGTERM or SIGINT
//! stops it gracefully (`node::Server::shutdown`) and exits 0.
//!
//! Readiness, decided once for both modes: `READY=1` is sent when the server first serves
//! clients. Standalone, that is as soon as recovery is done and the client port is bound. An
//! ensemble member serves once it has joined a quorum (leader, or follower/observer
//! synchronised with the leader), so a member started alone stays "activating" until enough of
//! its peers are up; `STATUS=` says what it waits for. This makes `systemctl restart` in a
//! rolling restart return only once the member is back in the quorum, as etcd's `Type=notify`
//! unit does.

pub mod notify;
pub mod signals;

use crate::config::Config;
use crate::node::{self, ServerState};
use notify::Notifier;
use std::io::Write;
use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// How long a graceful stop may take before the process exits anyway (systemd's unit allows
/// more, `TimeoutStopSec=30`, before it sends SIGKILL).
pub const STOP_LIMIT: Duration = Duration::from_secs(10);

/// The configuration used when none is named.
pub const DEFAULT_CONFIG: &str = "conf/zoo.cfg";

pub const USAGE: &str = "rookery server [--foreground] [--config FILE|DIR] [CONFIG]";

/// The configuration file `rookery server` was asked to use. Accepted forms:
///
/// ```text
/// rookery server [CONFIG]                      CONFIG defaults to conf/zoo.cfg
/// rookery server --config FILE                 also --config=FILE
/// rookery server --config DIR                  DIR/zoo.cfg (zkServer.sh's --config takes a directory)
/// rookery server --foreground ...              accepted: the server always runs in the foreground
/// rookery server start-foreground [CONFIG]     zkServer.sh's word (also `rookery start-foreground`)
/// ```
pub fn parse_args(args: &[String]) -> Result<PathBuf, String> {
    let mut config: Option<PathBuf> = None;
    let mut set = |p: PathBuf| -> Result<(), String> {
        if config.is_some() {
            return Err("more than one configuration file given".into());
        }
        config = Some(p);
        Ok(())
    };
    let mut it = args.iter().peekable();
    if it.peek().map(|a| a.as_str()) == Some("start-foreground") {
        it.next();
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--foreground" | "-f" => {}
            "--config" | "-c" => {
                let v = it.next().ok_or_else(|| format!("{a} needs a file or directory"))?;
                set(config_path(Path::new(v)))?;
            }
            s if s.starts_with("--config=") => set(config_path(Path::new(&s["--config=".len()..])))?,
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            s => set(config_path(Path::new(s)))?,
        }
    }
    Ok(config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG)))
}

/// A directory names its `zoo.cfg`, as zkServer.sh's `--config <conf-dir>`.
fn config_path(p: &Path) -> PathBuf {
    if p.is_dir() {
        p.join("zoo.cfg")
    } else {
        p.to_path_buf()
    }
}

/// Logging to standard error with env_logger (`RUST_LOG`, default `info`). When standard error
/// is systemd's journal (`$JOURNAL_STREAM` names it), lines carry the syslog priority prefix
/// journald reads (`<3>` for errors ... `<7>` for debug) and no timestamp, which the journal adds.
pub fn init_logger(default_level: &str) {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_level));
    if stderr_is_journal() {
        b.format(|buf, record| {
            let prio = match record.level() {
                log::Level::Error => 3,
                log::Level::Warn => 4,
                log::Level::Info => 6,
                log::Level::Debug | log::Level::Trace => 7,
            };
            writeln!(buf, "<{prio}>{}: {}", record.target(), record.args())
        });
    }
    b.init();
}

/// `$JOURNAL_STREAM` is `device:inode` of the stream systemd connected; it is inherited by
/// children whose stderr may be elsewhere, so compare it with what fd 2 really is.
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(v) = std::env::var_os("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = v.to_str().and_then(|s| s.split_once(':')) else { return false };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else { return false };
    // SAFETY: fd 2 stays open for the life of the process; ManuallyDrop keeps it open here.
    let stderr = std::mem::ManuallyDrop::new(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(2) });
    stderr.metadata().map(|m| m.dev() == dev && m.ino() == ino).unwrap_or(false)
}

/// What systemd's `STATUS=` shows for a state.
pub fn status_line(state: ServerState, client_addr: std::net::SocketAddr) -> String {
    match (state.mode, state.serving) {
        ("standalone", _) => format!("standalone, serving clients on {client_addr}"),
        ("looking", _) => "looking for a leader (not serving clients)".to_string(),
        ("leader", false) => "leading, waiting for a quorum of followers (not serving clients)".to_string(),
        (mode, false) => format!("{mode}, synchronising with the leader (not serving clients)"),
        (mode, true) => format!("{mode}, serving clients on {client_addr}"),
    }
}

/// A second termination signal: the operator does not want to wait.
fn second_signal(sig: c_int) {
    log::warn!("{} again: exiting without finishing the graceful stop", signals::name(sig));
    std::process::exit(1);
}

/// `rookery server ...`: exit status 0 after a graceful stop, 1 when the server cannot start or
/// the stop ran out of time, 2 for a bad command line or configuration.
pub fn run(args: &[String]) -> ExitCode {
    let path = match parse_args(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rookery server: {e}\nusage: {USAGE}");
            return ExitCode::from(2);
        }
    };
    // First, while this is the only thread: every thread spawned later inherits the mask.
    let termination = match signals::Termination::block() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rookery: cannot block SIGTERM/SIGINT: {e}");
            return ExitCode::from(1);
        }
    };
    // zkServer.sh passes `$SERVER_JVMFLAGS $JVMFLAGS` to java: their -D system properties count.
    let props: Vec<(String, String, String)> = ["SERVER_JVMFLAGS", "JVMFLAGS"]
        .iter()
        .flat_map(|var| {
            let flags = std::env::var(var).unwrap_or_default();
            crate::config::jvm_properties(&flags).into_iter().map(move |(k, v)| (var.to_string(), k, v))
        })
        .collect();
    let cfg = match Config::load_with_properties(&path, &props) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rookery: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &cfg.warnings {
        log::warn!("{w}");
    }
    let taken: Vec<&str> = termination.signals().iter().map(|&s| signals::name(s)).collect();
    let stop_requests = match termination.wait_in_thread(second_signal) {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("rookery: cannot start the signal thread: {e}");
            return ExitCode::from(1);
        }
    };
    let server = match node::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rookery: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    // Tests and scripts read this line to learn the port when clientPort=0.
    // Written whole and unchecked: a reader that took the first line and left must not matter.
    let mut ready = format!("rookery {} serving clients on {}\n", env!("CARGO_PKG_VERSION"), server.client_addr);
    if let Some(addr) = server.secure_client_addr {
        ready.push_str(&format!("rookery {} serving TLS clients on {addr}\n", env!("CARGO_PKG_VERSION")));
    }
    let _ = std::io::stdout().write_all(ready.as_bytes());
    let _ = std::io::stdout().flush();
    log::info!("{} stops the server gracefully (a second one exits at once)", taken.join(" or "));

    let notifier = Notifier::from_env().map(Arc::new);
    if let Some(n) = &notifier {
        let n = n.clone();
        let mut watch = server.watch();
        let addr = server.client_addr;
        let spawned = std::thread::Builder::new().name("sd-notify".into()).spawn(move || {
            let mut ready = false;
            loop {
                let Some(state) = watch.next(Duration::from_secs(3600)) else { continue };
                let line = status_line(state, addr);
                if state.serving && !ready {
                    ready = true;
                    n.ready(&line);
                } else {
                    n.status(&line);
                }
            }
        });
        if let Err(e) = spawned {
            log::warn!("cannot start the systemd notification thread: {e}");
        }
    }

    let Ok(sig) = stop_requests.recv() else {
        log::error!("the signal thread ended: SIGTERM and SIGINT are ignored from now on");
        server.wait();
        return ExitCode::SUCCESS;
    };
    log::info!("{}: stopping (at most {} s)", signals::name(sig), STOP_LIMIT.as_secs());
    if let Some(n) = &notifier {
        n.stopping("stopping: answering requests in flight, then closing client connections");
    }
    let report = server.shutdown(STOP_LIMIT);
    if report.clean {
        ExitCode::SUCCESS
    } else {
        log::warn!("the stop did not finish cleanly; every acknowledged write is on disk all the same");
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines() {
        let p = |a: &[&str]| parse_args(&args(a));
        assert_eq!(p(&[]).unwrap(), PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(p(&["my.cfg"]).unwrap(), PathBuf::from("my.cfg"));
        assert_eq!(p(&["--foreground", "my.cfg"]).unwrap(), PathBuf::from("my.cfg"));
        assert_eq!(p(&["--config", "my.cfg", "--foreground"]).unwrap(), PathBuf::from("my.cfg"));
        assert_eq!(p(&["--config=my.cfg"]).unwrap(), PathBuf::from("my.cfg"));
        assert_eq!(p(&["-c", "my.cfg"]).unwrap(), PathBuf::from("my.cfg"));
        assert_eq!(p(&["start-foreground"]).unwrap(), PathBuf::from(DEFAULT_CONFIG));
        assert_eq!(p(&["start-foreground", "x/zoo.cfg"]).unwrap(), PathBuf::from("x/zoo.cfg"));
        let dir = std::env::temp_dir();
        assert_eq!(p(&["--config", dir.to_str().unwrap()]).unwrap(), dir.join("zoo.cfg"));
        assert!(p(&["--config"]).is_err());
        assert!(p(&["a.cfg", "b.cfg"]).is_err());
        assert!(p(&["--config", "a.cfg", "b.cfg"]).is_err());
        assert!(p(&["--daemon"]).is_err());
        assert!(p(&["start"]).is_ok(), "a file named start, as before");
    }

    #[test]
    fn status_lines() {
        let a: std::net::SocketAddr = "127.0.0.1:2181".parse().unwrap();
        let s = |mode, serving| status_line(ServerState { mode, serving }, a);
        assert_eq!(s("standalone", true), "standalone, serving clients on 127.0.0.1:2181");
        assert_eq!(s("looking", false), "looking for a leader (not serving clients)");
        assert_eq!(s("leader", false), "leading, waiting for a quorum of followers (not serving clients)");
        assert_eq!(s("follower", false), "follower, synchronising with the leader (not serving clients)");
        assert_eq!(s("leader", true), "leader, serving clients on 127.0.0.1:2181");
        assert_eq!(s("observer", true), "observer, serving clients on 127.0.0.1:2181");
    }
}
