//! Four-letter words against the real binary, held to what ZooKeeper 3.8 answered in the same
//! situation (`tests/testdata/fourlw/`, see its README for the capture and the placeholders).

mod common;

use common::{Server, TempDir};
use rookery::client::{Client, ClientError};
use rookery::codes::ErrorCode;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

const EPHEMERAL: i32 = 1;

fn fixture(name: &str) -> String {
    let path: PathBuf = common::root().join("tests/testdata/fourlw").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether `c` may be part of what `placeholder` matches.
fn in_class(placeholder: &str, c: char) -> bool {
    match placeholder {
        "N" => c.is_ascii_digit() || c == '-',
        "F" => c.is_ascii_digit() || matches!(c, '.' | 'E' | '-'),
        "X" => c.is_ascii_digit() || ('a'..='f').contains(&c),
        "ADDR" => !c.is_whitespace() && c != '[',
        "DATE" => c.is_ascii_alphanumeric() || c == ':' || c == ' ',
        "PATH" => !c.is_whitespace(),
        "VERSION" => c != ',',
        "ANY" => true,
        other => panic!("unknown placeholder {{{other}}}"),
    }
}

enum Tok<'a> {
    Lit(&'a str),
    Hole(&'a str),
}

fn tokens(template: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        let name = &rest[i + 1..i + j];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_uppercase()) {
            out.push(Tok::Lit(&rest[..i + 1]));
            rest = &rest[i + 1..];
            continue;
        }
        if i > 0 {
            out.push(Tok::Lit(&rest[..i]));
        }
        out.push(Tok::Hole(name));
        rest = &rest[i + j + 1..];
    }
    if !rest.is_empty() {
        out.push(Tok::Lit(rest));
    }
    out
}

