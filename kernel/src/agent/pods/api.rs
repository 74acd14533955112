//! The API calls of the pod manager: pods bound to the node (list and watch), their status,
//! events, and the objects their containers use (ConfigMaps, Secrets, service-account tokens).

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::StreamExt;
use http::{Method, StatusCode};
use k8s_openapi::api::core::v1::Pod;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::api::{NodeApi, decode, expect_ok};
use super::super::transport::Transport;

/// The content type of JSON merge patches.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// One watch event.
#[derive(Debug)]
pub enum PodEvent {
    /// Added or modified: the pod as it is now.
    Changed(Box<Pod>),
    /// Deleted from the API.
    Deleted(Box<Pod>),
    /// The watch is too old or broke: list again.
    Expired,
}

/// A pod list's items and resourceVersion.
pub struct PodList {
    /// The pods.
    pub items: Vec<Pod>,
    /// Where a watch continues.
    pub resource_version: String,
}

/// The path of a namespaced core object.
pub fn core_path(namespace: &str, resource: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/{resource}/{name}")
}

impl<T: Transport> NodeApi<T> {
    /// Deletes the object at `path` with DeleteOptions `options`; answers the status code.
    pub async fn delete(&self, path: &str, options: &Value) -> anyhow::Result<StatusCode> {
        Ok(self.send(Method::DELETE, path, options).await?.status)
    }

    /// The pods bound to `node`.
    pub async fn node_pods(&self, node: &str) -> anyhow::Result<PodList> {
        let path = format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{node}");
        let list: Value = self
            .get(&path)
            .await?
            .with_context(|| format!("{path}: not found"))?;
        let resource_version = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let items = match list.get("items") {
            Some(items) => serde_json::from_value(items.clone())
                .with_context(|| format!("{path}: decoding the pods"))?,
            None => Vec::new(),
        };
        Ok(PodList {
            items,
            resource_version,
        })
    }

    /// Watches the pods bound to `node` from `resource_version`: their events until the watch
    /// ends.
    pub async fn watch_node_pods(
        &self,
        node: &str,
        resource_version: &str,
    ) -> anyhow::Result<impl futures::Stream<Item = PodEvent> + Send + use<T>> {
        let path = format!(
            "/api/v1/pods?fieldSelector=spec.nodeName%3D{node}&watch=1&allowWatchBookmarks=true&resourceVersion={resource_version}"
        );
        let (status, chunks) = self.transport().stream(&path).await?;
        if status == StatusCode::GONE {
            return Ok(futures::stream::iter(vec![PodEvent::Expired]).left_stream());
        }
        if !status.is_success() {
            bail!("{path}: {status}");
        }
        let events = chunks
            .scan(Vec::<u8>::new(), |pending, chunk| {
                pending.extend_from_slice(&chunk);
                let mut out = Vec::new();
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    if let Some(event) = parse_event(&line) {
                        out.push(event);
                    }
                }
                futures::future::ready(Some(futures::stream::iter(out)))
            })
            .flatten();
        Ok(events.right_stream())
    }

    /// Patches the object at `path` with a JSON merge patch.
    pub async fn merge_patch(&self, path: &str, patch: &Value) -> anyhow::Result<StatusCode> {
        let body = serde_json::to_vec(patch).with_context(|| format!("encoding {path}"))?;
        let answer = self
            .transport()
            .call_typed(Method::PATCH, path, MERGE_PATCH, Bytes::from(body))
            .await?;
        if answer.status.is_success() || answer.status == StatusCode::NOT_FOUND {
            return Ok(answer.status);
        }
        expect_ok(answer, path).map(|_| StatusCode::OK)
    }

    /// POSTs `body` to `path` and decodes the answer.
    pub async fn post<K: DeserializeOwned>(&self, path: &str, body: &Value) -> anyhow::Result<K> {
        let answer = self.send(Method::POST, path, body).await?;
        decode(expect_ok(answer, path)?, path)
    }
}

/// One watch line: `{"type": "ADDED", "object": {…}}`.
fn parse_event(line: &[u8]) -> Option<PodEvent> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let kind = value["type"].as_str()?.to_string();
    match kind.as_str() {
        "ADDED" | "MODIFIED" | "DELETED" => {
            let pod: Pod = serde_json::from_value(value["object"].clone()).ok()?;
            Some(if kind == "DELETED" {
                PodEvent::Deleted(Box::new(pod))
            } else {
                PodEvent::Changed(Box::new(pod))
            })
        }
        "ERROR" => Some(PodEvent::Expired),
        _ => None,
    }
}

/// Where a pod's containers' ConfigMaps, Secrets and service-account tokens come from (the
/// API, as the node). Boxed futures (`async_trait`): the volume and environment code takes it
/// as `&dyn ObjectSource`, which also keeps rustc's `Send` checks of the generic worker
/// tractable.
#[async_trait::async_trait]
pub trait ObjectSource: Send + Sync {
    /// The object `resource` (`configmaps`, `secrets`) `name` in `namespace`, or `None`.
    async fn object(
        &self,
        resource: &'static str,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<Value>>;

    /// A token of service account `account` in `namespace` (a TokenRequest `spec`).
    async fn token(&self, namespace: &str, account: &str, spec: Value) -> anyhow::Result<String>;

    /// The Services of `namespace` (their list's `items`).
    async fn services(&self, namespace: &str) -> anyhow::Result<Vec<Value>>;
}

#[async_trait::async_trait]
impl<T: Transport> ObjectSource for NodeApi<T> {
    async fn object(
        &self,
        resource: &'static str,
        namespace: &str,
        name: &str,
    ) -> anyhow::Result<Option<Value>> {
        self.get(&core_path(namespace, resource, name)).await
    }

    async fn token(&self, namespace: &str, account: &str, spec: Value) -> anyhow::Result<String> {
        let path = format!("{}/token", core_path(namespace, "serviceaccounts", account));
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": spec,
        });
        let answer: Value = self.post(&path, &body).await?;
        answer["status"]["token"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("{path}: the answer has no token"))
    }

    async fn services(&self, namespace: &str) -> anyhow::Result<Vec<Value>> {
        let path = format!("/api/v1/namespaces/{namespace}/services");
        let list: Option<Value> = self.get(&path).await?;
        Ok(list
            .and_then(|mut l| l.get_mut("items").map(Value::take))
            .and_then(|items| match items {
                Value::Array(items) => Some(items),
                _ => None,
            })
            .unwrap_or_default())
    }
}
