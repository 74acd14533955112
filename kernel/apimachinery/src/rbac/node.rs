//! What a node's agent may do, as RBAC can say it. kube grants kubelets their access through
//! the Node authorizer and the NodeRestriction admission plugin, which limit each node to its
//! own objects; kmicro has neither, so every node gets a ClusterRole of its own that names its
//! objects (`resourceNames`), and a ClusterRoleBinding of that role to its user
//! `system:node:<name>`. Creates cannot be limited by name (the name is in the body, not the
//! request), so creating Nodes and Leases is granted without one.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::AUTOUPDATE;

/// The prefix of a node's user name (kube's `system:node:<name>`).
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group every node's user is in.
pub const NODES_GROUP: &str = "system:nodes";
/// The label naming the node a role or binding is for.
pub const NODE_LABEL: &str = "kmicro.io/node";

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
const COORDINATION_GROUP: &str = "coordination.k8s.io";

/// The user name of node `node`.
pub fn node_user(node: &str) -> String {
    format!("{NODE_USER_PREFIX}{node}")
}

/// The name of node `node`'s ClusterRole and ClusterRoleBinding.
pub fn node_agent_object_name(node: &str) -> String {
    format!("system:kmicro:node-agent:{node}")
}

/// The ClusterRole of node `node`'s agent: register the Node and report its status, keep its
/// Lease in `kube-node-lease` renewed, run the pods bound to it (read them, their ConfigMaps,
/// the Services their environment names,
/// Secrets and service-account tokens; write their status and events; confirm their
/// deletion), nothing else.
pub fn node_agent_role(node: &str) -> ClusterRole {
    let rule = |verbs: &[&str], group: &str, resource: &str, named: bool| PolicyRule {
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        resource_names: named.then(|| vec![node.to_string()]),
        non_resource_urls: None,
    };
    ClusterRole {
        metadata: meta(node),
        rules: Some(vec![
            rule(&["create"], "", "nodes", false),
            rule(&["get", "update", "patch"], "", "nodes", true),
            rule(&["get", "update", "patch"], "", "nodes/status", true),
            // Pods bound to the node: read them, report their status, and confirm their
            // deletion.
            rule(&["get", "list", "watch", "delete"], "", "pods", false),
            rule(&["get", "update", "patch"], "", "pods/status", false),
            // What its pods' containers need: environment and volumes from ConfigMaps and
            // Secrets, image pull secrets, service-account tokens (kube's Node authorizer
            // limits these to the node's pods' references; RBAC cannot).
            rule(&["get"], "", "configmaps", false),
            rule(&["get"], "", "secrets", false),
            rule(&["get"], "", "serviceaccounts", false),
            // Service environment variables of starting containers (kube's system:node
            // role reads services too).
            rule(&["get", "list", "watch"], "", "services", false),
            rule(&["create"], "", "serviceaccounts/token", false),
            // Events about its pods (Pulling, Started, BackOff, …).
            rule(&["create", "update", "patch"], "", "events", false),
            rule(
                &["create", "update", "patch"],
                "events.k8s.io",
                "events",
                false,
            ),
            rule(&["create"], COORDINATION_GROUP, "leases", false),
            rule(
                &["get", "update", "patch"],
                COORDINATION_GROUP,
                "leases",
                true,
            ),
        ]),
        aggregation_rule: None,
    }
}

/// The ClusterRoleBinding of [`node_agent_role`] to the user `system:node:<node>`.
pub fn node_agent_binding(node: &str) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(node),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.to_string(),
            kind: "ClusterRole".to_string(),
            name: node_agent_object_name(node),
        },
        subjects: Some(vec![Subject {
            api_group: Some(RBAC_GROUP.to_string()),
            kind: "User".to_string(),
            name: node_user(node),
            namespace: None,
        }]),
    }
}

fn meta(node: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(node_agent_object_name(node)),
        labels: Some(BTreeMap::from([(NODE_LABEL.to_string(), node.to_string())])),
        annotations: Some(BTreeMap::from([(
            AUTOUPDATE.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{Action, ResourceAction, Rule};

    fn allows(role: &ClusterRole, verb: &str, group: &str, resource: &str, name: &str) -> bool {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let action = Action::Resource(ResourceAction {
            verb: verb.into(),
            namespace: if resource == "leases" {
                "kube-node-lease".into()
            } else {
                String::new()
            },
            group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
        });
        role.rules
            .iter()
            .flatten()
            .any(|r| Rule::from(r).allows(&action))
    }

    #[test]
    fn a_node_may_write_only_its_own_node_and_lease() {
        let role = node_agent_role("pi-1");
        assert!(allows(&role, "create", "", "nodes", ""));
        assert!(allows(&role, "get", "", "nodes", "pi-1"));
        assert!(allows(&role, "update", "", "nodes/status", "pi-1"));
        assert!(allows(
            &role,
            "update",
            COORDINATION_GROUP,
            "leases",
            "pi-1"
        ));
        assert!(!allows(&role, "update", "", "nodes", "pi-2"));
        assert!(!allows(&role, "update", "", "nodes/status", "pi-2"));
        assert!(!allows(&role, "get", COORDINATION_GROUP, "leases", "pi-2"));
        assert!(!allows(&role, "delete", "", "nodes", "pi-1"));
        assert!(!allows(&role, "list", "", "nodes", ""));
        // Secrets by name, as its pods need them; never a list of them.
        assert!(allows(&role, "get", "", "secrets", "pull-secret"));
        assert!(!allows(&role, "list", "", "secrets", ""));
        assert!(!allows(&role, "delete", "", "secrets", "pull-secret"));
        assert!(allows(&role, "patch", "", "pods/status", "web-0"));
    }

    #[test]
    fn the_binding_names_the_role_and_the_node_user() {
        let binding = node_agent_binding("pi-1");
        let role = node_agent_role("pi-1");
        assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
        let subjects = binding.subjects.unwrap();
        assert_eq!(subjects.len(), 1);
        assert_eq!(
            (subjects[0].kind.as_str(), subjects[0].name.as_str()),
            ("User", "system:node:pi-1")
        );
    }
}
