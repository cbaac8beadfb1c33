#!/usr/bin/env python3
"""`make bench`: Apache ZooKeeper 3.8 (Debian's jars) and Rookery side by side on this machine.

Both run with the same zoo.cfg settings (loopback, OS-chosen ports, tickTime=2000, initLimit=10,
syncLimit=5, forceSync=yes, data on the same disk), standalone and as 3-server ensembles, in
alternation (round 1: ZooKeeper then Rookery, round 2: Rookery then ZooKeeper, ...). The load is
`rookery bench` (4 clients x 32 outstanding, 100-byte values); the figures are medians over the
rounds. Prints one markdown table with Rookery/ZooKeeper ratios and the issue's targets, and
saves it with every raw figure under target/bench/.

Knobs: BENCH_SECONDS (per workload, default 10), BENCH_ROUNDS (default 2), BENCH_SCALE=0 skips
the scale figures, BENCH_SCALE_ZK=1 runs them on ZooKeeper too, BENCH_ONLY=rookery skips
ZooKeeper, BENCH_KEEP=1 keeps the data directories.

Only processes this script spawned are stopped, by PID.
"""

import json
import os
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOKERY = os.environ.get("ROOKERY_BIN") or os.path.join(ROOT, "target", "release", "rookery")
ZK_JAR = "/usr/share/java/zookeeper.jar"
ZK_CLASSPATH = "/usr/share/java/*:/etc/zookeeper/conf"
# What zkServer.sh runs (1000 MB is its default heap); no JMX, no admin server on port 8080.
ZK_JAVA = ["java", "-Xmx1000m", "-Dzookeeper.jmx.log4j.disable=true", "-cp", ZK_CLASSPATH,
           "org.apache.zookeeper.server.quorum.QuorumPeerMain"]
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SCALE = os.environ.get("BENCH_SCALE", "1") != "0"
SCALE_ZK = os.environ.get("BENCH_SCALE_ZK", "0") == "1"
ONLY = os.environ.get("BENCH_ONLY", "")
KEEP = os.environ.get("BENCH_KEEP", "0") == "1"
LOAD = ["--clients", "4", "--outstanding", "32", "--value-bytes", "100", "--keys", "1000"]
# create runs last: it grows the tree by as much as the server is fast, and a bigger tree means
# bigger snapshots during the workloads after it, which would then compare unequal trees.
WORKLOADS = ["set", "get", "exists", "create"]
IMPLS = ["zookeeper", "rookery"]
NAMES = {"zookeeper": "ZooKeeper 3.8", "rookery": "Rookery"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def say(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


_GIVEN = set()


def free_port():
    """A port the OS calls free, never one handed out before in this process: a port given to a
    server that has not bound it yet (a follower's quorum port) is still free to the OS."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def wait_for(what, cond, timeout, step=0.005):
    """Polls cond() until it returns something truthy; raises after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---- a tiny raw ZooKeeper client: enough for probes -------------------------------------------

def _frame(payload):
    return struct.pack(">i", len(payload)) + payload


def _string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _read_frame(sock):
    head = _read_exact(sock, 4)
    (n,) = struct.unpack(">i", head)
    return _read_exact(sock, n)


def _read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def open_session(port, timeout=2.0, session_timeout_ms=30000):
    """A new session on 127.0.0.1:port; returns the socket (raises if refused)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    req = struct.pack(">iqiq", 0, 0, session_timeout_ms, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
    s.sendall(_frame(req))
    resp = _read_frame(s)
    (_, negotiated) = struct.unpack(">ii", resp[:8])
    if negotiated <= 0:
        s.close()
        raise ConnectionError("session refused")
    return s


def request(sock, xid, op, body):
    """Sends one request and returns the error code of its reply (watch events skipped)."""
    sock.sendall(_frame(struct.pack(">ii", xid, op) + body))
    while True:
        r = _read_frame(sock)
        rxid, _, err = struct.unpack(">iqi", r[:16])
        if rxid == xid:
            return err


OPEN_ACL = struct.pack(">ii", 1, 31) + _string("world") + _string("anyone")


def create_body(path, data=b"", flags=0):
    return _string(path) + struct.pack(">i", len(data)) + data + OPEN_ACL + struct.pack(">i", flags)


def served(port):
    """True once a new session is established and `exists /` is answered."""
    try:
        with open_session(port, timeout=0.5) as s:
            return request(s, 1, 3, _string("/") + b"\0") == 0
    except OSError:
        return False


def created(port, path):
    """True if a create of `path` through port succeeds now."""
    try:
        with open_session(port, timeout=0.5) as s:
            return request(s, 1, 1, create_body(path)) == 0
    except OSError:
        return False


def four(port, word, timeout=2.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode(errors="replace")
                out += chunk
    except OSError:
        return ""


def mntr(port):
    return dict(l.split("\t", 1) for l in four(port, "mntr").splitlines() if "\t" in l)


def mode(port):
    for line in four(port, "srvr", timeout=0.5).splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


# ---- servers -------------------------------------------------------------------------------

class Server:
    """One server process of either implementation, started from its zoo.cfg."""

    def __init__(self, impl, directory, myid, client_port, members):
        self.impl, self.dir, self.myid, self.port = impl, directory, myid, client_port
        os.makedirs(os.path.join(directory, "data"), exist_ok=True)
        lines = ["tickTime=2000", "initLimit=10", "syncLimit=5", f"dataDir={directory}/data",
                 f"clientPort={client_port}", "clientPortAddress=127.0.0.1", "forceSync=yes",
                 "maxClientCnxns=0", "4lw.commands.whitelist=*", "admin.enableServer=false"]
        for sid, (qp, ep) in sorted(members.items()):
            lines.append(f"server.{sid}=127.0.0.1:{qp}:{ep}")
        if members:
            with open(os.path.join(directory, "data", "myid"), "w") as f:
                f.write(f"{myid}\n")
        self.cfg = os.path.join(directory, "zoo.cfg")
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        argv = ZK_JAVA + [self.cfg] if self.impl == "zookeeper" else [ROOKERY, "server", self.cfg]
        log = open(os.path.join(self.dir, "server.log"), "ab")
        env = dict(os.environ, RUST_LOG="warn")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
        log.close()
        return time.monotonic()

    def rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def cpu_s(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        """SIGTERM, then SIGKILL after 30 s."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill9()


class Cluster:
    """1 (standalone) or 3 servers of one implementation in a fresh directory."""

    def __init__(self, impl, size, base, tag):
        self.impl = impl
        self.dir = os.path.join(base, f"{tag}-{impl}")
        shutil.rmtree(self.dir, ignore_errors=True)
        members = {i: (free_port(), free_port()) for i in range(1, size + 1)} if size > 1 else {}
        self.servers = [Server(impl, os.path.join(self.dir, str(i)), i, free_port(), members)
                        for i in range(1, size + 1)]

    def hosts(self):
        return ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self):
        return min(s.start() for s in self.servers)

    def cpu_s(self):
        return sum(s.cpu_s() for s in self.servers if s.proc.poll() is None)

    def stop(self):
        for s in self.servers:
            s.stop()

    def kill(self):
        for s in self.servers:
            s.kill9()


def run_bench(hosts, op, seconds, *extra):
    """`rookery bench`; returns its BENCH json."""
    argv = [ROOKERY, "bench", "--hosts", hosts, "--op", op, "--duration", str(seconds), "--quiet", *LOAD, *extra]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 600)
    lines = [l for l in out.stdout.splitlines() if l.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"rookery bench {op} failed: {out.stdout}{out.stderr}")
    r = json.loads(lines[-1][6:])
    if r["errors"]:
        say(f"  {op}: {r['errors']} errors ({out.stdout.strip().splitlines()[-2]})")
    return r


