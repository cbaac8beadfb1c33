//! Fast Leader Election (ZooKeeper's `FastLeaderElection`), as a pure core: notifications and
//! ticks in, notifications to send and the election's outcome out.
//!
//! - `vote`: server states, votes, and the order between candidates (`supersedes`).
//! - `wire`: the bytes of the election port: notifications, frames, the connection's initial message.
//! - `fle`: one server's election state machine (`Election`).
//!
//! Like the other decision cores this module touches no socket, thread or clock; the pump that
//! owns the election connections (a QuorumCnxManager of our own) feeds it and carries out its
//! outputs.

pub mod fle;
pub mod vote;
pub mod wire;

pub use fle::{Election, Output, Tick, Timing};
pub use vote::{supersedes, PeerState, Proposal, Vote};
pub use wire::Notification;
