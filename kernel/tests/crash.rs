//! `kill -9` of `kmicro run` during concurrent kubectl creates loses none that kubectl
//! reported as created.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Cluster;

#[test]
fn creates_reported_successful_survive_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let port = common::free_port();
    let mut cluster = Cluster::start_in(&data_dir, port);
    let created = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let pid = cluster.child.id().to_string();
    let cluster_ref = &cluster;
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let (created, stop) = (created.clone(), stop.clone());
            scope.spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let name = format!("cm-{writer}-{i}");
                    let manifest = format!(
                        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\"}},\"data\":{{\"k\":\"v\"}}}}"
                    );
                    let out = cluster_ref.kubectl_with_stdin(&["create", "-f", "-"], Some(&manifest));
                    if out.status.success() {
                        created.lock().unwrap().push(name);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_secs(4));
        // SIGKILL while the writers are still creating.
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        stop.store(true, Ordering::SeqCst);
    });
    cluster.kill9(); // reaps the killed process
    let created = created.lock().unwrap().clone();
    assert!(
        created.len() >= 20,
        "only {} creates succeeded before the kill",
        created.len()
    );

    let cluster = Cluster::start_in(&data_dir, port);
    let names = cluster.ok(&["get", "configmaps", "-o", "name"]);
    for name in &created {
        assert!(
            names.contains(&format!("configmap/{name}\n")),
            "{name} was reported created but is gone"
        );
    }
}
