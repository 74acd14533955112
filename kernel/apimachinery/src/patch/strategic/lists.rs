//! Merging lists with the `merge` strategy: objects by merge key (with `$patch` elements),
//! scalars as sets (or minus a `$deleteFromPrimitiveList`).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::order::{self, identity};
use super::{DIRECTIVE, Merger, PatchError, Place, no_merge_key, unknown_patch_type};
use crate::gofmt::value as go_value;
use crate::schema::Schema;
use crate::text::go_type;

/// What a list holds, as far as merging cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Elements {
    /// Objects, identified by the merge key.
    Maps,
    /// Anything else, identified by value.
    Scalars,
}

impl Merger<'_> {
    /// Merges the list `patch` into `original`, whose elements have the schema `items`
    /// (kube's `mergeSlice`). `deletion`: `patch` lists scalars to remove.
    pub(super) fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        items: Place,
        merge_key: &str,
        deletion: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        let elements = element_kind(&[&original, &patch])?;
        let (original, patch, merged) = match elements {
            Elements::Scalars if deletion => return Ok(without(original, &patch)),
            Elements::Scalars => {
                let merged = unique(original.iter().chain(&patch).cloned());
                (original, patch, merged)
            }
            Elements::Maps if merge_key.is_empty() => {
                return Err(PatchError::BadRequest(format!(
                    "cannot merge lists without merge key for {}",
                    self.type_name(items)
                )));
            }
            Elements::Maps => {
                let (original, patch) = apply_element_directives(original, patch, merge_key)?;
                let merged = self.merge_by_key(original.clone(), &patch, merge_key, items)?;
                (original, patch, merged)
            }
        };
        let (in_patch, others) = if merge_key.is_empty() {
            order::partition_scalars(merged, &patch)
        } else {
            order::partition_maps(merged, &patch, merge_key)?
        };
        order::normalize(in_patch, others, &patch, &original, merge_key, elements)
    }

    /// Merges each patch element into the original element with its merge key, or appends it
    /// (kube's `mergeSliceWithoutSpecialElements`).
    fn merge_by_key(
        &self,
        mut original: Vec<Value>,
        patch: &[Value],
        merge_key: &str,
        items: Place,
    ) -> Result<Vec<Value>, PatchError> {
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, element) in original.iter().enumerate() {
            if let Some(key) = element.get(merge_key) {
                index.entry(identity(key)).or_insert(i);
            }
        }
        for element in patch {
            let (Value::Object(fields), Some(key)) = (element, element.get(merge_key)) else {
                return Err(no_merge_key(element, merge_key));
            };
            match index.get(&identity(key)) {
                Some(&i) => {
                    let current = match original[i].take() {
                        Value::Object(current) => current,
                        _ => Default::default(),
                    };
                    original[i] = Value::Object(self.merge_map(current, fields.clone(), items)?);
                }
                None => {
                    index.insert(identity(key), original.len());
                    original.push(element.clone());
                }
            }
        }
        Ok(original)
    }

    /// The Go kind kube names a list's element type by in its messages.
    fn type_name(&self, items: Place) -> &'static str {
        match items.map(|i| self.schemas.get(i)) {
            Some(Schema::Scalar) => "string",
            Some(Schema::Object(_)) => "struct",
            Some(Schema::List(_)) => "slice",
            Some(Schema::Any) | None => "interface",
        }
    }
}

/// Applies the `$patch` elements of a patch list of objects: `delete` removes the original
/// elements with its merge key, `replace` makes the other patch elements the whole list.
/// Returns the original and the patch without those elements (kube's
/// `mergeSliceWithSpecialElements`).
fn apply_element_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for element in patch {
        let Some(directive) = element.get(DIRECTIVE) else {
            plain.push(element);
            continue;
        };
        match directive.as_str() {
            Some("delete") => match element.get(merge_key) {
                Some(key) => original.retain(|o| o.get(merge_key) != Some(key)),
                None => return Err(no_merge_key(&element, merge_key)),
            },
            Some("replace") => replace = true,
            Some("merge") => {
                return Err(PatchError::BadRequest(
                    "merging lists cannot yet be specified in the patch".into(),
                ));
            }
            _ => {
                let map = element.as_object().cloned().unwrap_or_default();
                return Err(unknown_patch_type(directive, &map));
            }
        }
    }
    if replace {
        Ok((plain, Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// What the elements of `lists` are: all of one JSON type (integers and other numbers count
/// as different types, as they decode into `int64` and `float64`), and not lists.
pub(super) fn element_kind(lists: &[&[Value]]) -> Result<Elements, PatchError> {
    let mut first: Option<&Value> = None;
    for element in lists.iter().flat_map(|list| list.iter()) {
        match first {
            None if element.is_array() => {
                return Err(PatchError::Unprocessable(
                    "lists of lists are not supported".into(),
                ));
            }
            None => first = Some(element),
            Some(first) if go_type(first) != go_type(element) => {
                let shown: Vec<String> = lists
                    .iter()
                    .map(|list| go_value(&Value::Array(list.to_vec())))
                    .collect();
                return Err(PatchError::BadRequest(format!(
                    "list element types are not identical: [{}]",
                    shown.join(" ")
                )));
            }
            Some(_) => {}
        }
    }
    match first {
        None => Err(PatchError::BadRequest(
            "no elements in any of the given slices".into(),
        )),
        Some(Value::Object(_)) => Ok(Elements::Maps),
        Some(_) => Ok(Elements::Scalars),
    }
}

/// The first occurrence of each value, in order.
fn unique(values: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut seen = HashSet::new();
    values.filter(|v| seen.insert(identity(v))).collect()
}

/// `current` without any value listed in `removed`.
fn without(mut current: Vec<Value>, removed: &[Value]) -> Vec<Value> {
    let removed: HashSet<String> = removed.iter().map(identity).collect();
    current.retain(|v| !removed.contains(&identity(v)));
    current
}
