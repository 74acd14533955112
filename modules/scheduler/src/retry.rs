//! When pods that did not fit are tried again: after a back-off of their own, and at once
//! when a node changes in a way that matters to scheduling or a pod leaves a node.

use std::collections::BTreeMap;

use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, Pod};
use kmicro_module_sdk::serde_json::json;
use kmicro_module_sdk::{ObjectRef, ResourceExt};

use crate::node_info::occupies_node;

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

/// The pods seen holding room on a node, by uid: tells when room is freed.
#[derive(Debug, Default)]
pub struct Occupancy {
    held: BTreeMap<ObjectRef, String>,
}

impl Occupancy {
    /// Notes the pod at `at` as it is now (none: gone); answers whether it stopped holding
    /// room (deleted, finished, or replaced by a pod of another uid).
    pub fn update(&mut self, at: &ObjectRef, pod: Option<&Pod>) -> bool {
        let now = pod
            .filter(|p| occupies_node(p).is_some())
            .map(|p| p.uid_any().to_string());
        let before = match &now {
            Some(uid) => self.held.insert(at.clone(), uid.clone()),
            None => self.held.remove(at),
        };
        before.is_some() && before != now
    }
}

/// The nodes' shapes as last seen: tells when a node appeared or changed what the filters
/// read.
#[derive(Debug, Default)]
pub struct NodeShapes {
    held: BTreeMap<String, String>,
}

impl NodeShapes {
    /// Notes node `name` as it is now (none: gone); answers whether it is new or its shape
    /// changed.
    pub fn update(&mut self, name: &str, node: Option<&Node>) -> bool {
        match node {
            Some(node) => {
                let shape = node_shape(node);
                let changed = self.held.get(name) != Some(&shape);
                if changed {
                    self.held.insert(name.to_string(), shape);
                }
                changed
            }
            None => {
                self.held.remove(name);
                false
            }
        }
    }
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

#[cfg(test)]
mod bookkeeping {
    use super::*;
    use crate::testing::{assigned, node, pod_with, taint};

    #[test]
    fn room_is_freed_when_a_placed_pod_goes_finishes_or_is_replaced() {
        let mut occupancy = Occupancy::default();
        let pending = pod_with(vec![], vec![]);
        let at = ObjectRef::of(&pending);
        assert!(!occupancy.update(&at, Some(&pending)));
        let running = assigned(pending.clone(), "n1");
        assert!(!occupancy.update(&at, Some(&running)));
        assert!(!occupancy.update(&at, Some(&running)));
        assert!(occupancy.update(&at, None));
        assert!(!occupancy.update(&at, None));

        assert!(!occupancy.update(&at, Some(&running)));
        let mut done = running.clone();
        done.status.get_or_insert_default().phase = Some("Succeeded".into());
        assert!(occupancy.update(&at, Some(&done)));

        assert!(!occupancy.update(&at, Some(&running)));
        let mut replaced = running.clone();
        replaced.metadata.uid = Some("another".into());
        assert!(occupancy.update(&at, Some(&replaced)));
    }

    #[test]
    fn only_new_or_reshaped_nodes_count() {
        let mut shapes = NodeShapes::default();
        let n = node("n1", "1", "1Gi");
        assert!(shapes.update("n1", Some(&n)));
        assert!(!shapes.update("n1", Some(&n)));
        let mut tainted = n.clone();
        tainted.spec.get_or_insert_default().taints = Some(vec![taint("x", "", "NoSchedule")]);
        assert!(shapes.update("n1", Some(&tainted)));
        assert!(!shapes.update("n1", None));
        assert!(shapes.update("n1", Some(&tainted)));
    }
}
