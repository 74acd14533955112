//! What the workload controllers read from pods: phase, readiness, availability, and which
//! pods to delete first — kube's `podutil` and `controller.ActivePodsWithRanks` rules.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use kmicro_module_sdk::ResourceExt;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ObjectMeta, OwnerReference, Time,
};

/// The annotation by which users rank pods for scale-down (lower cost goes first).
pub const DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Milliseconds since the epoch of a Kubernetes time.
pub fn millis(time: &Time) -> u64 {
    time.0.as_millisecond().max(0) as u64
}

/// `status.phase`, empty when unset.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// Whether the pod has finished for good (`Succeeded` or `Failed`).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// kube's `IsPodActive`: neither finished nor being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminal(pod) && !pod.is_deleting()
}

/// Milliseconds since the epoch at which the pod's `Ready` condition became true, when it is.
pub fn ready_since(pod: &Pod) -> Option<u64> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    if condition.status != "True" {
        return None;
    }
    Some(condition.last_transition_time.as_ref().map_or(0, millis))
}

/// kube's `IsPodReady`: the `Ready` condition is `True`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// When a ready pod becomes available: `minReadySeconds` after it became ready. None for a
/// pod that is not ready.
pub fn available_at(pod: &Pod, min_ready_seconds: i32) -> Option<u64> {
    let since = ready_since(pod)?;
    if min_ready_seconds <= 0 {
        return Some(0);
    }
    if since == 0 {
        // Ready with no transition time: kube never counts it available after a delay.
        return None;
    }
    Some(since.saturating_add(min_ready_seconds as u64 * 1000))
}

/// kube's `IsPodAvailable`: ready for at least `minReadySeconds` at `now` (milliseconds).
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: u64) -> bool {
    match available_at(pod, min_ready_seconds) {
        Some(0) => true,
        // kube: LastTransitionTime + minReadySeconds must be strictly before now.
        Some(at) => at < now,
        None => false,
    }
}

/// The earliest moment (milliseconds) at which one of `pods` that is ready but not yet
/// available becomes available — when a controller should look again.
pub fn next_availability<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    min_ready_seconds: i32,
    now: u64,
) -> Option<u64> {
    pods.into_iter()
        .filter_map(|p| available_at(p, min_ready_seconds))
        .filter(|&at| at >= now && at != 0)
        .min()
}

/// The highest restart count of the pod's containers.
pub fn max_restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// `metadata.creationTimestamp` in milliseconds, 0 when unset.
pub fn created(meta: &ObjectMeta) -> u64 {
    meta.creation_timestamp.as_ref().map_or(0, millis)
}

/// The node the pod is bound to, empty when unscheduled.
pub fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.annotations()
        .get(DELETION_COST_ANNOTATION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Base-2 logarithm of the age of `t` (milliseconds) at `now`, in nanoseconds as kube's
/// `logarithmicRankDiff` takes it; -1 for times not in the past.
fn log_rank(t: u64, now: u64) -> i64 {
    if now <= t {
        return -1;
    }
    let nanos = (now - t) as f64 * 1_000_000.0;
    nanos.log2() as i64
}

/// Compares two times for kube's "been ready/created for less time goes first" rule: an
/// unset time first, then the later one, in logarithmic buckets of age when `now` is known
/// (ties broken by uid).
fn newer_first(t1: u64, t2: u64, uids: (&str, &str), now: u64) -> Option<Ordering> {
    if t1 == t2 {
        return None;
    }
    if now == 0 || t1 == 0 || t2 == 0 {
        // afterOrZero: an unset time is smaller, else the later one is.
        return Some(match (t1, t2) {
            (0, _) => Ordering::Less,
            (_, 0) => Ordering::Greater,
            _ => t2.cmp(&t1),
        });
    }
    let diff = log_rank(t1, now) - log_rank(t2, now);
    Some(match diff.cmp(&0) {
        Ordering::Equal => uids.0.cmp(uids.1),
        other => other,
    })
}

/// A pod with its rank: how many active pods of its owner family share its node.
#[derive(Debug, Clone, Copy)]
pub struct Ranked<'a> {
    /// The pod.
    pub pod: &'a Pod,
    /// Active related pods on the same node.
    pub rank: usize,
}

/// kube's `ActivePodsWithRanks` order: the pod to delete first sorts first.
pub fn deletion_order(a: &Ranked, b: &Ranked, now: u64) -> Ordering {
    let (pa, pb) = (a.pod, b.pod);
    let (na, nb) = (node_name(pa), node_name(pb));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_phase = phase_ordinal(pa).cmp(&phase_ordinal(pb));
    if by_phase != Ordering::Equal {
        return by_phase;
    }
    let (ra, rb) = (ready_since(pa), ready_since(pb));
    if ra.is_some() != rb.is_some() {
        return if ra.is_none() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by_cost = deletion_cost(pa).cmp(&deletion_cost(pb));
    if by_cost != Ordering::Equal {
        return by_cost;
    }
    if a.rank != b.rank {
        return b.rank.cmp(&a.rank);
    }
    let uids = (pa.uid_any(), pb.uid_any());
    if let (Some(ra), Some(rb)) = (ra, rb)
        && let Some(order) = newer_first(ra, rb, uids, now)
    {
        return order;
    }
    let by_restarts = max_restarts(pb).cmp(&max_restarts(pa));
    if by_restarts != Ordering::Equal {
        return by_restarts;
    }
    if let Some(order) = newer_first(created(&pa.metadata), created(&pb.metadata), uids, now) {
        return order;
    }
    pa.name_any().cmp(pb.name_any())
}

/// The `count` pods of `pods` to delete first, ranked against `related` (the active pods of
/// the whole owner family, for the "doubled up on a node" rule).
pub fn pick_for_deletion<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    count: usize,
    now: u64,
) -> Vec<&'a Pod> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in related.iter().filter(|p| is_active(p)) {
        *per_node.entry(node_name(pod)).or_default() += 1;
    }
    let mut ranked: Vec<Ranked> = pods
        .iter()
        .map(|pod| Ranked {
            pod,
            rank: per_node.get(node_name(pod)).copied().unwrap_or(0),
        })
        .collect();
    if count < ranked.len() {
        ranked.sort_by(|a, b| deletion_order(a, b, now));
    }
    ranked.into_iter().take(count).map(|r| r.pod).collect()
}

