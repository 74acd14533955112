//! Resource amounts: what a pod requests and what a node can give, in kube-scheduler's units
//! (milli-CPU, bytes, counts).

use std::collections::BTreeMap;

use kmicro_module_sdk::k8s_openapi::api::core::v1::{Container, Pod};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity;

/// The CPU a container without a CPU request counts as when scoring (kube's
/// `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a memory request counts as when scoring (kube's
/// `DefaultMemoryRequest`, 200 MB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of the resources the scheduler accounts for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// CPU in thousandths of a core.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Pods (meaningful for a node's allocatable only).
    pub pods: i64,
    /// Scalar resources: extended resources (`example.com/gpu`), `hugepages-*`,
    /// `attachable-volumes-*`.
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a resource list (`requests`, `allocatable`, `overhead`); quantities that do not
    /// parse and resources the scheduler does not account count as nothing.
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut r = Self::default();
        for (name, q) in list {
            r.set(name, &q.0);
        }
        r
    }

    fn set(&mut self, name: &str, text: &str) {
        match name {
            "cpu" => self.milli_cpu = quantity::milli_value(text).unwrap_or(0),
            "memory" => self.memory = quantity::value(text).unwrap_or(0),
            "ephemeral-storage" => self.ephemeral_storage = quantity::value(text).unwrap_or(0),
            "pods" => self.pods = quantity::value(text).unwrap_or(0),
            other if is_scalar_resource(other) => {
                self.scalar
                    .insert(other.to_string(), quantity::value(text).unwrap_or(0));
            }
            _ => {}
        }
    }

    /// Adds `other` to these amounts.
    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.pods = self.pods.saturating_add(other.pods);
        for (name, v) in &other.scalar {
            let held = self.scalar.entry(name.clone()).or_insert(0);
            *held = held.saturating_add(*v);
        }
    }

    /// Takes, per resource, the larger of these amounts and `other`'s.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.pods = self.pods.max(other.pods);
        for (name, v) in &other.scalar {
            let held = self.scalar.entry(name.clone()).or_insert(0);
            *held = (*held).max(*v);
        }
    }

    /// Removes `other` from these amounts (a pod leaving a node).
    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.pods = self.pods.saturating_sub(other.pods);
        for (name, v) in &other.scalar {
            let held = self.scalar.entry(name.clone()).or_insert(0);
            *held = held.saturating_sub(*v);
        }
    }

    /// A scalar resource's amount, 0 when absent.
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.get(name).copied().unwrap_or(0)
    }

    /// Whether nothing but (possibly) a pod count is asked for.
    pub fn is_empty_request(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

/// Whether `name` is a resource kube-scheduler accounts as a scalar: an extended resource
/// (`<domain>/<name>` outside `kubernetes.io`), `hugepages-*` or `attachable-volumes-*`.
pub fn is_scalar_resource(name: &str) -> bool {
    is_extended_resource(name)
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
}

/// Whether `name` is an extended resource: qualified by a domain other than `kubernetes.io`,
/// and not a quota name (`requests.…`).
pub fn is_extended_resource(name: &str) -> bool {
    name.contains('/') && !name.contains("kubernetes.io/") && !name.starts_with("requests.")
}

/// Whether requests of a missing CPU or memory count as kube's defaults (for scoring) or as
/// nothing (for fitting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A missing request is no request.
    Zero,
    /// A missing CPU request counts as 100m, a missing memory request as 200 MB.
    Defaults,
}

