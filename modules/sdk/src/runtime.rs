//! The module runtime: the handler the host calls, driving a [`Module`] through watches, a
//! queue of keys to reconcile, and timers.
//!
//! Events update the watches' caches and queue the keys their mappings name. Keys are
//! reconciled (each at most once per batch, in the order queued) only once every watch has
//! delivered its initial list, so a reconcile never sees a half-filled cache. A reconcile that
//! fails is retried after a back-off (1 s doubling to 60 s); one that asks to be requeued is
//! armed as a host timer, which survives restarts and swaps.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::marker::PhantomData;

use crate::api::ListParams;
use crate::bindings::exports::kmicro::module::handler::Guest;
use crate::bindings::kmicro::module::types as wit;
use crate::bindings::kmicro::module::{api as host, clock};
use crate::cache::Cache;
use crate::error::{ApiError, Error};
use crate::log;
use crate::resource::{Object, ObjectRef, Scope, resource_ref};

/// What a module is: its version, its permissions, how it starts and what it reconciles.
pub trait Module: Sized + 'static {
    /// The module's version and the API access it needs.
    fn describe() -> Descriptor;
    /// Starts the module from its config (`{}` when unset), registering its watches.
    fn init(config: &serde_json::Value, setup: &mut Setup) -> Result<Self, Error>;
    /// Brings the world in line for `key`. Must be idempotent: a key may be reconciled again
    /// at any time, and always is after a restart or a swap.
    fn reconcile(&mut self, key: &Key) -> Result<Action, Error>;
    /// Whether the module is doing its work, and why not.
    fn health(&self) -> (bool, String) {
        (true, String::new())
    }
}

/// A module's version and permissions.
#[derive(Debug, Clone)]
pub struct Descriptor {
    /// Version shown in the Module's status.
    pub version: String,
    /// The API access the module needs.
    pub permissions: Vec<Rule>,
}

/// One permission rule, in the shape of an RBAC PolicyRule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// API groups (`""` for core).
    pub api_groups: Vec<String>,
    /// Resources, subresources as `pods/binding`.
    pub resources: Vec<String>,
    /// Verbs.
    pub verbs: Vec<String>,
}

impl Rule {
    /// A rule over `resources` of `groups` with `verbs`.
    pub fn new(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Self {
        let owned = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Self {
            api_groups: owned(groups),
            resources: owned(resources),
            verbs: owned(verbs),
        }
    }
}

/// What to reconcile: a kind of work the module names (`"replicaset"`) and an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Which of the module's reconcilers this is for.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl Key {
    /// The key for reconciler `kind` and the object at `namespace`/`name`.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key for reconciler `kind` and the object at `at`.
    pub fn at(kind: &str, at: &ObjectRef) -> Self {
        Self::new(kind, &at.namespace, &at.name)
    }

    /// Where the object is.
    pub fn object(&self) -> ObjectRef {
        ObjectRef::new(&self.namespace, &self.name)
    }

    fn to_timer(&self) -> String {
        format!("{}\n{}\n{}", self.kind, self.namespace, self.name)
    }

    fn from_timer(timer: &str) -> Option<Self> {
        let mut parts = timer.splitn(3, '\n');
        Some(Self::new(parts.next()?, parts.next()?, parts.next()?))
    }
}

/// What a reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until something changes.
    Done,
    /// Reconcile again after this many milliseconds (unless a change comes first).
    RequeueAfter(u64),
}

/// Where a module registers its watches during `init`.
pub struct Setup {
    watches: BTreeMap<u32, Box<dyn Sink>>,
}

impl Setup {
    /// Watches kind `K` (in `namespace`, or everywhere) and keeps a cache of it. `map` names
    /// the keys to reconcile when an object changes: it is called with the new state and with
    /// the state held before (so a label change queues both the old and the new owner).
    pub fn watch<K, F>(
        &mut self,
        namespace: Option<&str>,
        params: &ListParams,
        map: F,
    ) -> Result<Cache<K>, Error>
    where
        K: Object,
        K::Scope: Scope,
        F: Fn(&K) -> Vec<Key> + 'static,
    {
        self.watch_resource(&resource_ref::<K>(namespace), params, map, |obj| obj)
    }

