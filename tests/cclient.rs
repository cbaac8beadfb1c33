//! Rookery driven by Apache ZooKeeper's C client: its shell `cli_mt` (libzookeeper_mt 3.8, from
//! Debian's zookeeper-bin) fed on stdin, and, for multi, which `cli_mt` lacks, a small program on
//! the same library (`tests/cli/multi.c`, compiled here with `cc`).
//!
//! The expected lines are what the same commands print against Apache ZooKeeper 3.8 (times
//! normalized by `cli::normalize_c`). `ROOKERY_CLI_REFERENCE=zookeeper cargo test --test cclient`
//! runs every test against the real server instead; they must pass both ways.

mod cli;
mod common;

use cli::proxy::Proxy;
use cli::{CliMt, Target, ZkCli, STEP_TIMEOUT};
use std::process::Command;
use std::time::Duration;

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The lines `dumpStat` prints, times normalized.
fn stat(czxid: u64, mzxid: u64, version: i32, aversion: i32, owner: &str) -> Vec<String> {
    vec![
        "\tctime = <time>".into(),
        format!("\tczxid={czxid:x}"),
        "\tmtime=<time>".into(),
        format!("\tmzxid={mzxid:x}"),
        format!("\tversion={version:x}\taversion={aversion:x}"),
        format!("\tephemeralOwner = {owner}"),
    ]
}

/// What `get <path>` prints for data `value` (the C shell writes the raw bytes, then "\nStat:").
fn get_out(path: &str, rc: i32, value: Option<&str>, st: Vec<String>) -> Vec<String> {
    let mut v = vec!["time = <ms>".to_string(), format!("{path}: rc = {rc}")];
    match value {
        Some(val) => {
            v.push(format!(" value_len = {}", val.len()));
            v.push(val.to_string());
            v.push("Stat:".into());
            v.extend(st);
        }
        None => {
            v.push(String::new());
            v.push("Stat:".into());
            v.push("null".into());
        }
    }
    v
}

/// The session id as `dumpStat` prints an ephemeralOwner (`%llx`, no 0x).
fn owner_hex(session: &str) -> String {
    session.trim_start_matches("0x").to_string()
}

#[test]
fn crud_with_the_c_client() {
    let s = Target::start("");
    let mut c = CliMt::connect(&s.hostport());

    assert_eq!(c.cmd("create /c1"), ["Creating [/c1] node (mode: 0)", "[/c1]: rc = 0", "\tname = /c1"]);
    assert_eq!(c.cmd("create /c1"), ["Creating [/c1] node (mode: 0)", "[/c1]: rc = -110"]);
    assert_eq!(c.cmd("create /none/c"), ["Creating [/none/c] node (mode: 0)", "[/none/c]: rc = -101"]);
    assert_eq!(
        c.cmd("create2 /c2"),
        [lines(&["Creating [/c2] node (mode: 0)", "[/c2]: rc = 0", "\tname = /c2"]), stat(5, 5, 0, 0, "0")].concat()
    );
    assert_eq!(c.cmd("get /c1"), get_out("/c1", 0, Some("new"), stat(2, 2, 0, 0, "0")));
    assert_eq!(c.cmd("get /none"), get_out("/none", -101, None, vec![]));
    // cli_mt's get leaves a watch; a change made by this session fires it before the reply.
    assert_eq!(
        c.cmd("set /c1 hello"),
        [
            lines(&["Watcher CHANGED_EVENT state = CONNECTED_STATE for path /c1", "/c1: rc = 0 Stat:"]),
            stat(2, 6, 1, 0, "0")
        ]
        .concat()
    );
    assert_eq!(c.cmd("get /c1"), get_out("/c1", 0, Some("hello"), stat(2, 6, 1, 0, "0")));
    assert_eq!(c.cmd("set /none x"), ["/none: rc = -101 Stat:", "null"]);
    assert_eq!(c.cmd("create /c1/a"), ["Creating [/c1/a] node (mode: 0)", "[/c1/a]: rc = 0", "\tname = /c1/a"]);
    assert_eq!(c.cmd("ls /c1"), ["time = <ms>", "/c1: rc = 0", "\ta", "time = <ms>"]);
    assert_eq!(
        c.cmd("ls2 /c1"),
        [lines(&["time = <ms>", "/c1: rc = 0", "\ta", "time = <ms>"]), stat(2, 6, 1, 0, "0")].concat()
    );
    assert_eq!(c.cmd("ls /none"), ["time = <ms>", "/none: rc = -101", "time = <ms>"]);
    assert_eq!(c.cmd("delete /c1"), ["/c1: rc = -111"]);
    // The ls watch on /c1 fires for the child's deletion.
    assert_eq!(c.cmd("delete /c1/a"), ["Watcher CHILD_EVENT state = CONNECTED_STATE for path /c1", "/c1/a: rc = 0"]);
    assert_eq!(c.cmd("delete /c1/a"), ["/c1/a: rc = -101"]);
    assert_eq!(c.cmd("sync /c1"), ["[/c1]: rc = 0", "\tname = /c1"]);
    // exists (synchronous in cli_mt) prints only errors.
    assert_eq!(c.cmd("exists /c1"), [] as [String; 0]);
    assert_eq!(c.cmd("exists /none"), ["Error -101 for /none"]);
    assert_eq!(c.cmd("get bad"), ["Path must start with /, found: bad"]);
    // Asynchronous variants ("a" prefix) print the same through the completion thread.
    assert_eq!(c.cmd("aget /c2"), get_out("/c2", 0, Some("new"), stat(5, 5, 0, 0, "0")));
    let rest = c.quit();
    assert!(rest.contains(&"Quitting...".to_string()), "{rest:?}");
}

