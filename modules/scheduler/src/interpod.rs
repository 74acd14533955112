//! Inter-pod affinity and anti-affinity (kube's InterPodAffinity plugin): where a pod may go
//! given the pods already running, by topology domain (`topologyKey`).

use std::collections::{BTreeMap, BTreeSet};

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Pod, PodAffinityTerm};
use kmicro_module_sdk::selector::Selector;

use crate::node_info::{NodeInfo, PodInfo};
use crate::status::Status;

/// Reason when the pod's required affinity finds no matching pods in the node's domain.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// Reason when the pod's required anti-affinity finds matching pods in the node's domain.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Reason when pods in the node's domain have anti-affinity against the pod.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// The weight of another pod's required affinity term matching the incoming pod, when
/// scoring (kube's `hardPodAffinityWeight` default).
const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

/// Namespace labels by namespace name, for terms with a `namespaceSelector`.
pub type NamespaceLabels = BTreeMap<String, BTreeMap<String, String>>;

/// A topology domain: a label key and its value.
type Domain = (String, String);

/// One pod affinity term, read.
#[derive(Debug, Clone)]
pub struct Term {
    namespaces: BTreeSet<String>,
    namespace_selector: Option<Selector>,
    /// None for a missing `labelSelector`, which matches no pod.
    selector: Option<Selector>,
    topology_key: String,
}

impl Term {
    /// Reads `term` of a pod in `namespace` (the term's namespaces default to the pod's own).
    pub fn new(term: &PodAffinityTerm, namespace: &str) -> Self {
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(namespace.to_string());
        }
        Self {
            namespaces,
            namespace_selector: term
                .namespace_selector
                .as_ref()
                .map(Selector::from_label_selector),
            selector: term
                .label_selector
                .as_ref()
                .map(Selector::from_label_selector),
            topology_key: term.topology_key.clone(),
        }
    }

    /// Whether `pod` (in a namespace with `ns_labels`) is one the term selects.
    pub fn matches(&self, pod: &Pod, namespaces: &NamespaceLabels) -> bool {
        let namespace = pod.namespace_any();
        let in_namespace = self.namespaces.contains(namespace)
            || self.namespace_selector.as_ref().is_some_and(|s| {
                static NONE: BTreeMap<String, String> = BTreeMap::new();
                s.matches(namespaces.get(namespace).unwrap_or(&NONE))
            });
        in_namespace
            && self
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(pod.labels()))
    }

    /// The domain of a node with `labels` for this term, if the node has the key.
    fn domain(&self, labels: &BTreeMap<String, String>) -> Option<Domain> {
        labels
            .get(&self.topology_key)
            .map(|v| (self.topology_key.clone(), v.clone()))
    }
}

/// A pod's affinity terms, read.
#[derive(Debug, Clone, Default)]
pub struct Terms {
    /// Required affinity.
    pub required_affinity: Vec<Term>,
    /// Required anti-affinity.
    pub required_anti_affinity: Vec<Term>,
    /// Preferred affinity, with weights.
    pub preferred_affinity: Vec<(Term, i64)>,
    /// Preferred anti-affinity, with weights.
    pub preferred_anti_affinity: Vec<(Term, i64)>,
}

impl Terms {
    /// Reads the pod affinity and anti-affinity of `pod`.
    pub fn of(pod: &Pod) -> Self {
        let namespace = pod.namespace_any();
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let required = |terms: Option<&Vec<PodAffinityTerm>>| -> Vec<Term> {
            terms
                .into_iter()
                .flatten()
                .map(|t| Term::new(t, namespace))
                .collect()
        };
        let preferred = |terms: Option<
            &Vec<kmicro_module_sdk::k8s_openapi::api::core::v1::WeightedPodAffinityTerm>,
        >| {
            terms
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        Term::new(&t.pod_affinity_term, namespace),
                        i64::from(t.weight),
                    )
                })
                .collect::<Vec<_>>()
        };
        Self {
            required_affinity: required(pa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            required_anti_affinity: required(paa.and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_affinity: preferred(pa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
            preferred_anti_affinity: preferred(paa.and_then(|a| {
                a.preferred_during_scheduling_ignored_during_execution
                    .as_ref()
            })),
        }
    }

    /// Whether there are no terms at all.
    pub fn is_empty(&self) -> bool {
        self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty()
    }
}

/// Whether `pod` matches every term (and there is at least one).
fn matches_all(terms: &[Term], pod: &Pod, namespaces: &NamespaceLabels) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, namespaces))
}

