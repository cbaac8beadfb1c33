//! `reconfig`, as zkCli's `ReconfigCommand` parses and runs it: an incremental change (`-add`,
//! `-remove`) or a whole new membership (`-members`, or `-file`, a dynamic configuration file
//! read as `QuorumPeerConfig.parseDynamicConfig` reads it), sent with
//! `ZooKeeperAdmin.reconfigure`.

use super::commands::{usage, wrap};
use super::format::{properties_order, put_property};
use super::parse::parse_options;
use super::{CliError, Shell};
use crate::config::{java_host_string, java_parse_long_radix, java_split, java_trim, load_java_properties};
use std::collections::BTreeSet;
use std::net::IpAddr;

type CmdResult = Result<(), CliError>;

/// ReconfigCommand's `Options`.
const OPTIONS: &[(&str, bool)] =
    &[("s", false), ("v", true), ("file", true), ("members", true), ("add", true), ("remove", true)];

/// `QuorumPeer.QuorumServer.wrongFormat`, after the address it is about.
const WRONG_FORMAT: &str = " does not have the form server_config or server_config;client_config where \
                            server_config is the pipe separated list of host:port:port or host:port:port:type \
                            and client_config is port or host:port";

/// What `ReconfigCommand.parse` leaves for `exec`: the arguments of `ZooKeeperAdmin.reconfigure`
/// and whether to print the stat.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reconfig {
    /// `-add`: `server.N=...` entries, comma-separated.
    joining: Option<String>,
    /// `-remove`: server ids, comma-separated.
    leaving: Option<String>,
    /// `-members`, or the servers of `-file` as `QuorumMaj.toString` writes them.
    members: Option<String>,
    /// `-v`, hexadecimal: the configuration version the change applies to; -1 for any.
    from_config: i64,
    /// `-s`.
    stat: bool,
}

/// `ReconfigCommand.parse`: its checks in its order. The values of `-add`, `-remove` and
/// `-members` are lower-cased (`String.toLowerCase`); the text made from `-file` is not.
fn parse(words: &[String]) -> Result<Reconfig, CliError> {
    let cl = parse_options(words, OPTIONS).map_err(CliError::new)?;
    let has = |o: &str| cl.has_option(o);
    if !(has("file") || has("members") || has("add") || has("remove")) {
        return Err(usage("reconfig"));
    }
    let from_config = match cl.option_value("v") {
        Some(v) => java_parse_long_radix(v, 16)
            .ok_or_else(|| CliError::new("-v must be followed by a long (configuration version)"))?,
        None => -1,
    };
    if (has("file") || has("members")) && (has("add") || has("remove")) {
        return Err(CliError::new(
            "Can't use -file or -members together with -add or -remove (mixing incremental and non-incremental modes \
             is not allowed)",
        ));
    }
    if has("file") && has("members") {
        return Err(CliError::new("Can't use -file and -members together (conflicting non-incremental modes)"));
    }
    let lower = |o: &str| cl.option_value(o).map(str::to_lowercase);
    let members = match cl.option_value("file") {
        Some(path) => Some(members_of_file(path).map_err(|e| CliError::new(format!("Error processing {path}{e}")))?),
        None => lower("members"),
    };
    Ok(Reconfig { joining: lower("add"), leaving: lower("remove"), members, from_config, stat: has("s") })
}

impl Shell {
    /// `ReconfigCommand.exec`: the configuration now in force after "Committed new
    /// configuration:", and with `-s` the stat of `/zookeeper/config`. A refusal comes back as
    /// `KeeperException.create(code, "")`, a KeeperException with an empty path.
    pub(super) fn reconfig(&mut self, words: &[String]) -> CmdResult {
        let r = parse(words)?;
        let (data, stat) = self
            .with_zk(|zk| zk.reconfig(r.joining.as_deref(), r.leaving.as_deref(), r.members.as_deref(), r.from_config))
            .map_err(|e| wrap(e, Some("")))?;
        let config = String::from_utf8_lossy(data.as_deref().unwrap_or_default()).into_owned();
        self.out_line(&format!("Committed new configuration:\n{config}"));
        if r.stat {
            self.print_stat(&stat);
        }
        Ok(())
    }
}

