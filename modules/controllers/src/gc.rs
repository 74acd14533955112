//! The garbage collector: kube's collection of objects by `ownerReferences`.
//!
//! - Background: an object all of whose owners are gone (absent, or present with another
//!   uid) is deleted; owners still there but deleting their dependents in the foreground
//!   count as gone too, unless the object has dependents of its own (then it is deleted in
//!   the foreground as well, after unblocking its owners). An object with a live owner keeps
//!   only its live owner references.
//! - Foreground: an owner deleted with `propagationPolicy=Foreground` carries the
//!   `foregroundDeletion` finalizer; its dependents are deleted, and the finalizer goes once
//!   no dependent with `blockOwnerDeletion` remains.
//! - Orphan: an owner deleted with `propagationPolicy=Orphan` carries the `orphan`
//!   finalizer; its dependents lose their reference to it, then the finalizer goes.
//!
//! The collector follows a fixed set of resources, since modules cannot discover the served
//! ones: every kind the other controllers of this module already watch (their caches are
//! shared, see `caches`), plus the metadata of [`metadata_only_resources`]. Together they are
//! the built-in kinds that carry owner references in practice: pods, replicasets,
//! deployments, daemonsets, statefulsets, controllerrevisions, jobs, cronjobs, services,
//! endpoints, endpointslices, configmaps, secrets, serviceaccounts, persistentvolumeclaims,
//! nodes and the node leases. Events are left out (the store expires them after an hour).
//! Owners may be of any kind: one not followed (a custom resource, say) is looked up live,
//! its resource found among the CustomResourceDefinitions.
//!
//! Keys are `gc/<plural>[.<group>]` with the object's namespace and name. A change of an
//! object queues its own key when it has owners or is being deleted with one of the two
//! finalizers above, the keys of its dependents (an index of owner uid → dependents kept
//! from the watches), and the key of any owner of it that is finalizing.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kmicro_module_sdk::api::Deleted;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ObjectMeta, OwnerReference,
};
use kmicro_module_sdk::resource::{Object, Scope};
use kmicro_module_sdk::serde_json::{Value, json};
use kmicro_module_sdk::{
    Action, ApiResource, Cache, DeleteParams, DynamicApi, DynamicObject, Error, Key, ListParams,
    PatchType, Rule, debug, info, runtime,
};

/// The prefix of the collector's key kinds.
pub const KIND_PREFIX: &str = "gc/";
/// The finalizer of an owner whose dependents are to be orphaned.
pub const ORPHAN: &str = "orphan";
/// The finalizer of an owner whose dependents are to be deleted first.
pub const FOREGROUND: &str = "foregroundDeletion";
/// How often an owner waiting for its blocking dependents is looked at again, in case no
/// event says they went.
const FOREGROUND_RECHECK_MS: u64 = 15_000;
/// How many confirmed-absent owner uids are remembered (uids are never reused).
const ABSENT_MEMORY: usize = 4096;

/// The resources the collector watches for metadata only: kinds that own or are owned and
/// that no other controller of this module reads.
pub fn metadata_only_resources() -> Vec<ApiResource> {
    // ReplicaSets, Deployments, DaemonSets, StatefulSets, ControllerRevisions and
    // PersistentVolumeClaims are read (and tracked) through the workload controllers' caches.
    vec![
        ApiResource::new("", "v1", "ConfigMap", "configmaps", true),
        ApiResource::new("", "v1", "Secret", "secrets", true),
    ]
}

/// The API access the collector needs: any object may be an owner or a dependent.
pub fn permissions() -> Vec<Rule> {
    vec![Rule::new(
        &["*"],
        &["*"],
        &["get", "list", "watch", "patch", "update", "delete"],
    )]
}

/// Whether the key kind `kind` is the collector's.
pub fn handles(kind: &str) -> bool {
    kind.starts_with(KIND_PREFIX)
}

