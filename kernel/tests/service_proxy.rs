//! Services through the kernel's packet path: `kmicro run` with its service proxy, servicelb
//! and cluster DNS, real kubectl, busybox pods (httpd, nc, wget by Service name, and kubectl
//! itself for the in-cluster API), traffic from pods and from this process at 127.0.0.1; the
//! proxy's iptables rules after SIGTERM and after kill -9.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Cluster, TestNet, free_port};
use serde_json::Value;

/// The test image: busybox plus kubectl.
const IMAGE: &str = "kmicro.test/busybox-kubectl:1";

fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kmicro-svc-image-{}", std::process::id()));
        let kubectl = std::fs::canonicalize("/usr/bin/kubectl").unwrap();
        common::busybox::build_archive(&dir, IMAGE, &[(&kubectl, "/usr/bin/kubectl")])
    })
}

/// A cluster whose image store gets the test image at start.
fn start(tmp: &tempfile::TempDir, port: u16, extra: &[&str]) -> Cluster {
    let data_dir = tmp.path().join("data");
    let images = data_dir.join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(archive(), images.join("image.tar")).unwrap();
    Cluster::start_with(&data_dir, port, extra)
}

fn net(cluster: &Cluster) -> TestNet {
    TestNet::recorded(&cluster.data_dir).expect("the harness gave the cluster a network")
}

fn json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.ok(&all)).unwrap()
}

/// Polls `f` until it returns `Some` (panics with `what` and the last value after `timeout`).
fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() > deadline => panic!("{what}: {last}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `GET /` from this process; the body, or why not.
fn http_get(addr: SocketAddr) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.trim().to_string())
        .ok_or_else(|| format!("no HTTP answer: {answer:?}"))
}

/// The ready endpoints' addresses of Service `svc`'s EndpointSlices.
fn ready_addresses(cluster: &Cluster, svc: &str) -> BTreeSet<String> {
    let slices = json(
        cluster,
        &[
            "get",
            "endpointslices",
            "-l",
            &format!("kubernetes.io/service-name={svc}"),
        ],
    );
    let mut out = BTreeSet::new();
    for s in slices["items"].as_array().unwrap() {
        for e in s["endpoints"].as_array().into_iter().flatten() {
            if e["conditions"]["ready"] != false {
                out.insert(e["addresses"][0].as_str().unwrap().to_string());
            }
        }
    }
    out
}

