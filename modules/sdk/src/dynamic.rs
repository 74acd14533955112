//! Untyped objects, clients and watches, for controllers that treat many kinds alike (the
//! garbage collector, the namespace controller) or kinds `k8s-openapi` does not know
//! (custom resources).
//!
//! An [`ApiResource`] names the resource at run time; a [`DynamicObject`] is any object, its
//! metadata typed and the rest kept as JSON; [`DynamicApi`] is the client and
//! [`Setup::watch_dynamic`] / [`Setup::watch_metadata`] the watches, giving ordinary
//! [`Cache`]s of `DynamicObject`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource, SubResourceScope};
use serde::{Deserialize, Serialize};

use crate::api::{DeleteParams, Deleted, ListParams, PatchType, WriteParams};
use crate::bindings::kmicro::module::api as host;
use crate::bindings::kmicro::module::types as wit;
use crate::cache::Cache;
use crate::error::{ApiError, Error};
use crate::resource::Scope;
use crate::runtime::{Key, Setup};

/// An API resource named at run time: what `k8s-openapi`'s `Resource` says at compile time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiResource {
    /// API group; empty for the core group.
    pub group: String,
    /// API version, such as `v1`.
    pub version: String,
    /// Kind, such as `ReplicaSet`.
    pub kind: String,
    /// Plural resource name, such as `replicasets`.
    pub plural: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl ApiResource {
    /// The resource `plural` of kind `kind` in `group`/`version`.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
            plural: plural.to_string(),
            namespaced,
        }
    }

    /// The resource of the `k8s-openapi` type `K`.
    pub fn of<K: Resource>() -> Self
    where
        K::Scope: Scope,
    {
        Self::new(
            K::GROUP,
            K::VERSION,
            K::KIND,
            K::URL_PATH_SEGMENT,
            <K::Scope as Scope>::NAMESPACED,
        )
    }

    /// `group/version`, or just `version` for the core group (an object's `apiVersion`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group of an `apiVersion` (empty for the core group's `v1`).
    pub fn group_of(api_version: &str) -> &str {
        api_version
            .rsplit_once('/')
            .map_or("", |(group, _version)| group)
    }

    /// The resource in `namespace` (ignored when cluster-scoped), as the host names it.
    pub(crate) fn to_wit(&self, namespace: Option<&str>) -> wit::ResourceRef {
        wit::ResourceRef {
            group: self.group.clone(),
            version: self.version.clone(),
            resource: self.plural.clone(),
            namespace: if self.namespaced {
                namespace.map(str::to_string)
            } else {
                None
            },
        }
    }
}

/// Any object: `apiVersion`, `kind` and `metadata` read, everything else kept as JSON.
///
/// It implements `k8s-openapi`'s `Resource` only so that [`Cache`] and
/// [`crate::ResourceExt`] work on it: its constants are empty and its scope is
/// `SubResourceScope`, which keeps it out of [`crate::Api`] and [`Setup::watch`] at compile
/// time. Use [`DynamicApi`] and [`Setup::watch_dynamic`] instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicObject {
    /// `apiVersion` (often absent on the items of a list).
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    /// `kind` (often absent on the items of a list).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// `metadata`.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Every other top-level field (`spec`, `status`, `data`, ...).
    #[serde(flatten)]
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl Resource for DynamicObject {
    const API_VERSION: &'static str = "";
    const GROUP: &'static str = "";
    const KIND: &'static str = "";
    const VERSION: &'static str = "";
    const URL_PATH_SEGMENT: &'static str = "";
    type Scope = SubResourceScope;
}

impl Metadata for DynamicObject {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl DynamicObject {
    /// Only the metadata, without `managedFields`: what a controller of ownership or
    /// lifecycle needs, at a fraction of the memory.
    pub fn into_metadata_only(mut self) -> Self {
        self.data.clear();
        self.metadata.managed_fields = None;
        self
    }
}

/// One page of a list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DynamicList {
    /// The objects.
    #[serde(default)]
    pub items: Vec<DynamicObject>,
    /// The list's metadata: `resourceVersion`, `continue`.
    #[serde(default)]
    pub metadata: ListMeta,
}

/// The metadata of a list.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListMeta {
    /// The revision the list was read at.
    #[serde(rename = "resourceVersion", default)]
    pub resource_version: Option<String>,
    /// The token for the next page, when there is one.
    #[serde(rename = "continue", default)]
    pub continue_token: Option<String>,
}

/// An untyped client for one [`ApiResource`], in one namespace or across all.
#[derive(Debug, Clone)]
pub struct DynamicApi {
    resource: ApiResource,
    namespace: Option<String>,
}

