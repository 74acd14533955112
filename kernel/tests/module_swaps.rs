//! The hot-swap acceptance test: `kmicro module export controllers`, then five
//! `kmicro module swap controllers` of those bytes while Deployments are created and scaled;
//! at the end every Deployment has exactly one ReplicaSet with the right replicas and that
//! many pods bound to the node.

mod common;
mod module_util;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Cluster, free_port};
use module_util::{deployment, json, module_ok, module_status, wait_for, wait_phase};

const NODE: &str = "swap-node";
const DEPLOYMENTS: usize = 6;
const SWAPS: usize = 5;

/// Whether Deployment `name` is exactly as wanted: one ReplicaSet with `replicas`, and that
/// many pods, all bound to the node. Answers what differs otherwise.
fn settled(cluster: &Cluster, name: &str, replicas: u32) -> Result<(), String> {
    let selector = format!("app={name}");
    let rs = json(cluster, &["get", "replicasets", "-l", &selector]);
    let rs = rs["items"].as_array().cloned().unwrap_or_default();
    if rs.len() != 1 {
        return Err(format!("{name}: {} ReplicaSets", rs.len()));
    }
    if rs[0]["spec"]["replicas"] != replicas {
        return Err(format!(
            "{name}: ReplicaSet wants {}",
            rs[0]["spec"]["replicas"]
        ));
    }
    let pods = json(cluster, &["get", "pods", "-l", &selector]);
    let pods = pods["items"].as_array().cloned().unwrap_or_default();
    let bound = pods
        .iter()
        .filter(|p| p["spec"]["nodeName"] == NODE && p["metadata"]["deletionTimestamp"].is_null())
        .count();
    if pods.len() != replicas as usize || bound != pods.len() {
        return Err(format!("{name}: {} pods, {bound} bound", pods.len()));
    }
    Ok(())
}

#[test]
fn five_swaps_of_the_controllers_under_load_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(
        &tmp.path().join("data"),
        free_port(),
        &["--node-name", NODE],
    );
    wait_phase(&cluster, "controllers", "Running");
    wait_phase(&cluster, "scheduler", "Running");
    let exported = tmp.path().join("c.wasm");
    module_ok(
        &cluster,
        &["export", "controllers", "-o", exported.to_str().unwrap()],
    );
    assert!(std::fs::read(&exported).unwrap().starts_with(b"\0asm"));

    let wanted = std::thread::scope(|scope| {
        let changes = scope.spawn(|| {
            let mut wanted = BTreeMap::new();
            for i in 0..DEPLOYMENTS {
                let name = format!("load-{i}");
                let replicas = (i % 3 + 1) as u32;
                cluster.ok_stdin(&["apply", "-f", "-"], &deployment(&name, replicas));
                wanted.insert(name, replicas);
                // Rescale an earlier one.
                if i >= 2 {
                    let earlier = format!("load-{}", i - 2);
                    let replicas = ((i + 1) % 4) as u32;
                    cluster.ok(&[
                        "scale",
                        "deployment",
                        &earlier,
                        &format!("--replicas={replicas}"),
                    ]);
                    wanted.insert(earlier, replicas);
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            wanted
        });
        let mut pauses = Vec::new();
        for _ in 0..SWAPS {
            module_ok(
                &cluster,
                &["swap", "controllers", exported.to_str().unwrap()],
            );
            let status = module_status(&cluster, "controllers");
            assert_eq!(status["phase"], "Running", "{status}");
            pauses.push(status["lastSwapPauseMicros"].as_i64().unwrap_or(-1));
        }
        eprintln!("swap pauses (µs): {pauses:?}");
        changes.join().unwrap()
    });

    for (name, replicas) in &wanted {
        wait_for(
            Duration::from_secs(180),
            &format!("{name} settled at {replicas}"),
            || settled(&cluster, name, *replicas).ok(),
        );
    }
    let status = module_status(&cluster, "controllers");
    assert_eq!(status["phase"], "Running", "{status}");
    assert_eq!(status["restarts"], 0, "{status}");
    assert!(status["observedSwapRequest"].is_string(), "{status}");
    assert_eq!(status["lastError"], "", "{status}");
}
