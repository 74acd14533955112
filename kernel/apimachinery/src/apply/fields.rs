//! The fields a value sets, and what changed between two values, per the schema.

use std::collections::BTreeSet;

use serde_json::Value;

use super::path::{PathElement, display};
use super::set::FieldSet;
use super::typed::{Shape, elements, shape};
use crate::schema::{SchemaRef, SchemaSet};

/// The fields an applied configuration sets (structured-merge-diff's `ToFieldSet`): every
/// leaf, every list element, every map key, and every map set to null or `{}`. Fields the
/// schema does not declare are left out (they are dropped from the configuration too).
pub fn field_set(set: &SchemaSet, at: SchemaRef, value: &Value) -> Result<FieldSet, String> {
    let mut out = FieldSet::default();
    walk_set(set, at, value, &mut Vec::new(), &mut out)?;
    Ok(out)
}

fn walk_set(
    set: &SchemaSet,
    at: SchemaRef,
    value: &Value,
    path: &mut Vec<PathElement>,
    out: &mut FieldSet,
) -> Result<(), String> {
    match shape(set, at, &[Some(value)]) {
        Shape::Leaf => out.insert(path),
        Shape::Map { .. } => {
            for (key, child) in value.as_object().into_iter().flatten() {
                if is_managed_fields(path, key) {
                    continue;
                }
                let Some(child_at) = set.child(at, key) else {
                    continue;
                };
                path.push(PathElement::field(key));
                walk_set(set, child_at, child, path, out)?;
                let empty = child.is_null() || child.as_object().is_some_and(|m| m.is_empty());
                if empty || set.field(at, key).is_none() {
                    out.insert(path);
                }
                path.pop();
            }
        }
        Shape::List { items, keys } => {
            let elems =
                elements(keys, Some(value), true).map_err(|e| format!("{}: {e}", display(path)))?;
            for (elem, item) in elems {
                path.push(elem);
                walk_set(set, items, item, path, out)?;
                out.insert(path);
                path.pop();
            }
        }
    }
    Ok(())
}

/// Whether `key` under `path` is `metadata.managedFields`, which is bookkeeping about the
/// object rather than part of it: never owned, never compared.
fn is_managed_fields(path: &[PathElement], key: &str) -> bool {
    key == "managedFields" && matches!(path, [PathElement::Field(f)] if &**f == "metadata")
}

/// What changed from one value to another (structured-merge-diff's `Compare`).
#[derive(Debug, Default)]
pub struct Comparison {
    /// Present only in the new value.
    pub added: FieldSet,
    /// Leaves present in both with different values.
    pub modified: FieldSet,
    /// Present only in the old value.
    pub removed: FieldSet,
}

/// Compares `old` (`None`: nothing, as for a create) with `new`.
///
/// Leaves are compared by value. A granular map or list element that appears or disappears is
/// itself added or removed, with everything beneath it; a struct field (a field whose value is
/// a struct with declared fields) is not, only its contents: kube compares typed Go values,
/// where such structs always exist, and records them the same way.
pub fn compare(set: &SchemaSet, at: SchemaRef, old: Option<&Value>, new: &Value) -> Comparison {
    let mut out = Comparison::default();
    walk_compare(set, at, old, Some(new), &mut Vec::new(), &mut out);
    out
}

