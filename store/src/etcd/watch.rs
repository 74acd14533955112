//! etcd watches as store [`WatchStream`]s.
//!
//! Each store watch is one etcd gRPC watch stream carrying one watcher. The store stream owns
//! both halves of it: while it is held, etcd keeps the watcher; when it is dropped, the HTTP/2
//! stream is reset, which makes etcd cancel the watcher and free it.

use etcd_client as etcd;
use futures::stream;

use super::convert::{etcd_range, event};
use crate::store::WatchStream;
use crate::types::{Revision, WatchRequest, WatchResponse};
use crate::{Result, StoreError};

/// Error context while etcd sets a watch up.
const OPENING: &str = "opening an etcd watch";

/// Creates an etcd watch and returns once etcd has confirmed it, so every write committed
/// after this returns is delivered. A watch etcd refuses outright fails with
/// [`StoreError::WatchCancelled`] carrying etcd's reason.
pub(super) async fn open(mut client: etcd::WatchClient, req: &WatchRequest) -> Result<WatchStream> {
    let (key, end) = etcd_range(&req.range);
    let mut options = etcd::WatchOptions::new().with_start_revision(req.start_revision);
    if let Some(end) = end {
        options = options.with_range(end);
    }
    if req.prev_kv {
        options = options.with_prev_key();
    }
    let mut inner = client
        .watch(key, Some(options))
        .await
        .map_err(|e| StoreError::backend(OPENING, e))?;
    let created = inner
        .message()
        .await
        .map_err(|e| StoreError::backend(OPENING, e))?
        .ok_or_else(|| StoreError::backend(OPENING, "etcd closed the watch stream"))?;
    if created.canceled() {
        return Err(StoreError::WatchCancelled(reason(&created)));
    }
    if !created.created() {
        return Err(StoreError::backend(
            OPENING,
            "etcd did not confirm the watch",
        ));
    }
    let next = match req.start_revision {
        0 => created.header().map_or(0, etcd::ResponseHeader::revision) + 1,
        start => start,
    };
    Ok(events(inner, next))
}

/// A live etcd watch and the next revision its consumer expects.
struct Watching {
    inner: etcd::WatchStream,
    next: Revision,
}

/// What one etcd watch response means for the store stream.
enum Step {
    /// Nothing to deliver (a progress notification).
    Skip,
    /// Events to deliver.
    Batch(WatchResponse),
    /// The watch is over.
    End(StoreError),
}

/// The store stream over a created etcd watch.
fn events(inner: etcd::WatchStream, next: Revision) -> WatchStream {
    let state = Some(Watching { inner, next });
    Box::pin(stream::unfold(state, |state| async move {
        let mut watching = state?;
        loop {
            let item = match watching.inner.message().await {
                Ok(Some(resp)) => step(&resp, watching.next),
                Ok(None) => {
                    let closed = StoreError::WatchCancelled("etcd closed the watch stream".into());
                    Step::End(closed)
                }
                Err(e) => Step::End(StoreError::backend("receiving etcd watch events", e)),
            };
            match item {
                Step::Skip => continue,
                Step::End(err) => return Some((Err(err), None)),
                Step::Batch(batch) => {
                    if let Some(last) = batch.events.last() {
                        watching.next = last.kv.mod_revision + 1;
                    }
                    return Some((Ok(batch), Some(watching)));
                }
            }
        }
    }))
}

/// Interprets one etcd watch response. etcd sets `compact_revision` (and cancels the watcher)
/// when the watcher needs history that has been compacted, whether at creation or because it
/// fell behind; `next` is the revision it needed.
fn step(resp: &etcd::WatchResponse, next: Revision) -> Step {
    if resp.compact_revision() > 0 {
        return Step::End(StoreError::Compacted {
            requested: next,
            compact_revision: resp.compact_revision(),
        });
    }
    if resp.canceled() {
        return Step::End(StoreError::WatchCancelled(reason(resp)));
    }
    if resp.created() || resp.events().is_empty() {
        return Step::Skip;
    }
    let events: Vec<_> = resp.events().iter().map(event).collect();
    let last = events.last().map_or(0, |e| e.kv.mod_revision);
    let header = resp.header().map_or(0, etcd::ResponseHeader::revision);
    Step::Batch(WatchResponse {
        revision: header.max(last),
        events,
    })
}

/// etcd's reason for cancelling a watch.
fn reason(resp: &etcd::WatchResponse) -> String {
    match resp.cancel_reason() {
        "" => "cancelled by etcd".to_owned(),
        reason => reason.to_owned(),
    }
}
