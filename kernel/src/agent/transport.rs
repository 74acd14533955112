//! How the agent reaches the API server: one small trait, so the way can change without
//! touching the agent. `kmicro run` uses [`LocalTransport`]: in-process through
//! `Api::handle_local`, no TLS, authorized as the node's user like any request. An agent on
//! another machine (`kmicro agent`, later) implements the same trait over HTTPS with a client
//! certificate (`crate::client::ApiClient`).

use std::future::Future;
use std::pin::Pin;
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

/// The body of an answer that streams (a watch), chunk by chunk.
pub type Chunks = Pin<Box<dyn futures::Stream<Item = Bytes> + Send>>;

/// Sends requests to the API server as the node.
pub trait Transport: Clone + Send + Sync + 'static {
    /// Sends `method path` with an optional JSON body and reads the whole answer.
    fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> impl Future<Output = anyhow::Result<Answer>> + Send;

    /// Sends `method path` with a body of `content_type` (a patch) and reads the whole answer.
    fn call_typed(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> impl Future<Output = anyhow::Result<Answer>> + Send;

    /// `GET path` whose answer streams (a watch): the status and, on success, the body's
    /// chunks as they come (an error answer's body is read whole and returned as the one
    /// chunk).
    fn stream(
        &self,
        path: &str,
    ) -> impl Future<Output = anyhow::Result<(StatusCode, Chunks)>> + Send;
}

/// Requests answered in this process by the API, as `user` (routing, RBAC, admission and
/// handlers exactly as over the network; no TLS, no authentication step).
#[derive(Clone)]
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

impl LocalTransport {
    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> anyhow::Result<http::Response<kmicro_apiserver::response::Body>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "kmicro-node-agent");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let request = request
            .body(body)
            .with_context(|| format!("{path}: building the request"))?;
        Ok(self.api.handle_local(request, self.user.clone()).await)
    }
}

impl Transport for LocalTransport {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let content_type = body.as_ref().map(|_| "application/json");
        self.call_inner(method, path, content_type, body.unwrap_or_default())
            .await
    }

    async fn call_typed(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        self.call_inner(method, path, Some(content_type), body)
            .await
    }

    async fn stream(&self, path: &str) -> anyhow::Result<(StatusCode, Chunks)> {
        use futures::StreamExt;
        let response = self.send(Method::GET, path, None, Bytes::new()).await?;
        let status = response.status();
        let body = response.into_body();
        if !status.is_success() {
            let bytes = body
                .collect()
                .await
                .with_context(|| format!("{path}: reading the answer"))?
                .to_bytes();
            return Ok((status, Box::pin(futures::stream::once(async { bytes }))));
        }
        Ok((
            status,
            Box::pin(
                body.into_data_stream()
                    .filter_map(|chunk| async move { chunk.ok() }),
            ),
        ))
    }
}

impl LocalTransport {
    async fn call_inner(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&'static str>,
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let response = self.send(method, path, content_type, body).await?;
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
