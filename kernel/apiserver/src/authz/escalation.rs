//! Escalation prevention (kube's RBAC registry): a user may write a Role or ClusterRole only
//! with rules they already hold where it applies, or with the `escalate` verb on it; and a
//! binding only to a role whose rules they hold, or with the `bind` verb on that role. Only
//! cluster admins (everything on everything) may write an `aggregationRule`. Members of
//! `system:masters` skip the checks.

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, RoleRef};
use kmicro_apimachinery::rbac::rule::{self, Rule};
use kmicro_apimachinery::rbac::{Action, MASTERS, ResourceAction};
use kmicro_apimachinery::registry::ResourceInfo;
use serde_json::Value;

use super::{Authorizer, forbidden_with, quote};
use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::object;

const GROUP: &str = "rbac.authorization.k8s.io";

/// Refuses (403) a create or update of `obj`, a `r` object, that would give `user` more than
/// they hold.
pub fn check(authorizer: &Authorizer, user: &User, r: &ResourceInfo, obj: &Value) -> ApiResult<()> {
    if r.group != GROUP || user.groups.iter().any(|g| g == MASTERS) {
        return Ok(());
    }
    let ns = object::meta_str(obj, "namespace").unwrap_or("");
    let name = object::name(obj);
    let allowed = |verb: &str, resource: &str, target: &str| {
        let action = Action::Resource(ResourceAction {
            verb: verb.into(),
            namespace: ns.into(),
            group: GROUP.into(),
            resource: resource.into(),
            subresource: String::new(),
            name: target.into(),
        });
        authorizer.decide(user, &action).allowed
    };
    let rules: Vec<Rule> = match r.kind {
        "Role" | "ClusterRole" => {
            if r.kind == "ClusterRole" && has_aggregation_rule(obj) {
                let everything = [
                    Rule {
                        verbs: vec!["*".into()],
                        api_groups: vec!["*".into()],
                        resources: vec!["*".into()],
                        ..Rule::default()
                    },
                    Rule {
                        verbs: vec!["*".into()],
                        non_resource_urls: vec!["*".into()],
                        ..Rule::default()
                    },
                ];
                if !rule::missing(&authorizer.rules_for(user, ns), &everything).is_empty() {
                    return Err(refused(
                        r,
                        name,
                        "must have cluster-admin privileges to use the aggregationRule",
                    ));
                }
            }
            if allowed("escalate", r.plural, name) {
                return Ok(());
            }
            let rules: Vec<PolicyRule> =
                serde_json::from_value(obj.get("rules").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default();
            rules.iter().map(Rule::from).collect()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let role_ref: RoleRef =
                serde_json::from_value(obj.get("roleRef").cloned().unwrap_or(Value::Null))
                    .unwrap_or_default();
            let cluster = role_ref.kind == "ClusterRole";
            let plural = if cluster { "clusterroles" } else { "roles" };
            if allowed("bind", plural, &role_ref.name) {
                return Ok(());
            }
            match authorizer.with_index(|i| {
                i.role_rules(cluster, ns, &role_ref.name)
                    .map(<[Rule]>::to_vec)
            }) {
                Some(rules) => rules,
                None => {
                    let kind = if cluster { "clusterrole" } else { "role" };
                    return Err(refused(
                        r,
                        name,
                        &format!("{kind}.{GROUP} {} not found", quote(&role_ref.name)),
                    ));
                }
            }
        }
        _ => return Ok(()),
    };
    let missing = rule::compact(rule::missing(&authorizer.rules_for(user, ns), &rules));
    if missing.is_empty() {
        return Ok(());
    }
    let mut lines: Vec<String> = missing.iter().map(Rule::compact_string).collect();
    lines.sort();
    lines.dedup();
    let groups: Vec<String> = user.groups.iter().map(|g| quote(g)).collect();
    Err(refused(
        r,
        name,
        &format!(
            "user {} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
            quote(&user.name),
            groups.join(" "),
            lines.join("\n")
        ),
    ))
}

fn has_aggregation_rule(obj: &Value) -> bool {
    serde_json::from_value::<ClusterRole>(obj.clone())
        .ok()
        .and_then(|r| r.aggregation_rule)
        .and_then(|a| a.cluster_role_selectors)
        .is_some_and(|s| !s.is_empty())
}

/// kube's `NewForbidden(<resource>, name, err)`.
fn refused(r: &ResourceInfo, name: &str, why: &str) -> ApiError {
    forbidden_with(
        format!("{}.{GROUP} {} is forbidden: {why}", r.plural, quote(name)),
        r,
        name,
    )
}
