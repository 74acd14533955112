//! Who a client certificate says its holder is.

use x509_parser::certificate::X509Certificate;

use crate::PkiError;

/// An authenticated user: the name and groups the authorizer sees.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    /// The user name (a certificate's CN, a token's user column).
    pub user: String,
    /// The groups (a certificate's O attributes, a token's group column), in order.
    pub groups: Vec<String>,
}

/// The identity in a DER client certificate, the Kubernetes way: the subject's common name is
/// the user, every organization a group. The certificate is not verified here (the TLS
/// handshake did that).
pub fn identity_from_cert(der: &[u8]) -> Result<Identity, PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| PkiError::InvalidCertificate(format!("malformed certificate ({e})")))?;
    identity_of(&cert)
}

/// The identity in a parsed certificate.
pub(crate) fn identity_of(cert: &X509Certificate<'_>) -> Result<Identity, PkiError> {
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()
        .ok_or_else(|| PkiError::InvalidCertificate("the subject has no common name".into()))?
        .as_str()
        .map_err(|e| PkiError::InvalidCertificate(format!("the common name is not text ({e})")))?;
    if user.is_empty() {
        return Err(PkiError::InvalidCertificate(
            "the common name is empty".into(),
        ));
    }
    let groups = subject
        .iter_organization()
        .map(|o| {
            o.as_str().map(str::to_string).map_err(|e| {
                PkiError::InvalidCertificate(format!("an organization is not text ({e})"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Identity {
        user: user.to_string(),
        groups,
    })
}
