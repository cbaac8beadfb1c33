"""Dynamic reconfiguration through kazoo, driven by tests/reconfig.rs.

    python reconfig.py membership IMPL WORKDIR
        Three servers with reconfigEnabled; a kazoo client writes throughout. Servers 4 and 5
        start with the ensemble plus themselves, are added by one incremental reconfig (3 -> 5
        voters), then removed again (5 -> 3, with the version check); then server 6 is added as
        an observer and removed. Every member's /zookeeper/config follows, every acknowledged
        write is readable on every remaining member, and zoo.cfg points at the newest
        zoo.cfg.dynamic.<version>.

    python reconfig.py leader IMPL WORKDIR
        The leader removes itself by reconfig while a client writes: the two others elect a new
        leader, the old one stays on as an observer; then it is added back as a voter.

    python reconfig.py errors IMPL WORKDIR
        The error cases through kazoo: NOAUTH without the super user, BADVERSION for a stale
        fromConfig, BADARGUMENTS for garbage and for a configuration of one voter,
        NEWCONFIGNOQUORUM when the new voters cannot form a synced quorum, RECONFIGINPROGRESS for a
        reconfig sent while another is in flight, RECONFIGDISABLED and
        UNIMPLEMENTED (standalone) on single servers; every server keeps serving afterwards.

IMPL is `rookery` or `zookeeper` (Debian's 3.8 jars), so the same script checks both, or a
comma-separated list such as `zookeeper,zookeeper,rookery` for a mixed ensemble: server N runs
the implementation at place (N - 1) mod 3 of the list (for membership and leader). Servers
run on loopback with OS-chosen ports; only the processes started here are stopped, by PID.
Prints `OK ...` on success; any failure raises.
"""

import base64
import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import bench  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import (BadArgumentsError, BadVersionError, ConnectionLoss,  # noqa: E402
                              NewConfigNoQuorumError, NoAuthError, NotReadOnlyCallError,
                              ReconfigDisabledError, ReconfigInProcessError, UnimplementedError)
from kazoo.retry import KazooRetry  # noqa: E402

logging.basicConfig(level=logging.CRITICAL)
DEADLINE = 60
SUPER = "super:test"
SUPER_DIGEST = "super:" + base64.b64encode(hashlib.sha1(SUPER.encode()).digest()).decode()


class Member:
    """A server and its zoo.cfg: `server.N` lines with client addresses, reconfig on."""

    def __init__(self, impl, work, sid, ports, listed, extra=(), admin=False):
        self.impl, self.sid, self.ports = impl, sid, ports
        # The admin server on a port of its own, or off.
        self.admin_port = free_port() if admin else None
        admin_lines = [f"admin.serverPort={self.admin_port}", "admin.serverAddress=127.0.0.1"] if admin \
            else ["admin.enableServer=false"]
        self.dir = os.path.join(work, str(sid))
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        lines = ["tickTime=1000", "initLimit=10", "syncLimit=5", f"dataDir={self.dir}/data",
                 "4lw.commands.whitelist=*", *admin_lines,
                 f"DigestAuthenticationProvider.superDigest={SUPER_DIGEST}", *extra]
        lines += [f"server.{s}={spec}" for s, spec in sorted(listed.items())]
        if listed:
            with open(os.path.join(self.dir, "data", "myid"), "w") as f:
                f.write(f"{sid}\n")
        else:
            lines.append(f"clientPort={ports[2]}")
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    @property
    def port(self):
        return self.ports[2]

    def start(self):
        java = bench.ZK_JAVA[:]
        # slf4j-simple first on the class path, so that ZooKeeper's INFO lines reach server.log.
        cp = java.index("-cp") + 1
        java[cp] = "/usr/share/java/slf4j-simple.jar:" + java[cp]
        java[1:1] = os.environ.get("MEMBER_JVMFLAGS", "").split()  # e.g. log levels, to debug
        text = open(self.cfg).read()
        if "readonlymode.enabled=true" in text:
            java.insert(1, "-Dreadonlymode.enabled=true")  # ZooKeeper reads it only as a -D flag
        jaas = re.search(r"^java\.security\.auth\.login\.config=(.*)$", text, re.M)
        if jaas:
            java.insert(1, f"-Djava.security.auth.login.config={jaas.group(1)}")  # likewise
        argv = java + [self.cfg] if self.impl == "zookeeper" else [bench.ROOKERY, "server", self.cfg]
        log = open(os.path.join(self.dir, "server.log"), "ab")
        # MEMBER_RUST_LOG=debug for Rookery members' debug lines.
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     env=dict(os.environ, RUST_LOG=os.environ.get("MEMBER_RUST_LOG", "info")))
        log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def mode(self):
        return bench.mode(self.port)

    def admin(self, command):
        """An admin server command's JSON answer."""
        url = f"http://127.0.0.1:{self.admin_port}/commands/{command}"
        with urllib.request.urlopen(url, timeout=DEADLINE) as r:
            return json.load(r)


