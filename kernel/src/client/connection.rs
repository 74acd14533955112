//! One HTTP/2 (ALPN `h2`) connection over rustls to the API server a [`Kubeconfig`] names,
//! authenticated with its client certificate or bearer token. Clones share the connection;
//! many requests and watch streams run on it concurrently.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::kubeconfig::{Credentials, Kubeconfig};

/// The longest a request may take, answer included, before the client gives up.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// One HTTP/2 connection to the API server. Cheap to clone; the connection closes when the
/// last clone is dropped.
#[derive(Clone)]
pub(crate) struct ApiClient {
    sender: http2::SendRequest<Full<Bytes>>,
    /// `https://host:port`, prefixed to request paths.
    base: String,
    /// `Bearer <token>` when the kubeconfig authenticates with a token.
    authorization: Option<http::HeaderValue>,
    _connection: Arc<ConnectionTask>,
}

/// The task driving the connection; aborted (closing the socket) when dropped.
struct ConnectionTask(JoinHandle<()>);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A response whose body has been read in full.
pub(crate) struct Answer {
    /// The status code.
    pub(crate) status: StatusCode,
    /// The whole body.
    pub(crate) body: Bytes,
}

impl Answer {
    /// Fails unless the status is `expected`, quoting the start of the body.
    pub(crate) fn expect(self, expected: StatusCode, what: &str) -> anyhow::Result<Bytes> {
        if self.status != expected {
            let body = String::from_utf8_lossy(&self.body[..self.body.len().min(500)]);
            bail!("{what}: expected {expected}, got {}: {body}", self.status);
        }
        Ok(self.body)
    }
}

impl ApiClient {
    /// Opens a TLS connection to the kubeconfig's server, negotiates HTTP/2 and authenticates
    /// with its client certificate.
    pub(crate) async fn connect(kubeconfig: &Kubeconfig) -> anyhow::Result<Self> {
        let authority = kubeconfig
            .server
            .strip_prefix("https://")
            .with_context(|| format!("{} is not an https:// URL", kubeconfig.server))?
            .trim_end_matches('/');
        let host = host_of(authority)?;
        let tls = tokio_rustls::TlsConnector::from(tls_config(kubeconfig)?);
        let tcp = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        tcp.set_nodelay(true)?;
        let server_name = ServerName::try_from(host.to_string())
            .with_context(|| format!("{host} is not a valid server name"))?;
        let stream = tls
            .connect(server_name, tcp)
            .await
            .with_context(|| format!("TLS handshake with {authority}"))?;
        if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
            bail!("{authority} did not agree to HTTP/2 (ALPN h2)");
        }
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(stream))
            .await
            .context("HTTP/2 handshake")?;
        let task = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "API connection ended");
            }
        });
        let authorization = match &kubeconfig.credentials {
            Credentials::Token(token) => Some(
                http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .context("the kubeconfig's token is not a valid header value")?,
            ),
            Credentials::Certificate { .. } => None,
        };
        Ok(Self {
            sender,
            base: format!("https://{authority}"),
            authorization,
            _connection: Arc::new(ConnectionTask(task)),
        })
    }

    /// Sends a request with an optional JSON body; returns the response head and the body
    /// as a stream (for watches).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let body = json.map(|json| ("application/json", json));
        self.send_body(method, path, body).await
    }

    /// Sends a request with an optional body of the given content type.
    pub(crate) async fn send_body(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json, */*");
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        if let Some((content_type, _)) = &body {
            request = request.header(header::CONTENT_TYPE, *content_type);
        }
        let request = request
            .body(Full::new(body.map(|(_, bytes)| bytes).unwrap_or_default()))
            .context("building a request")?;
        let mut sender = self.sender.clone();
        sender.ready().await.context("the connection closed")?;
        sender
            .send_request(request)
            .await
            .with_context(|| format!("{path}: no response"))
    }

    /// Sends a request with an optional JSON body and reads the whole answer, within
    /// [`REQUEST_TIMEOUT`].
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let body = json.map(|json| ("application/json", json));
        self.call_body(method, path, body).await
    }

    /// Sends a request with an optional body of the given content type and reads the whole
    /// answer, within [`REQUEST_TIMEOUT`].
    pub(crate) async fn call_body(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> anyhow::Result<Answer> {
        let exchange = async {
            let response = self.send_body(method, path, body).await?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .with_context(|| format!("{path}: reading the body"))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .with_context(|| format!("{path}: no complete answer within {REQUEST_TIMEOUT:?}"))?
    }
}

/// The host part of `host:port` or `[v6]:port`.
fn host_of(authority: &str) -> anyhow::Result<&str> {
    let (host, port) = authority
        .rsplit_once(':')
        .with_context(|| format!("{authority} has no port"))?;
    port.parse::<u16>()
        .with_context(|| format!("{authority} has no valid port"))?;
    Ok(host.trim_start_matches('[').trim_end_matches(']'))
}

/// Trusts only the kubeconfig's CA, presents its client certificate (if it has one), offers
/// only `h2`.
fn tls_config(kubeconfig: &Kubeconfig) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&kubeconfig.ca_pem) {
        roots
            .add(ca.context("the cluster's certificate authority is not a PEM certificate")?)
            .context("the CA is not a usable trust anchor")?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots);
    let mut config = match &kubeconfig.credentials {
        Credentials::Certificate { cert_pem, key_pem } => {
            let certs = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .context("the client certificate is not PEM certificates")?;
            let key = PrivateKeyDer::from_pem_slice(key_pem)
                .context("the client key is not a PEM private key")?;
            builder
                .with_client_auth_cert(certs, key)
                .context("the client certificate")?
        }
        Credentials::Token(_) => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_authorities() {
        assert_eq!(host_of("127.0.0.1:6443").unwrap(), "127.0.0.1");
        assert_eq!(host_of("[::1]:6443").unwrap(), "::1");
        assert!(host_of("127.0.0.1").is_err());
    }
}
