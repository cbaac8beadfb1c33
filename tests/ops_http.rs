//! The metrics endpoint (`metricsProvider.httpPort`) and the admin server (`admin.serverPort`)
//! of the real binary: Prometheus' own text parser (`prometheus_client` from PyPI, in the
//! project's virtualenv) reads `/metrics`, Python's `json` reads every admin answer, the figures
//! follow what clients do, and hostile requests (huge or endless headers, garbage, bodies, slow
//! clients, too many connections) get their status codes without harming the server.
//!
//! Both endpoints listen on OS-chosen ports (`...Port=0`); the server logs where.

mod common;

use common::ensemble::{self, Ensemble};
use common::{wait_until, Server};
use rookery::client::Client;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ENDPOINTS: &str = "metricsProvider.httpPort=0\nmetricsProvider.httpHost=127.0.0.1\n\
                         admin.serverPort=0\nadmin.serverAddress=127.0.0.1";

/// How long any one HTTP exchange may take in these tests.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// The address logged in a line containing `marker` (`http://ADDR/...`).
fn logged_addr(log: &str, marker: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let url = line.split("http://").nth(1)?;
    url.split('/').next()?.parse().ok()
}

/// The endpoints' addresses, from a server log.
fn endpoints(log: impl Fn() -> String) -> (SocketAddr, SocketAddr) {
    let mut found = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let text = log();
            found = logged_addr(&text, "serving Prometheus metrics on")
                .zip(logged_addr(&text, "serving the admin server on"));
            found.is_some()
        }),
        "the server did not log its HTTP endpoints:\n{}",
        log()
    );
    found.unwrap()
}

/// An HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no end of head in {text:?}"));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {head:?}"));
    Reply { status, head: head.to_string(), body: body.to_string() }
}

/// Sends `request` as it is and reads the answer to the end.
fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_reply(&raw)
}

/// The status of `GET path`, if an answer came (a refused connection may be reset instead).
fn try_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(HTTP_TIMEOUT)).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes()).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    String::from_utf8_lossy(&raw).split(' ').nth(1)?.parse().ok()
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rookery-test\r\n\r\n").as_bytes())
}

