//! zkCli's text, byte for byte: Stat listings (`StatPrinter`), ACL listings (jute's
//! `ToStringOutputArchive` for the id, `ZKUtil.getPermString`), dates (`java.util.Date.toString`),
//! ACL strings (`AclParser`), and the messages of `KeeperException` and `CliWrapperException`.
//! Pure functions; the shell does the printing.

use crate::codes::ErrorCode;
use crate::jute::data::{perms, Acl, Id, Stat};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// `StatPrinter.print`: eleven lines, zxids and the owner in lower-case hex (as unsigned, like
/// `Long.toHexString`), times as `Date.toString` in the time zone `tz`.
pub fn stat_lines(stat: &Stat, tz: &TimeZone) -> Vec<String> {
    vec![
        format!("cZxid = 0x{:x}", stat.czxid as u64),
        format!("ctime = {}", java_date(stat.ctime, tz)),
        format!("mZxid = 0x{:x}", stat.mzxid as u64),
        format!("mtime = {}", java_date(stat.mtime, tz)),
        format!("pZxid = 0x{:x}", stat.pzxid as u64),
        format!("cversion = {}", stat.cversion),
        format!("dataVersion = {}", stat.version),
        format!("aclVersion = {}", stat.aversion),
        format!("ephemeralOwner = 0x{:x}", stat.ephemeral_owner as u64),
        format!("dataLength = {}", stat.data_length),
        format!("numChildren = {}", stat.num_children),
    ]
}

/// `new Date(ms).toString()`: `EEE MMM dd HH:mm:ss zzz yyyy` in local time. The zone name is the
/// tz database's abbreviation (CET, EDT, IST, UTC: the same as Java's for most zones); a zone
/// whose abbreviation is only an offset (`-03`) is written as Java writes such zones,
/// `GMT-03:00`.
pub fn java_date(ms: i64, tz: &TimeZone) -> String {
    let Ok(ts) = Timestamp::from_millisecond(ms) else { return format!("<time {ms} out of range>") };
    let info = tz.to_offset_info(ts);
    let abbr = info.abbreviation();
    let zone = if abbr.starts_with(['+', '-']) || abbr.is_empty() {
        let secs = info.offset().seconds();
        if secs == 0 {
            "GMT".to_string()
        } else {
            let sign = if secs < 0 { '-' } else { '+' };
            let m = secs.unsigned_abs() / 60;
            format!("GMT{sign}{:02}:{:02}", m / 60, m % 60)
        }
    } else {
        abbr.to_string()
    };
    let local = ts.to_zoned(tz.clone());
    format!("{} {zone} {}", local.strftime("%a %b %d %H:%M:%S"), local.year())
}

/// `ZKUtil.getPermString`: the letters of the permission bits, in the order c, d, r, w, a.
pub fn perm_string(p: i32) -> String {
    [(perms::CREATE, 'c'), (perms::DELETE, 'd'), (perms::READ, 'r'), (perms::WRITE, 'w'), (perms::ADMIN, 'a')]
        .into_iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, c)| c)
        .collect()
}

/// The two lines zkCli prints per ACL entry: `Id.toString()` (`'scheme,'id` and a newline, from
/// jute's ToStringOutputArchive) followed by `: perms`.
pub fn acl_lines(acl: &Acl) -> [String; 2] {
    [id_string(&acl.id), format!(": {}", perm_string(acl.perms))]
}

fn id_string(id: &Id) -> String {
    format!("{},{}", jute_string(&id.scheme), jute_string(&id.id))
}

/// ToStringOutputArchive.escapeString: a leading quote, and `\0 \n \r , } %` percent-escaped.
fn jute_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("%00"),
            '\n' => out.push_str("%0A"),
            '\r' => out.push_str("%0D"),
            ',' => out.push_str("%2C"),
            '}' => out.push_str("%7D"),
            '%' => out.push_str("%25"),
            c => out.push(c),
        }
    }
    out
}

