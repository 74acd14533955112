//! Keeping an in-memory view of one resource current, for the API server's own reconcilers
//! and indexes (kube's informers): list everything, then watch the store from the list's
//! revision; when the watch breaks, list again. The view's owner gets every change as a
//! [`Change`], in store order, from one task.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_store::{EventKind, KeyRange, RangeRequest, Store, StoreError, WatchRequest};
use serde_json::Value;

use crate::storage::decode;

/// A change to the objects of the resource, keyed by storage key.
#[derive(Debug)]
pub enum Change {
    /// Everything there is, replacing what came before (the first event, and after a
    /// re-list).
    Reset(Vec<(String, Value)>),
    /// An object was created or changed.
    Put(String, Value),
    /// An object was deleted.
    Delete(String),
}

/// How long to wait before listing again after the store failed.
const RETRY: Duration = Duration::from_millis(500);

/// Feeds the changes of `r` to `on_change` until the store closes.
pub fn spawn(
    store: Arc<dyn Store>,
    r: &'static ResourceInfo,
    mut on_change: impl FnMut(Change) + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let err = follow(&store, r, &mut on_change)
                .await
                .err()
                .unwrap_or_else(|| StoreError::WatchCancelled("the watch ended".into()));
            if store.current_revision().await.is_err() {
                return; // the store is closed: the server is stopping
            }
            tracing::warn!(resource = r.plural, %err, "informer: listing again");
            tokio::time::sleep(RETRY).await;
        }
    })
}

/// One list and the watch after it, until the watch fails (`Ok` when it just ends).
async fn follow(
    store: &Arc<dyn Store>,
    r: &'static ResourceInfo,
    on_change: &mut impl FnMut(Change),
) -> Result<(), StoreError> {
    let prefix = r.key_prefix();
    let listed = store
        .range(RangeRequest::new(KeyRange::prefix(prefix.as_bytes())))
        .await?;
    let objects = listed
        .kvs
        .iter()
        .filter_map(|kv| {
            let obj = decode(r, kv).ok()?.obj;
            Some((String::from_utf8_lossy(&kv.key).into_owned(), obj))
        })
        .collect();
    on_change(Change::Reset(objects));
    let mut events = store
        .watch(
            WatchRequest::new(KeyRange::prefix(prefix.as_bytes()))
                .from_revision(listed.revision + 1),
        )
        .await?;
    while let Some(next) = events.next().await {
        for event in next?.events {
            let key = String::from_utf8_lossy(&event.kv.key).into_owned();
            match event.kind {
                EventKind::Put => match decode(r, &event.kv) {
                    Ok(stored) => on_change(Change::Put(key, stored.obj)),
                    Err(err) => {
                        tracing::warn!(%key, error = %err.message, "informer: skipping an undecodable object")
                    }
                },
                EventKind::Delete => on_change(Change::Delete(key)),
            }
        }
    }
    Ok(())
}