    /// Watches the API resource `res` into a cache of `K`, each decoded object passed
    /// through `trim` (which may drop what the module never reads) before it is cached and
    /// mapped. [`Setup::watch`] and the untyped watches of [`crate::dynamic`] are this.
    pub(crate) fn watch_resource<K, F>(
        &mut self,
        res: &wit::ResourceRef,
        params: &ListParams,
        map: F,
        trim: fn(K) -> K,
    ) -> Result<Cache<K>, Error>
    where
        K: Object,
        F: Fn(&K) -> Vec<Key> + 'static,
    {
        let id = host::watch(res, &params.to_wit()).map_err(ApiError::from)?;
        let cache = Cache::<K>::default();
        self.watches.insert(
            id,
            Box::new(WatchSink {
                cache: cache.clone(),
                map: Box::new(map),
                trim,
                synced: false,
            }),
        );
        Ok(cache)
    }
}

/// The part of a watch the runtime drives without knowing its kind.
trait Sink {
    /// Applies one event to the cache, answering the keys to queue.
    fn apply(&mut self, event_type: wit::EventType, object: &str) -> Result<Vec<Key>, Error>;
    fn is_synced(&self) -> bool;
}

/// A watch's mapping from a changed object to the keys to queue.
type MapFn<K> = Box<dyn Fn(&K) -> Vec<Key>>;

struct WatchSink<K> {
    cache: Cache<K>,
    map: MapFn<K>,
    trim: fn(K) -> K,
    synced: bool,
}

impl<K: Object> Sink for WatchSink<K> {
    fn apply(&mut self, event_type: wit::EventType, object: &str) -> Result<Vec<Key>, Error> {
        if event_type == wit::EventType::Synced {
            self.synced = true;
            return Ok(Vec::new());
        }
        let obj: K = (self.trim)(serde_json::from_str(object)?);
        let at = ObjectRef::of(&obj);
        let mut keys = (self.map)(&obj);
        let held = match event_type {
            wit::EventType::Deleted => self.cache.forget(&at),
            _ => {
                let held = self.cache.get(&at.namespace, &at.name);
                self.cache.record(obj);
                held
            }
        };
        if let Some(held) = held {
            keys.extend((self.map)(&held));
        }
        Ok(keys)
    }

    fn is_synced(&self) -> bool {
        self.synced
    }
}

/// The module-independent state: watches, the queue, failure counts.
struct Runtime {
    watches: BTreeMap<u32, Box<dyn Sink>>,
    queue: VecDeque<Key>,
    queued: BTreeSet<Key>,
    failures: BTreeMap<Key, u32>,
}

impl Runtime {
    fn enqueue(&mut self, key: Key) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back(key);
        }
    }

    fn all_synced(&self) -> bool {
        self.watches.values().all(|w| w.is_synced())
    }
}

/// The module as the runtime calls it.
trait Reconciler {
    fn reconcile(&mut self, key: &Key) -> Result<Action, Error>;
    fn health(&self) -> (bool, String);
}

impl<M: Module> Reconciler for M {
    fn reconcile(&mut self, key: &Key) -> Result<Action, Error> {
        Module::reconcile(self, key)
    }

