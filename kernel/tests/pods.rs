//! Pods bound to the node run as real containers: `kmicro run` with a busybox image imported
//! from `<data-dir>/agent/images/` (the airgap path: an OCI archive built with umoci and
//! skopeo from busybox-static), driven with the real kubectl.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::busybox::{self, run};
use common::{Cluster, cgroup_pids, cgroup_root, free_port};
use serde_json::Value;

/// The test image's name.
const IMAGE: &str = "kmicro.test/busybox:1";

/// An OCI layout of the busybox test image, built once per test binary.
fn layout() -> &'static Path {
    static LAYOUT: OnceLock<PathBuf> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kmicro-pods-layout-{}", std::process::id()));
        busybox::build_layout(&dir, &[])
    })
}

/// An OCI archive of the test image named [`IMAGE`].
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let path = layout().parent().unwrap().join("busybox.tar");
        busybox::write_archive(layout(), IMAGE, &path);
        path
    })
}

/// A cluster whose image store gets the test image at start.
struct PodCluster {
    cluster: Cluster,
    _tmp: tempfile::TempDir,
}

impl PodCluster {
    fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let images = data_dir.join("agent/images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::copy(archive(), images.join("busybox.tar")).unwrap();
        let cluster = Cluster::start_with(&data_dir, free_port(), &[]);
        PodCluster { cluster, _tmp: tmp }
    }
}

impl std::ops::Deref for PodCluster {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.cluster
    }
}

/// The pod as JSON.
fn pod(cluster: &Cluster, name: &str) -> Value {
    serde_json::from_str(&cluster.ok(&["get", "pod", name, "-o", "json"])).unwrap()
}

