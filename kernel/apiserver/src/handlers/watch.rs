//! watch: a chunked stream of `{"type","object"}` lines, from a resourceVersion or with the
//! current objects first, filtered by selectors, with bookmarks and a timeout.
//!
//! Events come from the resource's shared [`WatchCache`](crate::watch_cache::WatchCache)
//! whenever it still holds everything after the requested revision, else from a store watch
//! of this watcher's own. Either way they arrive as shared [`CachedEvent`]s, and in JSON the
//! object's bytes, serialized once, are sent to every watcher without copying.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Response;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_store::{EventKind, KeyRange, Revision, WatchRequest, WatchStream};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::{Ctx, Selectors};
use crate::error::{ApiError, ApiResult};
use crate::object::parse_resource_version;
use crate::query::Query;
use crate::render::{self, Format};
use crate::response::Body;
use crate::storage::{ListCursor, ListOptions};
use crate::watch_cache::CachedEvent;

/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// A watch without timeoutSeconds ends after this long (kube-apiserver's minimum request
/// timeout); clients re-watch from their last resourceVersion.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Where a watcher's events come from.
enum Source {
    /// The shared cache: a backlog, then the broadcast.
    Cache(
        VecDeque<Arc<CachedEvent>>,
        broadcast::Receiver<Arc<CachedEvent>>,
    ),
    /// A store watch of its own.
    Store(
        &'static ResourceInfo,
        WatchStream,
        VecDeque<Arc<CachedEvent>>,
    ),
}

impl Source {
    /// The next event; `None` when the source ended (the client re-watches).
    async fn next(&mut self) -> Option<Result<Arc<CachedEvent>, ApiError>> {
        match self {
            Source::Cache(backlog, rx) => {
                if let Some(event) = backlog.pop_front() {
                    return Some(Ok(event));
                }
                rx.recv().await.ok().map(Ok)
            }
            Source::Store(r, stream, pending) => loop {
                if let Some(event) = pending.pop_front() {
                    return Some(Ok(event));
                }
                match stream.next().await? {
                    Ok(resp) => pending.extend(
                        resp.events
                            .into_iter()
                            .filter_map(|e| crate::watch_cache::cached(r, e))
                            .map(Arc::new),
                    ),
                    Err(err) => return Some(Err(err.into())),
                }
            },
        }
    }
}

/// What one watcher selects.
struct Filter {
    key: KeyRange,
    /// For a watch of one object, its name.
    name: Option<String>,
    after: Revision,
    selectors: Selectors,
}

/// Everything the streaming task owns.
struct Watch {
    resource: &'static ResourceInfo,
    printer: render::Printer,
    filter: Filter,
    format: Format,
    query: Query,
    tx: mpsc::Sender<Bytes>,
    stopping: tokio::sync::watch::Receiver<bool>,
    /// The resourceVersion of the last thing sent.
    last_rv: Revision,
}

/// GET …?watch=true
pub(super) async fn watch(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let selectors = ctx.selectors()?;
    let key = match ctx.rr.name.as_deref() {
        Some(name) => KeyRange::key(r.key(ctx.namespace(), name)),
        None => KeyRange::prefix(r.namespace_prefix(ctx.namespace())),
    };
    let rv = match ctx.query.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(parse_resource_version(rv).map_err(ApiError::bad_request)?),
    };
    let send_initial = ctx.query.send_initial_events.unwrap_or(rv.is_none());
    let cache = ctx.storage.watch_cache(r).await?;
    // Initial events come from a list cursor read at one revision; the watch starts after it.
    let mut initial = None;
    let after = match rv {
        Some(rv) if !send_initial => rv,
        _ => {
            let prefix = r.namespace_prefix(ctx.namespace());
            let mut cursor = ctx
                .storage
                .list_cursor(r, &prefix, &ListOptions::default(), true)?;
            let first = cursor
                .next_items(&|obj| selected(&selectors, ctx.rr.name.as_deref(), obj))
                .await?;
            let after = cursor.revision();
            initial = Some((first, cursor));
            after
        }
    };
    let source = match cache.subscribe(after) {
        Some(sub) => Source::Cache(sub.backlog.into(), sub.rx),
        None => match ctx
            .storage
            .store()
            .watch(WatchRequest::new(key.clone()).from_revision(after + 1))
            .await
        {
            Ok(stream) => Source::Store(r, stream, VecDeque::new()),
            Err(err) => return Ok(error_stream(ApiError::from(err))),
        },
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut w = Watch {
        resource: r,
        printer: ctx.printer(),
        filter: Filter {
            key,
            name: ctx.rr.name.clone(),
            after,
            selectors,
        },
        format: ctx.format,
        query: ctx.query.clone(),
        tx,
        stopping: ctx.stopping.clone(),
        last_rv: after,
    };
    tokio::spawn(async move { w.run(initial, source).await });
    Ok(crate::response::stream(rx))
}

