//! `rookery cli` against Apache ZooKeeper 3.8's `zkCli.sh`, side by side.
//!
//! Each test starts two fresh servers and drives zkCli.sh on one and `rookery cli` on the other
//! with the same commands, comparing every command's output line by line (times and session ids
//! normalized by `cli::normalize`; blank lines dropped, as the zkCli driver does) and the watch
//! events each prints. The servers are Rookery, or Apache ZooKeeper with
//! `ROOKERY_CLI_REFERENCE=zookeeper`. One-shot mode is compared on raw stdout, stderr and exit
//! status; dates are compared unnormalized with both clients on one server; an interactive
//! session runs in a pseudo-terminal (`script` from util-linux).

mod cli;
mod common;

use cli::proxy::Proxy;
use cli::{event, synced, Target, ZkCli, STEP_TIMEOUT};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const ROOKERY: &str = env!("CARGO_BIN_EXE_rookery");
const JVM_FLAGS: &str = "-Dzookeeper.jmx.log4j.disable=true -Xshare:auto -XX:TieredStopAtLevel=1";

/// `rookery cli -server hostport`, driven like zkCli.sh.
fn rookery_cli(hostport: &str) -> ZkCli {
    ZkCli::spawn(Path::new(ROOKERY), &["cli", "-server", hostport], &[])
}

/// zkCli.sh and rookery cli, each on its own server, fed the same commands.
struct Pair {
    zk: ZkCli,
    rk: ZkCli,
}

impl Pair {
    fn connect(zk_host: &str, rk_host: &str) -> Pair {
        Pair { zk: ZkCli::connect(zk_host), rk: rookery_cli(rk_host) }
    }

    /// Runs `c` in both; their outputs must be equal. Returns it.
    fn cmd(&mut self, c: &str) -> Vec<String> {
        let want = self.zk.cmd(c);
        let got = self.rk.cmd(c);
        // CLI_TRACE=1 prints every command and zkCli's output (to compare two runs).
        if std::env::var("CLI_TRACE").is_ok() {
            eprintln!("{c:?} => {want:?}");
        }
        assert_eq!(got, want, "output of {c:?} (left: rookery cli, right: zkCli.sh)");
        got
    }

    fn cmds(&mut self, cs: &[&str]) {
        for c in cs {
            self.cmd(c);
        }
    }

    /// The next `n` watch events of both, compared ignoring order (zkCli orders the
    /// *WatchRemoved events it makes up by hash).
    fn events(&mut self, n: usize) -> Vec<String> {
        let mut want = self.zk.next_events(n, STEP_TIMEOUT);
        let mut got = self.rk.next_events(n, STEP_TIMEOUT);
        want.sort();
        got.sort();
        assert_eq!(got, want, "watch events (left: rookery cli, right: zkCli.sh)");
        got
    }

    /// The events both printed so far (after a round trip), compared ignoring order.
    fn events_so_far(&mut self) -> Vec<String> {
        let mut want = self.zk.take_events();
        let mut got = self.rk.take_events();
        want.sort();
        got.sort();
        assert_eq!(got, want, "watch events (left: rookery cli, right: zkCli.sh)");
        got
    }

    fn no_more_events(&mut self) {
        self.zk.expect_no_more_events();
        self.rk.expect_no_more_events();
    }

    fn quit(self) {
        let want = self.zk.quit();
        let mut got = self.rk.quit();
        // zkCli's quit is close() then System.exit: the Closed event is queued by then, but its
        // event thread may not have printed it yet (seen on a loaded machine). Rookery's cli
        // always prints it.
        let closed = "WatchedEvent state:Closed type:None path:null";
        if got.last().is_some_and(|e| e == closed) && want.last().is_none_or(|e| e != closed) {
            got.pop();
        }
        assert_eq!(got, want, "events at quit");
    }
}

/// Two fresh servers with the same zoo.cfg lines.
fn servers(extra: &str) -> (Target, Target) {
    (Target::start(extra), Target::start(extra))
}

#[test]
fn znode_commands_and_their_errors() {
    let (a, b) = servers("");
    let mut p = Pair::connect(&a.hostport(), &b.hostport());
    p.cmds(&[
        "ls /",
        "create /t1 hello",
        "create /t1 again",
        "create /nope/child x",
        "create",
        "create /t2",
        "create /t3 \"two words\"",
        "create /t4 'single quoted'",
        "create \"/sp ace\" a",
        "get /t1",
        "get -s /t1",
        "get -sw /t1",
        "get /t2",
        "get /t3",
        "get",
        "get -x /t1",
        "get /t1 watch",
        "get /t1 extra more",
        "get - /t1",
        "get -- /t1",
        "set /t1 world",
        "set /t1",
        "set -v 5 /t1 bad",
        "set -v 1 /t1 good",
        "set -s /t1 again",
        "set -sv 3 /t1 again2",
        "set -v -1 /t1 any",
        "set /t1 x -v",
        "set -v -s /t1 x",
        "stat /t1",
        "stat",
        "stat /t1 watch",
        "ls /t1",
        "create /t1/c1 a",
        "create /t1/c2",
        "create /t1/c2/deep x",
        "ls /t1",
        "ls -s /t1",
        "ls -R /t1",
        "ls -R /",
        "ls -s /",
        "ls /t1 w",
        "ls",
        "ls -?",
        "ls -? /t1",
        "ls -Rs /t1",
        "getAllChildrenNumber /t1",
        "getAllChildrenNumber /",
        "getAllChildrenNumber",
        "getAllChildrenNumber t1",
        "delete /t1",
        "delete -v 7 /t1/c1",
        "delete -v 0 /t1/c1",
        "delete /t1/c1",
        "delete /t1/c2/deep 5",
        "delete",
        "delete /",
        "delete /zookeeper",
        "deleteall /t1",
        "deleteall",
        "deleteall -b x /t2",
        "deleteall /t2 -b 1",
        "ls /",
        "sync /",
        "sync /none",
        "sync",
        "sync bad",
        "create /bad/ x",
        "create / x",
        "create /x/. a",
        "create /a//b a",
        "get bad",
        "ls /bad/",
        "create /x%y a",
        "create /x\\u0000 a",
        "ls /",
    ]);
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
        "setAcl -R /none world:anyone:r",
        "deleteall /none",
        "getAllChildrenNumber /none",
        "getEphemerals /none",
        "getEphemerals bad",
    ] {
        p.cmd(c);
    }
    // The usage lists every command, reconfig too.
    let usage = p.cmd("bogus");
    assert!(usage.iter().any(|l| l.starts_with("\treconfig [-s] [-v version] ")), "{usage:?}");
    p.cmd("bogus with args");
    p.cmds(&["redo", "redo 1", "redo 99", "redo -1", "redo 0x2", "history", "history 5"]);
    p.cmds(&[
        "printwatches",
        "printwatches off",
        "printwatches",
        "printwatches maybe",
        "printwatches on",
        "printwatches",
    ]);
    // The watches left by get -w, the old `get path watch` form, stat and ls -w, as they fired.
    assert!(!p.events_so_far().is_empty());
    p.no_more_events();
    p.quit();
}

