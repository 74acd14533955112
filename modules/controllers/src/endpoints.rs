//! Endpoints and EndpointSlices (kube's endpoints and endpointslice controllers): for every
//! Service with a selector, the addresses of the Pods it selects, by port.
//!
//! - `Endpoints` named after the Service: ready pods in `addresses`, the others in
//!   `notReadyAddresses` (all in `addresses` with `publishNotReadyAddresses`); terminating
//!   pods left out unless `publishNotReadyAddresses`; subsets grouped by port set.
//! - `EndpointSlice`s (`generateName: <service>-`, `addressType: IPv4`, at most 100
//!   endpoints each, one per set of resolved ports): every pod with an IPv4 address that is
//!   not finished, terminating ones included, with `ready`/`serving`/`terminating`; labelled
//!   `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//!   endpointslice-controller.k8s.io`, owned by the Service (the garbage collector removes
//!   them with it). A Service selecting nothing keeps one empty slice.
//!
//! Ports are resolved per pod: a numeric `targetPort` as is, a named one against the pod's
//! container ports of the same protocol (a pod without it has no endpoint for that port).
//! `default/kubernetes` is left to the API server. Keys are the Service's namespace and name.

use std::collections::BTreeMap;

use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, ObjectReference, Pod,
    Service, ServicePort,
};
use kmicro_module_sdk::k8s_openapi::api::discovery::v1::{
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice,
};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kmicro_module_sdk::resource::ObjectRef;
use kmicro_module_sdk::{Action, Api, Cache, DeleteParams, Error, Key, ResourceExt, Rule, debug};

use crate::caches::Caches;

/// The key kind of this controller.
pub const KIND: &str = "endpoints";
/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming a slice's controller.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller, as the slices' managed-by label says it.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
/// The label naming an Endpoints object's controller.
pub const ENDPOINTS_MANAGED_BY_LABEL: &str = "endpoints.kubernetes.io/managed-by";
/// This controller, as the Endpoints' managed-by label says it.
pub const ENDPOINTS_MANAGED_BY: &str = "endpoint-controller";
/// The label of a headless Service's endpoints.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// At most this many endpoints per slice (kube's default `--max-endpoints-per-slice`).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// The API access the controller needs.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(&[""], &["services", "pods"], &["get", "list", "watch"]),
        Rule::new(
            &[""],
            &["endpoints"],
            &["get", "list", "watch", "create", "update", "delete"],
        ),
        Rule::new(
            &["discovery.k8s.io"],
            &["endpointslices"],
            &["get", "list", "watch", "create", "update", "delete"],
        ),
    ]
}

/// Whether the API server, not this controller, keeps the Service's endpoints.
fn is_api_server_service(namespace: &str, name: &str) -> bool {
    namespace == "default" && name == "kubernetes"
}

fn key(namespace: &str, name: &str) -> Vec<Key> {
    if is_api_server_service(namespace, name) {
        Vec::new()
    } else {
        vec![Key::new(KIND, namespace, name)]
    }
}

/// A Service changed.
pub fn keys_for_service(svc: &Service) -> Vec<Key> {
    key(svc.namespace_any(), svc.name_any())
}

/// A Pod changed: every Service of its namespace that selects it.
pub fn keys_for_pod(services: &Cache<Service>, pod: &Pod) -> Vec<Key> {
    services
        .in_namespace(pod.namespace_any())
        .iter()
        .filter(|svc| selects(svc, pod))
        .flat_map(|svc| keys_for_service(svc))
        .collect()
}

/// An Endpoints object changed: its Service's.
pub fn keys_for_endpoints(ep: &Endpoints) -> Vec<Key> {
    key(ep.namespace_any(), ep.name_any())
}

/// A slice changed: its Service's, when this controller manages it.
pub fn keys_for_slice(slice: &EndpointSlice) -> Vec<Key> {
    let labels = slice.labels();
    match labels.get(SERVICE_NAME_LABEL) {
        Some(svc) if labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY) => {
            key(slice.namespace_any(), svc)
        }
        _ => Vec::new(),
    }
}

/// The Service's selector, when it has one (a Service without one is managed by hand).
fn selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    svc.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
}

