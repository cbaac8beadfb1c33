//! Histories recorded from concurrent clients are linearizable (per znode: its data and version
//! as a register with compare-and-set through setData's version check), on a running server and
//! across a kill -9 in the middle of the load. The checker is tests/common/linearizable.rs.

mod common;

use common::linearizable::{check, Event, Op, Reg};
use common::Server;
use rookery::client::{Client, ClientError};
use rookery::codes::ErrorCode;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEYS: usize = 4;
const CLIENTS: u64 = 4;
const OPS_PER_CLIENT: usize = 56; // ~56 ops per key: under the checker's 64

fn ev(op: Op, start: u64, end: Option<u64>) -> Event {
    Event { op, start, end }
}

#[test]
fn the_checker_accepts_and_rejects() {
    let r0 = Reg { value: 0, version: 0 };
    // Two overlapping writes, then reads that pick an order: linearizable.
    let ok = [
        ev(Op::Write { value: 1, ok: Some(true) }, 0, Some(10)),
        ev(Op::Write { value: 2, ok: Some(true) }, 1, Some(11)),
        ev(Op::Read { saw: Reg { value: 1, version: 2 } }, 12, Some(13)),
    ];
    assert!(check(r0, &ok));
    // A read that sees a value before anyone could have written it: not linearizable.
    let bad = [
        ev(Op::Read { saw: Reg { value: 5, version: 1 } }, 0, Some(1)),
        ev(Op::Write { value: 5, ok: Some(true) }, 2, Some(3)),
    ];
    assert!(!check(r0, &bad));
    // A stale read after a completed write: not linearizable.
    let stale = [ev(Op::Write { value: 7, ok: Some(true) }, 0, Some(1)), ev(Op::Read { saw: r0 }, 2, Some(3))];
    assert!(!check(r0, &stale));
    // A CAS whose outcome is unknown may have happened...
    let maybe = [
        ev(Op::Cas { expect: 0, value: 9, ok: None }, 0, None),
        ev(Op::Read { saw: Reg { value: 9, version: 1 } }, 5, Some(6)),
    ];
    assert!(check(r0, &maybe));
    // ...or not.
    let maybe_not = [ev(Op::Cas { expect: 0, value: 9, ok: None }, 0, None), ev(Op::Read { saw: r0 }, 5, Some(6))];
    assert!(check(r0, &maybe_not));
    // A CAS that reports success must have seen the version it expected.
    let wrong_cas = [
        ev(Op::Write { value: 1, ok: Some(true) }, 0, Some(1)),
        ev(Op::Cas { expect: 0, value: 2, ok: Some(true) }, 2, Some(3)),
    ];
    assert!(!check(r0, &wrong_cas));
}

fn now(t0: Instant) -> u64 {
    t0.elapsed().as_nanos() as u64
}

