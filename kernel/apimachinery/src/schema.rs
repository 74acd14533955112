//! Structural schemas: the shape of API objects as strategic merge patch, server-side apply and
//! field validation need it — which fields an object has, which lists merge by which keys, which
//! maps and lists are atomic — without descriptions or value constraints.
//!
//! A [`SchemaSet`] is built once from OpenAPI/JSON-Schema definitions (the embedded Kubernetes
//! schema for built-in types, a CRD's `openAPIV3Schema` for custom ones) into a flat arena of
//! [`Schema`] nodes addressed by [`SchemaRef`]; recursive definitions become cycles in the arena.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// The address of one node in a [`SchemaSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchemaRef(u32);

/// One node: what a value at some place in an object may be.
#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    /// A JSON object: named fields, and/or arbitrary keys with values of one schema (a map).
    Object(ObjectSchema),
    /// A JSON array.
    List(ListSchema),
    /// A string, number, integer, boolean, or one of several of those (int-or-string).
    Scalar,
    /// Anything (`RawExtension`, `JSON`, `x-kubernetes-preserve-unknown-fields` without fields).
    Any,
}

/// An object: a struct with named fields, or a map, or both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectSchema {
    /// The named fields, sorted by name.
    pub fields: Vec<Field>,
    /// The schema of the values under any other key (`additionalProperties`), for maps.
    pub values: Option<SchemaRef>,
    /// `x-kubernetes-map-type: atomic`: replaced as a whole by apply and merge.
    pub atomic: bool,
    /// `x-kubernetes-preserve-unknown-fields: true`: keys that are not fields are kept.
    pub preserve_unknown: bool,
}

/// A named field of an object, with its patch metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The JSON name.
    pub name: Box<str>,
    /// The schema of its value.
    pub schema: SchemaRef,
    /// `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key`.
    pub patch: PatchMeta,
}

/// How strategic merge patch treats a field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatchMeta {
    /// The patch strategy includes `merge`: lists merge (by `merge_key` for lists of objects,
    /// as sets for lists of scalars) instead of being replaced.
    pub merge: bool,
    /// The patch strategy includes `retainKeys`: fields absent from the patch are cleared.
    pub retain_keys: bool,
    /// The patch strategy is `replace`.
    pub replace: bool,
    /// The key identifying list elements when merging a list of objects.
    pub merge_key: Option<Box<str>>,
}

/// A list and how its elements are identified.
#[derive(Clone, Debug, PartialEq)]
pub struct ListSchema {
    /// The schema of every element.
    pub items: SchemaRef,
    /// The list type as declared (`x-kubernetes-list-type`), or derived from the patch strategy
    /// as kube does for built-in types that declare none.
    pub list_type: ListType,
}

/// `x-kubernetes-list-type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListType {
    /// Replaced as a whole (the default).
    Atomic,
    /// Scalars, each at most once, merged as a set.
    Set,
    /// Objects identified by the values of these keys.
    Map(Vec<Box<str>>),
}

/// A set of schemas, with the top-level ones indexed by group, version and kind.
#[derive(Clone, Debug)]
pub struct SchemaSet {
    /// The arena; node 0 is always [`Schema::Any`] and node 1 [`Schema::Scalar`], shared by
    /// every place of those shapes.
    nodes: Vec<Schema>,
    kinds: HashMap<GroupVersionKind, SchemaRef>,
}

/// `(group, version, kind)`, the index of top-level schemas.
type GroupVersionKind = (Box<str>, Box<str>, Box<str>);

impl Default for SchemaSet {
    fn default() -> Self {
        Self {
            nodes: vec![Schema::Any, Schema::Scalar],
            kinds: HashMap::new(),
        }
    }
}

/// Definitions could not be turned into schemas.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// A `$ref` names no definition.
    #[error("unresolved reference {0:?}")]
    UnresolvedRef(String),
}

impl SchemaSet {
    /// Builds the schemas of every definition (`name → JSON Schema`, refs as `#/$defs/<name>`,
    /// `#/definitions/<name>` or `#/components/schemas/<name>`), indexing those that carry
    /// `x-kubernetes-group-version-kind`.
    pub fn from_definitions(defs: &Map<String, Value>) -> Result<Self, SchemaError> {
        Self::from_definitions_for(defs, |_, _, _| true)
    }