/// The key kind of objects of `resource`.
pub fn key_kind(resource: &ApiResource) -> String {
    if resource.group.is_empty() {
        format!("{KIND_PREFIX}{}", resource.plural)
    } else {
        format!("{KIND_PREFIX}{}.{}", resource.plural, resource.group)
    }
}

/// What the collector reads of an object: identity and ownership.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// Namespace, empty when cluster-scoped.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
    /// resourceVersion, a precondition of the collector's patches.
    pub resource_version: String,
    /// Owner references.
    pub owners: Vec<OwnerReference>,
    /// Finalizers.
    pub finalizers: Vec<String>,
    /// Whether deletionTimestamp is set.
    pub deleting: bool,
}

impl Summary {
    /// The summary of an object's metadata.
    pub fn of(meta: &ObjectMeta) -> Self {
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            owners: meta.owner_references.clone().unwrap_or_default(),
            finalizers: meta.finalizers.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        }
    }

    /// Whether the object has finalizer `f`.
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Whether the object is being deleted with one of the collector's finalizers.
    pub fn is_finalizing(&self) -> bool {
        self.deleting && (self.has_finalizer(ORPHAN) || self.has_finalizer(FOREGROUND))
    }

    /// Whether the object is being deleted in the foreground (dependents first).
    pub fn is_deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }
}

/// Where the collector reads objects of one resource: a watch cache.
trait Objects {
    fn summary(&self, namespace: &str, name: &str) -> Option<Summary>;
}

impl<K: Object> Objects for Cache<K> {
    fn summary(&self, namespace: &str, name: &str) -> Option<Summary> {
        self.get(namespace, name)
            .map(|obj| Summary::of(obj.metadata()))
    }
}

/// One followed resource and its cache.
struct Source {
    resource: ApiResource,
    kind: String,
    objects: Box<dyn Objects>,
}

/// The collector's state, shared by the watches' mappings and the reconciles.
#[derive(Default)]
struct State {
    sources: Vec<Source>,
    /// Owner uid → keys of objects that named it as an owner (a superset, pruned when each
    /// dependent is reconciled).
    dependents: BTreeMap<String, BTreeSet<Key>>,
    /// Dependent key → the owner uids it is indexed under.
    owners_of: BTreeMap<Key, BTreeSet<String>>,
    /// Owners being deleted with a collector finalizer, by uid.
    finalizing: BTreeMap<String, Key>,
    /// Owner uids confirmed gone by a live read.
    absent: BTreeSet<String>,
}

impl State {
    fn source(&self, kind: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.kind == kind)
    }

    fn source_of_owner(&self, owner: &OwnerReference) -> Option<&Source> {
        let group = ApiResource::group_of(&owner.api_version);
        self.sources
            .iter()
            .find(|s| s.resource.group == group && s.resource.kind == owner.kind)
    }

    /// Indexes `key` under exactly `owners`.
    fn index(&mut self, key: &Key, owners: BTreeSet<String>) {
        let old = self.owners_of.remove(key).unwrap_or_default();
        for gone in old.difference(&owners) {
            if let Some(set) = self.dependents.get_mut(gone) {
                set.remove(key);
                if set.is_empty() {
                    self.dependents.remove(gone);
                }
            }
        }
        for uid in &owners {
            self.dependents
                .entry(uid.clone())
                .or_default()
                .insert(key.clone());
        }
        if !owners.is_empty() {
            self.owners_of.insert(key.clone(), owners);
        }
    }

    /// What a change of the object at `key` (its metadata `meta`) queues.
    fn observe(&mut self, key: Key, meta: &ObjectMeta) -> Vec<Key> {
        let summary = Summary::of(meta);
        let mut keys = Vec::new();
        if !summary.owners.is_empty() {
            // Only ever widened here: the mapping also sees the state held before a change.
            // The reconcile of `key` narrows it to the current owners.
            let mut owners = self.owners_of.get(&key).cloned().unwrap_or_default();
            owners.extend(summary.owners.iter().map(|o| o.uid.clone()));
            self.index(&key, owners);
            keys.extend(
                summary
                    .owners
                    .iter()
                    .filter_map(|o| self.finalizing.get(&o.uid).cloned()),
            );
            keys.push(key.clone());
        }
        if summary.is_finalizing() {
            self.finalizing.insert(summary.uid.clone(), key.clone());
            keys.push(key);
        }
        if let Some(dependents) = self.dependents.get(&summary.uid) {
            keys.extend(dependents.iter().cloned());
        }
        keys
    }

    /// Brings the index in line with the current state of the object at `key`.
    fn refresh(&mut self, key: &Key, current: Option<&Summary>) {
        let owners = current
            .map(|s| s.owners.iter().map(|o| o.uid.clone()).collect())
            .unwrap_or_default();
        self.index(key, owners);
        self.finalizing.retain(|uid, k| {
            k != key || current.is_some_and(|s| s.uid == *uid && s.is_finalizing())
        });
    }

    /// The current dependents of owner `uid`, with their keys.
    fn dependents_of(&self, uid: &str) -> Vec<(Key, Summary)> {
        let Some(keys) = self.dependents.get(uid) else {
            return Vec::new();
        };
        keys.iter()
            .filter_map(|key| {
                let summary = self
                    .source(&key.kind)?
                    .objects
                    .summary(&key.namespace, &key.name)?;
                summary
                    .owners
                    .iter()
                    .any(|o| o.uid == uid)
                    .then(|| (key.clone(), summary))
            })
            .collect()
    }
}

