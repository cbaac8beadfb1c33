//! Every bound the server enforces, in one place, with the relations between them checked at
//! compile time.

/// ZooKeeper's default `jute.maxbuffer`: the largest znode data and the largest record field.
pub const JUTE_MAXBUFFER_DEFAULT: usize = 0xfffff;

/// ZooKeeper accepts a whole request frame up to maxbuffer plus this extra (default = maxbuffer),
/// so a znode of maxbuffer bytes still fits with its path and header.
pub const JUTE_MAXBUFFER_EXTRA_DEFAULT: usize = JUTE_MAXBUFFER_DEFAULT;

/// Replies and events queued for one connection's writer before the connection is cut as a slow
/// consumer (its session survives; the client reconnects).
pub const CONN_SEND_QUEUE_MAX: usize = 16 * 1024;

/// Requests queued from all connections to the prep stage (back-pressure on readers beyond it).
pub const PREP_QUEUE_MAX: usize = 64 * 1024;

/// Items queued into the commit thread.
pub const COMMIT_QUEUE_MAX: usize = 64 * 1024;

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
