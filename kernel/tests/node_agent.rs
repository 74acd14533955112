//! The node agent: `kmicro run` registers its Node (Ready, roles, capacity, system info,
//! conditions), renews its Lease, keeps the Node across restarts, applies `--node-*` flags
//! with k3s's semantics, takes its hard eviction thresholds from
//! `--kubelet-arg=eviction-hard=…` as k3s and kubelet do, and registers nothing with
//! `--disable-agent`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Cluster;
use serde_json::Value;

const NODE: &str = "kmicro-test-node";

fn json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.ok(&all)).unwrap()
}

/// Waits until node `name` is listed Ready; returns it as JSON.
fn wait_ready(cluster: &Cluster, name: &str) -> Value {
    wait_for(cluster, name, "Ready", |node| {
        condition(node, "Ready")["status"] == "True"
    })
}

/// Waits until node `name` exists and `test` holds for it; returns it as JSON.
fn wait_for(cluster: &Cluster, name: &str, what: &str, test: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = cluster.kubectl(&["get", "node", name, "-o", "json"]);
        if out.status.success() {
            let node: Value = serde_json::from_slice(&out.stdout).unwrap();
            if test(&node) {
                return node;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {name} did not become {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn condition<'a>(node: &'a Value, ty: &str) -> &'a Value {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == ty))
        .unwrap_or(&Value::Null)
}

/// Stops kmicro with SIGTERM (a clean stop) and waits for it.
fn stop(cluster: &mut Cluster) {
    let status = Command::new("kill")
        .args(["-TERM", &cluster.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while cluster.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "kmicro did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What `df` says of `dir`'s file system: its size and the space available to unprivileged
/// users, in bytes (what the agent's statvfs reads).
fn df(dir: &std::path::Path) -> (u64, u64) {
    let out = Command::new("df")
        .args(["-B1", "--output=size,avail"])
        .arg(dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers: Vec<u64> = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    (numbers[0], numbers[1])
}

/// What a percentage threshold amounts to for `capacity`, as kubelet computes it: the share in
/// single precision, the product in double, truncated.
fn percent_of(capacity: u64, percent: f32) -> u64 {
    (capacity as f64 * f64::from(percent / 100.0)) as u64
}

/// A quantity as the agent writes them (`123Ki`, `2Mi`, `1Gi`, plain bytes), in bytes.
fn bytes(quantity: &Value) -> u64 {
    let q = quantity.as_str().unwrap();
    let (number, shift) = [("Ki", 10), ("Mi", 20), ("Gi", 30), ("Ti", 40)]
        .iter()
        .find_map(|(suffix, shift)| q.strip_suffix(suffix).map(|n| (n, *shift)))
        .unwrap_or((q, 0));
    number.parse::<u64>().unwrap() << shift
}

/// Memory capacity less the huge pages reserved (what allocatable memory is before any
/// eviction threshold).
fn memory_without_hugepages(capacity: &Value) -> u64 {
    let hugepages: u64 = capacity
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("hugepages-"))
        .map(|(_, v)| bytes(v))
        .sum();
    bytes(&capacity["memory"]) - hugepages
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn the_node_registers_ready_and_survives_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = common::free_port();
    let flags = [
        "--node-name",
        NODE,
        "--node-ip",
        "10.11.12.13",
        "--node-label",
        "tier=edge",
        "--node-label",
        "example.com/zone=lab,example.com/rack=r1",
        "--node-taint",
        "dedicated=edge:NoSchedule",
    ];
    let mut cluster = Cluster::start_with(&data_dir, port, &flags);
    let node = wait_ready(&cluster, NODE);

    // kubectl get nodes: Ready, with k3s's server roles.
    let table = cluster.ok(&["get", "nodes"]);
    let row = table.lines().find(|l| l.starts_with(NODE)).unwrap();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "Ready", "{table}");
    assert_eq!(cells[2], "control-plane,master", "{table}");
    assert!(cells[4].starts_with("v1.35.0+kmicro"), "{table}");

    // Labels, taints, addresses.
    let labels = &node["metadata"]["labels"];
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    for (k, v) in [
        ("kubernetes.io/hostname", NODE),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch),
        ("beta.kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", "linux"),
        ("node-role.kubernetes.io/control-plane", "true"),
        ("node-role.kubernetes.io/master", "true"),
        ("node.kubernetes.io/instance-type", "kmicro"),
        ("tier", "edge"),
        ("example.com/zone", "lab"),
        ("example.com/rack", "r1"),
    ] {
        assert_eq!(labels[k], v, "label {k}: {labels}");
    }
    assert_eq!(
        node["spec"]["taints"],
        serde_json::json!([{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}])
    );
    assert_eq!(
        node["status"]["addresses"],
        serde_json::json!([
            {"type": "InternalIP", "address": "10.11.12.13"},
            {"type": "Hostname", "address": NODE},
        ])
    );

    // Capacity and allocatable from the host.
    let capacity = &node["status"]["capacity"];
    let allocatable = &node["status"]["allocatable"];
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(capacity["cpu"], cpus.to_string());
    assert_eq!(capacity["pods"], "110");
    assert!(
        capacity["memory"].as_str().unwrap().ends_with("Ki"),
        "{capacity}"
    );
    assert!(capacity["ephemeral-storage"].is_string(), "{capacity}");
    assert!(allocatable["memory"].is_string(), "{allocatable}");
    assert_ne!(capacity["memory"], allocatable["memory"]);

    // System info.
    let info = &node["status"]["nodeInfo"];
    assert_eq!(info["bootID"], read("/proc/sys/kernel/random/boot_id"));
    assert_eq!(info["machineID"], read("/etc/machine-id"));
    assert_eq!(info["kernelVersion"], read("/proc/sys/kernel/osrelease"));
    assert_eq!(info["operatingSystem"], "linux");
    assert_eq!(info["architecture"], arch);
    let version: Value = serde_json::from_str(&cluster.ok(&["get", "--raw", "/version"])).unwrap();
    assert_eq!(info["kubeletVersion"], version["gitVersion"]);
    assert!(
        info["containerRuntimeVersion"]
            .as_str()
            .unwrap()
            .starts_with("kmicro://")
    );

    // Allocatable holds back the thresholds in force: the test clusters' 1Mi of memory and
    // of disk (common::TEST_EVICTION_HARD).
    let (disk_size, disk_available) = df(&data_dir);
    assert_eq!(bytes(&capacity["ephemeral-storage"]), disk_size);
    assert_eq!(
        allocatable["ephemeral-storage"],
        (disk_size - (1 << 20)).to_string()
    );
    assert_eq!(
        bytes(&allocatable["memory"]),
        memory_without_hugepages(capacity) - (1 << 20)
    );

    // Conditions with kubelet's reasons; disk pressure as the data dir's file system is
    // against that 1Mi.
    let disk = if disk_available < 1 << 20 {
        ("DiskPressure", "True", "KubeletHasDiskPressure")
    } else {
        ("DiskPressure", "False", "KubeletHasNoDiskPressure")
    };
    for (ty, status, reason) in [
        ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
        disk,
        ("PIDPressure", "False", "KubeletHasSufficientPID"),
        ("Ready", "True", "KubeletReady"),
    ] {
        let c = condition(&node, ty);
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some(status), Some(reason)),
            "{c}"
        );
    }

    // kubectl describe shows it all.
    let described = cluster.ok(&["describe", "node", NODE]);
    for needle in [
        "Roles:              control-plane,master",
        "Taints:             dedicated=edge:NoSchedule",
        "Capacity:",
        "Allocatable:",
        "System Info:",
        "Boot ID:",
        "Kubelet Version:",
        "KubeletReady",
        "kubelet is posting ready status",
        "KubeletHasSufficientMemory",
        "InternalIP:  10.11.12.13",
        "Lease:",
        &format!("HolderIdentity:  {NODE}"),
    ] {
        assert!(described.contains(needle), "no {needle:?} in:\n{described}");
    }

    // The Lease: held by the node, owned by it, renewed.
    let lease_args = ["-n", "kube-node-lease", "get", "lease", NODE];
    let lease = json(&cluster, &lease_args);
    assert_eq!(lease["spec"]["holderIdentity"], NODE);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
    let owner = &lease["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("Node"), Some(NODE))
    );
    assert_eq!(owner["uid"], node["metadata"]["uid"]);
    let first_renewal = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(11));
    let lease = json(&cluster, &lease_args);
    let second_renewal = lease["spec"]["renewTime"].as_str().unwrap().to_string();
    assert!(
        second_renewal > first_renewal,
        "renewTime did not advance: {first_renewal} then {second_renewal}"
    );

    // The node may write its own Node and Lease, and nothing else.
    let can = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend(args);
        all.extend([
            "--as",
            "system:node:kmicro-test-node",
            "--as-group",
            "system:nodes",
        ]);
        cluster.kubectl(&all).status.success()
    };
    assert!(can(&["update", &format!("nodes/{NODE}")]));
    assert!(can(&[
        "patch",
        &format!("nodes/{NODE}"),
        "--subresource",
        "status"
    ]));
    assert!(can(&[
        "update",
        &format!("leases/{NODE}"),
        "-n",
        "kube-node-lease"
    ]));
    assert!(!can(&["update", "nodes/another-node"]));
    assert!(!can(&["delete", &format!("nodes/{NODE}")]));
    assert!(!can(&["list", "secrets", "-A"]));
    assert!(!can(&["delete", "secrets", "-A"]));

    // A clean stop leaves the Node; a restart keeps its uid, adds the new labels, keeps the
    // old ones, and applies no taint (taints only at registration).
    let uid = node["metadata"]["uid"].clone();
    stop(&mut cluster);
    let mut cluster = Cluster::start_with(
        &data_dir,
        port,
        &[
            "--node-name",
            NODE,
            "--node-label",
            "tier=core",
            "--node-taint",
            "later=x:NoExecute",
        ],
    );
    // Until the new agent reports, the node shows the status of the last run (as with
    // kubelet); its report replaces the address given by --node-ip last time.
    let node = wait_for(&cluster, NODE, "reported again", |node| {
        node["status"]["addresses"][0]["address"] != "10.11.12.13"
    });
    assert_eq!(condition(&node, "Ready")["status"], "True");
    assert_eq!(node["metadata"]["uid"], uid);
    let labels = &node["metadata"]["labels"];
    assert_eq!(labels["tier"], "core");
    assert_eq!(labels["example.com/zone"], "lab");
    assert_eq!(
        node["spec"]["taints"],
        serde_json::json!([{"key": "dedicated", "value": "edge", "effect": "NoSchedule"}])
    );
    // Without --node-ip, the address is detected (an IPv4 address, loopback when there is no
    // other).
    let ip = node["status"]["addresses"][0]["address"].as_str().unwrap();
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert_ne!(ip, "10.11.12.13");
    stop(&mut cluster);
}