/// Backtracking match of one line; a placeholder matches at least one character (`{ANY}` none).
fn line_matches(toks: &[Tok<'_>], s: &str) -> bool {
    match toks.first() {
        None => s.is_empty(),
        Some(Tok::Lit(l)) => s.strip_prefix(l).is_some_and(|rest| line_matches(&toks[1..], rest)),
        Some(Tok::Hole(h)) => {
            let min = usize::from(*h != "ANY");
            let mut ends: Vec<usize> = vec![0];
            for (i, c) in s.char_indices() {
                if !in_class(h, c) {
                    break;
                }
                ends.push(i + c.len_utf8());
            }
            ends.into_iter().rev().filter(|&e| e >= min).any(|e| line_matches(&toks[1..], &s[e..]))
        }
    }
}

/// Why `actual` does not have the layout of `template`, if it does not.
fn mismatch(template: &str, actual: &str) -> Option<String> {
    let t: Vec<&str> = template.split('\n').collect();
    let a: Vec<&str> = actual.split('\n').collect();
    for (i, (tl, al)) in t.iter().zip(&a).enumerate() {
        if !line_matches(&tokens(tl), al) {
            return Some(format!("line {}: expected {tl:?}, got {al:?}", i + 1));
        }
    }
    (t.len() != a.len())
        .then(|| format!("{} lines (with the text after the last newline) expected, got {}", t.len(), a.len()))
}

#[track_caller]
fn assert_layout(name: &str, actual: &str) {
    if let Some(why) = mismatch(&fixture(name), actual) {
        panic!("{name}: {why}\n--- got ---\n{actual}--- end ---");
    }
}

/// Sends raw bytes as the first bytes of a connection and reads the answer to EOF.
fn raw(s: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

fn keys(text: &str, sep: char) -> Vec<&str> {
    text.lines().filter_map(|l| l.split_once(sep).map(|(k, _)| k)).collect()
}

#[test]
fn matcher_understands_the_placeholders() {
    assert!(mismatch("a {N} b\n", "a -12 b\n").is_none());
    assert!(mismatch("a {N} b\n", "a 1.5 b\n").is_some());
    assert!(mismatch("x={F}", "x=1.0E-4").is_none());
    assert!(mismatch(" {ADDR}[0](q)", " /127.0.0.1:5[0](q)").is_none());
    assert!(mismatch("{N} expire at {DATE}:", "1 expire at Sun Nov 22 05:09:29 UTC 2026:").is_none());
    assert!(mismatch("k={ANY}", "k=").is_none());
    assert!(mismatch("a\n", "a").is_some(), "the last newline counts");
    assert!(mismatch("a\n", "a\n\n").is_some());
}

/// The capture sequence of the README, step by step, against one server.
#[test]
fn every_word_has_zookeepers_layout() {
    let s = Server::start("tickTime=2000");
    let mut got = BTreeMap::new();
    for cmd in
        ["ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dump", "dirs", "isro", "gtmk"]
    {
        got.insert(cmd, s.four(cmd));
    }
    for cmd in ["ruok", "srvr", "stat", "conf", "cons", "mntr", "wchs", "wchc", "wchp", "dump", "dirs", "isro", "gtmk"]
    {
        assert_layout(&format!("empty_{cmd}.txt"), &got[cmd]);
    }
    let zk_envi = fixture("envi_zookeeper.txt");
    let zk_keys: Vec<&str> =
        keys(&zk_envi, '=').into_iter().filter(|k| !k.starts_with("java.") && !k.starts_with("os.memory.")).collect();
    let envi = &got["envi"];
    assert!(envi.starts_with("Environment:\nzookeeper.version=3.9.2-rookery-"), "{envi}");
    let our_keys: Vec<&str> = keys(envi, '=').into_iter().filter(|k| !k.starts_with("rookery.")).collect();
    assert_eq!(our_keys, zk_keys, "{envi}");
    assert!(envi.ends_with('\n'));

    let mut a = Client::connect(s.addr, 10_000).unwrap();
    let mut b = Client::connect(s.addr, 20_000).unwrap();
    a.create("/app", b"hello", 0).unwrap();
    a.create("/app/x", b"1", 0).unwrap();
    a.create("/app/e1", b"", EPHEMERAL).unwrap();
    a.create("/app/e2", b"", EPHEMERAL).unwrap();
    b.create("/b_eph", b"", EPHEMERAL).unwrap();
    a.exists("/app", true).unwrap();
    a.get_data("/app/x", true).unwrap();
    a.get_children("/app", true).unwrap();
    b.exists("/app", true).unwrap();
    assert!(b.exists("/nonexistent", true).unwrap().is_none());
    b.get_children("/", true).unwrap();

    for cmd in ["srvr", "stat", "conf", "cons", "mntr", "wchs", "wchc", "wchp"] {
        let text = s.four(cmd);
        if cmd == "mntr" {
            // The data watches and the child watches: wchs counts only the first.
            assert!(text.contains("\nzk_watch_count\t6\n"), "{text}");
            assert!(text.contains("\nzk_ephemerals_count\t3\n") && text.contains("\nzk_znode_count\t10\n"));
            assert!(text.contains("\nzk_global_sessions\t2\n") && text.contains("\nzk_num_alive_connections\t3\n"));
            continue;
        }
        assert_layout(&format!("busy_{cmd}.txt"), &text);
    }
    // A connection's expiry bucket is 10 s wide; refresh A so that it shares one with the asker,
    // as it did in the capture, and retry should a boundary fall in between.
    let mut dump = String::new();
    for _ in 0..3 {
        a.exists("/app/x", false).unwrap();
        dump = s.four("dump");
        if mismatch(&fixture("busy_dump.txt"), &dump).is_none() {
            break;
        }
    }
    assert_layout("busy_dump.txt", &dump);
    assert_layout("busy_dirs.txt", &s.four("dirs"));
    s.four("envi");
    assert_layout("busy_crst.txt", &s.four("crst"));
    assert_layout("busy_cons_after_crst.txt", &s.four("cons"));
    assert_layout("busy_srst.txt", &s.four("srst"));
    assert_layout("busy_srvr_after_srst.txt", &s.four("srvr"));
}

#[test]
fn mntr_has_zookeepers_keys_in_order() {
    let s = Server::start("tickTime=2000");
    let text = s.four("mntr");
    let zk = fixture("empty_mntr.txt");
    assert_eq!(keys(&text, '\t'), keys(&zk, '\t'));
    assert_eq!(text.lines().count(), zk.lines().count(), "one tab-separated pair a line");
    let mut c = Client::connect(s.addr, 4000).unwrap();
    c.create("/a", b"12345", 0).unwrap();
    let text = s.four("mntr");
    let row = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("zk_{k}\t")))
            .unwrap_or_else(|| panic!("no zk_{k} in {text}"))
            .to_string()
    };
    assert_eq!(row("znode_count"), "6");
    assert_eq!(row("approximate_data_size"), (44 + 2 + 5).to_string());
    assert!(row("avg_latency").contains('.'), "a Java double");
    assert_eq!(row("server_state"), "standalone");
    assert!(row("version").starts_with("3.9.2-rookery-"));
}

