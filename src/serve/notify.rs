//! systemd's readiness protocol (`sd_notify(3)`), written by hand: one datagram of
//! newline-separated `KEY=value` lines to the unix socket named by `$NOTIFY_SOCKET`, which is
//! either a path (`/run/systemd/notify`) or, with a leading `@`, a name in Linux's abstract
//! namespace. Without `$NOTIFY_SOCKET` (not started by systemd with `Type=notify`) nothing is
//! sent. We send:
//!
//! - `READY=1` once the server first serves clients (see `serve`),
//! - `STATUS=...` whenever its role changes (`systemctl status` shows the last one),
//! - `STOPPING=1` when a stop begins.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// A connection to the service manager.
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// Set by `stopping`: later READY and STATUS messages (from a role change racing with the
    /// stop) would tell systemd something no longer true.
    stopping: AtomicBool,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for, if any. A value that cannot be used is logged
    /// and ignored: the server runs as well without readiness messages.
    pub fn from_env() -> Option<Notifier> {
        let value = std::env::var_os("NOTIFY_SOCKET")?;
        match Notifier::new(&value) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!("NOTIFY_SOCKET={}: {e}; not notifying systemd", value.to_string_lossy());
                None
            }
        }
    }

    /// A notifier for the socket named `name` (a path, or `@name` for the abstract namespace).
    pub fn new(name: &OsStr) -> io::Result<Notifier> {
        let addr = parse_addr(name)?;
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier { socket, addr, stopping: AtomicBool::new(false) })
    }

    /// Sends one message: `KEY=value` lines.
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.addr).map(|_| ())
    }

    /// `READY=1` with a status line, unless a stop has begun.
    pub fn ready(&self, status: &str) {
        if !self.stopping.load(Ordering::Acquire) {
            self.log_failure(self.send(&format!("READY=1\nSTATUS={}", one_line(status))));
        }
    }

    /// A status line, unless a stop has begun.
    pub fn status(&self, status: &str) {
        if !self.stopping.load(Ordering::Acquire) {
            self.log_failure(self.send(&format!("STATUS={}", one_line(status))));
        }
    }

    /// `STOPPING=1`: from here on only this notifier's caller speaks (see `stopping` field).
    pub fn stopping(&self, status: &str) {
        self.stopping.store(true, Ordering::Release);
        self.log_failure(self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status))));
    }

    fn log_failure(&self, r: io::Result<()>) {
        if let Err(e) = r {
            log::warn!("cannot notify systemd: {e}");
        }
    }
}

/// A newline would start a new `KEY=value` line.
fn one_line(s: &str) -> String {
    s.replace('\n', " ")
}

/// `$NOTIFY_SOCKET`'s address: an absolute path, or `@name` in the abstract namespace (Linux).
fn parse_addr(name: &OsStr) -> io::Result<SocketAddr> {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(Path::new(name)),
        Some(b'@') => abstract_addr(&bytes[1..]),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path or an @abstract name (other socket kinds are not supported)",
        )),
    }
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract unix socket names exist only on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn temp_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rookery-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn recv(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn path_socket_gets_ready_status_and_stopping_and_nothing_after() {
        let dir = temp_dir("path");
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(path.as_os_str()).unwrap();
        n.ready("serving\nclients");
        assert_eq!(recv(&sock), "READY=1\nSTATUS=serving clients");
        n.status("follower");
        assert_eq!(recv(&sock), "STATUS=follower");
        n.stopping("stopping");
        assert_eq!(recv(&sock), "STOPPING=1\nSTATUS=stopping");
        n.ready("late");
        n.status("late");
        sock.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        assert!(sock.recv(&mut buf).is_err(), "nothing is sent after STOPPING=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("rookery-notify-test-{}", std::process::id());
        let sock = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        let n = Notifier::new(OsStr::new(&format!("@{name}"))).unwrap();
        n.ready("standalone");
        assert_eq!(recv(&sock), "READY=1\nSTATUS=standalone");
    }

    #[test]
    fn refuses_relative_and_empty_names() {
        assert!(Notifier::new(OsStr::new("relative/path")).is_err());
        assert!(Notifier::new(OsStr::new("")).is_err());
        assert!(Notifier::new(OsStr::new("vsock:2:1234")).is_err());
    }
}
