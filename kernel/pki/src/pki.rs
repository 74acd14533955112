//! The cluster PKI as the API server sees it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::ca::{self, Ca};
use crate::files;
use crate::leaf::Leaf;
use crate::{PkiError, client, decode, serving, tls};

/// File stem of the server CA (it signs the serving certificate).
const SERVER_CA_STEM: &str = "server-ca";
/// File stem of the client CA (it signs client certificates).
const CLIENT_CA_STEM: &str = "client-ca";

/// Where the PKI lives and what the serving certificate must cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PkiConfig {
    /// The PKI directory, `<data-dir>/server/tls`; created `0700` if missing.
    pub dir: PathBuf,
    /// Extra names for the serving certificate (k3s `--tls-san`): DNS names, or IP addresses
    /// (anything that parses as one). `*.` is allowed as the first label of a DNS name.
    pub sans: Vec<String>,
}

/// The loaded PKI: the server and client CAs, the serving certificate and the admin client
/// certificate. Keys stay in memory; [`fmt::Debug`] does not show them.
pub struct Pki {
    dir: PathBuf,
    server_ca: Ca,
    client_ca: Ca,
    serving: Leaf,
    admin: Leaf,
}

impl Pki {
    /// Loads the PKI in `config.dir`, creating what is missing.
    ///
    /// On first start this creates a server CA and a client CA (ECDSA P-256, 10 years), a
    /// serving certificate (1 year) for `localhost`, `127.0.0.1`, `::1`, the host name, the
    /// `kubernetes[.default[.svc[.cluster.local]]]` names and every configured SAN, and an
    /// admin client certificate (`system:admin` in `system:masters`, 1 year). Files are PEM,
    /// keys `0600`, each written atomically.
    ///
    /// Later starts reuse everything. The serving certificate is reissued by the same CA
    /// (with the same key) when its SANs differ from the wanted ones (renaming the machine
    /// changes them too) or it expires within 90 days; the admin certificate likewise when it
    /// expires within 90 days. Either is also reissued when missing, when it does not match
    /// its key or when the current CA did not sign it. A file that exists but cannot be used
    /// is an error naming it; a CA is never replaced.
    pub fn load_or_create(config: &PkiConfig) -> Result<Pki, PkiError> {
        let host = serving::host_name();
        let sans = serving::wanted_sans(&config.sans, host.as_deref())?;
        files::ensure_private_dir(&config.dir, 0o700)?;
        let server_ca =
            Ca::load_or_create(&config.dir, SERVER_CA_STEM, "server CA", "kmicro-server-ca")?;
        let client_ca =
            Ca::load_or_create(&config.dir, CLIENT_CA_STEM, "client CA", "kmicro-client-ca")?;
        let serving = serving::load_or_issue(&config.dir, &server_ca, &sans)?;
        let admin = client::load_or_issue_admin(&config.dir, &client_ca)?;
        Ok(Pki {
            dir: config.dir.clone(),
            server_ca,
            client_ca,
            serving,
            admin,
        })
    }

    /// A rustls server configuration: the serving certificate and key, ALPN `h2` then
    /// `http/1.1`, client certificates optional but, when presented, verified against the
    /// client CA. Built with the ring provider explicitly.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        tls::server_config(
            &self.serving.cert_der,
            &self.serving.key_pem,
            &self.client_ca.cert_der,
        )
    }

    /// The server CA certificate, PEM: what clients trust to verify the API server.
    pub fn server_ca_pem(&self) -> &str {
        &self.server_ca.cert_pem
    }

    /// The client CA certificate, PEM: the issuer of every accepted client certificate.
    pub fn client_ca_pem(&self) -> &str {
        &self.client_ca.cert_pem
    }

    /// The serving certificate, PEM.
    pub fn serving_cert_pem(&self) -> &str {
        &self.serving.cert_pem
    }

    /// The admin client certificate (`system:admin` in `system:masters`), PEM.
    pub fn admin_cert_pem(&self) -> &str {
        &self.admin.cert_pem
    }

    /// The admin client key, PEM (PKCS#8).
    pub fn admin_key_pem(&self) -> &str {
        &self.admin.key_pem
    }

    /// Issues a client certificate signed by the client CA for `user` in `groups`, valid for
    /// `validity` (from an hour ago, to tolerate clock skew), with a new ECDSA P-256 key.
    /// Returns `(certificate PEM, key PEM)`; nothing is stored.
    pub fn issue_client_cert(
        &self,
        user: &str,
        groups: &[&str],
        validity: Duration,
    ) -> Result<(String, String), PkiError> {
        let key = ca::generate_key("client certificate")?;
        let der = client::issue(&self.client_ca, &key, user, groups, validity)?;
        Ok((decode::pem_encode("CERTIFICATE", &der), key.serialize_pem()))
    }
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}
