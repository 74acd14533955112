//! The task that runs one module: it feeds the running instance its watch events (in
//! batches), fired timers and health checks, one call at a time; replaces a failed instance
//! after a back-off; and carries out swaps and the unload.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::bindings::ModulePre;
use crate::context::ModuleContext;
use crate::host::InstanceState;
use crate::informer::Delivery;
use crate::instance::{Failure, Instance, StartFailure};
use crate::logs::LogLevel;
use crate::status::{ModuleStatus, Phase, SwapReport};

/// How a module's task behaves (from `SandboxSettings`).
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) backoff_reset_after: Duration,
    pub(crate) health_interval: Duration,
    pub(crate) max_batch: usize,
}

/// A new instance, started and initialised, ready to take the old one's place.
pub(crate) struct Prepared {
    pub(crate) instance: Instance,
    pub(crate) pre: ModulePre<InstanceState>,
    pub(crate) digest: String,
    pub(crate) prepare: Duration,
}

/// What the sandbox asks of a module's task.
pub(crate) enum Control {
    /// Put `next` in the running instance's place.
    Swap {
        next: Box<Prepared>,
        reply: oneshot::Sender<SwapReport>,
    },
    /// Stop the module.
    Unload { reply: oneshot::Sender<()> },
}

/// A module's status, shared with the sandbox.
pub(crate) type SharedStatus = Arc<Mutex<ModuleStatus>>;

/// Locks a status (never left half-written: each update is a few assignments).
pub(crate) fn lock(status: &SharedStatus) -> MutexGuard<'_, ModuleStatus> {
    status.lock().unwrap_or_else(|e| e.into_inner())
}

/// One module's task.
pub(crate) struct Supervisor {
    pub(crate) ctx: Arc<ModuleContext>,
    pub(crate) pre: ModulePre<InstanceState>,
    pub(crate) config: String,
    pub(crate) policy: Policy,
    pub(crate) status: SharedStatus,
    pub(crate) control: mpsc::Receiver<Control>,
    pub(crate) instance: Option<Instance>,
    /// The next back-off delay.
    pub(crate) backoff: Duration,
    /// When the next instance is to be started, while none runs.
    pub(crate) retry_at: Option<Instant>,
}

/// What the task does next.
enum Step {
    Control(Option<Control>),
    Events(Delivery),
    Timers,
    Replan,
    Health,
    Retry,
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Supervisor {
    /// Runs until the module is unloaded (or the sandbox dropped).
    pub(crate) async fn run(mut self) {
        let mut health = tokio::time::interval(self.policy.health_interval);
        health.set_missed_tick_behavior(MissedTickBehavior::Delay);
        health.tick().await;
        loop {
            let next_timer = self.ctx.timers().next();
            let step = match self.instance.as_mut() {
                Some(instance) => tokio::select! {
                    biased;
                    control = self.control.recv() => Step::Control(control),
                    () = sleep_until(next_timer) => Step::Timers,
                    () = self.ctx.timers_changed.notified() => Step::Replan,
                    Some(event) = instance.next_event() => Step::Events(event),
                    _ = health.tick() => Step::Health,
                },
                None => tokio::select! {
                    biased;
                    control = self.control.recv() => Step::Control(control),
                    () = sleep_until(self.retry_at) => Step::Retry,
                },
            };
            match step {
                Step::Control(Some(Control::Swap { next, reply })) => self.swap(*next, reply),
                Step::Control(Some(Control::Unload { reply })) => {
                    self.stop();
                    let _ = reply.send(());
                    return;
                }
                Step::Control(None) => {
                    self.stop();
                    return;
                }
                Step::Events(first) => self.deliver(first).await,
                Step::Timers => self.fire_timers().await,
                Step::Replan => {}
                Step::Health => self.check_health().await,
                Step::Retry => self.restart().await,
            }
        }
    }

    async fn deliver(&mut self, first: Delivery) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        let batch = instance.batch(first, self.policy.max_batch);
        let outcome = instance.handle_events(batch).await;
        self.after_call(outcome, "handle-events");
    }

