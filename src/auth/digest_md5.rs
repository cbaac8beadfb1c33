//! SASL DIGEST-MD5 (RFC 2831) as ZooKeeper runs it through Java's `DigestMD5Server` and
//! `DigestMD5Client`: on the client port protocol `zookeeper` and server name `zk-sasl-md5`,
//! between quorum members `zookeeper-quorum` and `zk-quorum-sasl-md5`; quality of protection
//! `auth` only (no integrity or confidentiality layer). Pure state machines: the connection hands
//! each side the other's tokens and sends back what it returns.
//!
//! ```text
//! client → server   (empty token)
//! server → client   realm="zk-sasl-md5",nonce="…",qop="auth",charset=utf-8,algorithm=md5-sess
//! client → server   charset=utf-8,username="bob",realm="zk-sasl-md5",nonce="…",nc=00000001,
//!                   cnonce="…",digest-uri="zookeeper/zk-sasl-md5",maxbuf=65536,response=<hex>,qop=auth
//! server → client   rspauth=<hex>                                   (authentication complete)
//! ```

use md5::{Digest, Md5};
use std::collections::HashMap;

/// ZooKeeper's DIGEST-MD5 realm and server name (`SecurityUtils`, `ZooKeeperSaslServer`).
pub const SERVER_NAME: &str = "zk-sasl-md5";
/// The SASL protocol (service) name.
pub const PROTOCOL: &str = "zookeeper";

/// What the server answers a token with.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge and wait for the next token.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; send `token` (the `rspauth`).
    Complete { token: Vec<u8>, user: String },
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Start,
    Challenged,
    Done,
}

/// One client's DIGEST-MD5 exchange.
pub struct DigestMd5Server {
    nonce: String,
    state: State,
    protocol: &'static str,
    server_name: &'static str,
}

impl DigestMd5Server {
    /// The client port's exchange. `nonce`: fresh random text for it (the caller draws it).
    pub fn new(nonce: String) -> DigestMd5Server {
        DigestMd5Server::for_service(nonce, PROTOCOL, SERVER_NAME)
    }

    /// An exchange for another service (the quorum's `zookeeper-quorum/zk-quorum-sasl-md5`).
    pub fn for_service(nonce: String, protocol: &'static str, server_name: &'static str) -> DigestMd5Server {
        DigestMd5Server { nonce, state: State::Start, protocol, server_name }
    }

    /// Evaluates one client token against `users` (name → password). An error ends the exchange;
    /// its text is Java's `SaslException` message where there is one.
    pub fn evaluate(&mut self, token: &[u8], users: &HashMap<String, String>) -> Result<Step, String> {
        match self.state {
            State::Start => {
                if !token.is_empty() {
                    return Err("DIGEST-MD5: Unexpected initial response".into());
                }
                self.state = State::Challenged;
                let c = format!(
                    "realm=\"{}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
                    self.server_name, self.nonce
                );
                Ok(Step::Challenge(c.into_bytes()))
            }
            State::Challenged => {
                self.state = State::Done;
                let text = std::str::from_utf8(token).map_err(|_| "DIGEST-MD5: response is not UTF-8".to_string())?;
                let d = directives(text)?;
                let (user, rspauth) = self.verify(&d, users)?;
                Ok(Step::Complete { token: format!("rspauth={rspauth}").into_bytes(), user })
            }
            State::Done => Err("DIGEST-MD5: authentication already complete".into()),
        }
    }