# ---- measurements ------------------------------------------------------------------------------

def warm_up(c):
    """Five seconds of mixed load, not measured: the JVM compiles its hot paths (a JIT-cold
    ZooKeeper would be measured at a fraction of its speed); Rookery needs none."""
    run_bench(c.hosts(), "mixed", min(5, SECONDS), "--root", "/warmup")


def workload(c, fig, prefix, op, extra=(), label=None):
    """One workload against cluster c: throughput, latency, server CPU per op."""
    cpu0 = c.cpu_s()
    r = run_bench(c.hosts(), op, SECONDS, *extra)
    cpu = c.cpu_s() - cpu0
    name = f"{prefix} {label or op}"
    fig[f"{name} ops/s"] = r["ops_per_s"]
    fig[f"{name} p50 ms"] = r["p50_ms"]
    fig[f"{name} p99 ms"] = r["p99_ms"]
    if not extra:
        fig[f"{name} server CPU us/op"] = cpu / max(r["ops"], 1) * 1e6
    fig.setdefault("bench client CPU us/op", []).append(r["client_cpu_s"] / max(r["ops"], 1) * 1e6)
    say(f"  {c.impl} {name}: {r['ops_per_s']:.0f} ops/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
        f"errors {r['errors']}")
    return r


def standalone(impl, base, fig, zk_rates):
    """Start time, idle RSS, the four workloads, paced latency; then 100k znodes and a restart."""
    # Start-up is short and noisy (the first session is a logged, fsynced txn): three fresh
    # starts, the median kept.
    starts = []
    for i in range(3):
        c = Cluster(impl, 1, base, f"start{i}")
        s = c.servers[0]
        try:
            t0 = c.start()
            wait_for(f"{impl} to serve", lambda: served(s.port), 120, step=0.002)
            starts.append((time.monotonic() - t0) * 1000)
        finally:
            c.stop()
    fig["start to first served request ms"] = statistics.median(starts)
    c = Cluster(impl, 1, base, "standalone")
    s = c.servers[0]
    try:
        c.start()
        wait_for(f"{impl} to serve", lambda: served(s.port), 120, step=0.002)
        # Idle: serving, one session opened and closed, nothing else for two seconds.
        time.sleep(2)
        fig["RSS idle MB"] = s.rss_mb()
        warm_up(c)
        for op in WORKLOADS:
            if op == "create":
                for paced in ("set", "get"):
                    rate = 0.5 * zk_rates.get(paced, 0)
                    if rate > 0:
                        workload(c, fig, "standalone", paced, ("--rate", f"{rate:.0f}"), label=f"{paced} paced")
            r = workload(c, fig, "standalone", op)
            if impl == "zookeeper":
                zk_rates[op] = r["ops_per_s"]
    finally:
        c.stop()
    c = Cluster(impl, 1, base, "fill")
    s = c.servers[0]
    try:
        c.start()
        wait_for(f"{impl} to serve", lambda: served(s.port), 120)
        run_bench(c.hosts(), "create", 600, "--total", "100000", "--root", "/fill")
        fig["RSS with 100,000 znodes MB"] = s.rss_mb()
        s.stop()
        t0 = s.start()
        wait_for(f"{impl} to serve after a restart", lambda: served(s.port), 300, step=0.002)
        fig["restart with 100,000 znodes to first served ms"] = (time.monotonic() - t0) * 1000
        count = int(mntr(s.port).get("zk_znode_count", "0"))
        if count < 100_000:
            raise RuntimeError(f"{impl} has {count} znodes after the restart, expected over 100,000")
    finally:
        c.stop()


