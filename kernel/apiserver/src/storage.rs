//! Objects in the store: keys, encoding, compare-and-swap writes and paged lists.
//!
//! Objects are stored as JSON without `metadata.resourceVersion`; on the way out the key's mod
//! revision becomes the resourceVersion, so the two can never disagree.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_store::{
    CasOutcome, Compare, KeyRange, KeyValue, LeaseId, Op, OpResponse, RangeRequest, Revision,
    Store, Txn,
};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::object;
use crate::resources::Resources;
use crate::watch_cache::{WatchCache, WatchCaches};

/// An object as read from the store.
#[derive(Clone, Debug)]
pub struct Stored {
    /// The object, with `metadata.resourceVersion` set.
    pub obj: Value,
    /// Its mod revision.
    pub revision: Revision,
}

/// What a compare-and-swap write found.
pub enum Write {
    /// Written; the object as stored.
    Done(Stored),
    /// The object changed (or vanished, or already existed): the current one, if any.
    Conflict(Option<Stored>),
}

/// More compares and writes for the transaction of an object's update
/// ([`Storage::update_with`]): what else must hold, and what else is written with it.
#[derive(Debug, Default)]
pub struct TxnExtra {
    /// Conditions besides the object's revision.
    pub compares: Vec<Compare>,
    /// Writes besides the object's.
    pub ops: Vec<Op>,
}

/// How to read a list.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// At most this many items (0: all).
    pub limit: usize,
    /// A continue token from a previous page.
    pub continue_token: Option<String>,
    /// Read at exactly this revision (0: now).
    pub revision: Revision,
}

/// Objects of every served resource, over the store. Cloning shares everything (the store,
/// the served resources, the watch caches).
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn Store>,
    resources: Arc<Resources>,
    event_leases: Arc<EventLeases>,
    watch_caches: Arc<WatchCaches>,
}

impl Storage {
    /// Storage over `store`, serving the built-in resources (custom ones are added as their
    /// definitions are accepted).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            event_leases: Arc::new(EventLeases::new(store.clone())),
            watch_caches: Arc::new(WatchCaches::new(store.clone())),
            resources: Arc::new(Resources::new()),
            store,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The served resources.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    /// The shared watch of a resource.
    pub async fn watch_cache(&self, r: &'static ResourceInfo) -> ApiResult<Arc<WatchCache>> {
        self.watch_caches.get(r).await
    }

    /// Stops the shared watch of a resource that is no longer served (its watchers end).
    pub fn forget_watch_cache(&self, r: &ResourceInfo) {
        self.watch_caches.forget(r);
    }

