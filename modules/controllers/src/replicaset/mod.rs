//! The ReplicaSet controller (kube's `replicaset` controller): keeps `spec.replicas` pods of
//! the template running, adopting matching orphans and releasing pods that stop matching,
//! and reports what it sees in the status.

mod plan;
mod status;

use std::rc::Rc;

use kmicro_module_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;
use kmicro_module_sdk::{Action, Cache, Error, Key, ResourceExt, time};

use crate::caches::Caches;
use crate::workload::actions::{claim_all, create_pod, delete_pod, write_status};
use crate::workload::batch::slow_start;
use crate::workload::{CONTINUE_MS, controller_key, pods, selector_of};

pub use plan::{Manage, plan};
pub use status::compute_status;

/// The key kind this controller reconciles.
pub const KIND: &str = "replicaset";

/// The name kube's ReplicaSet controller reports events as.
const COMPONENT: &str = "replicaset-controller";

/// Keys to queue when a ReplicaSet changes: itself, and the Deployment that controls it (or,
/// for an orphan, every Deployment of its namespace selecting it).
pub fn keys_of_replica_set(rs: &ReplicaSet, deployments: &Cache<Deployment>) -> Vec<Key> {
    let mut keys = vec![Key::new(KIND, rs.namespace_any(), rs.name_any())];
    keys.extend(crate::deployment::keys_of_owned(rs, deployments));
    keys
}

/// Keys to queue when a pod changes: its controlling ReplicaSet, or for an orphan every
/// ReplicaSet of its namespace selecting it.
pub fn keys_of_pod(pod: &Pod, replica_sets: &Cache<ReplicaSet>) -> Vec<Key> {
    if pod.controller_owner().is_some() {
        return controller_key(pod, "ReplicaSet", KIND)
            .into_iter()
            .collect();
    }
    replica_sets
        .in_namespace(pod.namespace_any())
        .iter()
        .filter(|rs| {
            rs.spec
                .as_ref()
                .and_then(|s| selector_of(&s.selector))
                .is_some_and(|sel| sel.matches(pod.labels()))
        })
        .map(|rs| Key::new(KIND, rs.namespace_any(), rs.name_any()))
        .collect()
}

/// Brings the ReplicaSet at `key` in line: claim, create or delete pods, then the status.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(rs) = caches.replica_sets.get(&key.namespace, &key.name) else {
        return Ok(Action::Done);
    };
    let spec = rs.spec.clone().unwrap_or_default();
    let Some(selector) = selector_of(&spec.selector) else {
        return Ok(Action::Done);
    };
    let now = time::now_millis();
    let candidates: Vec<Rc<Pod>> = caches
        .pods
        .in_namespace(&key.namespace)
        .into_iter()
        .filter(|p| pods::is_active(p))
        .collect();
    let claimed = claim_all(&caches.pods, rs.as_ref(), candidates, |p| {
        selector.matches(p.labels())
    })?;

    let mut outcome = Ok(false);
    if !rs.is_deleting() {
        let related = related_pods(caches, &rs, &claimed);
        let active: Vec<&Pod> = claimed.iter().map(Rc::as_ref).collect();
        let related: Vec<&Pod> = related.iter().map(Rc::as_ref).collect();
        let decision = plan(spec.replicas.unwrap_or(1), &active, &related, now);
        outcome = manage(caches, &rs, &decision);
    }

    let current: Vec<Rc<Pod>> = caches
        .pods
        .owned_by(&key.namespace, rs.uid_any())
        .into_iter()
        .filter(|p| pods::is_active(p))
        .collect();
    let current: Vec<&Pod> = current.iter().map(Rc::as_ref).collect();
    let error = outcome.as_ref().err().map(ToString::to_string);
    let status = compute_status(&rs, &current, error.as_deref(), now);
    if rs.status.as_ref() != Some(&status) {
        write_status(&caches.replica_sets, rs.as_ref(), |r| {
            r.status = Some(status.clone())
        })?;
    }
    match outcome {
        Err(e) => Err(e),
        Ok(true) => Ok(Action::RequeueAfter(CONTINUE_MS)),
        Ok(false) => {
            let min_ready = spec.min_ready_seconds.unwrap_or(0);
            Ok(match pods::next_availability(current, min_ready, now) {
                Some(at) => Action::RequeueAfter(at.saturating_sub(now) + 1000),
                None => Action::Done,
            })
        }
    }
}

/// The active pods of the ReplicaSet's whole family (every ReplicaSet with the same
/// controller), which rank pods "doubled up" on a node for deletion.
fn related_pods(caches: &Caches, rs: &ReplicaSet, own: &[Rc<Pod>]) -> Vec<Rc<Pod>> {
    let Some(owner) = rs.controller_owner() else {
        return own.to_vec();
    };
    let siblings: Vec<String> = caches
        .replica_sets
        .in_namespace(rs.namespace_any())
        .iter()
        .filter(|s| s.controller_owner().is_some_and(|o| o.uid == owner.uid))
        .map(|s| s.uid_any().to_string())
        .collect();
    caches
        .pods
        .in_namespace(rs.namespace_any())
        .into_iter()
        .filter(|p| pods::is_active(p))
        .filter(|p| {
            p.controller_owner()
                .is_some_and(|o| siblings.contains(&o.uid))
        })
        .collect()
}

/// Carries out `decision`; answers whether more remains to be done at once (a burst cut).
fn manage(caches: &Caches, rs: &Rc<ReplicaSet>, decision: &Manage) -> Result<bool, Error> {
    match decision {
        Manage::Nothing => Ok(false),
        Manage::Create { count, more } => {
            let template = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .ok_or_else(|| Error::msg("the ReplicaSet has no pod template"))?;
            let pod = pods::from_template(
                template,
                rs.namespace_any(),
                rs.name_any(),
                None,
                rs.controller_reference(),
            );
            let (_, error) = slow_start(*count, || {
                create_pod(&caches.pods, rs.as_ref(), &pod, COMPONENT).map(|_| ())
            });
            match error {
                Some(e) => Err(e),
                None => Ok(*more),
            }
        }
        Manage::Delete { names, more } => {
            let mut first_error = None;
            for name in names {
                if let Err(e) = delete_pod(&caches.pods, rs.as_ref(), name, COMPONENT) {
                    first_error.get_or_insert(e);
                }
            }
            match first_error {
                Some(e) => Err(e),
                None => Ok(*more),
            }
        }
    }
}
