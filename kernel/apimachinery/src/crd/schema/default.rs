//! Defaulting: kube-apiserver's structural defaulting of custom resources. A field that is
//! absent, or `null` without being `nullable`, takes its schema's `default`; defaults apply
//! from the outside in, so a defaulted object gets the defaults of its own fields too.

use serde_json::Value;

use super::{Additional, Node, Schema};

impl Schema {
    /// Applies the schema's defaults to a whole custom resource in place.
    pub fn apply_defaults(&self, obj: &mut Value) {
        apply(obj, &self.root);
    }
}

/// Whether `value` is a `null` that `node` replaces by its default.
fn defaulted_null(value: &Value, node: &Node) -> bool {
    value.is_null() && !node.nullable && node.default.is_some()
}

/// Applies `node`'s defaults inside `value`.
pub(crate) fn apply(value: &mut Value, node: &Node) {
    match value {
        Value::Object(map) => {
            for (key, prop) in &node.properties {
                let Some(default) = &prop.default else {
                    continue;
                };
                match map.get(key) {
                    Some(v) if !defaulted_null(v, prop) => {}
                    _ => {
                        map.insert(key.clone(), default.clone());
                    }
                }
            }
            for (key, v) in map.iter_mut() {
                if let Some(prop) = node.properties.get(key) {
                    apply(v, prop);
                } else if let Additional::Schema(values) = &node.additional {
                    if defaulted_null(v, values)
                        && let Some(default) = &values.default
                    {
                        *v = default.clone();
                    }
                    apply(v, values);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for v in items.iter_mut() {
                    if defaulted_null(v, item)
                        && let Some(default) = &item.default
                    {
                        *v = default.clone();
                    }
                    apply(v, item);
                }
            }
        }
        _ => {}
    }
}
