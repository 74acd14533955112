//! Merging the bootstrap policy into a cluster's roles and bindings at every start, as
//! kube-apiserver's `reconciliation` package does: what is missing is added, what users added
//! is kept, and an object annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` is
//! left alone.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::AUTOUPDATE;
use super::rule::{Rule, covers};

/// What to do with one default object.
#[derive(Clone, Debug, PartialEq)]
pub enum Reconciled<T> {
    /// It is missing: create it.
    Create(T),
    /// It lacks something: write this instead.
    Update(T),
    /// Its `roleRef` differs, which cannot be updated: delete it and create this.
    Recreate(T),
    /// Nothing to do.
    Keep,
}

/// The reconciled form of a default ClusterRole.
pub fn cluster_role(
    existing: Option<&ClusterRole>,
    expected: &ClusterRole,
) -> Reconciled<ClusterRole> {
    let Some(existing) = existing else {
        return Reconciled::Create(expected.clone());
    };
    if opted_out(&existing.metadata) {
        return Reconciled::Keep;
    }
    let mut out = existing.clone();
    merge_meta(&mut out.metadata, &expected.metadata);
    if let Some(want) = &expected.aggregation_rule {
        // Aggregated roles get their rules from the aggregation; only the selectors merge.
        let have = out.aggregation_rule.get_or_insert_with(Default::default);
        let selectors = have.cluster_role_selectors.get_or_insert_with(Vec::new);
        for s in want.cluster_role_selectors.iter().flatten() {
            if !selectors.contains(s) {
                selectors.push(s.clone());
            }
        }
    } else {
        let owned: Vec<Rule> = out.rules.iter().flatten().map(Rule::from).collect();
        let missing: Vec<_> = expected
            .rules
            .iter()
            .flatten()
            .filter(|r| !covers(&owned, &Rule::from(*r)))
            .cloned()
            .collect();
        if !missing.is_empty() {
            out.rules.get_or_insert_with(Vec::new).extend(missing);
        }
    }
    if &out == existing {
        Reconciled::Keep
    } else {
        Reconciled::Update(out)
    }
}

/// The reconciled form of a default ClusterRoleBinding.
pub fn cluster_role_binding(
    existing: Option<&ClusterRoleBinding>,
    expected: &ClusterRoleBinding,
) -> Reconciled<ClusterRoleBinding> {
    let Some(existing) = existing else {
        return Reconciled::Create(expected.clone());
    };
    if opted_out(&existing.metadata) {
        return Reconciled::Keep;
    }
    let mut out = existing.clone();
    merge_meta(&mut out.metadata, &expected.metadata);
    let subjects = out.subjects.get_or_insert_with(Vec::new);
    for s in expected.subjects.iter().flatten() {
        if !subjects
            .iter()
            .any(|have| have.kind == s.kind && have.name == s.name && have.namespace == s.namespace)
        {
            subjects.push(s.clone());
        }
    }
    if out.role_ref != expected.role_ref {
        out.role_ref = expected.role_ref.clone();
        return Reconciled::Recreate(out);
    }
    if &out == existing {
        Reconciled::Keep
    } else {
        Reconciled::Update(out)
    }
}

/// Whether the user turned the reconciliation off for this object.
fn opted_out(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(AUTOUPDATE))
        .is_some_and(|v| v == "false")
}

/// Adds the expected labels and annotations that are missing (existing values win).
fn merge_meta(have: &mut ObjectMeta, want: &ObjectMeta) {
    fn merge(have: &mut Option<BTreeMap<String, String>>, want: &Option<BTreeMap<String, String>>) {
        for (k, v) in want.iter().flatten() {
            have.get_or_insert_with(BTreeMap::new)
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
    }
    merge(&mut have.labels, &want.labels);
    merge(&mut have.annotations, &want.annotations);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::policy;

    fn default_role(name: &str) -> ClusterRole {
        policy::cluster_roles()
            .into_iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .unwrap()
    }

    #[test]
    fn missing_roles_are_created_and_current_ones_kept() {
        let basic = default_role("system:basic-user");
        assert!(matches!(cluster_role(None, &basic), Reconciled::Create(_)));
        assert_eq!(cluster_role(Some(&basic), &basic), Reconciled::Keep);
    }

    #[test]
    fn removed_rules_come_back_and_added_ones_stay() {
        let basic = default_role("system:basic-user");
        let mut changed = basic.clone();
        let mut rules = changed.rules.take().unwrap();
        rules.remove(0);
        rules.push(k8s_openapi::api::rbac::v1::PolicyRule {
            verbs: vec!["get".into()],
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into()]),
            ..Default::default()
        });
        changed.rules = Some(rules);
        let Reconciled::Update(out) = cluster_role(Some(&changed), &basic) else {
            panic!("expected an update");
        };
        let out_rules = out.rules.unwrap();
        assert_eq!(out_rules.len(), 3);
        assert!(
            out_rules
                .iter()
                .any(|r| r.resources.as_deref() == Some(&["pods".to_string()][..]))
        );
    }

    #[test]
    fn autoupdate_false_keeps_the_users_version() {
        let basic = default_role("system:basic-user");
        let mut changed = basic.clone();
        changed.rules = Some(vec![]);
        changed
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(AUTOUPDATE.into(), "false".into());
        assert_eq!(cluster_role(Some(&changed), &basic), Reconciled::Keep);
    }

    #[test]
    fn bindings_regain_subjects_and_a_changed_role_ref_is_recreated() {
        let admin = policy::cluster_role_bindings().remove(0);
        let mut changed = admin.clone();
        changed.subjects = Some(vec![]);
        let Reconciled::Update(out) = cluster_role_binding(Some(&changed), &admin) else {
            panic!("expected an update");
        };
        assert_eq!(out.subjects.unwrap().len(), 1);
        let mut moved = admin.clone();
        moved.role_ref.name = "view".into();
        assert!(matches!(
            cluster_role_binding(Some(&moved), &admin),
            Reconciled::Recreate(_)
        ));
    }
}