/// Waits until `check` holds for the pod (panics with the pod after `timeout`).
fn wait_pod(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let out = cluster.kubectl(&["get", "pod", name, "-o", "json"]);
        if out.status.success() {
            let p: Value = serde_json::from_slice(&out.stdout).unwrap();
            if check(&p) {
                return p;
            }
            if Instant::now() > deadline {
                let events = cluster.kubectl(&["get", "events", "-o", "wide"]);
                panic!(
                    "pod {name} never got {what}:\n{p:#}\n{}",
                    common::output_text(&events)
                );
            }
        } else if Instant::now() > deadline {
            panic!("pod {name}: {}", common::output_text(&out));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn phase(p: &Value) -> &str {
    p["status"]["phase"].as_str().unwrap_or("")
}

fn condition<'a>(p: &'a Value, kind: &str) -> &'a str {
    p["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
}

/// Waits until the pod is gone from the API.
fn wait_gone(cluster: &Cluster, name: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while cluster.kubectl(&["get", "pod", name]).status.success() {
        assert!(Instant::now() < deadline, "pod {name} was never deleted");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The pids of a pod's containers (its cgroup `…/pods/<uid>`).
fn pod_pids(cluster: &Cluster, uid: &str) -> Vec<i32> {
    cgroup_pids(&format!("{}/pods/{uid}", cgroup_root(&cluster.data_dir)))
}

#[test]
fn a_pod_runs_logs_and_is_deleted() {
    let cluster = PodCluster::start();
    let started = Instant::now();
    cluster.ok(&["run", "sleeper", "--image", IMAGE, "--", "sleep", "3600"]);
    let p = wait_pod(
        &cluster,
        "sleeper",
        Duration::from_secs(60),
        "Running and Ready",
        |p| phase(p) == "Running" && condition(p, "Ready") == "True",
    );
    eprintln!("sleeper Running after {:?}", started.elapsed());
    let status = &p["status"]["containerStatuses"][0];
    assert_eq!(status["name"], "sleeper");
    assert_eq!(status["ready"], true);
    assert_eq!(status["started"], true);
    assert_eq!(status["restartCount"], 0);
    assert!(
        status["state"]["running"]["startedAt"].is_string(),
        "{status}"
    );
    assert!(
        status["containerID"]
            .as_str()
            .unwrap()
            .starts_with("kmicro://"),
        "{status}"
    );
    assert!(
        status["imageID"].as_str().unwrap().contains("sha256:"),
        "{status}"
    );
    assert!(p["status"]["hostIP"].is_string());
    assert!(p["status"]["startTime"].is_string());
    for kind in [
        "PodScheduled",
        "Initialized",
        "ContainersReady",
        "PodReadyToStartContainers",
    ] {
        assert_eq!(condition(&p, kind), "True", "{kind}: {p:#}");
    }
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let pids = pod_pids(&cluster, &uid);
    assert!(
        !pids.is_empty(),
        "the container's process is in the pod's cgroup"
    );
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
    assert_eq!(String::from_utf8_lossy(&cmdline), "sleep\u{0}3600\u{0}");

    // Logs: a pod that writes to both streams and ends.
    cluster.ok(&["run", "talker", "--image", IMAGE, "--restart=Never", "--", "sh", "-c",
        "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; echo $HOSTNAME; cat /etc/hostname"]);
    wait_pod(
        &cluster,
        "talker",
        Duration::from_secs(60),
        "Succeeded",
        |p| phase(p) == "Succeeded",
    );
    assert_eq!(
        cluster.ok(&["logs", "talker"]),
        "one\ntwo\nthree\ntalker\ntalker\n"
    );
    assert_eq!(
        cluster.ok(&["logs", "talker", "--tail=2"]),
        "talker\ntalker\n"
    );
    assert_eq!(
        cluster.ok(&["logs", "talker", "-c", "talker", "--tail=1"]),
        "talker\n"
    );
    let stamped = cluster.ok(&["logs", "talker", "--timestamps", "--tail=1"]);
    assert!(
        stamped.ends_with("Z talker\n") && stamped.starts_with("20"),
        "{stamped}"
    );
    let p = pod(&cluster, "talker");
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(t["exitCode"], 0);
    assert_eq!(t["reason"], "Completed");
    assert_eq!(condition(&p, "Ready"), "False");
    // A finished pod gives its resources back.
    let talker_uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster
        .data_dir
        .join("agent/pods")
        .join(&talker_uid)
        .exists()
    {
        assert!(
            Instant::now() < deadline,
            "the finished pod's directory stays"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = cluster.fails(&["logs", "talker", "-c", "nope"], None);
    assert!(
        err.contains("container nope is not valid for pod talker"),
        "{err}"
    );
    let err = cluster.fails(&["logs", "talker", "--previous"], None);
    assert!(
        err.contains("previous terminated container \"talker\" in pod \"talker\" not found"),
        "{err}"
    );

    // Following a running container's log.
    cluster.ok(&[
        "run",
        "ticker",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick $i; sleep 1; done; sleep 3600",
    ]);
    wait_pod(
        &cluster,
        "ticker",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );
    let mut follow = cluster_kubectl(&cluster, &["logs", "-f", "ticker"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = String::new();
    {
        use std::io::Read;
        let stdout = follow.stdout.as_mut().unwrap();
        let mut buf = [0u8; 256];
        while !seen.contains("tick 3\n") && Instant::now() < deadline {
            let n = stdout.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert_eq!(seen, "tick 1\ntick 2\ntick 3\n");

    // Deletion: SIGTERM (which sleep as pid 1 ignores), the grace period, SIGKILL; then
    // nothing is left in its cgroup and the deletion is confirmed.
    cluster.ok(&[
        "delete",
        "pod",
        "sleeper",
        "--grace-period=2",
        "--wait=false",
    ]);
    wait_gone(&cluster, "sleeper", Duration::from_secs(30));
    assert!(
        pod_pids(&cluster, &uid).is_empty(),
        "no process of the deleted pod is left"
    );
    assert!(!cluster.data_dir.join("agent/pods").join(&uid).exists());
    let events = cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=sleeper",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    for reason in ["Pulled", "Created", "Started", "Killing"] {
        assert!(events.contains(reason), "{reason} in {events}");
    }
}

/// kubectl with its stdout piped, not waited for.
fn cluster_kubectl(cluster: &Cluster, args: &[&str]) -> std::process::Child {
    Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn crashing_containers_back_off_and_oom_kills_are_reported() {
    let cluster = PodCluster::start();
    cluster.ok(&[
        "run",
        "crasher",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo crashed; exit 3",
    ]);
    let p = wait_pod(
        &cluster,
        "crasher",
        Duration::from_secs(60),
        "CrashLoopBackOff",
        |p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff",
    );
    let s = &p["status"]["containerStatuses"][0];
    assert!(s["restartCount"].as_u64().unwrap() >= 1, "{s}");
    assert_eq!(s["lastState"]["terminated"]["exitCode"], 3);
    assert_eq!(s["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(phase(&p), "Running");
    assert!(
        s["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .starts_with("back-off 10s restarting failed container=crasher pod=crasher_default("),
        "{s}"
    );
    // After the 10 s back-off it is started again: the restart count grows.
    let before = s["restartCount"].as_u64().unwrap();
    wait_pod(
        &cluster,
        "crasher",
        Duration::from_secs(40),
        "another restart",
        |p| {
            p["status"]["containerStatuses"][0]["restartCount"]
                .as_u64()
                .unwrap_or(0)
                > before
        },
    );
    assert_eq!(cluster.ok(&["logs", "crasher", "--previous"]), "crashed\n");
    let events = cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=crasher",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(events.contains("BackOff"), "{events}");

    // An image that is nowhere: ErrImagePull, then ImagePullBackOff (test clusters reach
    // registries through a proxy that is not there, so nothing leaves the machine).
    cluster.ok(&[
        "run",
        "absent",
        "--image",
        "docker.io/library/absent-image:1",
        "--",
        "sleep",
        "1",
    ]);
    let p = wait_pod(
        &cluster,
        "absent",
        Duration::from_secs(30),
        "ImagePullBackOff",
        |p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff",
    );
    let _ = p;
    let events = cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=absent",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("Failed to pull image \"docker.io/library/absent-image:1\""),
        "{events}"
    );
    assert!(events.contains("Error: ErrImagePull"), "{events}");

    // A container over its 16Mi memory limit is OOMKilled.
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"hog"}},"spec":{{"restartPolicy":"Never",
        "containers":[{{"name":"hog","image":"{IMAGE}","command":["sh","-c","x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"],
        "resources":{{"limits":{{"memory":"16Mi"}}}}}}]}}}}"#
    );
    cluster.ok_stdin(&["apply", "-f", "-"], &manifest);
    let p = wait_pod(&cluster, "hog", Duration::from_secs(60), "Failed", |p| {
        phase(p) == "Failed"
    });
    let t = &p["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(t["reason"], "OOMKilled", "{p:#}");
    assert_eq!(t["exitCode"], 137);
}

#[test]
fn init_containers_env_volumes_and_probes() {
    let cluster = PodCluster::start();
    cluster.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=color=blue",
        "--from-literal=size=7",
    ]);
    cluster.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"full","labels":{{"app":"full"}}}},"spec":{{
        "restartPolicy":"Never",
        "initContainers":[
          {{"name":"first","image":"{IMAGE}","command":["sh","-c","echo first > /work/order"],
            "volumeMounts":[{{"name":"work","mountPath":"/work"}}]}},
          {{"name":"second","image":"{IMAGE}","command":["sh","-c","echo second >> /work/order"],
            "volumeMounts":[{{"name":"work","mountPath":"/work"}}]}}],
        "containers":[{{"name":"main","image":"{IMAGE}",
          "command":["sh","-c","cat /work/order; echo color=$COLOR pw=$PASSWORD cfg_size=$CFG_size pod=$POD ns=$NS; cat /config/color; echo; cat /secret/password; echo; cat /info/labels; echo; id -u"],
          "env":[
            {{"name":"COLOR","valueFrom":{{"configMapKeyRef":{{"name":"settings","key":"color"}}}}}},
            {{"name":"PASSWORD","valueFrom":{{"secretKeyRef":{{"name":"creds","key":"password"}}}}}},
            {{"name":"POD","valueFrom":{{"fieldRef":{{"fieldPath":"metadata.name"}}}}}},
            {{"name":"NS","valueFrom":{{"fieldRef":{{"fieldPath":"metadata.namespace"}}}}}}],
          "envFrom":[{{"prefix":"CFG_","configMapRef":{{"name":"settings"}}}}],
          "securityContext":{{"runAsUser":1234}},
          "volumeMounts":[
            {{"name":"work","mountPath":"/work"}},
            {{"name":"config","mountPath":"/config"}},
            {{"name":"secret","mountPath":"/secret"}},
            {{"name":"info","mountPath":"/info"}}]}}],
        "volumes":[
          {{"name":"work","emptyDir":{{}}}},
          {{"name":"config","configMap":{{"name":"settings"}}}},
          {{"name":"secret","secret":{{"secretName":"creds"}}}},
          {{"name":"info","downwardAPI":{{"items":[{{"path":"labels","fieldRef":{{"fieldPath":"metadata.labels"}}}}]}}}}]}}}}"#
    );
    cluster.ok_stdin(&["apply", "-f", "-"], &manifest);
    let p = wait_pod(
        &cluster,
        "full",
        Duration::from_secs(60),
        "Succeeded",
        |p| phase(p) == "Succeeded",
    );
    assert_eq!(
        cluster.ok(&["logs", "full", "-c", "main"]),
        "first\nsecond\ncolor=blue pw=s3cret cfg_size=7 pod=full ns=default\nblue\ns3cret\napp=\"full\"\n1234\n"
    );
    let inits = p["status"]["initContainerStatuses"].as_array().unwrap();
    assert_eq!(inits.len(), 2);
    assert!(
        inits
            .iter()
            .all(|s| s["state"]["terminated"]["reason"] == "Completed"),
        "{inits:?}"
    );
    // The only app container is the default; init containers by name.
    assert!(cluster.ok(&["logs", "full"]).starts_with("first\n"));
    assert_eq!(cluster.ok(&["logs", "full", "-c", "first"]), "");

    // A missing ConfigMap holds the container back with kubelet's reason.
    cluster.ok(&["run", "lacking", "--image", IMAGE, "--overrides",
        r#"{"spec":{"containers":[{"name":"lacking","image":"kmicro.test/busybox:1","command":["sleep","3600"],"env":[{"name":"X","valueFrom":{"configMapKeyRef":{"name":"absent","key":"k"}}}]}]}}"#]);
    let p = wait_pod(
        &cluster,
        "lacking",
        Duration::from_secs(30),
        "CreateContainerConfigError",
        |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CreateContainerConfigError"
        },
    );
    assert_eq!(
        p["status"]["containerStatuses"][0]["state"]["waiting"]["message"],
        "configmap \"absent\" not found"
    );
    let err = cluster.fails(&["logs", "lacking"], None);
    assert!(err.contains("container \"lacking\" in pod \"lacking\" is waiting to start: CreateContainerConfigError"), "{err}");

    // Readiness by an exec probe: Ready only once the file exists.
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"ready"}},"spec":{{"containers":[{{"name":"c","image":"{IMAGE}",
        "command":["sh","-c","sleep 3; touch /tmp/ready; sleep 3600"],
        "readinessProbe":{{"exec":{{"command":["cat","/tmp/ready"]}},"periodSeconds":1}}}}],"terminationGracePeriodSeconds":1}}}}"#
    );
    cluster.ok_stdin(&["apply", "-f", "-"], &manifest);
    let p = wait_pod(&cluster, "ready", Duration::from_secs(30), "Running", |p| {
        phase(p) == "Running"
    });
    assert_eq!(
        condition(&p, "Ready"),
        "False",
        "not ready before the file exists"
    );
    wait_pod(&cluster, "ready", Duration::from_secs(30), "Ready", |p| {
        condition(p, "Ready") == "True"
    });

    // Readiness over HTTP: busybox httpd on the pod's loopback, reached from inside its
    // network namespace.
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"web"}},"spec":{{"containers":[{{"name":"c","image":"{IMAGE}",
        "command":["sh","-c","mkdir -p /www; echo ok > /www/index.html; httpd -f -p 8080 -h /www"],
        "readinessProbe":{{"httpGet":{{"path":"/index.html","port":8080}},"periodSeconds":1}}}}],"terminationGracePeriodSeconds":1}}}}"#
    );
    cluster.ok_stdin(&["apply", "-f", "-"], &manifest);
    wait_pod(
        &cluster,
        "web",
        Duration::from_secs(30),
        "Ready over HTTP",
        |p| condition(p, "Ready") == "True",
    );

    // Liveness: the file goes away, the probe fails, the container is restarted.
    let manifest = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"alive"}},"spec":{{"containers":[{{"name":"c","image":"{IMAGE}",
        "command":["sh","-c","touch /tmp/alive; sleep 2; rm /tmp/alive; sleep 3600"],
        "livenessProbe":{{"exec":{{"command":["cat","/tmp/alive"]}},"periodSeconds":1,"failureThreshold":1}}}}],
        "terminationGracePeriodSeconds":1}}}}"#
    );
    cluster.ok_stdin(&["apply", "-f", "-"], &manifest);
    wait_pod(
        &cluster,
        "alive",
        Duration::from_secs(40),
        "a liveness restart",
        |p| {
            p["status"]["containerStatuses"][0]["restartCount"]
                .as_u64()
                .unwrap_or(0)
                >= 1
        },
    );
    let events = cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=alive",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("Liveness probe failed"), "{events}");
    assert!(
        events.contains("Container c failed liveness probe, will be restarted"),
        "{events}"
    );
}

