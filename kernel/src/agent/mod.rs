//! The node agent: kubelet's job for this node. It registers the Node and keeps it alive —
//! status every 10 s when something changed and at least every 5 minutes, the Lease in
//! `kube-node-lease` renewed every 10 s — and runs the pods bound to it ([`pods`]), as
//! kubelet does.
//!
//! It reaches the API through a [`Transport`] as `system:node:<name>` (group
//! `system:nodes`), authorized by the role [`access::grant`] writes. On restart the Node is
//! updated, never re-created (its uid stays); on a clean stop it is left as it is.

pub mod access;
pub mod api;
pub mod conditions;
pub mod eviction;
pub mod flags;
mod heartbeat;
pub mod host;
pub mod kubelet_args;
pub mod lease;
pub mod node;
pub mod pod_cidr;
pub mod pods;
mod registration;
pub mod transport;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeStatus};
use tokio::task::JoinHandle;

pub use eviction::Thresholds;
pub use flags::{NodeLabel, NodeTaint, TaintEffect};
pub use host::{HostInfo, Usage};
pub use kubelet_args::KubeletArg;
pub use transport::{LocalTransport, Transport};

use api::NodeApi;

/// How often the status is computed and, when it changed, reported (kubelet's
/// `nodeStatusUpdateFrequency`); also how often the lease is renewed.
pub const STATUS_INTERVAL: Duration = Duration::from_secs(10);
/// The longest the status goes unreported (kubelet's `nodeStatusReportFrequency`).
pub const STATUS_REPORT_INTERVAL: Duration = Duration::from_secs(300);
/// The first wait after a failed registration; it doubles up to [`STATUS_INTERVAL`].
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// What the agent registers and how.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The Node's name.
    pub node_name: String,
    /// The InternalIP to report (`--node-ip`, else detected by `kmicro run`).
    pub node_ip: IpAddr,
    /// `--node-label`s, set at every start.
    pub labels: Vec<NodeLabel>,
    /// `--node-taint`s, set when the Node is registered.
    pub taints: Vec<NodeTaint>,
    /// The data dir, whose file system is the node's ephemeral storage.
    pub data_dir: PathBuf,
    /// The hard eviction thresholds (`--kubelet-arg=eviction-hard=…`, else kmicro's
    /// defaults): the pressure conditions and what allocatable holds back.
    pub eviction_hard: Thresholds,
    /// When `kmicro run` started (the registration log says how long it took).
    pub started: Instant,
    /// Where container logs go (`--pod-log-dir`, else `<data-dir>/agent/pod-logs`).
    pub log_dir: PathBuf,
    /// The cgroup pods go under, relative to each hierarchy's root (`--cgroup-root`).
    pub cgroup_root: PathBuf,
    /// The pod logs the API server's `pods/log` reads (registered with the API by the
    /// caller).
    pub pod_logs: pods::logs::LogRegistry,
    /// When unused images are collected (`--kubelet-arg=image-gc-…`).
    pub image_gc: pods::ImageGcPolicy,
    /// The running containers the API server's `pods/exec` and `pods/attach` reach
    /// (registered with the API by the caller).
    pub pod_sessions: pods::sessions::SessionRegistry,
    /// The port forwarding the API server's `pods/portforward` asks for (registered with
    /// the API by the caller).
    pub port_forward: pods::port_forward::PortForwarder,
    /// `--cluster-cidr`: the pods' addresses; the node's pod CIDR is its first /24.
    pub cluster_cidr: kmicro_network::Ipv4Cidr,
    /// `--cni-bridge`: the bridge pods' interfaces join (also the CNI network's name, but
    /// `cbr0` for k3s's `cni0`).
    pub cni_bridge: String,
    /// `--cluster-dns`, `--cluster-domain` and `--resolv-conf`: what pods' resolv.conf is
    /// made from.
    pub dns: pods::resolv_conf::NodeDns,
}

/// The running agent; dropping it stops it (the Node stays, as kubelet leaves it).
pub struct AgentHandle {
    task: JoinHandle<()>,
}

