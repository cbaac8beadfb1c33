//! The bytes of the election port (`server.N`'s second port, 3888 by default).
//!
//! Every number is big-endian, as Java's `DataOutputStream` and `ByteBuffer` write it.
//!
//! A connection opens with the connector's **initial message** (`QuorumCnxManager.startConnection`,
//! parsed by `InitialMessage.parse`):
//!
//! ```text
//! long protocolVersion    -65536 (0xffff0000, V1) or -65535 (0xffff0001, V2)
//! long sid                the connector's myid; Long.MAX_VALUE (OBSERVER_ID) from an observer without one
//! int  length             0 < length <= 2048
//! byte address[length]    UTF-8 "host:port"; V2 may list several, "h1:p1|h2:p2"; IPv6 as "[::1]:3888"
//! ```
//!
//! A first long that is zero or positive is instead the whole message: the sid of a pre-3.4.6 peer.
//! (An optional SASL exchange may follow; it is not part of this module.)
//!
//! After that, each direction carries frames `int length; byte payload[length]` with
//! `0 < length <= 512 KiB` (`PACKETMAXSIZE`). Each payload is a **notification**
//! (`FastLeaderElection.buildMsg`), whose current form, version 2, is
//!
//! ```text
//! int  state          0 LOOKING, 1 FOLLOWING, 2 LEADING, 3 OBSERVING (the sender's)
//! long leader         the proposed leader's sid
//! long zxid           the proposed leader's last zxid
//! long electionEpoch  the sender's round (logicalclock)
//! long peerEpoch      the proposed leader's current epoch
//! int  version        2
//! int  configLength   0 <= configLength <= payload length
//! byte config[configLength]   UTF-8 QuorumVerifier text, "server.1=h:2888:3888:participant;...\nversion=<hex>"
//! ```
//!
//! Receivers (`WorkerReceiver.run`) also take two older forms: exactly 28 bytes (the first four
//! fields; the peer epoch is then the epoch inside the zxid) and exactly 40 bytes (five fields and
//! an ignored int; version 0). Anything shorter than 28 bytes is dropped; other lengths are read as
//! version 2 and dropped if a field runs past the end. Bytes after the config are ignored.

use super::vote::PeerState;
use crate::ids::{ServerId, Zxid};
use std::fmt;

/// The notification format we send (`Notification.CURRENTVERSION`).
pub const NOTIFICATION_VERSION: i32 = 2;
/// The shortest notification a receiver accepts: the pre-ZOOKEEPER-107 form.
pub const NOTIFICATION_LEN_MIN: usize = 28;
/// The length of the 3.4-era form with a peer epoch but no config (its version int is ignored).
pub const NOTIFICATION_LEN_V1: usize = 40;
/// A version-2 notification without its config bytes.
pub const NOTIFICATION_HEADER_LEN: usize = 44;
/// The largest frame on the election port (`QuorumCnxManager.PACKETMAXSIZE`).
pub const PACKET_MAX_SIZE: usize = 512 * 1024;
/// Initial message protocol versions (`PROTOCOL_VERSION_V1`, `PROTOCOL_VERSION_V2`).
pub const PROTOCOL_VERSION_V1: i64 = -65536;
pub const PROTOCOL_VERSION_V2: i64 = -65535;
/// The longest address string in an initial message (`QuorumCnxManager.maxBuffer`).
pub const INITIAL_ADDRESS_LEN_MAX: usize = 2048;
/// The fixed part of a versioned initial message: version, sid and length.
pub const INITIAL_MESSAGE_HEAD_LEN: usize = 20;
/// The sid an observer without a configured id announces (`QuorumPeer.OBSERVER_ID`).
pub const OBSERVER_ID: ServerId = i64::MAX as u64;

const _: () = assert!(NOTIFICATION_LEN_MIN < NOTIFICATION_LEN_V1 && NOTIFICATION_LEN_V1 < NOTIFICATION_HEADER_LEN);
const _: () = assert!(NOTIFICATION_HEADER_LEN <= PACKET_MAX_SIZE);
const _: () = assert!(INITIAL_MESSAGE_HEAD_LEN + INITIAL_ADDRESS_LEN_MAX < PACKET_MAX_SIZE);

