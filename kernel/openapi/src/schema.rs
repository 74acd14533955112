//! Schemas from the embedded JSON Schema form into the forms OpenAPI 3.0 and Swagger 2.0
//! documents use, written the way kube-apiserver writes them.
//!
//! The embedded data (kubernetes-validate's conversion of Kubernetes' OpenAPI) differs from
//! what kube-apiserver serves in a few ways, undone here:
//! - references are `#/$defs/<name>`;
//! - optional fields have `type: [T, "null"]`;
//! - `apiVersion` and `kind` carry an `enum` of the one kind's values (kube has none);
//! - `IntOrString` lost its `format: int-or-string`.
//!
//! Per dialect, as kube writes it: OpenAPI 3.0 wraps a reference that has siblings (a
//! description, patch metadata) as `allOf: [{$ref}]` and keeps `oneOf` (IntOrString,
//! Quantity); Swagger 2.0 keeps the siblings next to `$ref` and writes a `oneOf` of scalars
//! as `type: string`, having no `oneOf`.

use serde_json::{Map, Value, json};

/// The prefix of references in the embedded data.
const EMBEDDED_REF: &str = "#/$defs/";

/// The definition whose `format` the embedded data lost.
const INT_OR_STRING: &str = "io.k8s.apimachinery.pkg.util.intstr.IntOrString";

/// The OpenAPI version a schema is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Swagger 2.0 (`/openapi/v2`): references `#/definitions/<name>`.
    V2,
    /// OpenAPI 3.0 (`/openapi/v3`): references `#/components/schemas/<name>`.
    V3,
}

impl Dialect {
    /// The prefix of a reference to a named schema.
    pub(crate) fn ref_prefix(self) -> &'static str {
        match self {
            Dialect::V2 => "#/definitions/",
            Dialect::V3 => "#/components/schemas/",
        }
    }

    /// A reference to the schema `name`: `{"$ref": "…/name"}`.
    pub(crate) fn reference(self, name: &str) -> Value {
        json!({"$ref": format!("{}{name}", self.ref_prefix())})
    }
}

/// Converts one embedded definition, named `name`, into `dialect`.
pub(crate) fn from_embedded(name: &str, schema: Value, dialect: Dialect) -> Value {
    let mut out = convert(schema, dialect);
    if let Some(props) = out.get_mut("properties").and_then(Value::as_object_mut) {
        for field in ["apiVersion", "kind"] {
            if let Some(Value::Object(prop)) = props.get_mut(field) {
                prop.remove("enum");
            }
        }
    }
    if name == INT_OR_STRING
        && let Value::Object(map) = &mut out
    {
        map.insert("format".into(), json!("int-or-string"));
    }
    out
}

/// Converts a schema (and every schema inside it) from the embedded form.
fn convert(schema: Value, dialect: Dialect) -> Value {
    let Value::Object(map) = schema else {
        // `additionalProperties: false` and the like.
        return schema;
    };
    let mut out = Map::new();
    let mut reference = None;
    let mut alternatives = false;
    for (key, value) in map {
        match key.as_str() {
            "$ref" => {
                reference = value.as_str().map(|r| {
                    format!(
                        "{}{}",
                        dialect.ref_prefix(),
                        r.strip_prefix(EMBEDDED_REF).unwrap_or(r)
                    )
                });
            }
            "type" => {
                if let Some(single) = without_null(value) {
                    out.insert(key, single);
                }
            }
            "properties" | "patternProperties" => {
                out.insert(key, map_values(value, |v| convert(v, dialect)));
            }
            "items" | "additionalProperties" | "not" => {
                out.insert(key, convert(value, dialect));
            }
            "oneOf" | "anyOf" | "allOf" if dialect == Dialect::V2 => alternatives = true,
            "oneOf" | "anyOf" | "allOf" => {
                out.insert(key, map_items(value, |v| convert(v, dialect)));
            }
            _ => {
                out.insert(key, value);
            }
        }
    }
    if alternatives && !out.contains_key("type") {
        out.insert("type".into(), json!("string"));
    }
    if let Some(reference) = reference {
        with_reference(&mut out, reference, dialect);
    }
    Value::Object(out)
}

/// Adds a reference to a converted schema: alone as `$ref`; beside siblings as kube writes
/// it for the dialect.
fn with_reference(out: &mut Map<String, Value>, reference: String, dialect: Dialect) {
    if out.is_empty() || dialect == Dialect::V2 {
        out.insert("$ref".into(), json!(reference));
        return;
    }
    let mut all_of = vec![json!({"$ref": reference})];
    if let Some(Value::Array(existing)) = out.remove("allOf") {
        all_of.extend(existing);
    }
    out.insert("allOf".into(), Value::Array(all_of));
}

/// `["string", "null"]` → `"string"`; a lone type stays; no or several non-null types → none.
fn without_null(types: Value) -> Option<Value> {
    match types {
        Value::Array(items) => {
            let mut rest: Vec<Value> = items.into_iter().filter(|t| t != "null").collect();
            (rest.len() == 1).then(|| rest.remove(0))
        }
        other => Some(other),
    }
}

/// Converts a schema already in OpenAPI 3.0 form (a caller's extra schema) into `dialect`:
/// unchanged for 3.0; for Swagger 2.0, references re-pointed, `allOf: [{$ref}]` unwrapped,
/// and what 2.0 lacks (`oneOf`, `anyOf`, `not`, `nullable`) dropped.
pub(crate) fn from_v3(schema: Value, dialect: Dialect) -> Value {
    match dialect {
        Dialect::V3 => schema,
        Dialect::V2 => downgrade(schema),
    }
}

