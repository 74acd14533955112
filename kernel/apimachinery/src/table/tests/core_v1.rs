//! core/v1 printers: namespaces, nodes, services, endpoints, config maps, secrets, service
//! accounts, resource quotas.

use serde_json::json;

use super::{ago, headers, row};

const DAY: i64 = 86_400;

#[test]
fn namespaces() {
    assert_eq!(headers("", "namespaces"), ["Name", "Status", "Age"]);
    let ns = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "kube-system", "creationTimestamp": ago(3 * DAY + 3600),
                     "labels": {"kubernetes.io/metadata.name": "kube-system"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    });
    assert_eq!(row("", "namespaces", ns), ["kube-system", "Active", "3d1h"]);
    let ns = json!({
        "metadata": {"name": "old", "creationTimestamp": ago(40 * DAY),
                     "deletionTimestamp": ago(10)},
        "status": {"phase": "Terminating"},
    });
    assert_eq!(row("", "namespaces", ns), ["old", "Terminating", "40d"]);
    // An empty phase is defaulted to Active.
    assert_eq!(
        row("", "namespaces", json!({"metadata": {"name": "x"}}))[1],
        "Active"
    );
}

fn node() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": "kind-control-plane",
            "creationTimestamp": ago(10 * DAY),
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": "kind-control-plane",
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
                "node.kubernetes.io/exclude-from-external-load-balancers": "",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "providerID": "kind://docker/kind/kind-control-plane"},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "Hostname", "address": "kind-control-plane"},
            ],
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "DiskPressure", "status": "False"},
                {"type": "PIDPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://2.1.1",
                "kernelVersion": "6.8.0-1015-gcp",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.35.0",
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
            },
        },
    })
}

#[test]
fn nodes() {
    assert_eq!(
        headers("", "nodes"),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        row("", "nodes", node()),
        [
            "kind-control-plane",
            "Ready",
            "control-plane",
            "10d",
            "v1.35.0",
            "172.18.0.2",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.8.0-1015-gcp",
            "containerd://2.1.1"
        ]
    );

    let mut n = node();
    n["spec"]["unschedulable"] = json!(true);
    n["status"]["conditions"][3]["status"] = json!("Unknown");
    n["metadata"]["labels"]["kubernetes.io/role"] = json!("master");
    n["metadata"]["labels"]["node-role.kubernetes.io/etcd"] = json!("true");
    n["status"]["addresses"] = json!([
        {"type": "ExternalIP", "address": "203.0.113.7"},
        {"type": "InternalIP", "address": "10.0.0.4"},
        {"type": "InternalIP", "address": "10.0.0.5"},
    ]);
    assert_eq!(
        row("", "nodes", n)[..7],
        [
            "kind-control-plane",
            "NotReady,SchedulingDisabled",
            "control-plane,etcd,master",
            "10d",
            "v1.35.0",
            "10.0.0.4",
            "203.0.113.7"
        ]
    );

    // A node that never reported.
    let n = json!({"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/": ""}}});
    assert_eq!(
        row("", "nodes", n),
        [
            "n1",
            "Unknown",
            "<none>",
            "<unknown>",
            "",
            "<none>",
            "<none>",
            "<unknown>",
            "<unknown>",
            "<unknown>"
        ]
    );
}

#[test]
fn services() {
    assert_eq!(
        headers("", "services"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    let kubernetes = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "creationTimestamp": ago(10 * DAY),
                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {
            "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
            "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            "sessionAffinity": "None", "type": "ClusterIP",
        },
        "status": {"loadBalancer": {}},
    });
    assert_eq!(
        row("", "services", kubernetes),
        [
            "kubernetes",
            "ClusterIP",
            "10.96.0.1",
            "<none>",
            "443/TCP",
            "10d",
            "<none>"
        ]
    );

    let node_port = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(45 * 60)},
        "spec": {
            "type": "NodePort", "clusterIP": "10.96.120.5", "clusterIPs": ["10.96.120.5"],
            "selector": {"app.kubernetes.io/name": "web", "tier": "frontend"},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"},
                {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 30443, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ],
        },
    });
    assert_eq!(
        row("", "services", node_port),
        [
            "web",
            "NodePort",
            "10.96.120.5",
            "<none>",
            "80:30080/TCP,443:30443/TCP,53/UDP",
            "45m",
            "app.kubernetes.io/name=web,tier=frontend"
        ]
    );

    let mut lb = json!({
        "metadata": {"name": "lb", "creationTimestamp": ago(90)},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.7.7",
                 "ports": [{"port": 80, "nodePort": 31234, "protocol": "TCP"}]},
        "status": {"loadBalancer": {}},
    });
    assert_eq!(
        row("", "services", lb.clone())[1..5],
        ["LoadBalancer", "10.96.7.7", "<pending>", "80:31234/TCP"]
    );
    lb["status"]["loadBalancer"]["ingress"] = json!([
        {"ip": "203.0.113.20", "ipMode": "VIP"},
        {"hostname": "a1b2c3-1234567890.us-east-1.elb.amazonaws.com"},
        {"ip": "203.0.113.10"},
    ]);
    lb["spec"]["externalIPs"] = json!(["198.51.100.1"]);
    assert_eq!(
        row("", "services", lb)[3],
        "203.0.113.10,203.0.113.20,a1b2c3-1234567890.us-east-1.elb.amazonaws.com,198.51.100.1"
    );

    let external_name = json!({
        "metadata": {"name": "my-service", "namespace": "prod", "creationTimestamp": ago(5)},
        "spec": {"type": "ExternalName", "externalName": "my.database.example.com"},
    });
    assert_eq!(
        row("", "services", external_name),
        [
            "my-service",
            "ExternalName",
            "<none>",
            "my.database.example.com",
            "<none>",
            "5s",
            "<none>"
        ]
    );

    let headless = json!({
        "metadata": {"name": "nginx", "creationTimestamp": ago(600)},
        "spec": {"clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": "nginx"},
                 "ports": [{"name": "web", "port": 80}], "externalIPs": ["80.11.12.10"]},
    });
    assert_eq!(
        row("", "services", headless),
        [
            "nginx",
            "ClusterIP",
            "None",
            "80.11.12.10",
            "80/TCP",
            "10m",
            "app=nginx"
        ]
    );
}

