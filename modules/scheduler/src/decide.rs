//! One scheduling decision, free of API calls: which pods are the scheduler's to place, and
//! for such a pod, the node to bind it to or why there is none (and whom to preempt).

use std::collections::BTreeMap;
use std::rc::Rc;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Binding, Node, ObjectReference, Pod};
use kmicro_module_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::cycle::Cycle;
use crate::diagnosis::{self, NO_NODES_AVAILABLE};
use crate::filters;
use crate::interpod::NamespaceLabels;
use crate::node_info::{PodInfo, PodInfos, snapshot};
use crate::preemption::{self, Outcome};
use crate::scoring;

/// The scheduler name this scheduler answers to (and the default one).
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// What the scheduler makes of a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pending {
    /// Not the scheduler's business: bound already, another scheduler's, being deleted, or
    /// finished.
    No,
    /// Waiting for its scheduling gates to be removed.
    Gated,
    /// To be scheduled.
    Yes,
}

/// Whether `pod` is for this scheduler to place now.
pub fn pending(pod: &Pod) -> Pending {
    let Some(spec) = pod.spec.as_ref() else {
        return Pending::No;
    };
    let bound = spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    let ours = matches!(
        spec.scheduler_name.as_deref(),
        None | Some("") | Some(SCHEDULER_NAME)
    );
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    if bound || !ours || finished || pod.is_deleting() {
        Pending::No
    } else if spec
        .scheduling_gates
        .as_ref()
        .is_some_and(|g| !g.is_empty())
    {
        Pending::Gated
    } else {
        Pending::Yes
    }
}

/// The outcome of scheduling one pod.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Bind the pod to this node.
    Bind(String),
    /// No node takes the pod.
    Unschedulable {
        /// The failure message, as kube words it.
        message: String,
        /// The node to nominate and the pods to evict there, when preemption found some.
        preempt: Option<(String, Vec<Rc<Pod>>)>,
    },
}

/// What the scheduler knows of the cluster when it decides.
#[derive(Debug, Clone, Copy)]
pub struct Cluster<'a> {
    /// Every node.
    pub nodes: &'a [Rc<Node>],
    /// Every pod: the ones bound to nodes count against them, pending ones nominated to a
    /// node hold their room there.
    pub pods: &'a [Rc<Pod>],
    /// Namespace labels, for pod affinity terms selecting namespaces.
    pub namespaces: &'a NamespaceLabels,
    /// PodDisruptionBudgets, which preemption avoids violating.
    pub budgets: &'a [Rc<PodDisruptionBudget>],
}

/// Schedules `pod` in `cluster`; `infos` keeps what was read of the pods from one decision
/// to the next.
pub fn schedule(pod: &Rc<Pod>, cluster: Cluster, infos: &mut PodInfos) -> Decision {
    let Cluster {
        nodes,
        pods,
        namespaces,
        budgets,
    } = cluster;
    if nodes.is_empty() {
        return Decision::Unschedulable {
            message: NO_NODES_AVAILABLE.to_string(),
            preempt: None,
        };
    }
    let mut infos = snapshot(nodes, pods, pod.uid_any(), infos);
    let waiting: Vec<Rc<Pod>> = pods
        .iter()
        .filter(|p| pending(p) == Pending::Yes)
        .cloned()
        .collect();
    preemption::add_nominated(&mut infos, &waiting, pod);
    let incoming = PodInfo::new(Rc::clone(pod));
    let cycle = Cycle::new(&incoming, &infos, namespaces);
    let mut statuses = BTreeMap::new();
    let mut feasible = Vec::new();
    for info in &infos {
        match filters::run(&incoming, info, &cycle) {
            Ok(()) => feasible.push(info),
            Err(status) => {
                statuses.insert(info.name().to_string(), status);
            }
        }
    }
    if let Some(best) = scoring::select(&incoming, &feasible, &infos, namespaces) {
        return Decision::Bind(feasible[best].name().to_string());
    }
    let context = preemption::Context {
        namespaces,
        budgets,
    };
    match preemption::preempt(&incoming, &infos, &statuses, context) {
        Outcome::Nothing(post_filter) => Decision::Unschedulable {
            message: diagnosis::fit_error(infos.len(), statuses.values(), Some(&post_filter)),
            preempt: None,
        },
        Outcome::Evict { node, victims } => Decision::Unschedulable {
            message: diagnosis::fit_error(infos.len(), statuses.values(), None),
            preempt: Some((node, victims)),
        },
    }
}

