//! The wasmtime engine: its configuration (shared by the runtime and the build-time
//! precompile, since artifacts load only into an engine configured exactly alike), the
//! artifacts a module comes as, and the epoch ticker that drives CPU deadlines.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Engine};

use crate::error::{SandboxError, describe};
use crate::limits::Epoch;

/// What code modules are compiled to.
///
/// Architectures Cranelift supports get native code for their exact triple (a baseline CPU:
/// no features detected from the build machine, so an artifact runs on any CPU of the
/// architecture). Others run on wasmtime's Pulley interpreter: `pulley32` (armv7 and other
/// 32-bit targets) or `pulley64`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    triple: String,
}

/// Architectures with a Cranelift backend.
const CRANELIFT_ARCHES: &[&str] = &["x86_64", "aarch64", "riscv64", "riscv64gc", "s390x"];
/// 64-bit architectures without one (Pulley's 64-bit flavour).
const OTHER_64_BIT: &[&str] = &[
    "powerpc64",
    "powerpc64le",
    "loongarch64",
    "mips64",
    "mips64el",
    "sparc64",
];

impl Target {
    /// The target of the running binary.
    pub fn native() -> Target {
        Target::for_triple(env!("KMICRO_SANDBOX_TARGET"))
    }

    /// The target for a binary built for cargo's `triple` (as build scripts see `TARGET`).
    pub fn for_triple(triple: &str) -> Target {
        let arch = triple.split('-').next().unwrap_or_default();
        if CRANELIFT_ARCHES.contains(&arch) {
            Target {
                triple: triple.to_string(),
            }
        } else if OTHER_64_BIT.contains(&arch) {
            Target::pulley64()
        } else {
            Target::pulley32()
        }
    }

    /// Pulley bytecode for 32-bit hosts (armv7).
    pub fn pulley32() -> Target {
        Target {
            triple: "pulley32".into(),
        }
    }

    /// Pulley bytecode for 64-bit hosts.
    pub fn pulley64() -> Target {
        Target {
            triple: "pulley64".into(),
        }
    }

    /// The triple given to wasmtime.
    pub fn triple(&self) -> &str {
        &self.triple
    }

    /// Whether modules are interpreted (Pulley) rather than native code.
    pub fn is_pulley(&self) -> bool {
        self.triple.starts_with("pulley")
    }
}

/// Deepest wasm stack of a call.
const MAX_WASM_STACK: usize = 512 << 10;
/// Stack of the fiber an async call runs on (must exceed the wasm stack).
const ASYNC_STACK: usize = 1 << 20;

/// The engine configuration for `target`. The runtime and the build-time precompile both
/// use this function: an artifact loads only into an engine whose configuration matches
/// the one that compiled it, with the same wasmtime version.
pub fn engine_config(target: &Target) -> Result<Config, SandboxError> {
    let mut config = Config::new();
    config
        .target(target.triple())
        .map_err(|e| SandboxError::Target {
            target: target.triple().to_string(),
            message: describe(&e),
        })?;
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.max_wasm_stack(MAX_WASM_STACK);
    config.async_stack_size(ASYNC_STACK);
    if target.triple() == "pulley32" {
        // A 32-bit board has little address space: no 4 GiB reservations and guard regions;
        // memories are bounds-checked and grow (moving if they must) in 1 MiB steps.
        config.memory_reservation(0);
        config.memory_guard_size(0);
        config.memory_reservation_for_growth(1 << 20);
    }
    Ok(config)
}

/// Creates an engine for `target`.
pub(crate) fn engine(target: &Target) -> Result<Engine, SandboxError> {
    Engine::new(&engine_config(target)?).map_err(|e| SandboxError::Engine(describe(&e)))
}

/// Whether this build can compile components (the `compiler` feature): without it only
/// precompiled artifacts load.
pub const HAS_COMPILER: bool = cfg!(feature = "compiler");

/// Compiles a component (`.wasm`) for `target` into an artifact that
/// [`Artifact::Precompiled`] loads, in a binary built for that target.
#[cfg(feature = "compiler")]
pub fn precompile(wasm: &[u8], target: &Target) -> Result<Vec<u8>, SandboxError> {
    engine(target)?
        .precompile_component(wasm)
        .map_err(|e| SandboxError::Compile {
            name: "(precompile)".into(),
            message: describe(&e),
        })
}

/// Without the `compiler` feature nothing compiles: always [`SandboxError::CompilerDisabled`].
#[cfg(not(feature = "compiler"))]
pub fn precompile(_wasm: &[u8], _target: &Target) -> Result<Vec<u8>, SandboxError> {
    Err(SandboxError::CompilerDisabled("(precompile)".into()))
}

