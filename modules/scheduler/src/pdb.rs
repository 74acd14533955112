//! PodDisruptionBudgets as preemption weighs them: evicting a pod a budget protects beyond
//! its `disruptionsAllowed` is a violation, which preemption avoids where it can (kube's
//! `filterPodsWithPDBViolation`).

use std::rc::Rc;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kmicro_module_sdk::selector::Selector;

use crate::node_info::PodInfo;

/// Splits `pods` (most important first) into those whose eviction would violate a budget
/// and the others, spending each budget's `disruptionsAllowed` in order. A pod the budget
/// already lists in `disruptedPods` costs nothing; a budget with no or an empty selector
/// protects nothing.
pub fn split_violating(
    pods: &[Rc<PodInfo>],
    budgets: &[Rc<PodDisruptionBudget>],
) -> (Vec<Rc<PodInfo>>, Vec<Rc<PodInfo>>) {
    let mut allowed: Vec<i64> = budgets
        .iter()
        .map(|b| {
            b.status
                .as_ref()
                .map(|s| i64::from(s.disruptions_allowed))
                .unwrap_or(0)
        })
        .collect();
    let selectors: Vec<Option<Selector>> = budgets
        .iter()
        .map(|b| {
            let selector = b.spec.as_ref()?.selector.as_ref()?;
            let parsed = Selector::from_label_selector(selector);
            (!parsed.is_everything()).then_some(parsed)
        })
        .collect();
    let (mut violating, mut fine) = (Vec::new(), Vec::new());
    for pod in pods {
        let mut violated = false;
        if !pod.pod.labels().is_empty() {
            for (i, budget) in budgets.iter().enumerate() {
                let Some(selector) = &selectors[i] else {
                    continue;
                };
                if budget.namespace_any() != pod.pod.namespace_any()
                    || !selector.matches(pod.pod.labels())
                {
                    continue;
                }
                let disrupted = budget
                    .status
                    .as_ref()
                    .and_then(|s| s.disrupted_pods.as_ref())
                    .is_some_and(|d| d.contains_key(pod.pod.name_any()));
                if disrupted {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(Rc::clone(pod));
        } else {
            fine.push(Rc::clone(pod));
        }
    }
    (violating, fine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::policy::v1::{
        PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
    };
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        LabelSelector, ObjectMeta,
    };

    fn budget(app: Option<&str>, allowed: i32) -> Rc<PodDisruptionBudget> {
        Rc::new(PodDisruptionBudget {
            metadata: ObjectMeta {
                name: Some("pdb".into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            spec: Some(PodDisruptionBudgetSpec {
                selector: app.map(|a| LabelSelector {
                    match_labels: Some([("app".to_string(), a.to_string())].into()),
                    match_expressions: None,
                }),
                ..Default::default()
            }),
            status: Some(PodDisruptionBudgetStatus {
                disruptions_allowed: allowed,
                ..Default::default()
            }),
        })
    }

    fn web() -> Rc<PodInfo> {
        let mut pod = pod_with(vec![container(&[])], vec![]);
        pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
        Rc::new(PodInfo::new(Rc::new(pod)))
    }

    #[test]
    fn budgets_are_spent_in_order() {
        let pods = [web(), web(), web()];
        let (violating, fine) = split_violating(&pods, &[budget(Some("web"), 1)]);
        assert_eq!((violating.len(), fine.len()), (2, 1));
        assert!(Rc::ptr_eq(&fine[0], &pods[0]));
    }

    #[test]
    fn unselected_and_unlabelled_pods_never_violate() {
        let mut plain = pod_with(vec![container(&[])], vec![]);
        plain.metadata.labels = None;
        let plain = Rc::new(PodInfo::new(Rc::new(plain)));
        let (violating, _) = split_violating(&[plain], &[budget(Some("web"), 0)]);
        assert!(violating.is_empty());
        let (violating, _) = split_violating(&[web()], &[budget(Some("db"), 0)]);
        assert!(violating.is_empty());
        let (violating, _) = split_violating(&[web()], &[budget(None, 0)]);
        assert!(violating.is_empty());
    }

    #[test]
    fn pods_already_disrupted_cost_nothing() {
        let pod = web();
        let mut b = (*budget(Some("web"), 0)).clone();
        b.status.as_mut().unwrap().disrupted_pods = Some(
            [(
                pod.pod.name_any().to_string(),
                kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    kmicro_module_sdk::k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ),
            )]
            .into(),
        );
        let (violating, _) = split_violating(&[pod], &[Rc::new(b)]);
        assert!(violating.is_empty());
    }
}
