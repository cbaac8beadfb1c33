//! `rookery dump log FILE` and `rookery dump snapshot FILE`: the data-file inspector, in the
//! layout of ZooKeeper's `TxnLogToolkit` and `SnapshotFormatter`, or as JSON (`--json`).

use crate::codes::op;
use crate::jute::data::Acl;
use crate::jute::txn_body::{Transaction, TxnBody};
use crate::storage::file_log::read_logs;
use crate::storage::snapshot::read_snapshot;
use crate::storage::StorageError;
use std::fmt::Write;
use std::path::Path;

/// A JSON string literal.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Data as text when it is printable UTF-8, else as hex.
fn show_data(d: Option<&[u8]>) -> String {
    match d {
        None => "null".into(),
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) if s.chars().all(|c| !c.is_control() || c == '\n') => s.to_string(),
            _ => format!("0x{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        },
    }
}

fn acl_text(acl: &[Acl]) -> String {
    acl.iter().map(|a| format!("{}:{}:{}", a.id.scheme, a.id.id, a.perms)).collect::<Vec<_>>().join(",")
}

/// One txn body in TxnLogToolkit's words.
fn describe(body: &TxnBody) -> String {
    match body {
        TxnBody::Create(t) => format!(
            "'{},'{},{},{},{}",
            t.path,
            show_data(t.data.as_deref()),
            acl_text(&t.acl),
            t.ephemeral,
            t.parent_cversion
        ),
        TxnBody::CreateContainer(t) => {
            format!("'{},'{},{},{}", t.path, show_data(t.data.as_deref()), acl_text(&t.acl), t.parent_cversion)
        }
        TxnBody::CreateTtl(t) => format!(
            "'{},'{},{},{},{}",
            t.path,
            show_data(t.data.as_deref()),
            acl_text(&t.acl),
            t.parent_cversion,
            t.ttl
        ),
        TxnBody::Delete(t) => format!("'{}", t.path),
        TxnBody::SetData(t) => format!("'{},'{},{}", t.path, show_data(t.data.as_deref()), t.version),
        TxnBody::SetAcl(t) => format!("'{},{},{}", t.path, acl_text(&t.acl), t.version),
        TxnBody::Check(t) => format!("'{},{}", t.path, t.version),
        TxnBody::CreateSession(t) => t.time_out.to_string(),
        TxnBody::CloseSession(Some(t)) => t.paths_to_delete.join(","),
        TxnBody::CloseSession(None) => String::new(),
        TxnBody::Error(t) => t.err.to_string(),
        TxnBody::Multi(subs) => {
            subs.iter().map(|s| format!("{}:{}", op::name(s.kind), describe(&s.body))).collect::<Vec<_>>().join("; ")
        }
    }
}

pub fn dump_log(path: &Path, json: bool) -> Result<String, StorageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let first = crate::storage::file_log::zxid_of_name(&name, "log")
        .ok_or_else(|| StorageError::Inconsistent(format!("{}: not a log.<hex zxid> file", path.display())))?;
    // Read just this file: every record from its first zxid, stopping at the next file.
    let scan = read_logs(dir, first)?;
    let next_file = crate::storage::file_log::list_logs(dir)?.into_iter().map(|(z, _)| z).find(|z| *z > first);
    let mut out = String::new();
    let mut n = 0;
    if json {
        out.push_str("[\n");
    } else {
        let _ = writeln!(out, "ZooKeeper Transactional Log File with dbid 0 txnlog format version 2");
    }
    for rec in scan.records.iter().filter(|r| next_file.is_none_or(|z| r.zxid < z)) {
        let txn = Transaction::from_bytes(&rec.payload)
            .map_err(|e| StorageError::Inconsistent(format!("txn 0x{:x} does not decode: {e}", rec.zxid)))?;
        let h = &txn.header;
        if json {
            let _ = writeln!(
                out,
                "{}{{\"zxid\":\"0x{:x}\",\"session\":\"0x{:x}\",\"cxid\":{},\"time\":{},\"type\":{},\"txn\":{}}}",
                if n == 0 { "" } else { "," },
                h.zxid,
                h.client_id,
                h.cxid,
                h.time,
                js(op::name(h.kind)),
                js(&describe(&txn.body))
            );
        } else {
            let _ = writeln!(
                out,
                "{} session 0x{:x} cxid 0x{:x} zxid 0x{:x} {} {}",
                h.time,
                h.client_id,
                h.cxid,
                h.zxid,
                op::name(h.kind),
                describe(&txn.body)
            );
        }
        n += 1;
    }
    if json {
        out.push_str("]\n");
    } else {
        let _ = writeln!(out, "EOF reached after {n} txns.");
    }
    Ok(out)
}