#[test]
fn ephemeral_sequential_container_and_ttl_nodes() {
    let (a, b) = servers("extendedTypesEnabled=true");
    let mut p = Pair::connect(&a.hostport(), &b.hostport());
    p.cmds(&[
        "create /t1",
        "create -e /t1/eph e",
        "create -s /t1/seq- s",
        "create -s -e /t1/seqe- s",
        "create -es /t1/es- s",
        "create -s /t1/seq- s",
        "create -e /t1/eph/kid x",
        "create -c /cont",
        "create -c /cont/kid x",
        "create -t 5000 /ttl ttldata",
        "create -s -t 5000 /ttls- x",
        "create -st 5000 /ttls- x",
        "create -e -t 300 /ttle x",
        "create -c -e /conte x",
        "create -c -s /conte x",
        "create -c -t 5 /ttlc x",
        "create -t abc /ttlx x",
        "create -t 0 /ttlx x",
        "create -t -5 /ttlx x",
        "create -t 1099511627776 /ttlx x",
        "create -t 1099511627775 /ttlmax x",
        "create -t",
        "create -s /sq/ x",
        "create /sq",
        "create -s /sq/ x",
        "create -s /sq/ x",
        "ls /sq",
        "ls /t1",
        "stat /t1/eph",
        "get -s /cont",
        "stat /ttl",
        "getEphemerals /t1/seqe",
        "getEphemerals /t1/eph",
        "getEphemerals /nothing",
        "getAllChildrenNumber /t1",
        "ls -s /t1",
    ]);
    // The order of a session's ephemerals is the server's; compare them as sets.
    let mut all: Vec<String> = Vec::new();
    for cli in [&mut p.zk, &mut p.rk] {
        let out = cli.cmd("getEphemerals");
        assert_eq!(out.len(), 1, "{out:?}");
        let mut v: Vec<String> = out[0].trim_matches(['[', ']']).split(", ").map(String::from).collect();
        v.sort();
        all.push(v.join(" "));
    }
    assert_eq!(all[0], all[1]);
    assert_eq!(all[0], "/t1/eph /t1/es-0000000003 /t1/seqe-0000000002");

    // A second session of each sees the ephemerals but owns none; closing the first deletes them.
    let mut q = Pair::connect(&a.hostport(), &b.hostport());
    q.cmds(&["getEphemerals", "stat -w /t1/eph", "ls -w /t1"]);
    p.quit();
    q.events(2);
    q.cmds(&["ls /t1", "get /ttl"]);
    q.no_more_events();
    q.quit();
}

#[test]
fn acls_and_digest_auth() {
    let (a, b) = servers("");
    let mut p = Pair::connect(&a.hostport(), &b.hostport());
    p.cmds(&[
        "create /a1 data",
        "getAcl /a1",
        "getAcl",
        "setAcl /a1",
        "setAcl -v 3 /a1 world:anyone:r",
        "setAcl -s /a1 world:anyone:rwa",
        "setAcl -v 1 /a1 world:anyone:r",
        "getAcl /a1",
        "getAcl -s /a1",
        "get /a1",
        "set /a1 x",
        "create /a1/c x",
        "setAcl /a1 world:anyone:cdrwa",
        "delete /a1",
        "create /a2 x",
        "create /a2/kid x",
        "setAcl -R /a2 world:anyone:rc",
        "getAcl /a2/kid",
        "delete /a2/kid",
        "create /a2/kid2 x",
        "setAcl /a2 foo:bar:cdrwa",
        "setAcl /a2 digest:bad:cdrwa",
        "setAcl /a2 ip:notanip:cdrwa",
        "setAcl /a2 auth::cdrwa",
        "setAcl /a2 bad",
        "setAcl /a2 world:anyone:rz",
        "create /a3 x ip:127.0.0.1:cdrwa",
        "getAcl /a3",
        "get /a3",
        "create /a4 x ip:10.1.2.3:cdrwa",
        "get /a4",
        "create /a5 x ip:127.0.0.0/8:r",
        "get /a5",
        "set /a5 y",
        "create /c1 x bad",
        "create /c2 x world:anyone:zr",
        "create /c3 x foo:bar",
        "create /c4 x world:anyone:",
        "getAcl /c4",
        "create /c5 x foo:bar:cdrwa",
        "getAcl /zookeeper/config",
        "getAcl -s /zookeeper/quota",
        "whoami",
        "addauth",
        "addauth digest alice:secret",
        "create /a6 d6 auth::cdrwa",
        "getAcl /a6",
        "create /a7 d7 digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa,world:anyone:r",
        "create /a8 d8 digest:bob:ikIaKsbtGweaHnb/jKn7OHqbunM=:cdrwa",
        "get /a8",
        "get /a6",
    ]);
    let mut who = p.cmd("whoami");
    who[1..].sort();
    assert_eq!(who, ["Auth scheme: User", "digest: alice", "ip: 127.0.0.1"]);

    let mut q = Pair::connect(&a.hostport(), &b.hostport());
    q.cmds(&[
        "get /a6",
        "set /a6 x",
        "create /a6/c x",
        "getAcl /a6",
        "ls /a6",
        "getAcl /a7",
        "get /a7",
        "stat /a6",
        "addauth digest alice:wrong",
        "get /a6",
        "addauth digest bob:pw",
        "get /a8",
        "addauth digest alice:secret",
        "get /a6",
    ]);
    q.no_more_events();
    q.quit();
    p.quit();
}

