//! The client API through our own client against the real binary: the ops third-party clients
//! rarely expose (getEphemerals, getAllChildrenNumber, whoAmI, check/removeWatches, multiRead,
//! setWatches with a relative zxid), handshake variants, and ordering guarantees.

mod common;

use common::{wait_until, Server};
use rookery::client::{Client, ClientError, Op};
use rookery::codes::{event, op, watcher_type, ErrorCode};
use rookery::jute::proto::*;
use rookery::jute::{JuteWrite, Reader, Record};
use rookery::pipeline::{decode_multi_response, OpResult};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const T: i32 = 4000;

fn keeper(e: ClientError) -> ErrorCode {
    match e {
        ClientError::Keeper(c) => c,
        other => panic!("expected a ZooKeeper error, got {other}"),
    }
}

#[test]
fn znode_lifecycle_and_stats() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    let (path, st) = c.create2("/a", b"hello", 0).unwrap();
    assert_eq!(path, "/a");
    assert_eq!((st.version, st.data_length, st.num_children, st.czxid), (0, 5, 0, st.mzxid));
    assert_eq!(keeper(c.create("/a", b"", 0).unwrap_err()), ErrorCode::NodeExists);
    assert_eq!(keeper(c.create("/missing/x", b"", 0).unwrap_err()), ErrorCode::NoNode);
    // The parent is looked up before the full path is validated, as in ZooKeeper.
    assert_eq!(keeper(c.create("/bad/", b"", 0).unwrap_err()), ErrorCode::NoNode);
    assert_eq!(keeper(c.create("/a/", b"", 0).unwrap_err()), ErrorCode::BadArguments);
    c.create("/a/b", b"", 0).unwrap();
    assert_eq!(keeper(c.delete("/a", -1).unwrap_err()), ErrorCode::NotEmpty);
    assert_eq!(keeper(c.set_data("/a", b"x", 7).unwrap_err()), ErrorCode::BadVersion);
    let st = c.set_data("/a", b"world", 0).unwrap();
    assert_eq!(st.version, 1);
    let (data, st) = c.get_data("/a", false).unwrap();
    assert_eq!((data.as_deref(), st.num_children), (Some(&b"world"[..]), 1));
    c.delete("/a/b", 0).unwrap();
    let st = c.exists("/a", false).unwrap().unwrap();
    assert_eq!((st.cversion, st.num_children), (2, 0), "a create and a delete");
    assert_eq!(c.create("/a/s-", b"", 2).unwrap(), "/a/s-0000000001", "named by creates so far");
    assert_eq!(keeper(c.delete("/zookeeper", -1).unwrap_err()), ErrorCode::BadArguments);
    let (acl, st) = c.get_acl("/zookeeper/config").unwrap();
    assert_eq!((acl.len(), acl[0].perms, st.aversion), (1, 1, -1));
}

#[test]
fn ephemerals_sequence_and_counts() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/app", b"", 0).unwrap();
    let e1 = c.create("/app/e-", b"", 3).unwrap();
    let e2 = c.create("/app/e-", b"", 3).unwrap();
    assert_eq!((e1.as_str(), e2.as_str()), ("/app/e-0000000000", "/app/e-0000000001"));
    assert_eq!(keeper(c.create("/app/e-0000000000/x", b"", 0).unwrap_err()), ErrorCode::NoChildrenForEphemerals);
    let body = c.call(op::GET_EPHEMERALS, &GetEphemeralsRequest { prefix_path: "/app".into() }.to_bytes()).unwrap();
    let mut got = GetEphemeralsResponse::from_bytes(&body).unwrap().ephemerals;
    got.sort();
    assert_eq!(got, [e1.clone(), e2.clone()]);
    let body =
        c.call(op::GET_ALL_CHILDREN_NUMBER, &GetAllChildrenNumberRequest { path: "/".into() }.to_bytes()).unwrap();
    // /zookeeper, /zookeeper/quota, /zookeeper/config, /app and two ephemerals.
    assert_eq!(GetAllChildrenNumberResponse::from_bytes(&body).unwrap().total_number, 6);
    let mut other = Client::connect(s.addr, T).unwrap();
    other.get_children("/app", true).unwrap();
    c.close().unwrap();
    let ev = other.next_event(Duration::from_secs(5)).unwrap().expect("children changed on close");
    assert_eq!((ev.kind, ev.path.as_str()), (event::NODE_CHILDREN_CHANGED, "/app"));
    assert!(other.get_children("/app", false).unwrap().is_empty());
}