def ensemble(impl, base, fig):
    """Cold-start election of 3 servers, the workloads through all three, then failover."""
    c = Cluster(impl, 3, base, "ensemble")
    try:
        t0 = c.start()
        wait_for(f"{impl} ensemble to elect",
                 lambda: all(mode(s.port) in ("leader", "follower") for s in c.servers), 180, step=0.01)
        fig["3 servers cold-start election ms"] = (time.monotonic() - t0) * 1000
        warm_up(c)
        for op in WORKLOADS:
            workload(c, fig, "3 servers", op)
        leader = next(s for s in c.servers if mode(s.port) == "leader")
        others = [s for s in c.servers if s is not leader]
        t0 = time.monotonic()
        leader.kill9()
        n = [0]

        def write_succeeds():
            n[0] += 1
            return created(others[n[0] % 2].port, f"/failover-{n[0]}")

        wait_for("a write after the leader's death", write_succeeds, 120, step=0.005)
        fig["failover (kill -9 leader to a write) ms"] = (time.monotonic() - t0) * 1000
    finally:
        c.stop()


def fresh(impl, base, tag):
    """A started standalone server on a fresh directory: (cluster, server)."""
    c = Cluster(impl, 1, base, tag)
    c.start()
    wait_for(f"{impl} to serve", lambda: served(c.servers[0].port), 120)
    return c, c.servers[0]