def spec(ports, role="participant"):
    q, e, c = ports
    return f"127.0.0.1:{q}:{e}:{role};127.0.0.1:{c}"


def client(ports, auth=True):
    retry = dict(max_tries=-1, delay=0.05, max_delay=0.5)
    zk = KazooClient(hosts=",".join(f"127.0.0.1:{p}" for p in ports), timeout=10,
                     connection_retry=KazooRetry(**retry), command_retry=KazooRetry(**retry))
    zk.start(timeout=DEADLINE)
    if auth:
        zk.add_auth("digest", SUPER)
    return zk


def members_of(config):
    """{sid: spec} of a configuration text, and its version."""
    servers = dict(re.findall(r"^server\.(\d+)=(.*)$", config, re.M))
    version = re.search(r"^version=([0-9a-f]+)$", config, re.M)
    return {int(k): v for k, v in servers.items()}, int(version.group(1), 16) if version else None


class Writer:
    """Creates /w/n<i> in a loop; remembers which creates were acknowledged."""

    def __init__(self, zk):
        self.zk, self.acked = zk, []
        self.stop = threading.Event()
        zk.ensure_path("/w")
        # A daemon: a failed check must end the script, not wait on a writer that retries.
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        i = 0
        while not self.stop.is_set():
            try:
                self.zk.create(f"/w/n{i:07d}")
                self.acked.append(i)
            except Exception:  # noqa: BLE001 - a failed write is simply not acknowledged
                time.sleep(0.05)
            i += 1

    def progress(self, more=30):
        target = len(self.acked) + more
        bench.wait_for(f"{more} more acknowledged writes", lambda: len(self.acked) >= target, DEADLINE, 0.01)

    def finish(self):
        self.stop.set()
        self.thread.join()


free_port = bench.free_port  # never hands out a port twice


def impl_of(impl, sid):
    """The implementation server `sid` runs: IMPL, or its place in a mixed list."""
    impls = impl.split(",")
    return impls[(sid - 1) % len(impls)]


