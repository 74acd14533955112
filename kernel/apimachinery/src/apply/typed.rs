//! How apply treats a value at a place in an object: as a leaf (scalars, atomic maps and lists,
//! values whose type disagrees with the schema), a granular map, or a list whose elements have
//! identities (a set, or a map keyed by some fields).
//!
//! A place without a schema (`Schema::Any`, and every place of a kind without one) is
//! treated as structured-merge-diff treats deduced types: objects are granular maps, lists are
//! atomic.

use serde_json::Value;

use super::path::PathElement;
use crate::schema::{ListType, Schema, SchemaRef, SchemaSet};

/// The role of a place, given its schema and the values found there.
pub(crate) enum Shape<'s> {
    /// Replaced and owned as a whole.
    Leaf,
    /// Merged key by key. `is_struct`: a struct with declared fields, not a map.
    Map { is_struct: bool },
    /// Merged element by element; `keys` empty for a set.
    List {
        items: SchemaRef,
        keys: &'s [Box<str>],
    },
}

/// The shape of the place `at` holding `values` (absent ones left out).
pub(crate) fn shape<'s>(set: &'s SchemaSet, at: SchemaRef, values: &[Option<&Value>]) -> Shape<'s> {
    let all = |f: fn(&Value) -> bool| values.iter().flatten().all(|v| f(v));
    match set.get(at) {
        Schema::Object(obj) if !obj.atomic && all(Value::is_object) => Shape::Map {
            is_struct: !obj.fields.is_empty(),
        },
        Schema::Any if all(Value::is_object) && values.iter().any(Option::is_some) => {
            Shape::Map { is_struct: false }
        }
        Schema::List(list) if all(Value::is_array) => match &list.list_type {
            ListType::Set => Shape::List {
                items: list.items,
                keys: &[],
            },
            ListType::Map(keys) if !keys.is_empty() => Shape::List {
                items: list.items,
                keys,
            },
            _ => Shape::Leaf,
        },
        _ => Shape::Leaf,
    }
}

/// The identity of a list element: its value in a set, its key fields in a list-map.
pub(crate) fn element(keys: &[Box<str>], item: &Value) -> Result<PathElement, String> {
    if keys.is_empty() {
        return Ok(PathElement::value(item));
    }
    let Value::Object(map) = item else {
        return Err("associative list with keys has an element that is not a map type".into());
    };
    let mut pairs = Vec::with_capacity(keys.len());
    for key in keys {
        match map.get(&**key).or_else(|| key_default(key)) {
            Some(value) if !value.is_null() => pairs.push((&**key, value)),
            _ => {
                return Err(format!(
                    "associative list with keys has an element that omits key field {key:?} (and doesn't have default value)"
                ));
            }
        }
    }
    Ok(PathElement::key(pairs))
}

/// The default of a list-map key field that may be omitted. kube's OpenAPI declares these
/// defaults; the embedded schema data carries none, and among built-in kinds only the
/// `protocol` of container and service ports has one.
fn key_default(key: &str) -> Option<&'static Value> {
    static TCP: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| Value::from("TCP"));
    (key == "protocol").then(|| &*TCP)
}

/// The elements of a list with their identities; with `unique`, a repeated identity is an
/// error (applied configurations), otherwise the first occurrence wins (stored objects).
pub(crate) fn elements<'v>(
    keys: &[Box<str>],
    list: Option<&'v Value>,
    unique: bool,
) -> Result<Vec<(PathElement, &'v Value)>, String> {
    let items = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut out: Vec<(PathElement, &Value)> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let elem = element(keys, item).map_err(|e| format!("element {i}: {e}"))?;
        if out.iter().any(|(seen, _)| *seen == elem) {
            if unique {
                return Err(format!("duplicate entries for key {elem}"));
            }
            continue;
        }
        out.push((elem, item));
    }
    Ok(out)
}
