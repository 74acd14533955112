//! Finishing namespace deletions: what kube's namespace controller does, done by the API
//! server until the controllers run as modules. A namespace marked Terminating whose
//! `spec.finalizers` hold `kubernetes` (the controller's finalizer) loses its contents a moment
//! after the delete (as the controller would react), so that a `kubectl delete -f` listing the
//! namespace first can still delete the objects after it; then it loses `kubernetes`, and,
//! with no other finalizer left (in `spec` or `metadata`), itself — in the same store
//! transaction as its contents. Other finalizers keep it Terminating until their owners remove
//! them (`namespaces/<name>/finalize`, or an update of `metadata.finalizers`).
//!
//! The namespace controller module does the same through the API (listing and deleting the
//! contents, then `finalize`); both may run, each re-reading the namespace before it acts.

use std::time::Duration;

use kmicro_apimachinery::registry::{self, ResourceInfo};
use kmicro_store::{Compare, KeyRange, Op, Txn};
use serde_json::json;

use crate::error::ApiResult;
use crate::object;
use crate::storage::{Storage, Write};

/// The finalizer in `spec.finalizers` that this cleanup (kube's namespace controller) owns.
pub const FINALIZER: &str = "kubernetes";

/// How long after the delete the namespace's contents go.
const DELAY: Duration = Duration::from_secs(1);

/// How often a round is tried when the namespace changes underneath it (or the store fails),
/// with the back-off doubling from [`DELAY`].
const ATTEMPTS: u32 = 6;

/// Removes the contents of namespace `ns` (objects of every namespaced resource served then,
/// custom ones included) and its `kubernetes` finalizer, in the background.
pub fn finish_deletion(storage: Storage, ns: String) {
    tokio::spawn(async move {
        let mut wait = DELAY;
        for attempt in 1..=ATTEMPTS {
            tokio::time::sleep(wait).await;
            match finish_once(&storage, &ns).await {
                Ok(true) => return,
                Ok(false) => {
                    tracing::debug!(namespace = %ns, attempt, "namespace changed while finishing its deletion; again")
                }
                Err(err) => {
                    tracing::warn!(namespace = %ns, attempt, error = %err.message, "could not finish deleting the namespace")
                }
            }
            wait *= 2;
        }
        tracing::warn!(namespace = %ns, "gave up finishing the namespace's deletion; it is retried at the next start");
    });
}

/// One round: `Ok(true)` when there is nothing (more) for this cleanup to do, `Ok(false)` when
/// the namespace changed meanwhile.
async fn finish_once(storage: &Storage, ns: &str) -> ApiResult<bool> {
    let namespaces = namespaces();
    let Some(current) = storage.get(namespaces, None, ns).await? else {
        return Ok(true);
    };
    let spec_finalizers = object::spec_finalizers(&current.obj);
    if !object::is_terminating(&current.obj) || !spec_finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(true);
    }
    let key = namespaces.key(None, ns);
    let mut ops = content_deletions(storage, ns);
    let left: Vec<String> = spec_finalizers
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    let gone = left.is_empty() && object::finalizers(&current.obj).is_empty();
    if gone {
        ops.push(Op::delete(key.clone()));
    }
    let resp = storage
        .store()
        .txn(Txn {
            compares: vec![Compare::mod_revision(key, current.revision)],
            success: ops,
            ..Txn::default()
        })
        .await?;
    if !resp.succeeded {
        return Ok(false);
    }
    if gone {
        tracing::info!(namespace = %ns, "namespace and its contents deleted");
        return Ok(true);
    }
    // Other finalizers remain: only `kubernetes` goes, and the namespace stays Terminating.
    let mut finalized = current.obj.clone();
    finalized["spec"]["finalizers"] = json!(left);
    Ok(matches!(
        storage
            .update(namespaces, None, ns, &finalized, current.revision)
            .await?,
        Write::Done(_) | Write::Conflict(None)
    ))
}

/// Deletions of everything in namespace `ns`: one prefix per namespaced resource served.
fn content_deletions(storage: &Storage, ns: &str) -> Vec<Op> {
    let mut prefixes: Vec<String> = storage
        .resources()
        .all()
        .into_iter()
        .filter(|r| r.namespaced)
        .map(|r| r.namespace_prefix(Some(ns)))
        .collect();
    prefixes.sort();
    prefixes.dedup();
    prefixes
        .into_iter()
        .map(|p| Op::Delete(KeyRange::prefix(p)))
        .collect()
}

fn namespaces() -> &'static ResourceInfo {
    registry::find("", "v1", "namespaces").expect("namespaces are built in")
}

/// Resumes the deletions of namespaces left Terminating by a previous run.
pub async fn resume_deletions(storage: &Storage) -> ApiResult<()> {
    let namespaces = namespaces();
    let (items, _) = storage
        .list_all(
            namespaces,
            &namespaces.key_prefix(),
            &object::is_terminating,
        )
        .await?;
    for ns in items {
        finish_deletion(storage.clone(), object::name(&ns).to_string());
    }
    Ok(())
}
