//! What the proxy knows: the Services with their ports and ready endpoints, and the
//! instance's settings. Plain data, filled by the caller from the API.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use crate::cidr::Ipv4Cidr;
use crate::pod::Protocol;

/// The instance's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// The per-instance chain prefix ([`super::chain_prefix`]), ending in `-`.
    pub prefix: String,
    /// The pod network (`--cluster-cidr`): traffic to a cluster IP from elsewhere is
    /// masqueraded so replies come back through this node.
    pub cluster_cidr: Ipv4Cidr,
    /// The packet mark bit asking for masquerade (kube-proxy's `0x4000`).
    pub masquerade_bit: u32,
}

impl ProxyConfig {
    /// Settings with kube-proxy's masquerade bit.
    pub fn new(prefix: impl Into<String>, cluster_cidr: Ipv4Cidr) -> Self {
        ProxyConfig {
            prefix: prefix.into(),
            cluster_cidr,
            masquerade_bit: 0x4000,
        }
    }
}

/// A Service port's identity: namespace, name, port name and protocol.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    /// The Service's namespace.
    pub namespace: String,
    /// The Service's name.
    pub name: String,
    /// The port's name (empty for a single unnamed port).
    pub port_name: String,
    /// The port's protocol.
    pub protocol: Protocol,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port_name.is_empty() {
            write!(f, ":{}", self.port_name)?;
        }
        Ok(())
    }
}

/// How repeated connections from one client pick an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionAffinity {
    /// Each new connection picks an endpoint at random.
    #[default]
    None,
    /// A client IP sticks to its endpoint for this many seconds after its last connection
    /// (`sessionAffinityConfig.clientIP.timeoutSeconds`, kube's default 10800).
    ClientIp {
        /// The stickiness timeout in seconds.
        timeout_seconds: u32,
    },
}

/// One ready endpoint of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    /// The endpoint's address (a pod IP, or a local host address).
    pub ip: Ipv4Addr,
    /// The endpoint's port.
    pub port: u16,
}

/// One port of a Service, with everything needed to route it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// The Service's cluster IP (`None` for headless Services, which get no cluster-IP rules).
    pub cluster_ip: Option<Ipv4Addr>,
    /// The Service port.
    pub port: u16,
    /// The node port, when the Service has one.
    pub node_port: Option<u16>,
    /// Ports served on every local address besides the node port (servicelb's
    /// LoadBalancer ports).
    pub host_ports: Vec<u16>,
    /// Whether external traffic keeps its client address (`externalTrafficPolicy: Local`).
    pub external_local: bool,
    /// The session affinity.
    pub affinity: SessionAffinity,
    /// The ready endpoints (order does not matter; rules list them sorted).
    pub endpoints: Vec<Endpoint>,
}

/// The whole state the rules are built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyState {
    /// Every Service port, by identity.
    pub services: BTreeMap<ServiceKey, ServicePort>,
}
