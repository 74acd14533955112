//! The embedded backend: one redb file under the data dir.

use std::path::PathBuf;

/// Settings of a [`RedbStore`].
#[derive(Clone, Debug)]
pub struct RedbConfig {
    /// The database file.
    pub path: PathBuf,
    /// Bytes of page cache redb may use.
    pub cache_size: usize,
}

/// The embedded store.
pub struct RedbStore {}
