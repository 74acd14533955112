//! ClusterIPs and NodePorts for Services, as kube-apiserver's allocators hand them out: a
//! Service that needs a cluster IP gets one from the service CIDR (10.43.0.0/16 by default,
//! as k3s), or keeps the one it asked for if that is in range and free; a `NodePort` or
//! `LoadBalancer` Service gets a node port per port from the node-port range
//! (30000–32767), likewise; a taken or out-of-range value is `422 Invalid` with kube's
//! messages.
//!
//! Every address and port in use has a reservation key in the store
//! (`/registry/kmicro.io/allocations/{clusterips,nodeports}/<value>`, the owner's namespace,
//! name and uid as its value), created in the same transaction as the Service, so servers
//! sharing a datastore never hand out the same value twice. A reservation whose owner is gone,
//! or no longer uses the value, is stale and taken over (compared at its revision): deleting
//! or changing a Service frees its values without a write of its own.

use std::net::Ipv4Addr;

use kmicro_apimachinery::registry::ResourceInfo;
use kmicro_apimachinery::status::Cause;
use kmicro_store::{Compare, KeyValue, Op};
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::storage::{Storage, TxnExtra};

const CLUSTER_IPS: &str = "/registry/kmicro.io/allocations/clusterips/";
const NODE_PORTS: &str = "/registry/kmicro.io/allocations/nodeports/";
/// Random tries before a scan of the whole range.
const RANDOM_TRIES: usize = 32;

/// The ranges Services draw from (`--service-cidr`, `--service-node-port-range`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRanges {
    /// The service CIDR's network address.
    network: Ipv4Addr,
    /// Its prefix length.
    prefix: u8,
    /// The first node port.
    first_port: u16,
    /// The last node port.
    last_port: u16,
}

impl Default for ServiceRanges {
    /// k3s's: 10.43.0.0/16 and 30000–32767.
    fn default() -> Self {
        Self {
            network: Ipv4Addr::new(10, 43, 0, 0),
            prefix: 16,
            first_port: 30000,
            last_port: 32767,
        }
    }
}

impl ServiceRanges {
    /// Ranges from a CIDR (`10.43.0.0/16`; IPv4, prefix 8 to 29) and a port range
    /// (`30000-32767`); the error names what is wrong.
    pub fn new(cidr: &str, node_ports: &str) -> Result<Self, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("service CIDR {cidr:?}: not of the form ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("service CIDR {cidr:?}: {addr:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=29).contains(p))
            .ok_or_else(|| format!("service CIDR {cidr:?}: the prefix must be 8 to 29"))?;
        let mask = u32::MAX << (32 - prefix);
        if u32::from(addr) & !mask != 0 {
            return Err(format!(
                "service CIDR {cidr:?}: host bits are set (the network is {}/{prefix})",
                Ipv4Addr::from(u32::from(addr) & mask)
            ));
        }
        let (first, last) = node_ports
            .split_once('-')
            .ok_or_else(|| format!("node port range {node_ports:?}: not of the form FIRST-LAST"))?;
        let port = |text: &str| {
            text.trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("node port range {node_ports:?}: {text:?} is not a port"))
        };
        let (first_port, last_port) = (port(first)?, port(last)?);
        if first_port > last_port {
            return Err(format!(
                "node port range {node_ports:?}: the first port is above the last"
            ));
        }
        Ok(Self {
            network: addr,
            prefix,
            first_port,
            last_port,
        })
    }

    /// The service CIDR as text (`10.43.0.0/16`).
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }

    /// The `n`th address of the service CIDR (1: the `kubernetes` Service's, 10: cluster
    /// DNS's, as k3s).
    pub fn address(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }

    /// Addresses that can be handed out: the CIDR without its network and broadcast address.
    fn usable(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }

    /// Whether `ip` may be handed out.
    fn contains(&self, ip: Ipv4Addr) -> bool {
        let offset = u32::from(ip).wrapping_sub(u32::from(self.network));
        u32::from(ip) >= u32::from(self.network) && offset >= 1 && offset <= self.usable()
    }

    fn port_range(&self) -> String {
        format!("{}-{}", self.first_port, self.last_port)
    }
}

