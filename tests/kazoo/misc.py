"""Containers and TTL nodes, getEphemerals, getAllChildrenNumber, the /zookeeper system nodes,
reconfig on a standalone server, and four-letter words through kazoo's command().

The server is expected to run with extendedTypesEnabled=true and a short
znode.container.checkIntervalMs (e.g. 100)."""

import re
import time

from kazoo.exceptions import (
    BadArgumentsError,
    NoAuthError,
    NoNodeError,
    ReconfigDisabledError,
    UnimplementedError,
)
from kazoo.protocol.serialization import CheckVersion
from kazoo.protocol.states import EventType
from kazoo.security import OPEN_ACL_UNSAFE

from zkhelp import (
    CONTAINER,
    CreateContainer,
    CreateTTL,
    GetAllChildrenNumber,
    GetEphemerals,
    Recorder,
    call,
    close,
    connect,
    create_container,
    create_ttl,
    expect_error,
    raw_create,
    step,
    wait_gone,
)

zk = connect()
other = connect()
try:
    step("createContainer returns the path and the stat; clients see ephemeralOwner 0")
    path, st = create_container(zk, "/box")
    assert path == "/box", path
    assert st.version == 0 and st.numChildren == 0, st
    # DataNode.copyStat hides the container marker (0x8000000000000000) from clients.
    assert st.ephemeralOwner == 0, "createContainer stat shows the container marker: %r" % (st,)
    assert zk.exists("/box").ephemeralOwner == 0, zk.exists("/box")
    assert zk.get_children("/", include_data=True)[1].ephemeralOwner == 0
    expect_error(
        BadArgumentsError, call, zk, CreateContainer("/box-seq", b"", OPEN_ACL_UNSAFE, 6)
    )

    step("an empty container that never had children is kept")
    never_used = Recorder("exists(/box)")
    assert zk.exists("/box", watch=never_used) is not None
    # Five check intervals: a wrongly reaped container would fire the exists watch.
    assert never_used.quiet_for(0.5), "a never-used container was deleted: %r" % never_used.events

    step("a container is deleted once its last child goes")
    zk.create("/box/a", b"")
    zk.create("/box/b", b"", ephemeral=True)
    zk.delete("/box/a")
    assert zk.exists("/box") is not None, "container deleted while it still has a child"
    parent_w = Recorder("get_children(/)")
    assert "box" in zk.get_children("/", watch=parent_w)
    t0 = time.monotonic()
    zk.delete("/box/b")
    wait_gone(other, "/box", what="emptied container")
    assert time.monotonic() - t0 < 5.0
    assert any(e.type == EventType.DELETED for e in never_used.wait(1)), never_used.events
    assert any(e.type == EventType.CHILD for e in parent_w.wait(1)), parent_w.events

    step("nested containers go one after another, bottom up")
    create_container(zk, "/outer")
    create_container(zk, "/outer/inner")
    zk.create("/outer/inner/leaf")
    zk.delete("/outer/inner/leaf")
    wait_gone(other, "/outer/inner", what="emptied inner container")
    wait_gone(other, "/outer", what="outer container after its inner container went")

    step("a container filled again before the reaper runs is kept")
    create_container(zk, "/busy")
    tx = zk.transaction()
    tx.create("/busy/x", b"")
    tx.delete("/busy/x")
    tx.create("/busy/y", b"")
    tx.commit()
    kept = Recorder("exists(/busy)")
    assert zk.exists("/busy", watch=kept) is not None
    assert kept.quiet_for(0.5), "a container with a child was deleted: %r" % kept.events
    zk.delete("/busy/y")
    wait_gone(other, "/busy")

    step("a create with the CONTAINER flag but the plain create opcode makes a plain node")
    assert raw_create(zk, "/not-a-box", flags=CONTAINER) == "/not-a-box"
    zk.create("/not-a-box/c")
    zk.delete("/not-a-box/c")
    plain = Recorder("exists(/not-a-box)")
    assert zk.exists("/not-a-box", watch=plain) is not None
    assert plain.quiet_for(0.5), "a plain node was reaped like a container"

    step("TTL nodes: created with createTTL, stat hides the TTL marker")
    path, st = create_ttl(zk, "/ttl-long", 600_000, data=b"keep")
    assert path == "/ttl-long" and st.dataLength == 4, (path, st)
    assert st.ephemeralOwner == 0, "createTTL stat shows the TTL marker: %r" % (st,)
    assert zk.get("/ttl-long")[1].ephemeralOwner == 0, zk.get("/ttl-long")
    path, _ = create_ttl(zk, "/ttl-seq-", 600_000, sequential=True)
    assert re.fullmatch(r"/ttl-seq-\d{10}", path), path

    step("a TTL node with no children goes once its ttl has passed since its last change")
    t0 = time.monotonic()
    create_ttl(zk, "/ttl-short", 300)
    assert zk.exists("/ttl-short") is not None
    wait_gone(other, "/ttl-short", what="TTL node after 300 ms")
    assert time.monotonic() - t0 >= 0.3, "TTL node deleted before its ttl"

    step("a TTL node with a child is kept past its ttl; it goes once the child is gone")
    create_ttl(zk, "/ttl-parent", 200)
    zk.create("/ttl-parent/kid", b"")
    held = Recorder("exists(/ttl-parent)")
    assert zk.exists("/ttl-parent", watch=held) is not None
    assert held.quiet_for(0.6), "TTL node with a child was deleted: %r" % held.events
    zk.delete("/ttl-parent/kid")
    wait_gone(other, "/ttl-parent")

    step("bad TTLs are BadArguments")
    for ttl in (0, -5, 1 << 40):
        expect_error(BadArgumentsError, create_ttl, zk, "/ttl-bad", ttl)
    create_ttl(zk, "/ttl-max", (1 << 40) - 1)
    expect_error(BadArgumentsError, call, zk, CreateTTL("/ttl-bad", b"", OPEN_ACL_UNSAFE, 0, 1000))
    expect_error(BadArgumentsError, call, zk, CreateTTL("/ttl-bad", b"", OPEN_ACL_UNSAFE, 1, 1000))
    expect_error(BadArgumentsError, raw_create, zk, "/ttl-bad", flags=5)  # TTL mode, no ttl
    expect_error(BadArgumentsError, raw_create, zk, "/ttl-bad", flags=7)  # no such mode
    if "rookery" in zk.command(b"srvr"):
        # ZooKeeper's own validateTTL lets this through and its DataTree then throws applying
        # the txn (3.8 drops the connection); Rookery refuses it up front.
        expect_error(
            BadArgumentsError, call, zk, CreateTTL("/ttl-bad", b"", OPEN_ACL_UNSAFE, 0, -1)
        )
    assert zk.exists("/ttl-bad") is None

    step("getEphemerals lists the session's own ephemerals, filtered by prefix")
    zk.create("/eph")
    zk.create("/eph/one", ephemeral=True)
    zk.create("/eph/two", ephemeral=True)
    zk.create("/eph-other", ephemeral=True)
    other.create("/eph/theirs", ephemeral=True)
    mine = {"/eph/one", "/eph/two", "/eph-other"}
    assert set(call(zk, GetEphemerals("/"))) == mine
    assert set(call(zk, GetEphemerals(""))) == mine
    assert set(call(zk, GetEphemerals("/eph/"))) == {"/eph/one", "/eph/two"}
    assert set(call(zk, GetEphemerals("/eph"))) == mine, "prefix match is by string"
    assert call(zk, GetEphemerals("/nothing")) == []
    assert call(other, GetEphemerals("/")) == ["/eph/theirs"]

    step("getAllChildrenNumber counts every descendant")
    zk.create("/count/a/b/c", makepath=True)
    zk.create("/count/d")
    assert call(zk, GetAllChildrenNumber("/count")) == 4
    assert call(zk, GetAllChildrenNumber("/count/a/b/c")) == 0
    expect_error(NoNodeError, call, zk, GetAllChildrenNumber("/count/missing"))
    total = call(zk, GetAllChildrenNumber("/"))
    assert total >= 4 + 1 + 3 + 3, total  # includes /zookeeper and its children

    step("the /zookeeper system nodes")
    assert sorted(zk.get_children("/zookeeper")) == ["config", "quota"]
    st = zk.exists("/zookeeper")
    assert (st.numChildren, st.cversion) == (2, -2), st
    acls, st = zk.get_acls("/zookeeper/config")
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(1, "world", "anyone")], acls
    assert st.aversion == -1, st
    expect_error(NoAuthError, zk.set, "/zookeeper/config", b"x")

    step("reconfig on a standalone server without reconfigEnabled is RECONFIGDISABLED")
    expect_error(
        ReconfigDisabledError,
        zk.reconfig,
        joining="server.2=127.0.0.1:1:2;3",
        leaving=None,
        new_members=None,
    )

    step("a check outside a multi is refused (ZOOKEEPER-2623, 3.9)")
    if zk.server_version() >= (3, 9, 0):
        expect_error(UnimplementedError, call, zk, CheckVersion("/count", 0))

    step("four-letter words through kazoo")
    assert zk.command(b"ruok") == "imok"
    assert zk.command(b"isro").strip() == "rw"
    srvr = zk.command(b"srvr")
    assert "Mode: standalone" in srvr, srvr
    m = re.search(r"Zookeeper version: (\d+)\.(\d+)\.(\d+)", srvr)
    assert m and tuple(map(int, m.groups())) == zk.server_version(), srvr
    nodes = int(re.search(r"Node count: (\d+)", srvr).group(1))
    assert nodes >= call(zk, GetAllChildrenNumber("/")), (nodes, srvr)
    stat_out = zk.command(b"stat")
    assert "Clients:" in stat_out and "Mode: standalone" in stat_out, stat_out
finally:
    close(other, zk)
print("misc: ok")