#[test]
fn deployments_replace_pods_and_scale_to_zero() {
    let cluster = PodCluster::start();
    cluster.ok(&[
        "create",
        "deployment",
        "app",
        "--image",
        IMAGE,
        "--replicas=2",
        "--",
        "sleep",
        "3600",
    ]);
    cluster.ok(&[
        "patch",
        "deployment",
        "app",
        "-p",
        r#"{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":1}}}}"#,
    ]);
    let running = |cluster: &Cluster| -> Vec<(String, String)> {
        let list: Value =
            serde_json::from_str(&cluster.ok(&["get", "pods", "-l", "app=app", "-o", "json"]))
                .unwrap();
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| phase(p) == "Running" && p["metadata"]["deletionTimestamp"].is_null())
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["metadata"]["uid"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let pods = loop {
        let pods = running(&cluster);
        if pods.len() == 2 {
            break pods;
        }
        assert!(
            Instant::now() < deadline,
            "the Deployment's pods never ran: {pods:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let (victim, victim_uid) = pods[0].clone();
    cluster.ok(&["delete", "pod", &victim]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = running(&cluster);
        if now.len() == 2 && !now.iter().any(|(_, u)| *u == victim_uid) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted pod was not replaced: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        pod_pids(&cluster, &victim_uid).is_empty(),
        "the deleted pod's processes are gone"
    );

    cluster.ok(&["scale", "deployment", "app", "--replicas=0"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = cluster.ok(&["get", "pods", "-l", "app=app", "-o", "name"]);
        if left.trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pods left after scaling to 0: {left}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        cgroup_pids(&cgroup_root(&cluster.data_dir)).is_empty(),
        "no container process is left"
    );
}

#[test]
fn restarting_kmicro_keeps_containers_running() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let images = data_dir.join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(archive(), images.join("busybox.tar")).unwrap();
    let port = free_port();
    let mut cluster = Cluster::start_with(&data_dir, port, &[]);
    cluster.ok(&[
        "run",
        "keeper",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done",
    ]);
    let p = wait_pod(
        &cluster,
        "keeper",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let started_at = p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].clone();
    let pids = pod_pids(&cluster, &uid);
    assert_eq!(pids.len(), 2, "sh and its sleep: {pids:?}");
    let shell = pids[0];

    // SIGTERM: kmicro stops, the container does not.
    let kmicro = cluster.child.id().to_string();
    run(Command::new("kill").args(["-TERM", &kmicro]));
    let _ = cluster.child.wait();
    assert!(
        Path::new(&format!("/proc/{shell}")).exists(),
        "the container outlives kmicro"
    );
    std::mem::forget(cluster); // its drop would kill the containers
    std::thread::sleep(Duration::from_secs(1));
    let mut cluster = Cluster::start_with(&data_dir, port, &[]);
    std::thread::sleep(Duration::from_secs(2));
    let p = pod(&cluster, "keeper");
    let s = &p["status"]["containerStatuses"][0];
    assert_eq!(s["restartCount"], 0, "{s}");
    assert_eq!(s["state"]["running"]["startedAt"], started_at, "{s}");
    assert!(
        pod_pids(&cluster, &uid).contains(&shell),
        "same process after the restart"
    );
    // The log goes on in the same file, nothing lost while kmicro was away.
    let logs = cluster.ok(&["logs", "keeper"]);
    let numbers: Vec<u64> = logs
        .lines()
        .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
        .collect();
    assert!(numbers.len() > 10, "{logs}");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "no line lost or repeated: {numbers:?}"
    );

    // kill -9: the same.
    cluster.kill9();
    std::mem::forget(cluster);
    let cluster = Cluster::start_with(&data_dir, port, &[]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        pod_pids(&cluster, &uid).contains(&shell),
        "same process after kill -9"
    );
    let p = pod(&cluster, "keeper");
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(phase(&p), "Running");
    let _tmp = tmp;
}

#[test]
fn a_malicious_layer_fails_with_the_entry_named() {
    // An image whose only layer holds `../escape`: built by hand as an OCI layout.
    let dir = tempfile::tempdir().unwrap();
    let layer_tar = dir.path().join("layer.tar");
    {
        let mut header = [0u8; 512];
        let name = b"../escape";
        header[..name.len()].copy_from_slice(name);
        header[100..108].copy_from_slice(b"0000644\0");
        header[108..116].copy_from_slice(b"0000000\0");
        header[116..124].copy_from_slice(b"0000000\0");
        header[124..136].copy_from_slice(b"00000000004\0");
        header[136..148].copy_from_slice(b"00000000000\0");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut tar = header.to_vec();
        let mut data = b"bad\n".to_vec();
        data.resize(512, 0);
        tar.extend(data);
        tar.extend([0u8; 1024]);
        std::fs::write(&layer_tar, tar).unwrap();
    }
    let oci = dir.path().join("oci");
    run(Command::new("umoci").args(["init", "--layout"]).arg(&oci));
    let image = format!("{}:evil", oci.display());
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci")
        .args(["raw", "add-layer", "--image", &image])
        .arg(&layer_tar));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.cmd",
        "sh",
        "--architecture",
        "amd64",
        "--os",
        "linux",
    ]));
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let images = data_dir.join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{image}"))
        .arg(format!(
            "oci-archive:{}:kmicro.test/evil:1",
            images.join("evil.tar").display()
        )));
    let cluster = Cluster::start_with(&data_dir, free_port(), &[]);
    cluster.ok(&["run", "evil", "--image", "kmicro.test/evil:1"]);
    let p = wait_pod(
        &cluster,
        "evil",
        Duration::from_secs(30),
        "CreateContainerError",
        |p| {
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "CreateContainerError"
        },
    );
    let message = p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("../escape"), "{message}");
    let events = cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=evil,reason=Failed",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("../escape"), "{events}");
    assert!(!tmp.path().join("data/agent/snapshots/escape").exists());
    drop(cluster);
    let _tmp = tmp;
}

