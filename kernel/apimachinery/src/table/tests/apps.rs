//! Deployments, replica sets, daemon sets, stateful sets, controller revisions.

use serde_json::{Value, json};

use super::{ago, headers, row};

fn template(name: &str, image: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": name, "image": image, "ports": [{"containerPort": 80}]}]},
    })
}

#[test]
fn deployments() {
    assert_eq!(
        headers("apps", "deployments"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx-deployment", "labels": {"app": "nginx"},
                     "creationTimestamp": ago(18), "generation": 1},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
                 "template": template("nginx", "nginx:1.14.2")},
        "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3,
                   "readyReplicas": 3, "availableReplicas": 3},
    });
    assert_eq!(
        row("apps", "deployments", deploy),
        [
            "nginx-deployment",
            "3/3",
            "3",
            "3",
            "18s",
            "nginx",
            "nginx:1.14.2",
            "app=nginx"
        ]
    );

    let mut rolling = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(7200)},
        "spec": {"replicas": 4,
                 "selector": {"matchLabels": {"tier": "frontend"},
                              "matchExpressions": [
                                  {"key": "environment", "operator": "In", "values": ["prod", "dev"]},
                                  {"key": "legacy", "operator": "DoesNotExist"},
                                  {"key": "canary", "operator": "Exists"},
                                  {"key": "zone", "operator": "NotIn", "values": ["b"]}]},
                 "template": template("web", "example/web:2")},
        "status": {"replicas": 5, "updatedReplicas": 2, "readyReplicas": 3, "availableReplicas": 3},
    });
    rolling["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "envoy", "image": "envoyproxy/envoy:v1.30.1"}));
    assert_eq!(
        row("apps", "deployments", rolling.clone()),
        [
            "web",
            "3/4",
            "2",
            "3",
            "120m",
            "web,envoy",
            "example/web:2,envoyproxy/envoy:v1.30.1",
            "canary,environment in (dev,prod),!legacy,tier=frontend,zone notin (b)"
        ]
    );
    rolling["spec"]["selector"]["matchExpressions"][0]["operator"] = json!("Like");
    assert_eq!(row("apps", "deployments", rolling)[7], "<invalid>");

    // Replicas default to 1; no selector prints nothing.
    assert_eq!(
        row("apps", "deployments", json!({"metadata": {"name": "d"}})),
        ["d", "0/1", "0", "0", "<unknown>", "", "", ""]
    );
}

#[test]
fn replica_sets() {
    assert_eq!(
        headers("apps", "replicasets"),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let rs = json!({
        "metadata": {"name": "nginx-deployment-66b6c48dd5", "creationTimestamp": ago(18),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": "nginx-deployment", "controller": true}]},
        "spec": {"replicas": 3,
                 "selector": {"matchLabels": {"app": "nginx", "pod-template-hash": "66b6c48dd5"}},
                 "template": template("nginx", "nginx:1.14.2")},
        "status": {"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2,
                   "availableReplicas": 2},
    });
    assert_eq!(
        row("apps", "replicasets", rs),
        [
            "nginx-deployment-66b6c48dd5",
            "3",
            "3",
            "2",
            "18s",
            "nginx",
            "nginx:1.14.2",
            "app=nginx,pod-template-hash=66b6c48dd5"
        ]
    );
    let old = json!({"metadata": {"name": "old"}, "spec": {"replicas": 0, "selector": {}},
                     "status": {"replicas": 0}});
    assert_eq!(
        row("apps", "replicasets", old),
        ["old", "0", "0", "0", "<unknown>", "", "", "<none>"]
    );
}

#[test]
fn daemon_sets() {
    assert_eq!(
        headers("apps", "daemonsets"),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let mut ds = json!({
        "metadata": {"name": "kube-proxy", "namespace": "kube-system",
                     "creationTimestamp": ago(10 * 86_400)},
        "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                 "template": template("kube-proxy", "registry.k8s.io/kube-proxy:v1.35.0")},
        "status": {"currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberAvailable": 2,
                   "numberMisscheduled": 0, "numberReady": 2, "updatedNumberScheduled": 3},
    });
    ds["spec"]["template"]["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    assert_eq!(
        row("apps", "daemonsets", ds),
        [
            "kube-proxy",
            "3",
            "3",
            "2",
            "3",
            "2",
            "kubernetes.io/os=linux",
            "10d",
            "kube-proxy",
            "registry.k8s.io/kube-proxy:v1.35.0",
            "k8s-app=kube-proxy"
        ]
    );
    assert_eq!(
        row("apps", "daemonsets", json!({"metadata": {"name": "e"}}))[6],
        "<none>"
    );
}

#[test]
fn stateful_sets() {
    assert_eq!(
        headers("apps", "statefulsets"),
        ["Name", "Ready", "Age", "Containers", "Images"]
    );
    let sts = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(600)},
        "spec": {"replicas": 3, "serviceName": "nginx",
                 "selector": {"matchLabels": {"app": "nginx"}},
                 "template": template("nginx", "registry.k8s.io/nginx-slim:0.24")},
        "status": {"replicas": 2, "readyReplicas": 2, "currentReplicas": 2},
    });
    assert_eq!(
        row("apps", "statefulsets", sts),
        [
            "web",
            "2/3",
            "10m",
            "nginx",
            "registry.k8s.io/nginx-slim:0.24"
        ]
    );
}

#[test]
fn controller_revisions() {
    assert_eq!(
        headers("apps", "controllerrevisions"),
        ["Name", "Controller", "Revision", "Age"]
    );
    let cr = json!({
        "metadata": {"name": "web-6596ffb49b", "creationTimestamp": ago(600),
                     "ownerReferences": [
                         {"apiVersion": "v1", "kind": "ConfigMap", "name": "other"},
                         {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                          "controller": true, "blockOwnerDeletion": true}]},
        "data": {"spec": {}},
        "revision": 2,
    });
    assert_eq!(
        row("apps", "controllerrevisions", cr),
        ["web-6596ffb49b", "statefulset.apps/web", "2", "10m"]
    );
    let core_owner = json!({
        "metadata": {"name": "r", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "p", "controller": true}]},
        "revision": 1,
    });
    assert_eq!(row("apps", "controllerrevisions", core_owner)[1], "pod/p");
    assert_eq!(
        row(
            "apps",
            "controllerrevisions",
            json!({"metadata": {"name": "r"}})
        )[1],
        "<none>"
    );
}