/// What `pod` requests, as kube's `resourcehelper.PodRequests` computes it: its containers
/// together, sidecars (init containers with `restartPolicy: Always`) for the pod's whole
/// life, the largest of that and each init container's moment (plus the sidecars started
/// before it), the pod-level `resources.requests` where set, plus the pod's overhead.
pub fn pod_requests(pod: &Pod, missing: Missing) -> Resources {
    let Some(spec) = pod.spec.as_ref() else {
        return Resources::default();
    };
    let pod_level = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(Resources::from_list)
        .filter(|r| r.milli_cpu > 0 || r.memory > 0);
    // With pod-level requests, containers' missing requests are filled from the pod level,
    // not from the defaults.
    let container_missing = if pod_level.is_some() {
        Missing::Zero
    } else {
        missing
    };
    let mut total = Resources::default();
    for c in &spec.containers {
        total.add(&container_requests(c, container_missing));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for c in spec.init_containers.iter().flatten() {
        let mut moment = container_requests(c, container_missing);
        if c.restart_policy.as_deref() == Some("Always") {
            total.add(&moment);
            sidecars.add(&moment);
            moment = sidecars.clone();
        } else {
            moment.add(&sidecars);
        }
        init_peak.max_with(&moment);
    }
    total.max_with(&init_peak);
    if let Some(level) = pod_level {
        if level.milli_cpu > 0 {
            total.milli_cpu = level.milli_cpu;
        }
        if level.memory > 0 {
            total.memory = level.memory;
        }
        for (name, v) in level
            .scalar
            .iter()
            .filter(|(n, _)| n.starts_with("hugepages-"))
        {
            total.scalar.insert(name.clone(), *v);
        }
        if missing == Missing::Defaults {
            if total.milli_cpu == 0 {
                total.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
            }
            if total.memory == 0 {
                total.memory = DEFAULT_MEMORY_REQUEST;
            }
        }
    }
    if let Some(overhead) = spec.overhead.as_ref() {
        total.add(&Resources::from_list(overhead));
    }
    total
}

/// One container's requests, with kube's defaults for missing CPU and memory when asked.
fn container_requests(c: &Container, missing: Missing) -> Resources {
    let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
    let mut r = requests.map(Resources::from_list).unwrap_or_default();
    if missing == Missing::Defaults {
        let has = |name: &str| requests.is_some_and(|l| l.contains_key(name));
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{container, pod_with};

    #[test]
    fn containers_add_up_and_init_containers_take_the_max() {
        // The example of kube's computePodResourceRequest: IC1 2 CPU 1G, IC2 2 CPU 3G,
        // C1 2 CPU 1G, C2 1 CPU 1G → 3 CPU, 3G.
        let pod = pod_with(
            vec![
                container(&[("cpu", "2"), ("memory", "1G")]),
                container(&[("cpu", "1"), ("memory", "1G")]),
            ],
            vec![
                container(&[("cpu", "2"), ("memory", "1G")]),
                container(&[("cpu", "2"), ("memory", "3G")]),
            ],
        );
        let r = pod_requests(&pod, Missing::Zero);
        assert_eq!(r.milli_cpu, 3000);
        assert_eq!(r.memory, 3_000_000_000);
    }

    #[test]
    fn sidecars_count_for_the_whole_pod_and_before_later_init_containers() {
        let mut sidecar = container(&[("cpu", "500m")]);
        sidecar.restart_policy = Some("Always".into());
        let pod = pod_with(
            vec![container(&[("cpu", "1")])],
            vec![sidecar, container(&[("cpu", "2")])],
        );
        // Regular: 1 + 0.5 sidecar = 1.5; the init container runs beside the sidecar: 2.5.
        assert_eq!(pod_requests(&pod, Missing::Zero).milli_cpu, 2500);
    }

    #[test]
    fn overhead_is_added() {
        let mut pod = pod_with(vec![container(&[("memory", "100Mi")])], vec![]);
        pod.spec.as_mut().unwrap().overhead = Some(
            [("memory".to_string(), Quantity("20Mi".into()))]
                .into_iter()
                .collect(),
        );
        assert_eq!(pod_requests(&pod, Missing::Zero).memory, 120 << 20);
    }

    #[test]
    fn missing_requests_count_as_defaults_only_for_scoring() {
        let pod = pod_with(vec![container(&[]), container(&[("cpu", "0")])], vec![]);
        assert_eq!(pod_requests(&pod, Missing::Zero), Resources::default());
        let scored = pod_requests(&pod, Missing::Defaults);
        // An explicit zero stays zero; only an absent request takes the default.
        assert_eq!(scored.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(scored.memory, 2 * DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn pod_level_requests_win() {
        let mut pod = pod_with(vec![container(&[("cpu", "100m")])], vec![]);
        pod.spec.as_mut().unwrap().resources = Some(
            kmicro_module_sdk::k8s_openapi::api::core::v1::ResourceRequirements {
                requests: Some(
                    [("cpu".to_string(), Quantity("1".into()))]
                        .into_iter()
                        .collect(),
                ),
                ..Default::default()
            },
        );
        let r = pod_requests(&pod, Missing::Defaults);
        assert_eq!(r.milli_cpu, 1000);
        assert_eq!(r.memory, DEFAULT_MEMORY_REQUEST);
    }

    #[test]
    fn extended_resources_are_scalars() {
        let pod = pod_with(
            vec![container(&[
                ("example.com/gpu", "2"),
                ("hugepages-2Mi", "4Mi"),
                ("kubernetes.io/something", "1"),
            ])],
            vec![],
        );
        let r = pod_requests(&pod, Missing::Zero);
        assert_eq!(r.scalar("example.com/gpu"), 2);
        assert_eq!(r.scalar("hugepages-2Mi"), 4 << 20);
        assert!(!r.scalar.contains_key("kubernetes.io/something"));
    }
}