/// `-file`: `new FileInputStream(path)`, `Properties.load` (ISO 8859-1) and
/// `QuorumPeerConfig.parseDynamicConfig(...).toString()`. The error is the message of what they
/// throw, which zkCli prints right after the path.
fn members_of_file(path: &str) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path} ({})", os_reason(&e)))?;
    let text: String = bytes.iter().copied().map(char::from).collect();
    let mut props = Vec::new();
    for (key, value) in load_java_properties(&text)? {
        put_property(&mut props, key, value);
    }
    dynamic_config(&properties_order(props))
}

/// The reason Java's `FileNotFoundException` gives in parentheses: the C library's text for the
/// error (`No such file or directory`), which Rust's message carries before ` (os error N)`.
fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(code) => text.trim_end_matches(&format!(" (os error {code})")).to_string(),
        None => text,
    }
}

/// `QuorumPeerConfig.parseDynamicConfig(props, 0, true, false, null)` in a client's JVM
/// (`standaloneEnabled` true), then `QuorumMaj.toString()`: `server.N=...` lines, then
/// `version=<hex>` without a line end. `props` are in `Properties.entrySet()` order, which decides
/// which error comes first and the order members enter `QuorumMaj`'s map. Rookery has no
/// hierarchical quorums (`group`, `weight` keys): those are refused.
fn dynamic_config(props: &[(String, String)]) -> Result<String, String> {
    let mut hierarchical = false;
    for (key, _) in props {
        let key = java_trim(key);
        if key.starts_with("group") || key.starts_with("weight") {
            hierarchical = true;
        } else if !key.starts_with("server.") && key != "version" {
            return Err(format!("Unrecognised parameter: {key}"));
        }
    }
    if hierarchical {
        return Err(": hierarchical quorums (group and weight keys) are not supported by Rookery".into());
    }

    // QuorumMaj(Properties): allMembers, votingMembers and observingMembers are maps by id.
    let mut members: Vec<(i64, String)> = Vec::new();
    let (mut voting, mut observing) = (BTreeSet::new(), BTreeSet::new());
    let mut version = 0;
    for (key, value) in props {
        if let Some(id) = key.strip_prefix("server.") {
            let sid = java_parse_long_radix(id, 10).ok_or_else(|| format!("For input string: \"{id}\""))?;
            let (text, participant) = quorum_server(sid, value)?;
            match members.iter_mut().find(|(s, _)| *s == sid) {
                Some(m) => m.1 = text,
                None => members.push((sid, text)),
            }
            (if participant { &mut voting } else { &mut observing }).insert(sid);
        } else if key == "version" {
            version = java_parse_long_radix(value, 16)
                .ok_or_else(|| format!("For input string: \"{value}\" under radix 16"))?;
        }
    }
    if !observing.is_empty() {
        match voting.len() {
            0 => return Err("Observers w/o participants is an invalid configuration".into()),
            1 => return Err("Observers w/o quorum is an invalid configuration".into()),
            _ => {}
        }
    }

    let mut text = String::new();
    for sid in hash_map_order(members.iter().map(|m| m.0).collect()) {
        let server = members.iter().find(|m| m.0 == sid).map_or("", |m| m.1.as_str());
        text.push_str(&format!("server.{sid}={server}\n"));
    }
    text.push_str(&format!("version={:x}", version as u64));
    Ok(text)
}

