//! The pod status the scheduler writes: the `PodScheduled` condition (and
//! `nominatedNodeName`) of pods it cannot place, and the `DisruptionTarget` condition of pods
//! it preempts. Written as strategic merge patches of `pods/status`, as kube-scheduler does.

use kmicro_module_sdk::k8s_openapi::api::core::v1::{Pod, PodCondition};
use kmicro_module_sdk::serde_json::{Value, json};

use crate::preemption::{DISRUPTION_TARGET, REASON_PREEMPTION_BY_SCHEDULER};

/// The condition type the scheduler owns.
pub const POD_SCHEDULED: &str = "PodScheduled";
/// Reason of a pod no node takes.
pub const REASON_UNSCHEDULABLE: &str = "Unschedulable";
/// Reason of a pod held back by scheduling gates.
pub const REASON_SCHEDULING_GATED: &str = "SchedulingGated";
/// Message of a pod held back by scheduling gates.
pub const MESSAGE_SCHEDULING_GATED: &str =
    "Scheduling is blocked due to non-empty scheduling gates";

/// The pod's `PodScheduled` condition, if any.
pub fn scheduled_condition(pod: &Pod) -> Option<&PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == POD_SCHEDULED)
}

/// Whether the pod's status already says `PodScheduled=False` with `reason` and `message`
/// (and the nomination, when one is to be set): then nothing is written and no event
/// recorded, so a pod that keeps failing the same way is reported once.
pub fn already_reported(pod: &Pod, reason: &str, message: &str, nominated: Option<&str>) -> bool {
    let same_condition = scheduled_condition(pod).is_some_and(|c| {
        c.status == "False"
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
    });
    let held = pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref());
    same_condition && nominated.is_none_or(|n| held == Some(n))
}

/// The patch setting `PodScheduled=False` with `reason` and `message`, keeping the
/// transition time when the condition was already False, and `nominatedNodeName` when given.
pub fn unscheduled_patch(
    pod: &Pod,
    reason: &str,
    message: &str,
    now: &str,
    nominated: Option<&str>,
) -> Value {
    let since = scheduled_condition(pod)
        .filter(|c| c.status == "False")
        .and_then(|c| c.last_transition_time.as_ref())
        .and_then(serde_json_string)
        .unwrap_or_else(|| now.to_string());
    let mut status = json!({
        "conditions": [{
            "type": POD_SCHEDULED,
            "status": "False",
            "reason": reason,
            "message": message,
            "lastProbeTime": null,
            "lastTransitionTime": since,
        }]
    });
    if let Some(node) = nominated {
        status["nominatedNodeName"] = json!(node);
    }
    json!({ "status": status })
}

/// The patch marking a pod preempted by `scheduler_name`.
pub fn disruption_patch(scheduler_name: &str, now: &str) -> Value {
    json!({
        "status": {
            "conditions": [{
                "type": DISRUPTION_TARGET,
                "status": "True",
                "reason": REASON_PREEMPTION_BY_SCHEDULER,
                "message": format!("{scheduler_name}: preempting to accommodate a higher priority pod"),
                "lastTransitionTime": now,
            }]
        }
    })
}

fn serde_json_string<T: serde::Serialize>(value: &T) -> Option<String> {
    match kmicro_module_sdk::serde_json::to_value(value).ok()? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pod_with;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn with_condition(status: &str, reason: &str, message: &str) -> Pod {
        let mut pod = pod_with(vec![], vec![]);
        pod.status.get_or_insert_default().conditions = Some(vec![PodCondition {
            type_: POD_SCHEDULED.into(),
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
            last_transition_time: Some(Time(
                kmicro_module_sdk::k8s_openapi::jiff::Timestamp::from_second(1_000_000).unwrap(),
            )),
            ..Default::default()
        }]);
        pod
    }

    #[test]
    fn the_same_failure_is_reported_once() {
        let pod = with_condition("False", REASON_UNSCHEDULABLE, "0/1 nodes are available:");
        assert!(already_reported(
            &pod,
            REASON_UNSCHEDULABLE,
            "0/1 nodes are available:",
            None
        ));
        assert!(!already_reported(
            &pod,
            REASON_UNSCHEDULABLE,
            "0/2 nodes are available:",
            None
        ));
        assert!(!already_reported(
            &pod,
            REASON_UNSCHEDULABLE,
            "0/1 nodes are available:",
            Some("n1")
        ));
        assert!(!already_reported(
            &pod_with(vec![], vec![]),
            REASON_UNSCHEDULABLE,
            "x",
            None
        ));
    }

    #[test]
    fn transition_time_is_kept_while_false() {
        let pod = with_condition("False", REASON_UNSCHEDULABLE, "old");
        let patch = unscheduled_patch(
            &pod,
            REASON_UNSCHEDULABLE,
            "new",
            "2030-01-01T00:00:00Z",
            None,
        );
        let c = &patch["status"]["conditions"][0];
        assert_eq!(c["message"], "new");
        assert_eq!(c["lastTransitionTime"], "1970-01-12T13:46:40Z");
        assert!(patch["status"].get("nominatedNodeName").is_none());

        let fresh = unscheduled_patch(
            &pod_with(vec![], vec![]),
            REASON_SCHEDULING_GATED,
            MESSAGE_SCHEDULING_GATED,
            "2030-01-01T00:00:00Z",
            Some("n1"),
        );
        assert_eq!(
            fresh["status"]["conditions"][0]["lastTransitionTime"],
            "2030-01-01T00:00:00Z"
        );
        assert_eq!(fresh["status"]["nominatedNodeName"], "n1");
    }

    #[test]
    fn disruption_names_the_scheduler() {
        let patch = disruption_patch("default-scheduler", "2030-01-01T00:00:00Z");
        let c = &patch["status"]["conditions"][0];
        assert_eq!(c["type"], "DisruptionTarget");
        assert_eq!(c["reason"], "PreemptionByScheduler");
        assert_eq!(
            c["message"],
            "default-scheduler: preempting to accommodate a higher priority pod"
        );
    }
}
