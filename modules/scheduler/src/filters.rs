//! The filters: whether a pod may run on a node, and why not, worded as kube-scheduler's
//! plugins word it. They run in kube's order and the first refusal is the node's status.

use crate::affinity;
use crate::cycle::Cycle;
use crate::node_info::{NodeInfo, PodInfo};
use crate::ports;
use crate::status::Status;
use crate::taints::{self, UNSCHEDULABLE_TAINT};
use kmicro_module_sdk::k8s_openapi::api::core::v1::Taint;

/// NodeUnschedulable's reason.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// TaintToleration's reason.
pub const REASON_TAINT: &str = "node(s) had untolerated taint(s)";
/// NodeAffinity's reason.
pub const REASON_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// NodePorts' reason.
pub const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
/// NodeResourcesFit's reason when the node holds its maximum of pods.
pub const REASON_TOO_MANY_PODS: &str = "Too many pods";

/// Runs every filter, in kube's order; the first refusal wins.
pub fn run(pod: &PodInfo, node: &NodeInfo, cycle: &Cycle) -> Result<(), Status> {
    node_local(pod, node)?;
    cycle.filter(pod, node)
}

/// The filters that read only the node: NodeUnschedulable, TaintToleration, NodeAffinity,
/// NodePorts, NodeResourcesFit.
pub fn node_local(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    node_unschedulable(pod, node)?;
    taint_toleration(pod, node)?;
    node_affinity(pod, node)?;
    node_ports(pod, node)?;
    resources_fit(pod, node)
}

/// A cordoned node (`spec.unschedulable`) takes only pods tolerating the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint.
pub fn node_unschedulable(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let cordoned = node
        .node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let cordon = Taint {
        key: UNSCHEDULABLE_TAINT.to_string(),
        effect: "NoSchedule".to_string(),
        ..Taint::default()
    };
    if cordoned && !taints::tolerated(taints::tolerations(&pod.pod), &cordon) {
        return Err(Status::unresolvable(REASON_UNSCHEDULABLE));
    }
    Ok(())
}

/// Every `NoSchedule` and `NoExecute` taint of the node must be tolerated.
pub fn taint_toleration(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let node_taints = node
        .node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    match taints::untolerated_taint(node_taints, taints::tolerations(&pod.pod)) {
        Some(_) => Err(Status::unresolvable(REASON_TAINT)),
        None => Ok(()),
    }
}

/// The node must match the pod's `nodeSelector` and required node affinity.
pub fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if affinity::required_matches(&pod.pod, &node.node) {
        Ok(())
    } else {
        Err(Status::unresolvable(REASON_AFFINITY))
    }
}

/// The pod's host ports must be free on the node.
pub fn node_ports(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    if ports::conflict(&pod.host_ports, node.used_ports()) {
        Err(Status::unschedulable(vec![REASON_PORTS.to_string()]))
    } else {
        Ok(())
    }
}

/// The pod's requests must fit in what the node's allocatable leaves after the pods already
/// there, and the node must take one more pod. Every shortage is a reason of its own.
pub fn resources_fit(pod: &PodInfo, node: &NodeInfo) -> Result<(), Status> {
    let reasons = insufficient_resources(pod, node);
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(Status::unschedulable(reasons))
    }
}

