//! The client's side of watches, as the Java client keeps them (`ZKWatchManager`): which paths
//! this session watches and how, so that a notification is delivered only if a watch asked for
//! it, one-shot watches are forgotten when they fire, `removeWatches` can report what it removed,
//! and a reconnect can re-arm everything with SetWatches. One watcher per session (the CLI's
//! default watcher), so a set of paths per watch kind is all the state there is.

use crate::codes::{event, watcher_type, ErrorCode};
use std::collections::BTreeSet;
use std::fmt;

/// `Watcher.Event.KeeperState`, named as Java prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeeperState {
    Disconnected,
    SyncConnected,
    AuthFailed,
    ConnectedReadOnly,
    /// SASL login done (after SyncConnected, on each connection).
    SaslAuthenticated,
    Expired,
    Closed,
}

/// `Watcher.Event.EventType`, named as Java prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    None,
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
    DataWatchRemoved,
    ChildWatchRemoved,
    PersistentWatchRemoved,
}

impl EventType {
    pub fn from_code(code: i32) -> Option<EventType> {
        Some(match code {
            event::NONE => EventType::None,
            event::NODE_CREATED => EventType::NodeCreated,
            event::NODE_DELETED => EventType::NodeDeleted,
            event::NODE_DATA_CHANGED => EventType::NodeDataChanged,
            event::NODE_CHILDREN_CHANGED => EventType::NodeChildrenChanged,
            event::DATA_WATCH_REMOVED => EventType::DataWatchRemoved,
            event::CHILD_WATCH_REMOVED => EventType::ChildWatchRemoved,
            event::PERSISTENT_WATCH_REMOVED => EventType::PersistentWatchRemoved,
            _ => return None,
        })
    }
}

impl fmt::Display for KeeperState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What the session's watcher is told: a state change (`kind` None, no path) or a znode event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    pub state: KeeperState,
    pub kind: EventType,
    /// The client's path (chroot removed); `None` for state changes.
    pub path: Option<String>,
}

impl WatchedEvent {
    pub fn state(state: KeeperState) -> WatchedEvent {
        WatchedEvent { state, kind: EventType::None, path: None }
    }
}

/// `WatchedEvent.toString()` in ZooKeeper 3.8.
impl fmt::Display for WatchedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_deref().unwrap_or("null");
        write!(f, "WatchedEvent state:{} type:{} path:{}", self.state, self.kind, path)
    }
}

/// The watch a request leaves once its reply arrives (`WatchRegistration` in the Java client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// getData with watch: a data watch if the node exists.
    Data(String),
    /// exists with watch: a data watch if the node exists, an exist watch if it does not.
    Exists(String),
    /// getChildren with watch.
    Child(String),
    /// addWatch PERSISTENT.
    Persistent(String),
    /// addWatch PERSISTENT_RECURSIVE.
    PersistentRecursive(String),
}

/// The paths this session watches, by kind (client paths).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WatchRegistry {
    pub data: BTreeSet<String>,
    pub exist: BTreeSet<String>,
    pub child: BTreeSet<String>,
    pub persistent: BTreeSet<String>,
    pub recursive: BTreeSet<String>,
}

impl WatchRegistry {
    /// Records the watch of a request answered with `rc` (`WatchRegistration.register`).
    pub fn register(&mut self, reg: &Registration, rc: ErrorCode) {
        let (set, path) = match (reg, rc) {
            (Registration::Data(p), ErrorCode::Ok) => (&mut self.data, p),
            (Registration::Exists(p), ErrorCode::Ok) => (&mut self.data, p),
            (Registration::Exists(p), ErrorCode::NoNode) => (&mut self.exist, p),
            (Registration::Child(p), ErrorCode::Ok) => (&mut self.child, p),
            (Registration::Persistent(p), ErrorCode::Ok) => (&mut self.persistent, p),
            (Registration::PersistentRecursive(p), ErrorCode::Ok) => (&mut self.recursive, p),
            _ => return,
        };
        set.insert(path.clone());
    }

    /// A notification arrived for `path`: forgets the one-shot watches it fires and says whether
    /// any watch (one-shot or persistent) asked for it (`ZKWatchManager.materialize`).
    pub fn materialize(&mut self, kind: EventType, path: &str) -> bool {
        let fired = match kind {
            EventType::NodeDataChanged | EventType::NodeCreated => self.data.remove(path) | self.exist.remove(path),
            EventType::NodeChildrenChanged => self.child.remove(path),
            EventType::NodeDeleted => self.data.remove(path) | self.exist.remove(path) | self.child.remove(path),
            // The server sends only the four kinds above.
            _ => false,
        };
        fired || self.persistent.contains(path) || self.has_recursive_at_or_above(path)
    }

    fn has_recursive_at_or_above(&self, path: &str) -> bool {
        let mut p = path;
        loop {
            if self.recursive.contains(p) {
                return true;
            }
            match p.rfind('/') {
                Some(0) if p.len() > 1 => p = "/",
                Some(i) if i > 0 => p = &p[..i],
                _ => return false,
            }
        }
    }

    /// Whether a removeWatches of `kind` (a `watcher_type`) on `path` has anything to remove
    /// (`ZKWatchManager.containsWatcher`: persistent watches count for every kind).
    pub fn contains(&self, path: &str, kind: i32) -> bool {
        let persistent = self.persistent.contains(path) || self.recursive.contains(path);
        let data = self.data.contains(path) || self.exist.contains(path);
        let child = self.child.contains(path);
        match kind {
            watcher_type::CHILDREN => child || persistent,
            watcher_type::DATA => data || persistent,
            _ => child || data || persistent,
        }
    }