/// A private docker-registry on 127.0.0.1 (its own config and storage), stopped when dropped.
struct Registry {
    host: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{}", free_port());
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(&host).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            host,
            child,
            _dir: dir,
        }
    }

    /// Pushes the busybox image as `repository:tag`, with `env` added to its config (so each
    /// variant is an image of its own); answers the reference pods use.
    fn push(&self, repository_tag: &str, env: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("oci");
        run(Command::new("cp").arg("-a").arg(layout()).arg(&copy));
        let image = format!("{}:{}", copy.display(), busybox::LAYOUT_TAG);
        run(Command::new("umoci").args(["config", "--image", &image, "--config.env", env]));
        let reference = format!("{}/{repository_tag}", self.host);
        run(Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .arg(format!("oci:{image}"))
            .arg(format!("docker://{reference}")));
        reference
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `name:tag` references `kmicro images list` shows for a data dir's image store.
fn images_list(data_dir: &Path) -> Vec<String> {
    let table = run(Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(["images", "list", "--data-dir"])
        .arg(data_dir));
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut columns = l.split_whitespace();
            Some(format!("{}:{}", columns.next()?, columns.next()?))
        })
        .collect()
}

#[test]
fn pods_pull_from_the_local_registry_and_unused_images_are_collected() {
    let registry = Registry::start();
    let keep = registry.push("gc/keep:1", "VARIANT=keep");
    let unused = registry.push("gc/unused:1", "VARIANT=unused");
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let images = data_dir.join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(archive(), images.join("busybox.tar")).unwrap();
    let port = free_port();
    // Collect whenever anything is unused: usage is always at or over 0 %. Passing kubelet
    // args drops the test eviction thresholds, so they are given again (kubelet's default
    // `nodefs.available<10%` would taint the node on a fullish test machine).
    let gc_args = [
        "--kubelet-arg",
        common::TEST_EVICTION_HARD,
        "--kubelet-arg",
        "image-gc-high-threshold=0",
        "--kubelet-arg",
        "image-gc-low-threshold=0",
        "--kubelet-arg",
        "image-minimum-gc-age=0s",
    ];
    let cluster = Cluster::start_with(&data_dir, port, &gc_args);
    let image_arg = format!("--image={keep}");
    cluster.ok(&["run", "keep", &image_arg, "--", "sleep", "3600"]);
    let image_arg = format!("--image={unused}");
    cluster.ok(&["run", "unused", &image_arg, "--restart=Never", "--", "true"]);
    wait_pod(&cluster, "keep", Duration::from_secs(60), "Running", |p| {
        phase(p) == "Running"
    });
    wait_pod(
        &cluster,
        "unused",
        Duration::from_secs(60),
        "Succeeded",
        |p| phase(p) == "Succeeded",
    );
    let events = cluster.ok(&[
        "get",
        "events",
        "--field-selector=involvedObject.name=keep",
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ]);
    assert!(
        events.contains(&format!("Pulling: Pulling image {keep:?}")),
        "{events}"
    );
    assert!(
        events
            .lines()
            .any(|l| l.starts_with(&format!("Pulled: Successfully pulled image {keep:?} in "))),
        "{events}"
    );
    let listed = images_list(&data_dir);
    for name in [&keep, &unused] {
        assert!(listed.contains(name), "{listed:?}");
    }

    // The pod of `unused` goes; at the next start, image GC finds its image unused.
    cluster.ok(&["delete", "pod", "unused", "--wait=true"]);
    let mut cluster = cluster;
    cluster.kill9();
    std::mem::forget(cluster); // its drop would kill the running `keep`
    let cluster = Cluster::start_with(&data_dir, port, &gc_args);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = images_list(&data_dir);
        if !listed.contains(&unused) {
            assert!(listed.contains(&keep), "in use: kept, {listed:?}");
            assert!(
                listed.contains(&IMAGE.to_string()),
                "pinned airgap import: kept, {listed:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never collected: {listed:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let p = pod(&cluster, "keep");
    assert_eq!(phase(&p), "Running", "{p}");
}

/// kubectl run inside a terminal (`script` gives it a pty of `rows`×`cols`); returns what the
/// terminal showed.
fn kubectl_in_terminal(cluster: &Cluster, rows: u16, cols: u16, args: &str) -> String {
    kubectl_in_terminal_typing(cluster, rows, cols, args, "")
}

/// [`kubectl_in_terminal`] with `typed` entered on the terminal (it waits in the terminal's
/// input queue until kubectl reads it); kubectl must end by itself.
fn kubectl_in_terminal_typing(
    cluster: &Cluster,
    rows: u16,
    cols: u16,
    args: &str,
    typed: &str,
) -> String {
    use std::io::Write;
    let inner = format!(
        "stty rows {rows} cols {cols}; kubectl --kubeconfig {} {args}",
        cluster.kubeconfig.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(typed.as_bytes()).unwrap();
    // Kept open until kubectl is done: at end-of-file `script` would type an EOF character,
    // which could end kubectl's input before the session answered.
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    assert!(
        out.status.success(),
        "{args}: {}",
        common::output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn exec_and_attach_with_kubectl() {
    let cluster = PodCluster::start();
    cluster.ok(&[
        "run",
        "shell",
        "--image",
        IMAGE,
        "--env=GREETING=hello from env",
        "--",
        "sleep",
        "3600",
    ]);
    // A container with stdin open for attach; it answers each line until its stdin ends.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"reader"}},
            "spec":{{"restartPolicy":"Never","containers":[{{"name":"reader","image":"{IMAGE}",
            "stdin":true,"stdinOnce":true,
            "command":["sh","-c","echo ready; while read l; do echo got:$l; done; echo bye"]}}]}}}}"#
        ),
    );
    for name in ["shell", "reader"] {
        wait_pod(&cluster, name, Duration::from_secs(60), "Running", |p| {
            phase(p) == "Running"
        });
    }

    // Output, the container's environment and working directory.
    assert_eq!(cluster.ok(&["exec", "shell", "--", "echo", "hi"]), "hi\n");
    assert_eq!(
        cluster.ok(&[
            "exec",
            "shell",
            "--",
            "sh",
            "-c",
            "echo $GREETING; pwd; id -u"
        ]),
        "hello from env\n/\n0\n"
    );
    // stdin round-trips, small and large (many WebSocket messages), and ends.
    assert_eq!(
        cluster.ok_stdin(&["exec", "-i", "shell", "--", "cat"], "one\ntwo\n"),
        "one\ntwo\n"
    );
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let echoed = cluster.ok_stdin(&["exec", "-i", "shell", "--", "cat"], &big);
    assert_eq!(echoed.len(), big.len());
    assert!(echoed == big, "the large input came back changed");
    // Exit codes and the two output streams.
    let out = cluster.kubectl(&[
        "exec",
        "shell",
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", common::output_text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("err\n"));
    let out = cluster.kubectl(&["exec", "shell", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        common::output_text(&out)
    );
    // A program that does not exist.
    let err = cluster.fails(&["exec", "shell", "--", "/no/such/program"], None);
    assert!(
        err.contains("error executing command in container"),
        "{err}"
    );

    // Bad requests.
    let err = cluster.fails(&["exec", "shell", "-c", "nope", "--", "true"], None);
    assert!(err.contains("nope"), "{err}");
    let err = cluster.fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/shell/exec?command=true&container=nope&stdout=true",
        ],
        None,
    );
    assert!(
        err.contains("container nope is not valid for pod shell"),
        "{err}"
    );
    let err = cluster.fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/shell/exec?stdout=true",
        ],
        None,
    );
    assert!(
        err.contains("you must specify at least one command for the container"),
        "{err}"
    );
    let err = cluster.fails(&["exec", "ghost", "--", "true"], None);
    assert!(err.contains(r#"pods "ghost" not found"#), "{err}");

    // RBAC: the WebSocket's GET needs `create` on pods/exec too (kube 1.35).
    cluster.ok(&[
        "create",
        "role",
        "exec-get",
        "--verb=get",
        "--resource=pods,pods/exec",
    ]);
    cluster.ok(&[
        "create",
        "rolebinding",
        "exec-get",
        "--role=exec-get",
        "--user=alice",
    ]);
    let err = cluster.fails(&["--as=alice", "exec", "shell", "--", "true"], None);
    assert!(
        err.contains(r#"cannot create resource "pods/exec""#),
        "{err}"
    );
    cluster.ok(&[
        "create",
        "role",
        "exec-create",
        "--verb=create",
        "--resource=pods/exec",
    ]);
    cluster.ok(&[
        "create",
        "rolebinding",
        "exec-create",
        "--role=exec-create",
        "--user=alice",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = cluster.kubectl(&["--as=alice", "exec", "shell", "--", "echo", "allowed"]);
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "allowed\n");
            break;
        }
        assert!(Instant::now() < deadline, "{}", common::output_text(&out));
        std::thread::sleep(Duration::from_millis(200));
    }

    // Discovery lists the subresources.
    let resources: Value = serde_json::from_str(&cluster.ok(&["get", "--raw", "/api/v1"])).unwrap();
    for (sub, kind) in [
        ("pods/exec", "PodExecOptions"),
        ("pods/attach", "PodAttachOptions"),
    ] {
        let r = resources["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == sub)
            .unwrap_or_else(|| panic!("{sub} in discovery"));
        assert_eq!(r["kind"], kind);
        assert_eq!(r["verbs"], serde_json::json!(["create", "get"]));
    }

    // Attach: a line in, the container's answer out; closing stdin ends the container's
    // (stdinOnce), so it says bye and ends, and so does kubectl.
    let out = cluster.ok_stdin(&["attach", "-i", "reader"], "ping\n");
    assert!(out.contains("got:ping\n"), "{out:?}");
    assert!(out.contains("bye\n"), "{out:?}");
    assert!(
        !out.contains("ready"),
        "attach shows output from its start only: {out:?}"
    );
    wait_pod(
        &cluster,
        "reader",
        Duration::from_secs(30),
        "Succeeded",
        |p| phase(p) == "Succeeded",
    );
    assert_eq!(cluster.ok(&["logs", "reader"]), "ready\ngot:ping\nbye\n");
    let err = cluster.fails(&["exec", "reader", "--", "true"], None);
    assert!(err.contains("completed pod"), "{err}");
    let err = cluster.fails(
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods/reader/attach?stdout=true",
        ],
        None,
    );
    assert!(
        err.contains("cannot attach to a container in a completed pod; current phase is Succeeded"),
        "{err}"
    );

    // A terminal: the program sees a pty of the container's own devpts, sized as kubectl's
    // own terminal.
    let shown = kubectl_in_terminal(
        &cluster,
        33,
        101,
        "exec -it shell -- sh -c '[ -t 0 ] && [ -t 1 ] && echo on-a-terminal; echo term=$(tty)'",
    );
    assert!(shown.contains("on-a-terminal"), "{shown:?}");
    assert!(shown.contains("term=/dev/pts/"), "{shown:?}");
    let shown = kubectl_in_terminal(
        &cluster,
        33,
        101,
        "exec -it shell -- sh -c 'sleep 1; stty size'",
    );
    assert!(shown.contains("33 101"), "{shown:?}");
    let shown = kubectl_in_terminal(
        &cluster,
        24,
        80,
        "exec -it shell -- sh -c 'exit 4' || echo code=$?",
    );
    assert!(shown.contains("code=4"), "{shown:?}");

    // attach -it to a container with a terminal: a line typed reaches it, its answer (and
    // its terminal's name in the container) comes back, then it ends and so does kubectl.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"console"}},
            "spec":{{"restartPolicy":"Never","containers":[{{"name":"console","image":"{IMAGE}",
            "stdin":true,"tty":true,
            "command":["sh","-c","read l; echo got:$l; echo term=$(tty)"]}}]}}}}"#
        ),
    );
    wait_pod(
        &cluster,
        "console",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );
    let shown = kubectl_in_terminal_typing(&cluster, 24, 80, "attach -it console", "typed\n");
    assert!(shown.contains("got:typed"), "{shown:?}");
    assert!(shown.contains("term=/dev/pts/0"), "{shown:?}");
}

