//! The write side: applying transactions, lease changes and compaction inside one redb write
//! transaction. Only the writer thread calls this module.
//!
//! Every operation validates first and mutates after, so a request that fails validation
//! leaves the transaction untouched and the other requests of the same group commit unharmed.
//! Only a storage failure can interrupt a mutation, and that aborts the whole group commit.

use redb::{ReadableTable, Table, WriteTransaction};

use super::reader::{self, Ctx, Revisions};
use super::schema::{
    CURRENT, HISTORY, LEASE_KEYS, LEASES, LOG, META, META_COMPACT, META_LEASE_SEQ, META_REVISION,
    Record, decode, encode_put, encode_tombstone,
};
use crate::types::{
    Event, EventKind, KeyRange, KeyValue, LeaseId, Op, OpResponse, Revision, Txn, TxnResponse,
};
use crate::{Result, StoreError};

/// The store counters the writer keeps in memory and persists with each commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Counters {
    /// The current revision.
    pub revision: Revision,
    /// The compact revision.
    pub compact: Revision,
    /// The last lease id handed out.
    pub lease_seq: LeaseId,
}

impl Counters {
    /// Reads the counters from the meta table.
    pub(super) fn load<M: ReadableTable<&'static str, i64>>(meta: &M) -> Result<Self> {
        let get = |name: &str| -> Result<i64> {
            Ok(meta
                .get(name)
                .ctx("reading store metadata")?
                .map_or(0, |v| v.value()))
        };
        Ok(Self {
            revision: get(META_REVISION)?,
            compact: get(META_COMPACT)?,
            lease_seq: get(META_LEASE_SEQ)?,
        })
    }

    fn revisions(&self) -> Revisions {
        Revisions {
            current: self.revision,
            compact: self.compact,
        }
    }
}

/// The open tables of one write transaction.
pub(super) struct Tables<'txn> {
    meta: Table<'txn, &'static str, i64>,
    current: Table<'txn, &'static [u8], &'static [u8]>,
    history: Table<'txn, (&'static [u8], i64), &'static [u8]>,
    log: Table<'txn, (i64, u32), &'static [u8]>,
    leases: Table<'txn, i64, i64>,
    lease_keys: Table<'txn, (i64, &'static [u8]), ()>,
}

impl<'txn> Tables<'txn> {
    /// Opens (creating if needed) every table in `wtx`.
    pub(super) fn open(wtx: &'txn WriteTransaction) -> Result<Self> {
        const CTX: &str = "opening store tables";
        Ok(Self {
            meta: wtx.open_table(META).ctx(CTX)?,
            current: wtx.open_table(CURRENT).ctx(CTX)?,
            history: wtx.open_table(HISTORY).ctx(CTX)?,
            log: wtx.open_table(LOG).ctx(CTX)?,
            leases: wtx.open_table(LEASES).ctx(CTX)?,
            lease_keys: wtx.open_table(LEASE_KEYS).ctx(CTX)?,
        })
    }

    /// The meta table.
    pub(super) fn meta(&self) -> &Table<'txn, &'static str, i64> {
        &self.meta
    }

    /// The meta table, for writing.
    pub(super) fn meta_mut(&mut self) -> &mut Table<'txn, &'static str, i64> {
        &mut self.meta
    }

    /// Persists the counters.
    pub(super) fn save(&mut self, counters: &Counters) -> Result<()> {
        const CTX: &str = "writing store metadata";
        self.meta
            .insert(META_REVISION, counters.revision)
            .ctx(CTX)?;
        self.meta.insert(META_COMPACT, counters.compact).ctx(CTX)?;
        self.meta
            .insert(META_LEASE_SEQ, counters.lease_seq)
            .ctx(CTX)?;
        Ok(())
    }
}

/// Events produced by one revision, ready to publish after commit.
pub(super) type Changes = Vec<Event>;

/// Hands out the log positions of one revision's writes.
struct RevisionWriter {
    revision: Revision,
    next_index: u32,
    events: Changes,
}

impl RevisionWriter {
    fn new(revision: Revision) -> Self {
        Self {
            revision,
            next_index: 0,
            events: Vec::new(),
        }
    }

