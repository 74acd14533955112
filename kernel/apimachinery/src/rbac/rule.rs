//! Policy rules: whether one allows an action (kube's `RuleAllows`), and whether a set of
//! rules covers another rule (kube's `Covers`, used to reconcile the bootstrap policy).

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::action::{Action, NonResourceAction, ResourceAction};

/// The wildcard of every rule field.
const ALL: &str = "*";

/// One rule of a role, as the authorizer evaluates it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// API groups (`*` for all, `""` for core).
    pub api_groups: Vec<String>,
    /// Resources (`*`, `pods`, `pods/log`, `*/scale`).
    pub resources: Vec<String>,
    /// Object names; empty for all.
    pub resource_names: Vec<String>,
    /// Non-resource paths (`/healthz`, `/apis/*`, `*`).
    pub non_resource_urls: Vec<String>,
}

impl From<&PolicyRule> for Rule {
    fn from(rule: &PolicyRule) -> Self {
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        Self {
            verbs: rule.verbs.clone(),
            api_groups: list(&rule.api_groups),
            resources: list(&rule.resources),
            resource_names: list(&rule.resource_names),
            non_resource_urls: list(&rule.non_resource_urls),
        }
    }
}

impl Rule {
    /// Whether this rule allows `action` (kube's `RuleAllows`).
    pub fn allows(&self, action: &Action) -> bool {
        match action {
            Action::Resource(r) => self.allows_resource(r),
            Action::NonResource(n) => self.allows_non_resource(n),
        }
    }

    fn allows_resource(&self, r: &ResourceAction) -> bool {
        has(&self.verbs, &r.verb)
            && has(&self.api_groups, &r.group)
            && self.resource_matches(&r.resource, &r.subresource)
            && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
    }

    fn allows_non_resource(&self, n: &NonResourceAction) -> bool {
        has(&self.verbs, &n.verb)
            && self
                .non_resource_urls
                .iter()
                .any(|url| url_matches(url, &n.path))
    }

    /// kube's `ResourceMatches`: `*`, the exact `resource[/subresource]`, or `*/subresource`.
    fn resource_matches(&self, resource: &str, subresource: &str) -> bool {
        self.resources.iter().any(|rule| {
            if rule == ALL {
                return true;
            }
            if subresource.is_empty() {
                return rule == resource;
            }
            match rule.split_once('/') {
                Some((res, sub)) => (res == resource || res == ALL) && sub == subresource,
                None => false,
            }
        })
    }

    /// Whether this is a rule on non-resource paths.
    pub fn is_non_resource(&self) -> bool {
        !self.non_resource_urls.is_empty()
    }
}

/// Whether `values` holds `*` or `value`.
fn has(values: &[String], value: &str) -> bool {
    values.iter().any(|v| v == ALL || v == value)
}

/// kube's `NonResourceURLMatches`: `*`, the exact path, or a prefix ending in `*`.
fn url_matches(rule: &str, path: &str) -> bool {
    if rule == ALL || rule == path {
        return true;
    }
    rule.strip_suffix('*')
        .is_some_and(|prefix| path.starts_with(prefix))
}

