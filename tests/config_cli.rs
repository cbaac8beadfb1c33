//! The binary's contract for bad configuration: a message naming file, line and key on stderr,
//! exit status 2, never a panic.

mod common;

use std::process::Command;

fn run(cfg: &str) -> (i32, String) {
    let dir = common::TempDir::new("cfg");
    let path = dir.0.join("zoo.cfg");
    std::fs::write(&path, cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("server").arg(&path).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_value_names_file_line_and_key_and_exits_2() {
    let (code, err) = run("dataDir=/tmp/x\nclientPort=0\ntickTime=abc\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("zoo.cfg:3") && err.contains("tickTime"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn missing_file_and_port_out_of_range_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).args(["server", "/nonexistent/zoo.cfg"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (code, err) = run("dataDir=/tmp/x\nclientPort=70000\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("clientPort"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}

#[test]
fn status_reports_each_server() {
    let s = common::Server::start("");
    // The server's own file says clientPort=0; describe it by the port it got.
    let described = s.dir.0.join("status.cfg");
    std::fs::write(
        &described,
        format!("dataDir=/tmp/none\nclientPort={}\nclientPortAddress=127.0.0.1\n", s.addr.port()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("status").arg(&described).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&s.hostport()) && text.contains("standalone"), "{text}");
    // A three-server file where nothing runs: one line each, exit 1.
    let dir = common::TempDir::new("status");
    let cfg = dir.0.join("zoo.cfg");
    let mut lines = String::from("dataDir=/tmp/none\nclientPort=1\ninitLimit=10\nsyncLimit=5\n");
    for id in 1..=3 {
        lines.push_str(&format!("server.{id}=127.0.0.1:{}:{};127.0.0.1:{}\n", 1 + id, 10 + id, 20 + id));
    }
    std::fs::write(&cfg, lines).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("status").arg(&cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("not running").count(), 3, "{text}");
    // After a reconfig the servers live in the dynamic file zoo.cfg names: status follows it.
    let dynamic = dir.0.join("zoo.cfg.dynamic.100000000");
    std::fs::write(&dynamic, "server.1=127.0.0.1:2:11:participant;127.0.0.1:21\nserver.4=127.0.0.1:5:14;127.0.0.1:24")
        .unwrap();
    std::fs::write(
        &cfg,
        format!("dataDir=/tmp/none\ninitLimit=10\nsyncLimit=5\ndynamicConfigFile={}\n", dynamic.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("status").arg(&cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("not running").count(), 2, "{text}");
    assert!(text.contains("127.0.0.1:24"), "{text}");
}

/// Scripts written for zkServer.sh set system properties in `SERVER_JVMFLAGS`/`JVMFLAGS`.
#[test]
fn jvm_flags_set_the_system_properties_zookeeper_reads() {
    let dir = common::TempDir::new("jvmflags");
    let cfg = dir.0.join("zoo.cfg");
    let data = dir.0.join("data");
    std::fs::write(
        &cfg,
        format!("tickTime=200\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\n", data.display()),
    )
    .unwrap();
    let env = [("SERVER_JVMFLAGS", "-Xmx512m -Dzookeeper.4lw.commands.whitelist=ruok"), ("JVMFLAGS", "")];
    let mut s = common::Server::start_with_env(dir, &cfg, &env);
    assert_eq!(s.four("ruok"), "imok");
    assert!(s.four("conf").contains("is not executed because it is not in the whitelist"), "{}", s.four("conf"));
    s.kill();

    let (code, err) = {
        let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
            .arg("server")
            .arg(&cfg)
            .env("SERVER_JVMFLAGS", "")
            .env("JVMFLAGS", "-Dzookeeper.snapCount=lots")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("JVMFLAGS: zookeeper.snapCount:"), "{err}");
}
