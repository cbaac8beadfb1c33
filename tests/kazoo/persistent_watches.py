"""Persistent and persistent-recursive watches (addWatch), checkWatches and removeWatches, sent
through kazoo's connection (kazoo 2.11 has no API for them; see zkhelp.py). Events are read off
kazoo's connection thread in arrival order."""

from kazoo.exceptions import MarshallingError, NoWatcherError
from kazoo.security import make_digest_acl

from zkhelp import (
    ADD_WATCH_PERSISTENT,
    ADD_WATCH_PERSISTENT_RECURSIVE,
    NODE_CHILDREN_CHANGED,
    NODE_CREATED,
    NODE_DATA_CHANGED,
    NODE_DELETED,
    WATCHER_ANY,
    WATCHER_CHILDREN,
    WATCHER_DATA,
    WATCHER_PERSISTENT,
    WATCHER_PERSISTENT_RECURSIVE,
    AddWatch,
    CheckWatches,
    RemoveWatches,
    SetWatches2,
    StateLog,
    Wire,
    call,
    close,
    connect,
    expect_error,
    sever,
    step,
)

a = connect()
b = connect()
wire = Wire(a)


def expect_events(*expected):
    """The next len(expected) notifications are exactly these, in this order; then, after a
    barrier read, nothing else arrives."""
    got = [wire.next_event(what="event %d of %r" % (i + 1, expected)) for i in range(len(expected))]
    assert got == list(expected), "expected %r, got %r" % (list(expected), got)
    a.sync("/")  # barrier: events due before this reply have arrived
    a.exists("/")
    extra = wire.drain()
    assert not extra, "unexpected extra events %r after %r" % (extra, got)


def quiet():
    a.exists("/")  # barrier
    extra = wire.drain()
    assert not extra, "unexpected events %r" % extra


