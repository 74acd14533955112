//! The DaemonSet controller (kube's `daemon` controller): one pod per eligible node, pinned
//! to it by node affinity so the scheduler binds it there; `RollingUpdate` (maxUnavailable or
//! maxSurge) or `OnDelete`; template history in ControllerRevisions (`kubectl rollout
//! history|undo`); status as `kubectl rollout status` reads it.

mod eligibility;
mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use kmicro_module_sdk::events::EventType;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetStatus,
};
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, Pod};
use kmicro_module_sdk::{
    Action, Api, Cache, Error, Key, PatchType, ResourceExt, WriteParams, time,
};

use crate::caches::Caches;
use crate::workload::actions::{self, claim_all, create_pod, delete_pod, event};
use crate::workload::batch::slow_start;
use crate::workload::hash::template_hash;
use crate::workload::history::{self, REVISION_HASH_LABEL};
use crate::workload::{BURST, CONTINUE_MS, controller_key, count, pods, selector_of};

use plan::{Daemon, Rolling, TEMPLATE_GENERATION_LABEL};

/// The key kind this controller reconciles.
pub const KIND: &str = "daemonset";

/// The name kube's DaemonSet controller reports events as.
const COMPONENT: &str = "daemonset-controller";

/// The annotation in which the API server keeps a DaemonSet's template generation.
const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// Keys to queue when a DaemonSet changes: itself.
pub fn keys_of_daemon_set(ds: &DaemonSet) -> Vec<Key> {
    vec![Key::new(KIND, ds.namespace_any(), ds.name_any())]
}

/// Keys to queue when a pod changes: its controlling DaemonSet, or for an orphan every
/// DaemonSet of its namespace selecting it.
pub fn keys_of_pod(pod: &Pod, daemon_sets: &Cache<DaemonSet>) -> Vec<Key> {
    if pod.controller_owner().is_some() {
        return controller_key(pod, "DaemonSet", KIND).into_iter().collect();
    }
    daemon_sets
        .in_namespace(pod.namespace_any())
        .iter()
        .filter(|ds| {
            ds.spec
                .as_ref()
                .and_then(|s| selector_of(&s.selector))
                .is_some_and(|sel| sel.matches(pod.labels()))
        })
        .map(|ds| Key::new(KIND, ds.namespace_any(), ds.name_any()))
        .collect()
}

/// Keys to queue when a node changes: every DaemonSet (eligibility may have changed).
pub fn keys_of_node(_node: &Node, daemon_sets: &Cache<DaemonSet>) -> Vec<Key> {
    daemon_sets
        .all()
        .iter()
        .flat_map(|ds| keys_of_daemon_set(ds))
        .collect()
}

/// Keys to queue when a ControllerRevision changes: its DaemonSet.
pub fn keys_of_revision(rev: &ControllerRevision) -> Vec<Key> {
    controller_key(rev, "DaemonSet", KIND).into_iter().collect()
}

