//! The machine's real kubectl against `kmicro run`, as a new user would use it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Cluster;

const CONFIGMAP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: default
data:
  color: blue
"#;

const SECRET: &str = r#"
apiVersion: v1
kind: Secret
metadata:
  name: creds
type: Opaque
stringData:
  password: hunter2
"#;

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
"#;

#[test]
fn default_namespaces_and_version() {
    let c = Cluster::start();
    let out = c.ok(&["get", "ns"]);
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(out.contains(ns), "{out}");
    }
    assert!(out.starts_with("NAME"), "a table with headers: {out}");
    assert!(
        out.contains("Active"),
        "namespaces print their STATUS: {out}"
    );
    let version = c.ok(&["version", "-o", "json"]);
    assert!(version.contains("+kmicro"), "{version}");
}

#[test]
fn configmap_and_secret_lifecycle() {
    let c = Cluster::start();
    c.ok_stdin(&["create", "-f", "-"], CONFIGMAP);
    c.ok_stdin(&["create", "-f", "-"], SECRET);
    let json = c.ok(&["get", "configmap", "settings", "-o", "json"]);
    assert!(json.contains("\"color\": \"blue\""), "{json}");
    assert!(json.contains("\"resourceVersion\""), "{json}");
    assert!(json.contains("\"uid\""), "{json}");

    c.ok(&["label", "configmap", "settings", "tier=front"]);
    c.ok(&["annotate", "configmap", "settings", "owner=ops"]);
    c.ok(&[
        "patch",
        "configmap",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data":{"size":"L"}}"#,
    ]);
    let json = c.ok(&["get", "cm", "settings", "-o", "json"]);
    for want in [
        "\"tier\": \"front\"",
        "\"owner\": \"ops\"",
        "\"size\": \"L\"",
        "\"color\": \"blue\"",
    ] {
        assert!(json.contains(want), "{want} missing: {json}");
    }
    let labelled = c.ok(&["get", "cm", "-l", "tier=front", "-o", "name"]);
    assert_eq!(labelled.trim(), "configmap/settings");
    // Only `kube-root-ca.crt` (every namespace has it) lacks the label.
    assert_eq!(
        c.ok(&["get", "cm", "-l", "tier!=front", "-o", "name"])
            .trim(),
        "configmap/kube-root-ca.crt"
    );

    let secret = c.ok(&["get", "secret", "creds", "-o", "jsonpath={.data.password}"]);
    assert_eq!(secret, "aHVudGVyMg==", "stringData is folded into data");
    let table = c.ok(&["get", "secrets"]);
    assert!(table.contains("Opaque"), "{table}");

    c.ok(&["delete", "configmap", "settings"]);
    c.ok(&["delete", "secret", "creds"]);
    let err = c.fails(&["get", "configmap", "settings"], None);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
}

#[test]
fn errors_read_like_kube_apiserver() {
    let c = Cluster::start();
    c.ok_stdin(&["create", "-f", "-"], CONFIGMAP);
    let err = c.fails(&["create", "-f", "-"], Some(CONFIGMAP));
    assert!(
        err.contains("AlreadyExists") || err.contains("already exists"),
        "{err}"
    );

    let bad = CONFIGMAP.replace("name: settings", "name: Bad_Name");
    let err = c.fails(&["create", "-f", "-"], Some(&bad));
    assert!(
        err.contains("is invalid") && err.contains("metadata.name"),
        "{err}"
    );

    // A stale update (an old resourceVersion) is a conflict.
    let old = c.ok(&["get", "cm", "settings", "-o", "json"]);
    c.ok(&[
        "patch",
        "cm",
        "settings",
        "--type=merge",
        "-p",
        r#"{"data":{"color":"red"}}"#,
    ]);
    let err = c.fails(&["replace", "-f", "-"], Some(&old));
    assert!(
        err.contains("Conflict") || err.contains("the object has been modified"),
        "{err}"
    );

    let err = c.fails(&["get", "cm", "nope"], None);
    assert!(err.contains("\"nope\" not found"), "{err}");
}

