//! Watches (ZooKeeper's `WatchManager` pair: data watches and child watches), owned by the commit
//! thread. A watcher is a connection: when it closes, its watches go with it, and a client that
//! reconnects registers them again with setWatches.
//!
//! Trigger rules: created / data-changed fire data watches; deleted fires data and child watches
//! (once per watcher); children-changed fires child watches. Standard watches are one-shot.
//! Persistent watches fire for every event on their path; persistent-recursive ones for created,
//! deleted and data-changed anywhere below, never for children-changed.

use crate::codes::{event, watcher_type};
use std::collections::{HashMap, HashSet};

pub type WatcherId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Standard,
    Persistent,
    PersistentRecursive,
}

impl Mode {
    fn bit(self) -> u8 {
        match self {
            Mode::Standard => 1,
            Mode::Persistent => 2,
            Mode::PersistentRecursive => 4,
        }
    }
}

/// The modes one watcher holds on one path: a one-shot watch can sit beside a persistent one
/// (ZooKeeper keeps both, and `removeWatches` can take either).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Modes(u8);

impl Modes {
    fn has(self, m: Mode) -> bool {
        self.0 & m.bit() != 0
    }
}

#[derive(Default)]
struct Table {
    by_path: HashMap<String, HashMap<WatcherId, Modes>>,
    by_watcher: HashMap<WatcherId, HashSet<String>>,
}

impl Table {
    fn add(&mut self, path: &str, w: WatcherId, mode: Mode) {
        let modes = self.by_path.entry(path.to_string()).or_default().entry(w).or_default();
        modes.0 |= mode.bit();
        self.by_watcher.entry(w).or_default().insert(path.to_string());
    }

    /// Removes one mode; true if `w` held it.
    fn remove(&mut self, path: &str, w: WatcherId, mode: Mode) -> bool {
        let Some(entry) = self.by_path.get_mut(path) else { return false };
        let Some(modes) = entry.get_mut(&w) else { return false };
        if !modes.has(mode) {
            return false;
        }
        modes.0 &= !mode.bit();
        if modes.0 == 0 {
            entry.remove(&w);
            if entry.is_empty() {
                self.by_path.remove(path);
            }
            if let Some(paths) = self.by_watcher.get_mut(&w) {
                paths.remove(path);
                if paths.is_empty() {
                    self.by_watcher.remove(&w);
                }
            }
        }
        true
    }

    fn modes(&self, path: &str, w: WatcherId) -> Modes {
        self.by_path.get(path).and_then(|e| e.get(&w)).copied().unwrap_or_default()
    }

    /// Collects the watchers an event on `path` fires, removing the one-shot watches.
    fn trigger(&mut self, path: &str, kind: i32, recursive_possible: bool, out: &mut Vec<WatcherId>) {
        if let Some(entry) = self.by_path.get(path) {
            let mut fired_standard = Vec::new();
            for (&w, &modes) in entry.iter() {
                let fires = modes.has(Mode::Standard)
                    || modes.has(Mode::Persistent)
                    || (modes.has(Mode::PersistentRecursive) && kind != event::NODE_CHILDREN_CHANGED);
                if !fires {
                    continue;
                }
                if !out.contains(&w) {
                    out.push(w);
                }
                if modes.has(Mode::Standard) {
                    fired_standard.push(w);
                }
            }
            for w in fired_standard {
                self.remove(path, w, Mode::Standard);
            }
        }
        if recursive_possible && kind != event::NODE_CHILDREN_CHANGED {
            let mut p = path;
            while let Some(i) = p.rfind('/') {
                p = if i == 0 { "/" } else { &p[..i] };
                if let Some(entry) = self.by_path.get(p) {
                    for (&w, &modes) in entry {
                        if modes.has(Mode::PersistentRecursive) && !out.contains(&w) {
                            out.push(w);
                        }
                    }
                }
                if p == "/" {
                    break;
                }
            }
        }
    }
}

#[derive(Default)]
pub struct Watches {
    data: Table,
    child: Table,
    recursive: usize,
}

impl Watches {
    pub fn new() -> Watches {
        Watches::default()
    }

    /// getData / exists with watch=true.
    pub fn add_data(&mut self, path: &str, w: WatcherId) {
        self.data.add(path, w, Mode::Standard);
    }

    /// getChildren with watch=true.
    pub fn add_child(&mut self, path: &str, w: WatcherId) {
        self.child.add(path, w, Mode::Standard);
    }

