//! The PKI's error type.

use std::io;
use std::path::PathBuf;

/// Everything the PKI can fail with. Variants about files name the file.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Reading, writing or creating a file or directory failed.
    #[error("{}: cannot {action}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done ("read", "write", "create directory", ...).
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A file exists but its contents are unusable (not PEM, not a certificate, a key that
    /// does not match its certificate, a missing CA key, ...).
    #[error("{}: {reason}", path.display())]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A line of a static token file is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    InvalidTokenLine {
        /// The token file.
        path: PathBuf,
        /// The line number, counting from 1.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A configured TLS SAN is neither an IP address nor a valid DNS name.
    #[error("invalid TLS SAN {san:?}: {reason}")]
    InvalidSan {
        /// The SAN as configured.
        san: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An argument is unusable (an empty user name, a zero validity, a bad file mode, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Generating a key or signing a certificate failed.
    #[error("cannot issue the {what}: {reason}")]
    Issue {
        /// Which certificate or key.
        what: String,
        /// The underlying error, as text.
        reason: String,
    },
    /// A certificate handed to [`crate::identity_from_cert`] is unusable.
    #[error("invalid client certificate: {0}")]
    InvalidCertificate(String),
    /// Building the rustls configuration failed.
    #[error("cannot build the TLS configuration: {0}")]
    Tls(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl PkiError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: io::Error) -> Self {
        PkiError::Io {
            path: path.into(),
            action,
            source,
        }
    }

    pub(crate) fn invalid_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        PkiError::InvalidFile {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn issue(what: impl Into<String>, reason: impl ToString) -> Self {
        PkiError::Issue {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}
