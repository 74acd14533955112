//! Preemption (kube's DefaultPreemption): when no node takes a pod, find a node where
//! evicting lower-priority pods would make room, violating as few PodDisruptionBudgets and
//! evicting as few and as unimportant pods as possible.

use std::collections::BTreeMap;
use std::rc::Rc;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;
use kmicro_module_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::cycle::Cycle;
use crate::diagnosis;
use crate::filters;
use crate::interpod::NamespaceLabels;
use crate::node_info::{NodeInfo, PodInfo, priority};
use crate::pdb;
use crate::status::{Code, Status};

/// The condition type kube sets on pods it is about to evict.
pub const DISRUPTION_TARGET: &str = "DisruptionTarget";
/// The DisruptionTarget reason of a pod preempted by the scheduler.
pub const REASON_PREEMPTION_BY_SCHEDULER: &str = "PreemptionByScheduler";

const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// What preemption decided for a pod no node takes.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Preemption does not help; the message (`preemption: …`) to append to the failure.
    Nothing(String),
    /// Evict `victims` (most important first) from `node` and nominate the pod there.
    Evict {
        /// The node the pod is nominated to.
        node: String,
        /// The pods to evict.
        victims: Vec<Rc<Pod>>,
    },
}

/// What preemption reads besides the nodes: namespace labels (for pod affinity terms) and
/// the disruption budgets.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Namespace labels.
    pub namespaces: &'a NamespaceLabels,
    /// PodDisruptionBudgets.
    pub budgets: &'a [Rc<PodDisruptionBudget>],
}

/// The victims chosen on one node.
#[derive(Debug, Clone)]
pub struct Victims {
    /// The pods, most important first.
    pub pods: Vec<Rc<PodInfo>>,
    /// How many of them a budget protects beyond what it allows.
    pub budget_violations: usize,
}

/// Runs preemption for `pod` over `nodes`, given why each node refused it.
pub fn preempt(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    statuses: &BTreeMap<String, Status>,
    context: Context,
) -> Outcome {
    if let Some(why) = not_eligible(pod, nodes, statuses) {
        return Outcome::Nothing(format!("preemption: {why}"));
    }
    let mut candidates: Vec<(&NodeInfo, Victims)> = Vec::new();
    let mut outcomes: Vec<Status> = Vec::new();
    for (at, node) in nodes.iter().enumerate() {
        let resolvable = statuses
            .get(node.name())
            .is_some_and(|s| s.code == Code::Unschedulable);
        if !resolvable {
            outcomes.push(Status::unresolvable(NOT_HELPFUL));
            continue;
        }
        match select_victims(pod, nodes, at, context) {
            Ok(victims) => candidates.push((node, victims)),
            Err(status) => outcomes.push(status),
        }
    }
    match pick_candidate(&candidates) {
        Some(i) => {
            let (node, victims) = &candidates[i];
            Outcome::Evict {
                node: node.name().to_string(),
                victims: victims.pods.iter().map(|v| Rc::clone(&v.pod)).collect(),
            }
        }
        None => Outcome::Nothing(format!(
            "preemption: {}",
            diagnosis::fit_error(nodes.len(), &outcomes, None)
        )),
    }
}

/// Why `pod` may not preempt, worded as kube's `PodEligibleToPreemptOthers`.
fn not_eligible(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    statuses: &BTreeMap<String, Status>,
) -> Option<&'static str> {
    let spec = pod.pod.spec.as_ref()?;
    if spec.preemption_policy.as_deref() == Some("Never") {
        return Some("not eligible due to preemptionPolicy=Never.");
    }
    let nominated = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .filter(|n| !n.is_empty())?;
    if statuses
        .get(nominated)
        .is_some_and(|s| s.code == Code::UnschedulableAndUnresolvable)
    {
        return None;
    }
    let node = nodes.iter().find(|n| n.name() == nominated)?;
    let waiting = node
        .pods
        .iter()
        .any(|p| p.priority() < pod.priority() && terminating_by_preemption(&p.pod));
    waiting.then_some("not eligible due to a terminating pod on the nominated node.")
}

/// Whether `pod` is being deleted because the scheduler preempted it.
pub fn terminating_by_preemption(pod: &Pod) -> bool {
    pod.is_deleting()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| {
                c.type_ == DISRUPTION_TARGET
                    && c.status == "True"
                    && c.reason.as_deref() == Some(REASON_PREEMPTION_BY_SCHEDULER)
            })
}