    /// Checks a digest-response; returns the user and the `rspauth` value.
    fn verify(&self, d: &HashMap<String, String>, users: &HashMap<String, String>) -> Result<(String, String), String> {
        let get = |k: &str| d.get(k).map(String::as_str);
        let need =
            |k: &str| get(k).ok_or_else(|| format!("DIGEST-MD5: digest response format violation. Missing {k}."));
        let user = need("username")?;
        let realm = get("realm").unwrap_or("");
        if !realm.is_empty() && realm != self.server_name {
            return Err(format!("DIGEST-MD5: digest response format violation. Nonexistent realm: {realm}"));
        }
        if need("nonce")? != self.nonce {
            return Err("DIGEST-MD5: digest response format violation. Mismatched nonce.".into());
        }
        let nc = need("nc")?;
        if u32::from_str_radix(nc, 16) != Ok(1) {
            return Err("DIGEST-MD5: digest response format violation. Nonce count does not match.".into());
        }
        let cnonce = need("cnonce")?;
        let qop = get("qop").unwrap_or("auth");
        if qop != "auth" {
            return Err(format!("DIGEST-MD5: digest response format violation. Invalid QOP: {qop}"));
        }
        let uri = need("digest-uri")?;
        let service = format!("{}/{}", self.protocol, self.server_name);
        if !uri.eq_ignore_ascii_case(&service) {
            return Err(format!(
                "DIGEST-MD5: digest response format violation. Mismatched URI: {uri}; expecting: {service}"
            ));
        }
        let Some(password) = users.get(user) else {
            return Err(format!("DIGEST-MD5: cannot acquire password for {user} in realm : {}", self.server_name));
        };
        let authzid = get("authzid");
        let ha1 = ha1(user, realm, password, &self.nonce, cnonce, authzid);
        let expected = response_value(&ha1, &self.nonce, nc, cnonce, qop, &format!("AUTHENTICATE:{uri}"));
        if need("response")? != expected {
            return Err("DIGEST-MD5: digest response format violation. Mismatched response.".into());
        }
        Ok((user.to_string(), response_value(&ha1, &self.nonce, nc, cnonce, qop, &format!(":{uri}"))))
    }
}

/// The client side (Java's `DigestMD5Client`, as ZooKeeper's `SaslQuorumAuthLearner` uses it):
/// no initial response; answers the server's challenge with a digest-response, then checks the
/// server's `rspauth`, which proves the server knew the password too.
pub struct DigestMd5Client {
    user: String,
    password: String,
    cnonce: String,
    protocol: &'static str,
    server_name: &'static str,
    /// The `rspauth` the server must send, once the response is out.
    expected_rspauth: Option<String>,
    done: bool,
}

impl DigestMd5Client {
    /// `cnonce`: fresh random text for this exchange (the caller draws it).
    pub fn new(
        user: &str,
        password: &str,
        cnonce: String,
        protocol: &'static str,
        server_name: &'static str,
    ) -> DigestMd5Client {
        let (user, password) = (user.to_string(), password.to_string());
        DigestMd5Client { user, password, cnonce, protocol, server_name, expected_rspauth: None, done: false }
    }

    pub fn is_complete(&self) -> bool {
        self.done
    }

    /// Evaluates the server's token: the challenge gets the digest-response; the `rspauth`
    /// completes the exchange (nothing more to send: `None`).
    pub fn evaluate(&mut self, token: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let text = std::str::from_utf8(token).map_err(|_| "DIGEST-MD5: server token is not UTF-8".to_string())?;
        let d = directives(text)?;
        let Some(expected) = &self.expected_rspauth else {
            return self.respond(&d).map(Some);
        };
        if self.done || d.get("rspauth") != Some(expected) {
            return Err("DIGEST-MD5: Mismatched response auth (the server does not know the password)".into());
        }
        self.done = true;
        Ok(None)
    }

    /// The digest-response to a challenge, in the order Java's client writes it.
    fn respond(&mut self, d: &HashMap<String, String>) -> Result<Vec<u8>, String> {
        let nonce = d.get("nonce").ok_or("DIGEST-MD5: challenge has no nonce")?;
        // No qop-options means "auth" only (RFC 2831 2.1.1); Java's server leaves it out.
        if !d.get("qop").is_none_or(|q| q.split(',').any(|o| o.trim() == "auth")) {
            return Err("DIGEST-MD5: the server does not offer qop=auth".into());
        }
        if d.get("algorithm").map(String::as_str) != Some("md5-sess") {
            return Err("DIGEST-MD5: the challenge does not name algorithm=md5-sess".into());
        }
        let realm = d.get("realm").map_or(self.server_name, String::as_str);
        let uri = format!("{}/{}", self.protocol, self.server_name);
        let h = ha1(&self.user, realm, &self.password, nonce, &self.cnonce, None);
        let response = response_value(&h, nonce, "00000001", &self.cnonce, "auth", &format!("AUTHENTICATE:{uri}"));
        self.expected_rspauth = Some(response_value(&h, nonce, "00000001", &self.cnonce, "auth", &format!(":{uri}")));
        let (user, realm, nonce, cnonce) = (quoted(&self.user), quoted(realm), quoted(nonce), quoted(&self.cnonce));
        let text = format!(
            "charset=utf-8,username={user},realm={realm},nonce={nonce},nc=00000001,cnonce={cnonce},\
             digest-uri=\"{uri}\",maxbuf=65536,response={response},qop=auth"
        );
        Ok(text.into_bytes())
    }
}

