"""Mixed ensembles of Apache ZooKeeper 3.8 and Rookery, driven by tests/mixed_ensemble.rs.

    python mixed_ensemble.py leaders IMPL1,IMPL2,IMPL3 WORKDIR
        Three members of the given implementations (`zookeeper` or `rookery`, in server.N order).
        A kazoo client on all members writes throughout while the leader is killed (kill -9) and
        restarted three times; both implementations must have led. At the end every acknowledged
        write is present and every member holds the same tree, read member by member.

    python mixed_ensemble.py rolling FROM TO WORKDIR
        Three FROM servers (`zookeeper` or `rookery`) with data and a client writing continuously
        (with a session that owns an ephemeral node); each server in turn is stopped and replaced
        by TO on the same data directory. No acknowledged write is lost, the session and its
        ephemeral survive, and the final ensemble is all TO, members identical.

Both end by reading every member's files with both implementations: its newest snapshot through
ZooKeeper's SnapshotFormatter and `rookery dump snapshot`, and its whole data directory (snapshot
plus logs) loaded by a standalone Rookery and a standalone ZooKeeper, which must serve one tree.

Servers come from scripts/bench.py (loopback, OS-chosen ports, same zoo.cfg for both); only the
processes started here are stopped, by PID. Prints `OK ...` on success; any failure raises.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import bench  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.retry import KazooRetry  # noqa: E402

logging.basicConfig(level=logging.CRITICAL)
DEADLINE = 120


def client(ports):
    retry = dict(max_tries=-1, delay=0.05, max_delay=0.5)
    zk = KazooClient(hosts=",".join(f"127.0.0.1:{p}" for p in ports), timeout=10,
                     connection_retry=KazooRetry(**retry), command_retry=KazooRetry(**retry))
    zk.start(timeout=60)
    return zk


class Writer:
    """Creates /w/n<i> in a loop through a client and reads each back; remembers which creates
    were acknowledged."""

    def __init__(self, zk):
        self.zk, self.acked, self.failed, self.unseen = zk, [], 0, []
        self.stop = threading.Event()
        zk.ensure_path("/w")
        # A daemon: a failed check must end the script, not wait on a writer that retries.
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.zk.create(f"/w/n{i:07d}", b"x" * 20)
                self.acked.append(i)
                if self.zk.exists(f"/w/n{i:07d}") is None:
                    self.unseen.append(i)
            except Exception:  # noqa: BLE001 - a failed write is simply not acknowledged
                self.failed += 1
                time.sleep(0.05)
            i += 1

    def progress(self, more=50):
        """Waits until `more` further writes are acknowledged (writes go on throughout)."""
        target = len(self.acked) + more
        bench.wait_for(f"{more} more acknowledged writes", lambda: len(self.acked) >= target, DEADLINE, 0.01)

    def finish(self):
        self.stop.set()
        self.thread.join()


def tree_of(port):
    """Every node under / (but /zookeeper) read through one member: path -> (data, version, czxid,
    mzxid, pzxid, cversion, ephemeralOwner)."""
    zk = client([port])
    try:
        zk.sync("/")
        out, todo = {}, ["/"]
        while todo:
            path = todo.pop()
            data, st = zk.get(path)
            out[path] = (data, st.version, st.czxid, st.mzxid, st.pzxid, st.cversion, st.ephemeralOwner)
            for child in zk.get_children(path):
                full = ("" if path == "/" else path) + "/" + child
                if full != "/zookeeper":
                    todo.append(full)
        return out
    finally:
        zk.stop()
        zk.close()


def check_identical(servers):
    trees = {s.myid: tree_of(s.port) for s in servers}
    first = trees[servers[0].myid]
    for myid, t in trees.items():
        if t != first:
            diff = sorted(set(t.items()) ^ set(first.items()))[:5]
            raise AssertionError(f"server {myid}'s tree differs from server {servers[0].myid}'s: {diff}")
    return len(first)


def snapshot_by_zookeeper(path):
    """path -> (czxid, mzxid, pzxid, version, ephemeralOwner, dataLength), by ZooKeeper's
    SnapshotFormatter."""
    out = subprocess.run(["java", "-cp", bench.ZK_CLASSPATH, "org.apache.zookeeper.server.SnapshotFormatter", path],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    nodes = {}
    for block in out.split("----\n")[1:]:
        lines = block.splitlines()
        if not lines or not lines[0].startswith("/"):
            continue
        f = dict(l.strip().split(" = ", 1) for l in lines[1:] if " = " in l)
        nodes[lines[0]] = (int(f["cZxid"], 16), int(f["mZxid"], 16), int(f["pZxid"], 16), int(f["dataVersion"]),
                           int(f["ephemeralOwner"], 16), int(f["dataLength"]))
    return nodes


def snapshot_by_rookery(path):
    out = subprocess.run([bench.ROOKERY, "dump", "snapshot", path, "--json"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return {n["path"]: (int(n["czxid"], 16), int(n["mzxid"], 16), int(n["pzxid"], 16), n["version"],
                        int(n["ephemeralOwner"], 16), n["dataLength"]) for n in json.loads(out)["nodes"]}


def check_snapshots(servers):
    """Every member's newest snapshot (whichever implementation wrote it) reads the same with
    both implementations' tools."""
    for s in servers:
        snap_dir = os.path.join(s.dir, "data", "version-2")
        snaps = sorted((f for f in os.listdir(snap_dir) if f.startswith("snapshot.")),
                       key=lambda f: int(f.split(".")[1], 16))
        newest = os.path.join(snap_dir, snaps[-1])
        theirs, ours = snapshot_by_zookeeper(newest), snapshot_by_rookery(newest)
        if not ours or theirs != ours:
            diff = sorted(set(theirs.items()) ^ set(ours.items()))[:5]
            raise AssertionError(f"{newest} ({s.impl}): the two tools disagree: {diff}")


