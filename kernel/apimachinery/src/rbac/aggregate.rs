//! ClusterRole aggregation: a ClusterRole with an `aggregationRule` has the rules of every
//! other ClusterRole its selectors match (kube's clusterrole-aggregation controller).

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};

use crate::rules::selector_matches_labels;

/// The rules `role` should have: for each selector in order, the rules of the matching
/// ClusterRoles (by name, never `role` itself), each rule once. `None` when `role` is not
/// aggregated.
pub fn rules_of(role: &ClusterRole, all: &[&ClusterRole]) -> Option<Vec<PolicyRule>> {
    let selectors = role
        .aggregation_rule
        .as_ref()?
        .cluster_role_selectors
        .as_deref()
        .unwrap_or_default();
    let own_name = role.metadata.name.as_deref().unwrap_or("");
    let mut sorted: Vec<&ClusterRole> = all.to_vec();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in selectors {
        for other in &sorted {
            if other.metadata.name.as_deref().unwrap_or("") == own_name
                || !selector_matches_labels(selector, other.metadata.labels.as_ref())
            {
                continue;
            }
            for rule in other.rules.iter().flatten() {
                let rule = normalized(rule);
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
        }
    }
    Some(rules)
}

/// Whether two rule lists are the same, empty and absent lists being equal (kube's
/// semantic equality).
pub fn same_rules(a: &[PolicyRule], b: &[PolicyRule]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| normalized(x) == normalized(y))
}

/// A rule with empty lists made absent.
fn normalized(rule: &PolicyRule) -> PolicyRule {
    let list = |v: &Option<Vec<String>>| v.clone().filter(|v| !v.is_empty());
    PolicyRule {
        verbs: rule.verbs.clone(),
        api_groups: list(&rule.api_groups),
        resources: list(&rule.resources),
        resource_names: list(&rule.resource_names),
        non_resource_urls: list(&rule.non_resource_urls),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::rbac::v1::AggregationRule;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use std::collections::BTreeMap;

    fn role(name: &str, label: Option<&str>, verbs: &[&str]) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: label.map(|l| BTreeMap::from([(l.to_string(), "true".to_string())])),
                ..Default::default()
            },
            rules: Some(
                verbs
                    .iter()
                    .map(|v| PolicyRule {
                        verbs: vec![v.to_string()],
                        api_groups: Some(vec![String::new()]),
                        resources: Some(vec!["pods".into()]),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    fn aggregated(name: &str, label: &str) -> ClusterRole {
        ClusterRole {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            aggregation_rule: Some(AggregationRule {
                cluster_role_selectors: Some(vec![LabelSelector {
                    match_labels: Some(BTreeMap::from([(label.into(), "true".into())])),
                    ..Default::default()
                }]),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rules_come_from_matching_roles_by_name_once_each() {
        let view = aggregated("view", "agg-view");
        let b = role("b", Some("agg-view"), &["list", "get"]);
        let a = role("a", Some("agg-view"), &["get"]);
        let other = role("c", Some("unrelated"), &["delete"]);
        let rules = rules_of(&view, &[&view, &b, &a, &other]).unwrap();
        let verbs: Vec<&str> = rules.iter().map(|r| r.verbs[0].as_str()).collect();
        assert_eq!(verbs, ["get", "list"]);
        assert!(rules_of(&a, &[&a]).is_none());
    }

    #[test]
    fn empty_and_absent_lists_are_the_same_rules() {
        let mut x = role("x", None, &["get"]).rules.unwrap();
        let y = x.clone();
        x[0].resource_names = Some(vec![]);
        assert!(same_rules(&x, &y));
        assert!(!same_rules(&x, &[]));
    }
}