#[test]
fn one_shot_and_persistent_watches_and_their_removal() {
    let (a, b) = servers("");
    let mut p = Pair::connect(&a.hostport(), &b.hostport());
    let mut q = Pair::connect(&a.hostport(), &b.hostport());
    p.cmd("create /x v0");
    for (watch, change, events) in [
        ("get -w /x", "set /x v1", 1),
        ("ls -w /x", "create /x/c1 x", 1),
        ("ls -w /x", "delete /x/c1", 1),
        ("stat -w /y", "create /y x", 1),
        ("stat -w /y", "delete /y", 1),
        ("ls -R -w /x", "create /x/c2 x", 1),
        ("get -w /x", "set /x v2", 1),
    ] {
        p.cmd(watch);
        q.cmd(change);
        p.events(events);
    }
    // One-shot: the second change is silent.
    q.cmd("set /x v3");
    p.no_more_events();
    // A data and a child watch on a node that goes: one NodeDeleted.
    p.cmds(&["get -w /x/c2", "ls -w /x/c2"]);
    q.cmd("delete /x/c2");
    p.events(1);
    p.no_more_events();

    p.cmds(&["addWatch /r", "addWatch -m PERSISTENT /p", "addWatch -m persistent_recursive /r2"]);
    for change in
        ["create /p x", "set /p y", "create /p/kid x", "create /r x", "create /r/a x", "set /r/a y", "create /r2 z"]
    {
        q.cmd(change);
        p.events(1);
    }
    q.cmd("set /p/kid z");
    p.no_more_events();
    p.cmds(&["addWatch -m BOGUS /r", "addWatch", "addWatch /a /b", "addWatch -m"]);

    // removewatches by kind, and the events the client makes up for what it removed.
    p.cmds(&["create /w data", "get -w /w", "removewatches /w -c", "removewatches /w -d"]);
    p.events(1);
    p.cmds(&["ls -w /w", "removewatches /w -d", "removewatches /w -c"]);
    p.events(1);
    p.cmds(&["get -w /w", "ls -w /w", "removewatches /w"]);
    p.events(2);
    p.cmds(&["removewatches /w", "removewatches /nonexist", "removewatches", "removewatches bad"]);
    p.cmds(&["ls -w /w", "removewatches /w -l", "removewatches /p -a", "removewatches /r -c"]);
    p.events(2);
    q.cmds(&["set /p again", "create /w/c x", "set /r x"]);
    p.events(1);
    p.no_more_events();

    // printwatches off hides events (zkCli still consumes them).
    p.cmds(&["printwatches off", "get -w /w"]);
    q.cmd("set /w quiet");
    p.cmds(&["printwatches on", "sync /"]);
    p.no_more_events();
    q.quit();
    p.quit();
}

#[test]
fn quotas_set_listed_and_deleted_as_zkcli_does() {
    let (a, b) = servers("");
    let mut p = Pair::connect(&a.hostport(), &b.hostport());
    p.cmds(&[
        "create /q x",
        "create /q/a yy",
        "setquota /q",
        "setquota -n 1 -b 2 /q",
        "setquota -n 0 /q",
        "setquota -N -3 /q",
        "setquota -n x /q",
        "setquota -b -1 /q",
        "setquota -n 5 /nope",
        "setquota -n 5 /zookeeper/quota/x",
        "setquota -n 5 q",
        "listquota /q",
        "setquota -n 1 /q",
        "listquota /q",
        "setquota -B 100 /q",
        "listquota /q",
        "create /q/b zzz",
        "set /q/a y",
        "listquota /q",
        "delete /q/b",
        "listquota /q",
        "setquota -n 5 /q/a",
        "create /r x",
        "create /r/s x",
        "setquota -N 3 /r/s",
        "setquota -n 3 /r",
        "ls /zookeeper/quota",
        "get /zookeeper/quota/r/s/zookeeper_limits",
        "delquota -n -b /r/s",
        "delquota -N /r/s",
        "listquota /r/s",
        "delquota -n /q",
        "listquota /q",
        "delquota /q",
        "listquota /q",
        "delquota /q",
        "delquota /r/s",
        "ls /zookeeper/quota",
        "listquota /nope",
        "listquota",
        "delquota",
    ]);
    p.quit();
}

#[test]
fn config_sync_and_counting() {
    let (a, b) = servers("");
    let mut p = Pair::connect(&a.hostport(), &b.hostport());
    p.cmds(&[
        "config",
        "config -c",
        "config -s",
        "config -c -s",
        "config -x",
        "config extra",
        "sync /",
        "sync /zookeeper",
        "sync /a/",
        "create /d x",
        "create /d/1 x",
        "create /d/1/2 x",
        "create /d/3 x",
        "getAllChildrenNumber /d",
        "getAllChildrenNumber /d/1/2",
        "deleteall -b 1 /d/1",
        "ls /d",
        "deleteall /d -b 0",
        "ls /",
        "whoami extra",
        "getEphemerals",
        "getEphemerals /",
    ]);
    p.cmd("config -w");
    p.no_more_events();
    p.quit();
}

