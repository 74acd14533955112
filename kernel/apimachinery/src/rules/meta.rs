//! `ObjectMeta`, labels, annotations and label selectors, as kube-apiserver validates them for
//! every kind.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::field::{Bad, Errors, Path};
use crate::names;

/// Largest total size of an object's annotations (keys plus values).
pub(crate) const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// How `metadata.name` of a kind is validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// A DNS-1123 subdomain (most kinds).
    Subdomain,
    /// A DNS-1123 label (namespaces, stateful sets).
    Label,
    /// A DNS-1035 label (services).
    Dns1035,
    /// Anything usable as a path segment (core/v1 events).
    PathSegment,
}

impl NameRule {
    /// The problems with `name` under this rule.
    pub(crate) fn check(self, name: &str) -> Vec<String> {
        match self {
            Self::Subdomain => names::is_dns1123_subdomain(name),
            Self::Label => names::is_dns1123_label(name),
            Self::Dns1035 => names::is_dns1035_label(name),
            Self::PathSegment => names::is_path_segment_name(name),
        }
    }
}

fn metadata() -> Path {
    Path::new("metadata")
}

/// Validates an object's metadata on create (kube's `ValidateObjectMeta`).
pub(crate) fn validate_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    rule: NameRule,
    errs: &mut Errors,
) {
    let path = metadata();
    match meta.name.as_deref().unwrap_or("") {
        "" => errs.required(&path.child("name"), "name or generateName is required"),
        name => errs.invalid_all(&path.child("name"), name, rule.check(name)),
    }
    validate_namespace_field(meta, namespaced, errs);
    errs.non_negative(&path.child("generation"), meta.generation);
    validate_meta_common(meta, errs);
}

/// Checks `metadata.namespace`: required and a DNS label for namespaced kinds, absent otherwise.
pub(crate) fn validate_namespace_field(meta: &ObjectMeta, namespaced: bool, errs: &mut Errors) {
    let path = metadata().child("namespace");
    let ns = meta.namespace.as_deref().unwrap_or("");
    if namespaced {
        if ns.is_empty() {
            errs.required(&path, "");
        } else {
            errs.invalid_all(&path, ns, names::is_dns1123_label(ns));
        }
    } else if !ns.is_empty() {
        errs.forbidden(&path, "not allowed on this type");
    }
}

/// Validates metadata on update (kube's `ValidateObjectMetaUpdate`): name and namespace are
/// immutable, and labels, annotations, owners and finalizers must still be valid.
pub(crate) fn validate_object_meta_update(new: &ObjectMeta, old: &ObjectMeta, errs: &mut Errors) {
    let path = metadata();
    if old.deletion_timestamp.is_some() {
        let old_finalizers = old.finalizers.as_deref().unwrap_or_default();
        let mut extra: Vec<&String> = new
            .finalizers
            .iter()
            .flatten()
            .filter(|f| !old_finalizers.contains(f))
            .collect();
        extra.sort();
        extra.dedup();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
            errs.forbidden(
                &path.child("finalizers"),
                &format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            );
        }
    }
    if new.generation.unwrap_or(0) < old.generation.unwrap_or(0) {
        errs.invalid(
            &path.child("generation"),
            new.generation.unwrap_or(0),
            "must not be decremented",
        );
    }
    let new_name = new.name.as_deref().unwrap_or("");
    if new_name != old.name.as_deref().unwrap_or("") {
        errs.immutable(&path.child("name"), new_name);
    }
    let new_ns = new.namespace.as_deref().unwrap_or("");
    if new_ns != old.namespace.as_deref().unwrap_or("") {
        errs.immutable(&path.child("namespace"), new_ns);
    }
    validate_meta_common(new, errs);
}

fn validate_meta_common(meta: &ObjectMeta, errs: &mut Errors) {
    let path = metadata();
    validate_labels(meta.labels.as_ref(), &path.child("labels"), errs);
    validate_annotations(meta.annotations.as_ref(), &path.child("annotations"), errs);
    if let Some(refs) = &meta.owner_references {
        validate_owner_references(refs, &path.child("ownerReferences"), errs);
    }
    if let Some(finalizers) = &meta.finalizers {
        validate_finalizers(finalizers, &path.child("finalizers"), errs);
    }
}

