//! Shared by the sandbox tests: the test modules (built once per test binary with a nested
//! cargo), a sandbox over the fake API, and waiting for conditions.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kmicro_sandbox::{Artifact, Limits, LogLine, ModuleSpec, Sandbox, SandboxSettings, Target};
use kmicro_wasm_build::WasmBuild;
use serde_json::{Value, json};

use crate::fake_api::FakeApi;

/// The test modules, by package.
const PACKAGES: &[&str] = &[
    "kmicro-test-mirror",
    "kmicro-test-hostile",
    "kmicro-test-not-a-module",
];

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
        let build = WasmBuild::new(&repo.join("modules/Cargo.toml"), &target_dir, PACKAGES);
        let built = build
            .run()
            .unwrap_or_else(|e| panic!("building the test modules: {e}"));
        built.into_iter().map(|b| (b.package, b.wasm)).collect()
    })
}

/// The component of test module `name` (`mirror`, `hostile`, `not-a-module`).
pub fn wasm(name: &str) -> Arc<[u8]> {
    let path = &built()[&format!("kmicro-test-{name}")];
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into()
}

/// Test module `name` precompiled for this machine, as the build embeds built-ins.
pub fn precompiled(name: &str) -> &'static [u8] {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<String, &'static [u8]>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap();
    cache.entry(name.to_string()).or_insert_with(|| {
        let artifact =
            kmicro_sandbox::precompile(&wasm(name), &Target::native()).expect("precompile");
        Box::leak(artifact.into_boxed_slice())
    })
}

/// Settings with short back-off and health intervals, so tests see restarts quickly.
pub fn settings() -> SandboxSettings {
    SandboxSettings {
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(800),
        health_interval: Duration::from_millis(200),
        ..SandboxSettings::default()
    }
}

/// A sandbox over a fresh fake API.
pub fn sandbox() -> (Arc<FakeApi>, Sandbox) {
    let api = FakeApi::new();
    let sandbox = Sandbox::new(api.clone(), settings()).expect("sandbox");
    (api, sandbox)
}

/// A spec with default limits.
pub fn spec(name: &str, artifact: Artifact, config: Value) -> ModuleSpec {
    ModuleSpec {
        name: name.into(),
        artifact,
        config: config.to_string(),
        limits: Limits::default(),
        permissions: None,
    }
}

/// The mirror module's spec: it mirrors the sources of `namespace` into ConfigMap `view`.
pub fn mirror_spec(name: &str, namespace: &str) -> ModuleSpec {
    spec(
        name,
        Artifact::Wasm(wasm("mirror")),
        json!({"namespace": namespace, "view": "view", "tick_ms": 50}),
    )
}

/// A label set making a ConfigMap one of the mirror's sources.
pub fn source() -> Value {
    json!({"kmicro.test/source": "true"})
}

/// Polls `check` until it answers `Some`, for up to `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `future` for up to `timeout`.
pub async fn within<T>(what: &str, timeout: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The mirror's view (`data` of ConfigMap `view` in `namespace`).
pub fn view(api: &FakeApi, namespace: &str) -> Option<Value> {
    api.configmap(namespace, "view")
        .map(|cm| cm["data"].clone())
}

/// The objects of the mirror's view.
pub fn view_objects(api: &FakeApi, namespace: &str) -> Option<BTreeMap<String, String>> {
    let data = view(api, namespace)?;
    serde_json::from_str(data["objects"].as_str()?).ok()
}

/// A number from the mirror's view.
pub fn view_counter(api: &FakeApi, namespace: &str, field: &str) -> u64 {
    view(api, namespace)
        .and_then(|d| d[field].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0)
}

/// Waits until the mirror's view of `namespace` equals the store's sources.
pub async fn mirror_converges(api: &FakeApi, namespace: &str) {
    eventually(
        &format!("the mirror's view of {namespace} to equal the store"),
        Duration::from_secs(10),
        || {
            let expected = api.sources(namespace);
            (view_objects(api, namespace).as_ref() == Some(&expected)).then_some(())
        },
    )
    .await
}

/// Checks that the mirror of `namespace` still works: a new source appears in its view.
pub async fn mirror_alive(api: &FakeApi, namespace: &str, marker: &str) {
    api.put_configmap(namespace, marker, source(), json!({"value": marker}));
    eventually(
        &format!("{marker} in the mirror's view"),
        Duration::from_secs(10),
        || {
            view_objects(api, namespace)
                .filter(|v| v.get(marker).map(String::as_str) == Some(marker))
        },
    )
    .await;
}

/// The module's log lines.
pub fn log_lines(sandbox: &Sandbox, module: &str) -> Vec<LogLine> {
    sandbox.logs(module).expect("logs").0
}

/// Whether some line of the module's log contains `text`.
pub fn logged(sandbox: &Sandbox, module: &str, text: &str) -> bool {
    log_lines(sandbox, module)
        .iter()
        .any(|l| l.message.contains(text))
}

/// Waits for a log line containing `text`.
pub async fn wait_logged(sandbox: &Sandbox, module: &str, text: &str) {
    eventually(
        &format!("{module} to log {text:?}"),
        Duration::from_secs(10),
        || logged(sandbox, module, text).then_some(()),
    )
    .await
}
