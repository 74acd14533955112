//! Pod topology spread constraints (kube's PodTopologySpread plugin): `DoNotSchedule`
//! constraints filter, `ScheduleAnyway` ones score. kube's cluster-level default constraints
//! (applied to pods without their own, through their Services and owners) are not applied.

use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement,
};
use kmicro_module_sdk::selector::Selector;

use crate::affinity;
use crate::node_info::{NodeInfo, PodInfo};
use crate::scoring::MAX_NODE_SCORE;
use crate::status::Status;
use crate::taints;

/// Reason when placing the pod on the node would exceed a constraint's skew.
pub const REASON_CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
/// Reason when the node lacks a constraint's topology key.
pub const REASON_MISSING_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";

const HOSTNAME: &str = "kubernetes.io/hostname";

/// One constraint, read.
#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    /// None for a constraint without a label selector, which counts no pod.
    selector: Option<Selector>,
    min_domains: i64,
    honor_node_affinity: bool,
    honor_node_taints: bool,
}

impl Constraint {
    fn new(c: &TopologySpreadConstraint, pod: &Pod) -> Self {
        // matchLabelKeys: the pod's values of those keys join the selector.
        let mut selector = c.label_selector.clone().unwrap_or(LabelSelector {
            match_labels: None,
            match_expressions: None,
        });
        let extra: Vec<LabelSelectorRequirement> = c
            .match_label_keys
            .iter()
            .flatten()
            .filter_map(|k| {
                pod.labels().get(k).map(|v| LabelSelectorRequirement {
                    key: k.clone(),
                    operator: "In".to_string(),
                    values: Some(vec![v.clone()]),
                })
            })
            .collect();
        selector
            .match_expressions
            .get_or_insert_default()
            .extend(extra);
        let selector = c
            .label_selector
            .is_some()
            .then(|| Selector::from_label_selector(&selector));
        Self {
            max_skew: i64::from(c.max_skew),
            topology_key: c.topology_key.clone(),
            selector,
            min_domains: i64::from(c.min_domains.unwrap_or(1)),
            honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
            honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
        }
    }

    /// Whether the node counts for this constraint (kube's node inclusion policies).
    fn includes(&self, pod: &Pod, node: &Node) -> bool {
        if self.honor_node_affinity && !affinity::required_matches(pod, node) {
            return false;
        }
        if self.honor_node_taints {
            let node_taints = node
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_deref())
                .unwrap_or(&[]);
            if taints::untolerated_taint(node_taints, taints::tolerations(pod)).is_some() {
                return false;
            }
        }
        true
    }

    /// How many pods on `node` this constraint counts: same namespace as the pod, matching
    /// the selector, not being deleted.
    fn count(&self, node: &NodeInfo, namespace: &str) -> i64 {
        node.pods
            .iter()
            .filter(|p| {
                !p.pod.is_deleting()
                    && p.pod.namespace_any() == namespace
                    && self.selects(p.pod.labels())
            })
            .count() as i64
    }

    fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

/// The pod's constraints with `when` (`DoNotSchedule` or `ScheduleAnyway`).
fn constraints(pod: &Pod, when: &str) -> Vec<Constraint> {
    pod.spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| Constraint::new(c, pod))
        .collect()
}

/// Whether `labels` have every constraint's topology key.
fn has_all_keys(labels: &BTreeMap<String, String>, constraints: &[Constraint]) -> bool {
    constraints
        .iter()
        .all(|c| labels.contains_key(&c.topology_key))
}

/// What the filter needs: per hard constraint, the matching pods per domain.
#[derive(Debug, Clone, Default)]
pub struct FilterState {
    constraints: Vec<Constraint>,
    counts: Vec<BTreeMap<String, i64>>,
}

impl FilterState {
    /// Counts the pods per domain over `nodes` for `pod`'s `DoNotSchedule` constraints.
    pub fn new(pod: &PodInfo, nodes: &[NodeInfo]) -> Self {
        let constraints = constraints(&pod.pod, "DoNotSchedule");
        if constraints.is_empty() {
            return Self::default();
        }
        let namespace = pod.pod.namespace_any();
        let mut counts = vec![BTreeMap::new(); constraints.len()];
        for node in nodes {
            let labels = node.node.labels();
            if !has_all_keys(labels, &constraints) {
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if !c.includes(&pod.pod, &node.node) {
                    continue;
                }
                let value = labels[&c.topology_key].clone();
                *counts[i].entry(value).or_insert(0) += c.count(node, namespace);
            }
        }
        Self {
            constraints,
            counts,
        }
    }