def close_all(socks, cluster):
    for k in socks:
        k.close()
    cluster.stop()


def scale(impl, base, fig):
    """Each on a fresh server: txns per fsync with 128 writers; RSS with 10,000 sessions; RSS with
    100,000 watches; RSS and restart time with 1,000,000 znodes."""
    c, s = fresh(impl, base, "scale-writers")
    try:
        r = run_bench(c.hosts(), "create", SECONDS, "--clients", "128", "--outstanding", "1")
        fig["txns per fsync, 128 writers"] = r["txns_per_fsync"]
        fig["create ops/s, 128 writers x 1"] = r["ops_per_s"]
    finally:
        c.stop()
    c, s = fresh(impl, base, "scale-sessions")
    socks = []
    try:
        # A server may refuse connections before 10,000 (Rookery's two threads per connection
        # stop at vm.max_map_count: ~7,700 on a default kernel): the count reached is reported.
        try:
            for _ in range(10_000):
                socks.append(open_session(s.port, timeout=10, session_timeout_ms=120_000))
        except OSError as e:
            say(f"  {impl}: session {len(socks) + 1} refused ({e})")
        fig["sessions opened (of 10,000)"] = len(socks)
        fig["RSS with those sessions MB"] = s.rss_mb()
    finally:
        close_all(socks, c)
    c, s = fresh(impl, base, "scale-watches")
    watchers = []
    try:
        # 100,000 watches: 10 sessions x exists-watches on the 10,000 keys of a bench root.
        run_bench(c.hosts(), "exists", 1, "--keys", "10000", "--root", "/w")
        watchers = [open_session(s.port, timeout=10) for _ in range(10)]
        for w in watchers:
            w.sendall(b"".join(_frame(struct.pack(">ii", i + 1, 3) + _string(f"/w/k{i}") + b"\1")
                               for i in range(10_000)))
            for _ in range(10_000):
                _read_frame(w)
        say(f"  {impl} wchs: {' '.join(four(s.port, 'wchs').split())}")
        fig["RSS with 100,000 watches MB"] = s.rss_mb()
    finally:
        close_all(watchers, c)
    c, s = fresh(impl, base, "scale-million")
    try:
        run_bench(c.hosts(), "create", 900, "--total", "1000000", "--root", "/million", "--clients", "8")
        time.sleep(5)  # let a snapshot the fill started finish, so its buffer is not counted
        fig["RSS with 1,000,000 znodes MB"] = s.rss_mb()
        s.stop()
        t0 = s.start()
        wait_for(f"{impl} to serve after a restart", lambda: served(s.port), 900, step=0.005)
        fig["restart with 1,000,000 znodes to first served ms"] = (time.monotonic() - t0) * 1000
    finally:
        c.stop()


# ---- report -------------------------------------------------------------------------------------

# (figure, target ratio Rookery/ZooKeeper, higher is better)
TARGETS = [
    ("standalone create ops/s", 4, True), ("standalone set ops/s", 4, True),
    ("standalone get ops/s", 4, True), ("standalone exists ops/s", 4, True),
    ("3 servers create ops/s", 4, True), ("3 servers set ops/s", 4, True),
    ("3 servers get ops/s", 4, True), ("3 servers exists ops/s", 4, True),
    ("standalone create server CPU us/op", 1 / 8, False), ("standalone set server CPU us/op", 1 / 8, False),
    ("standalone get server CPU us/op", 1 / 8, False), ("standalone exists server CPU us/op", 1 / 8, False),
    ("3 servers create server CPU us/op", 1 / 8, False), ("3 servers set server CPU us/op", 1 / 8, False),
    ("3 servers get server CPU us/op", 1 / 8, False), ("3 servers exists server CPU us/op", 1 / 8, False),
    ("standalone set paced p99 ms", 1 / 4, False), ("standalone get paced p99 ms", 1 / 4, False),
    ("RSS idle MB", 1 / 10, False), ("RSS with 100,000 znodes MB", 1 / 5, False),
    ("start to first served request ms", 1 / 20, False),
    ("restart with 100,000 znodes to first served ms", 1 / 5, False),
    ("3 servers cold-start election ms", 1 / 2, False), ("failover (kill -9 leader to a write) ms", 1 / 2, False),
]