    fn put(
        &mut self,
        t: &mut Tables,
        key: &[u8],
        value: &[u8],
        lease: LeaseId,
    ) -> Result<Option<KeyValue>> {
        const CTX: &str = "writing a key";
        let prev = reader::get_live(&t.current, key)?;
        let kv = KeyValue {
            key: key.to_vec(),
            value: value.to_vec(),
            create_revision: prev.as_ref().map_or(self.revision, |p| p.create_revision),
            mod_revision: self.revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            lease,
        };
        let record = encode_put(&kv);
        t.current.insert(key, record.as_slice()).ctx(CTX)?;
        t.history
            .insert((key, self.revision), record.as_slice())
            .ctx(CTX)?;
        self.log_key(t, key)?;
        let prev_lease = prev.as_ref().map_or(0, |p| p.lease);
        if prev_lease != 0 && prev_lease != lease {
            t.lease_keys.remove((prev_lease, key)).ctx(CTX)?;
        }
        if lease != 0 {
            t.lease_keys.insert((lease, key), ()).ctx(CTX)?;
        }
        self.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: prev.clone(),
        });
        Ok(prev)
    }

    fn delete(&mut self, t: &mut Tables, key: &[u8]) -> Result<Option<KeyValue>> {
        const CTX: &str = "deleting a key";
        let Some(prev) = reader::get_live(&t.current, key)? else {
            return Ok(None);
        };
        t.current.remove(key).ctx(CTX)?;
        t.history
            .insert(
                (key, self.revision),
                encode_tombstone(self.revision).as_slice(),
            )
            .ctx(CTX)?;
        self.log_key(t, key)?;
        if prev.lease != 0 {
            t.lease_keys.remove((prev.lease, key)).ctx(CTX)?;
        }
        self.events.push(Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: key.to_vec(),
                mod_revision: self.revision,
                ..KeyValue::default()
            },
            prev_kv: Some(prev.clone()),
        });
        Ok(Some(prev))
    }

    fn log_key(&mut self, t: &mut Tables, key: &[u8]) -> Result<()> {
        t.log
            .insert((self.revision, self.next_index), key)
            .ctx("writing the revision log")?;
        self.next_index += 1;
        Ok(())
    }

    /// Whether this revision wrote anything (and so is used up).
    fn wrote(&self) -> bool {
        self.next_index > 0
    }
}

/// Applies one transaction; on success the counters advance if it wrote.
pub(super) fn txn(
    t: &mut Tables,
    counters: &mut Counters,
    txn: Txn,
) -> Result<(TxnResponse, Changes)> {
    let mut succeeded = true;
    for cmp in &txn.compares {
        check_key(&cmp.key)?;
        let kv = reader::get_live(&t.current, &cmp.key)?;
        if !reader::compare_holds(cmp, kv.as_ref()) {
            succeeded = false;
            break;
        }
    }
    let ops = if succeeded { txn.success } else { txn.failure };
    validate_ops(t, counters, &ops)?;

    let mut rev = RevisionWriter::new(counters.revision + 1);
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        responses.push(match op {
            Op::Put { key, value, lease } => OpResponse::Put {
                prev: rev.put(t, &key, &value, lease)?,
            },
            Op::Delete(range) => OpResponse::Delete {
                prev: delete_range(t, &mut rev, &range)?,
            },
            Op::Range(req) => {
                let revs = Revisions {
                    current: if rev.wrote() {
                        rev.revision
                    } else {
                        counters.revision
                    },
                    compact: counters.compact,
                };
                OpResponse::Range(reader::range(&t.current, &t.history, &req, revs)?)
            }
        });
    }
    if rev.wrote() {
        counters.revision = rev.revision;
    }
    let resp = TxnResponse {
        succeeded,
        revision: counters.revision,
        responses,
    };
    Ok((resp, rev.events))
}

fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument("empty key".into()));
    }
    Ok(())
}

/// Rejects, before anything is written, what etcd rejects: empty keys, a key written twice,
/// unknown leases, reads at revisions that cannot be served.
fn validate_ops(t: &Tables, counters: &Counters, ops: &[Op]) -> Result<()> {
    let mut put_keys: Vec<&[u8]> = Vec::new();
    let mut deletes: Vec<&KeyRange> = Vec::new();
    for op in ops {
        match op {
            Op::Put { key, lease, .. } => {
                check_key(key)?;
                if put_keys.contains(&key.as_slice()) {
                    return Err(duplicate_key(key));
                }
                put_keys.push(key);
                if *lease != 0 && t.leases.get(*lease).ctx("reading leases")?.is_none() {
                    return Err(StoreError::LeaseNotFound(*lease));
                }
            }
            Op::Delete(range) => {
                check_key(range.start())?;
                deletes.push(range);
            }
            Op::Range(req) => counters.revisions().check_readable(req.revision)?,
        }
    }
    if let Some(key) = put_keys
        .iter()
        .find(|k| deletes.iter().any(|d| d.contains(k)))
    {
        return Err(duplicate_key(key));
    }
    Ok(())
}

fn duplicate_key(key: &[u8]) -> StoreError {
    StoreError::InvalidArgument(format!(
        "key {:?} is written more than once in one transaction",
        String::from_utf8_lossy(key)
    ))
}

