//! kmicro's wasmtime host: it runs the control plane's modules (WebAssembly components of the
//! `kmicro:module` world, `sandbox/wit/module.wit`), each in its own store and task.
//!
//! - **Contract**: a module imports `api` (the Kubernetes API, through [`HostApi`], which the
//!   kernel implements), `log`, `clock` (timers) and `scratch` (small state), and exports
//!   `describe`, `init`, `handle-events`, `handle-timers` and `health`. A std guest also
//!   imports WASI 0.2, which it gets with nothing granted: no files, environment, arguments
//!   or network; its stdout and stderr go to its log.
//! - **Manifest**: `describe` declares the module's API access as RBAC rules; every call
//!   outside them is refused with a 403 before it reaches the kernel.
//! - **Limits** ([`Limits`]): linear memory, CPU time per call (epoch interruption, guest
//!   time only), host-call rate (429 beyond), scratch bytes, watches, timers.
//! - **Failures**: a trap, a limit hit or an error from an export restarts that module only,
//!   after an exponential back-off.
//! - **Hot swap** ([`Sandbox::swap`]): the new version is started beside the old one and
//!   takes its place only once initialised; no watch event is lost.
//! - **Artifacts** ([`Artifact`]): raw components (compiled at load, feature `compiler`) or
//!   artifacts precompiled by the build for this binary's target ([`engine_config`],
//!   [`precompile`]); on armv7 modules run on wasmtime's Pulley interpreter.
//!
//! Only this crate depends on wasmtime.

mod api;
mod bindings;
mod context;
mod convert;
mod engine;
mod error;
mod host;
mod informer;
mod instance;
mod limits;
mod logs;
mod manifest;
mod sandbox;
mod scratch;
mod status;
mod stdio;
mod supervisor;
mod timers;
mod validate;

pub use api::{
    ApiCall, ApiError, DeleteOptions, HostApi, ListOptions, PatchType, RawEventType, RawWatchEvent,
    ResourceRef, Verb, WatchStream, WriteOptions,
};
pub use engine::{Artifact, HAS_COMPILER, Target, engine_config, precompile};
pub use error::SandboxError;
pub use limits::Limits;
pub use logs::{LogLevel, LogLine, LogSource, MAX_LINE_BYTES};
pub use manifest::PolicyRule;
pub use sandbox::{ModuleSpec, Sandbox, SandboxSettings};
pub use status::{Health, ModuleStatus, Phase, SwapReport};
