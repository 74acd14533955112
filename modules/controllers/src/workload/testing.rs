//! Builders of test objects for the workload controllers' unit tests.

use std::collections::BTreeMap;

use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    ContainerStatus, Node, NodeSpec, Pod, PodCondition, PodSpec, PodStatus, Taint,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ObjectMeta, OwnerReference, Time,
};
use kmicro_module_sdk::time::timestamp;

/// Milliseconds of a moment `seconds` into the tests' epoch.
pub fn at(seconds: u64) -> u64 {
    1_700_000_000_000 + seconds * 1000
}

/// A Kubernetes time at `millis`.
pub fn time(millis: u64) -> Time {
    Time(timestamp(millis))
}

/// A pod builder.
pub struct PodBuilder(Pod);

/// A pod named `name` in namespace `ns` with uid `uid-<name>`.
pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some("ns".to_string()),
            uid: Some(format!("uid-{name}")),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec::default()),
        status: Some(PodStatus::default()),
    })
}

impl PodBuilder {
    fn status(&mut self) -> &mut PodStatus {
        self.0.status.get_or_insert_with(Default::default)
    }

    /// Bound to `node`.
    pub fn node(mut self, node: &str) -> Self {
        self.0.spec.get_or_insert_with(Default::default).node_name = Some(node.to_string());
        self
    }

    /// In `phase`.
    pub fn phase(mut self, phase: &str) -> Self {
        self.status().phase = Some(phase.to_string());
        self
    }

    /// Ready since `millis`.
    pub fn ready_at(mut self, millis: u64) -> Self {
        self.status()
            .conditions
            .get_or_insert_with(Vec::new)
            .push(PodCondition {
                type_: "Ready".to_string(),
                status: "True".to_string(),
                last_transition_time: Some(time(millis)),
                ..PodCondition::default()
            });
        self
    }

    /// Running and ready since `millis`.
    pub fn running_ready(self, millis: u64) -> Self {
        self.phase("Running").ready_at(millis)
    }

    /// Created at `millis`.
    pub fn created(mut self, millis: u64) -> Self {
        self.0.metadata.creation_timestamp = Some(time(millis));
        self
    }

    /// Being deleted.
    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(time(at(0)));
        self
    }

    /// With one container restarted `n` times.
    pub fn restarts(mut self, n: i32) -> Self {
        self.status().container_statuses = Some(vec![ContainerStatus {
            name: "c".to_string(),
            restart_count: n,
            ..ContainerStatus::default()
        }]);
        self
    }

    /// With annotation `key=value`.
    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
        self
    }

    /// With label `key=value`.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.to_string());
        self
    }

    /// Controlled by `kind` `name` with uid `owner_uid`.
    pub fn owner(mut self, kind: &str, name: &str, owner_uid: &str) -> Self {
        self.0.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "apps/v1".to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
            uid: owner_uid.to_string(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]);
        self
    }

    /// The pod.
    pub fn build(self) -> Pod {
        self.0
    }
}

/// A node named `name` with `labels` and `taints` (`key=value:Effect` or `key:Effect`).
pub fn node(name: &str, labels: &[(&str, &str)], taints: &[&str]) -> Node {
    let taints = taints
        .iter()
        .map(|t| {
            let (kv, effect) = t.split_once(':').unwrap_or((t, "NoSchedule"));
            let (key, value) = match kv.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (kv, None),
            };
            Taint {
                key: key.to_string(),
                value,
                effect: effect.to_string(),
                time_added: None,
            }
        })
        .collect::<Vec<_>>();
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: (!taints.is_empty()).then_some(taints),
            ..NodeSpec::default()
        }),
        status: None,
    }
}
