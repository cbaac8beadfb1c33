//! A linearizability checker for histories of one register (a znode's data and version), in the
//! manner of Wing & Gong with memoisation (as Knossos/Porcupine do): search for an order of the
//! operations that respects real time (an op that completed before another was invoked comes
//! first) and the register's sequential behaviour. Ops whose outcome is unknown (the client lost
//! its connection, the server was killed) may take effect at any point after their invocation,
//! or never.
#![allow(dead_code)]

use std::collections::HashSet;

/// The register: the node's data (a number) and its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reg {
    pub value: u64,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// getData: saw this state.
    Read { saw: Reg },
    /// setData with version -1.
    Write { value: u64, ok: Option<bool> },
    /// setData with an expected version: ok = matched; None = unknown outcome.
    Cas { expect: i32, value: u64, ok: Option<bool> },
}

#[derive(Debug, Clone)]
pub struct Event {
    pub op: Op,
    /// Monotonic times (any unit) of invocation and completion; `end` is None when unknown.
    pub start: u64,
    pub end: Option<u64>,
}

impl Op {
    /// Applies the op to `r`; None if the op could not have returned what it did from state `r`.
    fn step(&self, r: Reg) -> Option<Reg> {
        match *self {
            Op::Read { saw } => (saw == r).then_some(r),
            Op::Write { value, ok } => match ok {
                Some(false) => None, // a failed unconditional write tells nothing; excluded before
                _ => Some(Reg { value, version: r.version + 1 }),
            },
            Op::Cas { expect, value, ok } => {
                let matches = r.version == expect;
                match ok {
                    Some(true) if matches => Some(Reg { value, version: r.version + 1 }),
                    Some(false) if !matches => Some(r),
                    None if matches => Some(Reg { value, version: r.version + 1 }),
                    _ => None,
                }
            }
        }
    }

    fn outcome_unknown(&self) -> bool {
        matches!(self, Op::Write { ok: None, .. } | Op::Cas { ok: None, .. })
    }
}

/// Whether the history is linearizable from `initial`. Unknown-outcome ops may also never
/// happen. Panics past 64 events (split histories by key).
pub fn check(initial: Reg, events: &[Event]) -> bool {
    let events: Vec<&Event> = events.iter().filter(|e| !matches!(e.op, Op::Write { ok: Some(false), .. })).collect();
    assert!(events.len() <= 64, "split the history: {} events", events.len());
    let n = events.len();
    // Ops that must take effect: everything but unknown outcomes.
    let required: u64 = (0..n).filter(|&i| !events[i].op.outcome_unknown()).fold(0, |m, i| m | 1 << i);
    let mut seen: HashSet<(u64, Reg)> = HashSet::new();
    let mut stack = vec![(0u64, initial)];
    while let Some((done, reg)) = stack.pop() {
        if done & required == required {
            return true;
        }
        if !seen.insert((done, reg)) {
            continue;
        }
        // The earliest completion among ops not yet linearized: nothing invoked after it can go
        // before it.
        let horizon = (0..n).filter(|&i| done & (1 << i) == 0).filter_map(|i| events[i].end).min().unwrap_or(u64::MAX);
        for (i, e) in events.iter().enumerate() {
            if done & (1 << i) != 0 || e.start > horizon {
                continue;
            }
            if let Some(next) = e.op.step(reg) {
                stack.push((done | 1 << i, next));
            }
        }
    }
    false
}
