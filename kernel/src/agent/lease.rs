//! The node's Lease in `kube-node-lease`, kubelet's cheap heartbeat: renewed every
//! [`RENEW_INTERVAL`], valid for [`LEASE_DURATION_SECONDS`], owned by the Node (so it goes
//! when the Node does).

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};

/// The namespace of node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How long a renewal holds (kubelet's `nodeLeaseDurationSeconds`).
pub const LEASE_DURATION_SECONDS: i32 = 40;
/// How often the lease is renewed (kubelet: a quarter of the duration, 10 s).
pub const RENEW_INTERVAL: Duration = Duration::from_secs(10);

/// `current` (or a new Lease) held by `node` and renewed at `now`, owned by `node`.
pub fn renewed(current: Option<&Lease>, node: &Node, now: MicroTime) -> Lease {
    let name = node.metadata.name.clone().unwrap_or_default();
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(LEASE_NAMESPACE.to_string()),
            ..Default::default()
        },
        spec: None,
    });
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(name.clone());
    spec.lease_duration_seconds = Some(LEASE_DURATION_SECONDS);
    spec.renew_time = Some(now);
    if let Some(uid) = &node.metadata.uid {
        lease.metadata.owner_references = Some(vec![OwnerReference {
            api_version: "v1".to_string(),
            kind: "Node".to_string(),
            name,
            uid: uid.clone(),
            ..Default::default()
        }]);
    }
    lease
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn node(uid: &str) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("pi-1".into()),
                uid: Some(uid.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_renewal_moves_the_time_and_follows_the_node() {
        let t1 = MicroTime(Timestamp::from_second(100).unwrap());
        let t2 = MicroTime(Timestamp::from_second(110).unwrap());
        let first = renewed(None, &node("u1"), t1.clone());
        assert_eq!(first.metadata.namespace.as_deref(), Some(LEASE_NAMESPACE));
        let spec = first.spec.clone().unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("pi-1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
        assert_eq!(spec.renew_time, Some(t1));
        let owner = &first.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Node", "u1"));

        // The node was re-created: the lease follows its new uid.
        let second = renewed(Some(&first), &node("u2"), t2.clone());
        assert_eq!(second.spec.unwrap().renew_time, Some(t2));
        assert_eq!(second.metadata.owner_references.unwrap()[0].uid, "u2");
    }
}
