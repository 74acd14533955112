//! Events about pods, as kubelet reports them (`Pulling`, `Pulled`, `Created`, `Started`,
//! `Killing`, `BackOff`, `Unhealthy`, `Failed`, …): `core/v1` Events from source `kubelet`
//! on this node, written in the background (an event that cannot be written is logged, never
//! waited for).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use super::Shared;
use crate::agent::transport::Transport;

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Something expected happened.
    Normal,
    /// Something went wrong.
    Warning,
}

/// Writes an event about `pod` (and its container `container`, as `spec.containers{name}`,
/// or `spec.initContainers{name}` when `init`).
pub fn record<T: Transport>(
    shared: &Arc<Shared<T>>,
    pod: &Pod,
    container: Option<(&str, bool)>,
    kind: EventType,
    reason: &str,
    message: String,
) {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let now = jiff::Timestamp::now();
    let stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let field_path = container.map(|(c, init)| {
        if init {
            format!("spec.initContainers{{{c}}}")
        } else {
            format!("spec.containers{{{c}}}")
        }
    });
    let event = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": format!("{name}.{:x}", now.as_nanosecond()),
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": namespace,
            "name": name,
            "uid": pod.metadata.uid,
            "resourceVersion": pod.metadata.resource_version,
            "fieldPath": field_path,
        },
        "reason": reason,
        "message": message,
        "type": match kind { EventType::Normal => "Normal", EventType::Warning => "Warning" },
        "source": {"component": "kubelet", "host": shared.node_name},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": null,
        "count": 1,
        "reportingComponent": "kubelet",
        "reportingInstance": shared.node_name,
    });
    tracing::debug!(%namespace, pod = %name, reason, %message, "event");
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let path = format!("/api/v1/namespaces/{namespace}/events");
        if let Err(err) = shared.api.post::<serde_json::Value>(&path, &event).await {
            tracing::warn!(err = %format!("{err:#}"), "writing an event failed");
        }
    });
}
