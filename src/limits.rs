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

/// How many client connections a host with these kernel settings can carry. Each connection is
/// two threads, and a thread costs the kernel about four memory mappings (stack, guard page,
/// signal stack and its guard) and a pid: past `vm.max_map_count` (65530 by default: ~7,700
/// connections) a new thread cannot set up and the runtime aborts the whole process, so the
/// listener refuses connections beyond this instead. Headroom is kept for the server's other
/// threads, its heap and its mapped files.
pub fn connection_capacity(max_map_count: usize, pid_max: usize, threads_max: usize) -> usize {
    let by_maps = max_map_count.saturating_sub(4_000) / 8;
    let by_pids = pid_max.min(threads_max).saturating_sub(2_000) / 2;
    by_maps.min(by_pids).max(64)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_capacity_follows_the_scarcest_kernel_resource() {
        // Debian's defaults: memory mappings run out first (the abort seen at ~8,000).
        assert_eq!(connection_capacity(65_530, 32_768, 192_686), 7_691);
        // Raised max_map_count: then pids.
        assert_eq!(connection_capacity(1_048_576, 32_768, 192_686), 15_384);
        assert_eq!(connection_capacity(1_048_576, 4_194_304, 20_000), 9_000);
        // Absurdly low settings still leave a working server.
        assert_eq!(connection_capacity(100, 100, 100), 64);
    }
}
