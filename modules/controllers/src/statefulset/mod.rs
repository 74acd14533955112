//! The StatefulSet controller (kube's `statefulset` controller): pods with stable names
//! `<set>-<ordinal>` and claims `<claim>-<set>-<ordinal>`, created in order (`OrderedReady`)
//! or all at once (`Parallel`), removed from the highest ordinal, rolled to a new revision
//! down to the partition; revisions kept as ControllerRevisions (`controller-revision-hash`
//! on each pod names its revision).

mod identity;
mod plan;

use std::collections::BTreeSet;
use std::rc::Rc;

use kmicro_module_sdk::api::Deleted;
use kmicro_module_sdk::events::EventType;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::{
    ControllerRevision, StatefulSet, StatefulSetStatus,
};
use kmicro_module_sdk::k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use kmicro_module_sdk::resource::ObjectRef;
use kmicro_module_sdk::{Action, Api, Cache, DeleteParams, Error, Key, ResourceExt, time};

use crate::caches::Caches;
use crate::workload::actions::{self, claim_all, event};
use crate::workload::hash::revision_hash;
use crate::workload::history::{self, REVISION_HASH_LABEL};
use crate::workload::{BURST, CONTINUE_MS, controller_key, count, pods, selector_of};

use plan::{Revision, Spec, Step};

/// The key kind this controller reconciles.
pub const KIND: &str = "statefulset";

/// The name kube's StatefulSet controller reports events as.
const COMPONENT: &str = "statefulset-controller";

/// Keys to queue when a StatefulSet changes: itself.
pub fn keys_of_stateful_set(set: &StatefulSet) -> Vec<Key> {
    vec![Key::new(KIND, set.namespace_any(), set.name_any())]
}

/// Keys to queue when a pod changes: its controlling StatefulSet, or for an orphan every
/// StatefulSet of its namespace it could belong to.
pub fn keys_of_pod(pod: &Pod, sets: &Cache<StatefulSet>) -> Vec<Key> {
    if pod.controller_owner().is_some() {
        return controller_key(pod, "StatefulSet", KIND)
            .into_iter()
            .collect();
    }
    sets.in_namespace(pod.namespace_any())
        .iter()
        .filter(|set| identity::is_member(set, pod))
        .filter(|set| {
            set.spec
                .as_ref()
                .and_then(|s| selector_of(&s.selector))
                .is_some_and(|sel| sel.matches(pod.labels()))
        })
        .map(|set| Key::new(KIND, set.namespace_any(), set.name_any()))
        .collect()
}

/// Keys to queue when a ControllerRevision changes: its StatefulSet.
pub fn keys_of_revision(rev: &ControllerRevision) -> Vec<Key> {
    controller_key(rev, "StatefulSet", KIND)
        .into_iter()
        .collect()
}

