//! The crate's error type.

use std::path::PathBuf;

/// What went wrong while configuring pod networking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is unusable (`field` names it).
    #[error("invalid network config: {field}: {reason}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// A pod reference or port mapping handed to `setup`/`teardown` is unusable.
    #[error("invalid pod network request: {field}: {reason}")]
    InvalidRequest {
        /// The field (`sandbox_id`, `port_mappings[1].host_port`, …).
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// A CNI plugin binary is in none of the plugin directories.
    #[error("CNI plugin {plugin:?} not found in {dirs:?}")]
    PluginNotFound {
        /// The plugin type (`bridge`, `portmap`, …).
        plugin: String,
        /// The directories searched.
        dirs: Vec<PathBuf>,
    },
    /// A host program the plugins need is missing.
    #[error("{program} not found in PATH: {needed_by}")]
    MissingProgram {
        /// The program (`iptables`).
        program: &'static str,
        /// What needs it.
        needed_by: &'static str,
    },
    /// A CNI plugin ran and reported an error (CNI's JSON error on stdout, or its exit status
    /// and stderr when it printed none).
    #[error("CNI plugin {plugin} {command} failed{}: {msg}{}", code.map(|c| format!(" (code {c})")).unwrap_or_default(), if details.is_empty() { String::new() } else { format!(": {details}") })]
    Plugin {
        /// The plugin type.
        plugin: String,
        /// `ADD`, `DEL` or `CHECK`.
        command: &'static str,
        /// CNI's error code, when the plugin printed one.
        code: Option<u32>,
        /// CNI's `msg` (or the exit status and stderr).
        msg: String,
        /// CNI's `details`.
        details: String,
    },
    /// A CNI plugin did not finish in time and was killed.
    #[error("CNI plugin {plugin} {command} did not finish within {seconds} s and was killed")]
    PluginTimeout {
        /// The plugin type.
        plugin: String,
        /// `ADD`, `DEL` or `CHECK`.
        command: &'static str,
        /// The timeout.
        seconds: u64,
    },
    /// A CNI plugin answered something that is not a CNI result.
    #[error("CNI plugin {plugin} {command} returned a malformed result: {reason}")]
    BadResult {
        /// The plugin type.
        plugin: String,
        /// `ADD`, `DEL` or `CHECK`.
        command: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or process operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `run CNI plugin`, …).
        op: &'static str,
        /// The file or program.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `check` was asked about a sandbox with no recorded attachment.
    #[error("sandbox {sandbox_id} has no recorded pod network attachment")]
    NotAttached {
        /// The sandbox id.
        sandbox_id: String,
    },
    /// A recorded pod network state file is unreadable.
    #[error("pod network record {}: {reason}", path.display())]
    Record {
        /// The record file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn request(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
