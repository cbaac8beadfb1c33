/*
 * Golden vectors for Rookery's election codec and vote order (src/election/{wire,vote}.rs),
 * checked by tests/election_sim.rs. Run it through tests/golden/generate_election.sh.
 *
 * This class lives in ZooKeeper's own package, org.apache.zookeeper.server.quorum, so that it can
 * call the package-private FastLeaderElection.buildMsg (the exact bytes a 3.8 server puts on the
 * election port) and the protected FastLeaderElection.totalOrderPredicate (the vote order) of the
 * real 3.8 jar; the jar is not sealed, so a class on the class path may join the package.
 *
 * QuorumCnxManager writes its connection initial message inline in startConnection(), on a live
 * socket, so that writer cannot be called. Those vectors are written here with DataOutputStream in
 * the order startConnection uses (long protocolVersion, long sid, int length, UTF-8 "host:port"),
 * and every one of them is then fed to the real public parser, QuorumCnxManager.InitialMessage.parse:
 * the accepted ones must parse to the sid and addresses we meant, and the Reject* ones must be
 * refused. A mismatch aborts the run.
 *
 * Fixtures (one line of lowercase hex each, in <outDir>/<Name>.hex):
 *
 *   NotificationV2Following   buildMsg(1 FOLLOWING, leader 3, zxid 0x0000000500000007, electionEpoch 0x12,
 *                             peerEpoch 5, QV)    where QV = UTF-8 of QuorumMaj(QV_PROPS).toString()
 *   NotificationV2Looking     buildMsg(0 LOOKING, Long.MIN_VALUE x3 for leader/zxid/peerEpoch (what an
 *                             observer proposes), electionEpoch 1, empty config)
 *   NotificationV2Leading     buildMsg(2 LEADING, leader 0x0102030405060708, zxid -1, electionEpoch
 *                             Long.MAX_VALUE, peerEpoch 0, config "x")
 *   NotificationV1            buildMsg(3 OBSERVING, 2, 0x0000000400000009, 7, 4)  (the 40-byte form, version 1)
 *   Notification28            the pre-ZOOKEEPER-107 28-byte form: int 0, long 2, long 0x0000000700000002,
 *                             long 9 (no peerEpoch: a receiver derives 7 from the zxid)
 *   QuorumVerifier            QV itself, as text (for the test to check the config bytes it decodes)
 *   InitialMessageV1          -65536, sid 2, "127.0.0.1:3888"
 *   InitialMessageV2          -65535, sid 3, "10.0.0.3:3888|[::1]:3889"
 *   InitialMessageObserver    -65536, sid Long.MAX_VALUE (QuorumPeer.OBSERVER_ID), "192.168.1.4:3888"
 *   InitialMessageMaxLength   -65536, sid 1, a 2048-byte "h...h:3888" (the longest accepted)
 *   InitialMessageBareSid     the single long 5 (pre-3.4.6 peers send only their sid)
 *   RejectInitialMessageTooLong     -65536, sid 1, length 2049 (+ 2049 bytes)
 *   RejectInitialMessageEmpty       -65536, sid 1, length 0
 *   RejectInitialMessageNegative    -65536, sid 1, length -1
 *   RejectInitialMessageVersion     -65534, sid 1, "127.0.0.1:3888"
 *   RejectInitialMessageNoPort      -65536, sid 1, "127.0.0.1"
 *   RejectInitialMessageBadPort     -65536, sid 1, "127.0.0.1:x"
 *   RejectInitialMessageShort       -65536, sid 1, length 14, only 4 bytes follow
 *
 * total_order.txt: one line per (new, cur) pair over a small grid, "newId newZxid newEpoch curId
 * curZxid curEpoch result" in decimal, result 1 or 0 from totalOrderPredicate of a
 * FastLeaderElection whose QuorumVerifier is QuorumHierarchical with weight.4=0 (server 4 never
 * wins), so the weight rule is covered too.
 */
