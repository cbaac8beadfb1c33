//! Rookery driven by Apache ZooKeeper 3.8's own shell, `zkCli.sh`, through stdin as a user would.
//!
//! The expected lines are what zkCli.sh prints against a real ZooKeeper 3.8 server for the same
//! commands on a fresh server (times and session ids normalized by `cli::normalize`). To check
//! them against the reference again, run
//! `ROOKERY_CLI_REFERENCE=zookeeper cargo test --test zkcli`: every test must pass both ways.

mod cli;
mod common;

use cli::proxy::Proxy;
use cli::{event, synced, Target, ZkCli};

/// The lines of `stat`/`get -s` for a znode, as zkCli prints them (times normalized).
#[allow(clippy::too_many_arguments)]
fn stat_lines(
    czxid: u64,
    mzxid: u64,
    pzxid: u64,
    cversion: i32,
    version: i32,
    aversion: i32,
    owner: &str,
    data_len: usize,
    children: usize,
) -> Vec<String> {
    vec![
        format!("cZxid = {czxid:#x}"),
        "ctime = <time>".into(),
        format!("mZxid = {mzxid:#x}"),
        "mtime = <time>".into(),
        format!("pZxid = {pzxid:#x}"),
        format!("cversion = {cversion}"),
        format!("dataVersion = {version}"),
        format!("aclVersion = {aversion}"),
        format!("ephemeralOwner = {owner}"),
        format!("dataLength = {data_len}"),
        format!("numChildren = {children}"),
    ]
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn cat(parts: &[Vec<String>]) -> Vec<String> {
    parts.concat()
}

#[test]
fn znode_crud_and_errors_print_as_in_zookeeper() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());

    assert_eq!(z.cmd("ls /"), ["[zookeeper]"]);
    assert_eq!(z.cmd("create /t1 hello"), ["Created /t1"]);
    assert_eq!(z.cmd("create /t1 again"), ["Node already exists: /t1"]);
    assert_eq!(z.cmd("create /nope/child x"), ["Node does not exist: /nope/child"]);
    assert_eq!(z.cmd("get /t1"), ["hello"]);
    assert_eq!(z.cmd("get -s /t1"), cat(&[lines(&["hello"]), stat_lines(2, 2, 2, 0, 0, 0, "0x0", 5, 0)]));
    assert_eq!(z.cmd("set /t1 world"), [] as [String; 0]);
    // BadVersion.
    assert_eq!(z.cmd("set -v 5 /t1 bad"), ["version No is not valid : /t1"]);
    assert_eq!(z.cmd("set -v 1 /t1 good"), [] as [String; 0]);
    // Failed writes use up a zxid too (ZooKeeper logs them as error txns): 0x3, 0x4 and 0x6.
    assert_eq!(z.cmd("set -s /t1 again"), stat_lines(2, 8, 2, 0, 3, 0, "0x0", 5, 0));
    assert_eq!(z.cmd("stat /t1"), stat_lines(2, 8, 2, 0, 3, 0, "0x0", 5, 0));
    assert_eq!(z.cmd("ls /t1"), ["[]"]);
    assert_eq!(z.cmd("create /t1/c1 a"), ["Created /t1/c1"]);
    assert_eq!(z.cmd("create /t1/c2"), ["Created /t1/c2"]);
    assert_eq!(z.cmd("create /t1/c2/deep \"two words\""), ["Created /t1/c2/deep"]);
    assert_eq!(z.cmd("get /t1/c2/deep"), ["two words"]);
    assert_eq!(z.cmd("get /t1/c2"), ["null"]);
    assert_eq!(z.cmd("ls /t1"), ["[c1, c2]"]);
    assert_eq!(z.cmd("ls -s /t1"), cat(&[lines(&["[c1, c2]"]), stat_lines(2, 8, 0xa, 2, 3, 0, "0x0", 5, 2)]));
    assert_eq!(z.cmd("ls -R /t1"), ["/t1", "/t1/c1", "/t1/c2", "/t1/c2/deep"]);
    assert_eq!(
        z.cmd("ls -R /"),
        ["/", "/t1", "/zookeeper", "/t1/c1", "/t1/c2", "/t1/c2/deep", "/zookeeper/config", "/zookeeper/quota"]
    );
    assert_eq!(
        z.cmd("ls -s /"),
        cat(&[
            lines(&["[t1, zookeeper]"]),
            // The root's stat: never modified, so zero zxids and the epoch as its times.
            stat_lines(0, 0, 2, 0, 0, 0, "0x0", 0, 2)
        ])
    );
    assert_eq!(z.cmd("getAllChildrenNumber /t1"), ["3"]);
    assert_eq!(z.cmd("getAllChildrenNumber /"), ["7"]);
    // NotEmpty.
    assert_eq!(z.cmd("delete /t1"), ["Node not empty: /t1"]);
    assert_eq!(z.cmd("delete -v 7 /t1/c1"), ["version No is not valid : /t1/c1"]);
    assert_eq!(z.cmd("delete -v 0 /t1/c1"), [] as [String; 0]);
    assert_eq!(z.cmd("delete /t1/c1"), ["Node does not exist: /t1/c1"]);
    assert_eq!(z.cmd("deleteall /t1"), [] as [String; 0]);
    assert_eq!(z.cmd("ls /"), ["[zookeeper]"]);
    assert_eq!(z.cmd("sync /"), ["Sync is OK"]);
    // Path rules are the client's, but the server must agree on what reaches it.
    assert_eq!(z.cmd("create /bad/ x"), ["Path must not end with / character"]);
    assert_eq!(z.cmd("create / x"), ["Node already exists: /"]);
    assert_eq!(z.cmd("delete /zookeeper"), ["Arguments are not valid : /zookeeper"]);
    for c in [
        "get /none",
        "get -s /none",
        "stat /none",
        "ls /none",
        "ls -s /none",
        "ls -R /none",
        "set /none x",
        "delete /none",
        "getAcl /none",
        "setAcl /none world:anyone:r",
        "deleteall /none",
        "getAllChildrenNumber /none",
    ] {
        assert_eq!(z.cmd(c), ["Node does not exist: /none"], "{c}");
    }
    assert_eq!(z.cmd("getEphemerals /none"), ["[]"]);
    assert_eq!(z.cmd("sync /none"), ["Sync is OK"]);
    assert_eq!(z.quit(), [event("Closed", "None", "null")]);
}