/// The code of a module.
#[derive(Clone, Debug)]
pub enum Artifact {
    /// A component (`.wasm`, `wasm32-wasip2`), compiled when loaded. Needs the `compiler`
    /// feature.
    Wasm(Arc<[u8]>),
    /// An artifact made by [`precompile`] for this binary's target, in memory. Loading it
    /// runs no compiler and copies it. Never pass bytes from elsewhere: wasmtime trusts an
    /// artifact's machine code.
    Precompiled(&'static [u8]),
    /// An artifact made by [`precompile`] for this binary's target, in a file that kmicro
    /// wrote itself: from bytes embedded in its binary (the built-in modules, unpacked into
    /// the data dir) or compiled by its own child process from an uploaded component. Loading it maps the file: its pages are the page cache's, not the
    /// process's own memory. Never name a file from elsewhere: wasmtime trusts an
    /// artifact's machine code.
    PrecompiledFile {
        /// The file.
        path: PathBuf,
        /// `sha256:<hex>` of its contents, checked by whoever wrote it.
        digest: String,
    },
}

impl Artifact {
    /// `sha256:<hex>` of the artifact's bytes.
    pub fn digest(&self) -> String {
        let bytes: &[u8] = match self {
            Artifact::Wasm(wasm) => wasm,
            Artifact::Precompiled(artifact) => artifact,
            Artifact::PrecompiledFile { digest, .. } => return digest.clone(),
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

/// The component of `artifact` for module `name`.
pub(crate) async fn component(
    engine: &Engine,
    name: &str,
    artifact: &Artifact,
) -> Result<Component, SandboxError> {
    match artifact {
        #[cfg(feature = "compiler")]
        Artifact::Wasm(wasm) => {
            let (engine, wasm) = (engine.clone(), wasm.clone());
            // Compiling takes a while: off the async workers.
            let compiled =
                tokio::task::spawn_blocking(move || Component::new(&engine, &wasm)).await;
            match compiled {
                Ok(result) => result.map_err(|e| SandboxError::Compile {
                    name: name.into(),
                    message: describe(&e),
                }),
                Err(join) => Err(SandboxError::Compile {
                    name: name.into(),
                    message: join.to_string(),
                }),
            }
        }
        #[cfg(not(feature = "compiler"))]
        Artifact::Wasm(_) => {
            let _ = engine;
            Err(SandboxError::CompilerDisabled(name.into()))
        }
        Artifact::Precompiled(artifact) => {
            deserialize(engine, artifact).map_err(|e| SandboxError::Deserialize {
                name: name.into(),
                message: describe(&e),
            })
        }
        Artifact::PrecompiledFile { path, .. } => {
            deserialize_file(engine, path).map_err(|e| SandboxError::Deserialize {
                name: name.into(),
                message: format!("{}: {}", path.display(), describe(&e)),
            })
        }
    }
}

/// Loads a precompiled artifact.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artifact: &'static [u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts that the bytes are an artifact wasmtime
    // produced (it runs their machine code). `Artifact::Precompiled` takes only `'static`
    // bytes, documented as those embedded in the binary by kmicro's own build
    // (`kmicro-builtin-modules` runs `precompile` in its build script): they are as trusted
    // as the binary itself. wasmtime still checks the header, version, target and
    // configuration and refuses a mismatch with an error.
    unsafe { Component::deserialize(engine, artifact) }
}

/// Maps a precompiled artifact from a file.
#[allow(unsafe_code)]
fn deserialize_file(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: as for `deserialize`, wasmtime trusts the file to be an artifact it produced.
    // `Artifact::PrecompiledFile` is documented to name only files kmicro wrote itself from
    // the artifacts embedded in its binary, after checking their digest, in the data dir
    // that only root can write. wasmtime maps the file privately (later changes to the file
    // do not reach the mapping) and checks header, version, target and configuration.
    unsafe { Component::deserialize_file(engine, path) }
}

/// The thread that advances the engine's epoch every tick, for CPU deadlines. A thread
/// rather than a task: it must tick even when every async worker runs guest code.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, epoch: Epoch) -> Result<EpochTicker, SandboxError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let tick = epoch.tick().max(Duration::from_millis(1));
        std::thread::Builder::new()
            .name("kmicro-epoch".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                    epoch.advance();
                }
            })
            .map_err(|e| SandboxError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_architecture() {
        assert_eq!(
            Target::for_triple("x86_64-unknown-linux-gnu").triple(),
            "x86_64-unknown-linux-gnu"
        );
        assert_eq!(
            Target::for_triple("aarch64-unknown-linux-musl").triple(),
            "aarch64-unknown-linux-musl"
        );
        assert_eq!(
            Target::for_triple("armv7-unknown-linux-gnueabihf"),
            Target::pulley32()
        );
        assert_eq!(
            Target::for_triple("arm-unknown-linux-gnueabi"),
            Target::pulley32()
        );
        assert_eq!(
            Target::for_triple("i686-unknown-linux-gnu"),
            Target::pulley32()
        );
        assert_eq!(
            Target::for_triple("loongarch64-unknown-linux-gnu"),
            Target::pulley64()
        );
        assert!(Target::pulley32().is_pulley());
        assert!(
            !Target::native().is_pulley()
                || cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64")))
        );
    }

    #[test]
    fn every_target_configures_an_engine() {
        for target in [
            Target::native(),
            Target::pulley32(),
            Target::pulley64(),
            Target::for_triple("aarch64-unknown-linux-gnu"),
        ] {
            engine_config(&target).unwrap();
        }
    }
}
