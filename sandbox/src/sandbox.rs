//! The sandbox: the engine, the linker, and the modules it runs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use crate::api::HostApi;
use crate::bindings::{Module, ModulePre};
use crate::context::ModuleContext;
use crate::engine::{self, Artifact, EpochTicker, Target};
use crate::error::{SandboxError, describe};
use crate::host::InstanceState;
use crate::instance::Instance;
use crate::limits::{Epoch, Limits};
use crate::logs::{LogLevel, LogLine};
use crate::manifest::PolicyRule;
use crate::status::{ModuleStatus, Phase, SwapReport};
use crate::supervisor::{self, Control, Policy, Prepared, SharedStatus, Supervisor};
use crate::validate::is_dns_label;

/// How the sandbox runs modules.
#[derive(Clone, Debug)]
pub struct SandboxSettings {
    /// What modules are compiled to; must be this binary's (`Target::native()`).
    pub target: Target,
    /// The epoch tick: the granularity of CPU deadlines. Default 10 ms.
    pub epoch_tick: Duration,
    /// First delay before restarting a failed module. Default 1 s.
    pub backoff_initial: Duration,
    /// Longest delay (the delay doubles per failure). Default 60 s.
    pub backoff_max: Duration,
    /// An instance that ran this long before failing restarts after the first delay
    /// again. Default 120 s.
    pub backoff_reset_after: Duration,
    /// How often a module's `health` is asked. Default 30 s.
    pub health_interval: Duration,
    /// Log lines kept per module. Default 1000.
    pub log_lines: usize,
    /// Watch events given to one `handle-events` call, at most. Default 256.
    pub max_batch: usize,
}

