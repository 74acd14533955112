//! When pods that did not fit are tried again: after a back-off of their own, and at once
//! when a node changes in a way that matters to scheduling or a pod leaves a node.

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::Node;
use kmicro_module_sdk::serde_json::json;

/// First retry delay of a pod that did not fit.
const INITIAL_BACKOFF_MS: u64 = 1_000;
/// Longest delay between retries: the periodic fallback when nothing else wakes a pod.
pub const MAX_BACKOFF_MS: u64 = 60_000;

/// The delay before retry number `attempts` (1 s doubling to 60 s).
pub fn backoff_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    INITIAL_BACKOFF_MS
        .saturating_mul(1 << doublings)
        .min(MAX_BACKOFF_MS)
}

/// What of a node the filters read: labels, taints, cordon, allocatable. Heartbeats and
/// other status changes leave it the same, so they wake no pod.
pub fn node_shape(node: &Node) -> String {
    let spec = node.spec.as_ref();
    json!({
        "labels": node.labels(),
        "taints": spec.and_then(|s| s.taints.as_ref()),
        "unschedulable": spec.and_then(|s| s.unschedulable),
        "allocatable": node.status.as_ref().and_then(|s| s.allocatable.as_ref()),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node, taint};
    use kmicro_module_sdk::k8s_openapi::api::core::v1::NodeCondition;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let delays: Vec<u64> = (1..=8).map(backoff_ms).collect();
        assert_eq!(
            delays,
            vec![1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(backoff_ms(0), 1_000);
        assert_eq!(backoff_ms(u32::MAX), 60_000);
    }

    #[test]
    fn heartbeats_do_not_change_the_shape_but_taints_do() {
        let n = node("n1", "1", "1Gi");
        let mut beat = n.clone();
        beat.status.get_or_insert_default().conditions = Some(vec![NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..Default::default()
        }]);
        assert_eq!(node_shape(&n), node_shape(&beat));
        let mut tainted = n.clone();
        tainted.spec.get_or_insert_default().taints = Some(vec![taint("x", "", "NoSchedule")]);
        assert_ne!(node_shape(&n), node_shape(&tainted));
        let mut cordoned = n.clone();
        cordoned.spec.get_or_insert_default().unschedulable = Some(true);
        assert_ne!(node_shape(&n), node_shape(&cordoned));
    }
}
