//! `rookery bench` runs short workloads correctly. Its figures are printed, never asserted: speed
//! is measured by `make bench`, not by tests.

mod common;

use std::process::Command;

/// Runs `rookery bench ARGS` and returns its `BENCH {json}` line's fields as (key, raw value).
fn bench(s: &common::Server, args: &[&str]) -> Vec<(String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery"))
        .args(["bench", "--hosts", &s.hostport(), "--quiet"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    let line = text.lines().last().and_then(|l| l.strip_prefix("BENCH {")).unwrap_or_else(|| panic!("{text}"));
    line.trim_end_matches('}')
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once(':').unwrap();
            (k.trim_matches('"').to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

fn field(fields: &[(String, String)], key: &str) -> f64 {
    fields.iter().find(|(k, _)| k == key).unwrap_or_else(|| panic!("{key} in {fields:?}")).1.parse().unwrap()
}

#[test]
fn every_workload_runs_without_errors() {
    let s = common::Server::start("");
    for op in ["create", "set", "get", "exists", "mixed", "watch", "ephemeral"] {
        let f = bench(&s, &["--op", op, "--clients", "3", "--outstanding", "4", "--duration", "0.3", "--keys", "20"]);
        assert_eq!(field(&f, "errors"), 0.0, "{op}: {f:?}");
        assert!(field(&f, "ops") > 0.0, "{op}: {f:?}");
        assert!(field(&f, "p50_ms") <= field(&f, "p99_ms") && field(&f, "p99_ms") <= field(&f, "max_ms"), "{f:?}");
        if op == "watch" {
            assert!(field(&f, "events") > 0.0, "sets fire the watches: {f:?}");
        }
        if op == "create" {
            assert!(field(&f, "fsyncs") > 0.0, "mntr's fsync figures: {f:?}");
        }
    }
}

#[test]
fn total_makes_exactly_that_many_znodes() {
    let s = common::Server::start("");
    let f = bench(&s, &["--op", "create", "--total", "1000", "--duration", "60", "--root", "/fill"]);
    assert_eq!((field(&f, "ops"), field(&f, "errors")), (1000.0, 0.0));
    let mut c = rookery::client::Client::connect(s.addr, 30_000).unwrap();
    let mut children = 0;
    for i in 0..4 {
        children += c.get_children(&format!("/fill/c{i}"), false).unwrap().len();
    }
    assert_eq!(children, 1000);
    // A paced run offers about the asked rate (loosely: this checks the pacing works at all).
    let f = bench(&s, &["--op", "get", "--rate", "200", "--duration", "1", "--root", "/fill"]);
    assert!(field(&f, "ops") > 50.0 && field(&f, "ops") < 400.0, "{f:?}");
}

#[test]
fn bad_options_exit_2() {
    for args in [&["--op", "nope"][..], &["--clients", "0"], &["--frobnicate", "1"]] {
        let bad = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("bench").args(args).output().unwrap();
        assert_eq!(bad.status.code(), Some(2), "{args:?}");
    }
}