    /// Reads one object.
    pub async fn get(
        &self,
        r: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> ApiResult<Option<Stored>> {
        let kv = self.store.get(r.key(ns, name).as_bytes()).await?;
        kv.map(|kv| decode(r, &kv)).transpose()
    }

    /// Creates an object if its key is free. Events get a one-hour lease.
    pub async fn create(
        &self,
        r: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
    ) -> ApiResult<Write> {
        let key = r.key(ns, name);
        let (bytes, lease) = (self.encode(r, obj)?, self.lease_for(r).await?);
        let outcome = self.store.create(key.as_bytes(), &bytes, lease).await?;
        written(r, outcome, obj)
    }

    /// [`create`](Self::create) in one transaction with `extra` (its compares must hold too,
    /// its ops are written with the object). `Conflict(Some(_))`: the object exists;
    /// `Conflict(None)`: only a compare of `extra` failed.
    pub async fn create_with(
        &self,
        r: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
        extra: TxnExtra,
    ) -> ApiResult<Write> {
        let key = r.key(ns, name);
        let guard = Compare::absent(key.as_bytes());
        self.put_txn(r, &key, obj, guard, extra).await
    }

    /// Replaces an object if it is still at `revision`.
    pub async fn update(
        &self,
        r: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
        revision: Revision,
    ) -> ApiResult<Write> {
        let key = r.key(ns, name);
        let (bytes, lease) = (self.encode(r, obj)?, self.lease_for(r).await?);
        let outcome = self
            .store
            .update(key.as_bytes(), &bytes, revision, lease)
            .await?;
        written(r, outcome, obj)
    }

    /// [`update`](Self::update) in one transaction with more: `extra.compares` must hold
    /// too, and `extra.ops` are written with the object. A failed compare of either kind is a
    /// `Conflict` with the object as it is now (unchanged at `revision` if only `extra`'s
    /// compares failed).
    pub async fn update_with(
        &self,
        r: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        obj: &Value,
        revision: Revision,
        extra: TxnExtra,
    ) -> ApiResult<Write> {
        let key = r.key(ns, name);
        let guard = Compare::mod_revision(key.as_bytes(), revision);
        self.put_txn(r, &key, obj, guard, extra).await
    }

    /// Puts `obj` at `key` in one transaction with `extra` when `guard` and `extra`'s compares
    /// hold; otherwise a `Conflict` with the object as it is now.
    async fn put_txn(
        &self,
        r: &ResourceInfo,
        key: &str,
        obj: &Value,
        guard: Compare,
        extra: TxnExtra,
    ) -> ApiResult<Write> {
        let (bytes, lease) = (self.encode(r, obj)?, self.lease_for(r).await?);
        let mut compares = vec![guard];
        compares.extend(extra.compares);
        let mut success = vec![Op::put_with_lease(key.as_bytes(), bytes, lease)];
        success.extend(extra.ops);
        let resp = self
            .store
            .txn(Txn {
                compares,
                success,
                failure: vec![Op::get(key.as_bytes())],
            })
            .await?;
        if resp.succeeded {
            return Ok(Write::Done(stored(obj.clone(), resp.revision)));
        }
        let current = match resp.responses.into_iter().next() {
            Some(OpResponse::Range(mut range)) => range.kvs.pop(),
            _ => None,
        };
        Ok(Write::Conflict(
            current.map(|kv| decode(r, &kv)).transpose()?,
        ))
    }

    /// Deletes an object if it is still at `revision` (the `Done` object is `null`).
    pub async fn delete(
        &self,
        r: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        revision: Revision,
    ) -> ApiResult<Write> {
        let key = r.key(ns, name);
        let outcome = self.store.delete_if(key.as_bytes(), revision).await?;
        written(r, outcome, &Value::Null)
    }

    /// The stored form of `obj`: JSON without resourceVersion; custom resources at their
    /// storage version (they are served at any version by rewriting `apiVersion` on the way
    /// out, the conversion `None` of kube).
    fn encode(&self, r: &ResourceInfo, obj: &Value) -> ApiResult<Vec<u8>> {
        match self.resources.custom(r) {
            Some(custom) => {
                let mut obj = obj.clone();
                object::set_type_meta(&mut obj, r.kind, &custom.storage_api_version());
                encode(r, &obj)
            }
            None => encode(r, obj),
        }
    }

    /// The lease an object of `r` is written with: events expire, nothing else does.
    async fn lease_for(&self, r: &ResourceInfo) -> ApiResult<LeaseId> {
        if r.kind == "Event" {
            self.event_leases.lease().await
        } else {
            Ok(0)
        }
    }

    /// A cursor over the objects of `r` under `prefix`, read a page at a time at one revision.
    pub fn list_cursor(
        &self,
        r: &'static ResourceInfo,
        prefix: &str,
        opts: &ListOptions,
        filtered: bool,
    ) -> ApiResult<ListCursor> {
        let (revision, start) = match &opts.continue_token {
            Some(token) => {
                let (rev, start) = decode_continue(token)?;
                (rev, format!("{prefix}{start}").into_bytes())
            }
            None => (opts.revision, prefix.as_bytes().to_vec()),
        };
        Ok(ListCursor {
            store: self.store.clone(),
            resource: r,
            prefix: prefix.to_string(),
            end: kmicro_store::prefix_end(prefix.as_bytes()).unwrap_or_default(),
            start,
            revision,
            limit: opts.limit,
            continuing: opts.continue_token.is_some(),
            filtered,
            returned: 0,
            done: false,
            continue_token: None,
            remaining: None,
        })
    }

    /// Every object under `prefix` that passes `filter` (for callers that need them all at
    /// once; answers to clients stream through [`ListCursor`] instead).
    pub async fn list_all(
        &self,
        r: &'static ResourceInfo,
        prefix: &str,
        filter: &(dyn Fn(&Value) -> bool + Sync),
    ) -> ApiResult<(Vec<Value>, Revision)> {
        let mut cursor = self.list_cursor(r, prefix, &ListOptions::default(), true)?;
        let mut items = Vec::new();
        while !cursor.is_done() {
            items.extend(cursor.next_items(filter).await?);
        }
        Ok((items, cursor.revision()))
    }
}

/// How many keys one store read of a list takes.
const LIST_CHUNK: usize = 500;

/// A list in progress: pages of the store read at one revision, filtered, up to a limit.
pub struct ListCursor {
    store: Arc<dyn Store>,
    resource: &'static ResourceInfo,
    prefix: String,
    end: Vec<u8>,
    start: Vec<u8>,
    revision: Revision,
    limit: usize,
    continuing: bool,
    filtered: bool,
    returned: usize,
    done: bool,
    continue_token: Option<String>,
    remaining: Option<i64>,
}

impl ListCursor {
    /// The revision the list is read at (known after the first page).
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Whether every matching object has been returned.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The continue token, when the limit cut the list short.
    pub fn continue_token(&self) -> Option<&str> {
        self.continue_token.as_deref()
    }

