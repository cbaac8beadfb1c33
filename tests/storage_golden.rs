//! Rookery's files against files written by Apache ZooKeeper 3.8's own classes
//! (tests/golden/GoldenFiles.java): the same txns give the same log bytes, the same tree gives
//! the same snapshot bytes, and each side reads the other's.

use rookery::codes::op;
use rookery::jute::data::open_acl_unsafe;
use rookery::jute::txn::*;
use rookery::jute::txn_body::{Transaction, TxnBody};
use rookery::storage::file_log::{read_logs, TxnLog};
use rookery::storage::snapshot::{read_snapshot, SnapshotWriter};
use rookery::tree::DataTree;
use std::collections::BTreeMap;
use std::path::PathBuf;

const T: i64 = 1_700_000_000_000;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/disk")
}

fn txns() -> Vec<Transaction> {
    let h =
        |cxid: i32, zxid: i64, kind: i32| TxnHeader { client_id: 0x1234, cxid, zxid, time: T + cxid as i64 - 1, kind };
    vec![
        Transaction {
            header: h(1, 0x1_0000_0001, op::CREATE),
            body: TxnBody::Create(CreateTxn {
                path: "/a".into(),
                data: Some(b"x".to_vec()),
                acl: open_acl_unsafe(),
                ephemeral: false,
                parent_cversion: 1,
            }),
            digest: None,
        },
        Transaction {
            header: h(2, 0x1_0000_0002, op::SET_DATA),
            body: TxnBody::SetData(SetDataTxn { path: "/a".into(), data: Some(b"yz".to_vec()), version: 1 }),
            digest: None,
        },
        Transaction {
            header: h(3, 0x1_0000_0003, op::CREATE),
            body: TxnBody::Create(CreateTxn {
                path: "/a/e".into(),
                data: Some(vec![]),
                acl: open_acl_unsafe(),
                ephemeral: true,
                parent_cversion: 1,
            }),
            digest: None,
        },
        Transaction {
            header: h(4, 0x1_0000_0004, op::DELETE),
            body: TxnBody::Delete(DeleteTxn { path: "/a/e".into() }),
            digest: None,
        },
    ]
}

fn tmp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("rookery-golden-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

#[test]
fn our_log_is_byte_identical_to_zookeepers() {
    let dir = tmp("log");
    let mut log = TxnLog::open(&dir, 16 * 1024, false, 0).unwrap();
    for t in txns() {
        log.append(t.header.zxid, &t.to_bytes()).unwrap();
    }
    log.commit().unwrap();
    let ours = std::fs::read(dir.join("log.100000001")).unwrap();
    let theirs = std::fs::read(fixtures().join("log.100000001")).unwrap();
    assert_eq!(ours.len(), 16400);
    assert!(ours == theirs, "log bytes differ from ZooKeeper's");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn we_read_zookeepers_log() {
    let scan = read_logs(&fixtures(), 0).unwrap();
    assert!(scan.torn_tail.is_none());
    let got: Vec<Transaction> = scan.records.iter().map(|r| Transaction::from_bytes(&r.payload).unwrap()).collect();
    assert_eq!(got, txns());
}

#[test]
fn snapshots_are_byte_identical_both_ways() {
    let loaded = read_snapshot(&fixtures().join("snapshot.100000001")).unwrap();
    assert_eq!(loaded.zxid, 0x1_0000_0001);
    assert_eq!(loaded.digest, Some((0, 0)), "ZooKeeper wrote an empty digest (no txn processed)");
    let a = loaded.tree.get("/a").unwrap();
    assert_eq!(a.data.as_deref(), Some(&b"x"[..]));
    assert_eq!(loaded.tree.sessions, BTreeMap::from([(0x1234, 30000)]));
    assert_eq!(loaded.tree.get("/zookeeper/config").unwrap().stat.aversion, -1);

    // The same tree built by our apply, written by our writer, gives the same bytes.
    let mut tree = DataTree::new();
    let t = &txns()[0];
    tree.apply(&t.header, &t.body, &mut Vec::new());
    tree.sessions.insert(0x1234, 30000);
    assert_eq!(tree.digest(), 7_539_952_680, "ZooKeeper's DataTree.getTreeDigest() for this tree");
    let mut w = SnapshotWriter::new(0x1_0000_0001, &tree.sessions);
    w.add_nodes(tree.nodes_after(None, usize::MAX), |i| tree.acls.get(i));
    let dir = tmp("snap");
    let (path, _) = w.finish(&dir, (0, 0)).unwrap();
    let ours = std::fs::read(&path).unwrap();
    let theirs = std::fs::read(fixtures().join("snapshot.100000001")).unwrap();
    assert!(ours == theirs, "snapshot bytes differ from ZooKeeper's");
    assert_eq!(read_snapshot(&path).unwrap().tree.digest(), tree.digest());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The SNAP stream a leader sends is the snapshot's database (no file header, no seals) and
/// "BenWasHere": cut from ZooKeeper's own snapshot file, it must read as the same tree; and our
/// writer's stream must read back identically.
#[test]
fn sync_stream_is_the_snapshot_body_and_a_signature() {
    use rookery::jute::JuteWrite;
    use rookery::storage::snapshot::read_sync_stream;
    let file = std::fs::read(fixtures().join("snapshot.100000001")).unwrap();
    // Header (16 bytes) .. end marker "/" (4-byte length + '/'), before the first seal.
    let end = file.windows(5).rposition(|w| w == [0, 0, 0, 1, b'/']).unwrap();
    let seal_at = file[..end].windows(5).rposition(|w| w == [0, 0, 0, 1, b'/']).unwrap();
    let marker_end = file[..seal_at - 8].windows(5).rposition(|w| w == [0, 0, 0, 1, b'/']).unwrap() + 5;
    let mut stream = file[16..marker_end].to_vec();
    stream.put_ustring(Some("BenWasHere"));
    let tree = read_sync_stream(&stream[..], 0x1_0000_0001).unwrap();
    let theirs = read_snapshot(&fixtures().join("snapshot.100000001")).unwrap().tree;
    assert_eq!(tree.digest(), theirs.digest());
    assert_eq!(tree.sessions, theirs.sessions);

    let mut w = SnapshotWriter::new(0x1_0000_0001, &tree.sessions);
    w.add_nodes(tree.nodes_after(None, usize::MAX), |i| tree.acls.get(i));
    let ours = w.into_sync_stream();
    assert_eq!(ours, stream, "our SNAP stream has ZooKeeper's bytes");
    let mut bad = ours.clone();
    let n = bad.len();
    bad[n - 3] ^= 1;
    assert!(read_sync_stream(&bad[..], 0).is_err(), "a wrong signature is refused");
}
