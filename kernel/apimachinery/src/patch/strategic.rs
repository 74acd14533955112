//! Strategic merge patch (`application/strategic-merge-patch+json`) as kube-apiserver applies
//! it (apimachinery's `strategicpatch.StrategicMergeMapPatch`), driven by the patch metadata of
//! a [`SchemaSet`] instead of Go struct tags.
//!
//! - Maps merge key by key; `null` deletes a key.
//! - A list whose field has the `merge` strategy merges: lists of objects by the field's merge
//!   key (an element with a new key is appended, one with a known key merges into it), lists of
//!   scalars as sets. Every other list, and every list the schema does not describe, is
//!   replaced. A field with the `replace` strategy is replaced even when it is a map.
//! - After a merge, the patch's elements keep the patch's order and the others the original's,
//!   interleaved where the original orders them relative to each other.
//! - Directives: `$patch: replace` (a map becomes the rest of the patch; in a list element: the
//!   list becomes the patch's other elements), `$patch: delete` (a map becomes `{}`; in a list
//!   element: the elements with that merge key go), `$retainKeys: [...]` (keys of the original
//!   map not listed are cleared), `$setElementOrder/<list>: [...]` (the final order of a merged
//!   list), `$deleteFromPrimitiveList/<list>: [...]` (scalars removed from a merged list).
//! - A value for a key the original lacks (or holds a value of another JSON type under) is taken
//!   as it is, without the `null`s of its maps and without any map that carries `$patch`.
//!
//! The `retainKeys` strategy itself only matters to clients that compute patches (they add
//! `$retainKeys`); applying a patch acts on the directive alone, as kube does. Fields the schema
//! does not know merge like a JSON merge patch. Errors carry kube's messages (Go's `%v`
//! renderings of the offending values included).

mod lists;
mod order;

use serde_json::{Map, Value};

use crate::gofmt::value as go_value;
use crate::schema::{Schema, SchemaRef, SchemaSet};
use crate::text::{go_quote, go_type};

/// The key of the `$patch` directive, in a map or a list element.
const DIRECTIVE: &str = "$patch";
/// The key listing the keys a map keeps.
const RETAIN_KEYS: &str = "$retainKeys";
/// The prefix (before `/<list>`) of the key giving a merged list's final order.
const SET_ELEMENT_ORDER: &str = "$setElementOrder";
/// The prefix (before `/<list>`) of the key listing scalars to remove from a merged list.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";

/// Why a strategic merge patch could not be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch is malformed (an unknown directive, a list element without its merge key, a
    /// `$setElementOrder` list that contradicts the patch, …): 400 Bad Request with this
    /// message, in kube's words. (kube-apiserver answers some of these with a 500 carrying the
    /// same message; a client's mistake is a 400 here.)
    #[error("{0}")]
    BadRequest(String),
    /// The patch merges a list of lists, which strategic merge patch cannot do:
    /// kube-apiserver answers 422 Unprocessable Entity.
    #[error("{0}")]
    Unprocessable(String),
}

/// Applies the strategic merge `patch` to `original`, an object whose schema is `root` in
/// `schemas`, and returns the patched object. A `null` patch changes nothing; a patch that is
/// not an object is refused as kube-apiserver refuses it.
pub fn apply(
    original: Value,
    patch: Value,
    schemas: &SchemaSet,
    root: SchemaRef,
) -> Result<Value, PatchError> {
    let patch = match patch {
        Value::Object(patch) => patch,
        Value::Null => return Ok(original),
        other => {
            return Err(PatchError::BadRequest(format!(
                "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                match other {
                    Value::Array(_) => "array",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    _ => "bool",
                }
            )));
        }
    };
    let original = match original {
        Value::Object(original) => original,
        _ => Map::new(),
    };
    Merger { schemas }
        .merge_map(original, patch, Some(root))
        .map(Value::Object)
}

/// Where a value sits in the schema; `None` where the schema says nothing about it.
type Place = Option<SchemaRef>;

/// What the schema says about the value under one key of a map.
#[derive(Clone, Copy, Debug, Default)]
struct FieldPatch<'s> {
    /// The value's schema.
    place: Place,
    /// The `merge` strategy: lists merge instead of being replaced.
    merge: bool,
    /// The `replace` strategy: maps are replaced instead of merged.
    replace: bool,
    /// The merge key of a list of objects ("" for none).
    merge_key: &'s str,
}

