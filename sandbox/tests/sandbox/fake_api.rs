//! An in-memory object store behind `HostApi`, behaving as the API does for what the tests
//! use: resourceVersions from one counter, 404/409 on get/create/update/delete, label
//! selectors of `key=value` terms, lists with the store's resourceVersion, watches from a
//! resourceVersion (replayed from a bounded history, 410 beyond it), then live.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::stream;
use kmicro_sandbox::{
    ApiCall, ApiError, HostApi, ListOptions, RawEventType, RawWatchEvent, ResourceRef, WatchStream,
};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Events kept for watches that start in the past.
const HISTORY: usize = 10_000;

#[derive(Clone, Debug)]
struct Stored {
    rev: u64,
    resource: String,
    namespace: String,
    type_: RawEventType,
    object: Value,
}

#[derive(Default)]
struct State {
    rev: u64,
    uid: u64,
    /// (resource, namespace, name) → object.
    objects: BTreeMap<(String, String, String), Value>,
    history: Vec<Stored>,
}

/// The fake API.
pub struct FakeApi {
    state: Mutex<State>,
    feed: Mutex<broadcast::Sender<Stored>>,
    muted: AtomicBool,
    live_watches: Arc<AtomicUsize>,
    /// Calls per module.
    pub calls: Mutex<HashMap<String, usize>>,
    /// Lists per module.
    pub lists: Mutex<HashMap<String, usize>>,
    /// Field managers of writes.
    pub managers: Mutex<Vec<String>>,
}

fn key(res: &ResourceRef) -> String {
    format!("{}/{}", res.group, res.resource)
}

fn not_found(res: &ResourceRef, name: &str) -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        format!("{} \"{name}\" not found", res.resource),
    )
}

/// `key=value[,key=value]` against an object's labels.
fn matches(selector: Option<&str>, object: &Value) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k.trim()].as_str() == Some(v.trim()),
        None => false,
    })
}

impl FakeApi {
    pub fn new() -> Arc<FakeApi> {
        let (feed, _) = broadcast::channel(4096);
        Arc::new(FakeApi {
            state: Mutex::new(State::default()),
            feed: Mutex::new(feed),
            muted: AtomicBool::new(false),
            live_watches: Arc::new(AtomicUsize::new(0)),
            calls: Mutex::new(HashMap::new()),
            lists: Mutex::new(HashMap::new()),
            managers: Mutex::new(Vec::new()),
        })
    }

    /// Watch streams open now.
    pub fn live_watches(&self) -> usize {
        self.live_watches.load(Ordering::SeqCst)
    }

    /// Lists made by `module`.
    pub fn lists_of(&self, module: &str) -> usize {
        self.lists.lock().unwrap().get(module).copied().unwrap_or(0)
    }

    /// Calls made by `module`.
    pub fn calls_of(&self, module: &str) -> usize {
        self.calls.lock().unwrap().get(module).copied().unwrap_or(0)
    }

