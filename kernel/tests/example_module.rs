//! The example module (`modules/examples/hello`) as a newcomer meets it, following
//! `modules/examples/README.md`: build it, load it with a config, see it greet labelled
//! ConfigMaps, read and follow its log, swap it (the same bytes too), change its config,
//! unload it (its RBAC role goes, and it no longer acts).

mod common;
mod module_util;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::Cluster;
use module_util::{component, json, kmicro_module, module_ok, module_status, wait_for, wait_phase};

/// The ConfigMap's greeting, if any.
fn greeting(cluster: &Cluster, name: &str) -> Option<String> {
    let cm = json(cluster, &["get", "configmap", name]);
    cm["data"]["greeting"].as_str().map(str::to_string)
}

/// Creates ConfigMap `name` and labels it as the README does.
fn greeted_configmap(cluster: &Cluster, name: &str) {
    cluster.ok(&["create", "configmap", name, "--from-literal=a=b"]);
    cluster.ok(&["label", "configmap", name, "hello.kmicro.io/greet=true"]);
}

fn wait_greeting(cluster: &Cluster, name: &str, expected: &str) {
    wait_for(
        Duration::from_secs(60),
        &format!("{name} greeted {expected:?}"),
        || (greeting(cluster, name).as_deref() == Some(expected)).then_some(()),
    );
}

#[test]
fn the_example_module_as_the_readme_tells() {
    // 1. Build it (the README's cargo command, through kmicro-wasm-build).
    let wasm = component("kmicro-example-hello");
    let wasm = wasm.to_str().unwrap();
    let cluster = Cluster::start();

    // 2. Load it.
    let out = module_ok(
        &cluster,
        &["load", "hello", wasm, "--config", r#"{"greeting": "Hi"}"#],
    );
    assert!(out.contains("module hello loaded: sha256:"), "{out}");
    let status = wait_phase(&cluster, "hello", "Running");
    assert_eq!(status["version"], "0.1.0", "{status}");
    let listed = module_ok(&cluster, &["list"]);
    let row = listed.lines().find(|l| l.starts_with("hello")).unwrap();
    assert!(row.contains("Running"), "{listed}");
    let table = cluster.ok(&["get", "modules"]);
    for name in ["controllers", "hello", "scheduler"] {
        assert!(
            table.lines().any(|l| l.starts_with(name)),
            "{name}: {table}"
        );
    }
    // Its permissions are its manifest's, as its own user.
    let role = json(&cluster, &["get", "clusterrole", "system:module:hello"]);
    assert_eq!(role["rules"][0]["resources"][0], "configmaps", "{role}");

    // 3. See it act.
    greeted_configmap(&cluster, "demo");
    wait_greeting(&cluster, "demo", "Hi, demo!");
    let log = module_ok(&cluster, &["logs", "hello"]);
    assert!(log.contains("greeted default/demo"), "{log}");
    assert!(log.contains("with \"Hi\""), "{log}");

    // `logs -f` streams new lines as they come.
    let mut follow = Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .args(["module", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .args(["logs", "hello", "-f", "--tail", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    // The tail line first: then the stream is open, before the new ConfigMap.
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("logs -f printed the last line");
    greeted_configmap(&cluster, "second");
    wait_greeting(&cluster, "second", "Hi, second!");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .expect("logs -f did not stream the new greeting");
        if line.contains("greeted default/second") {
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();

    // 4. Swap it in again: the same bytes still swap (a new instance, the same digest).
    let before = module_status(&cluster, "hello");
    let out = kmicro_module(&cluster, &["swap", "hello", wasm]);
    assert!(out.status.success(), "{}", common::output_text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(printed.trim(), before["digest"].as_str().unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("module hello runs sha256:"), "{stderr}");
    let after = module_status(&cluster, "hello");
    assert!(
        after["observedSwapRequest"].as_str().is_some()
            && after["observedSwapRequest"] != before["observedSwapRequest"],
        "{after}"
    );
    assert!(after["lastSwapPauseMicros"].as_i64().is_some(), "{after}");
    assert_eq!(after["phase"], "Running", "{after}");
    let log = module_ok(&cluster, &["logs", "hello"]);
    assert_eq!(
        log.matches("greeting ConfigMaps labelled").count(),
        2,
        "a second instance started:\n{log}"
    );
    // It still acts after the swap.
    greeted_configmap(&cluster, "third");
    wait_greeting(&cluster, "third", "Hi, third!");

    // A new config: the module is reloaded and every greeted ConfigMap follows.
    cluster.ok(&[
        "patch",
        "module",
        "hello",
        "--type=merge",
        "-p",
        r#"{"spec":{"config":{"greeting":"Hey"}}}"#,
    ]);
    for name in ["demo", "second", "third"] {
        wait_greeting(&cluster, name, &format!("Hey, {name}!"));
    }

    // 5. Remove it: gone from the API, its role removed, and it no longer acts.
    let out = module_ok(&cluster, &["unload", "hello"]);
    assert!(out.contains("module hello unloaded"), "{out}");
    let table = cluster.ok(&["get", "modules"]);
    assert!(!table.lines().any(|l| l.starts_with("hello")), "{table}");
    wait_for(
        Duration::from_secs(30),
        "the ClusterRole system:module:hello removed",
        || {
            let out = cluster.kubectl(&["get", "clusterrole", "system:module:hello"]);
            (!out.status.success()).then_some(())
        },
    );
    greeted_configmap(&cluster, "late");
    // The built-in controllers still act (a barrier for the API's watchers), and the
    // unloaded module has not greeted meanwhile.
    cluster.ok(&["create", "deployment", "after-hello", "--image=busybox"]);
    wait_for(
        Duration::from_secs(60),
        "the ReplicaSet of after-hello",
        || {
            let rs = json(&cluster, &["get", "replicasets", "-l", "app=after-hello"]);
            rs["items"]
                .as_array()
                .is_some_and(|i| i.len() == 1)
                .then_some(())
        },
    );
    assert_eq!(greeting(&cluster, "late"), None);
    assert_eq!(greeting(&cluster, "demo").as_deref(), Some("Hey, demo!"));
}
