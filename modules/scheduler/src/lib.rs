//! kmicro's scheduler, as a module: it binds each pending pod of `default-scheduler` to the
//! node kube-scheduler would choose, with kube's filters, scores, preemption, failure
//! messages, pod conditions and events.
//!
//! The decisions are pure functions ([`decide::schedule`] and the modules it uses), unit
//! tested on the host; [`Scheduler`] is the thin shell that feeds them from the watch caches
//! and carries them out through the API.

pub mod affinity;
pub mod condition;
pub mod cycle;
pub mod decide;
pub mod diagnosis;
pub mod filters;
pub mod interpod;
pub mod node_info;
pub mod pdb;
pub mod ports;
pub mod preemption;
pub mod quantity;
pub mod resources;
pub mod retry;
pub mod scoring;
pub mod spread;
pub mod status;
pub mod taints;

#[cfg(test)]
mod testing;

use std::collections::BTreeMap;
use std::rc::Rc;

use kmicro_module_sdk::events::{self, EventType};
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kmicro_module_sdk::k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kmicro_module_sdk::{
    Action, Api, Cache, DeleteParams, Descriptor, Error, Key, ListParams, Module, ObjectRef,
    PatchType, ResourceExt, Rule, Setup, WriteParams, debug, info, module, runtime, time, warn,
};

use crate::decide::{Cluster, Decision, Pending, SCHEDULER_NAME};
use crate::interpod::NamespaceLabels;
use crate::node_info::PodInfos;
use crate::retry::{NodeShapes, Occupancy};

/// Key kind of a pod to look at.
const KIND_POD: &str = "pod";
/// Key kind of a node that changed.
const KIND_NODE: &str = "node";

/// The module: the caches of pods and nodes, and what it remembers between reconciles.
pub struct Scheduler {
    pods: Cache<Pod>,
    nodes: Cache<Node>,
    /// Namespaces, for the labels pod affinity terms with a `namespaceSelector` read.
    namespaces: Cache<Namespace>,
    /// Disruption budgets, which preemption avoids violating.
    budgets: Cache<PodDisruptionBudget>,
    /// Pending pods that did not fit, with how many times in a row.
    unschedulable: BTreeMap<ObjectRef, u32>,
    /// Pods seen holding room on a node: when one stops, the pods waiting may fit.
    occupancy: Occupancy,
    /// The scheduling-relevant shape of each node (see [`retry::node_shape`]).
    node_shapes: NodeShapes,
    /// What was read of the pods on nodes, kept between decisions.
    infos: PodInfos,
}

impl Module for Scheduler {
    fn describe() -> Descriptor {
        Descriptor {
            version: env!("CARGO_PKG_VERSION").to_string(),
            permissions: permissions(),
        }
    }

    fn init(
        _config: &kmicro_module_sdk::serde_json::Value,
        setup: &mut Setup,
    ) -> Result<Self, Error> {
        let pods = setup.watch(None, &ListParams::default(), |pod: &Pod| {
            vec![Key::new(KIND_POD, pod.namespace_any(), pod.name_any())]
        })?;
        let nodes = setup.watch(None, &ListParams::default(), |node: &Node| {
            vec![Key::new(KIND_NODE, "", node.name_any())]
        })?;
        // A namespace's labels matter only to pods being scheduled: no key to queue.
        let namespaces = setup.watch(None, &ListParams::default(), |_: &Namespace| Vec::new())?;
        let budgets = setup.watch(None, &ListParams::default(), |_: &PodDisruptionBudget| {
            Vec::new()
        })?;
        info!("scheduling pods of {SCHEDULER_NAME}");
        Ok(Self {
            pods,
            nodes,
            namespaces,
            budgets,
            unschedulable: BTreeMap::new(),
            occupancy: Occupancy::default(),
            node_shapes: NodeShapes::default(),
            infos: PodInfos::default(),
        })
    }

    fn reconcile(&mut self, key: &Key) -> Result<Action, Error> {
        match key.kind.as_str() {
            KIND_NODE => {
                self.node_changed(&key.name);
                Ok(Action::Done)
            }
            KIND_POD => self.pod_changed(&key.object()),
            other => Err(Error::msg(format!("no reconciler for {other:?} keys"))),
        }
    }