/// Validates a label map: qualified-name keys, label values of at most 63 characters.
pub(crate) fn validate_labels(
    labels: Option<&BTreeMap<String, String>>,
    path: &Path,
    errs: &mut Errors,
) {
    for (k, v) in labels.into_iter().flatten() {
        errs.invalid_all(path, k, names::is_qualified_name(k));
        errs.invalid_all(path, v, names::is_label_value(v));
    }
}

/// Validates annotations: case-insensitive qualified-name keys, 256 KiB in total.
pub(crate) fn validate_annotations(
    annotations: Option<&BTreeMap<String, String>>,
    path: &Path,
    errs: &mut Errors,
) {
    let Some(annotations) = annotations else {
        return;
    };
    let mut total = 0usize;
    for (k, v) in annotations {
        errs.invalid_all(path, k, names::is_qualified_name(&k.to_lowercase()));
        total = total.saturating_add(k.len()).saturating_add(v.len());
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT);
    }
}

fn validate_owner_references(refs: &[OwnerReference], path: &Path, errs: &mut Errors) {
    let mut first_controller: Option<String> = None;
    for r in refs {
        let (group, version) = match r.api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] => ("", *v),
            [g, v] => (*g, *v),
            _ => ("", ""),
        };
        if version.is_empty() {
            errs.invalid(
                &path.child("apiVersion"),
                &r.api_version,
                "version must not be empty",
            );
        }
        if r.kind.is_empty() {
            errs.invalid(&path.child("kind"), &r.kind, "must not be empty");
        }
        if r.name.is_empty() {
            errs.invalid(&path.child("name"), &r.name, "must not be empty");
        }
        if r.uid.is_empty() {
            errs.invalid(&path.child("uid"), &r.uid, "must not be empty");
        }
        if group.is_empty() && version == "v1" && r.kind == "Event" {
            errs.invalid(
                path,
                Bad::json(r),
                "/v1, Kind=Event is disallowed from being an owner",
            );
        }
        if r.controller == Some(true) {
            let current = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.invalid(
                    path,
                    Bad::json(refs),
                    &format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {first} and {current}"
                    ),
                ),
                None => first_controller = Some(current),
            }
        }
    }
}

const STANDARD_FINALIZERS: &[&str] = &["kubernetes", "orphan", "foregroundDeletion"];

fn validate_finalizers(finalizers: &[String], path: &Path, errs: &mut Errors) {
    for f in finalizers {
        errs.invalid_all(path, f, names::is_qualified_name(f));
    }
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.invalid(
            path,
            Bad::json(finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        );
    }
    for (i, f) in finalizers.iter().enumerate() {
        validate_kube_finalizer_name(f, &path.index(i), errs);
    }
}

/// A single-segment finalizer must be one of kube's standard ones.
pub(crate) fn validate_kube_finalizer_name(f: &str, path: &Path, errs: &mut Errors) {
    if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f) {
        errs.invalid(
            path,
            f,
            "name is neither a standard finalizer name nor is it fully qualified",
        );
    }
}

/// Validates a label selector (keys, values, operators).
pub(crate) fn validate_label_selector(sel: &LabelSelector, path: &Path, errs: &mut Errors) {
    validate_labels(sel.match_labels.as_ref(), &path.child("matchLabels"), errs);
    for (i, req) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = req.values.as_deref().unwrap_or_default();
        match req.operator.as_str() {
            "In" | "NotIn" => {
                if values.is_empty() {
                    errs.required(
                        &p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    );
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    errs.forbidden(
                        &p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    );
                }
            }
            op => errs.invalid(&p.child("operator"), op, "not a valid selector operator"),
        }
        errs.invalid_all(
            &p.child("key"),
            &req.key,
            names::is_qualified_name(&req.key),
        );
        for (j, v) in values.iter().enumerate() {
            errs.invalid_all(&p.child("values").index(j), v, names::is_label_value(v));
        }
    }
}

/// Whether a selector has no terms at all.
pub(crate) fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(BTreeMap::is_empty)
        && sel.match_expressions.as_ref().is_none_or(Vec::is_empty)
}