/// Brings the DaemonSet at `key` in line.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(ds) = caches.daemon_sets.get(&key.namespace, &key.name) else {
        return Ok(Action::Done);
    };
    let spec = ds.spec.clone().unwrap_or_default();
    let Some(selector) = selector_of(&spec.selector) else {
        event(
            ds.as_ref(),
            EventType::Warning,
            "SelectingAll",
            "This daemon set is selecting all pods. A non-empty selector is required.",
            COMPONENT,
        );
        return Ok(Action::Done);
    };
    if ds.is_deleting() {
        return Ok(Action::Done);
    }
    let now = time::now_millis();
    let (current, old) = construct_history(caches, &ds, &selector)?;
    let hash = current
        .labels()
        .get(REVISION_HASH_LABEL)
        .cloned()
        .unwrap_or_default();

    let candidates = caches.pods.in_namespace(&key.namespace);
    claim_all(&caches.pods, ds.as_ref(), candidates, |p| {
        selector.matches(p.labels())
    })?;

    let pod_spec = spec.template.spec.clone().unwrap_or_default();
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let rolling_update = strategy.rolling_update.clone().unwrap_or_default();
    let is_rolling = strategy
        .type_
        .as_deref()
        .is_none_or(|t| t == "RollingUpdate");
    let daemon = Daemon {
        spec: &pod_spec,
        hash: &hash,
        generation: ds
            .annotations()
            .get(TEMPLATE_GENERATION_ANNOTATION)
            .and_then(|g| g.parse().ok()),
        min_ready_seconds: spec.min_ready_seconds.unwrap_or(0),
        rolling: is_rolling.then_some(Rolling {
            max_surge: rolling_update.max_surge.as_ref(),
            max_unavailable: rolling_update.max_unavailable.as_ref(),
        }),
    };
    let nodes = caches.nodes.all();
    let nodes: Vec<&Node> = nodes.iter().map(Rc::as_ref).collect();

    let owned = owned_pods(caches, &ds);
    let grouped = eligibility::by_node(owned.iter().map(Rc::as_ref));
    let changes = plan::manage(&daemon, &nodes, &grouped, now);
    for (pod, node) in &changes.failed {
        let message = format!(
            "Found failed daemon pod {}/{pod} on node {node}, will try to kill it",
            key.namespace
        );
        event(
            ds.as_ref(),
            EventType::Warning,
            "FailedDaemonPod",
            &message,
            COMPONENT,
        );
    }
    let mut more = sync_nodes(caches, &ds, &daemon, &changes)?;

    if is_rolling && !more {
        let owned = owned_pods(caches, &ds);
        let grouped = eligibility::by_node(owned.iter().map(Rc::as_ref));
        let changes = plan::rolling_update(&daemon, &nodes, &grouped, now);
        more = sync_nodes(caches, &ds, &daemon, &changes)?;
    }
    cleanup_history(caches, &ds, &old)?;

    let owned = owned_pods(caches, &ds);
    let grouped = eligibility::by_node(owned.iter().map(Rc::as_ref));
    let counts = plan::counts(&daemon, &nodes, &grouped, now);
    write_status(caches, &ds, &counts)?;
    if more {
        return Ok(Action::RequeueAfter(CONTINUE_MS));
    }
    let min_ready = daemon.min_ready_seconds;
    Ok(
        match pods::next_availability(owned.iter().map(Rc::as_ref), min_ready, now) {
            Some(at) => Action::RequeueAfter(at.saturating_sub(now) + 1000),
            None => Action::Done,
        },
    )
}

/// The pods the DaemonSet controls, but finished pods already being deleted.
fn owned_pods(caches: &Caches, ds: &DaemonSet) -> Vec<Rc<Pod>> {
    caches
        .pods
        .owned_by(ds.namespace_any(), ds.uid_any())
        .into_iter()
        .filter(|p| !(pods::is_terminal(p) && p.is_deleting()))
        .collect()
}

/// kube's `syncNodes`: deletes, then creates one pod per node (slow start), each at most
/// [`BURST`]; answers whether more remain.
fn sync_nodes(
    caches: &Caches,
    ds: &Rc<DaemonSet>,
    daemon: &Daemon,
    changes: &plan::Changes,
) -> Result<bool, Error> {
    let mut first_error = None;
    for name in changes.delete.iter().take(BURST) {
        if let Err(e) = delete_pod(&caches.pods, ds.as_ref(), name, COMPONENT) {
            first_error.get_or_insert(e);
        }
    }
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut nodes = changes.create_on.iter().take(BURST);
    let (_, create_error) = slow_start(changes.create_on.len().min(BURST), || {
        let Some(node) = nodes.next() else {
            return Ok(());
        };
        let mut pod = pods::from_template(
            &template,
            ds.namespace_any(),
            ds.name_any(),
            None,
            ds.controller_reference(),
        );
        let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
        if let Some(generation) = daemon.generation {
            labels.insert(
                TEMPLATE_GENERATION_LABEL.to_string(),
                generation.to_string(),
            );
        }
        labels.insert(REVISION_HASH_LABEL.to_string(), daemon.hash.to_string());
        let spec = pod.spec.get_or_insert_with(Default::default);
        eligibility::add_daemon_tolerations(spec);
        spec.affinity = Some(eligibility::pin_to_node(spec.affinity.take(), node));
        create_pod(&caches.pods, ds.as_ref(), &pod, COMPONENT).map(|_| ())
    });
    if let Some(e) = first_error.or(create_error) {
        return Err(e);
    }
    Ok(changes.delete.len() > BURST || changes.create_on.len() > BURST)
}