impl AgentHandle {
    /// Stops the agent.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the agent for `config`, talking to the API through `transport`.
pub fn spawn<T: Transport>(config: AgentConfig, transport: T) -> AgentHandle {
    let task = tokio::spawn(async move {
        let ip = config.node_ip;
        let Ok(host) = tokio::task::spawn_blocking(HostInfo::read).await else {
            tracing::error!("reading the host's facts failed; the node agent does not run");
            return;
        };
        let agent = Agent {
            pods_transport: Some(transport.clone()),
            pods_task: None,
            api: NodeApi::new(transport),
            config,
            host,
            ip,
            kubelet_version: String::new(),
            node: None,
            reported: None,
            lease: None,
            network: None,
        };
        agent.run().await;
    });
    AgentHandle { task }
}

/// The agent's state between rounds.
struct Agent<T> {
    api: NodeApi<T>,
    config: AgentConfig,
    host: HostInfo,
    ip: IpAddr,
    /// The API server's version, reported as the kubelet's (read at registration).
    kubelet_version: String,
    /// The Node as last read or written; `None` until registered or after it vanished.
    node: Option<Node>,
    /// The last status written (heartbeat times aside, what the next is compared with) and
    /// when.
    reported: Option<(NodeStatus, Instant)>,
    /// The Lease as last read or written.
    lease: Option<Lease>,
    /// The pod manager's way to the API, until it starts (after registration).
    pods_transport: Option<T>,
    /// The pod manager, stopped with the agent.
    pods_task: Option<AbortOnDrop>,
    /// The pod network the pod manager uses, once it runs (the node's `NetworkReady`).
    network: Option<Arc<pods::network::Network>>,
}

/// A task aborted when this is dropped (the agent's task was aborted, or ended).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T: Transport> Agent<T> {
    async fn run(mut self) {
        self.register_until_done().await;
        tracing::info!(
            node = %self.config.node_name,
            ip = %self.ip,
            since_start_ms = self.config.started.elapsed().as_millis() as u64,
            "node registered and Ready"
        );
        if let Some(transport) = self.pods_transport.take() {
            let network = Arc::new(pods::network::Network::new(self.pod_network()));
            self.network = Some(Arc::clone(&network));
            let config = pods::PodsConfig {
                node_name: self.config.node_name.clone(),
                node_ip: self.ip,
                data_dir: self.config.data_dir.clone(),
                log_dir: self.config.log_dir.clone(),
                cgroup_root: self.config.cgroup_root.clone(),
                image_gc: self.config.image_gc,
                network,
                dns: self.config.dns.clone(),
            };
            let logs = self.config.pod_logs.clone();
            let sessions = self.config.pod_sessions.clone();
            let forwarder = self.config.port_forward.clone();
            self.pods_task = Some(AbortOnDrop(tokio::spawn(pods::run(
                config, transport, logs, sessions, forwarder,
            ))));
        }
        let mut tick = tokio::time::interval(STATUS_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if self.node.is_none() {
                self.register_until_done().await;
            }
            if let Err(err) = self.renew_lease().await {
                tracing::warn!(err = %format!("{err:#}"), "renewing the node lease failed");
            }
            if let Err(err) = self.report_status(false).await {
                tracing::warn!(err = %format!("{err:#}"), "updating the node status failed");
            }
        }
    }

    /// The pod network the pod manager attaches pods to: the node's pod CIDR as registered,
    /// the bridge of `--cni-bridge`, state under `<data-dir>/agent/network`.
    fn pod_network(&self) -> Result<kmicro_network::NetworkConfig, String> {
        let node = self.node.as_ref().ok_or("the node is not registered")?;
        let subnet = pod_cidr::node_subnet(node, &self.config.cluster_cidr)?;
        let mut net =
            kmicro_network::NetworkConfig::new(self.config.data_dir.join("agent/network"));
        net.cluster_cidr = self.config.cluster_cidr;
        net.node_subnet = subnet;
        net.bridge = self.config.cni_bridge.clone();
        net.network_name = cni_network_name(&self.config.cni_bridge);
        net.validate().map_err(|e| e.to_string())?;
        Ok(net)
    }

    /// Registers, retrying with back-off until it works.
    async fn register_until_done(&mut self) {
        let mut wait = FIRST_RETRY;
        loop {
            match self.register().await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(err = %format!("{err:#}"), retry_in = ?wait, "registering the node failed");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(STATUS_INTERVAL);
                }
            }
        }
    }

    /// Why the pod network is not ready, if it is not (on a blocking thread: the first
    /// call opens it). `None` also before the pod manager runs: the network is not known
    /// yet, and kubelet reports it only once its runtime answers.
    async fn network_not_ready(&self) -> Option<String> {
        let network = Arc::clone(self.network.as_ref()?);
        match tokio::task::spawn_blocking(move || network.readiness()).await {
            Ok(Ok(())) => None,
            Ok(Err(why)) => Some(why),
            Err(err) => Some(format!("checking the pod network failed: {err}")),
        }
    }

    /// Current usage of the machine (file reads and statvfs, on a blocking thread).
    async fn usage(&self) -> Usage {
        let dir = self.config.data_dir.clone();
        tokio::task::spawn_blocking(move || Usage::read(&dir))
            .await
            .unwrap_or_default()
    }
}

/// The CNI network's name (it labels the plugins' iptables rules and IPAM state): k3s's
/// `cbr0` for its bridge `cni0`, else the bridge's own name, so clusters on other bridges
/// never share rules.
pub fn cni_network_name(bridge: &str) -> String {
    if bridge == "cni0" {
        "cbr0".to_string()
    } else {
        bridge.to_string()
    }
}

/// The current time in whole seconds, as Node conditions carry it (so a condition read back
/// compares equal to the one written).
fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    use k8s_openapi::jiff::Timestamp;
    let now = Timestamp::now();
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(now.as_second()).unwrap_or(now),
    )
}
