//! The service-account token key: an ECDSA P-256 key that signs service-account tokens as
//! ES256 JSON Web Tokens (`header.claims.signature`, each base64url without padding), and
//! verifies them. It lives in `service-account.key` (PKCS#8 PEM, `0600`) beside the CAs,
//! created on first start and never replaced, so tokens survive restarts.
//!
//! This module knows the JWT framing and the cryptography; what the claims mean (issuer,
//! audiences, expiry, the service account) is the API server's business.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};

use crate::files::{self, PRIVATE};
use crate::{PkiError, ca};

/// The key file's name in the PKI directory.
pub const KEY_FILE: &str = "service-account.key";

/// The loaded signing key.
pub struct ServiceAccountKey {
    path: PathBuf,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    key_id: String,
    /// `{"alg":"ES256","kid":…}`, base64url: the same for every token.
    header: String,
}

impl ServiceAccountKey {
    /// Loads `<dir>/service-account.key`, creating it (atomically, `0600`) when missing. A
    /// file that is not a P-256 PKCS#8 key is an error naming it.
    pub fn load_or_create(dir: &Path) -> Result<Self, PkiError> {
        let path = dir.join(KEY_FILE);
        let pem = match files::read_optional(&path)? {
            Some(pem) => pem,
            None => {
                let pem = ca::generate_key("service-account key")?.serialize_pem();
                files::create_dirs(dir, 0o700)?;
                files::write_atomic(&path, pem.as_bytes(), PRIVATE)?;
                tracing::info!(path = %path.display(), "created the service-account token key");
                pem
            }
        };
        let der = crate::decode::key_from_pem(&path, &pem)?.serialize_der();
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng).map_err(
            |e| PkiError::invalid_file(&path, format!("is not an ECDSA P-256 key ({e})")),
        )?;
        // kube names keys by the SHA-256 of the public key; its first 20 bytes are plenty.
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let key_id = B64.encode(&digest.as_ref()[..20]);
        let header = B64.encode(format!(r#"{{"alg":"ES256","kid":"{key_id}"}}"#));
        Ok(Self {
            path,
            key,
            rng,
            key_id,
            header,
        })
    }

    /// The key id (`kid`) tokens carry in their header.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A signed token carrying `claims` (a JSON object, as bytes).
    pub fn sign(&self, claims: &[u8]) -> Result<String, PkiError> {
        let signing_input = format!("{}.{}", self.header, B64.encode(claims));
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| PkiError::issue("service-account token", "signing failed"))?;
        Ok(format!(
            "{signing_input}.{}",
            B64.encode(signature.as_ref())
        ))
    }

    /// The claims of `token` (JSON bytes) when this key signed it; `None` for anything else
    /// (another key, another algorithm, a bad signature, not a JWT at all).
    pub fn verify(&self, token: &str) -> Option<Vec<u8>> {
        let mut parts = token.split('.');
        let (header, claims, signature) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || header != self.header {
            return None;
        }
        let signature = B64.decode(signature).ok()?;
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key());
        let signed = &token[..header.len() + 1 + claims.len()];
        public.verify(signed.as_bytes(), &signature).ok()?;
        B64.decode(claims).ok()
    }
}

/// Whether `token` has the shape of a JWT (three dot-separated base64url parts), to tell
/// it from a static token without trying to verify it.
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("path", &self.path)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_with_the_key_that_signed_them_only() {
        let dir = tempfile::tempdir().unwrap();
        let key = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        let token = key.sign(br#"{"sub":"x"}"#).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(key.verify(&token).unwrap(), br#"{"sub":"x"}"#);

        // The same file gives the same key; another directory another key.
        let again = ServiceAccountKey::load_or_create(dir.path()).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        assert!(again.verify(&token).is_some());
        let other_dir = tempfile::tempdir().unwrap();
        let other = ServiceAccountKey::load_or_create(other_dir.path()).unwrap();
        assert!(other.verify(&token).is_none());

        // Tampered claims or signature fail.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = B64.encode(br#"{"sub":"y"}"#);
        assert!(key.verify(&parts.join(".")).is_none());
        assert!(key.verify("a.b").is_none());
        assert!(key.verify("not a token").is_none());
        assert!(!looks_like_jwt("abc123"));
    }

    #[test]
    fn the_key_file_is_private_and_a_bad_one_is_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        ServiceAccountKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "garbage").unwrap();
        let err = ServiceAccountKey::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains(KEY_FILE), "{err}");
    }
}
