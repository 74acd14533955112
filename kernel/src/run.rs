//! `kmicro run`: a whole single-node cluster in this process (today: the store, the API
//! server with its interim controllers, and the node agent registering this node). Flags
//! follow k3s's `server` command.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use kmicro_apiserver::auth::Authenticator;
use kmicro_apiserver::service_accounts::tokens::ServiceAccountTokens;
use kmicro_apiserver::service_alloc::ServiceRanges;
use kmicro_apiserver::{Api, Server, Storage};
use kmicro_pki::{KubeconfigOptions, Pki, PkiConfig, ServiceAccountKey, TokenFile};
use kmicro_store::{CompactionPolicy, RedbConfig, RedbStore, Store, spawn_compactor};

use crate::agent::{
    self, AgentConfig, AgentHandle, KubeletArg, LocalTransport, NodeLabel, NodeTaint,
};
use crate::cluster_dns::{self, ClusterDnsConfig};
use crate::components::{self, Component};

/// Arguments of `kmicro run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Where kmicro keeps its state, certificates and kubeconfig.
    #[arg(
        long,
        short = 'd',
        default_value = "/var/lib/kmicro",
        env = "KMICRO_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// The HTTPS port of the API server.
    #[arg(long, default_value_t = 6443)]
    pub https_listen_port: u16,
    /// The address the API server listens on.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind_address: IpAddr,
    /// Extra host names or IP addresses for the serving certificate (repeatable or
    /// comma-separated).
    #[arg(long = "tls-san", value_delimiter = ',')]
    pub tls_san: Vec<String>,
    /// This node's name (default: the host name, lower-cased); the node agent registers
    /// under it.
    #[arg(long)]
    pub node_name: Option<String>,
    /// The address the node reports as its InternalIP (default: the first IPv4 address of an
    /// up, non-loopback interface, else 127.0.0.1).
    #[arg(long)]
    pub node_ip: Option<IpAddr>,
    /// A label for the node, `key=value`, applied at every start (repeatable or
    /// comma-separated).
    #[arg(long = "node-label", value_delimiter = ',', value_parser = NodeLabel::parse)]
    pub node_labels: Vec<NodeLabel>,
    /// A taint for the node, `key=value:Effect`, applied when the node registers (repeatable
    /// or comma-separated).
    #[arg(long = "node-taint", value_delimiter = ',', value_parser = NodeTaint::parse)]
    pub node_taints: Vec<NodeTaint>,
    /// A kubelet flag for the node agent, `key=value` as k3s takes it (repeatable;
    /// `key+=value` adds to kmicro's default). Supported: `eviction-hard` (kubelet's syntax,
    /// `memory.available<100Mi,nodefs.available<10%`; it replaces the default thresholds, so
    /// signals left out have none).
    #[arg(long = "kubelet-arg", value_name = "KEY=VALUE", value_parser = KubeletArg::parse)]
    pub kubelet_args: Vec<KubeletArg>,
    /// Run no node agent: serve the API only, with no Node.
    #[arg(long)]
    pub disable_agent: bool,
    /// Run no service proxy (kube-proxy's job: the iptables rules taking Services' cluster
    /// IPs, node ports and load-balancer ports to their endpoints).
    #[arg(long)]
    pub disable_kube_proxy: bool,
    /// The address the `kubernetes` Service's endpoints list, which pods reach the API
    /// server at (default: the --bind-address when it is a specific address, else the node
    /// IP; with --disable-agent, the first non-loopback address).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
    /// Where container logs are written (kubelet's `/var/log/pods`; default
    /// `<data-dir>/agent/pod-logs`).
    #[arg(long)]
    pub pod_log_dir: Option<PathBuf>,
    /// The cgroup pods run under, relative to the root of each cgroup hierarchy: give every
    /// kmicro on one machine its own.
    #[arg(long, default_value = "kmicro")]
    pub cgroup_root: PathBuf,
    /// The range Services' cluster IPs come from; the `kubernetes` Service gets its first
    /// address (as k3s).
    #[arg(long, default_value = "10.43.0.0/16")]
    pub service_cidr: String,
    /// The range Services' node ports come from (as k3s).
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// The IPv4 network pods take their addresses from (k3s's `--cluster-cidr`); the node's
    /// pod CIDR is its first /24.
    #[arg(long, default_value = "10.42.0.0/16")]
    pub cluster_cidr: kmicro_network::Ipv4Cidr,
    /// The bridge the pods' interfaces join (k3s's `cni0`): give every kmicro on one machine
    /// its own, with its own `--cluster-cidr`.
    #[arg(long, default_value = "cni0")]
    pub cni_bridge: String,
    /// The cluster DNS address (k3s's `--cluster-dns`): the `kube-system/kube-dns` Service's
    /// cluster IP and pods' name server; it must lie in `--service-cidr` (default: its tenth
    /// address, 10.43.0.10).
    #[arg(long)]
    pub cluster_dns: Option<Ipv4Addr>,
    /// The cluster's DNS domain (k3s's `--cluster-domain`).
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// The resolver file naming the name servers for names outside the cluster domain, and
    /// the resolvers of `dnsPolicy: Default` pods (k3s's `--resolv-conf`).
    #[arg(long, default_value = "/etc/resolv.conf")]
    pub resolv_conf: PathBuf,
    /// Packaged components not to run (k3s's `--disable`; repeatable or comma-separated).
    #[arg(
        long = "disable",
        value_name = "COMPONENT",
        value_delimiter = ',',
        value_enum
    )]
    pub disable: Vec<Component>,
    /// Do not run the built-in scheduler module.
    #[arg(long)]
    pub disable_scheduler: bool,
    /// Do not run the built-in controllers module (kube-controller-manager's work).
    #[arg(long)]
    pub disable_controller_manager: bool,
    /// Also write the admin kubeconfig here.
    #[arg(long, short = 'o')]
    pub write_kubeconfig: Option<PathBuf>,
    /// File mode of the written kubeconfigs, in octal.
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    pub write_kubeconfig_mode: u32,
    /// Where cluster state lives: empty for the embedded store, or `etcd://host:port[,…]`.
    #[arg(long, env = "KMICRO_DATASTORE_ENDPOINT")]
    pub datastore_endpoint: Option<String>,
    /// Page cache of the embedded store, in MiB: its main memory cost. Smaller saves memory
    /// on small boards at the price of slower large lists (`kmicro bench api` measures both).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub datastore_cache_mib: u16,
}

