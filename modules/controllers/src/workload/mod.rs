//! What the workload controllers (ReplicaSet, Deployment, DaemonSet, StatefulSet) share:
//! pod rules, controller references, content hashes, revision history, slow-start batches.

pub mod actions;
pub mod batch;
pub mod hash;
pub mod history;
pub mod intstr;
pub mod ownership;
pub mod pods;
#[cfg(test)]
pub mod testing;

use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kmicro_module_sdk::selector::Selector;

/// The selector of a workload; an empty one selects nothing here (kube refuses to act on
/// workloads that would select every pod of a namespace).
pub fn selector_of(selector: &LabelSelector) -> Option<Selector> {
    let parsed = Selector::from_label_selector(selector);
    (!parsed.is_everything()).then_some(parsed)
}

/// The most pods one reconcile creates or deletes. kube allows bursts of 500 (ReplicaSets)
/// or 250 (DaemonSets); a module runs each call under a CPU deadline and a host-call rate
/// limit (about 200 a second, bursts of 1000), so kmicro works in smaller steps and asks to
/// be called again at once for the rest.
pub const BURST: usize = 64;

/// How soon to continue after a reconcile stopped at [`BURST`], in milliseconds.
pub const CONTINUE_MS: u64 = 100;

use kmicro_module_sdk::{Key, ResourceExt};

/// The key of `obj`'s controller when it is a `owner_kind` (for reconciler `key_kind`).
pub fn controller_key<K: ResourceExt>(obj: &K, owner_kind: &str, key_kind: &str) -> Option<Key> {
    let owner = obj.controller_owner()?;
    (owner.kind == owner_kind && owner.api_version.starts_with("apps/"))
        .then(|| Key::new(key_kind, obj.namespace_any(), &owner.name))
}

/// `Some(n)` unless `n` is zero: kube leaves zero counts out of statuses (`omitempty`).
pub fn count(n: usize) -> Option<i32> {
    let n = i32::try_from(n).unwrap_or(i32::MAX);
    (n != 0).then_some(n)
}
