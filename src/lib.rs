//! Rookery: a ZooKeeper-compatible coordination service.
//!
//! Layers (a module uses only layers below it; see DESIGN.md):
//!
//! ```text
//! L0 vocabulary   codes, ids, limits, config, verifier (QuorumVerifier)
//! L1 codec        jute (records, framing), http (request heads, responses)
//! L2 state        tree (DataTree, paths, ACLs), watches, sessions
//! L4 decisions    pipeline (prep, commit), fourlw, admin, metrics
//! L5 shell        node (threads, sockets, channels, clocks)
//! L6 binary       main.rs, serve (the server process: signals, systemd notification), cli (rookery cli),
//!                 status, bench, dump
//! ```
//! `client` is a small synchronous client on the same codec, for the CLI, benchmarks and tests.

pub mod admin;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod client;
pub mod codes;
pub mod config;
pub mod dump;
pub mod election;
pub mod fourlw;
pub mod http;
pub mod ids;
pub mod jute;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod pipeline;
pub mod serve;
pub mod sessions;
pub mod status;
pub mod storage;
pub mod tree;
pub mod verifier;
pub mod watches;
pub mod zab;
