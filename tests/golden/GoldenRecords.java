/*
 * Golden jute vectors for Rookery's codec tests (tests/golden_jute.rs).
 *
 * Serializes one instance of every record our src/jute/{data,proto,txn,quorum}.rs declares, using
 * the real Apache ZooKeeper 3.8 classes and org.apache.jute.BinaryOutputArchive, and writes each
 * as one line of lowercase hex to <outDir>/<Name>.hex. Fixture names are our Rust type names
 * (GetAclRequest = Java GetACLRequest, CreateTtlTxn = Java CreateTTLTxn, ...), plus a suffix for
 * variants. Run it through tests/golden/generate.sh.
 *
 * Values (mirrored by tests/golden_jute.rs; change both together):
 *
 *   P        = "/\u00e9"  ("/é", UTF-8 2f c3 a9)
 *   DATA     = bytes 00 ff 10 80 7f
 *   ACLS     = [ACL(31, Id("world","anyone")), ACL(5, Id("digest","us\u00e9r:Zm9v+/=="))]
 *   STAT     = Stat(czxid 0x1122334455667788, mzxid -0x0123456789abcdef, ctime 1700000000001,
 *                   mtime 1700000000002, version -3, cversion 0x7fffffff, aversion Integer.MIN_VALUE,
 *                   ephemeralOwner Long.MIN_VALUE (0x8000000000000000), dataLength 0x01020304,
 *                   numChildren 7, pzxid Long.MAX_VALUE)
 *   STATP    = StatPersisted with STAT's nine shared fields
 *   SID      = 0xff00017f6a3b0002 (negative long)
 *   PW_REQ   = 16 bytes 10 11 .. 1f            PW_RESP = 16 bytes f0 f1 .. ff
 *   HOST     = "zk/h\u00f6st@EXAMPLE.COM"
 *
 * data
 *   Id                  Id("ip", "10.0.0.0/8")
 *   Acl                 ACL(27, Id("digest", "us\u00e9r:Zm9v+/=="))
 *   Stat                STAT
 *   StatPersisted       STATP
 *   ClientInfo          ClientInfo("sasl", HOST)
 * proto
 *   ConnectRequest             ConnectRequest(0x0a0b0c0d, 0x0000000500000007, 30000, SID, PW_REQ) + writeBool(true)  (45 bytes)
 *   ConnectRequestNoReadOnly   the same without the trailing bool                                (44 bytes)
 *   ConnectResponse            ConnectResponse(-2, 40000, SID, PW_RESP) + writeBool(true)         (37 bytes)
 *   ConnectResponseNoReadOnly  the same without the trailing bool                                (36 bytes)
 *   RequestHeader              (0x01020304, 5)      RequestHeaderPing         (-2, 11)
 *   RequestHeaderAuth          (-4, 100)            RequestHeaderSetWatches2  (-8, 105)
 *   RequestHeaderCloseSession  (0x7fffffff, -11)
 *   ReplyHeader                (0x01020304, 0x0000000500000007, 0)
 *   ReplyHeaderNotification    (-1, -1, 0)          ReplyHeaderPing           (-2, 0x0000000500000007, 0)
 *   ReplyHeaderError           (77, 0x0000000900000001, -101)
 *   ReplyHeaderAuthFailed      (-4, 0x0000000900000001, -115)
 *   FrameGetData               RequestHeader(3, 4) + GetDataRequest(P, true)
 *   FrameGetDataReply          ReplyHeader(3, 0x0000000500000007, 0) + GetDataResponse(DATA, STAT)
 *   FrameNotification          ReplyHeader(-1, -1, 0) + WatcherEvent(3, 3, P)
 *   SetWatches                 (0x00000002fffffffe, ["/é","/a/b"], [], ["/c"])
 *   SetWatchesNullVectors      (16, null, null, null)            decode-only: Java writes count -1
 *   SetWatches2                (0x0000000300000004, ["/d1"], ["/e1","/e2"], ["/c1"], ["/pé"], ["/r1","/r2","/r3"])
 *   AuthPacket                 (3, "digest", UTF-8 of "usér:päss")
 *   MultiHeader                (5, false, -1)       MultiHeaderDone           (-1, true, -1)
 *   GetDataRequest             (P, true)
 *   SetDataRequest             (P, DATA, -1)        SetDataRequestEmptyData   (P, empty, 0x7fffffff)
 *   ReconfigRequest            ("server.4=höst:2888:3888;2181", null, "", -1)
 *   SetDataResponse            (STAT)
 *   GetSaslRequest             (bytes 60 82 01 00 a0)
 *   SetSaslResponse            (null)
 *   CreateRequest              (P, DATA, ACLS, 3)   CreateRequestNullData     ("/n", null, [], 4)
 *   CreateTtlRequest           (P, empty, ACLS, 6, 0xffffffffff)
 *   DeleteRequest              (P, 17)
 *   GetChildrenRequest         (P, false)
 *   GetAllChildrenNumberRequest ("/")
 *   GetChildren2Request        (P, true)
 *   CheckVersionRequest        (P, Integer.MIN_VALUE)
 *   SyncRequest                (P)                  SyncResponse              ("/é/x")
 *   GetAclRequest              ("/zookeeper/config")
 *   SetAclRequest              (P, ACLS, -1)        SetAclResponse            (STAT)
 *   AddWatchRequest            (P, 1)
 *   WatcherEvent               (5, -112, P)
 *   ErrorResponse              (-110)
 *   CreateResponse             ("/é-0000000010")    Create2Response           (P, STAT)
 *   ExistsRequest              (P, true)            ExistsResponse            (STAT)
 *   GetDataResponse            (DATA, STAT)         GetDataResponseNullData   (null, STAT)
 *   GetChildrenResponse        (["a","é","zz-0000000001"])   GetChildrenResponseEmpty ([])
 *   GetAllChildrenNumberResponse (123456789)
 *   GetChildren2Response       (["x","é"], STAT)
 *   GetAclResponse             (ACLS, STAT)
 *   CheckWatchesRequest        (P, 2)               RemoveWatchesRequest      (P, 3)
 *   GetEphemeralsRequest       ("/eph")             GetEphemeralsResponse     (["/eph/1","/é"])
 *   WhoAmIResponse             ([ClientInfo("ip","127.0.0.1"), ClientInfo("sasl", HOST)])
 * txn
 *   TxnHeader           (SID, -5, 0x0000000700000009, 1700000000123, 14)
 *   TxnDigest           (2, 0xcafebabe12345678)
 *   CreateTxnV0         (P, DATA, ACLS, true)
 *   CreateTxn           (P, DATA, ACLS, true, 0x7ffffffe)
 *   CreateTtlTxn        (P, empty, ACLS, 12, 86400000)
 *   CreateContainerTxn  (P, null, ACLS, -7)
 *   DeleteTxn           (P)
 *   SetDataTxn          (P, DATA, 2)
 *   CheckVersionTxn     (P, 9)
 *   SetAclTxn           (P, ACLS, 4)
 *   CreateSessionTxn    (40000)
 *   CloseSessionTxn     (["/eph/1","/é"])
 *   ErrorTxn            (-101)
 *   Txn                 (5, bytes of SetDataTxn above)
 *   MultiTxn            ([Txn(1, CreateTxn), Txn(5, SetDataTxn), Txn(2, DeleteTxn), Txn(13, CheckVersionTxn)])  (the records above)
 *   MultiTxnFailed      ([Txn(-1, ErrorTxn(0)), Txn(-1, ErrorTxn(-101)), Txn(-1, ErrorTxn(-2))])
 * quorum
 *   LearnerInfo         (0x0000000000000103, 0x10000, 0x0000000100000000)
 *   QuorumPacket        (2, 0x0000000500000001, DATA, [Id("ip","127.0.0.1"), Id("digest","u:h")])
 *   QuorumPacketNulls   (3, 0x0000000500000001, null, null)   decode-only: null authinfo is count -1
 * multi (org.apache.zookeeper.MultiOperationRecord / MultiResponse)
 *   MultiRequest        [Op.create(P, DATA, ACLS, 1), Op.setData(P, DATA, 5), Op.delete("/d", -1), Op.check("/c", 3)]
 *   MultiRequestEmpty   []
 *   MultiResponse       [CreateResult("/é"), SetDataResult(STAT), ErrorResult(-101)]
 *   MultiResponseOtherKinds [CreateResult(P, STAT) (= create2), DeleteResult, CheckResult, ErrorResult(0)]
 *   MultiReadRequest    [Op.getChildren(P), Op.getData("/d")]
 *   MultiReadResponse   [GetChildrenResult(["a","é"]), GetDataResult(DATA, STAT), ErrorResult(-101)]
 * strings
 *   UstringCesu8        writeString("/é\uD83D\uDE00\uD800x"): Java encodes UTF-16 units one by one,
 *                       so the emoji is 6 bytes and the lone surrogate 3 (not valid UTF-8)
 */

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

