//! Resource descriptions built at run time (from CustomResourceDefinitions), made `&'static`
//! like the built-in table, so routing, storage keys, watch caches, discovery and tables treat
//! both alike.
//!
//! Each distinct description is leaked once and then reused: registering an unchanged
//! definition again (every status update, every restart of the reconciler, a re-creation after
//! a deletion) allocates nothing. Only a description that differs in some field (a new version,
//! a renamed short name) costs a new entry: one [`ResourceInfo`] (120 bytes on 64-bit targets,
//! 60 on armv7) plus the strings and lists not seen before. Memory grows with the number of
//! distinct descriptions a process ever serves, which only cluster administrators control
//! (CRD writes), not with the number of writes; a restart starts from what is stored.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::registry::ResourceInfo;

/// An owned description of a resource, turned into a `&'static ResourceInfo` by [`intern`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceSpec {
    /// API group.
    pub group: String,
    /// Version within the group.
    pub version: String,
    /// Kind of one object.
    pub kind: String,
    /// Plural name, used in URLs.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts.
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Whether the resource has a `status` subresource.
    pub status: bool,
    /// Whether the resource has a `scale` subresource.
    pub scale: bool,
}

#[derive(Default)]
struct Interned {
    strs: HashSet<&'static str>,
    lists: HashSet<&'static [&'static str]>,
    infos: HashSet<&'static ResourceInfo>,
}

static INTERNED: Mutex<Option<Interned>> = Mutex::new(None);

impl Interned {
    fn str(&mut self, s: &str) -> &'static str {
        if let Some(found) = self.strs.get(s) {
            return found;
        }
        let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
        self.strs.insert(leaked);
        leaked
    }

    fn list(&mut self, items: &[String]) -> &'static [&'static str] {
        let items: Vec<&'static str> = items.iter().map(|s| self.str(s)).collect();
        if let Some(found) = self.lists.get(items.as_slice()) {
            return found;
        }
        let leaked: &'static [&'static str] = Box::leak(items.into_boxed_slice());
        self.lists.insert(leaked);
        leaked
    }
}

/// The one `&'static ResourceInfo` for `spec`: the same reference for equal specs.
pub fn intern(spec: &ResourceSpec) -> &'static ResourceInfo {
    let mut guard = INTERNED.lock().unwrap_or_else(PoisonError::into_inner);
    let interned = guard.get_or_insert_with(Interned::default);
    let info = ResourceInfo {
        group: interned.str(&spec.group),
        version: interned.str(&spec.version),
        kind: interned.str(&spec.kind),
        plural: interned.str(&spec.plural),
        singular: interned.str(&spec.singular),
        namespaced: spec.namespaced,
        short_names: interned.list(&spec.short_names),
        categories: interned.list(&spec.categories),
        status: spec.status,
        scale: spec.scale,
    };
    if let Some(found) = interned.infos.get(&info) {
        return found;
    }
    let leaked: &'static ResourceInfo = Box::leak(Box::new(info));
    interned.infos.insert(leaked);
    leaked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widgets() -> ResourceSpec {
        ResourceSpec {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            short_names: vec!["wd".into()],
            categories: vec!["all".into()],
            status: true,
            scale: false,
        }
    }

    #[test]
    fn equal_specs_share_one_entry() {
        let a = intern(&widgets());
        let b = intern(&widgets());
        assert!(std::ptr::eq(a, b), "re-registering allocates nothing");
        assert_eq!(a.short_names, ["wd"]);
        let mut renamed = widgets();
        renamed.short_names = vec!["wdg".into()];
        let c = intern(&renamed);
        assert!(!std::ptr::eq(a, c));
        assert!(std::ptr::eq(a.kind, c.kind), "strings are shared");
        assert!(std::mem::size_of::<ResourceInfo>() <= 120);
    }
}
