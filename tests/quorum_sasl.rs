//! Quorum SASL's exchange (`rookery::auth::quorum`) between a learner and a server over an
//! in-memory pipe, each side on its own thread as on two servers: a known user logs in, a wrong
//! password is refused (or let through when the server does not require SASL), and a peer that
//! does not log in is let through only when that is allowed, its first bytes handed back.

use rookery::auth::quorum::QuorumSasl;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::mpsc;

/// One end of an in-memory duplex pipe.
struct End {
    rx: mpsc::Receiver<Vec<u8>>,
    tx: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

fn pipe() -> (End, End) {
    let (a_tx, b_rx) = mpsc::channel();
    let (b_tx, a_rx) = mpsc::channel();
    (End { rx: a_rx, tx: a_tx, buf: Vec::new() }, End { rx: b_rx, tx: b_tx, buf: Vec::new() })
}

impl Read for End {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buf.is_empty() {
            match self.rx.recv() {
                Ok(b) => self.buf = b,
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf.drain(..n);
        Ok(n)
    }
}

impl Write for End {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let _ = self.tx.send(b.to_vec());
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn settings(learner: (&str, &str), server_require: bool) -> QuorumSasl {
    QuorumSasl {
        learner_require: true,
        server_require,
        users: HashMap::from([("peer".to_string(), "secret".to_string())]),
        login: Some((learner.0.to_string(), learner.1.to_string())),
    }
}

/// Runs both sides; the learner's and the server's results.
fn exchange(learner: QuorumSasl, server: QuorumSasl) -> (io::Result<()>, io::Result<Vec<u8>>) {
    let (mut a, mut b) = pipe();
    let t = std::thread::spawn(move || learner.authenticate_learner(&mut a, "C1".into()));
    let s = server.authenticate_server(&mut b, "N1".into());
    drop(b);
    (t.join().unwrap(), s)
}

#[test]
fn a_known_peer_logs_in_and_a_wrong_password_is_refused() {
    let (l, s) = exchange(settings(("peer", "secret"), true), settings(("x", "x"), true));
    assert!(l.is_ok() && s.unwrap().is_empty());
    let (l, s) = exchange(settings(("peer", "wrong"), true), settings(("x", "x"), true));
    assert!(l.is_err() && s.is_err());
    // Not required: the failure is logged and the connection kept.
    let (l, s) = exchange(settings(("peer", "wrong"), false), settings(("x", "x"), false));
    assert!(l.is_err() && s.unwrap().is_empty());
}

#[test]
fn a_peer_that_does_not_log_in_is_let_through_only_when_not_required() {
    let (mut a, mut b) = pipe();
    a.write_all(&[0, 0, 0, 28, 1, 2, 3, 4]).unwrap();
    let open = settings(("x", "x"), false);
    assert_eq!(open.authenticate_server(&mut b, "N".into()).unwrap(), [0, 0, 0, 28, 1, 2, 3, 4]);
    a.write_all(&[0; 8]).unwrap();
    assert!(settings(("x", "x"), true).authenticate_server(&mut b, "N".into()).is_err());
    // A learner that is not required to log in sends nothing.
    let quiet = QuorumSasl { learner_require: false, ..settings(("x", "x"), false) };
    quiet.authenticate_learner(&mut a, "C".into()).unwrap();
    drop(a);
    assert!(b.buf.is_empty() && b.rx.try_recv().is_err());
}
