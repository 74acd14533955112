//! Reads shared by read transactions and the writer: ranges now and in the past, compares,
//! and watch replay. Generic over redb's `ReadableTable` so a transaction's reads see its own
//! earlier writes.

use std::ops::Bound;

use redb::ReadableTable;

use super::schema::{Record, decode};
use crate::types::{
    Compare, CompareOp, CompareTarget, Event, EventKind, KeyRange, KeyValue, RangeRequest,
    RangeResponse, Revision,
};
use crate::{Result, StoreError};

/// Maps a redb error into a [`StoreError`] naming what the store was doing.
pub(super) trait Ctx<T> {
    /// Attaches `context` to the error.
    fn ctx(self, context: &'static str) -> Result<T>;
}

impl<T, E: std::fmt::Display> Ctx<T> for std::result::Result<T, E> {
    fn ctx(self, context: &'static str) -> Result<T> {
        self.map_err(|e| StoreError::backend(context, e))
    }
}

/// The revision bounds of a snapshot: what it can answer.
#[derive(Clone, Copy, Debug)]
pub(super) struct Revisions {
    /// The snapshot's current revision.
    pub current: Revision,
    /// The compact revision.
    pub compact: Revision,
}

impl Revisions {
    /// Checks that `revision` (0 = current) can be read.
    pub(super) fn check_readable(&self, revision: Revision) -> Result<()> {
        if revision > self.current {
            return Err(StoreError::FutureRevision {
                requested: revision,
                current: self.current,
            });
        }
        if revision > 0 && revision < self.compact {
            return Err(StoreError::Compacted {
                requested: revision,
                compact_revision: self.compact,
            });
        }
        Ok(())
    }
}

/// The key bounds of a range, for redb's range over `&[u8]` keys.
fn key_bounds(range: &KeyRange) -> (Vec<u8>, Option<Vec<u8>>) {
    (range.start().to_vec(), range.end())
}

/// Serves a [`RangeRequest`] from a snapshot.
pub(super) fn range<C, H>(
    current: &C,
    history: &H,
    req: &RangeRequest,
    revs: Revisions,
) -> Result<RangeResponse>
where
    C: ReadableTable<&'static [u8], &'static [u8]>,
    H: ReadableTable<(&'static [u8], i64), &'static [u8]>,
{
    revs.check_readable(req.revision)?;
    let mut acc = RangeAcc::new(req, revs.current);
    if req.revision == 0 || req.revision == revs.current {
        scan_current(current, &req.range, &mut acc)?;
    } else {
        scan_history(history, &req.range, req.revision, &mut acc)?;
    }
    Ok(acc.finish())
}

/// Collects range results, honouring limit and count-only.
struct RangeAcc {
    resp: RangeResponse,
    limit: usize,
    count_only: bool,
}

impl RangeAcc {
    fn new(req: &RangeRequest, revision: Revision) -> Self {
        Self {
            resp: RangeResponse {
                revision,
                ..RangeResponse::default()
            },
            limit: req.limit,
            count_only: req.count_only,
        }
    }

    fn push(&mut self, kv: KeyValue) {
        self.resp.count += 1;
        if self.count_only {
            return;
        }
        if self.limit == 0 || self.resp.kvs.len() < self.limit {
            self.resp.kvs.push(kv);
        } else {
            self.resp.more = true;
        }
    }

    fn finish(self) -> RangeResponse {
        self.resp
    }
}

fn scan_current<C>(current: &C, range: &KeyRange, acc: &mut RangeAcc) -> Result<()>
where
    C: ReadableTable<&'static [u8], &'static [u8]>,
{
    if let KeyRange::Key(key) = range {
        if let Some(kv) = get_live(current, key)? {
            acc.push(kv);
        }
        return Ok(());
    }
    let (start, end) = key_bounds(range);
    let end_bound = match &end {
        Some(end) => Bound::Excluded(end.as_slice()),
        None => Bound::Unbounded,
    };
    let iter = current
        .range::<&[u8]>((Bound::Included(start.as_slice()), end_bound))
        .ctx("reading keys")?;
    for item in iter {
        let (k, v) = item.ctx("reading keys")?;
        if let Some(kv) = decode(k.value(), v.value())?.into_live() {
            acc.push(kv);
        }
    }
    Ok(())
}

/// Every key's newest version at or before `at`, skipping keys deleted by then.
fn scan_history<H>(history: &H, range: &KeyRange, at: Revision, acc: &mut RangeAcc) -> Result<()>
where
    H: ReadableTable<(&'static [u8], i64), &'static [u8]>,
{
    let (start, end) = key_bounds(range);
    let end_bound = match &end {
        Some(end) => Bound::Excluded((end.as_slice(), i64::MIN)),
        None => Bound::Unbounded,
    };
    let iter = history
        .range::<(&[u8], i64)>((Bound::Included((start.as_slice(), i64::MIN)), end_bound))
        .ctx("reading history")?;
    let mut pending: Option<Record> = None;
    let mut pending_key: Vec<u8> = Vec::new();
    for item in iter {
        let (k, v) = item.ctx("reading history")?;
        let (key, rev) = k.value();
        if key != pending_key.as_slice() {
            if let Some(kv) = pending.take().and_then(Record::into_live) {
                acc.push(kv);
            }
            pending_key = key.to_vec();
        }
        if rev <= at {
            pending = Some(decode(key, v.value())?);
        }
    }
    if let Some(kv) = pending.and_then(Record::into_live) {
        acc.push(kv);
    }
    Ok(())
}

/// The live value of one key.
pub(super) fn get_live<C>(current: &C, key: &[u8]) -> Result<Option<KeyValue>>
where
    C: ReadableTable<&'static [u8], &'static [u8]>,
{
    match current.get(key).ctx("reading a key")? {
        Some(v) => Ok(decode(key, v.value())?.into_live()),
        None => Ok(None),
    }
}

/// Evaluates one compare against the key's live value, with etcd's rules for absent keys.
pub(super) fn compare_holds(cmp: &Compare, kv: Option<&KeyValue>) -> bool {
    use std::cmp::Ordering;
    let ordering = match (&cmp.target, kv) {
        // etcd: comparing the value of an absent key always fails.
        (CompareTarget::Value(_), None) => return false,
        (CompareTarget::Value(want), Some(kv)) => kv.value.as_slice().cmp(want.as_slice()),
        (CompareTarget::Version(want), kv) => kv.map_or(0, |kv| kv.version).cmp(want),
        (CompareTarget::CreateRevision(want), kv) => {
            kv.map_or(0, |kv| kv.create_revision).cmp(want)
        }
        (CompareTarget::ModRevision(want), kv) => kv.map_or(0, |kv| kv.mod_revision).cmp(want),
        (CompareTarget::Lease(want), kv) => kv.map_or(0, |kv| kv.lease).cmp(want),
    };
    match cmp.op {
        CompareOp::Equal => ordering == Ordering::Equal,
        CompareOp::NotEqual => ordering != Ordering::Equal,
        CompareOp::Greater => ordering == Ordering::Greater,
        CompareOp::Less => ordering == Ordering::Less,
    }
}

/// The newest retained version of `key` strictly before `revision` (a put or a tombstone).
pub(super) fn version_before<H>(
    history: &H,
    key: &[u8],
    revision: Revision,
) -> Result<Option<Record>>
where
    H: ReadableTable<(&'static [u8], i64), &'static [u8]>,
{
    let mut iter = history
        .range::<(&[u8], i64)>((key, i64::MIN)..(key, revision))
        .ctx("reading history")?;
    match iter.next_back() {
        Some(item) => {
            let (_, v) = item.ctx("reading history")?;
            Ok(Some(decode(key, v.value())?))
        }
        None => Ok(None),
    }
}

/// Rebuilds the watch events of revisions `from..=to` on keys in `range`, at most about
/// `max_events` of them (whole revisions only). Returns the events and the first revision not
/// yet replayed.
pub(super) fn replay<L, H>(
    log: &L,
    history: &H,
    span: (Revision, Revision),
    range: &KeyRange,
    prev_kv: bool,
    max_events: usize,
) -> Result<(Vec<Event>, Revision)>
where
    L: ReadableTable<(i64, u32), &'static [u8]>,
    H: ReadableTable<(&'static [u8], i64), &'static [u8]>,
{
    let (from, to) = span;
    let mut events = Vec::new();
    let mut next = from;
    let iter = log
        .range::<(i64, u32)>((from, 0)..=(to, u32::MAX))
        .ctx("reading the revision log")?;
    for item in iter {
        let (k, v) = item.ctx("reading the revision log")?;
        let (rev, _) = k.value();
        if rev != next && events.len() >= max_events {
            return Ok((events, rev));
        }
        next = rev;
        let key = v.value();
        if !range.contains(key) {
            continue;
        }
        events.push(event_at(history, key, rev, prev_kv)?);
    }
    Ok((events, to + 1))
}

/// The event that revision `rev` recorded for `key`.
fn event_at<H>(history: &H, key: &[u8], rev: Revision, prev_kv: bool) -> Result<Event>
where
    H: ReadableTable<(&'static [u8], i64), &'static [u8]>,
{
    let record = match history.get((key, rev)).ctx("reading history")? {
        Some(v) => decode(key, v.value())?,
        None => {
            return Err(StoreError::backend(
                "replaying history",
                format!(
                    "revision {rev} of {:?} is missing",
                    String::from_utf8_lossy(key)
                ),
            ));
        }
    };
    let prev = if prev_kv {
        version_before(history, key, rev)?.and_then(Record::into_live)
    } else {
        None
    };
    Ok(match record {
        Record::Put(kv) => Event {
            kind: EventKind::Put,
            kv,
            prev_kv: prev,
        },
        Record::Tombstone(kv) => Event {
            kind: EventKind::Delete,
            kv,
            prev_kv: prev,
        },
    })
}
