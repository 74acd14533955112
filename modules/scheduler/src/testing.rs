//! Builders of pods and nodes for the unit tests.

use std::cell::Cell;

use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    Container, Node, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements, Taint, Toleration,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

thread_local! {
    static NEXT: Cell<u32> = const { Cell::new(0) };
}

fn next() -> u32 {
    NEXT.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

/// A container requesting `requests` (name, quantity).
pub fn container(requests: &[(&str, &str)]) -> Container {
    Container {
        name: format!("c{}", next()),
        image: Some("busybox".into()),
        resources: (!requests.is_empty()).then(|| ResourceRequirements {
            requests: Some(
                requests
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A pending pod in `default` with a fresh name and uid.
pub fn pod_with(containers: Vec<Container>, init_containers: Vec<Container>) -> Pod {
    let n = next();
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("pod-{n}")),
            namespace: Some("default".into()),
            uid: Some(format!("uid-{n}")),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers,
            init_containers: (!init_containers.is_empty()).then_some(init_containers),
            ..Default::default()
        }),
        status: None,
    }
}

/// `pod` bound to `node`, running.
pub fn assigned(mut pod: Pod, node: &str) -> Pod {
    pod.spec.get_or_insert_default().node_name = Some(node.to_string());
    pod.status.get_or_insert_default().phase = Some("Running".into());
    pod
}

/// A node with `cpu` and `memory` allocatable and room for 110 pods.
pub fn node(name: &str, cpu: &str, memory: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            uid: Some(format!("node-uid-{name}")),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(
                [("cpu", cpu), ("memory", memory), ("pods", "110")]
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect(),
            ),
            ..Default::default()
        }),
    }
}

/// A node with 4 CPUs, 8 GiB and `labels`.
pub fn node_labelled(name: &str, labels: &[(&str, &str)]) -> Node {
    let mut n = node(name, "4", "8Gi");
    n.metadata.labels = Some(
        labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    );
    n
}

/// A taint.
pub fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: (!value.is_empty()).then(|| value.to_string()),
        effect: effect.into(),
        time_added: None,
    }
}

/// A toleration; empty strings stand for unset fields.
pub fn toleration(key: &str, operator: &str, value: &str, effect: &str) -> Toleration {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Toleration {
        key: opt(key),
        operator: opt(operator),
        value: opt(value),
        effect: opt(effect),
        toleration_seconds: None,
    }
}
