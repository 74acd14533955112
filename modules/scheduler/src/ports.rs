//! Host ports: which a pod asks for and whether two claims collide (kube's `HostPortInfo`).

use kmicro_module_sdk::k8s_openapi::api::core::v1::Pod;

/// The address every interface listens on: a claim there collides with any address.
const ANY_ADDRESS: &str = "0.0.0.0";

/// One host port claim: address, protocol and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Host address, `0.0.0.0` when unset.
    pub ip: String,
    /// `TCP` (when unset), `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: i32,
}

impl HostPort {
    /// A claim, with kube's defaults for an empty address and protocol.
    pub fn new(ip: Option<&str>, protocol: Option<&str>, port: i32) -> Self {
        let ip = ip.filter(|ip| !ip.is_empty()).unwrap_or(ANY_ADDRESS);
        let protocol = protocol.filter(|p| !p.is_empty()).unwrap_or("TCP");
        Self {
            ip: ip.to_string(),
            protocol: protocol.to_string(),
            port,
        }
    }

    /// Whether this claim and `other` cannot both be held on one node.
    pub fn collides_with(&self, other: &HostPort) -> bool {
        self.port == other.port
            && self.protocol == other.protocol
            && (self.ip == other.ip || self.ip == ANY_ADDRESS || other.ip == ANY_ADDRESS)
    }
}

/// The host ports `pod` claims: ports with a `hostPort` of its containers and of its sidecars
/// (init containers with `restartPolicy: Always`, which run beside them).
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(sidecars)
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|port| *port > 0)?;
            Some(HostPort::new(
                p.host_ip.as_deref(),
                p.protocol.as_deref(),
                port,
            ))
        })
        .collect()
}

/// Whether any of `wanted` collides with a claim in `used`.
pub fn conflict<'a>(wanted: &[HostPort], used: impl Iterator<Item = &'a HostPort> + Clone) -> bool {
    wanted
        .iter()
        .any(|w| used.clone().any(|u| w.collides_with(u)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort::new(Some(ip), Some(protocol), port)
    }

    #[test]
    fn same_port_and_protocol_collide_on_overlapping_addresses() {
        assert!(hp("", "", 80).collides_with(&hp("0.0.0.0", "TCP", 80)));
        assert!(hp("10.0.0.1", "TCP", 80).collides_with(&hp("", "TCP", 80)));
        assert!(hp("", "TCP", 80).collides_with(&hp("10.0.0.1", "TCP", 80)));
        assert!(hp("10.0.0.1", "TCP", 80).collides_with(&hp("10.0.0.1", "TCP", 80)));
    }

    #[test]
    fn different_address_protocol_or_port_do_not_collide() {
        assert!(!hp("10.0.0.1", "TCP", 80).collides_with(&hp("10.0.0.2", "TCP", 80)));
        assert!(!hp("", "TCP", 80).collides_with(&hp("", "UDP", 80)));
        assert!(!hp("", "TCP", 80).collides_with(&hp("", "TCP", 81)));
    }

    #[test]
    fn only_ports_with_a_host_port_count() {
        use crate::testing::{container, pod_with};
        use kmicro_module_sdk::k8s_openapi::api::core::v1::ContainerPort;
        let mut c = container(&[]);
        c.ports = Some(vec![
            ContainerPort {
                container_port: 8080,
                host_port: Some(80),
                ..Default::default()
            },
            ContainerPort {
                container_port: 9090,
                ..Default::default()
            },
        ]);
        let mut sidecar = c.clone();
        sidecar.restart_policy = Some("Always".into());
        let plain_init = c.clone();
        let pod = pod_with(vec![c], vec![sidecar, plain_init]);
        assert_eq!(host_ports(&pod), vec![hp("", "", 80), hp("", "", 80)]);
        assert!(conflict(&[hp("", "TCP", 80)], host_ports(&pod).iter()));
        assert!(!conflict(&[hp("", "TCP", 81)], host_ports(&pod).iter()));
    }
}