def check_files(servers, work):
    """Every member's data directory, loaded on its own (standalone) by Rookery and by ZooKeeper,
    serves the same tree: both implementations read what either wrote, and the members agree."""
    trees = {}
    for s in servers:
        for impl in ("rookery", "zookeeper"):
            copy = os.path.join(work, f"reload-{s.myid}-{impl}")
            shutil.copytree(os.path.join(s.dir, "data"), os.path.join(copy, "data"))
            os.remove(os.path.join(copy, "data", "myid"))
            alone = bench.Server(impl, copy, s.myid, bench.free_port(), {})
            try:
                alone.start()
                bench.wait_for(f"{impl} on server {s.myid}'s files", lambda: bench.served(alone.port), DEADLINE, 0.02)
                trees[(s.myid, impl)] = tree_of(alone.port)
            finally:
                alone.stop()
    first_key = (servers[0].myid, "rookery")
    for key, t in trees.items():
        if t != trees[first_key]:
            diff = sorted(set(t.items()) ^ set(trees[first_key].items()))[:5]
            raise AssertionError(f"server {key[0]}'s files loaded by {key[1]} differ: {diff}")


def check_writes(zk, writer):
    if writer.unseen:
        raise AssertionError(f"the writer could not read back its own acknowledged writes {writer.unseen[:5]}")
    present = {int(c[1:]) for c in zk.get_children("/w")}
    lost = [i for i in writer.acked if i not in present]
    if lost:
        raise AssertionError(f"{len(lost)} acknowledged writes lost, e.g. {lost[:5]}")


def mode_of(s):
    return bench.mode(s.port) if s.proc.poll() is None else None


