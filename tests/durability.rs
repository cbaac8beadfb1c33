//! Durability: every acknowledged write survives kill -9 and restarts; damaged files are cut (a
//! torn tail) or refused (anything else) with a message naming the file; a full disk stops
//! writes without losing acknowledged ones.

mod common;

use common::{wait_until, Server, TempDir};
use rookery::client::{Client, ClientError, Op};
use rookery::codes::{op, ErrorCode};
use rookery::jute::data::Stat;
use rookery::jute::proto::{GetAllChildrenNumberRequest, GetAllChildrenNumberResponse};
use rookery::jute::Record;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const T: i32 = 30_000;

/// Every node under `root` with its data and stat.
fn dump(c: &mut Client, root: &str) -> BTreeMap<String, (Option<Vec<u8>>, Stat)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        let (data, stat) = c.get_data(&p, false).unwrap();
        for child in c.get_children(&p, false).unwrap() {
            stack.push(if p == "/" { format!("/{child}") } else { format!("{p}/{child}") });
        }
        out.insert(p, (data, stat));
    }
    out
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    v.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        i64::from_str_radix(name.rsplit('.').next().unwrap(), 16).unwrap_or(-1)
    });
    v
}

/// Starts the binary on a config and expects it to refuse: (exit code, stderr).
fn expect_refusal(cfg: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rookery")).arg("server").arg(cfg).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn write_some(c: &mut Client, n: usize) {
    c.create("/w", b"root", 0).unwrap();
    for i in 0..n {
        c.create(&format!("/w/n{i:04}"), format!("value {i}").as_bytes(), 0).unwrap();
    }
}

#[test]
fn restart_keeps_every_acknowledged_write_and_stat() {
    let s = Server::start("snapCount=20");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 60);
    for i in 0..60 {
        if i % 3 == 0 {
            c.set_data(&format!("/w/n{i:04}"), b"changed", -1).unwrap();
        }
        if i % 7 == 0 {
            c.delete(&format!("/w/n{i:04}"), -1).unwrap();
        }
    }
    c.create("/w/eph", b"e", 1).unwrap();
    c.create("/w/seq-", b"", 2).unwrap();
    c.multi(&[
        Op::Create { path: "/w/m".into(), data: b"m".to_vec(), flags: 0 },
        Op::Check { path: "/w".into(), version: 0 },
    ])
    .unwrap();
    let before = dump(&mut c, "/w");
    let w = &before["/w"].1;
    let creates = (w.cversion + w.num_children) / 2; // clients see 2 * creates - children
    let (id, pw, z) = (c.session_id, c.passwd.clone(), c.last_zxid);
    drop(c);
    assert!(
        wait_until(Duration::from_secs(10), || files(&s.data_dir(), "snapshot.").len() >= 2),
        "snapshots were taken"
    );

    let s = s.restart();
    let mut c = Client::connect(s.addr, T).unwrap();
    assert_eq!(dump(&mut c, "/w"), before, "data and stats survive kill -9");
    assert!(!s.log().contains("digest mismatch"), "{}", s.log());
    assert_eq!(c.create("/w/seq-", b"", 2).unwrap(), format!("/w/seq-{creates:010}"), "sequence numbers go on");
    // The session survived the restart too: it resumes, and closing it removes its ephemeral.
    let owner = Client::resume(s.addr, T, id, pw, z).unwrap();
    owner.close().unwrap();
    assert!(c.exists("/w/eph", false).unwrap().is_none());
}

#[test]
fn sessions_expire_after_a_restart() {
    let s = Server::start("minSessionTimeout=400");
    let mut c = Client::connect(s.addr, 400).unwrap();
    c.create("/eph", b"", 1).unwrap();
    let s = s.restart();
    let mut w = Client::connect(s.addr, T).unwrap();
    assert!(w.exists("/eph", false).unwrap().is_some(), "the session is back after the restart");
    assert!(wait_until(Duration::from_secs(10), || w.exists("/eph", false).unwrap().is_none()), "then it expires");
}

/// The end of the records in a log file (where the zero padding starts).
fn records_end(bytes: &[u8]) -> usize {
    let mut at = 16;
    while at + 12 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        if len <= 0 {
            break;
        }
        at += 12 + len as usize + 1;
    }
    at
}

/// Offsets of the records in a log file.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut at = 16;
    while at + 12 <= bytes.len() {
        let len = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        if len <= 0 {
            break;
        }
        v.push(at);
        at += 12 + len as usize + 1;
    }
    v
}

