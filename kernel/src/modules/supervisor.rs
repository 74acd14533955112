//! The module supervisor: keeps the sandbox in line with the Module objects.
//!
//! It watches `modules.kmicro.io` Modules through the in-process API and, for each one, loads
//! the component (embedded for built-ins, else the uploaded source), swaps it when the source
//! changes or a swap is requested, reloads it when its config, limits or permissions change,
//! and unloads it when the Module is deleted. Every few seconds it writes what the sandbox
//! reports (phase, version, restarts, memory, last error) into the Module's status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::Method;
use kmicro_apimachinery::module::{
    Module, ModulePolicyRule, SWAP_REFUSED, SWAP_REQUEST_ANNOTATION,
};
use kmicro_builtin_modules::BuiltinModule;
use kmicro_sandbox::{Artifact, Limits, ModuleSpec, ModuleStatus, Phase, PolicyRule, Sandbox};
use serde_json::json;
use tokio::sync::Mutex;

use super::compile::CompiledArtifacts;
use super::local::{LocalClient, LocalError, encode, encode_segment};
use super::rbac;
use super::unpack;

/// Where Modules live in the API.
const MODULES: &str = "/apis/modules.kmicro.io/v1alpha1/modules";
/// How often status is written (when it changed).
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// How long to wait before watching again after the watch failed.
const RETRY: Duration = Duration::from_secs(1);

/// What the supervisor last loaded for one module.
#[derive(Clone, PartialEq)]
struct Loaded {
    source: String,
    config: String,
    limits: Limits,
    permissions: Option<Vec<PolicyRule>>,
    swap_request: Option<String>,
    generation: i64,
    swap_pause_micros: Option<i64>,
    error: Option<String>,
}

/// The supervisor: the sandbox, the built-ins and what is loaded.
pub struct Supervisor {
    sandbox: Arc<Sandbox>,
    admin: LocalClient,
    builtins: &'static [BuiltinModule],
    /// Where the built-ins' artifacts are unpacked (`<data-dir>/server/modules`).
    artifact_dir: PathBuf,
    /// Uploaded modules' artifacts, compiled by child processes.
    compiled: CompiledArtifacts,
    /// Built-in modules not to run (`--disable-scheduler`, `--disable-controller-manager`).
    disabled: Vec<String>,
    loaded: Mutex<BTreeMap<String, Loaded>>,
}