/// Quotas as zkCli's setquota lays them out, then writes under them, as in the capture
/// `quota_mntr.txt` (ZooKeeper 3.8.0 with enforceQuota=true: `setquota -n 5 /q`, `setquota -N 2 /h`,
/// creates under both, two refused under /h). Per namespace: the limits and usage after the
/// gauges, the refusals after the counters.
#[test]
fn mntr_reports_quotas_per_namespace_as_zookeeper() {
    let s = Server::start("tickTime=2000\nenforceQuota=true");
    let mut c = Client::connect(s.addr, 10_000).unwrap();
    for p in ["/q", "/h", "/zookeeper/quota/q", "/zookeeper/quota/h"] {
        c.create(p, b"", 0).unwrap();
    }
    for (p, limits) in [
        ("/q", "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"),
        ("/h", "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=2"),
    ] {
        c.create(&format!("/zookeeper/quota{p}/zookeeper_limits"), limits.as_bytes(), 0).unwrap();
        c.create(&format!("/zookeeper/quota{p}/zookeeper_stats"), b"count=0,bytes=0", 0).unwrap();
    }
    for (p, data) in [("/q/a", "hello"), ("/q/b", "hello"), ("/q/x", ""), ("/q/x/z", ""), ("/h/a", "")] {
        c.create(p, data.as_bytes(), 0).unwrap();
    }
    for p in ["/h/b", "/h/c"] {
        let refused = c.create(p, b"", 0).unwrap_err();
        assert!(matches!(refused, ClientError::Keeper(ErrorCode::QuotaExceeded)), "{refused}");
    }
    let text = s.four("mntr");
    // Rookery keeps no per-namespace read/write summaries (zk_avg_<ns>_read_per_namespace ...).
    let zk = fixture("quota_mntr.txt");
    let kept = |k: &&str| !k.ends_with("_read_per_namespace") && !k.ends_with("_write_per_namespace");
    assert_eq!(keys(&text, '\t'), keys(&zk, '\t').into_iter().filter(kept).collect::<Vec<_>>());
    let quota_lines = |t: &str| t.lines().filter(|l| l.contains("_quota_")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(quota_lines(&text), quota_lines(&zk));
    // srst zeroes the refusals and keeps the namespace (as ZooKeeper 3.8 does, checked by hand).
    s.four("srst");
    assert!(s.four("mntr").contains("\nzk_h_quota_exceeded_error_per_namespace\t0\n"));
}

#[test]
fn conf_and_dirs_report_the_real_directories() {
    let s = Server::start("tickTime=2000");
    let mut c = Client::connect(s.addr, 4000).unwrap();
    c.create("/a", &[7u8; 1000], 0).unwrap();
    let conf = s.four("conf");
    let value = |k: &str| {
        conf.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {conf}"))
            .to_string()
    };
    assert_eq!(value("clientPort"), s.addr.port().to_string(), "the port listened on");
    let data = s.dir.0.join("data").join("version-2");
    assert_eq!(value("dataDir"), data.display().to_string());
    assert_eq!(value("dataLogDir"), data.display().to_string());
    let size: u64 = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert!(size > 0, "the log holds the create");
    // One directory here, so ZooKeeper's swap of the two sizes does not show.
    assert_eq!(value("dataDirSize"), size.to_string());
    assert_eq!(value("dataLogSize"), size.to_string());
    assert_eq!(s.four("dirs"), format!("datadir_size: {size}\nlogdir_size: {size}\n"));
}

#[test]
fn whitelist_refusals_and_odd_words_answer_as_zookeeper_does() {
    let s = Server::start("4lw.commands.whitelist=ruok, stat");
    assert_eq!(s.four("ruok"), "imok");
    assert!(s.four("stat").contains("\nClients:\n"));
    assert!(s.four("srvr").starts_with("Zookeeper version: "), "srvr is always enabled");
    for cmd in ["conf", "isro", "mntr", "dump", "hash", "gtmk", "stmk", "crst"] {
        assert_eq!(s.four(cmd), format!("{cmd} is not executed because it is not in the whitelist.\n"));
    }
    assert_eq!(
        raw(&s, &[0xff, 0xf4, 0xff, 0xfd]),
        b"telnet close is not executed because it is not in the whitelist.\n"
    );
    // Not a known word: a frame length far over jute.maxbuffer, so the connection just closes.
    assert_eq!(s.four("xxxx"), "");
    assert_eq!(s.four("RUOK"), "");

    let all = Server::start("");
    assert_eq!(raw(&all, &[0xff, 0xf4, 0xff, 0xfd]), b"", "whitelisted: closed without a word");
    assert_eq!(all.four("ruokabc"), "imok", "bytes after the word are ignored");
    assert_eq!(all.four("hash"), "");
    assert_eq!(all.four("gtmk"), "306");
    let mut stmk = b"stmk".to_vec();
    stmk.extend_from_slice(&4242i64.to_be_bytes());
    assert_eq!(raw(&all, &stmk), b"4242");
    assert_eq!(all.four("gtmk"), "4242");
    assert_eq!(raw(&all, b"stmk"), b"", "no mask: closed silently");
}

#[test]
fn default_whitelist_is_the_read_only_set() {
    let dir = TempDir::new("fourlw-default");
    let cfg = dir.0.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!("tickTime=2000\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n", dir.0.join("data").display()),
    )
    .unwrap();
    let s = Server::start_with(dir, &cfg);
    for cmd in ["ruok", "srvr", "stat", "conf", "cons", "envi", "mntr", "wchs", "wchc", "wchp", "dirs", "isro"] {
        let text = s.four(cmd);
        assert!(!text.contains("not in the whitelist"), "{cmd}: {text}");
        assert!(!text.is_empty(), "{cmd}");
    }
    for cmd in ["dump", "crst", "srst", "gtmk", "stmk", "hash"] {
        assert_eq!(s.four(cmd), format!("{cmd} is not executed because it is not in the whitelist.\n"));
    }
}

