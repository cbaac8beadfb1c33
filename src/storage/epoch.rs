//! `acceptedEpoch` and `currentEpoch` in `dataDir/version-2`: one ASCII decimal number each,
//! written atomically (temporary file, fsync, rename, fsync of the directory), so a crash leaves
//! the old value or the new one (ZOOKEEPER-1653).

use super::file_log::sync_dir;
use super::StorageError;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
pub const CURRENT_EPOCH: &str = "currentEpoch";

/// The value in `dir/name`, or None if the file does not exist.
pub fn read_epoch(dir: &Path, name: &str) -> Result<Option<u64>, StorageError> {
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse::<u64>().map(Some).map_err(|_| StorageError::Corrupt {
            file: path.clone(),
            offset: 0,
            what: format!("expected a decimal epoch, found {:?}", text.trim()),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(&path, e)),
    }
}

pub fn write_epoch(dir: &Path, name: &str, epoch: u64) -> Result<(), StorageError> {
    fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(epoch.to_string().as_bytes())?;
        f.sync_all()
    };
    write().map_err(|e| StorageError::io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let dir = std::env::temp_dir().join(format!("rookery-epoch-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(read_epoch(&dir, CURRENT_EPOCH).unwrap(), None);
        write_epoch(&dir, CURRENT_EPOCH, 7).unwrap();
        assert_eq!(read_epoch(&dir, CURRENT_EPOCH).unwrap(), Some(7));
        fs::write(dir.join(ACCEPTED_EPOCH), "x7").unwrap();
        assert!(read_epoch(&dir, ACCEPTED_EPOCH).is_err());
        let _ = fs::remove_dir_all(&dir);
    }
}
