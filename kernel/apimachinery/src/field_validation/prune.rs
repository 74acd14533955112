//! Removing unknown fields from a decoded object.

use serde_json::Value;

use super::{FieldProblem, push_index, push_key};
use crate::schema::{Schema, SchemaRef, SchemaSet};

/// Removes from `obj` every field its schema `root` does not know, at any depth, and returns
/// them (in key order). Free-form places (`Schema::Any`, preserved unknown fields, maps) keep
/// everything; a value whose JSON type contradicts the schema is left for decoding to refuse.
pub fn prune_unknown(obj: &mut Value, schemas: &SchemaSet, root: SchemaRef) -> Vec<FieldProblem> {
    let mut found = Vec::new();
    prune(obj, schemas, root, &mut String::new(), &mut found);
    found
}

fn prune(
    value: &mut Value,
    schemas: &SchemaSet,
    at: SchemaRef,
    path: &mut String,
    found: &mut Vec<FieldProblem>,
) {
    match (schemas.get(at), value) {
        (Schema::Object(_), Value::Object(fields)) => {
            let mut unknown = Vec::new();
            for (key, child) in fields.iter_mut() {
                let start = path.len();
                push_key(path, key);
                match schemas.child(at, key) {
                    Some(schema) => prune(child, schemas, schema, path, found),
                    None => {
                        unknown.push(key.clone());
                        found.push(FieldProblem::Unknown(path.clone()));
                    }
                }
                path.truncate(start);
            }
            for key in unknown {
                fields.remove(&key);
            }
        }
        (Schema::List(list), Value::Array(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let start = path.len();
                push_index(path, i);
                prune(item, schemas, list.items, path, found);
                path.truncate(start);
            }
        }
        _ => {}
    }
}