class Ensemble:
    def __init__(self, impl, work, size, extra=(), admin=False):
        self.impl, self.work, self.extra = impl, work, extra
        self.ports = {}
        self.members = {}
        for sid in range(1, size + 1):
            self.ports[sid] = (free_port(), free_port(), free_port())
        listed = {sid: spec(p) for sid, p in self.ports.items()}
        for sid in self.ports:
            self.members[sid] = Member(impl_of(impl, sid), work, sid, self.ports[sid], listed, extra, admin)

    def start(self):
        for m in self.members.values():
            m.start()
        self.wait_modes({sid: ("leader", "follower") for sid in self.members})

    def joiner(self, sid, role="participant"):
        """A new server whose zoo.cfg lists the voters in force plus itself."""
        self.ports[sid] = (free_port(), free_port(), free_port())
        listed = {s: spec(self.ports[s]) for s in self.voters()}
        listed[sid] = spec(self.ports[sid], role)
        m = Member(impl_of(self.impl, sid), self.work, sid, self.ports[sid], listed, self.extra)
        self.members[sid] = m
        m.start()
        return m

    def voters(self):
        return [s for s, m in self.members.items() if m.proc and m.proc.poll() is None and s <= 3]

    def wait_modes(self, want):
        def ok():
            return all(self.members[s].mode() in modes for s, modes in want.items())
        bench.wait_for(f"modes {want}", ok, DEADLINE, 0.05)

    def config_on(self, sid):
        zk = client([self.members[sid].port], auth=False)
        try:
            zk.sync("/zookeeper/config")
            return zk.get("/zookeeper/config")
        finally:
            zk.stop()
            zk.close()

    def wait_config_everywhere(self, sids, version):
        def ok():
            try:
                return all(members_of(self.config_on(s)[0].decode())[1] == version for s in sids)
            except ConnectionLoss:
                # A ZooKeeper member whose role the reconfig changed restarts it, dropping clients.
                return False
        bench.wait_for(f"configuration {version:x} on {sids}", ok, DEADLINE, 0.1)

    def check_no_loss(self, writer, sids):
        """Every write the writer saw acknowledged is readable on each of `sids`."""
        for sid in sids:
            one = client([self.members[sid].port], auth=False)
            one.sync("/w")
            have = {int(c[1:]) for c in one.get_children("/w")}
            one.stop()
            one.close()
            lost = [i for i in writer.acked if i not in have]
            assert not lost, f"server {sid} lacks acknowledged writes {lost[:10]}"

    def stop(self):
        for m in self.members.values():
            m.stop()


def check_files(member, version):
    """zoo.cfg names zoo.cfg.dynamic.<version>, which lists the members without a version line."""
    with open(member.cfg) as f:
        text = f.read()
    dyn = re.search(r"^dynamicConfigFile=(.*)$", text, re.M)
    assert dyn, f"server {member.sid}: zoo.cfg has no dynamicConfigFile:\n{text}"
    assert dyn.group(1).endswith(f".dynamic.{version:x}"), (member.sid, dyn.group(1), f"{version:x}")
    assert "server." not in text, f"server {member.sid}: server lines left in zoo.cfg:\n{text}"
    with open(dyn.group(1)) as f:
        assert "version" not in f.read()


def membership(impl, work):
    e = Ensemble(impl, work, 3, ["reconfigEnabled=true"])
    try:
        e.start()
        first = next(s for s in (1, 2, 3) if e.members[s].mode() == "leader")
        zk = client([e.members[s].port for s in (1, 2, 3)])
        data, stat = zk.get("/zookeeper/config")
        servers, v0 = members_of(data.decode())
        assert sorted(servers) == [1, 2, 3] and v0 and v0 == stat.mzxid and stat.version == -1, (data, stat)
        w = Writer(zk)
        w.progress()

        # Grow 3 -> 5: the joiners start with the ensemble plus themselves.
        for sid in (4, 5):
            e.joiner(sid)
        e.wait_modes({4: ("observer", "follower"), 5: ("observer", "follower")})
        joining = ",".join(f"server.{s}={spec(e.ports[s])}" for s in (4, 5))
        data, stat = zk.reconfig(joining=joining, leaving=None, new_members=None)
        servers, v1 = members_of(data.decode())
        assert sorted(servers) == [1, 2, 3, 4, 5] and all("participant" in s for s in servers.values()), data
        assert v1 == stat.mzxid and v1 > v0, (v1, v0, stat)
        e.wait_modes({s: ("leader", "follower") for s in range(1, 6)})
        e.wait_config_everywhere([1, 2, 3, 4, 5], v1)
        w.progress()

        # Shrink 5 -> 3, naming the version we start from.
        data, stat = zk.reconfig(joining=None, leaving="4,5", new_members=None, from_config=v1)
        servers, v2 = members_of(data.decode())
        assert sorted(servers) == [1, 2, 3], data
        e.wait_modes({s: ("leader", "follower") for s in (1, 2, 3)})
        e.wait_config_everywhere([1, 2, 3], v2)
        w.progress()
        for sid in (4, 5):
            e.members[sid].stop()

        # An observer joins and leaves.
        # (It hears of the newer configuration, without itself, from the others' election
        # messages; it is admitted by the reconfig whatever it does meanwhile.)
        e.joiner(6, "observer")
        data, _ = zk.reconfig(joining=f"server.6={spec(e.ports[6], 'observer')}", leaving=None, new_members=None)
        servers, v3 = members_of(data.decode())
        assert servers[6].split(";")[0].endswith(":observer"), data
        e.wait_modes({6: ("observer",)})
        e.wait_config_everywhere([1, 2, 3, 6], v3)
        obs = client([e.members[6].port], auth=False)
        last = w.acked[-1]  # acknowledged before the sync (the writer goes on meanwhile)
        obs.sync("/w")
        assert obs.exists(f"/w/n{last:07d}") is not None
        obs.stop()
        obs.close()
        data, _ = zk.reconfig(joining=None, leaving="6", new_members=None)
        servers, v4 = members_of(data.decode())
        assert sorted(servers) == [1, 2, 3], data
        e.wait_config_everywhere([1, 2, 3], v4)
        w.progress()
        w.finish()

        e.check_no_loss(w, (1, 2, 3))
        for sid in (1, 2, 3):
            check_files(e.members[sid], v4)
        zk.stop()
        zk.close()
        print(f"OK membership {impl}, led by {first} ({e.members[first].impl}): versions {v0:x} {v1:x} {v2:x} "
              f"{v3:x} {v4:x}, {len(w.acked)} acknowledged writes, none lost")
    finally:
        e.stop()


