//! The rules a CustomResourceDefinition version's `openAPIV3Schema` must follow, with
//! kube-apiserver's field paths and messages (`spec.versions[0].schema.openAPIV3Schema.
//! properties[spec].type: Required value: must not be empty for specified object fields`):
//!
//! 1. the OpenAPI restrictions (no `$ref`, no `uniqueItems`, `properties` and
//!    `additionalProperties` exclusive, list and map types consistent, …);
//! 2. then, if those hold, structurality: every node typed, value validations (`allOf`,
//!    `anyOf`, `oneOf`, `not`) free of structure and only naming fields the structure has,
//!    `metadata` restricted to `name` and `generateName`;
//! 3. then, if that holds, every `default` is pruned and valid for its own schema.

use super::schema::{Node, Trail};
use crate::rules::field::{Bad, Errors, Path};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceValidation, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};

/// The types a schema may declare.
const TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// The root fields allowed when the status subresource is enabled (kube's Go field names).
const ALLOWED_AT_ROOT_WITH_STATUS: &str = "[Description Type Format Title Maximum ExclusiveMaximum Minimum ExclusiveMinimum MaxLength MinLength Pattern MaxItems MinItems UniqueItems MultipleOf Required Items Properties ExternalDocs Example XPreserveUnknownFields XValidations]";

/// Validates a version's `schema` (at `path`, `spec.versions[i].schema`); `status` tells
/// whether the version has the status subresource.
pub(crate) fn validate_version_schema(
    schema: Option<&CustomResourceValidation>,
    status: bool,
    path: &Path,
    errs: &mut Errors,
) {
    let Some(root) = schema.and_then(|s| s.open_api_v3_schema.as_ref()) else {
        errs.required(&path.child("openAPIV3Schema"), "schemas are required");
        return;
    };
    let rp = path.child("openAPIV3Schema");
    let before = errs.len();
    if status {
        root_with_status(root, &rp, errs);
    }
    if root.nullable == Some(true) {
        errs.forbidden(&rp.child("nullable"), "nullable cannot be true at the root");
    }
    openapi(root, &rp, Level::Root, None, errs);
    if errs.len() > before {
        return;
    }
    let mut structural = Errors::default();
    invariants(root, Level::Root, &rp, &mut structural);
    completeness(root, &rp, &mut structural);
    let mut causes = structural.0;
    causes.sort_by_key(|c| format!("{}: {}", c.field, c.message));
    if !causes.is_empty() {
        errs.0.extend(causes);
        return;
    }
    defaults(root, &rp, errs);
}

/// How deep in the structure a node is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Item,
    Field,
}

fn is_set<T>(v: &Option<T>) -> bool {
    v.is_some()
}

fn root_with_status(root: &JSONSchemaProps, rp: &Path, errs: &mut Errors) {
    if let Some(t) = root.type_.as_deref()
        && t != "object"
    {
        errs.invalid(
            &rp.child("type"),
            t,
            r#"only "object" is allowed as the type at the root of the schema if the status subresource is enabled"#,
        );
        return;
    }
    let disallowed = is_set(&root.ref_path)
        || is_set(&root.schema)
        || is_set(&root.additional_items)
        || is_set(&root.additional_properties)
        || root.all_of.as_ref().is_some_and(|v| !v.is_empty())
        || root.any_of.as_ref().is_some_and(|v| !v.is_empty())
        || root.one_of.as_ref().is_some_and(|v| !v.is_empty())
        || is_set(&root.not)
        || is_set(&root.default)
        || is_set(&root.definitions)
        || is_set(&root.dependencies)
        || root.enum_.as_ref().is_some_and(|v| !v.is_empty())
        || is_set(&root.id)
        || is_set(&root.max_properties)
        || is_set(&root.min_properties)
        || root.nullable == Some(true)
        || is_set(&root.pattern_properties)
        || root.x_kubernetes_embedded_resource == Some(true)
        || root.x_kubernetes_int_or_string == Some(true)
        || is_set(&root.x_kubernetes_list_map_keys)
        || is_set(&root.x_kubernetes_list_type)
        || is_set(&root.x_kubernetes_map_type);
    if disallowed {
        errs.invalid(
            rp,
            Bad::json(root),
            &format!(
                "only {ALLOWED_AT_ROOT_WITH_STATUS} fields are allowed at the root of the schema if the status subresource is enabled"
            ),
        );
    }
}

