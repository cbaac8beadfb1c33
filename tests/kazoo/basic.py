"""CRUD through kazoo: create/get/set/delete with version checks, the error codes ZooKeeper
returns for them, sequential and ephemeral nodes, get_children(include_data), sync, and
server_version() (which kazoo parses from `envi`)."""

from kazoo.exceptions import (
    BadArgumentsError,
    BadVersionError,
    ConnectionLoss,
    NoChildrenForEphemeralsError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)

from zkhelp import WAIT, close, connect, expect_error, raw_create, step

zk = connect()
try:
    step("create / get")
    assert zk.create("/b", b"hello") == "/b"
    data, stat = zk.get("/b")
    assert data == b"hello", "get returned %r" % data
    assert stat.version == 0 and stat.cversion == 0 and stat.aversion == 0, stat
    assert stat.czxid == stat.mzxid == stat.pzxid and stat.czxid > 0, stat
    assert stat.ephemeralOwner == 0 and stat.dataLength == 5 and stat.numChildren == 0, stat

    step("create2 returns the new node's stat")
    path, st = zk.create("/b/two", b"22", include_data=True)
    assert path == "/b/two", path
    assert st.version == 0 and st.dataLength == 2, st
    assert zk.exists("/b/two") == st, "create2 stat %r differs from exists %r" % (
        st,
        zk.exists("/b/two"),
    )

    step("empty and missing data")
    zk.create("/b/empty")
    data, st = zk.get("/b/empty")
    assert data == b"" and st.dataLength == 0, (data, st)

    step("NodeExists, NoNode on create with a missing parent")
    expect_error(NodeExistsError, zk.create, "/b", b"again")
    expect_error(NoNodeError, zk.create, "/missing/child", b"")
    expect_error(NoNodeError, zk.get, "/missing")
    expect_error(NoNodeError, zk.set, "/missing", b"x")
    expect_error(NoNodeError, zk.delete, "/missing")
    expect_error(NoNodeError, zk.get_children, "/missing")
    assert zk.exists("/missing") is None

    step("makepath creates the parents")
    assert zk.create("/b/deep/er/node", b"d", makepath=True) == "/b/deep/er/node"
    assert zk.get("/b/deep/er/node")[0] == b"d"

    step("set with version checks")
    st = zk.set("/b", b"v1", version=0)
    assert st.version == 1 and st.dataLength == 2, st
    assert st.mzxid > st.czxid, st
    expect_error(BadVersionError, zk.set, "/b", b"stale", version=0)
    st = zk.set("/b", b"v2", version=-1)
    assert st.version == 2, st
    assert zk.get("/b")[0] == b"v2"

    step("delete with version checks; NotEmpty")
    expect_error(NotEmptyError, zk.delete, "/b")
    zk.set("/b/two", b"x")
    expect_error(BadVersionError, zk.delete, "/b/two", version=0)
    zk.delete("/b/two", version=1)
    assert zk.exists("/b/two") is None
    zk.delete("/b/deep", recursive=True)
    assert zk.exists("/b/deep") is None

    step("children and the parent's cversion / pzxid")
    before = zk.exists("/b")
    for name in ("c1", "c2", "c3"):
        zk.create("/b/" + name)
    after = zk.exists("/b")
    assert after.cversion == before.cversion + 3, (before, after)
    assert after.numChildren == before.numChildren + 3, (before, after)
    assert after.pzxid > before.pzxid, (before, after)
    assert after.version == before.version, "child creation must not bump version"
    assert sorted(zk.get_children("/b")) == ["c1", "c2", "c3", "empty"], zk.get_children("/b")

    step("get_children(include_data=True) returns the parent's stat")
    children, st = zk.get_children("/b", include_data=True)
    assert sorted(children) == ["c1", "c2", "c3", "empty"], children
    assert st == zk.exists("/b"), (st, zk.exists("/b"))

    step("sequential nodes: 10-digit suffix from the parent's cversion")
    zk.create("/seq")
    s0 = zk.create("/seq/n-", b"", sequence=True)
    s1 = zk.create("/seq/n-", b"", sequence=True)
    assert s0 == "/seq/n-0000000000", s0
    assert s1 == "/seq/n-0000000001", s1
    zk.create("/seq/plain")  # bumps cversion to 3
    zk.delete("/seq/plain")  # a delete leaves cversion alone (as in ZooKeeper 3.8)
    s2 = zk.create("/seq/n-", b"", sequence=True)
    assert s2 == "/seq/n-0000000003", s2
    s3 = zk.create("/seq/", b"", sequence=True)
    assert s3 == "/seq/0000000004", s3
    e = zk.create("/seq/e-", b"", sequence=True, ephemeral=True)
    assert e == "/seq/e-0000000005", e
    assert zk.exists(e).ephemeralOwner == zk.client_id[0]

    step("ephemeral nodes: owner, no children")
    zk.create("/eph", b"", ephemeral=True)
    st = zk.exists("/eph")
    assert st.ephemeralOwner == zk.client_id[0], (st, zk.client_id)
    expect_error(NoChildrenForEphemeralsError, zk.create, "/eph/child", b"")
    expect_error(NoChildrenForEphemeralsError, zk.create, "/eph/s-", b"", sequence=True)

    step("bad paths are refused")
    # kazoo normalises paths itself, so these go out through its raw Create request. As in
    # ZooKeeper 3.8, the parent is looked up before the whole path is validated, so a path whose
    # "parent" has an empty or relative segment is NoNode, not BadArguments.
    for bad, err in (
        ("/b/", BadArgumentsError),
        ("b", BadArgumentsError),
        ("/b/.", BadArgumentsError),
        ("/b/..", BadArgumentsError),
        ("/b/\u0000x", BadArgumentsError),
        ("/b/x\u0001", BadArgumentsError),
        ("/b//x", NoNodeError),
        ("/b/./x", NoNodeError),
        ("/b/../x", NoNodeError),
    ):
        expect_error(err, raw_create, zk, bad)
    for special in ("/zookeeper/quota", "/zookeeper/config"):
        expect_error(BadArgumentsError, zk.delete, special)
    expect_error(BadArgumentsError, zk.delete, "/zookeeper")
    expect_error(BadArgumentsError, zk.delete, "/")

    step("sync")
    assert zk.sync("/b") == "/b", "sync returns the path"

    step("large data round trips")
    blob = bytes(range(256)) * 2048  # 512 KiB, below jute.maxbuffer
    zk.create("/big", blob)
    assert zk.get("/big")[0] == blob

    step("pipelined requests are answered in order")
    zk.create("/pipe")
    pending = []
    for i in range(200):
        pending.append(("create", zk.create_async("/pipe/n-", b"%d" % i, sequence=True)))
        pending.append(("set", zk.set_async("/pipe", b"%d" % i, version=i)))
        pending.append(("get", zk.get_async("/pipe")))
    for i in range(200):
        (_, c), (_, s_), (_, g) = pending[3 * i : 3 * i + 3]
        assert c.get(timeout=WAIT) == "/pipe/n-%010d" % i
        assert s_.get(timeout=WAIT).version == i + 1
        data, st = g.get(timeout=WAIT)
        assert (data, st.version) == (b"%d" % i, i + 1), (i, data, st)

    step("a request over jute.maxbuffer drops the connection, not the session")
    sid = zk.client_id[0]
    zk.create("/near-limit", b"x" * 1_048_000)
    expect_error(ConnectionLoss, zk.create, "/over-limit", b"x" * 1_100_000)
    assert zk.exists("/over-limit") is None  # kazoo reconnects for this call
    assert zk.client_id[0] == sid, "the oversized request cost the session"

    step("server_version parses envi")
    v = zk.server_version()
    assert isinstance(v, tuple) and len(v) >= 3 and all(isinstance(x, int) for x in v), v
    assert v >= (3, 5, 0), "kazoo would disable features for %r" % (v,)
    assert zk.command(b"ruok") == "imok"

    step("exists / get on the system nodes")
    assert zk.exists("/zookeeper") is not None
    assert "quota" in zk.get_children("/zookeeper")
finally:
    close(zk)

step("ephemeral nodes vanish when their session closes")
a = connect()
b = connect()
try:
    a.create("/gone-on-close", b"", ephemeral=True)
    a.create("/kept", b"")
    assert b.exists("/gone-on-close") is not None
    a.stop()
    assert b.exists("/gone-on-close") is None, "ephemeral outlived its closed session"
    assert b.exists("/kept") is not None
finally:
    a.close()
    close(b)
print("basic: ok")
