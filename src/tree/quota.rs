//! Quotas, as ZooKeeper's DataTree keeps them. A path `P` has a quota when the node
//! `/zookeeper/quota<P>/zookeeper_limits` exists; its usage is kept in
//! `/zookeeper/quota<P>/zookeeper_stats`. Both hold `StatsTrack` text:
//!
//! ```text
//! count=<n>,bytes=<n>                                        (soft limits / usage; -1 = none)
//! count=<n>,bytes=<n>=;byteHardLimit=<n>;countHardLimit=<n>  (3.7+: extra keys, sorted, after "=")
//! ```
//! The stats node's data is the server's own bookkeeping: every create, delete and setData under
//! `P` updates it in memory, without a txn and without touching its Stat (`updateQuotaStat`),
//! and it is recomputed from the tree when a stats node is created and after a snapshot is
//! loaded (`updateQuotaForPath`, `setupQuota`). Nodes under `/zookeeper/` are outside the tree
//! digest, so none of this moves it.

use super::{DataTree, QUOTA};
use crate::codes::ErrorCode;
use std::collections::BTreeMap;

/// `Quotas.limitNode`.
pub const LIMIT_NODE: &str = "zookeeper_limits";
/// `Quotas.statNode`.
pub const STAT_NODE: &str = "zookeeper_stats";

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD_LIMIT: &str = "countHardLimit";
const BYTE_HARD_LIMIT: &str = "byteHardLimit";

/// `StatsTrack`: named numbers, -1 when absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatsTrack {
    stats: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Reads `key=value` pairs separated by `,` or `;` (text after a second `=` is ignored, as
    /// Java's `split` leaves it). Pairs that do not parse are skipped (ZooKeeper throws).
    pub fn parse(text: &str) -> StatsTrack {
        let mut stats = BTreeMap::new();
        for pair in text.split([',', ';']).filter(|p| !p.is_empty()) {
            let mut kv = pair.split('=');
            let (Some(k), v) = (kv.next(), kv.next()) else { continue };
            let v = match v {
                None | Some("") => -1,
                Some(v) => match v.trim().parse() {
                    Ok(n) => n,
                    Err(_) => continue,
                },
            };
            stats.insert(k.to_string(), v);
        }
        StatsTrack { stats }
    }

    pub fn from_bytes(data: Option<&[u8]>) -> StatsTrack {
        StatsTrack::parse(&String::from_utf8_lossy(data.unwrap_or(&[])))
    }

    fn get(&self, key: &str) -> i64 {
        self.stats.get(key).copied().unwrap_or(-1)
    }

    fn set(&mut self, key: &str, value: i64) {
        self.stats.insert(key.to_string(), value);
    }

    pub fn count(&self) -> i64 {
        self.get(COUNT)
    }
    pub fn bytes(&self) -> i64 {
        self.get(BYTES)
    }
    pub fn count_hard_limit(&self) -> i64 {
        self.get(COUNT_HARD_LIMIT)
    }
    pub fn byte_hard_limit(&self) -> i64 {
        self.get(BYTE_HARD_LIMIT)
    }
    pub fn set_count(&mut self, v: i64) {
        self.set(COUNT, v)
    }
    pub fn set_bytes(&mut self, v: i64) {
        self.set(BYTES, v)
    }
    pub fn set_count_hard_limit(&mut self, v: i64) {
        self.set(COUNT_HARD_LIMIT, v)
    }
    pub fn set_byte_hard_limit(&mut self, v: i64) {
        self.set(BYTE_HARD_LIMIT, v)
    }

    /// `StatsTrack.toString`: count and bytes first, then `=` and the other keys, sorted, each
    /// after a `;` (so that pre-3.7 parsers ignore them).
    pub fn text(&self) -> String {
        let mut out = format!("{COUNT}={},{BYTES}={}", self.count(), self.bytes());
        let rest: Vec<String> =
            self.stats.iter().filter(|(k, _)| *k != COUNT && *k != BYTES).map(|(k, v)| format!(";{k}={v}")).collect();
        if !rest.is_empty() {
            out.push('=');
            out.push_str(&rest.concat());
        }
        out
    }
}

