//! One served version of a custom resource, as kube-apiserver's custom resource handler serves
//! it: its resource description, schema, printer columns and scale paths, and what happens to
//! an object on create and update (metadata coerced, status protected, pruned, defaulted,
//! generation kept, validated with metadata, schema and scale rules; on update, problems that
//! were already there are tolerated, as kube's validation ratcheting does).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Map, Value, json};

use super::schema::{CompileError, Schema, Seg, Trail};
use super::{names, version};
use crate::intern::{ResourceSpec, intern};
use crate::registry::ResourceInfo;
use crate::rules::RulesError;
use crate::rules::field::{Errors, Path};
use crate::rules::meta::{self, NameRule};
use crate::schema::{SchemaRef, SchemaSet};
use crate::status::Cause;
use crate::table::custom::PrinterColumn;
use crate::table::{self, IncludeObject};

/// Where the scale subresource reads and writes replicas (simple paths such as
/// `.spec.replicas`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// `specReplicasPath`.
    pub spec_replicas: String,
    /// `statusReplicasPath`.
    pub status_replicas: String,
    /// `labelSelectorPath`, if any.
    pub label_selector: Option<String>,
}

/// One served version of a custom resource.
#[derive(Debug)]
pub struct CustomResource {
    info: &'static ResourceInfo,
    definition: String,
    storage_version: String,
    schema: Schema,
    openapi_schema: Value,
    structure: (SchemaSet, SchemaRef),
    columns: Vec<PrinterColumn>,
    scale: Option<ScalePaths>,
    terminating: bool,
    webhook_conversion: bool,
}

