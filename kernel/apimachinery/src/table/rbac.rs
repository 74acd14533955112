//! `rbac.authorization.k8s.io`: roles print their creation time; bindings print the role and,
//! in `-o wide`, who they bind.

use serde_json::Value;

use super::util::{age, arr_at, name, str_at};
use super::{AGE, Column, NAME, Printer, docs};

/// The printer of an RBAC resource.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    Some(match plural {
        "roles" | "clusterroles" => &ROLE,
        "rolebindings" | "clusterrolebindings" => &BINDING,
        _ => return None,
    })
}

/// Roles and cluster roles: the name and the creation time in RFC 3339, UTC.
static ROLE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Created At", "date", docs::CREATION_TIMESTAMP),
    ],
    |o, _| {
        let created = super::util::time(o, &["metadata", "creationTimestamp"])
            .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        vec![name(o), created.into()]
    },
);

/// Role bindings and cluster role bindings (kube prints both with the RoleBinding columns).
static BINDING: Printer = Printer::new(
    &[
        NAME,
        Column::new("Role", "string", docs::ROLE_BINDING_ROLE_REF),
        AGE,
        Column::wide("Users", "string", "Users in the roleBinding"),
        Column::wide("Groups", "string", "Groups in the roleBinding"),
        Column::wide(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the roleBinding",
        ),
    ],
    |o, now| {
        let role = format!(
            "{}/{}",
            str_at(o, &["roleRef", "kind"]),
            str_at(o, &["roleRef", "name"])
        );
        let subjects = Subjects::of(o);
        vec![
            name(o),
            role.into(),
            age(o, now),
            subjects.users.join(", ").into(),
            subjects.groups.join(", ").into(),
            subjects.service_accounts.join(", ").into(),
        ]
    },
);

/// A binding's subjects by kind, as kube's `rbac.SubjectsStrings` lists them.
struct Subjects {
    users: Vec<String>,
    groups: Vec<String>,
    service_accounts: Vec<String>,
}

impl Subjects {
    fn of(binding: &Value) -> Self {
        let mut out = Subjects {
            users: Vec::new(),
            groups: Vec::new(),
            service_accounts: Vec::new(),
        };
        for subject in arr_at(binding, &["subjects"]) {
            let name = str_at(subject, &["name"]).to_string();
            match str_at(subject, &["kind"]) {
                "User" => out.users.push(name),
                "Group" => out.groups.push(name),
                "ServiceAccount" => match str_at(subject, &["namespace"]) {
                    "" => out.service_accounts.push(name),
                    ns => out.service_accounts.push(format!("{ns}/{name}")),
                },
                _ => {}
            }
        }
        out
    }
}