    /// How many objects remain after the limit (unfiltered lists only).
    pub fn remaining(&self) -> Option<i64> {
        self.remaining
    }

    /// The next matching objects (possibly none while not done: all of a page filtered out).
    pub async fn next_items(
        &mut self,
        filter: &(dyn Fn(&Value) -> bool + Sync),
    ) -> ApiResult<Vec<Value>> {
        if self.done {
            return Ok(Vec::new());
        }
        let want = match self.limit {
            0 => LIST_CHUNK,
            limit => (limit - self.returned).min(LIST_CHUNK),
        };
        let req = RangeRequest::new(KeyRange::Range {
            start: self.start.clone(),
            end: self.end.clone(),
        })
        .at_revision(self.revision)
        .with_limit(want);
        let resp = self
            .store
            .range(req)
            .await
            .map_err(|e| continue_error(e, self.continuing))?;
        if self.revision == 0 {
            self.revision = resp.revision;
        }
        let mut items = Vec::new();
        for (i, kv) in resp.kvs.iter().enumerate() {
            let obj = decode(self.resource, kv)?.obj;
            if !filter(&obj) {
                continue;
            }
            items.push(obj);
            self.returned += 1;
            if self.limit > 0 && self.returned == self.limit {
                self.done = true;
                if i + 1 < resp.kvs.len() || resp.more {
                    self.continue_token =
                        Some(encode_continue(self.revision, &kv.key[self.prefix.len()..]));
                    if !self.filtered {
                        self.remaining = Some(resp.count - (i as i64 + 1));
                    }
                }
                return Ok(items);
            }
        }
        match resp.kvs.last() {
            Some(last) if resp.more => {
                self.start = last.key.clone();
                self.start.push(0);
            }
            _ => self.done = true,
        }
        Ok(items)
    }
}

/// What a compare-and-swap write of `obj` did.
fn written(r: &ResourceInfo, outcome: CasOutcome, obj: &Value) -> ApiResult<Write> {
    match outcome {
        CasOutcome::Written(rev) if obj.is_null() => Ok(Write::Done(Stored {
            obj: Value::Null,
            revision: rev,
        })),
        CasOutcome::Written(rev) => Ok(Write::Done(stored(obj.clone(), rev))),
        CasOutcome::Conflict(current) => Ok(Write::Conflict(
            current.map(|kv| decode(r, &kv)).transpose()?,
        )),
    }
}

fn stored(mut obj: Value, revision: Revision) -> Stored {
    object::set_resource_version(&mut obj, revision);
    Stored { obj, revision }
}

/// The stored form: JSON without resourceVersion.
fn encode(r: &ResourceInfo, obj: &Value) -> ApiResult<Vec<u8>> {
    let mut obj = obj.clone();
    if r.stored_as_core_event() {
        obj = kmicro_apimachinery::convert::event_to_core(obj);
    }
    object::meta_mut(&mut obj).remove("resourceVersion");
    serde_json::to_vec(&obj).map_err(|e| ApiError::internal(format!("encoding an object: {e}")))
}

/// An object from its stored form.
pub fn decode(r: &ResourceInfo, kv: &KeyValue) -> ApiResult<Stored> {
    let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
        ApiError::internal(format!(
            "stored object {} is not valid JSON: {e}",
            String::from_utf8_lossy(&kv.key)
        ))
    })?;
    if r.stored_as_core_event() {
        obj = kmicro_apimachinery::convert::event_from_core(obj);
    }
    object::set_type_meta(&mut obj, r.kind, &r.api_version());
    Ok(stored(obj, kv.mod_revision))
}

