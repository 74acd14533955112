//! What belongs to a module rather than to one of its instances: identity, the kernel's API,
//! limits, log, timers, scratch and the host-call budget. Restarts and swaps replace the
//! instance; this stays.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::api::HostApi;
use crate::limits::{Epoch, Limits, TokenBucket};
use crate::logs::{LogLevel, LogRing, LogSource};
use crate::manifest::PolicyRule;
use crate::scratch::Scratch;
use crate::timers::Timers;

/// Log lines a module may write beyond its rate, and how many it lost.
#[derive(Debug)]
struct LogBudget {
    bucket: TokenBucket,
    dropped: u64,
}

/// One module's lasting state.
pub(crate) struct ModuleContext {
    /// The module's name.
    pub(crate) name: String,
    /// The kernel's API.
    pub(crate) host: Arc<dyn HostApi>,
    /// The module's limits.
    pub(crate) limits: Limits,
    /// The operator's narrowing of the module's permissions.
    pub(crate) granted: Option<Vec<PolicyRule>>,
    /// The engine's epoch (CPU deadlines).
    pub(crate) epoch: Epoch,
    /// The module's log.
    pub(crate) logs: LogRing,
    timers: Mutex<Timers>,
    /// Signalled when a timer is armed, so the module's task re-plans its sleep.
    pub(crate) timers_changed: Notify,
    scratch: Mutex<Scratch>,
    calls: Mutex<TokenBucket>,
    log_budget: Mutex<LogBudget>,
}

/// A lock whose holder cannot leave the data half-changed (every critical section here is
/// a few map operations), so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl ModuleContext {
    pub(crate) fn new(
        name: &str,
        host: Arc<dyn HostApi>,
        limits: Limits,
        granted: Option<Vec<PolicyRule>>,
        epoch: Epoch,
        log_lines: usize,
    ) -> ModuleContext {
        ModuleContext {
            name: name.to_string(),
            host,
            granted,
            epoch,
            logs: LogRing::new(name, log_lines),
            timers: Mutex::new(Timers::new(limits.timers)),
            timers_changed: Notify::new(),
            scratch: Mutex::new(Scratch::new(limits.scratch_bytes)),
            calls: Mutex::new(TokenBucket::new(
                limits.host_calls_per_second,
                limits.host_call_burst,
            )),
            log_budget: Mutex::new(LogBudget {
                bucket: TokenBucket::new(limits.log_lines_per_second, limits.log_line_burst),
                dropped: 0,
            }),
            limits,
        }
    }

    /// Takes one host call from the module's budget.
    pub(crate) fn take_call(&self) -> bool {
        lock(&self.calls).try_take()
    }

    /// A line the module wrote (its `log` import or its stdout/stderr), within its log rate.
    pub(crate) fn guest_log(&self, level: LogLevel, source: LogSource, message: &str) {
        let dropped = {
            let mut budget = lock(&self.log_budget);
            if !budget.bucket.try_take() {
                budget.dropped += 1;
                return;
            }
            std::mem::take(&mut budget.dropped)
        };
        if dropped > 0 {
            self.host_log(
                LogLevel::Warn,
                &format!("{dropped} log lines dropped: over the rate limit"),
            );
        }
        self.logs.push(level, source, message);
    }

    /// A line the sandbox writes about the module.
    pub(crate) fn host_log(&self, level: LogLevel, message: &str) {
        self.logs.push(level, LogSource::Host, message);
    }

    /// The module's timers.
    pub(crate) fn timers(&self) -> MutexGuard<'_, Timers> {
        lock(&self.timers)
    }

    /// The module's scratch space.
    pub(crate) fn scratch(&self) -> MutexGuard<'_, Scratch> {
        lock(&self.scratch)
    }
}