/// reconfig's checks, which zkCli makes before sending anything (options, usage, -v, the
/// conflicting modes, `-file` read as a dynamic configuration file), and what a standalone server
/// answers: ReconfigDisabled by default, Unimplemented with reconfigEnabled=true (only an
/// ensemble's leader reconfigures).
#[test]
fn reconfig_checks_and_a_standalone_servers_answers() {
    let dir = common::TempDir::new("reconfig-files");
    let file = |name: &str, text: &str| -> String {
        let path = dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let members = file(
        "members.cfg",
        "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\nserver.2=localhost:2889:3889;2182\n\
         server.3=[::1]:2890:3890:OBSERVER\nversion=1a\n",
    );
    let errors = [
        file("unknown-key.cfg", "server.1=h:1:2\nclientPort=2181\n"),
        file("bad-port.cfg", "server.1=h:1:70000\n"),
        file("same-ports.cfg", "server.1=h:1:1\n"),
        file("bad-type.cfg", "server.1=h:1:2:spectator;3\n"),
        file("bad-id.cfg", "server.one=h:1:2\n"),
        file("short.cfg", "server.1=h:1\n"),
        file("observers-only.cfg", "server.1=h:1:2:observer\n"),
        dir.0.join("missing.cfg").display().to_string(),
        dir.0.display().to_string(),
    ];
    let checks = |p: &mut Pair| {
        p.cmds(&[
            "reconfig",
            "reconfig -s -v 1",
            "reconfig extra words",
            "reconfig -v zz",
            "reconfig -v zz -add a -remove 1",
            "reconfig -v 0x10 -remove 1",
            "reconfig -v 10000000000000000 -remove 1",
            "reconfig -members a -remove 1",
            "reconfig -file f -add a",
            "reconfig -file f -members a",
            "reconfig -add",
            "reconfig -add -remove 1",
            "reconfig -remove 1 -v",
            "reconfig -x -remove 1",
            "reconfig -files f",
            "reconfig -add=server.4=a:1:2;3",
            "reconfig --remove 1",
            "reconfig -v -s -remove 1",
            "reconfig -- -remove 1",
        ]);
        for path in &errors {
            p.cmd(&format!("reconfig -file {path}"));
        }
    };
    // What the server says: the same error, whatever the request.
    let sent = [
        "reconfig -remove 2".to_string(),
        "reconfig -s -v 1a -add SERVER.4=127.0.0.1:4888:4999;4181 -remove 3".into(),
        "reconfig -members server.1=127.0.0.1:2888:3888;2181,server.2=127.0.0.1:2889:3889;2182".into(),
        "reconfig -v -1 -remove -2".into(),
        format!("reconfig -s -file {members}"),
    ];
    for (cfg, answer) in
        [("", "KeeperErrorCode = Reconfig is disabled"), ("reconfigEnabled=true", "KeeperErrorCode = Unimplemented")]
    {
        let (a, b) = servers(cfg);
        let mut p = Pair::connect(&a.hostport(), &b.hostport());
        checks(&mut p);
        for c in &sent {
            assert_eq!(p.cmd(c), [answer], "{c}");
        }
        p.quit();
    }
}

/// `DigestAuthenticationProvider.superDigest` for `super:test`.
const SUPER_DIGEST: &str = "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=";

/// A `server.N` value with the client address, as a member can be added back with.
fn server_spec(m: &common::ensemble::Member) -> String {
    format!("127.0.0.1:{}:{}:participant;127.0.0.1:{}", m.quorum_port, m.election_port, m.client_addr.port())
}

/// The `version=` of a configuration as `config` prints it.
fn config_version(config: &[String]) -> String {
    config.iter().find_map(|l| l.strip_prefix("version=")).expect("a version line").to_string()
}

fn server_lines(config: &[String]) -> Vec<String> {
    config.iter().filter(|l| l.starts_with("server.")).cloned().collect()
}

/// reconfig on a real ensemble (reconfigEnabled, the super user's digest, client addresses on the
/// `server.N` lines, as tests/interop/reconfig.py sets one up), zkCli.sh and rookery cli taking
/// turns on the leader: without the super user it is NoAuth; zkCli removes a follower, a stale
/// `-v` is BadVersion in both, rookery cli adds the follower back (with `-v` and `-s`), and each
/// replaces the membership with `-file`. Each success prints "Committed new configuration:" and
/// the configuration `config` then shows.
#[test]
fn reconfig_in_an_ensemble_with_both_clis() {
    let mut ens = common::ensemble::Ensemble::prepare(3, &format!("reconfigEnabled=true\n{SUPER_DIGEST}"));
    let specs: Vec<(u64, String)> = ens.members.iter().map(|m| (m.id, server_spec(m))).collect();
    for m in &ens.members {
        let cfg = std::fs::read_to_string(m.cfg_path()).unwrap();
        let lines: Vec<String> = cfg
            .lines()
            .map(|l| match specs.iter().find(|(id, _)| l.starts_with(&format!("server.{id}="))) {
                Some((id, spec)) => format!("server.{id}={spec}"),
                None => l.to_string(),
            })
            .collect();
        std::fs::write(m.cfg_path(), lines.join("\n") + "\n").unwrap();
    }
    ens.start_all();
    let leader = ens.wait_for_leader(Duration::from_secs(60));
    let gone = ens.ids().into_iter().find(|&id| id != leader).unwrap();
    let gone_line = format!("server.{gone}={}", server_spec(ens.member(gone)));
    let host = ens.addr(leader).to_string();
    let mut p = Pair { zk: ZkCli::connect(&host), rk: rookery_cli(&host) };

    let initial = p.cmd("config");
    assert_eq!(server_lines(&initial), specs.iter().map(|(id, s)| format!("server.{id}={s}")).collect::<Vec<_>>());
    assert_eq!(p.cmd(&format!("reconfig -remove {gone}")), ["Insufficient permission : "]);
    p.cmd("addauth digest super:test");

    let removed = p.zk.cmd(&format!("reconfig -remove {gone}"));
    let config = p.cmd("config");
    assert_eq!(removed[0], "Committed new configuration:");
    assert_eq!(removed[1..], config[..]);
    assert_eq!(server_lines(&config).len(), 2);
    assert!(!config.contains(&gone_line), "{config:?}");

    let stale = format!("reconfig -v {} -add {gone_line}", config_version(&initial));
    assert_eq!(p.cmd(&stale), ["version No is not valid : "]);

    let added = p.rk.cmd(&format!("reconfig -s -v {} -add {gone_line}", config_version(&config)));
    let config = p.cmd("config -s");
    assert_eq!(added[0], "Committed new configuration:");
    assert_eq!(added[1..], config[..]);
    assert_eq!(server_lines(&config), server_lines(&initial));
    assert!(config.iter().any(|l| l.starts_with("dataVersion = ")), "{config:?}");

    // The whole membership from a file (its own version line is ignored).
    let dir = common::TempDir::new("reconfig-members");
    let file = dir.0.join("members.cfg");
    std::fs::write(&file, server_lines(&initial).join("\n") + "\nversion=0\n").unwrap();
    for cli in [&mut p.rk, &mut p.zk] {
        let before = cli.cmd("config");
        let replaced = cli.cmd(&format!("reconfig -file {}", file.display()));
        let config = cli.cmd("config");
        assert_eq!(replaced[0], "Committed new configuration:");
        assert_eq!(replaced[1..], config[..]);
        assert_eq!(server_lines(&config), server_lines(&initial));
        assert_ne!(config_version(&config), config_version(&before));
    }
    p.quit();
}

/// A child's exit status, standard output and standard error (lines, times normalized).
#[derive(Debug, PartialEq, Eq)]
struct Run {
    code: Option<i32>,
    out: Vec<String>,
    err: Vec<String>,
}

/// Runs a client to completion (killed after a minute), with `envs` added to its environment;
/// returns its exit status, standard output and standard error as they are.
fn run_raw(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(bin);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let pid = child.id();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let output = match done.recv_timeout(Duration::from_secs(60)) {
        Ok(o) => o.expect("wait for the client"),
        Err(_) => {
            // Only the child started here, by its id.
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("{bin} {args:?} did not finish within 60 s");
        }
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

fn run(bin: &str, args: &[&str], envs: &[(&str, &str)]) -> Run {
    let (code, out, err) = run_raw(bin, args, envs);
    let lines =
        |t: &str| -> Vec<String> { t.lines().filter(|l| !l.starts_with("SLF4J:")).map(cli::normalize).collect() };
    Run { code, out: lines(&out), err: lines(&err) }
}

fn without_zxids(mut r: Run) -> Run {
    for l in r.out.iter_mut() {
        if ["cZxid = ", "mZxid = ", "pZxid = "].iter().any(|k| l.starts_with(k)) {
            l.replace_range(8.., "<zxid>");
        }
    }
    r
}

/// Takes the watch events (blank line, `WATCHER::`, blank line, event) out of standard output.
fn split_events(mut r: Run) -> (Run, Vec<String>) {
    let mut events = Vec::new();
    let mut i = 0;
    while i + 3 < r.out.len() {
        if r.out[i].is_empty() && r.out[i + 1] == "WATCHER::" && r.out[i + 2].is_empty() {
            events.push(r.out[i + 3].clone());
            r.out.drain(i..i + 4);
        } else {
            i += 1;
        }
    }
    // zkCli's process can exit while its event thread is half-way through printing one.
    let tail = r.out.iter().rposition(|l| l == "WATCHER::").filter(|&w| w > 0 && r.out[w - 1].is_empty());
    if let Some(w) = tail.filter(|&w| r.out[w + 1..].iter().all(|l| l.is_empty())) {
        r.out.truncate(w - 1);
    }
    (r, events)
}

fn zkcli_args<'a>(hostport: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["-server", hostport];
    args.extend_from_slice(cmd);
    args
}

fn rookery_args<'a>(hostport: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["cli", "-server", hostport];
    args.extend_from_slice(cmd);
    args
}

fn zkcli_bin() -> String {
    cli::require(cli::ZKCLI).to_string_lossy().into_owned()
}

/// `cli -server H:P cmd args`: the same standard output, standard error and exit status. The
/// zxids are left out: zkCli leaves each session open until it expires, rookery cli closes it,
/// which takes a zxid of its own (the interactive tests compare zxids). For the same reason an
/// ephemeral made by a one-shot `create -e` is gone at once (see the end).
#[test]
fn one_shot_commands_print_and_exit_as_zkcli() {
    let (a, b) = servers("");
    let (ha, hb) = (a.hostport(), b.hostport());
    for c in [
        "create /a hello",
        "create /a again",
        "create /b/ x",
        "get /a",
        "get -s /a",
        "get /none",
        "stat /a",
        "stat -w /none",
        "ls /",
        "ls -R /",
        "ls",
        "set -v 9 /a x",
        "set -s /a x2",
        "delete /none",
        "delete /zookeeper",
        "getAcl -s /a",
        "create /ro x",
        "create /ro/kid x",
        "setAcl -R /ro world:anyone:r",
        // setACL needs ADMIN: each failure is printed without a newline, and the status is 0.
        "setAcl -R /ro world:anyone:cdrwa",
        "whoami",
        "config",
        "config -c",
        "sync /a",
        "getEphemerals",
        "getAllChildrenNumber /",
        "addWatch -m PERSISTENT /a",
        "removewatches /a",
        "addauth digest u:p",
        "addauth",
        "close",
        "history",
        "redo 0",
        "printwatches",
        "bogus",
        "reconfig",
        "reconfig -remove 2",
        "deleteall /a",
        "ls /",
    ] {
        let words: Vec<&str> = c.split(' ').collect();
        let mut want = run(&zkcli_bin(), &zkcli_args(&ha, &words), &[("CLIENT_JVMFLAGS", JVM_FLAGS)]);
        let got = run(ROOKERY, &rookery_args(&hb, &words), &[]);
        want.out.iter_mut().chain(want.err.iter_mut()).for_each(|l| *l = l.replace(&ha, &hb));
        let connected = event("SyncConnected", "None", "null");
        if got.out.contains(&connected) {
            // rookery cli prints the connection's event first, once a command has used the session.
            assert_eq!(got.out[1..5], ["", "WATCHER::", "", &connected], "{c:?}: {got:?}");
        }
        let (want, want_events) = split_events(without_zxids(want));
        let (got, got_events) = split_events(without_zxids(got));
        assert_eq!(got, want, "{c:?} (left: rookery cli, right: zkCli.sh)");
        // zkCli prints events from another thread and exits without waiting for it: an event
        // may come before or after the output, or not at all, and the connection's may show
        // even for a command that needed no server.
        for e in &want_events {
            assert!(
                got_events.contains(e) || *e == connected,
                "{c:?}: zkCli printed {e:?}; rookery cli {got_events:?}"
            );
        }
    }
    assert_eq!(run(ROOKERY, &rookery_args(&hb, &["create", "-e", "/eph", "x"]), &[]).err, ["Created /eph"]);
    assert_eq!(run(ROOKERY, &rookery_args(&hb, &["ls", "/"]), &[]).out.last().unwrap(), "[ro, zookeeper]");
}

/// Dates as java.util.Date prints them in the local time zone, compared unnormalized: both
/// clients read the same znodes of one server.
#[test]
fn dates_match_zkcli_in_several_time_zones() {
    let s = Target::start("");
    let h = s.hostport();
    assert_eq!(run(ROOKERY, &rookery_args(&h, &["create", "/d", "x"]), &[]).code, Some(0));
    // Java names zones from its own locale data, the tz database's abbreviations are used here:
    // they agree for these (not for all: Java calls Lord Howe's 1970 time LHST, tzdata AEST).
    for tz in ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Etc/GMT+3"] {
        for cmd in [&["stat", "/"][..], &["get", "-s", "/d"], &["ls", "-s", "/zookeeper"]] {
            // The Stat lines, as printed (zkCli's event lines may come anywhere among them).
            let stat =
                |out: String| -> Vec<String> { out.lines().filter(|l| l.contains(" = ")).map(String::from).collect() };
            let (_, want, _) =
                run_raw(&zkcli_bin(), &zkcli_args(&h, cmd), &[("TZ", tz), ("CLIENT_JVMFLAGS", JVM_FLAGS)]);
            let (_, got, _) = run_raw(ROOKERY, &rookery_args(&h, cmd), &[("TZ", tz)]);
            let (want, got) = (stat(want), stat(got));
            assert_eq!(got.len(), 11, "{got:?}");
            assert_eq!(got, want, "TZ={tz} {cmd:?} (left: rookery cli, right: zkCli.sh)");
        }
    }
}