/// The venv's interpreter, with `prometheus_client`; a missing venv fails the test with what
/// to run.
fn python() -> PathBuf {
    let py = common::root().join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run `make deps` (scripts/deps.sh)", py.display());
    let ok = Command::new(&py)
        .args(["-c", "import prometheus_client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "prometheus_client is not installed in .venv: run `make deps` (scripts/deps.sh)");
    py
}

/// Runs a Python script with `input` on stdin; its stdout, or a panic with its stderr.
fn run_python(script: &str, input: &[u8]) -> String {
    let mut child = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "python failed:\n{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Parses the exposition with `prometheus_client`'s parser, checks every family (a type, at
/// least one sample; histograms cumulative with `+Inf` equal to `_count`), and returns each
/// sample as `name{labels}` → value.
const PROMETHEUS_CHECK: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
assert families, "no metric families"
names = set()
for f in families:
    assert f.name not in names, "family %s twice" % f.name
    names.add(f.name)
    assert f.type in ("gauge", "counter", "histogram", "summary"), (f.name, f.type)
    assert f.samples, "family %s has no samples" % f.name
    if f.type == "histogram":
        buckets = [s for s in f.samples if s.name.endswith("_bucket")]
        counts = [s.value for s in buckets]
        assert counts == sorted(counts), "%s buckets are not cumulative" % f.name
        assert buckets[-1].labels["le"] == "+Inf", f.name
        count = [s.value for s in f.samples if s.name == f.name + "_count"][0]
        assert buckets[-1].value == count, "%s: +Inf bucket != _count" % f.name
    for s in f.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, float(s.value)))
"#;

/// Scrapes `/metrics` and parses it with Prometheus' parser.
fn scrape(metrics: SocketAddr) -> BTreeMap<String, f64> {
    let r = get(metrics, "/metrics");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    run_python(PROMETHEUS_CHECK, r.body.as_bytes())
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples.get(key).unwrap_or_else(|| panic!("no {key} in {samples:#?}"))
}

#[test]
fn metrics_parse_with_prometheus_client_and_follow_activity() {
    let server = Server::start(ENDPOINTS);
    let (metrics, _) = endpoints(|| server.log());
    let before = scrape(metrics);
    assert_eq!(value(&before, "server_state{state=\"standalone\"}"), 1.0);
    assert_eq!(value(&before, "znode_count{}"), 5.0, "root, /zookeeper, its quota and config, counted as ZooKeeper");
    assert!(!before.keys().any(|k| k.starts_with("quorum_size")), "standalone: no quorum figures");
    assert!(value(&before, "process_resident_memory_bytes{}") > 0.0);
    assert!(value(&before, "process_open_fds{}") > 0.0);

    let mut c = Client::connect(server.addr, 10_000).unwrap();
    for i in 0..20 {
        c.create(&format!("/m{i}"), b"x", 0).unwrap();
    }
    c.create("/eph", b"", 1).unwrap();
    c.get_data("/m0", true).unwrap();
    c.exists("/m1", true).unwrap();
    c.get_children("/", true).unwrap();
    let after = scrape(metrics);
    assert_eq!(value(&after, "znode_count{}"), 26.0);
    assert_eq!(value(&after, "ephemerals_count{}"), 1.0);
    assert_eq!(value(&after, "watch_count{}"), 3.0);
    assert_eq!(value(&after, "global_sessions{}"), 1.0);
    assert_eq!(value(&after, "num_alive_connections{}"), 1.0);
    assert_eq!(value(&after, "outstanding_requests{}"), 0.0);
    // Prometheus' parser names counter samples `<name>_total` and histogram ones by suffix.
    let writes = value(&after, "updatelatency_count{}") - value(&before, "updatelatency_count{}");
    assert_eq!(writes, 22.0, "the session and 21 creates");
    assert_eq!(value(&after, "readlatency_count{}") - value(&before, "readlatency_count{}"), 3.0);
    assert_eq!(value(&after, "updatelatency_bucket{le=\"+Inf\"}"), value(&after, "updatelatency_count{}"));
    assert!(value(&after, "fsynctime_count{}") >= 1.0, "every write was fsynced");
    assert!(value(&after, "fsynctime_sum{}") > 0.0);
    assert_eq!(value(&after, "digest_mismatches_count_total{}"), 0.0);
    // The same figures as mntr's.
    let mntr = server.four("mntr");
    for key in ["znode_count", "watch_count", "ephemerals_count", "global_sessions"] {
        let line = format!("zk_{key}\t{}\n", value(&after, &format!("{key}{{}}")) as u64);
        assert!(mntr.contains(&line), "{line:?} not in mntr:\n{mntr}");
    }
    // srst resets mntr's statistics, not the histograms.
    assert!(server.four("srst").starts_with("Server stats reset"));
    let reset = scrape(metrics);
    assert_eq!(value(&reset, "max_latency{}"), 0.0);
    assert_eq!(value(&reset, "updatelatency_count{}"), value(&after, "updatelatency_count{}"));
}

/// Every admin command's answer, read by Python's `json`: `name command error` per answer.
const JSON_CHECK: &str = r#"
import json, sys
for body in sys.stdin.read().split("\0"):
    doc = json.loads(body)
    assert isinstance(doc, dict), body
    assert "command" in doc and "error" in doc, body
    print("%s\t%s" % (doc["command"], doc["error"]))
"#;

#[test]
fn admin_commands_answer_json_that_python_reads() {
    let server = Server::start(ENDPOINTS);
    let (_, admin) = endpoints(|| server.log());
    let mut c = Client::connect(server.addr, 10_000).unwrap();
    c.create("/app", b"hello", 0).unwrap();
    c.create("/app/e1", b"", 1).unwrap();
    c.get_data("/app", true).unwrap();

    let listing = get(admin, "/commands");
    assert_eq!(listing.status, 200);
    assert!(listing.header("Content-Type").unwrap().starts_with("text/html"));
    assert_eq!(get(admin, "/commands/").body, listing.body);
    let names: Vec<String> = listing
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("<a href=\"/commands/"))
        .map(|l| l.split('"').next().unwrap().to_string())
        .collect();
    assert!(names.len() >= 20 && names.contains(&"monitor".to_string()), "{names:?}");
    let mut asked: Vec<String> = names.clone();
    asked.extend(
        ["ruok", "srvr", "stat", "mntr", "cons", "wchs", "wchc", "wchp", "envi", "conf", "isro", "dump", "dirs"]
            .map(String::from),
    );
    asked.push("nosuch".into());
    let mut bodies = Vec::new();
    for name in &asked {
        let r = get(admin, &format!("/commands/{name}"));
        assert_eq!(r.status, 200, "{name}: {r:?}");
        assert_eq!(r.header("Content-Type"), Some("application/json"), "{name}");
        assert_eq!(r.header("Connection"), Some("close"), "{name}");
        bodies.push(r.body);
    }
    let checked = run_python(JSON_CHECK, bodies.join("\0").as_bytes());
    let answers: Vec<(&str, &str)> = checked.lines().map(|l| l.split_once('\t').unwrap()).collect();
    assert_eq!(answers.len(), asked.len());
    for ((command, error), name) in answers.iter().zip(&asked) {
        match name.as_str() {
            "nosuch" => assert_eq!((*command, *error), ("nosuch", "Unknown command: nosuch")),
            "leader" => assert_eq!(*error, "server is not initialized", "standalone, as ZooKeeper"),
            "set_trace_mask" => assert_eq!(*error, "setTraceMask requires long traceMask argument"),
            _ => assert_eq!(*error, "None", "{name} ({command}) failed"),
        }
    }
    assert_eq!(get(admin, "/commands/ruok").body, "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}");
    assert!(get(admin, "/commands/srvr").body.contains("\"command\" : \"server_stats\""));
    let monitor = get(admin, "/commands/monitor").body;
    assert!(
        monitor.contains("\n  \"znode_count\" : 7,\n") && monitor.contains("\n  \"ephemerals_count\" : 1,\n"),
        "{monitor}"
    );
    let watches = get(admin, "/commands/watches_by_path").body;
    assert!(watches.contains("\"/app\" : [ "), "{watches}");
    let stmk = get(admin, "/commands/set_trace_mask?traceMask=4");
    assert!(stmk.body.contains("\"tracemask\" : 4,"), "{stmk:?}");
    assert_eq!(server.four("gtmk"), "4", "the admin server and the four-letter words share the mask");
    // The admin requests are not client connections and not client packets.
    let srvr = server.four("srvr");
    assert!(srvr.contains("Connections: 2\n"), "{srvr}");
    // HEAD answers the headers GET would get, and no body.
    let head = exchange(admin, b"HEAD /commands/ruok HTTP/1.1\r\n\r\n");
    assert_eq!((head.status, head.header("Content-Length"), head.body.as_str()), (200, Some("42"), ""));
}

