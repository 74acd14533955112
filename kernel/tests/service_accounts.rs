//! What pods get from the control plane besides scheduling, through kubectl: the
//! ServiceAccount admission plugin (default account, refusal of a missing one, the
//! `kube-api-access-…` volume and its mounts, `automountServiceAccountToken: false`) and the
//! root CA publisher (`kube-root-ca.crt` in every namespace, re-created and repaired).

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::Cluster;
use serde_json::{Value, json};

const MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn get_json(c: &Cluster, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&c.ok(&all)).unwrap()
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The CA the kubeconfig trusts: the one that signs the API server's serving certificate.
fn cluster_ca(c: &Cluster) -> String {
    let data = c.ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ]);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn pods_get_the_default_account_and_its_token_volume() {
    let c = Cluster::start_api_only();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox"}],
            "containers": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox",
                 "volumeMounts": [{"name": "own", "mountPath": MOUNT_PATH}]},
            ],
            "volumes": [{"name": "own", "emptyDir": {}}],
        },
    });
    c.ok_stdin(&["create", "-f", "-"], &pod.to_string());
    let got = get_json(&c, &["get", "pod", "p"]);
    let spec = &got["spec"];
    assert_eq!(spec["serviceAccountName"], "default");
    assert_eq!(spec["serviceAccount"], "default", "the deprecated alias");
    let volume = &spec["volumes"][1];
    let name = volume["name"].as_str().unwrap();
    let suffix = name.strip_prefix("kube-api-access-").unwrap();
    assert_eq!(suffix.len(), 5, "{name}");
    assert!(
        suffix
            .chars()
            .all(|ch| "bcdfghjklmnpqrstvwxz2456789".contains(ch)),
        "{name}"
    );
    assert_eq!(
        volume["projected"],
        json!({
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace",
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
            ],
        })
    );
    let mount = json!([{"name": name, "readOnly": true, "mountPath": MOUNT_PATH}]);
    assert_eq!(spec["initContainers"][0]["volumeMounts"], mount);
    assert_eq!(spec["containers"][0]["volumeMounts"], mount);
    assert_eq!(
        spec["containers"][1]["volumeMounts"],
        json!([{"name": "own", "mountPath": MOUNT_PATH}]),
        "a container mounting the path itself keeps its own mount"
    );
    // An update does not add a second volume.
    c.ok(&["label", "pod", "p", "x=y"]);
    let again = get_json(&c, &["get", "pod", "p"]);
    assert_eq!(again["spec"]["volumes"].as_array().unwrap().len(), 2);
}

#[test]
fn missing_accounts_are_refused_and_automount_can_be_turned_off() {
    let c = Cluster::start_api_only();
    let err = c.fails(
        &[
            "run",
            "p",
            "--image=busybox",
            "--overrides",
            r#"{"spec":{"serviceAccountName":"nope"}}"#,
        ],
        None,
    );
    assert!(
        err.contains(
            r#"pods "p" is forbidden: error looking up service account default/nope: serviceaccount "nope" not found"#
        ),
        "{err}"
    );
    // Off on the account.
    c.ok_stdin(
        &["create", "-f", "-"],
        r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"quiet"},"automountServiceAccountToken":false}"#,
    );
    c.ok(&[
        "run",
        "q",
        "--image=busybox",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"quiet"}}"#,
    ]);
    let q = get_json(&c, &["get", "pod", "q"]);
    assert!(q["spec"]["volumes"].is_null(), "{q}");
    assert!(q["spec"]["containers"][0]["volumeMounts"].is_null(), "{q}");
    // Off on the pod, whatever the account says.
    c.ok(&[
        "run",
        "r",
        "--image=busybox",
        "--overrides",
        r#"{"spec":{"automountServiceAccountToken":false}}"#,
    ]);
    let r = get_json(&c, &["get", "pod", "r"]);
    assert_eq!(r["spec"]["serviceAccountName"], "default");
    assert!(r["spec"]["volumes"].is_null(), "{r}");
    // The pod's true wins over the account's false.
    c.ok(&[
        "run",
        "s",
        "--image=busybox",
        "--overrides",
        r#"{"spec":{"serviceAccountName":"quiet","automountServiceAccountToken":true}}"#,
    ]);
    let s = get_json(&c, &["get", "pod", "s"]);
    assert_eq!(s["spec"]["volumes"].as_array().unwrap().len(), 1, "{s}");
}

#[test]
fn every_namespace_gets_the_root_ca_config_map() {
    let c = Cluster::start_api_only();
    let ca = cluster_ca(&c);
    assert!(ca.contains("BEGIN CERTIFICATE"), "{ca}");
    let read = |ns: &str| -> Option<Value> {
        let out = c.kubectl(&["get", "cm", "kube-root-ca.crt", "-n", ns, "-o", "json"]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    };
    for ns in ["default", "kube-system", "kube-public"] {
        let cm = wait_for(&format!("{ns}/kube-root-ca.crt"), || read(ns));
        assert_eq!(cm["data"]["ca.crt"], ca.as_str(), "{ns}");
        assert!(
            cm["metadata"]["annotations"]["kubernetes.io/description"]
                .as_str()
                .unwrap()
                .starts_with("Contains a CA bundle")
        );
    }
    c.ok(&["create", "ns", "fresh"]);
    let cm = wait_for("fresh/kube-root-ca.crt", || read("fresh"));
    assert_eq!(cm["data"]["ca.crt"], ca.as_str());
    let uid = cm["metadata"]["uid"].clone();
    c.ok(&["delete", "cm", "kube-root-ca.crt", "-n", "fresh"]);
    let back = wait_for("the re-created ConfigMap", || {
        read("fresh").filter(|cm| cm["metadata"]["uid"] != uid)
    });
    assert_eq!(back["data"]["ca.crt"], ca.as_str());
    c.ok(&[
        "patch",
        "cm",
        "kube-root-ca.crt",
        "-n",
        "fresh",
        "--type=merge",
        "-p",
        r#"{"data":{"ca.crt":"tampered","extra":"x"}}"#,
    ]);
    wait_for("the repaired ConfigMap", || {
        read("fresh").filter(|cm| cm["data"] == json!({"ca.crt": ca}))
    });
}
