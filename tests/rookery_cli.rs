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
        assert_eq!(got, want, "output of {c:?} (left: rookery cli, right: zkCli.sh)");
        got
    }

    /// Like `cmd`, for a command whose output includes zkCli's usage text: rookery cli lists the
    /// commands it has, which are zkCli's but for the quota commands and reconfig.
    fn cmd_with_usage(&mut self, c: &str) -> Vec<String> {
        let want: Vec<String> = self.zk.cmd(c).into_iter().filter(|l| !not_in_rookery(l)).collect();
        let got = self.rk.cmd(c);
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
        let got = self.rk.quit();
        assert_eq!(got, want, "events at quit");
    }
}

/// A usage line of a zkCli command that rookery cli does not have.
fn not_in_rookery(line: &str) -> bool {
    ["\tdelquota ", "\tlistquota ", "\treconfig ", "\tsetquota "].iter().any(|c| line.starts_with(c))
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
    for c in ["bogus", "bogus with args"] {
        p.cmd_with_usage(c);
    }
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
