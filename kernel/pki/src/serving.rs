//! The API server's serving certificate: its subject alternative names and issuance.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType,
};
use tracing::{debug, warn};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::ca::Ca;
use crate::leaf::{self, Leaf, LeafSpec};
use crate::validity::{self, LEAF_VALIDITY};
use crate::{PkiError, random};

/// File stem of the serving certificate and key.
pub(crate) const STEM: &str = "serving-kube-apiserver";
/// Where the kernel publishes the machine's host name.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";
/// DNS names every serving certificate carries (besides the host name).
const FIXED_DNS: [&str; 5] = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
];

/// One subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum San {
    /// A DNS name, lower case.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// Any other kind found in a certificate (never issued; its presence forces a reissue).
    Other(String),
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
            San::Other(other) => write!(f, "{other}"),
        }
    }
}

/// The SANs the serving certificate must carry: the fixed names, `host` (when it is a valid
/// DNS name) and every configured `extra` SAN. A malformed `extra` SAN is an error.
pub(crate) fn wanted_sans(extra: &[String], host: Option<&str>) -> Result<Vec<San>, PkiError> {
    let mut sans = vec![
        San::Dns("localhost".into()),
        San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    if let Some(host) = host {
        let host = host.trim().to_ascii_lowercase();
        match check_dns_name(&host, false) {
            Ok(()) => sans.push(San::Dns(host)),
            Err(reason) => warn!(
                host = %host,
                "the host name is not put in the serving certificate: {reason}"
            ),
        }
    }
    sans.extend(FIXED_DNS.iter().map(|name| San::Dns((*name).into())));
    for san in extra {
        sans.push(parse_san(san)?);
    }
    let mut seen = BTreeSet::new();
    sans.retain(|san| seen.insert(san.clone()));
    Ok(sans)
}

/// A configured SAN: an IP address, or else a DNS name (`*.` allowed as first label).
pub(crate) fn parse_san(san: &str) -> Result<San, PkiError> {
    let trimmed = san.trim();
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return Ok(San::Ip(ip));
    }
    let name = trimmed.to_ascii_lowercase();
    check_dns_name(&name, true).map_err(|reason| PkiError::InvalidSan {
        san: san.to_string(),
        reason: reason.into(),
    })?;
    Ok(San::Dns(name))
}

/// Checks a lower-case DNS name (RFC 1123 labels; optionally a leading `*` label).
fn check_dns_name(name: &str, allow_wildcard: bool) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("it is empty");
    }
    if name.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    for (i, label) in name.split('.').enumerate() {
        if label == "*" && i == 0 && allow_wildcard && name.len() > 2 {
            continue;
        }
        if label.is_empty() || label.len() > 63 {
            return Err("a label is empty or longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(
                "it is not an IP address, and a DNS name may only hold letters, digits, '-' and '.'",
            );
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with '-'");
        }
    }
    Ok(())
}

/// The machine's host name, if it can be read.
pub(crate) fn host_name() -> Option<String> {
    match std::fs::read_to_string(HOSTNAME_FILE) {
        Ok(name) if !name.trim().is_empty() => Some(name.trim().to_string()),
        Ok(_) => None,
        Err(e) => {
            debug!(
                "cannot read {HOSTNAME_FILE}: {e}; the host name is left out of the serving certificate"
            );
            None
        }
    }
}

/// The SANs of a certificate.
fn sans_of(cert: &X509Certificate<'_>) -> BTreeSet<San> {
    let names = match cert.subject_alternative_name() {
        Ok(Some(ext)) => &ext.value.general_names,
        Ok(None) => return BTreeSet::new(),
        Err(e) => return BTreeSet::from([San::Other(format!("unparsable SANs ({e})"))]),
    };
    names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => San::Dns(dns.to_ascii_lowercase()),
            GeneralName::IPAddress(bytes) => {
                if let Ok(v4) = <[u8; 4]>::try_from(*bytes) {
                    San::Ip(IpAddr::from(v4))
                } else if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                    San::Ip(IpAddr::from(v6))
                } else {
                    San::Other(format!("IP:{bytes:02x?}"))
                }
            }
            other => San::Other(format!("{other:?}")),
        })
        .collect()
}

/// Loads the serving certificate, issuing a new one from `ca` when needed (including when its
/// SANs differ from `sans`).
pub(crate) fn load_or_issue(dir: &Path, ca: &Ca, sans: &[San]) -> Result<Leaf, PkiError> {
    let wanted: BTreeSet<San> = sans.iter().cloned().collect();
    let stale = |cert: &X509Certificate<'_>| {
        let have = sans_of(cert);
        if have == wanted {
            return None;
        }
        let list = |sans: Vec<&San>| {
            let names: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        };
        Some(format!(
            "the SANs changed (added: {}; removed: {})",
            list(wanted.difference(&have).collect()),
            list(have.difference(&wanted).collect()),
        ))
    };
    let issue = |ca: &Ca, key: &KeyPair| issue(ca, key, sans);
    let spec = LeafSpec {
        what: "serving certificate",
        stem: STEM,
        stale: &stale,
        issue: &issue,
    };
    leaf::load_or_issue(dir, ca, &spec)
}

fn issue(ca: &Ca, key: &KeyPair, sans: &[San]) -> Result<Vec<u8>, PkiError> {
    const WHAT: &str = "serving certificate";
    let (not_before, not_after) = validity::window(LEAF_VALIDITY)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    for san in sans {
        params.subject_alt_names.push(match san {
            San::Dns(name) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(|e| PkiError::issue(WHAT, e))?,
            ),
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Other(_) => continue,
        });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random::serial_number()?);
    params.not_before = not_before;
    params.not_after = not_after;
    ca.sign(&params, key).map_err(|e| PkiError::issue(WHAT, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_sans_hold_fixed_names_host_and_extras_once() {
        let extra = [
            "10.0.0.5".to_string(),
            "Board.Example".to_string(),
            "localhost".to_string(),
        ];
        let sans = wanted_sans(&extra, Some("Pi-One\n")).unwrap();
        let text: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            text,
            [
                "DNS:localhost",
                "IP:127.0.0.1",
                "IP:::1",
                "DNS:pi-one",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
                "IP:10.0.0.5",
                "DNS:board.example",
            ]
        );
    }

    #[test]
    fn odd_host_names_are_skipped_and_bad_sans_rejected() {
        let sans = wanted_sans(&[], Some("under_score")).unwrap();
        assert!(!sans.contains(&San::Dns("under_score".into())));
        assert_eq!(wanted_sans(&[], None).unwrap().len(), 7);

        for bad in ["", "a b", "-a.example", "a..b", "[::1]", "x.*"] {
            let err = wanted_sans(&[bad.to_string()], None).unwrap_err();
            assert!(matches!(err, PkiError::InvalidSan { .. }), "{bad:?}: {err}");
        }
        assert_eq!(
            parse_san("*.example.com").unwrap(),
            San::Dns("*.example.com".into())
        );
        assert_eq!(
            parse_san(" fd00::1 ").unwrap(),
            San::Ip("fd00::1".parse().unwrap())
        );
    }
}
