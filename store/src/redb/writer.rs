//! The writer thread: the only code that writes to the database. It drains queued requests
//! into one redb write transaction (a group commit), commits it durably, then publishes the
//! events and answers every request. One fsync thus acknowledges many concurrent writes.

use std::sync::Arc;
use std::time::Duration;

use redb::{Database, Durability};
use tokio::sync::{mpsc, oneshot};

use super::apply::{self, Changes, Counters, Tables};
use super::leases::LeaseClock;
use super::reader::Ctx;
use crate::types::{LeaseId, Revision, Txn, TxnResponse};
use crate::watch_hub::WatchHub;
use crate::{Result, StoreError};

/// How many revision-log rows one group commit compacts, so compaction never stalls writers
/// for long.
const COMPACTION_CHUNK: usize = 1000;

/// A request to the writer.
pub(super) enum Request {
    /// Run a transaction.
    Txn(Txn, oneshot::Sender<Result<TxnResponse>>),
    /// Grant a lease with this TTL.
    LeaseGrant(Duration, oneshot::Sender<Result<LeaseId>>),
    /// Revoke a lease (also used when a lease expires).
    LeaseRevoke(LeaseId, oneshot::Sender<Result<()>>),
    /// Compact history below a revision.
    Compact(Revision, oneshot::Sender<Result<()>>),
}

/// What the writer's queue carries.
pub(super) enum Message {
    /// Work to commit.
    Request(Request),
    /// Stop after committing everything queued before this.
    Shutdown,
}

/// What a request turned into inside a batch, before the commit decides its fate.
enum Staged {
    Txn(oneshot::Sender<Result<TxnResponse>>, Result<TxnResponse>),
    LeaseGrant(oneshot::Sender<Result<LeaseId>>, Result<LeaseId>, Duration),
    LeaseRevoke(oneshot::Sender<Result<()>>, Result<()>, LeaseId),
    Compact(oneshot::Sender<Result<()>>, Result<()>),
}

/// The writer's state.
pub(super) struct Writer {
    pub db: Arc<Database>,
    pub counters: Counters,
    pub compaction_pending: bool,
    pub hub: Arc<WatchHub>,
    pub leases: Arc<LeaseClock>,
    pub max_batch: usize,
}