import org.apache.jute.BinaryOutputArchive;
import org.apache.jute.Record;
import org.apache.zookeeper.MultiOperationRecord;
import org.apache.zookeeper.MultiResponse;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.data.StatPersisted;
import org.apache.zookeeper.proto.*;
import org.apache.zookeeper.server.quorum.LearnerInfo;
import org.apache.zookeeper.server.quorum.QuorumPacket;
import org.apache.zookeeper.txn.*;

public final class GoldenRecords {
    static final String P = "/\u00e9";
    static final byte[] DATA = {0x00, (byte) 0xff, 0x10, (byte) 0x80, 0x7f};
    static final List<ACL> ACLS = Arrays.asList(
            new ACL(31, new Id("world", "anyone")),
            new ACL(5, new Id("digest", "us\u00e9r:Zm9v+/==")));
    static final Stat STAT = new Stat(0x1122334455667788L, -0x0123456789abcdefL, 1700000000001L,
            1700000000002L, -3, 0x7fffffff, Integer.MIN_VALUE, Long.MIN_VALUE, 0x01020304, 7,
            Long.MAX_VALUE);
    static final StatPersisted STATP = new StatPersisted(0x1122334455667788L, -0x0123456789abcdefL,
            1700000000001L, 1700000000002L, -3, 0x7fffffff, Integer.MIN_VALUE, Long.MIN_VALUE,
            Long.MAX_VALUE);
    static final long SID = 0xff00017f6a3b0002L;
    static final String HOST = "zk/h\u00f6st@EXAMPLE.COM";