/// kube's `constructHistory`: the revision of the current template (created, or renumbered
/// to the newest) and the older ones.
fn construct_history(
    caches: &Caches,
    ds: &Rc<DaemonSet>,
    selector: &kmicro_module_sdk::selector::Selector,
) -> Result<(ControllerRevision, Vec<ControllerRevision>), Error> {
    let namespace = ds.namespace_any();
    let api = Api::<ControllerRevision>::namespaced(namespace);
    let candidates = caches.controller_revisions.in_namespace(namespace);
    let owned = claim_all(&caches.controller_revisions, ds.as_ref(), candidates, |r| {
        selector.matches(r.labels())
    })?;
    let template = ds
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let data = history::revision_data(&template);
    let wanted = crate::workload::hash::canonical_json(&data);
    let (mut current, old): (Vec<ControllerRevision>, Vec<ControllerRevision>) = owned
        .iter()
        .map(|r| (**r).clone())
        .partition(|r| history::raw(r) == wanted);
    let next = history::next_number(old.iter());
    let current = match current.len() {
        0 => snapshot(caches, ds, &template, next)?,
        _ => {
            current.sort_by_key(|r| std::cmp::Reverse(r.revision));
            let keep = current.remove(0);
            for duplicate in current {
                dedup(caches, ds, &keep, &duplicate)?;
            }
            if keep.revision < next {
                let mut renumbered = keep.clone();
                renumbered.revision = next;
                let stored = api.replace(&renumbered)?;
                caches.controller_revisions.record(stored.clone());
                stored
            } else {
                keep
            }
        }
    };
    Ok((current, old))
}

