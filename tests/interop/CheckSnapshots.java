// Loads every snapshot of a version-2 directory the way a ZooKeeper 3.8 server does, and checks
// its digest. Used by tests/zk_interop.rs (compiled there with javac against Debian's jars).
//
// SnapshotFormatter parses a snapshot but checks neither its Adler-32 seals nor its digest. For
// each snapshot.<zxid> this runs FileSnap.deserialize (the server's loader: header, sessions,
// ACL map, nodes, seal, ZxidDigest, second seal; an unusable file makes it return -1), then
// replays the txn log after <zxid> with DataTree.processTxn, which compares the tree with the
// snapshot's recorded digest when it reaches the digest's zxid (ZooKeeper's fuzzy-snapshot check)
// and with each txn's logged TxnDigest. Mismatches are counted through a DigestWatcher.
//
// Usage: java CheckSnapshots <version-2 dir>
// Prints per snapshot:
//   OK snapshot.<hex> nodes=N sessions=N digest_zxid=0x.. replayed=N reached_digest=B mismatches=N
// or "BAD snapshot.<hex> <reason>"; exits 1 if any is BAD.

import java.io.File;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.apache.zookeeper.server.DataTree;
import org.apache.zookeeper.server.persistence.FileSnap;
import org.apache.zookeeper.server.persistence.FileTxnLog;
import org.apache.zookeeper.server.persistence.TxnLog;
import org.apache.zookeeper.server.persistence.Util;

public class CheckSnapshots {
    public static void main(String[] args) throws Exception {
        File dir = new File(args[0]);
        File[] snaps = dir.listFiles((d, n) -> n.startsWith("snapshot.") && !n.endsWith(".tmp"));
        Arrays.sort(snaps, (a, b) -> Long.compare(zxidOf(a), zxidOf(b)));
        boolean bad = false;
        for (File snap : snaps) {
            try {
                System.out.println(check(dir, snap));
            } catch (Exception e) {
                bad = true;
                System.out.println("BAD " + snap.getName() + " " + e);
                e.printStackTrace(System.out);
            }
        }
        System.out.flush();
        System.exit(bad ? 1 : 0);
    }

    static long zxidOf(File f) {
        return Util.getZxidFromName(f.getName(), "snapshot");
    }

    static String check(File dir, File snap) throws Exception {
        long zxid = zxidOf(snap);
        // FileSnap loads the newest valid snapshot of a directory: give it one holding only this.
        Path alone = Files.createTempDirectory("checksnap");
        Path copy = alone.resolve(snap.getName());
        Files.copy(snap.toPath(), copy);
        DataTree dt = new DataTree();
        long[] mismatches = {0};
        dt.addDigestWatcher(z -> mismatches[0]++);
        Map<Long, Integer> sessions = new HashMap<>();
        long loaded;
        try {
            loaded = new FileSnap(alone.toFile()).deserialize(dt, sessions);
        } finally {
            Files.delete(copy);
            Files.delete(alone);
        }
        if (loaded != zxid) {
            throw new Exception("FileSnap.deserialize found no valid snapshot (returned 0x" + Long.toHexString(loaded) + ")");
        }
        // ZxidDigest{long zxid; int version; long digest} + seal{long adler; ustring "/"} end the file.
        long digestZxid;
        try (RandomAccessFile f = new RandomAccessFile(snap, "r")) {
            f.seek(f.length() - 33);
            digestZxid = f.readLong();
        }
        long replayed = 0;
        boolean reached = digestZxid == zxid;
        TxnLog.TxnIterator it = new FileTxnLog(dir).read(zxid + 1);
        try {
            while (it.getHeader() != null) {
                if (it.getHeader().getZxid() > zxid) {
                    dt.processTxn(it.getHeader(), it.getTxn(), it.getDigest());
                    replayed++;
                    reached |= it.getHeader().getZxid() == digestZxid;
                }
                if (!it.next()) {
                    break;
                }
            }
        } finally {
            it.close();
        }
        return String.format("OK %s nodes=%d sessions=%d digest_zxid=0x%x replayed=%d reached_digest=%b mismatches=%d",
                snap.getName(), dt.getNodeCount(), sessions.size(), digestZxid, replayed, reached, mismatches[0]);
    }
}