def leader(impl, work):
    e = Ensemble(impl, work, 3, ["reconfigEnabled=true"])
    try:
        e.start()
        zk = client([e.members[s].port for s in (1, 2, 3)])
        w = Writer(zk)
        w.progress()
        old = next(s for s in (1, 2, 3) if e.members[s].mode() == "leader")
        rest = [s for s in (1, 2, 3) if s != old]
        try:
            data, _ = zk.reconfig(joining=None, leaving=str(old), new_members=None)
        except ConnectionLoss:
            # ZooKeeper's leader may go before it answers; the change has committed all the same.
            bench.wait_for("the new configuration", lambda: b"server." + str(old).encode() + b"="
                           not in zk.retry(zk.get, "/zookeeper/config")[0], DEADLINE, 0.1)
            data, _ = zk.retry(zk.get, "/zookeeper/config")
        servers, v1 = members_of(data.decode())
        assert sorted(servers) == rest, data
        # The others elect a leader among themselves; the old one stays on as an observer.
        e.wait_modes({rest[0]: ("leader", "follower"), rest[1]: ("leader", "follower")})
        e.wait_config_everywhere(rest, v1)
        new = next(s for s in rest if e.members[s].mode() == "leader")
        w.progress()
        # It comes back as a voter.
        data, _ = zk.reconfig(joining=f"server.{old}={spec(e.ports[old])}", leaving=None, new_members=None)
        servers, v2 = members_of(data.decode())
        assert sorted(servers) == [1, 2, 3], data
        e.wait_modes({s: ("leader", "follower") for s in (1, 2, 3)})
        e.wait_config_everywhere([1, 2, 3], v2)
        w.progress()
        w.finish()
        e.check_no_loss(w, (1, 2, 3))
        zk.stop()
        zk.close()
        print(f"OK leader {impl}: leader {old} ({e.members[old].impl}) removed, {new} ({e.members[new].impl}) "
              f"took over, {old} added back, {len(w.acked)} writes, none lost")
    finally:
        e.stop()


