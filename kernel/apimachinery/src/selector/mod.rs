//! Label and field selectors, as kube-apiserver parses, validates and matches them.
//!
//! - [`LabelSelector`]: the `labelSelector` query parameter (`app=web,tier in (a,b)`) and the
//!   `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`) found in specs.
//! - [`FieldSelector`]: the `fieldSelector` query parameter (`spec.nodeName=n1`), checked
//!   against the fields each resource lets clients select on.
//! - [`field_value`]: the value one such field has in one object.
//!
//! Errors carry kube-apiserver's own wording, so the API server answers them as a 400
//! BadRequest whose message is the error's `Display`.

mod field;
mod label;

pub use field::{FieldSelector, field_value, supported_fields};
pub use label::{LabelSelector, Operator, Requirement};

/// Why a selector was refused. Each message is the one kube-apiserver gives for the same
/// input; the API server answers every variant with 400 BadRequest and this message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A label selector (string or `metav1.LabelSelector` object) that does not parse, or
    /// whose keys, values or operators are invalid, e.g.
    /// `unable to parse requirement: found '', expected: identifier`.
    #[error("{0}")]
    InvalidLabelSelector(String),
    /// A field selector string that does not parse, e.g.
    /// `invalid selector: 'a'; can't understand 'a'`.
    #[error("{0}")]
    InvalidFieldSelector(String),
    /// A field the resource does not let clients select on, e.g.
    /// `field label not supported: spec.foo`.
    #[error("{message}")]
    UnsupportedField {
        /// The field as the client wrote it.
        field: String,
        /// kube-apiserver's message, whose wording depends on the resource.
        message: String,
    },
}
