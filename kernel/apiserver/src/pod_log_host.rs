//! The hook through which the node agent serves `pods/log`: the API server checks the request
//! (the pod exists, the container is one of its own, as kube-apiserver does) and asks the
//! agent, which owns the log files, for the bytes. The API server does not depend on the
//! runtime; the kernel implements [`PodLogHost`] and registers it with
//! [`Api::set_pod_log_host`](crate::Api::set_pod_log_host).

use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use http::StatusCode;

/// A container's log as it streams: chunks of text, ending when the log (or, when following,
/// the container) ends.
pub type PodLogStream = Pin<Box<dyn futures::Stream<Item = std::io::Result<Bytes>> + Send>>;

/// One `pods/log` request, checked: the pod exists and `container` is one of its containers.
pub struct PodLogRequest<'a> {
    /// The pod as stored.
    pub pod: &'a serde_json::Value,
    /// The container asked for (or the pod's only container).
    pub container: &'a str,
    /// `previous`: the container's previous instance.
    pub previous: bool,
    /// The request's query string (`follow`, `tailLines`, `sinceSeconds`, `sinceTime`,
    /// `timestamps`, `limitBytes`, …), for the host to read.
    pub query: &'a str,
}

/// Why a log cannot be served: kube's status code and message
/// (`container "x" in pod "y" is waiting to start: ContainerCreating`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLogError {
    /// The status code (400 for a container that has no log yet, as kubelet answers).
    pub code: StatusCode,
    /// The message.
    pub message: String,
}

/// What the node agent answers for the API server.
pub trait PodLogHost: Send + Sync {
    /// The log `request` asks for.
    fn logs(&self, request: PodLogRequest<'_>) -> Result<PodLogStream, PodLogError>;
}

/// The registered host, if any: set once the node agent runs pods.
#[derive(Default)]
pub(crate) struct PodLogSlot(RwLock<Option<Arc<dyn PodLogHost>>>);

impl PodLogSlot {
    /// Registers `host`, replacing any earlier one.
    pub(crate) fn set(&self, host: Arc<dyn PodLogHost>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(host);
    }

    /// The registered host.
    pub(crate) fn get(&self) -> Option<Arc<dyn PodLogHost>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
