//! kmicro's strategic merge patch against kubectl's own: `kubectl patch --local` applies a
//! strategic merge patch with the same apimachinery code kube-apiserver runs, so every case in
//! `data/strategic-patch-cases.json` must come out the same from both (kubectl 1.32 and 1.35).

mod common;

use std::path::Path;
use std::process::Command;

use common::KUBECTLS;
use kmicro_apimachinery::patch::strategic;
use serde_json::Value;

/// kubectl's result: the patched object, or its error message.
fn kubectl_patch(
    kubectl: &str,
    dir: &Path,
    original: &Value,
    patch: &Value,
) -> Result<Value, String> {
    let file = dir.join("original.json");
    std::fs::write(&file, original.to_string()).unwrap();
    let out = Command::new(kubectl)
        .args([
            "patch",
            "--local",
            "--type",
            "strategic",
            "-o",
            "json",
            "--kubeconfig",
            "/dev/null",
            "-f",
        ])
        .arg(&file)
        .arg("-p")
        .arg(patch.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{kubectl}: {e}"));
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).expect("kubectl prints JSON"))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.trim_start_matches("error: ").trim().to_string())
    }
}

/// kmicro's result.
fn kmicro_patch(original: &Value, patch: &Value) -> Result<Value, String> {
    let schemas = kmicro_openapi::builtin_schemas();
    let (group, version) = match original["apiVersion"].as_str().unwrap().split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", original["apiVersion"].as_str().unwrap()),
    };
    let root = schemas
        .kind(group, version, original["kind"].as_str().unwrap())
        .expect("a built-in kind");
    strategic::apply(original.clone(), patch.clone(), schemas, root).map_err(|e| e.to_string())
}

#[test]
fn strategic_merge_patch_matches_kubectl() {
    let data: Value =
        serde_json::from_str(include_str!("data/strategic-patch-cases.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for case in data["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let original = &data["originals"][case["original"].as_str().unwrap()];
        let patch = &case["patch"];
        let ours = kmicro_patch(original, patch);
        for kubectl in KUBECTLS {
            let theirs = kubectl_patch(kubectl, dir.path(), original, patch);
            let same = match (&ours, &theirs) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) if case["message"] == "differs" => true,
                (Err(a), Err(b)) => a.trim() == b.trim(),
                _ => false,
            };
            if !same {
                failures.push(format!(
                    "{name} ({kubectl}):\n  kmicro:  {ours:?}\n  kubectl: {theirs:?}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
