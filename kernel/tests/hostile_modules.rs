//! Hostile modules (`modules/tests/hostile`) loaded into a running `kmicro run`: an endless
//! loop, unbounded allocation, a trap in init, calls outside the manifest. Each shows in its
//! Module's status (BackOff, restarts, lastError) or log (403s) while the built-in modules
//! keep working and the API keeps answering.

mod common;

mod module_util;

use std::time::Duration;

use common::{Cluster, free_port};
use module_util::{component, deployment, json, module_ok, module_status, wait_for};

const NODE: &str = "hostile-node";

/// Waits until Module `name`'s status satisfies `check`; answers the status.
fn wait_status(
    cluster: &Cluster,
    name: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for(
        Duration::from_secs(120),
        &format!("module {name}: {what}"),
        || {
            let status = module_status(cluster, name);
            check(&status).then_some(status)
        },
    )
}

#[test]
fn hostile_modules_fail_alone() {
    let hostile = component("kmicro-test-hostile");
    let hostile = hostile.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(
        &tmp.path().join("data"),
        free_port(),
        &["--node-name", NODE],
    );
    for (name, mode) in [
        ("spin", "spin-init"),
        ("hog", "alloc"),
        ("trap", "trap-init"),
        ("nosy", "forbidden"),
    ] {
        let config = format!(r#"{{"mode":"{mode}"}}"#);
        module_ok(
            &cluster,
            &[
                "load", name, hostile, "--config", &config, "--memory", "16Mi",
            ],
        );
    }

    // The built-in controllers and scheduler keep working meanwhile.
    cluster.ok_stdin(&["apply", "-f", "-"], &deployment("calm", 2));

    let backing_off = |what: &'static str| {
        move |s: &serde_json::Value| {
            s["phase"] == "BackOff"
                && s["lastError"]
                    .as_str()
                    .is_some_and(|e| e.to_lowercase().contains(what))
        }
    };
    let spin = wait_status(&cluster, "spin", "BackOff on its CPU deadline", |s| {
        s["phase"] == "BackOff" && !s["lastError"].as_str().unwrap_or("").is_empty()
    });
    let spin_error = spin["lastError"].as_str().unwrap().to_lowercase();
    assert!(
        spin_error.contains("deadline") || spin_error.contains("cpu"),
        "{spin}"
    );
    wait_status(
        &cluster,
        "trap",
        "BackOff on its panic",
        backing_off("trap"),
    );
    // The allocating module starts, then hits its memory limit, restarting with back-off.
    wait_status(&cluster, "hog", "restarted after its memory limit", |s| {
        s["restarts"].as_i64().unwrap_or(0) >= 1
            && s["lastError"]
                .as_str()
                .is_some_and(|e| e.to_lowercase().contains("memory"))
    });
    // Calls outside the manifest: 403, logged, and the module runs on.
    wait_status(&cluster, "nosy", "Running", |s| s["phase"] == "Running");
    let log = wait_for(Duration::from_secs(60), "nosy's 403s in its log", || {
        let log = module_ok(&cluster, &["logs", "nosy"]);
        log.contains("403").then_some(log)
    });
    assert!(log.contains("Forbidden"), "{log}");
    let restarts = wait_for(Duration::from_secs(60), "spin restarted twice", || {
        let restarts = module_status(&cluster, "spin")["restarts"]
            .as_i64()
            .unwrap_or(0);
        (restarts >= 2).then_some(restarts)
    });
    assert!(restarts >= 2);

    // The list shows each as it is.
    let table = cluster.ok(&["get", "modules"]);
    for (name, phase) in [
        ("controllers", "Running"),
        ("scheduler", "Running"),
        ("nosy", "Running"),
        ("spin", "BackOff"),
        ("trap", "BackOff"),
    ] {
        let row = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        assert!(row.contains(phase), "{name} should be {phase}:\n{table}");
    }

    // The Deployment created meanwhile got its ReplicaSet and its pods were bound; the API
    // answers.
    wait_for(Duration::from_secs(120), "calm's pods bound", || {
        let pods = json(&cluster, &["get", "pods", "-l", "app=calm"]);
        let pods = pods["items"].as_array().cloned().unwrap_or_default();
        (pods.len() == 2 && pods.iter().all(|p| p["spec"]["nodeName"] == NODE)).then_some(())
    });
    let rs = json(&cluster, &["get", "replicasets", "-l", "app=calm"]);
    assert_eq!(rs["items"].as_array().map(Vec::len), Some(1), "{rs}");
    cluster.ok(&["scale", "deployment", "calm", "--replicas=3"]);
    wait_for(Duration::from_secs(120), "calm scaled to 3", || {
        let pods = json(&cluster, &["get", "pods", "-l", "app=calm"]);
        (pods["items"].as_array().map(Vec::len) == Some(3)).then_some(())
    });
    assert_eq!(cluster.ok(&["get", "--raw", "/readyz"]), "ok");
    for name in ["controllers", "scheduler"] {
        let status = module_status(&cluster, name);
        assert_eq!(status["phase"], "Running", "{name}: {status}");
        assert_eq!(status["restarts"], 0, "{name}: {status}");
    }
}