/// kube's `ValidateCustomResourceDefinitionOpenAPISchema`: what a CRD schema may not say.
/// `forbidden_default` is why a default may not be set here.
fn openapi(
    s: &JSONSchemaProps,
    path: &Path,
    level: Level,
    forbidden_default: Option<&str>,
    errs: &mut Errors,
) {
    if let (Some(why), Some(_)) = (forbidden_default, &s.default) {
        errs.forbidden(&path.child("default"), &format!("must not be set {why}"));
    }
    if s.ref_path.is_some() {
        errs.forbidden(&path.child("$ref"), "$ref is not supported");
    }
    if s.schema.is_some() {
        errs.forbidden(&path.child("$schema"), "$schema is not supported");
    }
    if s.id.is_some() {
        errs.forbidden(&path.child("id"), "id is not supported");
    }
    if s.additional_items.is_some() {
        errs.forbidden(
            &path.child("additionalItems"),
            "additionalItems is not supported",
        );
    }
    if s.pattern_properties.is_some() {
        errs.forbidden(
            &path.child("patternProperties"),
            "patternProperties is not supported",
        );
    }
    if s.definitions.is_some() {
        errs.forbidden(&path.child("definitions"), "definitions is not supported");
    }
    if s.dependencies.is_some() {
        errs.forbidden(&path.child("dependencies"), "dependencies is not supported");
    }
    match s.type_.as_deref() {
        None | Some("") => {}
        Some("null") => errs.forbidden(
            &path.child("type"),
            "type cannot be set to null, use nullable as an alternative",
        ),
        Some(t) if !TYPES.contains(&t) => errs.not_supported(&path.child("type"), t, TYPES),
        Some(_) => {}
    }
    if s.unique_items == Some(true) {
        errs.forbidden(
            &path.child("uniqueItems"),
            "uniqueItems cannot be set to true since the runtime complexity becomes quadratic",
        );
    }
    if let Some(pattern) = &s.pattern
        && let Err(e) = regex::Regex::new(pattern)
    {
        errs.invalid(
            &path.child("pattern"),
            pattern,
            &format!("must be a valid regular expression, but isn't: {e}"),
        );
    }
    let has_properties = s.properties.as_ref().is_some_and(|p| !p.is_empty());
    if let Some(additional) = &s.additional_properties {
        if has_properties && !matches!(additional, JSONSchemaPropsOrBool::Bool(true)) {
            errs.forbidden(
                &path.child("additionalProperties"),
                "additionalProperties and properties are mutual exclusive",
            );
        }
        if let JSONSchemaPropsOrBool::Schema(sub) = additional {
            openapi(
                sub,
                &path.child("additionalProperties"),
                Level::Field,
                None,
                errs,
            );
        }
    }
    for (name, prop) in s.properties.iter().flatten() {
        let why = (level == Level::Root
            && matches!(name.as_str(), "metadata" | "apiVersion" | "kind"))
        .then(|| format!("in top-level {name}"));
        openapi(
            prop,
            &path.child("properties").key(name),
            Level::Field,
            why.as_deref(),
            errs,
        );
    }
    if let Some(not) = &s.not {
        openapi(not, &path.child("not"), level, None, errs);
    }
    for (field, list) in [
        ("allOf", &s.all_of),
        ("oneOf", &s.one_of),
        ("anyOf", &s.any_of),
    ] {
        for (i, sub) in list.iter().flatten().enumerate() {
            openapi(sub, &path.child(field).index(i), level, None, errs);
        }
    }
    match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => {
            openapi(items, &path.child("items"), Level::Item, None, errs)
        }
        Some(JSONSchemaPropsOrArray::Schemas(_)) => errs.forbidden(
            &path.child("items"),
            "items must be a schema object and not an array",
        ),
        None => {}
    }
    if s.x_kubernetes_preserve_unknown_fields == Some(false) {
        errs.invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            false,
            "must be true or undefined",
        );
    }
    list_and_map_types(s, path, errs);
}

