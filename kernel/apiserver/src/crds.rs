//! CustomResourceDefinitions brought to life: what kube's apiextensions controllers (naming,
//! establishing, finalizing) do, done by the API server until controllers run as modules.
//!
//! One task watches the definitions. At start, after every change, and every five minutes as a
//! safety net, it reconciles all of them (there are few; a reconcile is one list, and writes
//! only what changed; a definition's schemas are compiled again only when it changed):
//!
//! 1. definitions are taken oldest first, so the first to ask for a name gets it, and each gets
//!    its accepted names and conditions (`kmicro_apimachinery::crd::names::reconcile`);
//! 2. the served versions of every accepted or established definition replace the custom part
//!    of the resource table, *before* any status is written, so a client waiting for `Established`
//!    finds the resource served; the watch caches of resources no longer served are dropped
//!    (their watchers end);
//! 3. changed statuses are written (compare-and-swap: a lost race is a change, and the change
//!    is reconciled again);
//! 4. a definition being deleted (see [`begin_deletion`]) loses all its objects, in one store
//!    transaction whatever their finalizers (as namespaces lose their contents), then its
//!    cleanup finalizer, and so itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kmicro_apimachinery::crd::{CustomResource, names};
use kmicro_apimachinery::registry::{self, ResourceInfo};
use kmicro_store::{KeyRange, Op, Revision, Txn, WatchRequest};
use serde_json::{Value, json};

use crate::error::ApiResult;
use crate::object;
use crate::storage::{Storage, Write};

/// The finalizer that holds a definition until its objects are deleted.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// How often everything is reconciled even without a change.
const RESYNC: Duration = Duration::from_secs(300);
/// The longest wait before retrying a failed reconcile.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The CustomResourceDefinitions resource.
fn definitions() -> &'static ResourceInfo {
    registry::find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .expect("CustomResourceDefinitions are built in")
}

/// Whether `r` is the CustomResourceDefinitions resource.
pub fn is_definitions(r: &ResourceInfo) -> bool {
    r.group == "apiextensions.k8s.io" && r.plural == "customresourcedefinitions"
}

/// Reconciles the stored definitions (so every accepted one is served before this returns),
/// then keeps reconciling them as they change, in the background.
pub async fn start(storage: &Storage) -> ApiResult<()> {
    let mut compiled = Compiled::default();
    let revision = reconcile_all(storage, &mut compiled).await?;
    tokio::spawn(watch(storage.clone(), revision, compiled));
    Ok(())
}

/// The served versions of each definition, by the resourceVersion of the definition they were
/// built from: a pass reuses them while the definition is unchanged (building compiles its
/// schemas).
#[derive(Default)]
struct Compiled(HashMap<String, (String, Vec<Arc<CustomResource>>)>);

/// What deleting a definition does first, as kube's registry does: the cleanup finalizer, and
/// the `Terminating` condition (`InstanceDeletionPending`). The controller then deletes the
/// objects and the definition.
pub fn begin_deletion(obj: &mut Value, finalizers: &mut Vec<String>) {
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        finalizers.push(CLEANUP_FINALIZER.to_string());
    }
    set_condition(
        obj,
        names::new_condition(
            names::TERMINATING,
            "True",
            "InstanceDeletionPending",
            "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
            jiff::Timestamp::now(),
        ),
    );
}

/// Sets a condition in the `status` of a definition's JSON.
fn set_condition(
    obj: &mut Value,
    condition: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionCondition,
) {
    let mut status = obj
        .get("status")
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    names::set_condition(&mut status, condition);
    if let (Some(map), Ok(status)) = (obj.as_object_mut(), serde_json::to_value(status)) {
        map.insert("status".into(), status);
    }
}

