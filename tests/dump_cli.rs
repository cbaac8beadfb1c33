//! `rookery dump`: reads ZooKeeper's own files (written by the 3.8 jars) as text and as JSON, and
//! names the file and offset of damage.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/disk").join(name)
}

fn dump(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("dump").args(args).output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[test]
fn dumps_zookeepers_log_and_snapshot() {
    let log = fixture("log.100000001");
    let (code, out, _) = dump(&["log", log.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("zxid 0x100000002 setData '/a,'yz,1"), "{out}");
    assert!(out.ends_with("EOF reached after 4 txns.\n"), "{out}");
    let snap = fixture("snapshot.100000001");
    let (code, out, _) = dump(&["snapshot", snap.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.starts_with("ZNode Details (count=5):") && out.contains("\n/a\n"), "{out}");
    assert!(out.contains("0x1234, 30000, 0"), "{out}");
    let (code, json, _) = dump(&["snapshot", snap.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    assert!(json.contains("\"path\":\"/a\",\"data\":\"x\""), "{json}");
    let (code, json, _) = dump(&["log", "--json", log.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(json.matches("\"zxid\"").count(), 4, "{json}");
}

#[test]
fn damage_is_reported_with_file_and_offset() {
    let dir = std::env::temp_dir().join(format!("rookery-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bytes = std::fs::read(fixture("snapshot.100000001")).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    let bad = dir.join("snapshot.100000001");
    std::fs::write(&bad, &bytes).unwrap();
    let (code, _, err) = dump(&["snapshot", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("snapshot.100000001") && err.contains("offset"), "{err}");
    let (code, _, err) = dump(&["nonsense"]);
    assert_eq!(code, 2, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
