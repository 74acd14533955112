//! The crate's errors.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong with a container log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation, such as `open`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A `pods/log` query parameter that kube would refuse.
    #[error("invalid query parameter {name}={value:?}: {reason}")]
    InvalidParameter {
        /// The parameter, such as `tailLines`.
        name: String,
        /// Its value as given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| Error::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;
