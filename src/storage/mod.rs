//! Storage (L3): ZooKeeper's on-disk formats — the txn log, snapshots, epoch files — and
//! recovery. Everything here uses `std::fs` and nothing else from the outside world.

pub mod checksum;
