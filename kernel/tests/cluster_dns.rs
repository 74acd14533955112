//! Cluster DNS as users meet it: `kmicro run` serves the cluster's names on its cluster DNS
//! address; pods get a resolv.conf by their `dnsPolicy` and resolve Services (by the search
//! path and by full name), headless Services' pods, and outside names through the upstream
//! of `--resolv-conf` (here a fake on a loopback address, so nothing leaves the machine).
//! The test image is busybox plus bind's `nslookup` and its libraries (busybox 1.35's own
//! `nslookup` ignores the search path, as k8s's DNS debugging guide warns), imported at
//! start.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::busybox::{self, run};
use common::{Cluster, TestNet, free_port};

/// The test image's name.
const IMAGE: &str = "kmicro.test/dnsutils:1";
/// What the fake upstream answers A questions under [`UPSTREAM_ZONE`] with (TEST-NET-1:
/// never reached).
const UPSTREAM_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
/// The only names the fake upstream knows; others are NXDOMAIN, as a real resolver says of
/// a cluster name with the host's search domain appended.
const UPSTREAM_ZONE: &str = "example.org.";

/// An OCI archive of [`IMAGE`]: the busybox test image plus bind's `nslookup` (ahead of
/// busybox's in `PATH`) with the shared libraries `ldd` names, built once per test binary.
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kmicro-dns-image-{}", std::process::id()));
        let nslookup = "/usr/bin/nslookup";
        let libs = run(Command::new("ldd").arg(nslookup));
        let mut extra: Vec<(&Path, &str)> = vec![(Path::new(nslookup), nslookup)];
        extra.extend(
            libs.split_whitespace()
                .filter(|w| w.starts_with('/'))
                .map(|lib| (Path::new(lib), lib)),
        );
        busybox::build_archive(&dir, IMAGE, &extra)
    })
}

/// A fake upstream resolver on a loopback address of its own, port 53: A questions under
/// [`UPSTREAM_ZONE`] get [`UPSTREAM_ANSWER`], other types there an empty answer, names
/// elsewhere NXDOMAIN; it records the names asked.
struct FakeUpstream {
    addr: Ipv4Addr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FakeUpstream {
    fn start() -> Self {
        let seed = std::process::id();
        let socket = (0..=255u8)
            .find_map(|i| {
                let addr = Ipv4Addr::new(127, 77, (seed % 251) as u8, i.wrapping_add(2));
                UdpSocket::bind(SocketAddr::from((addr, 53))).ok()
            })
            .expect("a free loopback address for the fake upstream");
        let addr = match socket.local_addr().unwrap() {
            SocketAddr::V4(a) => *a.ip(),
            SocketAddr::V6(_) => unreachable!(),
        };
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&asked);
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                if let Some((name, reply)) = fake_reply(&buf[..n]) {
                    log.lock().unwrap().push(name);
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        FakeUpstream { addr, asked }
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

/// The question's name and the fake's answer to a DNS query.
fn fake_reply(query: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).into_owned());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let name = labels.join(".").to_ascii_lowercase() + ".";
    let known = name.ends_with(UPSTREAM_ZONE);
    let mut reply = query.get(..question_end)?.to_vec();
    reply[2] = 0x81; // QR, RD
    reply[3] = if known { 0x80 } else { 0x83 }; // RA; NOERROR or NXDOMAIN
    reply[6..12].copy_from_slice(&[0, 0, 0, 0, 0, 0]);
    if known && qtype == 1 {
        reply[7] = 1;
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4]);
        reply.extend_from_slice(&UPSTREAM_ANSWER.octets());
    }
    Some((name, reply))
}

/// `dig +short` against the cluster DNS.
fn dig(server: Ipv4Addr, args: &[&str]) -> String {
    run(Command::new("dig")
        .arg(format!("@{server}"))
        .args(["+time=2", "+tries=2"])
        .args(args))
}

fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn exec(cluster: &Cluster, pod: &str, cmd: &[&str]) -> String {
    let mut args = vec!["exec", pod, "--"];
    args.extend_from_slice(cmd);
    let out = cluster.kubectl(&args);
    common::output_text(&out)
}

fn jsonpath(cluster: &Cluster, object: &str, path: &str) -> String {
    cluster.ok(&["get", object, "-o", &format!("jsonpath={path}")])
}

