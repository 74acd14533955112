//! A pod's status as kubelet reports it, computed from its [`Slot`]s: phase, conditions,
//! container statuses, addresses, start time. No I/O.

use std::net::IpAddr;

use jiff::Timestamp;
use serde_json::{Value, json};

use super::state::{Slot, SlotState, Terminated};

/// Everything the status is computed from.
pub struct StatusInput<'a> {
    /// The pod's `spec.restartPolicy` (`Always` when absent).
    pub restart_policy: &'a str,
    /// Its containers, init containers first in order.
    pub slots: &'a [Slot],
    /// The sandbox exists (and its network is set up).
    pub sandbox_ready: bool,
    /// The node's address.
    pub host_ip: IpAddr,
    /// The pod's address, when it has one.
    pub pod_ip: Option<IpAddr>,
    /// When the agent first took the pod on.
    pub start_time: Timestamp,
    /// The conditions stored now (transition times are kept when a status does not change;
    /// conditions the agent does not own, `PodScheduled` for one, are kept as they are).
    pub current_conditions: &'a [Value],
    /// `now`, for transition times.
    pub now: Timestamp,
}

/// A time as the API writes it (whole seconds, UTC).
pub fn time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The phase: kubelet's `getPhase`.
pub fn phase(restart_policy: &str, slots: &[Slot]) -> &'static str {
    let (init, app): (Vec<&Slot>, Vec<&Slot>) = slots.iter().partition(|s| s.init);
    let mut pending_init = 0;
    let mut failed_init = 0;
    for s in &init {
        match &s.state {
            SlotState::Terminated(t) if t.exit_code == 0 => {}
            SlotState::Terminated(_) => failed_init += 1,
            SlotState::Waiting { .. } if s.last.as_ref().is_some_and(|l| l.exit_code != 0) => {
                failed_init += 1
            }
            _ => pending_init += 1,
        }
    }
    if failed_init > 0 && restart_policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || failed_init > 0 {
        return "Pending";
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in &app {
        match &s.state {
            SlotState::Running { .. } => running += 1,
            SlotState::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            SlotState::Waiting { .. } => {
                if s.last.is_some() {
                    stopped += 1;
                } else {
                    waiting += 1;
                }
            }
        }
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if restart_policy == "Always" {
            return "Running";
        }
        if stopped == succeeded {
            return "Succeeded";
        }
        if restart_policy == "Never" {
            return "Failed";
        }
        return "Running";
    }
    "Pending"
}

/// Whether the pod is done for good: nothing runs and nothing will be restarted.
pub fn is_terminal(phase: &str) -> bool {
    phase == "Succeeded" || phase == "Failed"
}

/// The `status` to write.
pub fn pod_status(input: &StatusInput<'_>) -> Value {
    let phase = phase(input.restart_policy, input.slots);
    let (init, app): (Vec<&Slot>, Vec<&Slot>) = input.slots.iter().partition(|s| s.init);
    let not_initialized: Vec<&str> = init
        .iter()
        .filter(|s| !s.succeeded())
        .map(|s| s.name.as_str())
        .collect();
    let unready: Vec<&str> = app
        .iter()
        .filter(|s| !s.ready)
        .map(|s| s.name.as_str())
        .collect();
    let completed = is_terminal(phase);
    let mut conditions = Vec::new();
    let mut condition = |kind: &str, ok: bool, reason: &str, message: String| {
        let status = if ok { "True" } else { "False" };
        let previous = input.current_conditions.iter().find(|c| c["type"] == kind);
        let since = match previous {
            Some(p) if p["status"] == status => p["lastTransitionTime"].clone(),
            _ => json!(time(input.now)),
        };
        let mut c = json!({"type": kind, "status": status, "lastProbeTime": null, "lastTransitionTime": since});
        if !ok && !reason.is_empty() {
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        if ok && completed && !reason.is_empty() {
            c["reason"] = json!(reason);
        }
        conditions.push(c);
    };
    condition(
        "PodReadyToStartContainers",
        input.sandbox_ready && !completed,
        "",
        String::new(),
    );
    let initialized = not_initialized.is_empty();
    condition(
        "Initialized",
        initialized,
        if completed && initialized {
            "PodCompleted"
        } else {
            "ContainersNotInitialized"
        },
        format!(
            "containers with incomplete status: [{}]",
            not_initialized.join(" ")
        ),
    );
    let ready = unready.is_empty() && !completed;
    let (reason, message) = if completed {
        ("PodCompleted", String::new())
    } else {
        (
            "ContainersNotReady",
            format!("containers with unready status: [{}]", unready.join(" ")),
        )
    };
    condition("Ready", ready, reason, message.clone());
    condition("ContainersReady", ready, reason, message);
    for c in input.current_conditions {
        let kind = c["type"].as_str().unwrap_or("");
        if !conditions.iter().any(|o| o["type"] == kind) {
            conditions.push(c.clone());
        }
    }
    let mut status = json!({
        "phase": phase,
        "conditions": conditions,
        "hostIP": input.host_ip.to_string(),
        "hostIPs": [{"ip": input.host_ip.to_string()}],
        "startTime": time(input.start_time),
        "containerStatuses": app.iter().map(|s| container_status(s)).collect::<Vec<_>>(),
    });
    if !init.is_empty() {
        status["initContainerStatuses"] =
            json!(init.iter().map(|s| container_status(s)).collect::<Vec<_>>());
    }
    if let Some(ip) = input.pod_ip {
        status["podIP"] = json!(ip.to_string());
        status["podIPs"] = json!([{"ip": ip.to_string()}]);
    }
    status
}

/// One container's status.
pub fn container_status(slot: &Slot) -> Value {
    let state = match &slot.state {
        SlotState::Waiting {
            reason, message, ..
        } => {
            let mut w = json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = json!(m);
            }
            json!({"waiting": w})
        }
        SlotState::Running { started_at, .. } => {
            json!({"running": {"startedAt": time(*started_at)}})
        }
        SlotState::Terminated(t) => json!({"terminated": terminated(t)}),
    };
    let container_id = match &slot.state {
        SlotState::Running { id, .. } => Some(id.clone()),
        SlotState::Terminated(t) => Some(t.id.clone()),
        SlotState::Waiting { .. } => slot.last.as_ref().map(|l| l.id.clone()),
    };
    let running = matches!(slot.state, SlotState::Running { .. });
    let mut status = json!({
        "name": slot.name,
        "image": slot.image,
        "imageID": slot.image_id,
        "ready": slot.ready && running,
        "started": slot.started && running,
        "restartCount": slot.attempt.unwrap_or(0),
        "state": state,
        "lastState": slot.last.as_ref().map_or(json!({}), |l| json!({"terminated": terminated(l)})),
    });
    if let Some(id) = container_id {
        status["containerID"] = json!(format!("kmicro://{id}"));
    }
    status
}

