//! The hook through which the kernel's module supervisor serves what only it knows: the bytes
//! of the modules built into the binary and the modules' log lines. The API server does not
//! depend on the sandbox; the kernel implements [`ModuleHost`] and registers it with
//! [`Api::set_module_host`](crate::Api::set_module_host).

use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use tokio::sync::broadcast;

/// What the kernel's module supervisor answers for the API server.
pub trait ModuleHost: Send + Sync {
    /// The component of the built-in module `name` (a Module with `spec.source.builtin`), or
    /// `None` when the binary has no module of that name.
    fn builtin_source(&self, name: &str) -> Option<Bytes>;

    /// The log of module `name`, or `None` when the host has no log for it (never loaded).
    /// `tail` limits the kept lines returned to the last ones; `follow` asks for the lines
    /// that come after them too.
    fn logs(&self, name: &str, tail: Option<usize>, follow: bool) -> Option<ModuleLog>;
}

/// The answer to [`ModuleHost::logs`].
pub struct ModuleLog {
    /// Lines already kept, oldest first, without their newlines.
    pub lines: Vec<String>,
    /// When following: every line logged after `lines`. The stream ends when the sender is
    /// dropped (the module was unloaded). A receiver that falls behind loses lines and is told
    /// how many.
    pub follow: Option<broadcast::Receiver<String>>,
}

/// The registered host, if any: set once the kernel's supervisor is running.
#[derive(Default)]
pub(crate) struct HostSlot(RwLock<Option<Arc<dyn ModuleHost>>>);

impl HostSlot {
    /// Registers `host`, replacing any earlier one.
    pub(crate) fn set(&self, host: Arc<dyn ModuleHost>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(host);
    }

    /// The registered host.
    pub(crate) fn get(&self) -> Option<Arc<dyn ModuleHost>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
