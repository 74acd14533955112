//! Cluster DNS in `kmicro run` (k3s deploys CoreDNS for this): the `kmicro-dns` server on
//! the cluster DNS address (`--cluster-dns`, held by a dummy interface of its own, UDP and
//! TCP port 53), answering names under `--cluster-domain` from Services and EndpointSlices
//! it lists and watches through the in-process API as its own user (`system:kmicro-dns`,
//! with `system:coredns`'s rights), and forwarding other names to the resolvers of
//! `--resolv-conf`. It also keeps `kube-system/kube-dns` (Service, Endpoints,
//! EndpointSlice) as k3s has it. Stopping it removes the interface.

pub mod flags;
pub mod link;
pub mod objects;
pub mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use kmicro_apiserver::Api;
use kmicro_dns::{DnsConfig, DnsServer, Records, upstreams_from_resolv_conf};
use tokio::task::JoinHandle;

use crate::modules::kernel_user;
use crate::modules::local::LocalClient;
use state::{Keeper, Kind};

/// What the cluster DNS serves and where.
#[derive(Clone, Debug)]
pub struct ClusterDnsConfig {
    /// `--cluster-dns`: the address it listens on (the `kube-dns` Service's cluster IP).
    pub address: Ipv4Addr,
    /// `--cluster-domain`.
    pub domain: String,
    /// `--cni-bridge`: the dummy interface's name is derived from it.
    pub bridge: String,
    /// `--resolv-conf`: the upstream resolvers for other names.
    pub resolv_conf: PathBuf,
}

/// The running cluster DNS; [`ClusterDns::stop`] (or dropping it) stops its tasks and
/// removes its interface.
pub struct ClusterDns {
    interface: Option<String>,
    tasks: Vec<JoinHandle<()>>,
}

impl ClusterDns {
    /// Stops serving and removes the interface.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        if let Some(name) = self.interface.take() {
            match link::remove(&name) {
                Ok(()) => tracing::debug!(interface = %name, "cluster DNS interface removed"),
                Err(err) => {
                    tracing::warn!(interface = %name, %err, "removing the cluster DNS interface failed")
                }
            }
        }
    }
}

impl Drop for ClusterDns {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The upstream resolvers named by `path` (loopback ones included: the server runs on the
/// host), less the cluster DNS address itself.
pub fn upstreams(path: &std::path::Path, own: Ipv4Addr) -> anyhow::Result<Vec<SocketAddr>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--resolv-conf: reading {}", path.display()))?;
    let mut servers = upstreams_from_resolv_conf(&text);
    servers.retain(|s| s.ip() != IpAddr::V4(own));
    if servers.is_empty() {
        tracing::warn!(
            file = %path.display(),
            "no name servers in the resolver file: names outside the cluster domain will not resolve"
        );
    }
    Ok(servers)
}

/// Starts the cluster DNS: interface and sockets, the record followers, the `kube-dns`
/// objects. Fails when the address cannot be taken (another server holds it).
pub async fn start(api: Arc<Api>, config: ClusterDnsConfig) -> anyhow::Result<ClusterDns> {
    let upstreams = upstreams(&config.resolv_conf, config.address)?;
    let interface = link::interface_name(&config.bridge);
    let existed = link::exists(&interface);
    {
        let (name, address) = (interface.clone(), config.address);
        tokio::task::spawn_blocking(move || link::create(&name, address))
            .await?
            .with_context(|| {
                format!(
                    "creating the cluster DNS interface {interface} with {}/32",
                    config.address
                )
            })?;
    }
    // From here on the interface is ours to remove (unless it was there already and the
    // address turns out to be another server's).
    let mut dns = ClusterDns {
        interface: Some(interface.clone()),
        tasks: Vec::new(),
    };
    let addr = SocketAddr::new(IpAddr::V4(config.address), 53);
    let sockets = async {
        let udp = tokio::net::UdpSocket::bind(addr).await?;
        let tcp = tokio::net::TcpListener::bind(addr).await?;
        std::io::Result::Ok((udp, tcp))
    }
    .await;
    let (udp, tcp) = match sockets {
        Ok(sockets) => sockets,
        Err(err) => {
            if existed && err.kind() == std::io::ErrorKind::AddrInUse {
                // Another running cluster's interface: leave it.
                dns.interface = None;
            }
            return Err(err).with_context(|| {
                format!(
                    "listening on {addr} for cluster DNS (another server on this machine? give each cluster its own --cluster-dns and --cni-bridge, or pass --disable coredns)"
                )
            });
        }
    };

    let records = Arc::new(RwLock::new(Records::default()));
    let server = DnsServer::new(
        DnsConfig {
            zone: config.domain.clone(),
            upstreams: upstreams.clone(),
        },
        Arc::clone(&records),
    );
    dns.tasks.push(tokio::spawn(server.clone().serve_udp(udp)));
    dns.tasks.push(tokio::spawn(server.serve_tcp(tcp)));

    let admin = LocalClient::new(Arc::clone(&api), kernel_user());
    objects::grant(&admin)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("granting cluster DNS its access")?;
    let reader = admin.as_user(objects::dns_user());
    for (kind, collection) in [
        (Kind::Services, "/api/v1/services"),
        (
            Kind::EndpointSlices,
            "/apis/discovery.k8s.io/v1/endpointslices",
        ),
    ] {
        let mut keeper = Keeper::new(kind, Arc::clone(&records));
        dns.tasks.push(tokio::spawn(crate::informer::follow(
            reader.clone(),
            collection.to_string(),
            move |change| {
                keeper.apply(change);
                ControlFlow::Continue(())
            },
        )));
    }
    dns.tasks
        .push(tokio::spawn(objects::keep_kube_dns(admin, config.address)));
    tracing::info!(
        %addr,
        %interface,
        domain = %config.domain,
        ?upstreams,
        "cluster DNS serving"
    );
    Ok(dns)
}