#[test]
fn session_expiry_deletes_ephemerals() {
    let s = Server::start("minSessionTimeout=400");
    let mut c = Client::connect(s.addr, 400).unwrap();
    assert_eq!(c.timeout_ms, 400);
    c.create("/gone", b"", 1).unwrap();
    let (id, pw) = (c.session_id, c.passwd.clone());
    drop(c); // the connection goes, the session stays until it times out
    let mut w = Client::connect(s.addr, T).unwrap();
    assert!(wait_until(Duration::from_secs(10), || w.exists("/gone", false).unwrap().is_none()));
    let e = Client::resume(s.addr, 400, id, pw, 0).err().expect("the session is expired");
    assert_eq!(keeper(e), ErrorCode::SessionExpired);
}

#[test]
fn reconnect_keeps_session_and_checks_password() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/eph", b"", 1).unwrap();
    let (id, pw, z) = (c.session_id, c.passwd.clone(), c.last_zxid);
    let mut bad = pw.clone();
    bad[0] ^= 1;
    assert_eq!(keeper(Client::resume(s.addr, T, id, bad, z).err().unwrap()), ErrorCode::SessionExpired);
    let mut again = Client::resume(s.addr, T, id, pw, z).unwrap();
    assert_eq!(again.session_id, id);
    assert!(again.exists("/eph", false).unwrap().is_some(), "the ephemeral survives a reconnect");
    let body = again.call(op::GET_EPHEMERALS, &GetEphemeralsRequest { prefix_path: "/".into() }.to_bytes()).unwrap();
    assert_eq!(GetEphemeralsResponse::from_bytes(&body).unwrap().ephemerals, ["/eph"]);
    // The old connection was closed when the session moved to the new one.
    assert!(c.ping().is_err());
}

#[test]
fn client_ahead_of_server_is_refused() {
    let s = Server::start("");
    let e = Client::resume(s.addr, T, 0, vec![0; 16], 0x7fff_0000).err().expect("refused");
    assert!(matches!(e, ClientError::Io(_)), "closed without a reply: {e}");
}

#[test]
fn old_clients_without_the_read_only_byte() {
    let s = Server::start("");
    let mut sock = TcpStream::connect(s.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = ConnectRequest { time_out: T, passwd: Some(vec![0; 16]), read_only: None, ..Default::default() };
    let body = req.to_bytes();
    assert_eq!(body.len(), 44);
    let mut frame = Vec::new();
    frame.put_i32(44);
    frame.extend_from_slice(&body);
    sock.write_all(&frame).unwrap();
    let mut len = [0u8; 4];
    sock.read_exact(&mut len).unwrap();
    assert_eq!(i32::from_be_bytes(len), 36, "the reply omits the readOnly byte too");
}

#[test]
fn watches_fire_once_and_before_the_reply_showing_the_change() {
    let s = Server::start("");
    let mut a = Client::connect(s.addr, T).unwrap();
    let mut b = Client::connect(s.addr, T).unwrap();
    assert!(a.exists("/w", true).unwrap().is_none(), "exists on a missing node leaves a watch");
    b.create("/w", b"1", 0).unwrap();
    // a's next reply must come after the event: read it through a request.
    a.get_data("/w", true).unwrap();
    let ev = a.next_event(Duration::from_secs(1)).unwrap().expect("created event queued before the reply");
    assert_eq!((ev.kind, ev.path.as_str(), ev.state), (event::NODE_CREATED, "/w", 3));
    b.set_data("/w", b"2", -1).unwrap();
    b.set_data("/w", b"3", -1).unwrap();
    let ev = a.next_event(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ev.kind, event::NODE_DATA_CHANGED);
    assert!(a.next_event(Duration::from_millis(300)).unwrap().is_none(), "one-shot");
    a.get_children("/w", true).unwrap();
    a.exists("/w", true).unwrap();
    b.delete("/w", -1).unwrap();
    let ev = a.next_event(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ev.kind, event::NODE_DELETED);
    assert!(a.next_event(Duration::from_millis(300)).unwrap().is_none(), "one event per watcher");
}

#[test]
fn check_and_remove_watches() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/x", b"", 0).unwrap();
    c.get_data("/x", true).unwrap();
    let check = |c: &mut Client, kind| {
        c.call(op::CHECK_WATCHES, &CheckWatchesRequest { path: "/x".into(), kind }.to_bytes()).map(|_| ())
    };
    check(&mut c, watcher_type::DATA).unwrap();
    assert_eq!(keeper(check(&mut c, watcher_type::CHILDREN).unwrap_err()), ErrorCode::NoWatcher);
    c.call(op::REMOVE_WATCHES, &RemoveWatchesRequest { path: "/x".into(), kind: watcher_type::ANY }.to_bytes())
        .unwrap();
    assert_eq!(keeper(check(&mut c, watcher_type::ANY).unwrap_err()), ErrorCode::NoWatcher);
}

