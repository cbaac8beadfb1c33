//! A whole transaction as the log stores it and every server applies it: `TxnHeader`, then the
//! record named by the header's type, then (optionally) a `TxnDigest`.
//!
//! ```text
//! create, create2      CreateTxn            createTTL       CreateTTLTxn
//! createContainer      CreateContainerTxn   delete,
//! setData, reconfig    SetDataTxn             deleteContainer DeleteTxn
//! setACL               SetACLTxn            check           CheckVersionTxn
//! createSession        CreateSessionTxn     closeSession    CloseSessionTxn (empty before 3.6)
//! error                ErrorTxn             multi           MultiTxn{ vector<Txn{type, buffer}> }
//! ```

use super::txn::*;
use super::{DecodeError, Reader, Record, Result};
use crate::codes::op;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnBody {
    /// create and create2 (the kind is kept by the enclosing header or sub-txn).
    Create(CreateTxn),
    CreateContainer(CreateContainerTxn),
    CreateTtl(CreateTtlTxn),
    /// delete and deleteContainer.
    Delete(DeleteTxn),
    /// setData and reconfig.
    SetData(SetDataTxn),
    SetAcl(SetAclTxn),
    Check(CheckVersionTxn),
    CreateSession(CreateSessionTxn),
    /// `None` for logs written before CloseSessionTxn existed (empty body).
    CloseSession(Option<CloseSessionTxn>),
    Error(ErrorTxn),
    Multi(Vec<SubTxn>),
}

/// One operation inside a multi: its own type and body; it shares the multi's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubTxn {
    pub kind: i32,
    pub body: TxnBody,
}

/// A transaction with its header; `digest` is the tree digest after it, when the writer had
/// digests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub header: TxnHeader,
    pub body: TxnBody,
    pub digest: Option<TxnDigest>,
}

impl TxnBody {
    pub fn read(kind: i32, r: &mut Reader<'_>) -> Result<TxnBody> {
        Ok(match kind {
            op::CREATE | op::CREATE2 => TxnBody::Create(CreateTxn::read(r)?),
            op::CREATE_CONTAINER => TxnBody::CreateContainer(CreateContainerTxn::read(r)?),
            op::CREATE_TTL => TxnBody::CreateTtl(CreateTtlTxn::read(r)?),
            op::DELETE | op::DELETE_CONTAINER => TxnBody::Delete(DeleteTxn::read(r)?),
            op::SET_DATA | op::RECONFIG => TxnBody::SetData(SetDataTxn::read(r)?),
            op::SET_ACL => TxnBody::SetAcl(SetAclTxn::read(r)?),
            op::CHECK => TxnBody::Check(CheckVersionTxn::read(r)?),
            op::CREATE_SESSION => TxnBody::CreateSession(CreateSessionTxn::read(r)?),
            op::CLOSE_SESSION if r.is_empty() => TxnBody::CloseSession(None),
            op::CLOSE_SESSION => TxnBody::CloseSession(Some(CloseSessionTxn::read(r)?)),
            op::ERROR => TxnBody::Error(ErrorTxn::read(r)?),
            op::MULTI => {
                let multi = MultiTxn::read(r)?;
                let mut subs = Vec::with_capacity(multi.txns.len());
                for t in multi.txns {
                    if t.kind == op::MULTI {
                        return Err(DecodeError::Invalid("nested multi txn"));
                    }
                    let data = t.data.unwrap_or_default();
                    let body = TxnBody::read(t.kind, &mut Reader::new(&data))?;
                    subs.push(SubTxn { kind: t.kind, body });
                }
                TxnBody::Multi(subs)
            }
            _ => return Err(DecodeError::Invalid("txn type")),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            TxnBody::Create(t) => t.write(out),
            TxnBody::CreateContainer(t) => t.write(out),
            TxnBody::CreateTtl(t) => t.write(out),
            TxnBody::Delete(t) => t.write(out),
            TxnBody::SetData(t) => t.write(out),
            TxnBody::SetAcl(t) => t.write(out),
            TxnBody::Check(t) => t.write(out),
            TxnBody::CreateSession(t) => t.write(out),
            TxnBody::CloseSession(Some(t)) => t.write(out),
            TxnBody::CloseSession(None) => {}
            TxnBody::Error(t) => t.write(out),
            TxnBody::Multi(subs) => {
                let txns = subs
                    .iter()
                    .map(|s| {
                        let mut data = Vec::new();
                        s.body.write(&mut data);
                        Txn { kind: s.kind, data: Some(data) }
                    })
                    .collect();
                MultiTxn { txns }.write(out);
            }
        }
    }
}

impl Transaction {
    pub fn write(&self, out: &mut Vec<u8>) {
        self.header.write(out);
        self.body.write(out);
        if let Some(d) = &self.digest {
            d.write(out);
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write(&mut v);
        v
    }

    /// Decodes a whole logged transaction; a digest is read if bytes remain after the body.
    pub fn from_bytes(buf: &[u8]) -> Result<Transaction> {
        let mut r = Reader::new(buf);
        let header = TxnHeader::read(&mut r)?;
        let body = TxnBody::read(header.kind, &mut r)?;
        let digest = if r.is_empty() { None } else { Some(TxnDigest::read(&mut r)?) };
        Ok(Transaction { header, body, digest })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jute::data::open_acl_unsafe;

    #[test]
    fn multi_round_trips() {
        let t = Transaction {
            header: TxnHeader { client_id: 9, cxid: 3, zxid: 0x100000004, time: 77, kind: op::MULTI },
            body: TxnBody::Multi(vec![
                SubTxn {
                    kind: op::CREATE,
                    body: TxnBody::Create(CreateTxn {
                        path: "/a".into(),
                        data: Some(b"x".to_vec()),
                        acl: open_acl_unsafe(),
                        ephemeral: false,
                        parent_cversion: 1,
                    }),
                },
                SubTxn { kind: op::ERROR, body: TxnBody::Error(ErrorTxn { err: -101 }) },
            ]),
            digest: Some(TxnDigest { version: 2, tree_digest: 12345 }),
        };
        assert_eq!(Transaction::from_bytes(&t.to_bytes()).unwrap(), t);
    }

    #[test]
    fn old_close_session_has_an_empty_body() {
        let t = Transaction {
            header: TxnHeader { client_id: 9, cxid: 0, zxid: 5, time: 1, kind: op::CLOSE_SESSION },
            body: TxnBody::CloseSession(None),
            digest: None,
        };
        assert_eq!(t.to_bytes().len(), 32);
        assert_eq!(Transaction::from_bytes(&t.to_bytes()).unwrap(), t);
    }
}
