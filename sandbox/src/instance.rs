//! One instance of a module: its own store, started (`describe`, then `init`) and called
//! under the module's limits.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::{Module, ModulePre};
use crate::context::ModuleContext;
use crate::error::describe;
use crate::host::InstanceState;
use crate::informer::Delivery;
use crate::limits::Exceeded;
use crate::manifest::{Permissions, PolicyRule};
use crate::status::Health;

/// Events waiting for an instance, at most.
const QUEUE: usize = 1024;

/// Why a call into an instance failed. The instance is dropped after any of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The export answered an error.
    Guest(String),
    /// It trapped (a panic, an invalid operation, a failed link).
    Trap(String),
    /// It used up its CPU time for the call.
    Deadline,
    /// It asked for memory beyond its limit.
    Memory(String),
    /// The call took longer than the wall-clock limit (waiting included).
    WallTimeout,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Guest(e) => write!(f, "error: {e}"),
            Failure::Trap(e) => write!(f, "trap: {e}"),
            Failure::Deadline => f.write_str("CPU deadline exceeded"),
            Failure::Memory(e) => write!(f, "memory limit exceeded: {e}"),
            Failure::WallTimeout => f.write_str("wall-clock timeout of the call exceeded"),
        }
    }
}

/// A failed start: which step, and why.
#[derive(Clone, Debug)]
pub(crate) struct StartFailure {
    pub(crate) stage: &'static str,
    pub(crate) failure: Failure,
    /// What `describe` answered, when the failure came after it: version and permissions.
    pub(crate) described: Option<(String, Vec<PolicyRule>)>,
}

impl fmt::Display for StartFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.failure)
    }
}

/// A running instance.
pub(crate) struct Instance {
    store: Store<InstanceState>,
    bindings: Module,
    events: mpsc::Receiver<Delivery>,
    /// The version its `describe` reported.
    pub(crate) version: String,
    /// The permissions it declared.
    pub(crate) permissions: Vec<PolicyRule>,
    /// When it became ready.
    pub(crate) started: Instant,
}

