//! The certificate authorities: loading or creating them, and signing with them.
//!
//! A CA is a certificate file and a key file. The certificate is written last, so it is the
//! commit point: a key without its certificate is left over from an interrupted first start
//! (no one can trust a CA whose certificate was never written) and is completed, while a
//! certificate without its key is an error, because a new CA would lock out every client
//! holding the old one. Nothing that exists is ever silently replaced.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::CertificateDer;
use tracing::{info, warn};
use x509_parser::certificate::X509Certificate;

use crate::files::{self, PRIVATE, PUBLIC};
use crate::subject::{self, SubjectRewriter};
use crate::validity::{self, CA_VALIDITY, RENEW_BEFORE};
use crate::{PkiError, decode};

/// A loaded certificate authority.
pub(crate) struct Ca {
    /// "server CA" or "client CA", for messages.
    pub(crate) name: &'static str,
    /// The certificate file.
    pub(crate) cert_path: PathBuf,
    /// The certificate, PEM, as stored.
    pub(crate) cert_pem: String,
    /// The certificate, DER.
    pub(crate) cert_der: CertificateDer<'static>,
    key: KeyPair,
}

impl Ca {
    /// Loads `<dir>/<stem>.crt` and `.key`, creating a CA named `<cn_prefix>@<unix time>` when
    /// there is none.
    pub(crate) fn load_or_create(
        dir: &Path,
        stem: &str,
        name: &'static str,
        cn_prefix: &str,
    ) -> Result<Ca, PkiError> {
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        let cert_pem = files::read_optional(&cert_path)?;
        let key_pem = files::read_optional(&key_path)?;
        match (cert_pem, key_pem) {
            (Some(cert_pem), Some(key_pem)) => {
                let key = decode::key_from_pem(&key_path, &key_pem)?;
                Self::load(name, cert_path, cert_pem, &key_path, key)
            }
            (Some(_), None) => Err(PkiError::invalid_file(
                &key_path,
                format!(
                    "is missing, but its CA certificate {} exists; restore the key, or remove \
                     both files to create a new {name} (every client must then be given it)",
                    cert_path.display()
                ),
            )),
            (None, key_pem) => {
                let key = match key_pem {
                    Some(pem) => decode::key_from_pem(&key_path, &pem)?,
                    None => {
                        let key = generate_key(name)?;
                        files::write_atomic(&key_path, key.serialize_pem().as_bytes(), PRIVATE)?;
                        key
                    }
                };
                let cn = format!("{cn_prefix}@{}", validity::now().unix_timestamp());
                let cert = ca_params(&cn)?
                    .self_signed(&key)
                    .map_err(|e| PkiError::issue(name, e))?;
                let cert_pem = cert.pem();
                files::write_atomic(&cert_path, cert_pem.as_bytes(), PUBLIC)?;
                info!(cert = %cert_path.display(), subject = %cn, "created the {name}");
                Self::load(name, cert_path, cert_pem, &key_path, key)
            }
        }
    }

    fn load(
        name: &'static str,
        cert_path: PathBuf,
        cert_pem: String,
        key_path: &Path,
        key: KeyPair,
    ) -> Result<Ca, PkiError> {
        let cert_der = decode::cert_from_pem(&cert_path, &cert_pem)?;
        let cert = decode::parse_cert(&cert_path, &cert_der)?;
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(PkiError::invalid_file(
                &cert_path,
                "is not a CA certificate",
            ));
        }
        if !decode::key_matches(&key, &cert) {
            return Err(PkiError::invalid_file(
                key_path,
                format!("is not the key of {}", cert_path.display()),
            ));
        }
        if let Err(e) = Issuer::from_ca_cert_der(&cert_der, &key) {
            return Err(PkiError::invalid_file(
                &cert_path,
                format!("cannot be used to sign certificates ({e})"),
            ));
        }
        if validity::expires_within(&cert, RENEW_BEFORE) {
            warn!(
                cert = %cert_path.display(),
                not_after = %cert.validity().not_after,
                "the {name} expires soon or has expired; it is not renewed automatically"
            );
        }
        drop(cert);
        Ok(Ca {
            name,
            cert_path,
            cert_pem,
            cert_der,
            key,
        })
    }

    /// Signs `params` for `subject_key`.
    pub(crate) fn sign(
        &self,
        params: &CertificateParams,
        subject_key: &KeyPair,
    ) -> Result<Vec<u8>, rcgen::Error> {
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &self.key)?;
        Ok(params.signed_by(subject_key, &issuer)?.der().to_vec())
    }

    /// Signs `params` for `subject_key`, with `subject` (a DER `Name`) as the subject.
    pub(crate) fn sign_with_subject(
        &self,
        params: &CertificateParams,
        subject_key: &KeyPair,
        subject: &[u8],
    ) -> Result<Vec<u8>, rcgen::Error> {
        let signer = SubjectRewriter::new(&self.key, subject);
        let issuer = Issuer::from_ca_cert_der(&self.cert_der, &signer)?;
        let cert = params.signed_by(subject_key, &issuer)?;
        let malformed = || rcgen::Error::X509("cannot rewrite the certificate subject".into());
        let tbs = signer.take_signed().ok_or_else(malformed)?;
        subject::assemble(cert.der(), &tbs).ok_or_else(malformed)
    }

    /// Whether this CA signed `cert`.
    pub(crate) fn issued(&self, cert: &X509Certificate<'_>) -> bool {
        let Ok((_, ca)) = x509_parser::parse_x509_certificate(&self.cert_der) else {
            return false;
        };
        cert.issuer().as_raw() == ca.subject().as_raw()
            && cert.verify_signature(Some(ca.public_key())).is_ok()
    }
}

/// A new ECDSA P-256 key.
pub(crate) fn generate_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::issue(format!("key of the {what}"), e))
}

fn ca_params(cn: &str) -> Result<CertificateParams, PkiError> {
    let (not_before, not_after) = validity::window(CA_VALIDITY)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, cn);
    // The CAs sign only leaf certificates.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    params.serial_number = Some(crate::random::serial_number()?);
    params.not_before = not_before;
    params.not_after = not_after;
    Ok(params)
}