#[test]
fn ephemeral_sequential_container_and_ttl_nodes() {
    let s = Target::start("extendedTypesEnabled=true");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create /t1"), ["Created /t1"]);
    assert_eq!(z.cmd("create -e /t1/eph e"), ["Created /t1/eph"]);
    assert_eq!(z.cmd("create -s /t1/seq- s"), ["Created /t1/seq-0000000001"]);
    assert_eq!(z.cmd("create -s -e /t1/seqe- s"), ["Created /t1/seqe-0000000002"]);
    assert_eq!(z.cmd("create -s /t1/seq- s"), ["Created /t1/seq-0000000003"]);
    assert_eq!(z.cmd("create -e /t1/eph/kid x"), ["Ephemerals cannot have children: /t1/eph/kid"]);
    assert_eq!(z.cmd("create -c /cont"), ["Created /cont"]);
    assert_eq!(z.cmd("create -t 5000 /ttl ttldata"), ["Created /ttl"]);
    assert_eq!(z.cmd("create -s -t 5000 /ttls- x"), ["Created /ttls-0000000003"]);
    // Refused by zkCli itself; listed so a change in the client shows up here.
    assert_eq!(z.cmd("create -e -t 300 /ttle x"), ["TTLs cannot be used with Ephemeral znodes"]);
    assert_eq!(
        z.cmd("create -c -e /conte x"),
        ["-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."]
    );
    assert_eq!(z.cmd("ls /t1"), ["[eph, seq-0000000001, seq-0000000003, seqe-0000000002]"]);
    assert_eq!(z.cmd("stat /t1/eph"), stat_lines(3, 3, 3, 0, 0, 0, "<session>", 1, 0));
    let mut eph = z.cmd("getEphemerals");
    eph.sort();
    assert_eq!(eph.len(), 1, "{eph:?}");
    let mut got: Vec<&str> = eph[0].trim_matches(['[', ']']).split(", ").collect();
    got.sort();
    assert_eq!(got, ["/t1/eph", "/t1/seqe-0000000002"]);
    assert_eq!(z.cmd("getEphemerals /t1/seqe"), ["[/t1/seqe-0000000002]"]);
    assert_eq!(z.cmd("getAllChildrenNumber /t1"), ["4"]);

    // A second session sees the ephemerals but owns none of them.
    let mut other = ZkCli::connect(&s.hostport());
    assert_eq!(other.cmd("getEphemerals"), ["[]"]);
    assert_eq!(other.cmd("stat -w /t1/eph").len(), 11);
    assert_eq!(z.quit(), [event("Closed", "None", "null")]);
    // Closing the session deletes its ephemerals, firing the watch.
    other.expect_event(&synced("NodeDeleted", "/t1/eph"));
    assert_eq!(other.cmd("ls /t1"), ["[seq-0000000001, seq-0000000003]"]);
    assert_eq!(other.cmd("get /ttl"), ["ttldata"]);
    other.quit();
}

/// ZooKeeper hides the owner encoding of TTL and container nodes from clients
/// (`DataNode.copyStat` → `getClientEphemeralOwner` returns 0 for them).
#[test]
fn ttl_and_container_nodes_show_no_ephemeral_owner() {
    let s = Target::start("extendedTypesEnabled=true");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create -t 60000 /ttl x"), ["Created /ttl"]);
    assert_eq!(z.cmd("create -c /cont"), ["Created /cont"]);
    assert_eq!(z.cmd("stat /ttl"), stat_lines(2, 2, 2, 0, 0, 0, "0x0", 1, 0));
    assert_eq!(z.cmd("get -s /cont"), cat(&[lines(&["null"]), stat_lines(3, 3, 3, 0, 0, 0, "0x0", 0, 0)]));
    assert_eq!(z.cmd("getEphemerals"), ["[]"]);
    z.quit();
}

