//! Modules as API objects against a real `kmicro run` (whose built-in `scheduler` and
//! `controllers` are Modules too): kubectl (CRUD, tables, explain, validation, status) and
//! `kmicro module` (load, list, export, swap, logs, unload), components that are not modules
//! reported as `Failed` with the reason, component blobs round-tripping byte-identical and
//! collected once unreferenced.

mod common;
mod module_util;

use std::time::Duration;

use common::Cluster;
use kmicro_store::{KeyRange, RangeRequest, RedbConfig, RedbStore, Store};
use module_util::{
    json, kmicro_module, module_fails, module_ok, module_status, wait_for, wait_phase,
};

/// The built-in modules every cluster registers.
const BUILTINS: [&str; 2] = ["controllers", "scheduler"];

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

/// The names in the first column of a table (header skipped).
fn names(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Waits until Module `name` is `Failed` for the generation it has; answers its lastError.
fn wait_failed(cluster: &Cluster, name: &str) -> String {
    wait_for(
        Duration::from_secs(120),
        &format!("module {name} Failed"),
        || {
            let module = json(cluster, &["get", "module", name]);
            let status = &module["status"];
            (status["phase"] == "Failed"
                && status["observedGeneration"] == module["metadata"]["generation"])
                .then(|| status["lastError"].as_str().unwrap_or_default().to_string())
        },
    )
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
metadata: {name: greeter}
spec:
  source: {builtin: true}
  config: {profile: default, weights: {spread: 2}}
  limits: {memory: 64Mi}
  permissions:
  - {apiGroups: [\"\"], resources: [pods, pods/binding], verbs: [get, list, watch, create]}
";
    // Default client-side validation accepts it (the schema is served).
    cluster.ok_stdin(&["apply", "-f", "-"], yaml);
    let got = cluster.ok(&["get", "module", "greeter", "-o", "json"]);
    let module: serde_json::Value = serde_json::from_str(&got).unwrap();
    assert_eq!(
        module["spec"]["config"]["weights"]["spread"], 2,
        "config kept whole"
    );
    assert_eq!(module["spec"]["limits"]["callTimeout"], "1s", "defaulted");
    assert_eq!(module["metadata"]["generation"], 1);

    // No such built-in: the kernel says so in the status.
    let why = wait_failed(&cluster, "greeter");
    assert!(why.contains("no built-in module \"greeter\""), "{why}");

    let table = cluster.ok(&["get", "modules"]);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "VERSION", "RESTARTS", "MEMORY", "AGE"]
    );
    assert_eq!(names(&table), ["controllers", "greeter", "scheduler"]);
    let row = table.lines().find(|l| l.starts_with("greeter")).unwrap();
    assert!(row.contains("Failed"), "{table}");
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
        "greeter",
        "--type=merge",
        "-p",
        r#"{"spec":{"limits":{"memory":"48Mi"}}}"#,
    ]);
    let generation = cluster.ok(&[
        "get",
        "module",
        "greeter",
        "-o",
        "jsonpath={.metadata.generation}",
    ]);
    assert_eq!(generation, "2");
    // Once the kernel has acted on generation 2 (still no such built-in), a status written
    // through the subresource shows in the table (the kernel rewrites only what changes).
    wait_failed(&cluster, "greeter");
    cluster.ok(&[
        "patch", "module", "greeter", "--subresource=status", "--type=merge", "-p",
        r#"{"status":{"phase":"Running","version":"0.1.0","restarts":3,"memoryBytes":1310720,"observedGeneration":2}}"#,
    ]);
    let row = cluster.ok(&["get", "module", "greeter", "--no-headers"]);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..5],
        ["greeter", "Running", "0.1.0", "3", "1.2Mi"],
        "{row}"
    );
    // The built-ins' rows are the kernel's own report.
    for name in BUILTINS {
        let status = wait_phase(&cluster, name, "Running");
        assert!(status["digest"].as_str().unwrap().starts_with("sha256:"));
        let row = cluster.ok(&["get", "module", name, "--no-headers"]);
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(&cells[..2], [name, "Running"], "{row}");
    }

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

    cluster.ok(&["delete", "module", "greeter"]);
    assert_eq!(names(&cluster.ok(&["get", "modules"])), BUILTINS);
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

    // A component that is not a kmicro module: the kernel tries it and says why it failed.
    let why = wait_failed(&cluster, "echo");
    assert!(
        why.starts_with("module echo: ") && why.contains(" failed: "),
        "lastError should say which step failed and why: {why}"
    );
    let listed = module_ok(&cluster, &["list"]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PHASE", "VERSION", "RESTARTS", "MEMORY", "AGE"]
    );
    assert_eq!(names(&listed), ["controllers", "echo", "scheduler"]);
    let row = lines.iter().find(|l| l.starts_with("echo")).unwrap();
    assert!(row.contains("Failed"), "{listed}");
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

    // Swap to another non-module: the new digest is printed, then the wait ends with the
    // kernel's reason, well before the timeout.
    let out = kmicro_module(
        &cluster,
        &[
            "swap",
            "echo",
            second.to_str().unwrap(),
            "--timeout",
            "120s",
        ],
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.trim().starts_with("sha256:") && stdout.trim().len() == 71,
        "{stdout}"
    );
    assert!(
        stderr.contains("did not start") && stderr.contains("module echo: "),
        "{stderr}"
    );
    let status = module_status(&cluster, "echo");
    assert_eq!(status["phase"], "Failed", "{status}");
    let out = module_ok(
        &cluster,
        &["swap", "echo", first.to_str().unwrap(), "--no-wait"],
    );
    assert!(
        out.trim().starts_with("sha256:") && out.trim().len() == 71,
        "{out}"
    );
    module_ok(
        &cluster,
        &["export", "echo", "-o", exported.to_str().unwrap()],
    );
    assert!(std::fs::read(&exported).unwrap() == std::fs::read(&first).unwrap());

    // A module that never loaded has no log; a built-in has one.
    let err = module_fails(&cluster, &["logs", "echo", "--tail", "5"]);
    assert!(err.contains("it has not been loaded"), "{err}");
    wait_phase(&cluster, "controllers", "Running");
    module_ok(&cluster, &["logs", "controllers", "--tail", "5"]);
    let err = module_fails(
        &cluster,
        &["export", "nope", "-o", exported.to_str().unwrap()],
    );
    assert!(err.contains("not found"), "{err}");
    // A built-in's source is the embedded component.
    module_ok(
        &cluster,
        &["export", "scheduler", "-o", exported.to_str().unwrap()],
    );
    assert!(std::fs::read(&exported).unwrap().starts_with(b"\0asm"));

    // A second module sharing the second bytes, then unloads: one copy per digest, and none
    // left once nothing refers to them.
    module_ok(&cluster, &["load", "twin", second.to_str().unwrap()]);
    module_ok(&cluster, &["unload", "echo"]);
    assert_eq!(stored_blobs(&mut cluster), 1, "twin still refers to it");
    let mut cluster = Cluster::start_in(&data_dir, port);
    module_ok(&cluster, &["unload", "twin"]);
    assert_eq!(names(&module_ok(&cluster, &["list"])), BUILTINS);
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