#[test]
fn ephemeral_and_sequential_nodes() {
    let s = Target::start("");
    let mut c = CliMt::connect(&s.hostport());
    let owner = owner_hex(&c.session);
    assert_eq!(c.cmd("create /p"), ["Creating [/p] node (mode: 0)", "[/p]: rc = 0", "\tname = /p"]);
    assert_eq!(
        c.cmd("create2 +e /p/eph"),
        [lines(&["Creating [/p/eph] node (mode: 1)", "[/p/eph]: rc = 0", "\tname = /p/eph"]), stat(3, 3, 0, 0, &owner)]
            .concat()
    );
    assert_eq!(
        c.cmd("create +s /p/seq-"),
        ["Creating [/p/seq-] node (mode: 2)", "[/p/seq-]: rc = 0", "\tname = /p/seq-0000000001"]
    );
    assert_eq!(
        c.cmd("create +es /p/es-"),
        ["Creating [/p/es-] node (mode: 3)", "[/p/es-]: rc = 0", "\tname = /p/es-0000000002"]
    );
    assert_eq!(c.cmd("create +e /p/eph/kid"), ["Creating [/p/eph/kid] node (mode: 1)", "[/p/eph/kid]: rc = -108"]);
    // Children come back in the server's order, which ZooKeeper does not define: compare sets.
    let mut ls = c.cmd("ls /p");
    ls.sort();
    assert_eq!(ls, ["\teph", "\tes-0000000002", "\tseq-0000000001", "/p: rc = 0", "time = <ms>", "time = <ms>"]);

    // Another session watches the ephemerals go when this one closes.
    let mut other = CliMt::connect(&s.hostport());
    assert_ne!(other.session, c.session);
    assert_eq!(other.cmd("exists /p/eph"), [] as [String; 0]);
    assert_eq!(other.cmd("exists /p/es-0000000002"), [] as [String; 0]);
    c.quit();
    let mut got = vec![
        other.wait_for_any(&[
            "Watcher DELETED_EVENT state = CONNECTED_STATE for path /p/eph",
            "Watcher DELETED_EVENT state = CONNECTED_STATE for path /p/es-0000000002",
        ]),
        other.wait_for_any(&[
            "Watcher DELETED_EVENT state = CONNECTED_STATE for path /p/eph",
            "Watcher DELETED_EVENT state = CONNECTED_STATE for path /p/es-0000000002",
        ]),
    ];
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(other.cmd("ls /p"), ["time = <ms>", "/p: rc = 0", "\tseq-0000000001", "time = <ms>"]);
    other.quit();
}

