//! The mutating admission plugins kube-apiserver enables by default that need nothing but the
//! object: run on a create or update of a resource itself (never a subresource), after the body
//! is decoded and before the kind's rules prepare and validate it.
//!
//! - DefaultTolerationSeconds: a pod that does not tolerate the `not-ready` and `unreachable`
//!   node taints (effect `NoExecute`) gets tolerations of them for 300 seconds, so the node
//!   lifecycle controller evicts it five minutes after its node goes away.

use serde_json::{Value, json};

use crate::registry::ResourceInfo;

/// The taint a node gets when it is not ready.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint a node gets when its agent stops reporting.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// How long pods tolerate those taints by default (kube's
/// `--default-not-ready-toleration-seconds` and `--default-unreachable-toleration-seconds`).
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;

/// Runs the plugins that apply to a write of `resource` (`subresource` when the write is to
/// one). Returns whether `obj` changed.
pub fn mutate(resource: &ResourceInfo, subresource: Option<&str>, obj: &mut Value) -> bool {
    if subresource.is_some() {
        return false;
    }
    match (resource.group, resource.kind) {
        ("", "Pod") => default_toleration_seconds(obj),
        _ => false,
    }
}

/// kube's DefaultTolerationSeconds plugin on a pod: appends a `NoExecute` toleration of
/// [`NOT_READY_TAINT`] and of [`UNREACHABLE_TAINT`] for [`DEFAULT_TOLERATION_SECONDS`] unless
/// the pod already has a toleration covering it (same key or an empty key, effect `NoExecute`
/// or empty). A pod whose `spec` or `spec.tolerations` has the wrong type is left alone: the
/// kind's rules refuse it next. Returns whether a toleration was added.
pub fn default_toleration_seconds(pod: &mut Value) -> bool {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return false;
    };
    let tolerations = spec
        .entry("tolerations")
        .or_insert_with(|| Value::Array(Vec::new()));
    if tolerations.is_null() {
        *tolerations = Value::Array(Vec::new());
    }
    let Some(list) = tolerations.as_array_mut() else {
        return false;
    };
    let covers = |key: &str| {
        list.iter().any(|t| {
            let field = |name: &str| match t.get(name) {
                None | Some(Value::Null) => Some(""),
                Some(v) => v.as_str(),
            };
            matches!(field("key"), Some(k) if k.is_empty() || k == key)
                && matches!(field("effect"), Some("" | "NoExecute"))
        })
    };
    let missing: Vec<&str> = [NOT_READY_TAINT, UNREACHABLE_TAINT]
        .into_iter()
        .filter(|key| !covers(key))
        .collect();
    for key in &missing {
        list.push(json!({
            "key": key,
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
        }));
    }
    !missing.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;

    fn keys(pod: &Value) -> Vec<(String, Option<i64>)> {
        pod["spec"]["tolerations"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|t| {
                        (
                            t["key"].as_str().unwrap_or("").to_string(),
                            t["tolerationSeconds"].as_i64(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn a_pod_without_tolerations_gets_both_for_300_seconds() {
        let mut pod = json!({"spec": {"containers": []}});
        assert!(default_toleration_seconds(&mut pod));
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([
                {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            ])
        );
        // Applying it again changes nothing.
        let before = pod.clone();
        assert!(!default_toleration_seconds(&mut pod));
        assert_eq!(pod, before);
    }

    #[test]
    fn existing_tolerations_of_those_taints_are_kept_and_not_doubled() {
        let mut pod = json!({"spec": {"tolerations": [
            {"key": NOT_READY_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
            {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        ]}});
        assert!(default_toleration_seconds(&mut pod));
        assert_eq!(
            keys(&pod),
            vec![
                (NOT_READY_TAINT.to_string(), Some(10)),
                ("dedicated".to_string(), None),
                (UNREACHABLE_TAINT.to_string(), Some(300)),
            ]
        );
    }

    #[test]
    fn an_empty_key_or_effect_tolerates_everything_it_names() {
        // Empty key, empty effect: tolerates every taint.
        let mut pod = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        assert!(!default_toleration_seconds(&mut pod));
        assert_eq!(keys(&pod).len(), 1);
        // Empty key with NoExecute covers both; with NoSchedule, neither.
        let mut pod =
            json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "NoExecute"}]}});
        assert!(!default_toleration_seconds(&mut pod));
        let mut pod =
            json!({"spec": {"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}});
        assert!(default_toleration_seconds(&mut pod));
        assert_eq!(keys(&pod).len(), 3);
        // The right key with an empty effect covers that key only.
        let mut pod =
            json!({"spec": {"tolerations": [{"key": UNREACHABLE_TAINT, "operator": "Exists"}]}});
        assert!(default_toleration_seconds(&mut pod));
        assert_eq!(
            keys(&pod),
            vec![
                (UNREACHABLE_TAINT.to_string(), None),
                (NOT_READY_TAINT.to_string(), Some(300)),
            ]
        );
    }

    #[test]
    fn malformed_pods_are_left_for_validation() {
        for mut pod in [
            json!({"spec": "nope"}),
            json!({"spec": {"tolerations": "nope"}}),
            json!({}),
        ] {
            let before = pod.clone();
            assert!(!default_toleration_seconds(&mut pod));
            assert_eq!(pod, before);
        }
        // A null list is an empty one.
        let mut pod = json!({"spec": {"tolerations": null}});
        assert!(default_toleration_seconds(&mut pod));
        assert_eq!(keys(&pod).len(), 2);
    }

    #[test]
    fn only_pods_themselves_are_mutated() {
        let pods = registry::find("", "v1", "pods").unwrap();
        let configmaps = registry::find("", "v1", "configmaps").unwrap();
        let mut pod = json!({"spec": {}});
        assert!(!mutate(pods, Some("status"), &mut pod));
        assert!(!mutate(configmaps, None, &mut pod));
        assert_eq!(pod, json!({"spec": {}}));
        assert!(mutate(pods, None, &mut pod));
    }
}
