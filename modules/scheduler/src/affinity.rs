//! Node selection by labels and fields: `nodeSelector`, required and preferred node
//! affinity (kube's `nodeaffinity` helpers).

use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod,
};

/// Whether `node` satisfies the pod's `nodeSelector` and its required node affinity.
pub fn required_matches(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let labels = node.labels();
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    if !selector_ok {
        return false;
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    match required {
        None => true,
        Some(selector) => selector
            .node_selector_terms
            .iter()
            .any(|term| term_matches(term, node)),
    }
}

/// The sum of the weights of the pod's preferred node-affinity terms `node` matches.
pub fn preferred_weight(pod: &Pod, node: &Node) -> i64 {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .into_iter()
        .flatten()
        .filter(|t| t.weight != 0 && term_matches(&t.preference, node))
        .map(|t| i64::from(t.weight))
        .sum()
}

/// Whether `node` matches every requirement of `term`. A term without requirements, or with
/// one that is not valid, matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let expressions = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if expressions.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.labels();
    let name_fields: BTreeMap<String, String> =
        [("metadata.name".to_string(), node.name_any().to_string())].into();
    expressions
        .iter()
        .all(|r| label_requirement_matches(r, labels) == Some(true))
        && fields
            .iter()
            .all(|r| field_requirement_matches(r, &name_fields) == Some(true))
}

/// Evaluates one label requirement; none when it is not valid (In/NotIn without values,
/// Exists/DoesNotExist with values, Gt/Lt without exactly one integer, unknown operator).
fn label_requirement_matches(
    r: &NodeSelectorRequirement,
    labels: &BTreeMap<String, String>,
) -> Option<bool> {
    let values = r.values.as_deref().unwrap_or(&[]);
    let label = labels.get(&r.key);
    match r.operator.as_str() {
        "In" if !values.is_empty() => Some(label.is_some_and(|v| values.contains(v))),
        "NotIn" if !values.is_empty() => Some(label.is_none_or(|v| !values.contains(v))),
        "Exists" if values.is_empty() => Some(label.is_some()),
        "DoesNotExist" if values.is_empty() => Some(label.is_none()),
        op @ ("Gt" | "Lt") if values.len() == 1 => {
            let bound: i64 = values[0].parse().ok()?;
            let Some(value) = label.and_then(|v| v.parse::<i64>().ok()) else {
                return Some(false);
            };
            Some(if op == "Gt" {
                value > bound
            } else {
                value < bound
            })
        }
        _ => None,
    }
}