#[test]
fn torn_tail_is_cut_with_a_warning() {
    let mut s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 10);
    let before = dump(&mut c, "/w");
    s.kill();
    // A crash in the middle of writing the next record: its header and half its payload.
    let log = files(&s.data_dir(), "log.").pop().unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    let end = records_end(&bytes);
    let torn = [0u8, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 80, 0xde, 0xad, 0xbe, 0xef];
    bytes[end..end + torn.len()].copy_from_slice(&torn);
    std::fs::write(&log, &bytes).unwrap();

    let s = s.restart();
    assert!(s.log().contains("torn last record"), "{}", s.log());
    let mut c = Client::connect(s.addr, T).unwrap();
    assert_eq!(dump(&mut c, "/w"), before);
    c.create("/after", b"", 0).unwrap();
    let s = s.restart();
    let mut c = Client::connect(s.addr, T).unwrap();
    assert!(c.exists("/after", false).unwrap().is_some(), "the log is usable after the cut");
}

#[test]
fn flipped_byte_mid_log_refuses_to_start_naming_file_and_offset() {
    let mut s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 10);
    s.kill();
    let log = files(&s.data_dir(), "log.").pop().unwrap();
    let mut bytes = std::fs::read(&log).unwrap();
    let third = record_offsets(&bytes)[2];
    bytes[third + 30] ^= 0x40;
    std::fs::write(&log, &bytes).unwrap();
    let (code, err) = expect_refusal(&s.cfg_path());
    assert_ne!(code, 0);
    let name = log.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name) && err.contains(&format!("offset {third}")), "{err}");
}

#[test]
fn logs_without_a_snapshot_refuse_to_start() {
    let mut s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 3);
    s.kill();
    for snap in files(&s.data_dir(), "snapshot.") {
        std::fs::remove_file(snap).unwrap();
    }
    let (code, err) = expect_refusal(&s.cfg_path());
    assert_ne!(code, 0);
    assert!(err.contains("no snapshot") && err.contains("ZOOKEEPER-2325"), "{err}");
}

#[test]
fn truncated_newest_snapshot_falls_back_to_an_older_one() {
    let mut s = Server::start("snapCount=10");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 40);
    let before = dump(&mut c, "/w");
    assert!(wait_until(Duration::from_secs(10), || files(&s.data_dir(), "snapshot.").len() >= 3));
    s.kill();
    let newest = files(&s.data_dir(), "snapshot.").pop().unwrap();
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len / 2).unwrap();
    let s = s.restart();
    assert!(s.log().contains("incomplete snapshot"), "{}", s.log());
    let mut c = Client::connect(s.addr, T).unwrap();
    assert_eq!(dump(&mut c, "/w"), before);
}

#[test]
fn purge_keeps_what_recovery_needs() {
    let mut s = Server::start("snapCount=10");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 80);
    // A snapshot starts only when the previous one is done: on a loaded machine 80 writes may
    // leave fewer than five, so keep writing until there are.
    let mut more = 0;
    assert!(wait_until(Duration::from_secs(30), || {
        more += 1;
        c.set_data("/w", format!("more {more}").as_bytes(), -1).unwrap();
        files(&s.data_dir(), "snapshot.").len() >= 5
    }));
    let before = dump(&mut c, "/w");
    s.kill();
    let dir = s.data_dir();
    let gone = rookery::storage::purge::purge(&dir, &dir, 3).unwrap();
    assert!(!gone.is_empty());
    assert_eq!(files(&dir, "snapshot.").len(), 3);
    // Damage the newest snapshot: recovery must still manage from the two purge kept.
    let newest = files(&dir, "snapshot.").pop().unwrap();
    std::fs::write(&newest, b"garbage").unwrap();
    let s = s.restart();
    let mut c = Client::connect(s.addr, T).unwrap();
    assert_eq!(dump(&mut c, "/w"), before);
}

#[test]
fn restart_with_100k_znodes() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/big", b"", 0).unwrap();
    for batch in 0..100 {
        let ops: Vec<Op> = (0..1000)
            .map(|i| Op::Create { path: format!("/big/n{:06}", batch * 1000 + i), data: vec![b'x'; 100], flags: 0 })
            .collect();
        c.multi(&ops).unwrap();
    }
    let started = Instant::now();
    let s = s.restart();
    let mut c = Client::connect(s.addr, T).unwrap();
    println!("restart with 100k znodes served a client after {} ms", started.elapsed().as_millis());
    let body =
        c.call(op::GET_ALL_CHILDREN_NUMBER, &GetAllChildrenNumberRequest { path: "/big".into() }.to_bytes()).unwrap();
    assert_eq!(GetAllChildrenNumberResponse::from_bytes(&body).unwrap().total_number, 100_000);
    assert_eq!(c.get_data("/big/n099999", false).unwrap().0.unwrap(), vec![b'x'; 100]);
}

