//! watch: a chunked stream of `{"type","object"}` lines, from a resourceVersion or with the
//! current objects first, filtered by selectors, with bookmarks and a timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_store::{EventKind, KeyRange, Store, WatchRequest};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Ctx, Selectors};
use crate::error::{ApiError, ApiResult};
use crate::object::parse_resource_version;
use crate::query::Query;
use crate::render::{self, Format};
use crate::response::Body;
use crate::storage::{ListOptions, decode};

/// How often an idle watch that allows bookmarks gets one.
const BOOKMARK_EVERY: Duration = Duration::from_secs(10);
/// A watch without timeoutSeconds ends after this long (kube-apiserver's minimum request
/// timeout); clients re-watch from their last resourceVersion.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// Everything the streaming task owns.
struct Watch {
    store: Arc<dyn Store>,
    resource: &'static ResourceInfo,
    selectors: Selectors,
    format: Format,
    query: Query,
    tx: mpsc::Sender<Bytes>,
    /// The resourceVersion of the last thing sent.
    last_rv: i64,
}

/// GET …?watch=true
pub(super) async fn watch(ctx: &Ctx<'_>) -> ApiResult<Response<Body>> {
    let r = ctx.resource();
    let selectors = ctx.selectors()?;
    let range = match ctx.rr.name.as_deref() {
        Some(name) => KeyRange::key(r.key(ctx.namespace(), name)),
        None => KeyRange::prefix(r.namespace_prefix(ctx.namespace())),
    };
    let rv = match ctx.query.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(parse_resource_version(rv).map_err(ApiError::bad_request)?),
    };
    let send_initial = ctx.query.send_initial_events.unwrap_or(rv.is_none());
    let (initial, start) = match rv {
        Some(rv) if !send_initial => (Vec::new(), rv + 1),
        _ => {
            let prefix = match &range {
                KeyRange::Key(key) => String::from_utf8_lossy(key).into_owned(),
                _ => r.namespace_prefix(ctx.namespace()),
            };
            let page = ctx
                .storage
                .list(r, &prefix, &ListOptions::default(), &|obj| selectors.matches(obj), true)
                .await?;
            let items = match &range {
                KeyRange::Key(_) => page.items.into_iter().filter(|o| o["metadata"]["name"] == ctx.name()).collect(),
                _ => page.items,
            };
            (items, page.revision + 1)
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let mut w = Watch {
        store: ctx.storage.store().clone(),
        resource: r,
        selectors,
        format: ctx.format,
        query: ctx.query.clone(),
        tx,
        last_rv: start - 1,
    };
    let request = WatchRequest::new(range).from_revision(start);
    tokio::spawn(async move { w.run(initial, request).await });

    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|bytes| (Ok::<_, std::io::Error>(Frame::data(bytes)), rx))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

impl Watch {
    async fn run(&mut self, initial: Vec<Value>, request: WatchRequest) {
        let timeout = self.query.timeout_seconds.map_or(DEFAULT_TIMEOUT, Duration::from_secs);
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        for obj in initial {
            if !self.send("ADDED", obj).await {
                return;
            }
        }
        if self.query.send_initial_events == Some(true) && self.query.allow_watch_bookmarks {
            let end = self.bookmark(true);
            if !self.send_raw(end).await {
                return;
            }
        }
        let mut events = match self.store.watch(request).await {
            Ok(events) => events,
            Err(err) => {
                self.send_error(ApiError::from(err)).await;
                return;
            }
        };
        let mut bookmarks = tokio::time::interval(BOOKMARK_EVERY);
        bookmarks.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = self.tx.closed() => return,
                _ = bookmarks.tick(), if self.query.allow_watch_bookmarks => {
                    let b = self.bookmark(false);
                    if !self.send_raw(b).await {
                        return;
                    }
                }
                next = events.next() => match next {
                    Some(Ok(resp)) => {
                        for event in resp.events {
                            if !self.forward(event).await {
                                return;
                            }
                        }
                    }
                    Some(Err(err)) => {
                        self.send_error(ApiError::from(err)).await;
                        return;
                    }
                    None => return,
                },
            }
        }
    }

    /// Sends a store event as the watch event a client of these selectors should see.
    async fn forward(&mut self, event: kmicro_store::Event) -> bool {
        let r = self.resource;
        let prev = event.prev_kv.as_ref().and_then(|kv| decode(r, kv).ok()).map(|s| s.obj);
        let prev_matched = prev.as_ref().is_some_and(|p| self.selectors.matches(p));
        match event.kind {
            EventKind::Put => {
                let Ok(stored) = decode(r, &event.kv) else { return true };
                let now_matches = self.selectors.matches(&stored.obj);
                let kind = match (prev_matched, now_matches) {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    (false, false) => return true,
                };
                self.send(kind, stored.obj).await
            }
            EventKind::Delete => match prev {
                Some(mut obj) if prev_matched => {
                    crate::object::set_resource_version(&mut obj, event.kv.mod_revision);
                    self.send("DELETED", obj).await
                }
                _ => true,
            },
        }
    }

    async fn send(&mut self, kind: &str, obj: Value) -> bool {
        if let Some(rv) = obj["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()) {
            self.last_rv = rv;
        }
        let object = render::object(self.resource, obj, self.format, &self.query);
        self.send_raw(json!({"type": kind, "object": object})).await
    }

    async fn send_raw(&self, event: Value) -> bool {
        let mut line = serde_json::to_vec(&event).unwrap_or_default();
        line.push(b'\n');
        self.tx.send(Bytes::from(line)).await.is_ok()
    }

    async fn send_error(&self, err: ApiError) {
        let _ = self.send_raw(json!({"type": "ERROR", "object": err.to_status()})).await;
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
