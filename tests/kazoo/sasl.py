"""SASL DIGEST-MD5 through kazoo (pure-sasl): a user of the JAAS `Server` section logs in, the
`sasl` ACL scheme admits only that user, `auth` ACLs expand to the SASL identity, whoAmI shows it,
`zookeeper.superUser` is super; a wrong password or an unknown user gets AuthFailed and a closed
connection, and the server goes on serving everyone else.

The server is expected to run with the JAAS file sasl_jaas.conf (users admin/adminsecret and
bob/bobsecret), authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider and
superUser=admin.

ZooKeeper 3.8 passes every step but one: an unknown user ("mallory") who logs in right after a
known one is let in with the known user's password, because its SaslServerCallbackHandler keeps
the last user name it looked up in a field shared by all connections. Rookery refuses it."""

from kazoo.client import KazooClient
from kazoo.exceptions import InvalidACLError, NoAuthError
from kazoo.protocol.states import KeeperState
from kazoo.security import make_acl

from zkhelp import WAIT, StateLog, WhoAmI, call, close, connect, expect_error, hostport, step


def sasl(user, password):
    return {"mechanism": "DIGEST-MD5", "username": user, "password": password}


def refused(user, password):
    """A client whose SASL login fails ends in AUTH_FAILED. (kazoo may report the connection as
    established before the SASL exchange fails, so start() need not raise.)"""
    c = KazooClient(hosts=hostport(), timeout=4.0, sasl_options=sasl(user, password))
    states = StateLog(c)
    try:
        c.start(timeout=WAIT)
    except Exception:  # noqa: BLE001 - AuthFailedError, or a timeout once kazoo stopped trying
        pass
    states.wait_for("LOST")
    assert c._connection.connection_stopped.wait(WAIT), "kazoo kept reconnecting"
    assert c.client_state in (KeeperState.AUTH_FAILED, KeeperState.CLOSED), c.client_state
    c.stop()
    c.close()


anon = bob = admin = None
try:
    step("bob logs in with DIGEST-MD5; whoAmI shows sasl:bob")
    anon = connect()
    bob = connect(sasl_options=sasl("bob", "bobsecret"))
    assert ("sasl", "bob") in set(call(bob, WhoAmI())), call(bob, WhoAmI())
    assert set(call(anon, WhoAmI())) == {("ip", "127.0.0.1")}

    step("a sasl ACL admits only bob")
    bob.create("/sasl", b"secret", acl=[make_acl("sasl", "bob", all=True)])
    assert bob.get("/sasl")[0] == b"secret"
    expect_error(NoAuthError, anon.get, "/sasl")
    expect_error(NoAuthError, anon.set, "/sasl", b"x")
    acl, _ = bob.get_acls("/sasl")
    assert [(a.id.scheme, a.id.id, a.perms) for a in acl] == [("sasl", "bob", 31)], acl

    step("an auth ACL expands to the SASL identity")
    bob.create("/sasl-auth", b"", acl=[make_acl("auth", "", read=True, write=True)])
    acl, _ = bob.get_acls("/sasl-auth")
    assert [(a.id.scheme, a.id.id) for a in acl] == [("sasl", "bob")], acl
    expect_error(InvalidACLError, anon.create, "/sasl-anon", b"", acl=[make_acl("auth", "", all=True)])

    step("the superUser (admin) passes every ACL")
    admin = connect(sasl_options=sasl("admin", "adminsecret"))
    assert set(call(admin, WhoAmI())) >= {("sasl", "admin"), ("super", "")}, call(admin, WhoAmI())
    assert admin.get("/sasl")[0] == b"secret"
    admin.set("/sasl", b"by admin")

    step("a wrong password and an unknown user get AuthFailed; the server keeps serving")
    refused("bob", "wrong")
    refused("mallory", "bobsecret")
    assert bob.get("/sasl")[0] == b"by admin"
    assert "sasl" in anon.get_children("/")
    again = connect(sasl_options=sasl("bob", "bobsecret"))
    assert again.get("/sasl")[0] == b"by admin"
    close(again)
finally:
    close(*[c for c in (anon, bob, admin) if c is not None])
print("sasl: ok")
