//! The API server, called in-process: requests built like a client's, answered by
//! `Api::handle_local` as a given user (no TLS, no authentication step, same routing,
//! authorization, admission and handlers).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, header};
use http_body_util::BodyExt;
use kmicro_apiserver::Api;
use kmicro_apiserver::auth::User;

/// A failed in-process call: the API's `Status`, or why no answer came.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct LocalError {
    /// HTTP status code.
    pub code: u16,
    /// Kubernetes reason.
    pub reason: String,
    /// Message.
    pub message: String,
}

impl LocalError {
    fn from_answer(code: u16, body: &[u8]) -> Self {
        let status: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let text = |key: &str| status.get(key).and_then(|v| v.as_str()).map(str::to_string);
        Self {
            code,
            reason: text("reason").unwrap_or_else(|| "Unknown".into()),
            message: text("message").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned()),
        }
    }
}

/// An in-process client of the API acting as one user.
#[derive(Clone)]
pub struct LocalClient {
    api: Arc<Api>,
    user: User,
}

impl LocalClient {
    /// A client acting as `user`.
    pub fn new(api: Arc<Api>, user: User) -> Self {
        Self { api, user }
    }

    /// The API this client calls.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The same API as another user.
    pub fn as_user(&self, user: User) -> Self {
        Self::new(Arc::clone(&self.api), user)
    }

    /// Sends one request and reads the whole answer: the body on 2xx, else the Status.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Bytes, LocalError> {
        let resp = self
            .request(method, path_and_query, content_type, body)
            .await?;
        let code = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| internal(format!("reading the answer: {e}")))?
            .to_bytes();
        if code >= 300 {
            return Err(LocalError::from_answer(code, &bytes));
        }
        Ok(bytes)
    }

    /// Sends a request whose answer streams (a watch, a log): the answer's body chunks, or
    /// the Status when it failed.
    pub async fn stream(
        &self,
        path_and_query: &str,
    ) -> Result<impl futures::Stream<Item = Bytes> + Send + 'static, LocalError> {
        let resp = self
            .request(Method::GET, path_and_query, None, Bytes::new())
            .await?;
        let code = resp.status().as_u16();
        let body = resp.into_body();
        if code >= 300 {
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(LocalError::from_answer(code, &bytes));
        }
        Ok(body
            .into_data_stream()
            .filter_map(|chunk| async move { chunk.ok() }))
    }

    async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<http::Response<kmicro_apiserver::response::Body>, LocalError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(header::ACCEPT, "application/json");
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        let req = builder
            .body(body)
            .map_err(|e| bad_request(format!("request {path_and_query:?}: {e}")))?;
        Ok(self.api.handle_local(req, self.user.clone()).await)
    }
}

fn internal(message: String) -> LocalError {
    LocalError {
        code: 500,
        reason: "InternalError".into(),
        message,
    }
}

fn bad_request(message: String) -> LocalError {
    LocalError {
        code: 400,
        reason: "BadRequest".into(),
        message,
    }
}

/// Percent-encodes `value` for a query string.
pub fn encode(value: &str) -> String {
    escape(value, b"-_.~")
}

/// Percent-encodes `value` for a path segment (`:` and `@` stay, as RFC 3986 allows and the
/// API server expects in names such as `system:module:x`).
pub fn encode_segment(value: &str) -> String {
    escape(value, b"-_.~:@")
}

fn escape(value: &str, unreserved: &[u8]) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || unreserved.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
