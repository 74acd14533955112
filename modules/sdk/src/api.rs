//! The typed API client: `Api<K>` over the host's `api` imports, bodies as k8s-openapi types.

use std::marker::PhantomData;

use k8s_openapi::List;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::kmicro::module::api as host;
use crate::bindings::kmicro::module::types as wit;
use crate::error::{ApiError, Error};
use crate::resource::{Object, Scope, resource_ref};

/// Options of a list or a watch.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    /// Label selector (`app=web,tier!=db`).
    pub label_selector: Option<String>,
    /// Field selector (`spec.nodeName=n1`).
    pub field_selector: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// Continue token of the previous page.
    pub continue_token: Option<String>,
}

impl ListParams {
    /// Only objects matching the label selector.
    pub fn labels(selector: &str) -> Self {
        Self {
            label_selector: Some(selector.to_string()),
            ..Self::default()
        }
    }

    /// Only objects matching the field selector.
    pub fn fields(selector: &str) -> Self {
        Self {
            field_selector: Some(selector.to_string()),
            ..Self::default()
        }
    }

    pub(crate) fn to_wit(&self) -> wit::ListOptions {
        wit::ListOptions {
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            limit: self.limit,
            continue_token: self.continue_token.clone(),
        }
    }
}

/// How a patch body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Strategic merge patch.
    Strategic,
    /// Server-side apply.
    Apply,
}

/// Options of create, update and patch.
#[derive(Debug, Clone, Default)]
pub struct WriteParams {
    /// Validate without persisting.
    pub dry_run: bool,
    /// Field manager; the host uses the module's name when none.
    pub field_manager: Option<String>,
    /// Server-side apply: take over conflicting fields.
    pub force: bool,
}

impl WriteParams {
    pub(crate) fn to_wit(&self) -> wit::WriteOptions {
        wit::WriteOptions {
            dry_run: self.dry_run,
            field_manager: self.field_manager.clone(),
            force: self.force,
        }
    }
}

/// Options of delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteParams {
    /// `Foreground`, `Background` or `Orphan`.
    pub propagation_policy: Option<String>,
    /// Grace period override, in seconds.
    pub grace_period_seconds: Option<i64>,
    /// Delete only if the uid still matches.
    pub precondition_uid: Option<String>,
    /// Delete only if the resourceVersion still matches.
    pub precondition_resource_version: Option<String>,
}

impl DeleteParams {
    /// Background deletion, only of the object with this uid.
    pub fn with_uid(uid: &str) -> Self {
        Self {
            precondition_uid: Some(uid.to_string()),
            ..Self::default()
        }
    }

    pub(crate) fn to_wit(&self) -> wit::DeleteOptions {
        wit::DeleteOptions {
            propagation_policy: self.propagation_policy.clone(),
            grace_period_seconds: self.grace_period_seconds,
            precondition_uid: self.precondition_uid.clone(),
            precondition_resource_version: self.precondition_resource_version.clone(),
        }
    }
}

/// What a delete answered: the object, still there with finalizers pending, or gone.
#[derive(Debug, Clone)]
pub enum Deleted<K> {
    /// The object remains (finalizers or a grace period) in this state.
    Pending(Box<K>),
    /// The object is gone.
    Gone,
}