/// A quoted-string with `"` and `\` escaped.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Text as DIGEST-MD5 hashes it with `charset=utf-8`: ISO 8859-1 when every character fits,
/// UTF-8 otherwise (RFC 2831 2.1.2.1, as Java's `DigestMD5Base` does).
fn latin1_or_utf8(s: &str) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) < 256) {
        s.chars().map(|c| c as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `H(A1)` for `algorithm=md5-sess`: A1 = H(user:realm:password) ":" nonce ":" cnonce [":" authzid].
fn ha1(user: &str, realm: &str, password: &str, nonce: &str, cnonce: &str, authzid: Option<&str>) -> String {
    let mut secret = Md5::new();
    secret.update(latin1_or_utf8(user));
    secret.update(b":");
    secret.update(latin1_or_utf8(realm));
    secret.update(b":");
    secret.update(latin1_or_utf8(password));
    let mut a1 = Md5::new();
    a1.update(secret.finalize());
    a1.update(format!(":{nonce}:{cnonce}"));
    if let Some(z) = authzid {
        a1.update(format!(":{z}"));
    }
    hex(&a1.finalize())
}

/// KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(A2)), hex.
fn response_value(ha1: &str, nonce: &str, nc: &str, cnonce: &str, qop: &str, a2: &str) -> String {
    let ha2 = hex(&Md5::digest(a2.as_bytes()));
    hex(&Md5::digest(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}").as_bytes()))
}

/// The `name=value` directives of a digest-response (values optionally quoted, `\` escapes).
fn directives(text: &str) -> Result<HashMap<String, String>, String> {
    let bad = || "DIGEST-MD5: digest response format violation. Bad directive syntax.".to_string();
    let mut out = HashMap::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or_else(bad)?;
        let key = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let mut value = String::new();
        if let Some(q) = rest.strip_prefix('"') {
            let mut chars = q.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(bad()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => value.push(chars.next().ok_or_else(bad)?.1),
                    Some((_, c)) => value.push(c),
                }
            };
            rest = q[end + 1..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        if out.insert(key, value).is_some() {
            return Err(bad());
        }
        rest = match rest.strip_prefix(',') {
            Some(r) => r.trim_start(),
            None if rest.is_empty() => rest,
            None => return Err(bad()),
        };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> HashMap<String, String> {
        HashMap::from([("bob".to_string(), "bobsecret".to_string())])
    }

    /// The response a correct client computes (as puresasl and Java's DigestMD5Client do).
    fn client_response(user: &str, password: &str, nonce: &str, cnonce: &str) -> String {
        let h = ha1(user, SERVER_NAME, password, nonce, cnonce, None);
        let r = response_value(&h, nonce, "00000001", cnonce, "auth", "AUTHENTICATE:zookeeper/zk-sasl-md5");
        format!(
            "charset=utf-8,username=\"{user}\",realm=\"{SERVER_NAME}\",nonce=\"{nonce}\",nc=00000001,\
             cnonce=\"{cnonce}\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,response={r},qop=auth"
        )
    }

    #[test]
    fn rfc_2831_example() {
        // RFC 2831 section 4's IMAP example (md5-sess with qop=auth).
        let h = ha1("chris", "elwood.innosoft.com", "secret", "OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", None);
        let r = response_value(
            &h,
            "OA6MG9tEQGm2hh",
            "00000001",
            "OA6MHXh6VqTrRk",
            "auth",
            "AUTHENTICATE:imap/elwood.innosoft.com",
        );
        assert_eq!(r, "d388dad90d4bbd760a152321f2143af7");
        let rsp =
            response_value(&h, "OA6MG9tEQGm2hh", "00000001", "OA6MHXh6VqTrRk", "auth", ":imap/elwood.innosoft.com");
        assert_eq!(rsp, "ea40f60335c427b5527b84dbabcdfffd");
    }

    #[test]
    fn exchange() {
        let mut s = DigestMd5Server::new("N1".into());
        let Step::Challenge(c) = s.evaluate(b"", &users()).unwrap() else { panic!() };
        assert_eq!(c, b"realm=\"zk-sasl-md5\",nonce=\"N1\",qop=\"auth\",charset=utf-8,algorithm=md5-sess");
        let step = s.evaluate(client_response("bob", "bobsecret", "N1", "C1").as_bytes(), &users()).unwrap();
        let Step::Complete { token, user } = step else { panic!() };
        assert_eq!(user, "bob");
        assert!(token.starts_with(b"rspauth="));
        assert!(s.evaluate(b"", &users()).is_err());
    }

    #[test]
    fn failures() {
        let try_with = |resp: String| {
            let mut s = DigestMd5Server::new("N1".into());
            s.evaluate(b"", &users()).unwrap();
            s.evaluate(resp.as_bytes(), &users()).unwrap_err()
        };
        assert!(try_with(client_response("bob", "wrong", "N1", "C1")).contains("Mismatched response"));
        assert!(try_with(client_response("eve", "x", "N1", "C1")).contains("cannot acquire password for eve"));
        assert!(try_with(client_response("bob", "bobsecret", "N2", "C1")).contains("Mismatched nonce"));
        assert!(try_with("garbage".into()).contains("Bad directive syntax"));
        assert!(try_with("username=\"bob".into()).contains("Bad directive syntax"));
        let other_uri = client_response("bob", "bobsecret", "N1", "C1").replace("zookeeper/zk-sasl-md5", "zookeeper/h");
        assert!(try_with(other_uri).contains("Mismatched URI"));
        let mut s = DigestMd5Server::new("N1".into());
        assert!(s.evaluate(b"x", &users()).is_err());
    }

    #[test]
    fn client_and_server_agree_on_the_quorum_service() {
        let (protocol, name) = ("zookeeper-quorum", "zk-quorum-sasl-md5");
        for (password, ok) in [("bobsecret", true), ("wrong", false)] {
            let mut server = DigestMd5Server::for_service("N1".into(), protocol, name);
            let mut client = DigestMd5Client::new("bob", password, "C\"1".into(), protocol, name);
            let Step::Challenge(c) = server.evaluate(b"", &users()).unwrap() else { panic!() };
            assert!(c.starts_with(b"realm=\"zk-quorum-sasl-md5\""));
            let response = client.evaluate(&c).unwrap().unwrap();
            assert!(!client.is_complete());
            match server.evaluate(&response, &users()) {
                Ok(Step::Complete { token, user }) => {
                    assert!(ok && user == "bob");
                    assert_eq!(client.evaluate(&token), Ok(None));
                    assert!(client.is_complete());
                }
                other => assert!(!ok && matches!(other, Err(ref e) if e.contains("Mismatched response")), "{other:?}"),
            }
        }
        // A server that does not know the password cannot fake the rspauth.
        let mut client = DigestMd5Client::new("bob", "bobsecret", "C1".into(), protocol, name);
        client.evaluate(b"realm=\"zk-quorum-sasl-md5\",nonce=\"N\",qop=\"auth\",algorithm=md5-sess").unwrap();
        assert!(client.evaluate(b"rspauth=00").is_err());
        let mut client = DigestMd5Client::new("bob", "bobsecret", "C1".into(), protocol, name);
        assert!(client.evaluate(b"nonce=\"N\",qop=\"auth-conf\",algorithm=md5-sess").is_err());
    }

    #[test]
    fn directive_syntax() {
        let d = directives(r#" a = "x,\"y" , b=1,c="" "#).unwrap();
        assert_eq!(d["a"], "x,\"y");
        assert_eq!(d["b"], "1");
        assert_eq!(d["c"], "");
        assert_eq!(latin1_or_utf8("é"), vec![0xe9]);
        assert_eq!(latin1_or_utf8("€"), "€".as_bytes());
    }
}