/// kill -9 at random moments while a client writes: after each restart every acknowledged
/// write is there, and nothing else (at most the one write in flight may also have landed).
#[test]
fn crash_at_random_points_loses_no_acknowledged_write() {
    let rounds: u64 = std::env::var("CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(12);
    let mut seed: u64 = std::env::var("CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed);
    println!("CRASH_SEED={seed} CRASH_ROUNDS={rounds}");
    let mut s = Server::start("snapCount=50");
    let mut acked: Vec<String> = Vec::new();
    let mut in_flight: Vec<String> = Vec::new();
    let mut next = 0u64;
    for round in 0..rounds {
        let mut c = Client::connect(s.addr, T).unwrap();
        let mut existing: Vec<String> = c.get_children("/", false).unwrap();
        existing.retain(|n| n.starts_with('k'));
        existing.sort();
        for a in &acked {
            assert!(existing.binary_search(&a[1..].to_string()).is_ok(), "round {round}: acknowledged {a} is lost");
        }
        for e in &existing {
            let p = format!("/{e}");
            assert!(acked.contains(&p) || in_flight.contains(&p), "round {round}: {p} appeared from nowhere");
            if !acked.contains(&p) {
                acked.push(p);
            }
        }
        in_flight.clear();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let kill_after = Duration::from_millis(20 + seed % 200);
        let started = Instant::now();
        let mut killer = None;
        while started.elapsed() < Duration::from_secs(5) {
            if started.elapsed() >= kill_after && killer.is_none() {
                // Kill from another thread while a write is in flight.
                let pid = s.child.id();
                killer = Some(std::thread::spawn(move || {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }));
            }
            let p = format!("/k{next:08}");
            next += 1;
            in_flight.push(p.clone());
            match c.create(&p, p.as_bytes(), 0) {
                Ok(_) => {
                    in_flight.retain(|x| x != &p);
                    acked.push(p);
                }
                Err(ClientError::Keeper(e)) => panic!("round {round}: {p}: {e:?}"),
                Err(_) => break, // the server died mid-request
            }
        }
        if let Some(k) = killer {
            k.join().unwrap();
        }
        s = s.restart();
    }
    assert!(acked.len() > rounds as usize, "the rounds did write");
}

/// A small tmpfs, unmounted on drop.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: PathBuf, size_kb: u32) -> SmallDisk {
        std::fs::create_dir_all(&at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kb}k"), "tmpfs"])
            .arg(&at)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "mounting a small tmpfs for the disk-full test needs root (CI runs as root)");
        SmallDisk(at)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn full_disk_refuses_writes_serves_reads_and_resumes() {
    let dir = TempDir::new("full");
    let disk = SmallDisk::mount(dir.0.join("data"), 512);
    let cfg = dir.0.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=200\ndataDir={}\nclientPort=0\nclientPortAddress=127.0.0.1\npreAllocSize=16\nsnapCount=1000000\n",
            disk.0.display()
        ),
    )
    .unwrap();
    let filler = disk.0.join("filler");
    std::fs::write(&filler, vec![7u8; 300 * 1024]).unwrap();
    let s = Server::start_with(TempDir(dir.0.clone()), &cfg);
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/kept", b"before the disk filled", 0).unwrap();
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let p = format!("/fill{i:03}");
        match c.create(&p, &[b'f'; 8 * 1024], 0) {
            Ok(_) => acked.push(p),
            Err(ClientError::Keeper(ErrorCode::NotReadOnly)) => {
                refused = Some(p);
                break;
            }
            Err(e) => panic!("{p}: {e}"),
        }
    }
    let refused = refused.expect("the disk filled up");
    assert!(s.log().contains("cannot write the txn log"), "{}", s.log());
    assert_eq!(c.get_data("/kept", false).unwrap().0.unwrap(), b"before the disk filled", "reads go on");
    // Space comes back: writes resume.
    std::fs::remove_file(&filler).unwrap();
    assert!(wait_until(Duration::from_secs(10), || c.create("/resumed", b"", 0).is_ok()));
    let s = s.restart();
    let mut c = Client::connect(s.addr, T).unwrap();
    for p in &acked {
        assert!(c.exists(p, false).unwrap().is_some(), "{p} was acknowledged");
    }
    assert!(c.exists(&refused, false).unwrap().is_none(), "{refused} was refused");
    assert!(c.exists("/resumed", false).unwrap().is_some());
    drop(c);
    drop(s);
    drop(disk);
    std::mem::forget(dir); // the server's TempDir owns the same path
}

#[test]
fn empty_snapshot_with_logs_refuses_to_start() {
    let mut s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    write_some(&mut c, 3);
    s.kill();
    // Every snapshot emptied (as after a crash mid-write by a less careful writer): the logs alone
    // cannot rebuild the tree, and an empty start would lose data (ZOOKEEPER-2325).
    for snap in files(&s.data_dir(), "snapshot.") {
        std::fs::write(&snap, b"").unwrap();
    }
    let (code, err) = expect_refusal(&s.cfg_path());
    assert_ne!(code, 0);
    assert!(err.contains("none of the") && err.contains("usable"), "{err}");
}
