//! Roles and bindings.

use serde_json::json;

use super::{ago, headers, row};

#[test]
fn roles_print_their_creation_time() {
    assert_eq!(
        headers("rbac.authorization.k8s.io", "clusterroles"),
        ["Name", "Created At"]
    );
    let role = json!({"metadata": {"name": "view", "creationTimestamp": "2024-05-06T07:08:09Z"}});
    assert_eq!(
        row("rbac.authorization.k8s.io", "roles", role),
        ["view", "2024-05-06T07:08:09Z"]
    );
}

#[test]
fn bindings_print_the_role_and_their_subjects() {
    assert_eq!(
        headers("rbac.authorization.k8s.io", "clusterrolebindings"),
        ["Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"]
    );
    let binding = json!({
        "metadata": {"name": "b", "creationTimestamp": ago(300)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
        ],
    });
    assert_eq!(
        row("rbac.authorization.k8s.io", "rolebindings", binding),
        [
            "b",
            "ClusterRole/view",
            "5m",
            "alice, bob",
            "devs",
            "tools/ci"
        ]
    );
}
