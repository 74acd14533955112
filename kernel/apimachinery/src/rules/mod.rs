//! Per-kind decoding, defaulting and validation: what kube-apiserver's conversion, defaulting
//! (`SetDefaults_*`), registry strategies (`PrepareForCreate`/`PrepareForUpdate`) and
//! validation (`ValidateX`/`ValidateXUpdate`) do to an object before it is stored.
//!
//! The API server parses the body, checks `apiVersion`/`kind` against the URL, resolves
//! `generateName`, and manages `uid`, timestamps, `resourceVersion`, `generation` and status;
//! [`prepare_create`] and [`prepare_update`] do the kind-specific rest: decode into the typed
//! `k8s-openapi` struct (dropping unknown fields, as kube prunes them), apply kube's defaults,
//! validate, and encode back to JSON.
//!
//! Each kind implements the crate-private `Kind` trait, whose hooks default to doing nothing;
//! one generic function per operation runs decode → defaults → prepare → validate → encode.

mod apiextensions;
mod apps;
mod batch;
mod core;
pub(crate) mod field;
pub(crate) mod meta;
mod modules;

mod other;
mod pod;
mod rbac;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::registry::ResourceInfo;
use crate::status::Cause;
use field::Errors;
use meta::NameRule;

/// Maps a resource to its `k8s-openapi` type, calling `$run!(Type)`; `$fallback` otherwise.
macro_rules! dispatch {
    ($res:expr, $run:ident, $fallback:expr) => {{
        use k8s_openapi::api;
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
        match ($res.group, $res.version, $res.kind) {
            ("apiextensions.k8s.io", "v1", "CustomResourceDefinition") => {
                $run!(apiextensions::v1::CustomResourceDefinition)
            }
            ("", "v1", "Namespace") => $run!(api::core::v1::Namespace),
            ("", "v1", "Node") => $run!(api::core::v1::Node),
            ("", "v1", "Pod") => $run!(api::core::v1::Pod),
            ("", "v1", "Service") => $run!(api::core::v1::Service),
            ("", "v1", "Endpoints") => $run!(api::core::v1::Endpoints),
            ("", "v1", "ConfigMap") => $run!(api::core::v1::ConfigMap),
            ("", "v1", "Secret") => $run!(api::core::v1::Secret),
            ("", "v1", "ServiceAccount") => $run!(api::core::v1::ServiceAccount),
            ("", "v1", "Event") => $run!(api::core::v1::Event),
            ("", "v1", "PersistentVolume") => $run!(api::core::v1::PersistentVolume),
            ("", "v1", "PersistentVolumeClaim") => $run!(api::core::v1::PersistentVolumeClaim),
            ("", "v1", "ResourceQuota") => $run!(api::core::v1::ResourceQuota),
            ("", "v1", "LimitRange") => $run!(api::core::v1::LimitRange),
            ("apps", "v1", "Deployment") => $run!(api::apps::v1::Deployment),
            ("apps", "v1", "ReplicaSet") => $run!(api::apps::v1::ReplicaSet),
            ("apps", "v1", "DaemonSet") => $run!(api::apps::v1::DaemonSet),
            ("apps", "v1", "StatefulSet") => $run!(api::apps::v1::StatefulSet),
            ("apps", "v1", "ControllerRevision") => $run!(api::apps::v1::ControllerRevision),
            ("batch", "v1", "Job") => $run!(api::batch::v1::Job),
            ("batch", "v1", "CronJob") => $run!(api::batch::v1::CronJob),
            ("coordination.k8s.io", "v1", "Lease") => $run!(api::coordination::v1::Lease),
            ("discovery.k8s.io", "v1", "EndpointSlice") => {
                $run!(api::discovery::v1::EndpointSlice)
            }
            ("events.k8s.io", "v1", "Event") => $run!(api::events::v1::Event),
            ("networking.k8s.io", "v1", "Ingress") => $run!(api::networking::v1::Ingress),
            ("networking.k8s.io", "v1", "IngressClass") => {
                $run!(api::networking::v1::IngressClass)
            }
            ("networking.k8s.io", "v1", "NetworkPolicy") => {
                $run!(api::networking::v1::NetworkPolicy)
            }
            ("policy", "v1", "PodDisruptionBudget") => $run!(api::policy::v1::PodDisruptionBudget),
            ("rbac.authorization.k8s.io", "v1", "Role") => $run!(api::rbac::v1::Role),
            ("rbac.authorization.k8s.io", "v1", "ClusterRole") => $run!(api::rbac::v1::ClusterRole),
            ("rbac.authorization.k8s.io", "v1", "RoleBinding") => $run!(api::rbac::v1::RoleBinding),
            ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding") => {
                $run!(api::rbac::v1::ClusterRoleBinding)
            }
            ("storage.k8s.io", "v1", "StorageClass") => $run!(api::storage::v1::StorageClass),
            ("scheduling.k8s.io", "v1", "PriorityClass") => {
                $run!(api::scheduling::v1::PriorityClass)
            }
            ("modules.kmicro.io", "v1alpha1", "Module") => $run!(crate::module::Module),
            _ => $fallback,
        }
    }};
}

