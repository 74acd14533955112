//! Conversions between the store's types and etcd-client's, and the meaning of etcd's errors.

use etcd_client as etcd;

use crate::types::{
    Compare, CompareOp, CompareTarget, Event, EventKind, KeyRange, KeyValue, LeaseId, Op,
    OpResponse, RangeRequest, RangeResponse, Revision, Txn, TxnResponse, prefix_end,
};
use crate::{Result, StoreError};

/// etcd's range end meaning "every key from the start key on".
const FROM_KEY: &[u8] = b"\0";

/// The smallest key etcd can store (etcd rejects the empty key).
const SMALLEST_KEY: &[u8] = b"\0";

/// gRPC status code `INVALID_ARGUMENT`.
const GRPC_INVALID_ARGUMENT: i32 = 3;

/// gRPC status code `OUT_OF_RANGE` (etcd uses it for compacted and future revisions and for a
/// lease TTL that is too large).
const GRPC_OUT_OF_RANGE: i32 = 11;

/// etcd's `(key, range_end)` for a key range; `None` means a single key.
///
/// An empty start key becomes `"\0"`, the smallest key etcd accepts. A `Range` that holds no
/// key (its end is not above its start) becomes `["\0\0", "\0\0")`, which holds no key in
/// etcd either; passing the bounds through as they are could turn an empty end into "one key"
/// and an end of `"\0"` into "to the end of the keyspace".
pub(super) fn etcd_range(range: &KeyRange) -> (Vec<u8>, Option<Vec<u8>>) {
    match range {
        KeyRange::Key(key) => (key.clone(), None),
        KeyRange::Prefix(prefix) => {
            let end = prefix_end(prefix).unwrap_or_else(|| FROM_KEY.to_vec());
            (non_empty(prefix), Some(end))
        }
        KeyRange::Range { start, end } => {
            let start = non_empty(start);
            if end.as_slice() <= start.as_slice() {
                let nothing = b"\0\0".to_vec();
                return (nothing.clone(), Some(nothing));
            }
            (start, Some(end.clone()))
        }
        KeyRange::From(start) => (non_empty(start), Some(FROM_KEY.to_vec())),
    }
}

/// `key`, or the smallest etcd key when `key` is empty.
fn non_empty(key: &[u8]) -> Vec<u8> {
    if key.is_empty() {
        SMALLEST_KEY.to_vec()
    } else {
        key.to_vec()
    }
}

/// etcd get options for a range request (without the key, which etcd-client takes apart).
pub(super) fn get_options(req: &RangeRequest, end: Option<Vec<u8>>) -> etcd::GetOptions {
    let limit = i64::try_from(req.limit).unwrap_or(i64::MAX);
    let mut options = etcd::GetOptions::new()
        .with_revision(req.revision)
        .with_limit(limit);
    if req.count_only {
        options = options.with_count_only();
    }
    if let Some(end) = end {
        options = options.with_range(end);
    }
    options
}

/// Converts an etcd key-value.
pub(super) fn key_value(kv: etcd::KeyValue) -> KeyValue {
    let (create_revision, mod_revision) = (kv.create_revision(), kv.mod_revision());
    let (version, lease) = (kv.version(), kv.lease());
    let (key, value) = kv.into_key_value();
    KeyValue {
        key,
        value,
        create_revision,
        mod_revision,
        version,
        lease,
    }
}

/// Converts etcd's answer to a range; `fallback_revision` is used if it carries no header.
pub(super) fn range_response(
    mut resp: etcd::GetResponse,
    fallback_revision: Revision,
) -> RangeResponse {
    let revision = resp
        .header()
        .map_or(fallback_revision, etcd::ResponseHeader::revision);
    RangeResponse {
        count: resp.count(),
        more: resp.more(),
        revision,
        kvs: resp.take_kvs().into_iter().map(key_value).collect(),
    }
}

