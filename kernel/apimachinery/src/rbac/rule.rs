//! Policy rules: whether one allows an action (kube's `RuleAllows`), and whether a set of
//! rules covers another rule (kube's `Covers`, used to reconcile the bootstrap policy).

use k8s_openapi::api::rbac::v1::PolicyRule;

use super::action::{Action, NonResourceAction, ResourceAction};
use crate::text::go_quote;

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

/// Whether `owner` allows everything `rule` allows (kube's `Covers`).
pub fn covers(owner: &[Rule], rule: &Rule) -> bool {
    missing(owner, std::slice::from_ref(rule)).is_empty()
}

/// The parts of `rules` that no rule of `owner` covers, broken down to one verb, group,
/// resource and name (or one verb and path) each (kube's `Covers`' missing rights).
pub fn missing(owner: &[Rule], rules: &[Rule]) -> Vec<Rule> {
    rules
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| o.covers_atom(sub)))
        .collect()
}

/// kube's `BreakdownRule`.
fn breakdown(rule: &Rule) -> Vec<Rule> {
    let one = |s: &String| vec![s.clone()];
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let atom = |names: Vec<String>| Rule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    resource_names: names,
                    non_resource_urls: Vec::new(),
                };
                if rule.resource_names.is_empty() {
                    out.push(atom(Vec::new()));
                } else {
                    out.extend(rule.resource_names.iter().map(|n| atom(one(n))));
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(Rule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..Rule::default()
            });
        }
    }
    out
}

impl Rule {
    /// kube's `ruleCovers`.
    fn covers_atom(&self, sub: &Rule) -> bool {
        let all = |set: &[String], wanted: &[String]| wanted.iter().all(|w| set.contains(w));
        let verbs = has_exact(&self.verbs, ALL) || all(&self.verbs, &sub.verbs);
        let groups = has_exact(&self.api_groups, ALL) || all(&self.api_groups, &sub.api_groups);
        let resources = has_exact(&self.resources, ALL)
            || sub.resources.iter().all(|path| {
                self.resources.contains(path)
                    || path.split_once('/').is_some_and(|(_, sub)| {
                        self.resources.iter().any(|r| *r == format!("*/{sub}"))
                    })
            });
        let urls = sub.non_resource_urls.iter().all(|path| {
            self.non_resource_urls.iter().any(|owner| {
                owner == path
                    || owner.ends_with('*') && path.starts_with(owner.trim_end_matches('*'))
            })
        });
        let names = self.resource_names.is_empty()
            || !sub.resource_names.is_empty() && all(&self.resource_names, &sub.resource_names);
        verbs && groups && resources && urls && names
    }

    /// kube's `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let list = |items: &[String]| {
            let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
            format!("[{}]", quoted.join(" "))
        };
        let mut parts = Vec::new();
        for (label, items) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !items.is_empty() {
                parts.push(format!("{label}:{}", list(items)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// kube's `CompactRules`: broken-down rules on one group and resource (and at most one name)
/// merged into one rule with all their verbs.
pub fn compact(rules: Vec<Rule>) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for rule in rules {
        let simple = rule.api_groups.len() == 1
            && rule.resources.len() == 1
            && rule.resource_names.len() <= 1
            && rule.non_resource_urls.is_empty();
        let same = |o: &Rule| {
            o.api_groups == rule.api_groups
                && o.resources == rule.resources
                && o.resource_names == rule.resource_names
                && o.non_resource_urls.is_empty()
        };
        match out.iter_mut().find(|o| simple && same(o)) {
            Some(existing) => {
                for verb in rule.verbs {
                    if !existing.verbs.contains(&verb) {
                        existing.verbs.push(verb);
                    }
                }
            }
            None => out.push(rule),
        }
    }
    out
}

/// Whether `values` holds exactly `value`.
fn has_exact(values: &[String], value: &str) -> bool {
    values.iter().any(|v| v == value)
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
        let star_scale = rule(&["get"], &["apps"], &["*/scale"]);
        assert!(covers(
            &[star_scale],
            &rule(&["get"], &["apps"], &["deployments/scale"])
        ));
        let urls = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/*".into()],
            ..Default::default()
        };
        let wanted = Rule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/apis/apps".into()],
            ..Default::default()
        };
        assert!(covers(std::slice::from_ref(&urls), &wanted));
        assert!(!covers(&owner, &wanted));
    }

    #[test]
    fn missing_rights_compact_and_print_like_kube() {
        let owner = vec![rule(&["get"], &[""], &["pods"])];
        let wanted = rule(&["get", "list", "delete"], &["", "apps"], &["pods"]);
        let missing = compact(missing(&owner, &[wanted]));
        let mut printed: Vec<String> = missing.iter().map(Rule::compact_string).collect();
        printed.sort();
        assert_eq!(
            printed,
            [
                "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"list\" \"delete\"]}",
                "{APIGroups:[\"apps\"], Resources:[\"pods\"], Verbs:[\"get\" \"list\" \"delete\"]}",
            ]
        );
    }
}