/// Refuses a `--cni-bridge` that is no interface name, or a `--cluster-cidr` too narrow for
/// a node subnet, before anything starts.
fn check_pod_network_flags(args: &RunArgs, data_dir: &Path) -> anyhow::Result<()> {
    let mut net = kmicro_network::NetworkConfig::new(data_dir.join("agent/network"));
    net.cluster_cidr = args.cluster_cidr;
    net.node_subnet = agent::pod_cidr::first_node_subnet(&args.cluster_cidr);
    net.bridge = args.cni_bridge.clone();
    net.network_name = agent::cni_network_name(&args.cni_bridge);
    net.validate().map_err(|e| match e {
        kmicro_network::Error::InvalidConfig {
            field: "bridge",
            reason,
        } => {
            anyhow::anyhow!("--cni-bridge: {reason}")
        }
        kmicro_network::Error::InvalidConfig {
            field: "node_subnet",
            reason,
        } => {
            anyhow::anyhow!("--cluster-cidr: {reason}")
        }
        other => anyhow::anyhow!("pod network flags: {other}"),
    })
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("{s:?} is not an octal file mode such as 600 or 644"))
}

/// Runs the cluster until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = absolute(&args.data_dir)?;
    let kubelet = agent::kubelet_args::resolve(&args.kubelet_args)?;
    let service_ranges = ServiceRanges::new(&args.service_cidr, &args.service_node_port_range)
        .map_err(|e| anyhow::anyhow!("--service-cidr / --service-node-port-range: {e}"))?;
    check_pod_network_flags(&args, &data_dir)?;
    let dns_address = cluster_dns::flags::cluster_dns_address(&args.service_cidr, args.cluster_dns)
        .map_err(anyhow::Error::msg)?;
    let cluster_domain =
        cluster_dns::flags::cluster_domain(&args.cluster_domain).map_err(anyhow::Error::msg)?;
    let resolv_conf = absolute(&args.resolv_conf)?;
    let node_name = if args.disable_agent {
        None
    } else {
        Some(
            agent::flags::node_name(args.node_name.as_deref(), &hostname())
                .map_err(anyhow::Error::msg)?,
        )
    };
    if node_name.is_some() {
        // The agent's first write (the Node) needs the built-in kinds' schemas for its
        // managedFields; building them (about 0.1 s) overlaps the store and PKI start-up
        // instead of delaying the node's registration. They are kept once built either way.
        tokio::task::spawn_blocking(|| {
            kmicro_openapi::builtin_schemas();
        });
    }
    create_private_dir(&data_dir)?;
    let _lock = lock_data_dir(&data_dir)?;
    crate::memory::spawn_trimmer();

    let store = open_store(
        &data_dir,
        args.datastore_endpoint.as_deref(),
        args.datastore_cache_mib,
    )
    .await?;
    let compactor = spawn_compactor(store.clone(), CompactionPolicy::default());

    let node_ip = args.node_ip.unwrap_or_else(detected_node_ip);
    let advertise = advertise_address(&args, node_ip);
    let server_dir = data_dir.join("server");
    // Pods reach the API server at the `kubernetes` Service's IP, DNATed to the advertise
    // address: both must be in the serving certificate (reissued when the SANs change).
    let mut sans = args.tls_san.clone();
    sans.push(service_ranges.address(1).to_string());
    sans.push(advertise.to_string());
    let pki = Pki::load_or_create(&PkiConfig {
        dir: server_dir.join("tls"),
        sans,
    })
    .context("preparing the cluster certificates")?;
    let service_account_key = ServiceAccountKey::load_or_create(&server_dir.join("tls"))
        .context("preparing the service-account token key")?;
    let tokens = TokenFile::load_or_create(&server_dir.join("tokens.csv"))
        .context("preparing the token file")?;

    let addr = SocketAddr::new(args.bind_address, args.https_listen_port);
    let client_host = match args.bind_address {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let storage = Storage::new(store.clone());
    let authenticator = Authenticator {
        tokens: Some(tokens),
        service_accounts: Some(ServiceAccountTokens::new(service_account_key)),
    };
    let api = Arc::new(
        Api::new(
            storage,
            authenticator,
            format!("{client_host}:{}", args.https_listen_port),
        )
        .with_service_ranges(service_ranges)
        .with_advertise_address(advertise),
    );
    api.bootstrap()
        .await
        .map_err(|e| anyhow::anyhow!(e.message))
        .context("creating the default namespaces, RBAC policy and service accounts")?;

    let root_ca = crate::root_ca::spawn(Arc::clone(&api), pki.server_ca_pem().to_string());
    let dns = if components::disabled(&args.disable, Component::Coredns) {
        None
    } else {
        let config = ClusterDnsConfig {
            address: dns_address,
            domain: cluster_domain.clone(),
            bridge: args.cni_bridge.clone(),
            resolv_conf: resolv_conf.clone(),
        };
        Some(
            cluster_dns::start(Arc::clone(&api), config)
                .await
                .context("starting cluster DNS")?,
        )
    };
    let tls = pki.server_config().context("configuring TLS")?;
    let server = Server::bind(addr, tls, api.clone())
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let bound = server.local_addr()?;
    let url = match client_host {
        IpAddr::V6(ip) => format!("https://[{ip}]:{}", bound.port()),
        IpAddr::V4(ip) => format!("https://{ip}:{}", bound.port()),
    };
    let kubeconfig = KubeconfigOptions {
        server: url.clone(),
        ca_pem: pki.server_ca_pem().to_string(),
        client_cert_pem: pki.admin_cert_pem().to_string(),
        client_key_pem: pki.admin_key_pem().to_string(),
        mode: args.write_kubeconfig_mode,
    };
    let default_kubeconfig = data_dir.join("kubeconfig.yaml");
    kmicro_pki::write_kubeconfig(&default_kubeconfig, &kubeconfig)
        .context("writing the kubeconfig")?;
    if let Some(extra) = &args.write_kubeconfig {
        kmicro_pki::write_kubeconfig(&absolute(extra)?, &kubeconfig)
            .context("writing --write-kubeconfig")?;
    }
    let disabled: Vec<&str> = [
        (args.disable_scheduler, "scheduler"),
        (args.disable_controller_manager, "controllers"),
    ]
    .into_iter()
    .filter_map(|(off, name)| off.then_some(name))
    .collect();
    let _modules = crate::modules::start(Arc::clone(&api), &data_dir, &disabled)
        .await
        .context("starting the control-plane modules")?;
    api.set_ready();
    let agent = match &node_name {
        Some(name) => {
            let pod_logs = agent::pods::logs::LogRegistry::default();
            api.set_pod_log_host(Arc::new(pod_logs.clone()));
            let pod_sessions = agent::pods::sessions::SessionRegistry::default();
            api.set_pod_exec_host(Arc::new(pod_sessions.clone()));
            let port_forward = agent::pods::port_forward::PortForwarder::default();
            api.set_pod_port_forward_host(Arc::new(port_forward.clone()));
            let log_dir = match &args.pod_log_dir {
                Some(dir) => absolute(dir)?,
                None => data_dir.join("agent").join("pod-logs"),
            };
            let config = AgentConfig {
                node_name: name.clone(),
                node_ip,
                labels: args.node_labels.clone(),
                taints: args.node_taints.clone(),
                data_dir: data_dir.clone(),
                eviction_hard: kubelet.eviction_hard.clone(),
                started,
                log_dir,
                cgroup_root: args.cgroup_root.clone(),
                pod_logs,
                image_gc: kubelet.image_gc,
                pod_sessions,
                port_forward,
                cluster_cidr: args.cluster_cidr,
                cni_bridge: args.cni_bridge.clone(),
                dns: agent::pods::resolv_conf::NodeDns {
                    cluster_dns: vec![IpAddr::V4(dns_address)],
                    domain: cluster_domain.clone(),
                    host_file: resolv_conf.clone(),
                },
            };
            Some(start_agent(&api, config).await?)
        }
        None => None,
    };
    let proxy = if node_name.is_some() && !args.disable_kube_proxy {
        let options = crate::service_proxy::ProxyOptions {
            bridge: args.cni_bridge.clone(),
            cluster_cidr: args.cluster_cidr,
            node_ip,
            servicelb: !components::disabled(&args.disable, Component::Servicelb),
            api_port: bound.port(),
        };
        Some(
            crate::service_proxy::ServiceProxy::start(Arc::clone(&api), options)
                .await
                .context("starting the service proxy")?,
        )
    } else {
        if node_name.is_some() {
            // Rules a crashed earlier run left behind would keep redirecting traffic.
            let prefix = kmicro_network::proxy::chain_prefix(&args.cni_bridge);
            match tokio::task::spawn_blocking(move || kmicro_network::proxy::remove(&prefix)).await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!(%err, "removing leftover service proxy rules"),
                Err(err) => tracing::warn!(%err, "removing leftover service proxy rules"),
            }
        }
        None
    };
    let node = node_name.as_deref().unwrap_or("none (--disable-agent)");
    tracing::info!(%url, %node, "API server ready");
    eprintln!("kmicro is running: API server {url}, node {node}");
    eprintln!("kubeconfig: {}", default_kubeconfig.display());

    server
        .serve(async {
            shutdown_signal().await;
            // The Node stays registered, as kubelet leaves it.
            if let Some(agent) = &agent {
                agent.stop();
            }
        })
        .await;
    eprintln!("kmicro: stopping");
    if let Some(proxy) = proxy {
        proxy.shutdown().await;
    }
    if let Some(dns) = dns {
        dns.stop();
    }
    root_ca.abort();
    compactor.abort();
    drop(api);
    store.close().await.context("closing the store")?;
    Ok(())
}