#[test]
fn ttl_refused_unless_extended_types_enabled() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create -t 5000 /ttl x"), ["KeeperErrorCode = Unimplemented for /ttl"]);
    assert_eq!(z.cmd("ls /"), ["[zookeeper]"]);
    z.quit();
}

#[test]
fn empty_containers_and_expired_ttl_nodes_are_reaped() {
    let s = Target::start("extendedTypesEnabled=true\nznode.container.checkIntervalMs=100");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create -c /cont"), ["Created /cont"]);
    assert_eq!(z.cmd("create /cont/a x"), ["Created /cont/a"]);
    assert_eq!(z.cmd("create -t 500 /ttl x"), ["Created /ttl"]);
    assert_eq!(z.cmd("create -t 500 /ttl2 x"), ["Created /ttl2"]);
    assert_eq!(z.cmd("create /ttl2/kid x"), ["Created /ttl2/kid"]);
    // A container that never had a child is kept (until maxNeverUsedIntervalMs, off by default).
    assert_eq!(z.cmd("create -c /never"), ["Created /never"]);
    assert_eq!(z.cmd("stat -w /cont").len(), 11);
    assert_eq!(z.cmd("stat -w /ttl").len(), 11);
    assert_eq!(z.cmd("delete /cont/a"), [] as [String; 0]);
    // The reaper deletes the emptied container and the expired TTL node; the watches say when.
    let mut ev = z.next_events(2, cli::STEP_TIMEOUT);
    ev.sort();
    assert_eq!(ev, [synced("NodeDeleted", "/cont"), synced("NodeDeleted", "/ttl")]);
    // A TTL node with children stays.
    assert_eq!(z.cmd("ls /"), ["[never, ttl2, zookeeper]"]);
    z.quit();
}

#[test]
fn acl_read_only_node_denies_writes() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create /a1 data"), ["Created /a1"]);
    assert_eq!(z.cmd("getAcl /a1"), ["'world,'anyone", ": cdrwa"]);
    assert_eq!(z.cmd("setAcl -v 3 /a1 world:anyone:r"), ["version No is not valid : /a1"]);
    assert_eq!(z.cmd("setAcl -s /a1 world:anyone:rwa"), stat_lines(2, 2, 2, 0, 0, 1, "0x0", 4, 0));
    assert_eq!(z.cmd("setAcl -v 1 /a1 world:anyone:r"), [] as [String; 0]);
    assert_eq!(z.cmd("getAcl /a1"), ["'world,'anyone", ": r"]);
    assert_eq!(
        z.cmd("getAcl -s /a1"),
        cat(&[lines(&["'world,'anyone", ": r"]), stat_lines(2, 2, 2, 0, 0, 2, "0x0", 4, 0)])
    );
    assert_eq!(z.cmd("get /a1"), ["data"]);
    assert_eq!(z.cmd("set /a1 x"), ["Insufficient permission : /a1"]);
    assert_eq!(z.cmd("create /a1/c x"), ["Insufficient permission : /a1/c"]);
    assert_eq!(z.cmd("setAcl /a1 world:anyone:cdrwa"), ["Insufficient permission : /a1"]);
    // Delete needs DELETE on the parent, not on the node.
    assert_eq!(z.cmd("delete /a1"), [] as [String; 0]);

    assert_eq!(z.cmd("create /a2 x"), ["Created /a2"]);
    assert_eq!(z.cmd("create /a2/kid x"), ["Created /a2/kid"]);
    assert_eq!(z.cmd("setAcl -R /a2 world:anyone:rc"), [] as [String; 0]);
    assert_eq!(z.cmd("getAcl /a2/kid"), ["'world,'anyone", ": cr"]);
    assert_eq!(z.cmd("delete /a2/kid"), ["Insufficient permission : /a2/kid"]);
    assert_eq!(z.cmd("create /a2/kid2 x"), ["Created /a2/kid2"]);

    // ACLs the server must refuse (checked before permissions, as ZooKeeper's fixupACL is).
    for acl in ["foo:bar:cdrwa", "digest:bad:cdrwa", "ip:notanip:cdrwa", "auth::cdrwa"] {
        assert_eq!(z.cmd(&format!("setAcl /a2 {acl}")), ["Acl is not valid : /a2"], "{acl}");
    }
    assert_eq!(z.cmd("create /a3 x ip:127.0.0.1:cdrwa"), ["Created /a3"]);
    assert_eq!(z.cmd("getAcl /a3"), ["'ip,'127.0.0.1", ": cdrwa"]);
    assert_eq!(z.cmd("get /a3"), ["x"]);
    assert_eq!(z.cmd("create /a4 x ip:10.1.2.3:cdrwa"), ["Created /a4"]);
    assert_eq!(z.cmd("get /a4"), ["Insufficient permission : /a4"]);
    assert_eq!(z.cmd("create /a5 x ip:127.0.0.0/8:r"), ["Created /a5"]);
    assert_eq!(z.cmd("get /a5"), ["x"]);
    assert_eq!(z.cmd("set /a5 y"), ["Insufficient permission : /a5"]);
    z.quit();
}

