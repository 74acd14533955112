//! A Deployment's status and conditions (kube's `calculateStatus`, `syncRolloutStatus`,
//! `checkPausedConditions` and the progress-deadline arithmetic).

use kmicro_module_sdk::k8s_openapi::api::apps::v1::{
    Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kmicro_module_sdk::time::timestamp;

use super::util::{
    max_unavailable, progress_deadline, replicas, rs_actual, rs_available, rs_ready, rs_replicas,
};
use crate::workload::pods::millis;

/// Condition type: enough replicas are available.
pub const AVAILABLE: &str = "Available";
/// Condition type: the rollout makes progress (or has finished, or has stalled).
pub const PROGRESSING: &str = "Progressing";
/// Condition type: a ReplicaSet could not create or delete pods.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Reason: a new ReplicaSet was created for the rollout.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Reason: the rollout's ReplicaSet already existed.
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
/// Reason: the rollout made progress.
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Reason: the rollout finished.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Reason: the rollout made no progress within `progressDeadlineSeconds`.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Reason: the Deployment was paused.
pub const PAUSED: &str = "DeploymentPaused";
/// Reason: the Deployment was resumed.
pub const RESUMED: &str = "DeploymentResumed";
/// Reason: the new ReplicaSet could not be created.
pub const FAILED_RS_CREATE: &str = "ReplicaSetCreateError";

/// A condition of `type_` as of `now`.
pub fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: u64,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_update_time: Some(Time(timestamp(now))),
        last_transition_time: Some(Time(timestamp(now))),
    }
}

/// The condition of `type_`, if any.
pub fn get<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn reason(c: &DeploymentCondition) -> &str {
    c.reason.as_deref().unwrap_or("")
}

/// kube's `SetDeploymentCondition`: nothing when the same status and reason are already
/// there; otherwise replaces the condition (keeping the transition time when only the
/// reason changed).
pub fn set(status: &mut DeploymentStatus, mut new: DeploymentCondition) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    if let Some(current) = conditions.iter().find(|c| c.type_ == new.type_) {
        if current.status == new.status && current.reason == new.reason {
            return;
        }
        if current.status == new.status {
            new.last_transition_time = current.last_transition_time.clone();
        }
    }
    conditions.retain(|c| c.type_ != new.type_);
    conditions.push(new);
}

/// Removes the condition of `type_`.
pub fn remove(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
        if conditions.is_empty() {
            status.conditions = None;
        }
    }
}

fn opt(n: i32) -> Option<i32> {
    (n != 0).then_some(n)
}

/// kube's `calculateStatus`: counts over `sets` (the new one at `new`) and the `Available`
/// condition.
pub fn calculate(
    d: &Deployment,
    sets: &[ReplicaSet],
    new: Option<usize>,
    now: u64,
) -> DeploymentStatus {
    let available: i32 = sets.iter().map(rs_available).sum();
    let total: i32 = sets.iter().map(rs_replicas).sum();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: opt(sets.iter().map(rs_actual).sum()),
        updated_replicas: opt(new.map_or(0, |n| rs_actual(&sets[n]))),
        ready_replicas: opt(sets.iter().map(rs_ready).sum()),
        available_replicas: opt(available),
        unavailable_replicas: opt((total - available).max(0)),
        collision_count: d.status.as_ref().and_then(|s| s.collision_count),
        conditions: d.status.as_ref().and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set(
            &mut status,
            condition(
                AVAILABLE,
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            ),
        );
    } else {
        set(
            &mut status,
            condition(
                AVAILABLE,
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            ),
        );
    }
    status
}

/// kube's `DeploymentComplete`: every replica updated and available, at the current
/// generation.
pub fn is_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let desired = replicas(d);
    status.updated_replicas.unwrap_or(0) == desired
        && status.replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// kube's `DeploymentProgressing`: more updated, fewer old, more ready or more available
/// replicas than the last status said.
fn is_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas) - n(old.updated_replicas);
    let new_old = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// kube's `DeploymentTimedOut`: no progress reported for `progressDeadlineSeconds`.
fn is_timed_out(d: &Deployment, status: &DeploymentStatus, now: u64) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = get(status, PROGRESSING) else {
        return false;
    };
    match reason(c) {
        NEW_RS_AVAILABLE => false,
        TIMED_OUT => true,
        _ => {
            let from = c.last_update_time.as_ref().map_or(0, millis);
            from.saturating_add(deadline.max(0) as u64 * 1000) < now
        }
    }
}