/// Feeds `script` to a shell on standard input and returns what it printed: the other lines in
/// order (times normalized, blank lines and banners dropped) and the watch events, sorted (zkCli
/// prints them from another thread, so their place among the other lines varies).
fn run_script(bin: &Path, args: &[&str], envs: &[(&str, &str)], script: &[String]) -> (Vec<String>, Vec<String>) {
    let mut p = cli::LineProc::spawn(bin, args, envs);
    for l in script {
        p.send(l);
    }
    let lines = p.finish();
    let noise = |l: &str| {
        l.is_empty()
            || l == "WATCHER::"
            || l.starts_with("SLF4J:")
            || l.starts_with("Connecting to ")
            || l == "Welcome to ZooKeeper!"
            || l.starts_with("JLine support is")
    };
    let mut events: Vec<String> = lines.iter().filter(|l| l.starts_with("WatchedEvent ")).cloned().collect();
    events.sort();
    let other =
        lines.iter().filter(|l| !l.starts_with("WatchedEvent ") && !noise(l)).map(|l| cli::normalize(l)).collect();
    (other, events)
}

/// close, connect, "Not connected", history and quit, through standard input.
#[test]
fn close_connect_and_quit_as_zkcli() {
    let (a, b) = servers("");
    let script = |host: &str| -> Vec<String> {
        [
            "create /e x",
            "close",
            "ls /",
            "history",
            "get /e",
            "printwatches",
            "connect",
            "ls /",
            "printwatches off",
            "close",
            "version",
            "printwatches on",
            "connect HOST",
            "get /e",
            "redo 13",
            "history",
            "quit",
            "ls /",
        ]
        .iter()
        .map(|l| l.replace("HOST", host))
        .collect()
    };
    let zk_args = ["-server", &a.hostport()];
    let want =
        run_script(&cli::require(cli::ZKCLI), &zk_args, &[("CLIENT_JVMFLAGS", JVM_FLAGS)], &script(&a.hostport()));
    let rk_args = ["cli", "-server", &b.hostport()];
    let got = run_script(Path::new(ROOKERY), &rk_args, &[], &script(&b.hostport()));
    let want_lines: Vec<String> = want.0.iter().map(|l| l.replace(&a.hostport(), &b.hostport())).collect();
    assert_eq!(got.0, want_lines, "output (left: rookery cli, right: zkCli.sh)");
    // zkCli.sh prints the Closed event of `quit` only if its event thread wins the race with the
    // JVM's exit: one Closed more on its side is the same behaviour.
    let mut with_quit = got.1.clone();
    with_quit.insert(0, event("Closed", "None", "null"));
    assert!(want.1 == got.1 || want.1 == with_quit, "events: rookery cli {:?}, zkCli.sh {:?}", got.1, want.1);
    assert_eq!(
        got.1,
        [
            event("Closed", "None", "null"),
            event("Closed", "None", "null"),
            event("SyncConnected", "None", "null"),
            event("SyncConnected", "None", "null"),
            event("SyncConnected", "None", "null")
        ]
    );
}

