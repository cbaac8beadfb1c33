//! The server's figures for monitoring, and their Prometheus text rendering (the endpoint on
//! `metricsProvider.httpPort`). Pure: the figures are gathered by the threads that own them and
//! handed in.
//!
//! Where the figures come from, and who writes them:
//!
//! | figures | kept by | reaches a scrape |
//! | --- | --- | --- |
//! | tree, watches, sessions, connections, packet counts | the commit thread (it owns them) | the metrics thread asks through prep's inbox, as a four-letter word does, and the commit thread answers a [`Figures`] |
//! | request latency and fsync histograms ([`Recorder`]) | the commit thread, per reply and per group commit | inside the same [`Figures`] |
//! | ensemble figures ([`QuorumFigures`]) | the peer thread, after each step of its cores | the commit thread copies them into the answer (`Shared::quorum`) |
//! | memory, file descriptors, CPU ([`ProcessFigures`]) | the kernel | read from `/proc` by the metrics thread itself |
//!
//! Names are ZooKeeper's wherever ZooKeeper has the figure: its Prometheus names are its `mntr`
//! keys without `zk_` (`znode_count`, `watch_count`, `outstanding_requests`, `readlatency`, ...).
//! Two deliberate differences: `readlatency`, `updatelatency` and `fsynctime` are Prometheus
//! *histograms* with millisecond buckets (ZooKeeper exports summaries with `quantile` series,
//! which cannot be aggregated across servers: use `histogram_quantile` over `*_bucket`), and
//! counters keep ZooKeeper 3.8's names without a `_total` suffix. Process figures use the
//! standard `process_*` names, as ZooKeeper's JVM exports do.

use crate::fourlw::Latency;
use crate::tree::quota::NamespaceQuota;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Bucket upper bounds for request latency, in milliseconds. Latency is measured in whole
/// milliseconds (as ZooKeeper measures it), so `le="1"` holds every request under a millisecond
/// or so.
pub const LATENCY_BUCKETS_MS: &[f64] =
    &[1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0];

/// Bucket upper bounds for one txn-log fsync, in milliseconds (measured in microseconds).
pub const FSYNC_BUCKETS_MS: &[f64] =
    &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 10000.0];

/// A Prometheus histogram: how many observations fell at or under each bound, and their sum.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Upper bounds, increasing; `+Inf` is implied after the last.
    bounds: &'static [f64],
    /// Observations per bucket, not cumulative: `counts[i]` for `bounds[i-1] < v <= bounds[i]`,
    /// the last for `v > bounds[last]`.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "histogram bounds must increase");
        Histogram { bounds, counts: vec![0; bounds.len() + 1], sum: 0.0 }
    }

    pub fn observe(&mut self, value: f64) {
        let i = self.bounds.partition_point(|&b| b < value);
        self.counts[i] += 1;
        self.sum += value;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// (upper bound, observations at or under it), cumulative, ending with `+Inf`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(&self.counts)
            .map(|(b, n)| {
                total += n;
                (b, total)
            })
            .collect()
    }
}

/// What the commit thread records for `/metrics`: never reset (`srst` resets the four-letter
/// words' statistics, not these, as in ZooKeeper with its Prometheus provider).
#[derive(Debug, Clone, PartialEq)]
pub struct Recorder {
    /// Milliseconds from a read's arrival to its reply (pings included, as in ZooKeeper).
    pub read_latency: Histogram,
    /// Milliseconds from a write's arrival to its reply (the txn logged, committed, applied).
    pub update_latency: Histogram,
    /// Milliseconds per txn-log fsync (one per group commit).
    pub fsync_time: Histogram,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder {
            read_latency: Histogram::new(LATENCY_BUCKETS_MS),
            update_latency: Histogram::new(LATENCY_BUCKETS_MS),
            fsync_time: Histogram::new(FSYNC_BUCKETS_MS),
        }
    }
}

impl Recorder {
    pub fn request(&mut self, write: bool, latency_ms: u64) {
        let h = if write { &mut self.update_latency } else { &mut self.read_latency };
        h.observe(latency_ms as f64);
    }

    pub fn fsync(&mut self, took: Duration) {
        self.fsync_time.observe(took.as_secs_f64() * 1000.0);
    }
}

