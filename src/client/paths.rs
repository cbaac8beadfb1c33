//! What the Java client checks and rewrites before a request leaves: path syntax
//! (`PathUtils.validatePath`), the connect string (`ConnectStringParser`) and the chroot that the
//! connect string may carry. Pure functions, so their messages can be pinned against ZooKeeper's.

/// ZooKeeper's default client port, used when a host in the connect string names none.
pub const DEFAULT_PORT: u16 = 2181;

/// `PathUtils.validatePath(path, isSequential)`: a sequential create may end in `/` because the
/// server appends the sequence number. The message is the `IllegalArgumentException`'s.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), String> {
    if sequential {
        validate(&format!("{path}1"))
    } else {
        validate(path)
    }
}

/// `PathUtils.validatePath(path)`. Java walks UTF-16 code units, and reports their indexes, so this
/// does too: a character outside the Basic Multilingual Plane is two units and is refused
/// (surrogates fall in the forbidden `\ud800-\uf8ff` range).
fn validate(path: &str) -> Result<(), String> {
    let chars: Vec<u16> = path.encode_utf16().collect();
    if chars.is_empty() {
        return Err("Path length must be > 0".into());
    }
    if chars[0] != u16::from(b'/') {
        return Err("Path must start with / character".into());
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars[chars.len() - 1] == u16::from(b'/') {
        return Err("Path must not end with / character".into());
    }
    let (slash, dot) = (u16::from(b'/'), u16::from(b'.'));
    let ends_name = |i: usize| i + 1 == chars.len() || chars[i + 1] == slash;
    let mut last = slash;
    for i in 1..chars.len() {
        let c = chars[i];
        let reason = if c == 0 {
            Some(format!("null character not allowed @{i}"))
        } else if c == slash && last == slash {
            Some(format!("empty node name specified @{i}"))
        } else if c == dot && last == dot {
            (chars[i - 2] == slash && ends_name(i)).then(|| format!("relative paths not allowed @{i}"))
        } else if c == dot {
            (chars[i - 1] == slash && ends_name(i)).then(|| format!("relative paths not allowed @{i}"))
        } else if (0x01..=0x1f).contains(&c)
            || (0x7f..=0x9f).contains(&c)
            || (0xd800..=0xf8ff).contains(&c)
            || (0xfff0..=0xffff).contains(&c)
        {
            Some(format!("invalid character @{i}"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(format!("Invalid path string \"{path}\" caused by {reason}"));
        }
        last = c;
    }
    Ok(())
}

/// A parsed connect string: `host[:port][,host[:port]...][/chroot]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    /// `host:port` each, in the order given (IPv6 hosts keep their brackets).
    pub hosts: Vec<String>,
    /// The chroot, or `None` for none (a bare `/` is none too).
    pub chroot: Option<String>,
}

impl ConnectString {
    /// `ConnectStringParser`: the chroot is everything from the first `/`; hosts are split on `,`
    /// and trimmed, and a host without a port gets 2181.
    pub fn parse(s: &str) -> Result<ConnectString, String> {
        let (hosts_part, chroot) = match s.find('/') {
            Some(off) if s.len() - off == 1 => (&s[..off], None),
            Some(off) => {
                validate(&s[off..])?;
                (&s[..off], Some(s[off..].to_string()))
            }
            None => (s, None),
        };
        let hosts: Vec<String> = hosts_part
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| if has_port(h) { h.to_string() } else { format!("{h}:{DEFAULT_PORT}") })
            .collect();
        if hosts.is_empty() {
            return Err("A HostProvider may not be empty!".into());
        }
        Ok(ConnectString { hosts, chroot })
    }
}

fn has_port(host: &str) -> bool {
    match host.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => host.contains(':'),
    }
}

/// The server's view of a client path (`ZooKeeper.prependChroot`).
pub fn prepend_chroot(chroot: Option<&str>, path: &str) -> String {
    match chroot {
        Some(root) if path == "/" => root.to_string(),
        Some(root) => format!("{root}{path}"),
        None => path.to_string(),
    }
}

/// The client's view of a server path: the chroot itself is `/`; a path outside it (which a
/// server should never send) is left as it is, as the Java client does after logging a warning.
pub fn strip_chroot(chroot: Option<&str>, path: &str) -> String {
    match chroot {
        Some(root) if path == root => "/".to_string(),
        Some(root) if path.len() > root.len() && path.starts_with(root) => path[root.len()..].to_string(),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_messages_match_path_utils() {
        for (path, want) in [
            ("/", Ok(())),
            ("/a/b.c/..d/.e", Ok(())),
            ("/x%y", Ok(())),
            ("/sp ace", Ok(())),
            ("", Err("Path length must be > 0".to_string())),
            ("a", Err("Path must start with / character".to_string())),
            ("/a/", Err("Path must not end with / character".to_string())),
            ("/x/.", Err("Invalid path string \"/x/.\" caused by relative paths not allowed @3".to_string())),
            ("/x/../y", Err("Invalid path string \"/x/../y\" caused by relative paths not allowed @4".to_string())),
            ("/a//b", Err("Invalid path string \"/a//b\" caused by empty node name specified @3".to_string())),
            ("/a\u{0}", Err("Invalid path string \"/a\u{0}\" caused by null character not allowed @2".to_string())),
            ("/a\u{7}", Err("Invalid path string \"/a\u{7}\" caused by invalid character @2".to_string())),
            ("/a\u{1F600}", Err("Invalid path string \"/a\u{1F600}\" caused by invalid character @2".to_string())),
        ] {
            assert_eq!(validate_path(path, false), want, "{path:?}");
        }
        assert_eq!(validate_path("/a/", true), Ok(()));
        assert_eq!(
            validate_path("/a//", true).unwrap_err(),
            "Invalid path string \"/a//1\" caused by empty node name specified @3"
        );
    }

    #[test]
    fn connect_strings() {
        let c = ConnectString::parse("a:1, b ,[::1]:3,[::2]/app/x").unwrap();
        assert_eq!(c.hosts, ["a:1", "b:2181", "[::1]:3", "[::2]:2181"]);
        assert_eq!(c.chroot.as_deref(), Some("/app/x"));
        assert_eq!(ConnectString::parse("h:1/").unwrap().chroot, None);
        assert!(ConnectString::parse("h:1/bad/").is_err());
        assert!(ConnectString::parse("/only").is_err());
    }

    #[test]
    fn chroot_round_trips() {
        let root = Some("/app");
        assert_eq!(prepend_chroot(root, "/"), "/app");
        assert_eq!(prepend_chroot(root, "/a"), "/app/a");
        assert_eq!(prepend_chroot(None, "/a"), "/a");
        assert_eq!(strip_chroot(root, "/app"), "/");
        assert_eq!(strip_chroot(root, "/app/a"), "/a");
        assert_eq!(strip_chroot(root, "/other"), "/other");
        assert_eq!(strip_chroot(None, "/a"), "/a");
    }
}