/// Relabels the pods of a duplicate current revision to the kept one, then deletes it.
fn dedup(
    caches: &Caches,
    ds: &DaemonSet,
    keep: &ControllerRevision,
    duplicate: &ControllerRevision,
) -> Result<(), Error> {
    let namespace = ds.namespace_any();
    let (Some(from), Some(to)) = (
        duplicate.labels().get(REVISION_HASH_LABEL),
        keep.labels().get(REVISION_HASH_LABEL),
    ) else {
        return Ok(());
    };
    let pods_api = Api::<Pod>::namespaced(namespace);
    for pod in caches.pods.owned_by(namespace, ds.uid_any()) {
        if pod.labels().get(REVISION_HASH_LABEL) == Some(from) {
            let patch = kmicro_module_sdk::serde_json::json!({"metadata": {"labels": {REVISION_HASH_LABEL: to}}});
            let stored = pods_api.patch(
                pod.name_any(),
                None,
                PatchType::Merge,
                &patch,
                &WriteParams::default(),
            )?;
            caches.pods.record(stored);
        }
    }
    match Api::<ControllerRevision>::namespaced(namespace)
        .delete(duplicate.name_any(), &Default::default())
    {
        Ok(_) => Ok(()),
        Err(Error::Api(e)) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// kube's `snapshot`: records the current template as revision `number`, raising the
/// collision count when another template already holds its name.
fn snapshot(
    caches: &Caches,
    ds: &DaemonSet,
    template: &kmicro_module_sdk::k8s_openapi::api::core::v1::PodTemplateSpec,
    number: i64,
) -> Result<ControllerRevision, Error> {
    let namespace = ds.namespace_any();
    let api = Api::<ControllerRevision>::namespaced(namespace);
    let collision_count = ds.status.as_ref().and_then(|s| s.collision_count);
    let hash = template_hash(template, collision_count);
    let mut revision = history::new_revision(
        namespace,
        ds.name_any(),
        ds.controller_reference(),
        template,
        &hash,
        number,
    );
    revision.metadata.annotations = ds.metadata.annotations.clone();
    match api.create(&revision) {
        Ok(stored) => {
            caches.controller_revisions.record(stored.clone());
            Ok(stored)
        }
        Err(Error::Api(e)) if e.is_already_exists() => {
            let existing = api.get(revision.name_any())?;
            if history::same_data(&existing, &revision) {
                return Ok(existing);
            }
            let ds_api = Api::<DaemonSet>::namespaced(namespace);
            let mut fresh = ds_api.get(ds.name_any())?;
            let fresh_count = fresh.status.as_ref().and_then(|s| s.collision_count);
            if fresh_count != collision_count {
                return Err(Error::msg(format!(
                    "stale collision count of DaemonSet {}; will retry",
                    ds.name_any()
                )));
            }
            fresh
                .status
                .get_or_insert_with(Default::default)
                .collision_count = Some(collision_count.unwrap_or(0).saturating_add(1));
            let stored = ds_api.replace_status(&fresh)?;
            caches.daemon_sets.record(stored);
            Err(Error::Api(e))
        }
        Err(e) => Err(e),
    }
}

/// kube's `cleanupHistory`: old revisions beyond `revisionHistoryLimit` that no pod still
/// names are deleted, oldest first.
fn cleanup_history(
    caches: &Caches,
    ds: &DaemonSet,
    old: &[ControllerRevision],
) -> Result<(), Error> {
    let limit = ds
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(10)
        .max(0) as usize;
    let mut to_kill = old.len().saturating_sub(limit);
    if to_kill == 0 {
        return Ok(());
    }
    let live: BTreeSet<String> = owned_pods(caches, ds)
        .iter()
        .filter_map(|p| p.labels().get(REVISION_HASH_LABEL).cloned())
        .collect();
    let mut sorted: Vec<&ControllerRevision> = old.iter().collect();
    history::sort_oldest_first(&mut sorted);
    let api = Api::<ControllerRevision>::namespaced(ds.namespace_any());
    for revision in sorted {
        if to_kill == 0 {
            break;
        }
        if revision
            .labels()
            .get(REVISION_HASH_LABEL)
            .is_some_and(|h| live.contains(h))
        {
            continue;
        }
        match api.delete(revision.name_any(), &Default::default()) {
            Ok(_) => {}
            Err(Error::Api(e)) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        to_kill -= 1;
    }
    Ok(())
}

/// The DaemonSet's status for `counts`, at its current generation.
fn status_of(ds: &DaemonSet, counts: &plan::Counts) -> DaemonSetStatus {
    let mut status = ds.status.clone().unwrap_or_default();
    status.desired_number_scheduled = counts.desired;
    status.current_number_scheduled = counts.current;
    status.number_misscheduled = counts.misscheduled;
    status.number_ready = counts.ready;
    status.updated_number_scheduled = count(counts.updated.max(0) as usize);
    status.number_available = count(counts.available.max(0) as usize);
    status.number_unavailable = count((counts.desired - counts.available).max(0) as usize);
    status.observed_generation = ds.metadata.generation;
    status
}

fn write_status(caches: &Caches, ds: &DaemonSet, counts: &plan::Counts) -> Result<(), Error> {
    let status = status_of(ds, counts);
    if ds.status.as_ref() == Some(&status) {
        return Ok(());
    }
    actions::write_status(&caches.daemon_sets, ds, |d| d.status = Some(status.clone()))
}