#[test]
fn digest_auth_protects_a_node_from_other_sessions() {
    let s = Target::start("");
    let mut alice = ZkCli::connect(&s.hostport());
    assert_eq!(alice.cmd("whoami"), ["Auth scheme: User", "ip: 127.0.0.1"]);
    assert_eq!(alice.cmd("addauth digest alice:secret"), [] as [String; 0]);
    let mut who = alice.cmd("whoami");
    who[1..].sort();
    assert_eq!(who, ["Auth scheme: User", "digest: alice", "ip: 127.0.0.1"]);
    assert_eq!(alice.cmd("create /a2 d2"), ["Created /a2"]);
    assert_eq!(alice.cmd("setAcl /a2 auth::cdrwa"), [] as [String; 0]);
    assert_eq!(alice.cmd("getAcl /a2"), ["'digest,'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", ": cdrwa"]);
    assert_eq!(alice.cmd("get /a2"), ["d2"]);
    assert_eq!(alice.cmd("create /a6 x auth::cdrwa"), ["Created /a6"]);
    assert_eq!(alice.cmd("getAcl /a6"), ["'digest,'alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=", ": cdrwa"]);
    // bob's digest, given precomputed: base64(sha1("bob:pw")).
    assert_eq!(alice.cmd("create /a3 d3 digest:bob:ikIaKsbtGweaHnb/jKn7OHqbunM=:cdrwa"), ["Created /a3"]);
    assert_eq!(alice.cmd("get /a3"), ["Insufficient permission : /a3"]);
    assert_eq!(
        alice.cmd("create /a7 d7 digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa,world:anyone:r"),
        ["Created /a7"]
    );

    let mut eve = ZkCli::connect(&s.hostport());
    assert_eq!(eve.cmd("get /a2"), ["Insufficient permission : /a2"]);
    assert_eq!(eve.cmd("set /a2 x"), ["Insufficient permission : /a2"]);
    assert_eq!(eve.cmd("create /a2/c x"), ["Insufficient permission : /a2/c"]);
    // getAcl needs READ or ADMIN.
    assert_eq!(eve.cmd("getAcl /a2"), ["Insufficient permission : /a2"]);
    assert_eq!(eve.cmd("ls /a2"), ["Insufficient permission : /a2"]);
    // With READ but not ADMIN, getAcl hides digest hashes (ZOOKEEPER-1392).
    assert_eq!(eve.cmd("getAcl /a7"), ["'digest,'alice:x", ": cdrwa", "'world,'anyone", ": r"]);
    assert_eq!(eve.cmd("get /a7"), ["d7"]);
    // stat (exists): ZooKeeper 3.8 checks no permission; 3.9 checks READ (FinalRequestProcessor
    // gained a checkACL for exists), which Rookery follows.
    let st = eve.cmd("stat /a2");
    if s.is_reference() {
        assert_eq!(st.len(), 11, "{st:?}");
    } else {
        assert_eq!(st, ["Insufficient permission : /a2"]);
    }
    // A wrong password adds an identity that matches nothing; it is not an auth failure.
    assert_eq!(eve.cmd("addauth digest alice:wrong"), [] as [String; 0]);
    assert_eq!(eve.cmd("get /a2"), ["Insufficient permission : /a2"]);
    assert_eq!(eve.cmd("addauth digest alice:secret"), [] as [String; 0]);
    assert_eq!(eve.cmd("get /a2"), ["d2"]);
    eve.expect_no_more_events();
    eve.quit();

    let mut bob = ZkCli::connect(&s.hostport());
    assert_eq!(bob.cmd("addauth digest bob:pw"), [] as [String; 0]);
    assert_eq!(bob.cmd("get /a3"), ["d3"]);
    assert_eq!(bob.cmd("get /a2"), ["Insufficient permission : /a2"]);
    bob.quit();
    alice.quit();
}

#[test]
fn unknown_auth_scheme_fails_the_session() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    let (out, marker) = z.cmd_raw("addauth foo bar");
    assert_eq!(out, [] as [String; 0]);
    z.expect_event(&event("AuthFailed", "None", "null"));
    assert!(marker.contains("AuthFailed") || marker.starts_with("Node does not exist"), "{marker}");
    drop(z);
    // The server is fine for everyone else.
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("ls /"), ["[zookeeper]"]);
    z.quit();
}

