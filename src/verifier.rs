//! ZooKeeper's `QuorumVerifier` (majority flavour, `QuorumMaj`): the ensemble's members and the
//! configuration version, and the reconfig arithmetic of `PrepRequestProcessor`.
//!
//! The text form is what `/zookeeper/config`, election notifications, NEWLEADER and reconfig txns
//! carry, and what `QuorumMaj.toString` prints: one `server.N=<QuorumServer>` line per member in
//! id order, then `version=<hex>` without a line end:
//!
//! ```text
//! server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181
//! server.2=127.0.0.1:2889:3889:observer;0.0.0.0:2182
//! version=100000000
//! ```
//!
//! The version of a configuration is the zxid of the reconfig txn that made it (0 for one read
//! from `zoo.cfg` before any leader numbered it).

use crate::config::{read_properties, server_spec, PeerType, ServerSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumVerifier {
    pub servers: BTreeMap<u64, ServerSpec>,
    pub version: u64,
}

/// Why a reconfig request cannot be turned into a configuration; the reply is BADARGUMENTS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadArguments(pub String);

impl QuorumVerifier {
    pub fn new(servers: BTreeMap<u64, ServerSpec>, version: u64) -> QuorumVerifier {
        QuorumVerifier { servers, version }
    }

    /// Members on 127.0.0.1 with ports derived from their ids (quorum 20000+id, election
    /// 30000+id, client 40000+id): for simulations and tests, where only the ids matter.
    pub fn loopback(voters: &[u64], observers: &[u64], version: u64) -> QuorumVerifier {
        let spec = |id: u64, role| ServerSpec {
            id,
            host: "127.0.0.1".into(),
            quorum_port: 20000 + id as u16,
            election_port: 30000 + id as u16,
            role,
            client_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 40000 + id as u16))),
        };
        let servers = voters
            .iter()
            .map(|&id| (id, spec(id, PeerType::Participant)))
            .chain(observers.iter().map(|&id| (id, spec(id, PeerType::Observer))))
            .collect();
        QuorumVerifier { servers, version }
    }

    pub fn voters(&self) -> BTreeSet<u64> {
        self.with_role(PeerType::Participant)
    }

    pub fn observers(&self) -> BTreeSet<u64> {
        self.with_role(PeerType::Observer)
    }

    fn with_role(&self, role: PeerType) -> BTreeSet<u64> {
        self.servers.values().filter(|s| s.role == role).map(|s| s.id).collect()
    }

    pub fn is_voter(&self, id: u64) -> bool {
        self.servers.get(&id).is_some_and(|s| s.role == PeerType::Participant)
    }

    /// `QuorumMaj.containsQuorum`: more than half of the voters are in `ids`.
    pub fn is_quorum(&self, ids: &BTreeSet<u64>) -> bool {
        let voters = self.voters();
        ids.iter().filter(|id| voters.contains(id)).count() * 2 > voters.len()
    }

    /// Same members, roles and addresses (the version aside).
    pub fn same_members(&self, other: &QuorumVerifier) -> bool {
        self.servers == other.servers
    }

    /// `QuorumMaj.toString`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for spec in self.servers.values() {
            let _ = writeln!(s, "server.{}={spec}", spec.id);
        }
        let _ = write!(s, "version={:x}", self.version);
        s
    }

    /// `QuorumPeer.configFromString`: `server.N` lines and `version=<hex>`; other keys are
    /// ignored, as `QuorumMaj` ignores them.
    pub fn parse(text: &str) -> Result<QuorumVerifier, String> {
        let mut servers = BTreeMap::new();
        let mut version = 0;
        for (key, value) in read_properties(text)? {
            if key == "version" {
                version =
                    u64::from_str_radix(&value, 16).map_err(|_| format!("version: not hexadecimal: {value:?}"))?;
            } else if let Some(id) = key.strip_prefix("server.") {
                let id: u64 = id.parse().map_err(|_| format!("{key}: the server id is not a number"))?;
                servers.insert(id, server_spec(id, &value).map_err(|e| format!("{key}: {e}"))?);
            }
        }
        Ok(QuorumVerifier { servers, version })
    }

    /// The members a reconfig asks for (`PrepRequestProcessor`, case `reconfig`), version 0 until
    /// the txn is numbered. `members` (bulk: `server.N=...` entries separated by commas) replaces
    /// the ensemble; otherwise `leaving` (comma-separated ids) are removed and `joining`
    /// (comma-separated `server.N=...`) added or changed. A joiner needs a client address and
    /// may not reuse another member's addresses.
    pub fn reconfigured(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        members: Option<&str>,
    ) -> Result<QuorumVerifier, BadArguments> {
        let bad = |m: String| BadArguments(m);
        if let Some(members) = members {
            let next = QuorumVerifier::parse(&members.replace(',', "\n")).map_err(bad)?;
            return Ok(QuorumVerifier { servers: next.servers, version: 0 });
        }
        let mut servers = self.servers.clone();
        for id in split(leaving) {
            let id: u64 = id.parse().map_err(|_| bad(format!("leaving server id {id:?} is not a number")))?;
            servers.remove(&id);
        }
        for joiner in split(joining) {
            let (key, value) = joiner.split_once('=').ok_or_else(|| bad("Wrong format of server string".into()))?;
            let id = key.trim().rsplit('.').next().unwrap_or("");
            let id: u64 = id.parse().map_err(|_| bad(format!("{key:?}: the server id is not a number")))?;
            let spec = server_spec(id, value.trim()).map_err(bad)?;
            if spec.client_addr.is_none() {
                return Err(bad("Wrong format of server string - each server should have 3 ports specified".into()));
            }
            if let Some(other) = servers.values().find(|o| o.id != id && shares_an_address(o, &spec)) {
                return Err(bad(format!("server.{id} uses an address of server.{}", other.id)));
            }
            servers.insert(id, spec);
        }
        Ok(QuorumVerifier { servers, version: 0 })
    }
}