/// Runs the clients against `addr` (re-read after every connection failure) and returns the
/// history per key.
fn load(
    addr: Arc<Mutex<SocketAddr>>,
    t0: Instant,
    crash_after: Option<usize>,
    on_crash: impl Fn() + Send + Sync + 'static,
) -> Vec<Vec<Event>> {
    let history: Arc<Mutex<Vec<Vec<Event>>>> = Arc::new(Mutex::new(vec![Vec::new(); KEYS]));
    let on_crash = Arc::new(on_crash);
    let mut threads = Vec::new();
    for c in 0..CLIENTS {
        let (addr, history, on_crash) = (addr.clone(), history.clone(), on_crash.clone());
        threads.push(std::thread::spawn(move || {
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (c + 1);
            let mut rnd = |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            let connect = || {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let a = *addr.lock().unwrap();
                    match Client::connect(a, 10_000) {
                        Ok(cl) => return cl,
                        Err(e) if Instant::now() > deadline => panic!("cannot reconnect: {e}"),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            };
            let mut cl = connect();
            let mut last_version = [0i32; KEYS];
            for i in 0..OPS_PER_CLIENT {
                if c == 0 && crash_after == Some(i) {
                    on_crash();
                }
                let k = rnd(KEYS as u64) as usize;
                let path = format!("/lin/k{k}");
                let value = (c << 32) | i as u64;
                let start = now(t0);
                let (op, end) = match rnd(3) {
                    0 => match cl.get_data(&path, false) {
                        Ok((data, stat)) => {
                            let v = u64::from_be_bytes(data.unwrap().try_into().unwrap());
                            last_version[k] = stat.version;
                            (Some(Op::Read { saw: Reg { value: v, version: stat.version } }), Some(now(t0)))
                        }
                        Err(_) => (None, None), // a read that failed tells nothing
                    },
                    1 => match cl.set_data(&path, &value.to_be_bytes(), -1) {
                        Ok(st) => {
                            last_version[k] = st.version;
                            (Some(Op::Write { value, ok: Some(true) }), Some(now(t0)))
                        }
                        Err(ClientError::Keeper(e)) => panic!("write {path}: {e:?}"),
                        Err(_) => (Some(Op::Write { value, ok: None }), None),
                    },
                    _ => {
                        let expect = last_version[k] + rnd(2) as i32;
                        match cl.set_data(&path, &value.to_be_bytes(), expect) {
                            Ok(st) => {
                                last_version[k] = st.version;
                                (Some(Op::Cas { expect, value, ok: Some(true) }), Some(now(t0)))
                            }
                            Err(ClientError::Keeper(ErrorCode::BadVersion)) => {
                                (Some(Op::Cas { expect, value, ok: Some(false) }), Some(now(t0)))
                            }
                            Err(ClientError::Keeper(e)) => panic!("cas {path}: {e:?}"),
                            Err(_) => (Some(Op::Cas { expect, value, ok: None }), None),
                        }
                    }
                };
                if let Some(op) = op {
                    history.lock().unwrap()[k].push(Event { op, start, end });
                }
                if end.is_none() {
                    cl = connect();
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    Arc::try_unwrap(history).ok().unwrap().into_inner().unwrap()
}

fn setup(s: &Server) {
    let mut c = Client::connect(s.addr, 10_000).unwrap();
    c.create("/lin", b"", 0).unwrap();
    for k in 0..KEYS {
        c.create(&format!("/lin/k{k}"), &0u64.to_be_bytes(), 0).unwrap();
    }
}

fn assert_linearizable(history: &[Vec<Event>]) {
    for (k, events) in history.iter().enumerate() {
        assert!(events.len() >= 10, "key {k}: only {} ops", events.len());
        assert!(check(Reg { value: 0, version: 0 }, events), "key {k}: history is not linearizable: {events:#?}");
    }
}

#[test]
fn concurrent_clients_see_a_linearizable_history() {
    let s = Server::start("");
    setup(&s);
    let addr = Arc::new(Mutex::new(s.addr));
    let history = load(addr, Instant::now(), None, || {});
    assert_linearizable(&history);
}

#[test]
fn histories_stay_linearizable_across_kill_9() {
    let s = Server::start("");
    setup(&s);
    let addr = Arc::new(Mutex::new(s.addr));
    let server = Arc::new(Mutex::new(Some(s)));
    let (addr2, server2) = (addr.clone(), server.clone());
    let history = load(addr, Instant::now(), Some(OPS_PER_CLIENT / 2), move || {
        // kill -9 and restart on the same files while the other clients keep going.
        let old = server2.lock().unwrap().take().unwrap();
        let new = old.restart();
        *addr2.lock().unwrap() = new.addr;
        *server2.lock().unwrap() = Some(new);
    });
    assert_linearizable(&history);
    let unknown: usize = history.iter().flatten().filter(|e| e.end.is_none()).count();
    println!("{unknown} ops had an unknown outcome at the crash");
}
