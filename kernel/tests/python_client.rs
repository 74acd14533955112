//! The official Python Kubernetes client (PyPI `kubernetes`) against `kmicro run`.

mod common;

use std::process::Command;

/// Where tests/install-deps.sh puts the client.
const PYTHON: &str = "/opt/kmicro-test-tools/venv/bin/python";

#[test]
fn python_client_lists_watches_creates_patches_and_conflicts() {
    let cluster = common::Cluster::start();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/python_client.py"
    );
    let out = Command::new(PYTHON)
        .arg(script)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .output()
        .unwrap_or_else(|e| panic!("{PYTHON}: {e} (run tests/install-deps.sh)"));
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