#[test]
fn persistent_recursive_watch_sees_the_subtree() {
    let s = Server::start("");
    let mut a = Client::connect(s.addr, T).unwrap();
    let mut b = Client::connect(s.addr, T).unwrap();
    b.create("/r", b"", 0).unwrap();
    let body = a.call(op::ADD_WATCH, &AddWatchRequest { path: "/r".into(), mode: 1 }.to_bytes()).unwrap();
    assert_eq!(ErrorResponse::from_bytes(&body).unwrap().err, 0);
    b.create("/r/c", b"", 0).unwrap();
    b.set_data("/r/c", b"x", -1).unwrap();
    b.set_data("/r/c", b"y", -1).unwrap();
    let kinds: Vec<(i32, String)> = (0..3)
        .map(|_| a.next_event(Duration::from_secs(5)).unwrap().expect("event"))
        .map(|e| (e.kind, e.path))
        .collect();
    assert_eq!(
        kinds,
        [
            (event::NODE_CREATED, "/r/c".to_string()),
            (event::NODE_DATA_CHANGED, "/r/c".to_string()),
            (event::NODE_DATA_CHANGED, "/r/c".to_string())
        ],
        "no children-changed for recursive watches"
    );
}

#[test]
fn set_watches_after_reconnect_fires_missed_changes() {
    let s = Server::start("");
    let mut a = Client::connect(s.addr, T).unwrap();
    a.create("/d", b"1", 0).unwrap();
    a.create("/keep", b"", 0).unwrap();
    let z = a.last_zxid;
    let (id, pw) = (a.session_id, a.passwd.clone());
    drop(a);
    let mut b = Client::connect(s.addr, T).unwrap();
    b.set_data("/d", b"2", -1).unwrap();
    b.create("/born", b"", 0).unwrap();
    let mut a = Client::resume(s.addr, T, id, pw, z).unwrap();
    let sw = SetWatches {
        relative_zxid: z,
        data_watches: vec!["/d".into(), "/keep".into()],
        exist_watches: vec!["/born".into()],
        child_watches: vec![],
    };
    a.call(op::SET_WATCHES, &sw.to_bytes()).unwrap();
    let mut got: Vec<(i32, String)> = (0..2)
        .map(|_| a.next_event(Duration::from_secs(5)).unwrap().expect("missed change fires"))
        .map(|e| (e.kind, e.path))
        .collect();
    got.sort();
    assert_eq!(got, [(event::NODE_CREATED, "/born".to_string()), (event::NODE_DATA_CHANGED, "/d".to_string())]);
    b.set_data("/keep", b"x", -1).unwrap();
    let ev = a.next_event(Duration::from_secs(5)).unwrap().expect("re-registered watch fires");
    assert_eq!((ev.kind, ev.path.as_str()), (event::NODE_DATA_CHANGED, "/keep"));
}

#[test]
fn multi_commits_atomically_and_reports_per_op_errors() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/m", b"", 0).unwrap();
    let ok = c
        .multi(&[
            Op::Create { path: "/m/a".into(), data: b"1".to_vec(), flags: 0 },
            Op::SetData { path: "/m".into(), data: b"2".to_vec(), version: 0 },
            Op::Check { path: "/m".into(), version: 1 },
        ])
        .unwrap();
    assert!(matches!(&ok[0], OpResult::Create(r) if r.path == "/m/a"));
    assert!(matches!(&ok[1], OpResult::SetData(r) if r.stat.version == 1));
    assert_eq!(ok[2], OpResult::Check);
    let before = c.exists("/m", false).unwrap().unwrap();
    let failed = c
        .multi(&[
            Op::Create { path: "/m/b".into(), data: vec![], flags: 0 },
            Op::Delete { path: "/m/nope".into(), version: -1 },
            Op::SetData { path: "/m".into(), data: vec![], version: -1 },
        ])
        .unwrap();
    assert_eq!(failed, [OpResult::Error(0), OpResult::Error(-101), OpResult::Error(-2)]);
    assert!(c.exists("/m/b", false).unwrap().is_none(), "nothing applied");
    let after = c.exists("/m", false).unwrap().unwrap();
    assert_eq!(after.version, before.version);
    assert!(c.last_zxid > before.mzxid, "a failed multi still takes a zxid");
    assert_eq!(
        keeper(c.call(op::CHECK, &CheckVersionRequest { path: "/m".into(), version: 1 }.to_bytes()).unwrap_err()),
        ErrorCode::Unimplemented
    );
}