#[test]
fn all_namespaces_tables_and_chunked_lists() {
    let c = Cluster::start();
    c.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
    );
    for i in 0..25 {
        let ns = if i % 2 == 0 { "default" } else { "team" };
        let cm = CONFIGMAP
            .replace("name: settings", &format!("name: cm-{i:02}"))
            .replace("namespace: default", &format!("namespace: {ns}"));
        c.ok_stdin(&["create", "-f", "-"], &cm);
    }
    let all = c.ok(&["get", "configmaps", "-A"]);
    let header = all.lines().next().unwrap();
    assert!(header.starts_with("NAMESPACE"), "{all}");
    assert!(
        all.lines()
            .any(|l| l.starts_with("team ") && l.contains("cm-01")),
        "{all}"
    );
    assert!(
        all.lines()
            .any(|l| l.starts_with("default ") && l.contains("cm-00")),
        "{all}"
    );

    let paged = c.ok(&["get", "configmaps", "-A", "--chunk-size=4", "-o", "name"]);
    let unpaged = c.ok(&["get", "configmaps", "-A", "-o", "name"]);
    assert_eq!(paged, unpaged);
    assert!(
        paged
            .lines()
            .filter(|l| l.starts_with("configmap/cm-"))
            .count()
            == 25,
        "{paged}"
    );
}

