//! Node lifecycle (kube's node lifecycle controller and its NoExecute taint manager).
//!
//! - Health: a node's last heartbeat is the newer of its Lease's `renewTime` (namespace
//!   `kube-node-lease`) and its Ready condition's `lastHeartbeatTime`. Older than
//!   [`GRACE_MS`] (kube's `--node-monitor-grace-period`, 40 s), its Ready, MemoryPressure,
//!   DiskPressure and PIDPressure conditions become `Unknown` with reason
//!   `NodeStatusUnknown`, "Kubelet stopped posting node status." (`NodeStatusNeverUpdated`,
//!   "Kubelet never posted node status.", when it never did), and its pods' Ready
//!   conditions False.
//! - Taints: Ready `Unknown` → `node.kubernetes.io/unreachable` (NoSchedule and NoExecute),
//!   Ready `False` → `node.kubernetes.io/not-ready` (both), pressure and network conditions
//!   and `spec.unschedulable` → their NoSchedule taints; removed when the condition clears.
//! - Eviction: a pod on a node with NoExecute taints it does not tolerate is deleted; one
//!   that tolerates them for `tolerationSeconds` is deleted that long after the taint was
//!   added. Pods without a toleration of the not-ready/unreachable taints get kube's
//!   default ones (300 s), as the DefaultTolerationSeconds admission plugin would have
//!   given them.
//!
//! Keys are the node's name.

use kmicro_module_sdk::events::{self, EventType};
use kmicro_module_sdk::k8s_openapi::api::coordination::v1::Lease;
use kmicro_module_sdk::k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kmicro_module_sdk::{
    Action, Api, Cache, DeleteParams, Error, Key, ResourceExt, Rule, info, time, warn,
};

use crate::caches::Caches;

/// The key kind of this controller.
pub const KIND: &str = "nodelifecycle";
/// Where the nodes' heartbeat Leases live.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// How long a node may go without a heartbeat before it is taken as unreachable.
pub const GRACE_MS: u64 = 40_000;
/// The taint of a node whose status is unknown.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a node that says it is not ready.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node marked unschedulable.
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// How long pods tolerate not-ready and unreachable nodes unless they say otherwise.
pub const DEFAULT_TOLERATION_SECONDS: i64 = 300;
/// The component events are recorded as.
const COMPONENT: &str = "node-controller";

/// Conditions that become Unknown with the node, and the NoSchedule taint each sets when True.
const CONDITION_TAINTS: &[(&str, &str)] = &[
    ("MemoryPressure", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "node.kubernetes.io/pid-pressure"),
    (
        "NetworkUnavailable",
        "node.kubernetes.io/network-unavailable",
    ),
];

/// The API access the controller needs.
pub fn permissions() -> Vec<Rule> {
    vec![
        Rule::new(
            &[""],
            &["nodes"],
            &["get", "list", "watch", "update", "patch"],
        ),
        Rule::new(
            &[""],
            &["nodes/status", "pods/status"],
            &["update", "patch"],
        ),
        Rule::new(&[""], &["pods"], &["get", "list", "watch", "delete"]),
        Rule::new(
            &["coordination.k8s.io"],
            &["leases"],
            &["get", "list", "watch"],
        ),
        Rule::new(&["", "events.k8s.io"], &["events"], &["create", "patch"]),
    ]
}

/// A node changed.
pub fn keys_for_node(node: &Node) -> Vec<Key> {
    vec![Key::new(KIND, "", node.name_any())]
}

/// A node's heartbeat Lease changed.
pub fn keys_for_lease(lease: &Lease) -> Vec<Key> {
    vec![Key::new(KIND, "", lease.name_any())]
}

/// A pod changed: its node's, when the node is unhealthy or tainted NoExecute (its pods may
/// have to be marked or evicted).
pub fn keys_for_pod(nodes: &Cache<Node>, pod: &Pod) -> Vec<Key> {
    let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
        return Vec::new();
    };
    match nodes.get("", node_name) {
        Some(node) if ready_status(&node) != "True" || !no_execute_taints(&node).is_empty() => {
            vec![Key::new(KIND, "", node_name)]
        }
        _ => Vec::new(),
    }
}

fn conditions(node: &Node) -> &[NodeCondition] {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or(&[])
}

