//! `rookery bench` runs a short workload correctly. Its figures are printed, never asserted:
//! speed is measured by `make bench`, not by tests.

mod common;

use std::process::Command;

#[test]
fn bench_runs_a_short_workload_without_errors() {
    let s = common::Server::start("");
    for op in ["create", "set", "get"] {
        let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
            .args(["bench", "--hosts", &s.hostport(), "--clients", "4", "--duration", "0.3", "--op", op])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{op}: {text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("errors=0"), "{op}: {text}");
        let ops: u64 = text.split("ops=").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
        assert!(ops > 0, "{op}: {text}");
        if op == "create" {
            assert!(text.contains("txns_per_fsync="), "{text}");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_rookery")).args(["bench", "--op", "nope"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