/// The pods of label `app=<app>`: name → IP, once all are ready.
fn ready_pods(cluster: &Cluster, app: &str, count: usize) -> Vec<(String, String)> {
    wait_for(
        Duration::from_secs(90),
        &format!("{count} ready {app} pods"),
        || {
            let pods = json(cluster, &["get", "pods", "-l", &format!("app={app}")]);
            let ready: Vec<(String, String)> = pods["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| {
                    p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
                .map(|p| {
                    (
                        p["metadata"]["name"].as_str().unwrap().to_string(),
                        p["status"]["podIP"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            if ready.len() == count {
                Ok(ready)
            } else {
                Err(format!("{pods:#}"))
            }
        },
    )
}

/// The log of a pod that ran to completion (panics if it failed).
fn finished_pod_log(cluster: &Cluster, name: &str) -> String {
    let p = wait_for(
        Duration::from_secs(90),
        &format!("{name} to finish"),
        || {
            let p = json(cluster, &["get", "pod", name]);
            match p["status"]["phase"].as_str() {
                Some("Succeeded" | "Failed") => Ok(p),
                _ => Err(format!("{p:#}")),
            }
        },
    );
    let logs = cluster.ok(&["logs", name]);
    assert_eq!(p["status"]["phase"], "Succeeded", "{name}: {logs}\n{p:#}");
    logs
}

/// A Deployment of busybox httpd pods answering `web <hostname>` on 8080, ready while
/// `/tmp/ready` exists (created at start).
fn web_deployment(name: &str, replicas: u32) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: {IMAGE}
        command: ["sh", "-c", "mkdir -p /tmp/www && echo web $HOSTNAME > /tmp/www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /tmp/www"]
        ports:
        - containerPort: 8080
          name: http
        readinessProbe:
          exec:
            command: ["test", "-f", "/tmp/ready"]
          periodSeconds: 1
          failureThreshold: 1
"#
    )
}

fn service(name: &str, app: &str, kind: &str, port: u16, extra_port: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  type: {kind}
  selector: {{app: {app}}}
  ports:
  - name: http
    port: {port}
    targetPort: http
{extra_port}"#
    )
}

/// `GET /` of `ip:port` from inside pod `pod`, through `kubectl exec` and nc.
fn fetch_in_pod(cluster: &Cluster, pod: &str, ip: &str, port: u16) -> Result<String, String> {
    let script = format!(r#"printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 {ip} {port}"#);
    let out = cluster.kubectl(&["exec", pod, "--", "sh", "-c", &script]);
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    match text.split_once("\n\n") {
        Some((head, body)) if out.status.success() && head.contains(" 200 ") => {
            Ok(body.trim().to_string())
        }
        _ => Err(format!("{text:?} {}", String::from_utf8_lossy(&out.stderr))),
    }
}

#[test]
fn services_reach_ready_endpoints_from_pods_and_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = start(&tmp, free_port(), &[]);
    let net = net(&cluster);
    let first = net.first_node_port();
    cluster.ok_stdin(&["apply", "-f", "-"], &web_deployment("web", 2));
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service("web", "web", "ClusterIP", 80, ""),
    );
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service(
            "web-np",
            "web",
            "NodePort",
            80,
            &format!("    nodePort: {}\n", first + 1),
        ),
    );
    let lb_port = first + 39;
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service("web-lb", "web", "LoadBalancer", lb_port, ""),
    );
    let pods = ready_pods(&cluster, "web", 2);
    let names: BTreeSet<String> = pods.iter().map(|(n, _)| format!("web {n}")).collect();
    let ips: BTreeSet<String> = pods.iter().map(|(_, ip)| ip.clone()).collect();
    wait_for(Duration::from_secs(30), "both endpoints ready", || {
        let r = ready_addresses(&cluster, "web");
        (r == ips).then_some(()).ok_or(format!("{r:?}"))
    });
    let svc = json(&cluster, &["get", "service", "web"]);
    let cluster_ip: Ipv4Addr = svc["spec"]["clusterIP"].as_str().unwrap().parse().unwrap();
    assert!(
        cluster_ip.octets()[..3] == [10, 96, net.index],
        "{cluster_ip}"
    );

    // From the host: the cluster IP spreads over both endpoints.
    let addr = SocketAddr::from((cluster_ip, 80));
    let mut seen = BTreeSet::new();
    wait_for(Duration::from_secs(30), "both endpoints answer", || {
        seen.insert(http_get(addr)?);
        (seen == names).then_some(()).ok_or(format!("{seen:?}"))
    });

    // From another pod, by the cluster IP.
    let script = format!(
        r#"for i in $(seq 1 30); do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 {cluster_ip} 80 | tail -n 1; done"#
    );
    cluster.ok(&[
        "run",
        "client",
        "--image",
        IMAGE,
        "--restart=Never",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let answers: BTreeSet<String> = finished_pod_log(&cluster, "client")
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(answers, names, "30 fetches from a pod reach both endpoints");

    // From another pod, by name: the cluster DNS answers the cluster IP (short names through
    // the pod's search path), the proxy does the rest.
    let by_name = ["web", "web.default", "web.default.svc.cluster.local"];
    cluster.ok(&[
        "run",
        "byname",
        "--image",
        IMAGE,
        "--restart=Never",
        "--",
        "sh",
        "-c",
        &format!(
            r#"for n in {}; do echo "$n: $(wget -qO- http://$n/)"; done"#,
            by_name.join(" ")
        ),
    ]);
    let log = finished_pod_log(&cluster, "byname");
    for name in by_name {
        let body = log
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no answer for {name}: {log}"));
        assert!(names.contains(body.trim()), "{name}: {log}");
    }

    // A NodePort at 127.0.0.1.
    let np = SocketAddr::from(([127, 0, 0, 1], first + 1));
    let body = wait_for(Duration::from_secs(20), "the node port", || http_get(np));
    assert!(names.contains(&body), "{body}");

    // A LoadBalancer: the node's InternalIP as ingress, its port on 127.0.0.1.
    let node = json(&cluster, &["get", "nodes"]);
    let node_ip = node["items"][0]["status"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["type"] == "InternalIP")
        .unwrap()["address"]
        .clone();
    let ingress = wait_for(Duration::from_secs(20), "the LoadBalancer ingress", || {
        let s = json(&cluster, &["get", "service", "web-lb"]);
        let i = s["status"]["loadBalancer"]["ingress"].clone();
        if i.is_array() {
            Ok(i)
        } else {
            Err(format!("{s:#}"))
        }
    });
    assert_eq!(
        ingress,
        serde_json::json!([{"ip": node_ip, "ipMode": "VIP"}])
    );
    let lb = SocketAddr::from(([127, 0, 0, 1], lb_port));
    let body = wait_for(Duration::from_secs(20), "the LoadBalancer port", || {
        http_get(lb)
    });
    assert!(names.contains(&body), "{body}");

    // A second LoadBalancer on the same port stays pending, with a Warning event.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service("web-lb2", "web", "LoadBalancer", lb_port, ""),
    );
    let event = wait_for(Duration::from_secs(20), "the pending Warning", || {
        let events = json(
            &cluster,
            &[
                "get",
                "events",
                "--field-selector",
                "involvedObject.name=web-lb2",
            ],
        );
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "Warning")
            .cloned()
            .ok_or(format!("{events:#}"))
    });
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("default/web-lb"),
        "{event:#}"
    );
    let pending = json(&cluster, &["get", "service", "web-lb2"]);
    assert!(
        pending["status"]["loadBalancer"]["ingress"].is_null(),
        "{pending:#}"
    );

    // Readiness: an unready pod leaves the ready endpoints and gets no traffic.
    let (gone, gone_ip) = pods[0].clone();
    cluster.ok(&["exec", &gone, "--", "rm", "/tmp/ready"]);
    let others: BTreeSet<String> = ips.iter().filter(|ip| **ip != gone_ip).cloned().collect();
    wait_for(
        Duration::from_secs(30),
        "the unready endpoint leaves",
        || {
            let r = ready_addresses(&cluster, "web");
            (r == others).then_some(()).ok_or(format!("{r:?}"))
        },
    );
    // The slice still lists it, not ready.
    let slices = cluster.ok(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
        "-o",
        "json",
    ]);
    assert!(slices.contains(&gone_ip), "{slices}");
    wait_for(
        Duration::from_secs(10),
        "the rules follow the slice",
        || {
            let answers: BTreeSet<String> = (0..20).filter_map(|_| http_get(addr).ok()).collect();
            (answers.len() == 1 && !answers.contains(&format!("web {gone}")))
                .then_some(())
                .ok_or(format!("{answers:?}"))
        },
    );
    cluster.ok(&["exec", &gone, "--", "touch", "/tmp/ready"]);
    let mut seen = BTreeSet::new();
    wait_for(Duration::from_secs(30), "the endpoint is back", || {
        seen.insert(http_get(addr)?);
        (seen.contains(&format!("web {gone}")))
            .then_some(())
            .ok_or(format!("{seen:?}"))
    });

    // Hairpin: a pod reaches itself through its own Service.
    cluster.ok_stdin(&["apply", "-f", "-"], &web_deployment("solo", 1));
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service("solo", "solo", "ClusterIP", 80, ""),
    );
    let (solo, _) = ready_pods(&cluster, "solo", 1).remove(0);
    let solo_ip = json(&cluster, &["get", "service", "solo"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    let body = wait_for(Duration::from_secs(30), "hairpin", || {
        fetch_in_pod(&cluster, &solo, &solo_ip, 80)
    });
    assert_eq!(body, format!("web {solo}"));

    // The in-cluster API: kubectl in a pod, with its ServiceAccount's token and the CA,
    // at KUBERNETES_SERVICE_HOST/PORT (the kubernetes Service's IP) and at
    // https://kubernetes.default.svc.
    cluster.ok(&["create", "serviceaccount", "reader"]);
    cluster.ok(&[
        "create",
        "rolebinding",
        "reader-view",
        "--clusterrole=view",
        "--serviceaccount=default:reader",
    ]);
    let kubernetes = json(&cluster, &["get", "endpoints", "kubernetes"]);
    assert_eq!(
        kubernetes["subsets"][0]["ports"][0]["port"], cluster.port,
        "{kubernetes:#}"
    );
    cluster.ok(&[
        "run",
        "incluster",
        "--image",
        IMAGE,
        "--restart=Never",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"reader"}}"#,
        "--env",
        "HOME=/tmp",
        "--",
        "sh",
        "-c",
        concat!(
            "echo host=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; kubectl get pods -o name; ",
            "sa=/var/run/secrets/kubernetes.io/serviceaccount; ",
            "kubectl --server https://kubernetes.default.svc --certificate-authority $sa/ca.crt ",
            "--token \"$(cat $sa/token)\" get pods -o name | sed 's/^/by name: /'",
        ),
    ]);
    let logs = finished_pod_log(&cluster, "incluster");
    let kube_ip = json(&cluster, &["get", "service", "kubernetes"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(logs.contains(&format!("host={kube_ip}:443")), "{logs}");
    assert!(logs.contains(&format!("pod/{solo}")), "{logs}");
    assert!(logs.contains("pod/incluster"), "{logs}");
    // The same by the Service's DNS name, which the serving certificate carries.
    assert!(logs.contains("by name: pod/incluster"), "{logs}");
}

/// The lines of `iptables-save -t <table>` naming `prefix`.
fn rules_with(table: &str, prefix: &str) -> Vec<String> {
    let out = Command::new("iptables-save")
        .args(["-t", table])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(prefix))
        .map(String::from)
        .collect()
}