/// The `default/kubernetes` Service at the first address of the service CIDR, port 443 to
/// the API server's `api_port` (as kube-apiserver's endpoint reconciler keeps it): created
/// when missing with its reservation, its target port brought up to date otherwise.
pub async fn ensure_kubernetes_service(
    storage: &Storage,
    ranges: &ServiceRanges,
    api_port: u16,
) -> ApiResult<()> {
    let r = kmicro_apimachinery::registry::find("", "v1", "services").expect("built in");
    let port = json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": api_port}]);
    if let Some(current) = storage.get(r, Some("default"), "kubernetes").await? {
        if current.obj["spec"]["ports"] != port {
            let mut obj = current.obj.clone();
            obj["spec"]["ports"] = port;
            // Lost to a concurrent writer: the next start tries again.
            storage
                .update(r, Some("default"), "kubernetes", &obj, current.revision)
                .await?;
        }
        return Ok(());
    }
    let ip = ranges.address(1).to_string();
    let obj = json!({
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": "kubernetes",
            "namespace": "default",
            "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": crate::object::now_rfc3339(),
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
            "sessionAffinity": "None",
            "ports": port,
        },
        "status": {"loadBalancer": {}},
    });
    let mut extra = TxnExtra::default();
    let key = ip_key(ranges.address(1));
    if !reserve(storage, &key, &Owner::of(&obj), &mut extra).await? {
        return Err(ApiError::internal(format!(
            "the kubernetes Service's address {ip} is held by another Service"
        )));
    }
    // Already there (another server was first) is fine.
    storage
        .create_with(r, Some("default"), "kubernetes", &obj, extra)
        .await?;
    Ok(())
}

/// Which values a Service holds or asks for.
struct Wanted {
    /// `Some("")` when a cluster IP is needed but not given.
    cluster_ip: Option<String>,
    /// Per port index, `0` when a node port is needed but not given.
    node_ports: Vec<(usize, i64)>,
    /// `spec.healthCheckNodePort`, when needed (`0`: not given).
    health_check: Option<i64>,
}

