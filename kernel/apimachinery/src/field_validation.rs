//! Field validation (the `fieldValidation=Strict|Warn|Ignore` query parameter): the fields an
//! object's schema does not know and the keys a JSON body repeats, found the way
//! kube-apiserver's strict decoding finds them, with its paths (`spec.containers[0].imagePullPolicyy`)
//! and words (`unknown field "spec.foo"`, `duplicate field "metadata.name"`).
//!
//! - [`check_json`] reads a JSON body once, in document order, and reports both kinds of
//!   problem (what kube's strict decoder reports for a create or update body; without a schema,
//!   only repeated keys, as for a merge or strategic patch body);
//! - [`prune_unknown`] removes unknown fields from a decoded object and reports them (what a
//!   patched object needs, and what keeps unknown fields out of storage whatever the directive).

mod check;
mod prune;

use std::fmt;

pub use check::check_json;
pub use prune::prune_unknown;

use serde_json::Value;

use crate::gofmt::value as go_value;
use crate::status::Cause;
use crate::text::go_quote;

/// What a write does about unknown and duplicate fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and tell the client, one warning each (kube-apiserver's default).
    #[default]
    Warn,
    /// Refuse the write.
    Strict,
}

impl FieldValidation {
    /// Reads the `fieldValidation` query parameter; `""` (or absent) is [`Self::Warn`]. Any
    /// other value is kube's `FieldValueNotSupported` cause on the `fieldValidation` field,
    /// which the caller reports as `<Verb>Options.meta.k8s.io "" is invalid` (422).
    pub fn parse(value: &str) -> Result<Self, Cause> {
        match value {
            "" | "Warn" => Ok(Self::Warn),
            "Ignore" => Ok(Self::Ignore),
            "Strict" => Ok(Self::Strict),
            other => Err(Cause::new(
                "FieldValueNotSupported",
                "fieldValidation",
                format!(
                    "Unsupported value: {}: supported values: \"\", \"Ignore\", \"Strict\", \"Warn\"",
                    go_quote(other)
                ),
            )),
        }
    }
}

/// One problem strict decoding finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// A field the schema does not have, by its path.
    Unknown(String),
    /// A key given again in the same JSON object, by its path.
    Duplicate(String),
}

impl fmt::Display for FieldProblem {
    /// kube's words: `unknown field "spec.foo"`, `duplicate field "metadata.name"`; each is
    /// also the text of one warning under [`FieldValidation::Warn`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(path) => write!(f, "unknown field {}", go_quote(path)),
            Self::Duplicate(path) => write!(f, "duplicate field {}", go_quote(path)),
        }
    }
}

/// kube's strict decoding error for some problems: `strict decoding error: unknown field
/// "spec.foo", duplicate field "x"`.
pub fn strict_decoding_error(problems: &[FieldProblem]) -> String {
    let listed: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!("strict decoding error: {}", listed.join(", "))
}

/// What kube shows of a patch it refuses under [`FieldValidation::Strict`].
#[derive(Clone, Copy, Debug)]
pub enum ShownPatch<'a> {
    /// A JSON or merge patch: the patched object (unknown fields included), as JSON.
    Result(&'a Value),
    /// A strategic merge patch: the patch, as Go prints a map (`map[spec:map[foo:1]]`).
    Strategic(&'a Value),
}

/// The cause of kube's 422 for a patch refused under [`FieldValidation::Strict`]: field
/// `patch`, `Invalid value: "<shown>": strict decoding error: …`. (The whole error reads
/// ` "" is invalid: patch: Invalid value: …`, kind and name empty.)
pub fn strict_patch_cause(shown: ShownPatch<'_>, problems: &[FieldProblem]) -> Cause {
    let shown = match shown {
        ShownPatch::Result(patched) => patched.to_string(),
        ShownPatch::Strategic(patch) => go_value(patch),
    };
    Cause::new(
        "FieldValueInvalid",
        "patch",
        format!(
            "Invalid value: {}: {}",
            go_quote(&shown),
            strict_decoding_error(problems)
        ),
    )
}

/// Appends `key` to a dotted field path.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Appends a list index to a field path.
fn push_index(path: &mut String, index: usize) {
    use std::fmt::Write as _;
    let _ = write!(path, "[{index}]");
}

#[cfg(test)]
mod tests;
