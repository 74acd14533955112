//! The hook through which the node agent serves `pods/portforward`: the API server checks
//! the request (the pod exists, is on a node and running; the ports are ports) and speaks
//! the streaming protocol with the client; for each forwarded connection it asks the agent,
//! which owns the pod's network namespace, for a TCP connection to the pod's port. The API
//! server does not depend on the runtime; the kernel implements [`PodPortForwardHost`] and
//! registers it with [`Api::set_pod_port_forward_host`](crate::Api::set_pod_port_forward_host).

use std::sync::{Arc, PoisonError, RwLock};

use futures::future::BoxFuture;
use tokio::net::TcpStream;

/// The pod a forward goes to, as stored when the session began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForwardTarget {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its uid (the agent's key for the pod's sandbox).
    pub uid: String,
    /// `spec.hostNetwork`: the pod listens in the host's network namespace.
    pub host_network: bool,
}

/// What the node agent answers for the API server.
pub trait PodPortForwardHost: Send + Sync {
    /// A connection to `port` on the pod's loopback (`127.0.0.1` inside its network
    /// namespace). The error's text is what the client is shown.
    fn connect(
        &self,
        target: &PortForwardTarget,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<TcpStream>>;
}

/// The registered host, if any: set once the node agent runs pods.
#[derive(Default)]
pub(crate) struct PortForwardSlot(RwLock<Option<Arc<dyn PodPortForwardHost>>>);

impl PortForwardSlot {
    /// Registers `host`, replacing any earlier one.
    pub(crate) fn set(&self, host: Arc<dyn PodPortForwardHost>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(host);
    }

    /// The registered host.
    pub(crate) fn get(&self) -> Option<Arc<dyn PodPortForwardHost>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