fn wanted(obj: &Value) -> Wanted {
    let spec = &obj["spec"];
    let kind = spec["type"].as_str().unwrap_or("ClusterIP");
    let ip = spec["clusterIP"].as_str().unwrap_or("");
    let cluster_ip = (kind != "ExternalName" && ip != "None").then(|| ip.to_string());
    let needs_node_ports = match kind {
        "NodePort" => true,
        "LoadBalancer" => spec["allocateLoadBalancerNodePorts"] != json!(false),
        _ => false,
    };
    let node_ports = if needs_node_ports {
        spec["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| (i, p["nodePort"].as_i64().unwrap_or(0)))
            .collect()
    } else {
        Vec::new()
    };
    let health_check = (kind == "LoadBalancer"
        && spec["externalTrafficPolicy"].as_str() == Some("Local"))
    .then(|| spec["healthCheckNodePort"].as_i64().unwrap_or(0));
    Wanted {
        cluster_ip,
        node_ports,
        health_check,
    }
}

/// Fills in the cluster IP and node ports `obj` (a Service about to be stored; `old` the stored
/// one on an update) needs, and answers the reservations to write with it. Values the Service
/// already held keep their reservation.
pub(crate) async fn allocate(
    storage: &Storage,
    ranges: &ServiceRanges,
    r: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
) -> ApiResult<TxnExtra> {
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
    let owner = Owner::of(obj);
    let held_before = old.map(wanted);
    let want = wanted(obj);
    let mut extra = TxnExtra::default();
    let mut causes = Vec::new();
    let mut taken: Vec<String> = Vec::new();

    if let Some(ip) = &want.cluster_ip {
        let held = held_before
            .as_ref()
            .and_then(|h| h.cluster_ip.clone())
            .filter(|h| !h.is_empty());
        if held.as_deref() == Some(ip.as_str()) {
            // Kept (the field is immutable): its reservation stands.
        } else if ip.is_empty() {
            let chosen = pick_ip(storage, ranges, &owner, &mut extra).await?;
            set_cluster_ip(obj, &chosen.to_string());
        } else {
            let field = "spec.clusterIPs[0]";
            match ip.parse::<Ipv4Addr>() {
                Ok(addr) if ranges.contains(addr) => {
                    if !reserve(storage, &ip_key(addr), &owner, &mut extra).await? {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            field,
                            format!(
                                "Invalid value: {ip:?}: failed to allocate IP {ip}: provided IP is already allocated"
                            ),
                        ));
                    }
                    set_cluster_ip(obj, ip);
                }
                Ok(_) => causes.push(Cause::new(
                    "FieldValueInvalid",
                    field,
                    format!(
                        "Invalid value: {ip:?}: failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                        ranges.cidr()
                    ),
                )),
                // Not an address: validation already refused it.
                Err(_) => {}
            }
        }
    }

    let held_ports: Vec<i64> = held_before
        .iter()
        .flat_map(|h| h.node_ports.iter().map(|(_, p)| *p).chain(h.health_check))
        .filter(|p| *p != 0)
        .collect();
    let mut requests: Vec<(String, i64)> = want
        .node_ports
        .iter()
        .map(|(i, p)| (format!("spec.ports[{i}].nodePort"), *p))
        .collect();
    if let Some(port) = want.health_check {
        requests.push(("spec.healthCheckNodePort".to_string(), port));
    }
    for (field, port) in requests {
        if port == 0 {
            let chosen = pick_port(storage, ranges, &owner, &taken, &mut extra).await?;
            taken.push(chosen.to_string());
            set_node_port(obj, &field, chosen);
            continue;
        }
        if held_ports.contains(&port) || taken.contains(&port.to_string()) {
            // Its own, from before or from another of its ports (kube lets a TCP and a UDP
            // port share a node port).
            continue;
        }
        let in_range =
            u16::try_from(port).is_ok_and(|p| (ranges.first_port..=ranges.last_port).contains(&p));
        if !in_range {
            causes.push(Cause::new(
                "FieldValueInvalid",
                field,
                format!(
                    "Invalid value: {port}: provided port is not in the valid range. The range of valid ports is {}",
                    ranges.port_range()
                ),
            ));
            continue;
        }
        if reserve(storage, &port_key(port), &owner, &mut extra).await? {
            taken.push(port.to_string());
        } else {
            causes.push(Cause::new(
                "FieldValueInvalid",
                field,
                format!("Invalid value: {port}: provided port is already allocated"),
            ));
        }
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(r, &name, causes));
    }
    Ok(extra)
}

/// Who a reservation belongs to.
#[derive(Clone, Debug)]
struct Owner {
    namespace: String,
    name: String,
    uid: String,
}

impl Owner {
    fn of(obj: &Value) -> Self {
        let meta = &obj["metadata"];
        let text = |field: &str| meta[field].as_str().unwrap_or("").to_string();
        Self {
            namespace: text("namespace"),
            name: text("name"),
            uid: text("uid"),
        }
    }

    fn value(&self) -> Vec<u8> {
        json!({"namespace": self.namespace, "name": self.name, "uid": self.uid})
            .to_string()
            .into_bytes()
    }
}

fn ip_key(ip: Ipv4Addr) -> String {
    format!("{CLUSTER_IPS}{ip}")
}

fn port_key(port: i64) -> String {
    format!("{NODE_PORTS}{port}")
}