impl Supervisor {
    /// A supervisor of `sandbox`, acting on the API through `admin`, unpacking the
    /// built-ins' artifacts into `artifact_dir` and compiling uploaded modules into
    /// `compiled`.
    pub fn new(
        sandbox: Arc<Sandbox>,
        admin: LocalClient,
        builtins: &'static [BuiltinModule],
        artifact_dir: PathBuf,
        compiled: CompiledArtifacts,
        disabled: Vec<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            sandbox,
            admin,
            builtins,
            artifact_dir,
            compiled,
            disabled,
            loaded: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether `module` is a built-in this run must not start.
    fn is_disabled(&self, module: &Module) -> bool {
        module.spec.source.is_builtin()
            && self
                .disabled
                .iter()
                .any(|d| Some(d.as_str()) == module.metadata.name.as_deref())
    }

    /// Creates the Module object of every built-in module that has none.
    pub async fn ensure_builtins(&self) -> Result<(), LocalError> {
        for builtin in self.builtins {
            if self.disabled.iter().any(|d| d == builtin.name) {
                tracing::info!(module = builtin.name, "built-in module disabled");
                continue;
            }
            let body = json!({
                "apiVersion": "modules.kmicro.io/v1alpha1",
                "kind": "Module",
                "metadata": {"name": builtin.name, "labels": {"modules.kmicro.io/builtin": "true"}},
                "spec": {"source": {"builtin": true}},
            });
            match self
                .admin
                .send(
                    Method::POST,
                    MODULES,
                    Some("application/json"),
                    Bytes::from(body.to_string()),
                )
                .await
            {
                Ok(_) => tracing::info!(module = builtin.name, "built-in module registered"),
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Follows the Modules until the process ends: list, reconcile each, watch, reconcile
    /// each change; writes status every few seconds.
    pub fn spawn(self: &Arc<Self>) {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.follow().await {
                    tracing::warn!(error = %e, "module supervisor: watching Modules again");
                }
                tokio::time::sleep(RETRY).await;
            }
        });
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut written: BTreeMap<String, serde_json::Value> = BTreeMap::new();
            loop {
                tokio::time::sleep(STATUS_EVERY).await;
                me.write_statuses(&mut written).await;
            }
        });
    }

    async fn follow(&self) -> Result<(), LocalError> {
        let list = self
            .admin
            .send(Method::GET, MODULES, None, Bytes::new())
            .await?;
        let list: serde_json::Value = serde_json::from_slice(&list).unwrap_or_default();
        let rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string();
        let mut present = Vec::new();
        for item in list["items"].as_array().into_iter().flatten() {
            if let Ok(module) = serde_json::from_value::<Module>(item.clone()) {
                present.push(module.metadata.name.clone().unwrap_or_default());
                self.reconcile(&module).await;
            }
        }
        let gone: Vec<String> = self
            .loaded
            .lock()
            .await
            .keys()
            .filter(|name| !present.contains(name))
            .cloned()
            .collect();
        for name in gone {
            self.remove(&name).await;
        }
        let path = format!("{MODULES}?watch=1&resourceVersion={}", encode(&rv));
        let mut chunks = Box::pin(self.admin.stream(&path).await?);
        let mut pending = Vec::new();
        while let Some(chunk) = chunks.next().await {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(event) = serde_json::from_slice::<serde_json::Value>(&line) else {
                    continue;
                };
                let Ok(module) = serde_json::from_value::<Module>(event["object"].clone()) else {
                    continue;
                };
                match event["type"].as_str() {
                    Some("DELETED") => {
                        self.remove(module.metadata.name.as_deref().unwrap_or(""))
                            .await
                    }
                    Some("ADDED" | "MODIFIED") => self.reconcile(&module).await,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Brings the sandbox in line with `module`.
    async fn reconcile(&self, module: &Module) {
        let name = module.metadata.name.clone().unwrap_or_default();
        if module.metadata.deletion_timestamp.is_some() || self.is_disabled(module) {
            self.remove(&name).await;
            return;
        }
        let generation = module.metadata.generation.unwrap_or(0);
        let wanted = Loaded {
            source: source_key(module),
            config: module.spec.config_json(),
            limits: limits_of(module),
            permissions: module
                .spec
                .permissions
                .as_ref()
                .map(|rules| rules.iter().map(policy_rule).collect()),
            swap_request: module
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(SWAP_REQUEST_ANNOTATION).cloned()),
            generation,
            swap_pause_micros: None,
            error: None,
        };
        let held = self.loaded.lock().await.get(&name).cloned();
        let outcome = match held {
            Some(held) if same_inputs(&held, &wanted) => {
                if held.generation != generation {
                    self.record(&name, Loaded { generation, ..held }).await;
                }
                return;
            }
            // A swap needs a running version to replace; one that never loaded is loaded.
            Some(held)
                if held.config == wanted.config
                    && held.limits == wanted.limits
                    && held.permissions == wanted.permissions
                    && self.sandbox.status(&name).is_ok() =>
            {
                self.swap(&name, module, held, wanted).await
            }
            Some(_) => {
                let _ = self.sandbox.unload(&name).await;
                self.load(&name, module, wanted).await
            }
            None => self.load(&name, module, wanted).await,
        };
        self.record(&name, outcome).await;
    }

    async fn record(&self, name: &str, loaded: Loaded) {
        self.loaded.lock().await.insert(name.to_string(), loaded);
    }

    async fn load(&self, name: &str, module: &Module, mut wanted: Loaded) -> Loaded {
        let artifact = match self.artifact(name, module).await {
            Ok(artifact) => artifact,
            Err(why) => {
                wanted.error = Some(why);
                return wanted;
            }
        };
        let spec = ModuleSpec {
            name: name.to_string(),
            artifact,
            config: wanted.config.clone(),
            limits: wanted.limits.clone(),
            permissions: wanted.permissions.clone(),
        };
        match self.sandbox.load(spec).await {
            Ok(status) => {
                tracing::info!(module = name, version = %status.version, "module loaded");
            }
            Err(e) => wanted.error = Some(e.to_string()),
        }
        wanted
    }

    async fn swap(&self, name: &str, module: &Module, held: Loaded, mut wanted: Loaded) -> Loaded {
        let artifact = match self.artifact(name, module).await {
            Ok(artifact) => artifact,
            Err(why) => {
                return Loaded {
                    error: Some(format!("{SWAP_REFUSED}{why}")),
                    generation: wanted.generation,
                    swap_request: wanted.swap_request,
                    ..held
                };
            }
        };
        match self.sandbox.swap(name, artifact).await {
            Ok(report) => {
                tracing::info!(module = name, pause_us = report.pause.as_micros() as u64, version = %report.version, "module swapped");
                wanted.swap_pause_micros = Some(report.pause.as_micros() as i64);
                wanted
            }
            Err(e) => {
                tracing::warn!(module = name, error = %e, "swap refused; the running version stays");
                Loaded {
                    error: Some(format!("{SWAP_REFUSED}{e}")),
                    generation: wanted.generation,
                    swap_request: wanted.swap_request,
                    ..held
                }
            }
        }
    }

    async fn remove(&self, name: &str) {
        if self.loaded.lock().await.remove(name).is_some() {
            let _ = self.sandbox.unload(name).await;
            if let Err(e) = rbac::remove(&self.admin, name).await {
                tracing::warn!(module = name, error = %e, "removing the module's RBAC role failed");
            }
            tracing::info!(module = name, "module unloaded");
        }
    }

    /// The component of `module`: embedded for built-ins, else its uploaded source compiled
    /// (out of process).
    async fn artifact(&self, name: &str, module: &Module) -> Result<Artifact, String> {
        if module.spec.source.is_builtin() {
            let builtin = self
                .builtins
                .iter()
                .find(|b| b.name == name)
                .ok_or_else(|| format!("this kmicro binary has no built-in module {name:?}"))?;
            let dir = self.artifact_dir.clone();
            // Decompressing and checking a few MB: off the async workers.
            let path = tokio::task::spawn_blocking(move || unpack::builtin_artifact(&dir, builtin))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| {
                    format!(
                        "unpacking the built-in module into {}: {e}",
                        self.artifact_dir.display()
                    )
                })?;
            return Ok(Artifact::PrecompiledFile {
                path,
                digest: builtin.artifact_digest.to_string(),
            });
        }
        if module.spec.source.digest.is_none() {
            return Err("no source yet: upload one (kmicro module load or swap)".to_string());
        }
        let bytes = self
            .admin
            .send(
                Method::GET,
                &format!("{MODULES}/{}/source", encode_segment(name)),
                None,
                Bytes::new(),
            )
            .await
            .map_err(|e| format!("reading the source: {e}"))?;
        self.compiled.artifact(name, bytes.to_vec()).await
    }

    /// The digest a built-in runs under.
    fn builtin_digest(&self, name: &str) -> Option<&'static str> {
        self.builtins
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.digest)
    }

    async fn write_statuses(&self, written: &mut BTreeMap<String, serde_json::Value>) {
        let loaded = self.loaded.lock().await.clone();
        written.retain(|name, _| loaded.contains_key(name));
        for (name, held) in loaded {
            let running = self.sandbox.status(&name).ok();
            let status = status_of(&held, running.as_ref(), self.builtin_digest(&name));
            if written.get(&name) == Some(&status) {
                continue;
            }
            let patch = json!({ "status": status });
            let path = format!("{MODULES}/{}/status", encode_segment(&name));
            match self
                .admin
                .send(
                    Method::PATCH,
                    &path,
                    Some("application/merge-patch+json"),
                    Bytes::from(patch.to_string()),
                )
                .await
            {
                Ok(_) => {
                    written.insert(name, status);
                }
                Err(e) if e.code == 404 => {}
                Err(e) => {
                    tracing::warn!(module = %name, error = %e, "writing module status failed")
                }
            }
        }
    }

    /// The sandbox, for the API's log and source hooks.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}

