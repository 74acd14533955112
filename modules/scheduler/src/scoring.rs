//! The scorers and the choice among feasible nodes, with kube's default plugin weights:
//! TaintToleration 3, NodeAffinity 2, PodTopologySpread 2, InterPodAffinity 2,
//! NodeResourcesFit (LeastAllocated over cpu and memory) 1, NodeResourcesBalancedAllocation 1.
//! Each scorer gives 0–100 per node.

use crate::affinity;
use crate::interpod::{self, NamespaceLabels};
use crate::node_info::{NodeInfo, PodInfo};
use crate::spread;
use crate::taints;

/// The best score a scorer gives.
pub const MAX_NODE_SCORE: i64 = 100;

const WEIGHT_TAINT_TOLERATION: i64 = 3;
const WEIGHT_NODE_AFFINITY: i64 = 2;
const WEIGHT_LEAST_ALLOCATED: i64 = 1;
const WEIGHT_BALANCED_ALLOCATION: i64 = 1;
const WEIGHT_TOPOLOGY_SPREAD: i64 = 2;
const WEIGHT_INTER_POD_AFFINITY: i64 = 2;

/// The index (in `feasible`) of the node to bind to: the highest total score, ties to the
/// first (the nodes come ordered by name); none when there are no nodes. A single node is
/// taken unscored, as kube does. `all` are every node, for the scorers that count pods
/// cluster-wide.
pub fn select(
    pod: &PodInfo,
    feasible: &[&NodeInfo],
    all: &[NodeInfo],
    namespaces: &NamespaceLabels,
) -> Option<usize> {
    if feasible.len() <= 1 {
        return (!feasible.is_empty()).then_some(0);
    }
    let totals = total_scores(pod, feasible, all, namespaces);
    let best = totals.iter().copied().max()?;
    totals.iter().position(|s| *s == best)
}

/// Each of `nodes`' weighted score.
pub fn total_scores(
    pod: &PodInfo,
    nodes: &[&NodeInfo],
    all: &[NodeInfo],
    namespaces: &NamespaceLabels,
) -> Vec<i64> {
    let spread = spread::scores(pod, all, nodes);
    let interpod = interpod::scores(pod, all, nodes, namespaces);
    let taint = normalize(
        &nodes
            .iter()
            .map(|n| taint_toleration_raw(pod, n))
            .collect::<Vec<_>>(),
        true,
    );
    let affinity = normalize(
        &nodes
            .iter()
            .map(|n| affinity::preferred_weight(&pod.pod, &n.node))
            .collect::<Vec<_>>(),
        false,
    );
    let best_effort = pod.requests.milli_cpu == 0 && pod.requests.memory == 0;
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let balanced = if best_effort {
                0
            } else {
                balanced_allocation(pod, n)
            };
            taint[i] * WEIGHT_TAINT_TOLERATION
                + affinity[i] * WEIGHT_NODE_AFFINITY
                + least_allocated(pod, n) * WEIGHT_LEAST_ALLOCATED
                + balanced * WEIGHT_BALANCED_ALLOCATION
                + spread[i] * WEIGHT_TOPOLOGY_SPREAD
                + interpod[i] * WEIGHT_INTER_POD_AFFINITY
        })
        .collect()
}

/// LeastAllocated: the share of cpu and memory left free once the pod is placed (requests
/// with kube's defaults for missing ones), averaged with equal weights.
pub fn least_allocated(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let pairs = [
        (
            node.non_zero_requested.milli_cpu + pod.non_zero_requests.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.non_zero_requested.memory + pod.non_zero_requests.memory,
            node.allocatable.memory,
        ),
    ];
    let mut sum = 0;
    let mut weights = 0;
    for (requested, capacity) in pairs {
        if capacity == 0 {
            continue;
        }
        sum += least_requested_score(requested, capacity);
        weights += 1;
    }
    if weights == 0 { 0 } else { sum / weights }
}

fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// BalancedAllocation: how close the cpu and memory shares in use (the pod's actual
/// requests included) are to each other: `(1 - |cpu - memory| / 2) × 100`.
pub fn balanced_allocation(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let pairs = [
        (
            node.requested.milli_cpu + pod.requests.milli_cpu,
            node.allocatable.milli_cpu,
        ),
        (
            node.requested.memory + pod.requests.memory,
            node.allocatable.memory,
        ),
    ];
    let fractions: Vec<f64> = pairs
        .iter()
        .filter(|(_, capacity)| *capacity != 0)
        .map(|(requested, capacity)| (*requested as f64 / *capacity as f64).min(1.0))
        .collect();
    let deviation = match fractions.as_slice() {
        [a, b] => ((a - b) / 2.0).abs(),
        _ => 0.0,
    };
    ((1.0 - deviation) * MAX_NODE_SCORE as f64) as i64
}

/// TaintToleration before normalizing: the untolerated `PreferNoSchedule` taints.
fn taint_toleration_raw(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let node_taints = node
        .node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    taints::intolerable_prefer_no_schedule(node_taints, taints::tolerations(&pod.pod))
}