#[test]
fn multi_read_returns_results_and_errors() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.create("/r", b"v", 0).unwrap();
    c.create("/r/k", b"", 0).unwrap();
    let mut b = Vec::new();
    MultiHeader { op: op::GET_DATA, done: false, err: -1 }.write(&mut b);
    GetDataRequest { path: "/r".into(), watch: false }.write(&mut b);
    MultiHeader { op: op::GET_CHILDREN, done: false, err: -1 }.write(&mut b);
    GetChildrenRequest { path: "/r".into(), watch: false }.write(&mut b);
    MultiHeader { op: op::GET_DATA, done: false, err: -1 }.write(&mut b);
    GetDataRequest { path: "/none".into(), watch: false }.write(&mut b);
    MultiHeader { op: -1, done: true, err: -1 }.write(&mut b);
    let body = c.call(op::MULTI_READ, &b).unwrap();
    let res = decode_multi_response(&mut Reader::new(&body)).unwrap();
    assert!(matches!(&res[0], OpResult::GetData(r) if r.data.as_deref() == Some(&b"v"[..])));
    assert!(matches!(&res[1], OpResult::GetChildren(r) if r.children == ["k"]));
    assert_eq!(res[2], OpResult::Error(-101));
}

#[test]
fn auth_whoami_and_acl_denial() {
    let s = Server::start("DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
    let mut owner = Client::connect(s.addr, T).unwrap();
    owner.add_auth("digest", b"alice:secret").unwrap();
    let acl = vec![rookery::jute::data::Acl::new(31, "auth", "")];
    owner.create_with_acl("/private", b"s", acl, 0).unwrap();
    let body = owner.call(op::WHO_AM_I, &[]).unwrap();
    let who = WhoAmIResponse::from_bytes(&body).unwrap().client_info;
    let names: Vec<(&str, &str)> = who.iter().map(|i| (i.auth_scheme.as_str(), i.user.as_str())).collect();
    assert_eq!(names, [("ip", "127.0.0.1"), ("digest", "alice")]);
    let mut stranger = Client::connect(s.addr, T).unwrap();
    assert_eq!(keeper(stranger.get_data("/private", false).unwrap_err()), ErrorCode::NoAuth);
    assert_eq!(keeper(stranger.set_data("/private", b"x", -1).unwrap_err()), ErrorCode::NoAuth);
    // The rest of ZooKeeper 3.8's checks (FinalRequestProcessor): READ for exists,
    // getAllChildrenNumber and the reads of multiRead; nothing for addWatch and getEphemerals.
    assert_eq!(keeper(stranger.exists("/private", false).unwrap_err()), ErrorCode::NoAuth);
    let count = GetAllChildrenNumberRequest { path: "/private".into() };
    assert_eq!(keeper(stranger.call(op::GET_ALL_CHILDREN_NUMBER, &count.to_bytes()).unwrap_err()), ErrorCode::NoAuth);
    let mut b = Vec::new();
    MultiHeader { op: op::GET_DATA, done: false, err: -1 }.write(&mut b);
    GetDataRequest { path: "/private".into(), watch: false }.write(&mut b);
    MultiHeader { op: op::GET_CHILDREN, done: false, err: -1 }.write(&mut b);
    GetChildrenRequest { path: "/private".into(), watch: false }.write(&mut b);
    MultiHeader { op: -1, done: true, err: -1 }.write(&mut b);
    let body = stranger.call(op::MULTI_READ, &b).unwrap();
    let res = decode_multi_response(&mut Reader::new(&body)).unwrap();
    assert_eq!(res, [OpResult::Error(ErrorCode::NoAuth.code()), OpResult::Error(ErrorCode::NoAuth.code())]);
    let watch = AddWatchRequest { path: "/private".into(), mode: 1 };
    stranger.call(op::ADD_WATCH, &watch.to_bytes()).unwrap();
    let eph = GetEphemeralsRequest { prefix_path: "/private".into() };
    stranger.call(op::GET_EPHEMERALS, &eph.to_bytes()).unwrap();
    let mut root = Client::connect(s.addr, T).unwrap();
    root.add_auth("digest", b"super:test").unwrap();
    assert_eq!(root.get_data("/private", false).unwrap().0.as_deref(), Some(&b"s"[..]));
    let mut bad = Client::connect(s.addr, T).unwrap();
    assert_eq!(keeper(bad.add_auth("nosuchscheme", b"x").unwrap_err()), ErrorCode::AuthFailed);
    assert!(bad.ping().is_err(), "auth failure closes the connection");
}

#[test]
fn skip_acl_yes_turns_every_check_off() {
    for (value, skipped) in [("yes", true), ("true", false)] {
        let s = Server::start(&format!("skipACL={value}"));
        let mut owner = Client::connect(s.addr, T).unwrap();
        owner.add_auth("digest", b"alice:secret").unwrap();
        let acl = vec![rookery::jute::data::Acl::new(31, "auth", "")];
        owner.create_with_acl("/private", b"s", acl, 0).unwrap();
        let mut stranger = Client::connect(s.addr, T).unwrap();
        let read = stranger.get_data("/private", false);
        let write = stranger.set_data("/private", b"x", -1);
        let create = stranger.create("/private/c", b"", 0);
        if skipped {
            assert_eq!(read.unwrap().0.as_deref(), Some(&b"s"[..]));
            write.unwrap();
            create.unwrap();
            stranger.delete("/private/c", -1).unwrap();
            stranger.delete("/private", -1).unwrap();
        } else {
            // ZooKeeper turns skipACL on only for the exact value "yes".
            assert_eq!(keeper(read.unwrap_err()), ErrorCode::NoAuth);
            assert_eq!(keeper(write.unwrap_err()), ErrorCode::NoAuth);
            assert_eq!(keeper(create.unwrap_err()), ErrorCode::NoAuth);
        }
    }
}

#[test]
fn ping_and_sync() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    c.ping().unwrap();
    assert_eq!(c.sync("/").unwrap(), "/");
}