/// The fewest, least important lower-priority pods to evict from `nodes[at]` for `pod` to
/// fit: all of them are taken away, then they are put back while the pod still fits — first
/// those a budget protects, then the others, each group most important first. Fails with the
/// reason the node stays unfit.
pub fn select_victims(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    at: usize,
    context: Context,
) -> Result<Victims, Status> {
    let mut trial = nodes.to_vec();
    let mut potential: Vec<Rc<PodInfo>> = nodes[at]
        .pods
        .iter()
        .filter(|p| p.priority() < pod.priority())
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for p in &potential {
        trial[at].remove_pod(p.pod.uid_any());
    }
    let fits = |trial: &[NodeInfo]| {
        let cycle = Cycle::new(pod, trial, context.namespaces);
        filters::run(pod, &trial[at], &cycle)
    };
    fits(&trial)?;
    potential.sort_by(more_important_first);
    let (violating, fine) = pdb::split_violating(&potential, context.budgets);
    let mut victims = Victims {
        pods: Vec::new(),
        budget_violations: 0,
    };
    for (group, violates) in [(violating, true), (fine, false)] {
        for p in group {
            trial[at].add_pod(Rc::clone(&p));
            if fits(&trial).is_err() {
                trial[at].remove_pod(p.pod.uid_any());
                victims.pods.push(p);
                victims.budget_violations += usize::from(violates);
            }
        }
    }
    victims.pods.sort_by(more_important_first);
    Ok(victims)
}

/// kube's `MoreImportantPod` as an ordering: higher priority first, then the one that
/// started earlier.
fn more_important_first(a: &Rc<PodInfo>, b: &Rc<PodInfo>) -> std::cmp::Ordering {
    b.priority()
        .cmp(&a.priority())
        .then_with(|| start_millis(&a.pod).cmp(&start_millis(&b.pod)))
}

/// `status.startTime` in milliseconds; a pod not started counts as starting now (the latest).
fn start_millis(pod: &Pod) -> i64 {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0.as_millisecond())
        .unwrap_or(i64::MAX)
}

/// kube's `pickOneNodeForPreemption`: the fewest budget violations, then the lowest highest
/// victim priority, then the lowest sum of priorities, then the fewest victims, then the
/// latest start of the most important victims, then the first node (by name).
fn pick_candidate(candidates: &[(&NodeInfo, Victims)]) -> Option<usize> {
    let key = |chosen: &Victims| {
        let victims = &chosen.pods;
        let highest = victims.first().map(|v| v.priority()).unwrap_or(i32::MIN);
        let sum: i64 = victims
            .iter()
            .map(|v| i64::from(v.priority()) + i64::from(i32::MAX) + 1)
            .sum();
        let earliest_of_highest = victims
            .iter()
            .filter(|v| v.priority() == highest)
            .map(|v| start_millis(&v.pod))
            .min()
            .unwrap_or(i64::MAX);
        (
            chosen.budget_violations,
            highest,
            sum,
            victims.len(),
            std::cmp::Reverse(earliest_of_highest),
        )
    };
    candidates
        .iter()
        .enumerate()
        .min_by_key(|(i, (_, victims))| (key(victims), *i))
        .map(|(i, _)| i)
}