/// `new QuorumServer(sid, address)` and its `toString()`, with whether it is a participant.
/// As in a client's JVM: several addresses (`a|b`) are refused (`zookeeper.multiAddress.enabled`
/// is false) and host names are not canonicalized.
fn quorum_server(sid: i64, address: &str) -> Result<(String, bool), String> {
    let wrong_format = || format!("{address}{WRONG_FORMAT}");
    let server_client = java_split(address, ';');
    let server = *server_client.first().ok_or("Index 0 out of bounds for length 0")?;

    let mut client = None;
    if let [_, client_part] = server_client[..] {
        let parts = host_and_port(client_part)?;
        if parts.len() > 2 {
            return Err(wrong_format());
        }
        let host = if parts.len() == 2 { parts[0].as_str() } else { "0.0.0.0" };
        let port = &parts[parts.len() - 1];
        // The message names the server's host, which is not read yet.
        let port = java_parse_int(port).ok_or_else(|| format!("Address unresolved: null:{port}"))?;
        client = Some(format!("{}:{}", host_string(host), checked_port(port)?));
    }

    let addresses = java_split(server, '|');
    if addresses.len() > 1 {
        return Err(format!(
            "Multiple address feature is disabled, but multiple addresses were specified for sid {sid}"
        ));
    }
    let mut text = String::new();
    let mut participant = true;
    // No address at all (`|`) is not an error in ZooKeeper: toString then starts at the role.
    for server_address in addresses {
        let parts = host_and_port(server_address)?;
        if server_client.len() > 2 || parts.len() < 3 || parts.len() > 4 {
            return Err(wrong_format());
        }
        let host = parts[0].as_str();
        let port = |p: &str| match java_parse_int(p) {
            Some(n) => checked_port(n),
            None => Err(format!("Address unresolved: {host}:{p}")),
        };
        let (quorum, election) = (port(&parts[1])?, port(&parts[2])?);
        if quorum == election {
            return Err(format!(
                "Client and election port must be different! Please update the configuration file on server.{sid}"
            ));
        }
        if let Some(role) = parts.get(3) {
            participant = match java_trim(role).to_lowercase().as_str() {
                "observer" => false,
                "participant" => true,
                _ => return Err(format!("Unrecognised peertype: {role}")),
            };
        }
        text = format!("{}:{quorum}:{election}", host_string(host));
    }
    text.push_str(if participant { ":participant" } else { ":observer" });
    if let Some(client) = client {
        text.push(';');
        text.push_str(&client);
    }
    Ok((text, participant))
}

/// `ConfigUtils.getHostAndPort`: `host:port...` split on colons, where the host may be an IPv6
/// literal in brackets.
fn host_and_port(s: &str) -> Result<Vec<String>, String> {
    let owned = |v: Vec<&str>| v.into_iter().map(str::to_string).collect();
    if !s.starts_with('[') {
        return Ok(owned(java_split(s, ':')));
    }
    let Some(close) = s.find(']') else {
        return Err(format!("{s} starts with '[' but has no matching ']:'"));
    };
    // What follows the bracket: a separator (any character; ZooKeeper does not look), then ports.
    let mut after = s[close + 1..].chars();
    match after.next() {
        None => Ok(vec![s.replace(['[', ']'], "")]),
        Some(_) if after.as_str().is_empty() => Err(format!("{s} doesn't have a port after colon")),
        Some(_) => {
            let mut parts = vec![&s[1..close]];
            parts.extend(java_split(after.as_str(), ':'));
            Ok(owned(parts))
        }
    }
}

/// `Integer.parseInt`.
fn java_parse_int(s: &str) -> Option<i32> {
    java_parse_long_radix(s, 10).and_then(|n| i32::try_from(n).ok())
}

/// `InetSocketAddress.checkPort`.
fn checked_port(port: i32) -> Result<u16, String> {
    u16::try_from(port).map_err(|_| format!("port out of range:{port}"))
}