/// The patch application, over one schema set.
struct Merger<'s> {
    schemas: &'s SchemaSet,
}

impl<'s> Merger<'s> {
    /// Merges `patch` into the map `original` at `at` (kube's `mergeMap`).
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        at: Place,
    ) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.remove(DIRECTIVE);
                    Ok(patch)
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(unknown_patch_type(directive, &patch)),
            };
        }
        retain_keys(&mut original, &mut patch)?;
        self.merge_ordered_lists(&mut original, &mut patch, at)?;
        for (key, value) in patch {
            let (key, deletion) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                Some(_) => {
                    let list = list_key(&key, DELETE_FROM_PRIMITIVE_LIST)?;
                    (if list.is_empty() { key } else { list }, true)
                }
                None => (key, false),
            };
            if value.is_null() {
                original.remove(&key);
                continue;
            }
            let Some(current) = original.remove(&key) else {
                if !deletion && let Some(value) = new_value(value) {
                    original.insert(key, value);
                }
                continue;
            };
            let merged = match (current, value) {
                (Value::Object(current), Value::Object(value)) => {
                    let field = self.field(at, &key);
                    Some(Value::Object(if field.replace {
                        value
                    } else {
                        self.merge_map(current, value, field.place)?
                    }))
                }
                (Value::Array(current), Value::Array(value)) => {
                    let field = self.field(at, &key);
                    Some(Value::Array(if field.merge {
                        self.merge_list(
                            current,
                            value,
                            self.items(field.place),
                            field.merge_key,
                            deletion,
                        )?
                    } else {
                        value
                    }))
                }
                (current, value) if go_type(&current) == go_type(&value) => Some(value),
                (_, value) => new_value(value),
            };
            if let Some(merged) = merged {
                original.insert(key, merged);
            }
        }
        Ok(original)
    }

    /// Applies the `$setElementOrder/<list>` directives of `patch`: merges each list named
    /// with the patch's list of that name (both removed from `patch`) and orders the result
    /// (kube's `mergePatchIntoOriginal`).
    fn merge_ordered_lists(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        at: Place,
    ) -> Result<(), PatchError> {
        let directives: Vec<String> = patch
            .keys()
            .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
            .cloned()
            .collect();
        for directive in directives {
            let order = match patch.remove(&directive) {
                Some(Value::Array(order)) => order,
                other => return Err(bad_arg_type("[]interface {}", &other.unwrap_or_default())),
            };
            let key = list_key(&directive, SET_ELEMENT_ORDER)?;
            let patch_list = match patch.remove(&key) {
                None => None,
                Some(Value::Array(list)) => Some(list),
                Some(other) => return Err(bad_arg_type("[]interface {}", &other)),
            };
            let original_list = match original.get(&key) {
                None => None,
                Some(Value::Array(list)) => Some(list.clone()),
                Some(other) => return Err(bad_arg_type("[]interface {}", other)),
            };
            let field = self.list_field(at, &key)?;
            if original_list.is_none() && patch_list.is_none() {
                continue;
            }
            let original_list = original_list.unwrap_or_default();
            let patch_list = patch_list.unwrap_or_default();
            order::check_patch_follows_order(&patch_list, &order, field.merge_key)?;
            let merged = if field.merge {
                self.merge_list(
                    original_list.clone(),
                    patch_list.clone(),
                    self.items(field.place),
                    field.merge_key,
                    false,
                )?
            } else {
                patch_list.clone()
            };
            let (in_order, others) = if field.merge_key.is_empty() {
                order::partition_scalars(merged, &order)
            } else {
                order::partition_maps(merged, &order, field.merge_key)?
            };
            let elements = lists::element_kind(&[&original_list, &patch_list])?;
            let ordered = order::normalize(
                in_order,
                others,
                &order,
                &original_list,
                field.merge_key,
                elements,
            )?;
            original.insert(key, Value::Array(ordered));
        }
        Ok(())
    }

    /// What the schema says about the value under `key` of the map at `at`.
    fn field(&self, at: Place, key: &str) -> FieldPatch<'s> {
        let Some(at) = at else {
            return FieldPatch::default();
        };
        let place = self.schemas.child(at, key);
        match self.schemas.field(at, key) {
            Some(field) => FieldPatch {
                place,
                merge: field.patch.merge,
                replace: field.patch.replace,
                merge_key: field.patch.merge_key.as_deref().unwrap_or(""),
            },
            None => FieldPatch {
                place,
                ..FieldPatch::default()
            },
        }
    }

    /// The field `key` of the map at `at`, which a directive names as a list: an error when
    /// the schema knows no such field or knows it as something else.
    fn list_field(&self, at: Place, key: &str) -> Result<FieldPatch<'s>, PatchError> {
        let Some(node) = at else {
            return Ok(FieldPatch::default());
        };
        let parent = match self.schemas.get(node) {
            Schema::Any => return Ok(FieldPatch::default()),
            Schema::Object(obj) if obj.fields.is_empty() => "map",
            Schema::Object(_) => "struct",
            Schema::List(_) => {
                return Err(not_an_object("slice"));
            }
            Schema::Scalar => return Err(not_an_object("string")),
        };
        let field = self.field(at, key);
        match field.place.map(|p| self.schemas.get(p)) {
            None => Err(PatchError::BadRequest(format!(
                "unable to find api field for the json field {}",
                go_quote(key)
            ))),
            Some(Schema::List(_) | Schema::Any) => Ok(field),
            Some(_) => Err(PatchError::BadRequest(format!(
                "expected slice or array type, but got: {parent}"
            ))),
        }
    }

    /// The schema of the elements of the list at `list`.
    fn items(&self, list: Place) -> Place {
        match list.map(|l| self.schemas.get(l)) {
            Some(Schema::List(list)) => Some(list.items),
            _ => None,
        }
    }
}