/// Container and TTL nodes through the C client's create2, whose reply carries the Stat: the
/// owner field reads 0 for both in ZooKeeper (the kind is encoded there only internally).
#[test]
fn container_and_ttl_nodes() {
    let s = Target::start("extendedTypesEnabled=true");
    let mut c = CliMt::connect(&s.hostport());
    assert_eq!(
        c.cmd("create2 +c /cont"),
        [lines(&["Creating [/cont] node (mode: 4)", "[/cont]: rc = 0", "\tname = /cont"]), stat(2, 2, 0, 0, "0")]
            .concat()
    );
    assert_eq!(
        c.cmd("create2 +t=60000 /ttl"),
        [lines(&["Creating [/ttl] node (mode: 5)", "[/ttl]: rc = 0", "\tname = /ttl"]), stat(3, 3, 0, 0, "0")].concat()
    );
    assert_eq!(c.cmd("create +t=0 /bad"), ["ttl value must be a positive integer"]);
    c.quit();
}

#[test]
fn ttl_needs_extended_types() {
    let s = Target::start("");
    let mut c = CliMt::connect(&s.hostport());
    assert_eq!(c.cmd("create +t=5000 /ttl"), ["Creating [/ttl] node (mode: 5)", "[/ttl]: rc = -6"]);
    c.quit();
}

#[test]
fn config_node_and_reconfig() {
    let s = Target::start("");
    let mut c = CliMt::connect(&s.hostport());
    // /zookeeper/config: empty in standalone, never written, aclVersion -1.
    let mut want = vec!["time = <ms>".to_string(), "/zookeeper/config: rc = 0".into(), " value_len = 0".into()];
    want.extend(lines(&["", "Stat:"]));
    want.extend(stat(0, 0, 0, -1, "0"));
    assert_eq!(c.cmd("config"), want);
    // reconfigEnabled defaults to false: ReconfigDisabled (-123).
    assert_eq!(
        c.cmd("reconfig -add server.5=127.0.0.1:2888:3888;2181"),
        ["time = <ms>", "-add server.5=127.0.0.1:2888:3888;2181: rc = -123", "", "Stat:", "null"]
    );
    c.quit();
}

#[test]
fn watches_fire_for_another_clients_changes() {
    let s = Target::start("");
    let mut a = CliMt::connect(&s.hostport());
    let mut b = CliMt::connect(&s.hostport());

    // exists on a missing node: fires on creation.
    assert_eq!(a.cmd("exists /w"), ["Error -101 for /w"]);
    b.cmd("create /w");
    a.expect_line("Watcher CREATED_EVENT state = CONNECTED_STATE for path /w");
    // exists on the node: fires on a data change, once.
    assert_eq!(a.cmd("exists /w"), [] as [String; 0]);
    b.cmd("set /w v1");
    a.expect_line("Watcher CHANGED_EVENT state = CONNECTED_STATE for path /w");
    b.cmd("set /w v2");
    // wexists registers a watcher of its own (the same callback prints).
    assert_eq!(a.cmd("wexists /w"), [] as [String; 0]);
    b.cmd("set /w v3");
    a.expect_line("Watcher CHANGED_EVENT state = CONNECTED_STATE for path /w");
    // ls leaves a child watch; get a data watch; a deletion fires both kinds.
    assert_eq!(a.cmd("ls /w"), ["time = <ms>", "/w: rc = 0", "time = <ms>"]);
    b.cmd("create /w/kid");
    a.expect_line("Watcher CHILD_EVENT state = CONNECTED_STATE for path /w");
    assert_eq!(a.cmd("get /w").len(), 11);
    b.cmd("delete /w/kid");
    b.cmd("delete /w");
    a.expect_line("Watcher DELETED_EVENT state = CONNECTED_STATE for path /w");
    // Nothing else was pending: the one-shot watches are all spent.
    assert_eq!(a.cmd("sync /"), ["[/]: rc = 0", "\tname = /"]);
    a.quit();
    b.quit();
}

