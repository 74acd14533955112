//! kmicro's state store: a revisioned key-value store with etcd v3 semantics.
//!
//! The [`Store`] trait is the whole contract. It is defined by behaviour, the behaviour etcd has
//! and kube-apiserver relies on:
//!
//! - one global revision; every write (put or delete) advances it by one, and each key carries
//!   its `create_revision`, `mod_revision` and `version`;
//! - [`Store::range`] reads a key, a prefix or a key range, with a limit, count-only, and at a
//!   past revision while that revision is not compacted;
//! - [`Store::txn`] compares and then writes atomically (create-if-absent, update-if-revision,
//!   delete-if-revision), answering the current value when a compare fails;
//! - [`Store::watch`] streams events from any retained revision, in revision order, without
//!   gaps; a watch from a compacted revision fails with [`StoreError::Compacted`];
//! - [`Store::compact`] drops history older than a revision; leases expire keys after a TTL.
//!
//! Backends: [`RedbStore`] (embedded, the default) and, with the `etcd` feature, [`EtcdStore`].
//! Every backend passes the same conformance suite (`tests/conformance`).

mod compactor;
mod error;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod redb;
mod store;
mod types;
mod watch_hub;

pub use compactor::{CompactionPolicy, compact_once, spawn_compactor};
pub use error::StoreError;
#[cfg(feature = "etcd")]
pub use etcd::EtcdStore;
pub use redb::{RedbConfig, RedbStats, RedbStore};
pub use store::{Store, WatchStream};
pub use types::*;

/// Result type of every store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
