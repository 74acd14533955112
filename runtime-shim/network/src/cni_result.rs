//! Reading a CNI 1.0 result: the pod's IPv4 address on its interface.

use std::net::Ipv4Addr;

use serde_json::Value;

use crate::pod::PodIp;

/// The first IPv4 address the result gives the sandbox interface `ifname` (an `ips` entry
/// whose `interface` index names it, or that names no interface).
pub(crate) fn pod_ip(result: &Value, ifname: &str) -> Result<PodIp, String> {
    let interfaces = result
        .get("interfaces")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let sandbox_if = interfaces.iter().position(|i| {
        i.get("name").and_then(Value::as_str) == Some(ifname)
            && i.get("sandbox")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
    });
    let ips = result
        .get("ips")
        .and_then(Value::as_array)
        .ok_or("no \"ips\" list")?;
    for (n, entry) in ips.iter().enumerate() {
        let on_pod_if = match entry.get("interface") {
            None | Some(Value::Null) => true,
            Some(i) => i
                .as_u64()
                .is_some_and(|i| Some(i) == sandbox_if.map(|s| s as u64)),
        };
        if !on_pod_if {
            continue;
        }
        let address = entry
            .get("address")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("ips[{n}] has no \"address\""))?;
        let Some((ip, len)) = address.split_once('/') else {
            return Err(format!("ips[{n}].address {address:?} is not CIDR notation"));
        };
        let Ok(ip) = ip.parse::<Ipv4Addr>() else {
            continue; // IPv6
        };
        let prefix_len = len
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("ips[{n}].address {address:?} has a bad prefix length"))?;
        let gateway = match entry.get("gateway").and_then(Value::as_str) {
            None | Some("") => None,
            Some(g) => Some(
                g.parse::<Ipv4Addr>()
                    .map_err(|_| format!("ips[{n}].gateway {g:?} is not an IPv4 address"))?,
            ),
        };
        return Ok(PodIp {
            ip,
            prefix_len,
            gateway,
        });
    }
    Err(format!("no IPv4 address for interface {ifname}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bridge_result() -> Value {
        json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "cni0", "mac": "22:81:5f:f8:60:88"},
                {"name": "veth85890c7e", "mac": "26:12:3d:80:a6:0c"},
                {"name": "eth0", "mac": "06:ad:5f:4d:21:86", "sandbox": "/run/netns/p1"}
            ],
            "ips": [
                {"interface": 2, "address": "fd00::5/64", "gateway": "fd00::1"},
                {"interface": 2, "address": "10.42.0.2/24", "gateway": "10.42.0.1"}
            ],
            "routes": [{"dst": "0.0.0.0/0", "gw": "10.42.0.1"}],
            "dns": {}
        })
    }

    #[test]
    fn reads_the_pod_address() {
        let ip = pod_ip(&bridge_result(), "eth0").unwrap();
        assert_eq!(
            ip,
            PodIp {
                ip: Ipv4Addr::new(10, 42, 0, 2),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(10, 42, 0, 1)),
            }
        );
    }

    #[test]
    fn skips_addresses_of_other_interfaces() {
        let mut r = bridge_result();
        r["ips"] = json!([{"interface": 0, "address": "10.42.0.1/24"}]);
        assert_eq!(
            pod_ip(&r, "eth0").unwrap_err(),
            "no IPv4 address for interface eth0"
        );
    }

    #[test]
    fn ipam_only_result_without_interfaces() {
        let r = json!({"ips": [{"address": "10.42.0.9/24"}]});
        let ip = pod_ip(&r, "eth0").unwrap();
        assert_eq!(ip.ip, Ipv4Addr::new(10, 42, 0, 9));
        assert_eq!(ip.gateway, None);
    }

    #[test]
    fn malformed_results_are_described() {
        assert_eq!(pod_ip(&json!({}), "eth0").unwrap_err(), "no \"ips\" list");
        let r = json!({"ips": [{"address": "10.42.0.9"}]});
        assert!(pod_ip(&r, "eth0").unwrap_err().contains("not CIDR"));
        let r = json!({"ips": [{"address": "10.42.0.9/40"}]});
        assert!(pod_ip(&r, "eth0").unwrap_err().contains("prefix length"));
    }
}