/// ZooKeeper's `BufferStats`: the last, smallest and largest size seen, -1 before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferStats {
    pub last: i64,
    pub min: i64,
    pub max: i64,
}

impl Default for BufferStats {
    fn default() -> BufferStats {
        BufferStats { last: -1, min: -1, max: -1 }
    }
}

impl BufferStats {
    pub fn add(&mut self, size: usize) {
        let size = size as i64;
        self.last = size;
        if self.min < 0 || size < self.min {
            self.min = size;
        }
        self.max = self.max.max(size);
    }
}

/// What only a leader knows (ZooKeeper's `LeaderZooKeeperServer` gauges).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeaderFigures {
    /// Learner connections, in any phase (`learners`).
    pub learners: u64,
    /// Voting followers past synchronisation, receiving proposals (`synced_followers`).
    pub synced_followers: u64,
    /// Observers past synchronisation (`synced_observers`).
    pub synced_observers: u64,
    /// Distinct zxids that learners' client syncs wait for (`pending_syncs`).
    pub pending_syncs: u64,
    /// Serialized size of this leader's proposals (`last_`, `min_`, `max_proposal_size`).
    pub proposal_size: BufferStats,
    /// When this leader began to broadcast, on the server's monotonic clock in ms; None until
    /// a quorum has acknowledged NEWLEADER (`leader_uptime` reads 0 until then).
    pub established_ms: Option<u64>,
}

/// What the peer thread knows about the ensemble. Only the peer thread writes it (in
/// `Shared::quorum`); `mntr`, the admin server and `/metrics` read a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuorumFigures {
    /// Voting members in the configuration (`quorum_size`).
    pub quorum_size: u64,
    /// The elected leader, this server included, once the election is over; None while
    /// looking.
    pub leader_id: Option<u64>,
    /// Some while this server leads.
    pub leader: Option<LeaderFigures>,
    /// Times this server started looking for a leader, the first included (`looking_count`).
    pub looking_count: u64,
    /// Milliseconds from looking to a role, per election (`election_time`).
    pub election_time: Latency,
    /// Proposals this server made as leader, over all its terms (`proposal_count`).
    pub proposal_count: u64,
}

/// Figures about this process, from the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

/// One scrape's worth of the server's figures, copied by the commit thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// `srvr`'s mode: standalone, leader, follower, observer, or looking.
    pub server_state: String,
    pub znode_count: u64,
    pub watch_count: u64,
    pub ephemerals_count: u64,
    pub global_sessions: u64,
    pub num_alive_connections: u64,
    pub outstanding_requests: u64,
    pub packets_received: u64,
    pub packets_sent: u64,
    /// `srvr`'s latency (reset by `srst`), for `avg_`, `min_`, `max_latency`.
    pub latency: Latency,
    pub last_processed_zxid: i64,
    pub digest_mismatches: u64,
    pub uptime_ms: u64,
    pub recorded: Recorder,
    /// Ensemble members only.
    pub quorum: Option<QuorumFigures>,
    /// `leader_uptime`: a leader's milliseconds since it began to broadcast.
    pub leader_uptime_ms: Option<u64>,
    /// Quota limits and usage by top namespace (ZooKeeper's quota gauge sets).
    pub quotas: BTreeMap<String, NamespaceQuota>,
    /// Writes refused with QUOTAEXCEEDED by namespace.
    pub quota_exceeded: BTreeMap<String, Refusals>,
}

/// Writes refused with QUOTAEXCEEDED in one namespace (ZooKeeper's counter set
/// `quota_exceeded_error_per_namespace`): since start for Prometheus, and since the last `srst`
/// for `mntr` (ZooKeeper's `srst` zeroes its counters but keeps their keys; its Prometheus
/// provider ignores resets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refusals {
    pub since_start: u64,
    pub since_srst: u64,
}

/// A namespace's quota figures under ZooKeeper's gauge-set names (in the order 3.8.0's `mntr`
/// prints the sets), with a help text.
pub fn quota_gauge_sets(q: &NamespaceQuota) -> [(&'static str, &'static str, Option<i64>); 4] {
    [
        ("quota_bytes_limit_per_namespace", "Bytes quota (hard, else soft; -1 for none) per namespace.", q.bytes_limit),
        ("quota_count_usage_per_namespace", "Znodes under a quota per namespace.", q.count_usage),
        ("quota_count_limit_per_namespace", "Znode quota (hard, else soft; -1 for none) per namespace.", q.count_limit),
        ("quota_bytes_usage_per_namespace", "Data bytes under a quota per namespace.", q.bytes_usage),
    ]
}