/// The jumps from built-in chains to the instance's chains in `table`.
fn jumps(table: &str, prefix: &str) -> Vec<String> {
    rules_with(table, prefix)
        .into_iter()
        .filter(|l| l.starts_with("-A ") && !l.starts_with(&format!("-A {prefix}")))
        .collect()
}

#[test]
fn rules_are_removed_on_sigterm_and_rebuilt_once_after_kill9() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cluster = start(&tmp, port, &[]);
    let prefix = net(&cluster).chain_prefix();
    // A Service with no endpoints: a REJECT in filter.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service("lonely", "nobody", "ClusterIP", 80, ""),
    );
    let ip = json(&cluster, &["get", "service", "lonely"])["spec"]["clusterIP"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for(Duration::from_secs(20), "the reject rule", || {
        let r = rules_with("filter", &format!("-d {ip}/32"));
        (r.len() == 1 && r[0].contains("REJECT"))
            .then_some(())
            .ok_or(format!("{r:?}"))
    });
    let nat_jumps = jumps("nat", &prefix);
    let filter_jumps = jumps("filter", &prefix);
    assert_eq!(
        nat_jumps.len(),
        3,
        "PREROUTING, OUTPUT, POSTROUTING: {nat_jumps:?}"
    );
    assert_eq!(
        filter_jumps.len(),
        4,
        "INPUT, FORWARD ×2, OUTPUT: {filter_jumps:?}"
    );
    // Refused at once rather than left to time out.
    let refused = std::net::TcpStream::connect_timeout(
        &SocketAddr::new(ip.parse().unwrap(), 80),
        Duration::from_secs(5),
    )
    .unwrap_err();
    assert_eq!(
        refused.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{refused}"
    );

    // kill -9 leaves the rules; the restart rewrites them, each jump once.
    cluster.kill9();
    std::mem::forget(cluster);
    assert_eq!(jumps("nat", &prefix), nat_jumps);
    let cluster = start_again(&tmp, port);
    wait_for(
        Duration::from_secs(20),
        "the restarted proxy's sync",
        || {
            let logs = jumps("nat", &prefix).len() + jumps("filter", &prefix).len();
            let reject = rules_with("filter", &format!("-d {ip}/32")).len();
            (logs == 7 && reject == 1)
                .then_some(())
                .ok_or(format!("{logs} jumps, {reject} rejects"))
        },
    );
    let all = rules_with("nat", &prefix);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "no duplicated rule: {all:#?}");

    // SIGTERM: nothing of the instance is left.
    let mut cluster = cluster;
    let pid = cluster.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = cluster.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(rules_with("nat", &prefix), Vec::<String>::new());
    assert_eq!(rules_with("filter", &prefix), Vec::<String>::new());
}

