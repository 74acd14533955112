//! Pods: READY, STATUS, RESTARTS and the wide columns, for the pod states kubectl users see.

use serde_json::{Value, json};

use super::{ago, headers, now, resource, row};
use crate::table::{IncludeObject, table};

fn pod(status: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "nginx",
            "namespace": "default",
            "creationTimestamp": ago(300),
        },
        "spec": {
            "containers": [{"name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}]}],
            "nodeName": "kind-control-plane",
            "restartPolicy": "Always",
        },
        "status": status,
    })
}

fn running(name: &str) -> Value {
    json!({
        "name": name,
        "image": "docker.io/library/nginx:1.14.2",
        "ready": true,
        "started": true,
        "restartCount": 0,
        "state": {"running": {"startedAt": ago(290)}},
    })
}

#[test]
fn pod_columns() {
    assert_eq!(
        headers("", "pods"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
}

#[test]
fn running_pod() {
    let p = pod(json!({
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
            {"type": "ContainersReady", "status": "True"},
            {"type": "PodScheduled", "status": "True"},
        ],
        "hostIP": "172.18.0.2",
        "podIP": "10.244.0.5",
        "podIPs": [{"ip": "10.244.0.5"}],
        "startTime": ago(295),
        "containerStatuses": [running("nginx")],
        "qosClass": "BestEffort",
    }));
    assert_eq!(
        row("", "pods", p),
        [
            "nginx",
            "1/1",
            "Running",
            "0",
            "5m",
            "10.244.0.5",
            "kind-control-plane",
            "<none>",
            "<none>"
        ]
    );
}

#[test]
fn pending_pods() {
    // Just created: not scheduled yet, no statuses.
    let mut p = pod(json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"},
    ]}));
    p["spec"].as_object_mut().unwrap().remove("nodeName");
    assert_eq!(
        row("", "pods", p),
        [
            "nginx", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"
        ]
    );

    // Scheduled, image being pulled.
    let p = pod(json!({
        "phase": "Pending",
        "hostIP": "172.18.0.2",
        "containerStatuses": [{
            "name": "nginx", "image": "nginx:1.14.2", "ready": false, "started": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}},
        }],
    }));
    assert_eq!(row("", "pods", p)[1..3], ["0/1", "ContainerCreating"]);

    // A bad image.
    let p = pod(json!({
        "phase": "Pending",
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}},
        }],
    }));
    assert_eq!(row("", "pods", p)[2], "ImagePullBackOff");
}

#[test]
fn scheduling_gated_pod() {
    let p = pod(json!({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
         "message": "Scheduling is blocked due to non-empty scheduling gates"},
    ]}));
    assert_eq!(row("", "pods", p)[1..4], ["0/1", "SchedulingGated", "0"]);
}

#[test]
fn crash_looping_pod_shows_restarts_and_when() {
    let p = pod(json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "podIPs": [{"ip": "10.244.0.7"}],
        "containerStatuses": [{
            "name": "nginx", "ready": false, "started": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 2m40s restarting failed container"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                "startedAt": ago(185), "finishedAt": ago(180)}},
        }],
    }));
    assert_eq!(
        row("", "pods", p)[..6],
        [
            "nginx",
            "0/1",
            "CrashLoopBackOff",
            "5 (3m ago)",
            "5m",
            "10.244.0.7"
        ]
    );
}

#[test]
fn restarts_without_a_termination_time_show_the_count_only() {
    let mut status = running("nginx");
    status["restartCount"] = json!(2);
    let p = pod(json!({"phase": "Running", "containerStatuses": [status]}));
    assert_eq!(row("", "pods", p)[3], "2");
}

