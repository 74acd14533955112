//! ServiceAccount defaults: every active namespace has a `default` ServiceAccount, created
//! when the namespace appears and again whenever it is deleted (kube's serviceaccounts
//! controller). Keys are the namespace's name (key namespace empty).

use kmicro_module_sdk::k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kmicro_module_sdk::{Action, Api, Error, Key, ResourceExt, Rule, info};

use crate::caches::Caches;

/// The key kind of this controller.
pub const KIND: &str = "serviceaccount";
/// The name of every namespace's default account.
pub const DEFAULT: &str = "default";

/// The API access the controller needs.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(&[""], &["namespaces"], &["get", "list", "watch"]),
        Rule::new(
            &[""],
            &["serviceaccounts"],
            &["get", "list", "watch", "create"],
        ),
    ]
}

/// A namespace that may need its account: every one that is not going away.
pub fn keys_for_namespace(ns: &Namespace) -> Vec<Key> {
    if is_active(ns) {
        vec![Key::new(KIND, "", ns.name_any())]
    } else {
        Vec::new()
    }
}

/// The default account changed or went: its namespace is looked at again.
pub fn keys_for_service_account(sa: &ServiceAccount) -> Vec<Key> {
    if sa.name_any() == DEFAULT {
        vec![Key::new(KIND, "", sa.namespace_any())]
    } else {
        Vec::new()
    }
}

/// Whether a namespace takes new content: not being deleted nor Terminating.
pub fn is_active(ns: &Namespace) -> bool {
    !ns.is_deleting() && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating")
}

/// Whether the default account must be created in `ns` (none: the namespace is gone).
pub fn needs_default(ns: Option<&Namespace>, has_default: bool) -> bool {
    ns.is_some_and(is_active) && !has_default
}

/// The default account of namespace `namespace`.
pub fn default_account(namespace: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT.to_string()),
            namespace: Some(namespace.to_string()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    }
}

/// Creates the default account of the namespace named by `key` if it lacks one.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let namespace = key.name.as_str();
    let ns = caches.namespaces.get("", namespace);
    let has_default = caches.service_accounts.get(namespace, DEFAULT).is_some();
    if !needs_default(ns.as_deref(), has_default) {
        return Ok(Action::Done);
    }
    match Api::<ServiceAccount>::namespaced(namespace).create(&default_account(namespace)) {
        Ok(created) => {
            info!("created the default service account of namespace {namespace}");
            caches.service_accounts.record(created);
            Ok(Action::Done)
        }
        // Already there (the watch lags), or the namespace started terminating meanwhile.
        Err(Error::Api(e)) if e.is_already_exists() || e.is_forbidden() || e.is_not_found() => {
            Ok(Action::Done)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::NamespaceStatus;
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn namespace(name: &str, phase: &str) -> Namespace {
        Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            status: Some(NamespaceStatus {
                phase: Some(phase.into()),
                ..NamespaceStatus::default()
            }),
            ..Namespace::default()
        }
    }

    #[test]
    fn active_namespaces_without_a_default_account_get_one() {
        let ns = namespace("team", "Active");
        assert!(needs_default(Some(&ns), false));
        assert!(!needs_default(Some(&ns), true));
        assert!(!needs_default(None, false));
        assert_eq!(keys_for_namespace(&ns), vec![Key::new(KIND, "", "team")]);
    }

    #[test]
    fn terminating_namespaces_get_none() {
        let ns = namespace("team", "Terminating");
        assert!(!needs_default(Some(&ns), false));
        let mut deleting = namespace("team", "Active");
        deleting.metadata.deletion_timestamp = Some(Time(kmicro_module_sdk::time::timestamp(1)));
        assert!(!needs_default(Some(&deleting), false));
        assert!(keys_for_namespace(&deleting).is_empty());
    }

    #[test]
    fn only_the_default_account_queues_its_namespace() {
        let mut sa = default_account("team");
        assert_eq!(
            keys_for_service_account(&sa),
            vec![Key::new(KIND, "", "team")]
        );
        sa.metadata.name = Some("builder".into());
        assert!(keys_for_service_account(&sa).is_empty());
    }
}
