//! The node's pod CIDR, no I/O: what the agent writes into `spec.podCIDR`/`podCIDRs` when it
//! registers, and which subnet its pods take addresses from.
//!
//! k3s (through kube-controller-manager's node IPAM) gives each node a /24 of
//! `--cluster-cidr`, the first node the first one: `10.42.0.0/16` → `10.42.0.0/24`. A single
//! node takes that first /24 itself; a cluster CIDR narrower than /24 is the node's whole.
//! Once set, a Node's pod CIDR never changes (the API refuses it), so a node registered
//! earlier keeps its own; it must still lie inside `--cluster-cidr`.

use k8s_openapi::api::core::v1::Node;
use kmicro_network::Ipv4Cidr;

/// The prefix length of a node's pod subnet (kube-controller-manager's
/// `--node-cidr-mask-size` for IPv4).
pub const NODE_MASK_SIZE: u8 = 24;

/// The first node subnet of `cluster_cidr`: its first /24, or all of it when narrower.
pub fn first_node_subnet(cluster_cidr: &Ipv4Cidr) -> Ipv4Cidr {
    let len = cluster_cidr.prefix_len().max(NODE_MASK_SIZE);
    Ipv4Cidr::new(cluster_cidr.network(), len).unwrap_or(*cluster_cidr)
}

/// The IPv4 pod CIDR recorded on `node` (`spec.podCIDRs`, else `spec.podCIDR`), if any.
/// Entries that are not IPv4 networks (an IPv6 family of a dual-stack node) are skipped.
pub fn recorded(node: &Node) -> Option<Ipv4Cidr> {
    let spec = node.spec.as_ref()?;
    spec.pod_cidrs
        .iter()
        .flatten()
        .chain(spec.pod_cidr.iter())
        .find_map(|c| c.parse().ok())
}

/// The subnet this node's pods take addresses from: the one recorded on the Node, else the
/// first of the cluster CIDR. A recorded subnet outside the cluster CIDR is an error (the
/// node was registered with another `--cluster-cidr`).
pub fn node_subnet(node: &Node, cluster_cidr: &Ipv4Cidr) -> Result<Ipv4Cidr, String> {
    match recorded(node) {
        Some(subnet) if cluster_cidr.contains_net(&subnet) => Ok(subnet),
        Some(subnet) => Err(format!(
            "node {} has pod CIDR {subnet}, outside --cluster-cidr {cluster_cidr}: a Node's pod \
             CIDR cannot change; run with the cluster CIDR it was registered under, or delete \
             the Node",
            node.metadata.name.as_deref().unwrap_or("")
        )),
        None => Ok(first_node_subnet(cluster_cidr)),
    }
}

/// `node` with `spec.podCIDR` and `spec.podCIDRs` set to `subnet`, or `None` when it already
/// has a pod CIDR (it is never changed).
pub fn with_pod_cidr(node: &Node, subnet: &Ipv4Cidr) -> Option<Node> {
    let spec = node.spec.as_ref();
    let has = spec.is_some_and(|s| {
        s.pod_cidr.as_deref().is_some_and(|c| !c.is_empty())
            || s.pod_cidrs.as_ref().is_some_and(|c| !c.is_empty())
    });
    if has {
        return None;
    }
    let mut updated = node.clone();
    let spec = updated.spec.get_or_insert_with(Default::default);
    spec.pod_cidr = Some(subnet.to_string());
    spec.pod_cidrs = Some(vec![subnet.to_string()]);
    Some(updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeSpec;

    fn cidr(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    fn node(pod_cidrs: Option<Vec<&str>>) -> Node {
        Node {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some("n1".into()),
                ..Default::default()
            },
            spec: Some(NodeSpec {
                pod_cidr: pod_cidrs
                    .as_ref()
                    .and_then(|c| c.first())
                    .map(|c| c.to_string()),
                pod_cidrs: pod_cidrs.map(|c| c.into_iter().map(String::from).collect()),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn the_first_slash_24_as_k3s() {
        assert_eq!(
            first_node_subnet(&cidr("10.42.0.0/16")),
            cidr("10.42.0.0/24")
        );
        assert_eq!(
            first_node_subnet(&cidr("10.244.7.0/24")),
            cidr("10.244.7.0/24")
        );
        assert_eq!(
            first_node_subnet(&cidr("10.1.2.128/25")),
            cidr("10.1.2.128/25")
        );
        assert_eq!(first_node_subnet(&cidr("10.0.0.0/8")), cidr("10.0.0.0/24"));
    }

    #[test]
    fn a_recorded_pod_cidr_is_kept() {
        let cluster = cidr("10.42.0.0/16");
        assert_eq!(node_subnet(&node(None), &cluster), Ok(cidr("10.42.0.0/24")));
        let registered = node(Some(vec!["10.42.3.0/24", "fd00:42::/64"]));
        assert_eq!(node_subnet(&registered, &cluster), Ok(cidr("10.42.3.0/24")));
        let v6_first = node(Some(vec!["fd00:42::/64", "10.42.5.0/24"]));
        assert_eq!(node_subnet(&v6_first, &cluster), Ok(cidr("10.42.5.0/24")));
        let err = node_subnet(&node(Some(vec!["10.99.0.0/24"])), &cluster).unwrap_err();
        assert!(
            err.contains("10.99.0.0/24") && err.contains("10.42.0.0/16"),
            "{err}"
        );
    }

    #[test]
    fn the_pod_cidr_is_set_once() {
        let set = with_pod_cidr(&node(None), &cidr("10.42.0.0/24")).unwrap();
        let spec = set.spec.unwrap();
        assert_eq!(spec.pod_cidr.as_deref(), Some("10.42.0.0/24"));
        assert_eq!(spec.pod_cidrs, Some(vec!["10.42.0.0/24".to_string()]));
        assert!(with_pod_cidr(&node(Some(vec!["10.42.1.0/24"])), &cidr("10.42.0.0/24")).is_none());
        let no_spec = Node {
            spec: None,
            ..node(None)
        };
        assert!(with_pod_cidr(&no_spec, &cidr("10.42.0.0/24")).is_some());
    }
}