#[test]
fn finished_pods() {
    let completed = pod(json!({
        "phase": "Succeeded",
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": ago(200)}},
        }],
    }));
    let t = table(
        resource("", "pods"),
        &[completed],
        IncludeObject::None,
        now(),
    );
    assert_eq!(t["rows"][0]["cells"][1], "0/1");
    assert_eq!(t["rows"][0]["cells"][2], "Completed");
    assert_eq!(
        t["rows"][0]["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded",
                "message": "The pod has completed successfully."}])
    );

    let failed = pod(json!({
        "phase": "Failed",
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
        }],
    }));
    let t = table(resource("", "pods"), &[failed], IncludeObject::None, now());
    assert_eq!(t["rows"][0]["cells"][2], "Error");
    assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Failed");
    assert_eq!(t["rows"][0]["conditions"][0]["message"], "The pod failed.");

    let evicted = pod(json!({
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory.",
    }));
    assert_eq!(row("", "pods", evicted)[1..3], ["0/1", "Evicted"]);

    // A running pod's row has no conditions.
    let t = table(
        resource("", "pods"),
        &[pod(json!({"phase": "Running"}))],
        IncludeObject::None,
        now(),
    );
    assert!(t["rows"][0].get("conditions").is_none());
}

#[test]
fn terminated_without_reason_shows_exit_code_or_signal() {
    let with = |terminated: Value| {
        pod(json!({"phase": "Running", "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0, "state": {"terminated": terminated},
        }]}))
    };
    assert_eq!(
        row("", "pods", with(json!({"exitCode": 137})))[2],
        "ExitCode:137"
    );
    assert_eq!(
        row("", "pods", with(json!({"exitCode": 0, "signal": 9})))[2],
        "Signal:9"
    );
}

#[test]
fn the_first_container_with_a_reason_wins() {
    let mut p = pod(json!({
        "phase": "Running",
        "containerStatuses": [
            {"name": "app", "ready": false, "restartCount": 1,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
            {"name": "log", "ready": false, "restartCount": 2,
             "state": {"waiting": {"reason": "ImagePullBackOff"}}},
        ],
    }));
    p["spec"]["containers"] = json!([{"name": "app"}, {"name": "log"}]);
    assert_eq!(row("", "pods", p)[1..4], ["0/2", "CrashLoopBackOff", "3"]);
}

#[test]
fn completed_container_next_to_a_running_one() {
    let mut p = pod(json!({
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "False"}],
        "containerStatuses": [
            {"name": "job", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            running("web"),
        ],
    }));
    p["spec"]["containers"] = json!([{"name": "job"}, {"name": "web"}]);
    assert_eq!(row("", "pods", p.clone())[1..3], ["1/2", "NotReady"]);
    p["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    assert_eq!(row("", "pods", p)[1..3], ["1/2", "Running"]);
}

#[test]
fn terminating_and_unknown_pods() {
    let mut p = pod(json!({"phase": "Running", "containerStatuses": [running("nginx")]}));
    p["metadata"]["deletionTimestamp"] = json!(ago(-30));
    p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
    assert_eq!(row("", "pods", p.clone())[1..3], ["1/1", "Terminating"]);

    p["status"]["reason"] = json!("NodeLost");
    assert_eq!(row("", "pods", p.clone())[2], "Unknown");

    // A finished pod being deleted keeps its final status.
    p["status"] = json!({"phase": "Succeeded", "containerStatuses": [{
        "name": "nginx", "ready": false, "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
    }]});
    assert_eq!(row("", "pods", p)[2], "Completed");
}

fn with_init(init_statuses: Value, conditions: Value) -> Value {
    let mut p = pod(json!({
        "phase": "Pending",
        "conditions": conditions,
        "initContainerStatuses": init_statuses,
        "containerStatuses": [{
            "name": "nginx", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "PodInitializing"}},
        }],
    }));
    p["spec"]["initContainers"] = json!([
        {"name": "init-myservice", "image": "busybox:1.28"},
        {"name": "init-mydb", "image": "busybox:1.28"},
    ]);
    p
}

