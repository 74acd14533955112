//! A ReplicaSet's status (kube's `calculateStatus`).

use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::apps::v1::{
    ReplicaSet, ReplicaSetCondition, ReplicaSetStatus,
};
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kmicro_module_sdk::time::timestamp;

use crate::workload::{count, pods};

/// The condition type reporting failed creates or deletes.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// The status of `rs` with the `active` pods it controls; `manage_error` is the error of the
/// last create or delete, if any (it sets the `ReplicaFailure` condition, its absence clears it).
pub fn compute_status(
    rs: &ReplicaSet,
    active: &[&Pod],
    manage_error: Option<&str>,
    now: u64,
) -> ReplicaSetStatus {
    let spec = rs.spec.clone().unwrap_or_default();
    let template_labels: BTreeMap<String, String> = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let fully_labeled = active
        .iter()
        .filter(|p| {
            template_labels
                .iter()
                .all(|(k, v)| p.labels().get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| pods::is_ready(p)).count();
    let available = active
        .iter()
        .filter(|p| pods::is_available(p, min_ready, now))
        .count();

    let mut status = rs.status.clone().unwrap_or_default();
    let mut conditions = status.conditions.take().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match manage_error {
        Some(message) if !has_failure => {
            let desired = spec.replicas.unwrap_or(1).max(0) as usize;
            let reason = if active.len() < desired {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(ReplicaSetCondition {
                type_: REPLICA_FAILURE.to_string(),
                status: "True".to_string(),
                reason: Some(reason.to_string()),
                message: Some(message.to_string()),
                last_transition_time: Some(Time(timestamp(now))),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    status.replicas = i32::try_from(active.len()).unwrap_or(i32::MAX);
    status.fully_labeled_replicas = count(fully_labeled);
    status.ready_replicas = count(ready);
    status.available_replicas = count(available);
    status.observed_generation = rs.metadata.generation;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::testing::{at, pod};
    use kmicro_module_sdk::k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::PodTemplateSpec;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn rs(replicas: i32, min_ready: i32) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some("web".into()),
                generation: Some(4),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                min_ready_seconds: Some(min_ready),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(
                            [
                                ("app".to_string(), "web".to_string()),
                                ("tier".to_string(), "fe".to_string()),
                            ]
                            .into(),
                        ),
                        ..ObjectMeta::default()
                    }),
                    spec: None,
                }),
                ..ReplicaSetSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn counts_labeled_ready_and_available() {
        let pods = [
            pod("a")
                .label("app", "web")
                .label("tier", "fe")
                .running_ready(at(0))
                .build(),
            pod("b")
                .label("app", "web")
                .label("tier", "fe")
                .running_ready(at(95))
                .build(),
            pod("c").label("app", "web").phase("Running").build(),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let s = compute_status(&rs(3, 10), &refs, None, at(100));
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, Some(2));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(4));
        assert_eq!(s.conditions, None);
        let empty = compute_status(&rs(0, 0), &[], None, at(100));
        assert_eq!((empty.replicas, empty.ready_replicas), (0, None));
    }

    #[test]
    fn replica_failure_is_set_once_and_cleared() {
        let mut set = rs(2, 0);
        let failed = compute_status(&set, &[], Some("pods \"x\" is forbidden"), at(1));
        let cond = &failed.conditions.as_ref().unwrap()[0];
        assert_eq!(cond.type_, REPLICA_FAILURE);
        assert_eq!(cond.reason.as_deref(), Some("FailedCreate"));
        set.status = Some(failed.clone());
        // A later failure keeps the first condition as it was.
        let again = compute_status(&set, &[], Some("other"), at(50));
        assert_eq!(again.conditions, failed.conditions);
        let cleared = compute_status(&set, &[], None, at(60));
        assert_eq!(cleared.conditions, None);
        let extra = [pod("a").build(), pod("b").build(), pod("c").build()];
        let refs: Vec<&Pod> = extra.iter().collect();
        let deleting = compute_status(&rs(2, 0), &refs, Some("x"), at(1));
        assert_eq!(
            deleting.conditions.unwrap()[0].reason.as_deref(),
            Some("FailedDelete")
        );
    }
}