/// Whether `svc` selects `pod`.
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    svc.namespace_any() == pod.namespace_any()
        && selector(svc).is_some_and(|sel| {
            let labels = pod.labels();
            sel.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
}

/// The pod's IPv4 address, if it has one.
pub fn pod_ipv4(pod: &Pod) -> Option<&str> {
    let status = pod.status.as_ref()?;
    status
        .pod_ips
        .iter()
        .flatten()
        .map(|ip| ip.ip.as_str())
        .chain(status.pod_ip.as_deref())
        .find(|ip| ip.contains('.'))
}

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The port a pod serves `port` on: numeric target ports as they are, named ones looked up
/// among the pod's container ports of the same protocol.
pub fn resolve_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) if *n == 0 => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

fn service_ports(svc: &Service) -> &[ServicePort] {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or(&[])
}

fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

fn publishes_not_ready(svc: &Service) -> bool {
    svc.spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false)
}

/// The pod's resolved ports for the Service, as slice ports (sorted by name, then port).
fn slice_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    let mut ports: Vec<EndpointPort> = service_ports(svc)
        .iter()
        .filter_map(|p| {
            Some(EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(resolve_port(p, pod)?),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_string())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect();
    ports.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
    ports
}

fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".to_string()),
        namespace: Some(pod.namespace_any().to_string()),
        name: Some(pod.name_any().to_string()),
        uid: pod.metadata.uid.clone(),
        ..ObjectReference::default()
    }
}

/// The pod's hostname in the Service's DNS, when it asks for one under this Service.
fn hostname(svc: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == Some(svc.name_any())
        && pod.namespace_any() == svc.namespace_any())
    .then(|| hostname.to_string())
}

/// The pods the Service's endpoints are made of: selected, with an IPv4 address, not
/// finished; sorted by name.
fn candidates<'a>(svc: &Service, pods: &'a [std::rc::Rc<Pod>]) -> Vec<&'a Pod> {
    let mut out: Vec<&Pod> = pods
        .iter()
        .map(|p| p.as_ref())
        .filter(|p| selects(svc, p) && pod_ipv4(p).is_some() && !is_finished(p))
        .collect();
    out.sort_by(|a, b| a.name_any().cmp(b.name_any()));
    out
}

/// One slice's worth of content.
#[derive(Debug, Clone, PartialEq)]
pub struct SliceContent {
    /// The resolved ports.
    pub ports: Vec<EndpointPort>,
    /// The endpoints.
    pub endpoints: Vec<Endpoint>,
}