/// The status of the node's Ready condition; `Unknown` when it has none.
pub fn ready_status(node: &Node) -> &str {
    conditions(node)
        .iter()
        .find(|c| c.type_ == "Ready")
        .map_or("Unknown", |c| c.status.as_str())
}

/// The node's NoExecute taints.
pub fn no_execute_taints(node: &Node) -> Vec<&Taint> {
    node.spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .filter(|t| t.effect == "NoExecute")
        .collect()
}

/// The node's last heartbeat: the newer of its Lease's renewal and its Ready condition's
/// heartbeat, in milliseconds since the epoch.
pub fn last_heartbeat_ms(node: &Node, lease: Option<&Lease>) -> Option<u64> {
    let renewed = lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0.as_millisecond().max(0) as u64);
    let posted = conditions(node)
        .iter()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(time::millis_of);
    renewed.max(posted)
}

/// When the node is due to be taken as unreachable, unless it posts again.
pub fn stale_at_ms(node: &Node, lease: Option<&Lease>) -> u64 {
    let since = last_heartbeat_ms(node, lease).unwrap_or_else(|| {
        node.metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, time::millis_of)
    });
    since.saturating_add(GRACE_MS)
}

/// The node's conditions once taken as unreachable at `now`; none when they already say so.
pub fn unknown_conditions(node: &Node, now: &Time) -> Option<Vec<NodeCondition>> {
    let mut out = conditions(node).to_vec();
    let mut changed = false;
    for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        match out.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".to_string();
                c.reason = Some("NodeStatusUnknown".to_string());
                c.message = Some("Kubelet stopped posting node status.".to_string());
                c.last_transition_time = Some(now.clone());
                changed = true;
            }
            None => {
                out.push(NodeCondition {
                    type_: type_.to_string(),
                    status: "Unknown".to_string(),
                    reason: Some("NodeStatusNeverUpdated".to_string()),
                    message: Some("Kubelet never posted node status.".to_string()),
                    last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                    last_transition_time: Some(now.clone()),
                });
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

/// The taints the node should carry: its own, with this controller's set from its conditions
/// (a taint already there keeps its `timeAdded`); none when nothing changes.
pub fn desired_taints(node: &Node, now: &Time) -> Option<Vec<Taint>> {
    let current: Vec<Taint> = node
        .spec
        .iter()
        .flat_map(|s| s.taints.iter().flatten())
        .cloned()
        .collect();
    let status_of = |type_: &str| {
        conditions(node)
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.as_str())
    };
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    match ready_status(node) {
        "True" => {}
        "False" => wanted.extend([(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]),
        _ if status_of("Ready").is_some() => {
            wanted.extend([(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")])
        }
        // No Ready condition yet: the node agent has not reported; nothing to say.
        _ => {}
    }
    for (type_, key) in CONDITION_TAINTS {
        if status_of(type_) == Some("True") {
            wanted.push((key, "NoSchedule"));
        }
    }
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        wanted.push((UNSCHEDULABLE, "NoSchedule"));
    }
    let managed = |key: &str| {
        key == UNREACHABLE
            || key == NOT_READY
            || key == UNSCHEDULABLE
            || CONDITION_TAINTS.iter().any(|(_, k)| *k == key)
    };
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !managed(&t.key) || wanted.contains(&(t.key.as_str(), t.effect.as_str())))
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !out.iter().any(|t| t.key == key && t.effect == effect) {
            out.push(Taint {
                key: key.to_string(),
                effect: effect.to_string(),
                value: None,
                time_added: (effect == "NoExecute").then(|| now.clone()),
            });
        }
    }
    (out != current).then_some(out)
}

/// Whether `toleration` tolerates `taint`.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if toleration
        .effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The pod's tolerations with kube's defaults for not-ready and unreachable nodes added
/// where the pod has none of its own.
pub fn effective_tolerations(pod: &Pod) -> Vec<Toleration> {
    let mut out: Vec<Toleration> = pod
        .spec
        .iter()
        .flat_map(|s| s.tolerations.iter().flatten())
        .cloned()
        .collect();
    for key in [NOT_READY, UNREACHABLE] {
        let probe = Taint {
            key: key.to_string(),
            effect: "NoExecute".to_string(),
            ..Taint::default()
        };
        if !out.iter().any(|t| tolerates(t, &probe)) {
            out.push(Toleration {
                key: Some(key.to_string()),
                operator: Some("Exists".to_string()),
                effect: Some("NoExecute".to_string()),
                toleration_seconds: Some(DEFAULT_TOLERATION_SECONDS),
                value: None,
            });
        }
    }
    out
}

/// When a pod is to be evicted from its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It tolerates every NoExecute taint for good.
    Never,
    /// Now.
    Now,
    /// At this time (milliseconds since the epoch).
    At(u64),
}