fn manifests() -> String {
    let sleeper = |name: &str, extra: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  terminationGracePeriodSeconds: 1\n{extra}  containers:\n  - name: main\n    image: {IMAGE}\n    command: [\"sleep\", \"3600\"]\n"
        )
    };
    let web = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: hl}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: httpd\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"mkdir -p /tmp/www && echo web $HOSTNAME > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www\"]\n    ports:\n    - containerPort: 80\n      name: http\n"
        )
    };
    [
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: hl\nspec:\n  clusterIP: None\n  selector: {app: hl}\n  ports:\n  - name: http\n    port: 80\n".to_string(),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: hl}\n  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n".to_string(),
        web("hl-a"),
        web("hl-b"),
        sleeper("client", ""),
        sleeper("host-dns", "  dnsPolicy: Default\n"),
        sleeper(
            "own-dns",
            "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [\"10.1.2.3\"]\n    searches: [\"a.example\", \"b.example\"]\n    options:\n    - name: ndots\n      value: \"2\"\n    - name: edns0\n",
        ),
    ]
    .join("---\n")
}

#[test]
fn cluster_names_resolve_in_pods_and_on_the_host() {
    let upstream = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let net = TestNet::for_data_dir(&data_dir);
    let resolv = tmp.path().join("resolv.conf");
    // The fake first; the bridge's address second (local, nothing answers there): what
    // `dnsPolicy: Default` pods get, as loopback servers are dropped for them.
    std::fs::write(
        &resolv,
        format!(
            "nameserver {}\nnameserver {}\nsearch example.test\n",
            upstream.addr,
            net.gateway()
        ),
    )
    .unwrap();
    let images = data_dir.join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(archive(), images.join("dnsutils.tar")).unwrap();
    let mut cluster = Cluster::start_with(
        &data_dir,
        free_port(),
        &["--resolv-conf", resolv.to_str().unwrap()],
    );
    let dns = net.cluster_dns();

    // kube-dns as k3s has it.
    let listed = cluster.ok(&["get", "svc,endpoints", "-n", "kube-system", "kube-dns"]);
    assert!(listed.contains(&format!("{dns}")), "{listed}");
    assert!(listed.contains("53/UDP,53/TCP"), "{listed}");
    assert!(listed.contains(&format!("{dns}:53")), "{listed}");

    cluster.ok_stdin(&["apply", "-f", "-"], &manifests());
    cluster.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod",
        "--all",
        "--timeout=180s",
    ]);

    // resolv.conf by dnsPolicy.
    assert_eq!(
        exec(&cluster, "client", &["cat", "/etc/resolv.conf"]),
        format!(
            "search default.svc.cluster.local svc.cluster.local cluster.local example.test\nnameserver {dns}\noptions ndots:5\n"
        )
    );
    assert_eq!(
        exec(&cluster, "host-dns", &["cat", "/etc/resolv.conf"]),
        format!("search example.test\nnameserver {}\n", net.gateway())
    );
    assert_eq!(
        exec(&cluster, "own-dns", &["cat", "/etc/resolv.conf"]),
        "search a.example b.example\nnameserver 10.1.2.3\noptions edns0 ndots:2\n"
    );

    // kubernetes.default through the search path.
    let kubernetes_ip = jsonpath(&cluster, "svc/kubernetes", "{.spec.clusterIP}");
    let answer = exec(&cluster, "client", &["nslookup", "kubernetes.default"]);
    assert!(
        answer.contains("Name:\tkubernetes.default.svc.cluster.local")
            && answer.contains(&format!("Address: {kubernetes_ip}")),
        "{answer}"
    );

    // A headless Service's pods, by the short name and the full one.
    let pod_ips: Vec<String> = ["hl-a", "hl-b"]
        .iter()
        .map(|p| jsonpath(&cluster, &format!("pod/{p}"), "{.status.podIP}"))
        .collect();
    for name in ["hl", "hl.default.svc.cluster.local."] {
        eventually(&format!("nslookup {name}"), Duration::from_secs(30), || {
            let answer = exec(&cluster, "client", &["nslookup", name]);
            pod_ips
                .iter()
                .all(|ip| answer.contains(&format!("Address: {ip}")))
                .then_some(())
                .ok_or(answer)
        });
    }
    for url in ["http://hl/", "http://hl.default.svc.cluster.local/"] {
        let body = exec(&cluster, "client", &["wget", "-q", "-O-", url]);
        assert!(
            body == "web hl-a\n" || body == "web hl-b\n",
            "{url}: {body:?}"
        );
    }

    // A ClusterIP Service's name is its cluster IP; SRV for its named port from the host.
    let web_ip = jsonpath(&cluster, "svc/web", "{.spec.clusterIP}");
    let answer = exec(&cluster, "client", &["nslookup", "web"]);
    assert!(answer.contains(&format!("Address: {web_ip}")), "{answer}");
    assert_eq!(
        dig(
            dns,
            &["+short", "SRV", "_http._tcp.web.default.svc.cluster.local"]
        ),
        "0 100 80 web.default.svc.cluster.local.\n"
    );
    assert_eq!(
        dig(dns, &["+short", "+tcp", "web.default.svc.cluster.local"]),
        format!("{web_ip}\n")
    );

    // Outside names go to the upstream.
    assert_eq!(
        dig(dns, &["+short", "outside.example.org"]),
        format!("{UPSTREAM_ANSWER}\n")
    );
    assert!(
        upstream
            .asked()
            .contains(&"outside.example.org.".to_string()),
        "{:?}",
        upstream.asked()
    );
    let answer = exec(&cluster, "client", &["nslookup", "inside.example.org"]);
    assert!(
        answer.contains(&format!("Address: {UPSTREAM_ANSWER}")),
        "{answer}"
    );

    // A deleted Service's name is gone.
    cluster.ok(&["delete", "svc", "web"]);
    eventually("web NXDOMAIN", Duration::from_secs(30), || {
        let out = dig(dns, &["web.default.svc.cluster.local"]);
        out.contains("status: NXDOMAIN").then_some(()).ok_or(out)
    });

    // SIGTERM: the interface goes with the server.
    assert!(
        Path::new("/sys/class/net")
            .join(net.dns_interface())
            .exists()
    );
    run(Command::new("kill").args(["-TERM", &cluster.child.id().to_string()]));
    let status = cluster.child.wait().unwrap();
    assert!(status.success(), "kmicro exited with {status}");
    assert!(
        !Path::new("/sys/class/net")
            .join(net.dns_interface())
            .exists(),
        "{} left behind",
        net.dns_interface()
    );
}