/// The `Binding` that assigns `pod` to `node` (POSTed to `pods/<name>/binding`); it carries
/// the pod's uid so that a pod re-created under the same name is not bound by mistake.
pub fn binding(pod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..ObjectMeta::default()
        },
        target: ObjectReference {
            api_version: Some("v1".to_string()),
            kind: Some("Node".to_string()),
            name: Some(node.to_string()),
            ..ObjectReference::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::PodSchedulingGate;

    fn rc<T>(v: T) -> Rc<T> {
        Rc::new(v)
    }

    fn decide(pod: &Rc<Pod>, nodes: &[Rc<Node>], pods: &[Rc<Pod>]) -> Decision {
        let ns = NamespaceLabels::new();
        schedule(pod, cluster(nodes, pods, &ns), &mut PodInfos::default())
    }

    #[test]
    fn the_binding_body_is_kubes() {
        let pod = pod_with(vec![], vec![]);
        let body = kmicro_module_sdk::serde_json::to_value(binding(&pod, "n1")).unwrap();
        assert_eq!(
            body,
            kmicro_module_sdk::serde_json::json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {
                    "name": pod.metadata.name,
                    "namespace": "default",
                    "uid": pod.metadata.uid,
                },
                "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
            })
        );
    }

    #[test]
    fn which_pods_are_pending() {
        let pod = pod_with(vec![container(&[])], vec![]);
        assert_eq!(pending(&pod), Pending::Yes);
        assert_eq!(pending(&assigned(pod.clone(), "n1")), Pending::No);
        let mut other = pod.clone();
        other.spec.as_mut().unwrap().scheduler_name = Some("my-scheduler".into());
        assert_eq!(pending(&other), Pending::No);
        let mut named = pod.clone();
        named.spec.as_mut().unwrap().scheduler_name = Some(SCHEDULER_NAME.into());
        assert_eq!(pending(&named), Pending::Yes);
        let mut gated = pod.clone();
        gated.spec.as_mut().unwrap().scheduling_gates = Some(vec![PodSchedulingGate {
            name: "example.com/wait".into(),
        }]);
        assert_eq!(pending(&gated), Pending::Gated);
        let mut failed = pod.clone();
        failed.status.get_or_insert_default().phase = Some("Failed".into());
        assert_eq!(pending(&failed), Pending::No);
        let mut deleting = pod;
        deleting.metadata.deletion_timestamp = Some(
            kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                kmicro_module_sdk::k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ),
        );
        assert_eq!(pending(&deleting), Pending::No);
    }

    #[test]
    fn binds_to_the_best_fitting_node() {
        let nodes = [rc(node("a", "1", "1Gi")), rc(node("b", "4", "8Gi"))];
        let pod = rc(pod_with(vec![container(&[("cpu", "500m")])], vec![]));
        let busy = rc(assigned(
            pod_with(vec![container(&[("cpu", "3")])], vec![]),
            "b",
        ));
        // b has 1 CPU left of 4, a has all of its 1: a scores better on least allocation.
        let Decision::Bind(node) = decide(&pod, &nodes, &[Rc::clone(&pod), busy]) else {
            panic!("expected a binding");
        };
        assert_eq!(node, "a");
    }

    #[test]
    fn no_nodes_at_all() {
        let pod = rc(pod_with(vec![container(&[])], vec![]));
        let Decision::Unschedulable { message, preempt } = decide(&pod, &[], &[]) else {
            panic!("expected a failure");
        };
        assert_eq!(message, "no nodes available to schedule pods");
        assert!(preempt.is_none());
    }

    #[test]
    fn the_kube_message_for_one_full_node() {
        let nodes = [rc(node("n1", "1", "1Gi"))];
        let running = rc(assigned(
            pod_with(vec![container(&[("cpu", "1")])], vec![]),
            "n1",
        ));
        let pod = rc(pod_with(vec![container(&[("cpu", "500m")])], vec![]));
        let Decision::Unschedulable { message, preempt } = decide(&pod, &nodes, &[running]) else {
            panic!("expected a failure");
        };
        assert_eq!(
            message,
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: \
             1 No preemption victims found for incoming pod."
        );
        assert!(preempt.is_none());
    }

    #[test]
    fn the_kube_message_for_a_selector_nobody_matches() {
        let nodes = [rc(node("n1", "1", "1Gi"))];
        let mut pod = pod_with(vec![container(&[])], vec![]);
        pod.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "ssd".to_string())].into());
        let Decision::Unschedulable { message, .. } = decide(&rc(pod), &nodes, &[]) else {
            panic!("expected a failure");
        };
        assert_eq!(
            message,
            "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. \
             preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn a_higher_priority_pod_preempts() {
        let nodes = [rc(node("n1", "1", "1Gi"))];
        let low = rc(assigned(
            pod_with(vec![container(&[("cpu", "1")])], vec![]),
            "n1",
        ));
        let mut high = pod_with(vec![container(&[("cpu", "1")])], vec![]);
        high.spec.as_mut().unwrap().priority = Some(1000);
        let Decision::Unschedulable { message, preempt } =
            decide(&rc(high), &nodes, &[Rc::clone(&low)])
        else {
            panic!("expected preemption");
        };
        assert_eq!(message, "0/1 nodes are available: 1 Insufficient cpu.");
        let (node, victims) = preempt.expect("victims");
        assert_eq!(node, "n1");
        assert_eq!(victims.len(), 1);
        assert_eq!(victims[0].uid_any(), low.uid_any());
    }

    #[test]
    fn replicas_with_anti_affinity_take_one_node_each() {
        use kmicro_module_sdk::k8s_openapi::api::core::v1::{
            Affinity, PodAffinityTerm, PodAntiAffinity,
        };
        use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
        let host = "kubernetes.io/hostname";
        let nodes = [
            rc(node_labelled("a", &[(host, "a")])),
            rc(node_labelled("b", &[(host, "b")])),
        ];
        let replica = || {
            let mut pod = pod_with(vec![container(&[])], vec![]);
            pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
            pod.spec.as_mut().unwrap().affinity = Some(Affinity {
                pod_anti_affinity: Some(PodAntiAffinity {
                    required_during_scheduling_ignored_during_execution: Some(vec![
                        PodAffinityTerm {
                            label_selector: Some(LabelSelector {
                                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                                match_expressions: None,
                            }),
                            topology_key: host.into(),
                            ..Default::default()
                        },
                    ]),
                    preferred_during_scheduling_ignored_during_execution: None,
                }),
                ..Default::default()
            });
            rc(pod)
        };
        let mut pods: Vec<Rc<Pod>> = Vec::new();
        let mut memo = PodInfos::default();
        let ns = NamespaceLabels::new();
        for want in ["a", "b"] {
            let pod = replica();
            let Decision::Bind(at) = schedule(&pod, cluster(&nodes, &pods, &ns), &mut memo) else {
                panic!("expected a binding");
            };
            assert_eq!(at, want);
            pods.push(rc(assigned((*pod).clone(), &at)));
        }
        let Decision::Unschedulable { message, preempt } =
            schedule(&replica(), cluster(&nodes, &pods, &ns), &mut memo)
        else {
            panic!("expected a failure");
        };
        assert_eq!(
            message,
            "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. \
             preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        assert!(preempt.is_none());
    }

    #[test]
    fn the_pod_itself_never_counts_against_a_node() {
        let nodes = [rc(node("n1", "1", "1Gi"))];
        let pod = rc(pod_with(vec![container(&[("cpu", "1")])], vec![]));
        // The cache holds the pod itself, as it does in the module.
        let Decision::Bind(node) = decide(&pod, &nodes, &[Rc::clone(&pod)]) else {
            panic!("expected a binding");
        };
        assert_eq!(node, "n1");
    }
}

