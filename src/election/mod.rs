//! Fast Leader Election (ZooKeeper's `FastLeaderElection`), as a pure core: notifications and
//! ticks in, notifications to send and the election's outcome out.
