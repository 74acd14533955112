//! The agent's part in pod deletion, until it runs containers: a pod bound to this node that
//! is being deleted (deletionTimestamp set, waiting for the node to stop it) has nothing
//! running here, so the agent confirms the deletion at once (grace period 0, guarded by the
//! pod's uid), as a kubelet does once it has stopped a pod's containers.

use anyhow::Context;
use http::{Method, StatusCode};
use k8s_openapi::List;
use k8s_openapi::api::core::v1::Pod;

use super::api::NodeApi;
use super::transport::Transport;

/// Confirms the deletion of every terminating pod bound to `node`; answers how many.
pub async fn confirm_deletions<T: Transport>(
    api: &NodeApi<T>,
    node: &str,
) -> anyhow::Result<usize> {
    let path = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}");
    let pods: List<Pod> = api
        .get(&path)
        .await?
        .with_context(|| format!("{path}: not found"))?;
    let mut confirmed = 0;
    for pod in pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some())
    {
        let (Some(namespace), Some(name), Some(uid)) = (
            pod.metadata.namespace.as_deref(),
            pod.metadata.name.as_deref(),
            pod.metadata.uid.as_deref(),
        ) else {
            continue;
        };
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "gracePeriodSeconds": 0,
            "preconditions": {"uid": uid},
        });
        let status = api
            .delete(
                &format!("/api/v1/namespaces/{namespace}/pods/{name}"),
                &body,
            )
            .await?;
        // Gone already, or replaced by a pod of the same name: nothing left to confirm.
        if status.is_success() {
            confirmed += 1;
            tracing::debug!(%namespace, %name, "pod deletion confirmed (nothing runs here)");
        } else if status != StatusCode::NOT_FOUND && status != StatusCode::CONFLICT {
            tracing::warn!(%namespace, %name, %status, "confirming a pod's deletion failed");
        }
    }
    Ok(confirmed)
}

impl<T: Transport> NodeApi<T> {
    /// Deletes the object at `path` with DeleteOptions `options`; answers the status code.
    pub async fn delete(
        &self,
        path: &str,
        options: &serde_json::Value,
    ) -> anyhow::Result<StatusCode> {
        Ok(self.send(Method::DELETE, path, options).await?.status)
    }
}
