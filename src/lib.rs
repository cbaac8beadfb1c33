//! Rookery: a ZooKeeper-compatible coordination service.
//!
//! Layers (a module uses only layers below it; see DESIGN.md):
//!
//! ```text
//! L0 vocabulary   codes, ids, limits, config
//! L1 codec        jute (records, framing)
//! L2 state        tree (DataTree, paths, ACLs), watches, sessions
//! L4 decisions    pipeline (prep, commit), fourlw
//! L5 shell        node (threads, sockets, channels, clocks)
//! L6 binary       main.rs, cli (rookery cli), status, bench, dump
//! ```
//! `client` is a small synchronous client on the same codec, for the CLI, benchmarks and tests.

pub mod bench;
pub mod cli;
pub mod client;
pub mod codes;
pub mod config;
pub mod dump;
pub mod election;
pub mod fourlw;
pub mod ids;
pub mod jute;
pub mod limits;
pub mod node;
pub mod pipeline;
pub mod sessions;
pub mod status;
pub mod storage;
pub mod tree;
pub mod watches;
pub mod zab;
