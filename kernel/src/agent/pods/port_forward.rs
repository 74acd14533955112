//! The API server's `pods/portforward` hook: a TCP connection to a port on the pod's
//! loopback, made inside the pod's network namespace (the host's for `hostNetwork` pods).
//! The socket is created on a thread that entered the namespace and keeps working there
//! once handed to tokio.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use kmicro_apiserver::{PodPortForwardHost, PortForwardTarget};
use tokio::net::TcpStream;

use super::Shared;
use super::network::in_netns;
use crate::agent::transport::Transport;

/// How long a connection to the pod's port may take (loopback: only a stuck pod is slow).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the pods' sandboxes are: the pod manager, once it runs.
trait PodSandboxes: Send + Sync {
    /// The network namespace of pod `uid`'s sandbox (`None`: the host's).
    fn netns(&self, uid: &str) -> io::Result<Option<PathBuf>>;
}

impl<T: Transport> PodSandboxes for Shared<T> {
    fn netns(&self, uid: &str) -> io::Result<Option<PathBuf>> {
        self.runtime
            .sandbox(uid)
            .map(|sandbox| sandbox.netns_path())
            .map_err(|err| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("the pod has no sandbox on this node: {err}"),
                )
            })
    }
}

/// The hook, registered with the API before the pod manager starts; the manager attaches
/// itself once it runs.
#[derive(Clone, Default)]
pub struct PortForwarder {
    pods: Arc<OnceLock<Weak<dyn PodSandboxes>>>,
}

impl std::fmt::Debug for PortForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PortForwarder")
    }
}

impl PortForwarder {
    /// Connections go through `shared`'s sandboxes from now on.
    pub(super) fn attach<T: Transport>(&self, shared: &Arc<Shared<T>>) {
        let pods: Arc<dyn PodSandboxes> = shared.clone();
        let _ = self.pods.set(Arc::downgrade(&pods));
    }
}

impl PodPortForwardHost for PortForwarder {
    fn connect(
        &self,
        target: &PortForwardTarget,
        port: u16,
    ) -> BoxFuture<'static, io::Result<TcpStream>> {
        let pods = self.pods.get().and_then(Weak::upgrade);
        let uid = target.uid.clone();
        Box::pin(async move {
            let pods = pods
                .ok_or_else(|| io::Error::other("the node agent's pod manager is not running"))?;
            let netns = tokio::task::spawn_blocking(move || pods.netns(&uid))
                .await
                .map_err(io::Error::other)??;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let dial = move || -> io::Result<std::net::TcpStream> {
                let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
                stream.set_nonblocking(true)?;
                stream.set_nodelay(true)?;
                Ok(stream)
            };
            let inside = netns.is_some();
            let connected = match netns {
                Some(netns) => tokio::task::spawn_blocking(move || in_netns(&netns, dial))
                    .await
                    .map_err(io::Error::other)?
                    .and_then(|r| r),
                None => tokio::task::spawn_blocking(dial)
                    .await
                    .map_err(io::Error::other)?,
            };
            let stream = connected.map_err(|err| {
                let place = if inside {
                    "inside the pod's network namespace"
                } else {
                    "on the host (hostNetwork)"
                };
                io::Error::new(
                    err.kind(),
                    format!("failed to connect to localhost:{port} {place}: {err}"),
                )
            })?;
            TcpStream::from_std(stream)
        })
    }
}
