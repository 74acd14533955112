//! The [`Store`] trait: the one interface every backend implements.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::Stream;

use crate::Result;
use crate::types::{
    CasOutcome, Compare, KeyRange, KeyValue, LeaseId, Op, OpResponse, RangeRequest, RangeResponse,
    Revision, Txn, TxnResponse, WatchRequest, WatchResponse,
};

/// The events of one watch. It ends with an error item when the store cancels the watch
/// ([`StoreError::WatchCancelled`](crate::StoreError::WatchCancelled),
/// [`StoreError::Compacted`](crate::StoreError::Compacted)); dropping it cancels the watch.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse>> + Send>>;

/// A revisioned key-value store with etcd v3 semantics. See the crate docs for the contract;
/// `tests/conformance` is its executable definition.
#[async_trait]
pub trait Store: Send + Sync {
    /// Reads keys, now or at a past revision.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;

    /// Runs a transaction atomically.
    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    /// Streams changes to a key range from a revision on.
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream>;

    /// Discards history before `revision`: reads and watches at older revisions then fail
    /// with `Compacted`. The latest value of every key stays readable.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The revision compacted so far (0 if never compacted).
    async fn compact_revision(&self) -> Result<Revision>;

    /// Grants a lease that expires `ttl` after its last keep-alive; returns its id.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId>;

    /// Revokes a lease now, deleting every key attached to it (in one revision).
    async fn lease_revoke(&self, id: LeaseId) -> Result<()>;

    /// Renews a lease; returns its TTL.
    async fn lease_keep_alive(&self, id: LeaseId) -> Result<Duration>;

    /// Finishes pending writes and releases the backend. Later calls may fail with
    /// [`StoreError::Closed`](crate::StoreError::Closed).
    async fn close(&self) -> Result<()> {
        Ok(())
    }

    /// The store's current revision.
    async fn current_revision(&self) -> Result<Revision> {
        Ok(self
            .range(RangeRequest::new(KeyRange::key(*b"\0")).count_only())
            .await?
            .revision)
    }

    /// Reads one key now.
    async fn get(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let mut resp = self
            .range(RangeRequest::new(KeyRange::key(key.to_vec())))
            .await?;
        Ok(resp.kvs.pop())
    }

    /// Writes a key unconditionally; returns the new revision.
    async fn put(&self, key: &[u8], value: &[u8]) -> Result<Revision> {
        let resp = self
            .txn(Txn {
                success: vec![Op::put(key, value)],
                ..Txn::default()
            })
            .await?;
        Ok(resp.revision)
    }

    /// Deletes a key unconditionally; returns the previous value.
    async fn delete(&self, key: &[u8]) -> Result<Option<KeyValue>> {
        let resp = self
            .txn(Txn {
                success: vec![Op::delete(key)],
                ..Txn::default()
            })
            .await?;
        Ok(match resp.responses.into_iter().next() {
            Some(OpResponse::Delete { mut prev }) => prev.pop(),
            _ => None,
        })
    }

    /// Creates `key` if it does not exist (kube-apiserver's create).
    async fn create(&self, key: &[u8], value: &[u8], lease: LeaseId) -> Result<CasOutcome> {
        let txn = Txn {
            compares: vec![Compare::absent(key)],
            success: vec![Op::put_with_lease(key, value, lease)],
            failure: vec![Op::get(key)],
        };
        Ok(cas_outcome(self.txn(txn).await?))
    }

    /// Replaces `key` if its mod revision is still `revision` (kube-apiserver's update).
    async fn update(
        &self,
        key: &[u8],
        value: &[u8],
        revision: Revision,
        lease: LeaseId,
    ) -> Result<CasOutcome> {
        let txn = Txn {
            compares: vec![Compare::mod_revision(key, revision)],
            success: vec![Op::put_with_lease(key, value, lease)],
            failure: vec![Op::get(key)],
        };
        Ok(cas_outcome(self.txn(txn).await?))
    }

    /// Deletes `key` if its mod revision is still `revision` (kube-apiserver's delete).
    async fn delete_if(&self, key: &[u8], revision: Revision) -> Result<CasOutcome> {
        let txn = Txn {
            compares: vec![Compare::mod_revision(key, revision)],
            success: vec![Op::delete(key)],
            failure: vec![Op::get(key)],
        };
        Ok(cas_outcome(self.txn(txn).await?))
    }
}

/// Turns a compare-and-swap transaction's answer into a [`CasOutcome`]: the new revision on
/// success, or the current value read by the failure branch.
fn cas_outcome(resp: TxnResponse) -> CasOutcome {
    if resp.succeeded {
        return CasOutcome::Written(resp.revision);
    }
    let current = match resp.responses.into_iter().next() {
        Some(OpResponse::Range(mut r)) => r.kvs.pop(),
        _ => None,
    };
    CasOutcome::Conflict(current)
}