    /// The PodTopologySpread filter for `pod` on `node`: the node needs every constraint's
    /// key, and the pod there must not push its domain more than `maxSkew` above the least
    /// populated domain (0 while there are fewer domains than `minDomains`).
    pub fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
        let labels = node.node.labels();
        for (c, counts) in self.constraints.iter().zip(&self.counts) {
            let Some(value) = labels.get(&c.topology_key) else {
                return Err(Status::unresolvable(REASON_MISSING_LABEL));
            };
            let min = if (counts.len() as i64) < c.min_domains {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            let own = i64::from(c.selects(pod.pod.labels()));
            let skew = counts.get(value).copied().unwrap_or(0) + own - min;
            if skew > c.max_skew {
                return Err(Status::unschedulable(vec![REASON_CONSTRAINTS.to_string()]));
            }
        }
        Ok(())
    }
}

/// The PodTopologySpread score of each of `feasible`, 0–100 (kube's formula: per constraint
/// `count × ln(domains + 2) + maxSkew − 1`, fewer is better); all 0 when the pod has no
/// `ScheduleAnyway` constraints (the plugin is skipped then).
pub fn scores(pod: &PodInfo, nodes: &[NodeInfo], feasible: &[&NodeInfo]) -> Vec<i64> {
    let soft = constraints(&pod.pod, "ScheduleAnyway");
    if soft.is_empty() {
        return vec![0; feasible.len()];
    }
    let namespace = pod.pod.namespace_any();
    let ignored: Vec<bool> = feasible
        .iter()
        .map(|n| !has_all_keys(n.node.labels(), &soft))
        .collect();
    let considered = ignored.iter().filter(|i| !**i).count();
    // Domains of the feasible nodes, per constraint (hostnames are counted per node).
    let mut domain_counts: Vec<BTreeMap<String, i64>> = vec![BTreeMap::new(); soft.len()];
    for (n, _) in feasible.iter().zip(&ignored).filter(|(_, i)| !**i) {
        for (i, c) in soft.iter().enumerate() {
            if c.topology_key != HOSTNAME {
                domain_counts[i].insert(n.node.labels()[&c.topology_key].clone(), 0);
            }
        }
    }
    let weights: Vec<f64> = soft
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let size = if c.topology_key == HOSTNAME {
                considered
            } else {
                domain_counts[i].len()
            };
            ((size + 2) as f64).ln()
        })
        .collect();
    for node in nodes {
        let labels = node.node.labels();
        if !has_all_keys(labels, &soft) {
            continue;
        }
        for (i, c) in soft.iter().enumerate() {
            if c.topology_key == HOSTNAME || !c.includes(&pod.pod, &node.node) {
                continue;
            }
            if let Some(count) = domain_counts[i].get_mut(&labels[&c.topology_key]) {
                *count += c.count(node, namespace);
            }
        }
    }
    let raw: Vec<Option<i64>> = feasible
        .iter()
        .zip(&ignored)
        .map(|(n, ignored)| {
            if *ignored {
                return None;
            }
            let labels = n.node.labels();
            let score: f64 = soft
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let count = if c.topology_key == HOSTNAME {
                        c.count(n, namespace)
                    } else {
                        domain_counts[i]
                            .get(&labels[&c.topology_key])
                            .copied()
                            .unwrap_or(0)
                    };
                    count as f64 * weights[i] + (c.max_skew - 1) as f64
                })
                .sum();
            Some(score.round() as i64)
        })
        .collect();
    let valid = raw.iter().flatten();
    let min = valid.clone().copied().min().unwrap_or(0);
    let max = valid.copied().max().unwrap_or(0);
    raw.iter()
        .map(|s| match s {
            None => 0,
            Some(_) if max == 0 => MAX_NODE_SCORE,
            Some(s) => MAX_NODE_SCORE * (max + min - s) / max,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use std::rc::Rc;

    fn spread_pod(when: &str, key: &str, max_skew: i32) -> Pod {
        let mut pod = pod_with(vec![container(&[])], vec![]);
        pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        pod.spec.as_mut().unwrap().topology_spread_constraints =
            Some(vec![TopologySpreadConstraint {
                label_selector: Some(LabelSelector {
                    match_labels: Some([("app".to_string(), "web".to_string())].into()),
                    match_expressions: None,
                }),
                max_skew,
                topology_key: key.into(),
                when_unsatisfiable: when.into(),
                ..Default::default()
            }]);
        pod
    }

    fn web() -> Pod {
        let mut pod = pod_with(vec![container(&[])], vec![]);
        pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        pod
    }

    fn host(name: &str, zone: &str, pods: usize) -> NodeInfo {
        let mut info = NodeInfo::new(Rc::new(node_labelled(
            name,
            &[(HOSTNAME, name), ("zone", zone)],
        )));
        for _ in 0..pods {
            info.add_pod(PodInfo::new(Rc::new(assigned(web(), name))));
        }
        info
    }

    fn filter(pod: &Pod, nodes: &[NodeInfo]) -> Vec<Result<(), Status>> {
        let pod = PodInfo::new(Rc::new(pod.clone()));
        let state = FilterState::new(&pod, nodes);
        nodes.iter().map(|n| state.filter(&pod, n)).collect()
    }

    #[test]
    fn max_skew_keeps_domains_even() {
        let pod = spread_pod("DoNotSchedule", HOSTNAME, 1);
        let nodes = [host("a", "z1", 2), host("b", "z1", 1)];
        let results = filter(&pod, &nodes);
        // a: 2 + 1 - 1 = 2 > 1; b: 1 + 1 - 1 = 1.
        assert_eq!(
            results[0],
            Err(Status::unschedulable(vec![REASON_CONSTRAINTS.into()]))
        );
        assert_eq!(results[1], Ok(()));
        let relaxed = spread_pod("DoNotSchedule", HOSTNAME, 2);
        assert!(filter(&relaxed, &nodes).iter().all(|r| r.is_ok()));
        // Soft constraints never filter.
        let soft = spread_pod("ScheduleAnyway", HOSTNAME, 1);
        assert!(filter(&soft, &nodes).iter().all(|r| r.is_ok()));
    }

    #[test]
    fn zones_count_all_their_nodes() {
        let pod = spread_pod("DoNotSchedule", "zone", 1);
        let nodes = [host("a", "z1", 1), host("b", "z1", 1), host("c", "z2", 1)];
        let results = filter(&pod, &nodes);
        // z1 holds 2, z2 holds 1: only z2 takes one more.
        assert!(results[0].is_err() && results[1].is_err());
        assert_eq!(results[2], Ok(()));
    }

    #[test]
    fn nodes_without_the_key_are_refused_unresolvably() {
        let pod = spread_pod("DoNotSchedule", "zone", 1);
        let bare = NodeInfo::new(Rc::new(node("x", "1", "1Gi")));
        assert_eq!(
            filter(&pod, &[bare])[0],
            Err(Status::unresolvable(REASON_MISSING_LABEL))
        );
    }

    #[test]
    fn min_domains_counts_missing_domains_as_empty() {
        let mut pod = spread_pod("DoNotSchedule", HOSTNAME, 1);
        pod.spec
            .as_mut()
            .unwrap()
            .topology_spread_constraints
            .as_mut()
            .unwrap()[0]
            .min_domains = Some(3);
        let nodes = [host("a", "z1", 1), host("b", "z1", 1)];
        // Two domains of three wanted: the minimum is 0, so 1 + 1 - 0 > 1 everywhere.
        assert!(filter(&pod, &nodes).iter().all(|r| r.is_err()));
    }

    #[test]
    fn nodes_the_pod_cannot_use_do_not_count_as_domains() {
        let mut pod = spread_pod("DoNotSchedule", HOSTNAME, 1);
        pod.spec.as_mut().unwrap().node_selector =
            Some([("zone".to_string(), "z1".to_string())].into());
        // c (zone z2, empty) is outside the pod's node selector: it does not pull the
        // minimum down to 0.
        let nodes = [host("a", "z1", 1), host("b", "z1", 1), host("c", "z2", 0)];
        let results = filter(&pod, &nodes);
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Ok(()));
    }

    #[test]
    fn match_label_keys_narrow_the_selector() {
        let mut pod = spread_pod("DoNotSchedule", HOSTNAME, 1);
        pod.metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("pod-template-hash".into(), "v2".into());
        pod.spec
            .as_mut()
            .unwrap()
            .topology_spread_constraints
            .as_mut()
            .unwrap()[0]
            .match_label_keys = Some(vec!["pod-template-hash".into()]);
        // The old revision's pods (no v2 hash) do not count.
        let nodes = [host("a", "z1", 3), host("b", "z1", 0)];
        assert!(filter(&pod, &nodes).iter().all(|r| r.is_ok()));
    }

    #[test]
    fn soft_constraints_score_emptier_domains_higher() {
        let pod = PodInfo::new(Rc::new(spread_pod("ScheduleAnyway", HOSTNAME, 1)));
        let nodes = [host("a", "z1", 2), host("b", "z1", 0), host("c", "z1", 1)];
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        let s = scores(&pod, &nodes, &feasible);
        assert!(s[1] > s[2] && s[2] > s[0], "{s:?}");
        assert_eq!(s[1], 100);
        let none = PodInfo::new(Rc::new(web()));
        assert_eq!(scores(&none, &nodes, &feasible), vec![0, 0, 0]);
    }
}