def median(v):
    if isinstance(v, list):
        return statistics.median(v) if v else None
    return v


def fmt(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}" if abs(v) >= 1 else f"{v:.3f}"


def table(figs, header):
    targets = {name: (t, hi) for name, t, hi in TARGETS}
    names = []
    for impl in IMPLS:
        for k in figs[impl]:
            if k not in names:
                names.append(k)
    rows = [header, "",
            "| figure | ZooKeeper 3.8 | Rookery | Rookery/ZooKeeper | target | met |",
            "| --- | ---: | ---: | ---: | ---: | :---: |"]
    met_all = True
    for name in names:
        z, r = median(figs["zookeeper"].get(name)), median(figs["rookery"].get(name))
        ratio = r / z if (z and r is not None) else None
        target, met = "", ""
        if name in targets:
            t, hi = targets[name]
            target = f">= {t:g}x" if hi else f"<= 1/{round(1 / t)}"
            if ratio is None:
                met_all = False  # not compared (BENCH_ONLY, or a figure missing): not met
            else:
                ok = ratio >= t if hi else ratio <= t
                met = "yes" if ok else "**no**"
                met_all &= ok
        ratio_s = "n/a" if ratio is None else (f"{ratio:.2f}x" if ratio >= 1 else f"1/{1 / ratio:.1f}" if ratio else "0")
        rows.append(f"| {name} | {fmt(z)} | {fmt(r)} | {ratio_s} | {target} | {met} |")
    return "\n".join(rows), met_all


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    version = subprocess.run([ROOKERY, "version"], capture_output=True, text=True).stdout.strip()
    disk = subprocess.run(["df", "--output=source,fstype", ROOT], capture_output=True, text=True).stdout.split("\n")[1]
    return (f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores ({cpu}), {os.uname().release}, "
            f"data on {' '.join(disk.split())}; {version} vs Apache ZooKeeper 3.8.0 (Debian, java -Xmx1000m); "
            f"{SECONDS:g} s per workload, 4 clients x 32 outstanding, 100-byte values, medians of {ROUNDS} rounds")


def main():
    # A SIGTERM unwinds like Ctrl-C, so the `finally` blocks stop every server started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not os.path.exists(ROOKERY):
        sys.exit("target/release/rookery is missing: run `make build`")
    impls = ["rookery"] if ONLY == "rookery" else IMPLS
    if "zookeeper" in impls and not os.path.exists(ZK_JAR):
        sys.exit("Apache ZooKeeper's jars are missing: run `make deps`")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    out_dir = os.path.join(ROOT, "target", "bench")
    base = os.path.join(out_dir, f"run-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(base, exist_ok=True)
    figs = {impl: {} for impl in IMPLS}
    zk_rates = {}
    try:
        for rnd in range(ROUNDS):
            order = impls if rnd % 2 == 0 else list(reversed(impls))
            for impl in order:
                say(f"round {rnd + 1}: {NAMES[impl]}")
                one = {}
                standalone(impl, base, one, zk_rates)
                ensemble(impl, base, one)
                for k, v in one.items():
                    figs[impl].setdefault(k, []).extend(v if isinstance(v, list) else [v])
        if SCALE:
            for impl in impls:
                if impl == "zookeeper" and not SCALE_ZK:
                    continue
                say(f"scale figures: {NAMES[impl]}")
                one = {}
                try:
                    scale(impl, base, one)
                except (RuntimeError, OSError) as e:
                    say(f"  {impl} scale figures stopped: {e}")
                figs[impl].update(one)
    finally:
        if not KEEP:
            shutil.rmtree(base, ignore_errors=True)
    text, met_all = table(figs, f"# make bench: {machine()}")
    print(text)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(out_dir, f"result-{stamp}.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out_dir, f"result-{stamp}.json"), "w") as f:
        json.dump(figs, f, indent=1)
    say(f"saved target/bench/result-{stamp}.md and .json; every target met (against ZooKeeper): {met_all}")


if __name__ == "__main__":
    main()