impl DynamicApi {
    /// Objects of `resource` in `namespace` (none: cluster-scoped, or lists across all
    /// namespaces). A namespace is ignored for a cluster-scoped resource.
    pub fn new(resource: &ApiResource, namespace: Option<&str>) -> Self {
        Self {
            resource: resource.clone(),
            namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_string),
        }
    }

    /// The resource this client reaches.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    fn res(&self) -> wit::ResourceRef {
        self.resource.to_wit(self.namespace.as_deref())
    }

    /// Reads object `name`.
    pub fn get(&self, name: &str) -> Result<DynamicObject, Error> {
        decode(host::get(&self.res(), name, None))
    }

    /// Reads object `name`, or none when it does not exist.
    pub fn get_opt(&self, name: &str) -> Result<Option<DynamicObject>, Error> {
        match host::get(&self.res(), name, None) {
            Err(e) if e.code == 404 => Ok(None),
            other => decode(other).map(Some),
        }
    }

    /// Lists one page.
    pub fn list(&self, params: &ListParams) -> Result<DynamicList, Error> {
        decode(host::list(&self.res(), &params.to_wit()))
    }

    /// Lists every object, following continue tokens page by page.
    pub fn list_all(&self, params: &ListParams) -> Result<Vec<DynamicObject>, Error> {
        let mut params = params.clone();
        let mut items = Vec::new();
        loop {
            let page = self.list(&params)?;
            items.extend(page.items);
            match page.metadata.continue_token.filter(|t| !t.is_empty()) {
                Some(token) => params.continue_token = Some(token),
                None => return Ok(items),
            }
        }
    }

    /// Replaces object `obj` (or its `subresource`), by name and resourceVersion.
    pub fn replace(
        &self,
        obj: &DynamicObject,
        subresource: Option<&str>,
    ) -> Result<DynamicObject, Error> {
        let name = obj.metadata.name.clone().unwrap_or_default();
        let body = serde_json::to_string(obj)?;
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
    ) -> Result<DynamicObject, Error> {
        let kind = match patch_type {
            PatchType::Json => wit::PatchType::Json,
            PatchType::Merge => wit::PatchType::Merge,
            PatchType::Strategic => wit::PatchType::Strategic,
            PatchType::Apply => wit::PatchType::Apply,
        };
        decode(host::patch(
            &self.res(),
            name,
            subresource,
            kind,
            &patch.to_string(),
            &WriteParams::default().to_wit(),
        ))
    }

    /// Deletes object `name`: the object when finalizers or a grace period keep it, else gone.
    pub fn delete(
        &self,
        name: &str,
        params: &DeleteParams,
    ) -> Result<Deleted<DynamicObject>, Error> {
        let answer = host::delete(&self.res(), name, &params.to_wit()).map_err(ApiError::from)?;
        let value: serde_json::Value = serde_json::from_str(&answer)?;
        if value.get("kind").and_then(|k| k.as_str()) == Some("Status") {
            Ok(Deleted::Gone)
        } else {
            Ok(Deleted::Pending(Box::new(serde_json::from_value(value)?)))
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    answer: Result<String, wit::ApiError>,
) -> Result<T, Error> {
    let body = answer.map_err(ApiError::from)?;
    Ok(serde_json::from_str(&body)?)
}

impl Setup {
    /// Watches `resource` (in `namespace`, or everywhere) untyped and keeps a cache of it;
    /// `map` names the keys to queue, as with [`Setup::watch`].
    pub fn watch_dynamic<F>(
        &mut self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
        map: F,
    ) -> Result<Cache<DynamicObject>, Error>
    where
        F: Fn(&DynamicObject) -> Vec<Key> + 'static,
    {
        self.watch_resource(&resource.to_wit(namespace), params, map, |obj| obj)
    }

    /// As [`Setup::watch_dynamic`], keeping only each object's metadata (without
    /// `managedFields`): for controllers of ownership and lifecycle, which read nothing else.
    pub fn watch_metadata<F>(
        &mut self,
        resource: &ApiResource,
        namespace: Option<&str>,
        params: &ListParams,
        map: F,
    ) -> Result<Cache<DynamicObject>, Error>
    where
        F: Fn(&DynamicObject) -> Vec<Key> + 'static,
    {
        self.watch_resource(
            &resource.to_wit(namespace),
            params,
            map,
            DynamicObject::into_metadata_only,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::ResourceExt;
    use k8s_openapi::api::apps::v1::ReplicaSet;

    #[test]
    fn objects_keep_what_they_do_not_type() {
        let json = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet",
            "metadata":{"name":"web","namespace":"default","uid":"u1",
              "ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"d1","controller":true}],
              "managedFields":[{"manager":"kubectl"}]},
            "spec":{"replicas":2}}"#;
        let obj: DynamicObject = serde_json::from_str(json).unwrap();
        assert_eq!(obj.kind, "ReplicaSet");
        assert_eq!(obj.name_any(), "web");
        assert_eq!(obj.controller_owner().unwrap().uid, "d1");
        assert_eq!(obj.data["spec"]["replicas"], 2);
        let back: serde_json::Value = serde_json::to_value(&obj).unwrap();
        assert_eq!(back["spec"]["replicas"], 2);
        assert_eq!(back["apiVersion"], "apps/v1");

        let meta = obj.into_metadata_only();
        assert!(meta.data.is_empty());
        assert!(meta.metadata.managed_fields.is_none());
        assert_eq!(meta.uid_any(), "u1");
    }

    #[test]
    fn resources_name_their_group_and_version() {
        let rs = ApiResource::of::<ReplicaSet>();
        assert_eq!(rs.api_version(), "apps/v1");
        assert_eq!(rs.plural, "replicasets");
        assert!(rs.namespaced);
        assert_eq!(ApiResource::group_of("apps/v1"), "apps");
        assert_eq!(ApiResource::group_of("v1"), "");
        let wit = rs.to_wit(Some("ns"));
        assert_eq!(wit.namespace.as_deref(), Some("ns"));
        let nodes = ApiResource::new("", "v1", "Node", "nodes", false);
        assert_eq!(nodes.to_wit(Some("ns")).namespace, None);
    }

    #[test]
    fn cache_holds_dynamic_objects() {
        let cache = Cache::<DynamicObject>::default();
        let mut obj = DynamicObject::default();
        obj.metadata.name = Some("a".into());
        obj.metadata.namespace = Some("ns".into());
        assert!(cache.record(obj));
        assert!(cache.get("ns", "a").is_some());
    }
}
