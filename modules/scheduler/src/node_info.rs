//! The scheduler's view of the cluster for one decision: each node with the pods on it and
//! what they request (kube's `NodeInfo` and `PodInfo`).

use std::collections::BTreeMap;
use std::rc::Rc;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, Pod};

use crate::interpod::Terms;
use crate::ports::{HostPort, host_ports};
use crate::resources::{Missing, Resources, pod_requests};

/// A pod with what the scheduler reads from it again and again.
#[derive(Debug, Clone)]
pub struct PodInfo {
    /// The pod.
    pub pod: Rc<Pod>,
    /// Its requests, missing ones as nothing (for fitting).
    pub requests: Resources,
    /// Its requests, missing CPU and memory as kube's defaults (for scoring).
    pub non_zero_requests: Resources,
    /// The host ports its containers ask for.
    pub host_ports: Vec<HostPort>,
    /// Its pod affinity and anti-affinity terms.
    pub affinity: Terms,
}

impl PodInfo {
    /// Reads `pod`.
    pub fn new(pod: Rc<Pod>) -> Self {
        Self {
            requests: pod_requests(&pod, Missing::Zero),
            non_zero_requests: pod_requests(&pod, Missing::Defaults),
            host_ports: host_ports(&pod),
            affinity: Terms::of(&pod),
            pod,
        }
    }

    /// `spec.priority`, 0 when unset (as kube's `PodPriority`).
    pub fn priority(&self) -> i32 {
        priority(&self.pod)
    }
}

/// `spec.priority` of `pod`, 0 when unset.
pub fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// A node with the pods assigned to it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node.
    pub node: Rc<Node>,
    /// What it can give (`status.allocatable`).
    pub allocatable: Resources,
    /// The pods on it.
    pub pods: Vec<Rc<PodInfo>>,
    /// The sum of their requests.
    pub requested: Resources,
    /// The sum of their requests with kube's defaults for missing CPU and memory.
    pub non_zero_requested: Resources,
}

impl NodeInfo {
    /// A node with no pods yet.
    pub fn new(node: Rc<Node>) -> Self {
        let allocatable = node
            .status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .map(Resources::from_list)
            .unwrap_or_default();
        Self {
            node,
            allocatable,
            pods: Vec::new(),
            requested: Resources::default(),
            non_zero_requested: Resources::default(),
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        self.node.name_any()
    }

    /// Places `pod` here.
    pub fn add_pod(&mut self, pod: impl Into<Rc<PodInfo>>) {
        let pod = pod.into();
        self.requested.add(&pod.requests);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.pods.push(pod);
    }

    /// Takes the pod with `uid` away, answering it.
    pub fn remove_pod(&mut self, uid: &str) -> Option<Rc<PodInfo>> {
        let at = self.pods.iter().position(|p| p.pod.uid_any() == uid)?;
        let pod = self.pods.remove(at);
        self.requested.subtract(&pod.requests);
        self.non_zero_requested.subtract(&pod.non_zero_requests);
        Some(pod)
    }

    /// The host ports the pods here hold.
    pub fn used_ports(&self) -> impl Iterator<Item = &HostPort> + Clone {
        self.pods.iter().flat_map(|p| p.host_ports.iter())
    }
}

/// Whether `pod` occupies its node: assigned and not finished (kube-scheduler's informer
/// leaves out pods in phase `Succeeded` or `Failed`).
pub fn occupies_node(pod: &Pod) -> Option<&str> {
    let node = pod.spec.as_ref()?.node_name.as_deref()?;
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    (!node.is_empty() && !matches!(phase, Some("Succeeded" | "Failed"))).then_some(node)
}

/// The [`PodInfo`]s of pods already read, by uid, so that a decision does not read every pod
/// of the cluster again: an entry stands while the cache holds the very same object.
#[derive(Debug, Default)]
pub struct PodInfos {
    held: BTreeMap<String, Rc<PodInfo>>,
}

impl PodInfos {
    /// The info of `pod`, read again only when the pod changed.
    pub fn get(&mut self, pod: &Rc<Pod>) -> Rc<PodInfo> {
        let uid = pod.uid_any();
        match self.held.get(uid) {
            Some(info) if Rc::ptr_eq(&info.pod, pod) => Rc::clone(info),
            _ => {
                let info = Rc::new(PodInfo::new(Rc::clone(pod)));
                self.held.insert(uid.to_string(), Rc::clone(&info));
                info
            }
        }
    }

    /// Keeps only the pods in `uids`.
    fn retain(&mut self, uids: &BTreeMap<&str, ()>) {
        self.held.retain(|uid, _| uids.contains_key(uid.as_str()));
    }

    /// How many pods are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}

/// The nodes, ordered by name, each with the pods occupying it; `except_uid` (the pod being
/// scheduled) is left out. `infos` keeps what was read of each pod for the next snapshot.
pub fn snapshot(
    nodes: &[Rc<Node>],
    pods: &[Rc<Pod>],
    except_uid: &str,
    infos: &mut PodInfos,
) -> Vec<NodeInfo> {
    let mut by_name: BTreeMap<&str, NodeInfo> = nodes
        .iter()
        .map(|n| (n.name_any(), NodeInfo::new(Rc::clone(n))))
        .collect();
    let mut seen = BTreeMap::new();
    for pod in pods {
        if pod.uid_any() == except_uid && !except_uid.is_empty() {
            continue;
        }
        let Some(node) = occupies_node(pod).and_then(|node| by_name.get_mut(node)) else {
            continue;
        };
        seen.insert(pod.uid_any(), ());
        node.add_pod(infos.get(pod));
    }
    infos.retain(&seen);
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assigned, container, node, pod_with};

    #[test]
    fn snapshot_counts_running_pods_but_not_finished_ones() {
        let n1 = Rc::new(node("n1", "4", "8Gi"));
        let mut done = assigned(pod_with(vec![container(&[("cpu", "1")])], vec![]), "n1");
        done.status.get_or_insert_default().phase = Some("Succeeded".into());
        let pods = vec![
            Rc::new(assigned(
                pod_with(vec![container(&[("cpu", "1")])], vec![]),
                "n1",
            )),
            Rc::new(done),
            Rc::new(pod_with(vec![container(&[("cpu", "3")])], vec![])),
        ];
        let mut memo = PodInfos::default();
        let infos = snapshot(&[Rc::clone(&n1)], &pods, "", &mut memo);
        assert_eq!(infos.len(), 1);
        assert_eq!(memo.len(), 1);
        let again = snapshot(&[n1], &pods, "", &mut memo);
        assert!(Rc::ptr_eq(&infos[0].pods[0], &again[0].pods[0]));
        assert_eq!(infos[0].pods.len(), 1);
        assert_eq!(infos[0].requested.milli_cpu, 1000);
        assert_eq!(infos[0].allocatable.milli_cpu, 4000);
        assert_eq!(infos[0].allocatable.pods, 110);
    }

    #[test]
    fn removing_a_pod_gives_back_its_requests() {
        let mut info = NodeInfo::new(Rc::new(node("n1", "4", "8Gi")));
        let pod = PodInfo::new(Rc::new(assigned(
            pod_with(vec![container(&[("cpu", "1")])], vec![]),
            "n1",
        )));
        let uid = pod.pod.uid_any().to_string();
        info.add_pod(pod);
        assert_eq!(info.requested.milli_cpu, 1000);
        assert!(info.remove_pod(&uid).is_some());
        assert_eq!(info.requested, Resources::default());
        assert!(info.remove_pod(&uid).is_none());
    }
}
