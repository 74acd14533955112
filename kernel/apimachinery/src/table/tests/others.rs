//! Leases, pod disruption budgets, priority classes.

use serde_json::json;

use super::{ago, headers, row};

#[test]
fn leases() {
    assert_eq!(
        headers("coordination.k8s.io", "leases"),
        ["Name", "Holder", "Age"]
    );
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "kube-controller-manager", "namespace": "kube-system",
                     "creationTimestamp": ago(10 * 86_400)},
        "spec": {"holderIdentity": "kind-control-plane_9e5e3c83-0b3c-4a3c-8d25-1c1a1e6c2f0b",
                 "leaseDurationSeconds": 15, "acquireTime": ago(600), "renewTime": ago(1),
                 "leaseTransitions": 1},
    });
    assert_eq!(
        row("coordination.k8s.io", "leases", lease),
        [
            "kube-controller-manager",
            "kind-control-plane_9e5e3c83-0b3c-4a3c-8d25-1c1a1e6c2f0b",
            "10d"
        ]
    );
    assert_eq!(
        row(
            "coordination.k8s.io",
            "leases",
            json!({"metadata": {"name": "free"}, "spec": {}})
        ),
        ["free", "", "<unknown>"]
    );
}

#[test]
fn pod_disruption_budgets() {
    assert_eq!(
        headers("policy", "poddisruptionbudgets"),
        [
            "Name",
            "Min Available",
            "Max Unavailable",
            "Allowed Disruptions",
            "Age"
        ]
    );
    let zk = json!({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "zk-pdb", "creationTimestamp": ago(240)},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "zookeeper"}}},
        "status": {"currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1,
                   "expectedPods": 3, "observedGeneration": 1},
    });
    assert_eq!(
        row("policy", "poddisruptionbudgets", zk),
        ["zk-pdb", "2", "N/A", "1", "4m"]
    );
    let pct = json!({
        "metadata": {"name": "web-pdb", "creationTimestamp": ago(3)},
        "spec": {"maxUnavailable": "25%", "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 0},
    });
    assert_eq!(
        row("policy", "poddisruptionbudgets", pct),
        ["web-pdb", "N/A", "25%", "0", "3s"]
    );
}

#[test]
fn priority_classes() {
    assert_eq!(
        headers("scheduling.k8s.io", "priorityclasses"),
        ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    );
    let pc = json!({
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "system-cluster-critical", "creationTimestamp": ago(10 * 86_400)},
        "value": 2_000_000_000,
        "globalDefault": false,
        "description": "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
        "preemptionPolicy": "PreemptLowerPriority",
    });
    assert_eq!(
        row("scheduling.k8s.io", "priorityclasses", pc),
        [
            "system-cluster-critical",
            "2000000000",
            "false",
            "10d",
            "PreemptLowerPriority"
        ]
    );
    let pc = json!({
        "metadata": {"name": "high-priority-nonpreempting", "creationTimestamp": ago(30)},
        "value": 1_000_000, "globalDefault": true, "preemptionPolicy": "Never",
    });
    assert_eq!(
        row("scheduling.k8s.io", "priorityclasses", pc),
        [
            "high-priority-nonpreempting",
            "1000000",
            "true",
            "30s",
            "Never"
        ]
    );
    assert_eq!(
        row(
            "scheduling.k8s.io",
            "priorityclasses",
            json!({"metadata": {"name": "d"}, "value": -5})
        ),
        ["d", "-5", "false", "<unknown>", "PreemptLowerPriority"]
    );
}

#[test]
fn modules() {
    assert_eq!(
        headers("modules.kmicro.io", "modules"),
        [
            "Name",
            "Phase",
            "Version",
            "Restarts",
            "Memory",
            "Age",
            "Digest",
            "Last Error"
        ]
    );
    let digest = format!("sha256:{}", "0f".repeat(32));
    let running = json!({
        "apiVersion": "modules.kmicro.io/v1alpha1", "kind": "Module",
        "metadata": {"name": "scheduler", "creationTimestamp": ago(300)},
        "spec": {"source": {"digest": digest}},
        "status": {"phase": "Running", "version": "0.1.0", "restarts": 2,
                   "memoryBytes": 1310720, "digest": digest, "lastError": "trap: unreachable"},
    });
    assert_eq!(
        row("modules.kmicro.io", "modules", running),
        [
            "scheduler",
            "Running",
            "0.1.0",
            "2",
            "1.2Mi",
            "5m",
            digest.as_str(),
            "trap: unreachable"
        ]
    );
    // A module the kernel has not reported on yet is Pending.
    assert_eq!(
        row(
            "modules.kmicro.io",
            "modules",
            json!({"metadata": {"name": "new"}, "spec": {}})
        ),
        ["new", "Pending", "", "0", "", "<unknown>", "", ""]
    );
}