/// When `pod` is to be evicted from a node with `taints` (NoExecute ones), at `now_ms`.
pub fn eviction(pod: &Pod, taints: &[&Taint], now_ms: u64) -> Eviction {
    let tolerations = effective_tolerations(pod);
    let mut due: Option<u64> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Eviction::Now;
        }
        // The shortest limit among the tolerations that match; unlimited only when all are.
        let Some(seconds) = matching
            .iter()
            .filter_map(|t| t.toleration_seconds)
            .map(|s| s.max(0) as u64)
            .min()
        else {
            continue;
        };
        let added = taint.time_added.as_ref().map_or(now_ms, time::millis_of);
        let at = added.saturating_add(seconds * 1000);
        due = Some(due.map_or(at, |d| d.min(at)));
    }
    match due {
        None => Eviction::Never,
        Some(at) if at <= now_ms => Eviction::Now,
        Some(at) => Eviction::At(at),
    }
}

/// The pod with its Ready condition False, when it says True.
pub fn not_ready(pod: &Pod, now: &Time) -> Option<Pod> {
    let mut pod = pod.clone();
    let condition = pod
        .status
        .as_mut()?
        .conditions
        .as_mut()?
        .iter_mut()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    condition.status = "False".to_string();
    condition.last_transition_time = Some(now.clone());
    Some(pod)
}