/// `Quotas.quotaPath`: `/zookeeper/quota<path>`.
pub fn quota_path(path: &str) -> String {
    format!("{QUOTA}{path}")
}

/// `Quotas.limitPath`.
pub fn limit_path(path: &str) -> String {
    format!("{QUOTA}{path}/{LIMIT_NODE}")
}

/// `Quotas.statPath`.
pub fn stat_path(path: &str) -> String {
    format!("{QUOTA}{path}/{STAT_NODE}")
}

/// Why `check` refused, or what it warns of: ZooKeeper's log line.
#[derive(Debug, PartialEq, Eq)]
pub struct Exceeded {
    pub message: String,
    pub hard: bool,
}

/// `ZooKeeperServer.checkQuota` for the quota at `prefix`: the usage after adding `bytes_diff`
/// and `count_diff`, against the hard limit when there is one, else the soft one. Every limit
/// passed is reported; a hard one refuses the request.
pub fn check(prefix: &str, limits: &StatsTrack, usage: &StatsTrack, bytes_diff: i64, count_diff: i64) -> Vec<Exceeded> {
    let mut out = Vec::new();
    let checks = [
        ("count", count_diff, limits.count(), limits.count_hard_limit(), usage.count(), "CountLimit"),
        ("bytes", bytes_diff, limits.bytes(), limits.byte_hard_limit(), usage.bytes(), "ByteLimit"),
    ];
    for (what, diff, soft, hard, current, name) in checks {
        if diff == 0 || (soft <= -1 && hard <= -1) {
            continue;
        }
        let next = current + diff;
        let (limit, kind) = if hard > -1 { (hard, "hard") } else { (soft, "soft") };
        if next > limit {
            let message = format!("Quota exceeded: {prefix} [current {what}={next}, {kind}{name}={limit}]");
            out.push(Exceeded { message, hard: hard > -1 });
        }
    }
    out
}

impl DataTree {
    /// `getMaxPrefixWithQuota`: the deepest path with a quota that is `path` or one of its
    /// ancestors (never `/`).
    pub fn max_prefix_with_quota(&self, path: &str) -> Option<&str> {
        if self.quotas.is_empty() {
            return None;
        }
        let mut p = path;
        while p.len() > 1 {
            if let Some(found) = self.quotas.get(p) {
                return Some(found);
            }
            p = &p[..p.rfind('/').unwrap_or(0)];
        }
        None
    }

    /// The limits and usage of the quota covering `path`, if any.
    pub fn quota_of(&self, path: &str) -> Option<(String, StatsTrack, StatsTrack)> {
        let prefix = self.max_prefix_with_quota(path)?;
        let limits = self.get(&limit_path(prefix))?;
        let usage = self.get(&stat_path(prefix))?;
        Some((
            prefix.to_string(),
            StatsTrack::from_bytes(limits.data.as_deref()),
            StatsTrack::from_bytes(usage.data.as_deref()),
        ))
    }

    /// `ZooKeeperServer.checkQuota` for a create (`count_diff` 1) or a setData of `path`: logs
    /// every limit passed, and with `enforce` (`enforceQuota`) refuses a hard one with
    /// QUOTAEXCEEDED. (ZooKeeper checks only with `enforceQuota`; Rookery always warns.)
    pub fn check_quota(&self, path: &str, bytes_diff: i64, count_diff: i64, enforce: bool) -> Result<(), ErrorCode> {
        let Some((prefix, limits, usage)) = self.quota_of(path) else { return Ok(()) };
        let mut result = Ok(());
        for e in check(&prefix, &limits, &usage, bytes_diff, count_diff) {
            log::warn!("{}", e.message);
            if e.hard && enforce {
                result = Err(ErrorCode::QuotaExceeded);
            }
        }
        result
    }

    /// What `createNode` does for quotas after `path` (with `bytes` of data) is in the tree.
    pub(super) fn quota_on_create(&mut self, path: &str, bytes: usize) {
        if let Some(quota_parent) = path.strip_suffix(&format!("/{LIMIT_NODE}")).and_then(|p| p.strip_prefix(QUOTA)) {
            self.quotas.insert(quota_parent.to_string());
        }
        if let Some(quota_parent) = path.strip_suffix(&format!("/{STAT_NODE}")).and_then(|p| p.strip_prefix(QUOTA)) {
            self.update_quota_for_path(quota_parent);
        }
        if let Some(prefix) = self.max_prefix_with_quota(path).map(str::to_string) {
            self.update_quota_stat(&prefix, bytes as i64, 1);
        }
    }

