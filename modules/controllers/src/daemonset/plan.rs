//! What a DaemonSet does on each node (kube's `podsShouldBeOnNode`, `rollingUpdate` and
//! `updateDaemonSetStatus`): pure decisions over the nodes and the pods by node.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, Pod, PodSpec};

use super::eligibility::fit;
use crate::workload::history::REVISION_HASH_LABEL;
use crate::workload::pods::{self, created, is_available, is_ready, phase};

/// The label daemon pods carry with the DaemonSet's template generation.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The DaemonSet as the decisions see it.
#[derive(Debug, Clone)]
pub struct Daemon<'a> {
    /// The pod template's spec.
    pub spec: &'a PodSpec,
    /// The current revision's hash.
    pub hash: &'a str,
    /// The template generation (`deprecated.daemonset.template.generation`), if known.
    pub generation: Option<i64>,
    /// `spec.minReadySeconds`.
    pub min_ready_seconds: i32,
    /// Rolling update with surge: maxSurge and maxUnavailable as resolved per desired count;
    /// none for `OnDelete`.
    pub rolling: Option<Rolling<'a>>,
}

/// A DaemonSet's rolling-update parameters.
#[derive(Debug, Clone, Copy)]
pub struct Rolling<'a> {
    /// `maxSurge`.
    pub max_surge:
        Option<&'a kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
    /// `maxUnavailable`.
    pub max_unavailable:
        Option<&'a kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>,
}

impl Daemon<'_> {
    /// kube's `IsPodUpdated`: the pod has the current hash or template generation.
    pub fn is_updated(&self, pod: &Pod) -> bool {
        let labels = pod.labels();
        let hash_matches = !self.hash.is_empty()
            && labels.get(REVISION_HASH_LABEL).map(String::as_str) == Some(self.hash);
        let generation_matches = self
            .generation
            .is_some_and(|g| labels.get(TEMPLATE_GENERATION_LABEL) == Some(&g.to_string()));
        hash_matches || generation_matches
    }

    fn surge_count(&self, desired: i32) -> i32 {
        self.rolling
            .and_then(|r| r.max_surge)
            .and_then(|v| crate::workload::intstr::scaled(v, desired, true).ok())
            .unwrap_or(0)
    }

    fn unavailable_count(&self, desired: i32) -> i32 {
        self.rolling
            .and_then(|r| r.max_unavailable)
            .and_then(|v| crate::workload::intstr::scaled(v, desired, true).ok())
            .unwrap_or(0)
    }

    /// kube's `AllowsSurge`.
    pub fn allows_surge(&self) -> bool {
        self.surge_count(1) > 0
    }
}