    fn health(&self) -> (bool, String) {
        let waiting = self.unschedulable.len();
        (
            true,
            format!(
                "{} node(s), {waiting} pod(s) waiting for room",
                self.nodes.len()
            ),
        )
    }
}

/// Exactly the API access the scheduler uses.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(&[""], &["pods"], &["get", "list", "watch", "delete"]),
        Rule::new(&[""], &["pods/binding"], &["create"]),
        Rule::new(&[""], &["pods/status"], &["patch"]),
        Rule::new(&[""], &["nodes"], &["get", "list", "watch"]),
        Rule::new(&[""], &["namespaces"], &["get", "list", "watch"]),
        Rule::new(
            &["policy"],
            &["poddisruptionbudgets"],
            &["get", "list", "watch"],
        ),
        Rule::new(&[""], &["events"], &["create"]),
    ]
}

impl Scheduler {
    /// A node appeared, changed or went away: pods waiting for room are tried again when
    /// what the filters read of it changed.
    fn node_changed(&mut self, name: &str) {
        let node = self.nodes.get("", name);
        if self.node_shapes.update(name, node.as_deref()) {
            self.retry_unschedulable();
        }
    }

    /// Queues every pod waiting for room.
    fn retry_unschedulable(&self) {
        for at in self.unschedulable.keys() {
            runtime::enqueue(Key::at(KIND_POD, at));
        }
    }

    fn pod_changed(&mut self, at: &ObjectRef) -> Result<Action, Error> {
        let pod = self.pods.get(&at.namespace, &at.name);
        if self.occupancy.update(at, pod.as_deref()) {
            self.retry_unschedulable();
        }
        let Some(pod) = pod else {
            self.unschedulable.remove(at);
            return Ok(Action::Done);
        };
        match decide::pending(&pod) {
            Pending::No => {
                self.unschedulable.remove(at);
                Ok(Action::Done)
            }
            Pending::Gated => {
                self.unschedulable.remove(at);
                self.report(
                    &pod,
                    condition::REASON_SCHEDULING_GATED,
                    condition::MESSAGE_SCHEDULING_GATED,
                    None,
                    false,
                )?;
                Ok(Action::Done)
            }
            Pending::Yes => self.schedule(at, &pod),
        }
    }

    fn schedule(&mut self, at: &ObjectRef, pod: &Rc<Pod>) -> Result<Action, Error> {
        let nodes = self.nodes.all();
        let pods = self.pods.all();
        let namespaces: NamespaceLabels = self
            .namespaces
            .all()
            .iter()
            .map(|ns| (ns.name_any().to_string(), ns.labels().clone()))
            .collect();
        let budgets = self.budgets.all();
        let cluster = Cluster {
            nodes: &nodes,
            pods: &pods,
            namespaces: &namespaces,
            budgets: &budgets,
        };
        match decide::schedule(pod, cluster, &mut self.infos) {
            Decision::Bind(node) => {
                self.unschedulable.remove(at);
                self.bind(pod, &node)?;
                Ok(Action::Done)
            }
            Decision::Unschedulable { message, preempt } => {
                let nominated = match preempt {
                    Some((node, victims)) => {
                        self.preempt(pod, &node, &victims);
                        Some(node)
                    }
                    None => None,
                };
                let attempts = self.unschedulable.entry(at.clone()).or_insert(0);
                *attempts = attempts.saturating_add(1);
                let delay = retry::backoff_ms(*attempts);
                debug!(
                    "{}/{} unschedulable (attempt {attempts}, again in {} ms): {message}",
                    at.namespace, at.name, delay
                );
                self.report(
                    pod,
                    condition::REASON_UNSCHEDULABLE,
                    &message,
                    nominated.as_deref(),
                    true,
                )?;
                Ok(Action::RequeueAfter(delay))
            }
        }
    }