#[test]
fn endpoints() {
    assert_eq!(headers("", "endpoints"), ["Name", "Endpoints", "Age"]);
    let ep = json!({
        "metadata": {"name": "kubernetes", "creationTimestamp": ago(10 * DAY)},
        "subsets": [{"addresses": [{"ip": "172.18.0.2"}],
                     "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}],
    });
    assert_eq!(
        row("", "endpoints", ep),
        ["kubernetes", "172.18.0.2:6443", "10d"]
    );

    let ep = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(60)},
        "subsets": [
            {"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.0.6"}],
             "notReadyAddresses": [{"ip": "10.244.0.9"}],
             "ports": [{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]},
            {"addresses": [{"ip": "fd00::1"}]},
        ],
    });
    assert_eq!(
        row("", "endpoints", ep)[1],
        "10.244.0.5:80,10.244.0.6:80,10.244.0.5:9090 + 2 more..."
    );

    let headless =
        json!({"metadata": {"name": "h"}, "subsets": [{"addresses": [{"ip": "fd00::1"}]}]});
    assert_eq!(row("", "endpoints", headless)[1], "fd00::1");
    let v6 = json!({"metadata": {"name": "h"},
                    "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]});
    assert_eq!(row("", "endpoints", v6)[1], "[fd00::1]:53");
    assert_eq!(
        row("", "endpoints", json!({"metadata": {"name": "e"}}))[1],
        "<none>"
    );
}

#[test]
fn config_maps_secrets_service_accounts() {
    assert_eq!(headers("", "configmaps"), ["Name", "Data", "Age"]);
    let cm = json!({
        "metadata": {"name": "game-demo", "creationTimestamp": ago(2 * 3600)},
        "data": {"player_initial_lives": "3", "ui_properties_file_name": "user-interface.properties",
                 "game.properties": "enemy.types=aliens,monsters\n"},
        "binaryData": {"logo.png": "iVBORw0KGgo="},
    });
    assert_eq!(row("", "configmaps", cm), ["game-demo", "4", "120m"]);

    assert_eq!(headers("", "secrets"), ["Name", "Type", "Data", "Age"]);
    let tls = json!({
        "metadata": {"name": "secret-tls", "creationTimestamp": ago(20 * DAY)},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "LS0t", "tls.key": "LS0t"},
    });
    assert_eq!(
        row("", "secrets", tls),
        ["secret-tls", "kubernetes.io/tls", "2", "20d"]
    );
    let opaque = json!({"metadata": {"name": "empty", "creationTimestamp": ago(1)}});
    assert_eq!(row("", "secrets", opaque), ["empty", "Opaque", "0", "1s"]);

    assert_eq!(headers("", "serviceaccounts"), ["Name", "Secrets", "Age"]);
    let sa = json!({"metadata": {"name": "default", "creationTimestamp": ago(400 * DAY)}});
    assert_eq!(row("", "serviceaccounts", sa), ["default", "0", "400d"]);
    let sa = json!({"metadata": {"name": "build-robot", "creationTimestamp": ago(800 * DAY)},
                    "secrets": [{"name": "build-robot-token"}]});
    assert_eq!(
        row("", "serviceaccounts", sa),
        ["build-robot", "1", "2y70d"]
    );
}

#[test]
fn resource_quotas() {
    assert_eq!(
        headers("", "resourcequotas"),
        ["Name", "Request", "Limit", "Age"]
    );
    let quota = json!({
        "metadata": {"name": "compute-resources", "creationTimestamp": ago(30)},
        "spec": {"hard": {"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2",
                          "limits.memory": "2Gi", "requests.nvidia.com/gpu": "4", "pods": "10"}},
        "status": {
            "hard": {"requests.cpu": "1", "requests.memory": "1Gi", "limits.cpu": "2",
                     "limits.memory": "2Gi", "requests.nvidia.com/gpu": "4", "pods": "10"},
            "used": {"requests.cpu": "500m", "requests.memory": "512Mi", "limits.cpu": "1",
                     "limits.memory": "1Gi", "pods": "2"},
        },
    });
    assert_eq!(
        row("", "resourcequotas", quota),
        [
            "compute-resources",
            "pods: 2/10, requests.cpu: 500m/1, requests.memory: 512Mi/1Gi, requests.nvidia.com/gpu: 0/4",
            "limits.cpu: 1/2, limits.memory: 1Gi/2Gi",
            "30s"
        ]
    );
    // Quantities print canonically, as kube stores them.
    let quota = json!({
        "metadata": {"name": "q"},
        "status": {"hard": {"memory": "1024Mi", "cpu": "0.5"}, "used": {"memory": "0", "cpu": "100m"}},
    });
    assert_eq!(
        row("", "resourcequotas", quota)[1..3],
        ["cpu: 100m/500m, memory: 0/1Gi", ""]
    );
}
