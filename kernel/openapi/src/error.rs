//! Why a document could not be generated.

use crate::embedded::DataError;

/// A document could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The embedded data is unreadable (a build defect).
    #[error(transparent)]
    Data(#[from] DataError),
    /// A served resource's kind has no schema (a custom resource without its extra schema).
    #[error("no schema describes kind {kind} of {group_version}")]
    MissingKind {
        /// `group/version` (`v1` for core).
        group_version: String,
        /// The kind.
        kind: String,
    },
    /// A schema the documents need is absent: a reference (or a fixed schema such as
    /// `Status`) names a schema nobody supplied.
    #[error("schema {to} is referenced by {from} but not defined")]
    Dangling {
        /// The referencing schema, or the operation for fixed schemas.
        from: String,
        /// The missing schema.
        to: String,
    },
    /// Serializing or compressing a document failed.
    #[error("writing a document: {0}")]
    Io(#[from] std::io::Error),
}