/// The collector's view of ownership: the followed caches and the dependents index. Clones
/// share it.
#[derive(Clone, Default)]
pub struct Graph(Rc<RefCell<State>>);

impl Graph {
    /// Follows the typed cache `cache` (its kind's objects may own or be owned).
    pub fn track<K: Object>(&self, cache: &Cache<K>)
    where
        K::Scope: Scope,
    {
        self.add(ApiResource::of::<K>(), Box::new(cache.clone()));
    }

    /// Follows `cache`, an untyped cache of `resource`.
    pub fn track_dynamic(&self, resource: ApiResource, cache: &Cache<DynamicObject>) {
        self.add(resource, Box::new(cache.clone()));
    }

    fn add(&self, resource: ApiResource, objects: Box<dyn Objects>) {
        let kind = key_kind(&resource);
        self.0.borrow_mut().sources.push(Source {
            resource,
            kind,
            objects,
        });
    }

    /// The keys a change of `obj` (of a typed kind) queues.
    pub fn keys_for<K: Object>(&self, obj: &K) -> Vec<Key>
    where
        K::Scope: Scope,
    {
        let resource = ApiResource::of::<K>();
        self.keys_for_meta(&resource, obj.metadata())
    }

    /// The keys a change of an object of `resource` with metadata `meta` queues.
    pub fn keys_for_meta(&self, resource: &ApiResource, meta: &ObjectMeta) -> Vec<Key> {
        let key = Key::new(
            &key_kind(resource),
            meta.namespace.as_deref().unwrap_or(""),
            meta.name.as_deref().unwrap_or(""),
        );
        self.0.borrow_mut().observe(key, meta)
    }
}

/// What became of one owner reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner exists with the referenced uid and is not deleting its dependents.
    Solid,
    /// The owner exists but is being deleted in the foreground: it waits for its dependents.
    Waiting,
    /// The owner is gone, or another object now has its name.
    Dangling,
    /// The owner's kind is unknown: the reference is left alone.
    Unresolvable,
}

/// What to do with a dependent, given its owners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing: a live owner holds it, and every reference is to a live owner.
    Keep,
    /// A live owner holds it: drop the references to these (gone or waiting) owner uids.
    RemoveOwners(Vec<String>),
    /// No live owner: delete it with this propagation policy.
    Delete(&'static str),
    /// Only waiting owners, and it has dependents itself: clear `blockOwnerDeletion` on the
    /// references to these owner uids (so its owners do not wait on it forever), then
    /// delete it in the foreground.
    UnblockAndDelete(Vec<String>),
}