    /// Writes a ConfigMap as a user would (create or replace), with `labels`.
    pub fn put_configmap(&self, namespace: &str, name: &str, labels: Value, data: Value) {
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": data,
        });
        let mut state = self.state.lock().unwrap();
        let k = (
            "/configmaps".to_string(),
            namespace.to_string(),
            name.to_string(),
        );
        let type_ = if state.objects.contains_key(&k) {
            RawEventType::Modified
        } else {
            RawEventType::Added
        };
        self.write(&mut state, k, type_, object);
    }

    /// Deletes a ConfigMap as a user would; `false` if absent.
    pub fn delete_configmap(&self, namespace: &str, name: &str) -> bool {
        let mut state = self.state.lock().unwrap();
        let k = (
            "/configmaps".to_string(),
            namespace.to_string(),
            name.to_string(),
        );
        match state.objects.get(&k).cloned() {
            Some(object) => {
                self.write(&mut state, k, RawEventType::Deleted, object);
                true
            }
            None => false,
        }
    }

    /// A stored ConfigMap.
    pub fn configmap(&self, namespace: &str, name: &str) -> Option<Value> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .get(&(
                "/configmaps".to_string(),
                namespace.to_string(),
                name.to_string(),
            ))
            .cloned()
    }

    /// `name → data.value` of the ConfigMaps of `namespace` labelled `kmicro.test/source=true`.
    pub fn sources(&self, namespace: &str) -> BTreeMap<String, String> {
        let state = self.state.lock().unwrap();
        state
            .objects
            .iter()
            .filter(|((r, ns, _), o)| {
                r == "/configmaps" && ns == namespace && matches(Some("kmicro.test/source=true"), o)
            })
            .map(|((_, _, name), o)| {
                (
                    name.clone(),
                    o["data"]["value"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Runs `f` with changes stored but neither published nor kept in the history, as if
    /// watchers had missed them.
    pub fn unseen(&self, f: impl FnOnce(&FakeApi)) {
        self.muted.store(true, Ordering::SeqCst);
        f(self);
        self.muted.store(false, Ordering::SeqCst);
    }

    /// Forgets the history (watches from an older resourceVersion get 410) and ends every
    /// watch stream.
    pub fn compact_and_break_watches(&self) {
        self.state.lock().unwrap().history.clear();
        let (feed, _) = broadcast::channel(4096);
        *self.feed.lock().unwrap() = feed;
    }

    /// Stores a change (a new revision) and publishes it.
    fn write(
        &self,
        state: &mut State,
        k: (String, String, String),
        type_: RawEventType,
        mut object: Value,
    ) -> Value {
        state.rev += 1;
        let rev = state.rev;
        if type_ == RawEventType::Added {
            state.uid += 1;
            object["metadata"]["uid"] = json!(format!("uid-{}", state.uid));
        } else if let Some(old) = state.objects.get(&k) {
            object["metadata"]["uid"] = old["metadata"]["uid"].clone();
        }
        object["metadata"]["resourceVersion"] = json!(rev.to_string());
        if type_ == RawEventType::Deleted {
            state.objects.remove(&k);
        } else {
            state.objects.insert(k.clone(), object.clone());
        }
        let stored = Stored {
            rev,
            resource: k.0,
            namespace: k.1,
            type_,
            object: object.clone(),
        };
        if self.muted.load(Ordering::SeqCst) {
            return object;
        }
        state.history.push(stored.clone());
        if state.history.len() > HISTORY {
            state.history.remove(0);
        }
        let _ = self.feed.lock().unwrap().send(stored);
        object
    }

    fn serve(&self, call: ApiCall) -> Result<String, ApiError> {
        let mut state = self.state.lock().unwrap();
        let res = call.res().clone();
        let namespace = res.namespace.clone().unwrap_or_default();
        match call {
            ApiCall::Get { name, .. } => state
                .objects
                .get(&(key(&res), namespace, name.clone()))
                .map(|o| o.to_string())
                .ok_or_else(|| not_found(&res, &name)),
            ApiCall::List { options, .. } => {
                let items: Vec<Value> = state
                    .objects
                    .iter()
                    .filter(|((r, ns, _), o)| {
                        *r == key(&res)
                            && (res.namespace.is_none() || *ns == namespace)
                            && matches(options.label_selector.as_deref(), o)
                    })
                    .map(|(_, o)| {
                        let mut item = o.clone();
                        let object = item.as_object_mut().unwrap();
                        object.remove("apiVersion");
                        object.remove("kind");
                        item
                    })
                    .collect();
                let kind = if res.resource == "configmaps" {
                    "ConfigMapList"
                } else {
                    "List"
                };
                Ok(json!({
                    "apiVersion": "v1", "kind": kind,
                    "metadata": {"resourceVersion": state.rev.to_string()},
                    "items": items,
                })
                .to_string())
            }
            ApiCall::Create { body, options, .. } => {
                let object: Value = serde_json::from_str(&body)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let name = object["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if name.is_empty() {
                    return Err(ApiError::invalid("metadata.name: Required value"));
                }
                let k = (key(&res), namespace, name.clone());
                if state.objects.contains_key(&k) {
                    return Err(ApiError::new(
                        409,
                        "AlreadyExists",
                        format!("{} \"{name}\" already exists", res.resource),
                    ));
                }
                self.managers
                    .lock()
                    .unwrap()
                    .push(options.field_manager.unwrap_or_default());
                Ok(self
                    .write(&mut state, k, RawEventType::Added, object)
                    .to_string())
            }
            ApiCall::Update {
                name,
                body,
                options,
                ..
            } => {
                let object: Value = serde_json::from_str(&body)
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
                let k = (key(&res), namespace, name.clone());
                let current = state
                    .objects
                    .get(&k)
                    .ok_or_else(|| not_found(&res, &name))?;
                if let Some(rv) = object["metadata"]["resourceVersion"].as_str()
                    && current["metadata"]["resourceVersion"].as_str() != Some(rv)
                {
                    return Err(ApiError::new(
                        409,
                        "Conflict",
                        "the object has been modified",
                    ));
                }
                self.managers
                    .lock()
                    .unwrap()
                    .push(options.field_manager.unwrap_or_default());
                Ok(self
                    .write(&mut state, k, RawEventType::Modified, object)
                    .to_string())
            }
            ApiCall::Delete { name, .. } => {
                let k = (key(&res), namespace, name.clone());
                let object = state
                    .objects
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| not_found(&res, &name))?;
                Ok(self
                    .write(&mut state, k, RawEventType::Deleted, object)
                    .to_string())
            }
            ApiCall::CreateSubresource { .. } | ApiCall::Patch { .. } => Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "not supported by the fake API",
            )),
        }
    }
}

/// Decrements the live watch count when a stream is dropped.
struct LiveGuard(Arc<AtomicUsize>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl HostApi for FakeApi {
    async fn call(&self, module: &str, call: ApiCall) -> Result<String, ApiError> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry(module.to_string())
            .or_default() += 1;
        if matches!(call, ApiCall::List { .. }) {
            *self
                .lists
                .lock()
                .unwrap()
                .entry(module.to_string())
                .or_default() += 1;
        }
        self.serve(call)
    }

    async fn watch(
        &self,
        _module: &str,
        res: &ResourceRef,
        options: &ListOptions,
        resource_version: &str,
    ) -> Result<WatchStream, ApiError> {
        let from: u64 = resource_version
            .parse()
            .map_err(|_| ApiError::bad_request("bad resourceVersion"))?;
        let (replay, live) = {
            let state = self.state.lock().unwrap();
            let oldest = state.history.first().map_or(state.rev + 1, |s| s.rev);
            if from + 1 < oldest && from < state.rev {
                return Err(ApiError::gone(format!(
                    "too old resource version: {from} ({})",
                    oldest - 1
                )));
            }
            let replay: Vec<Stored> = state
                .history
                .iter()
                .filter(|s| s.rev > from)
                .cloned()
                .collect();
            (replay, self.feed.lock().unwrap().subscribe())
        };
        let resource = key(res);
        let namespace = res.namespace.clone();
        let selector = options.label_selector.clone();
        let wanted = move |s: &Stored| {
            s.resource == resource
                && namespace.as_ref().is_none_or(|ns| *ns == s.namespace)
                && matches(selector.as_deref(), &s.object)
        };
        let last = replay.last().map_or(from, |s| s.rev);
        self.live_watches.fetch_add(1, Ordering::SeqCst);
        let guard = LiveGuard(self.live_watches.clone());
        let replayed = stream::iter(replay.into_iter().filter(wanted.clone()));
        let followed = stream::unfold((live, last, guard), move |(mut live, last, guard)| {
            let wanted = wanted.clone();
            async move {
                loop {
                    match live.recv().await {
                        Ok(s) if s.rev > last && wanted(&s) => {
                            return Some((s, (live, last, guard)));
                        }
                        Ok(_) => continue,
                        // Lagged or closed: the stream breaks; the client watches again.
                        Err(_) => return None,
                    }
                }
            }
        });
        let events = futures::StreamExt::map(
            futures::StreamExt::chain(replayed, followed),
            |s: Stored| RawWatchEvent {
                type_: s.type_,
                object: s.object.to_string(),
            },
        );
        Ok(Box::pin(events))
    }
}