/// kube's continue token: base64 of `{"v":"meta.k8s.io/v1","rv":N,"start":"KEY-SUFFIX\0"}`.
fn encode_continue(revision: Revision, after: &[u8]) -> String {
    let mut start = String::from_utf8_lossy(after).into_owned();
    start.push('\0');
    let token = json!({"v": "meta.k8s.io/v1", "rv": revision, "start": start});
    base64::engine::general_purpose::URL_SAFE.encode(token.to_string())
}

fn decode_continue(token: &str) -> ApiResult<(Revision, String)> {
    let bad = || ApiError::bad_request(format!("invalid continue token: {token:?}"));
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(token)
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    let rev = value["rv"].as_i64().filter(|r| *r > 0).ok_or_else(bad)?;
    let start = value["start"].as_str().ok_or_else(bad)?;
    Ok((rev, start.to_string()))
}

fn continue_error(err: kmicro_store::StoreError, continuing: bool) -> ApiError {
    match (&err, continuing) {
        (kmicro_store::StoreError::Compacted { .. }, true) => ApiError::expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
        ),
        _ => err.into(),
    }
}

/// One lease shared by the events of a minute, so that events expire after an hour without a
/// lease per event (kube-apiserver reuses leases the same way).
struct EventLeases {
    store: Arc<dyn Store>,
    current: Mutex<Option<(LeaseId, Instant)>>,
}

/// How long events live.
const EVENT_TTL: Duration = Duration::from_secs(3600);
/// How long one lease is reused for new events.
const LEASE_REUSE: Duration = Duration::from_secs(60);

impl EventLeases {
    fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            current: Mutex::new(None),
        }
    }

    async fn lease(&self) -> ApiResult<LeaseId> {
        let reusable = *self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((id, granted)) = reusable
            && granted.elapsed() < LEASE_REUSE
        {
            return Ok(id);
        }
        let id = self.store.lease_grant(EVENT_TTL + LEASE_REUSE).await?;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some((id, Instant::now()));
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let token = encode_continue(42, b"web-1");
        assert_eq!(
            decode_continue(&token).unwrap(),
            (42, "web-1\0".to_string())
        );
        assert!(decode_continue("not base64!").is_err());
        let no_rv = base64::engine::general_purpose::URL_SAFE.encode(r#"{"start":"x"}"#);
        assert!(decode_continue(&no_rv).is_err());
    }
}
