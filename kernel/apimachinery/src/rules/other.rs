//! The remaining groups: leases, endpoint slices, `events.k8s.io` events, ingresses and ingress
//! classes, network policies, disruption budgets, storage classes and priority classes.

use std::collections::BTreeSet;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, Ingress, IngressBackend, IngressClass, IngressStatus, NetworkPolicy,
    NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Kind;
use super::core::{check_event_lengths, validate_non_special_ip};
use super::field::{Bad, Errors, Path, semantic_eq};
use super::meta;
use super::pod::{self, default_str, s};
use crate::names;

// ---------------------------------------------------------------------------------------------
// Lease
// ---------------------------------------------------------------------------------------------

impl Kind for Lease {
    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else { return };
        let path = Path::new("spec");
        if let Some(d) = spec.lease_duration_seconds
            && d <= 0
        {
            errs.invalid(
                &path.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            );
        }
        errs.non_negative(
            &path.child("leaseTransitions"),
            spec.lease_transitions.map(i64::from),
        );
        let strategy = s(&spec.strategy);
        if let Some(st) = &spec.strategy {
            let sp = path.child("strategy");
            if !st.contains('/') {
                if st != "OldestEmulationVersion" {
                    errs.not_supported(&sp, st, &["OldestEmulationVersion"]);
                }
            } else {
                let msgs = names::is_qualified_name(st);
                if !msgs.is_empty() {
                    errs.invalid(&sp, st, &msgs.join(","));
                }
            }
        }
        if !s(&spec.preferred_holder).is_empty() && strategy.is_empty() {
            errs.forbidden(
                &path.child("preferredHolder"),
                "may only be specified if `strategy` is defined",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// EndpointSlice
// ---------------------------------------------------------------------------------------------

impl Kind for EndpointSlice {
    fn set_defaults(&mut self) {
        for p in self.ports.iter_mut().flatten() {
            p.name.get_or_insert_with(String::new);
            default_str(&mut p.protocol, "TCP");
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let at = Path::new("addressType");
        match self.address_type.as_str() {
            "" => errs.required(&at, ""),
            "IPv4" | "IPv6" | "FQDN" => {}
            other => errs.not_supported(&at, other, &["FQDN", "IPv4", "IPv6"]),
        }
        let ep = Path::new("endpoints");
        if self.endpoints.len() > 1000 {
            errs.too_many(&ep, self.endpoints.len(), 1000);
        } else {
            for (i, e) in self.endpoints.iter().enumerate() {
                let p = ep.index(i);
                let ap = p.child("addresses");
                if e.addresses.is_empty() {
                    errs.required(&ap, "must contain at least 1 address");
                } else if e.addresses.len() > 100 {
                    errs.too_many(&ap, e.addresses.len(), 100);
                }
                for (j, addr) in e.addresses.iter().enumerate() {
                    let path = ap.index(j);
                    match self.address_type.as_str() {
                        "IPv4" | "IPv6" => {
                            let v4 = self.address_type == "IPv4";
                            let ok = addr
                                .parse::<std::net::IpAddr>()
                                .is_ok_and(|ip| ip.is_ipv4() == v4);
                            if ok {
                                validate_non_special_ip(addr, &path, errs);
                            } else if v4 {
                                errs.invalid(&path, addr, "must be a valid IPv4 address");
                            } else {
                                errs.invalid(&path, addr, "must be a valid IPv6 address");
                            }
                        }
                        "FQDN" => {
                            let host = addr.strip_suffix('.').unwrap_or(addr);
                            let msgs = names::is_dns1123_subdomain(host);
                            if !msgs.is_empty() {
                                errs.invalid(&path, host, &msgs.join(","));
                            } else if !host.contains('.') {
                                errs.invalid(
                                    &path,
                                    host,
                                    "should be a domain with at least two segments separated by dots",
                                );
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(n) = &e.node_name {
                    errs.invalid_all(&p.child("nodeName"), n, names::is_dns1123_subdomain(n));
                }
                meta::validate_labels(
                    e.deprecated_topology.as_ref(),
                    &p.child("deprecatedTopology"),
                    errs,
                );
                if let Some(h) = &e.hostname {
                    errs.invalid_all(&p.child("hostname"), h, names::is_dns1123_label(h));
                }
            }
        }
        let pp = Path::new("ports");
        let ports = self.ports.as_deref().unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, port) in ports.iter().enumerate() {
            let p = pp.index(i);
            let name = s(&port.name);
            if !name.is_empty() {
                errs.invalid_all(&p.child("name"), name, names::is_dns1123_label(name));
            }
            if !seen.insert(name) {
                errs.duplicate(&p.child("name"), name);
            }
            if let Some(n) = port.port {
                for m in names::is_valid_port_num(i64::from(n)) {
                    errs.invalid(&p.child("port"), n, &m);
                }
            }
            pod::validate_protocol(&port.protocol, &p.child("protocol"), errs);
            if let Some(ap) = &port.app_protocol {
                errs.invalid_all(&p.child("appProtocol"), ap, names::is_qualified_name(ap));
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if self.address_type != old.address_type {
            errs.immutable(&Path::new("addressType"), &self.address_type);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event (events.k8s.io/v1)
// ---------------------------------------------------------------------------------------------

impl Kind for Event {
    fn validate(&self, errs: &mut Errors) {
        // The legacy rules every event passes; field paths are kube's internal names.
        let ns = self.metadata.namespace.as_deref().unwrap_or("");
        let regarding_ns = self.regarding.as_ref().map_or("", |r| s(&r.namespace));
        if self.event_time.is_some() {
            if regarding_ns.is_empty() && ns != "default" && ns != "kube-system" {
                errs.invalid(
                    &Path::new("involvedObject").child("namespace"),
                    regarding_ns,
                    "does not match event.namespace",
                );
            }
            let controller = s(&self.reporting_controller);
            let rc = Path::new("reportingController");
            if controller.is_empty() {
                errs.required(&rc, "");
            }
            errs.invalid_all(&rc, controller, names::is_qualified_name(controller));
            check_event_lengths(
                s(&self.reporting_instance),
                s(&self.action),
                s(&self.reason),
                s(&self.note),
                "message",
                errs,
            );
        } else {
            errs.required(&Path::new("eventTime"), "");
        }
        if let Some(series) = &self.series
            && series.count < 2
        {
            errs.invalid(&Path::new("series.count"), "", "should be at least 2");
        }
        let ty = s(&self.type_);
        if ty != "Normal" && ty != "Warning" {
            errs.invalid(&Path::new("type"), "", &format!("has invalid value: {ty}"));
        }
        for (field, set) in [
            ("firstTimestamp", self.deprecated_first_timestamp.is_some()),
            ("lastTimestamp", self.deprecated_last_timestamp.is_some()),
            ("count", self.deprecated_count.unwrap_or(0) != 0),
            (
                "source",
                self.deprecated_source
                    .as_ref()
                    .is_some_and(|src| !s(&src.component).is_empty() || !s(&src.host).is_empty()),
            ),
        ] {
            if set {
                errs.invalid(&Path::new(field), "", "needs to be unset");
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let checks: [(&str, bool, Bad); 12] = [
            (
                "involvedObject",
                semantic_eq(&self.regarding, &old.regarding),
                Bad::json(&self.regarding),
            ),
            (
                "reason",
                self.reason == old.reason,
                Bad::from(self.reason.as_deref()),
            ),
            (
                "message",
                self.note == old.note,
                Bad::from(self.note.as_deref()),
            ),
            (
                "source",
                semantic_eq(&self.deprecated_source, &old.deprecated_source),
                Bad::json(&self.deprecated_source),
            ),
            (
                "firstTimestamp",
                self.deprecated_first_timestamp == old.deprecated_first_timestamp,
                Bad::json(&self.deprecated_first_timestamp),
            ),
            (
                "lastTimestamp",
                self.deprecated_last_timestamp == old.deprecated_last_timestamp,
                Bad::json(&self.deprecated_last_timestamp),
            ),
            (
                "count",
                self.deprecated_count == old.deprecated_count,
                Bad::json(&self.deprecated_count),
            ),
            (
                "type",
                self.type_ == old.type_,
                Bad::from(self.type_.as_deref()),
            ),
            (
                "eventTime",
                self.event_time == old.event_time,
                Bad::json(&self.event_time),
            ),
            (
                "action",
                self.action == old.action,
                Bad::from(self.action.as_deref()),
            ),
            (
                "related",
                semantic_eq(&self.related, &old.related),
                Bad::json(&self.related),
            ),
            (
                "reportingController",
                self.reporting_controller == old.reporting_controller,
                Bad::from(self.reporting_controller.as_deref()),
            ),
        ];
        for (field, same, value) in checks {
            if !same {
                errs.immutable(&Path::new(field), value);
            }
        }
        if self.reporting_instance != old.reporting_instance {
            errs.immutable(
                &Path::new("reportingInstance"),
                Bad::from(self.reporting_instance.as_deref()),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Ingress and IngressClass
// ---------------------------------------------------------------------------------------------

impl Kind for Ingress {
    fn on_create(&mut self) {
        self.status = Some(IngressStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        let rules = spec.rules.as_deref().unwrap_or_default();
        if rules.is_empty() && spec.default_backend.is_none() {
            errs.invalid(
                &path,
                Bad::json(&spec.rules),
                "either `defaultBackend` or `rules` must be specified",
            );
        }
        if let Some(b) = &spec.default_backend {
            validate_ingress_backend(b, &path.child("defaultBackend"), errs);
        }
        for (i, rule) in rules.iter().enumerate() {
            let rp = path.child("rules").index(i);
            let host = s(&rule.host);
            if !host.is_empty() {
                let hp = rp.child("host");
                if host.parse::<std::net::IpAddr>().is_ok() {
                    errs.invalid(&hp, host, "must be a DNS name, not an IP address");
                }
                if host.contains('*') {
                    errs.invalid_all(&hp, host, names::is_wildcard_dns1123_subdomain(host));
                } else {
                    errs.invalid_all(&hp, host, names::is_dns1123_subdomain(host));
                }
            }
            if let Some(http) = &rule.http {
                let pp = rp.child("http").child("paths");
                if http.paths.is_empty() {
                    errs.required(&pp, "");
                }
                for (j, p) in http.paths.iter().enumerate() {
                    validate_ingress_path(p, &pp.index(j), errs);
                }
            }
        }
        for (i, tls) in spec.tls.iter().flatten().enumerate() {
            let tp = path.child("tls").index(i);
            for (j, host) in tls.hosts.iter().flatten().enumerate() {
                let msgs = names::is_dns1123_subdomain(&host.replacen('*', "x", 1));
                errs.invalid_all(&tp.child("hosts").index(j), host, msgs);
            }
            let secret = s(&tls.secret_name);
            if !secret.is_empty() {
                errs.invalid_all(
                    &tp.child("secretName"),
                    secret,
                    names::is_dns1123_subdomain(secret),
                );
            }
        }
        if let Some(class) = &spec.ingress_class_name {
            errs.invalid_all(
                &path.child("ingressClassName"),
                class,
                names::is_dns1123_subdomain(class),
            );
            if let Some(annotation) = self
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/ingress.class"))
            {
                errs.invalid(
                    &Path::new("annotations").child("kubernetes.io/ingress.class"),
                    annotation,
                    "can not be set when the class field is also set",
                );
            }
        }
    }
}

fn validate_ingress_path(p: &HTTPIngressPath, path: &Path, errs: &mut Errors) {
    let value = s(&p.path);
    let pp = path.child("path");
    match p.path_type.as_str() {
        "" => {
            errs.required(&path.child("pathType"), "pathType must be specified");
            return;
        }
        "Exact" | "Prefix" => {
            if !value.starts_with('/') {
                errs.invalid(&pp, value, "must be an absolute path");
            }
            if !value.is_empty() {
                for seq in ["//", "/./", "/../", "%2f", "%2F"] {
                    if value.contains(seq) {
                        errs.invalid(&pp, value, &format!("must not contain '{seq}'"));
                    }
                }
                for suffix in ["/..", "/."] {
                    if value.ends_with(suffix) {
                        errs.invalid(&pp, value, &format!("cannot end with '{suffix}'"));
                    }
                }
            }
        }
        "ImplementationSpecific" => {
            if !value.is_empty() && !value.starts_with('/') {
                errs.invalid(&pp, value, "must be an absolute path");
            }
        }
        other => {
            errs.not_supported(
                &path.child("pathType"),
                other,
                &["Exact", "ImplementationSpecific", "Prefix"],
            );
            return;
        }
    }
    validate_ingress_backend(&p.backend, &path.child("backend"), errs);
}

fn validate_ingress_backend(b: &IngressBackend, path: &Path, errs: &mut Errors) {
    match (&b.service, &b.resource) {
        (Some(_), Some(_)) => {
            errs.invalid(path, "", "cannot set both resource and service backends")
        }
        (None, Some(r)) => {
            let rp = path.child("resource");
            if r.kind.is_empty() {
                errs.required(&rp.child("kind"), "");
            }
            if r.name.is_empty() {
                errs.required(&rp.child("name"), "");
            }
        }
        (Some(svc), None) => {
            let sp = path.child("service");
            if svc.name.is_empty() {
                errs.required(&sp.child("name"), "");
            } else {
                errs.invalid_all(
                    &sp.child("name"),
                    &svc.name,
                    names::is_dns1035_label(&svc.name),
                );
            }
            let port = svc.port.clone().unwrap_or_default();
            let name = s(&port.name);
            let number = port.number.unwrap_or(0);
            match (!name.is_empty(), number != 0) {
                (true, true) => errs.invalid(path, "", "cannot set both port name & port number"),
                (true, false) => {
                    for m in names::is_valid_port_name(name) {
                        errs.invalid(&sp.child("port").child("name"), name, &m);
                    }
                }
                (false, true) => {
                    for m in names::is_valid_port_num(i64::from(number)) {
                        errs.invalid(&sp.child("port").child("number"), number, &m);
                    }
                }
                (false, false) => errs.required(path, "port name or number is required"),
            }
        }
        (None, None) => errs.invalid(path, "", "resource or service backend is required"),
    }
}

impl Kind for IngressClass {
    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        let cp = path.child("controller");
        let controller = s(&spec.controller);
        if controller.is_empty() {
            errs.required(&cp, "");
        } else {
            if controller.len() > 250 {
                errs.too_long_max_length(&cp, 250);
            }
            for (value, msg) in names::is_domain_prefixed_path(controller) {
                errs.invalid(&cp, value, &msg);
            }
        }
        if let Some(params) = &spec.parameters {
            let pp = path.child("parameters");
            if params.kind.is_empty() {
                errs.required(&pp.child("kind"), "");
            }
            if params.name.is_empty() {
                errs.required(&pp.child("name"), "");
            }
            let scope = s(&params.scope);
            match scope {
                "Cluster" | "" => {
                    if params.namespace.is_some() {
                        errs.forbidden(
                            &pp.child("namespace"),
                            "`parameters.scope` is set to 'Cluster'",
                        );
                    }
                }
                "Namespace" => match &params.namespace {
                    None => errs.required(
                        &pp.child("namespace"),
                        "`parameters.scope` is set to 'Namespace'",
                    ),
                    Some(ns) => {
                        errs.invalid_all(&pp.child("namespace"), ns, names::is_dns1123_label(ns))
                    }
                },
                other => errs.not_supported(&pp.child("scope"), other, &["Cluster", "Namespace"]),
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let controller = |c: &IngressClass| c.spec.as_ref().and_then(|s| s.controller.clone());
        if controller(self) != controller(old) {
            errs.immutable(
                &Path::new("spec").child("controller"),
                Bad::from(controller(self).as_deref()),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// NetworkPolicy
// ---------------------------------------------------------------------------------------------

impl Kind for NetworkPolicy {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        let ports = spec
            .ingress
            .iter_mut()
            .flatten()
            .flat_map(|r| r.ports.iter_mut().flatten())
            .chain(
                spec.egress
                    .iter_mut()
                    .flatten()
                    .flat_map(|r| r.ports.iter_mut().flatten()),
            );
        for p in ports {
            default_str(&mut p.protocol, "TCP");
        }
        if spec.policy_types.as_ref().is_none_or(Vec::is_empty) {
            let mut types = vec!["Ingress".to_string()];
            if spec.egress.as_ref().is_some_and(|e| !e.is_empty()) {
                types.push("Egress".to_string());
            }
            spec.policy_types = Some(types);
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        if let Some(sel) = &spec.pod_selector {
            meta::validate_label_selector(sel, &path.child("podSelector"), errs);
        }
        for (i, rule) in spec.ingress.iter().flatten().enumerate() {
            let rp = path.child("ingress").index(i);
            for (j, port) in rule.ports.iter().flatten().enumerate() {
                validate_np_port(port, &rp.child("ports").index(j), errs);
            }
            for (j, peer) in rule.from.iter().flatten().enumerate() {
                validate_np_peer(peer, &rp.child("from").index(j), errs);
            }
        }
        for (i, rule) in spec.egress.iter().flatten().enumerate() {
            let rp = path.child("egress").index(i);
            for (j, port) in rule.ports.iter().flatten().enumerate() {
                validate_np_port(port, &rp.child("ports").index(j), errs);
            }
            for (j, peer) in rule.to.iter().flatten().enumerate() {
                validate_np_peer(peer, &rp.child("to").index(j), errs);
            }
        }
        let types = spec.policy_types.as_deref().unwrap_or_default();
        let tp = path.child("policyTypes");
        if types.len() > 2 {
            errs.invalid(
                &tp,
                Bad::json(types),
                "may not specify more than two policyTypes",
            );
            return;
        }
        for (i, t) in types.iter().enumerate() {
            if t != "Ingress" && t != "Egress" {
                errs.not_supported(&tp.index(i), t, &["Ingress", "Egress"]);
            }
        }
    }
}

fn validate_np_port(port: &NetworkPolicyPort, path: &Path, errs: &mut Errors) {
    if let Some(p) = &port.protocol
        && !matches!(p.as_str(), "TCP" | "UDP" | "SCTP")
    {
        errs.not_supported(&path.child("protocol"), p, &["TCP", "UDP", "SCTP"]);
    }
    match (&port.port, port.end_port) {
        (Some(IntOrString::Int(n)), end) => {
            for m in names::is_valid_port_num(i64::from(*n)) {
                errs.invalid(&path.child("port"), *n, &m);
            }
            if let Some(end) = end {
                if end < *n {
                    errs.invalid(
                        &path.child("endPort"),
                        *n,
                        "must be greater than or equal to `port`",
                    );
                }
                for m in names::is_valid_port_num(i64::from(end)) {
                    errs.invalid(&path.child("endPort"), end, &m);
                }
            }
        }
        (Some(IntOrString::String(name)), end) => {
            if let Some(end) = end {
                errs.invalid(
                    &path.child("endPort"),
                    end,
                    "may not be specified when `port` is non-numeric",
                );
            }
            for m in names::is_valid_port_name(name) {
                errs.invalid(&path.child("port"), name, &m);
            }
        }
        (None, Some(end)) => {
            errs.invalid(
                &path.child("endPort"),
                end,
                "may not be specified when `port` is not specified",
            );
        }
        (None, None) => {}
    }
}

fn validate_np_peer(peer: &NetworkPolicyPeer, path: &Path, errs: &mut Errors) {
    let mut n = 0;
    if let Some(sel) = &peer.pod_selector {
        n += 1;
        meta::validate_label_selector(sel, &path.child("podSelector"), errs);
    }
    if let Some(sel) = &peer.namespace_selector {
        n += 1;
        meta::validate_label_selector(sel, &path.child("namespaceSelector"), errs);
    }
    if let Some(block) = &peer.ip_block {
        n += 1;
        let bp = path.child("ipBlock");
        if block.cidr.is_empty() {
            errs.required(&bp.child("cidr"), "");
        } else if let Some(m) = names::is_valid_cidr(&block.cidr) {
            errs.invalid(&bp.child("cidr"), &block.cidr, &m);
        }
        for (i, e) in block.except.iter().flatten().enumerate() {
            if let Some(m) = names::is_valid_cidr(e) {
                errs.invalid(&bp.child("except").index(i), e, &m);
            }
        }
    }
    if n == 0 {
        errs.required(path, "must specify a peer");
    } else if n > 1 && peer.ip_block.is_some() {
        errs.forbidden(path, "may not specify both ipBlock and another peer");
    }
}

// ---------------------------------------------------------------------------------------------
// PodDisruptionBudget
// ---------------------------------------------------------------------------------------------

fn validate_int_or_percent_0_100(v: &IntOrString, path: &Path, errs: &mut Errors) {
    match v {
        IntOrString::String(p) => {
            for m in names::is_valid_percent(p) {
                errs.invalid(path, p, &m);
            }
            if names::percent_value(p).is_some_and(|n| n > 100) {
                errs.invalid(path, p, "must not be greater than 100%");
            }
        }
        IntOrString::Int(n) => errs.non_negative(path, Some(i64::from(*n))),
    }
}

impl Kind for PodDisruptionBudget {
    fn on_create(&mut self) {
        self.status = Some(PodDisruptionBudgetStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.invalid(
                &path,
                Bad::json(spec),
                "minAvailable and maxUnavailable cannot be both set",
            );
        }
        if let Some(v) = &spec.min_available {
            validate_int_or_percent_0_100(v, &path.child("minAvailable"), errs);
        }
        if let Some(v) = &spec.max_unavailable {
            validate_int_or_percent_0_100(v, &path.child("maxUnavailable"), errs);
        }
        if let Some(sel) = &spec.selector {
            meta::validate_label_selector(sel, &path.child("selector"), errs);
        }
        if let Some(p) = &spec.unhealthy_pod_eviction_policy
            && !matches!(p.as_str(), "AlwaysAllow" | "IfHealthyBudget")
        {
            errs.not_supported(
                &path.child("unhealthyPodEvictionPolicy"),
                p,
                &["AlwaysAllow", "IfHealthyBudget"],
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// StorageClass
// ---------------------------------------------------------------------------------------------

impl Kind for StorageClass {
    fn set_defaults(&mut self) {
        default_str(&mut self.reclaim_policy, "Delete");
        default_str(&mut self.volume_binding_mode, "Immediate");
    }

    fn validate(&self, errs: &mut Errors) {
        let pp = Path::new("provisioner");
        if self.provisioner.is_empty() {
            errs.required(&pp, "");
        } else {
            let lower = self.provisioner.to_lowercase();
            errs.invalid_all(&pp, &lower, names::is_qualified_name(&lower));
        }
        let params = Path::new("parameters");
        if let Some(p) = &self.parameters {
            if p.len() > 512 {
                errs.too_long(&params, 512);
            } else {
                let mut total = 0usize;
                for (k, v) in p {
                    if k.is_empty() {
                        errs.invalid(&params, k, "field can not be empty.");
                    }
                    total = total.saturating_add(k.len()).saturating_add(v.len());
                }
                if total > 256 * 1024 {
                    errs.too_long(&params, 256 * 1024);
                }
            }
        }
        let rp = s(&self.reclaim_policy);
        if !rp.is_empty() && rp != "Delete" && rp != "Retain" {
            errs.not_supported(&Path::new("reclaimPolicy"), rp, &["Delete", "Retain"]);
        }
        match self.volume_binding_mode.as_deref() {
            None => errs.required(&Path::new("volumeBindingMode"), ""),
            Some("Immediate" | "WaitForFirstConsumer") => {}
            Some(other) => errs.not_supported(
                &Path::new("volumeBindingMode"),
                other,
                &["Immediate", "WaitForFirstConsumer"],
            ),
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if !semantic_eq(&self.parameters, &old.parameters) {
            errs.forbidden(
                &Path::new("parameters"),
                "updates to parameters are forbidden.",
            );
        }
        if self.provisioner != old.provisioner {
            errs.forbidden(
                &Path::new("provisioner"),
                "updates to provisioner are forbidden.",
            );
        }
        if s(&self.reclaim_policy) != s(&old.reclaim_policy) {
            errs.forbidden(
                &Path::new("reclaimPolicy"),
                "updates to reclaimPolicy are forbidden.",
            );
        }
        if self.volume_binding_mode != old.volume_binding_mode {
            errs.immutable(
                &Path::new("volumeBindingMode"),
                Bad::from(self.volume_binding_mode.as_deref()),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PriorityClass
// ---------------------------------------------------------------------------------------------

const SYSTEM_PRIORITY_CLASSES: &[(&str, i32)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];
const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;

impl Kind for PriorityClass {
    fn set_defaults(&mut self) {
        default_str(&mut self.preemption_policy, "PreemptLowerPriority");
    }

    fn validate(&self, errs: &mut Errors) {
        let name = self.metadata.name.as_deref().unwrap_or("");
        if name.starts_with("system-") {
            let global_default = self.global_default.unwrap_or(false);
            let problem = match SYSTEM_PRIORITY_CLASSES.iter().find(|(n, _)| *n == name) {
                None => Some(format!("{name} is not a known system priority class")),
                Some((_, v)) if *v != self.value => {
                    Some(format!("value of {name} PriorityClass must be {v}"))
                }
                Some(_) if global_default => Some(format!(
                    "globalDefault of {name} PriorityClass must be false"
                )),
                Some(_) => None,
            };
            if let Some(err) = problem {
                errs.forbidden(
                    &Path::new("metadata").child("name"),
                    &format!(
                        "priority class names with 'system-' prefix are reserved for system use only. error: {err}"
                    ),
                );
            }
        } else if self.value > HIGHEST_USER_DEFINABLE_PRIORITY {
            errs.forbidden(
                &Path::new("value"),
                &format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
                ),
            );
        }
        if let Some(p) = &self.preemption_policy {
            match p.as_str() {
                "PreemptLowerPriority" | "Never" => {}
                "" => errs.required(&Path::new("preemptionPolicy"), ""),
                other => errs.not_supported(
                    &Path::new("preemptionPolicy"),
                    other,
                    &["PreemptLowerPriority", "Never"],
                ),
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if self.value != old.value {
            errs.forbidden(&Path::new("value"), "may not be changed in an update.");
        }
        if self.preemption_policy != old.preemption_policy {
            errs.immutable(
                &Path::new("preemptionPolicy"),
                Bad::from(self.preemption_policy.as_deref()),
            );
        }
    }
}