/// The slices the Service should have: endpoints grouped by resolved ports, at most
/// [`MAX_ENDPOINTS_PER_SLICE`] each; one empty slice when there are none.
pub fn desired_slices(svc: &Service, pods: &[std::rc::Rc<Pod>]) -> Vec<SliceContent> {
    let publish = publishes_not_ready(svc);
    let mut by_ports: BTreeMap<String, (Vec<EndpointPort>, Vec<Endpoint>)> = BTreeMap::new();
    for pod in candidates(svc, pods) {
        let ports = slice_ports(svc, pod);
        if ports.is_empty() && !service_ports(svc).is_empty() {
            continue;
        }
        let serving = publish || is_ready(pod);
        let terminating = pod.is_deleting();
        let endpoint = Endpoint {
            addresses: vec![pod_ipv4(pod).unwrap_or_default().to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(serving && (publish || !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: hostname(svc, pod),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
            ..Endpoint::default()
        };
        let key = format!("{ports:?}");
        by_ports
            .entry(key)
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(endpoint);
    }
    let mut slices = Vec::new();
    for (_, (ports, endpoints)) in by_ports {
        for chunk in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE) {
            slices.push(SliceContent {
                ports: ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
    }
    if slices.is_empty() {
        slices.push(SliceContent {
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    slices
}

/// The labels of the Service's endpoints: the Service's own, with `extra`, and the headless
/// label when it is headless.
fn endpoint_labels(svc: &Service, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut labels = svc.labels().clone();
    labels.remove(HEADLESS_LABEL);
    for (k, v) in extra {
        labels.insert(k.to_string(), v.to_string());
    }
    if is_headless(svc) {
        labels.insert(HEADLESS_LABEL.to_string(), String::new());
    }
    labels
}

/// A slice of the Service with `content`.
pub fn slice_for(svc: &Service, content: &SliceContent) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", svc.name_any())),
            namespace: Some(svc.namespace_any().to_string()),
            labels: Some(endpoint_labels(
                svc,
                &[
                    (SERVICE_NAME_LABEL, svc.name_any()),
                    (MANAGED_BY_LABEL, MANAGED_BY),
                ],
            )),
            owner_references: Some(vec![svc.controller_reference()]),
            ..ObjectMeta::default()
        },
        address_type: "IPv4".to_string(),
        endpoints: content.endpoints.clone(),
        ports: Some(content.ports.clone()),
    }
}

/// What to do with the Service's slices.
#[derive(Debug, Default, PartialEq)]
pub struct SlicePlan {
    /// New slices.
    pub create: Vec<EndpointSlice>,
    /// Existing slices with new content.
    pub update: Vec<EndpointSlice>,
    /// Names of slices no longer needed.
    pub delete: Vec<String>,
}

/// Fits `desired` into the `existing` slices of the Service: a slice with the same ports is
/// reused (updated only when its content, labels or owner differ), the rest created or
/// deleted.
pub fn plan_slices(
    svc: &Service,
    existing: &[EndpointSlice],
    desired: &[SliceContent],
) -> SlicePlan {
    let mut plan = SlicePlan::default();
    let mut unused: Vec<&EndpointSlice> = existing.iter().collect();
    for content in desired {
        let wanted = slice_for(svc, content);
        let reuse = unused.iter().position(|s| {
            s.address_type == "IPv4"
                && s.ports.as_deref().unwrap_or(&[]) == content.ports.as_slice()
        });
        match reuse {
            Some(i) => {
                let current = unused.remove(i);
                let same = current.endpoints == wanted.endpoints
                    && current.metadata.labels == wanted.metadata.labels
                    && current.metadata.owner_references == wanted.metadata.owner_references;
                if !same {
                    let mut updated = current.clone();
                    updated.endpoints = wanted.endpoints;
                    updated.ports = wanted.ports;
                    updated.metadata.labels = wanted.metadata.labels;
                    updated.metadata.owner_references = wanted.metadata.owner_references;
                    plan.update.push(updated);
                }
            }
            None => plan.create.push(wanted),
        }
    }
    plan.delete = unused.iter().map(|s| s.name_any().to_string()).collect();
    plan
}

/// The subsets of the Service's `Endpoints`, grouped by port set, addresses sorted by IP.
pub fn desired_subsets(svc: &Service, pods: &[std::rc::Rc<Pod>]) -> Vec<EndpointSubset> {
    let publish = publishes_not_ready(svc);
    let no_ports = service_ports(svc).is_empty();
    if no_ports && !is_headless(svc) {
        return Vec::new();
    }
    let mut by_ports: BTreeMap<String, EndpointSubset> = BTreeMap::new();
    for pod in candidates(svc, pods) {
        if pod.is_deleting() && !publish {
            continue;
        }
        let ports: Vec<CorePort> = slice_ports(svc, pod)
            .into_iter()
            .map(|p| CorePort {
                name: p.name.filter(|n| !n.is_empty()),
                port: p.port.unwrap_or_default(),
                protocol: p.protocol,
                app_protocol: p.app_protocol,
            })
            .collect();
        if ports.is_empty() && !no_ports {
            continue;
        }
        let address = EndpointAddress {
            ip: pod_ipv4(pod).unwrap_or_default().to_string(),
            hostname: hostname(svc, pod),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(target_ref(pod)),
        };
        let subset = by_ports
            .entry(format!("{ports:?}"))
            .or_insert_with(|| EndpointSubset {
                ports: (!ports.is_empty()).then_some(ports),
                ..EndpointSubset::default()
            });
        let addresses = if publish || is_ready(pod) {
            &mut subset.addresses
        } else {
            &mut subset.not_ready_addresses
        };
        addresses.get_or_insert_default().push(address);
    }
    let mut subsets: Vec<EndpointSubset> = by_ports.into_values().collect();
    for subset in &mut subsets {
        for addresses in [&mut subset.addresses, &mut subset.not_ready_addresses] {
            addresses
                .iter_mut()
                .for_each(|a| a.sort_by(|x, y| x.ip.cmp(&y.ip)));
        }
    }
    subsets
}

/// The Service's `Endpoints` object.
pub fn endpoints_for(svc: &Service, subsets: Vec<EndpointSubset>) -> Endpoints {
    Endpoints {
        metadata: ObjectMeta {
            name: Some(svc.name_any().to_string()),
            namespace: Some(svc.namespace_any().to_string()),
            labels: Some(endpoint_labels(
                svc,
                &[(ENDPOINTS_MANAGED_BY_LABEL, ENDPOINTS_MANAGED_BY)],
            )),
            ..ObjectMeta::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}

/// Brings the Endpoints and slices of the Service named by `key` in line.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let (namespace, name) = (key.namespace.as_str(), key.name.as_str());
    let svc = caches.services.get(namespace, name);
    let managed = svc
        .as_ref()
        .filter(|s| selector(s).is_some() && !s.is_deleting());
    let Some(svc) = managed else {
        // No service or no selector: its endpoints (if this controller made them) go; the
        // slices are the garbage collector's, as the Service's dependents, or the owner's.
        if let Some(ep) = caches.endpoints.get(namespace, name)
            && svc.is_none()
        {
            delete_endpoints(caches, &ep)?;
        }
        return Ok(Action::Done);
    };
    let pods = caches.pods.in_namespace(namespace);
    sync_endpoints(caches, svc, &pods)?;
    sync_slices(caches, svc, &pods)?;
    Ok(Action::Done)
}

fn delete_endpoints(caches: &Caches, ep: &Endpoints) -> Result<(), Error> {
    let api = Api::<Endpoints>::namespaced(ep.namespace_any());
    match api.delete(ep.name_any(), &DeleteParams::with_uid(ep.uid_any())) {
        Ok(_) => {}
        Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => {}
        Err(e) => return Err(e),
    }
    caches.endpoints.forget(&ObjectRef::of(ep));
    Ok(())
}

fn sync_endpoints(caches: &Caches, svc: &Service, pods: &[std::rc::Rc<Pod>]) -> Result<(), Error> {
    let wanted = endpoints_for(svc, desired_subsets(svc, pods));
    let api = Api::<Endpoints>::namespaced(svc.namespace_any());
    let stored = match caches.endpoints.get(svc.namespace_any(), svc.name_any()) {
        Some(current)
            if current.subsets.as_deref().unwrap_or(&[])
                == wanted.subsets.as_deref().unwrap_or(&[])
                && current.metadata.labels == wanted.metadata.labels =>
        {
            return Ok(());
        }
        Some(current) => {
            let mut updated = (*current).clone();
            updated.subsets = wanted.subsets;
            updated.metadata.labels = wanted.metadata.labels;
            api.replace(&updated)?
        }
        None => api.create(&wanted)?,
    };
    debug!(
        "endpoints {}/{} updated",
        svc.namespace_any(),
        svc.name_any()
    );
    caches.endpoints.record(stored);
    Ok(())
}

fn sync_slices(caches: &Caches, svc: &Service, pods: &[std::rc::Rc<Pod>]) -> Result<(), Error> {
    let existing: Vec<EndpointSlice> = caches
        .endpoint_slices
        .in_namespace(svc.namespace_any())
        .iter()
        .filter(|s| {
            let labels = s.labels();
            labels.get(SERVICE_NAME_LABEL).map(String::as_str) == Some(svc.name_any())
                && labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY)
        })
        .map(|s| (**s).clone())
        .collect();
    let plan = plan_slices(svc, &existing, &desired_slices(svc, pods));
    let api = Api::<EndpointSlice>::namespaced(svc.namespace_any());
    for slice in &plan.update {
        caches.endpoint_slices.record(api.replace(slice)?);
    }
    for slice in &plan.create {
        caches.endpoint_slices.record(api.create(slice)?);
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()) {
            Ok(_) => {}
            Err(Error::Api(e)) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        caches
            .endpoint_slices
            .forget(&ObjectRef::new(svc.namespace_any(), name));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::{
        Container, ContainerPort, PodCondition, PodIP, PodSpec, PodStatus, ServiceSpec,
    };
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use std::rc::Rc;

    fn service(ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                uid: Some("svc-uid".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_string(), "web".to_string())].into()),
                ports: Some(ports),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        }
    }

    fn http_port(target: IntOrString) -> ServicePort {
        ServicePort {
            name: Some("http".into()),
            port: 80,
            target_port: Some(target),
            ..ServicePort::default()
        }
    }

    fn pod(name: &str, ip: &str, ready: bool, container_port: Option<(&str, i32)>) -> Rc<Pod> {
        Rc::new(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("{name}-uid")),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                node_name: Some("n1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: container_port.map(|(n, p)| {
                        vec![ContainerPort {
                            name: Some(n.into()),
                            container_port: p,
                            ..ContainerPort::default()
                        }]
                    }),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: Some(ip.into()),
                pod_ips: Some(vec![PodIP { ip: ip.into() }]),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        })
    }

    #[test]
    fn named_target_ports_resolve_per_pod() {
        let port = http_port(IntOrString::String("web".into()));
        assert_eq!(
            resolve_port(&port, &pod("a", "10.0.0.1", true, Some(("web", 8080)))),
            Some(8080)
        );
        assert_eq!(
            resolve_port(&port, &pod("b", "10.0.0.2", true, Some(("other", 9)))),
            None
        );
        let numeric = http_port(IntOrString::Int(8443));
        assert_eq!(
            resolve_port(&numeric, &pod("c", "10.0.0.3", true, None)),
            Some(8443)
        );
    }

    #[test]
    fn slices_group_pods_by_resolved_ports_with_conditions() {
        let svc = service(vec![http_port(IntOrString::String("web".into()))]);
        let mut terminating = (*pod("c", "10.0.0.3", true, Some(("web", 8080)))).clone();
        terminating.metadata.deletion_timestamp = Some(Time(kmicro_module_sdk::time::timestamp(1)));
        let pods = vec![
            pod("a", "10.0.0.1", true, Some(("web", 8080))),
            pod("b", "10.0.0.2", false, Some(("web", 9090))),
            Rc::new(terminating),
            pod("no-port", "10.0.0.4", true, None),
            pod("no-ip", "", true, Some(("web", 8080))),
        ];
        let slices = desired_slices(&svc, &pods);
        assert_eq!(slices.len(), 2);
        let at_8080 = slices
            .iter()
            .find(|s| s.ports[0].port == Some(8080))
            .unwrap();
        let names: Vec<_> = at_8080
            .endpoints
            .iter()
            .map(|e| e.target_ref.as_ref().unwrap().name.clone().unwrap())
            .collect();
        assert_eq!(names, ["a", "c"]);
        let c = at_8080.endpoints[1].conditions.as_ref().unwrap();
        assert_eq!(
            (c.ready, c.serving, c.terminating),
            (Some(false), Some(true), Some(true))
        );
        let at_9090 = slices
            .iter()
            .find(|s| s.ports[0].port == Some(9090))
            .unwrap();
        let b = at_9090.endpoints[0].conditions.as_ref().unwrap();
        assert_eq!(
            (b.ready, b.serving, b.terminating),
            (Some(false), Some(false), Some(false))
        );
        assert_eq!(at_9090.endpoints[0].node_name.as_deref(), Some("n1"));

        let slice = slice_for(&svc, at_8080);
        let labels = slice.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        assert_eq!(labels[MANAGED_BY_LABEL], MANAGED_BY);
        assert_eq!(slice.address_type, "IPv4");
        assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
        assert_eq!(
            slice.metadata.owner_references.as_ref().unwrap()[0].uid,
            "svc-uid"
        );
    }

    #[test]
    fn publish_not_ready_makes_every_endpoint_ready() {
        let mut svc = service(vec![http_port(IntOrString::Int(8080))]);
        svc.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
        let pods = vec![pod("a", "10.0.0.1", false, None)];
        let slices = desired_slices(&svc, &pods);
        assert_eq!(
            slices[0].endpoints[0].conditions.as_ref().unwrap().ready,
            Some(true)
        );
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets[0].addresses.as_ref().unwrap().len(), 1);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn a_service_selecting_nothing_keeps_one_empty_slice() {
        let svc = service(vec![http_port(IntOrString::Int(8080))]);
        let slices = desired_slices(&svc, &[]);
        assert_eq!(
            slices,
            vec![SliceContent {
                ports: vec![],
                endpoints: vec![]
            }]
        );
    }

    #[test]
    fn large_services_split_into_slices_of_a_hundred() {
        let svc = service(vec![http_port(IntOrString::Int(8080))]);
        let pods: Vec<_> = (0..250)
            .map(|i| {
                pod(
                    &format!("p{i:03}"),
                    &format!("10.0.{}.{}", i / 200, i % 200),
                    true,
                    None,
                )
            })
            .collect();
        let sizes: Vec<_> = desired_slices(&svc, &pods)
            .iter()
            .map(|s| s.endpoints.len())
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
    }

    #[test]
    fn endpoints_split_ready_and_not_ready_and_drop_terminating() {
        let svc = service(vec![http_port(IntOrString::Int(8080))]);
        let mut gone = (*pod("c", "10.0.0.3", true, None)).clone();
        gone.metadata.deletion_timestamp = Some(Time(kmicro_module_sdk::time::timestamp(1)));
        let pods = vec![
            pod("b", "10.0.0.2", false, None),
            pod("a", "10.0.0.1", true, None),
            Rc::new(gone),
        ];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        let ready: Vec<_> = subsets[0]
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        let not_ready: Vec<_> = subsets[0]
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| a.ip.as_str())
            .collect();
        assert_eq!(ready, ["10.0.0.1"]);
        assert_eq!(not_ready, ["10.0.0.2"]);
        let ports = subsets[0].ports.as_ref().unwrap();
        assert_eq!(
            (ports[0].name.as_deref(), ports[0].port),
            (Some("http"), 8080)
        );
        let ep = endpoints_for(&svc, subsets);
        assert_eq!(
            ep.metadata.labels.unwrap()[ENDPOINTS_MANAGED_BY_LABEL],
            ENDPOINTS_MANAGED_BY
        );
    }

    #[test]
    fn headless_services_without_ports_list_addresses_and_hostnames() {
        let mut svc = service(vec![]);
        svc.spec.as_mut().unwrap().cluster_ip = Some("None".into());
        let mut named = (*pod("a", "10.0.0.1", true, None)).clone();
        let spec = named.spec.as_mut().unwrap();
        spec.hostname = Some("db-0".into());
        spec.subdomain = Some("web".into());
        let pods = vec![Rc::new(named)];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert!(subsets[0].ports.is_none());
        assert_eq!(
            subsets[0].addresses.as_ref().unwrap()[0]
                .hostname
                .as_deref(),
            Some("db-0")
        );
        let slices = desired_slices(&svc, &pods);
        assert_eq!(slices[0].endpoints[0].hostname.as_deref(), Some("db-0"));
        let slice = slice_for(&svc, &slices[0]);
        assert!(slice.metadata.labels.unwrap().contains_key(HEADLESS_LABEL));
    }

    #[test]
    fn existing_slices_are_reused_updated_or_deleted() {
        let svc = service(vec![http_port(IntOrString::Int(8080))]);
        let pods = vec![pod("a", "10.0.0.1", true, None)];
        let desired = desired_slices(&svc, &pods);
        let mut current = slice_for(&svc, &desired[0]);
        current.metadata.name = Some("web-abcde".into());
        let unchanged = plan_slices(&svc, std::slice::from_ref(&current), &desired);
        assert_eq!(unchanged, SlicePlan::default());

        let mut stale = current.clone();
        stale.endpoints.clear();
        let mut stray = current.clone();
        stray.metadata.name = Some("web-zzzzz".into());
        stray.ports = Some(vec![]);
        let plan = plan_slices(&svc, &[stale, stray], &desired);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].metadata.name.as_deref(), Some("web-abcde"));
        assert_eq!(plan.update[0].endpoints, desired[0].endpoints);
        assert!(plan.create.is_empty());
        assert_eq!(plan.delete, ["web-zzzzz"]);
    }

    #[test]
    fn the_api_servers_own_service_is_left_alone() {
        let mut svc = service(vec![]);
        svc.metadata.name = Some("kubernetes".into());
        assert!(keys_for_service(&svc).is_empty());
        svc.metadata.name = Some("web".into());
        assert_eq!(
            keys_for_service(&svc),
            vec![Key::new(KIND, "default", "web")]
        );
    }
}
