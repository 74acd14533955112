//! The RBAC policy in memory: every Role, ClusterRole and binding, with the bindings indexed
//! by the users and groups they name, so one authorization is a few hash lookups and never a
//! store read. Kept current by informers (see [`super::Authorizer::start`]).

use std::collections::{BTreeSet, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, Subject};
use kmicro_apimachinery::rbac::{Rule, SubjectKey, subject};
use serde_json::Value;

use super::quote;
use crate::informer::Change;

/// The four RBAC resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyKind {
    /// `roles`
    Role,
    /// `clusterroles`
    ClusterRole,
    /// `rolebindings`
    RoleBinding,
    /// `clusterrolebindings`
    ClusterRoleBinding,
}

impl PolicyKind {
    /// All four, in the order they are fed.
    pub(crate) const ALL: [PolicyKind; 4] = [
        PolicyKind::ClusterRole,
        PolicyKind::Role,
        PolicyKind::ClusterRoleBinding,
        PolicyKind::RoleBinding,
    ];

    /// The resource's plural name.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            PolicyKind::Role => "roles",
            PolicyKind::ClusterRole => "clusterroles",
            PolicyKind::RoleBinding => "rolebindings",
            PolicyKind::ClusterRoleBinding => "clusterrolebindings",
        }
    }
}

/// A ClusterRole: its evaluated rules, and the object itself (for aggregation).
pub(crate) struct ClusterRoleEntry {
    /// The object.
    pub(crate) role: ClusterRole,
    /// Its rules, ready to evaluate.
    pub(crate) rules: Vec<Rule>,
}

/// A binding, reduced to what authorization needs.
pub(crate) struct Binding {
    /// Its name.
    name: String,
    /// The namespace ("" for a ClusterRoleBinding).
    namespace: String,
    /// `Role` or `ClusterRole`.
    role_is_cluster: bool,
    /// The role's name.
    role_name: String,
    /// Who it names, each with kube's description (`ServiceAccount "sa/ns"`).
    subjects: Vec<(SubjectKey, String)>,
}

impl Binding {
    /// kube's description of why this binding allowed a request by `user` in `groups`:
    /// `RoleBinding "b/ns" of ClusterRole "edit" to User "bob"`.
    pub(crate) fn describe(&self, user: &str, groups: &[String]) -> String {
        let subject = self
            .subjects
            .iter()
            .find(|(key, _)| match key {
                SubjectKey::User(name) => name == user,
                SubjectKey::Group(name) => groups.contains(name),
            })
            .map(|(_, d)| d.as_str())
            .unwrap_or("");
        let (kind, name) = if self.namespace.is_empty() {
            ("ClusterRoleBinding", self.name.clone())
        } else {
            ("RoleBinding", format!("{}/{}", self.name, self.namespace))
        };
        let role_kind = if self.role_is_cluster {
            "ClusterRole"
        } else {
            "Role"
        };
        format!(
            "{kind} {} of {role_kind} {} to {subject}",
            quote(&name),
            quote(&self.role_name)
        )
    }
}

/// Bindings by the user and group names they apply to (values are binding keys).
#[derive(Default)]
struct BySubject {
    users: HashMap<String, BTreeSet<String>>,
    groups: HashMap<String, BTreeSet<String>>,
}

impl BySubject {
    fn map<'a>(
        &'a mut self,
        key: &'a SubjectKey,
    ) -> (&'a mut HashMap<String, BTreeSet<String>>, &'a str) {
        match key {
            SubjectKey::User(name) => (&mut self.users, name),
            SubjectKey::Group(name) => (&mut self.groups, name),
        }
    }

    fn insert(&mut self, subject: &SubjectKey, binding: &str) {
        let (map, name) = self.map(subject);
        map.entry(name.to_string())
            .or_default()
            .insert(binding.to_string());
    }

    fn remove(&mut self, subject: &SubjectKey, binding: &str) {
        let (map, name) = self.map(subject);
        if let Some(set) = map.get_mut(name) {
            set.remove(binding);
            if set.is_empty() {
                map.remove(name);
            }
        }
    }

    /// The bindings naming `user` or one of `groups`.
    fn of<'a>(&'a self, user: &str, groups: &'a [String]) -> impl Iterator<Item = &'a String> {
        self.users
            .get(user)
            .into_iter()
            .chain(groups.iter().filter_map(|g| self.groups.get(g)))
            .flatten()
    }
}