/// Whether `labels` satisfy `sel`; `None` when the selector cannot be evaluated (a bad operator).
pub(crate) fn selector_matches(
    sel: &LabelSelector,
    labels: Option<&BTreeMap<String, String>>,
) -> Option<bool> {
    let get = |k: &str| labels.and_then(|l| l.get(k));
    let mut ok = true;
    for (k, v) in sel.match_labels.iter().flatten() {
        if get(k) != Some(v) {
            ok = false;
        }
    }
    for req in sel.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or_default();
        let have = get(&req.key);
        let matched = match req.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => return None,
        };
        ok &= matched;
    }
    Some(ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn meta(name: &str, ns: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: ns.map(str::to_string),
            ..Default::default()
        }
    }

    fn fields(errs: &Errors) -> Vec<(String, String)> {
        errs.0
            .iter()
            .map(|c| (c.field.clone(), c.reason.clone()))
            .collect()
    }

    #[test]
    fn names_and_namespaces() {
        let mut e = Errors::default();
        validate_object_meta(
            &meta("Bad_Name", Some("default")),
            true,
            NameRule::Subdomain,
            &mut e,
        );
        assert_eq!(
            e.0[0].message,
            "Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(e.0[0].field, "metadata.name");

        let mut e = Errors::default();
        validate_object_meta(&meta("", None), true, NameRule::Subdomain, &mut e);
        assert_eq!(
            fields(&e),
            [
                ("metadata.name".into(), "FieldValueRequired".into()),
                ("metadata.namespace".into(), "FieldValueRequired".into())
            ]
        );
        assert_eq!(
            e.0[0].message,
            "Required value: name or generateName is required"
        );

        let mut e = Errors::default();
        validate_object_meta(&meta("n", Some("x")), false, NameRule::Label, &mut e);
        assert_eq!(
            fields(&e),
            [("metadata.namespace".into(), "FieldValueForbidden".into())]
        );

        let mut e = Errors::default();
        validate_object_meta(&meta("a.b", None), false, NameRule::Label, &mut e);
        assert_eq!(
            e.0[0].message,
            "Invalid value: \"a.b\": must not contain dots"
        );
    }

    #[test]
    fn labels_annotations_finalizers() {
        let mut m = meta("n", Some("d"));
        m.labels = Some([("bad key".to_string(), "v".repeat(64))].into());
        m.annotations = Some([("a".to_string(), "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT))].into());
        m.finalizers = Some(vec!["custom".into(), "example.com/f".into()]);
        let mut e = Errors::default();
        validate_object_meta(&m, true, NameRule::Subdomain, &mut e);
        assert_eq!(
            fields(&e),
            [
                ("metadata.labels".into(), "FieldValueInvalid".into()),
                ("metadata.labels".into(), "FieldValueInvalid".into()),
                ("metadata.annotations".into(), "FieldValueTooLong".into()),
                ("metadata.finalizers[0]".into(), "FieldValueInvalid".into()),
            ]
        );
    }

    #[test]
    fn update_keeps_name_and_namespace() {
        let mut e = Errors::default();
        validate_object_meta_update(&meta("b", Some("y")), &meta("a", Some("x")), &mut e);
        assert_eq!(
            fields(&e),
            [
                ("metadata.name".into(), "FieldValueInvalid".into()),
                ("metadata.namespace".into(), "FieldValueInvalid".into())
            ]
        );
        assert_eq!(e.0[0].message, "Invalid value: \"b\": field is immutable");
    }

    #[test]
    fn selectors() {
        let sel = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "In".into(),
                values: Some(vec!["a".into(), "b".into()]),
            }]),
        };
        let labels: BTreeMap<String, String> =
            [("app".into(), "web".into()), ("tier".into(), "a".into())].into();
        assert_eq!(selector_matches(&sel, Some(&labels)), Some(true));
        assert_eq!(selector_matches(&sel, None), Some(false));
        let mut e = Errors::default();
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "k".into(),
                operator: "Is".into(),
                values: None,
            }]),
            ..Default::default()
        };
        validate_label_selector(&bad, &Path::new("spec").child("selector"), &mut e);
        assert_eq!(e.0[0].field, "spec.selector.matchExpressions[0].operator");
        assert_eq!(selector_matches(&bad, None), None);
        assert!(selector_is_empty(&LabelSelector::default()));
    }
}
