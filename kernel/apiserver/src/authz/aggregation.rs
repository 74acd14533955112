//! ClusterRole aggregation (kube's clusterrole-aggregation controller, run by the API server
//! until controllers run as modules): whenever a ClusterRole changes, every ClusterRole with
//! an `aggregationRule` whose rules differ from what its selectors pick is rewritten. The
//! rewrite is itself a change, after which nothing differs, so the loop settles; chains
//! (`view` into `edit` into `admin`) settle in as many rounds as they are long.

use std::sync::{Arc, Weak};
use std::time::Duration;

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kmicro_apimachinery::rbac::aggregate;
use kmicro_apimachinery::registry;

use super::Authorizer;
use crate::error::{ApiError, ApiResult};
use crate::storage::Storage;

/// The first retry delay after a failed round; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs the aggregation until the API server goes away; one round at a time.
pub fn spawn(authorizer: &Arc<Authorizer>, storage: &Arc<Storage>) -> tokio::task::JoinHandle<()> {
    let changed = authorizer.cluster_roles_changed();
    let (authorizer, storage): (Weak<Authorizer>, Weak<Storage>) =
        (Arc::downgrade(authorizer), Arc::downgrade(storage));
    tokio::spawn(async move {
        let mut backoff = MIN_BACKOFF;
        loop {
            changed.notified().await;
            let (Some(authorizer), Some(storage)) = (authorizer.upgrade(), storage.upgrade())
            else {
                return;
            };
            match reconcile(&authorizer, &storage).await {
                Ok(()) => backoff = MIN_BACKOFF,
                Err(err) => {
                    tracing::warn!(error = %err.message, "ClusterRole aggregation failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    changed.notify_one();
                }
            }
        }
    })
}

/// The aggregated roles whose rules are not what their selectors pick, with the rules
/// they should have.
pub(crate) fn pending(authorizer: &Authorizer) -> Vec<(String, Vec<PolicyRule>)> {
    authorizer.with_index(|index| {
        let all: Vec<&ClusterRole> = index.cluster_roles().map(|e| &e.role).collect();
        all.iter()
            .filter_map(|role| {
                let want = aggregate::rules_of(role, &all)?;
                let have = role.rules.as_deref().unwrap_or_default();
                (!aggregate::same_rules(have, &want))
                    .then(|| (role.metadata.name.clone().unwrap_or_default(), want))
            })
            .collect()
    })
}

/// One round: rewrites every pending role (compare-and-swap; a role that changed meanwhile
/// comes round again with its change).
async fn reconcile(authorizer: &Authorizer, storage: &Storage) -> ApiResult<()> {
    let r = registry::find("rbac.authorization.k8s.io", "v1", "clusterroles")
        .expect("RBAC resources are built in");
    for (name, rules) in pending(authorizer) {
        let Some(stored) = storage.get(r, None, &name).await? else {
            continue;
        };
        let mut obj = stored.obj;
        obj["rules"] = serde_json::to_value(&rules)
            .map_err(|e| ApiError::internal(format!("encoding aggregated rules: {e}")))?;
        storage
            .update(r, None, &name, &obj, stored.revision)
            .await?;
    }
    Ok(())
}