/// kube's `attemptToDeleteItem` decision for an object whose owners are in `owners`.
pub fn decide(
    owners: &[(OwnerReference, OwnerState)],
    finalizers: &[String],
    has_dependents: bool,
) -> Verdict {
    let uids = |state: OwnerState| -> Vec<String> {
        owners
            .iter()
            .filter(|(_, s)| *s == state)
            .map(|(o, _)| o.uid.clone())
            .collect()
    };
    let solid = owners
        .iter()
        .any(|(_, s)| matches!(s, OwnerState::Solid | OwnerState::Unresolvable));
    let dangling = uids(OwnerState::Dangling);
    let waiting = uids(OwnerState::Waiting);
    if solid {
        if dangling.is_empty() && waiting.is_empty() {
            return Verdict::Keep;
        }
        return Verdict::RemoveOwners(dangling.into_iter().chain(waiting).collect());
    }
    if !waiting.is_empty() && has_dependents {
        let blocking = owners
            .iter()
            .filter(|(o, s)| *s == OwnerState::Waiting && o.block_owner_deletion == Some(true))
            .map(|(o, _)| o.uid.clone())
            .collect();
        return Verdict::UnblockAndDelete(blocking);
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    Verdict::Delete(if has(ORPHAN) {
        "Orphan"
    } else if has(FOREGROUND) {
        "Foreground"
    } else {
        "Background"
    })
}

/// The state of an owner reference given what exists under the owner's name.
pub fn owner_state(reference: &OwnerReference, found: Option<&Summary>) -> OwnerState {
    match found {
        Some(owner) if owner.uid == reference.uid && owner.is_deleting_dependents() => {
            OwnerState::Waiting
        }
        Some(owner) if owner.uid == reference.uid => OwnerState::Solid,
        _ => OwnerState::Dangling,
    }
}

/// Of an owner's dependents, those that hold its deletion: their reference to it says
/// `blockOwnerDeletion`.
pub fn blocking<'a>(owner_uid: &str, dependents: &'a [(Key, Summary)]) -> Vec<&'a Summary> {
    dependents
        .iter()
        .map(|(_, d)| d)
        .filter(|d| {
            d.owners
                .iter()
                .any(|o| o.uid == owner_uid && o.block_owner_deletion == Some(true))
        })
        .collect()
}

/// Reconciles the object at `key` as owner and as dependent.
pub fn reconcile(graph: &Graph, key: &Key) -> Result<Action, Error> {
    let (resource, current) = {
        let state = graph.0.borrow();
        let source = state
            .source(&key.kind)
            .ok_or_else(|| Error::msg(format!("the collector follows no {:?}", key.kind)))?;
        (
            source.resource.clone(),
            source.objects.summary(&key.namespace, &key.name),
        )
    };
    graph.0.borrow_mut().refresh(key, current.as_ref());
    let Some(obj) = current else {
        return Ok(Action::Done);
    };
    if obj.deleting {
        if obj.has_finalizer(ORPHAN) {
            return orphan_dependents(graph, &resource, &obj);
        }
        if obj.has_finalizer(FOREGROUND) {
            return delete_dependents(graph, &resource, &obj);
        }
        return Ok(Action::Done);
    }
    if obj.owners.is_empty() {
        return Ok(Action::Done);
    }
    attempt_to_delete(graph, &resource, &obj)
}

