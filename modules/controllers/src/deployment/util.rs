//! kube's `deployment/util`: strategy arithmetic, revision and replica annotations, and the
//! ordering and selection of a Deployment's ReplicaSets.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kmicro_module_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::workload::{intstr, pods};

/// The label that ties a ReplicaSet and its pods to one template of the Deployment.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// The revision of a Deployment and of each of its ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// The earlier revisions a ReplicaSet had (it was rolled back to).
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
/// The Deployment's `spec.replicas` when the ReplicaSet was last scaled.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// The Deployment's replicas plus surge when the ReplicaSet was last scaled.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// kube keeps at most this many characters of revision history.
const MAX_REVISION_HISTORY_CHARS: usize = 2000;

/// Annotations a Deployment never copies onto its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// `spec.replicas` (1 when unset, as defaulted).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `spec.replicas` of a ReplicaSet (1 when unset, as defaulted).
pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// `status.availableReplicas` of a ReplicaSet.
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `status.replicas` of a ReplicaSet.
pub fn rs_actual(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map_or(0, |s| s.replicas)
}

/// `status.readyReplicas` of a ReplicaSet.
pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

/// Whether the Deployment rolls (the default) rather than recreates.
pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// `spec.paused`.
pub fn is_paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// `spec.minReadySeconds`.
pub fn min_ready_seconds(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.min_ready_seconds)
        .unwrap_or(0)
}

/// `spec.progressDeadlineSeconds` when the Deployment has a deadline (kube: set and not
/// MaxInt32).
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .filter(|&s| s != i32::MAX)
}

/// `spec.revisionHistoryLimit` when set (and not MaxInt32).
pub fn revision_history_limit(d: &Deployment) -> Option<i32> {
    d.spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .filter(|&s| s != i32::MAX)
}

/// kube's `ResolveFenceposts`: maxSurge (rounded up) and maxUnavailable (rounded down)
/// against `desired`; both zero becomes maxUnavailable 1.
pub fn resolve_fenceposts(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    desired: i32,
) -> Result<(i32, i32), intstr::InvalidIntOrPercent> {
    let zero = IntOrString::Int(0);
    let surge = intstr::scaled(max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = intstr::scaled(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fenceposts(d: &Deployment) -> (i32, i32) {
    let default = IntOrString::String("25%".to_string());
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let (surge, unavailable) = match rolling {
        Some(r) => (r.max_surge.as_ref(), r.max_unavailable.as_ref()),
        None => (Some(&default), Some(&default)),
    };
    resolve_fenceposts(surge, unavailable, replicas(d)).unwrap_or((0, 0))
}

/// kube's `MaxSurge`: 0 unless rolling.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    fenceposts(d).0
}

/// kube's `MaxUnavailable`: 0 unless rolling with replicas, never more than replicas.
pub fn max_unavailable(d: &Deployment) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) || desired == 0 {
        return 0;
    }
    fenceposts(d).1.min(desired)
}

/// A ReplicaSet's revision (0 when missing or unreadable).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.annotations()
        .get(REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The highest revision among `sets`.
pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter().map(revision).max().unwrap_or(0)
}

/// kube's `ReplicaSetsByCreationTimestamp`: oldest first, then by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    pods::created(&a.metadata)
        .cmp(&pods::created(&b.metadata))
        .then_with(|| a.name_any().cmp(b.name_any()))
}

/// kube's `ReplicaSetsByRevision`: lowest revision first, then by creation.
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a)
        .cmp(&revision(b))
        .then_with(|| by_creation(a, b))
}

/// A template without the `pod-template-hash` label.
fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
        if labels.is_empty()
            && let Some(meta) = t.metadata.as_mut()
        {
            meta.labels = None;
        }
    }
    t
}

/// kube's `EqualIgnoreHash`: the templates are the same but for `pod-template-hash`.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

/// Index of the Deployment's new ReplicaSet in `sets`: the oldest whose template is the
/// Deployment's (kube's `FindNewReplicaSet`).
pub fn find_new(d: &Deployment, sets: &[ReplicaSet]) -> Option<usize> {
    let template = &d.spec.as_ref()?.template;
    let mut order: Vec<usize> = (0..sets.len()).collect();
    order.sort_by(|&a, &b| by_creation(&sets[a], &sets[b]));
    order.into_iter().find(|&i| {
        sets[i]
            .spec
            .as_ref()
            .and_then(|s| s.template.as_ref())
            .is_some_and(|t| equal_ignore_hash(t, template))
    })
}