/// Adds the reservation of `key` for `owner` to `extra` when the key is free or stale;
/// `false` when a live Service holds it.
async fn reserve(
    storage: &Storage,
    key: &str,
    owner: &Owner,
    extra: &mut TxnExtra,
) -> ApiResult<bool> {
    let current = storage.store().get(key.as_bytes()).await?;
    let compare = match current {
        None => Compare::absent(key.as_bytes()),
        Some(kv) => {
            if holder_uses(storage, &kv).await? {
                return Ok(false);
            }
            Compare::mod_revision(key.as_bytes(), kv.mod_revision)
        }
    };
    extra.compares.push(compare);
    extra.ops.push(Op::put(key.as_bytes(), owner.value()));
    Ok(true)
}

/// Whether the Service named in a reservation still exists (same uid) and uses the value.
async fn holder_uses(storage: &Storage, kv: &KeyValue) -> ApiResult<bool> {
    let Ok(holder) = serde_json::from_slice::<Value>(&kv.value) else {
        return Ok(false);
    };
    let (Some(namespace), Some(name)) = (holder["namespace"].as_str(), holder["name"].as_str())
    else {
        return Ok(false);
    };
    let Some(services) = kmicro_apimachinery::registry::find("", "v1", "services") else {
        return Ok(true);
    };
    let key = services.key(Some(namespace), name);
    let Some(service) = storage.store().get(key.as_bytes()).await? else {
        return Ok(false);
    };
    let Ok(service) = serde_json::from_slice::<Value>(&service.value) else {
        // Not JSON (a protobuf-encoded store): assume it is held.
        return Ok(true);
    };
    if service["metadata"]["uid"] != holder["uid"] {
        return Ok(false);
    }
    let key = String::from_utf8_lossy(&kv.key);
    let uses = wanted(&service);
    Ok(if let Some(ip) = key.strip_prefix(CLUSTER_IPS) {
        uses.cluster_ip.as_deref() == Some(ip)
    } else if let Some(port) = key.strip_prefix(NODE_PORTS) {
        let port: i64 = port.parse().unwrap_or(-1);
        uses.node_ports.iter().any(|(_, p)| *p == port) || uses.health_check == Some(port)
    } else {
        true
    })
}

/// A free cluster IP: random ones above the static band first (as kube prefers, leaving the
/// low addresses to Services that ask for one), then a scan.
async fn pick_ip(
    storage: &Storage,
    ranges: &ServiceRanges,
    owner: &Owner,
    extra: &mut TxnExtra,
) -> ApiResult<Ipv4Addr> {
    let usable = ranges.usable();
    let band = (usable / 16).clamp(16, 256).min(usable / 2);
    for _ in 0..RANDOM_TRIES {
        let offset = band + 1 + random_below(usable - band);
        let ip = ranges.address(offset);
        if reserve(storage, &ip_key(ip), owner, extra).await? {
            return Ok(ip);
        }
    }
    for offset in 1..=usable {
        let ip = ranges.address(offset);
        if reserve(storage, &ip_key(ip), owner, extra).await? {
            return Ok(ip);
        }
    }
    Err(ApiError::internal(format!(
        "failed to allocate a serviceIP: range is full ({})",
        ranges.cidr()
    )))
}

/// A free node port: random ones first, then a scan.
async fn pick_port(
    storage: &Storage,
    ranges: &ServiceRanges,
    owner: &Owner,
    taken: &[String],
    extra: &mut TxnExtra,
) -> ApiResult<i64> {
    let first = i64::from(ranges.first_port);
    let count = u32::from(ranges.last_port - ranges.first_port) + 1;
    let candidates = (0..RANDOM_TRIES)
        .map(|_| first + i64::from(random_below(count)))
        .chain(first..first + i64::from(count));
    for port in candidates {
        if taken.contains(&port.to_string()) {
            continue;
        }
        if reserve(storage, &port_key(port), owner, extra).await? {
            return Ok(port);
        }
    }
    Err(ApiError::internal(format!(
        "failed to allocate a nodePort: range is full ({})",
        ranges.port_range()
    )))
}

