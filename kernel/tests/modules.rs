//! Modules as API objects against a real `kmicro run`: kubectl (CRUD, tables, explain,
//! validation) and `kmicro module` (load, list, export, swap, logs, unload), component blobs
//! round-tripping byte-identical and collected once unreferenced.

mod common;

use std::process::{Command, Output};

use common::{Cluster, output_text};
use kmicro_store::{KeyRange, RangeRequest, RedbConfig, RedbStore, Store};

/// A minimal valid component: the header (version 13, layer 1) and one custom section named
/// `kmicro-test` carrying `payload`.
fn component(payload: &[u8]) -> Vec<u8> {
    let name = b"kmicro-test";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
    bytes.push(0); // custom section
    let mut size = section.len();
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            bytes.push(byte);
            break;
        }
        bytes.push(byte | 0x80);
    }
    bytes.extend_from_slice(&section);
    bytes
}

/// Runs `kmicro module ARGS` against `cluster`.
fn kmicro_module(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .arg("module")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(args)
        .env("KMICRO_LOG_LEVEL", "warn")
        .output()
        .expect("run kmicro module")
}

fn module_ok(cluster: &Cluster, args: &[&str]) -> String {
    let out = kmicro_module(cluster, args);
    assert!(
        out.status.success(),
        "kmicro module {args:?} failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn module_fails(cluster: &Cluster, args: &[&str]) -> String {
    let out = kmicro_module(cluster, args);
    assert!(
        !out.status.success(),
        "kmicro module {args:?} should have failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn modules_through_kubectl() {
    let cluster = Cluster::start();
    assert!(
        cluster
            .ok(&["api-resources", "--api-group=modules.kmicro.io"])
            .contains("modules")
    );
    let explained = cluster.ok(&["explain", "module.spec"]);
    for field in ["source", "config", "limits", "permissions"] {
        assert!(explained.contains(field), "{explained}");
    }
    assert!(
        cluster
            .ok(&["explain", "module.spec.limits.memory"])
            .contains("32Mi")
    );

    let yaml = "apiVersion: modules.kmicro.io/v1alpha1
kind: Module
metadata: {name: scheduler}
spec:
  source: {builtin: true}
  config: {profile: default, weights: {spread: 2}}
  limits: {memory: 64Mi}
  permissions:
  - {apiGroups: [\"\"], resources: [pods, pods/binding], verbs: [get, list, watch, create]}
";
    // Default client-side validation accepts it (the schema is served).
    cluster.ok_stdin(&["apply", "-f", "-"], yaml);
    let got = cluster.ok(&["get", "module", "scheduler", "-o", "json"]);
    let module: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        module["spec"]["config"]["weights"]["spread"], 2,
        "config kept whole"
    );
    assert_eq!(module["spec"]["limits"]["callTimeout"], "1s", "defaulted");
    assert_eq!(module["metadata"]["generation"], 1);

    let table = cluster.ok(&["get", "modules"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "VERSION", "RESTARTS", "MEMORY", "AGE"]
    );
    assert!(
        table.lines().nth(1).unwrap().starts_with("scheduler"),
        "{table}"
    );
    let wide = cluster.ok(&["get", "kmod", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("DIGEST"), "{wide}");
    assert!(
        wide.lines().next().unwrap().contains("LAST ERROR"),
        "{wide}"
    );

    // A spec change bumps the generation; a status written through the subresource shows.
    cluster.ok(&[
        "patch",
        "module",
        "scheduler",
        "--type=merge",
        "-p",
        r#"{"spec":{"limits":{"memory":"48Mi"}}}"#,
    ]);
    let generation = cluster.ok(&[
        "get",
        "module",
        "scheduler",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(generation, "2");
    cluster.ok(&[
        "patch", "module", "scheduler", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"phase":"Running","version":"0.1.0","restarts":3,"memoryBytes":1310720,"observedGeneration":2}}"#,
    ]);
    let row = cluster.ok(&["get", "module", "scheduler", "--no-headers"]);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["scheduler", "Running", "0.1.0", "3", "1.2Mi"],
        "{row}"
    );

    // Invalid specs: 422 with the field named.
    let bad = yaml
        .replace("{memory: 64Mi}", "{memory: lots, hostCallsPerSecond: 0}")
        .replace("create]", "fly]");
    let err = cluster.fails(&["apply", "-f", "-"], Some(&bad));
    assert!(err.contains("is invalid"), "{err}");
    for field in [
        "spec.limits.memory",
        "spec.limits.hostCallsPerSecond",
        "spec.permissions[0].verbs[3]",
    ] {
        assert!(err.contains(field), "{field} not named: {err}");
    }
    let digest = "apiVersion: modules.kmicro.io/v1alpha1\nkind: Module\nmetadata: {name: d}\nspec: {source: {digest: md5:abc}}\n";
    let err = cluster.fails(&["create", "-f", "-"], Some(digest));
    assert!(err.contains("spec.source.digest"), "{err}");
    // Unknown fields are refused by default validation (the schema is known).
    let unknown = "apiVersion: modules.kmicro.io/v1alpha1\nkind: Module\nmetadata: {name: u}\nspec: {colour: red}\n";
    let err = cluster.fails(&["create", "-f", "-"], Some(unknown));
    assert!(err.contains("colour"), "{err}");

    cluster.ok(&["delete", "module", "scheduler"]);
    assert!(cluster.ok(&["get", "modules"]).is_empty());
}

#[test]
fn modules_through_kmicro_module() {
    let tmp = tempfile::tempdir().unwrap();
    let first = tmp.path().join("first.wasm");
    let second = tmp.path().join("second.wasm");
    std::fs::write(&first, component(&vec![1; 300_000])).unwrap();
    std::fs::write(&second, component(b"second")).unwrap();
    let (data_dir, port) = (tmp.path().join("data"), common::free_port());
    let mut cluster = Cluster::start_in(&data_dir, port);

    let out = module_ok(
        &cluster,
        &[
            "load",
            "echo",
            first.to_str().unwrap(),
            "--config",
            r#"{"greeting":"hi"}"#,
            "--memory",
            "16Mi",
        ],
    );
    assert!(out.contains("module echo loaded: sha256:"), "{out}");
    let err = module_fails(&cluster, &["load", "echo", first.to_str().unwrap()]);
    assert!(
        err.contains("already exists: use `kmicro module swap"),
        "{err}"
    );
    let not_wasm = tmp.path().join("core.wasm");
    std::fs::write(&not_wasm, b"\0asm\x01\x00\x00\x00").unwrap();
    let err = module_fails(&cluster, &["swap", "echo", not_wasm.to_str().unwrap()]);
    assert!(
        err.contains("core WebAssembly module, not a component"),
        "{err}"
    );

    let listed = module_ok(&cluster, &["list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PHASE", "VERSION", "RESTARTS", "MEMORY", "AGE"]
    );
    assert!(
        lines[1].starts_with("echo") && lines[1].contains("Pending"),
        "{listed}"
    );
    let memory = cluster.ok(&[
        "get",
        "module",
        "echo",
        "-o",
        "jsonpath={.spec.limits.memory} {.spec.config.greeting}",
    ]);
    assert_eq!(memory, "16Mi hi");

    // Export: byte-identical.
    let exported = tmp.path().join("out.wasm");
    module_ok(
        &cluster,
        &["export", "echo", "-o", exported.to_str().unwrap()],
    );
    assert!(std::fs::read(&exported).unwrap() == std::fs::read(&first).unwrap());

    // Swap: the new digest is printed; nothing runs modules yet, so the wait times out
    // naming what it waited for.
    let err = module_fails(
        &cluster,
        &["swap", "echo", second.to_str().unwrap(), "--timeout", "1s"],
    );
    assert!(err.contains("not running after 1s"), "{err}");
    let out = module_ok(
        &cluster,
        &["swap", "echo", second.to_str().unwrap(), "--no-wait"],
    );
    assert!(
        out.trim().starts_with("sha256:") && out.trim().len() == 71,
        "{out}"
    );
    module_ok(
        &cluster,
        &["export", "echo", "-o", exported.to_str().unwrap()],
    );
    assert!(std::fs::read(&exported).unwrap() == std::fs::read(&second).unwrap());

    // Logs need the module supervisor, which the kernel does not register yet.
    let err = module_fails(&cluster, &["logs", "echo", "--tail", "5"]);
    assert!(err.contains("module supervisor is not running"), "{err}");
    let err = module_fails(
        &cluster,
        &["export", "nope", "-o", exported.to_str().unwrap()],
    );
    assert!(err.contains("not found"), "{err}");

    // A second module sharing the first bytes, then unloads: one copy per digest, and none
    // left once nothing refers to them.
    module_ok(&cluster, &["load", "twin", second.to_str().unwrap()]);
    module_ok(&cluster, &["unload", "echo"]);
    assert_eq!(stored_blobs(&mut cluster), 1, "twin still refers to it");
    let mut cluster = Cluster::start_in(&data_dir, port);
    module_ok(&cluster, &["unload", "twin"]);
    assert!(module_ok(&cluster, &["list"]).is_empty());
    assert_eq!(stored_blobs(&mut cluster), 0);
}

/// Stops the cluster and counts the component manifests in its store.
fn stored_blobs(cluster: &mut Cluster) -> i64 {
    cluster.kill9();
    let path = cluster.data_dir.join("server/db/state.redb");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = RedbStore::open(RedbConfig::new(path)).await.unwrap();
        let count = store
            .range(RangeRequest::new(KeyRange::prefix("/kmicro/modules/blobs/")).count_only())
            .await
            .unwrap()
            .count;
        store.close().await.unwrap();
        count
    })
}
