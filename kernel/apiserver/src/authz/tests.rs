//! Decisions over a policy fed by hand, and what one costs.

use std::time::Instant;

use kmicro_apimachinery::rbac::{NonResourceAction, ResourceAction, policy};
use serde_json::{Value, json};

use super::*;
use crate::informer::Change;

fn authorizer() -> Authorizer {
    Authorizer {
        index: RwLock::new(PolicyIndex::default()),
        synced: AtomicU8::new(0),
        synced_changed: Notify::new(),
        cluster_roles_changed: Arc::new(Notify::new()),
    }
}

fn key(plural: &str, ns: &str, name: &str) -> String {
    if ns.is_empty() {
        format!("/registry/rbac.authorization.k8s.io/{plural}/{name}")
    } else {
        format!("/registry/rbac.authorization.k8s.io/{plural}/{ns}/{name}")
    }
}

/// Loads the bootstrap policy plus `extra` objects of each kind.
fn load(a: &Authorizer, extra: Vec<(PolicyKind, String, Value)>) {
    let mut index = a.index.write().unwrap();
    let roles = policy::cluster_roles()
        .into_iter()
        .map(|r| {
            let name = r.metadata.name.clone().unwrap();
            (
                key("clusterroles", "", &name),
                serde_json::to_value(r).unwrap(),
            )
        })
        .collect();
    index.apply(PolicyKind::ClusterRole, Change::Reset(roles));
    let bindings = policy::cluster_role_bindings()
        .into_iter()
        .map(|b| {
            let name = b.metadata.name.clone().unwrap();
            (
                key("clusterrolebindings", "", &name),
                serde_json::to_value(b).unwrap(),
            )
        })
        .collect();
    index.apply(PolicyKind::ClusterRoleBinding, Change::Reset(bindings));
    for (kind, k, obj) in extra {
        index.apply(kind, Change::Put(k, obj));
    }
}

fn role(ns: &str, name: &str, resources: &[&str], verbs: &[&str]) -> (PolicyKind, String, Value) {
    (
        PolicyKind::Role,
        key("roles", ns, name),
        json!({"metadata": {"name": name, "namespace": ns},
               "rules": [{"apiGroups": [""], "resources": resources, "verbs": verbs}]}),
    )
}

fn binding(
    ns: &str,
    name: &str,
    role_kind: &str,
    role: &str,
    subjects: Value,
) -> (PolicyKind, String, Value) {
    (
        PolicyKind::RoleBinding,
        key("rolebindings", ns, name),
        json!({"metadata": {"name": name, "namespace": ns},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
               "subjects": subjects}),
    )
}

fn sa_user(ns: &str, name: &str) -> User {
    let mut groups = kmicro_apimachinery::rbac::subject::service_account_groups(ns);
    groups.push("system:authenticated".into());
    User {
        name: format!("system:serviceaccount:{ns}:{name}"),
        groups,
        ..User::default()
    }
}

fn res(verb: &str, ns: &str, resource: &str) -> Action {
    Action::Resource(ResourceAction {
        verb: verb.into(),
        namespace: ns.into(),
        resource: resource.into(),
        ..Default::default()
    })
}

#[test]
fn bindings_grant_in_their_namespace_only() {
    let a = authorizer();
    load(
        &a,
        vec![
            role("team", "reader", &["pods"], &["get", "list"]),
            binding(
                "team",
                "b",
                "Role",
                "reader",
                json!([{"kind": "ServiceAccount", "name": "ci"}]),
            ),
        ],
    );
    let ci = sa_user("team", "ci");
    assert!(a.decide(&ci, &res("list", "team", "pods")).allowed);
    assert!(!a.decide(&ci, &res("list", "other", "pods")).allowed);
    assert!(!a.decide(&ci, &res("delete", "team", "pods")).allowed);
    let err = a
        .authorize(&ci, &res("list", "team", "secrets"))
        .unwrap_err();
    assert_eq!(
        err.message,
        "secrets is forbidden: User \"system:serviceaccount:team:ci\" cannot list resource \"secrets\" in API group \"\" in the namespace \"team\""
    );
    // Discovery comes from the default policy; masters need no binding at all.
    let discovery = Action::NonResource(NonResourceAction {
        verb: "get".into(),
        path: "/apis/apps/v1".into(),
    });
    assert!(a.decide(&ci, &discovery).allowed);
    let masters = User::new("root".into(), vec![MASTERS.into()]);
    assert!(a.decide(&masters, &res("delete", "", "nodes")).allowed);
    // A binding is gone once its delete is applied.
    a.index.write().unwrap().apply(
        PolicyKind::RoleBinding,
        Change::Delete(key("rolebindings", "team", "b")),
    );
    assert!(!a.decide(&ci, &res("list", "team", "pods")).allowed);
}

