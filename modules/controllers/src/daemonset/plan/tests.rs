use super::*;
use crate::workload::testing::{at, node, pod};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn daemon<'a>(spec: &'a PodSpec, rolling: Option<Rolling<'a>>) -> Daemon<'a> {
    Daemon {
        spec,
        hash: "new",
        generation: Some(2),
        min_ready_seconds: 0,
        rolling,
    }
}

fn group(pods: &[Pod]) -> BTreeMap<String, Vec<&Pod>> {
    super::super::eligibility::by_node(pods.iter())
}

fn current(name: &str, node_name: &str) -> Pod {
    pod(name)
        .node(node_name)
        .label(REVISION_HASH_LABEL, "new")
        .running_ready(at(0))
        .created(at(1))
        .build()
}

fn outdated(name: &str, node_name: &str) -> Pod {
    pod(name)
        .node(node_name)
        .label(REVISION_HASH_LABEL, "old")
        .running_ready(at(0))
        .created(at(0))
        .build()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn creates_on_nodes_without_a_pod_and_cleans_up_the_rest() {
    let spec = PodSpec {
        node_selector: Some([("role".to_string(), "edge".to_string())].into()),
        ..PodSpec::default()
    };
    let d = daemon(&spec, None);
    let nodes = [
        node("a", &[("role", "edge")], &[]),
        node("b", &[("role", "edge")], &[]),
        node("c", &[("role", "core")], &[]),
        node("d", &[("role", "edge")], &[]),
        node("e", &[("role", "edge")], &[]),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    let pods = [
        current("on-a", "a"),
        current("on-c", "c"),
        pod("failed-d").node("d").phase("Failed").build(),
        current("on-e-old", "e"),
        pod("on-e-new")
            .node("e")
            .label(REVISION_HASH_LABEL, "new")
            .phase("Running")
            .created(at(5))
            .build(),
        // Pinned by affinity to a node that is gone, never scheduled.
        {
            let mut p = pod("orphaned").build();
            p.spec.as_mut().unwrap().affinity =
                Some(super::super::eligibility::pin_to_node(None, "gone"));
            p
        },
    ];
    let changes = manage(&d, &refs, &group(&pods), at(10));
    assert_eq!(changes.create_on, ["b"]);
    assert_eq!(
        sorted(changes.delete),
        ["failed-d", "on-c", "on-e-new", "orphaned"]
    );
    assert_eq!(changes.failed, [("failed-d".to_string(), "d".to_string())]);
}

#[test]
fn tainted_nodes_keep_pods_that_tolerate_no_execute() {
    let spec = PodSpec::default();
    let d = daemon(&spec, None);
    let nodes = [
        node("no-schedule", &[], &["dedicated:NoSchedule"]),
        node("no-execute", &[], &["dedicated:NoExecute"]),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    let pods = [current("p1", "no-schedule"), current("p2", "no-execute")];
    let changes = manage(&d, &refs, &group(&pods), at(10));
    assert!(changes.create_on.is_empty());
    assert_eq!(changes.delete, ["p2"]);
}

fn rolling<'a>(surge: &'a IntOrString, unavailable: &'a IntOrString) -> Option<Rolling<'a>> {
    Some(Rolling {
        max_surge: Some(surge),
        max_unavailable: Some(unavailable),
    })
}

#[test]
fn rolling_without_surge_deletes_within_max_unavailable() {
    let spec = PodSpec::default();
    let (zero, two) = (IntOrString::Int(0), IntOrString::Int(2));
    let d = daemon(&spec, rolling(&zero, &two));
    let nodes: Vec<Node> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|n| node(n, &[], &[]))
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    // a: updated but not ready yet (counts as unavailable); b: not-ready old pod (replaced at
    // once); c, d, e: available old pods (one more fits under maxUnavailable 2).
    let pods = [
        pod("a1")
            .node("a")
            .label(REVISION_HASH_LABEL, "new")
            .phase("Running")
            .build(),
        pod("b1")
            .node("b")
            .label(REVISION_HASH_LABEL, "old")
            .phase("Running")
            .build(),
        outdated("c1", "c"),
        outdated("d1", "d"),
        outdated("e1", "e"),
    ];
    let changes = rolling_update(&d, &refs, &group(&pods), at(10));
    assert_eq!(changes.delete, ["b1", "c1"]);
    assert!(changes.create_on.is_empty());
    // The template generation label also marks a pod as updated.
    let by_generation = [pod("x")
        .node("a")
        .label(TEMPLATE_GENERATION_LABEL, "2")
        .running_ready(at(0))
        .build()];
    let changes = rolling_update(&d, &refs[..1], &group(&by_generation), at(10));
    assert!(changes.delete.is_empty());
}

#[test]
fn rolling_with_only_percentages_rounds_up() {
    let spec = PodSpec::default();
    let (zero, ten) = (
        IntOrString::String("0%".into()),
        IntOrString::String("10%".into()),
    );
    let d = daemon(&spec, rolling(&zero, &ten));
    let nodes: Vec<Node> = ["a", "b", "c"].iter().map(|n| node(n, &[], &[])).collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let pods = [
        outdated("a1", "a"),
        outdated("b1", "b"),
        outdated("c1", "c"),
    ];
    // 10% of 3 rounds up to 1.
    assert_eq!(
        rolling_update(&d, &refs, &group(&pods), at(10)).delete,
        ["a1"]
    );
}

#[test]
fn rolling_with_surge_creates_beside_old_pods() {
    let spec = PodSpec::default();
    let (one, zero) = (IntOrString::Int(1), IntOrString::Int(0));
    let d = daemon(&spec, rolling(&one, &zero));
    assert!(d.allows_surge());
    let nodes: Vec<Node> = ["a", "b", "c"].iter().map(|n| node(n, &[], &[])).collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    // a: new pod available beside the old → old goes; b: old not ready → new at once;
    // c: available old → a surge candidate, but a new pod is already surging? no: a's new
    // pod is available, so one slot is free.
    let pods = [
        outdated("a-old", "a"),
        current("a-new", "a"),
        pod("b-old")
            .node("b")
            .label(REVISION_HASH_LABEL, "old")
            .phase("Running")
            .build(),
        outdated("c-old", "c"),
    ];
    let changes = rolling_update(&d, &refs, &group(&pods), at(10));
    assert_eq!(changes.delete, ["a-old"]);
    assert_eq!(changes.create_on, ["b", "c"]);
    // While a new pod is still starting, no further surge.
    let pods = [
        outdated("a-old", "a"),
        pod("a-new")
            .node("a")
            .label(REVISION_HASH_LABEL, "new")
            .phase("Pending")
            .build(),
        outdated("c-old", "c"),
    ];
    let changes = rolling_update(&d, &refs, &group(&pods), at(10));
    assert!(changes.delete.is_empty());
    assert!(changes.create_on.is_empty());
    // The manage loop keeps both while the new pod is not available, then drops the old.
    let pods = [
        outdated("a-old", "a"),
        pod("a-new")
            .node("a")
            .label(REVISION_HASH_LABEL, "new")
            .phase("Running")
            .created(at(3))
            .build(),
    ];
    assert!(
        manage(&d, &refs[..1], &group(&pods), at(10))
            .delete
            .is_empty()
    );
    let pods = [outdated("a-old", "a"), current("a-new", "a")];
    assert_eq!(
        manage(&d, &refs[..1], &group(&pods), at(10)).delete,
        ["a-old"]
    );
}

#[test]
fn status_counts_per_node() {
    let spec = PodSpec {
        node_selector: Some([("role".to_string(), "edge".to_string())].into()),
        ..PodSpec::default()
    };
    let mut d = daemon(&spec, None);
    d.min_ready_seconds = 30;
    let nodes = [
        node("a", &[("role", "edge")], &[]),
        node("b", &[("role", "edge")], &[]),
        node("c", &[("role", "edge")], &[]),
        node("x", &[], &[]),
    ];
    let refs: Vec<&Node> = nodes.iter().collect();
    let pods = [
        current("a1", "a"),
        pod("b1")
            .node("b")
            .label(REVISION_HASH_LABEL, "old")
            .running_ready(at(95))
            .build(),
        current("x1", "x"),
    ];
    let c = counts(&d, &refs, &group(&pods), at(100));
    assert_eq!(
        c,
        Counts {
            desired: 3,
            current: 2,
            misscheduled: 1,
            ready: 2,
            updated: 1,
            available: 1
        }
    );
}