/// Background collection of one dependent.
fn attempt_to_delete(
    graph: &Graph,
    resource: &ApiResource,
    obj: &Summary,
) -> Result<Action, Error> {
    let mut owners = Vec::new();
    for reference in &obj.owners {
        owners.push((
            reference.clone(),
            classify(graph, reference, &obj.namespace)?,
        ));
    }
    let has_dependents = !graph.0.borrow().dependents_of(&obj.uid).is_empty();
    let api = DynamicApi::new(resource, Some(&obj.namespace));
    match decide(&owners, &obj.finalizers, has_dependents) {
        Verdict::Keep => {}
        Verdict::RemoveOwners(uids) => {
            let kept: Vec<OwnerReference> = obj
                .owners
                .iter()
                .filter(|o| !uids.contains(&o.uid))
                .cloned()
                .collect();
            debug!(
                "gc: {} {}/{}: dropping references to gone owners {uids:?}",
                resource.kind, obj.namespace, obj.name
            );
            patch_owners(&api, obj, &kept)?;
        }
        Verdict::UnblockAndDelete(uids) => {
            let unblocked: Vec<OwnerReference> = obj
                .owners
                .iter()
                .cloned()
                .map(|mut o| {
                    if uids.contains(&o.uid) {
                        o.block_owner_deletion = Some(false);
                    }
                    o
                })
                .collect();
            if !uids.is_empty() {
                patch_owners(&api, obj, &unblocked)?;
            }
            delete(&api, resource, obj, "Foreground")?;
        }
        Verdict::Delete(policy) => delete(&api, resource, obj, policy)?,
    }
    Ok(Action::Done)
}

/// The state of owner `reference` of a dependent in `namespace`: from the caches, confirmed
/// by a live read before the owner is taken for gone (a cache may lag behind a create).
fn classify(
    graph: &Graph,
    reference: &OwnerReference,
    namespace: &str,
) -> Result<OwnerState, Error> {
    let known = {
        let state = graph.0.borrow();
        if state.absent.contains(&reference.uid) {
            return Ok(OwnerState::Dangling);
        }
        state.source_of_owner(reference).map(|source| {
            let owner_ns = if source.resource.namespaced {
                namespace
            } else {
                ""
            };
            let cached = source.objects.summary(owner_ns, &reference.name);
            (source.resource.clone(), cached)
        })
    };
    let resource = match known {
        Some((_, Some(cached))) if cached.uid == reference.uid => {
            return Ok(owner_state(reference, Some(&cached)));
        }
        Some((resource, _)) => resource,
        None => match custom_resource(reference)? {
            Some(resource) => resource,
            None => {
                debug!(
                    "gc: owner kind {} of {} is not served; leaving the reference",
                    reference.kind, reference.api_version
                );
                return Ok(OwnerState::Unresolvable);
            }
        },
    };
    if resource.namespaced && namespace.is_empty() {
        // A cluster-scoped dependent cannot have a namespaced owner: kube treats it as gone.
        return Ok(OwnerState::Dangling);
    }
    let owner_ns = resource.namespaced.then_some(namespace);
    let live = DynamicApi::new(&resource, owner_ns)
        .get_opt(&reference.name)?
        .map(|obj| Summary::of(&obj.metadata));
    let state = owner_state(reference, live.as_ref());
    if state == OwnerState::Dangling {
        let mut graph = graph.0.borrow_mut();
        if graph.absent.len() >= ABSENT_MEMORY {
            graph.absent.clear();
        }
        graph.absent.insert(reference.uid.clone());
    }
    Ok(state)
}

/// The resource of a custom kind, from the CustomResourceDefinitions.
fn custom_resource(reference: &OwnerReference) -> Result<Option<ApiResource>, Error> {
    let group = ApiResource::group_of(&reference.api_version);
    if group.is_empty() || !group.contains('.') {
        return Ok(None);
    }
    let version = reference
        .api_version
        .rsplit_once('/')
        .map_or("", |(_, v)| v);
    let crds = DynamicApi::new(&crd_resource(), None).list_all(&ListParams::default())?;
    Ok(crds
        .iter()
        .flat_map(custom_resources_of)
        .find(|r| r.group == group && r.kind == reference.kind && r.version == version))
}

/// The CustomResourceDefinition resource.
pub fn crd_resource() -> ApiResource {
    ApiResource::new(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    )
}