/// One election message, without the quorum configuration text it travels with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// The sender's state.
    pub state: PeerState,
    /// The proposed (or followed) leader.
    pub leader: ServerId,
    pub zxid: Zxid,
    /// The sender's round when LOOKING; a settled server sends the round of its election.
    pub election_epoch: i64,
    pub peer_epoch: i64,
    /// The format it arrived in: 0 for the 28- and 40-byte forms, else the version field.
    /// Outgoing notifications carry `NOTIFICATION_VERSION`.
    pub version: i32,
}

/// A decoded notification payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotificationMessage {
    pub notification: Notification,
    /// The sender's QuorumVerifier text, present from format version 2 on. ZooKeeper reads it as
    /// UTF-8 and reconfigures when its version is higher than its own.
    pub config: Option<Vec<u8>>,
}

/// How an election-port message failed to decode. Each is the sender's doing: the receiver drops
/// the message (notifications) or the connection (initial messages, frames), as ZooKeeper does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// A notification shorter than the oldest form ("Got a short response").
    ShortNotification(usize),
    /// A notification ended inside a field.
    Truncated { needed: usize, left: usize },
    /// A configLength below zero or above the message length ("Invalid configLength").
    BadConfigLength(i32),
    /// A state number other than 0..=3.
    UnknownState(i32),
    /// A frame length outside `1..=PACKET_MAX_SIZE`.
    BadFrameLength(i32),
    /// Not enough bytes yet: the initial message needs `needed` bytes in all. Not an error when
    /// reading from a stream; read that many and decode again.
    Incomplete { needed: usize },
    /// A negative first long that is neither protocol version ("unrecognized protocol version").
    UnknownProtocolVersion(i64),
    /// An address length outside `1..=INITIAL_ADDRESS_LEN_MAX` ("Unreasonable buffer length").
    BadAddressLength(i64),
    /// An address that is not `host:port` or `[v6]:port` ("Badly formed address").
    BadAddress(String),
    /// A port that is not a number in 0..=65535 ("Bad port number").
    BadPort(String),
    /// A negative sid after a protocol version. ZooKeeper would accept the connection and then
    /// ignore it (no server has that id); we refuse it outright.
    NegativeSid(i64),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::ShortNotification(n) => write!(f, "notification of {n} bytes, under the minimum 28"),
            WireError::Truncated { needed, left } => {
                write!(f, "notification truncated: needed {needed} bytes, {left} left")
            }
            WireError::BadConfigLength(n) => write!(f, "invalid configLength {n} in notification"),
            WireError::UnknownState(n) => write!(f, "unknown server state {n} in notification"),
            WireError::BadFrameLength(n) => write!(f, "election frame length {n} outside 1..={PACKET_MAX_SIZE}"),
            WireError::Incomplete { needed } => write!(f, "initial message incomplete: {needed} bytes needed"),
            WireError::UnknownProtocolVersion(v) => write!(f, "unrecognized protocol version {v}"),
            WireError::BadAddressLength(n) => {
                write!(f, "unreasonable address length {n} (1..={INITIAL_ADDRESS_LEN_MAX})")
            }
            WireError::BadAddress(a) => write!(f, "badly formed address {a:?}"),
            WireError::BadPort(p) => write!(f, "bad port number {p:?}"),
            WireError::NegativeSid(s) => write!(f, "negative sid {s} in initial message"),
        }
    }
}

impl std::error::Error for WireError {}