/// The whole policy.
#[derive(Default)]
pub(crate) struct PolicyIndex {
    cluster_roles: HashMap<String, ClusterRoleEntry>,
    /// By namespace, then name.
    roles: HashMap<String, HashMap<String, Vec<Rule>>>,
    /// By storage key.
    bindings: HashMap<String, Binding>,
    cluster_subjects: BySubject,
    namespace_subjects: HashMap<String, BySubject>,
}

impl PolicyIndex {
    /// Applies one informer change of `kind`.
    pub(crate) fn apply(&mut self, kind: PolicyKind, change: Change) {
        match change {
            Change::Reset(objects) => {
                self.clear(kind);
                for (key, obj) in objects {
                    self.put(kind, key, obj);
                }
            }
            Change::Put(key, obj) => self.put(kind, key, obj),
            Change::Delete(key) => self.delete(kind, &key),
        }
    }

    fn clear(&mut self, kind: PolicyKind) {
        match kind {
            PolicyKind::ClusterRole => self.cluster_roles.clear(),
            PolicyKind::Role => self.roles.clear(),
            PolicyKind::RoleBinding | PolicyKind::ClusterRoleBinding => {
                let cluster = kind == PolicyKind::ClusterRoleBinding;
                let keys: Vec<String> = self
                    .bindings
                    .iter()
                    .filter(|(_, b)| b.namespace.is_empty() == cluster)
                    .map(|(k, _)| k.clone())
                    .collect();
                for key in keys {
                    self.remove_binding(&key);
                }
            }
        }
    }

    fn put(&mut self, kind: PolicyKind, key: String, obj: Value) {
        match kind {
            PolicyKind::ClusterRole => {
                let Ok(role) = serde_json::from_value::<ClusterRole>(obj) else {
                    return;
                };
                let rules = role.rules.iter().flatten().map(Rule::from).collect();
                let name = role.metadata.name.clone().unwrap_or_default();
                self.cluster_roles
                    .insert(name, ClusterRoleEntry { role, rules });
            }
            PolicyKind::Role => {
                let Ok(role) = serde_json::from_value::<Role>(obj) else {
                    return;
                };
                let rules = role.rules.iter().flatten().map(Rule::from).collect();
                self.roles
                    .entry(role.metadata.namespace.unwrap_or_default())
                    .or_default()
                    .insert(role.metadata.name.unwrap_or_default(), rules);
            }
            PolicyKind::RoleBinding => {
                let Ok(b) = serde_json::from_value::<RoleBinding>(obj) else {
                    return;
                };
                let ns = b.metadata.namespace.unwrap_or_default();
                let binding = Binding {
                    name: b.metadata.name.unwrap_or_default(),
                    subjects: keys(b.subjects.as_deref(), &ns),
                    namespace: ns,
                    role_is_cluster: b.role_ref.kind == "ClusterRole",
                    role_name: b.role_ref.name,
                };
                self.insert_binding(key, binding);
            }
            PolicyKind::ClusterRoleBinding => {
                let Ok(b) = serde_json::from_value::<ClusterRoleBinding>(obj) else {
                    return;
                };
                let binding = Binding {
                    name: b.metadata.name.unwrap_or_default(),
                    subjects: keys(b.subjects.as_deref(), ""),
                    namespace: String::new(),
                    role_is_cluster: true,
                    role_name: b.role_ref.name,
                };
                self.insert_binding(key, binding);
            }
        }
    }

    fn delete(&mut self, kind: PolicyKind, key: &str) {
        match kind {
            PolicyKind::ClusterRole => {
                let name = key.rsplit('/').next().unwrap_or("");
                self.cluster_roles.remove(name);
            }
            PolicyKind::Role => {
                let mut parts = key.rsplitn(3, '/');
                let (name, ns) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                if let Some(roles) = self.roles.get_mut(ns) {
                    roles.remove(name);
                    if roles.is_empty() {
                        self.roles.remove(ns);
                    }
                }
            }
            PolicyKind::RoleBinding | PolicyKind::ClusterRoleBinding => self.remove_binding(key),
        }
    }