/// The served versions of a CustomResourceDefinition, one resource each.
pub fn custom_resources_of(crd: &DynamicObject) -> Vec<ApiResource> {
    let spec = crd.data.get("spec").cloned().unwrap_or(Value::Null);
    let group = spec["group"].as_str().unwrap_or("");
    let kind = spec["names"]["kind"].as_str().unwrap_or("");
    let plural = spec["names"]["plural"].as_str().unwrap_or("");
    let namespaced = spec["scope"].as_str() == Some("Namespaced");
    if group.is_empty() || kind.is_empty() || plural.is_empty() {
        return Vec::new();
    }
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool() == Some(true))
        .filter_map(|v| v["name"].as_str())
        .map(|version| ApiResource::new(group, version, kind, plural, namespaced))
        .collect()
}

/// Foreground deletion of `owner`: its dependents go first.
fn delete_dependents(
    graph: &Graph,
    resource: &ApiResource,
    owner: &Summary,
) -> Result<Action, Error> {
    let dependents = graph.0.borrow().dependents_of(&owner.uid);
    for (key, dependent) in &dependents {
        if !dependent.deleting {
            runtime::enqueue(key.clone());
        }
    }
    if blocking(&owner.uid, &dependents).is_empty() {
        remove_finalizer(resource, owner, FOREGROUND)?;
        return Ok(Action::Done);
    }
    Ok(Action::RequeueAfter(FOREGROUND_RECHECK_MS))
}

/// Orphaning of `owner`'s dependents: they lose their reference to it.
fn orphan_dependents(
    graph: &Graph,
    resource: &ApiResource,
    owner: &Summary,
) -> Result<Action, Error> {
    let dependents = graph.0.borrow().dependents_of(&owner.uid);
    for (key, dependent) in &dependents {
        let kept: Vec<OwnerReference> = dependent
            .owners
            .iter()
            .filter(|o| o.uid != owner.uid)
            .cloned()
            .collect();
        let dependent_resource = graph
            .0
            .borrow()
            .source(&key.kind)
            .map(|s| s.resource.clone())
            .ok_or_else(|| Error::msg(format!("the collector follows no {:?}", key.kind)))?;
        let api = DynamicApi::new(&dependent_resource, Some(&dependent.namespace));
        patch_owners(&api, dependent, &kept)?;
    }
    remove_finalizer(resource, owner, ORPHAN)?;
    Ok(Action::Done)
}

/// Sets `obj`'s owner references to `owners`, if it has not changed since it was read.
fn patch_owners(api: &DynamicApi, obj: &Summary, owners: &[OwnerReference]) -> Result<(), Error> {
    let owners = if owners.is_empty() {
        Value::Null
    } else {
        kmicro_module_sdk::serde_json::to_value(owners)?
    };
    let patch =
        json!({"metadata": {"resourceVersion": obj.resource_version, "ownerReferences": owners}});
    ignore_not_found(
        api.patch(&obj.name, None, PatchType::Merge, &patch)
            .map(|_| ()),
    )
}

/// Removes finalizer `finalizer` from `obj`, if it has not changed since it was read.
fn remove_finalizer(resource: &ApiResource, obj: &Summary, finalizer: &str) -> Result<(), Error> {
    let kept: Vec<&String> = obj.finalizers.iter().filter(|f| *f != finalizer).collect();
    let finalizers = if kept.is_empty() {
        Value::Null
    } else {
        json!(kept)
    };
    let patch =
        json!({"metadata": {"resourceVersion": obj.resource_version, "finalizers": finalizers}});
    let api = DynamicApi::new(resource, Some(&obj.namespace));
    info!(
        "gc: {} {}/{}: dependents handled, removing finalizer {finalizer}",
        resource.kind, obj.namespace, obj.name
    );
    ignore_not_found(
        api.patch(&obj.name, None, PatchType::Merge, &patch)
            .map(|_| ()),
    )
}