/// `kubectl port-forward` to `target` (`:REMOTE`, a free local port): the child and the
/// local port it printed (`Forwarding from 127.0.0.1:PORT -> REMOTE`); its stderr goes to
/// `stderr`.
fn port_forward(
    cluster: &Cluster,
    pod: &str,
    remote: u16,
    stderr: &Path,
) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["port-forward", &format!("pod/{pod}"), &format!(":{remote}")])
        .args(["-v=6"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_else(|| {
        let _ = child.kill();
        panic!(
            "kubectl port-forward printed nothing: {}",
            std::fs::read_to_string(stderr).unwrap_or_default()
        )
    });
    let port = first
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|rest| rest.split_once(" -> "))
        .and_then(|(port, _)| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    // Keep reading stdout so kubectl never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

/// `GET path` on 127.0.0.1:`port` (busybox httpd answers and closes): the status line and
/// the body.
fn http_get(port: u16, path: &str) -> std::io::Result<(String, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n")?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP answer: {answer:?}")))?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.lines().next().unwrap_or("").to_string();
    Ok((status, answer[split + 4..].to_vec()))
}

#[test]
fn port_forward_reaches_a_pods_port() {
    let cluster = PodCluster::start();
    cluster.ok(&["run", "web", "--image", IMAGE, "--", "sh", "-c",
        "mkdir -p /www && echo hello from the pod > /www/index.html && seq 1 300000 > /www/big.txt && exec httpd -f -p 8080 -h /www"]);
    wait_pod(&cluster, "web", Duration::from_secs(60), "Running", |p| {
        phase(p) == "Running"
    });
    let logs = cluster.data_dir.join("port-forward.log");
    let (mut kubectl, port) = port_forward(&cluster, "web", 8080, &logs);
    // httpd may still be starting: the first fetch is retried.
    let deadline = Instant::now() + Duration::from_secs(20);
    let first = loop {
        match http_get(port, "/index.html") {
            Ok(answer) if answer.0.contains("200") => break answer,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "no answer through the forward: {other:?}\n{}",
                    std::fs::read_to_string(&logs).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    };
    assert_eq!(first.1, b"hello from the pod\n");
    for _ in 0..3 {
        let (status, body) = http_get(port, "/index.html").unwrap();
        assert!(status.contains("200"), "{status}");
        assert_eq!(body, b"hello from the pod\n");
    }
    // Two connections at once, one of them large.
    let expected: String = (1..=300_000).map(|n| format!("{n}\n")).collect();
    assert!(expected.len() > 1 << 20);
    let big = std::thread::spawn(move || http_get(port, "/big.txt"));
    let small = std::thread::spawn(move || http_get(port, "/index.html"));
    let (status, body) = big.join().unwrap().unwrap();
    assert!(status.contains("200"), "{status}");
    assert_eq!(body.len(), expected.len());
    assert!(
        body == expected.as_bytes(),
        "the large body arrived changed"
    );
    assert_eq!(small.join().unwrap().unwrap().1, b"hello from the pod\n");
    let _ = kubectl.kill();
    let _ = kubectl.wait();
    let log = std::fs::read_to_string(&logs).unwrap();
    eprintln!("kubectl port-forward said:\n{log}");
    assert!(
        !log.contains("fallback"),
        "kubectl fell back from the WebSocket: {log}"
    );

    // Nothing listens on 8081: kubectl reports kmicro's error on the error stream.
    let refused_log = cluster.data_dir.join("port-forward-refused.log");
    let (mut refused, port) = port_forward(&cluster, "web", 8081, &refused_log);
    let answer = http_get(port, "/");
    assert!(answer.map(|a| a.1.is_empty()).unwrap_or(true));
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = std::fs::read_to_string(&refused_log).unwrap();
        if text.contains("an error occurred forwarding") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("kubectl port-forward to 8081 said:\n{text}");
    assert!(
        text.contains("an error occurred forwarding")
            && text.contains("8081")
            && text.contains("failed to connect to localhost:8081")
            && text.contains("onnection refused"),
        "{text}"
    );
    let _ = refused.kill();
    let _ = refused.wait();
    // The pod and the server are unharmed: a new forward works at once.
    let again_log = cluster.data_dir.join("port-forward-again.log");
    let (mut again, port) = port_forward(&cluster, "web", 8080, &again_log);
    assert_eq!(
        http_get(port, "/index.html").unwrap().1,
        b"hello from the pod\n"
    );
    let _ = again.kill();
    let _ = again.wait();
}

// ---------------------------------------------------------------------------------------------
// Pod networking: each test cluster has its own bridge and subnet (`common::TestNet`).

/// The test cluster's pod network.
fn test_net(cluster: &Cluster) -> common::TestNet {
    common::TestNet::recorded(&cluster.data_dir).expect("the harness gave the cluster a network")
}

/// A busybox `httpd` pod answering `web <hostname>` on `port`, mapped from `host_port`.
fn web_pod(name: &str, port: u16, host_port: u16) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: {IMAGE}
    command: ["sh", "-c", "mkdir -p /tmp/www && echo web $HOSTNAME > /tmp/www/index.html && exec httpd -f -p {port} -h /tmp/www"]
    ports:
    - containerPort: {port}
      hostPort: {host_port}
"#
    )
}