/// Brings the StatefulSet at `key` in line.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(set) = caches.stateful_sets.get(&key.namespace, &key.name) else {
        return Ok(Action::Done);
    };
    let spec = set.spec.clone().unwrap_or_default();
    let Some(selector) = selector_of(&spec.selector) else {
        return Ok(Action::Done);
    };
    let now = time::now_millis();
    let candidates = caches.pods.in_namespace(&key.namespace);
    claim_all(&caches.pods, set.as_ref(), candidates, |p| {
        identity::is_member(&set, p) && selector.matches(p.labels())
    })?;
    let revisions = {
        let candidates = caches.controller_revisions.in_namespace(&key.namespace);
        claim_all(
            &caches.controller_revisions,
            set.as_ref(),
            candidates,
            |r| selector.matches(r.labels()),
        )?
    };
    let mut revisions: Vec<ControllerRevision> = revisions.iter().map(|r| (**r).clone()).collect();
    revisions.sort_by(history::oldest_first);
    let mut collision_count = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let (current, update) = stateful_revisions(caches, &set, &revisions, &mut collision_count)?;

    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling = strategy
        .type_
        .as_deref()
        .is_none_or(|t| t == "RollingUpdate");
    let plan_spec = Spec {
        start: spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0),
        replicas: spec.replicas.unwrap_or(1),
        parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        rolling,
        partition: strategy
            .rolling_update
            .as_ref()
            .map(|r| r.partition.unwrap_or(0)),
        current_replicas: set
            .status
            .as_ref()
            .and_then(|s| s.current_replicas)
            .unwrap_or(0),
        current_revision: current.name_any(),
        update_revision: update.name_any(),
    };
    let mut more = false;
    if !set.is_deleting() {
        let owned = member_pods(caches, &set);
        let members: Vec<(i32, &Pod)> = owned
            .iter()
            .filter_map(|p| {
                identity::parent_and_ordinal(p.name_any()).map(|(_, o)| (o, p.as_ref()))
            })
            .collect();
        let steps = plan::plan(
            &plan_spec,
            &members,
            |p| !identity::identity_matches(&set, p) || !identity::storage_matches(&set, p),
            now,
        );
        more = steps.len() > BURST;
        let templates = Templates {
            current: history::template_of(&current).unwrap_or_else(|| spec.template.clone()),
            update: spec.template.clone(),
            current_name: current.name_any(),
            update_name: update.name_any(),
        };
        for step in steps.into_iter().take(BURST) {
            run(caches, &set, &templates, step)?;
        }
    }

    let owned = member_pods(caches, &set);
    let status = status_of(&set, &plan_spec, &owned, collision_count, now);
    let live: BTreeSet<String> = [
        current.name_any().to_string(),
        update.name_any().to_string(),
    ]
    .into_iter()
    .chain(
        owned
            .iter()
            .filter_map(|p| p.labels().get(REVISION_HASH_LABEL).cloned()),
    )
    .collect();
    write_status(caches, &set, status)?;
    truncate_history(caches, &set, &revisions, &live)?;
    if more {
        return Ok(Action::RequeueAfter(CONTINUE_MS));
    }
    let min_ready = plan_spec.min_ready_seconds;
    Ok(
        match pods::next_availability(owned.iter().map(Rc::as_ref), min_ready, now) {
            Some(at) => Action::RequeueAfter(at.saturating_sub(now) + 1000),
            None => Action::Done,
        },
    )
}

/// The StatefulSet's pods (controlled by it and named after it).
fn member_pods(caches: &Caches, set: &StatefulSet) -> Vec<Rc<Pod>> {
    caches
        .pods
        .owned_by(set.namespace_any(), set.uid_any())
        .into_iter()
        .filter(|p| identity::is_member(set, p))
        .collect()
}

/// The templates of the current and update revisions.
struct Templates<'a> {
    current: PodTemplateSpec,
    update: PodTemplateSpec,
    current_name: &'a str,
    update_name: &'a str,
}

/// kube's `getStatefulSetRevisions`: the update revision (the newest if it records the
/// template, an older one renumbered when rolling back to it, else a new one) and the
/// current one (`status.currentRevision`, or the update revision at first).
fn stateful_revisions(
    caches: &Caches,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
    collision_count: &mut i32,
) -> Result<(ControllerRevision, ControllerRevision), Error> {
    let namespace = set.namespace_any();
    let api = Api::<ControllerRevision>::namespaced(namespace);
    let template = set
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let next = history::next_number(revisions.iter());
    let mut candidate = history::new_revision(
        namespace,
        set.name_any(),
        set.controller_reference(),
        &template,
        "",
        next,
    );
    candidate.metadata.annotations = set.metadata.annotations.clone();
    let equal: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| history::same_data(r, &candidate))
        .collect();
    let update = match (equal.last(), revisions.last()) {
        (Some(found), Some(newest)) if found.name_any() == newest.name_any() => (*found).clone(),
        (Some(found), _) => {
            let mut renumbered = (*found).clone();
            renumbered.revision = next;
            let stored = api.replace(&renumbered)?;
            caches.controller_revisions.record(stored.clone());
            stored
        }
        (None, _) => create_revision(caches, set, candidate, collision_count)?,
    };
    let current_name = set.status.as_ref().and_then(|s| s.current_revision.clone());
    let current = revisions
        .iter()
        .find(|r| Some(r.name_any()) == current_name.as_deref())
        .cloned()
        .unwrap_or_else(|| update.clone());
    Ok((current, update))
}