    /// Like [`from_definitions`](Self::from_definitions), for just the kinds `wanted` accepts
    /// (called with group, version, kind) and what they refer to: a server builds only the
    /// kinds it serves.
    pub fn from_definitions_for(
        defs: &Map<String, Value>,
        wanted: impl Fn(&str, &str, &str) -> bool,
    ) -> Result<Self, SchemaError> {
        let mut set = Self::default();
        let mut builder = Builder {
            defs,
            named: HashMap::new(),
            set: &mut set,
        };
        for (name, def) in defs {
            let Some(Value::Array(gvks)) = def.get("x-kubernetes-group-version-kind") else {
                continue;
            };
            for gvk in gvks {
                let part = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or_default();
                let (group, version, kind) = (part("group"), part("version"), part("kind"));
                if wanted(group, version, kind) {
                    let node = builder.named(name)?;
                    let key = (group.into(), version.into(), kind.into());
                    builder.set.kinds.insert(key, node);
                }
            }
        }
        Ok(set)
    }

    /// Adds one schema written inline (a CRD version's `openAPIV3Schema`) as the schema of
    /// `group/version, Kind`, replacing any earlier one, and returns it. Inline schemas have no
    /// `$ref`s; a `$ref` is an error.
    pub fn add_kind(
        &mut self,
        group: &str,
        version: &str,
        kind: &str,
        schema: &Value,
    ) -> Result<SchemaRef, SchemaError> {
        let empty = Map::new();
        let mut builder = Builder {
            defs: &empty,
            named: HashMap::new(),
            set: self,
        };
        let node = builder.build(schema)?;
        self.kinds
            .insert((group.into(), version.into(), kind.into()), node);
        Ok(node)
    }

    /// The schema of objects of `group/version, Kind` (core group: `""`).
    pub fn kind(&self, group: &str, version: &str, kind: &str) -> Option<SchemaRef> {
        self.kinds
            .get(&(group.into(), version.into(), kind.into()))
            .copied()
    }

    /// The node at `at`.
    pub fn get(&self, at: SchemaRef) -> &Schema {
        &self.nodes[at.0 as usize]
    }

    /// The field `name` of the object at `at`, if that is an object with such a field.
    pub fn field(&self, at: SchemaRef, name: &str) -> Option<&Field> {
        match self.get(at) {
            Schema::Object(obj) => obj.field(name),
            _ => None,
        }
    }

    /// The schema of the value under `name` in the object at `at`: a field, else a map value,
    /// else `None` (unknown there). `Any` has anything under every name.
    pub fn child(&self, at: SchemaRef, name: &str) -> Option<SchemaRef> {
        match self.get(at) {
            Schema::Object(obj) => obj
                .field(name)
                .map(|f| f.schema)
                .or(obj.values)
                .or_else(|| obj.preserve_unknown.then(|| self.any())),
            Schema::Any => Some(at),
            _ => None,
        }
    }

    /// A node that accepts anything.
    pub fn any(&self) -> SchemaRef {
        SchemaRef(0)
    }

    /// The node of every scalar.
    fn scalar(&self) -> SchemaRef {
        SchemaRef(1)
    }

    fn push(&mut self, node: Schema) -> SchemaRef {
        let at = SchemaRef(u32::try_from(self.nodes.len()).expect("fewer than 2^32 schema nodes"));
        self.nodes.push(node);
        at
    }
}

impl ObjectSchema {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields
            .binary_search_by(|f| (*f.name).cmp(name))
            .ok()
            .map(|i| &self.fields[i])
    }
}

/// Turns JSON Schema nodes into arena nodes, each named definition once.
struct Builder<'a> {
    defs: &'a Map<String, Value>,
    named: HashMap<&'a str, SchemaRef>,
    set: &'a mut SchemaSet,
}

impl<'a> Builder<'a> {
    /// The node of the named definition, built on first use. The slot is reserved before the
    /// definition's own fields are built, so recursion (JSONSchemaProps) ends in a cycle.
    fn named(&mut self, name: &'a str) -> Result<SchemaRef, SchemaError> {
        if let Some(&at) = self.named.get(name) {
            return Ok(at);
        }
        let def = self
            .defs
            .get(name)
            .ok_or_else(|| SchemaError::UnresolvedRef(name.to_string()))?;
        let at = self.set.push(Schema::Any);
        self.named.insert(name, at);
        let node = self.node(def)?;
        self.set.nodes[at.0 as usize] = node;
        Ok(at)
    }

