//! What a node's pod network looks like: addresses, bridge, plugins, state.

use std::path::PathBuf;
use std::time::Duration;

use crate::cidr::Ipv4Cidr;
use crate::error::{Error, Result};

/// The CNI plugin directories searched by default, in order: Debian's
/// `containernetworking-plugins`, then the upstream location.
pub const DEFAULT_PLUGIN_DIRS: [&str; 2] = ["/usr/lib/cni", "/opt/cni/bin"];

/// A node's pod network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// The cluster's pod CIDR (k3s: `10.42.0.0/16`). The node subnet must lie inside.
    pub cluster_cidr: Ipv4Cidr,
    /// This node's pod subnet (k3s gives its first node `10.42.0.0/24`). Pods get addresses
    /// from it; its first address is the bridge's (the pods' gateway).
    pub node_subnet: Ipv4Cidr,
    /// The bridge the pods' veths join (`cni0`, as k3s).
    pub bridge: String,
    /// The MTU of the bridge and pod interfaces.
    pub mtu: u32,
    /// The CNI network name (`cbr0`, as k3s); it names iptables chains and IPAM state.
    pub network_name: String,
    /// Where the plugin binaries are looked for, in order (also `CNI_PATH`).
    pub plugin_dirs: Vec<PathBuf>,
    /// kmicro's network state: `ipam/` (host-local's `dataDir`), `net.d/` (the config list
    /// written for inspection) and `pods/` (each pod's recorded ADD result).
    pub state_dir: PathBuf,
    /// The longest one plugin call may take before it is killed.
    pub plugin_timeout: Duration,
}

impl NetworkConfig {
    /// k3s's defaults (`10.42.0.0/16`, node subnet `10.42.0.0/24`, `cni0`, MTU 1500,
    /// `/usr/lib/cni` then `/opt/cni/bin`) with the given state directory.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        NetworkConfig {
            cluster_cidr: Ipv4Cidr::new([10, 42, 0, 0].into(), 16).expect("valid constant"),
            node_subnet: Ipv4Cidr::new([10, 42, 0, 0].into(), 24).expect("valid constant"),
            bridge: "cni0".to_string(),
            mtu: 1500,
            network_name: "cbr0".to_string(),
            plugin_dirs: DEFAULT_PLUGIN_DIRS.iter().map(PathBuf::from).collect(),
            state_dir: state_dir.into(),
            plugin_timeout: Duration::from_secs(30),
        }
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !self.cluster_cidr.contains_net(&self.node_subnet) {
            return Err(Error::config(
                "node_subnet",
                format!(
                    "{} is not inside the cluster CIDR {}",
                    self.node_subnet, self.cluster_cidr
                ),
            ));
        }
        if self.node_subnet.prefix_len() > 30 {
            return Err(Error::config(
                "node_subnet",
                format!(
                    "{} leaves no room for a gateway and pods (at most /30)",
                    self.node_subnet
                ),
            ));
        }
        // Linux interface names: 1–15 bytes, no '/', no whitespace, not "." or "..".
        let b = &self.bridge;
        if b.is_empty()
            || b.len() > 15
            || b == "."
            || b == ".."
            || b.bytes()
                .any(|c| c == b'/' || c == b':' || c.is_ascii_whitespace() || c < 0x21)
        {
            return Err(Error::config(
                "bridge",
                format!("{b:?} is not a Linux interface name (1–15 bytes, no '/', ':' or spaces)"),
            ));
        }
        if !(576..=65535).contains(&self.mtu) {
            return Err(Error::config(
                "mtu",
                format!("{} is outside 576–65535", self.mtu),
            ));
        }
        let n = &self.network_name;
        if n.is_empty()
            || n.len() > 64
            || !n
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        {
            return Err(Error::config(
                "network_name",
                format!("{n:?}: 1–64 characters of [A-Za-z0-9_.-]"),
            ));
        }
        if self.plugin_dirs.is_empty() {
            return Err(Error::config("plugin_dirs", "empty"));
        }
        if let Some(d) = self.plugin_dirs.iter().find(|d| !d.is_absolute()) {
            return Err(Error::config(
                "plugin_dirs",
                format!("{} is not an absolute path", d.display()),
            ));
        }
        if !self.state_dir.is_absolute() {
            return Err(Error::config(
                "state_dir",
                format!("{} is not an absolute path", self.state_dir.display()),
            ));
        }
        if self.plugin_timeout.is_zero() {
            return Err(Error::config("plugin_timeout", "zero"));
        }
        Ok(())
    }

    /// The bridge's address, the pods' gateway: the node subnet's first address.
    pub fn gateway(&self) -> std::net::Ipv4Addr {
        self.node_subnet
            .nth(1)
            .expect("validated subnets have a first address")
    }

    /// host-local's `dataDir`.
    pub fn ipam_dir(&self) -> PathBuf {
        self.state_dir.join("ipam")
    }

    /// Where the recorded ADD results live.
    pub fn records_dir(&self) -> PathBuf {
        self.state_dir.join("pods")
    }

    /// Where the network config list is written for inspection.
    pub fn conflist_path(&self) -> PathBuf {
        self.state_dir.join("net.d/10-kmicro.conflist")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NetworkConfig {
        NetworkConfig::new("/var/lib/kmicro/agent/network")
    }

    #[test]
    fn defaults_are_k3s_and_valid() {
        let c = config();
        c.validate().unwrap();
        assert_eq!(c.cluster_cidr.to_string(), "10.42.0.0/16");
        assert_eq!(c.node_subnet.to_string(), "10.42.0.0/24");
        assert_eq!(c.gateway().to_string(), "10.42.0.1");
        assert_eq!(c.bridge, "cni0");
        assert_eq!(
            c.ipam_dir(),
            PathBuf::from("/var/lib/kmicro/agent/network/ipam")
        );
    }

    #[test]
    fn names_the_bad_field() {
        type Change = Box<dyn Fn(&mut NetworkConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "node_subnet",
                Box::new(|c| c.node_subnet = "10.43.0.0/24".parse().unwrap()),
            ),
            (
                "node_subnet",
                Box::new(|c| c.node_subnet = "10.42.0.0/31".parse().unwrap()),
            ),
            (
                "bridge",
                Box::new(|c| c.bridge = "a-very-long-bridge0".into()),
            ),
            ("bridge", Box::new(|c| c.bridge = "br/0".into())),
            ("bridge", Box::new(|c| c.bridge = String::new())),
            ("mtu", Box::new(|c| c.mtu = 100)),
            ("network_name", Box::new(|c| c.network_name = "a b".into())),
            ("plugin_dirs", Box::new(|c| c.plugin_dirs.clear())),
            (
                "plugin_dirs",
                Box::new(|c| c.plugin_dirs = vec!["cni".into()]),
            ),
            ("state_dir", Box::new(|c| c.state_dir = "state".into())),
            (
                "plugin_timeout",
                Box::new(|c| c.plugin_timeout = Duration::ZERO),
            ),
        ];
        for (field, change) in cases {
            let mut c = config();
            change(&mut c);
            match c.validate() {
                Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