package org.apache.zookeeper.server.quorum;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.zookeeper.server.quorum.flexible.QuorumHierarchical;
import org.apache.zookeeper.server.quorum.flexible.QuorumMaj;

public class GoldenElection {

    static File outDir;

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder();
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        return s.toString();
    }

    static void emit(String name, byte[] bytes) throws IOException {
        Files.write(new File(outDir, name + ".hex").toPath(), (hex(bytes) + "\n").getBytes(StandardCharsets.US_ASCII));
        System.out.println("  " + name + " (" + bytes.length + " bytes)");
    }

    static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.capacity()];
        b.rewind();
        b.get(out);
        return out;
    }

    /** The initial message in startConnection's order; len overrides the length field if not null. */
    static byte[] initial(long version, long sid, byte[] addr, Integer len) throws IOException {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        DataOutputStream dout = new DataOutputStream(bo);
        dout.writeLong(version);
        dout.writeLong(sid);
        dout.writeInt(len == null ? addr.length : len);
        dout.write(addr);
        dout.flush();
        return bo.toByteArray();
    }

    /** Feeds bytes to the real parser the way handleConnection does: first long, then parse. */
    static QuorumCnxManager.InitialMessage parse(byte[] b) throws Exception {
        DataInputStream din = new DataInputStream(new ByteArrayInputStream(b));
        long first = din.readLong();
        if (first >= 0) {
            return new QuorumCnxManager.InitialMessage(first, new ArrayList<>());
        }
        return QuorumCnxManager.InitialMessage.parse(first, din);
    }

    static void accept(String name, byte[] b, long sid, String... addrs) throws Exception {
        QuorumCnxManager.InitialMessage m = parse(b);
        List<String> got = new ArrayList<>();
        for (InetSocketAddress a : m.electionAddr) {
            got.add(a.getHostString() + ":" + a.getPort());
        }
        if (m.sid != sid || !got.equals(List.of(addrs))) {
            throw new AssertionError(name + ": ZooKeeper parsed sid " + m.sid + " addrs " + got);
        }
        emit(name, b);
    }

    static void reject(String name, byte[] b) throws Exception {
        try {
            parse(b);
        } catch (QuorumCnxManager.InitialMessage.InitialMessageException | IOException e) {
            System.out.println("  (ZooKeeper refuses " + name + ": " + e.getMessage() + ")");
            emit(name, b);
            return;
        }
        throw new AssertionError(name + ": ZooKeeper accepted it");
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static void main(String[] args) throws Exception {
        outDir = new File(args[0]);
        outDir.mkdirs();

        Properties qvProps = new Properties();
        qvProps.setProperty("server.1", "127.0.0.1:2888:3888:participant;127.0.0.1:2181");
        qvProps.setProperty("server.2", "127.0.0.2:2888:3888:participant;127.0.0.1:2182");
        qvProps.setProperty("server.3", "127.0.0.3:2888:3888:participant;127.0.0.1:2183");
        qvProps.setProperty("server.4", "127.0.0.4:2888:3888:observer;127.0.0.1:2184");
        qvProps.setProperty("version", "100000000");
        byte[] qv = utf8(new QuorumMaj(qvProps).toString());
        emit("QuorumVerifier", qv);

        emit("NotificationV2Following", bytes(FastLeaderElection.buildMsg(1, 3, 0x0000000500000007L, 0x12, 5, qv)));
        emit("NotificationV2Looking",
             bytes(FastLeaderElection.buildMsg(0, Long.MIN_VALUE, Long.MIN_VALUE, 1, Long.MIN_VALUE, new byte[0])));
        emit("NotificationV2Leading",
             bytes(FastLeaderElection.buildMsg(2, 0x0102030405060708L, -1, Long.MAX_VALUE, 0, utf8("x"))));
        emit("NotificationV1", bytes(FastLeaderElection.buildMsg(3, 2, 0x0000000400000009L, 7, 4)));
        ByteBuffer old = ByteBuffer.allocate(28);
        old.putInt(0).putLong(2).putLong(0x0000000700000002L).putLong(9);
        emit("Notification28", bytes(old));

        accept("InitialMessageV1", initial(-65536L, 2, utf8("127.0.0.1:3888"), null), 2, "127.0.0.1:3888");
        accept("InitialMessageV2", initial(-65535L, 3, utf8("10.0.0.3:3888|[::1]:3889"), null), 3,
               "10.0.0.3:3888", "0:0:0:0:0:0:0:1:3889");
        accept("InitialMessageObserver", initial(-65536L, Long.MAX_VALUE, utf8("192.168.1.4:3888"), null),
               Long.MAX_VALUE, "192.168.1.4:3888");
        String longHost = "h".repeat(2048 - ":3888".length());
        accept("InitialMessageMaxLength", initial(-65536L, 1, utf8(longHost + ":3888"), null), 1, longHost + ":3888");
        ByteBuffer bare = ByteBuffer.allocate(8);
        bare.putLong(5);
        accept("InitialMessageBareSid", bytes(bare), 5);

        reject("RejectInitialMessageTooLong", initial(-65536L, 1, utf8("h".repeat(2049 - 5) + ":3888"), null));
        reject("RejectInitialMessageEmpty", initial(-65536L, 1, new byte[0], null));
        reject("RejectInitialMessageNegative", initial(-65536L, 1, new byte[0], -1));
        reject("RejectInitialMessageVersion", initial(-65534L, 1, utf8("127.0.0.1:3888"), null));
        reject("RejectInitialMessageNoPort", initial(-65536L, 1, utf8("127.0.0.1"), null));
        reject("RejectInitialMessageBadPort", initial(-65536L, 1, utf8("127.0.0.1:x"), null));
        reject("RejectInitialMessageShort", initial(-65536L, 1, utf8("1.2."), 14));

        // The vote order, from the real predicate. Server 4 has weight 0.
        Properties hq = new Properties();
        for (int i = 1; i <= 4; i++) {
            hq.setProperty("server." + i, "127.0.0." + i + ":2888:3888:participant");
        }
        hq.setProperty("group.1", "1:2:3:4");
        hq.setProperty("weight.1", "1");
        hq.setProperty("weight.2", "1");
        hq.setProperty("weight.3", "1");
        hq.setProperty("weight.4", "0");
        QuorumPeer peer = new QuorumPeer();
        peer.setQuorumVerifier(new QuorumHierarchical(hq), false);
        FastLeaderElection fle = new FastLeaderElection(peer, null);
        // An id without a weight (an observer's Long.MIN_VALUE) is only ever the current vote: as a
        // candidate, QuorumHierarchical.getWeight would throw, and FLE never proposes it.
        long[] newIds = {1, 3, 4};
        long[] curIds = {1, 3, 4, Long.MIN_VALUE};
        long[] zxids = {-1, 0x0000000500000007L, 0x0000000500000008L, Long.MIN_VALUE};
        long[] epochs = {4, 5, Long.MIN_VALUE};
        StringBuilder table = new StringBuilder();
        int rows = 0;
        for (long nid : newIds) {
            for (long nz : zxids) {
                for (long ne : epochs) {
                    for (long cid : curIds) {
                        for (long cz : zxids) {
                            for (long ce : epochs) {
                                boolean r = fle.totalOrderPredicate(nid, nz, ne, cid, cz, ce);
                                table.append(nid).append(' ').append(nz).append(' ').append(ne).append(' ')
                                     .append(cid).append(' ').append(cz).append(' ').append(ce).append(' ')
                                     .append(r ? 1 : 0).append('\n');
                                rows++;
                            }
                        }
                    }
                }
            }
        }
        Files.write(new File(outDir, "total_order.txt").toPath(), table.toString().getBytes(StandardCharsets.US_ASCII));
        System.out.println("  total_order.txt (" + rows + " rows)");
    }
}