impl CustomResource {
    /// The served versions of a definition whose names are accepted, in discovery order
    /// (kube-aware version priority). Uses the accepted names, not the requested ones.
    pub fn served(crd: &CustomResourceDefinition) -> Result<Vec<Self>, CompileError> {
        let spec = &crd.spec;
        let names = names::accepted(crd);
        let storage_version = spec
            .versions
            .iter()
            .find(|v| v.storage)
            .map(|v| v.name.clone())
            .unwrap_or_default();
        let terminating = crd.metadata.deletion_timestamp.is_some()
            || names::condition_true(crd, names::TERMINATING);
        let webhook_conversion = spec
            .conversion
            .as_ref()
            .is_some_and(|c| c.strategy == "Webhook");
        let mut versions: Vec<&CustomResourceDefinitionVersion> =
            spec.versions.iter().filter(|v| v.served).collect();
        versions.sort_by(|a, b| version::compare(&a.name, &b.name));
        let mut out = Vec::new();
        for v in versions {
            let subresources = v.subresources.as_ref();
            let scale = subresources
                .and_then(|s| s.scale.as_ref())
                .map(|s| ScalePaths {
                    spec_replicas: s.spec_replicas_path.clone(),
                    status_replicas: s.status_replicas_path.clone(),
                    label_selector: s.label_selector_path.clone().filter(|p| !p.is_empty()),
                });
            let info = intern(&ResourceSpec {
                group: spec.group.clone(),
                version: v.name.clone(),
                kind: names.kind.clone(),
                plural: names.plural.clone(),
                singular: names
                    .singular
                    .clone()
                    .unwrap_or_else(|| names.kind.to_lowercase()),
                namespaced: spec.scope == "Namespaced",
                short_names: names.short_names.clone().unwrap_or_default(),
                categories: names.categories.clone().unwrap_or_default(),
                status: subresources.is_some_and(|s| s.status.is_some()),
                scale: scale.is_some(),
            });
            let props = v
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.clone())
                .unwrap_or_default();
            let columns = v
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| {
                    PrinterColumn::new(
                        &c.name,
                        &c.type_,
                        c.format.as_deref().unwrap_or(""),
                        c.description.as_deref().unwrap_or(""),
                        c.priority.unwrap_or(0),
                        &c.json_path,
                    )
                })
                .collect();
            let openapi_schema = serde_json::to_value(&props).unwrap_or(Value::Null);
            out.push(Self {
                info,
                definition: crd.metadata.name.clone().unwrap_or_default(),
                storage_version: storage_version.clone(),
                schema: Schema::compile(&props)?,
                structure: structure(info, &openapi_schema)?,
                openapi_schema,
                columns,
                scale,
                terminating,
                webhook_conversion,
            });
        }
        Ok(out)
    }

    /// The resource this version serves.
    pub fn info(&self) -> &'static ResourceInfo {
        self.info
    }

    /// The name of the CustomResourceDefinition.
    pub fn definition(&self) -> &str {
        &self.definition
    }

    /// The version's `openAPIV3Schema` as written in the definition.
    pub fn openapi_schema(&self) -> &Value {
        &self.openapi_schema
    }

    /// The structural schema of the objects (for server-side apply and managed fields): the
    /// version's schema with `apiVersion`, `kind` and `metadata` declared, as kube's CRD OpenAPI
    /// declares them (`metadata` as an object of any fields).
    pub fn structure(&self) -> (&SchemaSet, SchemaRef) {
        (&self.structure.0, self.structure.1)
    }

    /// Whether the definition is being deleted (no new objects then).
    pub fn terminating(&self) -> bool {
        self.terminating
    }

    /// Whether objects are stored at another version and converted by a webhook, which kmicro
    /// cannot call: only the storage version can be served then.
    pub fn needs_webhook_conversion(&self) -> bool {
        self.webhook_conversion && self.info.version != self.storage_version
    }

    /// The `apiVersion` objects are stored with (the storage version's).
    pub fn storage_api_version(&self) -> String {
        format!("{}/{}", self.info.group, self.storage_version)
    }

    /// The scale subresource's paths, if the version has one.
    pub fn scale(&self) -> Option<&ScalePaths> {
        self.scale.as_ref()
    }

    /// The `Table` of objects of this version.
    pub fn table(&self, objects: &[Value], include: IncludeObject, now: jiff::Timestamp) -> Value {
        table::custom::table(&self.columns, objects, include, now)
    }

    /// Prepares a new object for storage: metadata coerced to `ObjectMeta`, status dropped
    /// when the version has a status subresource, unknown fields pruned, defaults applied,
    /// `metadata.generation` 1, then validated.
    pub fn prepare_create(&self, mut obj: Value) -> Result<Value, RulesError> {
        let meta = self.coerce_metadata(&mut obj)?;
        if self.info.status
            && let Some(map) = obj.as_object_mut()
        {
            map.remove("status");
        }
        self.schema.prune(&mut obj);
        self.schema.apply_defaults(&mut obj);
        set_generation(&mut obj, 1);
        let mut errs = Errors::default();
        meta::validate_object_meta(&meta, self.info.namespaced, NameRule::Subdomain, &mut errs);
        let mut causes = errs.0;
        causes.extend(self.schema.validate(&obj).into_iter().map(|f| f.cause));
        causes.extend(self.scale_causes(&obj));
        finish(obj, causes)
    }

    /// Prepares a replacement of the stored `old` (whose status and server fields the caller
    /// has already carried over): coerced, pruned, defaulted, `metadata.generation` bumped when
    /// anything but metadata (and status, with a status subresource) changed, validated —
    /// tolerating schema problems at values that did not change.
    pub fn prepare_update(&self, mut new: Value, old: &Value) -> Result<Value, RulesError> {
        let meta = self.coerce_metadata(&mut new)?;
        let old_meta: ObjectMeta = old
            .get("metadata")
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        self.schema.prune(&mut new);
        self.schema.apply_defaults(&mut new);
        let generation = old_meta.generation.unwrap_or(0);
        let changed = self.generation_content(&new) != self.generation_content(old);
        set_generation(&mut new, if changed { generation + 1 } else { generation });
        let mut errs = Errors::default();
        meta::validate_object_meta_update(&meta, &old_meta, &mut errs);
        meta::validate_namespace_field(&meta, self.info.namespaced, &mut errs);
        let mut causes = errs.0;
        causes.extend(
            self.schema
                .validate(&new)
                .into_iter()
                .filter(|f| f.at.follow(&new) != f.at.follow(old) || f.at == Trail::root())
                .map(|f| f.cause),
        );
        causes.extend(self.scale_causes(&new));
        finish(new, causes)
    }

    /// What a change to bumps the generation: everything but `metadata`, and but `status` when
    /// the version has a status subresource (status changes never bump it then).
    fn generation_content(&self, obj: &Value) -> Map<String, Value> {
        let mut map = obj.as_object().cloned().unwrap_or_default();
        map.remove("metadata");
        if self.info.status {
            map.remove("status");
        }
        map
    }

    /// Replaces `metadata` by its `ObjectMeta` form (unknown fields dropped), which is
    /// returned. Metadata that is not `ObjectMeta` is a decoding error (400).
    fn coerce_metadata(&self, obj: &mut Value) -> Result<ObjectMeta, RulesError> {
        let r = self.info;
        let decode_error = |detail: String| {
            RulesError::Decode(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
                kind = r.kind,
                version = r.version
            ))
        };
        let Value::Object(map) = obj else {
            return Err(decode_error("the object must be a JSON object".into()));
        };
        let meta: ObjectMeta = match map.get("metadata") {
            None | Some(Value::Null) => ObjectMeta::default(),
            Some(m) => {
                serde_json::from_value(m.clone()).map_err(|e| decode_error(e.to_string()))?
            }
        };
        let mut meta = meta;
        if !r.namespaced {
            meta.namespace = None;
        }
        let encoded = serde_json::to_value(&meta).map_err(|e| decode_error(e.to_string()))?;
        map.insert("metadata".into(), encoded);
        Ok(meta)
    }

    /// kube's scale checks of a custom resource: replicas at the spec and status paths are
    /// integers from 0 to 2^31-1, the selector a string.
    fn scale_causes(&self, obj: &Value) -> Vec<Cause> {
        let Some(scale) = &self.scale else {
            return Vec::new();
        };
        let mut errs = Errors::default();
        for path in [&scale.spec_replicas, &scale.status_replicas] {
            let Some(value) = simple_path(path).follow(obj) else {
                continue;
            };
            let p = Path::new(path);
            match value.as_i64() {
                Some(n) if n < 0 => errs.invalid(&p, n, "should be a non-negative integer"),
                Some(n) if n > i64::from(i32::MAX) => errs.invalid(
                    &p,
                    n,
                    &format!("should be less than or equal to {}", i32::MAX),
                ),
                Some(_) => {}
                None => errs.invalid(
                    &p,
                    0,
                    &format!(
                        "{} accessor error: {} is of the type {}, expected int64",
                        path,
                        crate::gofmt::value(value),
                        go_type(value)
                    ),
                ),
            }
        }
        if let Some(path) = &scale.label_selector
            && let Some(value) = simple_path(path).follow(obj)
            && !value.is_string()
        {
            errs.invalid(
                &Path::new(path),
                "",
                &format!(
                    "{} accessor error: {} is of the type {}, expected string",
                    path,
                    crate::gofmt::value(value),
                    go_type(value)
                ),
            );
        }
        errs.0
    }
}