/// kube's `podByCreationTimestampAndPhase`: scheduled pods first, then oldest first.
fn by_age_and_phase(a: &&Pod, b: &&Pod) -> Ordering {
    let (sa, sb) = (
        !pods::node_name(a).is_empty(),
        !pods::node_name(b).is_empty(),
    );
    if sa != sb {
        return if sa {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    created(&a.metadata)
        .cmp(&created(&b.metadata))
        .then_with(|| a.name_any().cmp(b.name_any()))
}

/// The pods a DaemonSet creates (by node) and deletes (by name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Nodes that need a daemon pod.
    pub create_on: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<String>,
    /// Failed pods among `delete`, with their node (kube records `FailedDaemonPod` for them).
    pub failed: Vec<(String, String)>,
}

/// kube's `manage`: per node, whether a daemon pod is missing, finished, failed, duplicated
/// or misplaced; plus unscheduled pods pinned to nodes that no longer exist.
pub fn manage(
    daemon: &Daemon,
    nodes: &[&Node],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    now: u64,
) -> Changes {
    let mut changes = Changes::default();
    for node in nodes {
        let name = node.name_any();
        let f = fit(daemon.spec, node);
        let on_node = by_node.get(name);
        match on_node {
            None if f.should_run => changes.create_on.push(name.to_string()),
            _ if f.should_continue_running => {
                let mut running: Vec<&Pod> = Vec::new();
                for pod in on_node.into_iter().flatten() {
                    if pod.is_deleting() {
                        continue;
                    }
                    match phase(pod) {
                        "Failed" => {
                            changes.delete.push(pod.name_any().to_string());
                            changes
                                .failed
                                .push((pod.name_any().to_string(), name.to_string()));
                        }
                        "Succeeded" => changes.delete.push(pod.name_any().to_string()),
                        _ => running.push(pod),
                    }
                }
                running.sort_by(by_age_and_phase);
                if !daemon.allows_surge() {
                    // One pod per node: all but the oldest go.
                    changes
                        .delete
                        .extend(running.iter().skip(1).map(|p| p.name_any().to_string()));
                    continue;
                }
                if running.is_empty() {
                    if f.should_run {
                        changes.create_on.push(name.to_string());
                    }
                    continue;
                }
                // Surging: at most the oldest updated and the oldest old pod; the old one goes
                // once it is not ready, or the new one is available.
                let (mut newest, mut oldest) = (None, None);
                for pod in running {
                    let slot = if daemon.is_updated(pod) {
                        &mut newest
                    } else {
                        &mut oldest
                    };
                    match slot {
                        None => *slot = Some(pod),
                        Some(_) => changes.delete.push(pod.name_any().to_string()),
                    }
                }
                if let (Some(new_pod), Some(old_pod)) = (newest, oldest)
                    && (!is_ready(old_pod) || is_available(new_pod, daemon.min_ready_seconds, now))
                {
                    changes.delete.push(old_pod.name_any().to_string());
                }
            }
            Some(on_node) if !f.should_continue_running => {
                changes.delete.extend(
                    on_node
                        .iter()
                        .filter(|p| !p.is_deleting())
                        .map(|p| p.name_any().to_string()),
                );
            }
            _ => {}
        }
    }
    for (node, on_node) in by_node {
        if nodes.iter().any(|n| n.name_any() == node) {
            continue;
        }
        changes.delete.extend(
            on_node
                .iter()
                .filter(|p| pods::node_name(p).is_empty())
                .map(|p| p.name_any().to_string()),
        );
    }
    changes
}

/// kube's `findUpdatedPodsOnNode`: the updated and the old pod of a node, or none when there
/// are several of either (the manage loop cleans that up first).
fn updated_and_old<'a>(
    daemon: &Daemon,
    on_node: &[&'a Pod],
) -> Option<(Option<&'a Pod>, Option<&'a Pod>)> {
    let (mut new, mut old) = (None, None);
    for pod in on_node.iter().filter(|p| !p.is_deleting()) {
        let slot = if daemon.is_updated(pod) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(*pod);
    }
    Some((new, old))
}

/// kube's `rollingUpdate`: which old pods to delete (without surge) or which nodes get a
/// new pod beside the old one (with surge), within maxUnavailable / maxSurge.
pub fn rolling_update(
    daemon: &Daemon,
    nodes: &[&Node],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    now: u64,
) -> Changes {
    let mut per_node: BTreeMap<String, Vec<&Pod>> = by_node.clone();
    let mut desired = 0;
    for node in nodes {
        if fit(daemon.spec, node).should_run {
            desired += 1;
            per_node.entry(node.name_any().to_string()).or_default();
        }
    }
    let mut max_unavailable = daemon.unavailable_count(desired);
    let max_surge = daemon.surge_count(desired);
    if desired > 0 && max_unavailable == 0 && max_surge == 0 {
        max_unavailable = 1;
    }
    let available = |p: &Pod| is_available(p, daemon.min_ready_seconds, now);
    let mut changes = Changes::default();

    if max_surge == 0 {
        let mut unavailable = 0;
        let mut replace_now: Vec<String> = Vec::new();
        let mut candidates: Vec<String> = Vec::new();
        for on_node in per_node.values() {
            let Some((new, old)) = updated_and_old(daemon, on_node) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => {
                    if !available(new) {
                        unavailable += 1;
                    }
                }
                (None, Some(old)) => {
                    if !available(old) {
                        replace_now.push(old.name_any().to_string());
                    } else if unavailable < max_unavailable {
                        candidates.push(old.name_any().to_string());
                    }
                }
            }
        }
        let room = (max_unavailable - unavailable).max(0) as usize;
        changes.delete = replace_now;
        changes.delete.extend(candidates.into_iter().take(room));
        return changes;
    }

    let node_fit = |name: &str| {
        nodes
            .iter()
            .find(|n| n.name_any() == name)
            .is_some_and(|n| fit(daemon.spec, n).should_run)
    };
    let mut surging = 0;
    let mut available_count = 0;
    let mut misplaced: Vec<String> = Vec::new();
    let mut candidates: Vec<String> = Vec::new();
    for (name, on_node) in &per_node {
        let Some((new, old)) = updated_and_old(daemon, on_node) else {
            surging += 1;
            continue;
        };
        if old.or(new).is_some_and(available) {
            available_count += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !available(old) {
                    if node_fit(name) {
                        changes.create_on.push(name.clone());
                    } else {
                        changes.delete.push(old.name_any().to_string());
                    }
                } else if !node_fit(name) {
                    misplaced.push(old.name_any().to_string());
                } else if surging < max_surge {
                    candidates.push(name.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(new) {
                    changes.delete.push(old.name_any().to_string());
                } else {
                    surging += 1;
                }
            }
        }
    }
    let deletable = (available_count - desired).max(0) as usize;
    changes.delete.extend(misplaced.into_iter().take(deletable));
    let room = (max_surge - surging).max(0) as usize;
    changes.create_on.extend(candidates.into_iter().take(room));
    changes
}

/// The counts of a DaemonSet's status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Nodes that should run a daemon pod.
    pub desired: i32,
    /// Of those, nodes that have one.
    pub current: i32,
    /// Nodes that have one but should not.
    pub misscheduled: i32,
    /// Nodes whose (oldest) daemon pod is ready.
    pub ready: i32,
    /// Nodes whose (oldest) daemon pod is updated.
    pub updated: i32,
    /// Nodes whose (oldest) daemon pod is available.
    pub available: i32,
}

/// kube's `updateDaemonSetStatus` counts.
pub fn counts(
    daemon: &Daemon,
    nodes: &[&Node],
    by_node: &BTreeMap<String, Vec<&Pod>>,
    now: u64,
) -> Counts {
    let mut c = Counts::default();
    for node in nodes {
        let on_node = by_node.get(node.name_any()).filter(|p| !p.is_empty());
        if !fit(daemon.spec, node).should_run {
            if on_node.is_some() {
                c.misscheduled += 1;
            }
            continue;
        }
        c.desired += 1;
        let Some(on_node) = on_node else { continue };
        c.current += 1;
        let mut sorted = on_node.clone();
        sorted.sort_by(by_age_and_phase);
        let pod = sorted[0];
        if is_ready(pod) {
            c.ready += 1;
            if is_available(pod, daemon.min_ready_seconds, now) {
                c.available += 1;
            }
        }
        if daemon.is_updated(pod) {
            c.updated += 1;
        }
    }
    c
}

#[cfg(test)]
mod tests;
