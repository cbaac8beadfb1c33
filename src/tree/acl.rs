//! ACL checks and the built-in authentication schemes: `world`, `auth`, `digest`, `ip`, plus the
//! `super` identity granted by `DigestAuthenticationProvider.superDigest`.

use crate::codes::ErrorCode;
use crate::jute::data::{Acl, Id};
use std::net::IpAddr;

/// `user:base64(sha1("user:password"))`, the id that `addauth digest user:password` grants and
/// that `digest` ACLs name.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = sha1_smol::Sha1::from(user_password.as_bytes()).digest().bytes();
    format!("{user}:{}", base64(&hash))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n =
            (chunk[0] as u32) << 16 | (*chunk.get(1).unwrap_or(&0) as u32) << 8 | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What `addauth SCHEME AUTH` grants, or AUTHFAILED. The `ip` id of a connection is added by the
/// server itself, never by an auth packet.
pub fn authenticate(scheme: &str, auth: &[u8], super_digest: Option<&str>) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" => {
            let text = std::str::from_utf8(auth).map_err(|_| ErrorCode::AuthFailed)?;
            let id = digest_id(text);
            let mut ids = Vec::with_capacity(2);
            if super_digest == Some(id.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("digest", &id));
            Ok(ids)
        }
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// The authentication providers registered beyond `ip` and `digest` (ZooKeeper's
/// `authProvider.N`): their schemes are valid in ACLs only then.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Providers {
    /// `SASLAuthenticationProvider`: the `sasl` scheme.
    pub sasl: bool,
    /// `X509AuthenticationProvider`: the `x509` scheme.
    pub x509: bool,
}

impl Providers {
    fn has(&self, scheme: &str) -> bool {
        match scheme {
            "ip" | "digest" => true,
            "sasl" => self.sasl,
            "x509" => self.x509,
            _ => false,
        }
    }
}

/// Whether an id is well formed for its scheme (`ServerAuthenticationProvider.isValid`).
fn is_valid(id: &Id, providers: Providers) -> bool {
    match id.scheme.as_str() {
        _ if id.scheme != "world" && !providers.has(&id.scheme) => false,
        // Any Kerberos-style name; a distinguished name (`X500Principal`).
        "sasl" => !id.id.is_empty(),
        "x509" => is_distinguished_name(&id.id),
        "world" => id.id == "anyone",
        // Java's split(":") drops trailing empty strings: "user:" has one part, so it is invalid.
        "digest" => {
            let parts: Vec<&str> = id.id.split(':').collect();
            parts.len() == 2 && !parts[1].is_empty()
        }
        "ip" => parse_ip_expr(&id.id).is_some(),
        _ => false,
    }
}

/// Whether `dn` reads as an X.500 distinguished name (`CN=a,O=b`): RDNs of `attr=value`.
fn is_distinguished_name(dn: &str) -> bool {
    !dn.is_empty() && dn.split([',', ';']).all(|rdn| rdn.split_once('=').is_some_and(|(k, _)| !k.trim().is_empty()))
}

/// Schemes whose ids mean an authenticated principal, which `auth` ACLs expand to
/// (`isAuthenticated`), if their provider is registered.
fn is_authenticated_scheme(scheme: &str, providers: Providers) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509") && providers.has(scheme)
}

/// `PrepRequestProcessor.fixupACL`: drops duplicates, expands `auth` to the requester's
/// authenticated ids, and refuses empty lists, unknown schemes and malformed ids (INVALIDACL).
pub fn fixup(acl: &[Acl], auth: &[Id], providers: Providers) -> Result<Vec<Acl>, ErrorCode> {
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    if unique.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        if a.id.scheme == "auth" {
            let mut any = false;
            for id in auth.iter().filter(|id| is_authenticated_scheme(&id.scheme, providers)) {
                any = true;
                out.push(Acl { perms: a.perms, id: id.clone() });
            }
            if !any {
                return Err(ErrorCode::InvalidAcl);
            }
        } else if is_valid(&a.id, providers) {
            out.push(a.clone());
        } else {
            return Err(ErrorCode::InvalidAcl);
        }
    }
    Ok(out)
}

/// `ZooKeeperServer.checkACL`: true if any entry grants one of the bits of `perm` to one of the
/// requester's ids. An empty ACL, the `super` id and `skip_acl` allow everything.
pub fn allows(acl: &[Acl], perm: i32, auth: &[Id], skip_acl: bool) -> bool {
    if skip_acl || acl.is_empty() || auth.iter().any(|id| id.scheme == "super") {
        return true;
    }
    acl.iter().filter(|a| a.perms & perm != 0).any(|a| {
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        auth.iter().filter(|id| id.scheme == a.id.scheme).any(|id| match a.id.scheme.as_str() {
            "ip" => ip_matches(&id.id, &a.id.id),
            // SASLAuthenticationProvider.matches: a SASL user named `super` matches every entry.
            "sasl" => id.id == a.id.id || id.id == "super",
            _ => id.id == a.id.id,
        })
    })
}

