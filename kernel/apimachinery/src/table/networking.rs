//! `networking.k8s.io` (ingresses, ingress classes, network policies) and `discovery.k8s.io`
//! (endpoint slices).

use serde_json::Value;

use super::core_v1::load_balancer_addresses;
use super::util::{age, arr_at, at, format_label_selector, list_with_more, name, opt_str, str_at};
use super::{AGE, Column, NAME, Printer, docs};

/// The printer of a `networking.k8s.io` or `discovery.k8s.io` resource.
pub(crate) fn printer(group: &str, plural: &str) -> Option<&'static Printer> {
    Some(match (group, plural) {
        ("networking.k8s.io", "ingresses") => &INGRESS,
        ("networking.k8s.io", "ingressclasses") => &INGRESS_CLASS,
        ("networking.k8s.io", "networkpolicies") => &NETWORK_POLICY,
        ("discovery.k8s.io", "endpointslices") => &ENDPOINT_SLICE,
        _ => return None,
    })
}

static INGRESS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Class",
            "string",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        Column::new(
            "Hosts",
            "string",
            "Hosts that incoming requests are matched against before the ingress rule",
        ),
        Column::new(
            "Address",
            "string",
            "Address is a list containing ingress points for the load-balancer",
        ),
        Column::new("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ],
    |o, now| {
        let ports = if arr_at(o, &["spec", "tls"]).is_empty() {
            "80"
        } else {
            "80, 443"
        };
        vec![
            name(o),
            opt_str(o, &["spec", "ingressClassName"])
                .unwrap_or("<none>")
                .into(),
            hosts(arr_at(o, &["spec", "rules"])).into(),
            load_balancer_addresses(o).join(",").into(),
            ports.into(),
            age(o, now),
        ]
    },
);

/// kube's `formatHosts`: the first three rule hosts, `*` when none is set.
fn hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = str_at(rule, &["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".into();
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", rules.len() - MAX)
    } else {
        joined
    }
}

static INGRESS_CLASS: Printer = Printer::new(
    &[
        NAME,
        Column::new(
            "Controller",
            "string",
            "Controller that is responsible for handling this class",
        ),
        Column::new(
            "Parameters",
            "string",
            "A reference to a resource with additional parameters",
        ),
        AGE,
    ],
    |o, now| {
        let params = at(o, &["spec", "parameters"]);
        let parameters = if params.is_null() {
            "<none>".to_string()
        } else {
            let mut p = str_at(params, &["kind"]).to_string();
            if let Some(group) = opt_str(params, &["apiGroup"]) {
                p = format!("{p}.{group}");
            }
            format!("{p}/{}", str_at(params, &["name"]))
        };
        vec![
            name(o),
            str_at(o, &["spec", "controller"]).into(),
            parameters.into(),
            age(o, now),
        ]
    },
);

static NETWORK_POLICY: Printer = Printer::new(
    &[
        NAME,
        Column::new("Pod-Selector", "string", docs::NETPOL_POD_SELECTOR),
        AGE,
    ],
    |o, now| {
        let selector = format_label_selector(at(o, &["spec", "podSelector"]));
        vec![name(o), selector.into(), age(o, now)]
    },
);

static ENDPOINT_SLICE: Printer = Printer::new(
    &[
        NAME,
        Column::new("AddressType", "string", docs::EPS_ADDRESS_TYPE),
        Column::new("Ports", "string", docs::EPS_PORTS),
        Column::new("Endpoints", "string", docs::EPS_ENDPOINTS),
        AGE,
    ],
    |o, now| {
        vec![
            name(o),
            str_at(o, &["addressType"]).into(),
            slice_ports(arr_at(o, &["ports"])).into(),
            slice_endpoints(arr_at(o, &["endpoints"])).into(),
            age(o, now),
        ]
    },
);

/// kube's `formatDiscoveryPorts`: up to three port numbers (or names, or `*`).
fn slice_ports(ports: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    for port in ports {
        if list.len() < MAX {
            let text = match (at(port, &["port"]).as_i64(), opt_str(port, &["name"])) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            };
            list.push(text);
        } else if list.len() == MAX {
            more = true;
        }
    }
    list_with_more(&list, more, ports.len(), MAX)
}

/// kube's `formatDiscoveryEndpoints`: up to three addresses.
fn slice_endpoints(endpoints: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for address in endpoints.iter().flat_map(|e| arr_at(e, &["addresses"])) {
        if list.len() < MAX {
            list.push(address.as_str().unwrap_or("").to_string());
        } else if list.len() == MAX {
            more = true;
        }
        count += 1;
    }
    list_with_more(&list, more, count, MAX)
}