    interface Body {
        void write(BinaryOutputArchive oa) throws IOException;
    }

    static File outDir;
    static int count;

    static byte[] bytes(Body body) throws IOException {
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        body.write(BinaryOutputArchive.getArchive(bo));
        return bo.toByteArray();
    }

    static byte[] bytes(Record r) throws IOException {
        return bytes(oa -> r.serialize(oa, "r"));
    }

    static void emit(String name, Body body) throws IOException {
        byte[] b = bytes(body);
        StringBuilder s = new StringBuilder(b.length * 2 + 1);
        for (byte x : b) {
            s.append(String.format("%02x", x & 0xff));
        }
        s.append('\n');
        Files.write(new File(outDir, name + ".hex").toPath(), s.toString().getBytes(StandardCharsets.US_ASCII));
        System.out.printf("%-30s %4d bytes%n", name, b.length);
        count++;
    }

    static void emit(String name, Record r) throws IOException {
        emit(name, oa -> r.serialize(oa, name));
    }

    static byte[] seq(int from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static List<String> list(String... xs) {
        return new ArrayList<>(Arrays.asList(xs));
    }

    public static void main(String[] args) throws Exception {
        outDir = new File(args.length > 0 ? args[0] : "tests/testdata/jute");
        if (!outDir.isDirectory() && !outDir.mkdirs()) {
            throw new IOException("cannot create " + outDir);
        }
        data();
        proto();
        txn();
        quorum();
        multi();
        emit("UstringCesu8", oa -> oa.writeString("/\u00e9\uD83D\uDE00\uD800x", "s"));
        System.out.println(count + " fixtures written to " + outDir);
    }

    static void data() throws IOException {
        emit("Id", new Id("ip", "10.0.0.0/8"));
        emit("Acl", new ACL(27, new Id("digest", "us\u00e9r:Zm9v+/==")));
        emit("Stat", STAT);
        emit("StatPersisted", STATP);
        emit("ClientInfo", new ClientInfo("sasl", HOST));
    }

    static void proto() throws IOException {
        ConnectRequest creq = new ConnectRequest(0x0a0b0c0d, 0x0000000500000007L, 30000, SID, seq(0x10, 16));
        emit("ConnectRequest", oa -> {
            creq.serialize(oa, "connect");
            oa.writeBool(true, "readOnly");
        });
        emit("ConnectRequestNoReadOnly", creq);
        ConnectResponse cresp = new ConnectResponse(-2, 40000, SID, seq(0xf0, 16));
        emit("ConnectResponse", oa -> {
            cresp.serialize(oa, "connect");
            oa.writeBool(true, "readOnly");
        });
        emit("ConnectResponseNoReadOnly", cresp);

        emit("RequestHeader", new RequestHeader(0x01020304, 5));
        emit("RequestHeaderPing", new RequestHeader(-2, 11));
        emit("RequestHeaderAuth", new RequestHeader(-4, 100));
        emit("RequestHeaderSetWatches2", new RequestHeader(-8, 105));
        emit("RequestHeaderCloseSession", new RequestHeader(0x7fffffff, -11));
        emit("ReplyHeader", new ReplyHeader(0x01020304, 0x0000000500000007L, 0));
        emit("ReplyHeaderNotification", new ReplyHeader(-1, -1L, 0));
        emit("ReplyHeaderPing", new ReplyHeader(-2, 0x0000000500000007L, 0));
        emit("ReplyHeaderError", new ReplyHeader(77, 0x0000000900000001L, -101));
        emit("ReplyHeaderAuthFailed", new ReplyHeader(-4, 0x0000000900000001L, -115));
        emit("FrameGetData", oa -> {
            new RequestHeader(3, 4).serialize(oa, "header");
            new GetDataRequest(P, true).serialize(oa, "request");
        });
        emit("FrameGetDataReply", oa -> {
            new ReplyHeader(3, 0x0000000500000007L, 0).serialize(oa, "header");
            new GetDataResponse(DATA, STAT).serialize(oa, "response");
        });
        emit("FrameNotification", oa -> {
            new ReplyHeader(-1, -1L, 0).serialize(oa, "header");
            new WatcherEvent(3, 3, P).serialize(oa, "response");
        });

        emit("SetWatches", new SetWatches(0x00000002fffffffeL, list(P, "/a/b"), list(), list("/c")));
        emit("SetWatchesNullVectors", new SetWatches(16L, null, null, null));
        emit("SetWatches2", new SetWatches2(0x0000000300000004L, list("/d1"), list("/e1", "/e2"),
                list("/c1"), list("/p\u00e9"), list("/r1", "/r2", "/r3")));
        emit("AuthPacket", new AuthPacket(3, "digest", utf8("us\u00e9r:p\u00e4ss")));
        emit("MultiHeader", new MultiHeader(5, false, -1));
        emit("MultiHeaderDone", new MultiHeader(-1, true, -1));
        emit("GetDataRequest", new GetDataRequest(P, true));
        emit("SetDataRequest", new SetDataRequest(P, DATA, -1));
        emit("SetDataRequestEmptyData", new SetDataRequest(P, new byte[0], 0x7fffffff));
        emit("ReconfigRequest", new ReconfigRequest("server.4=h\u00f6st:2888:3888;2181", null, "", -1L));
        emit("SetDataResponse", new SetDataResponse(STAT));
        emit("GetSaslRequest", new GetSASLRequest(new byte[] {0x60, (byte) 0x82, 0x01, 0x00, (byte) 0xa0}));
        emit("SetSaslResponse", new SetSASLResponse(null));
        emit("CreateRequest", new CreateRequest(P, DATA, ACLS, 3));
        emit("CreateRequestNullData", new CreateRequest("/n", null, new ArrayList<ACL>(), 4));
        emit("CreateTtlRequest", new CreateTTLRequest(P, new byte[0], ACLS, 6, 0xffffffffffL));
        emit("DeleteRequest", new DeleteRequest(P, 17));
        emit("GetChildrenRequest", new GetChildrenRequest(P, false));
        emit("GetAllChildrenNumberRequest", new GetAllChildrenNumberRequest("/"));
        emit("GetChildren2Request", new GetChildren2Request(P, true));
        emit("CheckVersionRequest", new CheckVersionRequest(P, Integer.MIN_VALUE));
        emit("SyncRequest", new SyncRequest(P));
        emit("SyncResponse", new SyncResponse("/\u00e9/x"));
        emit("GetAclRequest", new GetACLRequest("/zookeeper/config"));
        emit("SetAclRequest", new SetACLRequest(P, ACLS, -1));
        emit("SetAclResponse", new SetACLResponse(STAT));
        emit("AddWatchRequest", new AddWatchRequest(P, 1));
        emit("WatcherEvent", new WatcherEvent(5, -112, P));
        emit("ErrorResponse", new ErrorResponse(-110));
        emit("CreateResponse", new CreateResponse("/\u00e9-0000000010"));
        emit("Create2Response", new Create2Response(P, STAT));
        emit("ExistsRequest", new ExistsRequest(P, true));
        emit("ExistsResponse", new ExistsResponse(STAT));
        emit("GetDataResponse", new GetDataResponse(DATA, STAT));
        emit("GetDataResponseNullData", new GetDataResponse(null, STAT));
        emit("GetChildrenResponse", new GetChildrenResponse(list("a", "\u00e9", "zz-0000000001")));
        emit("GetChildrenResponseEmpty", new GetChildrenResponse(list()));
        emit("GetAllChildrenNumberResponse", new GetAllChildrenNumberResponse(123456789));
        emit("GetChildren2Response", new GetChildren2Response(list("x", "\u00e9"), STAT));
        emit("GetAclResponse", new GetACLResponse(ACLS, STAT));
        emit("CheckWatchesRequest", new CheckWatchesRequest(P, 2));
        emit("RemoveWatchesRequest", new RemoveWatchesRequest(P, 3));
        emit("GetEphemeralsRequest", new GetEphemeralsRequest("/eph"));
        emit("GetEphemeralsResponse", new GetEphemeralsResponse(list("/eph/1", P)));
        emit("WhoAmIResponse", new WhoAmIResponse(Arrays.asList(
                new ClientInfo("ip", "127.0.0.1"), new ClientInfo("sasl", HOST))));
    }

    static void txn() throws IOException {
        CreateTxn create = new CreateTxn(P, DATA, ACLS, true, 0x7ffffffe);
        SetDataTxn setData = new SetDataTxn(P, DATA, 2);
        DeleteTxn delete = new DeleteTxn(P);
        CheckVersionTxn check = new CheckVersionTxn(P, 9);
        emit("TxnHeader", new TxnHeader(SID, -5, 0x0000000700000009L, 1700000000123L, 14));
        emit("TxnDigest", new TxnDigest(2, 0xcafebabe12345678L));
        emit("CreateTxnV0", new CreateTxnV0(P, DATA, ACLS, true));
        emit("CreateTxn", create);
        emit("CreateTtlTxn", new CreateTTLTxn(P, new byte[0], ACLS, 12, 86400000L));
        emit("CreateContainerTxn", new CreateContainerTxn(P, null, ACLS, -7));
        emit("DeleteTxn", delete);
        emit("SetDataTxn", setData);
        emit("CheckVersionTxn", check);
        emit("SetAclTxn", new SetACLTxn(P, ACLS, 4));
        emit("CreateSessionTxn", new CreateSessionTxn(40000));
        emit("CloseSessionTxn", new CloseSessionTxn(list("/eph/1", P)));
        emit("ErrorTxn", new ErrorTxn(-101));
        emit("Txn", new Txn(5, bytes(setData)));
        emit("MultiTxn", new MultiTxn(Arrays.asList(
                new Txn(1, bytes(create)), new Txn(5, bytes(setData)),
                new Txn(2, bytes(delete)), new Txn(13, bytes(check)))));
        emit("MultiTxnFailed", new MultiTxn(Arrays.asList(
                new Txn(-1, bytes(new ErrorTxn(0))), new Txn(-1, bytes(new ErrorTxn(-101))),
                new Txn(-1, bytes(new ErrorTxn(-2))))));
    }

    static void quorum() throws IOException {
        emit("LearnerInfo", new LearnerInfo(0x0000000000000103L, 0x10000, 0x0000000100000000L));
        emit("QuorumPacket", new QuorumPacket(2, 0x0000000500000001L, DATA,
                Arrays.asList(new Id("ip", "127.0.0.1"), new Id("digest", "u:h"))));
        emit("QuorumPacketNulls", new QuorumPacket(3, 0x0000000500000001L, null, null));
    }

    static void multi() throws IOException {
        emit("MultiRequest", new MultiOperationRecord(Arrays.asList(
                Op.create(P, DATA, ACLS, 1),
                Op.setData(P, DATA, 5),
                Op.delete("/d", -1),
                Op.check("/c", 3))));
        emit("MultiRequestEmpty", new MultiOperationRecord(Collections.<Op>emptyList()));

        MultiResponse resp = new MultiResponse();
        resp.add(new OpResult.CreateResult(P));
        resp.add(new OpResult.SetDataResult(STAT));
        resp.add(new OpResult.ErrorResult(-101));
        emit("MultiResponse", resp);

        MultiResponse other = new MultiResponse();
        other.add(new OpResult.CreateResult(P, STAT));
        other.add(new OpResult.DeleteResult());
        other.add(new OpResult.CheckResult());
        other.add(new OpResult.ErrorResult(0));
        emit("MultiResponseOtherKinds", other);

        emit("MultiReadRequest", new MultiOperationRecord(Arrays.asList(
                Op.getChildren(P), Op.getData("/d"))));
        MultiResponse read = new MultiResponse();
        read.add(new OpResult.GetChildrenResult(list("a", "\u00e9")));
        read.add(new OpResult.GetDataResult(DATA, STAT));
        read.add(new OpResult.ErrorResult(-101));
        emit("MultiReadResponse", read);
    }
}
