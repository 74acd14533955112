//! Merging an applied configuration into a live object, and removing fields from one.

use serde_json::Value;

use super::path::{Path, PathElement, display};
use super::typed::{Shape, element, elements, shape};
use crate::schema::{SchemaRef, SchemaSet};

/// `config` merged into `live` (structured-merge-diff's `Merge`): leaves and atomic values
/// from the configuration win, granular maps merge key by key, sets and list-maps element by
/// element (shared elements in the configuration's order, live-only ones where they were).
/// Fields the schema does not declare are dropped from the configuration; a field set to null
/// is removed.
pub fn merge(
    set: &SchemaSet,
    at: SchemaRef,
    live: Option<&Value>,
    config: &Value,
) -> Result<Value, String> {
    merge_at(set, at, live, config, &mut Vec::new())
}

fn merge_at(
    set: &SchemaSet,
    at: SchemaRef,
    live: Option<&Value>,
    config: &Value,
    path: &mut Vec<PathElement>,
) -> Result<Value, String> {
    match shape(set, at, &[live, Some(config)]) {
        Shape::Leaf => Ok(config.clone()),
        Shape::Map { .. } => {
            let mut out = live.and_then(Value::as_object).cloned().unwrap_or_default();
            for (key, value) in config.as_object().into_iter().flatten() {
                let Some(child_at) = set.child(at, key) else {
                    continue;
                };
                if value.is_null() {
                    out.remove(key);
                    continue;
                }
                path.push(PathElement::field(key));
                let merged = merge_at(set, child_at, out.get(key), value, path)?;
                path.pop();
                out.insert(key.clone(), merged);
            }
            Ok(Value::Object(out))
        }
        Shape::List { items, keys } => {
            let lives =
                elements(keys, live, false).map_err(|e| format!("{}: {e}", display(path)))?;
            let configs = elements(keys, Some(config), true)
                .map_err(|e| format!("{}: {e}", display(path)))?;
            let mut out = Vec::with_capacity(lives.len().max(configs.len()));
            let mut next = 0;
            let mut emitted: Vec<&PathElement> = Vec::new();
            let in_config = |e: &PathElement| configs.iter().any(|(c, _)| c == e);
            let take = |i: usize, out: &mut Vec<Value>, path: &mut Vec<PathElement>| {
                let (elem, value) = &configs[i];
                let live_item = lives.iter().find(|(l, _)| l == elem).map(|(_, v)| *v);
                path.push(elem.clone());
                let merged = merge_at(set, items, live_item, value, path);
                path.pop();
                out.push(merged?);
                Ok::<_, String>(())
            };
            for (elem, value) in &lives {
                if !in_config(elem) {
                    out.push((*value).clone());
                    continue;
                }
                if emitted.contains(&elem) {
                    continue;
                }
                // A shared element: the configuration's elements up to the next shared one
                // come here, in the configuration's order.
                while next < configs.len() {
                    let (config_elem, _) = &configs[next];
                    take(next, &mut out, path)?;
                    emitted.push(config_elem);
                    next += 1;
                    if lives.iter().any(|(l, _)| l == config_elem) {
                        break;
                    }
                }
            }
            while next < configs.len() {
                take(next, &mut out, path)?;
                next += 1;
            }
            Ok(Value::Array(out))
        }
    }
}

/// Removes the value at `path` from `value`, if it is there (a list element is found by its
/// identity, with the key names the path element carries). A map or list field this empties
/// goes too, as kube's typed objects drop empty maps and lists.
pub fn remove(value: &mut Value, path: &Path) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let Some(parent) = descend(value, parent_path) else {
        return;
    };
    let removed = match (last, &mut *parent) {
        (PathElement::Field(name), Value::Object(map)) => map.remove(&**name).is_some(),
        (elem, Value::Array(items)) => match position(items, elem) {
            Some(i) => {
                items.remove(i);
                true
            }
            None => false,
        },
        _ => false,
    };
    let emptied = match parent {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    };
    if removed && emptied && matches!(parent_path.last(), Some(PathElement::Field(_))) {
        remove(value, parent_path);
    }
}

fn descend<'v>(value: &'v mut Value, path: &Path) -> Option<&'v mut Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (first, value) {
        (PathElement::Field(name), Value::Object(map)) => map.get_mut(&**name)?,
        (elem, Value::Array(items)) => {
            let i = position(items, elem)?;
            &mut items[i]
        }
        _ => return None,
    };
    descend(next, rest)
}

/// Where the element `elem` names is in `items`.
fn position(items: &[Value], elem: &PathElement) -> Option<usize> {
    match elem {
        PathElement::Index(i) => (*i < items.len()).then_some(*i),
        PathElement::Key(_) => {
            let names: Vec<Box<str>> = elem
                .key_fields()
                .unwrap_or_default()
                .keys()
                .map(|k| k.as_str().into())
                .collect();
            items
                .iter()
                .position(|item| element(&names, item).ok().as_ref() == Some(elem))
        }
        PathElement::Value(_) => items
            .iter()
            .position(|item| PathElement::value(item) == *elem),
        PathElement::Field(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::apply::tests::deployment_schema;

    #[test]
    fn lists_merge_by_key_and_keep_live_only_elements_in_place() {
        let (set, at) = deployment_schema();
        let live = json!({"spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "imagePullPolicy": "Always"},
            {"name": "side", "image": "s"},
            {"name": "b", "image": "b:1"}
        ]}}}});
        let config = json!({"spec": {"replicas": 3, "bogus": 1, "template": {"spec": {"containers": [
            {"name": "b", "image": "b:2"},
            {"name": "a", "image": "a:2"},
            {"name": "c", "image": "c"}
        ]}}}});
        let merged = merge(&set, at, Some(&live), &config).unwrap();
        assert_eq!(
            merged,
            json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "b", "image": "b:2"},
                {"name": "side", "image": "s"},
                {"name": "a", "image": "a:2", "imagePullPolicy": "Always"},
                {"name": "c", "image": "c"}
            ]}}}})
        );
    }

    #[test]
    fn removal_finds_list_elements_by_key_with_defaults() {
        let mut value =
            json!({"spec": {"ports": [{"port": 80}, {"port": 81, "protocol": "UDP"}], "x": 1}});
        let port = |p: i64, proto: &str| {
            PathElement::key([("port", &json!(p)), ("protocol", &json!(proto))])
        };
        remove(
            &mut value,
            &[
                PathElement::field("spec"),
                PathElement::field("ports"),
                port(80, "TCP"),
            ],
        );
        remove(
            &mut value,
            &[PathElement::field("spec"), PathElement::field("x")],
        );
        remove(
            &mut value,
            &[PathElement::field("nothing"), PathElement::field("x")],
        );
        assert_eq!(
            value,
            json!({"spec": {"ports": [{"port": 81, "protocol": "UDP"}]}})
        );
    }
}