pub fn dump_snapshot(path: &Path, json: bool) -> Result<String, StorageError> {
    let loaded = read_snapshot(path)?;
    let tree = &loaded.tree;
    let nodes: Vec<_> = tree.nodes_after(None, usize::MAX).collect();
    let mut out = String::new();
    if json {
        out.push_str("{\"zxid\":");
        let _ = writeln!(out, "\"0x{:x}\",\"nodes\":[", loaded.zxid);
        for (i, (p, n)) in nodes.iter().enumerate() {
            let s = n.stat();
            let _ = writeln!(
                out,
                "{}{{\"path\":{},\"data\":{},\"acl\":{},\"czxid\":\"0x{:x}\",\"mzxid\":\"0x{:x}\",\"pzxid\":\"0x{:x}\",\"ctime\":{},\"mtime\":{},\"version\":{},\"cversion\":{},\"aversion\":{},\"ephemeralOwner\":\"0x{:x}\",\"dataLength\":{},\"numChildren\":{}}}",
                if i == 0 { "" } else { "," },
                js(p),
                js(&show_data(n.data.as_deref())),
                js(&acl_text(&tree.acl_of(n))),
                s.czxid, s.mzxid, s.pzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion, s.ephemeral_owner, s.data_length, s.num_children
            );
        }
        out.push_str("],\"sessions\":[");
        for (i, (id, to)) in tree.sessions.iter().enumerate() {
            let _ = write!(
                out,
                "{}{{\"id\":\"0x{id:x}\",\"timeout\":{to},\"ephemerals\":{}}}",
                if i == 0 { "" } else { "," },
                tree.ephemerals_of(*id).len()
            );
        }
        out.push(']');
        if let Some((z, d)) = loaded.digest {
            let _ = write!(out, ",\"digest\":{{\"zxid\":\"0x{z:x}\",\"digest\":{d}}}");
        }
        out.push_str("}\n");
        return Ok(out);
    }
    let _ = writeln!(out, "ZNode Details (count={}):", nodes.len());
    for (p, n) in &nodes {
        let s = n.stat();
        let _ = writeln!(out, "----\n{p}");
        let _ = writeln!(
            out,
            "  cZxid = 0x{:014x}\n  ctime = {}\n  mZxid = 0x{:014x}\n  mtime = {}",
            s.czxid, s.ctime, s.mzxid, s.mtime
        );
        let _ = writeln!(
            out,
            "  pZxid = 0x{:014x}\n  cversion = {}\n  dataVersion = {}\n  aclVersion = {}",
            s.pzxid, s.cversion, s.version, s.aversion
        );
        let _ = writeln!(out, "  ephemeralOwner = 0x{:014x}\n  dataLength = {}", s.ephemeral_owner, s.data_length);
    }
    let _ = writeln!(out, "----\nSession Details (sid, timeout, ephemeralCount):");
    for (id, to) in &tree.sessions {
        let _ = writeln!(out, "0x{id:x}, {to}, {}", tree.ephemerals_of(*id).len());
    }
    let _ = writeln!(out, "----\nLast zxid: 0x{:x}", loaded.digest.map_or(loaded.zxid, |(z, _)| z.max(loaded.zxid)));
    Ok(out)
}