#[test]
fn missing_roles_are_reported_and_allowed_reasons_name_the_binding() {
    let a = authorizer();
    load(
        &a,
        vec![
            binding(
                "team",
                "ghost",
                "ClusterRole",
                "nope",
                json!([{"kind": "User", "name": "ann"}]),
            ),
            binding(
                "team",
                "viewers",
                "ClusterRole",
                "cluster-admin",
                json!([{"kind": "Group", "name": "devs"}]),
            ),
        ],
    );
    let ann = User::new("ann".into(), vec![]);
    let d = a.decide(&ann, &res("get", "team", "pods"));
    assert!(!d.allowed);
    assert_eq!(
        d.evaluation_error,
        "RBAC: clusterrole.rbac.authorization.k8s.io \"nope\" not found"
    );
    let err = a.authorize(&ann, &res("get", "team", "pods")).unwrap_err();
    assert!(
        err.message
            .ends_with(": RBAC: clusterrole.rbac.authorization.k8s.io \"nope\" not found")
    );
    let dev = User::new("dan".into(), vec!["devs".into()]);
    let d = a.decide(&dev, &res("delete", "team", "pods"));
    assert_eq!(
        d.reason,
        "RBAC: allowed by RoleBinding \"viewers/team\" of ClusterRole \"cluster-admin\" to Group \"devs\""
    );
}

/// The cost of one decision with a policy of 500 namespaces, each with 2 roles and 4
/// bindings, on top of the default policy. Run with `--nocapture` to see the numbers.
#[test]
fn decisions_cost_microseconds() {
    let a = authorizer();
    let mut extra = Vec::new();
    for n in 0..500 {
        let ns = format!("ns-{n}");
        extra.push(role(
            &ns,
            "reader",
            &["pods", "pods/log", "configmaps"],
            &["get", "list", "watch"],
        ));
        extra.push(role(&ns, "writer", &["configmaps", "secrets"], &["*"]));
        for (i, r) in ["reader", "writer", "reader", "writer"].iter().enumerate() {
            extra.push(binding(
                &ns,
                &format!("b{i}"),
                "Role",
                r,
                json!([{"kind": "ServiceAccount", "name": format!("sa-{i}")}, {"kind": "User", "name": format!("user-{n}-{i}")}]),
            ));
        }
    }
    load(&a, extra);
    let cases = [
        (
            "allowed (namespace binding)",
            sa_user("ns-250", "sa-0"),
            res("list", "ns-250", "pods"),
        ),
        (
            "denied",
            sa_user("ns-250", "sa-0"),
            res("delete", "ns-250", "pods"),
        ),
        (
            "discovery (cluster binding)",
            sa_user("ns-250", "sa-0"),
            Action::NonResource(NonResourceAction {
                verb: "get".into(),
                path: "/apis/apps/v1".into(),
            }),
        ),
    ];
    const N: u32 = 100_000;
    for (what, user, action) in &cases {
        let started = Instant::now();
        let mut allowed = 0u32;
        for _ in 0..N {
            allowed += u32::from(a.authorize(user, action).is_ok());
        }
        let per = started.elapsed() / N;
        println!("authorizer: {what}: {per:?} per decision");
        assert!(allowed == 0 || allowed == N);
        // Generous: a decision is a few hash lookups, microseconds even unoptimised.
        assert!(
            per < std::time::Duration::from_micros(200),
            "{what}: {per:?}"
        );
    }
}
