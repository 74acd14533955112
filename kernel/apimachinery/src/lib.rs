//! Kubernetes API semantics with no I/O: what the API server needs to know about objects, kept
//! apart from HTTP and storage so it is testable on its own and reusable by modules.
//!
//! - [`registry`]: the resources served and their properties; [`intern`]: resources described
//!   at run time (custom resources) made `&'static` like the built-in ones;
//! - [`crd`]: CustomResourceDefinitions — custom resource schemas (pruning, defaulting,
//!   validation), names and conditions, printer columns;
//! - [`selector`]: label and field selectors;
//! - [`table`]: server-side printing (`kubectl get` columns);
//! - [`module`]: the `Module` kind (kmicro's own), its types and value formats;
//! - [`rules`]: per-kind decoding, defaulting and validation;
//! - [`rbac`]: RBAC semantics: rule matching, subjects, aggregation, the bootstrap policy;
//! - [`schema`]: structural schemas (fields, list and map types, patch metadata);
//! - [`apply`]: server-side apply and managedFields over those schemas;
//! - [`patch`]: strategic merge patch, driven by those schemas;
//! - [`field_validation`]: unknown and duplicate fields (`fieldValidation`), by those schemas;
//! - [`status`]: `Status` causes shared by validation and the API server;
//! - [`admission`]: the default admission plugins that need only the object
//!   (DefaultTolerationSeconds);
//! - [`quantity`]: resource quantities (`100Mi`, `500m`) read as kube reads them.
//!
//! This crate never performs I/O and never depends on the store or the HTTP stack.

pub mod admission;
pub mod apply;
pub mod convert;
pub mod crd;
pub mod duration;
pub mod field_validation;
mod gofmt;
pub mod intern;
pub mod module;
pub mod names;
pub mod patch;
pub mod quantity;
pub mod rbac;
pub mod registry;
pub mod rules;
pub mod schema;
pub mod selector;
pub mod status;
pub mod table;
mod text;
