//! Core (`v1`) kinds other than the pod spec itself: namespaces, nodes, pods, services,
//! endpoints, config maps, secrets, service accounts, events, volumes and claims, quotas and
//! limit ranges.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ClientIPConfig, ConfigMap, Endpoints, Event, LimitRange, Namespace, NamespaceStatus, Node,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus, PersistentVolumeStatus,
    Pod, ResourceQuota, ResourceQuotaStatus, Secret, Service, ServiceAccount, ServicePort,
    ServiceSpec, ServiceStatus, SessionAffinityConfig,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::Kind;
use super::field::{Bad, Errors, Path, diff, normalize, semantic_eq};
use super::meta::{self, NameRule};
use super::pod::{self, default_str, s};
use crate::names;
use crate::quantity;

/// Largest total size of a ConfigMap's or Secret's data.
pub(crate) const MAX_SECRET_SIZE: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Namespace
// ---------------------------------------------------------------------------------------------

impl Kind for Namespace {
    const NAME_RULE: NameRule = NameRule::Label;

    fn set_defaults(&mut self) {
        if let Some(name) = self.metadata.name.clone().filter(|n| !n.is_empty()) {
            self.metadata
                .labels
                .get_or_insert_default()
                .insert("kubernetes.io/metadata.name".to_string(), name);
        }
        default_str(&mut self.status.get_or_insert_default().phase, "Active");
    }

    fn on_create(&mut self) {
        self.status = Some(NamespaceStatus {
            phase: Some("Active".to_string()),
            ..Default::default()
        });
        let finalizers = self
            .spec
            .get_or_insert_default()
            .finalizers
            .get_or_insert_default();
        if !finalizers.iter().any(|f| f == "kubernetes") {
            finalizers.push("kubernetes".to_string());
        }
    }

    fn on_update(&mut self, old: &Self) {
        // Finalizers change through the finalize subresource only.
        let old_finalizers = old.spec.as_ref().and_then(|s| s.finalizers.clone());
        self.spec.get_or_insert_default().finalizers = old_finalizers;
    }

    fn validate(&self, errs: &mut Errors) {
        let path = Path::new("spec").child("finalizers");
        for f in self.spec.iter().flat_map(|s| s.finalizers.iter().flatten()) {
            errs.invalid_all(&path, f, names::is_qualified_name(f));
            meta::validate_kube_finalizer_name(f, &path, errs);
        }
    }

    fn validate_update(&self, _old: &Self, errs: &mut Errors) {
        // kube's ValidateNamespaceStatusUpdate (its field path says `Phase`); on other updates
        // the status is the stored one, which always passes.
        let phase = self.status.as_ref().and_then(|s| s.phase.as_deref());
        let path = Path::new("status").child("Phase");
        match (self.metadata.deletion_timestamp.is_some(), phase) {
            (false, Some("Active")) | (true, Some("Terminating")) => {}
            (false, other) => errs.invalid(
                &path,
                other.unwrap_or(""),
                "may only be 'Active' if `deletionTimestamp` is empty",
            ),
            (true, other) => errs.invalid(
                &path,
                other.unwrap_or(""),
                "may only be 'Terminating' if `deletionTimestamp` is not empty",
            ),
        }
    }
}

/// kube's `namespaces/finalize` update: the stored namespace `old` with the `spec.finalizers`
/// of `new` and nothing else of it, each finalizer name checked.
pub(super) fn finalize_namespace(new: Namespace, mut old: Namespace) -> Namespace {
    let finalizers = new.spec.and_then(|s| s.finalizers);
    old.spec.get_or_insert_default().finalizers = finalizers;
    old
}

// ---------------------------------------------------------------------------------------------
// Node
// ---------------------------------------------------------------------------------------------