fn same_inputs(a: &Loaded, b: &Loaded) -> bool {
    a.source == b.source
        && a.config == b.config
        && a.limits == b.limits
        && a.permissions == b.permissions
        && a.swap_request == b.swap_request
}

fn source_key(module: &Module) -> String {
    if module.spec.source.is_builtin() {
        "builtin".to_string()
    } else {
        module.spec.source.digest.clone().unwrap_or_default()
    }
}

fn limits_of(module: &Module) -> Limits {
    let mut limits = Limits::default();
    if let Some(bytes) = module.spec.limits.memory_bytes() {
        limits.memory_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    if let Some(timeout) = module.spec.limits.call_timeout() {
        limits.deadline = timeout;
    }
    if let Some(rate) = module.spec.limits.host_calls_per_second {
        limits.host_calls_per_second = u32::try_from(rate).unwrap_or(u32::MAX);
    }
    limits
}

fn policy_rule(rule: &ModulePolicyRule) -> PolicyRule {
    PolicyRule {
        api_groups: rule.api_groups.clone(),
        resources: rule.resources.clone(),
        verbs: rule.verbs.clone(),
    }
}

fn status_of(
    held: &Loaded,
    running: Option<&ModuleStatus>,
    builtin_digest: Option<&str>,
) -> serde_json::Value {
    let digest = if held.source == "builtin" {
        builtin_digest.unwrap_or("").to_string()
    } else {
        held.source.clone()
    };
    let mut status = json!({ "observedGeneration": held.generation });
    if let Some(request) = &held.swap_request {
        status["observedSwapRequest"] = json!(request);
    }
    match running {
        None => {
            status["phase"] = json!(if held.error.is_some() {
                "Failed"
            } else {
                "Pending"
            });
            status["lastError"] = json!(held.error.clone().unwrap_or_default());
            status["conditions"] = json!([{
                "type": "Ready", "status": "False", "reason": "NotLoaded",
                "message": held.error.clone().unwrap_or_else(|| "not loaded".into()),
            }]);
        }
        Some(s) => {
            let phase = match s.phase {
                Phase::Starting => "Starting",
                Phase::Running => "Running",
                Phase::BackOff => "BackOff",
                Phase::Failed => "Failed",
            };
            let ready = s.phase == Phase::Running && s.health.as_ref().is_none_or(|h| h.ready);
            let message = s
                .health
                .as_ref()
                .map(|h| h.message.clone())
                .filter(|m| !m.is_empty())
                .or_else(|| s.last_error.clone())
                .unwrap_or_default();
            status["phase"] = json!(phase);
            status["version"] = json!(s.version);
            status["digest"] = json!(digest);
            status["restarts"] = json!(s.restarts);
            status["memoryBytes"] = json!(s.memory_bytes);
            status["lastError"] = json!(
                held.error
                    .clone()
                    .or_else(|| s.last_error.clone())
                    .unwrap_or_default()
            );
            if let Some(pause) = held.swap_pause_micros {
                status["lastSwapPauseMicros"] = json!(pause);
            }
            status["conditions"] = json!([{
                "type": "Ready",
                "status": if ready { "True" } else { "False" },
                "reason": if ready { "Running" } else { phase },
                "message": message,
            }]);
        }
    }
    status
}
