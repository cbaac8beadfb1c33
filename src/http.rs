//! Just enough HTTP/1.x for the admin server and the metrics endpoint, as pure functions: parse a
//! request head, render a response. The sockets are in `node::ops_http`.
//!
//! What a request may be (RFC 9112, narrowed to what a scraper or `curl` sends):
//!
//! ```text
//! request  = request-line *( header-line ) CRLF        at most HEAD_BYTES_MAX bytes in all
//! request-line = method SP origin-form SP HTTP-version CRLF
//! header-line  = field-name ":" OWS field-value OWS CRLF
//! ```
//!
//! Bare LF is accepted where CRLF is expected, as most servers do. A request may not carry a body
//! (`Content-Length` other than 0, or any `Transfer-Encoding`): both endpoints are read-only, so a
//! body is refused (413) rather than read. Every response closes the connection.

use std::fmt::Write;

/// The most bytes a request head (request line and headers) may take, as Jetty's default 8 KiB
/// request header size, which ZooKeeper's admin server and metrics endpoint run with.
pub const HEAD_BYTES_MAX: usize = 8 * 1024;

/// A request head that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// As sent: methods are case-sensitive (`get` is not `GET`).
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    /// The query parameters in order, percent-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
}

impl Request {
    /// `GET`, or `HEAD` (answered as `GET` without the body).
    pub fn is_read(&self) -> bool {
        self.method == "GET" || self.method == "HEAD"
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why a request head is refused; each maps to the status it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// 400: not HTTP, or HTTP this parser does not accept (a folded header, a bad escape, ...).
    Malformed(&'static str),
    /// 431: no end of the head within [`HEAD_BYTES_MAX`] bytes (a huge header, an endless line).
    HeadTooLarge,
    /// 413: the request announces a body.
    BodyNotAllowed,
    /// 505: `HTTP/2.0`, `HTTP/0.9`, ...
    VersionNotSupported,
}

impl ParseError {
    pub fn status(&self) -> u16 {
        match self {
            ParseError::Malformed(_) => 400,
            ParseError::HeadTooLarge => 431,
            ParseError::BodyNotAllowed => 413,
            ParseError::VersionNotSupported => 505,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ParseError::Malformed(why) => why,
            ParseError::HeadTooLarge => "request header over 8 KiB",
            ParseError::BodyNotAllowed => "a request body is not accepted here",
            ParseError::VersionNotSupported => "only HTTP/1.0 and HTTP/1.1 are spoken here",
        }
    }
}

/// Parses the head at the start of `buf`, the bytes read so far: `Ok(None)` while the head is
/// incomplete and may still fit. Bytes after the head are ignored.
pub fn parse_head(buf: &[u8]) -> Result<Option<Request>, ParseError> {
    let Some(end) = head_end(buf) else {
        // Garbage that cannot become a request line is refused at once, not after 8 KiB.
        if let Some(first) = buf.split(|&b| b == b'\n').next() {
            let first = first.strip_suffix(b"\r").unwrap_or(first);
            let method = first.split(|&b| b == b' ').next().unwrap_or(&[]);
            if !method.iter().all(|&b| is_tchar(b)) || (first.len() < buf.len() && !first.contains(&b' ')) {
                return Err(ParseError::Malformed("not an HTTP request line"));
            }
        }
        return if buf.len() >= HEAD_BYTES_MAX { Err(ParseError::HeadTooLarge) } else { Ok(None) };
    };
    if end > HEAD_BYTES_MAX {
        return Err(ParseError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::Malformed("request head is not UTF-8"))?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed("request line is not 'METHOD target HTTP/1.x'"));
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(ParseError::Malformed("bad method"));
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(ParseError::VersionNotSupported),
        _ => return Err(ParseError::Malformed("bad HTTP version")),
    }
    if !target.starts_with('/') || !target.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ParseError::Malformed("request target is not an absolute path"));
    }
    for line in lines {
        if line.is_empty() {
            break; // the blank line that ends the head
        }
        if line.starts_with([' ', '\t']) {
            return Err(ParseError::Malformed("folded header lines are not accepted"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ParseError::Malformed("header line without a colon"));
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(ParseError::Malformed("bad header name"));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f) {
            return Err(ParseError::Malformed("control character in a header value"));
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::BodyNotAllowed);
        }
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<u64>() {
                Ok(0) => {}
                Ok(_) => return Err(ParseError::BodyNotAllowed),
                Err(_) => return Err(ParseError::Malformed("bad Content-Length")),
            }
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path, false).ok_or(ParseError::Malformed("bad percent-escape in the path"))?;
    let mut params = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k, true).ok_or(ParseError::Malformed("bad percent-escape in the query"))?;
        let v = percent_decode(v, true).ok_or(ParseError::Malformed("bad percent-escape in the query"))?;
        params.push((k, v));
    }
    Ok(Some(Request { method: method.to_string(), path, query: params }))
}