#[test]
fn addauth_digest_grants_access() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("addauth digest alice:secret"), [] as [String; 0]);
    assert_eq!(z.cmd("create /secret shh auth::cdrwa"), ["Created /secret"]);
    assert_eq!(z.cmd("create /open x"), ["Created /open"]);
    assert_eq!(z.cmd("setAcl /open auth::cdrwa,world:anyone:r"), [] as [String; 0]);
    z.quit();

    let mut c = CliMt::connect(&s.hostport());
    assert_eq!(c.cmd("get /secret"), get_out("/secret", -102, None, vec![]));
    assert_eq!(c.cmd("set /open x"), ["/open: rc = -102 Stat:", "null"]);
    assert_eq!(c.cmd("addauth digest alice:wrong"), [] as [String; 0]);
    assert_eq!(c.cmd("get /secret"), get_out("/secret", -102, None, vec![]));
    assert_eq!(c.cmd("addauth digest alice:secret"), [] as [String; 0]);
    assert_eq!(c.cmd("get /secret"), get_out("/secret", 0, Some("shh"), stat(2, 2, 0, 0, "0")));
    assert_eq!(c.cmd("set /open y"), [lines(&["/open: rc = 0 Stat:"]), stat(3, 8, 1, 1, "0")].concat());
    c.quit();
}

#[test]
fn unknown_auth_scheme_ends_the_session() {
    let s = Target::start("");
    let mut c = CliMt::connect(&s.hostport());
    c.send_raw("addauth nosuchscheme whatever");
    c.expect_line("Watcher SESSION_EVENT state = AUTH_FAILED_STATE");
    c.expect_line("Authentication failure. Shutting down...");
    drop(c);
    let mut c = CliMt::connect(&s.hostport());
    assert_eq!(c.cmd("exists /"), [] as [String; 0]);
    c.quit();
}

