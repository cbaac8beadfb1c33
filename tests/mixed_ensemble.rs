//! Mixed ensembles of Apache ZooKeeper 3.8 (Debian's jars) and Rookery on loopback, driven by
//! `tests/interop/mixed_ensemble.py` (kazoo from `.venv`, servers from `scripts/bench.py`): each
//! implementation leads in turn while a client writes, and a rolling migration replaces three
//! ZooKeeper servers one at a time with Rookery on the same data directories, and back. The script
//! checks that no acknowledged write is lost and that every member holds the same tree.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn python() -> PathBuf {
    let py = common::root().join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run `make deps` to create the virtualenv with kazoo", py.display());
    assert!(
        std::path::Path::new("/usr/share/java/zookeeper.jar").exists(),
        "Apache ZooKeeper's jars are missing: run `make deps`"
    );
    py
}

/// Runs the script with `args` (plus a fresh work directory) and returns its `OK` line.
fn run(tag: &str, args: &[&str]) -> String {
    let work = common::TempDir::new(tag);
    let out = Command::new(python())
        .arg(common::root().join("tests/interop/mixed_ensemble.py"))
        .args(args)
        .arg(&work.0)
        .env("ROOKERY_BIN", env!("CARGO_BIN_EXE_rookery"))
        .stdin(Stdio::null())
        .output()
        .expect("run the mixed-ensemble script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let logs: String = ["1", "2", "3"]
        .iter()
        .map(|i| {
            let log = std::fs::read_to_string(work.0.join(i).join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            format!("--- server {i} (last lines) ---\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
        })
        .collect();
    assert!(
        out.status.success() && stdout.contains("OK "),
        "{args:?}: {stdout}{}\n{logs}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().find(|l| l.starts_with("OK ")).unwrap_or_default().to_string()
}

#[test]
fn two_zookeepers_and_a_rookery_take_turns_leading() {
    println!("{}", run("mixed-zzr", &["leaders", "zookeeper,zookeeper,rookery"]));
}

#[test]
fn a_zookeeper_and_two_rookeries_take_turns_leading() {
    // ZooKeeper is server 3: it wins an election against a Rookery with the same zxid.
    println!("{}", run("mixed-rrz", &["leaders", "rookery,rookery,zookeeper"]));
}

#[test]
fn rolling_migration_from_zookeeper_to_rookery_keeps_every_write_and_the_session() {
    println!("{}", run("mixed-rolling", &["rolling", "zookeeper", "rookery"]));
}

#[test]
fn rolling_migration_back_from_rookery_to_zookeeper_keeps_every_write_and_the_session() {
    println!("{}", run("mixed-rolling-back", &["rolling", "rookery", "zookeeper"]));
}