    fn insert_binding(&mut self, key: String, binding: Binding) {
        self.remove_binding(&key);
        let index = if binding.namespace.is_empty() {
            &mut self.cluster_subjects
        } else {
            self.namespace_subjects
                .entry(binding.namespace.clone())
                .or_default()
        };
        for (subject, _) in &binding.subjects {
            index.insert(subject, &key);
        }
        self.bindings.insert(key, binding);
    }

    fn remove_binding(&mut self, key: &str) {
        let Some(old) = self.bindings.remove(key) else {
            return;
        };
        let index = if old.namespace.is_empty() {
            Some(&mut self.cluster_subjects)
        } else {
            self.namespace_subjects.get_mut(&old.namespace)
        };
        if let Some(index) = index {
            for (subject, _) in &old.subjects {
                index.remove(subject, key);
            }
        }
    }

    /// Calls `visit` with every rule that applies to `user` (in `groups`) in `namespace`
    /// ("" for cluster-scope requests: ClusterRoleBindings only), ClusterRoleBindings first,
    /// until `visit` returns true. Returns the binding whose rule made `visit` stop, if one
    /// did, and the errors of bindings naming roles that do not exist.
    pub(crate) fn visit(
        &self,
        user: &str,
        groups: &[String],
        namespace: &str,
        visit: &mut dyn FnMut(&Rule) -> bool,
    ) -> (Option<&Binding>, Vec<String>) {
        let mut missing = Vec::new();
        let namespaced = (!namespace.is_empty())
            .then(|| self.namespace_subjects.get(namespace))
            .flatten();
        let binding_keys = self
            .cluster_subjects
            .of(user, groups)
            .chain(namespaced.into_iter().flat_map(|i| i.of(user, groups)));
        for key in binding_keys {
            let Some(binding) = self.bindings.get(key) else {
                continue;
            };
            let rules = if binding.role_is_cluster {
                self.cluster_roles.get(&binding.role_name).map(|e| &e.rules)
            } else {
                self.roles
                    .get(&binding.namespace)
                    .and_then(|roles| roles.get(&binding.role_name))
            };
            match rules {
                Some(rules) => {
                    if rules.iter().any(&mut *visit) {
                        return (Some(binding), missing);
                    }
                }
                None => missing.push(format!(
                    "{}.rbac.authorization.k8s.io {} not found",
                    if binding.role_is_cluster {
                        "clusterrole"
                    } else {
                        "role"
                    },
                    quote(&binding.role_name)
                )),
            }
        }
        (None, missing)
    }

    /// The rules of a ClusterRole (`namespace` unused) or of a Role in `namespace`.
    pub(crate) fn role_rules(&self, cluster: bool, namespace: &str, name: &str) -> Option<&[Rule]> {
        if cluster {
            self.cluster_roles.get(name).map(|e| e.rules.as_slice())
        } else {
            self.roles
                .get(namespace)
                .and_then(|roles| roles.get(name))
                .map(Vec::as_slice)
        }
    }

    /// Every ClusterRole (for aggregation).
    pub(crate) fn cluster_roles(&self) -> impl Iterator<Item = &ClusterRoleEntry> {
        self.cluster_roles.values()
    }
}

/// The keys of a binding's subjects with kube's descriptions of them.
fn keys(subjects: Option<&[Subject]>, namespace: &str) -> Vec<(SubjectKey, String)> {
    subjects
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            let key = subject::key(s, namespace)?;
            let described = match s.kind.as_str() {
                "ServiceAccount" => {
                    let ns = s
                        .namespace
                        .as_deref()
                        .filter(|n| !n.is_empty())
                        .unwrap_or(namespace);
                    format!("ServiceAccount {}", quote(&format!("{}/{ns}", s.name)))
                }
                kind => format!("{kind} {}", quote(&s.name)),
            };
            Some((key, described))
        })
        .collect()
}