    async fn fire_timers(&mut self) {
        let due = self.ctx.timers().take_due(Instant::now());
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        if due.is_empty() {
            return;
        }
        let outcome = instance.handle_timers(&due).await;
        if outcome.is_err() {
            // The firing is not lost with the instance: the next one gets it.
            self.ctx.timers().rearm_now(due);
        }
        self.after_call(outcome, "handle-timers");
    }

    async fn check_health(&mut self) {
        let Some(instance) = self.instance.as_mut() else {
            return;
        };
        match instance.health().await {
            Ok(health) => {
                lock(&self.status).health = Some(health);
                self.after_call(Ok(()), "health");
            }
            Err(failure) => self.after_call(Err(failure), "health"),
        }
    }

    /// Records a call's outcome: memory in use, or the failure and a restart.
    fn after_call(&mut self, outcome: Result<(), Failure>, export: &str) {
        match outcome {
            Ok(()) => {
                let memory = self.instance.as_ref().map_or(0, Instance::memory_bytes);
                lock(&self.status).memory_bytes = memory;
            }
            Err(failure) => self.failed(&format!("{export}: {failure}")),
        }
    }

    /// Drops the instance and plans the next after the back-off delay.
    fn failed(&mut self, error: &str) {
        let uptime = self.instance.take().map(|i| i.started.elapsed());
        if uptime.is_some_and(|u| u >= self.policy.backoff_reset_after) {
            self.backoff = self.policy.backoff_initial;
        }
        let delay = self.backoff;
        self.backoff = (self.backoff * 2).min(self.policy.backoff_max);
        self.retry_at = Some(Instant::now() + delay);
        {
            let mut status = lock(&self.status);
            status.phase = Phase::BackOff;
            status.last_error = Some(error.to_string());
            status.memory_bytes = 0;
            status.health = None;
        }
        self.ctx.host_log(
            LogLevel::Error,
            &format!("{error}; restarting in {delay:?}"),
        );
    }

    async fn restart(&mut self) {
        self.retry_at = None;
        lock(&self.status).restarts += 1;
        match Instance::start(&self.ctx, &self.pre, &self.config).await {
            Ok(instance) => {
                self.ctx.host_log(
                    LogLevel::Info,
                    &format!("restarted (version {})", instance.version),
                );
                self.install(instance);
            }
            Err(StartFailure {
                stage: "instantiate",
                failure,
                ..
            }) => {
                let error = format!("instantiate: {failure}");
                self.ctx.host_log(
                    LogLevel::Error,
                    &format!("{error}; not retrying until a swap"),
                );
                let mut status = lock(&self.status);
                status.phase = Phase::Failed;
                status.last_error = Some(error);
            }
            Err(failure) => self.failed(&failure.to_string()),
        }
    }

    /// Makes `instance` the running one.
    fn install(&mut self, instance: Instance) {
        let mut status = lock(&self.status);
        status.phase = Phase::Running;
        status.version = instance.version.clone();
        status.permissions = instance.permissions.clone();
        status.memory_bytes = instance.memory_bytes();
        status.health = None;
        drop(status);
        self.instance = Some(instance);
    }

    fn swap(&mut self, next: Prepared, reply: oneshot::Sender<SwapReport>) {
        let Prepared {
            instance,
            pre,
            digest,
            prepare,
        } = next;
        // The old instance is idle here (calls run one at a time in this task): from now
        // on it gets nothing; the new one takes over with the events queued for it since
        // its `init` registered its watches.
        let stopped = Instant::now();
        let version = instance.version.clone();
        let old = self.instance.take();
        self.install(instance);
        let pause = stopped.elapsed();
        drop(old);
        self.pre = pre;
        self.backoff = self.policy.backoff_initial;
        self.retry_at = None;
        let generation = {
            let mut status = lock(&self.status);
            status.generation += 1;
            status.digest = digest;
            status.generation
        };
        self.ctx.host_log(
            LogLevel::Info,
            &format!("swapped to version {version} (generation {generation}), paused {pause:?}"),
        );
        let _ = reply.send(SwapReport {
            pause,
            prepare,
            generation,
            version,
        });
    }

    fn stop(&mut self) {
        self.instance = None;
        self.retry_at = None;
        self.ctx.host_log(LogLevel::Info, "unloaded");
    }
}
