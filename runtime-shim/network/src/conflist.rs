//! The CNI network configuration lists kmicro runs: the pod network (bridge + host-local,
//! portmap) and the loopback, and the per-plugin configuration each call reads on stdin.

use serde_json::{Map, Value, json};

use crate::config::NetworkConfig;

/// The CNI specification version kmicro speaks.
pub const CNI_VERSION: &str = "1.0.0";

/// One network configuration list (`.conflist`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetworkList {
    /// The network's name.
    pub name: String,
    /// Each plugin's configuration object (`type` and its own keys).
    pub plugins: Vec<Map<String, Value>>,
}

/// What the runtime passes per call for the capabilities plugins declare.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuntimeConfig {
    /// `portMappings`, for plugins with the `portMappings` capability.
    pub port_mappings: Option<Value>,
    /// Whether `port_mappings` is known to be the pod's whole list (false for a DEL without
    /// a record: the ADD's mappings are unknown, so portmap must run to find its chain).
    pub ports_known: bool,
}

impl RuntimeConfig {
    /// For a pod whose port mappings are known.
    pub fn with_ports(mappings: &[crate::pod::PortMapping]) -> Self {
        RuntimeConfig {
            port_mappings: Some(crate::pod::runtime_port_mappings(mappings)),
            ports_known: true,
        }
    }

    /// For a DEL of a pod whose ADD is not recorded.
    pub fn ports_unknown() -> Self {
        RuntimeConfig {
            port_mappings: Some(Value::Array(Vec::new())),
            ports_known: false,
        }
    }
}

impl NetworkList {
    /// The pod network, shaped like k3s's bridge delegate: a `bridge` that is the pods'
    /// default gateway, masquerades traffic leaving the node subnet and lets a pod reach
    /// itself through a hostPort (`hairpinMode`), addresses from `host-local` over the node
    /// subnet, then `portmap` for hostPorts (with `snat`, so 127.0.0.1 and hairpin work).
    pub fn pod_network(config: &NetworkConfig) -> Self {
        let bridge = json!({
            "type": "bridge",
            "bridge": config.bridge,
            "isGateway": true,
            "isDefaultGateway": true,
            "ipMasq": true,
            "hairpinMode": true,
            "forceAddress": true,
            "mtu": config.mtu,
            "ipam": {
                "type": "host-local",
                "dataDir": config.ipam_dir(),
                "ranges": [[{
                    "subnet": config.node_subnet.to_string(),
                    "gateway": config.gateway().to_string(),
                }]],
            },
        });
        let portmap = json!({
            "type": "portmap",
            "capabilities": {"portMappings": true},
            "snat": true,
        });
        NetworkList {
            name: config.network_name.clone(),
            plugins: vec![object(bridge), object(portmap)],
        }
    }

    /// The loopback network (`lo` up in the pod), run before the pod network.
    pub fn loopback() -> Self {
        NetworkList {
            name: "cni-loopback".to_string(),
            plugins: vec![object(json!({"type": "loopback"}))],
        }
    }

    /// The plugin type of entry `i`.
    pub fn plugin_type(&self, i: usize) -> &str {
        self.plugins[i]
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Every plugin type, in order.
    pub fn plugin_types(&self) -> impl Iterator<Item = &str> {
        (0..self.plugins.len()).map(|i| self.plugin_type(i))
    }

    /// Whether plugin `i` has nothing to do in this call and is skipped: `portmap` for a pod
    /// known to have no hostPorts (its ADD would return `prevResult` unchanged, having made
    /// nothing for DEL to remove). That saves a plugin process per call, and portmap's DEL
    /// (about a dozen `iptables`/`ip6tables` runs) for most pods.
    pub fn skips(&self, i: usize, runtime: &RuntimeConfig) -> bool {
        self.plugin_type(i) == "portmap"
            && runtime.ports_known
            && runtime
                .port_mappings
                .as_ref()
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty())
    }

