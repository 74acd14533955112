use super::*;
use crate::workload::testing::node;
use kmicro_module_sdk::serde_json::{self, json};

fn spec(value: serde_json::Value) -> PodSpec {
    serde_json::from_value(value).unwrap()
}

const RUN: Fit = Fit {
    should_run: true,
    should_continue_running: true,
};
const NEVER: Fit = Fit {
    should_run: false,
    should_continue_running: false,
};
const STAY: Fit = Fit {
    should_run: false,
    should_continue_running: true,
};

#[test]
fn plain_daemon_runs_everywhere_but_on_untolerated_taints() {
    let s = spec(json!({"containers": []}));
    assert_eq!(fit(&s, &node("n1", &[], &[])), RUN);
    // Control-plane taint: not tolerated, NoSchedule only → may stay, not start.
    assert_eq!(
        fit(
            &s,
            &node(
                "n1",
                &[],
                &["node-role.kubernetes.io/control-plane:NoSchedule"]
            )
        ),
        STAY
    );
    assert_eq!(
        fit(&s, &node("n1", &[], &["dedicated=db:NoExecute"])),
        NEVER
    );
    // Node problems are tolerated by default.
    assert_eq!(
        fit(
            &s,
            &node("n1", &[], &["node.kubernetes.io/not-ready:NoExecute"])
        ),
        RUN
    );
    assert_eq!(
        fit(
            &s,
            &node("n1", &[], &["node.kubernetes.io/unschedulable:NoSchedule"])
        ),
        RUN
    );
    assert_eq!(
        fit(
            &s,
            &node("n1", &[], &["node.kubernetes.io/disk-pressure:NoSchedule"])
        ),
        RUN
    );
    assert_eq!(
        fit(
            &s,
            &node(
                "n1",
                &[],
                &["node.kubernetes.io/network-unavailable:NoSchedule"]
            )
        ),
        STAY
    );
    let host = spec(json!({"containers": [], "hostNetwork": true}));
    assert_eq!(
        fit(
            &host,
            &node(
                "n1",
                &[],
                &["node.kubernetes.io/network-unavailable:NoSchedule"]
            )
        ),
        RUN
    );
    // PreferNoSchedule never keeps a daemon away.
    assert_eq!(fit(&s, &node("n1", &[], &["x:PreferNoSchedule"])), RUN);
}

#[test]
fn tolerations_match_as_kube() {
    let taint = |k: &str, v: Option<&str>, e: &str| Taint {
        key: k.into(),
        value: v.map(str::to_string),
        effect: e.into(),
        time_added: None,
    };
    let tol: Toleration = serde_json::from_value(
        json!({"key": "a", "operator": "Equal", "value": "1", "effect": "NoSchedule"}),
    )
    .unwrap();
    assert!(tolerates(&tol, &taint("a", Some("1"), "NoSchedule")));
    assert!(!tolerates(&tol, &taint("a", Some("2"), "NoSchedule")));
    assert!(!tolerates(&tol, &taint("a", Some("1"), "NoExecute")));
    let exists_all: Toleration = serde_json::from_value(json!({"operator": "Exists"})).unwrap();
    assert!(tolerates(
        &exists_all,
        &taint("anything", None, "NoExecute")
    ));
    let bad: Toleration = serde_json::from_value(json!({"key": "a", "operator": "Near"})).unwrap();
    assert!(!tolerates(&bad, &taint("a", None, "NoSchedule")));
    let s = spec(
        json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Exists"}]}),
    );
    assert_eq!(fit(&s, &node("n1", &[], &["dedicated=db:NoExecute"])), RUN);
}

#[test]
fn node_selector_and_affinity() {
    let s = spec(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
    assert_eq!(fit(&s, &node("n1", &[("disk", "ssd")], &[])), RUN);
    assert_eq!(fit(&s, &node("n1", &[("disk", "hdd")], &[])), NEVER);
    let affinity = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                              {"key": "cpus", "operator": "Gt", "values": ["2"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}
    ]}}}}));
    assert_eq!(
        fit(&affinity, &node("n1", &[("zone", "a"), ("cpus", "4")], &[])),
        RUN
    );
    assert_eq!(
        fit(&affinity, &node("n1", &[("zone", "a"), ("cpus", "2")], &[])),
        NEVER
    );
    assert_eq!(
        fit(&affinity, &node("n1", &[("zone", "c"), ("cpus", "8")], &[])),
        NEVER
    );
    assert_eq!(fit(&affinity, &node("special", &[], &[])), RUN);
    let empty_terms = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}}));
    assert_eq!(fit(&empty_terms, &node("n1", &[], &[])), NEVER);
    let pinned = spec(json!({"containers": [], "nodeName": "n2"}));
    assert_eq!(fit(&pinned, &node("n1", &[], &[])), NEVER);
    assert_eq!(fit(&pinned, &node("n2", &[], &[])), RUN);
    let not_in = spec(json!({"containers": [], "affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "role", "operator": "DoesNotExist"},
                                  {"key": "zone", "operator": "NotIn", "values": ["x"]}]}]}}}}));
    assert_eq!(fit(&not_in, &node("n1", &[("zone", "y")], &[])), RUN);
    assert_eq!(fit(&not_in, &node("n1", &[("role", "db")], &[])), NEVER);
}

#[test]
fn daemon_pods_are_pinned_by_affinity() {
    let existing: Affinity = serde_json::from_value(json!({"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": []}}))
    .unwrap();
    let pinned = pin_to_node(Some(existing), "n7");
    let value = serde_json::to_value(&pinned).unwrap();
    assert_eq!(
        value["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"],
        json!({"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n7"]}]}]})
    );
    assert_eq!(
        value["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"],
        json!([])
    );
    let pod = Pod {
        spec: Some(PodSpec {
            affinity: Some(pin_to_node(None, "n3")),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    assert_eq!(target_node(&pod), Some("n3"));
    let bound = Pod {
        spec: Some(PodSpec {
            node_name: Some("n4".into()),
            ..PodSpec::default()
        }),
        ..Pod::default()
    };
    assert_eq!(target_node(&bound), Some("n4"));
    assert_eq!(target_node(&Pod::default()), None);
    assert_eq!(
        by_node([&pod, &bound]).keys().collect::<Vec<_>>(),
        ["n3", "n4"]
    );
}

#[test]
fn default_tolerations_are_added_once() {
    let mut s = spec(json!({"containers": [], "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]}));
    add_daemon_tolerations(&mut s);
    add_daemon_tolerations(&mut s);
    let tolerations = s.tolerations.unwrap();
    assert_eq!(tolerations.len(), 6);
    assert!(tolerations.iter().all(|t| t.toleration_seconds.is_none()));
}
