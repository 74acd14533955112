//! Validity periods and renewal.

use std::time::Duration;

use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;

use crate::PkiError;

const DAY: u64 = 86_400;
/// Validity of the CAs.
pub(crate) const CA_VALIDITY: Duration = Duration::from_secs(3650 * DAY);
/// Validity of the serving and admin certificates.
pub(crate) const LEAF_VALIDITY: Duration = Duration::from_secs(365 * DAY);
/// A leaf certificate expiring sooner than this is renewed at start.
pub(crate) const RENEW_BEFORE: Duration = Duration::from_secs(90 * DAY);
/// `notBefore` is set this far in the past, so a peer whose clock is slightly behind (common
/// on boards without a battery-backed clock) does not see a certificate "not yet valid".
const BACKDATE: Duration = Duration::from_secs(3600);

/// The current time.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `(notBefore, notAfter)` for a certificate valid for `validity` from now.
pub(crate) fn window(validity: Duration) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    if validity.is_zero() {
        return Err(PkiError::InvalidArgument(
            "a certificate validity must be longer than zero".into(),
        ));
    }
    let now = now();
    let after = |d: Duration| {
        time::Duration::try_from(d)
            .ok()
            .and_then(|d| now.checked_add(d))
    };
    let before = time::Duration::try_from(BACKDATE)
        .ok()
        .and_then(|d| now.checked_sub(d));
    match (before, after(validity)) {
        (Some(not_before), Some(not_after)) => Ok((not_before, not_after)),
        _ => Err(PkiError::InvalidArgument(format!(
            "a certificate validity of {validity:?} is out of range"
        ))),
    }
}

/// Whether `cert` expires less than `within` from now (or has expired).
pub(crate) fn expires_within(cert: &X509Certificate<'_>, within: Duration) -> bool {
    let left = cert
        .validity()
        .not_after
        .timestamp()
        .saturating_sub(now().unix_timestamp());
    left < i64::try_from(within.as_secs()).unwrap_or(i64::MAX)
}
