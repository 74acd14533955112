//! The hook through which the node agent serves `pods/exec` and `pods/attach`: the API server
//! checks the request (the pod exists and is on a node, the container is one of its own, the
//! command and streams make sense), upgrades the connection to a WebSocket and carries the
//! streams; the agent, which owns the containers, starts the process or attaches to the
//! container's stdio. The API server does not depend on the runtime; the kernel implements
//! [`PodExecHost`] and registers it with
//! [`Api::set_pod_exec_host`](crate::Api::set_pod_exec_host).

use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::StatusCode;
use tokio::sync::mpsc;

pub use crate::pod_log_host::PodLogStream as OutputStream;
pub use crate::remotecommand::{Outcome, TerminalSize};

/// One `pods/exec` or `pods/attach` request, checked.
#[derive(Debug, Clone)]
pub struct PodExecRequest {
    /// The pod as stored.
    pub pod: serde_json::Value,
    /// The container (named, or the pod's only one).
    pub container: String,
    /// The command and its arguments (exec; empty for attach).
    pub command: Vec<String>,
    /// The client sends stdin.
    pub stdin: bool,
    /// The client wants stdout.
    pub stdout: bool,
    /// The client wants stderr (never with `tty`).
    pub stderr: bool,
    /// A terminal (`-t`): output comes on stdout only, resizes apply.
    pub tty: bool,
}

impl PodExecRequest {
    /// The pod's uid.
    pub fn pod_uid(&self) -> &str {
        self.pod["metadata"]["uid"].as_str().unwrap_or("")
    }

    /// The pod's name.
    pub fn pod_name(&self) -> &str {
        self.pod["metadata"]["name"].as_str().unwrap_or("")
    }
}

/// A running session's ends, as the host hands them over.
pub struct PodSession {
    /// Where the client's stdin goes, when it sends any; dropping the sender ends the
    /// program's stdin (for exec; an attach leaves the container's stdin to its `stdinOnce`).
    pub stdin: Option<mpsc::Sender<Bytes>>,
    /// The program's stdout (with a tty: the terminal's output), until it ends.
    pub stdout: Option<OutputStream>,
    /// The program's stderr, until it ends (none with a tty).
    pub stderr: Option<OutputStream>,
    /// Sets the terminal's size (with a tty).
    pub resize: Option<Box<dyn Fn(TerminalSize) + Send + Sync>>,
    /// Resolves when the program (exec) or the container (attach) ends. Dropping it before
    /// then ends the session's own process (exec), never the container.
    pub end: BoxFuture<'static, Outcome>,
}

/// Why a session cannot start: kube's status code and message (404 `container not found
/// ("main")`, 500 for a process that could not be started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodExecError {
    /// The status code.
    pub code: StatusCode,
    /// The message.
    pub message: String,
}

/// What the node agent answers for the API server.
pub trait PodExecHost: Send + Sync {
    /// Runs `request.command` in the container, with the streams asked for.
    fn exec(&self, request: PodExecRequest)
    -> BoxFuture<'static, Result<PodSession, PodExecError>>;

    /// Connects to the running container's stdio.
    fn attach(
        &self,
        request: PodExecRequest,
    ) -> BoxFuture<'static, Result<PodSession, PodExecError>>;
}

/// The registered host, if any: set once the node agent runs pods.
#[derive(Default)]
pub(crate) struct PodExecSlot(RwLock<Option<Arc<dyn PodExecHost>>>);

impl PodExecSlot {
    /// Registers `host`, replacing any earlier one.
    pub(crate) fn set(&self, host: Arc<dyn PodExecHost>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(host);
    }

    /// The registered host.
    pub(crate) fn get(&self) -> Option<Arc<dyn PodExecHost>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