/// ZooKeeper's `StringUtils.split(s, ",")`: trimmed pieces, empty ones dropped.
fn split(s: Option<&str>) -> impl Iterator<Item = &str> {
    s.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty())
}

/// `QuorumServer.checkAddressDuplicate`: any of the quorum, election and client addresses equal.
fn shares_an_address(a: &ServerSpec, b: &ServerSpec) -> bool {
    let ports = |s: &ServerSpec| [(s.host.clone(), s.quorum_port), (s.host.clone(), s.election_port)];
    let mut mine: Vec<(String, u16)> = ports(a).into();
    mine.extend(a.client_addr.map(|c| (c.ip().to_string(), c.port())));
    let mut theirs: Vec<(String, u16)> = ports(b).into();
    theirs.extend(b.client_addr.map(|c| (c.ip().to_string(), c.port())));
    mine.iter().any(|m| theirs.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\n\
                         server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                         server.3=127.0.0.1:2890:3890:participant;0.0.0.0:2183\n\
                         version=100000000";

    #[test]
    fn text_round_trips_in_zookeepers_layout() {
        let qv = QuorumVerifier::parse(THREE).unwrap();
        assert_eq!(qv.version, 0x1_0000_0000);
        assert_eq!(qv.voters(), [1, 2, 3].into());
        assert_eq!(qv.text(), THREE);
    }

    #[test]
    fn quorum_is_a_majority_of_voters() {
        let mut qv = QuorumVerifier::parse(THREE).unwrap();
        assert!(!qv.is_quorum(&[1].into()));
        assert!(qv.is_quorum(&[1, 3].into()));
        assert!(!qv.is_quorum(&[1, 9].into()), "non-voters do not count");
        qv.servers.get_mut(&3).unwrap().role = PeerType::Observer;
        assert!(!qv.is_quorum(&[1, 3].into()), "observers do not count");
        assert!(qv.is_quorum(&[1, 2].into()));
    }

    #[test]
    fn incremental_reconfig_adds_and_removes() {
        let qv = QuorumVerifier::parse(THREE).unwrap();
        let next = qv
            .reconfigured(
                Some("server.4=127.0.0.1:2891:3891:participant;2184, server.5=127.0.0.1:2892:3892:observer;2185"),
                Some("3"),
                None,
            )
            .unwrap();
        assert_eq!(next.voters(), [1, 2, 4].into());
        assert_eq!(next.observers(), [5].into());
        assert_eq!(next.version, 0);
        // A joiner may restate an existing member (its own addresses are no conflict).
        let same = qv.reconfigured(Some("server.2=127.0.0.1:2889:3889:observer;0.0.0.0:2182"), None, None).unwrap();
        assert_eq!(same.observers(), [2].into());
    }

    #[test]
    fn bulk_reconfig_replaces_the_members() {
        let qv = QuorumVerifier::parse(THREE).unwrap();
        let next = qv
            .reconfigured(
                None,
                Some("1"),
                Some("server.1=127.0.0.1:2888:3888:participant;2181,server.2=127.0.0.1:2889:3889;2182"),
            )
            .unwrap();
        assert_eq!(next.voters(), [1, 2].into(), "newMembers wins over leaving");
    }

    #[test]
    fn garbage_is_bad_arguments() {
        let qv = QuorumVerifier::parse(THREE).unwrap();
        for (joining, leaving) in [
            (Some("server.4"), None),
            (Some("server.x=127.0.0.1:1:2;3"), None),
            (Some("server.4=127.0.0.1:2891:3891"), None),
            (Some("server.4=nonsense"), None),
            (Some("server.4=127.0.0.1:2888:3999;2199"), None),
            (None, Some("two")),
        ] {
            assert!(qv.reconfigured(joining, leaving, None).is_err(), "{joining:?} {leaving:?}");
        }
        assert!(qv.reconfigured(None, None, Some("server.1=bad")).is_err());
    }
}
