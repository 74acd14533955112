//! Naming resources and objects: which API resource a type is served as, and short accessors
//! on object metadata.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::{ClusterResourceScope, Metadata, NamespaceResourceScope, Resource};

use crate::bindings::kmicro::module::types::ResourceRef;

/// Whether a resource scope is namespaced; implemented for k8s-openapi's two object scopes.
pub trait Scope {
    /// True for namespaced resources.
    const NAMESPACED: bool;
}

impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

/// A Kubernetes object type the SDK can read and write.
pub trait Object:
    Resource
    + Metadata<Ty = ObjectMeta>
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Clone
    + 'static
{
}

impl<K> Object for K where
    K: Resource
        + Metadata<Ty = ObjectMeta>
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Clone
        + 'static
{
}

/// The API resource of `K` in `namespace` (ignored for cluster-scoped kinds).
pub fn resource_ref<K: Resource>(namespace: Option<&str>) -> ResourceRef
where
    K::Scope: Scope,
{
    ResourceRef {
        group: K::GROUP.to_string(),
        version: K::VERSION.to_string(),
        resource: K::URL_PATH_SEGMENT.to_string(),
        namespace: if <K::Scope as Scope>::NAMESPACED {
            namespace.map(str::to_string)
        } else {
            None
        },
    }
}

/// Where an object lives: namespace (empty for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// The object at `namespace`/`name`.
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// Where `obj` lives.
    pub fn of<K: Metadata<Ty = ObjectMeta>>(obj: &K) -> Self {
        let meta = obj.metadata();
        Self::new(
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or(""),
        )
    }

    /// The namespace as an option (none when cluster-scoped).
    pub fn namespace(&self) -> Option<&str> {
        (!self.namespace.is_empty()).then_some(self.namespace.as_str())
    }
}

/// Short accessors on object metadata.
pub trait ResourceExt: Metadata<Ty = ObjectMeta> {
    /// `metadata.name`, empty when unset.
    fn name_any(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// `metadata.namespace`, empty when unset.
    fn namespace_any(&self) -> &str {
        self.metadata().namespace.as_deref().unwrap_or("")
    }

    /// `metadata.uid`, empty when unset.
    fn uid_any(&self) -> &str {
        self.metadata().uid.as_deref().unwrap_or("")
    }

    /// `metadata.labels`, empty when unset.
    fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.metadata().labels.as_ref().unwrap_or(&EMPTY)
    }

    /// `metadata.annotations`, empty when unset.
    fn annotations(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.metadata().annotations.as_ref().unwrap_or(&EMPTY)
    }

    /// `metadata.ownerReferences`, empty when unset.
    fn owner_references(&self) -> &[OwnerReference] {
        self.metadata().owner_references.as_deref().unwrap_or(&[])
    }

    /// The owner reference with `controller: true`, if any.
    fn controller_owner(&self) -> Option<&OwnerReference> {
        self.owner_references()
            .iter()
            .find(|o| o.controller == Some(true))
    }

    /// Whether `metadata.deletionTimestamp` is set.
    fn is_deleting(&self) -> bool {
        self.metadata().deletion_timestamp.is_some()
    }

    /// `metadata.resourceVersion` as a number (kmicro's are store revisions); 0 when unset
    /// or not numeric.
    fn resource_version_number(&self) -> u64 {
        self.metadata()
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0)
    }

    /// An owner reference naming this object as the controller of another.
    fn controller_reference(&self) -> OwnerReference
    where
        Self: Resource,
    {
        OwnerReference {
            api_version: Self::API_VERSION.to_string(),
            kind: Self::KIND.to_string(),
            name: self.name_any().to_string(),
            uid: self.uid_any().to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

impl<K: Metadata<Ty = ObjectMeta>> ResourceExt for K {}
