//! Quorum SASL: ZooKeeper's `QuorumAuth`, `SaslQuorumAuthServer` and `SaslQuorumAuthLearner`,
//! DIGEST-MD5 only. With `quorum.auth.enableSasl=true` a server that opens a connection to a
//! peer (an election connection, or a learner's connection to its leader) logs in as the JAAS
//! `QuorumLearner` section's `username`/`password` when `quorum.auth.learnerRequireSasl=true`,
//! and the accepting side checks it against the `QuorumServer` section's `user_<name>` entries;
//! with `quorum.auth.serverRequireSasl=true` a peer that does not log in, or fails to, is
//! refused, otherwise it is let through (the steps of ZooKeeper's rolling upgrade to quorum SASL).
//!
//! The exchange follows the side that opened the connection's first message (the election's
//! initial message, or nothing on the quorum port): `QuorumAuthPacket`s back to back, no length
//! prefix, each `{long magic, int status, buffer token}`:
//!
//! ```text
//! learner → server   magic IN_PROGRESS  (empty token)
//! server → learner   magic IN_PROGRESS  challenge
//! learner → server   magic IN_PROGRESS  digest-response
//! server → learner   magic SUCCESS      rspauth        (or ERROR, empty, and the server closes)
//! ```
//!
//! The functions here run the exchange over any `Read + Write`; the threads that own the
//! sockets call them.

use super::digest_md5::{DigestMd5Client, DigestMd5Server, Step};
use super::DIGEST_MODULE;
use crate::config::{Config, JAAS_LOGIN_CONFIG};
use crate::jute::{Reader, Record};
use crate::record;
use std::collections::HashMap;
use std::io::{self, Read, Write};

/// `QuorumAuth.QUORUM_AUTH_MAGIC_NUMBER`, Java's `-0xa0dbcafecafe1234L`: the hex literal is a
/// negative long, so the number is positive (0x5f24_3501_3501_edcc; ZooKeeper's comment calls it
/// negative). Its first byte, 0x5f, starts no election frame or quorum packet (both begin with a
/// small length or type).
pub const MAGIC: i64 = (0xa0db_cafe_cafe_1234_u64 as i64).wrapping_neg();
/// `QuorumAuth.QUORUM_SERVER_PROTOCOL_NAME` and `QUORUM_SERVER_SASL_DIGEST`.
pub const PROTOCOL: &str = "zookeeper-quorum";
pub const SERVER_NAME: &str = "zk-quorum-sasl-md5";
/// `SaslQuorumAuthServer.MAX_RETRIES`: challenges sent before the server gives up.
const MAX_RETRIES: u32 = 5;
/// The largest token either side accepts (DIGEST-MD5's are a few hundred bytes).
const TOKEN_MAX: usize = 64 * 1024;

record! {
    /// `QuorumAuthPacket` (zookeeper.jute).
    pub struct QuorumAuthPacket { pub magic: i64, pub status: i32, pub token: Option<Vec<u8>> }
}

/// `QuorumAuth.Status`.
pub const IN_PROGRESS: i32 = 0;
pub const SUCCESS: i32 = 1;
pub const ERROR: i32 = -1;

/// The quorum SASL settings, when `quorum.auth.enableSasl=true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumSasl {
    /// `quorum.auth.learnerRequireSasl`: log in when opening a connection.
    pub learner_require: bool,
    /// `quorum.auth.serverRequireSasl`: refuse peers that do not log in.
    pub server_require: bool,
    /// The `QuorumServer` section's users (name → password).
    pub users: HashMap<String, String>,
    /// The `QuorumLearner` section's `username` and `password`.
    pub login: Option<(String, String)>,
}

