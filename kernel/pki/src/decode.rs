//! Decoding and encoding PEM files: certificates and private keys, with errors naming the file.

use std::path::Path;

use base64::Engine as _;
use rcgen::KeyPair;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::certificate::X509Certificate;

use crate::PkiError;

/// The first certificate of a PEM file.
pub(crate) fn cert_from_pem(path: &Path, pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| PkiError::invalid_file(path, format!("does not hold a PEM certificate ({e})")))
}

/// Parses a DER certificate read from `path`.
pub(crate) fn parse_cert<'a>(path: &Path, der: &'a [u8]) -> Result<X509Certificate<'a>, PkiError> {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::invalid_file(path, format!("holds a malformed certificate ({e})")))
}

/// A PKCS#8 private key from a PEM file.
pub(crate) fn key_from_pem(path: &Path, pem: &str) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(pem).map_err(|e| {
        PkiError::invalid_file(path, format!("does not hold a usable private key ({e})"))
    })
}

/// Whether `cert` certifies the public half of `key`.
pub(crate) fn key_matches(key: &KeyPair, cert: &X509Certificate<'_>) -> bool {
    key.public_key_raw() == cert.public_key().subject_public_key.data.as_ref()
}

/// PEM encoding (64-column base64) of a DER object.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    // base64 output is ASCII, so splitting the bytes splits characters.
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
