//! `dynamicConfigFile` on disk, as ZooKeeper's `QuorumPeer.setQuorumVerifier(qv, true)` keeps
//! it: each configuration put in force is written to `<zoo.cfg>.dynamic.<version in hex>`, and
//! `zoo.cfg` is rewritten to point at it (its `server.N` lines move out; the first time, the
//! original is kept as `<zoo.cfg>.bak`). Both writes are atomic (temporary file, fsync,
//! rename, fsync of the directory), so a crash leaves the old or the new file, never half of one.

use crate::config::{dynamic_file_text, edited_static_config, Config};
use crate::verifier::QuorumVerifier;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `QuorumPeer.makeDynamicConfigFilename`.
pub fn dynamic_path(zoo_cfg: &Path, version: u64) -> PathBuf {
    let mut name = zoo_cfg.as_os_str().to_owned();
    name.push(format!(".dynamic.{version:x}"));
    PathBuf::from(name)
}

/// Writes `qv` as the configuration `cfg.file` names.
pub fn save(cfg: &Config, qv: &QuorumVerifier) -> io::Result<()> {
    let dynamic = dynamic_path(&cfg.file, qv.version);
    write_atomically(&dynamic, dynamic_file_text(qv).as_bytes())?;
    let text = fs::read_to_string(&cfg.file)?;
    let bak = {
        let mut b = cfg.file.as_os_str().to_owned();
        b.push(".bak");
        PathBuf::from(b)
    };
    if !text.contains("dynamicConfigFile") && !bak.exists() {
        write_atomically(&bak, text.as_bytes())?;
    }
    let absolute = std::path::absolute(&dynamic)?;
    let erase_client = cfg.my_id.and_then(|id| qv.servers.get(&id)).is_some_and(|s| s.client_addr.is_some());
    let edited = edited_static_config(&text, &absolute.to_string_lossy(), erase_client).map_err(io::Error::other)?;
    write_atomically(&cfg.file, edited.as_bytes())
}

/// `<zoo.cfg>.dynamic.next`: the last configuration seen announced and not yet in force, with
/// its `version=` line (`QuorumPeerConfig.writeDynamicConfig(..., needKeepVersion=true)`).
fn next_path(cfg: &Config) -> PathBuf {
    let mut name = cfg.file.as_os_str().to_owned();
    name.push(".dynamic.next");
    PathBuf::from(name)
}

pub fn save_next(cfg: &Config, qv: &QuorumVerifier) -> io::Result<()> {
    let mut text = dynamic_file_text(qv);
    text.push_str(&format!("\nversion={:x}", qv.version));
    write_atomically(&next_path(cfg), text.as_bytes())
}

/// The `.dynamic.next` file, if there is one that parses.
pub fn load_next(cfg: &Config) -> Option<QuorumVerifier> {
    let text = fs::read_to_string(next_path(cfg)).ok()?;
    match QuorumVerifier::parse(&text) {
        Ok(qv) => Some(qv),
        Err(e) => {
            log::warn!("ignoring {}: {e}", next_path(cfg).display());
            None
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let mut f = fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}
