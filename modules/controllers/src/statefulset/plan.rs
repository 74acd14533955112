//! What a StatefulSet does next (kube's `updateStatefulSet`): pods created in ordinal order
//! (`OrderedReady`: one at a time, each predecessor Running and Ready first; `Parallel`: all
//! at once), scaled down from the highest ordinal, and rolled to the update revision from the
//! highest ordinal down to the partition, one pod at a time. Pure: the answer is the list of
//! steps to take in order.

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;

use crate::workload::history::REVISION_HASH_LABEL;
use crate::workload::pods::{is_available, is_ready, phase};

/// Which revision a new pod is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// The current revision (below the partition).
    Current,
    /// The update revision.
    Update,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Delete a pod that finished (`Failed` or `Succeeded`) so it is created again.
    Recreate {
        /// The pod.
        name: String,
        /// Whether it failed (else it succeeded).
        failed: bool,
    },
    /// Create pod `ordinal` (and its missing claims) from `revision`.
    Create {
        /// Ordinal.
        ordinal: i32,
        /// Revision.
        revision: Revision,
    },
    /// Create the missing claims of a pending pod.
    CreateClaims {
        /// Ordinal.
        ordinal: i32,
    },
    /// Restore a pod's identity labels and create its missing claims.
    FixIdentity {
        /// The pod.
        name: String,
    },
    /// Delete a pod beyond the replicas (scale down).
    ScaleDown {
        /// The pod.
        name: String,
    },
    /// Delete a pod of an old revision so it comes back at the update revision.
    Update {
        /// The pod.
        name: String,
    },
}

/// The StatefulSet as the plan sees it.
#[derive(Debug, Clone)]
pub struct Spec<'a> {
    /// First ordinal (`spec.ordinals.start`).
    pub start: i32,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `podManagementPolicy: Parallel`.
    pub parallel: bool,
    /// `spec.minReadySeconds`.
    pub min_ready_seconds: i32,
    /// `updateStrategy.type` is `RollingUpdate`.
    pub rolling: bool,
    /// `updateStrategy.rollingUpdate.partition` when `rollingUpdate` is set.
    pub partition: Option<i32>,
    /// `status.currentReplicas`.
    pub current_replicas: i32,
    /// Name of the current revision.
    pub current_revision: &'a str,
    /// Name of the update revision.
    pub update_revision: &'a str,
}

impl Spec<'_> {
    /// kube's `newVersionedStatefulSetPod` choice of revision for a new pod `ordinal`.
    pub fn revision_for(&self, ordinal: i32) -> Revision {
        let below = match self.partition {
            None => self.rolling && ordinal < self.start + self.current_replicas,
            Some(p) => ordinal < self.start + p,
        };
        if below {
            Revision::Current
        } else {
            Revision::Update
        }
    }
}

/// A pod's state as the plan reads it; `None` pod means not created yet.
#[derive(Debug, Clone)]
struct Slot<'a> {
    ordinal: i32,
    pod: Option<&'a Pod>,
    /// Revision of a pod created in this plan.
    planned: Option<Revision>,
}

fn terminating(p: &Pod) -> bool {
    p.is_deleting()
}

fn running_ready(p: &Pod) -> bool {
    phase(p) == "Running" && is_ready(p)
}

fn healthy(p: &Pod) -> bool {
    running_ready(p) && !terminating(p)
}

/// The steps for `spec` given its `members` (pods named `<set>-<ordinal>`, with their
/// ordinals); `needs_fix` tells which pods lost their identity labels or claims.
pub fn plan(
    spec: &Spec,
    members: &[(i32, &Pod)],
    needs_fix: impl Fn(&Pod) -> bool,
    now: u64,
) -> Vec<Step> {
    let end = spec.start + spec.replicas.max(0);
    let monotonic = !spec.parallel;
    let mut replicas: Vec<Slot> = (spec.start..end)
        .map(|ordinal| Slot {
            ordinal,
            pod: None,
            planned: None,
        })
        .collect();
    let mut condemned: Vec<(i32, &Pod)> = Vec::new();
    for &(ordinal, pod) in members {
        if (spec.start..end).contains(&ordinal) {
            replicas[(ordinal - spec.start) as usize].pod = Some(pod);
        } else if ordinal >= 0 {
            condemned.push((ordinal, pod));
        }
    }
    condemned.sort_by_key(|c| std::cmp::Reverse(c.0));
    // The first unhealthy pod: among replicas in order (missing ones count), then among the
    // condemned from the lowest ordinal.
    let first_unhealthy: Option<i32> = replicas
        .iter()
        .find(|s| s.pod.is_none_or(|p| !healthy(p)))
        .map(|s| s.ordinal)
        .or_else(|| {
            condemned
                .iter()
                .rev()
                .find(|(_, p)| !healthy(p))
                .map(|(o, _)| *o)
        });

    let mut steps = Vec::new();
    // Replicas, in ordinal order.
    for slot in replicas.iter_mut() {
        if let Some(pod) = slot.pod
            && matches!(phase(pod), "Failed" | "Succeeded")
            && !terminating(pod)
        {
            steps.push(Step::Recreate {
                name: pod.name_any().to_string(),
                failed: phase(pod) == "Failed",
            });
            if monotonic {
                return steps;
            }
            continue;
        }
        let Some(pod) = slot.pod else {
            let revision = spec.revision_for(slot.ordinal);
            steps.push(Step::Create {
                ordinal: slot.ordinal,
                revision,
            });
            slot.planned = Some(revision);
            if monotonic {
                return steps;
            }
            continue;
        };
        if phase(pod) == "Pending" {
            steps.push(Step::CreateClaims {
                ordinal: slot.ordinal,
            });
        }
        if monotonic
            && (terminating(pod)
                || !running_ready(pod)
                || !is_available(pod, spec.min_ready_seconds, now))
        {
            return steps;
        }
        if needs_fix(pod) {
            steps.push(Step::FixIdentity {
                name: pod.name_any().to_string(),
            });
        }
    }

    // Condemned pods, highest ordinal first.
    for &(ordinal, pod) in &condemned {
        if terminating(pod) {
            if monotonic {
                return steps;
            }
            continue;
        }
        let blocked = !running_ready(pod) || !is_available(pod, spec.min_ready_seconds, now);
        if monotonic && blocked && first_unhealthy != Some(ordinal) {
            return steps;
        }
        steps.push(Step::ScaleDown {
            name: pod.name_any().to_string(),
        });
        if monotonic {
            return steps;
        }
    }

    if !spec.rolling {
        return steps;
    }
    // Rolling update: the highest ordinal not at the update revision, down to the partition,
    // one pod at a time, each waiting for the one above to be healthy.
    let update_min = spec.partition.unwrap_or(0).max(0) as usize;
    for slot in replicas.iter().skip(update_min).rev() {
        let Some(pod) = slot.pod else {
            // Created in this pass: at its planned revision and not healthy yet.
            return steps;
        };
        let revision = pod
            .labels()
            .get(REVISION_HASH_LABEL)
            .map(String::as_str)
            .unwrap_or("");
        if revision != spec.update_revision && !terminating(pod) {
            steps.push(Step::Update {
                name: pod.name_any().to_string(),
            });
            return steps;
        }
        if !healthy(pod) {
            return steps;
        }
    }
    steps
}

#[cfg(test)]
mod tests;
