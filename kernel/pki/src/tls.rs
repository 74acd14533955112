//! The API server's rustls configuration.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::PkiError;

/// ALPN protocols offered, in preference order.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A server configuration presenting `cert` with `key_pem`, accepting clients without a
/// certificate and verifying against `client_ca` those that present one. Uses the ring
/// provider explicitly; no process-wide default provider is needed.
pub(crate) fn server_config(
    cert: &CertificateDer<'static>,
    key_pem: &str,
    client_ca: &CertificateDer<'static>,
) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(client_ca.clone())
        .map_err(|e| PkiError::Tls(format!("the client CA is not a usable trust anchor: {e}")))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| PkiError::Tls(format!("client certificate verifier: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| PkiError::Tls(format!("the serving key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert.clone()], key)
        .map_err(|e| PkiError::Tls(format!("the serving certificate: {e}")))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