/// A chroot in the connect string: paths in, paths out and event paths are the client's.
#[test]
fn chroot_in_the_connect_string() {
    let (a, b) = servers("");
    let mut setup = Pair::connect(&a.hostport(), &b.hostport());
    setup.cmds(&["create /app", "create /app/pre x", "create /other x"]);
    let mut p = Pair::connect(&format!("{}/app", a.hostport()), &format!("{}/app", b.hostport()));
    p.cmds(&[
        "ls /",
        "create /x data",
        "create -s /s- x",
        "create -e /eph x",
        "get -s /x",
        "ls -R /",
        "ls -s /",
        "stat /",
        "getAllChildrenNumber /",
        // As the Java client 3.8: getEphemerals sends its prefix without the chroot.
        "getEphemerals",
        "getEphemerals /eph",
        "getEphemerals /app/eph",
        "sync /",
        "getAcl /x",
        "delete /",
        "delete /pre",
        "stat -w /later",
        "get -w /x",
        "ls -w /",
        "addWatch /r",
    ]);
    let mut seen = Vec::new();
    for change in
        ["create /app/later x", "set /app/x y", "create /app/kid x", "create /app/r x", "create /app/r/deep x"]
    {
        setup.cmd(change);
        seen.extend(p.events_so_far());
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            synced("NodeChildrenChanged", "/"),
            synced("NodeCreated", "/later"),
            synced("NodeCreated", "/r"),
            synced("NodeCreated", "/r/deep"),
            synced("NodeDataChanged", "/x"),
        ]
    );
    p.cmds(&["removewatches /r", "deleteall /r", "ls /"]);
    assert_eq!(p.events_so_far(), [synced("PersistentWatchRemoved", "/r")]);
    setup.cmd("ls /app");
    p.no_more_events();
    p.quit();
    setup.quit();
}

/// Several servers in the connect string: when the connection drops, the client moves to
/// another one with the same session (its ephemeral and its watches survive).
#[test]
fn failover_to_another_listed_server_keeps_the_session() {
    let (a, b) = servers("");
    let (a1, a2, b1, b2) =
        (Proxy::start(a.addr()), Proxy::start(a.addr()), Proxy::start(b.addr()), Proxy::start(b.addr()));
    let mut p =
        Pair::connect(&format!("{},{}", a1.hostport(), a2.hostport()), &format!("{},{}", b1.hostport(), b2.hostport()));
    let mut q = Pair::connect(&a.hostport(), &b.hostport());
    p.cmds(&["create -e /eph x", "create /w x", "get -w /w", "ls -w /", "addWatch /r"]);
    // Whichever proxy each client uses, it can now only come back through the second one.
    for (first, second) in [(&a1, &a2), (&b1, &b2)] {
        first.set_refusing(true);
        first.sever();
        second.sever();
    }
    assert_eq!(p.events(2), [event("Disconnected", "None", "null"), event("SyncConnected", "None", "null")]);
    p.cmds(&["getEphemerals", "stat /eph"]);
    q.cmd("set /w y");
    p.events(1);
    q.cmd("create /r x");
    p.events(2);
    p.no_more_events();
    p.quit();
    q.cmds(&["ls /"]);
    q.quit();
}

