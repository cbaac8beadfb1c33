"""kazoo's own recipes against the server: Lock (with contention between sessions), Semaphore,
Counter (versioned set), Election, Queue / LockingQueue, DoubleBarrier and Party. They combine
sequential ephemerals, child and exists watches and version checks the way applications do."""

import queue
import threading

from zkhelp import WAIT, close, connect, step, wait_children

a = connect()
b = connect()
try:
    step("Lock: a second contender waits until the holder releases")
    la = a.Lock("/recipes/lock", "a")
    lb = b.Lock("/recipes/lock", "b")
    assert la.acquire(timeout=WAIT)
    order = queue.Queue()
    got_b = threading.Event()

    def contend():
        if lb.acquire(timeout=WAIT):
            order.put("b acquired")
            got_b.set()

    t = threading.Thread(target=contend)
    t.start()
    wait_children(a, "/recipes/lock", lambda kids: len(kids) == 2, what="b's lock node")
    assert la.contenders() == ["a", "b"], la.contenders()
    assert not got_b.wait(0.3), "b acquired a held lock"
    order.put("a released")
    la.release()
    assert got_b.wait(WAIT), "b never acquired the released lock"
    t.join(WAIT)
    assert [order.get_nowait(), order.get_nowait()] == ["a released", "b acquired"]
    lb.release()

    step("Lock: a holder's session closing releases the lock")
    c = connect()
    lc = c.Lock("/recipes/lock", "c")
    assert lc.acquire(timeout=WAIT)
    done = threading.Event()
    threading.Thread(target=lambda: la.acquire(timeout=WAIT) and done.set()).start()
    assert not done.wait(0.2)
    close(c)
    assert done.wait(WAIT), "lock not released when its holder's session closed"
    la.release()

    step("Semaphore: at most max_leases holders")
    s1 = a.Semaphore("/recipes/sem", "s1", max_leases=1)
    s2 = b.Semaphore("/recipes/sem", "s2", max_leases=1)
    assert s1.acquire(timeout=WAIT)
    assert not s2.acquire(blocking=False)
    s1.release()
    assert s2.acquire(timeout=WAIT)
    s2.release()

    step("Counter: concurrent increments from two sessions are not lost")
    ca = a.Counter("/recipes/counter")
    cb = b.Counter("/recipes/counter")

    def bump(counter, n):
        for _ in range(n):
            counter += 1

    ts = [threading.Thread(target=bump, args=(ca, 25)), threading.Thread(target=bump, args=(cb, 25))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(WAIT * 3)
    assert a.Counter("/recipes/counter").value == 50, a.Counter("/recipes/counter").value

    step("Election: one leader at a time, the next takes over when it leaves")
    leaders = queue.Queue()
    release = {"a": threading.Event(), "b": threading.Event()}

    def lead(name):
        leaders.put(name)
        release[name].wait(WAIT)

    ea = a.Election("/recipes/election", "a")
    eb = b.Election("/recipes/election", "b")
    ta = threading.Thread(target=ea.run, args=(lead, "a"))
    ta.start()
    assert leaders.get(timeout=WAIT) == "a"
    tb = threading.Thread(target=eb.run, args=(lead, "b"))
    tb.start()
    wait_children(a, "/recipes/election", lambda kids: len(kids) == 2, what="b's election node")
    assert ea.contenders() == ["a", "b"], ea.contenders()
    release["a"].set()
    assert leaders.get(timeout=WAIT) == "b"
    release["b"].set()
    ta.join(WAIT)
    tb.join(WAIT)

    step("Queue and LockingQueue: FIFO across sessions")
    qa, qb = a.Queue("/recipes/queue"), b.Queue("/recipes/queue")
    for item in (b"1", b"2", b"3"):
        qa.put(item)
    assert [qb.get(), qb.get(), qb.get(), qb.get()] == [b"1", b"2", b"3", None]
    lqa, lqb = a.LockingQueue("/recipes/lqueue"), b.LockingQueue("/recipes/lqueue")
    lqa.put(b"job")
    assert lqb.get(timeout=WAIT) == b"job"
    assert lqb.consume()
    assert len(lqa) == 0

    step("DoubleBarrier: nobody proceeds until everyone entered")
    entered = threading.Event()
    da = a.DoubleBarrier("/recipes/dbarrier", 2, "a")
    db = b.DoubleBarrier("/recipes/dbarrier", 2, "b")
    tda = threading.Thread(target=lambda: (da.enter(), entered.set()))
    tda.start()
    assert not entered.wait(0.3), "entered a barrier alone"
    db.enter()
    assert entered.wait(WAIT)
    tda.join(WAIT)
    tl = threading.Thread(target=da.leave)
    tl.start()
    db.leave()
    tl.join(WAIT)
    assert not tl.is_alive()

    step("Party: members see each other")
    pa = a.Party("/recipes/party", "a")
    pb = b.Party("/recipes/party", "b")
    pa.join()
    pb.join()
    assert sorted(pa) == ["a", "b"], list(pa)
    pb.leave()
    assert list(pa) == ["a"], list(pa)
finally:
    close(a, b)
print("recipes: ok")