#[test]
fn quota_nodes_track_usage() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create /q x"), ["Created /q"]);
    assert_eq!(z.cmd("create /q/a \"hello world\""), ["Created /q/a"]);
    assert_eq!(z.cmd("setquota -n 2 /q"), [] as [String; 0]);
    assert_eq!(
        z.cmd("listquota /q"),
        [
            "absolute path is /zookeeper/quota/q/zookeeper_limits",
            "Output quota for /q count=2,bytes=-1=;byteHardLimit=-1;countHardLimit=-1",
            "Output stat for /q count=2,bytes=12",
        ]
    );
    assert_eq!(z.cmd("create /q/b x"), ["Created /q/b"]);
    assert_eq!(z.cmd("listquota /q")[2], "Output stat for /q count=3,bytes=13");
    assert_eq!(z.cmd("delquota /q"), [] as [String; 0]);
    assert_eq!(
        z.cmd("listquota /q"),
        ["absolute path is /zookeeper/quota/q/zookeeper_limits", "quota for /q does not exist."]
    );
    z.quit();
}

#[test]
fn enforced_quota_refuses_past_the_hard_limit() {
    let s = Target::start("enforceQuota=true");
    let mut z = ZkCli::connect(&s.hostport());
    assert_eq!(z.cmd("create /q x"), ["Created /q"]);
    assert_eq!(z.cmd("setquota -N 2 /q"), [] as [String; 0]);
    assert_eq!(z.cmd("setquota -B 8 /q"), [] as [String; 0]);
    assert_eq!(
        z.cmd("listquota /q"),
        [
            "absolute path is /zookeeper/quota/q/zookeeper_limits",
            "Output quota for /q count=-1,bytes=-1=;byteHardLimit=8;countHardLimit=2",
            "Output stat for /q count=1,bytes=1",
        ]
    );
    assert_eq!(z.cmd("create /q/a"), ["Created /q/a"]);
    let refused = z.cmd("create /q/b");
    assert_eq!(refused, ["Quota has exceeded : /q/b"]);
    assert_eq!(z.cmd("set /q 123456789"), ["Quota has exceeded : /q"]);
    assert_eq!(z.cmd("set /q 1234567"), [] as [String; 0]);
    assert_eq!(z.cmd("listquota /q")[2], "Output stat for /q count=2,bytes=7");
    assert_eq!(z.cmd("delquota /q"), [] as [String; 0]);
    assert_eq!(z.cmd("create /q/b"), ["Created /q/b"]);
    z.quit();
}

#[test]
fn one_shot_commands() {
    let s = Target::start("");
    let out = cli::zkcli_oneshot(&s.hostport(), &["create", "/one", "shot"]);
    assert_eq!(out.last().map(String::as_str), Some("Created /one"), "{out:?}");
    let out = cli::zkcli_oneshot(&s.hostport(), &["get", "/one"]);
    assert_eq!(out.last().map(String::as_str), Some("shot"), "{out:?}");
    let out = cli::zkcli_script(&s.hostport(), &["ls /", "get /one", "delete /one", "ls /"]);
    let out: Vec<String> = out.into_iter().filter(|l| !l.starts_with("WatchedEvent")).collect();
    assert_eq!(out, ["[one, zookeeper]", "shot", "[zookeeper]"]);
}

#[test]
fn one_shot_watches_fire_when_another_client_changes_the_node() {
    let s = Target::start("");
    let mut a = ZkCli::connect(&s.hostport());
    let mut b = ZkCli::connect(&s.hostport());
    assert_eq!(a.cmd("create /x v0"), ["Created /x"]);

    // get -w: NodeDataChanged.
    assert_eq!(a.cmd("get -w /x"), ["v0"]);
    assert_eq!(b.cmd("set /x v1"), [] as [String; 0]);
    a.expect_event(&synced("NodeDataChanged", "/x"));
    // One-shot: a second change is silent.
    assert_eq!(b.cmd("set /x v2"), [] as [String; 0]);
    a.expect_no_more_events();

    // ls -w: NodeChildrenChanged for a create and, re-armed, for a delete.
    assert_eq!(a.cmd("ls -w /x"), ["[]"]);
    assert_eq!(b.cmd("create /x/c1 x"), ["Created /x/c1"]);
    a.expect_event(&synced("NodeChildrenChanged", "/x"));
    assert_eq!(a.cmd("ls -w /x"), ["[c1]"]);
    assert_eq!(b.cmd("set /x/c1 y"), [] as [String; 0]);
    assert_eq!(b.cmd("delete /x/c1"), [] as [String; 0]);
    a.expect_event(&synced("NodeChildrenChanged", "/x"));

    // stat -w on a missing node: NodeCreated; then on the node: NodeDeleted.
    assert_eq!(a.cmd("stat -w /y"), ["Node does not exist: /y"]);
    assert_eq!(b.cmd("create /y x"), ["Created /y"]);
    a.expect_event(&synced("NodeCreated", "/y"));
    assert_eq!(a.cmd("stat -w /y").len(), 11);
    assert_eq!(b.cmd("delete /y"), [] as [String; 0]);
    a.expect_event(&synced("NodeDeleted", "/y"));

    // get -w and ls -w on the same node, deleted: one NodeDeleted for both watches.
    assert_eq!(a.cmd("get -w /x"), ["v2"]);
    assert_eq!(a.cmd("ls -w /x"), ["[]"]);
    assert_eq!(b.cmd("delete /x"), [] as [String; 0]);
    a.expect_event(&synced("NodeDeleted", "/x"));
    a.expect_no_more_events();
    b.expect_no_more_events();
    a.quit();
    b.quit();
}