/// A cursor that reports `Truncated` with the sizes involved.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let left = self.buf.len() - self.at;
        if n > left {
            return Err(WireError::Truncated { needed: n, left });
        }
        let out = &self.buf[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn int(&mut self) -> Result<i32, WireError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn long(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
}

/// The payload of a version-2 notification (`buildMsg`), 44 bytes plus the config.
///
/// `config` is this server's QuorumVerifier text in UTF-8. A ZooKeeper receiver parses it and
/// reconfigures if its `version=` is higher than its own, so send the real text (with the same
/// version the ensemble's servers have), not an empty or invented one.
pub fn encode_notification(n: &Notification, config: &[u8]) -> Vec<u8> {
    assert_eq!(n.version, NOTIFICATION_VERSION, "we only send the current notification format");
    let config_len = i32::try_from(config.len()).expect("config text fits an int");
    let mut out = Vec::with_capacity(NOTIFICATION_HEADER_LEN + config.len());
    out.extend_from_slice(&n.state.to_wire().to_be_bytes());
    out.extend_from_slice(&(n.leader as i64).to_be_bytes());
    out.extend_from_slice(&n.zxid.to_be_bytes());
    out.extend_from_slice(&n.election_epoch.to_be_bytes());
    out.extend_from_slice(&n.peer_epoch.to_be_bytes());
    out.extend_from_slice(&NOTIFICATION_VERSION.to_be_bytes());
    out.extend_from_slice(&config_len.to_be_bytes());
    out.extend_from_slice(config);
    out
}

/// Decodes a notification payload as `WorkerReceiver` does, including the 28- and 40-byte forms.
///
/// ZooKeeper checks the state number last, after answering non-voters; we refuse an unknown state
/// here, so a non-voter that sends one gets no answer (no real server does).
pub fn decode_notification(payload: &[u8]) -> Result<NotificationMessage, WireError> {
    let len = payload.len();
    if len < NOTIFICATION_LEN_MIN {
        return Err(WireError::ShortNotification(len));
    }
    let mut c = Cursor { buf: payload, at: 0 };
    let state_number = c.int()?;
    let leader = c.long()? as u64;
    let zxid = c.long()?;
    let election_epoch = c.long()?;
    let mut version = 0;
    let mut config = None;
    let peer_epoch;
    if len == NOTIFICATION_LEN_MIN {
        // Before ZOOKEEPER-107 there was no peer epoch: take the epoch inside the zxid.
        peer_epoch = zxid >> 32;
    } else {
        peer_epoch = c.long()?;
        if len != NOTIFICATION_LEN_V1 {
            version = c.int()?;
        }
        if version > 1 {
            let config_len = c.int()?;
            if config_len < 0 || config_len as usize > len {
                return Err(WireError::BadConfigLength(config_len));
            }
            config = Some(c.take(config_len as usize)?.to_vec());
        }
    }
    let state = PeerState::from_wire(state_number).ok_or(WireError::UnknownState(state_number))?;
    let notification = Notification { state, leader, zxid, election_epoch, peer_epoch, version };
    Ok(NotificationMessage { notification, config })
}

/// Checks a frame's length prefix (`RecvWorker`) before anything is allocated for it.
pub fn check_frame_len(len: i32) -> Result<usize, WireError> {
    if len <= 0 || len as usize > PACKET_MAX_SIZE {
        return Err(WireError::BadFrameLength(len));
    }
    Ok(len as usize)
}

/// Prefixes a payload with its length, as `SendWorker.send` writes it.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    assert!(!payload.is_empty() && payload.len() <= PACKET_MAX_SIZE, "election frame of {} bytes", payload.len());
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// One election address from an initial message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ElectionAddr {
    /// A host name or IP literal, without IPv6 brackets.
    pub host: String,
    pub port: u16,
}

impl fmt::Display for ElectionAddr {
    /// `host:port`, with brackets around an IPv6 literal (`NetUtils.formatInetAddr`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The first message on an election connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitialMessage {
    /// A pre-3.4.6 peer, which sends only its sid.
    BareSid(ServerId),
    /// `PROTOCOL_VERSION_V1` or `_V2`, the connector's sid, and the addresses it listens on for
    /// elections. ZooKeeper also drops wildcard addresses (0.0.0.0, ::) from the list, resolving
    /// names to find them; that needs DNS, so it is left to the caller.
    Versioned { protocol_version: i64, sid: ServerId, election_addrs: Vec<ElectionAddr> },
}