/// `AclParser.parse`: `scheme:id:perms[,...]`, the id between the first and the last colon.
/// Entries it cannot read are skipped; what it would print on stderr comes back as `warnings`.
pub fn parse_acl(s: &str) -> (Vec<Acl>, Vec<String>) {
    let mut acl = Vec::new();
    let mut warnings = Vec::new();
    for a in s.split(',').filter(|a| !a.is_empty()) {
        let (Some(first), Some(last)) = (a.find(':'), a.rfind(':')) else {
            warnings.push(format!("{a} does not have the form scheme:id:perm"));
            continue;
        };
        if first == last {
            warnings.push(format!("{a} does not have the form scheme:id:perm"));
            continue;
        }
        let mut p = 0;
        for c in a[last + 1..].chars() {
            match c {
                'r' => p |= perms::READ,
                'w' => p |= perms::WRITE,
                'c' => p |= perms::CREATE,
                'd' => p |= perms::DELETE,
                'a' => p |= perms::ADMIN,
                other => warnings.push(format!("Unknown perm type: {other}")),
            }
        }
        acl.push(Acl::new(p, &a[..first], &a[first + 1..last]));
    }
    (acl, warnings)
}

/// `KeeperException.getCodeMessage`.
pub fn code_message(code: ErrorCode) -> String {
    use ErrorCode as E;
    match code {
        E::Ok => "ok",
        E::SystemError => "SystemError",
        E::RuntimeInconsistency => "RuntimeInconsistency",
        E::DataInconsistency => "DataInconsistency",
        E::ConnectionLoss => "ConnectionLoss",
        E::MarshallingError => "MarshallingError",
        E::NewConfigNoQuorum => "NewConfigNoQuorum",
        E::ReconfigInProgress => "ReconfigInProgress",
        E::Unimplemented => "Unimplemented",
        E::OperationTimeout => "OperationTimeout",
        E::BadArguments => "BadArguments",
        E::ApiError => "APIError",
        E::NoNode => "NoNode",
        E::NoAuth => "NoAuth",
        E::BadVersion => "BadVersion",
        E::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        E::NodeExists => "NodeExists",
        E::InvalidAcl => "InvalidACL",
        E::AuthFailed => "AuthFailed",
        E::NotEmpty => "Directory not empty",
        E::SessionExpired => "Session expired",
        E::InvalidCallback => "Invalid callback",
        E::SessionMoved => "Session moved",
        E::NotReadOnly => "Not a read-only call",
        E::EphemeralOnLocalSession => "Ephemeral node on local session",
        E::NoWatcher => "No such watcher",
        E::ReconfigDisabled => "Reconfig is disabled",
        E::SessionClosedRequireSaslAuth => "Session closed because client failed to authenticate",
        E::QuotaExceeded => "Quota has exceeded",
        E::Throttled => "Op throttled due to high load",
        // Java's default branch: "Unknown error " and the enum constant's name.
        E::UnknownSession => "Unknown error UNKNOWNSESSION",
        E::RequestTimeout => "Unknown error REQUESTTIMEOUT",
    }
    .to_string()
}

/// `KeeperException.getMessage()`.
pub fn keeper_message(code: ErrorCode, path: Option<&str>) -> String {
    match path {
        Some(p) if !p.is_empty() => format!("KeeperErrorCode = {} for {p}", code_message(code)),
        _ => format!("KeeperErrorCode = {}", code_message(code)),
    }
}

/// `CliWrapperException`'s message for a KeeperException (a missing path prints as `null`, as
/// Java's string concatenation does).
pub fn cli_message(code: ErrorCode, path: Option<&str>) -> String {
    use ErrorCode as E;
    let p = path.unwrap_or("null");
    match code {
        E::NoNode => format!("Node does not exist: {p}"),
        E::NoChildrenForEphemerals => format!("Ephemerals cannot have children: {p}"),
        E::NodeExists => format!("Node already exists: {p}"),
        E::NotEmpty => format!("Node not empty: {p}"),
        E::NotReadOnly => format!("Not a read-only call: {p}"),
        E::InvalidAcl => format!("Acl is not valid : {p}"),
        E::NoAuth => format!("Insufficient permission : {p}"),
        E::BadArguments => format!("Arguments are not valid : {p}"),
        E::BadVersion => format!("version No is not valid : {p}"),
        E::ReconfigInProgress => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)".into()
        }
        E::NewConfigNoQuorum => {
            "No quorum of new config is connected and up-to-date with the leader of last commmitted \
                                 config - try invoking reconfiguration after new servers are connected and synced"
                .into()
        }
        E::QuotaExceeded => format!("Quota has exceeded : {p}"),
        _ => keeper_message(code, path),
    }
}

