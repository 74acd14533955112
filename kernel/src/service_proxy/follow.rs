//! List-then-watch of one collection through the in-process API, for ever: each list and
//! each watch event is sent on as a [`Change`]; a broken watch lists again after a pause.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::modules::local::{LocalClient, LocalError, encode};

/// How long a failed list or broken watch waits before listing again.
const RETRY: Duration = Duration::from_secs(1);

/// Which collection a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Services.
    Services,
    /// EndpointSlices.
    Slices,
}

/// One change of a followed collection.
#[derive(Debug)]
pub enum Change {
    /// A full list: the collection is exactly these objects.
    Listed(Kind, Vec<Value>),
    /// An object was added or modified.
    Upsert(Kind, Value),
    /// An object was deleted.
    Deleted(Kind, Value),
}

/// Follows `collection` as `client`, sending changes to `tx` until it closes.
pub async fn follow(client: LocalClient, kind: Kind, collection: &str, tx: mpsc::Sender<Change>) {
    loop {
        if let Err(err) = list_and_watch(&client, kind, collection, &tx).await {
            tracing::debug!(%collection, %err, "service proxy: watch ended");
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn list_and_watch(
    client: &LocalClient,
    kind: Kind,
    collection: &str,
    tx: &mpsc::Sender<Change>,
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
    if tx.send(Change::Listed(kind, items)).await.is_err() {
        return Ok(());
    }
    let path = format!(
        "{collection}?watch=1&allowWatchBookmarks=true&resourceVersion={}",
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
                Some("ADDED" | "MODIFIED") => Change::Upsert(kind, object),
                Some("DELETED") => Change::Deleted(kind, object),
                // An expired watch: list again.
                Some("ERROR") => return Ok(()),
                _ => continue,
            };
            if tx.send(change).await.is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
