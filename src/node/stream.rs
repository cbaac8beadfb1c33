//! A TCP connection that may carry TLS: the one stream type of client connections, quorum links
//! and election connections. It behaves as `TcpStream` does for this server's threads: clones
//! (`try_clone`) share the connection, one thread reads while another writes, and `shutdown`
//! from any clone ends it.
//!
//! With TLS, every clone shares the rustls state and the decrypted bytes not yet read, behind one
//! lock; socket reads happen outside the lock, so a reader blocked on the network never stalls a
//! writer. Encrypted bytes are written in the order they were produced: whoever produced them
//! takes the send lock before letting go of the state lock.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
#[cfg(feature = "tls")]
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A plain or TLS connection.
pub struct Stream {
    tcp: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<Arc<Tls>>,
}

#[cfg(feature = "tls")]
struct Tls {
    state: Mutex<TlsState>,
    /// Held while encrypted bytes go out, so records leave in order.
    send: Mutex<()>,
}

#[cfg(feature = "tls")]
struct TlsState {
    conn: rustls::Connection,
    /// Plaintext decrypted and not yet read: `plain[start..]`.
    plain: Vec<u8>,
    start: usize,
    /// The peer sent close_notify: once `plain` is read, the stream has ended.
    closed: bool,
}

impl Stream {
    pub fn plain(tcp: TcpStream) -> Stream {
        Stream {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// TLS over `tcp` with `conn`'s side of the handshake, which runs on the first read or write.
    #[cfg(feature = "tls")]
    pub fn tls(tcp: TcpStream, mut conn: rustls::Connection) -> Stream {
        // Writes are sent as soon as they are encrypted; rustls's own 64 KiB cap on what it
        // holds would only make large replies and SNAP streams fail.
        conn.set_buffer_limit(None);
        let state = TlsState { conn, plain: Vec::new(), start: 0, closed: false };
        let tls = Tls { state: Mutex::new(state), send: Mutex::new(()) };
        Stream { tcp, tls: Some(Arc::new(tls)) }
    }

    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream {
            tcp: self.tcp.try_clone()?,
            #[cfg(feature = "tls")]
            tls: self.tls.clone(),
        })
    }

    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The peer's certificate chain (end entity first), once a TLS handshake has completed.
    pub fn peer_certificates(&self) -> Option<Vec<Vec<u8>>> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let state = tls.state.lock().expect("tls state lock");
            return state.conn.peer_certificates().map(|c| c.iter().map(|d| d.as_ref().to_vec()).collect());
        }
        None
    }

    /// Runs the TLS handshake to its end (a no-op on a plain stream), so that a peer refused by
    /// it is refused before anything else happens.
    pub fn complete_handshake(&self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            loop {
                let handshaking = tls.state.lock().expect("tls state lock").conn.is_handshaking();
                if !handshaking {
                    return Ok(());
                }
                self.flush_tls(tls)?;
                if self.read_tls_once(tls)? == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed during the TLS handshake",
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(t)
    }

    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.tcp.set_write_timeout(t)
    }

    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.tcp.set_nodelay(on)
    }

    /// Ends the connection; TLS first says so (close_notify), as well as it can without waiting.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let (Some(tls), Shutdown::Both | Shutdown::Write) = (&self.tls, how) {
            if let Ok(mut state) = tls.state.try_lock() {
                state.conn.send_close_notify();
                let outgoing = take_outgoing(&mut state.conn);
                let _ = self.tcp.set_write_timeout(Some(Duration::from_millis(100)));
                let _ = (&self.tcp).write_all(&outgoing);
            }
        }
        self.tcp.shutdown(how)
    }

    /// Reads once from the socket and feeds what came to rustls, answering anything the
    /// handshake needs answered. Returns the bytes read (0 at the end of the stream).
    #[cfg(feature = "tls")]
    fn read_tls_once(&self, tls: &Tls) -> io::Result<usize> {
        let mut raw = [0u8; 16 * 1024 + 512];
        let n = (&self.tcp).read(&mut raw)?;
        if n == 0 {
            return Ok(0);
        }
        let mut state = tls.state.lock().expect("tls state lock");
        let TlsState { conn, plain, closed, .. } = &mut *state;
        let mut fed = &raw[..n];
        // What rustls answers (handshake messages, a key update), sent once everything is fed.
        let mut answers = Vec::new();
        while !fed.is_empty() {
            conn.read_tls(&mut fed)?;
            let processed = conn.process_new_packets();
            answers.extend(take_outgoing(conn));
            if let Err(e) = processed {
                // Tell the peer why (a TLS alert) before giving up.
                let _ = (&self.tcp).write_all(&answers);
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}")));
            }
            let mut chunk = [0u8; 4096];
            loop {
                match conn.reader().read(&mut chunk) {
                    Ok(0) => {
                        *closed = true;
                        break;
                    }
                    Ok(k) => plain.extend_from_slice(&chunk[..k]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
        }
        if !answers.is_empty() {
            // As writers do: the send lock first, then the state lock goes, so that a blocked
            // socket write never keeps another thread from encrypting or reading.
            let _sending = tls.send.lock().expect("tls send lock");
            drop(state);
            (&self.tcp).write_all(&answers)?;
        }
        Ok(n)
    }

    /// Sends whatever rustls has queued (handshake messages, buffered records).
    #[cfg(feature = "tls")]
    fn flush_tls(&self, tls: &Tls) -> io::Result<()> {
        let mut state = tls.state.lock().expect("tls state lock");
        let outgoing = take_outgoing(&mut state.conn);
        if !outgoing.is_empty() {
            let _sending = tls.send.lock().expect("tls send lock");
            drop(state);
            (&self.tcp).write_all(&outgoing)?;
        }
        Ok(())
    }
}

/// The encrypted bytes rustls has ready to send.
#[cfg(feature = "tls")]
fn take_outgoing(conn: &mut rustls::Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while conn.wants_write() {
        if conn.write_tls(&mut out).is_err() {
            break;
        }
    }
    out
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            loop {
                {
                    let mut state = tls.state.lock().expect("tls state lock");
                    let TlsState { plain, start, closed, .. } = &mut *state;
                    if *start < plain.len() {
                        let n = buf.len().min(plain.len() - *start);
                        buf[..n].copy_from_slice(&plain[*start..*start + n]);
                        *start += n;
                        if *start == plain.len() {
                            plain.clear();
                            *start = 0;
                        }
                        return Ok(n);
                    }
                    if *closed {
                        return Ok(0);
                    }
                }
                self.flush_tls(tls)?;
                if self.read_tls_once(tls)? == 0 {
                    return Ok(0);
                }
            }
        }
        (&self.tcp).read(buf)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut rest = buf;
            while !rest.is_empty() {
                let mut state = tls.state.lock().expect("tls state lock");
                let n = state.conn.writer().write(rest)?;
                rest = &rest[n..];
                let outgoing = take_outgoing(&mut state.conn);
                if n == 0 && outgoing.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::WriteZero, "TLS: nothing could be sent"));
                }
                let _sending = tls.send.lock().expect("tls send lock");
                drop(state);
                (&self.tcp).write_all(&outgoing)?;
            }
            return Ok(());
        }
        (&self.tcp).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&self.tcp).flush()
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (&*self).write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}