impl Instance {
    /// Instantiates `pre`, then calls `describe` and `init(config)`.
    pub(crate) async fn start(
        ctx: &Arc<ModuleContext>,
        pre: &ModulePre<InstanceState>,
        config: &str,
    ) -> Result<Instance, StartFailure> {
        let (queue, events) = mpsc::channel(QUEUE);
        let mut store = Store::new(pre.engine(), InstanceState::new(ctx.clone(), queue));
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            match state.clock.charge() {
                Ok(()) => Ok(UpdateDeadline::Yield(1)),
                Err(exceeded) => {
                    state.exceeded = Some(exceeded);
                    wasmtime::bail!("CPU deadline exceeded")
                }
            }
        });
        let limits = &ctx.limits;

        arm(&mut store, ctx);
        let instantiated =
            tokio::time::timeout(limits.wall_timeout, pre.instantiate_async(&mut store)).await;
        let bindings = settle(&store, instantiated).map_err(|failure| StartFailure {
            stage: "instantiate",
            failure,
            described: None,
        })?;

        arm(&mut store, ctx);
        let handler = bindings.kmicro_module_handler();
        let described =
            tokio::time::timeout(limits.wall_timeout, handler.call_describe(&mut store)).await;
        let descriptor = settle(&store, described).map_err(|failure| StartFailure {
            stage: "describe",
            failure,
            described: None,
        })?;
        let permissions: Vec<PolicyRule> =
            descriptor.permissions.into_iter().map(Into::into).collect();
        store.data_mut().permissions = Permissions::new(permissions.clone(), ctx.granted.clone());
        let effective = ctx.granted.clone().unwrap_or_else(|| permissions.clone());
        ctx.host
            .authorize(&ctx.name, &effective)
            .await
            .map_err(|e| StartFailure {
                // Retried like a failed init: the kernel's API may be briefly unable.
                stage: "init",
                failure: Failure::Guest(format!("granting its permissions: {e}")),
                described: Some((descriptor.version.clone(), permissions.clone())),
            })?;

        arm(&mut store, ctx);
        let inited =
            tokio::time::timeout(limits.wall_timeout, handler.call_init(&mut store, config)).await;
        settle(&store, inited)
            .and_then(|answer| answer.map_err(Failure::Guest))
            .map_err(|failure| StartFailure {
                stage: "init",
                failure,
                described: Some((descriptor.version.clone(), permissions.clone())),
            })?;

        Ok(Instance {
            store,
            bindings,
            events,
            version: descriptor.version,
            permissions,
            started: Instant::now(),
        })
    }

    /// Waits for the next event of a watch the instance still holds (cancel-safe).
    pub(crate) async fn next_event(&mut self) -> Option<Delivery> {
        loop {
            let delivery = self.events.recv().await?;
            if self.store.data().watches.contains(delivery.watch) {
                return Some(delivery);
            }
        }
    }

    /// More events already waiting, up to `max` in all with `first`.
    pub(crate) fn batch(&mut self, first: Delivery, max: usize) -> Vec<Delivery> {
        let mut batch = vec![first];
        while batch.len() < max {
            match self.events.try_recv() {
                Ok(d) if self.store.data().watches.contains(d.watch) => batch.push(d),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        batch
    }

    /// `handle-events`.
    pub(crate) async fn handle_events(&mut self, batch: Vec<Delivery>) -> Result<(), Failure> {
        let ctx = self.store.data().module.clone();
        arm(&mut self.store, &ctx);
        let events: Vec<_> = batch.into_iter().map(Into::into).collect();
        let handler = self.bindings.kmicro_module_handler();
        let answer = tokio::time::timeout(
            ctx.limits.wall_timeout,
            handler.call_handle_events(&mut self.store, &events),
        )
        .await;
        settle(&self.store, answer).and_then(|a| a.map_err(Failure::Guest))
    }

    /// `handle-timers`.
    pub(crate) async fn handle_timers(&mut self, keys: &[String]) -> Result<(), Failure> {
        let ctx = self.store.data().module.clone();
        arm(&mut self.store, &ctx);
        let handler = self.bindings.kmicro_module_handler();
        let answer = tokio::time::timeout(
            ctx.limits.wall_timeout,
            handler.call_handle_timers(&mut self.store, keys),
        )
        .await;
        settle(&self.store, answer).and_then(|a| a.map_err(Failure::Guest))
    }

    /// `health`.
    pub(crate) async fn health(&mut self) -> Result<Health, Failure> {
        let ctx = self.store.data().module.clone();
        arm(&mut self.store, &ctx);
        let handler = self.bindings.kmicro_module_handler();
        let answer = tokio::time::timeout(
            ctx.limits.wall_timeout,
            handler.call_health(&mut self.store),
        )
        .await;
        settle(&self.store, answer).map(|r| Health {
            ready: r.ready,
            message: r.message,
        })
    }

    /// Linear memory in use, bytes.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.store.data().limiter.in_use()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.store.data().flush_output();
    }
}

/// Prepares the store for one call: a fresh CPU budget, checked every epoch tick.
fn arm(store: &mut Store<InstanceState>, ctx: &ModuleContext) {
    let state = store.data_mut();
    state.exceeded = None;
    state.clock.start(ctx.limits.deadline);
    store.set_epoch_deadline(1);
}

/// A call's outcome as the instance's [`Failure`], telling limits from traps.
fn settle<R>(
    store: &Store<InstanceState>,
    outcome: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
) -> Result<R, Failure> {
    let state = store.data();
    match outcome {
        Err(_) => Err(Failure::WallTimeout),
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) if state.exceeded == Some(Exceeded::Deadline) => {
            let _ = e;
            Err(Failure::Deadline)
        }
        Ok(Err(e)) if state.exceeded == Some(Exceeded::Memory) || state.limiter.exceeded => {
            Err(Failure::Memory(describe(&e)))
        }
        Ok(Err(e)) => Err(Failure::Trap(describe(&e))),
    }
}
