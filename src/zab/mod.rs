//! ZAB, ZooKeeper's atomic broadcast: discovery, synchronisation and broadcast between a leader
//! and its learners, as pure cores driven by `node`.

pub mod leader;
pub mod learner;
pub mod packet;
