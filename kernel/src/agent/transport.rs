//! How the agent reaches the API server: one small trait, so the way can change without
//! touching the agent. `kmicro run` uses [`LocalTransport`] (in-process through
//! `Api::handle_local`, no TLS, authorized as the node's user like any request);
//! [`HttpsTransport`] is HTTP/2 over TLS with a client certificate, as an agent on another
//! machine will connect.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use kmicro_apiserver::Api;
use kmicro_apiserver::auth::User;

use crate::client::{ApiClient, Kubeconfig, kubeconfig::Credentials};

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

/// HTTP/2 over TLS to the API server, one connection kept and re-opened after a failure.
pub struct HttpsTransport {
    kubeconfig: Kubeconfig,
    connection: tokio::sync::Mutex<Option<ApiClient>>,
}

impl HttpsTransport {
    /// A transport to `server` (`https://host:port`) that trusts `ca_pem` and presents the
    /// client certificate `cert_pem` with key `key_pem`. It connects on first use.
    pub fn new(server: String, ca_pem: &str, cert_pem: &str, key_pem: &str) -> Self {
        Self {
            kubeconfig: Kubeconfig {
                server,
                ca_pem: ca_pem.as_bytes().to_vec(),
                credentials: Credentials::Certificate {
                    cert_pem: cert_pem.as_bytes().to_vec(),
                    key_pem: key_pem.as_bytes().to_vec(),
                },
            },
            connection: tokio::sync::Mutex::new(None),
        }
    }

    async fn client(&self) -> anyhow::Result<ApiClient> {
        let mut connection = self.connection.lock().await;
        if let Some(client) = connection.as_ref() {
            return Ok(client.clone());
        }
        let client = ApiClient::connect(&self.kubeconfig)
            .await
            .context("connecting to the API server")?;
        *connection = Some(client.clone());
        Ok(client)
    }
}

impl Transport for HttpsTransport {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let client = self.client().await?;
        match client.call(method, path, body).await {
            Ok(answer) => Ok(Answer {
                status: answer.status,
                body: answer.body,
            }),
            Err(err) => {
                // The next call opens a new connection.
                *self.connection.lock().await = None;
                Err(err)
            }
        }
    }
}
