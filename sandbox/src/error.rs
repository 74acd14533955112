//! The sandbox's errors.

/// Why a sandbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The wasmtime engine could not be configured or created.
    #[error("wasmtime engine: {0}")]
    Engine(String),
    /// Raw `.wasm` was given to a build without the `compiler` feature.
    #[error(
        "module {0}: raw .wasm needs the `compiler` feature; this build loads only precompiled artifacts"
    )]
    CompilerDisabled(String),
    /// The component did not compile (not a component, invalid, unsupported features).
    #[error("module {name}: compiling its component failed: {message}")]
    Compile {
        /// The module.
        name: String,
        /// wasmtime's reason.
        message: String,
    },
    /// A precompiled artifact was refused (built for another target, engine configuration
    /// or wasmtime version).
    #[error("module {name}: its precompiled artifact does not load: {message}")]
    Deserialize {
        /// The module.
        name: String,
        /// wasmtime's reason.
        message: String,
    },
    /// An instance could not be started: it does not link against the `kmicro:module`
    /// world, it trapped, ran out of a limit, or its `describe` or `init` failed.
    #[error("module {name}: {stage} failed: {message}")]
    Start {
        /// The module.
        name: String,
        /// Which step failed.
        stage: &'static str,
        /// Why.
        message: String,
    },
    /// A module of this name is loaded already.
    #[error("module {0} is already loaded")]
    AlreadyLoaded(String),
    /// No module of this name is loaded.
    #[error("no module named {0} is loaded")]
    NotFound(String),
    /// The module name is not a DNS label (it becomes part of the user name
    /// `system:module:<name>`).
    #[error(
        "invalid module name {0:?}: must be a lower-case RFC 1123 label (a-z, 0-9, '-', at most 63)"
    )]
    InvalidName(String),
    /// The module's config is not JSON.
    #[error("module {name}: config is not JSON: {message}")]
    InvalidConfig {
        /// The module.
        name: String,
        /// The parser's reason.
        message: String,
    },
    /// The target triple is not one wasmtime knows.
    #[error("invalid compilation target {target:?}: {message}")]
    Target {
        /// The triple.
        target: String,
        /// wasmtime's reason.
        message: String,
    },
}

/// A wasmtime error as one line of text: its chain of causes, without wasm backtraces.
pub(crate) fn describe(error: &wasmtime::Error) -> String {
    let mut out = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let first = text.lines().next().unwrap_or_default().trim();
        // wasmtime adds the guest's backtrace as a context layer of its own.
        if first.is_empty()
            || first.starts_with("error while executing at wasm backtrace")
            || out.ends_with(first)
        {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(first);
    }
    const MAX: usize = 1024;
    if out.len() > MAX {
        let mut end = MAX;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push('…');
    }
    out
}