fn random_below(n: u32) -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % n.max(1)
}

fn set_cluster_ip(obj: &mut Value, ip: &str) {
    let spec = &mut obj["spec"];
    spec["clusterIP"] = json!(ip);
    spec["clusterIPs"] = json!([ip]);
    if spec["ipFamilies"].as_array().is_none_or(Vec::is_empty) {
        spec["ipFamilies"] = json!(["IPv4"]);
    }
    if spec["ipFamilyPolicy"].is_null() {
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
}

fn set_node_port(obj: &mut Value, field: &str, port: i64) {
    if field == "spec.healthCheckNodePort" {
        obj["spec"]["healthCheckNodePort"] = json!(port);
        return;
    }
    let index: usize = field
        .trim_start_matches("spec.ports[")
        .trim_end_matches("].nodePort")
        .parse()
        .unwrap_or(0);
    obj["spec"]["ports"][index]["nodePort"] = json!(port);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_name_what_is_wrong() {
        let r = ServiceRanges::new("10.43.0.0/16", "30000-32767").unwrap();
        assert_eq!(r, ServiceRanges::default());
        assert_eq!(r.address(1), Ipv4Addr::new(10, 43, 0, 1));
        assert_eq!(r.address(10), Ipv4Addr::new(10, 43, 0, 10));
        assert!(r.contains(Ipv4Addr::new(10, 43, 255, 254)));
        assert!(!r.contains(Ipv4Addr::new(10, 43, 255, 255)), "broadcast");
        assert!(!r.contains(Ipv4Addr::new(10, 43, 0, 0)), "network");
        assert!(!r.contains(Ipv4Addr::new(10, 44, 0, 1)));
        assert!(!r.contains(Ipv4Addr::new(10, 42, 0, 1)));
        for (cidr, ports, wrong) in [
            ("10.43.0.1/16", "30000-32767", "host bits"),
            ("10.43.0.0", "30000-32767", "ADDRESS/PREFIX"),
            ("fd00::/64", "30000-32767", "not an IPv4"),
            ("10.43.0.0/31", "30000-32767", "prefix"),
            ("10.43.0.0/16", "32767-30000", "above the last"),
            ("10.43.0.0/16", "30000", "FIRST-LAST"),
        ] {
            let err = ServiceRanges::new(cidr, ports).unwrap_err();
            assert!(err.contains(wrong), "{cidr} {ports}: {err}");
        }
    }

    #[test]
    fn what_a_service_needs_depends_on_its_type() {
        let svc = |spec: Value| json!({"spec": spec});
        let w = wanted(&svc(json!({"type": "ClusterIP", "ports": [{"port": 80}]})));
        assert_eq!(w.cluster_ip.as_deref(), Some(""));
        assert!(w.node_ports.is_empty());
        let w = wanted(&svc(json!({"type": "ClusterIP", "clusterIP": "None"})));
        assert_eq!(w.cluster_ip, None, "headless");
        let w = wanted(&svc(
            json!({"type": "ExternalName", "externalName": "x.example"}),
        ));
        assert_eq!(w.cluster_ip, None);
        let w = wanted(&svc(json!({
            "type": "NodePort",
            "ports": [{"port": 80}, {"port": 81, "nodePort": 30081}],
        })));
        assert_eq!(w.node_ports, vec![(0, 0), (1, 30081)]);
        let w = wanted(&svc(json!({
            "type": "LoadBalancer",
            "allocateLoadBalancerNodePorts": false,
            "ports": [{"port": 80}],
        })));
        assert!(w.node_ports.is_empty());
        let w = wanted(&svc(json!({
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "ports": [{"port": 80}],
        })));
        assert_eq!(w.health_check, Some(0));
    }
}