/// Whether the ReplicaSet's replica annotations differ from `desired` and `max`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let a = rs.annotations();
    a.get(DESIRED_REPLICAS) != Some(&desired.to_string())
        || a.get(MAX_REPLICAS) != Some(&max.to_string())
}

/// Sets the replica annotations; answers whether anything changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    if !replicas_annotations_need_update(rs, desired, max) {
        return false;
    }
    let a = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    a.insert(DESIRED_REPLICAS.to_string(), desired.to_string());
    a.insert(MAX_REPLICAS.to_string(), max.to_string());
    true
}

/// The `desired-replicas` annotation, when readable.
pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    rs.annotations().get(DESIRED_REPLICAS)?.parse().ok()
}

fn max_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    rs.annotations().get(MAX_REPLICAS)?.parse().ok()
}

/// kube's `SetNewReplicaSetAnnotations`: copies the Deployment's annotations, raises the
/// revision to `new_revision` (keeping the earlier one in the revision history when this is a
/// rollback to an existing ReplicaSet), and for a ReplicaSet about to be created sets the
/// replica annotations. Answers whether anything changed.
pub fn set_new_rs_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let annotations = rs.metadata.annotations.get_or_insert_with(BTreeMap::new);
    let old = annotations.get(REVISION).cloned();
    let old_number = match old.as_deref() {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return changed,
        },
    };
    if old_number < new_revision {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old.filter(|o| !o.is_empty()) {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.to_string(), old);
            } else {
                let mut entries: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_REVISION_HISTORY_CHARS && start < entries.len() {
                    total -= entries[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_REVISION_HISTORY_CHARS {
                    entries = entries.split_off(start);
                    entries.push(&old);
                    let joined = entries.join(",");
                    annotations.insert(REVISION_HISTORY.to_string(), joined);
                }
            }
        }
    }
    if !exists {
        let desired = replicas(d);
        changed |= set_replicas_annotations(rs, desired, desired + max_surge(d));
    }
    changed
}

/// Copies the Deployment's own annotations onto the ReplicaSet (kube's
/// `copyDeploymentAnnotationsToReplicaSet`); answers whether anything changed.
fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let mut changed = false;
    for (k, v) in d.annotations() {
        if NOT_COPIED.contains(&k.as_str()) || rs.annotations().get(k) == Some(v) {
            continue;
        }
        rs.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// kube's `NewRSNewReplicas`: how far the new ReplicaSet may grow now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new: &ReplicaSet) -> i32 {
    let desired = replicas(d);
    if !is_rolling(d) {
        return desired;
    }
    let current: i32 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let max_total = desired + max_surge(d);
    if current >= max_total {
        return rs_replicas(new);
    }
    let scale_up = (max_total - current).min(desired - rs_replicas(new));
    rs_replicas(new) + scale_up
}

/// kube's `IsSaturated`: the new ReplicaSet runs all the Deployment's replicas, available.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let desired = replicas(d);
    desired_replicas_annotation(rs) == Some(desired)
        && rs_replicas(rs) == desired
        && rs_available(rs) == desired
}

/// kube's `getReplicaSetFraction`: how many replicas this ReplicaSet gains (or loses) when
/// the Deployment's total goes to its replicas plus surge.
fn fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    let desired = replicas(d);
    if desired == 0 {
        return -rs_replicas(rs);
    }
    let max_now = desired + max_surge(d);
    let before = match max_replicas_annotation(rs) {
        Some(n) if n != 0 => n,
        _ => {
            let observed = d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            if observed == 0 {
                return 0;
            }
            observed
        }
    };
    let size = f64::from(rs_replicas(rs)) / f64::from(before) * f64::from(max_now);
    size.round() as i32 - rs_replicas(rs)
}

/// kube's `GetProportion`: this ReplicaSet's share of `to_add` replicas, `added` of which
/// are already given out.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let share = fraction(rs, d);
    let allowed = to_add - added;
    if to_add > 0 {
        share.min(allowed)
    } else {
        share.max(allowed)
    }
}
