//! Events, core/v1 and `events.k8s.io/v1`.

use serde_json::json;

use super::{ago, headers, row};

#[test]
fn event_columns() {
    let want = [
        "Last Seen",
        "Type",
        "Reason",
        "Object",
        "Subobject",
        "Source",
        "Message",
        "First Seen",
        "Count",
        "Name",
    ];
    assert_eq!(headers("", "events"), want);
    assert_eq!(headers("events.k8s.io", "events"), want);
}

#[test]
fn kubelet_event() {
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "nginx.17c9a1b2c3d4e5f6", "namespace": "default",
                     "creationTimestamp": ago(120)},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "nginx",
                           "namespace": "default", "fieldPath": "spec.containers{nginx}",
                           "uid": "1b4e28ba-2fa1-11d2-883f-0016d3cca427"},
        "reason": "Pulled",
        "message": "Successfully pulled image \"nginx:1.14.2\" in 1.2s (1.2s including waiting)\n",
        "source": {"component": "kubelet", "host": "kind-control-plane"},
        "firstTimestamp": ago(120),
        "lastTimestamp": ago(60),
        "count": 1,
        "type": "Normal",
        "eventTime": null,
        "reportingComponent": "kubelet",
        "reportingInstance": "kind-control-plane",
    });
    assert_eq!(
        row("", "events", ev),
        [
            "60s",
            "Normal",
            "Pulled",
            "pod/nginx",
            "spec.containers{nginx}",
            "kubelet, kind-control-plane",
            "Successfully pulled image \"nginx:1.14.2\" in 1.2s (1.2s including waiting)",
            "2m",
            "1",
            "nginx.17c9a1b2c3d4e5f6"
        ]
    );
}

#[test]
fn scheduler_event_with_series() {
    // Written through the events API, read as core/v1: no first/last timestamps, a series.
    let ev = json!({
        "metadata": {"name": "web-0.17ca0000aaaa", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-0", "namespace": "default"},
        "reason": "FailedScheduling",
        "message": "0/1 nodes are available: 1 Insufficient cpu.",
        "source": {},
        "firstTimestamp": null,
        "lastTimestamp": null,
        "eventTime": "2024-05-01T11:49:59.500000Z",
        "series": {"count": 4, "lastObservedTime": "2024-05-01T11:59:00.000001Z"},
        "type": "Warning",
        "action": "Scheduling",
        "reportingComponent": "default-scheduler",
        "reportingInstance": "default-scheduler-kind-control-plane",
    });
    assert_eq!(
        row("", "events", ev),
        [
            "59s",
            "Warning",
            "FailedScheduling",
            "pod/web-0",
            "",
            "default-scheduler, default-scheduler-kind-control-plane",
            "0/1 nodes are available: 1 Insufficient cpu.",
            "10m",
            "4",
            "web-0.17ca0000aaaa"
        ]
    );
}

#[test]
fn node_event_without_name_or_count() {
    let ev = json!({
        "metadata": {"name": "kind-control-plane.17c9"},
        "involvedObject": {"kind": "Node", "name": ""},
        "reason": "RegisteredNode",
        "message": "Node kind-control-plane event: Registered Node kind-control-plane in Controller",
        "source": {"component": "node-controller"},
        "firstTimestamp": ago(3 * 86_400),
        "type": "Normal",
    });
    assert_eq!(
        row("", "events", ev),
        [
            "3d",
            "Normal",
            "RegisteredNode",
            "node",
            "",
            "node-controller",
            "Node kind-control-plane event: Registered Node kind-control-plane in Controller",
            "3d",
            "1",
            "kind-control-plane.17c9"
        ]
    );
    // Nothing set at all.
    assert_eq!(
        row("", "events", json!({})),
        ["<unknown>", "", "", "", "", "", "", "<unknown>", "1", ""]
    );
}

#[test]
fn events_k8s_io_event() {
    let ev = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web-5d8f.17c9", "namespace": "default"},
        "eventTime": ago(30).replace('Z', ".000000Z"),
        "reportingController": "deployment-controller",
        "reportingInstance": "",
        "action": "ScalingReplicaSet",
        "reason": "ScalingReplicaSet",
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                      "namespace": "default"},
        "note": "Scaled up replica set web-5d8f to 3 from 0",
        "type": "Normal",
    });
    assert_eq!(
        row("events.k8s.io", "events", ev),
        [
            "30s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up replica set web-5d8f to 3 from 0",
            "30s",
            "1",
            "web-5d8f.17c9"
        ]
    );

    let old_style = json!({
        "metadata": {"name": "x"},
        "regarding": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "note": "Back-off restarting failed container",
        "deprecatedSource": {"component": "kubelet", "host": "node-1"},
        "deprecatedFirstTimestamp": ago(3600),
        "deprecatedLastTimestamp": ago(20),
        "deprecatedCount": 12,
        "type": "Warning",
        "reason": "BackOff",
    });
    assert_eq!(
        row("events.k8s.io", "events", old_style),
        [
            "20s",
            "Warning",
            "BackOff",
            "pod/p",
            "spec.containers{c}",
            "kubelet, node-1",
            "Back-off restarting failed container",
            "60m",
            "12",
            "x"
        ]
    );
}