    /// What `deleteNode` does for quotas after `path` (which held `bytes`) left the tree.
    pub(super) fn quota_on_delete(&mut self, path: &str, bytes: usize) {
        if let Some(quota_parent) = path.strip_suffix(&format!("/{LIMIT_NODE}")).and_then(|p| p.strip_prefix(QUOTA)) {
            self.quotas.remove(quota_parent);
        }
        if let Some(prefix) = self.max_prefix_with_quota(path).map(str::to_string) {
            self.update_quota_stat(&prefix, -(bytes as i64), -1);
        }
    }

    /// What `setData` does for quotas.
    pub(super) fn quota_on_set(&mut self, path: &str, bytes_diff: i64) {
        if let Some(prefix) = self.max_prefix_with_quota(path).map(str::to_string) {
            self.update_quota_stat(&prefix, bytes_diff, 0);
        }
    }

    /// `updateQuotaStat`: adds to the usage in the stats node.
    fn update_quota_stat(&mut self, prefix: &str, bytes_diff: i64, count_diff: i64) {
        let path = stat_path(prefix);
        let Some(node) = self.nodes.get_mut(&path) else {
            log::error!("Missing node for stat {path}");
            return;
        };
        let mut usage = StatsTrack::from_bytes(node.data.as_deref());
        usage.set_count(usage.count() + count_diff);
        usage.set_bytes(usage.bytes() + bytes_diff);
        node.data = Some(usage.text().into_bytes().into_boxed_slice());
    }

    /// `updateQuotaForPath`: counts `path`'s subtree (itself included) into its stats node.
    fn update_quota_for_path(&mut self, path: &str) {
        let (mut count, mut bytes) = (0i64, 0i64);
        if let Some(n) = self.nodes.get(path) {
            count += 1;
            bytes += n.data.as_deref().map_or(0, <[u8]>::len) as i64;
            let below = format!("{path}/");
            for (_, n) in self.nodes.range(below.clone()..).take_while(|(k, _)| k.starts_with(&below)) {
                count += 1;
                bytes += n.data.as_deref().map_or(0, <[u8]>::len) as i64;
            }
        }
        let mut usage = StatsTrack::default();
        usage.set_count(count);
        usage.set_bytes(bytes);
        match self.nodes.get_mut(&stat_path(path)) {
            Some(node) => node.data = Some(usage.text().into_bytes().into_boxed_slice()),
            None => log::warn!("Missing quota stat node {}", stat_path(path)),
        }
    }

    /// `setupQuota`: after a snapshot is loaded, every leaf `zookeeper_limits` node under
    /// `/zookeeper/quota` registers its path and has its usage recounted.
    pub(super) fn setup_quota(&mut self) {
        let below = format!("{QUOTA}/");
        let limits: Vec<String> = self
            .nodes
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .filter(|(k, n)| n.children.is_empty() && k.ends_with(&format!("/{LIMIT_NODE}")))
            .map(|(k, _)| k[QUOTA.len()..k.len() - LIMIT_NODE.len() - 1].to_string())
            .collect();
        for p in limits {
            self.update_quota_for_path(&p);
            self.quotas.insert(p);
        }
    }
}

/// One top-level namespace's quota figures, as ZooKeeper's `QuotaMetricsUtils` sums them over
/// the quotas under it: limits (the hard limit where set, else the soft one, -1 for none) from
/// the `zookeeper_limits` nodes, usage from the `zookeeper_stats` nodes. `None`: no such node.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceQuota {
    pub count_limit: Option<i64>,
    pub bytes_limit: Option<i64>,
    pub count_usage: Option<i64>,
    pub bytes_usage: Option<i64>,
}

