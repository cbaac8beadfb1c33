//! Apache ZooKeeper 3.8 (`ZooKeeperServerMain` from Debian's jars) as a reference server: the
//! client suites run against it with `ROOKERY_*_REFERENCE=zookeeper`, which is how their
//! expectations were checked. Loopback, an OS-chosen port, a temp dir; only this child is killed.

use super::{wait_until, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The jars and config dir the Debian package installs.
pub const CLASSPATH: &str = "/usr/share/java/*:/etc/zookeeper/conf";
/// How long a JVM on two busy cores may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ReferenceZk {
    child: Child,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

impl ReferenceZk {
    /// Starts a standalone ZooKeeper (tickTime=200, every four-letter word allowed) with `extra`
    /// zoo.cfg lines, on `classpath` with `jvm_flags`, and waits until `srvr` reports a mode.
    pub fn start(tag: &str, extra: &str, classpath: &str, jvm_flags: &[&str]) -> ReferenceZk {
        assert!(
            std::path::Path::new("/usr/share/java/zookeeper.jar").exists(),
            "Apache ZooKeeper's jars are missing: run `make deps`"
        );
        let dir = TempDir::new(tag);
        // ZooKeeper reads the container check interval and the JAAS file only as JVM system
        // properties (Rookery reads them from zoo.cfg); other unknown keys become
        // `zookeeper.<key>` properties.
        let mut props: Vec<String> = vec!["-Dzookeeper.jmx.log4j.disable=true".into()];
        props.extend(jvm_flags.iter().map(|f| f.to_string()));
        let mut cfg_extra = String::new();
        for line in extra.lines() {
            match line.split_once('=') {
                Some((k, v)) if k.trim() == "znode.container.checkIntervalMs" || k.trim().starts_with("java.") => {
                    props.push(format!("-D{}={}", k.trim(), v.trim()))
                }
                _ => {
                    cfg_extra.push_str(line);
                    cfg_extra.push('\n');
                }
            }
        }
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("pick a port").port();
        let cfg = dir.0.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 4lw.commands.whitelist=*\nadmin.enableServer=false\n{cfg_extra}",
                dir.0.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.0.join("server.log")).unwrap();
        let child = Command::new("java")
            .args(&props)
            .args(["-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn java (run `make deps` for Apache ZooKeeper)");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let z = ReferenceZk { child, addr, dir };
        // The port opens before sessions are served (`ruok` answers already); `srvr` names the
        // mode only once they are.
        assert!(
            wait_until(START_TIMEOUT, || four(addr, "srvr").contains("Mode: ")),
            "ZooKeeper did not start on {addr}"
        );
        z
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }
}

impl Drop for ReferenceZk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A four-letter word's answer ("" if the server cannot be reached).
pub fn four(addr: SocketAddr, cmd: &str) -> String {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else { return String::new() };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = s.write_all(cmd.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
