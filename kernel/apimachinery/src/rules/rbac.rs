//! `rbac.authorization.k8s.io/v1`: roles, cluster roles and their bindings, as kube's
//! `pkg/apis/rbac/validation` checks them. Names are path segments (kube's `ValidateRBACName`);
//! a binding's `roleRef` never changes.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use super::Kind;
use super::field::{Bad, Errors, Path};
use super::meta::{self, NameRule};
use crate::names;
use crate::text::go_quote;

/// The RBAC API group, which `roleRef.apiGroup` and user and group subjects name.
const GROUP: &str = "rbac.authorization.k8s.io";

impl Kind for Role {
    const NAME_RULE: NameRule = NameRule::PathSegment;

    fn validate(&self, errs: &mut Errors) {
        validate_rules(self.rules.as_deref().unwrap_or_default(), true, errs);
    }
}

impl Kind for ClusterRole {
    const NAME_RULE: NameRule = NameRule::PathSegment;

    fn validate(&self, errs: &mut Errors) {
        validate_rules(self.rules.as_deref().unwrap_or_default(), false, errs);
        let Some(aggregation) = &self.aggregation_rule else {
            return;
        };
        let path = Path::new("aggregationRule").child("clusterRoleSelectors");
        let selectors = aggregation
            .cluster_role_selectors
            .as_deref()
            .unwrap_or_default();
        if selectors.is_empty() {
            errs.required(
                &path,
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            );
        }
        for (i, selector) in selectors.iter().enumerate() {
            meta::validate_label_selector(selector, &path.index(i), errs);
        }
    }
}

impl Kind for RoleBinding {
    const NAME_RULE: NameRule = NameRule::PathSegment;

    fn set_defaults(&mut self) {
        default_binding(&mut self.role_ref, self.subjects.as_deref_mut());
    }

    fn validate(&self, errs: &mut Errors) {
        validate_role_ref(&self.role_ref, &["Role", "ClusterRole"], errs);
        validate_subjects(self.subjects.as_deref().unwrap_or_default(), true, errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        validate_role_ref_unchanged(&self.role_ref, &old.role_ref, errs);
    }
}

impl Kind for ClusterRoleBinding {
    const NAME_RULE: NameRule = NameRule::PathSegment;

    fn set_defaults(&mut self) {
        default_binding(&mut self.role_ref, self.subjects.as_deref_mut());
    }

    fn validate(&self, errs: &mut Errors) {
        validate_role_ref(&self.role_ref, &["ClusterRole"], errs);
        validate_subjects(self.subjects.as_deref().unwrap_or_default(), false, errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        validate_role_ref_unchanged(&self.role_ref, &old.role_ref, errs);
    }
}

/// kube's `SetDefaults_RoleBinding` and `SetDefaults_Subject`: the RBAC group for the
/// role reference and for user and group subjects.
fn default_binding(role_ref: &mut RoleRef, subjects: Option<&mut [Subject]>) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = GROUP.to_string();
    }
    for subject in subjects.into_iter().flatten() {
        if subject.api_group.as_deref().unwrap_or("").is_empty() {
            subject.api_group = match subject.kind.as_str() {
                "User" | "Group" => Some(GROUP.to_string()),
                "ServiceAccount" => Some(String::new()),
                _ => subject.api_group.take(),
            };
        }
    }
}

/// kube's `ValidatePolicyRule` for every rule.
fn validate_rules(rules: &[PolicyRule], namespaced: bool, errs: &mut Errors) {
    for (i, rule) in rules.iter().enumerate() {
        let path = Path::new("rules").index(i);
        if rule.verbs.is_empty() {
            errs.required(
                &path.child("verbs"),
                "verbs must contain at least one value",
            );
        }
        let urls = rule.non_resource_urls.as_deref().unwrap_or_default();
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        let resources = rule.resources.as_deref().unwrap_or_default();
        let names = rule.resource_names.as_deref().unwrap_or_default();
        if !urls.is_empty() {
            let value = Bad::rendered(go_string_slice(urls));
            let urls_path = path.child("nonResourceURLs");
            if namespaced {
                errs.invalid(
                    &urls_path,
                    value.clone(),
                    "namespaced rules cannot apply to non-resource URLs",
                );
            }
            if !groups.is_empty() || !resources.is_empty() || !names.is_empty() {
                errs.invalid(
                    &urls_path,
                    value,
                    "rules cannot apply to both regular resources and non-resource URLs",
                );
            }
            continue;
        }
        if groups.is_empty() {
            errs.required(
                &path.child("apiGroups"),
                "resource rules must supply at least one api group",
            );
        }
        if resources.is_empty() {
            errs.required(
                &path.child("resources"),
                "resource rules must supply at least one resource",
            );
        }
    }
}

/// The role reference: the RBAC group, an allowed kind, and a valid name.
fn validate_role_ref(role_ref: &RoleRef, kinds: &[&str], errs: &mut Errors) {
    let path = Path::new("roleRef");
    if role_ref.api_group != GROUP {
        errs.not_supported(&path.child("apiGroup"), &role_ref.api_group, &[GROUP]);
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errs.not_supported(&path.child("kind"), &role_ref.kind, kinds);
    }
    if role_ref.name.is_empty() {
        errs.required(&path.child("name"), "");
    } else {
        errs.invalid_all(
            &path.child("name"),
            &role_ref.name,
            names::is_path_segment_name(&role_ref.name),
        );
    }
}

/// kube's `cannot change roleRef`, with the old-style rendering of the new reference.
fn validate_role_ref_unchanged(new: &RoleRef, old: &RoleRef, errs: &mut Errors) {
    if new != old {
        let rendered = format!(
            "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
            go_quote(&new.api_group),
            go_quote(&new.kind),
            go_quote(&new.name)
        );
        errs.invalid(
            &Path::new("roleRef"),
            Bad::rendered(rendered),
            "cannot change roleRef",
        );
    }
}

/// kube's `ValidateRoleBindingSubject` for every subject.
fn validate_subjects(subjects: &[Subject], namespaced: bool, errs: &mut Errors) {
    for (i, subject) in subjects.iter().enumerate() {
        let path = Path::new("subjects").index(i);
        if subject.name.is_empty() {
            errs.required(&path.child("name"), "");
        }
        let api_group = subject.api_group.as_deref().unwrap_or("");
        match subject.kind.as_str() {
            "ServiceAccount" => {
                if !subject.name.is_empty() {
                    errs.invalid_all(
                        &path.child("name"),
                        &subject.name,
                        names::is_dns1123_subdomain(&subject.name),
                    );
                }
                if !api_group.is_empty() {
                    errs.not_supported(&path.child("apiGroup"), api_group, &[""]);
                }
                if !namespaced && subject.namespace.as_deref().unwrap_or("").is_empty() {
                    errs.required(&path.child("namespace"), "");
                }
            }
            "User" | "Group" => {
                if api_group != GROUP {
                    errs.not_supported(&path.child("apiGroup"), api_group, &[GROUP]);
                }
            }
            other => errs.not_supported(
                &path.child("kind"),
                other,
                &["ServiceAccount", "User", "Group"],
            ),
        }
    }
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}