/// kube's `DefaultNormalizeScore`: scales scores to 0–100 by the highest; `reverse` turns
/// "more is worse" into "more is better". All zeros stay 0 (or become 100 when reversed).
pub fn normalize(scores: &[i64], reverse: bool) -> Vec<i64> {
    let max = scores.iter().copied().max().unwrap_or(0);
    scores
        .iter()
        .map(|s| {
            if max == 0 {
                return if reverse { MAX_NODE_SCORE } else { 0 };
            }
            let scaled = MAX_NODE_SCORE * s / max;
            if reverse {
                MAX_NODE_SCORE - scaled
            } else {
                scaled
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, Pod,
        PreferredSchedulingTerm,
    };
    use std::rc::Rc;

    fn info(node: kmicro_module_sdk::k8s_openapi::api::core::v1::Node) -> NodeInfo {
        NodeInfo::new(Rc::new(node))
    }

    fn pod_info(pod: Pod) -> PodInfo {
        PodInfo::new(Rc::new(pod))
    }

    #[test]
    fn least_allocated_favours_free_nodes() {
        let pod = pod_info(pod_with(
            vec![container(&[("cpu", "1"), ("memory", "1Gi")])],
            vec![],
        ));
        let empty = info(node("a", "4", "4Gi"));
        // cpu (4-1)/4 = 75, memory (4-1)/4 = 75.
        assert_eq!(least_allocated(&pod, &empty), 75);
        let mut busy = info(node("b", "4", "4Gi"));
        busy.add_pod(pod_info(assigned(
            pod_with(vec![container(&[("cpu", "2"), ("memory", "3Gi")])], vec![]),
            "b",
        )));
        // cpu (4-3)/4 = 25, memory over capacity = 0.
        assert_eq!(least_allocated(&pod, &busy), 12);
    }

    #[test]
    fn least_allocated_counts_missing_requests_as_defaults() {
        let pod = pod_info(pod_with(vec![container(&[])], vec![]));
        let n = info(node("a", "1", "1000Mi"));
        // cpu (1000-100)/1000 = 90, memory (1000-200)/1000 = 80 → 85.
        assert_eq!(least_allocated(&pod, &n), 85);
    }

    #[test]
    fn balanced_allocation_favours_even_use() {
        let pod = pod_info(pod_with(
            vec![container(&[("cpu", "1"), ("memory", "1Gi")])],
            vec![],
        ));
        let even = info(node("a", "4", "4Gi"));
        assert_eq!(balanced_allocation(&pod, &even), 100);
        let lopsided = info(node("b", "2", "8Gi"));
        // cpu 0.5, memory 0.125 → deviation 0.1875 → 81.
        assert_eq!(balanced_allocation(&pod, &lopsided), 81);
    }

    #[test]
    fn normalize_scales_to_the_best() {
        assert_eq!(normalize(&[0, 5, 10], false), vec![0, 50, 100]);
        assert_eq!(normalize(&[0, 5, 10], true), vec![100, 50, 0]);
        assert_eq!(normalize(&[0, 0], false), vec![0, 0]);
        assert_eq!(normalize(&[0, 0], true), vec![100, 100]);
    }

    #[test]
    fn soft_taints_steer_away() {
        let pod = pod_info(pod_with(vec![container(&[("cpu", "100m")])], vec![]));
        let mut tainted = node("a", "4", "8Gi");
        tainted.spec.get_or_insert_default().taints =
            Some(vec![taint("busy", "", "PreferNoSchedule")]);
        let (a, b) = (info(tainted), info(node("b", "4", "8Gi")));
        let nodes = [&a, &b];
        let totals = total_scores(&pod, &nodes, &[], &NamespaceLabels::new());
        assert!(totals[1] > totals[0], "{totals:?}");
        assert_eq!(totals[1] - totals[0], 100 * WEIGHT_TAINT_TOLERATION);
        assert_eq!(select(&pod, &nodes, &[], &NamespaceLabels::new()), Some(1));
    }

    #[test]
    fn preferred_affinity_steers_towards() {
        let mut pod = pod_with(vec![container(&[("cpu", "100m")])], vec![]);
        pod.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: None,
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm {
                        weight: 50,
                        preference: NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "disk".into(),
                                operator: "In".into(),
                                values: Some(vec!["ssd".into()]),
                            }]),
                            match_fields: None,
                        },
                    },
                ]),
            }),
            ..Default::default()
        });
        let pod = pod_info(pod);
        let (a, b) = (
            info(node_labelled("a", &[])),
            info(node_labelled("b", &[("disk", "ssd")])),
        );
        assert_eq!(
            select(&pod, &[&a, &b], &[], &NamespaceLabels::new()),
            Some(1)
        );
    }

    #[test]
    fn the_emptier_node_wins_and_ties_go_by_name() {
        let pod = pod_info(pod_with(vec![container(&[("cpu", "500m")])], vec![]));
        let a = info(node("a", "4", "8Gi"));
        let b = info(node("b", "4", "8Gi"));
        assert_eq!(
            select(&pod, &[&a, &b], &[], &NamespaceLabels::new()),
            Some(0)
        );
        let mut busy_a = info(node("a", "4", "8Gi"));
        busy_a.add_pod(pod_info(assigned(
            pod_with(vec![container(&[("cpu", "2")])], vec![]),
            "a",
        )));
        assert_eq!(
            select(&pod, &[&busy_a, &b], &[], &NamespaceLabels::new()),
            Some(1)
        );
        assert_eq!(
            select(&pod, &[&busy_a], &[], &NamespaceLabels::new()),
            Some(0)
        );
        assert_eq!(select(&pod, &[], &[], &NamespaceLabels::new()), None);
    }

    #[test]
    fn best_effort_pods_skip_balanced_allocation() {
        let pod = pod_info(pod_with(vec![container(&[])], vec![]));
        let n = info(node("a", "2", "8Gi"));
        let totals = total_scores(&pod, &[&n, &n], &[], &NamespaceLabels::new());
        // taint 100×3 + affinity 0 + least allocated only.
        assert_eq!(totals[0], 300 + least_allocated(&pod, &n));
    }
}
