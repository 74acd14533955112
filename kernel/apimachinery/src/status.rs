//! The pieces of a Kubernetes `Status` that validation produces.

use serde::Serialize;

/// One reason a request was invalid, pointing at a field (a `StatusCause`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueDuplicate`, `FieldValueForbidden`, `FieldValueTooLong`, `FieldValueTypeInvalid`.
    pub reason: String,
    /// What is wrong, as kube-apiserver words it.
    pub message: String,
    /// The field path (`metadata.name`, `spec.containers[0].image`).
    pub field: String,
}

impl Cause {
    /// A cause with the given reason.
    pub fn new(reason: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            reason: reason.to_string(),
            message: message.into(),
            field: field.into(),
        }
    }

    /// `FieldValueRequired`: "Required value".
    pub fn required(field: impl Into<String>) -> Self {
        Self::new("FieldValueRequired", field, "Required value")
    }

    /// `FieldValueInvalid` for `value`, with kube-apiserver's message shape:
    /// `Invalid value: "VALUE": DETAIL`.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        Self::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {value:?}: {detail}"),
        )
    }
}