fn start_again(tmp: &tempfile::TempDir, port: u16) -> Cluster {
    Cluster::start_with(&tmp.path().join("data"), port, &[])
}

#[test]
fn disable_kube_proxy_leaves_no_rules_even_after_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cluster = start(&tmp, port, &[]);
    let prefix = net(&cluster).chain_prefix();
    wait_for(Duration::from_secs(20), "the proxy's rules", || {
        let n = jumps("nat", &prefix).len();
        (n == 3).then_some(()).ok_or(format!("{n} jumps"))
    });
    cluster.kill9();
    std::mem::forget(cluster);
    let cluster = Cluster::start_with(&tmp.path().join("data"), port, &["--disable-kube-proxy"]);
    wait_for(
        Duration::from_secs(20),
        "the leftover rules removed",
        || {
            let left = rules_with("nat", &prefix).len() + rules_with("filter", &prefix).len();
            (left == 0)
                .then_some(())
                .ok_or(format!("{left} rules left"))
        },
    );
    // The kubernetes endpoints are the API server's, not the proxy's: still written, with
    // the bind address (127.0.0.1) as the advertise address.
    let ep = json(&cluster, &["get", "endpointslice", "kubernetes"]);
    assert_eq!(ep["endpoints"][0]["addresses"][0], "127.0.0.1", "{ep:#}");
    assert_eq!(ep["ports"][0]["port"], port, "{ep:#}");
}