fn terminated(t: &Terminated) -> Value {
    let mut v = json!({
        "exitCode": t.exit_code,
        "reason": t.reason,
        "startedAt": time(t.started_at),
        "finishedAt": time(t.finished_at),
        "containerID": format!("kmicro://{}", t.id),
    });
    if let Some(signal) = t.signal {
        v["signal"] = json!(signal);
    }
    if let Some(message) = t.message.as_ref().filter(|m| !m.is_empty()) {
        v["message"] = json!(message);
    }
    v
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn ended(code: i32) -> Terminated {
        Terminated {
            id: "c1".into(),
            exit_code: code,
            signal: None,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: Timestamp::UNIX_EPOCH,
            finished_at: Timestamp::UNIX_EPOCH,
            ran: Duration::from_secs(1),
        }
    }

    fn running(name: &str) -> Slot {
        let mut s = Slot::new(name, false, "busybox");
        s.state = SlotState::Running {
            id: "x".into(),
            started_at: Timestamp::UNIX_EPOCH,
            since: Instant::now(),
        };
        s
    }

    #[test]
    fn phases_follow_kubelet() {
        let mut init = Slot::new("i", true, "busybox");
        let app = Slot::new("a", false, "busybox");
        assert_eq!(
            phase(
                "Always",
                &[Slot::new("i", true, "b"), Slot::new("a", false, "b")]
            ),
            "Pending"
        );
        init.state = SlotState::Terminated(ended(1));
        assert_eq!(phase("Never", &[init, app]), "Failed");
        assert_eq!(phase("Always", &[running("a")]), "Running");
        let mut done = Slot::new("a", false, "b");
        done.state = SlotState::Terminated(ended(0));
        assert_eq!(phase("OnFailure", &[done]), "Succeeded");
        let mut crashed = Slot::new("a", false, "b");
        crashed.state = SlotState::Terminated(ended(2));
        assert_eq!(phase("Never", &[crashed]), "Failed");
        let mut backing_off = Slot::new("a", false, "b");
        backing_off.last = Some(ended(1));
        backing_off.state = SlotState::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
            retry_at: None,
        };
        assert_eq!(phase("Always", &[backing_off]), "Running");
    }

    #[test]
    fn conditions_keep_transition_times_and_foreign_conditions() {
        let mut slot = running("a");
        slot.ready = true;
        slot.started = true;
        let scheduled = json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"});
        let ready_before = json!({"type": "Ready", "status": "True", "lastTransitionTime": "2021-01-01T00:00:00Z"});
        let slots = [slot];
        let status = pod_status(&StatusInput {
            restart_policy: "Always",
            slots: &slots,
            sandbox_ready: true,
            host_ip: "10.0.0.1".parse().unwrap(),
            pod_ip: None,
            start_time: Timestamp::UNIX_EPOCH,
            current_conditions: &[scheduled.clone(), ready_before],
            now: Timestamp::UNIX_EPOCH,
        });
        let conditions = status["conditions"].as_array().unwrap();
        let get = |t: &str| conditions.iter().find(|c| c["type"] == t).unwrap().clone();
        assert_eq!(get("Ready")["lastTransitionTime"], "2021-01-01T00:00:00Z");
        assert_eq!(get("ContainersReady")["status"], "True");
        assert_eq!(get("PodScheduled"), scheduled);
        assert_eq!(status["phase"], "Running");
        assert_eq!(status["containerStatuses"][0]["ready"], true);
        assert_eq!(status["containerStatuses"][0]["containerID"], "kmicro://x");
        assert_eq!(status["hostIP"], "10.0.0.1");
    }
}
