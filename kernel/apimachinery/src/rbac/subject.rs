//! Who a binding's subjects name. Every subject becomes a user name or a group name: a
//! ServiceAccount subject is the user `system:serviceaccount:<namespace>:<name>`, so an
//! index keyed by [`SubjectKey`] finds a user's bindings with one lookup per name and group.

use k8s_openapi::api::rbac::v1::Subject;

/// The user-name prefix of service accounts.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// A user or a group a binding applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubjectKey {
    /// A user, by name (service accounts included).
    User(String),
    /// A group, by name.
    Group(String),
}

/// The user name of a service account.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}")
}

/// The namespace and name of a service account user name, if it is one.
pub fn parse_service_account_user(user: &str) -> Option<(&str, &str)> {
    let (ns, name) = user.strip_prefix(SERVICE_ACCOUNT_PREFIX)?.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The groups every service account of `namespace` is in (besides `system:authenticated`).
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".to_string(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

/// Who `subject` names, in a binding in `binding_namespace` ("" for a ClusterRoleBinding),
/// as kube's `appliesToUser` decides: a ServiceAccount without a namespace is in the
/// binding's namespace, and names nobody in a ClusterRoleBinding. Unknown kinds name nobody.
pub fn key(subject: &Subject, binding_namespace: &str) -> Option<SubjectKey> {
    match subject.kind.as_str() {
        "User" => Some(SubjectKey::User(subject.name.clone())),
        "Group" => Some(SubjectKey::Group(subject.name.clone())),
        "ServiceAccount" => {
            let ns = match subject.namespace.as_deref() {
                Some(ns) if !ns.is_empty() => ns,
                _ => binding_namespace,
            };
            (!ns.is_empty()).then(|| SubjectKey::User(service_account_user(ns, &subject.name)))
        }
        _ => None,
    }
}

/// The keys a user with `name` in `groups` is found under.
pub fn keys_of(name: &str, groups: &[String]) -> Vec<SubjectKey> {
    let mut keys = vec![SubjectKey::User(name.to_string())];
    keys.extend(groups.iter().cloned().map(SubjectKey::Group));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(kind: &str, name: &str, ns: Option<&str>) -> Subject {
        Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: ns.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn service_accounts_default_to_the_binding_namespace() {
        assert_eq!(
            key(&subject("ServiceAccount", "sa", None), "team"),
            Some(SubjectKey::User("system:serviceaccount:team:sa".into()))
        );
        assert_eq!(
            key(&subject("ServiceAccount", "sa", Some("other")), "team"),
            Some(SubjectKey::User("system:serviceaccount:other:sa".into()))
        );
        assert_eq!(key(&subject("ServiceAccount", "sa", None), ""), None);
        assert_eq!(
            key(&subject("Group", "devs", None), ""),
            Some(SubjectKey::Group("devs".into()))
        );
        assert_eq!(key(&subject("Robot", "r", None), ""), None);
    }

    #[test]
    fn service_account_user_names_parse_back() {
        let user = service_account_user("default", "builder");
        assert_eq!(
            parse_service_account_user(&user),
            Some(("default", "builder"))
        );
        assert_eq!(parse_service_account_user("system:serviceaccount:x"), None);
        assert_eq!(parse_service_account_user("bob"), None);
    }
}