#[test]
fn watch_shows_changes_as_they_happen() {
    let c = Cluster::start();
    let mut watch = Command::new("kubectl")
        .args([
            "get",
            "configmaps",
            "-w",
            "--output-watch-events",
            "--cache-dir",
        ])
        .arg(c.data_dir.with_extension("watchcache"))
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    c.ok_stdin(&["create", "-f", "-"], CONFIGMAP);
    c.ok(&["label", "cm", "settings", "x=y"]);
    c.ok(&["delete", "cm", "settings"]);
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !seen.iter().any(|l: &String| l.contains("DELETED")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("watch output so far: {seen:?}"),
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    let kinds: Vec<&str> = seen
        .iter()
        .filter(|l| l.contains("settings"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"], "{seen:?}");
}

#[test]
fn scale_a_deployment() {
    let c = Cluster::start();
    c.ok_stdin(&["create", "-f", "-"], DEPLOYMENT);
    c.ok(&["scale", "deployment", "web", "--replicas=3"]);
    assert_eq!(
        c.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "3"
    );
    let generation = c.ok(&[
        "get",
        "deploy",
        "web",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(generation, "2", "a spec change bumps the generation");
    let table = c.ok(&["get", "deployments"]);
    assert!(
        table.starts_with("NAME") && table.contains("READY") && table.contains("UP-TO-DATE"),
        "{table}"
    );
}

#[test]
fn a_second_run_on_the_same_data_dir_is_refused() {
    let c = Cluster::start();
    let out = Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args([
            "run",
            "--bind-address",
            "127.0.0.1",
            "--https-listen-port",
            &common::free_port().to_string(),
            "--data-dir",
        ])
        .arg(&c.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another kmicro is already running"),
        "{stderr}"
    );
    c.ok(&["get", "ns", "default"]);
}

#[test]
fn anonymous_requests_get_401_but_health_and_version_are_public() {
    let c = Cluster::start();
    let curl = |path: &str, extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
            .args(extra)
            .arg(format!("{}{path}", c.url()))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl("/api/v1/namespaces", &[]), "401");
    assert_eq!(curl("/api", &[]), "401");
    assert_eq!(curl("/version", &[]), "200");
    assert_eq!(curl("/readyz", &[]), "200");
    assert_eq!(
        curl("/api/v1/namespaces", &["-H", "Authorization: Bearer wrong"]),
        "401"
    );
    let tokens = std::fs::read_to_string(c.data_dir.join("server/tokens.csv")).unwrap();
    let token = tokens
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert_eq!(
        curl(
            "/api/v1/namespaces",
            &["-H", &format!("Authorization: Bearer {token}")]
        ),
        "200"
    );
}

/// Raw HTTP: every error is a `Status` with kube's code and reason.
#[test]
fn http_errors_are_status_objects_with_the_right_code() {
    let c = Cluster::start();
    let tokens = std::fs::read_to_string(c.data_dir.join("server/tokens.csv")).unwrap();
    let token = tokens
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string();
    let request = |method: &str,
                   path: &str,
                   content_type: &str,
                   body: Option<&[u8]>|
     -> (String, serde_json::Value) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sk",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
            "-H",
            &format!("Authorization: Bearer {token}"),
            "-H",
            &format!("Content-Type: {content_type}"),
        ]);
        if let Some(body) = body {
            let file = c.data_dir.with_extension("body");
            std::fs::write(&file, body).unwrap();
            cmd.arg("--data-binary").arg(format!("@{}", file.display()));
        }
        let out = cmd.arg(format!("{}{path}", c.url())).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (
            code.to_string(),
            serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
        )
    };
    let cms = "/api/v1/namespaces/default/configmaps";
    let bad_match = format!("{cms}?resourceVersion=1&resourceVersionMatch=Bogus");
    let bad_label = format!("{cms}?labelSelector=a%20in%20(");
    let bad_field = format!("{cms}?fieldSelector=spec.nope%3Dx");
    /// Method, path, content type, body, expected code, expected reason.
    type Case<'a> = (&'a str, &'a str, &'a str, Option<Vec<u8>>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/api/v1/nothing-here",
            "application/json",
            None,
            "404",
            "NotFound",
        ),
        (
            "GET",
            "/api/v1/namespaces/default/configmaps/missing",
            "application/json",
            None,
            "404",
            "NotFound",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/configmaps/x",
            "application/json",
            Some(b"{}".to_vec()),
            "405",
            "MethodNotAllowed",
        ),
        (
            "POST",
            cms,
            "application/json",
            Some(b"{not json".to_vec()),
            "400",
            "BadRequest",
        ),
        (
            "POST",
            cms,
            "application/vnd.kubernetes.protobuf",
            Some(b"k8s\0".to_vec()),
            "400",
            "BadRequest",
        ),
        (
            "POST",
            cms,
            "text/plain",
            Some(b"name: x".to_vec()),
            "415",
            "UnsupportedMediaType",
        ),
        (
            "POST",
            cms,
            "application/json",
            Some(br#"{"metadata":{"name":"UPPER"}}"#.to_vec()),
            "422",
            "Invalid",
        ),
        (
            "POST",
            cms,
            "application/json",
            Some(vec![b' '; 4 * 1024 * 1024]),
            "413",
            "RequestEntityTooLarge",
        ),
        (
            "POST",
            "/api/v1/namespaces/nope/configmaps",
            "application/json",
            Some(br#"{"metadata":{"name":"x"}}"#.to_vec()),
            "404",
            "NotFound",
        ),
        (
            "GET",
            &bad_match,
            "application/json",
            None,
            "400",
            "BadRequest",
        ),
        (
            "GET",
            &bad_label,
            "application/json",
            None,
            "400",
            "BadRequest",
        ),
        (
            "GET",
            &bad_field,
            "application/json",
            None,
            "400",
            "BadRequest",
        ),
        (
            "DELETE",
            "/api/v1/namespaces/default",
            "application/json",
            None,
            "403",
            "Forbidden",
        ),
    ];
    for (method, path, content_type, body, code, reason) in cases {
        let (got_code, status) = request(method, path, content_type, body.as_deref());
        assert_eq!(got_code, code, "{method} {path}: {status}");
        assert_eq!(status["kind"], "Status", "{method} {path}: {status}");
        assert_eq!(status["reason"], reason, "{method} {path}: {status}");
        assert_eq!(status["code"].as_u64().unwrap().to_string(), code);
    }
    // Nothing was written by any of them: only `kube-root-ca.crt` (every namespace has it).
    let (_, list) = request("GET", cms, "application/json", None);
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|cm| cm["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["kube-root-ca.crt"], "{list}");
}

#[test]
fn sigterm_stops_cleanly_and_a_restart_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = common::free_port();
    let mut c = Cluster::start_in(&data_dir, port);
    c.ok_stdin(&["create", "-f", "-"], CONFIGMAP);
    let pid = c.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = c.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "kmicro did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    drop(c);
    let c = Cluster::start_in(&data_dir, port);
    assert_eq!(
        c.ok(&["get", "cm", "settings", "-o", "jsonpath={.data.color}"]),
        "blue"
    );
}

#[test]
fn sigterm_ends_open_watches_and_stops_promptly() {
    let mut c = Cluster::start();
    let mut watch = Command::new("kubectl")
        .args(["get", "configmaps", "-w", "--cache-dir"])
        .arg(c.data_dir.with_extension("watchcache"))
        .env("KUBECONFIG", &c.kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pid = c.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = c.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "kmicro did not stop with a watch open"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn deleting_a_namespace_and_its_contents_from_one_file() {
    let c = Cluster::start();
    let manifest = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: demo}\ndata: {x: \"1\"}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: demo}\nspec: {containers: [{name: c, image: busybox}]}\n";
    c.ok_stdin(&["create", "-f", "-"], manifest);
    let status = c.ok(&[
        "get",
        "pod",
        "p",
        "-n",
        "demo",
        "-o",
        "jsonpath={.status.phase}/{.status.qosClass}",
    ]);
    assert_eq!(
        status, "Pending/BestEffort",
        "a new pod starts Pending with its QoS class"
    );
    let out = c.ok_stdin(&["delete", "-f", "-"], manifest);
    for what in [
        "namespace \"demo\" deleted",
        "configmap \"a\" deleted",
        "pod \"p\" deleted",
    ] {
        assert!(out.contains(what), "{out}");
    }
    // kubectl waited for the namespace to be gone; its contents went with it.
    let err = c.fails(&["get", "ns", "demo"], None);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(c.ok(&["get", "cm", "-n", "demo", "-o", "name"]).trim(), "");
}