def read_only(impl, work):
    e = Ensemble(impl, work, 3, ["readonlymode.enabled=true"])
    try:
        e.start()
        zk = client([e.members[s].port for s in (1, 2, 3)])
        zk.create("/ro", b"before")
        zk.sync("/ro")
        zk.stop()
        zk.close()
        bench.wait_for("/ro on server 1", lambda: bench.four(e.members[1].port, "isro") == "rw", DEADLINE, 0.05)
        one = client([e.members[1].port], auth=False)
        one.sync("/ro")
        one.stop()
        one.close()
        for sid in (2, 3):
            e.members[sid].stop()
        # Server 1 is cut off from its quorum: after max(2 s, tickTime) it serves read-only.
        bench.wait_for("isro = ro", lambda: bench.four(e.members[1].port, "isro") == "ro", DEADLINE, 0.05)
        assert e.members[1].mode() == "read-only", e.members[1].mode()
        assert bench.mntr(e.members[1].port).get("zk_server_state") == "read-only"
        ro = KazooClient(hosts=f"127.0.0.1:{e.members[1].port}", read_only=True, timeout=10)
        ro.start(timeout=DEADLINE)
        assert ro.get("/ro")[0] == b"before"
        expect(NotReadOnlyCallError, lambda: ro.create("/ro/new", b""))
        expect(NotReadOnlyCallError, lambda: ro.set("/ro", b"x"))
        rw = KazooClient(hosts=f"127.0.0.1:{e.members[1].port}", timeout=10,
                         connection_retry=KazooRetry(max_tries=3, delay=0.1))
        expect(Exception, lambda: rw.start(timeout=3))
        rw.stop()
        rw.close()
        # The quorum returns: server 1 rejoins as a normal member.
        for sid in (2, 3):
            e.members[sid].start()
        e.wait_modes({s: ("leader", "follower") for s in (1, 2, 3)})
        assert bench.four(e.members[1].port, "isro") == "rw"
        ro.stop()
        ro.close()
        back = client([e.members[1].port], auth=False)
        back.create("/ro/after", b"")
        back.stop()
        back.close()
        print(f"OK read-only {impl}")
    finally:
        e.stop()


def local_sessions(impl, work):
    e = Ensemble(impl, work, 3, ["localSessionsEnabled=true", "localSessionsUpgradingEnabled=true"], admin=True)
    try:
        e.start()
        leader = next(s for s in (1, 2, 3) if e.members[s].mode() == "leader")
        follower = next(s for s in (1, 2, 3) if s != leader)
        gauges = lambda sid: bench.mntr(e.members[sid].port)  # noqa: E731
        zk = client([e.members[follower].port], auth=False)
        # A local session: known to the follower only, no createSession txn.
        bench.wait_for("a local session", lambda: gauges(follower).get("zk_local_sessions") == "1", DEADLINE, 0.05)
        assert gauges(leader).get("zk_global_sessions") == "0", gauges(leader)
        # The admin server's `cons` marks it: a key of Rookery's own (ZooKeeper has no marker).
        assert marked_local(e.members[follower], zk.client_id[0]) == (impl == "rookery")
        zk.create("/ls", b"persistent")
        assert zk.get("/ls")[0] == b"persistent"
        assert gauges(leader).get("zk_global_sessions") == "0", "writes do not make it global"
        # An ephemeral node upgrades it to a global session, which owns the node.
        zk.create("/ls/e", b"", ephemeral=True)
        bench.wait_for("a global session", lambda: gauges(leader).get("zk_global_sessions") == "1", DEADLINE, 0.05)
        assert zk.exists("/ls/e").ephemeralOwner == zk.client_id[0]
        bench.wait_for("no local session", lambda: gauges(follower).get("zk_local_sessions") == "0", DEADLINE, 0.05)
        assert not marked_local(e.members[follower], zk.client_id[0])
        zk.stop()
        zk.close()
        check = client([e.members[leader].port], auth=False)
        bench.wait_for("the ephemeral gone with its session", lambda: check.exists("/ls/e") is None, DEADLINE, 0.05)
        check.stop()
        check.close()
        print(f"OK local sessions {impl}")
    finally:
        e.stop()