/// A session that expires while its client cannot reach any server: Disconnected, then Expired
/// once a server answers, then "Not connected".
#[test]
fn session_expiry_is_reported_as_zkcli_reports_it() {
    let (a, b) = servers("maxSessionTimeout=1000");
    let (pa, pb) = (Proxy::start(a.addr()), Proxy::start(b.addr()));
    let mut p = Pair::connect(&pa.hostport(), &pb.hostport());
    let mut q = Pair::connect(&a.hostport(), &b.hostport());
    p.cmd("create -e /eph e");
    q.cmd("stat -w /eph");
    for proxy in [&pa, &pb] {
        proxy.set_refusing(true);
        proxy.sever();
    }
    p.events(1);
    // The server expires the session and deletes its ephemeral.
    q.events(1);
    for proxy in [&pa, &pb] {
        proxy.set_refusing(false);
    }
    assert_eq!(p.events(1), [event("Expired", "None", "null")]);
    // The driver's marker command cannot run any more.
    for cli in [&mut p.zk, &mut p.rk] {
        assert_eq!(cli.cmd_until("ls /", |l| l == "Not connected"), (vec![], "Not connected".to_string()));
        assert_eq!(cli.cmd_until("close", |l| l == "Not connected"), (vec![], "Not connected".to_string()));
    }
    q.quit();
}

/// An identity the server refuses ends the session (AuthFailed); commands then report
/// "Not connected".
#[test]
fn failed_auth_ends_the_session() {
    let s = Target::start("");
    let mut rk = rookery_cli(&s.hostport());
    let failed = event("AuthFailed", "None", "null");
    assert_eq!(rk.cmd_until("addauth foo bar", |l| l == failed), (vec![], failed.clone()));
    assert_eq!(rk.cmd_until("ls /", |l| l == "Not connected"), (vec![], "Not connected".to_string()));
    assert_eq!(rk.quit(), [] as [String; 0], "no Closed event after AuthFailed, as in zkCli");
    let mut rk = rookery_cli(&s.hostport());
    assert_eq!(rk.cmd("ls /"), ["[zookeeper]"]);
    rk.quit();
}

/// An interactive session in a pseudo-terminal: the prompt counts commands and shows the
/// connection state, and a watch event arriving while the prompt waits is printed at once.
#[test]
fn interactive_session_in_a_terminal() {
    let script = Path::new("/usr/bin/script");
    assert!(script.exists(), "`script` (util-linux) is missing: run `make deps`");
    let s = Target::start("");
    let host = s.hostport();
    let shell = format!("{ROOKERY} cli -server {host}");
    let mut term = cli::LineProc::spawn(script, &["-q", "-e", "-c", &shell, "/dev/null"], &[]);
    // A command typed before the previous prompt appears (the terminal echoes it at once) gets
    // its output on the prompt's line: `[zk: host(CONNECTED) 1] x`.
    let wait = |term: &cli::LineProc, from: usize, line: &str| -> usize {
        let after_prompt =
            |l: &str| l.starts_with("[zk: ") && l.rsplit_once("] ").is_some_and(|(_, rest)| rest == line);
        term.wait_line(from, STEP_TIMEOUT, |l| l == line || after_prompt(l))
            .unwrap_or_else(|| panic!("no line {line:?}; terminal:\n{}", term.transcript()))
    };
    let at = wait(&term, 0, &event("SyncConnected", "None", "null"));
    term.send("create /a x");
    let at = wait(&term, at, "Created /a");
    term.send("get -w /a");
    let at = wait(&term, at, "x");

    // Another client changes the node while the shell waits at its prompt: the event follows
    // the prompt, as zkCli (with JLine) prints it.
    let mut other = rookery::client::Client::connect(s.addr(), 10_000).expect("connect");
    other.set_data("/a", b"y", -1).expect("set /a");
    let changed = synced("NodeDataChanged", "/a");
    let end = wait(&term, at, &changed);
    let prompt = format!("[zk: {host}(CONNECTED) 2] ");
    assert_eq!(term.lines_from(at + 1)[..end - at], [prompt, "WATCHER::".into(), String::new(), changed]);

    term.send("history");
    let at = wait(&term, end, "2 - history");
    assert_eq!(term.lines_from(at - 2)[..3], ["0 - create /a x", "1 - get -w /a", "2 - history"]);
    term.send("quit");
    let rest = term.finish();
    assert!(rest.contains(&event("Closed", "None", "null")), "{rest:?}");
    let quit_echo = format!("[zk: {host}(CONNECTED) 3] quit");
    assert!(term.transcript().lines().any(|l| l == quit_echo), "{}", term.transcript());
}

/// What zkCli cannot show (it dies with a Java exception, or lacks the command): rookery cli's
/// own answers.
#[test]
fn where_zkcli_crashes_rookery_cli_reports_an_error() {
    let s = Target::start("");
    let mut rk = rookery_cli(&s.hostport());
    assert_eq!(rk.cmd("create /a x"), ["Created /a"]);
    assert_eq!(rk.cmd("set -v abc /a y"), ["java.lang.NumberFormatException: For input string: \"abc\""]);
    assert_eq!(rk.cmd("delete -v 1x /a"), ["java.lang.NumberFormatException: For input string: \"1x\""]);
    assert_eq!(rk.cmd("setAcl -v x /a world:anyone:r"), ["java.lang.NumberFormatException: For input string: \"x\""]);
    assert_eq!(rk.cmd("redo x"), ["java.lang.NumberFormatException: For input string: \"x\""]);
    assert_eq!(rk.cmd("addWatch bad"), ["Path must start with / character"]);
    let help = rk.cmd("help");
    assert_eq!(help[0], "ZooKeeper -server host:port -client-configuration properties-file cmd args");
    assert!(help.contains(&"\tls [-s] [-w] [-R] path".to_string()), "{help:?}");
    assert_eq!(rk.cmd("version"), [format!("ZooKeeper CLI version: {}", rookery::fourlw::full_version())]);
    assert_eq!(rk.cmd("get /a"), ["x"]);
    rk.quit();
    // One-shot: the status of a failed command is 1, of an unknown one 127.
    assert_eq!(run(ROOKERY, &rookery_args(&s.hostport(), &["set", "-v", "abc", "/a", "y"]), &[]).code, Some(1));
    assert_eq!(run(ROOKERY, &rookery_args(&s.hostport(), &["help"]), &[]).code, Some(0));
    assert_eq!(run(ROOKERY, &rookery_args(&s.hostport(), &["bogus"]), &[]).code, Some(127));
    assert_eq!(run(ROOKERY, &rookery_args(&s.hostport(), &["setquota", "-n", "2", "/a"]), &[]).code, Some(0));
}

