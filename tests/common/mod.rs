//! Test harness: runs the real `rookery` binary on an OS-chosen loopback port in a fresh data
//! directory, and ends only the process it started (by PID, on drop).
#![allow(dead_code)]

pub mod ensemble;
pub mod linearizable;
pub mod netproxy;
pub mod reference;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "rookery-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// The TLS client port, when the configuration has `secureClientPort`.
    pub secure_addr: Option<SocketAddr>,
    pub dir: TempDir,
    pub stderr_path: PathBuf,
}

impl Server {
    /// Starts a standalone server; `extra` lines are appended to its zoo.cfg.
    pub fn start(extra: &str) -> Server {
        let dir = TempDir::new("srv");
        let cfg = dir.0.join("zoo.cfg");
        let data = dir.0.join("data");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=200\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{extra}\n",
                data.display()
            ),
        )
        .unwrap();
        Server::start_with(dir, &cfg)
    }

    pub fn start_with(dir: TempDir, cfg: &Path) -> Server {
        Server::start_with_env(dir, cfg, &[])
    }

    /// As `start_with`, with these environment variables set for the server.
    pub fn start_with_env(dir: TempDir, cfg: &Path, env: &[(&str, &str)]) -> Server {
        let stderr_path = dir.0.join("server.log");
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rookery"))
            .arg("server")
            .arg(cfg)
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn rookery");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut read_addr = || {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read ready line");
            line.trim().rsplit(' ').next().and_then(|a| a.parse().ok()).unwrap_or_else(|| {
                panic!("no address in {line:?}; log: {}", std::fs::read_to_string(&stderr_path).unwrap_or_default())
            })
        };
        let addr = read_addr();
        // A second line gives the TLS client port.
        let text = std::fs::read_to_string(cfg).unwrap_or_default();
        let secure_addr = text.lines().any(|l| l.starts_with("secureClientPort=")).then(&mut read_addr);
        Server { child, addr, secure_addr, dir, stderr_path }
    }

    /// The zoo.cfg this server was started with.
    pub fn cfg_path(&self) -> PathBuf {
        self.dir.0.join("zoo.cfg")
    }

    /// The data directory's `version-2`, where snapshots and logs live.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.0.join("data").join("version-2")
    }

    /// kill -9, then start again on the same files.
    pub fn restart(mut self) -> Server {
        self.kill();
        let cfg = self.cfg_path();
        let dir = std::mem::replace(&mut self.dir, TempDir(PathBuf::new()));
        Server::start_with(dir, &cfg)
    }

    /// kill -9 (SIGKILL) and reap the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn hostport(&self) -> String {
        self.addr.to_string()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Sends a four-letter word and returns the answer.
    pub fn four(&self, cmd: &str) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(cmd.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` until it returns true or the deadline passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The project root (for the venv and scripts).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