def marked_local(member, session):
    """Whether the admin server's `cons` lists the session's connection as a local session."""
    conns = [c for c in member.admin("cons")["connections"] if c.get("session_id") == session]
    assert len(conns) == 1, conns
    return conns[0].get("local_session", False)


QUORUM_JAAS = """QuorumServer {{
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_peer="secret";
}};
QuorumLearner {{
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="peer"
    password="{password}";
}};
"""


def quorum_sasl(impl, work):
    """Quorum SASL required on every member: they elect and replicate; server 3 with a wrong
    learner password cannot join (its logins fail on the election and quorum ports), and joins
    once its password is right."""
    def jaas(name, password):
        path = os.path.join(work, name)
        with open(path, "w") as f:
            f.write(QUORUM_JAAS.format(password=password))
        return path
    right, wrong = jaas("right.jaas", "secret"), jaas("wrong.jaas", "guess")
    sasl = ["quorum.auth.enableSasl=true", "quorum.auth.learnerRequireSasl=true",
            "quorum.auth.serverRequireSasl=true"]
    e = Ensemble(impl, work, 3, sasl + [f"java.security.auth.login.config={right}"])
    try:
        e.start()
        first = next(s for s in (1, 2, 3) if e.members[s].mode() == "leader")
        zk = client([e.members[s].port for s in (1, 2, 3)], auth=False)
        zk.create("/sasl", b"before")
        three = e.members[3]
        three.stop()
        with open(three.cfg) as f:
            text = f.read()
        with open(three.cfg, "w") as f:
            f.write(text.replace(right, wrong))
        three.start()
        zk.retry(zk.set, "/sasl", b"while 3 is locked out")  # 3 may have led
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert three.mode() not in ("leader", "follower"), "server 3 joined with a wrong password"
            time.sleep(0.1)
        leader = next(s for s in (1, 2) if e.members[s].mode() == "leader")
        three.stop()
        with open(three.cfg, "w") as f:
            f.write(text)
        three.start()
        e.wait_modes({s: ("leader", "follower") for s in (1, 2, 3)})
        one = client([three.port], auth=False)
        one.sync("/sasl")
        assert one.get("/sasl")[0] == b"while 3 is locked out"
        one.stop()
        one.close()
        zk.stop()
        zk.close()
        print(f"OK quorum-sasl {impl}: leaders {first} ({e.members[first].impl}), {leader} "
              f"({e.members[leader].impl}); server 3 ({three.impl}) kept out with a wrong password, joined "
              f"with the right one")
    finally:
        e.stop()


def quorum_sasl_optional(impl, work):
    """The middle of ZooKeeper's rolling upgrade to quorum SASL: enableSasl on every member,
    serverRequireSasl nowhere, learnerRequireSasl on servers 1 and 2 only. Server 3 does not log
    in and is let through; 1 and 2 log in to it and to each other. All three serve one tree."""
    path = os.path.join(work, "quorum.jaas")
    with open(path, "w") as f:
        f.write(QUORUM_JAAS.format(password="secret"))
    e = Ensemble(impl, work, 3, ["quorum.auth.enableSasl=true", f"java.security.auth.login.config={path}"])
    try:
        for sid in (1, 2):
            with open(e.members[sid].cfg, "a") as f:
                f.write("quorum.auth.learnerRequireSasl=true\n")
        e.start()
        zk = client([e.members[s].port for s in (1, 2, 3)], auth=False)
        zk.create("/optional", b"x")
        for sid in (1, 2, 3):
            one = client([e.members[sid].port], auth=False)
            one.sync("/optional")
            assert one.get("/optional")[0] == b"x"
            one.stop()
            one.close()
        leader = next(s for s in (1, 2, 3) if e.members[s].mode() == "leader")
        zk.stop()
        zk.close()
        print(f"OK quorum-sasl-optional {impl}: leader {leader} ({e.members[leader].impl}), all three serving")
    finally:
        e.stop()


def expect(error, f):
    try:
        f()
    except error:
        return
    raise AssertionError(f"expected {error.__name__}")