impl InitialMessage {
    /// The connector's sid (`OBSERVER_ID` from an observer without one).
    pub fn sid(&self) -> ServerId {
        match self {
            InitialMessage::BareSid(sid) => *sid,
            InitialMessage::Versioned { sid, .. } => *sid,
        }
    }
}

/// The initial message a connector sends: `protocol_version` is V1 with one address (ZooKeeper's
/// default) or V2 with one or more (`multiAddress.enabled`). Fails if the address text is longer
/// than a receiver accepts.
pub fn encode_initial_message(
    protocol_version: i64,
    sid: ServerId,
    election_addrs: &[ElectionAddr],
) -> Result<Vec<u8>, WireError> {
    assert!(protocol_version == PROTOCOL_VERSION_V1 || protocol_version == PROTOCOL_VERSION_V2);
    assert!(!election_addrs.is_empty(), "an initial message names at least one address");
    assert!(protocol_version == PROTOCOL_VERSION_V2 || election_addrs.len() == 1, "V1 carries one address");
    let text = election_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join("|");
    if text.len() > INITIAL_ADDRESS_LEN_MAX {
        return Err(WireError::BadAddressLength(text.len() as i64));
    }
    let mut out = Vec::with_capacity(INITIAL_MESSAGE_HEAD_LEN + text.len());
    out.extend_from_slice(&protocol_version.to_be_bytes());
    out.extend_from_slice(&(sid as i64).to_be_bytes());
    out.extend_from_slice(&(text.len() as i32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    Ok(out)
}

/// Decodes an initial message from the bytes read so far, as `handleConnection` and
/// `InitialMessage.parse` do. With too few bytes it answers `Incomplete { needed }`: read until
/// there are `needed` bytes and call it again (8, then 20, then 20 + the address length, which is
/// checked against its limit before it is asked for). Bytes beyond the message are not looked at.
pub fn decode_initial_message(buf: &[u8]) -> Result<InitialMessage, WireError> {
    let need = |needed: usize| if buf.len() < needed { Err(WireError::Incomplete { needed }) } else { Ok(()) };
    need(8)?;
    let mut c = Cursor { buf, at: 0 };
    let first = c.long()?;
    if first >= 0 {
        return Ok(InitialMessage::BareSid(first as u64));
    }
    if first != PROTOCOL_VERSION_V1 && first != PROTOCOL_VERSION_V2 {
        return Err(WireError::UnknownProtocolVersion(first));
    }
    need(INITIAL_MESSAGE_HEAD_LEN)?;
    let sid = c.long()?;
    let len = c.int()?;
    if len <= 0 || len as usize > INITIAL_ADDRESS_LEN_MAX {
        return Err(WireError::BadAddressLength(len as i64));
    }
    need(INITIAL_MESSAGE_HEAD_LEN + len as usize)?;
    let text = String::from_utf8_lossy(c.take(len as usize)?).into_owned();
    // ZooKeeper reads the whole message before judging the sid; so do we.
    if sid < 0 {
        return Err(WireError::NegativeSid(sid));
    }
    let mut election_addrs = Vec::new();
    for addr in java_split(&text, '|') {
        election_addrs.push(parse_host_and_port(addr)?);
    }
    Ok(InitialMessage::Versioned { protocol_version: first, sid: sid as u64, election_addrs })
}

/// Java's `String.split` with a one-character separator and no limit: a string without the
/// separator is returned whole (even when empty), and trailing empty pieces are removed.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    if !s.contains(sep) {
        return vec![s];
    }
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// `ConfigUtils.getHostAndPort` followed by InitialMessage.parse's checks: exactly a host and a
/// port, the port a Java int in 0..=65535. The character after an IPv6 `]` is skipped unchecked,
/// as ZooKeeper does.
fn parse_host_and_port(addr: &str) -> Result<ElectionAddr, WireError> {
    let bad = || WireError::BadAddress(addr.to_string());
    let parts: Vec<&str> = if let Some(rest) = addr.strip_prefix('[') {
        let close = rest.find(']').ok_or_else(bad)?;
        let host = &rest[..close];
        // `close + 1` is the byte after ']' in `rest`; ZooKeeper skips one character there.
        let after = &rest[close + 1..];
        let mut chars = after.chars();
        if chars.next().is_none() || chars.as_str().is_empty() {
            return Err(bad());
        }
        let mut parts = vec![host];
        parts.extend(java_split(chars.as_str(), ':'));
        parts
    } else {
        java_split(addr, ':')
    };
    if parts.len() != 2 {
        return Err(bad());
    }
    let port = parts[1]
        .parse::<i32>()
        .ok()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| WireError::BadPort(parts[1].to_string()))?;
    Ok(ElectionAddr { host: parts[0].to_string(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(state: PeerState, leader: ServerId, zxid: Zxid, round: i64, epoch: i64) -> Notification {
        Notification { state, leader, zxid, election_epoch: round, peer_epoch: epoch, version: NOTIFICATION_VERSION }
    }

    #[test]
    fn notification_round_trip() {
        let sent = n(PeerState::Leading, 7, 0x0000_0003_0000_0010, 4, 3);
        let bytes = encode_notification(&sent, "version=0".as_bytes());
        assert_eq!(bytes.len(), NOTIFICATION_HEADER_LEN + 9);
        let got = decode_notification(&bytes).unwrap();
        assert_eq!(got.notification, sent);
        assert_eq!(got.config.as_deref(), Some("version=0".as_bytes()));
    }

    #[test]
    fn notification_lengths_as_workerreceiver_reads_them() {
        let full = encode_notification(&n(PeerState::Looking, 1, 0x0000_0002_0000_0001, 1, 9), b"abc");
        assert_eq!(decode_notification(&full[..27]), Err(WireError::ShortNotification(27)));
        // Exactly 28: no peer epoch on the wire, it comes from the zxid.
        let m = decode_notification(&full[..28]).unwrap();
        assert_eq!((m.notification.peer_epoch, m.notification.version, m.config), (2, 0, None));
        // 29..=39: the peer epoch or the version runs past the end.
        for len in 29..40 {
            assert!(matches!(decode_notification(&full[..len]), Err(WireError::Truncated { .. })), "{len}");
        }
        // Exactly 40: peer epoch, version ignored (0).
        let m = decode_notification(&full[..40]).unwrap();
        assert_eq!((m.notification.peer_epoch, m.notification.version, m.config), (9, 0, None));
        // 41..=43 with version 2: the config length runs past the end.
        assert!(matches!(decode_notification(&full[..43]), Err(WireError::Truncated { .. })));
        // Config longer than what is left.
        assert!(matches!(decode_notification(&full[..46]), Err(WireError::Truncated { .. })));
        // Trailing bytes are ignored.
        let mut longer = full.clone();
        longer.extend_from_slice(b"zz");
        assert_eq!(decode_notification(&longer).unwrap().config.as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn versions_up_to_one_carry_no_config() {
        let mut bytes = encode_notification(&n(PeerState::Following, 1, 5, 1, 0), b"");
        bytes[36..40].copy_from_slice(&1i32.to_be_bytes());
        bytes.truncate(41);
        let m = decode_notification(&bytes).unwrap();
        assert_eq!((m.notification.version, m.config), (1, None));
    }

    #[test]
    fn bad_config_length_and_state() {
        let mut bytes = encode_notification(&n(PeerState::Following, 1, 5, 1, 0), b"xy");
        bytes[40..44].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(decode_notification(&bytes), Err(WireError::BadConfigLength(-1)));
        bytes[40..44].copy_from_slice(&47i32.to_be_bytes());
        assert_eq!(decode_notification(&bytes), Err(WireError::BadConfigLength(47)));
        let mut bytes = encode_notification(&n(PeerState::Following, 1, 5, 1, 0), b"");
        bytes[0..4].copy_from_slice(&4i32.to_be_bytes());
        assert_eq!(decode_notification(&bytes), Err(WireError::UnknownState(4)));
    }

    #[test]
    fn frames() {
        assert_eq!(check_frame_len(0), Err(WireError::BadFrameLength(0)));
        assert_eq!(check_frame_len(-5), Err(WireError::BadFrameLength(-5)));
        assert_eq!(check_frame_len(PACKET_MAX_SIZE as i32), Ok(PACKET_MAX_SIZE));
        assert_eq!(check_frame_len(PACKET_MAX_SIZE as i32 + 1), Err(WireError::BadFrameLength(524_289)));
        assert_eq!(frame(b"ab"), vec![0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn initial_message_is_read_in_stages() {
        let addr = ElectionAddr { host: "10.0.0.1".into(), port: 3888 };
        let bytes = encode_initial_message(PROTOCOL_VERSION_V1, 4, std::slice::from_ref(&addr)).unwrap();
        assert_eq!(decode_initial_message(&bytes[..3]), Err(WireError::Incomplete { needed: 8 }));
        assert_eq!(decode_initial_message(&bytes[..8]), Err(WireError::Incomplete { needed: 20 }));
        assert_eq!(decode_initial_message(&bytes[..20]), Err(WireError::Incomplete { needed: bytes.len() }));
        let want =
            InitialMessage::Versioned { protocol_version: PROTOCOL_VERSION_V1, sid: 4, election_addrs: vec![addr] };
        assert_eq!(decode_initial_message(&bytes), Ok(want));
        // The length limit is judged before the body is asked for.
        let mut huge = bytes[..20].to_vec();
        huge[16..20].copy_from_slice(&(1_000_000i32).to_be_bytes());
        assert_eq!(decode_initial_message(&huge), Err(WireError::BadAddressLength(1_000_000)));
    }

    #[test]
    fn host_and_port_follow_java_split() {
        let ok = |s: &str| parse_host_and_port(s).map(|a| (a.host, a.port));
        assert_eq!(ok("h:1"), Ok(("h".into(), 1)));
        assert_eq!(ok("h:1:"), Ok(("h".into(), 1)), "Java drops the trailing empty piece");
        assert_eq!(ok("[::1]:3888"), Ok(("::1".into(), 3888)));
        assert_eq!(ok("[::1]x3888"), Ok(("::1".into(), 3888)), "the character after ']' is not checked");
        assert_eq!(ok(":+80"), Ok(("".into(), 80)));
        assert!(matches!(ok("h"), Err(WireError::BadAddress(_))));
        assert!(matches!(ok("h:"), Err(WireError::BadAddress(_))));
        assert!(matches!(ok("h:1:2"), Err(WireError::BadAddress(_))));
        assert!(matches!(ok("[::1]:"), Err(WireError::BadAddress(_))));
        assert!(matches!(ok("[::1]"), Err(WireError::BadAddress(_))));
        assert!(matches!(ok("[::1:3888"), Err(WireError::BadAddress(_))));
        assert!(matches!(ok("h:x"), Err(WireError::BadPort(_))));
        assert!(matches!(ok("h:65536"), Err(WireError::BadPort(_))));
        assert!(matches!(ok("h:-1"), Err(WireError::BadPort(_))));
        assert_eq!(java_split("", '|'), vec![""]);
        assert_eq!(java_split("a||", '|'), vec!["a"]);
        assert!(java_split("|", '|').is_empty());
    }

    #[test]
    fn initial_message_limits() {
        let long_host = "h".repeat(INITIAL_ADDRESS_LEN_MAX);
        let addr = ElectionAddr { host: long_host, port: 1 };
        assert!(matches!(encode_initial_message(PROTOCOL_VERSION_V1, 1, &[addr]), Err(WireError::BadAddressLength(_))));
        let mut bytes =
            encode_initial_message(PROTOCOL_VERSION_V1, 1, &[ElectionAddr { host: "h".into(), port: 1 }]).unwrap();
        bytes[8..16].copy_from_slice(&(-3i64).to_be_bytes());
        assert_eq!(decode_initial_message(&bytes), Err(WireError::NegativeSid(-3)));
        assert_eq!(decode_initial_message(&7i64.to_be_bytes()), Ok(InitialMessage::BareSid(7)));
        assert_eq!(decode_initial_message(&(-1i64).to_be_bytes()), Err(WireError::UnknownProtocolVersion(-1)));
    }
}
