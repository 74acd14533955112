//! The order of a merged list: the patch's elements in the patch's (or `$setElementOrder`'s)
//! order, the original's other elements in the original's order, interleaved where the
//! original orders them relative to each other.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::lists::Elements;
use super::{DIRECTIVE, PatchError, bad_arg_type, no_merge_key};
use crate::gofmt::value as go_value;

/// A hashable identity of a JSON value, equal exactly when kube compares the decoded values
/// equal (`1` and `1.0` differ, as `int64` and `float64` do).
pub(super) fn identity(value: &Value) -> String {
    value.to_string()
}

/// The identity an element is ordered by: its merge key's value for objects (null when it
/// has none), itself for scalars.
fn element_identity(element: &Value, merge_key: &str, elements: Elements) -> String {
    match elements {
        Elements::Maps => identity(element.get(merge_key).unwrap_or(&Value::Null)),
        Elements::Scalars => identity(element),
    }
}

/// Splits `list` into the scalars `by` holds and the others, each in `list`'s order.
pub(super) fn partition_scalars(list: Vec<Value>, by: &[Value]) -> (Vec<Value>, Vec<Value>) {
    let present: HashSet<String> = by.iter().map(identity).collect();
    list.into_iter()
        .partition(|v| present.contains(&identity(v)))
}

/// Splits the objects of `list` into those whose merge key some object of `by` has and the
/// others, each in `list`'s order. Every element of `list` must be an object with the key.
pub(super) fn partition_maps(
    list: Vec<Value>,
    by: &[Value],
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let index = KeyIndex::new(by, merge_key);
    let mut present = Vec::with_capacity(list.len());
    let mut others = Vec::new();
    for element in list {
        let key = match &element {
            Value::Object(fields) => fields.get(merge_key),
            other => return Err(bad_arg_type("map[string]interface {}", other)),
        };
        let Some(key) = key else {
            return Err(no_merge_key(&element, merge_key));
        };
        if index.find(key)? {
            present.push(element);
        } else {
            others.push(element);
        }
    }
    Ok((present, others))
}

/// The merge keys found in a list of objects, for lookups, with kube's error when a lookup
/// would run into an element that is not an object.
struct KeyIndex {
    keys: HashSet<String>,
    first_non_object: Option<usize>,
}

impl KeyIndex {
    fn new(list: &[Value], merge_key: &str) -> Self {
        let mut keys = HashSet::new();
        let mut first_non_object = None;
        for (i, element) in list.iter().enumerate() {
            match element {
                Value::Object(fields) => {
                    if let Some(key) = fields.get(merge_key) {
                        keys.insert(identity(key));
                    }
                }
                _ => {
                    first_non_object = Some(i);
                    break;
                }
            }
        }
        Self {
            keys,
            first_non_object,
        }
    }

    /// Whether an object with this merge key value is in the list.
    fn find(&self, key: &Value) -> Result<bool, PatchError> {
        if self.keys.contains(&identity(key)) {
            return Ok(true);
        }
        match self.first_non_object {
            Some(i) => Err(PatchError::BadRequest(format!(
                "value for key {i} is not a map"
            ))),
            None => Ok(false),
        }
    }
}

/// Orders a merged list (kube's `normalizeElementOrder`): `in_patch` (elements the patch
/// names) by `patch_order`, `others` by `server_order`, then `others` slotted in before the
/// first patch element the server orders after them.
pub(super) fn normalize(
    in_patch: Vec<Value>,
    others: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    elements: Elements,
) -> Result<Vec<Value>, PatchError> {
    let in_patch = sort_by(in_patch, patch_order, merge_key, elements)?;
    let others = sort_by(others, server_order, merge_key, elements)?;
    let positions = Positions::new(server_order, merge_key, elements);
    let mut out = Vec::with_capacity(in_patch.len() + others.len());
    let mut left = others.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (positions.of(l), positions.of(r)),
                (Some(i), Some(j)) if i < j
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

/// `list` sorted (stably) by position in `order`, elements `order` lacks last
/// (kube's `normalizeSliceOrder`).
fn sort_by(
    list: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    elements: Elements,
) -> Result<Vec<Value>, PatchError> {
    let (mut listed, unlisted) = match elements {
        Elements::Maps => {
            for element in list.iter().chain(order) {
                match element {
                    Value::Object(fields) if fields.contains_key(merge_key) => {}
                    Value::Object(_) => return Err(no_merge_key(element, merge_key)),
                    other => return Err(bad_arg_type("map[string]interface {}", other)),
                }
            }
            partition_maps(list, order, merge_key)?
        }
        Elements::Scalars => partition_scalars(list, order),
    };
    let positions = Positions::new(order, merge_key, elements);
    listed.sort_by_cached_key(|element| positions.of(element).unwrap_or(usize::MAX));
    listed.extend(unlisted);
    Ok(listed)
}

/// The first position of each identity in a list.
struct Positions<'k> {
    first: HashMap<String, usize>,
    merge_key: &'k str,
    elements: Elements,
}

impl<'k> Positions<'k> {
    fn new(list: &[Value], merge_key: &'k str, elements: Elements) -> Self {
        let mut first = HashMap::new();
        for (i, element) in list.iter().enumerate() {
            first
                .entry(element_identity(element, merge_key, elements))
                .or_insert(i);
        }
        Self {
            first,
            merge_key,
            elements,
        }
    }

    fn of(&self, element: &Value) -> Option<usize> {
        self.first
            .get(&element_identity(element, self.merge_key, self.elements))
            .copied()
    }
}

/// Checks that a patch list's elements (other than `$patch` ones) appear in its
/// `$setElementOrder` list, in the same relative order (kube's
/// `validatePatchWithSetOrderList`).
pub(super) fn check_patch_follows_order(
    patch: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::with_capacity(patch.len());
    for element in patch {
        if !merge_key.is_empty() {
            let Value::Object(fields) = element else {
                return Err(bad_arg_type("map[string]interface {}", element));
            };
            if fields.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        kept.push(element);
    }
    let (mut p, mut o) = (0, 0);
    while p < kept.len() && o < order.len() {
        if kept[p].get(DIRECTIVE).is_some() {
            p += 1;
            continue;
        }
        if same_element(kept[p], &order[o], merge_key)? {
            p += 1;
        }
        o += 1;
    }
    if p < kept.len() {
        return Err(PatchError::BadRequest(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            go_value(&Value::Array(patch.to_vec())),
            go_value(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// Whether two elements are the same element: equal merge keys for objects, equal values
/// for scalars.
fn same_element(left: &Value, right: &Value, merge_key: &str) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let key = |element: &Value| match element {
        Value::Object(fields) => fields
            .get(merge_key)
            .cloned()
            .ok_or_else(|| no_merge_key(element, merge_key)),
        other => Err(bad_arg_type("map[string]interface {}", other)),
    };
    Ok(key(left)? == key(right)?)
}