#[test]
fn disable_coredns_turns_it_off_and_unknown_components_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let net = TestNet::for_data_dir(&data_dir);
    let cluster = Cluster::start_with(
        &data_dir,
        free_port(),
        &["--disable", "coredns", "--disable-agent"],
    );
    assert!(
        !Path::new("/sys/class/net")
            .join(net.dns_interface())
            .exists()
    );
    let out = cluster.kubectl(&["get", "svc", "-n", "kube-system", "kube-dns"]);
    assert!(!out.status.success());
    assert!(common::output_text(&out).contains("NotFound"));
    drop(cluster);

    let out = Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(["run", "--disable", "coredns,traefik"])
        .arg("--data-dir")
        .arg(tmp.path().join("other"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--disable") && stderr.contains("traefik"),
        "{stderr}"
    );
    for (flags, needle) in [
        (["--cluster-dns", "10.44.0.10"], "outside --service-cidr"),
        (["--cluster-domain", "bad_domain"], "--cluster-domain"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kmicro"))
            .arg("run")
            .args(flags)
            .arg("--data-dir")
            .arg(tmp.path().join("other"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{flags:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_leftover_interface_after_sigkill_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let net = TestNet::for_data_dir(&data_dir);
    let port = free_port();
    // The first cluster is dropped (its network released) only at the end.
    let mut killed = Cluster::start_with(&data_dir, port, &["--disable-agent"]);
    killed.kill9();
    assert!(
        Path::new("/sys/class/net")
            .join(net.dns_interface())
            .exists(),
        "SIGKILL leaves the interface"
    );
    let cluster = Cluster::start_with(&data_dir, port, &["--disable-agent"]);
    assert_eq!(
        dig(
            net.cluster_dns(),
            &["+short", "kubernetes.default.svc.cluster.local"]
        ),
        format!(
            "{}\n",
            jsonpath(&cluster, "svc/kubernetes", "{.spec.clusterIP}")
        )
    );
}
