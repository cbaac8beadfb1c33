"""Transactions (multi) through kazoo's client.transaction(): atomic commit of create, set,
delete and check; atomic failure with per-op results (RolledBackError for the ops before the
failing one, the failing op's own error, RuntimeInconsistency for the ops after it); ops that
depend on earlier ops of the same transaction; watches fired by a multi."""

from kazoo.exceptions import (
    BadVersionError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    RolledBackError,
    RuntimeInconsistency,
)
from kazoo.protocol.states import EventType, ZnodeStat

from zkhelp import Recorder, Wire, close, connect, step


def kinds(results):
    return [type(r).__name__ if isinstance(r, Exception) else r for r in results]


zk = connect()
other = connect()
try:
    zk.create("/t")
    zk.create("/t/x", b"x0")
    zk.create("/t/y", b"y0")

    step("a transaction commits create + set + delete + check together")
    tx = zk.transaction()
    tx.create("/t/new", b"n")
    tx.set_data("/t/x", b"x1", version=0)
    tx.delete("/t/y")
    tx.check("/t/x", 1)  # sees the set above
    results = tx.commit()
    assert len(results) == 4, results
    assert results[0] == "/t/new", kinds(results)
    assert isinstance(results[1], ZnodeStat) and results[1].version == 1, results[1]
    assert results[2] is True and results[3] is True, kinds(results)
    assert zk.get("/t/new")[0] == b"n"
    assert zk.get("/t/x") == (b"x1", results[1]), (zk.get("/t/x"), results[1])
    assert zk.exists("/t/y") is None

    step("all ops of a multi share one zxid")
    st_new = zk.exists("/t/new")
    assert st_new.czxid == results[1].mzxid, (st_new, results[1])
    assert zk.exists("/t").pzxid == st_new.czxid

    step("a failing op rolls the whole transaction back, with per-op results")
    before = zk.exists("/t")
    tx = zk.transaction()
    tx.create("/t/never", b"")
    tx.set_data("/t/x", b"x2", version=0)  # stale: /t/x is at version 1
    tx.delete("/t/new")
    tx.check("/t/x", 1)
    results = tx.commit()
    assert kinds(results) == [
        "RolledBackError",
        "BadVersionError",
        "RuntimeInconsistency",
        "RuntimeInconsistency",
    ], kinds(results)
    assert isinstance(results[0], RolledBackError)
    assert isinstance(results[1], BadVersionError)
    assert isinstance(results[2], RuntimeInconsistency)
    assert zk.exists("/t/never") is None, "rolled-back create is visible"
    assert zk.get("/t/x")[0] == b"x1", "rolled-back set is visible"
    assert zk.exists("/t/new") is not None, "rolled-back delete is visible"
    after = zk.exists("/t")
    assert (after.cversion, after.pzxid, after.numChildren) == (
        before.cversion,
        before.pzxid,
        before.numChildren,
    ), (before, after)

    step("the error of the failing op is reported for each kind of op")
    cases = [
        (lambda t: t.create("/t/x", b""), NodeExistsError),
        (lambda t: t.create("/t/nope/child", b""), NoNodeError),
        (lambda t: t.delete("/t/missing"), NoNodeError),
        (lambda t: t.delete("/t"), NotEmptyError),
        (lambda t: t.set_data("/t/missing", b""), NoNodeError),
        (lambda t: t.check("/t/x", 7), BadVersionError),
        (lambda t: t.check("/t/missing", 0), NoNodeError),
    ]
    for add, err in cases:
        tx = zk.transaction()
        tx.create("/t/first", b"")
        add(tx)
        tx.create("/t/last", b"")
        results = tx.commit()
        assert isinstance(results[0], RolledBackError), kinds(results)
        assert type(results[1]) is err, "expected %s, got %r" % (err.__name__, kinds(results))
        assert isinstance(results[2], RuntimeInconsistency), kinds(results)
        assert zk.exists("/t/first") is None and zk.exists("/t/last") is None

    step("the first op failing rolls nothing back and poisons the rest")
    tx = zk.transaction()
    tx.delete("/t/missing")
    tx.create("/t/a", b"")
    results = tx.commit()
    assert kinds(results) == ["NoNodeError", "RuntimeInconsistency"], kinds(results)

    step("later ops see earlier ops of the same transaction")
    tx = zk.transaction()
    tx.create("/t/p", b"")
    tx.create("/t/p/c", b"")
    tx.set_data("/t/p/c", b"c1", version=0)
    tx.check("/t/p/c", 1)
    tx.delete("/t/p/c", version=1)
    tx.create("/t/p/c", b"again")
    results = tx.commit()
    assert not any(isinstance(r, Exception) for r in results), kinds(results)
    assert zk.get("/t/p/c")[0] == b"again"
    assert zk.exists("/t/p/c").version == 0

    step("sequential and ephemeral creates inside a transaction")
    zk.create("/t/q")
    tx = zk.transaction()
    tx.create("/t/q/s-", b"", sequence=True)
    tx.create("/t/q/s-", b"", sequence=True)
    tx.create("/t/q/e", b"", ephemeral=True)
    results = tx.commit()
    assert results == ["/t/q/s-0000000000", "/t/q/s-0000000001", "/t/q/e"], results
    assert zk.exists("/t/q/e").ephemeralOwner == zk.client_id[0]

    step("a rolled-back sequential create does not use up a sequence number")
    tx = zk.transaction()
    tx.create("/t/q/s-", b"", sequence=True)
    tx.check("/t/q", 99)
    results = tx.commit()
    assert kinds(results) == ["RolledBackError", "BadVersionError"], kinds(results)
    assert zk.create("/t/q/s-", b"", sequence=True) == "/t/q/s-0000000003"

    step("an empty transaction succeeds with no results")
    assert zk.transaction().commit() == []

    step("a committed multi fires watches, before its reply; a failed one fires none")
    zk.create("/t/w", b"")
    data_w = Recorder("get(/t/w)")
    kids_w = Recorder("get_children(/t)")
    zk.get("/t/w", watch=data_w)
    zk.get_children("/t", watch=kids_w)
    wire = Wire(zk)
    tx = zk.transaction()
    tx.set_data("/t/w", b"v", version=0)
    tx.set_data("/t/w", b"v", version=0)  # fails: version is 1 now
    tx.create("/t/child", b"")
    results = tx.commit()
    assert kinds(results)[:2] == ["RolledBackError", "BadVersionError"], kinds(results)
    assert zk.get("/t/w")[0] == b""  # barrier
    assert wire.no_event(0.3) is None, "a rolled-back multi fired a watch"
    wire.log.clear()
    tx = zk.transaction()
    tx.set_data("/t/w", b"v", version=0)
    tx.create("/t/child", b"")
    tx.commit()
    log = list(wire.log)
    reply = next(i for i, e in enumerate(log) if e[0] == "reply" and e[1] == "Transaction")
    events = [e for e in log[:reply] if e[0] == "event"]
    assert sorted(e[1:] for e in events) == [(3, "/t/w"), (4, "/t")], (
        "expected data and child events before the multi's reply: %r" % log
    )
    assert data_w.wait(1)[0].type == EventType.CHANGED
    assert kids_w.wait(1)[0].type == EventType.CHILD

    step("another session sees all or nothing")
    assert other.get("/t/w")[0] == b"v"
    assert other.exists("/t/child") is not None
finally:
    close(other)
    close(zk)
print("multi: ok")