/// Lets node `config.node_name` in (its role and binding), and starts its agent, calling the
/// API in-process as `system:node:<name>`.
async fn start_agent(api: &Arc<Api>, config: AgentConfig) -> anyhow::Result<AgentHandle> {
    tracing::info!(eviction_hard = %config.eviction_hard, "hard eviction thresholds");
    for signal in config.eviction_hard.unevaluated() {
        tracing::warn!(
            %signal,
            "eviction-hard: kmicro's node agent does not measure this signal yet; its threshold has no effect"
        );
    }
    agent::access::grant(api, &config.node_name)
        .await
        .context("granting the node agent its access")?;
    let user = agent::access::agent_user(&config.node_name);
    Ok(agent::spawn(config, LocalTransport::new(api.clone(), user)))
}

/// The node's InternalIP when `--node-ip` is not given (the agent reports this one): the first
/// IPv4 address of an up, non-loopback interface, else 127.0.0.1.
fn detected_node_ip() -> IpAddr {
    agent::host::first_ipv4()
        .map(IpAddr::V4)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// `--advertise-address`, else the bind address when it is a specific one (the only address
/// the server answers on), else the node IP (with `--disable-agent`: the first non-loopback
/// address, which `node_ip` holds unless `--node-ip` was given).
fn advertise_address(args: &RunArgs, node_ip: IpAddr) -> IpAddr {
    if let Some(ip) = args.advertise_address {
        return ip;
    }
    if !args.bind_address.is_unspecified() {
        return args.bind_address;
    }
    if args.disable_agent {
        return detected_node_ip();
    }
    node_ip
}

/// Resolves when SIGINT or SIGTERM arrives.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(%err, "cannot watch SIGTERM");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn open_store(
    data_dir: &Path,
    endpoint: Option<&str>,
    cache_mib: u16,
) -> anyhow::Result<Arc<dyn Store>> {
    match endpoint.filter(|e| !e.is_empty()) {
        None => {
            let path = data_dir.join("server").join("db").join("state.redb");
            let mut config = RedbConfig::new(&path);
            config.cache_size = usize::from(cache_mib) << 20;
            let store = RedbStore::open(config)
                .await
                .context("opening the embedded store")?;
            Ok(Arc::new(store))
        }
        #[cfg(feature = "etcd")]
        Some(url) if url.starts_with("etcd://") || url.starts_with("http://") => {
            let store = kmicro_store::EtcdStore::from_url(url)
                .await
                .with_context(|| format!("connecting to {url}"))?;
            store
                .current_revision()
                .await
                .with_context(|| format!("reaching etcd at {url}"))?;
            Ok(Arc::new(store))
        }
        Some(other) => bail!(
            "--datastore-endpoint {other:?} is not supported: use etcd://host:port, or leave it empty for the embedded store"
        ),
    }
}

/// Holds an exclusive lock on the data dir for as long as it lives.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("kmicro.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another kmicro is already running with data dir {} (it holds {}); stop it first or pass a different --data-dir",
            dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating data dir {}", dir.display()))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// The host name (`uname -n`), or `kmicro` when it has none.
fn hostname() -> String {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_string();
    if name.is_empty() || name == "(none)" {
        "kmicro".to_string()
    } else {
        name
    }
}
