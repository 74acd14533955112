//! What the sandbox reports about a module.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::manifest::PolicyRule;

/// Where a module is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Its first instance is being started.
    Starting,
    /// An instance is running.
    Running,
    /// The last instance failed; a new one starts after a delay (1 s doubling to 60 s).
    BackOff,
    /// Its component cannot be instantiated (it does not link, or does not fit its
    /// limits); nothing is retried until a swap brings another artifact.
    Failed,
}

/// The module's own view of its health (its `health` export), asked from time to time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether it is doing its work.
    pub ready: bool,
    /// Why not, or what it is doing.
    pub message: String,
}

/// A module's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleStatus {
    /// The module's name.
    pub name: String,
    /// Where it is in its life.
    pub phase: Phase,
    /// The version its `describe` reported (empty before the first instance described
    /// itself).
    pub version: String,
    /// The permissions it declared.
    pub permissions: Vec<PolicyRule>,
    /// The operator's narrowing of them (`None`: as declared).
    pub granted: Option<Vec<PolicyRule>>,
    /// Instances started after a failure.
    pub restarts: u32,
    /// Linear memory of the running instance, bytes (0 when none runs).
    pub memory_bytes: usize,
    /// Why the last instance failed.
    pub last_error: Option<String>,
    /// Artifacts loaded so far: 1 after `load`, one more per successful swap.
    pub generation: u64,
    /// `sha256:<hex>` of the bytes loaded (raw component or precompiled artifact).
    pub digest: String,
    /// The last answer of its `health` export.
    pub health: Option<Health>,
}

/// The outcome of a hot swap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapReport {
    /// The pause: from the moment the old instance stopped being given work to the moment
    /// the new one was in its place.
    pub pause: Duration,
    /// Compiling, instantiating, `describe` and `init` of the new instance, while the old
    /// one kept running.
    pub prepare: Duration,
    /// The module's generation after the swap.
    pub generation: u64,
    /// The new instance's version.
    pub version: String,
}