/// A typed client for kind `K`, in one namespace or across all (or cluster-scoped).
pub struct Api<K> {
    namespace: Option<String>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            namespace: self.namespace.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Object> Api<K>
where
    K::Scope: Scope,
{
    /// Objects in `namespace`.
    pub fn namespaced(namespace: &str) -> Self {
        Self {
            namespace: Some(namespace.to_string()),
            kind: PhantomData,
        }
    }

    /// Cluster-scoped objects, or namespaced ones across all namespaces (lists only).
    pub fn all() -> Self {
        Self {
            namespace: None,
            kind: PhantomData,
        }
    }

    fn res(&self) -> wit::ResourceRef {
        resource_ref::<K>(self.namespace.as_deref())
    }

    /// Reads object `name`.
    pub fn get(&self, name: &str) -> Result<K, Error> {
        decode(host::get(&self.res(), name, None))
    }

    /// Reads object `name`, or none when it does not exist.
    pub fn get_opt(&self, name: &str) -> Result<Option<K>, Error> {
        match host::get(&self.res(), name, None) {
            Err(e) if e.code == 404 => Ok(None),
            other => decode(other).map(Some),
        }
    }

    /// Lists objects.
    pub fn list(&self, params: &ListParams) -> Result<List<K>, Error>
    where
        K: k8s_openapi::ListableResource,
    {
        decode(host::list(&self.res(), &params.to_wit()))
    }

    /// Creates `obj`; answers the stored object.
    pub fn create(&self, obj: &K) -> Result<K, Error> {
        let body = encode(obj)?;
        decode(host::create(
            &self.res(),
            &body,
            &WriteParams::default().to_wit(),
        ))
    }

    /// Replaces `obj` (by its name and resourceVersion: a stale one is a 409 `Conflict`).
    pub fn replace(&self, obj: &K) -> Result<K, Error> {
        self.update(obj, None)
    }

    /// Replaces the `status` of `obj`.
    pub fn replace_status(&self, obj: &K) -> Result<K, Error> {
        self.update(obj, Some("status"))
    }

    fn update(&self, obj: &K, subresource: Option<&str>) -> Result<K, Error> {
        let name = obj.metadata().name.clone().unwrap_or_default();
        let body = encode(obj)?;
        decode(host::update(
            &self.res(),
            &name,
            subresource,
            &body,
            &WriteParams::default().to_wit(),
        ))
    }

    /// Patches object `name` (or its `subresource`).
    pub fn patch(
        &self,
        name: &str,
        subresource: Option<&str>,
        patch_type: PatchType,
        patch: &serde_json::Value,
        params: &WriteParams,
    ) -> Result<K, Error> {
        let kind = match patch_type {
            PatchType::Json => wit::PatchType::Json,
            PatchType::Merge => wit::PatchType::Merge,
            PatchType::Strategic => wit::PatchType::Strategic,
            PatchType::Apply => wit::PatchType::Apply,
        };
        let body = encode(patch)?;
        decode(host::patch(
            &self.res(),
            name,
            subresource,
            kind,
            &body,
            &params.to_wit(),
        ))
    }

    /// Merge-patches the `status` of object `name`.
    pub fn patch_status(&self, name: &str, patch: &serde_json::Value) -> Result<K, Error> {
        self.patch(
            name,
            Some("status"),
            PatchType::Merge,
            patch,
            &WriteParams::default(),
        )
    }

    /// Deletes object `name`.
    pub fn delete(&self, name: &str, params: &DeleteParams) -> Result<Deleted<K>, Error> {
        let answer = host::delete(&self.res(), name, &params.to_wit()).map_err(ApiError::from)?;
        let value: serde_json::Value = serde_json::from_str(&answer)?;
        if value.get("kind").and_then(|k| k.as_str()) == Some(K::KIND) {
            Ok(Deleted::Pending(Box::new(serde_json::from_value(value)?)))
        } else {
            Ok(Deleted::Gone)
        }
    }

    /// Creates subresource `subresource` of object `name` (`pods/binding`, `pods/eviction`),
    /// answering the raw JSON.
    pub fn create_subresource<B: Serialize>(
        &self,
        name: &str,
        subresource: &str,
        body: &B,
    ) -> Result<serde_json::Value, Error> {
        let body = encode(body)?;
        let answer = host::create_subresource(
            &self.res(),
            name,
            subresource,
            &body,
            &WriteParams::default().to_wit(),
        )
        .map_err(ApiError::from)?;
        Ok(serde_json::from_str(&answer)?)
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Decode(e.to_string()))
}

fn decode<T: DeserializeOwned>(answer: Result<String, wit::ApiError>) -> Result<T, Error> {
    let body = answer.map_err(ApiError::from)?;
    Ok(serde_json::from_str(&body)?)
}