fn downgrade(schema: Value) -> Value {
    let Value::Object(map) = schema else {
        return schema;
    };
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "$ref" => {
                let target = value.as_str().unwrap_or_default();
                let name = target
                    .strip_prefix(Dialect::V3.ref_prefix())
                    .unwrap_or(target);
                out.insert(key, json!(format!("{}{name}", Dialect::V2.ref_prefix())));
            }
            "properties" | "patternProperties" => {
                out.insert(key, map_values(value, downgrade));
            }
            "items" | "additionalProperties" => {
                out.insert(key, downgrade(value));
            }
            "allOf" => match value {
                Value::Array(mut items) if items.len() == 1 && items[0].get("$ref").is_some() => {
                    if let Value::Object(inner) = downgrade(items.remove(0)) {
                        out.extend(inner);
                    }
                }
                other => {
                    out.insert(key, map_items(other, downgrade));
                }
            },
            "oneOf" | "anyOf" | "not" | "nullable" => {}
            _ => {
                out.insert(key, value);
            }
        }
    }
    Value::Object(out)
}

/// The names of the schemas `schema` references (with `dialect`'s prefix), appended to `out`.
pub(crate) fn references(schema: &Value, dialect: Dialect, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix(dialect.ref_prefix()) {
                            out.push(name.to_string());
                        }
                    }
                    _ => references(value, dialect, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, dialect, out)),
        _ => {}
    }
}

/// Applies `f` to every value of an object (a `properties` map); anything else is kept.
fn map_values(value: Value, f: impl Fn(Value) -> Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, f(v))).collect()),
        other => other,
    }
}

/// Applies `f` to every item of an array (`oneOf`); anything else is kept.
fn map_items(value: Value, f: impl Fn(Value) -> Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(f).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "description": "Deployment enables declarative updates for Pods and ReplicaSets.",
            "type": ["object", "null"],
            "properties": {
                "apiVersion": {"type": ["string", "null"], "enum": ["apps/v1"], "description": "APIVersion"},
                "metadata": {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "Standard object's metadata."},
                "spec": {"$ref": "#/$defs/io.k8s.api.apps.v1.DeploymentSpec"},
                "names": {"type": "array", "items": {"type": ["string", "null"]}, "x-kubernetes-list-type": "atomic"},
            },
            "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}],
        })
    }

    #[test]
    fn v3_wraps_described_references_and_drops_null_types() {
        let out = from_embedded("io.k8s.api.apps.v1.Deployment", deployment(), Dialect::V3);
        assert_eq!(out["type"], "object");
        assert_eq!(
            out["properties"]["apiVersion"],
            json!({"type": "string", "description": "APIVersion"})
        );
        assert_eq!(
            out["properties"]["metadata"],
            json!({
                "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],
                "description": "Standard object's metadata.",
            })
        );
        assert_eq!(
            out["properties"]["spec"],
            json!({"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"})
        );
        assert_eq!(
            out["properties"]["names"]["items"],
            json!({"type": "string"})
        );
        assert_eq!(
            out["properties"]["names"]["x-kubernetes-list-type"],
            "atomic"
        );
        assert_eq!(
            out["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
        let mut refs = Vec::new();
        references(&out, Dialect::V3, &mut refs);
        refs.sort();
        assert_eq!(
            refs,
            [
                "io.k8s.api.apps.v1.DeploymentSpec",
                "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
            ]
        );
    }

    #[test]
    fn v2_keeps_reference_siblings() {
        let out = from_embedded("io.k8s.api.apps.v1.Deployment", deployment(), Dialect::V2);
        assert_eq!(
            out["properties"]["metadata"],
            json!({
                "$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                "description": "Standard object's metadata.",
            })
        );
    }

    #[test]
    fn int_or_string_as_kube_writes_it() {
        let embedded =
            json!({"oneOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]});
        assert_eq!(
            from_embedded(INT_OR_STRING, embedded.clone(), Dialect::V3),
            json!({"format": "int-or-string", "oneOf": [{"type": "string"}, {"type": "integer"}]})
        );
        assert_eq!(
            from_embedded(INT_OR_STRING, embedded, Dialect::V2),
            json!({"format": "int-or-string", "type": "string"})
        );
    }

    #[test]
    fn a_property_named_ref_is_a_property() {
        let props = json!({"properties": {"$ref": {"type": ["string", "null"]}}});
        let out = from_embedded("x", props, Dialect::V3);
        assert_eq!(out, json!({"properties": {"$ref": {"type": "string"}}}));
        let mut refs = Vec::new();
        references(&out, Dialect::V3, &mut refs);
        assert!(refs.is_empty());
    }

    #[test]
    fn extra_schemas_downgrade_to_v2() {
        let widget = json!({
            "type": "object",
            "properties": {
                "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "description": "meta"},
                "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                "note": {"type": "string", "nullable": true},
            },
        });
        assert_eq!(from_v3(widget.clone(), Dialect::V3), widget);
        assert_eq!(
            from_v3(widget, Dialect::V2),
            json!({
                "type": "object",
                "properties": {
                    "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "description": "meta"},
                    "port": {"x-kubernetes-int-or-string": true},
                    "note": {"type": "string"},
                },
            })
        );
    }
}
