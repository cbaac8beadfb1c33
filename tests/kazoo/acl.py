"""ACLs through kazoo: digest auth (auth_data and add_auth), NoAuth on denied read, write,
delete, create, getChildren, getACL and setACL; InvalidACL for malformed lists; the `auth`
scheme; setACL version checks; getACL hiding digest hashes from readers without ADMIN; the super
digest overriding every ACL; `ip` ACLs; whoAmI; and a failed addauth (AuthFailed, connection
closed, session left to expire).

The server is expected to run with
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=  (super:test)."""

from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoNodeError,
)
from kazoo.protocol.states import KeeperState
from kazoo.security import (
    ACL,
    OPEN_ACL_UNSAFE,
    Id,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

from zkhelp import (
    WAIT,
    StateLog,
    WhoAmI,
    call,
    close,
    connect,
    expect_error,
    hostport,
    raw_create,
    step,
    wait_gone,
)

ALICE = make_digest_acl_credential("alice", "pw")  # "alice:<base64 sha1>"
alice_all = make_digest_acl("alice", "pw", all=True)
world_read = make_acl("world", "anyone", read=True)

alice = connect(auth_data=[("digest", "alice:pw")])
anon = connect()
root = connect(auth_data=[("digest", "super:test")])
try:
    alice.create("/acl")

    step("digest ACL: the owner may do everything, anyone else gets NoAuth")
    alice.create("/acl/secret", b"s", acl=[alice_all])
    alice.create("/acl/secret/child", b"c", acl=[alice_all])
    assert alice.get("/acl/secret")[0] == b"s"
    expect_error(NoAuthError, anon.get, "/acl/secret")
    expect_error(NoAuthError, anon.set, "/acl/secret", b"x")
    expect_error(NoAuthError, anon.get_children, "/acl/secret")
    expect_error(NoAuthError, anon.create, "/acl/secret/new", b"")
    expect_error(NoAuthError, anon.delete, "/acl/secret/child")
    expect_error(NoAuthError, anon.get_acls, "/acl/secret")
    expect_error(NoAuthError, anon.set_acls, "/acl/secret", OPEN_ACL_UNSAFE)
    expect_error(NoAuthError, anon.get, "/acl/secret", watch=lambda e: None)
    assert alice.get("/acl/secret")[0] == b"s", "a denied set changed the data"
    assert alice.get_children("/acl/secret") == ["child"]

    step("exists needs READ since ZOOKEEPER-2590 (3.8.4 / 3.9.2); 3.8.0 answers with the stat")
    version = anon.server_version()
    if version >= (3, 8, 4):
        expect_error(NoAuthError, anon.exists, "/acl/secret")
    else:
        assert anon.exists("/acl/secret") is not None

    step("DELETE and CREATE are the parent's permissions")
    alice.create(
        "/acl/dropbox",
        acl=[alice_all, make_acl("world", "anyone", read=True, create=True)],
    )
    anon.create("/acl/dropbox/letter", b"hi")
    expect_error(NoAuthError, anon.delete, "/acl/dropbox/letter")
    alice.delete("/acl/dropbox/letter")
    alice.create("/acl/readonly", acl=[world_read, alice_all])
    expect_error(NoAuthError, anon.create, "/acl/readonly/x", b"")
    assert anon.get("/acl/readonly")[0] == b""

    step("a denied op fails its whole transaction")
    tx = anon.transaction()
    tx.create("/acl/by-anon", b"")
    tx.set_data("/acl/secret", b"x")
    results = tx.commit()
    assert [type(r).__name__ for r in results] == ["RolledBackError", "NoAuthError"], results
    assert anon.exists("/acl/by-anon") is None

    step("add_auth at run time grants the digest identity")
    late = connect()
    expect_error(NoAuthError, late.get, "/acl/secret")
    assert late.add_auth("digest", "alice:pw") is True
    assert late.get("/acl/secret")[0] == b"s"
    wrong = connect(auth_data=[("digest", "alice:wrong")])
    expect_error(NoAuthError, wrong.get, "/acl/secret")
    close(wrong)
    close(late)

    step("the auth scheme expands to the creator's authenticated ids")
    alice.create("/acl/mine", acl=[ACL(31, Id("auth", ""))])
    acls, _ = alice.get_acls("/acl/mine")
    assert acls == [ACL(31, Id("digest", ALICE))], acls
    expect_error(InvalidACLError, anon.create, "/acl/nobody", b"", acl=[ACL(31, Id("auth", ""))])

    step("malformed ACLs are InvalidACL")
    for bad in (
        [ACL(31, Id("bogus", "x"))],
        [ACL(31, Id("digest", "alice"))],  # no hash
        [ACL(31, Id("world", "someone"))],
        [ACL(31, Id("ip", "300.1.1.1"))],
        [ACL(31, Id("ip", "10.0.0.1/40"))],
    ):
        expect_error(InvalidACLError, alice.create, "/acl/bad", b"", acl=bad)
    expect_error(InvalidACLError, raw_create, alice, "/acl/bad", b"", acl=[])
    assert alice.exists("/acl/bad") is None

    step("setACL checks the ACL version (aversion) and ADMIN")
    alice.create("/acl/v", acl=[alice_all])
    st = alice.set_acls("/acl/v", [alice_all, world_read], version=0)
    assert st.aversion == 1 and st.version == 0, st
    expect_error(BadVersionError, alice.set_acls, "/acl/v", [alice_all], version=0)
    st = alice.set_acls("/acl/v", [alice_all, world_read], version=-1)
    assert st.aversion == 2, st
    assert anon.get("/acl/v")[0] == b""
    expect_error(NoAuthError, anon.set_acls, "/acl/v", OPEN_ACL_UNSAFE)
    expect_error(NoNodeError, alice.set_acls, "/acl/missing", OPEN_ACL_UNSAFE)
    expect_error(InvalidACLError, alice.set_acls, "/acl/v", [ACL(31, Id("bogus", "x"))])
    expect_error(InvalidACLError, alice.set_acls, "/acl/v", [])
    assert alice.exists("/acl/v").aversion == 2

    step("getACL hides digest hashes from readers without ADMIN")
    acls, st = anon.get_acls("/acl/v")
    assert acls == [ACL(31, Id("digest", "alice:x")), world_read], acls
    assert st.aversion == 2
    acls, _ = alice.get_acls("/acl/v")
    assert acls == [ACL(31, Id("digest", ALICE)), world_read], acls
    alice.create("/acl/admin-open", acl=[alice_all, make_acl("world", "anyone", admin=True)])
    acls, _ = anon.get_acls("/acl/admin-open")
    assert ACL(31, Id("digest", ALICE)) in acls, "ADMIN may see the hashes: %r" % acls
    alice.create(
        "/acl/alice-reads",
        acl=[make_digest_acl("alice", "pw", read=True), make_acl("world", "anyone", write=True)],
    )
    acls, _ = alice.get_acls("/acl/alice-reads")
    assert ACL(1, Id("digest", "alice:x")) in acls, acls

    step("an ACL granting nothing locks out everyone but super")
    alice.create("/acl/locked", b"l", acl=[ACL(0, Id("world", "anyone"))])
    expect_error(NoAuthError, alice.get, "/acl/locked")
    assert root.get("/acl/locked")[0] == b"l"

    step("the super digest overrides every ACL")
    assert root.get("/acl/secret")[0] == b"s"
    root.set("/acl/secret", b"by super")
    acls, _ = root.get_acls("/acl/secret")
    assert acls == [ACL(31, Id("digest", ALICE))], acls
    root.create("/acl/secret/from-super", b"")
    root.delete("/acl/secret/from-super")
    root.set_acls("/acl/locked", [world_read])
    assert anon.get("/acl/locked")[0] == b"l"
    wrong = connect(auth_data=[("digest", "super:wrong")])
    expect_error(NoAuthError, wrong.get, "/acl/secret")
    close(wrong)

    step("ip ACLs match the client's address")
    alice.create("/acl/ip-local", b"", acl=[make_acl("ip", "127.0.0.1", all=True)])
    alice.create("/acl/ip-net", b"", acl=[make_acl("ip", "127.0.0.0/8", all=True)])
    alice.create("/acl/ip-other", b"", acl=[make_acl("ip", "10.0.0.1/32", all=True)])
    anon.get("/acl/ip-local")
    anon.set("/acl/ip-net", b"ok")
    expect_error(NoAuthError, anon.get, "/acl/ip-other")
    expect_error(NoAuthError, alice.get, "/acl/ip-other")

    step("whoAmI lists the connection's identities")
    assert set(call(anon, WhoAmI())) == {("ip", "127.0.0.1")}
    assert set(call(alice, WhoAmI())) == {("ip", "127.0.0.1"), ("digest", "alice")}
    assert set(call(root, WhoAmI())) == {("ip", "127.0.0.1"), ("digest", "super"), ("super", "")}

    step("a digest credential without a colon is accepted (and grants nothing useful)")
    odd = connect()
    assert odd.add_auth("digest", "nocolon") is True
    expect_error(NoAuthError, odd.get, "/acl/secret")
    close(odd)

    step("a failed addauth: AuthFailed, the connection is closed, the session left to expire")
    victim = connect(timeout=1.0)
    states = StateLog(victim)
    victim.create("/acl/victim-eph", ephemeral=True)
    expect_error(AuthFailedError, victim.add_auth, "bogus", "x")
    states.wait_for("LOST")
    # kazoo keeps the bad credential and retries with it, so it gives up for good.
    assert victim._connection.connection_stopped.wait(WAIT), "kazoo kept reconnecting"
    assert victim.client_state in (KeeperState.AUTH_FAILED, KeeperState.CLOSED), victim.client_state
    assert anon.exists("/acl/victim-eph") is not None, "a failed auth closed the session"
    wait_gone(anon, "/acl/victim-eph", what="ephemeral of the session whose auth failed")
    victim.stop()
    victim.close()

    step("a bad scheme in auth_data fails the connection with AUTH_FAILED")
    c = KazooClient(hosts=hostport(), timeout=4.0, auth_data=[("bogus", "x")])
    states = StateLog(c)
    try:
        c.start(timeout=WAIT)
    except Exception:  # noqa: BLE001 - kazoo may report the failure from start() itself
        pass
    states.wait_for("LOST")  # kazoo starts LOST without telling listeners: this is the failure
    assert c._connection.connection_stopped.wait(WAIT), "kazoo kept reconnecting"
    assert c.client_state in (KeeperState.AUTH_FAILED, KeeperState.CLOSED), c.client_state
    c.stop()
    c.close()
finally:
    close(anon, alice, root)
print("acl: ok")