    /// The `.conflist` document.
    pub fn to_conflist(&self) -> Value {
        json!({
            "cniVersion": CNI_VERSION,
            "name": self.name,
            "plugins": self.plugins,
        })
    }

    /// What plugin `i` reads on stdin: its object plus `cniVersion`, `name`, `prevResult`
    /// when there is one, and `runtimeConfig` holding the capabilities it declares.
    pub fn plugin_stdin(
        &self,
        i: usize,
        prev_result: Option<&Value>,
        runtime: &RuntimeConfig,
    ) -> Vec<u8> {
        let mut conf = self.plugins[i].clone();
        conf.insert("cniVersion".into(), CNI_VERSION.into());
        conf.insert("name".into(), self.name.clone().into());
        if let Some(prev) = prev_result.filter(|v| !v.is_null()) {
            conf.insert("prevResult".into(), prev.clone());
        }
        let declares = |cap: &str| {
            conf.get("capabilities")
                .and_then(|c| c.get(cap))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let mut rc = Map::new();
        if declares("portMappings")
            && let Some(pm) = &runtime.port_mappings
        {
            rc.insert("portMappings".into(), pm.clone());
        }
        if !rc.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(rc));
        }
        serde_json::to_vec(&Value::Object(conf)).expect("JSON values serialize")
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json!({{…}}) is an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_network_shape() {
        let mut config = NetworkConfig::new("/state");
        config.node_subnet = "10.42.7.0/24".parse().unwrap();
        let list = NetworkList::pod_network(&config);
        assert_eq!(
            list.plugin_types().collect::<Vec<_>>(),
            ["bridge", "portmap"]
        );
        let conflist = list.to_conflist();
        assert_eq!(conflist["cniVersion"], "1.0.0");
        assert_eq!(conflist["name"], "cbr0");
        let bridge = &conflist["plugins"][0];
        assert_eq!(bridge["bridge"], "cni0");
        assert_eq!(bridge["isGateway"], true);
        assert_eq!(bridge["ipMasq"], true);
        assert_eq!(bridge["hairpinMode"], true);
        assert_eq!(bridge["ipam"]["type"], "host-local");
        assert_eq!(bridge["ipam"]["dataDir"], "/state/ipam");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["subnet"], "10.42.7.0/24");
        assert_eq!(bridge["ipam"]["ranges"][0][0]["gateway"], "10.42.7.1");
        assert_eq!(conflist["plugins"][1]["snat"], true);
    }

    #[test]
    fn stdin_carries_prev_result_and_declared_capabilities_only() {
        let list = NetworkList::pod_network(&NetworkConfig::new("/state"));
        let runtime = RuntimeConfig {
            port_mappings: Some(
                json!([{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]),
            ),
            ports_known: true,
        };
        assert!(!list.skips(1, &runtime));
        assert!(list.skips(1, &RuntimeConfig::with_ports(&[])));
        assert!(!list.skips(1, &RuntimeConfig::ports_unknown()));
        assert!(!list.skips(0, &RuntimeConfig::with_ports(&[])));
        let bridge: Value = serde_json::from_slice(&list.plugin_stdin(0, None, &runtime)).unwrap();
        assert_eq!(bridge["cniVersion"], "1.0.0");
        assert_eq!(bridge["name"], "cbr0");
        assert!(bridge.get("prevResult").is_none());
        assert!(
            bridge.get("runtimeConfig").is_none(),
            "bridge declares no capability"
        );
        let prev = json!({"cniVersion": "1.0.0", "ips": []});
        let portmap: Value =
            serde_json::from_slice(&list.plugin_stdin(1, Some(&prev), &runtime)).unwrap();
        assert_eq!(portmap["prevResult"], prev);
        assert_eq!(portmap["runtimeConfig"]["portMappings"][0]["hostPort"], 80);
        let none: Value =
            serde_json::from_slice(&list.plugin_stdin(1, None, &RuntimeConfig::default())).unwrap();
        assert!(none.get("runtimeConfig").is_none());
    }
}
