"""Quotas through kazoo, with enforceQuota=true: the nodes zkCli's setquota makes
(/zookeeper/quota/<path>/zookeeper_limits and zookeeper_stats), the usage the server keeps in the
stats node, QUOTAEXCEEDED for a create over countHardLimit and a setData over byteHardLimit (also
inside a multi), soft limits that only warn, and the server serving on.

Usage: quota.py HOST:PORT setup|after-restart. `after-restart` runs against the same data
directory after a restart and checks that the usage was recounted and is still enforced.
Both phases pass against ZooKeeper 3.8 (Debian's jars) with enforceQuota=true in zoo.cfg."""

import sys

from kazoo.client import KazooClient
from kazoo.exceptions import QuotaExceededError

from zkhelp import close, expect_error, step

HOST, MODE = sys.argv[1], sys.argv[2]


def stats(zk, path):
    return zk.get("/zookeeper/quota%s/zookeeper_stats" % path)[0].decode()


def set_quota(zk, path, limits):
    """What zkCli's setquota does (SetQuotaCommand.createQuota) for a path with no quota."""
    zk.ensure_path("/zookeeper/quota" + path)
    zk.create("/zookeeper/quota%s/zookeeper_limits" % path, limits.encode())
    zk.create("/zookeeper/quota%s/zookeeper_stats" % path, b"count=0,bytes=0")


zk = KazooClient(hosts=HOST, timeout=10.0)
zk.start(timeout=10)
try:
    if MODE == "setup":
        step("a hard quota of 3 nodes and 10 bytes on /hard; the stats node counts what is there")
        zk.create("/hard", b"1234")
        set_quota(zk, "/hard", "count=-1,bytes=-1=;byteHardLimit=10;countHardLimit=3")
        assert stats(zk, "/hard") == "count=1,bytes=4", stats(zk, "/hard")
        zk.create("/hard/a", b"12")
        assert stats(zk, "/hard") == "count=2,bytes=6", stats(zk, "/hard")

        step("over the hard limits: QuotaExceeded, and nothing changes")
        zk.create("/hard/b", b"")
        expect_error(QuotaExceededError, zk.create, "/hard/c", b"")
        expect_error(QuotaExceededError, zk.set, "/hard/a", b"123456789")
        tx = zk.transaction()
        tx.set_data("/hard/a", b"1")
        tx.create("/hard/d", b"")
        results = tx.commit()
        assert isinstance(results[1], QuotaExceededError), results
        assert zk.get("/hard/a")[0] == b"12", "the multi was rolled back"
        assert sorted(zk.get_children("/hard")) == ["a", "b"]
        assert stats(zk, "/hard") == "count=3,bytes=6", stats(zk, "/hard")
        zk.set("/hard/a", b"123456")
        assert stats(zk, "/hard") == "count=3,bytes=10", stats(zk, "/hard")

        step("soft limits only warn")
        zk.create("/soft", b"")
        set_quota(zk, "/soft", "count=1,bytes=2")
        for i in range(3):
            zk.create("/soft/%d" % i, b"abc")
        assert stats(zk, "/soft") == "count=4,bytes=9", stats(zk, "/soft")
        zk.delete("/hard/b")
        assert stats(zk, "/hard") == "count=2,bytes=10", stats(zk, "/hard")
    else:
        step("after a restart: the usage recounted from the tree, the limits still enforced")
        assert stats(zk, "/hard") == "count=2,bytes=10", stats(zk, "/hard")
        assert stats(zk, "/soft") == "count=4,bytes=9", stats(zk, "/soft")
        expect_error(QuotaExceededError, zk.set, "/hard/a", b"1234567")
        zk.create("/hard/b", b"")
        expect_error(QuotaExceededError, zk.create, "/hard/c", b"")
        step("delquota (the limits node gone) lifts the quota")
        zk.delete("/zookeeper/quota/hard/zookeeper_limits")
        zk.create("/hard/c", b"")
finally:
    close(zk)
print("quota %s: ok" % MODE)