#[test]
fn container_and_ttl_nodes_are_reaped() {
    let s = Server::start("extendedTypesEnabled=true\nznode.container.checkIntervalMs=100");
    let mut c = Client::connect(s.addr, T).unwrap();
    let req = CreateRequest { path: "/box".into(), data: None, acl: rookery::jute::data::open_acl_unsafe(), flags: 4 };
    c.call(op::CREATE_CONTAINER, &req.to_bytes()).unwrap();
    c.create("/box/item", b"", 0).unwrap();
    assert!(c.exists("/box", false).unwrap().is_some());
    c.delete("/box/item", -1).unwrap();
    assert!(wait_until(Duration::from_secs(10), || c.exists("/box", false).unwrap().is_none()));
    let ttl = CreateTtlRequest {
        path: "/ttl".into(),
        data: None,
        acl: rookery::jute::data::open_acl_unsafe(),
        flags: 5,
        ttl: 200,
    };
    c.call(op::CREATE_TTL, &ttl.to_bytes()).unwrap();
    let st = c.exists("/ttl", false).unwrap().unwrap();
    assert_eq!(st.ephemeral_owner, 0, "clients see 0 for TTL nodes, as in ZooKeeper");
    assert!(wait_until(Duration::from_secs(10), || c.exists("/ttl", false).unwrap().is_none()));
    let bad = CreateTtlRequest { ttl: 0, ..ttl };
    assert_eq!(keeper(c.call(op::CREATE_TTL, &bad.to_bytes()).unwrap_err()), ErrorCode::BadArguments);
}

#[test]
fn ttl_needs_extended_types() {
    let s = Server::start("");
    let mut c = Client::connect(s.addr, T).unwrap();
    let ttl = CreateTtlRequest {
        path: "/ttl".into(),
        data: None,
        acl: rookery::jute::data::open_acl_unsafe(),
        flags: 5,
        ttl: 1000,
    };
    assert_eq!(keeper(c.call(op::CREATE_TTL, &ttl.to_bytes()).unwrap_err()), ErrorCode::Unimplemented);
}