fn is_finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Checks the health of the node named by `key`, its taints and its pods.
pub fn reconcile(caches: &Caches, key: &Key) -> Result<Action, Error> {
    let Some(mut node) = caches.nodes.get("", &key.name) else {
        return Ok(Action::Done);
    };
    let now_ms = time::now_millis();
    let now = Time(time::timestamp(now_ms));
    let lease = caches.node_leases.get(LEASE_NAMESPACE, &key.name);
    let stale_at = stale_at_ms(&node, lease.as_deref());
    let api = Api::<Node>::all();
    if now_ms >= stale_at
        && let Some(conditions) = unknown_conditions(&node, &now)
    {
        let was = ready_status(&node).to_string();
        let mut updated = (*node).clone();
        updated.status.get_or_insert_default().conditions = Some(conditions);
        let stored = api.replace_status(&updated)?;
        caches.nodes.record(stored.clone());
        warn!(
            "node {}: no heartbeat for {} s, status Unknown",
            key.name,
            GRACE_MS / 1000
        );
        if was == "True" {
            record_event(
                &stored,
                "NodeNotReady",
                &format!("Node {} status is now: NodeNotReady", key.name),
            );
        }
        node = std::rc::Rc::new(stored);
    }
    if let Some(taints) = desired_taints(&node, &now) {
        let mut updated = (*node).clone();
        updated.spec.get_or_insert_default().taints = (!taints.is_empty()).then_some(taints);
        let stored = api.replace(&updated)?;
        caches.nodes.record(stored.clone());
        node = std::rc::Rc::new(stored);
    }
    let pods: Vec<_> = caches
        .pods
        .all()
        .into_iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(key.name.as_str()))
        .filter(|p| !p.is_deleting() && !is_finished(p))
        .collect();
    if ready_status(&node) != "True" {
        for pod in &pods {
            if let Some(updated) = not_ready(pod, &now) {
                match Api::<Pod>::namespaced(pod.namespace_any()).replace_status(&updated) {
                    Ok(stored) => {
                        caches.pods.record(stored);
                    }
                    Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    let taints = no_execute_taints(&node);
    let mut next = (ready_status(&node) == "True").then_some(stale_at);
    if !taints.is_empty() {
        for pod in &pods {
            match eviction(pod, &taints, now_ms) {
                Eviction::Never => {}
                Eviction::Now => evict(pod)?,
                Eviction::At(at) => next = Some(next.map_or(at, |n| n.min(at))),
            }
        }
    }
    Ok(match next {
        Some(at) => Action::RequeueAfter(at.saturating_sub(now_ms).max(1_000)),
        None => Action::Done,
    })
}

fn evict(pod: &Pod) -> Result<(), Error> {
    let (ns, name) = (pod.namespace_any(), pod.name_any());
    info!("evicting pod {ns}/{name} from its tainted node");
    record_event(
        pod,
        "TaintManagerEviction",
        &format!("Marking for deletion Pod {ns}/{name}"),
    );
    match Api::<Pod>::namespaced(ns).delete(name, &DeleteParams::with_uid(pod.uid_any())) {
        Ok(_) => Ok(()),
        Err(Error::Api(e)) if e.is_not_found() || e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}

fn record_event<K: kmicro_module_sdk::resource::Object>(obj: &K, reason: &str, message: &str) {
    if let Err(e) = events::record(obj, EventType::Normal, reason, message, COMPONENT) {
        warn!("could not record event {reason}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kmicro_module_sdk::k8s_openapi::api::coordination::v1::LeaseSpec;
    use kmicro_module_sdk::k8s_openapi::api::core::v1::{
        NodeSpec, NodeStatus, PodCondition, PodSpec, PodStatus,
    };
    use kmicro_module_sdk::k8s_openapi::apimachinery::pkg::apis::meta::v1::{
        MicroTime, ObjectMeta,
    };

    fn at(ms: u64) -> Time {
        Time(time::timestamp(ms))
    }

    fn node(ready: Option<(&str, u64)>, taints: Vec<Taint>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some("n1".into()),
                creation_timestamp: Some(at(0)),
                ..ObjectMeta::default()
            },
            spec: Some(NodeSpec {
                taints: (!taints.is_empty()).then_some(taints),
                ..NodeSpec::default()
            }),
            status: Some(NodeStatus {
                conditions: ready.map(|(status, beat)| {
                    vec![NodeCondition {
                        type_: "Ready".into(),
                        status: status.into(),
                        reason: Some("KubeletReady".into()),
                        last_heartbeat_time: Some(at(beat)),
                        last_transition_time: Some(at(0)),
                        ..NodeCondition::default()
                    }]
                }),
                ..NodeStatus::default()
            }),
        }
    }

    fn lease(renewed: u64) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(time::timestamp(renewed))),
                lease_duration_seconds: Some(40),
                ..LeaseSpec::default()
            }),
        }
    }

    fn taint(key: &str, effect: &str, added: Option<u64>) -> Taint {
        Taint {
            key: key.into(),
            effect: effect.into(),
            value: None,
            time_added: added.map(at),
        }
    }

    #[test]
    fn the_newer_of_lease_and_condition_is_the_heartbeat() {
        let n = node(Some(("True", 10_000)), vec![]);
        assert_eq!(last_heartbeat_ms(&n, None), Some(10_000));
        assert_eq!(last_heartbeat_ms(&n, Some(&lease(25_000))), Some(25_000));
        assert_eq!(stale_at_ms(&n, Some(&lease(25_000))), 65_000);
        assert_eq!(stale_at_ms(&n, Some(&lease(5_000))), 50_000);
        let silent = node(None, vec![]);
        assert_eq!(stale_at_ms(&silent, None), GRACE_MS);
    }

    #[test]
    fn a_stale_node_turns_unknown_once() {
        let n = node(Some(("True", 10_000)), vec![]);
        let conds = unknown_conditions(&n, &at(60_000)).unwrap();
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(ready.last_heartbeat_time, Some(at(10_000)));
        assert_eq!(ready.last_transition_time, Some(at(60_000)));
        let never = conds.iter().find(|c| c.type_ == "DiskPressure").unwrap();
        assert_eq!(never.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        let mut unknown = n.clone();
        unknown.status.as_mut().unwrap().conditions = Some(conds);
        assert_eq!(unknown_conditions(&unknown, &at(70_000)), None);
    }

    #[test]
    fn readiness_sets_and_clears_the_taints() {
        let user = taint("dedicated", "NoSchedule", None);
        let unknown = node(Some(("Unknown", 0)), vec![user.clone()]);
        let taints = desired_taints(&unknown, &at(5)).unwrap();
        let keys: Vec<_> = taints
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("dedicated", "NoSchedule"),
                (UNREACHABLE, "NoSchedule"),
                (UNREACHABLE, "NoExecute")
            ]
        );
        assert_eq!(taints[2].time_added, Some(at(5)));
        assert_eq!(taints[1].time_added, None);

        let mut tainted = unknown.clone();
        tainted.spec.as_mut().unwrap().taints = Some(taints.clone());
        assert_eq!(desired_taints(&tainted, &at(9)), None);

        let mut not_ready = tainted.clone();
        not_ready
            .status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()[0]
            .status = "False".into();
        let keys: Vec<_> = desired_taints(&not_ready, &at(9))
            .unwrap()
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(keys, ["dedicated", NOT_READY, NOT_READY]);

        let mut back = tainted;
        back.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "True".into();
        assert_eq!(desired_taints(&back, &at(9)), Some(vec![user]));
        assert_eq!(desired_taints(&node(None, vec![]), &at(9)), None);
    }

    #[test]
    fn unschedulable_and_pressure_become_no_schedule_taints() {
        let mut n = node(Some(("True", 0)), vec![]);
        n.spec.as_mut().unwrap().unschedulable = Some(true);
        n.status
            .as_mut()
            .unwrap()
            .conditions
            .as_mut()
            .unwrap()
            .push(NodeCondition {
                type_: "DiskPressure".into(),
                status: "True".into(),
                ..NodeCondition::default()
            });
        let keys: Vec<_> = desired_taints(&n, &at(1))
            .unwrap()
            .into_iter()
            .map(|t| t.key)
            .collect();
        assert_eq!(keys, ["node.kubernetes.io/disk-pressure", UNSCHEDULABLE]);
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod {
            metadata: ObjectMeta::default(),
            spec: Some(PodSpec {
                tolerations: (!tolerations.is_empty()).then_some(tolerations),
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    #[test]
    fn pods_without_tolerations_leave_after_the_default_five_minutes() {
        let t = taint(UNREACHABLE, "NoExecute", Some(1_000));
        assert_eq!(eviction(&pod(vec![]), &[&t], 2_000), Eviction::At(301_000));
        assert_eq!(eviction(&pod(vec![]), &[&t], 301_000), Eviction::Now);
    }

    #[test]
    fn tolerations_decide_how_long_a_pod_stays() {
        let t = taint(UNREACHABLE, "NoExecute", Some(0));
        let forever = Toleration {
            key: Some(UNREACHABLE.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            ..Toleration::default()
        };
        assert_eq!(
            eviction(&pod(vec![forever.clone()]), &[&t], 10_000_000),
            Eviction::Never
        );
        let brief = Toleration {
            toleration_seconds: Some(5),
            ..forever.clone()
        };
        assert_eq!(
            eviction(&pod(vec![forever, brief]), &[&t], 1_000),
            Eviction::At(5_000)
        );
        let other = taint("example.com/drain", "NoExecute", Some(0));
        assert_eq!(eviction(&pod(vec![]), &[&t, &other], 1_000), Eviction::Now);
        let everything = Toleration {
            operator: Some("Exists".into()),
            ..Toleration::default()
        };
        assert_eq!(
            eviction(&pod(vec![everything]), &[&t, &other], 1_000),
            Eviction::Never
        );
    }

    #[test]
    fn equal_tolerations_need_the_value() {
        let mut t = taint("k", "NoExecute", None);
        t.value = Some("v".into());
        let tol = |v: &str| Toleration {
            key: Some("k".into()),
            value: Some(v.into()),
            ..Toleration::default()
        };
        assert!(tolerates(&tol("v"), &t));
        assert!(!tolerates(&tol("w"), &t));
        let no_schedule_only = Toleration {
            effect: Some("NoSchedule".into()),
            ..tol("v")
        };
        assert!(!tolerates(&no_schedule_only, &t));
    }

    #[test]
    fn ready_pods_on_a_lost_node_become_not_ready() {
        let mut p = pod(vec![]);
        p.status = Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        });
        let marked = not_ready(&p, &at(7)).unwrap();
        let c = &marked.status.as_ref().unwrap().conditions.as_ref().unwrap()[0];
        assert_eq!(
            (c.status.as_str(), c.last_transition_time.clone()),
            ("False", Some(at(7)))
        );
        assert_eq!(not_ready(&marked, &at(8)), None);
    }
}