/// Requests no client should send, on either endpoint: each gets its status code, and
/// afterwards the endpoint, the client port and four-letter words all still answer.
#[test]
fn hostile_requests_get_their_status_and_harm_nothing() {
    let server = Server::start(ENDPOINTS);
    let (metrics, admin) = endpoints(|| server.log());
    for (addr, path) in [(metrics, "/metrics"), (admin, "/commands/ruok")] {
        let huge_header = format!("GET {path} HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
        assert_eq!(exchange(addr, huge_header.as_bytes()).status, 431, "{path}: huge header");
        let many_headers: String = (0..2000).map(|i| format!("X-{i}: v\r\n")).collect();
        let request = format!("GET {path} HTTP/1.1\r\n{many_headers}\r\n");
        assert_eq!(exchange(addr, request.as_bytes()).status, 431, "{path}: many headers");
        assert_eq!(endless_header_line(addr, path), 431, "{path}: endless header line");
        for garbage in [&b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..], b"\0\0\0\x2c\0\0\0\0", b"GARBAGE\r\n\r\n"]
        {
            assert_eq!(exchange(addr, garbage).status, 400, "{path}: {garbage:?}");
        }
        assert_eq!(exchange(addr, format!("GET {path} HTTP/2.0\r\n\r\n").as_bytes()).status, 505);
        let with_body = format!("POST {path} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(exchange(addr, with_body.as_bytes()).status, 413, "{path}: a body");
        let chunked = format!("POST {path} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(exchange(addr, chunked.as_bytes()).status, 413, "{path}: chunked");
        let post = exchange(addr, format!("POST {path} HTTP/1.1\r\n\r\n").as_bytes());
        assert_eq!((post.status, post.header("Allow")), (405, Some("GET, HEAD")), "{path}: POST");
        assert_eq!(exchange(addr, format!("DELETE {path} HTTP/1.0\r\n\r\n").as_bytes()).status, 405);
        assert_eq!(get(addr, "/nowhere").status, 404);
        assert_eq!(get(addr, "/").status, 404);
        // A client that connects and sends nothing (or half a request) does not hold up others.
        let mut stalled: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        stalled[0].write_all(b"GET /metr").unwrap();
        let started = Instant::now();
        assert_eq!(get(addr, path).status, 200);
        assert!(started.elapsed() < Duration::from_secs(3), "a stalled client delayed another");
        stalled.clear();
        assert_eq!(get(addr, path).status, 200, "{path} answers after all that");
    }
    // The server itself was never disturbed.
    let mut c = Client::connect(server.addr, 10_000).unwrap();
    c.create("/still-here", b"", 0).unwrap();
    assert!(server.four("ruok") == "imok");
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// Sends a header line that never ends, from one thread, while reading the answer on another.
fn endless_header_line(addr: SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let start = format!("GET {path} HTTP/1.1\r\nX-Endless: ");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(start.as_bytes());
        let chunk = [b'a'; 4096];
        // Stops when the server closes (or after 16 MiB): it must not read forever.
        for _ in 0..4096 {
            if writer.write_all(&chunk).is_err() {
                return true;
            }
        }
        false
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 1024];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let status = parse_reply(&raw).status;
    let _ = s.shutdown(std::net::Shutdown::Both);
    assert!(sender.join().unwrap(), "the server kept reading an endless header");
    status
}

/// More connections than the endpoint serves at once get a 503; the others, once they time
/// out (408), free their places.
#[test]
fn connections_beyond_the_bound_are_refused_until_places_free_up() {
    let server = Server::start(ENDPOINTS);
    let (metrics, _) = endpoints(|| server.log());
    let held: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(metrics).unwrap()).collect();
    // The accept thread counts a connection once it has handed it to its thread.
    assert!(
        wait_until(Duration::from_secs(5), || try_status(metrics, "/metrics") == Some(503)),
        "the ninth connection was served"
    );
    let started = Instant::now();
    for mut h in held {
        h.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
        let mut raw = Vec::new();
        let _ = h.read_to_end(&mut raw);
        assert_eq!(parse_reply(&raw).status, 408);
    }
    assert!(started.elapsed() < Duration::from_secs(8), "the request timeout is 5 s");
    assert!(wait_until(Duration::from_secs(5), || try_status(metrics, "/metrics") == Some(200)));
}

/// On an ensemble: mntr carries ZooKeeper's quorum gauges with real values, and `/metrics` and
/// the admin server report the roles.
#[test]
fn ensemble_members_report_their_quorum_figures() {
    let extra = "metricsProvider.httpPort=0\nmetricsProvider.httpHost=127.0.0.1\nadmin.serverPort=0\n\
                 admin.serverAddress=127.0.0.1";
    let mut e = Ensemble::prepare_with_observers(4, &[4], extra);
    e.start_all();
    let leader = e.wait_for_leader_among(&[1, 2, 3], Duration::from_secs(30));
    let ids = e.ids();
    e.wait_for_mode(4, Some("observer"), Duration::from_secs(30));
    let mut c = e.client(leader);
    for i in 0..5 {
        c.create(&format!("/n{i}"), &vec![b'x'; i * 100], 0).unwrap();
    }
    e.wait_for_same_zxid(&ids, 0, Duration::from_secs(30));
    let mntr = |id| ensemble::four(e.addr(id), "mntr").unwrap_or_default();
    let field = |text: &str, key: &str| -> Option<String> {
        text.lines().find_map(|l| l.strip_prefix(&format!("zk_{key}\t")).map(str::to_string))
    };
    // Followers and the observer are synchronised once they serve; the leader counts them.
    let mut m = String::new();
    assert!(
        wait_until(Duration::from_secs(10), || {
            m = mntr(leader);
            field(&m, "synced_followers").as_deref() == Some("2")
                && field(&m, "synced_observers").as_deref() == Some("1")
        }),
        "leader mntr:\n{m}"
    );
    assert_eq!(field(&m, "peer_state").as_deref(), Some("leading - broadcast"));
    assert_eq!(field(&m, "learners").as_deref(), Some("3"));
    assert_eq!(field(&m, "quorum_size").as_deref(), Some("3"));
    assert_eq!(field(&m, "pending_syncs").as_deref(), Some("0"));
    assert!(field(&m, "proposal_count").unwrap().parse::<u64>().unwrap() >= 6, "the session and 5 creates");
    assert!(field(&m, "max_proposal_size").unwrap().parse::<u64>().unwrap() > 400, "{m}");
    assert!(field(&m, "leader_uptime").unwrap().parse::<u64>().unwrap() > 0);
    let elections: u64 = field(&m, "cnt_election_time").unwrap().parse().unwrap();
    let looks: u64 = field(&m, "looking_count").unwrap().parse().unwrap();
    assert!(elections >= 1 && looks >= elections, "{elections} elections, {looks} times looking");
    for id in ids.iter().copied().filter(|&id| id != leader) {
        let m = mntr(id);
        let expected = if id == 4 { "observing - broadcast" } else { "following - broadcast" };
        assert_eq!(field(&m, "peer_state").as_deref(), Some(expected), "server {id}:\n{m}");
        assert_eq!(field(&m, "quorum_size").as_deref(), Some("3"));
        assert_eq!(field(&m, "synced_followers"), None, "only a leader has leader gauges");
        if id == 4 {
            assert_eq!(field(&m, "observer_master_id"), Some(leader.to_string()));
        }
    }
    let log = |id: u64| std::fs::read_to_string(e.member(id).log_path()).unwrap_or_default();
    let (metrics, admin) = endpoints(|| log(leader));
    let samples = scrape(metrics);
    assert_eq!(value(&samples, "server_state{state=\"leader\"}"), 1.0);
    assert_eq!(value(&samples, "synced_followers{}"), 2.0);
    assert_eq!(value(&samples, "quorum_size{}"), 3.0);
    assert_eq!(value(&samples, "looking_count_total{}"), looks as f64);
    assert_eq!(value(&samples, "election_time_count{}"), elections as f64);
    let lead = get(admin, "/commands/leader").body;
    assert!(lead.contains("\"is_leader\" : true") && lead.contains(&format!("\"leader_id\" : {leader},")), "{lead}");
    let zab = get(admin, "/commands/zabstate").body;
    assert!(zab.contains("\"zabstate\" : \"broadcast\""), "{zab}");
    let voting = get(admin, "/commands/voting_view").body;
    assert!(voting.contains("\"3\" : {") && !voting.contains("\"4\" : {"), "observers do not vote: {voting}");
    let follower = ids.iter().copied().find(|&id| id != leader && id != 4).unwrap();
    let (metrics, _) = endpoints(|| log(follower));
    let samples = scrape(metrics);
    assert_eq!(value(&samples, "server_state{state=\"follower\"}"), 1.0);
    assert!(!samples.keys().any(|k| k.starts_with("synced_followers")));
}
