//! Storage (L3): ZooKeeper's on-disk formats — the txn log, snapshots, epoch files — and
//! recovery. Everything here uses `std::fs` and nothing else from the outside world.

pub mod checksum;
pub mod epoch;
pub mod file_log;
pub mod purge;
pub mod recovery;
pub mod snapshot;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What the disk did wrong, always naming the file.
#[derive(Debug)]
pub enum StorageError {
    Io {
        path: PathBuf,
        err: io::Error,
    },
    /// Damaged data that recovery must not guess around.
    Corrupt {
        file: PathBuf,
        offset: u64,
        what: String,
    },
    /// Files that are fine one by one but cannot be used together (e.g. logs but no snapshot).
    Inconsistent(String),
}

impl StorageError {
    pub fn io(path: &Path, err: io::Error) -> StorageError {
        StorageError::Io { path: path.to_path_buf(), err }
    }
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StorageError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            StorageError::Corrupt { file, offset, what } => {
                write!(f, "{} at offset {offset}: {what}", file.display())
            }
            StorageError::Inconsistent(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for StorageError {}