    /// addWatch: a persistent watch is held in both tables, like ZooKeeper's.
    pub fn add_persistent(&mut self, path: &str, w: WatcherId, recursive: bool) {
        let mode = if recursive { Mode::PersistentRecursive } else { Mode::Persistent };
        if recursive && !self.data.modes(path, w).has(Mode::PersistentRecursive) {
            self.recursive += 1;
        }
        self.data.add(path, w, mode);
        self.child.add(path, w, mode);
    }

    /// The watchers to notify of `kind` on `path`, each once; one-shot watches are consumed.
    pub fn trigger(&mut self, kind: i32, path: &str) -> Vec<WatcherId> {
        let mut out = Vec::new();
        let recursive = self.recursive > 0;
        match kind {
            event::NODE_CREATED | event::NODE_DATA_CHANGED => {
                self.data.trigger(path, kind, recursive, &mut out);
            }
            event::NODE_DELETED => {
                self.data.trigger(path, kind, recursive, &mut out);
                self.child.trigger(path, kind, false, &mut out);
            }
            event::NODE_CHILDREN_CHANGED => {
                self.child.trigger(path, kind, false, &mut out);
            }
            _ => {}
        }
        out
    }

    /// checkWatches: whether `w` holds a watch of `kind` (a WatcherType) on `path`.
    pub fn contains(&self, path: &str, kind: i32, w: WatcherId) -> bool {
        let d = self.data.modes(path, w);
        let c = self.child.modes(path, w);
        match kind {
            watcher_type::DATA => d.has(Mode::Standard),
            watcher_type::CHILDREN => c.has(Mode::Standard),
            watcher_type::ANY => d.0 != 0 || c.0 != 0,
            watcher_type::PERSISTENT => d.has(Mode::Persistent),
            watcher_type::PERSISTENT_RECURSIVE => d.has(Mode::PersistentRecursive),
            _ => false,
        }
    }

    /// removeWatches: removes `w`'s watches of `kind` on `path`; the events to send
    /// (DataWatchRemoved / ChildWatchRemoved / PersistentWatchRemoved), empty if none matched.
    pub fn remove(&mut self, path: &str, kind: i32, w: WatcherId) -> Vec<i32> {
        let mut events = Vec::new();
        let (data_std, child_std) = match kind {
            watcher_type::DATA => (true, false),
            watcher_type::CHILDREN => (false, true),
            watcher_type::ANY => (true, true),
            _ => (false, false),
        };
        if data_std && self.data.remove(path, w, Mode::Standard) {
            events.push(event::DATA_WATCH_REMOVED);
        }
        if child_std && self.child.remove(path, w, Mode::Standard) {
            events.push(event::CHILD_WATCH_REMOVED);
        }
        let persistent: &[Mode] = match kind {
            watcher_type::ANY => &[Mode::Persistent, Mode::PersistentRecursive],
            watcher_type::PERSISTENT => &[Mode::Persistent],
            watcher_type::PERSISTENT_RECURSIVE => &[Mode::PersistentRecursive],
            _ => &[],
        };
        for &m in persistent {
            let removed_data = self.data.remove(path, w, m);
            let removed_child = self.child.remove(path, w, m);
            if removed_data || removed_child {
                if m == Mode::PersistentRecursive && removed_data {
                    self.recursive -= 1;
                }
                events.push(event::PERSISTENT_WATCH_REMOVED);
            }
        }
        events
    }

    /// Drops every watch of a closed connection.
    pub fn remove_watcher(&mut self, w: WatcherId) {
        for p in self.data.by_watcher.get(&w).cloned().unwrap_or_default() {
            let modes = self.data.modes(&p, w);
            if modes.has(Mode::PersistentRecursive) {
                self.recursive -= 1;
            }
            for m in [Mode::Standard, Mode::Persistent, Mode::PersistentRecursive] {
                self.data.remove(&p, w, m);
            }
        }
        for p in self.child.by_watcher.get(&w).cloned().unwrap_or_default() {
            for m in [Mode::Standard, Mode::Persistent, Mode::PersistentRecursive] {
                self.child.remove(&p, w, m);
            }
        }
    }

    /// Number of (path, watcher) pairs, as `wchs` counts them.
    pub fn count(&self) -> usize {
        self.data.by_path.values().map(HashMap::len).sum::<usize>()
            + self.child.by_path.values().map(HashMap::len).sum::<usize>()
    }