/// `--kubelet-arg=eviction-hard=…` as k3s passes it to kubelet: `=` replaces kmicro's default
/// thresholds (signals left out have none), `+=` adds to them; the pressure conditions and
/// allocatable follow the thresholds in force. Expectations come from `df`.
#[test]
fn eviction_thresholds_come_from_kubelet_args() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = common::free_port();
    let name = "eviction-node";
    let disk_pressure = |node: &Value, threshold: u64| {
        let (_, available) = df(&data_dir);
        let want = if available < threshold {
            ("True", "KubeletHasDiskPressure")
        } else {
            ("False", "KubeletHasNoDiskPressure")
        };
        let c = condition(node, "DiskPressure");
        assert_eq!(
            (c["status"].as_str(), c["reason"].as_str()),
            (Some(want.0), Some(want.1)),
            "{available} bytes available, threshold {threshold}: {c}"
        );
    };

    // Only a disk threshold of 1%: no memory threshold is left, so allocatable memory is all
    // of it.
    let mut cluster = Cluster::start_with(
        &data_dir,
        port,
        &[
            "--node-name",
            name,
            "--kubelet-arg=eviction-hard=nodefs.available<1%",
        ],
    );
    let node = wait_ready(&cluster, name);
    let (size, _) = df(&data_dir);
    let held_back = percent_of(size, 1.0);
    disk_pressure(&node, held_back);
    let capacity = &node["status"]["capacity"];
    let allocatable = &node["status"]["allocatable"];
    assert_eq!(
        allocatable["ephemeral-storage"],
        (size - held_back).to_string()
    );
    assert_eq!(
        bytes(&allocatable["memory"]),
        memory_without_hugepages(capacity)
    );
    stop(&mut cluster);

    // += keeps the defaults (memory.available<100Mi) and sets the disk's to 99%: under
    // pressure unless the disk is all but empty.
    let cluster = Cluster::start_with(
        &data_dir,
        port,
        &[
            "--node-name",
            name,
            "--kubelet-arg=eviction-hard+=nodefs.available<99%",
        ],
    );
    let held_back = percent_of(size, 99.0);
    let want = (size - held_back).to_string();
    let node = wait_for(&cluster, name, "reported with 99%", |node| {
        node["status"]["allocatable"]["ephemeral-storage"] == want.as_str()
    });
    disk_pressure(&node, held_back);
    let capacity = &node["status"]["capacity"];
    assert_eq!(
        bytes(&node["status"]["allocatable"]["memory"]),
        memory_without_hugepages(capacity) - (100 << 20)
    );
    assert_eq!(condition(&node, "Ready")["status"], "True");
}