#[test]
fn persistent_and_recursive_watches() {
    let s = Target::start("");
    let mut a = ZkCli::connect(&s.hostport());
    let mut b = ZkCli::connect(&s.hostport());

    assert_eq!(a.cmd("addWatch -m PERSISTENT /p"), [] as [String; 0]);
    assert_eq!(b.cmd("create /p x"), ["Created /p"]);
    a.expect_event(&synced("NodeCreated", "/p"));
    assert_eq!(b.cmd("set /p y"), [] as [String; 0]);
    a.expect_event(&synced("NodeDataChanged", "/p"));
    assert_eq!(b.cmd("create /p/kid x"), ["Created /p/kid"]);
    a.expect_event(&synced("NodeChildrenChanged", "/p"));
    // Not recursive: a grandchild's change is not seen.
    assert_eq!(b.cmd("set /p/kid z"), [] as [String; 0]);
    a.expect_no_more_events();
    assert_eq!(b.cmd("set /p w"), [] as [String; 0]);
    a.expect_event(&synced("NodeDataChanged", "/p"));

    // Explicit modes: zkCli keeps one AddWatchCommand whose mode sticks from the last `-m`, so
    // a bare `addWatch` here would be PERSISTENT again (the default is tested on a fresh shell).
    assert_eq!(a.cmd("addWatch -m PERSISTENT_RECURSIVE /r"), [] as [String; 0]);
    assert_eq!(a.cmd("addWatch -m PERSISTENT_RECURSIVE /r2"), [] as [String; 0]);
    for (cmd, ev) in [
        ("create /r x", synced("NodeCreated", "/r")),
        ("create /r/a x", synced("NodeCreated", "/r/a")),
        ("create /r/a/b x", synced("NodeCreated", "/r/a/b")),
        ("set /r/a/b y", synced("NodeDataChanged", "/r/a/b")),
        ("delete /r/a/b", synced("NodeDeleted", "/r/a/b")),
        ("create /r2 x", synced("NodeCreated", "/r2")),
    ] {
        b.cmd(cmd);
        a.expect_event(&ev);
    }
    // Recursive watches never deliver NodeChildrenChanged (checked above: creating /r/a under
    // /r gave NodeCreated only).
    a.expect_no_more_events();
    assert_eq!(a.cmd("addWatch -m BOGUS /r"), [
        "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE"
    ]);

    // removewatches ends a persistent watch (client-side event PersistentWatchRemoved).
    assert_eq!(a.cmd("removewatches /r"), [] as [String; 0]);
    a.expect_event(&synced("PersistentWatchRemoved", "/r"));
    b.cmd("create /r/a/c x");
    assert_eq!(a.cmd("removewatches /p -a"), [] as [String; 0]);
    a.expect_event(&synced("PersistentWatchRemoved", "/p"));
    b.cmd("set /p v");
    a.expect_no_more_events();
    // The other recursive watch still works.
    b.cmd("create /r2/x x");
    a.expect_event(&synced("NodeCreated", "/r2/x"));
    a.quit();
    b.quit();
}