fn delete_range(
    t: &mut Tables,
    rev: &mut RevisionWriter,
    range: &KeyRange,
) -> Result<Vec<KeyValue>> {
    let keys: Vec<Vec<u8>> = match range {
        KeyRange::Key(key) => vec![key.clone()],
        _ => {
            let (start, end) = (range.start().to_vec(), range.end());
            let bounds = (
                std::ops::Bound::Included(start.as_slice()),
                end.as_deref()
                    .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            );
            let mut keys = Vec::new();
            for item in t.current.range::<&[u8]>(bounds).ctx("reading keys")? {
                keys.push(item.ctx("reading keys")?.0.value().to_vec());
            }
            keys
        }
    };
    let mut prev = Vec::new();
    for key in keys {
        prev.extend(rev.delete(t, &key)?);
    }
    Ok(prev)
}

/// Records a new lease with `ttl_secs`; returns its id.
pub(super) fn lease_grant(
    t: &mut Tables,
    counters: &mut Counters,
    ttl_secs: i64,
) -> Result<LeaseId> {
    if ttl_secs <= 0 {
        return Err(StoreError::InvalidArgument(format!(
            "lease TTL must be at least one second, got {ttl_secs}"
        )));
    }
    let id = counters.lease_seq + 1;
    t.leases.insert(id, ttl_secs).ctx("writing a lease")?;
    counters.lease_seq = id;
    Ok(id)
}

/// Removes a lease and deletes its keys, all in one new revision.
pub(super) fn lease_revoke(
    t: &mut Tables,
    counters: &mut Counters,
    id: LeaseId,
) -> Result<Changes> {
    if t.leases.get(id).ctx("reading leases")?.is_none() {
        return Err(StoreError::LeaseNotFound(id));
    }
    let mut keys = Vec::new();
    let lower: (i64, &[u8]) = (id, &[]);
    let upper: (i64, &[u8]) = (id + 1, &[]);
    for item in t.lease_keys.range(lower..upper).ctx("reading lease keys")? {
        keys.push(item.ctx("reading lease keys")?.0.value().1.to_vec());
    }
    let mut rev = RevisionWriter::new(counters.revision + 1);
    for key in &keys {
        rev.delete(t, key)?;
    }
    t.leases.remove(id).ctx("removing a lease")?;
    if rev.wrote() {
        counters.revision = rev.revision;
    }
    Ok(rev.events)
}

/// Marks history before `revision` as compacted (reads and watches below it fail from now on);
/// the rows themselves go in [`compact_chunk`].
pub(super) fn compact(counters: &mut Counters, revision: Revision) -> Result<()> {
    if revision <= counters.compact {
        return Err(StoreError::Compacted {
            requested: revision,
            compact_revision: counters.compact,
        });
    }
    if revision > counters.revision {
        return Err(StoreError::FutureRevision {
            requested: revision,
            current: counters.revision,
        });
    }
    counters.compact = revision;
    Ok(())
}

/// Removes up to `limit` revision-log rows below the compact revision, with the history rows
/// that no read at or after the compact revision can need. For a log row `(rev, key)`, those
/// are every older version of `key` (superseded by `rev`), and the version at `rev` itself when
/// it is a tombstone or is superseded at or before the compact revision. Returns whether rows
/// remain.
pub(super) fn compact_chunk(t: &mut Tables, counters: &Counters, limit: usize) -> Result<bool> {
    const CTX: &str = "compacting history";
    let below = counters.compact;
    let mut rows = Vec::with_capacity(limit);
    for item in t
        .log
        .range::<(i64, u32)>(..(below, 0))
        .ctx(CTX)?
        .take(limit + 1)
    {
        let (k, v) = item.ctx(CTX)?;
        rows.push((k.value(), v.value().to_vec()));
    }
    let more = rows.len() > limit;
    rows.truncate(limit);
    for ((rev, index), key) in rows {
        let superseded = t
            .history
            .range::<(&[u8], i64)>((key.as_slice(), rev + 1)..=(key.as_slice(), below))
            .ctx(CTX)?
            .next()
            .is_some();
        let tombstone = match t.history.get((key.as_slice(), rev)).ctx(CTX)? {
            Some(v) => matches!(decode(&key, v.value())?, Record::Tombstone(_)),
            None => false,
        };
        let mut older = Vec::new();
        for item in t
            .history
            .range::<(&[u8], i64)>((key.as_slice(), i64::MIN)..(key.as_slice(), rev))
            .ctx(CTX)?
        {
            older.push(item.ctx(CTX)?.0.value().1);
        }
        for old_rev in older {
            t.history.remove((key.as_slice(), old_rev)).ctx(CTX)?;
        }
        if superseded || tombstone {
            t.history.remove((key.as_slice(), rev)).ctx(CTX)?;
        }
        t.log.remove((rev, index)).ctx(CTX)?;
    }
    Ok(more)
}

/// Whether revision-log rows below the compact revision remain to be removed.
pub(super) fn compaction_pending<L>(log: &L, counters: &Counters) -> Result<bool>
where
    L: ReadableTable<(i64, u32), &'static [u8]>,
{
    Ok(match log.first().ctx("reading the revision log")? {
        Some((k, _)) => k.value().0 < counters.compact,
        None => false,
    })
}