    /// The node of an inline schema (a reference resolves to its definition's node).
    fn build(&mut self, schema: &'a Value) -> Result<SchemaRef, SchemaError> {
        if let Some(target) = reference(schema) {
            let name = ref_name(target);
            return self.named(name);
        }
        Ok(match self.node(schema)? {
            Schema::Any => self.set.any(),
            Schema::Scalar => self.set.scalar(),
            node => self.set.push(node),
        })
    }

    fn node(&mut self, schema: &'a Value) -> Result<Schema, SchemaError> {
        if let Some(target) = reference(schema) {
            // A definition that is only a reference to another: share its node's shape.
            let at = self.named(ref_name(target))?;
            return Ok(self.set.get(at).clone());
        }
        let flag = |k: &str| schema.get(k).and_then(Value::as_bool).unwrap_or(false);
        if flag("x-kubernetes-int-or-string") || schema.get("oneOf").is_some() {
            return Ok(Schema::Scalar);
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let preserve_unknown = flag("x-kubernetes-preserve-unknown-fields");
        match type_of(schema) {
            Some("array") => {
                let items = match schema.get("items") {
                    Some(items) => self.build(items)?,
                    None => self.set.any(),
                };
                Ok(Schema::List(ListSchema {
                    items,
                    list_type: list_type(schema),
                }))
            }
            Some("object") | None if properties.is_some() || additional.is_some() => {
                let mut fields = Vec::new();
                for (name, prop) in properties.into_iter().flatten() {
                    fields.push(Field {
                        name: name.as_str().into(),
                        schema: self.build(prop)?,
                        patch: patch_meta(prop),
                    });
                }
                fields.sort_by(|a, b| a.name.cmp(&b.name));
                let values = match additional {
                    Some(values @ Value::Object(m)) if !m.is_empty() => Some(self.build(values)?),
                    Some(Value::Object(_) | Value::Bool(true)) => Some(self.set.any()),
                    _ => None,
                };
                Ok(Schema::Object(ObjectSchema {
                    fields,
                    values,
                    atomic: schema.get("x-kubernetes-map-type").and_then(Value::as_str)
                        == Some("atomic"),
                    preserve_unknown,
                }))
            }
            // An object with neither fields nor values is free-form (RawExtension, FieldsV1).
            Some("object") | None => Ok(Schema::Any),
            Some(_) => Ok(Schema::Scalar),
        }
    }
}

/// The target of `$ref`, directly or as kube's `allOf: [{$ref}]` wrapper.
fn reference(schema: &Value) -> Option<&str> {
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return Some(target);
    }
    match schema
        .get("allOf")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        Some([only]) => only.get("$ref").and_then(Value::as_str),
        _ => None,
    }
}

/// The definition name in a reference (`#/$defs/io.k8s.api.core.v1.Pod` → `io.k8s.api.core.v1.Pod`).
fn ref_name(target: &str) -> &str {
    target.rsplit('/').next().unwrap_or(target)
}

/// The JSON type, ignoring `null` in a type list (`["array", "null"]`).
fn type_of(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(t) => Some(t),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ => None,
    }
}

fn patch_meta(prop: &Value) -> PatchMeta {
    let strategy = prop
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let has = |s: &str| strategy.split(',').any(|part| part.trim() == s);
    PatchMeta {
        merge: has("merge"),
        retain_keys: has("retainKeys"),
        replace: has("replace"),
        merge_key: prop
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str)
            .map(Into::into),
    }
}

/// The declared list type; for lists that declare none, kube derives one from the strategic
/// merge patch metadata: merge with a key is a map on that key, merge without one a set.
fn list_type(schema: &Value) -> ListType {
    let keys = || -> Vec<Box<str>> {
        schema
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(Into::into)
            .collect()
    };
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => ListType::Map(keys()),
        Some("set") => ListType::Set,
        Some(_) => ListType::Atomic,
        None => {
            let patch = patch_meta(schema);
            match (patch.merge, patch.merge_key) {
                (true, Some(key)) => ListType::Map(vec![key]),
                (true, None) => ListType::Set,
                _ => ListType::Atomic,
            }
        }
    }
}

#[cfg(test)]
mod tests;
