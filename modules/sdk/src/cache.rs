//! Typed caches kept current from watches.
//!
//! A [`Cache`] is a cheap handle (clones share the contents). The runtime writes into it from
//! the watch it belongs to; a module may also record its own writes at once
//! ([`Cache::record`], [`Cache::forget`]) so that a reconcile right after a create does not
//! act on stale contents. A watch event never replaces a newer recorded object: objects are
//! compared by resourceVersion.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::resource::{Object, ObjectRef, ResourceExt};
use crate::selector::Selector;

/// The objects of one watch, by namespace and name.
pub struct Cache<K> {
    objects: Rc<RefCell<BTreeMap<ObjectRef, Rc<K>>>>,
}

impl<K> Clone for Cache<K> {
    fn clone(&self) -> Self {
        Self {
            objects: Rc::clone(&self.objects),
        }
    }
}

impl<K: Object> Default for Cache<K> {
    fn default() -> Self {
        Self {
            objects: Rc::new(RefCell::new(BTreeMap::new())),
        }
    }
}

impl<K: Object> Cache<K> {
    /// The object at `namespace`/`name` (namespace empty for cluster-scoped objects).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Rc<K>> {
        self.objects
            .borrow()
            .get(&ObjectRef::new(namespace, name))
            .cloned()
    }

    /// Every object, ordered by namespace and name.
    pub fn all(&self) -> Vec<Rc<K>> {
        self.objects.borrow().values().cloned().collect()
    }

    /// The objects of `namespace`, ordered by name.
    pub fn in_namespace(&self, namespace: &str) -> Vec<Rc<K>> {
        let start = ObjectRef::new(namespace, "");
        self.objects
            .borrow()
            .range(start..)
            .take_while(|(key, _)| key.namespace == namespace)
            .map(|(_, obj)| Rc::clone(obj))
            .collect()
    }

    /// The objects of `namespace` whose labels match `selector`.
    pub fn matching(&self, namespace: &str, selector: &Selector) -> Vec<Rc<K>> {
        self.in_namespace(namespace)
            .into_iter()
            .filter(|obj| selector.matches(obj.labels()))
            .collect()
    }

    /// The objects of `namespace` whose controller owner has `uid`.
    pub fn owned_by(&self, namespace: &str, uid: &str) -> Vec<Rc<K>> {
        self.in_namespace(namespace)
            .into_iter()
            .filter(|obj| obj.controller_owner().is_some_and(|o| o.uid == uid))
            .collect()
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.objects.borrow().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.objects.borrow().is_empty()
    }

    /// Records `obj` as the module just wrote it (or as a watch delivered it), unless the cache
    /// holds a newer version; answers whether it was taken.
    pub fn record(&self, obj: K) -> bool {
        let key = ObjectRef::of(&obj);
        let mut objects = self.objects.borrow_mut();
        if let Some(held) = objects.get(&key)
            && is_newer(held.as_ref(), &obj)
        {
            return false;
        }
        objects.insert(key, Rc::new(obj));
        true
    }

    /// Forgets the object at `key` (it was deleted), answering what was held.
    pub fn forget(&self, key: &ObjectRef) -> Option<Rc<K>> {
        self.objects.borrow_mut().remove(key)
    }
}

/// Whether `held` is strictly newer than `incoming` by resourceVersion (same uid only: a
/// re-created object is always taken).
fn is_newer<K: Object>(held: &K, incoming: &K) -> bool {
    held.uid_any() == incoming.uid_any()
        && held.resource_version_number() > incoming.resource_version_number()
}