/// kube's `syncRolloutStatus` without the write: the status a rolling or recreating
/// Deployment should have, with the `Progressing` condition moved along.
pub fn rollout(
    d: &Deployment,
    sets: &[ReplicaSet],
    new: Option<usize>,
    now: u64,
) -> DeploymentStatus {
    let mut status = calculate(d, sets, new, now);
    let deadline = progress_deadline(d);
    if deadline.is_none() {
        remove(&mut status, PROGRESSING);
    }
    let current = d.status.as_ref().and_then(|s| get(s, PROGRESSING)).cloned();
    let complete_before = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| reason(c) == NEW_RS_AVAILABLE);
    let name = d.metadata.name.as_deref().unwrap_or("");
    let subject = match new {
        Some(n) => format!(
            "ReplicaSet {:?}",
            sets[n].metadata.name.as_deref().unwrap_or("")
        ),
        None => format!("Deployment {name:?}"),
    };
    if deadline.is_some() && !complete_before {
        if is_complete(d, &status) {
            let message = format!("{subject} has successfully progressed.");
            set(
                &mut status,
                condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &message, now),
            );
        } else if is_progressing(d, &status) {
            let message = format!("{subject} is progressing.");
            let mut c = condition(PROGRESSING, "True", RS_UPDATED, &message, now);
            if let Some(current) = &current {
                if current.status == "True" {
                    c.last_transition_time = current.last_transition_time.clone();
                }
                remove(&mut status, PROGRESSING);
            }
            set(&mut status, c);
        } else if is_timed_out(d, &status, now) {
            let message = format!("{subject} has timed out progressing.");
            set(
                &mut status,
                condition(PROGRESSING, "False", TIMED_OUT, &message, now),
            );
        }
    }
    match replica_failure(sets, new) {
        Some(c) => set(&mut status, c),
        None => remove(&mut status, REPLICA_FAILURE),
    }
    status
}

/// kube's `getReplicaFailures`: the first ReplicaSet `ReplicaFailure` condition (the new
/// ReplicaSet's first), as a Deployment condition.
fn replica_failure(sets: &[ReplicaSet], new: Option<usize>) -> Option<DeploymentCondition> {
    let order = new
        .into_iter()
        .chain((0..sets.len()).filter(|&i| Some(i) != new));
    order
        .filter_map(|i| sets[i].status.as_ref()?.conditions.as_ref())
        .flatten()
        .find(|c| c.type_ == REPLICA_FAILURE)
        .map(|c| DeploymentCondition {
            type_: REPLICA_FAILURE.to_string(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
            last_update_time: c.last_transition_time.clone(),
            last_transition_time: c.last_transition_time.clone(),
        })
}

/// kube's `requeueStuckDeployment`: when to look again for a rollout that may time out
/// (milliseconds from `now`).
pub fn stuck_requeue(d: &Deployment, new: &DeploymentStatus, now: u64) -> Option<u64> {
    let deadline = progress_deadline(d)?;
    let current = d.status.as_ref().and_then(|s| get(s, PROGRESSING))?;
    if is_complete(d, new) || reason(current) == TIMED_OUT {
        return None;
    }
    let from = current.last_update_time.as_ref().map_or(0, millis);
    let due = from.saturating_add(deadline.max(0) as u64 * 1000);
    Some(due.saturating_sub(now) + 1000)
}

/// kube's `checkPausedConditions`: the `Progressing` condition saying the Deployment was
/// paused or resumed, when it changes (none otherwise).
pub fn paused_condition(d: &Deployment, paused: bool, now: u64) -> Option<DeploymentStatus> {
    progress_deadline(d)?;
    let mut status = d.status.clone().unwrap_or_default();
    let current = get(&status, PROGRESSING);
    if current.is_some_and(|c| reason(c) == TIMED_OUT) {
        return None;
    }
    let paused_before = current.is_some_and(|c| reason(c) == PAUSED);
    let new = match (paused, paused_before) {
        (true, false) => condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now),
        (false, true) => condition(
            PROGRESSING,
            "Unknown",
            RESUMED,
            "Deployment is resumed",
            now,
        ),
        _ => return None,
    };
    set(&mut status, new);
    Some(status)
}

#[cfg(test)]
mod tests;
