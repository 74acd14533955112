//! How a Deployment resizes its ReplicaSets: one step of a rolling update, a recreate, or a
//! proportional scale (kube's `rolling.go`, `recreate.go` and `sync.go`'s `scale`). Pure
//! functions over the ReplicaSets; the answer is the list of resizes to make in order.

use std::cmp::Ordering;

use kmicro_module_sdk::k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::util::{
    by_creation, desired_replicas_annotation, is_rolling, is_saturated, max_surge, max_unavailable,
    new_rs_new_replicas, proportion, replicas, rs_available, rs_replicas,
};

/// One resize: ReplicaSet `index` (into the slice planned over) to `to` replicas. A resize to
/// the current size only refreshes the replica annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    /// Which ReplicaSet.
    pub index: usize,
    /// Its new `spec.replicas`.
    pub to: i32,
}

/// kube's `reconcileNewReplicaSet`: the new ReplicaSet's next size, if it changes.
pub fn scale_new(d: &Deployment, sets: &[ReplicaSet], new: usize) -> Option<Resize> {
    let desired = replicas(d);
    let current = rs_replicas(&sets[new]);
    let to = match current.cmp(&desired) {
        Ordering::Equal => return None,
        Ordering::Greater => desired,
        Ordering::Less => {
            let all: Vec<&ReplicaSet> = sets.iter().collect();
            new_rs_new_replicas(d, &all, &sets[new])
        }
    };
    (to != current).then_some(Resize { index: new, to })
}

/// kube's `reconcileOldReplicaSets`: scales old ReplicaSets down as far as availability
/// allows — unhealthy replicas first, then the oldest ReplicaSets.
pub fn scale_old(d: &Deployment, sets: &[ReplicaSet], new: Option<usize>) -> Vec<Resize> {
    let mut sizes: Vec<i32> = sets.iter().map(rs_replicas).collect();
    let is_old = |i: usize| Some(i) != new;
    let old_pods: i32 = (0..sets.len())
        .filter(|&i| is_old(i))
        .map(|i| sizes[i])
        .sum();
    if old_pods == 0 {
        return Vec::new();
    }
    let all_pods: i32 = sizes.iter().sum();
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = new.map_or(0, |n| sizes[n] - rs_available(&sets[n]));
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Vec::new();
    }
    let mut olds: Vec<usize> = (0..sets.len())
        .filter(|&i| is_old(i) && sizes[i] > 0)
        .collect();
    olds.sort_by(|&a, &b| by_creation(&sets[a], &sets[b]));
    let mut resizes = Vec::new();

    // Unhealthy replicas first: they would otherwise block the rollout.
    let mut cleaned = 0;
    for &i in &olds {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = sizes[i] - rs_available(&sets[i]);
        if sizes[i] == 0 || unhealthy <= 0 {
            continue;
        }
        let down = (max_scaled_down - cleaned).min(unhealthy);
        sizes[i] -= down;
        cleaned += down;
        resizes.push(Resize {
            index: i,
            to: sizes[i],
        });
    }

    // Then available replicas, as far as minAvailable allows.
    let available: i32 = sets.iter().map(rs_available).sum();
    if available > min_available {
        let total = available - min_available;
        let mut scaled = 0;
        for &i in &olds {
            if scaled >= total {
                break;
            }
            if sizes[i] == 0 {
                continue;
            }
            let down = sizes[i].min(total - scaled);
            sizes[i] -= down;
            scaled += down;
            match resizes.iter_mut().find(|r| r.index == i) {
                Some(r) => r.to = sizes[i],
                None => resizes.push(Resize {
                    index: i,
                    to: sizes[i],
                }),
            }
        }
    }
    resizes
}

/// kube's `scaleDownOldReplicaSetsForRecreate`: every active old ReplicaSet to zero.
pub fn recreate_scale_down(sets: &[ReplicaSet], new: Option<usize>) -> Vec<Resize> {
    (0..sets.len())
        .filter(|&i| Some(i) != new && rs_replicas(&sets[i]) != 0)
        .map(|index| Resize { index, to: 0 })
        .collect()
}

