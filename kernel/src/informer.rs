//! Following a collection through the in-process API, as an informer does: list, then watch
//! from the list's resourceVersion (with bookmarks), and list again whenever the watch ends
//! (expired, broken, or the server closed it), after a short pause. The kernel's own
//! controllers use it (the root CA publisher, cluster DNS, the service proxy).

use std::ops::ControlFlow;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use serde_json::Value;

use crate::modules::local::{LocalClient, LocalError, encode};

/// How long a failed list or a broken watch waits before the next list.
const RETRY: Duration = Duration::from_secs(1);

/// What happened to the collection.
#[derive(Debug)]
pub enum Change {
    /// A fresh list: these are all the objects now (anything else known is gone).
    Listed(Vec<Value>),
    /// An object was added or changed.
    Applied(Value),
    /// An object was deleted.
    Deleted(Value),
}

/// Follows `collection` (a list path, possibly with a query) as `client`, calling `on` with
/// each change, until `on` breaks (its receiver is gone, say).
pub async fn follow(
    client: LocalClient,
    collection: String,
    mut on: impl FnMut(Change) -> ControlFlow<()>,
) {
    loop {
        match list_and_watch(&client, &collection, &mut on).await {
            Ok(ControlFlow::Break(())) => return,
            Ok(ControlFlow::Continue(())) => {}
            Err(err) => tracing::debug!(%collection, %err, "watch ended; listing again"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One list and the watch after it: `Continue` when the watch ended, `Break` when `on` did.
async fn list_and_watch(
    client: &LocalClient,
    collection: &str,
    on: &mut impl FnMut(Change) -> ControlFlow<()>,
) -> Result<ControlFlow<()>, LocalError> {
    let list = client
        .send(Method::GET, collection, None, Bytes::new())
        .await?;
    let mut list: Value = serde_json::from_slice(&list).unwrap_or_default();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("0")
        .to_string();
    let items = match list["items"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    if on(Change::Listed(items)).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    let separator = if collection.contains('?') { '&' } else { '?' };
    let path = format!(
        "{collection}{separator}watch=1&allowWatchBookmarks=true&resourceVersion={}",
        encode(&rv)
    );
    let mut chunks = Box::pin(client.stream(&path).await?);
    let mut pending = Vec::new();
    while let Some(chunk) = chunks.next().await {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let Ok(mut event) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            let object = event["object"].take();
            let change = match event["type"].as_str() {
                Some("ADDED" | "MODIFIED") => Change::Applied(object),
                Some("DELETED") => Change::Deleted(object),
                // An expired watch: list again.
                Some("ERROR") => return Ok(ControlFlow::Continue(())),
                _ => continue,
            };
            if on(change).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    Ok(ControlFlow::Continue(()))
}