#[test]
fn init_containers() {
    let not_initialized = json!([{"type": "Initialized", "status": "False"}]);
    let waiting = |name: &str, reason: &str| {
        json!({"name": name, "ready": false, "restartCount": 0,
               "state": {"waiting": {"reason": reason}}})
    };
    let init_running = json!({"name": "init-myservice", "ready": false, "restartCount": 0,
                              "state": {"running": {"startedAt": ago(60)}}});
    let init_done = |name: &str| {
        json!({"name": name, "ready": true, "restartCount": 0,
               "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}})
    };

    let p = with_init(
        json!([init_running, waiting("init-mydb", "PodInitializing")]),
        not_initialized.clone(),
    );
    assert_eq!(row("", "pods", p)[1..4], ["0/1", "Init:0/2", "0"]);

    let p = with_init(
        json!([init_done("init-myservice"), {"name": "init-mydb", "ready": false, "restartCount": 0,
               "state": {"running": {}}}]),
        not_initialized.clone(),
    );
    assert_eq!(row("", "pods", p)[2], "Init:1/2");

    let p = with_init(
        json!([{"name": "init-myservice", "ready": false, "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(40)}}},
               waiting("init-mydb", "PodInitializing")]),
        not_initialized.clone(),
    );
    assert_eq!(
        row("", "pods", p)[2..4],
        ["Init:CrashLoopBackOff", "3 (40s ago)"]
    );

    let p = with_init(
        json!([{"name": "init-myservice", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]),
        not_initialized.clone(),
    );
    assert_eq!(row("", "pods", p)[2], "Init:Error");

    let p = with_init(
        json!([{"name": "init-myservice", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 2}}}]),
        not_initialized,
    );
    assert_eq!(row("", "pods", p)[2], "Init:ExitCode:2");

    // All init containers done: the main containers decide.
    let mut p = with_init(
        json!([init_done("init-myservice"), init_done("init-mydb")]),
        json!([{"type": "Initialized", "status": "True"}]),
    );
    p["status"]["containerStatuses"][0]["state"] =
        json!({"waiting": {"reason": "ContainerCreating"}});
    assert_eq!(row("", "pods", p)[1..3], ["0/1", "ContainerCreating"]);
}

#[test]
fn sidecar_containers_count_as_containers() {
    let mut p = pod(json!({
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "True"},
        ],
        "podIPs": [{"ip": "10.244.1.9"}, {"ip": "fd00:10:244:1::9"}],
        "initContainerStatuses": [{
            "name": "logshipper", "ready": true, "started": true, "restartCount": 1,
            "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 2, "finishedAt": ago(100)}},
        }],
        "containerStatuses": [running("nginx")],
    }));
    p["spec"]["initContainers"] =
        json!([{"name": "logshipper", "image": "alpine:latest", "restartPolicy": "Always"}]);
    assert_eq!(
        row("", "pods", p)[..6],
        [
            "nginx",
            "2/2",
            "Running",
            "1 (100s ago)",
            "5m",
            "10.244.1.9"
        ]
    );
}

#[test]
fn wide_columns() {
    let mut p = pod(json!({
        "phase": "Pending",
        "podIP": "10.244.2.3",
        "nominatedNodeName": "worker-2",
        "conditions": [
            {"type": "www.example.com/feature-1", "status": "True"},
            {"type": "www.example.com/feature-2", "status": "False"},
        ],
    }));
    p["spec"]["readinessGates"] = json!([
        {"conditionType": "www.example.com/feature-1"},
        {"conditionType": "www.example.com/feature-2"},
        {"conditionType": "www.example.com/feature-3"},
    ]);
    assert_eq!(
        row("", "pods", p)[5..],
        ["10.244.2.3", "kind-control-plane", "worker-2", "1/3"]
    );
}

#[test]
fn empty_pod() {
    assert_eq!(
        row("", "pods", json!({})),
        [
            "",
            "0/0",
            "",
            "0",
            "<unknown>",
            "<none>",
            "<none>",
            "<none>",
            "<none>"
        ]
    );
}