try:
    step("a persistent watch fires on every change of its node, and stays")
    assert call(a, AddWatch("/pw", ADD_WATCH_PERSISTENT)) is True
    b.create("/pw", b"0")
    expect_events((NODE_CREATED, "/pw"))
    b.set("/pw", b"1")
    b.set("/pw", b"2")
    expect_events((NODE_DATA_CHANGED, "/pw"), (NODE_DATA_CHANGED, "/pw"))
    b.create("/pw/c")
    b.delete("/pw/c")
    expect_events((NODE_CHILDREN_CHANGED, "/pw"), (NODE_CHILDREN_CHANGED, "/pw"))

    step("a persistent watch is not recursive")
    b.create("/pw/c", b"")
    expect_events((NODE_CHILDREN_CHANGED, "/pw"))
    b.set("/pw/c", b"x")
    b.create("/pw/c/deeper")
    quiet()
    b.delete("/pw/c/deeper")
    b.delete("/pw/c")
    expect_events((NODE_CHILDREN_CHANGED, "/pw"))

    step("a persistent watch survives its node's deletion and sees it come back")
    b.delete("/pw")
    expect_events((NODE_DELETED, "/pw"))
    b.create("/pw")
    expect_events((NODE_CREATED, "/pw"))

    step("checkWatches(Any) finds the connection's persistent watch")
    # Whether Data / Children match a persistent watch differs between 3.8 (yes) and 3.9
    # (ZOOKEEPER-4471: only standard watches), so only Any is checked here.
    assert call(a, CheckWatches("/pw", WATCHER_ANY)) is True
    expect_error(NoWatcherError, call, a, CheckWatches("/elsewhere", WATCHER_ANY))
    if b.server_version() >= (3, 9, 0):
        # 3.8 answered for any connection's watch on the path (fixed by ZOOKEEPER-4466).
        expect_error(NoWatcherError, call, b, CheckWatches("/pw", WATCHER_ANY))
        # 3.9 (ZOOKEEPER-4471): Data / Children name standard watches only; Persistent (4)
        # and PersistentRecursive (5) name the persistent ones.
        expect_error(NoWatcherError, call, a, CheckWatches("/pw", WATCHER_DATA))
        expect_error(NoWatcherError, call, a, RemoveWatches("/pw", WATCHER_DATA))
        assert call(a, CheckWatches("/pw", WATCHER_PERSISTENT)) is True
        expect_error(NoWatcherError, call, a, CheckWatches("/pw", WATCHER_PERSISTENT_RECURSIVE))

        step("a one-shot watch sits beside a persistent one on the same path (3.9)")
        a.get("/pw", watch=lambda e: None)
        assert call(a, CheckWatches("/pw", WATCHER_DATA)) is True
        b.set("/pw", b"both")
        expect_events((NODE_DATA_CHANGED, "/pw"))  # one event for both watches
        expect_error(NoWatcherError, call, a, CheckWatches("/pw", WATCHER_DATA))
        assert call(a, CheckWatches("/pw", WATCHER_PERSISTENT)) is True
        b.set("/pw", b"persistent only")
        expect_events((NODE_DATA_CHANGED, "/pw"))

    step("unknown watch modes and watcher types are MARSHALLINGERROR, as ZooKeeper answers")
    expect_error(MarshallingError, call, a, AddWatch("/pw", 2))
    expect_error(MarshallingError, call, a, CheckWatches("/pw", 9))
    expect_error(MarshallingError, call, a, RemoveWatches("/pw", 0))
    assert call(a, CheckWatches("/pw", WATCHER_ANY)) is True, "a refused request changed watches"

    step("a persistent-recursive watch fires for the node and everything below it")
    assert call(a, AddWatch("/pr", ADD_WATCH_PERSISTENT_RECURSIVE)) is True
    b.create("/pr")
    b.create("/pr/a", b"")
    b.create("/pr/a/b", b"")
    b.set("/pr/a/b", b"x")
    b.set("/pr", b"y")
    b.delete("/pr/a/b")
    expect_events(
        (NODE_CREATED, "/pr"),
        (NODE_CREATED, "/pr/a"),
        (NODE_CREATED, "/pr/a/b"),
        (NODE_DATA_CHANGED, "/pr/a/b"),
        (NODE_DATA_CHANGED, "/pr"),
        (NODE_DELETED, "/pr/a/b"),
    )

    step("a persistent-recursive watch never fires NodeChildrenChanged")
    b.create("/pr/a/c", b"", ephemeral=True)
    expect_events((NODE_CREATED, "/pr/a/c"))
    assert all(kind != NODE_CHILDREN_CHANGED for kind, _ in wire.drain())

    step("siblings that share a prefix are not below the watched node")
    b.create("/pr-sibling")
    b.create("/prx")
    quiet()

    step("one change gives one event per connection, even with several matching watches")
    a.get("/pr/a", watch=lambda e: None)  # a standard data watch on top of the recursive one
    b.set("/pr/a", b"z")
    expect_events((NODE_DATA_CHANGED, "/pr/a"))

    step("multi changes fire the recursive watch for each node they touch")
    tx = b.transaction()
    tx.create("/pr/m1", b"")
    tx.set_data("/pr/a", b"m")
    tx.delete("/pr/m1")
    tx.commit()
    expect_events(
        (NODE_CREATED, "/pr/m1"), (NODE_DATA_CHANGED, "/pr/a"), (NODE_DELETED, "/pr/m1")
    )

    step("an ephemeral's deletion at session close fires the recursive watch")
    b.stop()
    expect_events((NODE_DELETED, "/pr/a/c"))
    b.close()
    b = connect()

    step("removeWatches ends a persistent watch")
    assert call(a, RemoveWatches("/pw", WATCHER_ANY)) is True
    b.set("/pw", b"after removal")
    b.create("/pw/kid")
    quiet()
    expect_error(NoWatcherError, call, a, RemoveWatches("/pw", WATCHER_ANY))
    expect_error(NoWatcherError, call, a, CheckWatches("/pw", WATCHER_ANY))
    if a.server_version() >= (3, 9, 0):
        step("removeWatches(PersistentRecursive) ends just the recursive watch (3.9)")
        a.get("/pr", watch=lambda e: None)
        assert call(a, RemoveWatches("/pr", WATCHER_PERSISTENT_RECURSIVE)) is True
        b.create("/pr/gone-unseen")
        quiet()
        assert call(a, CheckWatches("/pr", WATCHER_DATA)) is True, "the one-shot watch went too"
        b.set("/pr", b"one-shot")
        expect_events((NODE_DATA_CHANGED, "/pr"))
        call(a, AddWatch("/pr", ADD_WATCH_PERSISTENT_RECURSIVE))  # for the setWatches2 step

    step("removeWatches of one type leaves the other type")
    b.create("/rw", b"")
    a.get("/rw", watch=lambda e: None)
    a.get_children("/rw", watch=lambda e: None)
    assert call(a, RemoveWatches("/rw", WATCHER_DATA)) is True
    expect_error(NoWatcherError, call, a, CheckWatches("/rw", WATCHER_DATA))
    assert call(a, CheckWatches("/rw", WATCHER_CHILDREN)) is True
    b.set("/rw", b"1")
    quiet()
    b.create("/rw/kid")
    expect_events((NODE_CHILDREN_CHANGED, "/rw"))
    expect_error(NoWatcherError, call, a, CheckWatches("/rw", WATCHER_CHILDREN))

    step("a standard watch is gone once it fired")
    a.get("/rw", watch=lambda e: None)
    assert call(a, CheckWatches("/rw", WATCHER_DATA)) is True
    b.set("/rw", b"2")
    expect_events((NODE_DATA_CHANGED, "/rw"))
    expect_error(NoWatcherError, call, a, CheckWatches("/rw", WATCHER_DATA))

    step("persistent watches belong to the connection; setWatches2 brings them back")
    states = StateLog(a)
    mark = states.mark()
    sever(a)
    states.wait_for("CONNECTED", after=mark + 1)
    wire.drain()
    b.set("/pr", b"unseen")
    quiet()
    a.sync("/")
    rel = a.last_zxid
    call(a, SetWatches2(rel, [], [], [], ["/pw"], ["/pr"]))
    b.set("/pw", b"seen")
    b.create("/pr/back")
    expect_events((NODE_DATA_CHANGED, "/pw"), (NODE_CREATED, "/pr/back"))
    b.set("/pw", b"again")
    expect_events((NODE_DATA_CHANGED, "/pw"))

    step("events reach only watchers that may READ the node (ZooKeeper 3.8.4, CVE-2024-23944)")
    b.add_auth("digest", "owner:pw")
    secret = [make_digest_acl("owner", "pw", all=True)]
    assert call(a, AddWatch("/guarded", ADD_WATCH_PERSISTENT_RECURSIVE)) is True
    b.create("/guarded")
    expect_events((NODE_CREATED, "/guarded"))
    b.create("/guarded/secret", b"s", acl=secret)
    b.set("/guarded/secret", b"t")
    b.create("/guarded/secret-parent", b"", acl=secret)
    b.delete("/guarded/secret")
    quiet()
    # A readable node under an unreadable one is seen.
    b.create("/guarded/secret-parent/open-kid", b"")
    expect_events((NODE_CREATED, "/guarded/secret-parent/open-kid"))
    b.create("/guarded/open", b"")
    b.set_acls("/guarded/open", secret)
    b.set("/guarded/open", b"now secret")
    b.delete("/guarded/open")
    expect_events((NODE_CREATED, "/guarded/open"))
finally:
    close(a, b)
print("persistent_watches: ok")
