//! How the agent reaches the API server: one small trait, so the way can change without
//! touching the agent. `kmicro run` uses [`LocalTransport`]: in-process through
//! `Api::handle_local`, no TLS, authorized as the node's user like any request. An agent on
//! another machine (`kmicro agent`, later) implements the same trait over HTTPS with a client
//! certificate (`crate::client::ApiClient`).

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kmicro_apiserver::Api;
use kmicro_apiserver::auth::User;

/// A complete answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The status code.
    pub status: StatusCode,
    /// The whole body.
    pub body: Bytes,
}

/// Sends requests to the API server as the node.
pub trait Transport: Send + Sync + 'static {
    /// Sends `method path` with an optional JSON body and reads the whole answer.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> impl Future<Output = anyhow::Result<Answer>> + Send;
}

/// Requests answered in this process by the API, as `user` (routing, RBAC, admission and
/// handlers exactly as over the network; no TLS, no authentication step).
pub struct LocalTransport {
    api: Arc<Api>,
    user: User,
}

impl LocalTransport {
    /// Requests to `api` made as `user`.
    pub fn new(api: Arc<Api>, user: User) -> Self {
        Self { api, user }
    }
}

impl Transport for LocalTransport {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "kmicro-node-agent");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(body.unwrap_or_default())
            .with_context(|| format!("{path}: building the request"))?;
        let response = self.api.handle_local(request, self.user.clone()).await;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{path}: reading the answer"))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}
