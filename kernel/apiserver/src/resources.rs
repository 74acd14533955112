//! The resources this server serves: the built-in table plus the served versions of accepted
//! CustomResourceDefinitions.
//!
//! Built-in resources are `kmicro_apimachinery::registry::BUILTIN`; custom ones are held as one
//! immutable snapshot behind a lock, replaced whole when definitions change (see
//! [`crate::crds`]). A request takes what it needs from the snapshot once (routing finds the
//! `&'static ResourceInfo`, handlers the [`CustomResource`] with its schema), so a definition
//! changing under a request never mixes two versions of it. Custom `ResourceInfo`s are interned
//! (`kmicro_apimachinery::intern`), so they are `&'static` like built-in ones and every part of
//! the server (routing, storage keys, watch caches, discovery, tables) treats both alike.

use std::sync::{Arc, PoisonError, RwLock};

use kmicro_apimachinery::crd::{CustomResource, version};
use kmicro_apimachinery::registry::{self, BUILTIN, ResourceInfo};

/// The served resources.
#[derive(Default)]
pub struct Resources {
    custom: RwLock<Arc<Vec<Arc<CustomResource>>>>,
}

impl Resources {
    /// Only the built-in resources.
    pub fn new() -> Self {
        Self::default()
    }

    fn snapshot(&self) -> Arc<Vec<Arc<CustomResource>>> {
        self.custom
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The resource served at `group/version` under `plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
        registry::find(group, version, plural).or_else(|| {
            self.snapshot()
                .iter()
                .map(|c| c.info())
                .find(|r| r.group == group && r.version == version && r.plural == plural)
        })
    }

    /// The custom resource `r` is, if it is one and still served.
    pub fn custom(&self, r: &ResourceInfo) -> Option<Arc<CustomResource>> {
        self.snapshot()
            .iter()
            .find(|c| {
                let i = c.info();
                i.group == r.group && i.version == r.version && i.plural == r.plural
            })
            .cloned()
    }

    /// Every served custom resource version, in discovery order.
    pub fn custom_resources(&self) -> Vec<Arc<CustomResource>> {
        self.snapshot().iter().cloned().collect()
    }

    /// Every served resource: built-in ones first, then custom ones by group and version
    /// priority (discovery order).
    pub fn all(&self) -> Vec<&'static ResourceInfo> {
        let mut out: Vec<&'static ResourceInfo> = BUILTIN.iter().collect();
        out.extend(self.snapshot().iter().map(|c| c.info()));
        out
    }

    /// The served group-versions, in discovery order (core `v1` first).
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        group_versions(&self.all())
    }

    /// Replaces the custom resources; returns those no longer served. They are kept in
    /// discovery order: by group, then by version priority (so a group's preferred version
    /// comes first), then by name.
    pub fn set_custom(&self, mut served: Vec<Arc<CustomResource>>) -> Vec<&'static ResourceInfo> {
        served.sort_by(|a, b| {
            let (a, b) = (a.info(), b.info());
            a.group
                .cmp(b.group)
                .then_with(|| version::compare(a.version, b.version))
                .then_with(|| a.plural.cmp(b.plural))
        });
        let mut slot = self.custom.write().unwrap_or_else(PoisonError::into_inner);
        let removed = slot
            .iter()
            .map(|c| c.info())
            .filter(|r| !served.iter().any(|c| same(c.info(), r)))
            .collect();
        *slot = Arc::new(served);
        removed
    }
}

/// Whether two descriptions name the same resource (group, version, plural).
fn same(a: &ResourceInfo, b: &ResourceInfo) -> bool {
    a.group == b.group && a.version == b.version && a.plural == b.plural
}

/// The group-versions of `resources`, in order of first appearance.
pub fn group_versions(resources: &[&'static ResourceInfo]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in resources {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kmicro_apimachinery::crd::names;
    use serde_json::json;

    use super::*;

    /// The served versions of an accepted definition of `<plural>.example.com`.
    fn served(plural: &str, kind: &str, versions: &[&str]) -> Vec<Arc<CustomResource>> {
        let versions: Vec<_> = versions
            .iter()
            .enumerate()
            .map(|(i, v)| {
                json!({"name": v, "served": true, "storage": i == 0,
                       "schema": {"openAPIV3Schema": {"type": "object"}}})
            })
            .collect();
        let mut crd: CustomResourceDefinition = serde_json::from_value(json!({
            "metadata": {"name": format!("{plural}.example.com")},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": plural, "kind": kind}, "versions": versions},
        }))
        .unwrap();
        crd.status = Some(names::reconcile(&crd, &[], jiff::Timestamp::now()));
        CustomResource::served(&crd)
            .unwrap()
            .into_iter()
            .map(Arc::new)
            .collect()
    }

    #[test]
    fn custom_resources_join_and_leave_in_discovery_order() {
        let resources = Resources::new();
        assert!(resources.find("example.com", "v1", "widgets").is_none());
        let mut all = served("widgets", "Widget", &["v1alpha1"]);
        all.extend(served("gadgets", "Gadget", &["v1", "v2beta1"]));
        assert!(resources.set_custom(all).is_empty());
        assert_eq!(
            resources
                .find("example.com", "v1alpha1", "widgets")
                .unwrap()
                .kind,
            "Widget"
        );
        assert!(resources.find("", "v1", "pods").is_some(), "built-ins stay");
        let versions: Vec<(&str, &str)> = resources
            .group_versions()
            .into_iter()
            .filter(|(g, _)| *g == "example.com")
            .collect();
        // The group's preferred version comes first.
        assert_eq!(
            versions,
            [
                ("example.com", "v1"),
                ("example.com", "v2beta1"),
                ("example.com", "v1alpha1")
            ]
        );
        let gadgets = resources.find("example.com", "v1", "gadgets").unwrap();
        assert!(resources.custom(gadgets).is_some());

        let gone = resources.set_custom(served("gadgets", "Gadget", &["v1"]));
        let gone: Vec<(&str, &str)> = gone.iter().map(|r| (r.plural, r.version)).collect();
        assert_eq!(gone, [("gadgets", "v2beta1"), ("widgets", "v1alpha1")]);
        assert!(
            resources
                .find("example.com", "v1alpha1", "widgets")
                .is_none()
        );
    }
}
