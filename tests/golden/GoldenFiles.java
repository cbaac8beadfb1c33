// Writes a txn log and a snapshot with Apache ZooKeeper's own classes, as fixtures for Rookery's
// storage tests (tests/storage_golden.rs). Run by tests/golden/generate.sh.
//
// Log: preAllocSize=16 KiB; txns 0x100000001 create /a "x" (session 0x1234, time 1700000000000),
//      0x100000002 setData /a "yz" version 1, 0x100000003 create /a/e ephemeral (owner 0x1234),
//      0x100000004 delete /a/e.
// Snapshot: the tree after the first txn, sessions {0x1234: 30000}, written by FileSnap.
import org.apache.zookeeper.server.persistence.*;
import org.apache.zookeeper.server.*;
import org.apache.zookeeper.txn.*;
import org.apache.zookeeper.*;
import java.io.*;
import java.util.*;

public class GoldenFiles {
  public static void main(String[] args) throws Exception {
    System.setProperty("zookeeper.preAllocSize", "16");
    File dir = new File(args[0]);
    dir.mkdirs();
    FileTxnLog log = new FileTxnLog(dir);
    long t = 1700000000000L;
    log.append(new TxnHeader(0x1234L, 1, 0x100000001L, t, ZooDefs.OpCode.create),
        new CreateTxn("/a", "x".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, false, 1));
    log.append(new TxnHeader(0x1234L, 2, 0x100000002L, t + 1, ZooDefs.OpCode.setData),
        new SetDataTxn("/a", "yz".getBytes(), 1));
    log.append(new TxnHeader(0x1234L, 3, 0x100000003L, t + 2, ZooDefs.OpCode.create),
        new CreateTxn("/a/e", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, true, 1));
    log.append(new TxnHeader(0x1234L, 4, 0x100000004L, t + 3, ZooDefs.OpCode.delete),
        new DeleteTxn("/a/e"));
    log.commit();
    log.close();
    DataTree dt = new DataTree();
    Map<Long, Integer> sessions = new HashMap<>();
    sessions.put(0x1234L, 30000);
    dt.createNode("/a", "x".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, 0, 1, 0x100000001L, t);
    new FileSnap(dir).serialize(dt, sessions, new File(dir, "snapshot.100000001"), true);
    System.out.println("tree digest after /a: " + dt.getTreeDigest());
  }
}
