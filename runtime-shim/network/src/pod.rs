//! What the node agent hands in (a pod, its port mappings) and gets back (its address).

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The pod a network belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The sandbox id (`CNI_CONTAINERID`; names the pod's record file).
    pub sandbox_id: String,
}

impl PodRef {
    /// Checks the fields used in file names and `CNI_ARGS`.
    pub(crate) fn validate(&self) -> Result<()> {
        validate_sandbox_id(&self.sandbox_id)?;
        // CNI_ARGS is `K=V;K=V`: a ';' or '=' inside a value would change its meaning.
        for (field, value) in [
            ("namespace", &self.namespace),
            ("name", &self.name),
            ("uid", &self.uid),
        ] {
            if value.is_empty() || value.bytes().any(|b| b == b';' || b == b'=' || b < 0x21) {
                return Err(Error::request(
                    field,
                    format!("{value:?}: empty, or holds ';', '=', spaces or control characters"),
                ));
            }
        }
        Ok(())
    }

    /// `CNI_ARGS` as kubelet/containerd pass them.
    pub(crate) fn cni_args(&self) -> String {
        format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            self.namespace, self.name, self.sandbox_id, self.uid
        )
    }
}

/// Checks a sandbox id (it names a record file and the CNI container id).
pub(crate) fn validate_sandbox_id(id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 64
        || id.starts_with('.')
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(Error::request(
            "sandbox_id",
            format!("{id:?}: 1–64 characters of [A-Za-z0-9_.-], not starting with '.'"),
        ));
    }
    Ok(())
}

/// A port's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The name iptables takes (`tcp`, `udp`, `sctp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// A `hostPort`: traffic to the node's `host_port` goes to the pod's `container_port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The node's port (`hostPort`).
    pub host_port: u16,
    /// The pod's port (`containerPort`).
    pub container_port: u16,
    /// The protocol.
    pub protocol: Protocol,
    /// Only traffic to this node address (`hostIP`); all local addresses when `None`.
    pub host_ip: Option<IpAddr>,
}

/// Checks port mappings; the error names the entry and field.
pub(crate) fn validate_port_mappings(mappings: &[PortMapping]) -> Result<()> {
    for (i, m) in mappings.iter().enumerate() {
        if m.host_port == 0 {
            return Err(Error::request(
                format!("port_mappings[{i}].host_port"),
                "0 (pass only ports with a hostPort)",
            ));
        }
        if m.container_port == 0 {
            return Err(Error::request(
                format!("port_mappings[{i}].container_port"),
                "0",
            ));
        }
        if let Some(j) = mappings[..i].iter().position(|o| {
            o.host_port == m.host_port && o.protocol == m.protocol && o.host_ip == m.host_ip
        }) {
            return Err(Error::request(
                format!("port_mappings[{i}]"),
                format!("repeats port_mappings[{j}]'s host port and protocol"),
            ));
        }
    }
    Ok(())
}

/// `runtimeConfig.portMappings` for portmap.
pub(crate) fn runtime_port_mappings(mappings: &[PortMapping]) -> serde_json::Value {
    serde_json::Value::Array(
        mappings
            .iter()
            .map(|m| {
                serde_json::json!({
                    "hostPort": m.host_port,
                    "containerPort": m.container_port,
                    "protocol": m.protocol,
                    "hostIP": m.host_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                })
            })
            .collect(),
    )
}

/// A pod's address, for `status.podIP`/`podIPs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIp {
    /// The pod's IPv4 address on `eth0`.
    pub ip: Ipv4Addr,
    /// Its prefix length (the node subnet's).
    pub prefix_len: u8,
    /// The pod's default gateway (the bridge), when the result names one.
    pub gateway: Option<Ipv4Addr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodRef {
        PodRef {
            namespace: "default".into(),
            name: "web-0".into(),
            uid: "6f1c7b2e-1a2b-4c3d-9e8f-001122334455".into(),
            sandbox_id: "sb-1".into(),
        }
    }

    #[test]
    fn cni_args_as_kubelet() {
        assert_eq!(
            pod().cni_args(),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;\
             K8S_POD_INFRA_CONTAINER_ID=sb-1;K8S_POD_UID=6f1c7b2e-1a2b-4c3d-9e8f-001122334455"
        );
    }

    #[test]
    fn refuses_bad_pods() {
        for (field, change) in [
            (
                "sandbox_id",
                Box::new(|p: &mut PodRef| p.sandbox_id = "../x".into()) as Box<dyn Fn(&mut PodRef)>,
            ),
            (
                "sandbox_id",
                Box::new(|p: &mut PodRef| p.sandbox_id = String::new()),
            ),
            (
                "name",
                Box::new(|p: &mut PodRef| p.name = "a;K8S_POD_UID=x".into()),
            ),
            (
                "namespace",
                Box::new(|p: &mut PodRef| p.namespace = String::new()),
            ),
        ] {
            let mut p = pod();
            change(&mut p);
            match p.validate() {
                Err(Error::InvalidRequest { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        pod().validate().unwrap();
    }

    #[test]
    fn port_mappings() {
        let m = |host_port, container_port| PortMapping {
            host_port,
            container_port,
            protocol: Protocol::Tcp,
            host_ip: None,
        };
        validate_port_mappings(&[m(80, 8080), m(443, 8443)]).unwrap();
        let err = validate_port_mappings(&[m(80, 8080), m(0, 1)]).unwrap_err();
        assert!(
            err.to_string().contains("port_mappings[1].host_port"),
            "{err}"
        );
        let err = validate_port_mappings(&[m(80, 8080), m(80, 1)]).unwrap_err();
        assert!(
            err.to_string().contains("repeats port_mappings[0]"),
            "{err}"
        );
        let udp = PortMapping {
            protocol: Protocol::Udp,
            host_ip: Some("192.0.2.1".parse().unwrap()),
            ..m(80, 53)
        };
        validate_port_mappings(&[m(80, 8080), udp.clone()]).unwrap();
        assert_eq!(
            runtime_port_mappings(&[m(80, 8080), udp]),
            serde_json::json!([
                {"hostPort": 80, "containerPort": 8080, "protocol": "tcp", "hostIP": ""},
                {"hostPort": 80, "containerPort": 53, "protocol": "udp", "hostIP": "192.0.2.1"},
            ])
        );
    }
}
