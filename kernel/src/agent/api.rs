//! The agent's few API calls, typed: read, create and replace one object, and `/version`.

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::lease::LEASE_NAMESPACE;
use super::transport::{Answer, Transport};

/// What a write came to.
#[derive(Debug)]
pub enum Written<T> {
    /// Stored; the object as the server answered it.
    Done(T),
    /// The object changed since it was read (409 Conflict on an update).
    Conflict,
    /// An object of that name exists already (409 on a create).
    Exists,
    /// The object is gone (404 on an update).
    Missing,
}

/// The API as the node agent uses it.
pub struct NodeApi<T> {
    transport: T,
}

/// The path of node `name` (`subresource` appended when given).
pub fn node_path(name: &str, subresource: Option<&str>) -> String {
    match subresource {
        Some(sub) => format!("/api/v1/nodes/{name}/{sub}"),
        None => format!("/api/v1/nodes/{name}"),
    }
}

/// The collection of Nodes.
pub const NODES: &str = "/api/v1/nodes";

/// The collection of node Leases.
pub fn leases_path() -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases")
}

/// The path of node `name`'s Lease.
pub fn lease_path(name: &str) -> String {
    format!("{}/{name}", leases_path())
}

impl<T: Transport> NodeApi<T> {
    /// The API over `transport`.
    pub fn new(transport: T) -> Self {
        Self { transport }
    }

    /// The transport requests go through.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The server's `gitVersion` (`/version`).
    pub async fn version(&self) -> anyhow::Result<String> {
        let answer = self.transport.call(Method::GET, "/version", None).await?;
        let value: serde_json::Value = decode(expect_ok(answer, "/version")?, "/version")?;
        value["gitVersion"]
            .as_str()
            .map(str::to_string)
            .context("/version has no gitVersion")
    }

    /// The object at `path`, or `None` when there is none.
    pub async fn get<K: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Option<K>> {
        let answer = self.transport.call(Method::GET, path, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        decode(expect_ok(answer, path)?, path).map(Some)
    }

    /// Creates `obj` in the collection at `path`.
    pub async fn create<K: Serialize + DeserializeOwned>(
        &self,
        path: &str,
        obj: &K,
    ) -> anyhow::Result<Written<K>> {
        let answer = self.send(Method::POST, path, obj).await?;
        match answer.status {
            StatusCode::CONFLICT => Ok(Written::Exists),
            _ => decode(expect_ok(answer, path)?, path).map(Written::Done),
        }
    }

    /// Replaces the object at `path` with `obj` (its resourceVersion guards the write).
    pub async fn replace<K: Serialize + DeserializeOwned>(
        &self,
        path: &str,
        obj: &K,
    ) -> anyhow::Result<Written<K>> {
        let answer = self.send(Method::PUT, path, obj).await?;
        match answer.status {
            StatusCode::CONFLICT => Ok(Written::Conflict),
            StatusCode::NOT_FOUND => Ok(Written::Missing),
            _ => decode(expect_ok(answer, path)?, path).map(Written::Done),
        }
    }

    pub(super) async fn send<K: Serialize>(
        &self,
        method: Method,
        path: &str,
        obj: &K,
    ) -> anyhow::Result<Answer> {
        let body = serde_json::to_vec(obj).with_context(|| format!("encoding {path}"))?;
        self.transport
            .call(method, path, Some(Bytes::from(body)))
            .await
    }
}

/// The body of a 2xx answer; anything else is an error quoting the server's message.
pub(super) fn expect_ok(answer: Answer, path: &str) -> anyhow::Result<Bytes> {
    if answer.status.is_success() {
        return Ok(answer.body);
    }
    let message = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(300)
                .collect()
        });
    bail!("{path}: {}: {message}", answer.status)
}

pub(super) fn decode<K: DeserializeOwned>(body: Bytes, path: &str) -> anyhow::Result<K> {
    serde_json::from_slice(&body).with_context(|| format!("{path}: decoding the answer"))
}