impl Kind for Node {
    fn set_defaults(&mut self) {
        if let Some(status) = &mut self.status {
            if status.allocatable.is_none() && status.capacity.is_some() {
                status.allocatable.clone_from(&status.capacity);
            }
            quantity::canonicalize_list(status.capacity.as_mut());
            quantity::canonicalize_list(status.allocatable.as_mut());
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else { return };
        let path = Path::new("spec");
        let mut unique: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (i, t) in spec.taints.iter().flatten().enumerate() {
            let p = path.child("taints").index(i);
            errs.invalid_all(&p.child("key"), &t.key, names::is_qualified_name(&t.key));
            let value = s(&t.value);
            let msgs = names::is_label_value(value);
            if !msgs.is_empty() {
                errs.invalid(&p.child("value"), value, &msgs.join(";"));
            }
            pod::validate_taint_effect(&t.effect, &p.child("effect"), errs);
            if !unique.insert((t.effect.as_str(), t.key.as_str())) {
                errs.duplicate_detail(
                    &p,
                    Bad::json(t),
                    "taints must be unique by key and effect pair",
                );
            }
        }
        let cidrs = spec.pod_cidrs.as_deref().unwrap_or_default();
        let cp = path.child("podCIDRs");
        for (i, c) in cidrs.iter().enumerate() {
            if let Some(m) = names::is_valid_cidr(c) {
                errs.invalid(&cp.index(i), c, &m);
            }
        }
        if cidrs.len() > 2 {
            errs.invalid(
                &cp,
                Bad::json(cidrs),
                "may specify no more than one CIDR for each IP family",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, c) in cidrs.iter().enumerate() {
            if !seen.insert(c) {
                errs.duplicate(&cp.index(i), c);
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let empty = Default::default();
        let new = self.spec.as_ref().unwrap_or(&empty);
        let old = old.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        let old_cidrs = old.pod_cidrs.as_deref().unwrap_or_default();
        if !old_cidrs.is_empty() && old_cidrs != new.pod_cidrs.as_deref().unwrap_or_default() {
            errs.forbidden(
                &path.child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            );
        }
        if !s(&old.provider_id).is_empty() && old.provider_id != new.provider_id {
            errs.forbidden(
                &path.child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            );
        }
        if s(&old.external_id) != s(&new.external_id) {
            errs.forbidden(&path.child("externalID"), "may not be updated");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pod
// ---------------------------------------------------------------------------------------------

impl Kind for Pod {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        pod::default_pod_spec(spec);
        pod::default_pod_only(spec);
    }

    fn on_create(&mut self) {
        let spec = self.spec.get_or_insert_default();
        self.status = Some(pod::initial_pod_status(spec));
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        pod::validate_pod_spec(spec, &path, true, errs);
        if s(&spec.service_account_name).is_empty() {
            for (i, v) in spec.volumes.iter().flatten().enumerate() {
                let Some(p) = &v.projected else { continue };
                for (j, src) in p.sources.iter().flatten().enumerate() {
                    if src.service_account_token.is_some() {
                        errs.forbidden(
                            &path
                                .child("volumes")
                                .index(i)
                                .child("projected")
                                .child("sources")
                                .index(j)
                                .child("serviceAccountToken"),
                            "must not be specified when serviceAccountName is not set",
                        );
                    }
                }
            }
        }
        for (field, list) in [
            ("containers", spec.containers.as_slice()),
            (
                "initContainers",
                spec.init_containers.as_deref().unwrap_or_default(),
            ),
        ] {
            for (i, c) in list.iter().enumerate() {
                let image = s(&c.image);
                if image.trim() != image {
                    errs.invalid(
                        &path.child(field).index(i).child("image"),
                        image,
                        "must not have leading or trailing whitespace",
                    );
                }
            }
        }
    }

    fn validate_create(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else { return };
        let path = Path::new("spec");
        if spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            errs.forbidden(
                &path.child("ephemeralContainers"),
                "cannot be set on create",
            );
        }
        if !s(&spec.node_name).is_empty()
            && spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty())
        {
            errs.forbidden(
                &path.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            );
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let empty = Default::default();
        pod::validate_pod_spec_update(
            self.spec.as_ref().unwrap_or(&empty),
            old.spec.as_ref().unwrap_or(&empty),
            errs,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------------------------

fn externally_accessible(spec: &ServiceSpec) -> bool {
    match s(&spec.type_) {
        "LoadBalancer" | "NodePort" => true,
        "ClusterIP" => spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()),
        _ => false,
    }
}

fn needs_node_ports(spec: &ServiceSpec) -> bool {
    match s(&spec.type_) {
        "NodePort" => true,
        "LoadBalancer" => spec.allocate_load_balancer_node_ports != Some(false),
        _ => false,
    }
}

fn needs_health_check(spec: &ServiceSpec) -> bool {
    s(&spec.type_) == "LoadBalancer" && s(&spec.external_traffic_policy) == "Local"
}

/// kube's `dropTypeDependentFields`: when a replacement changes the type, values that only
/// made sense for the old type are dropped if they were carried over unchanged.
fn drop_type_dependent_fields(new: &mut ServiceSpec, old: &ServiceSpec) {
    if needs_cluster_ip(old) && !needs_cluster_ip(new) {
        if new.cluster_ip == old.cluster_ip && new.cluster_ips == old.cluster_ips {
            new.cluster_ip = None;
            new.cluster_ips = None;
        }
        if new.ip_families == old.ip_families {
            new.ip_families = None;
        }
        if new.ip_family_policy == old.ip_family_policy {
            new.ip_family_policy = None;
        }
    }
    if needs_node_ports(old) && !needs_node_ports(new) {
        let old_ports = old.ports.as_deref().unwrap_or_default();
        for p in new.ports.iter_mut().flatten() {
            let carried = old_ports
                .iter()
                .any(|o| o.port == p.port && o.node_port == p.node_port);
            if carried {
                p.node_port = None;
            }
        }
    }
    if needs_health_check(old)
        && !needs_health_check(new)
        && new.health_check_node_port == old.health_check_node_port
    {
        new.health_check_node_port = None;
    }
    if s(&old.type_) == "LoadBalancer" && s(&new.type_) != "LoadBalancer" {
        if new.allocate_load_balancer_node_ports == old.allocate_load_balancer_node_ports {
            new.allocate_load_balancer_node_ports = None;
        }
        if new.load_balancer_class == old.load_balancer_class {
            new.load_balancer_class = None;
        }
    }
    if externally_accessible(old)
        && !externally_accessible(new)
        && new.external_traffic_policy == old.external_traffic_policy
    {
        new.external_traffic_policy = None;
    }
    if s(&new.type_) == "ExternalName" && new.internal_traffic_policy == old.internal_traffic_policy
    {
        new.internal_traffic_policy = None;
    }
}

fn needs_cluster_ip(spec: &ServiceSpec) -> bool {
    s(&spec.type_) != "ExternalName"
}

fn is_headless(spec: &ServiceSpec) -> bool {
    s(&spec.cluster_ip) == "None"
}

fn cluster_ips(spec: &ServiceSpec) -> &[String] {
    spec.cluster_ips.as_deref().unwrap_or_default()
}

impl Kind for Service {
    const NAME_RULE: NameRule = NameRule::Dns1035;

    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        default_str(&mut spec.session_affinity, "None");
        match s(&spec.session_affinity) {
            "None" => spec.session_affinity_config = None,
            "ClientIP" => {
                let has_timeout = spec
                    .session_affinity_config
                    .as_ref()
                    .and_then(|c| c.client_ip.as_ref())
                    .and_then(|c| c.timeout_seconds)
                    .is_some();
                if !has_timeout {
                    spec.session_affinity_config = Some(SessionAffinityConfig {
                        client_ip: Some(ClientIPConfig {
                            timeout_seconds: Some(10800),
                        }),
                    });
                }
            }
            _ => {}
        }
        default_str(&mut spec.type_, "ClusterIP");
        for p in spec.ports.iter_mut().flatten() {
            default_str(&mut p.protocol, "TCP");
            let unset = match &p.target_port {
                None => true,
                Some(IntOrString::Int(0)) => true,
                Some(IntOrString::String(name)) => name.is_empty(),
                Some(IntOrString::Int(_)) => false,
            };
            if unset {
                p.target_port = Some(IntOrString::Int(p.port));
            }
        }
        if externally_accessible(spec) {
            default_str(&mut spec.external_traffic_policy, "Cluster");
        }
        if matches!(s(&spec.type_), "NodePort" | "LoadBalancer" | "ClusterIP") {
            default_str(&mut spec.internal_traffic_policy, "Cluster");
        }
        if s(&spec.type_) == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
            spec.allocate_load_balancer_node_ports = Some(true);
        }
        // The strategy keeps clusterIP and clusterIPs[0] in step.
        if !s(&spec.cluster_ip).is_empty() && cluster_ips(spec).is_empty() {
            spec.cluster_ips = Some(vec![s(&spec.cluster_ip).to_string()]);
        } else if s(&spec.cluster_ip).is_empty()
            && let Some(first) = cluster_ips(spec).first()
        {
            spec.cluster_ip = Some(first.clone());
        }
    }

    fn on_create(&mut self) {
        self.status = Some(ServiceStatus {
            load_balancer: Some(Default::default()),
            ..Default::default()
        });
        if let Some(spec) = &mut self.spec
            && needs_cluster_ip(spec)
            && spec.ip_family_policy.is_none()
        {
            spec.ip_family_policy = Some("SingleStack".to_string());
        }
    }

    fn on_update(&mut self, old: &Self) {
        let (Some(new), Some(old)) = (&mut self.spec, &old.spec) else {
            return;
        };
        drop_type_dependent_fields(new, old);
        // A replacement that omits what the allocator filled in keeps the stored values.
        if needs_cluster_ip(new) && needs_cluster_ip(old) {
            if s(&new.cluster_ip).is_empty() && cluster_ips(new).is_empty() {
                new.cluster_ip.clone_from(&old.cluster_ip);
                new.cluster_ips.clone_from(&old.cluster_ips);
            }
            if new.ip_families.as_ref().is_none_or(Vec::is_empty) {
                new.ip_families.clone_from(&old.ip_families);
            }
            if new.ip_family_policy.is_none() {
                new.ip_family_policy.clone_from(&old.ip_family_policy);
            }
        }
        if needs_cluster_ip(new) && new.ip_family_policy.is_none() {
            new.ip_family_policy = Some("SingleStack".to_string());
        }
        let old_ports = old.ports.as_deref().unwrap_or_default();
        if needs_node_ports(new) {
            for p in new.ports.iter_mut().flatten() {
                if p.node_port.unwrap_or(0) != 0 {
                    continue;
                }
                let same = |o: &&ServicePort| {
                    o.port == p.port && s(&o.protocol) == s(&p.protocol) && s(&o.name) == s(&p.name)
                };
                if let Some(o) = old_ports.iter().find(same) {
                    p.node_port = o.node_port;
                }
            }
        }
        if new.health_check_node_port.unwrap_or(0) == 0 && needs_health_check(new) {
            new.health_check_node_port = old.health_check_node_port;
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        validate_service_spec(spec, errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let empty = ServiceSpec::default();
        let new = self.spec.as_ref().unwrap_or(&empty);
        let old = old.spec.as_ref().unwrap_or(&empty);
        if s(&new.type_) == "ExternalName" || s(&old.type_) == "ExternalName" {
            return;
        }
        if is_headless(new) && is_headless(old) {
            return;
        }
        let path = Path::new("spec").child("clusterIPs");
        let (n, o) = (cluster_ips(new), cluster_ips(old));
        let value = || Bad::json(n);
        if n.len() == o.len() {
            for (i, ip) in o.iter().enumerate() {
                if *ip != n[i] {
                    errs.invalid(&path.index(i), value(), "may not change once set");
                }
            }
        } else if n.len() < o.len() {
            if n.is_empty() {
                errs.invalid(
                    &path.index(0),
                    value(),
                    "primary clusterIP can not be unset",
                );
            } else if n[0] != o[0] {
                errs.invalid(&path.index(0), value(), "may not change once set");
            }
        } else if !o.is_empty() && n[0] != o[0] {
            errs.invalid(&path.index(0), value(), "may not change once set");
        }
        let (nf, of) = (
            new.ip_families.as_deref().unwrap_or_default(),
            old.ip_families.as_deref().unwrap_or_default(),
        );
        if let (Some(a), Some(b)) = (nf.first(), of.first())
            && a != b
        {
            errs.invalid(
                &Path::new("spec").child("ipFamilies").index(0),
                Bad::json(nf),
                "may not change once set",
            );
        }
    }
}

fn validate_service_spec(spec: &ServiceSpec, errs: &mut Errors) {
    let path = Path::new("spec");
    let ports = spec.ports.as_deref().unwrap_or_default();
    let ty = s(&spec.type_);
    let headless = is_headless(spec);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.required(&path.child("ports"), "");
    }
    let ips = cluster_ips(spec);
    match ty {
        "LoadBalancer" | "NodePort" if headless => {
            let first = ips.first().map_or("None", String::as_str);
            errs.invalid(
                &path.child("clusterIPs").index(0),
                first,
                &format!("may not be set to 'None' for {ty} services"),
            );
        }
        "ExternalName" => {
            if !ips.is_empty() {
                errs.forbidden(
                    &path.child("clusterIPs"),
                    "may not be set for ExternalName services",
                );
            }
            if spec.ip_families.as_ref().is_some_and(|f| !f.is_empty()) {
                errs.forbidden(
                    &path.child("ipFamilies"),
                    "may not be set for ExternalName services",
                );
            }
            if spec.ip_family_policy.is_some() {
                errs.forbidden(
                    &path.child("ipFamilyPolicy"),
                    "may not be set for ExternalName services",
                );
            }
            let cname = s(&spec.external_name);
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.required(&path.child("externalName"), "");
            } else {
                errs.invalid_all(
                    &path.child("externalName"),
                    cname,
                    names::is_dns1123_subdomain(cname),
                );
            }
        }
        _ => {}
    }
    let mut port_names = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        validate_service_port(
            p,
            ports.len() > 1,
            &mut port_names,
            &path.child("ports").index(i),
            errs,
        );
    }
    meta::validate_labels(spec.selector.as_ref(), &path.child("selector"), errs);
    match s(&spec.session_affinity) {
        "" => errs.required(&path.child("sessionAffinity"), ""),
        "ClientIP" => {
            let cp = path.child("sessionAffinityConfig");
            let detail = "when session affinity type is ClientIP";
            match &spec.session_affinity_config {
                None => errs.required(&cp, detail),
                Some(c) => match &c.client_ip {
                    None => errs.required(&cp.child("clientIP"), detail),
                    Some(ip) => match ip.timeout_seconds {
                        None => {
                            errs.required(&cp.child("clientIP").child("timeoutSeconds"), detail)
                        }
                        Some(t) if t <= 0 || t > 86400 => errs.invalid(
                            &cp.child("clientIP").child("timeoutSeconds"),
                            t,
                            "must be greater than 0 and less than 86400",
                        ),
                        Some(_) => {}
                    },
                },
            }
        }
        "None" => {
            if spec.session_affinity_config.is_some() {
                errs.forbidden(
                    &path.child("sessionAffinityConfig"),
                    "must not be set when session affinity is None",
                );
            }
        }
        other => errs.not_supported(&path.child("sessionAffinity"), other, &["ClientIP", "None"]),
    }
    // clusterIP / clusterIPs / ipFamilies / ipFamilyPolicy.
    let cip = s(&spec.cluster_ip);
    if ty != "ExternalName" {
        if !cip.is_empty() && ips.first().is_some_and(|f| f != cip) {
            errs.invalid(
                &path.child("clusterIPs"),
                Bad::json(ips),
                "first value must match `clusterIP`",
            );
        }
        for (i, ip) in ips.iter().enumerate() {
            let p = path.child("clusterIPs").index(i);
            if ip == "None" {
                if ips.len() > 1 {
                    errs.invalid(
                        &p,
                        ip,
                        "must not be 'None' when more than one IP is specified",
                    );
                }
            } else if let Some(m) = names::is_valid_ip(ip) {
                errs.invalid(&p, ip, &m);
            }
        }
        if ips.len() > 2 {
            errs.invalid(
                &path.child("clusterIPs"),
                Bad::json(ips),
                "may only hold up to 2 values",
            );
        }
    }
    if let Some(policy) = &spec.ip_family_policy
        && !matches!(
            policy.as_str(),
            "SingleStack" | "PreferDualStack" | "RequireDualStack"
        )
    {
        errs.not_supported(
            &path.child("ipFamilyPolicy"),
            policy,
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        );
    }
    let mut families = BTreeSet::new();
    for (i, f) in spec.ip_families.iter().flatten().enumerate() {
        let p = path.child("ipFamilies").index(i);
        if !matches!(f.as_str(), "IPv4" | "IPv6") {
            errs.not_supported(&p, f, &["IPv4", "IPv6"]);
        } else if !families.insert(f) {
            errs.duplicate(&p, f);
        }
    }
    for (i, ip) in spec.external_ips.iter().flatten().enumerate() {
        if let Some(m) = names::is_valid_ip(ip) {
            errs.invalid(&path.child("externalIPs").index(i), ip, &m);
        }
    }
    match ty {
        "" => errs.required(&path.child("type"), ""),
        "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName" => {}
        other => errs.not_supported(
            &path.child("type"),
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ),
    }
    if ty == "ClusterIP" {
        for (i, p) in ports.iter().enumerate() {
            if p.node_port.unwrap_or(0) != 0 {
                errs.forbidden(
                    &path.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                );
            }
        }
    }
    let mut node_ports = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let np = p.node_port.unwrap_or(0);
        if np != 0 && !node_ports.insert((s(&p.protocol), np)) {
            errs.duplicate(&path.child("ports").index(i).child("nodePort"), np);
        }
    }
    let mut seen = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        if !seen.insert((s(&p.protocol), p.port)) {
            errs.duplicate(
                &path.child("ports").index(i),
                Bad::json(&serde_json::json!({"port": p.port, "protocol": s(&p.protocol)})),
            );
        }
    }
    if let Some(ranges) = spec
        .load_balancer_source_ranges
        .as_ref()
        .filter(|r| !r.is_empty())
    {
        // kube capitalises this path.
        let p = path.child("LoadBalancerSourceRanges");
        if ty != "LoadBalancer" {
            errs.forbidden(&p, "may only be used when `type` is 'LoadBalancer'");
        }
        for (i, r) in ranges.iter().enumerate() {
            if let Some(m) = names::is_valid_cidr(r.trim()) {
                errs.invalid(&p.index(i), r.trim(), &m);
            }
        }
    }
    if spec.allocate_load_balancer_node_ports.is_some() && ty != "LoadBalancer" {
        errs.forbidden(
            &path.child("allocateLoadBalancerNodePorts"),
            "may only be used when `type` is 'LoadBalancer'",
        );
    }
    if ty == "LoadBalancer" && spec.allocate_load_balancer_node_ports.is_none() {
        errs.required(&Path::new("allocateLoadBalancerNodePorts"), "");
    }
    let etp = s(&spec.external_traffic_policy);
    if !externally_accessible(spec) {
        if !etp.is_empty() {
            errs.invalid(
                &path.child("externalTrafficPolicy"),
                etp,
                "may only be set for externally-accessible services",
            );
        }
    } else if etp.is_empty() {
        errs.required(&path.child("externalTrafficPolicy"), "");
    } else if !matches!(etp, "Cluster" | "Local") {
        errs.not_supported(
            &path.child("externalTrafficPolicy"),
            etp,
            &["Cluster", "Local"],
        );
    }
    let hcnp = spec.health_check_node_port.unwrap_or(0);
    if ty == "LoadBalancer" && etp == "Local" {
        if hcnp != 0 {
            for m in names::is_valid_port_num(i64::from(hcnp)) {
                errs.invalid(&path.child("healthCheckNodePort"), hcnp, &m);
            }
        }
    } else if hcnp != 0 {
        errs.invalid(
            &path.child("healthCheckNodePort"),
            hcnp,
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        );
    }
    match &spec.internal_traffic_policy {
        None if matches!(ty, "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.required(&path.child("internalTrafficPolicy"), "");
        }
        Some(p) if !matches!(p.as_str(), "Cluster" | "Local") => {
            errs.not_supported(
                &path.child("internalTrafficPolicy"),
                p,
                &["Cluster", "Local"],
            );
        }
        _ => {}
    }
    if let Some(td) = &spec.traffic_distribution
        && !matches!(
            td.as_str(),
            "PreferClose" | "PreferSameZone" | "PreferSameNode"
        )
    {
        errs.not_supported(
            &path.child("trafficDistribution"),
            td,
            &["PreferClose", "PreferSameZone", "PreferSameNode"],
        );
    }
}

fn validate_service_port(
    p: &ServicePort,
    require_name: bool,
    names_seen: &mut BTreeSet<String>,
    path: &Path,
    errs: &mut Errors,
) {
    let name = s(&p.name);
    if require_name && name.is_empty() {
        errs.required(&path.child("name"), "");
    } else if !name.is_empty() {
        errs.invalid_all(&path.child("name"), name, names::is_dns1123_label(name));
        if !names_seen.insert(name.to_string()) {
            errs.duplicate(&path.child("name"), name);
        }
    }
    for m in names::is_valid_port_num(i64::from(p.port)) {
        errs.invalid(&path.child("port"), p.port, &m);
    }
    pod::validate_protocol(&p.protocol, &path.child("protocol"), errs);
    if let Some(tp) = &p.target_port {
        pod::validate_port_num_or_name(tp, &path.child("targetPort"), errs);
    }
    if let Some(ap) = &p.app_protocol {
        errs.invalid_all(&path.child("appProtocol"), ap, names::is_qualified_name(ap));
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints
// ---------------------------------------------------------------------------------------------

impl Kind for Endpoints {
    fn set_defaults(&mut self) {
        for subset in self.subsets.iter_mut().flatten() {
            for p in subset.ports.iter_mut().flatten() {
                default_str(&mut p.protocol, "TCP");
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let path = Path::new("subsets");
        for (i, ss) in self.subsets.iter().flatten().enumerate() {
            let p = path.index(i);
            let addresses = ss.addresses.as_deref().unwrap_or_default();
            let not_ready = ss.not_ready_addresses.as_deref().unwrap_or_default();
            if addresses.is_empty() && not_ready.is_empty() {
                errs.required(&p, "must specify `addresses` or `notReadyAddresses`");
            }
            for (field, list) in [("addresses", addresses), ("notReadyAddresses", not_ready)] {
                for (j, a) in list.iter().enumerate() {
                    let ap = p.child(field).index(j);
                    match names::is_valid_ip(&a.ip) {
                        Some(m) => errs.invalid(&ap.child("ip"), &a.ip, &m),
                        None => validate_non_special_ip(&a.ip, &ap.child("ip"), errs),
                    }
                    let hostname = s(&a.hostname);
                    if !hostname.is_empty() {
                        errs.invalid_all(
                            &ap.child("hostname"),
                            hostname,
                            names::is_dns1123_label(hostname),
                        );
                    }
                    if let Some(n) = &a.node_name {
                        errs.invalid_all(&ap.child("nodeName"), n, names::is_dns1123_subdomain(n));
                    }
                }
            }
            let ports = ss.ports.as_deref().unwrap_or_default();
            for (j, port) in ports.iter().enumerate() {
                let pp = p.child("ports").index(j);
                let name = s(&port.name);
                if ports.len() > 1 && name.is_empty() {
                    errs.required(&pp.child("name"), "");
                } else if !name.is_empty() {
                    errs.invalid_all(&pp.child("name"), name, names::is_dns1123_label(name));
                }
                for m in names::is_valid_port_num(i64::from(port.port)) {
                    errs.invalid(&pp.child("port"), port.port, &m);
                }
                pod::validate_protocol(&port.protocol, &pp.child("protocol"), errs);
                if let Some(ap) = &port.app_protocol {
                    errs.invalid_all(&pp.child("appProtocol"), ap, names::is_qualified_name(ap));
                }
            }
        }
    }
}

/// Refuses unspecified, loopback and link-local addresses (kube's `ValidateNonSpecialIP`).
pub(crate) fn validate_non_special_ip(ip: &str, path: &Path, errs: &mut Errors) {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        errs.invalid(path, ip, "must be a valid IP address");
        return;
    };
    if addr.is_unspecified() {
        errs.invalid(path, ip, &format!("may not be unspecified ({ip})"));
    }
    if addr.is_loopback() {
        errs.invalid(
            path,
            ip,
            "may not be in the loopback range (127.0.0.0/8, ::1/128)",
        );
    }
    let link_local_unicast = match addr {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local_unicast {
        errs.invalid(
            path,
            ip,
            "may not be in the link-local range (169.254.0.0/16, fe80::/10)",
        );
    }
    let link_local_multicast = match addr {
        std::net::IpAddr::V4(a) => a.octets()[..3] == [224, 0, 0],
        std::net::IpAddr::V6(a) => (a.segments()[0] & 0xff0f) == 0xff02,
    };
    if link_local_multicast {
        errs.invalid(
            path,
            ip,
            "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret
// ---------------------------------------------------------------------------------------------

impl Kind for ConfigMap {
    fn validate(&self, errs: &mut Errors) {
        let data_path = Path::new("data");
        let binary_path = Path::new("binaryData");
        let mut total = 0usize;
        for (k, v) in self.data.iter().flatten() {
            errs.invalid_all(&data_path.key(k), k, names::is_config_map_key(k));
            if self.binary_data.as_ref().is_some_and(|b| b.contains_key(k)) {
                errs.invalid(
                    &data_path.key(k),
                    k,
                    "duplicate of key present in binaryData",
                );
            }
            total = total.saturating_add(v.len());
        }
        for (k, v) in self.binary_data.iter().flatten() {
            errs.invalid_all(&binary_path.key(k), k, names::is_config_map_key(k));
            total = total.saturating_add(v.0.len());
        }
        if total > MAX_SECRET_SIZE {
            errs.too_long(&Path::root(), MAX_SECRET_SIZE);
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.forbidden(
                    &Path::new("immutable"),
                    "field is immutable when `immutable` is set",
                );
            }
            if !semantic_eq(&self.data, &old.data) {
                errs.forbidden(
                    &Path::new("data"),
                    "field is immutable when `immutable` is set",
                );
            }
            if !semantic_eq(&self.binary_data, &old.binary_data) {
                errs.forbidden(
                    &Path::new("binaryData"),
                    "field is immutable when `immutable` is set",
                );
            }
        }
    }
}

impl Kind for Secret {
    fn set_defaults(&mut self) {
        // v1 → internal conversion folds `stringData` into `data`, overwriting.
        if let Some(string_data) = self.string_data.take() {
            let data = self.data.get_or_insert_default();
            for (k, v) in string_data {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
        default_str(&mut self.type_, "Opaque");
    }

    fn validate(&self, errs: &mut Errors) {
        let data_path = Path::new("data");
        let empty = BTreeMap::new();
        let data = self.data.as_ref().unwrap_or(&empty);
        let mut total = 0usize;
        for (k, v) in data {
            errs.invalid_all(&data_path.key(k), k, names::is_config_map_key(k));
            total = total.saturating_add(v.0.len());
        }
        if total > MAX_SECRET_SIZE {
            errs.too_long(&data_path, MAX_SECRET_SIZE);
        }
        let json_key = |key: &str, errs: &mut Errors| match data.get(key) {
            None => errs.required(&data_path.key(key), ""),
            Some(v) => {
                if let Err(e) = serde_json::from_slice::<serde_json::Map<String, Value>>(&v.0) {
                    errs.invalid(
                        &data_path.key(key),
                        "<secret contents redacted>",
                        &e.to_string(),
                    );
                }
            }
        };
        match s(&self.type_) {
            "kubernetes.io/service-account-token" => {
                let name = self
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("kubernetes.io/service-account.name"))
                    .map_or("", String::as_str);
                if name.is_empty() {
                    errs.required(
                        &Path::new("metadata")
                            .child("annotations")
                            .key("kubernetes.io/service-account.name"),
                        "",
                    );
                }
            }
            "kubernetes.io/dockercfg" => json_key(".dockercfg", errs),
            "kubernetes.io/dockerconfigjson" => json_key(".dockerconfigjson", errs),
            "kubernetes.io/basic-auth"
                if !data.contains_key("username") && !data.contains_key("password") =>
            {
                errs.required(&data_path.key("username"), "");
                errs.required(&data_path.key("password"), "");
            }
            "kubernetes.io/ssh-auth"
                if data.get("ssh-privatekey").is_none_or(|v| v.0.is_empty()) =>
            {
                errs.required(&data_path.key("ssh-privatekey"), "");
            }
            "kubernetes.io/tls" => {
                for key in ["tls.crt", "tls.key"] {
                    if !data.contains_key(key) {
                        errs.required(&data_path.key(key), "");
                    }
                }
            }
            _ => {}
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        if s(&self.type_) != s(&old.type_) {
            errs.immutable(&Path::new("type"), s(&self.type_));
        }
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.forbidden(
                    &Path::new("immutable"),
                    "field is immutable when `immutable` is set",
                );
            }
            if !semantic_eq(&self.data, &old.data) {
                errs.forbidden(
                    &Path::new("data"),
                    "field is immutable when `immutable` is set",
                );
            }
        }
    }
}

impl Kind for ServiceAccount {}

// ---------------------------------------------------------------------------------------------
// Event (core/v1)
// ---------------------------------------------------------------------------------------------

impl Kind for Event {
    const NAME_RULE: NameRule = NameRule::PathSegment;

    fn validate(&self, errs: &mut Errors) {
        let ns = self.metadata.namespace.as_deref().unwrap_or("");
        let involved_ns = s(&self.involved_object.namespace);
        let mismatch = |errs: &mut Errors| {
            errs.invalid(
                &Path::new("involvedObject").child("namespace"),
                involved_ns,
                "does not match event.namespace",
            );
        };
        if self.event_time.is_none() {
            if involved_ns.is_empty() {
                if !ns.is_empty() && ns != "default" {
                    mismatch(errs);
                }
            } else if ns != involved_ns {
                mismatch(errs);
            }
        } else {
            if involved_ns.is_empty() && ns != "default" && ns != "kube-system" {
                mismatch(errs);
            }
            let component = s(&self.reporting_component);
            let rc = Path::new("reportingComponent");
            if component.is_empty() {
                errs.required(&rc, "");
            }
            errs.invalid_all(&rc, component, names::is_qualified_name(component));
            check_event_lengths(
                s(&self.reporting_instance),
                s(&self.action),
                s(&self.reason),
                s(&self.message),
                "message",
                errs,
            );
        }
    }
}

/// The length limits kube puts on events carrying `eventTime`.
pub(crate) fn check_event_lengths(
    instance: &str,
    action: &str,
    reason: &str,
    note: &str,
    note_field: &str,
    errs: &mut Errors,
) {
    for (field, value, limit) in [
        ("reportingInstance", instance, 128),
        ("action", action, 128),
        ("reason", reason, 128),
    ] {
        if value.is_empty() {
            errs.required(&Path::new(field), "");
        }
        if value.len() > limit {
            errs.invalid(
                &Path::new(field),
                "",
                &format!("can have at most {limit} characters"),
            );
        }
    }
    if note.len() > 1024 {
        errs.invalid(
            &Path::new(note_field),
            "",
            "can have at most 1024 characters",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// PersistentVolume and PersistentVolumeClaim
// ---------------------------------------------------------------------------------------------

const ACCESS_MODES: &[&str] = &[
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn validate_access_modes(modes: &[String], path: &Path, errs: &mut Errors) {
    if modes.is_empty() {
        errs.required(path, "at least 1 access mode is required");
    }
    let mut rwop = false;
    let mut other = false;
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.not_supported(path, m, ACCESS_MODES);
        } else if m == "ReadWriteOncePod" {
            rwop = true;
        } else {
            other = true;
        }
    }
    if rwop && other {
        errs.forbidden(path, "may not use ReadWriteOncePod with other access modes");
    }
}

fn validate_volume_mode(mode: &Option<String>, path: &Path, errs: &mut Errors) {
    if let Some(m) = mode
        && !matches!(m.as_str(), "Block" | "Filesystem")
    {
        errs.not_supported(path, m, &["Block", "Filesystem"]);
    }
}

/// The JSON keys of a PV spec that are not part of its volume source.
const PV_NON_SOURCE_FIELDS: &[&str] = &[
    "accessModes",
    "capacity",
    "claimRef",
    "mountOptions",
    "nodeAffinity",
    "persistentVolumeReclaimPolicy",
    "storageClassName",
    "volumeMode",
    "volumeAttributesClassName",
];

fn pv_source(pv: &PersistentVolume) -> Value {
    let mut v = serde_json::to_value(&pv.spec)
        .map(normalize)
        .unwrap_or_default();
    if let Value::Object(map) = &mut v {
        map.retain(|k, _| !PV_NON_SOURCE_FIELDS.contains(&k.as_str()));
    }
    v
}

impl Kind for PersistentVolume {
    fn set_defaults(&mut self) {
        let spec = self.spec.get_or_insert_default();
        default_str(&mut spec.persistent_volume_reclaim_policy, "Retain");
        default_str(&mut spec.volume_mode, "Filesystem");
        quantity::canonicalize_list(spec.capacity.as_mut());
        default_str(&mut self.status.get_or_insert_default().phase, "Pending");
    }

    fn on_create(&mut self) {
        self.status = Some(PersistentVolumeStatus {
            phase: Some("Pending".to_string()),
            ..Default::default()
        });
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        validate_access_modes(
            spec.access_modes.as_deref().unwrap_or_default(),
            &path.child("accessModes"),
            errs,
        );
        let cap = spec.capacity.clone().unwrap_or_default();
        let cp = path.child("capacity");
        if cap.is_empty() {
            errs.required(&cp, "");
        }
        if !cap.contains_key("storage") || cap.len() > 1 {
            errs.not_supported(&cp, Bad::json(&cap), &["storage"]);
        }
        for (k, q) in &cap {
            if let Some(v) = pod::validate_quantity(q, &cp.key(k), errs)
                && v <= 0.0
            {
                errs.invalid(&cp.key(k), &q.0, "must be greater than zero");
            }
        }
        let sources = match pv_source(self) {
            Value::Object(m) => m.keys().cloned().collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        if sources.is_empty() {
            errs.required(&path, "must specify a volume type");
        }
        for extra in sources.iter().skip(1) {
            errs.forbidden(
                &path.child(extra),
                "may not specify more than 1 volume type",
            );
        }
        if let Some(p) = &spec.persistent_volume_reclaim_policy
            && !matches!(p.as_str(), "Delete" | "Recycle" | "Retain")
        {
            errs.not_supported(
                &path.child("persistentVolumeReclaimPolicy"),
                p,
                &["Delete", "Recycle", "Retain"],
            );
        }
        let class = s(&spec.storage_class_name);
        if !class.is_empty() {
            errs.invalid_all(
                &path.child("storageClassName"),
                class,
                names::is_dns1123_subdomain(class),
            );
        }
        validate_volume_mode(&spec.volume_mode, &path.child("volumeMode"), errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let (new_src, old_src) = (pv_source(self), pv_source(old));
        if new_src != old_src {
            let changes = diff(&old_src, &new_src, 10);
            errs.forbidden(
                &Path::new("spec").child("persistentvolumesource"),
                &format!(
                    "spec.persistentvolumesource is immutable after creation\n{}",
                    changes.join("\n")
                ),
            );
        }
        let mode = |pv: &PersistentVolume| pv.spec.as_ref().and_then(|s| s.volume_mode.clone());
        if mode(self) != mode(old) {
            errs.immutable(&Path::new("volumeMode"), Bad::from(mode(self).as_deref()));
        }
    }
}

fn storage_request(pvc: &PersistentVolumeClaim) -> Option<&Quantity> {
    pvc.spec
        .as_ref()?
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("storage")
}

impl Kind for PersistentVolumeClaim {
    fn set_defaults(&mut self) {
        default_str(
            &mut self.spec.get_or_insert_default().volume_mode,
            "Filesystem",
        );
        default_str(&mut self.status.get_or_insert_default().phase, "Pending");
    }

    fn on_create(&mut self) {
        self.status = Some(PersistentVolumeClaimStatus {
            phase: Some("Pending".to_string()),
            ..Default::default()
        });
    }

    fn validate(&self, errs: &mut Errors) {
        let empty = Default::default();
        let spec = self.spec.as_ref().unwrap_or(&empty);
        let path = Path::new("spec");
        validate_access_modes(
            spec.access_modes.as_deref().unwrap_or_default(),
            &path.child("accessModes"),
            errs,
        );
        if let Some(sel) = &spec.selector {
            meta::validate_label_selector(sel, &path.child("selector"), errs);
        }
        let rp = path.child("resources").key("storage");
        match storage_request(self) {
            None => errs.required(&rp, ""),
            Some(q) => {
                if let Some(v) = pod::validate_quantity(q, &rp, errs)
                    && v <= 0.0
                {
                    errs.invalid(&rp, &q.0, "must be greater than zero");
                }
            }
        }
        let class = s(&spec.storage_class_name);
        if !class.is_empty() {
            errs.invalid_all(
                &path.child("storageClassName"),
                class,
                names::is_dns1123_subdomain(class),
            );
        }
        validate_volume_mode(&spec.volume_mode, &path.child("volumeMode"), errs);
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let mut new_spec = self.spec.clone().unwrap_or_default();
        let mut old_spec = old.spec.clone().unwrap_or_default();
        if s(&old_spec.volume_name).is_empty() {
            old_spec.volume_name.clone_from(&new_spec.volume_name);
        }
        let bound = old
            .status
            .as_ref()
            .is_some_and(|st| s(&st.phase) == "Bound");
        if bound {
            let old_req = storage_request(old).cloned();
            if let Some(requests) = new_spec
                .resources
                .as_mut()
                .and_then(|r| r.requests.as_mut())
            {
                match old_req {
                    Some(q) => requests.insert("storage".to_string(), q),
                    None => requests.remove("storage"),
                };
            }
            new_spec
                .volume_attributes_class_name
                .clone_from(&old_spec.volume_attributes_class_name);
        }
        if !semantic_eq(&new_spec, &old_spec) {
            let a = serde_json::to_value(&old_spec)
                .map(normalize)
                .unwrap_or_default();
            let b = serde_json::to_value(&new_spec)
                .map(normalize)
                .unwrap_or_default();
            errs.forbidden(
                &Path::new("spec"),
                &format!(
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                    diff(&a, &b, 10).join("\n")
                ),
            );
        }
        let size = |q: Option<&Quantity>| q.and_then(|q| quantity::parse(&q.0)).unwrap_or(0.0);
        let (new_size, old_size) = (size(storage_request(self)), size(storage_request(old)));
        let status_size = size(
            old.status
                .as_ref()
                .and_then(|st| st.capacity.as_ref())
                .and_then(|c| c.get("storage")),
        );
        if new_size < old_size && new_size <= status_size {
            errs.forbidden(
                &Path::new("spec")
                    .child("resources")
                    .child("requests")
                    .child("storage"),
                "field can not be less than status.capacity",
            );
        }
        let mode =
            |pvc: &PersistentVolumeClaim| pvc.spec.as_ref().and_then(|s| s.volume_mode.clone());
        if mode(self) != mode(old) {
            errs.immutable(&Path::new("volumeMode"), Bad::from(mode(self).as_deref()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ResourceQuota and LimitRange
// ---------------------------------------------------------------------------------------------

const STANDARD_QUOTA_RESOURCES: &[&str] = &[
    "pods",
    "memory",
    "cpu",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "ephemeral-storage",
    "services",
    "services.loadbalancers",
    "services.nodeports",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "replicationcontrollers",
    "resourcequotas",
];

const QUOTA_SCOPES: &[&str] = &[
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
    "VolumeAttributesClass",
];

fn validate_quota_hard(hard: Option<&BTreeMap<String, Quantity>>, path: &Path, errs: &mut Errors) {
    for (k, q) in hard.into_iter().flatten() {
        let p = path.key(k);
        pod::validate_resource_name(k, false, &p, errs);
        if !k.contains('/')
            && !STANDARD_QUOTA_RESOURCES.contains(&k.as_str())
            && !k.starts_with("hugepages-")
            && !k.starts_with("requests.hugepages-")
        {
            errs.invalid(&p, k, "must be a standard resource for quota");
        }
        pod::validate_resource_quantity(k, q, &p, errs);
    }
}

impl Kind for ResourceQuota {
    fn set_defaults(&mut self) {
        if let Some(spec) = &mut self.spec {
            quantity::canonicalize_list(spec.hard.as_mut());
        }
        if let Some(status) = &mut self.status {
            quantity::canonicalize_list(status.hard.as_mut());
            quantity::canonicalize_list(status.used.as_mut());
        }
    }

    fn on_create(&mut self) {
        self.status = Some(ResourceQuotaStatus::default());
    }

    fn validate(&self, errs: &mut Errors) {
        let Some(spec) = &self.spec else { return };
        let path = Path::new("spec");
        validate_quota_hard(spec.hard.as_ref(), &path.child("hard"), errs);
        let scopes = spec.scopes.as_deref().unwrap_or_default();
        let sp = path.child("scopes");
        for scope in scopes {
            if !QUOTA_SCOPES.contains(&scope.as_str()) {
                errs.invalid(&sp, Bad::json(scopes), "unsupported scope");
            }
        }
        let has = |x: &str| scopes.iter().any(|s| s == x);
        if (has("BestEffort") && has("NotBestEffort"))
            || (has("Terminating") && has("NotTerminating"))
        {
            errs.invalid(&sp, Bad::json(scopes), "conflicting scopes");
        }
        if let Some(sel) = &spec.scope_selector {
            let mp = path.child("scopeSelector").child("matchExpressions");
            for req in sel.match_expressions.iter().flatten() {
                if !QUOTA_SCOPES.contains(&req.scope_name.as_str()) {
                    errs.invalid(&mp.child("scopeName"), &req.scope_name, "unsupported scope");
                }
                let values = req.values.as_deref().unwrap_or_default();
                match req.operator.as_str() {
                    "In" | "NotIn" => {
                        if values.is_empty() {
                            errs.required(
                                &mp.child("values"),
                                "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector",
                            );
                        }
                    }
                    "Exists" | "DoesNotExist" => {
                        if !values.is_empty() {
                            errs.invalid(
                                &mp.child("values"),
                                Bad::json(values),
                                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector",
                            );
                        }
                    }
                    op => errs.invalid(&mp.child("operator"), op, "not a valid selector operator"),
                }
            }
        }
    }

    fn validate_update(&self, old: &Self, errs: &mut Errors) {
        let scopes = |q: &ResourceQuota| -> BTreeSet<String> {
            q.spec
                .iter()
                .flat_map(|s| s.scopes.iter().flatten().cloned())
                .collect()
        };
        if scopes(self) != scopes(old) {
            let list = self
                .spec
                .as_ref()
                .and_then(|s| s.scopes.clone())
                .unwrap_or_default();
            errs.immutable(&Path::new("spec").child("scopes"), Bad::json(&list));
        }
    }
}

impl Kind for LimitRange {
    fn set_defaults(&mut self) {
        for item in self.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
            for list in [
                &mut item.max,
                &mut item.min,
                &mut item.default,
                &mut item.default_request,
                &mut item.max_limit_request_ratio,
            ] {
                quantity::canonicalize_list(list.as_mut());
            }
            if item.type_ != "Container" {
                continue;
            }
            // Default limits from max, default requests from defaults then min; kube's empty
            // maps are not printed, so none are added.
            let mut default = item.default.clone().unwrap_or_default();
            for (k, v) in item.max.iter().flatten() {
                default.entry(k.clone()).or_insert_with(|| v.clone());
            }
            let mut default_request = item.default_request.clone().unwrap_or_default();
            for (k, v) in default.iter().chain(item.min.iter().flatten()) {
                default_request
                    .entry(k.clone())
                    .or_insert_with(|| v.clone());
            }
            if !default.is_empty() {
                item.default = Some(default);
            }
            if !default_request.is_empty() {
                item.default_request = Some(default_request);
            }
        }
    }

    fn validate(&self, errs: &mut Errors) {
        let path = Path::new("spec").child("limits");
        let mut types = BTreeSet::new();
        for (i, item) in self.spec.iter().flat_map(|s| s.limits.iter()).enumerate() {
            let p = path.index(i);
            let ty = item.type_.as_str();
            let msgs = names::is_qualified_name(ty);
            if !msgs.is_empty() {
                errs.invalid_all(&p.child("type"), ty, msgs);
            } else if !ty.contains('/')
                && !matches!(ty, "Pod" | "Container" | "PersistentVolumeClaim")
            {
                errs.invalid(
                    &p.child("type"),
                    ty,
                    "must be a standard limit type or fully qualified",
                );
            }
            if !types.insert(ty) {
                errs.duplicate(&p.child("type"), ty);
            }
            let container_rules = matches!(ty, "Pod" | "Container");
            let maps: [(&str, &Option<BTreeMap<String, Quantity>>); 5] = [
                ("max", &item.max),
                ("min", &item.min),
                ("default", &item.default),
                ("defaultRequest", &item.default_request),
                ("maxLimitRequestRatio", &item.max_limit_request_ratio),
            ];
            let mut values: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
            for (field, map) in maps {
                if ty == "Pod" && matches!(field, "default" | "defaultRequest") {
                    if map.as_ref().is_some_and(|m| !m.is_empty()) {
                        errs.forbidden(
                            &p.child(field),
                            "may not be specified when `type` is 'Pod'",
                        );
                    }
                    continue;
                }
                for (k, q) in map.iter().flatten() {
                    let kp = p.child(field).key(k);
                    pod::validate_resource_name(k, container_rules, &kp, errs);
                    if let Some(v) = quantity::parse(&q.0) {
                        values.entry(field).or_default().insert(k.as_str(), v);
                    } else {
                        errs.invalid(&kp, &q.0, quantity::QUANTITY_ERROR);
                    }
                }
            }
            if ty == "PersistentVolumeClaim" {
                let has = |f: &str| values.get(f).is_some_and(|m| m.contains_key("storage"));
                if !has("min") && !has("max") {
                    errs.required(
                        &p.child("limits"),
                        "either minimum or maximum storage value is required, but neither was provided",
                    );
                }
            }
            let get = |f: &str, k: &str| values.get(f).and_then(|m| m.get(k)).copied();
            let raw = |f: &str, k: &str| -> String {
                maps.iter()
                    .find(|(n, _)| *n == f)
                    .and_then(|(_, m)| m.as_ref())
                    .and_then(|m| m.get(k))
                    .map(|q| q.0.clone())
                    .unwrap_or_default()
            };
            let keys: BTreeSet<&str> = values.values().flat_map(|m| m.keys().copied()).collect();
            for k in keys {
                let (min, max, def, def_req, ratio) = (
                    get("min", k),
                    get("max", k),
                    get("default", k),
                    get("defaultRequest", k),
                    get("maxLimitRequestRatio", k),
                );
                if let (Some(a), Some(b)) = (min, max)
                    && a > b
                {
                    errs.invalid(
                        &p.child("min").key(k),
                        raw("min", k),
                        &format!(
                            "min value {} is greater than max value {}",
                            raw("min", k),
                            raw("max", k)
                        ),
                    );
                }
                if let (Some(dr), Some(mn)) = (def_req, min)
                    && mn > dr
                {
                    errs.invalid(
                        &p.child("defaultRequest").key(k),
                        raw("defaultRequest", k),
                        &format!(
                            "min value {} is greater than default request value {}",
                            raw("min", k),
                            raw("defaultRequest", k)
                        ),
                    );
                }
                if let (Some(dr), Some(mx)) = (def_req, max)
                    && dr > mx
                {
                    errs.invalid(
                        &p.child("defaultRequest").key(k),
                        raw("defaultRequest", k),
                        &format!(
                            "default request value {} is greater than max value {}",
                            raw("defaultRequest", k),
                            raw("max", k)
                        ),
                    );
                }
                if let (Some(dr), Some(d)) = (def_req, def)
                    && dr > d
                {
                    errs.invalid(
                        &p.child("defaultRequest").key(k),
                        raw("defaultRequest", k),
                        &format!(
                            "default request value {} is greater than default limit value {}",
                            raw("defaultRequest", k),
                            raw("default", k)
                        ),
                    );
                }
                if let (Some(d), Some(mn)) = (def, min)
                    && mn > d
                {
                    errs.invalid(
                        &p.child("default").key(k),
                        raw("min", k),
                        &format!(
                            "min value {} is greater than default value {}",
                            raw("min", k),
                            raw("default", k)
                        ),
                    );
                }
                if let (Some(d), Some(mx)) = (def, max)
                    && d > mx
                {
                    errs.invalid(
                        &p.child("default").key(k),
                        raw("max", k),
                        &format!(
                            "default value {} is greater than max value {}",
                            raw("default", k),
                            raw("max", k)
                        ),
                    );
                }
                if let Some(r) = ratio
                    && r < 1.0
                {
                    errs.invalid(
                        &p.child("maxLimitRequestRatio").key(k),
                        raw("maxLimitRequestRatio", k),
                        &format!("ratio {} is less than 1", raw("maxLimitRequestRatio", k)),
                    );
                }
            }
        }
    }
}