fn walk_compare(
    set: &SchemaSet,
    at: SchemaRef,
    old: Option<&Value>,
    new: Option<&Value>,
    path: &mut Vec<PathElement>,
    out: &mut Comparison,
) {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    };
    let (node_is_struct, granular) = match shape(set, at, &[old, new]) {
        Shape::Leaf => (false, false),
        _ if empty(old) && empty(new) => (false, false),
        Shape::Map { is_struct } => {
            let keys: BTreeSet<&String> = [old, new]
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|m| m.keys())
                .collect();
            for key in keys {
                if is_managed_fields(path, key) {
                    continue;
                }
                let child_at = set.child(at, key).unwrap_or_else(|| set.any());
                path.push(PathElement::field(key));
                let old_child = old.and_then(|v| v.get(key.as_str()));
                let new_child = new.and_then(|v| v.get(key.as_str()));
                walk_compare(set, child_at, old_child, new_child, path, out);
                path.pop();
            }
            (is_struct, true)
        }
        Shape::List { items, keys } => {
            // Stored lists are read leniently: an element without its keys is skipped.
            let olds = elements(keys, old, false).unwrap_or_default();
            let news = elements(keys, new, false).unwrap_or_default();
            let mut seen = BTreeSet::new();
            for (elem, _) in olds.iter().chain(news.iter()) {
                if !seen.insert(elem.clone()) {
                    continue;
                }
                let old_item = olds.iter().find(|(e, _)| e == elem).map(|(_, v)| *v);
                let new_item = news.iter().find(|(e, _)| e == elem).map(|(_, v)| *v);
                path.push(elem.clone());
                walk_compare(set, items, old_item, new_item, path, out);
                path.pop();
            }
            (false, true)
        }
    };
    if !granular {
        match (old, new) {
            (None, Some(_)) => out.added.insert(path),
            (Some(_), None) => out.removed.insert(path),
            (Some(a), Some(b)) if a != b => out.modified.insert(path),
            _ => {}
        }
        return;
    }
    let is_struct_field = node_is_struct && matches!(path.last(), Some(PathElement::Field(_)));
    if !is_struct_field {
        match (old, new) {
            (None, Some(_)) => out.added.insert(path),
            (Some(_), None) => out.removed.insert(path),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apply::tests::deployment_schema;

    #[test]
    fn applied_fields_follow_the_schema() {
        let (set, at) = deployment_schema();
        let config = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}
                ]}},
                "unknown": 1
            }
        });
        let fields = field_set(&set, at, &config).unwrap();
        assert_eq!(
            fields.to_fields_v1(),
            json!({
                "f:apiVersion": {}, "f:kind": {},
                "f:metadata": {"f:labels": {"f:app": {}}, "f:name": {}},
                "f:spec": {
                    "f:replicas": {}, "f:selector": {}, "f:strategy": {},
                    "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {
                            ".": {}, "f:containerPort": {}
                        }}
                    }}}}
                }
            })
        );
    }

    #[test]
    fn duplicate_or_keyless_elements_are_refused_in_configurations() {
        let (set, at) = deployment_schema();
        let dup =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}});
        let err = field_set(&set, at, &dup).unwrap_err();
        assert_eq!(
            err,
            r#".spec.template.spec.containers: duplicate entries for key [name="a"]"#
        );
        let keyless = json!({"spec": {"template": {"spec": {"containers": [{"image": "a"}]}}}});
        let err = field_set(&set, at, &keyless).unwrap_err();
        assert!(err.contains(r#"element 0: associative list with keys has an element that omits key field "name""#), "{err}");
    }

    #[test]
    fn comparison_marks_new_elements_and_maps_but_not_structs() {
        let (set, at) = deployment_schema();
        let old = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b"}
        ]}}}});
        let new = json!({"metadata": {"name": "web", "labels": {"x": "y"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [
            {"name": "a", "image": "a:2"}, {"name": "c", "image": "c"}
        ]}}}});
        let cmp = compare(&set, at, Some(&old), &new);
        assert_eq!(
            cmp.modified.to_fields_v1(),
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"a\"}": {"f:image": {}}
            }}}}})
        );
        assert_eq!(
            cmp.added.to_fields_v1(),
            json!({
                "f:metadata": {"f:labels": {".": {}, "f:x": {}}},
                "f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}}
                }}}}
            })
        );
        assert_eq!(
            cmp.removed.to_fields_v1(),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"b\"}": {".": {}, "f:image": {}, "f:name": {}}
            }}}}})
        );
        let created = compare(&set, at, None, &new);
        assert!(created.removed.is_empty() && created.modified.is_empty());
        assert!(!created.added.contains(&[PathElement::field("spec")]));
    }
}
