//! k3s's servicelb on one node, done natively: each LoadBalancer Service without a
//! `loadBalancerClass` is served on every local address at its ports (the proxy's rules
//! send them to the Service's endpoints) and gets the node's InternalIP as its ingress. Two
//! Services cannot share a host port: the older one keeps it, the later one stays pending
//! (no ingress) with a Warning event, as k3s's servicelb pods stay pending for want of the
//! host port. Pure: what to admit and what the status should say.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use kmicro_network::Protocol;
use serde_json::{Value, json};

use super::translate::{ObjectKey, protocol};

/// The event reason of a LoadBalancer Service left pending.
pub const PENDING_REASON: &str = "LoadBalancerPortInUse";

/// Which LoadBalancer Services are served, and why the others are not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Admission {
    /// The served Services and their host ports.
    pub admitted: BTreeMap<ObjectKey, BTreeSet<(Protocol, u16)>>,
    /// The pending Services, with the message saying why.
    pub pending: BTreeMap<ObjectKey, String>,
}

/// Whether servicelb handles `svc`: a LoadBalancer with no `loadBalancerClass` and a
/// cluster IP.
pub fn handles(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer")
            && s.load_balancer_class.is_none()
            && s.cluster_ip.as_deref().is_some_and(|ip| ip != "None")
    })
}

fn key_of(svc: &Service) -> ObjectKey {
    (
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    )
}

/// Admits the LoadBalancer Services of `services`, oldest first (then by namespace and
/// name), each only if none of its ports is taken by an earlier one or `reserved` (the
/// API server's own port, with the holder's description).
pub fn admit<'a>(
    services: impl IntoIterator<Item = &'a Service>,
    reserved: &[((Protocol, u16), String)],
) -> Admission {
    let mut lbs: Vec<&Service> = services.into_iter().filter(|s| handles(s)).collect();
    lbs.sort_by_key(|s| {
        (
            s.metadata.creation_timestamp.as_ref().map(|t| t.0),
            key_of(s),
        )
    });
    let mut taken: BTreeMap<(Protocol, u16), String> = reserved.iter().cloned().collect();
    let mut out = Admission::default();
    for svc in lbs {
        let key = key_of(svc);
        let ports: BTreeSet<(Protocol, u16)> = svc
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .filter_map(|p| {
                Some((
                    protocol(p.protocol.as_deref())?,
                    u16::try_from(p.port).ok()?,
                ))
            })
            .collect();
        let clash = ports
            .iter()
            .find_map(|p| taken.get(p).map(|holder| (p, holder.clone())));
        match clash {
            Some(((proto, port), holder)) => {
                out.pending.insert(
                    key,
                    format!(
                        "port {port}/{} is already served on this node by {holder}: the Service stays pending",
                        proto.as_str().to_ascii_uppercase()
                    ),
                );
            }
            None => {
                let holder = format!("LoadBalancer Service {}/{}", key.0, key.1);
                for p in &ports {
                    taken.insert(*p, holder.clone());
                }
                out.admitted.insert(key, ports);
            }
        }
    }
    out
}

/// The `status.loadBalancer` an admitted (`Some(node IP)`) or pending (`None`) Service
/// should have.
pub fn wanted_status(node_ip: Option<IpAddr>) -> Value {
    match node_ip {
        Some(ip) => json!({"ingress": [{"ip": ip.to_string(), "ipMode": "VIP"}]}),
        None => json!({}),
    }
}

/// Whether `current` (`status.loadBalancer`, maybe null) already says what `wanted` does.
pub fn status_matches(current: &Value, wanted: &Value) -> bool {
    let ingress = |v: &Value| {
        v.get("ingress")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    ingress(current) == ingress(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lb(name: &str, created: &str, ports: &[u16], class: Option<&str>) -> Service {
        serde_json::from_value(json!({
            "metadata": {"namespace": "default", "name": name, "creationTimestamp": created},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.43.0.9", "loadBalancerClass": class,
                     "ports": ports.iter().map(|p| json!({"port": p})).collect::<Vec<_>>()}
        }))
        .unwrap()
    }

    #[test]
    fn oldest_keeps_the_port_later_one_pends() {
        let a = lb("a", "2026-01-01T00:00:00Z", &[8080], None);
        let b = lb("b", "2026-01-02T00:00:00Z", &[8080, 9090], None);
        let c = lb("c", "2026-01-03T00:00:00Z", &[9090], None);
        let other = lb("d", "2026-01-01T00:00:00Z", &[8080], Some("example.com/lb"));
        let api = lb("e", "2026-01-04T00:00:00Z", &[6443], None);
        let reserved = [((Protocol::Tcp, 6443), "the API server".to_string())];
        let adm = admit([&c, &b, &a, &other, &api], &reserved);
        let names: Vec<&str> = adm.admitted.keys().map(|k| k.1.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        assert!(adm.pending[&("default".into(), "b".into())].contains("8080/TCP"));
        assert!(adm.pending[&("default".into(), "b".into())].contains("default/a"));
        assert!(adm.pending[&("default".into(), "e".into())].contains("the API server"));
        assert!(!adm.pending.contains_key(&("default".into(), "d".into())));
    }

    #[test]
    fn status_compares_ingress_only() {
        let ip: IpAddr = "192.168.1.5".parse().unwrap();
        let want = wanted_status(Some(ip));
        assert!(status_matches(&want, &want));
        assert!(!status_matches(&Value::Null, &want));
        assert!(status_matches(&Value::Null, &wanted_status(None)));
        assert_eq!(want["ingress"][0]["ipMode"], "VIP");
    }
}