/// Converts a transaction.
pub(super) fn txn(txn: Txn) -> etcd::Txn {
    let compares: Vec<_> = txn.compares.into_iter().map(compare).collect();
    let success: Vec<_> = txn.success.into_iter().map(txn_op).collect();
    let failure: Vec<_> = txn.failure.into_iter().map(txn_op).collect();
    etcd::Txn::new()
        .when(compares)
        .and_then(success)
        .or_else(failure)
}

/// Converts one compare; targets and relations map one to one.
fn compare(cmp: Compare) -> etcd::Compare {
    let op = match cmp.op {
        CompareOp::Equal => etcd::CompareOp::Equal,
        CompareOp::NotEqual => etcd::CompareOp::NotEqual,
        CompareOp::Greater => etcd::CompareOp::Greater,
        CompareOp::Less => etcd::CompareOp::Less,
    };
    match cmp.target {
        CompareTarget::Version(v) => etcd::Compare::version(cmp.key, op, v),
        CompareTarget::CreateRevision(r) => etcd::Compare::create_revision(cmp.key, op, r),
        CompareTarget::ModRevision(r) => etcd::Compare::mod_revision(cmp.key, op, r),
        CompareTarget::Value(v) => etcd::Compare::value(cmp.key, op, v),
        CompareTarget::Lease(l) => etcd::Compare::lease(cmp.key, op, l),
    }
}

/// Converts one operation; writes ask for the previous key-values.
fn txn_op(op: Op) -> etcd::TxnOp {
    match op {
        Op::Put { key, value, lease } => {
            let options = etcd::PutOptions::new().with_lease(lease).with_prev_key();
            etcd::TxnOp::put(key, value, Some(options))
        }
        Op::Delete(range) => {
            let (key, end) = etcd_range(&range);
            let mut options = etcd::DeleteOptions::new().with_prev_key();
            if let Some(end) = end {
                options = options.with_range(end);
            }
            etcd::TxnOp::delete(key, Some(options))
        }
        Op::Range(req) => {
            let (key, end) = etcd_range(&req.range);
            etcd::TxnOp::get(key, Some(get_options(&req, end)))
        }
    }
}

/// Converts etcd's answer to a transaction.
pub(super) fn txn_response(resp: etcd::TxnResponse) -> Result<TxnResponse> {
    let revision = resp.header().map_or(0, etcd::ResponseHeader::revision);
    let responses = resp
        .op_responses()
        .into_iter()
        .map(|op| op_response(op, revision))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| StoreError::backend("txn", "etcd answered with a nested transaction"))?;
    Ok(TxnResponse {
        succeeded: resp.succeeded(),
        revision,
        responses,
    })
}

/// Converts the answer to one transaction operation; `None` for a nested transaction, which
/// the store never sends.
fn op_response(resp: etcd::TxnOpResponse, revision: Revision) -> Option<OpResponse> {
    Some(match resp {
        etcd::TxnOpResponse::Put(mut put) => OpResponse::Put {
            prev: put.take_prev_key().map(key_value),
        },
        etcd::TxnOpResponse::Delete(mut delete) => OpResponse::Delete {
            prev: delete.take_prev_kvs().into_iter().map(key_value).collect(),
        },
        etcd::TxnOpResponse::Get(get) => OpResponse::Range(range_response(get, revision)),
        etcd::TxnOpResponse::Txn(_) => return None,
    })
}

/// The revision a transaction reads at, for error reports: that of its first historical read.
pub(super) fn txn_read_revision(txn: &Txn) -> Revision {
    txn_ops(txn)
        .find_map(|op| match op {
            Op::Range(req) if req.revision != 0 => Some(req.revision),
            _ => None,
        })
        .unwrap_or(0)
}

/// The lease a transaction attaches keys to, for error reports: that of its first leased put.
pub(super) fn txn_lease(txn: &Txn) -> LeaseId {
    txn_ops(txn)
        .find_map(|op| match op {
            Op::Put { lease, .. } if *lease != 0 => Some(*lease),
            _ => None,
        })
        .unwrap_or(0)
}