    pub fn path_count(&self) -> usize {
        let mut paths: HashSet<&String> = self.data.by_path.keys().collect();
        paths.extend(self.child.by_path.keys());
        paths.len()
    }

    /// Watcher → paths (`wchc`).
    pub fn by_watcher(&self) -> Vec<(WatcherId, Vec<String>)> {
        let mut m: HashMap<WatcherId, HashSet<String>> = HashMap::new();
        for t in [&self.data, &self.child] {
            for (w, paths) in &t.by_watcher {
                m.entry(*w).or_default().extend(paths.iter().cloned());
            }
        }
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(w, p)| {
                let mut p: Vec<_> = p.into_iter().collect();
                p.sort();
                (w, p)
            })
            .collect();
        v.sort();
        v
    }

    /// Path → watchers (`wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<WatcherId>)> {
        let mut m: HashMap<&String, HashSet<WatcherId>> = HashMap::new();
        for t in [&self.data, &self.child] {
            for (p, ws) in &t.by_path {
                m.entry(p).or_default().extend(ws.keys());
            }
        }
        let mut v: Vec<_> = m
            .into_iter()
            .map(|(p, w)| {
                let mut w: Vec<_> = w.into_iter().collect();
                w.sort();
                (p.clone(), w)
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_watches_fire_once() {
        let mut w = Watches::new();
        w.add_data("/a", 1);
        w.add_child("/a", 1);
        w.add_child("/", 2);
        assert_eq!(w.trigger(event::NODE_DATA_CHANGED, "/a"), [1]);
        assert!(w.trigger(event::NODE_DATA_CHANGED, "/a").is_empty());
        assert_eq!(w.trigger(event::NODE_DELETED, "/a"), [1], "child watch fires on delete, once");
        assert_eq!(w.trigger(event::NODE_CHILDREN_CHANGED, "/"), [2]);
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn persistent_and_recursive() {
        let mut w = Watches::new();
        w.add_persistent("/a", 1, false);
        w.add_persistent("/a", 2, true);
        assert_eq!(sorted(w.trigger(event::NODE_DATA_CHANGED, "/a")), [1, 2]);
        assert_eq!(sorted(w.trigger(event::NODE_DATA_CHANGED, "/a")), [1, 2]);
        assert_eq!(w.trigger(event::NODE_CREATED, "/a/b/c"), [2]);
        assert_eq!(w.trigger(event::NODE_CHILDREN_CHANGED, "/a"), [1], "recursive never sees children-changed");
        assert_eq!(w.remove("/a", watcher_type::PERSISTENT_RECURSIVE, 2), [event::PERSISTENT_WATCH_REMOVED]);
        assert!(w.trigger(event::NODE_CREATED, "/a/b/c").is_empty());
        w.remove_watcher(1);
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn remove_and_check() {
        let mut w = Watches::new();
        w.add_data("/a", 1);
        assert!(w.contains("/a", watcher_type::DATA, 1));
        assert!(!w.contains("/a", watcher_type::CHILDREN, 1));
        assert!(w.remove("/a", watcher_type::CHILDREN, 1).is_empty());
        assert_eq!(w.remove("/a", watcher_type::ANY, 1), [event::DATA_WATCH_REMOVED]);
        assert!(!w.contains("/a", watcher_type::ANY, 1));
    }

    #[test]
    fn a_one_shot_watch_beside_a_persistent_one() {
        let mut w = Watches::new();
        w.add_persistent("/w", 1, false);
        w.add_data("/w", 1);
        assert!(w.contains("/w", watcher_type::DATA, 1));
        assert_eq!(w.remove("/w", watcher_type::DATA, 1), [event::DATA_WATCH_REMOVED]);
        assert!(w.contains("/w", watcher_type::PERSISTENT, 1), "the persistent watch stays");
        w.add_data("/w", 1);
        assert_eq!(w.trigger(event::NODE_DATA_CHANGED, "/w"), [1], "one event for both");
        assert!(!w.contains("/w", watcher_type::DATA, 1), "the one-shot watch is used up");
        assert_eq!(w.trigger(event::NODE_DATA_CHANGED, "/w"), [1]);
    }

    fn sorted(mut v: Vec<WatcherId>) -> Vec<WatcherId> {
        v.sort();
        v
    }
}
