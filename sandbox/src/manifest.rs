//! A module's manifest: the API access it declares, and the check of every call against it.
//!
//! Rules match as Kubernetes RBAC rules do (`rbac/v1` PolicyRule, resource rules only):
//! `"*"` matches any group, resource or verb; a subresource is named `resource/subresource`
//! and matched by that exact name, by `"*/subresource"`, or by `"*"`. The operator may narrow
//! a module's access (`ModuleSpec::permissions`): a call is then allowed only if both the
//! declared rules and the narrowing rules allow it.

use serde::{Deserialize, Serialize};

use crate::api::{ApiError, ResourceRef, Verb};

/// One rule, in the shape of an RBAC PolicyRule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// API groups (`""` for core, `"*"` for all).
    pub api_groups: Vec<String>,
    /// Resources, subresources as `pods/binding`; `"*"` for all.
    pub resources: Vec<String>,
    /// Verbs; `"*"` for all.
    pub verbs: Vec<String>,
}

impl PolicyRule {
    /// Whether this rule allows `verb` on `resource` (and `subresource`) of `group`.
    pub fn allows(
        &self,
        verb: Verb,
        group: &str,
        resource: &str,
        subresource: Option<&str>,
    ) -> bool {
        let verb_ok = self.verbs.iter().any(|v| v == "*" || v == verb.as_str());
        let group_ok = self.api_groups.iter().any(|g| g == "*" || g == group);
        let resource_ok = self.resources.iter().any(|r| {
            if r == "*" {
                return true;
            }
            match subresource {
                None => r == resource,
                Some(sub) => match r.split_once('/') {
                    Some((res, s)) => s == sub && (res == resource || res == "*"),
                    None => false,
                },
            }
        });
        verb_ok && group_ok && resource_ok
    }
}

/// What one module instance may do: its declared rules, narrowed by the operator's.
#[derive(Clone, Debug, Default)]
pub(crate) struct Permissions {
    declared: Vec<PolicyRule>,
    narrowed: Option<Vec<PolicyRule>>,
}

impl Permissions {
    /// The module's declared rules, narrowed by `narrowed` when given.
    pub(crate) fn new(declared: Vec<PolicyRule>, narrowed: Option<Vec<PolicyRule>>) -> Permissions {
        Permissions { declared, narrowed }
    }

    /// Allows the call or refuses it with kube's 403 wording: `configmaps "x" is forbidden:
    /// User "system:module:m" cannot delete resource "configmaps" in API group "" in the
    /// namespace "default": not in the module's manifest`.
    pub(crate) fn check(
        &self,
        module: &str,
        verb: Verb,
        res: &ResourceRef,
        subresource: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ApiError> {
        let allowed_by = |rules: &[PolicyRule]| {
            rules
                .iter()
                .any(|r| r.allows(verb, &res.group, &res.resource, subresource))
        };
        let declared = allowed_by(&self.declared);
        let narrowed = self.narrowed.as_deref().is_none_or(allowed_by);
        if declared && narrowed {
            return Ok(());
        }
        let full = match subresource {
            Some(sub) => format!("{}/{}", res.resource, sub),
            None => res.resource.clone(),
        };
        let what = match name {
            Some(name) => format!("{full} \"{name}\""),
            None => full.clone(),
        };
        let scope = match &res.namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let why = if declared {
            "not granted to the module by its operator"
        } else {
            "not in the module's manifest"
        };
        Err(ApiError::forbidden(format!(
            "{what} is forbidden: User \"system:module:{module}\" cannot {verb} resource \"{full}\" in API group \"{}\" {scope}: {why}",
            res.group
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        PolicyRule {
            api_groups: v(groups),
            resources: v(resources),
            verbs: v(verbs),
        }
    }

    fn pods(ns: Option<&str>) -> ResourceRef {
        ResourceRef {
            group: String::new(),
            version: "v1".into(),
            resource: "pods".into(),
            namespace: ns.map(String::from),
        }
    }

    #[test]
    fn rules_match_like_rbac() {
        let r = rule(&[""], &["pods", "pods/binding"], &["get", "create"]);
        assert!(r.allows(Verb::Get, "", "pods", None));
        assert!(r.allows(Verb::Create, "", "pods", Some("binding")));
        assert!(
            !r.allows(Verb::Get, "", "pods", Some("log")),
            "a resource does not grant its subresources"
        );
        assert!(!r.allows(Verb::Delete, "", "pods", None));
        assert!(!r.allows(Verb::Get, "apps", "pods", None));
        assert!(rule(&["*"], &["*"], &["*"]).allows(
            Verb::Patch,
            "apps",
            "deployments",
            Some("scale")
        ));
        assert!(rule(&["apps"], &["*/scale"], &["get"]).allows(
            Verb::Get,
            "apps",
            "deployments",
            Some("scale")
        ));
        assert!(!rule(&["apps"], &["*/scale"], &["get"]).allows(
            Verb::Get,
            "apps",
            "deployments",
            None
        ));
    }

    #[test]
    fn refusals_read_like_rbac_403s() {
        let p = Permissions::new(vec![rule(&[""], &["configmaps"], &["get"])], None);
        let err = p
            .check("sched", Verb::List, &pods(Some("default")), None, None)
            .unwrap_err();
        assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
        assert_eq!(
            err.message,
            "pods is forbidden: User \"system:module:sched\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\": not in the module's manifest"
        );
        let err = p
            .check(
                "sched",
                Verb::Create,
                &pods(None),
                Some("binding"),
                Some("p1"),
            )
            .unwrap_err();
        assert!(err.message.starts_with("pods/binding \"p1\" is forbidden: User \"system:module:sched\" cannot create resource \"pods/binding\""), "{}", err.message);
        assert!(
            err.message.contains("at the cluster scope"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_operator_narrows_what_the_module_declares() {
        let declared = vec![rule(&[""], &["pods", "configmaps"], &["*"])];
        let narrowed = Some(vec![rule(&[""], &["pods"], &["get", "list"])]);
        let p = Permissions::new(declared, narrowed);
        assert!(
            p.check("m", Verb::Get, &pods(None), None, Some("x"))
                .is_ok()
        );
        let err = p
            .check("m", Verb::Delete, &pods(None), None, Some("x"))
            .unwrap_err();
        assert!(
            err.message
                .ends_with("not granted to the module by its operator"),
            "{}",
            err.message
        );
        // Narrowing never widens: secrets are in neither set.
        let secrets = ResourceRef {
            resource: "secrets".into(),
            ..pods(None)
        };
        let wide = Permissions::new(vec![], Some(vec![rule(&["*"], &["*"], &["*"])]));
        assert!(wide.check("m", Verb::Get, &secrets, None, None).is_err());
    }
}
