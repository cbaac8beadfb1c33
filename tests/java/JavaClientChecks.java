import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.Watcher.WatcherType;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

/**
 * Rookery driven by Apache ZooKeeper 3.8's own Java client ({@code org.apache.zookeeper.ZooKeeper}),
 * one scenario group per run:
 *
 * <pre>java JavaClientChecks GROUP HOST:PORT [PROXY_HOST:PORT]</pre>
 *
 * Exits 0 when every check of the group holds; otherwise prints the failed expectation on stderr
 * and exits 1. Every expectation was checked against a real ZooKeeper 3.8.0 (Debian's jars,
 * {@code ZooKeeperServerMain}); comments mark where ZooKeeper's own behaviour, not an obvious
 * reading of the API, is what a check encodes.
 *
 * The groups that need the connection cut (reconnect, expiry) talk to the Rust test that owns the
 * TCP proxy: a line {@code @@cut} on stdout asks it to drop every connection through the proxy
 * and to refuse new ones, {@code @@restore} to accept again; it answers {@code ok} on stdin.
 * Every wait is bounded.
 */
public class JavaClientChecks {
    /** Longest wait for one event, connection or reply. */
    static final long WAIT_S = 30;
    static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;
    static final byte[] NONE = new byte[0];

    static String server;
    static String proxy;
    static int checks;
    static BufferedReader controller = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: JavaClientChecks GROUP HOST:PORT [PROXY_HOST:PORT]");
            System.exit(2);
        }
        String group = args[0];
        server = args[1];
        proxy = args.length > 2 ? args[2] : null;
        try {
            switch (group) {
                case "multi": multi(); break;
                case "create": create(); break;
                case "auth_acl": authAcl(); break;
                case "watches": watches(); break;
                case "reconnect": reconnect(); break;
                case "expiry": expiry(); break;
                default: throw new IllegalArgumentException("unknown group " + group);
            }
        } catch (Throwable t) {
            System.out.flush();
            System.err.println("FAILED in group " + group + " after " + checks + " checks: " + t);
            t.printStackTrace();
            System.err.flush();
            // halt: the ZooKeeper client's threads must not keep the JVM alive
            Runtime.getRuntime().halt(1);
        }
        System.out.println("PASS " + group + ": " + checks + " checks");
        System.out.flush();
        Runtime.getRuntime().halt(0);
    }

    // -----------------------------------------------------------------------------------------
    // Assertions and helpers

    static void step(String what) {
        System.out.println("-- " + what);
        System.out.flush();
    }

    static void fail(String msg) {
        throw new AssertionError(msg);
    }

    static void check(boolean cond, String msg) {
        if (!cond) {
            fail(msg);
        }
        checks++;
    }

    static void eq(Object expected, Object actual, String what) {
        if (expected instanceof byte[] && actual instanceof byte[]) {
            check(Arrays.equals((byte[]) expected, (byte[]) actual),
                    what + ": expected " + str((byte[]) expected) + ", got " + str((byte[]) actual));
            return;
        }
        check(Objects.equals(expected, actual), what + ": expected <" + expected + ">, got <" + actual + ">");
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static String str(byte[] data) {
        return data == null ? "null" : "\"" + new String(data, StandardCharsets.UTF_8) + "\"";
    }

    static List<String> sorted(List<String> l) {
        List<String> c = new ArrayList<>(l);
        Collections.sort(c);
        return c;
    }

    interface Call {
        Object run() throws Exception;
    }

    /** Runs {@code c}, which must throw {@code cls}; returns the exception. */
    static <T extends Exception> T expectThrows(Class<T> cls, String what, Call c) throws Exception {
        Object r;
        try {
            r = c.run();
        } catch (Exception e) {
            if (!cls.isInstance(e)) {
                fail(what + ": expected " + cls.getSimpleName() + ", got " + e);
            }
            checks++;
            return cls.cast(e);
        }
        fail(what + ": expected " + cls.getSimpleName() + ", got the result " + r);
        return null;
    }

    static String fmt(WatchedEvent e) {
        return e.getType() + " " + e.getPath() + " (" + e.getState() + ")";
    }

    /** A watcher that records what it is given, in order. */
    static final class Events implements Watcher {
        final String name;
        final LinkedBlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();
        /** Whether connection-state events are kept (default watchers) or dropped. */
        final boolean states;

        /** A watcher for node events: the Java client also tells every watcher it holds about
         *  state changes (ZKWatchManager.materialize for EventType.None); those are dropped. */
        Events(String name) {
            this(name, false);
        }

        Events(String name, boolean states) {
            this.name = name;
            this.states = states;
        }

        @Override
        public void process(WatchedEvent e) {
            if (states || e.getType() != EventType.None) {
                q.add(e);
            }
        }

        WatchedEvent next(String what) throws InterruptedException {
            WatchedEvent e = q.poll(WAIT_S, TimeUnit.SECONDS);
            if (e == null) {
                fail(name + ": nothing within " + WAIT_S + " s, expected " + what);
            }
            return e;
        }

        /** The next event is exactly {@code type} on {@code path}, in state SyncConnected. */
        void expect(EventType type, String path) throws InterruptedException {
            WatchedEvent e = next(type + " " + path);
            check(e.getType() == type && Objects.equals(path, e.getPath()) && e.getState() == KeeperState.SyncConnected,
                    name + ": expected " + type + " " + path + ", got " + fmt(e));
        }

        /** The next events are exactly these (type, path) pairs, in any order. */
        void expectSet(Object... typeAndPath) throws InterruptedException {
            Set<String> want = new HashSet<>();
            for (int i = 0; i < typeAndPath.length; i += 2) {
                want.add(typeAndPath[i] + " " + typeAndPath[i + 1]);
            }
            Set<String> got = new HashSet<>();
            for (int i = 0; i < want.size(); i++) {
                WatchedEvent e = next("one of " + want);
                got.add(e.getType() + " " + e.getPath());
            }
            check(want.equals(got), name + ": expected " + want + ", got " + got);
        }

        /**
         * Skips to the connection-state event {@code state}. Disconnected and SyncConnected on the
         * way are skipped (a loaded machine may make a session flap); any other event fails.
         */
        void expectState(KeeperState state) throws InterruptedException {
            while (true) {
                WatchedEvent e = next("state " + state);
                if (e.getType() != EventType.None) {
                    fail(name + ": expected state " + state + ", got " + fmt(e));
                }
                if (e.getState() == state) {
                    checks++;
                    return;
                }
                if (e.getState() != KeeperState.Disconnected && e.getState() != KeeperState.SyncConnected) {
                    fail(name + ": expected state " + state + ", got " + fmt(e));
                }
            }
        }

        /**
         * Nothing more is queued for this watcher. {@code zk} is the session it watches through:
         * a reply to an async request is delivered on the same event thread as the watch events,
         * after every event that arrived before it, so once the callback ran every event the
         * server sent before answering is here.
         */
        void quiet(ZooKeeper zk) throws Exception {
            barrier(zk);
            WatchedEvent e = q.poll();
            check(e == null, name + ": unexpected " + (e == null ? "" : fmt(e)));
        }
    }

    /** Returns once every event sent to {@code zk} before a fresh reply has been delivered. */
    static void barrier(ZooKeeper zk) throws Exception {
        CountDownLatch l = new CountDownLatch(1);
        zk.exists("/", false, (rc, path, ctx, stat) -> l.countDown(), null);
        if (!l.await(WAIT_S, TimeUnit.SECONDS)) {
            fail("no reply to the barrier exists(\"/\") within " + WAIT_S + " s");
        }
    }

    /** A connected session; its default watcher ({@code state}) sees the state changes. */
    static final class Session {
        final ZooKeeper zk;
        final Events state;

        Session(String name, String hostport, int timeoutMs) throws Exception {
            state = new Events(name + " (default watcher)", true);
            zk = new ZooKeeper(hostport, timeoutMs, state);
            state.expectState(KeeperState.SyncConnected);
        }
    }

    /** Sessions long enough that a loaded machine does not make them flap (the test's
     *  servers allow up to 60 s). */
    static final int TIMEOUT_MS = 30000;

    static ZooKeeper connect(String name) throws Exception {
        return new Session(name, server, TIMEOUT_MS).zk;
    }

    /** Asks the Rust test to act on its proxy and waits for its answer. */
    static void proxyControl(String cmd) throws Exception {
        System.out.println("@@" + cmd);
        System.out.flush();
        String answer = controller.readLine();
        if (!"ok".equals(answer)) {
            fail("the test did not acknowledge @@" + cmd + ": " + answer);
        }
    }

    static Stat stat(ZooKeeper zk, String path) throws Exception {
        Stat s = zk.exists(path, false);
        if (s == null) {
            fail(path + " does not exist");
        }
        return s;
    }

    static String digest(String idPassword) throws Exception {
        byte[] sha = MessageDigest.getInstance("SHA1").digest(b(idPassword));
        return idPassword.split(":", 2)[0] + ":" + Base64.getEncoder().encodeToString(sha);
    }

    /** The server's version, from the four-letter word srvr ("Zookeeper version: 3.8.0-..."). */
    static boolean serverVersionAtLeast(int major, int minor, int patch) throws Exception {
        String[] hp = server.split(":");
        String text;
        try (java.net.Socket s = new java.net.Socket(hp[0], Integer.parseInt(hp[1]))) {
            s.setSoTimeout((int) TimeUnit.SECONDS.toMillis(WAIT_S));
            s.getOutputStream().write(b("srvr"));
            text = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
        java.util.regex.Matcher m =
                java.util.regex.Pattern.compile("Zookeeper version: (\\d+)\\.(\\d+)\\.(\\d+)").matcher(text);
        if (!m.find()) {
            fail("no version in srvr's answer: " + text);
        }
        int[] v = {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3))};
        int[] want = {major, minor, patch};
        return Arrays.compare(v, want) >= 0;
    }

    /** whoAmI's answer as "scheme:user" strings, sorted: ZooKeeper 3.8 keeps a connection's
     *  ids in a set and lists them in no particular order (digest before ip, in practice). */
    static String clientInfos(List<ClientInfo> l) {
        List<String> out = new ArrayList<>();
        for (ClientInfo c : l) {
            out.add(c.getAuthScheme() + ":" + c.getUser());
        }
        Collections.sort(out);
        return out.toString();
    }

    // -----------------------------------------------------------------------------------------
    // multi: read-only multi (multiRead, opcode 22), transactions with check

    static void multi() throws Exception {
        ZooKeeper zk = connect("multi");
        zk.create("/m", b("root"), OPEN, CreateMode.PERSISTENT);
        zk.create("/m/a", b("A"), OPEN, CreateMode.PERSISTENT);
        zk.create("/m/b", NONE, OPEN, CreateMode.PERSISTENT);
        // Readable by nobody: a digest id no one can authenticate as.
        zk.create("/m/secret", b("s"), Collections.singletonList(new ACL(Perms.ALL, new Id("digest", "nobody:x"))),
                CreateMode.PERSISTENT);

        step("a multi of reads only (the client sends multiRead) answers each op, errors included");
        Stat sa = stat(zk, "/m/a");
        List<OpResult> r = zk.multi(Arrays.asList(
                Op.getData("/m/a"),
                Op.getChildren("/m"),
                Op.getData("/m/missing"),
                Op.getChildren("/m/missing"),
                Op.getChildren("/m/a"),
                Op.getData("/m/secret"),
                Op.getChildren("/m/secret"),
                Op.getData("/m")));
        eq(8, r.size(), "multiRead result count");
        check(r.get(0) instanceof OpResult.GetDataResult, "result 0 is " + r.get(0));
        eq(b("A"), ((OpResult.GetDataResult) r.get(0)).getData(), "multiRead getData /m/a data");
        eq(sa, ((OpResult.GetDataResult) r.get(0)).getStat(), "multiRead getData /m/a stat");
        check(r.get(1) instanceof OpResult.GetChildrenResult, "result 1 is " + r.get(1));
        eq(Arrays.asList("a", "b", "secret"), sorted(((OpResult.GetChildrenResult) r.get(1)).getChildren()),
                "multiRead getChildren /m");
        // A read multi does not fail as a whole: a missing node is an ErrorResult in its place
        // and the ops after it still run (ZooKeeper 3.8 FinalRequestProcessor, multiRead).
        check(r.get(2) instanceof OpResult.ErrorResult, "result 2 is " + r.get(2));
        eq(KeeperException.Code.NONODE.intValue(), ((OpResult.ErrorResult) r.get(2)).getErr(), "getData /m/missing");
        check(r.get(3) instanceof OpResult.ErrorResult, "result 3 is " + r.get(3));
        eq(KeeperException.Code.NONODE.intValue(), ((OpResult.ErrorResult) r.get(3)).getErr(), "getChildren /m/missing");
        check(r.get(4) instanceof OpResult.GetChildrenResult, "result 4 is " + r.get(4));
        eq(Collections.emptyList(), ((OpResult.GetChildrenResult) r.get(4)).getChildren(), "getChildren /m/a");
        check(r.get(5) instanceof OpResult.ErrorResult, "result 5 is " + r.get(5));
        eq(KeeperException.Code.NOAUTH.intValue(), ((OpResult.ErrorResult) r.get(5)).getErr(), "getData /m/secret");
        check(r.get(6) instanceof OpResult.ErrorResult, "result 6 is " + r.get(6));
        eq(KeeperException.Code.NOAUTH.intValue(), ((OpResult.ErrorResult) r.get(6)).getErr(), "getChildren /m/secret");
        check(r.get(7) instanceof OpResult.GetDataResult, "result 7 is " + r.get(7));
        eq(b("root"), ((OpResult.GetDataResult) r.get(7)).getData(), "multiRead getData /m data");
        eq(stat(zk, "/m"), ((OpResult.GetDataResult) r.get(7)).getStat(), "multiRead getData /m stat");

        step("the asynchronous read multi gives every result; the callback's rc is the first error");
        CompletableFuture<Object[]> f = new CompletableFuture<>();
        zk.multi(Arrays.asList(Op.getData("/m/a"), Op.getData("/m/nope")),
                (rc, path, ctx, results) -> f.complete(new Object[] {rc, results}), null);
        Object[] ar = f.get(WAIT_S, TimeUnit.SECONDS);
        // The Java client, not the server, sets the callback's rc to the first error result's.
        eq(KeeperException.Code.NONODE.intValue(), ar[0], "async multiRead rc");
        @SuppressWarnings("unchecked")
        List<OpResult> arl = (List<OpResult>) ar[1];
        eq(new OpResult.GetDataResult(b("A"), sa), arl.get(0), "async multiRead result 0");
        eq(new OpResult.ErrorResult(KeeperException.Code.NONODE.intValue()), arl.get(1), "async multiRead result 1");

        step("a write multi with checks commits every op in one transaction");
        Stat m0 = stat(zk, "/m");
        List<OpResult> w = zk.multi(Arrays.asList(
                Op.check("/m/a", sa.getVersion()),
                Op.create("/m/c", b("C"), OPEN, CreateMode.PERSISTENT),
                Op.create("/m/s-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.create("/m/ctr", NONE, OPEN, CreateMode.CONTAINER),
                Op.create("/m/ttl", NONE, OPEN, CreateMode.PERSISTENT_WITH_TTL, 60000),
                Op.setData("/m/a", b("A2"), sa.getVersion()),
                Op.delete("/m/b", -1),
                Op.check("/m/c", 0),
                Op.check("/m/a", sa.getVersion() + 1)));
        eq(9, w.size(), "multi result count");
        check(w.get(0) instanceof OpResult.CheckResult, "result 0 is " + w.get(0));
        OpResult.CreateResult c1 = (OpResult.CreateResult) w.get(1);
        eq("/m/c", c1.getPath(), "created path");
        // Op.create with a plain mode is opcode create (1), answered without a Stat; container
        // and TTL creates are createContainer (19) and createTTL (21), answered with one.
        eq(null, c1.getStat(), "stat of a plain create in a multi");
        // Sequence numbers come from the parent's cversion, already bumped by /m/c in this multi.
        String seq = String.format("/m/s-%010d", m0.getCversion() + 1);
        eq(seq, ((OpResult.CreateResult) w.get(2)).getPath(), "sequential path in a multi");
        eq(null, ((OpResult.CreateResult) w.get(2)).getStat(), "stat of a sequential create in a multi");
        OpResult.CreateResult c3 = (OpResult.CreateResult) w.get(3);
        eq("/m/ctr", c3.getPath(), "container path");
        eq(stat(zk, "/m/ctr"), c3.getStat(), "container stat from the multi");
        OpResult.CreateResult c4 = (OpResult.CreateResult) w.get(4);
        eq("/m/ttl", c4.getPath(), "TTL path");
        eq(stat(zk, "/m/ttl"), c4.getStat(), "TTL node stat from the multi");
        // ZooKeeper shows clients ephemeralOwner 0 for containers and TTL nodes.
        eq(0L, c3.getStat().getEphemeralOwner(), "container ephemeralOwner");
        eq(0L, c4.getStat().getEphemeralOwner(), "TTL ephemeralOwner");
        Stat sa2 = ((OpResult.SetDataResult) w.get(5)).getStat();
        eq(sa.getVersion() + 1, sa2.getVersion(), "version after setData in a multi");
        eq(stat(zk, "/m/a"), sa2, "setData stat from the multi");
        check(w.get(6) instanceof OpResult.DeleteResult, "result 6 is " + w.get(6));
        check(w.get(7) instanceof OpResult.CheckResult, "result 7 is " + w.get(7));
        check(w.get(8) instanceof OpResult.CheckResult, "result 8 is " + w.get(8));
        long txZxid = sa2.getMzxid();
        eq(txZxid, c3.getStat().getCzxid(), "one zxid for the whole multi (container czxid)");
        eq(txZxid, stat(zk, "/m/c").getCzxid(), "one zxid for the whole multi (/m/c czxid)");
        eq(txZxid, stat(zk, "/m").getPzxid(), "parent pzxid after the multi");
        eq(null, zk.exists("/m/b", false), "/m/b after the multi");
        eq(b("A2"), zk.getData("/m/a", false, null), "/m/a data after the multi");

        step("a failed multi changes nothing: OK before the failing op, its error, RUNTIMEINCONSISTENCY after");
        KeeperException.BadVersionException bv = expectThrows(KeeperException.BadVersionException.class,
                "multi with a wrong check", () -> zk.multi(Arrays.asList(
                        Op.create("/m/d", NONE, OPEN, CreateMode.PERSISTENT),
                        Op.check("/m/a", 0),
                        Op.setData("/m/a", b("no"), -1))));
        List<OpResult> fr = bv.getResults();
        eq(Arrays.asList(new OpResult.ErrorResult(0), new OpResult.ErrorResult(KeeperException.Code.BADVERSION.intValue()),
                new OpResult.ErrorResult(KeeperException.Code.RUNTIMEINCONSISTENCY.intValue())), fr,
                "results of the failed multi");
        eq(null, zk.exists("/m/d", false), "/m/d after the failed multi");
        eq(sa2, stat(zk, "/m/a"), "/m/a after the failed multi");
        // A failed multi is logged as an error txn: it consumes a zxid (ZooKeeper 3.8).
        String z = zk.create("/m/after", NONE, OPEN, CreateMode.PERSISTENT);
        eq(txZxid + 2, stat(zk, z).getCzxid(), "czxid of the create after the failed multi");

        KeeperException.NoNodeException nn = expectThrows(KeeperException.NoNodeException.class,
                "multi checking a missing node", () -> zk.multi(Arrays.asList(
                        Op.check("/m/none", -1), Op.create("/m/e", NONE, OPEN, CreateMode.PERSISTENT))));
        eq(Arrays.asList(new OpResult.ErrorResult(KeeperException.Code.NONODE.intValue()),
                new OpResult.ErrorResult(KeeperException.Code.RUNTIMEINCONSISTENCY.intValue())), nn.getResults(),
                "results of the multi checking a missing node");
        expectThrows(KeeperException.NodeExistsException.class, "multi creating /m/a",
                () -> zk.multi(Arrays.asList(Op.check("/m/a", -1), Op.create("/m/a", NONE, OPEN, CreateMode.PERSISTENT))));

        step("transaction(): check, create, setData, delete; then one that fails with NOTEMPTY");
        List<OpResult> t = zk.transaction()
                .check("/m/a", sa2.getVersion())
                .create("/m/t", b("t"), OPEN, CreateMode.PERSISTENT)
                .setData("/m/t", b("t2"), 0)
                .delete("/m/c", 0)
                .commit();
        eq(4, t.size(), "transaction result count");
        check(t.get(0) instanceof OpResult.CheckResult, "transaction result 0 is " + t.get(0));
        eq("/m/t", ((OpResult.CreateResult) t.get(1)).getPath(), "transaction create path");
        Stat st = ((OpResult.SetDataResult) t.get(2)).getStat();
        eq(1, st.getVersion(), "version of /m/t after create+setData in one transaction");
        eq(st.getCzxid(), st.getMzxid(), "/m/t created and set in one zxid");
        check(t.get(3) instanceof OpResult.DeleteResult, "transaction result 3 is " + t.get(3));
        eq(b("t2"), zk.getData("/m/t", false, null), "/m/t data");
        eq(null, zk.exists("/m/c", false), "/m/c after the transaction");
        KeeperException.NotEmptyException ne = expectThrows(KeeperException.NotEmptyException.class,
                "transaction deleting /m", () -> zk.transaction().setData("/m/t", b("x"), -1).delete("/m", -1).commit());
        eq(Arrays.asList(new OpResult.ErrorResult(0), new OpResult.ErrorResult(KeeperException.Code.NOTEMPTY.intValue())),
                ne.getResults(), "results of the failed transaction");
        eq(b("t2"), zk.getData("/m/t", false, null), "/m/t after the failed transaction");

        step("asynchronous commit reports the failing op's code and every result");
        CompletableFuture<Object[]> g = new CompletableFuture<>();
        zk.transaction().check("/m/t", 7).delete("/m/t", -1)
                .commit((rc, path, ctx, results) -> g.complete(new Object[] {rc, results}), null);
        Object[] gr = g.get(WAIT_S, TimeUnit.SECONDS);
        eq(KeeperException.Code.BADVERSION.intValue(), gr[0], "async failed transaction rc");
        eq(Arrays.asList(new OpResult.ErrorResult(KeeperException.Code.BADVERSION.intValue()),
                new OpResult.ErrorResult(KeeperException.Code.RUNTIMEINCONSISTENCY.intValue())), gr[1],
                "async failed transaction results");

        step("one node created, set, checked and deleted in one multi; an ephemeral in a multi");
        Stat p0 = stat(zk, "/m");
        List<OpResult> life = zk.multi(Arrays.asList(
                Op.create("/m/tmp", b("0"), OPEN, CreateMode.PERSISTENT),
                Op.setData("/m/tmp", b("1"), 0),
                Op.check("/m/tmp", 1),
                Op.delete("/m/tmp", 1),
                Op.create("/m/eph", NONE, OPEN, CreateMode.EPHEMERAL)));
        Stat lifeStat = ((OpResult.SetDataResult) life.get(1)).getStat();
        eq(1, lifeStat.getVersion(), "version of /m/tmp inside the multi");
        eq(null, zk.exists("/m/tmp", false), "/m/tmp after the multi");
        Stat p1 = stat(zk, "/m");
        eq(p0.getCversion() + 3, p1.getCversion(), "/m cversion after two creates and a delete");
        eq(p0.getNumChildren() + 1, p1.getNumChildren(), "/m numChildren");
        eq(lifeStat.getMzxid(), p1.getPzxid(), "/m pzxid");
        eq(zk.getSessionId(), stat(zk, "/m/eph").getEphemeralOwner(), "owner of an ephemeral created in a multi");
        eq(Arrays.asList("/m/eph"), zk.getEphemerals(), "getEphemerals after the multi");

        step("a failed multi gives back the sequence number it would have used");
        Stat q0 = stat(zk, "/m");
        // The parent's count of creates (see the create group): (cversion + children) / 2.
        String next = String.format("/m/q-%010d", (q0.getCversion() + q0.getNumChildren()) / 2);
        expectThrows(KeeperException.NoNodeException.class, "multi with a sequential create, then a failure",
                () -> zk.multi(Arrays.asList(Op.create("/m/q-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                        Op.delete("/m/none", -1))));
        eq(q0, stat(zk, "/m"), "/m after the failed multi");
        eq(next, zk.create("/m/q-", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "the next sequential create");

        step("later ops in a multi see the earlier ones");
        int nn2 = KeeperException.Code.NONODE.intValue();
        int rti = KeeperException.Code.RUNTIMEINCONSISTENCY.intValue();
        KeeperException.NoNodeException gone = expectThrows(KeeperException.NoNodeException.class,
                "setData after delete in one multi", () -> zk.multi(Arrays.asList(
                        Op.delete("/m/t", -1), Op.setData("/m/t", b("x"), -1), Op.check("/m", -1))));
        eq(Arrays.asList(new OpResult.ErrorResult(0), new OpResult.ErrorResult(nn2), new OpResult.ErrorResult(rti)),
                gone.getResults(), "results of setData after delete");
        expectThrows(KeeperException.NotEmptyException.class, "delete of a node given a child in the same multi",
                () -> zk.multi(Arrays.asList(Op.create("/m/u", NONE, OPEN, CreateMode.PERSISTENT),
                        Op.create("/m/u/v", NONE, OPEN, CreateMode.PERSISTENT), Op.delete("/m/u", -1))));
        expectThrows(KeeperException.NoChildrenForEphemeralsException.class, "child of an ephemeral from the same multi",
                () -> zk.multi(Arrays.asList(Op.create("/m/ue", NONE, OPEN, CreateMode.EPHEMERAL),
                        Op.create("/m/ue/v", NONE, OPEN, CreateMode.PERSISTENT))));
        expectThrows(KeeperException.BadVersionException.class, "check of a version set in the same multi",
                () -> zk.multi(Arrays.asList(Op.setData("/m/t", b("y"), -1), Op.check("/m/t", 1))));
        eq(null, zk.exists("/m/u", false), "/m/u after the failed multis");
        eq(null, zk.exists("/m/ue", false), "/m/ue after the failed multis");
        eq(b("t2"), zk.getData("/m/t", false, null), "/m/t after the failed multis");

        step("empty multi and empty transaction");
        eq(Collections.emptyList(), zk.multi(Collections.emptyList()), "empty multi");
        eq(Collections.emptyList(), zk.transaction().commit(), "empty transaction");
        List<OpResult> rootRead = zk.multi(Arrays.asList(Op.getChildren("/"), Op.getData("/zookeeper/quota")));
        check(((OpResult.GetChildrenResult) rootRead.get(0)).getChildren().containsAll(Arrays.asList("zookeeper", "m")),
                "multiRead getChildren / " + ((OpResult.GetChildrenResult) rootRead.get(0)).getChildren());
        eq(NONE, ((OpResult.GetDataResult) rootRead.get(1)).getData(), "multiRead getData /zookeeper/quota");
        zk.close();
    }

    // -----------------------------------------------------------------------------------------
    // create with every CreateMode (create2's Stat), getAllChildrenNumber, getEphemerals,
    // container and TTL reaping

    static void createdStat(Stat s, String path, long owner, int dataLength, long before, long after) {
        eq(s.getCzxid(), s.getMzxid(), path + " mzxid");
        eq(s.getCzxid(), s.getPzxid(), path + " pzxid");
        eq(s.getCtime(), s.getMtime(), path + " mtime");
        check(s.getCtime() >= before - 1000 && s.getCtime() <= after + 1000,
                path + " ctime " + s.getCtime() + " not within [" + before + ", " + after + "]");
        eq(0, s.getVersion(), path + " version");
        eq(0, s.getCversion(), path + " cversion");
        eq(0, s.getAversion(), path + " aversion");
        eq(owner, s.getEphemeralOwner(), path + " ephemeralOwner");
        eq(dataLength, s.getDataLength(), path + " dataLength");
        eq(0, s.getNumChildren(), path + " numChildren");
    }

    static void create() throws Exception {
        ZooKeeper zk = connect("create");
        long sid = zk.getSessionId();

        step("getAllChildrenNumber");
        // Every descendant counts, at any depth; a fresh tree has /zookeeper, /zookeeper/quota
        // and /zookeeper/config.
        eq(3, zk.getAllChildrenNumber("/"), "getAllChildrenNumber / on a fresh tree");
        eq(2, zk.getAllChildrenNumber("/zookeeper"), "getAllChildrenNumber /zookeeper");
        for (String p : new String[] {"/n", "/n/a", "/n/a/x", "/n/a/y", "/n/a/y/z", "/n/b", "/nx"}) {
            zk.create(p, NONE, OPEN, CreateMode.PERSISTENT);
        }
        eq(5, zk.getAllChildrenNumber("/n"), "getAllChildrenNumber /n");
        eq(3, zk.getAllChildrenNumber("/n/a"), "getAllChildrenNumber /n/a");
        eq(0, zk.getAllChildrenNumber("/n/b"), "getAllChildrenNumber /n/b");
        eq(0, zk.getAllChildrenNumber("/nx"), "getAllChildrenNumber /nx (/n's children are not its)");
        eq(3 + 7, zk.getAllChildrenNumber("/"), "getAllChildrenNumber / after 7 creates");
        expectThrows(KeeperException.NoNodeException.class, "getAllChildrenNumber /missing",
                () -> zk.getAllChildrenNumber("/missing"));
        zk.create("/n/secret", NONE, Collections.singletonList(new ACL(Perms.ALL, new Id("digest", "nobody:x"))),
                CreateMode.PERSISTENT);
        expectThrows(KeeperException.NoAuthException.class, "getAllChildrenNumber without READ",
                () -> zk.getAllChildrenNumber("/n/secret"));
        CompletableFuture<Object[]> acn = new CompletableFuture<>();
        zk.getAllChildrenNumber("/n", (rc, path, ctx, number) -> acn.complete(new Object[] {rc, path, number}), null);
        eq(Arrays.asList(0, "/n", 6), Arrays.asList(acn.get(WAIT_S, TimeUnit.SECONDS)), "async getAllChildrenNumber /n");

        step("create and create2 with every CreateMode");
        eq("/c", zk.create("/c", b("c"), OPEN, CreateMode.PERSISTENT), "plain create");
        List<String> mine = new ArrayList<>();
        Object[][] modes = {
            {CreateMode.PERSISTENT, "/c/p", 0L},
            {CreateMode.PERSISTENT_SEQUENTIAL, "/c/ps-", 0L},
            {CreateMode.EPHEMERAL, "/c/e", sid},
            {CreateMode.EPHEMERAL_SEQUENTIAL, "/c/es-", sid},
            // Containers and TTL nodes keep a marker in ephemeralOwner on the server, but
            // ZooKeeper 3.8 shows 0 to clients (DataNode.copyStat).
            {CreateMode.CONTAINER, "/c/ctr", 0L},
            {CreateMode.PERSISTENT_WITH_TTL, "/c/ttl", 0L},
            {CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, "/c/ttls-", 0L},
        };
        for (Object[] m : modes) {
            CreateMode mode = (CreateMode) m[0];
            String path = (String) m[1];
            long owner = (Long) m[2];
            String expected = mode.isSequential()
                    ? path + String.format("%010d", stat(zk, "/c").getCversion()) : path;
            byte[] data = b("data of " + mode);
            Stat s = new Stat();
            long before = System.currentTimeMillis();
            String got = mode.isTTL() ? zk.create(path, data, OPEN, mode, s, 600000)
                    : zk.create(path, data, OPEN, mode, s);
            long after = System.currentTimeMillis();
            eq(expected, got, "path created with " + mode);
            createdStat(s, got + " (" + mode + ")", owner, data.length, before, after);
            eq(stat(zk, got), s, "create2 stat vs exists for " + mode);
            eq(s.getCzxid(), stat(zk, "/c").getPzxid(), "parent pzxid after creating " + got);
            eq(data, zk.getData(got, false, null), "data of " + got);
            if (mode.isEphemeral()) {
                mine.add(got);
            }
        }
        eq(Arrays.asList("/c/es-0000000003", "/c/ps-0000000001", "/c/ttls-0000000006"),
                Arrays.asList(zk.getChildren("/c", false).stream().filter(n -> n.contains("s-")).sorted()
                        .map(n -> "/c/" + n).toArray()), "sequential names");
        // The plain create (opcode create) of a container is createContainer too.
        eq("/c/ctr2", zk.create("/c/ctr2", NONE, OPEN, CreateMode.CONTAINER), "create a container without Stat");
        eq(0L, stat(zk, "/c/ctr2").getEphemeralOwner(), "/c/ctr2 ephemeralOwner");
        expectThrows(KeeperException.NodeExistsException.class, "create2 of an existing node",
                () -> zk.create("/c/p", NONE, OPEN, CreateMode.PERSISTENT, new Stat()));
        expectThrows(KeeperException.NoNodeException.class, "create2 under a missing parent",
                () -> zk.create("/c/none/x", NONE, OPEN, CreateMode.PERSISTENT, new Stat()));
        expectThrows(KeeperException.NoChildrenForEphemeralsException.class, "create under an ephemeral",
                () -> zk.create("/c/e/x", NONE, OPEN, CreateMode.PERSISTENT, new Stat()));
        Stat under = new Stat();
        zk.create("/c/ttl/kid", NONE, OPEN, CreateMode.EPHEMERAL, under);
        mine.add("/c/ttl/kid");
        eq(sid, under.getEphemeralOwner(), "ephemeral under a TTL node");
        zk.create("/c/ctr/kid", NONE, OPEN, CreateMode.PERSISTENT);
        // ZooKeeper keeps the parent's count of creates, numbers sequential children with it,
        // and shows clients cversion = 2 * creates - children (DataNode.copyStat): a delete
        // raises the cversion a client sees but not the sequence number.
        zk.create("/seq", NONE, OPEN, CreateMode.PERSISTENT);
        zk.create("/seq/a", NONE, OPEN, CreateMode.PERSISTENT);
        zk.delete("/seq/a", -1);
        eq(2, stat(zk, "/seq").getCversion(), "/seq cversion after a create and a delete");
        eq("/seq/s0000000001", zk.create("/seq/s", NONE, OPEN, CreateMode.PERSISTENT_SEQUENTIAL, new Stat()),
                "sequential after a create and a delete");
        eq("/seq/e0000000002", zk.create("/seq/e", NONE, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL), "next one");
        mine.add("/seq/e0000000002");
        eq(4, stat(zk, "/seq").getCversion(), "/seq cversion after 3 creates, 2 children");
        Stat ctr = stat(zk, "/c/ctr");
        eq(1, ctr.getNumChildren(), "container numChildren");
        eq(1, ctr.getCversion(), "container cversion");

        step("getEphemerals, with and without a prefix");
        ZooKeeper other = connect("other");
        other.create("/c/other", NONE, OPEN, CreateMode.EPHEMERAL);
        zk.create("/eph", NONE, OPEN, CreateMode.PERSISTENT);
        zk.create("/eph/a", NONE, OPEN, CreateMode.EPHEMERAL);
        zk.create("/eph/b", NONE, OPEN, CreateMode.EPHEMERAL);
        zk.create("/ephx", NONE, OPEN, CreateMode.EPHEMERAL);
        mine.addAll(Arrays.asList("/eph/a", "/eph/b", "/ephx"));
        eq(sorted(mine), sorted(zk.getEphemerals()), "getEphemerals()");
        eq(sorted(mine), sorted(zk.getEphemerals("/")), "getEphemerals(\"/\")");
        // The prefix is a plain string prefix, not a subtree (ZooKeeper 3.8 FinalRequestProcessor):
        // "/eph" also matches /ephx.
        eq(Arrays.asList("/eph/a", "/eph/b", "/ephx"), sorted(zk.getEphemerals("/eph")), "getEphemerals(\"/eph\")");
        eq(Arrays.asList("/eph/a"), sorted(zk.getEphemerals("/eph/a")), "getEphemerals(\"/eph/a\")");
        eq(Arrays.asList("/c/e", "/c/es-0000000003"), sorted(zk.getEphemerals("/c/e")), "getEphemerals(\"/c/e\")");
        eq(Collections.emptyList(), zk.getEphemerals("/nothing"), "getEphemerals(\"/nothing\")");
        eq(Arrays.asList("/c/other"), other.getEphemerals(), "the other session's getEphemerals()");
        zk.delete("/eph/a", -1);
        eq(Arrays.asList("/eph/b", "/ephx"), sorted(zk.getEphemerals("/eph")), "getEphemerals after a delete");
        CompletableFuture<Object[]> ae = new CompletableFuture<>();
        zk.getEphemerals("/ephx", (rc, ctx, paths) -> ae.complete(new Object[] {rc, paths}), null);
        Object[] aer = ae.get(WAIT_S, TimeUnit.SECONDS);
        eq(0, aer[0], "async getEphemerals rc");
        eq(Arrays.asList("/ephx"), aer[1], "async getEphemerals(\"/ephx\")");
        other.close();
        eq(null, zk.exists("/c/other", false), "the other session's ephemeral after its close");

        step("containers and TTL nodes are reaped (znode.container.checkIntervalMs=100)");
        Events ce = new Events("container watcher");
        Events te = new Events("TTL watcher");
        zk.create("/ctr", NONE, OPEN, CreateMode.CONTAINER);
        zk.create("/ctr/kid", NONE, OPEN, CreateMode.PERSISTENT);
        zk.create("/ctr-unused", NONE, OPEN, CreateMode.CONTAINER);
        zk.create("/ttl-kept", NONE, OPEN, CreateMode.PERSISTENT_WITH_TTL, null, 200);
        zk.create("/ttl-kept/kid", NONE, OPEN, CreateMode.PERSISTENT);
        zk.create("/ttl-short", NONE, OPEN, CreateMode.PERSISTENT_WITH_TTL, null, 200);
        check(zk.exists("/ctr", ce) != null, "/ctr exists");
        check(zk.exists("/ttl-short", te) != null, "/ttl-short exists");
        zk.delete("/ctr/kid", -1);
        ce.expect(EventType.NodeDeleted, "/ctr");
        te.expect(EventType.NodeDeleted, "/ttl-short");
        // Several reaper passes later, a container that never had a child and a TTL node with a
        // child are still there (ZooKeeper 3.8: ContainerManager needs cversion > 0 for a
        // container, no children for both).
        Thread.sleep(1000);
        check(zk.exists("/ctr-unused", false) != null, "/ctr-unused (never had a child) was reaped");
        check(zk.exists("/ttl-kept", te) != null, "/ttl-kept (has a child) was reaped");
        zk.delete("/ttl-kept/kid", -1);
        te.expect(EventType.NodeDeleted, "/ttl-kept");
        // A container whose only child is an ephemeral goes once the ephemeral's session ends.
        ZooKeeper owner = connect("ephemeral owner");
        zk.create("/ctr-eph", NONE, OPEN, CreateMode.CONTAINER);
        owner.create("/ctr-eph/e", NONE, OPEN, CreateMode.EPHEMERAL);
        check(zk.exists("/ctr-eph", ce) != null, "/ctr-eph exists");
        owner.close();
        ce.expect(EventType.NodeDeleted, "/ctr-eph");
        check(zk.exists("/c/ttl", false) != null, "/c/ttl (600 s) was reaped");
        zk.close();
    }

    // -----------------------------------------------------------------------------------------
    // addAuthInfo, whoAmI, CREATOR_ALL_ACL with setACL/getACL, sync

    static void authAcl() throws Exception {
        Session sa = new Session("alice", server, TIMEOUT_MS);
        ZooKeeper zk = sa.zk;
        ZooKeeper anon = connect("anonymous");

        step("whoAmI before and after addAuthInfo");
        eq("[ip:127.0.0.1]", clientInfos(zk.whoAmI()), "whoAmI without auth");
        zk.create("/open", b("o"), OPEN, CreateMode.PERSISTENT);
        // The CREATOR_ALL_ACL "auth" id needs an authenticated id; ip does not count.
        expectThrows(KeeperException.InvalidACLException.class, "create with CREATOR_ALL_ACL without auth",
                () -> zk.create("/acl", NONE, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        expectThrows(KeeperException.InvalidACLException.class, "setACL CREATOR_ALL_ACL without auth",
                () -> zk.setACL("/open", Ids.CREATOR_ALL_ACL, -1));
        zk.addAuthInfo("digest", b("alice:secret"));
        eq("[digest:alice, ip:127.0.0.1]", clientInfos(zk.whoAmI()), "whoAmI after addAuthInfo alice");
        // The same id twice is kept once.
        zk.addAuthInfo("digest", b("alice:secret"));
        eq("[digest:alice, ip:127.0.0.1]", clientInfos(zk.whoAmI()), "whoAmI after adding alice again");

        step("CREATOR_ALL_ACL becomes the creator's digest id");
        Stat cs = new Stat();
        zk.create("/acl", b("secret"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT, cs);
        ACL alice = new ACL(Perms.ALL, new Id("digest", digest("alice:secret")));
        Stat gs = new Stat();
        eq(Collections.singletonList(alice), zk.getACL("/acl", gs), "getACL /acl");
        eq(cs, gs, "getACL stat");
        eq(b("secret"), zk.getData("/acl", false, null), "alice reads /acl");
        expectThrows(KeeperException.NoAuthException.class, "anonymous getData /acl",
                () -> anon.getData("/acl", false, null));
        expectThrows(KeeperException.NoAuthException.class, "anonymous getChildren /acl",
                () -> anon.getChildren("/acl", false));
        expectThrows(KeeperException.NoAuthException.class, "anonymous setData /acl",
                () -> anon.setData("/acl", NONE, -1));
        expectThrows(KeeperException.NoAuthException.class, "anonymous create under /acl",
                () -> anon.create("/acl/x", NONE, OPEN, CreateMode.PERSISTENT));
        // getACL needs READ or ADMIN.
        expectThrows(KeeperException.NoAuthException.class, "anonymous getACL /acl",
                () -> anon.getACL("/acl", null));
        // exists needs READ since ZOOKEEPER-2590 (3.8.4, 3.9.2); ZooKeeper 3.8.0 answers with the
        // stat. Rookery reports itself as 3.9.2.
        if (serverVersionAtLeast(3, 8, 4)) {
            expectThrows(KeeperException.NoAuthException.class, "anonymous exists /acl (3.8.4+)",
                    () -> anon.exists("/acl", false));
        } else {
            eq(cs, anon.exists("/acl", false), "anonymous exists /acl (3.8.0: no ACL check)");
        }

        step("setACL with versions; getACL hides digests from readers without ADMIN");
        List<ACL> mixed = Arrays.asList(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE), alice);
        Stat ss = zk.setACL("/acl", mixed, 0);
        eq(1, ss.getAversion(), "aversion after setACL");
        eq(cs.getMzxid(), ss.getMzxid(), "setACL leaves mzxid");
        eq(0, ss.getVersion(), "setACL leaves version");
        expectThrows(KeeperException.BadVersionException.class, "setACL with a stale aversion",
                () -> zk.setACL("/acl", mixed, 0));
        Stat as = new Stat();
        eq(mixed, zk.getACL("/acl", as), "getACL by alice (ADMIN)");
        eq(ss, as, "getACL stat after setACL");
        eq(Arrays.asList(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE), new ACL(Perms.ALL, new Id("digest", "alice:x"))),
                anon.getACL("/acl", null), "getACL by a reader without ADMIN (digest hidden)");
        eq(b("secret"), anon.getData("/acl", false, null), "anonymous reads /acl now");
        // ZooKeeper fixes up the new ACL (InvalidACL) before it looks at the node or at ADMIN.
        expectThrows(KeeperException.InvalidACLException.class, "anonymous setACL CREATOR_ALL_ACL",
                () -> anon.setACL("/acl", Ids.CREATOR_ALL_ACL, -1));
        expectThrows(KeeperException.InvalidACLException.class, "anonymous setACL CREATOR_ALL_ACL on a missing node",
                () -> anon.setACL("/missing", Ids.CREATOR_ALL_ACL, -1));
        expectThrows(KeeperException.NoAuthException.class, "anonymous setACL without ADMIN",
                () -> anon.setACL("/acl", OPEN, -1));
        expectThrows(KeeperException.NoNodeException.class, "setACL on a missing node",
                () -> zk.setACL("/missing", Ids.CREATOR_ALL_ACL, -1));
        expectThrows(KeeperException.NoNodeException.class, "getACL on a missing node",
                () -> zk.getACL("/missing", null));

        step("with two digest ids, CREATOR_ALL_ACL names both");
        zk.addAuthInfo("digest", b("bob:pw"));
        eq("[digest:alice, digest:bob, ip:127.0.0.1]", clientInfos(zk.whoAmI()), "whoAmI with alice and bob");
        ACL bob = new ACL(Perms.ALL, new Id("digest", digest("bob:pw")));
        zk.create("/acl2", NONE, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        eq(Arrays.asList(alice, bob), zk.getACL("/acl2", null), "getACL /acl2");
        Stat s2 = zk.setACL("/open", Ids.CREATOR_ALL_ACL, -1);
        eq(1, s2.getAversion(), "aversion of /open after setACL");
        eq(Arrays.asList(alice, bob), zk.getACL("/open", null), "getACL /open after setACL CREATOR_ALL_ACL");
        ZooKeeper bobOnly = connect("bob");
        bobOnly.addAuthInfo("digest", b("bob:pw"));
        eq(b("o"), bobOnly.getData("/open", false, null), "bob reads /open");
        eq(NONE, bobOnly.getData("/acl2", false, null), "bob reads /acl2");
        expectThrows(KeeperException.NoAuthException.class, "bob writes /acl (alice's; world may read)",
                () -> bobOnly.setData("/acl", NONE, -1));
        // A wrong password is a different digest id, not an auth failure.
        ZooKeeper wrong = connect("wrong password");
        wrong.addAuthInfo("digest", b("bob:nope"));
        eq("[digest:bob, ip:127.0.0.1]", clientInfos(wrong.whoAmI()), "whoAmI with bob's wrong password");
        expectThrows(KeeperException.NoAuthException.class, "wrong password reads /open",
                () -> wrong.getData("/open", false, null));
        wrong.close();

        step("addAuthInfo before the session is established; ip ACLs");
        Events early = new Events("early", true);
        ZooKeeper ez = new ZooKeeper(server, TIMEOUT_MS, early);
        ez.addAuthInfo("digest", b("bob:pw"));
        early.expectState(KeeperState.SyncConnected);
        eq("[digest:bob, ip:127.0.0.1]", clientInfos(ez.whoAmI()), "whoAmI of a session authenticated early");
        eq(b("o"), ez.getData("/open", false, null), "bob (early) reads /open");
        ez.close();
        zk.create("/ip-local", b("l"), Arrays.asList(new ACL(Perms.READ, new Id("ip", "127.0.0.1")),
                new ACL(Perms.ALL, new Id("ip", "127.0.0.0/8"))), CreateMode.PERSISTENT);
        zk.create("/ip-far", b("f"), Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "10.1.2.0/24"))),
                CreateMode.PERSISTENT);
        eq(b("l"), anon.getData("/ip-local", false, null), "anonymous on 127.0.0.1 reads /ip-local");
        anon.setData("/ip-local", b("l2"), -1);
        expectThrows(KeeperException.NoAuthException.class, "anonymous reads /ip-far",
                () -> anon.getData("/ip-far", false, null));
        expectThrows(KeeperException.InvalidACLException.class, "an ip ACL that is no address",
                () -> zk.create("/ip-bad", NONE, Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "nohost"))),
                        CreateMode.PERSISTENT));

        step("an unknown auth scheme fails the session (AuthFailed)");
        Session bad = new Session("unknown scheme", server, TIMEOUT_MS);
        bad.zk.addAuthInfo("nosuchscheme", b("x"));
        bad.state.expectState(KeeperState.AuthFailed);
        expectThrows(KeeperException.AuthFailedException.class, "op after AuthFailed",
                () -> bad.zk.exists("/", false));
        bad.zk.close();

        step("sync");
        for (String p : new String[] {"/acl", "/open", "/missing", "/"}) {
            for (ZooKeeper c : new ZooKeeper[] {zk, anon}) {
                CompletableFuture<Object[]> f = new CompletableFuture<>();
                c.sync(p, (rc, path, ctx) -> f.complete(new Object[] {rc, path, ctx}), "ctx");
                // No existence or ACL check: sync of a missing or unreadable node is OK.
                eq(Arrays.asList(0, p, "ctx"), Arrays.asList(f.get(WAIT_S, TimeUnit.SECONDS)), "sync " + p);
            }
        }
        // A sync orders the session after writes acknowledged to others.
        zk.setData("/acl", b("v2"), -1);
        CompletableFuture<Integer> sf = new CompletableFuture<>();
        anon.sync("/acl", (rc, path, ctx) -> sf.complete(rc), null);
        eq(0, sf.get(WAIT_S, TimeUnit.SECONDS), "sync rc");
        eq(b("v2"), anon.getData("/acl", false, null), "read after sync");
        bobOnly.close();
        anon.close();
        zk.close();
    }

    // -----------------------------------------------------------------------------------------
    // addWatch (PERSISTENT, PERSISTENT_RECURSIVE), removeWatches, removeAllWatches

    static void watches() throws Exception {
        Session sa = new Session("watcher", server, TIMEOUT_MS);
        ZooKeeper zk = sa.zk;
        ZooKeeper b = connect("writer");

        step("a PERSISTENT watch fires for the node and its children list, and stays");
        Events pw = new Events("persistent /pw");
        zk.addWatch("/pw", pw, AddWatchMode.PERSISTENT);
        b.create("/pw", b("0"), OPEN, CreateMode.PERSISTENT);
        pw.expect(EventType.NodeCreated, "/pw");
        b.setData("/pw", b("1"), -1);
        pw.expect(EventType.NodeDataChanged, "/pw");
        b.create("/pw/c", NONE, OPEN, CreateMode.PERSISTENT);
        pw.expect(EventType.NodeChildrenChanged, "/pw");
        b.setData("/pw/c", b("x"), -1);
        b.create("/pw/c/d", NONE, OPEN, CreateMode.PERSISTENT);
        pw.quiet(zk);
        b.setData("/pw", b("2"), -1);
        pw.expect(EventType.NodeDataChanged, "/pw");
        b.delete("/pw/c/d", -1);
        b.delete("/pw/c", -1);
        pw.expect(EventType.NodeChildrenChanged, "/pw");
        b.delete("/pw", -1);
        pw.expect(EventType.NodeDeleted, "/pw");
        b.create("/pw", NONE, OPEN, CreateMode.PERSISTENT);
        pw.expect(EventType.NodeCreated, "/pw");
        // The session's own changes fire it too.
        zk.setData("/pw", b("3"), -1);
        pw.expect(EventType.NodeDataChanged, "/pw");
        pw.quiet(zk);

        step("a PERSISTENT_RECURSIVE watch fires for the whole subtree, without NodeChildrenChanged");
        Events rw = new Events("recursive /rw");
        zk.addWatch("/rw", rw, AddWatchMode.PERSISTENT_RECURSIVE);
        b.create("/rw", NONE, OPEN, CreateMode.PERSISTENT);
        b.create("/rw/a", NONE, OPEN, CreateMode.PERSISTENT);
        b.create("/rw/a/b", NONE, OPEN, CreateMode.PERSISTENT);
        b.setData("/rw/a/b", b("x"), -1);
        b.create("/rwx", NONE, OPEN, CreateMode.PERSISTENT);
        b.setData("/rw", b("y"), -1);
        b.delete("/rw/a/b", -1);
        b.multi(Arrays.asList(Op.create("/rw/m1", NONE, OPEN, CreateMode.PERSISTENT),
                Op.create("/rw/m1/m2", NONE, OPEN, CreateMode.EPHEMERAL)));
        rw.expect(EventType.NodeCreated, "/rw");
        rw.expect(EventType.NodeCreated, "/rw/a");
        rw.expect(EventType.NodeCreated, "/rw/a/b");
        rw.expect(EventType.NodeDataChanged, "/rw/a/b");
        rw.expect(EventType.NodeDataChanged, "/rw");
        rw.expect(EventType.NodeDeleted, "/rw/a/b");
        rw.expect(EventType.NodeCreated, "/rw/m1");
        rw.expect(EventType.NodeCreated, "/rw/m1/m2");
        rw.quiet(zk);
        // An ephemeral below it goes with its session.
        b.close();
        rw.expect(EventType.NodeDeleted, "/rw/m1/m2");
        rw.quiet(zk);
        b = connect("writer 2");
        final ZooKeeper w = b;

        step("addWatch without a watcher delivers to the default watcher");
        zk.addWatch("/dflt", AddWatchMode.PERSISTENT);
        w.create("/dflt", NONE, OPEN, CreateMode.PERSISTENT);
        sa.state.expect(EventType.NodeCreated, "/dflt");

        step("a one-shot watch beside a persistent one on the same node");
        w.create("/both", NONE, OPEN, CreateMode.PERSISTENT);
        Events per = new Events("persistent /both");
        Events one = new Events("one-shot /both");
        zk.addWatch("/both", per, AddWatchMode.PERSISTENT);
        zk.getData("/both", one, null);
        w.setData("/both", b("1"), -1);
        per.expect(EventType.NodeDataChanged, "/both");
        one.expect(EventType.NodeDataChanged, "/both");
        // Not checked further: in ZooKeeper 3.8.0 the one-shot watch replaces the persistent one
        // on the server (one mode per session and path), so the next change of /both reaches
        // no one; ZOOKEEPER-4466 (3.9) keeps the persistent watch.
        one.quiet(zk);

        step("removeWatches of one watcher, by type");
        w.create("/rm", NONE, OPEN, CreateMode.PERSISTENT);
        Events w1 = new Events("w1 /rm");
        zk.getData("/rm", w1, null);
        zk.getChildren("/rm", w1);
        zk.removeWatches("/rm", w1, WatcherType.Data, false);
        w1.expect(EventType.DataWatchRemoved, "/rm");
        w.setData("/rm", b("x"), -1);
        w1.quiet(zk);
        w.create("/rm/k", NONE, OPEN, CreateMode.PERSISTENT);
        w1.expect(EventType.NodeChildrenChanged, "/rm");
        KeeperException.NoWatcherException nw = expectThrows(KeeperException.NoWatcherException.class,
                "removeWatches of a fired watch", () -> {
                    zk.removeWatches("/rm", w1, WatcherType.Children, false);
                    return null;
                });
        eq("/rm", nw.getPath(), "NoWatcherException path");
        expectThrows(KeeperException.NoWatcherException.class, "removeWatches on a path without watches", () -> {
            zk.removeWatches("/nowatch", w1, WatcherType.Any, false);
            return null;
        });
        Events w2 = new Events("w2 /rm");
        zk.exists("/rm", w2);
        zk.getChildren("/rm", w2);
        zk.removeWatches("/rm", w2, WatcherType.Any, false);
        w2.expectSet(EventType.DataWatchRemoved, "/rm", EventType.ChildWatchRemoved, "/rm");
        w.setData("/rm", b("y"), -1);
        w.delete("/rm/k", -1);
        w2.quiet(zk);
        // A watch on a missing node (exists) is a data watch too.
        Events w3 = new Events("w3 /rm-missing");
        check(zk.exists("/rm-missing", w3) == null, "/rm-missing exists");
        zk.removeWatches("/rm-missing", w3, WatcherType.Data, false);
        w3.expect(EventType.DataWatchRemoved, "/rm-missing");
        w.create("/rm-missing", NONE, OPEN, CreateMode.PERSISTENT);
        w3.quiet(zk);

        step("removeWatches of persistent and recursive watches");
        Events w4 = new Events("w4 persistent /rm");
        zk.addWatch("/rm", w4, AddWatchMode.PERSISTENT);
        zk.removeWatches("/rm", w4, WatcherType.Any, false);
        w4.expect(EventType.PersistentWatchRemoved, "/rm");
        w.setData("/rm", b("z"), -1);
        w4.quiet(zk);
        // Another path: removeWatches of one watcher is sent as checkWatches, which leaves the
        // server's watch in place (ZOOKEEPER-1910); only the client forgets it. On /rm, that
        // leftover persistent watch would keep sending NodeChildrenChanged, which a 3.8 client
        // hands to a recursive watcher of the same path.
        w.create("/rm2", NONE, OPEN, CreateMode.PERSISTENT);
        Events w5 = new Events("w5 recursive /rm2");
        zk.addWatch("/rm2", w5, AddWatchMode.PERSISTENT_RECURSIVE);
        w.create("/rm2/r", NONE, OPEN, CreateMode.PERSISTENT);
        w5.expect(EventType.NodeCreated, "/rm2/r");
        zk.removeWatches("/rm2", w5, WatcherType.Any, false);
        w5.expect(EventType.PersistentWatchRemoved, "/rm2");
        w.setData("/rm2/r", b("z"), -1);
        w5.quiet(zk);

        step("removeAllWatches removes every watcher's watches of that type");
        w.create("/all", NONE, OPEN, CreateMode.PERSISTENT);
        Events a1 = new Events("a1 /all");
        Events a2 = new Events("a2 /all");
        Events a3 = new Events("a3 /all");
        zk.getData("/all", a1, null);
        zk.getChildren("/all", a2);
        zk.addWatch("/all", a3, AddWatchMode.PERSISTENT_RECURSIVE);
        zk.removeAllWatches("/all", WatcherType.Children, false);
        a2.expect(EventType.ChildWatchRemoved, "/all");
        w.create("/all/x", NONE, OPEN, CreateMode.PERSISTENT);
        a3.expect(EventType.NodeCreated, "/all/x");
        a2.quiet(zk);
        zk.removeAllWatches("/all", WatcherType.Any, false);
        a1.expect(EventType.DataWatchRemoved, "/all");
        a3.expect(EventType.PersistentWatchRemoved, "/all");
        w.setData("/all", b("1"), -1);
        w.create("/all/y", NONE, OPEN, CreateMode.PERSISTENT);
        a1.quiet(zk);
        a2.quiet(zk);
        a3.quiet(zk);
        expectThrows(KeeperException.NoWatcherException.class, "removeAllWatches with none left", () -> {
            zk.removeAllWatches("/all", WatcherType.Any, false);
            return null;
        });
        // The persistent watches on /pw still work after all that.
        w.setData("/pw", b("6"), -1);
        pw.expect(EventType.NodeDataChanged, "/pw");
        pw.quiet(zk);

        step("persistent and recursive watches on the root");
        // From two sessions: a 3.8.0 server keeps one mode per session and path (ZOOKEEPER-4466),
        // and a 3.8 client hands NodeChildrenChanged to recursive watchers of the same path.
        ZooKeeper z3 = connect("root watcher");
        Events rootRec = new Events("recursive /");
        Events rootPer = new Events("persistent /");
        zk.addWatch("/", rootRec, AddWatchMode.PERSISTENT_RECURSIVE);
        z3.addWatch("/", rootPer, AddWatchMode.PERSISTENT);
        w.create("/top", NONE, OPEN, CreateMode.PERSISTENT);
        w.create("/top/deep", NONE, OPEN, CreateMode.PERSISTENT);
        w.setData("/top/deep", b("d"), -1);
        w.delete("/top/deep", -1);
        w.delete("/top", -1);
        rootRec.expect(EventType.NodeCreated, "/top");
        rootRec.expect(EventType.NodeCreated, "/top/deep");
        rootRec.expect(EventType.NodeDataChanged, "/top/deep");
        rootRec.expect(EventType.NodeDeleted, "/top/deep");
        rootRec.expect(EventType.NodeDeleted, "/top");
        rootPer.expect(EventType.NodeChildrenChanged, "/");
        rootPer.expect(EventType.NodeChildrenChanged, "/");
        rootRec.quiet(zk);
        rootPer.quiet(z3);
        zk.removeAllWatches("/", WatcherType.Any, false);
        rootRec.expect(EventType.PersistentWatchRemoved, "/");
        z3.removeAllWatches("/", WatcherType.Any, false);
        rootPer.expect(EventType.PersistentWatchRemoved, "/");
        w.create("/top", NONE, OPEN, CreateMode.PERSISTENT);
        rootRec.quiet(zk);
        rootPer.quiet(z3);
        z3.close();
        sa.state.quiet(zk);
        w.close();
        zk.close();
    }

    // -----------------------------------------------------------------------------------------
    // The Java client's setWatches / setWatches2 on reconnect, through the test's proxy

    static void reconnect() throws Exception {
        if (proxy == null) {
            fail("the reconnect group needs a proxy address");
        }
        ZooKeeper w = connect("writer (direct)");
        w.addAuthInfo("digest", b("alice:secret"));
        for (String p : new String[] {"/r", "/r/data", "/r/same", "/r/deleted", "/r/recreated", "/r/kids",
                "/r/kids2", "/r/c1", "/p", "/p/x", "/p2", "/big"}) {
            w.create(p, b("0"), OPEN, CreateMode.PERSISTENT);
        }
        w.create("/r/private", b("0"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        // Enough watched paths that the client splits its setWatches (128 kB a packet).
        final int bigCount = 700;
        String pad = "x".repeat(200);
        List<String> big = new ArrayList<>();
        List<Op> creates = new ArrayList<>();
        for (int i = 0; i < bigCount; i++) {
            big.add(String.format("/big/%s-%04d", pad, i));
            creates.add(Op.create(big.get(i), NONE, OPEN, CreateMode.PERSISTENT));
            if (creates.size() == 100) {
                w.multi(creates);
                creates.clear();
            }
        }

        // Long sessions: they must survive the cut.
        Session a = new Session("A (setWatches, digest auth)", proxy, TIMEOUT_MS);
        Session bs = new Session("B (with persistent watches: setWatches2)", proxy, TIMEOUT_MS);
        Session cs = new Session("C (chroot /r)", proxy + "/r", TIMEOUT_MS);
        Session ds = new Session("D (700 watches)", proxy, TIMEOUT_MS);
        check(a.zk.getSessionTimeout() >= 10000, "negotiated timeout " + a.zk.getSessionTimeout());
        a.zk.addAuthInfo("digest", b("alice:secret"));

        Events ea = new Events("A's watcher");
        a.zk.getData("/r/data", ea, null);
        a.zk.getData("/r/same", ea, null);
        a.zk.getData("/r/deleted", ea, null);
        a.zk.getData("/r/recreated", ea, null);
        a.zk.getData("/r/private", ea, null);
        check(a.zk.exists("/r/created", ea) == null, "/r/created exists");
        check(a.zk.exists("/r/later", ea) == null, "/r/later exists");
        check(a.zk.exists("/r/blink", ea) == null, "/r/blink exists");
        a.zk.getChildren("/r/kids", ea);
        a.zk.getChildren("/r/kids2", ea);
        Events eb = new Events("B's one-shot watcher");
        Events rb = new Events("B's recursive watcher");
        Events pb = new Events("B's persistent watcher");
        bs.zk.getData("/p/x", eb, null);
        bs.zk.addWatch("/p", rb, AddWatchMode.PERSISTENT_RECURSIVE);
        bs.zk.addWatch("/p2", pb, AddWatchMode.PERSISTENT);
        Events ec = new Events("C's watcher");
        cs.zk.getData("/c1", ec, null);
        check(cs.zk.exists("/c2", ec) == null, "/c2 (/r/c2) exists");
        Events ed = new Events("D's watcher");
        CountDownLatch set = new CountDownLatch(bigCount);
        for (String p : big) {
            ds.zk.getData(p, ed, (rc, path, ctx, data, st) -> set.countDown(), null);
        }
        check(set.await(WAIT_S, TimeUnit.SECONDS), "D's getData watches");

        step("cut the sessions off, change the tree, let them back");
        proxyControl("cut");
        for (Session x : new Session[] {a, bs, cs, ds}) {
            x.state.expectState(KeeperState.Disconnected);
        }
        w.setData("/r/data", b("1"), -1);
        w.setData("/r/private", b("1"), -1);
        w.delete("/r/deleted", -1);
        w.delete("/r/recreated", -1);
        w.create("/r/recreated", b("again"), OPEN, CreateMode.PERSISTENT);
        w.create("/r/created", NONE, OPEN, CreateMode.PERSISTENT);
        w.create("/r/blink", NONE, OPEN, CreateMode.PERSISTENT);
        w.delete("/r/blink", -1);
        w.create("/r/kids/k", NONE, OPEN, CreateMode.PERSISTENT);
        w.create("/r/kids2/k", NONE, OPEN, CreateMode.PERSISTENT);
        w.delete("/r/kids2/k", -1);
        w.setData("/r/c1", b("1"), -1);
        w.create("/r/c2", NONE, OPEN, CreateMode.PERSISTENT);
        w.setData("/p/x", b("1"), -1);
        w.create("/p/missed", NONE, OPEN, CreateMode.PERSISTENT);
        w.setData("/p2", b("1"), -1);
        List<Op> sets = new ArrayList<>();
        Set<String> bigChanged = new HashSet<>();
        for (int i = 0; i < bigCount; i += 2) {
            sets.add(Op.setData(big.get(i), b("1"), -1));
            bigChanged.add(EventType.NodeDataChanged + " " + big.get(i));
        }
        w.multi(sets);
        proxyControl("restore");
        for (Session x : new Session[] {a, bs, cs, ds}) {
            x.state.expectState(KeeperState.SyncConnected);
        }

        step("the watches see what they missed");
        // DataTree.setWatches: a data watch fires NodeDataChanged if mzxid > the client's last
        // zxid, NodeDeleted if the node is gone; an exists watch NodeCreated if the node is
        // there; a child watch NodeChildrenChanged if pzxid > the last zxid. A node deleted and
        // created again is a data change; a child added and removed again is a children change;
        // a node created and deleted again is nothing. The auth A added is sent again before its
        // watches, so the ACL of /r/private does not stand in the way.
        ea.expectSet(EventType.NodeDataChanged, "/r/data",
                EventType.NodeDataChanged, "/r/private",
                EventType.NodeDeleted, "/r/deleted",
                EventType.NodeDataChanged, "/r/recreated",
                EventType.NodeCreated, "/r/created",
                EventType.NodeChildrenChanged, "/r/kids",
                EventType.NodeChildrenChanged, "/r/kids2");
        ea.quiet(a.zk);
        eb.expect(EventType.NodeDataChanged, "/p/x");
        // The Java client hands that event to every watcher of /p/x it holds, the recursive one
        // on /p too. But persistent watches are only re-registered: ZooKeeper 3.8 does not
        // replay what they missed (/p/missed was created, /p2 was set).
        rb.expect(EventType.NodeDataChanged, "/p/x");
        rb.quiet(bs.zk);
        pb.quiet(bs.zk);
        // The chroot is added to the paths of setWatches and taken off the events.
        ec.expectSet(EventType.NodeDataChanged, "/c1", EventType.NodeCreated, "/c2");
        ec.quiet(cs.zk);
        Set<String> got = new HashSet<>();
        for (int i = 0; i < bigChanged.size(); i++) {
            WatchedEvent e = ed.next("event " + (i + 1) + " of " + bigChanged.size());
            got.add(e.getType() + " " + e.getPath());
        }
        check(got.equals(bigChanged), "D's events after the reconnect: " + got.size() + " distinct of "
                + bigChanged.size() + " expected; missing e.g. "
                + bigChanged.stream().filter(x -> !got.contains(x)).findFirst().orElse("none"));
        ed.quiet(ds.zk);

        step("the unchanged watches were re-registered and fire once");
        w.setData("/r/same", b("1"), -1);
        w.create("/r/later", NONE, OPEN, CreateMode.PERSISTENT);
        w.create("/r/blink", NONE, OPEN, CreateMode.PERSISTENT);
        w.setData("/r/data", b("2"), -1);
        ea.expect(EventType.NodeDataChanged, "/r/same");
        ea.expect(EventType.NodeCreated, "/r/later");
        ea.expect(EventType.NodeCreated, "/r/blink");
        ea.quiet(a.zk);
        w.setData("/p/x", b("2"), -1);
        w.setData("/p2", b("2"), -1);
        w.setData("/p2", b("3"), -1);
        rb.expect(EventType.NodeDataChanged, "/p/x");
        pb.expect(EventType.NodeDataChanged, "/p2");
        pb.expect(EventType.NodeDataChanged, "/p2");
        eb.quiet(bs.zk);
        rb.quiet(bs.zk);
        pb.quiet(bs.zk);
        sets.clear();
        Set<String> rest = new HashSet<>();
        for (int i = 1; i < bigCount; i += 2) {
            sets.add(Op.setData(big.get(i), b("1"), -1));
            rest.add(EventType.NodeDataChanged + " " + big.get(i));
        }
        w.multi(sets);
        got.clear();
        for (int i = 0; i < rest.size(); i++) {
            WatchedEvent e = ed.next("event " + (i + 1) + " of " + rest.size());
            got.add(e.getType() + " " + e.getPath());
        }
        check(got.equals(rest), "D's events for the nodes unchanged during the cut");
        ed.quiet(ds.zk);
        for (Session x : new Session[] {a, bs, cs, ds}) {
            x.state.quiet(x.zk);
        }
        eq(b("2"), a.zk.getData("/r/data", false, null), "A reads after the reconnect");
        eq(b("1"), cs.zk.getData("/c1", false, null), "C reads /c1 (/r/c1) after the reconnect");
        for (Session x : new Session[] {a, bs, cs, ds}) {
            x.zk.close();
        }

        step("a session moves to a new connection while the server still holds the old one open");
        // The proxy cuts only the client's side: the server sees no close on the old connection
        // and fires a watch there. ZooKeeper closes the old connection when the session
        // reconnects (ZooKeeperServer.processConnectRequest: closeSession of the old cnxn); when
        // the old connection finally closes, the session, its ephemerals and the watches set on
        // the new connection must not be affected.
        for (String p : new String[] {"/mv", "/mv/a", "/mv2"}) {
            w.create(p, b("0"), OPEN, CreateMode.PERSISTENT);
        }
        Session m = new Session("M (moved)", proxy, TIMEOUT_MS);
        m.zk.create("/mv/e", NONE, OPEN, CreateMode.EPHEMERAL);
        Events em = new Events("M's watcher");
        Events pm = new Events("M's persistent watcher");
        m.zk.getData("/mv/a", em, null);
        m.zk.getChildren("/mv", em);
        m.zk.addWatch("/mv2", pm, AddWatchMode.PERSISTENT);
        proxyControl("detach");
        m.state.expectState(KeeperState.Disconnected);
        w.setData("/mv/a", b("1"), -1);
        proxyControl("restore");
        m.state.expectState(KeeperState.SyncConnected);
        em.expect(EventType.NodeDataChanged, "/mv/a");
        em.quiet(m.zk);
        pm.quiet(m.zk);
        proxyControl("release");
        m.zk.getData("/mv/a", em, null);
        w.setData("/mv/a", b("2"), -1);
        w.create("/mv/b", NONE, OPEN, CreateMode.PERSISTENT);
        w.setData("/mv2", b("1"), -1);
        em.expectSet(EventType.NodeDataChanged, "/mv/a", EventType.NodeChildrenChanged, "/mv");
        pm.expect(EventType.NodeDataChanged, "/mv2");
        em.quiet(m.zk);
        pm.quiet(m.zk);
        m.state.quiet(m.zk);
        eq(Arrays.asList("/mv/e"), m.zk.getEphemerals(), "M's ephemerals after the old connection closed");
        eq(m.zk.getSessionId(), stat(w, "/mv/e").getEphemeralOwner(), "/mv/e's owner");
        eq(ZooKeeper.States.CONNECTED, m.zk.getState(), "M's state");
        m.zk.close();
        eq(null, w.exists("/mv/e", false), "/mv/e after M's close");
        w.close();
    }

    // -----------------------------------------------------------------------------------------
    // Session expiry through the test's proxy

    static void expiry() throws Exception {
        if (proxy == null) {
            fail("the expiry group needs a proxy address");
        }
        ZooKeeper w = connect("observer (direct)");
        Session e = new Session("short session", proxy, 2000);
        long sid = e.zk.getSessionId();
        byte[] pwd = e.zk.getSessionPasswd();
        check(e.zk.getSessionTimeout() <= 2000, "negotiated timeout " + e.zk.getSessionTimeout());
        e.zk.create("/eph", b("e"), OPEN, CreateMode.EPHEMERAL);
        eq(sid, stat(w, "/eph").getEphemeralOwner(), "ephemeralOwner");
        w.create("/dir", NONE, OPEN, CreateMode.PERSISTENT);
        String seq = e.zk.create("/dir/es-", NONE, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL);
        e.zk.multi(Arrays.asList(Op.create("/dir/m", NONE, OPEN, CreateMode.EPHEMERAL)));
        eq(Arrays.asList("/dir/es-0000000000", "/dir/m", "/eph"), sorted(e.zk.getEphemerals()), "the session's ephemerals");

        step("a wrong password for a live session is refused as expired, the session lives on");
        Events wrong = new Events("wrong password", true);
        byte[] bad = pwd.clone();
        bad[0] ^= 1;
        ZooKeeper z2 = new ZooKeeper(server, 1000, wrong, sid, bad);
        wrong.expectState(KeeperState.Expired);
        z2.close();
        check(w.exists("/eph", false) != null, "/eph after a wrong-password attempt");

        step("cut the session off until it expires");
        Events ew = new Events("observer's watch on /eph");
        Events dw = new Events("observer's child watch on /dir");
        check(w.exists("/eph", ew) != null, "/eph exists");
        eq(Arrays.asList("es-0000000000", "m"), sorted(w.getChildren("/dir", dw)), "children of /dir");
        proxyControl("cut");
        e.state.expectState(KeeperState.Disconnected);
        ew.expect(EventType.NodeDeleted, "/eph");
        dw.expect(EventType.NodeChildrenChanged, "/dir");
        eq(null, w.exists("/eph", false), "/eph after expiry");
        eq(Collections.emptyList(), w.getChildren("/dir", false), "children of /dir after expiry");
        Stat dir = stat(w, "/dir");
        eq(4, dir.getCversion(), "/dir cversion (two creates, two deletes)");
        // The ephemerals of a session go in one closeSession txn.
        eq(stat(w, "/").getPzxid(), dir.getPzxid(), "/ and /dir were changed by the same txn");
        proxyControl("restore");
        e.state.expectState(KeeperState.Expired);
        eq(ZooKeeper.States.CLOSED, e.zk.getState(), "state after Expired");
        expectThrows(KeeperException.SessionExpiredException.class, "op on the expired session",
                () -> e.zk.exists("/", false));
        e.zk.close();

        step("reconnecting with the expired session id is refused as expired");
        Events again = new Events("expired id", true);
        ZooKeeper z3 = new ZooKeeper(server, 1000, again, sid, pwd);
        again.expectState(KeeperState.Expired);
        z3.close();
        w.close();
    }
}
