//! The watches every controller shares, and which keys a change of each kind queues.

use kmicro_module_sdk::k8s_openapi::api::batch::v1::{CronJob, Job};
use kmicro_module_sdk::k8s_openapi::api::coordination::v1::Lease;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, Pod, Service, ServiceAccount,
};
use kmicro_module_sdk::k8s_openapi::api::discovery::v1::EndpointSlice;
use kmicro_module_sdk::{Cache, Error, ListParams, Rule, Setup};

use crate::{cronjob, endpoints, gc, job, namespace, nodelifecycle, serviceaccount};

/// The caches of everything the controllers read.
pub struct Caches {
    // Lifecycle controllers: garbage collector, namespaces, service accounts, jobs, cron
    // jobs, endpoints, node lifecycle.
    /// Every namespace.
    pub namespaces: Cache<Namespace>,
    /// Every ServiceAccount.
    pub service_accounts: Cache<ServiceAccount>,
    /// Every Pod.
    pub pods: Cache<Pod>,
    /// Every Service.
    pub services: Cache<Service>,
    /// Every Endpoints object.
    pub endpoints: Cache<Endpoints>,
    /// Every EndpointSlice.
    pub endpoint_slices: Cache<EndpointSlice>,
    /// Every Job.
    pub jobs: Cache<Job>,
    /// Every CronJob.
    pub cron_jobs: Cache<CronJob>,
    /// Every Node.
    pub nodes: Cache<Node>,
    /// The node heartbeats: Leases of `kube-node-lease`.
    pub node_leases: Cache<Lease>,
    /// The garbage collector's view of ownership over every kind it follows.
    pub gc: gc::Graph,
}

impl Caches {
    /// Registers the watches.
    pub fn watch(setup: &mut Setup) -> Result<Self, Error> {
        let all = ListParams::default();
        let gc = gc::Graph::default();

        // Lifecycle controllers.
        let namespaces = setup.watch(None, &all, |ns: &Namespace| {
            let mut keys = namespace::keys_for_namespace(ns);
            keys.extend(serviceaccount::keys_for_namespace(ns));
            keys
        })?;
        let service_accounts = setup.watch(None, &all, {
            let gc = gc.clone();
            move |sa: &ServiceAccount| {
                let mut keys = serviceaccount::keys_for_service_account(sa);
                keys.extend(gc.keys_for(sa));
                keys
            }
        })?;
        gc.track(&service_accounts);
        let nodes = setup.watch(None, &all, {
            let gc = gc.clone();
            move |node: &Node| {
                let mut keys = nodelifecycle::keys_for_node(node);
                keys.extend(gc.keys_for(node));
                keys
            }
        })?;
        gc.track(&nodes);
        let node_leases = setup.watch(Some(nodelifecycle::LEASE_NAMESPACE), &all, {
            let gc = gc.clone();
            move |lease: &Lease| {
                let mut keys = nodelifecycle::keys_for_lease(lease);
                keys.extend(gc.keys_for(lease));
                keys
            }
        })?;
        gc.track(&node_leases);
        let services = setup.watch(None, &all, {
            let gc = gc.clone();
            move |svc: &Service| {
                let mut keys = endpoints::keys_for_service(svc);
                keys.extend(gc.keys_for(svc));
                keys
            }
        })?;
        gc.track(&services);
        let jobs = setup.watch(None, &all, {
            let gc = gc.clone();
            move |j: &Job| {
                let mut keys = job::keys_for_job(j);
                keys.extend(cronjob::keys_for_job(j));
                keys.extend(gc.keys_for(j));
                keys
            }
        })?;
        gc.track(&jobs);
        let cron_jobs = setup.watch(None, &all, {
            let gc = gc.clone();
            move |cj: &CronJob| {
                let mut keys = cronjob::keys_for_cron_job(cj);
                keys.extend(gc.keys_for(cj));
                keys
            }
        })?;
        gc.track(&cron_jobs);
        let pods = setup.watch(None, &all, {
            let gc = gc.clone();
            let services = services.clone();
            let nodes = nodes.clone();
            move |pod: &Pod| {
                let mut keys = job::keys_for_pod(pod);
                keys.extend(endpoints::keys_for_pod(&services, pod));
                keys.extend(nodelifecycle::keys_for_pod(&nodes, pod));
                keys.extend(gc.keys_for(pod));
                keys
            }
        })?;
        gc.track(&pods);
        let endpoints = setup.watch(None, &all, {
            let gc = gc.clone();
            move |ep: &Endpoints| {
                let mut keys = endpoints::keys_for_endpoints(ep);
                keys.extend(gc.keys_for(ep));
                keys
            }
        })?;
        gc.track(&endpoints);
        let endpoint_slices = setup.watch(None, &all, {
            let gc = gc.clone();
            move |slice: &EndpointSlice| {
                let mut keys = endpoints::keys_for_slice(slice);
                keys.extend(gc.keys_for(slice));
                keys
            }
        })?;
        gc.track(&endpoint_slices);
        // Owners and dependents no controller above reads: metadata only.
        for resource in gc::metadata_only_resources() {
            let cache = setup.watch_metadata(&resource, None, &all, {
                let gc = gc.clone();
                let resource = resource.clone();
                move |obj| gc.keys_for_meta(&resource, &obj.metadata)
            })?;
            gc.track_dynamic(resource, &cache);
        }

        Ok(Self {
            namespaces,
            service_accounts,
            pods,
            services,
            endpoints,
            endpoint_slices,
            jobs,
            cron_jobs,
            nodes,
            node_leases,
            gc,
        })
    }
}

/// The API access the controllers need.
pub fn permissions() -> Vec<Rule> {
    let mut rules = Vec::new();
    // Lifecycle controllers.
    rules.extend(gc::permissions());
    rules.extend(namespace::permissions());
    rules.extend(serviceaccount::permissions());
    rules.extend(job::permissions());
    rules.extend(cronjob::permissions());
    rules.extend(endpoints::permissions());
    rules.extend(nodelifecycle::permissions());
    rules
}
