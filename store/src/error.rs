//! The store's error type.

use std::path::PathBuf;

use crate::types::{LeaseId, Revision};

/// Everything a store operation can fail with.
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// The requested revision has been compacted away (the API answers 410 Gone).
    #[error(
        "revision {requested} has been compacted; the oldest retained revision is {compact_revision}"
    )]
    Compacted {
        /// The revision asked for.
        requested: Revision,
        /// The store's compact revision.
        compact_revision: Revision,
    },
    /// The requested revision is newer than the store's current revision.
    #[error("revision {requested} is in the future; the current revision is {current}")]
    FutureRevision {
        /// The revision asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// A put or keep-alive named a lease that does not exist (or has expired).
    #[error("lease {0} not found")]
    LeaseNotFound(LeaseId),
    /// The request is malformed (an empty key, a duplicate key in one transaction, a bad TTL).
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    /// The watch was cancelled by the store (it fell too far behind); re-list and watch again.
    #[error("watch cancelled: {0}")]
    WatchCancelled(String),
    /// The file at `path` is not a kmicro store, or is damaged.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process has the store open.
    #[error("{path}: the store is in use by another process")]
    Locked {
        /// The store file.
        path: PathBuf,
    },
    /// The backend failed (I/O, the database engine, the network to etcd).
    #[error("{context}: {message}")]
    Backend {
        /// What the store was doing.
        context: &'static str,
        /// The backend's error, as text.
        message: String,
    },
    /// The store has been closed.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A backend failure while doing `context`.
    pub fn backend(context: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Backend {
            context,
            message: err.to_string(),
        }
    }
}
