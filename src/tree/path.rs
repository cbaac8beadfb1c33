//! Znode path rules (ZooKeeper's `PathUtils.validatePath`).

/// Why a path is refused; ZooKeeper answers every one of them with BADARGUMENTS.
pub fn validate(path: &str) -> Result<(), &'static str> {
    let b = path.as_bytes();
    if b.is_empty() {
        return Err("path length must be > 0");
    }
    if b[0] != b'/' {
        return Err("path must start with / character");
    }
    if b.len() == 1 {
        return Ok(());
    }
    if b[b.len() - 1] == b'/' {
        return Err("path must not end with / character");
    }
    for segment in path[1..].split('/') {
        match segment {
            "" => return Err("empty node name specified"),
            "." | ".." => return Err("relative paths not allowed"),
            _ => {}
        }
    }
    // Java checks UTF-16 units: anything outside the BMP is a surrogate pair there, so refused.
    for c in path.chars() {
        let u = c as u32;
        let bad = u == 0
            || (0x01..=0x1f).contains(&u)
            || (0x7f..=0x9f).contains(&u)
            || (0xd800..=0xf8ff).contains(&u)
            || u >= 0xfff0;
        if bad {
            return Err("invalid character in path");
        }
    }
    Ok(())
}

/// The parent of a non-root path ("/a/b" → "/a", "/a" → "/"), and the last segment.
pub fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Joins a parent and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zookeeper_path_rules() {
        let table: &[(&str, bool)] = &[
            ("/", true),
            ("/a", true),
            ("/a/b.c/..d", true),
            ("/é", true),
            ("", false),
            ("a", false),
            ("/a/", false),
            ("//a", false),
            ("/a//b", false),
            ("/a/./b", false),
            ("/a/..", false),
            ("/.", false),
            ("/a\u{0}b", false),
            ("/a\u{1}", false),
            ("/a\u{7f}", false),
            ("/a\u{fff0}", false),
            ("/a\u{1F600}", false),
            ("/a\u{e000}", false),
        ];
        for (p, ok) in table {
            assert_eq!(validate(p).is_ok(), *ok, "{p:?}");
        }
    }

    #[test]
    fn split_and_join() {
        assert_eq!(split("/a"), ("/", "a"));
        assert_eq!(split("/a/b"), ("/a", "b"));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