/// `PathUtils.getTopNamespace`: `a` for `/a/b`; `None` for `/` and paths not starting with `/`.
pub fn top_namespace(path: &str) -> Option<&str> {
    path.strip_prefix('/')?.split('/').next().filter(|ns| !ns.is_empty())
}

impl DataTree {
    /// `QuotaMetricsUtils.getQuota{Count,Bytes}{Limit,Usage}`: the leaves of `/zookeeper/quota`
    /// named `zookeeper_limits` or `zookeeper_stats`, summed by the top namespace of the path
    /// they are for (what `mntr` prints as `zk_<ns>_quota_count_limit_per_namespace` ...).
    pub fn quota_by_namespace(&self) -> BTreeMap<String, NamespaceQuota> {
        // Java's long arithmetic: a sum of absurd limits wraps rather than fails.
        let add = |sum: &mut Option<i64>, n: i64| *sum = Some(sum.unwrap_or(0).wrapping_add(n));
        let below = format!("{QUOTA}/");
        let mut out: BTreeMap<String, NamespaceQuota> = BTreeMap::new();
        for (path, node) in self.nodes.range(below.clone()..).take_while(|(k, _)| k.starts_with(&below)) {
            if !node.children.is_empty() {
                continue;
            }
            let quota_of = &path[QUOTA.len()..];
            let (for_path, is_limit) = match (
                quota_of.strip_suffix(&format!("/{LIMIT_NODE}")),
                quota_of.strip_suffix(&format!("/{STAT_NODE}")),
            ) {
                (Some(p), _) => (p, true),
                (_, Some(p)) => (p, false),
                _ => continue,
            };
            // A node without data is skipped, as `collectQuotaLimitOrUsage` skips it.
            let (Some(ns), Some(data)) = (top_namespace(for_path), node.data.as_deref()) else { continue };
            let track = StatsTrack::from_bytes(Some(data));
            let q = out.entry(ns.to_string()).or_default();
            let limit = |hard: i64, soft: i64| if hard > -1 { hard } else { soft };
            if is_limit {
                add(&mut q.count_limit, limit(track.count_hard_limit(), track.count()));
                add(&mut q.bytes_limit, limit(track.byte_hard_limit(), track.bytes()));
            } else {
                add(&mut q.count_usage, track.count());
                add(&mut q.bytes_usage, track.bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_namespace_as_path_utils() {
        assert_eq!(top_namespace("/a/b/c"), Some("a"));
        assert_eq!(top_namespace("/a"), Some("a"));
        assert_eq!(top_namespace("/"), None);
        assert_eq!(top_namespace(""), None);
        assert_eq!(top_namespace("a/b"), None);
    }

    #[test]
    fn stats_track_text_as_zookeeper_writes_it() {
        let mut s = StatsTrack::default();
        s.set_count(-1);
        s.set_bytes(-1);
        s.set_count_hard_limit(10);
        s.set_byte_hard_limit(-1);
        let text = s.text();
        assert_eq!(text, "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=10");
        assert_eq!(StatsTrack::parse(&text), s);
        assert_eq!(StatsTrack::parse("count=2,bytes=5").text(), "count=2,bytes=5");
        assert_eq!(StatsTrack::parse("").count(), -1);
        assert_eq!(StatsTrack::parse("count=,bytes=x").count(), -1);
    }

    #[test]
    fn check_uses_the_hard_limit_when_there_is_one() {
        let limits = StatsTrack::parse("count=2,bytes=-1=;byteHardLimit=10;countHardLimit=-1");
        let usage = StatsTrack::parse("count=2,bytes=8");
        let soft = check("/a", &limits, &usage, 0, 1);
        assert_eq!(
            soft,
            vec![Exceeded { message: "Quota exceeded: /a [current count=3, softCountLimit=2]".into(), hard: false }]
        );
        assert!(check("/a", &limits, &usage, 2, 0).is_empty());
        let hard = check("/a", &limits, &usage, 3, 0);
        assert_eq!(
            hard,
            vec![Exceeded { message: "Quota exceeded: /a [current bytes=11, hardByteLimit=10]".into(), hard: true }]
        );
        assert!(check("/a", &StatsTrack::parse("count=-1,bytes=-1"), &usage, 100, 1).is_empty());
    }
}