/// kube's `CreateControllerRevision`: names the revision by the hash of its data and the
/// collision count, raising the count while another revision holds the name.
fn create_revision(
    caches: &Caches,
    set: &StatefulSet,
    mut revision: ControllerRevision,
    collision_count: &mut i32,
) -> Result<ControllerRevision, Error> {
    let api = Api::<ControllerRevision>::namespaced(set.namespace_any());
    let raw = history::raw(&revision);
    for _ in 0..16 {
        let hash = revision_hash(&raw, Some(*collision_count));
        revision.metadata.name = Some(history::revision_name(set.name_any(), &hash));
        revision
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(REVISION_HASH_LABEL.to_string(), hash);
        match api.create(&revision) {
            Ok(stored) => {
                caches.controller_revisions.record(stored.clone());
                return Ok(stored);
            }
            Err(Error::Api(e)) if e.is_already_exists() => {
                let existing = api.get(revision.name_any())?;
                if history::same_data(&existing, &revision) {
                    return Ok(existing);
                }
                *collision_count = collision_count.saturating_add(1);
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::msg(format!(
        "no free revision name for StatefulSet {}",
        set.name_any()
    )))
}

/// Takes one step.
fn run(
    caches: &Caches,
    set: &Rc<StatefulSet>,
    templates: &Templates,
    step: Step,
) -> Result<(), Error> {
    let namespace = set.namespace_any();
    let pods_api = Api::<Pod>::namespaced(namespace);
    let set_name = set.name_any();
    match step {
        Step::Recreate { name, failed } => {
            let (kind, reason, what) = if failed {
                (EventType::Warning, "RecreatingFailedPod", "failed")
            } else {
                (EventType::Normal, "RecreatingTerminatedPod", "terminated")
            };
            let message =
                format!("StatefulSet {namespace}/{set_name} is recreating {what} Pod {name}");
            event(set.as_ref(), kind, reason, &message, COMPONENT);
            delete(caches, set, &name)
        }
        Step::Create { ordinal, revision } => {
            let (template, revision_name) = match revision {
                Revision::Current => (&templates.current, templates.current_name),
                Revision::Update => (&templates.update, templates.update_name),
            };
            create_claims(caches, set, ordinal)?;
            let pod = identity::new_pod(set, template, revision_name, ordinal);
            let name = pod.name_any().to_string();
            match pods_api.create(&pod) {
                Ok(created) => {
                    caches.pods.record(created);
                    let message = format!("create Pod {name} in StatefulSet {set_name} successful");
                    event(
                        set.as_ref(),
                        EventType::Normal,
                        "SuccessfulCreate",
                        &message,
                        COMPONENT,
                    );
                    Ok(())
                }
                Err(e) => {
                    let message =
                        format!("create Pod {name} in StatefulSet {set_name} failed error: {e}");
                    event(
                        set.as_ref(),
                        EventType::Warning,
                        "FailedCreate",
                        &message,
                        COMPONENT,
                    );
                    Err(e)
                }
            }
        }
        Step::CreateClaims { ordinal } => create_claims(caches, set, ordinal),
        Step::FixIdentity { name } => {
            let Some(pod) = caches.pods.get(namespace, &name) else {
                return Ok(());
            };
            let Some((_, ordinal)) = identity::parent_and_ordinal(&name) else {
                return Ok(());
            };
            // A pod's volumes cannot change once it exists: only missing claims are made.
            create_claims(caches, set, ordinal)?;
            let mut fixed = (*pod).clone();
            identity::set_identity_labels(&mut fixed, ordinal);
            if fixed.metadata.labels == pod.metadata.labels {
                return Ok(());
            }
            let stored = pods_api.replace(&fixed)?;
            caches.pods.record(stored);
            let message = format!("update Pod {name} in StatefulSet {set_name} successful");
            event(
                set.as_ref(),
                EventType::Normal,
                "SuccessfulUpdate",
                &message,
                COMPONENT,
            );
            Ok(())
        }
        Step::ScaleDown { name } | Step::Update { name } => delete(caches, set, &name),
    }
}

/// Deletes pod `name` of `set` with kube's StatefulSet events.
fn delete(caches: &Caches, set: &StatefulSet, name: &str) -> Result<(), Error> {
    let namespace = set.namespace_any();
    let set_name = set.name_any();
    match Api::<Pod>::namespaced(namespace).delete(name, &DeleteParams::default()) {
        Ok(Deleted::Pending(pod)) => {
            caches.pods.record(*pod);
        }
        Ok(Deleted::Gone) => {
            caches.pods.forget(&ObjectRef::new(namespace, name));
        }
        Err(Error::Api(e)) if e.is_not_found() => {
            caches.pods.forget(&ObjectRef::new(namespace, name));
            return Ok(());
        }
        Err(e) => {
            let message = format!("delete Pod {name} in StatefulSet {set_name} failed error: {e}");
            event(set, EventType::Warning, "FailedDelete", &message, COMPONENT);
            return Err(e);
        }
    }
    let message = format!("delete Pod {name} in StatefulSet {set_name} successful");
    event(
        set,
        EventType::Normal,
        "SuccessfulDelete",
        &message,
        COMPONENT,
    );
    Ok(())
}

/// kube's `createPersistentVolumeClaims`: the claims of pod `ordinal` that do not exist yet.
fn create_claims(caches: &Caches, set: &StatefulSet, ordinal: i32) -> Result<(), Error> {
    let namespace = set.namespace_any();
    let api = Api::<PersistentVolumeClaim>::namespaced(namespace);
    let pod = identity::pod_name(set, ordinal);
    for (_, claim) in identity::claims(set, ordinal) {
        let name = claim.name_any().to_string();
        if let Some(existing) = caches.claims.get(namespace, &name) {
            if existing.is_deleting() {
                return Err(Error::msg(format!("pvc {name} is being deleted")));
            }
            continue;
        }
        match api.create(&claim) {
            Ok(created) => {
                caches.claims.record(created);
                let message = format!(
                    "create Claim {name} Pod {pod} in StatefulSet {} success",
                    set.name_any()
                );
                event(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    &message,
                    COMPONENT,
                );
            }
            Err(Error::Api(e)) if e.is_already_exists() => {}
            Err(e) => {
                let message = format!(
                    "create Claim {name} for Pod {pod} in StatefulSet {} failed error: {e}",
                    set.name_any()
                );
                event(set, EventType::Warning, "FailedCreate", &message, COMPONENT);
                return Err(e);
            }
        }
    }
    Ok(())
}

/// kube's `updateStatus` and `completeRollingUpdate`: counts over the set's pods.
fn status_of(
    set: &StatefulSet,
    spec: &Spec,
    owned: &[Rc<Pod>],
    collision_count: i32,
    now: u64,
) -> StatefulSetStatus {
    let (mut replicas, mut ready, mut available, mut current, mut updated) = (0usize, 0, 0, 0, 0);
    for pod in owned {
        replicas += 1;
        if pods::phase(pod) == "Running" && pods::is_ready(pod) {
            ready += 1;
            if pods::is_available(pod, spec.min_ready_seconds, now) {
                available += 1;
            }
        }
        if !pod.is_deleting() {
            let revision = pod.labels().get(REVISION_HASH_LABEL).map(String::as_str);
            if revision == Some(spec.current_revision) {
                current += 1;
            }
            if revision == Some(spec.update_revision) {
                updated += 1;
            }
        }
    }
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        replicas: i32::try_from(replicas).unwrap_or(i32::MAX),
        ready_replicas: count(ready),
        available_replicas: Some(available),
        current_replicas: count(current),
        updated_replicas: count(updated),
        current_revision: Some(spec.current_revision.to_string()),
        update_revision: Some(spec.update_revision.to_string()),
        collision_count: Some(collision_count),
        conditions: set.status.as_ref().and_then(|s| s.conditions.clone()),
    };
    if spec.rolling && updated == replicas && ready == replicas {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
    status
}

fn write_status(
    caches: &Caches,
    set: &StatefulSet,
    status: StatefulSetStatus,
) -> Result<(), Error> {
    if set.status.as_ref() == Some(&status) {
        return Ok(());
    }
    actions::write_status(&caches.stateful_sets, set, |s| {
        s.status = Some(status.clone())
    })
}

/// kube's `truncateHistory`: revisions beyond `revisionHistoryLimit` that are neither
/// current, update, nor named by a pod are deleted, oldest first.
fn truncate_history(
    caches: &Caches,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
    live: &BTreeSet<String>,
) -> Result<(), Error> {
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10);
    let refs: Vec<&ControllerRevision> = revisions.iter().collect();
    let api = Api::<ControllerRevision>::namespaced(set.namespace_any());
    for revision in history::to_prune(&refs, live, limit) {
        match api.delete(revision.name_any(), &Default::default()) {
            Ok(_) => {
                caches.controller_revisions.forget(&ObjectRef::of(revision));
            }
            Err(Error::Api(e)) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
