//! Services get cluster IPs and node ports as kube-apiserver hands them out, driven with the
//! real kubectl: the `kubernetes` Service at the service CIDR's first address, addresses and
//! ports asked for or chosen, conflicts and out-of-range values refused with kube's messages,
//! values freed when their Service goes, no value handed out twice under concurrent creates.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use common::Cluster;

fn jsonpath(cluster: &Cluster, what: &str, path: &str) -> String {
    cluster.ok(&["get", what, "-o", &format!("jsonpath={path}")])
}

fn service_ip(cluster: &Cluster, name: &str) -> Ipv4Addr {
    let ip = jsonpath(cluster, &format!("svc/{name}"), "{.spec.clusterIP}");
    ip.parse()
        .unwrap_or_else(|_| panic!("{name}: clusterIP {ip:?}"))
}

fn in_service_cidr(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    (a, b) == (10, 43)
}

/// An API-only cluster with k3s's default service ranges, which these tests check. Test
/// clusters otherwise get ranges of their own; with no service proxy and no cluster DNS,
/// these ranges never reach the host's rules or interfaces, so clusters running at once
/// cannot collide.
fn start_with_k3s_ranges() -> (Cluster, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(
        &tmp.path().join("data"),
        common::free_port(),
        &[
            "--disable-scheduler",
            "--disable-controller-manager",
            "--disable-kube-proxy",
            "--disable",
            "coredns",
            "--service-cidr",
            "10.43.0.0/16",
            "--service-node-port-range",
            "30000-32767",
        ],
    );
    (cluster, tmp)
}

fn manifest(name: &str, spec: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[test]
fn services_get_cluster_ips_and_node_ports() {
    let (cluster, _tmp) = start_with_k3s_ranges();

    // The API server's own Service, as k3s has it.
    assert_eq!(
        service_ip(&cluster, "kubernetes"),
        Ipv4Addr::new(10, 43, 0, 1)
    );
    assert_eq!(
        jsonpath(&cluster, "svc/kubernetes", "{.spec.ports[0].port}"),
        "443"
    );

    // Chosen: in the CIDR, above the static band, with the family fields.
    cluster.ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    let web = service_ip(&cluster, "web");
    assert!(in_service_cidr(web), "{web}");
    assert_ne!(web, Ipv4Addr::new(10, 43, 0, 1));
    assert_eq!(
        jsonpath(
            &cluster,
            "svc/web",
            "{.spec.clusterIPs[0]} {.spec.ipFamilies[0]} {.spec.ipFamilyPolicy}"
        ),
        format!("{web} IPv4 SingleStack")
    );

    // Asked for: kept when free, refused when taken or out of range.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &manifest("fixed", "  clusterIP: 10.43.0.20\n  ports:\n  - port: 80\n"),
    );
    assert_eq!(service_ip(&cluster, "fixed"), Ipv4Addr::new(10, 43, 0, 20));
    let err = cluster.fails(
        &["apply", "-f", "-"],
        Some(&manifest(
            "taken",
            "  clusterIP: 10.43.0.1\n  ports:\n  - port: 80\n",
        )),
    );
    assert!(
        err.contains("spec.clusterIPs[0]: Invalid value: \"10.43.0.1\": failed to allocate IP 10.43.0.1: provided IP is already allocated"),
        "{err}"
    );
    let err = cluster.fails(
        &["apply", "-f", "-"],
        Some(&manifest(
            "outside",
            "  clusterIP: 10.44.0.1\n  ports:\n  - port: 80\n",
        )),
    );
    assert!(
        err.contains("The range of valid IPs is 10.43.0.0/16"),
        "{err}"
    );

    // Headless: no address.
    cluster.ok(&[
        "create",
        "service",
        "clusterip",
        "headless",
        "--clusterip=None",
    ]);
    assert_eq!(
        jsonpath(&cluster, "svc/headless", "{.spec.clusterIP}"),
        "None"
    );

    // Node ports: asked for, chosen, taken, out of range.
    cluster.ok(&[
        "create",
        "service",
        "nodeport",
        "np",
        "--tcp=80",
        "--node-port=30080",
    ]);
    assert_eq!(
        jsonpath(&cluster, "svc/np", "{.spec.ports[0].nodePort}"),
        "30080"
    );
    let err = cluster.fails(
        &[
            "create",
            "service",
            "nodeport",
            "np2",
            "--tcp=80",
            "--node-port=30080",
        ],
        None,
    );
    assert!(
        err.contains(
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        ),
        "{err}"
    );
    let err = cluster.fails(
        &[
            "create",
            "service",
            "nodeport",
            "np3",
            "--tcp=80",
            "--node-port=8080",
        ],
        None,
    );
    assert!(
        err.contains(
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        ),
        "{err}"
    );
    cluster.ok(&["create", "service", "nodeport", "chosen", "--tcp=80,81"]);
    let ports = jsonpath(&cluster, "svc/chosen", "{.spec.ports[*].nodePort}");
    let ports: Vec<u16> = ports
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(ports.len(), 2);
    assert!(
        ports.iter().all(|p| (30000..=32767).contains(p)),
        "{ports:?}"
    );
    assert_ne!(ports[0], ports[1]);

    // A type change to NodePort gets a port; the cluster IP stays.
    cluster.ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    let port = jsonpath(&cluster, "svc/web", "{.spec.ports[0].nodePort}");
    assert!(port.parse::<u16>().is_ok_and(|p| p >= 30000), "{port}");
    assert_eq!(service_ip(&cluster, "web"), web);

    // Values of deleted Services, and of a Service that dropped them, are free again.
    cluster.ok(&["delete", "svc", "np", "fixed"]);
    cluster.ok(&[
        "create",
        "service",
        "nodeport",
        "np2",
        "--tcp=80",
        "--node-port=30080",
    ]);
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &manifest(
            "fixed2",
            "  clusterIP: 10.43.0.20\n  ports:\n  - port: 80\n",
        ),
    );
    cluster.ok(&[
        "patch",
        "svc",
        "web",
        "-p",
        r#"{"spec":{"type":"ClusterIP"}}"#,
    ]);
    let freed = format!("--node-port={port}");
    cluster.ok(&["create", "service", "nodeport", "np4", "--tcp=80", &freed]);
}

#[test]
fn concurrent_creates_never_share_a_value() {
    let (cluster, _tmp) = start_with_k3s_ranges();
    let names: Vec<String> = (0..16).map(|i| format!("svc{i}")).collect();
    std::thread::scope(|scope| {
        for name in &names {
            let cluster = &cluster;
            scope.spawn(move || {
                cluster.ok(&["create", "service", "nodeport", name, "--tcp=80"]);
            });
        }
    });
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for name in &names {
        assert!(
            ips.insert(service_ip(&cluster, name)),
            "{name}: IP handed out twice"
        );
        let port = jsonpath(
            &cluster,
            &format!("svc/{name}"),
            "{.spec.ports[0].nodePort}",
        );
        assert!(
            ports.insert(port.clone()),
            "{name}: node port {port} handed out twice"
        );
    }
}

#[test]
fn a_bad_service_cidr_is_refused_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(["run", "--service-cidr", "10.43.0.1/16", "--data-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--service-cidr") && err.contains("host bits are set"),
        "{err}"
    );
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