def leaders(impls, work):
    members = {i: (bench.free_port(), bench.free_port()) for i in (1, 2, 3)}
    servers = [bench.Server(impl, os.path.join(work, str(i)), i, bench.free_port(), members)
               for i, impl in zip((1, 2, 3), impls)]
    led = set()
    zk = None
    try:
        for s in servers:
            s.start()
        zk = client([s.port for s in servers])
        writer = Writer(zk)
        for _ in range(3):
            leader = bench.wait_for("a leader", lambda: next((s for s in servers if mode_of(s) == "leader"), None),
                                    DEADLINE, 0.02)
            led.add(leader.impl)
            writer.progress()
            leader.kill9()
            writer.progress()
            leader.start()
            bench.wait_for(f"server {leader.myid} to rejoin", lambda: mode_of(leader) in ("leader", "follower"),
                           DEADLINE, 0.02)
        leader = bench.wait_for("a leader", lambda: next((s for s in servers if mode_of(s) == "leader"), None),
                                DEADLINE, 0.02)
        led.add(leader.impl)
        writer.progress()
        writer.finish()
        if led != {"zookeeper", "rookery"}:
            raise AssertionError(f"only {led} led")
        check_writes(zk, writer)
        nodes = check_identical(servers)
        zk.stop()
        zk = None
        for s in servers:
            s.stop()
        check_snapshots(servers)
        check_files(servers, work)
        print(f"OK {','.join(impls)}: both led, {len(writer.acked)} acknowledged writes kept, "
              f"{writer.failed} refused during elections, {nodes} nodes identical on all members, "
              f"snapshots read alike by both tools, every member's files load to the same tree in both")
    finally:
        if zk:
            zk.stop()
        for s in servers:
            s.stop()


def rolling(source, target, work):
    members = {i: (bench.free_port(), bench.free_port()) for i in (1, 2, 3)}
    ports = {i: bench.free_port() for i in (1, 2, 3)}
    servers = {i: bench.Server(source, os.path.join(work, str(i)), i, ports[i], members) for i in (1, 2, 3)}
    zk = None
    try:
        for s in servers.values():
            s.start()
        bench.wait_for(f"{source} to elect",
                       lambda: all(mode_of(s) in ("leader", "follower") for s in servers.values()), DEADLINE, 0.05)
        zk = client(list(ports.values()))
        session = zk.client_id
        zk.create("/data", b"before the migration")
        zk.create("/eph", b"owned by the writer's session", ephemeral=True)
        writer = Writer(zk)
        for i in (1, 2, 3):
            writer.progress()
            servers[i].stop()
            servers[i] = bench.Server(target, os.path.join(work, str(i)), i, ports[i], members)
            servers[i].start()
            s = servers[i]
            bench.wait_for(f"{target} {i} to join", lambda: mode_of(s) in ("leader", "follower"), DEADLINE, 0.02)
        writer.progress()
        writer.finish()
        if zk.client_id != session:
            raise AssertionError("the client's session changed")
        if zk.get("/eph")[1].ephemeralOwner != session[0] or zk.get("/data")[0] != b"before the migration":
            raise AssertionError("the ephemeral or the data written before the migration is gone")
        check_writes(zk, writer)
        nodes = check_identical(list(servers.values()))
        modes = sorted(mode_of(s) for s in servers.values())
        if modes != ["follower", "follower", "leader"]:
            raise AssertionError(f"final modes {modes}")
        zk.stop()
        zk = None
        for s in servers.values():
            s.stop()
        check_snapshots(list(servers.values()))
        check_files(list(servers.values()), work)
        print(f"OK rolling {source} to {target}: {len(writer.acked)} acknowledged writes kept, session and "
              f"ephemeral kept, {nodes} nodes identical on three {target} members, snapshots read alike by both tools, "
              f"every member's files load to the same tree in both")
    finally:
        if zk:
            zk.stop()
        for s in servers.values():
            s.stop()


if __name__ == "__main__":
    if sys.argv[1] == "leaders":
        leaders(sys.argv[2].split(","), sys.argv[3])
    else:
        rolling(sys.argv[2], sys.argv[3], sys.argv[4])