/// Whether a listed object is one this watcher selects (`name`: a watch of one object).
fn selected(selectors: &Selectors, name: Option<&str>, obj: &Value) -> bool {
    selectors.matches(obj) && name.is_none_or(|name| obj["metadata"]["name"] == name)
}

/// A watch that only reports `err` (as kube-apiserver does for a compacted start).
fn error_stream(err: ApiError) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()}))
        .unwrap_or_default();
    line.push(b'\n');
    let _ = tx.try_send(Bytes::from(line));
    crate::response::stream(rx)
}

impl Watch {
    async fn run(&mut self, initial: Option<(Vec<Value>, ListCursor)>, mut source: Source) {
        let timeout = self
            .query
            .timeout_seconds
            .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        if let Some((first, mut cursor)) = initial {
            let mut items = first;
            loop {
                for obj in items {
                    let json = Bytes::from(serde_json::to_vec(&obj).unwrap_or_default());
                    if !self.send("ADDED", &obj, &json).await {
                        return;
                    }
                }
                if cursor.is_done() {
                    break;
                }
                let (selectors, name) = (&self.filter.selectors, self.filter.name.as_deref());
                items = match cursor
                    .next_items(&|obj| selected(selectors, name, obj))
                    .await
                {
                    Ok(items) => items,
                    Err(err) => {
                        let _ = self
                            .send_value(json!({"type": "ERROR", "object": err.to_status()}))
                            .await;
                        return;
                    }
                };
            }
            // The initial events' own resourceVersions may be older than the list's.
            self.last_rv = self.filter.after;
        }
        if self.query.send_initial_events == Some(true)
            && self.query.allow_watch_bookmarks
            && !self.send_value(self.bookmark(true)).await
        {
            return;
        }
        let mut bookmarks = tokio::time::interval(BOOKMARK_EVERY);
        bookmarks.tick().await;
        let mut stopping = self.stopping.clone();
        if *stopping.borrow() {
            return;
        }
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = self.tx.closed() => return,
                changed = stopping.changed() => {
                    if changed.is_err() || *stopping.borrow() {
                        return;
                    }
                }
                _ = bookmarks.tick(), if self.query.allow_watch_bookmarks => {
                    if !self.send_value(self.bookmark(false)).await {
                        return;
                    }
                }
                next = source.next() => match next {
                    Some(Ok(event)) => {
                        if !self.forward(&event).await {
                            return;
                        }
                    }
                    Some(Err(err)) => {
                        let _ = self.send_value(json!({"type": "ERROR", "object": err.to_status()})).await;
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    /// Sends an event as the watch event a client of this filter should see.
    async fn forward(&mut self, event: &CachedEvent) -> bool {
        if event.revision <= self.filter.after || !self.filter.key.contains(&event.key) {
            return true;
        }
        let selectors = &self.filter.selectors;
        let prev_matched = event.prev.as_ref().is_some_and(|p| selectors.matches(p));
        let kind = match event.kind {
            EventKind::Put => match (prev_matched, selectors.matches(&event.obj)) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return true,
            },
            EventKind::Delete if prev_matched => "DELETED",
            EventKind::Delete => return true,
        };
        self.send(kind, &event.obj, &event.json).await
    }

    /// Sends one event; `json` is `obj` serialized, shared rather than copied.
    async fn send(&mut self, kind: &str, obj: &Value, json: &Bytes) -> bool {
        if let Some(rv) = obj["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
        {
            self.last_rv = rv;
        }
        match self.format {
            Format::Object => {
                let head = Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":"));
                for part in [head, json.clone(), Bytes::from_static(b"}\n")] {
                    if self.tx.send(part).await.is_err() {
                        return false;
                    }
                }
                true
            }
            Format::Table => {
                let table = render::object(&self.printer, obj.clone(), self.format, &self.query);
                self.send_value(json!({"type": kind, "object": table}))
                    .await
            }
        }
    }

    async fn send_value(&self, event: Value) -> bool {
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    fn bookmark(&self, initial_events_end: bool) -> Value {
        let mut metadata = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        json!({
            "type": "BOOKMARK",
            "object": {"kind": self.resource.kind, "apiVersion": self.resource.api_version(), "metadata": metadata},
        })
    }
}