/// `QuorumServer.delimitedHostString` of `new InetSocketAddress(host, port)`: an IP literal as
/// Java writes it (IPv6 in full, in brackets), `localhost` for an empty host (Java's loopback
/// address), any other name as given.
fn host_string(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) => java_host_string(ip),
        Err(_) if host.is_empty() => "localhost".into(),
        Err(_) if host.contains(':') => format!("[{host}]"),
        Err(_) => host.into(),
    }
}

/// The iteration order of a `java.util.HashMap<Long, _>` into which `ids` were put in this order
/// (QuorumMaj's `allMembers`): bucket by bucket, each in insertion order. The table has 16
/// buckets, doubled while it would be more than three quarters full; a key's bucket comes from
/// `Long.hashCode` spread by `HashMap.hash`. (Nine ids or more in one bucket, which makes Java
/// grow the table early, are not reproduced.)
fn hash_map_order(mut ids: Vec<i64>) -> Vec<i64> {
    let mut buckets = 16usize;
    while ids.len() > buckets * 3 / 4 {
        buckets *= 2;
    }
    let bucket = |id: &i64| {
        let h = (*id ^ (*id as u64 >> 32) as i64) as i32;
        ((h ^ (h as u32 >> 16) as i32) as u32 as usize) & (buckets - 1)
    };
    ids.sort_by_key(bucket);
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    fn err(line: &str) -> String {
        parse(&w(line)).unwrap_err().msg
    }

    const USAGE: &str = "reconfig [-s] [-v version] [[-file path] | [-members \
                         serverID=host:port1:port2;port3[,...]*]] | [-add serverId=host:port1:port2;port3[,...]]* \
                         [-remove serverId[,...]*]";

    /// The expected texts are what zkCli.sh 3.8 prints for the same words.
    #[test]
    fn options_checks_and_their_order() {
        let r = parse(&w("reconfig -s -v 1A -add Server.4=H:1:2;3 -remove 5,6")).unwrap();
        assert_eq!(
            r,
            Reconfig {
                joining: Some("server.4=h:1:2;3".into()),
                leaving: Some("5,6".into()),
                members: None,
                from_config: 0x1a,
                stat: true,
            }
        );
        let r = parse(&w("reconfig -members SERVER.1=a:1:2;3,server.2=b:1:2;3")).unwrap();
        assert_eq!(
            (r.members.as_deref(), r.from_config, r.stat),
            (Some("server.1=a:1:2;3,server.2=b:1:2;3"), -1, false)
        );
        assert_eq!(parse(&w("reconfig -remove 1 -v -1")).unwrap().from_config, -1);
        assert_eq!(parse(&w("reconfig -remove 1 -v 7fffffffffffffff")).unwrap().from_config, i64::MAX);
        assert_eq!(parse(&w("reconfig -sv10 -remove 1")).unwrap().from_config, 16);
        assert_eq!(parse(&w("reconfig -v=10 -remove 1")).unwrap().from_config, 16);
        // The first of a repeated option counts.
        assert_eq!(parse(&w("reconfig -remove 1 -remove 2")).unwrap().leaving.as_deref(), Some("1"));

        assert_eq!(err("reconfig"), USAGE);
        assert_eq!(err("reconfig -s -v 5"), USAGE);
        assert_eq!(err("reconfig extra words"), USAGE);
        // The usage comes before a bad -v, which comes before the conflicts.
        assert_eq!(err("reconfig -v zz"), USAGE);
        let bad_version = "-v must be followed by a long (configuration version)";
        assert_eq!(err("reconfig -v zz -add a -members b"), bad_version);
        assert_eq!(err("reconfig -v 0x10 -remove 1"), bad_version);
        assert_eq!(err("reconfig -v ffffffffffffffff -remove 1"), bad_version);
        assert_eq!(err("reconfig -v= -remove 1"), bad_version);
        let mixed = "Can't use -file or -members together with -add or -remove (mixing incremental and \
                     non-incremental modes is not allowed)";
        assert_eq!(err("reconfig -members a -remove 1"), mixed);
        assert_eq!(err("reconfig -file /nonexistent -add a"), mixed);
        assert_eq!(err("reconfig -file /nonexistent -members a -add b"), mixed);
        assert_eq!(
            err("reconfig -file /nonexistent -members a"),
            "Can't use -file and -members together (conflicting non-incremental modes)"
        );
        assert_eq!(
            err("reconfig -file /nonexistent/x"),
            "Error processing /nonexistent/x/nonexistent/x (No such file or directory)"
        );
    }

    #[test]
    fn options_as_default_parser_reads_them() {
        let missing =
            |o: &str| format!("org.apache.commons.cli.MissingArgumentException: Missing argument for option: {o}");
        let unknown = |t: &str| format!("org.apache.commons.cli.UnrecognizedOptionException: Unrecognized option: {t}");
        assert_eq!(err("reconfig -add"), missing("add"));
        assert_eq!(err("reconfig -add -remove 1"), missing("add"));
        assert_eq!(err("reconfig -remove 1 -v"), missing("v"));
        assert_eq!(err("reconfig -v -s -remove 1"), missing("v"));
        assert_eq!(err("reconfig -x -remove 1"), unknown("-x"));
        assert_eq!(err("reconfig -files a"), unknown("-files"));
        assert_eq!(err("reconfig -add=a"), unknown("-add=a"));
        assert_eq!(err("reconfig --add a"), unknown("--add"));
        assert_eq!(err("reconfig -s=1 -remove 1"), unknown("-s=1"));
        // An unknown option-like word is a value; a negative number too.
        assert_eq!(parse(&w("reconfig -remove -x")).unwrap().leaving.as_deref(), Some("-x"));
        assert_eq!(parse(&w("reconfig -remove -2")).unwrap().leaving.as_deref(), Some("-2"));
        // A separate value loses one pair of double quotes.
        assert_eq!(parse(&w("reconfig -remove \"3\"")).unwrap().leaving.as_deref(), Some("3"));
        assert_eq!(parse(&w("reconfig -- -remove 3")).unwrap_err().msg, USAGE);
    }

    fn props(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in load_java_properties(text).unwrap() {
            put_property(&mut out, k, v);
        }
        properties_order(out)
    }

    fn members(text: &str) -> Result<String, String> {
        dynamic_config(&props(text))
    }

    /// Expected texts printed by `QuorumPeerConfig.parseDynamicConfig(...).toString()` and the
    /// exceptions' messages, from the 3.8 jars for the same files.
    #[test]
    fn dynamic_config_file_as_members() {
        assert_eq!(
            members(
                "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nserver.2=127.0.0.1:2889:3889;2182\n\
                 server.3=localhost:2890:3890:OBSERVER\nversion=1a\n"
            )
            .unwrap(),
            "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
             server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
             server.3=localhost:2890:3890:observer\nversion=1a"
        );
        assert_eq!(
            members(
                "server.17=h17:1:2;3\nserver.1=h1:1:2;3\nserver.33=h33:1:2;3\nserver.16=h16:1:2;3\n\
                 server.2=[::1]:5:6;[::1]:7\nserver.-1=:1:2\nserver.3=127.0.0.1:2:3;localhost:9\n"
            )
            .unwrap(),
            "server.-1=localhost:1:2:participant\nserver.16=h16:1:2:participant;0.0.0.0:3\n\
             server.33=h33:1:2:participant;0.0.0.0:3\nserver.1=h1:1:2:participant;0.0.0.0:3\n\
             server.17=h17:1:2:participant;0.0.0.0:3\n\
             server.2=[0:0:0:0:0:0:0:1]:5:6:participant;[0:0:0:0:0:0:0:1]:7\n\
             server.3=127.0.0.1:2:3:participant;localhost:9\nversion=0"
        );
        assert_eq!(members("").unwrap(), "version=0");
        assert_eq!(members("version=5\n").unwrap(), "version=5");
        assert_eq!(members("server.1=H:1:2;Host:3\n").unwrap(), "server.1=H:1:2:participant;Host:3\nversion=0");
        assert_eq!(
            members("server.1=h:1:2;0\nserver.1=h:3:4\nserver.01=h:5:6;7\n").unwrap(),
            "server.1=h:5:6:participant;0.0.0.0:7\nversion=0"
        );
        assert_eq!(
            members("server.1=h:1:2\nserver.2=h:3:4\n").unwrap(),
            "server.1=h:1:2:participant\nserver.2=h:3:4:participant\nversion=0"
        );
        assert_eq!(members("server.1=[::1]:1:2\n").unwrap(), "server.1=[0:0:0:0:0:0:0:1]:1:2:participant\nversion=0");
    }

    #[test]
    fn dynamic_config_file_errors() {
        let wrong = |a: &str| format!("{a}{WRONG_FORMAT}");
        for (text, message) in [
            ("server.1=h:1:2\nfoo=bar\n", "Unrecognised parameter: foo".to_string()),
            ("server.x=h:1:2\n", "For input string: \"x\"".into()),
            ("server.1=h:1:2\nversion=zz\n", "For input string: \"zz\" under radix 16".into()),
            ("server.1=h:1:2:spectator\n", "Unrecognised peertype: spectator".into()),
            ("server.1=h:1\n", wrong("h:1")),
            ("server.1=[::1]\n", wrong("[::1]")),
            ("server.1=h:1:2;a:b:c\n", wrong("h:1:2;a:b:c")),
            (
                "server.1=h:1:1\n",
                "Client and election port must be different! Please update the configuration file on server.1".into(),
            ),
            ("server.1=h:x:2\n", "Address unresolved: h:x".into()),
            ("server.1=h:70000:2\n", "port out of range:70000".into()),
            ("server.1=h:1:2;abc\n", "Address unresolved: null:abc".into()),
            ("server.1=h:1:2;70000\n", "port out of range:70000".into()),
            (
                "server.1=h:1:2|h:3:4\n",
                "Multiple address feature is disabled, but multiple addresses were specified for sid 1".into(),
            ),
            ("server.1=;\n", "Index 0 out of bounds for length 0".into()),
            ("server.1=[::1:1:2\n", "[::1:1:2 starts with '[' but has no matching ']:'".into()),
            ("server.1=[::1]:\n", "[::1]: doesn't have a port after colon".into()),
            ("server.1=h:1:2:observer\n", "Observers w/o participants is an invalid configuration".into()),
            ("server.1=h:1:2\nserver.2=h:3:4:observer\n", "Observers w/o quorum is an invalid configuration".into()),
            // Properties keeps a value's trailing blanks; ZooKeeper does not trim them here.
            ("server.1=h:1:2 \n", "Address unresolved: h:2 ".into()),
            (
                "group.1=1:2\nserver.1=h:1:2\n",
                ": hierarchical quorums (group and weight keys) are not supported by Rookery".into(),
            ),
        ] {
            assert_eq!(members(text), Err(message), "{text:?}");
        }
        assert_eq!(load_java_properties("server.1=h:1:2\\u00zz\n").unwrap_err(), "Malformed \\uxxxx encoding.");
    }

    #[test]
    fn long_keys_in_hash_map_order() {
        assert_eq!(hash_map_order(vec![3, 1, 2]), [1, 2, 3]);
        assert_eq!(hash_map_order(vec![17, 1, 16, 0]), [16, 0, 17, 1]);
        // 13 entries: 32 buckets, so 17 has a bucket of its own.
        let ids: Vec<i64> = (1..=12).chain([17]).collect();
        assert_eq!(hash_map_order(ids.clone()), ids);
        assert_eq!(hash_map_order(vec![1 << 32, 2]), [1 << 32, 2]);
    }
}
