//! A minimal HTTPS client for the benchmarks: HTTP/2 (ALPN `h2`) over rustls, authenticated
//! with the admin client certificate of a kubeconfig written by `kmicro run`. Clones share one
//! connection; many requests and watch streams run on it concurrently.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The longest a request may take, answer included, before the benchmark gives up.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The parts of a kubeconfig the client needs. kmicro-pki writes kubeconfigs in one fixed
/// shape (one cluster, one user, `*-data` fields), so a line reader is enough.
#[derive(Clone)]
pub(crate) struct Kubeconfig {
    /// The API server URL, `https://host:port`.
    pub(crate) server: String,
    /// The CA that signed the serving certificate, PEM.
    pub(crate) ca_pem: Vec<u8>,
    /// The client certificate, PEM.
    pub(crate) cert_pem: Vec<u8>,
    /// The client key, PEM.
    pub(crate) key_pem: Vec<u8>,
}

impl Kubeconfig {
    /// Reads and parses the file at `path`.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Parses the text of a kubeconfig written by kmicro-pki.
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let (mut server, mut ca, mut cert, mut key) = (None, None, None, None);
        for line in text.lines() {
            let Some((name, value)) = line.trim_start().split_once(':') else {
                continue;
            };
            let value = value.trim();
            let slot = match name {
                "server" => &mut server,
                "certificate-authority-data" => &mut ca,
                "client-certificate-data" => &mut cert,
                "client-key-data" => &mut key,
                _ => continue,
            };
            if slot.is_some() {
                bail!("{name} appears twice (only single-cluster kubeconfigs are read)");
            }
            *slot = Some(value.to_string());
        }
        let need = |value: Option<String>, name: &str| value.with_context(|| format!("no {name}"));
        let decode = |value: Option<String>, name: &str| {
            STANDARD
                .decode(need(value, name)?)
                .with_context(|| format!("{name} is not base64"))
        };
        let server = need(server, "server")?;
        // kmicro-pki writes the URL as a double-quoted scalar in JSON string syntax.
        let server = if server.starts_with('"') {
            serde_json::from_str(&server).context("server is not a valid quoted string")?
        } else {
            server
        };
        Ok(Self {
            server,
            ca_pem: decode(ca, "certificate-authority-data")?,
            cert_pem: decode(cert, "client-certificate-data")?,
            key_pem: decode(key, "client-key-data")?,
        })
    }
}

/// One HTTP/2 connection to the API server. Cheap to clone; the connection closes when the
/// last clone is dropped.
#[derive(Clone)]
pub(crate) struct ApiClient {
    sender: http2::SendRequest<Full<Bytes>>,
    /// `https://host:port`, prefixed to request paths.
    base: String,
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
                tracing::debug!(%err, "benchmark connection ended");
            }
        });
        Ok(Self {
            sender,
            base: format!("https://{authority}"),
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
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json");
        if json.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(json.unwrap_or_default()))
            .context("building a request")?;
        let mut sender = self.sender.clone();
        sender.ready().await.context("the connection closed")?;
        sender
            .send_request(request)
            .await
            .with_context(|| format!("{path}: no response"))
    }

    /// Sends a request and reads the whole answer, within [`REQUEST_TIMEOUT`].
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> anyhow::Result<Answer> {
        let exchange = async {
            let response = self.send(method, path, json).await?;
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

/// Trusts only the kubeconfig's CA, presents its client certificate, offers only `h2`.
fn tls_config(kubeconfig: &Kubeconfig) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(&kubeconfig.ca_pem) {
        roots
            .add(ca.context("certificate-authority-data is not a PEM certificate")?)
            .context("the CA is not a usable trust anchor")?;
    }
    let certs = CertificateDer::pem_slice_iter(&kubeconfig.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("client-certificate-data is not PEM certificates")?;
    let key = PrivateKeyDer::from_pem_slice(&kubeconfig.key_pem)
        .context("client-key-data is not a PEM private key")?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .context("the client certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Splits a watch body into its lines (one JSON event each), across chunk boundaries.
#[derive(Default)]
pub(crate) struct Lines {
    pending: BytesMut,
}

impl Lines {
    /// Adds a chunk; returns the lines it completed, without their newlines.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<Bytes> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line = self.pending.split_to(end + 1).freeze();
            if line.len() > 1 {
                lines.push(line.slice(..end));
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_kmicro_pki_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig.yaml");
        kmicro_pki::write_kubeconfig(
            &path,
            &kmicro_pki::KubeconfigOptions {
                server: "https://127.0.0.1:6443".into(),
                ca_pem: "CA PEM\n".into(),
                client_cert_pem: "CERT PEM\n".into(),
                client_key_pem: "KEY PEM\n".into(),
                mode: 0o600,
            },
        )
        .unwrap();
        let kc = Kubeconfig::read(&path).unwrap();
        assert_eq!(kc.server, "https://127.0.0.1:6443");
        assert_eq!(kc.ca_pem, b"CA PEM\n");
        assert_eq!(kc.cert_pem, b"CERT PEM\n");
        assert_eq!(kc.key_pem, b"KEY PEM\n");
    }

    #[test]
    fn missing_or_bad_fields_are_named() {
        let err = Kubeconfig::parse("server: https://x:1\n").err().unwrap();
        assert!(format!("{err:#}").contains("certificate-authority-data"));
        let text = "server: \"https://x:1\"\ncertificate-authority-data: !!\n\
                    client-certificate-data: QQ==\nclient-key-data: QQ==\n";
        let err = Kubeconfig::parse(text).err().unwrap();
        assert!(format!("{err:#}").contains("not base64"), "{err:#}");
    }

    #[test]
    fn hosts_of_authorities() {
        assert_eq!(host_of("127.0.0.1:6443").unwrap(), "127.0.0.1");
        assert_eq!(host_of("[::1]:6443").unwrap(), "::1");
        assert!(host_of("127.0.0.1").is_err());
    }

    #[test]
    fn lines_span_chunks() {
        let mut lines = Lines::default();
        assert!(lines.push(b"{\"a\":").is_empty());
        let got = lines.push(b"1}\n\n{\"b\":2}\n{\"c\"");
        assert_eq!(
            got,
            vec![Bytes::from("{\"a\":1}"), Bytes::from("{\"b\":2}")]
        );
        assert_eq!(lines.push(b":3}\n"), vec![Bytes::from("{\"c\":3}")]);
        assert!(lines.pending.is_empty());
    }
}
