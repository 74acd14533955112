//! Field paths, the causes validation reports, and kube's semantic equality.

use crate::text::go_quote;
use std::fmt;

use serde::Serialize;

use crate::status::Cause;

/// A field path as kube prints it: `spec.containers[0].image`, `data[key]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(String);

impl Path {
    /// The empty path: the object itself.
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    /// A top-level field.
    pub(crate) fn new(name: &str) -> Self {
        Self(name.to_string())
    }

    /// A field of this one (`spec` → `spec.containers`).
    pub(crate) fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_string())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// An element of this list (`containers` → `containers[0]`).
    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// An entry of this map (`data` → `data[key]`).
    pub(crate) fn key(&self, k: &str) -> Self {
        Self(format!("{}[{k}]", self.0))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bad value, rendered the way kube's field errors print it: strings quoted like Go's `%q`,
/// numbers and booleans bare, anything else as JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bad(String);

impl Bad {
    /// A structured value, printed as compact JSON.
    pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        Self(serde_json::to_string(value).unwrap_or_else(|_| "null".to_string()))
    }
}

impl Bad {
    /// A value already rendered the way kube prints it (Go's `%#v` of a struct or slice).
    pub(crate) fn rendered(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for Bad {
    fn from(s: &str) -> Self {
        Self(go_quote(s))
    }
}

impl From<&String> for Bad {
    fn from(s: &String) -> Self {
        Self(go_quote(s))
    }
}

impl From<String> for Bad {
    fn from(s: String) -> Self {
        Self(go_quote(&s))
    }
}

impl From<Option<&str>> for Bad {
    fn from(s: Option<&str>) -> Self {
        match s {
            Some(s) => Self(go_quote(s)),
            None => Self("null".to_string()),
        }
    }
}

macro_rules! bad_from_number {
    ($($t:ty),*) => {
        $(impl From<$t> for Bad {
            fn from(n: $t) -> Self {
                Self(n.to_string())
            }
        })*
    };
}
bad_from_number!(i32, i64, usize, bool);

/// Field errors collected while validating one object.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<Cause>);

impl Errors {
    /// Whether nothing was reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many causes were reported.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `FieldValueRequired`: `Required value[: detail]`.
    pub(crate) fn required(&mut self, path: &Path, detail: &str) {
        self.push(
            "FieldValueRequired",
            path,
            with_detail("Required value", detail),
        );
    }

    /// `FieldValueInvalid`: `Invalid value: VALUE: detail`.
    pub(crate) fn invalid(&mut self, path: &Path, value: impl Into<Bad>, detail: &str) {
        let value = value.into();
        self.push(
            "FieldValueInvalid",
            path,
            with_detail(&format!("Invalid value: {}", value.0), detail),
        );
    }

    /// `FieldValueInvalid` for each message a format check returned.
    pub(crate) fn invalid_all(&mut self, path: &Path, value: &str, msgs: Vec<String>) {
        for msg in msgs {
            self.invalid(path, value, &msg);
        }
    }

    /// `FieldValueInvalid` with kube's immutability message.
    pub(crate) fn immutable(&mut self, path: &Path, value: impl Into<Bad>) {
        self.invalid(path, value, "field is immutable");
    }

    /// `FieldValueNotSupported`: `Unsupported value: VALUE: supported values: "a", "b"`.
    pub(crate) fn not_supported(&mut self, path: &Path, value: impl Into<Bad>, supported: &[&str]) {
        let value = value.into();
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        self.push(
            "FieldValueNotSupported",
            path,
            with_detail(&format!("Unsupported value: {}", value.0), &detail),
        );
    }

    /// `FieldValueDuplicate`: `Duplicate value: VALUE`.
    pub(crate) fn duplicate(&mut self, path: &Path, value: impl Into<Bad>) {
        let value = value.into();
        self.push(
            "FieldValueDuplicate",
            path,
            format!("Duplicate value: {}", value.0),
        );
    }

    /// `FieldValueDuplicate` with an explanation: `Duplicate value: VALUE: detail`.
    pub(crate) fn duplicate_detail(&mut self, path: &Path, value: impl Into<Bad>, detail: &str) {
        let value = value.into();
        self.push(
            "FieldValueDuplicate",
            path,
            with_detail(&format!("Duplicate value: {}", value.0), detail),
        );
    }

    /// `FieldValueNotFound`: `Not found: VALUE`.
    pub(crate) fn not_found(&mut self, path: &Path, value: impl Into<Bad>) {
        let value = value.into();
        self.push(
            "FieldValueNotFound",
            path,
            format!("Not found: {}", value.0),
        );
    }

    /// `FieldValueForbidden`: `Forbidden: detail`.
    pub(crate) fn forbidden(&mut self, path: &Path, detail: &str) {
        self.push(
            "FieldValueForbidden",
            path,
            with_detail("Forbidden", detail),
        );
    }

    /// `FieldValueTooLong`: `Too long: must have at most N bytes`.
    pub(crate) fn too_long(&mut self, path: &Path, max: usize) {
        self.push(
            "FieldValueTooLong",
            path,
            format!("Too long: must have at most {max} bytes"),
        );
    }

    /// `FieldValueTooLong` with the older wording kube still uses for some fields.
    pub(crate) fn too_long_max_length(&mut self, path: &Path, max: usize) {
        self.push(
            "FieldValueTooLong",
            path,
            format!("Too long: may not be longer than {max}"),
        );
    }

    /// `FieldValueTooMany`: `Too many: N: must have at most M items`.
    pub(crate) fn too_many(&mut self, path: &Path, actual: usize, max: usize) {
        self.push(
            "FieldValueTooMany",
            path,
            format!("Too many: {actual}: must have at most {max} items"),
        );
    }

    /// `must be greater than or equal to 0` for a negative number.
    pub(crate) fn non_negative(&mut self, path: &Path, value: Option<i64>) {
        if let Some(v) = value
            && v < 0
        {
            self.invalid(path, v, "must be greater than or equal to 0");
        }
    }

    fn push(&mut self, reason: &str, path: &Path, message: String) {
        self.0.push(Cause::new(reason, path.to_string(), message));
    }
}

fn with_detail(head: &str, detail: &str) -> String {
    if detail.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {detail}")
    }
}

/// kube's `apiequality.Semantic.DeepEqual` on the JSON form: absent, `null` and empty lists
/// are the same thing.
pub(crate) fn semantic_eq<T: Serialize + ?Sized>(a: &T, b: &T) -> bool {
    match (serde_json::to_value(a), serde_json::to_value(b)) {
        (Ok(a), Ok(b)) => normalize(a) == normalize(b),
        _ => false,
    }
}

/// Drops `null` members and empty lists, recursively, so JSON forms compare like Go values.
pub(crate) fn normalize(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| {
                    let v = normalize(v);
                    match &v {
                        Value::Null => None,
                        Value::Array(a) if a.is_empty() => None,
                        _ => Some((k, v)),
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        v => v,
    }
}

/// Lists where two JSON values differ, one line per leaf: `path: old -> new`, at most `limit`.
pub(crate) fn diff(old: &serde_json::Value, new: &serde_json::Value, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(&Path::root(), old, new, &mut out, limit);
    out
}

fn diff_into(
    path: &Path,
    old: &serde_json::Value,
    new: &serde_json::Value,
    out: &mut Vec<String>,
    limit: usize,
) {
    use serde_json::Value;
    if out.len() >= limit || old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = Value::Null;
                diff_into(
                    &path.child(k),
                    a.get(k).unwrap_or(&null),
                    b.get(k).unwrap_or(&null),
                    out,
                    limit,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_into(&path.index(i), x, y, out, limit);
            }
        }
        _ => out.push(format!("{path}: {old} -> {new}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_kube() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("image");
        assert_eq!(p.to_string(), "spec.containers[0].image");
        assert_eq!(
            Path::root().child("data").key("a b").to_string(),
            "data[a b]"
        );
    }

    #[test]
    fn messages_follow_field_error_bodies() {
        let mut e = Errors::default();
        e.required(&Path::new("a"), "");
        e.invalid(&Path::new("b"), "x\"y", "bad");
        e.invalid(&Path::new("c"), -1, "must be greater than or equal to 0");
        e.not_supported(&Path::new("d"), "Foo", &["A", "B"]);
        e.duplicate(&Path::new("e"), "n");
        e.forbidden(&Path::new("f"), "no");
        e.too_long(&Path::new("g"), 10);
        let msgs: Vec<&str> = e.0.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "Required value",
                "Invalid value: \"x\\\"y\": bad",
                "Invalid value: -1: must be greater than or equal to 0",
                "Unsupported value: \"Foo\": supported values: \"A\", \"B\"",
                "Duplicate value: \"n\"",
                "Forbidden: no",
                "Too long: must have at most 10 bytes",
            ]
        );
        assert_eq!(e.0[3].reason, "FieldValueNotSupported");
    }

    #[test]
    fn semantic_equality_ignores_empty_lists_and_nulls() {
        let a = serde_json::json!({"a": [], "b": null, "c": {"d": 1}});
        let b = serde_json::json!({"c": {"d": 1}});
        assert!(semantic_eq(&a, &b));
        assert!(!semantic_eq(&a, &serde_json::json!({"c": {}})));
        assert_eq!(
            diff(
                &serde_json::json!({"x": 1}),
                &serde_json::json!({"x": 2}),
                5
            ),
            ["x: 1 -> 2"]
        );
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("a\tb\u{1}"), "\"a\\tb\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
    }
}