/// Whether `labels` satisfy the label selector `sel` (a selector that cannot be evaluated
/// matches nothing, as kube skips it).
pub fn selector_matches_labels(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: Option<&std::collections::BTreeMap<String, String>>,
) -> bool {
    meta::selector_matches(sel, labels).unwrap_or(false)
}

/// Why an object was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    /// The object does not decode as its kind (a wrongly typed field, not an object):
    /// kube-apiserver answers 400 Bad Request with this message.
    #[error("{0}")]
    Decode(String),
    /// The object decodes but breaks the kind's rules: 422 Unprocessable Entity with these
    /// causes.
    #[error("invalid object: {} causes", .0.len())]
    Invalid(Vec<Cause>),
}

/// Prepares a new object for storage: decodes it as the resource's kind, applies kube's
/// defaults and create-time preparation, validates it, and returns it as JSON.
///
/// `obj` is expected to carry its final `metadata.name` and, for namespaced resources,
/// `metadata.namespace`; `apiVersion` and `kind` are filled in when absent.
pub fn prepare_create(resource: &ResourceInfo, obj: Value) -> Result<Value, RulesError> {
    macro_rules! run {
        ($k:ty) => {
            create::<$k>(resource, obj)
        };
    }
    dispatch!(resource, run, unknown_create(resource, obj))
}

/// Prepares a replacement for the stored object `old`: decodes and defaults both, carries
/// over what kube's update strategy keeps from the old object, checks the new one and what
/// may not change, and returns the new object as JSON.
pub fn prepare_update(
    resource: &ResourceInfo,
    new: Value,
    old: &Value,
) -> Result<Value, RulesError> {
    macro_rules! run {
        ($k:ty) => {
            update::<$k>(resource, new, old)
        };
    }
    dispatch!(resource, run, unknown_update(resource, new, old))
}

/// Prepares a `namespaces/<name>/finalize` update (kube's NamespaceFinalize REST): the stored
/// namespace `old` with the `spec.finalizers` of the body `new` — everything else in the body
/// is ignored —, defaulted and validated as a namespace (finalizer names must be qualified
/// names, and a name without a `/` one of kube's standard ones).
pub fn prepare_namespace_finalize(new: Value, old: &Value) -> Result<Value, RulesError> {
    use k8s_openapi::api::core::v1::Namespace;
    let resource = crate::registry::find("", "v1", "namespaces").expect("namespaces are built in");
    let new: Namespace = decode(resource, new)?;
    let old: Namespace = decode(resource, old.clone())?;
    let mut obj = self::core::finalize_namespace(new, old.clone());
    obj.set_defaults();
    let mut errs = Errors::default();
    meta::validate_object_meta_update(&obj.metadata, &old.metadata, &mut errs);
    obj.validate(&mut errs);
    finish(errs)?;
    encode(resource, &obj)
}

/// The kind-specific part of kube-apiserver's handling of one kind. Every hook defaults to
/// doing nothing, so a kind implements only what kube does for it.
pub(crate) trait Kind:
    Serialize + DeserializeOwned + k8s_openapi::Metadata<Ty = ObjectMeta>
{
    /// How `metadata.name` is validated.
    const NAME_RULE: NameRule = NameRule::Subdomain;

    /// kube's defaulting (`SetDefaults_*`), applied whenever an object is decoded.
    fn set_defaults(&mut self) {}

    /// kube's `PrepareForCreate`: what the registry resets on a new object (status, mostly).
    fn on_create(&mut self) {}

    /// kube's `PrepareForUpdate`: what the registry carries over from the stored object.
    fn on_update(&mut self, _old: &Self) {}

    /// Object rules, checked on create and again on update.
    fn validate(&self, _errs: &mut Errors) {}

    /// Rules checked on create only.
    fn validate_create(&self, _errs: &mut Errors) {}

    /// Rules comparing a replacement with the stored object (immutability).
    fn validate_update(&self, _old: &Self, _errs: &mut Errors) {}
}

