//! The watches a module registers (WIT `api.watch`), built on the kernel's raw watch.
//!
//! A watch lists (following continue tokens), delivers every item as `added`, then
//! `synced`, then follows the raw watch from the list's resourceVersion. When the stream
//! ends it watches again from the last resourceVersion seen. When that is too old (410, as
//! an answer or an `ERROR` event) or the stream reports another error, it lists again and
//! delivers the difference with what it had delivered: `added` for new objects, `modified`
//! for changed ones, `deleted` for objects gone (carrying only their last known metadata:
//! apiVersion, kind, name, namespace, uid, resourceVersion). `synced` is sent once per
//! watch. Bookmarks only move the resourceVersion.
//!
//! Watches belong to the instance that registered them: they stop when it is dropped (a
//! restart or swap), and the next instance registers its own in `init`, which lists the
//! current state again. Items listed and events received while the instance is busy wait in
//! its bounded queue; a full queue holds the watch back (the kernel's watch then applies
//! its own slow-consumer rule).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::api::{ApiCall, ApiError, ListOptions, RawEventType, ResourceRef};
use crate::context::ModuleContext;
use crate::logs::LogLevel;

/// What a delivered event says (the WIT `event-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Added,
    Modified,
    Deleted,
    Synced,
}

/// One event for the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) watch: u32,
    pub(crate) kind: EventKind,
    pub(crate) object: String,
}

/// The watches of one instance; dropping this stops them.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    next_id: u32,
    running: HashMap<u32, AbortHandle>,
}

impl Watches {
    pub(crate) fn len(&self) -> usize {
        self.running.len()
    }

    pub(crate) fn contains(&self, id: u32) -> bool {
        self.running.contains_key(&id)
    }

    /// The id the next watch gets.
    pub(crate) fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    pub(crate) fn insert(&mut self, id: u32, handle: AbortHandle) {
        self.running.insert(id, handle);
    }

    pub(crate) fn stop(&mut self, id: u32) {
        if let Some(handle) = self.running.remove(&id) {
            handle.abort();
        }
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for handle in self.running.values() {
            handle.abort();
        }
    }
}

/// What a watch knows of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Known {
    uid: String,
    resource_version: String,
}

/// The objects a watch has delivered, by `namespace/name`.
type KnownSet = HashMap<String, Known>;

/// A full list.
#[derive(Debug)]
pub(crate) struct Snapshot {
    resource_version: String,
    api_version: String,
    kind: String,
    /// Key, what is known, the object as JSON (apiVersion and kind filled in).
    items: Vec<(String, Known, String)>,
}

#[derive(Deserialize, Default)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default, rename = "resourceVersion")]
    resource_version: String,
}

#[derive(Deserialize)]
struct WithMeta {
    #[serde(default)]
    metadata: Meta,
}

fn key_of(meta: &Meta) -> String {
    format!("{}/{}", meta.namespace, meta.name)
}