/// Holds the room preemption made: pending pods nominated to a node, of at least `pod`'s
/// priority, are placed there while `pod` is scheduled (kube's
/// `RunFilterPluginsWithNominatedPods`).
pub fn add_nominated(nodes: &mut [NodeInfo], pending: &[Rc<Pod>], pod: &Pod) {
    let floor = priority(pod);
    for other in pending {
        if other.uid_any() == pod.uid_any() || priority(other) < floor {
            continue;
        }
        let Some(nominated) = other
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
        else {
            continue;
        };
        if let Some(node) = nodes.iter_mut().find(|n| n.name() == nominated) {
            node.add_pod(PodInfo::new(Rc::clone(other)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::PodCondition;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn prio(mut pod: Pod, p: i32) -> Pod {
        pod.spec.as_mut().unwrap().priority = Some(p);
        pod
    }

    fn started(mut pod: Pod, millis: i64) -> Pod {
        pod.status.get_or_insert_default().start_time = Some(Time(
            kmicro_module_sdk::k8s_openapi::jiff::Timestamp::from_millisecond(millis).unwrap(),
        ));
        pod
    }

    fn cpu_pod(cpu: &str, p: i32) -> Pod {
        prio(pod_with(vec![container(&[("cpu", cpu)])], vec![]), p)
    }

    fn node_with(name: &str, cpu: &str, pods: Vec<Pod>) -> NodeInfo {
        let mut info = NodeInfo::new(Rc::new(node(name, cpu, "8Gi")));
        for p in pods {
            info.add_pod(PodInfo::new(Rc::new(assigned(p, name))));
        }
        info
    }

    fn no_context() -> Context<'static> {
        static NAMESPACES: NamespaceLabels = NamespaceLabels::new();
        Context {
            namespaces: &NAMESPACES,
            budgets: &[],
        }
    }

    fn statuses_of(pod: &PodInfo, nodes: &[NodeInfo]) -> BTreeMap<String, Status> {
        let ns = NamespaceLabels::new();
        let cycle = Cycle::new(pod, nodes, &ns);
        nodes
            .iter()
            .filter_map(|n| {
                filters::run(pod, n, &cycle)
                    .err()
                    .map(|s| (n.name().to_string(), s))
            })
            .collect()
    }

    #[test]
    fn evicts_the_fewest_lowest_priority_pods() {
        let node = node_with(
            "n1",
            "4",
            vec![
                cpu_pod("1", 100),
                cpu_pod("1", 10),
                cpu_pod("1", 5),
                cpu_pod("1", 1000),
            ],
        );
        let pod = PodInfo::new(Rc::new(cpu_pod("2", 500)));
        let statuses = statuses_of(&pod, std::slice::from_ref(&node));
        let Outcome::Evict { node: at, victims } = preempt(&pod, &[node], &statuses, no_context())
        else {
            panic!("expected victims");
        };
        assert_eq!(at, "n1");
        let victim_priorities: Vec<i32> = victims.iter().map(|v| priority(v)).collect();
        // Priority 100 is put back first; 10 then 5 must go.
        assert_eq!(victim_priorities, vec![10, 5]);
    }

    #[test]
    fn no_lower_priority_pods_means_no_victims() {
        let node = node_with("n1", "1", vec![cpu_pod("1", 0)]);
        let pod = PodInfo::new(Rc::new(cpu_pod("1", 0)));
        let statuses = statuses_of(&pod, std::slice::from_ref(&node));
        let Outcome::Nothing(message) = preempt(&pod, &[node], &statuses, no_context()) else {
            panic!("expected no preemption");
        };
        assert_eq!(
            message,
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
    }

    #[test]
    fn unresolvable_nodes_are_not_helped() {
        let mut tainted = node("n1", "4", "8Gi");
        tainted.spec.get_or_insert_default().taints = Some(vec![taint("x", "", "NoSchedule")]);
        let mut tainted = NodeInfo::new(Rc::new(tainted));
        tainted.add_pod(PodInfo::new(Rc::new(assigned(cpu_pod("1", 0), "n1"))));
        let small = node_with("n2", "1", vec![cpu_pod("500m", 0)]);
        let pod = PodInfo::new(Rc::new(cpu_pod("2", 10)));
        let nodes = [tainted, small];
        let statuses = statuses_of(&pod, &nodes);
        let Outcome::Nothing(message) = preempt(&pod, &nodes, &statuses, no_context()) else {
            panic!("expected no preemption");
        };
        // n2 stays too small with its lower-priority pod gone: its filter reason is reported.
        assert_eq!(
            message,
            "preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 Preemption is not \
             helpful for scheduling."
        );
    }

    #[test]
    fn preemption_policy_never_is_not_eligible() {
        let node = node_with("n1", "1", vec![cpu_pod("1", 0)]);
        let mut pod = cpu_pod("1", 100);
        pod.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        let pod = PodInfo::new(Rc::new(pod));
        let statuses = statuses_of(&pod, std::slice::from_ref(&node));
        let Outcome::Nothing(message) = preempt(&pod, &[node], &statuses, no_context()) else {
            panic!("expected no preemption");
        };
        assert_eq!(
            message,
            "preemption: not eligible due to preemptionPolicy=Never."
        );
    }

    #[test]
    fn a_victim_still_terminating_on_the_nominated_node_blocks_more_preemption() {
        let mut leaving = cpu_pod("1", 0);
        leaving.metadata.deletion_timestamp = Some(Time(
            kmicro_module_sdk::k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        leaving.status.get_or_insert_default().conditions = Some(vec![PodCondition {
            type_: DISRUPTION_TARGET.into(),
            status: "True".into(),
            reason: Some(REASON_PREEMPTION_BY_SCHEDULER.into()),
            ..Default::default()
        }]);
        assert!(terminating_by_preemption(&leaving));
        let node = node_with("n1", "1", vec![leaving]);
        let mut pod = cpu_pod("1", 100);
        pod.status.get_or_insert_default().nominated_node_name = Some("n1".into());
        let pod = PodInfo::new(Rc::new(pod));
        let statuses = statuses_of(&pod, std::slice::from_ref(&node));
        let Outcome::Nothing(message) = preempt(&pod, &[node], &statuses, no_context()) else {
            panic!("expected no preemption");
        };
        assert_eq!(
            message,
            "preemption: not eligible due to a terminating pod on the nominated node."
        );
    }

    #[test]
    fn candidates_are_ranked_as_kube_ranks_them() {
        // a: one victim of priority 50; b: two victims of priority 1 → b (lower highest).
        let a = node_with("a", "1", vec![cpu_pod("1", 50)]);
        let b = node_with("b", "1", vec![cpu_pod("500m", 1), cpu_pod("500m", 1)]);
        let pod = PodInfo::new(Rc::new(cpu_pod("1", 100)));
        let nodes = [a, b];
        let statuses = statuses_of(&pod, &nodes);
        let Outcome::Evict { node, victims } = preempt(&pod, &nodes, &statuses, no_context())
        else {
            panic!("expected victims");
        };
        assert_eq!((node.as_str(), victims.len()), ("b", 2));

        // Same priorities: fewer victims wins.
        let a = node_with("a", "1", vec![cpu_pod("500m", 1), cpu_pod("500m", 1)]);
        let b = node_with("b", "1", vec![cpu_pod("1", 1)]);
        let nodes = [a, b];
        let statuses = statuses_of(&pod, &nodes);
        let Outcome::Evict { node, .. } = preempt(&pod, &nodes, &statuses, no_context()) else {
            panic!("expected victims");
        };
        assert_eq!(node, "b");

        // Same everything: the node whose victim started last wins.
        let a = node_with("a", "1", vec![started(cpu_pod("1", 1), 2_000)]);
        let b = node_with("b", "1", vec![started(cpu_pod("1", 1), 1_000)]);
        let nodes = [a, b];
        let statuses = statuses_of(&pod, &nodes);
        let Outcome::Evict { node, .. } = preempt(&pod, &nodes, &statuses, no_context()) else {
            panic!("expected victims");
        };
        assert_eq!(node, "a");
    }

    #[test]
    fn budgets_steer_preemption_but_do_not_block_it() {
        use kmicro_module_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
        use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
        let protected = |p: Pod| {
            let mut p = p;
            p.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
            p
        };
        let budget = Rc::new(PodDisruptionBudget {
            metadata:
                kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some("db".into()),
                    namespace: Some("default".into()),
                    ..Default::default()
                },
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(LabelSelector {
                    match_labels: Some([("app".to_string(), "db".to_string())].into()),
                    match_expressions: None,
                }),
                ..Default::default()
            }),
            status: None,
        });
        let budgets = [budget];
        let ns = NamespaceLabels::new();
        let context = Context {
            namespaces: &ns,
            budgets: &budgets,
        };
        // a's victim would be cheaper (priority 1 against 2) but a budget protects it.
        let a = node_with("a", "1", vec![protected(cpu_pod("1", 1))]);
        let b = node_with("b", "1", vec![cpu_pod("1", 2)]);
        let pod = PodInfo::new(Rc::new(cpu_pod("1", 100)));
        let nodes = [a, b];
        let statuses = statuses_of(&pod, &nodes);
        let Outcome::Evict { node, .. } = preempt(&pod, &nodes, &statuses, context) else {
            panic!("expected victims");
        };
        assert_eq!(node, "b");
        // With no other way, the protected pod is preempted anyway, as kube does.
        let only = [node_with("a", "1", vec![protected(cpu_pod("1", 1))])];
        let statuses = statuses_of(&pod, &only);
        let Outcome::Evict { node, victims } = preempt(&pod, &only, &statuses, context) else {
            panic!("expected victims");
        };
        assert_eq!((node.as_str(), victims.len()), ("a", 1));
        let chosen = select_victims(&pod, &only, 0, context).unwrap();
        assert_eq!(chosen.budget_violations, 1);
    }

    #[test]
    fn nominated_pods_hold_their_room() {
        let mut nodes = vec![node_with("n1", "2", vec![])];
        let mut waiting = cpu_pod("1", 100);
        waiting.status.get_or_insert_default().nominated_node_name = Some("n1".into());
        let waiting = Rc::new(waiting);
        let low = cpu_pod("2", 0);
        add_nominated(&mut nodes, &[Rc::clone(&waiting)], &low);
        assert_eq!(nodes[0].requested.milli_cpu, 1000);
        // A pod of higher priority than the nominated one ignores it.
        let mut nodes = vec![node_with("n1", "2", vec![])];
        add_nominated(&mut nodes, &[waiting], &cpu_pod("2", 1000));
        assert_eq!(nodes[0].requested.milli_cpu, 0);
    }
}
