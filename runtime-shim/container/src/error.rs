//! The crate's error type.

use std::path::PathBuf;

/// What went wrong, naming the file, container or field involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `read`, `mount`, …).
        op: &'static str,
        /// The file it was done to.
        path: PathBuf,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// A system call that names no file failed.
    #[error("{op}: {source}")]
    Sys {
        /// The call and its purpose.
        op: &'static str,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// The container's process failed while being set up, before running the program.
    #[error("container {id}: setting up the process failed at {step}: {source}")]
    Setup {
        /// The container (or exec session) id.
        id: String,
        /// The step of the set-up that failed (e.g. `mount /proc`, `execve /bin/sh`).
        step: String,
        /// The operating system's answer.
        #[source]
        source: std::io::Error,
    },
    /// A spec field holds a value this runtime refuses.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field (`id`, `args`, `mounts[2].target`, …).
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// No container with this id is known.
    #[error("container {0} not found")]
    NotFound(String),
    /// No sandbox with this id is known.
    #[error("sandbox {0} not found")]
    SandboxNotFound(String),
    /// A container or sandbox with this id exists already.
    #[error("{kind} {id} already exists")]
    AlreadyExists {
        /// `container` or `sandbox`.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// The container is not running (for `exec`, `kill`).
    #[error("container {0} is not running")]
    NotRunning(String),
    /// A state file could not be decoded.
    #[error("state file {path}: {reason}")]
    State {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The cgroup hierarchy lacks something a container asks for.
    #[error("cgroup {path}: {reason}")]
    Cgroup {
        /// The cgroup directory.
        path: PathBuf,
        /// What is missing or failed.
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

    pub(crate) fn sys(op: &'static str, source: impl Into<std::io::Error>) -> Self {
        Error::Sys {
            op,
            source: source.into(),
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