/// Applies a `$retainKeys` directive (removed from `patch`): keys of `original` it does not
/// list are cleared. Every key the patch sets must be listed.
fn retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retained) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad = || PatchError::BadRequest("invalid patch format of retainKeys".into());
    let Value::Array(retained) = retained else {
        return Err(bad());
    };
    let listed = |key: &str| retained.iter().any(|k| k.as_str() == Some(key));
    let unlisted = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !listed(key)
    });
    if unlisted {
        return Err(bad());
    }
    original.retain(|key, _| listed(key));
    Ok(())
}

/// What a patch value becomes where the original has nothing to merge it with: the `null`s
/// of its maps dropped, and every map carrying `$patch` dropped with its key or list slot.
/// `None` when the value itself is such a map.
fn new_value(value: Value) -> Option<Value> {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => None,
        Value::Object(map) => Some(Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .filter_map(|(k, v)| new_value(v).map(|v| (k, v)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(new_value).collect(),
        )),
        scalar => Some(scalar),
    }
}

/// The list name after `<prefix>/` in a directive key.
fn list_key(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, list)) if head == prefix => Ok(list.to_string()),
        _ if prefix == SET_ELEMENT_ORDER => Err(PatchError::BadRequest(
            "invalid patch format of setElementOrder list".into(),
        )),
        _ => Err(PatchError::BadRequest(
            "invalid patch format of primitive list".into(),
        )),
    }
}

/// A `$patch` value that is neither `replace` nor `delete` (nor, in a list, `merge`).
fn unknown_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    let shown = match directive {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_string(),
        Value::Array(_) | Value::Object(_) => go_value(directive),
        other => format!("%!s({}={})", go_type(other), go_value(other)),
    };
    PatchError::BadRequest(format!(
        "unknown patch type: {shown} in map: {}",
        go_value(&Value::Object(map.clone()))
    ))
}

/// A value of the wrong JSON type where the patch format needs `expected` (a Go type name).
fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    PatchError::BadRequest(format!(
        "expected a {expected}, but received a {}",
        go_type(actual)
    ))
}

/// A list element (or `$setElementOrder` entry) without the list's merge key.
fn no_merge_key(element: &Value, merge_key: &str) -> PatchError {
    PatchError::BadRequest(format!(
        "map: {} does not contain declared merge key: {merge_key}",
        go_value(element)
    ))
}

/// A directive names a list inside something that is not an object.
fn not_an_object(kind: &str) -> PatchError {
    PatchError::BadRequest(format!(
        "merging an object in json but data type is not map or struct, instead is: {kind}"
    ))
}

#[cfg(test)]
mod tests;