/// kube's `FindActiveOrLatest`: the one ReplicaSet with replicas, or (none having any) the
/// new one, else the newest; none when several have replicas.
fn active_or_latest(sets: &[ReplicaSet], new: Option<usize>) -> Option<usize> {
    let active: Vec<usize> = (0..sets.len())
        .filter(|&i| rs_replicas(&sets[i]) > 0)
        .collect();
    match active.as_slice() {
        [] => new.or_else(|| (0..sets.len()).max_by(|&a, &b| by_creation(&sets[a], &sets[b]))),
        [one] => Some(*one),
        _ => None,
    }
}

/// kube's `isScalingEvent`: an active ReplicaSet was sized for another `spec.replicas`.
pub fn is_scaling_event(d: &Deployment, sets: &[ReplicaSet]) -> bool {
    let desired = replicas(d);
    sets.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .filter_map(desired_replicas_annotation)
        .any(|n| n != desired)
}

/// kube's `scale`: brings the ReplicaSets to the Deployment's size, proportionally to their
/// sizes while a rollout is in progress.
pub fn scale(d: &Deployment, sets: &[ReplicaSet], new: Option<usize>) -> Vec<Resize> {
    let desired = replicas(d);
    if let Some(only) = active_or_latest(sets, new) {
        if rs_replicas(&sets[only]) == desired {
            return Vec::new();
        }
        return vec![Resize {
            index: only,
            to: desired,
        }];
    }
    if is_saturated(d, new.map(|n| &sets[n])) {
        return (0..sets.len())
            .filter(|&i| Some(i) != new && rs_replicas(&sets[i]) > 0)
            .map(|index| Resize { index, to: 0 })
            .collect();
    }
    if !is_rolling(d) {
        return Vec::new();
    }
    let mut active: Vec<usize> = (0..sets.len())
        .filter(|&i| rs_replicas(&sets[i]) > 0)
        .collect();
    let current: i32 = active.iter().map(|&i| rs_replicas(&sets[i])).sum();
    let allowed = if desired > 0 {
        desired + max_surge(d)
    } else {
        0
    };
    let to_add = allowed - current;
    // Larger first; among equals, newer first when growing and older first when shrinking.
    active.sort_by(|&a, &b| {
        let (ra, rb) = (&sets[a], &sets[b]);
        rs_replicas(rb).cmp(&rs_replicas(ra)).then_with(|| {
            if to_add > 0 {
                by_creation(rb, ra)
            } else {
                by_creation(ra, rb)
            }
        })
    });
    let mut added = 0;
    let mut sizes: Vec<(usize, i32)> = Vec::with_capacity(active.len());
    for &i in &active {
        let mut size = rs_replicas(&sets[i]);
        if to_add != 0 {
            let share = proportion(&sets[i], d, to_add, added);
            size += share;
            added += share;
        }
        sizes.push((i, size));
    }
    if to_add != 0
        && let Some(first) = sizes.first_mut()
    {
        first.1 = (first.1 + to_add - added).max(0);
    }
    sizes
        .into_iter()
        .map(|(index, to)| Resize { index, to })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;

/// kube's `cleanupDeployment`: the old ReplicaSets to delete beyond `revisionHistoryLimit`,
/// lowest revision first, skipping any that still have (or may still have) pods.
pub fn history_to_delete(d: &Deployment, sets: &[ReplicaSet], new: Option<usize>) -> Vec<usize> {
    use kmicro_module_sdk::ResourceExt;
    let Some(limit) = super::util::revision_history_limit(d) else {
        return Vec::new();
    };
    let mut cleanable: Vec<usize> = (0..sets.len())
        .filter(|&i| Some(i) != new && !sets[i].is_deleting())
        .collect();
    let excess = cleanable.len() as i64 - i64::from(limit);
    if excess <= 0 {
        return Vec::new();
    }
    cleanable.sort_by(|&a, &b| super::util::by_revision(&sets[a], &sets[b]));
    cleanable
        .into_iter()
        .take(excess as usize)
        .filter(|&i| {
            let rs = &sets[i];
            let observed = rs
                .status
                .as_ref()
                .and_then(|s| s.observed_generation)
                .unwrap_or(0);
            super::util::rs_actual(rs) == 0
                && rs_replicas(rs) == 0
                && rs.metadata.generation.unwrap_or(0) <= observed
        })
        .collect()
}
