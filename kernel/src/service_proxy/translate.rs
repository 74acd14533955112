//! Services and EndpointSlices as the API serves them → the proxy's [`ProxyState`]. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kmicro_network::Protocol;
use kmicro_network::proxy::{Endpoint, ProxyState, ServiceKey, ServicePort, SessionAffinity};

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// kube's default ClientIP affinity timeout (3 hours).
const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

/// `(namespace, name)` of an object.
pub type ObjectKey = (String, String);

/// The proxy state for `services` and `slices`; `host_ports` holds, per Service, the
/// ports servicelb serves on the host for it (its LoadBalancer ports when admitted).
pub fn proxy_state<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    host_ports: &BTreeMap<ObjectKey, BTreeSet<(Protocol, u16)>>,
) -> ProxyState {
    let mut by_service: BTreeMap<ObjectKey, Vec<&EndpointSlice>> = BTreeMap::new();
    for slice in slices {
        let ns = slice.metadata.namespace.clone().unwrap_or_default();
        let Some(svc) = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL))
        else {
            continue;
        };
        if slice.address_type != "IPv4" {
            continue;
        }
        by_service.entry((ns, svc.clone())).or_default().push(slice);
    }
    let mut state = ProxyState::default();
    for svc in services {
        let key = (
            svc.metadata.namespace.clone().unwrap_or_default(),
            svc.metadata.name.clone().unwrap_or_default(),
        );
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let cluster_ip = spec
            .cluster_ip
            .as_deref()
            .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let Some(cluster_ip) = cluster_ip else {
            continue; // headless ("None") or not IPv4: no proxying
        };
        let affinity = if spec.session_affinity.as_deref() == Some("ClientIP") {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|t| u32::try_from(t).ok())
                .filter(|t| *t > 0)
                .unwrap_or(DEFAULT_AFFINITY_SECONDS);
            SessionAffinity::ClientIp {
                timeout_seconds: timeout,
            }
        } else {
            SessionAffinity::None
        };
        let external_local = spec.external_traffic_policy.as_deref() == Some("Local");
        let slices = by_service.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        for port in spec.ports.iter().flatten() {
            let Some(protocol) = protocol(port.protocol.as_deref()) else {
                continue;
            };
            let Ok(number) = u16::try_from(port.port) else {
                continue;
            };
            let port_name = port.name.clone().unwrap_or_default();
            let node_port = port
                .node_port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0);
            let host = host_ports
                .get(&key)
                .map(|ports| {
                    ports
                        .iter()
                        .filter(|(proto, p)| *proto == protocol && *p == number)
                        .map(|(_, p)| *p)
                        .collect()
                })
                .unwrap_or_default();
            state.services.insert(
                ServiceKey {
                    namespace: key.0.clone(),
                    name: key.1.clone(),
                    port_name: port_name.clone(),
                    protocol,
                },
                ServicePort {
                    cluster_ip: Some(cluster_ip),
                    port: number,
                    node_port,
                    host_ports: host,
                    external_local,
                    affinity,
                    endpoints: ready_endpoints(slices, &port_name, protocol),
                },
            );
        }
    }
    state
}

/// The protocol of a port (`TCP` when unset), `None` for one iptables cannot match.
pub fn protocol(p: Option<&str>) -> Option<Protocol> {
    match p.unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// The ready endpoints of `slices` for the port named `port_name` (kube counts an unset
/// `ready` as ready).
fn ready_endpoints(
    slices: &[&EndpointSlice],
    port_name: &str,
    protocol: Protocol,
) -> Vec<Endpoint> {
    let mut out = BTreeSet::new();
    for slice in slices {
        let Some(number) = slice.ports.iter().flatten().find_map(|p| {
            let name = p.name.as_deref().unwrap_or("");
            let proto = self::protocol(p.protocol.as_deref())?;
            (name == port_name && proto == protocol)
                .then_some(p.port)
                .flatten()
                .and_then(|n| u16::try_from(n).ok())
        }) else {
            continue;
        };
        for ep in &slice.endpoints {
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            if !ready {
                continue;
            }
            for addr in &ep.addresses {
                if let Ok(ip) = addr.parse::<Ipv4Addr>() {
                    out.insert(Endpoint { ip, port: number });
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn slice(v: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_endpoints_by_port_name_and_headless_skipped() {
        let web = service(json!({
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"type": "NodePort", "clusterIP": "10.43.0.20", "sessionAffinity": "ClientIP",
                     "externalTrafficPolicy": "Local",
                     "ports": [{"name": "http", "port": 80, "nodePort": 30080},
                               {"name": "dns", "port": 53, "protocol": "UDP"}]}
        }));
        let headless = service(json!({
            "metadata": {"namespace": "default", "name": "db"},
            "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}
        }));
        let s = slice(json!({
            "metadata": {"namespace": "default", "name": "web-abc",
                         "labels": {SERVICE_NAME_LABEL: "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                      {"name": "dns", "port": 5353, "protocol": "UDP"}],
            "endpoints": [
                {"addresses": ["10.42.0.5"], "conditions": {"ready": true}},
                {"addresses": ["10.42.0.6"], "conditions": {"ready": false}},
                {"addresses": ["10.42.0.7"]}
            ]
        }));
        let mut lb = BTreeMap::new();
        lb.insert(
            ("default".to_string(), "web".to_string()),
            BTreeSet::from([(Protocol::Tcp, 80)]),
        );
        let state = proxy_state([&web, &headless], [&s], &lb);
        assert_eq!(state.services.len(), 2);
        let http = state
            .services
            .iter()
            .find(|(k, _)| k.port_name == "http")
            .unwrap()
            .1;
        assert_eq!(http.node_port, Some(30080));
        assert_eq!(http.host_ports, vec![80]);
        assert!(http.external_local);
        assert_eq!(
            http.affinity,
            SessionAffinity::ClientIp {
                timeout_seconds: 10_800
            }
        );
        let ips: Vec<String> = http
            .endpoints
            .iter()
            .map(|e| format!("{}:{}", e.ip, e.port))
            .collect();
        assert_eq!(ips, ["10.42.0.5:8080", "10.42.0.7:8080"]);
        let dns = state
            .services
            .iter()
            .find(|(k, _)| k.port_name == "dns")
            .unwrap();
        assert_eq!(dns.0.protocol, Protocol::Udp);
        assert_eq!(dns.1.endpoints[0].port, 5353);
        assert!(dns.1.host_ports.is_empty());
    }
}