/// The Prometheus text exposition format (version 0.0.4) of the figures.
pub fn render(f: &Figures, p: &ProcessFigures) -> String {
    let mut out = String::with_capacity(8 * 1024);
    let o = &mut out;
    gauge(o, "znode_count", "Znodes in the tree, counted as ZooKeeper counts them (the root twice).", f.znode_count);
    gauge(o, "watch_count", "Watches set (data and child watches; one per path and connection).", f.watch_count);
    gauge(o, "ephemerals_count", "Ephemeral znodes.", f.ephemerals_count);
    gauge(o, "global_sessions", "Live sessions.", f.global_sessions);
    gauge(o, "num_alive_connections", "Open client connections.", f.num_alive_connections);
    gauge(o, "outstanding_requests", "Client requests read and not yet answered.", f.outstanding_requests);
    gauge(o, "packets_received", "Client packets received since the last srst.", f.packets_received);
    gauge(o, "packets_sent", "Client packets sent since the last srst.", f.packets_sent);
    gauge_f(o, "avg_latency", "Average request latency in ms since the last srst.", f.latency.avg());
    gauge(o, "min_latency", "Smallest request latency in ms since the last srst.", f.latency.min());
    gauge(o, "max_latency", "Largest request latency in ms since the last srst.", f.latency.max());
    gauge(o, "uptime", "Milliseconds since the server started.", f.uptime_ms);
    gauge(o, "last_processed_zxid", "The zxid of the last txn applied to the tree.", f.last_processed_zxid);
    for set in 0..4 {
        let rows: Vec<_> = f
            .quotas
            .iter()
            .filter_map(|(ns, q)| {
                let (name, help, value) = quota_gauge_sets(q)[set];
                value.map(|v| (name, help, ns, v))
            })
            .collect();
        if let Some(&(name, help, ..)) = rows.first() {
            family(o, name, "gauge", help);
        }
        for (name, _, ns, v) in rows {
            let _ = writeln!(o, "{name}{{key=\"{}\"}} {v}", label_value(ns));
        }
    }
    if !f.quota_exceeded.is_empty() {
        let name = "quota_exceeded_error_per_namespace";
        family(o, name, "counter", "Writes refused with QUOTAEXCEEDED per namespace.");
        for (ns, n) in &f.quota_exceeded {
            let _ = writeln!(o, "{name}{{key=\"{}\"}} {}", label_value(ns), n.since_start);
        }
    }
    family(o, "server_state", "gauge", "The server's role: 1 for the current one.");
    let _ = writeln!(o, "server_state{{state=\"{}\"}} 1", f.server_state);
    counter(o, "digest_mismatches_count", "Applied txns whose digest disagreed with the tree.", f.digest_mismatches);
    histogram(o, "readlatency", "Milliseconds from a read's arrival to its reply.", &f.recorded.read_latency);
    histogram(o, "updatelatency", "Milliseconds from a write's arrival to its reply.", &f.recorded.update_latency);
    histogram(o, "fsynctime", "Milliseconds per txn-log fsync (one per group commit).", &f.recorded.fsync_time);
    if let Some(q) = &f.quorum {
        gauge(o, "quorum_size", "Voting members in the configuration.", q.quorum_size);
        counter(o, "looking_count", "Times this server started looking for a leader.", q.looking_count);
        family(o, "election_time", "summary", "Milliseconds from looking for a leader to a role, per election.");
        let _ = writeln!(o, "election_time_count {}", q.election_time.count());
        let _ = writeln!(o, "election_time_sum {}", q.election_time.total());
        counter(o, "proposal_count", "Proposals this server made as leader.", q.proposal_count);
        if let Some(l) = &q.leader {
            gauge(o, "learners", "Learner connections to this leader.", l.learners);
            gauge(o, "synced_followers", "Voting followers in sync with this leader.", l.synced_followers);
            gauge(o, "synced_observers", "Observers in sync with this leader.", l.synced_observers);
            gauge(o, "pending_syncs", "Zxids that learners' client syncs wait for.", l.pending_syncs);
            gauge(
                o,
                "leader_uptime",
                "Milliseconds since this leader began to broadcast.",
                f.leader_uptime_ms.unwrap_or(0),
            );
            gauge(o, "last_proposal_size", "Bytes in this leader's last proposal.", l.proposal_size.last);
            gauge(o, "min_proposal_size", "Bytes in this leader's smallest proposal.", l.proposal_size.min);
            gauge(o, "max_proposal_size", "Bytes in this leader's largest proposal.", l.proposal_size.max);
        }
    }
    if let Some(n) = p.open_fds {
        gauge(o, "open_file_descriptor_count", "Open file descriptors.", n);
        gauge(o, "process_open_fds", "Open file descriptors.", n);
    }
    if let Some(n) = p.max_fds {
        gauge(o, "max_file_descriptor_count", "The limit on open file descriptors.", n);
        gauge(o, "process_max_fds", "The limit on open file descriptors.", n);
    }
    if let Some(n) = p.resident_bytes {
        gauge(o, "process_resident_memory_bytes", "Resident memory size in bytes.", n);
    }
    if let Some(n) = p.virtual_bytes {
        gauge(o, "process_virtual_memory_bytes", "Virtual memory size in bytes.", n);
    }
    if let Some(s) = p.cpu_seconds {
        family(o, "process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.");
        let _ = writeln!(o, "process_cpu_seconds_total {s}");
    }
    if let Some(s) = p.start_time_seconds {
        gauge_f(o, "process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.", s);
    }
    out
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn gauge(o: &mut String, name: &str, help: &str, value: impl std::fmt::Display) {
    family(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {value}");
}

fn gauge_f(o: &mut String, name: &str, help: &str, value: f64) {
    family(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {}", float(value));
}

fn counter(o: &mut String, name: &str, help: &str, value: u64) {
    family(o, name, "counter", help);
    let _ = writeln!(o, "{name} {value}");
}

fn histogram(o: &mut String, name: &str, help: &str, h: &Histogram) {
    family(o, name, "histogram", help);
    for (bound, n) in h.cumulative() {
        let _ = writeln!(o, "{name}_bucket{{le=\"{}\"}} {n}", float(bound));
    }
    let _ = writeln!(o, "{name}_sum {}", float(h.sum()));
    let _ = writeln!(o, "{name}_count {}", h.count());
}

/// A label value as the text format escapes it (a namespace is any znode name).
fn label_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A sample value or a bucket bound as Prometheus spells it: `+Inf`, `NaN`, or a decimal.
fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x == f64::INFINITY {
        "+Inf".into()
    } else if x == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        x.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_upper_bounds_inclusive() {
        let mut h = Histogram::new(&[1.0, 5.0, 10.0]);
        for v in [0.0, 1.0, 1.5, 5.0, 9.9, 10.0, 11.0, 1e9] {
            h.observe(v);
        }
        assert_eq!(h.cumulative(), vec![(1.0, 2), (5.0, 4), (10.0, 6), (f64::INFINITY, 8)]);
        assert_eq!(h.count(), 8);
        assert_eq!(h.sum(), 0.0 + 1.0 + 1.5 + 5.0 + 9.9 + 10.0 + 11.0 + 1e9);
    }

    /// A naive twin: count, for each bound, the observations at or under it.
    #[test]
    fn histogram_matches_a_naive_count() {
        let mut x: u64 = 12345;
        let mut h = Histogram::new(LATENCY_BUCKETS_MS);
        let mut seen = Vec::new();
        for _ in 0..5000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = ((x >> 33) % 20_000) as f64 / 3.0;
            h.observe(v);
            seen.push(v);
        }
        for (bound, n) in h.cumulative() {
            assert_eq!(n, seen.iter().filter(|&&v| v <= bound).count() as u64, "le={bound}");
        }
    }

    #[test]
    fn buffer_stats_start_at_minus_one() {
        let mut b = BufferStats::default();
        assert_eq!((b.last, b.min, b.max), (-1, -1, -1));
        for n in [48, 487, 60] {
            b.add(n);
        }
        assert_eq!((b.last, b.min, b.max), (60, 48, 487));
    }

    fn figures() -> Figures {
        let mut recorded = Recorder::default();
        recorded.request(false, 0);
        recorded.request(false, 3);
        recorded.request(true, 12);
        recorded.fsync(Duration::from_micros(1500));
        Figures {
            server_state: "leader".into(),
            znode_count: 11,
            watch_count: 2,
            ephemerals_count: 1,
            global_sessions: 3,
            num_alive_connections: 4,
            outstanding_requests: 0,
            packets_received: 10,
            packets_sent: 9,
            latency: Latency::default(),
            last_processed_zxid: 0x1_0000_000a,
            digest_mismatches: 0,
            uptime_ms: 11_385,
            recorded,
            quorum: Some(QuorumFigures {
                quorum_size: 3,
                leader_id: Some(3),
                leader: Some(LeaderFigures {
                    learners: 3,
                    synced_followers: 2,
                    synced_observers: 1,
                    pending_syncs: 0,
                    proposal_size: BufferStats { last: 48, min: 48, max: 487 },
                    established_ms: Some(1_594),
                }),
                looking_count: 1,
                election_time: Latency::default(),
                proposal_count: 10,
            }),
            leader_uptime_ms: Some(9_791),
            quotas: BTreeMap::from([
                ("a".into(), NamespaceQuota { count_limit: Some(5), bytes_limit: Some(-1), ..Default::default() }),
                ("b\"c".into(), NamespaceQuota { count_limit: Some(2), count_usage: Some(1), ..Default::default() }),
            ]),
            quota_exceeded: BTreeMap::from([("b\"c".into(), Refusals { since_start: 3, since_srst: 0 })]),
        }
    }

    #[test]
    fn prometheus_text_has_zookeepers_names_and_valid_families() {
        let p = ProcessFigures { resident_bytes: Some(5 << 20), open_fds: Some(12), ..ProcessFigures::default() };
        let text = render(&figures(), &p);
        for line in [
            "# TYPE znode_count gauge\nznode_count 11\n",
            "\nwatch_count 2\n",
            "\nquorum_size 3\n",
            "\nsynced_followers 2\n",
            "\nlast_proposal_size 48\n",
            "\nleader_uptime 9791\n",
            "\nserver_state{state=\"leader\"} 1\n",
            "# TYPE readlatency histogram\nreadlatency_bucket{le=\"1\"} 1\nreadlatency_bucket{le=\"2\"} 1\n\
             readlatency_bucket{le=\"5\"} 2\n",
            "readlatency_bucket{le=\"+Inf\"} 2\nreadlatency_sum 3\nreadlatency_count 2\n",
            "updatelatency_bucket{le=\"10\"} 0\nupdatelatency_bucket{le=\"25\"} 1\n",
            "fsynctime_bucket{le=\"1\"} 0\nfsynctime_bucket{le=\"2.5\"} 1\n",
            "# TYPE looking_count counter\nlooking_count 1\n",
            "\nprocess_resident_memory_bytes 5242880\n",
            "\nopen_file_descriptor_count 12\n",
            "# TYPE quota_count_limit_per_namespace gauge\nquota_count_limit_per_namespace{key=\"a\"} 5\n\
             quota_count_limit_per_namespace{key=\"b\\\"c\"} 2\n",
            "# TYPE quota_count_usage_per_namespace gauge\nquota_count_usage_per_namespace{key=\"b\\\"c\"} 1\n",
            "# TYPE quota_exceeded_error_per_namespace counter\nquota_exceeded_error_per_namespace{key=\"b\\\"c\"} 3\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("process_max_fds"), "figures the kernel did not give are left out");
        // Every sample belongs to the family declared just before it, and every family is
        // declared once.
        let mut declared = std::collections::BTreeSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(declared.insert(current.clone()), "{current} declared twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
                assert!(name == current || base == current, "{line} is outside its family {current}");
            }
        }
    }

    #[test]
    fn a_follower_has_no_leader_figures_and_standalone_no_quorum_figures() {
        let mut f = figures();
        f.quorum.as_mut().unwrap().leader = None;
        f.server_state = "follower".into();
        let text = render(&f, &ProcessFigures::default());
        assert!(text.contains("\nquorum_size 3\n") && !text.contains("synced_followers"));
        f.quorum = None;
        let text = render(&f, &ProcessFigures::default());
        assert!(!text.contains("quorum_size") && !text.contains("looking_count") && text.contains("znode_count"));
    }
}
