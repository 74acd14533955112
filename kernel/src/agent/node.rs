//! The Node object as the agent writes it: labels and taints from registration, and the
//! status kubelet reports (capacity, allocatable, addresses, system info, conditions).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Node, NodeAddress, NodeCondition, NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::AgentConfig;
use super::conditions::{self, Pressure};
use super::eviction::{Signal, Thresholds};
use super::host::parse::binary_quantity;
use super::host::{HostInfo, Usage};

/// Pods one node runs at most (kubelet's `--max-pods` default).
pub const MAX_PODS: u32 = 110;
/// What kmicro reports as the instance type (k3s reports `k3s`).
pub const INSTANCE_TYPE: &str = "kmicro";

/// The labels the agent sets at every start: kubelet's well-known ones, k3s's roles of a
/// server node, then `--node-label`s (which win).
pub fn labels(config: &AgentConfig, architecture: &str) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = [
        ("beta.kubernetes.io/arch", architecture),
        ("beta.kubernetes.io/instance-type", INSTANCE_TYPE),
        ("beta.kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", architecture),
        ("kubernetes.io/hostname", config.node_name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("node-role.kubernetes.io/control-plane", "true"),
        ("node-role.kubernetes.io/master", "true"),
        ("node.kubernetes.io/instance-type", INSTANCE_TYPE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for label in &config.labels {
        labels.insert(label.key.clone(), label.value.clone());
    }
    labels
}

/// A new Node, as registered: labels, kubelet's attach-detach annotation, `--node-taint`s,
/// the provider id, the pod CIDR (the first /24 of `--cluster-cidr`), and `status`.
pub fn new_node(config: &AgentConfig, architecture: &str, status: NodeStatus) -> Node {
    let taints: Vec<Taint> = config
        .taints
        .iter()
        .map(|t| Taint {
            key: t.key.clone(),
            value: (!t.value.is_empty()).then(|| t.value.clone()),
            effect: t.effect.as_str().to_string(),
            time_added: None,
        })
        .collect();
    let pod_cidr = super::pod_cidr::first_node_subnet(&config.cluster_cidr);
    Node {
        metadata: ObjectMeta {
            name: Some(config.node_name.clone()),
            labels: Some(labels(config, architecture)),
            annotations: Some(BTreeMap::from([(
                "volumes.kubernetes.io/controller-managed-attach-detach".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            provider_id: Some(format!("kmicro://{}", config.node_name)),
            taints: (!taints.is_empty()).then_some(taints),
            pod_cidr: Some(pod_cidr.to_string()),
            pod_cidrs: Some(vec![pod_cidr.to_string()]),
            ..Default::default()
        }),
        status: Some(status),
    }
}

/// `node` with the labels of this start added or corrected (k3s applies `--node-label` at
/// every start and never removes a label), or `None` when it already has them all.
pub fn with_labels(node: &Node, wanted: &BTreeMap<String, String>) -> Option<Node> {
    let have = node.metadata.labels.clone().unwrap_or_default();
    if wanted.iter().all(|(k, v)| have.get(k) == Some(v)) {
        return None;
    }
    let mut updated = node.clone();
    let labels = updated.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.extend(wanted.iter().map(|(k, v)| (k.clone(), v.clone())));
    Some(updated)
}

/// What a status report is computed from.
pub struct StatusInputs<'a> {
    /// The node's name (its `Hostname` address).
    pub node_name: &'a str,
    /// The node's `InternalIP`.
    pub ip: IpAddr,
    /// The machine.
    pub host: &'a HostInfo,
    /// Its current usage.
    pub usage: &'a Usage,
    /// The version the agent reports (the API server's `gitVersion`).
    pub kubelet_version: &'a str,
    /// The hard eviction thresholds in force.
    pub thresholds: &'a Thresholds,
    /// Why the pod network is not ready, if it is not (`Ready` is False then).
    pub network_not_ready: Option<&'a str>,
}

/// The status the agent reports at `now`; conditions keep their transition times from
/// `previous` where their status did not change.
pub fn status(inputs: &StatusInputs<'_>, previous: &[NodeCondition], now: &Time) -> NodeStatus {
    let host = inputs.host;
    let (capacity, allocatable) = resources(host, inputs.usage, inputs.thresholds);
    NodeStatus {
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        conditions: Some(conditions::conditions(
            Pressure::of(inputs.usage, inputs.thresholds, host.memory_bytes),
            inputs.network_not_ready,
            previous,
            now,
        )),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".to_string(),
                address: inputs.ip.to_string(),
            },
            NodeAddress {
                type_: "Hostname".to_string(),
                address: inputs.node_name.to_string(),
            },
        ]),
        node_info: Some(NodeSystemInfo {
            machine_id: host.machine_id.clone(),
            system_uuid: host.system_uuid.clone(),
            boot_id: host.boot_id.clone(),
            kernel_version: host.kernel_version.clone(),
            os_image: host.os_image.clone(),
            container_runtime_version: format!("kmicro://{}", env!("CARGO_PKG_VERSION")),
            kubelet_version: inputs.kubelet_version.to_string(),
            operating_system: "linux".to_string(),
            architecture: host.architecture.to_string(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Capacity and allocatable. Allocatable is capacity less what kubelet holds back: the hard
/// eviction thresholds of `memory.available` and `nodefs.available` (a percentage taken of the
/// capacity, as kubelet's `hardEvictionReservation` does; nothing without a threshold) and the
/// memory reserved as huge pages; no kube- or system-reserved.
fn resources(
    host: &HostInfo,
    usage: &Usage,
    thresholds: &Thresholds,
) -> (BTreeMap<String, Quantity>, BTreeMap<String, Quantity>) {
    let q = |s: String| Quantity(s);
    let mut capacity = BTreeMap::from([
        ("cpu".to_string(), q(host.cpus.to_string())),
        ("memory".to_string(), q(binary_quantity(host.memory_bytes))),
        ("pods".to_string(), q(MAX_PODS.to_string())),
    ]);
    let mut allocatable = capacity.clone();
    let hugepages: u64 = host.hugepages.iter().map(|(_, bytes)| bytes).sum();
    allocatable.insert(
        "memory".to_string(),
        q(binary_quantity(
            host.memory_bytes
                .saturating_sub(hugepages)
                .saturating_sub(thresholds.amount(Signal::MemoryAvailable, host.memory_bytes)),
        )),
    );
    for (size, bytes) in &host.hugepages {
        let name = format!("hugepages-{}", binary_quantity(*size));
        capacity.insert(name.clone(), q(binary_quantity(*bytes)));
        allocatable.insert(name, q(binary_quantity(*bytes)));
    }
    if let Some(fs) = usage.filesystem {
        capacity.insert(
            "ephemeral-storage".to_string(),
            q(binary_quantity(fs.capacity)),
        );
        let held_back = thresholds.amount(Signal::NodeFsAvailable, fs.capacity);
        allocatable.insert(
            "ephemeral-storage".to_string(),
            q(fs.capacity.saturating_sub(held_back).to_string()),
        );
    }
    (capacity, allocatable)
}

/// `current` (as stored) with the agent's report laid over it: the fields the agent owns
/// replaced, conditions of other types (set by controllers) kept.
pub fn merged_status(report: &NodeStatus, current: Option<&NodeStatus>) -> NodeStatus {
    let mut out = current.cloned().unwrap_or_default();
    let ours = report.conditions.clone().unwrap_or_default();
    let mut conditions: Vec<NodeCondition> = out
        .conditions
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !ours.iter().any(|o| o.type_ == c.type_))
        .collect();
    conditions.extend(ours);
    out.conditions = Some(conditions);
    out.capacity.clone_from(&report.capacity);
    out.allocatable.clone_from(&report.allocatable);
    out.addresses.clone_from(&report.addresses);
    out.node_info.clone_from(&report.node_info);
    out
}

/// Whether two reports say the same, heartbeat times aside.
pub fn same_report(a: &NodeStatus, b: &NodeStatus) -> bool {
    let strip = |s: &NodeStatus| {
        let mut s = s.clone();
        for c in s.conditions.iter_mut().flatten() {
            c.last_heartbeat_time = None;
        }
        s
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::flags::{NodeLabel, NodeTaint};
    use crate::agent::host::FilesystemUsage;
    use k8s_openapi::jiff::Timestamp;

    fn config() -> AgentConfig {
        AgentConfig {
            node_name: "pi-1".into(),
            node_ip: "192.168.1.10".parse().unwrap(),
            labels: vec![NodeLabel::parse("tier=edge").unwrap()],
            taints: vec![NodeTaint::parse("dedicated=edge:NoSchedule").unwrap()],
            data_dir: "/".into(),
            eviction_hard: Thresholds::kmicro_default(),
            started: std::time::Instant::now(),
            log_dir: "/pod-logs".into(),
            cgroup_root: "kmicro".into(),
            image_gc: Default::default(),
            pod_logs: Default::default(),
            pod_sessions: Default::default(),
            port_forward: Default::default(),
            cluster_cidr: "10.42.0.0/16".parse().unwrap(),
            cni_bridge: "cni0".into(),
            dns: Default::default(),
        }
    }

    fn host() -> HostInfo {
        HostInfo {
            architecture: "arm",
            cpus: 4,
            memory_bytes: 1 << 30,
            hugepages: vec![(2 << 20, 0)],
            kernel_version: "6.1.0".into(),
            ..Default::default()
        }
    }

    fn inputs<'a>(host: &'a HostInfo, usage: &'a Usage) -> StatusInputs<'a> {
        with_thresholds(host, usage, &DEFAULTS)
    }

    static DEFAULTS: std::sync::LazyLock<Thresholds> =
        std::sync::LazyLock::new(Thresholds::kmicro_default);

    fn with_thresholds<'a>(
        host: &'a HostInfo,
        usage: &'a Usage,
        thresholds: &'a Thresholds,
    ) -> StatusInputs<'a> {
        StatusInputs {
            node_name: "pi-1",
            ip: "192.168.1.20".parse().unwrap(),
            host,
            usage,
            kubelet_version: "v1.35.0+kmicro.0.1.0",
            thresholds,
            network_not_ready: None,
        }
    }

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn a_new_node_has_kubelet_and_k3s_labels_and_the_flags() {
        let status = NodeStatus::default();
        let node = new_node(&config(), "arm", status);
        let labels = node.metadata.labels.unwrap();
        for (k, v) in [
            ("kubernetes.io/arch", "arm"),
            ("beta.kubernetes.io/arch", "arm"),
            ("kubernetes.io/os", "linux"),
            ("kubernetes.io/hostname", "pi-1"),
            ("node-role.kubernetes.io/control-plane", "true"),
            ("node-role.kubernetes.io/master", "true"),
            ("node.kubernetes.io/instance-type", "kmicro"),
            ("tier", "edge"),
        ] {
            assert_eq!(labels.get(k).map(String::as_str), Some(v), "{k}");
        }
        let spec = node.spec.unwrap();
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.42.0.0/24"));
        assert_eq!(spec.pod_cidrs, Some(vec!["10.42.0.0/24".to_string()]));
        let taints = spec.taints.unwrap();
        assert_eq!(taints.len(), 1);
        assert_eq!(
            (
                taints[0].key.as_str(),
                taints[0].value.as_deref(),
                taints[0].effect.as_str()
            ),
            ("dedicated", Some("edge"), "NoSchedule")
        );
    }

    #[test]
    fn labels_are_added_never_removed() {
        let mut node = new_node(&config(), "arm", NodeStatus::default());
        let wanted = labels(&config(), "arm");
        assert!(with_labels(&node, &wanted).is_none());
        let l = node.metadata.labels.as_mut().unwrap();
        l.insert("tier".into(), "core".into());
        l.insert("added-by-user".into(), "x".into());
        let updated = with_labels(&node, &wanted).unwrap();
        let l = updated.metadata.labels.unwrap();
        assert_eq!(l["tier"], "edge");
        assert_eq!(l["added-by-user"], "x");
    }

    #[test]
    fn capacity_and_allocatable() {
        let host = host();
        let usage = Usage {
            filesystem: Some(FilesystemUsage {
                capacity: 10 << 30,
                available: 5 << 30,
            }),
            ..Usage::default()
        };
        let s = status(&inputs(&host, &usage), &[], &at(1));
        let cap = s.capacity.unwrap();
        let alloc = s.allocatable.unwrap();
        let get = |m: &BTreeMap<String, Quantity>, k: &str| m[k].0.clone();
        assert_eq!(get(&cap, "cpu"), "4");
        assert_eq!(get(&cap, "memory"), "1Gi");
        assert_eq!(get(&alloc, "memory"), "924Mi");
        assert_eq!(get(&cap, "pods"), "110");
        assert_eq!(get(&cap, "hugepages-2Mi"), "0");
        assert_eq!(get(&cap, "ephemeral-storage"), "10Gi");
        // 10 GiB less kubelet's 10% of it: 0.1 in single precision, 1073741840 bytes.
        assert_eq!(get(&alloc, "ephemeral-storage"), "9663676400");
        let info = s.node_info.unwrap();
        assert_eq!(info.architecture, "arm");
        assert_eq!(info.kubelet_version, "v1.35.0+kmicro.0.1.0");
        let addresses = s.addresses.unwrap();
        assert_eq!(addresses[0].address, "192.168.1.20");
        assert_eq!(addresses[1].type_, "Hostname");
    }

    #[test]
    fn allocatable_follows_the_thresholds_in_force() {
        let host = host();
        let usage = Usage {
            filesystem: Some(FilesystemUsage {
                capacity: 10 << 30,
                available: 5 << 30,
            }),
            ..Usage::default()
        };
        let allocatable = |text: &str| {
            let map = crate::agent::eviction::parse_pairs(text)
                .unwrap()
                .into_iter()
                .collect();
            let thresholds = Thresholds::from_map(&map).unwrap();
            let s = status(&with_thresholds(&host, &usage, &thresholds), &[], &at(1));
            let a = s.allocatable.unwrap();
            (a["memory"].0.clone(), a["ephemeral-storage"].0.clone())
        };
        assert_eq!(
            allocatable("memory.available<200Mi,nodefs.available<1Gi"),
            ("824Mi".to_string(), (9u64 << 30).to_string())
        );
        // Percentages of memory are of its capacity; no threshold holds nothing back.
        assert_eq!(
            allocatable("memory.available<50%"),
            ("512Mi".to_string(), (10u64 << 30).to_string())
        );
        assert_eq!(
            allocatable(""),
            ("1Gi".to_string(), (10u64 << 30).to_string())
        );
    }

    #[test]
    fn reports_differ_only_when_something_but_the_heartbeat_changed() {
        let host = host();
        let usage = Usage::default();
        let first = status(&inputs(&host, &usage), &[], &at(1));
        let later = status(
            &inputs(&host, &usage),
            first.conditions.as_deref().unwrap(),
            &at(2),
        );
        assert!(same_report(&first, &later));
        let short = Usage {
            memory_available: Some(1),
            ..Usage::default()
        };
        let pressed = status(
            &inputs(&host, &short),
            first.conditions.as_deref().unwrap(),
            &at(3),
        );
        assert!(!same_report(&first, &pressed));
    }

    #[test]
    fn merging_keeps_conditions_the_agent_does_not_own() {
        let host = host();
        let usage = Usage::default();
        let report = status(&inputs(&host, &usage), &[], &at(5));
        let current = NodeStatus {
            conditions: Some(vec![
                NodeCondition {
                    type_: "NetworkUnavailable".into(),
                    status: "False".into(),
                    ..Default::default()
                },
                NodeCondition {
                    type_: "Ready".into(),
                    status: "Unknown".into(),
                    ..Default::default()
                },
            ]),
            ..NodeStatus::default()
        };
        let merged = merged_status(&report, Some(&current));
        let types: Vec<_> = merged
            .conditions
            .unwrap()
            .into_iter()
            .map(|c| (c.type_, c.status))
            .collect();
        assert_eq!(types[0], ("NetworkUnavailable".into(), "False".into()));
        assert_eq!(types.len(), 5);
        assert!(types.contains(&("Ready".into(), "True".into())));
    }
}