/// What the filter needs, counted once over the cluster for the incoming pod (kube's
/// InterPodAffinity pre-filter state).
#[derive(Debug, Clone, Default)]
pub struct FilterState {
    /// Domains holding pods that match all the incoming pod's required affinity terms.
    affinity: BTreeMap<Domain, i64>,
    /// Domains holding pods that match the incoming pod's required anti-affinity terms.
    anti_affinity: BTreeMap<Domain, i64>,
    /// Domains holding pods whose required anti-affinity matches the incoming pod.
    existing_anti_affinity: BTreeMap<Domain, i64>,
}

impl FilterState {
    /// Counts the domains for `pod` over `nodes`.
    pub fn new(pod: &PodInfo, nodes: &[NodeInfo], namespaces: &NamespaceLabels) -> Self {
        let mut state = Self::default();
        let incoming = &pod.affinity;
        for node in nodes {
            let labels = node.node.labels();
            for existing in &node.pods {
                for term in &existing.affinity.required_anti_affinity {
                    if term.matches(&pod.pod, namespaces)
                        && let Some(d) = term.domain(labels)
                    {
                        *state.existing_anti_affinity.entry(d).or_insert(0) += 1;
                    }
                }
                if matches_all(&incoming.required_affinity, &existing.pod, namespaces) {
                    for term in &incoming.required_affinity {
                        if let Some(d) = term.domain(labels) {
                            *state.affinity.entry(d).or_insert(0) += 1;
                        }
                    }
                }
                for term in &incoming.required_anti_affinity {
                    if term.matches(&existing.pod, namespaces)
                        && let Some(d) = term.domain(labels)
                    {
                        *state.anti_affinity.entry(d).or_insert(0) += 1;
                    }
                }
            }
        }
        state
    }

    /// The InterPodAffinity filter for `pod` on `node`.
    pub fn filter(
        &self,
        pod: &PodInfo,
        node: &NodeInfo,
        namespaces: &NamespaceLabels,
    ) -> Result<(), Status> {
        let labels = node.node.labels();
        if !self.satisfies_affinity(pod, labels, namespaces) {
            return Err(Status::unresolvable(REASON_AFFINITY));
        }
        let anti = pod
            .affinity
            .required_anti_affinity
            .iter()
            .filter_map(|t| t.domain(labels))
            .any(|d| self.anti_affinity.get(&d).is_some_and(|n| *n > 0));
        if anti {
            return Err(Status::unschedulable(vec![
                REASON_ANTI_AFFINITY.to_string(),
            ]));
        }
        let existing = labels.iter().any(|(k, v)| {
            self.existing_anti_affinity
                .get(&(k.clone(), v.clone()))
                .is_some_and(|n| *n > 0)
        });
        if existing {
            return Err(Status::unschedulable(vec![
                REASON_EXISTING_ANTI_AFFINITY.to_string(),
            ]));
        }
        Ok(())
    }

    /// Every required affinity term needs its key on the node and a matching pod in the
    /// node's domain; unless no pod matches anywhere and the pod matches its own terms (the
    /// first of a group that wants to be together).
    fn satisfies_affinity(
        &self,
        pod: &PodInfo,
        labels: &BTreeMap<String, String>,
        namespaces: &NamespaceLabels,
    ) -> bool {
        let terms = &pod.affinity.required_affinity;
        let mut pods_exist = true;
        for term in terms {
            match term.domain(labels) {
                None => return false,
                Some(d) => {
                    if self.affinity.get(&d).is_none_or(|n| *n <= 0) {
                        pods_exist = false;
                    }
                }
            }
        }
        pods_exist || (self.affinity.is_empty() && matches_all(terms, &pod.pod, namespaces))
    }
}

