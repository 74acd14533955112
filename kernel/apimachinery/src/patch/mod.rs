//! Patch formats whose semantics depend on the schema, applied to JSON objects with no I/O.
//!
//! - [`strategic`]: strategic merge patch (`application/strategic-merge-patch+json`), where the
//!   schema's patch metadata decides how lists combine.
//!
//! JSON merge patch (RFC 7386) and JSON patch (RFC 6902) need no schema; the API server applies
//! them with the `json-patch` crate.

pub mod strategic;
