//! SHA-256 digests: parsing `sha256:<hex>`, chain IDs, and hashing while reading.

use std::fmt;
use std::io::{self, Read};

use crate::error::{Error, Result};

/// A validated `sha256:<64 lowercase hex digits>` digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:<hex>`; other algorithms and malformed values are refused.
    pub fn parse(value: &str) -> Result<Digest> {
        let invalid = |reason| Error::InvalidDigest {
            value: value.to_owned(),
            reason,
        };
        let hex = value
            .strip_prefix("sha256:")
            .ok_or_else(|| invalid("only sha256 digests are supported"))?;
        Digest::from_hex(hex).ok_or_else(|| invalid("expected 64 lowercase hex digits"))
    }

    /// Accepts exactly 64 lowercase hex digits (the form used as a directory name).
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let valid = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| Digest {
            hex: hex.to_owned(),
        })
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest::from_ring(ring::digest::digest(&ring::digest::SHA256, data))
    }

    fn from_ring(digest: ring::digest::Digest) -> Digest {
        let mut hex = String::with_capacity(64);
        for byte in digest.as_ref() {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Digest { hex }
    }

    /// The 64 hex digits without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// The OCI chain IDs of a stack of layers given by their `diff_id`s, bottom layer first:
/// the first is its `diff_id`, each next one `sha256(parent_chain_id + " " + diff_id)`.
pub fn chain_ids<S: AsRef<str>>(diff_ids: &[S]) -> Result<Vec<Digest>> {
    let mut chain: Vec<Digest> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let diff_id = Digest::parse(diff_id.as_ref())?;
        let next = match chain.last() {
            None => diff_id,
            Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
        };
        chain.push(next);
    }
    Ok(chain)
}

/// A reader that hashes everything read through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    context: ring::digest::Context,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            context: ring::digest::Context::new(&ring::digest::SHA256),
            bytes: 0,
        }
    }

    /// Reads the rest of the stream and returns its digest and total length.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest::from_ring(self.context.finish()), self.bytes))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.context.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_sha256_only() {
        let hex = "a".repeat(64);
        assert_eq!(Digest::parse(&format!("sha256:{hex}")).unwrap().hex(), hex);
        assert!(Digest::parse(&format!("sha512:{hex}")).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_err());
        assert!(Digest::parse(&format!("sha256:{}", "a".repeat(63))).is_err());
        assert!(Digest::parse(&hex).is_err());
    }

    #[test]
    fn chain_ids_follow_the_oci_definition() {
        // The second value is `printf '%s' "<first> <second diff_id>" | sha256sum`.
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let other = format!("sha256:{}", "1".repeat(64));
        let chain = chain_ids(&[empty, other.as_str()]).unwrap();
        assert_eq!(chain[0].to_string(), empty);
        assert_eq!(
            chain[1].hex(),
            "e7486ba2a6140e62ca8e047608b5f6a565fb2ee47a58eb78287dace553278ed3"
        );
        assert_eq!(Digest::of(b"").to_string(), empty);
        assert!(chain_ids(&["sha256:nothex"]).is_err());
    }

    #[test]
    fn hashing_reader_hashes_to_the_end() {
        let mut reader = HashingReader::new(&b"hello world"[..]);
        let mut first = [0u8; 5];
        reader.read_exact(&mut first).unwrap();
        let (digest, len) = reader.finish().unwrap();
        assert_eq!(len, 11);
        assert_eq!(digest, Digest::of(b"hello world"));
    }
}
