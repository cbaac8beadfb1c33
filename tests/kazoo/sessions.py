"""Sessions through kazoo: ephemerals vanish on close and on expiry (not on a mere disconnect),
a dropped connection reconnects to the same session, a session can be resumed by id and
password from another client, a wrong password is refused as expired, watches belong to the
connection and come back with setWatches (fired at once for changes missed while away), and the
negotiated session timeout is clamped to [2, 20] ticks.

The server is expected to run with tickTime=200 (so sessions may last 400..4000 ms)."""

import re
import time

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType, KazooState

from zkhelp import (
    NODE_CHILDREN_CHANGED,
    NODE_CREATED,
    NODE_DATA_CHANGED,
    NODE_DELETED,
    WAIT,
    Blackhole,
    Recorder,
    SetWatches,
    StateLog,
    Wire,
    call,
    close,
    connect,
    hostport,
    sever,
    step,
)

watcher = connect()
try:
    watcher.create("/s")

    step("an ephemeral outlives a dropped connection and the client reconnects to its session")
    a = connect(timeout=4.0)
    states = StateLog(a)
    sid, passwd = a.client_id
    a.create("/s/a-eph", ephemeral=True)
    mark = states.mark()
    sever(a)
    states.wait_for(KazooState.SUSPENDED, after=mark)
    states.wait_for(KazooState.CONNECTED, after=mark)
    assert a.client_id[0] == sid, "reconnected to another session: %x vs %x" % (a.client_id[0], sid)
    assert KazooState.LOST not in states.states[mark:], states.states
    assert watcher.exists("/s/a-eph").ephemeralOwner == sid
    a.set("/s/a-eph", b"still mine")
    close(a)
    assert watcher.exists("/s/a-eph") is None

    step("ephemerals vanish when the session expires, not when the connection drops")
    a = connect(timeout=1.0)
    states = StateLog(a)
    sid = a.client_id[0]
    a.create("/s/expiring", ephemeral=True)
    a.create("/s/expiring-seq-", ephemeral=True, sequence=True)
    deleted = Recorder("exists(/s/expiring)")
    assert watcher.exists("/s/expiring", watch=deleted) is not None
    hole = Blackhole(a)
    mark = states.mark()
    t0 = time.monotonic()
    sever(a)
    states.wait_for(KazooState.SUSPENDED, after=mark)
    assert hole.blocked.wait(WAIT), "kazoo never tried to reconnect"
    assert watcher.exists("/s/expiring") is not None, "ephemeral deleted on disconnect"
    ev = deleted.wait(1, timeout=WAIT)[0]
    waited = time.monotonic() - t0
    assert (ev.type, ev.path) == (EventType.DELETED, "/s/expiring"), ev
    assert 0.5 <= waited <= 6.0, "session of 1s expired after %.2fs" % waited
    assert watcher.get_children("/s") == [], watcher.get_children("/s")

    step("the expired client is told so when it comes back (LOST), then gets a new session")
    hole.release()
    states.wait_for(KazooState.LOST, after=mark)
    states.wait_for(KazooState.CONNECTED, after=mark)
    assert a.client_id[0] != sid, "kazoo kept the expired session id"
    a.create("/s/after-expiry", ephemeral=True)
    assert watcher.exists("/s/after-expiry").ephemeralOwner == a.client_id[0]
    close(a)

    step("a session is resumed by id and password from another client")
    a = connect(timeout=4.0)
    sid, passwd = a.client_id
    a.create("/s/handed-over", ephemeral=True)
    hole = Blackhole(a)
    sever(a)
    assert hole.blocked.wait(WAIT)
    c = KazooClient(hosts=hostport(), timeout=4.0, client_id=(sid, passwd))
    c.start(timeout=WAIT)
    assert c.client_id[0] == sid, "resumed a different session"
    assert c.exists("/s/handed-over").ephemeralOwner == sid
    c.stop()  # closes the session it resumed
    c.close()
    assert watcher.exists("/s/handed-over") is None
    a.stop()
    a.close()

    step("a wrong password is refused as an expired session; the session itself lives on")
    a = connect(timeout=4.0)
    sid, passwd = a.client_id
    a.create("/s/guarded", ephemeral=True)
    bad = bytes(((passwd[0] ^ 0xFF),)) + passwd[1:]
    c = KazooClient(hosts=hostport(), timeout=4.0, client_id=(sid, bad))
    c.start(timeout=WAIT)
    # kazoo starts out LOST, so the refusal shows only as a fresh session id.
    assert c.client_id[0] != sid, "a wrong password attached to the session"
    assert watcher.exists("/s/guarded").ephemeralOwner == sid
    a.set("/s/guarded", b"ok")  # a is unaffected
    close(c)
    close(a)

    step("watches belong to the connection: kazoo does not resend them, so they are gone")
    a = connect(timeout=4.0)
    states = StateLog(a)
    a.create("/s/w", b"0")
    lost = Recorder("get(/s/w) across reconnect")
    a.get("/s/w", watch=lost)
    wire = Wire(a)
    mark = states.mark()
    sever(a)
    states.wait_for(KazooState.CONNECTED, after=mark + 1)
    # kazoo hands its watchers a NONE event on disconnect and forgets them.
    assert lost.wait(1)[0].type == EventType.NONE, lost.events
    wire.drain()
    watcher.set("/s/w", b"1")
    assert a.get("/s/w")[0] == b"1"  # barrier: any event would precede this reply
    stray = wire.no_event(0.3)
    assert stray is None, "server kept a watch of a closed connection: %r" % (stray,)

    step("setWatches after a reconnect fires at once for what changed while away")
    a.create("/s/d", b"0")
    a.create("/s/p")
    a.create("/s/same", b"0")
    a.create("/s/doomed")
    # The watches the client "had" before the cut; setWatches re-registers them by path.
    a.sync("/s")
    rel = a.last_zxid
    assert rel > 0, "kazoo saw no zxid"
    hole = Blackhole(a)
    mark = states.mark()
    sever(a)
    assert hole.blocked.wait(WAIT)
    watcher.set("/s/d", b"1")  # data changed after rel
    watcher.create("/s/missing")  # an exists watch's node appeared
    watcher.create("/s/p/kid")  # children changed
    watcher.delete("/s/doomed")  # a data watch's node went away
    hole.release()
    states.wait_for(KazooState.CONNECTED, after=mark + 1)
    wire.drain()
    call(
        a,
        SetWatches(
            rel,
            data=["/s/d", "/s/same", "/s/doomed"],
            exist=["/s/missing", "/s/absent"],
            child=["/s/p"],
        ),
    )
    got = set()
    for _ in range(4):
        got.add(wire.next_event(what="setWatches catch-up events (have %r)" % got))
    assert got == {
        (NODE_DATA_CHANGED, "/s/d"),
        (NODE_CREATED, "/s/missing"),
        (NODE_CHILDREN_CHANGED, "/s/p"),
        (NODE_DELETED, "/s/doomed"),
    }, got
    step("... and re-registers the watches whose nodes did not change")
    watcher.set("/s/same", b"1")
    assert wire.next_event() == (NODE_DATA_CHANGED, "/s/same")
    watcher.create("/s/absent")
    assert wire.next_event() == (NODE_CREATED, "/s/absent")
    watcher.set("/s/d", b"2")  # already fired above: one-shot, so no second event
    assert a.get("/s/d")[0] == b"2"
    extra = wire.no_event(0.3)
    assert extra is None, "a fired setWatches watch fired again: %r" % (extra,)
    close(a)

    step("a client that accepts read-only servers gets a read-write session (readOnly=false)")
    c = connect(read_only=True)
    assert c.client_state == "CONNECTED", c.client_state  # not CONNECTED_RO
    c.create("/s/ro-client-wrote")
    close(c)

    step("the negotiated session timeout is clamped to [2, 20] ticks")
    for asked, expect in ((0.1, 400), (60.0, 4000), (1.5, 1500)):
        c = connect(timeout=asked)
        sid = c.client_id[0]
        cons = c.command(b"cons")
        m = re.search(r"sid=0x%x\b[^)]*\bto=(\d+)" % sid, cons)
        assert m, "no cons line for session 0x%x in %r" % (sid, cons)
        assert int(m.group(1)) == expect, "asked %.1fs, cons says to=%s" % (asked, m.group(1))
        close(c)
finally:
    close(watcher)
print("sessions: ok")
