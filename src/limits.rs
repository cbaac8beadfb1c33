//! Every bound the server enforces, in one place, with the relations between them checked at
//! compile time.

/// ZooKeeper's default `jute.maxbuffer`: the largest znode data and the largest record field.
pub const JUTE_MAXBUFFER_DEFAULT: usize = 0xfffff;

/// ZooKeeper lets a record field inside a frame reach maxbuffer plus this extra; the frame itself
/// is limited to maxbuffer ("Len error"), as checked against ZooKeeper 3.8.
pub const JUTE_MAXBUFFER_EXTRA_DEFAULT: usize = JUTE_MAXBUFFER_DEFAULT;

/// Requests one connection may have in the pipeline before its reader stops reading (ZooKeeper
/// throttles readers the same way with `globalOutstandingLimit`).
pub const CONN_OUTSTANDING_MAX: usize = 128;

/// Reply bytes queued for one connection's writer before its reader stops reading: a client that
/// pipelines requests but never reads its replies cannot make the server buffer without bound.
pub const CONN_QUEUED_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Replies and events queued for one connection's writer before the connection is cut as a slow
/// consumer (its session survives; the client reconnects).
pub const CONN_SEND_QUEUE_MAX: usize = 16 * 1024;

/// Requests queued from all connections to the prep stage (back-pressure on readers beyond it).
/// Bounded channels preallocate their slots (about 180 bytes each), so this is also idle
/// memory: 2k slots keep prep and commit busy (they drain in batches) for ~400 KB each.
pub const PREP_QUEUE_MAX: usize = 2 * 1024;

/// Items queued into the commit thread.
pub const COMMIT_QUEUE_MAX: usize = 2 * 1024;

/// Bytes a connection writer gathers into one write(2).
pub const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// Length of a session password (ConnectResponse.passwd).
pub const SESSION_PASSWD_LEN: usize = 16;

/// Four-letter-word commands are read as the first 4 bytes of a connection.
pub const FOUR_LETTER_LEN: usize = 4;

/// The longest `host:port` we accept in zoo.cfg.
pub const CONFIG_LINE_MAX: usize = 64 * 1024;

const _: () = assert!(JUTE_MAXBUFFER_EXTRA_DEFAULT >= 1024);
const _: () = assert!(WRITE_BATCH_BYTES >= 64 * 1024);
const _: () = assert!(CONN_SEND_QUEUE_MAX >= 1024);
