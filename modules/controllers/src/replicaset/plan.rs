//! How many pods a ReplicaSet creates or deletes, and which (kube's `manageReplicas`).

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;

use crate::workload::{BURST, pods};

/// What a ReplicaSet does to its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manage {
    /// Nothing: as many active pods as replicas.
    Nothing,
    /// Create `count` pods; `more` when a burst limit cut the count.
    Create {
        /// How many.
        count: usize,
        /// Whether more are needed after these.
        more: bool,
    },
    /// Delete these pods; `more` when a burst limit cut the list.
    Delete {
        /// Pod names, in the order to delete.
        names: Vec<String>,
        /// Whether more must go after these.
        more: bool,
    },
}

/// The decision for `replicas` desired and the `active` pods the ReplicaSet controls, ranked
/// against the `related` pods of its owner family (see [`pods::pick_for_deletion`]).
pub fn plan(replicas: i32, active: &[&Pod], related: &[&Pod], now: u64) -> Manage {
    let desired = replicas.max(0) as usize;
    let have = active.len();
    if have < desired {
        let missing = desired - have;
        return Manage::Create {
            count: missing.min(BURST),
            more: missing > BURST,
        };
    }
    if have > desired {
        let excess = have - desired;
        let names = pods::pick_for_deletion(active, related, excess.min(BURST), now)
            .into_iter()
            .map(|p| p.name_any().to_string())
            .collect();
        return Manage::Delete {
            names,
            more: excess > BURST,
        };
    }
    Manage::Nothing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::testing::{at, pod};

    fn refs(pods: &[Pod]) -> Vec<&Pod> {
        pods.iter().collect()
    }

    #[test]
    fn creates_the_missing_pods_within_a_burst() {
        assert_eq!(
            plan(3, &[], &[], 0),
            Manage::Create {
                count: 3,
                more: false
            }
        );
        let one = [pod("a").build()];
        assert_eq!(
            plan(3, &refs(&one), &[], 0),
            Manage::Create {
                count: 2,
                more: false
            }
        );
        assert_eq!(
            plan(1000, &[], &[], 0),
            Manage::Create {
                count: BURST,
                more: true
            }
        );
        assert_eq!(plan(1, &refs(&one), &[], 0), Manage::Nothing);
        assert_eq!(plan(-1, &[], &[], 0), Manage::Nothing);
    }

    #[test]
    fn deletes_the_least_valuable_pods() {
        let pods = [
            pod("ready")
                .node("n1")
                .running_ready(at(1))
                .created(at(0))
                .build(),
            pod("pending")
                .node("n2")
                .phase("Pending")
                .created(at(5))
                .build(),
            pod("unscheduled").phase("Pending").created(at(1)).build(),
        ];
        let all = refs(&pods);
        assert_eq!(
            plan(1, &all, &all, at(100)),
            Manage::Delete {
                names: vec!["unscheduled".into(), "pending".into()],
                more: false
            }
        );
        assert_eq!(
            plan(0, &all, &all, at(100)),
            Manage::Delete {
                names: vec!["ready".into(), "pending".into(), "unscheduled".into()],
                more: false
            }
        );
    }

    #[test]
    fn prefers_pods_doubled_up_with_the_family() {
        // Two of ours, each alone on its node; a sibling ReplicaSet's pod shares n2.
        let ours = [
            pod("a")
                .node("n1")
                .running_ready(at(1))
                .created(at(0))
                .build(),
            pod("b")
                .node("n2")
                .running_ready(at(1))
                .created(at(0))
                .build(),
        ];
        let sibling = pod("s").node("n2").running_ready(at(1)).build();
        let mut related = refs(&ours);
        related.push(&sibling);
        assert_eq!(
            plan(1, &refs(&ours), &related, at(100)),
            Manage::Delete {
                names: vec!["b".into()],
                more: false
            }
        );
    }
}