#[test]
fn disable_agent_registers_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let cluster = Cluster::start_with(&data_dir, common::free_port(), &["--disable-agent"]);
    std::thread::sleep(Duration::from_secs(1));
    let nodes = json(&cluster, &["get", "nodes"]);
    assert_eq!(nodes["items"], serde_json::json!([]));
    let leases = json(&cluster, &["-n", "kube-node-lease", "get", "leases"]);
    assert_eq!(leases["items"], serde_json::json!([]));
    let bindings = cluster.ok(&["get", "clusterrolebindings", "-o", "name"]);
    assert!(!bindings.contains("node-agent"), "{bindings}");
}

#[test]
fn bad_node_flags_are_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    for (flags, expect) in [
        (&["--node-name", "Not_A_Name"][..], &["--node-name"][..]),
        (&["--node-label", "no-equals"], &["key=value"]),
        (&["--node-taint", "k=v:Sometimes"], &["Sometimes"]),
        (
            &["--kubelet-arg=max-pods=50"],
            &[
                "--kubelet-arg",
                "--max-pods is not supported",
                "eviction-hard",
            ],
        ),
        (
            &["--kubelet-arg", "eviction-hard=memory.available"],
            &[
                "--kubelet-arg",
                "--eviction-hard",
                "malformed pair, expect string<string",
            ],
        ),
        (
            &["--kubelet-arg=eviction-hard=memory.avail<1Gi"],
            &[
                "--kubelet-arg eviction-hard",
                "unsupported eviction signal memory.avail",
            ],
        ),
        (
            &["--kubelet-arg=eviction-hard+=nodefs.available<150%"],
            &[
                "--kubelet-arg eviction-hard",
                "eviction percentage threshold nodefs.available must be <= 100%: 150%",
            ],
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kmicro"))
            .args(["run", "--bind-address", "127.0.0.1", "--https-listen-port"])
            .arg(common::free_port().to_string())
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in expect {
            assert!(
                stderr.contains(needle),
                "{flags:?}: no {needle:?} in {stderr}"
            );
        }
    }
}

/// The time from starting `kmicro run` on a fresh data dir to its node being Ready, as the
/// agent logs it and as a client sees it. Printed for the record (`--nocapture`); the bound
/// is loose because tests run unoptimised and in parallel.
#[test]
fn fresh_start_to_node_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = common::free_port();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(["run", "--bind-address", "127.0.0.1", "--https-listen-port"])
        .arg(port.to_string())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--node-name", "timed-node"])
        // Started outside the test networks: nothing of its own on the host (it is killed).
        .args(["--disable-kube-proxy", "--disable", "coredns"])
        .env("KMICRO_LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut logged_ms = None;
    for line in stderr.lines() {
        let line = strip_ansi(&line.unwrap());
        if line.contains("node registered and Ready") {
            logged_ms = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("since_start_ms="))
                .and_then(|v| v.parse::<u64>().ok());
            break;
        }
    }
    let seen = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let logged_ms = logged_ms.expect("the agent logged its registration");
    println!(
        "fresh data dir to node Ready: {logged_ms} ms inside kmicro, {} ms from spawning the process",
        seen.as_millis()
    );
    assert!(seen < Duration::from_secs(10), "{seen:?}");
}

/// `line` without ANSI colour sequences (the log colours field names).
fn strip_ansi(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
