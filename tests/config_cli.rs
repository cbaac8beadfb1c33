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
