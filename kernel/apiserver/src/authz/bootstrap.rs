//! The default RBAC policy, reconciled into the store at every start: missing roles and
//! bindings are created, default ones regain what they lack, and user changes are kept
//! (see `kmicro_apimachinery::rbac::reconcile`).

use kmicro_apimachinery::rbac::reconcile::{self, Reconciled};
use kmicro_apimachinery::rbac::{node, policy};
use kmicro_apimachinery::registry::{self, ResourceInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::object::{self, meta_mut};
use crate::storage::{Storage, Write};

/// Creates or updates the default ClusterRoles and ClusterRoleBindings.
pub async fn ensure_policy(storage: &Storage) -> ApiResult<()> {
    let roles = resource("clusterroles");
    for expected in policy::cluster_roles() {
        let name = expected.metadata.name.clone().unwrap_or_default();
        let (existing, revision) = read(storage, roles, &name).await?;
        apply(
            storage,
            roles,
            &name,
            revision,
            reconcile::cluster_role(existing.as_ref(), &expected),
        )
        .await?;
    }
    let bindings = resource("clusterrolebindings");
    for expected in policy::cluster_role_bindings() {
        let name = expected.metadata.name.clone().unwrap_or_default();
        let (existing, revision) = read(storage, bindings, &name).await?;
        let reconciled = reconcile::cluster_role_binding(existing.as_ref(), &expected);
        apply(storage, bindings, &name, revision, reconciled).await?;
    }
    Ok(())
}

/// Creates or updates the ClusterRole and ClusterRoleBinding that let node `node`'s agent
/// (user `system:node:<node>`) register its Node and renew its Lease
/// ([`kmicro_apimachinery::rbac::node`]); reconciled like the defaults, so an object annotated
/// `autoupdate: "false"` is left alone.
pub async fn ensure_node_agent(storage: &Storage, node: &str) -> ApiResult<()> {
    let roles = resource("clusterroles");
    let expected = node::node_agent_role(node);
    let name = node::node_agent_object_name(node);
    let (existing, revision) = read(storage, roles, &name).await?;
    let reconciled = reconcile::cluster_role(existing.as_ref(), &expected);
    apply(storage, roles, &name, revision, reconciled).await?;
    let bindings = resource("clusterrolebindings");
    let expected = node::node_agent_binding(node);
    let (existing, revision) = read(storage, bindings, &name).await?;
    let reconciled = reconcile::cluster_role_binding(existing.as_ref(), &expected);
    apply(storage, bindings, &name, revision, reconciled).await
}

fn resource(plural: &str) -> &'static ResourceInfo {
    registry::find("rbac.authorization.k8s.io", "v1", plural).expect("RBAC resources are built in")
}

/// The stored object as `T`, and its revision (0 when absent or unreadable).
async fn read<T: DeserializeOwned>(
    storage: &Storage,
    r: &ResourceInfo,
    name: &str,
) -> ApiResult<(Option<T>, i64)> {
    Ok(match storage.get(r, None, name).await? {
        Some(stored) => (serde_json::from_value(stored.obj).ok(), stored.revision),
        None => (None, 0),
    })
}

async fn apply<T: Serialize>(
    storage: &Storage,
    r: &ResourceInfo,
    name: &str,
    revision: i64,
    reconciled: Reconciled<T>,
) -> ApiResult<()> {
    let outcome = match reconciled {
        Reconciled::Keep => return Ok(()),
        Reconciled::Create(obj) => storage.create(r, None, name, &new_object(r, &obj)?).await?,
        Reconciled::Update(obj) => {
            storage
                .update(r, None, name, &to_json(r, &obj)?, revision)
                .await?
        }
        Reconciled::Recreate(obj) => {
            storage.delete(r, None, name, revision).await?;
            storage.create(r, None, name, &new_object(r, &obj)?).await?
        }
    };
    if let Write::Conflict(_) = outcome {
        tracing::warn!(resource = r.plural, %name, "the default changed while it was reconciled; it is reconciled again at the next start");
    }
    Ok(())
}

fn to_json<T: Serialize>(r: &ResourceInfo, obj: &T) -> ApiResult<Value> {
    let mut value = serde_json::to_value(obj)
        .map_err(|e| ApiError::internal(format!("encoding a default {}: {e}", r.kind)))?;
    object::set_type_meta(&mut value, r.kind, &r.api_version());
    Ok(value)
}

/// A default object as created: with a uid and a creation time.
fn new_object<T: Serialize>(r: &ResourceInfo, obj: &T) -> ApiResult<Value> {
    let mut value = to_json(r, obj)?;
    let meta = meta_mut(&mut value);
    meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
    meta.remove("resourceVersion");
    Ok(value)
}
