//! The watches every controller shares, and which keys a change of each kind queues.

use kmicro_module_sdk::k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use kmicro_module_sdk::k8s_openapi::api::batch::v1::{CronJob, Job};
use kmicro_module_sdk::k8s_openapi::api::coordination::v1::Lease;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use kmicro_module_sdk::k8s_openapi::api::discovery::v1::EndpointSlice;
use kmicro_module_sdk::{Cache, Error, ListParams, Rule, Setup};

use crate::{cronjob, endpoints, gc, job, namespace, nodelifecycle, serviceaccount};
use crate::{daemonset, deployment, replicaset, statefulset};

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
    // Workloads (ReplicaSet, Deployment, DaemonSet, StatefulSet); they share `pods` and
    // `nodes` above.
    /// Every ReplicaSet.
    pub replica_sets: Cache<ReplicaSet>,
    /// Every Deployment.
    pub deployments: Cache<Deployment>,
    /// Every DaemonSet.
    pub daemon_sets: Cache<DaemonSet>,
    /// Every StatefulSet.
    pub stateful_sets: Cache<StatefulSet>,
    /// Every ControllerRevision (DaemonSet and StatefulSet history).
    pub controller_revisions: Cache<ControllerRevision>,
    /// Every PersistentVolumeClaim (StatefulSet volume claims).
    pub claims: Cache<PersistentVolumeClaim>,
}

impl Caches {
    /// Registers the watches.
    pub fn watch(setup: &mut Setup) -> Result<Self, Error> {
        let all = ListParams::default();
        let gc = gc::Graph::default();

        // Workloads, first: the pod and node mappings below look into these caches.
        let deployments = setup.watch(None, &all, {
            let gc = gc.clone();
            move |d: &Deployment| {
                let mut keys = deployment::keys_of_deployment(d);
                keys.extend(gc.keys_for(d));
                keys
            }
        })?;
        gc.track(&deployments);
        let replica_sets = setup.watch(None, &all, {
            let gc = gc.clone();
            let deployments = deployments.clone();
            move |rs: &ReplicaSet| {
                let mut keys = replicaset::keys_of_replica_set(rs, &deployments);
                keys.extend(gc.keys_for(rs));
                keys
            }
        })?;
        gc.track(&replica_sets);
        let daemon_sets = setup.watch(None, &all, {
            let gc = gc.clone();
            move |ds: &DaemonSet| {
                let mut keys = daemonset::keys_of_daemon_set(ds);
                keys.extend(gc.keys_for(ds));
                keys
            }
        })?;
        gc.track(&daemon_sets);
        let stateful_sets = setup.watch(None, &all, {
            let gc = gc.clone();
            move |set: &StatefulSet| {
                let mut keys = statefulset::keys_of_stateful_set(set);
                keys.extend(gc.keys_for(set));
                keys
            }
        })?;
        gc.track(&stateful_sets);
        let controller_revisions = setup.watch(None, &all, {
            let gc = gc.clone();
            move |rev: &ControllerRevision| {
                let mut keys = daemonset::keys_of_revision(rev);
                keys.extend(statefulset::keys_of_revision(rev));
                keys.extend(gc.keys_for(rev));
                keys
            }
        })?;
        gc.track(&controller_revisions);
        let claims = setup.watch(None, &all, {
            let gc = gc.clone();
            move |claim: &PersistentVolumeClaim| gc.keys_for(claim)
        })?;
        gc.track(&claims);

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
            let daemon_sets = daemon_sets.clone();
            move |node: &Node| {
                let mut keys = nodelifecycle::keys_for_node(node);
                keys.extend(daemonset::keys_of_node(node, &daemon_sets));
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
            let (rs, ds, sts, d) = (
                replica_sets.clone(),
                daemon_sets.clone(),
                stateful_sets.clone(),
                deployments.clone(),
            );
            move |pod: &Pod| {
                let mut keys = job::keys_for_pod(pod);
                keys.extend(endpoints::keys_for_pod(&services, pod));
                keys.extend(nodelifecycle::keys_for_pod(&nodes, pod));
                keys.extend(replicaset::keys_of_pod(pod, &rs));
                keys.extend(deployment::keys_of_pod(pod, &rs, &d));
                keys.extend(daemonset::keys_of_pod(pod, &ds));
                keys.extend(statefulset::keys_of_pod(pod, &sts));
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
            replica_sets,
            deployments,
            daemon_sets,
            stateful_sets,
            controller_revisions,
            claims,
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
    // Workloads.
    rules.extend(workload_permissions());
    rules
}

/// The API access the workload controllers need.
fn workload_permissions() -> Vec<Rule> {
    let write = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    vec![
        Rule::new(&[""], &["pods"], &write),
        Rule::new(&[""], &["nodes"], &["get", "list", "watch"]),
        Rule::new(
            &[""],
            &["persistentvolumeclaims"],
            &["get", "list", "watch", "create", "update", "patch"],
        ),
        Rule::new(&[""], &["events"], &["create", "patch", "update"]),
        Rule::new(
            &["apps"],
            &[
                "replicasets",
                "deployments",
                "daemonsets",
                "statefulsets",
                "controllerrevisions",
            ],
            &write,
        ),
        Rule::new(
            &["apps"],
            &[
                "replicasets/status",
                "deployments/status",
                "daemonsets/status",
                "statefulsets/status",
            ],
            &["get", "update", "patch"],
        ),
    ]
}