/// Session ids and their `recved` packet counts from `cons`.
fn cons_recved(t: &Target, session: &str) -> Option<u64> {
    let cons = t.four("cons");
    let line = cons.lines().find(|l| l.contains(&format!("sid={session},")))?;
    let i = line.find("recved=")? + "recved=".len();
    line[i..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The C client pings at a third of the session timeout; with a 1 s timeout, a session that
/// stays open across many pings must stay alive, keep its id and its ephemeral node.
#[test]
fn pings_keep_the_session_alive() {
    let s = Target::start("maxSessionTimeout=1000");
    let mut c = CliMt::connect(&s.hostport());
    assert_eq!(c.cmd("create +e /alive"), ["Creating [/alive] node (mode: 1)", "[/alive]: rc = 0", "\tname = /alive"]);
    let start =
        cons_recved(&s, &c.session).unwrap_or_else(|| panic!("session {} in cons:\n{}", c.session, s.four("cons")));
    // Twelve more packets received, all pings (this client is idle): at ~333 ms apiece that is
    // four session timeouts.
    let ok =
        common::wait_until(Duration::from_secs(30), || cons_recved(&s, &c.session).is_some_and(|n| n >= start + 12));
    assert!(ok, "pings not counted; cons:\n{}\nclient:\n{}", s.four("cons"), c.transcript());
    assert_eq!(c.cmd("exists /alive"), [] as [String; 0]);
    let mut other = CliMt::connect(&s.hostport());
    assert_eq!(other.cmd("exists /alive"), [] as [String; 0]);
    let out = c.quit();
    assert!(!out.iter().any(|l| l.contains("EXPIRED") || l.starts_with("Got a new session id")), "{out:?}");
    // Closing the session removes its ephemeral (and fires the exists watch set above).
    other.expect_line("Watcher DELETED_EVENT state = CONNECTED_STATE for path /alive");
    assert_eq!(other.cmd("exists /alive"), ["Error -101 for /alive"]);
    other.quit();
}

/// A dropped connection: the C client reconnects with the same session (no new id), its
/// ephemeral survives, and the watch it had set is re-registered and fires.
#[test]
fn reconnects_with_the_same_session() {
    let s = Target::start("");
    let proxy = Proxy::start(s.addr());
    let mut c = CliMt::connect(&proxy.hostport());
    let mut b = CliMt::connect(&s.hostport());
    c.cmd("create +e /eph");
    c.cmd("create /x");
    assert_eq!(c.cmd("exists /x"), [] as [String; 0]);
    assert_eq!(c.cmd("exists /later"), ["Error -101 for /later"]);

    proxy.sever();
    c.expect_line("Watcher SESSION_EVENT state = CONNECTING_STATE");
    let between = c.wait_for("Watcher SESSION_EVENT state = CONNECTED_STATE", STEP_TIMEOUT);
    assert!(!between.iter().any(|l| l.starts_with("Got a new session id")), "{between:?}");
    b.cmd("set /x changed");
    c.expect_line("Watcher CHANGED_EVENT state = CONNECTED_STATE for path /x");

    // Changes made while the client cannot connect are announced once it is back.
    proxy.set_refusing(true);
    proxy.sever();
    c.expect_line("Watcher SESSION_EVENT state = CONNECTING_STATE");
    b.cmd("create /later");
    proxy.set_refusing(false);
    c.wait_for("Watcher SESSION_EVENT state = CONNECTED_STATE", STEP_TIMEOUT);
    c.expect_line("Watcher CREATED_EVENT state = CONNECTED_STATE for path /later");
    assert_eq!(b.cmd("exists /eph"), [] as [String; 0]);
    let out = c.quit();
    assert!(!out.iter().any(|l| l.starts_with("Got a new session id")), "{out:?}");
    b.quit();
}

#[test]
fn session_expiry_is_reported_after_a_long_cut() {
    let s = Target::start("maxSessionTimeout=1000");
    let proxy = Proxy::start(s.addr());
    let mut c = CliMt::connect(&proxy.hostport());
    let mut b = CliMt::connect(&s.hostport());
    c.cmd("create +e /eph");
    assert_eq!(b.cmd("exists /eph"), [] as [String; 0]);
    proxy.set_refusing(true);
    proxy.sever();
    c.expect_line("Watcher SESSION_EVENT state = CONNECTING_STATE");
    // The server expires the session, deleting its ephemeral...
    b.expect_line("Watcher DELETED_EVENT state = CONNECTED_STATE for path /eph");
    proxy.set_refusing(false);
    // ...and tells the client so when it comes back.
    c.wait_for("Watcher SESSION_EVENT state = EXPIRED_SESSION_STATE", STEP_TIMEOUT);
    c.expect_line("Session expired. Shutting down...");
    b.quit();
}

#[test]
fn multi_through_the_c_library() {
    cli::require(cli::CLI_MT);
    assert!(
        std::path::Path::new("/usr/include/zookeeper/zookeeper.h").exists(),
        "the C client's headers are missing: run `make deps` (libzookeeper-mt-dev)"
    );
    let dir = common::TempDir::new("multi");
    let exe = dir.0.join("multi");
    let src = common::root().join("tests/cli/multi.c");
    let cc = Command::new("cc")
        .args(["-O0", "-DTHREADED", "-o"])
        .arg(&exe)
        .arg(&src)
        .arg("-lzookeeper_mt")
        .output()
        .expect("a C compiler (cc) is needed to build tests/cli/multi.c; run `make deps`");
    assert!(cc.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&cc.stderr));

    let s = Target::start("");
    let mut p = cli::LineProc::spawn(&exe, &[&s.hostport()], &[]);
    let out = p.finish();
    let out: Vec<String> = out.into_iter().filter(|l| !l.contains(":ZOO_")).collect();
    assert_eq!(
        out,
        [
            "commit rc=0",
            "  op0 type=1 rc=0 path=/m1",
            "  op1 type=1 rc=0 path=/m1/seq-0000000000",
            "  op2 type=5 rc=0 version=1 datalen=3",
            "  op3 type=13 rc=0",
            "rollback rc=-101",
            "  op0 type=1 rc=0",
            "  op1 type=5 rc=0",
            "  op2 type=2 rc=-101",
            "  op3 type=1 rc=-2",
            "get /m1 rc=0 data=xyz version=1 numChildren=1",
            "exists /m2 rc=-101",
            "badversion rc=-103",
            "  op0 type=13 rc=-103",
            "  op1 type=2 rc=-2",
            "notempty rc=-111",
            "  op0 type=2 rc=-111",
            "  op1 type=2 rc=-2",
            "delete rc=0",
            "  op0 type=2 rc=0",
            "  op1 type=2 rc=0",
            "exists /m1 rc=-101",
            "empty rc=0",
            "done",
        ]
    );
}
