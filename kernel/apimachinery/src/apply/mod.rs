//! Server-side apply and managedFields, as kube's structured-merge-diff does them, over the
//! structural schemas of [`crate::schema`]:
//!
//! - [`path`]: path elements and their `fieldsV1` and message forms;
//! - [`set`]: sets of fields (who owns what) and the `fieldsV1` encoding;
//! - [`fields`]: the fields a configuration sets, and what changed between two objects;
//! - [`merge`]: merging a configuration into an object, removing fields;
//! - [`managed`]: `metadata.managedFields` entries, manager names;
//! - [`operation`]: what an update records and what an apply does, conflicts included.
//!
//! A kind without a schema (custom resources until their CRD schemas are registered) is
//! handled with [`SchemaSet::any`](crate::schema::SchemaSet::any): every object a granular
//! map, every list atomic. Registering a CRD's schema with
//! [`SchemaSet::add_kind`](crate::schema::SchemaSet::add_kind) is all it takes to merge its
//! lists by their keys.
//!
//! Pure: no I/O, no clock (the caller passes the time).

pub mod fields;
pub mod managed;
pub mod merge;
pub mod operation;
pub mod path;
pub mod set;
mod typed;

pub use managed::{ManagedFields, Manager, Operation, check_manager_name, manager_from_user_agent};
pub use operation::{ApplyError, Conflict, Scope, Write, apply, conflict_message, record_update};

#[cfg(test)]
pub(crate) mod tests;