/// The InterPodAffinity score of each of `feasible` (indices into `nodes`), 0–100: preferred
/// terms of the pod towards (or away from) pods already placed, and those pods' terms towards
/// (or away from) the pod, summed by domain and min-max normalized.
pub fn scores(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    feasible: &[&NodeInfo],
    namespaces: &NamespaceLabels,
) -> Vec<i64> {
    let incoming = &pod.affinity;
    let mut by_domain: BTreeMap<Domain, i64> = BTreeMap::new();
    let mut add = |term: &Term, weight: i64, target: &Pod, labels: &BTreeMap<String, String>| {
        if term.matches(target, namespaces)
            && let Some(d) = term.domain(labels)
        {
            *by_domain.entry(d).or_insert(0) += weight;
        }
    };
    for node in nodes {
        let labels = node.node.labels();
        if labels.is_empty() {
            continue;
        }
        for existing in &node.pods {
            for (term, w) in &incoming.preferred_affinity {
                add(term, *w, &existing.pod, labels);
            }
            for (term, w) in &incoming.preferred_anti_affinity {
                add(term, -*w, &existing.pod, labels);
            }
            let theirs = &existing.affinity;
            for term in &theirs.required_affinity {
                add(term, HARD_POD_AFFINITY_WEIGHT, &pod.pod, labels);
            }
            for (term, w) in &theirs.preferred_affinity {
                add(term, *w, &pod.pod, labels);
            }
            for (term, w) in &theirs.preferred_anti_affinity {
                add(term, -*w, &pod.pod, labels);
            }
        }
    }
    if by_domain.is_empty() {
        return vec![0; feasible.len()];
    }
    let raw: Vec<i64> = feasible
        .iter()
        .map(|n| {
            n.node
                .labels()
                .iter()
                .filter_map(|(k, v)| by_domain.get(&(k.clone(), v.clone())))
                .sum()
        })
        .collect();
    let (min, max) = (
        raw.iter().copied().min().unwrap_or(0),
        raw.iter().copied().max().unwrap_or(0),
    );
    raw.iter()
        .map(|s| {
            if max > min {
                (100.0 * ((s - min) as f64 / (max - min) as f64)) as i64
            } else {
                0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::{
        Affinity, PodAffinity, PodAntiAffinity, WeightedPodAffinityTerm,
    };
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use std::rc::Rc;

    const HOST: &str = "kubernetes.io/hostname";

    fn term(app: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), app.to_string())].into()),
                match_expressions: None,
            }),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    fn labelled(app: &str) -> Pod {
        let mut pod = pod_with(vec![container(&[])], vec![]);
        pod.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        pod
    }

    fn with_affinity(
        mut pod: Pod,
        affinity: Vec<PodAffinityTerm>,
        anti: Vec<PodAffinityTerm>,
    ) -> Pod {
        pod.spec.as_mut().unwrap().affinity = Some(Affinity {
            pod_affinity: (!affinity.is_empty()).then_some(PodAffinity {
                required_during_scheduling_ignored_during_execution: Some(affinity),
                preferred_during_scheduling_ignored_during_execution: None,
            }),
            pod_anti_affinity: (!anti.is_empty()).then_some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(anti),
                preferred_during_scheduling_ignored_during_execution: None,
            }),
            node_affinity: None,
        });
        pod
    }

    fn host(name: &str, pods: Vec<Pod>) -> NodeInfo {
        let mut info = NodeInfo::new(Rc::new(node_labelled(name, &[(HOST, name), ("zone", "z")])));
        for p in pods {
            info.add_pod(PodInfo::new(Rc::new(assigned(p, name))));
        }
        info
    }

    fn run(pod: &Pod, nodes: &[NodeInfo]) -> Vec<Result<(), Status>> {
        let pod = PodInfo::new(Rc::new(pod.clone()));
        let ns = NamespaceLabels::new();
        let state = FilterState::new(&pod, nodes, &ns);
        nodes.iter().map(|n| state.filter(&pod, n, &ns)).collect()
    }

    #[test]
    fn anti_affinity_spreads_replicas_over_hosts() {
        let replica = || with_affinity(labelled("web"), vec![], vec![term("web", HOST)]);
        let nodes = [host("a", vec![replica()]), host("b", vec![])];
        let results = run(&replica(), &nodes);
        assert_eq!(
            results[0],
            Err(Status::unschedulable(vec![REASON_ANTI_AFFINITY.into()]))
        );
        assert_eq!(results[1], Ok(()));
        // A pod without terms is kept off by the running replica's anti-affinity.
        let plain = labelled("web");
        let results = run(&plain, &nodes);
        assert_eq!(
            results[0],
            Err(Status::unschedulable(vec![
                REASON_EXISTING_ANTI_AFFINITY.into()
            ]))
        );
        assert_eq!(results[1], Ok(()));
    }

    #[test]
    fn affinity_follows_matching_pods_and_the_first_may_start_anywhere() {
        let follower = with_affinity(labelled("cache"), vec![term("web", HOST)], vec![]);
        let nodes = [host("a", vec![labelled("web")]), host("b", vec![])];
        let results = run(&follower, &nodes);
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Err(Status::unresolvable(REASON_AFFINITY)));
        // Nobody matches anywhere and the pod does not match its own term: nowhere.
        let empty = [host("a", vec![]), host("b", vec![])];
        assert!(run(&follower, &empty).iter().all(|r| r.is_err()));
        // The first of a group with affinity to itself goes anywhere.
        let first = with_affinity(labelled("web"), vec![term("web", HOST)], vec![]);
        assert!(run(&first, &empty).iter().all(|r| r.is_ok()));
        // A node without the topology key never satisfies affinity.
        let bare = NodeInfo::new(Rc::new(node("c", "1", "1Gi")));
        assert_eq!(
            run(&first, &[bare])[0],
            Err(Status::unresolvable(REASON_AFFINITY))
        );
    }

    #[test]
    fn terms_look_in_their_namespaces() {
        let mut other_ns = labelled("web");
        other_ns.metadata.namespace = Some("other".into());
        let nodes = [host("a", vec![other_ns])];
        let avoid = with_affinity(labelled("x"), vec![], vec![term("web", HOST)]);
        assert_eq!(run(&avoid, &nodes)[0], Ok(()));
        let mut everywhere = term("web", HOST);
        everywhere.namespace_selector = Some(LabelSelector::default());
        let avoid_all = with_affinity(labelled("x"), vec![], vec![everywhere]);
        assert!(run(&avoid_all, &nodes)[0].is_err());
        let mut listed = term("web", HOST);
        listed.namespaces = Some(vec!["other".into()]);
        let avoid_listed = with_affinity(labelled("x"), vec![], vec![listed]);
        assert!(run(&avoid_listed, &nodes)[0].is_err());
        // A term without a label selector selects no pod.
        let mut no_selector = term("web", HOST);
        no_selector.label_selector = None;
        no_selector.namespaces = Some(vec!["other".into()]);
        let nothing = with_affinity(labelled("x"), vec![], vec![no_selector]);
        assert_eq!(run(&nothing, &nodes)[0], Ok(()));
    }

    #[test]
    fn namespace_selectors_read_namespace_labels() {
        let mut prod = labelled("web");
        prod.metadata.namespace = Some("prod".into());
        let nodes = [host("a", vec![prod])];
        let mut by_label = term("web", HOST);
        by_label.namespace_selector = Some(LabelSelector {
            match_labels: Some([("env".to_string(), "prod".to_string())].into()),
            match_expressions: None,
        });
        let pod = PodInfo::new(Rc::new(with_affinity(
            labelled("x"),
            vec![],
            vec![by_label],
        )));
        let mut ns = NamespaceLabels::new();
        let state = FilterState::new(&pod, &nodes, &ns);
        assert!(state.filter(&pod, &nodes[0], &ns).is_ok());
        ns.insert(
            "prod".into(),
            [("env".to_string(), "prod".to_string())].into(),
        );
        let state = FilterState::new(&pod, &nodes, &ns);
        assert!(state.filter(&pod, &nodes[0], &ns).is_err());
    }

    #[test]
    fn preferred_terms_score_by_domain() {
        let mut pod = labelled("cache");
        pod.spec.as_mut().unwrap().affinity = Some(Affinity {
            pod_affinity: Some(PodAffinity {
                required_during_scheduling_ignored_during_execution: None,
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 10,
                        pod_affinity_term: term("web", HOST),
                    },
                ]),
            }),
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: None,
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    WeightedPodAffinityTerm {
                        weight: 5,
                        pod_affinity_term: term("batch", HOST),
                    },
                ]),
            }),
            node_affinity: None,
        });
        let pod = PodInfo::new(Rc::new(pod));
        let nodes = [
            host("a", vec![labelled("web")]),
            host("b", vec![]),
            host("c", vec![labelled("batch")]),
        ];
        let feasible: Vec<&NodeInfo> = nodes.iter().collect();
        // a: +10, b: 0, c: -5 → normalized over [-5, 10].
        assert_eq!(
            scores(&pod, &nodes, &feasible, &NamespaceLabels::new()),
            vec![100, 33, 0]
        );
        let plain = PodInfo::new(Rc::new(labelled("other")));
        assert_eq!(
            scores(&plain, &nodes, &feasible, &NamespaceLabels::new()),
            vec![0, 0, 0]
        );
    }
}