fn list_and_map_types(s: &JSONSchemaProps, path: &Path, errs: &mut Errors) {
    let ty = s.type_.as_deref().unwrap_or("");
    if let Some(map_type) = &s.x_kubernetes_map_type {
        if ty != "object" {
            let msg = "must be object if x-kubernetes-map-type is specified";
            if ty.is_empty() {
                errs.required(&path.child("type"), msg);
            } else {
                errs.invalid(&path.child("type"), ty, msg);
            }
        }
        if map_type != "atomic" && map_type != "granular" {
            errs.not_supported(
                &path.child("x-kubernetes-map-type"),
                map_type,
                &["atomic", "granular"],
            );
        }
    }
    let items = match &s.items {
        Some(JSONSchemaPropsOrArray::Schema(items)) => Some(items.as_ref()),
        _ => None,
    };
    if let Some(list_type) = &s.x_kubernetes_list_type {
        if ty != "array" {
            let msg = "must be array if x-kubernetes-list-type is specified";
            if ty.is_empty() {
                errs.required(&path.child("type"), msg);
            } else {
                errs.invalid(&path.child("type"), ty, msg);
            }
        } else if list_type == "set"
            && let Some(items) = items
        {
            let msg = "must be atomic as item of a list with x-kubernetes-list-type=set";
            match items.type_.as_deref() {
                Some("array")
                    if items
                        .x_kubernetes_list_type
                        .as_deref()
                        .is_some_and(|t| t != "atomic") =>
                {
                    errs.invalid(
                        &path.child("items").child("x-kubernetes-list-type"),
                        items.x_kubernetes_list_type.as_deref(),
                        msg,
                    )
                }
                Some("object") if items.x_kubernetes_map_type.as_deref() != Some("atomic") => errs
                    .invalid(
                        &path.child("items").child("x-kubernetes-map-type"),
                        items.x_kubernetes_map_type.as_deref(),
                        msg,
                    ),
                _ => {}
            }
        }
        if !matches!(list_type.as_str(), "atomic" | "set" | "map") {
            errs.not_supported(
                &path.child("x-kubernetes-list-type"),
                list_type,
                &["atomic", "set", "map"],
            );
        }
    }
    let keys = s.x_kubernetes_list_map_keys.as_deref().unwrap_or_default();
    if !keys.is_empty() {
        let msg = "must be map if x-kubernetes-list-map-keys is non-empty";
        match s.x_kubernetes_list_type.as_deref() {
            None => errs.required(&path.child("x-kubernetes-list-type"), msg),
            Some("map") => {}
            Some(other) => errs.invalid(&path.child("x-kubernetes-list-type"), other, msg),
        }
    }
    if s.x_kubernetes_list_type.as_deref() == Some("map") {
        if keys.is_empty() {
            errs.required(
                &path.child("x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            );
        }
        match (&s.items, items) {
            (None, _) => errs.required(
                &path.child("items"),
                "must have a schema if x-kubernetes-list-type is map",
            ),
            (Some(_), None) => errs.invalid(
                &path.child("items"),
                Bad::json(&s.items),
                "must only have a single schema if x-kubernetes-list-type is map",
            ),
            (Some(_), Some(items)) => {
                let item_type = items.type_.as_deref().unwrap_or("");
                if item_type != "object" {
                    errs.invalid(
                        &path.child("items").child("type"),
                        item_type,
                        "must be object if parent array's x-kubernetes-list-type is map",
                    );
                } else {
                    let mut seen: Vec<&String> = Vec::new();
                    for k in keys {
                        match items.properties.as_ref().and_then(|p| p.get(k)) {
                            Some(prop) => {
                                if matches!(prop.type_.as_deref(), Some("array" | "object")) {
                                    errs.invalid(
                                        &path.child("items").child("properties").key(k).child("type"),
                                        item_type,
                                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                                    );
                                }
                            }
                            None => errs.invalid(
                                &path.child("x-kubernetes-list-map-keys"),
                                Bad::json(keys),
                                "entries must all be names of item properties",
                            ),
                        }
                        if seen.contains(&k) {
                            errs.invalid(
                                &path.child("x-kubernetes-list-map-keys"),
                                Bad::json(keys),
                                "must not contain duplicate entries",
                            );
                        }
                        seen.push(k);
                    }
                }
            }
        }
    }
}

/// kube's `validateStructuralInvariants`.
fn invariants(s: &JSONSchemaProps, level: Level, path: &Path, errs: &mut Errors) {
    let ty = s.type_.as_deref().unwrap_or("");
    let embedded = s.x_kubernetes_embedded_resource == Some(true);
    let int_or_string = s.x_kubernetes_int_or_string == Some(true);
    let preserve = s.x_kubernetes_preserve_unknown_fields == Some(true);
    if ty == "array" && s.items.is_none() {
        errs.required(&path.child("items"), "must be specified");
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = &s.items {
        invariants(items, Level::Item, &path.child("items"), errs);
    }
    for (name, prop) in s.properties.iter().flatten() {
        invariants(
            prop,
            Level::Field,
            &path.child("properties").key(name),
            errs,
        );
    }
    if let Some(additional) = &s.additional_properties {
        if level == Level::Root {
            errs.forbidden(
                &path.child("additionalProperties"),
                "must not be used at the root",
            );
        }
        if let JSONSchemaPropsOrBool::Schema(sub) = additional {
            invariants(sub, Level::Field, &path.child("additionalProperties"), errs);
        }
    }
    if int_or_string && preserve {
        errs.invalid(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        );
    }
    if int_or_string && embedded {
        errs.invalid(
            &path.child("x-kubernetes-embedded-resource"),
            true,
            "must be false if x-kubernetes-int-or-string is true",
        );
    }
    let skip_any_of = int_or_string && is_int_or_string_any_of(s.any_of.as_deref());
    let skip_first_all_of_any_of = int_or_string
        && s.all_of
            .as_deref()
            .and_then(<[JSONSchemaProps]>::first)
            .is_some_and(|first| is_int_or_string_any_of(first.any_of.as_deref()));
    value_validation(s, skip_any_of, skip_first_all_of_any_of, path, errs);
    if embedded && ty != "object" {
        let msg = "must be object if x-kubernetes-embedded-resource is true";
        if ty.is_empty() {
            errs.required(&path.child("type"), msg);
        } else {
            errs.invalid(&path.child("type"), ty, msg);
        }
    } else if ty.is_empty() && !embedded && !int_or_string {
        let msg = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.required(&path.child("type"), msg);
    }
    if embedded && s.additional_properties.is_some() {
        errs.forbidden(
            &path.child("additionalProperties"),
            "must not be used if x-kubernetes-embedded-resource is set",
        );
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        errs.invalid(&path.child("type"), ty, "must be object at the root");
    }
    let check_metadata = level == Level::Root || embedded;
    let props = s.properties.as_ref();
    for field in ["kind", "apiVersion"] {
        if let Some(p) = props.and_then(|p| p.get(field))
            && check_metadata
        {
            let t = p.type_.as_deref().unwrap_or("");
            if t != "string" {
                errs.invalid(
                    &path.child("properties").key(field).child("type"),
                    t,
                    "must be string",
                );
            }
        }
    }
    if let Some(meta) = props.and_then(|p| p.get("metadata")) {
        let mp = path.child("properties").key("metadata");
        let t = meta.type_.as_deref().unwrap_or("");
        if check_metadata && t != "object" {
            errs.invalid(&mp.child("type"), t, "must be object");
        }
        if level == Level::Root && !only_names(meta) {
            errs.forbidden(
                &mp,
                "must not specify anything other than name and generateName, but metadata is implicitly specified",
            );
        }
    }
    if embedded && !preserve && props.is_none_or(|p| p.is_empty()) {
        errs.required(
            &path.child("properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        );
    }
}

/// Whether a root `metadata` schema restricts only `name` and `generateName` (besides its type,
/// default and documentation).
fn only_names(meta: &JSONSchemaProps) -> bool {
    let mut rest = meta.clone();
    if let Some(props) = &rest.properties
        && props.keys().all(|k| k == "name" || k == "generateName")
    {
        rest.properties = None;
    }
    rest.type_ = None;
    rest.default = None;
    rest.description = None;
    rest.title = None;
    rest == JSONSchemaProps::default()
}

/// `anyOf: [{type: integer}, {type: string}]`, the int-or-string exception.
fn is_int_or_string_any_of(any_of: Option<&[JSONSchemaProps]>) -> bool {
    let only_type = |s: &JSONSchemaProps, t: &str| {
        let mut rest = s.clone();
        let matched = rest.type_.take().as_deref() == Some(t);
        matched && rest == JSONSchemaProps::default()
    };
    matches!(any_of, Some([a, b]) if only_type(a, "integer") && only_type(b, "string"))
}

/// kube's `validateValueValidation`: the nested schemas of `anyOf`, `allOf`, `oneOf`, `not`.
fn value_validation(
    s: &JSONSchemaProps,
    skip_any_of: bool,
    skip_first_all_of_any_of: bool,
    path: &Path,
    errs: &mut Errors,
) {
    if !skip_any_of {
        for (i, sub) in s.any_of.iter().flatten().enumerate() {
            nested(sub, false, false, &path.child("anyOf").index(i), errs);
        }
    }
    for (i, sub) in s.all_of.iter().flatten().enumerate() {
        nested(
            sub,
            skip_first_all_of_any_of && i == 0,
            false,
            &path.child("allOf").index(i),
            errs,
        );
    }
    for (i, sub) in s.one_of.iter().flatten().enumerate() {
        nested(sub, false, false, &path.child("oneOf").index(i), errs);
    }
    if let Some(not) = &s.not {
        nested(not, false, false, &path.child("not"), errs);
    }
}

/// kube's `validateNestedValueValidation`: a value-validation schema carries no structure.
fn nested(
    s: &JSONSchemaProps,
    skip_any_of: bool,
    skip_all_of_any_of: bool,
    path: &Path,
    errs: &mut Errors,
) {
    value_validation(s, skip_any_of, skip_all_of_any_of, path, errs);
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = &s.items {
        nested(items, false, false, &path.child("items"), errs);
    }
    for (name, prop) in s.properties.iter().flatten() {
        nested(
            prop,
            false,
            false,
            &path.child("properties").key(name),
            errs,
        );
    }
    let structural = "to be structural";
    if s.type_.as_deref().is_some_and(|t| !t.is_empty()) {
        errs.forbidden(&path.child("type"), &format!("must be empty {structural}"));
    }
    if s.additional_properties.is_some() {
        errs.forbidden(
            &path.child("additionalProperties"),
            &format!("must be undefined {structural}"),
        );
    }
    if s.default.is_some() {
        errs.forbidden(
            &path.child("default"),
            &format!("must be undefined {structural}"),
        );
    }
    if s.title.as_deref().is_some_and(|t| !t.is_empty()) {
        errs.forbidden(&path.child("title"), &format!("must be empty {structural}"));
    }
    if s.description.as_deref().is_some_and(|d| !d.is_empty()) {
        errs.forbidden(
            &path.child("description"),
            &format!("must be empty {structural}"),
        );
    }
    if s.nullable == Some(true) {
        errs.forbidden(
            &path.child("nullable"),
            &format!("must be false {structural}"),
        );
    }
    if s.x_kubernetes_preserve_unknown_fields.is_some() {
        errs.forbidden(
            &path.child("x-kubernetes-preserve-unknown-fields"),
            &format!("must be undefined {structural}"),
        );
    }
    if s.x_kubernetes_embedded_resource == Some(true) {
        errs.forbidden(
            &path.child("x-kubernetes-embedded-resource"),
            &format!("must be false {structural}"),
        );
    }
    if s.x_kubernetes_int_or_string == Some(true) {
        errs.forbidden(
            &path.child("x-kubernetes-int-or-string"),
            &format!("must be false {structural}"),
        );
    }
    if s.x_kubernetes_list_map_keys
        .as_ref()
        .is_some_and(|k| !k.is_empty())
    {
        errs.forbidden(
            &path.child("x-kubernetes-list-map-keys"),
            &format!("must be empty {structural}"),
        );
    }
    if s.x_kubernetes_list_type.is_some() {
        errs.forbidden(
            &path.child("x-kubernetes-list-type"),
            &format!("must be undefined {structural}"),
        );
    }
    if s.x_kubernetes_map_type.is_some() {
        errs.forbidden(
            &path.child("x-kubernetes-map-type"),
            &format!("must be undefined {structural}"),
        );
    }
    if s.x_kubernetes_validations
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        errs.forbidden(
            &path.child("x-kubernetes-validations"),
            &format!("must be empty {structural}"),
        );
    }
    if s.properties
        .as_ref()
        .is_some_and(|p| p.contains_key("metadata"))
    {
        errs.forbidden(
            &path.child("properties").key("metadata"),
            "must not be specified in a nested context",
        );
    }
}

/// kube's `validateStructuralCompleteness`: every field or items a value validation names is
/// also specified by the structure at the same place.
fn completeness(s: &JSONSchemaProps, path: &Path, errs: &mut Errors) {
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = &s.items {
        completeness(items, &path.child("items"), errs);
    }
    for (name, prop) in s.properties.iter().flatten() {
        completeness(prop, &path.child("properties").key(name), errs);
    }
    value_completeness(s, s, path, path, errs);
}

fn value_completeness(
    v: &JSONSchemaProps,
    s: &JSONSchemaProps,
    sp: &Path,
    vp: &Path,
    errs: &mut Errors,
) {
    if let Some(not) = &v.not {
        nested_completeness(not, Some(s), sp, &vp.child("not"), errs);
    }
    for (field, list) in [
        ("allOf", &v.all_of),
        ("anyOf", &v.any_of),
        ("oneOf", &v.one_of),
    ] {
        for (i, sub) in list.iter().flatten().enumerate() {
            nested_completeness(sub, Some(s), sp, &vp.child(field).index(i), errs);
        }
    }
}

fn nested_completeness(
    v: &JSONSchemaProps,
    s: Option<&JSONSchemaProps>,
    sp: &Path,
    vp: &Path,
    errs: &mut Errors,
) {
    let Some(s) = s else {
        errs.required(sp, &format!("because it is defined in {vp}"));
        return;
    };
    value_completeness(v, s, sp, vp, errs);
    if let Some(JSONSchemaPropsOrArray::Schema(v_items)) = &v.items {
        let s_items = match &s.items {
            Some(JSONSchemaPropsOrArray::Schema(items)) => Some(items.as_ref()),
            _ => None,
        };
        nested_completeness(
            v_items,
            s_items,
            &sp.child("items"),
            &vp.child("items"),
            errs,
        );
    }
    for (name, v_prop) in v.properties.iter().flatten() {
        let sp = sp.child("properties").key(name);
        let vp = vp.child("properties").key(name);
        match s.properties.as_ref().and_then(|p| p.get(name)) {
            Some(s_prop) => nested_completeness(v_prop, Some(s_prop), &sp, &vp, errs),
            None => errs.required(&sp, &format!("because it is defined in {vp}")),
        }
    }
}

/// Every `default` must survive pruning unchanged and be valid for its own schema.
fn defaults(s: &JSONSchemaProps, path: &Path, errs: &mut Errors) {
    if let Some(default) = &s.default {
        let dp = path.child("default");
        match Node::compile(s) {
            Err(e) => errs.invalid(&dp, Bad::value(&default.0), &e.0),
            Ok(node) => {
                let mut pruned = default.0.clone();
                super::schema::prune_value_of(&node, &mut pruned);
                if pruned != default.0 {
                    errs.invalid(&dp, Bad::value(&default.0), "must not have unknown fields");
                }
                for finding in super::schema::validate_value_of(&node, &default.0) {
                    let mut cause = finding.cause;
                    cause.field = if finding.at == Trail::root() {
                        dp.to_string()
                    } else {
                        format!("{dp}.{}", finding.at)
                    };
                    errs.0.push(cause);
                }
            }
        }
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = &s.items {
        defaults(items, &path.child("items"), errs);
    }
    for (name, prop) in s.properties.iter().flatten() {
        defaults(prop, &path.child("properties").key(name), errs);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(sub)) = &s.additional_properties {
        defaults(sub, &path.child("additionalProperties"), errs);
    }
}