/// The shortages of `node` for `pod`, in kube's order: pods, cpu, memory, ephemeral storage,
/// then scalar resources by name.
pub fn insufficient_resources(pod: &PodInfo, node: &NodeInfo) -> Vec<String> {
    let mut reasons = Vec::new();
    let alloc = &node.allocatable;
    let used = &node.requested;
    let want = &pod.requests;
    if node.pods.len() as i64 + 1 > alloc.pods {
        reasons.push(REASON_TOO_MANY_PODS.to_string());
    }
    if want.is_empty_request() {
        return reasons;
    }
    let short = |want: i64, alloc: i64, used: i64| want > 0 && want > alloc.saturating_sub(used);
    if short(want.milli_cpu, alloc.milli_cpu, used.milli_cpu) {
        reasons.push("Insufficient cpu".to_string());
    }
    if short(want.memory, alloc.memory, used.memory) {
        reasons.push("Insufficient memory".to_string());
    }
    if short(
        want.ephemeral_storage,
        alloc.ephemeral_storage,
        used.ephemeral_storage,
    ) {
        reasons.push("Insufficient ephemeral-storage".to_string());
    }
    for (name, amount) in &want.scalar {
        if short(*amount, alloc.scalar(name), used.scalar(name)) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Code;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::ContainerPort;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::rc::Rc;

    fn info(node: kmicro_module_sdk::k8s_openapi::api::core::v1::Node) -> NodeInfo {
        NodeInfo::new(Rc::new(node))
    }

    fn pod_info(pod: kmicro_module_sdk::k8s_openapi::api::core::v1::Pod) -> PodInfo {
        PodInfo::new(Rc::new(pod))
    }

    #[test]
    fn cordoned_nodes_refuse_unless_tolerated() {
        let mut n = node("n1", "4", "8Gi");
        n.spec.get_or_insert_default().unschedulable = Some(true);
        let n = info(n);
        let mut pod = pod_with(vec![container(&[])], vec![]);
        let err = node_unschedulable(&pod_info(pod.clone()), &n).unwrap_err();
        assert_eq!(err, Status::unresolvable(REASON_UNSCHEDULABLE));
        pod.spec.as_mut().unwrap().tolerations = Some(vec![toleration(
            UNSCHEDULABLE_TAINT,
            "Exists",
            "",
            "NoSchedule",
        )]);
        assert!(node_unschedulable(&pod_info(pod), &n).is_ok());
        assert!(
            node_local(
                &pod_info(pod_with(vec![], vec![])),
                &info(node("n2", "1", "1Gi"))
            )
            .is_ok()
        );
    }

    #[test]
    fn untolerated_hard_taints_refuse() {
        let mut n = node("n1", "4", "8Gi");
        n.spec.get_or_insert_default().taints = Some(vec![
            taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),
            taint("soft", "", "PreferNoSchedule"),
        ]);
        let n = info(n);
        let mut pod = pod_with(vec![container(&[])], vec![]);
        let err = node_local(&pod_info(pod.clone()), &n).unwrap_err();
        assert_eq!(err.code, Code::UnschedulableAndUnresolvable);
        assert_eq!(err.reasons, vec![REASON_TAINT]);
        pod.spec.as_mut().unwrap().tolerations = Some(vec![toleration(
            "node-role.kubernetes.io/control-plane",
            "Exists",
            "",
            "",
        )]);
        assert!(node_local(&pod_info(pod), &n).is_ok());
    }

    #[test]
    fn affinity_mismatch_refuses() {
        let n = info(node_labelled("n1", &[("disk", "hdd")]));
        let mut pod = pod_with(vec![container(&[])], vec![]);
        pod.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "ssd".to_string())].into());
        let err = node_local(&pod_info(pod), &n).unwrap_err();
        assert_eq!(err, Status::unresolvable(REASON_AFFINITY));
    }

    #[test]
    fn taken_host_ports_refuse_resolvably() {
        let with_port = |port: i32| {
            let mut c = container(&[]);
            c.ports = Some(vec![ContainerPort {
                container_port: 80,
                host_port: Some(port),
                ..Default::default()
            }]);
            pod_with(vec![c], vec![])
        };
        let mut n = info(node("n1", "4", "8Gi"));
        n.add_pod(pod_info(assigned(with_port(8080), "n1")));
        let err = node_local(&pod_info(with_port(8080)), &n).unwrap_err();
        assert_eq!(err, Status::unschedulable(vec![REASON_PORTS.to_string()]));
        assert!(node_local(&pod_info(with_port(8081)), &n).is_ok());
    }

    #[test]
    fn every_shortage_is_reported() {
        let mut n = node("n1", "2", "1Gi");
        let status = n.status.get_or_insert_default();
        let alloc = status.allocatable.get_or_insert_default();
        alloc.insert("pods".into(), Quantity("1".into()));
        alloc.insert("ephemeral-storage".into(), Quantity("10Gi".into()));
        alloc.insert("example.com/gpu".into(), Quantity("1".into()));
        let mut n = info(n);
        n.add_pod(pod_info(assigned(
            pod_with(
                vec![container(&[("cpu", "1500m"), ("memory", "512Mi")])],
                vec![],
            ),
            "n1",
        )));
        let pod = pod_info(pod_with(
            vec![container(&[
                ("cpu", "1"),
                ("memory", "600Mi"),
                ("ephemeral-storage", "11Gi"),
                ("example.com/gpu", "2"),
                ("example.com/fpga", "1"),
            ])],
            vec![],
        ));
        let err = node_local(&pod, &n).unwrap_err();
        assert_eq!(err.code, Code::Unschedulable);
        assert_eq!(
            err.reasons,
            vec![
                "Too many pods",
                "Insufficient cpu",
                "Insufficient memory",
                "Insufficient ephemeral-storage",
                "Insufficient example.com/fpga",
                "Insufficient example.com/gpu",
            ]
        );
    }

    #[test]
    fn requests_that_fit_exactly_pass_and_empty_requests_only_count_pods() {
        let mut n = info(node("n1", "2", "1Gi"));
        n.add_pod(pod_info(assigned(
            pod_with(vec![container(&[("cpu", "1")])], vec![]),
            "n1",
        )));
        let exact = pod_info(pod_with(
            vec![container(&[("cpu", "1"), ("memory", "1Gi")])],
            vec![],
        ));
        assert!(resources_fit(&exact, &n).is_ok());
        let one_more = pod_info(pod_with(vec![container(&[("cpu", "1001m")])], vec![]));
        assert!(resources_fit(&one_more, &n).is_err());
        let best_effort = pod_info(pod_with(vec![container(&[])], vec![]));
        assert!(resources_fit(&best_effort, &n).is_ok());
    }
}