/// The structural schema of a version (see [`CustomResource::structure`]).
fn structure(
    info: &ResourceInfo,
    openapi_schema: &Value,
) -> Result<(SchemaSet, SchemaRef), CompileError> {
    let mut shape = openapi_schema.clone();
    if let Some(map) = shape.as_object_mut() {
        let props = map.entry("properties").or_insert_with(|| json!({}));
        props["apiVersion"] = json!({"type": "string"});
        props["kind"] = json!({"type": "string"});
        props["metadata"] = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    }
    let mut set = SchemaSet::default();
    let root = set
        .add_kind(info.group, info.version, info.kind, &shape)
        .map_err(|e| CompileError(e.to_string()))?;
    Ok((set, root))
}

/// A scale path (`.spec.replicas`) as a trail.
pub fn simple_path(path: &str) -> Trail {
    Trail::from_segs(
        path.trim_start_matches('.')
            .split('.')
            .filter(|s| !s.is_empty())
            .map(|s| Seg::Key(s.to_string()))
            .collect(),
    )
}

/// The Go type an unstructured value decodes to, as accessor errors name it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

fn set_generation(obj: &mut Value, generation: i64) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("generation".into(), json!(generation));
    }
}

fn finish(obj: Value, causes: Vec<Cause>) -> Result<Value, RulesError> {
    if causes.is_empty() {
        Ok(obj)
    } else {
        Err(RulesError::Invalid(causes))
    }
}