impl QuorumSasl {
    /// Reads the settings and the JAAS sections they need; `None` without
    /// `quorum.auth.enableSasl=true`. Errors stop the server at start-up, as ZooKeeper's
    /// `SaslException`s do, and say what to fix.
    pub fn from_config(cfg: &Config) -> Result<Option<QuorumSasl>, String> {
        if !cfg.flag("quorum.auth.enableSasl") {
            return Ok(None);
        }
        let Some(file) = cfg.property(JAAS_LOGIN_CONFIG) else {
            return Err(format!(
                "quorum.auth.enableSasl=true needs a JAAS file with QuorumServer and QuorumLearner sections: \
                 set {JAAS_LOGIN_CONFIG} (in zoo.cfg or as -D in SERVER_JVMFLAGS)"
            ));
        };
        let path = super::jaas_path(file);
        let sections = super::read_jaas(path)?;
        let section = |key: &str, default: &str| {
            let name = cfg.property(key).unwrap_or(default).to_string();
            let Some((_, entries)) = sections.iter().find(|(n, _)| *n == name) else {
                return Err(format!(
                    "{}: SASL-authentication failed because the specified JAAS configuration section '{name}' \
                     could not be found",
                    path.display()
                ));
            };
            if let Some(e) = entries.iter().find(|e| e.module != DIGEST_MODULE) {
                return Err(format!(
                    "{}: section '{name}' uses {}: Rookery's quorum SASL is DIGEST-MD5 only ({DIGEST_MODULE}); \
                     Kerberos (GSSAPI) is not supported",
                    path.display(),
                    e.module
                ));
            }
            Ok(entries.clone())
        };
        let server = section("quorum.auth.server.saslLoginContext", "QuorumServer")?;
        let learner = section("quorum.auth.learner.saslLoginContext", "QuorumLearner")?;
        let users = server
            .iter()
            .flat_map(|e| e.options.iter())
            .filter_map(|(k, v)| Some((k.strip_prefix("user_")?.to_string(), v.clone())))
            .collect();
        let option =
            |key: &str| learner.iter().find_map(|e| e.options.iter().find(|(k, _)| k == key)).map(|o| o.1.clone());
        let login = option("username").zip(option("password"));
        let learner_require = cfg.flag("quorum.auth.learnerRequireSasl");
        if learner_require && login.is_none() {
            return Err(format!(
                "{}: quorum.auth.learnerRequireSasl=true needs username and password in the QuorumLearner section",
                path.display()
            ));
        }
        Ok(Some(QuorumSasl {
            learner_require,
            server_require: cfg.flag("quorum.auth.serverRequireSasl"),
            users,
            login,
        }))
    }

    /// `SaslQuorumAuthLearner.authenticate`: logs in over a connection this server opened (after
    /// the election's initial message, or first thing on the quorum port). Does nothing unless
    /// `learnerRequireSasl`. An error means the connection must be closed.
    pub fn authenticate_learner<S: Read + Write>(&self, s: &mut S, cnonce: String) -> io::Result<()> {
        let (true, Some((user, password))) = (self.learner_require, &self.login) else {
            return Ok(());
        };
        let mut client = DigestMd5Client::new(user, password, cnonce, PROTOCOL, SERVER_NAME);
        send(s, IN_PROGRESS, Vec::new())?;
        loop {
            let packet = receive(s, None)?;
            let token = packet.token.unwrap_or_default();
            match packet.status {
                SUCCESS | IN_PROGRESS => {
                    let answer = client.evaluate(&token).map_err(io::Error::other)?;
                    match (packet.status, answer) {
                        (IN_PROGRESS, Some(response)) => send(s, IN_PROGRESS, response)?,
                        (SUCCESS, None) if client.is_complete() => return Ok(()),
                        _ => return Err(io::Error::other("quorum SASL protocol error")),
                    }
                }
                _ => return Err(io::Error::other("quorum SASL authentication refused by the server")),
            }
        }
    }

    /// `SaslQuorumAuthServer.authenticate`, on a connection a peer opened. A peer that logs in
    /// with a known user passes; one that does not, or fails, is refused (an error: close the
    /// connection) if `serverRequireSasl`, else let through. Returns the bytes read that were
    /// not an auth packet (a peer that did not log in): they are the connection's first bytes.
    pub fn authenticate_server<S: Read + Write>(&self, s: &mut S, nonce: String) -> io::Result<Vec<u8>> {
        // `QuorumAuth.nextPacketIsAuth`: the first 8 bytes are the magic number or not.
        // A peer that sends nothing (it closes, or the caller's read timeout passes) is one that
        // does not log in.
        let mut head = Vec::with_capacity(8);
        let _ = (&mut *s).take(8).read_to_end(&mut head);
        if head[..] != MAGIC.to_be_bytes()[..] {
            if self.server_require {
                return Err(io::Error::other("learner not trying to authenticate and authentication is required"));
            }
            return Ok(head);
        }
        let outcome = self.run_server(s, nonce);
        match outcome {
            Ok(user) => {
                log::info!("quorum SASL: peer authenticated as {user}");
                Ok(Vec::new())
            }
            Err(e) => {
                let _ = send(s, ERROR, Vec::new());
                if self.server_require {
                    Err(e)
                } else {
                    log::warn!(
                        "quorum SASL: authentication failed ({e}); keeping the connection, as serverRequireSasl=false"
                    );
                    Ok(Vec::new())
                }
            }
        }
    }

