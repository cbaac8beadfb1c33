//! Quorum packets on the quorum port: `QuorumPacket` jute records written back to back, with no
//! length prefix (`oa.writeRecord(pp, "packet")` in ZooKeeper).
//!
//! ```text
//! int type; long zxid; buffer data (int len, -1 = null); vector<Id> authinfo (int count, -1 = null)
//! Id { ustring scheme; ustring id }
//! ```
//! Every length read is checked before anything is allocated: a peer cannot make us reserve more
//! than `QUORUM_PACKET_DATA_MAX` for one packet.

use crate::jute::data::Id;
use crate::jute::quorum::QuorumPacket;
use crate::jute::Record;
use std::io::{self, Read, Write};

/// The largest `data` of one quorum packet. A proposal carries one txn (bounded by the client
/// frame limit, jute.maxbuffer); a PING reply carries 12 bytes per session touched.
pub const QUORUM_PACKET_DATA_MAX: usize = 64 * 1024 * 1024;
/// The most auth ids one packet may carry (a client's identities: a handful).
pub const QUORUM_PACKET_AUTH_MAX: usize = 1024;
/// The longest auth scheme or id.
const AUTH_FIELD_MAX: usize = 4096;

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn read_i32<R: Read>(r: &mut R) -> io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_be_bytes(b))
}

fn read_i64<R: Read>(r: &mut R) -> io::Result<i64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(i64::from_be_bytes(b))
}

/// A length prefix: None for -1 (null), an error past `max` or below -1.
fn read_len<R: Read>(r: &mut R, max: usize, what: &str) -> io::Result<Option<usize>> {
    match read_i32(r)? {
        -1 => Ok(None),
        n if n < 0 || n as usize > max => Err(invalid(format!("quorum packet {what} length {n}"))),
        n => Ok(Some(n as usize)),
    }
}

fn read_bytes<R: Read>(r: &mut R, max: usize, what: &str) -> io::Result<Option<Vec<u8>>> {
    match read_len(r, max, what)? {
        None => Ok(None),
        Some(n) => {
            let mut b = vec![0u8; n];
            r.read_exact(&mut b)?;
            Ok(Some(b))
        }
    }
}

fn read_string<R: Read>(r: &mut R, what: &str) -> io::Result<String> {
    let b = read_bytes(r, AUTH_FIELD_MAX, what)?.unwrap_or_default();
    Ok(String::from_utf8_lossy(&b).into_owned())
}

/// Reads one packet (blocking).
pub fn read_packet<R: Read>(r: &mut R) -> io::Result<QuorumPacket> {
    let kind = read_i32(r)?;
    let zxid = read_i64(r)?;
    let data = read_bytes(r, QUORUM_PACKET_DATA_MAX, "data")?;
    let count = read_len(r, QUORUM_PACKET_AUTH_MAX, "authinfo")?.unwrap_or(0);
    let mut auth_info = Vec::with_capacity(count);
    for _ in 0..count {
        let scheme = read_string(r, "auth scheme")?;
        let id = read_string(r, "auth id")?;
        auth_info.push(Id { scheme, id });
    }
    Ok(QuorumPacket { kind, zxid, data, auth_info })
}

/// Writes one packet (the caller flushes: packets are batched on a buffered stream).
pub fn write_packet<W: Write>(w: &mut W, p: &QuorumPacket) -> io::Result<()> {
    w.write_all(&p.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_back_to_back() {
        let a = QuorumPacket {
            kind: 2,
            zxid: 0x1_0000_0001,
            data: Some(vec![1, 2, 3]),
            auth_info: vec![Id::new("ip", "127.0.0.1")],
        };
        let b = QuorumPacket { kind: 5, zxid: -1, data: None, auth_info: vec![] };
        let mut buf = Vec::new();
        write_packet(&mut buf, &a).unwrap();
        write_packet(&mut buf, &b).unwrap();
        let mut r = &buf[..];
        assert_eq!(read_packet(&mut r).unwrap(), a);
        let got = read_packet(&mut r).unwrap();
        assert_eq!((got.kind, got.zxid, got.data), (5, -1, None));
        assert!(r.is_empty());
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let mut huge = Vec::new();
        huge.extend_from_slice(&2i32.to_be_bytes());
        huge.extend_from_slice(&0i64.to_be_bytes());
        huge.extend_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(read_packet(&mut &huge[..]).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let mut auth = Vec::new();
        auth.extend_from_slice(&2i32.to_be_bytes());
        auth.extend_from_slice(&0i64.to_be_bytes());
        auth.extend_from_slice(&(-1i32).to_be_bytes());
        auth.extend_from_slice(&1_000_000i32.to_be_bytes());
        assert_eq!(read_packet(&mut &auth[..]).unwrap_err().kind(), io::ErrorKind::InvalidData);
        // A packet cut short is an end of stream, not a panic.
        assert_eq!(read_packet(&mut &[0u8, 0, 0][..]).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
