//! kmicro's pod networking: each pod's network namespace attached to the node's pod network
//! through the standard CNI plugins (`bridge` with `host-local` IPAM, `portmap`, `loopback`,
//! as Debian's `containernetworking-plugins` installs them in `/usr/lib/cni`).
//!
//! The node agent creates a pod sandbox (whose network namespace is a bind-mounted file),
//! calls [`PodNetwork::setup`] with that file and the pod's hostPorts, puts the returned
//! [`PodIp`] into `status.podIP`, and calls [`PodNetwork::teardown`] before removing the
//! sandbox. The ADD results are recorded under the state directory, so `teardown` and
//! [`PodNetwork::check`] work after kmicro restarts.
//!
//! ```no_run
//! use kmicro_network::{NetworkConfig, PodNetwork, PodRef, PortMapping, Protocol};
//! # fn main() -> Result<(), kmicro_network::Error> {
//! let net = PodNetwork::new(NetworkConfig::new("/var/lib/kmicro/agent/network"))?;
//! let pod = PodRef {
//!     namespace: "default".into(),
//!     name: "web".into(),
//!     uid: "0b7e…".into(),
//!     sandbox_id: "sb-1".into(),
//! };
//! let netns = std::path::Path::new("/var/lib/kmicro/agent/run/sandboxes/sb-1/ns/net");
//! let ports = [PortMapping { host_port: 8080, container_port: 80, protocol: Protocol::Tcp, host_ip: None }];
//! let ip = net.setup(&pod, netns, &ports)?;
//! println!("pod IP {}", ip.ip);
//! net.teardown(&pod, netns)?;
//! # Ok(()) }
//! ```

mod cidr;
mod cni_result;
mod config;
mod conflist;
mod error;
mod host;
mod masquerade;
mod network;
mod plugin;
mod pod;
pub mod proxy;
mod record;
mod remove;

pub use cidr::{Ipv4Cidr, ParseCidrError};
pub use config::{DEFAULT_PLUGIN_DIRS, NetworkConfig};
pub use conflist::CNI_VERSION;
pub use error::{Error, Result};
pub use network::PodNetwork;
pub use pod::{PodIp, PodRef, PortMapping, Protocol};
pub use record::Attachment;
pub use remove::remove_network;