/// The length of the head (through its blank line), if `buf` holds all of it.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(i) = buf[at..].iter().position(|&b| b == b'\n') {
        let line_end = at + i;
        let line = &buf[at..line_end];
        if line.is_empty() || line == b"\r" {
            return (at > 0).then_some(line_end + 1);
        }
        at = line_end + 1;
    }
    None
}

/// RFC 9110 `tchar`: what a method or a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decodes `%XX` escapes (and `+` as a space in a query); None for a bad escape or non-UTF-8.
fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// A response; rendered with `Content-Length` and `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// For a 405: the methods the resource answers.
    pub allow: Option<&'static str>,
}

pub const JSON: &str = "application/json";
pub const HTML: &str = "text/html;charset=utf-8";
pub const TEXT: &str = "text/plain;charset=utf-8";
/// The Prometheus text exposition format.
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Response {
    pub fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response { status: 200, content_type, body: body.into(), allow: None }
    }

    /// An error with a one-line plain-text explanation.
    pub fn error(status: u16, why: &str) -> Response {
        Response {
            status,
            content_type: TEXT,
            body: format!("{status} {}: {why}\n", reason(status)).into(),
            allow: None,
        }
    }

    /// 405, naming the methods that work.
    pub fn method_not_allowed() -> Response {
        Response { allow: Some("GET, HEAD"), ..Response::error(405, "only GET and HEAD are answered here") }
    }

    /// The bytes on the wire; `head_only` answers a HEAD request (the headers `GET` would get).
    pub fn render(&self, head_only: bool) -> Vec<u8> {
        let mut head = String::with_capacity(160);
        let _ = write!(head, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let _ = write!(head, "Content-Type: {}\r\n", self.content_type);
        let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        if let Some(allow) = self.allow {
            let _ = write!(head, "Allow: {allow}\r\n");
        }
        head.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        let mut out = head.into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// The reason phrase of each status these endpoints answer with.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Request>, ParseError> {
        parse_head(s.as_bytes())
    }

    fn req(method: &str, path: &str, query: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn requests_that_scrapers_and_curl_send_parse() {
        let curl =
            "GET /commands/ruok HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
        assert_eq!(parse(curl), Ok(Some(req("GET", "/commands/ruok", &[]))));
        let prometheus = "GET /metrics HTTP/1.1\r\nHost: h:7000\r\nAccept: application/openmetrics-text;version=1.0.0,\
                          text/plain;version=0.0.4;q=0.5\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n";
        assert_eq!(parse(prometheus), Ok(Some(req("GET", "/metrics", &[]))));
        assert_eq!(parse("HEAD / HTTP/1.0\n\n"), Ok(Some(req("HEAD", "/", &[]))), "bare LF, no headers");
        assert_eq!(
            parse("GET /commands/set_trace_mask?traceMask=306&x=a%20b+c&flag HTTP/1.1\r\n\r\n"),
            Ok(Some(req("GET", "/commands/set_trace_mask", &[("traceMask", "306"), ("x", "a b c"), ("flag", "")])))
        );
        assert_eq!(parse("GET /commands/r%75ok HTTP/1.1\r\n\r\n"), Ok(Some(req("GET", "/commands/ruok", &[]))));
        assert_eq!(parse("POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap().unwrap().method, "POST");
        assert_eq!(parse("GET /x HTTP/1.1\r\n\r\nleftover body bytes"), Ok(Some(req("GET", "/x", &[]))));
    }

    #[test]
    fn incomplete_heads_wait_for_more() {
        for partial in ["", "G", "GET /metr", "GET /metrics HTTP/1.1\r\n", "GET /metrics HTTP/1.1\r\nHost: x\r\n"] {
            assert_eq!(parse(partial), Ok(None), "{partial:?}");
        }
    }

    #[test]
    fn oversized_heads_are_431_however_they_grow() {
        let huge_header = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(HEAD_BYTES_MAX));
        assert_eq!(parse(&huge_header), Err(ParseError::HeadTooLarge));
        let endless_line = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(HEAD_BYTES_MAX));
        assert_eq!(parse(&endless_line), Err(ParseError::HeadTooLarge));
        let endless_target = format!("GET /{}", "a".repeat(HEAD_BYTES_MAX));
        assert_eq!(parse(&endless_target), Err(ParseError::HeadTooLarge));
        let many_headers: String = (0..1000).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(parse(&format!("GET / HTTP/1.1\r\n{many_headers}\r\n")), Err(ParseError::HeadTooLarge));
        // Just under the bound is fine.
        let fits = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(HEAD_BYTES_MAX - 25));
        assert!(fits.len() <= HEAD_BYTES_MAX);
        assert!(matches!(parse(&fits), Ok(Some(_))));
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
    }

    #[test]
    fn bodies_are_refused() {
        assert_eq!(parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), Err(ParseError::BodyNotAllowed));
        assert_eq!(parse("POST /x HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"), Err(ParseError::BodyNotAllowed));
        assert_eq!(ParseError::BodyNotAllowed.status(), 413);
    }

    #[test]
    fn garbage_is_400_and_early() {
        for bad in [
            "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03",
            "\0\0\0\x2c\0\0\0\0",
            "GARBAGE\r\n\r\n",
            "GET\r\n\r\n",
            "GET / HTTP/1.1 extra\r\n\r\n",
            "GET http://host/x HTTP/1.1\r\n\r\n",
            "GET * HTTP/1.1\r\n\r\n",
            "GET / FTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET /%zz HTTP/1.1\r\n\r\n",
            "GET /%ff HTTP/1.1\r\n\r\n",
            "GET /x?a=%2 HTTP/1.1\r\n\r\n",
        ] {
            let got = parse(bad);
            assert!(matches!(got, Err(ParseError::Malformed(_))), "{bad:?} gave {got:?}");
        }
        assert_eq!(parse("GET / HTTP/2.0\r\n\r\n"), Err(ParseError::VersionNotSupported));
        // A TLS hello or a jute frame is refused on its first bytes, without waiting for 8 KiB;
        // a four-letter word could still be the start of a method, and waits (for the timeout).
        assert!(matches!(parse_head(b"\x16\x03\x01"), Err(ParseError::Malformed(_))));
        assert_eq!(parse("ruok"), Ok(None));
    }

    #[test]
    fn random_bytes_never_panic_and_never_pass_unbounded() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for round in 0..2000 {
            let len = (round * 7) % 300;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Mostly printable, so some inputs get deep into the parser.
                    if x.is_multiple_of(5) {
                        (x >> 8) as u8
                    } else {
                        b"GET /a?b=c%20 HTTP/1.1\r\n:Hx"[(x >> 16) as usize % 27]
                    }
                })
                .collect();
            if let Ok(Some(r)) = parse_head(&bytes) {
                assert!(r.path.starts_with('/'));
            }
        }
    }

    #[test]
    fn responses_close_and_say_their_length() {
        let r = Response::ok(JSON, "{}");
        assert_eq!(
            String::from_utf8(r.render(false)).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
             Cache-Control: no-store\r\nConnection: close\r\n\r\n{}"
        );
        let head = String::from_utf8(r.render(true)).unwrap();
        assert!(head.ends_with("Content-Length: 2\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"), "{head}");
        let r = Response::method_not_allowed();
        let text = String::from_utf8(r.render(false)).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && text.contains("\r\nAllow: GET, HEAD\r\n"));
        assert_eq!(Response::error(404, "no such page").body, b"404 Not Found: no such page\n");
    }
}
