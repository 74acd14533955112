//! Ingresses, ingress classes, network policies and endpoint slices.

use serde_json::json;

use super::{ago, headers, row};

#[test]
fn ingresses() {
    assert_eq!(
        headers("networking.k8s.io", "ingresses"),
        ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    );
    let minimal = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "minimal-ingress", "creationTimestamp": ago(120),
                     "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
        "spec": {"ingressClassName": "nginx-example", "rules": [{"http": {"paths": [
            {"path": "/testpath", "pathType": "Prefix",
             "backend": {"service": {"name": "test", "port": {"number": 80}}}}]}}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.49.2"}]}},
    });
    assert_eq!(
        row("networking.k8s.io", "ingresses", minimal),
        [
            "minimal-ingress",
            "nginx-example",
            "*",
            "192.168.49.2",
            "80",
            "2m"
        ]
    );

    let tls = json!({
        "metadata": {"name": "tls-example-ingress", "creationTimestamp": ago(7200)},
        "spec": {"tls": [{"hosts": ["https-example.foo.com"], "secretName": "testsecret-tls"}],
                 "rules": [{"host": "https-example.foo.com"}, {"host": "bar.foo.com"}, {}]},
        "status": {"loadBalancer": {}},
    });
    assert_eq!(
        row("networking.k8s.io", "ingresses", tls),
        [
            "tls-example-ingress",
            "<none>",
            "https-example.foo.com,bar.foo.com",
            "",
            "80, 443",
            "120m"
        ]
    );

    let many = json!({
        "metadata": {"name": "many"},
        "spec": {"rules": [{"host": "a.example.com"}, {"host": "b.example.com"},
                           {"host": "c.example.com"}, {"host": "d.example.com"},
                           {"host": "e.example.com"}]},
    });
    assert_eq!(
        row("networking.k8s.io", "ingresses", many)[2],
        "a.example.com,b.example.com,c.example.com + 2 more..."
    );
}

#[test]
fn ingress_classes() {
    assert_eq!(
        headers("networking.k8s.io", "ingressclasses"),
        ["Name", "Controller", "Parameters", "Age"]
    );
    let plain = json!({
        "metadata": {"name": "nginx", "creationTimestamp": ago(86_400)},
        "spec": {"controller": "k8s.io/ingress-nginx"},
    });
    assert_eq!(
        row("networking.k8s.io", "ingressclasses", plain),
        ["nginx", "k8s.io/ingress-nginx", "<none>", "24h"]
    );
    let with_params = json!({
        "metadata": {"name": "external-lb", "creationTimestamp": ago(60)},
        "spec": {"controller": "example.com/ingress-controller",
                 "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                                "name": "external-lb", "scope": "Cluster"}},
    });
    assert_eq!(
        row("networking.k8s.io", "ingressclasses", with_params)[2],
        "IngressParameters.k8s.example.com/external-lb"
    );
    let core_params = json!({"metadata": {"name": "c"}, "spec": {"controller": "x",
        "parameters": {"kind": "ConfigMap", "name": "cfg", "namespace": "ns", "scope": "Namespace"}}});
    assert_eq!(
        row("networking.k8s.io", "ingressclasses", core_params)[2],
        "ConfigMap/cfg"
    );
}

#[test]
fn network_policies() {
    assert_eq!(
        headers("networking.k8s.io", "networkpolicies"),
        ["Name", "Pod-Selector", "Age"]
    );
    let np = json!({
        "metadata": {"name": "test-network-policy", "namespace": "default",
                     "creationTimestamp": ago(5)},
        "spec": {"podSelector": {"matchLabels": {"role": "db"}},
                 "policyTypes": ["Ingress", "Egress"]},
    });
    assert_eq!(
        row("networking.k8s.io", "networkpolicies", np),
        ["test-network-policy", "role=db", "5s"]
    );
    let deny_all = json!({"metadata": {"name": "default-deny-ingress", "creationTimestamp": ago(5)},
                          "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}});
    assert_eq!(
        row("networking.k8s.io", "networkpolicies", deny_all),
        ["default-deny-ingress", "<none>", "5s"]
    );
}

#[test]
fn endpoint_slices() {
    assert_eq!(
        headers("discovery.k8s.io", "endpointslices"),
        ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    );
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "example-abc", "creationTimestamp": ago(600),
                     "labels": {"kubernetes.io/service-name": "example"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": 80}],
        "endpoints": [{"addresses": ["10.1.2.3"], "conditions": {"ready": true},
                       "hostname": "pod-1", "nodeName": "node-1", "zone": "us-west2-a"}],
    });
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", slice),
        ["example-abc", "IPv4", "80", "10.1.2.3", "10m"]
    );

    let big = json!({
        "metadata": {"name": "web-x"},
        "addressType": "IPv6",
        "ports": [{"port": 80}, {"name": "metrics"}, {}, {"port": 8443}],
        "endpoints": [{"addresses": ["fd00::1", "fd00::2"]}, {"addresses": ["fd00::3"]},
                      {"addresses": ["fd00::4"]}],
    });
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", big)[1..4],
        [
            "IPv6",
            "80,metrics,* + 1 more...",
            "fd00::1,fd00::2,fd00::3 + 1 more..."
        ]
    );
    let empty = json!({"metadata": {"name": "e"}, "addressType": "IPv4", "endpoints": null});
    assert_eq!(
        row("discovery.k8s.io", "endpointslices", empty)[1..4],
        ["IPv4", "<unset>", "<unset>"]
    );
}