/// Lists `res` completely (all pages at one resourceVersion).
pub(crate) async fn list(
    ctx: &ModuleContext,
    res: &ResourceRef,
    options: &ListOptions,
) -> Result<Snapshot, ApiError> {
    let mut snapshot = Snapshot {
        resource_version: String::new(),
        api_version: String::new(),
        kind: String::new(),
        items: Vec::new(),
    };
    let mut continue_token = None;
    loop {
        let page_options = ListOptions {
            continue_token: continue_token.take(),
            ..options.clone()
        };
        let call = ApiCall::List {
            res: res.clone(),
            options: page_options,
        };
        let body = ctx.host.call(&ctx.name, call).await?;
        let mut page: Value = serde_json::from_str(&body).map_err(|e| {
            ApiError::internal(format!("the list of {} is not JSON: {e}", res.resource))
        })?;
        if snapshot.resource_version.is_empty() {
            snapshot.resource_version = page["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            snapshot.api_version = page["apiVersion"].as_str().unwrap_or_default().to_string();
            let list_kind = page["kind"].as_str().unwrap_or_default();
            snapshot.kind = list_kind
                .strip_suffix("List")
                .unwrap_or(list_kind)
                .to_string();
        }
        if let Some(items) = page.get_mut("items").and_then(Value::as_array_mut) {
            for mut item in items.drain(..) {
                if let Some(object) = item.as_object_mut() {
                    object
                        .entry("apiVersion")
                        .or_insert_with(|| snapshot.api_version.clone().into());
                    object
                        .entry("kind")
                        .or_insert_with(|| snapshot.kind.clone().into());
                }
                let meta: Meta =
                    serde_json::from_value(item["metadata"].clone()).unwrap_or_default();
                let known = Known {
                    uid: meta.uid.clone(),
                    resource_version: meta.resource_version.clone(),
                };
                snapshot
                    .items
                    .push((key_of(&meta), known, item.to_string()));
            }
        }
        match page["metadata"]["continue"].as_str() {
            Some(token) if !token.is_empty() => continue_token = Some(token.to_string()),
            _ => return Ok(snapshot),
        }
    }
}

/// One running watch.
struct Informer {
    ctx: Arc<ModuleContext>,
    id: u32,
    res: ResourceRef,
    options: ListOptions,
    queue: mpsc::Sender<Delivery>,
    known: KnownSet,
    resource_version: String,
    api_version: String,
    kind: String,
}

/// Why a watch stream stopped.
enum Stop {
    /// Ended: watch again from the last resourceVersion.
    Ended,
    /// Too old or failed: list again.
    Relist,
    /// The instance is gone.
    Closed,
}

/// First and longest pause between failed attempts.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Starts watch `id` with its initial `snapshot` (listed by the caller, so a failing first
/// list is the `watch` call's error).
pub(crate) fn spawn(
    ctx: Arc<ModuleContext>,
    id: u32,
    res: ResourceRef,
    options: ListOptions,
    snapshot: Snapshot,
    queue: mpsc::Sender<Delivery>,
) -> AbortHandle {
    let informer = Informer {
        ctx,
        id,
        res,
        options,
        queue,
        known: KnownSet::new(),
        resource_version: String::new(),
        api_version: String::new(),
        kind: String::new(),
    };
    tokio::spawn(informer.run(snapshot)).abort_handle()
}

impl Informer {
    async fn run(mut self, snapshot: Snapshot) {
        if self.apply_snapshot(snapshot).await.is_err()
            || self.send(EventKind::Synced, String::new()).await.is_err()
        {
            return;
        }
        let mut delay = RETRY_FIRST;
        loop {
            match self.follow().await {
                Stop::Closed => return,
                Stop::Ended => {
                    delay = RETRY_FIRST;
                    continue;
                }
                Stop::Relist => {}
            }
            loop {
                match list(&self.ctx, &self.res, &self.options).await {
                    Ok(snapshot) => {
                        if self.apply_snapshot(snapshot).await.is_err() {
                            return;
                        }
                        break;
                    }
                    Err(e) => {
                        self.ctx.host_log(
                            LogLevel::Warn,
                            &format!(
                                "watch {} of {}: list failed, retrying in {delay:?}: {e}",
                                self.id, self.res.resource
                            ),
                        );
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(RETRY_MAX);
                    }
                }
            }
        }
    }

    /// Follows the raw watch from the current resourceVersion.
    async fn follow(&mut self) -> Stop {
        let stream = self
            .ctx
            .host
            .watch(
                &self.ctx.name,
                &self.res,
                &self.options,
                &self.resource_version,
            )
            .await;
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                if e.code != 410 {
                    self.ctx.host_log(
                        LogLevel::Warn,
                        &format!("watch {} of {}: {e}", self.id, self.res.resource),
                    );
                    tokio::time::sleep(RETRY_FIRST).await;
                }
                return Stop::Relist;
            }
        };
        while let Some(event) = stream.next().await {
            let kind = match event.type_ {
                RawEventType::Added => EventKind::Added,
                RawEventType::Modified => EventKind::Modified,
                RawEventType::Deleted => EventKind::Deleted,
                RawEventType::Bookmark => {
                    if let Ok(WithMeta { metadata }) = serde_json::from_str(&event.object)
                        && !metadata.resource_version.is_empty()
                    {
                        self.resource_version = metadata.resource_version;
                    }
                    continue;
                }
                RawEventType::Error => {
                    let error = ApiError::from_status(&event.object);
                    if error.as_ref().is_none_or(|e| e.code != 410) {
                        let reason = error.map_or_else(|| event.object.clone(), |e| e.to_string());
                        self.ctx.host_log(
                            LogLevel::Warn,
                            &format!("watch {} of {}: {reason}", self.id, self.res.resource),
                        );
                    }
                    return Stop::Relist;
                }
            };
            let Ok(WithMeta { metadata }) = serde_json::from_str::<WithMeta>(&event.object) else {
                self.ctx.host_log(
                    LogLevel::Warn,
                    &format!("watch {}: an event object is not JSON", self.id),
                );
                return Stop::Relist;
            };
            let key = key_of(&metadata);
            if kind == EventKind::Deleted {
                self.known.remove(&key);
            } else {
                self.known.insert(
                    key,
                    Known {
                        uid: metadata.uid,
                        resource_version: metadata.resource_version.clone(),
                    },
                );
            }
            if !metadata.resource_version.is_empty() {
                self.resource_version = metadata.resource_version;
            }
            if self.send(kind, event.object).await.is_err() {
                return Stop::Closed;
            }
        }
        Stop::Ended
    }

    /// Delivers a list: everything on the first, the difference afterwards.
    async fn apply_snapshot(&mut self, snapshot: Snapshot) -> Result<(), Closed> {
        self.resource_version = snapshot.resource_version;
        self.api_version = snapshot.api_version;
        self.kind = snapshot.kind;
        let mut gone = std::mem::take(&mut self.known);
        for (key, known, object) in snapshot.items {
            let before = gone.remove(&key);
            let kind = match &before {
                None => EventKind::Added,
                Some(old) if old.uid != known.uid => {
                    self.send(EventKind::Deleted, self.tombstone(&key, old))
                        .await?;
                    EventKind::Added
                }
                Some(old) if old.resource_version != known.resource_version => EventKind::Modified,
                Some(_) => {
                    self.known.insert(key, known);
                    continue;
                }
            };
            self.known.insert(key, known);
            self.send(kind, object).await?;
        }
        for (key, old) in gone {
            self.send(EventKind::Deleted, self.tombstone(&key, &old))
                .await?;
        }
        Ok(())
    }

    /// The last known state of an object that is gone.
    fn tombstone(&self, key: &str, known: &Known) -> String {
        let (namespace, name) = key.split_once('/').unwrap_or(("", key));
        let mut metadata = serde_json::json!({"name": name, "uid": known.uid, "resourceVersion": known.resource_version});
        if !namespace.is_empty() {
            metadata["namespace"] = namespace.into();
        }
        serde_json::json!({"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata})
            .to_string()
    }

    async fn send(&self, kind: EventKind, object: String) -> Result<(), Closed> {
        self.queue
            .send(Delivery {
                watch: self.id,
                kind,
                object,
            })
            .await
            .map_err(|_| Closed)
    }
}

/// The instance's queue is gone.
struct Closed;
