//! Following a collection through the in-process API: list, then watch from the list's
//! resourceVersion, and list again whenever the watch ends (expired, broken, or the server
//! closed it), as an informer does.

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

/// Follows `collection` (a list path, possibly with a query) for ever, calling `on` with
/// each change.
pub async fn follow(client: LocalClient, collection: String, mut on: impl FnMut(Change)) {
    loop {
        if let Err(err) = list_and_watch(&client, &collection, &mut on).await {
            tracing::debug!(%collection, %err, "cluster DNS: watch ended");
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn list_and_watch(
    client: &LocalClient,
    collection: &str,
    on: &mut impl FnMut(Change),
) -> Result<(), LocalError> {
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
    on(Change::Listed(items));
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
            match event["type"].as_str() {
                Some("ADDED" | "MODIFIED") => on(Change::Applied(object)),
                Some("DELETED") => on(Change::Deleted(object)),
                // An expired watch: list again.
                Some("ERROR") => return Ok(()),
                _ => {}
            }
        }
    }
    Ok(())
}