/// Every operation of both branches.
fn txn_ops(txn: &Txn) -> impl Iterator<Item = &Op> {
    txn.success.iter().chain(&txn.failure)
}

/// Converts a watch event.
pub(super) fn event(event: &etcd::Event) -> Event {
    let kind = match event.event_type() {
        etcd::EventType::Put => EventKind::Put,
        etcd::EventType::Delete => EventKind::Delete,
    };
    Event {
        kind,
        kv: event.kv().cloned().map(key_value).unwrap_or_default(),
        prev_kv: event.prev_kv().cloned().map(key_value),
    }
}

/// What an etcd error means to the store.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// "mvcc: required revision has been compacted".
    Compacted,
    /// "mvcc: required revision is a future revision".
    FutureRevision,
    /// "requested lease not found", or a keep-alive answered with TTL 0.
    LeaseNotFound,
    /// etcd rejected the request as malformed (empty key, duplicate key, too many operations,
    /// TTL too large, request too large).
    InvalidArgument(String),
    /// Anything else: transport failures, no leader, timeouts.
    Other,
}

/// Classifies an etcd error. etcd reports these conditions only as gRPC status messages,
/// so the classification matches on etcd's (stable) error strings.
pub(super) fn classify(err: &etcd::Error) -> Failure {
    let status = match err {
        etcd::Error::GRpcStatus(status) => status,
        // etcd-client reports a keep-alive answered with TTL 0 this way.
        etcd::Error::LeaseKeepAliveError(msg) if msg.contains("lease not found") => {
            return Failure::LeaseNotFound;
        }
        _ => return Failure::Other,
    };
    let message = status.message();
    if message.contains("required revision has been compacted") {
        Failure::Compacted
    } else if message.contains("required revision is a future revision") {
        Failure::FutureRevision
    } else if message.contains("requested lease not found") {
        Failure::LeaseNotFound
    } else if matches!(
        i32::from(status.code()),
        GRPC_INVALID_ARGUMENT | GRPC_OUT_OF_RANGE
    ) {
        Failure::InvalidArgument(message.to_owned())
    } else {
        Failure::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(r: KeyRange) -> (Vec<u8>, Option<Vec<u8>>) {
        etcd_range(&r)
    }

    #[test]
    fn key_ranges_map_to_etcd_bounds() {
        assert_eq!(range(KeyRange::key(*b"a")), (b"a".to_vec(), None));
        assert_eq!(
            range(KeyRange::prefix(*b"a/")),
            (b"a/".to_vec(), Some(b"a0".to_vec()))
        );
        assert_eq!(
            range(KeyRange::prefix(*b"")),
            (b"\0".to_vec(), Some(b"\0".to_vec()))
        );
        assert_eq!(
            range(KeyRange::prefix(*b"\xff")),
            (b"\xff".to_vec(), Some(b"\0".to_vec()))
        );
        assert_eq!(
            range(KeyRange::From(b"m".to_vec())),
            (b"m".to_vec(), Some(b"\0".to_vec()))
        );
        let r = KeyRange::Range {
            start: b"".to_vec(),
            end: b"c".to_vec(),
        };
        assert_eq!(range(r), (b"\0".to_vec(), Some(b"c".to_vec())));
    }

    #[test]
    fn empty_ranges_stay_empty() {
        for end in [&b""[..], b"\0", b"a"] {
            let r = KeyRange::Range {
                start: b"a".to_vec(),
                end: end.to_vec(),
            };
            let (key, end) = range(r);
            assert_eq!(Some(key), end);
        }
        let r = KeyRange::Range {
            start: b"".to_vec(),
            end: b"\0".to_vec(),
        };
        assert_eq!(range(r), (b"\0\0".to_vec(), Some(b"\0\0".to_vec())));
    }
}
