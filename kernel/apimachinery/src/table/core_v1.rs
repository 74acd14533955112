//! core/v1 printers other than pods, events and volumes: namespaces, nodes, services,
//! endpoints, config maps, secrets, service accounts and resource quotas. (LimitRange has no
//! printer in kube: it gets the default table.)

use serde_json::Value;

use super::util::{
    age, arr_at, bool_at, format_labels, int_at, map_at, map_len, name, sorted_set, str_at,
};
use super::{AGE, Column, NAME, Printer, docs};
use crate::quantity::canonical_json as canonical;

/// The printer of a core/v1 resource in this group of printers.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    Some(match plural {
        "namespaces" => &NAMESPACE,
        "nodes" => &NODE,
        "services" => &SERVICE,
        "endpoints" => &ENDPOINTS,
        "configmaps" => &CONFIG_MAP,
        "secrets" => &SECRET,
        "serviceaccounts" => &SERVICE_ACCOUNT,
        "resourcequotas" => &RESOURCE_QUOTA,
        _ => return None,
    })
}

static NAMESPACE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "The status of the namespace"),
        AGE,
    ],
    |o, now| {
        // kube defaults an empty phase to Active when it decodes a namespace.
        let phase = match str_at(o, &["status", "phase"]) {
            "" => "Active",
            p => p,
        };
        vec![name(o), phase.into(), age(o, now)]
    },
);

static NODE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Status", "string", "The status of the node"),
        Column::new("Roles", "string", "The roles of the node"),
        AGE,
        Column::new("Version", "string", docs::NODE_KUBELET_VERSION),
        Column::wide("Internal-IP", "string", docs::NODE_ADDRESSES),
        Column::wide("External-IP", "string", docs::NODE_ADDRESSES),
        Column::wide("OS-Image", "string", docs::NODE_OS_IMAGE),
        Column::wide("Kernel-Version", "string", docs::NODE_KERNEL_VERSION),
        Column::wide("Container-Runtime", "string", docs::NODE_CONTAINER_RUNTIME),
    ],
    node_cells,
);

/// The label prefix naming a node's roles (`node-role.kubernetes.io/control-plane`).
const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
/// The older label whose value is a node's role.
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

