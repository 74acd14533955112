//! One store watch per resource, shared by every API watcher of that resource.
//!
//! Each store event is decoded and serialized once, into an [`CachedEvent`] behind an `Arc`;
//! watchers receive the `Arc` through a broadcast channel and filter it by reference. So a
//! hundred watchers of a busy resource cost a hundred pointers per event, not a hundred
//! copies of the object. A short ring of recent events lets watchers that start slightly in
//! the past (the usual list-then-watch) join without touching the store; older starts fall
//! back to a watch of their own on the store. The ring is bounded by its objects' size as
//! well as their count: with a count alone, busy resources of large objects (pods, nodes)
//! kept about 60 MiB of decoded events after a Deployment churn (`kmicro bench modules`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_store::{EventKind, KeyRange, Revision, Store, WatchRequest};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::object;
use crate::storage::decode;

/// Events kept per resource for watchers that start in the recent past, at most.
const RING: usize = 256;
/// The JSON bytes of the objects (after and before each change) the ring of one resource may
/// hold; decoded, they take a few times as much.
const RING_BYTES: usize = 256 * 1024;
/// Events a slow watcher may fall behind before it is dropped (it re-watches).
const BROADCAST: usize = 1024;

/// A change to one object, decoded and serialized once.
#[derive(Debug)]
pub struct CachedEvent {
    /// The store revision of the change.
    pub revision: Revision,
    /// Put or delete.
    pub kind: EventKind,
    /// The storage key.
    pub key: Vec<u8>,
    /// The object after the change (for a delete: the last state, at the delete revision).
    pub obj: Value,
    /// `obj` as JSON.
    pub json: Bytes,
    /// The object before the change, if there was one.
    pub prev: Option<Value>,
}

impl CachedEvent {
    /// What the event costs the ring: the JSON size of its object, twice when it carries the
    /// previous state as well.
    fn weight(&self) -> usize {
        self.json.len() * if self.prev.is_some() { 2 } else { 1 }
    }
}

/// The shared watch of one resource.
pub struct WatchCache {
    inner: Mutex<Inner>,
    /// Dropped with the cache: tells its feeding task to stop.
    _alive: tokio::sync::watch::Sender<()>,
}

struct Inner {
    /// Every event with a revision above `base` is in `ring` or yet to come.
    base: Revision,
    ring: VecDeque<Arc<CachedEvent>>,
    /// The [`CachedEvent::weight`] of the events in `ring`.
    ring_bytes: usize,
    tx: broadcast::Sender<Arc<CachedEvent>>,
}

/// What a watcher joining at a revision gets.
pub struct Subscription {
    /// Recent events after the requested revision.
    pub backlog: Vec<Arc<CachedEvent>>,
    /// Everything after the backlog.
    pub rx: broadcast::Receiver<Arc<CachedEvent>>,
}

impl WatchCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins at `after`: every event with a revision above it will be delivered, or `None`
    /// when the cache no longer holds them all (the caller watches the store directly).
    pub fn subscribe(&self, after: Revision) -> Option<Subscription> {
        let inner = self.lock();
        if after < inner.base {
            return None;
        }
        let backlog = inner
            .ring
            .iter()
            .filter(|e| e.revision > after)
            .cloned()
            .collect();
        Some(Subscription {
            backlog,
            rx: inner.tx.subscribe(),
        })
    }

    fn push(&self, event: CachedEvent) {
        let event = Arc::new(event);
        let weight = event.weight();
        let mut inner = self.lock();
        while inner.ring.len() == RING || inner.ring_bytes + weight > RING_BYTES {
            let Some(old) = inner.ring.pop_front() else {
                break;
            };
            inner.base = old.revision;
            inner.ring_bytes -= old.weight();
        }
        inner.ring_bytes += weight;
        inner.ring.push_back(event.clone());
        let _ = inner.tx.send(event);
    }

    /// Starts over from `revision` after the store watch broke: current watchers are closed
    /// (they re-watch) and the ring is emptied.
    fn reset(&self, revision: Revision) {
        let mut inner = self.lock();
        inner.base = revision;
        inner.ring.clear();
        inner.ring_bytes = 0;
        inner.tx = broadcast::channel(BROADCAST).0;
    }
}

/// The watch caches of every resource, started on first use.
pub struct WatchCaches {
    store: Arc<dyn Store>,
    caches: Mutex<HashMap<String, Arc<WatchCache>>>,
}