/// kube's `GetPodFromTemplate`: a pod of `template` in `namespace` with `owner` as its
/// controller, named by `generateName` `<parent>-` (or exactly `name` when given).
pub fn from_template(
    template: &PodTemplateSpec,
    namespace: &str,
    parent: &str,
    name: Option<&str>,
    owner: OwnerReference,
) -> Pod {
    let meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: name.map(str::to_string),
            generate_name: name.is_none().then(|| format!("{parent}-")),
            namespace: Some(namespace.to_string()),
            labels: meta.labels.filter(|l| !l.is_empty()),
            annotations: meta.annotations.filter(|a| !a.is_empty()),
            finalizers: meta.finalizers.filter(|f| !f.is_empty()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::testing::{at, pod};

    #[test]
    fn availability_needs_min_ready_seconds_of_readiness() {
        let p = pod("a").ready_at(10_000).build();
        assert!(is_available(&p, 0, 10_000));
        assert!(!is_available(&p, 5, 15_000));
        assert!(is_available(&p, 5, 15_001));
        assert_eq!(available_at(&p, 5), Some(15_000));
        let not_ready = pod("b").phase("Running").build();
        assert!(!is_available(&not_ready, 0, 99_000));
        assert_eq!(next_availability([&p, &not_ready], 5, 12_000), Some(15_000));
        assert_eq!(next_availability([&p], 0, 12_000), None);
    }

    #[test]
    fn activity_excludes_finished_and_deleting_pods() {
        assert!(is_active(&pod("a").phase("Running").build()));
        assert!(!is_active(&pod("a").phase("Failed").build()));
        assert!(!is_active(&pod("a").phase("Succeeded").build()));
        assert!(!is_active(&pod("a").deleting().build()));
    }

    fn order(pods: &[Pod], now: u64) -> Vec<String> {
        let refs: Vec<&Pod> = pods.iter().collect();
        pick_for_deletion(&refs, &refs, refs.len() - 1, now)
            .into_iter()
            .map(|p| p.name_any().to_string())
            .collect()
    }

    #[test]
    fn deletes_unscheduled_then_pending_then_not_ready_first() {
        let pods = vec![
            pod("running-ready")
                .node("n1")
                .phase("Running")
                .ready_at(1000)
                .build(),
            pod("running").node("n2").phase("Running").build(),
            pod("pending").node("n3").phase("Pending").build(),
            pod("unscheduled").phase("Pending").build(),
            pod("unknown").node("n4").phase("Unknown").build(),
        ];
        assert_eq!(
            order(&pods, at(100)),
            ["unscheduled", "pending", "unknown", "running"]
        );
    }

    #[test]
    fn deletion_cost_then_doubled_up_then_newest() {
        let pods = vec![
            pod("old")
                .node("n1")
                .phase("Running")
                .ready_at(at(1))
                .created(at(0))
                .build(),
            pod("costly")
                .node("n2")
                .phase("Running")
                .ready_at(at(50))
                .created(at(49))
                .annotation(DELETION_COST_ANNOTATION, "100")
                .build(),
            pod("cheap")
                .node("n3")
                .phase("Running")
                .ready_at(at(1))
                .created(at(0))
                .annotation(DELETION_COST_ANNOTATION, "-5")
                .build(),
            pod("doubled")
                .node("n1")
                .phase("Running")
                .ready_at(at(1))
                .created(at(0))
                .build(),
            pod("newest")
                .node("n4")
                .phase("Running")
                .ready_at(at(99))
                .created(at(98))
                .build(),
        ];
        // cheap (lowest cost), then the two on n1 (doubled up; equal age: by uid/name),
        // then the newest-ready, the costly one last.
        let got = order(&pods, at(100));
        assert_eq!(got[0], "cheap");
        assert!(
            got[1..3].contains(&"old".to_string()) && got[1..3].contains(&"doubled".to_string())
        );
        assert_eq!(got[3], "newest");
    }

    #[test]
    fn restarts_then_creation_time_break_ties() {
        let pods = vec![
            pod("a").node("n1").phase("Running").created(at(10)).build(),
            pod("b")
                .node("n2")
                .phase("Running")
                .created(at(10))
                .restarts(3)
                .build(),
            pod("c").node("n3").phase("Running").created(at(90)).build(),
        ];
        assert_eq!(order(&pods, at(100)), ["b", "c"]);
    }

    #[test]
    fn template_pod_carries_metadata_and_owner() {
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..ObjectMeta::default()
            }),
            spec: Some(Default::default()),
        };
        let owner = OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "web-1".into(),
            uid: "u1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let p = from_template(&template, "ns", "web-1", None, owner.clone());
        assert_eq!(p.metadata.generate_name.as_deref(), Some("web-1-"));
        assert_eq!(p.metadata.name, None);
        assert_eq!(p.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(p.metadata.owner_references, Some(vec![owner.clone()]));
        let named = from_template(&template, "ns", "db", Some("db-0"), owner);
        assert_eq!(named.metadata.name.as_deref(), Some("db-0"));
        assert_eq!(named.metadata.generate_name, None);
    }
}
