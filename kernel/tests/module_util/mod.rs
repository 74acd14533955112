//! Shared by the tests that drive modules through a real `kmicro run`: `kmicro module`, the
//! components of `modules/` built for wasm32-wasip2 (once per test binary, with a nested
//! cargo, as the sandbox's tests build theirs), and polling.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kmicro_wasm_build::WasmBuild;

use crate::common::{Cluster, output_text};

/// The packages of `modules/` these tests load.
const PACKAGES: &[&str] = &["kmicro-example-hello", "kmicro-test-hostile"];

/// The built components by package (`kmicro-example-hello`, `kmicro-test-hostile`).
fn built() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the repository");
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target dir")
            .join("wasm-modules");
        WasmBuild::new(&repo.join("modules/Cargo.toml"), &target_dir, PACKAGES)
            .run()
            .unwrap_or_else(|e| panic!("building the modules: {e}"))
            .into_iter()
            .map(|b| (b.package, b.wasm))
            .collect()
    })
}

/// The component file of `package`.
pub fn component(package: &str) -> PathBuf {
    built()
        .get(package)
        .unwrap_or_else(|| panic!("{package} is not built by these tests"))
        .clone()
}

/// Runs `kmicro module ARGS` against `cluster`.
pub fn kmicro_module(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmicro"))
        .arg("module")
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(args)
        .env("KMICRO_LOG_LEVEL", "warn")
        .output()
        .expect("run kmicro module")
}

/// `kmicro module ARGS`, which must succeed; its stdout.
pub fn module_ok(cluster: &Cluster, args: &[&str]) -> String {
    let out = kmicro_module(cluster, args);
    assert!(
        out.status.success(),
        "kmicro module {args:?} failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kmicro module ARGS`, which must fail; its stderr.
pub fn module_fails(cluster: &Cluster, args: &[&str]) -> String {
    let out = kmicro_module(cluster, args);
    assert!(
        !out.status.success(),
        "kmicro module {args:?} should have failed:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `check` until it answers `Some`, failing with `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kubectl ARGS -o json`, parsed.
pub fn json(cluster: &Cluster, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&cluster.ok(&all)).unwrap()
}

/// The status of Module `name` (`Null` while it has none).
pub fn module_status(cluster: &Cluster, name: &str) -> serde_json::Value {
    json(cluster, &["get", "module", name])["status"].clone()
}

/// Waits until Module `name` reports phase `phase`; answers its status.
pub fn wait_phase(cluster: &Cluster, name: &str, phase: &str) -> serde_json::Value {
    wait_for(
        Duration::from_secs(120),
        &format!("module {name} {phase}"),
        || {
            let status = module_status(cluster, name);
            (status["phase"] == phase).then_some(status)
        },
    )
}

/// A Deployment whose pods tolerate the disk-pressure taint of a nearly full test machine.
pub fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      tolerations: [{{key: node.kubernetes.io/disk-pressure, operator: Exists, effect: NoSchedule}}]
      containers: [{{name: c, image: busybox}}]
"
    )
}