#[test]
fn removewatches_by_kind() {
    let s = Target::start("");
    let mut a = ZkCli::connect(&s.hostport());
    let mut b = ZkCli::connect(&s.hostport());
    assert_eq!(a.cmd("create /w data"), ["Created /w"]);

    assert_eq!(a.cmd("get -w /w"), ["data"]);
    assert_eq!(a.cmd("removewatches /w -c"), ["KeeperErrorCode = No such watcher for /w"]);
    assert_eq!(a.cmd("removewatches /w -d"), [] as [String; 0]);
    a.expect_event(&synced("DataWatchRemoved", "/w"));
    b.cmd("set /w x");
    a.expect_no_more_events();

    assert_eq!(a.cmd("ls -w /w"), ["[]"]);
    assert_eq!(a.cmd("removewatches /w -d"), ["KeeperErrorCode = No such watcher for /w"]);
    assert_eq!(a.cmd("removewatches /w -c"), [] as [String; 0]);
    a.expect_event(&synced("ChildWatchRemoved", "/w"));
    b.cmd("create /w/c x");
    a.expect_no_more_events();

    assert_eq!(a.cmd("get -w /w"), ["x"]);
    assert_eq!(a.cmd("ls -w /w"), ["[c]"]);
    assert_eq!(a.cmd("removewatches /w"), [] as [String; 0]);
    a.expect_events_unordered(&[synced("DataWatchRemoved", "/w"), synced("ChildWatchRemoved", "/w")]);
    b.cmd("delete /w/c");
    b.cmd("delete /w");
    a.expect_no_more_events();
    assert_eq!(a.cmd("removewatches /w"), ["KeeperErrorCode = No such watcher for /w"]);
    assert_eq!(a.cmd("removewatches /nonexist"), ["KeeperErrorCode = No such watcher for /nonexist"]);

    // -a with a data, a child and a persistent watch on one path.
    assert_eq!(a.cmd("create /w2 x"), ["Created /w2"]);
    assert_eq!(a.cmd("ls -w /w2"), ["[]"]);
    assert_eq!(a.cmd("addWatch -m PERSISTENT /w2"), [] as [String; 0]);
    assert_eq!(a.cmd("removewatches /w2 -a"), [] as [String; 0]);
    a.expect_events_unordered(&[synced("ChildWatchRemoved", "/w2"), synced("PersistentWatchRemoved", "/w2")]);
    b.cmd("create /w2/c x");
    b.cmd("set /w2 y");
    a.expect_no_more_events();
    a.quit();
    b.quit();
}

/// A one-shot watch set on a path that already has a persistent watch of the same session is a
/// watch of its own: the server must let `removewatches -d` remove it (ZooKeeper 3.8 answers OK,
/// so the client reports DataWatchRemoved).
#[test]
fn standard_watch_beside_a_persistent_one_can_be_removed() {
    let s = Target::start("");
    let mut a = ZkCli::connect(&s.hostport());
    assert_eq!(a.cmd("create /w data"), ["Created /w"]);
    assert_eq!(a.cmd("addWatch /w"), [] as [String; 0]);
    assert_eq!(a.cmd("get -w /w"), ["data"]);
    assert_eq!(a.cmd("removewatches /w -d"), [] as [String; 0]);
    a.expect_event(&synced("DataWatchRemoved", "/w"));
    assert_eq!(a.cmd("ls -w /w"), ["[]"]);
    assert_eq!(a.cmd("removewatches /w -c"), [] as [String; 0]);
    a.expect_event(&synced("ChildWatchRemoved", "/w"));
    a.quit();
}

/// zkCli's session survives a dropped connection: it reconnects with the same session, the
/// server re-arms the watches the client lists in SetWatches, and a change made while the client
/// was away fires at once.
#[test]
fn watches_survive_a_reconnect() {
    let s = Target::start("");
    let proxy = Proxy::start(s.addr());
    let mut a = ZkCli::connect(&proxy.hostport());
    let mut b = ZkCli::connect(&s.hostport());
    assert_eq!(a.cmd("create /x v0"), ["Created /x"]);
    assert_eq!(a.cmd("create -e /x/eph e"), ["Created /x/eph"]);
    assert_eq!(a.cmd("get -w /x"), ["v0"]);
    assert_eq!(a.cmd("stat -w /later"), ["Node does not exist: /later"]);

    proxy.sever();
    a.expect_event(&event("Disconnected", "None", "null"));
    a.expect_event(&event("SyncConnected", "None", "null"));
    assert_eq!(b.cmd("set /x v1"), [] as [String; 0]);
    a.expect_event(&synced("NodeDataChanged", "/x"));

    // Changed while the client cannot reach the server: SetWatches on reconnect compares
    // each watched node with the last zxid the client saw and fires at once.
    for c in ["create /kids x", "create /gone x", "create /r x", "create /p x"] {
        b.cmd(c);
    }
    assert_eq!(a.cmd("get -w /x"), ["v1"]);
    assert_eq!(a.cmd("ls -w /kids"), ["[]"]);
    assert_eq!(a.cmd("get -w /gone"), ["x"]);
    assert_eq!(a.cmd("ls -w /gone"), ["[]"]);
    assert_eq!(a.cmd("addWatch -m PERSISTENT_RECURSIVE /r"), [] as [String; 0]);
    assert_eq!(a.cmd("addWatch -m PERSISTENT /p"), [] as [String; 0]);
    proxy.set_refusing(true);
    proxy.sever();
    a.expect_event(&event("Disconnected", "None", "null"));
    for c in ["set /x v2", "create /later x", "create /kids/k1 x", "delete /gone"] {
        b.cmd(c);
    }
    proxy.set_refusing(false);
    a.expect_event(&event("SyncConnected", "None", "null"));
    a.expect_events_unordered(&[
        synced("NodeDataChanged", "/x"),
        synced("NodeCreated", "/later"),
        synced("NodeChildrenChanged", "/kids"),
        // The data and the child watch on /gone: one event for both.
        synced("NodeDeleted", "/gone"),
    ]);
    // Persistent watches come back too (SetWatches2) and keep firing.
    b.cmd("create /r/after x");
    a.expect_event(&synced("NodeCreated", "/r/after"));
    b.cmd("set /p y");
    a.expect_event(&synced("NodeDataChanged", "/p"));
    // Same session: the ephemeral is still there and still ours.
    assert_eq!(a.cmd("getEphemerals"), ["[/x/eph]"]);
    a.expect_no_more_events();
    a.quit();
    b.quit();
}