#[test]
fn cons_tracks_each_connection() {
    let s = Server::start("tickTime=2000");
    let mut c = Client::connect(s.addr, 6000).unwrap();
    c.create("/n", b"", 0).unwrap();
    c.get_data("/n", true).unwrap();
    let mut d = Client::connect(s.addr, 6000).unwrap();
    d.set_data("/n", b"x", -1).unwrap();
    // The watch event is a packet sent to c.
    assert!(c.next_event(Duration::from_secs(5)).unwrap().is_some());
    let cons = s.four("cons");
    let lines: Vec<&str> = cons.lines().collect();
    assert_eq!(lines.len(), 4, "two sessions, the asker, a blank line: {cons}");
    assert!(lines[0].contains("](queued=0,recved=3,sent=4,sid=0x") && lines[0].contains(",lop=GETD,"), "{cons}");
    assert!(lines[0].contains(",lcxid=0x2,lzxid=0x2,"), "{cons}");
    assert!(lines[1].contains("](queued=0,recved=2,sent=2,sid=0x") && lines[1].contains(",lop=SETD,"), "{cons}");
    assert!(lines[2].ends_with("[0](queued=0,recved=1,sent=0)"), "{cons}");
    assert!(cons.ends_with(")\n\n"));
    let srvr = s.four("srvr");
    assert!(srvr.contains("\nConnections: 3\n"), "{srvr}");
}
