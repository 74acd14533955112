//! The control plane as modules, end to end: `kmicro run` loads the built-in scheduler and
//! controllers; kubectl sees them as Modules; a Deployment becomes a ReplicaSet and Pods
//! bound to the node; scaling and deletion (garbage collection) behave as in Kubernetes.

mod common;

use std::time::{Duration, Instant};

use common::{Cluster, free_port};

const NODE: &str = "cp-node";

fn start() -> (tempfile::TempDir, Cluster) {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(
        &tmp.path().join("data"),
        free_port(),
        &["--node-name", NODE],
    );
    (tmp, cluster)
}

/// Polls `check` until it answers `Some`, failing with `what` after `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn json(cluster: &Cluster, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.ok(&all)).unwrap()
}

fn pods(cluster: &Cluster, selector: &str) -> Vec<serde_json::Value> {
    json(cluster, &["get", "pods", "-l", selector])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn builtin_modules_run_and_are_listed() {
    let (_tmp, cluster) = start();
    for name in ["scheduler", "controllers"] {
        wait_for(
            Duration::from_secs(60),
            &format!("module {name} Running"),
            || {
                let module = json(&cluster, &["get", "module", name]);
                (module["status"]["phase"] == "Running").then_some(())
            },
        );
    }
    let table = cluster.ok(&["get", "modules"]);
    assert!(table.starts_with("NAME"), "{table}");
    for name in ["scheduler", "controllers"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        assert!(row.contains("Running"), "{row}");
    }
    // Each module acts as its own user, with exactly its declared permissions.
    let can = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        output(cluster.kubectl(&all))
    };
    assert_eq!(
        can(&[
            "create",
            "pods",
            "--subresource=binding",
            "--as",
            "system:module:scheduler"
        ]),
        "yes"
    );
    assert_eq!(
        can(&["delete", "secrets", "--as", "system:module:scheduler"]),
        "no"
    );
}

fn output(out: std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_deployment_gets_a_replica_set_and_bound_pods_then_scales_and_is_collected() {
    let (_tmp, cluster) = start();
    cluster.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=3",
    ]);

    let bound = wait_for(Duration::from_secs(60), "3 pods bound to the node", || {
        let pods = pods(&cluster, "app=web");
        let bound = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"] == NODE)
            .count();
        (pods.len() == 3 && bound == 3).then_some(pods)
    });
    // Owned by one ReplicaSet, which the Deployment owns.
    let rs = json(&cluster, &["get", "replicasets", "-l", "app=web"]);
    let rs = &rs["items"].as_array().unwrap()[..];
    assert_eq!(rs.len(), 1, "{rs:?}");
    let rs_name = rs[0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(rs[0]["metadata"]["ownerReferences"][0]["name"], "web");
    assert_eq!(
        rs[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    for pod in &bound {
        assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], rs_name);
        let scheduled = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "PodScheduled")
            .cloned()
            .unwrap_or_default();
        assert_eq!(scheduled["status"], "True", "{pod}");
    }
    // The scheduler's events are there, as kube-scheduler writes them.
    let events = cluster.ok(&["get", "events", "--field-selector", "reason=Scheduled"]);
    assert!(events.contains(&format!("to {NODE}")), "{events}");

    cluster.ok(&["scale", "deployment", "web", "--replicas=1"]);
    wait_for(Duration::from_secs(60), "scale down to 1", || {
        (pods(&cluster, "app=web").len() == 1).then_some(())
    });
    let deploy = json(&cluster, &["get", "deployment", "web"]);
    wait_for(
        Duration::from_secs(30),
        "status of the scaled deployment",
        || {
            let d = json(&cluster, &["get", "deployment", "web"]);
            (d["status"]["observedGeneration"] == d["metadata"]["generation"]
                && d["status"]["replicas"] == 1)
                .then_some(())
        },
    );
    assert_eq!(deploy["spec"]["replicas"], 1);

    // A new template is a new ReplicaSet (revision 2); the old one scales down as the new
    // one's pods come (they stay unready without a runtime, so only the surge appears).
    cluster.ok(&["set", "image", "deployment/web", "busybox=busybox:1.36"]);
    wait_for(Duration::from_secs(60), "a second ReplicaSet", || {
        let rs = json(&cluster, &["get", "replicasets", "-l", "app=web"]);
        let items = rs["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .any(|r| r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2")
            .then_some(())
    });

    // Deleting the Deployment deletes its ReplicaSets and their pods (background GC).
    cluster.ok(&["delete", "deployment", "web"]);
    wait_for(Duration::from_secs(60), "garbage collection", || {
        let rs = json(&cluster, &["get", "replicasets", "-l", "app=web"]);
        let none_left = rs["items"].as_array().is_none_or(|i| i.is_empty())
            && pods(&cluster, "app=web").is_empty();
        none_left.then_some(())
    });
}

#[test]
fn deleting_a_namespace_deletes_its_contents_then_it() {
    let (_tmp, cluster) = start();
    cluster.ok(&["create", "namespace", "doomed"]);
    cluster.ok(&[
        "-n",
        "doomed",
        "create",
        "configmap",
        "c",
        "--from-literal=a=b",
    ]);
    cluster.ok(&[
        "-n",
        "doomed",
        "create",
        "deployment",
        "d",
        "--image=busybox",
    ]);
    wait_for(Duration::from_secs(60), "the deployment's pod", || {
        let pods = json(&cluster, &["-n", "doomed", "get", "pods"]);
        (pods["items"].as_array().is_some_and(|i| i.len() == 1)).then_some(())
    });
    cluster.ok(&["delete", "namespace", "doomed", "--wait=false"]);
    wait_for(Duration::from_secs(60), "the namespace gone", || {
        let out = cluster.kubectl(&["get", "namespace", "doomed"]);
        (!out.status.success()).then_some(())
    });
}