impl Writer {
    /// Serves requests until shutdown or until every sender is gone.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        loop {
            let first = if self.compaction_pending {
                match rx.try_recv() {
                    Ok(req) => Some(req),
                    Err(mpsc::error::TryRecvError::Empty) => None,
                    Err(mpsc::error::TryRecvError::Disconnected) => return,
                }
            } else {
                match rx.blocking_recv() {
                    Some(req) => Some(req),
                    None => return,
                }
            };
            let mut batch = Vec::new();
            let mut shutdown = false;
            for msg in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match msg {
                    Message::Shutdown => {
                        shutdown = true;
                        break;
                    }
                    Message::Request(req) => batch.push(req),
                }
                if batch.len() >= self.max_batch {
                    break;
                }
            }
            self.commit_batch(batch);
            if shutdown {
                return;
            }
        }
    }

    /// Applies `batch` (and a chunk of pending compaction) in one durable commit, then
    /// publishes and answers. On failure every request gets the error and nothing changes.
    fn commit_batch(&mut self, batch: Vec<Request>) {
        let before = (self.counters, self.compaction_pending);
        let mut events: Vec<(Revision, Changes)> = Vec::new();
        match self.write(batch, &mut events) {
            Ok(staged) => {
                for (revision, changes) in &events {
                    self.hub.publish(*revision, changes);
                }
                for s in staged {
                    self.answer(s);
                }
            }
            Err((staged, err)) => {
                tracing::error!(%err, "store commit failed");
                (self.counters, self.compaction_pending) = before;
                for s in staged {
                    fail(s, err.clone());
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn write(
        &mut self,
        batch: Vec<Request>,
        events: &mut Vec<(Revision, Changes)>,
    ) -> std::result::Result<Vec<Staged>, (Vec<Staged>, StoreError)> {
        let mut staged = Vec::with_capacity(batch.len());
        let mut pending = batch.into_iter();
        let result = (|| -> Result<()> {
            let mut wtx = self.db.begin_write().ctx("starting a write")?;
            wtx.set_durability(Durability::Immediate)
                .ctx("starting a write")?;
            {
                let mut tables = Tables::open(&wtx)?;
                for req in pending.by_ref() {
                    staged.push(self.stage(&mut tables, req, events)?);
                }
                if self.compaction_pending {
                    self.compaction_pending =
                        apply::compact_chunk(&mut tables, &self.counters, COMPACTION_CHUNK)?;
                }
                tables.save(&self.counters)?;
            }
            wtx.commit().ctx("committing a write")
        })();
        match result {
            Ok(()) => Ok(staged),
            Err(err) => {
                // Requests not yet staged when the failure hit must be answered too.
                staged.extend(pending.map(unstaged));
                Err((staged, err))
            }
        }
    }

    /// Applies one request to the open transaction. A request that is refused (a validation
    /// error) is staged with its error; only storage failures abort the batch.
    fn stage(
        &mut self,
        tables: &mut Tables,
        req: Request,
        events: &mut Vec<(Revision, Changes)>,
    ) -> Result<Staged> {
        let mut keep = |counters: &Counters, changes: Changes| {
            if !changes.is_empty() {
                events.push((counters.revision, changes));
            }
        };
        Ok(match req {
            Request::Txn(txn, reply) => {
                match refused(apply::txn(tables, &mut self.counters, txn))? {
                    Ok((resp, changes)) => {
                        keep(&self.counters, changes);
                        Staged::Txn(reply, Ok(resp))
                    }
                    Err(err) => Staged::Txn(reply, Err(err)),
                }
            }
            Request::LeaseGrant(ttl, reply) => {
                let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)
                    + i64::from(ttl.subsec_nanos() > 0);
                let result = refused(apply::lease_grant(tables, &mut self.counters, secs))?;
                Staged::LeaseGrant(reply, result, Duration::from_secs(secs.max(0) as u64))
            }
            Request::LeaseRevoke(id, reply) => {
                match refused(apply::lease_revoke(tables, &mut self.counters, id))? {
                    Ok(changes) => {
                        keep(&self.counters, changes);
                        Staged::LeaseRevoke(reply, Ok(()), id)
                    }
                    Err(err) => Staged::LeaseRevoke(reply, Err(err), id),
                }
            }
            Request::Compact(revision, reply) => {
                let result = apply::compact(&mut self.counters, revision);
                if result.is_ok() {
                    self.compaction_pending = true;
                }
                Staged::Compact(reply, result)
            }
        })
    }

    /// Sends a committed request's answer, updating the lease clock first.
    fn answer(&self, staged: Staged) {
        match staged {
            Staged::Txn(reply, result) => {
                let _ = reply.send(result);
            }
            Staged::LeaseGrant(reply, result, ttl) => {
                if let Ok(id) = result {
                    self.leases.granted(id, ttl);
                }
                let _ = reply.send(result);
            }
            Staged::LeaseRevoke(reply, result, id) => {
                if result.is_ok() {
                    self.leases.revoked(id);
                }
                let _ = reply.send(result);
            }
            Staged::Compact(reply, result) => {
                let _ = reply.send(result);
            }
        }
    }
}

/// Separates a request's own refusal (kept for its answer) from a storage failure (which
/// aborts the batch). Storage failures are the `Backend` errors.
fn refused<T>(result: Result<T>) -> Result<Result<T>> {
    match result {
        Err(err @ StoreError::Backend { .. }) => Err(err),
        other => Ok(other),
    }
}

/// A request the batch never reached, staged so that it can be failed.
fn unstaged(req: Request) -> Staged {
    let closed = Err(StoreError::Closed);
    match req {
        Request::Txn(_, reply) => Staged::Txn(reply, Err(StoreError::Closed)),
        Request::LeaseGrant(ttl, reply) => Staged::LeaseGrant(reply, Err(StoreError::Closed), ttl),
        Request::LeaseRevoke(id, reply) => Staged::LeaseRevoke(reply, closed, id),
        Request::Compact(_, reply) => Staged::Compact(reply, closed),
    }
}

/// Answers a staged request with `err`.
fn fail(staged: Staged, err: StoreError) {
    match staged {
        Staged::Txn(reply, _) => drop(reply.send(Err(err))),
        Staged::LeaseGrant(reply, _, _) => drop(reply.send(Err(err))),
        Staged::LeaseRevoke(reply, _, _) | Staged::Compact(reply, _) => drop(reply.send(Err(err))),
    }
}