    /// Binds `pod` to `node` through `pods/binding`, remembers it there at once (so the next
    /// pod sees the room taken) and records the `Scheduled` event.
    fn bind(&mut self, pod: &Pod, node: &str) -> Result<(), Error> {
        let (namespace, name) = (pod.namespace_any(), pod.name_any());
        let binding = decide::binding(pod, node);
        match Api::<Pod>::namespaced(namespace).create_subresource(name, "binding", &binding) {
            Ok(_) => {}
            // Bound meanwhile, or re-created under the same name (the uid no longer
            // matches): the watch brings the new state, which is reconciled in turn.
            Err(Error::Api(e)) if e.is_conflict() => {
                warn!("binding {namespace}/{name} to {node}: {e}");
                return Ok(());
            }
            // Anything else (a 404 included: the pod may be gone, or the subresource not
            // served) is retried with back-off; a pod that is gone is then simply done.
            Err(e) => return Err(e),
        }
        let mut assumed = pod.clone();
        assumed.spec.get_or_insert_default().node_name = Some(node.to_string());
        self.pods.record(assumed);
        info!("bound {namespace}/{name} to {node}");
        let message = format!("Successfully assigned {namespace}/{name} to {node}");
        if let Err(e) = events::record(
            pod,
            EventType::Normal,
            "Scheduled",
            &message,
            SCHEDULER_NAME,
        ) {
            warn!("recording the Scheduled event of {namespace}/{name}: {e}");
        }
        Ok(())
    }

    /// Writes `PodScheduled=False` with `reason` and `message` (and the nomination) unless the
    /// pod already says so, then records a `FailedScheduling` event when `event` is set.
    fn report(
        &mut self,
        pod: &Pod,
        reason: &str,
        message: &str,
        nominated: Option<&str>,
        event: bool,
    ) -> Result<(), Error> {
        if condition::already_reported(pod, reason, message, nominated) {
            return Ok(());
        }
        let (namespace, name) = (pod.namespace_any(), pod.name_any());
        let patch = condition::unscheduled_patch(pod, reason, message, &now_text(), nominated);
        match Api::<Pod>::namespaced(namespace).patch(
            name,
            Some("status"),
            PatchType::Strategic,
            &patch,
            &WriteParams::default(),
        ) {
            Ok(updated) => {
                self.pods.record(updated);
            }
            Err(Error::Api(e)) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(e),
        }
        if event
            && let Err(e) = events::record(
                pod,
                EventType::Warning,
                "FailedScheduling",
                message,
                SCHEDULER_NAME,
            )
        {
            warn!("recording the FailedScheduling event of {namespace}/{name}: {e}");
        }
        Ok(())
    }

    /// Evicts `victims` from `node` for `preemptor`: marks each `DisruptionTarget`, deletes
    /// it (only that incarnation) and records a `Preempted` event. Failures are logged; the
    /// preemptor is tried again anyway.
    fn preempt(&mut self, preemptor: &Pod, node: &str, victims: &[Rc<Pod>]) {
        let now = now_text();
        for victim in victims {
            let (namespace, name) = (victim.namespace_any(), victim.name_any());
            let api = Api::<Pod>::namespaced(namespace);
            let marked = api.patch(
                name,
                Some("status"),
                PatchType::Strategic,
                &condition::disruption_patch(SCHEDULER_NAME, &now),
                &WriteParams::default(),
            );
            if let Err(e) = marked {
                warn!("marking {namespace}/{name} for preemption: {e}");
            }
            match api.delete(name, &DeleteParams::with_uid(victim.uid_any())) {
                Ok(_) => {}
                Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => continue,
                Err(e) => {
                    warn!("preempting {namespace}/{name}: {e}");
                    continue;
                }
            }
            info!(
                "preempted {namespace}/{name} on {node} for {}/{}",
                preemptor.namespace_any(),
                preemptor.name_any()
            );
            let message = format!("Preempted by pod {} on node {node}", preemptor.uid_any());
            if let Err(e) = events::record(
                &**victim,
                EventType::Normal,
                "Preempted",
                &message,
                SCHEDULER_NAME,
            ) {
                warn!("recording the Preempted event of {namespace}/{name}: {e}");
            }
        }
    }
}

/// The current time as the API writes it (RFC 3339, seconds).
fn now_text() -> String {
    let now = time::now();
    match kmicro_module_sdk::serde_json::to_value(&now) {
        Ok(kmicro_module_sdk::serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

module!(Scheduler);