    /// The server's side of the exchange once the magic number is read; the authenticated user.
    fn run_server<S: Read + Write>(&self, s: &mut S, nonce: String) -> io::Result<String> {
        let mut server = DigestMd5Server::for_service(nonce, PROTOCOL, SERVER_NAME);
        let mut token = receive(s, Some(MAGIC))?.token.unwrap_or_default();
        for _ in 0..MAX_RETRIES {
            match server.evaluate(&token, &self.users).map_err(io::Error::other)? {
                Step::Challenge(c) => {
                    send(s, IN_PROGRESS, c)?;
                    token = receive(s, None)?.token.unwrap_or_default();
                }
                Step::Complete { token, user } => {
                    send(s, SUCCESS, token)?;
                    return Ok(user);
                }
            }
        }
        Err(io::Error::other("too many quorum SASL rounds"))
    }
}

fn send<W: Write>(w: &mut W, status: i32, token: Vec<u8>) -> io::Result<()> {
    let mut out = Vec::new();
    QuorumAuthPacket { magic: MAGIC, status, token: Some(token) }.write(&mut out);
    w.write_all(&out)?;
    w.flush()
}

/// Reads one packet; with `magic_read`, its magic number has been read already.
fn receive<R: Read>(r: &mut R, magic_read: Option<i64>) -> io::Result<QuorumAuthPacket> {
    let mut head = [0u8; 16];
    let start = if magic_read.is_some() { 8 } else { 0 };
    r.read_exact(&mut head[start..])?;
    if let Some(m) = magic_read {
        head[..8].copy_from_slice(&m.to_be_bytes());
    }
    let len = i32::from_be_bytes([head[12], head[13], head[14], head[15]]);
    let len = if len < 0 { 0 } else { len as usize };
    if len > TOKEN_MAX {
        return Err(io::Error::other(format!("quorum auth packet with a {len}-byte token")));
    }
    let mut packet = head.to_vec();
    packet.resize(16 + len, 0);
    r.read_exact(&mut packet[16..])?;
    let p = QuorumAuthPacket::read(&mut Reader::new(&packet)).map_err(|e| io::Error::other(e.to_string()))?;
    if p.magic != MAGIC {
        return Err(io::Error::other("not a quorum auth packet"));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_zoo_cfg_and_the_jaas_sections() {
        let dir = std::env::temp_dir().join(format!("rookery-quorum-sasl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jaas = dir.join("jaas.conf");
        let cfg = |extra: &str| {
            let text = format!("dataDir={}\n{JAAS_LOGIN_CONFIG}={}\n{extra}", dir.display(), jaas.display());
            QuorumSasl::from_config(&Config::parse(&dir.join("zoo.cfg"), &text).unwrap())
        };
        let on = "quorum.auth.enableSasl=true\nquorum.auth.learnerRequireSasl=true\nquorum.auth.serverRequireSasl=true";
        let digest = "org.apache.zookeeper.server.auth.DigestLoginModule required";
        std::fs::write(
            &jaas,
            format!("QuorumServer {{ {digest} user_a=\"x\" user_b=\"y\"; }}; QuorumLearner {{ {digest} username=\"a\" password=\"x\"; }};"),
        )
        .unwrap();
        assert_eq!(cfg("").unwrap(), None, "off without enableSasl");
        let s = cfg(on).unwrap().unwrap();
        assert!(s.learner_require && s.server_require);
        assert_eq!((s.users.len(), s.users["b"].as_str()), (2, "y"));
        assert_eq!(s.login, Some(("a".to_string(), "x".to_string())));
        let other = cfg(&format!("{on}\nquorum.auth.learner.saslLoginContext=Elsewhere")).unwrap_err();
        assert!(other.contains("section 'Elsewhere' could not be found"), "{other}");
        std::fs::write(&jaas, format!("QuorumServer {{ {digest} user_a=\"x\"; }}; QuorumLearner {{ {digest}; }};"))
            .unwrap();
        assert!(cfg(on).unwrap_err().contains("needs username and password"));
        assert!(cfg("quorum.auth.enableSasl=true").unwrap().unwrap().login.is_none(), "no login needed");
        let krb = "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true";
        std::fs::write(&jaas, format!("QuorumServer {{ {krb}; }}; QuorumLearner {{ {krb}; }};")).unwrap();
        assert!(cfg(on).unwrap_err().contains("Kerberos (GSSAPI) is not supported"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn packets_are_jute_records_without_a_length_prefix() {
        let mut out = Vec::new();
        send(&mut out, SUCCESS, b"ok".to_vec()).unwrap();
        assert_eq!(out[..8], MAGIC.to_be_bytes());
        assert_eq!(out[8..], [0, 0, 0, 1, 0, 0, 0, 2, b'o', b'k']);
        let p = receive(&mut &out[..], None).unwrap();
        assert_eq!((p.status, p.token), (SUCCESS, Some(b"ok".to_vec())));
        let mut huge = MAGIC.to_be_bytes().to_vec();
        huge.extend([0, 0, 0, 0, 0x7f, 0, 0, 0]);
        assert!(receive(&mut &huge[..], None).is_err());
    }
}
