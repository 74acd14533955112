//! Client certificates: the admin certificate kept on disk, and certificates issued on demand.

use std::path::Path;
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use x509_parser::certificate::X509Certificate;

use crate::ca::Ca;
use crate::identity::{Identity, identity_of};
use crate::leaf::{self, Leaf, LeafSpec};
use crate::validity::{self, LEAF_VALIDITY};
use crate::{PkiError, random, subject};

/// File stem of the admin certificate and key.
pub(crate) const ADMIN_STEM: &str = "client-admin";
/// The admin's user name.
pub(crate) const ADMIN_USER: &str = "system:admin";
/// The admin's group (cluster-admin through the default RBAC bindings).
pub(crate) const ADMIN_GROUP: &str = "system:masters";

/// Loads the admin client certificate, issuing a new one from `ca` when needed.
pub(crate) fn load_or_issue_admin(dir: &Path, ca: &Ca) -> Result<Leaf, PkiError> {
    let stale = |cert: &X509Certificate<'_>| {
        let wanted = Identity {
            user: ADMIN_USER.into(),
            groups: vec![ADMIN_GROUP.into()],
        };
        match identity_of(cert) {
            Ok(identity) if identity == wanted => None,
            _ => Some(format!(
                "the stored certificate is not for {ADMIN_USER} in {ADMIN_GROUP}"
            )),
        }
    };
    let issue = |ca: &Ca, key: &KeyPair| issue(ca, key, ADMIN_USER, &[ADMIN_GROUP], LEAF_VALIDITY);
    let spec = LeafSpec {
        what: "admin client certificate",
        stem: ADMIN_STEM,
        stale: &stale,
        issue: &issue,
    };
    leaf::load_or_issue(dir, ca, &spec)
}

/// Issues a client certificate (DER) for `key`: CN `user`, one O per group.
pub(crate) fn issue(
    ca: &Ca,
    key: &KeyPair,
    user: &str,
    groups: &[&str],
    validity: Duration,
) -> Result<Vec<u8>, PkiError> {
    if user.is_empty() {
        return Err(PkiError::InvalidArgument(
            "a client certificate needs a user name".into(),
        ));
    }
    if groups.iter().any(|g| g.is_empty()) {
        return Err(PkiError::InvalidArgument(format!(
            "empty group name in the client certificate for {user:?}"
        )));
    }
    let (not_before, not_after) = validity::window(validity)?;
    let mut params = CertificateParams::default();
    // Replaced by the full subject (with every group) when signing.
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, user);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random::serial_number()?);
    params.not_before = not_before;
    params.not_after = not_after;
    let subject = subject::encode_name(user, groups);
    ca.sign_with_subject(&params, key, &subject)
        .map_err(|e| PkiError::issue(format!("client certificate for {user:?}"), e))
}