fn node_cells(o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    // The last Ready condition wins, as in kube's map of conditions by type.
    let ready = arr_at(o, &["status", "conditions"])
        .iter()
        .rfind(|c| str_at(c, &["type"]) == "Ready");
    let mut status = match ready {
        Some(c) if str_at(c, &["status"]) == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if bool_at(o, &["spec", "unschedulable"]) {
        status.push_str(",SchedulingDisabled");
    }

    let labels = map_at(o, &["metadata", "labels"]).into_iter().flatten();
    let roles = sorted_set(labels.filter_map(|(k, v)| {
        if let Some(role) = k.strip_prefix(NODE_ROLE_PREFIX) {
            (!role.is_empty()).then(|| role.to_string())
        } else if k == NODE_ROLE_LABEL {
            v.as_str().filter(|v| !v.is_empty()).map(str::to_string)
        } else {
            None
        }
    }));
    let roles = if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    };

    let address = |ty: &str| -> Value {
        arr_at(o, &["status", "addresses"])
            .iter()
            .find(|a| str_at(a, &["type"]) == ty)
            .map_or("<none>", |a| str_at(a, &["address"]))
            .into()
    };
    let info = |field: &str| -> Value {
        match str_at(o, &["status", "nodeInfo", field]) {
            "" => "<unknown>".into(),
            s => s.into(),
        }
    };
    vec![
        name(o),
        status.into(),
        roles.into(),
        age(o, now),
        str_at(o, &["status", "nodeInfo", "kubeletVersion"]).into(),
        address("InternalIP"),
        address("ExternalIP"),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

static SERVICE: Printer = Printer::new(
    &[
        NAME,
        Column::new("Type", "string", docs::SVC_TYPE),
        Column::new("Cluster-IP", "string", docs::SVC_CLUSTER_IP),
        Column::new("External-IP", "string", docs::SVC_EXTERNAL_IPS),
        Column::new("Port(s)", "string", docs::SVC_PORTS),
        AGE,
        Column::wide("Selector", "string", docs::SVC_SELECTOR),
    ],
    service_cells,
);

fn service_cells(o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    // Defaults kube applies on decode: type ClusterIP, clusterIPs from clusterIP, protocol TCP.
    let ty = match str_at(o, &["spec", "type"]) {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = match arr_at(o, &["spec", "clusterIPs"]).first() {
        Some(ip) => ip.as_str().unwrap_or(""),
        None => str_at(o, &["spec", "clusterIP"]),
    };
    let cluster_ip = if cluster_ip.is_empty() && arr_at(o, &["spec", "clusterIPs"]).is_empty() {
        "<none>"
    } else {
        cluster_ip
    };
    let ports: Vec<String> = arr_at(o, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]);
            let protocol = match str_at(p, &["protocol"]) {
                "" => "TCP",
                proto => proto,
            };
            match int_at(p, &["nodePort"]) {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        name(o),
        ty.into(),
        cluster_ip.into(),
        external_ip(o, ty).into(),
        ports.into(),
        age(o, now),
        format_labels(map_at(o, &["spec", "selector"])).into(),
    ]
}

/// kube's `getServiceExternalIP` (wide: load-balancer addresses are never shortened).
fn external_ip(o: &Value, ty: &str) -> String {
    let external: Vec<&str> = arr_at(o, &["spec", "externalIPs"])
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match ty {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut all = load_balancer_addresses(o);
            if external.is_empty() && all.is_empty() {
                return "<pending>".into();
            }
            all.extend(external.iter().map(|s| s.to_string()));
            all.join(",")
        }
        "ExternalName" => str_at(o, &["spec", "externalName"]).into(),
        _ => "<unknown>".into(),
    }
}

/// The sorted, distinct IPs (else hostnames) of `status.loadBalancer.ingress`.
pub(crate) fn load_balancer_addresses(o: &Value) -> Vec<String> {
    sorted_set(
        arr_at(o, &["status", "loadBalancer", "ingress"])
            .iter()
            .filter_map(|i| {
                let ip = str_at(i, &["ip"]);
                let host = str_at(i, &["hostname"]);
                if !ip.is_empty() {
                    Some(ip.to_string())
                } else if !host.is_empty() {
                    Some(host.to_string())
                } else {
                    None
                }
            }),
    )
}

static ENDPOINTS: Printer = Printer::new(
    &[
        NAME,
        Column::new("Endpoints", "string", docs::EP_SUBSETS),
        AGE,
    ],
    |o, now| vec![name(o), format_endpoints(o).into(), age(o, now)],
);

/// kube's `formatEndpoints`: up to three `ip:port` (or bare IPs for port-less subsets), then
/// `+ N more...`.
fn format_endpoints(o: &Value) -> String {
    const MAX: usize = 3;
    let subsets = arr_at(o, &["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = arr_at(subset, &["addresses"]);
        let ports = arr_at(subset, &["ports"]);
        if ports.is_empty() {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(str_at(a, &["ip"]).to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(str_at(a, &["ip"]), int_at(port, &["port"])));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

static CONFIG_MAP: Printer = Printer::new(
    &[NAME, Column::new("Data", "string", docs::CM_DATA), AGE],
    |o, now| {
        let data = map_len(o, &["data"]) + map_len(o, &["binaryData"]);
        vec![name(o), data.into(), age(o, now)]
    },
);

static SECRET: Printer = Printer::new(
    &[
        NAME,
        Column::new("Type", "string", docs::SECRET_TYPE),
        Column::new("Data", "string", docs::SECRET_DATA),
        AGE,
    ],
    |o, now| {
        let ty = match str_at(o, &["type"]) {
            "" => "Opaque",
            t => t,
        };
        vec![
            name(o),
            ty.into(),
            map_len(o, &["data"]).into(),
            age(o, now),
        ]
    },
);

static SERVICE_ACCOUNT: Printer = Printer::new(
    &[
        NAME,
        Column::new("Secrets", "string", docs::SA_SECRETS),
        AGE,
    ],
    |o, now| {
        let secrets = arr_at(o, &["secrets"]).len() as i64;
        vec![name(o), secrets.into(), age(o, now)]
    },
);

static RESOURCE_QUOTA: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        Column::new(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        AGE,
    ],
    resource_quota_cells,
);

/// `resource: used/hard` for every resource in `status.hard`, sorted; `limits.*` go to the
/// Limit column, the rest to Request.
fn resource_quota_cells(o: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let mut resources: Vec<(&String, &Value)> = map_at(o, &["status", "hard"])
        .into_iter()
        .flatten()
        .collect();
    resources.sort_by(|a, b| a.0.cmp(b.0));
    let used = map_at(o, &["status", "used"]);
    let mut request = Vec::new();
    let mut limit = Vec::new();
    for (resource, hard) in resources {
        let used = used
            .and_then(|u| u.get(resource))
            .map_or("0".into(), canonical);
        let text = format!("{resource}: {used}/{}", canonical(hard));
        let pieces: Vec<&str> = resource.split('.').collect();
        if pieces.len() > 1 && pieces[0] == "limits" {
            limit.push(text);
        } else {
            request.push(text);
        }
    }
    vec![
        name(o),
        request.join(", ").into(),
        limit.join(", ").into(),
        age(o, now),
    ]
}