#[test]
fn session_expires_while_the_client_is_cut_off() {
    let s = Target::start("maxSessionTimeout=1000");
    let proxy = Proxy::start(s.addr());
    let mut a = ZkCli::connect(&proxy.hostport());
    let mut b = ZkCli::connect(&s.hostport());
    assert_eq!(a.cmd("create -e /eph e"), ["Created /eph"]);
    assert_eq!(b.cmd("stat -w /eph").len(), 11);
    proxy.set_refusing(true);
    proxy.sever();
    a.expect_event(&event("Disconnected", "None", "null"));
    // The server expires the session and deletes its ephemeral.
    b.expect_event(&synced("NodeDeleted", "/eph"));
    proxy.set_refusing(false);
    a.expect_event(&event("Expired", "None", "null"));
    b.quit();
}

#[test]
fn sequence_numbers_system_nodes_and_path_rules() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    // The sequence number is the parent's stored cversion, which counts creates only.
    assert_eq!(z.cmd("create /s"), ["Created /s"]);
    assert_eq!(z.cmd("create -s /s/n-"), ["Created /s/n-0000000000"]);
    assert_eq!(z.cmd("create -s /s/n-"), ["Created /s/n-0000000001"]);
    assert_eq!(z.cmd("delete /s/n-0000000000"), [] as [String; 0]);
    assert_eq!(z.cmd("create -s /s/n-"), ["Created /s/n-0000000002"]);
    assert_eq!(z.cmd("create /s/plain"), ["Created /s/plain"]);
    assert_eq!(z.cmd("delete /s/plain"), [] as [String; 0]);
    assert_eq!(z.cmd("create -s /s/n-"), ["Created /s/n-0000000004"]);
    // Clients see creates plus deletes: 2 * 5 creates - 3 children.
    assert_eq!(z.cmd("stat /s"), stat_lines(2, 2, 9, 7, 0, 0, "0x0", 0, 3));

    // The system subtree, as a standalone ZooKeeper 3.8 creates it.
    assert_eq!(z.cmd("ls /zookeeper"), ["[config, quota]"]);
    // (Empty lines are dropped with zkCli's blank separator lines.)
    assert_eq!(z.cmd("get /zookeeper/config"), [] as [String; 0]);
    assert_eq!(z.cmd("getAcl /zookeeper/config"), ["'world,'anyone", ": r"]);
    assert_eq!(z.cmd("getAcl /zookeeper/quota"), ["'world,'anyone", ": cdrwa"]);
    assert_eq!(z.cmd("stat /zookeeper"), stat_lines(0, 0, 0, -2, 0, 0, "0x0", 0, 2));
    assert_eq!(z.cmd("set /zookeeper/config x"), ["Insufficient permission : /zookeeper/config"]);
    assert_eq!(z.cmd("create /zookeeper/config/x"), ["Insufficient permission : /zookeeper/config/x"]);
    assert_eq!(z.cmd("delete /zookeeper/quota"), ["Arguments are not valid : /zookeeper/quota"]);
    assert_eq!(z.cmd("delete /zookeeper/config"), ["Arguments are not valid : /zookeeper/config"]);
    assert_eq!(z.cmd("config"), [] as [String; 0]);

    // Names the server must accept as they are.
    assert_eq!(z.cmd("create /x%y a"), ["Created /x%y"]);
    assert_eq!(z.cmd("create \"/sp ace\" a"), ["Created /sp ace"]);
    assert_eq!(z.cmd("create /x\\u0000 a"), ["Created /x\\u0000"]);
    assert_eq!(z.cmd("create /x/. a"), ["Invalid path string \"/x/.\" caused by relative paths not allowed @3"]);
    assert_eq!(z.cmd("ls /"), ["[s, sp ace, x%y, x\\u0000, zookeeper]"]);
    z.quit();
}

#[test]
fn reconfig_is_disabled_by_default() {
    let s = Target::start("");
    let mut z = ZkCli::connect(&s.hostport());
    // reconfigEnabled defaults to false: ZooKeeper answers ReconfigDisabled (-123).
    assert_eq!(z.cmd("reconfig -add server.5=127.0.0.1:2888:3888;2181"), ["KeeperErrorCode = Reconfig is disabled"]);
    assert_eq!(z.cmd("reconfig -remove 1"), ["KeeperErrorCode = Reconfig is disabled"]);
    z.quit();
}