#[test]
fn disable_servicelb_leaves_load_balancers_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = start(&tmp, free_port(), &["--disable", "servicelb"]);
    let lb_port = net(&cluster).first_node_port() + 39;
    cluster.ok_stdin(&["apply", "-f", "-"], &web_deployment("web", 1));
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &service("web-lb", "web", "LoadBalancer", lb_port, ""),
    );
    let names: BTreeSet<String> = ready_pods(&cluster, "web", 1)
        .into_iter()
        .map(|(n, _)| format!("web {n}"))
        .collect();
    // The proxy still serves the Service's node port (a LoadBalancer is a NodePort too) ...
    let svc = json(&cluster, &["get", "service", "web-lb"]);
    let node_port = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
    let np = SocketAddr::from(([127, 0, 0, 1], node_port));
    let body = wait_for(Duration::from_secs(30), "the node port", || http_get(np));
    assert!(names.contains(&body), "{body}");
    // ... but nothing takes the load balancer's part: no ingress, no port on the host.
    let svc = json(&cluster, &["get", "service", "web-lb"]);
    assert!(
        svc["status"]["loadBalancer"]["ingress"].is_null(),
        "{svc:#}"
    );
    let lb = SocketAddr::from(([127, 0, 0, 1], lb_port));
    assert!(http_get(lb).is_err(), "port {lb_port} answers");
}
