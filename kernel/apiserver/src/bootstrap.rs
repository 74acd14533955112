//! What a cluster must have before it is ready: the default namespaces, the custom resources
//! of stored CustomResourceDefinitions served, unfinished namespace deletions resumed.

use kmicro_apimachinery::registry;
use serde_json::json;

use crate::error::ApiResult;
use crate::object;
use crate::storage::Storage;

/// The namespaces every cluster has.
pub const DEFAULT_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Serves the custom resources of stored definitions (and starts their controller), resumes
/// unfinished namespace deletions, and creates the default namespaces that are missing.
pub async fn ensure_defaults(storage: &Storage) -> ApiResult<()> {
    crate::crds::start(storage).await?;
    crate::namespaces::resume_deletions(storage).await?;
    let namespaces = registry::find("", "v1", "namespaces").expect("namespaces are built in");
    for name in DEFAULT_NAMESPACES {
        let ns = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "uid": uuid::Uuid::new_v4().to_string(),
                "creationTimestamp": object::now_rfc3339(),
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        // Already there is fine: the create is conditional.
        storage.create(namespaces, None, name, &ns).await?;
    }
    Ok(())
}
