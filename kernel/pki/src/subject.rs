//! Client certificate subjects with several organizations.
//!
//! Kubernetes maps each `O` of a client certificate's subject to a group, so a user in two
//! groups needs two `O` attributes. rcgen 0.14 keeps at most one value per attribute type
//! (rustls/rcgen#81), so client certificates are signed through [`SubjectRewriter`]: rcgen
//! builds the to-be-signed certificate as usual (serial, validity, key, extensions), the
//! rewriter swaps its subject for one encoded here and signs that, and [`assemble`] puts the
//! rewritten part together with rcgen's signature algorithm and the signature.
//!
//! Only the minimum of DER is handled: definite lengths, single-byte tags.

use std::cell::RefCell;

use rcgen::{KeyPair, PublicKeyData, SignatureAlgorithm, SigningKey};

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const CONTEXT_0: u8 = 0xa0;
/// id-at-organizationName, 2.5.4.10.
const OID_ORGANIZATION: [u8; 3] = [0x55, 0x04, 0x0a];
/// id-at-commonName, 2.5.4.3.
const OID_COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];

/// The DER `Name` `O=<group>, ..., CN=<user>` (one attribute per RDN, in Go's order).
pub(crate) fn encode_name(user: &str, groups: &[&str]) -> Vec<u8> {
    let rdn = |oid: &[u8], value: &str| {
        let attr = [tlv(OID, oid), tlv(UTF8_STRING, value.as_bytes())].concat();
        tlv(SET, &tlv(SEQUENCE, &attr))
    };
    let mut rdns: Vec<u8> = groups
        .iter()
        .flat_map(|g| rdn(&OID_ORGANIZATION, g))
        .collect();
    rdns.extend(rdn(&OID_COMMON_NAME, user));
    tlv(SEQUENCE, &rdns)
}

/// A signing key that replaces the subject of what it signs and remembers the result.
pub(crate) struct SubjectRewriter<'a> {
    key: &'a KeyPair,
    subject: &'a [u8],
    signed: RefCell<Option<Vec<u8>>>,
}

impl<'a> SubjectRewriter<'a> {
    /// Signs with `key`, putting `subject` (a DER `Name`) in place of the subject.
    pub(crate) fn new(key: &'a KeyPair, subject: &'a [u8]) -> Self {
        SubjectRewriter {
            key,
            subject,
            signed: RefCell::new(None),
        }
    }

    /// The rewritten to-be-signed certificate, once something has been signed.
    pub(crate) fn take_signed(&self) -> Option<Vec<u8>> {
        self.signed.borrow_mut().take()
    }
}

impl PublicKeyData for SubjectRewriter<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key.der_bytes()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        PublicKeyData::algorithm(self.key)
    }
}

impl SigningKey for SubjectRewriter<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let tbs = replace_subject(msg, self.subject)
            .ok_or_else(|| rcgen::Error::X509("unexpected to-be-signed certificate".into()))?;
        let signature = self.key.sign(&tbs)?;
        *self.signed.borrow_mut() = Some(tbs);
        Ok(signature)
    }
}

/// The certificate `cert` (as built by rcgen) with its to-be-signed part replaced by `tbs`,
/// keeping its signature algorithm and signature (which were computed over `tbs`).
pub(crate) fn assemble(cert: &[u8], tbs: &[u8]) -> Option<Vec<u8>> {
    let (tag, content, rest) = split_tlv(cert)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (_, _, after_tbs) = split_tlv(content)?;
    Some(tlv(SEQUENCE, &[tbs, after_tbs].concat()))
}

/// `tbs` (a DER TBSCertificate) with its subject replaced by `subject`.
fn replace_subject(tbs: &[u8], subject: &[u8]) -> Option<Vec<u8>> {
    let (tag, content, rest) = split_tlv(tbs)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    // version [0] (optional), serialNumber, signature, issuer, validity, subject, ...
    let mut cursor = content;
    let (first, _, after_first) = split_tlv(cursor)?;
    if first == CONTEXT_0 {
        cursor = after_first;
    }
    for _ in 0..4 {
        cursor = split_tlv(cursor)?.2;
    }
    let (subject_tag, _, after_subject) = split_tlv(cursor)?;
    if subject_tag != SEQUENCE {
        return None;
    }
    let start = content.len() - cursor.len();
    let end = content.len() - after_subject.len();
    Some(tlv(
        SEQUENCE,
        &[&content[..start], subject, &content[end..]].concat(),
    ))
}

/// Splits one DER element off `input`: `(tag, content, rest)`.
fn split_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags are not used in certificates
    }
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || input.len() < n {
            return None; // indefinite or absurd lengths
        }
        let (bytes, after) = input.split_at(n);
        input = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if input.len() < len {
        return None;
    }
    let (content, rest) = input.split_at(len);
    Some((tag, content, rest))
}

/// One DER element.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let content = vec![7u8; len];
            let element = tlv(SEQUENCE, &content);
            let (tag, parsed, rest) = split_tlv(&element).unwrap();
            assert_eq!((tag, parsed.len(), rest.len()), (SEQUENCE, len, 0));
        }
    }

    #[test]
    fn truncated_or_odd_input_is_rejected() {
        assert!(split_tlv(&[]).is_none());
        assert!(split_tlv(&[0x30]).is_none());
        assert!(split_tlv(&[0x30, 0x05, 1]).is_none());
        assert!(split_tlv(&[0x30, 0x80]).is_none());
        assert!(split_tlv(&[0x1f, 0x01, 0x00]).is_none());
        assert!(replace_subject(&[0x30, 0x00], &[0x30, 0x00]).is_none());
        assert!(assemble(&[0x02, 0x01, 0x00], &[]).is_none());
    }

    #[test]
    fn name_with_several_organizations_parses() {
        let der = encode_name("alice", &["dev", "ops"]);
        let (rest, name) = <x509_parser::x509::X509Name as x509_parser::prelude::FromDer<
            x509_parser::error::X509Error,
        >>::from_der(&der)
        .unwrap();
        assert!(rest.is_empty());
        let orgs: Vec<_> = name
            .iter_organization()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(orgs, ["dev", "ops"]);
        let cn = name.iter_common_name().next().unwrap().as_str().unwrap();
        assert_eq!(cn, "alice");
    }
}