impl Default for SandboxSettings {
    fn default() -> SandboxSettings {
        SandboxSettings {
            target: Target::native(),
            epoch_tick: Duration::from_millis(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            backoff_reset_after: Duration::from_secs(120),
            health_interval: Duration::from_secs(30),
            log_lines: 1000,
            max_batch: 256,
        }
    }
}

/// A module to load.
#[derive(Clone, Debug)]
pub struct ModuleSpec {
    /// Its name: a DNS label; the API sees it as user `system:module:<name>`.
    pub name: String,
    /// Its code.
    pub artifact: Artifact,
    /// Its configuration, JSON (`init`'s argument; empty means `{}`).
    pub config: String,
    /// Its limits.
    pub limits: Limits,
    /// The operator's narrowing of what the module declares (`None`: as declared).
    pub permissions: Option<Vec<PolicyRule>>,
}

/// One loaded module, as the sandbox holds it.
struct Handle {
    ctx: Arc<ModuleContext>,
    config: String,
    status: SharedStatus,
    control: mpsc::Sender<Control>,
}

/// Runs modules: each in its own store and task, under its limits, restarted when it fails
/// and swapped without a restart.
///
/// Needs a tokio runtime (`load`, `swap` and `unload` spawn and await tasks).
pub struct Sandbox {
    engine: Engine,
    linker: Linker<InstanceState>,
    host: Arc<dyn HostApi>,
    settings: SandboxSettings,
    epoch: Epoch,
    modules: Mutex<HashMap<String, Handle>>,
    _ticker: EpochTicker,
}

impl Sandbox {
    /// A sandbox whose modules reach the API through `host`.
    pub fn new(host: Arc<dyn HostApi>, settings: SandboxSettings) -> Result<Sandbox, SandboxError> {
        let engine = engine::engine(&settings.target)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| SandboxError::Engine(describe(&e)))?;
        Module::add_to_linker::<InstanceState, HasSelf<InstanceState>>(&mut linker, |state| state)
            .map_err(|e| SandboxError::Engine(describe(&e)))?;
        let epoch = Epoch::new(settings.epoch_tick);
        let ticker = EpochTicker::start(engine.clone(), epoch.clone())?;
        Ok(Sandbox {
            engine,
            linker,
            host,
            settings,
            epoch,
            modules: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// The target modules are compiled for.
    pub fn target(&self) -> &Target {
        &self.settings.target
    }

    fn modules(&self) -> MutexGuard<'_, HashMap<String, Handle>> {
        self.modules.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Compiles (or deserializes) and links an artifact.
    async fn prepare(
        &self,
        name: &str,
        artifact: &Artifact,
    ) -> Result<ModulePre<InstanceState>, SandboxError> {
        let component: Component = engine::component(&self.engine, name, artifact).await?;
        let link = |e: wasmtime::Error| SandboxError::Start {
            name: name.into(),
            stage: "link",
            message: describe(&e),
        };
        let pre = self.linker.instantiate_pre(&component).map_err(link)?;
        ModulePre::new(pre).map_err(link)
    }

    /// Loads and starts a module: instantiate, `describe`, `init`.
    ///
    /// An artifact that does not compile, link, instantiate or describe itself is an
    /// error and nothing is kept. A module whose `init` fails (or traps, or runs out of a
    /// limit) is kept in [`Phase::BackOff`] with its `last_error` and restarted after the
    /// back-off: `init` may depend on the API's state.
    pub async fn load(&self, spec: ModuleSpec) -> Result<ModuleStatus, SandboxError> {
        let ModuleSpec {
            name,
            artifact,
            config,
            limits,
            permissions,
        } = spec;
        if !is_dns_label(&name) {
            return Err(SandboxError::InvalidName(name));
        }
        let config = if config.trim().is_empty() {
            "{}".to_string()
        } else {
            config
        };
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&config) {
            return Err(SandboxError::InvalidConfig {
                name,
                message: e.to_string(),
            });
        }
        if self.modules().contains_key(&name) {
            return Err(SandboxError::AlreadyLoaded(name));
        }
        let pre = self.prepare(&name, &artifact).await?;
        let ctx = Arc::new(ModuleContext::new(
            &name,
            self.host.clone(),
            limits,
            permissions.clone(),
            self.epoch.clone(),
            self.settings.log_lines,
        ));
        let mut status = ModuleStatus {
            name: name.clone(),
            phase: Phase::Starting,
            version: String::new(),
            permissions: Vec::new(),
            granted: permissions,
            restarts: 0,
            memory_bytes: 0,
            last_error: None,
            generation: 1,
            digest: artifact.digest(),
            health: None,
        };
        let (instance, retry_at) = match Instance::start(&ctx, &pre, &config).await {
            Ok(instance) => {
                status.phase = Phase::Running;
                status.version = instance.version.clone();
                status.permissions = instance.permissions.clone();
                status.memory_bytes = instance.memory_bytes();
                ctx.host_log(
                    LogLevel::Info,
                    &format!("started (version {})", instance.version),
                );
                (Some(instance), None)
            }
            Err(failure) if failure.stage != "init" => {
                return Err(SandboxError::Start {
                    name,
                    stage: failure.stage,
                    message: failure.failure.to_string(),
                });
            }
            Err(failure) => {
                let delay = self.settings.backoff_initial;
                if let Some((version, permissions)) = &failure.described {
                    status.version = version.clone();
                    status.permissions = permissions.clone();
                }
                status.phase = Phase::BackOff;
                status.last_error = Some(failure.to_string());
                ctx.host_log(
                    LogLevel::Error,
                    &format!("{failure}; restarting in {delay:?}"),
                );
                (None, Some(tokio::time::Instant::now() + delay))
            }
        };
        let snapshot = status.clone();
        let status = Arc::new(Mutex::new(status));
        let (control, receiver) = mpsc::channel(4);
        let supervisor = Supervisor {
            ctx: ctx.clone(),
            pre,
            config: config.clone(),
            policy: self.policy(),
            status: status.clone(),
            control: receiver,
            backoff: if retry_at.is_some() {
                (self.settings.backoff_initial * 2).min(self.settings.backoff_max)
            } else {
                self.settings.backoff_initial
            },
            instance,
            retry_at,
        };
        {
            let mut modules = self.modules();
            if modules.contains_key(&name) {
                return Err(SandboxError::AlreadyLoaded(name));
            }
            modules.insert(
                name,
                Handle {
                    ctx,
                    config,
                    status,
                    control,
                },
            );
        }
        tokio::spawn(supervisor.run());
        Ok(snapshot)
    }

    fn policy(&self) -> Policy {
        Policy {
            backoff_initial: self.settings.backoff_initial,
            backoff_max: self.settings.backoff_max,
            backoff_reset_after: self.settings.backoff_reset_after,
            health_interval: self.settings.health_interval,
            max_batch: self.settings.max_batch.max(1),
        }
    }

    /// Replaces module `name`'s code without stopping it.
    ///
    /// The new artifact is compiled, instantiated and initialised (`describe`, `init` with
    /// the module's config; it registers its watches, which list the current state) while
    /// the old instance keeps running. If any of that fails, the old instance keeps running
    /// and the error is returned. Otherwise the old instance, once idle, is given nothing
    /// more; the new one takes its place and gets every event since its watches started.
    /// Timers and scratch carry over.
    pub async fn swap(&self, name: &str, artifact: Artifact) -> Result<SwapReport, SandboxError> {
        let (ctx, config, control) = {
            let modules = self.modules();
            let handle = modules
                .get(name)
                .ok_or_else(|| SandboxError::NotFound(name.into()))?;
            (
                handle.ctx.clone(),
                handle.config.clone(),
                handle.control.clone(),
            )
        };
        let began = Instant::now();
        let pre = match self.prepare(name, &artifact).await {
            Ok(pre) => pre,
            Err(e) => {
                ctx.host_log(LogLevel::Warn, &format!("swap refused: {e}"));
                return Err(e);
            }
        };
        let instance = match Instance::start(&ctx, &pre, &config).await {
            Ok(instance) => instance,
            Err(failure) => {
                ctx.host_log(
                    LogLevel::Warn,
                    &format!("swap refused: the new version's {failure}"),
                );
                return Err(SandboxError::Start {
                    name: name.into(),
                    stage: failure.stage,
                    message: failure.failure.to_string(),
                });
            }
        };
        let next = Prepared {
            instance,
            pre,
            digest: artifact.digest(),
            prepare: began.elapsed(),
        };
        let (reply, answer) = oneshot::channel();
        control
            .send(Control::Swap {
                next: Box::new(next),
                reply,
            })
            .await
            .map_err(|_| SandboxError::NotFound(name.into()))?;
        answer
            .await
            .map_err(|_| SandboxError::NotFound(name.into()))
    }

    /// Stops module `name` and forgets it (its watches, timers and scratch go with it).
    pub async fn unload(&self, name: &str) -> Result<(), SandboxError> {
        let handle = self
            .modules()
            .remove(name)
            .ok_or_else(|| SandboxError::NotFound(name.into()))?;
        let (reply, done) = oneshot::channel();
        if handle.control.send(Control::Unload { reply }).await.is_ok() {
            let _ = done.await;
        }
        Ok(())
    }

    /// Module `name`'s status.
    pub fn status(&self, name: &str) -> Result<ModuleStatus, SandboxError> {
        let modules = self.modules();
        let handle = modules
            .get(name)
            .ok_or_else(|| SandboxError::NotFound(name.into()))?;
        Ok(supervisor::lock(&handle.status).clone())
    }

    /// Every module's status, by name.
    pub fn list(&self) -> Vec<ModuleStatus> {
        let mut all: Vec<_> = self
            .modules()
            .values()
            .map(|h| supervisor::lock(&h.status).clone())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Module `name`'s last log lines, and a receiver of its next ones
    /// (`kmicro module logs -f`). A receiver that falls behind by more than 256 lines
    /// skips ahead (`RecvError::Lagged`).
    pub fn logs(
        &self,
        name: &str,
    ) -> Result<(Vec<LogLine>, broadcast::Receiver<LogLine>), SandboxError> {
        let modules = self.modules();
        let handle = modules
            .get(name)
            .ok_or_else(|| SandboxError::NotFound(name.into()))?;
        Ok(handle.ctx.logs.snapshot())
    }
}