/// Java's `List.toString()`: `[a, b]`.
pub fn java_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// `Collections.sort` on strings: by UTF-16 code units, as Java compares them.
pub fn java_sort(items: &mut [String]) {
    items.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
}

/// `ConfigUtils.getClientConfigStr`: the config's `version` and the client addresses of its
/// `server.N` entries, `version host:port,host:port`. The order is that of Java's
/// `Properties.entrySet()` (a ConcurrentHashMap's buckets), reproduced by `properties_order`.
pub fn client_config_str(config: &str) -> String {
    let entries = properties_order(parse_properties(config));
    let mut version = String::new();
    let mut servers = Vec::new();
    for (key, value) in entries {
        if key == "version" {
            version = value.clone();
        }
        if !key.starts_with("server.") {
            continue;
        }
        // server.N=host:port:port[:role][;[clientHost:]clientPort]
        let client = value.split_once(';').map(|(_, c)| c.trim());
        servers.push(match client {
            Some(c) => match c.rsplit_once(':') {
                Some((host, port)) => format!("{host}:{port}"),
                None => format!("0.0.0.0:{c}"),
            },
            None => String::new(),
        });
    }
    format!("{version} {}", servers.join(","))
}

/// `key=value` lines (also `key:value`, `key value`), trimmed; comments and blank lines skipped;
/// a later key replaces an earlier one in place, as a map does.
fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let cut = line.find(['=', ':', ' ', '\t']).unwrap_or(line.len());
        let key = line[..cut].to_string();
        let value = line[cut..].trim_start_matches([' ', '\t']);
        let value = value.strip_prefix(['=', ':']).unwrap_or(value).trim().to_string();
        put_property(&mut out, key, value);
    }
    out
}

/// `Properties.put` on entries kept in insertion order: a key already there keeps its place and
/// takes the new value, as in a map.
pub(super) fn put_property(entries: &mut Vec<(String, String)>, key: String, value: String) {
    match entries.iter_mut().find(|(k, _)| *k == key) {
        Some(e) => e.1 = value,
        None => entries.push((key, value)),
    }
}