fn decode_error(resource: &ResourceInfo, detail: impl std::fmt::Display) -> RulesError {
    RulesError::Decode(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}",
        kind = resource.kind,
        version = resource.version,
    ))
}

/// Decodes `obj` as `K`, filling in `apiVersion` and `kind` when absent.
fn decode<K: Kind>(resource: &ResourceInfo, mut obj: Value) -> Result<K, RulesError> {
    let Value::Object(map) = &mut obj else {
        return Err(decode_error(resource, "the object must be a JSON object"));
    };
    for (key, value) in [
        ("apiVersion", resource.api_version()),
        ("kind", resource.kind.to_string()),
    ] {
        let slot = map.entry(key).or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::String(value);
        }
    }
    serde_json::from_value(obj).map_err(|e| decode_error(resource, e))
}

fn encode<K: Kind>(resource: &ResourceInfo, obj: &K) -> Result<Value, RulesError> {
    serde_json::to_value(obj).map_err(|e| decode_error(resource, e))
}

fn finish(errs: Errors) -> Result<(), RulesError> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(RulesError::Invalid(errs.0))
    }
}

fn create<K: Kind>(resource: &ResourceInfo, obj: Value) -> Result<Value, RulesError> {
    let mut obj: K = decode(resource, obj)?;
    if !resource.namespaced {
        // kube clears the namespace of cluster-scoped objects rather than refusing them.
        obj.metadata_mut().namespace = None;
    }
    obj.set_defaults();
    obj.on_create();
    // kube answers with the stored object as read back, defaults applied again.
    obj.set_defaults();
    let mut errs = Errors::default();
    meta::validate_object_meta(obj.metadata(), resource.namespaced, K::NAME_RULE, &mut errs);
    obj.validate(&mut errs);
    obj.validate_create(&mut errs);
    finish(errs)?;
    encode(resource, &obj)
}

fn update<K: Kind>(resource: &ResourceInfo, new: Value, old: &Value) -> Result<Value, RulesError> {
    let mut obj: K = decode(resource, new)?;
    let mut old: K = decode(resource, old.clone())?;
    if !resource.namespaced {
        obj.metadata_mut().namespace = None;
        old.metadata_mut().namespace = None;
    }
    obj.set_defaults();
    old.set_defaults();
    obj.on_update(&old);
    obj.set_defaults();
    let mut errs = Errors::default();
    meta::validate_object_meta_update(obj.metadata(), old.metadata(), &mut errs);
    meta::validate_namespace_field(obj.metadata(), resource.namespaced, &mut errs);
    obj.validate(&mut errs);
    obj.validate_update(&old, &mut errs);
    finish(errs)?;
    encode(resource, &obj)
}

fn decode_metadata(resource: &ResourceInfo, obj: &Value) -> Result<ObjectMeta, RulesError> {
    if !obj.is_object() {
        return Err(decode_error(resource, "the object must be a JSON object"));
    }
    match obj.get("metadata") {
        None | Some(Value::Null) => Ok(ObjectMeta::default()),
        Some(m) => serde_json::from_value(m.clone()).map_err(|e| decode_error(resource, e)),
    }
}

/// A resource without kind-specific rules: metadata is checked, the object kept as given.
fn unknown_create(resource: &ResourceInfo, obj: Value) -> Result<Value, RulesError> {
    let meta = decode_metadata(resource, &obj)?;
    let mut errs = Errors::default();
    meta::validate_object_meta(&meta, resource.namespaced, NameRule::Subdomain, &mut errs);
    finish(errs)?;
    Ok(obj)
}

fn unknown_update(resource: &ResourceInfo, new: Value, old: &Value) -> Result<Value, RulesError> {
    let meta = decode_metadata(resource, &new)?;
    let old_meta = decode_metadata(resource, old)?;
    let mut errs = Errors::default();
    meta::validate_object_meta_update(&meta, &old_meta, &mut errs);
    meta::validate_namespace_field(&meta, resource.namespaced, &mut errs);
    finish(errs)?;
    Ok(new)
}

#[cfg(test)]
mod tests;