/// A cluster view for the tests: no disruption budgets.
#[cfg(test)]
fn cluster<'a>(
    nodes: &'a [Rc<Node>],
    pods: &'a [Rc<Pod>],
    namespaces: &'a NamespaceLabels,
) -> Cluster<'a> {
    Cluster {
        nodes,
        pods,
        namespaces,
        budgets: &[],
    }
}

#[cfg(test)]
mod cost {
    use super::*;
    use crate::testing::*;
    use std::time::Instant;

    /// A burst of 100 pending pods over 3 nodes already holding 200 pods: what one
    /// `handle-events` call may have to do after a Deployment is scaled up. The module runs
    /// interpreted on armv7 (Pulley, roughly 20–30× slower than native), under a 1 s CPU
    /// deadline per call.
    #[test]
    fn a_burst_of_pods_is_scheduled_quickly() {
        let nodes: Vec<Rc<Node>> = ["a", "b", "c"]
            .iter()
            .map(|n| Rc::new(node(n, "64", "256Gi")))
            .collect();
        let mut pods: Vec<Rc<Pod>> = (0..200)
            .map(|i| {
                let c = container(&[("cpu", "100m"), ("memory", "64Mi")]);
                Rc::new(assigned(pod_with(vec![c], vec![]), ["a", "b", "c"][i % 3]))
            })
            .collect();
        let mut memo = PodInfos::default();
        let ns = NamespaceLabels::new();
        let started = Instant::now();
        for _ in 0..100 {
            let c = container(&[("cpu", "100m"), ("memory", "64Mi")]);
            let pod = Rc::new(pod_with(vec![c], vec![]));
            pods.push(Rc::clone(&pod));
            let Decision::Bind(at) = schedule(&pod, cluster(&nodes, &pods, &ns), &mut memo) else {
                panic!("expected a binding");
            };
            let mut bound = (*pod).clone();
            bound.spec.as_mut().unwrap().node_name = Some(at);
            *pods.last_mut().unwrap() = Rc::new(bound);
        }
        let elapsed = started.elapsed();
        eprintln!("100 decisions over 3 nodes and 200–300 pods: {elapsed:?}");
        assert!(elapsed.as_millis() < 2_000, "{elapsed:?}");
        // The pods spread evenly (each node takes at most 110).
        let per_node = |n: &str| {
            pods.iter()
                .filter(|p| p.spec.as_ref().unwrap().node_name.as_deref() == Some(n))
                .count()
        };
        for n in ["a", "b", "c"] {
            assert!((90..=110).contains(&per_node(n)), "{n}: {}", per_node(n));
        }
    }
}