    /// Applies a removeWatches the server answered with `rc` (`ZKWatchManager.removeWatcher`),
    /// returning the events to deliver (one per kind of watch removed) or the error to report.
    /// With `local`, the watches go even when the server could not be asked.
    pub fn remove(&mut self, path: &str, kind: i32, local: bool, rc: ErrorCode) -> Result<Vec<EventType>, ErrorCode> {
        if !self.contains(path, kind) {
            return Err(ErrorCode::NoWatcher);
        }
        if rc != ErrorCode::Ok && !local {
            return Err(rc);
        }
        let (mut child, mut data, mut persistent) = (false, false, false);
        if kind != watcher_type::DATA {
            child = self.child.remove(path);
        }
        if kind != watcher_type::CHILDREN {
            data = self.data.remove(path) | self.exist.remove(path);
        }
        if kind == watcher_type::ANY {
            persistent = self.persistent.remove(path) | self.recursive.remove(path);
        }
        let removed: Vec<EventType> = [
            (child, EventType::ChildWatchRemoved),
            (data, EventType::DataWatchRemoved),
            (persistent, EventType::PersistentWatchRemoved),
        ]
        .into_iter()
        .filter_map(|(yes, e)| yes.then_some(e))
        .collect();
        if removed.is_empty() {
            return Err(ErrorCode::NoWatcher);
        }
        Ok(removed)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_text_is_javas() {
        let e = WatchedEvent {
            state: KeeperState::SyncConnected,
            kind: EventType::NodeDataChanged,
            path: Some("/a".into()),
        };
        assert_eq!(e.to_string(), "WatchedEvent state:SyncConnected type:NodeDataChanged path:/a");
        assert_eq!(
            WatchedEvent::state(KeeperState::Closed).to_string(),
            "WatchedEvent state:Closed type:None path:null"
        );
    }

    #[test]
    fn one_shot_watches_fire_once_persistent_ones_keep_firing() {
        let mut w = WatchRegistry::default();
        w.register(&Registration::Data("/a".into()), ErrorCode::Ok);
        w.register(&Registration::Exists("/b".into()), ErrorCode::NoNode);
        w.register(&Registration::Child("/a".into()), ErrorCode::Ok);
        w.register(&Registration::Data("/gone".into()), ErrorCode::NoNode);
        assert!(w.materialize(EventType::NodeDataChanged, "/a"));
        assert!(!w.materialize(EventType::NodeDataChanged, "/a"));
        assert!(w.materialize(EventType::NodeCreated, "/b"));
        assert!(w.materialize(EventType::NodeDeleted, "/a"), "the child watch");
        assert!(!w.materialize(EventType::NodeDeleted, "/gone"));
        assert!(w.is_empty());

        w.register(&Registration::Persistent("/p".into()), ErrorCode::Ok);
        w.register(&Registration::PersistentRecursive("/r".into()), ErrorCode::Ok);
        for _ in 0..2 {
            assert!(w.materialize(EventType::NodeDataChanged, "/p"));
            assert!(!w.materialize(EventType::NodeDataChanged, "/p/kid"));
            assert!(w.materialize(EventType::NodeCreated, "/r/a/b"));
            assert!(w.materialize(EventType::NodeDeleted, "/r"));
            assert!(!w.materialize(EventType::NodeDeleted, "/rx"));
        }
        w.register(&Registration::PersistentRecursive("/".into()), ErrorCode::Ok);
        assert!(w.materialize(EventType::NodeDeleted, "/rx"));
    }

    #[test]
    fn remove_reports_each_kind_removed() {
        let mut w = WatchRegistry::default();
        w.register(&Registration::Data("/w".into()), ErrorCode::Ok);
        assert_eq!(w.remove("/w", watcher_type::CHILDREN, false, ErrorCode::NoWatcher), Err(ErrorCode::NoWatcher));
        assert_eq!(w.remove("/w", watcher_type::DATA, false, ErrorCode::Ok), Ok(vec![EventType::DataWatchRemoved]));
        assert_eq!(w.remove("/w", watcher_type::ANY, false, ErrorCode::Ok), Err(ErrorCode::NoWatcher));

        w.register(&Registration::Child("/w".into()), ErrorCode::Ok);
        w.register(&Registration::Persistent("/w".into()), ErrorCode::Ok);
        // Persistent watches count as present for -c, but only -a removes them.
        assert_eq!(
            w.remove("/w", watcher_type::CHILDREN, false, ErrorCode::Ok),
            Ok(vec![EventType::ChildWatchRemoved])
        );
        assert_eq!(w.remove("/w", watcher_type::CHILDREN, false, ErrorCode::Ok), Err(ErrorCode::NoWatcher));
        // A server error is reported unless the removal is local.
        assert_eq!(w.remove("/w", watcher_type::ANY, false, ErrorCode::ConnectionLoss), Err(ErrorCode::ConnectionLoss));
        assert_eq!(
            w.remove("/w", watcher_type::ANY, true, ErrorCode::ConnectionLoss),
            Ok(vec![EventType::PersistentWatchRemoved])
        );
        assert!(w.is_empty());
    }
}
