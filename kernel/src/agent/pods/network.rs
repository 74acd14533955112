//! A pod's network, through `kmicro-network` (the CNI plugins `loopback`, `bridge` with
//! `host-local`, `portmap`): [`attach`] gives a pod's sandbox its own address from the
//! node's pod CIDR, its loopback, a default route via the bridge and its hostPorts;
//! [`detach`] undoes it (CNI DEL, the address released). A `hostNetwork` pod has the node's
//! address and nothing to attach.
//!
//! The attachments are recorded under `<data-dir>/agent/network/pods/` by the network crate:
//! after a kmicro restart, an adopted pod's [`attach`] CHECKs its recorded attachment and
//! keeps its address; [`remove_strays`] detaches pods that disappeared meanwhile.
//!
//! Also: running a piece of work inside a pod's network namespace, on a thread of its own
//! that enters the namespace and then ends.

use std::collections::HashSet;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kmicro_container::Sandbox;
use kmicro_network::{NetworkConfig, PodNetwork, PodRef, PortMapping, Protocol};

/// The node's pod network, opened at its first use (and tried again after a failure, so
/// plugins installed later are found).
#[derive(Debug)]
pub struct Network {
    config: Result<NetworkConfig, String>,
    opened: Mutex<Option<Arc<PodNetwork>>>,
}

impl Network {
    /// The network of `config` (an error: why this node has none; attaching fails with it).
    pub fn new(config: Result<NetworkConfig, String>) -> Self {
        Network {
            config,
            opened: Mutex::new(None),
        }
    }

    /// The opened network (blocking: it finds the plugins and prepares the host).
    fn open(&self) -> anyhow::Result<Arc<PodNetwork>> {
        let config = self
            .config
            .as_ref()
            .map_err(|e| anyhow::anyhow!("the pod network is not configured: {e}"))?;
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(net) = opened.as_ref() {
            return Ok(Arc::clone(net));
        }
        let net = Arc::new(
            PodNetwork::new(config.clone()).context("the pod network (CNI) is not ready")?,
        );
        tracing::info!(
            bridge = %config.bridge,
            subnet = %config.node_subnet,
            "pod network ready"
        );
        *opened = Some(Arc::clone(&net));
        Ok(net)
    }

    /// Whether pods can be attached now (blocking: it opens the network when it is not open
    /// yet, then checks the plugins and the host are still there); the error says why not.
    /// This is the node's `NetworkReady`.
    pub fn readiness(&self) -> Result<(), String> {
        let net = self.open().map_err(|e| format!("{e:#}"))?;
        net.check_ready()
            .map_err(|e| format!("the pod network (CNI) is not ready: {e}"))
    }

    /// Whether any attachment is recorded (without opening the network).
    fn has_records(&self) -> bool {
        self.config.as_ref().is_ok_and(|c| {
            std::fs::read_dir(c.records_dir())
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
        })
    }
}

/// Connects `sandbox`'s pod to the network; answers the pod's IP. A pod attached before (an
/// adopted one) keeps its address when its attachment still checks out.
pub async fn attach(
    network: &Arc<Network>,
    sandbox: &Sandbox,
    pod: &Pod,
    node_ip: IpAddr,
) -> anyhow::Result<Option<IpAddr>> {
    if sandbox.spec.host_network {
        return Ok(Some(node_ip));
    }
    let Some(netns) = sandbox.netns_path() else {
        return Ok(None);
    };
    let pod_ref = PodRef {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        sandbox_id: sandbox.id().to_string(),
    };
    let ports = port_mappings(pod);
    let network = Arc::clone(network);
    let ip = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let net = network.open()?;
        Ok(net.setup(&pod_ref, &netns, &ports)?)
    })
    .await
    .context("attaching the pod to the network")??;
    Ok(Some(IpAddr::V4(ip.ip)))
}

/// Disconnects the pod of sandbox `sandbox_id` from the network (CNI DEL, its address
/// released), when it was attached. Repeating it does nothing.
pub async fn detach(network: &Arc<Network>, sandbox_id: &str) -> anyhow::Result<()> {
    let network = Arc::clone(network);
    let id = sandbox_id.to_string();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        if !network.has_records() {
            return Ok(());
        }
        let net = network.open()?;
        if let Some(a) = net.attachment(&id)? {
            net.teardown(&a.pod, &a.netns)?;
        }
        Ok(())
    })
    .await
    .context("detaching the pod from the network")?
}

/// Detaches every recorded pod whose uid is not in `live` (pods deleted while kmicro was
/// away); answers how many.
pub async fn remove_strays(network: &Arc<Network>, live: &HashSet<String>) -> usize {
    let network = Arc::clone(network);
    let live = live.clone();
    let removed = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        if !network.has_records() {
            return Ok(0);
        }
        let net = network.open()?;
        let mut removed = 0;
        for a in net.attachments()? {
            if live.contains(&a.pod.uid) {
                continue;
            }
            match net.teardown(&a.pod, &a.netns) {
                Ok(()) => removed += 1,
                Err(err) => tracing::warn!(
                    %err,
                    pod = %format!("{}/{}", a.pod.namespace, a.pod.name),
                    "detaching a pod that no longer exists failed"
                ),
            }
        }
        Ok(removed)
    })
    .await;
    match removed {
        Ok(Ok(n)) => n,
        Ok(Err(err)) => {
            tracing::warn!(err = %format!("{err:#}"), "looking for stray pod networks failed");
            0
        }
        Err(err) => {
            tracing::warn!(%err, "looking for stray pod networks failed");
            0
        }
    }
}