/// Watches the definitions and reconciles on every change, on a timer, and (backing off) after
/// a failure; starts over from a fresh list when the watch ends.
async fn watch(storage: Storage, mut revision: Revision, mut compiled: Compiled) {
    let prefix = definitions().key_prefix();
    let mut failures = 0u32;
    loop {
        let request =
            WatchRequest::new(KeyRange::prefix(prefix.clone())).from_revision(revision + 1);
        let mut events = match storage.store().watch(request).await {
            Ok(events) => events,
            Err(err) => {
                if storage.store().current_revision().await.is_err() {
                    return; // the store is closed: the server is stopping
                }
                tracing::warn!(%err, "CustomResourceDefinitions: watch failed; relisting");
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Ok(rev) = reconcile_all(&storage, &mut compiled).await {
                    revision = rev;
                }
                continue;
            }
        };
        let mut next_pass = tokio::time::Instant::now() + RESYNC;
        loop {
            let changed = tokio::select! {
                next = events.next() => match next {
                    Some(Ok(resp)) => {
                        if let Some(last) = resp.events.last() {
                            revision = revision.max(last.kv.mod_revision);
                        }
                        !resp.events.is_empty()
                    }
                    Some(Err(err)) => {
                        tracing::warn!(%err, "CustomResourceDefinitions: watch ended");
                        break;
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(next_pass) => true,
            };
            if !changed {
                continue;
            }
            match reconcile_all(&storage, &mut compiled).await {
                Ok(_) => {
                    failures = 0;
                    next_pass = tokio::time::Instant::now() + RESYNC;
                }
                Err(err) => {
                    failures += 1;
                    let backoff = Duration::from_secs(1u64 << failures.min(5)).min(MAX_BACKOFF);
                    tracing::warn!(error = %err.message, ?backoff, "CustomResourceDefinitions: reconcile failed");
                    next_pass = tokio::time::Instant::now() + backoff;
                }
            }
        }
        if storage.store().current_revision().await.is_err() {
            return;
        }
        if let Ok(rev) = reconcile_all(&storage, &mut compiled).await {
            revision = rev;
        }
    }
}

/// One pass over every definition (see the module documentation); returns the revision the
/// definitions were read at.
async fn reconcile_all(storage: &Storage, compiled: &mut Compiled) -> ApiResult<Revision> {
    let r = definitions();
    let (items, revision) = storage.list_all(r, &r.key_prefix(), &|_| true).await?;
    let mut crds: Vec<(Value, CustomResourceDefinition)> = items
        .into_iter()
        .filter_map(|raw| match serde_json::from_value(raw.clone()) {
            Ok(crd) => Some((raw, crd)),
            Err(err) => {
                tracing::warn!(name = object::name(&raw), %err, "a stored CustomResourceDefinition does not decode");
                None
            }
        })
        .collect();
    crds.sort_by(|(a, _), (b, _)| {
        let created = |o: &Value| {
            o["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        created(a)
            .cmp(&created(b))
            .then_with(|| object::name(a).cmp(object::name(b)))
    });

    let now = jiff::Timestamp::now();
    let mut changed = Vec::new();
    for i in 0..crds.len() {
        if crds[i].1.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let status = {
            let all: Vec<&CustomResourceDefinition> = crds.iter().map(|(_, c)| c).collect();
            names::reconcile(&crds[i].1, &all, now)
        };
        if crds[i].1.status.as_ref() != Some(&status) {
            crds[i].1.status = Some(status);
            changed.push(i);
        }
    }

    // As kube: served once established (under the names accepted then, even if a later
    // change of names conflicts), or as soon as the names are accepted.
    let mut served = Vec::new();
    let mut kept = HashMap::new();
    for (i, (raw, crd)) in crds.iter().enumerate() {
        if !names::condition_true(crd, names::NAMES_ACCEPTED)
            && !names::condition_true(crd, names::ESTABLISHED)
        {
            continue;
        }
        let name = object::name(raw).to_string();
        // A status changed in this pass makes a new definition too.
        let version = match changed.contains(&i) {
            true => String::new(),
            false => object::meta_str(raw, "resourceVersion")
                .unwrap_or("")
                .to_string(),
        };
        let versions = match compiled.0.remove(&name) {
            Some((built, versions)) if !version.is_empty() && built == version => versions,
            _ => match CustomResource::served(crd) {
                Ok(versions) => versions.into_iter().map(Arc::new).collect(),
                Err(err) => {
                    tracing::warn!(name, %err, "CustomResourceDefinition not served: its schema does not compile");
                    continue;
                }
            },
        };
        served.extend(versions.iter().cloned());
        kept.insert(name, (version, versions));
    }
    compiled.0 = kept;
    for gone in storage.resources().set_custom(served) {
        storage.forget_watch_cache(gone);
    }

    for i in changed {
        let (raw, crd) = &crds[i];
        let mut obj = raw.clone();
        obj["status"] = serde_json::to_value(&crd.status).unwrap_or(Value::Null);
        write(storage, raw, &obj).await?;
    }
    for (raw, crd) in crds
        .iter()
        .filter(|(_, c)| c.metadata.deletion_timestamp.is_some())
    {
        finalize(storage, raw, crd).await?;
    }
    Ok(revision)
}

/// Replaces the stored `current` by `new` if it is unchanged since it was read (a conflict is
/// left to the next reconcile, which the change itself triggers).
async fn write(storage: &Storage, current: &Value, new: &Value) -> ApiResult<()> {
    let Some(Ok(rev)) = object::resource_version(current) else {
        return Ok(());
    };
    storage
        .update(definitions(), None, object::name(current), new, rev)
        .await
        .map(|_| ())
}

/// Deletes the objects of a definition being deleted, then its cleanup finalizer (and, when
/// that was the last one, the definition).
async fn finalize(storage: &Storage, raw: &Value, crd: &CustomResourceDefinition) -> ApiResult<()> {
    let name = object::name(raw);
    let mut finalizers = object::finalizers(raw);
    if !finalizers.iter().any(|f| f == CLEANUP_FINALIZER) {
        return Ok(()); // another finalizer's owner finishes it
    }
    // Every version shares one key prefix; a definition never accepted has no objects.
    let served = storage.resources().custom_resources();
    if let Some(custom) = served.iter().find(|c| c.definition() == name) {
        let prefix = custom.info().key_prefix();
        storage
            .store()
            .txn(Txn {
                success: vec![Op::Delete(KeyRange::prefix(prefix))],
                ..Txn::default()
            })
            .await?;
    }
    finalizers.retain(|f| f != CLEANUP_FINALIZER);
    let Some(Ok(rev)) = object::resource_version(raw) else {
        return Ok(());
    };
    if finalizers.is_empty() {
        let _ = storage.delete(definitions(), None, name, rev).await?;
        tracing::info!(name, group = %crd.spec.group, "CustomResourceDefinition deleted with its objects");
        return Ok(());
    }
    let mut obj = raw.clone();
    object::meta_mut(&mut obj).insert("finalizers".into(), json!(finalizers));
    set_condition(
        &mut obj,
        names::new_condition(
            names::TERMINATING,
            "False",
            "InstanceDeletionCompleted",
            "removed all instances",
            jiff::Timestamp::now(),
        ),
    );
    match storage.update(definitions(), None, name, &obj, rev).await? {
        Write::Done(_) | Write::Conflict(_) => Ok(()),
    }
}
