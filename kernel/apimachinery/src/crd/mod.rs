//! CustomResourceDefinitions without I/O: what kube-apiserver's apiextensions part decides.
//!
//! - [`schema`]: a version's `openAPIV3Schema` compiled to prune, default and validate custom
//!   resources;
//! - `structural`: the rules a definition's schemas must follow (used by the definition's
//!   validation in `rules`);
//! - [`names`]: accepted names and the `NamesAccepted` / `Established` / `Terminating`
//!   conditions;
//! - [`CustomResource`]: one served version, what create and update do to its objects, and
//!   its OpenAPI definitions (`openapi`);
//! - [`jsonpath`]: the JSONPath of printer columns; [`version`]: kube-aware version order.

pub mod jsonpath;
pub mod names;
mod openapi;
mod resource;
pub mod schema;
pub(crate) mod structural;
pub mod version;

pub use resource::{CustomResource, ScalePaths, simple_path};

#[cfg(test)]
mod tests;
