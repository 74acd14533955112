//! Builds components of the `modules/` workspace for `wasm32-wasip2` with a nested cargo.
//!
//! Used by `kmicro-builtin-modules`' build script (the built-in modules embedded in kmicro)
//! and by the sandbox's tests (the test modules). The nested cargo runs in a clean
//! environment: everything the outer cargo set for *its* build (target, flags, wrappers such
//! as clippy's, profile, output directory) is removed, so the modules are built the same way
//! whoever starts the outer build. The jobserver (`CARGO_MAKEFLAGS`) is kept, so the nested
//! build shares the outer build's job slots.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every module is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Variables the outer cargo sets for a build script or a test that must not reach the
/// nested cargo.
const REMOVED_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_LINKER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "TARGET",
    "HOST",
    "OPT_LEVEL",
    "DEBUG",
    "PROFILE",
    "OUT_DIR",
    "NUM_JOBS",
    "CARGO_TARGET_TMPDIR",
];

/// Prefixes of such variables (features, cfgs, package metadata, profile and target
/// settings, `links` metadata).
const REMOVED_PREFIXES: &[&str] = &[
    "CARGO_ENCODED_",
    "CARGO_FEATURE_",
    "CARGO_CFG_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_BIN_EXE_",
    "CARGO_BUILD_",
    "CARGO_PROFILE_",
    "CARGO_TARGET_",
    "DEP_",
];

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// cargo could not be started.
    #[error("cannot run {cargo}: {source}")]
    Spawn {
        /// The cargo binary.
        cargo: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// cargo ran and failed; its diagnostics went to stderr.
    #[error("`cargo build --target {WASM_TARGET}` of {packages} failed ({status})")]
    Failed {
        /// The packages asked for.
        packages: String,
        /// cargo's exit status.
        status: std::process::ExitStatus,
    },
    /// cargo succeeded but did not report a `.wasm` for a package.
    #[error("cargo built no .wasm for package {0}")]
    NoArtifact(String),
}

/// One built component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Built {
    /// The cargo package.
    pub package: String,
    /// The component (`.wasm`) cargo wrote.
    pub wasm: PathBuf,
}

/// A build of some packages of one modules workspace.
#[derive(Clone, Debug)]
pub struct WasmBuild {
    manifest: PathBuf,
    target_dir: PathBuf,
    packages: Vec<String>,
}

impl WasmBuild {
    /// A release build of `packages` of the workspace whose `Cargo.toml` is `manifest`,
    /// with its own `target_dir` (keep it between builds: the nested build is incremental).
    pub fn new(manifest: &Path, target_dir: &Path, packages: &[&str]) -> WasmBuild {
        WasmBuild {
            manifest: manifest.to_path_buf(),
            target_dir: target_dir.to_path_buf(),
            packages: packages.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// The nested cargo command, environment cleaned.
    pub fn command(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        for (name, _) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            if REMOVED_VARIABLES.contains(&name)
                || REMOVED_PREFIXES.iter().any(|p| name.starts_with(p))
            {
                command.env_remove(name);
            }
        }
        command
            .arg("build")
            .arg("--release")
            .arg("--message-format=json-render-diagnostics")
            .arg("--target")
            .arg(WASM_TARGET)
            .arg("--manifest-path")
            .arg(&self.manifest)
            .arg("--target-dir")
            .arg(&self.target_dir);
        for package in &self.packages {
            command.arg("-p").arg(package);
        }
        if let Some(dir) = self.manifest.parent() {
            // The modules workspace's directory, so its rust-toolchain (the repository's)
            // applies, not the caller's working directory.
            command.current_dir(dir);
        }
        command
    }

    /// Runs the build (diagnostics go to stderr) and answers each package's component.
    pub fn run(&self) -> Result<Vec<Built>, BuildError> {
        if self.packages.is_empty() {
            return Ok(Vec::new());
        }
        let mut command = self.command();
        command.stderr(std::process::Stdio::inherit());
        let output = command.output().map_err(|source| BuildError::Spawn {
            cargo: format!("{:?}", command.get_program()),
            source,
        })?;
        if !output.status.success() {
            return Err(BuildError::Failed {
                packages: self.packages.join(", "),
                status: output.status,
            });
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        self.packages
            .iter()
            .map(|package| {
                wasm_of(&stdout, package)
                    .map(|wasm| Built {
                        package: package.clone(),
                        wasm,
                    })
                    .ok_or_else(|| BuildError::NoArtifact(package.clone()))
            })
            .collect()
    }
}

/// The `.wasm` file a `compiler-artifact` message of cargo's JSON output names for
/// `package` (a message per line).
fn wasm_of(messages: &str, package: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| package_name(m["package_id"].as_str().unwrap_or_default()) == Some(package))
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

/// The package name in a cargo package id: `path+file:///…/dir#name@0.1.0`,
/// `path+file:///…/name#0.1.0` or the older `name 0.1.0 (path+file:///…)`.
fn package_name(id: &str) -> Option<&str> {
    if let Some((url, fragment)) = id.rsplit_once('#') {
        return match fragment.split_once('@') {
            Some((name, _version)) => Some(name),
            None => url.rsplit('/').next(),
        };
    }
    id.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_of_every_id_shape() {
        assert_eq!(
            package_name("path+file:///w/modules/tests/mirror#kmicro-test-mirror@0.1.0"),
            Some("kmicro-test-mirror")
        );
        assert_eq!(
            package_name("path+file:///w/modules/scheduler#0.1.0"),
            Some("scheduler")
        );
        assert_eq!(
            package_name("scheduler 0.1.0 (path+file:///w/modules/scheduler)"),
            Some("scheduler")
        );
    }

    #[test]
    fn the_wasm_of_a_package_is_found_among_messages() {
        let messages = [
            r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#serde@1.0.0","filenames":["/t/libserde.rlib"]}"#,
            r#"{"reason":"compiler-artifact","package_id":"path+file:///m/tests/mirror#kmicro-test-mirror@0.1.0","filenames":["/t/kmicro_test_mirror.wasm","/t/kmicro_test_mirror.rlib"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            wasm_of(&messages, "kmicro-test-mirror"),
            Some(PathBuf::from("/t/kmicro_test_mirror.wasm"))
        );
        assert_eq!(wasm_of(&messages, "serde"), None);
    }

    #[test]
    fn the_nested_cargo_does_not_inherit_the_outer_build() {
        // Only variables present in this process can be removed; a test runs under cargo,
        // which sets CARGO_PKG_NAME and CARGO_MANIFEST_DIR.
        let build = WasmBuild::new(Path::new("/m/Cargo.toml"), Path::new("/t"), &["a"]);
        let command = build.command();
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_string_lossy().into_owned())
            .collect();
        assert!(removed.iter().any(|n| n == "CARGO_PKG_NAME"), "{removed:?}");
        assert!(
            removed.iter().any(|n| n == "CARGO_MANIFEST_DIR"),
            "{removed:?}"
        );
        let args: Vec<_> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--target", WASM_TARGET]),
            "{args:?}"
        );
        assert!(args.windows(2).any(|w| w == ["-p", "a"]), "{args:?}");
    }
}
