//! The etcd v3 backend.

/// A store backed by an etcd cluster.
pub struct EtcdStore {}
