//! The crate's error type: each variant names the file, digest, reference or field at fault.

use std::path::PathBuf;

use crate::digest::Digest;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A reference that does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A digest that does not parse.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest {
        /// The digest as given.
        digest: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A platform that does not parse as `os/arch[/variant]`.
    #[error("invalid platform {platform:?}: expected os/arch[/variant]")]
    InvalidPlatform {
        /// The platform as given.
        platform: String,
    },
    /// Content whose digest is not the one expected: refused, nothing stored.
    #[error("digest mismatch for {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// What was checked (`layer sha256:… of docker.io/library/busybox:latest`).
        what: String,
        /// The digest the manifest (or reference) promised.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },
    /// Content whose size is not the one its descriptor declares.
    #[error("size mismatch for {what} {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// What was checked.
        what: String,
        /// Its digest.
        digest: Digest,
        /// The descriptor's size.
        expected: u64,
        /// The bytes received.
        actual: u64,
    },
    /// A manifest or index that cannot be used.
    #[error("invalid manifest {digest}: {reason}")]
    InvalidManifest {
        /// Its digest.
        digest: Digest,
        /// Why.
        reason: String,
    },
    /// An image config that cannot be used.
    #[error("invalid image config {digest}: {reason}")]
    InvalidConfig {
        /// Its digest.
        digest: Digest,
        /// Why.
        reason: String,
    },
    /// A media type the store does not handle.
    #[error("unsupported media type {media_type:?} for {what}")]
    UnsupportedMediaType {
        /// The document or blob.
        what: String,
        /// Its media type.
        media_type: String,
    },
    /// An index with no manifest for the platform.
    #[error("no manifest for platform {platform} in {reference} (it has: {available})")]
    NoMatchingPlatform {
        /// The reference pulled or imported.
        reference: String,
        /// The platform wanted.
        platform: String,
        /// The platforms the index offers, comma-separated.
        available: String,
    },
    /// A registry answered 401 or 403: no or wrong credentials.
    #[error("{status} from {endpoint} for {reference}: {message}")]
    Unauthorized {
        /// `401 Unauthorized` or `403 Forbidden`.
        status: String,
        /// The endpoint asked.
        endpoint: String,
        /// The reference pulled.
        reference: String,
        /// The registry's words, or how authentication failed.
        message: String,
    },
    /// A registry is unreachable or answered with an error.
    #[error("registry {endpoint} for {reference}: {message}")]
    Registry {
        /// The endpoint asked.
        endpoint: String,
        /// The reference pulled.
        reference: String,
        /// What went wrong.
        message: String,
    },
    /// Every endpoint (mirrors, then the registry) failed; one line each.
    #[error("pulling {reference} failed on every endpoint: {}", .attempts.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllEndpointsFailed {
        /// The reference pulled.
        reference: String,
        /// Each endpoint's error, in the order tried.
        attempts: Vec<Error>,
    },
    /// No local image matches a reference.
    #[error("image {reference:?} not found in the store")]
    NotFound {
        /// The reference as given.
        reference: String,
    },
    /// An image is absent and the pull policy is `Never` (kubelet's `ErrImageNeverPull`).
    #[error("image {reference:?} is not present and the pull policy is Never")]
    NeverPull {
        /// The reference.
        reference: String,
    },
    /// A short ID that matches several images.
    #[error("image ID prefix {prefix:?} is ambiguous: {}", .candidates.join(", "))]
    Ambiguous {
        /// The prefix as given.
        prefix: String,
        /// The images it matches.
        candidates: Vec<String>,
    },
    /// A blob the store's metadata names is missing or damaged.
    #[error("blob {digest} is missing from the store ({path})")]
    MissingBlob {
        /// Its digest.
        digest: Digest,
        /// Where it should be.
        path: PathBuf,
    },
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`writing`, `renaming to`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A metadata file of the store that does not parse.
    #[error("corrupt store file {path}: {reason}")]
    CorruptStore {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A registries.yaml that does not parse or holds a wrong value.
    #[error("{path}: {message}")]
    RegistriesConfig {
        /// The file.
        path: PathBuf,
        /// What is wrong, starting with the field (`mirrors."docker.io".endpoint[0]: …`).
        message: String,
    },
    /// Docker config JSON (an imagePullSecret) that does not parse.
    #[error("{source_name}: {field}: {message}")]
    DockerConfig {
        /// Where it came from (`secret default/regcred`, or the data key).
        source_name: String,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// An image archive that cannot be imported.
    #[error("image archive {path}: {reason}")]
    Archive {
        /// The archive.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A task of the pull failed to run to completion.
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }

    /// Whether this error (or, for a failed pull, any endpoint's) is a 401/403.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Error::Unauthorized { .. } => true,
            Error::AllEndpointsFailed { attempts, .. } => {
                attempts.iter().any(Error::is_unauthorized)
            }
            _ => false,
        }
    }
}