/// A real ensemble: the shell is connected to the leader, which dies; it reconnects to another
/// member with the same session once a new leader is elected, and its watch and ephemeral live on.
#[test]
fn failover_in_an_ensemble_when_the_leader_dies() {
    let mut ens = common::ensemble::Ensemble::start(3, "");
    let leader = ens.wait_for_leader(Duration::from_secs(60));
    let mut ids = ens.ids();
    ids.sort_by_key(|&id| id != leader);
    let hosts: Vec<String> = ids.iter().map(|&id| ens.addr(id).to_string()).collect();
    let mut rk = rookery_cli(&hosts.join(","));
    assert_eq!(rk.cmd("create -e /eph x"), ["Created /eph"]);
    assert_eq!(rk.cmd("create /w v0"), ["Created /w"]);
    assert_eq!(rk.cmd("get -w /w"), ["v0"]);
    ens.kill(leader);
    rk.expect_event(&event("Disconnected", "None", "null"));
    rk.expect_event(&event("SyncConnected", "None", "null"));
    let survivor = ids[1];
    let mut other = ens.client(survivor);
    other.set_data("/w", b"v1", -1).expect("set /w");
    rk.expect_event(&synced("NodeDataChanged", "/w"));
    assert_eq!(rk.cmd("getEphemerals"), ["[/eph]"]);
    assert_eq!(rk.cmd("get /w"), ["v1"]);
    assert_eq!(rk.quit(), [event("Closed", "None", "null")]);
    // Closing the session removed its ephemeral.
    assert_eq!(other.exists("/eph", false).expect("exists"), None);
}

/// The session library on its own: a chroot applies to every path of a multi and to the paths
/// that come back; the first event is the connection's.
#[test]
fn session_library_multi_under_a_chroot() {
    use rookery::client::session::{Session, SessionConfig, SessionError};
    use rookery::client::watches::{KeeperState, WatchedEvent};
    use rookery::client::Op;
    use rookery::codes::ErrorCode;
    use rookery::pipeline::OpResult;

    let s = Target::start("");
    let mut plain = rookery::client::Client::connect(s.addr(), 10_000).expect("connect");
    plain.create("/app", b"", 0).expect("create /app");
    let cfg = SessionConfig {
        connect_string: format!("{}/app", s.hostport()),
        timeout_ms: 10_000,
        read_only: false,
        sasl: None,
        tls: None,
    };
    let (zk, events) = Session::connect(&cfg).expect("session");
    let results = zk
        .multi(&[
            Op::Create { path: "/a".into(), data: b"x".to_vec(), flags: 0 },
            Op::Create { path: "/s-".into(), data: vec![], flags: 2 },
            Op::SetData { path: "/a".into(), data: b"y".to_vec(), version: 0 },
            Op::Check { path: "/a".into(), version: 1 },
        ])
        .expect("multi");
    assert!(matches!(&results[1], OpResult::Create(r) if r.path == "/app/s-0000000001"), "{results:?}");
    assert_eq!(events.recv_timeout(Duration::from_secs(10)), Ok(WatchedEvent::state(KeeperState::SyncConnected)));
    assert_eq!(plain.get_data("/app/a", false).expect("get").0.as_deref(), Some(&b"y"[..]));
    assert_eq!(zk.create("/b", None, rookery::jute::data::open_acl_unsafe(), 0, None), Ok("/b".to_string()));
    assert_eq!(zk.get_children("/", false, false).expect("ls").0.len(), 3);
    assert_eq!(zk.delete("/nope", -1), Err(SessionError::Keeper(ErrorCode::NoNode)));
    assert!(
        matches!(zk.get_data("bad", false), Err(SessionError::InvalidArgument(m)) if m == "Path must start with / character")
    );
    assert_ne!(zk.session_id(), 0);
}

/// Watches are re-armed on reconnect (SetWatches, SetWatches2): what changed while the client was
/// away fires as soon as it is back.
#[test]
fn watches_survive_a_reconnect() {
    let (a, b) = servers("");
    let (pa, pb) = (Proxy::start(a.addr()), Proxy::start(b.addr()));
    let mut p = Pair::connect(&pa.hostport(), &pb.hostport());
    let mut q = Pair::connect(&a.hostport(), &b.hostport());
    q.cmds(&["create /x v0", "create /kids x", "create /gone x", "create /r x", "create /p x"]);
    p.cmds(&[
        "get -w /x",
        "ls -w /kids",
        "get -w /gone",
        "ls -w /gone",
        "stat -w /later",
        "addWatch -m PERSISTENT_RECURSIVE /r",
        "addWatch -m PERSISTENT /p",
    ]);
    for proxy in [&pa, &pb] {
        proxy.set_refusing(true);
        proxy.sever();
    }
    assert_eq!(p.events(1), [event("Disconnected", "None", "null")]);
    q.cmds(&["set /x v1", "create /later x", "create /kids/k1 x", "delete /gone", "create /r/new x", "set /p y"]);
    for proxy in [&pa, &pb] {
        proxy.set_refusing(false);
    }
    assert_eq!(p.events(1), [event("SyncConnected", "None", "null")]);
    // One event per watched path that changed (the persistent ones fire only for changes after
    // they are re-armed).
    p.events(4);
    q.cmds(&["create /r/after x", "set /p z"]);
    p.events(2);
    p.no_more_events();
    p.quit();
    q.quit();
}