impl WatchCaches {
    /// No caches yet.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            caches: Mutex::new(HashMap::new()),
        }
    }

    /// Drops the cache of `r` (a resource no longer served): its watchers end, its store watch
    /// stops.
    pub fn forget(&self, r: &ResourceInfo) {
        self.caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&cache_key(r));
    }

    /// The cache of `r`, started (from the store's current revision) if needed.
    pub async fn get(&self, r: &'static ResourceInfo) -> crate::error::ApiResult<Arc<WatchCache>> {
        let prefix = cache_key(r);
        if let Some(cache) = self
            .caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&prefix)
        {
            return Ok(cache.clone());
        }
        let revision = self.store.current_revision().await?;
        let mut caches = self.caches.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(cache) = caches.get(&prefix) {
            return Ok(cache.clone());
        }
        let (alive, stop) = tokio::sync::watch::channel(());
        let cache = Arc::new(WatchCache {
            inner: Mutex::new(Inner {
                base: revision,
                ring: VecDeque::new(),
                ring_bytes: 0,
                tx: broadcast::channel(BROADCAST).0,
            }),
            _alive: alive,
        });
        caches.insert(prefix.clone(), cache.clone());
        let feeding = feed(self.store.clone(), r, Arc::downgrade(&cache), revision);
        tokio::spawn(async move {
            let mut stop = stop;
            tokio::select! {
                _ = feeding => {}
                // The cache was dropped (its resource is no longer served).
                _ = stop.changed() => {}
            }
        });
        Ok(cache)
    }
}

/// The key of a resource's cache: by resource, not by key prefix, since two resources can share
/// storage (events).
fn cache_key(r: &ResourceInfo) -> String {
    format!("{}/{}/{}", r.group, r.version, r.plural)
}

/// Pumps the store's events of `r` into the cache until the server stops.
async fn feed(
    store: Arc<dyn Store>,
    r: &'static ResourceInfo,
    cache: std::sync::Weak<WatchCache>,
    mut revision: Revision,
) {
    loop {
        let request =
            WatchRequest::new(KeyRange::prefix(r.key_prefix())).from_revision(revision + 1);
        let mut events = match store.watch(request).await {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(resource = r.plural, %err, "watch cache: restarting from the current revision");
                revision = match store.current_revision().await {
                    Ok(rev) => rev,
                    Err(_) => return,
                };
                match cache.upgrade() {
                    Some(cache) => cache.reset(revision),
                    None => return,
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            }
        };
        while let Some(next) = events.next().await {
            let Some(cache) = cache.upgrade() else { return };
            match next {
                Ok(resp) => {
                    for event in resp.events {
                        revision = event.kv.mod_revision;
                        if let Some(cached) = cached(r, event) {
                            cache.push(cached);
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(resource = r.plural, %err, "watch cache: store watch ended");
                    break;
                }
            }
        }
        if store.current_revision().await.is_err() {
            return; // the store is closed: the server is stopping
        }
    }
}

/// The cached form of a store event (`None` if it cannot be decoded).
pub fn cached(r: &ResourceInfo, event: kmicro_store::Event) -> Option<CachedEvent> {
    let prev = event
        .prev_kv
        .as_ref()
        .and_then(|kv| decode(r, kv).ok())
        .map(|s| s.obj);
    let obj = match event.kind {
        EventKind::Put => decode(r, &event.kv).ok()?.obj,
        EventKind::Delete => {
            let mut last = prev.clone()?;
            object::set_resource_version(&mut last, event.kv.mod_revision);
            last
        }
    };
    let json = Bytes::from(serde_json::to_vec(&obj).ok()?);
    Some(CachedEvent {
        revision: event.kv.mod_revision,
        kind: event.kind,
        key: event.kv.key,
        obj,
        json,
        prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> WatchCache {
        WatchCache {
            inner: Mutex::new(Inner {
                base: 0,
                ring: VecDeque::new(),
                ring_bytes: 0,
                tx: broadcast::channel(BROADCAST).0,
            }),
            _alive: tokio::sync::watch::channel(()).0,
        }
    }

    fn event(revision: Revision, json_len: usize, with_prev: bool) -> CachedEvent {
        CachedEvent {
            revision,
            kind: EventKind::Put,
            key: b"/registry/core/pods/default/p".to_vec(),
            obj: Value::Null,
            json: Bytes::from(vec![b' '; json_len]),
            prev: with_prev.then_some(Value::Null),
        }
    }

    #[test]
    fn the_ring_keeps_the_latest_events_within_count_and_bytes() {
        let cache = cache();
        for revision in 1..=300 {
            cache.push(event(revision, 10, false));
        }
        // By count: the last RING events; joining before them falls back to the store.
        assert!(cache.subscribe(300 - RING as Revision - 1).is_none());
        let joined = cache.subscribe(300 - RING as Revision).unwrap();
        assert_eq!(joined.backlog.len(), RING);

        // By bytes: large objects with their previous state push older ones out early.
        let big = RING_BYTES / 8;
        for revision in 301..=310 {
            cache.push(event(revision, big, true));
        }
        assert!(cache.lock().ring_bytes <= RING_BYTES);
        let joined = cache.subscribe(306).unwrap();
        assert_eq!(joined.backlog.len(), 4);
        assert!(cache.subscribe(305).is_none());

        // One object over the budget is still kept, alone, so watchers never miss it.
        cache.push(event(311, RING_BYTES * 2, false));
        let joined = cache.subscribe(310).unwrap();
        assert_eq!(joined.backlog.len(), 1);
        assert!(cache.subscribe(309).is_none());
    }
}