/// `allows`, as ZooKeeper's error code.
pub fn check(acl: &[Acl], perm: i32, auth: &[Id], skip_acl: bool) -> Result<(), ErrorCode> {
    if allows(acl, perm, auth, skip_acl) {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// `addr[/bits]` as address bytes and prefix length.
fn parse_ip_expr(expr: &str) -> Option<(Vec<u8>, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let bytes = match addr.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let max = bytes.len() * 8;
    let bits = match bits {
        None => max,
        Some(b) => b.parse::<usize>().ok().filter(|&n| n <= max)?,
    };
    Some((bytes, bits))
}

/// Whether the client address `client` falls inside the ACL's `addr[/bits]`.
fn ip_matches(client: &str, acl_expr: &str) -> bool {
    let (Some((want, bits)), Some((have, _))) = (parse_ip_expr(acl_expr), parse_ip_expr(client)) else {
        return false;
    };
    if want.len() != have.len() {
        return false;
    }
    (0..bits).all(|i| {
        let mask = 0x80u8 >> (i % 8);
        want[i / 8] & mask == have[i / 8] & mask
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::data::perms;

    #[test]
    fn digest_matches_zookeeper() {
        // DigestAuthenticationProvider.generateDigest("super:test"), as printed by ZooKeeper 3.8.
        assert_eq!(digest_id("super:test"), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn checks() {
        let alice = Id::new("digest", &digest_id("alice:pw"));
        let acl = vec![Acl { perms: perms::READ, id: alice.clone() }, Acl::new(perms::WRITE, "ip", "10.0.0.0/8")];
        assert!(allows(&acl, perms::READ, std::slice::from_ref(&alice), false));
        assert!(!allows(&acl, perms::WRITE, std::slice::from_ref(&alice), false));
        assert!(allows(&acl, perms::WRITE, &[Id::new("ip", "10.1.2.3")], false));
        assert!(!allows(&acl, perms::WRITE, &[Id::new("ip", "11.1.2.3")], false));
        assert!(allows(&acl, perms::ADMIN, &[Id::new("super", "")], false));
        assert!(allows(&acl, perms::ADMIN, &[], true));
        assert!(allows(&[], perms::ADMIN, &[], false));
        assert!(allows(&acl, perms::READ | perms::ADMIN, &[alice], false));
    }

    const P: Providers = Providers { sasl: false, x509: false };

    #[test]
    fn provider_schemes() {
        let sasl = Acl::new(perms::ALL, "sasl", "bob");
        let x509 = Acl::new(perms::ALL, "x509", "CN=client,O=Rookery");
        assert_eq!(fixup(std::slice::from_ref(&sasl), &[], P), Err(ErrorCode::InvalidAcl));
        let both = Providers { sasl: true, x509: true };
        assert!(fixup(&[sasl.clone(), x509.clone()], &[], both).is_ok());
        assert_eq!(fixup(&[Acl::new(1, "x509", "client")], &[], both), Err(ErrorCode::InvalidAcl));
        let who = [Id::new("sasl", "bob"), Id::new("x509", "CN=c")];
        let expanded = fixup(&[Acl::new(perms::READ, "auth", "")], &who, both).unwrap();
        assert_eq!(expanded.len(), 2);
        assert_eq!(fixup(&[Acl::new(perms::READ, "auth", "")], &who, P), Err(ErrorCode::InvalidAcl));
        assert!(allows(std::slice::from_ref(&sasl), perms::READ, &[Id::new("sasl", "bob")], false));
        assert!(allows(std::slice::from_ref(&sasl), perms::READ, &[Id::new("sasl", "super")], false));
        assert!(!allows(&[sasl], perms::READ, &[Id::new("sasl", "eve")], false));
        assert!(allows(&[x509], perms::READ, &[Id::new("x509", "CN=client,O=Rookery")], false));
    }

    #[test]
    fn fixup_rules() {
        let alice = Id::new("digest", &digest_id("alice:pw"));
        let ip = Id::new("ip", "127.0.0.1");
        let auth = [ip.clone(), alice.clone()];
        let got = fixup(&[Acl::new(perms::ALL, "auth", ""), Acl::new(perms::ALL, "auth", "")], &auth, P).unwrap();
        assert_eq!(got, vec![Acl { perms: perms::ALL, id: alice }]);
        assert_eq!(fixup(&[Acl::new(perms::ALL, "auth", "")], &[ip], P), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[], &[], P), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl::new(1, "digest", "nohash")], &[], P), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl::new(1, "ip", "1.2.3.4/33")], &[], P), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(&[Acl::new(1, "nope", "x")], &[], P), Err(ErrorCode::InvalidAcl));
        assert!(fixup(&[Acl::new(1, "ip", "::1/128")], &[], P).is_ok());
    }
}
