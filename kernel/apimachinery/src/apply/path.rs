//! Paths into objects as structured-merge-diff names them: the elements of a path, their
//! `fieldsV1` encoding (`f:`, `k:`, `v:`, `i:`) and their display in conflict messages
//! (`.spec.containers[name="nginx"].image`).

use std::fmt;

use serde_json::{Map, Value};

use crate::text::go_quote;

/// One step into a value.
///
/// Keys and values are held as canonical compact JSON (key fields sorted by name), so that two
/// elements naming the same list element compare equal and order deterministically.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or a map key (`f:<name>`).
    Field(Box<str>),
    /// A list-map element, by the values of its key fields (`k:{"name":"x"}`).
    Key(Box<str>),
    /// A set element, by its value (`v:"x"`).
    Value(Box<str>),
    /// A list element by position (`i:3`), for lists whose elements have no identity.
    Index(usize),
}

/// A path from the root of an object.
pub type Path = [PathElement];

impl PathElement {
    /// A field or map-key element.
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.into())
    }

    /// A list-map element identified by `(key field, value)` pairs (sorted here).
    pub fn key<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a Value)>) -> Self {
        let mut pairs: Vec<(&str, &Value)> = pairs.into_iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let mut out = String::from("{");
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&canonical(&Value::String((*name).to_string())));
            out.push(':');
            out.push_str(&canonical(value));
        }
        out.push('}');
        PathElement::Key(out.into())
    }

    /// A set element identified by its value.
    pub fn value(value: &Value) -> Self {
        PathElement::Value(canonical(value).into())
    }

    /// The `fieldsV1` key of this element.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key (not `.`, which marks membership rather than naming a child).
    pub fn decode(key: &str) -> Result<Self, String> {
        let (kind, rest) = key
            .split_once(':')
            .ok_or_else(|| format!("unknown path element {key:?}"))?;
        let json = |rest: &str| -> Result<Value, String> {
            serde_json::from_str(rest).map_err(|e| format!("invalid path element {key:?}: {e}"))
        };
        match kind {
            "f" => Ok(PathElement::Field(rest.into())),
            "k" => match json(rest)? {
                Value::Object(map) => {
                    Ok(PathElement::key(map.iter().map(|(k, v)| (k.as_str(), v))))
                }
                _ => Err(format!(
                    "invalid path element {key:?}: keys must be an object"
                )),
            },
            "v" => Ok(PathElement::value(&json(rest)?)),
            "i" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("invalid path element {key:?}")),
            _ => Err(format!("unknown path element {key:?}")),
        }
    }

    /// The key fields of a [`PathElement::Key`], in name order.
    pub fn key_fields(&self) -> Option<Map<String, Value>> {
        match self {
            PathElement::Key(json) => match serde_json::from_str(json) {
                Ok(Value::Object(map)) => Some(map),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    /// structured-merge-diff's rendering: `.name`, `[k=v,…]`, `[=v]`, `[i]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(_) => {
                let pairs: Vec<String> = self
                    .key_fields()
                    .unwrap_or_default()
                    .iter()
                    .map(|(k, v)| format!("{k}={}", display_value(v)))
                    .collect();
                write!(f, "[{}]", pairs.join(","))
            }
            PathElement::Value(json) => {
                let value = serde_json::from_str(json).unwrap_or(Value::Null);
                write!(f, "[={}]", display_value(&value))
            }
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path as conflict messages show it: its elements one after the other.
pub fn display(path: &Path) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Compact JSON with object keys sorted, so equal values have equal text.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        canonical(&Value::String(k.clone())),
                        canonical(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// A value as structured-merge-diff's `value.ToString` renders it (strings quoted as Go does).
fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_quote(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(display_value).collect();
            format!("[{}]", items.join(","))
        }
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", display_value(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        scalar => scalar.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_are_canonical_whatever_the_order() {
        let a = PathElement::key([("protocol", &json!("TCP")), ("containerPort", &json!(80))]);
        let b = PathElement::decode(r#"k:{"protocol":"TCP","containerPort":80}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.encode(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(a.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
    }

    #[test]
    fn elements_round_trip_and_display() {
        for key in ["f:spec", r#"k:{"name":"x"}"#, r#"v:"a""#, "i:3"] {
            assert_eq!(PathElement::decode(key).unwrap().encode(), key);
        }
        let path = [
            PathElement::field("spec"),
            PathElement::field("containers"),
            PathElement::key([("name", &json!("nginx"))]),
            PathElement::field("image"),
        ];
        assert_eq!(display(&path), r#".spec.containers[name="nginx"].image"#);
        assert_eq!(PathElement::value(&json!("x")).to_string(), r#"[="x"]"#);
        assert!(PathElement::decode("z:1").is_err());
        assert!(PathElement::decode("k:[1]").is_err());
    }
}