/// Deletes `obj` (only the object with its uid) with `policy`.
fn delete(
    api: &DynamicApi,
    resource: &ApiResource,
    obj: &Summary,
    policy: &str,
) -> Result<(), Error> {
    info!(
        "gc: deleting {} {}/{} (owners gone, propagation {policy})",
        resource.kind, obj.namespace, obj.name
    );
    let params = DeleteParams {
        propagation_policy: Some(policy.to_string()),
        ..DeleteParams::with_uid(&obj.uid)
    };
    match api.delete(&obj.name, &params) {
        Ok(Deleted::Gone | Deleted::Pending(_)) => Ok(()),
        // Gone already, or replaced by a new object of the same name.
        Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}

fn ignore_not_found(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(Error::Api(e)) if e.is_not_found() => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn owner(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: format!("rs-{uid}"),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn summary(uid: &str, owners: Vec<OwnerReference>) -> Summary {
        Summary {
            namespace: "default".into(),
            name: format!("obj-{uid}"),
            uid: uid.into(),
            resource_version: "7".into(),
            owners,
            ..Summary::default()
        }
    }

    #[test]
    fn owners_all_gone_means_background_delete() {
        let owners = [(owner("a", true), OwnerState::Dangling)];
        assert_eq!(decide(&owners, &[], false), Verdict::Delete("Background"));
    }

    #[test]
    fn own_finalizers_choose_the_policy() {
        let owners = [(owner("a", true), OwnerState::Dangling)];
        assert_eq!(
            decide(&owners, &[ORPHAN.to_string()], false),
            Verdict::Delete("Orphan")
        );
        assert_eq!(
            decide(&owners, &[FOREGROUND.to_string()], false),
            Verdict::Delete("Foreground")
        );
    }

    #[test]
    fn a_live_owner_keeps_the_object_and_loses_the_dead_references() {
        let owners = [
            (owner("a", true), OwnerState::Solid),
            (owner("b", false), OwnerState::Dangling),
            (owner("c", false), OwnerState::Waiting),
        ];
        assert_eq!(
            decide(&owners, &[], true),
            Verdict::RemoveOwners(vec!["b".into(), "c".into()])
        );
        let only_live = [(owner("a", true), OwnerState::Solid)];
        assert_eq!(decide(&only_live, &[], false), Verdict::Keep);
    }

    #[test]
    fn unknown_owner_kinds_are_left_alone() {
        let owners = [
            (owner("a", true), OwnerState::Unresolvable),
            (owner("b", true), OwnerState::Dangling),
        ];
        assert_eq!(
            decide(&owners, &[], false),
            Verdict::RemoveOwners(vec!["b".into()])
        );
    }

    #[test]
    fn waiting_owner_cascades_in_the_foreground_when_the_dependent_has_dependents() {
        let owners = [
            (owner("a", true), OwnerState::Waiting),
            (owner("b", false), OwnerState::Waiting),
        ];
        assert_eq!(
            decide(&owners, &[], true),
            Verdict::UnblockAndDelete(vec!["a".into()])
        );
        assert_eq!(decide(&owners, &[], false), Verdict::Delete("Background"));
    }

    #[test]
    fn uid_mismatch_counts_as_gone() {
        let reference = owner("a", true);
        let mut found = summary("other", vec![]);
        assert_eq!(owner_state(&reference, Some(&found)), OwnerState::Dangling);
        assert_eq!(owner_state(&reference, None), OwnerState::Dangling);
        found.uid = "a".into();
        assert_eq!(owner_state(&reference, Some(&found)), OwnerState::Solid);
        found.deleting = true;
        assert_eq!(owner_state(&reference, Some(&found)), OwnerState::Solid);
        found.finalizers = vec![FOREGROUND.into()];
        assert_eq!(owner_state(&reference, Some(&found)), OwnerState::Waiting);
    }

    #[test]
    fn only_blocking_dependents_hold_a_foreground_owner() {
        let deps = vec![
            (
                Key::new("gc/pods", "default", "p1"),
                summary("p1", vec![owner("rs", true)]),
            ),
            (
                Key::new("gc/pods", "default", "p2"),
                summary("p2", vec![owner("rs", false)]),
            ),
            (
                Key::new("gc/pods", "default", "p3"),
                summary("p3", vec![owner("x", true)]),
            ),
        ];
        let held: Vec<&str> = blocking("rs", &deps)
            .iter()
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(held, ["obj-p1"]);
        assert!(blocking("rs", &deps[1..]).is_empty());
    }

    fn meta(name: &str, uid: &str, owners: Vec<OwnerReference>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("default".into()),
            uid: Some(uid.into()),
            owner_references: (!owners.is_empty()).then_some(owners),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn the_index_finds_dependents_and_queues_them_when_the_owner_changes() {
        let pods = Cache::<DynamicObject>::default();
        let graph = Graph::default();
        let pod_resource = ApiResource::new("", "v1", "Pod", "pods", true);
        graph.track_dynamic(pod_resource.clone(), &pods);
        let rs = ApiResource::new("apps", "v1", "ReplicaSet", "replicasets", true);

        let pod_meta = meta("p1", "p1", vec![owner("rs1", true)]);
        let keys = graph.keys_for_meta(&pod_resource, &pod_meta);
        let pod_key = Key::new("gc/pods", "default", "p1");
        assert_eq!(keys, vec![pod_key.clone()]);
        pods.record(DynamicObject {
            metadata: pod_meta,
            ..DynamicObject::default()
        });

        // The owner's deletion (or any change) queues its dependents.
        let rs_keys = graph.keys_for_meta(&rs, &meta("rs-rs1", "rs1", vec![]));
        assert_eq!(rs_keys, vec![pod_key.clone()]);
        assert_eq!(graph.0.borrow().dependents_of("rs1").len(), 1);

        // A foreground-deleting owner is queued by its dependents' changes.
        let mut deleting = meta("rs-rs1", "rs1", vec![]);
        deleting.deletion_timestamp = Some(Time(kmicro_module_sdk::time::timestamp(1)));
        deleting.finalizers = Some(vec![FOREGROUND.into()]);
        let rs_key = Key::new("gc/replicasets.apps", "default", "rs-rs1");
        let keys = graph.keys_for_meta(&rs, &deleting);
        assert!(keys.contains(&rs_key) && keys.contains(&pod_key));
        let keys = graph.keys_for_meta(&pod_resource, &meta("p1", "p1", vec![owner("rs1", true)]));
        assert!(keys.contains(&rs_key));

        // The dependent gone: reconciling it prunes the index.
        pods.forget(&kmicro_module_sdk::ObjectRef::new("default", "p1"));
        graph.0.borrow_mut().refresh(&pod_key, None);
        assert!(graph.0.borrow().dependents.is_empty());
        assert!(graph.0.borrow().owners_of.is_empty());
    }

    #[test]
    fn a_dependent_that_drops_an_owner_leaves_its_index_entry_on_refresh() {
        let graph = Graph::default();
        let pods = ApiResource::new("", "v1", "Pod", "pods", true);
        let key = Key::new("gc/pods", "default", "p1");
        graph.keys_for_meta(
            &pods,
            &meta("p1", "p1", vec![owner("a", true), owner("b", true)]),
        );
        let now = summary("p1", vec![owner("b", true)]);
        graph.0.borrow_mut().refresh(&key, Some(&now));
        let state = graph.0.borrow();
        assert!(!state.dependents.contains_key("a"));
        assert!(state.dependents["b"].contains(&key));
    }

    #[test]
    fn served_versions_of_a_definition_become_resources() {
        let crd: DynamicObject = kmicro_module_sdk::serde_json::from_value(json!({
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Widget", "plural": "widgets"},
                "versions": [{"name": "v1", "served": true}, {"name": "v0", "served": false}]}
        }))
        .unwrap();
        let resources = custom_resources_of(&crd);
        assert_eq!(
            resources,
            vec![ApiResource::new(
                "example.com",
                "v1",
                "Widget",
                "widgets",
                true
            )]
        );
        assert_eq!(key_kind(&resources[0]), "gc/widgets.example.com");
        assert_eq!(
            key_kind(&ApiResource::new("", "v1", "Pod", "pods", true)),
            "gc/pods"
        );
    }
}
