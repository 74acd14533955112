//! Pruning: what kube-apiserver drops from a custom resource before storing it.
//!
//! - Fields the schema does not specify are removed, except under
//!   `x-kubernetes-preserve-unknown-fields: true` (kept as they are) and in maps
//!   (`additionalProperties`), whose values are pruned by the map's value schema.
//! - At the root and in embedded resources (`x-kubernetes-embedded-resource`), `apiVersion`,
//!   `kind` and `metadata` are always kept, whatever the schema says of them; `metadata` is
//!   not pruned by the schema but coerced to `ObjectMeta`: by the caller at the root, here in
//!   embedded resources (where fields that are not valid `ObjectMeta` are dropped, as kube
//!   does).
//! - A `null` in a field that is not `nullable` and has no `default` is removed (kube's
//!   `PruneNonNullableNullsWithoutDefaults`); one with a default is defaulted later.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value};

use super::{Additional, Node, Schema};

/// The fields every resource has besides what its schema specifies.
pub(crate) const RESOURCE_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

impl Schema {
    /// Prunes a whole custom resource in place.
    pub fn prune(&self, obj: &mut Value) {
        if let Value::Object(map) = obj {
            prune_resource(map, &self.root, false);
        }
    }
}

fn prune_resource(map: &mut Map<String, Value>, node: &Node, embedded: bool) {
    map.retain(|key, value| RESOURCE_FIELDS.contains(&key.as_str()) || keep(node, key, value));
    if embedded {
        match map.get_mut("metadata") {
            Some(Value::Object(meta)) => coerce_object_meta(meta),
            Some(_) => {
                map.remove("metadata");
            }
            None => {}
        }
    }
    prune_children(map, node, true);
}

/// Keeps the fields of an embedded resource's metadata that are valid `ObjectMeta`, in their
/// `ObjectMeta` form.
fn coerce_object_meta(meta: &mut Map<String, Value>) {
    let valid: Map<String, Value> = std::mem::take(meta)
        .into_iter()
        .filter(|(k, v)| {
            let one: Map<String, Value> = [(k.clone(), v.clone())].into_iter().collect();
            serde_json::from_value::<ObjectMeta>(Value::Object(one)).is_ok()
        })
        .collect();
    if let Ok(typed) = serde_json::from_value::<ObjectMeta>(Value::Object(valid))
        && let Ok(Value::Object(coerced)) = serde_json::to_value(typed)
    {
        *meta = coerced;
    }
}

fn prune_object(map: &mut Map<String, Value>, node: &Node) {
    map.retain(|key, value| keep(node, key, value));
    prune_children(map, node, false);
}

/// Whether `key` stays in an object of `node`.
fn keep(node: &Node, key: &str, value: &Value) -> bool {
    match node.child(key) {
        Some(child) => !(value.is_null() && !child.nullable && child.default.is_none()),
        None => node.preserve_unknown || matches!(node.additional, Additional::Any),
    }
}

fn prune_children(map: &mut Map<String, Value>, node: &Node, resource: bool) {
    for (key, value) in map.iter_mut() {
        if resource && RESOURCE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        if let Some(child) = node.child(key) {
            prune_value(value, child);
        }
    }
}

/// Prunes a value of `node`.
pub(crate) fn prune_value(value: &mut Value, node: &Node) {
    match value {
        Value::Object(map) if node.embedded => prune_resource(map, node, true),
        Value::Object(map) => prune_object(map, node),
        Value::Array(items) => {
            if let Some(item) = &node.items {
                for v in items {
                    prune_value(v, item);
                }
            }
        }
        _ => {}
    }
}