def errors(impl, work):
    e = Ensemble(impl, work, 3, ["reconfigEnabled=true"])
    singles = []
    try:
        e.start()
        zk = client([e.members[s].port for s in (1, 2, 3)])
        _, stat = zk.get("/zookeeper/config")
        version = stat.mzxid
        plain = client([e.members[1].port], auth=False)
        joining = f"server.9=127.0.0.1:{free_port()}:{free_port()}:participant;127.0.0.1:{free_port()}"
        expect(NoAuthError, lambda: plain.reconfig(joining=joining, leaving=None, new_members=None))
        expect(BadVersionError, lambda: zk.reconfig(joining=joining, leaving=None, new_members=None,
                                                  from_config=version + 1))
        expect(BadArgumentsError, lambda: zk.reconfig(joining="server.9=nonsense", leaving=None, new_members=None))
        expect(BadArgumentsError, lambda: zk.reconfig(joining="server.9=127.0.0.1:1:2", leaving=None,
                                                    new_members=None))
        expect(BadArgumentsError, lambda: zk.reconfig(joining=None, leaving="2,3", new_members=None))
        # Two reconfigs sent back to back: the second finds the first in flight. Sent to the leader
        # (through a follower, the second can reach the leader after the first has committed),
        # and later asked through it: a client of a stopped server would see ConnectionLoss.
        leader = next(s for s in (1, 2, 3) if e.members[s].mode() == "leader")
        at_leader = client([e.members[leader].port])
        obs = f"server.9={spec((free_port(), free_port(), free_port()), 'observer')}"
        first = at_leader.reconfig_async(joining=obs, leaving=None, new_members=None, from_config=-1)
        second = at_leader.reconfig_async(joining=None, leaving="9", new_members=None, from_config=-1)
        first.get(timeout=DEADLINE)
        expect(ReconfigInProcessError, lambda: second.get(timeout=DEADLINE))
        data, stat = zk.reconfig(joining=None, leaving="9", new_members=None)
        version = stat.mzxid
        assert sorted(members_of(data.decode())[0]) == [1, 2, 3], data
        # One voter down, two absent ones added: 2 synced of 5 voters is no quorum.
        down = next(s for s in (1, 2, 3) if s != leader)
        e.members[down].stop()
        two = ",".join(f"server.{s}=127.0.0.1:{free_port()}:{free_port()}:participant;"
                       f"127.0.0.1:{free_port()}" for s in (7, 8))
        expect(NewConfigNoQuorumError,
               lambda: at_leader.reconfig(joining=two, leaving=None, new_members=None))
        e.members[down].start()
        e.wait_modes({s: ("leader", "follower") for s in (1, 2, 3)})
        data, _ = at_leader.get("/zookeeper/config")
        assert sorted(members_of(data.decode())[0]) == [1, 2, 3], data
        at_leader.create("/still-serving", b"")
        at_leader.stop()
        at_leader.close()
        plain.stop()
        plain.close()
        zk.stop()
        zk.close()

        for n, (extra, error) in enumerate([([], ReconfigDisabledError),
                                            (["reconfigEnabled=true"], UnimplementedError)]):
            m = Member(impl, work, 20 + n, (0, 0, free_port()), {}, extra)
            singles.append(m)
            m.start()
            bench.wait_for("a standalone server", lambda: m.mode() == "standalone", DEADLINE, 0.05)
            one = client([m.port])
            expect(error, lambda: one.reconfig(joining=joining, leaving=None, new_members=None))
            one.create("/after", b"")
            one.stop()
            one.close()
        print(f"OK errors {impl}")
    finally:
        e.stop()
        for m in singles:
            m.stop()


if __name__ == "__main__":
    scenario, impl, work = sys.argv[1:4]
    {"membership": membership, "errors": errors, "leader": leader, "read-only": read_only,
     "local-sessions": local_sessions, "quorum-sasl": quorum_sasl,
     "quorum-sasl-optional": quorum_sasl_optional}[scenario](impl, work)
