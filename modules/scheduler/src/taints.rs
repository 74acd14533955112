//! Taints and tolerations, as kube's `ToleratesTaint` matches them.

use kmicro_module_sdk::k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

/// The taint a cordoned node stands for (`spec.unschedulable`).
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Whether `toleration` tolerates `taint`: same effect (or any), same key (or any, with
/// `Exists`), and `Exists` or an equal value (`Equal`, the default operator).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or("");
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("") {
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        "Exists" => true,
        _ => false,
    }
}

/// The pod's tolerations.
pub fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or(&[])
}

/// Whether any of `tolerations` tolerates `taint`.
pub fn tolerated(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations.iter().any(|t| tolerates(t, taint))
}

/// The first `NoSchedule` or `NoExecute` taint in `taints` that `tolerations` leave
/// untolerated (`PreferNoSchedule` only weighs in scoring).
pub fn untolerated_taint<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|t| !tolerated(tolerations, t))
}

/// How many `PreferNoSchedule` taints the pod's tolerations (those with that effect or with
/// none) leave untolerated: the taint-toleration score before normalizing.
pub fn intolerable_prefer_no_schedule(taints: &[Taint], tolerations: &[Toleration]) -> i64 {
    let relevant: Vec<Toleration> = tolerations
        .iter()
        .filter(|t| {
            matches!(
                t.effect.as_deref(),
                None | Some("") | Some("PreferNoSchedule")
            )
        })
        .cloned()
        .collect();
    taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&relevant, t))
        .count() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{taint, toleration};

    #[test]
    fn equal_needs_the_same_key_value_and_effect() {
        let t = taint("dedicated", "gpu", "NoSchedule");
        assert!(tolerates(
            &toleration("dedicated", "Equal", "gpu", "NoSchedule"),
            &t
        ));
        assert!(tolerates(&toleration("dedicated", "", "gpu", ""), &t));
        assert!(!tolerates(
            &toleration("dedicated", "Equal", "cpu", "NoSchedule"),
            &t
        ));
        assert!(!tolerates(
            &toleration("dedicated", "Equal", "gpu", "NoExecute"),
            &t
        ));
        assert!(!tolerates(
            &toleration("other", "Equal", "gpu", "NoSchedule"),
            &t
        ));
    }

    #[test]
    fn exists_ignores_the_value_and_an_empty_key_matches_every_key() {
        let t = taint("dedicated", "gpu", "NoExecute");
        assert!(tolerates(&toleration("dedicated", "Exists", "", ""), &t));
        assert!(tolerates(&toleration("", "Exists", "", ""), &t));
        assert!(tolerates(&toleration("", "Exists", "", "NoExecute"), &t));
        assert!(!tolerates(&toleration("", "Exists", "", "NoSchedule"), &t));
        assert!(!tolerates(&toleration("dedicated", "Lt", "1", ""), &t));
    }

    #[test]
    fn only_hard_effects_filter() {
        let taints = vec![
            taint("soft", "", "PreferNoSchedule"),
            taint("hard", "x", "NoSchedule"),
        ];
        assert_eq!(
            untolerated_taint(&taints, &[]).map(|t| t.key.as_str()),
            Some("hard")
        );
        let ok = [toleration("hard", "Exists", "", "")];
        assert!(untolerated_taint(&taints, &ok).is_none());
    }

    #[test]
    fn prefer_no_schedule_counts_untolerated_soft_taints() {
        let taints = vec![
            taint("a", "", "PreferNoSchedule"),
            taint("b", "", "PreferNoSchedule"),
            taint("c", "", "NoSchedule"),
        ];
        assert_eq!(intolerable_prefer_no_schedule(&taints, &[]), 2);
        let some = [toleration("a", "Exists", "", "PreferNoSchedule")];
        assert_eq!(intolerable_prefer_no_schedule(&taints, &some), 1);
        // A toleration for NoSchedule only does not count for PreferNoSchedule.
        let wrong_effect = [toleration("b", "Exists", "", "NoSchedule")];
        assert_eq!(intolerable_prefer_no_schedule(&taints, &wrong_effect), 2);
    }
}
