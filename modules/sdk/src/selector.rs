//! Label selectors: matching labels against a `LabelSelector`, as the API server does.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector. The empty selector matches everything; a selector that cannot
/// match (an unknown operator, as the API server reads it) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    matches_nothing: bool,
}

impl Selector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        Self {
            requirements: Vec::new(),
            matches_nothing: false,
        }
    }

    /// Reads a `LabelSelector`.
    pub fn from_label_selector(selector: &LabelSelector) -> Self {
        let mut requirements = Vec::new();
        let mut matches_nothing = false;
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::In(key.clone(), vec![value.clone()]));
        }
        for expr in selector.match_expressions.iter().flatten() {
            let values = expr.values.clone().unwrap_or_default();
            match expr.operator.as_str() {
                "In" => requirements.push(Requirement::In(expr.key.clone(), values)),
                "NotIn" => requirements.push(Requirement::NotIn(expr.key.clone(), values)),
                "Exists" => requirements.push(Requirement::Exists(expr.key.clone())),
                "DoesNotExist" => requirements.push(Requirement::DoesNotExist(expr.key.clone())),
                _ => matches_nothing = true,
            }
        }
        Self {
            requirements,
            matches_nothing,
        }
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.matches_nothing
            && self.requirements.iter().all(|r| match r {
                Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
                Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
                Requirement::Exists(k) => labels.contains_key(k),
                Requirement::DoesNotExist(k) => !labels.contains_key(k),
            })
    }

    /// Whether this is the empty selector (matches everything).
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty() && !self.matches_nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let selector = Selector::from_label_selector(&LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["db".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        });
        assert!(selector.matches(&labels(&[("app", "web")])));
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "fe")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("canary", "1")])));
        assert!(!selector.matches(&labels(&[("app", "api")])));
    }

    #[test]
    fn unknown_operator_matches_nothing() {
        let selector = Selector::from_label_selector(&LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Near".into(),
                values: None,
            }]),
        });
        assert!(!selector.matches(&labels(&[("a", "1")])));
        assert!(Selector::everything().matches(&labels(&[])));
    }
}