/// Whether `owner` allows everything `rule` allows (kube's `Covers`, checked on `rule` broken
/// down into one verb, group, resource and name at a time).
pub fn covers(owner: &[Rule], rule: &Rule) -> bool {
    if rule.is_non_resource() {
        return rule.verbs.iter().all(|verb| {
            rule.non_resource_urls.iter().all(|url| {
                owner.iter().any(|o| {
                    has(&o.verbs, verb)
                        && o.non_resource_urls
                            .iter()
                            .any(|ou| ou == url || url_matches(ou, url) && !url.ends_with('*'))
                })
            })
        });
    }
    let names: Vec<&str> = if rule.resource_names.is_empty() {
        vec![""]
    } else {
        rule.resource_names.iter().map(String::as_str).collect()
    };
    rule.verbs.iter().all(|verb| {
        rule.api_groups.iter().all(|group| {
            rule.resources.iter().all(|resource| {
                names.iter().all(|name| {
                    owner.iter().any(|o| {
                        (o.verbs.iter().any(|v| v == ALL || v == verb))
                            && o.api_groups.iter().any(|g| g == ALL || g == group)
                            && o.resources.iter().any(|r| {
                                r == ALL
                                    || r == resource
                                    || r.strip_prefix("*/").is_some_and(|sub| {
                                        resource.split_once('/').is_some_and(|(_, s)| s == sub)
                                    })
                            })
                            && (o.resource_names.is_empty()
                                || (!name.is_empty() && o.resource_names.iter().any(|n| n == name)))
                    })
                })
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Rule {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect();
        Rule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..Default::default()
        }
    }

    fn res(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Action {
        Action::Resource(ResourceAction {
            verb: verb.into(),
            namespace: "default".into(),
            group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            name: name.into(),
        })
    }

    fn path(verb: &str, path: &str) -> Action {
        Action::NonResource(NonResourceAction {
            verb: verb.into(),
            path: path.into(),
        })
    }

    #[test]
    fn verbs_groups_and_resources_match_exactly_or_by_wildcard() {
        let r = rule(&["get", "list"], &[""], &["pods", "configmaps"]);
        assert!(r.allows(&res("get", "", "pods", "", "web")));
        assert!(r.allows(&res("list", "", "configmaps", "", "")));
        assert!(!r.allows(&res("delete", "", "pods", "", "web")));
        assert!(!r.allows(&res("get", "apps", "pods", "", "web")));
        assert!(!r.allows(&res("get", "", "secrets", "", "")));
        let all = rule(&["*"], &["*"], &["*"]);
        assert!(all.allows(&res("impersonate", "", "users", "", "bob")));
        assert!(all.allows(&res("get", "apps", "deployments", "scale", "web")));
        // A resource rule never allows a path, nor the other way round.
        assert!(!all.allows(&path("get", "/healthz")));
    }

    #[test]
    fn subresources_need_their_own_rule_or_a_star_rule() {
        let pods = rule(&["get"], &[""], &["pods"]);
        assert!(!pods.allows(&res("get", "", "pods", "log", "web")));
        let log = rule(&["get"], &[""], &["pods/log"]);
        assert!(log.allows(&res("get", "", "pods", "log", "web")));
        assert!(!log.allows(&res("get", "", "pods", "", "web")));
        let scale = rule(&["patch"], &["apps"], &["*/scale"]);
        assert!(scale.allows(&res("patch", "apps", "deployments", "scale", "web")));
        assert!(!scale.allows(&res("patch", "apps", "deployments", "status", "web")));
        assert!(!scale.allows(&res("patch", "apps", "deployments", "", "web")));
    }

    #[test]
    fn resource_names_restrict_to_those_objects() {
        let mut r = rule(&["get", "update"], &[""], &["configmaps"]);
        r.resource_names = vec!["app-config".into()];
        assert!(r.allows(&res("get", "", "configmaps", "", "app-config")));
        assert!(!r.allows(&res("get", "", "configmaps", "", "other")));
        assert!(!r.allows(&res("list", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_urls_match_exactly_or_by_prefix() {
        let r = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/healthz".into(), "/apis/*".into()],
            ..Default::default()
        };
        assert!(r.allows(&path("get", "/healthz")));
        assert!(!r.allows(&path("get", "/healthz/etcd")));
        assert!(r.allows(&path("get", "/apis/apps/v1")));
        assert!(!r.allows(&path("get", "/apis")));
        assert!(!r.allows(&path("post", "/healthz")));
        let star = Rule {
            verbs: vec!["*".into()],
            non_resource_urls: vec!["*".into()],
            ..Default::default()
        };
        assert!(star.allows(&path("delete", "/anything")));
        assert!(!star.allows(&res("get", "", "pods", "", "")));
    }

    #[test]
    fn covers_breaks_rules_down() {
        let owner = vec![
            rule(&["get", "list"], &[""], &["pods", "services"]),
            rule(&["*"], &["apps"], &["*"]),
        ];
        assert!(covers(&owner, &rule(&["get"], &[""], &["pods"])));
        assert!(covers(
            &owner,
            &rule(&["delete"], &["apps"], &["deployments/scale"])
        ));
        assert!(!covers(&owner, &rule(&["get", "delete"], &[""], &["pods"])));
        assert!(!covers(&owner, &rule(&["get"], &["", "batch"], &["pods"])));
        let mut named = rule(&["get"], &[""], &["pods"]);
        named.resource_names = vec!["a".into()];
        assert!(covers(&owner, &named));
        let mut owner_named = rule(&["get"], &[""], &["pods"]);
        owner_named.resource_names = vec!["a".into()];
        assert!(!covers(&[owner_named], &rule(&["get"], &[""], &["pods"])));
    }
}
