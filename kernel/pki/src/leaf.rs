//! Leaf certificates kept on disk (the serving and admin certificates): load, check, renew.
//!
//! The key is written before the certificate and reused when the certificate is renewed, so
//! a renewal replaces a single file and a crash never leaves a certificate next to a key it
//! does not belong to (a mismatch left by hand is detected and repaired by renewing).

use std::path::Path;

use rcgen::KeyPair;
use rustls::pki_types::CertificateDer;
use tracing::info;
use x509_parser::certificate::X509Certificate;

use crate::ca::{self, Ca};
use crate::files::{self, PRIVATE, PUBLIC};
use crate::validity::{self, RENEW_BEFORE};
use crate::{PkiError, decode};

/// A leaf certificate and its key.
pub(crate) struct Leaf {
    /// The certificate, PEM.
    pub(crate) cert_pem: String,
    /// The certificate, DER.
    pub(crate) cert_der: CertificateDer<'static>,
    /// The private key, PEM (PKCS#8).
    pub(crate) key_pem: String,
}

/// Why an existing, valid certificate no longer fits, if it does not.
pub(crate) type StaleFn<'a> = dyn Fn(&X509Certificate<'_>) -> Option<String> + 'a;
/// Issues a certificate (DER) for a key.
pub(crate) type IssueFn<'a> = dyn Fn(&Ca, &KeyPair) -> Result<Vec<u8>, PkiError> + 'a;

/// What a leaf certificate is and how to make one.
pub(crate) struct LeafSpec<'a> {
    /// What it is, for messages ("serving certificate").
    pub(crate) what: &'static str,
    /// File stem in the PKI directory (`<stem>.crt`, `<stem>.key`).
    pub(crate) stem: &'static str,
    /// Why an existing, valid certificate no longer fits, if it does not.
    pub(crate) stale: &'a StaleFn<'a>,
    /// Issues a certificate (DER) for the key.
    pub(crate) issue: &'a IssueFn<'a>,
}

/// Loads the leaf described by `spec` from `dir`, issuing a new certificate from `ca` when
/// there is none or it is stale (wrong key, other issuer, expiring, or `spec.stale`).
pub(crate) fn load_or_issue(dir: &Path, ca: &Ca, spec: &LeafSpec<'_>) -> Result<Leaf, PkiError> {
    let cert_path = dir.join(format!("{}.crt", spec.stem));
    let key_path = dir.join(format!("{}.key", spec.stem));
    let (key, key_pem) = match files::read_optional(&key_path)? {
        Some(pem) => (decode::key_from_pem(&key_path, &pem)?, pem),
        None => {
            let key = ca::generate_key(spec.what)?;
            let pem = key.serialize_pem();
            files::write_atomic(&key_path, pem.as_bytes(), PRIVATE)?;
            (key, pem)
        }
    };
    let reason = match files::read_optional(&cert_path)? {
        None => "there was none".to_string(),
        Some(pem) => {
            let der = decode::cert_from_pem(&cert_path, &pem)?;
            let cert = decode::parse_cert(&cert_path, &der)?;
            match staleness(ca, &key, &cert, spec) {
                None => {
                    drop(cert);
                    return Ok(Leaf {
                        cert_pem: pem,
                        cert_der: der,
                        key_pem,
                    });
                }
                Some(reason) => reason,
            }
        }
    };
    let der = (spec.issue)(ca, &key)?;
    let cert_pem = decode::pem_encode("CERTIFICATE", &der);
    files::write_atomic(&cert_path, cert_pem.as_bytes(), PUBLIC)?;
    info!(cert = %cert_path.display(), %reason, "issued a new {}", spec.what);
    Ok(Leaf {
        cert_pem,
        cert_der: CertificateDer::from(der),
        key_pem,
    })
}

fn staleness(
    ca: &Ca,
    key: &KeyPair,
    cert: &X509Certificate<'_>,
    spec: &LeafSpec<'_>,
) -> Option<String> {
    if !decode::key_matches(key, cert) {
        return Some("the stored certificate does not match its key".into());
    }
    if !ca.issued(cert) {
        return Some(format!(
            "the stored certificate was not issued by the {} {}",
            ca.name,
            ca.cert_path.display()
        ));
    }
    if validity::expires_within(cert, RENEW_BEFORE) {
        return Some(format!(
            "the stored certificate expires on {}",
            cert.validity().not_after
        ));
    }
    (spec.stale)(cert)
}