/// `GET /` from this process; the body, or why not.
fn http_get_addr(addr: std::net::SocketAddr) -> Result<String, String> {
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
        .map(|(_, body)| body.to_string())
        .ok_or_else(|| format!("no HTTP answer: {answer:?}"))
}

/// Polls `GET /` at `addr` until it answers (panics after `timeout`).
fn http_get_eventually(addr: std::net::SocketAddr, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        match http_get_addr(addr) {
            Ok(body) => return body,
            Err(e) if Instant::now() > deadline => panic!("GET http://{addr}/: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The pod's IPv4 address from its status (checked against `podIPs`).
fn pod_ip(p: &Value) -> std::net::Ipv4Addr {
    let ip = p["status"]["podIP"].as_str().expect("status.podIP");
    assert_eq!(
        p["status"]["podIPs"],
        serde_json::json!([{"ip": ip}]),
        "{p:#}"
    );
    ip.parse().unwrap()
}

/// The interfaces attached to `bridge`.
fn bridge_ports(bridge: &str) -> Vec<String> {
    run(Command::new("ip").args(["-o", "link", "show", "master", bridge]))
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// The nat rules that name the pod (its sandbox id is its uid).
fn nat_rules_of(uid: &str) -> Vec<String> {
    run(Command::new("iptables-save").args(["-t", "nat"]))
        .lines()
        .filter(|l| l.contains(uid))
        .map(String::from)
        .collect()
}

/// A pod that sends `GET /` to `ip:port` once and ends; the answer's body. (`nc` speaks
/// HTTP: Debian's busybox-static 1.35 `wget` segfaults on `-T`, an option its build lacks
/// — anywhere, not only in containers; without it `wget` works, names included.)
fn fetch_from_pod(cluster: &Cluster, name: &str, ip: std::net::Ipv4Addr, port: u16) -> String {
    let script = format!(r#"printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 {ip} {port}"#);
    cluster.ok(&[
        "run",
        name,
        "--image",
        IMAGE,
        "--restart=Never",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    let p = wait_pod(cluster, name, Duration::from_secs(60), "ended", |p| {
        matches!(phase(p), "Succeeded" | "Failed")
    });
    let logs = cluster.ok(&["logs", name]);
    assert_eq!(phase(&p), "Succeeded", "{name}: {logs}\n{p:#}");
    // The log has the answer's lines without their `\r` (CRI logs drop it).
    match logs.split_once("\n\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            body.to_string()
        }
        _ => panic!("{name}: no HTTP 200 answer: {logs:?}"),
    }
}

#[test]
fn pods_get_addresses_reach_each_other_and_host_ports() {
    let cluster = PodCluster::start();
    let net = test_net(&cluster);
    let node: Value = serde_json::from_str(&cluster.ok(&["get", "nodes", "-o", "json"])).unwrap();
    let spec = &node["items"][0]["spec"];
    assert_eq!(spec["podCIDR"], net.cidr().as_str(), "{spec}");
    assert_eq!(spec["podCIDRs"], serde_json::json!([net.cidr()]), "{spec}");

    let host_port = free_port();
    cluster.ok_stdin(&["apply", "-f", "-"], &web_pod("web", 8080, host_port));
    let p = wait_pod(&cluster, "web", Duration::from_secs(60), "Running", |p| {
        phase(p) == "Running"
    });
    let ip = pod_ip(&p);
    assert!(
        net.contains(ip) && ip != net.gateway(),
        "{ip} in {}",
        net.cidr()
    );
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    let host_ip: std::net::IpAddr = p["status"]["hostIP"].as_str().unwrap().parse().unwrap();
    assert_ne!(host_ip.to_string(), ip.to_string());
    let veths = bridge_ports(&net.bridge());
    assert_eq!(veths.len(), 1, "{veths:?}");
    let ipam = cluster
        .data_dir
        .join("agent/network/ipam")
        .join(net.bridge())
        .join(ip.to_string());
    assert!(ipam.exists(), "{} holds the address", ipam.display());

    // The node reaches the pod by its address (through the bridge), and so does another pod.
    let by_ip = std::net::SocketAddr::from((ip, 8080));
    assert_eq!(
        http_get_eventually(by_ip, Duration::from_secs(10)),
        "web web\n"
    );
    assert_eq!(fetch_from_pod(&cluster, "client", ip, 8080), "web web\n");
    let client_ip = pod_ip(&pod(&cluster, "client"));
    assert!(net.contains(client_ip) && client_ip != ip, "{client_ip}");

    // The hostPort answers on the loopback and on the node's address.
    for addr in [
        std::net::SocketAddr::from(([127, 0, 0, 1], host_port)),
        std::net::SocketAddr::new(host_ip, host_port),
    ] {
        assert_eq!(
            http_get_eventually(addr, Duration::from_secs(10)),
            "web web\n",
            "{addr}"
        );
    }
    let rules = nat_rules_of(&uid);
    assert!(
        rules.iter().any(|r| r.contains(&format!("-s {ip}/32"))),
        "the pod's masquerade rule: {rules:#?}"
    );
    assert!(
        rules.iter().any(|r| r.contains("dnat")),
        "the pod's hostPort rule: {rules:#?}"
    );

    // Deletion gives the address back and leaves no interface or rule.
    cluster.ok(&["delete", "pod", "web", "--wait=false"]);
    wait_gone(&cluster, "web", Duration::from_secs(30));
    assert!(!ipam.exists(), "the address is released");
    let left = bridge_ports(&net.bridge());
    assert!(
        !left.iter().any(|v| veths.contains(v)),
        "the pod's veth is gone: {left:?}"
    );
    assert_eq!(nat_rules_of(&uid), Vec::<String>::new());
    assert!(http_get_addr(std::net::SocketAddr::from(([127, 0, 0, 1], host_port))).is_err());
    assert!(
        !cluster
            .data_dir
            .join(format!("agent/network/pods/{uid}.json"))
            .exists()
    );

    // A hostNetwork pod has the node's address.
    cluster.ok(&[
        "run",
        "on-host",
        "--image",
        IMAGE,
        "--overrides",
        r#"{"spec":{"hostNetwork":true}}"#,
        "--",
        "sleep",
        "3600",
    ]);
    let p = wait_pod(
        &cluster,
        "on-host",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );
    assert_eq!(p["status"]["podIP"], p["status"]["hostIP"], "{p:#}");
}

#[test]
fn a_pod_keeps_its_address_across_restarts_and_strays_are_detached() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let images = data_dir.join("agent/images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(archive(), images.join("busybox.tar")).unwrap();
    let port = free_port();
    let mut cluster = Cluster::start_with(&data_dir, port, &[]);
    let net = test_net(&cluster);
    let host_port = free_port();
    cluster.ok_stdin(&["apply", "-f", "-"], &web_pod("keep", 8080, host_port));
    cluster.ok_stdin(&["apply", "-f", "-"], &web_pod("gone", 8081, free_port()));
    let mut ips = Vec::new();
    for name in ["keep", "gone"] {
        let p = wait_pod(&cluster, name, Duration::from_secs(60), "Running", |p| {
            phase(p) == "Running"
        });
        ips.push((
            pod_ip(&p),
            p["metadata"]["uid"].as_str().unwrap().to_string(),
        ));
    }
    let (keep_ip, _) = ips[0].clone();
    let (gone_ip, gone_uid) = ips[1].clone();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], host_port));
    assert_eq!(
        http_get_eventually(loopback, Duration::from_secs(10)),
        "web keep\n"
    );

    // kill -9, then the same kmicro again: the pod keeps its address and its hostPort.
    cluster.kill9();
    std::mem::forget(cluster);
    let cluster = Cluster::start_with(&data_dir, port, &[]);
    assert_eq!(test_net(&cluster), net, "the same network after a restart");
    std::thread::sleep(Duration::from_secs(2));
    let p = pod(&cluster, "keep");
    assert_eq!(pod_ip(&p), keep_ip, "{p:#}");
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);
    assert_eq!(http_get_addr(loopback).unwrap(), "web keep\n");
    assert_eq!(
        fetch_from_pod(&cluster, "client", keep_ip, 8080),
        "web keep\n"
    );

    // A pod deleted while the node agent is away is detached when it comes back.
    let mut cluster = cluster;
    cluster.kill9();
    std::mem::forget(cluster);
    let api_only = Cluster::start_with(&data_dir, port, &["--disable-agent"]);
    api_only.ok(&["delete", "pod", "gone", "--grace-period=0", "--force"]);
    let mut api_only = api_only;
    api_only.kill9();
    std::mem::forget(api_only);
    let gone_ipam = data_dir
        .join("agent/network/ipam")
        .join(net.bridge())
        .join(gone_ip.to_string());
    assert!(gone_ipam.exists());
    let cluster = Cluster::start_with(&data_dir, port, &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while gone_ipam.exists() || !nat_rules_of(&gone_uid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the stray pod's address and rules stay: {:?}",
            nat_rules_of(&gone_uid)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(pod_ip(&pod(&cluster, "keep")), keep_ip);
    assert_eq!(http_get_addr(loopback).unwrap(), "web keep\n");
    drop(cluster);
    assert!(
        !Path::new(&format!("/sys/class/net/{}", net.bridge())).exists(),
        "the harness removes the bridge"
    );
    let _tmp = tmp;
}

/// Runs `sh -c script` in the pod's container; its stdout.
fn exec_sh(cluster: &Cluster, pod: &str, script: &str) -> String {
    cluster.ok(&["exec", pod, "--", "sh", "-c", script])
}

/// Waits until `script` run in the pod prints `want` (panics with the last output after a
/// minute: several volume refresh periods).
fn wait_exec_output(cluster: &Cluster, pod: &str, script: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = exec_sh(cluster, pod, script);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{script:?} in {pod} printed {got:?}, not {want:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn volumes_follow_their_sources_and_pods_see_services_and_their_token() {
    let cluster = PodCluster::start();
    cluster.ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=greeting=one",
        "--from-literal=extra=x",
    ]);
    // A Service made before the pod: its variables are in the pod's environment.
    cluster.ok(&["create", "service", "clusterip", "early", "--tcp=8080:80"]);
    let early_ip = cluster.ok(&[
        "get",
        "service",
        "early",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"follower","labels":{{"stage":"one"}}}},
            "spec":{{"containers":[{{"name":"c","image":"{IMAGE}","command":["sleep","3600"],
              "volumeMounts":[{{"name":"cfg","mountPath":"/cfg"}},
                {{"name":"cfg","mountPath":"/pinned","subPath":"greeting"}},
                {{"name":"later","mountPath":"/later"}},
                {{"name":"info","mountPath":"/info"}}]}}],
             "volumes":[{{"name":"cfg","configMap":{{"name":"settings","defaultMode":384}}}},
               {{"name":"later","configMap":{{"name":"later","optional":true}}}},
               {{"name":"info","downwardAPI":{{"items":[{{"path":"labels",
                 "fieldRef":{{"fieldPath":"metadata.labels"}}}}]}}}}]}}}}"#
        ),
    );
    wait_pod(
        &cluster,
        "follower",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );

    // The atomic writer's layout, the mode asked for, the subPath file, the missing optional
    // source (an empty volume).
    assert_eq!(
        exec_sh(
            &cluster,
            "follower",
            "cat /cfg/greeting; echo; readlink /cfg/greeting; stat -L -c %a /cfg/greeting; \
             cat /pinned; echo; ls /later | wc -l"
        ),
        "one\n..data/greeting\n600\none\n0\n"
    );
    // Service variables.
    assert_eq!(
        exec_sh(
            &cluster,
            "follower",
            "echo $EARLY_SERVICE_HOST $EARLY_SERVICE_PORT $EARLY_PORT"
        ),
        format!("{early_ip} 8080 tcp://{early_ip}:8080\n")
    );

    // Edits reach the running pod; the subPath file keeps what it was given.
    cluster.ok(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data":{"greeting":"two","extra":null}}"#,
    ]);
    cluster.ok(&["create", "configmap", "later", "--from-literal=k=v"]);
    cluster.ok(&["label", "pod", "follower", "stage=two", "--overwrite"]);
    wait_exec_output(&cluster, "follower", "cat /cfg/greeting", "two");
    wait_exec_output(&cluster, "follower", "cat /later/k", "v");
    wait_exec_output(&cluster, "follower", "cat /info/labels", "stage=\"two\"");
    assert_eq!(
        exec_sh(&cluster, "follower", "cat /pinned; echo; ls /cfg"),
        "one\ngreeting\n",
        "a removed key is gone, a subPath never updates"
    );
    let p = pod(&cluster, "follower");
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0);

    // The ServiceAccount files: the namespace, the cluster's CA, a token the API accepts.
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    assert_eq!(
        exec_sh(&cluster, "follower", &format!("cat {sa}/namespace")),
        "default"
    );
    let ca = exec_sh(&cluster, "follower", &format!("cat {sa}/ca.crt"));
    let published = cluster.ok(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-o",
        "jsonpath={.data.ca\\.crt}",
    ]);
    assert_eq!(ca, published);
    let token = exec_sh(&cluster, "follower", &format!("cat {sa}/token"));
    let ca_file = cluster.data_dir.join("pod-ca.crt");
    std::fs::write(&ca_file, &ca).unwrap();
    let out = Command::new("kubectl")
        .arg("--kubeconfig=/dev/null")
        .arg(format!("--server={}", cluster.url()))
        .arg(format!("--certificate-authority={}", ca_file.display()))
        .arg(format!("--token={token}"))
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "system:serviceaccount:default:default"
    );
}

