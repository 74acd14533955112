//! Fan-out of committed events to live watchers, for backends that produce their own events
//! (redb today, SQL later; etcd has its own watch).
//!
//! The writer publishes each commit's events in revision order while holding the hub's lock,
//! and a watcher subscribes under the same lock, learning the last revision published before
//! it joined. Everything after that revision reaches the watcher through its channel;
//! everything up to it the watcher replays from storage. So no event is missed or doubled.
//!
//! A watcher's channel is bounded. A publish never waits: when a watcher's channel is full,
//! the watcher is cancelled (it must re-list) and writers carry on.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use crate::types::{Event, KeyRange, Revision, WatchRequest, WatchResponse};

/// The live side of all watches on one store.
pub(crate) struct WatchHub {
    inner: Mutex<Inner>,
    capacity: usize,
}

struct Inner {
    /// The last revision published.
    published: Revision,
    watchers: Vec<Watcher>,
}

struct Watcher {
    range: KeyRange,
    start: Revision,
    prev_kv: bool,
    tx: mpsc::Sender<WatchResponse>,
    cancel_reason: Arc<Mutex<Option<String>>>,
}

/// One watcher's end of the hub.
pub(crate) struct Subscription {
    /// The last revision published before the watcher joined: later events arrive on `rx`,
    /// earlier ones must be replayed from storage.
    pub joined_after: Revision,
    /// Live events.
    pub rx: mpsc::Receiver<WatchResponse>,
    /// Set when the hub cancels the watcher.
    pub cancel_reason: Arc<Mutex<Option<String>>>,
}

impl Subscription {
    /// Why the hub cancelled this watcher, if it did.
    pub(crate) fn cancelled(&self) -> Option<String> {
        self.cancel_reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl WatchHub {
    /// A hub whose store is at `revision`, giving each watcher `capacity` undelivered responses.
    pub(crate) fn new(revision: Revision, capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                published: revision,
                watchers: Vec::new(),
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins a watcher; events with revision >= the request's start (or all new events when
    /// the start is 0) on keys in its range will arrive on the subscription's channel.
    pub(crate) fn subscribe(&self, req: &WatchRequest) -> Subscription {
        let (tx, rx) = mpsc::channel(self.capacity);
        let cancel_reason = Arc::new(Mutex::new(None));
        let mut inner = self.lock();
        inner.watchers.push(Watcher {
            range: req.range.clone(),
            start: req.start_revision,
            prev_kv: req.prev_kv,
            tx,
            cancel_reason: cancel_reason.clone(),
        });
        Subscription {
            joined_after: inner.published,
            rx,
            cancel_reason,
        }
    }

    /// Delivers the events of a commit that brought the store to `revision`.
    pub(crate) fn publish(&self, revision: Revision, events: &[Event]) {
        let mut inner = self.lock();
        inner.published = revision;
        let capacity = self.capacity;
        inner
            .watchers
            .retain(|w| w.offer(revision, events, capacity));
    }
}

impl Watcher {
    /// Sends the matching events; returns whether the watcher stays subscribed.
    fn offer(&self, revision: Revision, events: &[Event], capacity: usize) -> bool {
        let matching: Vec<Event> = events
            .iter()
            .filter(|e| e.kv.mod_revision >= self.start && self.range.contains(&e.kv.key))
            .map(|e| Event {
                prev_kv: if self.prev_kv {
                    e.prev_kv.clone()
                } else {
                    None
                },
                ..e.clone()
            })
            .collect();
        if matching.is_empty() {
            return !self.tx.is_closed();
        }
        match self.tx.try_send(WatchResponse {
            revision,
            events: matching,
        }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                *self
                    .cancel_reason
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(format!(
                    "the watcher fell behind by more than {capacity} undelivered responses"
                ));
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{EventKind, KeyValue};

    fn put(key: &str, rev: Revision) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.as_bytes().to_vec(),
                mod_revision: rev,
                ..KeyValue::default()
            },
            prev_kv: None,
        }
    }

    #[test]
    fn delivers_only_matching_keys_after_joining() {
        let hub = WatchHub::new(4, 8);
        let mut sub = hub.subscribe(&WatchRequest::new(KeyRange::prefix("/a/")));
        assert_eq!(sub.joined_after, 4);
        hub.publish(5, &[put("/a/1", 5), put("/b/1", 5)]);
        let resp = sub.rx.try_recv().unwrap();
        assert_eq!(resp.events.len(), 1);
        assert_eq!(resp.events[0].kv.key, b"/a/1");
    }

    #[test]
    fn a_full_watcher_is_cancelled_without_blocking_the_publisher() {
        let hub = WatchHub::new(0, 2);
        let sub = hub.subscribe(&WatchRequest::new(KeyRange::prefix("")));
        for rev in 1..=10 {
            hub.publish(rev, &[put("/k", rev)]);
        }
        assert!(sub.cancelled().is_some());
        assert_eq!(hub.lock().watchers.len(), 0);
    }
}
