//! Pods (core/v1): READY, the STATUS reason kubectl users know (`ContainerCreating`,
//! `CrashLoopBackOff`, `Init:0/1`, `Completed`, `Terminating`, …), RESTARTS with the time of the
//! last restart, and the wide IP / NODE / NOMINATED NODE / READINESS GATES.

use serde_json::{Value, json};

use super::util::{arr_at, at, bool_at, is_set, since, str_at, time};
use super::{AGE, Column, NAME, Printer, docs};

/// The printer of `pods`, if that is `plural`.
pub(crate) fn printer(plural: &str) -> Option<&'static Printer> {
    (plural == "pods").then_some(&POD)
}

static POD: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Ready",
            "string",
            "The aggregate readiness state of this pod for accepting traffic.",
        ),
        Column::new(
            "Status",
            "string",
            "The aggregate status of the containers in this pod.",
        ),
        Column::new(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
        ),
        AGE,
        Column::wide("IP", "string", docs::POD_IP),
        Column::wide("Node", "string", docs::POD_NODE_NAME),
        Column::wide("Nominated Node", "string", docs::POD_NOMINATED_NODE_NAME),
        Column::wide("Readiness Gates", "string", docs::POD_READINESS_GATES),
    ],
    cells,
    conditions: Some(conditions),
};

/// `PodScheduled` reason of a pod held back by scheduling gates.
const SCHEDULING_GATED: &str = "SchedulingGated";
/// The reason the node controller gives pods on a node that stopped reporting.
const NODE_LOST: &str = "NodeLost";

/// The row conditions kube sets on finished pods (kubectl uses them to tell completed rows).
fn conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, &["status", "phase"]) {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{
        "type": "Completed",
        "status": "True",
        "reason": reason,
        "message": message,
    }]))
}

/// Restart count and the latest restart time of a set of container statuses.
#[derive(Default)]
struct Restarts {
    count: i64,
    last: Option<jiff::Timestamp>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += at(status, &["restartCount"]).as_i64().unwrap_or(0);
        if let Some(finished) = time(status, &["lastState", "terminated", "finishedAt"])
            && self.last.is_none_or(|last| last < finished)
        {
            self.last = Some(finished);
        }
    }
}

/// Whether an init container is a sidecar (`restartPolicy: Always`).
fn restartable(init: Option<&Value>) -> bool {
    init.is_some_and(|c| str_at(c, &["restartPolicy"]) == "Always")
}

/// `Init:<reason>`, `<prefix>Signal:<n>` or `<prefix>ExitCode:<n>` of a terminated container.
fn terminated_reason(terminated: &Value, prefix: &str) -> String {
    let reason = str_at(terminated, &["reason"]);
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = at(terminated, &["signal"]).as_i64().unwrap_or(0);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        let code = at(terminated, &["exitCode"]).as_i64().unwrap_or(0);
        format!("{prefix}ExitCode:{code}")
    }
}

/// Whether the pod's condition `ty` is `True`; `None` when the pod has no such condition.
fn condition(pod: &Value, ty: &str) -> Option<bool> {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == ty)
        .map(|c| str_at(c, &["status"]) == "True")
}

fn cells(pod: &Value, now: jiff::Timestamp) -> Vec<Value> {
    let spec_inits = arr_at(pod, &["spec", "initContainers"]);
    let find_init = |name: &str| spec_inits.iter().find(|c| str_at(c, &["name"]) == name);
    let total = arr_at(pod, &["spec", "containers"]).len()
        + spec_inits.iter().filter(|c| restartable(Some(c))).count();
    let mut ready = 0usize;

    let phase = str_at(pod, &["status", "phase"]);
    let mut reason = match str_at(pod, &["status", "reason"]) {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = arr_at(pod, &["status", "conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["reason"]) == SCHEDULING_GATED
    });
    if gated {
        reason = SCHEDULING_GATED.into();
    }

    // Init containers run in order: walk them until the first one still at work.
    let mut restarts = Restarts::default();
    let mut sidecar_restarts = Restarts::default();
    let mut initializing = false;
    let init_statuses = arr_at(pod, &["status", "initContainerStatuses"]);
    for (i, status) in init_statuses.iter().enumerate() {
        restarts.add(status);
        let sidecar = restartable(find_init(str_at(status, &["name"])));
        if sidecar {
            sidecar_restarts.add(status);
        }
        let terminated = at(status, &["state", "terminated"]);
        let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
        if !terminated.is_null() && at(terminated, &["exitCode"]).as_i64().unwrap_or(0) == 0 {
            continue;
        }
        if sidecar && bool_at(status, &["started"]) {
            if bool_at(status, &["ready"]) {
                ready += 1;
            }
            continue;
        }
        reason = if !terminated.is_null() {
            terminated_reason(terminated, "Init:")
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", spec_inits.len())
        };
        initializing = true;
        break;
    }

    if !initializing || condition(pod, "Initialized") == Some(true) {
        restarts = sidecar_restarts;
        let mut has_running = false;
        // The first container with a reason wins: walk backwards so it is written last.
        for status in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
            restarts.add(status);
            let waiting_reason = str_at(status, &["state", "waiting", "reason"]);
            let terminated = at(status, &["state", "terminated"]);
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if !terminated.is_null() {
                reason = terminated_reason(terminated, "");
            } else if bool_at(status, &["ready"]) && is_set(status, &["state", "running"]) {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose main container completed while a sidecar still runs is not Completed.
        if reason == "Completed" && has_running {
            let pod_ready = arr_at(pod, &["status", "conditions"])
                .iter()
                .any(|c| str_at(c, &["type"]) == "Ready" && str_at(c, &["status"]) == "True");
            reason = if pod_ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    if is_set(pod, &["metadata", "deletionTimestamp"]) {
        if str_at(pod, &["status", "reason"]) == NODE_LOST {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_cell = match restarts.last {
        Some(last) if restarts.count != 0 => {
            format!("{} ({} ago)", restarts.count, since(Some(last), now))
        }
        _ => restarts.count.to_string(),
    };

    vec![
        super::util::name(pod),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        super::util::age(pod, now),
        or_none(pod_ip(pod)).into(),
        or_none(str_at(pod, &["spec", "nodeName"])).into(),
        or_none(str_at(pod, &["status", "nominatedNodeName"])).into(),
        readiness_gates(pod).into(),
    ]
}

/// The pod's first IP (`status.podIPs[0]`, or `status.podIP` that kube converts into it).
fn pod_ip(pod: &Value) -> &str {
    match arr_at(pod, &["status", "podIPs"]).first() {
        Some(ip) => str_at(ip, &["ip"]),
        None => str_at(pod, &["status", "podIP"]),
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "<none>" } else { s }
}

/// `true/total` of the pod's readiness gates, or `<none>`.
fn readiness_gates(pod: &Value) -> String {
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".into();
    }
    let satisfied = gates
        .iter()
        .filter(|g| condition(pod, str_at(g, &["conditionType"])) == Some(true))
        .count();
    format!("{satisfied}/{}", gates.len())
}