/// The pod's events with `reason`, as (type, message).
fn events_with_reason(cluster: &Cluster, pod: &str, reason: &str) -> Vec<(String, String)> {
    let list: Value = serde_json::from_str(&cluster.ok(&["get", "events", "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == pod && e["reason"] == reason)
        .map(|e| {
            (
                e["type"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn lifecycle_hooks_run_and_their_failures_are_reported() {
    let cluster = PodCluster::start();
    let out_dir = cluster.data_dir.join("hook-out");
    // A web server whose CGI script logs each call on a hostPath; its preStop hook is an
    // httpGet by port name, with a path, a query and a header.
    let script = "mkdir -p /www/cgi-bin; echo up > /www/index.html; \
        printf '#!/bin/sh\\necho \"$REQUEST_METHOD $QUERY_STRING\" >> /out/hook.log\\necho Content-Type: text/plain\\necho\\necho ok\\n' > /www/cgi-bin/hook; \
        chmod +x /www/cgi-bin/hook; exec httpd -f -p 8080 -h /www";
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hooked"},
            "spec": {
                "terminationGracePeriodSeconds": 30,
                "containers": [{
                    "name": "web", "image": IMAGE, "command": ["sh", "-c", script],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "volumeMounts": [{"name": "out", "mountPath": "/out"}],
                    "lifecycle": {
                        "postStart": {"sleep": {"seconds": 1}},
                        "preStop": {"httpGet": {
                            "path": "/cgi-bin/hook?from=prestop", "port": "http",
                            "httpHeaders": [{"name": "X-Hook", "value": "pre-stop"}]}},
                    },
                }],
                "volumes": [{"name": "out", "hostPath": {
                    "path": out_dir.to_str().unwrap(), "type": "DirectoryOrCreate"}}],
            },
        })
        .to_string(),
    );
    // A container whose postStart hook fails: killed and restarted.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "badstart"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{
                    "name": "c", "image": IMAGE, "command": ["sleep", "3600"],
                    "lifecycle": {"postStart": {"exec": {
                        "command": ["sh", "-c", "echo broken; exit 3"]}}},
                }],
            },
        })
        .to_string(),
    );
    wait_pod(
        &cluster,
        "hooked",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while cluster
        .kubectl(&[
            "exec",
            "hooked",
            "--",
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/index.html",
        ])
        .stdout
        != b"up\n"
    {
        assert!(Instant::now() < deadline, "httpd did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !out_dir.join("hook.log").exists(),
        "the preStop hook has not run yet"
    );
    cluster.ok(&["delete", "pod", "hooked", "--wait=true"]);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("hook.log")).unwrap(),
        "GET from=prestop\n"
    );
    assert!(events_with_reason(&cluster, "hooked", "FailedPreStopHook").is_empty());

    wait_pod(
        &cluster,
        "badstart",
        Duration::from_secs(60),
        "restarted after its postStart hook failed",
        |p| p["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1),
    );
    let failed = events_with_reason(&cluster, "badstart", "FailedPostStartHook");
    let uid = pod(&cluster, "badstart")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!failed.is_empty());
    assert_eq!(failed[0].0, "Warning");
    assert_eq!(
        failed[0].1,
        format!(
            "Exec lifecycle hook ([sh -c echo broken; exit 3]) for Container \"c\" in Pod \
             \"badstart_default({uid})\" failed - error: command 'sh -c echo broken; exit 3' \
             exited with 3: , message: \"broken\\n\""
        )
    );
    assert!(
        events_with_reason(&cluster, "badstart", "Killing")
            .iter()
            .any(|(_, m)| m == "FailedPostStartHook")
    );

    // A failing preStop hook (nothing listens on the port) is reported, and the pod still goes.
    cluster.ok_stdin(
        &["apply", "-f", "-"],
        &serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "badstop"},
            "spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{
                    "name": "c", "image": IMAGE, "command": ["sleep", "3600"],
                    "lifecycle": {"preStop": {"httpGet": {"path": "/bye", "port": 9}}},
                }],
            },
        })
        .to_string(),
    );
    wait_pod(
        &cluster,
        "badstop",
        Duration::from_secs(60),
        "Running",
        |p| phase(p) == "Running",
    );
    let ip = pod_ip(&pod(&cluster, "badstop"));
    let uid = pod(&cluster, "badstop")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.ok(&["delete", "pod", "badstop", "--wait=true"]);
    let failed = events_with_reason(&cluster, "badstop", "FailedPreStopHook");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].1.starts_with(&format!(
            "HTTP lifecycle hook (/bye) for Container \"c\" in Pod \"badstop_default({uid})\" \
             failed - error: Get \"http://{ip}:9/bye\": dial tcp {ip}:9: connect: "
        )),
        "{failed:?}"
    );
}
