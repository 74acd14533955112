//! One scheduling decision, free of API calls: which pods are the scheduler's to place, and
//! for such a pod, the node to bind it to or why there is none (and whom to preempt).

use std::collections::BTreeMap;
use std::rc::Rc;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, Pod};

use crate::diagnosis::{self, NO_NODES_AVAILABLE};
use crate::filters;
use crate::node_info::{PodInfo, snapshot};
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

/// Schedules `pod` over `nodes`, with `pods` (every pod known: the ones bound to nodes count
/// against them, pending ones nominated to a node hold their room).
pub fn schedule(pod: &Rc<Pod>, nodes: &[Rc<Node>], pods: &[Rc<Pod>]) -> Decision {
    if nodes.is_empty() {
        return Decision::Unschedulable {
            message: NO_NODES_AVAILABLE.to_string(),
            preempt: None,
        };
    }
    let mut infos = snapshot(nodes, pods, pod.uid_any());
    let waiting: Vec<Rc<Pod>> = pods
        .iter()
        .filter(|p| pending(p) == Pending::Yes)
        .cloned()
        .collect();
    preemption::add_nominated(&mut infos, &waiting, pod);
    let incoming = PodInfo::new(Rc::clone(pod));
    let mut statuses = BTreeMap::new();
    let mut feasible = Vec::new();
    for info in &infos {
        match filters::run(&incoming, info) {
            Ok(()) => feasible.push(info),
            Err(status) => {
                statuses.insert(info.name().to_string(), status);
            }
        }
    }
    if let Some(best) = scoring::select(&incoming, &feasible) {
        return Decision::Bind(feasible[best].name().to_string());
    }
    match preemption::preempt(&incoming, &infos, &statuses) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::PodSchedulingGate;

    fn rc<T>(v: T) -> Rc<T> {
        Rc::new(v)
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
        let Decision::Bind(node) = schedule(&pod, &nodes, &[Rc::clone(&pod), busy]) else {
            panic!("expected a binding");
        };
        assert_eq!(node, "a");
    }

    #[test]
    fn no_nodes_at_all() {
        let pod = rc(pod_with(vec![container(&[])], vec![]));
        let Decision::Unschedulable { message, preempt } = schedule(&pod, &[], &[]) else {
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
        let Decision::Unschedulable { message, preempt } = schedule(&pod, &nodes, &[running])
        else {
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
        let Decision::Unschedulable { message, .. } = schedule(&rc(pod), &nodes, &[]) else {
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
            schedule(&rc(high), &nodes, &[Rc::clone(&low)])
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
    fn the_pod_itself_never_counts_against_a_node() {
        let nodes = [rc(node("n1", "1", "1Gi"))];
        let pod = rc(pod_with(vec![container(&[("cpu", "1")])], vec![]));
        // The cache holds the pod itself, as it does in the module.
        let Decision::Bind(node) = schedule(&pod, &nodes, &[Rc::clone(&pod)]) else {
            panic!("expected a binding");
        };
        assert_eq!(node, "n1");
    }
}