/// The iteration order of a `java.util.Properties` holding `entries` (inserted in this order):
/// a ConcurrentHashMap's table, walked bucket by bucket, each bucket in insertion order. The
/// table starts at 16 buckets and doubles when it reaches three quarters full.
pub(super) fn properties_order(entries: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut buckets = 16usize;
    while entries.len() >= buckets * 3 / 4 {
        buckets *= 2;
    }
    let spread = |k: &str| {
        let h = k.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
        ((h ^ ((h as u32) >> 16) as i32) & 0x7fff_ffff) as usize
    };
    let mut keyed: Vec<(usize, (String, String))> = entries.into_iter().map(|e| (spread(&e.0) % buckets, e)).collect();
    keyed.sort_by_key(|(b, _)| *b);
    keyed.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat() -> Stat {
        Stat {
            czxid: 2,
            mzxid: 0x1_0000_0008,
            ctime: 0,
            mtime: 1_782_000_000_000,
            version: 3,
            cversion: -2,
            aversion: 1,
            ephemeral_owner: 0x1000_0a3b_5c00_0001,
            data_length: 5,
            num_children: 0,
            pzxid: 0xa,
        }
    }

    /// The expected lines are what StatPrinter prints (checked with the 3.8 jars' java.util.Date
    /// for TZ=UTC and TZ=America/New_York).
    #[test]
    fn stat_lines_match_stat_printer() {
        let utc = TimeZone::UTC;
        assert_eq!(
            stat_lines(&stat(), &utc),
            [
                "cZxid = 0x2",
                "ctime = Thu Jan 01 00:00:00 UTC 1970",
                "mZxid = 0x100000008",
                "mtime = Sun Jun 21 00:00:00 UTC 2026",
                "pZxid = 0xa",
                "cversion = -2",
                "dataVersion = 3",
                "aclVersion = 1",
                "ephemeralOwner = 0x10000a3b5c000001",
                "dataLength = 5",
                "numChildren = 0",
            ]
        );
        let mut s = stat();
        s.ephemeral_owner = -1;
        assert_eq!(stat_lines(&s, &utc)[8], "ephemeralOwner = 0xffffffffffffffff");
    }

    #[test]
    fn dates_as_java_prints_them() {
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(java_date(0, &ny), "Wed Dec 31 19:00:00 EST 1969");
        assert_eq!(java_date(1_782_000_000_000, &ny), "Sat Jun 20 20:00:00 EDT 2026");
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(java_date(1_782_000_000_000, &berlin), "Sun Jun 21 02:00:00 CEST 2026");
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        assert_eq!(java_date(0, &kolkata), "Thu Jan 01 05:30:00 IST 1970");
        let gmt3 = TimeZone::get("Etc/GMT+3").unwrap();
        assert_eq!(java_date(0, &gmt3), "Wed Dec 31 21:00:00 GMT-03:00 1969");
    }

    #[test]
    fn acl_listing_and_parsing() {
        assert_eq!(acl_lines(&Acl::new(31, "world", "anyone")), ["'world,'anyone", ": cdrwa"]);
        assert_eq!(acl_lines(&Acl::new(0, "ip", "10.0.0.0/8")), ["'ip,'10.0.0.0/8", ": "]);
        assert_eq!(acl_lines(&Acl::new(17, "x", "a,b%}\n")), ["'x,'a%2Cb%25%7D%0A", ": ra"]);
        let (acl, warn) = parse_acl("world:anyone:rz,bad,digest:u:h=:cdrwa,foo:bar");
        assert_eq!(acl, [Acl::new(1, "world", "anyone"), Acl::new(31, "digest", "u:h=")]);
        assert_eq!(
            warn,
            [
                "Unknown perm type: z",
                "bad does not have the form scheme:id:perm",
                "foo:bar does not have the form scheme:id:perm"
            ]
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(cli_message(ErrorCode::NoNode, Some("/x")), "Node does not exist: /x");
        assert_eq!(cli_message(ErrorCode::InvalidAcl, None), "Acl is not valid : null");
        assert_eq!(cli_message(ErrorCode::NoWatcher, Some("/w")), "KeeperErrorCode = No such watcher for /w");
        assert_eq!(cli_message(ErrorCode::ConnectionLoss, None), "KeeperErrorCode = ConnectionLoss");
        assert_eq!(keeper_message(ErrorCode::Unimplemented, Some("/ttl")), "KeeperErrorCode = Unimplemented for /ttl");
    }

    #[test]
    fn java_ordering_and_lists() {
        let mut v = vec!["b".to_string(), "\u{1F600}".into(), "\u{FF5E}".into(), "B".into()];
        java_sort(&mut v);
        assert_eq!(v, ["B", "b", "\u{1F600}", "\u{FF5E}"], "surrogates sort below U+E000 in UTF-16");
        assert_eq!(java_list(&v[..2]), "[B, b]");
        assert_eq!(java_list(&[]), "[]");
    }

    /// Expected strings printed by ConfigUtils.getClientConfigStr from the 3.8 jars.
    #[test]
    fn client_config_string() {
        assert_eq!(client_config_str(""), " ");
        let cfg = "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
                   server.2=127.0.0.1:2889:3889:participant;0.0.0.0:2182\n\
                   server.3=127.0.0.1:2890:3890:participant;2183\n\
                   version=100000000\n";
        assert_eq!(client_config_str(cfg), "100000000 0.0.0.0:2182,127.0.0.1:2181,0.0.0.0:2183");
        let many: String = (1..=13).map(|i| format!("server.{i}=h:{}:{};{}\n", 2000 + i, 3000 + i, 4000 + i)).collect();
        assert_eq!(
            client_config_str(&format!("{many}version=5")),
            "5 0.0.0.0:4010,0.0.0.0:4011,0.0.0.0:4002,0.0.0.0:4001,0.0.0.0:4012,0.0.0.0:4013,0.0.0.0:4006,\
             0.0.0.0:4005,0.0.0.0:4004,0.0.0.0:4003,0.0.0.0:4009,0.0.0.0:4008,0.0.0.0:4007"
        );
    }
}