/// Evaluates one field requirement: only `metadata.name`, with `In` or `NotIn` and exactly
/// one value.
fn field_requirement_matches(
    r: &NodeSelectorRequirement,
    fields: &BTreeMap<String, String>,
) -> Option<bool> {
    let values = r.values.as_deref().unwrap_or(&[]);
    if r.key != "metadata.name" || values.len() != 1 {
        return None;
    }
    let field = fields.get(&r.key);
    match r.operator.as_str() {
        "In" => Some(field == Some(&values[0])),
        "NotIn" => Some(field != Some(&values[0])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{node_labelled, pod_with};
    use kmicro_module_sdk::k8s_openapi::api::core::v1::{
        Affinity, NodeAffinity, NodeSelector, PreferredSchedulingTerm,
    };

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn term(exprs: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(exprs),
            match_fields: None,
        }
    }

    fn with_required(terms: Vec<NodeSelectorTerm>) -> Pod {
        let mut pod = pod_with(vec![], vec![]);
        pod.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                    node_selector_terms: terms,
                }),
                preferred_during_scheduling_ignored_during_execution: None,
            }),
            ..Default::default()
        });
        pod
    }

    #[test]
    fn node_selector_needs_every_label() {
        let node = node_labelled("n1", &[("disk", "ssd"), ("zone", "a")]);
        let mut pod = pod_with(vec![], vec![]);
        pod.spec.as_mut().unwrap().node_selector =
            Some([("disk".to_string(), "ssd".to_string())].into());
        assert!(required_matches(&pod, &node));
        pod.spec
            .as_mut()
            .unwrap()
            .node_selector
            .as_mut()
            .unwrap()
            .insert("zone".into(), "b".into());
        assert!(!required_matches(&pod, &node));
    }

    #[test]
    fn expression_operators() {
        let node = node_labelled("n1", &[("disk", "ssd"), ("cores", "8")]);
        let cases = [
            (req("disk", "In", &["ssd", "nvme"]), true),
            (req("disk", "In", &["hdd"]), false),
            (req("disk", "NotIn", &["hdd"]), true),
            (req("absent", "NotIn", &["x"]), true),
            (req("disk", "NotIn", &["ssd"]), false),
            (req("disk", "Exists", &[]), true),
            (req("absent", "Exists", &[]), false),
            (req("absent", "DoesNotExist", &[]), true),
            (req("disk", "DoesNotExist", &[]), false),
            (req("cores", "Gt", &["4"]), true),
            (req("cores", "Gt", &["8"]), false),
            (req("cores", "Lt", &["16"]), true),
            (req("cores", "Lt", &["8"]), false),
            (req("disk", "Gt", &["1"]), false),
            (req("absent", "Lt", &["1"]), false),
            // Invalid requirements match nothing.
            (req("disk", "In", &[]), false),
            (req("disk", "Exists", &["ssd"]), false),
            (req("cores", "Gt", &["four"]), false),
            (req("cores", "Gt", &["1", "2"]), false),
            (req("disk", "Near", &["ssd"]), false),
        ];
        for (r, want) in cases {
            let pod = with_required(vec![term(vec![r.clone()])]);
            assert_eq!(required_matches(&pod, &node), want, "{r:?}");
        }
    }

    #[test]
    fn terms_are_ored_and_expressions_anded() {
        let node = node_labelled("n1", &[("disk", "ssd")]);
        let both = term(vec![req("disk", "In", &["ssd"]), req("gpu", "Exists", &[])]);
        assert!(!required_matches(&with_required(vec![both.clone()]), &node));
        let either = vec![both, term(vec![req("disk", "Exists", &[])])];
        assert!(required_matches(&with_required(either), &node));
        // No terms, or an empty term, match nothing.
        assert!(!required_matches(&with_required(vec![]), &node));
        assert!(!required_matches(&with_required(vec![term(vec![])]), &node));
    }

    #[test]
    fn match_fields_on_the_node_name() {
        let node = node_labelled("n1", &[]);
        let fields = |op: &str, values: &[&str]| NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.name", op, values)]),
        };
        assert!(required_matches(
            &with_required(vec![fields("In", &["n1"])]),
            &node
        ));
        assert!(!required_matches(
            &with_required(vec![fields("In", &["n2"])]),
            &node
        ));
        assert!(required_matches(
            &with_required(vec![fields("NotIn", &["n2"])]),
            &node
        ));
        assert!(!required_matches(
            &with_required(vec![fields("NotIn", &["n1"])]),
            &node
        ));
        assert!(!required_matches(
            &with_required(vec![fields("In", &["n1", "n2"])]),
            &node
        ));
        let other_field = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.uid", "In", &["n1"])]),
        };
        assert!(!required_matches(&with_required(vec![other_field]), &node));
    }

    #[test]
    fn preferred_terms_add_their_weights() {
        let node = node_labelled("n1", &[("disk", "ssd"), ("zone", "a")]);
        let mut pod = pod_with(vec![], vec![]);
        let pref = |w: i32, r: NodeSelectorRequirement| PreferredSchedulingTerm {
            weight: w,
            preference: term(vec![r]),
        };
        pod.spec.as_mut().unwrap().affinity = Some(Affinity {
            node_affinity: Some(NodeAffinity {
                required_during_scheduling_ignored_during_execution: None,
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    pref(10, req("disk", "In", &["ssd"])),
                    pref(5, req("zone", "In", &["a"])),
                    pref(7, req("zone", "In", &["b"])),
                ]),
            }),
            ..Default::default()
        });
        assert_eq!(preferred_weight(&pod, &node), 15);
        assert!(required_matches(&pod, &node));
    }
}