    fn health(&self) -> (bool, String) {
        Module::health(self)
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
    static MODULE: RefCell<Option<Box<dyn Reconciler>>> = RefCell::new(None);
}

/// Queues `key` for reconciling (after the current one), from inside a reconcile.
pub fn enqueue(key: Key) {
    RUNTIME.with(|rt| {
        if let Some(rt) = rt.borrow_mut().as_mut() {
            rt.enqueue(key);
        }
    });
}

/// Reconciles every queued key, once every watch is synced.
fn drain() {
    loop {
        let key = RUNTIME.with(|rt| {
            let mut rt = rt.borrow_mut();
            let rt = rt.as_mut()?;
            if !rt.all_synced() {
                return None;
            }
            let key = rt.queue.pop_front()?;
            rt.queued.remove(&key);
            Some(key)
        });
        let Some(key) = key else { return };
        let outcome = MODULE.with(|m| match m.borrow_mut().as_mut() {
            Some(module) => module.reconcile(&key),
            None => Ok(Action::Done),
        });
        settle(&key, outcome);
    }
}

/// Arms what the outcome of reconciling `key` asks for.
fn settle(key: &Key, outcome: Result<Action, Error>) {
    match outcome {
        Ok(action) => {
            RUNTIME.with(|rt| {
                if let Some(rt) = rt.borrow_mut().as_mut() {
                    rt.failures.remove(key);
                }
            });
            match action {
                Action::Done => {}
                Action::RequeueAfter(ms) => clock::set_timer(&key.to_timer(), ms),
            }
        }
        Err(err) => {
            let failures = RUNTIME.with(|rt| {
                let mut rt = rt.borrow_mut();
                let rt = rt.as_mut()?;
                let n = rt.failures.entry(key.clone()).or_insert(0);
                *n = n.saturating_add(1);
                Some(*n)
            });
            let n = failures.unwrap_or(1);
            let delay = 1000u64.saturating_mul(1 << (n - 1).min(6)).min(60_000);
            log::warn(&format!(
                "reconciling {} {}/{} failed (attempt {n}, again in {} s): {err}",
                key.kind,
                key.namespace,
                key.name,
                delay / 1000
            ));
            clock::set_timer(&key.to_timer(), delay);
        }
    }
}

/// The handler export for module type `M`; [`crate::module!`] names it.
pub struct Hosted<M>(PhantomData<M>);

impl<M: Module> Guest for Hosted<M> {
    fn describe() -> wit::Descriptor {
        let d = M::describe();
        wit::Descriptor {
            version: d.version,
            permissions: d
                .permissions
                .into_iter()
                .map(|r| wit::PolicyRule {
                    api_groups: r.api_groups,
                    resources: r.resources,
                    verbs: r.verbs,
                })
                .collect(),
        }
    }

    fn init(config: String) -> Result<(), String> {
        let config: serde_json::Value = if config.trim().is_empty() {
            serde_json::Value::Object(Default::default())
        } else {
            serde_json::from_str(&config).map_err(|e| format!("config: {e}"))?
        };
        let mut setup = Setup {
            watches: BTreeMap::new(),
        };
        let module = M::init(&config, &mut setup).map_err(|e| e.to_string())?;
        RUNTIME.with(|rt| {
            *rt.borrow_mut() = Some(Runtime {
                watches: setup.watches,
                queue: VecDeque::new(),
                queued: BTreeSet::new(),
                failures: BTreeMap::new(),
            })
        });
        MODULE.with(|m| *m.borrow_mut() = Some(Box::new(module) as Box<dyn Reconciler>));
        Ok(())
    }

    fn handle_events(events: Vec<wit::WatchEvent>) -> Result<(), String> {
        RUNTIME.with(|rt| {
            let mut rt = rt.borrow_mut();
            let rt = rt.as_mut().ok_or("events before init")?;
            for event in events {
                let Some(sink) = rt.watches.get_mut(&event.watch) else {
                    continue;
                };
                match sink.apply(event.event_type, &event.object) {
                    Ok(keys) => keys.into_iter().for_each(|k| rt.enqueue(k)),
                    Err(err) => log::warn(&format!(
                        "watch {}: undecodable object skipped: {err}",
                        event.watch
                    )),
                }
            }
            Ok::<(), String>(())
        })?;
        drain();
        Ok(())
    }

    fn handle_timers(keys: Vec<String>) -> Result<(), String> {
        for key in keys.iter().filter_map(|k| Key::from_timer(k)) {
            enqueue(key);
        }
        drain();
        Ok(())
    }

    fn health() -> wit::HealthReport {
        let synced = RUNTIME.with(|rt| rt.borrow().as_ref().is_some_and(Runtime::all_synced));
        let (ready, message) = MODULE.with(|m| match m.borrow().as_ref() {
            Some(module) => module.health(),
            None => (false, "not initialised".to_string()),
        });
        if !synced {
            return wit::HealthReport {
                ready: false,
                message: "waiting for the initial lists".to_string(),
            };
        }
        wit::HealthReport { ready, message }
    }
}

/// Reads a module's config into `T` (a `serde` type with defaults).
pub fn config<T: serde::de::DeserializeOwned>(config: &serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(config.clone()).map_err(|e| Error::Decode(format!("config: {e}")))
}