/// The pod's hostPorts as portmap takes them: every container port with a `hostPort`
/// (protocol TCP unless given, `hostIP` empty or unspecified = every address), the first of
/// any repeated host port/protocol/address kept, as kubelet does.
pub fn port_mappings(pod: &Pod) -> Vec<PortMapping> {
    let mut out: Vec<PortMapping> = Vec::new();
    let containers = pod.spec.iter().flat_map(|s| s.containers.iter());
    for port in containers.flat_map(|c| c.ports.iter().flatten()) {
        let Some(host_port) = port.host_port.filter(|p| *p > 0) else {
            continue;
        };
        let (Ok(host_port), Ok(container_port @ 1..)) =
            (u16::try_from(host_port), u16::try_from(port.container_port))
        else {
            tracing::warn!(
                host_port,
                container_port = port.container_port,
                "port out of range; no hostPort mapping"
            );
            continue;
        };
        let protocol = match port.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => Protocol::Tcp,
            "UDP" => Protocol::Udp,
            "SCTP" => Protocol::Sctp,
            other => {
                tracing::warn!(
                    protocol = other,
                    host_port,
                    "unknown protocol; no hostPort mapping"
                );
                continue;
            }
        };
        let host_ip = port
            .host_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified());
        let mapping = PortMapping {
            host_port,
            container_port,
            protocol,
            host_ip,
        };
        if out.iter().any(|m| {
            m.host_port == mapping.host_port
                && m.protocol == mapping.protocol
                && m.host_ip == mapping.host_ip
        }) {
            continue;
        }
        out.push(mapping);
    }
    out
}

/// Runs `work` on a new thread that first enters the network namespace at `netns` (so the
/// caller's threads, and tokio's, never change namespace).
pub fn in_netns<R: Send + 'static>(
    netns: &Path,
    work: impl FnOnce() -> R + Send + 'static,
) -> io::Result<R> {
    let netns: PathBuf = netns.to_path_buf();
    std::thread::Builder::new()
        .name("kmicro-netns".into())
        .spawn(move || -> io::Result<R> {
            let file = std::fs::File::open(&netns)?;
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            Ok(work())
        })?
        .join()
        .map_err(|_| io::Error::other("the network namespace thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Readiness follows the plugins: missing, not ready (with the reason); installed, ready;
    /// removed again, not ready. Needs root and the Debian CNI plugins (as the pod tests).
    #[test]
    fn readiness_follows_the_plugins() {
        let tmp = tempfile::tempdir().unwrap();
        let plugins = tmp.path().join("bin");
        std::fs::create_dir_all(&plugins).unwrap();
        let mut config = NetworkConfig::new(tmp.path().join("state"));
        config.plugin_dirs = vec![plugins.clone()];
        let network = Network::new(Ok(config));
        let why = network.readiness().unwrap_err();
        assert!(why.contains("not found in"), "{why}");
        for plugin in ["bridge", "host-local", "portmap", "loopback"] {
            std::os::unix::fs::symlink(
                Path::new("/usr/lib/cni").join(plugin),
                plugins.join(plugin),
            )
            .unwrap();
        }
        network.readiness().unwrap();
        std::fs::remove_file(plugins.join("portmap")).unwrap();
        let why = network.readiness().unwrap_err();
        assert!(why.contains("\"portmap\" not found"), "{why}");

        let unconfigured = Network::new(Err("no pod CIDR".into()));
        assert_eq!(
            unconfigured.readiness().unwrap_err(),
            "the pod network is not configured: no pod CIDR"
        );
    }

    #[test]
    fn host_ports_become_port_mappings() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [
                {"name": "a", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 81},
                    {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
                    {"containerPort": 443, "hostPort": 8443, "hostIP": "0.0.0.0"},
                ]},
                {"name": "b", "ports": [
                    {"containerPort": 90, "hostPort": 8080},
                    {"containerPort": 91, "hostPort": 8080, "protocol": "UDP"},
                    {"containerPort": 92, "hostPort": 70000},
                ]},
            ]},
        }))
        .unwrap();
        let m = |host_port, container_port, protocol, host_ip: Option<&str>| PortMapping {
            host_port,
            container_port,
            protocol,
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
        };
        assert_eq!(
            port_mappings(&pod),
            vec![
                m(8080, 80, Protocol::Tcp, None),
                m(5353, 53, Protocol::Udp, Some("127.0.0.1")),
                m(8443, 443, Protocol::Tcp, None),
                m(8080, 91, Protocol::Udp, None),
            ]
        );
    }
}
