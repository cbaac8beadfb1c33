"""Standard (one-shot) watches through kazoo: exists/get/get_children watches, which events fire
which watches, one-shot semantics, the rule that a watch event reaches the client before the
reply that shows the change, and kazoo's DataWatch / ChildrenWatch recipes."""

import queue

from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType

from zkhelp import WAIT, Recorder, Wire, close, connect, step

a = connect()
b = connect()
try:
    a.create("/w")

    step("exists watch on a missing node fires NodeCreated")
    created = Recorder("exists(/w/x)")
    assert a.exists("/w/x", watch=created) is None
    b.create("/w/x", b"1")
    ev = created.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.CREATED, "/w/x"), ev

    step("data watch fires NodeDataChanged on set, and only once")
    changed = Recorder("get(/w/x)")
    data, _ = a.get("/w/x", watch=changed)
    assert data == b"1"
    b.set("/w/x", b"2")
    ev = changed.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.CHANGED, "/w/x"), ev
    b.set("/w/x", b"3")
    # Barrier: a's own read is served after b's set, and an event leaves before the reply
    # that follows it, so a one-shot watch that wrongly fired again would be here by now.
    assert a.get("/w/x")[0] == b"3"
    assert changed.quiet_for(0.3), "one-shot data watch fired twice: %r" % changed.events

    step("exists watch on an existing node fires on set and on delete")
    on_set = Recorder("exists(/w/x) set")
    assert a.exists("/w/x", watch=on_set) is not None
    b.set("/w/x", b"4")
    assert on_set.wait(1)[0].type == EventType.CHANGED, on_set.events
    on_del = Recorder("exists(/w/x) delete")
    assert a.exists("/w/x", watch=on_del) is not None
    b.delete("/w/x")
    ev = on_del.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.DELETED, "/w/x"), ev

    step("child watch fires on child create and on child delete, not on child data change")
    b.create("/w/c0")
    kids = Recorder("get_children(/w) create")
    assert a.get_children("/w", watch=kids) == ["c0"]
    b.set("/w/c0", b"data")  # a child's data change is no children-changed event
    b.create("/w/c1")
    ev = kids.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.CHILD, "/w"), ev
    assert kids.quiet_for(0.2), kids.events
    kids2 = Recorder("get_children(/w) delete")
    assert sorted(a.get_children("/w", watch=kids2)) == ["c0", "c1"]
    b.delete("/w/c1")
    ev = kids2.wait(1)[0]
    assert (ev.type, ev.path) == (EventType.CHILD, "/w"), ev

    step("a node's own deletion fires its child watch (NodeDeleted) and its data watch")
    b.create("/w/p")
    p_kids = Recorder("get_children(/w/p)")
    p_data = Recorder("get(/w/p)")
    a.get_children("/w/p", watch=p_kids)
    a.get("/w/p", watch=p_data)
    b.delete("/w/p")
    assert p_kids.wait(1)[0].type == EventType.DELETED, p_kids.events
    assert p_data.wait(1)[0].type == EventType.DELETED, p_data.events

    step("get / get_children on a missing node leave no watch")
    ghost_d, ghost_c = Recorder("get(/w/ghost)"), Recorder("get_children(/w/ghost)")
    for fn, w in ((a.get, ghost_d), (a.get_children, ghost_c)):
        try:
            fn("/w/ghost", watch=w)
            raise AssertionError("read of a missing node succeeded")
        except NoNodeError:
            pass
    wire_barrier = Wire(a)
    b.create("/w/ghost")
    b.create("/w/ghost/kid")
    assert a.exists("/w/ghost/kid") is not None  # barrier
    stray = wire_barrier.no_event(0.3)
    assert stray is None, "a failed read left a watch: %r" % (stray,)

    step("setting the same data still fires a data watch")
    same = Recorder("get(/w/ghost) same data")
    a.get("/w/ghost", watch=same)
    b.set("/w/ghost", b"")
    assert same.wait(1)[0].type == EventType.CHANGED

    step("the same change fires watches of several sessions")
    b.create("/w/shared")
    wa, wb = Recorder("a"), Recorder("b")
    a.get("/w/shared", watch=wa)
    b.get("/w/shared", watch=wb)
    b.set("/w/shared", b"x")
    assert wa.wait(1)[0].type == EventType.CHANGED
    assert wb.wait(1)[0].type == EventType.CHANGED

    step("no watch fires for an unrelated path")
    other = Recorder("get(/w/c0)")
    a.get("/w/c0", watch=other)
    b.create("/w/unrelated")
    b.set("/w/shared", b"y")
    assert a.exists("/w/unrelated") is not None
    assert other.quiet_for(0.2), other.events

    step("a watch event reaches the client before the reply that shows the change")
    wire = Wire(a)
    mine = Recorder("own set")
    a.get("/w/c0", watch=mine)  # a's earlier watch on /w/c0 is the same kazoo path
    wire.log.clear()
    a.set("/w/c0", b"by-a")
    log = list(wire.log)
    ev_i = next(i for i, e in enumerate(log) if e[0] == "event" and e[2] == "/w/c0")
    rep_i = next(i for i, e in enumerate(log) if e[0] == "reply" and e[1] == "SetData")
    assert ev_i < rep_i, "own write: reply before event: %r" % log
    mine.wait(1)

    theirs = Recorder("other session's set")
    a.get("/w/shared", watch=theirs)
    wire.log.clear()
    b.set("/w/shared", b"by-b")
    data, _ = a.get("/w/shared")
    assert data == b"by-b"
    log = list(wire.log)
    ev_i = [i for i, e in enumerate(log) if e[0] == "event" and e[2] == "/w/shared"]
    rep_i = [i for i, e in enumerate(log) if e[0] == "reply" and e[1] == "GetData"]
    assert ev_i and rep_i and ev_i[0] < rep_i[0], (
        "read after another session's write: the reply showing by-b came before the event: %r"
        % log
    )
    theirs.wait(1)

    step("the child event comes before the reply to the create that caused it")
    kids3 = Recorder("own create")
    a.get_children("/w", watch=kids3)
    wire.log.clear()
    a.create("/w/mine")
    log = list(wire.log)
    ev_i = next(i for i, e in enumerate(log) if e[0] == "event" and e[2] == "/w")
    rep_i = next(i for i, e in enumerate(log) if e[0] == "reply" and e[1] == "Create")
    assert ev_i < rep_i, log
    kids3.wait(1)

    step("kazoo DataWatch recipe sees every committed value in order")
    seen = queue.Queue()

    @a.DataWatch("/w/dw")
    def on_data(data, stat, event=None):
        seen.put((data, stat.version if stat else None))

    assert seen.get(timeout=WAIT) == (None, None), "initial call for a missing node"
    b.create("/w/dw", b"v0")
    assert seen.get(timeout=WAIT) == (b"v0", 0)
    b.set("/w/dw", b"v1")
    assert seen.get(timeout=WAIT) == (b"v1", 1)
    b.delete("/w/dw")
    assert seen.get(timeout=WAIT) == (None, None)

    step("kazoo ChildrenWatch recipe follows the children")
    lists = queue.Queue()
    a.create("/w/cw")

    @a.ChildrenWatch("/w/cw")
    def on_children(children):
        lists.put(sorted(children))

    assert lists.get(timeout=WAIT) == []
    b.create("/w/cw/one")
    assert lists.get(timeout=WAIT) == ["one"]
    b.create("/w/cw/two", ephemeral=True)
    assert lists.get(timeout=WAIT) == ["one", "two"]
    b.delete("/w/cw/one")
    assert lists.get(timeout=WAIT) == ["two"]

    step("an ephemeral's deletion on session close fires watches")
    gone = Recorder("exists(/w/cw/two)")
    assert a.exists("/w/cw/two", watch=gone) is not None
    b.stop()
    assert gone.wait(1)[0].type == EventType.DELETED, gone.events
    assert lists.get(timeout=WAIT) == []
finally:
    b.close()
    close(a)
print("watches: ok")
